// `ferry init`: the project it writes, from the built-in example and from a legacy catalog.
import { readFile, readdir, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLegacyDb, type LegacyDb } from './extract-helpers.ts';
import { runFerry, tempDir } from './helpers.ts';

describe('ferry init', () => {
  let legacy: LegacyDb;
  beforeAll(async () => {
    legacy = await createLegacyDb('ferry_init');
    await legacy.query(`CREATE SCHEMA sales;
      CREATE TABLE sales."OrderLines" ("OrderId" bigint, "Line" int, "Sku" varchar(20) NOT NULL, "Price" numeric(12,2), "ShippedAt" timestamptz, PRIMARY KEY ("OrderId", "Line"));
      CREATE TABLE public.customers (id uuid PRIMARY KEY, name text NOT NULL, vip boolean, photo bytea);
      CREATE TABLE public.odd (id int PRIMARY KEY, spot point)`);
  });
  afterAll(async () => legacy?.drop());

  it('from a catalog: row types as extract types them, a transform skeleton per readable table, no rows read', async () => {
    const dir = path.join(await tempDir('ferry-init-'), 'migration');
    const r = await runFerry(['init', dir, '--from', legacy.readerUrl, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout) as { tables: string[]; skippedTables: Array<{ table: string; reason: string }>; written: string[] };
    expect(result.tables.sort()).toEqual(['public.customers', 'sales.OrderLines']);
    // A column type extract cannot carry is left out with extract's own words, and the password never shows.
    expect(result.skippedTables.map((s) => s.table)).toEqual(['public.odd']);
    expect(result.skippedTables[0].reason).toMatch(/spot/);
    expect(r.stderr + r.stdout).not.toContain(legacy.readerPassword);
    expect((await readdir(path.join(dir, 'transforms'))).sort()).toEqual(['customers.ts', 'order-lines.ts']);
    const types = await readFile(path.join(dir, 'generated', 'ferry-types.ts'), 'utf8');
    expect(types).toContain("import type { PreciseTimestamp, TransformContext, TransformDefinition } from 'ferry';");
    expect(types).toMatch(/export interface SalesOrderLinesRow \{[^}]*OrderId: bigint;[^}]*Line: number;[^}]*Sku: string;[^}]*Price: string \| null;[^}]*ShippedAt: Date \| null;/s);
    expect(types).toMatch(/export interface PublicCustomersRow \{[^}]*id: string;[^}]*name: string;[^}]*vip: boolean \| null;[^}]*photo: Uint8Array \| null;/s);
    const skeleton = await readFile(path.join(dir, 'transforms', 'order-lines.ts'), 'utf8');
    expect(skeleton).toContain("defineTransform<Transform<\"sales.OrderLines\">>({");
    expect(skeleton).toContain('//   OrderId: bigint (key)');
    const config = await readFile(path.join(dir, 'ferry.config.ts'), 'utf8');
    expect(config).toMatch(/transforms: \[t0, t1\]/);
    const test = await readFile(path.join(dir, 'test', 'transforms.test.ts'), 'utf8');
    expect(test).toContain('"sales.OrderLines"');
  });

  it('keeps what is there: an existing config is refused, other files are kept, package.json is merged', async () => {
    const dir = await tempDir('ferry-init-');
    await writeFile(path.join(dir, 'package.json'), JSON.stringify({ name: 'mine', type: 'commonjs', scripts: { test: 'echo "Error: no test specified" && exit 1', lint: 'eslint .' }, devDependencies: { ferry: 'file:../ferry.tgz' } }));
    await mkdir(path.join(dir, 'transforms'));
    await writeFile(path.join(dir, 'transforms', 'members.ts'), '// mine\n');
    const r = await runFerry(['init', dir]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/kept what was there: transforms\/members\.ts/);
    expect(await readFile(path.join(dir, 'transforms', 'members.ts'), 'utf8')).toBe('// mine\n');
    const pkg = JSON.parse(await readFile(path.join(dir, 'package.json'), 'utf8'));
    expect(pkg).toMatchObject({ name: 'mine', type: 'module', scripts: { test: 'vitest run', lint: 'eslint .', transform: expect.stringContaining('ferry transform') }, devDependencies: { ferry: 'file:../ferry.tgz', vitest: expect.any(String) } });
    const again = await runFerry(['init', dir]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^ferry: .*ferry\.config\.ts already exists: ferry init starts new projects only \(nothing was written\)\n$/);
  });
});
