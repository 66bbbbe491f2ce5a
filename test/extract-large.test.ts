// A 1,000,000-row table, extracted in parts: count, sums and a digest of every value computed by
// PostgreSQL equal the same figures computed from the dumps (lean: no per-row assertions).
import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DumpReader } from '../dumps/index.ts';
import { createLegacyDb, type LegacyDb } from './extract-helpers.ts';
import { runFerry, tempDir } from './helpers.ts';

const ROWS = 1_000_000;
let db: LegacyDb;

beforeAll(async () => {
  db = await createLegacyDb('ferry_large');
  await db.query(`
    CREATE TABLE events (id integer PRIMARY KEY, amount numeric(12,2), label text, created timestamp(6));
    INSERT INTO events SELECT g, CASE WHEN g % 10 = 0 THEN NULL ELSE (g::bigint * 7919 % 10000000) / 100.0 END, 'label ' || (g % 1000),
      timestamp '2001-01-01' + g * interval '1 second 1 microsecond' FROM generate_series(1, ${ROWS}) g;
    ANALYZE events;
  `);
});

afterAll(async () => {
  await db?.drop();
});

describe('ferry extract of a 1,000,000-row table', () => {
  it('dumps every row: count, sums and digests equal those computed in SQL', async () => {
    const out = await tempDir('ferry-extract-large-');
    const r = await runFerry(['extract', '--from', db.readerUrl, '--tables', 'events', '--parts', '2', '--concurrency', '2', '--out', out, '--schemas-out', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).tables[0].rows).toBe(ROWS);

    const [sql] = await db.query<{ n: string; ids: string; cents: string; nulls: string; labels: string; micros: string }>(`
      SELECT count(*) AS n, sum(id)::text AS ids, sum(amount * 100)::bigint::text AS cents, count(*) FILTER (WHERE amount IS NULL) AS nulls,
        md5(string_agg(label, '|' ORDER BY id)) AS labels,
        sum((extract(epoch FROM created) * 1000000)::bigint)::text AS micros
      FROM events`);

    let n = 0;
    let ids = 0n;
    let cents = 0n;
    let nulls = 0;
    let micros = 0n;
    const labels = createHash('md5');
    let lastId = 0;
    const files = (await readdir(out)).filter((f) => f.endsWith('.pb.gz')).sort();
    expect(files).toEqual(['public.events.part-0001.pb.gz', 'public.events.part-0002.pb.gz']);
    for (const f of files) {
      const reader = await DumpReader.open(path.join(out, f));
      for await (const m of reader.records()) {
        const row = m as unknown as { id: number; amount?: string; label: string; created: { seconds: { toString(): string }; nanos: number } };
        if (row.id <= lastId) throw new Error(`rows out of key order at id ${row.id}`);
        lastId = row.id;
        ids += BigInt(row.id);
        if (Object.prototype.hasOwnProperty.call(row, 'amount')) {
          const [whole, frac = ''] = row.amount!.split('.');
          cents += BigInt(whole) * 100n + BigInt((frac + '00').slice(0, 2)) * (whole.startsWith('-') ? -1n : 1n);
        } else {
          nulls++;
        }
        labels.update(n === 0 ? row.label : `|${row.label}`);
        micros += BigInt(row.created.seconds.toString()) * 1_000_000n + BigInt(row.created.nanos / 1000);
        n++;
      }
      await reader.close();
    }
    expect({ n: String(n), ids: String(ids), cents: String(cents), nulls: String(nulls), labels: labels.digest('hex'), micros: String(micros) }).toEqual(sql);
  });
});
