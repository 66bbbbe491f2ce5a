// Reading the steps' --json summaries for the demo's tables, the report and the e2e benchmark.
import type { ChildRun } from '../../../lib/child-run.ts';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Summary = Record<string, any>;

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/** Events per type from the transform summary. */
export function eventsByType(summary: Summary): Record<string, number> {
  const byType = summary.eventTypes ?? summary.eventsByType ?? summary.types ?? {};
  if (Array.isArray(byType)) return Object.fromEntries(byType.map((r: Summary) => [String(r.type ?? r.name), Number(r.events ?? r.count ?? 0)]));
  return Object.fromEntries(Object.entries(byType).map(([k, v]) => [k, typeof v === 'number' ? v : Number((v as Summary).events ?? (v as Summary).count ?? 0)]));
}

export interface StepFigures {
  /** Rows read (generate, extract, transform) or written (seed modules). */
  rows?: number;
  events?: number;
  bytes?: number;
}

/** What a step moved, from its summary. */
export function stepCounts(step: ChildRun<Summary>): StepFigures {
  const s = step.summary;
  switch (step.name) {
    case 'generate':
      return { rows: sum(Object.values(s.tables ?? {}) as number[]), bytes: s.bytes };
    case 'extract':
      return { rows: sum((s.tables ?? []).map((t: Summary) => t.rows)), bytes: sum((s.tables ?? []).map((t: Summary) => t.bytes)) };
    case 'transform':
      // bytes: the event dumps written (file bytes, compressed).
      return { rows: s.rows, events: s.events, bytes: sum((s.outputs ?? []).map((o: Summary) => o.bytes ?? 0)) || undefined };
    case 'seed modules':
      return { events: s.inputEvents, rows: sum((s.modules ?? []).map((m: Summary) => m.rows?.total ?? 0)) };
    case 'seed rabbitmq':
      return { events: s.events, bytes: s.bytes };
    default:
      return {};
  }
}

/** The key figures of a step for tables: counts and rates. */
export function stepFigures(step: ChildRun<Summary>): Record<string, string | number> {
  const c = stepCounts(step);
  const out: Record<string, string | number> = {};
  const rate = (n: number) => Math.round(n / Math.max(step.seconds, 1e-9));
  if (c.rows !== undefined) Object.assign(out, { rows: c.rows, 'rows/s': rate(c.rows) });
  if (c.events !== undefined) Object.assign(out, { events: c.events, 'events/s': rate(c.events) });
  if (c.bytes !== undefined) out['MB/s'] = Number((c.bytes / 1e6 / Math.max(step.seconds, 1e-9)).toFixed(1));
  return out;
}

/** Detail tables of a step: arrays of flat objects in its summary (per table, per module, per type). */
export function stepTables(step: ChildRun<Summary>): Array<{ title: string; rows: Array<Record<string, string | number>> }> {
  const tables: Array<{ title: string; rows: Array<Record<string, string | number>> }> = [];
  for (const [key, value] of Object.entries(step.summary)) {
    if (Array.isArray(value) && value.length && value.every((r) => r && typeof r === 'object')) {
      tables.push({ title: key, rows: value.map((r) => flat(r as Summary)) });
    } else if (value && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length && Object.values(value).every((v) => typeof v === 'number')) {
      tables.push({ title: key, rows: Object.entries(value as Record<string, number>).map(([k, v]) => ({ name: k, value: v })) });
    }
  }
  return tables;
}

function flat(r: Summary, prefix = ''): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  for (const [k, v] of Object.entries(r)) {
    if (typeof v === 'number') out[prefix + k] = Number.isInteger(v) ? v : Number(v.toFixed(2));
    else if (typeof v === 'string') out[prefix + k] = v;
    else if (v && typeof v === 'object' && !Array.isArray(v)) Object.assign(out, flat(v as Summary, `${prefix}${k}.`));
  }
  return out;
}
