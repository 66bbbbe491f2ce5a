// Event payloads: which messages are events, and turning what a transform built (Dates, bigints,
// ISO strings, nulls) into what protobufjs encodes, with required fields checked.
import protobuf from 'protobufjs';
import { isoToTimestamp } from '../dumps/index.ts';
import { PreciseTimestamp } from '../lib/precise-timestamp.ts';

/** Every message declared in the event schemas (not nested, not google.* or ferry.*), by event type name. */
export function eventTypes(root: protobuf.Root): Map<string, protobuf.Type> {
  const all: protobuf.Type[] = [];
  const visit = (ns: protobuf.NamespaceBase) => {
    for (const nested of ns.nestedArray) {
      if (nested instanceof protobuf.Type) all.push(nested);
      else if (nested instanceof protobuf.Namespace) visit(nested);
    }
  };
  for (const nested of root.nestedArray) {
    if (nested.name === 'google' || nested.name === 'ferry') continue;
    if (nested instanceof protobuf.Type) all.push(nested);
    else if (nested instanceof protobuf.Namespace) visit(nested);
  }
  const shortCount = new Map<string, number>();
  for (const t of all) shortCount.set(t.name, (shortCount.get(t.name) ?? 0) + 1);
  // The short name is the event type (and RabbitMQ routing key) unless two packages share it.
  const byName = new Map<string, protobuf.Type>();
  for (const t of all.sort((a, b) => a.fullName.localeCompare(b.fullName))) {
    byName.set(shortCount.get(t.name)! > 1 ? t.fullName.replace(/^\./, '') : t.name, t);
  }
  return byName;
}

export class EventPayloadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EventPayloadError';
  }
}

type Normalizer = (value: unknown, path: string) => unknown;
const normalizers = new WeakMap<protobuf.Type, Normalizer>();

/**
 * Returns a function that checks a payload (unknown fields, missing required fields: every field
 * that is not proto3 `optional`, repeated or a map) and converts it for protobufjs.
 */
export function payloadNormalizer(type: protobuf.Type): Normalizer {
  let n = normalizers.get(type);
  if (n) return n;
  const fields = type.fieldsArray.map((field) => {
    field.resolve();
    const required = !field.partOf && !field.repeated && !field.map;
    const convert = valueConverter(field);
    return { name: field.name, required, repeated: field.repeated, map: field.map, convert };
  });
  const known = new Set(fields.map((f) => f.name));
  n = (value, path) => {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new EventPayloadError(`${path} must be an object`);
    const v = value as Record<string, unknown>;
    for (const key in v) if (!known.has(key) && v[key] !== undefined) throw new EventPayloadError(`${path} has no field ${key} in ${type.fullName.slice(1)}`);
    const out: Record<string, unknown> = {};
    for (const f of fields) {
      const x = v[f.name];
      if (x === undefined || x === null) {
        if (f.required) throw new EventPayloadError(`${path} is missing required field ${f.name}`);
        continue;
      }
      if (f.repeated) {
        if (!Array.isArray(x)) throw new EventPayloadError(`${path}.${f.name} must be an array`);
        out[f.name] = f.convert ? x.map((e, i) => f.convert!(e, `${path}.${f.name}[${i}]`)) : x;
      } else if (f.map) {
        const m: Record<string, unknown> = {};
        for (const [k, e] of Object.entries(x as object)) m[k] = f.convert ? f.convert(e, `${path}.${f.name}.${k}`) : e;
        out[f.name] = m;
      } else out[f.name] = f.convert ? f.convert(x, `${path}.${f.name}`) : x;
    }
    return out;
  };
  normalizers.set(type, n);
  return n;
}

function valueConverter(field: protobuf.Field): Normalizer | undefined {
  if (field.resolvedType instanceof protobuf.Type) {
    if (field.resolvedType.fullName === '.google.protobuf.Timestamp') return toTimestamp;
    const nested = field.resolvedType;
    return (v, path) => payloadNormalizer(nested)(v, path);
  }
  if (field.resolvedType instanceof protobuf.Enum) {
    const values = field.resolvedType.values;
    return (v, path) => {
      if (typeof v !== 'string') return v;
      if (!(v in values)) throw new EventPayloadError(`${path}: ${v} is not a value of ${field.resolvedType!.fullName.slice(1)}`);
      return values[v];
    };
  }
  if (/^(u|s)?int64$|^s?fixed64$/.test(field.type)) {
    const unsigned = field.type.startsWith('u') || field.type === 'fixed64';
    return (v, path) => {
      if (typeof v !== 'bigint' && typeof v !== 'string') return v;
      const text = v.toString();
      if (!/^-?\d+$/.test(text)) throw new EventPayloadError(`${path}: ${text} is not an integer`);
      return (protobuf.util.Long as unknown as { fromString(s: string, unsigned: boolean): unknown }).fromString(text, unsigned);
    };
  }
  if (field.type === 'bytes') return (v) => v;
  return undefined;
}

function toTimestamp(v: unknown, path: string): unknown {
  if (v instanceof Date) {
    const ms = v.getTime();
    if (Number.isNaN(ms)) throw new EventPayloadError(`${path} is an invalid Date`);
    return { seconds: Math.floor(ms / 1000), nanos: (((ms % 1000) + 1000) % 1000) * 1e6 };
  }
  if (typeof v === 'string') {
    try {
      return isoToTimestamp(v);
    } catch (err) {
      throw new EventPayloadError(`${path}: ${(err as Error).message}`);
    }
  }
  if (v instanceof PreciseTimestamp) return { seconds: Number(v.seconds), nanos: v.nanos };
  return v;
}

/** An event time as seconds + nanos (for the envelope and for ordering) and ISO text. */
export function eventTime(occurredAt: unknown): { seconds: number; nanos: number } {
  if (occurredAt instanceof Date) {
    const ms = occurredAt.getTime();
    if (Number.isNaN(ms)) throw new EventPayloadError('occurredAt is an invalid Date');
    return { seconds: Math.floor(ms / 1000), nanos: (((ms % 1000) + 1000) % 1000) * 1e6 };
  }
  if (typeof occurredAt === 'string') {
    try {
      return isoToTimestamp(occurredAt);
    } catch (err) {
      throw new EventPayloadError(`occurredAt: ${(err as Error).message}`);
    }
  }
  if (occurredAt instanceof PreciseTimestamp) return { seconds: Number(occurredAt.seconds), nanos: occurredAt.nanos };
  throw new EventPayloadError(`occurredAt must be a Date, an ISO-8601 string or a PreciseTimestamp, not ${occurredAt === null ? 'null' : typeof occurredAt}`);
}
