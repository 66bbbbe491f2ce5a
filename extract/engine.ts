// The extraction engine, shared by every source: picks tables, plans key-range parts, reads each
// part in keyset chunks (a few queries at once, optionally rate-limited, retried with backoff on
// transient errors), writes one dump per part through DumpWriter, and checkpoints every chunk in
// the manifest so that `--resume` produces the same dumps as an uninterrupted run.
import { mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pLimit from 'p-limit';
import protobuf from 'protobufjs';
import { DumpWriter, type DumpWriterOptions, type HeaderInit } from '../dumps/index.ts';
import { UserError } from '../lib/errors.ts';
import { describeUrl, redact } from '../lib/redact.ts';
import { parseShardSpec, type Shard } from '../lib/shard.ts';
import { ManifestStore, type ExtractManifest, type ManifestPart, type ManifestSettings, type ManifestTable, type TableSummary } from './manifest.ts';
import { PostgresSource } from './postgres-source.ts';
import { generateTableSchema, headerColumns, type TableRef, type TableSchema } from './row-schema.ts';
import { claimPartials, removeAll, salvagedBlocks } from './salvage.ts';
import { ExtractError, tableName, type ColumnOptions, type KeyTuple, type RowBatch, type Source, type SourceOptions, type TableInfo } from './source.ts';
import { EXTRACT_DEFAULTS } from './defaults.ts';
import { WallClock } from './values.ts';

export interface ExtractOptions {
  from: string;
  out: string;
  schemasOut: string;
  tables: string[];
  exclude: string[];
  excludeColumns: string[];
  casts: string[];
  /** `table=col[,col]`, or `col[,col]` for every selected table without a key. */
  keys: string[];
  /** Tables without a key are read in one pass (not resumable mid-table). */
  noKey: boolean;
  concurrency: number;
  parts: number;
  chunkRows: number;
  /** A chunk also ends once its rows reach this many bytes (of their text), bounding memory for wide rows. */
  chunkBytes?: number;
  maxRowsPerSecond?: number;
  resume: boolean;
  /** Start over even though --out holds an unfinished run. */
  restart?: boolean;
  /** "i/n": extract only every n-th table (by name) of the selection; n copies cover all of it. */
  shard?: string;
  sourceTimezone: string;
  isolation?: string;
  statementTimeoutMs: number;
  retries: number;
  /** First retry delay; doubles each time (with jitter). */
  retryBaseMs: number;
  reporter?: ExtractReporter;
  /**
   * zlib level of the dumps' blocks. Extract defaults to 1: a block compresses in the writer's
   * thread while the next is read and encoded, and level 1 costs ~25% less CPU than 3 for ~2% more
   * bytes on typical rows (the CPU is shared with the reading and, on small machines, the source).
   */
  gzipLevel?: number;
  /** Dump block limits (tests use small blocks). */
  blockRecords?: number;
  blockBytes?: number;
  /** Opens a dump writer (tests pass one that writes to a failing device). */
  createWriter?: (file: string, header: HeaderInit, options: DumpWriterOptions) => Promise<DumpWriter>;
  /** Builds the source (tests and other front ends may pass their own). */
  createSource?: (options: SourceOptions) => Source;
}

export interface ExtractReporter {
  tableStarted?(table: string, estimatedRows: number | undefined, rowsDone: number): void;
  rows?(table: string, rows: number, bytes: number): void;
  tableFinished?(summary: TableSummary): void;
  retry?(table: string, part: number, err: unknown, attempt: number, delayMs: number): void;
}

export interface ExtractResult {
  ok: boolean;
  out: string;
  manifest: string;
  source: ExtractManifest['source'];
  startedAt: string;
  finishedAt: string;
  seconds: number;
  tables: TableSummary[];
  totals: { rows: number; bytes: number; uncompressedBytes: number };
}

export { EXTRACT_DEFAULTS };

export function createSource(options: SourceOptions): Source {
  let scheme: string;
  try {
    scheme = new URL(options.url).protocol.replace(/:$/, '');
  } catch {
    throw new UserError(`--from ${redact(options.url)} is not a URL (expected postgres://… or mssql://…)`);
  }
  if (scheme === 'postgres' || scheme === 'postgresql') return new PostgresSource(options);
  if (scheme === 'mssql' || scheme === 'sqlserver') return new MssqlSourceLoader(options);
  throw new UserError(`--from ${redact(options.url)}: unknown source "${scheme}" (use postgres://… or mssql://…)`);
}

/** The mssql source is loaded on first use, so a PostgreSQL run never loads tedious. */
class MssqlSourceLoader implements Source {
  private inner?: Source;
  readonly origin: Source['origin'];
  constructor(private readonly options: SourceOptions) {
    const { server, database } = describeUrl(options.url);
    this.origin = { source: 'mssql', server, database };
  }
  async connect(): Promise<void> {
    const { MssqlSource } = await import('./mssql-source.ts');
    this.inner = new MssqlSource(this.options);
    await this.inner.connect();
  }
  listTables = () => this.inner!.listTables();
  findTable = (s: string | undefined, n: string) => this.inner!.findTable(s, n);
  introspect = (t: TableRef, c: ColumnOptions) => this.inner!.introspect(t, c);
  nullKeyColumns = (t: TableRef, c: string[]) => this.inner!.nullKeyColumns(t, c);
  duplicateKey = (t: TableRef, c: string[]) => this.inner!.duplicateKey(t, c);
  splitPoints = (i: TableInfo, p: number) => this.inner!.splitPoints(i, p);
  readChunk = (r: Parameters<Source['readChunk']>[0]) => this.inner!.readChunk(r);
  describeQuery = (r: Parameters<Source['describeQuery']>[0]) => this.inner!.describeQuery(r);
  isTransient = (e: unknown) => this.inner?.isTransient(e) ?? false;
  close = async () => this.inner?.close();
}

/** Runs an extract; throws UserError/ExtractError on failure (after recording it in the manifest). */
export async function runExtract(opts: ExtractOptions): Promise<ExtractResult> {
  try {
    WallClock.check(opts.sourceTimezone);
  } catch {
    throw new UserError(`--source-timezone ${opts.sourceTimezone} is not a time zone name (use an IANA name such as UTC or Europe/Helsinki)`);
  }
  const out = path.resolve(opts.out);
  await ensureDir(out, '--out');
  const shard = parseShardSpec(opts.shard);
  const manifestFile = ManifestStore.fileIn(out, shard?.suffix);
  const previous = await ManifestStore.load(out, shard?.suffix);
  if (opts.resume && !previous) throw new UserError(`--resume: ${out} holds no ${path.basename(manifestFile)} to continue from; run without --resume`);
  const progressed = previous?.data.tables.some((t) => t.parts.some((p) => p.status === 'done' || p.checkpoints.length > 0));
  if (!opts.resume && !opts.restart && previous && previous.data.status !== 'complete' && progressed) {
    throw new UserError(`${out} holds an unfinished extract (${previous.data.status}): continue it with --resume, start over with --restart, or choose another --out`);
  }
  const origin = describeUrl(opts.from);
  if (opts.resume && previous && (previous.data.source.server !== origin.server || previous.data.source.database !== origin.database)) {
    throw new UserError(`--resume: the manifest in ${out} is of ${previous.data.source.server}/${previous.data.source.database}, not ${origin.server}/${origin.database}`);
  }
  // A resumed run keeps the plan and every setting that shapes the dumps.
  const settings: ManifestSettings = opts.resume && previous ? previous.data.settings : {
    tables: opts.tables, exclude: opts.exclude, excludeColumns: opts.excludeColumns, casts: opts.casts, keys: opts.keys,
    noKey: opts.noKey, chunkRows: opts.chunkRows, chunkBytes: opts.chunkBytes ?? EXTRACT_DEFAULTS.chunkBytes, parts: opts.parts, sourceTimezone: opts.sourceTimezone, isolation: opts.isolation,
  };
  const source = (opts.createSource ?? createSource)({
    url: opts.from,
    connections: Math.max(1, opts.concurrency),
    sourceTimezone: settings.sourceTimezone,
    isolation: settings.isolation,
    statementTimeoutMs: opts.statementTimeoutMs,
    connectTimeoutMs: 15_000,
  });
  const runStarted = performance.now();
  let store: ManifestStore | undefined;
  try {
    await source.connect();
    const planned = shardTables(await plan(source, settings), shard);
    if (opts.resume && previous) {
      store = previous;
      checkSamePlan(store.data, planned);
      store.data.status = 'running';
      delete store.data.error;
    } else {
      store = new ManifestStore(manifestFile, {
        version: 1,
        tool: 'ferry extract',
        status: 'running',
        startedAt: new Date().toISOString(),
        updatedAt: '',
        source: origin,
        settings,
        tables: [],
      });
      for (const p of planned) store.data.tables.push(await planParts(source, p, settings, out));
      await ensureDir(path.resolve(opts.schemasOut), '--schemas-out');
      for (const p of planned) await writeFile(path.join(path.resolve(opts.schemasOut), protoFileName(p.info.table)), p.schema.protoText);
    }
    await store.save();
    const summaries = await execute(source, store, planned, settings, out, opts);
    store.data.status = 'complete';
    store.data.finishedAt = new Date().toISOString();
    await store.save();
    const totals = summaries.reduce((t, s) => ({ rows: t.rows + s.rows, bytes: t.bytes + s.bytes, uncompressedBytes: t.uncompressedBytes + s.uncompressedBytes }), { rows: 0, bytes: 0, uncompressedBytes: 0 });
    return {
      ok: true,
      out,
      manifest: store.file,
      source: store.data.source,
      startedAt: store.data.startedAt,
      finishedAt: store.data.finishedAt,
      seconds: (performance.now() - runStarted) / 1000,
      tables: summaries,
      totals,
    };
  } catch (err) {
    if (store) {
      store.data.status = 'failed';
      store.data.error = redact((err as Error).message ?? String(err));
      await store.save().catch(() => undefined);
    }
    throw err;
  } finally {
    await source.close();
  }
}

/**
 * --shard i/n: every copy plans the same tables (sorted by name) and takes every n-th, whole: key
 * ranges are computed from the data, which may move on a live replica between the copies' starts,
 * so they are split (--parts) only inside a shard, never across shards.
 */
function shardTables(planned: PlannedTable[], shard: Shard | undefined): PlannedTable[] {
  if (!shard) return planned;
  const names = planned.map((p) => tableName(p.info.table)).sort();
  return planned.filter((p) => names.indexOf(tableName(p.info.table)) % shard.count === shard.index);
}

interface PlannedTable {
  info: TableInfo;
  schema: TableSchema;
  /** Read in one pass (no key, --no-key). */
  onePass: boolean;
}

/** Resolves table names and patterns, introspects every table and checks everything up front. */
async function plan(source: Source, settings: ManifestSettings): Promise<PlannedTable[]> {
  const all = await source.listTables();
  const selected: TableRef[] = [];
  const add = (t: TableRef) => {
    if (!selected.some((s) => s.schema === t.schema && s.name === t.name)) selected.push(t);
  };
  if (settings.tables.length === 0) all.forEach(add);
  for (const spec of settings.tables) {
    if (/[*?]/.test(spec)) {
      const matches = all.filter((t) => matchesTable(spec, t));
      if (matches.length === 0) throw new UserError(`--tables ${spec}: no table matches`);
      matches.forEach(add);
      continue;
    }
    const exact = all.filter((t) => matchesTable(spec, t));
    if (exact.length > 1) throw new UserError(`--tables ${spec} is ambiguous (${exact.map(tableName).join(', ')}): give schema.table`);
    const [schema, name] = splitTableSpec(spec);
    const found = exact[0] ?? (await source.findTable(schema, name));
    if (!found) {
      const known = all.slice(0, 8).map(tableName).join(', ');
      throw new UserError(`table ${spec} does not exist in ${source.origin.server}/${source.origin.database}${known ? ` (tables there include ${known}${all.length > 8 ? ', …' : ''})` : ''}`);
    }
    add(found);
  }
  const tables = selected.filter((t) => !settings.exclude.some((spec) => matchesTable(spec, t)));
  if (tables.length === 0) throw new UserError('no tables to extract (check --tables and --exclude)');

  const planned: PlannedTable[] = [];
  const keyless: string[] = [];
  for (const table of tables) {
    const columnOptions: ColumnOptions = { exclude: new Set(), casts: new Map() };
    for (const spec of settings.excludeColumns) {
      const [t, col] = splitColumnSpec(spec, '--exclude-columns');
      if (matchesTable(t, table)) columnOptions.exclude.add(col);
    }
    for (const spec of settings.casts) {
      const eq = spec.indexOf('=');
      if (eq < 0) throw new UserError(`--cast ${spec}: expected table.column=SQL expression`);
      const [t, col] = splitColumnSpec(spec.slice(0, eq), '--cast');
      if (matchesTable(t, table)) columnOptions.casts.set(col, spec.slice(eq + 1));
    }
    const info = await source.introspect(table, columnOptions);
    if (info.columns.length === 0) throw new UserError(`${tableName(table)}: no columns left to extract`);
    const override = keyOverride(settings.keys, table, info.key.length === 0);
    if (override) {
      await checkGivenKey(source, info, override);
      info.key = override;
      info.keySource = '--key';
    }
    const schema = generateTableSchema(table, info.columns, source.origin);
    const onePass = info.key.length === 0;
    if (onePass && !settings.noKey) keyless.push(tableName(table));
    planned.push({ info, schema, onePass });
  }
  if (keyless.length) {
    throw new UserError(
      `${keyless.join(', ')}: no primary key or unique key on NOT NULL columns; give --key '${keyless[0]}=col[,col]' ` +
        `(columns that identify a row, for resumable chunks) or --no-key (read such tables in one pass; a failure restarts the table)`,
    );
  }
  return planned;
}

function keyOverride(keys: string[], table: TableRef, keyless: boolean): string[] | undefined {
  for (const spec of keys) {
    const eq = spec.indexOf('=');
    if (eq >= 0) {
      if (matchesTable(spec.slice(0, eq), table)) return spec.slice(eq + 1).split(',').map((s) => s.trim()).filter(Boolean);
    } else if (keyless) {
      return spec.split(',').map((s) => s.trim()).filter(Boolean);
    }
  }
  return undefined;
}

/**
 * A key given with --key is checked before anything is read: keyset chunks (WHERE key > last
 * ORDER BY key) silently skip rows whose key is NULL, or shared with a row across a chunk
 * boundary. The columns must exist and hold no NULLs; unless they cover a primary key or unique
 * index, one GROUP BY query proves that no two rows share a key value.
 */
async function checkGivenKey(source: Source, info: TableInfo, key: string[]): Promise<void> {
  const t = tableName(info.table);
  const flag = `--key '${t}=${key.join(',')}'`;
  const columns = info.tableColumns ?? info.columns;
  const orElse = info.key.length ? `or drop --key for ${t} to use its ${info.keySource} (${info.key.join(', ')})` : 'or read the table in one pass with --no-key';
  if (key.length === 0) throw new UserError(`--key for ${t} names no columns`);
  const repeated = key.find((k, i) => key.indexOf(k) !== i);
  if (repeated) throw new UserError(`${flag}: column ${repeated} is named twice`);
  for (const k of key) {
    if (columns.some((c) => c.name === k)) continue;
    const similar = columns.find((c) => c.name.toLowerCase() === k.toLowerCase());
    const names = columns.map((c) => c.name);
    const hint = similar ? `did you mean ${similar.name}? (names are case-sensitive)` : `its columns: ${names.slice(0, 12).join(', ')}${names.length > 12 ? ', …' : ''}`;
    throw new UserError(`${flag}: table ${t} has no column ${k} (${hint})`);
  }
  const nullable = key.filter((k) => columns.find((c) => c.name === k)!.nullable);
  if (nullable.length) {
    const withNulls = await source.nullKeyColumns(info.table, nullable);
    if (withNulls.length) {
      throw new UserError(
        `${flag}: column ${withNulls.join(', ')} of ${t} is NULL in some rows, and keyset chunks (WHERE key > last) would skip those rows; ` +
          `give NOT NULL columns that identify a row as --key, ${orElse}`,
      );
    }
  }
  if ((info.uniqueKeys ?? []).some((u) => u.length > 0 && u.every((c) => key.includes(c)))) return;
  const dup = await source.duplicateKey(info.table, key);
  if (dup) {
    const value = dup.key.map((v) => (v === null ? 'NULL' : v.length > 60 ? `${v.slice(0, 60)}…` : v)).join(', ');
    throw new UserError(
      `${flag}: the key is not unique in ${t} (${dup.rows} rows have (${key.join(', ')}) = (${value})), and keyset chunks would skip rows that share a key across a chunk boundary; ` +
        `add columns until the key identifies one row (--key '${t}=${key.join(',')},<column>'), ${orElse}`,
    );
  }
}

function checkSamePlan(manifest: ExtractManifest, planned: PlannedTable[]): void {
  for (const p of planned) {
    const m = manifest.tables.find((t) => t.table === tableName(p.info.table));
    if (!m) throw new UserError(`--resume: ${tableName(p.info.table)} is not in the manifest's plan`);
    if (m.protoText !== p.schema.protoText || m.key.join(',') !== p.info.key.join(',')) {
      throw new UserError(`--resume: ${m.table} has changed since the run began (columns, types or key); start a new extract in another --out`);
    }
  }
}

async function planParts(source: Source, p: PlannedTable, settings: ManifestSettings, out: string): Promise<ManifestTable> {
  const name = tableName(p.info.table);
  const base = dumpBaseName(p.info.table);
  const points = p.onePass ? [] : await source.splitPoints(p.info, settings.parts);
  const parts: ManifestPart[] = [];
  for (let i = 0; i <= points.length; i++) {
    parts.push({
      index: i + 1,
      file: points.length ? `${base}.part-${String(i + 1).padStart(4, '0')}.pb.gz` : `${base}.pb.gz`,
      after: i > 0 ? points[i - 1] : undefined,
      upTo: i < points.length ? points[i] : undefined,
      status: 'pending',
      checkpoints: [],
      seconds: 0,
      retries: 0,
    });
  }
  // A complete dump of a previous run in this folder would be replaced; its leftovers must not be salvaged.
  for (const part of parts) await removeAll((await claimPartials(path.join(out, part.file))).map((c) => c.file));
  return {
    table: name,
    schema: p.info.table.schema,
    name: p.info.table.name,
    recordType: p.schema.recordType,
    protoFile: protoFileName(p.info.table),
    protoText: p.schema.protoText,
    key: p.info.key,
    keySource: p.onePass ? 'none (--no-key: one pass)' : p.info.keySource,
    estimatedRows: p.info.estimatedRows,
    query: source.describeQuery({ info: p.info, limit: p.onePass ? undefined : settings.chunkRows }),
    parts,
  };
}

/** Token bucket shared by all parts: at most `rate` rows per second, with one second of burst. */
class RateLimiter {
  private next = 0;
  constructor(private readonly rate: number) {}
  async take(rows: number): Promise<void> {
    this.charge(rows);
    await this.ready();
  }
  /** Counts rows read (without waiting). */
  charge(rows: number): void {
    this.next = Math.max(this.next, performance.now() - 1000) + (rows * 1000) / this.rate;
  }
  /** Waits until the rows counted so far are within the rate: called before a query is sent. */
  async ready(): Promise<void> {
    const wait = this.next - performance.now();
    if (wait > 0) await sleep(wait);
  }
}

/** Rows of a batch, encoded as length-delimited row messages; `ends[i]` is where row i ends. */
interface FramedBatch {
  framed: Uint8Array;
  ends: number[];
  lastKey?: KeyTuple;
  bytes: number;
}

function frameBatch(type: protobuf.Type, batch: RowBatch): FramedBatch {
  if (batch.framed && batch.ends) return { framed: batch.framed, ends: batch.ends, lastKey: batch.lastKey, bytes: batch.bytes };
  const w = protobuf.Writer.create();
  const ends: number[] = [];
  for (const r of batch.records ?? []) {
    type.encodeDelimited(r as protobuf.Message, w);
    ends.push(w.len);
  }
  return { framed: w.finish(), ends, lastKey: batch.lastKey, bytes: batch.bytes };
}

/**
 * Cuts encoded rows into dump blocks by the writer's rule (a block ends at `blockRecords` rows or
 * once it holds `blockBytes`), and at every flush() (chunk ends), so the blocks of a chunk depend
 * only on its rows: a resumed run writes the same blocks as an uninterrupted one.
 */
class BlockCutter {
  private parts: Uint8Array[] = [];
  private bytes = 0;
  private records = 0;
  constructor(
    private readonly writer: DumpWriter,
    private readonly blockRecords: number,
    private readonly blockBytes: number,
  ) {}

  async add(batch: FramedBatch): Promise<void> {
    const { framed, ends } = batch;
    let start = 0;
    let prev = 0;
    for (let i = 0; i < ends.length; i++) {
      const end = ends[i];
      this.records++;
      this.bytes += end - prev;
      prev = end;
      if (this.records >= this.blockRecords || this.bytes >= this.blockBytes) {
        this.parts.push(framed.subarray(start, end));
        start = end;
        await this.flush();
      }
    }
    if (start < prev) this.parts.push(framed.subarray(start, prev));
  }

  async flush(): Promise<void> {
    if (this.records === 0) return;
    const payload = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts);
    const records = this.records;
    this.parts = [];
    this.bytes = 0;
    this.records = 0;
    await this.writer.writeFramedBlock(payload, records);
  }
}

