// Value conversions shared by the sources: exact timestamps (nanoseconds, any zone), int64 and
// uuid text. Nothing here goes through a JS Date's millisecond precision.
import protobuf from 'protobufjs';

type Long = protobuf.Long;

export interface ProtoTimestamp {
  seconds: number;
  nanos: number;
}

/**
 * The instants a google.protobuf.Timestamp may hold: 0001-01-01T00:00:00Z to
 * 9999-12-31T23:59:59.999999999Z (its documented range; other runtimes refuse values outside it,
 * e.g. Python's ToDatetime). A wall-clock 0001-01-01 00:00 read in a zone east of UTC falls before
 * it, year 10000 of PostgreSQL after it.
 */
export const MIN_TIMESTAMP_SECONDS = -62_135_596_800;
export const MAX_TIMESTAMP_SECONDS = 253_402_300_799;

/**
 * Policy for instants outside that range: the row is refused (never a field other runtimes cannot
 * read, never a silently moved value). Sources call this for every timestamp they convert and add
 * table, column and row key to the message.
 */
export function checkTimestampRange(seconds: number, what: () => string): void {
  if (seconds >= MIN_TIMESTAMP_SECONDS && seconds <= MAX_TIMESTAMP_SECONDS) return;
  throw new RangeError(
    `${what()} is ${seconds < MIN_TIMESTAMP_SECONDS ? 'before 0001-01-01T00:00:00Z' : 'after 9999-12-31T23:59:59Z'} in UTC, outside what a dump's ` +
      `google.protobuf.Timestamp can hold; read the column as text with --cast (or fix the value, or extract with another --source-timezone)`,
  );
}

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
export function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** Fraction digits ("1234567") → nanoseconds (123456700). */
export function fractionToNanos(digits: string | undefined): number {
  if (!digits) return 0;
  return Number((digits + '000000000').slice(0, 9));
}

const TIMESTAMP_TEXT = /^(\d{4,})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(?:([+-])(\d\d)(?::?(\d\d))?(?::?(\d\d))?|Z)?$/;

export interface ParsedTimestamp {
  /** Seconds since the epoch of the wall-clock fields read as UTC. */
  wallSeconds: number;
  nanos: number;
  /** Offset in seconds when the text carried one. */
  offsetSeconds?: number;
}

const ZERO = 48;
const POW10 = [1e9, 1e8, 1e7, 1e6, 1e5, 1e4, 1e3, 100, 10, 1];

function digitAt(text: string, i: number): number {
  return text.charCodeAt(i) - ZERO;
}

/** Parses ISO-like timestamp text (PostgreSQL's ISO DateStyle, SQL Server style 126); undefined if it is not one. */
export function parseTimestampText(text: string): ParsedTimestamp | undefined {
  // Fast path for the common `YYYY-MM-DD HH:MM:SS[.f…]` without an offset (a million rows per run).
  const n = text.length;
  if (n >= 19 && n <= 29 && text.charCodeAt(4) === 45 && text.charCodeAt(7) === 45 && text.charCodeAt(13) === 58 && text.charCodeAt(16) === 58 && (n === 19 || text.charCodeAt(19) === 46)) {
    let nanos = 0;
    let ok = true;
    for (let i = 20; i < n; i++) {
      const c = digitAt(text, i);
      if (c < 0 || c > 9) {
        ok = false;
        break;
      }
      nanos = nanos * 10 + c;
    }
    if (ok && (n === 19 || n > 20)) {
      nanos *= POW10[n - 20 < 0 ? 9 : n - 20];
      const y = digitAt(text, 0) * 1000 + digitAt(text, 1) * 100 + digitAt(text, 2) * 10 + digitAt(text, 3);
      const days = daysFromCivil(y, digitAt(text, 5) * 10 + digitAt(text, 6), digitAt(text, 8) * 10 + digitAt(text, 9));
      const wallSeconds = days * 86400 + (digitAt(text, 11) * 10 + digitAt(text, 12)) * 3600 + (digitAt(text, 14) * 10 + digitAt(text, 15)) * 60 + digitAt(text, 17) * 10 + digitAt(text, 18);
      if (Number.isFinite(wallSeconds)) return { wallSeconds, nanos: n === 19 ? 0 : nanos };
    }
  }
  const m = TIMESTAMP_TEXT.exec(text);
  if (!m) return undefined;
  const days = daysFromCivil(Number(m[1]), Number(m[2]), Number(m[3]));
  const wallSeconds = days * 86400 + Number(m[4]) * 3600 + Number(m[5]) * 60 + Number(m[6]);
  let offsetSeconds: number | undefined;
  if (m[8]) {
    offsetSeconds = (Number(m[9]) * 3600 + Number(m[10] ?? 0) * 60 + Number(m[11] ?? 0)) * (m[8] === '-' ? -1 : 1);
  } else if (text.endsWith('Z')) {
    offsetSeconds = 0;
  }
  return { wallSeconds, nanos: fractionToNanos(m[7]), offsetSeconds };
}

