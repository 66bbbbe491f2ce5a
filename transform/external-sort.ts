// --order occurred_at: an external merge sort with a memory budget. The encoded envelopes of block
// results are kept as they came (no object per event) until half the budget is used; then their
// order is sorted (an index over typed arrays of the keys) and they are spilled to disk as a run;
// at the end the runs are merged with a binary heap (several passes if there are many runs) into
// output blocks, ready for DumpWriter.writeFramedBlock.
//
// Order: occurred_at, then input file, block, row in block, index in row — a total order, so the
// output does not depend on worker count, budget or arrival order. Results arrive in (file, block)
// order and a block's events in (row, index) order, so the tie-break is the arrival sequence: the
// position in the buffer within a run, the run's number across runs.
//
// A run is a private temporary file (not a dump: nothing but this sorter reads it) holding a
// sequence of entries
//   seconds (float64 LE) | nanos (uint32 LE) | length (uint32 LE) | the length-delimited envelope
// cut into frames of RUN_FRAME_BYTES, each compressed on its own (brotli, quality 0, on the main
// thread a frame at a time, other work let in between) and written as
//   compressed length (uint32 LE) | raw length (uint32 LE) | compressed bytes.
// Uncompressed, the runs of fi took 2.4x the disk of the event dumps they became (1.29 GB for
// 531 MB), which at the large country's 500 M events is ~400 GB of temporary disk; compressed they
// take about as much as the event dumps. Frames are small so a merge of many runs keeps little of
// each in memory; an entry may span frames (the reader carries a cut entry over, as it did across
// chunks).
import { mkdtemp, open, rm, type FileHandle } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { frameEnd } from '../dumps/framing.ts';
import { UserError } from '../lib/errors.ts';
import { fsReason, makeOutputDir } from '../lib/output-dir.ts';
import { removeDebris } from '../lib/run-lock.ts';
import type { BlockResult } from './runtime.ts';

/** Lets queued callbacks (the workers' results, finished reads) run between two frames of zlib work. */
const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Spill folders: ferry-sort-<pid>-<random>. */
const SPILL_DIR = /^ferry-sort-(\d+)-\w+$/;

export interface SortStats {
  runs: number;
  spilledEvents: number;
  /** Bytes of the runs on disk (compressed), intermediate merge passes included. */
  spilledBytes: number;
  /** The same runs' bytes before compression. */
  spilledRawBytes: number;
  mergePasses: number;
  peakBufferedBytes: number;
}

/** Output blocks of the sorted stream: length-delimited envelopes. */
export interface SortedBlock {
  framed: Uint8Array;
  count: number;
  /** Gives the block's buffer back for a later block; call it once `framed` is no longer read. */
  release(): void;
}

const ENTRY_HEADER = 16;
/**
 * Raw bytes per compressed frame of a run: the merge reads at least this much of each run at a time,
 * so a merge of 400 runs (fi10) holds ~60 MB of buffers (two chunks and a frame per run).
 */
export const RUN_FRAME_BYTES = 32 * 1024;
const FRAME_HEADER = 8;
/**
 * Brotli at quality 0 with a 64 KiB window: runs are private and live for minutes, so they need not
 * be gzip. On the example's events it compresses 32 KiB frames at ~345 MB/s to 0.43 of their size,
 * where deflate level 1 (8 KiB window) did ~117 MB/s to 0.40, and the spill's deflate was the main
 * thread's largest cost (13 of 22 s of fi's transform phase); it decompresses at ~385 MB/s
 * (inflate: ~460).
 */
const RUN_BROTLI_PARAMS = {
  [zlib.constants.BROTLI_PARAM_QUALITY]: 0,
  [zlib.constants.BROTLI_PARAM_LGWIN]: 16,
  [zlib.constants.BROTLI_PARAM_SIZE_HINT]: RUN_FRAME_BYTES,
};
/** Bytes an event costs in memory besides its envelope: its keys (16) and offset (4), then 40 while a run is sorted. */
const EVENT_OVERHEAD = 60;
const WRITE_CHUNK = 4 * 1024 * 1024;
/** Room before each chunk read from a run for the tail of the previous chunk (an entry cut in two). */
const READ_HEADROOM = 16 * 1024;

/** Events of one block result, as they arrived. */
interface Chunk {
  framed: Buffer;
  /** Start of each event's frame in `framed` (count + 1 entries: the last is the end). */
  starts: Uint32Array;
  count: number;
}

