import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { describeUrl } from '../lib/redact.ts';
import { UserError } from '../lib/errors.ts';
import { renderRunReport } from '../lib/html-report.ts';
import { formatCount, table } from '../lib/progress.ts';
import { interruptChildSteps } from '../lib/child-run.ts';
import { INTERRUPTED_EXIT_CODE } from '../lib/interrupt.ts';
import { describeStep, overviewRow } from '../lib/report-model.ts';
import { metricsPortOption } from '../lib/step-run.ts';
import { acquireServices } from '../services/services.ts';
import { runPipeline, CONFIG } from '../demo/pipeline.ts';
import { eventsByType } from '../demo/summaries.ts';
import { verifyPipeline } from '../demo/verify.ts';
import { SCALE_HELP, parseScale } from '../demo/legacy/generate.ts';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('the dating-site example end to end: generate the legacy database, extract, transform, seed modules and RabbitMQ, verify, report')
    .option('--scale <scale>', 'tiny (seconds), small (demo), quarter (a quarter of fi), fi (the small country: 1.2 M messages), fiN or fi*N (N times fi, e.g. fi10)', 'small')
    .option('--out <dir>', 'folder for dumps and the report', 'dumps/out/demo')
    .option('--no-rabbitmq', 'skip seeding RabbitMQ')
    .option('--json', 'print the summary and checks as one JSON document on stdout')
    .addOption(metricsPortOption())
    .action(async (opts: { scale: string; out: string; rabbitmq: boolean; json?: boolean; metricsPort?: number }) => {
      const scale = parseScale(opts.scale);
      if (!scale) throw new UserError(`unknown scale "${opts.scale}": use ${SCALE_HELP}`);
      const log = (line: string) => process.stderr.write(line + '\n');
      // Ctrl-C: the servers the demo started run detached (they outlive a terminal's SIGINT), so
      // they are stopped here, after the running step has stopped; then exit 130.
      const acquiring = acquireServices(log);
      let stopping = false;
      const onSigint = () => {
        if (stopping) process.exit(INTERRUPTED_EXIT_CODE);
        stopping = true;
        log('\nferry: interrupted: stopping the demo and the servers it started (Ctrl-C again to quit at once)');
        interruptChildSteps();
        void acquiring.then((s) => s.release()).catch(() => undefined).finally(() => {
          log(`ferry: interrupted: demo stopped; run "npx ferry ${process.argv.slice(2).join(' ')}" to start it again`);
          process.exit(INTERRUPTED_EXIT_CODE);
        });
      };
      process.on('SIGINT', onSigint);
      const services = await acquiring;
      try {
        const pgUrl = services.env.FERRY_PG_URL;
        const amqpUrl = services.env.FERRY_AMQP_URL;
        log(`demo at scale ${scale}: PostgreSQL ${describeUrl(pgUrl).server}, RabbitMQ ${describeUrl(amqpUrl).server}`);
        const workDir = path.resolve(opts.out, scale);
        const result = await runPipeline({ scale, pgUrl, amqpUrl, workDir, skipRabbitmq: !opts.rabbitmq, log, metricsPort: opts.metricsPort });
        const transform = result.steps.find((s) => s.name === 'transform')!;
        const { default: config } = (await import(CONFIG)) as { default: { rabbitmq?: { queues?: Array<{ name: string; bindings: string[] }> } } };
        log('── verify');
        const checks = await verifyPipeline({
          pgUrl, amqpUrl: opts.rabbitmq ? amqpUrl : undefined, legacyUrl: result.legacyUrl,
          eventsByType: eventsByType(transform.summary), queues: config.rabbitmq?.queues,
        });
        const failed = checks.filter((c) => !c.ok);
        // One duration and rate per step, the same in the table below, the JSON and the report: the
        // step's own (its summary's), not the wall time of its process.
        const overview = result.steps.map((s) => overviewRow(describeStep(s.summary)));
        const reportFile = path.join(workDir, 'report.html');
        await mkdir(workDir, { recursive: true });
        await writeFile(reportFile, renderRunReport({
          title: `ferry demo: dating site, scale ${scale}`,
          steps: result.steps.map((s) => s.summary),
          checks,
        }));
        if (opts.json) {
          process.stdout.write(JSON.stringify({ scale, steps: overview, checks, report: reportFile }, null, 2) + '\n');
        } else {
          process.stdout.write(`\n${table(overview)}\n\n`);
          const totalSeconds = (Date.now() - result.steps[0].startedAt) / 1000;
          process.stdout.write(`checks: ${checks.length - failed.length} of ${checks.length} passed; ${formatCount(Object.values(eventsByType(transform.summary)).reduce((a, b) => a + b, 0))} events in ${totalSeconds.toFixed(1)} s\n`);
          for (const c of failed) process.stdout.write(`FAILED ${c.what}: expected ${c.expected}, got ${c.actual}\n`);
          process.stdout.write(`report: ${reportFile}\n`);
        }
        if (failed.length) throw new UserError(`${failed.length} of ${checks.length} checks failed (see ${reportFile})`);
      } finally {
        if (!stopping) {
          await services.release();
          process.off('SIGINT', onSigint);
        } else {
          // The SIGINT handler releases the servers and exits.
          await new Promise(() => undefined);
        }
      }
    });
}
