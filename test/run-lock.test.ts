// One run per output folder from the first moment (extract and transform --out), what a run killed
// with -9 leaves behind cleared by the next run, and extract --resume after a kill at any moment
// (also before its manifest exists). Real child processes, real PostgreSQL.
import { spawn } from 'node:child_process';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FolderLock, outputLockFile, processStartTicks } from '../lib/run-lock.ts';
import { generateTypes } from '../transform/codegen.ts';
import { runTransformJob } from '../transform/engine.ts';
import { createLegacyDb, readPlain, type LegacyDb } from './extract-helpers.ts';
import { writeLegacyDumps, writeProject } from './fixtures/transform-project.ts';
import { FERRY, ROOT, runFerry, tempDir } from './helpers.ts';

let db: LegacyDb;
let tdumps: string;
let tconfig: string;

beforeAll(async () => {
  db = await createLegacyDb('ferry_lock');
  await db.query(`
    CREATE TABLE messages (id integer PRIMARY KEY, body text NOT NULL);
    INSERT INTO messages SELECT g, repeat('viesti ' || g || ' ', 1 + g % 5) FROM generate_series(1, 40000) g;
    CREATE TABLE members (id integer PRIMARY KEY, name text NOT NULL);
    INSERT INTO members SELECT g, 'member ' || g FROM generate_series(1, 3000) g;
  `);
  const work = await tempDir('ferry-lock-transform-');
  tdumps = path.join(work, 'dumps');
  await writeLegacyDumps(tdumps, { members: 3_000, favorites: 6_000 }, 200);
  tconfig = await writeProject(path.join(work, 'project'));
  await generateTypes({ inDir: tdumps, outDir: path.join(work, 'project', 'generated'), configFile: tconfig });
});

afterAll(async () => {
  await db?.drop();
});

function spawnFerry(args: string[]) {
  const child = spawn(process.execPath, [FERRY, ...args], { cwd: ROOT, env: process.env });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  child.stdout.resume();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stderr })));
  return { child, exited };
}