export class ExternalSorter {
  private chunks: Chunk[] = [];
  /** Per chunk, the result's sort fields: seconds and nanos per event. */
  private keys: Float64Array[] = [];
  private bufferedEvents = 0;
  private bufferedBytes = 0;
  private runs: string[] = [];
  private runCounter = 0;
  private dir?: string;
  private last: { ordinal: number; block: number } | undefined;
  readonly stats: SortStats = { runs: 0, spilledEvents: 0, spilledBytes: 0, spilledRawBytes: 0, mergePasses: 0, peakBufferedBytes: 0 };
  private readonly fanIn: number;

  constructor(private readonly options: { budgetBytes: number; tmpDir?: string; fanIn?: number; blockRecords?: number; blockBytes?: number }) {
    // Runs merged at once. Every extra pass reads, decompresses, compresses and writes all the spilled
    // data again, and holds a merged group on disk beside its inputs (fi10 spills ~400 runs: with
    // 64 at once, one more pass and ~1.2x the disk). 512 cursors fit in the file limit of 1024 most
    // systems give a process.
    this.fanIn = Math.max(2, options.fanIn ?? 512);
  }

  /** Adds the events of one block result (from input file `ordinal`); spills when the budget is used. */
  async add(result: BlockResult, ordinal: number): Promise<void> {
    const l = this.last;
    if (l && (ordinal < l.ordinal || (ordinal === l.ordinal && result.block <= l.block))) {
      throw new Error(`sorter: block ${ordinal}/${result.block} came after ${l.ordinal}/${l.block}; results must arrive in input order`);
    }
    this.last = { ordinal, block: result.block };
    if (result.events === 0) return;
    const fields = result.sortFields!;
    // A Buffer view (no copy), for Buffer.copy without a subarray per event.
    const framed = Buffer.from(result.framed.buffer, result.framed.byteOffset, result.framed.length);
    const starts = new Uint32Array(result.events + 1);
    let offset = 0;
    for (let k = 0; k < result.events; k++) {
      starts[k] = offset;
      offset = frameEnd(framed, offset);
    }
    starts[result.events] = offset;
    if (offset !== framed.length || fields.length !== result.events * 2) throw new Error(`sorter: block ${ordinal}/${result.block} holds ${result.events} events that do not fill its ${framed.length} bytes`);
    this.chunks.push({ framed, starts, count: result.events });
    this.keys.push(fields);
    this.bufferedEvents += result.events;
    this.bufferedBytes += framed.length + result.events * EVENT_OVERHEAD;
    this.stats.peakBufferedBytes = Math.max(this.stats.peakBufferedBytes, this.bufferedBytes);
    if (this.bufferedBytes >= this.options.budgetBytes / 2) await this.spill();
  }

