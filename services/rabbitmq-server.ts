// A throw-away RabbitMQ node on 127.0.0.1 with its own epmd, data and log folders.
import { spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ensureDebianPackage, freePort, giveTo, isRoot, runAs, signal, waitUntilGone } from './system.ts';

export interface RabbitmqServer {
  url: string;
  port: number;
  /** The Erlang VM running the broker. */
  pid: number;
  /** The epmd daemon we started for this node (Erlang's port mapper). */
  epmdPid: number;
  dir: string;
  env: Record<string, string>;
}

const USER = 'rabbitmq';
const LIB = '/usr/lib/rabbitmq/bin';

/** `extraConfig`: more rabbitmq.conf lines, e.g. `max_message_size = 65536` for a test broker. */
export async function startRabbitmq(baseDir: string, log: (line: string) => void, extraConfig = ''): Promise<RabbitmqServer> {
  await ensureDebianPackage(path.join(LIB, 'rabbitmq-server'), ['rabbitmq-server'], log);
  const dir = path.join(baseDir, 'rabbitmq');
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'enabled_plugins'), '[].\n');
  const [port, distPort, epmdPort] = [await freePort(), await freePort(), await freePort()];
  const env: Record<string, string> = {
    HOME: dir,
    RABBITMQ_NODENAME: `ferry${port}@localhost`,
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(distPort),
    ERL_EPMD_ADDRESS: '127.0.0.1',
    ERL_EPMD_PORT: String(epmdPort),
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
    RABBITMQ_MNESIA_BASE: path.join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: path.join(dir, 'log'),
    RABBITMQ_PID_FILE: path.join(dir, 'rabbit.pid'),
    RABBITMQ_ENABLED_PLUGINS_FILE: path.join(dir, 'enabled_plugins'),
    RABBITMQ_CONFIG_FILE: path.join(dir, 'rabbitmq'),
    RABBITMQ_ADVANCED_CONFIG_FILE: path.join(dir, 'advanced.config'),
  };
  // Loopback-only, generous limits for seeding benchmarks; guest may log in from loopback.
  await writeFile(path.join(dir, 'rabbitmq.conf'), `loopback_users = none\nvm_memory_high_watermark.relative = 0.6\n${extraConfig}`);
  await writeFile(path.join(dir, 'advanced.config'), '[].\n');
  await giveTo(USER, dir);
  for (const f of ['enabled_plugins', 'rabbitmq.conf', 'advanced.config']) await giveTo(USER, path.join(dir, f));

  // Our own epmd, in the foreground of a detached child, so we know its pid and stop only it.
  const epmd = spawn(isRoot ? 'runuser' : 'epmd', isRoot ? ['-u', USER, '--', 'epmd', '-address', '127.0.0.1', '-port', String(epmdPort)] : ['-address', '127.0.0.1', '-port', String(epmdPort)], {
    detached: true, stdio: 'ignore',
  });
  epmd.unref();
  const server: RabbitmqServer = { url: `amqp://guest:guest@127.0.0.1:${port}`, port, pid: 0, epmdPid: epmd.pid ?? 0, dir, env };
  try {
    await startNode(server);
  } catch (err) {
    await stopRabbitmq(server);
    throw err;
  }
  return server;
}

async function startNode(server: RabbitmqServer): Promise<void> {
  await runAs(USER, path.join(LIB, 'rabbitmq-server'), ['-detached'], server.env);
  await runAs(USER, path.join(LIB, 'rabbitmqctl'), ['wait', '--timeout', '100', server.env.RABBITMQ_PID_FILE], server.env);
  server.pid = Number((await readFile(server.env.RABBITMQ_PID_FILE, 'utf8')).trim());
}

/** Runs rabbitmqctl against this node (e.g. `list_queues`). */
export function rabbitmqctl(server: RabbitmqServer, args: string[]): Promise<string> {
  return runAs(USER, path.join(LIB, 'rabbitmqctl'), args, server.env);
}

/** Stops the broker and starts it again with the same data, port and epmd. */
export async function restartRabbitmq(server: RabbitmqServer): Promise<void> {
  if (server.pid && signal(server.pid, 'SIGTERM')) await waitUntilGone(server.pid, 30_000);
  await startNode(server);
}

export async function stopRabbitmq(server: Pick<RabbitmqServer, 'pid' | 'epmdPid'>): Promise<void> {
  if (server.pid && signal(server.pid, 'SIGTERM')) await waitUntilGone(server.pid, 30_000);
  if (server.epmdPid && signal(server.epmdPid, 'SIGTERM')) await waitUntilGone(server.epmdPid, 5_000);
}
