// The seeders' input: every event dump in a folder, read as batches that know their position, so a
// sink can record "applied up to record N of file F" and a resumed run skips exactly that much.
import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import type protobuf from 'protobufjs';
import { DumpError, DumpReader, ENVELOPE_TYPE, listDumps, readEnvelope, type EventRecord } from '../dumps/index.ts';
import { UserError } from '../lib/errors.ts';

export interface EventBatch {
  /** Dump file path relative to the input folder (stable across machines). */
  file: string;
  /** Index in the file of the first event of the batch, and one past the last. */
  fromRecord: number;
  toRecord: number;
  events: EventRecord[];
  /** Encoded payload bytes in the batch. */
  bytes: number;
  /** The file's schema, to decode payloads (`decodePayload(batch.root, event)`). */
  root: protobuf.Root;
}

export interface EventBatchOptions {
  /** Events per batch; a batch never spans two files. */
  batchSize: number;
  /** Per file: index of the first event not yet applied (from a checkpoint). */
  resumeFrom?: ReadonlyMap<string, number>;
  /** Shard filter (`--shard i/n`): which blocks this process handles. */
  includeBlock?: (file: string, block: number) => boolean;
}

export interface EventDumpInfo {
  file: string;
  path: string;
  records: number;
}

/** Event dumps under `dir`, in file-name order, with their event counts. */
export async function listEventDumps(dir: string): Promise<EventDumpInfo[]> {
  let files: string[];
  try {
    files = await listDumps(dir);
  } catch (err) {
    throw new UserError(`cannot read event dumps from ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  const infos: EventDumpInfo[] = [];
  for (const file of files) {
    const reader = await DumpReader.open(file);
    try {
      if (reader.header.kind !== 'EVENTS') continue;
      if (reader.header.recordType !== ENVELOPE_TYPE) throw new UserError(`${file}: event dump with record type ${reader.header.recordType}, expected ${ENVELOPE_TYPE}`);
      infos.push({ file: path.relative(dir, file), path: file, records: reader.trailer.records });
    } finally {
      await reader.close();
    }
  }
  if (infos.length === 0) throw new UserError(`no event dumps in ${dir}: run "ferry transform" first, or pass --in DIR`);
  return infos;
}

/** Batches of events from every event dump under `dir`, pulled one at a time (backpressure). */
export async function* eventBatches(dir: string, options: EventBatchOptions): AsyncGenerator<EventBatch> {
  for (const info of await listEventDumps(dir)) {
    const start = options.resumeFrom?.get(info.file) ?? 0;
    if (start >= info.records) continue;
    const reader = await DumpReader.open(info.path);
    try {
      let batch: EventRecord[] = [];
      let bytes = 0;
      let from = -1;
      let next = -1;
      const flush = (): EventBatch => {
        const out = { file: info.file, fromRecord: from, toRecord: next, events: batch, bytes, root: reader.root };
        batch = [];
        bytes = 0;
        from = -1;
        return out;
      };
      for (let b = 0; b < reader.blocks.length; b++) {
        const block = reader.blocks[b];
        if (block.firstRecord + block.records <= start) continue;
        if (options.includeBlock && !options.includeBlock(info.file, b)) continue;
        let index = block.firstRecord;
        for (const message of reader.decodeBlock(b, await reader.readBlock(b))) {
          if (index >= start) {
            // A batch holds consecutive records only, so "up to toRecord" is a true position.
            if (from >= 0 && index !== next) yield flush();
            if (from < 0) from = index;
            const event = readEnvelope(message);
            batch.push(event);
            bytes += event.payload.length;
            next = index + 1;
            if (batch.length >= options.batchSize) yield flush();
          }
          index++;
        }
      }
      if (batch.length) yield flush();
    } finally {
      await reader.close();
    }
  }
}

/** The events of one dump block from a start record on, decoded one at a time as they are pulled. */
export interface EventBlock {
  file: string;
  /** Record index of the first event `events()` gives, and one past the last. */
  fromRecord: number;
  toRecord: number;
  /** The file's schema, to decode payloads. */
  root: protobuf.Root;
  /** Call once: the block's events, in order. */
  events(): Iterable<EventRecord>;
}

/**
 * Every event of the dumps under `dir` (after the resume positions, in the shard's blocks), block by
 * block. Unlike `eventBatches`, nothing is collected: an event is decoded when pulled, so a consumer
 * that handles events one by one keeps none of them alive. The next block is read and inflated while
 * the current one is consumed.
 */
export async function* eventBlocks(dir: string, options: Omit<EventBatchOptions, 'batchSize'>): AsyncGenerator<EventBlock> {
  for (const info of await listEventDumps(dir)) {
    const start = options.resumeFrom?.get(info.file) ?? 0;
    if (start >= info.records) continue;
    const reader = await DumpReader.open(info.path);
    let fh: FileHandle | undefined;
    let next: Promise<Buffer> | undefined;
    try {
      fh = await open(info.path, 'r');
      const wanted: number[] = [];
      reader.blocks.forEach((block, b) => {
        if (block.firstRecord + block.records <= start) return;
        if (options.includeBlock && !options.includeBlock(info.file, b)) return;
        wanted.push(b);
      });
      if (wanted.length) next = inflateBlock(fh, reader, wanted[0]);
      for (let i = 0; i < wanted.length; i++) {
        const payload = await next!;
        next = i + 1 < wanted.length ? inflateBlock(fh, reader, wanted[i + 1]) : undefined;
        next?.catch(() => undefined); // reported when awaited
        const b = wanted[i];
        const block = reader.blocks[b];
        const from = Math.max(start, block.firstRecord);
        yield {
          file: info.file,
          fromRecord: from,
          toRecord: block.firstRecord + block.records,
          root: reader.root,
          events: () => blockEvents(reader, b, payload, from - block.firstRecord),
        };
      }
    } finally {
      await next?.catch(() => undefined);
      await fh?.close();
      await reader.close();
    }
  }
}

const gunzip = promisify(zlib.gunzip);

/**
 * `reader.readBlock(b)`, with the output buffer as large as the block: zlib then inflates the whole
 * block in the thread pool in one go. With the default 16 KiB chunks it comes back to the main
 * thread for every chunk, and a main thread busy with the previous block holds it up (it waited
 * about 2 s per million events for blocks that way).
 */
async function inflateBlock(fh: FileHandle, reader: DumpReader, b: number): Promise<Buffer> {
  const block = reader.blocks[b];
  const location = { file: reader.file, block: b, offset: block.offset };
  const raw = Buffer.allocUnsafe(block.compressedBytes);
  let got = 0;
  while (got < raw.length) {
    const { bytesRead } = await fh.read(raw, got, raw.length - got, block.offset + got);
    if (bytesRead === 0) throw new DumpError(`corrupt block (short read at ${block.offset + got})`, location);
    got += bytesRead;
  }
  let payload: Buffer;
  try {
    payload = await gunzip(raw, { chunkSize: Math.max(64 * 1024, block.uncompressedBytes) });
  } catch (err) {
    throw new DumpError(`corrupt block (${(err as Error).message})`, location, { cause: err });
  }
  if (payload.length !== block.uncompressedBytes) {
    throw new DumpError(`block holds ${payload.length} bytes, the trailer says ${block.uncompressedBytes}`, location);
  }
  return payload;
}

function* blockEvents(reader: DumpReader, block: number, payload: Buffer, skip: number): Generator<EventRecord> {
  let index = 0;
  for (const message of reader.decodeBlock(block, payload)) {
    if (index++ >= skip) yield readEnvelope(message);
  }
}

/** Event `record` of dump `file` (relative to `dir`): to name the event behind a failure after the fact. */
export async function readEventAt(dir: string, file: string, record: number): Promise<EventRecord> {
  const reader = await DumpReader.open(path.join(dir, file));
  try {
    const b = reader.blocks.findIndex((block) => record >= block.firstRecord && record < block.firstRecord + block.records);
    if (b < 0) throw new UserError(`${file} has no record ${record}`);
    let index = reader.blocks[b].firstRecord;
    for (const message of reader.decodeBlock(b, await reader.readBlock(b))) {
      if (index++ === record) return readEnvelope(message);
    }
    throw new UserError(`${file} has no record ${record}`);
  } finally {
    await reader.close();
  }
}

/** Parses `--shard i/n` into a block filter (blocks are spread round-robin over shards). */
export function parseShard(value: string | undefined): ((file: string, block: number) => boolean) | undefined {
  if (!value) return undefined;
  const m = /^(\d+)\/(\d+)$/.exec(value);
  if (!m || Number(m[2]) < 1 || Number(m[1]) >= Number(m[2])) throw new UserError(`--shard takes i/n with 0 <= i < n, not "${value}"`);
  const [i, n] = [Number(m[1]), Number(m[2])];
  return (_file, block) => block % n === i;
}
