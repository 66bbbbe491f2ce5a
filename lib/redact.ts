// Credentials never reach logs, dump headers, manifests or error messages.
//
// Two layers. The patterns below mask what looks like a credential in any text (URL userinfo,
// `password=` pairs). They cannot know where a password ends once it holds a space or a quote, so
// the passwords of every connection string the process was given (flags, FERRY_* variables, the
// config's module URLs) are also remembered and masked wherever they appear, even on their own.

const MASK = '***';
/** The password of example URLs in messages (`postgres://user:password@host…`): left as it is. */
const PLACEHOLDER = 'password';
/** Schemes of connection URLs people give (ours and the ones they mistake for them). */
export const URL_SCHEMES = ['postgres', 'postgresql', 'mssql', 'sqlserver', 'amqp', 'amqps', 'mysql', 'mariadb', 'oracle', 'mongodb', 'redis', 'http', 'https'];
/** A URL never starts with `word=`: this is ADO/ODBC `Server=…;Password=…` or libpq `host=… password=…`. */
export const KEYWORD_STRING = /^\s*[a-z][a-z0-9 _]*=(?![^=]*:\/\/)/i;
/** Shorter remembered secrets are not masked on their own (a 2-letter password would eat words); the patterns still mask them. */
const MIN_SECRET = 3;
const secrets = new Set<string>();
let secretPattern: RegExp | undefined;

