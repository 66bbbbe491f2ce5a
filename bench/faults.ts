// `npm run bench -- faults`: every step of the example migration under faults, against an
// uninterrupted run of the same step in the same run. Per step: SIGKILL at random moments, each
// followed by the documented way on (`--resume`; transform: run it again), then compared with the
// reference; a restart of PostgreSQL (extract, seed modules) and of RabbitMQ (seed rabbitmq) under a
// running step; two copies of the step at once (one refused, or both right). Then corrupted copies
// of the dumps (bit flip, truncation, deleted range, appended bytes, swapped blocks): each must be
// reported with its file and byte offset. One line per figure.
//
//   npm run bench -- faults [--scale tiny|small] [--kills N] [--corruptions N] [--seed N]
//
// test/faults.test.ts runs a short version (tiny scale, a few kills and corruptions) in `npm test`.
import { spawn } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import amqp from 'amqplib';
import pg from 'pg';
import { DumpReader, listDumps, verifyDump } from '../dumps/index.ts';
import { CONFIG, EXAMPLE_DIR } from '../demo/pipeline.ts';
import { generateLegacy } from '../demo/legacy/generate.ts';
import type { ScaleName } from '../demo/legacy/population.ts';
import { restartPostgres, startPostgres, stopPostgres, type PostgresServer } from '../services/postgres-server.ts';
import { restartRabbitmq, startRabbitmq, stopRabbitmq, type RabbitmqServer } from '../services/rabbitmq-server.ts';
import { Rng } from '../demo/legacy/random.ts';

const FERRY = path.join(EXAMPLE_DIR, '..', '..', 'bin', 'ferry.js');
const WINDOW = 500;

export interface FaultOptions {
  scale: ScaleName;
  /** SIGKILLs per step. */
  kills: number;
  corruptions: number;
  /** Restart PostgreSQL under extract and seed modules (needs a server of our own). */
  pgRestarts: boolean;
  /** A RabbitMQ of our own to restart under seed rabbitmq; else `amqpUrl` (no restart). */
  rabbitmq: { own: true } | { own: false; url: string };
  seed?: number;
  log?: (line: string) => void;
}

export interface FaultFigures {
  lines: string[];
  /** Everything held: 0 lost, 0 duplicated (modules), duplicates within the window (RabbitMQ), identical outputs, all corruptions detected. */
  ok: boolean;
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  seconds: number;
}

function start(args: string[]): { pid: number; exited: Promise<Exit> } {
  const t0 = performance.now();
  const child = spawn(process.execPath, [FERRY, ...args], { cwd: EXAMPLE_DIR, env: { ...process.env, FERRY_RETRY_BASE_MS: '100' }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-20_000)));
  const exited = new Promise<Exit>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stderr, seconds: (performance.now() - t0) / 1000 })));
  return { pid: child.pid!, exited };
}

async function mustSucceed(what: string, run: Promise<Exit>): Promise<Exit> {
  const r = await run;
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code ?? r.signal}): ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  return r;
}

/** Seeded randomness (the demo's generator's PRNG), so a run can be repeated. */
function random(seed: number): () => number {
  const rng = new Rng(`faults-${seed}`);
  return () => rng.next();
}

/**
 * SIGKILLs a step `kills` times at random moments in [0, 1.1 × its uninterrupted wall time), each
 * killed run followed by the next with `resume` args; a run that ends before its kill starts the
 * work over (`fresh`). Ends with a run that completes. Returns kills delivered and resumed runs.
 */
