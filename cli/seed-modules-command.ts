import type { Command } from 'commander';
import { loadConfig } from '../lib/config.ts';
import { UserError } from '../lib/errors.ts';
import { formatSeconds, table } from '../lib/progress.ts';
import type { SchemaMode } from '../api/module.ts';

interface SeedModulesFlags {
  in: string;
  config: string;
  url?: string;
  createDatabases?: boolean;
  resume?: boolean;
  reset?: boolean;
  schema?: SchemaMode;
  batchSize: number;
  concurrency: number;
  maxErrors: number;
  retryFor: number;
  shard?: string;
  only?: string;
  json?: boolean;
  quiet?: boolean;
  recursive?: boolean;
}

export function registerSeedModules(seed: Command): void {
  seed
    .command('modules')
    .description("write events into each module's own PostgreSQL database (COPY batches, exactly once)")
    .requiredOption('--in <dir>', 'folder of event dumps (from "ferry transform")')
    .option('--recursive', 'also read the dumps in subfolders of --in')
    .option('--config <file>', 'config with modules: [...]', 'ferry.config.ts')
    .option('--url <postgres-url>', 'server for modules that name only a database (default: $FERRY_PG_URL, as `ferry services env` exports it)')
    .option('--create-databases', "create module databases that do not exist yet")
    .option('--resume', 'continue where an earlier run stopped (progress is kept in each module database)')
    .option('--reset', "drop and recreate each module's schema, then seed from the start")
    .option('--schema <mode>', "create: ferry creates each module's schema (the default); existing: seed into schemas the modules' own migrations made, run no DDL, drop nothing (overrides the modules' schemaMode)", schemaFlag)
    .option('--batch-size <n>', 'events per batch: one transaction per batch per module', (v) => intFlag(v, '--batch-size', 1), 20_000)
    .option('--concurrency <n>', 'modules written at the same time', (v) => intFlag(v, '--concurrency', 1), 4)
    .option('--max-errors <n>', 'skip up to N failing events (handler error, rejected row), list them, and still exit 0', (v) => intFlag(v, '--max-errors', 0), 0)
    .option('--retry-for <seconds>', 'keep reconnecting this long when a database goes away', (v) => intFlag(v, '--retry-for', 0), 60)
    .option('--shard <i/n>', 'handle only the blocks of shard i of n (progress is kept per shard)')
    .option('--only <names>', 'seed only these modules (comma-separated)')
    .option('--json', 'print the run summary as one JSON document on stdout')
    .option('--quiet', 'no live progress on stderr')
    .action(async (flags: SeedModulesFlags) => {
      if (process.env.FERRY_MODULES_URL && !process.env.FERRY_PG_URL && !flags.url) {
        throw new UserError('FERRY_MODULES_URL is now FERRY_PG_URL (the name `ferry services env` exports): rename it');
      }
      const { seedModules } = await import('../seed/modules-engine.ts');
      const { config, dir } = await loadConfig(flags.config);
      let modules = config.modules ?? [];
      if (flags.only) {
        const wanted = flags.only.split(',').map((s) => s.trim()).filter(Boolean);
        const unknown = wanted.filter((w) => !modules.some((m) => m.name === w));
        if (unknown.length) throw new UserError(`--only names unknown module(s) ${unknown.join(', ')} (the config has: ${modules.map((m) => m.name).join(', ') || 'none'})`);
        modules = modules.filter((m) => wanted.includes(m.name));
      }
      const summary = await seedModules({
        input: flags.in,
        recursive: flags.recursive,
        modules,
        configDir: dir,
        serverUrl: flags.url ?? process.env.FERRY_PG_URL,
        createDatabases: flags.createDatabases,
        resume: flags.resume,
        reset: flags.reset,
        schemaMode: flags.schema,
        batchSize: flags.batchSize,
        concurrency: flags.concurrency,
        maxErrors: flags.maxErrors,
        retryForMs: flags.retryFor * 1000,
        shard: flags.shard,
        quiet: flags.quiet,
      });
      if (flags.json) {
        process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
        return;
      }
      const rows = summary.modules.map((m) => ({
        module: m.name,
        database: `${m.database} (${m.server})`,
        events: m.events,
        inserted: m.rows.inserted,
        updated: m.rows.updated,
        deleted: m.rows.deleted,
        'events/s': Math.round(m.eventsPerSecond),
        'rows/s': Math.round(m.rowsPerSecond),
        'batch p50 ms': Math.round(m.batchLatencyMs.p50),
        p95: Math.round(m.batchLatencyMs.p95),
        p99: Math.round(m.batchLatencyMs.p99),
      }));
      const resumed = summary.modules.some((m) => m.resumedPast > 0) ? ' (resumed)' : '';
      const skipped = summary.skipped.length ? `, ${summary.skipped.length} event(s) skipped (listed above)` : '';
      process.stderr.write(`${table(rows)}\nseeded ${summary.modules.length} module(s) from ${summary.inputEvents} input events in ${formatSeconds(summary.seconds)}${resumed}${skipped}\n`);
    });
}

function schemaFlag(value: string): SchemaMode {
  if (value !== 'create' && value !== 'existing') throw new UserError(`--schema takes create or existing, not "${value}"`);
  return value;
}

function intFlag(value: string, flag: string, min: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UserError(`${flag} takes a whole number ≥ ${min}, not "${value}"`);
  return n;
}
