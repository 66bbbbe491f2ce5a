// Edges of the command line (#14 item 8): each ends at once with one line that says what to do, and
// leaves nothing behind; a closed pipe ends a command quietly.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeSampleEventDump } from './fixtures/event-dumps.ts';
import { MEMBERS_TRANSFORM, writeLegacyDumps, writeProject } from './fixtures/transform-project.ts';
import { FERRY, runFerry, tempDir } from './helpers.ts';

const PG = () => process.env.FERRY_PG_URL!;
const AMQP = () => process.env.FERRY_AMQP_URL!;

let events: string;
let work: string;
let tables: string;
let config: string;

beforeAll(async () => {
  work = await tempDir('ferry-edges-');
  events = path.join(work, 'events');
  await mkdir(events);
  await writeSampleEventDump(path.join(events, 'events.pb.gz'), 20_000);
  tables = path.join(work, 'tables');
  await writeLegacyDumps(tables, { members: 100, favorites: 100 });
  config = await writeProject(path.join(work, 'project'));
});

/** One line on stderr, exit 1, within `seconds` (a loop or a long type-check would not be "at once"). */
function expectOneLine(run: { code: number; stderr: string }, pattern: RegExp): void {
  expect(run.code, run.stderr).toBe(1);
  expect(run.stderr.trim().split('\n'), run.stderr).toHaveLength(1);
  expect(run.stderr).toMatch(pattern);
}

