// transform's defaults, apart from the engine so the command line reads them without loading it.
import os from 'node:os';

export function defaultWorkers(): number {
  return Math.max(1, Math.min(os.availableParallelism(), 4));
}
