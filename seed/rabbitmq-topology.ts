// The RabbitMQ part of ferry.config.ts: the exchange events go to and, for staging brokers, the
// modules' queues and their bindings, so `ferry seed rabbitmq --declare` can seed a fresh broker in
// one command. In production the modules declare their own queues; ferry then only checks that the
// exchange exists.
import type { Channel } from 'amqplib';
import type { RabbitmqQueue, RabbitmqTopology } from '../api/rabbitmq.ts';
import { UserError } from '../lib/errors.ts';

export type { RabbitmqQueue, RabbitmqTopology };

export const DEFAULT_EXCHANGE = 'ferry.events';

/** Checks the shape of `rabbitmq` in a loaded config, so mistakes are one clear line. */
export function checkTopology(topology: unknown, where = 'ferry.config.ts'): RabbitmqTopology {
  if (topology === undefined) return {};
  const fail = (what: string): never => {
    throw new UserError(`${where}: rabbitmq.${what}`);
  };
  if (!topology || typeof topology !== 'object') fail('must be an object { exchange, queues }');
  const t = topology as RabbitmqTopology;
  if (t.exchange !== undefined && (typeof t.exchange !== 'string' || !t.exchange)) fail('exchange must be a non-empty string');
  if (t.queues !== undefined && !Array.isArray(t.queues)) fail('queues must be an array of { name, bindings }');
  const names = new Set<string>();
  for (const [i, q] of (t.queues ?? []).entries()) {
    if (!q || typeof q !== 'object' || typeof q.name !== 'string' || !q.name) fail(`queues[${i}].name must be a non-empty string`);
    if (names.has(q.name)) fail(`queues[${i}]: queue ${q.name} is listed twice`);
    names.add(q.name);
    if (!Array.isArray(q.bindings) || q.bindings.some((b) => typeof b !== 'string' || !b)) fail(`queues[${i}] (${q.name}).bindings must be an array of binding keys such as "MemberRegistered" or "#"`);
    if (q.arguments !== undefined && (typeof q.arguments !== 'object' || q.arguments === null)) fail(`queues[${i}] (${q.name}).arguments must be an object`);
  }
  return t;
}

/**
 * Declares the exchange (topic, durable) and the configured queues and bindings. Runs on a channel of
 * its own: a failed declaration closes the channel it ran on.
 */
export async function declareTopology(openChannel: () => Promise<Channel>, exchange: string, queues: RabbitmqQueue[]): Promise<void> {
  await onChannel(openChannel, `declare exchange ${exchange}`, async (ch) => {
    await ch.assertExchange(exchange, 'topic', { durable: true });
  }, (err) => {
    const m = /inequivalent arg '(\w+)' for exchange .*?received '([^']*)' but current is '([^']*)'/.exec(err.message);
    if (m) {
      return `exchange ${exchange} already exists with ${m[1]} ${m[3]}, not ${m[2]} as ferry declares it (topic, durable): delete it, or pass another --exchange`;
    }
    return undefined;
  });
  for (const queue of queues) {
    await onChannel(openChannel, `declare queue ${queue.name}`, async (ch) => {
      await ch.assertQueue(queue.name, { durable: queue.durable ?? true, arguments: queue.arguments });
      for (const key of queue.bindings) await ch.bindQueue(queue.name, exchange, key);
    }, (err) => {
      const m = /inequivalent arg '([^']+)' for queue .*?received (.*) but current is (.*)"?$/.exec(err.message);
      if (m) return `queue ${queue.name} already exists with another ${m[1]} (${m[3].replace(/"$/, '')}, config asks for ${m[2]}): delete the queue or change rabbitmq.queues in the config`;
      return undefined;
    });
  }
}

/** Checks, without declaring anything, that the exchange exists. */
export async function checkExchange(openChannel: () => Promise<Channel>, exchange: string): Promise<void> {
  await onChannel(openChannel, `check exchange ${exchange}`, (ch) => ch.checkExchange(exchange), (err) =>
    /NOT_FOUND/.test(err.message)
      ? `exchange ${exchange} does not exist: pass --declare to create it (topic, durable, with the queues of rabbitmq.queues in the config), or --exchange NAME`
      : undefined,
  );
}

async function onChannel(openChannel: () => Promise<Channel>, what: string, work: (ch: Channel) => Promise<unknown>, explain: (err: Error) => string | undefined): Promise<void> {
  const ch = await openChannel();
  // A broker refusal closes the channel with an 'error' event; the rejected call carries the same news.
  ch.on('error', () => undefined);
  try {
    await work(ch);
  } catch (err) {
    const message = explain(err as Error);
    throw new UserError(message ?? `${what} failed: ${(err as Error).message}`, { cause: err });
  }
  await ch.close().catch(() => undefined);
}
