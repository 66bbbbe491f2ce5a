// A point in time with nanosecond resolution: what the dumps keep of a datetime (SQL Server
// datetime2: 100 ns, PostgreSQL timestamp: 1 µs), which a JavaScript Date (1 ms) cannot hold.
// Transforms read it with ctx.precise(row, 'Column') and may put it wherever a Date goes (payload
// Timestamp fields, occurredAt); module handlers may write it into timestamp/timestamptz columns.
import { isoToTimestamp } from '../dumps/event-envelope.ts';
import { isoFraction } from './iso-time.ts';

/** Nanoseconds since 1970-01-01T00:00:00Z, split as google.protobuf.Timestamp splits them. */
export class PreciseTimestamp {
  /** Whole seconds since 1970-01-01T00:00:00Z (negative before). */
  readonly seconds: bigint;
  /** Nanoseconds within that second: 0 to 999,999,999. */
  readonly nanos: number;

  constructor(seconds: bigint | number, nanos = 0) {
    if (typeof seconds === 'number' && !Number.isSafeInteger(seconds)) throw new RangeError(`PreciseTimestamp seconds must be a whole number, not ${seconds}`);
    if (!Number.isInteger(nanos) || nanos < 0 || nanos > 999_999_999) throw new RangeError(`PreciseTimestamp nanos must be a whole number from 0 to 999999999, not ${nanos}`);
    this.seconds = BigInt(seconds);
    this.nanos = nanos;
  }

  /** The same instant as a Date (millisecond precision: the rest is dropped). */
  static fromDate(date: Date): PreciseTimestamp {
    const ms = date.getTime();
    if (Number.isNaN(ms)) throw new RangeError('PreciseTimestamp.fromDate: invalid Date');
    const seconds = Math.floor(ms / 1000);
    return new PreciseTimestamp(seconds, (ms - seconds * 1000) * 1e6);
  }

  /** ISO-8601 text with a zone and up to nine fraction digits: "2020-01-02T03:04:05.1234567Z". */
  static parse(iso: string): PreciseTimestamp {
    const t = isoToTimestamp(iso);
    return new PreciseTimestamp(t.seconds, t.nanos);
  }

  /**
   * A PreciseTimestamp of a Date, ISO text, a PreciseTimestamp or a decoded google.protobuf.Timestamp
   * (`{ seconds, nanos }`, seconds a number, bigint, decimal string or Long); null and undefined give null.
   */
  static from(value: Date | string | PreciseTimestamp | { seconds: unknown; nanos?: unknown } | null | undefined): PreciseTimestamp | null {
    if (value === null || value === undefined) return null;
    if (value instanceof PreciseTimestamp) return value;
    if (value instanceof Date) return PreciseTimestamp.fromDate(value);
    if (typeof value === 'string') return PreciseTimestamp.parse(value);
    if (typeof value === 'object' && 'seconds' in value) {
      const s = value.seconds;
      const seconds = typeof s === 'bigint' || typeof s === 'number' ? s : BigInt(String(s));
      return new PreciseTimestamp(seconds, Number(value.nanos ?? 0));
    }
    throw new TypeError(`PreciseTimestamp.from: ${typeof value} is not a Date, ISO-8601 text or { seconds, nanos }`);
  }

  /** ISO-8601 UTC, fraction digits as needed: "2020-01-02T03:04:05.123456Z" (years 1–9999). */
  toISOString(): string {
    const base = new Date(Number(this.seconds) * 1000).toISOString().slice(0, 19);
    return `${base}${this.nanos ? isoFraction(this.nanos) : ''}Z`;
  }

  /** The instant as a Date, rounded down to the millisecond. */
  toDate(): Date {
    return new Date(Number(this.seconds) * 1000 + Math.floor(this.nanos / 1e6));
  }

  /** Nanoseconds since 1970-01-01T00:00:00Z, for arithmetic and comparison. */
  epochNanos(): bigint {
    return this.seconds * 1_000_000_000n + BigInt(this.nanos);
  }

  toJSON(): string {
    return this.toISOString();
  }

  toString(): string {
    return this.toISOString();
  }
}
