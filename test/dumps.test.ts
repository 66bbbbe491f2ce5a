import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { open, readdir, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it, beforeAll } from 'vitest';
import {
  DumpError, DumpReader, MAX_RECORD_BYTES, fromDescriptorSet, parseProto, readDump, toDescriptorSet, trustDumpStrings, verifyDump, writeDump, type HeaderInit,
} from '../dumps/index.ts';
import { frame, encodeVarint, unframe } from '../dumps/framing.ts';
import { encodeMember } from '../dumps/gzip-member.ts';
import { FORMAT_VERSION, HeaderType, decodeHeader, decodeTrailer, encodeHeader, encodeTrailer } from '../dumps/header.ts';
import { ROOT, runFerry, tempDir } from './helpers.ts';

const PROTO = `
syntax = "proto3";
package legacy.dbo;
message Member {
  int32 id = 1;
  optional int64 big = 2;
  optional string nickname = 3;
  optional google.protobuf.Timestamp registered_at = 4;
  optional bytes photo = 5;
  optional string balance = 6;
  optional bool active = 7;
  optional double score = 8;
}`;

const root = parseProto([PROTO]);
const header: HeaderInit = {
  kind: 'TABLE',
  name: 'dbo.Member',
  recordType: 'legacy.dbo.Member',
  descriptorSet: toDescriptorSet(root),
  primaryKey: ['Id'],
  columns: [
    { name: 'Id', sqlType: 'int', nullable: false, field: 'id', fieldNumber: 1 },
    { name: 'Big', sqlType: 'bigint', nullable: true, field: 'big', fieldNumber: 2 },
  ],
  origin: { source: 'postgres', server: '127.0.0.1:5432', database: 'legacy', query: 'SELECT ...' },
};

const LONG_TEXT = 'Åsa Öberg ja Jyväskylä 🚢 '.repeat(40_000); // ~1 MB of unicode

function member(i: number) {
  return {
    id: i,
    big: i % 3 === 0 ? undefined : (9007199254740993n + BigInt(i)).toString(),
    nickname: i % 5 === 0 ? undefined : i === 7 ? LONG_TEXT : i % 2 ? `Äijä-${i}` : '',
    registered_at: i % 4 === 0 ? undefined : { seconds: 1_600_000_000 + i, nanos: 123_456_700 },
    photo: i % 6 === 0 ? undefined : i % 7 === 0 ? Buffer.alloc(0) : Buffer.from([0, 255, i & 255, 0]),
    balance: i % 8 === 0 ? undefined : `${i}.0100`,
    active: i % 9 === 0 ? undefined : i % 2 === 0,
    score: i % 10 === 0 ? undefined : i === 11 ? 0 : i / 3,
  };
}

function* members(n: number) {
  for (let i = 0; i < n; i++) yield member(i);
}

let dir: string;
let good: string;
const N = 30_000;

beforeAll(async () => {
  dir = await tempDir();
  good = path.join(dir, 'members.pb.gz');
  await writeDump(good, header, members(N), { blockRecords: 4_000, blockBytes: 64 * 1024 * 1024 });
});

