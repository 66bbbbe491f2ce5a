// No password is ever printed or written, however the connection URL is mangled (#14 item 6).
// Randomized: a seeded generator makes hundreds of URLs with passwords of every special character,
// typos and missing parts. All of them go through the URL checking and masking the CLI uses, in this
// process; a few dozen of them go through the real commands (extract --from, FERRY_EXTRACT_FROM,
// seed modules --url, seed rabbitmq --url) against the real servers, and neither stdout, stderr nor
// any file the commands wrote (dumps, manifests, schemas, checkpoints, --report HTML) holds the password. FERRY_TEST_SEED=N replays a run.
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AMQP_URL, checkConnectionUrl, POSTGRES_URL, SOURCE_URL, type UrlKind } from '../lib/connection-url.ts';
import { forgetSecrets, maskConnectionString, redact, rememberProcessSecrets, rememberSecretsIn } from '../lib/redact.ts';
import { writeSampleEventDump } from './fixtures/event-dumps.ts';
import { writeModulesConfig } from './fixtures/modules-feed.ts';
import { runFerry, tempDir } from './helpers.ts';
import { Rng } from '../demo/legacy/random.ts';

const SEED = Number(process.env.FERRY_TEST_SEED ?? 20261203);

/** Seeded randomness (the demo's generator's PRNG), so a run can be repeated. */
function prng(seed: number): () => number {
  const rng = new Rng(`redact-${seed}`);
  return () => rng.next();
}

const SPECIAL = ` !"#$%&'()*+,-./:;<=>?@[\\]^_\`{|}~`;
const PLAIN = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const UNICODE = ['é', 'ß', '密', 'ø'];

interface Case {
  url: string;
  password: string;
  mutation: string;
  /** What the check must say (undefined: the URL is right and must parse to this password). */
  expect?: RegExp;
}

/** A password of 8–16 characters holding at least two special ones (every special character appears over the run). */
function password(rand: () => number, special: string): string {
  const pick = (s: string) => s[Math.floor(rand() * s.length)];
  const chars = [special, pick(SPECIAL)];
  while (chars.length < 8 + Math.floor(rand() * 9)) {
    const r = rand();
    chars.push(r < 0.55 ? pick(PLAIN) : r < 0.95 ? pick(SPECIAL) : UNICODE[Math.floor(rand() * UNICODE.length)]);
  }
  for (let i = chars.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [chars[i], chars[j]] = [chars[j], chars[i]];
  }
  // Starts with a letter so that no URL part (a port, a path) can be mistaken for it, nor it for them.
  return `P${chars.join('')}`;
}

const MUTATIONS = ['encoded', 'raw', 'missing-colon', 'missing-slashes', 'one-slash', 'missing-at', 'missing-host', 'bad-port', 'no-scheme', 'wrong-scheme', 'keyword-ado', 'keyword-libpq', 'query-password', 'spaces-around'] as const;

