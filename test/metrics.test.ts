// --metrics-port: a real `ferry seed rabbitmq` run watched through its Prometheus endpoint, scraped
// while it publishes and after it finished (--metrics-linger), the counters checked against the
// run's own --json summary.
import { spawn } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { FERRY, ROOT, tempDir } from './helpers.ts';
import { deleteQueues, uniqueName, writeConfig, writeDumps } from './seed-rabbitmq-helpers.ts';

const url = () => process.env.FERRY_AMQP_URL!;
const cleanup: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanup) await c().catch(() => undefined);
});

interface Metric {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parseMetrics(text: string): Metric[] {
  const out: Metric[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-z_:]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

function value(metrics: Metric[], name: string, labels: Record<string, string> = {}): number | undefined {
  return metrics.find((m) => m.name === name && Object.entries(labels).every(([k, v]) => m.labels[k] === v))?.value;
}

describe('ferry seed rabbitmq --metrics-port', () => {
  it('serves live counters on 127.0.0.1 that end equal to the summary', async () => {
    const dir = await tempDir();
    const exchange = uniqueName('ferry.test.metrics');
    const queue = uniqueName('ferry.test.metrics.all');
    cleanup.push(() => deleteQueues(url(), [queue], [exchange]));
    const events = 60_000;
    await writeDumps(dir, [['a.events.pb.gz', 0, events]], { blockRecords: 5_000 });
    const config = await writeConfig(dir, { exchange, queues: [{ name: queue, bindings: ['#'], arguments: { 'x-queue-mode': 'lazy' } }] });

    const child = spawn(process.execPath, [FERRY, 'seed', 'rabbitmq', '--in', dir, '--url', url(), '--declare', '--config', config,
      '--batch-size', '500', '--metrics-port', '0', '--metrics-linger', '60', '--json'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    try {
      await expect.poll(() => /metrics: (http:\S+)/.exec(stderr)?.[1], { timeout: 30_000, interval: 50 }).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      const endpoint = /metrics: (http:\S+)/.exec(stderr)![1];
      const scrape = async () => {
        const res = await fetch(endpoint);
        expect(res.status).toBe(200);
        expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
        return parseMetrics(await res.text());
      };

      // While it publishes: some events confirmed, not all.
      const labels = { step: 'seed rabbitmq', exchange };
      let midRun: Metric[] | undefined;
      while (!stdout.trim().endsWith('}')) {
        const m = await scrape();
        const confirmed = value(m, 'ferry_events_total', labels) ?? 0;
        if (confirmed > 0 && confirmed < events) midRun ??= m;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(midRun, 'no scrape caught the run between its first and its last confirm').toBeDefined();
      expect(value(midRun!, 'ferry_in_flight', labels)).toBeGreaterThanOrEqual(0);
      expect(value(midRun!, 'ferry_process_resident_memory_bytes')).toBeGreaterThan(10e6);

      // Finished (the summary is out), still serving: the counters are the summary's.
      const summary = JSON.parse(stdout);
      expect(summary.events).toBe(events);
      const end = await scrape();
      expect(value(end, 'ferry_events_total', labels)).toBe(summary.events);
      expect(value(end, 'ferry_bytes_total', labels)).toBe(summary.bytes);
      expect(value(end, 'ferry_batches_total', labels)).toBe(events / 500);
      expect(value(end, 'ferry_errors_total', labels)).toBe(summary.unroutable.events);
      expect(value(end, 'ferry_confirm_latency_seconds_count', labels)).toBe(summary.confirmLatencyMs.batches);
      expect(value(end, 'ferry_in_flight', labels)).toBe(0);
      expect(value(end, 'ferry_open_sockets')).toBeGreaterThanOrEqual(1);

      // The summary's samples: counters growing to the total, memory and sockets.
      expect(summary.run).toMatchObject({ command: 'seed rabbitmq', sampleIntervalMs: 1000 });
      const samples = summary.samples as Array<{ ms: number; events: number; bytes: number; rssBytes: number; openSockets: number }>;
      expect(samples.length).toBeGreaterThanOrEqual(2);
      expect(samples.at(-1)).toMatchObject({ events, bytes: summary.bytes });
      expect(samples.every((s, i) => i === 0 || (s.ms > samples[i - 1].ms && s.events >= samples[i - 1].events))).toBe(true);
      expect(samples.every((s) => s.rssBytes > 10e6 && s.openSockets >= 1)).toBe(true);
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });

  it('says which port is taken', async () => {
    const dir = await tempDir();
    const busy = (await import('node:net')).createServer().listen(0, '127.0.0.1');
    await new Promise((resolve) => busy.once('listening', resolve));
    const port = (busy.address() as { port: number }).port;
    try {
      const child = spawn(process.execPath, [FERRY, 'seed', 'rabbitmq', '--in', dir, '--url', url(), '--metrics-port', String(port)], { cwd: ROOT });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d));
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      expect(code).toBe(1);
      expect(stderr).toBe(`ferry: --metrics-port ${port}: the port is in use on 127.0.0.1; pick another (or 0 for any free one)\n`);
    } finally {
      busy.close();
    }
  });
});
