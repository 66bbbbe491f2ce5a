// Reference tables (ctx.lookup), held once for all workers. The main thread reads a table's dumps,
// keeps of each row only its key and the columns the transforms read (see lookup-columns.ts),
// re-encodes that and stores it in shared memory beside an open-addressing hash index; workers
// decode a row when it is looked up. As a Map of row objects in every worker, the example's
// dbo.Members cost ~200 bytes a row per worker (82 MB each at fi10, the largest part of the
// transform's peak RSS); shared and encoded it is ~55 bytes a row (22 of them the record), once.
import protobuf from 'protobufjs';
import { DumpReader, fromDescriptorSet, trustDumpStrings } from '../dumps/index.ts';
import { UserError } from '../lib/errors.ts';
import { keyFieldsOf, type LookupSource } from './inputs.ts';
import { rowConverter, type Row, type RowConverter } from './rows.ts';
import { lookupKey } from './runtime.ts';

/** Rows by the lookup key text (lookupKey): a Map in tests, a ReferenceTable in a run. */
export interface ReferenceRows {
  get(key: string): Row | undefined;
}

/** A reference table as it crosses to the workers: the buffers are shared, not copied. */
export interface ReferenceTableData {
  table: string;
  recordType: string;
  descriptorSet: Uint8Array;
  /** Columns kept: undefined for whole rows, [] when the transforms only test that a row exists. */
  columns?: string[];
  rows: number;
  /** Per row: the UTF-8 key text, then the record (key fields and kept columns only). */
  bytes: SharedArrayBuffer;
  /** Float64Array of 2·rows + 1: row i's key starts at [2i], its record at [2i+1], and ends at [2i+2]. */
  offsets: SharedArrayBuffer;
  /** Int32Array: each row's hash of its key text. */
  hashes: SharedArrayBuffer;
  /** Int32Array, a power of two at least twice the rows: row index + 1, 0 for an empty slot. */
  slots: SharedArrayBuffer;
}

/** What a tested-only reference table returns for a key it holds. */
const PRESENT: Row = Object.freeze({});

export class ReferenceTable implements ReferenceRows {
  private readonly bytes: Uint8Array;
  private readonly offsets: Float64Array;
  private readonly hashes: Int32Array;
  private readonly slots: Int32Array;
  private readonly type?: protobuf.Type;
  private readonly convert?: RowConverter;
  private readonly columns?: readonly string[];

  constructor(data: ReferenceTableData) {
    this.bytes = new Uint8Array(data.bytes);
    this.offsets = new Float64Array(data.offsets);
    this.hashes = new Int32Array(data.hashes);
    this.slots = new Int32Array(data.slots);
    // A table without rows (no dump files) has no schema either: every lookup misses.
    if (data.rows > 0) {
      this.type = trustDumpStrings(fromDescriptorSet(data.descriptorSet)).lookupType(data.recordType);
      this.convert = rowConverter(this.type);
    }
    this.columns = data.columns;
  }

  get(key: string): Row | undefined {
    const row = findRow(this.bytes, this.offsets, this.hashes, this.slots, key);
    if (row < 0) return undefined;
    if (this.columns?.length === 0) return PRESENT;
    // A private copy: a bytes column decodes as a view of its buffer, which must not be the shared one.
    const record = this.bytes.slice(this.offsets[2 * row + 1], this.offsets[2 * row + 2]);
    const full = this.convert!(this.type!.decode(record));
    if (!this.columns) return full;
    const kept: Row = {};
    for (const c of this.columns) kept[c] = full[c];
    return kept;
  }
}

/** The runtime's lookups: each table's rows by table name, over the shared buffers. */
export function referenceRowsOf(tables: readonly ReferenceTableData[]): Map<string, ReferenceRows> {
  return new Map(tables.map((data) => [data.table, new ReferenceTable(data)]));
}

