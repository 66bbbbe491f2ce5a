// PostgreSQL as a legacy source (through `pg`). Every value arrives as the server's text (type
// parsers that keep the text; keyset chunks as COPY text, encoded by pg-copy.ts), so timestamps
// keep microseconds, numeric keeps every digit and key values round-trip into the next keyset
// query exactly.
import pg from 'pg';
import { parse as parseArray } from 'postgres-array';
import type protobuf from 'protobufjs';
import { CopyOutQuery, CopyRowEncoder, CopyRowFormat, type CopyColumn } from './pg-copy.ts';
import { describeUrl, redact } from '../lib/redact.ts';
import { UserError } from '../lib/errors.ts';
import { fieldNames, type SourceColumn, type TableRef, type ValueKind } from './row-schema.ts';
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
import { WallClock, checkTimestampRange, int64FromText, parseTimestampText } from './values.ts';

/** PostgreSQL type name → value kind. Arrays of these become `repeated`. */
export const PG_TYPE_KINDS: Record<string, ValueKind> = {
  bool: 'bool',
  int2: 'int32',
  int4: 'int32',
  int8: 'int64',
  oid: 'int64',
  numeric: 'decimal',
  money: 'decimal',
  float4: 'float',
  float8: 'double',
  text: 'string',
  varchar: 'string',
  bpchar: 'string',
  char: 'string',
  name: 'string',
  citext: 'string',
  xml: 'string',
  json: 'string',
  jsonb: 'string',
  interval: 'string',
  timetz: 'string',
  inet: 'string',
  cidr: 'string',
  macaddr: 'string',
  bytea: 'bytes',
  uuid: 'uuid',
  date: 'date',
  time: 'time',
  timestamp: 'timestamp_local',
  timestamptz: 'timestamp_instant',
};

// Session settings that fix the text forms the converters rely on.
const SESSION_OPTIONS = [
  // Text arrives as UTF-8 whatever the database's encoding (pg decodes it so; the COPY encoder
  // copies its bytes into string fields).
  'client_encoding=UTF8',
  'DateStyle=ISO,YMD',
  'IntervalStyle=iso_8601',
  'TimeZone=UTC',
  'extra_float_digits=3',
  'bytea_output=hex',
  'standard_conforming_strings=on',
  'default_transaction_read_only=on',
];

const ISOLATION: Record<string, string> = {
  'read-committed': 'read committed',
  'repeatable-read': 'repeatable read',
  snapshot: 'repeatable read',
  serializable: 'serializable',
};

// Every value as the server sent it.
const TEXT_TYPES = { getTypeParser: () => (value: string) => value } as unknown as pg.CustomTypesConfig;

/** Rows handed to the engine at once (one query returns up to a chunk; this bounds batches), unless the request says where blocks end. */
const BATCH_ROWS = 5000;
/** ... or bytes of them (wide rows). */
const BATCH_BYTES = 4 * 1024 * 1024;

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export function qualified(t: TableRef): string {
  return `${quoteIdent(t.schema)}.${quoteIdent(t.name)}`;
}

interface PgColumnRow {
  attnum: string;
  attname: string;
  sql_type: string;
  nullable: string;
  typname: string;
  typtype: string;
  elem_typname: string | null;
  elem_typtype: string | null;
  /** The column's collation when it is not the database default, quoted (for comparing keys as the column does). */
  collation: string | null;
}

export class PostgresSource implements Source {
  readonly origin: SourceOrigin;
  private pool?: pg.Pool;
  private readonly clock: WallClock;
  private readonly columnsOf = new Map<string, Map<string, string>>();
  /** Per table: columns whose collation is not the database default → the quoted collation name. */
  private readonly collationsOf = new Map<string, Map<string, string>>();
  /** Per row message type (one per dump being written, so per table): how its COPY rows are encoded. */
  private readonly formats = new WeakMap<protobuf.Type, CopyRowFormat>();
  /** The database's text is checked for UTF-8 only when the server does not (SQL_ASCII). */
  private checkUtf8 = true;

