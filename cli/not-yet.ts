import { UserError } from '../lib/errors.ts';

/** Action for a command whose issue has not landed yet. */
export function notYetImplemented(name: string): () => never {
  return () => {
    throw new UserError(`${name} is not yet implemented in this version of ferry`);
  };
}
