// One run at a time per output folder, and clearing what runs killed with -9 left behind.
//
// A lock file is created with O_EXCL (open 'wx') before the command touches anything else in the
// folder, and holds pid, host, start time and the command. A lock whose process is gone (same host,
// pid not alive, or alive but started at another time: a reused pid) is stale and taken over; a
// takeover is itself serialized by a second O_EXCL file, so two runs that find the same stale lock
// cannot both take it.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, open, readFile, readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { isAlive } from '../services/system.ts';
import { UserError } from './errors.ts';

export interface LockOwner {
  pid: number;
  host: string;
  /** ISO time the run started. */
  since: string;
  /** The process's start time in clock ticks since boot (Linux), to tell a reused pid apart. */
  startTicks?: number;
  command: string;
}

/** When process `pid` started, in clock ticks since boot (field 22 of /proc/PID/stat); undefined off Linux. */
export function processStartTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[19]);
  } catch {
    return undefined;
  }
}

/** True when `owner`'s process is certainly gone (only decidable on our own host). */
export function ownerIsGone(owner: Pick<LockOwner, 'pid' | 'host' | 'startTicks'>): boolean {
  if (owner.host !== os.hostname()) return false;
  if (owner.pid !== process.pid && !isAlive(owner.pid)) return true;
  const ticks = processStartTicks(owner.pid);
  return owner.startTicks !== undefined && ticks !== undefined && ticks !== owner.startTicks;
}

/** A pid taken from a debris file name is gone: not alive, and not ours. */
export function pidIsGone(pid: number): boolean {
  return pid !== process.pid && !isAlive(pid);
}

export function describeOwner(o: LockOwner): string {
  return `${o.command} (pid ${o.pid} on host ${o.host} since ${o.since})`;
}

export class FolderLock {
  private released = false;

  private constructor(readonly file: string, readonly owner: LockOwner) {}

  /**
   * Takes `dir/name` for this process or throws a UserError naming the run that holds it.
   * `what` says what is locked in that message ("--out /x").
   */
  static async acquire(dir: string, name: string, what: string, command: string): Promise<FolderLock> {
    const file = path.join(dir, name);
    const owner: LockOwner = { pid: process.pid, host: os.hostname(), since: new Date().toISOString(), startTicks: processStartTicks(process.pid), command };
    for (let attempt = 0; ; attempt++) {
      try {
        const fh = await open(file, 'wx');
        try {
          await fh.writeFile(JSON.stringify(owner) + '\n');
        } finally {
          await fh.close();
        }
        return new FolderLock(file, owner);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const holder = await readOwner(file);
      // A file that is not there any more, or one being written this instant: try again.
      if (holder === 'gone' || (holder === 'unreadable' && attempt < 20)) {
        await new Promise((r) => setTimeout(r, 10));
        continue;
      }
      if (holder !== 'unreadable' && !ownerIsGone(holder)) {
        throw new UserError(`${what} is in use by ${describeOwner(holder)}: wait for it to finish, or choose another folder`);
      }
      if (attempt > 20) throw new UserError(`${what}: cannot take over the stale lock ${file}; remove it if no ferry run uses the folder`);
      await takeOver(file, holder === 'unreadable' ? undefined : holder);
    }
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    // Only our own lock: never remove one a later run took over.
    const holder = await readOwner(this.file);
    if (typeof holder === 'object' && holder.pid === this.owner.pid && holder.since === this.owner.since) await rm(this.file, { force: true });
  }
}

async function readOwner(file: string): Promise<LockOwner | 'gone' | 'unreadable'> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'gone' : 'unreadable';
  }
  try {
    const o = JSON.parse(text) as LockOwner;
    return typeof o.pid === 'number' && typeof o.host === 'string' ? o : 'unreadable';
  } catch {
    return 'unreadable';
  }
}

/** Removes a stale lock, unless another run is taking it over right now or took it already. */
async function takeOver(file: string, stale: LockOwner | undefined): Promise<void> {
  const guard = `${file}.takeover`;
  let fh;
  try {
    fh = await open(guard, 'wx');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    // A run killed in the middle of a takeover leaves the guard: old guards are cleared.
    const age = await stat(guard).then((s) => Date.now() - s.mtimeMs, () => 0);
    if (age > 10_000) await rm(guard, { force: true });
    await new Promise((r) => setTimeout(r, 20));
    return;
  }
  try {
    await fh.close();
    const now = await readOwner(file);
    const same = now === 'unreadable' ? stale === undefined : typeof now === 'object' && stale !== undefined && now.pid === stale.pid && now.since === stale.since;
    if (same) await rm(file, { force: true });
  } finally {
    await rm(guard, { force: true });
  }
}

/**
 * Removes entries of `dir` whose name matches `pattern` (its first group: the pid of the run that
 * made them) when that run is gone: temporary files, staging folders and spill folders of runs
 * killed with -9. Returns the removed paths.
 */
export async function removeDebris(dir: string, pattern: RegExp): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const removed: string[] = [];
  for (const name of names) {
    const m = pattern.exec(name);
    if (!m || !pidIsGone(Number(m[1]))) continue;
    const full = path.join(dir, name);
    await rm(full, { recursive: true, force: true });
    removed.push(full);
  }
  return removed;
}

/**
 * Where the lock of a step's --out lives: in the OS temp folder, named after the folder's absolute
 * path, so that it is taken at the first moment without creating anything in the user's tree (a
 * run that fails at once leaves no --out, nor its parents, behind).
 */
export function outputLockFile(out: string, step: 'extract' | 'transform', suffix = ''): { dir: string; name: string } {
  const digest = createHash('sha1').update(`${path.resolve(out)}\n${suffix}`).digest('hex').slice(0, 20);
  return { dir: path.join(os.tmpdir(), 'ferry-locks'), name: `${step}-${digest}.lock` };
}

/** Takes the lock of a step's --out (see outputLockFile), or throws a UserError naming the run that holds it. */
export async function lockOutput(out: string, step: 'extract' | 'transform', suffix: string, command: string): Promise<FolderLock> {
  const { dir, name } = outputLockFile(out, step, suffix);
  await mkdir(dir, { recursive: true, mode: 0o1777 });
  return FolderLock.acquire(dir, name, `--out ${path.resolve(out)}`, command);
}
