// The SQL Server source writes rows straight from tedious' values into protobuf bytes
// (MssqlRowEncoder). Those bytes must be exactly what protobufjs writes for the converted values
// (type.encodeDelimited of the plain record), for every kind, NULL, zero, empty and extreme value,
// NOT NULL (implicit presence) and nullable (optional) columns alike: dumps and their checksums do
// not depend on the path.
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { Readable } from 'node:stream';
import { MssqlRowEncoder, bufferedRows, mssqlColumn, mssqlValueConverter } from '../extract/mssql-source.ts';
import { fieldNames, generateTableSchema, type SourceColumn } from '../extract/row-schema.ts';
import { WallClock } from '../extract/values.ts';

const table = { schema: 'dbo', name: 'Rows' };

function tediousDate(ms: number, nanosecondsDelta = 0): Date {
  const d = new Date(ms);
  Object.defineProperty(d, 'nanosecondsDelta', { enumerable: false, value: nanosecondsDelta });
  return d;
}

/** Column types (system name, max_length, precision, scale) and value makers as tedious delivers them. */
const TYPES: Array<[string, number, number, number, (r: number) => unknown]> = [
  ['bit', 1, 1, 0, (r) => r % 2 === 0],
  ['tinyint', 1, 3, 0, (r) => r % 256],
  ['int', 4, 10, 0, (r) => [0, -1, 2147483647, -2147483648, 7][r % 5]],
  ['bigint', 8, 19, 0, (r) => ['0', '-9223372036854775808', '9223372036854775807', '42', '-1'][r % 5]],
  ['decimal', 17, 38, 10, (r) => ['0.0000000000', '-1234567890123456789012345678.0123456789', '1.5000000000'][r % 3]],
  ['money', 8, 19, 4, (r) => ['0.0000', '922337203685477.5807', '-0.0001'][r % 3]],
  ['float', 8, 53, 0, (r) => [0, -0, 0.1, -1e308, 5e-324][r % 5]],
  ['real', 4, 24, 0, (r) => [0, -0, Math.fround(1.1), Math.fround(3.4e38)][r % 4]],
  ['nvarchar', -1, 0, 0, (r) => ['', 'Hyvää päivää 👋', 'x'.repeat(r % 300)][r % 3]],
  ['varbinary', -1, 0, 0, (r) => [Buffer.alloc(0), Buffer.from([0, 255]), Buffer.alloc(r % 200, 7)][r % 3]],
  ['uniqueidentifier', 16, 0, 0, (r) => ['6F9619FF-8B86-D011-B42D-00C04FC964FF', '00000000-0000-0000-0000-000000000000'][r % 2]],
  ['date', 3, 10, 0, (r) => new Date(Date.parse('0001-01-01T00:00:00Z') + (r % 3) * 86_400_000 * 1000)],
  ['time', 5, 16, 7, (r) => tediousDate(Date.UTC(1970, 0, 1) + (r % 86400) * 1000 + (r % 1000), (r % 10) / 1e7)],
  ['datetime', 8, 23, 3, (r) => tediousDate(Date.UTC(1970, 0, 1) + (r % 3) * 997)],
  ['datetime2', 8, 27, 7, (r) => tediousDate([Date.UTC(1970, 0, 1), Date.parse('0001-01-01T00:00:00Z') + 86_400_000, Date.UTC(9999, 11, 31, 23, 59, 59, 999), Date.UTC(2024, 2, 1, 12, 34, 56, 123)][r % 4], (r % 10) / 1e7)],
  ['datetimeoffset', 10, 34, 7, (r) => tediousDate(Date.UTC(2024, 2, 1, 7, 4, 56, r % 1000), (r % 10) / 1e7)],
];

