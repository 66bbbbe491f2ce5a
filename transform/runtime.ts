// Runs user transforms over rows and builds encoded event envelopes. The same code runs in worker
// threads (one block at a time), in the main thread (--workers 0) and in the testing helper.
import zlib from 'node:zlib';
import protobuf from 'protobufjs';
import { DumpError, eventSchema, fromDescriptorSet, trustDumpStrings } from '../dumps/index.ts';
import { FramingError, MAX_RECORD_BYTES, unframe } from '../dumps/framing.ts';
import type { EmittedEvent, EventMeta, KeyValue, RowSource, TransformContext, TransformDefinition } from '../api/transform.ts';
import { EventPayloadError, eventTime, eventTypes, payloadNormalizer } from './events.ts';
import { entityId, eventIdDigest, keyText } from './ids.ts';
import { EnvelopeWriter, stringField, type EnvelopeHead } from './event-writer.ts';
import { payloadEncoder, type PayloadEncoder } from './payload-encoder.ts';
import { PreciseTimestamp } from '../lib/precise-timestamp.ts';
import { describeRow, keyJson, longToBigint, rowConverter, type Row, type RowConverter } from './rows.ts';
import type { ReferenceRows } from './reference-table.ts';

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
  /**
   * The block's gzip member as stored in the dump, inflated (and its CRC-32 and length checked)
   * where the block is transformed: in a worker, the main thread only reads files.
   */
  raw: Uint8Array;
  /** Where the member starts in the file, and the inflated size the trailer gives (for checks and errors). */
  offset: number;
  uncompressedBytes: number;
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
  /** Per event: occurred_at seconds and nanos (only when ordering; the rest of the order is the events' position). */
  sortFields?: Float64Array;
  rejects: Reject[];
}

export interface RuntimeOptions {
  transforms: readonly TransformDefinition[];
  /** .proto sources of the event payloads. */
  eventProtos: string[];
  /** Reference tables: table → rows by key text (lookupKey). */
  lookups?: Map<string, ReferenceRows>;
  /** Keep the ordering fields of each event (for --order occurred_at). */
  sortFields?: boolean;
  /** A block stops after this many rejected rows (the run fails past --max-errors anyway). */
  maxRejectsPerBlock?: number;
  /** Encode every payload through protobufjs (normalize, verify, encode), not the generated encoders: for tests. */
  generalPayloads?: boolean;
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

/** One event of a row, encoded: its envelope with the length prefix (`framed`), type and time. */
export interface BuiltEvent {
  type: string;
  seconds: number;
  nanos: number;
  /** The length-delimited envelope. */
  framed: Uint8Array;
}

/** What a row's events were, while the row is being encoded (committed only if all are valid). */
interface RowEvents {
  count: number;
  types: string[];
  seconds: number[];
  nanos: number[];
}

/** What the envelope needs of an event type, worked out once. */
interface EventTypeInfo {
  type: protobuf.Type;
  normalize: (value: unknown, path: string) => unknown;
  encode: PayloadEncoder | undefined;
  typeField: Uint8Array;
  payloadTypeField: Uint8Array;
}

/** Inflates a block's gzip member, with DumpReader.readBlock's checks and errors. */
function inflateBlock(task: BlockTask, file: string): Buffer {
  let payload: Buffer;
  try {
    // One output chunk for the whole block (its size is known): zlib's default 16 KiB chunks cost a copy each.
    payload = zlib.gunzipSync(task.raw, { chunkSize: Math.max(64 * 1024, task.uncompressedBytes + 1024) });
  } catch (err) {
    throw new DumpError(`corrupt block (${(err as Error).message})`, { file, block: task.block, offset: task.offset }, { cause: err });
  }
  if (payload.length !== task.uncompressedBytes) {
    throw new DumpError(`block holds ${payload.length} bytes, the trailer says ${task.uncompressedBytes}`, { file, block: task.block, offset: task.offset });
  }
  return payload;
}

function rowError(source: RowSource, row: Row, error: string, cause: unknown): TransformRowError {
  return new TransformRowError({ table: source.table, file: source.file, block: source.block, row: source.row, error, rowText: describeRow(row) }, { cause });
}

/** Lookup key text of key values (same rules as ids: numbers and bigints alike). */
export function lookupKey(values: readonly unknown[]): string {
  if (values.length === 1) return keyText(values[0] as KeyValue);
  return values.map((v) => keyText(v as KeyValue)).join(':');
}

export class TransformRuntime {
  readonly root: protobuf.Root;
  readonly descriptorSet: Uint8Array;
  readonly types: Map<string, protobuf.Type>;
    private readonly byTable = new Map<string, TransformDefinition>();
  private readonly inputs = new Map<number, { spec: InputSpec; type: protobuf.Type; convert: RowConverter }>();
  private readonly typeInfo = new Map<string, EventTypeInfo>();
  private readonly tableFields = new Map<string, Uint8Array>();
  private readonly aggregateTypeFields = new Map<string, Uint8Array>();
  private readonly payloadWriter = protobuf.Writer.create();
  private readonly blockWriter = new EnvelopeWriter();
  private readonly head: EnvelopeHead = {
    id: new Uint8Array(16), type: new Uint8Array(0), seconds: 0, nanos: 0, aggregateType: new Uint8Array(0), aggregateId: '',
    table: new Uint8Array(0), key: '', index: 0, schemaVersion: 1, payloadType: new Uint8Array(0),
  };
  private readonly rowEvents: RowEvents = { count: 0, types: [], seconds: [], nanos: [] };
  /** The row being transformed and the record it was converted from, for ctx.precise: the row's
   * datetimes are Dates (ms), the record's Timestamps keep every digit. Two stores per row. */
  private readonly current: { row?: Row; record?: Record<string, unknown> } = {};

