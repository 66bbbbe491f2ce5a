// --metrics-port N: the running step's counters as Prometheus metrics on http://127.0.0.1:N/metrics
// (prom-client's text format), so a run of hours can be watched from Prometheus/Grafana, or with curl.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { UserError } from './errors.ts';
import { countOpenSockets } from './progress.ts';
import type { CounterName, RunMetrics, Scope } from './run-metrics.ts';

const LABELS = ['step', 'table', 'module', 'exchange'] as const;
type Labels = Partial<Record<(typeof LABELS)[number], string>>;

const COUNTERS: Array<{ counter: CounterName; help: string }> = [
  { counter: 'rows', help: 'rows read (extract, transform) or written (seed modules)' },
  { counter: 'events', help: 'events written (transform), applied per module (seed modules) or confirmed by the broker (seed rabbitmq)' },
  { counter: 'bytes', help: 'bytes read from the source (extract, uncompressed) or published (seed rabbitmq)' },
  { counter: 'batches', help: 'blocks transformed, batches committed (seed modules) or confirmed (seed rabbitmq)' },
  { counter: 'errors', help: 'rejected rows (transform), skipped events (seed modules), unroutable events (seed rabbitmq)' },
];

/** Seconds: a commit of a batch takes ms to seconds; a confirm under a full window can take longer. */
const LATENCY_BUCKETS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30];

export function metricsRegistry(step: string, metrics: RunMetrics): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ step });
  collectDefaultMetrics({ register: registry, prefix: 'ferry_' });
  const labels = (scope: Scope, name: string): Labels => ({ [scope]: name });
  for (const { counter, help } of COUNTERS) {
    new Counter({
      name: `ferry_${counter}_total`,
      help,
      labelNames: LABELS,
      registers: [registry],
      collect() {
        // Counters are kept by the engines; a scrape copies them (no work per row or batch here).
        this.reset();
        for (const s of metrics.series()) this.inc(labels(s.scope, s.name), s.counts[counter]);
      },
    });
  }
  new Gauge({
    name: 'ferry_in_flight',
    help: 'messages published and not yet confirmed (seed rabbitmq), batches queued per module (seed modules)',
    labelNames: LABELS,
    registers: [registry],
    collect() {
      this.reset();
      for (const g of metrics.inFlightGauges()) this.set(labels(g.scope, g.name), g.value);
    },
  });
  new Gauge({
    name: 'ferry_open_sockets',
    help: 'sockets among the process\'s open file descriptors',
    registers: [registry],
    collect() {
      this.set(countOpenSockets());
    },
  });
  const histograms = {
    confirm: new Histogram({ name: 'ferry_confirm_latency_seconds', help: 'time from publishing a batch to the broker confirming all of it', labelNames: LABELS, buckets: LATENCY_BUCKETS, registers: [registry] }),
    batch: new Histogram({ name: 'ferry_batch_latency_seconds', help: 'time to write and commit one batch into a module database', labelNames: LABELS, buckets: LATENCY_BUCKETS, registers: [registry] }),
  };
  metrics.onLatency((latency, scope, name, ms) => histograms[latency].observe(labels(scope, name), ms / 1000));
  return registry;
}

export interface MetricsServer {
  port: number;
  url: string;
  close(): Promise<void>;
}

/** Serves the registry on 127.0.0.1 only (never on other interfaces: there is no authentication). */
export async function startMetricsServer(registry: Registry, port: number): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '/').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('ferry: metrics are at /metrics\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`ferry: ${err.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new UserError(err.code === 'EADDRINUSE' ? `--metrics-port ${port}: the port is in use on 127.0.0.1; pick another (or 0 for any free one)` : `--metrics-port ${port}: ${err.message}`)));
    server.listen(port, '127.0.0.1', resolve);
  });
  server.unref();
  const actual = (server.address() as AddressInfo).port;
  return {
    port: actual,
    url: `http://127.0.0.1:${actual}/metrics`,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
