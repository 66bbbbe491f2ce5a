// The run report's chart: one throughput line per step, also for steps that count under several
// labels at once (extract per table, seed modules per module).
import { describe, expect, it } from 'vitest';
import type { ProgressSample } from '../lib/child-run.ts';
import { renderReport, type ReportStep } from '../lib/html-report.ts';

const T0 = 1_700_000_000_000;

function samples(label: string, unit: string, perSecond: number, from: number, seconds: number): ProgressSample[] {
  return Array.from({ length: seconds * 4 + 1 }, (_, i) => ({ label, unit, t: T0 + from * 1000 + i * 250, count: (perSecond * i) / 4, bytes: 0 }));
}

function polylines(html: string): Array<Array<[number, number]>> {
  return [...html.matchAll(/<polyline [^>]*points="([^"]*)"/g)].map((m) =>
    m[1].split(' ').filter(Boolean).map((p) => p.split(',').map(Number) as [number, number]));
}

describe('renderReport', () => {
  it('draws one line per step, adding up the labels a step counts under', () => {
    const steps: ReportStep[] = [
      { name: 'transform', startedAt: T0, seconds: 4, samples: samples('transform', 'rows', 1000, 0, 4), figures: { rows: 4000 } },
      {
        name: 'seed modules', startedAt: T0 + 4000, seconds: 4, figures: { events: 16000 },
        // Three modules at 1000 events/s each: the step runs at 3000/s, not at one module's 1000/s.
        samples: [...samples('members', 'events', 1000, 4, 4), ...samples('chat', 'events', 1000, 4, 4), ...samples('flirts', 'events', 1000, 4, 4),
          { label: 'modules', unit: 'batches', t: T0 + 8000, count: 2, bytes: 0 }],
      },
    ];
    const html = renderReport('ferry demo', steps);
    const [transform, seed] = polylines(html);
    expect(transform.length).toBeGreaterThanOrEqual(7);
    expect(seed.length).toBeGreaterThanOrEqual(7);
    // Same chart scale for both: the y pixel of 3000/s is lower (further from the axis) than that of 1000/s.
    const median = (line: Array<[number, number]>) => [...line.map((p) => p[1])].sort((a, b) => a - b)[Math.floor(line.length / 2)];
    const axis = 260; // y of 0 on the 300 px high chart
    expect((axis - median(seed)) / (axis - median(transform))).toBeCloseTo(3, 1);
    expect(html).toContain('<td>seed modules</td>');
  });

  it('draws a step too short for two samples at its mean rate', () => {
    const html = renderReport('ferry demo', [
      { name: 'extract', startedAt: T0, seconds: 0.5, figures: {}, samples: [{ label: 'dbo.Members', unit: 'rows', t: T0 + 500, count: 5000, bytes: 0 }] },
    ]);
    const [line] = polylines(html);
    expect(line).toHaveLength(2);
    expect(line[0][1]).toBe(line[1][1]); // flat: 10,000 rows/s throughout
    expect(line[1][0]).toBeGreaterThan(line[0][0]);
  });
});
