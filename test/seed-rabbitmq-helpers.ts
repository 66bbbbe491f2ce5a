// Helpers for the `ferry seed rabbitmq` suites: event dumps with known content, unique names, and
// reading back every message a queue holds.
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import amqp, { type ConsumeMessage } from 'amqplib';
import { expect } from 'vitest';
import { decodePayload, eventSchema } from '../dumps/index.ts';
import { SAMPLE_EVENT_PROTO, sampleEvent, writeSampleEventDump } from './fixtures/event-dumps.ts';

export const schema = eventSchema([SAMPLE_EVENT_PROTO]);

export function uniqueName(prefix: string): string {
  return `${prefix}.${randomBytes(4).toString('hex')}`;
}

/** Event dumps in `dir`: files[k] = [from, count]; returns every event index written. */
export async function writeDumps(dir: string, files: Array<[string, number, number]>, options: { blockRecords?: number; bodyBytes?: number } = {}): Promise<number[]> {
  const all: number[] = [];
  for (const [name, from, count] of files) {
    await writeSampleEventDump(path.join(dir, name), count, { from, ...options });
    for (let i = from; i < from + count; i++) all.push(i);
  }
  return all;
}

/** A ferry.config.ts with a rabbitmq topology. */
export async function writeConfig(dir: string, rabbitmq: object): Promise<string> {
  const file = path.join(dir, 'ferry.config.ts');
  // As in a user's project: an ES-module package (a .ts config outside one does not load through tsx).
  await writeFile(path.join(dir, 'package.json'), '{ "type": "module" }\n');
  await writeFile(file, `export default ${JSON.stringify({ rabbitmq }, null, 2)};\n`);
  return file;
}

/** Every message in the queue now (it must hold only what was published), acked and gone. */
export async function drainQueue(url: string, queue: string): Promise<ConsumeMessage[]> {
  const conn = await amqp.connect(url);
  try {
    const ch = await conn.createChannel();
    const { messageCount } = await ch.checkQueue(queue);
    const messages: ConsumeMessage[] = [];
    if (messageCount === 0) return messages;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`read ${messages.length} of ${messageCount} messages from ${queue}`)), 30_000);
      // noAck: the broker forgets each message as it delivers it, so nothing can stay behind unacked.
      void ch.consume(queue, (m) => {
        if (!m) return;
        messages.push(m);
        if (messages.length === messageCount) {
          clearTimeout(timer);
          resolve();
        }
      }, { noAck: true });
    });
    await ch.close();
    return messages;
  } finally {
    await conn.close();
  }
}

export async function deleteQueues(url: string, queues: string[], exchanges: string[] = []): Promise<void> {
  const conn = await amqp.connect(url);
  try {
    const ch = await conn.createChannel();
    for (const q of queues) await ch.deleteQueue(q);
    for (const e of exchanges) await ch.deleteExchange(e);
  } finally {
    await conn.close();
  }
}

/** Asserts one message is exactly sample event `i` as ferry publishes it. */
export function expectSampleMessage(m: ConsumeMessage, i: number, exchange: string, payload: 'protobuf' | 'json' = 'protobuf'): void {
  const e = sampleEvent(i);
  expect(m.fields.exchange).toBe(exchange);
  expect(m.fields.routingKey).toBe(e.type);
  expect(m.properties).toMatchObject({
    messageId: e.id,
    type: e.type,
    timestamp: Math.floor(Date.parse(e.occurredAt) / 1000),
    deliveryMode: 2,
    contentType: payload === 'json' ? 'application/json' : 'application/x-protobuf',
    appId: 'ferry',
  });
  expect(m.properties.headers).toEqual({
    occurredAt: e.occurredAt,
    aggregateType: e.aggregateType,
    aggregateId: e.aggregateId,
    sourceTable: e.source.table,
    sourceKey: e.source.key,
    sourceIndex: e.source.index,
    schemaVersion: e.schemaVersion,
    payloadType: e.payloadType,
  });
  const type = schema.root.lookupType(e.payloadType);
  const encoded = type.encode(type.fromObject(e.payload)).finish();
  if (payload === 'json') {
    expect(JSON.parse(m.content.toString('utf8'))).toEqual(decodePayload(schema.root, { payloadType: e.payloadType, payload: encoded }));
  } else {
    expect(Buffer.compare(m.content, Buffer.from(encoded))).toBe(0);
  }
}

/** Index of a sample event from its id. */
export function indexById(ids: number[]): Map<string, number> {
  return new Map(ids.map((i) => [sampleEvent(i).id, i]));
}