/** A pid that certainly belongs to no process any more. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((r) => child.on('exit', r));
  return child.pid!;
}

const extractArgs = (out: string) => ['extract', '--from', db.url, '--out', out, '--schemas-out', path.join(out, 'schemas'), '--chunk-rows', '2000'];

describe('FolderLock', () => {
  it('refuses a live holder with pid, host and since; takes over a dead one and one whose pid was reused', async () => {
    const dir = await tempDir();
    const lock = await FolderLock.acquire(dir, '.x.lock', '--out X', 'ferry test');
    // Another process asking for the same lock is refused with who holds it.
    const other = await new Promise<string>((resolve) => {
      const c = spawn(process.execPath, ['--import', 'tsx', '-e',
        `import { FolderLock } from '${path.join(ROOT, 'lib/run-lock.ts')}'; FolderLock.acquire(${JSON.stringify(dir)}, '.x.lock', '--out X', 'ferry test2').then(() => console.log('TAKEN'), (e) => console.log(e.message));`], { cwd: ROOT });
      let out = '';
      c.stdout.on('data', (d) => (out += d));
      c.on('close', () => resolve(out.trim()));
    });
    expect(other).toBe(`--out X is in use by ferry test (pid ${process.pid} on host ${os.hostname()} since ${lock.owner.since}): wait for it to finish, or choose another folder`);
    await lock.release();

    // A lock left by a process that is gone is stale.
    const dead = await deadPid();
    await writeFile(path.join(dir, '.x.lock'), JSON.stringify({ pid: dead, host: os.hostname(), since: '2020-01-01T00:00:00.000Z', command: 'ferry extract' }));
    const taken = await FolderLock.acquire(dir, '.x.lock', '--out X', 'ferry test');
    expect(JSON.parse(await readFile(path.join(dir, '.x.lock'), 'utf8')).pid).toBe(process.pid);
    await taken.release();
    // A live pid that started at another time than the lock says is a reused pid: stale too.
    await writeFile(path.join(dir, '.x.lock'), JSON.stringify({ pid: process.ppid, host: os.hostname(), since: '2020-01-01T00:00:00.000Z', startTicks: processStartTicks(process.ppid)! + 1, command: 'ferry extract' }));
    const again = await FolderLock.acquire(dir, '.x.lock', '--out X', 'ferry test');
    await again.release();
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('extract --out', () => {
  it('two extracts into the same --out: the second is refused from its first moment, the first completes', async () => {
    const out = await tempDir();
    const first = spawnFerry([...extractArgs(out), '--max-rows-per-second', '20000']);
    await sleep(200);
    // Started while the first is still starting up or planning (before any manifest exists).
    const second = await runFerry(extractArgs(out));
    const a = await first.exited;
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(new RegExp(`^ferry: --out ${out} is in use by ferry extract \\(pid ${first.child.pid} on host \\S+ since \\S+\\): wait for it to finish, or choose another folder\\n$`));
    expect(a.stderr).not.toContain('ferry:');
    expect(a.code).toBe(0);
    expect((await readPlain(path.join(out, 'public.messages.pb.gz'))).length).toBe(40000);
    expect((await readdir(out)).filter((f) => f.startsWith('.'))).toEqual([]);
  });

  it('--resume after SIGKILL at any moment (before the manifest exists too) gives the dumps of an uninterrupted run; debris of dead runs is removed', async () => {
    const plainOut = await tempDir();
    expect((await runFerry(extractArgs(plainOut))).code).toBe(0);
    const plain = await readPlain(path.join(plainOut, 'public.messages.pb.gz'));
    for (const delay of [100, 900, 2500]) {
      const out = await tempDir();
      const run = spawnFerry([...extractArgs(out), '--max-rows-per-second', '15000']);
      await sleep(delay);
      run.child.kill('SIGKILL');
      expect((await run.exited).signal).toBe('SIGKILL');
      // What a killed run may leave: a manifest temp file (here planted with a dead pid) and its lock.
      await writeFile(path.join(out, `extract-manifest.json.tmp-${await deadPid()}`), '{');
      const resumed = await runFerry([...extractArgs(out), '--resume']);
      expect(resumed.code, `${delay} ms: ${resumed.stderr}`).toBe(0);
      const manifest = JSON.parse(await readFile(path.join(out, 'extract-manifest.json'), 'utf8'));
      expect(manifest.status).toBe('complete');
      expect(await readPlain(path.join(out, 'public.messages.pb.gz'))).toEqual(plain);
      expect((await readdir(out)).filter((f) => f.startsWith('.') || f.includes('.tmp-') || f.includes('partial'))).toEqual([]);
    }
  });

  it('--resume when there is nothing to resume starts from the beginning with a note', async () => {
    const out = await tempDir();
    const r = await runFerry([...extractArgs(out), '--tables', 'public.members', '--resume']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`note: nothing to resume in ${out} (no extract-manifest.json yet): starting from the beginning`);
    expect((await readPlain(path.join(out, 'public.members.pb.gz'))).length).toBe(3000);
  });
});

describe('transform --out', () => {
  it('two transforms into the same --out: the second is refused; staging and spill folders of dead runs are removed', async () => {
    const parent = await tempDir();
    const out = path.join(parent, 'events');
    const spill = path.join(parent, 'spill');
    await mkdir(spill);
    const dead = await deadPid();
    // Debris of a run killed with -9: its staging folder beside --out and its spill folder.
    await mkdir(path.join(parent, `.events.ferry-transform-${dead}`));
    await mkdir(path.join(spill, `ferry-sort-${dead}-AbC123`));
    // And the spill folder of a live process, which must stay.
    await mkdir(path.join(spill, `ferry-sort-${process.pid}-XyZ789`));
    const args = ['transform', '--in', tdumps, '--out', out, '--config', tconfig, '--workers', '0', '--order', 'occurred_at', '--memory-mb', '1', '--tmp-dir', spill];
    // The first type-checks the project (seconds) while holding --out.
    const first = spawnFerry(args);
    // Wait until the first holds the lock.
    const lockFile = outputLockFile(out, 'transform');
    for (let i = 0; i < 400 && !(await readdir(lockFile.dir).catch(() => [] as string[])).includes(lockFile.name); i++) await sleep(25);
    const second = await runFerry([...args, '--no-typecheck']);
    const a = await first.exited;
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(new RegExp(`^ferry: --out ${out} is in use by ferry transform \\(pid ${first.child.pid} on host \\S+ since \\S+\\): wait for it to finish, or choose another folder\\n$`));
    expect(a.code, a.stderr).toBe(0);
    expect(await readdir(out)).toEqual(['events.pb.gz']);
    expect((await readdir(parent)).sort()).toEqual(['events', 'spill']);
    expect(await readdir(spill)).toEqual([`ferry-sort-${process.pid}-XyZ789`]);
  });

  it('the engine refuses a second job on the same --out while the first runs', async () => {
    const out = path.join(await tempDir(), 'ev');
    const options = { inDir: tdumps, outDir: out, configFile: tconfig, workers: 0, typecheck: false, quiet: true };
    const results = await Promise.allSettled([runTransformJob(options), runTransformJob(options)]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    const refused = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(refused.reason.message).toMatch(/is in use by ferry transform \(pid \d+/);
  });
});
