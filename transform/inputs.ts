// The run's inputs: the config's transforms and event schemas, the table dumps, and the checks
// that fail fast (one clear line, before any work) when they do not fit together.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { DumpReader, listDumps, type DumpHeader } from '../dumps/index.ts';
import { loadConfig, type LoadedConfig } from '../lib/config.ts';
import { UserError } from '../lib/errors.ts';
import type { TransformDefinition } from '../api/transform.ts';
import { fsReason } from '../lib/output-dir.ts';
import { lookupColumns } from './lookup-columns.ts';
import { usedColumns } from './rows.ts';

export interface LoadedTransforms {
  loaded: LoadedConfig;
  transforms: TransformDefinition[];
  /** Event .proto sources (import lines dropped: all of them go into one root). */
  eventProtos: string[];
  eventSchemaFiles: string[];
}

/** Loads ferry.config.ts and checks the shape of its transforms. */
export async function loadTransforms(configFile: string): Promise<LoadedTransforms> {
  const loaded = await loadConfig(configFile);
  const { config } = loaded;
  const transforms = config.transforms ?? [];
  if (!Array.isArray(transforms) || transforms.length === 0) {
    throw new UserError(`${configFile} declares no transforms: add "transforms: [...]" to its defineConfig`);
  }
  const seen = new Set<string>();
  transforms.forEach((t, i) => {
    if (!t || typeof t !== 'object' || typeof t.table !== 'string' || typeof t.run !== 'function') {
      throw new UserError(`${configFile}: transforms[${i}] is not a transform: define it with defineTransform({ table, run(row, ctx) { ... } })`);
    }
    if (seen.has(t.table)) throw new UserError(`${configFile}: two transforms for ${t.table}: keep one per table`);
    seen.add(t.table);
  });
  const eventSchemaFiles = (config.eventSchemas ?? []).map((f) => path.resolve(loaded.dir, f));
  if (eventSchemaFiles.length === 0) throw new UserError(`${configFile} lists no eventSchemas: add the .proto files that declare your events`);
  const eventProtos = await Promise.all(
    eventSchemaFiles.map(async (f) => {
      try {
        return stripImports(await readFile(f, 'utf8'));
      } catch (err) {
        throw new UserError(`event schema ${path.relative(process.cwd(), f)} (from eventSchemas in ${configFile}) cannot be read (${fsReason(err)}): fix the path in eventSchemas`);
      }
    }),
  );
  return { loaded, transforms, eventProtos, eventSchemaFiles };
}

export function stripImports(proto: string): string {
  return proto.replace(/^\s*import\s+(?:public\s+|weak\s+)?"[^"]*"\s*;\s*$/gm, '');
}

export interface TableDumps {
  table: string;
  readers: DumpReader[];
  header: DumpHeader;
}

/** Opens every table dump in `dir` (and its subfolders when `recursive`), in sorted file order, and groups them by table. */
export async function openTableDumps(dir: string, recursive = false): Promise<Map<string, TableDumps>> {
  let files: string[];
  try {
    files = await listDumps(dir, { recursive });
  } catch (err) {
    throw new UserError(`--in ${dir} cannot be read (${fsReason(err)}): pass the folder of table dumps written by ferry extract`);
  }
  const tables = new Map<string, TableDumps>();
  try {
    for (const file of files) {
      const reader = await DumpReader.open(file);
      if (reader.header.kind !== 'TABLE') {
        await reader.close();
        continue;
      }
      const name = reader.header.name;
      const t = tables.get(name);
      if (!t) tables.set(name, { table: name, readers: [reader], header: reader.header });
      else {
        const a = t.header.columns.map((c) => `${c.name}:${c.field}`).join(',');
        const b = reader.header.columns.map((c) => `${c.name}:${c.field}`).join(',');
        t.readers.push(reader);
        if (a !== b) throw new UserError(`${file} and ${t.readers[0].file} both hold ${name} but with different columns: re-extract the table`);
      }
    }
  } catch (err) {
    await closeAll(tables);
    throw err;
  }
  return tables;
}

export async function closeAll(tables: Map<string, TableDumps>): Promise<void> {
  for (const t of tables.values()) for (const r of t.readers) await r.close().catch(() => undefined);
}

/**
 * Before any work: every transform has a dump, every column it uses exists there (a missing or
 * renamed column is named), and every reference table it looks up has a dump.
 */
