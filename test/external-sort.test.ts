import { describe, expect, it } from 'vitest';
import { sortByTime } from '../transform/external-sort.ts';

/** The order the sorter promises: occurred_at (seconds, then nanos), ties in input order. */
function byComparator(seconds: Float64Array, nanos: Uint32Array): number[] {
  return [...seconds.keys()].sort((a, b) => seconds[a] - seconds[b] || nanos[a] - nanos[b] || a - b);
}

/** A small deterministic generator (xorshift), so a failure can be replayed. */
function random(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

describe('sortByTime', () => {
  it('orders like the comparator, ties by position, across the whole range of seconds', () => {
    const next = random(7);
    const n = 20_000;
    const seconds = new Float64Array(n);
    const nanos = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      const kind = i % 4;
      // Years 0001 to 9999, negative seconds, many exact ties, and nanos over their whole range.
      seconds[i] = kind === 0 ? Math.floor(next() * 100) : kind === 1 ? -62_135_596_800 + Math.floor(next() * 315_537_897_599) : 1_400_000_000 + Math.floor(next() * 50);
      nanos[i] = kind === 3 ? Math.floor(next() * 1e9) : kind === 2 ? 0 : Math.floor(next() * 4) * 250_000_000;
    }
    expect([...sortByTime(seconds, nanos)]).toEqual(byComparator(seconds, nanos));
  });

  it('keeps the input order when every key is the same, and handles one or no event', () => {
    expect([...sortByTime(new Float64Array(5).fill(42), new Uint32Array(5).fill(7))]).toEqual([0, 1, 2, 3, 4]);
    expect([...sortByTime(new Float64Array([3]), new Uint32Array([1]))]).toEqual([0]);
    expect([...sortByTime(new Float64Array(0), new Uint32Array(0))]).toEqual([]);
  });

  it('sorts by nanos within a second and by seconds above 2^32', () => {
    const seconds = new Float64Array([2 ** 33 + 1, 2 ** 33, 5, 5, 5, -1]);
    const nanos = new Uint32Array([0, 999_999_999, 3, 1, 2, 0]);
    expect([...sortByTime(seconds, nanos)]).toEqual([5, 3, 4, 2, 1, 0]);
  });
});
