// `ferry seed modules`: reads event dumps once, runs every module's handlers on each batch, and
// writes each module's rows into its own database through its PostgresModuleSink. The engine owns
// batching, the in-flight limit per module, parallelism across modules (p-limit), retries after a
// lost connection, finding the event behind a failing batch, and the stats.
import pLimit from 'p-limit';
import protobuf from 'protobufjs';
import { toPlain } from '../dumps/dump-reader.ts';
import type { EventRecord } from '../dumps/event-envelope.ts';
import { UserError } from '../lib/errors.ts';
import { Latencies, Progress, formatCount, type ProgressSummary } from '../lib/progress.ts';
import { eventBlocks, listEventDumps, parseShard, readEventAt, readWireTimestamp, text, wireTimestamp } from './event-batches.ts';
import type { EventHandler, ModuleDefinition, RowOp, SchemaMode } from '../api/module.ts';
import {
  CopyArena, ModuleSeedError, NotInSchemaError, OperationError, PostgresModuleSink, isConnectionError, isDataError, pgMessage, planSteps,
  type EncodedOp, type ModuleBatch, type ProgressRow, type RowCounts,
} from './postgres-sink.ts';

export interface SeedModulesOptions {
  /** Folder of event dumps. */
  input: string;
  /** Also read the dumps in subfolders of the input folder (--recursive). */
  recursive?: boolean;
  modules: ModuleDefinition[];
  /** Folder of ferry.config.ts (for `schemaFile`). */
  configDir: string;
  /** Server URL for modules that name only a database. */
  serverUrl?: string;
  createDatabases?: boolean;
  resume?: boolean;
  reset?: boolean;
  /** `--schema MODE`: whether ferry creates every module's schema or seeds into existing ones
   * (overrides each module's schemaMode). */
  schemaMode?: SchemaMode;
  /** Events per batch (one transaction per batch per module). */
  batchSize?: number;
  /** Modules written at the same time. */
  concurrency?: number;
  /** Events that may fail (handler error, bad row) and be skipped before the run stops. */
  maxErrors?: number;
  shard?: string;
  /** How long to keep reconnecting after the database went away. */
  retryForMs?: number;
  /** Live progress and notes on stderr (off in tests that read stderr exactly). */
  quiet?: boolean;
  log?: (line: string) => void;
}

export interface SkippedEvent {
  module: string;
  eventId: string;
  eventType: string;
  file: string;
  record: number;
  reason: 'handler' | 'row';
  message: string;
}

export interface ModuleSummary {
  name: string;
  database: string;
  server: string;
  schema: string;
  /** Events this run went through (with or without a handler for their type). */
  events: number;
  /** Events already applied by an earlier run (skipped by --resume). */
  resumedPast: number;
  rows: RowCounts & { total: number };
  batches: number;
  seconds: number;
  eventsPerSecond: number;
  rowsPerSecond: number;
  batchLatencyMs: ReturnType<Latencies['percentiles']>;
  reconnects: number;
}

export interface SeedModulesSummary {
  ok: boolean;
  input: string;
  shard: string;
  inputEvents: number;
  seconds: number;
  modules: ModuleSummary[];
  skipped: SkippedEvent[];
}

interface Pending {
  batch: ModuleBatch;
  /** Per op: the record number (in `batch.file`) of the event it came from. The events themselves are
   * not kept: the one behind a failing row is read again from the dump. */
  opRecords: number[];
  /** Holds the batch's COPY lines; back to the module's spares once the batch is committed. */
  arena: CopyArena;
}

/** A module's part of the input batch being read. */
interface Building {
  /** First record of the batch this module applies (later than the batch's start after a resume). */
  start: number;
  ops: EncodedOp[];
  opRecords: number[];
  arena: CopyArena;
}

class ModuleRun {
  readonly events: Progress;
  readonly latencies = new Latencies();
  readonly rows: RowCounts = { inserted: 0, updated: 0, deleted: 0 };
  rowsTotal = 0;
  batches = 0;
  reconnects = 0;
  resumedPast = 0;
  /** Next record to apply per file (from the stored progress). */
  positions = new Map<string, number>();
  private tail: Promise<void> = Promise.resolve();
  private queued = 0;
  private roomWaiters: Array<() => void> = [];
  private readonly spareArenas: CopyArena[] = [];