async function execute(source: Source, store: ManifestStore, planned: PlannedTable[], settings: ManifestSettings, out: string, opts: ExtractOptions): Promise<TableSummary[]> {
  const limit = pLimit(Math.max(1, opts.concurrency));
  const rate = opts.maxRowsPerSecond ? new RateLimiter(opts.maxRowsPerSecond) : undefined;
  const stop = { failed: undefined as unknown };
  const summaries = new Map<string, TableSummary>();
  const remaining = new Map<string, number>();
  const tasks: Array<Promise<void>> = [];

  for (const p of planned) {
    const mt = store.data.tables.find((t) => t.table === tableName(p.info.table))!;
    const pending = mt.parts.filter((part) => part.status !== 'done');
    const done = mt.parts.filter((part) => part.status === 'done').reduce((s, part) => s + (part.result?.records ?? 0), 0);
    remaining.set(mt.table, pending.length);
    opts.reporter?.tableStarted?.(mt.table, mt.estimatedRows, done);
    if (pending.length === 0) {
      const s = mt.summary ?? summarize(mt);
      summaries.set(mt.table, s);
      opts.reporter?.tableFinished?.(s);
    }
    for (const part of pending) {
      tasks.push(limit(async () => {
        if (stop.failed) return;
        try {
          await extractPart(source, store, p, mt, part, settings, out, opts, rate, stop);
        } catch (err) {
          stop.failed ??= err;
          throw err;
        }
        const left = remaining.get(mt.table)! - 1;
        remaining.set(mt.table, left);
        if (left === 0) {
          mt.summary = summarize(mt);
          summaries.set(mt.table, mt.summary);
          await store.save();
          opts.reporter?.tableFinished?.(mt.summary);
        }
      }));
    }
  }
  const results = await Promise.allSettled(tasks);
  if (stop.failed) throw stop.failed;
  const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
  if (rejected) throw rejected.reason;
  return planned.map((p) => summaries.get(tableName(p.info.table))!);
}

