// One module's PostgreSQL database as a seed sink: sets up the module's schema, turns row operations
// into COPY and set-based UPDATE/DELETE statements, and applies each batch in one transaction together
// with the module's progress (ferry_progress), so a batch is applied exactly once.
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { MAX_ISO_SECONDS, isoSeconds } from '../lib/iso-time.ts';
import { UserError } from '../lib/errors.ts';
import { PreciseTimestamp } from '../lib/precise-timestamp.ts';
import { describeUrl, redact } from '../lib/redact.ts';
import type { ModuleDefinition, Row, RowOp, SchemaMode } from '../api/module.ts';

const PROGRESS_TABLE = 'ferry_progress';
/** SQLSTATE raised when a module's progress row is not where this run left it. */
const PROGRESS_MOVED = 'FY001';

/** A seed problem tied to a module, and where known to the event, table and input position. */
export class ModuleSeedError extends UserError {
  constructor(
    message: string,
    readonly context: { module: string; file?: string; record?: number; eventId?: string; eventType?: string; table?: string },
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ModuleSeedError';
  }
}

/** A handler's operation that cannot be applied as given (unknown table/column, bad value). */
export class OperationError extends Error {}

/** An operation on a table or column that the module's schema does not have. */
export class NotInSchemaError extends OperationError {}

type ColumnKind = 'json' | 'bytea' | 'bool' | 'array' | 'other';

interface ColumnInfo {
  name: string;
  /** `format_type` of the column, from the catalog: safe to use as a cast. */
  type: string;
  kind: ColumnKind;
  quoted: string;
  /** A canonical form of a value's text, for types where equal text ⇔ equal value; else absent. */
  normalize?: (text: string) => string | undefined;
  /** An insert that leaves the column out stores NULL (no default, identity or generation; not a
   * domain, which may have a default of its own). Absent: not known. */
  defaultsToNull?: boolean;
  /** What an insert that leaves the column out stores, when known: null (NULL) or the text of a
   * constant default. Absent: not known (a volatile or computed default, a domain). */
  defaultText?: string | null;
}

interface TableInfo {
  name: string;
  /** Schema-qualified, quoted. */
  qualified: string;
  columns: Map<string, ColumnInfo>;
  /** Column-set signature → the columns, validated once. */
  shapes: Map<string, Shape>;
  /** The shape last asked for, per part of an operation (an update asks for a where and a set
   * shape in turn): rows of a stream usually all have the same keys. */
  lastShapes?: { row?: Shape; where?: Shape; set?: Shape };
  /** Primary key columns, in key order (none: no primary key). */
  primaryKey?: ColumnInfo[];
  /** Insert shape → update shape → the row an update of that shape folded into such an insert has. */
  folds?: Map<string, Map<string, FoldedRow>>;
}

/** The columns of an inserted row that an update was folded into (see withUpdate). */
interface FoldedRow {
  columns: ColumnInfo[];
  shape: string;
  /** Per column: the index of the update's value for it in `sets`, or -1. */
  setIndex: number[];
  /** Per column the insert did not give: the COPY text of its default (where the update does not set it). */
  defaultTexts: Array<string | undefined>;
}

/** Buffer's own UTF-8 encoding (what buf.write(text, offset) ends in, without its argument handling). */
type Utf8Writing = Buffer & { utf8Write(text: string, offset: number): number };

/**
 * COPY text of a batch's inserted rows, in one growing byte buffer: rows are encoded straight into it
 * while the batch is prepared, so a batch of tens of thousands of rows is a few large buffers outside
 * the JavaScript heap instead of as many strings that live (and are copied by the garbage collector)
 * until the batch is committed. Consecutive inserts are consecutive bytes, sent to COPY as they are.
 */
export class CopyArena {
  buf: Buffer;
  length = 0;

  constructor(capacity = 1 << 20) {
    this.buf = Buffer.allocUnsafe(capacity);
  }

  /** Room for `bytes` more bytes (grows by doubling; offsets stay valid). */
  reserve(bytes: number): void {
    if (this.length + bytes <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.length + bytes));
    this.buf.copy(grown, 0, 0, this.length);
    this.buf = grown;
  }

  writeString(text: string): void {
    // UTF-8 takes at most 3 bytes per UTF-16 code unit.
    this.reserve(text.length * 3);
    this.length += (this.buf as Utf8Writing).utf8Write(text, this.length);
  }

  writeByte(byte: number): void {
    this.reserve(1);
    this.buf[this.length++] = byte;
  }

  /** Appends a copy of bytes [start, end) of this arena. */
  writeOwnBytes(start: number, end: number): void {
    this.reserve(end - start);
    // copyWithin, unlike Buffer#copy, makes no view object for the source range.
    this.buf.copyWithin(this.length, start, end);
    this.length += end - start;
  }

  /** Forgets everything after `length` (the rows of an event whose handler failed). */
  truncate(length: number): void {
    this.length = length;
  }

  reset(): void {
    this.length = 0;
  }
}

/** An operation with its values already encoded as PostgreSQL text (done while preparing a batch). */
export type EncodedOp =
  | { kind: 'insert'; table: TableInfo; shape: string; columns: ColumnInfo[]; arena: CopyArena; start: number; end: number; /** The value of a one-column primary key, when the row gives it (what insertedText would read from the line). */ pkText?: string | null }
  | { kind: 'delete'; table: TableInfo; shape: string; keys: ColumnInfo[]; values: Array<string | null> }
  | { kind: 'update'; table: TableInfo; shape: string; keys: ColumnInfo[]; sets: ColumnInfo[]; values: Array<string | null> }
  /** keys: the primary key columns (key order), sets: the other columns the row gives; values in that order.
   * Shaped as an update by primary key, so that it folds into an insert of the same row as one. */
  | { kind: 'upsert'; table: TableInfo; shape: string; keys: ColumnInfo[]; sets: ColumnInfo[]; values: Array<string | null> };

export interface ModuleBatch {
  file: string;
  /** Input positions covered: [fromRecord, toRecord) of `file`. */
  fromRecord: number;
  toRecord: number;
  events: number;
  ops: EncodedOp[];
  /** `planSteps(ops)`, when worked out ahead (while the module's previous batch is being written);
   * planned at write time otherwise. Must be dropped when `ops` change. */
  steps?: Step[];
}

export interface RowCounts {
  inserted: number;
  updated: number;
  deleted: number;
}

export interface SinkOptions {
  /** Server URL for modules that name only a database (`--url` / FERRY_PG_URL). */
  serverUrl?: string;
  /** Folder of ferry.config.ts, for `schemaFile`. */
  configDir: string;
  createDatabase: boolean;
  resume: boolean;
  reset: boolean;
  /** `--shard i/n` spec ('' when not sharded): progress is kept per shard. */
  shard: string;
  /** `--schema MODE`: overrides the module's schemaMode. */
  schemaMode?: SchemaMode;
}

export interface ProgressRow {
  shard: string;
  file: string;
  nextRecord: number;
  events: number;
}

export class PostgresModuleSink {
  readonly url: string;
  readonly schemaName: string;
  /** 'existing': the schema is the module's own (see ModuleDefinition.schemaMode). */
  readonly schemaMode: SchemaMode;
  private pool?: pg.Pool;
  private readonly tables = new Map<string, TableInfo>();
  private readonly schemaQuoted: string;
  private readonly progressQuoted: string;
  /** Where ferry's progress table is: the module's schema, or (schemaMode 'existing') a schema of ferry's own. */
  private readonly progressSchema: string;
  private readonly progressTable: string;
  /** Per file: the progress value this run last saw or wrote (null: no row yet). */
  private readonly expected = new Map<string, number | null>();

