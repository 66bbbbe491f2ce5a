#!/usr/bin/env node
// Entry point: ferry is written in TypeScript and runs through tsx's loader, which also lets users'
// ferry.config.ts and transforms load without a build step.
import { register } from 'tsx/esm/api';

register();
await import('../cli/main.ts');