  constructor(readonly sink: PostgresModuleSink) {
    this.events = new Progress({ label: sink.module.name, unit: 'events', quiet: true });
  }

  /** An empty COPY buffer, reusing those of committed batches (a batch's buffer grows to its size once). */
  arena(): CopyArena {
    const arena = this.spareArenas.pop() ?? new CopyArena();
    arena.reset();
    return arena;
  }

  recycle(arena: CopyArena): void {
    if (this.spareArenas.length < IN_FLIGHT_PER_MODULE + 1) this.spareArenas.push(arena);
  }

  /** Queues a batch behind this module's earlier ones (they must commit in order). */
  enqueue(task: () => Promise<void>): void {
    this.queued++;
    this.tail = this.tail.then(task).finally(() => {
      this.queued--;
      this.roomWaiters.shift()?.();
    });
    this.tail.catch(() => undefined);
  }

  /** Waits until fewer than `depth` batches are queued: the reader never runs far ahead of a module. */
  async room(depth: number): Promise<void> {
    while (this.queued >= depth) await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
  }

  drained(): Promise<void> {
    return this.tail;
  }
}

const IN_FLIGHT_PER_MODULE = 2;

export async function seedModules(options: SeedModulesOptions): Promise<SeedModulesSummary> {
  const log = options.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const batchSize = options.batchSize ?? 20_000;
  const maxErrors = options.maxErrors ?? 0;
  const retryForMs = options.retryForMs ?? 60_000;
  const shard = options.shard ?? '';
  const includeBlock = parseShard(options.shard);
  if (options.resume && options.reset) throw new UserError('pass either --resume or --reset, not both');
  checkModules(options.modules);

  const inputs = await listEventDumps(options.input, options.recursive);
  const inputEvents = inputs.reduce((s, f) => s + f.records, 0);
  const started = performance.now();
  const sinks = options.modules.map((m) => new PostgresModuleSink(m, {
    serverUrl: options.serverUrl, configDir: options.configDir, createDatabase: Boolean(options.createDatabases),
    resume: Boolean(options.resume), reset: Boolean(options.reset), shard, schemaMode: options.schemaMode,
  }));
  const limit = pLimit(Math.max(1, options.concurrency ?? 4));
  const runs = sinks.map((s) => new ModuleRun(s));
  const skipped: SkippedEvent[] = [];
  let failure: Error | undefined;
  const fail = (err: Error) => {
    failure ??= err;
  };
  const noteSkip = (s: SkippedEvent) => {
    if (skipped.length >= maxErrors) {
      const hint = maxErrors === 0 ? '; fix it, or pass --max-errors N to skip up to N failing events' : ` (more than --max-errors ${maxErrors})`;
      throw new ModuleSeedError(
        `module ${s.module}: event ${s.eventId} (${s.eventType}, ${s.file} record ${s.record}) ${s.reason === 'handler' ? 'handler failed' : 'row rejected'}: ${s.message}${hint}`,
        { module: s.module, file: s.file, record: s.record, eventId: s.eventId, eventType: s.eventType });
    }
    skipped.push(s);
    log(`ferry: skipped event ${s.eventId} (${s.eventType}, ${s.file} record ${s.record}) in module ${s.module}: ${s.message}`);
  };

  const ticker = options.quiet ? undefined : startTicker(runs, log);
  try {
    const progress = await Promise.all(sinks.map((sink) => limit(() => sink.connect())));
    checkShards(progress, sinks, shard);
    const resumeFrom = new Map<string, number>();
    for (const info of inputs) {
      const positions = runs.map((r, i) => {
        r.positions = sinks[i].resumePositions();
        return r.positions.get(info.file) ?? 0;
      });
      const min = Math.min(...positions);
      if (min > 0) resumeFrom.set(info.file, min);
      runs.forEach((r) => (r.resumedPast += r.positions.get(info.file) ?? 0));
    }

    // Events are read, decoded and handled one at a time, straight into each module's part of the
    // current batch (COPY lines into its arena), and dropped: nothing of an event outlives its
    // handler call, so the garbage collector only ever sees short-lived objects. A batch is handed to
    // its module's queue when full; the event loop gets a turn every few hundred events, so the
    // COPY of the previous batch and its commit go on while this one is prepared.
    const decode = payloadDecoder();
    const ctx = { retryForMs, log, noteSkip, input: options.input };
    const building: Array<Building | undefined> = runs.map(() => undefined);
    /** The input batch being read: [from, next) of `file`; from < 0 when none. */
    let file = '';
    let from = -1;
    let next = -1;
    /** Per module: records of `file` before this are already applied (a resumed run). */
    let applied: number[] = [];
    let sinceYield = 0;
    // Per event type, each module's handler (undefined: none): looked up once per type, not by a
    // type name in every module's handlers object for every event.
    const handlersOf = new Map<string, Array<EventHandler | undefined>>();
    const flush = async () => {
      for (let i = 0; i < runs.length && !failure; i++) {
        const part = building[i];
        if (!part) continue;
        building[i] = undefined;
        const run = runs[i];
        const pending: Pending = {
          // Planned here, on the reading side, so that the module's connection does not sit idle
          // while its next batch is planned after the previous one committed.
          batch: { file, fromRecord: part.start, toRecord: next, events: next - part.start, ops: part.ops, steps: planSteps(part.ops) },
          opRecords: part.opRecords,
          arena: part.arena,
        };
        // Every module's part ends here at once: a turn of the event loop after each plan lets the
        // replies of the batches in flight be handled in between.
        await new Promise<void>((resolve) => setImmediate(resolve));
        await run.room(IN_FLIGHT_PER_MODULE);
        if (failure) break;
        run.enqueue(() => (failure ? Promise.resolve() : limit(() => write(run, pending, ctx)).catch(fail)));
      }
      from = -1;
    };
    reading: for await (const block of eventBlocks(options.input, { resumeFrom, includeBlock, recursive: options.recursive })) {
      if (failure) break;
      let k = block.fromRecord;
      for (const event of block.events()) {
        if (from >= 0 && (block.file !== file || k !== next || next - from >= batchSize)) {
          await flush();
          if (failure) break reading;
        }
        if (from < 0) {
          if (block.file !== file) applied = runs.map((r) => r.positions.get(block.file) ?? 0);
          file = block.file;
          from = k;
        }
        let payload: Record<string, unknown> | undefined;
        let handlers = handlersOf.get(event.type);
        if (!handlers) handlersOf.set(event.type, (handlers = runs.map((r) => r.sink.module.handlers[event.type])));
        for (let i = 0; i < runs.length; i++) {
          if (k < applied[i]) continue;
          const run = runs[i];
          const part = (building[i] ??= { start: k, ops: [], opRecords: [], arena: run.arena() });
          const handler = handlers[i];
          if (!handler) continue;
          // Decoded once for all modules.
          payload ??= decode(block.root, event);
          handle(run.sink, part, handler, payload, event, file, k, noteSkip);
        }
        next = ++k;
        if (++sinceYield === YIELD_EVERY) {
          sinceYield = 0;
          await new Promise<void>((resolve) => setImmediate(resolve));
          if (failure) break reading;
        }
      }
    }
    if (from >= 0 && !failure) await flush();
    await Promise.all(runs.map((r) => r.drained()));
  } catch (err) {
    fail(err as Error);
    await Promise.all(runs.map((r) => r.drained()));
  } finally {
    if (ticker) {
      clearInterval(ticker);
      if (process.stderr.isTTY) process.stderr.write('\r\x1b[2K');
    }
    await Promise.all(sinks.map((s) => s.close()));
  }
  if (failure) throw failure;

  const summaries = runs.map((run) => moduleSummary(run, run.events.finish()));
  return {
    ok: true,
    input: options.input,
    shard,
    inputEvents,
    seconds: (performance.now() - started) / 1000,
    modules: summaries,
    skipped,
  };
}

