// What the extraction engine needs from a database: one implementation per dialect
// (postgres-source.ts, mssql-source.ts). A source knows its SQL, its catalog and how to turn its
// driver's values into the row message's plain values; the engine owns planning, chunking,
// retries, rate limits, checkpoints and dump writing.
import type protobuf from 'protobufjs';
import { UserError } from '../lib/errors.ts';
import type { SourceColumn, TableRef } from './row-schema.ts';

/** A key tuple as text, in key-column order (JSON-safe: it goes into the manifest's checkpoints). */
export type KeyTuple = string[];

export interface TableInfo {
  table: TableRef;
  columns: SourceColumn[];
  /** Primary key, else the narrowest unique key on NOT NULL columns; empty when there is none. */
  key: string[];
  /** Where `key` came from, for the summary: "primary key", "unique index ux_…", "--key". */
  keySource: string;
  /** The server's row-count estimate (statistics), if it has one. */
  estimatedRows?: number;
  /** Every column of the table as declared (also those left out or cast), to check a --key against. */
  tableColumns?: TableColumn[];
  /** Column sets of the primary key and every unique index (valid, no filter, no expressions). */
  uniqueKeys?: string[][];
}

export interface TableColumn {
  name: string;
  sqlType: string;
  nullable: boolean;
}

/** A key value that more than one row holds (key columns as text), and how many rows hold it. */
export interface DuplicateKey {
  key: Array<string | null>;
  rows: number;
}

/** Per-column choices from the command line. */
export interface ColumnOptions {
  /** Columns left out (names as in the source). */
  exclude: Set<string>;
  /** Column → SQL expression selected instead of the column (e.g. a CAST to a supported type). */
  casts: Map<string, string>;
}

export interface ChunkRequest {
  info: TableInfo;
  /** Exclusive lower bound (rows after this key); none = from the start. */
  after?: KeyTuple;
  /** Inclusive upper bound (the end of a key-range part); none = to the end. */
  upTo?: KeyTuple;
  /** At most this many rows; none = every row (one pass, for tables without a key). */
  limit?: number;
  /**
   * With `limit`: the chunk also ends after the row that brings its `bytes` (summed over its
   * batches) to this many or more, so a chunk of wide rows stays bounded in memory. The cut falls
   * on the same row every time for the same data (the dumps of a resumed run are identical).
   */
  maxBytes?: number;
  /** The row message type; a source that has it may hand rows over already encoded (RowBatch.framed). */
  type?: protobuf.Type;
  /**
   * Where the dump's blocks end: after this many rows, or after the row that brings their framed
   * bytes to `blockBytes`, counted from the chunk's start. A source that hands rows over encoded
   * ends its batches there too, so each block reaches the writer as one batch, without a copy.
   */
  blockRecords?: number;
  blockBytes?: number;
}

/**
 * A batch of converted rows, as plain objects of the row message (`records`) or already encoded
 * (`framed`: length-delimited row messages back to back, `ends[i]` the offset where row i ends).
 * `lastKey` is the key of the batch's last row (unset without a key); the first batch of a keyset
 * chunk also carries `firstKey`, its first row's key, which the engine checks is after the
 * previous chunk's last key.
 */
export interface RowBatch {
  records?: object[];
  framed?: Uint8Array;
  ends?: number[];
  lastKey?: KeyTuple;
  firstKey?: KeyTuple;
  /** Size of the rows as read (text length of their values): for MB/s, and for `maxBytes`. */
  bytes: number;
}

export interface SourceOrigin {
  source: 'postgres' | 'mssql';
  server: string;
  database: string;
}

export interface SourceOptions {
  url: string;
  /** Connections (and so queries) at once. */
  connections: number;
  /** Zone of timezone-less datetime values (IANA name). */
  sourceTimezone: string;
  /** Isolation level name as given on the command line; each source maps or refuses it. */
  isolation?: string;
  statementTimeoutMs: number;
  connectTimeoutMs: number;
}

