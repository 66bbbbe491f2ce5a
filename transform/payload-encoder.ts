// A generated function per event type that checks a payload and encodes it in place into the
// envelope, in one pass: what payloadNormalizer (events.ts), protobufjs' verify and encode do in
// three, without the normalized copy, the Timestamp objects and the separate payload buffer.
//
// It takes the common field types (string, bool, 32-bit integers, double, float, int64/uint64,
// google.protobuf.Timestamp; singular). A type with other fields (repeated, map, bytes, enum,
// nested messages, ...) gets no encoder, and a payload with an unusual value (a String object, a
// Long, a Timestamp given as a plain object, an int64 beyond 2^53 as a number) makes it return false
// before it writes anything: the caller then takes the general path. Errors and bytes are the
// general path's (a test compares both).
import protobuf from 'protobufjs';
import { isoToTimestamp } from '../dumps/index.ts';
import { PreciseTimestamp } from '../lib/precise-timestamp.ts';
import type { EnvelopeHead, EnvelopeWriter } from './event-writer.ts';
import { EventPayloadError } from './events.ts';

/** Checks `value`; false (nothing written) if the general path must take it; else head + payload written. */
export type PayloadEncoder = (value: unknown, out: EnvelopeWriter, head: EnvelopeHead) => boolean;

type Kind = 'string' | 'bool' | 'int32' | 'uint32' | 'sint32' | 'fixed32' | 'sfixed32' | 'double' | 'float' | 'int64' | 'uint64' | 'timestamp';

const WIRE: Record<Kind, number> = {
  string: 2, bool: 0, int32: 0, uint32: 0, sint32: 0, fixed32: 5, sfixed32: 5, double: 1, float: 5, int64: 0, uint64: 0, timestamp: 2,
};

function kindOf(field: protobuf.Field): Kind | undefined {
  field.resolve();
  if (field.repeated || field.map || field.delimited) return undefined;
  if (field.resolvedType) return field.resolvedType.fullName === '.google.protobuf.Timestamp' ? 'timestamp' : undefined;
  switch (field.type) {
    case 'string': case 'bool': case 'int32': case 'uint32': case 'sint32': case 'fixed32': case 'sfixed32':
    case 'double': case 'float': case 'int64': case 'uint64':
      return field.type;
    default:
      return undefined;
  }
}

const MAX_U64 = 2n ** 64n;
const MIN_I64 = -(2n ** 63n);

const helpers = {
  EventPayloadError,
  PreciseTimestamp,
  iso(text: string, path: string): { seconds: number; nanos: number } {
    try {
      return isoToTimestamp(text);
    } catch (err) {
      throw new EventPayloadError(`${path}: ${(err as Error).message}`);
    }
  },
  /** int64/uint64 text or bigint → [lo, hi] bits, as protobufjs' Long.fromString; undefined when out of range. */
  long(v: bigint | string, path: string): [number, number] | undefined {
    const text = v.toString();
    if (typeof v === 'string' && !/^-?\d+$/.test(text)) throw new EventPayloadError(`${path}: ${text} is not an integer`);
    const big = typeof v === 'bigint' ? v : BigInt(text);
    if (big < MIN_I64 || big >= MAX_U64) return undefined;
    const bits = BigInt.asUintN(64, big);
    return [Number(bits & 0xffffffffn), Number(bits >> 32n)];
  },
};

const encoders = new WeakMap<protobuf.Type, PayloadEncoder | null>();

export function payloadEncoder(type: protobuf.Type): PayloadEncoder | undefined {
  const cached = encoders.get(type);
  if (cached !== undefined) return cached ?? undefined;
  const made = generate(type);
  encoders.set(type, made ?? null);
  return made;
}

