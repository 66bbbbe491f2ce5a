// Real PostgreSQL and RabbitMQ for the whole test run, started (and stopped) by the project script.
// Every test's temporary folder lives under one folder of the run, removed at its end (a day of
// runs left about 800 MB in /tmp); FERRY_KEEP_TEST_TMP=1 keeps it to look at.
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import { acquireServices } from '../services/services.ts';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const { env, services, release } = await acquireServices((line) => console.error(line));
  Object.assign(process.env, env);
  // Test workers are forked from this process, so they see it in their environment.
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'ferry-tests-'));
  // Servers some tests start run as their own OS users, which must be able to pass through it.
  await chmod(tmp, 0o755);
  process.env.FERRY_TEST_TMP = tmp;
  project.provide('services', services ? JSON.stringify(services) : '');
  return async () => {
    if (!process.env.FERRY_KEEP_TEST_TMP) await rm(tmp, { recursive: true, force: true });
    else console.error(`test folders kept in ${tmp}`);
    await release();
  };
}

declare module 'vitest' {
  // eslint-disable-next-line @typescript-eslint/consistent-type-definitions
  export interface ProvidedContext {
    /** JSON of services/services.ts `Services` when the run started its own servers, else ''. */
    services: string;
  }
}
