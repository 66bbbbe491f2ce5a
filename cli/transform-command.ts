import path from 'node:path';
import { Option, type Command } from 'commander';
import { UserError } from '../lib/errors.ts';
import { interruptible, sameCommand } from '../lib/interrupt.ts';
import { table } from '../lib/progress.ts';
import { StepRun, metricsLingerOption, metricsPortOption, reportOption, type RunFlags } from '../lib/step-run.ts';
import { defaultWorkers } from '../transform/defaults.ts';
import type { Order, TransformSummary } from '../transform/engine.ts';

interface TransformFlags extends RunFlags {
  in: string;
  out?: string;
  config: string;
  order: Order;
  sample?: string;
  dryRun?: boolean;
  watch?: boolean;
  json?: boolean;
  workers: number;
  maxErrors: number;
  memoryMb: number;
  workerHeapMb?: number;
  tmpDir?: string;
  typecheck: boolean;
  show: number;
  shard?: string;
  digests?: boolean;
  quiet?: boolean;
  recursive?: boolean;
}

export function registerTransform(program: Command): void {
  const transform = program
    .command('transform')
    .enablePositionalOptions()
    .description('run the transforms of ferry.config.ts over table dumps and write event dumps')
    // Not requiredOption: commander would then demand it of `ferry transform codegen` too.
    .option('--in <dir>', 'folder of table dumps (from ferry extract) (required)')
    .option('--out <dir>', 'folder for the event dumps (required unless --dry-run)')
    .option('--recursive', 'also read the dumps in subfolders of --in')
    .option('--config <file>', 'the config that lists transforms and event schemas', 'ferry.config.ts')
    .addOption(new Option('--order <order>', 'occurred_at: one globally time-ordered events.pb.gz (external sort); none: one event dump per table dump').choices(['none', 'occurred_at']).default('none'))
    .option('--sample <n|p%>', 'only some blocks: N rows per table, or P% of each table\'s blocks (always the same ones)')
    .option('--dry-run', 'write nothing: print counts per event type and the first events as NDJSON')
    .option('--watch', 're-run when the config, a transform or a schema is saved; print counts and what changed')
    .option('--json', 'print the run summary as one JSON document on stdout')
    .option('--quiet', 'no live progress on stderr')
    .option('--workers <n>', `worker threads running transforms (0: in the main thread)`, (v) => count(v, '--workers'), defaultWorkers())
    .option('--max-errors <n>', 'rejected rows to tolerate (written to rejects.pb.gz); default 0 stops at the first', (v) => count(v, '--max-errors'), 0)
    .option('--memory-mb <n>', 'memory budget of --order occurred_at before spilling sorted runs to disk', (v) => count(v, '--memory-mb', 1), 64)
    .option('--worker-heap-mb <n>', 'heap limit of each worker thread, in MB (default: 80 plus 4× the largest block; reference tables are shared, outside it)', (v) => count(v, '--worker-heap-mb', 16))
    .option('--tmp-dir <dir>', 'where --order occurred_at spills sorted runs (default: the OS temp folder)')
    .option('--shard <i/n>', 'transform only shard i of n of the blocks (run n copies into the same --out; outputs are named per shard)')
    .addOption(new Option('--digests', 'per event type, a digest and the first event in the summary (used by --watch)').hideHelp())
    .option('--no-typecheck', 'skip type-checking the config and transforms before the run')
    .option('--show <n>', 'with --dry-run: how many first events to print', (v) => count(v, '--show'), 10)
    .addOption(reportOption())
    .addOption(metricsPortOption())
    .addOption(metricsLingerOption())
    .action(async (opts: TransformFlags) => {
      if (!opts.in) throw new UserError('--in DIR is required: the folder of table dumps written by ferry extract');
      if (opts.watch) {
        const { watchTransform } = await import('../transform/watch.ts');
        await watchTransform({ configFile: opts.config, args: process.argv.slice(process.argv.indexOf('transform') + 1) });
        return;
      }
      const { runTransformJob } = await import('../transform/engine.ts');
      const quiet = Boolean(opts.quiet || process.env.FERRY_QUIET);
      const run = await StepRun.start('transform', { ...opts, quiet }, ['rows', 'events']);
      let summary;
      try {
        // Transform has no --resume: outputs are published only by a complete run, so continuing is running it again.
        summary = await run.finish(await interruptible((signal) => runTransformJob({
          inDir: opts.in, outDir: opts.out, configFile: opts.config, order: opts.order, sample: opts.sample, dryRun: opts.dryRun,
          workers: opts.workers, maxErrors: opts.maxErrors, memoryMb: opts.memoryMb, workerHeapMb: opts.workerHeapMb, tmpDir: opts.tmpDir, typecheck: opts.typecheck,
          showEvents: opts.show, quiet, recursive: opts.recursive, shard: opts.shard, digests: opts.digests, signal,
        }), {
          report: () => `transform stopped; nothing was written to ${opts.out ?? 'the output'} (outputs are published only when a run completes)`,
          continueWith: sameCommand(),
        }));
      } catch (err) {
        await run.close();
        throw err;
      }
      if (opts.json) process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
      else {
        if (summary.dryRun) for (const e of summary.firstEvents ?? []) process.stdout.write(JSON.stringify(e) + '\n');
        process.stderr.write(renderSummary(summary) + '\n');
      }
      await run.close();
    });

  transform
    .command('codegen')
    .description('generate TypeScript types for table rows (from the dump headers) and event payloads (from the .proto files)')
    .requiredOption('--in <dir>', 'folder of table dumps')
    .requiredOption('--out <dir>', 'folder for the generated ferry-types.ts')
    .option('--recursive', 'also read the dumps in subfolders of --in')
    .option('--config <file>', 'config whose eventSchemas list the event .proto files', 'ferry.config.ts')
    .option('--proto <files...>', 'event .proto files (instead of the config\'s eventSchemas)')
    .action(async (opts: { in: string; out: string; config: string; proto?: string[]; recursive?: boolean }) => {
      const { generateTypes } = await import('../transform/codegen.ts');
      const result = await generateTypes({ inDir: opts.in, outDir: opts.out, configFile: opts.config, protoFiles: opts.proto, recursive: opts.recursive });
      process.stderr.write(`wrote ${path.relative(process.cwd(), result.file)}: ${result.tables} table row types, ${result.events} event types\n`);
    });
}

