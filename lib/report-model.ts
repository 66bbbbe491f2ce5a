// A step's --json summary read the one way every report and summary table shows it: one duration
// (the summary's own `seconds`) and every rate over that same interval, the problems (rejects,
// skipped, unroutable) it had, its samples, and its detail tables.
import type { RunSample } from './progress.ts';
import type { RunInfo } from './step-run.ts';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Summary = Record<string, any>;

export type Unit = 'rows' | 'events' | 'MB';

export interface Check {
  what: string;
  expected: unknown;
  actual: unknown;
  ok: boolean;
}

/** A raw limit measured by a benchmark (bench/report.ts Figure), for the step it names. */
export interface RawLimit {
  step: string;
  value: number;
  unit: string;
  limit: number;
  limitWhat: string;
}

export interface Problem {
  what: string;
  count: number;
  detail?: string;
}

export interface DetailTable {
  title: string;
  rows: Array<Record<string, string | number>>;
}

export interface StepView {
  name: string;
  /** Unix ms; undefined for a summary without `run`. */
  startedAt?: number;
  /** The step's duration: the interval every rate below covers. */
  seconds: number;
  /** Type-checking before the run (transform), outside `seconds`. */
  typecheckSeconds?: number;
  rows?: number;
  events?: number;
  /** Megabytes (10^6 bytes) moved; what they are is in `mbWhat`. */
  mb?: number;
  mbWhat?: string;
  rates: Partial<Record<Unit, number>>;
  /** The unit its throughput chart shows. */
  chartUnit: Unit;
  peakRssBytes?: number;
  samples: RunSample[];
  sampleIntervalMs?: number;
  problems: Problem[];
  details: DetailTable[];
  rawLimit?: RawLimit & { ratio: number };
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/** The step a summary is of: run.command (every step since --report), else what its shape says. */
export function stepName(s: Summary): string {
  if (typeof s.run?.command === 'string') return s.run.command;
  if (typeof s.command === 'string') return s.command;
  if (Array.isArray(s.modules) && 'inputEvents' in s) return 'seed modules';
  if (s.totals && Array.isArray(s.tables) && s.manifest) return 'extract';
  if (s.database && s.tables && !Array.isArray(s.tables)) return 'generate';
  return 'step';
}

export function describeStep(summary: Summary, limits: RawLimit[] = []): StepView {
  const run = summary.run as RunInfo | undefined;
  const name = stepName(summary);
  const seconds = Number(summary.seconds ?? 0);
  const view: StepView = {
    name,
    startedAt: run?.startedAt ? Date.parse(run.startedAt) : summary.startedAt ? Date.parse(summary.startedAt) : undefined,
    seconds,
    rates: {},
    chartUnit: 'rows',
    peakRssBytes: run?.peakRssBytes,
    samples: Array.isArray(summary.samples) ? summary.samples : [],
    sampleIntervalMs: run?.sampleIntervalMs,
    problems: [],
    details: [],
  };
  const per = (n: number | undefined) => (n === undefined ? undefined : n / Math.max(seconds, 1e-9));
  switch (name) {
    case 'generate':
      view.rows = sum(Object.values(summary.tables ?? {}) as number[]);
      view.mb = Number(summary.bytes ?? 0) / 1e6;
      view.mbWhat = 'COPY text';
      view.details.push({ title: 'rows per table', rows: Object.entries(summary.tables ?? {}).map(([table, rows]) => ({ table, rows: rows as number })) });
      break;
    case 'extract': {
      const tables: Summary[] = summary.tables ?? [];
      view.rows = summary.totals?.rows ?? sum(tables.map((t) => t.rows));
      view.mb = (summary.totals?.uncompressedBytes ?? sum(tables.map((t) => t.uncompressedBytes ?? 0))) / 1e6;
      view.mbWhat = 'data read (uncompressed dump content)';
      view.details.push({
        title: 'tables',
        rows: tables.map((t) => ({ table: t.table, rows: t.rows, 'dump MB': round(t.bytes / 1e6, 2), 'data MB': round((t.uncompressedBytes ?? 0) / 1e6, 2), seconds: round(t.seconds, 2), 'rows/s': Math.round(t.rowsPerSecond ?? 0) })),
      });
      break;
    }
    case 'transform': {
      view.rows = summary.rows;
      view.events = summary.events;
      if (typeof summary.typecheckSeconds === 'number') view.typecheckSeconds = summary.typecheckSeconds;
      // The summary's own rates (same interval as its seconds).
      view.rates = { rows: summary.rowsPerSecond, events: summary.eventsPerSecond };
      if (summary.rejected) view.problems.push({ what: 'rejected rows', count: summary.rejected, detail: summary.rejectsFile ? `written to ${summary.rejectsFile}` : undefined });
      if (summary.skippedTables?.length) view.problems.push({ what: 'tables without a transform', count: summary.skippedTables.length, detail: summary.skippedTables.join(', ') });
      view.details.push({ title: 'tables', rows: (summary.tables ?? []).map((t: Summary) => ({ table: t.table, files: t.files, rows: t.rows, events: t.events, rejected: t.rejected })) });
      view.details.push({ title: 'event types', rows: (summary.eventTypes ?? []).map((e: Summary) => ({ 'event type': e.type, events: e.events })) });
      break;
    }
    case 'seed modules': {
      const modules: Summary[] = summary.modules ?? [];
      view.rows = sum(modules.map((m) => m.rows?.total ?? 0));
      view.events = summary.inputEvents;
      if (summary.skipped?.length) view.problems.push({ what: 'skipped events', count: summary.skipped.length, detail: summary.skipped.slice(0, 5).map((s: Summary) => `${s.module}: ${s.eventType} ${s.eventId}: ${s.message}`).join('; ') });
      view.details.push({
        title: 'modules',
        rows: modules.map((m) => ({
          module: m.name, database: m.database, events: m.events, inserted: m.rows?.inserted ?? 0, updated: m.rows?.updated ?? 0, deleted: m.rows?.deleted ?? 0,
          batches: m.batches, 'batch p50 ms': Math.round(m.batchLatencyMs?.p50 ?? 0), 'p95 ms': Math.round(m.batchLatencyMs?.p95 ?? 0), 'p99 ms': Math.round(m.batchLatencyMs?.p99 ?? 0),
        })),
      });
      break;
    }
    case 'seed rabbitmq':
      view.events = summary.events;
      view.mb = Number(summary.bytes ?? 0) / 1e6;
      view.mbWhat = 'message bodies published';
      view.chartUnit = 'events';
      // events/s as the summary has it (whole); MB/s worked out below (the summary's has one decimal).
      view.rates = { events: summary.eventsPerSecond };
      if (summary.unroutable?.events) view.problems.push({ what: 'unroutable events dropped', count: summary.unroutable.events, detail: Object.entries(summary.unroutable.types ?? {}).map(([t, n]) => `${t} ${n}`).join(', ') });
      view.details.push({ title: 'event types', rows: Object.entries(summary.types ?? {}).map(([type, events]) => ({ 'event type': type, events: events as number })) });
      if (summary.confirmLatencyMs) view.details.push({ title: 'confirm latency per batch', rows: [{ batches: summary.confirmLatencyMs.batches, 'p50 ms': summary.confirmLatencyMs.p50, 'p95 ms': summary.confirmLatencyMs.p95, 'p99 ms': summary.confirmLatencyMs.p99, 'max ms': summary.confirmLatencyMs.max }] });
      break;
    default:
      view.rows = typeof summary.rows === 'number' ? summary.rows : undefined;
      view.events = typeof summary.events === 'number' ? summary.events : undefined;
  }
  // Rates the summary does not give are worked out over its own duration.
  view.rates.rows ??= per(view.rows);
  view.rates.events ??= per(view.events);
  view.rates.MB ??= per(view.mb);
  if (view.rows === undefined) view.chartUnit = view.events !== undefined ? 'events' : 'MB';
  const limit = limits.find((l) => l.step === name);
  if (limit) view.rawLimit = { ...limit, ratio: limit.limit > 0 ? limit.value / limit.limit : 0 };
  return view;
}

/** The sample counter behind a chart unit. */
export function counterOf(unit: Unit): 'rows' | 'events' | 'bytes' {
  return unit === 'MB' ? 'bytes' : unit;
}

/**
 * A smoothed rate: at each sample, the counter's growth over the previous `windowMs` (from the
 * first sample when the step is younger), per second. Points where the counter is absent are left
 * out. Returns [ms, per second] pairs; MB are 10^6 bytes.
 */
export function smoothedRate(samples: RunSample[], unit: Unit, windowMs: number): Array<[number, number]> {
  const key = counterOf(unit);
  const pts = samples.filter((s) => typeof s[key] === 'number');
  const scale = unit === 'MB' ? 1e-6 : 1;
  const out: Array<[number, number]> = [];
  let j = 0;
  for (let i = 1; i < pts.length; i++) {
    const t = pts[i].ms;
    while (j < i - 1 && pts[j + 1].ms <= t - windowMs) j++;
    const dt = (t - pts[j].ms) / 1000;
    // A counter can step back (extract takes back the rows of a chunk it retries): no negative rate.
    if (dt > 0) out.push([t, Math.max(0, ((pts[i][key]! - pts[j][key]!) * scale) / dt)]);
  }
  return out;
}

/** The smoothing window for a step: about a thirtieth of its length, at least three samples, a nice number of seconds. */
export function rateWindowMs(samples: RunSample[], intervalMs = 1000): number {
  const span = samples.length ? samples[samples.length - 1].ms - samples[0].ms : 0;
  const want = Math.max(3 * intervalMs, span / 30);
  const steps = [1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600];
  return (steps.find((s) => s * 1000 >= want) ?? 3600) * 1000;
}

/** Seconds as shown everywhere in a report. */
export function formatReportSeconds(s: number): string {
  return s < 10 ? s.toFixed(2) : s.toFixed(1);
}

/** A count or rate as shown: whole, with thousands separators. */
export function formatReportCount(n: number): string {
  return Math.round(n).toLocaleString('en');
}

export function formatReportMb(n: number): string {
  return n < 10 ? n.toFixed(2) : n.toFixed(1);
}

/** A step's figures as one row of a plain-text or JSON overview, formatted as the report shows them. */
export function overviewRow(v: StepView): Record<string, string | number> {
  const row: Record<string, string | number> = { step: v.name, seconds: Number(formatReportSeconds(v.seconds)) };
  if (v.rows !== undefined) Object.assign(row, { rows: v.rows, 'rows/s': Math.round(v.rates.rows ?? 0) });
  if (v.events !== undefined) Object.assign(row, { events: v.events, 'events/s': Math.round(v.rates.events ?? 0) });
  if (v.mb !== undefined) row['MB/s'] = Number(formatReportMb(v.rates.MB ?? 0));
  if (v.peakRssBytes !== undefined) row['peak RSS MB'] = Math.round(v.peakRssBytes / 1e6);
  return row;
}

export function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
