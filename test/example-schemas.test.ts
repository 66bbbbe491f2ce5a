// The example's target side: event schemas (.proto), module database schemas (.sql), and the
// README's table of which module consumes what — checked against each other and against real
// PostgreSQL.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import protobuf from 'protobufjs';
import { afterAll, describe, expect, it } from 'vitest';
import { fromDescriptorSet, parseProto, toDescriptorSet } from '../dumps/descriptors.ts';
import { ROOT } from './helpers.ts';

const EXAMPLE = path.join(ROOT, 'examples', 'dating');
const MODULES = ['members', 'profiles', 'chat', 'flirts', 'favorites', 'blocks', 'visits', 'newsfeed', 'moderation'];

async function protoFiles(): Promise<Map<string, string>> {
  const dir = path.join(EXAMPLE, 'events');
  const names = (await readdir(dir)).filter((f) => f.endsWith('.proto')).sort();
  return new Map(await Promise.all(names.map(async (f) => [f.replace(/\.proto$/, ''), await readFile(path.join(dir, f), 'utf8')] as const)));
}

/** module → consumed event names, from the README's module table. */
async function consumedByModule(): Promise<Map<string, string[]>> {
  const readme = await readFile(path.join(EXAMPLE, 'README.md'), 'utf8');
  const out = new Map<string, string[]>();
  for (const line of readme.split('\n')) {
    const m = /^\| (\w+) \| [^|]+ \| (.+) \|$/.exec(line);
    if (!m || !MODULES.includes(m[1])) continue;
    out.set(m[1], [...m[2].matchAll(/`(\w+)`/g)].map((x) => x[1]));
  }
  return out;
}

function messagesOf(root: protobuf.Root, pkg: string): string[] {
  const ns = root.lookup(pkg) as protobuf.Namespace;
  return ns.nestedArray.filter((n): n is protobuf.Type => n instanceof protobuf.Type).map((t) => t.name);
}

describe('example event schemas', () => {
  it('parse as proto3, one package dating.<module> per file, and survive a descriptor set', async () => {
    const files = await protoFiles();
    expect([...files.keys()].sort()).toEqual(MODULES.filter((m) => m !== 'newsfeed').sort());
    for (const [module, text] of files) {
      expect(text, module).toMatch(/^syntax = "proto3";$/m);
      expect(text, module).toMatch(new RegExp(`^package dating\\.${module};$`, 'm'));
    }
    const root = parseProto([...files.values()]);
    const back = fromDescriptorSet(toDescriptorSet(root));
    const registered = back.lookupType('dating.members.MemberRegistered');
    const sample = { member_id: '6f1c0b8e-3a51-4a4e-9d6b-1f0e3c2a7b10', legacy_id: 42, nickname: 'Åsa Öberg 💕', gender: 2, registered_at: { seconds: 1136102400, nanos: 3_000_000 } };
    const decoded = registered.decode(registered.encode(registered.fromObject(sample)).finish());
    expect(registered.toObject(decoded, { longs: String })).toMatchObject({ ...sample, registered_at: { seconds: '1136102400', nanos: 3_000_000 } });
    // NULL stays NULL: an unset optional field is absent, not an empty string.
    expect(Object.prototype.hasOwnProperty.call(decoded, 'email')).toBe(false);
    const sent = back.lookupType('dating.chat.MessageSent');
    expect(sent.fields.legacy_id.type).toBe('int64');
    const roundTrip = (body?: string) => sent.decode(sent.encode(sent.fromObject({ message_id: 'm', legacy_id: '9007199254740993', ...(body === undefined ? {} : { body }) })).finish());
    expect(Object.prototype.hasOwnProperty.call(roundTrip(), 'body')).toBe(false); // legacy NULL
    const empty = roundTrip('');
    expect(Object.prototype.hasOwnProperty.call(empty, 'body')).toBe(true); // legacy '' is not NULL
    expect(sent.toObject(empty, { longs: String })).toMatchObject({ body: '', legacy_id: '9007199254740993' });
  });

  it('match the README: every consumed event exists, every event has a consumer', async () => {
    const files = await protoFiles();
    const root = parseProto([...files.values()]);
    const defined = new Map<string, string>();
    for (const module of files.keys()) for (const name of messagesOf(root, `dating.${module}`)) defined.set(name, module);
    const consumed = await consumedByModule();
    expect([...consumed.keys()]).toEqual(MODULES);
    const all = new Set([...consumed.values()].flat());
    for (const event of all) expect(defined.has(event), `${event} has no message in events/*.proto`).toBe(true);
    for (const event of defined.keys()) expect(all.has(event), `nobody consumes ${event}`).toBe(true);
    expect(consumed.get('newsfeed')).toContain('MemberBlocked');
  });
});

describe('example module schemas', () => {
  const database = `example_modules_${process.pid}_${Date.now().toString(36)}`;
  const url = () => {
    const u = new URL(process.env.FERRY_PG_URL!);
    u.pathname = `/${database}`;
    return u.toString();
  };

  afterAll(async () => {
    const admin = new pg.Client({ connectionString: process.env.FERRY_PG_URL });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(database)} WITH (FORCE)`);
    await admin.end();
  });

  it('create each module its own schema, and can be applied twice', async () => {
    const admin = new pg.Client({ connectionString: process.env.FERRY_PG_URL });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(database)}`);
    await admin.end();
    const files = (await readdir(path.join(EXAMPLE, 'modules'))).filter((f) => f.endsWith('.sql')).sort();
    expect(files).toEqual(MODULES.map((m) => `${m}.sql`).sort());
    const client = new pg.Client({ connectionString: url() });
    await client.connect();
    try {
      for (const file of files) {
        const sql = await readFile(path.join(EXAMPLE, 'modules', file), 'utf8');
        await client.query(sql);
        await client.query(sql); // idempotent: a re-run seeder may apply it again
      }
      const { rows } = await client.query<{ table_schema: string; n: number }>(`SELECT table_schema, count(*)::int AS n FROM information_schema.tables
        WHERE table_schema NOT IN ('pg_catalog', 'information_schema') GROUP BY 1 ORDER BY 1`);
      expect(rows.map((r) => r.table_schema)).toEqual([...MODULES].sort());
      for (const r of rows) expect(r.n, r.table_schema).toBeGreaterThanOrEqual(1);
      // Every table has a primary key, so seeding twice can upsert instead of duplicating.
      const { rows: noPk } = await client.query(`SELECT t.table_schema, t.table_name FROM information_schema.tables t
        WHERE t.table_schema = ANY($1) AND NOT EXISTS (SELECT 1 FROM information_schema.table_constraints c
          WHERE c.table_schema = t.table_schema AND c.table_name = t.table_name AND c.constraint_type = 'PRIMARY KEY')`, [MODULES]);
      expect(noPk).toEqual([]);
    } finally {
      await client.end();
    }
  });
});
