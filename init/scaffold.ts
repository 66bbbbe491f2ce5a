// `ferry init`: writes a migration project that installs ferry as a dev dependency and imports only
// its public entry points. Never overwrites a file; a package.json already there (as after
// `npm install -D ferry`) keeps what it has and gains the scripts and dependencies it lacks.
import { existsSync } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { eventSchema } from '../dumps/index.ts';
import { generateTableSchema, headerColumns, type SourceColumn, type TableRef } from '../extract/row-schema.ts';
import { UserError } from '../lib/errors.ts';
import { ferryPackage } from '../lib/package-info.ts';
import { renderTypes } from '../transform/codegen.ts';
import { readCatalog, type CatalogTable } from './catalog.ts';
import * as T from './templates.ts';

export interface InitOptions {
  dir: string;
  /** A legacy database URL: row types and a transform skeleton per table from its catalog. */
  from?: string;
  /** With `from`: only these tables (schema.name). */
  tables?: string[];
  /** How the project's package.json asks for ferry; default: what the folder's package.json has, else ^<version>. */
  ferrySpec?: string;
  log?: (line: string) => void;
}

export interface InitResult {
  dir: string;
  written: string[];
  kept: string[];
  tables: string[];
  skippedTables: Array<{ table: string; reason: string }>;
}

/** The example's legacy table, typed as extract would type it from SQL Server's catalog. */
const EXAMPLE_COLUMNS: SourceColumn[] = [
  { name: 'Id', sqlType: 'int', nullable: false, ordinal: 1, kind: 'int32' },
  { name: 'Nickname', sqlType: 'nvarchar(50)', nullable: false, ordinal: 2, kind: 'string' },
  { name: 'Email', sqlType: 'nvarchar(200)', nullable: true, ordinal: 3, kind: 'string' },
  { name: 'RegisteredAt', sqlType: 'datetime2(7)', nullable: false, ordinal: 4, kind: 'timestamp_local' },
];

export async function initProject(options: InitOptions): Promise<InitResult> {
  const dir = path.resolve(options.dir);
  const log = options.log ?? (() => undefined);
  if (existsSync(dir) && !(await isFolder(dir))) throw new UserError(`${options.dir} exists and is not a folder: pick another path for the project`);
  const existingConfig = path.join(dir, 'ferry.config.ts');
  if (existsSync(existingConfig)) throw new UserError(`${path.relative(process.cwd(), existingConfig) || 'ferry.config.ts'} already exists: ferry init starts new projects only (nothing was written)`);

  const catalog = options.from ? await readCatalog(options.from, options.tables ?? [], log) : undefined;
  const tables = catalog?.tables ?? [{ table: { schema: 'dbo', name: 'Members' }, columns: EXAMPLE_COLUMNS, key: ['Id'] }];

  const names: T.ProjectNames = { name: packageName(dir), ferrySpec: options.ferrySpec ?? (await ferrySpecOf(dir)) };
  const files = new Map<string, string>([
    ['.gitignore', T.GITIGNORE],
    ['tsconfig.json', T.TSCONFIG],
    ['README.md', T.readme(names)],
    ['events/members.proto', T.MEMBERS_PROTO],
    ['modules/members/schema.sql', T.MEMBERS_SQL],
    ['modules/members/module.ts', T.MEMBERS_MODULE],
  ]);
  if (catalog) {
    const transforms = tables.map((t) => ({ table: qualified(t.table), file: `transforms/${T.aggregateName(qualified(t.table))}.ts` }));
    for (const [i, t] of tables.entries()) files.set(transforms[i].file, T.tableTransform(transforms[i].table, t.columns, t.key));
    files.set('ferry.config.ts', T.catalogConfig(transforms));
    files.set('test/transforms.test.ts', T.catalogTest(transforms.map((t) => t.table)));
  } else {
    files.set('ferry.config.ts', T.CONFIG);
    files.set('transforms/members.ts', T.MEMBERS_TRANSFORM);
    files.set('test/members.test.ts', T.MEMBERS_TEST);
  }
  files.set('generated/ferry-types.ts', rowAndEventTypes(dir, tables, catalog ? options.from! : undefined));

  const written: string[] = [];
  const kept: string[] = [];
  for (const [relative, text] of files) {
    const file = path.join(dir, relative);
    if (existsSync(file)) {
      kept.push(relative);
      continue;
    }
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, text, { flag: 'wx' });
    written.push(relative);
  }
  written.push(await writePackageJson(dir, names));
  return { dir, written, kept, tables: tables.map((t) => qualified(t.table)), skippedTables: catalog?.skipped ?? [] };
}