async function killChain(options: {
  kills: number; refSeconds: number; rand: () => number; fresh: () => Promise<void>;
  args: (resume: boolean) => string[]; name: string;
}): Promise<{ kills: number; resumes: number }> {
  let delivered = 0;
  let resumes = 0;
  let resume = false;
  await options.fresh();
  while (delivered < options.kills) {
    const run = start(options.args(resume));
    const at = options.rand() * options.refSeconds * 1.1 * 1000;
    const ended = await Promise.race([run.exited, sleep(at).then(() => undefined)]);
    if (ended) {
      if (ended.code !== 0) throw new Error(`${options.name}: a run after a kill failed (exit ${ended.code}): ${ended.stderr.trim().split('\n').at(-1)}`);
      await options.fresh();
      resume = false;
      continue;
    }
    process.kill(run.pid, 'SIGKILL');
    await run.exited;
    delivered++;
    if (resume) resumes++;
    resume = true;
  }
  await mustSucceed(`${options.name} --resume`, start(options.args(true)).exited);
  resumes++;
  return { kills: delivered, resumes };
}

/** Per dump file: records and every block's CRC-32 (equal when the rows, order and blocks are). */
async function dumpDigests(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const file of await listDumps(dir)) {
    const r = await DumpReader.open(file);
    try {
      out.set(path.relative(dir, file), `${r.trailer.records}:${r.blocks.map((b) => b.crc32).join(',')}`);
    } finally {
      await r.close();
    }
  }
  return out;
}

async function dumpRecords(dir: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const file of await listDumps(dir)) {
    const r = await DumpReader.open(file);
    out.set(path.relative(dir, file), r.trailer.records);
    await r.close();
  }
  return out;
}

function compareDumps(name: string, kills: number, ref: Map<string, string>, got: Map<string, string>, refRecords: Map<string, number>, gotRecords: Map<string, number>): { line: string; ok: boolean } {
  let lost = 0;
  let duplicated = 0;
  let identical = 0;
  for (const [file, digest] of ref) {
    const diff = (refRecords.get(file) ?? 0) - (gotRecords.get(file) ?? 0);
    if (diff > 0) lost += diff;
    else duplicated -= diff;
    if (got.get(file) === digest) identical++;
  }
  const extra = [...got.keys()].filter((f) => !ref.has(f)).length;
  const ok = lost === 0 && duplicated === 0 && identical === ref.size && extra === 0;
  return { ok, line: `faults ${name}: ${kills} kills, ${lost} lost, ${duplicated} duplicated, ${identical}/${ref.size} dumps identical${extra ? `, ${extra} unexpected files` : ''}` };
}

interface ModuleRef { url: string; schema: string; tables: string[] }

async function moduleTables(server: string): Promise<ModuleRef[]> {
  const { default: config } = (await import(CONFIG)) as { default: { modules: Array<{ database: string; schemaName: string }> } };
  const out: ModuleRef[] = [];
  for (const m of config.modules) {
    const url = new URL(server);
    url.pathname = `/${m.database}`;
    const rows = await query<{ t: string }>(url.href, `SELECT table_name AS t FROM information_schema.tables WHERE table_schema = $1 AND table_name <> 'ferry_progress' ORDER BY 1`, [m.schemaName]);
    out.push({ url: url.href, schema: m.schemaName, tables: rows.map((r) => r.t) });
  }
  return out;
}

async function query<R>(url: string, text: string, values: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text, values)).rows as R[];
  } finally {
    await client.end();
  }
}

/** Every module table as a multiset of row texts. */
async function moduleRows(modules: ModuleRef[]): Promise<Map<string, Map<string, number>>> {
  const out = new Map<string, Map<string, number>>();
  for (const m of modules) {
    for (const t of m.tables) {
      const rows = await query<{ r: string }>(m.url, `SELECT x::text AS r FROM ${pg.escapeIdentifier(m.schema)}.${pg.escapeIdentifier(t)} x`);
      const bag = new Map<string, number>();
      for (const { r } of rows) bag.set(r, (bag.get(r) ?? 0) + 1);
      out.set(`${m.schema}.${t}`, bag);
    }
  }
  return out;
}

