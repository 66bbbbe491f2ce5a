// `npm run bench -- NAME`: runs bench/NAME.ts, which starts what it needs and prints its figures.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
// Benchmarks import the example's ferry.config.ts, which imports 'ferry': in a clone that means
// these sources (the hooks bin/ferry.js registers), not a dist/ that may not be built.
import { registerTypeScript } from '../lib/typescript-loader.js';

await registerTypeScript();

const NAMES = ['dump', 'extract', 'transform', 'seed-modules', 'seed-rabbitmq', 'e2e', 'startup', 'faults'];
const name = process.argv[2];
if (!name || !NAMES.includes(name)) {
  process.stderr.write(`usage: npm run bench -- NAME   (NAME: ${NAMES.join(', ')})\n`);
  process.exit(2);
}
const file = fileURLToPath(new URL(`./${name}.ts`, import.meta.url));
if (!existsSync(file)) {
  process.stderr.write(`bench ${name}: not yet implemented\n`);
  process.exit(1);
}
const bench = (await import(file)) as { default: (args: string[]) => Promise<void> };
await bench.default(process.argv.slice(3));
