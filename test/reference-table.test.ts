import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { DumpReader, parseProto, toDescriptorSet, writeDump } from '../dumps/index.ts';
import { UserError } from '../lib/errors.ts';
import { buildReferenceTable, ReferenceTable } from '../transform/reference-table.ts';
import { rowConverter, type Row } from '../transform/rows.ts';
import { lookupKey } from '../transform/runtime.ts';
import { memberRow, writeLegacyDumps } from './fixtures/transform-project.ts';
import { tempDir } from './helpers.ts';

let dir: string;
let membersFile: string;

/** Every row of a dump as transforms see it, by lookup key. */
async function rowsOf(file: string, keyFields: string[]): Promise<Map<string, Row>> {
  const reader = await DumpReader.open(file);
  const convert = rowConverter(reader.recordType);
  const rows = new Map<string, Row>();
  for await (const m of reader.records()) {
    const row = convert(m);
    rows.set(lookupKey(keyFields.map((f) => row[f])), row);
  }
  await reader.close();
  return rows;
}

const TAGS_PROTO = `syntax = "proto3"; package legacy.dbo;
message Tags { string Code = 1; int64 Seq = 2; bytes Blob = 3; optional string Note = 4; }`;

async function writeTags(file: string, rows: object[], proto = TAGS_PROTO): Promise<void> {
  const root = parseProto([proto]);
  const type = root.lookupType('legacy.dbo.Tags');
  const columns = [
    { name: 'Code', sqlType: 'nvarchar(20)', nullable: false },
    { name: 'Seq', sqlType: 'bigint', nullable: false },
    { name: 'Blob', sqlType: 'varbinary(max)', nullable: false },
    { name: 'Note', sqlType: 'nvarchar(20)', nullable: true },
  ].filter((c) => type.fields[c.name]).map((c) => ({ ...c, field: c.name, fieldNumber: type.fields[c.name].id }));
  await writeDump(file, {
    kind: 'TABLE', name: 'dbo.Tags', recordType: 'legacy.dbo.Tags', descriptorSet: toDescriptorSet(root), columns, primaryKey: ['Code', 'Seq'],
    createdAt: '2024-05-06T07:08:09.000Z', origin: { source: 'postgres', server: '127.0.0.1', database: 'legacy' },
  }, rows, { blockRecords: 3 });
}

beforeAll(async () => {
  dir = await tempDir('ferry-reference-');
  await writeLegacyDumps(dir, { members: 5_000, favorites: 2 }, 700);
  membersFile = path.join(dir, 'dbo.Members.pb.gz');
});

