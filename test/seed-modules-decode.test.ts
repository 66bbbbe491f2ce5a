// The fast paths of `ferry seed modules` give exactly what the general ones give: the envelope
// decoder against protobufjs + readEnvelope, and timestamp text against Date's formatting.
import path from 'node:path';
import type protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { DumpReader, DumpWriter, eventSchema, makeEnvelope, parseProto, readEnvelope, toPlain, type EventRecord } from '../dumps/index.ts';
import { unframe } from '../dumps/framing.ts';
import { decodeEnvelope, eventBlocks } from '../seed/event-batches.ts';
import { flatDecoder, flatPlain } from '../seed/modules-engine.ts';
import { timestampText } from '../seed/copy-text.ts';
import { writeSampleEventDump } from './fixtures/event-dumps.ts';
import { tempDir } from './helpers.ts';

const plain = (e: EventRecord) => ({ ...e, payload: Buffer.from(e.payload).toString('hex') });

/** Encodes `sample` and checks the fast decoder against protobufjs + toPlain; false when it leaves the record to protobufjs. */
const pick = <T>(xs: T[]) => xs[Math.floor(Math.random() * xs.length)];

/**
 * Encodes 3,000 random payloads of `type` (from `makeSample`) and checks that the fast decoder
 * reads each the way protobufjs + toPlain do; returns how many it read (the rest it left to protobufjs).
 */
function fastDecodes(type: protobuf.Type, decode: NonNullable<ReturnType<typeof flatDecoder>>, makeSample: () => Record<string, unknown>): number {
  let fast = 0;
  for (let n = 0; n < 3_000; n++) {
    const bytes = Buffer.from(type.encode(type.fromObject(makeSample())).finish());
    const expected = toPlain(type, type.decode(bytes));
    const got = decode(bytes);
    if (got === undefined) continue;
    expect(JSON.stringify(got)).toBe(JSON.stringify(expected));
    expect(got).toEqual(expected);
    fast++;
  }
  return fast;
}

async function compareFile(file: string): Promise<{ fast: number; fallback: number }> {
  const reader = await DumpReader.open(file);
  let fast = 0;
  let fallback = 0;
  try {
    for (let b = 0; b < reader.blocks.length; b++) {
      for (const bytes of unframe(await reader.readBlock(b))) {
        const expected = readEnvelope(reader.recordType.decode(bytes));
        const got = decodeEnvelope(bytes as Buffer);
        if (!got) {
          fallback++;
          continue;
        }
        fast++;
        expect(plain(got)).toEqual(plain(expected));
      }
    }
  } finally {
    await reader.close();
  }
  return { fast, fallback };
}

