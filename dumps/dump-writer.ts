// Writes a dump: header member, one gzip member per block of records, trailer member.
// The file is written under a temporary name and renamed only when complete, so an interrupted
// writer never leaves a file that looks like a finished dump.
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import protobuf from 'protobufjs';
import { fromDescriptorSet } from './descriptors.ts';
import { DumpError } from './errors.ts';
import { MAX_RECORD_BYTES, frame, unframe } from './framing.ts';
import { encodeMember, memberCrc32, type MemberKind } from './gzip-member.ts';
import {
  FORMAT_VERSION,
  encodeHeader,
  encodeTrailer,
  type BlockInfo,
  type DumpHeader,
  type DumpTrailer,
} from './header.ts';

export interface DumpWriterOptions {
  /** A block is closed when its records reach this many bytes (uncompressed). */
  blockBytes?: number;
  /** ... or this many records, whichever comes first. */
  blockRecords?: number;
  /** zlib level, 1 (fast) to 9 (small). */
  level?: number;
  /** Trailer `finishedAt`; fixed by writers whose output must be byte-identical across runs. */
  finishedAt?: string;
  /**
   * Blocks compressed at once on the libuv thread pool (default 1: the previous block compresses
   * while the next is encoded). Writers that hand in whole blocks faster than one thread deflates
   * them (transform's event dumps) pass more; the file's bytes are the same.
   */
  compressAhead?: number;
}

export type HeaderInit = Omit<DumpHeader, 'formatVersion' | 'createdAt' | 'properties' | 'columns' | 'primaryKey' | 'origin'> &
  Partial<Pick<DumpHeader, 'createdAt' | 'properties' | 'columns' | 'primaryKey' | 'origin'>>;

export interface DumpSummary {
  file: string;
  records: number;
  blocks: number;
  bytes: number;
  uncompressedBytes: number;
}

export class DumpWriter {
  private readonly recordType: protobuf.Type;
  private writer = protobuf.Writer.create();
  private blockRecordCount = 0;
  private readonly blocks: BlockInfo[] = [];
  private records = 0;
  /** Blocks handed to compression so far: the index of the block being filled. */
  private blocksStarted = 0;
  private offset = 0;
  private uncompressed = 0;
  /** The append of the newest block (each waits for the one before, so blocks land in order). */
  private pending: Promise<void> = Promise.resolve();
  /** Appends of blocks still compressing or being written, oldest first. */
  private readonly inFlight: Array<Promise<void>> = [];
  private closed = false;

  private constructor(
    readonly file: string,
    private readonly tempFile: string,
    private readonly fh: FileHandle,
    readonly header: DumpHeader,
    private readonly options: Required<Omit<DumpWriterOptions, 'finishedAt'>> & Pick<DumpWriterOptions, 'finishedAt'>,
  ) {
    this.recordType = fromDescriptorSet(header.descriptorSet).lookupType(header.recordType);
  }

  static async create(file: string, init: HeaderInit, options: DumpWriterOptions = {}): Promise<DumpWriter> {
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
    const w = new DumpWriter(file, tempFile, fh, header, {
      blockBytes: options.blockBytes ?? 1024 * 1024,
      blockRecords: options.blockRecords ?? 50_000,
      level: options.level ?? 3,
      finishedAt: options.finishedAt,
      compressAhead: Math.max(1, options.compressAhead ?? 1),
    });
    try {
      await w.writeMember('H', frame(encodeHeader(header)));
    } catch (err) {
      await w.abort();
      throw err;
    }
    return w;
  }

  /** The protobuf type of each record, for callers that build messages themselves. */
  get type(): protobuf.Type {
    return this.recordType;
  }

  /** Adds one record: a plain object or message that the record type can encode. */
  async write(record: object): Promise<void> {
    const before = this.writer.len;
    this.recordType.encodeDelimited(record as protobuf.Message, this.writer);
    // Readers refuse such records (a damaged length prefix must not allocate gigabytes), so refuse
    // to write one rather than produce a dump that looks complete and cannot be read.
    if (this.writer.len - before > MAX_RECORD_BYTES) throw this.tooLong(this.writer.len - before, this.blocksStarted, this.blockRecordCount);
    this.blockRecordCount++;
    if (this.blockRecordCount >= this.options.blockRecords || this.writer.len >= this.options.blockBytes) {
      await this.flushBlock();
    }
  }

