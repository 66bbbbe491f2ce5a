// Deterministic randomness and the legacy clock.
//
// The same seed gives the same data on every run, machine and Node version: the generator uses
// only this PRNG (sfc32 over 32-bit integer arithmetic) and the exactly rounded operations of
// IEEE doubles (+, -, *, /, Math.sqrt, Math.floor) — never Math.random, Math.log or Math.pow,
// whose last bits may differ between engines — and formats datetimes without the machine's zone.

/** sfc32, seeded from a string through cyrb128: small, fast and good enough for test data. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: string) {
    let h1 = 1779033703, h2 = 3144134277, h3 = 1013904242, h4 = 2773480762;
    for (let i = 0; i < seed.length; i++) {
      const k = seed.charCodeAt(i);
      h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
      h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
      h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
      h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
    }
    h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
    h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
    h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
    h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
    this.a = (h1 ^ h2 ^ h3 ^ h4) >>> 0;
    this.b = (h2 ^ h1) >>> 0;
    this.c = (h3 ^ h1) >>> 0;
    this.d = (h4 ^ h1) >>> 0;
    for (let i = 0; i < 16; i++) this.uint32();
  }

  uint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.uint32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Uniform integer in [min, max]. */
  between(min: number, max: number): number {
    return min + this.int(max - min + 1);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  /** Picks from [item, weight] pairs. */
  weighted<T>(items: ReadonlyArray<readonly [T, number]>): T {
    let total = 0;
    for (const [, w] of items) total += w;
    let r = this.next() * total;
    for (const [item, w] of items) {
      r -= w;
      if (r < 0) return item;
    }
    return items[items.length - 1][0];
  }

  /** A random (version 4) UUID, lower case. */
  uuid(): string {
    const hex = (n: number) => n.toString(16).padStart(8, '0');
    const a = hex(this.uint32()), b = hex(this.uint32()), c = hex(this.uint32()), d = hex(this.uint32());
    const variant = ((parseInt(c[0], 16) & 0x3) | 0x8).toString(16);
    return `${a}-${b.slice(0, 4)}-4${b.slice(5, 8)}-${variant}${c.slice(1, 4)}-${c.slice(4)}${d}`;
  }
}

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;
export const YEAR = 365 * DAY;

/** The site opened on this instant (UTC)... */
export const SITE_OPENED = Date.UTC(2006, 0, 1, 8, 0, 0);
/** ...and the legacy database was copied on this one: nothing happens after it. */
export const SNAPSHOT = Date.UTC(2020, 1, 29, 10, 0, 0);

// Finland follows the EU rule: summer time (UTC+3) from the last Sunday of March 01:00 UTC to
// the last Sunday of October 01:00 UTC, otherwise UTC+2. Computed here rather than with Intl so
// that no machine's time-zone database can change the data.
const AVERAGE_YEAR = 31_556_952_000;
const summerTime = new Map<number, [number, number]>();
function lastSundayUtc(year: number, month: number): number {
  const lastDay = new Date(Date.UTC(year, month + 1, 0));
  return Date.UTC(year, month, lastDay.getUTCDate() - lastDay.getUTCDay(), 1, 0, 0);
}
export function helsinkiOffset(utcMs: number): number {
  // An approximate year is enough: the switches are months away from any new year.
  const year = 1970 + Math.floor(utcMs / AVERAGE_YEAR);
  let range = summerTime.get(year);
  if (!range) summerTime.set(year, (range = [lastSundayUtc(year, 2), lastSundayUtc(year, 9)]));
  return utcMs >= range[0] && utcMs < range[1] ? 3 * HOUR : 2 * HOUR;
}

/** SQL Server's datetime keeps 1/300 s: milliseconds end in 0, 3 or 7. */
export function roundToDatetime(ms: number): number {
  const ticks = Math.round((ms * 3) / 10);
  const third = ((ticks % 3) + 3) % 3;
  return Math.floor(ticks / 3) * 10 + (third === 0 ? 0 : third === 1 ? 3 : 7);
}

const TWO_DIGITS = Array.from({ length: 100 }, (_, i) => String(i).padStart(2, '0'));
const THREE_DIGITS = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));

/** 'YYYY-MM-DD' and the rest of the day, by integer arithmetic (no Date: millions of calls). */
function civil(ms: number): { date: string; msOfDay: number } {
  const days = Math.floor(ms / DAY);
  const msOfDay = ms - days * DAY;
  // Howard Hinnant's civil_from_days.
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  const y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  return { date: `${y}-${TWO_DIGITS[m]}-${TWO_DIGITS[d]}`, msOfDay };
}

/**
 * The wall-clock text GETDATE() would have stored in Helsinki for this UTC instant:
 * 'YYYY-MM-DD HH:MM:SS.mmm', no zone. In the autumn hour the clock goes back, two instants an
 * hour apart give the same text (a real wart for anyone converting back to UTC).
 */
export function helsinkiDatetime(utcMs: number): string {
  const { date, msOfDay } = civil(roundToDatetime(utcMs + helsinkiOffset(utcMs)));
  const seconds = Math.floor(msOfDay / 1000);
  return `${date} ${TWO_DIGITS[Math.floor(seconds / 3600)]}:${TWO_DIGITS[Math.floor(seconds / 60) % 60]}:${TWO_DIGITS[seconds % 60]}.${THREE_DIGITS[msOfDay - seconds * 1000]}`;
}

/** 'YYYY-MM-DD' of a UTC instant (dates of birth have no time and no zone). */
export function isoDate(utcMs: number): string {
  return new Date(utcMs).toISOString().slice(0, 10);
}

/** An exact decimal text from an integer count of 10^-scale units (no float ever sees a decimal). */
export function decimalText(units: number, scale: number): string {
  const sign = units < 0 ? '-' : '';
  const abs = Math.abs(units);
  const unit = 10 ** scale;
  return `${sign}${Math.floor(abs / unit)}.${String(abs % unit).padStart(scale, '0')}`;
}
