// --order occurred_at: an external merge sort with a memory budget. Events are buffered until the
// budget is used, then sorted and spilled to disk as a run (a dump, written by the dump writer);
// at the end the runs are merged with a binary heap (several passes if there are many runs).
// Order: occurred_at, then input file, block, row in block, index in row — a total order, so the
// output does not depend on worker count, budget or arrival order.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DumpReader, parseProto, toDescriptorSet, writeDump } from '../dumps/index.ts';
import { unframe } from '../dumps/framing.ts';
import type { BlockResult } from './runtime.ts';

export interface SortEntry {
  s: number;
  n: number;
  f: number;
  b: number;
  r: number;
  i: number;
  /** The encoded envelope (without its length prefix). */
  env: Uint8Array;
}

export function compareEntries(x: SortEntry, y: SortEntry): number {
  return x.s - y.s || x.n - y.n || x.f - y.f || x.b - y.b || x.r - y.r || x.i - y.i;
}

const RUN_PROTO = `syntax = "proto3"; package ferry.transform;
// One event in a sorted run of an external sort: its ordering key and the encoded envelope.
message SortRunEntry { double seconds = 1; uint32 nanos = 2; uint32 file = 3; uint32 block = 4; uint32 row = 5; uint32 index = 6; bytes envelope = 7; }`;
const RUN_TYPE = 'ferry.transform.SortRunEntry';
const runRoot = parseProto([RUN_PROTO]);
const RUN_DESCRIPTOR = toDescriptorSet(runRoot);

/** Bytes an entry costs in memory besides its envelope (object, fields, array slot). */
const ENTRY_OVERHEAD = 120;

export interface SortStats {
  runs: number;
  spilledEvents: number;
  spilledBytes: number;
  mergePasses: number;
  peakBufferedBytes: number;
}

export class ExternalSorter {
  private buffer: SortEntry[] = [];
  private bufferedBytes = 0;
  private runs: string[] = [];
  private runCounter = 0;
  private dir?: string;
  readonly stats: SortStats = { runs: 0, spilledEvents: 0, spilledBytes: 0, mergePasses: 0, peakBufferedBytes: 0 };
  private readonly fanIn: number;
  private readonly runBlockBytes: number;

  constructor(private readonly options: { budgetBytes: number; tmpDir?: string; fanIn?: number }) {
    this.fanIn = options.fanIn ?? 64;
    // Merging holds about two blocks per run; keep that within half the budget.
    this.runBlockBytes = Math.max(16 * 1024, Math.min(1024 * 1024, Math.floor(options.budgetBytes / (4 * this.fanIn))));
  }

  /** Adds the events of one block result (from input file `ordinal`); spills when the budget is used. */
  async add(result: BlockResult, ordinal: number): Promise<void> {
    const fields = result.sortFields!;
    let k = 0;
    for (const env of unframe(result.framed)) {
      this.buffer.push({ s: fields[k], n: fields[k + 1], f: ordinal, b: result.block, r: fields[k + 2], i: fields[k + 3], env });
      this.bufferedBytes += env.length + ENTRY_OVERHEAD;
      k += 4;
    }
    this.stats.peakBufferedBytes = Math.max(this.stats.peakBufferedBytes, this.bufferedBytes);
    if (this.bufferedBytes >= this.options.budgetBytes / 2) await this.spill();
  }

  private async spill(): Promise<void> {
    if (this.buffer.length === 0) return;
    const entries = this.buffer.sort(compareEntries);
    this.buffer = [];
    this.bufferedBytes = 0;
    const file = await this.writeRun(entries);
    this.runs.push(file);
    this.stats.runs++;
    this.stats.spilledEvents += entries.length;
  }

  private async writeRun(entries: Iterable<SortEntry> | AsyncIterable<SortEntry>): Promise<string> {
    this.dir ??= await mkdtemp(path.join(this.options.tmpDir ?? os.tmpdir(), 'ferry-sort-'));
    const file = path.join(this.dir, `run-${String(this.runCounter++).padStart(6, '0')}.pb.gz`);
    const summary = await writeDump(
      file,
      { kind: 'EVENTS', name: 'ferry sort run', recordType: RUN_TYPE, descriptorSet: RUN_DESCRIPTOR },
      mapEntries(entries),
      { blockBytes: this.runBlockBytes, level: 1 },
    );
    this.stats.spilledBytes += summary.bytes;
    return file;
  }

