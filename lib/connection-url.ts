// Connection URLs given by users (--from, --url, FERRY_* variables, module urls in the config) are
// checked here before anything else happens, so a typo is reported at once, in one line that says
// what is wrong, with the password masked however broken the URL is.
import { UserError } from './errors.ts';
import { KEYWORD_STRING, URL_SCHEMES, maskConnectionString, rememberSecretsIn, splitUserinfo } from './redact.ts';

export interface UrlKind {
  /** Lower-case schemes accepted, e.g. ['postgres', 'postgresql']. */
  schemes: readonly string[];
  /** What the URL points at, for messages: "a PostgreSQL server". */
  what: string;
  example: string;
}

export const SOURCE_URL: UrlKind = { schemes: ['postgres', 'postgresql', 'mssql', 'sqlserver'], what: 'a PostgreSQL or SQL Server database', example: 'mssql://user:password@host:1433/database or postgres://user:password@host:5432/database' };
export const POSTGRES_URL: UrlKind = { schemes: ['postgres', 'postgresql'], what: 'a PostgreSQL server', example: 'postgres://user:password@host:5432/database' };
export const AMQP_URL: UrlKind = { schemes: ['amqp', 'amqps'], what: 'a RabbitMQ broker', example: 'amqp://user:password@host:5672/vhost' };

/** Characters that end the userinfo early in a URL parser, and how to write them. */
const MUST_ENCODE: Record<string, string> = { '/': '%2F', '?': '%3F', '#': '%23' };

/**
 * Parses `raw` as a URL of `kind`, or throws a UserError naming `label` (the flag or variable it came
 * from) that shows the URL with its password masked and says what to change. On success the
 * password is remembered, so that redact() masks it in any later message.
 */
export function checkConnectionUrl(raw: string, label: string, kind: UrlKind): URL {
  rememberSecretsIn(raw);
  const problem = urlProblem(raw, kind);
  if (problem) throw new UserError(`${label} ${raw.trim() ? maskConnectionString(raw) : '(empty)'}: ${problem}`);
  return new URL(raw);
}

/** What is wrong with `raw` as a URL of `kind`, or undefined when it is right. */
export function urlProblem(raw: string, kind: UrlKind): string | undefined {
  const value = raw.trim();
  if (!value) return `give a URL such as ${kind.example}`;
  const schemes = kind.schemes.map((s) => `${s}://`).join(' or ');
  if (KEYWORD_STRING.test(value)) {
    return `this is a keyword=value connection string; give a URL instead, such as ${kind.example} (percent-encode special characters of the password)`;
  }
  const schemeMatch = /^([a-z][a-z0-9+.-]*)(:\/\/|:\/{0,1}(?!\/)|\/\/?)/i.exec(value);
  const split = splitUserinfo(value);
  const scheme = schemeMatch?.[1].toLowerCase() ?? '';
  // `user:pw@host` or `localhost/db`: what comes first is no scheme anybody meant.
  if (!schemeMatch || (schemeMatch[2] !== '://' && !URL_SCHEMES.includes(scheme))) {
    return `no scheme: it must start with ${schemes} (${kind.example})`;
  }
  if (schemeMatch[2] !== '://') return `missing '://' after "${schemeMatch[1]}" (write ${scheme}://…)`;
  if (!kind.schemes.includes(scheme)) return `"${scheme}://" is not ${kind.what}: use ${schemes}`;
  if (split?.rest === undefined && split?.password !== undefined) {
    return `missing '@' between the password and the host (${kind.example})`;
  }
  if (split?.rest !== undefined) {
    const encode = [
      ...partProblems(split.user, 'user name'),
      ...(split.password === undefined ? [] : partProblems(split.password, 'password')),
    ];
    if (encode.length) return encode.join('; ');
  }
  const afterScheme = value.slice(schemeMatch[0].length);
  const hostPart = (split?.rest ?? afterScheme).split(/[/?#]/, 1)[0];
  if (split?.rest !== undefined && !hostPart) return `no host after '@' (${kind.example})`;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    const port = /:([^:\]]*)$/.exec(hostPart)?.[1];
    if (port !== undefined && !/^\d+$/.test(port)) return `the port "${port}" is not a number`;
    if (port !== undefined && Number(port) > 65535) return `the port ${port} is out of range (1-65535)`;
    return `not a valid URL (expected ${kind.example})`;
  }
  if (!url.hostname && split?.rest !== undefined) return `no host after '@' (${kind.example})`;
  for (const [part, name] of [[url.username, 'user name'], [url.password, 'password']] as const) {
    try {
      decodeURIComponent(part);
    } catch {
      return `percent-encode '%' in the ${name} as %25`;
    }
  }
  return undefined;
}

function partProblems(part: string, name: string): string[] {
  const found: string[] = [];
  for (const [ch, code] of Object.entries(MUST_ENCODE)) if (part.includes(ch)) found.push(`'${ch}' as ${code}`);
  if (/%(?![0-9a-f]{2})/i.test(part)) found.push(`'%' as %25`);
  if (!found.length) return [];
  const [first, ...others] = found;
  const [ch, as] = first.split(' as ');
  return [`percent-encode ${ch} in the ${name} as ${as}${others.length ? ` and ${others.join(' and ')}` : ''}`];
}