function summarize(mt: ManifestTable): TableSummary {
  const rows = mt.parts.reduce((s, p) => s + (p.result?.records ?? 0), 0);
  const bytes = mt.parts.reduce((s, p) => s + (p.result?.bytes ?? 0), 0);
  const uncompressedBytes = mt.parts.reduce((s, p) => s + (p.result?.uncompressedBytes ?? 0), 0);
  const starts = mt.parts.map((p) => Date.parse(p.startedAt ?? '')).filter(Number.isFinite);
  const ends = mt.parts.map((p) => Date.parse(p.finishedAt ?? '')).filter(Number.isFinite);
  // Wall time while parts ran (in parallel), capped by the work time when runs were resumed later.
  const wall = starts.length && ends.length ? (Math.max(...ends) - Math.min(...starts)) / 1000 : 0;
  const seconds = Math.min(wall, mt.parts.reduce((s, p) => s + p.seconds, 0)) || wall;
  return {
    table: mt.table,
    rows,
    bytes,
    uncompressedBytes,
    seconds: round3(seconds),
    rowsPerSecond: Math.round(rows / Math.max(seconds, 1e-3)),
    mbPerSecond: round3(uncompressedBytes / 1e6 / Math.max(seconds, 1e-3)),
    files: mt.parts.map((p) => p.file),
  };
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}

