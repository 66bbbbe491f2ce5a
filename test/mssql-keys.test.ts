// SQL Server keyset keys without a SQL Server: the key text ferry takes from the values tedious
// delivers (no CONVERT column per row), the T-SQL that turns it back, and how two keys are
// compared for the engine's keyset guard (here for integers and uniqueidentifiers, else by the
// server in the key columns' collations).
import { describe, expect, it } from 'vitest';
import { keyText, mssqlChunkSql, mssqlKeyAfterSql, mssqlKeyFormat, mssqlLocalKeyAfter } from '../extract/mssql-source.ts';
import type { TableInfo } from '../extract/source.ts';

const table = { schema: 'dbo', name: 'Keys' };

/** A Date as tedious' value parser builds it for datetime2/time/datetimeoffset with useUTC. */
function tediousDate(iso: string, nanosecondsDelta = 0): Date {
  const d = new Date(iso);
  Object.defineProperty(d, 'nanosecondsDelta', { enumerable: false, value: nanosecondsDelta });
  return d;
}

describe('mssql keys: text from the row\'s own values', () => {
  const fmt = (type: string) => mssqlKeyFormat(table, 'k', type);

  it('writes each key type in a form its keyText param turns back into the same value', () => {
    expect(fmt('int')(2147483647)).toBe('2147483647');
    expect(fmt('tinyint')(0)).toBe('0');
    // tedious gives bigint as a string: every digit kept.
    expect(fmt('bigint')('-9223372036854775808')).toBe('-9223372036854775808');
    expect(fmt('bit')(true)).toBe('1');
    expect(fmt('bit')(false)).toBe('0');
    // decimal and money columns are selected as the server's exact text.
    expect(fmt('decimal(38,10)')('1234567890123456789012345678.0123456789')).toBe('1234567890123456789012345678.0123456789');
    expect(fmt('money')('922337203685477.5807')).toBe('922337203685477.5807');
    expect(fmt('nvarchar(20)')('Ärrä ')).toBe('Ärrä ');
    expect(fmt('uniqueidentifier')('6F9619FF-8B86-D011-B42D-00C04FC964FF')).toBe('6F9619FF-8B86-D011-B42D-00C04FC964FF');
    expect(fmt('varbinary(16)')(Buffer.from([0, 255, 16]))).toBe('0x00FF10');
    expect(fmt('timestamp')(Buffer.from('00000000000007d1', 'hex'))).toBe('0x00000000000007D1');
    expect(fmt('date')(new Date('0001-01-01T00:00:00Z'))).toBe('0001-01-01');
    // datetime: tedious rounds 1/300 s ticks to milliseconds, which convert back to the same tick.
    expect(fmt('datetime')(new Date('2024-03-01T12:34:56.997Z'))).toBe('2024-03-01T12:34:56.997');
    expect(fmt('smalldatetime')(new Date('1900-01-01T00:01:00Z'))).toBe('1900-01-01T00:01:00.000');
    expect(fmt('datetime2(7)')(tediousDate('2024-03-01T12:34:56.123Z', 0.0004567))).toBe('2024-03-01T12:34:56.1234567');
    expect(fmt('datetime2(7)')(tediousDate('9999-12-31T23:59:59.999Z', 0.0009999))).toBe('9999-12-31T23:59:59.9999999');
    expect(fmt('datetimeoffset(7)')(tediousDate('2024-03-01T07:04:56.123Z', 0.0004567))).toBe('2024-03-01T07:04:56.1234567+00:00');
    expect(fmt('time(7)')(tediousDate('1970-01-01T23:59:59.999Z', 0.0009999))).toBe('23:59:59.9999999');
  });

  it('turns the texts back with the key column\'s own type (styles 126 and 1, CAST)', () => {
    expect(keyText('At', 'datetime2(7)').param('@a0')).toBe('CONVERT(datetime2(7), @a0, 126)');
    expect(keyText('V', 'varbinary(16)').param('@a0')).toBe('CONVERT(varbinary(16), @a0, 1)');
    expect(keyText('Rv', 'timestamp').param('@a0')).toBe('CONVERT(binary(8), @a0, 1)');
    expect(keyText('Rv', 'timestamp').select).toBe('CONVERT(nvarchar(max), [Rv], 1)');
    expect(keyText('M', 'money').param('@a0')).toBe('CAST(@a0 AS money)');
  });

  it('refuses a key type that cannot page exactly before anything is read, with the way out', () => {
    expect(() => fmt('sql_variant')).toThrow(
      "dbo.Keys: key column k has type sql_variant, whose values ferry cannot page by exactly (WHERE key > last); give a key of other columns with --key 'dbo.Keys=<columns>', or read the table in one pass with --no-key",
    );
    expect(() => fmt('xml')).toThrow(/key column k has type xml/);
    // Also when the sql_variant key column itself is left out of the dump.
    const info: TableInfo = { table, columns: [{ name: 'Id', sqlType: 'int', nullable: false, ordinal: 1, kind: 'int32' }], key: ['V'], keySource: '--key' };
    expect(() => mssqlChunkSql({ info, limit: 10 }, ['sql_variant'])).toThrow(/key column V has type sql_variant/);
  });
});

