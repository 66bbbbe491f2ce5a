// Seeding into a module schema that exists already and that ferry did not create (schemaMode
// 'existing' / --schema existing), against real PostgreSQL: no DDL in it, rows already there kept,
// ferry's progress in a schema of its own, nothing ever dropped, and one clear line when the schema
// lacks a table or column the handlers write, or is not there at all.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSampleEventDump } from './fixtures/event-dumps.ts';
import { SOCIAL_SQL, actualTables, databaseUrl, expectedTables, moduleDatabases, socialHandlers, sql, writeModulesConfig } from './fixtures/modules-feed.ts';
import { runFerry, tempDir } from './helpers.ts';

const SERVER = () => process.env.FERRY_PG_URL!;
const databases = moduleDatabases('existing');
const dbName = databases.name;

let input: string;
const EVENTS = 3_000;

beforeAll(async () => {
  input = await tempDir('ferry-seed-existing-in-');
  await writeSampleEventDump(path.join(input, 'a.pb.gz'), EVENTS, { blockRecords: 500 });
});

afterAll(async () => {
  await databases.dropAll();
});

/** A database whose schema `app` the module's own migrations made (with `sqlText`), holding one row of its own. */
async function migratedDatabase(what: string, sqlText = SOCIAL_SQL): Promise<{ db: string; url: string }> {
  const db = dbName(what);
  await sql(SERVER(), `CREATE DATABASE ${db}`);
  const url = databaseUrl(SERVER(), db);
  await sql(url, `CREATE SCHEMA app; SET search_path TO app; ${sqlText}; CREATE TABLE app.audit (n int);
    INSERT INTO app.feed (message_id, owner_id, author_id, body) VALUES ('00000000-0000-4000-8000-0000000000aa', gen_random_uuid(), gen_random_uuid(), 'kept')`);
  return { db, url };
}