  constructor(private readonly options: SourceOptions) {
    const { server, database } = describeUrl(options.url);
    this.origin = { source: 'postgres', server, database };
    this.clock = new WallClock(options.sourceTimezone);
  }

  async connect(): Promise<void> {
    const settings = [...SESSION_OPTIONS];
    if (this.options.isolation) {
      const level = ISOLATION[this.options.isolation];
      if (!level) throw new UserError(`--isolation ${this.options.isolation} is not one PostgreSQL has (use ${Object.keys(ISOLATION).join(', ')})`);
      settings.push(`default_transaction_isolation=${level.replace(' ', '\\ ')}`);
    }
    this.pool = new pg.Pool({
      connectionString: this.options.url,
      max: this.options.connections,
      connectionTimeoutMillis: this.options.connectTimeoutMs,
      statement_timeout: this.options.statementTimeoutMs,
      application_name: 'ferry extract',
      options: settings.map((s) => `-c ${s}`).join(' '),
      types: TEXT_TYPES,
    });
    // An idle connection the server closes must not crash the run; the next query reconnects.
    this.pool.on('error', () => undefined);
    try {
      const client = await this.pool.connect();
      try {
        // The encoder checks text from a SQL_ASCII database (which the server does not convert).
        const enc = (await client.query<{ server_encoding: string }>('SHOW server_encoding')).rows[0]?.server_encoding;
        this.checkUtf8 = enc !== 'UTF8';
      } finally {
        client.release();
      }
    } catch (err) {
      throw new UserError(`cannot connect to PostgreSQL at ${this.origin.server}/${this.origin.database}: ${redact((err as Error).message || String((err as NodeJS.ErrnoException).code))}`, { cause: err });
    }
  }

  private async query<R>(text: string, values: unknown[] = []): Promise<R[]> {
    const result = await this.pool!.query({ text, values });
    return result.rows as R[];
  }

  async listTables(): Promise<TableRef[]> {
    const rows = await this.query<{ nspname: string; relname: string }>(
      `SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
         AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
       ORDER BY 1, 2`,
    );
    return rows.map((r) => ({ schema: r.nspname, name: r.relname }));
  }

  async findTable(schema: string | undefined, name: string): Promise<TableRef | undefined> {
    const rows = await this.query<{ nspname: string; relname: string }>(
      `SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND c.relname = $1 AND ($2::text IS NULL OR n.nspname = $2)
         AND n.nspname NOT IN ('pg_catalog', 'information_schema')
       ORDER BY n.nspname = 'public' DESC, 1`,
      [name, schema ?? null],
    );
    return rows[0] ? { schema: rows[0].nspname, name: rows[0].relname } : undefined;
  }