describe('mssql keys: is a chunk\'s first key after the last one?', () => {
  it('compares integer keys by value, not as text', () => {
    expect(mssqlLocalKeyAfter(['int'], ['9'], ['10'])).toBe(true);
    expect(mssqlLocalKeyAfter(['int'], ['10'], ['10'])).toBe(false);
    expect(mssqlLocalKeyAfter(['bigint'], ['-9223372036854775808'], ['-9223372036854775807'])).toBe(true);
    expect(mssqlLocalKeyAfter(['bigint'], ['9007199254740993'], ['9007199254740992'])).toBe(false);
  });

  it('compares uniqueidentifiers in SQL Server\'s order (last six bytes first), whatever the case', () => {
    expect(mssqlLocalKeyAfter(['uniqueidentifier'], ['01000000-0000-0000-0000-000000000000'], ['00000000-0000-0000-0000-000000000001'])).toBe(true);
    expect(mssqlLocalKeyAfter(['uniqueidentifier'], ['00000000-0000-0000-0000-000000000001'], ['FF000000-0000-0000-0000-000000000000'])).toBe(false);
    expect(mssqlLocalKeyAfter(['uniqueidentifier'], ['6f9619ff-8b86-d011-b42d-00c04fc964ff'], ['6F9619FF-8B86-D011-B42D-00C04FC964FF'])).toBe(false);
  });

  it('compares composite keys column by column, and leaves text, money, float and dates to the server', () => {
    expect(mssqlLocalKeyAfter(['int', 'smallint'], ['5', '9'], ['5', '10'])).toBe(true);
    expect(mssqlLocalKeyAfter(['int', 'smallint'], ['5', '9'], ['4', '10'])).toBe(false);
    // The first column decides without asking about the second.
    expect(mssqlLocalKeyAfter(['int', 'nvarchar(10)'], ['5', 'b'], ['6', 'a'])).toBe(true);
    expect(mssqlLocalKeyAfter(['int', 'nvarchar(10)'], ['5', 'b'], ['5', 'a'])).toBeUndefined();
    for (const t of ['nvarchar(10)', 'money', 'float', 'datetime2(7)', 'decimal(10,2)']) expect(mssqlLocalKeyAfter([t], ['1'], ['2']), t).toBeUndefined();
  });

  it('asks the server in the key columns\' collations', () => {
    expect(mssqlKeyAfterSql(['int', 'nvarchar(20)'], [undefined, 'Finnish_Swedish_CI_AS'])).toBe(
      'SELECT CASE WHEN ((CAST(@n0 AS int) > CAST(@p0 AS int)) OR (CAST(@n0 AS int) = CAST(@p0 AS int) AND ' +
        'CAST(@n1 AS nvarchar(20)) COLLATE Finnish_Swedish_CI_AS > CAST(@p1 AS nvarchar(20)) COLLATE Finnish_Swedish_CI_AS)) THEN 1 ELSE 0 END',
    );
    expect(mssqlKeyAfterSql(['money'], [undefined])).toBe('SELECT CASE WHEN CAST(@n0 AS money) > CAST(@p0 AS money) THEN 1 ELSE 0 END');
    // A collation name is an identifier; anything else is not pasted into the SQL.
    expect(mssqlKeyAfterSql(['nvarchar(5)'], ['x; DROP TABLE t'])).not.toContain('DROP');
  });
});
