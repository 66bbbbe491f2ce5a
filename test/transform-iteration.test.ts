// The iteration loop: --watch with a real child process, and the unit-testing helper.
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { defineTransform, type EmittedEvent, type TransformDefinition } from '../api/transform.ts';
import { generateTypes } from '../transform/codegen.ts';
import { entityId, eventId } from '../transform/ids.ts';
import { TransformRowError, transformRows } from '../transform/testing.ts';
import { MEMBERS_PROTO, writeLegacyDumps, writeProject } from './fixtures/transform-project.ts';
import { FERRY, tempDir } from './helpers.ts';

describe('ferry transform --watch', () => {
  it('re-runs when a transform is saved and prints what changed', async () => {
    const work = await tempDir('ferry-watch-');
    const dumps = path.join(work, 'dumps');
    await writeLegacyDumps(dumps, { members: 400, favorites: 300 });
    const project = path.join(work, 'project');
    const config = await writeProject(project);
    await generateTypes({ inDir: dumps, outDir: path.join(project, 'generated'), configFile: config });

    const child = spawn(process.execPath, [FERRY, 'transform', '--watch', '--in', dumps, '--config', config, '--dry-run', '--no-typecheck', '--workers', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    let changed: () => void = () => undefined;
    // One reader for the whole run (leaving a for-await early would destroy the stream).
    const reading = (async () => {
      for await (const chunk of child.stdout) {
        output += chunk.toString();
        changed();
      }
    })();
    const waitFor = async (pattern: RegExp) => {
      const deadline = Date.now() + 60_000;
      while (!pattern.test(output)) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no ${pattern} in: ${output}`);
        await new Promise<void>((resolve) => {
          changed = resolve;
          setTimeout(resolve, 500);
        });
      }
    };
    try {
      await waitFor(/run 1: 700 rows → 740 events, 0 rejected/);
      expect(output).toMatch(/ MemberDeleted 40\n/);
      const file = path.join(project, 'transforms', 'members.ts');
      const source = await readFile(file, 'utf8');
      await writeFile(file, source.replace('if (row.DeletedAt) {', 'if (row.DeletedAt && row.Id % 20 === 0) {'));
      await waitFor(/run 2 [^\n]*\n(.*\n)*.*unchanged/);
      expect(output).toMatch(/run 2 \(transforms\/members\.ts changed\): 700 rows → 720 events, 0 rejected/);
      expect(output).toMatch(/ MemberDeleted 40 → 20 \(-20\)\n/);
      expect(output).toMatch(/unchanged: FavoriteAdded 300, MemberRegistered 400/);

      // Same counts, other content: the changed type is named, with its first event before and after.
      await writeFile(file, (await readFile(file, 'utf8')).replace("country: country?.Name ?? 'unknown'", "country: (country?.Name ?? 'unknown').toUpperCase()"));
      await waitFor(/run 3 [^\n]*\n(.*\n)*.*unchanged/);
      const run3 = output.slice(output.indexOf('run 3 '));
      expect(run3).toMatch(/^ {2}MemberRegistered 400, content changed; first event was \{.*"country":"[^"]*[a-zäö][^"]*".*\}\n {4}now \{.*"country":"[^a-zäö"]+".*\}\n/m);
      expect(run3).toMatch(/unchanged: FavoriteAdded 300, MemberDeleted 20\n/);
    } finally {
      child.kill('SIGTERM');
      await reading;
    }
  });
});

describe('transform testing helper', () => {
  interface Row { Id: number; Nickname: string; Email: string | null; RegisteredAt: Date; DeletedAt: Date | null; CountryCode: string }
  interface Events {
    MemberRegistered: { member_id: string; nickname: string; email?: string | null; country: string; registered_at: Date | string; balance: string; score: bigint | number | string };
    MemberDeleted: { member_id: string; deleted_at: Date | string };
  }
  interface Tables { 'dbo.Members': Row; 'dbo.Countries': { Code: string; Name: string } }
  const members = defineTransform<TransformDefinition<Row, Events, 'dbo.Members', Tables>>({
    table: 'dbo.Members',
    aggregateType: 'member',
    lookups: ['dbo.Countries'],
    run(row, ctx) {
      const id = ctx.id('member', row.Id);
      const events: EmittedEvent[] = [ctx.event('MemberRegistered', {
        member_id: id, nickname: row.Nickname, email: row.Email, country: ctx.lookup('dbo.Countries', row.CountryCode)?.Name ?? '?',
        registered_at: row.RegisteredAt, balance: '0.00', score: 12345678901234567n,
      }, { occurredAt: row.RegisteredAt, aggregateId: id })];
      if (row.DeletedAt) events.push(ctx.event('MemberDeleted', { member_id: id, deleted_at: row.DeletedAt }, { occurredAt: row.DeletedAt, aggregateId: id }));
      if (row.Nickname === '') throw new Error('empty nickname');
      return events;
    },
  });

  it('runs a transform on a few rows and returns decoded events', async () => {
    const dir = await tempDir('ferry-testing-');
    const proto = path.join(dir, 'members.proto');
    await writeFile(proto, MEMBERS_PROTO);
    const rows: Row[] = [
      { Id: 1, Nickname: 'Åsa', Email: null, RegisteredAt: new Date('2016-02-03T04:05:06.789Z'), DeletedAt: null, CountryCode: 'FI' },
      { Id: 2, Nickname: 'Bo', Email: 'bo@example.se', RegisteredAt: new Date('2016-02-04T00:00:00Z'), DeletedAt: new Date('2017-01-01T00:00:00Z'), CountryCode: 'SE' },
    ];
    const lookups = { 'dbo.Countries': { primaryKey: ['Code'], rows: [{ Code: 'FI', Name: 'Suomi' }, { Code: 'SE', Name: 'Sverige' }] } };
    const events = await transformRows(members, rows, { eventSchemas: [proto], lookups });
    expect(events.map((e) => e.type)).toEqual(['MemberRegistered', 'MemberRegistered', 'MemberDeleted']);
    expect(events[0]).toEqual({
      id: eventId('dbo.Members', '[1]', 'MemberRegistered', 0),
      type: 'MemberRegistered',
      occurredAt: '2016-02-03T04:05:06.789Z',
      aggregateType: 'member',
      aggregateId: entityId('member', 1),
      source: { table: 'dbo.Members', key: '[1]', index: 0 },
      schemaVersion: 1,
      payloadType: 'dating.members.MemberRegistered',
      payload: {
        member_id: entityId('member', 1), nickname: 'Åsa', email: null, country: 'Suomi',
        registered_at: { seconds: '1454472306', nanos: 789_000_000 }, balance: '0.00', score: '12345678901234567',
      },
    });
    expect(events[2]).toMatchObject({ source: { key: '[2]', index: 1 }, payload: { deleted_at: { seconds: '1483228800', nanos: 0 } } });

    const bad = transformRows(members, [{ ...rows[0], Nickname: '' }], { eventSchemas: [proto], lookups });
    await expect(bad).rejects.toThrow(TransformRowError);
    await expect(bad).rejects.toThrow(/dbo\.Members: transform threw: empty nickname \(\(test rows\), block 0, row 0\)/);
  });
});