function checkModules(modules: ModuleDefinition[]): void {
  if (!modules.length) throw new UserError('no modules in the config: add modules: [...] to ferry.config.ts');
  const names = new Set<string>();
  for (const m of modules) {
    if (!m || typeof m.name !== 'string' || !m.name) throw new UserError('every module in ferry.config.ts needs a name');
    if (names.has(m.name)) throw new UserError(`two modules are named ${m.name} in ferry.config.ts`);
    names.add(m.name);
    if (!m.handlers || typeof m.handlers !== 'object') throw new UserError(`module ${m.name}: handlers must be an object { EventType: (payload, event) => ops }`);
    for (const [type, h] of Object.entries(m.handlers)) {
      if (typeof h !== 'function') throw new UserError(`module ${m.name}: the handler for ${type} is not a function`);
    }
  }
}

/** Progress kept under one --shard split cannot be continued under another. */
function checkShards(progress: ProgressRow[][], sinks: PostgresModuleSink[], shard: string): void {
  progress.forEach((rows, i) => {
    const other = rows.find((r) => r.shard !== shard && (shard === '' || r.shard === '' || r.shard.split('/')[1] !== shard.split('/')[1]));
    if (other) {
      throw new ModuleSeedError(
        `${sinks[i].describe()} holds progress made with ${other.shard ? `--shard ${other.shard}` : 'no --shard'}; continue with the same shard split, or pass --reset`,
        { module: sinks[i].module.name });
    }
  });
}

