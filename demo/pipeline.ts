// The whole migration of the dating example, step by step, each step a real child process run the
// way a user would run it: generate the legacy database, extract, transform, seed the module
// databases, seed RabbitMQ. Used by `ferry demo` and `npm run bench -- e2e`.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';
import { runFerryStep, type ChildRun } from '../lib/child-run.ts';
import type { ScaleName } from './legacy/generate.ts';

export const EXAMPLE_DIR = fileURLToPath(new URL('../examples/dating/', import.meta.url));
export const CONFIG = path.join(EXAMPLE_DIR, 'ferry.config.ts');
const GENERATOR = fileURLToPath(new URL('./legacy/generate.ts', import.meta.url));
export const LEGACY_DATABASE = 'dating_legacy';
export const EXCHANGE = 'dating.events';

export interface PipelineOptions {
  scale: ScaleName;
  /** PostgreSQL server (legacy database and module databases live there). */
  pgUrl: string;
  amqpUrl: string;
  /** Folder for dumps and schemas of this run; emptied first. */
  workDir: string;
  /** Skip seeding RabbitMQ (e.g. a benchmark of the database path only). */
  skipRabbitmq?: boolean;
  /** Where transform spills its sorted runs (`--tmp-dir`); the OS temp folder when not given. */
  tmpDir?: string;
  log?: (line: string) => void;
  /** Each ferry step serves live Prometheus metrics on this 127.0.0.1 port while it runs (--metrics-port). */
  metricsPort?: number;
  /** Called as each step ends (a long benchmark reports each step as it goes). */
  onStep?: (step: PipelineResult['steps'][number], dirs: PipelineResult['dirs']) => Promise<void> | void;
}

export type StepName = 'generate' | 'extract' | 'transform' | 'seed modules' | 'seed rabbitmq';

export interface PipelineResult {
  dirs: { tables: string; events: string; schemas: string };
  legacyUrl: string;
  steps: Array<ChildRun<Record<string, unknown>> & { name: StepName }>;
}

export function databaseUrl(serverUrl: string, database: string): string {
  const u = new URL(serverUrl);
  u.pathname = `/${database}`;
  return u.toString();
}

export async function runPipeline(options: PipelineOptions): Promise<PipelineResult> {
  const log = options.log ?? (() => undefined);
  const dirs = {
    tables: path.join(options.workDir, 'tables'),
    events: path.join(options.workDir, 'events'),
    schemas: path.join(options.workDir, 'schemas'),
  };
  await rm(options.workDir, { recursive: true, force: true });
  await mkdir(options.workDir, { recursive: true });
  const legacyUrl = databaseUrl(options.pgUrl, LEGACY_DATABASE);
  const steps: PipelineResult['steps'] = [];
  const run = async (name: StepName, args: string[], script?: string) => {
    log(`── ${name}`);
    // The steps run one after another: each in turn serves the same port.
    if (!script && options.metricsPort !== undefined) args = [...args, '--metrics-port', String(options.metricsPort)];
    const step = await runFerryStep<Record<string, unknown>>(name, args, { script, onStderr: (line) => log(`   ${line}`), cwd: EXAMPLE_DIR });
    steps.push({ ...step, name });
    await writeFile(path.join(options.workDir, `${name.replace(' ', '-')}.json`), JSON.stringify(step.summary, null, 2));
    await options.onStep?.(steps[steps.length - 1], dirs);
    return step;
  };

  await run('generate', ['--url', options.pgUrl, '--database', LEGACY_DATABASE, '--scale', options.scale, '--json'], GENERATOR);
  await run('extract', [
    'extract', '--from', legacyUrl, '--out', dirs.tables, '--schemas-out', dirs.schemas,
    // The legacy datetimes are Helsinki wall-clock values.
    '--source-timezone', 'Europe/Helsinki', '--concurrency', '2', '--json',
  ]);
  await run('transform', [
    'transform', '--in', dirs.tables, '--out', dirs.events, '--config', CONFIG, '--order', 'occurred_at',
    // Visits of purged members are rejected on purpose (see transforms/profile-visits.ts).
    '--max-errors', '1000000', '--json',
    // npm test type-checks the example; a second check here would cost seconds and ~300 MB.
    '--no-typecheck',
    ...(options.tmpDir ? ['--tmp-dir', options.tmpDir] : []),
  ]);
  await run('seed modules', ['seed', 'modules', '--in', dirs.events, '--config', CONFIG, '--url', options.pgUrl, '--create-databases', '--reset', '--json']);
  if (!options.skipRabbitmq) {
    await deleteQueues(options.amqpUrl);
    await run('seed rabbitmq', ['seed', 'rabbitmq', '--in', dirs.events, '--url', options.amqpUrl, '--config', CONFIG, '--declare', '--restart', '--json']);
  }
  return { dirs, legacyUrl, steps };
}

/** A demo run starts from empty module queues, so the queue depths can be checked exactly. */
async function deleteQueues(amqpUrl: string): Promise<void> {
  const { default: config } = (await import(CONFIG)) as { default: { rabbitmq?: { queues?: Array<{ name: string }> } } };
  const conn = await amqp.connect(amqpUrl);
  try {
    const ch = await conn.createChannel();
    for (const q of config.rabbitmq?.queues ?? []) await ch.deleteQueue(q.name);
    await ch.close();
  } finally {
    await conn.close();
  }
}
