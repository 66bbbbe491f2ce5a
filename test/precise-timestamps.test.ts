// Datetimes at full precision, end to end against real PostgreSQL: a legacy timestamp(6) column →
// extract → transform (ctx.precise) → seed modules → a module's timestamptz(6) column keeps its
// microseconds, while row.Column (a Date) still gives milliseconds. And the pieces on their own:
// PreciseTimestamp, ctx.precise in the testing helper, the payload encoders.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PreciseTimestamp } from '../lib/precise-timestamp.ts';
import { defineTransform } from '../api/transform.ts';
import { payloadEncoder } from '../transform/payload-encoder.ts';
import { ENVELOPE_TYPE, readEnvelope } from '../dumps/index.ts';
import { stripImports } from '../transform/inputs.ts';
import { TransformRuntime } from '../transform/runtime.ts';
import { transformRows } from '../transform/testing.ts';
import { usedColumns } from '../transform/rows.ts';
import { createLegacyDb, type LegacyDb } from './extract-helpers.ts';
import { linkFerry } from './fixtures/transform-project.ts';
import { databaseUrl, sql } from './fixtures/modules-feed.ts';
import { ROOT, runFerry, tempDir } from './helpers.ts';

const SERVER = () => process.env.FERRY_PG_URL!;
let legacy: LegacyDb;
const moduleDb = `precise_${process.pid}`;

const PROTO = `syntax = "proto3";
package precise;
import "google/protobuf/timestamp.proto";
message VisitSeen {
  string visit_id = 1;
  google.protobuf.Timestamp seen_at = 2;
  optional google.protobuf.Timestamp left_at = 3;
  google.protobuf.Timestamp seen_ms = 4;
}
`;

const TRANSFORM = `defineTransform({
  table: 'public.visits',
  aggregateType: 'visit',
  run(row: any, ctx) {
    return ctx.event('VisitSeen', {
      visit_id: ctx.id('visit', row.id),
      seen_at: ctx.precise(row, 'seen_at'),
      left_at: ctx.precise(row, 'left_at'),
      seen_ms: row.seen_at,
    }, { occurredAt: ctx.precise(row, 'seen_at')!, aggregateId: ctx.id('visit', row.id) });
  },
})`;

const MODULE = `{
  name: 'visits', database: '${moduleDb}',
  schemaSql: 'CREATE TABLE visits (visit_id uuid PRIMARY KEY, seen_at timestamptz(6) NOT NULL, left_at timestamptz(6), seen_ms timestamptz(6), occurred_at timestamptz(6))',
  handlers: {
    VisitSeen: (p: any, e: any) => insert('visits', { visit_id: p.visit_id, seen_at: p.seen_at, left_at: p.left_at, seen_ms: p.seen_ms, occurred_at: e.occurredAt }),
  },
}`;

beforeAll(async () => {
  legacy = await createLegacyDb('ferry_precise');
  await legacy.query(`CREATE TABLE visits (id int PRIMARY KEY, seen_at timestamp(6) NOT NULL, left_at timestamp(6));
    INSERT INTO visits VALUES (1, '2020-01-02 03:04:05.123456', NULL), (2, '1999-12-31 23:59:59.999999', '2000-01-01 00:00:00.000001'),
      (3, '2020-01-02 03:04:05', '1969-12-31 23:59:59.5')`);
});

afterAll(async () => {
  await legacy?.drop();
  await sql(SERVER(), `DROP DATABASE IF EXISTS ${moduleDb} WITH (FORCE)`).catch(() => undefined);
});

