import { readdir, truncate, stat } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { frame, unframe } from '../dumps/framing.ts';
import { ExternalSorter, RUN_FRAME_BYTES, sortByTime } from '../transform/external-sort.ts';
import type { BlockResult } from '../transform/runtime.ts';
import { tempDir } from './helpers.ts';

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

/** Blocks of events whose body names their key; one event far larger than a run's frame. */
function eventBlocks(blocks: number, perBlock: number): Array<{ result: BlockResult; keys: Array<[number, number, string]> }> {
  const next = random(11);
  const out: Array<{ result: BlockResult; keys: Array<[number, number, string]> }> = [];
  for (let b = 0; b < blocks; b++) {
    const parts: Uint8Array[] = [];
    const fields = new Float64Array(perBlock * 2);
    const keys: Array<[number, number, string]> = [];
    for (let e = 0; e < perBlock; e++) {
      const seconds = 1_400_000_000 + Math.floor(next() * 100_000);
      const nanos = Math.floor(next() * 3) * 1000;
      const big = b === 1 && e === 7;
      const body = `event ${b}/${e} at ${seconds}.${nanos} ` + (big ? 'x'.repeat(3 * RUN_FRAME_BYTES) : 'hei, mitä kuuluu? '.repeat(1 + (e % 5)));
      parts.push(frame(Buffer.from(body)));
      fields[e * 2] = seconds;
      fields[e * 2 + 1] = nanos;
      keys.push([seconds, nanos, body]);
    }
    const framed = Buffer.concat(parts);
    out.push({ result: { input: 0, block: b, rows: perBlock, events: perBlock, framed, typeCounts: {}, sortFields: fields, rejects: [] }, keys });
  }
  return out;
}

async function sortedBodies(sorter: ExternalSorter): Promise<string[]> {
  const bodies: string[] = [];
  for await (const block of sorter.sortedBlocks()) {
    for (const m of unframe(block.framed)) bodies.push(Buffer.from(m).toString());
    block.release();
  }
  return bodies;
}

describe('ExternalSorter spilled runs', () => {
  it('spills runs compressed in frames (an event larger than a frame included) and merges them in order, in one pass or several', async () => {
    const input = eventBlocks(40, 500);
    const expected = input.flatMap((b) => b.keys).map((k, i) => ({ k, i }))
      .sort((a, b) => a.k[0] - b.k[0] || a.k[1] - b.k[1] || a.i - b.i).map((x) => x.k[2]);
    for (const fanIn of [64, 2]) {
      const dir = await tempDir('ferry-sort-test-');
      const sorter = new ExternalSorter({ budgetBytes: 256 * 1024, tmpDir: dir, fanIn });
      for (const { result } of input) await sorter.add(result, 0);
      expect(sorter.stats.runs).toBeGreaterThan(10);
      // Brotli quality 0 on repetitive chat text: well under half the raw bytes.
      expect(sorter.stats.spilledBytes).toBeLessThan(0.5 * sorter.stats.spilledRawBytes);
      expect(await sortedBodies(sorter)).toEqual(expected);
      if (fanIn === 2) expect(sorter.stats.mergePasses).toBeGreaterThan(1);
      await sorter.cleanup();
      expect(await readdir(dir)).toEqual([]);
    }
  });

  it('reports a run that was cut short with its file and byte, not wrong events', async () => {
    const dir = await tempDir('ferry-sort-test-');
    const sorter = new ExternalSorter({ budgetBytes: 256 * 1024, tmpDir: dir });
    for (const { result } of eventBlocks(10, 500)) await sorter.add(result, 0);
    const [runDir] = await readdir(dir);
    const runs = (await readdir(path.join(dir, runDir))).sort();
    const victim = path.join(dir, runDir, runs[0]);
    await truncate(victim, (await stat(victim)).size - 100);
    await expect(sortedBodies(sorter)).rejects.toThrow(new RegExp(`sort run ${victim.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} ended early at byte \\d+`));
    await sorter.cleanup();
  });
});