describe('dump writer and reader', () => {
  it('round-trips every value, NULLs stay NULL and exact types stay exact', async () => {
    const reader = await DumpReader.open(good);
    expect(reader.header.name).toBe('dbo.Member');
    expect(reader.header.formatVersion).toBe(FORMAT_VERSION);
    expect(reader.trailer.records).toBe(N);
    expect(reader.blocks.length).toBe(Math.ceil(N / 4_000));
    let i = 0;
    for await (const m of reader.records()) {
      const plain = reader.toPlain(m);
      const want = member(i);
      expect(plain.id).toBe(i);
      expect(plain.big).toBe(want.big ?? null);
      expect(plain.nickname).toBe(want.nickname ?? null);
      expect(plain.balance).toBe(want.balance ?? null);
      expect(plain.active).toBe(want.active ?? null);
      expect(plain.score).toBe(want.score ?? null);
      expect(plain.photo).toBe(want.photo ? want.photo.toString('base64') : null);
      expect(plain.registered_at).toEqual(want.registered_at ? { seconds: String(want.registered_at.seconds), nanos: 123_456_700 } : null);
      i++;
    }
    expect(i).toBe(N);
    await reader.close();
  });

  it('keeps empty string and zero apart from NULL', async () => {
    const reader = await DumpReader.open(good);
    const seen = new Map<number, Record<string, unknown>>();
    for await (const m of reader.records({ toBlock: 1 })) {
      const p = reader.toPlain(m);
      if ([2, 5, 10, 11].includes(p.id as number)) seen.set(p.id as number, p);
    }
    await reader.close();
    expect(seen.get(2)!.nickname).toBe('');
    expect(seen.get(5)!.nickname).toBeNull();
    expect(seen.get(11)!.score).toBe(0);
    expect(seen.get(10)!.score).toBeNull();
  });

  it('starts at any block', async () => {
    const reader = await DumpReader.open(good);
    const ids: number[] = [];
    for await (const m of reader.records({ fromBlock: 3, toBlock: 5 })) ids.push((m as unknown as { id: number }).id);
    await reader.close();
    expect(ids[0]).toBe(12_000);
    expect(ids.length).toBe(8_000);
    expect(ids[ids.length - 1]).toBe(19_999);
  });

  it('is a plain gzip stream of delimited messages: header, records, trailer', () => {
    const raw = execFileSync('gunzip', ['-c', good], { maxBuffer: 1 << 30 });
    const messages = [...unframe(raw)];
    expect(messages.length).toBe(N + 2);
    expect(decodeHeader(messages[0]).name).toBe('dbo.Member');
    expect(decodeTrailer(messages[messages.length - 1]).records).toBe(N);
    const type = root.lookupType('legacy.dbo.Member');
    expect((type.decode(messages[1 + 123]) as unknown as { id: number }).id).toBe(123);
  });

  it("decodes with Google's protoc and the header's schema", async () => {
    const setFile = path.join(dir, 'schema.pb');
    const res = await runFerry(['dump', 'inspect', good, '--descriptor-set-out', setFile]);
    expect(res.code).toBe(0);
    const raw = execFileSync('gunzip', ['-c', good], { maxBuffer: 1 << 30 });
    const record = [...unframe(raw)][1 + 13];
    const text = execFileSync('protoc', ['--decode=legacy.dbo.Member', `--descriptor_set_in=${setFile}`], { input: record }).toString();
    expect(text).toContain('id: 13');
    expect(text).toContain('big: 9007199254741006');
    expect(text).toContain('balance: "13.0100"');
    expect(text).toContain('registered_at {');
  });

  it('leaves no file that looks complete when the rows fail midway', async () => {
    const file = path.join(dir, 'broken.pb.gz');
    async function* failing() {
      yield* members(5_000);
      throw new Error('source went away');
    }
    await expect(writeDump(file, header, failing(), { blockRecords: 1_000 })).rejects.toThrow('source went away');
    expect(existsSync(file)).toBe(false);
    expect((await readdir(dir)).filter((f) => f.includes('broken'))).toEqual([]);
  });

  it('leaves only a partial file when the writer process is killed', async () => {
    const killDir = await tempDir();
    const script = path.join(killDir, 'slow-writer.mts');
    await writeFile(script, `
      import { writeDump, parseProto, toDescriptorSet } from ${JSON.stringify(path.join(ROOT, 'dumps/index.ts'))};
      const root = parseProto([${JSON.stringify(PROTO)}]);
      async function* rows() { for (let i = 0; ; i++) { if (i % 1000 === 0) { console.log('rows', i); await new Promise(r => setTimeout(r, 5)); } yield { id: i }; } }
      await writeDump(${JSON.stringify(path.join(killDir, 'endless.pb.gz'))}, { kind: 'TABLE', name: 't', recordType: 'legacy.dbo.Member', descriptorSet: toDescriptorSet(root) }, rows(), { blockRecords: 500 });
    `);
    const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => child.stdout!.on('data', (d: Buffer) => d.toString().includes('rows 5000') && resolve()));
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
    const files = await readdir(killDir);
    expect(files).not.toContain('endless.pb.gz');
    expect(files.some((f) => f.startsWith('.endless.pb.gz.partial-'))).toBe(true);
    const res = await runFerry(['dump', 'verify', killDir]);
    expect(res.code).not.toBe(0);
    expect(res.stdout).toContain('partial file of an interrupted writer');
    expect(res.stderr).toContain('no dump files');
  });
});

describe('trustDumpStrings', () => {
  it('decodes the same strings as the verifying decoder, without its UTF-8 check', () => {
    const proto = 'syntax = "proto3"; package t; message R { string name = 1; optional string note = 2; repeated string tags = 3; }';
    const plain = parseProto([proto]);
    const bytes = plain.lookupType('t.R').encode({ name: 'Åsa Lindström', note: 'Mitä kuuluu? 😀', tags: ['ä', ''] }).finish();
    const trusted = trustDumpStrings(fromDescriptorSet(toDescriptorSet(plain))).lookupType('t.R');
    expect(trusted.toObject(trusted.decode(bytes))).toEqual(plain.lookupType('t.R').toObject(plain.lookupType('t.R').decode(bytes)));
    // Invalid UTF-8 (a lone continuation byte): the default decoder refuses it, the trusting one does not check.
    const invalid = Uint8Array.from([0x0a, 0x01, 0x80]);
    expect(() => plain.lookupType('t.R').decode(invalid)).toThrow();
    expect(trusted.decode(invalid)).toMatchObject({ name: '\ufffd' });
  });
});

