import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { eventBatches, parseShard } from '../seed/event-batches.ts';
import { sampleEvent, writeSampleEventDump } from './fixtures/event-dumps.ts';
import { tempDir } from './helpers.ts';

describe('event batches', () => {
  it('reads every event of every dump in order, in batches with positions, and resumes mid-file', async () => {
    const dir = await tempDir();
    await writeSampleEventDump(path.join(dir, 'a.pb.gz'), 2_500, { blockRecords: 1_000 });
    await writeSampleEventDump(path.join(dir, 'b.pb.gz'), 700, { from: 2_500, blockRecords: 1_000 });
    const all = [];
    for await (const batch of eventBatches(dir, { batchSize: 400 })) {
      expect(batch.events.length).toBe(batch.toRecord - batch.fromRecord);
      expect(batch.events.length).toBeLessThanOrEqual(400);
      all.push(...batch.events.map((e) => e.id));
    }
    expect(all).toEqual(Array.from({ length: 3_200 }, (_, i) => sampleEvent(i).id));

    const resumed = [];
    for await (const batch of eventBatches(dir, { batchSize: 400, resumeFrom: new Map([['a.pb.gz', 1_234], ['b.pb.gz', 700]]) })) {
      expect(batch.file).toBe('a.pb.gz');
      resumed.push(...batch.events.map((e) => e.id));
    }
    expect(resumed).toEqual(all.slice(1_234, 2_500));
  });

  it('splits blocks over shards without overlap or gap', async () => {
    const dir = await tempDir();
    await writeSampleEventDump(path.join(dir, 'a.pb.gz'), 5_000, { blockRecords: 500 });
    const seen: string[] = [];
    for (const shard of ['0/3', '1/3', '2/3']) {
      for await (const batch of eventBatches(dir, { batchSize: 300, includeBlock: parseShard(shard) })) seen.push(...batch.events.map((e) => e.id));
    }
    expect(seen.length).toBe(5_000);
    expect(new Set(seen).size).toBe(5_000);
    expect(() => parseShard('3/3')).toThrow('--shard takes i/n');
  });
});
