// ISO-8601 text of whole UTC seconds without a Date per value: hot loops (decoding event envelopes,
// writing COPY lines) format millions of timestamps that are mostly close together.

const PAD2 = Array.from({ length: 60 }, (_, i) => String(i).padStart(2, '0'));

/** Seconds since 1970 below which `isoSeconds` applies (the year 10000). */
export const MAX_ISO_SECONDS = 253_402_300_800;

let cachedDay = NaN;
let cachedDayText = '';

/**
 * `new Date(seconds * 1000).toISOString().slice(0, 19)` ("YYYY-MM-DDTHH:MM:SS") for whole seconds
 * from 0 to MAX_ISO_SECONDS: the date part is worked out once per day.
 */
export function isoSeconds(seconds: number): string {
  const day = Math.floor(seconds / 86_400);
  if (day !== cachedDay) {
    cachedDayText = new Date(day * 86_400_000).toISOString().slice(0, 11);
    cachedDay = day;
  }
  let t = seconds - day * 86_400;
  const hours = Math.floor(t / 3600);
  t -= hours * 3600;
  const minutes = Math.floor(t / 60);
  return `${cachedDayText}${PAD2[hours]}:${PAD2[minutes]}:${PAD2[t - minutes * 60]}`;
}

/** Fractions of whole milliseconds, ".123" / ".12" / ".1". */
const MILLIS = Array.from({ length: 1000 }, (_, i) => `.${String(i).padStart(3, '0')}`.replace(/0+$/, ''));

/**
 * The fraction of a second of ISO text: "." and nanos as nine digits without trailing zeros. Values
 * outside 1..999,999,999 (only damaged data has them) get the same text by the plain formula.
 */
export function isoFraction(nanos: number): string {
  if (!(nanos > 0 && nanos < 1e9)) return `.${String(nanos).padStart(9, '0').replace(/0+$/, '')}`;
  if (nanos % 1_000_000 === 0) return MILLIS[nanos / 1_000_000];
  let digits = String(nanos).padStart(9, '0');
  let end = 9;
  while (digits.charCodeAt(end - 1) === 48) end--;
  if (end < 9) digits = digits.slice(0, end);
  return `.${digits}`;
}
