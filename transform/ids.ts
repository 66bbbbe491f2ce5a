// Deterministic ids: UUID version 5 (RFC 9562, SHA-1 of namespace + name), so the same legacy row
// gives the same ids on every run and machine, and other tools can compute them too.
import { createHash } from 'node:crypto';
import type { KeyValue } from './definition.ts';

/** Namespace of ctx.id(kind, ...key): name = kind and key values joined with ':'. */
export const FERRY_ID_NAMESPACE = '3b5e4f7a-1c2d-5e8f-9a0b-6c7d8e9f0a1b';
/** Namespace of event ids: name = table, key JSON, event type and index joined with '\n'. */
export const FERRY_EVENT_NAMESPACE = '9d8c7b6a-5f4e-5d3c-8b2a-1f0e9d8c7b6a';

const namespaceBytes = new Map<string, Buffer>();

export function uuidv5(name: string, namespace: string): string {
  let ns = namespaceBytes.get(namespace);
  if (!ns) namespaceBytes.set(namespace, (ns = Buffer.from(namespace.replace(/-/g, ''), 'hex')));
  const hash = createHash('sha1').update(ns).update(name, 'utf8').digest();
  hash[6] = (hash[6] & 0x0f) | 0x50;
  hash[8] = (hash[8] & 0x3f) | 0x80;
  const hex = hash.toString('hex', 0, 16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** The text form of a key value in ids: numbers and bigints alike, dates as ISO, bytes as hex, uuids lowercase. */
export function keyText(value: KeyValue): string {
  if (value === null) return 'null';
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.length).toString('hex');
  if (typeof value === 'string' && /^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/i.test(value)) return value.toLowerCase();
  return String(value);
}

/** ctx.id('member', 42) = uuidv5('member:42', FERRY_ID_NAMESPACE). */
export function entityId(kind: string, ...key: KeyValue[]): string {
  return uuidv5([kind, ...key.map(keyText)].join(':'), FERRY_ID_NAMESPACE);
}

/** Envelope id: from source table, primary key JSON, event type and index within the row. */
export function eventId(table: string, keyJson: string, type: string, index: number): string {
  return uuidv5(`${table}\n${keyJson}\n${type}\n${index}`, FERRY_EVENT_NAMESPACE);
}
