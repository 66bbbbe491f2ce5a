import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { describeUrl } from '../lib/redact.ts';
import { UserError } from '../lib/errors.ts';
import { renderReport } from '../lib/html-report.ts';
import { formatCount, table } from '../lib/progress.ts';
import { acquireServices } from '../services/services.ts';
import { runPipeline, CONFIG } from '../examples/dating/demo/pipeline.ts';
import { stepFigures, stepTables, eventsByType } from '../examples/dating/demo/summaries.ts';
import { verifyPipeline } from '../examples/dating/demo/verify.ts';
import { SCALE_HELP, parseScale } from '../examples/dating/legacy/generate.ts';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('the dating-site example end to end: generate the legacy database, extract, transform, seed modules and RabbitMQ, verify, report')
    .option('--scale <scale>', 'tiny (seconds), small (demo), quarter (a quarter of fi), fi (the small country: 1.2 M messages), fiN or fi*N (N times fi, e.g. fi10)', 'small')
    .option('--out <dir>', 'folder for dumps and the report', 'dumps/out/demo')
    .option('--no-rabbitmq', 'skip seeding RabbitMQ')
    .option('--json', 'print the summary and checks as one JSON document on stdout')
    .action(async (opts: { scale: string; out: string; rabbitmq: boolean; json?: boolean }) => {
      const scale = parseScale(opts.scale);
      if (!scale) throw new UserError(`unknown scale "${opts.scale}": use ${SCALE_HELP}`);
      const log = (line: string) => process.stderr.write(line + '\n');
      const services = await acquireServices(log);
      try {
        const pgUrl = services.env.FERRY_PG_URL;
        const amqpUrl = services.env.FERRY_AMQP_URL;
        log(`demo at scale ${scale}: PostgreSQL ${describeUrl(pgUrl).server}, RabbitMQ ${describeUrl(amqpUrl).server}`);
        const workDir = path.resolve(opts.out, scale);
        const result = await runPipeline({ scale, pgUrl, amqpUrl, workDir, skipRabbitmq: !opts.rabbitmq, log });
        const transform = result.steps.find((s) => s.name === 'transform')!;
        const { default: config } = (await import(CONFIG)) as { default: { rabbitmq?: { queues?: Array<{ name: string; bindings: string[] }> } } };
        log('── verify');
        const checks = await verifyPipeline({
          pgUrl, amqpUrl: opts.rabbitmq ? amqpUrl : undefined, legacyUrl: result.legacyUrl,
          eventsByType: eventsByType(transform.summary), queues: config.rabbitmq?.queues,
        });
        const failed = checks.filter((c) => !c.ok);
        const overview = result.steps.map((s) => ({ step: s.name, seconds: Number(s.seconds.toFixed(1)), 'peak RSS MB': Math.round(s.peakRssMb), ...stepFigures(s) }));
        const reportFile = path.join(workDir, 'report.html');
        await mkdir(workDir, { recursive: true });
        await writeFile(reportFile, renderReport(
          `ferry demo: dating site, scale ${scale}`,
          result.steps.map((s) => ({ name: s.name, startedAt: s.startedAt, seconds: s.seconds, samples: s.samples, figures: { 'peak RSS MB': Math.round(s.peakRssMb), ...stepFigures(s) }, tables: stepTables(s) })),
          [`${checks.length - failed.length} of ${checks.length} checks passed.`, ...failed.map((c) => `FAILED ${c.what}: expected ${c.expected}, got ${c.actual}`)],
        ).replace('</body>', `<h2>Checks</h2>\n<table><tr><th>check</th><th>expected</th><th>actual</th><th></th></tr>${checks.map((c) => `<tr><td>${escapeHtml(c.what)}</td><td>${escapeHtml(String(c.expected))}</td><td>${escapeHtml(String(c.actual))}</td><td>${c.ok ? 'ok' : 'FAILED'}</td></tr>`).join('')}</table>\n</body>`));
        if (opts.json) {
          process.stdout.write(JSON.stringify({ scale, steps: overview, checks, report: reportFile }, null, 2) + '\n');
        } else {
          process.stdout.write(`\n${table(overview)}\n\n`);
          const totalSeconds = result.steps.reduce((s, x) => s + x.seconds, 0);
          process.stdout.write(`checks: ${checks.length - failed.length} of ${checks.length} passed; ${formatCount(Object.values(eventsByType(transform.summary)).reduce((a, b) => a + b, 0))} events in ${totalSeconds.toFixed(1)} s\n`);
          for (const c of failed) process.stdout.write(`FAILED ${c.what}: expected ${c.expected}, got ${c.actual}\n`);
          process.stdout.write(`report: ${reportFile}\n`);
        }
        if (failed.length) throw new UserError(`${failed.length} of ${checks.length} checks failed (see ${reportFile})`);
      } finally {
        await services.release();
      }
    });
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;' })[c]!);
}
