// The fault benchmark's short version (bench/faults.ts): every step of the example at tiny scale,
// SIGKILLed at a few random moments and resumed as documented, a PostgreSQL restart under extract
// and seed modules, two copies of each step at once, and corrupted dumps; every figure must hold.
import { describe, expect, it } from 'vitest';
import { runFaults } from '../bench/faults.ts';

describe('fault benchmark (short)', () => {
  it('0 lost, 0 duplicated, identical outputs, second copies refused or correct, every corruption located', async () => {
    const lines: string[] = [];
    const result = await runFaults({
      scale: 'tiny', kills: 1, corruptions: 25, pgRestarts: true, seed: 7,
      // The shared broker (a queue and exchange of the run's own); its restart is covered by test/seed-rabbitmq-recovery.test.ts.
      rabbitmq: { own: false, url: process.env.FERRY_AMQP_URL! },
      log: (line) => lines.push(line),
    });
    expect(result.lines.join('\n'), lines.join('\n')).not.toMatch(/ [1-9]\d* lost|WRONG| [1-9]\d* failed otherwise/);
    expect(result.lines.filter((l) => /^faults (extract|transform|seed-modules): \d+ kills, 0 lost, 0 duplicated/.test(l))).toHaveLength(3);
    expect(result.lines.some((l) => /^faults corruption: 25\/25 detected, 25\/25 with file and byte offset/.test(l))).toBe(true);
    expect(result.ok, result.lines.join('\n')).toBe(true);
  }, 600_000);
});
