// Output folders given on the command line (--out, --schemas-out, --tmp-dir), and file-system errors
// said in words. Folders are made one level at a time: Node 20's recursive mkdir never returns where
// the file system refuses a new entry with ENOENT (under /proc), and a command must fail at once with
// one line instead. A command checks its folders before its work and makes them when the work starts,
// so one that fails at once leaves nothing behind.
import { constants } from 'node:fs';
import { access, mkdir, rmdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { UserError } from './errors.ts';

/** What a file-system error code means to a user. */
export function fsReason(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  switch (e?.code) {
    case 'EACCES':
    case 'EPERM': return 'permission denied';
    case 'EROFS': return 'read-only file system';
    case 'ENOSPC': return 'no space left on the device';
    case 'EDQUOT': return 'disk quota exceeded';
    case 'ENOTDIR': return 'a part of the path is a file, not a folder';
    case 'EISDIR': return 'it is a folder, not a file';
    case 'EEXIST': return 'a file of that name is in the way';
    case 'ENOENT': return 'no such file or folder';
    case 'ENAMETOOLONG': return 'the name is too long';
    default: return e?.code ?? e?.message ?? String(err);
  }
}

/**
 * Fails at once, with one line, if `dir` cannot be made or written to, without leaving anything:
 * an existing folder is probed with access(W_OK), a missing one by making and removing its first
 * missing level.
 */
export async function checkOutputDir(dir: string, flag: string): Promise<void> {
  const { existing, missing } = await walkUp(dir, flag);
  if (missing.length === 0) {
    await access(existing, constants.W_OK).catch((err) => {
      throw new UserError(`${flag} ${dir}: cannot write there (${fsReason(err)}): choose another folder`, { cause: err });
    });
    return;
  }
  // Only a folder this probe made is removed: another run may have made it meanwhile, and use it.
  if (await makeLevel(missing[0], dir, flag)) await rmdir(missing[0]).catch(() => undefined);
}

/** Makes `dir` and its missing parents; returns the first folder it made (undefined: it existed). */
export async function makeOutputDir(dir: string, flag: string): Promise<string | undefined> {
  const { missing } = await walkUp(dir, flag);
  for (const level of missing) await makeLevel(level, dir, flag);
  return missing[0];
}

/** Removes what makeOutputDir made, from `dir` up to `first`, as far as it is still empty. */
export async function removeIfEmpty(dir: string, first: string | undefined): Promise<void> {
  if (!first) return;
  const top = path.resolve(first);
  for (let level = path.resolve(dir); ; level = path.dirname(level)) {
    // rmdir removes only empty folders: anything written stays.
    if (!(await rmdir(level).then(() => true, () => false))) return;
    if (level === top || path.dirname(level) === level) return;
  }
}

async function walkUp(dir: string, flag: string): Promise<{ existing: string; missing: string[] }> {
  const missing: string[] = [];
  for (let level = path.resolve(dir); ; level = path.dirname(level)) {
    try {
      const s = await stat(level);
      if (!s.isDirectory()) {
        throw new UserError(`${flag} ${dir}: ${level === path.resolve(dir) ? 'it' : level} is a file, not a folder: choose another folder`);
      }
      return { existing: level, missing };
    } catch (err) {
      if (err instanceof UserError) throw err;
      // ENOTDIR: a file higher up, which the next level says by name.
      if (!['ENOENT', 'ENOTDIR'].includes((err as NodeJS.ErrnoException).code ?? '') || path.dirname(level) === level) {
        throw new UserError(`${flag} ${dir}: cannot use ${level} (${fsReason(err)}): choose another folder`, { cause: err });
      }
      missing.unshift(level);
    }
  }
}

/** Makes one folder; false if another process made it meanwhile. */
async function makeLevel(level: string, dir: string, flag: string): Promise<boolean> {
  try {
    await mkdir(level);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' && (await stat(level).then((s) => s.isDirectory(), () => false))) return false;
    // ENOENT for a folder whose parent exists: a file system that takes no new entries (/proc, /sys).
    const why = code === 'ENOENT' ? 'this file system does not take new folders' : fsReason(err);
    throw new UserError(`${flag} ${dir}: cannot create ${level} (${why}): choose another folder`, { cause: err });
  }
}
