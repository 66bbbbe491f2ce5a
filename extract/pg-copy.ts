// PostgreSQL rows as `COPY (SELECT …) TO STDOUT` text, turned straight into length-delimited row
// messages: values go from the server's bytes into protobuf bytes without a JS string or object per
// value for the common kinds (integers, booleans, text, numeric, uuid, dates, timestamps, bytea).
// The encoding is the one protobufjs gives the same values (field order, implicit-presence
// defaults left out for NOT NULL columns), so dumps and their checksums do not depend on the path.
// Rarer kinds (arrays) go through the value converters and protobufjs, one field at a time.
import { isUtf8 } from 'node:buffer';
import type protobuf from 'protobufjs';
import type { SourceColumn } from './row-schema.ts';
import { ExtractError } from './source.ts';
import { MAX_TIMESTAMP_SECONDS, MIN_TIMESTAMP_SECONDS, WallClock, checkTimestampRange, daysFromCivil, parseTimestampText } from './values.ts';

const TAB = 9;
const NL = 10;
const BACKSLASH = 92;

/** Per field: writes the field of the COPY bytes buf[s..e) (escaped when `esc`), or nothing for a NOT NULL default. */
type FieldWriter = (enc: CopyRowEncoder, buf: Buffer, s: number, e: number, esc: boolean) => void;

export interface CopyColumn {
  column: SourceColumn;
  /** Generated field name in the row message. */
  field: string;
  /** Text → value, for the kinds encoded through protobufjs. */
  convert: (text: string) => unknown;
}

export interface EncodedBatch {
  framed: Buffer;
  ends: number[];
  bytes: number;
  lastKey?: string[];
  firstKey?: string[];
}

/** Thrown by field writers for a value ferry cannot carry; the encoder adds table, column and key. */
class ValueError extends Error {}

/**
 * How the COPY rows of one table become its row messages: a field writer per column, built once
 * for all the table's chunks (closures made anew per chunk were optimized anew by V8 per chunk,
 * some 70 background compilations in a million-row extract).
 */
export class CopyRowFormat {
  readonly writers: FieldWriter[];
  /** Columns in field-number order (protobufjs writes fields by field number). */
  readonly order: number[];

  constructor(
    readonly table: string,
    readonly columns: CopyColumn[],
    /** Columns in the COPY row: the row message's columns, then any extra key columns. */
    readonly width: number,
    readonly keyIndexes: number[],
    private readonly type: protobuf.Type,
    private readonly clock: WallClock,
    /** Check that text is UTF-8 (a SQL_ASCII database sends bytes as they are stored). */
    private readonly checkUtf8: boolean,
  ) {
    this.order = columns.map((_, i) => i).sort((a, b) => columns[a].column.ordinal - columns[b].column.ordinal);
    this.writers = columns.map((c) => this.writerFor(c));
  }

