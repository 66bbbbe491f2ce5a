// `npm run bench -- extract`: ferry extract of a 1,000,000-row PostgreSQL table against the raw
// limit measured in the same run: `COPY (SELECT …) TO STDOUT` of the same rows through psql.
// MB/s of both is the size of that COPY text (the same data), so the two figures compare directly.
// With FERRY_MSSQL_URL set, also SQL Server: ferry extract of a 2,000,000-row narrow table
// (FERRY_BENCH_MSSQL_ROWS) against the `mssql` client streaming `SELECT *` of it, same run;
// without it, a line says that was skipped. `npm run bench -- extract mssql` runs only that.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sql from 'mssql';
import pg from 'pg';
import { acquireServices } from '../services/services.ts';
import { EXTRACT_DEFAULTS, runExtract } from '../extract/engine.ts';
import { mssqlConfig } from '../extract/mssql-source.ts';
import { measure, reportFigure } from './report.ts';

const ROWS = 1_000_000;

export default async function run(args: string[]): Promise<void> {
  if (!args.includes('mssql')) await postgres(args);
  await mssql();
}

async function postgres(args: string[]): Promise<void> {
  const { env, release } = await acquireServices((line) => process.stderr.write(`${line}\n`));
  Object.assign(process.env, env);
  const adminUrl = process.env.FERRY_PG_URL!;
  const database = `ferry_bench_extract_${process.pid}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${database}`);
  const u = new URL(adminUrl);
  u.pathname = `/${database}`;
  const url = u.toString();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-bench-extract-'));
  try {
    const db = new pg.Client({ connectionString: url });
    db.on('error', () => undefined);
    await db.connect();
    process.stderr.write(`creating a ${ROWS}-row table ...\n`);
    await db.query(`CREATE TABLE messages (id integer PRIMARY KEY, sender_id integer NOT NULL, recipient_id integer NOT NULL,
      body text, amount numeric(12,2), sent_at timestamp(6) NOT NULL, is_read boolean NOT NULL)`);
    await db.query(`INSERT INTO messages SELECT g, (g::bigint * 7919 % 40000)::int, (g::bigint * 104729 % 40000)::int, repeat('Hei! Mitä kuuluu? Viesti ' || g || '. ', 1 + g % 5),
      CASE WHEN g % 10 = 0 THEN NULL ELSE (g::bigint * 7919 % 10000000) / 100.0 END,
      timestamp '2015-01-01' + g * interval '13 seconds 17 microseconds', g % 3 = 0 FROM generate_series(1, ${ROWS}) g`);
    await db.query('ANALYZE messages');
    await db.end();

    const copy = await measure(() => copyBytes(url, 'COPY (SELECT * FROM messages ORDER BY id) TO STDOUT'));
    const mb = copy.result / 1e6;
    const configs: Array<{ name: string; parts: number; concurrency: number }> = [
      { name: 'extract', parts: 1, concurrency: 1 },
      { name: 'extract --parts 2 --concurrency 2', parts: 2, concurrency: 2 },
    ];
    for (const c of configs) {
      if (args.length && !args.includes(String(c.parts))) continue;
      const out = path.join(dir, `out-${c.parts}`);
      const ferry = await measure(() => runExtract({
        ...EXTRACT_DEFAULTS, from: url, out, schemasOut: out, tables: ['messages'], exclude: [], excludeColumns: [], casts: [], keys: [],
        noKey: false, resume: false, parts: c.parts, concurrency: c.concurrency,
      }));
      if (ferry.result.totals.rows !== ROWS) throw new Error(`extracted ${ferry.result.totals.rows} of ${ROWS} rows`);
      const what = 'COPY (SELECT …) TO STDOUT of the same table through psql';
      reportFigure({ name: `${c.name} rows/s`, value: ROWS / ferry.seconds, unit: 'rows/s', limit: ROWS / copy.seconds, limitWhat: what });
      reportFigure({ name: `${c.name} MB/s`, value: mb / ferry.seconds, unit: 'MB/s', limit: mb / copy.seconds, limitWhat: `${what}; MB = its text, ${mb.toFixed(0)} MB` });
      process.stderr.write(`${c.name}: ${ferry.seconds.toFixed(2)} s, peak RSS ${ferry.peakRssMb.toFixed(0)} MB, dump ${(ferry.result.totals.bytes / 1e6).toFixed(1)} MB\n`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).catch(() => undefined);
    await admin.end();
    await release();
  }
}

/** Runs psql with a COPY … TO STDOUT and counts the bytes it prints. */
function copyBytes(url: string, command: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('psql', [url, '-X', '-q', '-c', command], { stdio: ['ignore', 'pipe', 'inherit'] });
    let bytes = 0;
    child.stdout.on('data', (d: Buffer) => (bytes += d.length));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(bytes) : reject(new Error(`psql exited with ${code}`))));
  });
}

