// The SQL Server source without a SQL Server: its generated T-SQL, its type mapping driven by the
// real type metadata of the `mssql` and `tedious` packages, and its value conversions of
// tedious-shaped values. The integration suite at the end runs when FERRY_MSSQL_URL is set.
import path from 'node:path';
import sql from 'mssql';
import { TYPES as TEDIOUS_TYPES } from 'tedious';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateTableSchema, type SourceColumn } from '../extract/row-schema.ts';
import {
  MSSQL_TYPE_KINDS,
  bracket,
  compareSqlServerGuids,
  exact,
  isTransientMssqlError,
  kindOfSqlType,
  mssqlChunkSql,
  mssqlColumn,
  mssqlConfig,
  mssqlDuplicateKeySql,
  mssqlNullKeySql,
  mssqlSplitSql,
  mssqlValueConverter,
} from '../extract/mssql-source.ts';
import type { TableInfo } from '../extract/source.ts';
import { WallClock } from '../extract/values.ts';
import { readPlain } from './extract-helpers.ts';
import { runFerry, tempDir } from './helpers.ts';

const table = { schema: 'dbo', name: 'Order]Lines' };

function info(key: string[], columns: SourceColumn[] = [{ name: 'Id', sqlType: 'int', nullable: false, ordinal: 1, kind: 'int32' }]): TableInfo {
  return { table, columns, key, keySource: 'primary key' };
}

