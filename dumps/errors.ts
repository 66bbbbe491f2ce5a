/** Where in a dump file a problem was found. Every field is optional: say what is known. */
export interface DumpLocation {
  file?: string;
  block?: number;
  /** Byte offset in the file (compressed bytes) where the bad part starts. */
  offset?: number;
  /** Index of the record inside its block. */
  record?: number;
}

/** A dump that cannot be read: truncated, corrupt, not a ferry dump, or from a future format. */
export class DumpError extends Error {
  readonly location: DumpLocation;
  constructor(problem: string, location: DumpLocation = {}, options?: { cause?: unknown }) {
    super(`${describe(location)}${problem}`, options);
    this.name = 'DumpError';
    this.location = location;
  }
}

function describe(l: DumpLocation): string {
  const parts: string[] = [];
  if (l.file !== undefined) parts.push(l.file);
  if (l.block !== undefined) parts.push(`block ${l.block}`);
  if (l.record !== undefined) parts.push(`record ${l.record}`);
  if (l.offset !== undefined) parts.push(`byte offset ${l.offset}`);
  return parts.length ? `${parts.join(', ')}: ` : '';
}
