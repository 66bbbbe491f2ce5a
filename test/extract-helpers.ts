// Helpers for the extract suites: a throw-away legacy database on the project's PostgreSQL, and
// reading dumps back as plain rows.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { DumpReader } from '../dumps/index.ts';

export function pgUrl(): string {
  const url = process.env.FERRY_PG_URL;
  if (!url) throw new Error('FERRY_PG_URL is not set (test/global-setup.ts starts PostgreSQL)');
  return url;
}

export function withDatabase(url: string, database: string, credentials?: { user: string; password: string }): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  if (credentials) {
    u.username = credentials.user;
    u.password = credentials.password;
  }
  return u.toString();
}

export interface LegacyDb {
  name: string;
  /** Superuser URL of the database. */
  url: string;
  /** URL of a read-only role (pg_read_all_data) with a distinctive password, as a replica user. */
  readerUrl: string;
  readerPassword: string;
  query<R = Record<string, unknown>>(text: string, values?: unknown[]): Promise<R[]>;
  drop(): Promise<void>;
}

/** Creates a fresh database (and a read-only role) for one suite. */
export async function createLegacyDb(prefix: string): Promise<LegacyDb> {
  const admin = new pg.Client({ connectionString: pgUrl() });
  await admin.connect();
  const name = `${prefix}_${randomBytes(4).toString('hex')}`;
  const reader = `${name}_reader`;
  const readerPassword = `Rd-${randomBytes(6).toString('hex')}-pw`;
  try {
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.query(`CREATE ROLE ${reader} LOGIN PASSWORD '${readerPassword}'`);
    await admin.query(`GRANT pg_read_all_data TO ${reader}`);
  } finally {
    await admin.end();
  }
  const url = withDatabase(pgUrl(), name);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return {
    name,
    url,
    readerUrl: withDatabase(pgUrl(), name, { user: reader, password: readerPassword }),
    readerPassword,
    async query<R>(text: string, values?: unknown[]) {
      return (await client.query(text, values)).rows as R[];
    },
    async drop() {
      await client.end();
      const a = new pg.Client({ connectionString: pgUrl() });
      await a.connect();
      try {
        await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        await a.query(`DROP ROLE IF EXISTS ${reader}`);
      } finally {
        await a.end();
      }
    },
  };
}

/** All records of a dump as plain objects (int64 as strings, bytes base64, NULL as null). */
export async function readPlain(file: string): Promise<Array<Record<string, unknown>>> {
  const reader = await DumpReader.open(file);
  const rows: Array<Record<string, unknown>> = [];
  try {
    for await (const m of reader.records()) rows.push(reader.toPlain(m));
  } finally {
    await reader.close();
  }
  return rows;
}