describe('mssql source: generated T-SQL', () => {
  it('quotes names with brackets, doubling a ] inside a name', () => {
    expect(bracket('Order]Lines')).toBe('[Order]]Lines]');
    expect(bracket('a[b')).toBe('[a[b]');
    expect(bracket("x'; DROP TABLE y; --")).toBe("[x'; DROP TABLE y; --]");
  });

  it('builds a single-column keyset chunk: TOP, typed key parameter, key order, the key read from the row itself', () => {
    const q = mssqlChunkSql({ info: info(['Id']), after: ['41'], limit: 50_000 }, ['int']);
    expect(q.text).toBe('SELECT TOP (50000) [Id] FROM [dbo].[Order]]Lines] WHERE [Id] > CAST(@a0 AS int) ORDER BY [Id]');
    expect(q.params).toEqual([['a0', '41']]);
    expect(q.keyIndexes).toEqual([0]);
    expect(q.keyFormats[0](42)).toBe('42');
  });

  it('reads a key column that is left out or --cast as the server\'s text in an extra column', () => {
    const cols = [
      { name: 'Code', sqlType: 'nvarchar(20) (cast)', nullable: true, ordinal: 1, kind: 'string' as const, selectExpr: 'UPPER([Code])' },
      { name: 'Price', sqlType: 'money', nullable: false, ordinal: 2, kind: 'decimal' as const, selectExpr: 'CONVERT(varchar(32), [Price], 2)' },
    ];
    const q = mssqlChunkSql({ info: info(['Code', 'Price', 'Gone'], cols), limit: 10 }, ['nvarchar(20)', 'money', 'datetime2(3)']);
    expect(q.text).toBe(
      'SELECT TOP (10) UPPER([Code]), CONVERT(varchar(32), [Price], 2), CONVERT(nvarchar(max), [Code]), CONVERT(nvarchar(40), [Gone], 126) FROM [dbo].[Order]]Lines] ORDER BY [Code], [Price], [Gone]',
    );
    // Money is selected as its exact text (style 2), which is also its key text.
    expect(q.keyIndexes).toEqual([2, 1, 3]);
  });

  it('builds a composite keyset condition without row constructors, and a part end bound', () => {
    const cols = [
      { name: 'Order Id', sqlType: 'uniqueidentifier', nullable: false, ordinal: 1, kind: 'uuid' as const },
      { name: 'Line]No', sqlType: 'smallint', nullable: false, ordinal: 2, kind: 'int32' as const },
      { name: 'At', sqlType: 'datetime2(7)', nullable: true, ordinal: 3, kind: 'timestamp_local' as const },
    ];
    const q = mssqlChunkSql(
      { info: info(['Order Id', 'Line]No'], cols), after: ['6f9619ff-8b86-d011-b42d-00c04fc964ff', '3'], upTo: ['7f9619ff-8b86-d011-b42d-00c04fc964ff', '1'], limit: 1000 },
      ['uniqueidentifier', 'smallint'],
    );
    expect(q.text).toBe(
      'SELECT TOP (1000) [Order Id], [Line]]No], [At] FROM [dbo].[Order]]Lines] ' +
        'WHERE (([Order Id] > CAST(@a0 AS uniqueidentifier)) OR ([Order Id] = CAST(@a0 AS uniqueidentifier) AND [Line]]No] > CAST(@a1 AS smallint))) ' +
        'AND NOT (([Order Id] > CAST(@u0 AS uniqueidentifier)) OR ([Order Id] = CAST(@u0 AS uniqueidentifier) AND [Line]]No] > CAST(@u1 AS smallint))) ' +
        'ORDER BY [Order Id], [Line]]No]',
    );
    expect(q.params).toEqual([['a0', '6f9619ff-8b86-d011-b42d-00c04fc964ff'], ['a1', '3'], ['u0', '7f9619ff-8b86-d011-b42d-00c04fc964ff'], ['u1', '1']]);
  });

  it('carries datetime and binary keys as exact text (style 126 and 1) and reads datetimeoffset offsets', () => {
    const cols = [
      { name: 'At', sqlType: 'datetime2(7)', nullable: false, ordinal: 1, kind: 'timestamp_local' as const },
      { name: 'Seen', sqlType: 'datetimeoffset(7)', nullable: true, ordinal: 2, kind: 'timestamp_offset' as const },
      { name: 'Hash', sqlType: 'binary(16)', nullable: false, ordinal: 3, kind: 'bytes' as const },
    ];
    const q = mssqlChunkSql({ info: info(['At', 'Hash'], cols), after: ['2024-01-01T00:00:00.1234567', '0x00FF'], limit: 10 }, ['datetime2(7)', 'binary(16)']);
    expect(q.text).toContain('SELECT TOP (10) [At], [Seen], [Hash], DATEPART(TZOFFSET, [Seen]) FROM');
    expect(q.text).toContain('[At] > CONVERT(datetime2(7), @a0, 126)');
    expect(q.text).toContain('[Hash] > CONVERT(binary(16), @a1, 1)');
    expect(q.offsetIndexes).toEqual([-1, 3, -1]);
  });

  it('carries float and real keys with 17 significant digits (style 3), so keyset paging neither skips nor repeats rows', () => {
    const cols = [
      { name: 'Score', sqlType: 'float', nullable: false, ordinal: 1, kind: 'double' as const },
      { name: 'Weight', sqlType: 'real', nullable: false, ordinal: 2, kind: 'float' as const },
    ];
    const q = mssqlChunkSql({ info: info(['Score', 'Weight'], cols), after: ['1.0000000000000002E+000', '3.40282347E+38'], limit: 100 }, ['float', 'real']);
    expect(q.text).toBe(
      'SELECT TOP (100) [Score], [Weight] FROM [dbo].[Order]]Lines] ' +
        'WHERE (([Score] > CAST(@a0 AS float)) OR ([Score] = CAST(@a0 AS float) AND [Weight] > CAST(@a1 AS real))) ORDER BY [Score], [Weight]',
    );
    // From the row's values: 17 and 9 significant digits, which turn back into the same float/real.
    const third = 1 / 3;
    expect(q.keyFormats[0](third)).toBe('0.33333333333333331');
    expect(Number(q.keyFormats[0](third))).toBe(third);
    const real = Math.fround(0.1);
    expect(q.keyFormats[1](real)).toBe('0.100000001');
    expect(Math.fround(Number(q.keyFormats[1](real)))).toBe(real);
    // Part bounds travel the same way.
    expect(mssqlSplitSql(table, ['Score'], ['float'])).toContain('SELECT bucket, CONVERT(nvarchar(40), [Score], 3) FROM r');
  });

  it('checks a --key with one query each: NULLs (stopping at the first) and a duplicated value (GROUP BY … HAVING)', () => {
    expect(mssqlNullKeySql(table, ['Code', 'Ver]'])).toBe(
      'SELECT TOP (1) CASE WHEN [Code] IS NULL THEN 1 ELSE 0 END, CASE WHEN [Ver]]] IS NULL THEN 1 ELSE 0 END FROM [dbo].[Order]]Lines] WHERE [Code] IS NULL OR [Ver]]] IS NULL',
    );
    expect(mssqlDuplicateKeySql(table, ['Code', 'At'], ['nvarchar(20)', 'datetime2(3)'])).toBe(
      'SELECT TOP (1) CONVERT(nvarchar(max), [Code]), CONVERT(nvarchar(40), [At], 126), COUNT_BIG(*) FROM [dbo].[Order]]Lines] GROUP BY [Code], [At] HAVING COUNT_BIG(*) > 1',
    );
  });

  it('reads a table without a key in one pass, and splits keyed tables into ranges with NTILE', () => {
    const q = mssqlChunkSql({ info: info([]) }, []);
    expect(q.text).toBe('SELECT [Id] FROM [dbo].[Order]]Lines]');
    expect(mssqlSplitSql(table, ['A', 'B]'], ['int', 'nvarchar(20)'])).toBe(
      'WITH s AS (SELECT [A], [B]]], NTILE(@parts) OVER (ORDER BY [A], [B]]]) AS bucket FROM [dbo].[Order]]Lines]),\n' +
        '    r AS (SELECT s.*, ROW_NUMBER() OVER (PARTITION BY bucket ORDER BY [A] DESC, [B]]] DESC) AS rn FROM s)\n' +
        '    SELECT bucket, CONVERT(nvarchar(max), [A]), CONVERT(nvarchar(max), [B]]]) FROM r WHERE rn = 1 AND bucket < @parts ORDER BY bucket',
    );
  });

  it('orders uniqueidentifiers as SQL Server does (last six bytes first)', () => {
    // From SQL Server's documented comparison order: bytes 10-15, then 8-9, 6-7, 4-5, 0-3.
    const sorted = [
      '01000000-0000-0000-0000-000000000000',
      '00000000-0100-0000-0000-000000000000',
      '00000000-0000-0100-0000-000000000000',
      '00000000-0000-0000-0100-000000000000',
      '00000000-0000-0000-0000-000000000001',
      '00000000-0000-0000-0000-010000000000',
    ];
    expect([...sorted].reverse().sort(compareSqlServerGuids)).toEqual(sorted);
    expect([...sorted].sort()).not.toEqual(sorted);
  });
});