function compareModules(name: string, what: string, ref: Map<string, Map<string, number>>, got: Map<string, Map<string, number>>): { line: string; ok: boolean } {
  let lost = 0;
  let duplicated = 0;
  let identical = 0;
  for (const [table, bag] of ref) {
    const other = got.get(table) ?? new Map<string, number>();
    let same = bag.size === other.size;
    for (const [row, n] of bag) {
      const m = other.get(row) ?? 0;
      if (m < n) lost += n - m;
      if (m !== n) same = false;
    }
    for (const [row, m] of other) {
      const n = bag.get(row) ?? 0;
      if (m > n) duplicated += m - n;
    }
    if (same) identical++;
  }
  const ok = lost === 0 && duplicated === 0 && identical === ref.size;
  return { ok, line: `faults ${name}: ${what}, ${lost} lost, ${duplicated} duplicated, ${identical}/${ref.size} tables identical` };
}

export async function runFaults(options: FaultOptions): Promise<FaultFigures> {
  const log = options.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const rand = random(options.seed ?? 20261203);
  const lines: string[] = [];
  let ok = true;
  const report = (r: { line: string; ok: boolean }) => {
    lines.push(r.line);
    ok &&= r.ok;
    log(r.line);
  };
  const work = await mkdtemp(path.join(os.tmpdir(), 'ferry-faults-'));
  await chmod(work, 0o755);
  let server: PostgresServer | undefined;
  let broker: RabbitmqServer | undefined;
  try {
    log(`faults: starting a PostgreSQL of our own${options.rabbitmq.own ? ' and a RabbitMQ' : ''} under ${work}`);
    server = await startPostgres(work, log);
    if (options.rabbitmq.own) broker = await startRabbitmq(work, log);
    const pgUrl = server.url;
    const amqpUrl = broker ? broker.url : (options.rabbitmq as { url: string }).url;
    const legacy = new URL(pgUrl);
    legacy.pathname = '/faults_legacy';
    log(`faults: generating the example's legacy database at scale ${options.scale}`);
    await generateLegacy({ url: pgUrl, database: 'faults_legacy', scale: options.scale });

    const dirs = { schemas: path.join(work, 'schemas') };
    const extractArgs = (out: string) => (resume: boolean) => [
      'extract', '--from', legacy.href, '--out', out, '--schemas-out', dirs.schemas, '--source-timezone', 'Europe/Helsinki',
      '--concurrency', '2', '--chunk-rows', '5000', ...(resume ? ['--resume'] : []),
    ];
    const transformArgs = (input: string, out: string) => () => [
      'transform', '--in', input, '--out', out, '--config', CONFIG, '--order', 'occurred_at', '--max-errors', '1000000', '--no-typecheck',
    ];
    const modulesArgs = (input: string) => (resume: boolean) => [
      'seed', 'modules', '--in', input, '--config', CONFIG, '--url', pgUrl, '--create-databases', '--batch-size', '2000', '--quiet',
      resume ? '--resume' : '--reset',
    ];

    // ── extract
    const refTables = path.join(work, 'tables-ref');
    const refExtract = await mustSucceed('reference extract', start(extractArgs(refTables)(false)).exited);
    const [refDigests, refRecords] = [await dumpDigests(refTables), await dumpRecords(refTables)];
    {
      const out = path.join(work, 'tables-killed');
      const chain = await killChain({ name: 'extract', kills: options.kills, refSeconds: refExtract.seconds, rand, args: extractArgs(out), fresh: () => rm(out, { recursive: true, force: true }) });
      report(compareDumps('extract', chain.kills, refDigests, await dumpDigests(out), refRecords, await dumpRecords(out)));
      const debris = (await readdir(out)).filter((f) => f.startsWith('.') || f.includes('.tmp-'));
      report({ ok: debris.length === 0, line: `faults extract: ${debris.length} debris files left after ${chain.resumes} resumes` });
    }
    if (options.pgRestarts) {
      const out = path.join(work, 'tables-restart');
      const run = start(extractArgs(out)(false));
      // Mid-run: once reading has begun (a server down at the start is "cannot connect", exit 1).
      await until(run.exited, async () => (await readdir(out).catch(() => [] as string[])).includes('extract-manifest.json'));
      await sleep(rand() * refExtract.seconds * 300);
      await restartPostgres(server);
      const resumed = await orResume('extract', run.exited, extractArgs(out)(true));
      const r = compareDumps('extract', 0, refDigests, await dumpDigests(out), refRecords, await dumpRecords(out));
      report({ ok: r.ok, line: r.line.replace('0 kills', `1 PostgreSQL restart (${resumed} --resume)`) });
    }
    {
      const out = path.join(work, 'tables-twice');
      const runs = await Promise.all([start(extractArgs(out)(false)).exited, start(extractArgs(out)(false)).exited]);
      report(twoCopies('extract', runs, /is in use by ferry extract/, compareDumps('extract', 0, refDigests, await dumpDigests(out), refRecords, await dumpRecords(out)).ok));
    }

    // ── transform
    const refEvents = path.join(work, 'events-ref');
    const refTransform = await mustSucceed('reference transform', start(transformArgs(refTables, refEvents)()).exited);
    const [refEventDigests, refEventRecords] = [await dumpDigests(refEvents), await dumpRecords(refEvents)];
    {
      const out = path.join(work, 'events-killed');
      // Transform has no --resume: a killed run is run again (its outputs appear only when complete).
      const chain = await killChain({ name: 'transform', kills: options.kills, refSeconds: refTransform.seconds, rand, args: transformArgs(refTables, out), fresh: async () => undefined });
      report(compareDumps('transform', chain.kills, refEventDigests, await dumpDigests(out), refEventRecords, await dumpRecords(out)));
      const debris = (await readdir(work)).filter((f) => f.startsWith('.'));
      report({ ok: debris.length === 0, line: `faults transform: ${debris.length} staging folders left after ${chain.kills} kills` });
    }
    {
      const out = path.join(work, 'events-twice');
      const runs = await Promise.all([start(transformArgs(refTables, out)()).exited, start(transformArgs(refTables, out)()).exited]);
      report(twoCopies('transform', runs, /is in use by ferry transform/, compareDumps('transform', 0, refEventDigests, await dumpDigests(out), refEventRecords, await dumpRecords(out)).ok));
    }

    // ── seed modules
    const refSeed = await mustSucceed('reference seed modules', start(modulesArgs(refEvents)(false)).exited);
    const modules = await moduleTables(pgUrl);
    const refRows = await moduleRows(modules);
    {
      const chain = await killChain({ name: 'seed modules', kills: options.kills, refSeconds: refSeed.seconds, rand, args: modulesArgs(refEvents), fresh: async () => undefined });
      report(compareModules('seed-modules', `${chain.kills} kills`, refRows, await moduleRows(modules)));
    }
    if (options.pgRestarts) {
      const run = start(modulesArgs(refEvents)(false));
      await until(run.exited, async () => {
        const rows = await query<{ n: string | null }>(modules[0].url, `SELECT sum(next_record) AS n FROM ${pg.escapeIdentifier(modules[0].schema)}.ferry_progress`).catch(() => [{ n: null }]);
        return Number(rows[0].n ?? 0) > 0;
      });
      await sleep(rand() * refSeed.seconds * 300);
      await restartPostgres(server);
      const resumed = await orResume('seed modules', run.exited, modulesArgs(refEvents)(true));
      report(compareModules('seed-modules', `1 PostgreSQL restart (${resumed} --resume)`, refRows, await moduleRows(modules)));
    }
    {
      const runs = await Promise.all([start(modulesArgs(refEvents)(false)).exited, start(modulesArgs(refEvents)(false)).exited]);
      const same = compareModules('seed-modules', '', refRows, await moduleRows(modules)).ok;
      report(twoCopies('seed-modules', runs, /is being seeded by pid \d+/, same));
    }

    // ── seed rabbitmq: a queue of our own bound to everything on an exchange of our own
    // Events published: those of the event dumps (rejects.pb.gz holds rejected rows, not events).
    const events = [...refEventRecords.entries()].filter(([f]) => !path.basename(f).startsWith('rejects')).reduce((a, [, b]) => a + b, 0);
    const exchange = `ferry.faults.${process.pid}`;
    const queue = `ferry.faults.all.${process.pid}`;
    const mqDir = path.join(work, 'mq');
    await mkdir(mqDir);
    const mqConfig = path.join(mqDir, 'ferry.config.ts');
    await writeFile(path.join(mqDir, 'package.json'), '{ "type": "module" }\n');
    await writeFile(mqConfig, `export default ${JSON.stringify({ rabbitmq: { exchange, queues: [{ name: queue, bindings: ['#'], arguments: { 'x-queue-mode': 'lazy' } }] } })};\n`);
    const input = path.join(work, 'events-mq');
    await mkdir(input);
    for (const f of await readdir(refEvents)) if (f.endsWith('.pb.gz')) await copyFile(path.join(refEvents, f), path.join(input, f));
    const checkpoint = path.join(input, '.ferry-seed-rabbitmq.json');
    const mqArgs = (resume: boolean) => ['seed', 'rabbitmq', '--in', input, '--url', amqpUrl, '--config', mqConfig, '--declare', '--window', String(WINDOW), '--quiet', resume ? '--resume' : '--restart'];
    const freshQueue = async () => {
      await purge(amqpUrl, queue);
      await rm(checkpoint, { force: true });
    };
    try {
      await freshQueue();
      const refMq = await mustSucceed('reference seed rabbitmq', start(mqArgs(false)).exited);
      const refIds = await drain(amqpUrl, queue);
      report(rabbitLine('uninterrupted', 0, events, refIds));
      const chain = await killChain({ name: 'seed rabbitmq', kills: options.kills, refSeconds: refMq.seconds, rand, args: mqArgs, fresh: freshQueue });
      report(rabbitLine(`${chain.kills} kills`, chain.resumes, events, await drain(amqpUrl, queue)));
      if (broker) {
        await freshQueue();
        const run = start(mqArgs(false));
        await sleep(rand() * refMq.seconds * 700);
        await restartRabbitmq(broker);
        const resumed = await orResume('seed rabbitmq', run.exited, mqArgs(true));
        report(rabbitLine(`1 RabbitMQ restart (${resumed} --resume)`, 1 + resumed, events, await drain(amqpUrl, queue)));
      }
      await freshQueue();
      const runs = await Promise.all([start(mqArgs(false)).exited, start(mqArgs(false)).exited]);
      const ids = await drain(amqpUrl, queue);
      report(twoCopies('seed-rabbitmq', runs, /is in use by ferry seed rabbitmq/, ids.size === events && ids.duplicates === 0));
    } finally {
      await deleteQueue(amqpUrl, queue, exchange).catch(() => undefined);
    }

    // ── corrupted dumps
    report(await corruptions(options.corruptions, [...await listDumps(refTables), ...await listDumps(refEvents)], path.join(work, 'corrupt'), rand));
  } finally {
    if (server) await stopPostgres(server);
    if (broker) await stopRabbitmq(broker);
    await rm(work, { recursive: true, force: true });
  }
  return { lines, ok };
}