function count(value: string, flag: string, min = 0): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min) throw new UserError(`${flag} ${value}: give a whole number${min ? ` ≥ ${min}` : ''}`);
  return n;
}

export function renderSummary(s: TransformSummary): string {
  const lines: string[] = [];
  const what = s.dryRun ? 'dry run (nothing written)' : `wrote ${s.outputs.length} event dump${s.outputs.length === 1 ? '' : 's'} to ${s.out}`;
  // The type-check has a line of its own: the run's time and its rates cover the same interval.
  if (s.typecheckSeconds !== null) lines.push(`type-check ${s.typecheckSeconds.toFixed(1)} s`);
  lines.push(
    `transform: ${s.rows} rows → ${s.events} events in ${s.seconds.toFixed(1)} s (${Math.round(s.rowsPerSecond)} rows/s, ${Math.round(s.eventsPerSecond)} events/s), ${what}` +
      `${s.sample ? `, sample ${s.sample}` : ''}, order ${s.order}, ${s.workers} worker${s.workers === 1 ? '' : 's'}`,
  );
  lines.push('', table(s.tables.map((t) => ({ table: t.table, files: t.files, rows: t.rows, events: t.events, rejected: t.rejected }))));
  if (s.eventTypes.length) lines.push('', table(s.eventTypes.map((e) => ({ 'event type': e.type, events: e.events }))));
  if (s.rejected) lines.push('', `${s.rejected} rejected row${s.rejected === 1 ? '' : 's'}${s.rejectsFile ? ` written to ${s.rejectsFile}` : ''}`);
  if (s.sort) lines.push('', `ordering: ${s.sort.runs} sorted run${s.sort.runs === 1 ? '' : 's'} spilled (${s.sort.spilledBytes} bytes), budget ${s.sort.memoryMb} MiB`);
  if (s.skippedTables.length) lines.push('', `no transform for: ${s.skippedTables.join(', ')}`);
  return lines.join('\n');
}
