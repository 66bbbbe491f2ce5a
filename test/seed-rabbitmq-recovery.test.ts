// At least once, never lost: ferry killed with SIGKILL and resumed, and the broker restarted under a
// running seed. After both, the distinct message ids equal the event ids and the duplicates are
// bounded by the confirm window.
import { spawn } from 'node:child_process';
import { chmod, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rabbitmqctl, restartRabbitmq, startRabbitmq, stopRabbitmq, type RabbitmqServer } from '../services/rabbitmq-server.ts';
import { sampleEvent } from './fixtures/event-dumps.ts';
import { FERRY, ROOT, runFerry, tempDir, type RunResult } from './helpers.ts';
import { deleteQueues, drainQueue, uniqueName, writeConfig, writeDumps } from './seed-rabbitmq-helpers.ts';

const WINDOW = 1_000;
const cleanup: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => undefined);
});

/** Starts `ferry ARGS`; `done` resolves with its exit. */
function startFerry(args: string[]): { pid: number; done: Promise<RunResult & { signal: NodeJS.Signals | null }> } {
  const child = spawn(process.execPath, [FERRY, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d));
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  const done = new Promise<RunResult & { signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code: code ?? 1, signal, stdout, stderr })));
  return { pid: child.pid!, done };
}

/** Waits until the checkpoint records at least `events` confirmed events. */
async function confirmedAtLeast(checkpoint: string, events: number, timeoutMs = 30_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const state = JSON.parse(await readFile(checkpoint, 'utf8')) as { files: Record<string, { next: number }> };
      const confirmed = Object.values(state.files).reduce((s, f) => s + f.next, 0);
      if (confirmed >= events) return confirmed;
    } catch {
      // not written yet
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`checkpoint ${checkpoint} did not reach ${events} events`);
}

async function seedSetup(url: string, events: number) {
  const dir = await tempDir();
  const exchange = uniqueName('ferry.test.recovery');
  const queue = uniqueName('ferry.test.recovery-all');
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  const half = events / 2;
  const ids = await writeDumps(dir, [['a.events.pb.gz', 0, half], ['b.events.pb.gz', half, half]], { blockRecords: 2_000 });
  const config = await writeConfig(dir, { exchange, queues: [{ name: queue, bindings: ['#'], arguments: { 'x-queue-version': 2 } }] });
  const args = ['seed', 'rabbitmq', '--in', dir, '--url', url, '--declare', '--config', config, '--batch-size', '200', '--window', String(WINDOW), '--quiet'];
  return { dir, exchange, queue, ids, args, checkpoint: path.join(dir, '.ferry-seed-rabbitmq.json') };
}

/** Nothing lost, duplicates bounded by the window. */
function expectAtLeastOnce(messageIds: string[], ids: number[]): number {
  const expected = new Set(ids.map((i) => sampleEvent(i).id));
  const distinct = new Set(messageIds);
  expect(distinct.size).toBe(expected.size);
  for (const id of expected) if (!distinct.has(id)) throw new Error(`event ${id} was lost`);
  const duplicates = messageIds.length - distinct.size;
  expect(duplicates).toBeLessThanOrEqual(WINDOW);
  return duplicates;
}

// Restarting the shared broker would break the suites running beside this one, so the restart and
// max_message_size tests get a broker of their own (max_message_size 65536); it boots while the
// first test runs.
let ownBroker: Promise<RabbitmqServer>;
beforeAll(() => {
  ownBroker = (async () => {
    const base = await tempDir('ferry-test-rabbit-');
    await chmod(base, 0o755);
    const server = await startRabbitmq(base, () => undefined, 'max_message_size = 65536\n');
    cleanup.push(async () => {
      await stopRabbitmq(server);
      await rm(base, { recursive: true, force: true });
    });
    return server;
  })();
  // Reported where it is awaited.
  ownBroker.catch(() => undefined);
});