  constructor(private readonly options: RuntimeOptions) {
    const schema = eventSchema(options.eventProtos);
    this.root = schema.root;
    this.descriptorSet = schema.descriptorSet;
    this.types = eventTypes(this.root);
    for (const t of options.transforms) this.byTable.set(t.table, t);
  }

  addInput(spec: InputSpec): void {
    const type = trustDumpStrings(fromDescriptorSet(spec.descriptorSet)).lookupType(spec.recordType);
    this.inputs.set(spec.ordinal, { spec, type, convert: rowConverter(type) });
  }

  transformFor(table: string): TransformDefinition {
    const def = this.byTable.get(table);
    if (!def) throw new Error(`no transform for ${table}`);
    return def;
  }

  /**
   * Runs the table's transform on one row and returns its events, encoded (throws
   * TransformRowError). For the testing helper; blocks go through processBlock.
   */
  transformRow(def: TransformDefinition, row: Row, source: RowSource, keyFields: readonly string[], ctx = this.context(source)): BuiltEvent[] {
    this.current.row = undefined;
    this.current.record = undefined;
    const out = new EnvelopeWriter(4096);
    const events: RowEvents = { count: 0, types: [], seconds: [], nanos: [] };
    this.encodeRow(def, row, source, keyFields, ctx, out, events);
    const framed = out.finish();
    const built: BuiltEvent[] = [];
    let start = 0;
    for (const env of unframe(framed)) {
      const end = env.byteOffset - framed.byteOffset + env.length;
      const i = built.length;
      built.push({ type: events.types[i], seconds: events.seconds[i], nanos: events.nanos[i], framed: framed.subarray(start, end) });
      start = end;
    }
    return built;
  }

