// Live progress on stderr (one rewritten line on a terminal, a plain line every few seconds
// otherwise) and the numbers for the final summary.
//
// FERRY_PROGRESS_FILE=PATH also appends every sample as an NDJSON line {label, unit, t, count, bytes}
// (t = Unix ms), so a parent such as `ferry demo` can chart throughput over time of child runs.
import { appendFileSync } from 'node:fs';

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
  /** Samples of (seconds, count) for throughput-over-time charts. */
  readonly samples: Array<[number, number]> = [];

  constructor(private readonly options: ProgressOptions) {
    this.stream = options.stream ?? process.stderr;
    this.tty = Boolean(this.stream.isTTY);
    if (!options.quiet) this.printEveryMs = this.tty ? 250 : options.intervalMs ?? 5000;
    // With FERRY_PROGRESS_FILE, samples are taken four times a second whatever is printed, quiet
    // counters included (per-table and per-module ones, that a combined line prints), so a
    // parent's chart has every step.
    if (!options.quiet || process.env.FERRY_PROGRESS_FILE) {
      this.timer = setInterval(() => this.render(), process.env.FERRY_PROGRESS_FILE ? 250 : this.printEveryMs);
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
    this.sample();
    if (this.options.quiet) return;
    const now = performance.now();
    if (now - this.lastPrint < this.printEveryMs - 1) return;
    this.lastPrint = now;
    if (this.tty) this.stream.write(`\r\x1b[2K${this.line()}`);
    else this.stream.write(`${this.line()}\n`);
  }

  private sample(): void {
    this.samples.push([this.elapsedSeconds(), this.count]);
    const file = process.env.FERRY_PROGRESS_FILE;
    if (file) {
      const line = { label: this.options.label, unit: this.options.unit, t: Date.now(), count: this.count, bytes: this.bytes };
      appendFileSync(file, JSON.stringify(line) + '\n');
    }
  }

  finish(): ProgressSummary {
    if (this.timer) clearInterval(this.timer);
    const seconds = this.elapsedSeconds();
    this.sample();
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
