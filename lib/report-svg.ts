// Hand-written SVG charts for the run report: axes with "nice" ticks (1, 2 or 5 × 10^k), axis
// titles, and margins wide enough for the longest tick label, so nothing is cut at any width. The
// SVG scales with its container (viewBox, width 100%), which keeps the page readable at 768–1920 px.
// No chart library: two kinds of chart do not justify inlining tens of kB of script.

const FONT = 12;
/** Width of a character of the tick labels, a little over that of system-ui digits at 12 px. */
const CHAR = 7.4;

/** About `count` ticks from 0 to at least `max`, a step of 1, 2 or 5 × 10^k. */
export function niceTicks(max: number, count = 5): { step: number; ticks: number[] } {
  if (!(max > 0) || !Number.isFinite(max)) return { step: 1, ticks: [0, 1] };
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const ticks: number[] = [];
  for (let i = 0; i * step < max + step * 1e-9 || ticks.length < 2; i++) ticks.push(round(i * step, step));
  if (ticks[ticks.length - 1] < max) ticks.push(round(ticks.length * step, step));
  return { step, ticks };
}

function round(v: number, step: number): number {
  const digits = Math.max(0, -Math.floor(Math.log10(step)) + 1);
  return Number(v.toFixed(Math.min(digits, 10)));
}

/** A tick label: 0, 500, 2,000, 15k, 1.5M, 0.25: the suffix the largest tick needs, the decimals the step needs. */
export function formatTick(v: number, step: number, max = v): string {
  if (v === 0) return '0';
  const decimals = (s: number) => Math.max(0, Math.min(6, -Math.floor(Math.log10(s) + 1e-9)));
  if (max >= 1e6) return `${(v / 1e6).toFixed(decimals(step / 1e6))}M`;
  if (max >= 1e4) return `${(v / 1e3).toFixed(decimals(step / 1e3))}k`;
  return v.toLocaleString('en', { minimumFractionDigits: decimals(step), maximumFractionDigits: decimals(step) });
}

export interface Series {
  label: string;
  color: string;
  /** [x, y] in axis units. */
  points: Array<[number, number]>;
}

export interface LineChartOptions {
  series: Series[];
  xTitle: string;
  yTitle: string;
  /** Right end of the x axis (at least the last point). */
  xMax: number;
  /** Accessible name of the chart. */
  title: string;
  width?: number;
  height?: number;
}

/** A series of one point is drawn flat from x = 0 to it (a step too short for two rates). */
export function lineChart(o: LineChartOptions): string {
  const [w, h] = [o.width ?? 560, o.height ?? 250];
  const all = o.series.flatMap((s) => s.points);
  const yTicks = niceTicks(Math.max(0, ...all.map((p) => p[1])));
  const xTicks = niceTicks(Math.max(o.xMax, ...all.map((p) => p[0])), 6);
  const yLabels = yTicks.ticks.map((t) => formatTick(t, yTicks.step, yTicks.ticks.at(-1)));
  const left = 22 + FONT + Math.max(...yLabels.map((l) => l.length)) * CHAR;
  const xLabels = xTicks.ticks.map((t) => formatTick(t, xTicks.step, xTicks.ticks.at(-1)));
  // Room on the right for half of the last x label, which is centred on its tick.
  const right = 10 + (xLabels[xLabels.length - 1].length * CHAR) / 2;
  const [top, bottom] = [12, 46];
  const xEnd = xTicks.ticks[xTicks.ticks.length - 1];
  const yEnd = yTicks.ticks[yTicks.ticks.length - 1];
  const x = (v: number) => left + (v / xEnd) * (w - left - right);
  const y = (v: number) => h - bottom - (v / yEnd) * (h - top - bottom);
  const parts: string[] = [];
  yTicks.ticks.forEach((t, i) => {
    parts.push(`<line x1="${f(left)}" x2="${f(w - right)}" y1="${f(y(t))}" y2="${f(y(t))}" stroke="${i ? '#e5e5e5' : '#888'}"/>`);
    parts.push(`<text class="tick" x="${f(left - 6)}" y="${f(y(t) + FONT / 3)}" text-anchor="end">${yLabels[i]}</text>`);
  });
  xTicks.ticks.forEach((t, i) => {
    parts.push(`<line x1="${f(x(t))}" x2="${f(x(t))}" y1="${f(h - bottom)}" y2="${f(h - bottom + 4)}" stroke="#888"/>`);
    parts.push(`<text class="tick" x="${f(x(t))}" y="${f(h - bottom + 6 + FONT)}" text-anchor="middle">${xLabels[i]}</text>`);
  });
  parts.push(`<line x1="${f(left)}" x2="${f(left)}" y1="${f(top)}" y2="${f(h - bottom)}" stroke="#888"/>`);
  parts.push(`<text class="axis-title" x="${f((left + w - right) / 2)}" y="${f(h - 8)}" text-anchor="middle">${esc(o.xTitle)}</text>`);
  parts.push(`<text class="axis-title" transform="translate(${FONT + 2},${f((top + h - bottom) / 2)}) rotate(-90)" text-anchor="middle">${esc(o.yTitle)}</text>`);
  for (const s of o.series) {
    const pts = s.points.length === 1 ? [[0, s.points[0][1]] as [number, number], s.points[0]] : s.points;
    if (pts.length) parts.push(`<polyline class="series" data-series="${esc(s.label)}" fill="none" stroke="${s.color}" stroke-width="2" stroke-linejoin="round" points="${pts.map(([a, b]) => `${f(x(a))},${f(y(b))}`).join(' ')}"/>`);
  }
  if (all.length === 0) parts.push(`<text x="${f((left + w - right) / 2)}" y="${f((top + h - bottom) / 2)}" text-anchor="middle" fill="#888">no samples</text>`);
  return `<svg class="chart" viewBox="0 0 ${w} ${h}" role="img" aria-label="${esc(o.title)}" font-size="${FONT}">${parts.join('')}</svg>`;
}

