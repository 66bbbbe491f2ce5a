// Reading back what a killed run left in a dump's partial file. The writer puts whole gzip
// members on disk (header, then blocks); a kill can cut the last one short. Every complete block
// is good data, checked by gzip's CRC-32; `--resume` re-writes the rows up to the newest
// checkpoint covered by complete blocks and asks the database only for the rest.
import { open, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type protobuf from 'protobufjs';
import { unframe } from '../dumps/framing.ts';
import { MEMBER_HEADER_BYTES, inflateMember, parseMemberHeader } from '../dumps/gzip-member.ts';

/** Partial files left for `file` by earlier writers (any process), oldest name first. */
export async function partialsOf(file: string): Promise<string[]> {
  const dir = path.dirname(file);
  const prefix = `.${path.basename(file)}.partial-`;
  const names = await readdir(dir).catch(() => [] as string[]);
  return names.filter((n) => n.startsWith(prefix)).sort().map((n) => path.join(dir, n));
}

/** Inflated record blocks of a partial file, in order, stopping at the first incomplete or damaged one. */
async function* completeBlocks(file: string): AsyncGenerator<Buffer> {
  const fh = await open(file, 'r');
  try {
    const size = (await fh.stat()).size;
    let offset = 0;
    const head = Buffer.alloc(MEMBER_HEADER_BYTES);
    while (offset + MEMBER_HEADER_BYTES <= size) {
      await fh.read(head, 0, MEMBER_HEADER_BYTES, offset);
      const member = parseMemberHeader(head);
      if (typeof member === 'string' || offset + member.size > size) return;
      if (member.kind === 'B') {
        const raw = Buffer.allocUnsafe(member.size);
        await fh.read(raw, 0, member.size, offset);
        let payload: Buffer;
        try {
          payload = await inflateMember(raw);
        } catch {
          return;
        }
        yield payload;
      } else if (member.kind === 'T') {
        return;
      }
      offset += member.size;
    }
  } finally {
    await fh.close();
  }
}

/** Number of records in the complete blocks of a partial file. */
export async function durableRecords(file: string): Promise<number> {
  let n = 0;
  try {
    for await (const block of completeBlocks(file)) for (const _ of unframe(block)) n++;
  } catch {
    // A block that inflates but does not frame is damage: count what came before it.
  }
  return n;
}

/** The first `count` records of a partial file, decoded with the dump's record type. */
export async function* salvagedRecords(file: string, type: protobuf.Type, count: number): AsyncGenerator<protobuf.Message> {
  let n = 0;
  if (n >= count) return;
  for await (const block of completeBlocks(file)) {
    for (const bytes of unframe(block)) {
      yield type.decode(bytes);
      if (++n >= count) return;
    }
  }
  if (n < count) throw new Error(`${file}: only ${n} of ${count} records could be read back`);
}

/**
 * The first `count` records of a partial file as the blocks they were written in (framed record
 * bytes, unchanged), so that a resumed dump gets the very blocks of an uninterrupted run. `count`
 * falls on a block boundary (checkpoints are at chunk ends, which end blocks); were it not to, the
 * last block is cut after record `count`.
 */
export async function* salvagedBlocks(file: string, count: number): AsyncGenerator<{ framed: Uint8Array; records: number }> {
  let n = 0;
  if (n >= count) return;
  for await (const block of completeBlocks(file)) {
    let records = 0;
    let end = 0;
    for (const bytes of unframe(block)) {
      records++;
      end = bytes.byteOffset - block.byteOffset + bytes.length;
      if (n + records >= count) break;
    }
    n += records;
    yield { framed: end === block.length ? block : block.subarray(0, end), records };
    if (n >= count) return;
  }
  if (n < count) throw new Error(`${file}: only ${n} of ${count} records could be read back`);
}

/**
 * Moves the partial files of `file` out of the way of this process's writer (whose temporary name
 * may be the same when a pid is reused) and returns their new names, best first.
 */
export async function claimPartials(file: string): Promise<Array<{ file: string; records: number }>> {
  const found = await partialsOf(file);
  const claimed: Array<{ file: string; records: number }> = [];
  let n = 0;
  for (const f of found) {
    let target: string;
    do target = `${file.replace(/[^/]*$/, '')}.${path.basename(file)}.partial-salvage-${process.pid}-${n++}`;
    while (found.includes(target));
    await rename(f, target);
    claimed.push({ file: target, records: await durableRecords(target) });
  }
  return claimed.sort((a, b) => b.records - a.records);
}

export async function removeAll(files: string[]): Promise<void> {
  await Promise.all(files.map((f) => rm(f, { force: true })));
}