  private writerFor(c: CopyColumn): FieldWriter {
    const col = c.column;
    const id = col.ordinal;
    const optional = col.nullable;
    const tag = (wire: number) => id * 8 + wire;
    const tagBytes = (wire: number) => {
      const out: number[] = [];
      let v = tag(wire);
      while (v > 127) {
        out.push((v % 128) | 128);
        v = Math.floor(v / 128);
      }
      out.push(v);
      return out;
    };
    const t0 = tagBytes(0);
    const t1 = tagBytes(1);
    const t2 = tagBytes(2);
    const t5 = tagBytes(5);
    const putTag = (enc: CopyRowEncoder, t: number[]) => {
      const out = enc.scratch;
      if (t.length === 1) out[enc.sp++] = t[0];
      else for (let k = 0; k < t.length; k++) out[enc.sp++] = t[k];
    };
    if (col.repeated) return this.viaProtobuf(c);
    const checkUtf8 = this.checkUtf8;
    switch (col.kind) {
      case 'bool':
        return (enc, buf, s) => {
          const v = buf[s] === 116;
          if (!v && !optional) return;
          putTag(enc, t0);
          enc.scratch[enc.sp++] = v ? 1 : 0;
        };
      case 'int32':
        return (enc, buf, s, e) => {
          let i = s;
          const neg = buf[i] === 45;
          if (neg) i++;
          let v = 0;
          for (; i < e; i++) v = v * 10 + (buf[i] - 48);
          if (v === 0 && !optional) return;
          putTag(enc, t0);
          if (neg && v !== 0) enc.varint64(-v);
          else enc.varint(v);
        };
      case 'int64':
        return (enc, buf, s, e) => {
          let v: number | bigint;
          if (e - s < 16) {
            let i = s;
            const neg = buf[i] === 45;
            if (neg) i++;
            let n = 0;
            for (; i < e; i++) n = n * 10 + (buf[i] - 48);
            v = neg ? -n : n;
          } else {
            v = BigInt(buf.toString('latin1', s, e));
          }
          if ((v === 0 || v === 0n) && !optional) return;
          putTag(enc, t0);
          enc.varint64(v);
        };
      case 'double':
      case 'float':
        return (enc, buf, s, e) => {
          const v = Number(buf.toString('latin1', s, e));
          if (Object.is(v, 0) && !optional) return;
          if (col.kind === 'double') {
            putTag(enc, t1);
            enc.scratch.writeDoubleLE(v, enc.sp);
            enc.sp += 8;
          } else {
            putTag(enc, t5);
            enc.scratch.writeFloatLE(v, enc.sp);
            enc.sp += 4;
          }
        };
      case 'date':
      case 'decimal':
      case 'string':
      case 'uuid':
      case 'time': {
        const date = col.kind === 'date';
        return (enc, buf, s, e, esc) => {
          if (date && !isDateText(buf, s, e)) throw new ValueError(`date ${buf.toString('utf8', s, e)} has no YYYY-MM-DD form (infinity or BC); use --cast to turn it into text`);
          if (esc || (checkUtf8 && !isUtf8(buf.subarray(s, e)))) {
            const text = Buffer.from(unescapeText(buf, s, e), 'utf8');
            if (text.length === 0 && !optional) return;
            putTag(enc, t2);
            enc.varint(text.length);
            enc.reserve(text.length);
            text.copy(enc.scratch, enc.sp);
            enc.sp += text.length;
            return;
          }
          const n = e - s;
          if (n === 0 && !optional) return;
          putTag(enc, t2);
          enc.varint(n);
          enc.bytesFrom(buf, s, e);
        };
      }
      case 'bytes':
        // bytea_output=hex: \x0a1b… (COPY doubles the backslash).
        return (enc, buf, s, e) => {
          if (buf[s] !== BACKSLASH || buf[s + 1] !== BACKSLASH || buf[s + 2] !== 120) throw new ValueError('bytea value is not in hex form');
          const n = (e - s - 3) >> 1;
          if (n === 0 && !optional) return;
          putTag(enc, t2);
          enc.varint(n);
          const out = enc.scratch;
          let p = enc.sp;
          if (n >= 256) {
            // Long values: Node's hex decoder (it stops at the first non-hex digit).
            if (out.write(buf.toString('latin1', s + 3, e), p, n, 'hex') !== n) throw new ValueError('bytea value is not in hex form');
            p += n;
          } else {
            for (let i = s + 3; i < e; i += 2) out[p++] = (hexValue(buf[i]) << 4) | hexValue(buf[i + 1]);
          }
          enc.sp = p;
        };
      case 'timestamp_local':
      case 'timestamp_instant':
      case 'timestamp_offset': {
        const clock = this.clock;
        const local = col.kind === 'timestamp_local';
        const parsed = { wallSeconds: 0, nanos: 0 };
        return (enc, buf, s, e) => {
          let seconds: number;
          let nanos: number;
          // `YYYY-MM-DD HH:MM:SS[.ffffff]`, and `…+00` of timestamptz (the session is in UTC), from the bytes.
          const utc = !local && e - s >= 22 && buf[e - 3] === 43 && buf[e - 2] === 48 && buf[e - 1] === 48;
          if ((local || utc) && wallClockBytes(buf, s, utc ? e - 3 : e, parsed)) {
            seconds = local ? clock.toUtcSeconds(parsed.wallSeconds) : parsed.wallSeconds;
            nanos = parsed.nanos;
          } else {
            const text = buf.toString('latin1', s, e);
            const t = parseTimestampText(text);
            if (!t) throw new ValueError(`timestamp ${text} is not a point in time ferry can carry (infinity or BC); use --cast to turn it into text`);
            seconds = t.offsetSeconds !== undefined ? t.wallSeconds - t.offsetSeconds : clock.toUtcSeconds(t.wallSeconds);
            nanos = t.nanos;
          }
          if (seconds < MIN_TIMESTAMP_SECONDS || seconds > MAX_TIMESTAMP_SECONDS) {
            checkTimestampRange(seconds, () => `timestamp ${buf.toString('latin1', s, e)}${local ? ` read in ${clock.timeZone}` : ''}`);
          }
          const len = (seconds !== 0 ? 1 + varint64Size(seconds) : 0) + (nanos !== 0 ? 1 + varintSize(nanos) : 0);
          putTag(enc, t2);
          enc.varint(len);
          if (seconds !== 0) {
            enc.scratch[enc.sp++] = 8;
            enc.varint64(seconds);
          }
          if (nanos !== 0) {
            enc.scratch[enc.sp++] = 16;
            enc.varint(nanos);
          }
        };
      }
    }
  }

