// Encodes ferry.event.Envelope records (schemas/ferry/event.proto), length-delimited, straight
// into one growing buffer per block: the hot path of a transform. It writes exactly the bytes
// protobufjs' generated encoder writes for the same envelope (fields in number order, proto3
// defaults left out), which a test checks, but without building an envelope object per event,
// without turning the event id into a string (its hex digits are written from the digest), and
// with the bytes of the strings that repeat (event type, payload type, table, aggregate type)
// encoded once.
import protobuf from 'protobufjs';
import { writeUuidHex } from './ids.ts';

const utf8 = (protobuf.util as unknown as { utf8: { length(s: string): number; write(s: string, buf: Uint8Array, pos: number): number } }).utf8;

/** A string field, tag and length included, ready to copy. */
export function stringField(fieldNumber: number, value: string): Uint8Array {
  const w = protobuf.Writer.create();
  if (value !== '') w.uint32((fieldNumber << 3) | 2).string(value);
  return w.finish();
}

export interface EnvelopeHead {
  /** UUID bytes of the event id (first 16 bytes). */
  id: Uint8Array;
  /** Field 2 (type), encoded. */
  type: Uint8Array;
  seconds: number;
  nanos: number;
  /** Field 4 (aggregate_type), encoded. */
  aggregateType: Uint8Array;
  aggregateId: string;
  /** Field 1 of Source (table), encoded. */
  table: Uint8Array;
  key: string;
  index: number;
  schemaVersion: number;
  /** Field 8 (payload_type), encoded. */
  payloadType: Uint8Array;
}

/**
 * An envelope is written in steps: head (fields 1 to 8), then the payload (field 9) either from a
 * protobufjs writer (payloadFrom) or encoded in place (beginPayload, the fields, endPayload), then end.
 */
export class EnvelopeWriter {
  buf: Buffer;
  pos = 0;
  private envelopeAt = 0;
  private payloadAt = 0;

  constructor(initialBytes = 1 << 20) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  /** Starts an envelope: its length prefix and fields 1 to 8. */
  head(e: EnvelopeHead): void {
    // Upper bound of everything but the two strings, which reserve their own room.
    this.reserve(64 + e.type.length + e.aggregateType.length + e.table.length + e.payloadType.length);
    const buf = this.buf;
    // The envelope's length prefix: two bytes reserved (most envelopes are 128 B to 16 KiB), moved if not.
    const start = this.pos;
    this.envelopeAt = start;
    let p = start + 2;
    buf[p++] = 0x0a; // 1: id
    buf[p++] = 36;
    writeUuidHex(e.id, buf, p);
    p += 36;
    buf.set(e.type, p);
    p += e.type.length;
    // 3: occurred_at (google.protobuf.Timestamp; at most 22 bytes, so a one-byte length)
    buf[p++] = 0x1a;
    const tsAt = p++;
    if (e.seconds !== 0) {
      buf[p++] = 0x08;
      p = writeInt64(buf, p, e.seconds);
    }
    if (e.nanos !== 0) {
      buf[p++] = 0x10;
      p = writeInt32(buf, p, e.nanos);
    }
    buf[tsAt] = p - tsAt - 1;
    buf.set(e.aggregateType, p);
    p += e.aggregateType.length;
    this.pos = p;
    if (e.aggregateId !== '') {
      this.reserve(1);
      this.buf[this.pos++] = 0x2a; // 5: aggregate_id
      this.string(e.aggregateId);
    }
    // 6: source (a one-byte length reserved: table and key are usually short)
    this.reserve(8 + e.table.length);
    this.buf[this.pos++] = 0x32;
    const sourceAt = this.pos;
    this.pos += 1;
    this.buf.set(e.table, this.pos);
    this.pos += e.table.length;
    if (e.key !== '') {
      this.buf[this.pos++] = 0x12;
      this.string(e.key);
    }
    this.reserve(16 + e.payloadType.length);
    if (e.index !== 0) {
      this.buf[this.pos++] = 0x18;
      this.pos = writeVarint32(this.buf, this.pos, e.index >>> 0);
    }
    this.backfill(sourceAt, 1);
    if (e.schemaVersion !== 0) {
      this.buf[this.pos++] = 0x38; // 7: schema_version
      this.pos = writeVarint32(this.buf, this.pos, e.schemaVersion >>> 0);
    }
    this.buf.set(e.payloadType, this.pos);
    this.pos += e.payloadType.length;
  }

  /** Field 9 from a payload encoded by protobufjs into `w` (w.buf[0, w.pos)). */
  payloadFrom(w: protobuf.Writer): void {
    const length = w.pos;
    if (length === 0) return;
    this.reserve(6 + length);
    this.buf[this.pos++] = 0x4a;
    this.pos = writeVarint32(this.buf, this.pos, length);
    this.buf.set(w.buf.subarray(0, length), this.pos);
    this.pos += length;
  }

  /** Starts field 9, for a payload encoded in place with the field methods below. */
  beginPayload(): void {
    this.reserve(3);
    this.payloadAt = this.pos;
    this.buf[this.pos] = 0x4a;
    this.pos += 3;
  }

  endPayload(): void {
    const at = this.payloadAt;
    // An all-default payload encodes to nothing, and protobufjs then leaves field 9 out.
    if (this.pos === at + 3) this.pos = at;
    else this.backfill(at + 1, 2);
  }

  /** Ends the envelope: its length prefix. */
  end(): void {
    this.backfill(this.envelopeAt, 2);
  }

