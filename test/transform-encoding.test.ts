// The hand-written envelope encoder and the generated payload encoders must write exactly what
// protobufjs writes (the event dump format is protobuf, and outputs must not change with the
// encoding path), and reject exactly what the general path rejects, with the same words.
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { DumpReader, DumpWriter, ENVELOPE_TYPE, isoToTimestamp, type HeaderInit } from '../dumps/index.ts';
import type { TransformDefinition } from '../api/transform.ts';
import { eventTime } from '../transform/events.ts';
import { eventId } from '../transform/ids.ts';
import { payloadEncoder } from '../transform/payload-encoder.ts';
import { TransformRowError, TransformRuntime } from '../transform/runtime.ts';
import { tempDir } from './helpers.ts';

const PROTO = `syntax = "proto3"; package test.enc;
message Everything {
  string s = 1; optional string os = 2; bool b = 3; optional bool ob = 4; int32 i32 = 5; uint32 u32 = 6; sint32 si32 = 7;
  fixed32 f32 = 8; sfixed32 sf32 = 9; double d = 10; float f = 11; int64 i64 = 12; uint64 u64 = 13; optional int64 oi64 = 14;
  google.protobuf.Timestamp at = 15; optional google.protobuf.Timestamp oat = 16; optional double od = 17;
}
message Backwards { string z = 9; int32 y = 2; string x = 5; }
message Empty {}
message WithList { repeated string tags = 1; bytes raw = 2; Color color = 3; }
enum Color { RED = 0; GREEN = 1; }
`;

interface Case { type: string; payload: Record<string, unknown>; occurredAt?: Date | string; schemaVersion?: number; aggregateId?: string; key?: string }

const def: TransformDefinition = {
  table: 'dbo.Things',
  aggregateType: 'thing',
  run: (row: { c: Case }, ctx) => ctx.event(row.c.type, row.c.payload, {
    occurredAt: row.c.occurredAt ?? new Date(Date.UTC(2020, 1, 3, 4, 5, 6, 789)), aggregateId: row.c.aggregateId ?? 'agg-1', schemaVersion: row.c.schemaVersion,
  }),
};

function runtimes() {
  const fast = new TransformRuntime({ transforms: [def], eventProtos: [PROTO] });
  const general = new TransformRuntime({ transforms: [def], eventProtos: [PROTO], generalPayloads: true });
  return { fast, general };
}

function encodeWith(rt: TransformRuntime, c: Case): Uint8Array | string {
  try {
    const built = rt.transformRow(def, { Id: c.key ?? 1, c }, { table: def.table, file: 'f', block: 0, row: 0 }, ['Id']);
    return built[0].framed;
  } catch (err) {
    if (err instanceof TransformRowError) return err.reject.error;
    throw err;
  }
}

/** The envelope as protobufjs encodes it from a plain object (the previous implementation). */
function reference(rt: TransformRuntime, c: Case): Uint8Array {
  const type = rt.types.get(c.type)!;
  const payload = type.fromObject(normalizeForReference(c.payload));
  const t = eventTime(c.occurredAt ?? new Date(Date.UTC(2020, 1, 3, 4, 5, 6, 789)));
  const key = JSON.stringify([c.key ?? 1]);
  const envelope = {
    id: eventId(def.table, key, c.type, 0), type: c.type, occurred_at: t, aggregate_type: 'thing', aggregate_id: c.aggregateId ?? 'agg-1',
    source: { table: def.table, key, index: 0 }, schema_version: c.schemaVersion ?? 1, payload_type: type.fullName.slice(1),
    payload: type.encode(payload).finish(),
  };
  return rt.root.lookupType(ENVELOPE_TYPE).encodeDelimited(envelope as unknown as protobuf.Message).finish();
}

function normalizeForReference(p: Record<string, unknown>, timestamps = new Set(['at', 'oat'])): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(p)) {
    if (v === null || v === undefined) continue;
    if (v instanceof Date) out[k] = { seconds: Math.floor(v.getTime() / 1000), nanos: (((v.getTime() % 1000) + 1000) % 1000) * 1e6 };
    else if (typeof v === 'string' && timestamps.has(k)) out[k] = isoToTimestamp(v);
    else if (typeof v === 'bigint') out[k] = v.toString();
    else out[k] = v;
  }
  return out;
}

