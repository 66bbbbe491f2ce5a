// The module part of ferry.config.ts: a target module's database, its tables, and the handlers that
// turn events into row operations. Handlers are plain, pure TypeScript (no I/O): ferry batches what
// they return into COPY and set-based UPDATE/DELETE statements.
import type { EventRecord } from '../dumps/event-envelope.ts';

/** Column name → value. Values: string, number, bigint, boolean, Date, Uint8Array (bytea),
 * `{seconds, nanos}` (a decoded google.protobuf.Timestamp, for timestamp columns), arrays, plain objects
 * (json/jsonb columns), null/undefined (NULL). A column left out of an insert gets its default. */
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

export type RowOp = InsertOp | DeleteOp | UpdateOp;

/** What a handler may return: one operation, several, or nothing (the event does not concern it). */
export type HandlerResult = RowOp | readonly RowOp[] | undefined | null | void;

/**
 * Turns one event into row operations. `payload` is the decoded payload as a plain object (int64 as
 * strings, bytes as base64, NULL as null; field names as in the .proto), `event` the envelope.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type EventHandler = (payload: any, event: EventRecord) => HandlerResult;

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
   * PostgreSQL schema that holds the module's tables and its `ferry_progress` table (default: the
   * module name). The schema SQL runs with `search_path` set to it; `--reset` drops and recreates it.
   */
  schemaName?: string;
  /** SQL that creates the module's tables (run once, in one transaction with the schema). */
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

/** `remove('feed', { author_id: p.blocked_id })`: DELETE … WHERE author_id = … */
export function remove(table: string, where: Row): DeleteOp {
  return { op: 'delete', table, where };
}

/** `update('members', { member_id }, { nickname })`: UPDATE … SET nickname = … WHERE member_id = … */
export function update(table: string, where: Row, set: Row): UpdateOp {
  return { op: 'update', table, where, set };
}