/** Events between two turns of the event loop while a batch is prepared. */
const YIELD_EVERY = 256;

/** Runs a module's handler on one event and encodes its operations into the module's batch (no I/O). */
function handle(
  sink: PostgresModuleSink, part: Building, handler: (payload: unknown, event: EventRecord) => unknown,
  payload: Record<string, unknown>, event: EventRecord, file: string, record: number, noteSkip: (s: SkippedEvent) => void,
): void {
  const { ops, opRecords, arena } = part;
  const before = ops.length;
  const mark = arena.length;
  try {
    const result = handler(payload, event);
    if (result) {
      if (Array.isArray(result)) {
        for (const op of result as RowOp[]) {
          ops.push(sink.encode(op, arena));
          opRecords.push(record);
        }
      } else {
        ops.push(sink.encode(result as RowOp, arena));
        opRecords.push(record);
      }
    }
  } catch (err) {
    ops.length = before;
    opRecords.length = before;
    arena.truncate(mark);
    if (err instanceof NotInSchemaError && sink.schemaMode === 'existing') {
      // Not a bad event but a schema that does not match the handlers: no --max-errors skips it.
      throw new ModuleSeedError(
        `${sink.describe()}: the ${event.type} handler (event ${event.id}, ${file} record ${record}) writes what the existing schema lacks: ${err.message}; add it with the module's own migrations (schemaMode 'existing': ferry creates no tables or columns)`,
        { module: sink.module.name, file, record, eventId: event.id, eventType: event.type });
    }
    const message = err instanceof OperationError ? `its operation does not fit the schema: ${err.message}` : `${(err as Error)?.message ?? String(err)}`;
    noteSkip({
      module: sink.module.name, eventId: event.id, eventType: event.type, file,
      record, reason: 'handler', message: message.split('\n')[0],
    });
  }
}