export function checkTransforms(transforms: readonly TransformDefinition[], tables: Map<string, TableDumps>, inDir: string): void {
  const available = () => [...tables.keys()].sort().join(', ') || 'none';
  for (const t of transforms) {
    const dumps = tables.get(t.table);
    if (!dumps) throw new UserError(`transform for ${t.table} has no table dump in ${inDir} (tables there: ${available()}); extract it or remove the transform`);
    const fields = new Set(dumps.header.columns.map((c) => c.field));
    const columnNames = new Set(dumps.header.columns.map((c) => c.name));
    const used = t.columns ? [...t.columns] : usedColumns(t.run);
    const missing = used.filter((c) => !fields.has(c) && !columnNames.has(c));
    if (missing.length) {
      throw new UserError(
        `transform for ${t.table} uses column${missing.length > 1 ? 's' : ''} ${missing.join(', ')} that the dump ${path.basename(dumps.readers[0].file)} does not have ` +
          `(its columns: ${dumps.header.columns.map((c) => c.field).join(', ')}); the table changed since the transform was written: update the transform and re-run codegen`,
      );
    }
    if (dumps.header.primaryKey.length === 0) throw new UserError(`${t.table}: the dump has no primary key, which event ids need; extract it with a key`);
    for (const ref of t.lookups ?? []) {
      const r = tables.get(ref);
      if (!r) throw new UserError(`transform for ${t.table} looks up ${ref}, which has no table dump in ${inDir} (tables there: ${available()})`);
      if (r.header.primaryKey.length === 0) throw new UserError(`${ref} has no primary key to look rows up by`);
    }
  }
}

export function keyFieldsOf(header: DumpHeader): string[] {
  const byName = new Map(header.columns.map((c) => [c.name, c.field]));
  return header.primaryKey.map((k) => byName.get(k) ?? k);
}

/** A reference table, the dump files that hold it, and the columns to keep (see lookupColumns). */
export interface LookupSource {
  table: string;
  files: string[];
  /** Row fields kept in memory: undefined for whole rows, [] when the transforms only test that a row exists. */
  columns?: string[];
}

export function lookupSources(names: Iterable<string>, tables: Map<string, TableDumps>, transforms: readonly TransformDefinition[]): LookupSource[] {
  return [...names].map((table) => ({ table, files: tables.get(table)!.readers.map((r) => r.file), columns: lookupColumns(transforms, table) }));
}

export interface PlannedBlock {
  reader: DumpReader;
  /** Index of the file in the run's input list. */
  ordinal: number;
  block: number;
  records: number;
  limitRows?: number;
}

/** --sample N (rows per table) or P% (of each table's blocks); blocks evenly spread, always the same ones. */
export type Sample = { rows: number } | { percent: number };

export function parseSample(text: string): Sample {
  const pct = /^(\d+(?:\.\d+)?)%$/.exec(text);
  if (pct && Number(pct[1]) > 0 && Number(pct[1]) <= 100) return { percent: Number(pct[1]) };
  if (/^\d+$/.test(text) && Number(text) > 0) return { rows: Number(text) };
  throw new UserError(`--sample ${text}: give a row count (e.g. 10000) or a percentage (e.g. 1%)`);
}

/** The blocks of one table to read, in file and block order. */
export function planBlocks(readers: Array<{ reader: DumpReader; ordinal: number }>, sample?: Sample): PlannedBlock[] {
  const all: PlannedBlock[] = [];
  for (const { reader, ordinal } of readers) {
    reader.blocks.forEach((b, block) => all.push({ reader, ordinal, block, records: b.records }));
  }
  if (!sample || all.length === 0) return all;
  const total = all.reduce((s, b) => s + b.records, 0);
  if ('percent' in sample) {
    const k = Math.max(1, Math.ceil((all.length * sample.percent) / 100));
    return pickEvenly(all, k);
  }
  if (sample.rows >= total) return all;
  const perBlock = total / all.length;
  const picked = pickEvenly(all, Math.min(all.length, Math.max(1, Math.ceil(sample.rows / perBlock))));
  // Take whole blocks until the sample is reached; the last one is cut.
  const out: PlannedBlock[] = [];
  let rows = 0;
  for (const b of picked) {
    if (rows >= sample.rows) break;
    const take = Math.min(b.records, sample.rows - rows);
    out.push(take < b.records ? { ...b, limitRows: take } : b);
    rows += take;
  }
  return out;
}

function pickEvenly<T>(items: T[], k: number): T[] {
  if (k >= items.length) return items;
  const out: T[] = [];
  for (let i = 0; i < k; i++) out.push(items[Math.floor((i * items.length) / k)]);
  return out;
}
