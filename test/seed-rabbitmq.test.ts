// `ferry seed rabbitmq` against the real broker: every event arrives once with the right routing
// key, properties, headers and payload; the topology comes from the config; checkpoints guard reruns.
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import amqp from 'amqplib';
import { afterAll, describe, expect, it } from 'vitest';
import { runFerry, tempDir } from './helpers.ts';
import { deleteQueues, drainQueue, expectSampleMessage, indexById, uniqueName, writeConfig, writeDumps } from './seed-rabbitmq-helpers.ts';
import { sampleEvent } from './fixtures/event-dumps.ts';

const url = () => process.env.FERRY_AMQP_URL!;
const cleanup: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanup) await c().catch(() => undefined);
});

describe('ferry seed rabbitmq', () => {
  it('publishes every event with its routing key, properties, headers and payload, to the queues of the config', async () => {
    const dir = await tempDir();
    const exchange = uniqueName('ferry.test.events');
    const all = uniqueName('ferry.test.all');
    const members = uniqueName('ferry.test.members');
    cleanup.push(() => deleteQueues(url(), [all, members], [exchange]));
    const ids = await writeDumps(dir, [['a.events.pb.gz', 0, 1_000], ['b.events.pb.gz', 1_000, 2_000]], { blockRecords: 400 });
    const config = await writeConfig(dir, {
      exchange,
      queues: [
        { name: all, bindings: ['#'], arguments: { 'x-queue-version': 2 } },
        { name: members, bindings: ['MemberRegistered', 'MemberBlocked'] },
      ],
    });

    const run = await runFerry(['seed', 'rabbitmq', '--in', dir, '--url', url(), '--declare', '--config', config, '--batch-size', '250', '--window', '1000', '--json', '--quiet']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const summary = JSON.parse(run.stdout);
    expect(summary).toMatchObject({
      exchange, events: 3_000, complete: true, resumed: false, reconnects: 0,
      types: { MemberRegistered: 1_000, MessageSent: 1_000, MemberBlocked: 1_000 },
      files: [{ file: 'a.events.pb.gz', records: 1_000, from: 0, next: 1_000 }, { file: 'b.events.pb.gz', records: 2_000, from: 0, next: 2_000 }],
      unroutable: { events: 0 },
    });
    expect(summary.bytes).toBeGreaterThan(3_000 * 50);
    expect(summary.confirmLatencyMs.batches).toBe(12);
    expect(summary.broker).not.toContain('guest:guest');

    const everything = await drainQueue(url(), all);
    expect(everything).toHaveLength(3_000);
    const byId = indexById(ids);
    // One channel: the queue holds the events in input order.
    everything.forEach((m, k) => {
      expect(byId.get(m.properties.messageId)).toBe(k);
      expectSampleMessage(m, k, exchange);
    });
    const memberEvents = await drainQueue(url(), members);
    expect(memberEvents.map((m) => m.properties.messageId)).toEqual(ids.filter((i) => sampleEvent(i).type !== 'MessageSent').map((i) => sampleEvent(i).id));

    // The checkpoint says the run is complete; a second run must be told what to do.
    const checkpoint = JSON.parse(await readFile(path.join(dir, '.ferry-seed-rabbitmq.json'), 'utf8'));
    expect(checkpoint).toMatchObject({ exchange, complete: true, files: { 'a.events.pb.gz': { next: 1_000, records: 1_000 }, 'b.events.pb.gz': { next: 2_000, records: 2_000 } } });
    const again = await runFerry(['seed', 'rabbitmq', '--in', dir, '--url', url(), '--config', config, '--quiet']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^ferry: checkpoint .*\.ferry-seed-rabbitmq\.json exists \(a finished run to exchange .*\): pass --resume to continue it, or --restart to publish everything again\n$/);
    const resumed = await runFerry(['seed', 'rabbitmq', '--in', dir, '--url', url(), '--config', config, '--resume', '--json', '--quiet']);
    expect(resumed.code).toBe(0);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ events: 0, complete: true, resumed: true });
    expect((await drainQueue(url(), all)).length).toBe(0);
  });

  it('publishes JSON payloads with --payload json, and everything again with --restart over several channels', async () => {
    const dir = await tempDir();
    const exchange = uniqueName('ferry.test.json');
    const queue = uniqueName('ferry.test.json-all');
    cleanup.push(() => deleteQueues(url(), [queue], [exchange]));
    await writeDumps(dir, [['only.events.pb.gz', 0, 30]]);
    const config = await writeConfig(dir, { queues: [{ name: queue, bindings: ['#'] }] });
    const args = ['seed', 'rabbitmq', '--in', dir, '--url', url(), '--exchange', exchange, '--declare', '--config', config, '--payload', 'json', '--quiet'];
    const run = await runFerry(args);
    expect(run.code).toBe(0);
    // Without --json the summary goes to stderr, per type.
    expect(run.stderr).toMatch(/seed rabbitmq: 30 events .* to exchange ferry\.test\.json\.\w+ at 127\.0\.0\.1:\d+ vhost \/ in/);
    expect(run.stderr).toMatch(/ {2}MemberRegistered: 10\n/);
    expect(run.stdout).toBe('');
    const first = await drainQueue(url(), queue);
    expect(first).toHaveLength(30);
    first.forEach((m, i) => expectSampleMessage(m, i, exchange, 'json'));

    // Again, over several channels and connections: the same messages, in whatever order.
    const restarted = await runFerry([...args, '--restart', '--json', '--channels', '3', '--connections', '2', '--batch-size', '4']);
    expect(restarted.code).toBe(0);
    expect(JSON.parse(restarted.stdout)).toMatchObject({ events: 30, resumed: false, channels: 3, connections: 2, confirmLatencyMs: { batches: 8 } });
    const second = await drainQueue(url(), queue);
    expect(second.map((m) => m.properties.messageId).sort()).toEqual(first.map((m) => m.properties.messageId).sort());
    for (const m of second) expectSampleMessage(m, first.findIndex((f) => f.properties.messageId === m.properties.messageId), exchange, 'json');
  });
});

