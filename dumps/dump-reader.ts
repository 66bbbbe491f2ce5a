// Reads a dump with nothing but the file: the header carries the record schema, the trailer the
// block index. Members are located by hopping over their gzip headers, so a reader can start at
// any block and damage is reported with the file, block and byte offset where it is.
import { open, type FileHandle } from 'node:fs/promises';
import zlib from 'node:zlib';
import protobuf from 'protobufjs';
import { fromDescriptorSet } from './descriptors.ts';
import { DumpError } from './errors.ts';
import { fsReason } from '../lib/output-dir.ts';
import { FramingError, MAX_RECORD_BYTES, unframe } from './framing.ts';
import { MEMBER_HEADER_BYTES, inflateMember, parseMemberHeader, type MemberKind } from './gzip-member.ts';
import { FORMAT_VERSION, decodeHeader, decodeTrailer, type BlockInfo, type DumpHeader, type DumpTrailer } from './header.ts';

export interface BlockRange {
  /** First block to read (0-based). */
  fromBlock?: number;
  /** Block after the last one to read. */
  toBlock?: number;
}

interface Member {
  kind: MemberKind;
  offset: number;
  size: number;
}

export class DumpReader {
  readonly root: protobuf.Root;
  readonly recordType: protobuf.Type;

  private constructor(
    readonly file: string,
    private readonly fh: FileHandle,
    readonly header: DumpHeader,
    readonly trailer: DumpTrailer,
    readonly fileBytes: number,
  ) {
    try {
      this.root = fromDescriptorSet(header.descriptorSet);
      this.recordType = this.root.lookupType(header.recordType);
    } catch (err) {
      throw new DumpError(`the header's record schema does not load: ${(err as Error).message}`, { file, offset: 0 }, { cause: err });
    }
  }