  /** The buffered events in order: chunk and event of each, as parallel arrays. */
  private sortBuffered(): SortedBuffer {
    const n = this.bufferedEvents;
    const seconds = new Float64Array(n);
    const nanos = new Uint32Array(n);
    const chunkOf = new Uint32Array(n);
    const eventOf = new Uint32Array(n);
    let k = 0;
    for (let c = 0; c < this.chunks.length; c++) {
      const f = this.keys[c];
      for (let e = 0; e < this.chunks[c].count; e++, k++) {
        seconds[k] = f[e * 2];
        nanos[k] = f[e * 2 + 1];
        chunkOf[k] = c;
        eventOf[k] = e;
      }
    }
    // Arrival position breaks ties (see the top of the file): the radix sort is stable.
    const order = sortByTime(seconds, nanos);
    const c2 = new Uint32Array(n);
    const e2 = new Uint32Array(n);
    const s2 = new Float64Array(n);
    const n2 = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      const j = order[i];
      c2[i] = chunkOf[j];
      e2[i] = eventOf[j];
      s2[i] = seconds[j];
      n2[i] = nanos[j];
    }
    return { chunks: this.chunks, chunkOf: c2, eventOf: e2, seconds: s2, nanos: n2 };
  }

  private clearBuffer(): void {
    this.chunks = [];
    this.keys = [];
    this.bufferedEvents = 0;
    this.bufferedBytes = 0;
  }

  private async spill(): Promise<void> {
    if (this.bufferedEvents === 0) return;
    const sorted = this.sortBuffered();
    const chunks = sorted.chunks;
    const n = this.bufferedEvents;
    this.clearBuffer();
    const out = await this.createRun();
    try {
      for (let i = 0; i < n; i++) {
        const c = chunks[sorted.chunkOf[i]];
        const e = sorted.eventOf[i];
        const start = c.starts[e];
        const flushed = out.add(sorted.seconds[i], sorted.nanos[i], c.framed, start, c.starts[e + 1]);
        if (flushed) await flushed;
      }
      await out.close();
    } catch (err) {
      await out.abort();
      throw err;
    }
    this.runs.push(out.file);
    this.stats.runs++;
    this.stats.spilledEvents += n;
    this.stats.spilledBytes += out.bytes;
    this.stats.spilledRawBytes += out.rawBytes;
  }

  private async createRun(): Promise<RunWriter> {
    if (!this.dir) {
      const parent = this.options.tmpDir ?? os.tmpdir();
      if (this.options.tmpDir) await makeOutputDir(parent, '--tmp-dir');
      // The pid in the name lets a later run remove the spill folders of a run killed with -9.
      await removeDebris(parent, SPILL_DIR);
      try {
        this.dir = await mkdtemp(path.join(parent, `ferry-sort-${process.pid}-`));
      } catch (err) {
        throw new UserError(`cannot make a folder for sorted runs in ${parent} (${fsReason(err)}): pass --tmp-dir DIR (a writable folder with room), or a larger --memory-mb`, { cause: err });
      }
    }
    const file = path.join(this.dir, `run-${String(this.runCounter++).padStart(6, '0')}.bin`);
    return RunWriter.create(file);
  }

  /** Every event added, in order, as output blocks. Call once, after the last add. */
  async *sortedBlocks(): AsyncGenerator<SortedBlock> {
    const blocks = new BlockBuilder(this.options.blockRecords ?? 50_000, this.options.blockBytes ?? 1024 * 1024);
    // Merge in passes of at most fanIn runs so open files and merge buffers stay bounded. The
    // events still in memory are not spilled: they join the final pass as its last run.
    const buffered = this.bufferedEvents > 0 ? 1 : 0;
    while (this.runs.length + buffered > this.fanIn) {
      this.stats.mergePasses++;
      const next: string[] = [];
      for (let i = 0; i < this.runs.length; i += this.fanIn) {
        const group = this.runs.slice(i, i + this.fanIn);
        if (group.length === 1) {
          next.push(group[0]);
          continue;
        }
        const out = await this.createRun();
        try {
          await mergeRuns(group, [], this.readChunkBytes(group.length), (s, n, buf, start, end) => out.add(s, n, buf, start, end));
          await out.close();
        } catch (err) {
          await out.abort();
          throw err;
        }
        this.stats.spilledBytes += out.bytes;
        this.stats.spilledRawBytes += out.rawBytes;
        next.push(out.file);
        for (const f of group) await rm(f, { force: true });
      }
      this.runs = next;
    }
    if (this.runs.length > 0) this.stats.mergePasses++;
    const inMemory = buffered ? [new BufferCursor(this.sortBuffered(), this.runs.length)] : [];
    this.clearBuffer();
    const pending: SortedBlock[] = [];
    // The merge pushes; output blocks are handed on between reads of the runs.
    const merge = mergeRuns(this.runs, inMemory, this.readChunkBytes(Math.max(1, this.runs.length)), (_s, _n, buf, start, end) => {
      const full = blocks.add(buf, start, end);
      if (full) pending.push(full);
    }, () => pending.length > 0);
    for (;;) {
      const done = await merge.next();
      while (pending.length) yield pending.shift()!;
      if (done.done) break;
    }
    const rest = blocks.finish();
    if (rest) yield rest;
  }

  private readChunkBytes(runs: number): number {
    // Half the budget for the merge's read buffers (two per run: the current and the next chunk).
    // At least one frame: a chunk holds whole frames.
    return Math.max(RUN_FRAME_BYTES, Math.min(WRITE_CHUNK, Math.floor(this.options.budgetBytes / (4 * runs))));
  }

  async cleanup(): Promise<void> {
    this.clearBuffer();
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }
}

/** The buffered events sorted: per position, the chunk and event it is, and its keys. */
interface SortedBuffer {
  chunks: Chunk[];
  chunkOf: Uint32Array;
  eventOf: Uint32Array;
  seconds: Float64Array;
  nanos: Uint32Array;
}

