// `ferry dump cat` for people: event payloads decoded with the file's own schema, timestamps as ISO
// text at full precision, exact int64/decimals, --type, --where, --offset/--limit, --format table.
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseProto, toDescriptorSet, writeDump } from '../dumps/index.ts';
import { sampleEvent, writeSampleEventDump } from './fixtures/event-dumps.ts';
import { runFerry, tempDir } from './helpers.ts';

const PROTO = `syntax = "proto3"; package legacy.dbo;
message Member { int32 id = 1; optional int64 big = 2; optional string balance = 3; optional google.protobuf.Timestamp seen_at = 4; optional bytes photo = 5; repeated google.protobuf.Timestamp logins = 6; }`;

let events: string;
let members: string;

beforeAll(async () => {
  const dir = await tempDir();
  events = path.join(dir, 'events.pb.gz');
  await writeSampleEventDump(events, 30, { blockRecords: 8 });
  members = path.join(dir, 'members.pb.gz');
  const root = parseProto([PROTO]);
  await writeDump(members, { kind: 'TABLE', name: 'dbo.Member', recordType: 'legacy.dbo.Member', descriptorSet: toDescriptorSet(root) }, [
    { id: 1, big: '9223372036854775807', balance: '-922337203685477.5808', seen_at: { seconds: 1_600_000_000, nanos: 123_456_700 }, photo: Buffer.from([0, 255]), logins: [{ seconds: 0, nanos: 1 }, { seconds: 1_700_000_000, nanos: 0 }] },
    { id: 2 },
  ]);
});

const lines = (stdout: string) => stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

describe('ferry dump cat', () => {
  it('decodes an event\'s payload with the header\'s schema and writes times as ISO text', async () => {
    const res = await runFerry(['dump', 'cat', events, '--limit', '1']);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const e = sampleEvent(0);
    expect(lines(res.stdout)).toEqual([{
      id: e.id, type: 'MemberRegistered', occurred_at: '2020-01-01T00:00:00Z', aggregate_type: 'member', aggregate_id: e.aggregateId,
      source: { table: 'dbo.Sample', key: '[0]', index: 0 }, schema_version: 1, payload_type: 'sample.MemberRegistered',
      payload: { member_id: e.aggregateId, nickname: 'Åsa-0', city: null, registered_at: '2020-01-01T00:00:00Z' },
    }]);
  });

  it('keeps table rows exact: int64 and decimals as strings, nanoseconds, NULL, bytes as base64', async () => {
    const res = await runFerry(['dump', 'cat', members]);
    expect(res.code).toBe(0);
    expect(lines(res.stdout)).toEqual([
      { id: 1, big: '9223372036854775807', balance: '-922337203685477.5808', seen_at: '2020-09-13T12:26:40.1234567Z', photo: 'AP8=', logins: ['1970-01-01T00:00:00.000000001Z', '2023-11-14T22:13:20Z'] },
      { id: 2, big: null, balance: null, seen_at: null, photo: null, logins: [] },
    ]);
  });

  it('filters by --type and --where (payload fields too), then applies --offset and --limit', async () => {
    // MemberRegistered is every third event; its city is NULL when i % 7 == 0: events 0 and 21.
    const nullCity = await runFerry(['dump', 'cat', events, '--type', 'MemberRegistered', '--where', 'city=null']);
    expect(lines(nullCity.stdout).map((r) => r.id)).toEqual([sampleEvent(0).id, sampleEvent(21).id]);
    const sent = await runFerry(['dump', 'cat', events, '--type', 'MessageSent,MemberBlocked', '--offset', '2', '--limit', '3']);
    expect(lines(sent.stdout).map((r) => r.id)).toEqual([4, 5, 7].map((i) => sampleEvent(i).id));
    const one = await runFerry(['dump', 'cat', events, '--where', `payload.nickname=Åsa-9`, '--where', 'source.key=[9]']);
    expect(lines(one.stdout).map((r) => r.id)).toEqual([sampleEvent(9).id]);
    const row = await runFerry(['dump', 'cat', members, '--where', 'big=9223372036854775807']);
    expect(lines(row.stdout).map((r) => r.id)).toEqual([1]);
  });

  it('prints an aligned table with nested fields as columns', async () => {
    const res = await runFerry(['dump', 'cat', events, '--type', 'MemberBlocked', '--limit', '2', '--format', 'table']);
    expect(res.code).toBe(0);
    const [head, ...rows] = res.stdout.trimEnd().split('\n');
    expect(head.split(/\s{2,}/)).toEqual(['id', 'type', 'occurred_at', 'aggregate_type', 'aggregate_id', 'source.table', 'source.key', 'source.index', 'schema_version', 'payload_type', 'payload.blocker_id', 'payload.blocked_id']);
    expect(rows).toHaveLength(2);
    expect(rows[0].split(/\s{2,}/).slice(0, 3)).toEqual([sampleEvent(2).id, 'MemberBlocked', '2020-01-01T00:00:02Z']);
  });

  it('says what is wrong with a filter', async () => {
    const type = await runFerry(['dump', 'cat', members, '--type', 'MemberBlocked']);
    expect(type.code).toBe(1);
    expect(type.stderr).toBe(`ferry: --type applies to event dumps; ${members} holds table records (legacy.dbo.Member)\n`);
    const where = await runFerry(['dump', 'cat', events, '--where', 'city']);
    expect(where.code).toBe(1);
    expect(where.stderr).toBe('ferry: --where city: write it as field=value\n');
  });
});
