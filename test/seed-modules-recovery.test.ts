// Exactly once under failure: ferry killed with SIGKILL mid-run and resumed, and the database
// restarted mid-run, both end with the same module tables as a plain run.
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restartPostgres, startPostgres, stopPostgres, type PostgresServer } from '../services/postgres-server.ts';
import { writeSampleEventDump } from './fixtures/event-dumps.ts';
import {
  actualTables, applied, databaseUrl, expectedTables, inboxHandlers, socialHandlers, sql, tableDigest, writeModulesConfig,
} from './fixtures/modules-feed.ts';
import { runFerry, startFerry, tempDir, waitFor } from './helpers.ts';

const EVENTS = 9_000;
const SERVER = () => process.env.FERRY_PG_URL!;
const created: string[] = [];
const dbName = (what: string) => {
  const name = `seedrec_${what}_${process.pid}_${created.length}`;
  created.push(name);
  return name;
};

let input: string;
let expectedSocial: Record<string, string[]>;
let expectedInbox: Record<string, string[]>;

beforeAll(async () => {
  input = await tempDir('ferry-seed-recovery-in-');
  await writeSampleEventDump(path.join(input, 'a.pb.gz'), 6_000, { blockRecords: 1_000, bodyBytes: 60 });
  await writeSampleEventDump(path.join(input, 'b.pb.gz'), 3_000, { from: 6_000, blockRecords: 1_000, bodyBytes: 60 });
  expectedSocial = expectedTables(socialHandlers as never, EVENTS, ['registrations', 'feed'], 60);
  expectedInbox = expectedTables(inboxHandlers as never, EVENTS, ['messages'], 60);
});

afterAll(async () => {
  for (const name of created) await sql(SERVER(), `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined);
});




describe('ferry seed modules under failure', () => {
  it('killed with SIGKILL mid-run and resumed: the module tables equal a plain run, no duplicate, no missing row', async () => {
    const dir = await tempDir();
    const [plainSocial, plainInbox, killedSocial, killedInbox] = [dbName('plain_s'), dbName('plain_i'), dbName('killed_s'), dbName('killed_i')];
    const plainConfig = await writeModulesConfig(dir, `[socialModule({ database: '${plainSocial}' }), inboxModule({ database: '${plainInbox}' })]`);
    const dir2 = await tempDir();
    const killedConfig = await writeModulesConfig(dir2, `[socialModule({ database: '${killedSocial}' }), inboxModule({ database: '${killedInbox}' })]`);
    const common = ['seed', 'modules', '--in', input, '--url', SERVER(), '--create-databases', '--batch-size', '400', '--quiet'];

    const plain = await runFerry([...common, '--config', plainConfig]);
    expect(plain.stderr).not.toContain('ferry:');
    expect(plain.code).toBe(0);

    const run = startFerry([...common, '--config', killedConfig]);
    const socialUrl = databaseUrl(SERVER(), killedSocial);
    const inboxUrl = databaseUrl(SERVER(), killedInbox);
    await waitFor('a committed batch', async () => (await applied(socialUrl, 'social')) > 0 && (await applied(inboxUrl, 'inbox')) > 0);
    run.child.kill('SIGKILL');
    const killed = await run.done;
    expect(killed.signal).toBe('SIGKILL');
    const atKill = [await applied(socialUrl, 'social'), await applied(inboxUrl, 'inbox')];
    // Killed in the middle, not after the end.
    expect(Math.min(...atKill)).toBeLessThan(EVENTS);

    const again = await runFerry([...common, '--config', killedConfig]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('pass --resume to continue it');

    const resumed = await runFerry([...common, '--config', killedConfig, '--resume', '--json']);
    expect(resumed.stderr).toBe('');
    expect(resumed.code).toBe(0);
    const summary = JSON.parse(resumed.stdout);
    expect(summary.modules.map((m: { resumedPast: number; events: number }) => m.resumedPast)).toEqual(atKill);
    expect(summary.modules.map((m: { resumedPast: number; events: number }) => m.resumedPast + m.events)).toEqual([EVENTS, EVENTS]);

    for (const [plainDb, killedDb, table] of [
      [plainSocial, killedSocial, 'social.registrations'], [plainSocial, killedSocial, 'social.feed'], [plainInbox, killedInbox, 'inbox.messages'],
    ]) {
      const a = await tableDigest(databaseUrl(SERVER(), plainDb), table);
      const b = await tableDigest(databaseUrl(SERVER(), killedDb), table);
      expect({ table, ...b }).toEqual({ table, ...a });
    }
    expect(await actualTables(socialUrl, 'social', ['registrations', 'feed'])).toEqual(expectedSocial);
    expect(await actualTables(inboxUrl, 'inbox', ['messages'])).toEqual(expectedInbox);
  });

  describe('with the database restarted in the middle of a run', () => {
    // A server of its own: restarting the shared one would break the suites running beside this one.
    let server: PostgresServer;
    let base: string;
    beforeAll(async () => {
      base = await tempDir('ferry-seed-restart-');
      const { chmod } = await import('node:fs/promises');
      await chmod(base, 0o755);
      server = await startPostgres(base, () => undefined);
    });
    afterAll(async () => {
      if (server) await stopPostgres(server);
      await rm(base, { recursive: true, force: true });
    });

    it('reconnects with backoff and continues exactly once', async () => {
      const dir = await tempDir();
      const config = await writeModulesConfig(dir, `[socialModule({ database: 'social' }), inboxModule({ database: 'inbox' })]`);
      const run = startFerry(['seed', 'modules', '--in', input, '--url', server.url, '--create-databases', '--batch-size', '300', '--config', config, '--json', '--quiet']);
      const socialUrl = databaseUrl(server.url, 'social');
      await waitFor('a committed batch', async () => (await applied(socialUrl, 'social')) > 0);
      await restartPostgres(server);
      const result = await run.done;
      expect(result.stderr).toMatch(/module (social|inbox) \(database \w+ on 127\.0\.0\.1:\d+\): .*reconnecting in \d+ ms/);
      expect(result.code).toBe(0);
      const summary = JSON.parse(result.stdout);
      expect(summary.modules.reduce((s: number, m: { reconnects: number }) => s + m.reconnects, 0)).toBeGreaterThan(0);
      expect(summary.modules.map((m: { events: number }) => m.events)).toEqual([EVENTS, EVENTS]);
      expect(await actualTables(socialUrl, 'social', ['registrations', 'feed'])).toEqual(expectedSocial);
      expect(await actualTables(databaseUrl(server.url, 'inbox'), 'inbox', ['messages'])).toEqual(expectedInbox);
    });
  });
});
