import type { Command } from 'commander';
import { notYetImplemented } from './not-yet.ts';

export function registerDemo(program: Command): void {
  program.command('demo').description('(not yet implemented)').allowUnknownOption().action(notYetImplemented('ferry demo'));
}