function generate(type: protobuf.Type): PayloadEncoder | undefined {
  const fields = type.fieldsArray.map((field) => ({ field, kind: kindOf(field) }));
  if (fields.some((f) => f.kind === undefined)) return undefined;
  const typeName = type.fullName.slice(1);
  const known = new Set(fields.map((f) => f.field.name));
  const lines: string[] = [];
  const add = (line: string) => lines.push(line);
  const str = JSON.stringify;
  add(`if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new h.EventPayloadError('payload must be an object');`);
  add(`for (const key in v) if (!known.has(key) && v[key] !== undefined) throw new h.EventPayloadError('payload has no field ' + key + ' in ' + ${str(typeName)});`);
  // As payloadNormalizer: per field in declaration order, presence then conversion.
  fields.forEach(({ field, kind }, i) => {
    const x = `x${i}`;
    const path = str(`payload.${field.name}`);
    const required = !field.partOf && !field.repeated && !field.map;
    add(`let ${x} = v[${str(field.name)}];`);
    add(`if (${x} === undefined || ${x} === null) {`);
    if (required) add(`  throw new h.EventPayloadError(${str(`payload is missing required field ${field.name}`)});`);
    add(`  ${x} = null;`);
    add('}');
    if (kind === 'timestamp') {
      add(`let s${i} = 0, n${i} = 0;`);
      add(`if (${x} !== null) {`);
      add(`  if (${x} instanceof Date) {`);
      add(`    const ms = ${x}.getTime();`);
      add(`    if (ms !== ms) throw new h.EventPayloadError(${str(`payload.${field.name} is an invalid Date`)});`);
      add(`    s${i} = Math.floor(ms / 1000); n${i} = (((ms % 1000) + 1000) % 1000) * 1e6;`);
      add(`  } else if (typeof ${x} === 'string') { const t = h.iso(${x}, ${path}); s${i} = t.seconds; n${i} = t.nanos; }`);
      add(`  else if (${x} instanceof h.PreciseTimestamp) { s${i} = Number(${x}.seconds); n${i} = ${x}.nanos; }`);
      add('  else return false;');
      add('}');
    } else if (kind === 'int64' || kind === 'uint64') {
      add(`let lo${i} = 0, hi${i} = 0, big${i} = false;`);
      add(`if (typeof ${x} === 'bigint' || typeof ${x} === 'string') { const b = h.long(${x}, ${path}); if (b === undefined) return false; lo${i} = b[0]; hi${i} = b[1]; big${i} = true; }`);
      add(`else if (${x} !== null && typeof ${x} === 'object') return false;`);
    }
  });
  // As protobufjs' verify, in declaration order.
  fields.forEach(({ field, kind }, i) => {
    const x = `x${i}`;
    const fail = (expected: string) => `throw new h.EventPayloadError(${str(`payload is invalid: ${field.name}: ${expected} expected`)});`;
    switch (kind) {
      case 'string':
        add(`if (${x} !== null && typeof ${x} !== 'string') { if (${x} instanceof String) return false; ${fail('string')} }`);
        break;
      case 'bool':
        add(`if (${x} !== null && typeof ${x} !== 'boolean') ${fail('boolean')}`);
        break;
      case 'double': case 'float':
        add(`if (${x} !== null && typeof ${x} !== 'number') ${fail('number')}`);
        break;
      case 'int64': case 'uint64':
        add(`if (${x} !== null && !big${i}) { if (!Number.isInteger(${x})) ${fail('integer|Long')} if (!Number.isSafeInteger(${x})) return false; }`);
        break;
      case 'timestamp':
        break;
      default:
        add(`if (${x} !== null && !Number.isInteger(${x})) ${fail('integer')}`);
    }
  });
  add('out.head(head);');
  add('out.beginPayload();');
  // As protobufjs' encoder: field number order, proto3 defaults left out unless the field has presence.
  const byId = fields.map((f, i) => ({ ...f, i })).sort((a, b) => a.field.id - b.field.id);
  for (const { field, kind, i } of byId) {
    const x = `x${i}`;
    const tag = ((field.id << 3) | WIRE[kind!]) >>> 0;
    const presence = field.hasPresence;
    let cond: string;
    let write: string;
    switch (kind) {
      case 'string': cond = presence ? '' : ` && ${x} !== ''`; write = `out.string(${x});`; break;
      case 'bool': cond = presence ? '' : ` && ${x} !== false`; write = `out.bool(${x});`; break;
      case 'double': cond = presence ? '' : ` && !Object.is(${x}, 0)`; write = `out.double(${x});`; break;
      case 'float': cond = presence ? '' : ` && !Object.is(${x}, 0)`; write = `out.float(${x});`; break;
      case 'int64': case 'uint64':
        cond = presence ? '' : ` && (big${i} ? (lo${i} !== 0 || hi${i} !== 0) : ${x} !== 0)`;
        write = `if (big${i}) out.varint64(lo${i}, hi${i}); else out.int64(${x});`;
        break;
      case 'timestamp': cond = ''; write = `out.timestamp(s${i}, n${i});`; break;
      case 'int32': cond = presence ? '' : ` && ${x} !== 0`; write = `out.int32(${x});`; break;
      case 'sint32': cond = presence ? '' : ` && ${x} !== 0`; write = `out.sint32(${x});`; break;
      case 'fixed32': case 'sfixed32': cond = presence ? '' : ` && ${x} !== 0`; write = `out.fixed32(${x});`; break;
      default: cond = presence ? '' : ` && ${x} !== 0`; write = `out.uint32(${x});`;
    }
    add(`if (${x} !== null${cond}) { out.tag(${tag}); ${write} }`);
  }
  add('out.endPayload();');
  add('return true;');
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  const build = new Function('h', 'known', `return function encode_${typeName.replace(/\W/g, '_')}(v, out, head) {\n${lines.join('\n')}\n};`);
  return build(helpers, known) as PayloadEncoder;
}
