// A fixed set of worker threads running blocks through the transforms, plus the ordered
// pipeline that keeps results in block order whatever finishes first.
import { Worker } from 'node:worker_threads';
import { DumpError, type DumpLocation } from '../dumps/index.ts';
import { UserError } from '../lib/errors.ts';
import type { BlockResult, BlockTask, InputSpec } from './runtime.ts';
import type { ReferenceTableData } from './reference-table.ts';

export interface WorkerInit {
  configFile: string;
  eventProtos: string[];
  inputs: InputSpec[];
  /** Reference tables, in memory shared by every worker (see reference-table.ts). */
  lookups: ReferenceTableData[];
  sortFields: boolean;
  maxRejectsPerBlock: number;
}

interface SerializedError {
  name: string;
  message: string;
  location?: DumpLocation;
  stack?: string;
}

export function serializeError(err: unknown): SerializedError {
  if (err instanceof Error) return { name: err.name, message: err.message, location: (err as DumpError).location, stack: err.stack };
  return { name: 'Error', message: String(err) };
}

function reviveError(e: SerializedError): Error {
  if (e.name === 'DumpError') {
    const err = new DumpError('', e.location);
    err.message = e.message;
    return err;
  }
  if (e.name === 'UserError') return new UserError(e.message);
  const err = new Error(e.message);
  err.name = e.name;
  if (e.stack) err.stack = e.stack;
  return err;
}

/**
 * Young generation of each worker's heap. A row's objects die young, so a small one is collected
 * just as cheaply; V8's default let each worker grow about 20 MB more (1M rows, 2 workers: the
 * same CPU time, 40 MB less peak RSS).
 */
const WORKER_YOUNG_GENERATION_MB = 8;

/**
 * Old generation of each worker's heap, unless --worker-heap-mb says: 64 MB for the code, the
 * schemas and the garbage of a few blocks, 16 MB for the id caches (at most 100k ids a kind, see
 * ids.ts), and room for the rows of the largest block (strings take up to twice their UTF-8
 * bytes). Reference tables are shared memory outside the heap (reference-table.ts). V8's own
 * limit (a quarter of the machine's memory) let each worker keep garbage: at the example's fi
 * scale a 114 MB limit took the transform's peak RSS from 528 to ~475 MB, in the same CPU time.
 */
export function defaultWorkerHeapMb(largestBlockBytes: number): number {
  return Math.ceil(80 + (4 * largestBlockBytes) / 1e6);
}

interface Job {
  task: BlockTask;
  resolve: (r: BlockResult) => void;
  reject: (e: Error) => void;
}

export class WorkerPool {
  private readonly idle: Worker[] = [];
  private readonly queue: Job[] = [];
  private readonly current = new Map<Worker, Job>();
  private failure?: Error;
  private closing = false;

  private constructor(
    private readonly workers: Worker[],
    private readonly heapMb: number,
  ) {}

  /** A worker's crash as the user should read it. */
  private explain(err: Error): Error {
    if ((err as NodeJS.ErrnoException).code !== 'ERR_WORKER_OUT_OF_MEMORY') return err;
    return new UserError(`a transform worker ran out of its ${this.heapMb} MB heap (the rows of a block and the id caches live there): give more with --worker-heap-mb`);
  }

  static async start(count: number, init: WorkerInit, heapMb: number): Promise<WorkerPool> {
    const entry = new URL('./worker-entry.js', import.meta.url);
    const resourceLimits = { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB, maxOldGenerationSizeMb: heapMb };
    const workers = Array.from({ length: count }, () => new Worker(entry, { workerData: init, resourceLimits }));
    const pool = new WorkerPool(workers, heapMb);
    try {
      await Promise.all(workers.map((w) => pool.waitReady(w)));
    } catch (err) {
      await pool.close();
      throw err;
    }
    for (const w of workers) pool.attach(w);
    return pool;
  }

  private waitReady(w: Worker): Promise<void> {
    return new Promise((resolve, reject) => {
      const onMessage = (m: { ready?: boolean; error?: SerializedError }) => {
        if (m.ready === undefined) return;
        w.off('error', onError);
        w.off('message', onMessage);
        if (m.ready) resolve();
        else reject(reviveError(m.error!));
      };
      const onError = (err: Error) => reject(this.explain(err));
      w.on('message', onMessage);
      w.once('error', onError);
    });
  }

  private attach(w: Worker): void {
    w.on('message', (m: { ok: boolean; result?: BlockResult; error?: SerializedError }) => {
      const job = this.current.get(w);
      this.current.delete(w);
      this.idle.push(w);
      if (job) {
        if (m.ok) job.resolve(m.result!);
        else job.reject(reviveError(m.error!));
      }
      this.dispatch();
    });
    const broken = (crash: Error) => {
      if (this.closing) return;
      const err = this.explain(crash);
      this.failure ??= err;
      const job = this.current.get(w);
      this.current.delete(w);
      job?.reject(err);
      for (const j of this.queue.splice(0)) j.reject(err);
    };
    w.on('error', broken);
    w.on('exit', (code) => broken(new Error(`transform worker exited with code ${code}`)));
    this.idle.push(w);
  }

  run(task: BlockTask): Promise<BlockResult> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.queue.push({ task, resolve, reject });
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.idle.length && this.queue.length) {
      const w = this.idle.pop()!;
      const job = this.queue.shift()!;
      this.current.set(w, job);
      // The block's bytes are transferred when they are a buffer of their own, copied otherwise.
      const raw = job.task.raw;
      const own = raw.byteOffset === 0 && raw.byteLength === raw.buffer.byteLength && raw.buffer instanceof ArrayBuffer;
      w.postMessage(job.task, own ? [raw.buffer as ArrayBuffer] : []);
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/**
 * Runs `run` on every task with up to `window` tasks started but not yet taken, and yields results
 * in task order. Tasks are pulled as soon as a slot is free, also while the consumer is busy with
 * a result (writing it, spilling a sorted run): the workers keep working meanwhile.
 */
export async function* orderedResults<T, R>(tasks: AsyncIterable<T>, run: (task: T) => Promise<R>, window: number): AsyncGenerator<R> {
  const slots: Promise<R>[] = [];
  const iterator = tasks[Symbol.asyncIterator]();
  let done = false;
  let pulling: Promise<void> | undefined;
  let pullError: { error: unknown } | undefined;
  let wake: (() => void) | undefined;
  const fill = () => {
    if (pulling || done) return;
    pulling = (async () => {
      try {
        while (!done && slots.length < window) {
          const next = await iterator.next();
          if (next.done) {
            done = true;
            break;
          }
          const p = run(next.value);
          p.catch(() => undefined); // reported when its turn comes
          slots.push(p);
          wake?.();
        }
      } catch (err) {
        pullError = { error: err };
        done = true;
      } finally {
        pulling = undefined;
        wake?.();
      }
    })();
  };
  try {
    fill();
    for (;;) {
      if (slots.length === 0) {
        if (done && !pulling) {
          if (pullError) throw pullError.error;
          return;
        }
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
        continue;
      }
      const result = await slots[0];
      slots.shift();
      fill();
      yield result;
    }
  } finally {
    done = true;
    await pulling;
    await iterator.return?.();
    await Promise.allSettled(slots);
  }
}
