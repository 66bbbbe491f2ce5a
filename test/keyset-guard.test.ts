// The engine's keyset guard: every chunk read with `WHERE key > last` must start strictly after
// the previous chunk's last key, in the source's own order. A source whose key text is lossy (a
// rounded money or float) would otherwise duplicate rows or, with small chunks, read the same rows
// forever. First with a Source in memory (no server), then with the real PostgreSQL source whose
// key text is made lossy, compared by the server. Also: a table's progress starts with its first
// part, not with the run.
import { access, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXTRACT_DEFAULTS, runExtract, type ExtractOptions, type ExtractReporter } from '../extract/engine.ts';
import { PostgresSource } from '../extract/postgres-source.ts';
import { fieldNames, type SourceColumn, type TableRef } from '../extract/row-schema.ts';
import { ExtractError, type ChunkRequest, type KeyTuple, type RowBatch, type Source, type SourceOptions, type TableInfo } from '../extract/source.ts';
import { createLegacyDb, readPlain, type LegacyDb } from './extract-helpers.ts';
import { tempDir } from './helpers.ts';

interface Table {
  ids: number[];
  /** The key's text as the source hands it over (lossy when it drops digits). */
  render: (id: number) => string;
  /** Wait this long in every chunk (a slow table). */
  delayMs?: number;
}

const COLUMNS: SourceColumn[] = [
  { name: 'id', sqlType: 'numeric(8,2)', nullable: false, ordinal: 1, kind: 'decimal' },
  { name: 'label', sqlType: 'text', nullable: true, ordinal: 2, kind: 'string' },
];

/** A Source over arrays: keyset chunks by numeric value, keys handed over through `render`. */
class ArraySource implements Source {
  readonly origin = { source: 'postgres' as const, server: 'memory', database: 'fake' };
  chunksRead = 0;
  constructor(private readonly tables: Record<string, Table>) {}
  async connect(): Promise<void> {}
  async listTables(): Promise<TableRef[]> {
    return Object.keys(this.tables).map((name) => ({ schema: 's', name }));
  }
  async findTable(_schema: string | undefined, name: string): Promise<TableRef | undefined> {
    return this.tables[name] ? { schema: 's', name } : undefined;
  }
  async introspect(table: TableRef): Promise<TableInfo> {
    return { table, columns: COLUMNS, key: ['id'], keySource: 'primary key', estimatedRows: this.tables[table.name].ids.length };
  }
  async splitPoints(): Promise<KeyTuple[]> {
    return [];
  }
  async *readChunk(request: ChunkRequest): AsyncGenerator<RowBatch> {
    const t = this.tables[request.info.table.name];
    this.chunksRead++;
    if (this.chunksRead > 1000) throw new Error('read 1000 chunks: the run is looping');
    if (t.delayMs) await new Promise((r) => setTimeout(r, t.delayMs));
    const after = request.after ? Number(request.after[0]) : -Infinity;
    const rows = t.ids.filter((id) => id > after).sort((a, b) => a - b).slice(0, request.limit ?? Infinity);
    if (rows.length === 0) return;
    const [idField, labelField] = fieldNames(COLUMNS);
    yield {
      records: rows.map((id) => ({ [idField]: id.toFixed(2), [labelField]: `row ${id}` })),
      bytes: rows.length * 10,
      firstKey: [t.render(rows[0])],
      lastKey: [t.render(rows[rows.length - 1])],
    };
  }
  async keyAfter(_info: TableInfo, prev: KeyTuple, next: KeyTuple): Promise<boolean> {
    return Number(next[0]) > Number(prev[0]);
  }
  async nullKeyColumns(): Promise<string[]> {
    return [];
  }
  async duplicateKey(): Promise<undefined> {
    return undefined;
  }
  describeQuery(): string {
    return 'SELECT id, label FROM s.t WHERE id > $1 ORDER BY id LIMIT n';
  }
  isTransient(): boolean {
    return false;
  }
  async close(): Promise<void> {}
}

async function options(source: Source, extra: Partial<ExtractOptions> = {}): Promise<ExtractOptions> {
  const out = await tempDir('ferry-keyset-');
  return {
    ...EXTRACT_DEFAULTS, from: 'postgres://memory/fake', out, schemasOut: out, tables: [], exclude: [], excludeColumns: [], casts: [], keys: [],
    noKey: false, resume: false, retries: 0, createSource: () => source, ...extra,
  };
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(() => true, () => false);
}

