// `ferry init --from <url>`: the legacy database's catalog (tables, columns, keys; no rows), read
// through the same sources and type mapping as `ferry extract`.
import { createSource } from '../extract/engine.ts';
import type { SourceColumn, TableRef } from '../extract/row-schema.ts';
import { ExtractError } from '../extract/source.ts';
import { UserError } from '../lib/errors.ts';

export interface CatalogTable {
  table: TableRef;
  columns: SourceColumn[];
  key: string[];
}

export interface Catalog {
  tables: CatalogTable[];
  /** Tables extract could not read as they are (e.g. an unsupported column type), with its words. */
  skipped: Array<{ table: string; reason: string }>;
}

export async function readCatalog(url: string, only: string[], log: (line: string) => void): Promise<Catalog> {
  const source = createSource({ url, connections: 1, sourceTimezone: 'UTC', statementTimeoutMs: 60_000, connectTimeoutMs: 15_000 });
  try {
    await source.connect();
    let refs = await source.listTables();
    if (only.length) {
      const wanted = new Set(only);
      const missing = only.filter((name) => !refs.some((r) => `${r.schema}.${r.name}` === name));
      if (missing.length) throw new UserError(`--tables names ${missing.join(', ')}, not in the database (it has ${refs.length} table(s); names are schema.table)`);
      refs = refs.filter((r) => wanted.has(`${r.schema}.${r.name}`));
    }
    if (refs.length === 0) throw new UserError('the database has no tables to migrate: check the database name in the URL');
    const tables: CatalogTable[] = [];
    const skipped: Catalog['skipped'] = [];
    for (const table of refs) {
      try {
        const info = await source.introspect(table, { exclude: new Set(), casts: new Map() });
        tables.push({ table, columns: info.columns, key: info.key });
      } catch (err) {
        if (err instanceof ExtractError) {
          skipped.push({ table: `${table.schema}.${table.name}`, reason: (err as Error).message });
          log(`${table.schema}.${table.name}: left out: ${(err as Error).message}`);
        } else throw err;
      }
    }
    return { tables, skipped };
  } finally {
    await source.close();
  }
}
