// Cleaning rules for the legacy data's dirty values, shared by the transforms. Pure functions.

/** 'M'/'m' → male, 'F'/'f' → female, NULL → unspecified. */
export function gender(value: string | null): 'GENDER_MALE' | 'GENDER_FEMALE' | 'GENDER_UNSPECIFIED' {
  const g = value?.trim().toUpperCase();
  return g === 'M' ? 'GENDER_MALE' : g === 'F' ? 'GENDER_FEMALE' : 'GENDER_UNSPECIFIED';
}

/** '  JYVÄSKYLÄ ' → 'Jyväskylä'; NULL or blank → unset. */
export function cleanCity(value: string | null): string | undefined {
  const city = value?.trim();
  if (!city) return undefined;
  return city === city.toUpperCase() ? city.charAt(0) + city.slice(1).toLowerCase() : city;
}

const REASONS: Record<string, 'REASON_CODE_SPAM' | 'REASON_CODE_FAKE_PROFILE' | 'REASON_CODE_HARASSMENT' | 'REASON_CODE_UNDERAGE' | 'REASON_CODE_SCAM' | 'REASON_CODE_OTHER'> = {
  spam: 'REASON_CODE_SPAM',
  fake: 'REASON_CODE_FAKE_PROFILE',
  'fake profile': 'REASON_CODE_FAKE_PROFILE',
  harassment: 'REASON_CODE_HARASSMENT',
  häirintä: 'REASON_CODE_HARASSMENT',
  underage: 'REASON_CODE_UNDERAGE',
  scam: 'REASON_CODE_SCAM',
  huijaus: 'REASON_CODE_SCAM',
};

/** Free-typed abuse reasons ('spam', 'SPAM ', 'Häirintä') → a reason code; anything else is OTHER. */
export function reasonCode(text: string) {
  return REASONS[text.trim().toLowerCase()] ?? 'REASON_CODE_OTHER';
}

/** Old photos have relative urls (/uploads/…): resolve them against the old site. */
export function absoluteUrl(url: string): string {
  return url.startsWith('/') ? `https://kuvat.example.fi${url}` : url;
}

/** Flirt kinds 1–4 and the retired superflirt 9; anything else is unspecified. */
export function flirtKind(kind: number) {
  switch (kind) {
    case 1: return 'FLIRT_KIND_WINK' as const;
    case 2: return 'FLIRT_KIND_SMILE' as const;
    case 3: return 'FLIRT_KIND_ROSE' as const;
    case 4: return 'FLIRT_KIND_KISS' as const;
    case 9: return 'FLIRT_KIND_SUPERFLIRT' as const;
    default: return 'FLIRT_KIND_UNSPECIFIED' as const;
  }
}
