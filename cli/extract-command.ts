import type { Command } from 'commander';
import { notYetImplemented } from './not-yet.ts';

export function registerExtract(program: Command): void {
  program.command('extract').description('(not yet implemented)').allowUnknownOption().action(notYetImplemented('ferry extract'));
}
