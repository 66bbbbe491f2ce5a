import type { Command } from 'commander';
import { UserError } from '../lib/errors.ts';
import { recordedServices, runningServices, saveServices, servicesEnv, startServices, stopServices, STATE_FILE, type Services } from '../services/services.ts';
import { isAlive } from '../services/system.ts';

export function registerServices(program: Command): void {
  const services = program
    .command('services')
    .description('start, stop or show the local PostgreSQL and RabbitMQ (127.0.0.1, throw-away data)');

  services
    .command('start')
    .description('start both servers (installing them with apt-get when missing) and print their URLs')
    .action(async () => {
      const running = await runningServices();
      if (running) {
        process.stderr.write(`already running (see ${STATE_FILE})\n`);
        printEnv(servicesEnv(running));
        return;
      }
      const started = await startServices((line) => process.stderr.write(line + '\n'));
      await saveServices(started);
      printEnv(servicesEnv(started));
      process.stderr.write(`started; stop them with "npx ferry services stop"\n`);
    });

  services
    .command('stop')
    .description('stop the servers that "ferry services start" started')
    .action(async () => {
      // Whatever of the two is still up (one may have been stopped by hand) is stopped.
      const recorded = await recordedServices();
      if (!recorded || (!isAlive(recorded.postgres.pid) && !isAlive(recorded.rabbitmq.pid) && !isAlive(recorded.rabbitmq.epmdPid))) {
        await saveServices(undefined);
        process.stderr.write('no ferry services are running\n');
        return;
      }
      await stopServices(recorded);
      await saveServices(undefined);
      process.stderr.write('stopped\n');
    });

  services
    .command('env')
    .description('print the URLs as shell exports: eval "$(npx ferry services env)"')
    .action(async () => {
      const running = await requireRunning();
      printEnv(servicesEnv(running));
    });

  services
    .command('rabbitmqctl')
    .description('run rabbitmqctl against the local broker, e.g. list_queues name messages')
    .argument('[args...]', 'rabbitmqctl arguments')
    .allowUnknownOption()
    .action(async (args: string[]) => {
      const running = await requireRunning();
      const { rabbitmqctl } = await import('../services/rabbitmq-server.ts');
      process.stdout.write(await rabbitmqctl(running.rabbitmq, args.length ? args : ['list_queues', 'name', 'messages', 'consumers']));
    });

  services
    .command('psql')
    .description('open psql on the local PostgreSQL (arguments go to psql, e.g. -d dating_chat -c "\\dt chat.*")')
    .argument('[args...]', 'psql arguments')
    .allowUnknownOption()
    .action(async (args: string[]) => {
      const running = await requireRunning();
      const { spawnSync } = await import('node:child_process');
      const r = spawnSync('psql', [servicesEnv(running).FERRY_PG_URL, ...args], { stdio: 'inherit' });
      if (r.error) throw new UserError(`psql did not start (${(r.error as NodeJS.ErrnoException).code}): install postgresql-client`);
      process.exitCode = r.status ?? 1;
    });
}

/** The servers `services start` left running, or a one-line error that says how to start them. */
async function requireRunning(): Promise<Services> {
  const running = await runningServices();
  if (!running) throw new UserError('no ferry services are running: start them with "npx ferry services start"');
  return running;
}

function printEnv(env: Record<string, string>): void {
  for (const [k, v] of Object.entries(env)) process.stdout.write(`export ${k}='${v}'\n`);
}