/**
 * The order of events by (seconds, nanos), ties in input order: a stable LSD radix sort of their
 * positions, 16 bits a pass, skipping the digits all events share (nanos are often all zero, and
 * seconds span far fewer than 2^53). It is about twice as fast as TypedArray#sort with a
 * comparator (23 against 45 ms for 250,000 events), time the workers would wait for a spill.
 */
export function sortByTime(seconds: Float64Array, nanos: Uint32Array): Uint32Array {
  const n = seconds.length;
  let order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  if (n < 2) return order;
  let min = Infinity;
  for (let i = 0; i < n; i++) if (seconds[i] < min) min = seconds[i];
  // seconds - min is an integer below 2^53: its low and high 32-bit words.
  const lo = new Uint32Array(n);
  const hi = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const rel = seconds[i] - min;
    lo[i] = rel % 4294967296;
    hi[i] = Math.floor(rel / 4294967296);
  }
  let spare = new Uint32Array(n);
  const counts = new Uint32Array(65536);
  // Least significant digit first: nanos, then the seconds' low word, then their high word.
  for (const [words, shift] of [[nanos, 0], [nanos, 16], [lo, 0], [lo, 16], [hi, 0], [hi, 16]] as Array<[Uint32Array, number]>) {
    counts.fill(0);
    for (let i = 0; i < n; i++) counts[(words[i] >>> shift) & 0xffff]++;
    if (counts[(words[0] >>> shift) & 0xffff] === n) continue; // one digit for all: nothing to do
    let sum = 0;
    for (let d = 0; d < 65536; d++) {
      const c = counts[d];
      counts[d] = sum;
      sum += c;
    }
    for (let i = 0; i < n; i++) {
      const j = order[i];
      spare[counts[(words[j] >>> shift) & 0xffff]++] = j;
    }
    [order, spare] = [spare, order];
  }
  return order;
}

/** What the merge needs of a run: its current entry, and moving on. */
interface Cursor {
  /** The run's place in arrival order (ties go to the lower). */
  index: number;
  seconds: number;
  nanos: number;
  buf: Buffer;
  envStart: number;
  envEnd: number;
  /** Moves to the next entry if it is at hand; false when a read is needed first (load) or the run is done. */
  step(): boolean;
  /** Reads on until the current entry is at hand; false when the run is exhausted. */
  load(): Promise<boolean>;
}

/** The events still in memory at the end, sorted, as a run the merge reads like the spilled ones. */
class BufferCursor implements Cursor {
  seconds = 0;
  nanos = 0;
  buf: Buffer = Buffer.alloc(0);
  envStart = 0;
  envEnd = 0;
  private i = -1;

  constructor(private readonly sorted: SortedBuffer, readonly index: number) {
    this.step();
  }

  step(): boolean {
    const s = this.sorted;
    if (++this.i >= s.chunkOf.length) return false;
    const c = s.chunks[s.chunkOf[this.i]];
    const e = s.eventOf[this.i];
    this.buf = c.framed;
    this.envStart = c.starts[e];
    this.envEnd = c.starts[e + 1];
    this.seconds = s.seconds[this.i];
    this.nanos = s.nanos[this.i];
    return true;
  }

  async load(): Promise<boolean> {
    return false;
  }
}

/** Collects envelopes into output blocks of at most `maxRecords` records or about `maxBytes` bytes. */
class BlockBuilder {
  private buf: Uint8Array;
  private pos = 0;
  private count = 0;
  private readonly size: number;
  private readonly free: Uint8Array[] = [];

  constructor(private readonly maxRecords: number, private readonly maxBytes: number) {
    this.size = maxBytes + 64 * 1024;
    this.buf = Buffer.allocUnsafeSlow(this.size);
  }

  /** Adds `src[start, end)` (one length-delimited envelope); returns a block when one is full. */
  add(src: Buffer, start: number, end: number): SortedBlock | undefined {
    const len = end - start;
    if (this.pos + len > this.buf.length) {
      const bigger = new Uint8Array(Math.max(this.buf.length * 2, this.pos + len));
      bigger.set(this.buf.subarray(0, this.pos));
      this.buf = bigger;
    }
    copy(src, start, end, this.buf, this.pos);
    this.pos += len;
    if (++this.count >= this.maxRecords || this.pos >= this.maxBytes) return this.take();
    return undefined;
  }