/** generated/ferry-types.ts as `ferry transform codegen` writes it once the tables are dumped. */
function rowAndEventTypes(dir: string, tables: CatalogTable[], from: string | undefined): string {
  const origin = { source: from?.startsWith('postgres') ? 'postgres' : 'mssql', server: 'catalog', database: 'legacy' };
  const forTypes = tables.map((t) => {
    const schema = generateTableSchema(t.table, t.columns, origin);
    return {
      name: qualified(t.table),
      file: `${qualified(t.table)}.pb.gz`,
      type: schema.root.lookupType(schema.recordType),
      header: { columns: headerColumns(schema).map((c) => ({ name: c.name, sqlType: c.sqlType, nullable: c.nullable, field: c.field })), primaryKey: t.key },
    };
  });
  const protoFile = path.join(dir, 'events', 'members.proto');
  const { root } = eventSchema([T.MEMBERS_PROTO.replace(/^import .*$/m, '')]);
  return renderTypes({ tables: forTypes, root, fromDir: path.join(dir, 'generated'), sources: { inDir: from ? 'the legacy catalog (ferry init --from)' : 'dumps/tables', protoFiles: [protoFile] } }).text;
}

async function writePackageJson(dir: string, names: T.ProjectNames): Promise<string> {
  const file = path.join(dir, 'package.json');
  const fresh = JSON.parse(T.packageJson(names)) as Record<string, Record<string, string> | string | boolean>;
  if (!existsSync(file)) {
    await writeFile(file, JSON.stringify(fresh, null, 2) + '\n', { flag: 'wx' });
    return 'package.json';
  }
  let current: Record<string, unknown>;
  try {
    current = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  } catch {
    throw new UserError(`${file} is not valid JSON: fix it, or run ferry init in an empty folder`);
  }
  // Only what is missing: the project's own choices (a script, a version) stay, but for npm init's
  // placeholders ("type": "commonjs", a test script that fails).
  const merged: Record<string, unknown> = { ...current, type: 'module' };
  const scripts = { ...((current.scripts as Record<string, string>) ?? {}) };
  if (/no test specified/.test(scripts.test ?? '')) delete scripts.test;
  merged.scripts = { ...(fresh.scripts as Record<string, string>), ...scripts };
  merged.devDependencies = { ...(fresh.devDependencies as Record<string, string>), ...((current.devDependencies as Record<string, string>) ?? {}) };
  const dependencies = current.dependencies as Record<string, string> | undefined;
  if (dependencies?.ferry) delete (merged.devDependencies as Record<string, string>).ferry;
  await writeFile(file, JSON.stringify(merged, null, 2) + '\n');
  return 'package.json (merged)';
}

/** What the folder's package.json already asks ferry as (after `npm install -D <tarball|git|path>`), else ^version. */
async function ferrySpecOf(dir: string): Promise<string> {
  try {
    const pkg = JSON.parse(await readFile(path.join(dir, 'package.json'), 'utf8')) as { devDependencies?: Record<string, string>; dependencies?: Record<string, string> };
    const spec = pkg.devDependencies?.ferry ?? pkg.dependencies?.ferry;
    if (spec) return spec;
  } catch {
    // No package.json yet.
  }
  return `^${ferryPackage().version}`;
}

function packageName(dir: string): string {
  return path.basename(dir).toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[._-]+/, '') || 'migration';
}

function qualified(table: TableRef): string {
  return `${table.schema}.${table.name}`;
}

async function isFolder(p: string): Promise<boolean> {
  return (await stat(p)).isDirectory();
}
