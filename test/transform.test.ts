import { cp, open, readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { DumpReader, decodePayload, readEnvelope, type EventRecord } from '../dumps/index.ts';
import { generateTypes } from '../transform/codegen.ts';
import { runTransformJob, type TransformJobOptions } from '../transform/engine.ts';
import { FERRY_ID_NAMESPACE, entityId, eventId, uuidv5 } from '../transform/ids.ts';
import { createHash } from 'node:crypto';
import { COUNTRY_NAMES, CREATED_AT, FAVORITES_TRANSFORM, MEMBERS_TRANSFORM, writeLegacyDumps, writeProject } from './fixtures/transform-project.ts';
import { runFerry, tempDir } from './helpers.ts';

let work: string;
let dumps: string;
let config: string;

/** A project like the default one with some source replaced (its generated types copied in). */
async function variant(name: string, overrides: Parameters<typeof writeProject>[1]): Promise<string> {
  const dir = path.join(work, name);
  const file = await writeProject(dir, overrides);
  await cp(path.join(work, 'project', 'generated'), path.join(dir, 'generated'), { recursive: true });
  return file;
}

function job(extra: Partial<TransformJobOptions>): TransformJobOptions {
  return { inDir: dumps, configFile: config, workers: 0, typecheck: false, quiet: true, ...extra };
}

async function readEvents(file: string): Promise<Array<EventRecord & { plain: Record<string, unknown> }>> {
  const reader = await DumpReader.open(file);
  const out = [];
  try {
    for await (const m of reader.records()) {
      const e = readEnvelope(m);
      out.push({ ...e, plain: decodePayload(reader.root, e) });
    }
  } finally {
    await reader.close();
  }
  return out;
}

async function dumpFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((f) => f.endsWith('.pb.gz')).sort();
}

async function sameBytes(a: string, b: string): Promise<void> {
  const files = await dumpFiles(a);
  expect(await dumpFiles(b)).toEqual(files);
  for (const f of files) expect((await readFile(path.join(b, f))).equals(await readFile(path.join(a, f))), f).toBe(true);
}

beforeAll(async () => {
  work = await tempDir('ferry-transform-');
  dumps = path.join(work, 'dumps');
  await writeLegacyDumps(dumps);
  config = await writeProject(path.join(work, 'project'));
  await generateTypes({ inDir: dumps, outDir: path.join(work, 'project', 'generated'), configFile: config });
});

