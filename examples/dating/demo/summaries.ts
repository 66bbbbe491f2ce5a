// Reading the steps' --json summaries for the demo's tables and report.
import type { ChildRun } from '../../../lib/child-run.ts';

type Summary = Record<string, unknown>;

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** Events per type from the transform summary. */
export function eventsByType(summary: Summary): Record<string, number> {
  const candidates = [summary.eventsByType, summary.events_by_type, (summary.events as Summary | undefined)?.byType, summary.eventTypes];
  for (const c of candidates) {
    if (c && typeof c === 'object' && !Array.isArray(c)) return Object.fromEntries(Object.entries(c as Summary).map(([k, v]) => [k, num(v) ?? num((v as Summary)?.count) ?? num((v as Summary)?.events) ?? 0]));
    if (Array.isArray(c)) return Object.fromEntries((c as Summary[]).map((r) => [String(r.type ?? r.name), num(r.count) ?? num(r.events) ?? 0]));
  }
  return {};
}

/** The key figures of a step: counts, rates and bytes, whatever the step reports. */
export function stepFigures(step: ChildRun<Summary>): Record<string, string | number> {
  const s = step.summary;
  const out: Record<string, string | number> = {};
  const totals = (s.totals as Summary | undefined) ?? s;
  for (const key of ['rows', 'events', 'rejected', 'bytes']) {
    const v = num(totals[key]);
    if (v !== undefined) out[key] = v;
  }
  const count = out.events ?? out.rows;
  if (typeof count === 'number' && step.seconds > 0) out['per second'] = Math.round(count / step.seconds);
  if (typeof out.bytes === 'number' && step.seconds > 0) out['MB/s'] = Number((out.bytes / 1e6 / step.seconds).toFixed(1));
  return out;
}

/** Detail tables of a step: arrays of flat objects in its summary (per table, per module, per type). */
export function stepTables(step: ChildRun<Summary>): Array<{ title: string; rows: Array<Record<string, string | number>> }> {
  const tables: Array<{ title: string; rows: Array<Record<string, string | number>> }> = [];
  for (const [key, value] of Object.entries(step.summary)) {
    if (Array.isArray(value) && value.length && value.every((r) => r && typeof r === 'object')) {
      tables.push({ title: key, rows: value.map((r) => flat(r as Summary)) });
    } else if (value && typeof value === 'object' && !Array.isArray(value) && Object.values(value).every((v) => typeof v === 'number')) {
      tables.push({ title: key, rows: Object.entries(value as Record<string, number>).map(([k, v]) => ({ name: k, value: v })) });
    }
  }
  return tables;
}

function flat(r: Summary): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  for (const [k, v] of Object.entries(r)) if (typeof v === 'number' || typeof v === 'string') out[k] = typeof v === 'number' && !Number.isInteger(v) ? Number(v.toFixed(2)) : v;
  return out;
}
