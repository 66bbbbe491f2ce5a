// `ferry extract` against a real PostgreSQL legacy database: every type PostgreSQL has among those
// ferry maps, NULLs everywhere, composite and text keys, key-range parts, and the bad inputs.
import { readFile, readdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DumpReader, DumpWriter, verifyPath } from '../dumps/index.ts';
import { EXTRACT_DEFAULTS, runExtract } from '../extract/engine.ts';
import pg from 'pg';
import { createLegacyDb, pgUrl, readPlain, withDatabase, type LegacyDb } from './extract-helpers.ts';
import { runFerry, tempDir } from './helpers.ts';

let db: LegacyDb;

const LONG_TEXT = 'Pitkä teksti 👋 ñ '.repeat(20_000);

beforeAll(async () => {
  db = await createLegacyDb('ferry_extract');
  await db.query(`
    CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
    CREATE DOMAIN positive_int AS integer CHECK (VALUE > 0);
    CREATE TABLE every_type (
      id integer PRIMARY KEY,
      c_bool boolean, c_int2 smallint, c_int4 integer, c_int8 bigint,
      c_numeric numeric, c_numeric_scaled numeric(38, 10), c_money money,
      c_float4 real, c_float8 double precision,
      c_text text, c_varchar varchar(20), c_char char(5), c_json json, c_jsonb jsonb, c_xml xml,
      c_enum mood, c_domain positive_int, c_bytea bytea, c_uuid uuid,
      c_date date, c_time time(6), c_timetz timetz, c_timestamp timestamp(6), c_timestamptz timestamptz,
      c_interval interval, c_inet inet,
      "Mixed Case-Name" text,
      a_int integer[] NOT NULL DEFAULT '{}', a_text text[] NOT NULL DEFAULT '{}', a_numeric numeric[] NOT NULL DEFAULT '{}',
      a_uuid uuid[] NOT NULL DEFAULT '{}', a_ts timestamptz[] NOT NULL DEFAULT '{}', a_bool boolean[] NOT NULL DEFAULT '{}',
      a_enum mood[] NOT NULL DEFAULT '{}'
    );
    INSERT INTO every_type VALUES
      (1, true, -32768, 2147483647, 9223372036854775807,
       123456789012345678901234567890.123456789012345, -0.0000000001, 1234567.89,
       3.4028235e38, 0.1,
       E'tab\\t newline\\n "quotes" ''single'' 👋', 'varchar', 'ab', '{"b": 2,  "a": [1, 2]}', '{"b": 2, "a": [1, 2]}', '<a x="1">x</a>',
       'happy', 7, '\\x00ff00aa', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11',
       '0001-01-01', '23:59:59.999999', '12:00:00+05:30', '1900-01-01 00:00:00.000001', '2024-03-31 01:30:00.123456+00',
       '1 year 2 mons 3 days 04:05:06.789', '192.168.0.1/24',
       'mixed',
       '{1,-2,2147483647}', '{"a","b,c","","NULL-like", "ü"}', '{1.10,99999999999999999999.99}',
       '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}', '{"2024-01-01 00:00:00.5+00","1970-01-01 00:00:00+00"}', '{true,false}', '{sad,happy}'),
      (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '{}', '{}', '{}', '{}', '{}', '{}', '{}'),
      (3, false, 0, 0, -9223372036854775808, 0, 0, -0.01, 'Infinity', 'NaN', '', '', '', '[]', '{}', '', 'sad', 1, '',
       '00000000-0000-0000-0000-000000000000', '2024-02-29', '00:00:00', '00:00:00-08', '2024-10-27 03:30:00', '1969-12-31 23:59:59.999999+00',
       '-1 days', '::1', '', '{}', '{}', '{}', '{}', '{}', '{}', '{}'),
      (4, true, 1, 1, 1, -1.5, 1.5, 0, -1.5, '-Infinity', $1, 'x', 'abcde', 'null', 'null', '<r/>', 'ok', 2, '\\x01',
       'ffffffff-ffff-ffff-ffff-ffffffffffff', '9999-12-31', '12:34:56.5', '23:59:59+14', '2024-03-31 03:30:00', '2038-01-19 03:14:08+00',
       '0 seconds', '10.0.0.0/8', 'z', '{0}', '{""}', '{0.000}', '{}', '{}', '{false}', '{}');

    CREATE TABLE order_lines (order_id integer NOT NULL, line_no smallint NOT NULL, product text, qty numeric(10,3),
      PRIMARY KEY (order_id, line_no));
    INSERT INTO order_lines SELECT o, l, 'product ' || (o * 7 + l) % 13, ((o * l) % 1000) / 8.0
      FROM generate_series(1, 300) o, generate_series(1, 1 + o % 5) l;

    CREATE TABLE members (handle text PRIMARY KEY, joined date NOT NULL, bio text);
    INSERT INTO members SELECT 'user-' || md5(g::text), date '2010-01-01' + g, CASE WHEN g % 3 = 0 THEN NULL ELSE 'bio ' || g END
      FROM generate_series(1, 2500) g;

    CREATE TABLE places (id integer PRIMARY KEY, name text NOT NULL, location point);
    INSERT INTO places VALUES (1, 'Helsinki', '(60.17,24.94)'), (2, 'nowhere', NULL);

    CREATE TABLE audit_log (happened timestamp NOT NULL, what text);
    INSERT INTO audit_log SELECT timestamp '2020-01-01' + g * interval '1 minute', 'event ' || g FROM generate_series(1, 1000) g;

    CREATE TABLE tags (id integer PRIMARY KEY, labels text[]);
    INSERT INTO tags VALUES (1, '{a,b}'), (2, NULL);
  `.replace('$1', `'${LONG_TEXT}'`));
  await db.query('ANALYZE');
});

