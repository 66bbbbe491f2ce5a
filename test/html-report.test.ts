// The run report's pieces: nice ticks, smoothed rates, one duration and rate per step, problems up
// front, checks coloured, the sampler of a step's summary. The page in a real browser is in
// report-browser.test.ts.
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseBench } from '../cli/report-command.ts';
import { renderRunReport } from '../lib/html-report.ts';
import { RunSampler, countOpenSockets, type RunSample } from '../lib/progress.ts';
import { describeStep, rateWindowMs, smoothedRate } from '../lib/report-model.ts';
import { formatTick, niceTicks } from '../lib/report-svg.ts';
import { ROOT } from './helpers.ts';

const fixture = (name: string) => JSON.parse(readFileSync(path.join(ROOT, 'test', 'fixtures', 'report', `${name}.json`), 'utf8'));

describe('nice ticks', () => {
  it('steps of 1, 2 or 5 × 10^k up to at least the maximum', () => {
    // The old chart's ticks for a peak of 807,996 were 201,999 / 403,998 / …
    expect(niceTicks(807_996)).toEqual({ step: 200_000, ticks: [0, 200_000, 400_000, 600_000, 800_000, 1_000_000] });
    expect(niceTicks(3_219)).toEqual({ step: 1_000, ticks: [0, 1_000, 2_000, 3_000, 4_000] });
    expect(niceTicks(0.7)).toEqual({ step: 0.2, ticks: [0, 0.2, 0.4, 0.6, 0.8] });
    expect(niceTicks(0).ticks).toEqual([0, 1]);
    expect(niceTicks(2.26, 6).ticks).toEqual([0, 0.5, 1, 1.5, 2, 2.5]);
  });

  it('labels them short and exact', () => {
    expect([0, 200_000, 1_000_000].map((v) => formatTick(v, 200_000, 1_000_000))).toEqual(['0', '0.2M', '1.0M']);
    expect([0, 20_000, 60_000].map((v) => formatTick(v, 20_000, 60_000))).toEqual(['0', '20k', '60k']);
    expect([0, 2_000_000, 4_000_000].map((v) => formatTick(v, 2_000_000, 4_000_000))).toEqual(['0', '2M', '4M']);
    expect([0, 1_000, 4_000].map((v) => formatTick(v, 1_000, 4_000))).toEqual(['0', '1,000', '4,000']);
    expect([0, 0.2, 0.8].map((v) => formatTick(v, 0.2, 0.8))).toEqual(['0', '0.2', '0.8']);
    expect([0, 0.5, 2.5].map((v) => formatTick(v, 0.5, 2.5))).toEqual(['0', '0.5', '2.5']);
  });
});

describe('smoothed rate', () => {
  const samples = (perSecond: number, seconds: number): RunSample[] =>
    Array.from({ length: seconds + 1 }, (_, i) => ({ ms: i * 1000, rows: perSecond * i, rssBytes: 1e8, openSockets: 1 }));

  it('is the counter\'s growth per second over the window before each sample', () => {
    const rate = smoothedRate(samples(1_000, 30), 'rows', 5_000);
    expect(rate).toHaveLength(30);
    for (const [, r] of rate) expect(r).toBeCloseTo(1_000, 6);
    // A pause of 10 s shows as a dip to 0 with the window's width, not as a spike of the next sample.
    const paused = samples(1_000, 30).map((s) => ({ ...s, rows: s.ms <= 10_000 ? s.rows! : s.ms <= 20_000 ? 10_000 : s.rows! - 10_000 }));
    const r = new Map(smoothedRate(paused, 'rows', 5_000));
    expect(r.get(10_000)).toBeCloseTo(1_000);
    expect(r.get(18_000)).toBe(0);
    expect(r.get(30_000)).toBeCloseTo(1_000);
    expect(Math.max(...r.values())).toBeLessThanOrEqual(1_000);
  });

  it('is never negative when a counter steps back (extract retrying a chunk takes its rows back)', () => {
    const retried = samples(1_000, 10).map((s) => ({ ...s, rows: s.ms === 6_000 ? 1_000 : s.rows }));
    const rate = smoothedRate(retried, 'rows', 2_000);
    expect(Math.min(...rate.map(([, r]) => r))).toBe(0);
    expect(new Map(rate).get(10_000)).toBeCloseTo(1_000);
  });

  it('uses a window of about a thirtieth of the run, at least three samples', () => {
    expect(rateWindowMs(samples(1, 3))).toBe(5_000);
    expect(rateWindowMs(samples(1, 600))).toBe(20_000);
    expect(rateWindowMs(samples(1, 7_200))).toBe(300_000);
  });
});

