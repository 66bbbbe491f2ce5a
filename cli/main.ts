// The `ferry` command line: one file per command, registered here.
import { Command, CommanderError } from 'commander';
import { UserError } from '../lib/errors.ts';
import { fsReason } from '../lib/output-dir.ts';
import { redact, rememberProcessSecrets } from '../lib/redact.ts';
import { registerDemo } from './demo-command.ts';
import { registerDump } from './dump-command.ts';
import { registerExtract } from './extract-command.ts';
import { registerSeed } from './seed-command.ts';
import { registerServices } from './services-command.ts';
import { registerTransform } from './transform-command.ts';

// Passwords in flags and FERRY_* variables are masked in every message, however they are mangled.
rememberProcessSecrets();
quietOnClosedPipes();

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
  const message = redact(err instanceof Error ? systemErrorLine(err) ?? err.message : String(err)).replace(/\s*\n\s*/g, ' ');
  process.stderr.write(`ferry: ${message}\n`);
  if (!(err instanceof UserError) && process.env.FERRY_DEBUG && err instanceof Error && err.stack) {
    process.stderr.write(redact(err.stack) + '\n');
  }
  return 1;
}

/**
 * `ferry dump cat FILE | head`: once the reader of stdout is gone there is nobody to tell, so the
 * command ends quietly (exit 0, as after --limit) instead of dying on an EPIPE stack trace. A closed
 * stderr only loses progress lines: the work goes on.
 */
function quietOnClosedPipes(): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  process.stderr.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
  });
}

/** Node's "EISDIR: illegal operation on a directory, open '/tmp'" as "/tmp: cannot open (it is a folder, not a file)". */
function systemErrorLine(err: Error): string | undefined {
  const e = err as NodeJS.ErrnoException;
  if (err instanceof UserError || !e.code || !e.syscall || !e.path) return undefined;
  return `${e.path}: cannot ${e.syscall} (${fsReason(err)}): check the path`;
}