const GOOD: Case[] = [
  { type: 'Everything', payload: { s: 'a', b: true, i32: 1, u32: 2, si32: -3, f32: 4, sf32: -5, d: 1.5, f: 2.5, i64: 6n, u64: 7n, at: new Date(0) } },
  { type: 'Everything', payload: { s: '', b: false, i32: 0, u32: 0, si32: 0, f32: 0, sf32: 0, d: 0, f: 0, i64: 0, u64: 0, at: new Date(0) } },
  { type: 'Everything', payload: { s: '', os: '', b: false, ob: false, i32: 0, u32: 0, si32: 0, f32: 0, sf32: 0, d: -0, f: 0, i64: 0n, u64: '0', oi64: 0, at: new Date(-1), oat: new Date(0), od: 0 } },
  { type: 'Everything', payload: { s: 'Åsa ääkkönen 😀'.repeat(3), os: 'x'.repeat(39), b: true, i32: -2147483648, u32: 4294967295, si32: -2147483648, f32: 4294967295, sf32: -2147483648, d: -1e300, f: 3.4e38, i64: -9223372036854775808n, u64: 18446744073709551615n, oi64: '-42', at: '1969-12-31T23:59:59.999999999Z', oat: '2262-04-11T23:47:16.854775807+02:00' } },
  { type: 'Everything', payload: { s: 'x'.repeat(200), os: 'ä'.repeat(50), b: true, i32: 123456, u32: 1 << 30, si32: 77, f32: 1, sf32: 1, d: Number.MIN_VALUE, f: 1e-40, i64: Number.MAX_SAFE_INTEGER, u64: 2 ** 40, at: new Date(8.64e15) } },
  { type: 'Everything', payload: { s: '\ud800 lone', os: 'x\udc00', b: true, i32: 1, u32: 1, si32: 1, f32: 1, sf32: 1, d: NaN, f: Infinity, i64: 2 ** 60, u64: -1, at: new Date(1e12) } },
  { type: 'Backwards', payload: { z: 'zz', y: -1, x: 'xx' }, occurredAt: '1900-01-01T00:00:00.5Z', schemaVersion: 0 },
  { type: 'Backwards', payload: { z: 'é', y: 300, x: '' }, occurredAt: new Date(Date.UTC(3000, 0, 1)), schemaVersion: 4_000_000_000, aggregateId: 'ä'.repeat(200), key: 'x'.repeat(300) },
  { type: 'Empty', payload: {}, schemaVersion: 2 },
  { type: 'WithList', payload: { tags: ['a', 'b'], raw: new Uint8Array([1, 2, 3]), color: 'GREEN' } },
];

const BAD: Case[] = [
  { type: 'Everything', payload: { s: 1, b: true, i32: 1, u32: 1, si32: 1, f32: 1, sf32: 1, d: 1, f: 1, i64: 1, u64: 1, at: new Date(0) } },
  { type: 'Everything', payload: { s: 'a', b: 1, i32: 1.5, u32: 1, si32: 1, f32: 1, sf32: 1, d: 1, f: 1, i64: 1, u64: 1, at: new Date(0) } },
  { type: 'Everything', payload: { s: 'a', b: true, i32: 1, u32: 1, si32: 1, f32: 1, sf32: 1, d: '1', f: 1, i64: 1, u64: 1, at: new Date(0) } },
  { type: 'Everything', payload: { s: 'a', b: true, i32: 1, u32: 1, si32: 1, f32: 1, sf32: 1, d: 1, f: 1, i64: 1.5, u64: 1, at: new Date(0) } },
  { type: 'Everything', payload: { s: 'a', b: true, i32: 1, u32: 1, si32: 1, f32: 1, sf32: 1, d: 1, f: 1, i64: '1x', u64: 1, at: new Date(0) } },
  { type: 'Everything', payload: { s: 'a', b: true, i32: 1, u32: 1, si32: 1, f32: 1, sf32: 1, d: 1, f: 1, i64: 1, u64: 1, at: new Date(NaN) } },
  { type: 'Everything', payload: { s: 'a', b: true, i32: 1, u32: 1, si32: 1, f32: 1, sf32: 1, d: 1, f: 1, i64: 1, u64: 1, at: 'yesterday' } },
  { type: 'Everything', payload: { b: 1, i32: 1, u32: 1, si32: 1, f32: 1, sf32: 1, d: 1, f: 1, i64: 1, u64: 1, at: new Date(0) } },
  { type: 'Everything', payload: { s: 'a', nope: 1 } },
  { type: 'Backwards', payload: { z: 'a', y: 1, x: 2, extra: undefined } },
  { type: 'Backwards', payload: null as unknown as Record<string, unknown> },
  { type: 'Backwards', payload: [] as unknown as Record<string, unknown> },
];

