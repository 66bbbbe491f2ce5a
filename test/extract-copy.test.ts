// The PostgreSQL COPY row encoder (extract/pg-copy.ts) against protobufjs: for the same text values
// it must write the very bytes protobufjs writes for the objects of the value converters (field
// order, defaults left out of NOT NULL fields, negative varints, nested timestamps, packed arrays),
// however the COPY data is cut into chunks.
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { CopyRowEncoder, CopyRowFormat, unescapeText } from '../extract/pg-copy.ts';
import { PostgresSource } from '../extract/postgres-source.ts';
import { fieldNames, generateTableSchema, type SourceColumn } from '../extract/row-schema.ts';
import type { TableInfo } from '../extract/source.ts';

const table = { schema: 'public', name: 'copy_rows' };

const columns: SourceColumn[] = [
  { name: 'id', sqlType: 'integer', nullable: false, ordinal: 1, kind: 'int32' },
  { name: 'n_int', sqlType: 'integer', nullable: false, ordinal: 2, kind: 'int32' },
  { name: 'o_int', sqlType: 'integer', nullable: true, ordinal: 3, kind: 'int32' },
  { name: 'n_big', sqlType: 'bigint', nullable: false, ordinal: 4, kind: 'int64' },
  { name: 'o_big', sqlType: 'bigint', nullable: true, ordinal: 5, kind: 'int64' },
  { name: 'n_bool', sqlType: 'boolean', nullable: false, ordinal: 6, kind: 'bool' },
  { name: 'o_bool', sqlType: 'boolean', nullable: true, ordinal: 7, kind: 'bool' },
  { name: 'n_text', sqlType: 'text', nullable: false, ordinal: 8, kind: 'string' },
  { name: 'o_text', sqlType: 'text', nullable: true, ordinal: 9, kind: 'string' },
  { name: 'o_num', sqlType: 'numeric', nullable: true, ordinal: 10, kind: 'decimal' },
  { name: 'n_f8', sqlType: 'double precision', nullable: false, ordinal: 11, kind: 'double' },
  { name: 'o_f4', sqlType: 'real', nullable: true, ordinal: 12, kind: 'float' },
  { name: 'n_bytes', sqlType: 'bytea', nullable: false, ordinal: 13, kind: 'bytes' },
  { name: 'o_bytes', sqlType: 'bytea', nullable: true, ordinal: 14, kind: 'bytes' },
  { name: 'o_uuid', sqlType: 'uuid', nullable: true, ordinal: 15, kind: 'uuid' },
  { name: 'o_date', sqlType: 'date', nullable: true, ordinal: 16, kind: 'date' },
  { name: 'o_ts', sqlType: 'timestamp(6)', nullable: true, ordinal: 17, kind: 'timestamp_local' },
  { name: 'n_ts', sqlType: 'timestamp(6)', nullable: false, ordinal: 18, kind: 'timestamp_local' },
  { name: 'o_tstz', sqlType: 'timestamptz', nullable: true, ordinal: 19, kind: 'timestamp_instant' },
  { name: 'a_int', sqlType: 'integer[]', nullable: false, ordinal: 20, kind: 'int32', repeated: true },
  { name: 'a_text', sqlType: 'text[]', nullable: false, ordinal: 21, kind: 'string', repeated: true },
  { name: 'a_ts', sqlType: 'timestamptz[]', nullable: false, ordinal: 22, kind: 'timestamp_instant', repeated: true },
  // Field numbers need not follow the column order (a dropped column leaves a gap; casts keep theirs).
  { name: 'late', sqlType: 'text', nullable: true, ordinal: 30, kind: 'string' },
];

const N = null;
// Rows as PostgreSQL's text output (what `pg` hands over with text type parsers).
const rows: Array<Array<string | null>> = [
  ['1', '0', '0', '0', '0', 'f', 'f', '', '', '0', '0', '0', '\\x', '\\x', N, N, N, '2024-01-01 00:00:00', N, '{}', '{}', '{}', N],
  ['2', '-1', '-2147483648', '-9223372036854775808', '9223372036854775807', 't', 't', 'tab\there\nnew line \\ back\\\\slash \r\b\f\v', 'ü 👋 ñ',
    '-123456789012345678901234567890.123456789', '-0', 'NaN', '\\x00ff10', `\\x${'ab'.repeat(300)}`, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '0001-01-01',
    '1900-01-01 00:00:00.000001', '1969-12-31 23:59:59.999999', '2024-03-31 01:30:00.123456+00', '{1,-2,2147483647}', '{"a","b,c","","x\\"y"}',
    '{"2024-01-01 00:00:00.5+00","1970-01-01 00:00:00+00"}', 'late'],
  ['3', '2147483647', N, '4503599627370497', '-1', 't', N, '\\N', '\\\\N', '1e-5', 'Infinity', '-Infinity', '\\x01', N, N, '9999-12-31',
    '2024-10-27 03:30:00', '2024-03-31 03:30:00', '2038-01-19 03:14:08+00', '{0}', '{"\\\\"}', '{}', ''],
  ['4', '123', '-7', '123456789012345', '-123456789012345', 'f', 't', 'x', N, N, '1.7976931348623157e+308', '3.4028235e+38', '\\xdeadbeef', '\\x', N, N,
    '2000-02-29 12:00:00.5', '2024-07-01 12:34:56.7', '1901-12-13 20:45:52+00', '{}', '{}', '{}', N],
];

