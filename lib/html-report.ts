// A run report as one self-contained HTML page (no scripts, no network: it opens from disk and can
// be mailed): problems first, then the totals of every step (one duration and the rates over it),
// a timeline, and per step its own throughput chart (its unit, smoothed) and RSS chart.
// Written by every step with --report, by `ferry report SUMMARY.json…` and by `ferry demo`.
import { describeStep, formatReportCount, formatReportMb, formatReportSeconds, rateWindowMs, smoothedRate, type Check, type RawLimit, type StepView, type Unit } from './report-model.ts';
import { esc, lineChart, timeline } from './report-svg.ts';

export interface ReportInput {
  title: string;
  /** The steps' --json summaries (with `run` and `samples` from this version on). */
  steps: object[];
  checks?: Check[];
  notes?: string[];
  limits?: RawLimit[];
}

const COLORS = ['#1f77b4', '#d9730d', '#2ca02c', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

const CSS = `
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;padding:16px 20px 40px;max-width:1280px;color:#1d1d1d;background:#fff}
h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.2em;margin:1.6em 0 .4em;border-bottom:1px solid #ddd;padding-bottom:.2em}h3{font-size:1em;margin:1em 0 .3em}
.meta{color:#555;margin:.2em 0 1em}
.verdict{list-style:none;padding:0;margin:0}.verdict li{padding:6px 10px;margin:4px 0;border-radius:4px;border-left:5px solid}
.good{background:#e9f6ec;border-color:#2e8b43}.bad{background:#fdecea;border-color:#c62828}.note{background:#f4f4f4;border-color:#999}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;margin:.3em 0 1em;font-variant-numeric:tabular-nums}
td,th{border:1px solid #d4d4d4;padding:3px 8px;text-align:right;white-space:nowrap}th{background:#f3f3f3;font-weight:600}
td:first-child,th:first-child{text-align:left}
table.checks td{white-space:normal;overflow-wrap:anywhere}table.checks td:nth-child(2),table.checks td:nth-child(3){text-align:left}
tr.pass td:last-child{background:#e9f6ec;color:#1b6e30;font-weight:600}tr.fail td{background:#fdecea}tr.fail td:last-child{color:#b71c1c;font-weight:700}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:12px 24px}
figure{margin:0;min-width:0}figcaption{color:#555;font-size:.9em}
svg.chart{width:100%;height:auto;display:block;max-width:100%}svg.timeline{max-width:900px}
svg text{fill:#333}svg .axis-title{fill:#444;font-weight:600}
.keyline{font-size:1.05em;margin:.3em 0}
details summary{cursor:pointer;color:#1f5f9f}
@media (max-width:500px){.charts{grid-template-columns:1fr}}
`;

export function renderRunReport(input: ReportInput): string {
  const views = input.steps.map((s) => describeStep(s as Record<string, unknown>, input.limits));
  const colors = new Map(views.map((v, i) => [v, COLORS[i % COLORS.length]]));
  const t0 = Math.min(...views.map((v) => v.startedAt ?? Infinity));
  const started = Number.isFinite(t0) ? new Date(t0).toISOString() : undefined;
  const body: string[] = [];
  body.push(`<h1>${esc(input.title)}</h1>`);
  body.push(`<p class="meta">${started ? `started ${started} · ` : ''}${views.length} step${views.length === 1 ? '' : 's'}: ${views.map((v) => esc(v.name)).join(', ')}</p>`);
  body.push(verdict(views, input.checks, input.notes ?? []));
  body.push('<h2>Totals</h2>', totalsTable(views));
  body.push(`<p class="meta">Each rate is over the step's own time in this table${views.some((v) => v.typecheckSeconds !== undefined) ? ' (type-checking, before the run, is not in it)' : ''}. MB are 10<sup>6</sup> bytes.</p>`);
  if (views.length > 1) body.push('<h2>Timeline</h2>', timelineOf(views, colors));
  for (const v of views) body.push(stepSection(v, colors.get(v)!));
  if (input.checks?.length) body.push('<h2>Checks</h2>', checksTable(input.checks));
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(input.title)}</title><style>${CSS}</style></head><body>
${body.join('\n')}
</body></html>
`;
}

/** Problems (errors, rejects, skipped, failed checks) first: what a reader needs to know before any number. */
function verdict(views: StepView[], checks: Check[] | undefined, notes: string[]): string {
  const items: string[] = [];
  if (checks?.length) {
    const failed = checks.filter((c) => !c.ok);
    items.push(`<li class="${failed.length ? 'bad' : 'good'}" data-field="checks">${checks.length - failed.length} of ${checks.length} checks passed${failed.length ? `: ${failed.length} FAILED (${failed.slice(0, 3).map((c) => esc(c.what)).join('; ')}${failed.length > 3 ? '; …' : ''})` : ''}</li>`);
  }
  const problems = views.flatMap((v) => v.problems.map((p) => ({ step: v.name, ...p })));
  for (const p of problems) {
    items.push(`<li class="bad" data-step="${esc(p.step)}" data-field="${esc(p.what)}">${esc(p.step)}: <b>${p.count.toLocaleString('en')}</b> ${esc(p.what)}${p.detail ? ` (${esc(p.detail)})` : ''}</li>`);
  }
  if (problems.length === 0) items.push('<li class="good">no errors, rejected rows, skipped or unroutable events</li>');
  for (const n of notes) items.push(`<li class="note">${esc(n)}</li>`);
  return `<ul class="verdict">${items.join('')}</ul>`;
}

function totalsTable(views: StepView[]): string {
  const rss = (v: StepView) => (v.peakRssBytes === undefined ? undefined : v.peakRssBytes / 1e6);
  const columns: Array<{ head: string; field: string; value: (v: StepView) => number | undefined; text: (n: number) => string }> = [
    { head: 'time s', field: 'seconds', value: (v) => v.seconds, text: formatReportSeconds },
    { head: 'rows', field: 'rows', value: (v) => v.rows, text: formatReportCount },
    { head: 'events', field: 'events', value: (v) => v.events, text: formatReportCount },
    { head: 'MB', field: 'MB', value: (v) => v.mb, text: formatReportMb },
    { head: 'rows/s', field: 'rows/s', value: (v) => (v.rows === undefined ? undefined : v.rates.rows), text: formatReportCount },
    { head: 'events/s', field: 'events/s', value: (v) => (v.events === undefined ? undefined : v.rates.events), text: formatReportCount },
    { head: 'MB/s', field: 'MB/s', value: (v) => (v.mb === undefined ? undefined : v.rates.MB), text: formatReportMb },
    { head: 'peak RSS MB', field: 'peak RSS MB', value: rss, text: (n) => String(Math.round(n)) },
    { head: 'of raw limit', field: 'raw limit', value: (v) => v.rawLimit?.ratio, text: (n) => n.toFixed(2) },
  ];
  // Only columns some step has (a single seed rabbitmq run has no rows).
  const shown = columns.filter((c) => views.some((v) => c.value(v) !== undefined && !Number.isNaN(c.value(v))));
  const cell = (v: StepView, c: (typeof columns)[number]) => {
    const value = c.value(v);
    const title = c.field === 'raw limit' && v.rawLimit ? ` title="${esc(`${v.rawLimit.value} ${v.rawLimit.unit}; limit ${v.rawLimit.limit} (${v.rawLimit.limitWhat})`)}"` : '';
    return `<td data-field="${c.field}"${title}>${value === undefined || Number.isNaN(value) ? '' : c.text(value)}</td>`;
  };
  const rows = views.map((v) => `<tr data-step="${esc(v.name)}"><td>${esc(v.name)}</td>${shown.map((c) => cell(v, c)).join('')}</tr>`);
  return `<div class="scroll"><table class="totals"><tr><th>step</th>${shown.map((c) => `<th>${c.head}</th>`).join('')}</tr>${rows.join('')}</table></div>`;
}

function timelineOf(views: StepView[], colors: Map<StepView, string>): string {
  const t0 = Math.min(...views.map((v) => v.startedAt ?? Infinity));
  let next = 0; // steps of summaries without a start time are laid end to end
  const bars = views.map((v) => {
    const start = v.startedAt !== undefined && Number.isFinite(t0) ? (v.startedAt - t0) / 1000 : next;
    next = start + v.seconds;
    return { label: v.name, start, seconds: v.seconds, color: colors.get(v)!, note: `${formatReportSeconds(v.seconds)} s` };
  });
  return `<figure>${timeline(bars)}</figure>`;
}

const UNIT_TEXT: Record<Unit, string> = { rows: 'rows/s', events: 'events/s', MB: 'MB/s' };

/** The line a person reads first: `3,550 rows → 3,495 events in 7.20 s (493 rows/s)`. */
export function keyLine(v: StepView): string {
  const what = [
    v.rows !== undefined ? `${formatReportCount(v.rows)} rows` : undefined,
    v.events !== undefined ? `${formatReportCount(v.events)} events` : undefined,
  ].filter(Boolean).join(' → ') || (v.mb !== undefined ? `${formatReportMb(v.mb)} MB` : 'nothing counted');
  const rate = v.rates[v.chartUnit];
  const rates = rate === undefined ? '' : ` (${v.chartUnit === 'MB' ? formatReportMb(rate) : formatReportCount(rate)} ${UNIT_TEXT[v.chartUnit]}${v.mb !== undefined && v.chartUnit !== 'MB' ? `, ${formatReportMb(v.rates.MB!)} MB/s` : ''})`;
  return `${what} in ${formatReportSeconds(v.seconds)} s${rates}`;
}

function stepSection(v: StepView, color: string): string {
  const parts: string[] = [`<section class="step" data-step="${esc(v.name)}"><h2>${esc(v.name)}</h2>`];
  if (v.typecheckSeconds !== undefined) parts.push(`<p class="keyline">type-check ${formatReportSeconds(v.typecheckSeconds)} s</p>`);
  parts.push(`<p class="keyline">${keyLine(v)}</p>`);
  const intervalMs = v.sampleIntervalMs ?? 1000;
  const spanMs = v.samples.length ? v.samples[v.samples.length - 1].ms : v.seconds * 1000;
  const inMinutes = spanMs > 20 * 60_000;
  const xDiv = inMinutes ? 60_000 : 1000;
  const xTitle = `${inMinutes ? 'minutes' : 'seconds'} since the step started`;
  const windowMs = rateWindowMs(v.samples, intervalMs);
  const rate = smoothedRate(v.samples, v.chartUnit, windowMs).map(([ms, r]) => [ms / xDiv, r] as [number, number]);
  const rss = v.samples.map((s) => [s.ms / xDiv, s.rssBytes / 1e6] as [number, number]);
  const sampling = `sampled every ${intervalMs / 1000} s`;
  parts.push('<div class="charts">');
  parts.push(`<figure data-chart="rate">${lineChart({ series: [{ label: v.name, color, points: rate }], xMax: spanMs / xDiv, xTitle, yTitle: UNIT_TEXT[v.chartUnit], title: `${v.name}: ${UNIT_TEXT[v.chartUnit]} over time` })}` +
    `<figcaption>${UNIT_TEXT[v.chartUnit]}, each point the rate over the previous ${windowMs / 1000} s (${sampling})</figcaption></figure>`);
  parts.push(`<figure data-chart="rss">${lineChart({ series: [{ label: 'RSS', color: '#555', points: rss }], xMax: spanMs / xDiv, xTitle, yTitle: 'RSS (MB)', title: `${v.name}: resident memory over time` })}` +
    `<figcaption>resident memory of the process (${sampling})${v.peakRssBytes ? `; peak ${Math.round(v.peakRssBytes / 1e6)} MB` : ''}</figcaption></figure>`);
  parts.push('</div>');
  if (v.details.some((d) => d.rows.length)) {
    parts.push(`<details><summary>details: ${v.details.filter((d) => d.rows.length).map((d) => esc(d.title)).join(', ')}</summary>`);
    for (const d of v.details) if (d.rows.length) parts.push(`<h3>${esc(d.title)}</h3>`, htmlTable(d.rows));
    parts.push('</details>');
  }
  parts.push('</section>');
  return parts.join('\n');
}

function checksTable(checks: Check[]): string {
  // Long values (a message body followed end to end) are cut, whole in the cell's tooltip.
  const value = (v: unknown) => {
    const text = String(v);
    return text.length > 60 ? `<span title="${esc(text)}">${esc(text.slice(0, 57))}…</span>` : esc(text);
  };
  const rows = checks.map((c) => `<tr class="${c.ok ? 'pass' : 'fail'}"><td>${esc(c.what)}</td><td>${value(c.expected)}</td><td>${value(c.actual)}</td><td>${c.ok ? 'pass' : 'FAIL'}</td></tr>`);
  return `<div class="scroll"><table class="checks"><tr><th>check</th><th>expected</th><th>actual</th><th>result</th></tr>${rows.join('')}</table></div>`;
}

function htmlTable(rows: Array<Record<string, string | number>>): string {
  const keys = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cell = (v: unknown) => esc(typeof v === 'number' ? v.toLocaleString('en') : String(v ?? ''));
  return `<div class="scroll"><table><tr>${keys.map((k) => `<th>${esc(k)}</th>`).join('')}</tr>${rows.map((r) => `<tr>${keys.map((k) => `<td>${cell(r[k])}</td>`).join('')}</tr>`).join('')}</table></div>`;
}