  constructor(readonly module: ModuleDefinition, private readonly options: SinkOptions) {
    this.url = resolveModuleUrl(module, options.serverUrl);
    this.schemaName = module.schemaName ?? module.name;
    this.schemaQuoted = pg.escapeIdentifier(this.schemaName);
    this.schemaMode = options.schemaMode ?? module.schemaMode ?? 'create';
    if (this.schemaMode !== 'create' && this.schemaMode !== 'existing') {
      throw new UserError(`module ${module.name}: schemaMode must be 'create' or 'existing', not ${JSON.stringify(this.schemaMode)}`);
    }
    const existing = this.schemaMode === 'existing';
    this.progressSchema = existing ? module.progressSchema ?? 'ferry' : this.schemaName;
    this.progressTable = existing ? `${module.name}_progress` : PROGRESS_TABLE;
    this.progressQuoted = `${pg.escapeIdentifier(this.progressSchema)}.${pg.escapeIdentifier(this.progressTable)}`;
  }

  /** "module feed (database feed_db on 127.0.0.1:5432)" — never the credentials. */
  describe(): string {
    const { server, database } = describeUrl(this.url);
    return `module ${this.module.name} (database ${database} on ${server})`;
  }

  /** Connects, creates the database when asked, and sets up (or checks) the module's schema. */
  async connect(): Promise<ProgressRow[]> {
    this.pool = newPool(this.url);
    await this.checkLogin();
    await this.setUpSchema();
    await this.loadTables();
    const progress = await this.loadProgress();
    for (const row of progress) if (row.shard === this.options.shard) this.expected.set(row.file, row.nextRecord);
    return progress;
  }

  async close(): Promise<void> {
    await this.pool?.end().catch(() => undefined);
    this.pool = undefined;
  }