  // Field methods for generated payload encoders: `tag` is the field's key byte(s) as a varint.
  tag(tag: number): void {
    this.reserve(16);
    this.pos = writeVarint32(this.buf, this.pos, tag);
  }

  uint32(v: number): void {
    this.reserve(5);
    this.pos = writeVarint32(this.buf, this.pos, v >>> 0);
  }

  int32(v: number): void {
    this.reserve(10);
    this.pos = writeInt32(this.buf, this.pos, v);
  }

  sint32(v: number): void {
    this.uint32(((v << 1) ^ (v >> 31)) >>> 0);
  }

  /** int64/uint64 from its two's complement halves. */
  varint64(lo: number, hi: number): void {
    this.reserve(10);
    this.pos = writeVarint64(this.buf, this.pos, lo >>> 0, hi >>> 0);
  }

  /** int64/uint64 from a JS integer. */
  int64(v: number): void {
    this.reserve(10);
    this.pos = writeInt64(this.buf, this.pos, v);
  }

  fixed32(v: number): void {
    this.reserve(4);
    this.buf.writeUInt32LE(v >>> 0, this.pos);
    this.pos += 4;
  }

  double(v: number): void {
    this.reserve(8);
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
  }

  float(v: number): void {
    this.reserve(4);
    this.buf.writeFloatLE(v, this.pos);
    this.pos += 4;
  }

  bool(v: boolean): void {
    this.reserve(1);
    this.buf[this.pos++] = v ? 1 : 0;
  }

  /** A google.protobuf.Timestamp sub-message (tag written by the caller). */
  timestamp(seconds: number, nanos: number): void {
    this.reserve(24);
    const buf = this.buf;
    const at = this.pos;
    let p = at + 1;
    if (seconds !== 0) {
      buf[p++] = 0x08;
      p = writeInt64(buf, p, seconds);
    }
    if (nanos !== 0) {
      buf[p++] = 0x10;
      p = writeInt32(buf, p, nanos);
    }
    buf[at] = p - at - 1;
    this.pos = p;
  }

  /** The envelopes written so far, in a buffer of their own (transferable), and starts over. */
  finish(): Uint8Array {
    // Not zero-filled first (every byte is copied over), and not a pooled slice: it is transferred.
    const out = Buffer.allocUnsafeSlow(this.pos);
    this.buf.copy(out, 0, 0, this.pos);
    this.pos = 0;
    return out;
  }

  /** Writes a length-delimited string at pos (as protobufjs does: its own UTF-8 below 40 characters, Buffer's above). */
  string(s: string): void {
    const n = s.length;
    this.reserve(n * 3 + 5);
    const buf = this.buf;
    if (n < 0x80) {
      const at = this.pos;
      let p = at + 1;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        buf[p++] = c;
      }
      if (i === n) {
        buf[at] = n;
        this.pos = p;
        return;
      }
      const len = n < 40 ? utf8.write(s, buf, at + 1) : buf.write(s, at + 1, 'utf8');
      this.pos = at + 1;
      this.backfill(at, 1, len);
      return;
    }
    const len = Buffer.byteLength(s);
    this.pos = writeVarint32(buf, this.pos, len);
    buf.write(s, this.pos, 'utf8');
    this.pos += len;
  }

  /**
   * Writes the length of what follows a `reserved`-byte gap at `at` (up to this.pos, or `length`
   * bytes) into the gap, moving the content when its varint needs another size.
   */
  private backfill(at: number, reserved: number, length = this.pos - at - reserved): void {
    const n = varint32Size(length);
    if (n !== reserved) {
      this.reserve(n - reserved);
      this.buf.copyWithin(at + n, at + reserved, at + reserved + length);
    }
    writeVarint32(this.buf, at, length);
    this.pos = at + n + length;
  }

  private reserve(more: number): void {
    const needed = this.pos + more;
    if (needed <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(needed, this.buf.length * 2));
    this.buf.copy(bigger, 0, 0, this.pos);
    this.buf = bigger;
  }
}

function varint32Size(v: number): number {
  return v < 128 ? 1 : v < 16384 ? 2 : v < 2097152 ? 3 : v < 268435456 ? 4 : 5;
}

function writeVarint32(buf: Uint8Array, pos: number, v: number): number {
  while (v > 127) {
    buf[pos++] = (v & 127) | 128;
    v >>>= 7;
  }
  buf[pos++] = v;
  return pos;
}

/** A 64-bit varint from its low and high 32 bits (unsigned). */
function writeVarint64(buf: Uint8Array, pos: number, lo: number, hi: number): number {
  while (hi) {
    buf[pos++] = (lo & 127) | 128;
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi >>>= 7;
  }
  return writeVarint32(buf, pos, lo);
}

/** int64 from a JS integer, two's complement for negatives (as protobufjs' LongBits.fromNumber). */
function writeInt64(buf: Uint8Array, pos: number, v: number): number {
  if (v >= 0 && v <= 0xffffffff) return writeVarint32(buf, pos, v);
  const hi = Math.floor(v / 4294967296);
  return writeVarint64(buf, pos, (v - hi * 4294967296) >>> 0, hi >>> 0);
}

/** int32: negatives sign-extended to ten bytes (as protobufjs). */
function writeInt32(buf: Uint8Array, pos: number, v: number): number {
  return v < 0 ? writeVarint64(buf, pos, v >>> 0, 0xffffffff) : writeVarint32(buf, pos, v >>> 0);
}