describe('event encoding', () => {
  it('generates payload encoders for the common field types only', () => {
    const { fast } = runtimes();
    expect(payloadEncoder(fast.types.get('Everything')!)).toBeTypeOf('function');
    expect(payloadEncoder(fast.types.get('WithList')!)).toBeUndefined();
  });

  it('writes the bytes protobufjs writes, on both paths', () => {
    const { fast, general } = runtimes();
    for (const [i, c] of GOOD.entries()) {
      const a = encodeWith(fast, c);
      const b = encodeWith(general, c);
      expect(typeof a, `case ${i}: ${String(a)}`).toBe('object');
      expect(Buffer.from(a as Uint8Array).equals(Buffer.from(b as Uint8Array)), `case ${i}: fast = general`).toBe(true);
      if (!JSON.stringify(c.payload, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)).includes('\\ud')) {
        expect(Buffer.from(a as Uint8Array).equals(Buffer.from(reference(fast, c))), `case ${i}: = protobufjs`).toBe(true);
      }
    }
  });

  it('rejects what the general path rejects, with the same message', () => {
    const { fast, general } = runtimes();
    for (const [i, c] of BAD.entries()) {
      const a = encodeWith(fast, c);
      expect(typeof a, `case ${i}`).toBe('string');
      expect(a, `case ${i}`).toBe(encodeWith(general, c));
    }
  });
});

describe('event dump writer', () => {
  it('DumpWriter compressing several blocks at once (compressAhead) writes the same bytes as one at a time', async () => {
    const dir = await tempDir('ferry-event-writer-');
    const { fast } = runtimes();
    const blocks: Array<{ framed: Uint8Array; count: number }> = [];
    for (let b = 0; b < 7; b++) {
      const parts = GOOD.slice(0, 7).map((c, i) => encodeWith(fast, { ...c, key: String(b * 100 + i) }) as Uint8Array);
      blocks.push({ framed: Buffer.concat(parts.concat(b % 3 === 0 ? parts : [])), count: b % 3 === 0 ? 14 : 7 });
    }
    blocks.splice(3, 0, { framed: new Uint8Array(0), count: 0 });
    // Blocks much larger than zlib's 16 KiB output chunks, of varied content.
    for (let k = 0; k < 2; k++) {
      const parts: Uint8Array[] = [];
      let count = 0;
      for (let r = 0; r < 3000; r++, count += 7) parts.push(...GOOD.slice(0, 7).map((c, i) => encodeWith(fast, { ...c, key: `${k}-${r}-${i}` }) as Uint8Array));
      blocks.push({ framed: Buffer.concat(parts), count });
    }
    const init: HeaderInit = {
      kind: 'EVENTS', name: 'events', recordType: ENVELOPE_TYPE, descriptorSet: fast.descriptorSet, createdAt: '2024-01-02T03:04:05.000Z',
      origin: { source: 'transform', startedAt: '2024-01-02T03:04:05.000Z' }, properties: { order: 'none' },
    };
    const a = await DumpWriter.create(path.join(dir, 'a.pb.gz'), init, { level: 1, finishedAt: '2024-01-02T03:04:06.000Z' });
    for (const b of blocks) await a.writeFramedBlock(b.framed, b.count);
    const sa = await a.close();
    const w = await DumpWriter.create(path.join(dir, 'b.pb.gz'), init, { level: 1, finishedAt: '2024-01-02T03:04:06.000Z', compressAhead: 3 });
    for (const b of blocks) await w.writeFramedBlock(b.framed, b.count);
    const sb = await w.close();
    expect({ ...sb, file: '' }).toEqual({ ...sa, file: '' });
    expect((await readFile(path.join(dir, 'b.pb.gz'))).equals(await readFile(path.join(dir, 'a.pb.gz')))).toBe(true);
    const r = await DumpReader.open(path.join(dir, 'b.pb.gz'));
    let n = 0;
    for await (const _ of r.records()) n++;
    await r.close();
    expect(n).toBe(7 * 7 + 3 * 7 + 2 * 3000 * 7);
    await rm(dir, { recursive: true, force: true });
  });
});
