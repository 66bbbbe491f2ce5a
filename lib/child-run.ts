// Runs a `ferry` command as a child process the way a user would, collecting what a report needs:
// its --json summary (which holds the step's own samples over time), wall time and peak RSS.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { UserError } from './errors.ts';
import { redact } from './redact.ts';

const FERRY = fileURLToPath(new URL('../bin/ferry.js', import.meta.url));

/** Steps running now, so that an interrupted parent (Ctrl-C on `ferry demo`) can stop them. */
const running = new Set<ChildProcess>();

/** Sends SIGINT to every step still running (each stops cleanly and keeps what it can resume). */
export function interruptChildSteps(): void {
  for (const child of running) child.kill('SIGINT');
}

export interface ChildRun<T> {
  name: string;
  summary: T;
  seconds: number;
  peakRssMb: number;
  startedAt: number;
}

/** Runs `ferry ...args` (which must print one JSON document on stdout) and returns what it did. */
export async function runFerryStep<T = unknown>(
  name: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; onStderr?: (line: string) => void; /** A TypeScript script to run instead of bin/ferry.js. */ script?: string } = {},
): Promise<ChildRun<T>> {
  const startedAt = Date.now();
  const argv = options.script ? ['--import', 'tsx', options.script, ...args] : [FERRY, ...args];
  const child = spawn(process.execPath, argv, {
    cwd: options.cwd,
    // glibc gives each thread that allocates its own malloc arena and keeps freed memory in it:
    // transform's worker threads and zlib's thread pool held ~50 MB of it at fi10 (peak RSS 478 ->
    // 427 MB on the example's dbo.ProfileVisits, 299 -> 207 MB in the merge, same time). A setting
    // of the environment, so the steps the demo and the benches run get it (README: Transform).
    env: { MALLOC_ARENA_MAX: '2', ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  child.on('close', () => running.delete(child));
  let stdout = '';
  let stderrTail = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  let pending = '';
  const stdoutDone = (async () => {
    for await (const chunk of child.stdout) stdout += chunk;
  })();
  const stderrDone = (async () => {
    for await (const chunk of child.stderr as AsyncIterable<string>) {
      stderrTail = (stderrTail + chunk).slice(-4000);
      pending += chunk;
      const lines = pending.split(/\r|\n/);
      pending = lines.pop() ?? '';
      for (const line of lines) if (line.trim()) options.onStderr?.(line.replace(/\x1b\[[0-9;]*[A-Za-z]/g, ''));
    }
  })();
  let peakRss = 0;
  const rssTimer = setInterval(() => {
    void readFile(`/proc/${child.pid}/status`, 'utf8').then((s) => {
      const kb = Number(/VmHWM:\s+(\d+)/.exec(s)?.[1] ?? 0);
      peakRss = Math.max(peakRss, kb * 1024);
    }).catch(() => undefined);
  }, 100);
  const code: number = await new Promise((resolve) => child.on('close', (c) => resolve(c ?? 1)));
  clearInterval(rssTimer);
  await Promise.all([stdoutDone, stderrDone]);
  const seconds = (Date.now() - startedAt) / 1000;
  if (code !== 0) {
    const last = stderrTail.trim().split('\n').pop() ?? '';
    throw new UserError(`${name} failed (exit ${code}): ${redact(last)}`);
  }
  let summary: T;
  try {
    summary = JSON.parse(stdout) as T;
  } catch {
    throw new UserError(`${name} printed no JSON summary`);
  }
  return { name, summary, seconds, peakRssMb: peakRss / 1e6, startedAt };
}