/** Writes one module batch: reconnects and retries after a lost connection, finds and skips (or reports) bad rows. */
async function write(
  run: ModuleRun, pending: Pending,
  ctx: { retryForMs: number; log: (line: string) => void; noteSkip: (s: SkippedEvent) => void; input: string },
): Promise<void> {
  const { sink } = run;
  const t0 = performance.now();
  let lostAt: number | undefined;
  let delay = 100;
  for (;;) {
    try {
      const counts = await sink.writeBatch(pending.batch);
      if (counts) {
        run.rows.inserted += counts.inserted;
        run.rows.updated += counts.updated;
        run.rows.deleted += counts.deleted;
        run.rowsTotal += counts.inserted + counts.updated + counts.deleted;
      }
      break;
    } catch (err) {
      if (isConnectionError(err)) {
        lostAt ??= performance.now();
        if (performance.now() - lostAt > ctx.retryForMs) {
          throw new ModuleSeedError(`${sink.describe()}: connection lost and not back after ${Math.round(ctx.retryForMs / 1000)} s: ${pgMessage(err)}; run again with --resume when the database is up`, { module: sink.module.name, file: pending.batch.file, record: pending.batch.fromRecord }, { cause: err });
        }
        run.reconnects++;
        ctx.log(`ferry: ${sink.describe()}: ${pgMessage(err)}; reconnecting in ${delay} ms`);
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, 5_000);
        continue;
      }
      if (!isDataError(err)) {
        if (err instanceof UserError) throw err;
        throw new ModuleSeedError(`${sink.describe()}: batch ${pending.batch.file} records ${pending.batch.fromRecord}–${pending.batch.toRecord - 1} failed: ${pgMessage(err)}`, { module: sink.module.name, file: pending.batch.file, record: pending.batch.fromRecord }, { cause: err });
      }
      let culprit: { index: number; error: Error } | undefined;
      try {
        culprit = await findCulprit(sink, pending.batch.ops);
      } catch (probeErr) {
        if (isConnectionError(probeErr)) continue;
        throw probeErr;
      }
      if (!culprit) {
        throw new ModuleSeedError(`${sink.describe()}: batch ${pending.batch.file} records ${pending.batch.fromRecord}–${pending.batch.toRecord - 1} failed: ${pgMessage(err)}`, { module: sink.module.name, file: pending.batch.file, record: pending.batch.fromRecord }, { cause: err });
      }
      const record = pending.opRecords[culprit.index];
      const event = await readEventAt(ctx.input, pending.batch.file, record);
      const op = pending.batch.ops[culprit.index];
      ctx.noteSkip({
        module: sink.module.name, eventId: event.id, eventType: event.type, file: pending.batch.file,
        record, reason: 'row', message: `${op.kind} into ${op.table.name}: ${pgMessage(culprit.error)}`,
      });
      // Within --max-errors: drop every operation of that event and apply the rest.
      const keep = pending.opRecords.map((r) => r !== record);
      pending.batch.ops = pending.batch.ops.filter((_, i) => keep[i]);
      pending.batch.steps = undefined;
      pending.opRecords = pending.opRecords.filter((_, i) => keep[i]);
    }
  }
  run.batches++;
  run.latencies.add(performance.now() - t0);
  run.events.add(pending.batch.events);
  run.recycle(pending.arena);
}

/**
 * The first operation whose prefix fails: applying ops[0..i] fails and ops[0..i-1] does not. Found by
 * bisection with rolled-back probes (a row can fail only because of an earlier one in the batch).
 */
async function findCulprit(sink: PostgresModuleSink, ops: EncodedOp[]): Promise<{ index: number; error: Error } | undefined> {
  let error = await sink.probe(ops);
  if (!error || !isDataError(error)) return undefined;
  let good = 0;
  let bad = ops.length;
  while (bad - good > 1) {
    const mid = (good + bad) >>> 1;
    const e = await sink.probe(ops.slice(0, mid));
    if (e && isDataError(e)) {
      bad = mid;
      error = e;
    } else {
      good = mid;
    }
  }
  return { index: bad - 1, error };
}

/** Decodes payloads to plain objects with one cached type lookup per payload type. */
function payloadDecoder(): (root: protobuf.Root, event: EventRecord) => Record<string, unknown> {
  const types = new WeakMap<protobuf.Root, Map<string, (bytes: Uint8Array) => Record<string, unknown>>>();
  return (root, event) => {
    let byName = types.get(root);
    if (!byName) types.set(root, (byName = new Map()));
    let decode = byName.get(event.payloadType);
    if (!decode) {
      const type = root.lookupType(event.payloadType);
      const plain = flatPlain(type);
      const direct = flatDecoder(type);
      const slow = plain ? (bytes: Uint8Array) => plain(type.decode(bytes)) : (bytes: Uint8Array) => toPlain(type, type.decode(bytes));
      decode = direct ? (bytes) => direct(bytes as Buffer) ?? slow(bytes) : slow;
      byName.set(event.payloadType, decode);
    }
    return decode(event.payload);
  };
}

const SCALARS = new Set(['string', 'bool', 'int32', 'uint32', 'sint32', 'fixed32', 'sfixed32', 'double', 'float']);
const LONGS = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);
const hasOwn = (o: object, key: string) => Object.prototype.hasOwnProperty.call(o, key);