  async introspect(table: TableRef, opts: ColumnOptions): Promise<TableInfo> {
    const oidRows = await this.query<{ oid: string; reltuples: string }>(
      `SELECT c.oid, c.reltuples::bigint AS reltuples FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2`,
      [table.schema, table.name],
    );
    if (!oidRows[0]) throw new ExtractError(`table ${tableName(table)} does not exist`, { table: tableName(table) });
    const oid = oidRows[0].oid;
    const rows = await this.query<PgColumnRow>(
      `SELECT a.attnum, a.attname, format_type(a.atttypid, a.atttypmod) AS sql_type, (NOT a.attnotnull)::text AS nullable,
              coalesce(bt.typname, t.typname) AS typname, coalesce(bt.typtype, t.typtype) AS typtype,
              et.typname AS elem_typname, et.typtype AS elem_typtype,
              (SELECT format('%I.%I', cn.nspname, co.collname) FROM pg_collation co JOIN pg_namespace cn ON cn.oid = co.collnamespace
               WHERE co.oid = a.attcollation AND a.attcollation <> 100) AS collation
       FROM pg_attribute a
       JOIN pg_type t ON t.oid = a.atttypid
       LEFT JOIN pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype
       LEFT JOIN pg_type et ON et.oid = coalesce(bt.typelem, t.typelem) AND coalesce(bt.typcategory, t.typcategory) = 'A'
       WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
       ORDER BY a.attnum`,
      [oid],
    );
    const all = new Map(rows.map((r) => [r.attname, r.sql_type]));
    this.columnsOf.set(tableName(table), all);
    this.collationsOf.set(tableName(table), new Map(rows.filter((r) => r.collation).map((r) => [r.attname, r.collation!])));
    const columns: SourceColumn[] = [];
    for (const r of rows) {
      if (opts.exclude.has(r.attname)) continue;
      const cast = opts.casts.get(r.attname);
      const base: Omit<SourceColumn, 'kind'> = { name: r.attname, sqlType: r.sql_type, nullable: r.nullable === 'true', ordinal: Number(r.attnum) };
      if (cast) {
        // The expression's result type decides the kind; ask the server without reading rows.
        columns.push({ ...base, ...(await this.castKind(table, r.attname, cast)), selectExpr: cast, nullable: true });
        continue;
      }
      if (r.elem_typname) {
        const kind = r.elem_typtype === 'e' ? 'string' : PG_TYPE_KINDS[r.elem_typname];
        if (!kind || r.elem_typname === 'money') throw unsupportedColumn(table, r.attname, r.sql_type);
        columns.push({ ...base, kind, repeated: true });
        continue;
      }
      const kind = r.typtype === 'e' ? 'string' : PG_TYPE_KINDS[r.typname];
      if (!kind) throw unsupportedColumn(table, r.attname, r.sql_type);
      columns.push({ ...base, kind, selectExpr: r.typname === 'money' ? `${quoteIdent(r.attname)}::numeric` : undefined });
    }
    for (const name of [...opts.exclude, ...opts.casts.keys()]) {
      if (!all.has(name)) throw new UserError(`${tableName(table)} has no column ${name} (named in --exclude-columns or --cast)`);
    }
    const keys = await this.query<{ name: string; primary: string; cols: string; not_null: string }>(
      `SELECT i.indexrelid::regclass::text AS name, i.indisprimary::text AS primary,
              json_agg(a.attname ORDER BY k.ord)::text AS cols, bool_and(a.attnotnull)::text AS not_null
       FROM pg_index i
       CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
       JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
       WHERE i.indrelid = $1 AND i.indisunique AND i.indisvalid AND i.indpred IS NULL AND i.indexprs IS NULL
         AND k.ord <= i.indnkeyatts
       GROUP BY i.indexrelid, i.indisprimary
       ORDER BY i.indisprimary DESC, count(*), 1`,
      [oid],
    );
    const estimate = Number(oidRows[0].reltuples);
    // The key: the primary key, else the narrowest unique index on NOT NULL columns.
    const chosen = keys.find((k) => k.not_null === 'true');
    return {
      table,
      columns,
      key: chosen ? (JSON.parse(chosen.cols) as string[]) : [],
      keySource: chosen ? (chosen.primary === 'true' ? 'primary key' : `unique index ${chosen.name}`) : 'none',
      estimatedRows: estimate >= 0 ? estimate : undefined,
      tableColumns: rows.map((r) => ({ name: r.attname, sqlType: r.sql_type, nullable: r.nullable === 'true' })),
      uniqueKeys: keys.map((k) => JSON.parse(k.cols) as string[]),
    };
  }

  async nullKeyColumns(table: TableRef, columns: string[]): Promise<string[]> {
    const tests = columns.map((c) => `${quoteIdent(c)} IS NULL`);
    const result = await this.pool!.query({
      text: `SELECT ${tests.join(', ')} FROM ${qualified(table)} WHERE ${tests.join(' OR ')} LIMIT 1`,
      rowMode: 'array',
    });
    const row = result.rows[0] as string[] | undefined;
    return row ? columns.filter((_, i) => row[i] === 't') : [];
  }