  /** The next record to apply per input file for this run's shard, from the stored progress. */
  resumePositions(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [file, next] of this.expected) if (next !== null) out.set(file, next);
    return out;
  }

  /**
   * Checks an operation against the module's tables and encodes its values (no I/O). An insert's COPY
   * line goes into `arena` (the batch's, shared by its inserts; a fresh one when not given).
   */
  encode(op: RowOp, arena: CopyArena = new CopyArena(256)): EncodedOp {
    if (!op || typeof op !== 'object' || typeof (op as { table?: unknown }).table !== 'string') {
      throw new OperationError(`returned ${JSON.stringify(op)?.slice(0, 80)}, not an operation (use insert(), upsert(), update() or remove())`);
    }
    const table = this.tables.get(op.table);
    if (!table) {
      const known = [...this.tables.keys()].join(', ') || 'none';
      throw new NotInSchemaError(`table "${op.table}" is not in schema ${this.schemaName} (its tables: ${known})`);
    }
    switch (op.op) {
      case 'insert': {
        const { key: shape, columns } = shapeOf(table, op.row, 'row');
        // The COPY line is written here, once, field by field into the batch's arena (a line string
        // built first was another copy of every row, and most of what encode allocated). Nothing
        // else of the row is kept, so the handler's objects die young (cheap for the garbage collector).
        const pk = table.primaryKey?.length === 1 ? table.primaryKey[0] : undefined;
        let pkText: string | null | undefined;
        const start = arena.length;
        try {
          for (let i = 0; i < columns.length; i++) {
            const text = toText(op.row[columns[i].name], columns[i], table);
            if (columns[i] === pk) pkText = text;
            if (i) arena.writeByte(9);
            arena.writeString(text === null ? '\\N' : copyEscape(text));
          }
        } catch (err) {
          arena.truncate(start); // no part of a row that cannot be encoded
          throw err;
        }
        arena.writeByte(10);
        return { kind: 'insert', table, shape, columns, arena, start, end: arena.length, pkText };
      }
      case 'delete': {
        const { key: shape, columns: keys } = shapeOf(table, op.where, 'where');
        return { kind: 'delete', table, shape, keys, values: keyValues(keys, op.where, table) };
      }
      case 'update': {
        const where = shapeOf(table, op.where, 'where');
        const set = shapeOf(table, op.set, 'set');
        const [keys, sets] = [where.columns, set.columns];
        if (sets.length === 0) throw new OperationError(`update of ${op.table} sets no column`);
        const values = keyValues(keys, op.where, table);
        for (const c of sets) values.push(toText(op.set[c.name], c, table));
        return { kind: 'update', table, shape: updateShape(where, set), keys, sets, values };
      }
      case 'upsert': {
        const { keys, sets, shape } = upsertShape(table, shapeOf(table, op.row, 'row'));
        const values = keys.map((c): string | null => {
          const text = toText(op.row[c.name], c, table);
          if (text === null) throw new OperationError(`upsert into ${table.name} gives NULL for its primary key column ${c.name}`);
          return text;
        });
        for (const c of sets) values.push(toText(op.row[c.name], c, table));
        return { kind: 'upsert', table, shape, keys, sets, values };
      }
      default:
        throw new OperationError(`unknown operation "${(op as { op?: unknown }).op}" (use insert(), upsert(), update() or remove())`);
    }
  }

  /**
   * Applies a batch and records `toRecord` as the file's progress, in one transaction. Returns
   * undefined when the stored progress shows the batch was already committed (a COMMIT whose reply
   * was lost to a dropped connection).
   */
  async writeBatch(batch: ModuleBatch, shard = this.options.shard): Promise<RowCounts | undefined> {
    const client = await this.checkout();
    let broken: Error | undefined;
    try {
      const expected = this.expected.has(batch.file) ? this.expected.get(batch.file)! : null;
      // One round trip opens the transaction and moves the progress row from `expected` to
      // `toRecord` (holding its lock until COMMIT), or fails with PROGRESS_MOVED when the row is not
      // at `expected`; the batch's statements follow in the same transaction, then COMMIT. (Each
      // round trip also waits for this thread, busy preparing the next batch, to get to the reply.)
      try {
        await client.query(`BEGIN; ${this.progressStep(shard, batch, expected)}`);
      } catch (err) {
        if ((err as { code?: string }).code !== PROGRESS_MOVED) throw err;
        await client.query('ROLLBACK');
        const current = await client.query<{ next_record: string }>(
          `SELECT next_record FROM ${this.progressQuoted} WHERE shard = $1 AND file = $2`, [shard, batch.file]);
        const stored = current.rows.length ? Number(current.rows[0].next_record) : null;
        if (stored !== null && stored >= batch.toRecord && stored !== expected) {
          // Committed by this run, but the reply to COMMIT was lost with the connection.
          this.expected.set(batch.file, stored);
          return undefined;
        }
        throw new ModuleSeedError(
          `module ${this.module.name}: progress for ${batch.file} is at record ${stored ?? 'none'} in the database but this run expected ${expected ?? 'none'}: is another ferry run seeding this module? Stop it, then run again with --resume`,
          { module: this.module.name, file: batch.file, record: batch.fromRecord });
      }
      const counts = await this.apply(client, batch.ops, batch.steps);
      await client.query('COMMIT');
      this.expected.set(batch.file, batch.toRecord);
      return counts;
    } catch (err) {
      broken = err as Error;
      if (!isConnectionError(err)) await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      // A connection that failed is not given back to the pool: the next batch gets a new one.
      client.release(broken && isConnectionError(broken) ? broken : undefined);
    }
  }

  /** A DO block that moves the file's progress from `expected` to the batch's end, or raises PROGRESS_MOVED. */
  private progressStep(shard: string, batch: ModuleBatch, expected: number | null): string {
    const [sh, file] = [pg.escapeLiteral(shard), pg.escapeLiteral(batch.file)];
    const int = (n: number) => String(Math.trunc(n));
    const body = `BEGIN
      INSERT INTO ${this.progressQuoted} AS p (shard, file, next_record, events, updated_at)
        VALUES (${sh}, ${file}, ${int(batch.toRecord)}, ${int(batch.events)}, now())
        ON CONFLICT (shard, file) DO UPDATE SET next_record = EXCLUDED.next_record, events = p.events + EXCLUDED.events, updated_at = now()
        WHERE p.next_record ${expected === null ? 'IS NULL' : `= ${int(expected)}`};
      IF NOT FOUND THEN
        RAISE EXCEPTION 'ferry progress for % is not at %', ${file}, ${expected === null ? "'none'" : int(expected)} USING ERRCODE = '${PROGRESS_MOVED}';
      END IF;
    END`;
    return `DO ${pg.escapeLiteral(body)}`;
  }

  /** Applies operations in a transaction that is rolled back: the error they cause, if any (to find a culprit). */
  async probe(ops: EncodedOp[]): Promise<Error | undefined> {
    const client = await this.checkout();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      try {
        await this.apply(client, ops);
        // Deferred constraints would only complain at COMMIT.
        await client.query('SET CONSTRAINTS ALL IMMEDIATE');
        return undefined;
      } catch (err) {
        if (isConnectionError(err)) throw err;
        return err as Error;
      } finally {
        await client.query('ROLLBACK').catch(() => undefined);
      }
    } catch (err) {
      broken = err as Error;
      throw err;
    } finally {
      client.release(broken);
    }
  }

  private async apply(client: pg.PoolClient, ops: EncodedOp[], steps: Step[] = planSteps(ops)): Promise<RowCounts> {
    const counts: RowCounts = { inserted: 0, updated: 0, deleted: 0 };
    let staged = 0;
    for (const step of steps) {
      if (step.kind === 'insert') {
        const columns = step.ops[0].columns.map((c) => c.quoted).join(', ');
        const stream = client.query(copyFrom(`COPY ${step.table.qualified} (${columns}) FROM STDIN`));
        await sendCopyData(stream, copyChunks(step.ops));
        counts.inserted += step.ops.length;
      } else if (step.kind === 'delete') {
        const keys = step.ops[0].keys;
        const args = keys.map((_, i) => `$${i + 1}::text[]`).join(', ');
        const where = keys.map((k, i) => `t.${k.quoted} = u.c${i}::${k.type}`).join(' AND ');
        const sql = `DELETE FROM ${step.table.qualified} AS t USING unnest(${args}) AS u(${keys.map((_, i) => `c${i}`).join(', ')}) WHERE ${where}`;
        const res = await client.query(sql, columnArrays(step.ops, keys.length));
        counts.deleted += res.rowCount ?? 0;
      } else if (step.kind === 'upsert') {
        // COPY into a temporary table of the step's columns, then one INSERT … ON CONFLICT from it:
        // the rows travel as COPY text (as inserts do) and PostgreSQL resolves existing keys in one
        // statement. The planner leaves at most one row per key in a step, which ON CONFLICT needs.
        const { keys, sets } = step.ops[0];
        const columns = [...keys, ...sets].map((c) => c.quoted).join(', ');
        const name = pg.escapeIdentifier(`ferry_upsert_${staged++}`);
        const staging = `pg_temp.${name}`;
        await client.query(`CREATE TEMPORARY TABLE ${name} (${[...keys, ...sets].map((c) => `${c.quoted} ${c.type}`).join(', ')}) ON COMMIT DROP`);
        const stream = client.query(copyFrom(`COPY ${staging} (${columns}) FROM STDIN`));
        await sendCopyData(stream, upsertChunks(step.ops));
        const action = sets.length ? `DO UPDATE SET ${sets.map((c) => `${c.quoted} = EXCLUDED.${c.quoted}`).join(', ')}` : 'DO NOTHING';
        // xmax is 0 on a row version that this statement inserted, not on one it updated.
        const res = await client.query<{ inserted: number; total: number }>(
          `WITH done AS (INSERT INTO ${step.table.qualified} (${columns}) SELECT ${columns} FROM ${staging}
             ON CONFLICT (${keys.map((c) => c.quoted).join(', ')}) ${action} RETURNING xmax = 0 AS fresh)
           SELECT (count(*) FILTER (WHERE fresh))::int AS inserted, count(*)::int AS total FROM done`);
        counts.inserted += res.rows[0].inserted;
        counts.updated += res.rows[0].total - res.rows[0].inserted;
      } else {
        const { keys, sets } = step.ops[0];
        const n = keys.length + sets.length;
        const args = Array.from({ length: n }, (_, i) => `$${i + 1}::text[]`).join(', ');
        const assign = sets.map((c, i) => `${c.quoted} = u.c${keys.length + i}::${c.type}`).join(', ');
        const where = keys.map((k, i) => `t.${k.quoted} = u.c${i}::${k.type}`).join(' AND ');
        const sql = `UPDATE ${step.table.qualified} AS t SET ${assign} FROM unnest(${args}) AS u(${Array.from({ length: n }, (_, i) => `c${i}`).join(', ')}) WHERE ${where}`;
        const res = await client.query(sql, columnArrays(step.ops, n));
        counts.updated += res.rowCount ?? 0;
      }
    }
    return counts;
  }

  /**
   * A pooled connection that cannot crash the process: pg-pool drops its error listener while a
   * connection is checked out, and a server shutdown between two queries would otherwise be an
   * unhandled 'error' event. The next query on it fails instead, and the engine retries.
   */
  private async checkout(): Promise<pg.PoolClient> {
    const client = await this.pool!.connect();
    if (!guarded.has(client)) {
      guarded.add(client);
      client.on('error', () => undefined);
    }
    return client;
  }

  private async checkLogin(): Promise<void> {
    try {
      (await this.checkout()).release();
    } catch (err) {
      const code = (err as { code?: string }).code;
      const { server, database } = describeUrl(this.url);
      if (code === '3D000' && this.options.createDatabase) {
        await this.createDatabase();
        (await this.checkout()).release();
        return;
      }
      throw new ModuleSeedError(connectProblem(this.module.name, this.url, err, `database "${database}" does not exist on ${server}: create it, or pass --create-databases`), { module: this.module.name }, { cause: err });
    }
  }

  private async createDatabase(): Promise<void> {
    const { database } = describeUrl(this.url);
    const admin = new URL(this.url);
    admin.pathname = '/postgres';
    const client = new pg.Client({ connectionString: admin.href });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query(`CREATE DATABASE ${pg.escapeIdentifier(database)}`);
    } catch (err) {
      // Another module (or run) may have just created it.
      if ((err as { code?: string }).code !== '42P04') {
        throw new ModuleSeedError(`module ${this.module.name}: cannot create database "${database}": ${redact((err as Error).message)}`, { module: this.module.name }, { cause: err });
      }
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  private async setUpSchema(): Promise<void> {
    if (this.schemaMode === 'existing') return this.checkExistingSchema();
    const { rows } = await this.pool!.query<{ schema: string | null; progress: string | null }>(
      `SELECT to_regnamespace($1)::text AS schema, to_regclass($2)::text AS progress`, [this.schemaQuoted, this.progressQuoted]);
    const exists = rows[0].schema !== null;
    const where = `schema ${this.schemaName} of ${this.describe()}`;
    if (exists && !this.options.reset) {
      if (rows[0].progress === null) {
        throw new ModuleSeedError(`${where} exists but was not created by ferry (no ${PROGRESS_TABLE} table): to seed into it as it is, set schemaMode: 'existing' on the module (or pass --schema existing); to drop and recreate it, pass --reset`, { module: this.module.name });
      }
      if (!this.options.resume) {
        const { rows: p } = await this.pool!.query<{ n: string; events: string | null }>(`SELECT count(*) AS n, sum(events) AS events FROM ${this.progressQuoted}`);
        const what = Number(p[0].n) > 0 ? `already holds ${p[0].events} events from an earlier run` : 'already exists';
        throw new ModuleSeedError(`${where} ${what}: pass --resume to continue it, or --reset to drop the schema and start over`, { module: this.module.name });
      }
      return;
    }
    const sql = await this.schemaSql();
    const client = await this.checkout();
    try {
      await client.query('BEGIN');
      if (exists) await client.query(`DROP SCHEMA ${this.schemaQuoted} CASCADE`);
      await client.query(`CREATE SCHEMA ${this.schemaQuoted}`);
      await client.query(`SET LOCAL search_path TO ${this.schemaQuoted}, public`);
      try {
        await client.query(sql);
      } catch (err) {
        const position = Number((err as { position?: string }).position);
        const line = position > 0 ? ` (line ${sql.slice(0, position).split('\n').length})` : '';
        throw new ModuleSeedError(`module ${this.module.name}: schema SQL failed${line}: ${(err as Error).message}`, { module: this.module.name }, { cause: err });
      }
      await client.query(this.createProgressSql());
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  private createProgressSql(): string {
    return `CREATE TABLE IF NOT EXISTS ${this.progressQuoted} (
      shard text NOT NULL, file text NOT NULL, next_record bigint NOT NULL, events bigint NOT NULL,
      updated_at timestamptz NOT NULL, PRIMARY KEY (shard, file))`;
  }

  /**
   * schemaMode 'existing': the schema must be there (ferry runs no DDL in it); ferry's progress table
   * lives in a schema of its own, made here when missing. Nothing is ever dropped.
   */
  private async checkExistingSchema(): Promise<void> {
    const where = `schema ${this.schemaName} of ${this.describe()}`;
    if (this.options.reset) {
      throw new ModuleSeedError(`module ${this.module.name}: --reset drops the schema, but ${where} is the module's own (schemaMode 'existing') and ferry never drops or empties it: empty its tables yourself and drop ${this.progressSchema}.${this.progressTable}, then run again`, { module: this.module.name });
    }
    const { rows } = await this.pool!.query<{ schema: string | null; progress: string | null }>(
      `SELECT to_regnamespace($1)::text AS schema, to_regclass($2)::text AS progress`, [this.schemaQuoted, this.progressQuoted]);
    if (rows[0].schema === null) {
      throw new ModuleSeedError(`${where} does not exist: create it and its tables with the module's own migrations (schemaMode 'existing': ferry creates nothing in it), or drop schemaMode to let ferry create it`, { module: this.module.name });
    }
    if (rows[0].progress !== null) {
      if (this.options.resume) return;
      const { rows: p } = await this.pool!.query<{ n: string; events: string | null }>(`SELECT count(*) AS n, sum(events) AS events FROM ${this.progressQuoted}`);
      if (Number(p[0].n) === 0) return;
      throw new ModuleSeedError(`${where} already holds ${p[0].events} events from an earlier run (progress in ${this.progressSchema}.${this.progressTable}): pass --resume to continue it`, { module: this.module.name });
    }
    const create = async () => {
      await this.pool!.query(`CREATE SCHEMA IF NOT EXISTS ${pg.escapeIdentifier(this.progressSchema)}`);
      await this.pool!.query(this.createProgressSql());
    };
    try {
      await create();
    } catch (err) {
      // Modules sharing a database create the progress schema at the same time: IF NOT EXISTS can
      // still lose that race (a unique violation in the catalog). The second try finds it.
      if ((err as { code?: string }).code !== '23505') {
        throw new ModuleSeedError(`module ${this.module.name}: cannot create ferry's progress table ${this.progressSchema}.${this.progressTable}: ${pgMessage(err)}`, { module: this.module.name }, { cause: err });
      }
      await create();
    }
  }

  private async schemaSql(): Promise<string> {
    const { schemaSql, schemaFile, name } = this.module;
    if ((schemaSql === undefined) === (schemaFile === undefined)) {
      throw new ModuleSeedError(`module ${name}: give exactly one of schemaSql or schemaFile in ferry.config.ts`, { module: name });
    }
    if (schemaSql !== undefined) return schemaSql;
    const file = path.resolve(this.options.configDir, schemaFile!);
    try {
      return await readFile(file, 'utf8');
    } catch (err) {
      throw new ModuleSeedError(`module ${name}: cannot read schemaFile ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { module: name }, { cause: err });
    }
  }

  private async loadTables(): Promise<void> {
    const { rows } = await this.pool!.query<{ table: string; column: string; type: string; typname: string; category: string; null_default: boolean; const_default: string | null }>(
      `SELECT c.relname AS table, a.attname AS column, format_type(a.atttypid, a.atttypmod) AS type,
              t.typname, t.typcategory AS category,
              NOT a.atthasdef AND a.attidentity = '' AND a.attgenerated = '' AND t.typtype <> 'd' AS null_default,
              CASE WHEN d.adbin::text LIKE '{CONST %' AND a.attidentity = '' AND a.attgenerated = '' THEN pg_get_expr(d.adbin, d.adrelid) END AS const_default
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
         JOIN pg_type t ON t.oid = a.atttypid
         LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND c.relname <> $2
        ORDER BY c.relname, a.attnum`, [this.schemaName, this.progressSchema === this.schemaName ? this.progressTable : '']);
    this.tables.clear();
    for (const r of rows) {
      let table = this.tables.get(r.table);
      if (!table) {
        table = { name: r.table, qualified: `${this.schemaQuoted}.${pg.escapeIdentifier(r.table)}`, columns: new Map(), shapes: new Map() };
        this.tables.set(r.table, table);
      }
      const kind: ColumnKind = r.typname === 'json' || r.typname === 'jsonb' ? 'json' : r.typname === 'bytea' ? 'bytea' : r.typname === 'bool' ? 'bool' : r.category === 'A' ? 'array' : 'other';
      const column: ColumnInfo = { name: r.column, type: r.type, kind, quoted: pg.escapeIdentifier(r.column), normalize: NORMALIZERS[r.typname], defaultsToNull: r.null_default };
      if (r.null_default) column.defaultText = null;
      else if (r.const_default !== null) {
        // A constant (a plain literal of the column's type): its text is what COPY would store.
        try {
          const { rows: v } = await this.pool!.query<{ v: string | null }>(`SELECT (${r.const_default})::text AS v`);
          column.defaultText = v[0].v;
        } catch {
          // Not evaluable here: left unknown.
        }
      }
      table.columns.set(r.column, column);
    }
    const keys = await this.pool!.query<{ table: string; column: string }>(
      `SELECT c.relname AS table, a.attname AS column
         FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY (i.indkey)
        WHERE i.indisprimary AND n.nspname = $1
        ORDER BY c.relname, array_position(i.indkey::int2[], a.attnum)`, [this.schemaName]);
    for (const r of keys.rows) {
      const table = this.tables.get(r.table);
      const column = table?.columns.get(r.column);
      if (table && column) (table.primaryKey ??= []).push(column);
    }
  }

  private async loadProgress(): Promise<ProgressRow[]> {
    const { rows } = await this.pool!.query<{ shard: string; file: string; next_record: string; events: string }>(
      `SELECT shard, file, next_record, events FROM ${this.progressQuoted} ORDER BY shard, file`);
    return rows.map((r) => ({ shard: r.shard, file: r.file, nextRecord: Number(r.next_record), events: Number(r.events) }));
  }
}

/** The module's database URL: its own, or its database on the server given by --url. */
export function resolveModuleUrl(module: ModuleDefinition, serverUrl: string | undefined): string {
  if (module.url) return module.url;
  if (!module.database) throw new UserError(`module ${module.name}: set url or database in ferry.config.ts`);
  if (!serverUrl) throw new UserError(`module ${module.name} names database "${module.database}": pass --url postgres://… (or set FERRY_PG_URL) for its server`);
  let url: URL;
  try {
    url = new URL(serverUrl);
  } catch {
    throw new UserError(`--url ${redact(serverUrl)} is not a postgres://… URL`);
  }
  url.pathname = `/${encodeURIComponent(module.database)}`;
  return url.href;
}

const guarded = new WeakSet<pg.PoolClient>();

function newPool(url: string): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max: 2, application_name: 'ferry seed modules', connectionTimeoutMillis: 10_000 });
  // An idle connection that the server closes (a restart) must not crash the process: the next
  // checkout reconnects.
  pool.on('error', () => undefined);
  return pool;
}

function connectProblem(module: string, url: string, err: unknown, missingDatabase: string): string {
  const code = (err as { code?: string }).code;
  const { server, database } = describeUrl(url);
  let user = '';
  try {
    user = decodeURIComponent(new URL(url).username);
  } catch {
    // describeUrl already said "unknown"
  }
  if (code === '3D000') return `module ${module}: ${missingDatabase}`;
  if (code === '28P01' || code === '28000') {
    return `module ${module}: ${server} refused the login of user "${user}" to database "${database}" (${redact((err as Error).message)}): check the user and password in ${redact(url)}`;
  }
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'ETIMEDOUT') {
    return `module ${module}: cannot reach ${server} (${code}): is the server running, and is the URL right?`;
  }
  return `module ${module}: cannot connect to database "${database}" on ${server}: ${redact((err as Error).message)}`;
}

/** Errors after which a new connection and the same batch again is the right move (server restart, network). */
export function isConnectionError(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  if (!e) return false;
  const code = e.code ?? '';
  if (['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', '57P01', '57P02', '57P03', '53300'].includes(code)) return true;
  if (code.startsWith('08')) return true;
  return /Connection terminated|connection error|not queryable|timeout exceeded when trying to connect|the database system is (starting up|shutting down)/i.test(e.message ?? '');
}

/** Errors caused by the data of some row (bad value, constraint): worth finding the event behind them. */
export function isDataError(err: unknown): boolean {
  const code = (err as { code?: string })?.code ?? '';
  return code.startsWith('22') || code.startsWith('23');
}

/** `message (detail)` of a PostgreSQL error. */
export function pgMessage(err: unknown): string {
  const e = err as { message?: string; detail?: string };
  return redact(`${e.message ?? String(err)}${e.detail ? ` (${e.detail})` : ''}`);
}

type InsertOp = Extract<EncodedOp, { kind: 'insert' }>;
type DeleteOp = Extract<EncodedOp, { kind: 'delete' }>;
type UpdateOp = Extract<EncodedOp, { kind: 'update' }>;
type UpsertOp = Extract<EncodedOp, { kind: 'upsert' }>;

export type Step =
  | { kind: 'insert'; table: TableInfo; ops: InsertOp[] }
  | { kind: 'delete'; table: TableInfo; ops: DeleteOp[] }
  | { kind: 'update'; table: TableInfo; ops: UpdateOp[] }
  | { kind: 'upsert'; table: TableInfo; ops: UpsertOp[] };

interface Run {
  kind: EncodedOp['kind'];
  /** Inserts: one step per column set; deletes/updates/upserts: a single shape. */
  steps: Map<string, Step>;
  /** Deletes/updates/upserts (whose `where` is the primary key): the `where` columns, the normalized keys matched (undefined: not comparable here),
   * and per subset of those columns (bit mask) the set of projected keys, built when first asked. */
  whereColumns?: ColumnInfo[];
  keys?: Array<Array<string | undefined>>;
  keyIndexes?: Map<number, { values: Set<string>; unknown: boolean }>;
  /** Updates: the columns set; key → index in the step, so a later update of a row replaces the earlier one. */
  setColumns?: Set<string>;
  updateAt?: Map<string, number>;
  /** Inserts/upserts: per `where` column set asked about, the written rows' normalized values by known-column subset. */
  projections?: Map<string, RowProjection>;
}

interface RowProjection {
  columns: ColumnInfo[];
  bySubset: Map<number, Set<string>>;
  /** Some row has no comparable value in these columns: it may match anything. */
  unknown: boolean;
}

/** How far back an operation may look for a statement to join. */
const LOOKBACK_RUNS = 8;

/**
 * Groups a batch's operations into few statements that give the same result as applying them one by
 * one in event order. Operations on different tables commute. On one table an operation joins an
 * earlier statement of its kind only when it provably commutes with every statement in between:
 * an insert moves past a delete/update only if its row cannot match their keys (compared in memory
 * for text, uuid, integer and boolean columns; otherwise assumed to match), a delete moves past an
 * update that does not set its key columns, and so on. So an insert then a delete of the same row
 * ends deleted, while the usual "insert into feed, delete other rows from feed" stream still
 * becomes one COPY and one DELETE. Foreign keys between a module's tables should be DEFERRABLE:
 * statements on different tables may run in another order than their events.
 */
export function planSteps(batchOps: readonly EncodedOp[]): Step[] {
  const ops = foldUpdates(batchOps);
  // Runs execute in the order they were opened, each with all its steps: an insert with a new column
  // set that joins an earlier run must run there, before the deletes it was found to commute with,
  // not after everything planned so far.
  const order: Run[] = [];
  const runsOf = new Map<TableInfo, Run[]>();
  for (const op of ops) {
    let runs = runsOf.get(op.table);
    if (!runs) runsOf.set(op.table, (runs = []));
    let target: Run | undefined;
    for (let j = runs.length - 1; j >= 0 && j >= runs.length - LOOKBACK_RUNS; j--) {
      const run = runs[j];
      if (run.kind === op.kind && (op.kind === 'insert' || run.steps.has(op.shape))) {
        target = run;
        break;
      }
      if (!commutes(op, run)) break;
    }
    if (!target) {
      target = { kind: op.kind, steps: new Map() };
      if (op.kind !== 'insert') {
        target.whereColumns = op.keys;
        target.keys = [];
      }
      if (op.kind === 'update' || op.kind === 'upsert') {
        target.setColumns = new Set(op.sets.map((c) => c.name));
        target.updateAt = new Map();
      }
      runs.push(target);
      order.push(target);
    }
    let step = target.steps.get(op.shape);
    if (!step) {
      step = { kind: op.kind, table: op.table, ops: [] } as Step;
      target.steps.set(op.shape, step);
    }
    if (op.kind === 'insert' || op.kind === 'upsert') {
      if (target.projections) for (const p of target.projections.values()) addProjection(p, op);
    }
    if (op.kind !== 'insert') {
      const tuple = op.keys.map((c, i) => c.normalize?.(op.values[i]!));
      target.keys!.push(tuple);
      if (target.keyIndexes) for (const [mask, index] of target.keyIndexes) addKey(index, tuple, mask);
      const key = tuple.every((v) => v !== undefined) ? tuple.join('\u0001') : undefined;
      if (op.kind === 'update' || op.kind === 'upsert') {
        // Same row, same columns: the later update (upsert) wins, as it would one by one (and ON
        // CONFLICT needs one row per key in a statement). Keys of types without a canonical form
        // here are compared as given: write them the same way every time.
        const exact = key ?? op.values.slice(0, op.keys.length).join('\u0001');
        const at = target.updateAt!.get(exact);
        if (at !== undefined) {
          (step.ops as Array<UpdateOp | UpsertOp>)[at] = op;
          continue;
        }
        target.updateAt!.set(exact, step.ops.length);
      }
    }
    (step.ops as EncodedOp[]).push(op);
  }
  return order.flatMap((run) => [...run.steps.values()]);
}

/**
 * An update of a row that the same batch inserted, by its primary key, is folded into that insert:
 * the COPY carries the row as it ends up, and the UPDATE (far more work for PostgreSQL than the
 * COPY line: a new row version and index entries) is not sent. Only when nothing in between could
 * touch the row: a delete on the table, or an update that is not by the primary key, stops folding
 * into the rows inserted before it. The batch's operations are not changed (a retry plans them again).
 */
export function foldUpdates(ops: readonly EncodedOp[]): readonly EncodedOp[] {
  const updated = new Set<TableInfo>();
  for (const op of ops) if ((op.kind === 'update' || op.kind === 'upsert') && op.table.primaryKey) updated.add(op.table);
  if (updated.size === 0) return ops;
  const out: Array<EncodedOp | undefined> = ops.slice();
  const inserted = new Map<TableInfo, Map<string, number>>();
  let folded = 0;
  for (let i = 0; i < out.length; i++) {
    const op = out[i]!;
    const pk = op.table.primaryKey;
    if (!pk || op.kind === 'delete') {
      inserted.delete(op.table);
      continue;
    }
    if (op.kind === 'upsert') {
      // Into the batch's insert or upsert of the same row, which it updates; else it touches only
      // its own row (a key no earlier row here has), and is where later updates of that row fold.
      const key = insertedKey(op, pk);
      if (key === undefined) continue;
      let rows = inserted.get(op.table);
      if (!rows) inserted.set(op.table, (rows = new Map()));
      const at = rows.get(key);
      if (at === undefined) {
        rows.set(key, i);
        continue;
      }
      const into = out[at]!;
      out[at] = into.kind === 'upsert' ? mergeUpserts(into, op) : withUpdate(into as InsertOp, op);
      out[i] = undefined;
      folded++;
      continue;
    }
    if (op.kind === 'insert') {
      if (!updated.has(op.table)) continue; // no update by key of this table in the batch: nothing to fold
      const key = insertedKey(op, pk);
      if (key !== undefined) {
        let rows = inserted.get(op.table);
        if (!rows) inserted.set(op.table, (rows = new Map()));
        rows.set(key, i);
      }
      continue;
    }
    const at = foldTarget(op, pk, inserted.get(op.table));
    // By the whole primary key and none of this batch's rows: it updates another row, which
    // leaves these alone. Not by the key: it may touch any of them.
    if (at === 'other') continue;
    if (at === undefined) {
      inserted.delete(op.table);
      continue;
    }
    const into = out[at]!;
    out[at] = into.kind === 'upsert' ? mergeUpserts(into, op) : withUpdate(into as InsertOp, op);
    out[i] = undefined;
    folded++;
  }
  return folded ? out.filter((op): op is EncodedOp => op !== undefined) : ops;
}

/**
 * An upsert followed by an update (by primary key) or an upsert of the same row, as one upsert: the
 * columns of both, the later one's values where both set a column. (If the row existed, both set
 * their columns on it; if not, the first inserted it and the second set its columns.) Columns
 * neither gives are not added: on an existing row they keep their values.
 */
function mergeUpserts(first: UpsertOp, then: UpdateOp | UpsertOp): UpsertOp {
  const sets = first.sets.slice();
  const values = first.values.slice();
  for (let j = 0; j < then.sets.length; j++) {
    const value = then.values[then.keys.length + j];
    const k = sets.indexOf(then.sets[j]);
    if (k >= 0) values[first.keys.length + k] = value;
    else {
      sets.push(then.sets[j]);
      values.push(value);
    }
  }
  const shape = sets.length === first.sets.length ? first.shape : upsertShapeKey(first.keys, sets);
  return { ...first, sets, values, shape };
}

/** The inserted row's primary key as foldTarget makes an update's: normalized texts joined by U+0001; undefined when a part is not known. */
function insertedKey(op: InsertOp | UpsertOp, pk: readonly ColumnInfo[]): string | undefined {
  let key = '';
  for (let i = 0; i < pk.length; i++) {
    const v = insertedText(op, pk[i]);
    const n = v === null || v === undefined ? undefined : pk[i].normalize?.(v);
    if (n === undefined) return undefined;
    key = i === 0 ? n : `${key}\u0001${n}`;
  }
  return key;
}

/**
 * The index of the insert an update can be folded into (by the whole primary key, setting no key
 * column); 'other' when it is such an update of a row this batch did not insert; else undefined.
 */
function foldTarget(op: UpdateOp, pk: ColumnInfo[], rows: Map<string, number> | undefined): number | 'other' | undefined {
  if (op.keys.length !== pk.length) return undefined;
  // The key as insertedKey makes it (a one-column key is the value's own string: no array, no join).
  let key = '';
  for (let i = 0; i < pk.length; i++) {
    const k = op.keys.indexOf(pk[i]);
    const value = k < 0 ? null : op.values[k];
    const n = value === null ? undefined : pk[i].normalize?.(value);
    if (n === undefined) return undefined;
    key = i === 0 ? n : `${key}\u0001${n}`;
  }
  for (const column of op.sets) if (pk.includes(column)) return undefined;
  return rows?.get(key) ?? 'other';
}

/**
 * The insert with the update's (or a later upsert's) values in its COPY line (a new line at the end of the same arena).
 * When the update sets a column the insert left to its default, the row is widened to every column
 * whose default is known here (given as that value), so the rows that updates were folded into share
 * one column set, one COPY, whichever columns their updates set; a column of unknown default that an
 * update sets is added on its own (another column set: another COPY step).
 */
function withUpdate(insert: InsertOp, update: UpdateOp | UpsertOp): InsertOp {
  const folded = foldedRow(insert, update);
  const { columns, setIndex, defaultTexts } = folded;
  // The fields the update keeps are copied as bytes: decoding the line to split it and encoding it
  // again cost more than the rest of the fold.
  const arena = insert.arena;
  const start = arena.length;
  const kept = insert.columns.length;
  // Start of the insert's field c (a tab never occurs inside a field: COPY escapes it).
  let from = insert.start;
  for (let c = 0; c < columns.length; c++) {
    if (c) arena.writeByte(9);
    const j = setIndex[c];
    let text: string | undefined;
    if (j >= 0) {
      const value = update.values[update.keys.length + j];
      text = value === null ? '\\N' : copyEscape(value);
    } else if (c >= kept) text = defaultTexts[c];
    if (c < kept) {
      const to = c === kept - 1 ? insert.end - 1 : arena.buf.indexOf(9, from);
      if (text === undefined) arena.writeOwnBytes(from, to);
      else arena.writeString(text);
      from = to + 1;
    } else arena.writeString(text!);
  }
  arena.writeByte(10);
  return { ...insert, columns: folded.columns, shape: folded.shape, start, end: arena.length };
}

/** The columns of an insert with an update folded into it: worked out once per insert shape and update shape. */
function foldedRow(insert: InsertOp, update: UpdateOp | UpsertOp): FoldedRow {
  const byInsert = (insert.table.folds ??= new Map());
  let byUpdate = byInsert.get(insert.shape);
  if (!byUpdate) byInsert.set(insert.shape, (byUpdate = new Map()));
  let folded = byUpdate.get(update.shape);
  if (folded) return folded;
  let columns = insert.columns;
  let shape = insert.shape;
  const defaultTexts: Array<string | undefined> = new Array(columns.length);
  if (update.sets.some((c) => !columns.includes(c))) {
    columns = [...columns];
    for (const c of insert.table.columns.values()) {
      if (c.defaultText === undefined || columns.includes(c)) continue;
      columns.push(c);
      defaultTexts.push(c.defaultText === null ? '\\N' : copyEscape(c.defaultText));
      shape += `\u0002${c.name}`;
    }
  }
  for (const column of update.sets) {
    if (columns.includes(column)) continue;
    if (columns === insert.columns) columns = [...columns];
    columns.push(column);
    defaultTexts.push(undefined);
    shape += `\u0002${column.name}`;
  }
  const setIndex = columns.map((c) => update.sets.indexOf(c));
  folded = { columns, shape, setIndex, defaultTexts };
  byUpdate.set(update.shape, folded);
  return folded;
}

/** Whether applying `op` before the (earlier) operations of `run` gives the same table. */
function commutes(op: EncodedOp, run: Run): boolean {
  if (op.kind === 'insert') {
    if (run.kind === 'insert') return true;
    return !rowMayMatch(op, run);
  }
  if (run.kind === 'insert') return !insertsMayMatch(run, op);
  if (op.kind === 'upsert' || run.kind === 'upsert') {
    // An upsert writes the one row with its primary key, whose other columns are not known before
    // it: it commutes with what provably matches other keys (compared on the key columns only) and
    // moves no row to a key (sets no key column).
    const keys = op.table.primaryKey!;
    if (op.kind === 'upsert') return !(run.kind === 'update' && keys.some((k) => run.setColumns!.has(k.name))) && !rowMayMatch(op, run);
    return !(op.kind === 'update' && op.sets.some((c) => keys.includes(c))) && !insertsMayMatch(run, op);
  }
  if (op.kind === 'delete') {
    if (run.kind === 'delete') return true;
    return !op.keys.some((k) => run.setColumns!.has(k.name));
  }
  if (run.kind === 'delete') return !run.whereColumns!.some((k) => op.sets.some((c) => c.name === k.name));
  // Two updates commute when they set different columns, neither of which the other matches on:
  // each row ends with both values whatever the order (the values are constants, not expressions).
  const sets = run.setColumns!;
  if (op.sets.some((c) => sets.has(c.name)) || op.keys.some((k) => sets.has(k.name))) return false;
  return !run.whereColumns!.some((k) => op.sets.some((c) => c.name === k.name));
}

/** Could this inserted (upserted) row be one that the run's deletes/updates/upserts match? (One provably different column is enough.) */
function rowMayMatch(op: InsertOp | UpsertOp, run: Run): boolean {
  let mask = 0;
  let key = '';
  const columns = run.whereColumns!;
  for (let c = 0; c < columns.length; c++) {
    const v = insertedText(op, columns[c]);
    if (v === undefined) continue; // the column's default: not known here
    if (v === null) return false; // = never matches NULL
    const n = columns[c].normalize?.(v);
    if (n === undefined) continue;
    key = mask === 0 ? n : `${key}\u0001${n}`;
    mask |= 1 << c;
  }
  if (mask === 0) return true;
  run.keyIndexes ??= new Map();
  let index = run.keyIndexes.get(mask);
  if (!index) {
    index = { values: new Set(), unknown: false };
    for (const tuple of run.keys!) addKey(index, tuple, mask);
    run.keyIndexes.set(mask, index);
  }
  return index.unknown || index.values.has(key);
}

function addKey(index: { values: Set<string>; unknown: boolean }, tuple: Array<string | undefined>, mask: number): void {
  let key: string | undefined;
  for (let c = 0; c < tuple.length; c++) {
    if (!(mask & (1 << c))) continue;
    if (tuple[c] === undefined) {
      index.unknown = true;
      return;
    }
    key = key === undefined ? tuple[c] : `${key}\u0001${tuple[c]}`;
  }
  index.values.add(key!);
}

/** Could a row inserted (upserted) by the run be matched by this delete/update/upsert? */
function insertsMayMatch(run: Run, op: DeleteOp | UpdateOp | UpsertOp): boolean {
  const tuple = op.keys.map((c, i) => c.normalize?.(op.values[i]!));
  const shape = op.keys.map((k) => k.name).join('\u0001');
  run.projections ??= new Map();
  let p = run.projections.get(shape);
  if (!p) {
    p = { columns: op.keys, bySubset: new Map(), unknown: false };
    for (const step of run.steps.values()) for (const row of step.ops as Array<InsertOp | UpsertOp>) addProjection(p, row);
    run.projections.set(shape, p);
  }
  if (p.unknown) return true;
  for (const [mask, values] of p.bySubset) {
    let key: string | undefined;
    for (let c = 0; c < tuple.length; c++) {
      if (!(mask & (1 << c))) continue;
      if (tuple[c] === undefined) return true;
      key = key === undefined ? tuple[c] : `${key}\u0001${tuple[c]}`;
    }
    if (values.has(key!)) return true;
  }
  return false;
}

/** The text an insert gives a column (null: NULL); undefined when it is left to a default not known here. */
function insertedText(op: InsertOp | UpsertOp, column: ColumnInfo): string | null | undefined {
  // An upserted row: only its key is known (its other columns may be an existing row's).
  if (op.kind === 'upsert') {
    const k = op.keys.indexOf(column);
    return k < 0 ? undefined : op.values[k];
  }
  if (op.pkText !== undefined && column === op.table.primaryKey?.[0]) return op.pkText;
  const i = op.columns.indexOf(column);
  if (i < 0) return column.defaultsToNull ? null : undefined;
  // Only the one field's bytes are decoded (a tab never occurs inside a field: COPY escapes it).
  const buf = op.arena.buf;
  const last = op.end - 1;
  let from = op.start;
  for (let k = 0; k < i; k++) from = buf.indexOf(9, from) + 1;
  let to = i === op.columns.length - 1 ? last : buf.indexOf(9, from);
  if (to < 0 || to > last) to = last;
  const field = buf.toString('utf8', from, to);
  return field === '\\N' ? null : copyUnescape(field);
}

function addProjection(p: RowProjection, row: InsertOp | UpsertOp): void {
  if (p.unknown) return;
  let mask = 0;
  let key = '';
  for (let c = 0; c < p.columns.length; c++) {
    const v = insertedText(row, p.columns[c]);
    if (v === undefined) continue;
    if (v === null) return; // never matched by =
    const n = p.columns[c].normalize?.(v);
    if (n === undefined) continue;
    key = mask === 0 ? n : `${key}\u0001${n}`;
    mask |= 1 << c;
  }
  if (mask === 0) {
    p.unknown = true;
    return;
  }
  let values = p.bySubset.get(mask);
  if (!values) p.bySubset.set(mask, (values = new Set()));
  values.add(key);
}

/**
 * The COPY data of a step, in CopyData messages of about 1 MiB (COPY does not need messages to end at
 * row boundaries): byte ranges of the arenas, adjacent rows merged, and rows that are not adjacent
 * (other tables' rows in between, updates folded into lines at the arena's end) gathered into one
 * buffer. Each message is a socket write or two: a message per scattered row cost about 2 s of
 * system time per million rows.
 */
function* copyChunks(ops: ReadonlyArray<{ arena: CopyArena; start: number; end: number }>): Generator<Buffer> {
  const MAX = 1 << 20;
  // Not reused once given out: the COPY stream may hold on to messages until the server is ready.
  let gather: Buffer | undefined;
  let used = 0;
  let i = 0;
  while (i < ops.length) {
    const { arena, start } = ops[i];
    let end = ops[i].end;
    for (i++; i < ops.length && ops[i].arena === arena && ops[i].start === end; i++) end = ops[i].end;
    if (end - start >= MAX / 4) {
      if (used) yield gather!.subarray(0, used);
      gather = undefined;
      used = 0;
      for (let at = start; at < end; at += MAX) yield arena.buf.subarray(at, Math.min(end, at + MAX));
      continue;
    }
    if (gather && used + end - start > gather.length) {
      yield gather.subarray(0, used);
      gather = undefined;
      used = 0;
    }
    gather ??= Buffer.allocUnsafe(MAX);
    used += arena.buf.copy(gather, used, start, end);
  }
  if (used) yield gather!.subarray(0, used);
}

/**
 * Writes a COPY's data into its stream and waits until the server took it all: what
 * stream.pipeline did here, without the Readable, the AbortController and the AbortError (a
 * DOMException, with its stack trace) that pipeline makes on every call, about 0.1 ms per COPY.
 */
async function sendCopyData(stream: Writable, chunks: Iterable<Buffer>): Promise<void> {
  const done = finished(stream);
  done.catch(() => undefined); // awaited below; a failed COPY rejects it before the end is reached
  for (const chunk of chunks) {
    if (!stream.write(chunk)) await Promise.race([once(stream, 'drain'), done]);
  }
  stream.end();
  await done;
}

/** COPY text of upserts (kept as value texts: a fold merges them), in messages of about 1 MiB. */
function* upsertChunks(ops: readonly UpsertOp[]): Generator<Buffer> {
  let arena = new CopyArena();
  for (const op of ops) {
    for (let i = 0; i < op.values.length; i++) {
      if (i) arena.writeByte(9);
      const v = op.values[i];
      arena.writeString(v === null ? '\\N' : copyEscape(v));
    }
    arena.writeByte(10);
    if (arena.length >= 1 << 20) {
      // Not reused: the COPY stream may hold on to a message until the server is ready.
      yield arena.buf.subarray(0, arena.length);
      arena = new CopyArena();
    }
  }
  if (arena.length) yield arena.buf.subarray(0, arena.length);
}

function columnArrays(ops: ReadonlyArray<{ values: Array<string | null> }>, n: number): Array<Array<string | null>> {
  const arrays = Array.from({ length: n }, () => new Array<string | null>(ops.length));
  ops.forEach((op, j) => {
    for (let i = 0; i < n; i++) arrays[i][j] = op.values[i];
  });
  return arrays;
}

function columnsKey(row: Row): string {
  let key = '';
  for (const k in row) key += k + '\u0001';
  return key;
}

interface Shape {
  key: string;
  columns: ColumnInfo[];
  /** Upserts of this column set: the primary key, the other columns, the upsert's shape (made once). */
  upsert?: { keys: ColumnInfo[]; sets: ColumnInfo[]; shape: string };
  /** Updates with this `where` shape: set shape → the update's shape (made once: the planner hashes it). */
  updateShapes?: Map<Shape, string>;
}

function updateShape(where: Shape, set: Shape): string {
  const shapes = (where.updateShapes ??= new Map());
  let shape = shapes.get(set);
  if (shape === undefined) shapes.set(set, (shape = `${where.key}|${set.key}`));
  return shape;
}

/** Upserts of `row`'s columns: checked once per column set (a primary key, all of it given). */
function upsertShape(table: TableInfo, row: Shape): NonNullable<Shape['upsert']> {
  if (row.upsert) return row.upsert;
  const keys = table.primaryKey;
  if (!keys) throw new OperationError(`upsert into ${table.name} needs a primary key on the table (it has none): add one, or use insert() and update()`);
  const missing = keys.find((k) => !row.columns.includes(k));
  if (missing) throw new OperationError(`upsert into ${table.name} must give its primary key column ${missing.name}`);
  const sets = row.columns.filter((c) => !keys.includes(c));
  return (row.upsert = { keys, sets, shape: upsertShapeKey(keys, sets) });
}

/** The planner's shape of an upsert: its column list (keys, then sets), marked apart from inserts' and updates'. */
function upsertShapeKey(keys: readonly ColumnInfo[], sets: readonly ColumnInfo[]): string {
  let shape = '\u0003';
  for (const c of keys) shape += `${c.name}\u0001`;
  for (const c of sets) shape += `${c.name}\u0001`;
  return shape;
}

function shapeOf(table: TableInfo, row: Row, what: 'row' | 'where' | 'set'): Shape {
  if (!row || typeof row !== 'object') throw new OperationError(`${what} of ${table.name} is ${String(row)}, not an object`);
  const lastShapes = (table.lastShapes ??= {});
  const last = lastShapes[what];
  if (last) {
    // Same keys in the same order as last time: no signature string to build.
    const columns = last.columns;
    let i = 0;
    for (const k in row) {
      if (i >= columns.length || columns[i].name !== k) {
        i = -1;
        break;
      }
      i++;
    }
    if (i === columns.length) return last;
  }
  const key = columnsKey(row);
  let shape = table.shapes.get(key);
  if (!shape) {
    const columns = Object.keys(row).map((name) => {
      const c = table.columns.get(name);
      if (!c) throw new NotInSchemaError(`table ${table.name} has no column "${name}" (its columns: ${[...table.columns.keys()].join(', ')})`);
      return c;
    });
    if (columns.length === 0) throw new OperationError(`${what} of ${table.name} names no column`);
    table.shapes.set(key, (shape = { key, columns }));
  }
  lastShapes[what] = shape;
  return shape;
}

function keyValues(keys: ColumnInfo[], where: Row, table: TableInfo): Array<string | null> {
  return keys.map((c) => {
    const text = toText(where[c.name], c, table);
    if (text === null) throw new OperationError(`where ${c.name} of ${table.name} is null: rows are matched with =, which never matches NULL`);
    return text;
  });
}

const INTEGER = /^\s*[+-]?\d+\s*$/;
const UUID = /^\{?([0-9a-f]{8})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{12})\}?$/i;

