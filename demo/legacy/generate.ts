// Creates the dating site's legacy database in PostgreSQL and fills it, deterministically, at a
// named scale. Rows stream from generators through COPY with backpressure: nothing holds a whole
// table in memory.
//
//   node --import tsx demo/legacy/generate.ts [--url postgres://…] [--database NAME] [--scale tiny|small|quarter|fi|fiN] [--json]
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { UserError } from '../../lib/errors.ts';
import { Progress, formatSeconds, table } from '../../lib/progress.ts';
import { runMetrics } from '../../lib/run-metrics.ts';
import { StepRun } from '../../lib/step-run.ts';
import { describeUrl, redact } from '../../lib/redact.ts';
import { Population, SCALES, SCALE_HELP, SCALE_SPECS, SEED, parseScale, scaleSpec, type ScaleName } from './population.ts';
import { Corpus, ROW_GENERATORS, TABLES, countsOf, emptyFacts, type GenContext, type LegacyFacts, type LegacyTable, type TableDef } from './tables.ts';

export { SCALES, SCALE_HELP, SCALE_SPECS, TABLES, parseScale, scaleSpec, type LegacyFacts, type LegacyTable, type ScaleName, type TableDef };

export const POSTGRES_DDL = fileURLToPath(new URL('schema.postgres.sql', import.meta.url));
export const MSSQL_DDL = fileURLToPath(new URL('schema.mssql.sql', import.meta.url));
export const DEFAULT_DATABASE = 'dating_legacy';
const AFTER_LOAD = /^-- @after-load$/m;

export interface GenerateOptions {
  /** Any PostgreSQL URL on the server; its database is only used to create the target one. */
  url: string;
  /** Target database, created when missing; its schema "dbo" is replaced. */
  database?: string;
  scale: ScaleName;
  log?: (line: string) => void;
  /** Live progress on stderr (the CLI). */
  progress?: boolean;
}

export interface LegacyStats {
  scale: ScaleName;
  database: string;
  /** Rows written per table (equal to expectedCounts(scale)). */
  tables: Record<LegacyTable, number>;
  /** The last identity value handed out per identity table (the next insert gets one more). */
  lastIds: Partial<Record<LegacyTable, number>>;
  facts: LegacyFacts;
  bytes: number;
  seconds: number;
}

const populations = new Map<ScaleName, Population>();
function population(scale: ScaleName): Population {
  let pop = populations.get(scale);
  if (!pop) populations.set(scale, (pop = new Population(scaleSpec(scale), SEED)));
  return pop;
}

/** Rows per table that generating `scale` writes (cheap: builds only the members' arrays). */
export function expectedCounts(scale: ScaleName): Record<LegacyTable, number> {
  return countsOf(scaleSpec(scale), population(scale));
}

/** The DDL split where the bulk load goes: tables first, then foreign keys and indexes. */
export async function postgresDdl(): Promise<{ beforeLoad: string; afterLoad: string }> {
  const [beforeLoad, afterLoad = ''] = (await readFile(POSTGRES_DDL, 'utf8')).split(AFTER_LOAD);
  return { beforeLoad, afterLoad };
}

function quoteIdent(name: string): string {
  return pg.escapeIdentifier(name);
}

function qualified(def: TableDef): string {
  return `${quoteIdent('dbo')}.${quoteIdent(def.name)}`;
}

function urlWithDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
  } catch (err) {
    const where = describeUrl(url);
    throw new UserError(`cannot connect to PostgreSQL at ${where.server} (database "${where.database}"): ${redact((err as Error).message)}; check --url or FERRY_PG_URL`, { cause: err });
  }
  return client;
}

async function ensureDatabase(url: string, database: string): Promise<void> {
  const admin = await connect(url);
  try {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (!rowCount) await admin.query(`CREATE DATABASE ${quoteIdent(database)}`);
  } finally {
    await admin.end();
  }
}

/** Rows as ~1 MB buffers: one COPY write per buffer, not per row. */
function* chunks(rows: Iterable<string>, onChunk: (rows: number, bytes: number) => void, chunkChars = 1 << 20): Generator<Buffer> {
  let parts: string[] = [];
  let chars = 0;
  for (const row of rows) {
    parts.push(row);
    chars += row.length;
    if (chars >= chunkChars) {
      const buf = Buffer.from(parts.join(''), 'utf8');
      onChunk(parts.length, buf.length);
      yield buf;
      parts = [];
      chars = 0;
    }
  }
  if (parts.length) {
    const buf = Buffer.from(parts.join(''), 'utf8');
    onChunk(parts.length, buf.length);
    yield buf;
  }
}

/** Loads one table in its own transaction: TRUNCATE + COPY FREEZE writes rows already frozen. */
async function loadTable(client: pg.Client, def: TableDef, ctx: GenContext, counted: (rows: number, bytes: number) => void): Promise<number> {
  let rows = 0;
  const columns = def.columns.map(quoteIdent).join(', ');
  await client.query('BEGIN');
  try {
    await client.query(`TRUNCATE ${qualified(def)}`);
    const copy = client.query(copyFrom(`COPY ${qualified(def)} (${columns}) FROM STDIN WITH (FREEZE)`));
    const source = Readable.from(chunks(ROW_GENERATORS[def.name](ctx), (n, bytes) => { rows += n; counted(n, bytes); }));
    await pipeline(source, copy);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw new Error(`generating table dbo.${def.name} failed after ${rows} rows: ${redact((err as Error).message)}`, { cause: err });
  }
  return rows;
}