describe('ferry seed rabbitmq, at least once', () => {
  it('killed with SIGKILL mid-run, then --resume: every event arrives, duplicates within the window', async () => {
    const url = process.env.FERRY_AMQP_URL!;
    const s = await seedSetup(url, 20_000);
    cleanup.push(() => deleteQueues(url, [s.queue], [s.exchange]));
    const first = startFerry(s.args);
    await confirmedAtLeast(s.checkpoint, 3_000);
    process.kill(first.pid, 'SIGKILL');
    const killed = await first.done;
    expect(killed.signal).toBe('SIGKILL');

    // A plain rerun refuses to guess; --resume continues.
    const plain = await runFerry(s.args);
    expect(plain.code).toBe(1);
    expect(plain.stderr).toMatch(/events confirmed to exchange .*\): pass --resume to continue it, or --restart/);
    const resumed = await runFerry([...s.args, '--resume', '--json']);
    expect(resumed.stderr).toMatch(/^resuming from .*: \d+ events already confirmed\n$/);
    expect(resumed.code).toBe(0);
    const summary = JSON.parse(resumed.stdout);
    expect(summary).toMatchObject({ resumed: true, complete: true });

    const messages = await drainQueue(url, s.queue);
    expectAtLeastOnce(messages.map((m) => m.properties.messageId), s.ids);
    // The resumed run sent exactly what the checkpoint did not cover.
    const covered = summary.files.reduce((n: number, f: { from: number }) => n + f.from, 0);
    expect(covered).toBeGreaterThanOrEqual(3_000);
    expect(summary.events).toBe(20_000 - covered);
  });

  describe('on a broker of its own', () => {
    let server: RabbitmqServer;
    beforeAll(async () => {
      server = await ownBroker;
    });

    it('broker restarted mid-run: ferry reconnects, re-sends the unconfirmed events, loses none', async () => {
      const s = await seedSetup(server.url, 20_000);
      const run = startFerry([...s.args, '--json', '--reconnect-timeout', '90']);
      await confirmedAtLeast(s.checkpoint, 2_000);
      await restartRabbitmq(server);
      const result = await run.done;
      expect(result.stderr).toMatch(/connection to RabbitMQ at 127\.0\.0\.1:\d+ vhost \/ lost: .*; reconnecting \(\d+ unconfirmed events will be sent again\)\n/);
      expect(result.stderr).toMatch(/reconnected to RabbitMQ at .* after \d+\.\d s\n/);
      expect(result.stderr).not.toContain('guest:guest');
      expect(result.code).toBe(0);
      const summary = JSON.parse(result.stdout);
      expect(summary).toMatchObject({ events: 20_000, complete: true });
      expect(summary.reconnects).toBeGreaterThanOrEqual(1);
      const messages = await drainQueue(server.url, s.queue);
      expectAtLeastOnce(messages.map((m) => m.properties.messageId), s.ids);
    });

    it('broker blocks publishing (memory alarm) mid-run: ferry waits, says why, and goes on when unblocked', async () => {
      // Enough events that the run is still publishing when the alarm is raised: rabbitmqctl alone
      // takes seconds to start on a loaded machine, while 20,000 events took under two.
      const s = await seedSetup(server.url, 100_000);
      const run = startFerry([...s.args.filter((a) => a !== '--quiet'), '--json']);
      await confirmedAtLeast(s.checkpoint, 2_000);
      await rabbitmqctl(server, ['set_vm_memory_high_watermark', '0']);
      try {
        // Time for the broker to raise the alarm and for the confirms already under way to land
        // (1 s was too little on a loaded machine).
        await new Promise((r) => setTimeout(r, 2_500));
        const before = await confirmedAtLeast(s.checkpoint, 0);
        // Longer than the 5 s between progress lines, so one is printed while blocked.
        await new Promise((r) => setTimeout(r, 5_500));
        expect(await confirmedAtLeast(s.checkpoint, 0)).toBe(before);
        expect(before).toBeLessThan(100_000);
      } finally {
        await rabbitmqctl(server, ['set_vm_memory_high_watermark', '0.6']);
      }
      const result = await run.done;
      expect(result.code).toBe(0);
      expect(result.stderr).toMatch(/broker blocked publishing: /);
      expect(JSON.parse(result.stdout)).toMatchObject({ events: 100_000, complete: true, reconnects: 0 });
      const messages = await drainQueue(server.url, s.queue);
      expectAtLeastOnce(messages.map((m) => m.properties.messageId), s.ids);
    });

    it("a message over the broker's max_message_size is reported with its event id and position", async () => {
      const dir = await tempDir();
      const exchange = uniqueName('ferry.test.big');
      const queue = uniqueName('ferry.test.big-all');
      await writeDumps(dir, [['big.events.pb.gz', 0, 5]], { bodyBytes: 100_000 });
      const config = await writeConfig(dir, { exchange, queues: [{ name: queue, bindings: ['#'] }] });
      const run = await runFerry(['seed', 'rabbitmq', '--in', dir, '--url', server.url, '--declare', '--config', config, '--quiet']);
      expect(run.code).toBe(1);
      // Event 1 is the first MessageSent, with its 100 kB body.
      expect(run.stderr).toMatch(new RegExp(`^ferry: event ${sampleEvent(1).id} \\(MessageSent\\) in big\\.events\\.pb\\.gz record 1 is 10\\d{4} bytes, over the broker's max_message_size of 65536 bytes: raise it on the broker, or pass --max-message-bytes 65536 to find every such event before publishing\\n$`));
      // Event 0 went through and is checkpointed; nothing from the failed batch is presented as done.
      const checkpoint = JSON.parse(await readFile(path.join(dir, '.ferry-seed-rabbitmq.json'), 'utf8'));
      expect(checkpoint).toMatchObject({ complete: false });
      expect(checkpoint.files['big.events.pb.gz'].next).toBeLessThanOrEqual(1);
    });
  });
});
