// Records of a dump as a person reads them (`ferry dump cat`): timestamps as ISO-8601 text at full
// precision, int64 and decimals as exact strings, bytes as base64, NULL as null, and an event's
// payload decoded with the schema in the file's own header (type name and fields), not as bytes.
import type protobuf from 'protobufjs';
import type { DumpReader } from './dump-reader.ts';
import { toPlain } from './dump-reader.ts';
import { ENVELOPE_TYPE, timestampToIso } from './event-envelope.ts';

const TIMESTAMP = '.google.protobuf.Timestamp';

/** A decoded message as plain JSON-safe values, with every Timestamp (at any depth) as ISO text. */
export function readableMessage(type: protobuf.Type, message: protobuf.Message): Record<string, unknown> {
  return withTimes(type, toPlain(type, message));
}

function withTimes(type: protobuf.Type, plain: Record<string, unknown>): Record<string, unknown> {
  for (const field of type.fieldsArray) {
    const nested = field.resolve().resolvedType;
    const value = plain[field.name];
    if (!nested || !('fieldsArray' in nested) || value === null || value === undefined) continue;
    const one = (v: unknown) => (nested.fullName === TIMESTAMP ? isoOf(v as { seconds: string | number; nanos: number }) : withTimes(nested, v as Record<string, unknown>));
    plain[field.name] = Array.isArray(value) ? value.map(one) : one(value);
  }
  return plain;
}

function isoOf(ts: { seconds: string | number; nanos: number }): string {
  return timestampToIso({ seconds: Number(ts.seconds), nanos: ts.nanos ?? 0 });
}

/** One record of `reader` for people: an event envelope with its payload decoded in place. */
export function readableRecord(reader: DumpReader, message: protobuf.Message): Record<string, unknown> {
  const plain = readableMessage(reader.recordType, message);
  if (reader.header.recordType === ENVELOPE_TYPE) {
    const m = message as unknown as { payload_type: string; payload: Uint8Array };
    let payloadType: protobuf.Type | undefined;
    try {
      payloadType = reader.root.lookupType(m.payload_type);
    } catch {
      // Not in the header's schema: keep the bytes (base64), say so.
      plain.payload_error = `payload type ${m.payload_type} is not in the file's schema`;
    }
    if (payloadType) plain.payload = readableMessage(payloadType, payloadType.decode(m.payload));
  }
  return plain;
}
