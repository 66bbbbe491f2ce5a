// The `ferry` command line: one file per command, registered here.
import { Command, CommanderError } from 'commander';
import { UserError } from '../lib/errors.ts';
import { INTERRUPTED_EXIT_CODE, Interrupted } from '../lib/interrupt.ts';
import { redact } from '../lib/redact.ts';
import { registerDemo } from './demo-command.ts';
import { registerDump } from './dump-command.ts';
import { registerExtract } from './extract-command.ts';
import { registerSeed } from './seed-command.ts';
import { registerServices } from './services-command.ts';
import { registerTransform } from './transform-command.ts';

const program = new Command('ferry')
  .description('Move a legacy SQL database into an event-driven system: extract → transform → seed.')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride()
  // `ferry transform --in A codegen --in B`: options after a subcommand belong to it.
  .enablePositionalOptions();

for (const register of [registerExtract, registerDump, registerTransform, registerSeed, registerDemo, registerServices]) {
  register(program);
}

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
  if (err instanceof Interrupted) return INTERRUPTED_EXIT_CODE;
  if (!(err instanceof UserError) && process.env.FERRY_DEBUG && err instanceof Error && err.stack) {
    process.stderr.write(redact(err.stack) + '\n');
  }
  return 1;
}