afterAll(async () => {
  await db?.drop();
});

/** The expected plain form of every_type rows, computed by PostgreSQL itself. */
async function expectedEveryType(timeZone: string): Promise<Array<Record<string, unknown>>> {
  const ts = (col: string) => `CASE WHEN ${col} IS NULL THEN NULL ELSE json_build_object(
      'seconds', floor(extract(epoch FROM ${col}))::bigint::text,
      'nanos', ((extract(epoch FROM ${col}) - floor(extract(epoch FROM ${col}))) * 1000000000)::bigint) END`;
  const rows = await db.query<Record<string, unknown>>(`
    SELECT id, c_bool, c_int2, c_int4, c_int8::text AS c_int8, c_numeric::text AS c_numeric, c_numeric_scaled::text AS c_numeric_scaled,
      c_money::numeric::text AS c_money, c_float4::text AS c_float4, c_float8::text AS c_float8,
      c_text, c_varchar, c_char, c_json::text AS c_json, c_jsonb::text AS c_jsonb, c_xml::text AS c_xml,
      c_enum::text AS c_enum, c_domain, replace(encode(c_bytea, 'base64'), E'\\n', '') AS c_bytea, c_uuid::text AS c_uuid,
      c_date::text AS c_date, c_time::text AS c_time, c_timetz::text AS c_timetz,
      ${ts(`(c_timestamp AT TIME ZONE '${timeZone}')`)} AS c_timestamp, ${ts('c_timestamptz')} AS c_timestamptz,
      c_interval::text AS c_interval, c_inet, "Mixed Case-Name" AS "Mixed_Case_Name",
      to_json(a_int) AS a_int, to_json(a_text) AS a_text, to_json(a_numeric::text[]) AS a_numeric, to_json(a_uuid::text[]) AS a_uuid,
      coalesce((SELECT json_agg(${ts('x')} ORDER BY o) FROM unnest(a_ts) WITH ORDINALITY u(x, o)), '[]') AS a_ts,
      to_json(a_bool) AS a_bool, to_json(a_enum::text[]) AS a_enum
    FROM every_type ORDER BY id`);
  return rows.map((r) => ({
    ...r,
    c_float4: r.c_float4 === null ? null : Math.fround(Number(r.c_float4)),
    c_float8: r.c_float8 === null ? null : Number(r.c_float8),
    c_timestamp: r.c_timestamp === null ? null : { ...(r.c_timestamp as object), nanos: Number((r.c_timestamp as { nanos: number }).nanos) },
    c_timestamptz: r.c_timestamptz === null ? null : { ...(r.c_timestamptz as object), nanos: Number((r.c_timestamptz as { nanos: number }).nanos) },
  }));
}

