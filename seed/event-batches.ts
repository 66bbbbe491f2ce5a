// The seeders' input: every event dump in a folder, read as batches that know their position, so a
// sink can record "applied up to record N of file F" and a resumed run skips exactly that much.
import path from 'node:path';
import type protobuf from 'protobufjs';
import { DumpReader, ENVELOPE_TYPE, listDumps, readEnvelope, type EventRecord } from '../dumps/index.ts';
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

/** Parses `--shard i/n` into a block filter (blocks are spread round-robin over shards). */
export function parseShard(value: string | undefined): ((file: string, block: number) => boolean) | undefined {
  if (!value) return undefined;
  const m = /^(\d+)\/(\d+)$/.exec(value);
  if (!m || Number(m[2]) < 1 || Number(m[1]) >= Number(m[2])) throw new UserError(`--shard takes i/n with 0 <= i < n, not "${value}"`);
  const [i, n] = [Number(m[1]), Number(m[2])];
  return (_file, block) => block % n === i;
}
