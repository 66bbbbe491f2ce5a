// Worker thread entry: plain JavaScript, so it can register tsx before loading the TypeScript
// worker and, through it, the user's TypeScript config and transforms (both loaders, as in
// bin/ferry.js, for user projects whose package.json does not say "type": "module").
import { register as registerCjs } from 'tsx/cjs/api';
import { register } from 'tsx/esm/api';

registerCjs();
register();
await import('./block-worker.ts');