  async duplicateKey(table: TableRef, columns: string[]): Promise<DuplicateKey | undefined> {
    const cols = columns.map(quoteIdent);
    const result = await this.pool!.query({
      text: `SELECT ${cols.map((c) => `${c}::text`).join(', ')}, count(*) FROM ${qualified(table)} GROUP BY ${cols.join(', ')} HAVING count(*) > 1 LIMIT 1`,
      rowMode: 'array',
    });
    const row = result.rows[0] as Array<string | null> | undefined;
    return row ? { key: row.slice(0, columns.length), rows: Number(row[columns.length]) } : undefined;
  }

  /** Kind of a --cast expression, from the type PostgreSQL gives its result. */
  private async castKind(table: TableRef, column: string, expr: string): Promise<Pick<SourceColumn, 'kind' | 'repeated' | 'sqlType'>> {
    let rows: Array<{ t: string; typname: string; typtype: string; elem: string | null }>;
    try {
      // The expression's static type, over one all-NULL row (no table rows are read).
      rows = await this.query(
        `SELECT format_type(t.oid, NULL) AS t, t.typname, t.typtype, et.typname AS elem
         FROM pg_type t LEFT JOIN pg_type et ON et.oid = t.typelem AND t.typcategory = 'A'
         WHERE t.oid = (SELECT pg_typeof(${expr})::oid FROM (SELECT 1) one LEFT JOIN ${qualified(table)} ON false)`,
      );
    } catch (err) {
      throw new UserError(`--cast for ${tableName(table)}.${column} does not run: ${(err as Error).message}`, { cause: err });
    }
    const r = rows[0];
    const kind = r?.elem ? PG_TYPE_KINDS[r.elem] : r?.typtype === 'e' ? 'string' : r ? PG_TYPE_KINDS[r.typname] : undefined;
    if (!r || !kind) throw unsupportedColumn(table, column, `${r?.t ?? 'unknown'} (from --cast)`);
    return { kind, repeated: Boolean(r.elem), sqlType: `${r.t} (cast)` };
  }

  async splitPoints(info: TableInfo, parts: number): Promise<KeyTuple[]> {
    if (parts <= 1 || info.key.length === 0) return [];
    const keys = info.key.map(quoteIdent);
    const rows = await this.pool!.query({
      text: splitQuery(qualified(info.table), keys, parts),
      values: [parts],
      rowMode: 'array',
    });
    return (rows.rows as string[][]).map((r) => r.slice(1));
  }

  describeQuery(request: ChunkRequest): string {
    return this.chunkSql(request, true).text;
  }

  /**
   * Integer and uuid keys are compared here (their text is canonical: the COPY text of the
   * column); anything else, text above all (collations), by the server, as the column compares.
   */
  async keyAfter(info: TableInfo, prev: KeyTuple, next: KeyTuple): Promise<boolean> {
    const types = this.keyTypesOf(info);
    const local = tupleAfter(prev, next, types.map((t) => PG_LOCAL_KEY_COMPARE[t]));
    if (local !== undefined) return local;
    const collations = this.collationsOf.get(tableName(info.table));
    const values: string[] = [];
    const tuple = (key: KeyTuple) => {
      const params = key.map((v, i) => {
        values.push(v);
        const collation = collations?.get(info.key[i]);
        return `$${values.length}::${types[i]}${collation ? ` COLLATE ${collation}` : ''}`;
      });
      return params.length === 1 ? params[0] : `ROW(${params.join(', ')})`;
    };
    const text = `SELECT ${tuple(next)} > ${tuple(prev)} AS after`;
    const rows = await this.query<{ after: string }>(text, values);
    return rows[0]?.after === 't' || rows[0]?.after === 'true';
  }

  /** Declared types of the key columns. */
  private keyTypesOf(info: TableInfo): string[] {
    return keyColumnTypes(info, this.columnsOf.get(tableName(info.table)));
  }

