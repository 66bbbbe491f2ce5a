// Ctrl-C on every step: a real child run gets SIGINT, says what it had done and the exact command to
// continue, exits 130 and leaves nothing half-written that looks complete; running that command
// finishes the work exactly. Also: a seed checkpoint names the dump it belongs to, and `ferry
// services` keeps track of a PostgreSQL restarted with pg_ctl.
import { spawn } from 'node:child_process';
import { mkdir, readFile, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLegacyDb, readPlain, type LegacyDb } from './extract-helpers.ts';
import { writeSampleEventDump } from './fixtures/event-dumps.ts';
import { actualTables, databaseUrl, expectedTables, inboxHandlers, socialHandlers, sql, writeModulesConfig } from './fixtures/modules-feed.ts';
import { writeLegacyDumps, writeProject } from './fixtures/transform-project.ts';
import { FERRY, ROOT, runFerry, tempDir, waitFor } from './helpers.ts';
import { deleteQueues, drainQueue, uniqueName, writeConfig, writeDumps } from './seed-rabbitmq-helpers.ts';

let db: LegacyDb;
const SERVER = () => process.env.FERRY_PG_URL!;
const AMQP = () => process.env.FERRY_AMQP_URL!;
const cleanup: Array<() => Promise<void>> = [];

beforeAll(async () => {
  db = await createLegacyDb('ferry_sigint');
  await db.query(`
    CREATE TABLE messages (id integer PRIMARY KEY, body text NOT NULL);
    INSERT INTO messages SELECT g, repeat('viesti ' || g || ' ', 1 + g % 5) FROM generate_series(1, 30000) g;
  `);
});

afterAll(async () => {
  await db?.drop();
  for (const c of cleanup.reverse()) await c().catch(() => undefined);
});

function spawnFerry(args: string[]) {
  const child = spawn(process.execPath, [FERRY, ...args], { cwd: ROOT, env: process.env });
  let stderr = '';
  let stdout = '';
  child.stderr.on('data', (d) => (stderr += d));
  child.stdout.on('data', (d) => (stdout += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; stdout: string }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stderr, stdout })));
  return { child, exited, stderr: () => stderr };
}


/**
 * The "continue with:" command of an interrupted run's last line must be `args` plus `add` (the
 * password masked); returns that command's argv with the real URL, to run it.
 */
function continueArgs(stderr: string, args: string[], add: string[]): string[] {
  const last = stderr.trim().split('\n').at(-1)!;
  const shown = args.map((a) => (/^\w+:\/\/[^:]+:[^@]+@/.test(a) ? `'${a.replace(/^(\w+:\/\/[^:]+:)[^@]+@/, '$1***@')}'` : a));
  expect(last.slice(last.indexOf('; continue with: '))).toBe(`; continue with: npx ferry ${[...shown, ...add].join(' ')}`);
  return [...args, ...add];
}

