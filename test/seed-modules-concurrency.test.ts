// Exactly once whatever users run at the same time: a second `seed modules` on a module that another
// run holds is refused with who holds it and since when (or waits with --wait); two --reset runs do
// not both drop and recreate the schema. Real concurrent child processes on the real PostgreSQL.
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSampleEventDump } from './fixtures/event-dumps.ts';
import { actualTables, applied, databaseUrl, expectedTables, inboxHandlers, socialHandlers, sql, writeModulesConfig } from './fixtures/modules-feed.ts';
import { startFerry, tempDir, waitFor } from './helpers.ts';

const EVENTS = 9_000;
const SERVER = () => process.env.FERRY_PG_URL!;
const created: string[] = [];
const dbName = (what: string) => {
  const name = `seedlock_${what}_${process.pid}_${created.length}`;
  created.push(name);
  return name;
};

let input: string;
let expectedSocial: Record<string, string[]>;
let expectedInbox: Record<string, string[]>;

beforeAll(async () => {
  input = await tempDir('ferry-seed-lock-in-');
  await writeSampleEventDump(path.join(input, 'a.pb.gz'), EVENTS, { blockRecords: 500, bodyBytes: 60 });
  expectedSocial = expectedTables(socialHandlers as never, EVENTS, ['registrations', 'feed'], 60);
  expectedInbox = expectedTables(inboxHandlers as never, EVENTS, ['messages'], 60);
});

afterAll(async () => {
  for (const name of created) await sql(SERVER(), `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined);
});




async function setUp(what: string) {
  const [social, inbox] = [dbName(`${what}_s`), dbName(`${what}_i`)];
  const config = await writeModulesConfig(await tempDir(), `[socialModule({ database: '${social}' }), inboxModule({ database: '${inbox}' })]`);
  const args = ['seed', 'modules', '--in', input, '--url', SERVER(), '--create-databases', '--config', config, '--quiet'];
  return { args, socialUrl: databaseUrl(SERVER(), social), inboxUrl: databaseUrl(SERVER(), inbox) };
}

async function expectExact(socialUrl: string, inboxUrl: string): Promise<void> {
  expect(await applied(socialUrl, 'social')).toBe(EVENTS);
  expect(await applied(inboxUrl, 'inbox')).toBe(EVENTS);
  expect(await actualTables(socialUrl, 'social', ['registrations', 'feed'])).toEqual(expectedSocial);
  expect(await actualTables(inboxUrl, 'inbox', ['messages'])).toEqual(expectedInbox);
}

describe('ferry seed modules: two runs at once', () => {
  it('a second run (--resume) while the first holds the modules is refused with who and since when; the data is exact', async () => {
    const { args, socialUrl, inboxUrl } = await setUp('refuse');
    // Small batches: the first run is still going when the second has started up.
    const first = startFerry([...args, '--batch-size', '20']);
    await waitFor('a committed batch', async () => (await applied(socialUrl, 'social')) > 0);
    const second = startFerry([...args, '--batch-size', '200', '--resume']);
    const [a, b] = await Promise.all([first.done, second.done]);
    expect(a.stderr).not.toContain('ferry:');
    expect(a.code).toBe(0);
    expect(b.code).toBe(1);
    expect(b.stderr).toMatch(new RegExp(`^ferry: module (social|inbox) is being seeded by pid ${first.child.pid} on host ${os.hostname().slice(0, 10)}\\S* since \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ; wait for it or pass --wait\\n$`));
    await expectExact(socialUrl, inboxUrl);
  });

  it('--wait waits for the run that holds the modules, then continues it: nothing lost, nothing twice', async () => {
    const { args, socialUrl, inboxUrl } = await setUp('wait');
    const first = startFerry([...args, '--batch-size', '20']);
    await waitFor('a committed batch', async () => (await applied(socialUrl, 'social')) > 0);
    const second = startFerry([...args, '--batch-size', '200', '--resume', '--wait', '--json']);
    const [a, b] = await Promise.all([first.done, second.done]);
    expect(a.code).toBe(0);
    expect(b.stderr).toMatch(/module (social|inbox) is being seeded by pid \d+ on host \S+ since \S+: waiting for it \(--wait\)/);
    expect(b.code).toBe(0);
    const summary = JSON.parse(b.stdout);
    // Everything was applied by the first run; the second found it all done.
    expect(summary.modules.map((m: { resumedPast: number; events: number }) => [m.resumedPast, m.events])).toEqual([[EVENTS, 0], [EVENTS, 0]]);
    await expectExact(socialUrl, inboxUrl);
  });

  it('two --reset runs at once: one is refused, the other seeds everything (no deadlock, no lost rows)', async () => {
    const { args, socialUrl, inboxUrl } = await setUp('reset');
    // A complete earlier run, so that --reset has a schema to drop.
    const seeded = startFerry(args);
    expect((await seeded.done).code).toBe(0);
    const first = startFerry([...args, '--reset', '--batch-size', '20']);
    await new Promise((r) => setTimeout(r, 300));
    const second = startFerry([...args, '--reset', '--batch-size', '20']);
    const results = await Promise.all([first.done, second.done]);
    const ok = results.filter((r) => r.code === 0);
    const refused = results.filter((r) => r.code === 1);
    expect(ok).toHaveLength(1);
    expect(refused).toHaveLength(1);
    expect(refused[0].stderr).toMatch(/^ferry: module (social|inbox) is being seeded by pid \d+ on host \S+ since \S+; wait for it or pass --wait\n$/);
    await expectExact(socialUrl, inboxUrl);
  });
});