  /** The field's bytes as protobufjs writes them: a message holding only that field. */
  private viaProtobuf(c: CopyColumn): FieldWriter {
    const type = this.type;
    return (enc, buf, s, e) => {
      const value = c.convert(unescapeText(buf, s, e));
      const bytes = type.encode({ [c.field]: value } as unknown as protobuf.Message).finish();
      enc.reserve(bytes.length);
      enc.scratch.set(bytes, enc.sp);
      enc.sp += bytes.length;
    };
  }
}

export class CopyRowEncoder {
  /** Framed rows of the current batch. */
  out: Buffer = Buffer.allocUnsafe(1 << 16);
  pos = 0;
  ends: number[] = [];
  /** Text bytes of the batch's values (as read; for MB/s and the chunk byte limit). */
  bytes = 0;
  /** Text bytes of every row so far. */
  totalBytes = 0;
  /** Set once a row brought totalBytes to maxBytes: rows after it are not taken. */
  full = false;
  /** Key (as text) of the batch's last row. */
  lastKey?: string[];
  /** Key (as text) of the chunk's first row (for the engine's keyset guard). */
  firstKey?: string[];

  /** Where the row message being built goes (the batch buffer itself), and the write position in it. */
  scratch: Buffer = this.out;
  sp = 0;
  /** Bytes of the length prefix reserved before a row (that of the row before). */
  private prefix = 1;

  private readonly writers: FieldWriter[];
  private readonly order: number[];
  private readonly starts: Int32Array;
  private readonly stops: Int32Array;
  private readonly escaped: Uint8Array;
  private pending: Buffer[] = [];
  /** Batches ended by the batch limits, not yet taken. */
  private readonly done: EncodedBatch[] = [];
  private bsBuf?: Buffer;
  /** Position of the next backslash in bsBuf at or after the current field (-1: none). */
  private bsAt = -2;
  /** The row being encoded, and the batch's last row: buffer and range (a Buffer per row costs). */
  private lineBuf?: Buffer;
  private lineS = 0;
  private lineE = 0;
  private lastBuf?: Buffer;
  private lastS = 0;
  private lastE = 0;