describe('mssql source: type mapping from the drivers\' type metadata', () => {
  const expectedKinds: Record<string, string> = {
    Bit: 'bool', TinyInt: 'int32', SmallInt: 'int32', Int: 'int32', BigInt: 'int64', Decimal: 'decimal', Numeric: 'decimal',
    Money: 'decimal', SmallMoney: 'decimal', Float: 'double', Real: 'float', Char: 'string', VarChar: 'string', NChar: 'string',
    NVarChar: 'string', Text: 'string', NText: 'string', Xml: 'string', Binary: 'bytes', VarBinary: 'bytes', Image: 'bytes',
    UniqueIdentifier: 'uuid', Date: 'date', Time: 'time', DateTime: 'timestamp_local', DateTime2: 'timestamp_local',
    SmallDateTime: 'timestamp_local', DateTimeOffset: 'timestamp_offset',
  };
  const refused = ['Variant', 'Geography', 'Geometry', 'UDT', 'TVP'];

  it('maps every type of the mssql package (sql.TYPES) or refuses it', () => {
    const names = Object.keys(sql.TYPES);
    expect(names.sort()).toEqual([...Object.keys(expectedKinds), ...refused].sort());
    for (const [name, type] of Object.entries(sql.TYPES)) {
      expect(kindOfSqlType(type as { declaration?: string }), name).toBe(expectedKinds[name]);
    }
  });

  it('maps the declarations of tedious\' data types (the wire types SQL Server sends) the same way', () => {
    for (const [name, type] of Object.entries(TEDIOUS_TYPES)) {
      if (name === 'UDT' || name === 'TVP' || name === 'Xml') continue; // no declaration of their own
      const declared = (type as { declaration(p: object): string }).declaration({ value: null, length: 10, precision: 18, scale: 2, type });
      const typeName = declared.replace(/\(.*$/, '');
      if (name === 'Variant') {
        expect(() => mssqlColumn(table, { name: 'v', typeName, maxLength: 8016, precision: 0, scale: 0, nullable: true, ordinal: 1 })).toThrow(/sql_variant, which holds values of varying types/);
        continue;
      }
      expect(MSSQL_TYPE_KINDS[typeName], `${name} → ${declared}`).toBe(expectedKinds[name]);
    }
  });

  it('refuses CLR and variant columns naming table, column and the ways out', () => {
    const col = (typeName: string, isAssemblyType = false) => () =>
      mssqlColumn(table, { name: 'Where', typeName, maxLength: -1, precision: 0, scale: 0, nullable: true, ordinal: 4, isAssemblyType, userTypeName: typeName });
    expect(col('geography', true)).toThrow("dbo.Order]Lines: column Where has type geography, which is a CLR spatial type; leave it out with --exclude-columns 'dbo.Order]Lines.Where' or select it as a supported type with --cast 'dbo.Order]Lines.Where=<SQL expression>'");
    expect(col('geometry', true)).toThrow(/type geometry, which is a CLR spatial type/);
    expect(col('hierarchyid', true)).toThrow(/type hierarchyid, which is a CLR type/);
    expect(col('MyClrType', true)).toThrow(/type MyClrType, which is a CLR type/);
    expect(col('sql_variant')).toThrow(/sql_variant, which holds values of varying types/);
  });

  it('writes SQL types as declared, decimals and money through server-side text, and a schema with offsets', () => {
    const meta = (typeName: string, maxLength: number, precision = 0, scale = 0, ordinal = 1) =>
      mssqlColumn(table, { name: `c${ordinal}`, typeName, maxLength, precision, scale, nullable: true, ordinal });
    expect(meta('nvarchar', -1).sqlType).toBe('nvarchar(max)');
    expect(meta('nvarchar', 100).sqlType).toBe('nvarchar(50)');
    expect(meta('varbinary', -1).sqlType).toBe('varbinary(max)');
    expect(meta('decimal', 17, 38, 10)).toMatchObject({ sqlType: 'decimal(38,10)', kind: 'decimal', selectExpr: 'CONVERT(varchar(48), [c1])' });
    expect(meta('money', 8)).toMatchObject({ kind: 'decimal', selectExpr: 'CONVERT(varchar(32), [c1], 2)' });
    expect(meta('timestamp', 8).kind).toBe('bytes');
    const schema = generateTableSchema(table, [meta('datetimeoffset', 10, 34, 7, 1), { ...meta('int', 4, 10, 0, 2), nullable: false }], { source: 'mssql', server: 'db1', database: 'legacy' });
    expect(schema.protoText).toContain('message Order_Lines {');
    expect(schema.protoText).toContain('optional google.protobuf.Timestamp c1 = 1;');
    expect(schema.protoText).toContain('optional int32 c1_offset_minutes = 100001;');
    expect(schema.protoText).toContain('int32 c2 = 2;');
  });
});

describe('mssql source: values as tedious delivers them', () => {
  const utc = new WallClock('UTC');
  /** A Date as tedious' value parser builds it for datetime2/time/datetimeoffset (useUTC). */
  function tediousDate(iso: string, nanosecondsDelta: number): Date {
    const d = new Date(iso);
    Object.defineProperty(d, 'nanosecondsDelta', { enumerable: false, value: nanosecondsDelta });
    return d;
  }

  it('keeps datetime2 100 ns ticks, reads wall-clock values in the source zone', () => {
    const v = tediousDate('2024-03-01T12:34:56.123Z', 0.0004567);
    expect(exact(v as Date & { nanosecondsDelta: number })).toEqual({ seconds: 1709296496, nanos: 123456700 });
    expect(mssqlValueConverter('timestamp_local', utc)(v)).toEqual({ seconds: 1709296496, nanos: 123456700 });
    const helsinki = mssqlValueConverter('timestamp_local', new WallClock('Europe/Helsinki'))(v);
    expect(helsinki).toEqual({ seconds: 1709296496 - 2 * 3600, nanos: 123456700 });
    const before1970 = mssqlValueConverter('timestamp_local', utc)(tediousDate('1900-01-01T00:00:00.001Z', 0.0000001));
    expect(before1970).toEqual({ seconds: Date.UTC(1900, 0, 1) / 1000, nanos: 1_000_100 });
  });

  it('renders date and time as text, exactly to the column scale', () => {
    expect(mssqlValueConverter('date', utc)(new Date('0001-01-01T00:00:00Z'))).toBe('0001-01-01');
    expect(mssqlValueConverter('date', utc)(new Date('9999-12-31T00:00:00Z'))).toBe('9999-12-31');
    expect(mssqlValueConverter('time', utc, 7)(tediousDate('1970-01-01T23:59:59.999Z', 0.0009999))).toBe('23:59:59.9999999');
    expect(mssqlValueConverter('time', utc, 0)(tediousDate('1970-01-01T08:00:01Z', 0))).toBe('08:00:01');
    expect(mssqlValueConverter('time', utc, 3)(tediousDate('1970-01-01T00:00:00.5Z', 0))).toBe('00:00:00.500');
  });

  it('keeps bigint, decimal text, uuid case and bytes exact', () => {
    expect(String(mssqlValueConverter('int64', utc)('-9223372036854775808'))).toBe('-9223372036854775808');
    expect(mssqlValueConverter('int64', utc)('42')).toBe(42);
    expect(mssqlValueConverter('decimal', utc)('12345678901234567890123456.123456789012')).toBe('12345678901234567890123456.123456789012');
    expect(mssqlValueConverter('uuid', utc)('6F9619FF-8B86-D011-B42D-00C04FC964FF')).toBe('6f9619ff-8b86-d011-b42d-00c04fc964ff');
    expect(mssqlValueConverter('bytes', utc)(Buffer.from([0, 255]))).toEqual(Buffer.from([0, 255]));
  });
});

describe('mssql source: connection settings and transient errors', () => {
  it('asks for read-only intent, the chosen isolation level, and never puts the password elsewhere', () => {
    const config = mssqlConfig({
      url: 'mssql://reader:p%40ss%3Aword@db.example.com:1533/Legacy?trustServerCertificate=true', connections: 3,
      sourceTimezone: 'UTC', isolation: 'snapshot', statementTimeoutMs: 60_000, connectTimeoutMs: 5_000,
    });
    expect(config).toMatchObject({ server: 'db.example.com', port: 1533, user: 'reader', password: 'p@ss:word', database: 'Legacy', requestTimeout: 60_000, pool: { max: 3 } });
    expect(config.options).toMatchObject({ readOnlyIntent: true, useUTC: true, encrypt: true, trustServerCertificate: true, isolationLevel: sql.ISOLATION_LEVEL.SNAPSHOT });
    expect(() => mssqlConfig({ url: 'mssql://a:b@h/d', connections: 1, sourceTimezone: 'UTC', isolation: 'chaos', statementTimeoutMs: 1, connectTimeoutMs: 1 })).toThrow(/--isolation chaos is not a SQL Server level/);
  });

  it('retries deadlock victims, timeouts and dropped connections, not syntax errors', () => {
    expect(isTransientMssqlError({ number: 1205, message: 'Transaction was deadlocked' })).toBe(true);
    expect(isTransientMssqlError({ code: 'ETIMEOUT' })).toBe(true);
    expect(isTransientMssqlError({ code: 'EREQUEST', originalError: { code: 'ECONNRESET' } })).toBe(true);
    expect(isTransientMssqlError({ number: 102, message: "Incorrect syntax near ')'" })).toBe(false);
  });

  it('reports an unreachable SQL Server in one line without the password', async () => {
    const r = await runFerry(['extract', '--from', 'mssql://sa:Sup3r-S3cret@127.0.0.1:1/legacy?encrypt=false', '--out', await tempDir('ferry-mssql-')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ferry: cannot connect to SQL Server at 127\.0\.0\.1:1\/legacy: nothing accepted a TCP connection at 127\.0\.0\.1:1: check that SQL Server runs there and listens on TCP .*\n$/);
    expect(r.stderr.split('\n')).toHaveLength(2);
    expect(r.stderr).not.toContain('Sup3r-S3cret');
  });
});

const MSSQL_URL = process.env.FERRY_MSSQL_URL;
const skipReason = MSSQL_URL ? '' : ' (SKIPPED: FERRY_MSSQL_URL is not set; set it to mssql://user:pass@host:port/db?trustServerCertificate=true to run)';
if (!MSSQL_URL) process.stderr.write(`extract-mssql.test.ts: SQL Server integration suite skipped: FERRY_MSSQL_URL is not set\n`);

describe.skipIf(!MSSQL_URL)(`mssql source against a real SQL Server${skipReason}`, () => {
  let pool: sql.ConnectionPool;
  const schema = `ferry_${Date.now().toString(36)}`;
  const created: string[] = [];

  beforeAll(async () => {
    // The suite's own connection: the URL as ferry reads it, but allowed to write (no read-only intent).
    const config = mssqlConfig({ url: MSSQL_URL!, connections: 2, sourceTimezone: 'UTC', statementTimeoutMs: 120_000, connectTimeoutMs: 15_000 });
    pool = await new sql.ConnectionPool({ ...config, options: { ...config.options, readOnlyIntent: false } }).connect();
    await pool.request().batch(`CREATE SCHEMA ${schema}`);
  });
  afterAll(async () => {
    if (!pool) return;
    for (const t of created.reverse()) await pool.request().batch(`DROP TABLE IF EXISTS ${schema}.${t}`).catch(() => undefined);
    await pool.request().batch(`DROP SCHEMA IF EXISTS ${schema}`).catch(() => undefined);
    await pool.close();
  });

  async function createTable(name: string, sqlText: string): Promise<void> {
    created.push(name);
    await pool.request().batch(sqlText);
  }

  /** Runs ferry extract with --json; returns the exit, stderr and, on success, every row of each table (its part files in order). */
  async function extract(tables: string, ...flags: string[]) {
    const out = await tempDir('ferry-mssql-it-');
    const r = await runFerry(['extract', '--from', MSSQL_URL!, '--tables', tables, '--out', out, '--schemas-out', out, '--json', ...flags]);
    const rows = new Map<string, Array<Record<string, unknown>>>();
    if (r.code === 0) {
      for (const t of JSON.parse(r.stdout).tables as Array<{ table: string; files: string[] }>) {
        const all = [];
        for (const f of t.files) all.push(...(await readPlain(path.join(out, f))));
        rows.set(t.table, all);
      }
    }
    return { ...r, rows, out };
  }

  it('dumps every SQL Server type exactly, NULLs as NULL; a 2-row table with --parts 3 is read from all its part files', async () => {
    await createTable('EveryType', `
      CREATE TABLE ${schema}.EveryType (
        id int NOT NULL PRIMARY KEY, c_bit bit, c_tiny tinyint, c_small smallint, c_int int, c_big bigint,
        c_dec decimal(38,10), c_num numeric(5,0), c_money money, c_smallmoney smallmoney, c_float float, c_real real,
        c_date date, c_time time(7), c_dt datetime, c_dt2 datetime2(7), c_sdt smalldatetime, c_dto datetimeoffset(7),
        c_char char(5), c_varchar varchar(20), c_nchar nchar(5), c_nvarchar nvarchar(max), c_text text, c_ntext ntext,
        c_binary binary(4), c_varbinary varbinary(max), c_image image, c_guid uniqueidentifier, c_xml xml, c_rv rowversion);
      INSERT INTO ${schema}.EveryType (id, c_bit, c_tiny, c_small, c_int, c_big, c_dec, c_num, c_money, c_smallmoney, c_float, c_real,
        c_date, c_time, c_dt, c_dt2, c_sdt, c_dto, c_char, c_varchar, c_nchar, c_nvarchar, c_text, c_ntext, c_binary, c_varbinary, c_image, c_guid, c_xml)
      VALUES (1, 1, 255, -32768, 2147483647, -9223372036854775808, 1234567890123456789012345678.0123456789, 99999, 922337203685477.5807, -214748.3648,
        0.1, 1.5, '0001-01-01', '23:59:59.9999999', '2024-03-01 12:34:56.997', '2024-03-01 12:34:56.1234567', '2024-03-01 12:35:00',
        '2024-03-01 12:34:56.1234567 +05:30', 'ab', 'varchar', N'ñö', N'Hyvää päivää 👋', 'text', N'ntext', 0x00FF00AA, 0x01, 0x02,
        '6F9619FF-8B86-D011-B42D-00C04FC964FF', '<a x="1">x</a>');
      INSERT INTO ${schema}.EveryType (id) VALUES (2);`);
    const r = await extract(`${schema}.EveryType`, '--parts', '3', '--chunk-rows', '1');
    expect(r.code, r.stderr).toBe(0);
    const rows = r.rows.get(`${schema}.EveryType`)!;
    expect(rows.map((row) => row.id)).toEqual([1, 2]);
    expect(rows[0]).toMatchObject({
      id: 1, c_bit: true, c_tiny: 255, c_small: -32768, c_int: 2147483647, c_big: '-9223372036854775808',
      c_dec: '1234567890123456789012345678.0123456789', c_num: '99999', c_money: '922337203685477.5807', c_smallmoney: '-214748.3648',
      c_float: 0.1, c_real: 1.5, c_date: '0001-01-01', c_time: '23:59:59.9999999',
      c_dt: { seconds: '1709296496', nanos: 997_000_000 },
      c_dt2: { seconds: '1709296496', nanos: 123456700 }, c_sdt: { seconds: '1709296500', nanos: 0 },
      c_dto: { seconds: String(1709296496 - 5.5 * 3600), nanos: 123456700 }, c_dto_offset_minutes: 330,
      c_char: 'ab   ', c_varchar: 'varchar', c_nchar: 'ñö   ', c_nvarchar: 'Hyvää päivää 👋', c_text: 'text', c_ntext: 'ntext',
      c_binary: 'AP8Aqg==', c_varbinary: 'AQ==', c_image: 'Ag==', c_guid: '6f9619ff-8b86-d011-b42d-00c04fc964ff', c_xml: '<a x="1">x</a>',
    });
    expect(Object.entries(rows[1]).filter(([k, v]) => k !== 'id' && k !== 'c_rv' && v !== null)).toEqual([]);
  });

  it('pages composite GUID keys in parts, every row once, in SQL Server\'s order', async () => {
    await createTable('lines', `
      CREATE TABLE ${schema}.lines (g uniqueidentifier NOT NULL, n int NOT NULL, v nvarchar(20), PRIMARY KEY (g, n));
      INSERT INTO ${schema}.lines SELECT NEWID(), x.n, CONCAT(N'v', x.n) FROM (SELECT TOP (500) ROW_NUMBER() OVER (ORDER BY (SELECT 1)) AS n FROM sys.all_objects) x;`);
    const r = await extract(`${schema}.lines`, '--parts', '3', '--chunk-rows', '77');
    expect(r.code, r.stderr).toBe(0);
    const db = (await pool.request().query(`SELECT LOWER(CONVERT(char(36), g)) AS g, n, v FROM ${schema}.lines ORDER BY g, n`)).recordset;
    expect(r.rows.get(`${schema}.lines`)).toEqual(db);
  });

  it('pages keys of every pageable type exactly (money, float, real, datetime, datetime2, datetimeoffset, time, binary, case-insensitive text), 7 rows a chunk', async () => {
    const types = ['money', 'float', 'real', 'datetime', 'datetime2(7)', 'datetimeoffset(7)', 'time(7)', 'varbinary(16)', 'nvarchar(20) COLLATE Latin1_General_CI_AS', 'decimal(12,4)', 'bigint'];
    // 60 distinct values per type, close together (sub-cent money, a few ulps of float, 100 ns ticks, 1/300 s datetimes,
    // text whose case-insensitive order differs from its binary order, offsets that interleave the instants).
    const value = (type: string) => {
      const t = type.replace(/\(.*$/, '').split(' ')[0];
      switch (t) {
        case 'money': return `CAST(1.2345 + n / 10000.0 AS money)`;
        case 'decimal': return `CAST(1.2345 + n / 10000.0 AS decimal(12,4))`;
        case 'float': return `CAST(1.0 AS float) / 3 + n * 1e-15`;
        case 'real': return `CAST(CAST(1.0 AS float) / 3 + n * 1e-7 AS real)`;
        case 'datetime': return `DATEADD(millisecond, n * 10, CAST('2024-03-01T12:34:56.997' AS datetime))`;
        case 'datetime2': return `DATEADD(nanosecond, n * 100, CAST('2024-03-01T12:34:56.1234567' AS datetime2(7)))`;
        case 'datetimeoffset': return `TODATETIMEOFFSET(DATEADD(nanosecond, n * 100, CAST('2024-03-01T12:34:56.1234567' AS datetime2(7))), CASE WHEN n % 2 = 0 THEN '+05:30' ELSE '-03:00' END)`;
        case 'time': return `DATEADD(nanosecond, n * 100, CAST('23:59:50.0000001' AS time(7)))`;
        case 'varbinary': return `CAST(n AS varbinary(16))`;
        case 'nvarchar': return `CONCAT(CASE WHEN n % 2 = 0 THEN N'a' ELSE N'B' END, RIGHT(CONCAT(N'000', n), 3))`;
        default: return `CAST(n AS bigint) * 100000000000 - 3000000000000`;
      }
    };
    for (const [i, type] of types.entries()) {
      const name = `k${i}`;
      await createTable(name, `
        CREATE TABLE ${schema}.${name} (k ${type} NOT NULL PRIMARY KEY, n int NOT NULL);
        INSERT INTO ${schema}.${name} SELECT DISTINCT ${value(type)}, n FROM (SELECT TOP (60) ROW_NUMBER() OVER (ORDER BY (SELECT 1)) AS n FROM sys.all_objects) x;`);
    }
    const r = await extract(`${schema}.k*`, '--chunk-rows', '7', '--parts', '2');
    expect(r.code, r.stderr).toBe(0);
    for (const [i, type] of types.entries()) {
      const db = (await pool.request().query(`SELECT n FROM ${schema}.k${i} ORDER BY k`)).recordset.map((row: { n: number }) => row.n);
      expect(r.rows.get(`${schema}.k${i}`)!.map((row) => row.n), type).toEqual(db);
    }
  });

  it('quotes names holding ] (brackets doubled) in tables, columns and keys', async () => {
    await createTable('[Order]]Lines]', `
      CREATE TABLE ${schema}.[Order]]Lines] ([Line]]No] int NOT NULL PRIMARY KEY, [Note [x]]] nvarchar(10));
      INSERT INTO ${schema}.[Order]]Lines] VALUES (1, N'a'), (2, NULL), (3, N'c');`);
    const r = await extract(`${schema}.Order]Lines`, '--chunk-rows', '2');
    expect(r.code, r.stderr).toBe(0);
    expect(r.rows.get(`${schema}.Order]Lines`)).toEqual([{ Line_No: 1, Note__x_: 'a' }, { Line_No: 2, Note__x_: null }, { Line_No: 3, Note__x_: 'c' }]);
  });

  it('refuses a datetime2 of 0001-01-01 read in Europe/Helsinki with table, column and key', async () => {
    await createTable('early', `
      CREATE TABLE ${schema}.early (id int NOT NULL PRIMARY KEY, at datetime2(7));
      INSERT INTO ${schema}.early VALUES (1, '2024-01-01'), (2, '0001-01-01');`);
    const r = await extract(`${schema}.early`, '--source-timezone', 'Europe/Helsinki');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^ferry: ${schema}\\.early: column at, row with key \\(2\\): timestamp 0001-01-01 00:00:00\\.0000000 read in Europe/Helsinki is before 0001-01-01T00:00:00Z in UTC, .*--cast.*\\n$`));
  });

  it('says what to do about a wrong password, in one line', async () => {
    const u = new URL(MSSQL_URL!);
    u.password = 'surely-not-the-password-1';
    const r = await runFerry(['extract', '--from', u.toString(), '--out', await tempDir('ferry-mssql-')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ferry: cannot connect to SQL Server at .*: login failed for user '.*' \(SQL Server error 18456\): the password is wrong, the login is disabled .*\n$/);
    expect(r.stderr).not.toContain('surely-not-the-password-1');
  });
});