/**
 * toPlain(type, message) for the usual flat payload (strings, numbers, booleans, 64-bit integers,
 * google.protobuf.Timestamp; nothing repeated, optional, enum, bytes or nested otherwise), without
 * protobufjs' general toObject: that one formats a Long zero as the default of every 64-bit field
 * and goes through Long#toString for every Timestamp. Same result, key order included (defaults
 * first, in field order). Undefined for other types, which toPlain handles.
 */
export function flatPlain(type: protobuf.Type): ((message: protobuf.Message) => Record<string, unknown>) | undefined {
  // toObject's order: by field number.
  const fields = type.fieldsArray.slice().sort((a, b) => a.id - b.id);
  const kinds: Array<'scalar' | 'long' | 'timestamp'> = [];
  for (const f of fields) {
    f.resolve();
    if (f.repeated || f.map || f.partOf) return undefined;
    if (SCALARS.has(f.type)) kinds.push('scalar');
    else if (LONGS.has(f.type)) kinds.push('long');
    else if (f.resolvedType?.fullName === '.google.protobuf.Timestamp' && isTimestamp(f.resolvedType as protobuf.Type)) kinds.push('timestamp');
    else return undefined;
  }
  const names = fields.map((f) => f.name);
  // What toObject writes for a field the message does not have (proto2 may declare defaults).
  const defaults = fields.map((f, i) => (kinds[i] === 'long' ? longText(f.typeDefault) : kinds[i] === 'timestamp' ? null : f.typeDefault));
  return (message) => {
    const m = message as unknown as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (let i = 0; i < names.length; i++) {
      const name = names[i];
      const v = m[name];
      if (v == null || !hasOwn(m, name)) out[name] = defaults[i];
      else if (kinds[i] === 'scalar') out[name] = v;
      else if (kinds[i] === 'long') out[name] = longText(v);
      else {
        const t = v as { seconds?: unknown; nanos?: number };
        out[name] = { seconds: t.seconds != null && hasOwn(t, 'seconds') ? longText(t.seconds) : '0', nanos: t.nanos != null && hasOwn(t, 'nanos') ? t.nanos : 0 };
      }
    }
    return out;
  };
}

type WireKind = 'string' | 'bool' | 'int32' | 'uint32' | 'sint32' | 'fixed32' | 'sfixed32' | 'double' | 'float' | 'int64' | 'uint64' | 'timestamp' | 'enum';
const WIRE: Record<WireKind, number> = {
  string: 2, bool: 0, int32: 0, uint32: 0, sint32: 0, fixed32: 5, sfixed32: 5, double: 1, float: 5, int64: 0, uint64: 0, timestamp: 2, enum: 0,
};

/**
 * toPlain(type, type.decode(bytes)) read straight from the wire, for flat types: the scalars of
 * flatPlain, enums (by name; an unknown number stays a number) and proto3 `optional` fields (a
 * oneof of one field: null when unset), whose fields all default to zero values, up to 31 fields,
 * no sint64/fixed64/sfixed64. Keys come in toPlain's order: the plain fields by number, then the
 * optional ones that are set (by number), then the unset ones (as declared). Returns undefined for a
 * message with anything unusual (a field twice, an unknown field, a 64-bit value from 2^53 or a
 * negative one, an unexpected wire type, invalid UTF-8): protobufjs then decodes it (and reports
 * what is wrong).
 */