describe('a closed stdout', () => {
  it('ferry dump cat FILE | head: exit 0, no EPIPE stack', async () => {
    const child = spawn(process.execPath, [FERRY, 'dump', 'cat', path.join(events, 'events.pb.gz')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    // Like head: read the first lines, then close the pipe while the command still writes.
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    child.stdout.destroy();
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });
});

describe('--out that cannot be made', () => {
  it('extract --out /proc/x fails at once (it looped on mkdir forever)', async () => {
    const run = await runFerry(['extract', '--from', PG(), '--out', '/proc/x/dumps'], { timeoutMs: 30_000 });
    expectOneLine(run, /^ferry: --out \/proc\/x\/dumps: cannot create \/proc\/x \(this file system does not take new folders\): choose another folder\n$/);
  });

  it('transform --out /proc/x and --tmp-dir /proc/y fail at once', async () => {
    const out = await runFerry(['transform', '--in', tables, '--out', '/proc/x', '--config', config, '--no-typecheck'], { timeoutMs: 30_000 });
    expectOneLine(out, /^ferry: --out \/proc\/x: cannot create \/proc\/x \(this file system does not take new folders\): choose another folder\n$/);
    const tmp = await runFerry(['transform', '--in', tables, '--out', path.join(work, 't-tmp'), '--order', 'occurred_at', '--tmp-dir', '/proc/y', '--config', config, '--no-typecheck'], { timeoutMs: 30_000 });
    expectOneLine(tmp, /^ferry: --tmp-dir \/proc\/y: cannot create \/proc\/y \(this file system does not take new folders\): choose another folder\n$/);
    expect(existsSync(path.join(work, 't-tmp'))).toBe(false);
  });

  it('EPERM, a file in the way, a folder where a file goes: one line with the path and what to do', async () => {
    const file = path.join(work, 'a-file');
    await writeFile(file, 'x');
    expectOneLine(await runFerry(['extract', '--from', PG(), '--out', '/sys/ferry-x']), /^ferry: --out \/sys\/ferry-x: cannot create \/sys\/ferry-x \(permission denied\): choose another folder\n$/);
    expectOneLine(await runFerry(['extract', '--from', PG(), '--out', path.join(file, 'sub')]), new RegExp(`^ferry: --out ${file}/sub: ${file} is a file, not a folder: choose another folder\\n$`));
    expectOneLine(await runFerry(['dump', 'inspect', work]), new RegExp(`^ferry: ${work}: is a folder, not a dump file: pass a \\.pb\\.gz file`));
    expectOneLine(await runFerry(['dump', 'inspect', path.join(events, 'events.pb.gz'), '--descriptor-set-out', work]), new RegExp(`^ferry: --descriptor-set-out ${work}: cannot write it \\(it is a folder, not a file\\): pass a file path\\n$`));
    expectOneLine(await runFerry(['seed', 'rabbitmq', '--in', events, '--url', AMQP(), '--checkpoint', work, '--quiet']), new RegExp(`^ferry: cannot read checkpoint ${work} \\(it is a folder, not a file\\): pass --checkpoint FILE`));
  });
});

describe('a command that fails at once leaves no --out behind', () => {
  it('extract: refused connection, unknown table', async () => {
    const closed = new URL(PG());
    closed.port = '1';
    const a = path.join(work, 'x1', 'dumps');
    expectOneLine(await runFerry(['extract', '--from', closed.href, '--out', a, '--schemas-out', path.join(work, 'x1', 'schemas')]), /^ferry: cannot connect to PostgreSQL at 127\.0\.0\.1:1\//);
    expect(existsSync(path.join(work, 'x1'))).toBe(false);
    const b = path.join(work, 'x2');
    expectOneLine(await runFerry(['extract', '--from', PG(), '--tables', 'no_such_table', '--out', b, '--schemas-out', path.join(work, 'x2-schemas')]), /^ferry: table no_such_table does not exist/);
    expect(existsSync(b)).toBe(false);
    expect(existsSync(path.join(work, 'x2-schemas'))).toBe(false);
  });

  it('transform: a transform that throws on the first row', async () => {
    const project = path.join(work, 'throws');
    const cfg = await writeProject(project, { members: MEMBERS_TRANSFORM.replace('run(row, ctx) {', "run(row, ctx) {\n    if (row.Id > 0) throw new Error('boom');") });
    const out = path.join(work, 'x3', 'events');
    const run = await runFerry(['transform', '--in', tables, '--out', out, '--config', cfg, '--no-typecheck', '--workers', '0']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/boom/);
    expect(existsSync(path.join(work, 'x3'))).toBe(false);
  });

  it('an existing --out stays', async () => {
    const out = path.join(work, 'x4');
    await mkdir(out);
    const closed = new URL(PG());
    closed.port = '1';
    expect((await runFerry(['extract', '--from', closed.href, '--out', out])).code).toBe(1);
    expect(existsSync(out)).toBe(true);
  });
});

describe('the config file', () => {
  it('missing: "config file … not found" at once, not TS6053 after type-checking', async () => {
    const run = await runFerry(['transform', '--in', tables, '--out', path.join(work, 'x5'), '--config', path.join(work, 'nope.config.ts')]);
    expectOneLine(run, new RegExp(`^ferry: config file ${work}/nope\\.config\\.ts not found: pass --config PATH`));
    expect(run.stderr).not.toMatch(/TS6053/);
    expect(existsSync(path.join(work, 'x5'))).toBe(false);
  });

  it('a syntax error is reported as one, with file:line:col, even with type-checking on', async () => {
    const project = path.join(work, 'syntax');
    const cfg = await writeProject(project);
    const { readFile } = await import('node:fs/promises');
    await writeFile(cfg, (await readFile(cfg, 'utf8')).replace('transforms: [members, favorites],', 'transforms: [members, favorites,,'));
    const run = await runFerry(['transform', '--in', tables, '--out', path.join(work, 'x6'), '--config', cfg], { cwd: project });
    expectOneLine(run, /^ferry: config file .*ferry\.config\.ts does not load: syntax error at ferry\.config\.ts:8:1: Unexpected "}"\n$/);
  });
});

describe('URL schemes each command takes', () => {
  it('seed modules refuses mysql://, seed rabbitmq http://, extract amqp://, before reading anything else', async () => {
    expectOneLine(
      await runFerry(['seed', 'modules', '--in', events, '--url', 'mysql://root:hunter22@db/app', '--config', 'no-such.config.ts']),
      /^ferry: --url mysql:\/\/root:\*\*\*@db\/app: "mysql:\/\/" is not a PostgreSQL server: use postgres:\/\/ or postgresql:\/\/\n$/,
    );
    expectOneLine(
      await runFerry(['seed', 'rabbitmq', '--in', path.join(work, 'no-such-dir'), '--url', 'http://guest:hunter22@broker:15672']),
      /^ferry: --url http:\/\/guest:\*\*\*@broker:15672: "http:\/\/" is not a RabbitMQ broker: use amqp:\/\/ or amqps:\/\/\n$/,
    );
    expectOneLine(
      await runFerry(['extract', '--from', 'amqp://guest:hunter22@broker', '--out', path.join(work, 'x7')]),
      /^ferry: --from amqp:\/\/guest:\*\*\*@broker: "amqp:\/\/" is not a PostgreSQL or SQL Server database: use postgres:\/\/ or postgresql:\/\/ or mssql:\/\/ or sqlserver:\/\/\n$/,
    );
    expect(existsSync(path.join(work, 'x7'))).toBe(false);
  });
});
