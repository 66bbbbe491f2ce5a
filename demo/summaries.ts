// Reading the steps' --json summaries for the demo's tables, the report and the e2e benchmark.
import type { ChildRun } from '../lib/child-run.ts';

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