/** `postgres://user:secret@host/db` → `postgres://user:***@host/db`; also `Password=...;` pairs and remembered secrets. */
export function redact(text: string): string {
  if (secrets.size) text = text.replace(secretRegex(), MASK);
  // A value already masked (a message redacted twice) is left alone, with what follows it.
  const keep = (value: string) => value === PLACEHOLDER || /^\*\*\*[:;,.]?$/.test(value);
  return text
    // scheme://user:password@ (also the typos scheme:/, scheme:, scheme//), up to the token's last '@':
    // a password may hold an unencoded '@' or '/' (over-redacting is fine).
    .replace(/\b([a-z][a-z0-9+.-]*(?::\/{0,3}|\/\/)[^\s:@]*:)(\S*)@(?=[^\s@])/gi, (all, head: string, pw: string) => (keep(pw) ? all : `${head}${MASK}@`))
    // scheme://user:password without '@' (a password that runs into the host): everything after the user, unless it is a port.
    .replace(/\b([a-z][a-z0-9+.-]*(?::\/\/|\/\/)[^\s:@/]*:)(?!\d*(?:[/?#\s.,;:)]|$))([^\s@]+)(?=\s|$)/gi, (all, head: string, pw: string) => (keep(pw) ? all : `${head}${MASK}`))
    // password=value in ADO/ODBC/libpq keyword strings and URL query strings; quoted values whole.
    .replace(/\b(password|pwd)(\s*=\s*)('(?:[^'\\]|\\.)*'?|"(?:[^"]|"")*"?|\{(?:[^}]|\}\})*\}?|[^;&\s]*)/gi, (all, key: string, eq: string, pw: string) => (keep(pw) ? all : `${key}${eq}${MASK}`));
}

/**
 * Remembers the passwords in `values` (connection URLs, keyword strings; anything else is ignored)
 * so that `redact` masks them wherever they appear, whole or percent-decoded.
 */
export function rememberSecretsIn(...values: (string | undefined)[]): void {
  for (const value of values) {
    if (!value) continue;
    for (const secret of secretsIn(value)) remember(secret);
    // The URL parser's own encoding of the password, which a normalized URL (href) shows.
    try {
      const { username, password } = new URL(value.trim());
      if (password && password !== username) remember(password);
    } catch {
      // not a URL: its parts were found by hand above
    }
  }
}

/** A secret as typed, percent-decoded and percent-encoded: the forms a message may show. */
function remember(secret: string): void {
  const decoded = safeDecode(secret);
  for (const form of [secret, decoded, encodeURIComponent(secret), decoded === undefined ? undefined : encodeURIComponent(decoded)]) {
    if (form && form.length >= MIN_SECRET && form !== MASK && !secrets.has(form)) {
      secrets.add(form);
      secretPattern = undefined;
    }
  }
}

/** Remembers the passwords in the command line and in FERRY_* environment variables (the CLI calls it first). */
export function rememberProcessSecrets(argv: string[] = process.argv, env: NodeJS.ProcessEnv = process.env): void {
  rememberSecretsIn(...argv.map((a) => a.replace(/^--[\w-]+=/, '')));
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('FERRY_') || !value) continue;
    rememberSecretsIn(value);
    // A variable named for a secret is one whole.
    if (/PASSWORD|PASSWD|SECRET|TOKEN/i.test(name)) remember(value);
  }
}

/** Forgets the remembered secrets (tests). */
export function forgetSecrets(): void {
  secrets.clear();
  secretPattern = undefined;
}

/**
 * The password-like parts of one connection string: a URL's userinfo after its first ':' (even when
 * the URL does not parse: up to the last '@'; with no '@', what follows the user unless it is a
 * port), and the values of password=/pwd= pairs.
 */
export function secretsIn(value: string): string[] {
  const found: string[] = [];
  for (const m of value.matchAll(/(?:^|[;?&\s])\s*(?:password|pwd)\s*=\s*('(?:[^'\\]|\\.)*'|"(?:[^"]|"")*"|\{(?:[^}]|\}\})*\}|[^;&\s]*)/gi)) {
    found.push(unquote(m[1]));
  }
  const url = splitUserinfo(value);
  // A password equal to the user name is printed with the user anyway (guest:guest): masking it would hide the user.
  if (url?.password && url.password !== url.user) found.push(url.password);
  return found.filter(Boolean);
}

export interface UserinfoSplit {
  /** What comes before the user: the scheme and its slashes as typed ('' when there is none). */
  prefix: string;
  user: string;
  /** undefined when the userinfo has no ':' (a user name only). */
  password?: string;
  /** After the '@' (host, port, path, query); undefined when there is no '@'. */
  rest?: string;
}

/**
 * Splits a URL-like string by hand, the way a person reads it, so that it works on strings the URL
 * parser rejects: `postgres://u:p/w@h`, `postgres//u:p@h`, `postgres:u:p@h`, `u:p@h`.
 * Returns undefined for strings that are not URL-like (no scheme and no '@').
 */
export function splitUserinfo(value: string): UserinfoSplit | undefined {
  let scheme = /^\s*([a-z][a-z0-9+.-]*)(?::\/{0,3}|\/\/)/i.exec(value);
  // `user:pw@host`: a word and a colon is a scheme only if it is one (else the "scheme" is the user).
  if (scheme && !scheme[0].includes('/') && !URL_SCHEMES.includes(scheme[1].toLowerCase())) scheme = null;
  const prefix = scheme?.[0] ?? '';
  const at = value.lastIndexOf('@');
  if (at < 0) {
    if (!scheme || !scheme[0].includes('//')) return scheme ? { prefix, user: value.slice(prefix.length) } : undefined;
    // No '@': `scheme://user:xxx…` where xxx is not a port may be a password that runs into the host.
    const body = value.slice(prefix.length);
    const colon = body.indexOf(':');
    const slash = body.indexOf('/');
    if (colon < 0 || (slash >= 0 && slash < colon)) return { prefix, user: '' };
    const after = body.slice(colon + 1);
    if (/^\d*(?:[/?#]|$)/.test(after)) return { prefix, user: '' };
    return { prefix, user: body.slice(0, colon), password: after };
  }
  const userinfo = value.slice(prefix.length, at);
  const colon = userinfo.indexOf(':');
  return {
    prefix,
    user: colon < 0 ? userinfo : userinfo.slice(0, colon),
    password: colon < 0 ? undefined : userinfo.slice(colon + 1),
    rest: value.slice(at + 1),
  };
}

/** A connection string fit to show: the password of a URL (parsing or not) or of password= pairs masked. */
export function maskConnectionString(value: string): string {
  // `Server=…;Password=…` or `host=… password=…`: the password= pattern masks it whole.
  if (KEYWORD_STRING.test(value)) return redact(value);
  const url = splitUserinfo(value);
  let shown = value;
  if (url && url.password !== undefined) shown = `${url.prefix}${url.user}:${MASK}${url.rest === undefined ? '' : `@${url.rest}`}`;
  return redact(shown);
}

/** The parts of a connection URL that are safe to record: scheme, host, port and database. */
export function describeUrl(url: string): { scheme: string; server: string; database: string } {
  try {
    const u = new URL(url);
    return { scheme: u.protocol.replace(/:$/, ''), server: u.port ? `${u.hostname}:${u.port}` : u.hostname, database: decodeURIComponent(u.pathname.replace(/^\//, '')) };
  } catch {
    return { scheme: 'unknown', server: 'unknown', database: '' };
  }
}

function secretRegex(): RegExp {
  // Longest first, so a secret that holds another is masked whole.
  secretPattern ??= new RegExp([...secrets].sort((a, b) => b.length - a.length).map((s) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('|'), 'g');
  return secretPattern;
}

function unquote(v: string): string {
  if (v.length >= 2 && v.startsWith("'") && v.endsWith("'")) return v.slice(1, -1).replace(/\\(.)/g, '$1');
  if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) return v.slice(1, -1).replace(/""/g, '"');
  if (v.length >= 2 && v.startsWith('{') && v.endsWith('}')) return v.slice(1, -1).replace(/\}\}/g, '}');
  return v;
}

function safeDecode(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}