  private readonly table: string;
  private readonly columns: CopyColumn[];
  private readonly width: number;
  private readonly keyIndexes: number[];
  private readonly batchRows: number;
  private readonly batchBytes: number;

  constructor(
    format: CopyRowFormat,
    private readonly maxBytes = Infinity,
    /** A batch ends after this many rows, or after the row that brings its framed bytes to `bytes` (the dump's block rule). */
    batch = { rows: Infinity, bytes: Infinity },
  ) {
    ({ table: this.table, columns: this.columns, width: this.width, keyIndexes: this.keyIndexes, writers: this.writers, order: this.order } = format);
    this.batchRows = batch.rows;
    this.batchBytes = batch.bytes;
    if (Number.isFinite(batch.bytes)) this.out = this.scratch = Buffer.allocUnsafe(Math.min(batch.bytes + (1 << 16), 1 << 23));
    this.starts = new Int32Array(this.width);
    this.stops = new Int32Array(this.width);
    this.escaped = new Uint8Array(this.width);
  }

  /** Takes COPY data; complete rows are encoded, a cut-off last row waits for the next chunk. */
  push(chunk: Buffer): void {
    if (this.full) return;
    let buf = chunk;
    let from = 0;
    if (this.pending.length) {
      const nl = chunk.indexOf(NL);
      if (nl < 0) {
        this.pending.push(chunk);
        return;
      }
      const line = Buffer.concat([...this.pending, chunk.subarray(0, nl + 1)]);
      this.pending = [];
      this.row(line, 0, line.length - 1);
      from = nl + 1;
      if (this.full) return;
    }
    for (;;) {
      const nl = buf.indexOf(NL, from);
      if (nl < 0) break;
      this.row(buf, from, nl);
      from = nl + 1;
      if (this.full) return;
    }
    if (from < buf.length) this.pending.push(buf.subarray(from));
  }

  /** After the last chunk: a row without its newline means the data was cut short. */
  end(): void {
    if (!this.full && this.pending.some((p) => p.length > 0)) throw new Error('COPY data ended inside a row');
  }

  get rows(): number {
    return this.ends.length;
  }

  private seal(): void {
    this.done.push(this.take());
  }

  /** The oldest batch that reached the batch limits, if any (taken off the list). */
  sealed(): EncodedBatch | undefined {
    return this.done.shift();
  }

  /** Hands over the batch's rows and starts a new batch. */
  take(): EncodedBatch {
    const framed = this.out.subarray(0, this.pos);
    const batch = { framed, ends: this.ends, bytes: this.bytes, lastKey: this.lastBuf && this.keyIndexes.length ? this.keyOf(this.lastBuf.subarray(this.lastS, this.lastE)) : undefined };
    this.pos = 0;
    this.ends = [];
    this.bytes = 0;
    this.lastBuf = undefined;
    // Sized for a whole batch (and the row that ends it), so a batch is written without growing.
    const size = Number.isFinite(this.batchBytes) ? this.batchBytes + (1 << 16) : this.out.length;
    this.out = this.scratch = Buffer.allocUnsafe(Math.min(Math.max(size, 1 << 16), 1 << 23));
    return batch;
  }

  private split(buf: Buffer, s: number, e: number): void {
    const starts = this.starts;
    const stops = this.stops;
    const escaped = this.escaped;
    const last = this.width - 1;
    // The next backslash in this buffer (found once per buffer unless there are some).
    if (this.bsBuf !== buf) {
      this.bsBuf = buf;
      this.bsAt = -2;
    }
    let start = s;
    for (let col = 0; ; col++) {
      let stop = col === last ? e : buf.indexOf(TAB, start);
      if (stop < 0 || stop > e) {
        if (col !== last) throw new Error(`COPY row has ${col + 1} fields, not ${this.width}`);
        stop = e;
      }
      if (this.bsAt !== -1 && this.bsAt < start) {
        const at = buf.indexOf(BACKSLASH, start);
        this.bsAt = at < 0 ? -1 : at;
      }
      // (A tab in a value is written as \t: every tab byte ends a field.)
      starts[col] = start;
      stops[col] = stop;
      escaped[col] = this.bsAt >= 0 && this.bsAt < stop ? 1 : 0;
      if (col === last) return;
      start = stop + 1;
    }
  }