export function flatDecoder(type: protobuf.Type): ((buf: Buffer) => Record<string, unknown> | undefined) | undefined {
  const fields = type.fieldsArray.slice().sort((a, b) => a.id - b.id);
  if (fields.length > 31) return undefined;
  const slot: number[] = [];
  const kinds: WireKind[] = [];
  const enums: Array<Record<number, string> | undefined> = [];
  const defaults: unknown[] = [];
  const plainFields: number[] = [];
  const optionalFields: number[] = [];
  for (const [i, f] of fields.entries()) {
    f.resolve();
    if (f.repeated || f.map || f.id > 15) return undefined; // one-byte tags only
    const optional = Boolean(f.partOf);
    if (optional && f.partOf!.fieldsArray.length !== 1) return undefined;
    let kind: WireKind;
    if (f.resolvedType instanceof protobuf.Enum) kind = 'enum';
    else if (f.resolvedType) {
      if (f.resolvedType.fullName !== '.google.protobuf.Timestamp' || !isTimestamp(f.resolvedType as protobuf.Type)) return undefined;
      kind = 'timestamp';
    } else if (f.type in WIRE && f.type !== 'timestamp' && f.type !== 'enum') kind = f.type as WireKind;
    else return undefined;
    if (!optional) {
      // What an absent field reads as must be what toObject writes as its default.
      const zero = kind === 'timestamp' || (kind === 'enum' ? f.typeDefault === 0 : f.long ? longText(f.typeDefault) === '0' : f.typeDefault === (kind === 'string' ? '' : kind === 'bool' ? false : 0));
      if (!zero) return undefined;
    }
    slot[f.id] = i;
    kinds.push(kind);
    const values = kind === 'enum' ? (f.resolvedType as protobuf.Enum).valuesById : undefined;
    enums.push(values);
    defaults.push(kind === 'timestamp' ? null : kind === 'int64' || kind === 'uint64' ? '0' : kind === 'enum' ? values![0] ?? 0 : f.typeDefault);
    (optional ? optionalFields : plainFields).push(i);
  }
  const names = fields.map((f) => f.name);
  // toPlain writes null for unset optional fields in declaration order.
  const unsetOrder = type.fieldsArray.filter((f) => f.partOf).map((f) => fields.indexOf(f));
  const values: unknown[] = new Array(fields.length);
  return (buf) => {
    const end = buf.length;
    let pos = 0;
    let seen = 0;
    while (pos < end) {
      const tag = buf[pos++];
      if (tag & 0x80) return undefined;
      const i = slot[tag >>> 3];
      if (i === undefined || seen & (1 << i)) return undefined;
      seen |= 1 << i;
      const kind = kinds[i];
      if ((tag & 7) !== WIRE[kind]) return undefined;
      switch (kind) {
        case 'fixed32': case 'sfixed32': case 'float':
          if (pos + 4 > end) return undefined;
          values[i] = kind === 'fixed32' ? buf.readUInt32LE(pos) : kind === 'sfixed32' ? buf.readInt32LE(pos) : buf.readFloatLE(pos);
          pos += 4;
          continue;
        case 'double':
          if (pos + 8 > end) return undefined;
          values[i] = buf.readDoubleLE(pos);
          pos += 8;
          continue;
        default:
      }
      // A varint: the value, or the length of a string / Timestamp. Up to 8 bytes (< 2^56).
      let v = 0;
      let multiplier = 1;
      let b: number;
      do {
        if (pos >= end || multiplier > 2 ** 49) return undefined;
        b = buf[pos++];
        v += (b & 0x7f) * multiplier;
        multiplier *= 128;
      } while (b & 0x80);
      switch (kind) {
        case 'string': {
          if (pos + v > end) return undefined;
          const value = textOrUndefined(buf, pos, pos + v);
          if (value === undefined) return undefined; // invalid UTF-8: protobufjs reports it
          values[i] = value;
          pos += v;
          break;
        }
        case 'timestamp': {
          if (pos + v > end) return undefined;
          const t = readPlainTimestamp(buf, pos, pos + v);
          if (!t) return undefined;
          values[i] = t;
          pos += v;
          break;
        }
        case 'int64': case 'uint64':
          if (v > Number.MAX_SAFE_INTEGER) return undefined;
          values[i] = String(v);
          break;
        default: {
          // 32-bit kinds: protobufjs keeps the low 32 bits of up to 5 bytes.
          if (multiplier > 2 ** 35) return undefined;
          const u = v % 2 ** 32;
          if (kind === 'enum') {
            const n = u | 0;
            values[i] = enums[i]![n] ?? n;
          } else values[i] = kind === 'bool' ? u !== 0 : kind === 'int32' ? u | 0 : kind === 'uint32' ? u : ((u >>> 1) ^ -(u & 1));
        }
      }
    }
    const out: Record<string, unknown> = {};
    for (let k = 0; k < plainFields.length; k++) {
      const i = plainFields[k];
      out[names[i]] = seen & (1 << i) ? values[i] : defaults[i];
    }
    if (optionalFields.length) {
      for (let k = 0; k < optionalFields.length; k++) {
        const i = optionalFields[k];
        if (seen & (1 << i)) out[names[i]] = values[i];
      }
      for (let k = 0; k < unsetOrder.length; k++) {
        const i = unsetOrder[k];
        if (!(seen & (1 << i))) out[names[i]] = null;
      }
    }
    values.fill(undefined);
    return out;
  };
}

