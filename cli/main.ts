// The `ferry` command line: one file per command, registered here.
import { existsSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { UserError } from '../lib/errors.ts';
import { ferryPackage } from '../lib/package-info.ts';
import { redact } from '../lib/redact.ts';
import { registerDump } from './dump-command.ts';
import { registerExtract } from './extract-command.ts';
import { addExamples } from './help-examples.ts';
import { registerInit } from './init-command.ts';
import { registerSeed } from './seed-command.ts';
import { registerServices } from './services-command.ts';
import { registerTransform } from './transform-command.ts';

const program = new Command('ferry')
  .description('Move a legacy SQL database into an event-driven system: extract → transform → seed.')
  .showHelpAfterError('(run with --help for usage)')
  .version(ferryPackage().version, '-V, --version', 'print the version')
  .exitOverride()
  // `ferry transform --in A codegen --in B`: options after a subcommand belong to it.
  .enablePositionalOptions();

for (const register of [registerInit, registerExtract, registerDump, registerTransform, registerSeed, registerServices]) {
  register(program);
}
await registerDemo(program);
addExamples(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  process.exitCode = reportError(err);
}

function reportError(err: unknown): number {
  if (err instanceof CommanderError) {
    // --help and --version end through here too, with exit code 0.
    return err.exitCode;
  }
  const message = redact(err instanceof Error ? err.message : String(err)).replace(/\s*\n\s*/g, ' ');
  process.stderr.write(`ferry: ${message}\n`);
  if (!(err instanceof UserError) && process.env.FERRY_DEBUG && err instanceof Error && err.stack) {
    process.stderr.write(redact(err.stack) + '\n');
  }
  return 1;
}

/**
 * `ferry demo` runs the example migration of ferry's own repository (examples/dating), which the
 * package does not ship: in an installed package the command only says where to find it.
 */
async function registerDemo(cli: Command): Promise<void> {
  const source = new URL('./demo-command.ts', import.meta.url);
  if (existsSync(source)) {
    const { registerDemo: register } = (await import(source.href)) as { registerDemo(cli: Command): void };
    register(cli);
    return;
  }
  cli.command('demo').description('run the example migration end to end (in a clone of the ferry repository)').allowUnknownOption().action(() => {
    throw new UserError('ferry demo runs the example migration of the ferry repository, which the package does not ship: clone the repository and run npm run demo there');
  });
}