/**
 * A run under a server restart either rides it out (reconnects) or fails with one line, after
 * which the documented way on is --resume (e.g. the server went down while the run was still
 * connecting). Returns how many --resume runs were needed (0 or 1).
 */
async function orResume(what: string, run: Promise<Exit>, resumeArgs: string[]): Promise<number> {
  const r = await run;
  if (r.code === 0) return 0;
  if (r.code !== 1) throw new Error(`${what} under a server restart ended with ${r.code ?? r.signal}: ${r.stderr.trim().split('\n').at(-1)}`);
  await mustSucceed(`${what} --resume after a server restart`, start(resumeArgs).exited);
  return 1;
}

/** Waits until `test` holds or the run ended. */
async function until(ended: Promise<unknown>, test: () => Promise<boolean>): Promise<void> {
  let done = false;
  void ended.then(() => (done = true));
  while (!done && !(await test())) await sleep(20);
}

function twoCopies(name: string, runs: Exit[], refusal: RegExp, correct: boolean): { line: string; ok: boolean } {
  const succeeded = runs.filter((r) => r.code === 0).length;
  const refused = runs.filter((r) => r.code === 1 && refusal.test(r.stderr)).length;
  const ok = succeeded >= 1 && succeeded + refused === 2 && correct;
  return { ok, line: `faults ${name}: 2 copies at once: ${succeeded} succeeded, ${refused} refused, ${2 - succeeded - refused} failed otherwise; result ${correct ? 'correct' : 'WRONG'}` };
}