  /** The chunk's SELECT: keyset condition on the key, key order, LIMIT. */
  chunkSql(request: ChunkRequest, forDisplay = false, literals = false): { text: string; values: string[]; keyIndexes: number[]; width: number } {
    const { info } = request;
    const select = info.columns.map((c) => c.selectExpr ?? quoteIdent(c.name));
    // Key values come back as extra columns unless the plain column is already selected.
    const keyIndexes = info.key.map((k) => {
      const i = info.columns.findIndex((c) => c.name === k && !c.selectExpr);
      if (i >= 0) return i;
      select.push(quoteIdent(k));
      return select.length - 1;
    });
    const keyTypes = this.keyTypesOf(info);
    const values: string[] = [];
    const tuple = (key: KeyTuple) => {
      const params = key.map((v, i) => {
        // COPY takes no parameters: the key text as a literal (standard_conforming_strings is on).
        if (literals) return `'${v.replace(/'/g, "''")}'::${keyTypes[i]}`;
        values.push(v);
        return `$${values.length}::${keyTypes[i]}`;
      });
      return params.length === 1 ? params[0] : `(${params.join(', ')})`;
    };
    const keyCols = info.key.map(quoteIdent);
    const keyExpr = keyCols.length === 1 ? keyCols[0] : `(${keyCols.join(', ')})`;
    const where: string[] = [];
    if (request.after) where.push(`${keyExpr} > ${forDisplay ? '<last key>' : tuple(request.after)}`);
    if (request.upTo) where.push(`${keyExpr} <= ${forDisplay ? '<part end>' : tuple(request.upTo)}`);
    let text = `SELECT ${select.join(', ')} FROM ${qualified(info.table)}`;
    if (where.length) text += ` WHERE ${where.join(' AND ')}`;
    if (keyCols.length) text += ` ORDER BY ${keyCols.join(', ')}`;
    if (request.limit !== undefined) text += ` LIMIT ${Math.floor(request.limit)}`;
    return { text, values, keyIndexes, width: select.length };
  }

  async *readChunk(request: ChunkRequest): AsyncGenerator<RowBatch> {
    if (request.limit !== undefined && request.type) yield* this.copyChunk(request, request.type);
    else yield* this.cursorRows(request);
  }

  /**
   * A keyset chunk through COPY (SELECT …) TO STDOUT, encoded as it streams in: the socket is read
   * only as fast as batches are taken, and the chunk ends after the row that reaches maxBytes
   * (the rest of the query is abandoned with its connection).
   */
  private async *copyChunk(request: ChunkRequest, type: NonNullable<ChunkRequest['type']>): AsyncGenerator<RowBatch> {
    const { info } = request;
    const { text, keyIndexes, width } = this.chunkSql(request, false, true);
    let format = this.formats.get(type);
    if (!format) {
      const names = fieldNames(info.columns);
      const columns: CopyColumn[] = info.columns.map((c, i) => ({ column: c, field: names[i], convert: this.valueConverter(c) }));
      format = new CopyRowFormat(tableName(info.table), columns, width, keyIndexes, type, this.clock, this.checkUtf8);
      this.formats.set(type, format);
    }
    const encoder = new CopyRowEncoder(format, request.maxBytes ?? Infinity, {
      rows: request.blockRecords ?? BATCH_ROWS,
      bytes: request.blockBytes ?? BATCH_BYTES,
    });
    const client = await this.pool!.connect();
    let broken: Error | undefined;
    let finished = false;
    const onError = (err: Error) => {
      broken ??= err;
    };
    client.on('error', onError);
    try {
      const copy = new CopyOutQuery(`COPY (${text}) TO STDOUT`, (buf, s, e) => encoder.row(buf, s, e));
      void client.query(copy as unknown as pg.QueryConfig);
      // The chunk's first batch says which key the chunk starts at (the engine's keyset guard).
      let first = true;
      for (;;) {
        const more = await copy.read(() => encoder.full);
        // Batches the encoder ended (at block ends) while reading what the socket held.
        for (let batch = encoder.sealed(); batch; batch = encoder.sealed()) {
          if (first) batch.firstKey = encoder.firstKey;
          first = false;
          yield batch;
        }
        if (encoder.full) break;
        if (!more) {
          finished = true;
          break;
        }
      }
      if (encoder.rows) {
        const batch: RowBatch = encoder.take();
        if (first) batch.firstKey = encoder.firstKey;
        yield batch;
      }
    } catch (err) {
      broken = err as Error;
      throw err;
    } finally {
      client.removeListener('error', onError);
      // A connection that failed, or whose COPY was not read to its end, is closed.
      client.release(broken ?? (finished ? undefined : new Error('chunk abandoned')));
    }
  }

