// A throw-away PostgreSQL cluster on 127.0.0.1, run as the `postgres` OS user.
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ensureDebianPackage, freePort, giveTo, runAs, signal, waitUntilGone } from './system.ts';

export interface PostgresServer {
  url: string;
  port: number;
  pid: number;
  dataDir: string;
  /** What restartPostgres needs: pg_ctl's folder, server options and log file. */
  bin: string;
  options: string;
  logFile: string;
}

const USER = 'postgres';
/** Superuser of the throw-away cluster; its password exists so tests can see a wrong one refused. */
const SUPERUSER = 'ferry';
const PASSWORD = 'ferry';

function binDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).filter((v) => existsSync(path.join(root, v, 'bin', 'initdb')));
  versions.sort((a, b) => Number(b) - Number(a));
  return versions[0] ? path.join(root, versions[0], 'bin') : undefined;
}

export async function startPostgres(baseDir: string, log: (line: string) => void): Promise<PostgresServer> {
  if (!binDir()) await ensureDebianPackage('/usr/lib/postgresql', ['postgresql'], log);
  const bin = binDir();
  if (!bin) throw new Error('PostgreSQL server binaries not found under /usr/lib/postgresql; apt-get install postgresql');
  const dir = path.join(baseDir, 'postgres');
  const dataDir = path.join(dir, 'data');
  await mkdir(dir, { recursive: true });
  await giveTo(USER, dir);
  const pwfile = path.join(dir, 'pwfile');
  await writeFile(pwfile, PASSWORD + '\n', { mode: 0o600 });
  await giveTo(USER, pwfile);
  await runAs(USER, path.join(bin, 'initdb'), ['-D', dataDir, '-U', SUPERUSER, '--pwfile', pwfile, '--auth=scram-sha-256', '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync']);
  const port = await freePort();
  const options = [
    '-c listen_addresses=127.0.0.1', `-p ${port}`, `-k ${dir}`,
    '-c fsync=off', '-c synchronous_commit=off', '-c full_page_writes=off', '-c max_connections=200',
  ].join(' ');
  const server = { url: `postgres://${SUPERUSER}:${PASSWORD}@127.0.0.1:${port}/postgres`, port, pid: 0, dataDir, bin, options, logFile: path.join(dir, 'postgres.log') };
  await pgCtlStart(server);
  return server;
}

async function pgCtlStart(server: PostgresServer): Promise<void> {
  await runAs(USER, path.join(server.bin, 'pg_ctl'), ['start', '-w', '-t', '60', '-D', server.dataDir, '-l', server.logFile, '-o', server.options]);
  server.pid = Number((await readFile(path.join(server.dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
}

/** Stops and starts the same cluster on the same port (tests of "the database restarted"). */
export async function restartPostgres(server: PostgresServer): Promise<void> {
  await stopPostgres(server);
  await pgCtlStart(server);
}

export async function stopPostgres(server: Pick<PostgresServer, 'pid'>): Promise<void> {
  // SIGINT is PostgreSQL's "fast shutdown": roll back open transactions and stop.
  if (signal(server.pid, 'SIGINT')) await waitUntilGone(server.pid, 30_000);
}
