// The scales and the members' life stories, kept as compact typed arrays (not rows) so every table
// generator can ask "who was around at time t" without a database round trip.
//
// Member ids follow registration time (an identity column), as they do in the real database.
import { DAY, HOUR, MINUTE, Rng, SITE_OPENED, SNAPSHOT, YEAR } from './random.ts';

// `quarter` is a quarter of `fi`: the e2e benchmark runs both to show that time grows linearly.
// `fiN` (also written `fi*N`) is N times `fi`: N times the members and every table, over the same
// years, so each member's life and habits follow the same distributions (the large country is
// about fi160 by events).
export type NamedScale = 'tiny' | 'small' | 'quarter' | 'fi';
export type ScaleName = NamedScale | `fi${number}`;
export const SCALES: readonly NamedScale[] = ['tiny', 'small', 'quarter', 'fi'];
/** Larger than this many times fi would not fit a 32-bit identity column in Messages. */
export const MAX_FI_MULTIPLE = 1000;

/** How many rows of the tables that do not follow from the members themselves. */
export interface ScaleSpec {
  /** Member ids handed out (some are purged later, leaving gaps). */
  members: number;
  messages: number;
  flirts: number;
  favorites: number;
  blocks: number;
  visits: number;
  abuseReports: number;
  /** How many times fi this is (1 for fi and the smaller scales). */
  fiMultiple: number;
}

export const SCALE_SPECS: Record<NamedScale, ScaleSpec> = {
  tiny: { members: 300, messages: 2_000, flirts: 500, favorites: 300, blocks: 40, visits: 2_500, abuseReports: 25, fiMultiple: 1 },
  small: { members: 2_000, messages: 50_000, flirts: 8_000, favorites: 5_000, blocks: 600, visits: 30_000, abuseReports: 300, fiMultiple: 1 },
  quarter: { members: 10_000, messages: 300_000, flirts: 50_000, favorites: 25_000, blocks: 2_500, visits: 150_000, abuseReports: 1_000, fiMultiple: 1 },
  fi: { members: 40_000, messages: 1_200_000, flirts: 200_000, favorites: 100_000, blocks: 10_000, visits: 600_000, abuseReports: 4_000, fiMultiple: 1 },
};

/**
 * The canonical name of a scale written as a user may write it (`fi10` and `fi*10` are the same
 * scale, named `fi10`; `fi1` is `fi`), or undefined when it is not a scale.
 */
export function parseScale(value: string): ScaleName | undefined {
  if ((SCALES as readonly string[]).includes(value)) return value as NamedScale;
  const m = /^fi\*?([1-9][0-9]*)$/.exec(value);
  if (!m || Number(m[1]) > MAX_FI_MULTIPLE) return undefined;
  return m[1] === '1' ? 'fi' : `fi${Number(m[1])}`;
}

/** Rows per table of a scale (canonical name, see parseScale). */
export function scaleSpec(scale: ScaleName): ScaleSpec {
  if (scale in SCALE_SPECS) return SCALE_SPECS[scale as NamedScale];
  const n = Number(scale.slice(2));
  if (!Number.isInteger(n) || n < 1 || n > MAX_FI_MULTIPLE) throw new Error(`not a scale: ${scale}`);
  const fi = SCALE_SPECS.fi;
  return {
    members: fi.members * n, messages: fi.messages * n, flirts: fi.flirts * n, favorites: fi.favorites * n,
    blocks: fi.blocks * n, visits: fi.visits * n, abuseReports: fi.abuseReports * n, fiMultiple: n,
  };
}

/** What --scale accepts, for help and error texts. */
export const SCALE_HELP = `${SCALES.join(', ')} or fiN / fi*N (N times fi, e.g. fi10)`;

export const SEED = 'ferry-dating-v1';

/** Test accounts from the site's first day: never purged nor deleted, active to the end. */
export const FOUNDERS = 5;

export const GENDER = { M: 0, F: 1, NULL: 2, m: 3, f: 4 } as const;
export const LANGS = ['fi', 'sv', 'en'] as const;

export class Population {
  readonly count: number;
  readonly registeredAt: Float64Array;
  /** Last moment the member did anything (LastSeenAt, unless that is NULL). */
  readonly activeUntil: Float64Array;
  /** NaN when not soft-deleted. */
  readonly deletedAt: Float64Array;
  /** Hard-deleted (GDPR purge): no Members row and no rows in tables with foreign keys. */
  readonly purged: Uint8Array;
  readonly gender: Uint8Array;
  /** How eagerly the member writes, flirts and visits, in (0, 1]. */
  readonly activity: Float64Array;
  /** How often others pick the member, in (0, 1]. */
  readonly popularity: Float64Array;
  readonly photoCount: Uint8Array;
  /** Bit i set: a profile text in LANGS[i]. */
  readonly langMask: Uint8Array;