export interface Source {
  readonly origin: SourceOrigin;
  connect(): Promise<void>;
  /** Every user table (not views, not system tables). */
  listTables(): Promise<TableRef[]>;
  /** Finds a table by exact name; undefined when it does not exist. */
  findTable(schema: string | undefined, name: string): Promise<TableRef | undefined>;
  /**
   * Columns with their value kinds, key and row estimate. An unsupported column type throws
   * an ExtractError naming table and column and the ways out (--exclude-columns, --cast).
   */
  introspect(table: TableRef, columns: ColumnOptions): Promise<TableInfo>;
  /** Upper bounds of parts 1..n-1 splitting the table into about `parts` equal key ranges. */
  splitPoints(info: TableInfo, parts: number): Promise<KeyTuple[]>;
  /** The rows of one chunk in key order, as converted batches (bounded in size). */
  readChunk(request: ChunkRequest): AsyncGenerator<RowBatch>;
  /** The columns among `columns` holding NULL in some row (one query that stops at the first such row). */
  nullKeyColumns(table: TableRef, columns: string[]): Promise<string[]>;
  /** A value of `columns` that more than one row holds (one GROUP BY … HAVING count(*) > 1 query); undefined when unique. */
  duplicateKey(table: TableRef, columns: string[]): Promise<DuplicateKey | undefined>;
  /**
   * Whether key `next` sorts strictly after key `prev` in the order chunks are read (the source's
   * ORDER BY of the key: typed, in the key columns' collations). Both are key texts as the source
   * hands them over (RowBatch.lastKey/firstKey, split points). The engine asks this at every chunk
   * boundary: a `false` means the key's text did not carry the exact value, and `WHERE key > last`
   * would read rows again (or forever).
   */
  keyAfter(info: TableInfo, prev: KeyTuple, next: KeyTuple): Promise<boolean>;
  /** The SELECT a chunk runs, for the dump header's origin.query. */
  describeQuery(request: ChunkRequest): string;
  /** Whether an error is worth retrying (dropped connection, deadlock victim, timeout). */
  isTransient(err: unknown): boolean;
  close(): Promise<void>;
}

/** A failure tied to a table (and column, when there is one); the CLI prints it as one line. */
export class ExtractError extends Error {
  constructor(
    message: string,
    readonly context: { table?: string; column?: string; part?: number; chunk?: number } = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ExtractError';
  }
}

export function tableName(t: TableRef): string {
  return `${t.schema}.${t.name}`;
}

/**
 * Declared types of a table's key columns, from the source's map of column → type. Keys are never
 * compared as text (another order than the key's), so a key column must exist.
 */
export function keyColumnTypes(info: TableInfo, types: Map<string, string> | undefined): string[] {
  return info.key.map((k) => {
    const t = types?.get(k);
    if (!t) throw new UserError(`${tableName(info.table)} has no column ${k} (named as key)`);
    return t;
  });
}

/**
 * Compares two integer key texts (any length, optional sign) by value: -1, 0 or 1; undefined
 * when either is not an integer's text. Sources compare integer keys so, without a query.
 */
export function compareIntegerText(a: string, b: string): number | undefined {
  if (!INTEGER_TEXT.test(a) || !INTEGER_TEXT.test(b)) return undefined;
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

const INTEGER_TEXT = /^-?\d+$/;

/**
 * `next` after `prev` by a per-column compare (-1/0/1, or undefined when a column cannot be
 * compared locally): the first column that differs decides. Undefined when some column had to be
 * compared and could not (the source then asks its server).
 */
export function tupleAfter(prev: KeyTuple, next: KeyTuple, compare: Array<((a: string, b: string) => number | undefined) | undefined>): boolean | undefined {
  for (let i = 0; i < prev.length; i++) {
    const c = compare[i]?.(next[i], prev[i]);
    if (c === undefined) return undefined;
    if (c !== 0) return c > 0;
  }
  return false;
}

/** The message every source gives for a column type it cannot carry exactly. */
export function unsupportedColumn(table: TableRef, column: string, sqlType: string, why = 'is not supported'): ExtractError {
  const t = tableName(table);
  return new ExtractError(
    `${t}: column ${column} has type ${sqlType}, which ${why}; leave it out with --exclude-columns '${t}.${column}' ` +
      `or select it as a supported type with --cast '${t}.${column}=<SQL expression>' (e.g. a CAST to text)`,
    { table: t, column },
  );
}