async function extractPart(
  source: Source,
  store: ManifestStore,
  p: PlannedTable,
  mt: ManifestTable,
  part: ManifestPart,
  settings: ManifestSettings,
  out: string,
  opts: ExtractOptions,
  rate: RateLimiter | undefined,
  stop: { failed: unknown },
): Promise<void> {
  const started = performance.now();
  const file = path.join(out, part.file);
  const label = mt.parts.length > 1 ? `${mt.table} part ${part.index}/${mt.parts.length}` : mt.table;
  part.status = 'running';
  part.startedAt ??= new Date().toISOString();
  const header: HeaderInit = {
    kind: 'TABLE',
    name: mt.table,
    recordType: p.schema.recordType,
    descriptorSet: p.schema.descriptorSet,
    columns: headerColumns(p.schema),
    primaryKey: p.info.key,
    createdAt: store.data.startedAt,
    origin: { ...store.data.source, source: source.origin.source, query: mt.query, startedAt: store.data.startedAt, toolVersion: TOOL_VERSION },
    properties: {
      source_timezone: settings.sourceTimezone,
      key_source: mt.keySource,
      chunk_rows: String(settings.chunkRows),
      ...(settings.chunkBytes ? { chunk_bytes: String(settings.chunkBytes) } : {}),
      ...(mt.parts.length > 1 ? { part: `${part.index}/${mt.parts.length}` } : {}),
      ...(part.after ? { key_after: JSON.stringify(part.after) } : {}),
      ...(part.upTo ? { key_up_to: JSON.stringify(part.upTo) } : {}),
    },
  };
  const writerOptions = { blockRecords: opts.blockRecords, blockBytes: opts.blockBytes, level: opts.gzipLevel ?? EXTRACT_DEFAULTS.gzipLevel };
  const openWriter = async () => {
    try {
      return await (opts.createWriter ?? ((f, h, o) => DumpWriter.create(f, h, o)))(file, header, writerOptions);
    } catch (err) {
      throw writeError(file, err);
    }
  };
  const guard = async (fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (err) {
      throw writeError(file, err);
    }
  };
  const blockRecords = opts.blockRecords ?? 50_000;
  const blockBytes = opts.blockBytes ?? 1024 * 1024;
  const chunkBytes = settings.chunkBytes ?? Infinity;

  const claimed = await claimPartials(file);
  let writer = await openWriter();
  const type = writer.type;
  let blocks = new BlockCutter(writer, blockRecords, blockBytes);
  let keepPartial = false;
  try {
    let after = part.after;
    let rowsInPart = 0;
    let chunk = 0;
    // Resume: the newest checkpoint whose rows are all in complete blocks of a partial file. Those
    // blocks are copied as they are (same records, same block boundaries).
    const best = claimed[0];
    const cp = best ? [...part.checkpoints].reverse().find((c) => c.rows <= best.records) : undefined;
    if (best && cp && cp.rows > 0) {
      for await (const block of salvagedBlocks(best.file, cp.rows)) await guard(() => writer.writeFramedBlock(block.framed, block.records));
      after = cp.lastKey;
      rowsInPart = cp.rows;
      part.salvagedRows = cp.rows;
      chunk = cp.chunk;
      opts.reporter?.rows?.(mt.table, cp.rows, 0);
    }
    part.checkpoints = part.checkpoints.filter((c) => c.rows <= rowsInPart);

    if (p.onePass) {
      // No key: the whole table in one query; a retry starts the dump over.
      await withRetry(source, opts, label, part, stop, async (attempt) => {
        if (attempt > 0) {
          await writer.abort();
          opts.reporter?.rows?.(mt.table, -rowsInPart, 0);
          rowsInPart = 0;
          writer = await openWriter();
          blocks = new BlockCutter(writer, blockRecords, blockBytes);
        }
        for await (const batch of source.readChunk({ info: p.info, type })) {
          if (stop.failed) throw new Error('stopped: another part failed');
          const framed = frameBatch(type, batch);
          await rate?.take(framed.ends.length);
          await guard(() => blocks.add(framed));
          rowsInPart += framed.ends.length;
          opts.reporter?.rows?.(mt.table, framed.ends.length, batch.bytes);
        }
      });
    } else {
      // Keyset chunks of at most chunkRows rows and about chunkBytes bytes. The next chunk's query
      // runs while this one is written (one query per part at a time, sent once the rate limit
      // allows); a failed chunk is fetched again from the same key, so retries never duplicate or
      // skip rows and chunk (and block) boundaries stay where an uninterrupted run puts them.
      interface Chunk { batches: FramedBatch[]; rows: number; bytes: number; lastKey?: KeyTuple }
      const fetchChunk = async (from: KeyTuple | undefined): Promise<Chunk> => {
        await rate?.ready();
        const got: Chunk = { batches: [], rows: 0, bytes: 0 };
        const request = { info: p.info, after: from, upTo: part.upTo, limit: settings.chunkRows, maxBytes: chunkBytes, type, blockRecords, blockBytes };
        for await (const batch of source.readChunk(request)) {
          if (stop.failed) throw new Error('stopped: another part failed');
          const framed = frameBatch(type, batch);
          if (framed.ends.length === 0) continue;
          got.batches.push(framed);
          got.rows += framed.ends.length;
          got.bytes += framed.bytes;
          got.lastKey = framed.lastKey ?? got.lastKey;
          if (got.bytes >= chunkBytes) break;
        }
        rate?.charge(got.rows);
        return got;
      };
      let next: Promise<Chunk> | undefined = fetchChunk(after);
      next.catch(() => undefined);
      for (;;) {
        let got: Chunk = { batches: [], rows: 0, bytes: 0 };
        const prefetched = next;
        await withRetry(source, opts, label, part, stop, async (attempt) => {
          got = attempt === 0 && prefetched ? await prefetched : await fetchChunk(after);
        });
        const chunkEnd = got.lastKey ?? after;
        const full = got.rows >= settings.chunkRows || got.bytes >= chunkBytes;
        next = full ? fetchChunk(chunkEnd) : undefined;
        next?.catch(() => undefined);
        for (const batch of got.batches) {
          if (stop.failed) throw new Error('stopped: another part failed');
          await guard(() => blocks.add(batch));
          opts.reporter?.rows?.(mt.table, batch.ends.length, batch.bytes);
        }
        after = chunkEnd;
        rowsInPart += got.rows;
        if (got.rows === 0) break;
        chunk++;
        await guard(() => blocks.flush());
        await store.checkpoint(part, { chunk, rows: rowsInPart, lastKey: after });
        keepPartial = true;
        if (!full) break;
      }
    }
    await guard(() => blocks.flush());
    let result;
    try {
      result = await writer.close();
    } catch (err) {
      throw writeError(file, err);
    }
    part.status = 'done';
    part.finishedAt = new Date().toISOString();
    part.seconds = round3(part.seconds + (performance.now() - started) / 1000);
    part.result = { records: result.records, blocks: result.blocks, bytes: result.bytes, uncompressedBytes: result.uncompressedBytes };
    await store.save();
    await removeAll(claimed.map((c) => c.file));
  } catch (err) {
    part.seconds = round3(part.seconds + (performance.now() - started) / 1000);
    // Keep the partial file when checkpoints point into it (and it is not the disk that failed): --resume reuses it.
    const diskProblem = err instanceof UserError && /cannot write/.test(err.message);
    if (!keepPartial || diskProblem) await writer.abort();
    throw err instanceof UserError || err instanceof ExtractError ? err : new ExtractError(`${label}: ${redact((err as Error).message ?? String(err))}`, { table: mt.table, part: part.index }, { cause: err });
  }
}