  /** Rows through a server-side cursor, fetched in batches bounded in rows and (by the last batches' width) in bytes. */
  private async *cursorRows(request: ChunkRequest): AsyncGenerator<RowBatch> {
    const { text, values, keyIndexes } = this.chunkSql(request);
    const convert = this.converter(request.info);
    const client = await this.pool!.connect();
    let broken: Error | undefined;
    // A connection dropped while we hold it (e.g. between batches) must not crash the process:
    // keep the error, the next query on it fails and the engine retries.
    const onError = (err: Error) => {
      broken ??= err;
    };
    client.on('error', onError);
    try {
      await client.query('BEGIN READ ONLY');
      await client.query({ text: `DECLARE ferry_rows NO SCROLL CURSOR FOR ${text}`, values });
      let fetch = 64;
      let total = 0;
      for (;;) {
        const result = await client.query({ text: `FETCH ${fetch} FROM ferry_rows`, rowMode: 'array' });
        if (result.rows.length === 0) break;
        const batch = convert(result.rows as Array<Array<string | null>>, keyIndexes);
        yield batch;
        total += batch.bytes;
        if (request.limit !== undefined && total >= (request.maxBytes ?? Infinity)) break;
        const perRow = Math.max(1, batch.bytes / result.rows.length);
        fetch = Math.max(1, Math.min(BATCH_ROWS, fetch * 4, Math.floor(BATCH_BYTES / perRow)));
      }
      await client.query('COMMIT');
    } catch (err) {
      broken = err as Error;
      throw err;
    } finally {
      if (!broken) await client.query('ROLLBACK').catch(() => undefined);
      // A connection that failed (or whose cursor was abandoned) is not given back to the pool.
      client.removeListener('error', onError);
      client.release(broken ?? true);
    }
  }

  /** Builds the function that turns raw text rows into row-message plain objects. */
  converter(info: TableInfo): (rows: Array<Array<string | null>>, keyIndexes: number[]) => RowBatch {
    const table = tableName(info.table);
    const fields = info.columns.map((c) => c.name);
    const generatedFields = fieldNames(info.columns);
    const convs = info.columns.map((c) => this.valueConverter(c));
    const n = convs.length;
    return (rows, keyIndexes) => {
      const records: object[] = new Array(rows.length);
      let bytes = 0;
      for (let r = 0; r < rows.length; r++) {
        const row = rows[r];
        const rec: Record<string, unknown> = {};
        for (let i = 0; i < n; i++) {
          const v = row[i];
          if (v === null) {
            if (info.columns[i].repeated) throw nullArray(table, fields[i], keyIndexes.map((k) => row[k]));
            continue;
          }
          bytes += v.length;
          try {
            rec[generatedFields[i]] = convs[i](v);
          } catch (err) {
            throw new ExtractError(`${table}: column ${fields[i]}, row with key (${keyIndexes.map((k) => row[k]).join(', ')}): ${(err as Error).message}`, { table, column: fields[i] }, { cause: err });
          }
        }
        records[r] = rec;
      }
      const last = rows[rows.length - 1];
      const keyOf = (row: Array<string | null> | undefined) => (row && keyIndexes.length ? keyIndexes.map((k) => row[k] as string) : undefined);
      return { records, bytes, lastKey: keyOf(last), firstKey: keyOf(rows[0]) };
    };
  }

  private valueConverter(c: SourceColumn): (text: string) => unknown {
    const scalar = scalarConverter(c.kind, this.clock);
    if (!c.repeated) return scalar;
    return (text) =>
      parseArray(text, (element) => {
        return scalar(element);
      }).map((v) => {
        if (v === null) throw new Error('the array holds a NULL element, which a repeated field cannot carry; use --cast to replace NULL elements (e.g. array_remove(col, NULL)) or --exclude-columns');
        if (Array.isArray(v)) throw new Error('multi-dimensional arrays are not supported; use --cast or --exclude-columns');
        return v;
      });
  }

