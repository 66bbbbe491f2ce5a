import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  // `import … from 'ferry'` in the example and tests: the sources (package.json exports, condition ferry-source).
  resolve: {
    alias: [
      { find: /^ferry$/, replacement: fileURLToPath(new URL('./api/index.ts', import.meta.url)) },
      { find: /^ferry\/testing$/, replacement: fileURLToPath(new URL('./api/testing.ts', import.meta.url)) },
    ],
  },
  test: {
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**', 'scratch/**'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    // Integration tests share two real servers; two workers match this 2-core machine.
    pool: 'forks',
    maxWorkers: 2,
  },
});
