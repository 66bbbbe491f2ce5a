// A worker thread: loads the config's transforms itself (they are functions, so they cannot be
// sent), then turns each block it is given into encoded events.
import { parentPort, workerData } from 'node:worker_threads';
import { DumpError } from '../dumps/index.ts';
import { loadTransforms } from './inputs.ts';
import { referenceRowsOf } from './reference-table.ts';
import { TransformRuntime, type BlockTask } from './runtime.ts';
import { serializeError, type WorkerInit } from './worker-pool.ts';

const init = workerData as WorkerInit;
const port = parentPort!;

try {
  const { transforms } = await loadTransforms(init.configFile);
  const runtime = new TransformRuntime({
    transforms,
    eventProtos: init.eventProtos,
    lookups: referenceRowsOf(init.lookups),
    sortFields: init.sortFields,
    maxRejectsPerBlock: init.maxRejectsPerBlock,
  });
  for (const spec of init.inputs) runtime.addInput(spec);
  // The pool sends one task at a time per worker and waits for its answer: that is the backpressure.
  port.on('message', (task: BlockTask) => {
    try {
      const result = runtime.processBlock(task);
      const transfer: ArrayBuffer[] = [result.framed.buffer as ArrayBuffer];
      if (result.sortFields) transfer.push(result.sortFields.buffer as ArrayBuffer);
      port.postMessage({ ok: true, result }, transfer.filter((b, i) => transfer.indexOf(b) === i));
    } catch (err) {
      port.postMessage({ ok: false, error: serializeError(err) });
    }
  });
  port.postMessage({ ready: true });
} catch (err) {
  port.postMessage({ ready: false, error: serializeError(err) });
}

export type { DumpError };
