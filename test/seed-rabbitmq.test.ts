// `ferry seed rabbitmq` against the real broker: every event arrives once with the right routing
// key, properties, headers and payload; the topology comes from the config; checkpoints guard reruns.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
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

  it('publishes JSON payloads with --payload json, and again everything with --restart', async () => {
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

    const restarted = await runFerry([...args, '--restart', '--json']);
    expect(restarted.code).toBe(0);
    expect(JSON.parse(restarted.stdout)).toMatchObject({ events: 30, resumed: false });
    expect((await drainQueue(url(), queue)).map((m) => m.properties.messageId)).toEqual(first.map((m) => m.properties.messageId));
  });
});
