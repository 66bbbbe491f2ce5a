// Event dumps: the ferry.event.Envelope record (schemas/ferry/event.proto) around each payload.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { isoFraction } from '../lib/iso-time.ts';
import { parseProto, toDescriptorSet } from './descriptors.ts';
import { toPlain } from './dump-reader.ts';

export const ENVELOPE_TYPE = 'ferry.event.Envelope';
export const ENVELOPE_PROTO = readFileSync(fileURLToPath(new URL('../schemas/ferry/event.proto', import.meta.url)), 'utf8')
  // The well-known types are already in every root that parseProto builds.
  .replace(/^import "google\/protobuf\/timestamp.proto";$/m, '');

/** One event as stages other than transform see it. */
export interface EventRecord {
  id: string;
  type: string;
  /** ISO-8601 UTC with up to nanosecond digits. */
  occurredAt: string;
  aggregateType: string;
  aggregateId: string;
  source: { table: string; key: string; index: number };
  schemaVersion: number;
  payloadType: string;
  payload: Uint8Array;
}

/** A root with the envelope and the given event .proto sources, and its descriptor set for the header. */
export function eventSchema(eventProtos: string[]): { root: protobuf.Root; descriptorSet: Uint8Array } {
  const root = parseProto([ENVELOPE_PROTO, ...eventProtos]);
  return { root, descriptorSet: toDescriptorSet(root) };
}

/** Builds the envelope object for a DumpWriter of kind EVENTS; the payload is encoded here. */
export function makeEnvelope(root: protobuf.Root, event: Omit<EventRecord, 'payload'> & { payload: object }): object {
  const type = root.lookupType(event.payloadType);
  const problem = type.verify(event.payload);
  if (problem) throw new Error(`${event.type} (${event.payloadType}) payload is invalid: ${problem}`);
  return {
    id: event.id,
    type: event.type,
    occurred_at: isoToTimestamp(event.occurredAt),
    aggregate_type: event.aggregateType,
    aggregate_id: event.aggregateId,
    source: event.source,
    schema_version: event.schemaVersion,
    payload_type: event.payloadType,
    payload: type.encode(type.fromObject(event.payload)).finish(),
  };
}

/** Reads a decoded envelope message into an EventRecord. */
export function readEnvelope(message: protobuf.Message): EventRecord {
  const m = message as unknown as {
    id: string; type: string; occurred_at?: { seconds: number | { toNumber(): number }; nanos: number };
    aggregate_type: string; aggregate_id: string; source?: { table: string; key: string; index: number };
    schema_version: number; payload_type: string; payload: Uint8Array;
  };
  return {
    id: m.id,
    type: m.type,
    occurredAt: m.occurred_at ? timestampToIso(m.occurred_at) : '',
    aggregateType: m.aggregate_type,
    aggregateId: m.aggregate_id,
    source: { table: m.source?.table ?? '', key: m.source?.key ?? '', index: m.source?.index ?? 0 },
    schemaVersion: m.schema_version,
    payloadType: m.payload_type,
    payload: m.payload,
  };
}

/** The payload as a plain JSON-safe object (int64 as strings, bytes as base64, NULL as null). */
export function decodePayload(root: protobuf.Root, event: Pick<EventRecord, 'payloadType' | 'payload'>): Record<string, unknown> {
  const type = root.lookupType(event.payloadType);
  return toPlain(type, type.decode(event.payload));
}

export function isoToTimestamp(iso: string): { seconds: number; nanos: number } {
  const match = /^(.*?)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(iso);
  if (!match) throw new Error(`not an ISO-8601 time with zone: ${iso}`);
  const ms = Date.parse(`${match[1]}${match[3]}`);
  if (Number.isNaN(ms)) throw new Error(`not an ISO-8601 time: ${iso}`);
  return { seconds: Math.floor(ms / 1000), nanos: Number((match[2] ?? '').padEnd(9, '0')) };
}

export function timestampToIso(ts: { seconds: number | { toNumber(): number }; nanos: number }): string {
  const seconds = typeof ts.seconds === 'number' ? ts.seconds : ts.seconds.toNumber();
  const base = new Date(seconds * 1000).toISOString().slice(0, 19);
  const nanos = ts.nanos ? isoFraction(ts.nanos) : '';
  return `${base}${nanos}Z`;
}