export interface TimelineBar {
  label: string;
  start: number;
  seconds: number;
  color: string;
  /** Text after the bar, e.g. "4.0 s". */
  note: string;
}

/** The steps on one time axis (seconds since the first started). */
export function timeline(bars: TimelineBar[], width = 720): string {
  const rowH = 26;
  const left = 16 + Math.max(...bars.map((b) => b.label.length)) * CHAR;
  const end = Math.max(1, ...bars.map((b) => b.start + b.seconds));
  const ticks = niceTicks(end, 8);
  const labels = ticks.ticks.map((t) => formatTick(t, ticks.step, ticks.ticks.at(-1)));
  const noteRoom = Math.max(...bars.map((b) => b.note.length)) * CHAR + 12;
  const right = Math.max(10 + (labels[labels.length - 1].length * CHAR) / 2, 10);
  const xEnd = ticks.ticks[ticks.ticks.length - 1];
  const plotW = width - left - right - noteRoom;
  const x = (v: number) => left + (v / xEnd) * plotW;
  const h = bars.length * rowH + 52;
  const parts: string[] = [];
  ticks.ticks.forEach((t, i) => {
    parts.push(`<line x1="${f(x(t))}" x2="${f(x(t))}" y1="4" y2="${f(bars.length * rowH + 8)}" stroke="#e5e5e5"/>`);
    parts.push(`<text class="tick" x="${f(x(t))}" y="${f(bars.length * rowH + 8 + FONT + 4)}" text-anchor="middle">${labels[i]}</text>`);
  });
  bars.forEach((b, i) => {
    const y0 = 8 + i * rowH;
    parts.push(`<text x="${f(left - 8)}" y="${f(y0 + rowH / 2 + FONT / 3)}" text-anchor="end">${esc(b.label)}</text>`);
    const bw = Math.max(2, x(b.start + b.seconds) - x(b.start));
    parts.push(`<rect class="bar" data-step="${esc(b.label)}" x="${f(x(b.start))}" y="${f(y0 + 4)}" width="${f(bw)}" height="${rowH - 8}" fill="${b.color}"/>`);
    parts.push(`<text x="${f(x(b.start) + bw + 6)}" y="${f(y0 + rowH / 2 + FONT / 3)}">${esc(b.note)}</text>`);
  });
  parts.push(`<text class="axis-title" x="${f(left + plotW / 2)}" y="${f(h - 6)}" text-anchor="middle">seconds since the first step started</text>`);
  return `<svg class="chart timeline" viewBox="0 0 ${width} ${h}" role="img" aria-label="timeline of the steps" font-size="${FONT}">${parts.join('')}</svg>`;
}

function f(n: number): string {
  return n.toFixed(1);
}

export function esc(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}
