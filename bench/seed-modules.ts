// `ferry seed modules` against its raw limit: 1,000,000 events into one module table, next to
// `psql \copy` of exactly the rows ferry wrote (exported from that table) into the same, truncated
// table, in the same run. Two rounds; the best of each side is reported.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { DumpWriter, eventSchema, makeEnvelope } from '../dumps/index.ts';
import { insert, type ModuleDefinition } from '../api/module.ts';
import { seedModules } from '../seed/modules-engine.ts';
import { acquireServices } from '../services/services.ts';
import { uuidOf } from '../test/fixtures/event-dumps.ts';
import { measure, reportFigure } from './report.ts';

const EVENTS = Number(process.env.FERRY_BENCH_EVENTS ?? 1_000_000);
const ROUNDS = 2;
const PROTO = `syntax = "proto3"; package bench;
message MessageSent { string message_id = 1; string sender_id = 2; string recipient_id = 3; string body = 4; google.protobuf.Timestamp sent_at = 5; }`;
const SCHEMA = `CREATE TABLE messages (message_id uuid PRIMARY KEY, sender_id uuid NOT NULL, recipient_id uuid NOT NULL,
  body text NOT NULL, sent_at timestamptz NOT NULL)`;

const run = promisify(execFile);

async function writeEvents(file: string): Promise<void> {
  const { root, descriptorSet } = eventSchema([PROTO]);
  const writer = await DumpWriter.create(file, { kind: 'EVENTS', name: 'bench', recordType: 'ferry.event.Envelope', descriptorSet }, { blockRecords: 10_000 });
  const members = Array.from({ length: 40_000 }, (_, i) => uuidOf('member', i));
  for (let i = 0; i < EVENTS; i++) {
    const seconds = 1_500_000_000 + i * 13;
    await writer.write(makeEnvelope(root, {
      id: uuidOf('event', i), type: 'MessageSent', occurredAt: new Date(seconds * 1000).toISOString().replace('.000Z', 'Z'),
      aggregateType: 'conversation', aggregateId: members[i % 40_000], source: { table: 'dbo.Message', key: `[${i}]`, index: 0 },
      schemaVersion: 1, payloadType: 'bench.MessageSent',
      payload: {
        message_id: uuidOf('message', i), sender_id: members[(i * 7919) % 40_000], recipient_id: members[(i * 104_729) % 40_000],
        body: `Hei! Mitä kuuluu? Viesti numero ${i}.\t`.repeat(1 + (i % 4)), sent_at: { seconds, nanos: (i % 1000) * 1_000_000 },
      },
    }));
  }
  await writer.close();
}

export default async function bench(): Promise<void> {
  const log = (line: string) => process.stderr.write(line + '\n');
  const services = await acquireServices(log);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-bench-seed-modules-'));
  const serverUrl = services.env.FERRY_PG_URL;
  const database = `bench_seed_modules_${process.pid}`;
  const dbUrl = new URL(serverUrl);
  dbUrl.pathname = `/${database}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    const input = path.join(dir, 'events');
    log(`writing ${EVENTS} events ...`);
    await mkdir(input);
    await writeEvents(path.join(input, 'messages.pb.gz'));
    await admin.query(`CREATE DATABASE ${database}`);
    const module: ModuleDefinition = {
      name: 'inbox',
      database,
      schemaSql: SCHEMA,
      handlers: {
        MessageSent: (p) => insert('messages', { message_id: p.message_id, sender_id: p.sender_id, recipient_id: p.recipient_id, body: p.body, sent_at: p.sent_at }),
      },
    };
    const rowsFile = path.join(dir, 'rows.copy');
    const psql = (command: string) => run('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', dbUrl.href, '-c', command], { maxBuffer: 1 << 20 });
    let best = { ferry: 0, psql: 0 };
    for (let round = 1; round <= ROUNDS; round++) {
      const ferry = await measure(() => seedModules({
        input, modules: [module], configDir: dir, serverUrl, reset: true, batchSize: 25_000, quiet: true,
      }));
      const summary = ferry.result.modules[0];
      if (summary.rows.inserted !== EVENTS) throw new Error(`ferry inserted ${summary.rows.inserted} rows of ${EVENTS}`);
      if (round === 1) await psql(`\\copy inbox.messages TO '${rowsFile}'`);
      await psql('TRUNCATE inbox.messages');
      const raw = await measure(() => psql(`\\copy inbox.messages FROM '${rowsFile}'`));
      const copied = await psql('SELECT count(*) FROM inbox.messages');
      if (!copied.stdout.includes(String(EVENTS))) throw new Error(`psql \\copy loaded ${copied.stdout.trim()} rows`);
      const rates = { ferry: EVENTS / ferry.seconds, psql: EVENTS / raw.seconds };
      log(`round ${round}: ferry ${Math.round(rates.ferry)} rows/s (${ferry.seconds.toFixed(1)} s, peak RSS ${Math.round(ferry.peakRssMb)} MB, batch p50 ${Math.round(summary.batchLatencyMs.p50)} ms), psql \\copy ${Math.round(rates.psql)} rows/s (${raw.seconds.toFixed(1)} s)`);
      best = { ferry: Math.max(best.ferry, rates.ferry), psql: Math.max(best.psql, rates.psql) };
    }
    const mb = (await stat(rowsFile)).size / 1e6;
    reportFigure({
      name: 'seed-modules',
      value: best.ferry,
      unit: 'rows/s',
      limit: best.psql,
      limitWhat: `psql \\copy of the same ${EVENTS} rows (${mb.toFixed(0)} MB COPY text) into the same truncated table, uuid primary key`,
    });
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).catch(() => undefined);
    await admin.end();
    await rm(dir, { recursive: true, force: true });
    await services.release();
  }
}
