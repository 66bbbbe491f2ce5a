// `npm run bench -- extract`: ferry extract of a 1,000,000-row PostgreSQL table against the raw
// limit measured in the same run: `COPY (SELECT …) TO STDOUT` of the same rows through psql.
// MB/s of both is the size of that COPY text (the same data), so the two figures compare directly.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { acquireServices } from '../services/services.ts';
import { EXTRACT_DEFAULTS, runExtract } from '../extract/engine.ts';
import { measure, reportFigure } from './report.ts';

const ROWS = 1_000_000;

export default async function run(args: string[]): Promise<void> {
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