describe('ferry transform', () => {
  it('computes UUID v5 ids exactly as RFC 9562 (SHA-1 checked against node:crypto)', () => {
    const reference = (name: string, ns: string) => {
      const h = createHash('sha1').update(Buffer.from(ns.replace(/-/g, ''), 'hex')).update(name, 'utf8').digest();
      h[6] = (h[6] & 0x0f) | 0x50;
      h[8] = (h[8] & 0x3f) | 0x80;
      const x = h.toString('hex', 0, 16);
      return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
    };
    // The RFC's own example: v5 of "www.example.com" in the DNS namespace.
    expect(uuidv5('www.example.com', '6ba7b810-9dad-11d1-80b4-00c04fd430c8')).toBe('2ed6657d-e927-568b-95e1-2665a8aea6a2');
    for (const name of ['', 'member:1', 'Åsa:ääkkönen', 'x'.repeat(47), 'y'.repeat(48), 'z'.repeat(200), 'dbo.Members\n[10]\nMemberRegistered\n0']) {
      expect(uuidv5(name, FERRY_ID_NAMESPACE)).toBe(reference(name, FERRY_ID_NAMESPACE));
    }
    expect(entityId('member', 42)).toBe(reference('member:42', FERRY_ID_NAMESPACE));
    // Two-part keys (cached as one number when both are small integers) and integers written digit by digit.
    for (let round = 0; round < 2; round++) {
      expect(entityId('conversation', 3, 70_000)).toBe(reference('conversation:3:70000', FERRY_ID_NAMESPACE));
      expect(entityId('conversation', 3n, 70_000n)).toBe(entityId('conversation', 3, 70_000));
      expect(entityId('conversation', 70_000, 3)).toBe(reference('conversation:70000:3', FERRY_ID_NAMESPACE));
      expect(entityId('pair', 2 ** 26, 0)).toBe(reference('pair:67108864:0', FERRY_ID_NAMESPACE));
      expect(entityId('pair', -5, 1.5)).toBe(reference('pair:-5:1.5', FERRY_ID_NAMESPACE));
      expect(entityId('pair', 'Åsa', null)).toBe(reference('pair:Åsa:null', FERRY_ID_NAMESPACE));
      expect(entityId('triple', 1, 2, 2n ** 60n)).toBe(reference(`triple:1:2:${2n ** 60n}`, FERRY_ID_NAMESPACE));
    }
    expect(entityId('member', '6BA7B810-9DAD-11D1-80B4-00C04FD430C8')).toBe(entityId('member', '6ba7b810-9dad-11d1-80b4-00c04fd430c8'));
  });

  it('generates row and event types from the dumps and the .proto files', async () => {
    const types = await readFile(path.join(work, 'project', 'generated', 'ferry-types.ts'), 'utf8');
    expect(types).toContain('export interface DboMembersRow {');
    expect(types).toMatch(/ Nickname: string;/);
    expect(types).toMatch(/ Email: string \| null;/);
    expect(types).toMatch(/ Score: bigint;/);
    expect(types).toMatch(/ RegisteredAt: Date;/);
    expect(types).toMatch(/ DeletedAt: Date \| null;/);
    expect(types).toMatch(/"dbo\.Favorites": DboFavoritesRow;/);
    expect(types).toMatch(/ MemberRegistered: MemberRegistered;/);
    expect(types).toMatch(/ registered_at: Date \| string \| PreciseTimestamp;/);
    expect(types).toMatch(/ email\?: string \| null;/);
  });

  it('turns rows into events with deterministic ids, lookups and exact values', async () => {
    const out = path.join(work, 'out-none');
    const summary = await runTransformJob(job({ outDir: out }));
    expect(summary).toMatchObject({ rows: 2_500, events: 2_600, rejected: 0, skippedTables: [] });
    expect(summary.eventTypes).toEqual([
      { type: 'FavoriteAdded', events: 1_500 }, { type: 'MemberDeleted', events: 100 }, { type: 'MemberRegistered', events: 1_000 },
    ]);
    expect(await dumpFiles(out)).toEqual(['dbo.Favorites.part-0001.events.pb.gz', 'dbo.Favorites.part-0002.events.pb.gz', 'dbo.Members.events.pb.gz']);

    const reader = await DumpReader.open(path.join(out, 'dbo.Members.events.pb.gz'));
    expect(reader.header).toMatchObject({ kind: 'EVENTS', name: 'dbo.Members', recordType: 'ferry.event.Envelope', createdAt: CREATED_AT });
    await reader.close();
    const members = await readEvents(path.join(out, 'dbo.Members.events.pb.gz'));
    expect(members).toHaveLength(1_100);
    const ten = members.filter((e) => e.source.key === '[10]');
    expect(ten.map((e) => [e.type, e.source.index])).toEqual([['MemberRegistered', 0], ['MemberDeleted', 1]]);
    const memberId = entityId('member', 10);
    expect(memberId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(entityId('member', 10n)).toBe(memberId);
    expect(ten[0]).toMatchObject({
      id: eventId('dbo.Members', '[10]', 'MemberRegistered', 0),
      aggregateType: 'member',
      aggregateId: memberId,
      occurredAt: '2015-01-01T00:16:40Z',
      schemaVersion: 1,
      payloadType: 'dating.members.MemberRegistered',
      source: { table: 'dbo.Members', key: '[10]', index: 0 },
    });
    expect(ten[0].plain).toEqual({
      member_id: memberId, nickname: 'Åsa-10', email: 'asa10@example.fi', country: COUNTRY_NAMES.SE,
      registered_at: { seconds: String(1_420_070_400 + 1_000), nanos: 0 }, balance: '10.0010', score: '9007199254741003',
    });
    expect(ten[1].plain).toEqual({ member_id: memberId, deleted_at: { seconds: String(1_420_070_400 + 1_000 + 50_000), nanos: 0 } });
    expect(ten[1].occurredAt).toBe('2015-01-01T14:10:00Z');
    // NULL stays NULL: member 4 has no email.
    expect(members.find((e) => e.source.key === '[4]')!.plain.email).toBeNull();

    // A favorite's member ids are the members' aggregate ids, computed independently.
    const favorites = await readEvents(path.join(out, 'dbo.Favorites.part-0002.events.pb.gz'));
    expect(favorites).toHaveLength(750);
    const f = favorites[0];
    expect(f.source).toEqual({ table: 'dbo.Favorites', key: '[10000000751]', index: 0 });
    const registered = new Map(members.filter((e) => e.type === 'MemberRegistered').map((e) => [e.source.key, e.aggregateId]));
    expect(f.plain.member_id).toBe(registered.get(`[${(750 % 1_000) + 1}]`));
    expect(f.plain.favorite_member_id).toBe(registered.get(`[${((750 * 7) % 1_000) + 1}]`));
  });

  it('writes byte-identical event dumps across runs and worker counts', async () => {
    const a = path.join(work, 'same-a');
    const b = path.join(work, 'same-b');
    const c = path.join(work, 'same-c');
    await runTransformJob(job({ outDir: a }));
    await runTransformJob(job({ outDir: b, workers: 2 }));
    await runTransformJob(job({ outDir: c }));
    await sameBytes(a, b);
    await sameBytes(a, c);
  });

  it('orders events globally by occurred_at with a tiny memory budget (spilling sorted runs), identical to the in-memory sort', async () => {
    const big = path.join(work, 'ordered-big');
    const tiny = path.join(work, 'ordered-tiny');
    const spill = await tempDir('ferry-spill-');
    const inMemory = await runTransformJob(job({ outDir: big, order: 'occurred_at' }));
    expect(inMemory.sort).toMatchObject({ runs: 0 });
    const spilled = await runTransformJob(job({ outDir: tiny, order: 'occurred_at', memoryMb: 0.5, workers: 2, tmpDir: spill }));
    // Spilled runs, merged with the events still in memory at the end.
    expect(spilled.sort!.runs).toBeGreaterThan(1);
    expect(spilled.sort!.peakBufferedBytes).toBeLessThanOrEqual(0.5 * 1024 * 1024);
    expect(await readdir(spill)).toEqual([]); // runs cleaned up
    await sameBytes(big, tiny);
    // More runs than are merged at once: merged in several passes, the same bytes again.
    const passes = path.join(work, 'ordered-passes');
    const multi = await runTransformJob(job({ outDir: passes, order: 'occurred_at', memoryMb: 0.25, sortFanIn: 2, tmpDir: spill }));
    expect(multi.sort!.runs).toBeGreaterThan(2);
    expect(multi.sort!.mergePasses).toBeGreaterThan(1);
    expect(await readdir(spill)).toEqual([]);
    await sameBytes(big, passes);
    expect(await dumpFiles(tiny)).toEqual(['events.pb.gz']);

    const events = await readEvents(path.join(tiny, 'events.pb.gz'));
    expect(events).toHaveLength(2_600);
    expect(new Set(events.map((e) => e.id)).size).toBe(2_600);
    const time = (e: EventRecord) => Date.parse(e.occurredAt);
    for (let i = 1; i < events.length; i++) expect(time(events[i]), `event ${i}`).toBeGreaterThanOrEqual(time(events[i - 1]));
    // Ties are broken by input file (sorted names: favorites before members), then position.
    const tie = events.filter((e) => e.occurredAt === '2015-01-01T00:01:40Z');
    expect(tie.map((e) => e.source.table)).toEqual(['dbo.Favorites', 'dbo.Members']);
    const types = new Set(events.slice(0, 50).map((e) => e.type));
    expect(types.has('FavoriteAdded') && types.has('MemberRegistered')).toBe(true);
  });

  it('stops at the first failing row with its table, file, block, row and the row itself (secrets masked)', async () => {
    const cfg = await variant('throws', { members: MEMBERS_TRANSFORM.replace('const memberId', "if (row.Id === 218) throw new Error('no country for ' + row.CountryCode);\n    const memberId") });
    const out = path.join(work, 'out-throws');
    await expect(runTransformJob(job({ configFile: cfg, outDir: out }))).rejects.toThrow(
      /dbo\.Members: transform threw: no country for NO \(.*dbo\.Members\.pb\.gz, block 1, row 17\); row: \{"Id":218,"Nickname":"Åsa-218".*"PasswordHash":"\*\*\*"/,
    );
    const err = await runTransformJob(job({ configFile: cfg, outDir: out })).catch((e: Error) => e);
    expect(String(err)).not.toContain('secret-hash');
    expect(String(err)).toContain('--max-errors');
    expect(await readdir(work)).not.toContain('.out-throws.ferry-transform-' + process.pid);
    expect(await dumpFiles(out).catch(() => [])).toEqual([]);
  });

  it('with --max-errors keeps going and writes the rejected rows to a rejects dump', async () => {
    const cfg = await variant('rejects', { members: MEMBERS_TRANSFORM.replace('const memberId', "if (row.Id % 100 === 0) throw new Error('bad row');\n    const memberId") });
    const out = path.join(work, 'out-rejects');
    const summary = await runTransformJob(job({ configFile: cfg, outDir: out, maxErrors: 10, workers: 2 }));
    expect(summary).toMatchObject({ rejected: 10, events: 2_600 - 20, rejectsFile: path.join(out, 'rejects.pb.gz') });
    const reader = await DumpReader.open(path.join(out, 'rejects.pb.gz'));
    expect(reader.header.kind).toBe('REJECTS');
    const rejects = [];
    for await (const m of reader.records()) rejects.push(reader.toPlain(m));
    await reader.close();
    expect(rejects).toHaveLength(10);
    expect(rejects[0]).toMatchObject({ table: 'dbo.Members', block: 0, row: 99, error: 'transform threw: bad row' });
    expect(JSON.parse(rejects[0].row_json as string)).toMatchObject({ Id: 100, Nickname: 'Åsa-100' });
    await expect(runTransformJob(job({ configFile: cfg, outDir: path.join(work, 'out-rejects-5'), maxErrors: 5 }))).rejects.toThrow(/more than --max-errors 5/);
  });

  it('rejects an event that misses a required field', async () => {
    const cfg = await variant('missing-field', { favorites: FAVORITES_TRANSFORM.replace('favorite_member_id: ctx.id', '// @ts-expect-error\n      favorite_member_idx: ctx.id') });
    await expect(runTransformJob(job({ configFile: cfg, dryRun: true }))).rejects.toThrow(
      /dbo\.Favorites: event 0 \(FavoriteAdded\) is invalid: payload has no field favorite_member_idx .*block 0, row 0/,
    );
    const cfg2 = await variant('missing-field-2', { favorites: FAVORITES_TRANSFORM.replace(/favorite_member_id: ctx\.id\('member', fav\.FavoriteMemberId\),/, '') });
    await expect(runTransformJob(job({ configFile: cfg2, dryRun: true }))).rejects.toThrow(/payload is missing required field favorite_member_id/);
  });

  it('checks the dumps against the transforms before any work: a missing column, a table without a dump', async () => {
    const renamed = await variant('renamed', { members: MEMBERS_TRANSFORM.replace('nickname: row.Nickname', 'nickname: (row as any).NickName') });
    await expect(runTransformJob(job({ configFile: renamed, dryRun: true }))).rejects.toThrow(
      /transform for dbo\.Members uses column NickName that the dump dbo\.Members\.pb\.gz does not have/,
    );
    const noDump = await variant('no-dump', { favorites: FAVORITES_TRANSFORM.replace("table: 'dbo.Favorites'", "table: 'dbo.Favourites' as 'dbo.Favorites'") });
    await expect(runTransformJob(job({ configFile: noDump, dryRun: true }))).rejects.toThrow(
      /transform for dbo\.Favourites has no table dump in .* \(tables there: dbo\.Countries, dbo\.Favorites, dbo\.Members\)/,
    );
  });

  it('reports a corrupt dump with its file and block', async () => {
    const broken = path.join(work, 'dumps-corrupt');
    await cp(dumps, broken, { recursive: true });
    const file = path.join(broken, 'dbo.Members.pb.gz');
    const reader = await DumpReader.open(file);
    const block = reader.blocks[2];
    await reader.close();
    const fh = await open(file, 'r+');
    await fh.write(Buffer.from('garbage!'), 0, 8, block.offset + 40);
    await fh.close();
    await expect(runTransformJob(job({ inDir: broken, outDir: path.join(work, 'out-corrupt') }))).rejects.toThrow(/dbo\.Members\.pb\.gz, block 2, byte offset \d+: corrupt block/);
  });

  it('--shard i/n: n copies into one --out give exactly the events of one run, each shard in files of its own', async () => {
    const whole = path.join(work, 'shard-whole');
    const sharded = path.join(work, 'shard-parts');
    const all = await runTransformJob(job({ outDir: whole }));
    const parts = [];
    for (const shard of ['0/3', '1/3', '2/3']) parts.push(await runTransformJob(job({ outDir: sharded, shard, workers: shard === '1/3' ? 2 : 0 })));
    expect(parts.map((p) => p.shard)).toEqual(['0/3', '1/3', '2/3']);
    expect(parts.every((p) => p.rows > 0)).toBe(true);
    expect(parts.reduce((n, p) => n + p.rows, 0)).toBe(all.rows);
    // A later shard left the earlier shards' files alone.
    const files = await dumpFiles(sharded);
    expect(files.length).toBeGreaterThanOrEqual(3);
    for (const f of files) expect(f).toMatch(/\.shard-[012]-of-3\.events\.pb\.gz$/);
    const ids = async (dir: string, names: string[]) => (await Promise.all(names.map((f) => readEvents(path.join(dir, f))))).flat().map((e) => e.id);
    const shardIds = await ids(sharded, files);
    expect(new Set(shardIds).size).toBe(shardIds.length);
    expect(new Set(shardIds)).toEqual(new Set(await ids(whole, await dumpFiles(whole))));
    // A plain run into the same folder replaces every shard's output.
    await runTransformJob(job({ outDir: sharded }));
    expect(await dumpFiles(sharded)).toEqual(await dumpFiles(whole));
  });

  it('samples the same blocks every time: P% of blocks or N rows per table', async () => {
    const pct = await runTransformJob(job({ dryRun: true, sample: '10%' }));
    expect(pct.tables).toEqual([
      { table: 'dbo.Favorites', files: 2, rows: 200, events: 200, rejected: 0 },
      { table: 'dbo.Members', files: 1, rows: 200, events: 220, rejected: 0 },
    ]);
    const rows = await runTransformJob(job({ dryRun: true, sample: '250', showEvents: 3 }));
    expect(rows.tables.map((t) => t.rows)).toEqual([250, 250]);
    expect(rows.firstEvents).toHaveLength(3);
    expect(rows.firstEvents![0]).toMatchObject({ type: 'FavoriteAdded', source: { key: '[10000000001]' }, payload: { member_id: entityId('member', 1) } });
  });
});

describe('ferry transform (command line)', () => {
  it('runs with --json, --order occurred_at and workers, and prints the summary', async () => {
    const out = path.join(work, 'cli-out');
    const r = await runFerry(['transform', '--in', dumps, '--out', out, '--config', config, '--order', 'occurred_at', '--workers', '2', '--json', '--no-typecheck'], { env: { FERRY_QUIET: '1' } });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary).toMatchObject({ ok: true, rows: 2_500, events: 2_600, order: 'occurred_at', workers: 2, outputs: [{ file: path.join(out, 'events.pb.gz'), events: 2_600 }] });
    expect((await stat(path.join(out, 'events.pb.gz'))).size).toBeGreaterThan(0);
  });

  it('--dry-run prints the first events as NDJSON and counts, and writes nothing', async () => {
    const out = path.join(work, 'cli-dry');
    const r = await runFerry(['transform', '--in', dumps, '--out', out, '--config', config, '--dry-run', '--sample', '1%', '--show', '4', '--no-typecheck'], { env: { FERRY_QUIET: '1' } });
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatchObject({ type: 'FavoriteAdded', aggregateType: 'member' });
    expect(r.stderr).toMatch(/dry run \(nothing written\)/);
    expect(r.stderr).toMatch(/MemberRegistered\s+200/);
    await expect(stat(out)).rejects.toThrow();
  });

  it('a worker that runs out of its heap stops the run with one line that names --worker-heap-mb', async () => {
    // A transform that is not pure: it keeps every row's data, so its worker's heap fills up.
    const leak = MEMBERS_TRANSFORM.replace('const memberId', "(globalThis as any).kept ??= []; for (let i = 0; i < 2000; i++) (globalThis as any).kept.push('x'.repeat(64) + i + row.Id);\n    const memberId");
    const cfg = await variant('leaks', { members: leak });
    const out = path.join(work, 'out-leaks');
    const r = await runFerry(['transform', '--in', dumps, '--out', out, '--config', cfg, '--no-typecheck', '--workers', '1', '--worker-heap-mb', '24']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^ferry: a transform worker ran out of its 24 MB heap .*--worker-heap-mb/);
    expect(await dumpFiles(out).catch(() => [])).toEqual([]);
  });

  it('a transform with a type error (a wrong event payload) stops the run with the compiler error', async () => {
    const cfg = await variant('type-error', { members: MEMBERS_TRANSFORM.replace('nickname: row.Nickname', 'nick: row.Nickname') });
    const r = await runFerry(['transform', '--in', dumps, '--dry-run', '--config', cfg]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^ferry: transforms do not type-check: .*transforms\/members\.ts:\d+:\d+: TS2353 .*'nick'/);
  });

  it('a transform module with a syntax error gives one clear line', async () => {
    const cfg = await variant('syntax-error', { favorites: FAVORITES_TRANSFORM.replace('run: (fav, ctx) =>', 'run: (fav, ctx) => {{') });
    const r = await runFerry(['transform', '--in', dumps, '--dry-run', '--config', cfg, '--no-typecheck']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^ferry: config file .*ferry\.config\.ts does not load: .*favorites\.ts/);
  });
});

