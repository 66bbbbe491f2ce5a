// PostgreSQL's COPY text format for the module sink: JS values as column text, escaping, the arena
// inserted rows are encoded into, and sending a step's data into a COPY stream.
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { MAX_ISO_SECONDS, isoSeconds } from '../lib/iso-time.ts';
import { PreciseTimestamp } from '../lib/precise-timestamp.ts';
import type { Row } from '../api/module.ts';
import { OperationError, type ColumnInfo, type EncodedUpsert, type TableInfo } from './module-ops.ts';

/** Buffer's own UTF-8 encoding (what buf.write(text, offset) ends in, without its argument handling). */
type Utf8Writing = Buffer & { utf8Write(text: string, offset: number): number };

/**
 * COPY text of a batch's inserted rows, in one growing byte buffer: rows are encoded straight into it
 * while the batch is prepared, so a batch of tens of thousands of rows is a few large buffers outside
 * the JavaScript heap instead of as many strings that live (and are copied by the garbage collector)
 * until the batch is committed. Consecutive inserts are consecutive bytes, sent to COPY as they are.
 */
export class CopyArena {
  buf: Buffer;
  length = 0;

  constructor(capacity = 1 << 20) {
    this.buf = Buffer.allocUnsafe(capacity);
  }

  /** Room for `bytes` more bytes (grows by doubling; offsets stay valid). */
  reserve(bytes: number): void {
    if (this.length + bytes <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.length + bytes));
    this.buf.copy(grown, 0, 0, this.length);
    this.buf = grown;
  }

  writeString(text: string): void {
    // UTF-8 takes at most 3 bytes per UTF-16 code unit.
    this.reserve(text.length * 3);
    this.length += (this.buf as Utf8Writing).utf8Write(text, this.length);
  }

  writeByte(byte: number): void {
    this.reserve(1);
    this.buf[this.length++] = byte;
  }

  /** Appends a copy of bytes [start, end) of this arena. */
  writeOwnBytes(start: number, end: number): void {
    this.reserve(end - start);
    // copyWithin, unlike Buffer#copy, makes no view object for the source range.
    this.buf.copyWithin(this.length, start, end);
    this.length += end - start;
  }

  /** Forgets everything after `length` (the rows of an event whose handler failed). */
  truncate(length: number): void {
    this.length = length;
  }

  reset(): void {
    this.length = 0;
  }
}

/**
 * The COPY data of a step, in CopyData messages of about 1 MiB (COPY does not need messages to end at
 * row boundaries): byte ranges of the arenas, adjacent rows merged, and rows that are not adjacent
 * (other tables' rows in between, updates folded into lines at the arena's end) gathered into one
 * buffer. Each message is a socket write or two: a message per scattered row cost about 2 s of
 * system time per million rows.
 */
export function* copyChunks(ops: ReadonlyArray<{ arena: CopyArena; start: number; end: number }>): Generator<Buffer> {
  const MAX = 1 << 20;
  // Not reused once given out: the COPY stream may hold on to messages until the server is ready.
  let gather: Buffer | undefined;
  let used = 0;
  let i = 0;
  while (i < ops.length) {
    const { arena, start } = ops[i];
    let end = ops[i].end;
    for (i++; i < ops.length && ops[i].arena === arena && ops[i].start === end; i++) end = ops[i].end;
    if (end - start >= MAX / 4) {
      if (used) yield gather!.subarray(0, used);
      gather = undefined;
      used = 0;
      for (let at = start; at < end; at += MAX) yield arena.buf.subarray(at, Math.min(end, at + MAX));
      continue;
    }
    if (gather && used + end - start > gather.length) {
      yield gather.subarray(0, used);
      gather = undefined;
      used = 0;
    }
    gather ??= Buffer.allocUnsafe(MAX);
    used += arena.buf.copy(gather, used, start, end);
  }
  if (used) yield gather!.subarray(0, used);
}

/**
 * Writes a COPY's data into its stream and waits until the server took it all: what
 * stream.pipeline did here, without the Readable, the AbortController and the AbortError (a
 * DOMException, with its stack trace) that pipeline makes on every call, about 0.1 ms per COPY.
 */
export async function sendCopyData(stream: Writable, chunks: Iterable<Buffer>): Promise<void> {
  const done = finished(stream);
  done.catch(() => undefined); // awaited below; a failed COPY rejects it before the end is reached
  for (const chunk of chunks) {
    if (!stream.write(chunk)) await Promise.race([once(stream, 'drain'), done]);
  }
  stream.end();
  await done;
}

/** COPY text of upserts (kept as value texts: a fold merges them), in messages of about 1 MiB. */
export function* upsertChunks(ops: readonly EncodedUpsert[]): Generator<Buffer> {
  let arena = new CopyArena();
  for (const op of ops) {
    for (let i = 0; i < op.values.length; i++) {
      if (i) arena.writeByte(9);
      const v = op.values[i];
      arena.writeString(v === null ? '\\N' : copyEscape(v));
    }
    arena.writeByte(10);
    if (arena.length >= 1 << 20) {
      // Not reused: the COPY stream may hold on to a message until the server is ready.
      yield arena.buf.subarray(0, arena.length);
      arena = new CopyArena();
    }
  }
  if (arena.length) yield arena.buf.subarray(0, arena.length);
}