function textOrUndefined(buf: Buffer, start: number, end: number): string | undefined {
  try {
    return text(buf, start, end);
  } catch {
    return undefined;
  }
}

/** A Timestamp's bytes as toObject({ longs: String, defaults: true }) gives it, or undefined when unusual. */
function readPlainTimestamp(buf: Buffer, start: number, end: number): { seconds: string; nanos: number } | undefined {
  if (!readWireTimestamp(buf, start, end)) return undefined;
  const { seconds, nanos, nanosBytes } = wireTimestamp;
  // int32 nanos: protobufjs keeps the low 32 bits of up to 5 bytes.
  if (seconds > Number.MAX_SAFE_INTEGER || nanosBytes > 5) return undefined;
  return { seconds: String(seconds), nanos: (nanos % 2 ** 32) | 0 };
}

function isTimestamp(t: protobuf.Type): boolean {
  const f = t.fieldsArray;
  return f.length === 2 && f[0].name === 'seconds' && f[0].type === 'int64' && f[1].name === 'nanos' && f[1].type === 'int32' && !f.some((x) => x.repeated || x.partOf);
}

/** A decoded 64-bit integer (a number, or a Long) as toObject's `longs: String` writes it. */
function longText(v: unknown): string {
  if (typeof v === 'number') return String(v);
  const l = v as { low: number; high: number; unsigned: boolean };
  // Below 2^53 the number is exact and prints the same digits as Long#toString.
  if (l.unsigned ? l.high >>> 0 < 0x200000 : l.high < 0x200000 && l.high >= -0x200000) {
    return String((l.unsigned ? l.high >>> 0 : l.high) * 4294967296 + (l.low >>> 0));
  }
  return (protobuf.util.Long as unknown as { prototype: { toString(this: unknown): string } }).prototype.toString.call(v);
}

function moduleSummary(run: ModuleRun, p: ProgressSummary): ModuleSummary {
  const { sink } = run;
  const url = new URL(sink.url);
  return {
    name: sink.module.name,
    database: decodeURIComponent(url.pathname.slice(1)),
    server: url.port ? `${url.hostname}:${url.port}` : url.hostname,
    schema: sink.schemaName,
    events: p.count,
    resumedPast: run.resumedPast,
    rows: { ...run.rows, total: run.rowsTotal },
    batches: run.batches,
    seconds: p.seconds,
    eventsPerSecond: p.perSecond,
    rowsPerSecond: run.rowsTotal / Math.max(p.seconds, 1e-9),
    batchLatencyMs: run.latencies.percentiles(),
    reconnects: run.reconnects,
  };
}

/** Live per-module events/s and rows/s: a rewritten line on a terminal, a plain line every 5 s otherwise. */
function startTicker(runs: ModuleRun[], log: (line: string) => void): NodeJS.Timeout {
  const tty = Boolean(process.stderr.isTTY);
  let last = runs.map(() => ({ events: 0, rows: 0, at: performance.now() }));
  const timer = setInterval(() => {
    const now = performance.now();
    const parts = runs.map((r, i) => {
      const dt = Math.max((now - last[i].at) / 1000, 1e-9);
      return `${r.sink.module.name} ${formatCount(r.events.count)} events ${formatCount((r.events.count - last[i].events) / dt)}/s, ${formatCount(r.rowsTotal)} rows ${formatCount((r.rowsTotal - last[i].rows) / dt)}/s`;
    });
    last = runs.map((r) => ({ events: r.events.count, rows: r.rowsTotal, at: now }));
    const line = `seed modules: ${parts.join(' | ')}`;
    if (tty) process.stderr.write(`\r\x1b[2K${line}`);
    else log(line);
  }, tty ? 1_000 : 5_000);
  timer.unref();
  return timer;
}
