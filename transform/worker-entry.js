// Worker thread entry: plain JavaScript, so it can register tsx before loading the worker (from
// TypeScript sources in a clone of the repository, compiled JavaScript in the package) and,
// through it, the user's TypeScript config and transforms.
import { existsSync } from 'node:fs';
import { registerTypeScript } from '../lib/typescript-loader.js';

await registerTypeScript();
const source = new URL('./block-worker.ts', import.meta.url);
await import(existsSync(source) ? source.href : new URL('./block-worker.js', import.meta.url).href);
