// extract's defaults, apart from the engine so the command line reads them without loading it.
export const EXTRACT_DEFAULTS = {
  out: 'dumps/out/tables',
  schemasOut: 'schemas/legacy',
  concurrency: 2,
  parts: 1,
  chunkRows: 50_000,
  chunkBytes: 32 * 1024 * 1024,
  gzipLevel: 1,
  sourceTimezone: 'UTC',
  statementTimeoutMs: 600_000,
  retries: 5,
  retryBaseMs: 500,
} as const;