describe('seed modules fast paths', () => {
  it('decodes envelopes exactly as protobufjs + readEnvelope, and leaves unusual ones to protobufjs', async () => {
    const dir = await tempDir();
    await writeSampleEventDump(path.join(dir, 'sample.pb.gz'), 1_000, { blockRecords: 300 });
    expect(await compareFile(path.join(dir, 'sample.pb.gz'))).toEqual({ fast: 1_000, fallback: 0 });

    const { root, descriptorSet } = eventSchema(['syntax = "proto3"; package t; message P { string a = 1; }']);
    const odd = path.join(dir, 'odd.pb.gz');
    const writer = await DumpWriter.create(odd, { kind: 'EVENTS', name: 'odd', recordType: 'ferry.event.Envelope', descriptorSet }, { blockRecords: 100 });
    const times = ['1970-01-01T00:00:00Z', '1969-12-31T23:59:59.5Z', '2020-02-29T12:34:56.123456789Z', '9999-12-31T23:59:59.999Z', '2024-01-01T00:00:00.000001Z', '0001-01-01T00:00:00Z'];
    for (let i = 0; i < 600; i++) {
      await writer.write(makeEnvelope(root, {
        id: i % 7 ? `ïd-${i}` : '', type: i % 5 ? 'Tÿpe' : '', occurredAt: times[i % times.length], aggregateType: '', aggregateId: 'ä'.repeat(i % 300),
        source: { table: i % 3 ? 'dbo.T' : '', key: `[${i}]`, index: i % 4 ? i * 1000 : 0 }, schemaVersion: i % 2 ? 0 : 4_000_000_000 - i,
        payloadType: 't.P', payload: { a: i % 9 ? 'x' : '' },
      }));
    }
    await writer.close();
    const { fast, fallback } = await compareFile(odd);
    expect(fast + fallback).toBe(600);
    expect(fast).toBeGreaterThan(300);
    // And through eventBlocks, whichever path each record takes.
    const ids: string[] = [];
    for await (const block of eventBlocks(dir, {})) if (block.file === 'odd.pb.gz') for (const e of block.events()) ids.push(e.id);
    expect(ids).toEqual(Array.from({ length: 600 }, (_, i) => (i % 7 ? `ïd-${i}` : '')));
  });

  it('rejects invalid UTF-8 in an envelope string like protobufjs does', () => {
    // id = "a\xff" (field 1), payload = "" (field 9)
    const bytes = Buffer.from([0x0a, 0x02, 0x61, 0xff, 0x4a, 0x00]);
    expect(() => decodeEnvelope(bytes)).toThrow();
  });

  it('turns flat payloads into the same plain objects as toPlain, and leaves other types to it', () => {
    const root = parseProto([`syntax = "proto3"; package t;
      message Flat { string s = 1; bool b = 2; int32 i = 3; uint32 u = 4; sint32 z = 5; double d = 6; float f = 7;
        int64 l = 8; uint64 ul = 9; sint64 sl = 10; fixed64 fl = 11; google.protobuf.Timestamp at = 12; string last = 13; }
      message WithOptional { optional string s = 1; }
      message Unordered { string b = 2; int64 c = 3; string a = 1; }
      message WithBytes { bytes b = 1; }`]);
    const flat = root.lookupType('t.Flat');
    const convert = flatPlain(flat)!;
    expect(convert).toBeDefined();
    expect(flatPlain(root.lookupType('t.WithOptional'))).toBeUndefined();
    expect(flatPlain(root.lookupType('t.WithBytes'))).toBeUndefined();
    const samples = [
      {},
      { s: 'ä\tx', b: true, i: -5, u: 4_000_000_000, z: -7, d: 1.5, f: 0.25, l: '-9007199254740993', ul: '18446744073709551615', sl: '-1', fl: '9007199254740991', at: { seconds: '1500000000', nanos: 5 }, last: 'end' },
      { l: '9007199254740992', ul: '1', sl: '-9007199254740992', at: {} },
      { at: { seconds: '-62135596800' }, l: '-1', i: 2_147_483_647 },
    ];
    const unordered = root.lookupType('t.Unordered');
    for (const sample of [{}, { a: 'x', b: 'y', c: '7' }]) {
      const message = unordered.decode(unordered.encode(unordered.fromObject(sample)).finish());
      expect(JSON.stringify(flatPlain(unordered)!(message))).toBe(JSON.stringify(toPlain(unordered, message)));
    }
    const proto2 = parseProto(['syntax = "proto2"; package p; message D { optional int64 n = 1 [default = 42]; optional string s = 2 [default = "hi"]; optional bool b = 3 [default = true]; }']).lookupType('p.D');
    for (const sample of [{}, { n: '-3', s: '', b: false }]) {
      const message = proto2.decode(proto2.encode(proto2.fromObject(sample)).finish());
      expect(JSON.stringify(flatPlain(proto2)!(message))).toBe(JSON.stringify(toPlain(proto2, message)));
    }
    for (const sample of samples) {
      const message = flat.decode(flat.encode(flat.fromObject(sample)).finish());
      const expected = toPlain(flat, message);
      expect(JSON.stringify(convert(message))).toBe(JSON.stringify(expected));
      expect(convert(message)).toEqual(expected);
    }
  });

  it('reads flat payloads from the wire into the same plain objects as protobufjs + toPlain', () => {
    const root = parseProto([`syntax = "proto3"; package w;
      message Wire { string s = 1; bool b = 2; int32 i = 3; uint32 u = 4; sint32 z = 5; fixed32 fx = 6; sfixed32 sf = 7;
        double d = 8; float f = 9; int64 l = 10; uint64 ul = 11; google.protobuf.Timestamp at = 12; string t = 13; }
      message Other { sint64 n = 1; }`]);
    const type = root.lookupType('w.Wire');
    const decode = flatDecoder(type)!;
    expect(decode).toBeDefined();
    expect(flatDecoder(root.lookupType('w.Other'))).toBeUndefined();
    const fast = fastDecodes(type, decode, () => {
      const sample: Record<string, unknown> = {};
      if (Math.random() < 0.7) sample.s = pick(['', 'a', 'ä\t\\x', '😀', 'x'.repeat(300)]);
      if (Math.random() < 0.5) sample.b = Math.random() < 0.5;
      if (Math.random() < 0.5) sample.i = pick([0, 1, -1, 2_147_483_647, -2_147_483_648, 300]);
      if (Math.random() < 0.5) sample.u = pick([0, 1, 4_294_967_295, 128]);
      if (Math.random() < 0.5) sample.z = pick([0, -1, 1, -2_147_483_648, 2_147_483_647]);
      if (Math.random() < 0.5) sample.fx = pick([0, 4_294_967_295, 7]);
      if (Math.random() < 0.5) sample.sf = pick([0, -7, 2_147_483_647]);
      if (Math.random() < 0.5) sample.d = pick([0, -0, 1.5, -1e300, Number.MAX_VALUE, 5e-324]);
      if (Math.random() < 0.5) sample.f = pick([0, 0.1, -3.5, 1e30]);
      if (Math.random() < 0.5) sample.l = pick(['0', '1', '-1', '9007199254740991', '9007199254740992', '-9223372036854775808']);
      if (Math.random() < 0.5) sample.ul = pick(['0', '18446744073709551615', '9007199254740991', '123']);
      if (Math.random() < 0.5) sample.at = pick([{}, { seconds: '1500000000' }, { seconds: '-1', nanos: 5 }, { seconds: '253402300799', nanos: 999_999_999 }, { nanos: -1 }]);
      if (Math.random() < 0.3) sample.t = 'tail';
      return sample;
    });
    expect(fast).toBeGreaterThan(300);
    // A field given twice, an unknown field, invalid UTF-8: left to protobufjs.
    expect(decode(Buffer.from([0x0a, 0x01, 0x61, 0x0a, 0x01, 0x62]))).toBeUndefined();
    expect(decode(Buffer.from([0x78, 0x01]))).toBeUndefined();
    expect(decode(Buffer.from([0x0a, 0x01, 0xff]))).toBeUndefined();
  });

  it('reads proto3 optional fields and enums from the wire as toPlain gives them (null when unset, enum names)', () => {
    const root = parseProto([`syntax = "proto3"; package o;
      enum Kind { KIND_UNSPECIFIED = 0; KIND_A = 1; KIND_B = 7; }
      message Opt { string id = 1; optional string body = 3; int64 n = 2; Kind kind = 4; optional int32 w = 5;
        optional Kind k2 = 6; optional google.protobuf.Timestamp at = 7; optional int64 big = 8; bool flag = 9; }
      message RealOneof { oneof x { string a = 1; string b = 2; } }`]);
    const type = root.lookupType('o.Opt');
    const decode = flatDecoder(type)!;
    expect(decode).toBeDefined();
    expect(flatDecoder(root.lookupType('o.RealOneof'))).toBeUndefined();
    const fast = fastDecodes(type, decode, () => {
      const sample: Record<string, unknown> = {};
      if (Math.random() < 0.6) sample.id = pick(['', 'x', 'ä']);
      if (Math.random() < 0.5) sample.body = pick(['', 'hello', 'tab\there']);
      if (Math.random() < 0.5) sample.n = pick(['0', '5', '9007199254740991']);
      if (Math.random() < 0.5) sample.kind = pick([0, 1, 7, 3, -2]);
      if (Math.random() < 0.5) sample.w = pick([0, -1, 640]);
      if (Math.random() < 0.5) sample.k2 = pick([0, 1, 7, 99]);
      if (Math.random() < 0.5) sample.at = pick([{}, { seconds: '1500000000', nanos: 5 }]);
      if (Math.random() < 0.5) sample.big = pick(['0', '-1', '123']);
      if (Math.random() < 0.5) sample.flag = Math.random() < 0.5;
      return sample;
    });
    expect(fast).toBeGreaterThan(1_000);
  });

  it('writes timestamps as new Date(...).toISOString() would', () => {
    const reference = (s: number, n: number) => (n % 1_000_000 === 0
      ? new Date(s * 1000 + n / 1_000_000).toISOString()
      : `${new Date(s * 1000).toISOString().slice(0, 19)}.${String(n).padStart(9, '0')}Z`);
    const cases: Array<[number, number]> = [[0, 0], [86_399, 999_000_000], [951_782_400, 0], [253_402_300_799, 999_999_999], [253_402_300_800, 0], [-1, 0], [-86_401, 5]];
    for (let i = 0; i < 20_000; i++) cases.push([Math.floor(Math.random() * 2 ** (Math.random() * 38)), i % 2 ? Math.floor(Math.random() * 1000) * 1e6 : Math.floor(Math.random() * 1e9)]);
    for (const [s, n] of cases) {
      expect(timestampText(s, n)).toBe(reference(s, n));
      expect(timestampText(String(s), n)).toBe(reference(s, n));
    }
  });
});
