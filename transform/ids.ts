// Deterministic ids: UUID version 5 (RFC 9562, SHA-1 of namespace + name), so the same legacy row
// gives the same ids on every run and machine, and other tools can compute them too.
import type { KeyValue } from './definition.ts';
import { sha1 } from './sha1.ts';

/** Namespace of ctx.id(kind, ...key): name = kind and key values joined with ':'. */
export const FERRY_ID_NAMESPACE = '3b5e4f7a-1c2d-5e8f-9a0b-6c7d8e9f0a1b';
/** Namespace of event ids: name = table, key JSON, event type and index joined with '\n'. */
export const FERRY_EVENT_NAMESPACE = '9d8c7b6a-5f4e-5d3c-8b2a-1f0e9d8c7b6a';

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
let input = Buffer.alloc(1024);
const digest = new Uint8Array(20);
const namespaces = new Map<string, Buffer>();

export function uuidv5(name: string, namespace: string): string {
  const needed = 16 + Buffer.byteLength(name, 'utf8');
  if (input.length < needed) input = Buffer.alloc(needed * 2);
  let ns = namespaces.get(namespace);
  if (!ns) namespaces.set(namespace, (ns = Buffer.from(namespace.replace(/-/g, ''), 'hex')));
  ns.copy(input, 0);
  input.write(name, 16, 'utf8');
  sha1(input, needed, digest);
  digest[6] = (digest[6] & 0x0f) | 0x50;
  digest[8] = (digest[8] & 0x3f) | 0x80;
  const d = digest;
  return HEX[d[0]] + HEX[d[1]] + HEX[d[2]] + HEX[d[3]] + '-' + HEX[d[4]] + HEX[d[5]] + '-' + HEX[d[6]] + HEX[d[7]] + '-' +
    HEX[d[8]] + HEX[d[9]] + '-' + HEX[d[10]] + HEX[d[11]] + HEX[d[12]] + HEX[d[13]] + HEX[d[14]] + HEX[d[15]];
}

/** The text form of a key value in ids: numbers and bigints alike, dates as ISO, bytes as hex, uuids lowercase. */
export function keyText(value: KeyValue): string {
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (value === null) return 'null';
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.length).toString('hex');
  if (typeof value === 'string' && /^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/i.test(value)) return value.toLowerCase();
  return String(value);
}

/** ctx.id('member', 42) = uuidv5('member:42', FERRY_ID_NAMESPACE). */
export function entityId(kind: string, ...key: KeyValue[]): string {
  let name = key.length === 1 ? kind + ':' + keyText(key[0]) : kind;
  if (key.length > 1) for (let i = 0; i < key.length; i++) name += ':' + keyText(key[i]);
  // Rows refer to the same entities again and again (a member's messages, favorites, ...).
  let id = idCache.get(name);
  if (id === undefined) {
    if (idCache.size >= ID_CACHE_SIZE) idCache.clear();
    id = uuidv5(name, FERRY_ID_NAMESPACE);
    idCache.set(name, id);
  }
  return id;
}

const ID_CACHE_SIZE = 100_000;
const idCache = new Map<string, string>();

/** Envelope id: from source table, primary key JSON, event type and index within the row. */
export function eventId(table: string, keyJson: string, type: string, index: number): string {
  return uuidv5(`${table}\n${keyJson}\n${type}\n${index}`, FERRY_EVENT_NAMESPACE);
}
