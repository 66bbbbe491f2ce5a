// upsert(table, row) in module handlers, against real PostgreSQL: batches of mixed operations give
// the same table as PostgreSQL applying them one statement at a time (the planner folds upserts into
// inserts and upserts of the same row, groups the rest into COPY + INSERT … ON CONFLICT), a seed run
// whose handlers upsert ends with the values event-by-event application gives, and upserts that
// cannot work say why in one line.
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { insert, remove, update, upsert, type RowOp } from '../api/module.ts';
import { PostgresModuleSink, planSteps } from '../seed/postgres-sink.ts';
import { sampleEvent, writeSampleEventDump } from './fixtures/event-dumps.ts';
import { databaseUrl, moduleDatabases, sql, writeModulesConfig } from './fixtures/modules-feed.ts';
import { runFerry, tempDir } from './helpers.ts';

const SERVER = () => process.env.FERRY_PG_URL!;
const databases = moduleDatabases('upsert');
const dbName = databases.name;

/** A module on a new database with TABLE_SQL, connected (its tables set up). */
async function openSink(name: string): Promise<{ sink: PostgresModuleSink; url: string }> {
  const db = dbName(name);
  const sink = new PostgresModuleSink({ name, database: db, schemaSql: TABLE_SQL, handlers: {} }, { serverUrl: SERVER(), configDir: '.', createDatabase: true, resume: false, reset: false, shard: '' });
  await sink.connect();
  return { sink, url: databaseUrl(SERVER(), db) };
}

afterAll(async () => {
  await databases.dropAll();
});

const TABLE_SQL = `CREATE TABLE t (id int PRIMARY KEY, a text, b int DEFAULT 7, c text NOT NULL DEFAULT 'c0');
  CREATE TABLE p (k uuid, n int, v text, PRIMARY KEY (k, n))`;

