// SQL Server as a legacy source (through the `mssql` package over tedious). Read-only application
// intent (replicas route it to a readable secondary), an isolation level of the user's choice
// (snapshot where the database allows it), T-SQL keyset chunks with bracket-quoted names, and
// values converted exactly: decimals and money are rendered as text by the server, datetime2 and
// time keep their 100 ns ticks (tedious' `nanosecondsDelta`), datetimeoffset keeps its offset.
import sql from 'mssql';
import protobuf from 'protobufjs';
import { UserError } from '../lib/errors.ts';
import { describeUrl, redact } from '../lib/redact.ts';
import { fieldNames, type SourceColumn, type TableRef, type ValueKind } from './row-schema.ts';
import net from 'node:net';
import type { Readable } from 'node:stream';
import {
  ExtractError,
  compareIntegerText,
  keyColumnTypes,
  tableName,
  tupleAfter,
  unsupportedColumn,
  type ChunkRequest,
  type ColumnOptions,
  type DuplicateKey,
  type KeyTuple,
  type RowBatch,
  type Source,
  type SourceOptions,
  type SourceOrigin,
  type TableInfo,
} from './source.ts';
import { MAX_TIMESTAMP_SECONDS, MIN_TIMESTAMP_SECONDS, WallClock, canonicalUuid, checkTimestampRange, civilDate, int64FromText, pad } from './values.ts';

const BATCH_ROWS = 2000;
/** ... or once they hold this many bytes (wide rows). */
const BATCH_BYTES = 4 * 1024 * 1024;
/** Rows the driver's stream holds ahead of the converter (it pauses the request beyond that). */
const STREAM_ROWS = 256;

/**
 * SQL Server type → value kind, keyed by the `declaration` of the mssql package's `sql.TYPES`
 * (which is also the system type name in sys.types, except sql_variant). Types missing here are
 * refused (sql_variant, geography, geometry, hierarchyid, CLR/UDT, table types).
 */
export const MSSQL_TYPE_KINDS: Record<string, ValueKind> = {
  bit: 'bool',
  tinyint: 'int32',
  smallint: 'int32',
  int: 'int32',
  bigint: 'int64',
  decimal: 'decimal',
  numeric: 'decimal',
  money: 'decimal',
  smallmoney: 'decimal',
  float: 'double',
  real: 'float',
  char: 'string',
  varchar: 'string',
  nchar: 'string',
  nvarchar: 'string',
  text: 'string',
  ntext: 'string',
  xml: 'string',
  sysname: 'string',
  binary: 'bytes',
  varbinary: 'bytes',
  image: 'bytes',
  timestamp: 'bytes',
  rowversion: 'bytes',
  uniqueidentifier: 'uuid',
  date: 'date',
  time: 'time',
  datetime: 'timestamp_local',
  datetime2: 'timestamp_local',
  smalldatetime: 'timestamp_local',
  datetimeoffset: 'timestamp_offset',
};

/** Why a type is refused, for the error message. */
const REFUSED: Record<string, string> = {
  sql_variant: 'holds values of varying types that one protobuf field cannot carry exactly',
  variant: 'holds values of varying types that one protobuf field cannot carry exactly',
  geography: 'is a CLR spatial type',
  geometry: 'is a CLR spatial type',
  hierarchyid: 'is a CLR type',
  udt: 'is a CLR user-defined type',
  tvp: 'is a table type',
};

export interface MssqlColumnMeta {
  name: string;
  /** System type name (sys.types of the system_type_id), e.g. "nvarchar". */
  typeName: string;
  /** Bytes; -1 for (max). */
  maxLength: number;
  precision: number;
  scale: number;
  nullable: boolean;
  ordinal: number;
  /** A CLR type (hierarchyid, geography, user assemblies). */
  isAssemblyType?: boolean;
  /** Name of the user-defined alias type, if any (for the sql type text). */
  userTypeName?: string;
}

/** Declared type text as SQL Server would print it: nvarchar(max), decimal(19,4), datetime2(3). */
export function mssqlTypeText(c: Pick<MssqlColumnMeta, 'typeName' | 'maxLength' | 'precision' | 'scale'>): string {
  const t = c.typeName.toLowerCase();
  if (['varchar', 'char', 'varbinary', 'binary'].includes(t)) return `${t}(${c.maxLength === -1 ? 'max' : c.maxLength})`;
  if (['nvarchar', 'nchar'].includes(t)) return `${t}(${c.maxLength === -1 ? 'max' : c.maxLength / 2})`;
  if (t === 'decimal' || t === 'numeric') return `${t}(${c.precision},${c.scale})`;
  if (t === 'datetime2' || t === 'time' || t === 'datetimeoffset') return `${t}(${c.scale})`;
  return c.typeName;
}

/** Value kind of a column, or an error that names the table, the column and the ways out. */
export function mssqlColumn(table: TableRef, c: MssqlColumnMeta): SourceColumn {
  const t = c.typeName.toLowerCase();
  const sqlType = c.userTypeName && c.userTypeName.toLowerCase() !== t ? `${c.userTypeName} (${mssqlTypeText(c)})` : mssqlTypeText(c);
  const kind = c.isAssemblyType ? undefined : MSSQL_TYPE_KINDS[t];
  if (!kind) throw unsupportedColumn(table, c.name, sqlType, REFUSED[t] ?? (c.isAssemblyType ? 'is a CLR type' : 'is not supported'));
  return { name: c.name, sqlType, nullable: c.nullable, ordinal: c.ordinal, kind, selectExpr: selectExpression(c.name, t) };
}

/** Kind for one of the mssql package's type factories (`sql.Int`, `sql.NVarChar`, …). */
export function kindOfSqlType(type: { declaration?: string }): ValueKind | undefined {
  return MSSQL_TYPE_KINDS[(type.declaration ?? '').toLowerCase()];
}

/** Columns whose driver value is not exact are rendered by the server instead. */
function selectExpression(column: string, type: string): string | undefined {
  const c = bracket(column);
  // decimal(38,s) as JS numbers would lose digits; money style 2 keeps all four decimals.
  if (type === 'decimal' || type === 'numeric') return `CONVERT(varchar(48), ${c})`;
  if (type === 'money' || type === 'smallmoney') return `CONVERT(varchar(32), ${c}, 2)`;
  return undefined;
}

