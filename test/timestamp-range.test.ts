// Instants outside google.protobuf.Timestamp's range (0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z)
// are refused with table, column and row key, never written as a field other protobuf runtimes
// cannot read: the shared check, the SQL Server converters (tedious-shaped values) and the real
// PostgreSQL source on both of its paths (COPY chunks and the one-pass cursor).
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mssqlValueConverter } from '../extract/mssql-source.ts';
import { MAX_TIMESTAMP_SECONDS, MIN_TIMESTAMP_SECONDS, WallClock, checkTimestampRange } from '../extract/values.ts';
import { createLegacyDb, readPlain, type LegacyDb } from './extract-helpers.ts';
import { runFerry, tempDir } from './helpers.ts';

const HINT = "in UTC, outside what a dump's google.protobuf.Timestamp can hold; read the column as text with --cast (or fix the value, or extract with another --source-timezone)";

function tediousDate(iso: string, nanosecondsDelta = 0): Date {
  const d = new Date(iso);
  Object.defineProperty(d, 'nanosecondsDelta', { enumerable: false, value: nanosecondsDelta });
  return d;
}

describe('timestamp range policy', () => {
  it('takes 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z, refuses a second beyond either', () => {
    expect(MIN_TIMESTAMP_SECONDS).toBe(new Date('0001-01-01T00:00:00Z').getTime() / 1000);
    expect(MAX_TIMESTAMP_SECONDS).toBe(new Date('9999-12-31T23:59:59Z').getTime() / 1000);
    expect(() => checkTimestampRange(MIN_TIMESTAMP_SECONDS, () => 'x')).not.toThrow();
    expect(() => checkTimestampRange(MAX_TIMESTAMP_SECONDS, () => 'x')).not.toThrow();
    expect(() => checkTimestampRange(MIN_TIMESTAMP_SECONDS - 1, () => 'timestamp t')).toThrow(`timestamp t is before 0001-01-01T00:00:00Z ${HINT}`);
    expect(() => checkTimestampRange(MAX_TIMESTAMP_SECONDS + 1, () => 'timestamp t')).toThrow(`timestamp t is after 9999-12-31T23:59:59Z ${HINT}`);
  });

  it('SQL Server: a wall clock of 0001-01-01 read east of UTC is refused, in UTC it is the first instant', () => {
    const first = tediousDate('0001-01-01T00:00:00Z');
    expect(mssqlValueConverter('timestamp_local', new WallClock('UTC'))(first)).toEqual({ seconds: MIN_TIMESTAMP_SECONDS, nanos: 0 });
    // Helsinki's local mean time then was +1:39:49: the instant is 0000-12-31T22:20:11Z (the issue's -62135602789).
    expect(() => mssqlValueConverter('timestamp_local', new WallClock('Europe/Helsinki'))(first)).toThrow(
      `timestamp 0001-01-01 00:00:00.0000000 read in Europe/Helsinki is before 0001-01-01T00:00:00Z ${HINT}`,
    );
    // West of UTC the last day runs past 9999-12-31T23:59:59Z.
    expect(() => mssqlValueConverter('timestamp_local', new WallClock('America/New_York'))(tediousDate('9999-12-31T23:00:00Z'))).toThrow(/read in America\/New_York is after 9999-12-31T23:59:59Z/);
    // datetimeoffset values are instants: 9999-12-31 23:59:59.9999999 UTC is the last one.
    expect(mssqlValueConverter('timestamp_offset', new WallClock('UTC'))(tediousDate('9999-12-31T23:59:59.999Z', 0.0009999))).toEqual({ seconds: MAX_TIMESTAMP_SECONDS, nanos: 999_999_900 });
  });
});

describe('timestamp range policy: PostgreSQL source', () => {
  let db: LegacyDb;
  beforeAll(async () => {
    db = await createLegacyDb('ferry_ts_range');
    await db.query(`
      CREATE TABLE early (id integer PRIMARY KEY, at timestamp);
      INSERT INTO early VALUES (1, '2024-01-01 12:00'), (2, '0001-01-01 00:00:00');
      CREATE TABLE late (id integer PRIMARY KEY, at timestamptz);
      INSERT INTO late VALUES (7, '10000-01-01 00:00:00+00');
      CREATE TABLE early_nokey (id integer, at timestamp);
      INSERT INTO early_nokey VALUES (3, '0001-01-01 00:00:00');`);
  });
  afterAll(async () => {
    await db?.drop();
  });

  async function extract(table: string, ...flags: string[]) {
    const out = await tempDir('ferry-ts-range-');
    const r = await runFerry(['extract', '--from', db.url, '--tables', table, '--out', out, '--schemas-out', out, ...flags]);
    return { ...r, out };
  }

  it('refuses 0001-01-01 00:00 read in Europe/Helsinki with table, column, row key and the --cast hint (COPY chunks)', async () => {
    const r = await extract('early', '--source-timezone', 'Europe/Helsinki');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`ferry: public.early: column at, row with key (2): timestamp 0001-01-01 00:00:00 read in Europe/Helsinki is before 0001-01-01T00:00:00Z ${HINT}\n`);
  });

  it('keeps it in UTC, as the first instant a Timestamp holds', async () => {
    const r = await extract('early');
    expect(r.code, r.stderr).toBe(0);
    const rows = await readPlain(path.join(r.out, 'public.early.pb.gz'));
    expect(rows[1]).toEqual({ id: 2, at: { seconds: String(MIN_TIMESTAMP_SECONDS), nanos: 0 } });
  });

  it('refuses year 10000, and refuses on the one-pass cursor path too', async () => {
    const late = await extract('late');
    expect(late.code).toBe(1);
    expect(late.stderr).toBe(`ferry: public.late: column at, row with key (7): timestamp 10000-01-01 00:00:00+00 is after 9999-12-31T23:59:59Z ${HINT}\n`);
    const onePass = await extract('early_nokey', '--no-key', '--source-timezone', 'Europe/Helsinki');
    expect(onePass.code).toBe(1);
    expect(onePass.stderr).toMatch(/^ferry: public\.early_nokey: column at, row with key \(\): timestamp 0001-01-01 00:00:00 read in Europe\/Helsinki is before 0001-01-01T00:00:00Z in UTC/);
  });
});
