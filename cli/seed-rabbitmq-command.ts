import { existsSync } from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { loadConfig } from '../lib/config.ts';
import { UserError } from '../lib/errors.ts';
import { SEED_RABBITMQ_DEFAULTS as D } from '../seed/rabbitmq-defaults.ts';
import type { PayloadEncoding, UnroutablePolicy } from '../seed/rabbitmq-engine.ts';
import { DEFAULT_EXCHANGE, checkTopology, type RabbitmqTopology } from '../seed/rabbitmq-topology.ts';

interface Opts {
  in: string;
  url?: string;
  exchange?: string;
  declare?: boolean;
  config?: string;
  payload: PayloadEncoding;
  batchSize: number;
  window: number;
  channels: number;
  connections: number;
  maxMessageBytes: number;
  unroutable: UnroutablePolicy;
  checkpoint?: string;
  resume?: boolean;
  restart?: boolean;
  shard?: string;
  connectTimeout: number;
  reconnectTimeout: number;
  json?: boolean;
  quiet?: boolean;
  recursive?: boolean;
}

export function registerSeedRabbitmq(seed: Command): void {
  seed
    .command('rabbitmq')
    .description('publish event dumps to a RabbitMQ topic exchange (routing key = event type), with publisher confirms, resumable')
    .requiredOption('--in <dir>', 'folder with the event dumps (from ferry transform)')
    .option('--recursive', 'also read the dumps in subfolders of --in')
    .option('--url <amqp-url>', 'broker, e.g. amqp://user:pass@host:5672/vhost (default: $FERRY_AMQP_URL)')
    .option('--exchange <name>', `exchange to publish to (default: rabbitmq.exchange in the config, else ${DEFAULT_EXCHANGE})`)
    .option('--declare', 'declare the exchange (topic, durable) and the queues and bindings of rabbitmq.queues in the config')
    .option('--config <file>', 'ferry.config.ts with the rabbitmq topology (default: ./ferry.config.ts when it exists)')
    .addOption(new Option('--payload <encoding>', 'message body: the protobuf payload bytes, or the payload as JSON').choices(['protobuf', 'json']).default('protobuf'))
    .option('--batch-size <n>', 'events per batch handed to the broker', positiveInt, D.batchSize)
    .option('--window <n>', 'most messages published and not yet confirmed and checkpointed (bounds re-sent duplicates after a crash)', positiveInt, D.window)
    .option('--channels <n>', 'confirm channels to publish on (more than 1 gives up event order across batches)', positiveInt, D.channels)
    .option('--connections <n>', 'TCP connections the channels are spread over', positiveInt, D.connections)
    .option('--max-message-bytes <n>', "largest message body to publish (the broker's max_message_size)", positiveInt, D.maxMessageBytes)
    .addOption(new Option('--unroutable <policy>', 'an event no queue is bound for: fail the run, or count it in the summary and go on').choices(['fail', 'skip']).default('fail'))
    .option('--checkpoint <file>', 'where confirmed positions are recorded (default: <in>/.ferry-seed-rabbitmq[.shard-i-of-n].json)')
    .option('--resume', 'continue from the checkpoint of an earlier run')
    .option('--restart', 'ignore and replace an existing checkpoint: publish everything again')
    .option('--shard <i/n>', 'publish only the blocks of shard i of n (run n copies, one per shard)')
    .option('--connect-timeout <seconds>', 'keep trying to reach the broker at the start for this long', positiveInt, D.connectTimeoutSeconds)
    .option('--reconnect-timeout <seconds>', 'keep trying to reconnect for this long when the broker goes away mid-run', positiveInt, D.reconnectTimeoutSeconds)
    .option('--json', 'print the run summary as one JSON document on stdout')
    .option('--quiet', 'no live progress on stderr')
    .action(async (opts: Opts) => {
      if (opts.resume && opts.restart) throw new UserError('pass either --resume or --restart, not both');
      const url = opts.url ?? process.env.FERRY_AMQP_URL;
      if (!url) throw new UserError('no broker: pass --url amqp://user:pass@host:5672/vhost, or set FERRY_AMQP_URL');
      const topology = await readTopology(opts.config);
      if (!opts.declare && topology.queues?.length && !opts.quiet) process.stderr.write(`note: rabbitmq.queues in the config are declared only with --declare\n`);
      const shardSuffix = opts.shard ? `.shard-${opts.shard.replace('/', '-of-')}` : '';

      const abort = new AbortController();
      const onSigint = () => {
        if (abort.signal.aborted) process.exit(130);
        process.stderr.write('\ninterrupted: waiting for the broker to confirm what is in flight (Ctrl-C again to quit now)\n');
        abort.abort();
      };
      process.on('SIGINT', onSigint);
      try {
        const { seedRabbitmq, summaryLines } = await import('../seed/rabbitmq-engine.ts');
        const summary = await seedRabbitmq({
          in: opts.in,
          recursive: opts.recursive,
          url,
          exchange: opts.exchange ?? topology.exchange ?? DEFAULT_EXCHANGE,
          declare: Boolean(opts.declare),
          queues: topology.queues ?? [],
          payload: opts.payload,
          batchSize: opts.batchSize,
          window: opts.window,
          channels: opts.channels,
          connections: opts.connections,
          maxMessageBytes: opts.maxMessageBytes,
          unroutable: opts.unroutable,
          checkpoint: opts.checkpoint ?? path.join(opts.in, `.ferry-seed-rabbitmq${shardSuffix}.json`),
          resume: Boolean(opts.resume),
          restart: Boolean(opts.restart),
          shard: opts.shard,
          connectTimeoutSeconds: opts.connectTimeout,
          reconnectTimeoutSeconds: opts.reconnectTimeout,
          nackRetries: D.nackRetries,
          quiet: opts.quiet,
          signal: abort.signal,
          log: (line) => process.stderr.write(`${line}\n`),
        });
        if (opts.json) process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
        else process.stderr.write(summaryLines(summary).join('\n') + '\n');
      } finally {
        process.off('SIGINT', onSigint);
      }
    });
}

async function readTopology(configFile: string | undefined): Promise<RabbitmqTopology> {
  const file = configFile ?? (existsSync('ferry.config.ts') ? 'ferry.config.ts' : undefined);
  if (!file) return {};
  const { config } = await loadConfig(file);
  return checkTopology(config.rabbitmq, file);
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a whole number of at least 1');
  return n;
}
