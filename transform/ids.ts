// Deterministic ids: UUID version 5 (RFC 9562, SHA-1 of namespace + name), so the same legacy row
// gives the same ids on every run and machine, and other tools can compute them too.
//
// This is on the hot path (a few ids per row), so names are written straight into a per-namespace
// message buffer (no string concatenation, no Buffer.write for ASCII), hashed in place, and the
// UUID text is made with one latin1 slice; event ids can skip the text entirely (writeUuidHex).
import type { KeyValue } from '../api/transform.ts';
import { paddedLength, sha1 } from './sha1.ts';

/** Namespace of ctx.id(kind, ...key): name = kind and key values joined with ':'. */
export const FERRY_ID_NAMESPACE = '3b5e4f7a-1c2d-5e8f-9a0b-6c7d8e9f0a1b';
/** Namespace of event ids: name = table, key JSON, event type and index joined with '\n'. */
export const FERRY_EVENT_NAMESPACE = '9d8c7b6a-5f4e-5d3c-8b2a-1f0e9d8c7b6a';

/** Lowercase hex digits of each byte value, as character codes: HEX_CODES[2b], HEX_CODES[2b + 1]. */
const HEX_CODES = new Uint8Array(512);
for (let i = 0; i < 256; i++) {
  const h = i.toString(16).padStart(2, '0');
  HEX_CODES[2 * i] = h.charCodeAt(0);
  HEX_CODES[2 * i + 1] = h.charCodeAt(1);
}
const DASH = 0x2d;

/** SHA-1 output; its first 16 bytes are the UUID once the version and variant bits are set. */
const digest = new Uint8Array(20);
const text = Buffer.alloc(36) as Buffer & { latin1Slice(start: number, end: number): string };

/** A namespace's message buffer: the 16 namespace bytes, then room for a name and the SHA-1 padding. */
class NameBuffer {
  buf: Buffer;
  pos = 16;
  constructor(private readonly ns: Buffer) {
    this.buf = Buffer.alloc(256);
    ns.copy(this.buf, 0);
  }

  reset(): void {
    this.pos = 16;
  }

  /** Appends the UTF-8 bytes of `s`. */
  add(s: string): void {
    const n = s.length;
    this.room(n * 3);
    const buf = this.buf;
    let p = this.pos;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) {
        this.pos = p + buf.write(s.slice(i), p, 'utf8');
        return;
      }
      buf[p++] = c;
    }
    this.pos = p;
  }

  /** Appends a key value (or an event's index) as keyText writes it; integers without making their text first. */
  addKey(value: KeyValue): void {
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) return this.add(keyText(value));
    let n = value;
    if (n < 0) {
      this.addByte(0x2d); // '-'
      n = -n;
    }
    let digits = 1;
    for (let rest = n; rest >= 10; rest = Math.floor(rest / 10)) digits++;
    this.room(digits);
    const buf = this.buf;
    for (let p = this.pos + digits - 1; p >= this.pos; p--) {
      buf[p] = 0x30 + (n % 10);
      n = Math.floor(n / 10);
    }
    this.pos += digits;
  }

  addByte(b: number): void {
    this.room(1);
    this.buf[this.pos++] = b;
  }

  /** Hashes namespace + name into `digest` and sets the version 5 and variant bits. */
  hash(): Uint8Array {
    this.room(0);
    sha1(this.buf, this.pos, digest);
    digest[6] = (digest[6] & 0x0f) | 0x50;
    digest[8] = (digest[8] & 0x3f) | 0x80;
    return digest;
  }

  private room(more: number): void {
    const needed = paddedLength(this.pos + more);
    if (this.buf.length >= needed) return;
    const bigger = Buffer.alloc(needed * 2);
    this.buf.copy(bigger, 0, 0, this.pos);
    this.buf = bigger;
  }
}

const names = new Map<string, NameBuffer>();
function nameBuffer(namespace: string): NameBuffer {
  let b = names.get(namespace);
  if (!b) names.set(namespace, (b = new NameBuffer(Buffer.from(namespace.replace(/-/g, ''), 'hex'))));
  b.reset();
  return b;
}
const entityNames = nameBuffer(FERRY_ID_NAMESPACE);
const eventNames = nameBuffer(FERRY_EVENT_NAMESPACE);

/** Writes the 36-character text of the UUID in `d[0, 16)` at `out[pos]`. */
export function writeUuidHex(d: Uint8Array, out: Uint8Array, pos: number): void {
  let p = pos;
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) out[p++] = DASH;
    out[p++] = HEX_CODES[2 * d[i]];
    out[p++] = HEX_CODES[2 * d[i] + 1];
  }
}

function uuidText(d: Uint8Array): string {
  writeUuidHex(d, text, 0);
  return text.latin1Slice(0, 36);
}

export function uuidv5(name: string, namespace: string): string {
  const b = nameBuffer(namespace);
  b.add(name);
  return uuidText(b.hash());
}

/** The text form of a key value in ids: numbers and bigints alike, dates as ISO, bytes as hex, uuids lowercase. */
export function keyText(value: KeyValue): string {
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (value === null) return 'null';
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.length).toString('hex');
  if (typeof value === 'string' && value.length === 36 && /^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/i.test(value)) return value.toLowerCase();
  return String(value);
}