  /** Opens a dump and checks its structure (not yet the block contents: see `verify`). */
  static async open(file: string): Promise<DumpReader> {
    let fh: FileHandle;
    try {
      fh = await open(file, 'r');
    } catch (err) {
      throw new DumpError(`cannot open (${fsReason(err)})`, { file }, { cause: err });
    }
    try {
      const stats = await fh.stat();
      if (stats.isDirectory()) throw new DumpError('is a folder, not a dump file: pass a .pb.gz file (dump verify also takes a folder)', { file });
      const size = stats.size;
      const members = await walkMembers(fh, file, size);
      const header = decodeHeaderMember(file, await readFramedMember(fh, file, members[0], 0));
      const last = members[members.length - 1];
      if (members.length < 2 || last.kind !== 'T') {
        throw new DumpError(
          `incomplete dump: the file ends after ${members.length - 1} block(s) without a trailer; re-run the step that wrote it`,
          { file, offset: size },
        );
      }
      const trailer = decodeTrailer(await readFramedMember(fh, file, last, members.length - 2));
      checkIndex(file, members, trailer);
      return new DumpReader(file, fh, header, trailer, size);
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  get blocks(): BlockInfo[] {
    return this.trailer.blocks;
  }

  /** Reads and inflates one block; gzip's CRC-32 and the trailer's checksum are both checked. */
  async readBlock(index: number): Promise<Buffer> {
    const block = this.blocks[index];
    if (!block) throw new DumpError(`no block ${index} (the dump has ${this.blocks.length})`, { file: this.file });
    const raw = Buffer.allocUnsafe(block.compressedBytes);
    await readFully(this.fh, raw, block.offset);
    let payload: Buffer;
    try {
      payload = await inflateMember(raw);
    } catch (err) {
      throw new DumpError(`corrupt block (${(err as Error).message})`, { file: this.file, block: index, offset: block.offset }, { cause: err });
    }
    if (payload.length !== block.uncompressedBytes) {
      throw new DumpError(`block holds ${payload.length} bytes, the trailer says ${block.uncompressedBytes}`, { file: this.file, block: index, offset: block.offset });
    }
    // gzip checked the member against its own CRC; this catches a whole member that is intact but
    // not the one the trailer indexed here (e.g. blocks copied between files or reordered).
    if (zlib.crc32(payload) !== block.crc32) {
      throw new DumpError(`block content does not match the trailer's checksum`, { file: this.file, block: index, offset: block.offset });
    }
    return payload;
  }

  /** Decodes the records of one inflated block, checking the count against the trailer. */
  *decodeBlock(index: number, payload: Uint8Array): Generator<protobuf.Message> {
    const block = this.blocks[index];
    let count = 0;
    try {
      for (const bytes of unframe(payload, MAX_RECORD_BYTES)) {
        let message: protobuf.Message;
        try {
          message = this.recordType.decode(bytes);
        } catch (err) {
          throw new DumpError(`record does not decode as ${this.header.recordType}: ${(err as Error).message}`, {
            file: this.file, block: index, record: count, offset: block.offset,
          });
        }
        count++;
        yield message;
      }
    } catch (err) {
      if (err instanceof FramingError) {
        throw new DumpError(`${err.message} (at byte ${err.offset} of the inflated block)`, { file: this.file, block: index, offset: block.offset });
      }
      throw err;
    }
    if (count !== block.records) {
      throw new DumpError(`block holds ${count} records, the trailer says ${block.records}`, { file: this.file, block: index, offset: block.offset });
    }
  }

  /** All records of a block range, in file order; the next block is read while this one is decoded. */
  async *records(range: BlockRange = {}): AsyncGenerator<protobuf.Message> {
    const from = range.fromBlock ?? 0;
    const to = Math.min(range.toBlock ?? this.blocks.length, this.blocks.length);
    let next = from < to ? this.readBlock(from) : undefined;
    for (let i = from; i < to; i++) {
      const payload = await next!;
      next = i + 1 < to ? this.readBlock(i + 1) : undefined;
      next?.catch(() => undefined); // reported when awaited
      yield* this.decodeBlock(i, payload);
    }
  }

  /** A record as a plain JSON-safe object: int64 as strings, bytes as base64, NULL as null. */
  toPlain(message: protobuf.Message): Record<string, unknown> {
    return toPlain(this.recordType, message);
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

/** Opens `file`, yields every record (optionally of a block range), and closes the file. */
export async function* readDump(file: string, range?: BlockRange): AsyncGenerator<protobuf.Message> {
  const reader = await DumpReader.open(file);
  try {
    yield* reader.records(range);
  } finally {
    await reader.close();
  }
}

export function toPlain(type: protobuf.Type, message: protobuf.Message): Record<string, unknown> {
  const plain = type.toObject(message, { longs: String, bytes: String, enums: String, defaults: true, oneofs: false });
  for (const field of type.fieldsArray) {
    // proto3 `optional` fields are how NULL is kept: an unset one is NULL, not zero or empty.
    if (field.partOf && !(field.name in (message as object) && Object.prototype.hasOwnProperty.call(message, field.name))) {
      plain[field.name] = null;
    }
  }
  return plain;
}

async function walkMembers(fh: FileHandle, file: string, size: number): Promise<Member[]> {
  if (size === 0) throw new DumpError('empty file, not a ferry dump', { file, offset: 0 });
  const members: Member[] = [];
  const head = Buffer.alloc(MEMBER_HEADER_BYTES);
  let offset = 0;
  while (offset < size) {
    const got = await readAtMost(fh, head, offset);
    const parsed = parseMemberHeader(head.subarray(0, got));
    const block = members.length - 1;
    if (typeof parsed === 'string') {
      if (members.length === 0) throw new DumpError(parsed, { file, offset });
      throw new DumpError(`${got < MEMBER_HEADER_BYTES ? 'truncated' : 'corrupt'} dump: ${parsed} after block ${block}`, { file, block: block + 1, offset });
    }
    if (offset + parsed.size > size) {
      throw new DumpError(
        `truncated dump: the member declares ${parsed.size} bytes but the file ends after ${size - offset}; re-run the step that wrote it`,
        { file, block: members.length === 0 ? undefined : block, offset },
      );
    }
    if (members.length === 0 && parsed.kind !== 'H') throw new DumpError('not a ferry dump: no header first', { file, offset });
    members.push({ kind: parsed.kind, offset, size: parsed.size });
    offset += parsed.size;
    if (parsed.kind === 'T' && offset < size) throw new DumpError(`${size - offset} bytes after the trailer`, { file, offset });
  }
  return members;
}

/** Reads a header or trailer member: exactly one delimited message. */
async function readFramedMember(fh: FileHandle, file: string, m: Member, block: number): Promise<Uint8Array> {
  const raw = Buffer.allocUnsafe(m.size);
  await readFully(fh, raw, m.offset);
  const what = m.kind === 'H' ? 'header' : 'trailer';
  let payload: Buffer;
  try {
    payload = await inflateMember(raw);
  } catch (err) {
    throw new DumpError(`corrupt ${what} (${(err as Error).message})`, { file, block: m.kind === 'T' ? block : undefined, offset: m.offset }, { cause: err });
  }
  try {
    const messages = [...unframe(payload, MAX_RECORD_BYTES)];
    if (messages.length !== 1) throw new FramingError(`${messages.length} messages where one ${what} was expected`, 0);
    return messages[0];
  } catch (err) {
    throw new DumpError(`corrupt ${what}: ${(err as Error).message}`, { file, offset: m.offset }, { cause: err });
  }
}

function decodeHeaderMember(file: string, bytes: Uint8Array): DumpHeader {
  let header: DumpHeader;
  try {
    header = decodeHeader(bytes);
  } catch (err) {
    throw new DumpError(`not a ferry dump: the header does not decode (${(err as Error).message})`, { file, offset: 0 });
  }
  if (header.formatVersion > FORMAT_VERSION) {
    throw new DumpError(`dump format version ${header.formatVersion} is newer than this ferry reads (${FORMAT_VERSION}); upgrade ferry`, { file, offset: 0 });
  }
  if (header.formatVersion < 1 || !header.recordType) throw new DumpError('not a ferry dump: header without format version or record type', { file, offset: 0 });
  return header;
}

function checkIndex(file: string, members: Member[], trailer: DumpTrailer): void {
  const blocks = members.slice(1, -1);
  if (blocks.length !== trailer.blocks.length) {
    throw new DumpError(`the file has ${blocks.length} blocks, its trailer lists ${trailer.blocks.length}`, { file });
  }
  let records = 0;
  blocks.forEach((m, i) => {
    const b = trailer.blocks[i];
    if (m.kind !== 'B' || b.offset !== m.offset || b.compressedBytes !== m.size || b.firstRecord !== records) {
      throw new DumpError(`block index in the trailer does not match the file`, { file, block: i, offset: m.offset });
    }
    records += b.records;
  });
  if (records !== trailer.records) throw new DumpError(`trailer counts ${trailer.records} records, its blocks ${records}`, { file });
}

async function readFully(fh: FileHandle, buf: Buffer, position: number): Promise<void> {
  const got = await readAtMost(fh, buf, position);
  if (got < buf.length) throw new Error(`short read at ${position}`);
}

async function readAtMost(fh: FileHandle, buf: Buffer, position: number): Promise<number> {
  let got = 0;
  while (got < buf.length) {
    const { bytesRead } = await fh.read(buf, got, buf.length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got;
}
