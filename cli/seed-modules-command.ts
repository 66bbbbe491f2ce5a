import type { Command } from 'commander';
import { notYetImplemented } from './not-yet.ts';

export function registerSeedModules(seed: Command): void {
  seed.command('modules').description('(not yet implemented)').allowUnknownOption().action(notYetImplemented('ferry seed modules'));
}