/** Types whose values the planner can compare in memory (deterministic text equality or a canonical form). */
const NORMALIZERS: Record<string, (text: string) => string | undefined> = {
  text: (t) => t,
  varchar: (t) => t,
  uuid: (t) => (isCanonicalUuid(t) ? t : UUID.exec(t)?.slice(1).join('-').toLowerCase()),
  int2: (t) => (INTEGER.test(t) ? BigInt(t.trim()).toString() : undefined),
  int4: (t) => (INTEGER.test(t) ? BigInt(t.trim()).toString() : undefined),
  int8: (t) => (INTEGER.test(t) ? BigInt(t.trim()).toString() : undefined),
  bool: (t) => (t === 't' || t === 'true' ? 't' : t === 'f' || t === 'false' ? 'f' : undefined),
};

/** Lowercase 8-4-4-4-12 hex: the form the uuid normalizer gives (checked without a regular expression). */
function isCanonicalUuid(t: string): boolean {
  if (t.length !== 36) return false;
  for (let i = 0; i < 36; i++) {
    const c = t.charCodeAt(i);
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (c !== 45) return false;
    } else if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

const COPY_SPECIAL = /[\\\n\r\t]/;


function copyUnescape(field: string): string {
  return field.includes('\\') ? field.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : c === 't' ? '\t' : c)) : field;
}