  finish(): SortedBlock | undefined {
    return this.count > 0 ? this.take() : undefined;
  }

  private take(): SortedBlock {
    // The writer compresses the block while the next one fills: each block gets a buffer of its
    // own, which comes back through release() once compressed (blocks of the usual size only).
    const buf = this.buf;
    const release = () => {
      if (buf.length === this.size && this.free.length < 8) this.free.push(buf);
    };
    const block = { framed: buf.subarray(0, this.pos), count: this.count, release };
    this.buf = this.free.pop() ?? Buffer.allocUnsafeSlow(this.size);
    this.pos = 0;
    this.count = 0;
    return block;
  }
}

function copy(src: Buffer, start: number, end: number, dst: Uint8Array, at: number): void {
  if (end - start > 64) src.copy(dst, at, start, end);
  else for (let i = start; i < end; i++) dst[at++] = src[i];
}

/** Writes a run in large chunks of compressed frames. */
class RunWriter {
  /** Bytes on disk. */
  bytes = 0;
  rawBytes = 0;
  private buf = Buffer.allocUnsafe(WRITE_CHUNK);
  private pos = 0;

  private constructor(readonly file: string, private readonly fh: FileHandle) {}

  static async create(file: string): Promise<RunWriter> {
    return new RunWriter(file, await open(file, 'w'));
  }

  add(seconds: number, nanos: number, src: Buffer, start: number, end: number): Promise<void> | void {
    const len = end - start;
    if (this.pos + ENTRY_HEADER + len > this.buf.length) {
      const flushed = this.flush();
      if (ENTRY_HEADER + len > this.buf.length) this.buf = Buffer.allocUnsafe(ENTRY_HEADER + len);
      return flushed.then(() => this.put(seconds, nanos, src, start, end));
    }
    this.put(seconds, nanos, src, start, end);
  }

  private put(seconds: number, nanos: number, src: Buffer, start: number, end: number): void {
    const b = this.buf;
    b.writeDoubleLE(seconds, this.pos);
    b.writeUInt32LE(nanos, this.pos + 8);
    b.writeUInt32LE(end - start, this.pos + 12);
    copy(src, start, end, b, this.pos + ENTRY_HEADER);
    this.pos += ENTRY_HEADER + end - start;
  }

  /**
   * Compresses the chunk's frames one at a time on this thread, letting other work (the workers'
   * results) in between, then writes them in one call. zlib's async calls cost a thread pool round
   * trip each: ~110 µs more CPU than the call itself per 32 KiB frame here (~4 s of fi's spill).
   */
  private async flush(): Promise<void> {
    if (this.pos === 0) return;
    const out: Buffer[] = [];
    for (let at = 0; at < this.pos; at += RUN_FRAME_BYTES) {
      if (at > 0) await yieldToEventLoop();
      const raw = this.buf.subarray(at, Math.min(this.pos, at + RUN_FRAME_BYTES));
      const compressed = zlib.brotliCompressSync(raw, { params: RUN_BROTLI_PARAMS, chunkSize: RUN_FRAME_BYTES + 1024 });
      const header = Buffer.allocUnsafe(FRAME_HEADER);
      header.writeUInt32LE(compressed.length, 0);
      header.writeUInt32LE(raw.length, 4);
      out.push(header, compressed);
    }
    let left = out.reduce((n, f) => n + f.length, 0);
    this.bytes += left;
    this.rawBytes += this.pos;
    for (let buffers = out; left > 0;) {
      const { bytesWritten } = await this.fh.writev(buffers);
      left -= bytesWritten;
      if (left > 0) buffers = [Buffer.concat(buffers).subarray(bytesWritten)];
    }
    this.pos = 0;
  }

  async close(): Promise<void> {
    await this.flush();
    await this.fh.close();
  }

  async abort(): Promise<void> {
    await this.fh.close().catch(() => undefined);
    await rm(this.file, { force: true });
  }
}

