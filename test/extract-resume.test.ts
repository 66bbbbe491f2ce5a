// Crashes and dropped connections: a real `ferry extract` child killed with SIGKILL mid-run and
// continued with --resume gives the same dumps as an uninterrupted run; a connection terminated
// by the server mid-run is retried and the run succeeds.
import { spawn } from 'node:child_process';
import { open, readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DumpReader, verifyPath } from '../dumps/index.ts';
import { createLegacyDb, readPlain, type LegacyDb } from './extract-helpers.ts';
import { FERRY, ROOT, runFerry, tempDir } from './helpers.ts';

let db: LegacyDb;

beforeAll(async () => {
  db = await createLegacyDb('ferry_resume');
  await db.query(`
    CREATE TABLE messages (sender integer NOT NULL, id integer NOT NULL, body text, amount numeric(12,2), sent timestamp(6),
      PRIMARY KEY (sender, id));
    INSERT INTO messages SELECT g % 97, g, repeat('viesti ' || g || ' ', 1 + g % 7), (g * 37 % 100000) / 100.0,
      timestamp '2015-01-01' + g * interval '17 seconds 123457 microseconds'
      FROM generate_series(1, 60000) g;
    CREATE TABLE members (id integer PRIMARY KEY, name text NOT NULL);
    INSERT INTO members SELECT g, 'member ' || g FROM generate_series(1, 5000) g;
  `);
});

afterAll(async () => {
  await db?.drop();
});

function spawnFerry(args: string[]) {
  const child = spawn(process.execPath, [FERRY, ...args], { cwd: ROOT, env: { ...process.env, FERRY_RETRY_BASE_MS: '100' } });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  child.stdout.resume();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return { child, exited, stderr: () => stderr };
}

async function manifestOf(dir: string): Promise<{ tables: Array<{ table: string; parts: Array<{ status: string; checkpoints: unknown[]; retries: number; salvagedRows?: number }> }> } | undefined> {
  try {
    return JSON.parse(await readFile(path.join(dir, 'extract-manifest.json'), 'utf8'));
  } catch {
    return undefined;
  }
}

/** Everything of a dump except the run's own timestamps: header, each block's bytes, trailer index. */
async function dumpIdentity(file: string) {
  const reader = await DumpReader.open(file);
  const fh = await open(file, 'r');
  try {
    const { createdAt: _c, origin, ...header } = reader.header;
    const { startedAt: _s, ...originRest } = origin;
    const first = reader.blocks[0]?.offset ?? 0;
    const blocks = [];
    for (const b of reader.blocks) {
      const bytes = Buffer.alloc(b.compressedBytes);
      await fh.read(bytes, 0, b.compressedBytes, b.offset);
      blocks.push({ ...b, offset: b.offset - first, bytes: bytes.toString('base64') });
    }
    return { header: { ...header, descriptorSet: Buffer.from(header.descriptorSet).toString('base64'), origin: originRest }, records: reader.trailer.records, blocks };
  } finally {
    await fh.close();
    await reader.close();
  }
}

const ARGS = ['--tables', 'messages,members', '--parts', '2', '--chunk-rows', '2000', '--concurrency', '2'];