  /** Every event added, in order. Call once, after the last add. */
  async *sorted(): AsyncGenerator<SortEntry> {
    if (this.runs.length === 0) {
      const entries = this.buffer.sort(compareEntries);
      this.buffer = [];
      this.bufferedBytes = 0;
      yield* entries;
      return;
    }
    await this.spill();
    // Merge in passes of at most fanIn runs so open files and merge buffers stay bounded.
    while (this.runs.length > this.fanIn) {
      this.stats.mergePasses++;
      const next: string[] = [];
      for (let i = 0; i < this.runs.length; i += this.fanIn) {
        const group = this.runs.slice(i, i + this.fanIn);
        next.push(group.length === 1 ? group[0] : await this.writeRun(mergeRuns(group)));
        if (group.length > 1) for (const f of group) await rm(f, { force: true });
      }
      this.runs = next;
    }
    this.stats.mergePasses++;
    yield* mergeRuns(this.runs);
  }

  async cleanup(): Promise<void> {
    this.buffer = [];
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }
}

async function* mapEntries(entries: Iterable<SortEntry> | AsyncIterable<SortEntry>): AsyncGenerator<object> {
  for await (const e of entries) yield { seconds: e.s, nanos: e.n, file: e.f, block: e.b, row: e.r, index: e.i, envelope: e.env };
}

/** Reads a run one block at a time, the next block being read and inflated meanwhile. */
class RunCursor {
  private items: SortEntry[] = [];
  private pos = 0;
  private block = 0;
  private next?: Promise<Buffer>;

  private constructor(private readonly reader: DumpReader) {}

  static async open(file: string): Promise<RunCursor> {
    const c = new RunCursor(await DumpReader.open(file));
    await c.load();
    return c;
  }

  get head(): SortEntry | undefined {
    return this.items[this.pos];
  }

  private prefetch(): void {
    this.next = this.block < this.reader.blocks.length ? this.reader.readBlock(this.block) : undefined;
    this.next?.catch(() => undefined);
  }

  private async load(): Promise<void> {
    if (!this.next) this.prefetch();
    this.items = [];
    this.pos = 0;
    if (!this.next) return;
    const payload = await this.next;
    const index = this.block++;
    this.prefetch();
    for (const m of this.reader.decodeBlock(index, payload)) {
      const e = m as unknown as { seconds: number; nanos: number; file: number; block: number; row: number; index: number; envelope: Uint8Array };
      this.items.push({ s: e.seconds, n: e.nanos, f: e.file, b: e.block, r: e.row, i: e.index, env: e.envelope });
    }
  }

  /** Moves on; false when the run is exhausted. */
  async advance(): Promise<boolean> {
    this.pos++;
    if (this.pos < this.items.length) return true;
    await this.load();
    return this.items.length > 0;
  }

  async close(): Promise<void> {
    await this.next?.catch(() => undefined);
    await this.reader.close();
  }
}

/** k-way merge of sorted runs with a binary min-heap of cursors. */
async function* mergeRuns(files: string[]): AsyncGenerator<SortEntry> {
  const cursors: RunCursor[] = [];
  try {
    for (const f of files) cursors.push(await RunCursor.open(f));
    const heap = cursors.filter((c) => c.head);
    const less = (a: RunCursor, b: RunCursor) => compareEntries(a.head!, b.head!) < 0;
    const down = (i: number) => {
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && less(heap[l], heap[m])) m = l;
        if (r < heap.length && less(heap[r], heap[m])) m = r;
        if (m === i) return;
        [heap[i], heap[m]] = [heap[m], heap[i]];
        i = m;
      }
    };
    for (let i = (heap.length >> 1) - 1; i >= 0; i--) down(i);
    while (heap.length) {
      const top = heap[0];
      yield top.head!;
      if (!(await top.advance())) {
        heap[0] = heap[heap.length - 1];
        heap.pop();
      }
      if (heap.length) down(0);
    }
  } finally {
    for (const c of cursors) await c.close();
  }
}
