// Runs user transforms over rows and builds encoded event envelopes. The same code runs in worker
// threads (one block at a time), in the main thread (--workers 0) and in the testing helper.
import protobuf from 'protobufjs';
import { DumpError, ENVELOPE_TYPE, eventSchema, fromDescriptorSet } from '../dumps/index.ts';
import { FramingError, MAX_RECORD_BYTES, unframe } from '../dumps/framing.ts';
import type { EmittedEvent, EventMeta, KeyValue, RowSource, TransformContext, TransformDefinition } from './definition.ts';
import { EventPayloadError, eventTime, eventTypes, payloadNormalizer } from './events.ts';
import { entityId, eventId, keyText } from './ids.ts';
import { describeRow, keyJson, rowConverter, type Row, type RowConverter } from './rows.ts';

/** One input dump as workers know it. */
export interface InputSpec {
  /** Position of the file in the run's sorted input list (part of the ordering tie-break). */
  ordinal: number;
  table: string;
  file: string;
  recordType: string;
  descriptorSet: Uint8Array;
  /** Primary key as record field names. */
  keyFields: string[];
}

export interface BlockTask {
  input: number;
  block: number;
  /** The inflated block (checksums already checked by the reader). */
  payload: Uint8Array;
  /** Records in the block, from the trailer. */
  records: number;
  /** Stop after this many rows (--sample N). */
  limitRows?: number;
}

/** A row a transform could not turn into valid events. */
export interface Reject {
  table: string;
  file: string;
  block: number;
  row: number;
  error: string;
  /** Secrets-free JSON of the row, for messages. */
  rowText: string;
  /** The row's original record bytes, to re-run it later. */
  record: Uint8Array;
}

export interface BlockResult {
  input: number;
  block: number;
  rows: number;
  events: number;
  /** Delimited ferry.event.Envelope records, ready for DumpWriter.writeFramedBlock. */
  framed: Uint8Array;
  typeCounts: Record<string, number>;
  /** Per event: occurred_at seconds, nanos, row in block, index in row (only when ordering). */
  sortFields?: Float64Array;
  rejects: Reject[];
}

export interface RuntimeOptions {
  transforms: readonly TransformDefinition[];
  /** .proto sources of the event payloads. */
  eventProtos: string[];
  /** Reference tables: table → (key text → row). */
  lookups?: Map<string, Map<string, Row>>;
  /** Keep the ordering fields of each event (for --order occurred_at). */
  sortFields?: boolean;
  /** A block stops after this many rejected rows (the run fails past --max-errors anyway). */
  maxRejectsPerBlock?: number;
}

/** Why a row was rejected, with the row's location. */
export class TransformRowError extends Error {
  constructor(
    readonly reject: Omit<Reject, 'record'>,
    options?: { cause?: unknown },
  ) {
    super(`${reject.table}: ${reject.error} (${reject.file}, block ${reject.block}, row ${reject.row}); row: ${reject.rowText}`, options);
    this.name = 'TransformRowError';
  }
}

export interface BuiltEvent {
  envelope: object;
  type: string;
  seconds: number;
  nanos: number;
}

function rowError(source: RowSource, row: Row, error: string, cause: unknown): TransformRowError {
  return new TransformRowError({ table: source.table, file: source.file, block: source.block, row: source.row, error, rowText: describeRow(row) }, { cause });
}

/** Lookup key text of key values (same rules as ids: numbers and bigints alike). */
export function lookupKey(values: readonly unknown[]): string {
  return values.map((v) => keyText(v as KeyValue)).join(':');
}

export class TransformRuntime {
  readonly root: protobuf.Root;
  readonly descriptorSet: Uint8Array;
  readonly types: Map<string, protobuf.Type>;
  private readonly envelopeType: protobuf.Type;
  private readonly byTable = new Map<string, TransformDefinition>();
  private readonly inputs = new Map<number, { spec: InputSpec; type: protobuf.Type; convert: RowConverter }>();

  constructor(private readonly options: RuntimeOptions) {
    const schema = eventSchema(options.eventProtos);
    this.root = schema.root;
    this.descriptorSet = schema.descriptorSet;
    this.types = eventTypes(this.root);
    this.envelopeType = this.root.lookupType(ENVELOPE_TYPE);
    for (const t of options.transforms) this.byTable.set(t.table, t);
  }

  addInput(spec: InputSpec): void {
    const type = fromDescriptorSet(spec.descriptorSet).lookupType(spec.recordType);
    this.inputs.set(spec.ordinal, { spec, type, convert: rowConverter(type) });
  }

  transformFor(table: string): TransformDefinition {
    const def = this.byTable.get(table);
    if (!def) throw new Error(`no transform for ${table}`);
    return def;
  }

  /** Runs the table's transform on one row and builds its envelopes (throws TransformRowError). */
  transformRow(def: TransformDefinition, row: Row, source: RowSource, keyFields: readonly string[], ctx = this.context(source)): BuiltEvent[] {
    let result: unknown;
    try {
      result = def.run(row, ctx);
    } catch (err) {
      throw rowError(source, row, `transform threw: ${err instanceof Error ? err.message : String(err)}`, err);
    }
    if (result === undefined || result === null) return [];
    const emitted = (Array.isArray(result) ? result : [result]) as EmittedEvent[];
    if (emitted.length === 0) return [];
    const key = keyJson(row, keyFields);
    const built: BuiltEvent[] = [];
    for (let index = 0; index < emitted.length; index++) {
      const e = emitted[index];
      try {
        built.push(this.buildEvent(def, e, source.table, key, index));
      } catch (err) {
        const what = e && typeof e === 'object' && typeof e.type === 'string' ? `event ${index} (${e.type})` : `event ${index}`;
        throw rowError(source, row, `${what} is invalid: ${(err as Error).message}`, err);
      }
    }
    return built;
  }