function rabbitLine(what: string, resumes: number, events: number, ids: { size: number; duplicates: number }): { line: string; ok: boolean } {
  const lost = events - ids.size;
  const bound = resumes * WINDOW;
  return {
    ok: lost === 0 && ids.duplicates <= bound,
    line: `faults seed-rabbitmq: ${what}, ${lost} lost, ${ids.duplicates} duplicated over ${resumes} resumes (bound ${bound}: --window ${WINDOW} per resume)`,
  };
}

async function purge(url: string, queue: string): Promise<void> {
  const conn = await amqp.connect(url);
  try {
    const ch = await conn.createChannel();
    // As ferry --declare declares it (see the config written above).
    await ch.assertQueue(queue, { durable: true, arguments: { 'x-queue-mode': 'lazy' } });
    await ch.purgeQueue(queue);
    await ch.close();
  } finally {
    await conn.close().catch(() => undefined);
  }
}

async function deleteQueue(url: string, queue: string, exchange: string): Promise<void> {
  const conn = await amqp.connect(url);
  try {
    const ch = await conn.createChannel();
    await ch.deleteQueue(queue);
    await ch.deleteExchange(exchange);
    await ch.close();
  } finally {
    await conn.close();
  }
}

/** Takes every message of the queue: distinct message ids and how many came more than once. */
async function drain(url: string, queue: string): Promise<{ size: number; duplicates: number }> {
  const conn = await amqp.connect(url);
  const seen = new Set<string>();
  let duplicates = 0;
  try {
    const ch = await conn.createChannel();
    const { messageCount } = await ch.checkQueue(queue);
    await ch.prefetch(5000);
    let got = 0;
    await new Promise<void>((resolve) => {
      if (messageCount === 0) resolve();
      void ch.consume(queue, (m) => {
        if (!m) return;
        const id = String(m.properties.messageId);
        if (seen.has(id)) duplicates++;
        else seen.add(id);
        ch.ack(m);
        if (++got >= messageCount) resolve();
      });
    });
    await ch.close();
  } finally {
    await conn.close();
  }
  return { size: seen.size, duplicates };
}