async function withRetry(
  source: Source,
  opts: ExtractOptions,
  label: string,
  part: ManifestPart,
  stop: { failed: unknown },
  fn: (attempt: number) => Promise<void>,
): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await fn(attempt);
      return;
    } catch (err) {
      if (stop.failed || !source.isTransient(err) || attempt >= opts.retries) {
        if (source.isTransient(err) && attempt >= opts.retries) {
          throw new ExtractError(`${label}: gave up after ${attempt + 1} attempts: ${redact((err as Error).message)}; the run can continue with --resume`, { table: label, part: part.index }, { cause: err });
        }
        throw err;
      }
      const delay = Math.round(opts.retryBaseMs * 2 ** attempt * (0.75 + Math.random() * 0.5));
      part.retries++;
      opts.reporter?.retry?.(label, part.index, err, attempt + 1, delay);
      await sleep(delay);
    }
  }
}

function writeError(file: string, err: unknown): Error {
  if (err instanceof UserError || err instanceof ExtractError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  const what = code === 'ENOSPC' ? 'no space left on the device' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'EROFS' ? 'read-only file system' : (err as Error).message;
  return new UserError(`cannot write ${file}: ${what}${code && !what.includes(code) ? ` (${code})` : ''}; nothing of this dump is left looking complete`, { cause: err });
}

async function ensureDir(dir: string, flag: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
    const probe = path.join(dir, `.ferry-write-test-${process.pid}`);
    await writeFile(probe, '');
    const { rm } = await import('node:fs/promises');
    await rm(probe, { force: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const exists = await stat(dir).then((s) => (s.isDirectory() ? 'folder' : 'file'), () => undefined);
    throw new UserError(`${flag} ${dir} is not a writable folder${exists === 'file' ? ' (it is a file)' : ''}: ${code ?? (err as Error).message}`, { cause: err });
  }
}

/** `schema.table` or a name, with * and ? wildcards; a spec without a dot matches any schema. */
export function matchesTable(spec: string, t: TableRef): boolean {
  const re = (s: string) => new RegExp(`^${s.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i');
  if (re(spec).test(`${t.schema}.${t.name}`)) return true;
  return !spec.includes('.') && re(spec).test(t.name);
}

function splitTableSpec(spec: string): [string | undefined, string] {
  const dot = spec.indexOf('.');
  return dot < 0 ? [undefined, spec] : [spec.slice(0, dot), spec.slice(dot + 1)];
}

function splitColumnSpec(spec: string, flag: string): [string, string] {
  const dot = spec.lastIndexOf('.');
  if (dot <= 0) throw new UserError(`${flag} ${spec}: expected table.column`);
  return [spec.slice(0, dot), spec.slice(dot + 1)];
}

function safeFilePart(s: string): string {
  return s.replace(/[/\\\0]/g, '_');
}

export function dumpBaseName(t: TableRef): string {
  return `${safeFilePart(t.schema)}.${safeFilePart(t.name)}`;
}

export function protoFileName(t: TableRef): string {
  return `${dumpBaseName(t)}.proto`;
}

const TOOL_VERSION = 'ferry 0.1.0';
