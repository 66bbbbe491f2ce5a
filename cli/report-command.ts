// `ferry report SUMMARY.json… --out FILE.html`: one page for the --json summaries of any runs (an
// extract of production on Monday, the transform and the seeds of staging on Tuesday).
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../lib/errors.ts';
import type { Check, RawLimit } from '../lib/report-model.ts';

const STEPS = ['generate', 'extract', 'transform', 'seed modules', 'seed rabbitmq'];

export function registerReport(program: Command): void {
  program
    .command('report')
    .argument('<summaries...>', 'JSON summaries written by a step\'s --json (extract, transform, seed modules, seed rabbitmq), in any order')
    .description('combine the --json summaries of runs into one self-contained HTML report')
    .requiredOption('--out <file.html>', 'where to write the report')
    .option('--title <text>', 'the report\'s title', 'ferry run report')
    .option('--bench <file>', 'output of npm run bench (lines "NAME: value unit; limit value unit (what); ratio r"): each step\'s ratio to its raw limit')
    .action(async (files: string[], opts: { out: string; title: string; bench?: string }) => {
      const steps: Array<Record<string, unknown>> = [];
      const checks: Check[] = [];
      for (const file of files) {
        const json = await readJson(file);
        // A `ferry demo --json` document brings its checks; anything else must be a step summary.
        if (Array.isArray(json.checks) && json.seconds === undefined) {
          checks.push(...(json.checks as Check[]));
          continue;
        }
        if (typeof json.seconds !== 'number') throw new UserError(`${file}: not the --json summary of a ferry step (it has no "seconds"); pass the files written by extract, transform or seed with --json`);
        steps.push(json);
      }
      if (steps.length === 0) throw new UserError('no step summaries among the files: pass the --json output of extract, transform or seed');
      // Steps in the order they ran.
      steps.sort((a, b) => startOf(a) - startOf(b));
      const limits = opts.bench ? parseBench(await readText(opts.bench)) : [];
      const [{ renderRunReport }, { stepName }] = await Promise.all([import('../lib/html-report.ts'), import('../lib/report-model.ts')]);
      await mkdir(path.dirname(path.resolve(opts.out)), { recursive: true });
      await writeFile(opts.out, renderRunReport({ title: opts.title, steps, checks, limits }));
      process.stderr.write(`report: ${opts.out} (${steps.length} step${steps.length === 1 ? '' : 's'}: ${steps.map((s) => stepName(s)).join(', ')})\n`);
    });
}

function startOf(s: Record<string, unknown>): number {
  const run = s.run as { startedAt?: string } | undefined;
  const t = Date.parse(run?.startedAt ?? (s.startedAt as string) ?? '');
  return Number.isNaN(t) ? Infinity : t;
}

async function readText(file: string): Promise<string> {
  return readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new UserError(`${file}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
  });
}

async function readJson(file: string): Promise<Record<string, unknown>> {
  const text = await readText(file);
  try {
    const json = JSON.parse(text) as unknown;
    if (json && typeof json === 'object' && !Array.isArray(json)) return json as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw new UserError(`${file}: not a JSON document; pass the output of a step's --json`);
}

/** Bench figures whose name holds a step's name (e.g. "e2e fi seed rabbitmq"): the last one per step. */
export function parseBench(text: string): RawLimit[] {
  const out = new Map<string, RawLimit>();
  for (const line of text.split('\n')) {
    const m = /^(.+?): ([\d.]+) (\S+); limit ([\d.]+) \S+ \((.*)\); ratio [\d.]+$/.exec(line.trim());
    if (!m) continue;
    const step = STEPS.find((s) => m[1].replace(/-/g, ' ').includes(s));
    if (step) out.set(step, { step, value: Number(m[2]), unit: m[3], limit: Number(m[4]), limitWhat: m[5] });
  }
  return [...out.values()];
}