async function everyTypeExpected(timeZone: string): Promise<Array<Record<string, unknown>>> {
  await db.query('SET IntervalStyle = iso_8601');
  return expectedEveryType(timeZone);
}

describe('ferry extract from PostgreSQL', () => {
  it('dumps every supported type exactly, NULLs as NULL, and writes schema, manifest and summary', async () => {
    const out = await tempDir('ferry-extract-');
    const schemas = path.join(out, 'schemas');
    const r = await runFerry(['extract', '--from', db.readerUrl, '--tables', 'every_type,order_lines,members', '--out', out, '--schemas-out', schemas, '--json']);
    expect(r.stderr).not.toContain(db.readerPassword);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary.tables.map((t: { table: string; rows: number }) => [t.table, t.rows])).toEqual([
      ['public.every_type', 4], ['public.order_lines', 900], ['public.members', 2500],
    ]);
    expect(r.stderr).toMatch(/public\.members\s+2500/);

    const file = path.join(out, 'public.every_type.pb.gz');
    const reader = await DumpReader.open(file);
    const header = reader.header;
    await reader.close();
    expect(header.recordType).toBe('legacy.public.every_type');
    expect(header.primaryKey).toEqual(['id']);
    expect(header.properties.source_timezone).toBe('UTC');
    expect(header.origin).toMatchObject({ source: 'postgres', database: db.name });
    expect(header.origin.query).toContain('FROM "public"."every_type"');
    expect(header.columns.find((c) => c.name === 'c_numeric_scaled')).toMatchObject({ sqlType: 'numeric(38,10)', nullable: true, fieldNumber: 7 });
    expect(header.columns.find((c) => c.name === 'Mixed Case-Name')).toMatchObject({ field: 'Mixed_Case_Name' });

    const proto = await readFile(path.join(schemas, 'public.every_type.proto'), 'utf8');
    expect(proto).toContain('package legacy.public;');
    expect(proto).toContain('int32 id = 1;');
    expect(proto).toContain('optional string c_numeric = 6;');
    expect(proto).toContain('optional google.protobuf.Timestamp c_timestamp = 24;');
    expect(proto).toContain('repeated int32 a_int = 29;');

    const actual = await readPlain(file);
    const expected = await everyTypeExpected('UTC');
    expect(expected).toHaveLength(4);
    expect(actual).toHaveLength(4);
    for (let i = 0; i < expected.length; i++) expect(actual[i]).toEqual(expected[i]);
    // Spot checks that do not rely on PostgreSQL's own rendering.
    expect(actual[0].c_int8).toBe('9223372036854775807');
    expect(actual[0].c_numeric).toBe('123456789012345678901234567890.123456789012345');
    expect(actual[0].c_uuid).toBe('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11');
    expect(actual[0].c_timestamptz).toEqual({ seconds: '1711848600', nanos: 123456000 });
    expect(actual[1].c_text).toBeNull();
    expect(actual[2].c_text).toBe('');
    expect(actual[2].c_int4).toBe(0);
    expect(actual[3].c_text).toBe(LONG_TEXT);

    // Composite key: every row, in key order, values as in the table.
    const lines = await readPlain(path.join(out, 'public.order_lines.pb.gz'));
    const dbLines = await db.query<{ order_id: number; line_no: number; product: string; qty: string }>('SELECT order_id, line_no, product, qty::text AS qty FROM order_lines ORDER BY order_id, line_no');
    expect(lines).toEqual(dbLines);
    const members = await readPlain(path.join(out, 'public.members.pb.gz'));
    const dbMembers = await db.query('SELECT handle, joined::text AS joined, bio FROM members ORDER BY handle');
    expect(members).toEqual(dbMembers);

    const manifestText = await readFile(path.join(out, 'extract-manifest.json'), 'utf8');
    expect(manifestText).not.toContain(db.readerPassword);
    const manifest = JSON.parse(manifestText);
    expect(manifest.status).toBe('complete');
    expect(manifest.source).toEqual({ scheme: 'postgres', server: new URL(db.url).host, database: db.name });
    expect(manifest.tables[2].summary).toMatchObject({ table: 'public.members', rows: 2500, files: ['public.members.pb.gz'] });
    expect((await verifyPath(out)).every((v) => v.ok)).toBe(true);
  });

  it('reads zone-less timestamps as wall-clock time in --source-timezone (DST gaps and overlaps as PostgreSQL does)', async () => {
    const out = await tempDir('ferry-extract-tz-');
    const r = await runFerry(['extract', '--from', db.url, '--tables', 'public.every_type', '--out', out, '--schemas-out', out, '--source-timezone', 'Europe/Helsinki']);
    expect(r.code, r.stderr).toBe(0);
    const actual = await readPlain(path.join(out, 'public.every_type.pb.gz'));
    const expected = await everyTypeExpected('Europe/Helsinki');
    expect(actual.map((a) => a.c_timestamp)).toEqual(expected.map((e) => e.c_timestamp));
    expect(actual[2].c_timestamp).toEqual({ seconds: String(Date.UTC(2024, 9, 27, 1, 30) / 1000), nanos: 0 });
    const reader = await DumpReader.open(path.join(out, 'public.every_type.pb.gz'));
    expect(reader.header.properties.source_timezone).toBe('Europe/Helsinki');
    await reader.close();
  });

  it('splits a table into key-range parts read in parallel, small chunks, same rows as one pass', async () => {
    const out = await tempDir('ferry-extract-parts-');
    const r = await runFerry(['extract', '--from', db.url, '--tables', 'order_lines,members', '--out', out, '--schemas-out', out,
      '--parts', '3', '--chunk-rows', '97', '--concurrency', '3', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const files = (await readdir(out)).filter((f) => f.endsWith('.pb.gz')).sort();
    expect(files).toEqual([
      'public.members.part-0001.pb.gz', 'public.members.part-0002.pb.gz', 'public.members.part-0003.pb.gz',
      'public.order_lines.part-0001.pb.gz', 'public.order_lines.part-0002.pb.gz', 'public.order_lines.part-0003.pb.gz',
    ]);
    const lines = [];
    for (const f of files.filter((f) => f.includes('order_lines'))) lines.push(...(await readPlain(path.join(out, f))));
    const dbLines = await db.query('SELECT order_id, line_no, product, qty::text AS qty FROM order_lines ORDER BY order_id, line_no');
    expect(lines).toEqual(dbLines);
    const handles = [];
    for (const f of files.filter((f) => f.includes('members'))) handles.push(...(await readPlain(path.join(out, f))).map((m) => m.handle));
    expect(handles).toEqual((await db.query<{ handle: string }>('SELECT handle FROM members ORDER BY handle')).map((m) => m.handle));
    const reader = await DumpReader.open(path.join(out, files[1]));
    expect(reader.header.properties.part).toBe('2/3');
    expect(JSON.parse(reader.header.properties.key_after)).toHaveLength(1);
    // Blocks end at chunk boundaries: 97 rows per block except the last.
    expect(reader.blocks.slice(0, -1).every((b) => b.records === 97)).toBe(true);
    await reader.close();
  });

  it('--shard i/n: n copies into one --out extract each selected table once, each with its own manifest', async () => {
    const out = await tempDir('ferry-extract-shards-');
    const args = ['extract', '--from', db.url, '--tables', 'order_lines,members', '--out', out, '--schemas-out', out, '--json'];
    const runs = [];
    for (const shard of ['0/2', '1/2']) {
      const r = await runFerry([...args, '--shard', shard]);
      expect(r.code, r.stderr).toBe(0);
      runs.push(JSON.parse(r.stdout) as { manifest: string; tables: Array<{ table: string; rows: number }> });
    }
    // Tables by name, every 2nd: members to shard 0, order_lines to shard 1.
    expect(runs.map((r) => r.tables.map((t) => t.table))).toEqual([['public.members'], ['public.order_lines']]);
    expect(runs.map((r) => path.basename(r.manifest))).toEqual(['extract-manifest.shard-0-of-2.json', 'extract-manifest.shard-1-of-2.json']);
    expect((await readdir(out)).filter((f) => f.endsWith('.pb.gz')).sort()).toEqual(['public.members.pb.gz', 'public.order_lines.pb.gz']);
    const lines = await readPlain(path.join(out, 'public.order_lines.pb.gz'));
    expect(lines).toEqual(await db.query('SELECT order_id, line_no, product, qty::text AS qty FROM order_lines ORDER BY order_id, line_no'));
    // Each shard resumes from its own manifest.
    const again = await runFerry([...args, '--shard', '1/2', '--resume']);
    expect(again.code, again.stderr).toBe(0);
    expect((JSON.parse(again.stdout) as { tables: Array<{ table: string }> }).tables.map((t) => t.table)).toEqual(['public.order_lines']);
  });

  it('refuses an unsupported column type with the table, the column and the ways out, which then work', async () => {
    const out = await tempDir('ferry-extract-unsupported-');
    const r = await runFerry(['extract', '--from', db.url, '--tables', 'places', '--out', out, '--schemas-out', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ferry: public\.places: column location has type point, which is not supported; leave it out with --exclude-columns 'public\.places\.location' or select it as a supported type with --cast/m);
    expect((await readdir(out)).filter((f) => f.endsWith('.pb.gz'))).toEqual([]);

    const excluded = await runFerry(['extract', '--from', db.url, '--tables', 'places', '--out', out, '--schemas-out', out, '--exclude-columns', 'places.location']);
    expect(excluded.code, excluded.stderr).toBe(0);
    expect(await readPlain(path.join(out, 'public.places.pb.gz'))).toEqual([{ id: 1, name: 'Helsinki' }, { id: 2, name: 'nowhere' }]);

    const cast = await runFerry(['extract', '--from', db.url, '--tables', 'places', '--out', out, '--schemas-out', out, '--cast', 'places.location=location::text']);
    expect(cast.code, cast.stderr).toBe(0);
    expect(await readPlain(path.join(out, 'public.places.pb.gz'))).toEqual([
      { id: 1, name: 'Helsinki', location: '(60.17,24.94)' }, { id: 2, name: 'nowhere', location: null },
    ]);
  });

  it('refuses a table without a key unless given --key or --no-key', async () => {
    const out = await tempDir('ferry-extract-nokey-');
    const r = await runFerry(['extract', '--from', db.url, '--tables', 'audit_log', '--out', out, '--schemas-out', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("public.audit_log: no primary key or unique key on NOT NULL columns; give --key 'public.audit_log=col[,col]'");
    expect(r.stderr).toContain('--no-key');

    const expected = await db.query<{ what: string }>('SELECT what FROM audit_log ORDER BY happened');
    const keyed = await runFerry(['extract', '--from', db.url, '--tables', 'audit_log', '--out', out, '--schemas-out', out, '--key', 'audit_log=happened', '--chunk-rows', '300']);
    expect(keyed.code, keyed.stderr).toBe(0);
    expect((await readPlain(path.join(out, 'public.audit_log.pb.gz'))).map((r) => r.what)).toEqual(expected.map((e) => e.what));

    const onePass = await runFerry(['extract', '--from', db.url, '--tables', 'audit_log', '--out', out, '--schemas-out', out, '--no-key', '--json']);
    expect(onePass.code, onePass.stderr).toBe(0);
    const rows = await readPlain(path.join(out, 'public.audit_log.pb.gz'));
    expect(rows.map((r) => r.what).sort()).toEqual(expected.map((e) => e.what).sort());
  });

  it('checks a --key before reading anything: its columns must exist, hold no NULLs and identify one row', async () => {
    await db.query(`
      CREATE TABLE key_checks (code text, version integer NOT NULL, seen timestamp NOT NULL, note text);
      INSERT INTO key_checks SELECT 'c' || (g % 50), g / 50, timestamp '2020-01-01' + (g / 3) * interval '1 second', 'note ' || g
        FROM generate_series(1, 300) g;
      INSERT INTO key_checks VALUES (NULL, 99, '2021-01-01', 'no code');
    `);
    const out = await tempDir('ferry-extract-keycheck-');
    const extract = (...args: string[]) => runFerry(['extract', '--from', db.url, '--tables', 'key_checks', '--out', out, '--schemas-out', out, '--chunk-rows', '7', ...args]);
    const noDumps = async () => expect((await readdir(out)).filter((f) => f.endsWith('.pb.gz'))).toEqual([]);

    // A column that does not exist (PostgreSQL would otherwise have compared the key as text).
    const unknown = await extract('--key', 'key_checks=kode');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^ferry: --key 'public\.key_checks=kode': table public\.key_checks has no column kode \(its columns: code, version, seen, note\)$/m);
    expect(unknown.stderr.trim().split('\n')).toHaveLength(1);
    const wrongCase = await extract('--key', 'key_checks=Version');
    expect(wrongCase.code).toBe(1);
    expect(wrongCase.stderr).toContain('has no column Version (did you mean version? (names are case-sensitive))');

    // A nullable column with NULLs: WHERE key > last never returns those rows.
    const nulls = await extract('--key', 'key_checks=code,version');
    expect(nulls.code).toBe(1);
    expect(nulls.stderr).toMatch(/^ferry: --key 'public\.key_checks=code,version': column code of public\.key_checks is NULL in some rows, .*--no-key$/m);

    // A duplicated value: rows sharing it across a chunk boundary would be skipped.
    const dup = await extract('--key', 'key_checks=seen');
    expect(dup.code).toBe(1);
    expect(dup.stderr).toMatch(/^ferry: --key 'public\.key_checks=seen': the key is not unique in public\.key_checks \([23] rows have \(seen\) = \(20\d\d-\d\d-\d\d \d\d:\d\d:\d\d\)\), .*add columns until the key identifies one row \(--key 'public\.key_checks=seen,<column>'\), or read the table in one pass with --no-key$/m);
    const dupPair = await extract('--key', 'key_checks=seen,version');
    expect(dupPair.code).toBe(1);
    expect(dupPair.stderr).toContain('the key is not unique in public.key_checks');
    await noDumps();

    // A nullable column without NULLs whose values are unique is a key; so is (seen, code) here.
    const expected = await db.query<{ note: string }>('SELECT note FROM key_checks ORDER BY note');
    const ok = await extract('--key', 'key_checks=note');
    expect(ok.code, ok.stderr).toBe(0);
    expect((await readPlain(path.join(out, 'public.key_checks.pb.gz'))).map((r) => r.note)).toEqual(expected.map((e) => e.note));
    await db.query('UPDATE key_checks SET code = \'none\' WHERE code IS NULL');
    const pair = await extract('--key', 'key_checks=seen,code');
    expect(pair.code, pair.stderr).toBe(0);
    expect(await readPlain(path.join(out, 'public.key_checks.pb.gz'))).toHaveLength(301);

    // A --key that overrides a table's own key is checked as well, and the error names the way back.
    const members = await runFerry(['extract', '--from', db.url, '--tables', 'members', '--out', out, '--schemas-out', out, '--key', 'members=joined,nope']);
    expect(members.code).toBe(1);
    expect(members.stderr).toContain("--key 'public.members=joined,nope': table public.members has no column nope");
  });

  it('ends a chunk by bytes as well as rows, so wide rows stay bounded in memory; every row once, in order, exact', async () => {
    await db.query(`
      CREATE TABLE wide_rows (id integer PRIMARY KEY, doc text NOT NULL, blob bytea, note text);
      INSERT INTO wide_rows SELECT g, repeat(E'back\\\\slash \\t tab \\n line ' || g || ' ', 20000), decode(repeat(md5(g::text), 8000), 'hex'),
        CASE WHEN g % 2 = 0 THEN E'\\\\N is not NULL' END
        FROM generate_series(1, 40) g;
    `);
    const out = await tempDir('ferry-extract-wide-');
    const r = await runFerry(['extract', '--from', db.url, '--tables', 'wide_rows', '--out', out, '--schemas-out', out, '--chunk-mb', '2', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const rows = await readPlain(path.join(out, 'public.wide_rows.pb.gz'));
    const expected = await db.query<{ id: number; doc: string; blob: string; note: string | null }>(
      `SELECT id, doc, replace(encode(blob, 'base64'), E'\\n', '') AS blob, note FROM wide_rows ORDER BY id`,
    );
    expect(rows.length).toBe(40);
    expect(rows[0].doc).toContain('back\\slash \t tab \n line 1 ');
    expect(rows[1].note).toBe('\\N is not NULL');
    expect(rows[0].note).toBeNull();
    for (let i = 0; i < expected.length; i++) expect(rows[i]).toEqual(expected[i]);
    // A row holds ~0.9 MB of text: a 2 MiB chunk ends after its third row (not after 50,000 rows).
    const manifest = JSON.parse(await readFile(path.join(out, 'extract-manifest.json'), 'utf8'));
    const cp = manifest.tables[0].parts[0].checkpoints.at(-1);
    expect(cp.chunk).toBe(14);
    expect(manifest.settings.chunkBytes).toBe(2 * 1024 * 1024);
    const reader = await DumpReader.open(path.join(out, 'public.wide_rows.pb.gz'));
    expect(reader.header.properties.chunk_bytes).toBe(String(2 * 1024 * 1024));
    await reader.close();
  });

  it('reads text as UTF-8 from LATIN1 and SQL_ASCII databases too (the session asks for UTF-8)', async () => {
    const admin = new pg.Client({ connectionString: pgUrl() });
    await admin.connect();
    const names = { LATIN1: `${db.name}_latin1`, SQL_ASCII: `${db.name}_ascii` };
    try {
      for (const [encoding, name] of Object.entries(names)) {
        await admin.query(`CREATE DATABASE ${name} ENCODING '${encoding}' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0`);
        const c = new pg.Client({ connectionString: withDatabase(pgUrl(), name), client_encoding: 'UTF8' });
        await c.connect();
        await c.query(`CREATE TABLE t (id integer PRIMARY KEY, s text)`);
        await c.query(`INSERT INTO t VALUES (1, 'Mitä kuuluu, Åsa?'), (2, 'tab\there')`);
        await c.end();
        const out = await tempDir('ferry-extract-enc-');
        const r = await runFerry(['extract', '--from', withDatabase(pgUrl(), name), '--tables', 't', '--out', out, '--schemas-out', out]);
        expect(r.code, r.stderr).toBe(0);
        const rows = (await readPlain(path.join(out, 'public.t.pb.gz'))).map((x) => x.s);
        expect(rows.slice(0, 2), encoding).toEqual(['Mitä kuuluu, Åsa?', 'tab\there']);
      }
    } finally {
      for (const name of Object.values(names)) await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    }
  });

  it('refuses NULL arrays (a repeated field cannot tell NULL from empty) and says how to go on', async () => {
    const out = await tempDir('ferry-extract-arrays-');
    const r = await runFerry(['extract', '--from', db.url, '--tables', 'tags', '--out', out, '--schemas-out', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('public.tags: column labels is NULL in the row with key (2)');
    expect(await readdir(out).then((f) => f.filter((n) => n.endsWith('.pb.gz')))).toEqual([]);
    const fixed = await runFerry(['extract', '--from', db.url, '--tables', 'tags', '--out', out, '--schemas-out', out, '--cast', "tags.labels=coalesce(labels, '{}')"]);
    expect(fixed.code, fixed.stderr).toBe(0);
    expect(await readPlain(path.join(out, 'public.tags.pb.gz'))).toEqual([{ id: 1, labels: ['a', 'b'] }, { id: 2, labels: [] }]);
  });

  it('reports a wrong password, port or host in one line without the password', async () => {
    const out = await tempDir('ferry-extract-conn-');
    const bad = new URL(db.readerUrl);
    bad.password = 'Wr0ng-S3cret-pw';
    const pw = await runFerry(['extract', '--from', bad.toString(), '--out', out]);
    expect(pw.code).toBe(1);
    expect(pw.stderr).toMatch(/^ferry: cannot connect to PostgreSQL at 127\.0\.0\.1:\d+\/ferry_extract_\w+: password authentication failed/);
    expect(pw.stderr).not.toContain('Wr0ng-S3cret-pw');
    expect(pw.stderr.trim().split('\n')).toHaveLength(1);

    const port = new URL(db.readerUrl);
    port.port = '1';
    const p = await runFerry(['extract', '--from', port.toString(), '--out', out]);
    expect(p.code).toBe(1);
    expect(p.stderr).toMatch(/^ferry: cannot connect to PostgreSQL at 127\.0\.0\.1:1\/.*ECONNREFUSED/);
    expect(p.stderr).not.toContain(db.readerPassword);

    const host = new URL(db.readerUrl);
    host.hostname = '127.0.0.3';
    const h = await runFerry(['extract', '--from', host.toString(), '--out', out]);
    expect(h.code).toBe(1);
    expect(h.stderr).toMatch(/^ferry: cannot connect to PostgreSQL at 127\.0\.0\.3:/);
    expect(h.stderr).not.toContain(db.readerPassword);
  });

  it('reports a missing table, and an output folder it cannot write', async () => {
    const out = await tempDir('ferry-extract-missing-');
    const r = await runFerry(['extract', '--from', db.url, '--tables', 'members,no_such_table', '--out', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ferry: table no_such_table does not exist in 127\.0\.0\.1:\d+\/ferry_extract_\w+ \(tables there include /);

    const file = path.join(out, 'not-a-folder');
    await writeFile(file, 'x');
    const w = await runFerry(['extract', '--from', db.url, '--tables', 'members', '--out', path.join(file, 'dumps')]);
    expect(w.code).toBe(1);
    expect(w.stderr).toBe(`ferry: --out ${path.join(file, 'dumps')}: ${file} is a file, not a folder: choose another folder\n`);
  });

  it('fails cleanly when the disk is full: no dump left looking complete, the manifest says failed', async () => {
    const out = await tempDir('ferry-extract-full-');
    const run = runExtract({
      ...EXTRACT_DEFAULTS, from: db.url, out, schemasOut: out, tables: ['members'], exclude: [], excludeColumns: [], casts: [], keys: [],
      noKey: false, resume: false, retries: 0,
      // The writer's temporary file is /dev/full: every write fails with ENOSPC, as on a full disk.
      createWriter: async (file, header, options) => {
        await symlink('/dev/full', path.join(path.dirname(file), `.${path.basename(file)}.partial-${process.pid}`));
        return DumpWriter.create(file, header, options);
      },
    });
    await expect(run).rejects.toThrow(/cannot write .*public\.members\.pb\.gz: no space left on the device \(ENOSPC\)/);
    const files = await readdir(out);
    expect(files.filter((f) => f.endsWith('.pb.gz') || f.includes('.partial-'))).toEqual([]);
    const manifest = JSON.parse(await readFile(path.join(out, 'extract-manifest.json'), 'utf8'));
    expect(manifest.status).toBe('failed');
    expect(manifest.error).toContain('ENOSPC');
  });
});