describe('ferry seed rabbitmq, bad input', () => {
  const seedArgs = (dir: string, brokerUrl: string, ...more: string[]) => ['seed', 'rabbitmq', '--in', dir, '--url', brokerUrl, '--quiet', ...more];

  it('broker unreachable: one line after a bounded retry, password redacted', async () => {
    const dir = await tempDir();
    await writeDumps(dir, [['a.events.pb.gz', 0, 10]]);
    const port = await closedPort();
    const started = Date.now();
    const run = await runFerry(seedArgs(dir, `amqp://guest:hunter2@127.0.0.1:${port}`, '--connect-timeout', '2'));
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(new RegExp(`^ferry: cannot reach RabbitMQ at 127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\): is the broker running\\? check --url \\(tried \\d+ times in 2 s\\)\\n$`));
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(run.stderr + run.stdout).not.toContain('hunter2');
  });

  it('wrong credentials and wrong vhost: clear errors at once', async () => {
    const dir = await tempDir();
    await writeDumps(dir, [['a.events.pb.gz', 0, 10]]);
    const good = new URL(url());
    const badPassword = new URL(good);
    badPassword.password = 'hunter2';
    const login = await runFerry(seedArgs(dir, badPassword.toString()));
    expect(login.code).toBe(1);
    expect(login.stderr).toBe(`ferry: RabbitMQ at 127.0.0.1:${good.port} refused the login of user "guest": check the user name and password in --url (or FERRY_AMQP_URL)\n`);
    const vhost = await runFerry(seedArgs(dir, `${url()}/no-such-vhost`));
    expect(vhost.code).toBe(1);
    expect(vhost.stderr).toBe(`ferry: RabbitMQ at 127.0.0.1:${good.port} would not open virtual host "no-such-vhost" for user "guest": check that the vhost exists and the user may use it (the path of --url)\n`);
  });

  it('exchange missing, or declared before with another type: says which and what to do', async () => {
    const dir = await tempDir();
    await writeDumps(dir, [['a.events.pb.gz', 0, 10]]);
    const missing = uniqueName('ferry.test.missing');
    const run = await runFerry(seedArgs(dir, url(), '--exchange', missing));
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`ferry: exchange ${missing} does not exist: pass --declare to create it (topic, durable, with the queues of rabbitmq.queues in the config), or --exchange NAME\n`);

    const direct = uniqueName('ferry.test.direct');
    cleanup.push(() => deleteQueues(url(), [], [direct]));
    const conn = await amqp.connect(url());
    await (await conn.createChannel()).assertExchange(direct, 'direct', { durable: true });
    await conn.close();
    const declared = await runFerry(seedArgs(dir, url(), '--exchange', direct, '--declare', '--restart'));
    expect(declared.code).toBe(1);
    expect(declared.stderr).toBe(`ferry: exchange ${direct} already exists with type direct, not topic as ferry declares it (topic, durable): delete it, or pass another --exchange\n`);
  });

  it('unroutable events fail the run with the event and its position; --unroutable skip counts them', async () => {
    const dir = await tempDir();
    const exchange = uniqueName('ferry.test.unroutable');
    const queue = uniqueName('ferry.test.registered');
    cleanup.push(() => deleteQueues(url(), [queue], [exchange]));
    const ids = await writeDumps(dir, [['a.events.pb.gz', 0, 600]]);
    const config = await writeConfig(dir, { exchange, queues: [{ name: queue, bindings: ['MemberRegistered'] }] });
    const args = seedArgs(dir, url(), '--declare', '--config', config, '--batch-size', '100', '--window', '300');
    const failed = await runFerry(args);
    expect(failed.code).toBe(1);
    // Event 1 is the first MessageSent, which no queue binds.
    expect(failed.stderr).toBe(`ferry: event ${sampleEvent(1).id} in a.events.pb.gz record 1 came back unroutable (312 NO_ROUTE): no queue is bound to exchange ${exchange} for routing key MessageSent; bind one (rabbitmq.queues in the config with --declare), or pass --unroutable skip to count and drop such events\n`);
    const checkpoint = JSON.parse(await readFile(path.join(dir, '.ferry-seed-rabbitmq.json'), 'utf8'));
    expect(checkpoint).toMatchObject({ complete: false, files: { 'a.events.pb.gz': { next: 0 } } });

    const skipped = await runFerry([...args, '--resume', '--unroutable', 'skip', '--json']);
    expect(skipped.code).toBe(0);
    expect(JSON.parse(skipped.stdout)).toMatchObject({ events: 600, complete: true, unroutable: { policy: 'skip', events: 400, types: { MessageSent: 200, MemberBlocked: 200 } } });
    const messages = await drainQueue(url(), queue);
    const registered = ids.filter((i) => i % 3 === 0).map((i) => sampleEvent(i).id);
    expect(new Set(messages.map((m) => m.properties.messageId))).toEqual(new Set(registered));
    // The failed run's MemberRegistered events may come twice: no more than its window.
    expect(messages.length - registered.length).toBeLessThanOrEqual(300);
  });

  it('nacked events (a full queue that rejects publishes) are sent again with backoff, and arrive once there is room', async () => {
    const dir = await tempDir();
    const exchange = uniqueName('ferry.test.nack');
    const queue = uniqueName('ferry.test.bounded');
    cleanup.push(() => deleteQueues(url(), [queue], [exchange]));
    const ids = await writeDumps(dir, [['a.events.pb.gz', 0, 300]]);
    const config = await writeConfig(dir, { exchange, queues: [{ name: queue, bindings: ['#'], arguments: { 'x-max-length': 100, 'x-overflow': 'reject-publish' } }] });
    const run = runFerry(seedArgs(dir, url(), '--declare', '--config', config, '--batch-size', '50', '--window', '300', '--json'));
    // Once the queue is full (the broker nacks from then on), make room: the retries get through.
    const conn = await amqp.connect(url());
    const received: string[] = [];
    try {
      conn.on('error', () => undefined);
      const deadline = Date.now() + 20_000;
      for (;;) {
        // A check of a queue not yet declared closes its channel: one channel per look.
        const probe = await conn.createChannel();
        probe.on('error', () => undefined);
        const q = await probe.checkQueue(queue).catch(() => undefined);
        if (q) await probe.close();
        if (q && q.messageCount >= 100) break;
        if (Date.now() > deadline) throw new Error('the queue never filled up');
        await new Promise((r) => setTimeout(r, 20));
      }
      await new Promise((r) => setTimeout(r, 150));
      const ch = await conn.createChannel();
      await ch.consume(queue, (m) => {
        if (!m) return;
        received.push(m.properties.messageId as string);
        ch.ack(m);
      });
      const result = await run;
      expect(result.code).toBe(0);
      const summary = JSON.parse(result.stdout);
      expect(summary).toMatchObject({ events: 300, complete: true });
      expect(summary.nackRetries).toBeGreaterThan(0);
      const deadline2 = Date.now() + 10_000;
      while (received.length < 300 && Date.now() < deadline2) await new Promise((r) => setTimeout(r, 20));
    } finally {
      await conn.close();
    }
    expect(new Set(received)).toEqual(new Set(ids.map((i) => sampleEvent(i).id)));
  });

  it('events the broker keeps nacking fail the run with the event, its position and what to check', async () => {
    const dir = await tempDir();
    const exchange = uniqueName('ferry.test.nack-fatal');
    const queue = uniqueName('ferry.test.full');
    cleanup.push(() => deleteQueues(url(), [queue], [exchange]));
    await writeDumps(dir, [['a.events.pb.gz', 0, 150]]);
    const config = await writeConfig(dir, { exchange, queues: [{ name: queue, bindings: ['#'], arguments: { 'x-max-length': 100, 'x-overflow': 'reject-publish' } }] });
    const run = await runFerry(seedArgs(dir, url(), '--declare', '--config', config, '--batch-size', '50', '--window', '150'));
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(new RegExp(`^ferry: the broker refused \\(nacked\\) event ${sampleEvent(100).id} in a\\.events\\.pb\\.gz record 100 6 times: check the broker's log and the queues' limits \\(x-max-length with reject-publish\\?\\)\n$`));
    const checkpoint = JSON.parse(await readFile(path.join(dir, '.ferry-seed-rabbitmq.json'), 'utf8'));
    expect(checkpoint).toMatchObject({ complete: false, files: { 'a.events.pb.gz': { next: 100 } } });
    expect((await drainQueue(url(), queue)).length).toBe(100);
  });

  it('an event over --max-message-bytes is reported with its id and position before anything of it is sent', async () => {
    const dir = await tempDir();
    const exchange = uniqueName('ferry.test.size');
    cleanup.push(() => deleteQueues(url(), [], [exchange]));
    await writeDumps(dir, [['a.events.pb.gz', 0, 4]], { bodyBytes: 2_000 });
    const run = await runFerry(seedArgs(dir, url(), '--exchange', exchange, '--declare', '--unroutable', 'skip', '--max-message-bytes', '1000'));
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(new RegExp(`^ferry: event ${sampleEvent(1).id} \\(MessageSent\\) in a\\.events\\.pb\\.gz record 1 is 2\\d{3} bytes, over the 1000-byte message size limit \\(--max-message-bytes, the broker's max_message_size\\): raise both, or make the transform produce a smaller payload\\n$`));
  });
});

/** A loopback port nothing listens on. */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
