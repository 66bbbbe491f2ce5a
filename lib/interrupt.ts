// Ctrl-C (SIGINT) on a step: the first one asks the step to stop cleanly (it finishes or rolls back
// what is in flight, keeps its checkpoint, and removes half-written files), the second one quits at
// once. Either way the process exits 130 after saying what was done and the exact command that
// continues the work.
import { UserError } from './errors.ts';
import { redact } from './redact.ts';

/** A step stopped by Ctrl-C. `done` says what it had done; the CLI adds how to continue and exits 130. */
export class Interrupted extends UserError {
  constructor(readonly done: string, options?: { cause?: unknown }) {
    super(`interrupted: ${done}`, options);
    this.name = 'Interrupted';
  }
}

export const INTERRUPTED_EXIT_CODE = 130;

/**
 * Runs `step` with an AbortSignal that the first SIGINT aborts. If the step ends with an error
 * after that (whatever error: a query cut short, a stopped part), it becomes an Interrupted whose
 * message is `report()` (what was done) and `continueWith` (the command to run next).
 */
export async function interruptible<T>(
  step: (signal: AbortSignal) => Promise<T>,
  options: { report: (err: unknown) => string; continueWith: string },
): Promise<T> {
  const controller = new AbortController();
  const onSigint = () => {
    if (controller.signal.aborted) {
      process.stderr.write(`\nferry: interrupted again: quitting now; continue with: ${options.continueWith}\n`);
      process.exit(INTERRUPTED_EXIT_CODE);
    }
    process.stderr.write('\nferry: interrupted: stopping cleanly (Ctrl-C again to quit at once)\n');
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  try {
    return await step(controller.signal);
  } catch (err) {
    if (!controller.signal.aborted) throw err;
    const done = err instanceof Interrupted ? err.done : options.report(err);
    throw new Interrupted(`${done}; continue with: ${options.continueWith}`, { cause: err });
  } finally {
    process.off('SIGINT', onSigint);
  }
}

/** Throws Interrupted(`done()`) when `signal` was aborted: a step calls it where it can stop cleanly. */
export function checkInterrupt(signal: AbortSignal | undefined, done: () => string): void {
  if (signal?.aborted) throw new Interrupted(done());
}

/**
 * The command line this process was started with, as a user would type it again (credentials
 * masked), with `add` flags appended when missing and `drop` flags removed: e.g. add --resume,
 * drop --restart.
 */
export function sameCommand(options: { add?: string[]; drop?: string[] } = {}): string {
  const args = process.argv.slice(2).filter((a) => !(options.drop ?? []).includes(a));
  for (const flag of options.add ?? []) if (!args.includes(flag)) args.push(flag);
  return ['npx', 'ferry', ...args].map((a) => shellQuote(redact(a))).join(' ');
}

function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}
