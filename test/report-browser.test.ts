// The run report as a person sees it: rendered by Debian's chromium (headless, through
// playwright-core) at 768 and 1280 px. A demo report (`ferry report` over the recorded summaries of
// a real `ferry demo --scale tiny` run, with its checks) and a single-step report written by a real
// `ferry seed rabbitmq --report`. Screenshots go to test-output/ (gitignored) for a look.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatReportCount, formatReportMb, formatReportSeconds } from '../lib/report-model.ts';
import { ROOT, runFerry, tempDir } from './helpers.ts';
import { deleteQueues, uniqueName, writeConfig, writeDumps } from './seed-rabbitmq-helpers.ts';

const CHROMIUM = '/usr/bin/chromium';
const OUTPUT = path.join(ROOT, 'test-output');
const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'report');
const DEMO_STEPS = ['generate', 'extract', 'transform', 'seed-modules', 'seed-rabbitmq'];

/* eslint-disable @typescript-eslint/no-explicit-any */
type Summary = Record<string, any>;

/** What the totals table must show for a summary, worked out here from the JSON itself. */
function expectedTotals(s: Summary): Record<string, string> {
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const out: Record<string, string> = { seconds: formatReportSeconds(s.seconds) };
  const count = (field: string, n: number) => (out[field] = formatReportCount(n));
  switch (s.run.command) {
    case 'generate':
      count('rows', sum(Object.values(s.tables)));
      count('rows/s', sum(Object.values(s.tables)) / s.seconds);
      out.MB = formatReportMb(s.bytes / 1e6);
      out['MB/s'] = formatReportMb(s.bytes / 1e6 / s.seconds);
      break;
    case 'extract':
      count('rows', s.totals.rows);
      count('rows/s', s.totals.rows / s.seconds);
      out.MB = formatReportMb(s.totals.uncompressedBytes / 1e6);
      out['MB/s'] = formatReportMb(s.totals.uncompressedBytes / 1e6 / s.seconds);
      break;
    case 'transform':
      count('rows', s.rows);
      count('events', s.events);
      count('rows/s', s.rowsPerSecond);
      count('events/s', s.eventsPerSecond);
      break;
    case 'seed modules': {
      const rows = sum(s.modules.map((m: Summary) => m.rows.total));
      count('rows', rows);
      count('events', s.inputEvents);
      count('rows/s', rows / s.seconds);
      count('events/s', s.inputEvents / s.seconds);
      break;
    }
    case 'seed rabbitmq':
      count('events', s.events);
      count('events/s', s.eventsPerSecond);
      out.MB = formatReportMb(s.bytes / 1e6);
      out['MB/s'] = formatReportMb(s.bytes / 1e6 / s.seconds);
      break;
  }
  out['peak RSS MB'] = String(Math.round(s.run.peakRssBytes / 1e6));
  return out;
}

let context: BrowserContext;
const reports: Record<'demo' | 'single', { file: string; summaries: Summary[] }> = {} as never;
const cleanup: Array<() => Promise<void>> = [];

