// ferry as a team uses it: `npm pack` of this repository, installed into a new folder outside it,
// `ferry init`, the new project's own tests and type-check, then extract → transform → seed modules
// of the new project against the local PostgreSQL, checked row by row in the module database.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, tempDir } from './helpers.ts';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command with only the environment a user's shell would have (not vitest's). */
function run(command: string, args: string[], cwd: string, env: Record<string, string> = {}, timeoutMs = 300_000): Promise<Run> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => /^(PATH|HOME|USER|LANG|TMPDIR|npm_config_cache)$/.test(k))) as Record<string, string>;
  return new Promise((resolve) => {
    execFile(command, args, { cwd, env: { ...base, CI: '1', ...env }, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

function expectOk(r: Run, what: string): void {
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}):\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
}

const NPM_QUIET = ['--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'];
const pgUrl = process.env.FERRY_PG_URL!;
const { version } = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };

describe('the npm package in a project of its own', () => {
  let work: string;
  let tarball: string;
  let project: string;
  const legacyDb = `pkg_legacy_${process.pid}`;
  const serverUrl = (db: string) => { const u = new URL(pgUrl); u.pathname = `/${db}`; return u.toString(); };

  beforeAll(async () => {
    work = await tempDir('ferry-package-');
    const packed = await run('npm', ['pack', '--json', '--pack-destination', work, '--loglevel=error'], ROOT);
    expectOk(packed, 'npm pack');
    const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as Array<{ filename: string; files: Array<{ path: string }>; size: number }>;
    tarball = path.join(work, info.filename);
    shipped = info.files.map((f) => f.path);
    project = path.join(work, 'my-migration');
    await run('mkdir', ['-p', project], work);
    expectOk(await run('npm', ['init', '-y'], project), 'npm init');
    expectOk(await run('npm', ['install', '-D', tarball, ...NPM_QUIET], project), 'npm install of the tarball');
  }, 600_000);

  let shipped: string[] = [];

  afterAll(async () => {
    const admin = new pg.Client({ connectionString: pgUrl });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${legacyDb}`);
    await admin.end();
  });

  it('ships what runs: compiled code and declarations, not tests, benches or example data', () => {
    expect(shipped).toContain('dist/api/index.js');
    expect(shipped).toContain('dist/api/index.d.ts');
    expect(shipped).toContain('dist/api/testing.d.ts');
    expect(shipped).toContain('dist/schemas/ferry/dump.proto');
    expect(shipped).toContain('bin/ferry.js');
    expect(shipped.filter((f) => /^(test|bench|examples|scripts)\/|\.test\.|^[a-z]+\/[^/]+\.ts$/.test(f))).toEqual([]);
  });

  it('runs as npx ferry, with --version and --help', async () => {
    const v = await run('npx', ['ferry', '--version'], project);
    expectOk(v, 'ferry --version');
    expect(v.stdout.trim()).toBe(version);
    const help = await run('npx', ['ferry', 'init', '--help'], project);
    expectOk(help, 'ferry init --help');
    expect(help.stdout).toMatch(/Examples:\n {2}\$ /);
  });

  it('starts a project whose own tests and type-check pass right away', async () => {
    const init = await run('npx', ['ferry', 'init'], project);
    expectOk(init, 'ferry init');
    expect(init.stderr).toMatch(/wrote 11 file\(s\) into \./);
    const pkg = JSON.parse(await readFile(path.join(project, 'package.json'), 'utf8')) as { type: string; devDependencies: Record<string, string>; scripts: Record<string, string> };
    expect(pkg.type).toBe('module');
    expect(pkg.devDependencies.ferry).toBe(`file:${path.relative(project, tarball)}`);
    expect(pkg.scripts.test).toBe('vitest run');
    for (const file of ['ferry.config.ts', 'transforms/members.ts', 'modules/members/module.ts']) {
      const text = await readFile(path.join(project, file), 'utf8');
      expect(text).toMatch(/from 'ferry'/);
      expect(text).not.toMatch(/from '\.\.?\/.*(lib|seed|transform)\//);
    }
    expectOk(await run('npm', ['install', ...NPM_QUIET], project), 'npm install in the new project');
    const tests = await run('npm', ['test'], project);
    expectOk(tests, 'the new project\'s npm test');
    expect(tests.stdout.replace(/\x1b\[[0-9;]*m/g, '')).toMatch(/Tests\s+2 passed/);
    // Its tsconfig checks ferry's declarations too (skipLibCheck: false).
    expectOk(await run('npx', ['tsc', '--noEmit'], project), 'tsc --noEmit in the new project');
  }, 600_000);

  it('extracts, transforms and seeds the new project from a legacy table into its module database', async () => {
    const admin = new pg.Client({ connectionString: pgUrl });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${legacyDb}`);
    await admin.query(`CREATE DATABASE ${legacyDb}`);
    await admin.end();
    const legacy = new pg.Client({ connectionString: serverUrl(legacyDb) });
    await legacy.connect();
    await legacy.query(`CREATE SCHEMA dbo;
      CREATE TABLE dbo."Members" ("Id" int PRIMARY KEY, "Nickname" varchar(50) NOT NULL, "Email" varchar(200), "RegisteredAt" timestamp(6) NOT NULL);
      INSERT INTO dbo."Members" VALUES (1, ' Åsa ', 'ASA@Example.com', '2019-05-04 10:20:30.123'), (2, 'Bo', NULL, '2020-01-01 00:00:00'), (3, 'Çem', 'c@x.org', '2021-06-07 08:09:10')`);
    await legacy.end();

    const env = { FERRY_EXTRACT_FROM: serverUrl(legacyDb), FERRY_PG_URL: pgUrl };
    for (const step of ['extract', 'codegen', 'transform']) expectOk(await run('npm', ['run', step], project, env), `npm run ${step}`);
    expectOk(await run('npm', ['run', 'seed:modules', '--', '--reset'], project, env), 'npm run seed:modules');

    const members = new pg.Client({ connectionString: serverUrl('migration_members') });
    await members.connect();
    try {
      const { rows } = await members.query(`SELECT nickname, email, to_char(registered_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') AS at, member_id::text FROM members.member ORDER BY registered_at`);
      expect(rows.map((r) => [r.nickname, r.email, r.at])).toEqual([
        ['Åsa', 'asa@example.com', '2019-05-04 10:20:30.123'],
        ['Bo', null, '2020-01-01 00:00:00.000'],
        ['Çem', 'c@x.org', '2021-06-07 08:09:10.000'],
      ]);
      expect(new Set(rows.map((r) => r.member_id)).size).toBe(3);
    } finally {
      await members.end();
    }
    // Everything it wrote is in the project, nothing in the installed package.
    const inPackage = await run('find', ['node_modules/ferry', '-newer', 'package.json', '-type', 'f'], project);
    expect(inPackage.stdout.trim()).toBe('');
    for (const made of ['dumps/tables/extract-manifest.json', 'dumps/events', 'schemas/legacy', 'generated/ferry-types.ts']) {
      expectOk(await run('test', ['-e', made], project), `${made} in the project`);
    }
  }, 600_000);
});