export function bracket(name: string): string {
  return `[${name.replace(/]/g, ']]')}]`;
}

export function qualifiedName(t: TableRef): string {
  return `${bracket(t.schema)}.${bracket(t.name)}`;
}

function baseType(typeText: string): string {
  return typeText.toLowerCase().replace(/\(.*$/, '');
}

/**
 * How a key column's value travels as text when the server renders it (split points, duplicate
 * checks, key columns not selected as they are) and how the WHERE turns the text back.
 */
export function keyText(column: string, typeText: string): { select: string; param: (p: string) => string } {
  const t = baseType(typeText);
  const c = bracket(column);
  if (['datetime', 'datetime2', 'smalldatetime', 'date', 'time', 'datetimeoffset'].includes(t)) {
    return { select: `CONVERT(nvarchar(40), ${c}, 126)`, param: (p) => `CONVERT(${typeText}, ${p}, 126)` };
  }
  if (['binary', 'varbinary'].includes(t)) return { select: `CONVERT(nvarchar(max), ${c}, 1)`, param: (p) => `CONVERT(${typeText}, ${p}, 1)` };
  // rowversion (system name timestamp) is binary(8): style 1 both ways.
  if (t === 'timestamp' || t === 'rowversion') return { select: `CONVERT(nvarchar(max), ${c}, 1)`, param: (p) => `CONVERT(binary(8), ${p}, 1)` };
  if (['money', 'smallmoney'].includes(t)) return { select: `CONVERT(nvarchar(40), ${c}, 2)`, param: (p) => `CAST(${p} AS ${typeText})` };
  // Style 3: 17 significant digits, which turn back into the same float/real (the default style
  // keeps 6, so `WHERE key > @last` could skip or repeat rows).
  if (['float', 'real'].includes(t)) return { select: `CONVERT(nvarchar(40), ${c}, 3)`, param: (p) => `CAST(${p} AS ${typeText})` };
  return { select: `CONVERT(nvarchar(max), ${c})`, param: (p) => `CAST(${p} AS ${typeText})` };
}

/**
 * A key column's text from the value the driver gives for the column itself (no CONVERT column per
 * row: that tripled the server's time per chunk). Every form here turns back into the same value
 * through keyText's param: integers and decimal/money text (the column is selected as exact text)
 * as they are, float/real with 17/9 significant digits, binary as 0x…, datetimes as ISO 8601 with
 * every tick (tedious' nanosecondsDelta), uniqueidentifier and strings as they are.
 * Types that cannot page exactly are refused before anything is read.
 */
export function mssqlKeyFormat(table: TableRef, column: string, typeText: string): (v: unknown) => string {
  switch (baseType(typeText)) {
    case 'tinyint':
    case 'smallint':
    case 'int':
    case 'bigint':
    case 'decimal':
    case 'numeric':
    case 'money':
    case 'smallmoney':
    case 'char':
    case 'varchar':
    case 'nchar':
    case 'nvarchar':
    case 'sysname':
    case 'uniqueidentifier':
      return (v) => String(v);
    case 'bit':
      return (v) => (v ? '1' : '0');
    case 'float':
      return (v) => (v as number).toPrecision(17);
    case 'real':
      return (v) => (v as number).toPrecision(9);
    case 'binary':
    case 'varbinary':
    case 'timestamp':
    case 'rowversion':
      return (v) => `0x${(v as Buffer).toString('hex').toUpperCase()}`;
    case 'date':
      return (v) => civilDate(Math.floor((v as Date).getTime() / 86_400_000));
    case 'datetime':
    case 'smalldatetime':
      return (v) => isoWallClock(v as TediousDate, 3);
    case 'datetime2':
      return (v) => isoWallClock(v as TediousDate, 7);
    case 'datetimeoffset':
      // The Date is the UTC instant; datetimeoffset compares by it.
      return (v) => `${isoWallClock(v as TediousDate, 7)}+00:00`;
    case 'time':
      return (v) => isoWallClock(v as TediousDate, 7).slice(11);
  }
  const t = tableName(table);
  throw new UserError(
    `${t}: key column ${column} has type ${typeText}, whose values ferry cannot page by exactly (WHERE key > last); ` +
      `give a key of other columns with --key '${t}=<columns>', or read the table in one pass with --no-key`,
  );
}

/** `YYYY-MM-DDTHH:MM:SS.f…` of a tedious Date's UTC fields, with `digits` fraction digits. */
function isoWallClock(d: TediousDate, digits: number): string {
  const { seconds, nanos } = exact(d);
  const s = ((seconds % 86400) + 86400) % 86400;
  const time = `${pad(Math.floor(s / 3600), 2)}:${pad(Math.floor(s / 60) % 60, 2)}:${pad(s % 60, 2)}`;
  return `${civilDate(Math.floor(seconds / 86400))}T${time}.${pad(nanos, 9).slice(0, digits)}`;
}

/** Key types compared without the server: their text is canonical and their order known. */
const MSSQL_LOCAL_KEY_COMPARE: Record<string, (a: string, b: string) => number | undefined> = {
  bit: compareIntegerText,
  tinyint: compareIntegerText,
  smallint: compareIntegerText,
  int: compareIntegerText,
  bigint: compareIntegerText,
  uniqueidentifier: (a, b) => compareSqlServerGuids(a, b),
};

/** `next` after `prev` compared here when every key column is an integer or uniqueidentifier; else undefined. */
export function mssqlLocalKeyAfter(keyTypes: string[], prev: KeyTuple, next: KeyTuple): boolean | undefined {
  return tupleAfter(prev, next, keyTypes.map((t) => MSSQL_LOCAL_KEY_COMPARE[baseType(t)]));
}

/**
 * Whether key `@n…` sorts after key `@p…` as the table's ORDER BY does: the texts turned back into
 * the key types, strings in the key columns' collations (a COLLATE of the column, else the
 * database default applies to parameters, which may order differently).
 */
export function mssqlKeyAfterSql(keyTypes: string[], collations: Array<string | undefined>): string {
  const expr = (prefix: string) =>
    keyTypes.map((t, i) => {
      const e = keyText('k', t).param(`@${prefix}${i}`);
      const c = collations[i];
      return c && /^\w+$/.test(c) ? `${e} COLLATE ${c}` : e;
    });
  return `SELECT CASE WHEN ${keysetGreater(expr('n'), expr('p'))} THEN 1 ELSE 0 END`;
}

/** `(k1, k2) > (@a0, @a1)` in T-SQL, which has no row comparison. */
export function keysetGreater(keys: string[], params: string[]): string {
  const ors = keys.map((_, i) => {
    const eq = keys.slice(0, i).map((k, j) => `${k} = ${params[j]}`);
    return [...eq, `${keys[i]} > ${params[i]}`].join(' AND ');
  });
  return ors.length === 1 ? ors[0] : `(${ors.map((o) => `(${o})`).join(' OR ')})`;
}

export interface MssqlChunkSql {
  text: string;
  /** Parameter name → key text. */
  params: Array<[string, string]>;
  /** Index in the row of each key column's value. */
  keyIndexes: number[];
  /** Per key column: its text from the value at keyIndexes. */
  keyFormats: Array<(v: unknown) => string>;
  /** Index of the offset-minutes column of each datetimeoffset column (or -1). */
  offsetIndexes: number[];
}

/** The T-SQL of one keyset chunk. `keyTypes` are the key columns' declared types. */
export function mssqlChunkSql(request: ChunkRequest, keyTypes: string[]): MssqlChunkSql {
  const { info } = request;
  const select = info.columns.map((c) => c.selectExpr ?? bracket(c.name));
  const offsetIndexes = info.columns.map((c) => {
    if (c.kind !== 'timestamp_offset') return -1;
    select.push(`DATEPART(TZOFFSET, ${c.selectExpr ?? bracket(c.name)})`);
    return select.length - 1;
  });
  const texts = info.key.map((k, i) => keyText(k, keyTypes[i]));
  // A key column selected as it is (or as its exact text: decimal, money) gives the key from the
  // row; one left out or --cast comes back as the server's text in an extra column.
  const keyFormats: Array<(v: unknown) => string> = [];
  const keyIndexes = info.key.map((k, i) => {
    const at = info.columns.findIndex((c) => c.name === k && c.selectExpr === selectExpression(k, baseType(keyTypes[i])));
    if (at >= 0) {
      keyFormats.push(mssqlKeyFormat(info.table, k, keyTypes[i]));
      return at;
    }
    if (baseType(keyTypes[i]) === 'sql_variant') mssqlKeyFormat(info.table, k, keyTypes[i]);
    keyFormats.push((v) => String(v));
    select.push(texts[i].select);
    return select.length - 1;
  });
  const keys = info.key.map(bracket);
  const params: Array<[string, string]> = [];
  const where: string[] = [];
  if (request.after) {
    const names = request.after.map((v, i) => {
      params.push([`a${i}`, v]);
      return texts[i].param(`@a${i}`);
    });
    where.push(keysetGreater(keys, names));
  }
  if (request.upTo) {
    const names = request.upTo.map((v, i) => {
      params.push([`u${i}`, v]);
      return texts[i].param(`@u${i}`);
    });
    where.push(`NOT ${wrap(keysetGreater(keys, names))}`);
  }
  const top = request.limit !== undefined ? `TOP (${Math.floor(request.limit)}) ` : '';
  let text = `SELECT ${top}${select.join(', ')} FROM ${qualifiedName(info.table)}`;
  if (where.length) text += ` WHERE ${where.join(' AND ')}`;
  if (keys.length) text += ` ORDER BY ${keys.join(', ')}`;
  return { text, params, keyIndexes, keyFormats, offsetIndexes };
}

function wrap(s: string): string {
  return s.startsWith('(') ? s : `(${s})`;
}

/** One row telling which of `columns` is NULL, of the first row where one is (none when none is). */
export function mssqlNullKeySql(table: TableRef, columns: string[]): string {
  const tests = columns.map((c) => `${bracket(c)} IS NULL`);
  return `SELECT TOP (1) ${tests.map((t) => `CASE WHEN ${t} THEN 1 ELSE 0 END`).join(', ')} FROM ${qualifiedName(table)} WHERE ${tests.join(' OR ')}`;
}

/** One key value (as text) that more than one row holds, with its row count; no row when the key is unique. */
export function mssqlDuplicateKeySql(table: TableRef, columns: string[], types: string[]): string {
  const texts = columns.map((c, i) => keyText(c, types[i]).select);
  return `SELECT TOP (1) ${texts.join(', ')}, COUNT_BIG(*) FROM ${qualifiedName(table)} GROUP BY ${columns.map(bracket).join(', ')} HAVING COUNT_BIG(*) > 1`;
}

/** Upper keys of `parts` equal key ranges (all but the last), as text. */
export function mssqlSplitSql(table: TableRef, key: string[], keyTypes: string[]): string {
  const keys = key.map(bracket).join(', ');
  const desc = key.map((k) => `${bracket(k)} DESC`).join(', ');
  const texts = key.map((k, i) => keyText(k, keyTypes[i]).select).join(', ');
  return `WITH s AS (SELECT ${keys}, NTILE(@parts) OVER (ORDER BY ${keys}) AS bucket FROM ${qualifiedName(table)}),
    r AS (SELECT s.*, ROW_NUMBER() OVER (PARTITION BY bucket ORDER BY ${desc}) AS rn FROM s)
    SELECT bucket, ${texts} FROM r WHERE rn = 1 AND bucket < @parts ORDER BY bucket`;
}

/**
 * SQL Server's uniqueidentifier order: bytes 10-15 first, then 8-9, 6-7, 4-5, 0-3 (of the
 * canonical text's byte order). Keys are compared by the server; this is for checks and tests.
 */
export function compareSqlServerGuids(a: string, b: string): number {
  const groups = (g: string) => {
    const h = g.replace(/-/g, '').toLowerCase();
    return [h.slice(20, 32), h.slice(16, 20), h.slice(12, 16), h.slice(8, 12), h.slice(0, 8)];
  };
  const ga = groups(a);
  const gb = groups(b);
  for (let i = 0; i < ga.length; i++) if (ga[i] !== gb[i]) return ga[i] < gb[i] ? -1 : 1;
  return 0;
}

type TediousDate = Date & { nanosecondsDelta?: number };

type FieldWrite = (w: protobuf.Writer, row: unknown[]) => void;

/**
 * Writes rows as tedious delivers them (arrays) straight into a protobufjs Writer as
 * length-delimited row messages: byte for byte what `type.encodeDelimited` writes for the
 * converted values (fields by number; implicit-presence defaults left out of NOT NULL columns,
 * optional fields always written), without an object per row or the generic encoder, which took
 * 1.8 of the 2.2 µs CPU ferry spent per narrow row on top of the driver. Built once per row type.
 */
export class MssqlRowEncoder {
  private readonly writes: FieldWrite[] = [];
  /** Column index of each write (for errors). */
  private readonly columnOf: number[] = [];

  constructor(type: protobuf.Type, columns: SourceColumn[], clock: WallClock, scales: Array<number | undefined>, offsetIndexes: number[]) {
    type.resolveAll();
    const names = fieldNames(columns);
    const fields = type.fieldsArray.slice().sort((a, b) => a.id - b.id);
    for (const field of fields) {
      const i = names.indexOf(field.name);
      if (i >= 0) {
        this.writes.push(fieldWrite(field, i, mssqlValueConverter(columns[i].kind, clock, scales[i] ?? 7)));
        this.columnOf.push(i);
        continue;
      }
      const of = names.findIndex((n) => `${n}_offset_minutes` === field.name);
      if (of < 0 || offsetIndexes[of] < 0) throw new Error(`internal error: field ${field.name} of ${type.name} has no column`);
      const at = offsetIndexes[of];
      const tag = tagOf(field);
      // Optional beside a nullable column; implicit (0 left out) beside a NOT NULL one.
      const always = field.hasPresence;
      this.writes.push((w, row) => {
        const v = row[at] as number | null | undefined;
        if (v !== null && v !== undefined && (always || v !== 0)) w.uint32(tag).int32(v);
      });
      this.columnOf.push(of);
    }
  }

  /** Appends one row message (length-prefixed); a value it cannot carry throws with the column's index. */
  row(w: protobuf.Writer, row: unknown[]): void {
    w.fork();
    const writes = this.writes;
    let k = 0;
    try {
      for (; k < writes.length; k++) writes[k](w, row);
    } catch (err) {
      throw Object.assign(err as Error, { columnIndex: this.columnOf[k] });
    }
    w.ldelim();
  }
}

function tagOf(field: protobuf.Field): number {
  const wire = ({ double: 1, float: 5, int32: 0, int64: 0, bool: 0, string: 2, bytes: 2 } as Record<string, number>)[field.type] ?? 2;
  return ((field.id << 3) | wire) >>> 0;
}

/** One field's write, with protobufjs' presence rules for the field's type. */
function fieldWrite(field: protobuf.Field, i: number, convert: (v: unknown) => unknown): FieldWrite {
  const tag = tagOf(field);
  const always = field.hasPresence || field.resolvedType !== null;
  const value = (row: unknown[]) => {
    const v = row[i];
    return v === null || v === undefined ? undefined : convert(v);
  };
  switch (field.type) {
    case 'bool':
      return (w, row) => {
        const v = value(row) as boolean | undefined;
        if (v !== undefined && (always || v !== false)) w.uint32(tag).bool(v);
      };
    case 'int32':
      return (w, row) => {
        const v = value(row) as number | undefined;
        if (v !== undefined && (always || v !== 0)) w.uint32(tag).int32(v);
      };
    case 'int64':
      return (w, row) => {
        const v = value(row) as number | protobuf.Long | undefined;
        if (v !== undefined && (always || (typeof v === 'object' ? v.low || v.high : v !== 0))) w.uint32(tag).int64(v);
      };
    case 'double':
      return (w, row) => {
        const v = value(row) as number | undefined;
        if (v !== undefined && (always || !Object.is(v, 0))) w.uint32(tag).double(v);
      };
    case 'float':
      return (w, row) => {
        const v = value(row) as number | undefined;
        if (v !== undefined && (always || !Object.is(v, 0))) w.uint32(tag).float(v);
      };
    case 'string':
      return (w, row) => {
        const v = value(row) as string | undefined;
        if (v !== undefined && (always || v !== '')) w.uint32(tag).string(v);
      };
    case 'bytes':
      return (w, row) => {
        const v = value(row) as Uint8Array | undefined;
        if (v !== undefined && (always || v.length)) w.uint32(tag).bytes(v);
      };
    default:
      // google.protobuf.Timestamp: a message, written whenever set; its seconds and nanos are implicit.
      return (w, row) => {
        const t = value(row) as { seconds: number; nanos: number } | undefined;
        if (t === undefined) return;
        w.uint32(tag).fork();
        if (t.seconds !== 0) w.uint32(8).int64(t.seconds);
        if (t.nanos !== 0) w.uint32(16).int32(t.nanos);
        w.ldelim();
      };
  }
}

/** Turns tedious' value of a column of `kind` into the row message's plain value. */
export function mssqlValueConverter(kind: ValueKind, clock: WallClock, scale = 7): (v: unknown, offsetMinutes?: number) => unknown {
  switch (kind) {
    case 'bool':
    case 'int32':
    case 'double':
    case 'float':
    case 'string':
      return (v) => v;
    case 'decimal':
      return (v) => String(v);
    case 'int64':
      return (v) => int64FromText(String(v));
    case 'bytes':
      return (v) => v as Buffer;
    case 'uuid':
      return (v) => canonicalUuid(String(v));
    case 'date':
      return (v) => civilDate(Math.floor((v as Date).getTime() / 86_400_000));
    case 'time':
      return (v) => {
        const { seconds, nanos } = exact(v as TediousDate);
        const s = ((seconds % 86400) + 86400) % 86400;
        const base = `${pad(Math.floor(s / 3600), 2)}:${pad(Math.floor(s / 60) % 60, 2)}:${pad(s % 60, 2)}`;
        return scale > 0 ? `${base}.${pad(nanos, 9).slice(0, scale)}` : base;
      };
    case 'timestamp_local':
      // useUTC: the Date's UTC fields are the wall clock; the zone comes from --source-timezone.
      return (v) => {
        const { seconds, nanos } = exact(v as TediousDate);
        const utc = clock.toUtcSeconds(seconds);
        if (utc < MIN_TIMESTAMP_SECONDS || utc > MAX_TIMESTAMP_SECONDS) checkTimestampRange(utc, () => `timestamp ${isoWallClock(v as TediousDate, 7).replace("T", " ")} read in ${clock.timeZone}`);
        return { seconds: utc, nanos };
      };
    case 'timestamp_instant':
    case 'timestamp_offset':
      return (v) => {
        const t = exact(v as TediousDate);
        if (t.seconds < MIN_TIMESTAMP_SECONDS || t.seconds > MAX_TIMESTAMP_SECONDS) checkTimestampRange(t.seconds, () => `timestamp ${isoWallClock(v as TediousDate, 7).replace("T", " ")} UTC`);
        return t;
      };
  }
}

/** Seconds and nanoseconds of a tedious Date, including the sub-millisecond ticks. */
export function exact(d: TediousDate): { seconds: number; nanos: number } {
  const ms = d.getTime();
  const seconds = Math.floor(ms / 1000);
  const nanos = (ms - seconds * 1000) * 1_000_000 + Math.round((d.nanosecondsDelta ?? 0) * 1e9);
  return { seconds, nanos };
}

const ISOLATION: Record<string, number> = {
  'read-uncommitted': sql.ISOLATION_LEVEL.READ_UNCOMMITTED,
  'read-committed': sql.ISOLATION_LEVEL.READ_COMMITTED,
  'repeatable-read': sql.ISOLATION_LEVEL.REPEATABLE_READ,
  serializable: sql.ISOLATION_LEVEL.SERIALIZABLE,
  snapshot: sql.ISOLATION_LEVEL.SNAPSHOT,
};

/** mssql://user:password@host[:port]/database[?encrypt=false&trustServerCertificate=true&instanceName=…] */
export function mssqlConfig(options: SourceOptions): sql.config {
  const u = new URL(options.url);
  const q = u.searchParams;
  const flag = (name: string, dflt: boolean) => (q.has(name) ? !/^(0|false|no)$/i.test(q.get(name)!) : dflt);
  let isolationLevel: number | undefined;
  if (options.isolation) {
    isolationLevel = ISOLATION[options.isolation];
    if (isolationLevel === undefined) throw new UserError(`--isolation ${options.isolation} is not a SQL Server level (use ${Object.keys(ISOLATION).join(', ')})`);
  }
  return {
    server: u.hostname,
    port: u.port ? Number(u.port) : undefined,
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    database: decodeURIComponent(u.pathname.replace(/^\//, '')) || undefined,
    connectionTimeout: options.connectTimeoutMs,
    requestTimeout: options.statementTimeoutMs,
    pool: { max: options.connections, min: 0 },
    options: {
      encrypt: flag('encrypt', true),
      trustServerCertificate: flag('trustServerCertificate', false),
      instanceName: q.get('instanceName') ?? undefined,
      // ApplicationIntent=ReadOnly: an availability group routes this to a readable secondary.
      readOnlyIntent: true,
      useUTC: true,
      appName: 'ferry extract',
      ...(isolationLevel !== undefined ? { isolationLevel } : {}),
    },
  };
}

export class MssqlSource implements Source {
  readonly origin: SourceOrigin;
  private pool?: sql.ConnectionPool;
  private readonly clock: WallClock;
  private readonly keyTypes = new Map<string, Map<string, string>>();
  private readonly scales = new Map<string, Map<string, number>>();
  /** Per table: column → collation name (string columns). */
  private readonly collations = new Map<string, Map<string, string>>();
  /** Per row message type (one per dump being written): its row encoder. */
  private readonly encoders = new WeakMap<protobuf.Type, MssqlRowEncoder>();

  constructor(private readonly options: SourceOptions) {
    const { server, database } = describeUrl(options.url);
    this.origin = { source: 'mssql', server, database };
    this.clock = new WallClock(options.sourceTimezone);
  }

  async connect(): Promise<void> {
    const config = mssqlConfig(this.options);
    if (config.options?.encrypt && net.isIP(config.server)) dropIpServernameWarning();
    const pool = new sql.ConnectionPool(config);
    pool.on('error', () => undefined);
    try {
      this.pool = await pool.connect();
    } catch (err) {
      throw new UserError(mssqlConnectMessage(err, config, this.origin), { cause: err });
    }
  }

  private async query<R>(text: string, params: Record<string, unknown> = {}): Promise<R[]> {
    const request = this.pool!.request();
    for (const [k, v] of Object.entries(params)) request.input(k, v);
    return (await request.query(text)).recordset as unknown as R[];
  }

  async listTables(): Promise<TableRef[]> {
    const rows = await this.query<{ s: string; t: string }>(
      `SELECT s.name AS s, t.name AS t FROM sys.tables t JOIN sys.schemas s ON s.schema_id = t.schema_id WHERE t.is_ms_shipped = 0 ORDER BY s.name, t.name`,
    );
    return rows.map((r) => ({ schema: r.s, name: r.t }));
  }

  async findTable(schema: string | undefined, name: string): Promise<TableRef | undefined> {
    const rows = await this.query<{ s: string; t: string }>(
      `SELECT s.name AS s, o.name AS t FROM sys.objects o JOIN sys.schemas s ON s.schema_id = o.schema_id
       WHERE o.type IN ('U', 'V') AND o.name = @name AND (@schema IS NULL OR s.name = @schema) ORDER BY CASE s.name WHEN 'dbo' THEN 0 ELSE 1 END`,
      { name, schema: schema ?? null },
    );
    return rows[0] ? { schema: rows[0].s, name: rows[0].t } : undefined;
  }

  async introspect(table: TableRef, opts: ColumnOptions): Promise<TableInfo> {
    const qualified = qualifiedName(table);
    const cols = await this.query<{ column_id: number; name: string; type_name: string; user_type: string; max_length: number; precision: number; scale: number; is_nullable: boolean; is_assembly_type: boolean; collation_name: string | null }>(
      `SELECT c.column_id, c.name, st.name AS type_name, ut.name AS user_type, c.max_length, c.precision, c.scale, c.is_nullable, ut.is_assembly_type, c.collation_name
       FROM sys.columns c
       JOIN sys.types ut ON ut.user_type_id = c.user_type_id
       LEFT JOIN sys.types st ON st.user_type_id = c.system_type_id
       WHERE c.object_id = OBJECT_ID(@t) ORDER BY c.column_id`,
      { t: qualified },
    );
    if (cols.length === 0) throw new ExtractError(`table ${tableName(table)} does not exist`, { table: tableName(table) });
    const all = new Map(cols.map((c) => [c.name, mssqlTypeText({ typeName: c.type_name ?? c.user_type, maxLength: c.max_length, precision: c.precision, scale: c.scale })]));
    this.keyTypes.set(tableName(table), all);
    this.scales.set(tableName(table), new Map(cols.map((c) => [c.name, c.scale])));
    this.collations.set(tableName(table), new Map(cols.filter((c) => c.collation_name).map((c) => [c.name, c.collation_name!])));
    const columns: SourceColumn[] = [];
    for (const c of cols) {
      if (opts.exclude.has(c.name)) continue;
      const cast = opts.casts.get(c.name);
      if (cast) {
        // A cast's result type comes from the server's description of a query that reads no rows.
        const meta = await this.query<{ system_type_name: string }>(`SELECT system_type_name FROM sys.dm_exec_describe_first_result_set(@q, NULL, 0)`, { q: `SELECT ${cast} FROM ${qualified}` });
        const typeName = (meta[0]?.system_type_name ?? 'unknown').replace(/\(.*$/, '');
        const kind = MSSQL_TYPE_KINDS[typeName];
        if (!kind || kind === 'decimal') throw unsupportedColumn(table, c.name, `${meta[0]?.system_type_name ?? 'unknown'} (from --cast)`);
        columns.push({ name: c.name, sqlType: `${meta[0].system_type_name} (cast)`, nullable: true, ordinal: c.column_id, kind, selectExpr: cast });
        continue;
      }
      columns.push(mssqlColumn(table, {
        name: c.name, typeName: c.type_name ?? c.user_type, userTypeName: c.user_type, maxLength: c.max_length, precision: c.precision,
        scale: c.scale, nullable: c.is_nullable, ordinal: c.column_id, isAssemblyType: c.is_assembly_type,
      }));
    }
    for (const name of [...opts.exclude, ...opts.casts.keys()]) {
      if (!all.has(name)) throw new UserError(`${tableName(table)} has no column ${name} (named in --exclude-columns or --cast)`);
    }
    const keys = await this.query<{ index_name: string; is_primary_key: boolean; column_name: string; key_ordinal: number; is_nullable: boolean }>(
      `SELECT i.name AS index_name, i.is_primary_key, c.name AS column_name, ic.key_ordinal, c.is_nullable
       FROM sys.indexes i
       JOIN sys.index_columns ic ON ic.object_id = i.object_id AND ic.index_id = i.index_id AND ic.is_included_column = 0
       JOIN sys.columns c ON c.object_id = i.object_id AND c.column_id = ic.column_id
       WHERE i.object_id = OBJECT_ID(@t) AND i.is_unique = 1 AND i.has_filter = 0 AND i.is_disabled = 0
       ORDER BY i.is_primary_key DESC, i.index_id, ic.key_ordinal`,
      { t: qualified },
    );
    const byIndex = new Map<string, { primary: boolean; cols: string[]; nullable: boolean }>();
    for (const k of keys) {
      const e = byIndex.get(k.index_name) ?? { primary: k.is_primary_key, cols: [], nullable: false };
      e.cols.push(k.column_name);
      e.nullable ||= Boolean(k.is_nullable);
      byIndex.set(k.index_name, e);
    }
    // The key: the primary key, else the narrowest unique index on NOT NULL columns.
    const chosen = [...byIndex.entries()].filter((e) => !e[1].nullable).sort((a, b) => Number(b[1].primary) - Number(a[1].primary) || a[1].cols.length - b[1].cols.length)[0];
    const estimate = await this.query<{ n: number | string | null }>(
      `SELECT SUM(p.rows) AS n FROM sys.partitions p WHERE p.object_id = OBJECT_ID(@t) AND p.index_id IN (0, 1)`,
      { t: qualified },
    );
    return {
      table,
      columns,
      key: chosen ? chosen[1].cols : [],
      keySource: chosen ? (chosen[1].primary ? 'primary key' : `unique index ${chosen[0]}`) : 'none',
      estimatedRows: estimate[0]?.n != null ? Number(estimate[0].n) : undefined,
      tableColumns: cols.map((c) => ({ name: c.name, sqlType: all.get(c.name)!, nullable: Boolean(c.is_nullable) })),
      uniqueKeys: [...byIndex.values()].map((e) => e.cols),
    };
  }

  async nullKeyColumns(table: TableRef, columns: string[]): Promise<string[]> {
    const rows = await this.arrayQuery(mssqlNullKeySql(table, columns));
    return rows[0] ? columns.filter((_, i) => Number(rows[0][i]) === 1) : [];
  }

  async duplicateKey(table: TableRef, columns: string[]): Promise<DuplicateKey | undefined> {
    const types = this.keyTypes.get(tableName(table));
    const rows = await this.arrayQuery(mssqlDuplicateKeySql(table, columns, columns.map((c) => types?.get(c) ?? 'nvarchar')));
    const row = rows[0];
    return row ? { key: row.slice(0, columns.length).map((v) => (v === null ? null : String(v))), rows: Number(row[columns.length]) } : undefined;
  }

  private async arrayQuery(text: string): Promise<unknown[][]> {
    const request = this.pool!.request();
    request.arrayRowMode = true;
    return (await request.query(text)).recordset as unknown as unknown[][];
  }

  private keyTypesOf(info: TableInfo): string[] {
    return keyColumnTypes(info, this.keyTypes.get(tableName(info.table)));
  }

  async splitPoints(info: TableInfo, parts: number): Promise<KeyTuple[]> {
    if (parts <= 1 || info.key.length === 0) return [];
    const request = this.pool!.request();
    request.input('parts', sql.Int, parts);
    request.arrayRowMode = true;
    const result = await request.query(mssqlSplitSql(info.table, info.key, this.keyTypesOf(info)));
    return (result.recordset as unknown as unknown[][]).map((r) => r.slice(1).map(String));
  }

  describeQuery(request: ChunkRequest): string {
    return mssqlChunkSql(request, this.keyTypesOf(request.info)).text;
  }

  /** Integer and uniqueidentifier keys are compared here; others (strings: collations) by the server. */
  async keyAfter(info: TableInfo, prev: KeyTuple, next: KeyTuple): Promise<boolean> {
    const types = this.keyTypesOf(info);
    const local = mssqlLocalKeyAfter(types, prev, next);
    if (local !== undefined) return local;
    const collations = this.collations.get(tableName(info.table));
    const request = this.pool!.request();
    request.arrayRowMode = true;
    prev.forEach((v, i) => request.input(`p${i}`, sql.NVarChar(sql.MAX), v));
    next.forEach((v, i) => request.input(`n${i}`, sql.NVarChar(sql.MAX), v));
    const result = await request.query(mssqlKeyAfterSql(types, info.key.map((k) => collations?.get(k))));
    return Number((result.recordset as unknown as unknown[][])[0]?.[0]) === 1;
  }

  /** The row encoder of a row type (one per dump being written), built once for all its chunks. */
  private encoderFor(type: protobuf.Type, info: TableInfo, offsetIndexes: number[]): MssqlRowEncoder {
    let encoder = this.encoders.get(type);
    if (!encoder) {
      const scales = this.scales.get(tableName(info.table));
      encoder = new MssqlRowEncoder(type, info.columns, this.clock, info.columns.map((c) => scales?.get(c.name)), offsetIndexes);
      this.encoders.set(type, encoder);
    }
    return encoder;
  }

  async *readChunk(request: ChunkRequest): AsyncGenerator<RowBatch> {
    const { info, type } = request;
    if (!type) throw new Error('internal error: the SQL Server source encodes rows itself and needs the row type');
    const built = mssqlChunkSql(request, this.keyTypesOf(info));
    const encoder = this.encoderFor(type, info, built.offsetIndexes);
    const req = this.pool!.request();
    req.arrayRowMode = true;
    for (const [name, value] of built.params) req.input(name, sql.NVarChar(sql.MAX), value);
    const stream = req.toReadableStream({ highWaterMark: STREAM_ROWS });
    const table = tableName(info.table);
    const width = info.columns.length;
    const { keyIndexes, keyFormats } = built;
    const keyOf = (row: unknown[]): KeyTuple | undefined => (keyIndexes.length ? keyIndexes.map((k, i) => keyFormats[i](row[k])) : undefined);
    // Batches end where the engine's dump blocks end (rows or framed bytes from the chunk's start),
    // so each block reaches the writer as one batch.
    const batchRows = request.blockRecords ?? BATCH_ROWS;
    const batchBytes = request.blockBytes ?? BATCH_BYTES;
    const maxBytes = request.limit !== undefined ? request.maxBytes ?? Infinity : Infinity;
    let firstKey: KeyTuple | undefined;
    let done = false;
    req.on('done', () => (done = true));
    // Stream mode: rows, errors and the end arrive as events, which the readable stream carries.
    req.query(built.text, () => undefined);
    let w = protobuf.Writer.create();
    let ends: number[] = [];
    let bytes = 0;
    let chunkBytes = 0;
    let last: unknown[] | undefined;
    const take = (): RowBatch => {
      const batch = { framed: w.finish(), ends, bytes, lastKey: keyOf(last!), firstKey };
      w = protobuf.Writer.create();
      ends = [];
      bytes = 0;
      firstKey = undefined;
      return batch;
    };
    try {
      for await (const rows of bufferedRows(stream)) for (const row of rows) {
        try {
          encoder.row(w, row);
        } catch (err) {
          const column = info.columns[(err as { columnIndex?: number }).columnIndex ?? 0].name;
          throw new ExtractError(`${table}: column ${column}, row with key (${keyOf(row)?.join(', ') ?? 'none'}): ${(err as Error).message}`, { table, column }, { cause: err });
        }
        ends.push(w.len);
        let rowBytes = 0;
        for (let i = 0; i < width; i++) {
          const v = row[i];
          if (v === null || v === undefined) continue;
          rowBytes += typeof v === 'string' ? v.length : Buffer.isBuffer(v) ? v.length : 8;
        }
        bytes += rowBytes;
        if (last === undefined) firstKey = keyOf(row);
        last = row;
        chunkBytes += rowBytes;
        // The chunk ends after the row that reaches maxBytes (the engine goes on from its key).
        if (chunkBytes >= maxBytes) {
          yield take();
          return;
        }
        if (ends.length >= batchRows || w.len >= batchBytes) yield take();
      }
      if (ends.length) yield take();
    } finally {
      // Stopped early (an error or a consumer that gave up): do not let the query run on.
      if (!done) req.cancel();
    }
  }

  isTransient(err: unknown): boolean {
    return isTransientMssqlError(err);
  }

  async close(): Promise<void> {
    await this.pool?.close().catch(() => undefined);
    this.pool = undefined;
  }
}

/**
 * The rows of an object stream, as arrays of what it holds at a time: a `for await` over the
 * stream itself costs a promise per row (~0.4 µs CPU, a fifth of ferry's own time per narrow row).
 * Ends with the stream; throws its error (rows buffered before it are not handed out).
 */
export async function* bufferedRows(stream: Readable): AsyncGenerator<unknown[][]> {
  for (;;) {
    const rows: unknown[][] = [];
    for (let row = stream.read(); row !== null; row = stream.read()) rows.push(row as unknown[]);
    if (stream.errored) throw stream.errored;
    if (rows.length) {
      yield rows;
      continue;
    }
    if (stream.readableEnded || stream.destroyed) return;
    await readableOrEnd(stream);
  }
}

/** Resolves once the stream has rows to read, has ended or was destroyed; rejects with its error. */
function readableOrEnd(stream: Readable): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = () => {
      off();
      resolve();
    };
    const fail = (err: Error) => {
      off();
      reject(err);
    };
    const off = () => {
      stream.off('readable', done).off('end', done).off('close', done).off('error', fail);
    };
    stream.on('readable', done).on('end', done).on('close', done).on('error', fail);
  });
}

/**
 * tedious gives the URL's host as the TLS servername (SNI) also when it is an IP address, and Node
 * then prints DEP0123 (two lines, once per process, before anything else ferry says). SNI with an
 * address is meaningless, the certificate is still checked against the address, and tedious offers
 * no way to leave it out (an empty `serverName` falls back to the host): so that one warning, and
 * no other, is dropped.
 */
let ipServernameWarningDropped = false;
export function dropIpServernameWarning(): void {
  if (ipServernameWarningDropped) return;
  ipServernameWarningDropped = true;
  const emit = process.emitWarning;
  process.emitWarning = function emitWarning(this: NodeJS.Process, warning: string | Error, ...rest: unknown[]): void {
    const option = rest[0];
    const code = typeof option === 'object' && option !== null ? (option as { code?: unknown }).code : rest[1];
    if (code === 'DEP0123' || (warning as { code?: unknown }).code === 'DEP0123') return;
    (emit as (...args: unknown[]) => void).call(this, warning, ...rest);
  } as typeof process.emitWarning;
}

/** Codes and messages along an error's chain (mssql → tedious → socket/TLS, AggregateError members). */
function errorChain(err: unknown): Array<{ code?: string; message: string }> {
  const out: Array<{ code?: string; message: string }> = [];
  const seen = new Set<unknown>();
  const walk = (e: unknown) => {
    if (!e || typeof e !== 'object' || seen.has(e) || out.length > 20) return;
    seen.add(e);
    const x = e as { code?: unknown; message?: unknown; originalError?: unknown; cause?: unknown; errors?: unknown };
    out.push({ code: typeof x.code === 'string' ? x.code : undefined, message: typeof x.message === 'string' ? x.message : '' });
    walk(x.originalError);
    walk(x.cause);
    if (Array.isArray(x.errors)) x.errors.forEach(walk);
  };
  walk(err);
  return out;
}

const CERT_UNTRUSTED = new Set(['DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_GET_ISSUER_CERT']);

/**
 * The one line a failed connection gets: what happened and what to do about it. Login failures
 * (SQL Server error 18456: tedious ELOGIN), nothing listening (ESOCKET with "Could not connect
 * (sequence)" / ECONNREFUSED, ETIMEOUT), SQL Server Browser (EINSTLOOKUP), untrusted certificates.
 */
export function mssqlConnectMessage(err: unknown, config: Pick<sql.config, 'server' | 'port' | 'user' | 'database' | 'connectionTimeout' | 'options'>, origin: Pick<SourceOrigin, 'server' | 'database'>): string {
  const chain = errorChain(err);
  const codes = new Set(chain.map((e) => e.code).filter(Boolean));
  const text = chain.map((e) => e.message).join(' | ');
  const first = redact((chain[0]?.message ?? String(err)).replace(/\s+/g, ' ').trim());
  const instance = config.options?.instanceName;
  const target = config.port ? `${config.server}:${config.port}` : instance ? `${config.server}\\${instance}` : `${config.server}:1433`;
  const head = `cannot connect to SQL Server at ${origin.server}/${origin.database}`;
  const tcpHelp =
    `check that SQL Server runs there and listens on TCP (SQL Server Configuration Manager: TCP/IP enabled, then restart it), that the port is right ` +
    `(default 1433; a named instance has its own port: put it in the URL, or give ?instanceName=NAME with the SQL Server Browser service running), and that no firewall is in the way`;
  if (codes.has('ELOGIN')) {
    if (/Cannot open database/i.test(text)) {
      return `${head}: login '${config.user}' cannot open database "${config.database}" (SQL Server error 4060): it does not exist or the login has no user in it; check the database in the URL, or map the login to a user there`;
    }
    if (/Login failed/i.test(text)) {
      return `${head}: login failed for user '${config.user}' (SQL Server error 18456): the password is wrong, the login is disabled or does not exist, ` +
        `or the server accepts only Windows logins (turn on SQL Server and Windows Authentication mode); check the user and password in the URL (the server's error log says which)`;
    }
    return `${head}: the server refused the login: ${first}`;
  }
  if ([...codes].some((c) => CERT_UNTRUSTED.has(c!)) || /self[- ]signed certificate|unable to verify the first certificate/i.test(text)) {
    return `${head}: the server's TLS certificate is not trusted (${first.replace(/^Failed to connect to \S+ - /, '')}): ` +
      `add trustServerCertificate=true to the URL (encrypts, but does not check who the server is), or make the CA that signed it trusted (NODE_EXTRA_CA_CERTS=/path/to/ca.pem)`;
  }
  if (codes.has('ERR_TLS_CERT_ALTNAME_INVALID')) {
    return `${head}: the server's TLS certificate is not issued for ${config.server}: connect by the host name the certificate names, or add trustServerCertificate=true to the URL`;
  }
  if (codes.has('EENCRYPT')) return `${head}: the server requires encryption: remove encrypt=false from the URL`;
  if (codes.has('EINSTLOOKUP')) {
    return `${head}: no answer from the SQL Server Browser on ${config.server} (UDP 1434) for instance ${instance}: start the SQL Server Browser service and let UDP 1434 through, ` +
      `or put the instance's TCP port in the URL instead of instanceName`;
  }
  if (codes.has('ENOTFOUND') || codes.has('EAI_AGAIN')) return `${head}: the host name ${config.server} does not resolve (DNS): check the host in the URL`;
  if (codes.has('ETIMEOUT')) return `${head}: no answer from ${target} within ${Math.round((config.connectionTimeout ?? 15_000) / 1000)} s: ${tcpHelp}`;
  if (codes.has('ECONNREFUSED') || codes.has('EHOSTUNREACH') || codes.has('ENETUNREACH') || /Could not connect \(sequence\)/.test(text)) {
    return `${head}: nothing accepted a TCP connection at ${target}: ${tcpHelp}`;
  }
  return `${head}: ${first}`;
}

// 1205 deadlock victim, -2 timeout, 233/10053/10054/10060/64 connection dropped, 40197/40501/40613/49918/49919/49920 Azure throttling/failover, 4060 database unavailable (failover), 3960/3961 snapshot conflicts.
const TRANSIENT_NUMBERS = new Set([1205, -2, 233, 10053, 10054, 10060, 64, 20, 40197, 40501, 40613, 49918, 49919, 49920, 4060, 3960, 3961, 4221]);
const TRANSIENT_CODES = new Set(['ETIMEOUT', 'ECONNRESET', 'ESOCKET', 'ECONNCLOSED', 'ECONNREFUSED', 'EPIPE']);

export function isTransientMssqlError(err: unknown): boolean {
  const e = err as { number?: number; code?: string; originalError?: { code?: string; number?: number } } | undefined;
  if (!e) return false;
  if (e.number !== undefined && TRANSIENT_NUMBERS.has(e.number)) return true;
  if (e.code && TRANSIENT_CODES.has(e.code)) return true;
  const inner = e.originalError;
  return Boolean(inner && ((inner.code && TRANSIENT_CODES.has(inner.code)) || (inner.number !== undefined && TRANSIENT_NUMBERS.has(inner.number))));
}
