import type { Command } from 'commander';
import { notYetImplemented } from './not-yet.ts';

export function registerSeedRabbitmq(seed: Command): void {
  seed.command('rabbitmq').description('(not yet implemented)').allowUnknownOption().action(notYetImplemented('ferry seed rabbitmq'));
}
