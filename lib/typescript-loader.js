// Lets Node import TypeScript (ferry's own sources in a clone, a user's ferry.config.ts and
// transforms) through tsx. Both loaders: a user project without "type": "module" in its
// package.json has its .ts files treated as CommonJS. Plain JavaScript, so it runs before any
// TypeScript can load; tsx is imported only when asked for (it takes ~0.1 s to load), and a
// second call does nothing. Loader hooks belong to a thread: workers call it too.
import { existsSync } from 'node:fs';
import { register as registerHooks } from 'node:module';

let registered;

export function registerTypeScript() {
  registered ??= Promise.all([import('tsx/cjs/api'), import('tsx/esm/api')]).then(([cjs, esm]) => {
    cjs.register();
    esm.register();
    // In a clone (the sources are here), 'ferry' means these sources, not a build of them.
    if (existsSync(new URL('../api/index.ts', import.meta.url))) registerHooks(new URL('./source-self-hooks.js', import.meta.url));
  });
  return registered;
}