  /** Encodes one row: its COPY text in buf[s..e), without the newline. */
  row(buf: Buffer, s: number, e: number): void {
    this.lineBuf = buf;
    this.lineS = s;
    this.lineE = e;
    this.split(buf, s, e);
    const start = this.pos;
    let prefix = this.prefix;
    this.sp = start + prefix;
    // Room for the whole message: no field writes more than its text plus 24 bytes (tag, length,
    // varints, a timestamp), except those that reserve for themselves (arrays, repaired text).
    this.reserve(e - s + this.width * 24 + 16);
    let rowBytes = 0;
    const { starts, stops, escaped, columns, writers, order } = this;
    for (let k = 0; k < order.length; k++) {
      const i = order[k];
      const fs = starts[i];
      const fe = stops[i];
      if (fe - fs === 2 && buf[fs] === BACKSLASH && buf[fs + 1] === 78) {
        if (columns[i].column.repeated) throw this.fail(buf, i, new ValueError('NULL array'));
        continue;
      }
      rowBytes += fe - fs;
      try {
        writers[i](this, buf, fs, fe, escaped[i] === 1);
      } catch (err) {
        throw this.fail(buf, i, err as Error);
      }
    }
    // Typed arrays drop writes past their end: a message larger than reserved must not pass.
    if (this.sp > this.out.length) throw new Error(`${this.table}: internal error: a row message outgrew its buffer`);
    // Frame: the varint length before the message (moved when its size differs from the guess).
    const len = this.sp - start - prefix;
    const need = varintSize(len);
    if (need !== prefix) {
      this.reserve(need);
      this.out.copyWithin(start + need, start + prefix, this.sp);
      this.sp += need - prefix;
      this.prefix = prefix = need;
    }
    const out = this.out;
    let v = len;
    let p = start;
    while (v > 127) {
      out[p++] = (v & 127) | 128;
      v >>>= 7;
    }
    out[p] = v;
    this.pos = this.sp;
    this.ends.push(this.pos);
    this.bytes += rowBytes;
    this.totalBytes += rowBytes;
    this.lastBuf = buf;
    this.lastS = s;
    this.lastE = e;
    if (this.firstKey === undefined && this.keyIndexes.length) this.firstKey = this.keyOf(buf.subarray(s, e));
    if (this.totalBytes >= this.maxBytes) this.full = true;
    else if (this.ends.length >= this.batchRows || this.pos >= this.batchBytes) this.seal();
  }

  private fail(_buf: Buffer, i: number, err: Error): Error {
    const key = this.keyOf(this.lineBuf!.subarray(this.lineS, this.lineE));
    const c = this.columns[i].column;
    if (err.message === 'NULL array') {
      return new ExtractError(
        `${this.table}: column ${c.name} is NULL in the row with key (${key.join(', ')}); an array column is a repeated field, which cannot tell NULL from empty: ` +
          `use --cast '${this.table}.${c.name}=coalesce("${c.name.replace(/"/g, '""')}", ''{}'')' if NULL may become empty, or --exclude-columns '${this.table}.${c.name}'`,
        { table: this.table, column: c.name },
      );
    }
    return new ExtractError(`${this.table}: column ${c.name}, row with key (${key.join(', ')}): ${err.message}`, { table: this.table, column: c.name }, { cause: err });
  }