/**
 * Turns wall-clock seconds in an IANA zone into UTC epoch seconds. Offsets are looked up with
 * Intl and cached per quarter hour of wall time (every zone's transitions fall on quarter hours).
 * A wall time that occurs twice (the hour repeated when DST ends) is read as standard time (the
 * later instant); one that does not exist (skipped by DST) moves forward by the gap. Both as
 * PostgreSQL's `timestamp AT TIME ZONE` does.
 */
export class WallClock {
  private readonly cache = new Map<number, number>();
  private readonly dayCache = new Map<number, number | null>();
  private readonly format?: Intl.DateTimeFormat;
  readonly utc: boolean;

  constructor(readonly timeZone: string) {
    this.utc = /^(utc|etc\/utc|z|gmt|etc\/gmt)$/i.test(timeZone);
    if (!this.utc) {
      this.format = new Intl.DateTimeFormat('en-US', {
        timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric', era: 'short',
      });
    }
  }

  /** Throws a RangeError for a zone name Intl does not know. */
  static check(timeZone: string): void {
    new Intl.DateTimeFormat('en-US', { timeZone });
  }

  toUtcSeconds(wallSeconds: number): number {
    if (this.utc) return wallSeconds;
    // Most days have one offset all day: cache those per day (a few thousand entries for decades of
    // data), and look closer only on days near a transition.
    const day = Math.floor(wallSeconds / 86400);
    let dayOffset = this.dayCache.get(day);
    if (dayOffset === undefined) {
      const before = this.offsetAt(day * 86400 - 2 * 86400);
      const after = this.offsetAt(day * 86400 + 3 * 86400);
      dayOffset = before === after ? before : null;
      this.dayCache.set(day, dayOffset);
    }
    if (dayOffset !== null) return wallSeconds - dayOffset;
    const bucket = Math.floor(wallSeconds / 900);
    let offset = this.cache.get(bucket);
    if (offset === undefined) {
      const wall = bucket * 900;
      // Try the offsets in effect a day around; of those that give back this wall time, the smaller
      // (standard time) wins, as in PostgreSQL's `AT TIME ZONE`.
      const candidates = [this.offsetAt(wall - 86400), this.offsetAt(wall + 86400), this.offsetAt(wall)];
      const matching = candidates.filter((o) => this.offsetAt(wall - o) === o).sort((a, b) => a - b);
      offset = matching[0] ?? Math.min(...candidates);
      if (this.cache.size > 100_000) this.cache.clear();
      this.cache.set(bucket, offset);
    }
    return wallSeconds - offset;
  }

  /** Offset (seconds east of UTC) of the zone at a UTC instant. */
  offsetAt(utcSeconds: number): number {
    const parts = this.format!.formatToParts(new Date(utcSeconds * 1000));
    const get = (type: string) => Number(parts.find((p) => p.type === type)?.value);
    let year = get('year');
    if (parts.find((p) => p.type === 'era')?.value === 'BC') year = 1 - year;
    const asUtc = daysFromCivil(year, get('month'), get('day')) * 86400 + get('hour') * 3600 + get('minute') * 60 + get('second');
    return asUtc - utcSeconds;
  }
}

/** int64 text → a number when exact, else a Long (protobufjs writes both). */
export function int64FromText(text: string): number | Long {
  if (text.length < 16) return Number(text);
  return (protobuf.util.Long as unknown as { fromString(s: string): Long }).fromString(text);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function canonicalUuid(text: string): string {
  const lower = text.toLowerCase();
  if (!UUID.test(lower)) throw new Error(`not a uuid: ${text}`);
  return lower;
}

export function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

/** Epoch seconds of a day → `YYYY-MM-DD` (years 1..9999). */
export function civilDate(days: number): string {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp + (mp < 10 ? 3 : -9);
  const y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  return `${pad(y, 4)}-${pad(m, 2)}-${pad(d, 2)}`;
}
