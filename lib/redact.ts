// Credentials never reach logs, dump headers, manifests or error messages.

/** `postgres://user:secret@host/db` → `postgres://user:***@host/db`; also `Password=...;` pairs. */
export function redact(text: string): string {
  return text
    // Up to the last '@' of the URL: a password may hold an unencoded '@' (over-redacting is fine).
    .replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)[^\s/]*@/gi, '$1***@')
    .replace(/\b(password|pwd)\s*=\s*[^;\s]*/gi, '$1=***');
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