const range = (n: number, f: (i: number) => number) => Array.from({ length: n }, (_, i) => f(i));

describe('keyset guard (a source in memory)', () => {
  it('reads every row once when the key text is exact', async () => {
    const source = new ArraySource({ t: { ids: range(10, (i) => 1 + i * 0.25), render: (id) => id.toFixed(2) } });
    const opts = await options(source, { chunkRows: 3 });
    const result = await runExtract(opts);
    expect(result.totals.rows).toBe(10);
    const rows = await readPlain(path.join(opts.out, 's.t.pb.gz'));
    expect(rows.map((r) => r.id)).toEqual(range(10, (i) => 1 + i * 0.25).map((id) => id.toFixed(2)));
  });

  it('stops instead of reading the same rows forever when the key text rounds every chunk back', async () => {
    // Keys 0.25 … 0.75 all render as "0": `WHERE id > 0` reads the same three rows every time.
    const source = new ArraySource({ t: { ids: [0.25, 0.5, 0.75, 1.25, 1.5], render: (id) => String(Math.floor(id)) } });
    const opts = await options(source, { chunkRows: 3 });
    const err = await runExtract(opts).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(ExtractError);
    expect((err as Error).message).toBe(
      "s.t: keyset paging went backwards: the chunk after key (id) = (0) starts at (0), which is not after it, so the key's text does not carry its exact value " +
        "and rows would be read twice; stopped before writing that chunk. Page by other columns with --key 's.t=<columns>' (integers, text, uuid and dates are exact), or --cast the key to an exact type",
    );
    expect((err as ExtractError).context).toMatchObject({ table: 's.t', part: 1 });
    // The first chunk and the one that went back: no loop.
    expect(source.chunksRead).toBe(2);
    expect(await exists(path.join(opts.out, 's.t.pb.gz'))).toBe(false);
    const manifest = JSON.parse(await readFile(path.join(opts.out, 'extract-manifest.json'), 'utf8'));
    expect(manifest.status).toBe('failed');
    expect(manifest.error).toContain('keyset paging went backwards');
    // The checkpoint is the last chunk that was written whole: three rows.
    expect(manifest.tables[0].parts[0].checkpoints.at(-1)).toMatchObject({ rows: 3, lastKey: ['0'] });
  });

  it('stops instead of writing a row twice when one boundary key rounds down', async () => {
    // 3.4 renders as "3": the second chunk starts again at 3.4, which the first already holds.
    const source = new ArraySource({ t: { ids: [1, 2, 3.4, 4, 5, 6], render: (id) => String(Math.floor(id)) } });
    const opts = await options(source, { chunkRows: 3 });
    await expect(runExtract(opts)).rejects.toThrow("s.t: keyset paging went backwards: the chunk after key (id) = (3) starts at (3), which is not after it");
    expect(await exists(path.join(opts.out, 's.t.pb.gz'))).toBe(false);
  });
});

describe('progress of a table queued behind others', () => {
  it('counts a queued table\'s progress from its own start, not the run\'s', async () => {
    const source = new ArraySource({
      a: { ids: range(6, (i) => i + 1), render: String, delayMs: 150 },
      b: { ids: range(6, (i) => i + 1), render: String },
    });
    const events: Array<[string, string, number]> = [];
    const reporter: ExtractReporter = {
      tableStarted: (table) => events.push(['started', table, performance.now()]),
      tableFinished: (s) => events.push(['finished', s.table, performance.now()]),
    };
    await runExtract(await options(source, { chunkRows: 2, concurrency: 1, reporter }));
    expect(events.map(([e, t]) => `${e} ${t}`)).toEqual(['started s.a', 'finished s.a', 'started s.b', 'finished s.b']);
    const at = (e: string, t: string) => events.find(([x, y]) => x === e && y === t)![2];
    // b waited for a's four slow chunks (600 ms) and was read in a moment once it started.
    expect(at('started', 's.b') - at('started', 's.a')).toBeGreaterThanOrEqual(550);
    expect(at('finished', 's.b') - at('started', 's.b')).toBeLessThan(300);
  });
});

