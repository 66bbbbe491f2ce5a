// Small helpers for running the real servers: free loopback ports, running tools as a service
// user (PostgreSQL's initdb/pg_ctl refuse root), installing Debian packages when missing.
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown } from 'node:fs/promises';
import net from 'node:net';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** A port that was free on 127.0.0.1 a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Runs a program as `user` when we are root, else as ourselves; resolves with its stdout. */
export async function runAs(user: string, program: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  const [cmd, argv] = isRoot ? ['runuser', ['-u', user, '--', 'env', ...envArgs(env), program, ...args]] : ['env', [...envArgs(env), program, ...args]];
  try {
    const { stdout } = await execFileAsync(cmd, argv, { maxBuffer: 16 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${program} failed: ${(e.stderr || e.stdout || e.message).trim().split('\n').slice(-5).join(' | ')}`);
  }
}

function envArgs(env: NodeJS.ProcessEnv): string[] {
  return Object.entries(env).map(([k, v]) => `${k}=${v}`);
}

/** Gives a folder to a service user so its server can write there. */
export async function giveTo(user: string, dir: string): Promise<void> {
  if (!isRoot) return;
  const { stdout } = await execFileAsync('id', ['-u', user]);
  const { stdout: gid } = await execFileAsync('id', ['-g', user]);
  await chown(dir, Number(stdout.trim()), Number(gid.trim()));
}

/** Installs Debian packages if `probe` (a file they provide) is missing. */
export async function ensureDebianPackage(probe: string, packages: string[], log: (line: string) => void): Promise<void> {
  if (existsSync(probe)) return;
  if (!isRoot) {
    throw new Error(`${probe} is missing: install it with "sudo apt-get install -y --no-install-recommends ${packages.join(' ')}"`);
  }
  log(`installing ${packages.join(' ')} with apt-get ...`);
  const install = () => run('apt-get', ['install', '-y', '--no-install-recommends', ...packages], { DEBIAN_FRONTEND: 'noninteractive' });
  if ((await install()) !== 0) {
    await run('apt-get', ['update'], {});
    if ((await install()) !== 0) throw new Error(`apt-get install ${packages.join(' ')} failed; install it by hand and retry`);
  }
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...env } });
    child.on('exit', (code) => resolve(code ?? 1));
    child.on('error', () => resolve(1));
  });
}

/** Sends a signal to a pid we started; true if it was still there. */
export function signal(pid: number, sig: NodeJS.Signals | 0): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

export function isAlive(pid: number): boolean {
  return signal(pid, 0);
}

export async function waitUntilGone(pid: number, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (!isAlive(pid)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return !isAlive(pid);
}
