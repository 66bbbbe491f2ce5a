// `ferry seed modules`: reads event dumps once, runs every module's handlers on each batch, and
// writes each module's rows into its own database through its PostgresModuleSink. The engine owns
// batching, the in-flight limit per module, parallelism across modules (p-limit), retries after a
// lost connection, finding the event behind a failing batch, and the stats.
import pLimit from 'p-limit';
import type protobuf from 'protobufjs';
import { toPlain } from '../dumps/dump-reader.ts';
import type { EventRecord } from '../dumps/event-envelope.ts';
import { UserError } from '../lib/errors.ts';
import { Latencies, Progress, formatCount, type ProgressSummary } from '../lib/progress.ts';
import { eventBatches, listEventDumps, parseShard, type EventBatch } from './event-batches.ts';
import type { ModuleDefinition, RowOp } from './module-definition.ts';
import {
  ModuleSeedError, OperationError, PostgresModuleSink, isConnectionError, isDataError, pgMessage,
  type EncodedOp, type ModuleBatch, type ProgressRow, type RowCounts,
} from './postgres-sink.ts';

export interface SeedModulesOptions {
  /** Folder of event dumps. */
  input: string;
  modules: ModuleDefinition[];
  /** Folder of ferry.config.ts (for `schemaFile`). */
  configDir: string;
  /** Server URL for modules that name only a database. */
  serverUrl?: string;
  createDatabases?: boolean;
  resume?: boolean;
  reset?: boolean;
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
  /** Per op: index of its event in `events`. */
  opEvents: number[];
  events: EventRecord[];
  /** `events[0]`'s record number in the file. */
  firstRecord: number;
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

  constructor(readonly sink: PostgresModuleSink) {
    this.events = new Progress({ label: sink.module.name, unit: 'events', quiet: true });
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

  const inputs = await listEventDumps(options.input);
  const inputEvents = inputs.reduce((s, f) => s + f.records, 0);
  const started = performance.now();
  const sinks = options.modules.map((m) => new PostgresModuleSink(m, {
    serverUrl: options.serverUrl, configDir: options.configDir, createDatabase: Boolean(options.createDatabases),
    resume: Boolean(options.resume), reset: Boolean(options.reset), shard,
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

    const decode = payloadDecoder();
    for await (const batch of prefetch(eventBatches(options.input, { batchSize, resumeFrom, includeBlock }))) {
      if (failure) break;
      const payloads = new Array<Record<string, unknown> | undefined>(batch.events.length);
      for (const run of runs) {
        const pending = prepare(run, batch, payloads, decode, noteSkip, runs.length > 1);
        if (!pending) continue;
        await run.room(IN_FLIGHT_PER_MODULE);
        if (failure) break;
        run.enqueue(() => (failure ? Promise.resolve() : limit(() => write(run, pending, { retryForMs, log, noteSkip })).catch(fail)));
      }
    }
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

/** Runs a module's handlers over its part of a batch and encodes their operations (no I/O). */
function prepare(
  run: ModuleRun, batch: EventBatch, payloads: Array<Record<string, unknown> | undefined>,
  decode: (root: protobuf.Root, event: EventRecord) => Record<string, unknown>, noteSkip: (s: SkippedEvent) => void,
  shared: boolean,
): Pending | undefined {
  const { sink } = run;
  const handlers = sink.module.handlers;
  const start = Math.max(batch.fromRecord, run.positions.get(batch.file) ?? 0);
  if (start >= batch.toRecord) return undefined;
  const ops: EncodedOp[] = [];
  const opEvents: number[] = [];
  for (let k = start - batch.fromRecord; k < batch.events.length; k++) {
    const event = batch.events[k];
    const handler = handlers[event.type];
    if (!handler) continue;
    // Shared between modules; with one module nothing keeps it, so it dies young.
    const payload = shared ? (payloads[k] ??= decode(batch.root, event)) : decode(batch.root, event);
    const before = ops.length;
    try {
      const result = handler(payload, event);
      if (result) {
        if (Array.isArray(result)) {
          for (const op of result as RowOp[]) {
            ops.push(sink.encode(op));
            opEvents.push(k);
          }
        } else {
          ops.push(sink.encode(result as RowOp));
          opEvents.push(k);
        }
      }
    } catch (err) {
      ops.length = before;
      opEvents.length = before;
      const message = err instanceof OperationError ? `its operation does not fit the schema: ${err.message}` : `${(err as Error)?.message ?? String(err)}`;
      noteSkip({
        module: sink.module.name, eventId: event.id, eventType: event.type, file: batch.file,
        record: batch.fromRecord + k, reason: 'handler', message: message.split('\n')[0],
      });
    }
  }
  return {
    batch: { file: batch.file, fromRecord: start, toRecord: batch.toRecord, events: batch.toRecord - start, ops },
    opEvents,
    events: batch.events,
    firstRecord: batch.fromRecord,
  };
}

/** Writes one module batch: reconnects and retries after a lost connection, finds and skips (or reports) bad rows. */
async function write(
  run: ModuleRun, pending: Pending,
  ctx: { retryForMs: number; log: (line: string) => void; noteSkip: (s: SkippedEvent) => void },
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
      const k = pending.opEvents[culprit.index];
      const event = pending.events[k];
      const op = pending.batch.ops[culprit.index];
      ctx.noteSkip({
        module: sink.module.name, eventId: event.id, eventType: event.type, file: pending.batch.file,
        record: pending.firstRecord + k, reason: 'row', message: `${op.kind} into ${op.table.name}: ${pgMessage(culprit.error)}`,
      });
      // Within --max-errors: drop every operation of that event and apply the rest.
      const keep = pending.opEvents.map((e) => e !== k);
      pending.batch.ops = pending.batch.ops.filter((_, i) => keep[i]);
      pending.opEvents = pending.opEvents.filter((_, i) => keep[i]);
    }
  }
  run.batches++;
  run.latencies.add(performance.now() - t0);
  run.events.add(pending.batch.events);
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
  const types = new WeakMap<protobuf.Root, Map<string, protobuf.Type>>();
  return (root, event) => {
    let byName = types.get(root);
    if (!byName) types.set(root, (byName = new Map()));
    let type = byName.get(event.payloadType);
    if (!type) byName.set(event.payloadType, (type = root.lookupType(event.payloadType)));
    return toPlain(type, type.decode(event.payload));
  };
}

/** Pulls the next batch while the current one is being handled, so reading overlaps writing. */
async function* prefetch<T>(source: AsyncIterable<T>): AsyncGenerator<T> {
  const it = source[Symbol.asyncIterator]();
  let next = it.next();
  try {
    for (;;) {
      const r = await next;
      if (r.done) return;
      next = it.next();
      next.catch(() => undefined); // reported when awaited
      yield r.value;
    }
  } finally {
    // Finish the read in flight before closing the reader.
    await next.catch(() => undefined);
    await it.return?.(undefined);
  }
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