/** Reads a reference table's dumps into shared memory (see the top of this file). */
export async function buildReferenceTable(source: LookupSource): Promise<ReferenceTableData> {
  const { table, files, columns } = source;
  const bytes = new ChunkedBytes();
  const offsets: number[] = [0];
  const hashes: number[] = [];
  let schema: { file: string; recordType: string; descriptorSet: Uint8Array } | undefined;
  for (const file of files) {
    const reader = await DumpReader.open(file);
    try {
      const { recordType, descriptorSet } = reader.header;
      if (!schema) schema = { file, recordType, descriptorSet };
      else if (recordType !== schema.recordType || !Buffer.from(descriptorSet).equals(Buffer.from(schema.descriptorSet))) {
        throw new UserError(`reference table ${table}: ${file} and ${schema.file} have different schemas; extract the table again into one folder`);
      }
      const keyFields = keyFieldsOf(reader.header);
      const kept = columns ? [...new Set([...keyFields, ...columns])] : undefined;
      const convert = rowConverter(reader.recordType);
      for await (const message of reader.records()) {
        const row = convert(message);
        const key = lookupKey(keyFields.map((f) => row[f]));
        let narrowed: object = message;
        if (kept) {
          const m: Record<string, unknown> = {};
          for (const f of kept) m[f] = (message as unknown as Record<string, unknown>)[f];
          narrowed = m;
        }
        bytes.push(Buffer.from(key, 'utf8'));
        offsets.push(bytes.length);
        bytes.push(reader.recordType.encode(narrowed).finish());
        offsets.push(bytes.length);
        hashes.push(hashKey(key));
      }
    } finally {
      await reader.close();
    }
  }
  const rows = hashes.length;
  const data: ReferenceTableData = {
    table,
    recordType: schema?.recordType ?? '',
    descriptorSet: schema?.descriptorSet ?? new Uint8Array(0),
    columns,
    rows,
    bytes: bytes.toShared(),
    offsets: sharedOf('float64', offsets),
    hashes: sharedOf('int32', hashes),
    slots: new SharedArrayBuffer(4 * slotCount(rows)),
  };
  indexRows(data);
  return data;
}

/** Fills the hash index; a key held twice keeps its last row, as a Map would. */
function indexRows(data: ReferenceTableData): void {
  const bytes = new Uint8Array(data.bytes);
  const offsets = new Float64Array(data.offsets);
  const hashes = new Int32Array(data.hashes);
  const slots = new Int32Array(data.slots);
  const mask = slots.length - 1;
  for (let row = 0; row < data.rows; row++) {
    const keyStart = offsets[2 * row];
    const keyEnd = offsets[2 * row + 1];
    for (let s = hashes[row] & mask; ; s = (s + 1) & mask) {
      const other = slots[s] - 1;
      if (other < 0) {
        slots[s] = row + 1;
        break;
      }
      const otherStart = offsets[2 * other];
      const otherEnd = offsets[2 * other + 1];
      if (hashes[other] === hashes[row] && Buffer.compare(bytes.subarray(keyStart, keyEnd), bytes.subarray(otherStart, otherEnd)) === 0) {
        slots[s] = row + 1;
        break;
      }
    }
  }
}

/** The row holding `key`, or -1. */
function findRow(bytes: Uint8Array, offsets: Float64Array, hashes: Int32Array, slots: Int32Array, key: string): number {
  const hash = hashKey(key);
  const mask = slots.length - 1;
  for (let s = hash & mask; ; s = (s + 1) & mask) {
    const row = slots[s] - 1;
    if (row < 0) return -1;
    if (hashes[row] === hash && keyEquals(bytes, offsets[2 * row], offsets[2 * row + 1], key)) return row;
  }
}

/** Whether bytes[start, end) are the UTF-8 of `key` (most keys are ASCII digits: compared in place). */
function keyEquals(bytes: Uint8Array, start: number, end: number, key: string): boolean {
  if (end - start === key.length) {
    let i = 0;
    for (; i < key.length; i++) {
      const c = key.charCodeAt(i);
      if (c >= 0x80) break;
      if (bytes[start + i] !== c) return false;
    }
    if (i === key.length) return true;
  }
  return Buffer.compare(bytes.subarray(start, end), Buffer.from(key, 'utf8')) === 0;
}

/** FNV-1a over the key's UTF-16 code units. */
export function hashKey(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return h | 0;
}

/** A power of two with the table at most half full (short probe runs). */
function slotCount(rows: number): number {
  let n = 16;
  while (n < 2 * rows) n *= 2;
  return n;
}

function sharedOf(type: 'float64' | 'int32', values: readonly number[]): SharedArrayBuffer {
  const shared = new SharedArrayBuffer((type === 'float64' ? 8 : 4) * values.length);
  (type === 'float64' ? new Float64Array(shared) : new Int32Array(shared)).set(values);
  return shared;
}

/** Appended bytes in 1 MiB chunks, copied once into shared memory at the end. */
class ChunkedBytes {
  private readonly full: Buffer[] = [];
  private chunk = Buffer.allocUnsafe(CHUNK_BYTES);
  private used = 0;
  length = 0;

  push(part: Uint8Array): void {
    if (this.used + part.length > this.chunk.length) {
      this.full.push(this.chunk.subarray(0, this.used));
      this.chunk = Buffer.allocUnsafe(Math.max(CHUNK_BYTES, part.length));
      this.used = 0;
    }
    this.chunk.set(part, this.used);
    this.used += part.length;
    this.length += part.length;
  }

  toShared(): SharedArrayBuffer {
    const shared = new SharedArrayBuffer(this.length);
    const view = new Uint8Array(shared);
    let at = 0;
    for (const part of [...this.full, this.chunk.subarray(0, this.used)]) {
      view.set(part, at);
      at += part.length;
    }
    return shared;
  }
}
const CHUNK_BYTES = 1 << 20;