  /**
   * Runs the transform on one row and appends its envelopes to `out`, noting each event in
   * `events`. Throws TransformRowError, leaving `out` as it was before the row.
   */
  private encodeRow(def: TransformDefinition, row: Row, source: RowSource, keyFields: readonly string[], ctx: TransformContext, out: EnvelopeWriter, events: RowEvents): void {
    events.count = 0;
    let result: unknown;
    try {
      result = def.run(row, ctx);
    } catch (err) {
      throw rowError(source, row, `transform threw: ${err instanceof Error ? err.message : String(err)}`, err);
    }
    if (result === undefined || result === null) return;
    const many = Array.isArray(result);
    const n = many ? (result as unknown[]).length : 1;
    if (n === 0) return;
    const key = keyJson(row, keyFields);
    const rowStart = out.pos;
    for (let index = 0; index < n; index++) {
      const e = (many ? (result as EmittedEvent[])[index] : result) as EmittedEvent;
      try {
        this.encodeEvent(def, e, source.table, key, index, out, events);
      } catch (err) {
        out.pos = rowStart;
        events.count = 0;
        const what = e && typeof e === 'object' && typeof e.type === 'string' ? `event ${index} (${e.type})` : `event ${index}`;
        throw rowError(source, row, `${what} is invalid: ${(err as Error).message}`, err);
      }
    }
  }

  private eventType(name: string): EventTypeInfo | undefined {
    let info = this.typeInfo.get(name);
    if (info === undefined) {
      const type = this.types.get(name);
      if (!type) return undefined;
      info = {
        type, normalize: payloadNormalizer(type), encode: this.options.generalPayloads ? undefined : payloadEncoder(type),
        typeField: stringField(2, name), payloadTypeField: stringField(8, type.fullName.slice(1)),
      };
      this.typeInfo.set(name, info);
    }
    return info;
  }

  private encodeEvent(def: TransformDefinition, e: EmittedEvent, table: string, key: string, index: number, out: EnvelopeWriter, events: RowEvents): void {
    if (!e || typeof e !== 'object' || typeof e.type !== 'string' || !e.meta) throw new EventPayloadError('not an event: build events with ctx.event(type, payload, meta)');
    const info = this.eventType(e.type);
    if (!info) throw new EventPayloadError(`unknown event type ${e.type}: declare it in a .proto file listed in eventSchemas`);
    const meta: EventMeta = e.meta;
    const time = eventTime(meta.occurredAt);
    const aggregateType = meta.aggregateType ?? def.aggregateType;
    if (!aggregateType) throw new EventPayloadError('no aggregateType: set it in the event meta or on the transform');
    if (typeof meta.aggregateId !== 'string' || !meta.aggregateId) throw new EventPayloadError('aggregateId must be a non-empty string');
    const head = this.head;
    // Copied: the digest buffer is shared with every other id computed in this thread.
    const digest = eventIdDigest(table, key, e.type, index);
    for (let i = 0; i < 16; i++) head.id[i] = digest[i];
    head.type = info.typeField;
    head.seconds = time.seconds;
    head.nanos = time.nanos;
    head.aggregateType = this.stringField(4, aggregateType);
    head.aggregateId = meta.aggregateId;
    head.table = this.stringField(1, table);
    head.key = key;
    head.index = index;
    head.schemaVersion = meta.schemaVersion ?? 1;
    head.payloadType = info.payloadTypeField;
    // The envelope is the record dumps/event-envelope.ts makeEnvelope builds, without its ISO round
    // trip and fromObject copy: this is the hot path. Payloads of common field types are checked and
    // encoded in place; others are normalized, verified and encoded by protobufjs.
    if (!info.encode?.(e.payload, out, head)) {
      const payload = info.normalize(e.payload, 'payload') as object;
      const problem = info.type.verify(payload);
      if (problem) throw new EventPayloadError(`payload is invalid: ${problem}`);
      const payloadWriter = this.payloadWriter;
      payloadWriter.reset();
      info.type.encode(payload as protobuf.Message, payloadWriter);
      out.head(head);
      out.payloadFrom(payloadWriter);
    }
    out.end();
    const k = events.count++;
    events.types[k] = e.type;
    events.seconds[k] = time.seconds;
    events.nanos[k] = time.nanos;
  }

