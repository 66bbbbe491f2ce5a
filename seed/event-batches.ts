// The seeders' input: every event dump in a folder, read as batches that know their position, so a
// sink can record "applied up to record N of file F" and a resumed run skips exactly that much.
import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import type protobuf from 'protobufjs';
import { DumpError, DumpReader, ENVELOPE_TYPE, listDumps, readEnvelope, type EventRecord } from '../dumps/index.ts';
import { FrameCursor, FramingError, MAX_RECORD_BYTES } from '../dumps/framing.ts';
import { MAX_ISO_SECONDS, isoFraction, isoSeconds } from '../lib/iso-time.ts';
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
  /** Also the dumps in subfolders of the input folder. */
  recursive?: boolean;
}

export interface EventDumpInfo {
  file: string;
  path: string;
  records: number;
}

/** Event dumps in `dir` (and its subfolders when `recursive`), in file-name order, with their event counts. */
export async function listEventDumps(dir: string, recursive = false): Promise<EventDumpInfo[]> {
  let files: string[];
  try {
    files = await listDumps(dir, { recursive });
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
  for (const info of await listEventDumps(dir, options.recursive)) {
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
  for (const info of await listEventDumps(dir, options.recursive)) {
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
  if (!hasEnvelopeLayout(reader.recordType)) {
    let index = 0;
    for (const message of reader.decodeBlock(block, payload)) {
      if (index++ >= skip) yield readEnvelope(message);
    }
    return;
  }
  // The same checks and errors as reader.decodeBlock, with the envelope read by decodeEnvelope.
  const info = reader.blocks[block];
  let count = 0;
  try {
    // Records are decoded in place: no view object per record.
    const records = new FrameCursor(payload, MAX_RECORD_BYTES);
    while (records.next()) {
      if (count++ < skip) continue;
      let event: EventRecord;
      try {
        event = decodeEnvelope(payload, records.start, records.end) ?? readEnvelope(reader.recordType.decode(payload.subarray(records.start, records.end)));
      } catch (err) {
        throw new DumpError(`record does not decode as ${reader.header.recordType}: ${(err as Error).message}`, {
          file: reader.file, block, record: count - 1, offset: info.offset,
        });
      }
      yield event;
    }
  } catch (err) {
    if (err instanceof FramingError) {
      throw new DumpError(`${err.message} (at byte ${err.offset} of the inflated block)`, { file: reader.file, block, offset: info.offset });
    }
    throw err;
  }
  if (count !== info.records) {
    throw new DumpError(`block holds ${count} records, the trailer says ${info.records}`, { file: reader.file, block, offset: info.offset });
  }
}

/** ferry.event.Envelope as schemas/ferry/event.proto declares it: field number → [name, type]. */
const ENVELOPE_FIELDS: Record<string, Record<number, [string, string]>> = {
  Envelope: {
    1: ['id', 'string'], 2: ['type', 'string'], 3: ['occurred_at', 'google.protobuf.Timestamp'], 4: ['aggregate_type', 'string'],
    5: ['aggregate_id', 'string'], 6: ['source', 'ferry.event.Source'], 7: ['schema_version', 'uint32'], 8: ['payload_type', 'string'], 9: ['payload', 'bytes'],
  },
  Source: { 1: ['table', 'string'], 2: ['key', 'string'], 3: ['index', 'uint32'] },
  Timestamp: { 1: ['seconds', 'int64'], 2: ['nanos', 'int32'] },
};
const layouts = new WeakMap<protobuf.Type, boolean>();

/** Whether a file's envelope type is exactly the one decodeEnvelope reads (else protobufjs reads it). */
function hasEnvelopeLayout(type: protobuf.Type): boolean {
  let ok = layouts.get(type);
  if (ok === undefined) {
    const matches = (t: protobuf.Type | null | undefined, fields: Record<number, [string, string]>): boolean =>
      !!t && t.fieldsArray.length === Object.keys(fields).length && t.fieldsArray.every((f) => {
        const want = fields[f.id];
        if (!want || f.name !== want[0] || f.repeated || f.map || f.partOf) return false;
        if (want[1].includes('.')) return f.resolvedType?.fullName === `.${want[1]}`;
        return f.type === want[1];
      });
    const source = type.fields.source?.resolvedType as protobuf.Type | null | undefined;
    const time = type.fields.occurred_at?.resolvedType as protobuf.Type | null | undefined;
    ok = type.fullName === `.${ENVELOPE_TYPE}` && matches(type, ENVELOPE_FIELDS.Envelope) && matches(source, ENVELOPE_FIELDS.Source) && matches(time, ENVELOPE_FIELDS.Timestamp);
    layouts.set(type, ok);
  }
  return ok;
}

/** Buffer's own latin1 decoding (what buf.toString('latin1', …) ends in, without its argument handling). */
type Latin1Slicing = Buffer & { latin1Slice(start: number, end: number): string };
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Reads one ferry.event.Envelope (bytes [start, end) of `buf`) straight into an EventRecord: the same result as
 * readEnvelope(Envelope.decode(bytes)) without the intermediate message objects (64-bit seconds as a
 * Long, a Timestamp, a Source), at a third of the cost. Returns undefined for anything unusual (a
 * field given twice, an unexpected wire type): protobufjs then decodes the record, and reports errors.
 */
export function decodeEnvelope(buf: Buffer, start = 0, end = buf.length): EventRecord | undefined {
  let id = '';
  let type = '';
  let occurredAt = '';
  let aggregateType = '';
  let aggregateId = '';
  let source = { table: '', key: '', index: 0 };
  let schemaVersion = 0;
  let payloadType = '';
  let payload: Buffer | undefined;
  let seen = 0;
  let pos = start;
  while (pos < end) {
    const tag = buf[pos++];
    if (tag & 0x80) return undefined; // field numbers here fit one byte
    const field = tag >>> 3;
    const wire = tag & 7;
    if (field < 1 || field > 9) return undefined; // unknown field: protobufjs knows how to skip it
    if (seen & (1 << field)) return undefined;
    seen |= 1 << field;
    if (field === 7) {
      if (wire !== 0) return undefined;
      const v = readVarint32(buf, pos, end);
      if (v < 0) return undefined;
      pos = varintEnd;
      schemaVersion = v >>> 0;
      continue;
    }
    if (wire !== 2) return undefined;
    const len = readVarint32(buf, pos, end);
    if (len < 0) return undefined;
    pos = varintEnd;
    const from = pos;
    pos += len;
    if (pos > end) return undefined;
    switch (field) {
      case 1: id = text(buf, from, pos); break;
      case 2: type = typeCache.get(buf, from, pos); break;
      case 3: {
        const t = readTimestamp(buf, from, pos);
        if (t === undefined) return undefined;
        occurredAt = t;
        break;
      }
      case 4: aggregateType = aggregateCache.get(buf, from, pos); break;
      case 5: aggregateId = text(buf, from, pos); break;
      case 6: {
        const s = readSource(buf, from, pos);
        if (!s) return undefined;
        source = s;
        break;
      }
      case 8: payloadType = payloadTypeCache.get(buf, from, pos); break;
      case 9: payload = buf.subarray(from, pos); break;
    }
  }
  if (!payload) return undefined; // protobufjs' default for it
  return { id, type, occurredAt, aggregateType, aggregateId, source, schemaVersion, payloadType, payload };
}

/** UTF-8 text, rejecting invalid UTF-8 as protobufjs does (ASCII, the usual case, is checked byte by byte). */
export function text(buf: Buffer, start: number, end: number): string {
  for (let i = start; i < end; i++) if (buf[i] & 0x80) return strictUtf8.decode(buf.subarray(start, end));
  return (buf as Latin1Slicing).latin1Slice(start, end);
}

/** Where the last readVarint32 ended. */
let varintEnd = 0;

/** An unsigned varint below 2^32 at `pos` (-1 if longer or cut off); sets varintEnd. */
function readVarint32(buf: Buffer, pos: number, end: number): number {
  let v = 0;
  let multiplier = 1;
  for (let i = 0; i < 5; i++) {
    if (pos >= end) return -1;
    const b = buf[pos++];
    v += (b & 0x7f) * multiplier;
    if (!(b & 0x80)) {
      varintEnd = pos;
      return v < 2 ** 32 ? v : -1;
    }
    multiplier *= 128;
  }
  return -1;
}

/**
 * A field with few distinct values (event type, payload type, aggregate type, source table): each
 * value's bytes are kept beside its string, so a value is decoded (and its bytes copied) once per
 * run, not every time the field changes from one event to the next, as it does all the time in a
 * stream ordered by time.
 */
class FewTexts {
  private readonly bytes: Buffer[] = [];
  private readonly values: string[] = [];
  /** Where the last value was found: the next event has it most of the time. */
  private last = 0;

  get(buf: Buffer, start: number, end: number): string {
    const known = this.bytes;
    const n = known.length;
    for (let k = 0, at = this.last; k < n; k++, at = at + 1 === n ? 0 : at + 1) {
      const candidate = known[at];
      if (candidate.length !== end - start) continue;
      // From the end: names of one family share their start ("dating.chat.Message…").
      let i = candidate.length;
      while (i > 0 && candidate[i - 1] === buf[start + i - 1]) i--;
      if (i === 0) {
        this.last = at;
        return this.values[at];
      }
    }
    const value = text(buf, start, end);
    // A field of many values is decoded each time, as any other.
    if (n < MAX_FEW_TEXTS) {
      known.push(Buffer.from(buf.subarray(start, end)));
      this.values.push(value);
    }
    return value;
  }
}

const MAX_FEW_TEXTS = 64;

const typeCache = new FewTexts();
const aggregateCache = new FewTexts();
const payloadTypeCache = new FewTexts();
const tableCache = new FewTexts();

function readSource(buf: Buffer, start: number, end: number): EventRecord['source'] | undefined {
  const out = { table: '', key: '', index: 0 };
  let seen = 0;
  let pos = start;
  while (pos < end) {
    const tag = buf[pos++];
    const field = tag >>> 3;
    if (tag & 0x80 || field < 1 || field > 3 || seen & (1 << field)) return undefined;
    seen |= 1 << field;
    const v = readVarint32(buf, pos, end);
    if (v < 0) return undefined;
    pos = varintEnd;
    if (field === 3) {
      if ((tag & 7) !== 0) return undefined;
      out.index = v >>> 0;
      continue;
    }
    if ((tag & 7) !== 2 || pos + v > end) return undefined;
    if (field === 1) out.table = tableCache.get(buf, pos, pos + v);
    else out.key = text(buf, pos, pos + v);
    pos += v;
  }
  return out;
}

/** The fields of a google.protobuf.Timestamp read off the wire by readWireTimestamp (reused: no object per value). */
export const wireTimestamp = { seconds: 0, nanos: 0, nanosBytes: 0 };

/**
 * Reads a Timestamp's bytes into `wireTimestamp`: each field once, as a varint of up to 8 bytes
 * (< 2^56; `nanosBytes` says how long the nanos one was). False for anything else (a negative value
 * is 10 bytes long): the caller then lets protobufjs decode it, and report what is wrong.
 */
export function readWireTimestamp(buf: Buffer, start: number, end: number): boolean {
  let seen = 0;
  let pos = start;
  wireTimestamp.seconds = 0;
  wireTimestamp.nanos = 0;
  wireTimestamp.nanosBytes = 0;
  while (pos < end) {
    const tag = buf[pos++];
    const field = tag >>> 3;
    if (tag & 0x80 || (tag & 7) !== 0 || field < 1 || field > 2 || seen & field) return false;
    seen |= field;
    const from = pos;
    let v = 0;
    let multiplier = 1;
    let b: number;
    do {
      if (pos >= end || multiplier > 2 ** 49) return false;
      b = buf[pos++];
      v += (b & 0x7f) * multiplier;
      multiplier *= 128;
    } while (b & 0x80);
    if (field === 1) wireTimestamp.seconds = v;
    else {
      wireTimestamp.nanos = v;
      wireTimestamp.nanosBytes = pos - from;
    }
  }
  return true;
}

/** google.protobuf.Timestamp as timestampToIso gives it, for seconds from 1970 to 9999 with nanos in range (else undefined). */
function readTimestamp(buf: Buffer, start: number, end: number): string | undefined {
  if (!readWireTimestamp(buf, start, end)) return undefined;
  const { seconds, nanos } = wireTimestamp;
  if (seconds >= MAX_ISO_SECONDS || nanos >= 1e9) return undefined;
  const base = isoSeconds(seconds);
  if (!nanos) return `${base}Z`;
  return `${base}${isoFraction(nanos)}Z`;
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

export { parseShard } from '../lib/shard.ts';
