// What every long step (extract, transform, seed modules, seed rabbitmq) does around its work the
// same way: samples its counters, RSS and sockets into the summary (`run`, `samples`), serves live
// Prometheus metrics with --metrics-port, and writes an HTML report with --report.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Option } from 'commander';
import { UserError } from './errors.ts';
import type { MetricsServer } from './metrics-server.ts';
import { RunSampler, type RunSample, type SampleCounters } from './progress.ts';
import { runMetrics, type CounterName } from './run-metrics.ts';

/** Added to every step's --json summary. */
export interface RunInfo {
  /** The step: extract, transform, seed modules, seed rabbitmq. */
  command: string;
  startedAt: string;
  finishedAt: string;
  /** Interval of `samples` at the end of the run (it doubles when a long run has many). */
  sampleIntervalMs: number;
  peakRssBytes: number;
}

export interface RunFlags {
  report?: string;
  metricsPort?: number;
  metricsLinger?: number;
  quiet?: boolean;
}

/** --report FILE.html, for every step's command. */
export function reportOption(): Option {
  return new Option('--report <file.html>', 'write a self-contained HTML report of the run (throughput and memory over time, totals)');
}

/** Prometheus scrapes every 15–60 s: without a wait at the end, the last counts of a run are never seen. */
export function metricsLingerOption(): Option {
  return new Option('--metrics-linger <seconds>', 'with --metrics-port: keep serving the final metrics this long after the step ends')
    .argParser((v: string) => {
      if (!/^\d+$/.test(v)) throw new UserError(`--metrics-linger takes whole seconds, not "${v}"`);
      return Number(v);
    });
}

/** --metrics-port N, for every long step's command. */
export function metricsPortOption(): Option {
  return new Option('--metrics-port <n>', 'serve live Prometheus metrics on http://127.0.0.1:N/metrics while the step runs (0: any free port)')
    .argParser((v: string) => {
      const n = Number(v);
      if (!/^\d+$/.test(v) || n > 65535) throw new UserError(`--metrics-port takes a port number 0–65535, not "${v}"`);
      return n;
    });
}

export class StepRun {
  private readonly sampler: RunSampler;
  private finished = false;
  private constructor(readonly command: string, private readonly flags: RunFlags, counters: CounterName[], private readonly server?: MetricsServer) {
    const pick = (): SampleCounters => {
      const out: SampleCounters = {};
      for (const c of counters) if (c === 'rows' || c === 'events' || c === 'bytes') out[c] = runMetrics.totals[c];
      return out;
    };
    this.sampler = new RunSampler(pick);
  }

  /** Starts sampling (and the metrics endpoint): call before the step's work. */
  static async start(command: string, flags: RunFlags, counters: CounterName[]): Promise<StepRun> {
    let server: MetricsServer | undefined;
    if (flags.metricsPort !== undefined) {
      // Loaded only when asked for: prom-client would add to every command's start-up time.
      const { metricsRegistry, startMetricsServer } = await import('./metrics-server.ts');
      server = await startMetricsServer(metricsRegistry(command, runMetrics), flags.metricsPort);
      if (!flags.quiet) process.stderr.write(`metrics: ${server.url}\n`);
    }
    return new StepRun(command, flags, counters, server);
  }

  /** The summary with `run` and `samples` added; writes the report when asked for. */
  async finish<T extends object>(summary: T): Promise<T & { run: RunInfo; samples: RunSample[] }> {
    this.finished = true;
    const samples = this.sampler.stop();
    const run: RunInfo = {
      command: this.command,
      startedAt: this.sampler.startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      sampleIntervalMs: this.sampler.interval,
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
    };
    const out = { ...summary, run, samples };
    if (this.flags.report) {
      const file = this.flags.report;
      const { renderRunReport } = await import('./html-report.ts');
      await mkdir(path.dirname(path.resolve(file)), { recursive: true });
      await writeFile(file, renderRunReport({ title: `ferry ${this.command}`, steps: [out] }));
      if (!this.flags.quiet) process.stderr.write(`report: ${file}\n`);
    }
    return out;
  }

  /** Stops sampling and the endpoint (also after a failure), after --metrics-linger once finished. */
  async close(): Promise<void> {
    this.sampler.stop();
    if (this.server && this.finished && this.flags.metricsLinger) await new Promise((resolve) => setTimeout(resolve, this.flags.metricsLinger! * 1000));
    await this.server?.close();
  }
}