/**
 * Per kind, a cache of ids by key value: rows refer to the same entities again and again (a
 * member's messages, favorites, ...). A kind whose keys hardly repeat (each message's own id)
 * stops filling its cache, so it neither costs inserts nor pushes out the ids that do repeat.
 */
class KindCache {
  /** Ids of small non-negative integer keys (most legacy ids), by key: cheaper than a Map. */
  private small: Array<string | undefined> = [];
  private readonly ids = new Map<number | string, string>();
  private size = 0;
  private lookups = 0;
  private hits = 0;
  /** Windows left without caching (0: caching). */
  private off = 0;

  get(key: number | string): string | undefined {
    const id = typeof key === 'number' && key >= 0 && key < SMALL_KEYS && (key | 0) === key ? this.small[key] : this.ids.get(key);
    if (id !== undefined) this.hits++;
    if (++this.lookups === CACHE_WINDOW) {
      if (this.off > 0) this.off--;
      else if (this.hits * 16 < CACHE_WINDOW) {
        // Hardly any repeats in this window: stop caching this kind for a while, then look again.
        this.off = CACHE_OFF_WINDOWS;
        this.clear();
      }
      this.lookups = 0;
      this.hits = 0;
    }
    return id;
  }

  set(key: number | string, id: string): void {
    if (this.off > 0) return;
    if (this.size >= CACHE_SIZE) this.clear();
    this.size++;
    if (typeof key === 'number' && key >= 0 && key < SMALL_KEYS && (key | 0) === key) {
      if (key >= this.small.length) {
        // Grown by copying into a preallocated array, so it stays a dense (holey) array, not a dictionary.
        const bigger = new Array<string | undefined>(Math.min(SMALL_KEYS, Math.max(1024, key + 1, this.small.length * 2)));
        for (let i = 0; i < this.small.length; i++) bigger[i] = this.small[i];
        this.small = bigger;
      }
      this.small[key] = id;
    } else this.ids.set(key, id);
  }

  private clear(): void {
    this.small = [];
    this.ids.clear();
    this.size = 0;
  }
}
/** Integer keys below this are cached in an array (at most 8 MiB of slots per kind). */
const SMALL_KEYS = 1 << 20;
const CACHE_SIZE = 100_000;
const CACHE_WINDOW = CACHE_SIZE;
const CACHE_OFF_WINDOWS = 8;
const caches = new Map<string, KindCache>();

/** ctx.id('member', 42) = uuidv5('member:42', FERRY_ID_NAMESPACE). */
export function entityId(kind: string, ...key: KeyValue[]): string {
  if (key.length === 2) return pairId(kind, key);
  if (key.length !== 1) return computeEntityId(kind, key);
  let k = key[0];
  if (typeof k === 'bigint') k = k >= -MAX_SAFE && k <= MAX_SAFE ? Number(k) : String(k);
  if (typeof k !== 'number' && typeof k !== 'string') return computeEntityId(kind, key);
  let cache = caches.get(kind);
  if (!cache) caches.set(kind, (cache = new KindCache()));
  let id = cache.get(k);
  if (id === undefined) {
    id = computeEntityId(kind, [k]);
    cache.set(k, id);
  }
  return id;
}
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * Ids of two-part keys (a conversation is a pair of members): pairs of small non-negative
 * integers are cached as one number, a * 2^26 + b; other pairs are computed every time.
 */
function pairId(kind: string, key: KeyValue[]): string {
  const a = smallInteger(key[0]);
  const b = smallInteger(key[1]);
  if (a < 0 || b < 0) return computeEntityId(kind, key);
  let cache = pairCaches.get(kind);
  if (!cache) pairCaches.set(kind, (cache = new KindCache()));
  const k = a * PAIR_FACTOR + b;
  let id = cache.get(k);
  if (id === undefined) {
    id = computeEntityId(kind, [a, b]);
    cache.set(k, id);
  }
  return id;
}
const PAIR_FACTOR = 2 ** 26;
const PAIR_FACTOR_BIG = BigInt(PAIR_FACTOR);
const pairCaches = new Map<string, KindCache>();

/** The value as a number when it is an integer in [0, 2^26), else -1. */
function smallInteger(v: KeyValue): number {
  const n = typeof v === 'bigint' ? (v >= 0n && v < PAIR_FACTOR_BIG ? Number(v) : -1) : v;
  return typeof n === 'number' && n >= 0 && n < PAIR_FACTOR && (n | 0) === n ? n : -1;
}

function computeEntityId(kind: string, key: readonly KeyValue[]): string {
  const b = entityNames;
  b.reset();
  b.add(kind);
  for (let i = 0; i < key.length; i++) {
    b.addByte(0x3a); // ':'
    b.addKey(key[i]);
  }
  return uuidText(b.hash());
}

/**
 * The UUID bytes of an envelope id (in the first 16 bytes of the returned buffer, which the next
 * call overwrites): from source table, primary key JSON, event type and index within the row.
 */
export function eventIdDigest(table: string, keyJson: string, type: string, index: number): Uint8Array {
  const b = eventNames;
  b.reset();
  b.add(table);
  b.addByte(0x0a);
  b.add(keyJson);
  b.addByte(0x0a);
  b.add(type);
  b.addByte(0x0a);
  b.addKey(index);
  return b.hash();
}

/** Envelope id: from source table, primary key JSON, event type and index within the row. */
export function eventId(table: string, keyJson: string, type: string, index: number): string {
  return uuidText(eventIdDigest(table, keyJson, type, index));
}