describe('keyset guard (the PostgreSQL source, key text made lossy)', () => {
  let db: LegacyDb;
  beforeAll(async () => {
    db = await createLegacyDb('ferry_keyset');
    await db.query(`CREATE TABLE prices (amount numeric(8,2) PRIMARY KEY, label text NOT NULL);
      INSERT INTO prices SELECT g / 4.0, 'p' || g FROM generate_series(1, 40) g;
      CREATE TABLE names (name text COLLATE "C" PRIMARY KEY);
      CREATE TABLE names_icu (name text COLLATE "und-x-icu" PRIMARY KEY);`);
  });
  afterAll(async () => {
    await db?.drop();
  });

  /** The real source, with the key text it hands over cut to whole units (as a money key rendered without its decimals). */
  class LossyKeys implements Source {
    readonly inner: PostgresSource;
    readonly origin;
    constructor(options: SourceOptions) {
      this.inner = new PostgresSource(options);
      this.origin = this.inner.origin;
    }
    connect = () => this.inner.connect();
    listTables = () => this.inner.listTables();
    findTable = (s: string | undefined, n: string) => this.inner.findTable(s, n);
    introspect: Source['introspect'] = (t, c) => this.inner.introspect(t, c);
    splitPoints: Source['splitPoints'] = (i, p) => this.inner.splitPoints(i, p);
    nullKeyColumns: Source['nullKeyColumns'] = (t, c) => this.inner.nullKeyColumns(t, c);
    duplicateKey: Source['duplicateKey'] = (t, c) => this.inner.duplicateKey(t, c);
    describeQuery: Source['describeQuery'] = (r) => this.inner.describeQuery(r);
    keyAfter: Source['keyAfter'] = (i, a, b) => this.inner.keyAfter(i, a, b);
    isTransient = (e: unknown) => this.inner.isTransient(e);
    close = () => this.inner.close();
    async *readChunk(request: ChunkRequest): AsyncGenerator<RowBatch> {
      const cut = (k?: KeyTuple) => k?.map((v) => v.replace(/\.\d+$/, ''));
      for await (const b of this.inner.readChunk(request)) yield { ...b, firstKey: cut(b.firstKey), lastKey: cut(b.lastKey) };
    }
  }

  it('fails the run instead of writing rows twice, comparing keys on the server', async () => {
    const out = await tempDir('ferry-keyset-pg-');
    const run = runExtract({
      ...EXTRACT_DEFAULTS, from: db.url, out, schemasOut: out, tables: ['prices'], exclude: [], excludeColumns: [], casts: [], keys: [],
      noKey: false, resume: false, chunkRows: 7, retries: 0, createSource: (o) => new LossyKeys(o),
    });
    // 0.25 … 1.75: the first chunk ends at 1.75, handed over as "1"; `amount > 1` starts at 1.25.
    await expect(run).rejects.toThrow(
      "public.prices: keyset paging went backwards: the chunk after key (amount) = (1) starts at (1), which is not after it",
    );
    expect(await exists(path.join(out, 'public.prices.pb.gz'))).toBe(false);
  });

  it('the same table extracts whole with the source\'s own (exact) key text', async () => {
    const out = await tempDir('ferry-keyset-pg-');
    const result = await runExtract({
      ...EXTRACT_DEFAULTS, from: db.url, out, schemasOut: out, tables: ['prices'], exclude: [], excludeColumns: [], casts: [], keys: [],
      noKey: false, resume: false, chunkRows: 7, retries: 0,
    });
    expect(result.totals.rows).toBe(40);
    const rows = await readPlain(path.join(out, 'public.prices.pb.gz'));
    expect(new Set(rows.map((r) => r.amount)).size).toBe(40);
  });

  it('compares text keys in the key column\'s collation', async () => {
    const source = new PostgresSource({ url: db.url, connections: 1, sourceTimezone: 'UTC', statementTimeoutMs: 10_000, connectTimeoutMs: 10_000 });
    await source.connect();
    try {
      const opts = { exclude: new Set<string>(), casts: new Map<string, string>() };
      const c = await source.introspect({ schema: 'public', name: 'names' }, opts);
      const icu = await source.introspect({ schema: 'public', name: 'names_icu' }, opts);
      // "C" orders by bytes: 'B' (0x42) before 'a' (0x61); ICU's root collation puts 'a' before 'B'.
      expect(await source.keyAfter(c, ['a'], ['B'])).toBe(false);
      expect(await source.keyAfter(icu, ['a'], ['B'])).toBe(true);
      expect(await source.keyAfter(c, ['a'], ['a'])).toBe(false);
    } finally {
      await source.close();
    }
  });
});