function makeCase(rand: () => number, kind: UrlKind, i: number, host = '127.0.0.1', port = 5432, mutation = MUTATIONS[i % MUTATIONS.length]): Case {
  const pw = password(rand, SPECIAL[i % SPECIAL.length]);
  const scheme = kind.schemes[Math.floor(rand() * kind.schemes.length)];
  const user = `user${Math.floor(rand() * 100)}`;
  const db = kind === AMQP_URL ? '' : `/db${i}`;
  const enc = encodeURIComponent(pw);
  // '%' that does not start a valid escape (%zz, or bytes that are no UTF-8, like %9f) must be %25.
  const needsEncoding = /[/?#]/.test(pw) || !decodes(pw);
  const rawProblem = /[/?#]/.test(pw) ? /percent-encode '[/?#]' in the password as %(2F|3F|23)/ : /percent-encode '%' in the password as %25/;
  switch (mutation) {
    case 'encoded': return { url: `${scheme}://${user}:${enc}@${host}:${port}${db}`, password: pw, mutation };
    case 'raw': return { url: `${scheme}://${user}:${pw}@${host}:${port}${db}`, password: pw, mutation, expect: needsEncoding ? rawProblem : undefined };
    case 'missing-colon': return { url: `${scheme}//${user}:${enc}@${host}:${port}${db}`, password: pw, mutation, expect: new RegExp(`missing '://' after "${scheme}"`) };
    case 'missing-slashes': return { url: `${scheme}:${user}:${pw}@${host}:${port}${db}`, password: pw, mutation, expect: new RegExp(`missing '://' after "${scheme}"`) };
    case 'one-slash': return { url: `${scheme}:/${user}:${enc}@${host}${db}`, password: pw, mutation, expect: new RegExp(`missing '://' after "${scheme}"`) };
    case 'missing-at': {
      // Without its '@' the password runs into the host; a password with its own '@' is then split there.
      const url = `${scheme}://${user}:${pw.replace(/@/g, 'a')}${host}:${port}${db}`;
      return { url, password: pw.replace(/@/g, 'a'), mutation, expect: /missing '@' between the password and the host/ };
    }
    case 'missing-host': return { url: `${scheme}://${user}:${enc}@`, password: pw, mutation, expect: /no host after '@'/ };
    case 'bad-port': return { url: `${scheme}://${user}:${enc}@${host}:54x2${db}`, password: pw, mutation, expect: /the port "54x2" is not a number/ };
    case 'no-scheme': return { url: `${user}:${pw}@${host}:${port}${db}`, password: pw, mutation, expect: /no scheme: it must start with/ };
    case 'wrong-scheme': {
      const other = kind === AMQP_URL ? 'postgres' : kind === POSTGRES_URL ? 'mysql' : 'amqp';
      return { url: `${other}://${user}:${enc}@${host}:${port}${db}`, password: pw, mutation, expect: new RegExp(`"${other}://" is not ${kind.what}`) };
    }
    case 'keyword-ado': return { url: `Server=${host},${port};User Id=${user};Password={${pw.replace(/\}/g, '}}')}};`, password: pw, mutation, expect: /keyword=value connection string; give a URL instead/ };
    case 'keyword-libpq': return { url: `host=${host} user=${user} password='${pw.replace(/[\\']/g, '\\$&')}'`, password: pw, mutation, expect: /keyword=value connection string; give a URL instead/ };
    case 'query-password': return { url: `${scheme}://${user}@${host}:${port}${db}?password=${enc}`, password: pw, mutation };
    case 'spaces-around': return { url: `  ${scheme}://${user}:${enc}@${host}:${port}${db} `, password: pw, mutation };
  }
}

function decodes(s: string): boolean {
  try {
    decodeURIComponent(s);
    return true;
  } catch {
    return false;
  }
}

/** The ways a password may show: as typed, percent-encoded, percent-decoded. */
function forms(pw: string): string[] {
  const out = new Set([pw, encodeURIComponent(pw)]);
  try {
    out.add(decodeURIComponent(pw));
  } catch {
    // not decodable: shown as typed only
  }
  return [...out].filter((f) => f.length >= 3);
}

function expectNoPassword(text: string, pw: string, where: string): void {
  for (const f of forms(pw)) {
    if (text.includes(f)) throw new Error(`${where} holds the password ${JSON.stringify(f)}:\n${text.slice(Math.max(0, text.indexOf(f) - 200), text.indexOf(f) + 200)}`);
  }
}

describe('connection URLs: checked with a reason, password masked (in process, hundreds of cases)', () => {
  const KINDS: [UrlKind, string][] = [[SOURCE_URL, '--from'], [POSTGRES_URL, '--url'], [AMQP_URL, '--url']];

  it(`every generated URL is either parsed to its password or refused in one line without it (seeds ${SEED}, +1, +2)`, () => {
    let refused = 0;
    let parsed = 0;
    const problems = new Map<string, number>();
    let rand = prng(SEED);
    for (let i = 0; i < 2100; i++) {
      if (i % 700 === 0) rand = prng(SEED + i / 700);
      const [kind, label] = KINDS[i % KINDS.length];
      const c = makeCase(rand, kind, Math.floor(i / KINDS.length) + i);
      forgetSecrets();
      // The masking alone, before anything is known about the URL.
      expectNoPassword(maskConnectionString(c.url), c.password, `maskConnectionString(${JSON.stringify(c.url)})`);
      let message: string | undefined;
      let url: URL | undefined;
      try {
        url = checkConnectionUrl(c.url, label, kind);
      } catch (err) {
        message = (err as Error).message;
      }
      if (message !== undefined) {
        refused++;
        expectNoPassword(message, c.password, `the message for ${JSON.stringify(c.url)}`);
        expect(message, c.url).not.toContain('\n');
        expect(message.startsWith(`${label} `), message).toBe(true);
        expect(c.expect, `${c.mutation} ${JSON.stringify(c.url)} was refused: ${message}`).toBeDefined();
        expect(message, `${c.mutation} ${JSON.stringify(c.url)}`).toMatch(c.expect!);
        const reason = message.slice(message.lastIndexOf(': ') + 2).replace(/["'].*$/, '');
        problems.set(reason, (problems.get(reason) ?? 0) + 1);
      } else {
        parsed++;
        expect(c.expect, `${c.mutation} ${JSON.stringify(c.url)} should have been refused (${c.expect})`).toBeUndefined();
        // What the drivers will be given is the password the user meant.
        if (c.mutation !== 'query-password' && !/%[0-9a-f]{2}/i.test(c.password)) {
          expect(decodeURIComponent(url!.password), c.url).toBe(c.password);
        }
      }
      // Once seen, the password is masked wherever a later message may hold it (a driver's error).
      // (Without its '@' the password cannot be told from the host, so only the whole is masked.)
      rememberSecretsIn(c.url);
      const alone = c.mutation === 'missing-at' ? '' : ` (${c.password}) [${encodeURIComponent(c.password)}]`;
      expectNoPassword(redact(`failed: ${c.url}${alone}`), c.password, `redact of ${JSON.stringify(c.url)}`);
    }
    forgetSecrets();
    expect(refused).toBeGreaterThan(900);
    expect(parsed).toBeGreaterThan(300);
    expect(problems.size).toBeGreaterThanOrEqual(8);
  });

  it('says what is wrong, in the words users need', () => {
    forgetSecrets();
    const say = (url: string, kind = SOURCE_URL, label = '--from') => {
      try {
        checkConnectionUrl(url, label, kind);
        return 'ok';
      } catch (err) {
        return (err as Error).message;
      }
    };
    expect(say('postgres://ferry:S3cr/etPW@127.0.0.1:35889/db')).toBe(`--from postgres://ferry:***@127.0.0.1:35889/db: percent-encode '/' in the password as %2F`);
    expect(say('postgres//user:pw@host')).toBe(`--from postgres//user:***@host: missing '://' after "postgres" (write postgres://…)`);
    expect(say('mysql://u:secret@h/db', POSTGRES_URL, '--url')).toBe(`--url mysql://u:***@h/db: "mysql://" is not a PostgreSQL server: use postgres:// or postgresql://`);
    expect(say('http://guest:secret@h', AMQP_URL, 'FERRY_AMQP_URL')).toBe(`FERRY_AMQP_URL http://guest:***@h: "http://" is not a RabbitMQ broker: use amqp:// or amqps://`);
    expect(say('Server=h;User Id=sa;Password=hunter22;')).toMatch(/^--from Server=h;User Id=sa;Password=\*\*\*;: this is a keyword=value connection string; give a URL instead/);
    expect(say('postgres://u:p#q@h/db')).toBe(`--from postgres://u:***@h/db: percent-encode '#' in the password as %23`);
    expect(say('postgres://u:a/b?c@h/db')).toBe(`--from postgres://u:***@h/db: percent-encode '/' in the password as %2F and '?' as %3F`);
    expect(say('postgres://u:100%@h/db')).toBe(`--from postgres://u:***@h/db: percent-encode '%' in the password as %25`);
    expect(say('postgres://u:pwd127.0.0.1:5432/db')).toBe(`--from postgres://u:***: missing '@' between the password and the host (mssql://user:password@host:1433/database or postgres://user:password@host:5432/database)`);
    expect(say('postgres://u:p@h:99999/db')).toBe(`--from postgres://u:***@h:99999/db: the port 99999 is out of range (1-65535)`);
    expect(say('')).toMatch(/^--from \(empty\): give a URL such as/);
    // Right URLs pass, with '@' and ':' in the password and without a host (local socket).
    expect(say('postgres://u:p@ss:w@h:5432/db')).toBe('ok');
    expect(say('postgres:///db')).toBe('ok');
    expect(say('sqlserver://sa:x@h/db')).toBe('ok');
  });

  it('masks the command line and FERRY_* variables, however mangled, without eating user names', () => {
    forgetSecrets();
    rememberProcessSecrets(['node', 'ferry', 'extract', '--from=postgres//u:Zq9 x/y@h/db'], { FERRY_AMQP_URL: 'amqp://guest:guest@h', FERRY_API_TOKEN: 'tok-123456', PATH: '/usr/bin:x@y' });
    expect(redact('could not log in with "Zq9 x/y" or tok-123456')).toBe('could not log in with "***" or ***');
    expect(redact('user "guest" refused')).toBe('user "guest" refused');
    forgetSecrets();
    expect(redact('connect postgres://bob:s3cr%40t@db:5432/x failed')).toBe('connect postgres://bob:***@db:5432/x failed');
    expect(redact('extract --from postgres://sa:p@ss/w0rd@host:5432/db')).toBe('extract --from postgres://sa:***@host:5432/db');
    expect(redact(`host=h password='a b;c' user=u`)).toBe(`host=h password=*** user=u`);
    expect(redact('at postgres://h:5432/db, retrying')).toBe('at postgres://h:5432/db, retrying');
    expect(redact('such as amqp://user:password@host:5672/vhost')).toBe('such as amqp://user:password@host:5672/vhost');
  });
});

describe('the real commands never print or write a password (randomized URLs, real servers)', () => {
  let events: string;
  let pgPort: number;
  let amqpPort: number;
  let db: string;
  let role: { user: string; password: string };
  const admin = () => new pg.Client({ connectionString: process.env.FERRY_PG_URL });

  beforeAll(async () => {
    events = await tempDir('ferry-redact-events-');
    await writeSampleEventDump(path.join(events, 'a.pb.gz'), 20);
    pgPort = Number(new URL(process.env.FERRY_PG_URL!).port);
    amqpPort = Number(new URL(process.env.FERRY_AMQP_URL!).port);
    // A role whose password holds nearly every special character, to run the commands successfully with.
    db = `redact_${process.pid}`;
    role = { user: `redact_${process.pid}`, password: `Pw "q'/?#@:%; ${String.fromCharCode(92)}[]{}é密` };
    const c = admin();
    await c.connect();
    try {
      await c.query(`CREATE ROLE ${role.user} LOGIN SUPERUSER PASSWORD ${c.escapeLiteral(role.password)}`);
      await c.query(`CREATE DATABASE ${db} OWNER ${role.user}`);
    } finally {
      await c.end();
    }
    const d = new pg.Client({ connectionString: withDb(process.env.FERRY_PG_URL!, db) });
    await d.connect();
    await d.query(`CREATE TABLE members (id int PRIMARY KEY, secret_note text); INSERT INTO members SELECT g, 'note ' || g FROM generate_series(1, 50) g`);
    await d.end();
  });

  afterAll(async () => {
    const c = admin();
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`).catch(() => undefined);
    await c.query(`DROP ROLE IF EXISTS ${role.user}`).catch(() => undefined);
    await c.end();
  });

  function withDb(url: string, name: string): string {
    const u = new URL(url);
    u.pathname = `/${name}`;
    return u.href;
  }

  async function filesUnder(dir: string): Promise<string[]> {
    const out: string[] = [];
    for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) out.push(path.join(e.parentPath ?? e.path, e.name));
    return out;
  }

  async function checkRun(args: string[], env: NodeJS.ProcessEnv, work: string, pw: string, what: string) {
    const run = await runFerry(args, { env, cwd: work, timeoutMs: 60_000 });
    expectNoPassword(run.stdout, pw, `${what}: stdout`);
    expectNoPassword(run.stderr, pw, `${what}: stderr`);
    for (const file of await filesUnder(work)) {
      // Dumps are gzip: look inside them as well as at their bytes.
      const bytes = await readFile(file);
      expectNoPassword(bytes.toString('utf8'), pw, `${what}: ${path.relative(work, file)}`);
      if (file.endsWith('.gz')) expectNoPassword(gunzipSync(bytes).toString('utf8'), pw, `${what}: ${path.relative(work, file)} (unzipped)`);
    }
    return run;
  }

  it(`extract, FERRY_EXTRACT_FROM, seed modules and seed rabbitmq with mangled and wrong passwords (seed ${SEED})`, async () => {
    const rand = prng(SEED + 1);
    const runs: Promise<void>[] = [];
    const limit = 4;
    const active = new Set<Promise<void>>();
    const config = await writeModulesConfig(await tempDir(), `[socialModule({ database: '${db}_mod' })]`);
    let count = 0;
    const codes: number[] = [];
    for (let i = 0; i < 2 * MUTATIONS.length; i++) {
      // Every mutation at least twice, each time through another command.
      const which = (i + Math.floor(i / MUTATIONS.length)) % 4;
      const kind = which === 3 ? AMQP_URL : which === 2 ? POSTGRES_URL : SOURCE_URL;
      const c = makeCase(rand, kind, i * 7 + which, rand() < 0.5 ? '127.0.0.1' : 'localhost', which === 3 ? amqpPort : pgPort, MUTATIONS[i % MUTATIONS.length]);
      const job = (async () => {
        const work = await tempDir('ferry-redact-run-');
        const out = path.join(work, 'out');
        const common = { FERRY_AMQP_URL: '', FERRY_EXTRACT_FROM: '' };
        let args: string[];
        let env: NodeJS.ProcessEnv = common;
        if (which === 0) args = ['extract', '--from', c.url, '--out', out, '--schemas-out', path.join(work, 'schemas'), '--json'];
        else if (which === 1) {
          args = ['extract', '--out', out, '--schemas-out', path.join(work, 'schemas'), '--json'];
          env = { ...common, FERRY_EXTRACT_FROM: c.url };
        } else if (which === 2) args = ['seed', 'modules', '--in', events, '--config', config, '--url', c.url, '--json', '--quiet'];
        else args = ['seed', 'rabbitmq', '--in', events, '--url', c.url, '--checkpoint', path.join(work, 'checkpoint.json'), '--connect-timeout', '1', '--json', '--quiet'];
        args.push('--report', path.join(work, 'report.html'));
        const run = await checkRun(args, env, work, c.password, `${args.slice(0, 2).join(' ')} ${c.mutation} ${JSON.stringify(c.url)}`);
        codes.push(run.code);
        // Refused or wrong password: one line that names the flag or says why.
        expect(run.code, run.stderr).toBe(1);
        expect(run.stderr.trim().split('\n').at(-1), run.stderr).toMatch(/^ferry: /);
        count++;
      })();
      runs.push(job);
      active.add(job);
      job.finally(() => active.delete(job)).catch(() => undefined);
      if (active.size >= limit) await Promise.race(active);
    }
    await Promise.all(runs);
    expect(count).toBe(2 * MUTATIONS.length);
  }, 300_000);

  it('successful runs with a password of special characters keep it out of dumps, manifests, schemas and summaries', async () => {
    const enc = encodeURIComponent(role.password);
    const url = `postgres://${role.user}:${enc}@127.0.0.1:${pgPort}/${db}`;
    const work = await tempDir('ferry-redact-ok-');
    const extract = await checkRun(['extract', '--from', url, '--out', path.join(work, 'out'), '--schemas-out', path.join(work, 'schemas'), '--json', '--report', path.join(work, 'extract.html')], {}, work, role.password, 'extract');
    expect(extract.code, extract.stderr).toBe(0);
    // The HTML report was written, and checkRun looked through it.
    expect(existsSync(path.join(work, 'extract.html'))).toBe(true);
    expect(JSON.parse(extract.stdout).totals.rows).toBe(50);
    const viaEnv = await checkRun(['extract', '--out', path.join(work, 'out2'), '--schemas-out', path.join(work, 'schemas2'), '--json'], { FERRY_EXTRACT_FROM: url }, work, role.password, 'FERRY_EXTRACT_FROM');
    expect(viaEnv.code, viaEnv.stderr).toBe(0);
    const config = await writeModulesConfig(work, `[socialModule({ database: '${db}' })]`);
    const seed = await checkRun(['seed', 'modules', '--in', events, '--config', config, '--url', `postgres://${role.user}:${enc}@127.0.0.1:${pgPort}/postgres`, '--json', '--quiet', '--report', path.join(work, 'seed.html')], {}, work, role.password, 'seed modules');
    expect(seed.code, seed.stderr).toBe(0);
    expect(existsSync(path.join(work, 'seed.html'))).toBe(true);
    expect(JSON.parse(seed.stdout).modules[0].events).toBe(20);
  }, 120_000);
});
