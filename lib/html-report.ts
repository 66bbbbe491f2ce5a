// A run report as one self-contained HTML page: throughput over time per step (inline SVG, no
// scripts or external assets, so it opens from disk in any browser) and the summary tables.
import type { ProgressSample } from './child-run.ts';

export interface ReportStep {
  name: string;
  startedAt: number;
  seconds: number;
  samples: ProgressSample[];
  /** Key figures, shown as one row of the overview table. */
  figures: Record<string, string | number>;
  /** Optional detail tables (per table, per event type, per module …). */
  tables?: Array<{ title: string; rows: Array<Record<string, string | number>> }>;
}

const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2'];

export function renderReport(title: string, steps: ReportStep[], notes: string[] = []): string {
  const t0 = Math.min(...steps.map((s) => s.startedAt));
  const series = steps.map((step, i) => ({ name: step.name, color: COLORS[i % COLORS.length], points: stepPoints(step, t0) }));
  const overview = steps.map((s) => ({ step: s.name, seconds: s.seconds.toFixed(1), ...s.figures }));
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em auto;max-width:1000px;color:#222}
table{border-collapse:collapse;margin:0.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}h2{margin-top:1.5em}
.legend span{display:inline-block;margin-right:1em}.legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:middle}
</style></head><body>
<h1>${esc(title)}</h1>
<p>${new Date(t0).toISOString()}</p>
${notes.map((n) => `<p>${esc(n)}</p>`).join('\n')}
<h2>Throughput over time</h2>
${chart(series)}
<div class="legend">${series.map((s) => `<span><i style="background:${s.color}"></i>${esc(s.name)}</span>`).join('')}</div>
<h2>Summary</h2>
${htmlTable(overview)}
${steps.flatMap((s) => (s.tables ?? []).map((t) => `<h3>${esc(s.name)}: ${esc(t.title)}</h3>\n${htmlTable(t.rows)}`)).join('\n')}
</body></html>
`;
}

/** A step's throughput line; one too short for two samples is drawn at its mean rate from start to end. */
function stepPoints(step: ReportStep, t0: number): Array<[number, number]> {
  const points = ratePoints(step.samples, t0);
  if (points.length >= 2 || step.seconds <= 0 || step.samples.length === 0) return points;
  // The main unit's items: each label's last count, added up (as ratePoints does).
  const last = new Map<string, ProgressSample>();
  for (const sample of step.samples) if ((last.get(sample.label)?.t ?? -Infinity) <= sample.t) last.set(sample.label, sample);
  const unit = [...last.values()].sort((a, b) => b.count - a.count)[0].unit;
  const total = [...last.values()].filter((x) => x.unit === unit).reduce((n, x) => n + x.count, 0);
  const start = (step.startedAt - t0) / 1000;
  return [[start, total / step.seconds], [start + step.seconds, total / step.seconds]];
}

/**
 * Items per second of each step over a shared time axis. A step may count under several labels at
 * once (extract per table, seed modules per module): those of the main unit (the unit of the label
 * that counted most, e.g. events rather than files) are added up, each at its latest sample.
 */
function ratePoints(samples: ProgressSample[], t0: number): Array<[number, number]> {
  const byLabel = new Map<string, ProgressSample[]>();
  for (const s of samples) byLabel.set(s.label, [...(byLabel.get(s.label) ?? []), s]);
  const main = [...byLabel.values()].sort((a, b) => (b.at(-1)?.count ?? 0) - (a.at(-1)?.count ?? 0))[0];
  if (!main) return [];
  const unit = main[0].unit;
  const counted = samples.filter((s) => s.unit === unit).sort((a, b) => a.t - b.t);
  const latest = new Map<string, number>();
  const points: Array<[number, number]> = [];
  const BUCKET_MS = 500;
  let [lastT, lastTotal] = [counted[0]?.t ?? 0, 0];
  for (let i = 0; i < counted.length; i++) {
    latest.set(counted[i].label, counted[i].count);
    const t = counted[i].t;
    // Close a bucket when the next sample is in a later one (samples of one instant are summed first).
    if (i + 1 < counted.length && counted[i + 1].t - lastT < BUCKET_MS) continue;
    let total = 0;
    for (const c of latest.values()) total += c;
    const dt = (t - lastT) / 1000;
    if (dt > 0) points.push([(t - t0) / 1000, (total - lastTotal) / dt]);
    [lastT, lastTotal] = [t, total];
  }
  return points;
}

function chart(series: Array<{ name: string; color: string; points: Array<[number, number]> }>): string {
  const [w, h, pad] = [900, 300, 50];
  const all = series.flatMap((s) => s.points);
  const maxX = Math.max(1, ...all.map((p) => p[0]));
  const maxY = Math.max(1, ...all.map((p) => p[1]));
  const x = (v: number) => pad + (v / maxX) * (w - 2 * pad);
  const y = (v: number) => h - pad + 10 - (v / maxY) * (h - 2 * pad);
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => `<text x="${pad - 6}" y="${y(f * maxY) + 4}" text-anchor="end" font-size="11">${Math.round(f * maxY).toLocaleString('en')}</text>`);
  const xticks = [0, 0.25, 0.5, 0.75, 1].map((f) => `<text x="${x(f * maxX)}" y="${h - pad + 26}" text-anchor="middle" font-size="11">${(f * maxX).toFixed(0)} s</text>`);
  const lines = series.map((s) => `<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${s.points.map(([a, b]) => `${x(a).toFixed(1)},${y(b).toFixed(1)}`).join(' ')}"/>`);
  return `<svg width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="img" aria-label="items per second over time">
<line x1="${pad}" y1="${y(0)}" x2="${w - pad}" y2="${y(0)}" stroke="#888"/><line x1="${pad}" y1="${y(0)}" x2="${pad}" y2="${y(maxY)}" stroke="#888"/>
<text x="${pad}" y="14" font-size="12">rows or events per second</text>
${ticks.join('')}${xticks.join('')}${lines.join('\n')}</svg>`;
}

function htmlTable(rows: Array<Record<string, string | number>>): string {
  if (rows.length === 0) return '';
  const keys = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cell = (v: unknown) => esc(typeof v === 'number' ? v.toLocaleString('en') : String(v ?? ''));
  return `<table><tr>${keys.map((k) => `<th>${esc(k)}</th>`).join('')}</tr>\n${rows.map((r) => `<tr>${keys.map((k) => `<td>${cell(r[k])}</td>`).join('')}</tr>`).join('\n')}</table>`;
}

function esc(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}