describe('ferry extract: crash, kill and resume', () => {
  it('continues a SIGKILLed run with --resume and writes the same dumps as an uninterrupted run', async () => {
    const whole = await tempDir('ferry-resume-whole-');
    const uninterrupted = await runFerry(['extract', '--from', db.url, ...ARGS, '--out', whole, '--schemas-out', whole]);
    expect(uninterrupted.code, uninterrupted.stderr).toBe(0);

    const killed = await tempDir('ferry-resume-killed-');
    const run = spawnFerry(['extract', '--from', db.url, ...ARGS, '--out', killed, '--schemas-out', killed, '--max-rows-per-second', '8000']);
    // Kill it once a few chunks of messages are checkpointed (and before it is done).
    for (let i = 0; i < 300; i++) {
      const m = await manifestOf(killed);
      const checkpoints = m?.tables.find((t) => t.table === 'public.messages')?.parts.reduce((s, p) => s + p.checkpoints.length, 0) ?? 0;
      if (checkpoints >= 4) break;
      await sleep(50);
    }
    run.child.kill('SIGKILL');
    expect((await run.exited).signal).toBe('SIGKILL');
    const afterKill = await readdir(killed);
    expect(afterKill.some((f) => f.includes('messages') && f.includes('.partial-'))).toBe(true);
    expect(afterKill.filter((f) => f.startsWith('public.messages') && f.endsWith('.pb.gz'))).toEqual([]);
    expect((await manifestOf(killed))!.tables.length).toBe(2);

    // Without --resume the folder's unfinished run is not silently thrown away.
    const refused = await runFerry(['extract', '--from', db.url, ...ARGS, '--out', killed]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('holds an unfinished extract (running): continue it with --resume');

    const resumed = await runFerry(['extract', '--from', db.url, '--resume', '--out', killed, '--schemas-out', killed, '--json']);
    expect(resumed.code, resumed.stderr).toBe(0);
    const summary = JSON.parse(resumed.stdout);
    expect(summary.tables.map((t: { table: string; rows: number }) => [t.table, t.rows])).toEqual([['public.messages', 60000], ['public.members', 5000]]);
    const manifest = (await manifestOf(killed))!;
    const messageParts = manifest.tables.find((t) => t.table === 'public.messages')!.parts;
    // Rows of the killed run were taken from its partial files, not read again.
    expect(messageParts.some((p) => (p.salvagedRows ?? 0) > 0)).toBe(true);

    const files = (await readdir(whole)).filter((f) => f.endsWith('.pb.gz')).sort();
    expect(files).toHaveLength(4);
    expect((await readdir(killed)).filter((f) => f.endsWith('.pb.gz')).sort()).toEqual(files);
    expect((await readdir(killed)).filter((f) => f.includes('.partial-'))).toEqual([]);
    for (const f of files) {
      expect(await dumpIdentity(path.join(killed, f)), f).toEqual(await dumpIdentity(path.join(whole, f)));
    }
    expect((await verifyPath(killed)).every((v) => v.ok)).toBe(true);
    const rows = [];
    for (const f of files.filter((f) => f.startsWith('public.messages'))) rows.push(...(await readPlain(path.join(killed, f))));
    const expected = await db.query<{ sender: number; id: number; body: string }>('SELECT sender, id, body FROM messages ORDER BY sender, id');
    expect(rows.map((r) => [r.sender, r.id, r.body])).toEqual(expected.map((e) => [e.sender, e.id, e.body]));
  });

  it('retries when the server terminates its connection mid-run, and the dump is complete', async () => {
    const out = await tempDir('ferry-resume-drop-');
    const run = spawnFerry(['extract', '--from', db.url, '--tables', 'messages', '--chunk-rows', '1500', '--max-rows-per-second', '20000', '--out', out, '--schemas-out', out]);
    let terminated = 0;
    let exited = false;
    void run.exited.then(() => (exited = true));
    // Mid-run: once the first chunk is checkpointed (planning is over, chunks are being read).
    while (!exited && !(await manifestOf(out))?.tables[0]?.parts[0]?.checkpoints.length) await sleep(20);
    // The rate limit holds queries back (connections sit idle in the pool, and an idle one that is
    // terminated is just replaced): end backends while they run a chunk's query.
    while (!exited && !/retry 1/.test(run.stderr())) {
      const r = await db.query<{ t: boolean }>(
        `SELECT pg_terminate_backend(pid) AS t FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'ferry extract' AND state = 'active'`,
      );
      terminated += r.filter((x) => x.t).length;
      await sleep(3);
    }
    const { code } = await run.exited;
    expect(code, run.stderr()).toBe(0);
    expect(terminated).toBeGreaterThan(0);
    expect(run.stderr()).toMatch(/public\.messages: .*(terminat|Connection|connection).*; retry 1 in/);
    const rows = await readPlain(path.join(out, 'public.messages.pb.gz'));
    const expected = await db.query<{ sender: number; id: number; amount: string }>('SELECT sender, id, amount::text AS amount FROM messages ORDER BY sender, id');
    expect(rows.map((r) => [r.sender, r.id, r.amount])).toEqual(expected.map((e) => [e.sender, e.id, e.amount]));
    const manifest = (await manifestOf(out))!;
    expect(manifest.tables[0].parts[0].retries).toBeGreaterThan(0);
  });
});
