// Real PostgreSQL and RabbitMQ for the whole test run, started (and stopped) by the project script.
import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import { acquireServices } from '../services/services.ts';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const { env, services, release } = await acquireServices((line) => console.error(line));
  Object.assign(process.env, env);
  project.provide('services', services ? JSON.stringify(services) : '');
  return release;
}

declare module 'vitest' {
  // eslint-disable-next-line @typescript-eslint/consistent-type-definitions
  export interface ProvidedContext {
    /** JSON of services/services.ts `Services` when the run started its own servers, else ''. */
    services: string;
  }
}
