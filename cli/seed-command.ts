import type { Command } from 'commander';
import { registerSeedModules } from './seed-modules-command.ts';
import { registerSeedRabbitmq } from './seed-rabbitmq-command.ts';

export function registerSeed(program: Command): void {
  const seed = program.command('seed').description('publish event dumps to RabbitMQ or write them into module databases');
  registerSeedRabbitmq(seed);
  registerSeedModules(seed);
}
