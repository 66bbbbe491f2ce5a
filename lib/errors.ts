/**
 * A problem the user can fix (bad flag, unreachable server, missing table): the CLI prints only
 * its message, on one line, and exits non-zero. Anything else is a bug and shows its stack.
 */
export class UserError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UserError';
  }
}