  /** Encoded string fields that repeat (tables, aggregate types), by field number and value. */
  private stringField(fieldNumber: number, value: string): Uint8Array {
    const cache = fieldNumber === 1 ? this.tableFields : this.aggregateTypeFields;
    let bytes = cache.get(value);
    if (bytes === undefined) {
      bytes = stringField(fieldNumber, value);
      if (cache.size >= 10_000) cache.clear();
      cache.set(value, bytes);
    }
    return bytes;
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
      precise: (row: Row, column: string) => this.precise(row, column),
    } as TransformContext;
  }

  /** ctx.precise: from the record of the row being transformed, else from the row's own value. */
  private precise(row: Row, column: string): PreciseTimestamp | null {
    const value = row?.[column];
    if (value === null) return null;
    if (value === undefined && !(row && column in row)) throw new Error(`ctx.precise: the row has no column ${column}`);
    const current = this.current;
    if (row === current.row && current.record && value instanceof Date) {
      const t = current.record[column] as { seconds: unknown; nanos?: number };
      return new PreciseTimestamp(longToBigint(t.seconds, false) ?? 0n, t.nanos ?? 0);
    }
    if (value instanceof Date || value instanceof PreciseTimestamp || typeof value === 'string') return PreciseTimestamp.from(value);
    throw new Error(`ctx.precise: column ${column} is not a datetime (it holds ${typeof value})`);
  }

  /** Decodes one block, runs the transform on each row, and encodes the events of the good rows. */
  processBlock(task: BlockTask): BlockResult {
    const input = this.inputs.get(task.input);
    if (!input) throw new Error(`unknown input ${task.input}`);
    const { spec, type, convert } = input;
    const def = this.transformFor(spec.table);
    const out = this.blockWriter;
    out.pos = 0;
    const typeCounts: Record<string, number> = {};
    const sortFields = this.options.sortFields;
    let sort = sortFields ? new Float64Array(Math.max(16, task.records * 2)) : undefined;
    const rejects: Reject[] = [];
    const maxRejects = this.options.maxRejectsPerBlock ?? Infinity;
    const source: RowSource = { table: spec.table, file: spec.file, block: task.block, row: 0 };
    const ctx = this.context(source);
    const rowEvents = this.rowEvents;
    let rows = 0;
    let events = 0;
    const limit = task.limitRows ?? Infinity;
    const payload = inflateBlock(task, spec.file);
    try {
      for (const bytes of unframe(payload, MAX_RECORD_BYTES)) {
        if (rows >= limit) break;
        let message: protobuf.Message;
        try {
          message = type.decode(bytes);
        } catch (err) {
          throw new DumpError(`record does not decode as ${spec.recordType}: ${(err as Error).message}`, { file: spec.file, block: task.block, record: rows });
        }
        const row = convert(message);
        this.current.row = row;
        this.current.record = message as unknown as Record<string, unknown>;
        source.row = rows;
        rows++;
        try {
          this.encodeRow(def, row, source, spec.keyFields, ctx, out, rowEvents);
        } catch (err) {
          if (!(err instanceof TransformRowError)) throw err;
          rejects.push({ ...err.reject, record: Uint8Array.from(bytes) });
          if (rejects.length > maxRejects) break;
          continue;
        }
        const n = rowEvents.count;
        for (let i = 0; i < n; i++) {
          const t = rowEvents.types[i];
          typeCounts[t] = (typeCounts[t] ?? 0) + 1;
        }
        if (sort) {
          if ((events + n) * 2 > sort.length) {
            const bigger = new Float64Array(Math.max(sort.length * 2, (events + n) * 2));
            bigger.set(sort);
            sort = bigger;
          }
          for (let i = 0; i < n; i++) {
            sort[(events + i) * 2] = rowEvents.seconds[i];
            sort[(events + i) * 2 + 1] = rowEvents.nanos[i];
          }
        }
        events += n;
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
      framed: out.finish(),
      typeCounts,
      sortFields: sort ? sort.slice(0, events * 2) : undefined,
      rejects,
    };
  }
}
