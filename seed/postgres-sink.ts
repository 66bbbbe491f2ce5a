// One module's PostgreSQL database as a seed sink: sets up the module's schema, turns row operations
// into COPY and set-based UPDATE/DELETE statements, and applies each batch in one transaction together
// with the module's progress (ferry_progress), so a batch is applied exactly once. Beside it:
// module-ops.ts (the encoded operations and the schema facts they use), batch-planner.ts (folding and
// grouping a batch into statements), copy-text.ts (PostgreSQL's COPY text format).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { UserError } from '../lib/errors.ts';
import { checkConnectionUrl, POSTGRES_URL } from '../lib/connection-url.ts';
import { describeUrl, redact } from '../lib/redact.ts';
import type { ModuleDefinition, RowOp, SchemaMode } from '../api/module.ts';
import { planSteps, type Step } from './batch-planner.ts';
import { CopyArena, columnArrays, copyChunks, copyEscape, keyValues, sendCopyData, toText, upsertChunks } from './copy-text.ts';
import { NORMALIZERS, NotInSchemaError, OperationError, shapeOf, type ColumnInfo, type ColumnKind, type EncodedOp, type ModuleBatch, type RowCounts, type TableInfo, updateShape, upsertShape } from './module-ops.ts';
import { ModuleLock } from './module-lock.ts';

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
  /** Wait for another run that holds the module instead of refusing to start. */
  wait?: boolean;
  log?: (line: string) => void;
  signal?: AbortSignal;
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
  private lock?: ModuleLock;
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
  /**
   * Connects (creating the database when asked) and takes the module's lock: before the schema is
   * touched, another run on this module is refused (or waited for). The engine opens its modules
   * one after the other in a fixed order, so of two runs on the same modules one gets them all and
   * the other is refused at its first (not each refused on the other's modules).
   */
  async open(): Promise<void> {
    this.pool = newPool(this.url);
    await this.checkLogin();
    this.lock = new ModuleLock(this.url, this.schemaName, this.module.name);
    await this.lock.acquire({ wait: this.options.wait, log: this.options.log, signal: this.options.signal });
  }

  /** Sets up (or checks) the module's schema after open(); returns the stored progress. */
  async connect(): Promise<ProgressRow[]> {
    if (!this.lock) await this.open();
    await this.setUpSchema();
    await this.loadTables();
    const progress = await this.loadProgress();
    for (const row of progress) if (row.shard === this.options.shard) this.expected.set(row.file, row.nextRecord);
    return progress;
  }

  async close(): Promise<void> {
    await this.pool?.end().catch(() => undefined);
    this.pool = undefined;
    await this.lock?.release();
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
    await this.lock?.ensure();
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
  if (module.url) return checkConnectionUrl(module.url, `module ${module.name}: url`, POSTGRES_URL).href;
  if (!module.database) throw new UserError(`module ${module.name}: set url or database in ferry.config.ts`);
  if (!serverUrl) throw new UserError(`module ${module.name} names database "${module.database}": pass --url postgres://… (or set FERRY_PG_URL) for its server`);
  const url = checkConnectionUrl(serverUrl, '--url', POSTGRES_URL);
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