describe('damaged dumps', () => {
  async function copyOf(name: string): Promise<string> {
    const file = path.join(dir, name);
    await writeFile(file, await readFile(good));
    return file;
  }

  async function expectBad(file: string, pattern: RegExp): Promise<void> {
    const result = await verifyDump(file);
    expect(result.ok).toBe(false);
    expect(result.problem).toMatch(pattern);
    const verify = await runFerry(['dump', 'verify', file]);
    expect(verify.code).toBe(1);
    expect(verify.stdout).toMatch(pattern);
    const cat = await runFerry(['dump', 'cat', file]);
    expect(cat.code).toBe(1);
    expect(cat.stderr.trim().split('\n')).toHaveLength(1);
    expect(cat.stderr).toMatch(/^ferry: /);
  }

  it('reports a file cut in the middle of a block', async () => {
    const reader = await DumpReader.open(good);
    const block = reader.blocks[2];
    await reader.close();
    const file = await copyOf('cut-block.pb.gz');
    await truncate(file, block.offset + Math.floor(block.compressedBytes / 2));
    await expectBad(file, new RegExp(`cut-block.pb.gz, block 2, byte offset ${block.offset}: truncated dump`));
  });

  it('reports a file cut in the middle of a record (inside the last block)', async () => {
    const reader = await DumpReader.open(good);
    const last = reader.blocks[reader.blocks.length - 1];
    await reader.close();
    const file = await copyOf('cut-record.pb.gz');
    await truncate(file, last.offset + last.compressedBytes - 20);
    await expectBad(file, new RegExp(`cut-record.pb.gz, block ${reader.blocks.length - 1}, byte offset ${last.offset}: truncated`));
  });

  it('reports a file that ends after a whole block but before the trailer', async () => {
    const reader = await DumpReader.open(good);
    const b = reader.blocks[1];
    await reader.close();
    const file = await copyOf('no-trailer.pb.gz');
    await truncate(file, b.offset + b.compressedBytes);
    await expectBad(file, /no-trailer.pb.gz, byte offset \d+: incomplete dump: the file ends after 2 block\(s\) without a trailer/);
  });

  it('reports a flipped byte inside a block with its block and offset', async () => {
    const reader = await DumpReader.open(good);
    const b = reader.blocks[4];
    await reader.close();
    const file = await copyOf('flipped.pb.gz');
    const fh = await open(file, 'r+');
    const at = b.offset + Math.floor(b.compressedBytes / 2);
    const byte = Buffer.alloc(1);
    await fh.read(byte, 0, 1, at);
    byte[0] ^= 0x5a;
    await fh.write(byte, 0, 1, at);
    await fh.close();
    await expectBad(file, new RegExp(`flipped.pb.gz, block 4, byte offset ${b.offset}: corrupt block`));
  });

  it('refuses a file that is not gzip', async () => {
    const file = path.join(dir, 'plain.pb.gz');
    await writeFile(file, 'id,name\n1,x\n');
    await expectBad(file, /plain.pb.gz, byte offset 0: not gzip data/);
  });

  it('refuses a gzip file that is not a ferry dump', async () => {
    const file = path.join(dir, 'other.pb.gz');
    await writeFile(file, execFileSync('gzip', ['-c'], { input: 'hello\n' }));
    await expectBad(file, /other.pb.gz, byte offset 0: gzip data, but not a ferry dump/);
  });

  it('refuses a dump from a future format version', async () => {
    const file = path.join(dir, 'future.pb.gz');
    const future = HeaderType.encode(HeaderType.fromObject({ formatVersion: 99, kind: 'TABLE', name: 'x', recordType: 'legacy.dbo.Member', descriptorSet: header.descriptorSet })).finish();
    await writeFile(file, Buffer.concat([await encodeMember('H', frame(future), 6), await encodeMember('T', frame(encodeTrailer({ records: 0, blocks: [], finishedAt: '' })), 6)]));
    await expectBad(file, /future.pb.gz, byte offset 0: dump format version 99 is newer than this ferry reads \(1\); upgrade ferry/);
  });

  it('refuses a record longer than the sane maximum', async () => {
    const file = path.join(dir, 'huge.pb.gz');
    const payload = Buffer.concat([encodeVarint(MAX_RECORD_BYTES + 1), Buffer.from('abc')]);
    const head = await encodeMember('H', frame(encodeHeader({ ...header, formatVersion: 1, createdAt: '', properties: {}, columns: [], primaryKey: [], origin: {} })), 6);
    const block = await encodeMember('B', payload, 6);
    const { crc32 } = await import('node:zlib');
    const trailer = await encodeMember('T', frame(encodeTrailer({ records: 1, finishedAt: '', blocks: [{ offset: head.length, compressedBytes: block.length, uncompressedBytes: payload.length, records: 1, crc32: crc32(payload), firstRecord: 0 }] })), 6);
    await writeFile(file, Buffer.concat([head, block, trailer]));
    await expectBad(file, new RegExp(`huge.pb.gz, block 0, byte offset ${head.length}: record of ${MAX_RECORD_BYTES + 1} bytes is longer than the maximum`));
  });

  it('refuses to write a record longer than the sane maximum, and leaves no dump', async () => {
    const file = path.join(dir, 'too-long.pb.gz');
    const err = await writeDump(file, header, [member(1), { id: 2, photo: Buffer.alloc(MAX_RECORD_BYTES + 1, 7) }]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DumpError);
    expect((err as DumpError).message).toMatch(/too-long\.pb\.gz, block 0, record 1: a record encodes to \d+ bytes, more than the 268435456/);
    expect((await readdir(dir)).filter((f) => f.includes('too-long'))).toEqual([]);
  });

  it('reports a block that is intact gzip but not the one the trailer indexed there', async () => {
    const file = path.join(dir, 'swapped.pb.gz');
    const rows = Array.from({ length: 40 }, (_, i) => ({ id: 1, nickname: 'abcd'[Math.floor(i / 10)].repeat(20) }));
    await writeDump(file, header, rows, { blockRecords: 10 });
    const reader = await DumpReader.open(file);
    const [b1, b2] = [reader.blocks[1], reader.blocks[2]];
    await reader.close();
    // Two blocks with the same record count and size, so only the checksum tells them apart.
    expect([b1.records, b1.compressedBytes === b2.compressedBytes]).toEqual([10, true]);
    const bytes = await readFile(file);
    const swapped = Buffer.concat([
      bytes.subarray(0, b1.offset), bytes.subarray(b2.offset, b2.offset + b2.compressedBytes),
      bytes.subarray(b1.offset, b1.offset + b1.compressedBytes), bytes.subarray(b2.offset + b2.compressedBytes),
    ]);
    await writeFile(file, swapped);
    await expectBad(file, new RegExp(`swapped.pb.gz, block 1, byte offset ${b1.offset}: block content does not match the trailer's checksum`));
  });

  it('throws typed errors that carry the location', async () => {
    const file = path.join(dir, 'plain2.pb.gz');
    await writeFile(file, 'nope');
    const err = await (async () => {
      for await (const _ of readDump(file)) void _;
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DumpError);
    expect((err as DumpError).location).toEqual({ file, offset: 0 });
  });

  it('verify of a folder names each bad file and exits non-zero', async () => {
    const res = await runFerry(['dump', 'verify', dir, '--json']);
    expect(res.code).toBe(1);
    const report = JSON.parse(res.stdout) as { ok: boolean; files: Array<{ file: string; ok: boolean; records: number }> };
    expect(report.ok).toBe(false);
    expect(report.files.find((f) => f.file === good)).toMatchObject({ ok: true, records: N });
    expect(report.files.filter((f) => !f.ok).length).toBeGreaterThanOrEqual(7);
    expect((await stat(good)).size).toBeGreaterThan(0);
  });
});

describe('ferry dump cat and inspect', () => {
  it('prints records as NDJSON with exact types', async () => {
    const res = await runFerry(['dump', 'cat', good, '--limit', '3']);
    expect(res.code).toBe(0);
    const lines = res.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(3);
    expect(lines[1]).toMatchObject({ id: 1, big: '9007199254740994', nickname: 'Äijä-1', balance: '1.0100', photo: Buffer.from([0, 255, 1, 0]).toString('base64') });
    expect(lines[0].big).toBeNull();
  });

  it('shows header, schema and blocks', async () => {
    const res = await runFerry(['dump', 'inspect', good, '--json']);
    expect(res.code).toBe(0);
    const info = JSON.parse(res.stdout) as { records: number; name: string; blocks: unknown[]; schema: string; origin: { server: string } };
    expect(info).toMatchObject({ records: N, name: 'dbo.Member', origin: { server: '127.0.0.1:5432' } });
    expect(info.blocks).toHaveLength(8);
    expect(info.schema).toContain('optional int64 big = 2;');
  });

  it('gives a one-line error for a missing file', async () => {
    const res = await runFerry(['dump', 'inspect', path.join(dir, 'missing.pb.gz')]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/^ferry: .*missing.pb.gz: cannot open \(no such file or folder\)\n$/);
  });
});