describe('Ctrl-C', () => {
  it('extract: exit 130, what was done and the --resume command; that command completes the same dump', async () => {
    const out = await tempDir();
    const args = ['extract', '--from', db.url, '--out', out, '--schemas-out', path.join(out, 'schemas'), '--chunk-rows', '1000', '--max-rows-per-second', '8000'];
    const run = spawnFerry(args);
    await waitFor('a checkpoint', async () => {
      try {
        return JSON.parse(await readFile(path.join(out, 'extract-manifest.json'), 'utf8')).tables[0].parts[0].checkpoints.length > 0;
      } catch {
        return false;
      }
    });
    run.child.kill('SIGINT');
    const r = await run.exited;
    expect(r.code).toBe(130);
    const last = r.stderr.trim().split('\n').at(-1)!;
    expect(last).toMatch(/^ferry: interrupted: 0 table\(s\) finished, [\d,.]+k? rows written this run; every finished chunk is checkpointed in .*; continue with: npx ferry extract .* --resume$/);
    // Nothing looks complete: no finished dump, the manifest says the run did not complete.
    expect((await readdir(out)).filter((f) => f.endsWith('.pb.gz'))).toEqual([]);
    expect(JSON.parse(await readFile(path.join(out, 'extract-manifest.json'), 'utf8')).status).not.toBe('complete');
    const resumed = await runFerry(continueArgs(r.stderr, args, ['--resume']));
    expect(resumed.code, resumed.stderr).toBe(0);
    const rows = await readPlain(path.join(out, 'public.messages.pb.gz'));
    expect(rows.map((x) => x.id)).toEqual(Array.from({ length: 30000 }, (_, i) => i + 1));
  });

  it('transform: exit 130, nothing published to --out, no staging or spill folder left', async () => {
    const work = await tempDir();
    const dumps = path.join(work, 'dumps');
    await writeLegacyDumps(dumps, { members: 20_000, favorites: 40_000 }, 200);
    const config = await writeProject(path.join(work, 'project'));
    const out = path.join(work, 'events');
    const spill = path.join(work, 'spill');
    await mkdir(spill);
    const run = spawnFerry(['transform', '--in', dumps, '--out', out, '--config', config, '--no-typecheck', '--workers', '0', '--order', 'occurred_at', '--memory-mb', '1', '--tmp-dir', spill]);
    await waitFor('spilling', async () => (await readdir(spill).catch(() => [])).length > 0);
    run.child.kill('SIGINT');
    const r = await run.exited;
    expect(r.code).toBe(130);
    expect(r.stderr.trim().split('\n').at(-1)).toMatch(/^ferry: interrupted: [\d]+ of \d+ rows transformed; nothing was written to .*events \(outputs are published only when a run completes\); continue with: npx ferry transform .*$/);
    // --out holds nothing (no event dump looks complete); no staging folder or lock beside it.
    expect((await readdir(work)).filter((f) => f !== 'events').sort()).toEqual(['dumps', 'project', 'spill']);
    expect(await readdir(out).catch(() => [])).toEqual([]);
    expect(await readdir(spill)).toEqual([]);
  });

  it('seed modules: exit 130 with the events committed per module; the --resume command finishes exactly', async () => {
    const input = await tempDir();
    await writeSampleEventDump(path.join(input, 'a.pb.gz'), 9_000, { blockRecords: 500, bodyBytes: 60 });
    const social = `sigint_s_${process.pid}`;
    const inbox = `sigint_i_${process.pid}`;
    cleanup.push(async () => {
      for (const d of [social, inbox]) await sql(SERVER(), `DROP DATABASE IF EXISTS ${d} WITH (FORCE)`);
    });
    const config = await writeModulesConfig(await tempDir(), `[socialModule({ database: '${social}' }), inboxModule({ database: '${inbox}' })]`);
    const args = ['seed', 'modules', '--in', input, '--url', SERVER(), '--create-databases', '--config', config, '--batch-size', '50', '--quiet'];
    const run = spawnFerry(args);
    const socialUrl = databaseUrl(SERVER(), social);
    const inboxUrl = databaseUrl(SERVER(), inbox);
    await waitFor('a committed batch', async () => {
      try {
        return Number((await sql<{ n: string }>(socialUrl, 'SELECT count(*) AS n FROM social.ferry_progress'))[0].n) > 0;
      } catch {
        return false;
      }
    });
    run.child.kill('SIGINT');
    const r = await run.exited;
    expect(r.code).toBe(130);
    expect(r.stderr.trim().split('\n').at(-1)).toMatch(/^ferry: interrupted: events committed this run per module: social \d+, inbox \d+; each module's ferry_progress records exactly what is applied; continue with: npx ferry seed modules .* --resume$/);
    const resumed = await runFerry(continueArgs(r.stderr, args, ['--resume']));
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(await actualTables(socialUrl, 'social', ['registrations', 'feed'])).toEqual(expectedTables(socialHandlers as never, 9_000, ['registrations', 'feed'], 60));
    expect(await actualTables(inboxUrl, 'inbox', ['messages'])).toEqual(expectedTables(inboxHandlers as never, 9_000, ['messages'], 60));
  });

  it('seed rabbitmq: exit 130 (was 1) with the --resume command; the checkpoint is saved', async () => {
    const dir = await tempDir();
    const exchange = uniqueName('ferry.test.sigint');
    const queue = uniqueName('ferry.test.sigint-all');
    cleanup.push(() => deleteQueues(AMQP(), [queue], [exchange]));
    await writeDumps(dir, [['a.events.pb.gz', 0, 40_000]], { blockRecords: 2_000 });
    const config = await writeConfig(dir, { exchange, queues: [{ name: queue, bindings: ['#'] }] });
    const args = ['seed', 'rabbitmq', '--in', dir, '--url', AMQP(), '--declare', '--config', config, '--batch-size', '100', '--window', '500', '--quiet'];
    const run = spawnFerry(args);
    const checkpoint = path.join(dir, '.ferry-seed-rabbitmq.json');
    await waitFor('a checkpoint', async () => (await readFile(checkpoint, 'utf8').catch(() => '')).includes('"next"'));
    run.child.kill('SIGINT');
    const r = await run.exited;
    expect(r.code).toBe(130);
    expect(r.stderr.trim().split('\n').at(-1)).toMatch(/^ferry: interrupted: \d+ events confirmed by the broker; checkpoint .* is saved; continue with: npx ferry seed rabbitmq .* --resume$/);
    const resumed = await runFerry(continueArgs(r.stderr, args, ['--resume']));
    expect(resumed.code, resumed.stderr).toBe(0);
    const ids = new Set((await drainQueue(AMQP(), queue)).map((m) => m.properties.messageId));
    expect(ids.size).toBe(40_000);
  });
});

describe('seed rabbitmq checkpoint identity', () => {
  it('refuses --resume over a different dump with the same name and event count', async () => {
    const dir = await tempDir();
    const exchange = uniqueName('ferry.test.identity');
    const queue = uniqueName('ferry.test.identity-all');
    cleanup.push(() => deleteQueues(AMQP(), [queue], [exchange]));
    await writeDumps(dir, [['a.events.pb.gz', 0, 2_000]], { blockRecords: 500 });
    const config = await writeConfig(dir, { exchange, queues: [{ name: queue, bindings: ['#'] }] });
    const args = ['seed', 'rabbitmq', '--in', dir, '--url', AMQP(), '--declare', '--config', config, '--quiet'];
    expect((await runFerry(args)).code).toBe(0);
    // A re-run transform: same file name, same count, other events.
    await rm(path.join(dir, 'a.events.pb.gz'));
    await writeDumps(dir, [['a.events.pb.gz', 5_000, 2_000]], { blockRecords: 500 });
    const r = await runFerry([...args, '--resume']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ferry: a\.events\.pb\.gz is not the dump checkpoint .*\.ferry-seed-rabbitmq\.json was written for \(now \d+ bytes, blocks [0-9a-f]{16}, then \d+ bytes, blocks [0-9a-f]{16}\): the input changed, pass --restart to publish everything again\n$/);
    // --resume with nothing to resume: a note, then from the start.
    const fresh = await tempDir();
    await writeDumps(fresh, [['a.events.pb.gz', 0, 100]]);
    const q2 = uniqueName('ferry.test.identity-fresh');
    cleanup.push(() => deleteQueues(AMQP(), [q2]));
    const config2 = await writeConfig(fresh, { exchange, queues: [{ name: q2, bindings: ['#'] }] });
    const f = await runFerry(['seed', 'rabbitmq', '--in', fresh, '--url', AMQP(), '--declare', '--config', config2, '--resume', '--quiet']);
    expect(f.code).toBe(0);
    expect(f.stderr).toContain('note: nothing to resume (no checkpoint');
  });
});