  /**
   * Adds one whole block of records that are already encoded and length-prefixed (e.g. by worker
   * threads, so the writing thread does not encode them again). Records written before are flushed
   * as their own block first.
   */
  async writeFramedBlock(framed: Uint8Array, records: number, release?: () => void): Promise<void> {
    if (framed.length > MAX_RECORD_BYTES) {
      let index = 0;
      for (const record of unframe(framed, Number.MAX_SAFE_INTEGER)) {
        if (record.length > MAX_RECORD_BYTES) throw this.tooLong(record.length, this.blocksStarted + (this.blockRecordCount > 0 ? 1 : 0), index);
        index++;
      }
    }
    await this.flushBlock();
    if (records > 0) await this.emitBlock(framed, records, release);
    else release?.();
  }

  /** Ends the current block early (e.g. at a chunk boundary, so blocks map to resumable units). */
  async flushBlock(): Promise<void> {
    if (this.blockRecordCount === 0) return;
    const payload = this.writer.finish();
    const records = this.blockRecordCount;
    this.writer = protobuf.Writer.create();
    this.blockRecordCount = 0;
    await this.emitBlock(payload, records);
  }

  /** `release` is called once `payload` has been compressed (its bytes are not read after). */
  private async emitBlock(payload: Uint8Array, records: number, release?: () => void): Promise<void> {
    const firstRecord = this.records;
    this.blocksStarted++;
    this.records += records;
    this.uncompressed += payload.length;
    const member = encodeMember('B', payload, this.options.level);
    if (release) void member.then(release, () => undefined);
    member.catch(() => undefined); // reported by the append below
    const previous = this.pending;
    this.pending = (async () => {
      await previous;
      const bytes = await member;
      this.blocks.push({
        offset: this.offset,
        compressedBytes: bytes.length,
        uncompressedBytes: payload.length,
        records,
        // The gzip trailer's CRC-32 is that of the block's content, which is what the index records.
        crc32: memberCrc32(bytes),
        firstRecord,
      });
      await this.append(bytes);
    })();
    // Surface an error at the next block or in close(), where the promise is awaited.
    this.pending.catch(() => undefined);
    this.inFlight.push(this.pending);
    // Bound the blocks held in memory: wait for the oldest beyond compressAhead.
    while (this.inFlight.length > this.options.compressAhead) await this.inFlight.shift();
  }

  /** Finishes the file: last block, trailer, fsync, rename. Returns what was written. */
  async close(): Promise<DumpSummary> {
    if (this.closed) throw new Error(`${this.file}: dump writer already closed`);
    try {
      await this.flushBlock();
      await this.pending;
      const trailer: DumpTrailer = { records: this.records, blocks: this.blocks, finishedAt: this.options.finishedAt ?? new Date().toISOString() };
      await this.writeMember('T', frame(encodeTrailer(trailer)));
      await this.fh.sync();
      await this.fh.close();
      this.closed = true;
      await rename(this.tempFile, this.file);
    } catch (err) {
      await this.abort();
      throw err;
    }
    return {
      file: this.file,
      records: this.records,
      blocks: this.blocks.length,
      bytes: this.offset,
      uncompressedBytes: this.uncompressed,
    };
  }

  private tooLong(bytes: number, block: number, record: number): DumpError {
    return new DumpError(
      `a record encodes to ${bytes} bytes, more than the ${MAX_RECORD_BYTES} a dump record may hold; exclude or cast the column that holds such values`,
      { file: this.file, block, record },
    );
  }

  /** Drops the partial file. Safe to call more than once. */
  async abort(): Promise<void> {
    await this.pending.catch(() => undefined);
    if (!this.closed) {
      this.closed = true;
      await this.fh.close().catch(() => undefined);
    }
    await rm(this.tempFile, { force: true });
  }

  private async writeMember(kind: MemberKind, payload: Uint8Array): Promise<void> {
    await this.append(await encodeMember(kind, payload, this.options.level));
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

/** Writes every record of `records` to `file`; on any error the partial file is removed. */
export async function writeDump(
  file: string,
  header: HeaderInit,
  records: AsyncIterable<object> | Iterable<object>,
  options?: DumpWriterOptions,
): Promise<DumpSummary> {
  const writer = await DumpWriter.create(file, header, options);
  try {
    for await (const record of records) await writer.write(record);
  } catch (err) {
    await writer.abort();
    throw err;
  }
  return writer.close();
}