  private buildEvent(def: TransformDefinition, e: EmittedEvent, table: string, key: string, index: number): BuiltEvent {
    if (!e || typeof e !== 'object' || typeof e.type !== 'string' || !e.meta) throw new EventPayloadError('not an event: build events with ctx.event(type, payload, meta)');
    const type = this.types.get(e.type);
    if (!type) throw new EventPayloadError(`unknown event type ${e.type}: declare it in a .proto file listed in eventSchemas`);
    const meta: EventMeta = e.meta;
    const time = eventTime(meta.occurredAt);
    const aggregateType = meta.aggregateType ?? def.aggregateType;
    if (!aggregateType) throw new EventPayloadError('no aggregateType: set it in the event meta or on the transform');
    if (typeof meta.aggregateId !== 'string' || !meta.aggregateId) throw new EventPayloadError('aggregateId must be a non-empty string');
    const payload = payloadNormalizer(type)(e.payload, 'payload') as object;
    const problem = type.verify(payload);
    if (problem) throw new EventPayloadError(`payload is invalid: ${problem}`);
    // The same record as dumps/event-envelope.ts makeEnvelope builds, without its ISO round trip
    // and fromObject copy (the payload is already normalized for encoding): this is the hot path.
    const envelope = {
      id: eventId(table, key, e.type, index),
      type: e.type,
      occurred_at: { seconds: time.seconds, nanos: time.nanos },
      aggregate_type: aggregateType,
      aggregate_id: meta.aggregateId,
      source: { table, key, index },
      schema_version: meta.schemaVersion ?? 1,
      payload_type: type.fullName.slice(1),
      payload: type.encode(payload as protobuf.Message).finish(),
    };
    return { envelope, type: e.type, seconds: time.seconds, nanos: time.nanos };
  }

  private context(source: RowSource): TransformContext {
    const lookups = this.options.lookups;
    return {
      source,
      id: entityId,
      event: (type: string, payload: unknown, meta: EventMeta) => ({ type, payload: payload as object, meta }),
      lookup: (table: string, ...key: KeyValue[]) => {
        const rows = lookups?.get(table);
        if (!rows) throw new Error(`ctx.lookup('${table}'): not a reference table of this transform; add it to the transform's lookups`);
        return rows.get(lookupKey(key));
      },
    } as TransformContext;
  }

  /** Decodes one block, runs the transform on each row, and encodes the events of the good rows. */
  processBlock(task: BlockTask): BlockResult {
    const input = this.inputs.get(task.input);
    if (!input) throw new Error(`unknown input ${task.input}`);
    const { spec, type, convert } = input;
    const def = this.transformFor(spec.table);
    const writer = protobuf.Writer.create();
    const typeCounts: Record<string, number> = {};
    const sort: number[] | undefined = this.options.sortFields ? [] : undefined;
    const rejects: Reject[] = [];
    const maxRejects = this.options.maxRejectsPerBlock ?? Infinity;
    const source: RowSource = { table: spec.table, file: spec.file, block: task.block, row: 0 };
    const ctx = this.context(source);
    let rows = 0;
    let events = 0;
    const limit = task.limitRows ?? Infinity;
    try {
      for (const bytes of unframe(task.payload, MAX_RECORD_BYTES)) {
        if (rows >= limit) break;
        let message: protobuf.Message;
        try {
          message = type.decode(bytes);
        } catch (err) {
          throw new DumpError(`record does not decode as ${spec.recordType}: ${(err as Error).message}`, { file: spec.file, block: task.block, record: rows });
        }
        const row = convert(message);
        source.row = rows;
        rows++;
        let built: BuiltEvent[];
        try {
          built = this.transformRow(def, row, source, spec.keyFields, ctx);
        } catch (err) {
          if (!(err instanceof TransformRowError)) throw err;
          rejects.push({ ...err.reject, record: Uint8Array.from(bytes) });
          if (rejects.length > maxRejects) break;
          continue;
        }
        for (let i = 0; i < built.length; i++) {
          const b = built[i];
          this.envelopeType.encodeDelimited(b.envelope as protobuf.Message, writer);
          typeCounts[b.type] = (typeCounts[b.type] ?? 0) + 1;
          sort?.push(b.seconds, b.nanos, source.row, i);
        }
        events += built.length;
      }
    } catch (err) {
      if (err instanceof FramingError) throw new DumpError(`${err.message} (at byte ${err.offset} of the inflated block)`, { file: spec.file, block: task.block });
      throw err;
    }
    if (task.limitRows === undefined && rows !== task.records && rejects.length <= maxRejects) {
      throw new DumpError(`block holds ${rows} records, the trailer says ${task.records}`, { file: spec.file, block: task.block });
    }
    return {
      input: task.input,
      block: task.block,
      rows,
      events,
      framed: writer.finish(),
      typeCounts,
      sortFields: sort ? Float64Array.from(sort) : undefined,
      rejects,
    };
  }
}
