// Varint length-prefixed ("delimited") framing, as in Java's writeDelimitedTo and protobufjs'
// encodeDelimited: each message is preceded by its byte length as an unsigned varint.

/** Records longer than this are refused: a corrupt length prefix must not allocate gigabytes. */
export const MAX_RECORD_BYTES = 256 * 1024 * 1024;

export class FramingError extends Error {
  constructor(
    message: string,
    /** Offset in the buffer where the bad frame starts. */
    readonly offset: number,
  ) {
    super(message);
    this.name = 'FramingError';
  }
}

/** Reads an unsigned varint at `offset`; returns value and bytes used, or undefined if cut short. */
export function readVarint(buf: Uint8Array, offset: number): { value: number; length: number } | undefined {
  let value = 0;
  let multiplier = 1;
  for (let i = 0; i < 10; i++) {
    if (offset + i >= buf.length) return undefined;
    const byte = buf[offset + i];
    value += (byte & 0x7f) * multiplier;
    if ((byte & 0x80) === 0) return { value, length: i + 1 };
    multiplier *= 128;
  }
  throw new FramingError('varint longer than 10 bytes', offset);
}

export function encodeVarint(value: number): Uint8Array {
  const bytes: number[] = [];
  while (value > 0x7f) {
    bytes.push((value % 128) | 0x80);
    value = Math.floor(value / 128);
  }
  bytes.push(value);
  return Uint8Array.from(bytes);
}

/**
 * The offset just past the delimited record that starts at `offset` (its length prefix read in
 * place: no object per record, for walking buffers of whole records this process framed itself).
 */
export function frameEnd(buf: Uint8Array, offset: number): number {
  let len = 0;
  let multiplier = 1;
  let b: number;
  do {
    b = buf[offset++];
    len += (b & 0x7f) * multiplier;
    multiplier *= 128;
  } while (b & 0x80 && offset < buf.length);
  return offset + len;
}

/** Prefixes one message with its length. */
export function frame(message: Uint8Array): Uint8Array {
  const prefix = encodeVarint(message.length);
  const out = new Uint8Array(prefix.length + message.length);
  out.set(prefix, 0);
  out.set(message, prefix.length);
  return out;
}

/**
 * Walks a buffer that holds whole delimited messages, one record at a time: `start` and `end` are
 * the current record's bytes. A buffer that ends inside a length prefix or inside a message is an
 * error: callers hand in complete blocks, so trailing bytes mean damage. (No object per record, for
 * readers that decode records in place.)
 */
export class FrameCursor {
  start = 0;
  end = 0;

  constructor(private readonly buf: Uint8Array, private readonly maxRecordBytes = MAX_RECORD_BYTES) {}

  /** Moves to the next record; false past the last one. */
  next(): boolean {
    const { buf, maxRecordBytes } = this;
    const offset = this.end;
    if (offset >= buf.length) return false;
    const prefix = readVarint(buf, offset);
    if (!prefix) throw new FramingError(`${buf.length - offset} trailing bytes end inside a length prefix`, offset);
    if (prefix.value > maxRecordBytes) {
      throw new FramingError(`record of ${prefix.value} bytes is longer than the maximum of ${maxRecordBytes}`, offset);
    }
    const start = offset + prefix.length;
    const end = start + prefix.value;
    if (end > buf.length) {
      throw new FramingError(`record of ${prefix.value} bytes is cut off after ${buf.length - start} bytes`, offset);
    }
    this.start = start;
    this.end = end;
    return true;
  }
}

/** Splits a buffer that holds whole delimited messages, with FrameCursor's checks. */
export function* unframe(buf: Uint8Array, maxRecordBytes = MAX_RECORD_BYTES): Generator<Uint8Array> {
  const records = new FrameCursor(buf, maxRecordBytes);
  while (records.next()) yield buf.subarray(records.start, records.end);
}
