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