describe('reference tables in shared memory', () => {
  it('finds every row of a table by its key, whole, and nothing for keys it does not hold', async () => {
    const data = await buildReferenceTable({ table: 'dbo.Members', files: [membersFile] });
    const table = new ReferenceTable(data);
    const expected = await rowsOf(membersFile, ['Id']);
    expect(data.rows).toBe(5_000);
    for (const [key, row] of expected) expect(table.get(key), key).toEqual(row);
    expect(table.get('4')?.Email).toBeNull();
    expect(table.get('7')).toMatchObject({ Nickname: 'Åsa-7', Score: 9_007_199_254_741_000n, RegisteredAt: new Date((memberRow(6).RegisteredAt.seconds) * 1000) });
    for (const missing of ['0', '5001', '-1', '', '1.5', 'Åsa', '10000000']) expect(table.get(missing), missing).toBeUndefined();
  });

  it('keeps only the key and the columns read, or only the key when rows are only tested', async () => {
    const narrowed = await buildReferenceTable({ table: 'dbo.Members', files: [membersFile], columns: ['RegisteredAt'] });
    const whole = await buildReferenceTable({ table: 'dbo.Members', files: [membersFile] });
    expect(new ReferenceTable(narrowed).get('42')).toEqual({ RegisteredAt: new Date(memberRow(41).RegisteredAt.seconds * 1000) });
    expect(narrowed.bytes.byteLength).toBeLessThan(whole.bytes.byteLength / 3);

    const tested = new ReferenceTable(await buildReferenceTable({ table: 'dbo.Members', files: [membersFile], columns: [] }));
    expect(tested.get('42')).toEqual({});
    expect(Object.isFrozen(tested.get('42'))).toBe(true);
    expect(tested.get('5001')).toBeUndefined();
  });

  it('takes composite and non-ASCII keys across part files, the last row of a key winning, and hands out private copies of bytes', async () => {
    const a = path.join(dir, 'tags-a.pb.gz');
    const b = path.join(dir, 'tags-b.pb.gz');
    await writeTags(a, [
      { Code: 'Åsa', Seq: 1, Blob: Buffer.from([1, 2, 3]), Note: 'first' },
      { Code: 'Åsa', Seq: 2, Blob: Buffer.from([4]) },
      { Code: 'plain', Seq: '9007199254740993', Blob: Buffer.from([5]), Note: 'big' },
      { Code: '日本', Seq: 1, Blob: Buffer.alloc(0), Note: 'cjk' },
    ]);
    await writeTags(b, [{ Code: 'Åsa', Seq: 1, Blob: Buffer.from([9]), Note: 'again' }]);
    const table = new ReferenceTable(await buildReferenceTable({ table: 'dbo.Tags', files: [a, b] }));
    expect(table.get(lookupKey(['Åsa', 1n]))).toMatchObject({ Code: 'Åsa', Seq: 1n, Note: 'again' });
    expect(table.get(lookupKey(['Åsa', 2]))).toMatchObject({ Code: 'Åsa', Seq: 2n, Note: null });
    expect(table.get(lookupKey(['plain', 9_007_199_254_740_993n]))).toMatchObject({ Note: 'big' });
    expect(table.get(lookupKey(['日本', 1]))).toMatchObject({ Note: 'cjk' });
    expect(table.get(lookupKey(['Asa', 1]))).toBeUndefined();
    expect(table.get(lookupKey(['Åsa', 3]))).toBeUndefined();

    const blob = table.get(lookupKey(['Åsa', 2]))!.Blob as Uint8Array;
    expect([...blob]).toEqual([4]);
    expect(blob.buffer).not.toBeInstanceOf(SharedArrayBuffer);
    blob[0] = 77;
    expect([...(table.get(lookupKey(['Åsa', 2]))!.Blob as Uint8Array)]).toEqual([4]);
  });

  it('crosses to a worker as shared memory, not a copy', async () => {
    const data = await buildReferenceTable({ table: 'dbo.Members', files: [membersFile], columns: ['RegisteredAt'] });
    const clone = structuredClone(data);
    expect(new ReferenceTable(clone).get('42')).toEqual(new ReferenceTable(data).get('42'));
    const original = new Uint8Array(data.bytes);
    const before = original[0];
    new Uint8Array(clone.bytes)[0] = before ^ 0xff;
    expect(original[0]).toBe(before ^ 0xff);
  });

  it('misses every key of a table without dump files', async () => {
    const empty = new ReferenceTable(await buildReferenceTable({ table: 'dbo.Nothing', files: [] }));
    expect(empty.get('1')).toBeUndefined();
    expect(empty.get('')).toBeUndefined();
  });

  it('refuses part files of one table with different schemas', async () => {
    const a = path.join(dir, 'schema-a.pb.gz');
    const b = path.join(dir, 'schema-b.pb.gz');
    await writeTags(a, [{ Code: 'x', Seq: 1, Blob: Buffer.alloc(0) }]);
    await writeTags(b, [{ Code: 'y', Seq: 1, Blob: Buffer.alloc(0) }], `syntax = "proto3"; package legacy.dbo;
message Tags { string Code = 1; int64 Seq = 2; bytes Blob = 3; }`);
    const build = buildReferenceTable({ table: 'dbo.Tags', files: [a, b] });
    await expect(build).rejects.toBeInstanceOf(UserError);
    await expect(build).rejects.toThrow(/reference table dbo\.Tags: .*schema-b\.pb\.gz and .*schema-a\.pb\.gz have different schemas; extract the table again/);
  });
});