/** Reads a run chunk by chunk, the next chunk being read meanwhile. */
class RunCursor implements Cursor {
  buf: Buffer = Buffer.alloc(0);
  /** Start of the current entry in buf. */
  pos = 0;
  seconds = 0;
  nanos = 0;
  /** The current entry's envelope: buf[envStart, envEnd). */
  envStart = 0;
  envEnd = 0;
  private fileOffset = 0;
  private next?: Promise<{ full: Buffer; end: number }>;
  /** The read buffer `buf` lies in, and one no longer in use. */
  private base?: Buffer;
  private spare?: Buffer;
  private eof = false;
  /** The header of the frame at fileOffset, once read. */
  private header?: { compressed: number; raw: number };
  /** The compressed frame being read (and the next frame's header). */
  private compressed = Buffer.allocUnsafeSlow(RUN_FRAME_BYTES + 1024);

  private constructor(readonly index: number, private readonly file: string, private readonly fh: FileHandle, private readonly size: number, private readonly chunkBytes: number) {}

  static async open(file: string, index: number, chunkBytes: number): Promise<RunCursor | undefined> {
    const fh = await open(file, 'r');
    const c = new RunCursor(index, file, fh, (await fh.stat()).size, chunkBytes);
    if (!(await c.load())) {
      await c.close();
      return undefined;
    }
    return c;
  }

  /**
   * Inflates the next frames (at most chunkBytes of raw bytes) after READ_HEADROOM bytes left for
   * the previous chunk's tail, into the spare buffer if there is one: each cursor cycles two
   * buffers, so the merge allocates little per chunk (each allocation counted toward a full
   * garbage collection of the main thread). Each frame is read with the next frame's header, one
   * read call per frame (on the thread pool, while the merge goes on), decompressed as it arrives.
   */
  private read(): Promise<{ full: Buffer; end: number }> {
    const buf = this.spare ?? Buffer.allocUnsafeSlow(READ_HEADROOM + this.chunkBytes);
    this.spare = undefined;
    const p = (async () => {
      let end = READ_HEADROOM;
      while (this.fileOffset < this.size) {
        this.header ??= await this.readHeader();
        const { compressed, raw } = this.header;
        if (end > READ_HEADROOM && end + raw > READ_HEADROOM + this.chunkBytes) break;
        const at = this.fileOffset + FRAME_HEADER;
        const withNext = at + compressed + FRAME_HEADER <= this.size;
        const length = compressed + (withNext ? FRAME_HEADER : 0);
        if (this.compressed.length < length) this.compressed = Buffer.allocUnsafeSlow(length);
        await this.readAt(this.compressed, length, at);
        // On this thread: zlib's async calls cost a thread pool round trip each (an async inflate of
        // a 32 KiB frame took ~340 µs of CPU, the call itself ~90 µs).
        let frame: Buffer;
        try {
          frame = zlib.brotliDecompressSync(this.compressed.subarray(0, compressed), { chunkSize: Math.max(raw, 1024) });
        } catch (err) {
          throw new Error(`sort run ${this.file} is damaged at byte ${this.fileOffset}: ${(err as Error).message}`);
        }
        if (frame.length !== raw) throw new Error(`sort run ${this.file} is damaged at byte ${this.fileOffset}: a frame of ${raw} bytes decompressed to ${frame.length}`);
        frame.copy(buf, end);
        end += raw;
        this.fileOffset = at + compressed;
        this.header = withNext ? { compressed: this.compressed.readUInt32LE(compressed), raw: this.compressed.readUInt32LE(compressed + 4) } : undefined;
      }
      return { full: buf, end };
    })();
    p.catch(() => undefined);
    return p;
  }

  private async readHeader(): Promise<{ compressed: number; raw: number }> {
    const b = Buffer.allocUnsafe(FRAME_HEADER);
    await this.readAt(b, FRAME_HEADER, this.fileOffset);
    return { compressed: b.readUInt32LE(0), raw: b.readUInt32LE(4) };
  }

  private async readAt(buf: Buffer, length: number, at: number): Promise<void> {
    for (let got = 0; got < length;) {
      const { bytesRead } = await this.fh.read(buf, got, length - got, at + got);
      if (bytesRead === 0) throw new Error(`sort run ${this.file} ended early at byte ${at + got}`);
      got += bytesRead;
    }
  }

  /** Moves to the next entry if the buffer holds it whole; false when a read is needed first (load). */
  step(): boolean {
    this.pos = this.envEnd;
    return this.parse();
  }

