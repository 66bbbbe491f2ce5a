// `ferry extract`: legacy database → one dump per table (or key-range part), gently and resumably.
import type { Command } from 'commander';
import { EXTRACT_DEFAULTS } from '../extract/defaults.ts';
import type { ExtractReporter } from '../extract/engine.ts';
import type { TableSummary } from '../extract/manifest.ts';
import { UserError } from '../lib/errors.ts';
import { Progress, formatCount, table } from '../lib/progress.ts';
import { redact } from '../lib/redact.ts';

interface ExtractFlags {
  from?: string;
  shard?: string;
  tables: string[];
  exclude: string[];
  excludeColumns: string[];
  cast: string[];
  key: string[] | false;
  out: string;
  schemasOut: string;
  concurrency: number;
  parts: number;
  chunkRows: number;
  chunkMb: number;
  maxRowsPerSecond?: number;
  resume?: boolean;
  restart?: boolean;
  json?: boolean;
  quiet?: boolean;
  sourceTimezone: string;
  isolation?: string;
  statementTimeout: number;
  retries: number;
}

export function registerExtract(program: Command): void {
  program
    .command('extract')
    .description('dump tables of a legacy database (mssql://… or postgres://…) into table dumps, resumably')
    .option('--from <url>', 'source database URL (or FERRY_EXTRACT_FROM); the password is never logged or stored')
    .option('--tables <list>', 'tables to extract: names or patterns (schema.table, table, dbo.*), comma-separated; default all', list, [])
    .option('--exclude <list>', 'tables to leave out (names or patterns)', list, [])
    .option('--exclude-columns <list>', 'columns to leave out, as table.column', list, [])
    .option('--cast <table.column=SQL>', 'select a column through a SQL expression (e.g. to turn an unsupported type into text); repeatable', collect, [])
    .option('--key <spec>', 'key for tables without one: table=col[,col], or col[,col] for every such table; repeatable', collect, [])
    .option('--no-key', 'read tables without a key in one pass (not resumable mid-table)')
    .option('--out <dir>', 'folder for the dumps and extract-manifest.json', EXTRACT_DEFAULTS.out)
    .option('--schemas-out <dir>', 'folder for the generated .proto files', EXTRACT_DEFAULTS.schemasOut)
    .option('--concurrency <n>', 'queries (connections) at once', (v) => int(v, '--concurrency', 1), EXTRACT_DEFAULTS.concurrency)
    .option('--parts <n>', 'split each table into up to N key ranges, dumped (in parallel) as separate parts', (v) => int(v, '--parts', 1), EXTRACT_DEFAULTS.parts)
    .option('--chunk-rows <n>', 'rows per keyset query (and per checkpoint)', (v) => int(v, '--chunk-rows', 1), EXTRACT_DEFAULTS.chunkRows)
    .option('--chunk-mb <n>', 'a chunk also ends once its rows hold N MiB (bounds memory for wide rows)', (v) => int(v, '--chunk-mb', 1), EXTRACT_DEFAULTS.chunkBytes / 1024 / 1024)
    .option('--max-rows-per-second <n>', 'read at most N rows per second over all tables', (v) => int(v, '--max-rows-per-second', 1))
    .option('--resume', 'continue the run recorded in --out (after a crash, a kill or a failure)')
    .option('--shard <i/n>', 'extract only every n-th selected table (by name), from 0-based i: run n copies into the same --out')
    .option('--restart', 'start over even though --out holds an unfinished run (its progress is discarded)')
    .option('--json', 'print the run summary as one JSON document on stdout')
    .option('--quiet', 'no live progress on stderr (retries and the summary still show)')
    .option('--source-timezone <tz>', 'time zone of the source\'s zone-less datetimes (IANA name)', EXTRACT_DEFAULTS.sourceTimezone)
    .option('--isolation <level>', 'read-committed | repeatable-read | snapshot | serializable (mssql also: read-uncommitted)')
    .option('--statement-timeout <seconds>', 'cancel a query running longer than this', (v) => int(v, '--statement-timeout', 1), EXTRACT_DEFAULTS.statementTimeoutMs / 1000)
    .option('--retries <n>', 'retries of a chunk on transient errors (dropped connection, deadlock, timeout)', (v) => int(v, '--retries', 0), EXTRACT_DEFAULTS.retries)
    .action(async (flags: ExtractFlags) => {
      const from = flags.from ?? process.env.FERRY_EXTRACT_FROM;
      if (!from) throw new UserError('extract needs --from <url> (mssql://… or postgres://…), or FERRY_EXTRACT_FROM');
      const { runExtract } = await import('../extract/engine.ts');
      const board = new ProgressBoard(Boolean(flags.quiet));
      try {
        const result = await runExtract({
          from,
          out: flags.out,
          schemasOut: flags.schemasOut,
          tables: flags.tables,
          exclude: flags.exclude,
          excludeColumns: flags.excludeColumns,
          casts: flags.cast,
          keys: flags.key === false ? [] : flags.key,
          noKey: flags.key === false,
          concurrency: flags.concurrency,
          parts: flags.parts,
          chunkRows: flags.chunkRows,
          chunkBytes: flags.chunkMb * 1024 * 1024,
          maxRowsPerSecond: flags.maxRowsPerSecond,
          resume: Boolean(flags.resume),
          restart: Boolean(flags.restart),
          shard: flags.shard,
          sourceTimezone: flags.sourceTimezone,
          isolation: flags.isolation,
          statementTimeoutMs: flags.statementTimeout * 1000,
          retries: flags.retries,
          retryBaseMs: Number(process.env.FERRY_RETRY_BASE_MS ?? EXTRACT_DEFAULTS.retryBaseMs),
          reporter: board,
        });
        board.stop();
        process.stderr.write(`${summaryTable(result.tables)}\n`);
        process.stderr.write(
          `extracted ${result.tables.length} table(s), ${formatCount(result.totals.rows)} rows, ${(result.totals.bytes / 1e6).toFixed(1)} MB ` +
            `in ${result.seconds.toFixed(1)}s into ${result.out} (manifest ${result.manifest})\n`,
        );
        if (flags.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
      } finally {
        board.stop();
      }
    });
}

function summaryTable(rows: TableSummary[]): string {
  return table(rows.map((s) => ({
    table: s.table,
    rows: s.rows,
    'dump MB': Number((s.bytes / 1e6).toFixed(2)),
    'data MB': Number((s.uncompressedBytes / 1e6).toFixed(2)),
    seconds: Number(s.seconds.toFixed(2)),
    'rows/s': s.rowsPerSecond,
    'MB/s': s.mbPerSecond,
    files: s.files.length,
  })));
}

/** Per-table progress on stderr: rows/s, MB/s and ETA from the server's row estimate. */
class ProgressBoard implements ExtractReporter {
  private readonly active = new Map<string, Progress>();
  private readonly timer: NodeJS.Timeout;
  private readonly tty = Boolean(process.stderr.isTTY);

  constructor(private readonly quiet: boolean) {
    this.timer = setInterval(() => this.render(), this.tty ? 250 : 5000);
    this.timer.unref();
  }

  tableStarted(name: string, estimatedRows: number | undefined, rowsDone: number): void {
    const p = new Progress({ label: name, unit: 'rows', total: estimatedRows, quiet: true });
    p.add(rowsDone);
    this.active.set(name, p);
  }

  rows(name: string, rows: number, bytes: number): void {
    this.active.get(name)?.add(rows, bytes);
  }

  tableFinished(s: TableSummary): void {
    this.active.get(s.table)?.finish();
    this.active.delete(s.table);
    if (this.quiet) return;
    this.clear();
    process.stderr.write(`${s.table}: ${s.rows} rows, ${(s.bytes / 1e6).toFixed(2)} MB in ${s.seconds.toFixed(1)}s\n`);
  }

  retry(label: string, _part: number, err: unknown, attempt: number, delayMs: number): void {
    this.clear();
    process.stderr.write(`${label}: ${redact((err as Error).message ?? String(err))}; retry ${attempt} in ${(delayMs / 1000).toFixed(1)}s\n`);
  }

  private render(): void {
    if (this.quiet) return;
    const lines = [...this.active.values()].filter((p) => p.count > 0).map((p) => p.line());
    if (lines.length === 0) return;
    if (this.tty) process.stderr.write(`\r\x1b[2K${lines.join(' | ').slice(0, (process.stderr.columns || 120) - 1)}`);
    else process.stderr.write(lines.map((l) => `${l}\n`).join(''));
  }

  private clear(): void {
    if (this.tty) process.stderr.write('\r\x1b[2K');
  }

  stop(): void {
    clearInterval(this.timer);
    this.clear();
  }
}

function list(value: string, previous: string[]): string[] {
  return [...previous, ...value.split(',').map((s) => s.trim()).filter(Boolean)];
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function int(value: string, flag: string, min: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UserError(`${flag} takes a whole number ≥ ${min}, not "${value}"`);
  return n;
}
