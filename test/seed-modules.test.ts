// `ferry seed modules` against real PostgreSQL: exact rows after a plain run, refusal to run twice
// without --resume/--reset, and --reset.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sampleEvent, writeSampleEventDump } from './fixtures/event-dumps.ts';
import {
  actualTables, databaseUrl, expectedTables, inboxHandlers, socialHandlers, sql, writeModulesConfig,
} from './fixtures/modules-feed.ts';
import { runFerry, tempDir } from './helpers.ts';

const SERVER = () => process.env.FERRY_PG_URL!;
const created: string[] = [];
const dbName = (what: string) => {
  const name = `seedmod_${what}_${process.pid}_${created.length}`;
  created.push(name);
  return name;
};

let input: string;
const EVENTS = 3_000;

beforeAll(async () => {
  input = await tempDir('ferry-seed-modules-in-');
  await writeSampleEventDump(path.join(input, 'a.pb.gz'), 2_000, { blockRecords: 500 });
  await writeSampleEventDump(path.join(input, 'b.pb.gz'), 1_000, { from: 2_000, blockRecords: 500 });
});

afterAll(async () => {
  for (const name of created) await sql(SERVER(), `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined);
});

describe('ferry seed modules', () => {
  it('writes exactly the rows that applying the handlers event by event gives, into each module database', async () => {
    const dir = await tempDir();
    const social = dbName('social');
    const inbox = dbName('inbox');
    await writeModulesConfig(dir, `[socialModule({ database: '${social}' }), inboxModule({ database: '${inbox}', schemaName: 'mail' })]`);
    const run = await runFerry(['seed', 'modules', '--in', input, '--config', path.join(dir, 'ferry.config.ts'), '--url', SERVER(), '--create-databases', '--batch-size', '300', '--json', '--quiet']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const summary = JSON.parse(run.stdout);

    const expectedSocial = expectedTables(socialHandlers as never, EVENTS, ['registrations', 'feed']);
    const expectedInbox = expectedTables(inboxHandlers as never, EVENTS, ['messages']);
    // The sample data must exercise deletes and updates, or this test proves little.
    expect(expectedSocial.registrations.length).toBe(1_000);
    expect(expectedSocial.registrations.filter((r) => JSON.parse(r)[5] !== null).length).toBeGreaterThan(100);
    expect(expectedSocial.feed.length).toBeLessThan(900);
    expect(expectedSocial.feed.length).toBeGreaterThan(100);

    expect(await actualTables(databaseUrl(SERVER(), social), 'social', ['registrations', 'feed'])).toEqual(expectedSocial);
    expect(await actualTables(databaseUrl(SERVER(), inbox), 'mail', ['messages'])).toEqual(expectedInbox);
    const first = JSON.parse(expectedInbox.messages[0]);
    expect(first).toHaveLength(5);

    expect(await sql(databaseUrl(SERVER(), social), 'SELECT shard, file, next_record::int, events::int FROM social.ferry_progress ORDER BY file')).toEqual([
      { shard: '', file: 'a.pb.gz', next_record: 2_000, events: 2_000 },
      { shard: '', file: 'b.pb.gz', next_record: 1_000, events: 1_000 },
    ]);
    const [s, i] = summary.modules;
    expect(s).toMatchObject({ name: 'social', database: social, events: EVENTS, resumedPast: 0 });
    expect(s.rows.inserted).toBe(2_000);
    expect(s.rows.deleted).toBe(1_000 - expectedSocial.feed.length);
    expect(s.batches).toBe(Math.ceil(2_000 / 300) + Math.ceil(1_000 / 300));
    expect(s.batchLatencyMs.count).toBe(s.batches);
    expect(s.eventsPerSecond).toBeGreaterThan(0);
    expect(s.rowsPerSecond).toBeGreaterThan(0);
    expect(i).toMatchObject({ name: 'inbox', schema: 'mail', events: EVENTS, rows: { inserted: 1_000, updated: 0, deleted: 0, total: 1_000 } });
    expect(summary.skipped).toEqual([]);
    expect(sampleEvent(1).type).toBe('MessageSent');
  });

  it('refuses a second run without --resume or --reset, resumes as a no-op, and --reset starts over', async () => {
    const dir = await tempDir();
    const social = dbName('again');
    const config = await writeModulesConfig(dir, `[socialModule({ database: '${social}' })]`);
    const args = ['seed', 'modules', '--in', input, '--config', config, '--url', SERVER(), '--batch-size', '1000', '--quiet'];
    const missing = await runFerry(args);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`database "${social}" does not exist`);
    expect(missing.stderr).toContain('--create-databases');
    expect(missing.stderr).not.toContain(':ferry@');

    const first = await runFerry([...args, '--create-databases']);
    expect(first.code).toBe(0);
    // The human summary: one row per module with counts, rates and batch latencies.
    expect(first.stderr).toMatch(/module +database +events +inserted +updated +deleted +events\/s +rows\/s +batch p50 ms +p95 +p99\nsocial +seedmod_again_\d+_\d+ \(127\.0\.0\.1:\d+\) +3000 +2000 +\d+ +\d+ /);
    expect(first.stderr).toMatch(/seeded 1 module\(s\) from 3000 input events in [\d.]+s\n$/);
    const again = await runFerry(args);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^ferry: schema social of module social \(database seedmod_again_\d+_\d+ on 127\.0\.0\.1:\d+\) already holds 3000 events from an earlier run: pass --resume to continue it, or --reset to drop the schema and start over\n$/);

    const resumed = await runFerry([...args, '--resume', '--json']);
    expect(resumed.code).toBe(0);
    expect(JSON.parse(resumed.stdout).modules[0]).toMatchObject({ events: 0, resumedPast: EVENTS, batches: 0 });

    await sql(databaseUrl(SERVER(), social), `INSERT INTO social.feed (message_id, owner_id, author_id, body) VALUES (gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), 'stray')`);
    const reset = await runFerry([...args, '--reset', '--json']);
    expect(reset.code).toBe(0);
    expect(JSON.parse(reset.stdout).modules[0]).toMatchObject({ events: EVENTS, resumedPast: 0 });
    expect(await actualTables(databaseUrl(SERVER(), social), 'social', ['registrations', 'feed'])).toEqual(expectedTables(socialHandlers as never, EVENTS, ['registrations', 'feed']));
  });

  it('keeps event order within a batch: delete-then-insert of the same key ends with the last row, in one batch', async () => {
    // Members register again every 1500 events; "replace" = remove then insert, both in one batch of 3000.
    const dir = await tempDir();
    const db = dbName('latest');
    const schemaSql = 'CREATE TABLE latest (member_id uuid PRIMARY KEY, nickname text NOT NULL, city text)';
    const handlers = `{ MemberRegistered: (p: any) => [remove('latest', { member_id: p.member_id }), insert('latest', { member_id: p.member_id, nickname: p.nickname, city: p.city })],
      MemberBlocked: (p: any) => update('latest', { member_id: p.blocked_id }, { city: 'blocked by ' + p.blocker_id.slice(0, 8) }) }`;
    const config = await writeModulesConfig(dir, `[{ name: 'latest', database: '${db}', schemaSql: '${schemaSql}', handlers: ${handlers} }]`);
    const run = await runFerry(['seed', 'modules', '--in', input, '--config', config, '--url', SERVER(), '--create-databases', '--batch-size', '5000', '--json', '--quiet']);
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout).modules[0].batches).toBe(2);
    const expected = new Map<string, { nickname: string; city: string | null }>();
    for (let i = 0; i < EVENTS; i++) {
      const e = sampleEvent(i);
      const p = e.payload as unknown as Record<string, string>;
      if (e.type === 'MemberRegistered') expected.set(p.member_id, { nickname: p.nickname, city: p.city ?? null });
      if (e.type === 'MemberBlocked' && expected.has(p.blocked_id)) expected.get(p.blocked_id)!.city = 'blocked by ' + p.blocker_id.slice(0, 8);
    }
    const rows = await sql<{ member_id: string; nickname: string; city: string | null }>(databaseUrl(SERVER(), db), 'SELECT member_id::text, nickname, city FROM latest.latest ORDER BY 1');
    expect(rows).toEqual([...expected].map(([member_id, v]) => ({ member_id, ...v })).sort((a, b) => a.member_id.localeCompare(b.member_id)));
    expect(rows.filter((r) => r.city?.startsWith('blocked')).length).toBeGreaterThan(0);
  });
});