describe('precise timestamps', () => {
  it('carry microseconds from a legacy timestamp(6) column through extract, transform and seed modules into timestamptz(6)', async () => {
    const dir = await tempDir('ferry-precise-');
    await writeFile(path.join(dir, 'package.json'), '{ "type": "module" }\n');
    await mkdir(path.join(dir, 'events'));
    await writeFile(path.join(dir, 'events', 'visits.proto'), PROTO);
    await writeFile(path.join(dir, 'ferry.config.ts'), [
      "import { defineConfig, defineTransform, insert } from 'ferry';",
      `export default defineConfig({ eventSchemas: ['events/visits.proto'], transforms: [${TRANSFORM}], modules: [${MODULE}] });`,
    ].join('\n'));
    await linkFerry(dir);
    const env = { FERRY_QUIET: '1' };
    const extract = await runFerry(['extract', '--from', legacy.url, '--tables', 'public.visits', '--out', 'dumps', '--schemas-out', 'schemas', '--json'], { cwd: dir, env });
    expect(extract.code, extract.stderr).toBe(0);
    const transform = await runFerry(['transform', '--in', 'dumps', '--out', 'events-out', '--config', 'ferry.config.ts', '--no-typecheck', '--json'], { cwd: dir, env });
    expect(transform.stderr).toBe('');
    expect(transform.code).toBe(0);
    expect(JSON.parse(transform.stdout)).toMatchObject({ rows: 3, events: 3 });
    const seed = await runFerry(['seed', 'modules', '--in', 'events-out', '--config', 'ferry.config.ts', '--url', SERVER(), '--create-databases', '--quiet', '--json'], { cwd: dir, env });
    expect(seed.stderr).toBe('');
    expect(seed.code).toBe(0);
    const us = (c: string) => `to_char(${c} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') AS ${c}`;
    expect(await sql(databaseUrl(SERVER(), moduleDb), `SELECT ${['seen_at', 'left_at', 'seen_ms', 'occurred_at'].map(us).join(', ')} FROM visits.visits ORDER BY seen_at`)).toEqual([
      { seen_at: '1999-12-31 23:59:59.999999', left_at: '2000-01-01 00:00:00.000001', seen_ms: '1999-12-31 23:59:59.999000', occurred_at: '1999-12-31 23:59:59.999999' },
      { seen_at: '2020-01-02 03:04:05.000000', left_at: '1969-12-31 23:59:59.500000', seen_ms: '2020-01-02 03:04:05.000000', occurred_at: '2020-01-02 03:04:05.000000' },
      { seen_at: '2020-01-02 03:04:05.123456', left_at: null, seen_ms: '2020-01-02 03:04:05.123000', occurred_at: '2020-01-02 03:04:05.123456' },
    ]);
  });

  it('PreciseTimestamp: from and to Date, ISO text and protobuf Timestamps, exactly', () => {
    const t = PreciseTimestamp.parse('2020-01-02T03:04:05.1234567Z');
    expect([t.seconds, t.nanos, t.toISOString(), t.toDate().toISOString()]).toEqual([1_577_934_245n, 123_456_700, '2020-01-02T03:04:05.1234567Z', '2020-01-02T03:04:05.123Z']);
    expect(PreciseTimestamp.parse('2020-01-02T05:04:05.000001+02:00').toISOString()).toBe('2020-01-02T03:04:05.000001Z');
    const before1970 = PreciseTimestamp.fromDate(new Date('1969-12-31T23:59:59.250Z'));
    expect([before1970.seconds, before1970.nanos, before1970.toISOString(), before1970.epochNanos()]).toEqual([-1n, 250_000_000, '1969-12-31T23:59:59.25Z', -750_000_000n]);
    expect(PreciseTimestamp.from({ seconds: '1577934245', nanos: 5 })!.toISOString()).toBe('2020-01-02T03:04:05.000000005Z');
    expect(PreciseTimestamp.from(null)).toBeNull();
    expect(JSON.stringify({ t })).toBe('{"t":"2020-01-02T03:04:05.1234567Z"}');
    expect(() => new PreciseTimestamp(0, 1e9)).toThrow('PreciseTimestamp nanos must be a whole number from 0 to 999999999, not 1000000000');
  });

  it('ctx.precise in the testing helper reads hand-made rows; transforms declare the columns it reads', async () => {
    const dir = await tempDir('ferry-precise-unit-');
    const proto = path.join(dir, 'visits.proto');
    await writeFile(proto, PROTO);
    const visits = defineTransform({
      table: 'public.visits',
      aggregateType: 'visit',
      run(row: { id: number; seen_at: Date | string; left_at: Date | null }, ctx) {
        return ctx.event('VisitSeen', { visit_id: ctx.id('visit', row.id), seen_at: ctx.precise(row, 'seen_at'), left_at: ctx.precise(row, 'left_at'), seen_ms: new Date(0) },
          { occurredAt: ctx.precise(row, 'seen_at')!, aggregateId: ctx.id('visit', row.id) });
      },
    });
    const events = await transformRows(visits, [
      { id: 1, seen_at: '2020-01-02T03:04:05.123456Z', left_at: null },
      { id: 2, seen_at: new Date('2020-01-02T03:04:05.123Z'), left_at: new Date(1) },
    ], { eventSchemas: [proto], primaryKey: ['id'] });
    expect(events.map((e) => [e.occurredAt, e.payload.seen_at, e.payload.left_at])).toEqual([
      ['2020-01-02T03:04:05.123456Z', { seconds: '1577934245', nanos: 123_456_000 }, null],
      ['2020-01-02T03:04:05.123Z', { seconds: '1577934245', nanos: 123_000_000 }, { seconds: '0', nanos: 1_000_000 }],
    ]);
    const bad = transformRows(defineTransform({ table: 't', aggregateType: 'x', run: (row: { id: number; n: number }, ctx) => { ctx.precise(row, 'n'); } }), [{ id: 1, n: 5 }], { eventSchemas: [proto], primaryKey: ['id'] });
    await expect(bad).rejects.toThrow('transform threw: ctx.precise: column n is not a datetime (it holds number)');
    expect(usedColumns((row: { a: Date; b: Date }, ctx: { precise(r: object, c: string): unknown }) => [ctx.precise(row, 'a'), ctx.precise(row, "b")])).toEqual(['a', 'b']);
  });

  it('the generated payload encoder writes a PreciseTimestamp as the general path (protobufjs) does', () => {
    const def = defineTransform({
      table: 't',
      aggregateType: 'visit',
      run: (row: { id: number }) => ({
        type: 'VisitSeen',
        payload: { visit_id: 'v', seen_at: new PreciseTimestamp(1_577_934_245n, 123_456_700), left_at: PreciseTimestamp.parse('2000-01-01T00:00:00.000001Z'), seen_ms: new Date(5) },
        meta: { occurredAt: new PreciseTimestamp(-1n, 999_999_999), aggregateId: String(row.id) },
      }),
    });
    const built = [false, true].map((generalPayloads) => {
      const runtime = new TransformRuntime({ transforms: [def], eventProtos: [stripImports(PROTO)], generalPayloads });
      const [event] = runtime.transformRow(def, { id: 1 }, { table: 't', file: 'f', block: 0, row: 0 }, ['id']);
      return { event, decoded: readEnvelope(runtime.root.lookupType(ENVELOPE_TYPE).decodeDelimited(event.framed)) };
    });
    expect(Buffer.from(built[0].event.framed).equals(Buffer.from(built[1].event.framed))).toBe(true);
    expect([built[0].event.seconds, built[0].event.nanos, built[0].decoded.occurredAt]).toEqual([-1, 999_999_999, '1969-12-31T23:59:59.999999999Z']);
    expect(payloadEncoder(new TransformRuntime({ transforms: [def], eventProtos: [stripImports(PROTO)] }).root.lookupType('precise.VisitSeen'))).toBeDefined();
  });
});