describe('seed modules into an existing schema', () => {
  it('runs no DDL, keeps the rows there, keeps progress in schema ferry, resumes, and refuses --reset', async () => {
    const { db, url } = await migratedDatabase('plain');
    const dir = await tempDir();
    // The schema SQL would fail if it ran (division by zero): with --schema existing it must not.
    const config = await writeModulesConfig(dir, `[socialModule({ database: '${db}', schemaName: 'app', schemaSql: 'SELECT 1/0' })]`);
    const args = ['seed', 'modules', '--in', input, '--config', config, '--url', SERVER(), '--batch-size', '700', '--schema', 'existing', '--quiet'];
    const run = await runFerry([...args, '--json']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout).modules[0]).toMatchObject({ schema: 'app', events: EVENTS, rows: { inserted: 2_000 } });

    const expected = expectedTables(socialHandlers as never, EVENTS, ['registrations', 'feed']);
    const actual = await actualTables(url, 'app', ['registrations', 'feed']);
    expect(actual.registrations).toEqual(expected.registrations);
    const kept = actual.feed.filter((r) => r.includes('00000000-0000-4000-8000-0000000000aa'));
    expect(kept).toHaveLength(1);
    expect(actual.feed.filter((r) => !kept.includes(r))).toEqual(expected.feed);
    // ferry's own table is in its own schema; the module's schema has only its own tables.
    expect(await sql(url, `SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema IN ('app', 'ferry') ORDER BY 1, 2`)).toEqual([
      { table_schema: 'app', table_name: 'audit' }, { table_schema: 'app', table_name: 'feed' }, { table_schema: 'app', table_name: 'registrations' },
      { table_schema: 'ferry', table_name: 'social_progress' },
    ]);
    expect(await sql(url, 'SELECT file, next_record::int, events::int FROM ferry.social_progress')).toEqual([{ file: 'a.pb.gz', next_record: EVENTS, events: EVENTS }]);

    const again = await runFerry(args);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^ferry: schema app of module social \(database existing_plain_\d+_\d+ on 127\.0\.0\.1:\d+\) already holds 3000 events from an earlier run \(progress in ferry\.social_progress\): pass --resume to continue it\n$/);
    const resumed = await runFerry([...args, '--resume', '--json']);
    expect(resumed.code).toBe(0);
    expect(JSON.parse(resumed.stdout).modules[0]).toMatchObject({ events: 0, resumedPast: EVENTS });

    const reset = await runFerry([...args, '--reset']);
    expect(reset.code).toBe(1);
    expect(reset.stderr).toMatch(/^ferry: module social: --reset drops the schema, but schema app of module social \(database existing_plain_\d+_\d+ on 127\.0\.0\.1:\d+\) is the module's own \(schemaMode 'existing'\) and ferry never drops or empties it: empty its tables yourself and drop ferry\.social_progress, then run again\n$/);
    expect(await sql(url, 'SELECT count(*)::int AS n FROM app.registrations')).toEqual([{ n: 1_000 }]);

    // Without the mode, ferry says how to seed into a schema it did not create.
    const plain = await runFerry(args.filter((a) => a !== '--schema' && a !== 'existing'));
    expect(plain.code).toBe(1);
    expect(plain.stderr).toContain("exists but was not created by ferry (no ferry_progress table): to seed into it as it is, set schemaMode: 'existing' on the module (or pass --schema existing)");
  });

  it('stops at the first event that writes a column the schema lacks, naming it, even with --max-errors', async () => {
    // The migrations have no blocked_by column, which the MemberBlocked handler sets.
    const { db, url } = await migratedDatabase('nocolumn', SOCIAL_SQL.replace(', blocked_by uuid', ''));
    const dir = await tempDir();
    const config = await writeModulesConfig(dir, `[socialModule({ database: '${db}', schemaName: 'app', schemaMode: 'existing', progressSchema: 'seeding' })]`);
    const run = await runFerry(['seed', 'modules', '--in', input, '--config', config, '--url', SERVER(), '--batch-size', '1000', '--max-errors', '50', '--quiet']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^ferry: module social \(database existing_nocolumn_\d+_\d+ on 127\.0\.0\.1:\d+\): the MemberBlocked handler \(event [0-9a-f-]{36}, a\.pb\.gz record 2\) writes what the existing schema lacks: table registrations has no column "blocked_by" \(its columns: event_id, member_id, nickname, city, registered_at\); add it with the module's own migrations \(schemaMode 'existing': ferry creates no tables or columns\)\n$/);
    // Nothing of the batch was written; ferry's progress table is in the schema named.
    expect(await sql(url, 'SELECT count(*)::int AS n FROM app.registrations')).toEqual([{ n: 0 }]);
    expect(await sql(url, 'SELECT count(*)::int AS n FROM seeding.social_progress')).toEqual([{ n: 0 }]);
  });

  it('says so when the schema is not there', async () => {
    const db = dbName('noschema');
    await sql(SERVER(), `CREATE DATABASE ${db}`);
    const dir = await tempDir();
    const config = await writeModulesConfig(dir, `[socialModule({ database: '${db}', schemaMode: 'existing' })]`);
    const run = await runFerry(['seed', 'modules', '--in', input, '--config', config, '--url', SERVER(), '--quiet']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^ferry: schema social of module social \(database existing_noschema_\d+_\d+ on 127\.0\.0\.1:\d+\) does not exist: create it and its tables with the module's own migrations \(schemaMode 'existing': ferry creates nothing in it\), or drop schemaMode to let ferry create it\n$/);
    expect(await sql(databaseUrl(SERVER(), db), `SELECT nspname FROM pg_namespace WHERE nspname IN ('social', 'ferry')`)).toEqual([]);
    const bad = await runFerry(['seed', 'modules', '--in', input, '--config', config, '--url', SERVER(), '--schema', 'mine']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe('ferry: --schema takes create or existing, not "mine"\n');
  });
});
