// `ferry transform --watch`: re-runs the transform (as a child `ferry transform --json`, so every
// run loads the transforms fresh) whenever a config, transform or schema file is saved, and prints
// the counts and what changed since the previous run.
import { spawn, type ChildProcess } from 'node:child_process';
import { watch, type FSWatcher } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TransformSummary } from './engine.ts';

const FERRY = fileURLToPath(new URL('../bin/ferry.js', import.meta.url));
const WATCHED = /\.(ts|mts|cts|js|mjs|proto|json)$/;
const DEBOUNCE_MS = 200;

export interface WatchOptions {
  configFile: string;
  /** The transform command's arguments (with or without --watch). */
  args: string[];
  out?: NodeJS.WritableStream;
}

export async function watchTransform(options: WatchOptions): Promise<void> {
  const out = options.out ?? process.stdout;
  const root = path.dirname(path.resolve(options.configFile));
  const args = [...options.args.filter((a) => a !== '--watch' && a !== '--json'), '--digests'];
  let child: ChildProcess | undefined;
  const stop = () => {
    child?.kill('SIGTERM');
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);

  let dirty: string[] = [];
  let wake: (() => void) | undefined;
  watchTree(root, (name) => {
    if (!WATCHED.test(name)) return;
    if (!dirty.includes(name)) dirty.push(name);
    wake?.();
  }, (err) => out.write(`ferry: watching ${root} failed: ${(err as Error).message}\n`));

  out.write(`watching ${root} (config, transforms, schemas); Ctrl-C to stop\n`);
  let previous: TransformSummary | undefined;
  for (let run = 1; ; run++) {
    const changed = dirty;
    dirty = [];
    const result = await runOnce(args, (c) => (child = c));
    child = undefined;
    const why = run === 1 ? '' : ` (${changed.join(', ')} changed)`;
    if ('error' in result) out.write(`run ${run}${why} failed: ${result.error}\n`);
    else {
      out.write(describeRun(run, why, result.summary, previous));
      previous = result.summary;
    }
    if (dirty.length === 0) await new Promise<void>((resolve) => (wake = resolve));
    wake = undefined;
    // Editors save in several steps: wait until the writes settle.
    await new Promise((resolve) => setTimeout(resolve, DEBOUNCE_MS));
  }
}

/**
 * Calls `changed` with the path (relative to `root`) of every file created, written, renamed or
 * removed under it, leaving out dot-folders and node_modules. Each folder is watched itself, not each
 * file: an editor that saves by writing a new file and renaming it over the old one (sed -i, atomic
 * saves) replaces the file, and a watch on the file (what Node 20's recursive watch does on Linux)
 * stays on the replaced one and misses every later save.
 */
export function watchTree(root: string, changed: (name: string) => void, failed: (err: Error) => void): { close(): void } {
  const watchers = new Map<string, FSWatcher>();
  const skip = (name: string) => name.startsWith('.') || name === 'node_modules';
  const add = (dir: string) => {
    if (watchers.has(dir)) return;
    let w: FSWatcher;
    try {
      w = watch(dir, (_event, filename) => {
        if (!filename) return;
        const file = path.join(dir, filename.toString());
        if (skip(path.basename(file))) return;
        // A new folder (made, or renamed into place) is watched too.
        stat(file).then(
          (s) => (s.isDirectory() ? addTree(file) : undefined),
          () => watchers.get(file)?.close(),
        ).catch(failed);
        changed(path.relative(root, file));
      });
    } catch (err) {
      // A folder removed between listing and watching is no error.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') failed(err as Error);
      return;
    }
    w.on('error', () => {
      w.close();
      watchers.delete(dir);
    });
    w.on('close', () => watchers.delete(dir));
    watchers.set(dir, w);
  };
  const addTree = async (dir: string): Promise<void> => {
    add(dir);
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries) if (e.isDirectory() && !skip(e.name)) await addTree(path.join(dir, e.name));
  };
  addTree(root).catch(failed);
  return { close: () => [...watchers.values()].forEach((w) => w.close()) };
}

async function runOnce(args: string[], started: (c: ChildProcess) => void): Promise<{ summary: TransformSummary } | { error: string }> {
  const child = spawn(process.execPath, [FERRY, 'transform', ...args, '--json'], { env: { ...process.env, FERRY_QUIET: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  started(child);
  const collect = async (stream: NodeJS.ReadableStream) => {
    let text = '';
    for await (const chunk of stream) text += chunk.toString();
    return text;
  };
  const [stdout, stderr, code] = await Promise.all([
    collect(child.stdout!),
    collect(child.stderr!),
    new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? 1))),
  ]);
  if (code !== 0) return { error: stderr.trim().split('\n').at(-1)?.replace(/^ferry: /, '') ?? `exit code ${code}` };
  try {
    return { summary: JSON.parse(stdout) as TransformSummary };
  } catch {
    return { error: 'the run printed no JSON summary' };
  }
}

export function describeRun(run: number, why: string, s: TransformSummary, previous?: TransformSummary): string {
  const lines = [`run ${run}${why}: ${s.rows} rows → ${s.events} events, ${s.rejected} rejected, ${s.seconds.toFixed(1)}s`];
  const before = new Map(previous?.eventTypes.map((e) => [e.type, e]));
  const now = new Map(s.eventTypes.map((e) => [e.type, e]));
  const types = [...new Set([...before.keys(), ...now.keys()])].sort();
  const unchanged: string[] = [];
  for (const type of types) {
    const a = before.get(type);
    const b = now.get(type);
    const [na, nb] = [a?.events ?? 0, b?.events ?? 0];
    if (!previous) lines.push(`  ${type} ${nb}`);
    else if (na !== nb) lines.push(`  ${type} ${na} → ${nb} (${nb > na ? '+' : ''}${nb - na})`);
    else if (a?.digest !== b?.digest) {
      // Same count, other content: show the first event when that is where it differs.
      const [fa, fb] = [JSON.stringify(a?.first), JSON.stringify(b?.first)];
      lines.push(`  ${type} ${nb}, content changed${fa !== fb ? `; first event was ${fa}\n    now ${fb}` : ' (after the first event)'}`);
    } else unchanged.push(`${type} ${nb}`);
  }
  if (previous && previous.rejected !== s.rejected) lines.push(`  rejected ${previous.rejected} → ${s.rejected}`);
  if (previous && unchanged.length === types.length) lines.push('  no change: every event is the same as before');
  else if (unchanged.length) lines.push(`  unchanged: ${unchanged.join(', ')}`);
  return lines.join('\n') + '\n';
}