  /** Key columns of a row (its line, without the newline) as text. */
  private keyOf(line: Buffer): string[] {
    const wanted = new Map<number, string>();
    const max = Math.max(...this.keyIndexes);
    let start = 0;
    for (let col = 0; col <= max && start <= line.length; col++) {
      let stop = line.indexOf(TAB, start);
      if (stop < 0) stop = line.length;
      if (this.keyIndexes.includes(col)) wanted.set(col, unescapeText(line, start, stop));
      start = stop + 1;
    }
    return this.keyIndexes.map((k) => wanted.get(k) ?? '');
  }

  // --- writing into the row message ---------------------------------------------------------

  reserve(n: number): void {
    if (this.sp + n > this.out.length) {
      const bigger = Buffer.allocUnsafe(Math.max(this.out.length * 2, this.sp + n));
      this.out.copy(bigger, 0, 0, this.sp);
      this.out = this.scratch = bigger;
    }
  }

  /** Copies buf[s..e) to the write position (short runs by hand: Buffer#copy costs more for them). */
  bytesFrom(buf: Buffer, s: number, e: number): void {
    const n = e - s;
    const out = this.out;
    let p = this.sp;
    if (n < 64) {
      for (let i = s; i < e; i++) out[p++] = buf[i];
    } else {
      buf.copy(out, p, s, e);
      p += n;
    }
    this.sp = p;
  }

  varint(v: number): void {
    const b = this.scratch;
    while (v > 127) {
      b[this.sp++] = (v % 128) | 128;
      v = Math.floor(v / 128);
    }
    b[this.sp++] = v;
  }

  /** A signed 64-bit value as protobuf's varint (negative values take ten bytes). */
  varint64(v: number | bigint): void {
    if (typeof v === 'number') {
      if (v >= 0) return this.varint(v);
      // Two's complement of a negative safe integer, as protobufjs' LongBits: ten bytes.
      let hi = Math.floor(v / 4294967296) >>> 0;
      let lo = (v - Math.floor(v / 4294967296) * 4294967296) >>> 0;
      const out = this.scratch;
      while (hi) {
        out[this.sp++] = (lo & 127) | 128;
        lo = ((lo >>> 7) | (hi << 25)) >>> 0;
        hi >>>= 7;
      }
      while (lo > 127) {
        out[this.sp++] = (lo & 127) | 128;
        lo >>>= 7;
      }
      out[this.sp++] = lo;
      return;
    }
    let u = BigInt.asUintN(64, v);
    const b = this.scratch;
    while (u > 127n) {
      b[this.sp++] = Number(u & 127n) | 128;
      u >>= 7n;
    }
    b[this.sp++] = Number(u);
  }
}

/** Wall-clock seconds and nanoseconds of `YYYY-MM-DD HH:MM:SS[.f…]` in buf[s..e); false for any other form. */
function wallClockBytes(buf: Buffer, s: number, e: number, out: { wallSeconds: number; nanos: number }): boolean {
  const n = e - s;
  if (n < 19 || n > 29 || buf[s + 4] !== 45 || buf[s + 7] !== 45 || buf[s + 10] !== 32 || buf[s + 13] !== 58 || buf[s + 16] !== 58) return false;
  if (n > 19 && (buf[s + 19] !== 46 || n === 20)) return false;
  const y = digits4(buf, s);
  const mo = two(buf, s + 5);
  const d = two(buf, s + 8);
  const h = two(buf, s + 11);
  const mi = two(buf, s + 14);
  const sec = two(buf, s + 17);
  // Any non-digit makes one of these NaN or out of range.
  if (!(y >= 0 && mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h >= 0 && h <= 24 && mi >= 0 && mi <= 59 && sec >= 0 && sec <= 60)) return false;
  let nanos = 0;
  for (let i = s + 20; i < e; i++) {
    const c = buf[i] - 48;
    if (c < 0 || c > 9) return false;
    nanos = nanos * 10 + c;
  }
  out.wallSeconds = daysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
  out.nanos = n > 20 ? nanos * NANO_SCALE[n - 20] : 0;
  return true;
}