describe('mssql rows encoded straight from tedious values', () => {
  for (const zone of ['UTC', 'Europe/Helsinki']) {
    it(`writes the bytes protobufjs writes for the same values, every kind, NULL and NOT NULL (${zone})`, () => {
      const columns: SourceColumn[] = [];
      TYPES.forEach(([typeName, maxLength, precision, scale], t) => {
        for (const nullable of [false, true]) {
          const ordinal = columns.length + 1;
          columns.push(mssqlColumn(table, { name: `${typeName}_${nullable ? 'null' : 'nn'}_${t}`, typeName, maxLength, precision, scale, nullable, ordinal }));
        }
      });
      // Selected columns, then DATEPART(TZOFFSET, …) of each datetimeoffset column.
      const offsetIndexes = columns.map(() => -1);
      let width = columns.length;
      columns.forEach((c, i) => {
        if (c.kind === 'timestamp_offset') offsetIndexes[i] = width++;
      });
      const schema = generateTableSchema(table, columns, { source: 'mssql', server: 's', database: 'd' });
      const type = schema.root.lookupType(schema.recordType);
      const clock = new WallClock(zone);
      const scales = columns.map((_, i) => TYPES[Math.floor(i / 2)][3]);
      const encoder = new MssqlRowEncoder(type, columns, clock, scales, offsetIndexes);
      const names = fieldNames(columns);
      const convs = columns.map((c, i) => mssqlValueConverter(c.kind, clock, scales[i]));
      for (let r = 0; r < 400; r++) {
        const row: unknown[] = new Array(width).fill(null);
        columns.forEach((c, i) => {
          const make = TYPES[Math.floor(i / 2)][4];
          // Nullable columns are NULL every third row; offsets ride along with their value.
          if (c.nullable && r % 3 === 0) return;
          row[i] = make(r + i);
          if (offsetIndexes[i] >= 0) row[offsetIndexes[i]] = [0, 330, -180, -720][r % 4];
        });
        const record: Record<string, unknown> = {};
        columns.forEach((_, i) => {
          if (row[i] === null) return;
          record[names[i]] = convs[i](row[i]);
          if (offsetIndexes[i] >= 0) record[`${names[i]}_offset_minutes`] = row[offsetIndexes[i]];
        });
        const expected = type.encodeDelimited(record as unknown as protobuf.Message).finish();
        const w = protobuf.Writer.create();
        encoder.row(w, row);
        expect(Buffer.from(w.finish()).toString('hex'), `row ${r}`).toBe(Buffer.from(expected).toString('hex'));
      }
    });
  }

  it('reports which column a value it cannot carry came from', () => {
    const columns = [
      mssqlColumn(table, { name: 'id', typeName: 'int', maxLength: 4, precision: 10, scale: 0, nullable: false, ordinal: 1 }),
      mssqlColumn(table, { name: 'at', typeName: 'datetime2', maxLength: 8, precision: 27, scale: 7, nullable: true, ordinal: 2 }),
    ];
    const schema = generateTableSchema(table, columns, { source: 'mssql', server: 's', database: 'd' });
    const encoder = new MssqlRowEncoder(schema.root.lookupType(schema.recordType), columns, new WallClock('Europe/Helsinki'), [0, 7], [-1, -1]);
    let err: unknown;
    try {
      encoder.row(protobuf.Writer.create(), [1, tediousDate(Date.parse('0001-01-01T00:00:00Z'))]);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ columnIndex: 1, message: expect.stringMatching(/^timestamp 0001-01-01 00:00:00\.0000000 read in Europe\/Helsinki is before 0001-01-01T00:00:00Z/) });
  });
});

describe('rows taken from the driver\'s stream in what it holds at a time', () => {
  /** An object stream like mssql's toReadableStream: rows pushed as the driver parses them, a few at a time. */
  function driverStream(total: number, failAfter?: number): Readable {
    let sent = 0;
    return new Readable({
      objectMode: true,
      highWaterMark: 16,
      read() {
        setImmediate(() => {
          for (let k = 0; k < 5 && sent < total; k++) {
            if (failAfter !== undefined && sent === failAfter) {
              this.destroy(Object.assign(new Error('Connection lost - read ECONNRESET'), { code: 'ESOCKET' }));
              return;
            }
            sent++;
            if (!this.push([sent])) return;
          }
          if (sent >= total) this.push(null);
        });
      },
    });
  }

  it('hands over every row once, in order, in fewer pieces than rows, and ends with the stream', async () => {
    const seen: number[] = [];
    let pieces = 0;
    for await (const rows of bufferedRows(driverStream(1000))) {
      pieces++;
      for (const r of rows) seen.push(r[0] as number);
    }
    expect(seen).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    expect(pieces).toBeLessThan(1000);
    const empty = [];
    for await (const rows of bufferedRows(driverStream(0))) empty.push(rows);
    expect(empty).toEqual([]);
  });

  it('throws the driver\'s error (the engine retries the chunk from its key)', async () => {
    const seen: number[] = [];
    const run = async () => {
      for await (const rows of bufferedRows(driverStream(1000, 300))) for (const r of rows) seen.push(r[0] as number);
    };
    await expect(run()).rejects.toMatchObject({ code: 'ESOCKET', message: 'Connection lost - read ECONNRESET' });
    expect(seen.length).toBeLessThanOrEqual(300);
    expect(seen).toEqual(Array.from({ length: seen.length }, (_, i) => i + 1));
  });
});
