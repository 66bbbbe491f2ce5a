import type { Command } from 'commander';
import { notYetImplemented } from './not-yet.ts';

export function registerSeed(program: Command): void {
  program.command('seed').description('(not yet implemented)').allowUnknownOption().action(notYetImplemented('ferry seed'));
}
