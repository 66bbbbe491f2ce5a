// `ferry services`: the local PostgreSQL and RabbitMQ that tests, the demo and benchmarks use.
// Their folder, ports and pids are kept in .ferry/services.json so `stop` stops only what
// `start` started.
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startPostgres, stopPostgres, type PostgresServer } from './postgres-server.ts';
import { startRabbitmq, stopRabbitmq, type RabbitmqServer } from './rabbitmq-server.ts';
import { isAlive } from './system.ts';

export interface Services {
  dir: string;
  postgres: PostgresServer;
  rabbitmq: RabbitmqServer;
}

export const STATE_FILE = path.resolve('.ferry', 'services.json');

/** Starts both servers under a new throw-away folder. */
export async function startServices(log: (line: string) => void = () => undefined): Promise<Services> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-services-'));
  // The servers run as their own OS users and must be able to reach their folders.
  await chmod(dir, 0o755);
  log(`starting PostgreSQL and RabbitMQ under ${dir} ...`);
  const [postgres, rabbitmq] = await Promise.allSettled([startPostgres(dir, log), startRabbitmq(dir, log)]);
  if (postgres.status === 'rejected' || rabbitmq.status === 'rejected') {
    if (postgres.status === 'fulfilled') await stopPostgres(postgres.value);
    if (rabbitmq.status === 'fulfilled') await stopRabbitmq(rabbitmq.value);
    await rm(dir, { recursive: true, force: true });
    throw postgres.status === 'rejected' ? postgres.reason : (rabbitmq as PromiseRejectedResult).reason;
  }
  return { dir, postgres: postgres.value, rabbitmq: rabbitmq.value };
}

export async function stopServices(services: Services): Promise<void> {
  await Promise.all([stopPostgres(services.postgres), stopRabbitmq(services.rabbitmq)]);
  await rm(services.dir, { recursive: true, force: true });
}

export function servicesEnv(services: Services): Record<string, string> {
  return { FERRY_PG_URL: services.postgres.url, FERRY_AMQP_URL: services.rabbitmq.url };
}

/**
 * The services recorded by `ferry services start`, with their pids read again from the servers' own
 * pid files: a `pg_ctl restart` (or a broker restart) gives the server a new pid, and the recorded
 * one would lose track of it.
 */
export async function recordedServices(): Promise<Services | undefined> {
  let state: Services;
  try {
    state = JSON.parse(await readFile(STATE_FILE, 'utf8')) as Services;
  } catch {
    return undefined;
  }
  const pgPid = await firstNumber(path.join(state.postgres.dataDir, 'postmaster.pid'));
  const mqPid = state.rabbitmq.env?.RABBITMQ_PID_FILE ? await firstNumber(state.rabbitmq.env.RABBITMQ_PID_FILE) : undefined;
  if ((pgPid && pgPid !== state.postgres.pid) || (mqPid && mqPid !== state.rabbitmq.pid)) {
    state.postgres.pid = pgPid ?? state.postgres.pid;
    state.rabbitmq.pid = mqPid ?? state.rabbitmq.pid;
    await saveServices(state);
  }
  return state;
}

/** The services recorded by `ferry services start`, if both are still running. */
export async function runningServices(): Promise<Services | undefined> {
  const state = await recordedServices();
  return state && isAlive(state.postgres.pid) && isAlive(state.rabbitmq.pid) ? state : undefined;
}

async function firstNumber(file: string): Promise<number | undefined> {
  try {
    const n = Number((await readFile(file, 'utf8')).split('\n')[0].trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

export async function saveServices(services: Services | undefined): Promise<void> {
  if (!services) {
    await rm(STATE_FILE, { force: true });
    return;
  }
  await mkdir(path.dirname(STATE_FILE), { recursive: true });
  await writeFile(STATE_FILE, JSON.stringify(services, null, 2));
}

/**
 * Servers for a test run, the demo or a benchmark: the ones named by FERRY_PG_URL and
 * FERRY_AMQP_URL, else the ones `ferry services start` left running, else new ones (and a
 * `release` that stops them).
 */
export async function acquireServices(log: (line: string) => void = () => undefined): Promise<{ env: Record<string, string>; services?: Services; release: () => Promise<void> }> {
  if (process.env.FERRY_PG_URL && process.env.FERRY_AMQP_URL) {
    return { env: { FERRY_PG_URL: process.env.FERRY_PG_URL, FERRY_AMQP_URL: process.env.FERRY_AMQP_URL }, release: async () => undefined };
  }
  const running = await runningServices();
  if (running) return { env: servicesEnv(running), services: running, release: async () => undefined };
  const started = await startServices(log);
  return { env: servicesEnv(started), services: started, release: () => stopServices(started) };
}
