import type { Command } from 'commander';
import { notYetImplemented } from './not-yet.ts';

export function registerTransform(program: Command): void {
  program.command('transform').description('(not yet implemented)').allowUnknownOption().action(notYetImplemented('ferry transform'));
}