/** COPY text format of a row: tab-separated, \N for NULL, backslash, tab, newline, CR escaped. */
function copyLine(row: Array<string | null>): string {
  return row
    .map((v) => (v === null ? '\\N' : v.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\x08/g, '\\b').replace(/\f/g, '\\f').replace(/\v/g, '\\v')))
    .join('\t') + '\n';
}

function setup(timeZone: string) {
  const info: TableInfo = { table, columns, key: ['id'], keySource: 'primary key' };
  const source = new PostgresSource({ url: 'postgres://u@127.0.0.1:1/db', connections: 1, sourceTimezone: timeZone, statementTimeoutMs: 1000, connectTimeoutMs: 1000 });
  const schema = generateTableSchema(table, columns, { source: 'postgres', server: 's', database: 'd' });
  const type = schema.root.lookupType(schema.recordType);
  const names = fieldNames(columns);
  const convert = (source as unknown as { valueConverter(c: SourceColumn): (t: string) => unknown }).valueConverter.bind(source);
  const encoder = (maxBytes = Infinity) =>
    new CopyRowEncoder(new CopyRowFormat('public.copy_rows', columns.map((c, i) => ({ column: c, field: names[i], convert: convert(c) })), columns.length, [0], type, (source as unknown as { clock: never }).clock, true), maxBytes);
  const expected = () => {
    const w = protobuf.Writer.create();
    for (const r of source.converter(info)(rows, [0]).records!) type.encodeDelimited(r as protobuf.Message, w);
    return Buffer.from(w.finish());
  };
  return { encoder, expected, type };
}

describe('PostgreSQL COPY rows → row messages', () => {
  for (const zone of ['UTC', 'Europe/Helsinki']) {
    it(`writes the bytes protobufjs writes for the same values (${zone})`, () => {
      const { encoder, expected } = setup(zone);
      const data = Buffer.from(rows.map(copyLine).join(''));
      const want = expected();
      // In one piece, and cut at every byte (rows split across the chunks of a socket).
      for (const cut of [data.length, 1, 7, 64]) {
        const enc = encoder();
        for (let i = 0; i < data.length; i += cut) enc.push(data.subarray(i, i + cut));
        enc.end();
        expect(enc.rows).toBe(rows.length);
        const batch = enc.take();
        expect(Buffer.from(batch.framed).equals(want), `cut ${cut}`).toBe(true);
        expect(batch.lastKey).toEqual(['4']);
        expect(batch.ends.at(-1)).toBe(want.length);
      }
    });
  }

  it('ends the rows taken after the one that reaches maxBytes, the same row however the data is cut', () => {
    const { encoder } = setup('UTC');
    const data = Buffer.from(rows.map(copyLine).join(''));
    const lineBytes = rows.map((r) => copyLine(r).split('\t').filter((f) => f !== '\\N' && f !== '\\N\n').reduce((s, f) => s + Buffer.byteLength(f.replace(/\n$/, '')), 0));
    for (const cut of [data.length, 5]) {
      const enc = encoder(lineBytes[0] + 1);
      for (let i = 0; i < data.length; i += cut) enc.push(data.subarray(i, i + cut));
      expect(enc.full).toBe(true);
      const batch = enc.take();
      expect(batch.ends).toHaveLength(2);
      expect(batch.lastKey).toEqual(['2']);
      expect(batch.bytes).toBe(lineBytes[0] + lineBytes[1]);
    }
  });

  it('names the table, column and row key of a value it cannot carry', () => {
    const { encoder } = setup('UTC');
    const bad = [...rows[0]];
    bad[0] = '9';
    bad[15] = 'infinity';
    expect(() => encoder().push(Buffer.from(copyLine(bad)))).toThrow(/^public\.copy_rows: column o_date, row with key \(9\): date infinity has no YYYY-MM-DD form/);
    const nullArray = [...rows[0]];
    nullArray[19] = null;
    expect(() => encoder().push(Buffer.from(copyLine(nullArray)))).toThrow(/column a_int is NULL in the row with key \(1\)/);
  });

  it('undoes COPY escapes', () => {
    const b = Buffer.from('a\\tb\\nc\\\\d\\re\\bf\\fg\\vh \\101');
    expect(unescapeText(b, 0, b.length)).toBe('a\tb\nc\\d\re\bf\fg\vh A');
  });
});