  isTransient(err: unknown): boolean {
    return isTransientPgError(err);
  }

  async close(): Promise<void> {
    await this.pool?.end().catch(() => undefined);
    this.pool = undefined;
  }
}

/** Query for the upper key of each of `parts` equal key ranges (all but the last). */
export function splitQuery(table: string, keys: string[], _parts: number): string {
  const list = keys.join(', ');
  const desc = keys.map((k) => `${k} DESC`).join(', ');
  return `WITH s AS (SELECT ${list}, ntile($1::int) OVER (ORDER BY ${list}) AS bucket FROM ${table}),
    r AS (SELECT s.*, row_number() OVER (PARTITION BY bucket ORDER BY ${desc}) AS rn FROM s)
    SELECT bucket, ${list} FROM r WHERE rn = 1 AND bucket < $1::int ORDER BY bucket`;
}

function nullArray(table: string, column: string, key: Array<string | null>): ExtractError {
  return new ExtractError(
    `${table}: column ${column} is NULL in the row with key (${key.join(', ')}); an array column is a repeated field, which cannot tell NULL from empty: ` +
      `use --cast '${table}.${column}=coalesce(${quoteIdent(column)}, ''{}'')' if NULL may become empty, or --exclude-columns '${table}.${column}'`,
    { table, column },
  );
}

/** Key types whose COPY text compares exactly without the server (format_type names). */
const PG_LOCAL_KEY_COMPARE: Record<string, (a: string, b: string) => number | undefined> = {
  smallint: compareIntegerText,
  integer: compareIntegerText,
  bigint: compareIntegerText,
  oid: compareIntegerText,
  // PostgreSQL prints uuids in lower case and orders them by their bytes, i.e. as this text.
  uuid: (a, b) => (a < b ? -1 : a > b ? 1 : 0),
};

const DATE_TEXT = /^\d{4}-\d\d-\d\d$/;

function scalarConverter(kind: ValueKind, clock: WallClock): (text: string) => unknown {
  switch (kind) {
    case 'bool':
      return (v) => v === 't' || v === 'true';
    case 'int32':
    case 'double':
    case 'float':
      return Number;
    case 'int64':
      return int64FromText;
    case 'decimal':
    case 'string':
    case 'uuid':
    case 'time':
      return (v) => v;
    case 'bytes':
      return (v) => Buffer.from(v.slice(2), 'hex');
    case 'date':
      return (v) => {
        if (!DATE_TEXT.test(v)) throw new Error(`date ${v} has no YYYY-MM-DD form (infinity or BC); use --cast to turn it into text`);
        return v;
      };
    case 'timestamp_local':
    case 'timestamp_instant':
    case 'timestamp_offset':
      return (v) => {
        const t = parseTimestampText(v);
        if (!t) throw new Error(`timestamp ${v} is not a point in time ferry can carry (infinity or BC); use --cast to turn it into text`);
        const seconds = t.offsetSeconds !== undefined ? t.wallSeconds - t.offsetSeconds : clock.toUtcSeconds(t.wallSeconds);
        checkTimestampRange(seconds, () => `timestamp ${v}${t.offsetSeconds === undefined ? ` read in ${clock.timeZone}` : ''}`);
        return { seconds, nanos: t.nanos };
      };
  }
}

const TRANSIENT_PG_CODES = new Set(['40001', '40P01', '57P01', '57P02', '57P03', '57014', '53300', '08000', '08001', '08003', '08004', '08006']);
const TRANSIENT_NET_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH']);

export function isTransientPgError(err: unknown): boolean {
  const e = err as { code?: string; message?: string } | undefined;
  if (!e) return false;
  if (e.code && (TRANSIENT_PG_CODES.has(e.code) || TRANSIENT_NET_CODES.has(e.code))) return true;
  return /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(e.message ?? '');
}