function copyEscape(text: string): string {
  if (!COPY_SPECIAL.test(text)) return text;
  // Backslashes first, so that the escapes added after are not escaped again.
  if (text.includes('\\')) text = text.replaceAll('\\', '\\\\');
  if (text.includes('\t')) text = text.replaceAll('\t', '\\t');
  if (text.includes('\n')) text = text.replaceAll('\n', '\\n');
  if (text.includes('\r')) text = text.replaceAll('\r', '\\r');
  return text;
}

/** A JS value as PostgreSQL's text input for a column (null for NULL). */
function toText(value: unknown, column: ColumnInfo, table: TableInfo): string | null {
  if (value === null || value === undefined) return null;
  switch (typeof value) {
    case 'string':
      return value;
    case 'number':
      if (!Number.isFinite(value) && column.kind !== 'json') return String(value).replace('Infinity', 'infinity');
      return column.kind === 'json' ? JSON.stringify(value) : String(value);
    case 'bigint':
      return value.toString();
    case 'boolean':
      return column.kind === 'json' ? String(value) : value ? 't' : 'f';
    case 'object':
      break;
    default:
      throw new OperationError(`column ${column.name} of ${table.name} gets a ${typeof value}`);
  }
  if (column.kind === 'json') return JSON.stringify(value);
  if (value instanceof Date) return value.toISOString();
  if (value instanceof PreciseTimestamp) return value.toISOString();
  if (value instanceof Uint8Array) return '\\x' + Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex');
  if (Array.isArray(value)) {
    if (column.kind !== 'array') throw new OperationError(`column ${column.name} of ${table.name} (${column.type}) gets an array`);
    return arrayLiteral(value, column, table);
  }
  const ts = value as { seconds?: unknown; nanos?: unknown };
  if (ts.seconds !== undefined && onlyTimestampKeys(ts)) return timestampText(ts.seconds, ts.nanos);
  throw new OperationError(`column ${column.name} of ${table.name} (${column.type}) gets an object; only json/jsonb columns take objects`);
}