/** SQL Server: ferry against the plain `mssql` stream of `SELECT *` of the same table, same run. */
async function mssql(): Promise<void> {
  const url = process.env.FERRY_MSSQL_URL;
  if (!url) {
    process.stdout.write('extract mssql: skipped: FERRY_MSSQL_URL not set\n');
    return;
  }
  const rows = Number(process.env.FERRY_BENCH_MSSQL_ROWS ?? 2_000_000);
  const table = `ferry_bench_extract_${process.pid}`;
  const config = mssqlConfig({ url, connections: 1, sourceTimezone: 'UTC', statementTimeoutMs: 3_600_000, connectTimeoutMs: 15_000 });
  const admin = await new sql.ConnectionPool({ ...config, options: { ...config.options, readOnlyIntent: false } }).connect();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-bench-extract-mssql-'));
  try {
    process.stderr.write(`creating a ${rows}-row table dbo.${table} in SQL Server ...\n`);
    await admin.request().batch(`CREATE TABLE dbo.${table} (id int NOT NULL PRIMARY KEY, sender_id int NOT NULL, recipient_id int NOT NULL,
      body nvarchar(200), amount decimal(12,2), sent_at datetime2(6) NOT NULL, is_read bit NOT NULL)`);
    await admin.request().batch(`WITH n AS (SELECT TOP (${rows}) CAST(ROW_NUMBER() OVER (ORDER BY (SELECT NULL)) AS bigint) AS g
        FROM sys.all_objects a CROSS JOIN sys.all_objects b CROSS JOIN sys.all_objects c)
      INSERT INTO dbo.${table} WITH (TABLOCK)
      SELECT g, g * 7919 % 40000, g * 104729 % 40000, CONCAT(N'Hei! Mitä kuuluu? Viesti ', g, N'.'),
        CASE WHEN g % 10 = 0 THEN NULL ELSE CAST(g * 7919 % 10000000 AS decimal(12,2)) / 100 END,
        DATEADD(microsecond, g % 1000000, DATEADD(second, g * 13, CAST('2015-01-01' AS datetime2(6)))), CAST(g % 3 AS bit)
      FROM n`);
    await admin.request().batch(`UPDATE STATISTICS dbo.${table}`);

    // The raw limit: the same client and connection settings, one query, rows as arrays, counted.
    const cpu0 = process.cpuUsage();
    const plain = await measure(() => streamAll(config, `SELECT * FROM dbo.${table}`));
    const plainCpu = cpuSeconds(cpu0);
    if (plain.result !== rows) throw new Error(`the plain stream read ${plain.result} of ${rows} rows`);
    for (const c of [{ name: 'extract mssql', parts: 1, concurrency: 1 }, { name: 'extract mssql --parts 2 --concurrency 2', parts: 2, concurrency: 2 }]) {
      const out = path.join(dir, `out-${c.parts}`);
      const cpu = process.cpuUsage();
      const ferry = await measure(() => runExtract({
        ...EXTRACT_DEFAULTS, from: url, out, schemasOut: out, tables: [`dbo.${table}`], exclude: [], excludeColumns: [], casts: [], keys: [],
        noKey: false, resume: false, parts: c.parts, concurrency: c.concurrency,
      }));
      const ferryCpu = cpuSeconds(cpu);
      if (ferry.result.totals.rows !== rows) throw new Error(`extracted ${ferry.result.totals.rows} of ${rows} rows`);
      reportFigure({ name: `${c.name} rows/s`, value: rows / ferry.seconds, unit: 'rows/s', limit: rows / plain.seconds, limitWhat: 'the mssql client streaming SELECT * of the same table, one query' });
      process.stderr.write(
        `${c.name}: ${ferry.seconds.toFixed(2)} s, ${ferryCpu.toFixed(1)} CPU s in this process (plain stream ${plain.seconds.toFixed(2)} s, ${plainCpu.toFixed(1)} CPU s), ` +
          `peak RSS ${ferry.peakRssMb.toFixed(0)} MB, dump ${(ferry.result.totals.bytes / 1e6).toFixed(1)} MB; load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}\n`,
      );
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
    await admin.request().batch(`DROP TABLE IF EXISTS dbo.${table}`).catch(() => undefined);
    await admin.close();
  }
}

/** Streams every row of `query` through the mssql client (arrays, no conversion) and counts them. */
async function streamAll(config: sql.config, query: string): Promise<number> {
  const pool = await new sql.ConnectionPool(config).connect();
  try {
    const request = pool.request();
    request.stream = true;
    request.arrayRowMode = true;
    let rows = 0;
    await new Promise<void>((resolve, reject) => {
      request.on('row', () => rows++);
      request.on('error', reject);
      request.on('done', () => resolve());
      request.query(query, () => undefined);
    });
    return rows;
  } finally {
    await pool.close();
  }
}

function cpuSeconds(since: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(since);
  return (u.user + u.system) / 1e6;
}