export function columnArrays(ops: ReadonlyArray<{ values: Array<string | null> }>, n: number): Array<Array<string | null>> {
  const arrays = Array.from({ length: n }, () => new Array<string | null>(ops.length));
  ops.forEach((op, j) => {
    for (let i = 0; i < n; i++) arrays[i][j] = op.values[i];
  });
  return arrays;
}

export function keyValues(keys: ColumnInfo[], where: Row, table: TableInfo): Array<string | null> {
  return keys.map((c) => {
    const text = toText(where[c.name], c, table);
    if (text === null) throw new OperationError(`where ${c.name} of ${table.name} is null: rows are matched with =, which never matches NULL`);
    return text;
  });
}

const COPY_SPECIAL = /[\\\n\r\t]/;


export function copyUnescape(field: string): string {
  return field.includes('\\') ? field.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : c === 't' ? '\t' : c)) : field;
}

export function copyEscape(text: string): string {
  if (!COPY_SPECIAL.test(text)) return text;
  // Backslashes first, so that the escapes added after are not escaped again.
  if (text.includes('\\')) text = text.replaceAll('\\', '\\\\');
  if (text.includes('\t')) text = text.replaceAll('\t', '\\t');
  if (text.includes('\n')) text = text.replaceAll('\n', '\\n');
  if (text.includes('\r')) text = text.replaceAll('\r', '\\r');
  return text;
}

/** A JS value as PostgreSQL's text input for a column (null for NULL). */
export function toText(value: unknown, column: ColumnInfo, table: TableInfo): string | null {
  if (value === null || value === undefined) return null;
  switch (typeof value) {
    case 'string':
      return value;
    case 'number':
      if (!Number.isFinite(value) && column.kind !== 'json') return String(value).replace('Infinity', 'infinity');
      return column.kind === 'json' ? JSON.stringify(value) : String(value);
    case 'bigint':
      return value.toString();
    case 'boolean':
      return column.kind === 'json' ? String(value) : value ? 't' : 'f';
    case 'object':
      break;
    default:
      throw new OperationError(`column ${column.name} of ${table.name} gets a ${typeof value}`);
  }
  if (column.kind === 'json') return JSON.stringify(value);
  if (value instanceof Date) return value.toISOString();
  if (value instanceof PreciseTimestamp) return value.toISOString();
  if (value instanceof Uint8Array) return '\\x' + Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex');
  if (Array.isArray(value)) {
    if (column.kind !== 'array') throw new OperationError(`column ${column.name} of ${table.name} (${column.type}) gets an array`);
    return arrayLiteral(value, column, table);
  }
  const ts = value as { seconds?: unknown; nanos?: unknown };
  if (ts.seconds !== undefined && onlyTimestampKeys(ts)) return timestampText(ts.seconds, ts.nanos);
  throw new OperationError(`column ${column.name} of ${table.name} (${column.type}) gets an object; only json/jsonb columns take objects`);
}

function arrayLiteral(values: unknown[], column: ColumnInfo, table: TableInfo): string {
  const items = values.map((v) => {
    if (Array.isArray(v)) return arrayLiteral(v, column, table);
    const text = toText(v, { ...column, kind: 'other' }, table);
    return text === null ? 'NULL' : `"${text.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
  });
  return `{${items.join(',')}}`;
}

function onlyTimestampKeys(value: object): boolean {
  // for…in over own keys: Object.keys made an array for every timestamp of every row.
  for (const k in value) if (k !== 'seconds' && k !== 'nanos' && Object.prototype.hasOwnProperty.call(value, k)) return false;
  return true;
}

const PAD3 = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));

/** A decoded google.protobuf.Timestamp (seconds possibly a string or Long) as ISO-8601 UTC. */
export function timestampText(seconds: unknown, nanos: unknown): string {
  const s = typeof seconds === 'object' && seconds !== null ? Number(String(seconds)) : Number(seconds);
  const n = Number(nanos ?? 0);
  if (Number.isInteger(s) && s >= 0 && s < MAX_ISO_SECONDS && Number.isInteger(n) && n >= 0 && n < 1e9) {
    if (n % 1_000_000 === 0) return `${isoSeconds(s)}.${PAD3[n / 1_000_000]}Z`;
    return `${isoSeconds(s)}.${String(n).padStart(9, '0')}Z`;
  }
  // Whole milliseconds (the common case) need nothing but Date's own formatting.
  if (n % 1_000_000 === 0) return new Date(s * 1000 + n / 1_000_000).toISOString();
  return `${new Date(s * 1000).toISOString().slice(0, 19)}.${String(n).padStart(9, '0')}Z`;
}
