// The whole dating-site migration at two scales (a quarter of `fi`, then `fi`; or `fi,fi10`), each
// step next to its raw limit measured in the same run, plus how time, peak memory and temporary
// disk grow with the data.
//   npm run bench -- e2e [--scales quarter,fi] [--no-rabbitmq]
import { execFile } from 'node:child_process';
import { lstat, mkdir, mkdtemp, open, readFile, readdir, readlink, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import amqp from 'amqplib';
import pg from 'pg';
import { DumpReader, readEnvelope } from '../dumps/index.ts';
import { toAmqpMessage } from '../seed/rabbitmq-engine.ts';
import type { AmqpMessage } from '../seed/rabbitmq-sink.ts';
import { unframe } from '../dumps/framing.ts';
import { CONFIG, databaseUrl, runPipeline, type PipelineResult } from '../demo/pipeline.ts';
import { stepCounts } from '../demo/summaries.ts';
import { SCALE_HELP, parseScale, type ScaleName } from '../demo/legacy/generate.ts';
import { acquireServices } from '../services/services.ts';
import { reportFigure } from './report.ts';

const exec = promisify(execFile);
const RSS_BUDGET_MB = 500;
/** The issue's aims: peak RSS within 1.2× of the smaller scale; sort's temporary disk ≤ 1.2× its output. */
const RSS_GROWTH_AIM = 1.2;
const TEMP_DISK_AIM = 1.2;
const TO_MODULES_AIM_FI_SECONDS = 45;
const SAMPLE_MS = 500;

interface Limits {
  extractRowsPerSecond: number;
  transformRowsPerSecond: number;
  seedModulesSeconds: number;
  moduleRows: number;
  rabbitmqEventsPerSecond?: number;
}

export default async function run(args: string[]): Promise<void> {
  const scales = (valueOf(args, '--scales') ?? 'quarter,fi').split(',').map((name) => {
    const scale = parseScale(name.trim());
    if (!scale) throw new Error(`bench e2e: unknown scale "${name}" in --scales: use ${SCALE_HELP}`);
    return scale;
  });
  const withRabbitmq = !args.includes('--no-rabbitmq');
  const services = await acquireServices((line) => process.stderr.write(line + '\n'));
  const work = await mkdtemp(path.join(os.tmpdir(), 'ferry-bench-e2e-'));
  const results: ScaleRun[] = [];
  try {
    for (const scale of scales) {
      process.stderr.write(`\n== e2e at scale ${scale}\n`);
      // The sort's runs go to a folder of their own, whose size is sampled through the run (du).
      const tmpDir = path.join(work, `${scale}-tmp`);
      await mkdir(tmpDir, { recursive: true });
      const sampler = new RunSampler(tmpDir);
      const extras = new Map<string, StepExtras>();
      let result: PipelineResult;
      try {
        result = await runPipeline({
          scale, pgUrl: services.env.FERRY_PG_URL, amqpUrl: services.env.FERRY_AMQP_URL, workDir: path.join(work, scale), tmpDir,
          skipRabbitmq: !withRabbitmq, log: (line) => process.stderr.write(line + '\n'),
          onStep: async (step, dirs) => {
            const x = await stepExtras(step, dirs, sampler, services.env.FERRY_PG_URL);
            extras.set(step.name, x);
            process.stdout.write(`# ${scale} ${stepLine(step, x)}\n`);
          },
        });
      } finally {
        await sampler.stop();
      }
      process.stderr.write(`measuring raw limits at scale ${scale} ...\n`);
      const limits = await measureLimits(result, services.env.FERRY_PG_URL, withRabbitmq ? services.env.FERRY_AMQP_URL : undefined);
      const run: ScaleRun = { scale, result, limits, extras };
      results.push(run);
      report(run);
      // The next scale's run needs the disk: this one's dumps are measured and done with.
      await rm(path.join(work, scale), { recursive: true, force: true });
    }
    if (results.length >= 2) growth(results[0], results[results.length - 1]);
  } finally {
    await rm(work, { recursive: true, force: true });
    await services.release();
  }
}

/** What the steps' summaries do not say, measured from outside while the pipeline ran. */
interface StepExtras {
  /** CPU seconds of the step's process (user + system, its threads and children). */
  cpuSeconds: number;
  /** Peak bytes in the sort's temporary folder while the step ran (du: allocated blocks). */
  tempPeakBytes: number;
  /** What the step leaves behind: dump bytes, module database bytes, bytes published. */
  outputBytes?: number;
  outputWhat?: string;
  /** 1-minute load average at the step's end (the machine is shared). */
  load: number;
  /** The step's RSS (MB) at the end of each quarter of its run, and its open sockets min-max: flat when nothing leaks. */
  rssQuartersMb: number[];
  sockets: [number, number];
}

type ScaleRun = { scale: ScaleName; result: PipelineResult; limits: Limits; extras: Map<string, StepExtras> };

function report({ scale, result, limits, extras }: ScaleRun): void {
  const step = (name: string) => result.steps.find((s) => s.name === name);
  const seconds = (names: string[]) => result.steps.filter((s) => names.includes(s.name)).reduce((sum, s) => sum + s.seconds, 0);
  const toModules = seconds(['extract', 'transform', 'seed modules']);
  const all = seconds(['extract', 'transform', 'seed modules', 'seed rabbitmq']);
  process.stdout.write(`\n# scale ${scale}: extract+transform+seed modules ${toModules.toFixed(1)} s (aim for fi: ${TO_MODULES_AIM_FI_SECONDS} s); with seed rabbitmq ${all.toFixed(1)} s; load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
  for (const s of result.steps) process.stdout.write(`# ${stepLine(s, extras.get(s.name))}\n`);
  // What the three steps' raw limits alone take: an aim below this sum is out of the engines' reach.
  const rawToModules = ['extract', 'transform', 'seed modules'].reduce((sum, name) => sum + rawLimitSeconds(name, { scale, result, limits, extras }), 0);
  process.stdout.write(`# scale ${scale}: the raw limits of extract+transform+seed modules alone take ${rawToModules.toFixed(1)} s (transform's: read only)\n`);
  if (scale === 'fi') reportFigure({ name: `e2e fi extract+transform+seed modules`, value: toModules, unit: 's', limit: TO_MODULES_AIM_FI_SECONDS, limitWhat: 'aim of the issue' });
  const extract = step('extract')!;
  reportFigure({ name: `e2e ${scale} extract`, value: stepCounts(extract).rows! / extract.seconds, unit: 'rows/s', limit: limits.extractRowsPerSecond, limitWhat: 'psql COPY (SELECT *) TO STDOUT of every legacy table' });
  const transform = step('transform')!;
  reportFigure({ name: `e2e ${scale} transform`, value: stepCounts(transform).rows! / transform.seconds, unit: 'rows/s', limit: limits.transformRowsPerSecond, limitWhat: 'gunzip + protobufjs decode of the same table dumps' });
  const seedModules = step('seed modules')!;
  reportFigure({ name: `e2e ${scale} seed modules`, value: limits.moduleRows / seedModules.seconds, unit: 'rows/s', limit: limits.moduleRows / limits.seedModulesSeconds, limitWhat: 'psql \\copy of the same final module rows into the same tables' });
  const rabbit = step('seed rabbitmq');
  if (rabbit && limits.rabbitmqEventsPerSecond) {
    reportFigure({ name: `e2e ${scale} seed rabbitmq`, value: stepCounts(rabbit).events! / rabbit.seconds, unit: 'events/s', limit: limits.rabbitmqEventsPerSecond, limitWhat: 'minimal amqplib publisher, same topology, window 5000, a sample of the same messages (body, properties, headers)' });
  }
  const peak = Math.max(...result.steps.filter((s) => s.name !== 'generate').map((s) => s.peakRssMb));
  reportFigure({ name: `e2e ${scale} peak RSS`, value: peak, unit: 'MB', limit: RSS_BUDGET_MB, limitWhat: 'budget of the issue' });
  const sortTemp = extras.get('transform');
  if (sortTemp?.outputBytes) {
    reportFigure({ name: `e2e ${scale} sort temporary disk`, value: sortTemp.tempPeakBytes / sortTemp.outputBytes, unit: '× the event dumps', limit: TEMP_DISK_AIM, limitWhat: `aim of the issue; peak ${mb(sortTemp.tempPeakBytes)} MB for ${mb(sortTemp.outputBytes)} MB of event dumps` });
  }
}

function stepLine(s: PipelineResult['steps'][number], x: StepExtras | undefined): string {
  const c = stepCounts(s);
  const parts = [`${s.seconds.toFixed(1)} s`];
  if (x) parts.push(`${x.cpuSeconds.toFixed(1)} s CPU`);
  if (c.rows !== undefined) parts.push(`${Math.round(c.rows / s.seconds)} rows/s`);
  if (c.events !== undefined) parts.push(`${Math.round(c.events / s.seconds)} events/s`);
  if (c.bytes !== undefined) parts.push(`${(c.bytes / 1e6 / s.seconds).toFixed(1)} MB/s`);
  parts.push(`peak RSS ${Math.round(s.peakRssMb)} MB`);
  if (x) parts.push(`temp disk peak ${mb(x.tempPeakBytes)} MB`);
  if (x?.outputBytes !== undefined) parts.push(`output ${mb(x.outputBytes)} MB (${x.outputWhat})`);
  if (x?.rssQuartersMb.length) parts.push(`RSS by quarter ${x.rssQuartersMb.join('/')} MB, sockets ${x.sockets[0]}-${x.sockets[1]}`);
  if (x) parts.push(`load ${x.load.toFixed(2)}`);
  return `${s.name}: ${parts.join(', ')}`;
}

/** Time per step grows with the data at most linearly (+10%); peak RSS grows at most 20%. */
function growth(small: ScaleRun, large: ScaleRun): void {
  const events = (r: PipelineResult) => stepCounts(r.steps.find((s) => s.name === 'transform')!).events ?? 0;
  const dataRatio = events(large.result) / events(small.result);
  process.stdout.write(`\n# ${large.scale} has ${dataRatio.toFixed(2)}× the events of ${small.scale}\n`);
  const linear = `linear: data grew ${dataRatio.toFixed(2)}×, +10%`;
  for (const s of large.result.steps) {
    if (s.name === 'generate') continue;
    const before = small.result.steps.find((x) => x.name === s.name);
    if (!before) continue;
    const timeRatio = s.seconds / before.seconds;
    reportFigure({ name: `e2e time growth ${s.name}`, value: timeRatio, unit: '×', limit: dataRatio * 1.1, limitWhat: linear });
    // How the step's raw limit itself grew: where the engines slow down with more data (indexes
    // that deepen, queues that fill), the limit shows it too.
    const limitTime = (run: ScaleRun) => rawLimitSeconds(s.name, run);
    const limitRatio = limitTime(large) / limitTime(small);
    if (Number.isFinite(limitRatio)) reportFigure({ name: `e2e time growth ${s.name}, its raw limit`, value: limitRatio, unit: '×', limit: dataRatio * 1.1, limitWhat: linear });
    reportFigure({ name: `e2e peak RSS growth ${s.name}`, value: s.peakRssMb / before.peakRssMb, unit: '×', limit: RSS_GROWTH_AIM, limitWhat: 'flat: at most +20%' });
    const a = small.extras.get(s.name), b = large.extras.get(s.name);
    if (a?.outputBytes && b?.outputBytes) reportFigure({ name: `e2e output growth ${s.name}`, value: b.outputBytes / a.outputBytes, unit: '×', limit: dataRatio, limitWhat: `the events grew ${dataRatio.toFixed(2)}×` });
    if (a?.tempPeakBytes && b?.tempPeakBytes) reportFigure({ name: `e2e temp disk growth ${s.name}`, value: b.tempPeakBytes / a.tempPeakBytes, unit: '×', limit: dataRatio * 1.1, limitWhat: linear });
  }
}

function mb(bytes: number): string {
  return (bytes / 1e6).toFixed(1);
}

/**
 * Samples every SAMPLE_MS, from outside the steps: the size of the sort's temporary folder (as du
 * counts it), the CPU time of this process's finished children (/proc/self/stat cutime + cstime,
 * which grow when a step's process is reaped), and the running step's RSS and open sockets
 * (connections to PostgreSQL and RabbitMQ), so each step's peak, CPU and leaks come from the
 * samples in its window.
 */
class RunSampler {
  readonly samples: Array<{ t: number; tempBytes: number; childCpuSeconds: number; load: number; rssBytes?: number; sockets?: number }> = [];
  private readonly timer: NodeJS.Timeout;
  private busy?: Promise<void>;

  constructor(private readonly dir: string) {
    this.timer = setInterval(() => {
      this.busy ??= this.sample().finally(() => (this.busy = undefined));
    }, SAMPLE_MS);
    void this.sample();
  }

  private async sample(): Promise<void> {
    const t = Date.now();
    const tempBytes = await duBytes(this.dir);
    this.samples.push({ t, tempBytes, childCpuSeconds: await childCpuSeconds(), load: os.loadavg()[0], ...(await stepProcess()) });
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.busy;
    await this.sample();
  }
}

/** RSS and open sockets of this process's largest child (the running step; tsx's esbuild is the other). */
async function stepProcess(): Promise<{ rssBytes?: number; sockets?: number }> {
  const tasks = await readdir('/proc/self/task').catch(() => [] as string[]);
  const children = (await Promise.all(tasks.map((t) => readFile(`/proc/self/task/${t}/children`, 'utf8').catch(() => '')))).join(' ').trim().split(/\s+/).filter(Boolean);
  let best: { rssBytes?: number; sockets?: number } = {};
  for (const pid of children) {
    const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
    const rssBytes = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
    if (rssBytes <= (best.rssBytes ?? 0)) continue;
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
    const links = await Promise.all(fds.map((fd) => readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')));
    best = { rssBytes, sockets: links.filter((l) => l.startsWith('socket:')).length };
  }
  return best;
}

/** Bytes allocated to the files under `dir` (what du reports), 0 when it is gone. */
async function duBytes(dir: string): Promise<number> {
  let total = 0;
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) total += await duBytes(p);
    else total += await lstat(p).then((st) => st.blocks * 512, () => 0);
  }
  return total;
}

/** CPU seconds of this process's reaped children: fields 16 and 17 of /proc/self/stat, in clock ticks. */
async function childCpuSeconds(): Promise<number> {
  const stat = await readFile('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After "pid (comm) ", field 3 (state) is index 0: cutime (16) and cstime (17) are 13 and 14.
  return (Number(fields[13]) + Number(fields[14])) / CLOCK_TICKS;
}
/** USER_HZ: 100 on Linux for every architecture Node runs on (getconf CLK_TCK). */
const CLOCK_TICKS = 100;

/** One step's CPU, temporary disk peak and output size, from the samples and what it left; called as it ends. */
async function stepExtras(s: PipelineResult['steps'][number], dirs: PipelineResult['dirs'], sampler: RunSampler, pgUrl: string): Promise<StepExtras> {
  const samples = sampler.samples;
  const before = samples.filter((x) => x.t <= s.startedAt).at(-1) ?? samples[0];
  const during = samples.filter((x) => x.t >= s.startedAt);
  // The step's process has been reaped: its CPU time is in this process's cutime now.
  const live = during.filter((d) => d.rssBytes);
  const quarter = (q: number) => live[Math.min(live.length - 1, Math.floor((q * live.length) / 4))]?.rssBytes ?? 0;
  const sockets = live.map((d) => d.sockets ?? 0);
  const x: StepExtras = {
    cpuSeconds: (await childCpuSeconds()) - before.childCpuSeconds,
    tempPeakBytes: Math.max(0, ...during.map((d) => d.tempBytes)),
    load: os.loadavg()[0],
    rssQuartersMb: live.length ? [1, 2, 3, 4].map((q) => Math.round(quarter(q - 0.001) / 1e6)) : [],
    sockets: sockets.length ? [Math.min(...sockets), Math.max(...sockets)] : [0, 0],
  };
  const set = (bytes: number, what: string) => Object.assign(x, { outputBytes: bytes, outputWhat: what });
  switch (s.name) {
    case 'extract':
      set(await duBytes(dirs.tables), 'table dumps');
      break;
    case 'transform':
      set(stepCounts(s).bytes ?? (await duBytes(dirs.events)), 'event dumps');
      break;
    case 'seed modules': {
      const { default: config } = (await import(CONFIG)) as { default: { modules: Array<{ database: string }> } };
      const client = new pg.Client({ connectionString: pgUrl });
      await client.connect();
      try {
        const { rows } = await client.query<{ bytes: string }>('SELECT sum(pg_database_size(datname))::text AS bytes FROM pg_database WHERE datname = ANY($1)', [config.modules.map((m) => m.database)]);
        set(Number(rows[0].bytes), 'module databases');
      } finally {
        await client.end();
      }
      break;
    }
    case 'seed rabbitmq':
      set(stepCounts(s).bytes ?? 0, 'message bodies published');
      break;
  }
  return x;
}

/** Seconds the raw limit of a step took (or would take) for that step's work at one scale; NaN if not measured. */
function rawLimitSeconds(step: string, run: ScaleRun): number {
  const s = run.result.steps.find((x) => x.name === step);
  if (!s) return NaN;
  const c = stepCounts(s);
  switch (step) {
    case 'extract': return c.rows! / run.limits.extractRowsPerSecond;
    case 'transform': return c.rows! / run.limits.transformRowsPerSecond;
    case 'seed modules': return run.limits.seedModulesSeconds;
    case 'seed rabbitmq': return run.limits.rabbitmqEventsPerSecond ? c.events! / run.limits.rabbitmqEventsPerSecond : NaN;
    default: return NaN;
  }
}

async function measureLimits(result: PipelineResult, pgUrl: string, amqpUrl: string | undefined): Promise<Limits> {
  const legacy = result.legacyUrl;
  const tables = (await readdir(result.dirs.tables)).filter((f) => f.endsWith('.pb.gz'));
  // Extract's limit: the server streaming every table as COPY text.
  let rows = 0;
  let t = performance.now();
  for (const file of tables) {
    const name = file.replace(/(\.part-\d+)?\.pb\.gz$/, '').split('.');
    const { stdout } = await exec('bash', ['-c', `psql "$0" -c "COPY (SELECT * FROM \\"${name[0]}\\".\\"${name[1]}\\") TO STDOUT" | wc -l`, legacy], { maxBuffer: 1 << 20 });
    rows += Number(stdout.trim());
  }
  const extractRowsPerSecond = rows / ((performance.now() - t) / 1000);

  // Transform's limit: inflate and decode the same dumps, nothing else, a block at a time (a whole
  // fi10 table inflated at once held gigabytes).
  t = performance.now();
  let decoded = 0;
  for (const file of tables) {
    const reader = await DumpReader.open(path.join(result.dirs.tables, file));
    const { recordType: type, blocks } = reader;
    await reader.close();
    const fh = await open(path.join(result.dirs.tables, file), 'r');
    try {
      for (const block of blocks) {
        const raw = Buffer.allocUnsafe(block.compressedBytes);
        await fh.read(raw, 0, raw.length, block.offset);
        for (const record of unframe(zlib.gunzipSync(raw))) {
          type.decode(record);
          decoded++;
        }
      }
    } finally {
      await fh.close();
    }
  }
  const transformRowsPerSecond = decoded / ((performance.now() - t) / 1000);

  // Seed modules' limit: psql \copy of the final module rows into the same (emptied) tables.
  const { default: config } = (await import(CONFIG)) as { default: { modules: Array<{ database: string; schemaName: string }>; rabbitmq: { exchange: string; queues: Array<{ name: string; bindings: string[]; arguments?: Record<string, unknown> }> } } };
  let moduleRows = 0;
  let copySeconds = 0;
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-copy-'));
  try {
    for (const module of config.modules) {
      const url = databaseUrl(pgUrl, module.database);
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      const tablesInModule = (await client.query<{ t: string }>(`SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) AS t FROM information_schema.tables WHERE table_schema = $1 AND table_name <> 'ferry_progress'`, [module.schemaName])).rows.map((r) => r.t);
      for (const table of tablesInModule) {
        const file = path.join(tmp, `${module.schemaName}.${table}.copy`);
        await exec('psql', [url, '-c', `\\copy ${table} TO '${file}'`]);
        moduleRows += Number((await client.query(`SELECT count(*) AS n FROM ${table}`)).rows[0].n);
        await client.query(`TRUNCATE ${table}`);
        const start = performance.now();
        await exec('psql', [url, '-c', `\\copy ${table} FROM '${file}'`]);
        copySeconds += (performance.now() - start) / 1000;
      }
      await client.end();
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }

  let rabbitmqEventsPerSecond: number | undefined;
  const rabbit = result.steps.find((s) => s.name === 'seed rabbitmq');
  if (amqpUrl && rabbit) rabbitmqEventsPerSecond = await rawPublish(amqpUrl, config.rabbitmq, result.dirs.events, stepCounts(rabbit).events!);
  return { extractRowsPerSecond, transformRowsPerSecond, seedModulesSeconds: copySeconds, moduleRows, rabbitmqEventsPerSecond };
}

/**
 * A minimal confirm-window publisher: the timed loop is plain amqplib, no ferry code. It sends
 * real messages (body, properties and headers exactly as ferry builds them) of a sample of the
 * run's events, prepared before the clock starts, as many times over as ferry sent events.
 */
export async function rawPublish(url: string, topology: { exchange: string; queues: Array<{ name: string; bindings: string[]; arguments?: Record<string, unknown> }> }, eventsDir: string, total: number): Promise<number> {
  const sample = await sampleMessages(eventsDir, 20_000);
  const conn = await amqp.connect(url);
  const setup = await conn.createChannel();
  for (const q of topology.queues) {
    await setup.deleteQueue(q.name);
    await setup.assertQueue(q.name, { durable: true, arguments: q.arguments });
    for (const key of q.bindings) await setup.bindQueue(q.name, topology.exchange, key);
  }
  const ch = await conn.createConfirmChannel();
  const window = 5000;
  let inFlight = 0;
  let wake: (() => void) | undefined;
  const start = performance.now();
  for (let i = 0; i < total; i++) {
    while (inFlight >= window) await new Promise<void>((r) => (wake = r));
    inFlight++;
    const m = sample[i % sample.length];
    const ok = ch.publish(topology.exchange, m.routingKey, m.content, m.options, (err) => {
      if (err) throw err;
      inFlight--;
      if (inFlight < window - 500 && wake) {
        const w = wake;
        wake = undefined;
        w();
      }
    });
    if (!ok) await new Promise((r) => ch.once('drain', r));
  }
  await ch.waitForConfirms();
  const seconds = (performance.now() - start) / 1000;
  for (const q of topology.queues) await setup.deleteQueue(q.name);
  await conn.close();
  return total / seconds;
}

/** Every `step`-th event of the run's event dumps as the AMQP message ferry sends for it. */
async function sampleMessages(eventsDir: string, wanted: number): Promise<AmqpMessage[]> {
  const files = (await readdir(eventsDir)).filter((f) => f.endsWith('.pb.gz')).sort();
  const opened = await Promise.all(files.map((f) => DumpReader.open(path.join(eventsDir, f))));
  // Event dumps only (a transform run may also leave rejects.pb.gz there).
  const readers = opened.filter((r) => r.header.kind === 'EVENTS');
  await Promise.all(opened.filter((r) => !readers.includes(r)).map((r) => r.close()));
  const count = readers.reduce((n, r) => n + r.trailer.records, 0);
  const step = Math.max(1, Math.floor(count / wanted));
  const out: AmqpMessage[] = [];
  let i = 0;
  for (const reader of readers) {
    for await (const message of reader.records()) {
      if (i++ % step === 0) out.push(toAmqpMessage(readEnvelope(message), reader.root, 'protobuf'));
    }
    await reader.close();
  }
  return out;
}

function valueOf(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
}