/** A small deterministic generator (mulberry32). */
function random(seed: number): () => number {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The SQL of one operation on its own (the oracle: PostgreSQL applying the events one by one). */
function statement(schema: string, op: RowOp): { text: string; values: unknown[] } {
  const table = `${schema}.${op.table}`;
  const values: unknown[] = [];
  const param = (v: unknown) => `$${values.push(v)}`;
  if (op.op === 'insert' || op.op === 'upsert') {
    const cols = Object.keys(op.row);
    const text = `INSERT INTO ${table} (${cols.join(', ')}) VALUES (${cols.map((c) => param(op.row[c])).join(', ')})`;
    if (op.op === 'insert') return { text, values };
    const keys = op.table === 't' ? ['id'] : ['k', 'n'];
    const sets = cols.filter((c) => !keys.includes(c));
    return { text: `${text} ON CONFLICT (${keys.join(', ')}) ${sets.length ? `DO UPDATE SET ${sets.map((c) => `${c} = EXCLUDED.${c}`).join(', ')}` : 'DO NOTHING'}`, values };
  }
  const where = Object.entries(op.where).map(([c, v]) => `${c} = ${param(v)}`).join(' AND ');
  if (op.op === 'delete') return { text: `DELETE FROM ${table} WHERE ${where}`, values };
  return { text: `UPDATE ${table} SET ${Object.entries(op.set).map(([c, v]) => `${c} = ${param(v)}`).join(', ')} WHERE ${where}`, values };
}

describe('upsert in module handlers', () => {
  it('gives the table that applying each operation on its own gives, in random batches of inserts, upserts, updates and deletes', async () => {
    const { sink, url } = await openSink('mix');
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query(`CREATE SCHEMA oracle; SET search_path TO oracle; ${TABLE_SQL}; SET search_path TO DEFAULT`);
    const rand = random(13);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
    const texts = ['x', 'y', 'tab\there', 'back\\slash', null];
    const uuids = ['0b0e7a50-0000-4000-8000-000000000001', '0b0e7a50-0000-4000-8000-000000000002', '0B0E7A50-0000-4000-8000-000000000003'];
    let record = 0;
    let folded = 0;
    let upserts = 0;
    try {
      for (let round = 0; round < 12; round++) {
        const ops: RowOp[] = [];
        const size = 20 + Math.floor(rand() * 120);
        while (ops.length < size) {
          const id = Math.floor(rand() * 25);
          const r = rand();
          let op: RowOp;
          if (r < 0.35) {
            const row: Record<string, unknown> = { id };
            for (const c of ['a', 'b', 'c']) if (rand() < 0.6) row[c] = c === 'b' ? Math.floor(rand() * 4) : c === 'c' ? pick(['c1', 'c2']) : pick(texts);
            op = upsert('t', row);
            upserts++;
          } else if (r < 0.5) {
            // Only rows that do not exist yet (an insert of an existing key fails the batch, as it should).
            const { rowCount } = await client.query('SELECT 1 FROM oracle.t WHERE id = $1', [id]);
            if (rowCount) continue;
            op = insert('t', rand() < 0.5 ? { id, a: pick(texts) } : { id, b: Math.floor(rand() * 4), c: 'c3' });
          } else if (r < 0.65) op = update('t', { id }, rand() < 0.5 ? { a: pick(texts) } : { b: Math.floor(rand() * 4), c: 'c4' });
          else if (r < 0.72) op = update('t', { b: Math.floor(rand() * 4) }, { a: pick(texts) });
          else if (r < 0.8) op = remove('t', { id });
          else if (r < 0.84) op = remove('t', { b: Math.floor(rand() * 4) });
          else if (r < 0.95) {
            op = upsert('p', rand() < 0.7 ? { k: pick(uuids), n: id % 3, v: pick(texts) } : { n: id % 3, k: pick(uuids) });
            upserts++;
          } else op = remove('p', { k: pick(uuids) });
          const s = statement('oracle', op);
          await client.query(s.text, s.values);
          ops.push(op);
        }
        const encoded = ops.map((op) => sink.encode(op));
        folded += encoded.length - planSteps(encoded).reduce((n, step) => n + step.ops.length, 0);
        const counts = await sink.writeBatch({ file: 'f.pb.gz', fromRecord: record, toRecord: record + ops.length, events: ops.length, ops: encoded });
        expect(counts).toBeDefined();
        record += ops.length;
        for (const table of ['t', 'p']) {
          const order = table === 't' ? 'id' : 'k, n';
          const [{ rows: actual }, { rows: expected }] = [
            await client.query(`SELECT * FROM mix.${table} ORDER BY ${order}`),
            await client.query(`SELECT * FROM oracle.${table} ORDER BY ${order}`),
          ];
          expect({ round, table, rows: actual }).toEqual({ round, table, rows: expected });
        }
      }
      // The batches did exercise the folds and the ON CONFLICT path.
      expect(upserts).toBeGreaterThan(400);
      expect(folded).toBeGreaterThan(50);
      const { rows } = await client.query('SELECT count(*)::int AS n, count(a)::int AS with_a FROM mix.t');
      expect(rows[0].n).toBeGreaterThan(5);
      expect(rows[0].with_a).toBeGreaterThan(0);
    } finally {
      await client.end();
      await sink.close();
    }
  });

  it('folds an upsert into the same batch\'s insert and upsert of its row, and counts rows inserted and updated', async () => {
    const { sink, url } = await openSink('fold');
    try {
      const first = [insert('t', { id: 1, a: 'one' }), upsert('t', { id: 1, b: 2 }), upsert('t', { id: 2, a: 'two' }), update('t', { id: 2 }, { c: 'c9' }), upsert('t', { id: 2, b: 5 })];
      const encoded = first.map((op) => sink.encode(op));
      // One COPY of id 1 with the upsert's b; one upsert of id 2 with a, c and b.
      expect(planSteps(encoded).map((s) => [s.kind, s.ops.length])).toEqual([['insert', 1], ['upsert', 1]]);
      expect(await sink.writeBatch({ file: 'f', fromRecord: 0, toRecord: 5, events: 5, ops: encoded })).toEqual({ inserted: 2, updated: 0, deleted: 0 });
      // From a later batch: id 2 exists (updated, keeps c), id 3 does not (inserted with defaults).
      const second = [upsert('t', { id: 2, a: 'TWO' }), upsert('t', { id: 3, a: 'three' }), upsert('t', { id: 1 })];
      expect(await sink.writeBatch({ file: 'f', fromRecord: 5, toRecord: 8, events: 3, ops: second.map((op) => sink.encode(op)) })).toEqual({ inserted: 1, updated: 1, deleted: 0 });
      expect(await sql(url, 'SELECT id, a, b, c FROM fold.t ORDER BY id')).toEqual([
        { id: 1, a: 'one', b: 2, c: 'c0' },
        { id: 2, a: 'TWO', b: 5, c: 'c9' },
        { id: 3, a: 'three', b: 7, c: 'c0' },
      ]);
      // Bad upserts: one line naming the table and what is wrong.
      expect(() => sink.encode(upsert('t', { a: 'no key' }))).toThrow(/^upsert into t must give its primary key column id$/);
      expect(() => sink.encode(upsert('t', { id: null, a: 'x' }))).toThrow(/^upsert into t gives NULL for its primary key column id$/);
      expect(() => sink.encode(upsert('t', { id: 4, nope: 1 }))).toThrow(/^table t has no column "nope" \(its columns: id, a, b, c\)$/);
    } finally {
      await sink.close();
    }
  });

  it('seeds a module whose handlers upsert: the rows event-by-event application gives, across batches', async () => {
    const input = await tempDir('ferry-upsert-in-');
    const EVENTS = 3_000;
    await writeSampleEventDump(path.join(input, 'a.pb.gz'), EVENTS, { blockRecords: 500 });
    const dir = await tempDir();
    const db = dbName('seed');
    const schemaSql = 'CREATE TABLE latest (member_id uuid PRIMARY KEY, nickname text, city text, blocked_by uuid, blocks int NOT NULL DEFAULT 0)';
    // Members register again every 500 events (new nickname), and get blocked in between.
    const handlers = `{ MemberRegistered: (p: any) => upsert('latest', { member_id: p.member_id, nickname: p.nickname, city: p.city }),
      MemberBlocked: (p: any) => upsert('latest', { member_id: p.blocked_id, blocked_by: p.blocker_id }) }`;
    const config = await writeModulesConfig(dir, `[{ name: 'latest', database: '${db}', schemaSql: '${schemaSql}', handlers: ${handlers} }]`);
    const run = await runFerry(['seed', 'modules', '--in', input, '--config', config, '--url', SERVER(), '--create-databases', '--batch-size', '700', '--json', '--quiet']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const expected = new Map<string, { nickname: string | null; city: string | null; blocked_by: string | null }>();
    for (let i = 0; i < EVENTS; i++) {
      const e = sampleEvent(i);
      const p = e.payload as unknown as Record<string, string>;
      if (e.type === 'MemberRegistered') expected.set(p.member_id, { blocked_by: null, ...expected.get(p.member_id), nickname: p.nickname, city: p.city ?? null });
      if (e.type === 'MemberBlocked') expected.set(p.blocked_id, { nickname: null, city: null, ...expected.get(p.blocked_id), blocked_by: p.blocker_id });
    }
    const rows = await sql<{ member_id: string }>(databaseUrl(SERVER(), db), 'SELECT member_id::text, nickname, city, blocked_by::text, blocks FROM latest.latest ORDER BY 1');
    expect(rows).toEqual([...expected].map(([member_id, v]) => ({ member_id, ...v, blocks: 0 })).sort((a, b) => a.member_id.localeCompare(b.member_id)));
    expect(rows).toHaveLength(500);
    const summary = JSON.parse(run.stdout).modules[0];
    // 2,000 upserts (1,000 registrations, 1,000 blocks) of 500 members: 500 rows inserted.
    expect(summary.rows.inserted).toBe(500);
    expect(summary.rows.updated).toBeGreaterThan(0);
    expect(summary.rows.inserted + summary.rows.updated).toBeLessThan(2_000);
  });
});

describe('upsert planning', () => {
  it('keeps one row per key in an upsert step (ON CONFLICT cannot touch a row twice)', async () => {
    const { sink, url } = await openSink('dupes');
    try {
      const ops = [upsert('p', { k: uuidUpper, n: 1, v: 'a' }), upsert('p', { k: uuidUpper.toLowerCase(), n: 1, v: 'b' }), upsert('p', { n: 1, k: uuidUpper, v: 'c' })];
      expect(await sink.writeBatch({ file: 'f', fromRecord: 0, toRecord: 3, events: 3, ops: ops.map((op) => sink.encode(op)) })).toEqual({ inserted: 1, updated: 0, deleted: 0 });
      expect(await sql(url, 'SELECT k::text, n, v FROM dupes.p')).toEqual([{ k: uuidUpper.toLowerCase(), n: 1, v: 'c' }]);
    } finally {
      await sink.close();
    }
  });
});

const uuidUpper = 'ABCDEF01-0000-4000-8000-000000000001';
