// One `ferry seed modules` run per module schema at a time, whatever users start: a session-level
// PostgreSQL advisory lock, taken on a connection of its own before the schema is set up (so two
// --reset runs cannot both drop and create it) and held until the run ends. The server releases it
// when that connection goes away, so a run killed with -9 never leaves a stale lock. The holder's
// pid, host and start time travel in the lock connection's application_name, which
// pg_stat_activity shows to every role, so a refused run can say who holds the module.
import os from 'node:os';
import pg from 'pg';
import { UserError } from '../lib/errors.ts';
import { pidIsGone } from '../lib/run-lock.ts';

/** First half of the lock key: ferry's own namespace of advisory locks ("fery"). */
const LOCK_NAMESPACE = 0x66657279;
const APP_PREFIX = 'ferry-seed-lock';
/** How long a lock held by the session of a run that is gone may take to be released. */
const DYING_SESSION_MS = 30_000;

export interface LockHolder {
  pid: string;
  host: string;
  since: string;
}

export class ModuleLock {
  private client?: pg.Client;
  private held = false;
  private readonly since = new Date().toISOString().replace(/\.\d+Z$/, 'Z');

  constructor(private readonly url: string, private readonly schema: string, private readonly moduleName: string) {}

  /**
   * Takes the module's lock, or throws a UserError naming the run that holds it. With `wait`, waits
   * for it instead (noting once who holds it), until `signal` aborts.
   */
  async acquire(options: { wait?: boolean; log?: (line: string) => void; signal?: AbortSignal } = {}): Promise<void> {
    let noted = false;
    const started = Date.now();
    for (;;) {
      if (await this.tryLock()) return;
      const holder = await this.holder();
      const who = holder ? `pid ${holder.pid} on host ${holder.host} since ${holder.since}` : 'another session';
      // A run killed with -9 a moment ago: its server session ends as soon as the server notices
      // (busy servers take a while); a run started right after it (--resume) waits for that.
      const dying = !holder || (holder.host === os.hostname().slice(0, holder.host.length) && pidIsGone(Number(holder.pid)));
      if (dying && Date.now() - started < DYING_SESSION_MS) {
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      if (!options.wait) throw new UserError(`module ${this.moduleName} is being seeded by ${who}; wait for it or pass --wait`);
      if (!noted) options.log?.(`module ${this.moduleName} is being seeded by ${who}: waiting for it (--wait)`);
      noted = true;
      if (options.signal?.aborted) throw new UserError(`module ${this.moduleName}: stopped while waiting for the run of ${who}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /**
   * Before writing a batch: the lock must still be ours. After its connection was lost (a database
   * restart), it is taken again; if another run took it meanwhile, this run must stop.
   */
  async ensure(): Promise<void> {
    if (this.held) return;
    if (await this.tryLock()) return;
    const holder = await this.holder();
    throw new UserError(`module ${this.moduleName}: the connection holding its lock was lost and ${holder ? `pid ${holder.pid} on host ${holder.host}` : 'another session'} took the module over; stopped so as not to write twice: run again with --resume when it is done`);
  }

  async release(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.held = false;
    // Closing the session releases the lock.
    await client?.end().catch(() => undefined);
  }

  private async tryLock(): Promise<boolean> {
    if (!this.client) {
      const host = os.hostname().slice(0, 63 - `${APP_PREFIX} ${process.pid} ${this.since} `.length);
      const client = new pg.Client({ connectionString: this.url, application_name: `${APP_PREFIX} ${process.pid} ${this.since} ${host}` });
      client.on('error', () => {
        // The session and its lock are gone: taken again (or refused) before the next batch.
        this.held = false;
        if (this.client === client) this.client = undefined;
      });
      await client.connect();
      this.client = client;
    }
    const { rows } = await this.client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok', [LOCK_NAMESPACE, this.schema]);
    this.held = rows[0].ok;
    return this.held;
  }

  /** Who holds the lock now, from the holder's application_name; undefined if it is not a ferry run (or just ended). */
  private async holder(): Promise<LockHolder | undefined> {
    const { rows } = await this.client!.query<{ app: string | null }>(
      `SELECT a.application_name AS app
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND l.classid = $1::int4::oid AND l.objid = hashtext($2)::oid`, [LOCK_NAMESPACE, this.schema]);
    const m = rows[0]?.app ? new RegExp(`^${APP_PREFIX} (\\d+) (\\S+) (.*)$`).exec(rows[0].app) : null;
    return m ? { pid: m[1], since: m[2], host: m[3] } : undefined;
  }
}