function arrayLiteral(values: unknown[], column: ColumnInfo, table: TableInfo): string {
  const items = values.map((v) => {
    if (Array.isArray(v)) return arrayLiteral(v, column, table);
    const text = toText(v, { ...column, kind: 'other' }, table);
    return text === null ? 'NULL' : `"${text.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
  });
  return `{${items.join(',')}}`;
}

function onlyTimestampKeys(value: object): boolean {
  // for…in over own keys: Object.keys made an array for every timestamp of every row.
  for (const k in value) if (k !== 'seconds' && k !== 'nanos' && Object.prototype.hasOwnProperty.call(value, k)) return false;
  return true;
}

const PAD3 = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));

/** A decoded google.protobuf.Timestamp (seconds possibly a string or Long) as ISO-8601 UTC. */
export function timestampText(seconds: unknown, nanos: unknown): string {
  const s = typeof seconds === 'object' && seconds !== null ? Number(String(seconds)) : Number(seconds);
  const n = Number(nanos ?? 0);
  if (Number.isInteger(s) && s >= 0 && s < MAX_ISO_SECONDS && Number.isInteger(n) && n >= 0 && n < 1e9) {
    if (n % 1_000_000 === 0) return `${isoSeconds(s)}.${PAD3[n / 1_000_000]}Z`;
    return `${isoSeconds(s)}.${String(n).padStart(9, '0')}Z`;
  }
  // Whole milliseconds (the common case) need nothing but Date's own formatting.
  if (n % 1_000_000 === 0) return new Date(s * 1000 + n / 1_000_000).toISOString();
  return `${new Date(s * 1000).toISOString().slice(0, 19)}.${String(n).padStart(9, '0')}Z`;
}
