// The module part of ferry.config.ts: a target module's database, its tables, and the handlers that
// turn events into row operations. Handlers are plain, pure TypeScript (no I/O): ferry batches what
// they return into COPY and set-based UPDATE/DELETE statements.
import type { EventRecord } from '../dumps/event-envelope.ts';

/** Column name → value. Values: string, number, bigint, boolean, Date, Uint8Array (bytea),
 * `{seconds, nanos}` (a decoded google.protobuf.Timestamp: a payload's timestamp field as it comes,
 * every digit kept) or a PreciseTimestamp (for timestamp columns), arrays, plain objects (json/jsonb
 * columns), null/undefined (NULL). A column left out of an insert gets its default. */
export type Row = Record<string, unknown>;

export interface InsertOp {
  op: 'insert';
  table: string;
  row: Row;
}

/** Deletes every row whose `where` columns equal the given (non-null) values. */
export interface DeleteOp {
  op: 'delete';
  table: string;
  where: Row;
}

/** Sets `set` columns on every row whose `where` columns equal the given (non-null) values. */
export interface UpdateOp {
  op: 'update';
  table: string;
  where: Row;
  set: Row;
}

/**
 * Inserts `row`, or, when a row with its primary key exists, sets the columns `row` gives on it
 * (INSERT … ON CONFLICT (primary key) DO UPDATE). The table must have a primary key and `row` must
 * give every column of it; columns `row` leaves out keep their value on an existing row (or get
 * their default on a new one).
 */
export interface UpsertOp {
  op: 'upsert';
  table: string;
  row: Row;
}

export type RowOp = InsertOp | DeleteOp | UpdateOp | UpsertOp;

/** What a handler may return: one operation, several, or nothing (the event does not concern it). */
export type HandlerResult = RowOp | readonly RowOp[] | undefined | null | void;

/**
 * Turns one event into row operations. `payload` is the decoded payload as a plain object (int64 as
 * strings, bytes as base64, NULL as null; field names as in the .proto), `event` the envelope.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type EventHandler = (payload: any, event: EventRecord) => HandlerResult;

/** Whether ferry creates a module's schema (`'create'`) or seeds into one that exists (`'existing'`). */
export type SchemaMode = 'create' | 'existing';

export interface ModuleDefinition {
  /** Names the module in progress lines, errors and the summary. */
  name: string;
  /**
   * The module's own database: a full `postgres://…` URL (e.g. from an environment variable), or
   * give `database` and the server URL with `--url` / `FERRY_PG_URL`.
   */
  url?: string;
  /** Database name on the server given by `--url` / `FERRY_PG_URL`. */
  database?: string;
  /**
   * PostgreSQL schema that holds the module's tables (default: the module name). With schemaMode
   * 'create' it also holds ferry's `ferry_progress` table, the schema SQL runs with `search_path` set
   * to it, and `--reset` drops and recreates it.
   */
  schemaName?: string;
  /**
   * Who owns the schema (`--schema MODE` on the command line overrides it for every module):
   * - `'create'` (default): ferry does. It creates the schema and runs schemaSql/schemaFile in it,
   *   keeps its progress there, and `--reset` drops it.
   * - `'existing'`: the module's own migrations made it, tables and all. ferry runs no DDL in it,
   *   stops with one line naming the table or column a handler writes that is not there, keeps its
   *   progress in `progressSchema`, and never drops or empties anything (`--reset` is refused).
   */
  schemaMode?: SchemaMode;
  /** With schemaMode 'existing': the schema of ferry's progress table `<module name>_progress`
   * (default `ferry`; created when missing). */
  progressSchema?: string;
  /** SQL that creates the module's tables (run once, in one transaction with the schema; schemaMode 'create'). */
  schemaSql?: string;
  /** Or: a .sql file with it, relative to the config file. */
  schemaFile?: string;
  /** Event type (the envelope's `type`) → handler. Events of other types are skipped. */
  handlers: Record<string, EventHandler>;
}

/** `insert('feed', { owner_id, message_id })` */
export function insert(table: string, row: Row): InsertOp {
  return { op: 'insert', table, row };
}

/**
 * `upsert('members', { member_id, nickname })`: inserts the row, or sets nickname on the row with
 * that member_id when there is one. Cheaper than remove + insert, and safe to repeat.
 */
export function upsert(table: string, row: Row): UpsertOp {
  return { op: 'upsert', table, row };
}

/** `remove('feed', { author_id: p.blocked_id })`: DELETE … WHERE author_id = … */
export function remove(table: string, where: Row): DeleteOp {
  return { op: 'delete', table, where };
}

/** `update('members', { member_id }, { nickname })`: UPDATE … SET nickname = … WHERE member_id = … */
export function update(table: string, where: Row, set: Row): UpdateOp {
  return { op: 'update', table, where, set };
}
