#!/usr/bin/env node
// Entry point. In a clone of the repository ferry runs from its TypeScript sources through tsx's
// loaders; the installed package runs its compiled JavaScript (dist/, where a copy of this file
// also sits as dist/bin/ferry.js), which starts in a fraction of the time and registers tsx only
// when it loads a user's ferry.config.ts and transforms.
import { existsSync } from 'node:fs';

const source = new URL('../cli/main.ts', import.meta.url);
if (existsSync(source)) {
  const { registerTypeScript } = await import('../lib/typescript-loader.js');
  await registerTypeScript();
  await import(source.href);
} else {
  const besideDist = new URL('../cli/main.js', import.meta.url);
  await import((existsSync(besideDist) ? besideDist : new URL('../dist/cli/main.js', import.meta.url)).href);
}
