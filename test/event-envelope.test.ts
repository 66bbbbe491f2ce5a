import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DumpReader, decodePayload, readEnvelope, isoToTimestamp, timestampToIso } from '../dumps/index.ts';
import { sampleEvent, writeSampleEventDump } from './fixtures/event-dumps.ts';
import { tempDir } from './helpers.ts';

describe('event dumps', () => {
  it('round-trip envelopes and payloads through the dump writer and reader', async () => {
    const file = path.join(await tempDir(), 'events.pb.gz');
    const summary = await writeSampleEventDump(file, 2_500, { blockRecords: 1_000 });
    expect(summary).toMatchObject({ records: 2_500, blocks: 3 });
    const reader = await DumpReader.open(file);
    expect(reader.header.kind).toBe('EVENTS');
    let i = 0;
    for await (const message of reader.records()) {
      const event = readEnvelope(message);
      const want = sampleEvent(i);
      expect(event).toMatchObject({ id: want.id, type: want.type, occurredAt: want.occurredAt, aggregateId: want.aggregateId, source: want.source, payloadType: want.payloadType });
      const payload = decodePayload(reader.root, event);
      if (want.type === 'MemberRegistered') expect(payload).toMatchObject({ nickname: `Åsa-${i}`, city: i % 7 ? 'Jyväskylä' : null });
      if (want.type === 'MemberBlocked') expect(payload).toEqual(want.payload);
      i++;
    }
    expect(i).toBe(2_500);
    await reader.close();
  });

  it('keeps sub-millisecond precision in occurred_at', () => {
    expect(isoToTimestamp('2021-03-04T05:06:07.1234567Z')).toEqual({ seconds: 1614834367, nanos: 123456700 });
    expect(timestampToIso({ seconds: 1614834367, nanos: 123456700 })).toBe('2021-03-04T05:06:07.1234567Z');
    expect(timestampToIso(isoToTimestamp('2021-03-04T07:06:07+02:00'))).toBe('2021-03-04T05:06:07Z');
  });
});