  private parse(): boolean {
    const avail = this.buf.length - this.pos;
    if (avail < ENTRY_HEADER) return false;
    const len = this.buf.readUInt32LE(this.pos + 12);
    if (avail < ENTRY_HEADER + len) return false;
    this.seconds = this.buf.readDoubleLE(this.pos);
    this.nanos = this.buf.readUInt32LE(this.pos + 8);
    this.envStart = this.pos + ENTRY_HEADER;
    this.envEnd = this.envStart + len;
    return true;
  }

  /** Reads on until the current entry is whole in the buffer; false when the run is exhausted. */
  async load(): Promise<boolean> {
    while (!this.parse()) {
      if (this.fileOffset >= this.size && !this.next) {
        if (this.pos < this.buf.length) throw new Error('sort run ends inside an entry');
        this.eof = true;
        return false;
      }
      const chunk = await (this.next ?? this.read());
      // The entry cut at the chunk's end moves in front of the next chunk: a copy of the tail
      // only, unless the entry is larger than the headroom.
      const rest = this.buf.subarray(this.pos);
      const previous = this.base;
      if (rest.length <= READ_HEADROOM) {
        rest.copy(chunk.full, READ_HEADROOM - rest.length);
        this.buf = chunk.full.subarray(READ_HEADROOM - rest.length, chunk.end);
        this.base = chunk.full;
      } else {
        this.buf = Buffer.concat([rest, chunk.full.subarray(READ_HEADROOM, chunk.end)]);
        this.base = undefined;
        this.spare = chunk.full;
      }
      // Every entry of the previous chunk has been handed on (and copied by the sink): its buffer is free.
      if (previous) this.spare = previous;
      this.next = this.fileOffset < this.size ? this.read() : undefined;
      this.pos = 0;
      this.envEnd = 0;
    }
    return true;
  }

  get exhausted(): boolean {
    return this.eof;
  }

  async close(): Promise<void> {
    await this.next?.catch(() => undefined);
    await this.fh.close();
  }
}

type EntrySink = (seconds: number, nanos: number, buf: Buffer, start: number, end: number) => Promise<void> | void;

/**
 * k-way merge of sorted runs with a binary min-heap of cursors; ties go to the earlier run.
 * Returns an iterator that runs the merge, pausing (yielding) whenever `pause` says so.
 */
function mergeRuns(files: string[], inMemory: BufferCursor[], chunkBytes: number, sink: EntrySink): Promise<void>;
function mergeRuns(files: string[], inMemory: BufferCursor[], chunkBytes: number, sink: EntrySink, pause: () => boolean): AsyncGenerator<void>;
function mergeRuns(files: string[], inMemory: BufferCursor[], chunkBytes: number, sink: EntrySink, pause?: () => boolean): Promise<void> | AsyncGenerator<void> {
  const gen = mergeGenerator(files, inMemory, chunkBytes, sink, pause ?? (() => false));
  if (pause) return gen;
  return (async () => {
    for await (const _ of gen) {
      // never pauses
    }
  })();
}

async function* mergeGenerator(files: string[], inMemory: BufferCursor[], chunkBytes: number, sink: EntrySink, pause: () => boolean): AsyncGenerator<void> {
  const cursors: RunCursor[] = [];
  try {
    for (let i = 0; i < files.length; i++) {
      const c = await RunCursor.open(files[i], i, chunkBytes);
      if (c) cursors.push(c);
    }
    const heap: Cursor[] = [...cursors, ...inMemory];
    const less = (a: Cursor, b: Cursor) => a.seconds < b.seconds || (a.seconds === b.seconds && (a.nanos < b.nanos || (a.nanos === b.nanos && a.index < b.index)));
    const down = (i: number) => {
      const n = heap.length;
      const x = heap[i];
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const m = r < n && less(heap[r], heap[l]) ? r : l;
        if (!less(heap[m], x)) break;
        heap[i] = heap[m];
        i = m;
      }
      heap[i] = x;
    };
    for (let i = (heap.length >> 1) - 1; i >= 0; i--) down(i);
    while (heap.length) {
      const top = heap[0];
      const written = sink(top.seconds, top.nanos, top.buf, top.envStart, top.envEnd);
      if (written) await written;
      if (!top.step() && !(await top.load())) {
        heap[0] = heap[heap.length - 1];
        heap.pop();
      }
      if (heap.length) down(0);
      if (pause()) yield;
    }
  } finally {
    for (const c of cursors) await c.close();
  }
}
