// Two or three real examples at the end of every command's --help, in one place so that they
// read as one set (the same folders and URLs from step to step).
import type { Command } from 'commander';

const EXAMPLES: Record<string, string[]> = {
  init: [
    'mkdir my-migration && cd my-migration && npm install -D ferry && npx ferry init',
    "npx ferry init my-migration --from 'mssql://reader:secret@replica:1433/Legacy'",
    'npx ferry init . --from "$FERRY_EXTRACT_FROM" --tables dbo.Members,dbo.Orders',
  ],
  extract: [
    "npx ferry extract --from 'mssql://reader:secret@replica:1433/Legacy?trustServerCertificate=true' --out dumps/tables",
    'FERRY_EXTRACT_FROM=postgres://reader@replica/legacy npx ferry extract --tables dbo.Members,dbo.Orders --max-rows-per-second 20000',
    'npx ferry extract --out dumps/tables --resume        # after a crash, a kill or Ctrl-C',
  ],
  'dump inspect': ['npx ferry dump inspect dumps/tables/dbo.Members.pb.gz', 'npx ferry dump inspect dumps/events/events.pb.gz --json'],
  'dump cat': ['npx ferry dump cat dumps/tables/dbo.Members.pb.gz --limit 5', 'npx ferry dump cat dumps/events/events.pb.gz | head'],
  'dump verify': ['npx ferry dump verify dumps/tables', 'npx ferry dump verify dumps/events/events.pb.gz'],
  transform: [
    'npx ferry transform --in dumps/tables --dry-run --sample 1%',
    'npx ferry transform --in dumps/tables --dry-run --watch',
    'npx ferry transform --in dumps/tables --out dumps/events --order occurred_at --json > transform.json',
  ],
  'transform codegen': ['npx ferry transform codegen --in dumps/tables --out generated'],
  'seed modules': [
    'eval "$(npx ferry services env)" && npx ferry seed modules --in dumps/events --create-databases',
    "npx ferry seed modules --in dumps/events --url 'postgres://seeder:secret@staging:5432/postgres' --resume",
    'npx ferry seed modules --in dumps/events --only chat,members --reset',
  ],
  'seed rabbitmq': [
    'eval "$(npx ferry services env)" && npx ferry seed rabbitmq --in dumps/events --declare',
    "npx ferry seed rabbitmq --in dumps/events --url 'amqp://seeder:secret@staging:5672/migration' --resume",
  ],
  'services start': ['npx ferry services start && eval "$(npx ferry services env)"'],
  'services env': ['eval "$(npx ferry services env)"'],
  'services stop': ['npx ferry services stop'],
  'services rabbitmqctl': ['npx ferry services rabbitmqctl list_queues name messages', 'npx ferry services rabbitmqctl list_exchanges'],
  'services psql': ['npx ferry services psql -l', 'npx ferry services psql -d migration_members -c "select count(*) from members.member"'],
  demo: ['npm run demo', 'npx ferry demo --scale small --no-rabbitmq'],
  report: ['npx ferry report extract.json transform.json seed-modules.json --out run.html'],
};

/** Adds the examples to every command (and subcommand) that has some. */
export function addExamples(program: Command): void {
  const visit = (command: Command, prefix: string): void => {
    for (const sub of command.commands) {
      const name = `${prefix}${sub.name()}`;
      const examples = EXAMPLES[name];
      if (examples) sub.addHelpText('after', `\nExamples:\n${examples.map((e) => `  $ ${e}`).join('\n')}`);
      visit(sub, `${name} `);
    }
  };
  visit(program, '');
}

/** Command paths that have examples (for the test that every command has them). */
export const COMMANDS_WITH_EXAMPLES = Object.keys(EXAMPLES);
