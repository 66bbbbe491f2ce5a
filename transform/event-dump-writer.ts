// Writes event dumps from whole blocks of framed envelopes, compressing several blocks at once.
//
// The file is byte for byte what dumps/DumpWriter writes for the same header and writeFramedBlock
// calls (a test checks this): the same header member, one gzip member per block, the same trailer,
// written under a temporary name and renamed when complete. What differs is that DumpWriter
// compresses one block at a time (the next waits for the previous), which made compression a
// serial stage that ran alone after the sort (--order occurred_at: ~4 s of a 9 s run on 1M events),
// while here up to `concurrency` blocks deflate on the libuv thread pool and are appended in order.
// Only the dump format's own building blocks (dumps/header.ts, gzip-member.ts, framing.ts) are used.
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { DumpSummary, HeaderInit } from '../dumps/index.ts';
import { frame } from '../dumps/framing.ts';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { MEMBER_HEADER_BYTES, encodeMember, memberCrc32 } from '../dumps/gzip-member.ts';
import { FORMAT_VERSION, encodeHeader, encodeTrailer, type BlockInfo, type DumpHeader } from '../dumps/header.ts';

export interface EventDumpWriterOptions {
  /** zlib level, 1 (fast) to 9 (small). */
  level: number;
  /** Trailer `finishedAt` (fixed, so re-runs are byte-identical). */
  finishedAt: string;
  /** Blocks compressed at once. */
  concurrency: number;
}

interface Pending {
  member: Promise<Buffer>;
  records: number;
  firstRecord: number;
  uncompressedBytes: number;
}

export class EventDumpWriter {
  private readonly blocks: BlockInfo[] = [];
  private readonly pending: Pending[] = [];
  private records = 0;
  private offset = 0;
  private uncompressed = 0;
  private closed = false;

  private constructor(
    readonly file: string,
    private readonly tempFile: string,
    private readonly fh: FileHandle,
    private readonly options: EventDumpWriterOptions,
  ) {}

  static async create(file: string, init: HeaderInit, options: EventDumpWriterOptions): Promise<EventDumpWriter> {
    const header: DumpHeader = {
      formatVersion: FORMAT_VERSION,
      createdAt: new Date().toISOString(),
      properties: {},
      columns: [],
      primaryKey: [],
      origin: {},
      ...init,
    };
    const tempFile = path.join(path.dirname(file), `.${path.basename(file)}.partial-${process.pid}`);
    const fh = await open(tempFile, 'w');
    const w = new EventDumpWriter(file, tempFile, fh, options);
    try {
      await w.append(await encodeMember('H', frame(encodeHeader(header)), options.level));
    } catch (err) {
      await w.abort();
      throw err;
    }
    return w;
  }

  /** Adds one block of length-delimited envelopes (`records` of them); the buffer must not change afterwards. */
  async writeFramedBlock(framed: Uint8Array, records: number): Promise<void> {
    if (records === 0) return;
    const member = encodeBlockMember(framed, this.options.level);
    member.catch(() => undefined); // awaited in order below
    this.pending.push({ member, records, firstRecord: this.records, uncompressedBytes: framed.length });
    this.records += records;
    this.uncompressed += framed.length;
    while (this.pending.length >= this.options.concurrency) await this.appendNext();
  }

  private async appendNext(): Promise<void> {
    const p = this.pending[0];
    const bytes = await p.member;
    this.pending.shift();
    this.blocks.push({
      offset: this.offset,
      compressedBytes: bytes.length,
      uncompressedBytes: p.uncompressedBytes,
      records: p.records,
      // The gzip trailer's CRC-32 is that of the block's content, which is what the index records.
      crc32: memberCrc32(bytes),
      firstRecord: p.firstRecord,
    });
    await this.append(bytes);
  }

  /** Finishes the file: remaining blocks, trailer, fsync, rename. */
  async close(): Promise<DumpSummary> {
    if (this.closed) throw new Error(`${this.file}: dump writer already closed`);
    try {
      while (this.pending.length) await this.appendNext();
      const trailer = { records: this.records, blocks: this.blocks, finishedAt: this.options.finishedAt };
      await this.append(await encodeMember('T', frame(encodeTrailer(trailer)), this.options.level));
      await this.fh.sync();
      await this.fh.close();
      this.closed = true;
      await rename(this.tempFile, this.file);
    } catch (err) {
      await this.abort();
      throw err;
    }
    return { file: this.file, records: this.records, blocks: this.blocks.length, bytes: this.offset, uncompressedBytes: this.uncompressed };
  }

  /** Drops the partial file. Safe to call more than once. */
  async abort(): Promise<void> {
    for (const p of this.pending.splice(0)) await p.member.catch(() => undefined);
    if (!this.closed) {
      this.closed = true;
      await this.fh.close().catch(() => undefined);
    }
    await rm(this.tempFile, { force: true });
  }

  private async append(bytes: Uint8Array): Promise<void> {
    let written = 0;
    while (written < bytes.length) {
      const { bytesWritten } = await this.fh.write(bytes, written, bytes.length - written);
      written += bytesWritten;
    }
    this.offset += bytes.length;
  }
}

const deflateRaw = promisify(zlib.deflateRaw) as (buf: Uint8Array, options: zlib.ZlibOptions) => Promise<Buffer>;

/**
 * A block member exactly as dumps/gzip-member.ts encodeMember('B', ...) makes it (the test compares
 * files), but deflated with an output chunk as large as the block: zlib's default 16 KiB chunks
 * cost a JavaScript callback and a copy each, about a second of the main thread per million events.
 */
async function encodeBlockMember(payload: Uint8Array, level: number): Promise<Buffer> {
  const deflated = await deflateRaw(payload, { level, chunkSize: Math.min(8 * 1024 * 1024, Math.max(64 * 1024, payload.length + 1024)) });
  const size = MEMBER_HEADER_BYTES + deflated.length + 8;
  const out = Buffer.allocUnsafe(size);
  out.set([0x1f, 0x8b, 8, 0x04, 0, 0, 0, 0, 0, 255], 0); // gzip magic, deflate, FEXTRA, no mtime, unknown OS
  out.writeUInt16LE(9, 10); // XLEN
  out.write('FY', 12, 'latin1');
  out.writeUInt16LE(5, 14);
  out.writeUInt32LE(size, 16);
  out.write('B', 20, 'latin1');
  deflated.copy(out, MEMBER_HEADER_BYTES);
  out.writeUInt32LE(zlib.crc32(payload), size - 8);
  out.writeUInt32LE(payload.length % 2 ** 32, size - 4);
  return out;
}