describe('a step summary read for the report', () => {
  it('has one duration and every rate over it', () => {
    const transform = describeStep(fixture('transform'));
    const s = fixture('transform');
    expect(transform).toMatchObject({ name: 'transform', seconds: s.seconds, rows: s.rows, events: s.events });
    expect(transform.rates.rows).toBeCloseTo(s.rows / s.seconds, 6);
    expect(transform.rates.events).toBeCloseTo(s.events / s.seconds, 6);
    expect(transform.problems).toEqual([{ what: 'rejected rows', count: 35, detail: `written to ${s.rejectsFile}` }]);

    const seed = describeStep(fixture('seed-modules'));
    const m = fixture('seed-modules');
    expect(seed.name).toBe('seed modules');
    expect(seed.rows).toBe(m.modules.reduce((n: number, x: { rows: { total: number } }) => n + x.rows.total, 0));
    expect(seed.rates.rows).toBeCloseTo(seed.rows! / m.seconds, 6);

    const rabbit = describeStep(fixture('seed-rabbitmq'));
    const r = fixture('seed-rabbitmq');
    expect(rabbit.chartUnit).toBe('events');
    expect(rabbit.rates.events).toBe(r.eventsPerSecond);
    expect(Math.abs(r.eventsPerSecond - r.events / r.seconds)).toBeLessThan(1);
  });

  it('reads a benchmark\'s raw limit for its step', () => {
    const limits = parseBench('e2e fi seed rabbitmq: 21500 events/s; limit 25600 events/s (minimal amqplib publisher); ratio 0.84\nnoise\n');
    expect(limits).toEqual([{ step: 'seed rabbitmq', value: 21_500, unit: 'events/s', limit: 25_600, limitWhat: 'minimal amqplib publisher' }]);
    expect(describeStep(fixture('seed-rabbitmq'), limits).rawLimit?.ratio).toBeCloseTo(0.84, 2);
  });
});

describe('renderRunReport', () => {
  const steps = ['generate', 'extract', 'transform', 'seed-modules', 'seed-rabbitmq'].map(fixture);

  it('puts problems and failed checks first, colours checks, gives every step its two charts', () => {
    const checks = [{ what: 'events MemberRegistered', expected: 10, actual: 10, ok: true }, { what: 'queue dating.chat', expected: 5, actual: 4, ok: false }];
    const html = renderRunReport({ title: 'ferry demo', steps, checks });
    const verdict = html.indexOf('class="verdict"');
    expect(verdict).toBeGreaterThan(0);
    expect(verdict).toBeLessThan(html.indexOf('<h2>Totals</h2>'));
    expect(html).toContain('<li class="bad" data-field="checks">1 of 2 checks passed: 1 FAILED (queue dating.chat)</li>');
    expect(html).toContain('transform: <b>35</b> rejected rows');
    expect(html).toContain('<tr class="pass"><td>events MemberRegistered</td><td>10</td><td>10</td><td>pass</td></tr>');
    expect(html).toContain('<tr class="fail"><td>queue dating.chat</td><td>5</td><td>4</td><td>FAIL</td></tr>');
    for (const name of ['generate', 'extract', 'transform', 'seed modules', 'seed rabbitmq']) {
      const section = html.slice(html.indexOf(`<section class="step" data-step="${name}">`));
      expect(section.length).toBeLessThan(html.length);
      const own = section.slice(0, section.indexOf('</section>'));
      expect(own).toContain('data-chart="rate"');
      expect(own).toContain('data-chart="rss"');
      expect(own).toMatch(/<polyline class="series"/);
    }
    // Each its own unit; the window stated.
    expect(html).toMatch(/seed rabbitmq: events\/s over time/);
    expect(html).toMatch(/seed modules: rows\/s over time/);
    expect(html).toMatch(/each point the rate over the previous 5 s \(sampled every 1 s\)/);
    // No script, no external resource.
    expect(html).not.toMatch(/<script|https?:\/\/|<link /);
  });

  it('shows the type-check on its own line and the run\'s rate over the run\'s time', () => {
    const html = renderRunReport({ title: 't', steps: [{ ...fixture('transform'), typecheckSeconds: 2.14, seconds: 7.2, rows: 3_550, events: 3_495, rowsPerSecond: 3_550 / 7.2, eventsPerSecond: 3_495 / 7.2 }] });
    expect(html).toContain('<p class="keyline">type-check 2.14 s</p>\n<p class="keyline">3,550 rows → 3,495 events in 7.20 s (493 rows/s)</p>');
  });
});

describe('RunSampler', () => {
  it('samples counters, RSS and open sockets, and thins a long series evenly', async () => {
    let rows = 0;
    const server = net.createServer().listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const before = countOpenSockets();
    const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    await new Promise((resolve) => client.once('connect', resolve));
    // The client and the accepted end: two more sockets.
    await expect.poll(() => countOpenSockets()).toBe(before + 2);
    client.destroy();
    server.close();

    const sampler = new RunSampler(() => ({ rows }), 1_000_000);
    for (let i = 1; i <= RunSampler.MAX_SAMPLES + 1; i++) {
      rows = i;
      sampler.sample();
    }
    const samples = sampler.stop();
    expect(samples.length).toBeLessThanOrEqual(RunSampler.MAX_SAMPLES / 2 + 3);
    expect(sampler.interval).toBe(2_000_000);
    expect(samples[0].rows).toBe(0);
    expect(samples.at(-1)!.rows).toBe(RunSampler.MAX_SAMPLES + 1);
    expect(samples.every((s, i) => i === 0 || s.rows! >= samples[i - 1].rows!)).toBe(true);
    expect(samples[1].rssBytes).toBeGreaterThan(10e6);
    expect(sampler.stop()).toBe(samples); // stopping twice adds nothing
  });
});
