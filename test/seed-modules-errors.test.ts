// Bad input for `ferry seed modules`: each case ends with one clear line that names the module (and
// the event where one is to blame), a non-zero exit, and no half-applied batch.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventRecord } from '../dumps/event-envelope.ts';
import { insert } from '../api/module.ts';
import { PostgresModuleSink } from '../seed/postgres-sink.ts';
import { sampleEvent, writeSampleEventDump } from './fixtures/event-dumps.ts';
import {
  actualTables, databaseUrl, expectedTables, socialHandlers, sql, writeModulesConfig,
} from './fixtures/modules-feed.ts';
import { runFerry, tempDir } from './helpers.ts';

const SERVER = () => process.env.FERRY_PG_URL!;
const created: string[] = [];
const dbName = (what: string) => {
  const name = `seederr_${what}_${process.pid}_${created.length}`;
  created.push(name);
  return name;
};

let input: string;
const EVENTS = 3_000;

beforeAll(async () => {
  input = await tempDir('ferry-seed-errors-in-');
  await writeSampleEventDump(path.join(input, 'a.pb.gz'), 2_000, { blockRecords: 500 });
  await writeSampleEventDump(path.join(input, 'b.pb.gz'), 1_000, { from: 2_000, blockRecords: 500 });
});

afterAll(async () => {
  for (const name of created) await sql(SERVER(), `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined);
});

async function seed(modulesExpr: string, extra: string[] = [], prelude = '') {
  const dir = await tempDir();
  const config = await writeModulesConfig(dir, modulesExpr, prelude);
  return runFerry(['seed', 'modules', '--in', input, '--config', config, '--url', SERVER(), '--create-databases', '--quiet', ...extra]);
}

async function schemaExists(db: string, schema: string): Promise<boolean> {
  const rows = await sql<{ s: string | null }>(databaseUrl(SERVER(), db), 'SELECT to_regnamespace($1)::text AS s', [schema]);
  return rows[0].s !== null;
}

describe('ferry seed modules with bad input', () => {
  it('says which module cannot log in, without the password', async () => {
    const url = new URL(SERVER());
    url.password = 'wrong-secret';
    const dir = await tempDir();
    const config = await writeModulesConfig(dir, `[socialModule({ database: 'postgres' })]`);
    const run = await runFerry(['seed', 'modules', '--in', input, '--config', config, '--url', url.href, '--quiet']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^ferry: module social: 127\.0\.0\.1:\d+ refused the login of user "ferry" to database "postgres" \(password authentication failed for user "ferry"\): check the user and password in postgres:\/\/ferry:\*\*\*@127\.0\.0\.1:\d+\/postgres\n$/);
    expect(run.stderr).not.toContain('wrong-secret');
  });

  it('reports schema SQL that fails with the module, line and PostgreSQL error, and leaves no schema behind', async () => {
    const db = dbName('schema');
    const run = await seed(`[socialModule({ database: '${db}', name: 'broken', schemaSql: 'CREATE TABLE ok (id int);\\nCREATE TABLE bad (id int,);' })]`);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe('ferry: module broken: schema SQL failed (line 2): syntax error at or near ")"\n');
    expect(await schemaExists(db, 'broken')).toBe(false);
  });

  it('stops at a handler that throws, naming the event, its type and the module; --max-errors skips and lists such events', async () => {
    const bad = [sampleEvent(5).id, sampleEvent(1_208).id];
    const prelude = `const BAD = new Set(${JSON.stringify(bad)});
const handlers = { ...socialHandlers, MemberBlocked: (p: any, e: any) => { if (BAD.has(e.id)) throw new Error('blocker ' + p.blocker_id + ' is unknown'); return socialHandlers.MemberBlocked(p); } };`;
    const db = dbName('handler');
    const stopped = await seed(`[socialModule({ database: '${db}', handlers })]`, ['--batch-size', '1000'], prelude);
    expect(stopped.code).toBe(1);
    expect(stopped.stderr).toContain(`ferry: module social: event ${bad[0]} (MemberBlocked, a.pb.gz record 5) handler failed: blocker ${sampleEvent(5).payload.blocker_id} is unknown; fix it, or pass --max-errors N to skip up to N failing events\n`);
    // The batch with the bad event was not applied.
    expect(await sql(databaseUrl(SERVER(), db), 'SELECT count(*)::int AS n FROM social.ferry_progress')).toEqual([{ n: 0 }]);
    expect(await sql(databaseUrl(SERVER(), db), 'SELECT count(*)::int AS n FROM social.registrations')).toEqual([{ n: 0 }]);

    const db2 = dbName('handler_skip');
    const skipped = await seed(`[socialModule({ database: '${db2}', handlers })]`, ['--batch-size', '1000', '--max-errors', '2', '--json'], prelude);
    expect(skipped.code).toBe(0);
    const summary = JSON.parse(skipped.stdout);
    expect(summary.skipped).toEqual([
      { module: 'social', eventId: bad[0], eventType: 'MemberBlocked', file: 'a.pb.gz', record: 5, reason: 'handler', message: `blocker ${sampleEvent(5).payload.blocker_id} is unknown` },
      { module: 'social', eventId: bad[1], eventType: 'MemberBlocked', file: 'a.pb.gz', record: 1_208, reason: 'handler', message: `blocker ${sampleEvent(1_208).payload.blocker_id} is unknown` },
    ]);
    expect(skipped.stderr).toContain(`ferry: skipped event ${bad[1]} (MemberBlocked, a.pb.gz record 1208) in module social`);
    const oracle = { ...socialHandlers, MemberBlocked: (p: never, e: EventRecord) => (bad.includes(e.id) ? [] : socialHandlers.MemberBlocked(p)) };
    expect(await actualTables(databaseUrl(SERVER(), db2), 'social', ['registrations', 'feed'])).toEqual(expectedTables(oracle as never, EVENTS, ['registrations', 'feed']));
  });

  it('reports an operation that does not fit the schema as the handler\'s error', async () => {
    const db = dbName('shape');
    const run = await seed(`[socialModule({ database: '${db}', handlers: { MessageSent: (p: any) => insert('feed', { message_id: p.message_id, colour: 'red' }) } })]`);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`ferry: module social: event ${sampleEvent(1).id} (MessageSent, a.pb.gz record 1) handler failed: its operation does not fit the schema: table feed has no column "colour" (its columns: message_id, owner_id, author_id, kind, body); fix it, or pass --max-errors N to skip up to N failing events\n`);
  });

  it('finds the event behind a row that violates a constraint, even when the conflict is inside one COPY batch', async () => {
    // Members register again after 1500 events: a primary key on member_id rejects the second one.
    const schemaSql = `CREATE TABLE members (member_id uuid PRIMARY KEY, nickname text NOT NULL);`;
    const handlers = `{ MemberRegistered: (p: any) => insert('members', { member_id: p.member_id, nickname: p.nickname }) }`;
    const db = dbName('dup');
    const run = await seed(`[{ name: 'members', database: '${db}', schemaSql: ${JSON.stringify(schemaSql)}, handlers: ${handlers} }]`, ['--batch-size', '2000']);
    expect(run.code).toBe(1);
    const culprit = sampleEvent(1_500);
    expect(run.stderr).toBe(`ferry: module members: event ${culprit.id} (MemberRegistered, a.pb.gz record 1500) row rejected: insert into members: duplicate key value violates unique constraint "members_pkey" (Key (member_id)=(${culprit.payload.member_id}) already exists.); fix it, or pass --max-errors N to skip up to N failing events\n`);
    expect(await sql(databaseUrl(SERVER(), db), 'SELECT count(*)::int AS n FROM members.members')).toEqual([{ n: 0 }]);
  });

  it('with --max-errors, skips the events whose rows are rejected and applies every other row of their batch', async () => {
    const schemaSql = `CREATE TABLE members (event_id uuid PRIMARY KEY, nickname text NOT NULL CHECK (nickname NOT IN ('Åsa-300', 'Åsa-2103')));`;
    const handlers = `{ MemberRegistered: (p: any, e: any) => insert('members', { event_id: e.id, nickname: p.nickname }) }`;
    const db = dbName('check');
    const run = await seed(`[{ name: 'members', database: '${db}', schemaSql: ${JSON.stringify(schemaSql)}, handlers: ${handlers} }]`, ['--batch-size', '700', '--max-errors', '5', '--json']);
    expect(run.code).toBe(0);
    const summary = JSON.parse(run.stdout);
    expect(summary.skipped.map((s: { eventId: string; record: number; file: string; reason: string }) => [s.eventId, s.file, s.record, s.reason])).toEqual([
      [sampleEvent(300).id, 'a.pb.gz', 300, 'row'], [sampleEvent(2_103).id, 'b.pb.gz', 103, 'row'],
    ]);
    expect(summary.skipped[0].message).toContain('violates check constraint "members_nickname_check"');
    const rows = await sql<{ nickname: string }>(databaseUrl(SERVER(), db), 'SELECT nickname FROM members.members ORDER BY nickname');
    const expected = Array.from({ length: EVENTS }, (_, i) => i).filter((i) => i % 3 === 0 && i !== 300 && i !== 2_103).map((i) => `Åsa-${i}`).sort();
    expect(rows.map((r) => r.nickname).sort()).toEqual(expected);
  });
});

describe('module progress guard', () => {
  it('applies a batch only where this run left the progress: skips one already committed, refuses one moved by someone else', async () => {
    const db = dbName('guard');
    const module = {
      name: 'guard', database: db, schemaSql: 'CREATE TABLE t (n int PRIMARY KEY)',
      handlers: {},
    };
    const sink = new PostgresModuleSink(module, { serverUrl: SERVER(), configDir: '.', createDatabase: true, resume: false, reset: false, shard: '' });
    await sink.connect();
    const url = databaseUrl(SERVER(), db);
    const batch = (from: number, to: number) => ({
      file: "it's.pb.gz", fromRecord: from, toRecord: to, events: to - from,
      ops: Array.from({ length: to - from }, (_, i) => sink.encode(insert('t', { n: from + i }))),
    });
    try {
      expect(await sink.writeBatch(batch(0, 10))).toEqual({ inserted: 10, updated: 0, deleted: 0 });
      // As if this run's COMMIT of 10–20 went through but its reply was lost: the batch is skipped.
      await sql(url, `UPDATE guard.ferry_progress SET next_record = 20`);
      expect(await sink.writeBatch(batch(10, 20))).toBeUndefined();
      expect(await sink.writeBatch(batch(20, 30))).toEqual({ inserted: 10, updated: 0, deleted: 0 });
      // Someone else moved it: refused, nothing applied.
      await sql(url, `UPDATE guard.ferry_progress SET next_record = 35`);
      await expect(sink.writeBatch(batch(30, 40))).rejects.toThrow(/progress for it's\.pb\.gz is at record 35 in the database but this run expected 30: is another ferry run seeding this module\?/);
      expect(await sql(url, 'SELECT count(*)::int AS n, max(n) AS top FROM guard.t')).toEqual([{ n: 20, top: 29 }]);
      expect(await sql(url, 'SELECT next_record::int, events::int FROM guard.ferry_progress')).toEqual([{ next_record: 35, events: 20 }]);
    } finally {
      await sink.close();
    }
  });
});