const NANO_SCALE = [1e9, 1e8, 1e7, 1e6, 1e5, 1e4, 1e3, 100, 10, 1];

function digits4(buf: Buffer, i: number): number {
  return two(buf, i) * 100 + two(buf, i + 2);
}

/** Two decimal digits; NaN when either byte is not a digit. */
function two(buf: Buffer, i: number): number {
  const a = buf[i] - 48;
  const b = buf[i + 1] - 48;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : NaN;
}


function isDateText(buf: Buffer, s: number, e: number): boolean {
  if (e - s !== 10 || buf[s + 4] !== 45 || buf[s + 7] !== 45) return false;
  for (const i of [0, 1, 2, 3, 5, 6, 8, 9]) {
    const d = buf[s + i] - 48;
    if (d < 0 || d > 9) return false;
  }
  return true;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  throw new ValueError('bytea value is not in hex form');
}

function varintSize(v: number): number {
  let n = 1;
  while (v > 127) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

function varint64Size(v: number): number {
  return v < 0 ? 10 : varintSize(v);
}

const ESCAPES: Record<number, number> = { 98: 8, 102: 12, 110: 10, 114: 13, 116: 9, 118: 11 };

/** A COPY text field (without NULL) as the value's text: \\ \t \n \r \b \f \v undone. */
export function unescapeText(buf: Buffer, s: number, e: number): string {
  if (buf.subarray(s, e).indexOf(BACKSLASH) < 0) return buf.toString('utf8', s, e);
  const out = Buffer.allocUnsafe(e - s);
  let p = 0;
  let i = s;
  while (i < e) {
    const b = buf[i];
    if (b !== BACKSLASH) {
      out[p++] = b;
      i++;
      continue;
    }
    const next = buf[i + 1];
    if (next >= 48 && next <= 55) {
      // \ooo (COPY TO does not write these, COPY FROM reads them)
      let v = 0;
      let k = i + 1;
      while (k < e && k < i + 4 && buf[k] >= 48 && buf[k] <= 55) v = v * 8 + (buf[k++] - 48);
      out[p++] = v & 255;
      i = k;
      continue;
    }
    out[p++] = ESCAPES[next] ?? next;
    i += 2;
  }
  return out.toString('utf8', 0, p);
}

type PgConnection = {
  stream: NodeJS.ReadableStream & { listeners(event: 'data'): Array<(data: Buffer) => void>; read(): Buffer | null };
  query(text: string): void;
};

/**
 * `COPY … TO STDOUT` on a pg client (a pg Submittable), reading the socket itself while the COPY
 * runs, as pg-copy-streams does, but without a Buffer per row: each CopyData message (one row)
 * goes from the socket's chunk straight to the encoder. The socket is read only when rows are
 * asked for (`read`), so a slow consumer holds the server back. At CopyDone or an error the
 * connection is handed back to pg, which reads the rest (CommandComplete, ReadyForQuery, the error).
 */
export class CopyOutQuery {
  private connection?: PgConnection;
  private pgHandler?: (data: Buffer) => void;
  private error?: Error;
  /** CopyDone (or an error) has been seen: the rest of the data is pg's. */
  private detached = false;
  private finished = false;
  private wake?: () => void;
  private tail: Buffer[] = [];
  private tailLen = 0;
  private tailNeed = 0;
  private readonly onReadable = () => this.wake?.();

  constructor(
    private readonly text: string,
    private readonly onRow: (buf: Buffer, s: number, e: number) => void,
  ) {}

  submit(connection: PgConnection): void {
    this.connection = connection;
    const stream = connection.stream;
    const listeners = stream.listeners('data');
    if (listeners.length !== 1) throw new Error('pg connection has an unexpected number of data listeners');
    this.pgHandler = listeners[0];
    stream.removeListener('data', this.pgHandler);
    stream.pause();
    stream.on('readable', this.onReadable);
    connection.query(this.text);
  }

  // pg calls these for the messages it reads after the connection is handed back.
  handleError(err: Error): void {
    this.error ??= err;
    this.detach(Buffer.alloc(0));
    this.wake?.();
  }
  handleCommandComplete(): void {}
  handleReadyForQuery(): void {
    this.finished = true;
    this.wake?.();
  }

  /**
   * Reads what the socket holds (waiting for data if it holds none) and passes its rows on.
   * Returns false once the COPY is over; throws its error.
   */
  async read(stop: () => boolean): Promise<boolean> {
    for (;;) {
      if (this.error) throw this.error;
      if (this.detached) {
        if (this.finished) return false;
        await new Promise<void>((resolve) => (this.wake = resolve));
        continue;
      }
      const chunk = this.connection!.stream.read();
      if (chunk === null) {
        await new Promise<void>((resolve) => (this.wake = resolve));
        continue;
      }
      this.feed(chunk as Buffer, stop);
      return true;
    }
  }

  private feed(chunk: Buffer, stop: () => boolean): void {
    let pos = 0;
    if (this.tailLen > 0) {
      // A message split across chunks: complete its header, then its body.
      if (this.tailNeed === 0) {
        const take = Math.min(5 - this.tailLen, chunk.length);
        this.tail.push(chunk.subarray(0, take));
        this.tailLen += take;
        pos = take;
        if (this.tailLen < 5) return;
        const head = Buffer.concat(this.tail);
        this.tail = [head];
        this.tailNeed = 1 + head.readUInt32BE(1);
      }
      const take = Math.min(this.tailNeed - this.tailLen, chunk.length - pos);
      this.tail.push(chunk.subarray(pos, pos + take));
      this.tailLen += take;
      pos += take;
      if (this.tailLen < this.tailNeed) return;
      const message = Buffer.concat(this.tail, this.tailNeed);
      this.tail = [];
      this.tailLen = 0;
      this.tailNeed = 0;
      if (!this.message(message, 0)) {
        this.detach(Buffer.concat([message[0] === 0x63 ? Buffer.alloc(0) : message, chunk.subarray(pos)]));
        return;
      }
      if (stop()) return;
    }
    const n = chunk.length;
    while (pos + 5 <= n) {
      const end = pos + 1 + chunk.readUInt32BE(pos + 1);
      if (end > n) break;
      if (!this.message(chunk, pos)) {
        this.detach(chunk.subarray(chunk[pos] === 0x63 ? end : pos));
        return;
      }
      pos = end;
      if (stop()) return;
    }
    if (pos < n) {
      this.tail = [chunk.subarray(pos)];
      this.tailLen = n - pos;
      this.tailNeed = this.tailLen >= 5 ? 1 + chunk.readUInt32BE(pos + 1) : 0;
    }
  }

  /** Handles the message at buf[pos]; false when the COPY's part is over (CopyDone, an error, anything else). */
  private message(buf: Buffer, pos: number): boolean {
    const type = buf[pos];
    const end = pos + 1 + buf.readUInt32BE(pos + 1);
    switch (type) {
      case 0x64: // CopyData: one row, with its newline
        this.onRow(buf, pos + 5, buf[end - 1] === 10 ? end - 1 : end);
        return true;
      case 0x48: // CopyOutResponse
      case 0x4e: // NoticeResponse
      case 0x53: // ParameterStatus
      case 0x41: // NotificationResponse
        return true;
      default: // CopyDone 'c' (consumed here), or ErrorResponse 'E' and anything else (left for pg)
        return false;
    }
  }

  /** Gives the connection back to pg with the bytes it has to read first. */
  private detach(rest: Buffer): void {
    if (this.detached || !this.connection) return;
    this.detached = true;
    const stream = this.connection.stream;
    stream.removeListener('readable', this.onReadable);
    stream.on('data', this.pgHandler!);
    if (rest.length) this.pgHandler!(rest);
    process.nextTick(() => stream.resume());
  }
}
