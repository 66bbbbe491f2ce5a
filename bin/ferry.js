#!/usr/bin/env node
// Entry point: ferry is written in TypeScript and runs through tsx's loaders, which also let users'
// ferry.config.ts and transforms load without a build step. Both loaders: a user project without
// "type": "module" in its package.json has its .ts files treated as CommonJS.
import { register as registerCjs } from 'tsx/cjs/api';
import { register } from 'tsx/esm/api';

registerCjs();
register();
await import('../cli/main.ts');