/**
 * Creates (or replaces) schema "dbo" in `database` and fills it at `scale`. The same scale gives
 * byte-identical tables on every run.
 */
export async function generateLegacy(options: GenerateOptions): Promise<LegacyStats> {
  const scale = parseScale(String(options.scale));
  if (!scale) throw new UserError(`unknown scale "${String(options.scale)}": use ${SCALE_HELP}`);
  const database = options.database ?? DEFAULT_DATABASE;
  const log = options.log ?? (() => undefined);
  const started = performance.now();
  const spec = scaleSpec(scale);
  const expected = expectedCounts(scale);
  const total = Object.values(expected).reduce((a, b) => a + b, 0);
  const ctx: GenContext = { seed: SEED, spec, pop: population(scale), corpus: new Corpus(SEED), facts: emptyFacts() };

  await ensureDatabase(options.url, database);
  const target = urlWithDatabase(options.url, database);
  const { beforeLoad, afterLoad } = await postgresDdl();
  const main = await connect(target);
  // Two lanes: Messages (most of the bytes) alone, everything else in the other, so the server
  // parses both while this process generates.
  const lanes: TableDef[][] = [TABLES.filter((d) => d.name === 'Messages'), TABLES.filter((d) => d.name !== 'Messages')];
  const second = await connect(target).catch(async (err) => { await main.end(); throw err; });
  const progress = new Progress({ label: `generate ${scale}`, unit: 'rows', total, quiet: !options.progress });
  const tables = {} as Record<LegacyTable, number>;
  try {
    log(`creating schema "dbo" in database "${database}" on ${describeUrl(target).server}`);
    await main.query(`DROP SCHEMA IF EXISTS ${quoteIdent('dbo')} CASCADE`);
    await main.query(beforeLoad);
    const counted = (n: number, bytes: number) => {
      progress.add(n, bytes);
      runMetrics.add('table', 'all', { rows: n, bytes });
    };
    await Promise.all([main, second].map(async (client, lane) => {
      for (const def of lanes[lane]) {
        const t0 = performance.now();
        tables[def.name] = await loadTable(client, def, ctx, counted);
        log(`dbo.${def.name}: ${tables[def.name]} rows in ${formatSeconds((performance.now() - t0) / 1000)}`);
      }
    }));
    const t0 = performance.now();
    await main.query(afterLoad);
    log(`foreign keys and indexes in ${formatSeconds((performance.now() - t0) / 1000)}`);
  } finally {
    progress.finish();
    await Promise.all([main.end(), second.end()]).catch(() => undefined);
  }
  const client = await connect(target);
  const lastIds: Partial<Record<LegacyTable, number>> = {};
  try {
    for (const def of TABLES) {
      if (!def.identity) continue;
      // Members' ids have gaps (purged members), the last one included: the identity continues
      // after the last id handed out, as SQL Server's would, not after the largest one left.
      const last = def.name === 'Members' ? spec.members : tables[def.name];
      lastIds[def.name] = last;
      await client.query('SELECT setval(pg_get_serial_sequence($1, $2), $3, true)', [qualified(def), def.identity, last]);
    }
    await client.query('ANALYZE');
  } finally {
    await client.end();
  }
  for (const def of TABLES) {
    if (tables[def.name] !== expected[def.name]) throw new Error(`dbo.${def.name}: generated ${tables[def.name]} rows, expected ${expected[def.name]} (a generator bug)`);
  }
  return { scale, database, tables, lastIds, facts: ctx.facts, bytes: progress.bytes, seconds: (performance.now() - started) / 1000 };
}

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      url: { type: 'string', default: process.env.FERRY_PG_URL },
      database: { type: 'string', default: DEFAULT_DATABASE },
      scale: { type: 'string', default: 'small' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`usage: node --import tsx demo/legacy/generate.ts [--url postgres://…] [--database ${DEFAULT_DATABASE}] [--scale ${SCALES.join('|')}|fiN] [--json]\n`);
    return;
  }
  if (!values.url) throw new UserError('no PostgreSQL URL: pass --url or set FERRY_PG_URL (npx ferry services start prints it)');
  const scale = parseScale(values.scale ?? 'small');
  if (!scale) throw new UserError(`unknown scale "${values.scale}": use ${SCALE_HELP}`);
  // Samples over time in the --json summary, like every ferry step's (the demo's report charts them).
  const run = await StepRun.start('generate', { quiet: true }, ['rows', 'bytes']);
  const stats = await run.finish(await generateLegacy({ url: values.url, database: values.database, scale, progress: true, log: (line) => process.stderr.write(`${line}\n`) }).finally(() => run.close()));
  if (values.json) {
    process.stdout.write(`${JSON.stringify(stats, null, 2)}\n`);
    return;
  }
  process.stderr.write(`${table(TABLES.map((d) => ({ table: `dbo.${d.name}`, rows: stats.tables[d.name] })))}\n`);
  const rows = Object.values(stats.tables).reduce((a, b) => a + b, 0);
  process.stderr.write(`generated ${rows} rows (${(stats.bytes / 1e6).toFixed(1)} MB of COPY text) into "${stats.database}" in ${formatSeconds(stats.seconds)}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(err instanceof UserError ? `generate: ${err.message}\n` : `${redact(String((err as Error).stack ?? err))}\n`);
    process.exitCode = 1;
  });
}