type Corruption = 'flip' | 'truncate' | 'delete range' | 'append' | 'swap blocks';
const KINDS: Corruption[] = ['flip', 'truncate', 'delete range', 'append', 'swap blocks'];

/** Corrupted copies of the dumps, round-robin over the kinds: each must fail `verify` naming the file and a byte offset. */
async function corruptions(count: number, files: string[], dir: string, rand: () => number): Promise<{ line: string; ok: boolean }> {
  await mkdir(dir, { recursive: true });
  const perKind = new Map<Corruption, { made: number; detected: number; located: number }>(KINDS.map((k) => [k, { made: 0, detected: 0, located: 0 }]));
  const pick = (n: number) => Math.floor(rand() * n);
  const undetected: string[] = [];
  for (let i = 0; i < count; i++) {
    const kind = KINDS[i % KINDS.length];
    const source = files[pick(files.length)];
    const bytes = await readFile(source);
    let bad: Buffer;
    switch (kind) {
      case 'flip': {
        bad = Buffer.from(bytes);
        const at = pick(bad.length);
        bad[at] ^= 1 << pick(8);
        break;
      }
      case 'truncate':
        bad = bytes.subarray(0, pick(bytes.length));
        break;
      case 'delete range': {
        const at = pick(bytes.length);
        const len = 1 + pick(Math.min(4096, bytes.length - at));
        bad = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + len)]);
        break;
      }
      case 'append':
        bad = Buffer.concat([bytes, Buffer.from(Array.from({ length: 1 + pick(64) }, () => pick(256)))]);
        break;
      case 'swap blocks': {
        const r = await DumpReader.open(source);
        const blocks = r.blocks.map((b) => ({ offset: b.offset, size: b.compressedBytes }));
        await r.close();
        if (blocks.length < 2) {
          // One block only: swap its halves instead.
          const b = blocks[0];
          const mid = b.offset + (b.size >> 1);
          bad = Buffer.concat([bytes.subarray(0, b.offset), bytes.subarray(mid, b.offset + b.size), bytes.subarray(b.offset, mid), bytes.subarray(b.offset + b.size)]);
          break;
        }
        const a = pick(blocks.length - 1);
        const [x, y] = [blocks[a], blocks[a + 1]];
        bad = Buffer.concat([bytes.subarray(0, x.offset), bytes.subarray(y.offset, y.offset + y.size), bytes.subarray(x.offset, x.offset + x.size), bytes.subarray(y.offset + y.size)]);
        break;
      }
    }
    if (bad.equals(bytes)) bad = Buffer.concat([bytes, Buffer.from([0])]);
    const file = path.join(dir, `${i}-${path.basename(source)}`);
    await writeFile(file, bad);
    const result = await verifyDump(file);
    const k = perKind.get(kind)!;
    k.made++;
    if (!result.ok) {
      k.detected++;
      if (result.problem?.includes(file) && /byte offset \d+/.test(result.problem)) k.located++;
      else undetected.push(`${kind}: ${result.problem}`);
    } else undetected.push(`${kind}: not detected (${path.basename(source)})`);
    await rm(file);
  }
  const total = [...perKind.values()].reduce((s, k) => ({ made: s.made + k.made, detected: s.detected + k.detected, located: s.located + k.located }), { made: 0, detected: 0, located: 0 });
  const kinds = [...perKind.entries()].map(([kind, k]) => `${kind} ${k.located}/${k.made}`).join(', ');
  for (const u of undetected.slice(0, 5)) process.stderr.write(`faults corruption: ${u}\n`);
  return {
    ok: total.detected === total.made && total.located === total.made,
    line: `faults corruption: ${total.detected}/${total.made} detected, ${total.located}/${total.made} with file and byte offset (${kinds})`,
  };
}

export default async function bench(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { scale: { type: 'string', default: 'small' }, kills: { type: 'string', default: '20' }, corruptions: { type: 'string', default: '1000' }, seed: { type: 'string' } } });
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const result = await runFaults({
    scale: values.scale as ScaleName, kills: Number(values.kills), corruptions: Number(values.corruptions), pgRestarts: true,
    rabbitmq: { own: true }, seed: values.seed ? Number(values.seed) : undefined,
  });
  for (const line of result.lines) process.stdout.write(line + '\n');
  const cpu = process.cpuUsage(cpu0);
  process.stdout.write(`faults: ${result.ok ? 'all held' : 'SOME FAILED'} in ${((performance.now() - t0) / 1000).toFixed(0)} s wall (load average ${os.loadavg()[0].toFixed(1)}), ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s CPU in the bench process\n`);
  if (!result.ok) process.exitCode = 1;
}