beforeAll(async () => {
  expect(existsSync(CHROMIUM), `${CHROMIUM} is missing: run npm run setup (it installs Debian's chromium)`).toBe(true);
  await mkdir(OUTPUT, { recursive: true });
  const dir = await tempDir();

  // The demo's report, from the recorded summaries and checks of a real tiny run, through the CLI.
  const demoFile = path.join(dir, 'demo.html');
  const files = [...DEMO_STEPS.map((s) => path.join(FIXTURES, `${s}.json`)), path.join(FIXTURES, 'demo.json')];
  const made = await runFerry(['report', ...files, '--out', demoFile, '--title', 'ferry demo: dating site, scale tiny']);
  expect(made.stderr).toBe(`report: ${demoFile} (5 steps: generate, extract, transform, seed modules, seed rabbitmq)\n`);
  expect(made.code).toBe(0);
  reports.demo = { file: demoFile, summaries: await Promise.all(DEMO_STEPS.map(async (s) => JSON.parse(await readFile(path.join(FIXTURES, `${s}.json`), 'utf8')))) };

  // A single step's own --report, from a real run.
  const url = process.env.FERRY_AMQP_URL!;
  const exchange = uniqueName('ferry.test.report');
  const queue = uniqueName('ferry.test.report.all');
  cleanup.push(() => deleteQueues(url, [queue], [exchange]));
  await writeDumps(dir, [['a.events.pb.gz', 0, 20_000]], { blockRecords: 2_000 });
  const config = await writeConfig(dir, { exchange, queues: [{ name: queue, bindings: ['#'], arguments: { 'x-queue-mode': 'lazy' } }] });
  const singleFile = path.join(dir, 'single', 'seed-rabbitmq.html');
  const run = await runFerry(['seed', 'rabbitmq', '--in', dir, '--url', url, '--declare', '--config', config, '--report', singleFile, '--json', '--quiet']);
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  reports.single = { file: singleFile, summaries: [JSON.parse(run.stdout)] };

  context = await chromium.launchPersistentContext(await mkdtemp(path.join(process.env.FERRY_TEST_TMP ?? os.tmpdir(), 'chromium-')), {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}, 240_000);

afterAll(async () => {
  await context?.close();
  for (const c of cleanup) await c().catch(() => undefined);
});

describe.each([
  ['demo', 'report'],
  ['single', 'report-single'],
] as const)('the %s report in chromium', (which, shot) => {
  it.each([768, 1280])('at %i px: fits, no console errors, labels inside charts, a chart per step, the summary\'s numbers', async (width) => {
    const { file, summaries } = reports[which];
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('request', (r) => {
      if (!r.url().startsWith('file:')) errors.push(`network request ${r.url()}`);
    });
    await page.setViewportSize({ width, height: 900 });
    await page.goto(`file://${file}`);
    await page.screenshot({ path: path.join(OUTPUT, `${shot}-${width}.png`), fullPage: true });

    const layout = await page.evaluate(() => ({
      scrollWidth: document.documentElement.scrollWidth,
      clientWidth: document.documentElement.clientWidth,
      // Every text of every chart, with the chart's box: none may stick out.
      outside: [...document.querySelectorAll('svg')].flatMap((svg) => {
        const box = svg.getBoundingClientRect();
        return [...svg.querySelectorAll('text')].filter((t) => {
          const r = t.getBoundingClientRect();
          return r.left < box.left - 0.5 || r.right > box.right + 0.5 || r.top < box.top - 0.5 || r.bottom > box.bottom + 0.5;
        }).map((t) => `${t.textContent} in ${svg.getAttribute('aria-label')}`);
      }),
      texts: document.querySelectorAll('svg text').length,
      steps: [...document.querySelectorAll('section.step')].map((s) => ({
        step: s.getAttribute('data-step'),
        rate: s.querySelectorAll('figure[data-chart="rate"] svg polyline.series').length,
        rss: s.querySelectorAll('figure[data-chart="rss"] svg polyline.series').length,
        rateTitle: s.querySelector('figure[data-chart="rate"] svg')?.getAttribute('aria-label'),
        // Seen at all: the chart has a size on the page.
        chartWidth: s.querySelector('figure[data-chart="rate"] svg')?.getBoundingClientRect().width ?? 0,
      })),
      totals: Object.fromEntries([...document.querySelectorAll('table.totals tr[data-step]')].map((tr) => [
        tr.getAttribute('data-step'),
        Object.fromEntries([...tr.querySelectorAll('td[data-field]')].filter((td) => td.textContent).map((td) => [td.getAttribute('data-field'), td.textContent])),
      ])),
      checks: [...document.querySelectorAll('table.checks tr.pass td:last-child')].map((td) => getComputedStyle(td).backgroundColor),
    }));
    await page.close();

    expect(errors).toEqual([]);
    expect(layout.scrollWidth).toBeLessThanOrEqual(layout.clientWidth);
    expect(layout.texts).toBeGreaterThan(20);
    expect(layout.outside).toEqual([]);
    const names = summaries.map((s) => s.run.command);
    expect(layout.steps.map((s) => s.step)).toEqual(names);
    for (const s of layout.steps) {
      expect(s).toMatchObject({ rate: 1, rss: 1 });
      expect(s.chartWidth).toBeGreaterThan(300);
    }
    expect(layout.totals).toEqual(Object.fromEntries(summaries.map((s) => [s.run.command, expectedTotals(s)])));
    if (which === 'demo') {
      expect(layout.steps.find((s) => s.step === 'seed rabbitmq')?.rateTitle).toBe('seed rabbitmq: events/s over time');
      expect(layout.checks.length).toBe(48);
      expect(new Set(layout.checks)).toEqual(new Set(['rgb(233, 246, 236)'])); // green
    }
  });
});
