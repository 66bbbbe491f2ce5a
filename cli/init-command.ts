// `ferry init`: a new migration project that installs ferry as a dev dependency.
import path from 'node:path';
import type { Command } from 'commander';

export function registerInit(program: Command): void {
  program
    .command('init')
    .argument('[dir]', 'folder of the new project (created when missing)', '.')
    .description('write a migration project: config, an event schema, a transform, a module, a test (ferry as a dev dependency)')
    .option('--from <url>', 'read the legacy database\'s catalog (no rows): row types and a transform skeleton per table (or FERRY_EXTRACT_FROM)')
    .option('--tables <list>', 'with --from: only these tables (schema.table, comma-separated)', (v: string) => v.split(',').map((s) => s.trim()).filter(Boolean))
    .option('--json', 'print what was written as one JSON document on stdout')
    .action(async (dir: string, flags: { from?: string; tables?: string[]; json?: boolean }) => {
      const { initProject } = await import('../init/scaffold.ts');
      const result = await initProject({ dir, from: flags.from, tables: flags.tables, log: (line) => process.stderr.write(`${line}\n`) });
      if (flags.json) {
        process.stdout.write(JSON.stringify(result, null, 2) + '\n');
        return;
      }
      const where = path.relative(process.cwd(), result.dir) || '.';
      process.stderr.write(`wrote ${result.written.length} file(s) into ${where}: ${result.written.join(', ')}\n`);
      if (result.kept.length) process.stderr.write(`kept what was there: ${result.kept.join(', ')}\n`);
      if (result.skippedTables.length) process.stderr.write(`left out ${result.skippedTables.length} table(s) extract cannot read as they are (see above; --cast or --exclude-columns at extract)\n`);
      const cd = where === '.' ? '' : `cd ${where} && `;
      process.stderr.write(`next: ${cd}npm install && npm test; then see README.md for extract → transform → seed\n`);
    });
}
