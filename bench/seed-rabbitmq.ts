// `npm run bench -- seed-rabbitmq [--events N] [--fanout-events N]`: ferry seed rabbitmq against a
// minimal amqplib publisher (no ferry code) with the same confirm window, message size, properties
// and headers, in the same run on the same broker:
//   1. 1,000,000 events to an exchange bound to one queue;
//   2. 200,000 events to an exchange whose 12 queues all bind '#' (the broker is the bottleneck).
import { link, mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import amqp from 'amqplib';
import { DumpWriter, eventSchema, makeEnvelope } from '../dumps/index.ts';
import { Progress } from '../lib/progress.ts';
import { SEED_RABBITMQ_DEFAULTS, seedRabbitmq } from '../seed/rabbitmq-engine.ts';
import { acquireServices } from '../services/services.ts';
import { measure, reportFigure } from './report.ts';

const PROTO = `syntax = "proto3"; package bench;
message Posted { string post_id = 1; string author_id = 2; string body = 3; int64 posted_at = 4; }`;
const TYPES = ['MessagePosted', 'ProfileUpdated', 'FlirtSent'];
const FILE_EVENTS = 200_000;
const WINDOW = SEED_RABBITMQ_DEFAULTS.window;
const BATCH = SEED_RABBITMQ_DEFAULTS.batchSize;
// Queue arguments that keep the broker's memory sane with millions of queued messages.
const QUEUE_ARGS = { 'x-queue-version': 2, 'x-queue-mode': 'lazy' };

function uuid(n: number, kind: number): string {
  const h = (n * 2654435761 + kind).toString(16).padStart(12, '0').slice(-12);
  return `00000000-0000-5000-a000-${h}`;
}

/** Events of ~250 bytes of payload, as transform would write them. */
async function writeEvents(dir: string, events: number): Promise<void> {
  const { root, descriptorSet } = eventSchema([PROTO]);
  for (let f = 0; f * FILE_EVENTS < events; f++) {
    const writer = await DumpWriter.create(path.join(dir, `part-${f}.events.pb.gz`), { kind: 'EVENTS', name: 'bench', recordType: 'ferry.event.Envelope', descriptorSet });
    for (let i = f * FILE_EVENTS; i < Math.min(events, (f + 1) * FILE_EVENTS); i++) {
      await writer.write(makeEnvelope(root, {
        id: uuid(i, 1), type: TYPES[i % 3], occurredAt: new Date(1_500_000_000_000 + i * 1000).toISOString(),
        aggregateType: 'member', aggregateId: uuid(i % 40_000, 2), source: { table: 'dbo.Posts', key: `[${i}]`, index: 0 },
        schemaVersion: 1, payloadType: 'bench.Posted',
        payload: { post_id: uuid(i, 3), author_id: uuid(i % 40_000, 2), body: `Post ${i}: `.padEnd(160, 'lorem ipsum '), posted_at: 1_500_000_000 + i },
      }));
    }
    await writer.close();
  }
}

/**
 * The raw limit: amqplib alone, same window, same message size, properties and headers. It publishes
 * in bursts of the same batch size as ferry: refilling the window one message per confirm makes
 * many tiny socket writes and was slower than ferry here.
 */
async function rawPublish(url: string, exchange: string, events: number, label: string): Promise<void> {
  const conn = await amqp.connect(url);
  const ch = await conn.createConfirmChannel();
  const progress = new Progress({ label, unit: 'msgs', total: events });
  const body = Buffer.alloc(250, 'x');
  let outstanding = 0;
  let wake: (() => void) | undefined;
  const settled = () => {
    outstanding--;
    progress.add(1, body.length);
    if (wake && outstanding + BATCH <= WINDOW) {
      const w = wake;
      wake = undefined;
      w();
    }
  };
  for (let i = 0; i < events; i++) {
    if (i % BATCH === 0 && outstanding + BATCH > WINDOW) await new Promise<void>((r) => (wake = r));
    outstanding++;
    const ok = ch.publish(exchange, TYPES[i % 3], body, {
      persistent: true, mandatory: true, messageId: uuid(i, 1), type: TYPES[i % 3], timestamp: 1_500_000_000 + i,
      contentType: 'application/x-protobuf', appId: 'ferry',
      headers: {
        occurredAt: new Date(1_500_000_000_000 + i * 1000).toISOString(), aggregateType: 'member', aggregateId: uuid(i % 40_000, 2),
        sourceTable: 'dbo.Posts', sourceKey: `[${i}]`, sourceIndex: 0, schemaVersion: 1, payloadType: 'bench.Posted',
      },
    }, (err) => {
      if (err) throw err;
      settled();
    });
    if (!ok) await new Promise((r) => ch.once('drain', r));
  }
  await ch.waitForConfirms();
  progress.finish();
  await conn.close();
}

async function topology(url: string, exchange: string, queues: number): Promise<{ names: string[]; drop: () => Promise<void> }> {
  const conn = await amqp.connect(url);
  const ch = await conn.createChannel();
  await ch.assertExchange(exchange, 'topic', { durable: true });
  const names = Array.from({ length: queues }, (_, q) => `${exchange}.q${q}`);
  for (const q of names) {
    await ch.assertQueue(q, { durable: true, arguments: QUEUE_ARGS });
    await ch.bindQueue(q, exchange, '#');
  }
  return {
    names,
    drop: async () => {
      for (const q of names) await ch.deleteQueue(q);
      await ch.deleteExchange(exchange);
      await conn.close();
    },
  };
}

async function compare(url: string, dir: string, events: number, queues: number, name: string): Promise<void> {
  const log = (line: string) => process.stderr.write(`${line}\n`);
  log(`\n${name}: ${events} events, exchange bound to ${queues} queue(s) ('#'), window ${WINDOW}`);
  const rawExchange = `ferry.bench.raw.${process.pid}`;
  const rawTop = await topology(url, rawExchange, queues);
  const raw = await measure(() => rawPublish(url, rawExchange, events, `  raw amqplib (${queues} queues)`));
  await rawTop.drop();

  const exchange = `ferry.bench.ferry.${process.pid}`;
  const top = await topology(url, exchange, queues);
  const ferry = await measure(() => seedRabbitmq({
    ...SEED_RABBITMQ_DEFAULTS, in: dir, url, exchange, declare: false, queues: [], payload: 'protobuf', unroutable: 'fail',
    checkpoint: path.join(dir, `.checkpoint-${queues}.json`), resume: false, restart: true, log,
  }));
  await top.drop();
  if (ferry.result.events !== events) throw new Error(`ferry published ${ferry.result.events} of ${events} events`);
  const p = ferry.result.confirmLatencyMs;
  log(`  ferry: ${ferry.result.eventsPerSecond} events/s, confirm latency p50 ${p.p50} ms p95 ${p.p95} ms p99 ${p.p99} ms; peak RSS ${Math.round(ferry.peakRssMb)} MB`);
  reportFigure({ name, value: events / ferry.seconds, unit: 'events/s', limit: events / raw.seconds, limitUnit: 'msgs/s', limitWhat: `minimal amqplib confirm-channel publisher, window ${WINDOW} in bursts of ${BATCH}, same message size and headers, ${queues} queue(s)` });
}

export default async function run(args: string[]): Promise<void> {
  const arg = (flag: string, fallback: number) => {
    const i = args.indexOf(flag);
    return i >= 0 ? Number(args[i + 1]) : fallback;
  };
  const events = arg('--events', 1_000_000);
  const fanoutEvents = Math.min(events, arg('--fanout-events', 200_000));
  const { env, release } = await acquireServices((line) => process.stderr.write(`${line}\n`));
  const base = await mkdtemp(path.join(os.tmpdir(), 'ferry-bench-seed-rabbitmq-'));
  try {
    const all = path.join(base, 'all');
    await mkdir(all);
    process.stderr.write(`writing ${events} events of ~250 bytes ...\n`);
    await writeEvents(all, events);
    await compare(env.FERRY_AMQP_URL, all, events, 1, 'seed-rabbitmq 1 queue');

    // The fan-out case reads the first fanoutEvents events (whole files, hard-linked).
    const first = path.join(base, 'fanout');
    await mkdir(first);
    if (fanoutEvents === FILE_EVENTS) await link(path.join(all, 'part-0.events.pb.gz'), path.join(first, 'part-0.events.pb.gz'));
    else await writeEvents(first, fanoutEvents);
    await compare(env.FERRY_AMQP_URL, first, fanoutEvents, 12, 'seed-rabbitmq 12 queues');
  } finally {
    await rm(base, { recursive: true, force: true });
    await release();
  }
}
