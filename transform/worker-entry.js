// Worker thread entry: plain JavaScript, so it can register tsx before loading the TypeScript
// worker and, through it, the user's TypeScript config and transforms.
import { register } from 'tsx/esm/api';

register();
await import('./block-worker.ts');
