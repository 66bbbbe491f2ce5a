// Live progress on stderr (one rewritten line on a terminal, a plain line every few seconds
// otherwise), the numbers for the final summary, and the time series of a run (RunSampler).
import { readdirSync, readlinkSync } from 'node:fs';

export interface ProgressOptions {
  label: string;
  /** What is counted: rows, events, records. */
  unit: string;
  /** Known total, for the percentage and ETA. */
  total?: number;
  stream?: NodeJS.WriteStream;
  /** Plain-line interval when stderr is not a terminal. */
  intervalMs?: number;
  /** Silence (e.g. --json runs that want a clean stderr are still fine with progress; tests are not). */
  quiet?: boolean;
}

export interface ProgressSummary {
  label: string;
  count: number;
  bytes: number;
  seconds: number;
  perSecond: number;
  mbPerSecond: number;
}

export class Progress {
  count = 0;
  bytes = 0;
  private readonly started = performance.now();
  private readonly timer?: NodeJS.Timeout;
  private printEveryMs = 5000;
  private lastPrint = performance.now();
  private readonly stream: NodeJS.WriteStream;
  private readonly tty: boolean;

  constructor(private readonly options: ProgressOptions) {
    this.stream = options.stream ?? process.stderr;
    this.tty = Boolean(this.stream.isTTY);
    if (!options.quiet) {
      this.printEveryMs = this.tty ? 250 : options.intervalMs ?? 5000;
      this.timer = setInterval(() => this.render(), this.printEveryMs);
      this.timer.unref();
    }
  }

  add(count: number, bytes = 0): void {
    this.count += count;
    this.bytes += bytes;
  }

  set total(total: number | undefined) {
    this.options.total = total;
  }

  elapsedSeconds(): number {
    return (performance.now() - this.started) / 1000;
  }

  line(): string {
    const s = this.elapsedSeconds();
    const rate = this.count / Math.max(s, 1e-9);
    const parts = [`${this.options.label}: ${formatCount(this.count)} ${this.options.unit}`];
    const total = this.options.total;
    if (total) parts[0] += ` of ${formatCount(total)} (${Math.min(100, (100 * this.count) / total).toFixed(0)}%)`;
    parts.push(`${formatCount(rate)} ${this.options.unit}/s`);
    if (this.bytes) parts.push(`${(this.bytes / 1e6 / Math.max(s, 1e-9)).toFixed(1)} MB/s`);
    if (total && rate > 0 && this.count < total) parts.push(`ETA ${formatSeconds((total - this.count) / rate)}`);
    return parts.join(', ');
  }

  private render(): void {
    const now = performance.now();
    if (now - this.lastPrint < this.printEveryMs - 1) return;
    this.lastPrint = now;
    if (this.tty) this.stream.write(`\r\x1b[2K${this.line()}`);
    else this.stream.write(`${this.line()}\n`);
  }

  finish(): ProgressSummary {
    if (this.timer) clearInterval(this.timer);
    const seconds = this.elapsedSeconds();
    if (this.tty && !this.options.quiet) this.stream.write('\r\x1b[2K');
    return {
      label: this.options.label,
      count: this.count,
      bytes: this.bytes,
      seconds,
      perSecond: this.count / Math.max(seconds, 1e-9),
      mbPerSecond: this.bytes / 1e6 / Math.max(seconds, 1e-9),
    };
  }
}

/** Latency samples (ms) and their percentiles. */
export class Latencies {
  private readonly values: number[] = [];
  add(ms: number): void {
    this.values.push(ms);
  }
  percentiles(): { p50: number; p95: number; p99: number; max: number; count: number } {
    const v = [...this.values].sort((a, b) => a - b);
    const at = (q: number) => (v.length ? v[Math.min(v.length - 1, Math.floor(q * v.length))] : 0);
    return { p50: at(0.5), p95: at(0.95), p99: at(0.99), max: v.length ? v[v.length - 1] : 0, count: v.length };
  }
}

export function formatCount(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  return String(Math.round(n));
}

export function formatSeconds(s: number): string {
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  return `${m}m${String(Math.round(s - m * 60)).padStart(2, '0')}s`;
}

/** Renders rows as an aligned plain-text table (for summaries on stderr). */
export function table(rows: Array<Record<string, string | number>>): string {
  if (rows.length === 0) return '';
  const keys = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const numeric = keys.map((k) => rows.some((r) => typeof r[k] === 'number'));
  const cells = [keys, ...rows.map((r) => keys.map((k) => String(r[k] ?? '')))];
  const widths = keys.map((_, i) => Math.max(...cells.map((c) => c[i].length)));
  return cells.map((c) => c.map((v, i) => (numeric[i] ? v.padStart(widths[i]) : v.padEnd(widths[i]))).join('  ').trimEnd()).join('\n');
}

/**
 * One point of a run's time series (the `samples` of every step's --json summary): what the step
 * had done `ms` after it started, and the process's resident memory and open sockets then (for
 * leak checks on long runs). Counters a step does not have are left out.
 */
export interface RunSample {
  ms: number;
  rows?: number;
  events?: number;
  bytes?: number;
  rssBytes: number;
  openSockets: number;
}

export type SampleCounters = Pick<RunSample, 'rows' | 'events' | 'bytes'>;

/** Sockets among this process's open file descriptors (links "socket:[inode]" in /proc/self/fd). */
export function countOpenSockets(): number {
  let n = 0;
  try {
    for (const fd of readdirSync('/proc/self/fd')) {
      try {
        if (readlinkSync(`/proc/self/fd/${fd}`).startsWith('socket:')) n++;
      } catch {
        // closed between the listing and the read
      }
    }
  } catch {
    return 0; // no /proc (not Linux)
  }
  return n;
}

/**
 * Samples a step's counters, RSS and open sockets about once a second. A long run keeps at most
 * MAX_SAMPLES points: when full, every other point is dropped and the interval doubles, so a
 * ten-hour run still has a summary of a few hundred kB and an even time axis.
 */
export class RunSampler {
  static readonly MAX_SAMPLES = 3600;
  readonly samples: RunSample[] = [];
  readonly startedAt = new Date();
  private readonly started = performance.now();
  private intervalMs: number;
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(private readonly counters: () => SampleCounters, intervalMs = 1000) {
    this.intervalMs = intervalMs;
    this.sample();
    this.schedule();
  }

  get interval(): number {
    return this.intervalMs;
  }

  private schedule(): void {
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
  }

  sample(): RunSample {
    const point: RunSample = { ms: Math.round(performance.now() - this.started), ...this.counters(), rssBytes: process.memoryUsage.rss(), openSockets: countOpenSockets() };
    this.samples.push(point);
    if (this.samples.length > RunSampler.MAX_SAMPLES) {
      // Keep the first, every other one, and the newest.
      const kept = this.samples.filter((_, i) => i % 2 === 0 || i === this.samples.length - 1);
      this.samples.splice(0, this.samples.length, ...kept);
      this.intervalMs *= 2;
      clearInterval(this.timer);
      this.schedule();
    }
    return point;
  }

  /** Takes a last sample and stops. */
  stop(): RunSample[] {
    if (this.stopped) return this.samples;
    this.stopped = true;
    clearInterval(this.timer);
    this.sample();
    return this.samples;
  }
}