  constructor(spec: ScaleSpec, seed = SEED) {
    const n = (this.count = spec.members);
    this.registeredAt = new Float64Array(n);
    this.activeUntil = new Float64Array(n);
    this.deletedAt = new Float64Array(n);
    this.purged = new Uint8Array(n);
    this.gender = new Uint8Array(n);
    this.activity = new Float64Array(n);
    this.popularity = new Float64Array(n);
    this.photoCount = new Uint8Array(n);
    this.langMask = new Uint8Array(n);
    const rng = new Rng(`${seed}:population`);
    const span = SNAPSHOT - SITE_OPENED - 30 * DAY;
    for (let i = 0; i < n; i++) {
      const founder = i < FOUNDERS;
      // Registrations grow over the years: time = curve((slot + jitter) / n) keeps ids in time order.
      const reg = founder ? SITE_OPENED + i * MINUTE : SITE_OPENED + Math.floor(span * growth((i + rng.next()) / n));
      this.registeredAt[i] = reg;
      const life = rng.next();
      let until: number;
      if (founder) until = SNAPSHOT - HOUR;
      else if (life < 0.3) until = reg + Math.floor(rng.next() * 30 * DAY); // tried it and left
      else if (life < 0.7) until = reg + Math.floor(rng.next() * 3 * YEAR);
      else until = SNAPSHOT - Math.floor(rng.next() * 7 * DAY); // still around
      this.activeUntil[i] = Math.max(reg + MINUTE, Math.min(until, SNAPSHOT - MINUTE));
      this.deletedAt[i] = NaN;
      if (!founder && this.activeUntil[i] < SNAPSHOT - 30 * DAY && rng.chance(0.25)) {
        this.deletedAt[i] = Math.min(this.activeUntil[i] + Math.floor(rng.next() * 200 * DAY), SNAPSHOT - HOUR);
      }
      this.purged[i] = !founder && rng.chance(0.01) ? 1 : 0;
      const g = rng.next();
      this.gender[i] = g < 0.48 ? GENDER.M : g < 0.94 ? GENDER.F : g < 0.97 ? GENDER.NULL : g < 0.985 ? GENDER.m : GENDER.f;
      const a = rng.next();
      this.activity[i] = founder ? 1 : 0.03 + 0.97 * a * a * a;
      const p = rng.next();
      this.popularity[i] = 0.1 + 0.9 * p * p;
      this.photoCount[i] = rng.weighted<number>([[0, 30], [1, 40], [2, 15], [3, 10], [5, 5]]);
      let mask = 0;
      if (rng.chance(0.9)) {
        if (rng.chance(0.8)) mask |= 1;
        if (rng.chance(0.15)) mask |= 2;
        if (rng.chance(0.25) || mask === 0) mask |= 4;
      }
      this.langMask[i] = mask;
    }
  }

  /** Members (by index) registered at or before t: a prefix, since ids follow registration. */
  registeredBy(t: number): number {
    let lo = 0, hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.registeredAt[mid] <= t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  isFemale(i: number): boolean {
    return this.gender[i] === GENDER.F || this.gender[i] === GENDER.f;
  }

  /**
   * Someone doing something at t (writing, flirting, visiting): registered and still active,
   * picked by activity. Purged members qualify only when `allowPurged` (tables without foreign keys).
   */
  pickActor(rng: Rng, t: number, allowPurged = false): number {
    const prefix = this.registeredBy(t);
    for (let tries = 0; tries < 200; tries++) {
      const i = rng.int(prefix);
      if ((this.purged[i] && !allowPurged) || this.activeUntil[i] < t || !(this.deletedAt[i] > t || Number.isNaN(this.deletedAt[i]))) continue;
      if (rng.next() < this.activity[i]) return i;
    }
    return rng.int(FOUNDERS);
  }

  /**
   * Someone on the receiving end at t: registered, not deleted by then, picked by popularity,
   * mostly of the other gender than `from`.
   */
  pickTarget(rng: Rng, t: number, from: number, allowPurged = false): number {
    const prefix = this.registeredBy(t);
    const wantFemale = !this.isFemale(from);
    for (let tries = 0; tries < 200; tries++) {
      const i = rng.int(prefix);
      if (i === from || (this.purged[i] && !allowPurged) || this.deletedAt[i] <= t) continue;
      if (this.isFemale(i) !== wantFemale && rng.next() < 0.9) continue;
      if (rng.next() < this.popularity[i]) return i;
    }
    return from === 0 ? 1 : 0;
  }

  /** A time for the k-th of n events spread over the site's life: in time order, denser later. */
  slotTime(rng: Rng, k: number, n: number): number {
    const start = this.registeredAt[FOUNDERS - 1] + HOUR;
    return start + Math.floor((SNAPSHOT - HOUR - start) * growth((k + rng.next()) / n));
  }
}

/** More happens in later years: a blend of linear and square-root time (density rises with time). */
function growth(u: number): number {
  return 0.35 * u + 0.65 * Math.sqrt(u);
}
