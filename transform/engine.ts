// `ferry transform`: table dumps → user transforms (in worker threads) → event dumps.
// Blocks stream through a bounded window; results are taken in block order, so the output is the
// same whatever the worker count. Outputs are written to a staging folder beside --out and moved
// in only when everything succeeded (a failed run leaves the previous outputs as they were).
import { open, readdir, rename, rm, type FileHandle } from 'node:fs/promises';
import { createHash, type Hash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import protobuf from 'protobufjs';
import { DumpError, DumpReader, DumpWriter, ENVELOPE_TYPE, decodePayload, readEnvelope, parseProto, toDescriptorSet, type DumpSummary, type DumpWriterOptions, type HeaderInit } from '../dumps/index.ts';
import { frameEnd, unframe } from '../dumps/framing.ts';
import { UserError } from '../lib/errors.ts';
import { checkOutputDir, makeOutputDir, removeIfEmpty } from '../lib/output-dir.ts';
import { checkInterrupt } from '../lib/interrupt.ts';
import { lockOutput, removeDebris } from '../lib/run-lock.ts';
import { parseShardSpec } from '../lib/shard.ts';
import { Progress, formatCount } from '../lib/progress.ts';
import { runMetrics } from '../lib/run-metrics.ts';
import { ExternalSorter, type SortStats } from './external-sort.ts';
import {
  checkTransforms, closeAll, keyFieldsOf, loadTransforms, lookupSources, openTableDumps, parseSample, planBlocks,
  type PlannedBlock, type Sample,
} from './inputs.ts';
import { TransformRuntime, TransformRowError, type BlockResult, type BlockTask, type InputSpec, type Reject } from './runtime.ts';
import { buildReferenceTable, referenceRowsOf, type ReferenceTableData } from './reference-table.ts';
import { typecheckConfig } from './typecheck.ts';
import { WorkerPool, defaultWorkerHeapMb, orderedResults } from './worker-pool.ts';
import { defaultWorkers } from './defaults.ts';

export type Order = 'none' | 'occurred_at';

export interface TransformJobOptions {
  inDir: string;
  /** Also read the dumps in subfolders of the input folder (--recursive). */
  recursive?: boolean;
  /** Required unless dryRun. */
  outDir?: string;
  configFile: string;
  order?: Order;
  /** "N" rows per table or "P%" of each table's blocks. */
  sample?: string;
  dryRun?: boolean;
  /** Worker threads; 0 runs transforms in the main thread. Default min(cores, 4). */
  workers?: number;
  /** Rejected rows tolerated (written to rejects.pb.gz); default 0: stop at the first. */
  maxErrors?: number;
  /** Memory budget of the ordering (external sort), in MiB. */
  memoryMb?: number;
  /** Heap limit of each worker (V8 old generation), in MB; default from the reference tables' size. */
  workerHeapMb?: number;
  /** Where sorted runs are spilled (default: the OS temp folder). */
  tmpDir?: string;
  /** Sorted runs merged at once (default 64); more runs than this are merged in several passes. */
  sortFanIn?: number;
  /** Type-check the config and transforms first (default true). */
  typecheck?: boolean;
  /** Dry run: how many of the first events to return. */
  showEvents?: number;
  /** No live progress on stderr. */
  quiet?: boolean;
  /**
   * Per event type, a digest of its events and its first event (for --watch, which reports which
   * types changed even when their counts did not). Costs a decode of every envelope.
   */
  digests?: boolean;
  /** "i/n": transform only blocks i, i+n, i+2n … of each table dump (n copies cover everything). */
  shard?: string;
  /** Aborting (Ctrl-C) stops at the next block; nothing is published to --out. */
  signal?: AbortSignal;
}

export interface TableSummary {
  table: string;
  files: number;
  rows: number;
  events: number;
  rejected: number;
}

export interface OutputSummary {
  file: string;
  events: number;
  blocks: number;
  bytes: number;
}

export interface TransformSummary {
  command: 'transform';
  ok: true;
  in: string;
  out: string | null;
  order: Order;
  dryRun: boolean;
  sample: string | null;
  shard: string | null;
  workers: number;
  rows: number;
  events: number;
  rejected: number;
  /** Type-checking the config and transforms before the run (null with --no-typecheck); not in `seconds`. */
  typecheckSeconds: number | null;
  /** From the end of type-checking to the end of the run: the interval of every rate. */
  seconds: number;
  rowsPerSecond: number;
  eventsPerSecond: number;
  tables: TableSummary[];
  eventTypes: Array<{ type: string; events: number; digest?: string; first?: object }>;
  outputs: OutputSummary[];
  rejectsFile: string | null;
  /** Table dumps in --in without a transform (reference tables excluded). */
  skippedTables: string[];
  sort: (SortStats & { memoryMb: number }) | null;
  /** Dry run: the first events, decoded. */
  firstEvents?: object[];
}

export const EVENTS_FILE = 'events.pb.gz';
export const REJECTS_FILE = 'rejects.pb.gz';
const OUTPUT_BLOCK_RECORDS = 50_000;
const OUTPUT_BLOCK_BYTES = 1024 * 1024;
/**
 * zlib level of event dumps. Envelopes are mostly UUID hex and payload bytes: level 1 makes files
 * as small as level 3 (within 0.1 %) in about 60 % of the time, and compressing is the single
 * largest cost of a transform after the transforms themselves.
 */
export const OUTPUT_GZIP_LEVEL = 1;

const REJECT_PROTO = `syntax = "proto3"; package ferry.transform;
// A row a transform could not turn into valid events (ferry transform --max-errors).
message Reject { string table = 1; string file = 2; uint32 block = 3; uint32 row = 4; string error = 5; string row_json = 6; bytes record = 7; }`;
const REJECT_DESCRIPTOR = toDescriptorSet(parseProto([REJECT_PROTO]));

class TransformProgress extends Progress {
  events = 0;
  override line(): string {
    const s = Math.max(this.elapsedSeconds(), 1e-9);
    return `${super.line()}, ${formatCount(this.events)} events (${formatCount(this.events / s)}/s)`;
  }
}

export { defaultWorkers };

export async function runTransformJob(options: TransformJobOptions): Promise<TransformSummary> {
  if (options.dryRun || !options.outDir) return transformJob(options);
  // From the first moment, one run per --out (and shard): the lock is outside the user's tree (see
  // outputLockFile), so a run that fails at once leaves no --out behind.
  const outDir = path.resolve(options.outDir);
  const parent = path.dirname(outDir);
  const suffix = parseShardSpec(options.shard)?.suffix ?? '';
  const lock = await lockOutput(outDir, 'transform', suffix, `ferry transform${options.shard ? ` --shard ${options.shard}` : ''}`);
  try {
    // Checked under the lock: the check makes and removes a probe folder, which two runs racing would trip over.
    await checkOutputDir(outDir, '--out');
    // Staging folders of runs killed with -9 (the pid ends the name).
    await removeDebris(parent, new RegExp(`^\\.${escapeRegExp(path.basename(outDir))}\\.ferry-transform${escapeRegExp(suffix)}-(\\d+)$`));
    return await transformJob(options);
  } finally {
    await lock.release();
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

async function transformJob(options: TransformJobOptions): Promise<TransformSummary> {
  const order = options.order ?? 'none';
  const dryRun = Boolean(options.dryRun);
  const maxErrors = options.maxErrors ?? 0;
  const workers = options.workers ?? defaultWorkers();
  const memoryMb = options.memoryMb ?? 64; // with the workers' heaps, a run at the example's fi scale stays under 500 MB RSS
  if (!dryRun && !options.outDir) throw new UserError('--out DIR is required (or use --dry-run)');
  const sample: Sample | undefined = options.sample ? parseSample(options.sample) : undefined;
  const shard = parseShardSpec(options.shard);
  const suffix = shard?.suffix ?? '';
  // Checked now (at once, leaving nothing), made when the work starts.
  if (!dryRun) await checkOutputDir(path.resolve(options.outDir!), '--out');
  if (options.tmpDir && order === 'occurred_at') await checkOutputDir(path.resolve(options.tmpDir), '--tmp-dir');
  // Loading first reports a missing config or a syntax error (file:line:col) at once; type-checking
  // takes seconds and would bury a syntax error among the errors that follow from it.
  const { transforms, eventProtos } = await loadTransforms(options.configFile);
  // Type-checking is timed on its own: `seconds` and every rate cover the run after it.
  let typecheckSeconds: number | null = null;
  if (options.typecheck ?? true) {
    const t = performance.now();
    await typecheckConfig(options.configFile);
    typecheckSeconds = (performance.now() - t) / 1000;
  }
  const started = performance.now();
  let runtime: TransformRuntime;
  try {
    runtime = new TransformRuntime({ transforms, eventProtos });
  } catch (err) {
    throw new UserError(`event schemas do not parse: ${(err as Error).message}`);
  }

  const tables = await openTableDumps(options.inDir, options.recursive);
  let pool: WorkerPool | undefined;
  let sorter: ExternalSorter | undefined;
  const outDir = options.outDir ? path.resolve(options.outDir) : undefined;
  const staging = outDir && !dryRun ? path.join(path.dirname(outDir), `.${path.basename(outDir)}.ferry-transform${suffix}-${process.pid}`) : undefined;
  const openWriters = new Set<{ abort(): Promise<void> }>();
  let succeeded = false;
  let madeOut: string | undefined;
  try {
    checkTransforms(transforms, tables, options.inDir);
    const transformed = [...transforms].sort((a, b) => a.table.localeCompare(b.table));
    const lookupTables = new Set(transforms.flatMap((t) => t.lookups ?? []));
    const lookups = lookupSources(lookupTables, tables, transforms);

    // Input files in sorted path order; the position is the file's part of the ordering tie-break.
    const files = transformed.flatMap((t) => tables.get(t.table)!.readers.map((reader) => ({ reader, table: t.table })));
    files.sort((a, b) => (a.reader.file < b.reader.file ? -1 : a.reader.file > b.reader.file ? 1 : 0));
    const specs: InputSpec[] = files.map(({ reader, table }, ordinal) => ({
      ordinal, table, file: reader.file, recordType: reader.header.recordType, descriptorSet: reader.header.descriptorSet, keyFields: keyFieldsOf(reader.header),
    }));
    const plan: PlannedBlock[] = [];
    for (const t of transformed) {
      const readers = files.map((f, ordinal) => ({ ...f, ordinal })).filter((f) => f.table === t.table);
      plan.push(...planBlocks(readers, sample));
    }
    plan.sort((a, b) => a.ordinal - b.ordinal || a.block - b.block);
    if (shard) {
      // Every copy computes the same plan from the same dumps, so block k of it goes to shard k mod n
      // (spread over all tables, so one-block tables do not all land on shard 0).
      const mine = plan.filter((_, k) => k % shard.count === shard.index);
      plan.splice(0, plan.length, ...mine);
    }
    const totalRows = plan.reduce((s, b) => s + (b.limitRows ?? b.records), 0);

    // Reference tables are read once, into memory the workers share.
    const referenceTables: ReferenceTableData[] = [];
    for (const source of lookups) referenceTables.push(await buildReferenceTable(source));
    // The main thread looks rows up only when it transforms blocks itself (--workers 0).
    runtime = new TransformRuntime({
      transforms, eventProtos, lookups: workers > 0 ? undefined : referenceRowsOf(referenceTables), sortFields: order === 'occurred_at', maxRejectsPerBlock: maxErrors,
    });
    for (const spec of specs) runtime.addInput(spec);
    if (workers > 0) {
      const largestBlock = plan.reduce((max, p) => Math.max(max, p.reader.blocks[p.block].uncompressedBytes), 0);
      pool = await WorkerPool.start(workers, {
        configFile: path.resolve(options.configFile), eventProtos, inputs: specs, lookups: referenceTables, sortFields: order === 'occurred_at', maxRejectsPerBlock: maxErrors,
      }, options.workerHeapMb ?? defaultWorkerHeapMb(largestBlock));
    }
    const mainRuntime = runtime;
    const run = pool ? (t: BlockTask) => pool!.run(t) : async (t: BlockTask) => mainRuntime.processBlock(t);

    // Outputs are stamped with the newest input's creation time, not the clock: re-runs are byte-identical.
    const stamp = files.map((f) => f.reader.header.createdAt).sort().at(-1) ?? new Date(0).toISOString();
    const header = (name: string, properties: Record<string, string>): HeaderInit => ({
      kind: 'EVENTS', name, recordType: ENVELOPE_TYPE, descriptorSet: mainRuntime.descriptorSet, createdAt: stamp,
      origin: { source: 'transform', startedAt: stamp, toolVersion: 'ferry 0.1.0' },
      properties: { order, sample: options.sample ?? '', shard: shard?.text ?? '', ...properties },
    });
    const writerOptions = { finishedAt: stamp, blockRecords: OUTPUT_BLOCK_RECORDS, blockBytes: OUTPUT_BLOCK_BYTES, level: OUTPUT_GZIP_LEVEL };
    const createWriterWith = async (name: string, init: HeaderInit, o: DumpWriterOptions) => {
      const w = await DumpWriter.create(path.join(staging!, name), init, o);
      openWriters.add(w);
      return w;
    };
    const createWriter = (name: string, init: HeaderInit) => createWriterWith(name, init, writerOptions);
    // Event dumps come as whole blocks faster than one thread deflates them: several compress at once
    // (without it, compression ran alone after the sort: ~4 s of a 9 s ordered run on 1M events).
    const eventWriterOptions = { finishedAt: stamp, level: OUTPUT_GZIP_LEVEL, compressAhead: Math.max(2, Math.min(os.availableParallelism(), 4)) };
    const createEventWriter = (name: string, init: HeaderInit) => createWriterWith(name, init, eventWriterOptions);
    const closeWriter = async (w: DumpWriter): Promise<DumpSummary> => {
      openWriters.delete(w);
      return w.close();
    };
    if (staging) {
      madeOut = await makeOutputDir(outDir!, '--out');
      await rm(staging, { recursive: true, force: true });
      await makeOutputDir(staging, '--out');
    }

    const progress = new TransformProgress({ label: 'transform', unit: 'rows', total: totalRows, quiet: options.quiet });
    const perTable = new Map<string, TableSummary>(
      transformed.map((t) => [t.table, { table: t.table, files: tables.get(t.table)!.readers.length, rows: 0, events: 0, rejected: 0 }]),
    );
    const perType = new Map<string, number>();
    const outputs: OutputSummary[] = [];
    const firstEvents: object[] = [];
    const showEvents = options.showEvents ?? 10;
    let rejected = 0;
    let rejectsWriter: DumpWriter | undefined;
    let current: { input: number; writer: DumpWriter } | undefined;
    if (order === 'occurred_at' && !dryRun) sorter = new ExternalSorter({ budgetBytes: memoryMb * 1024 * 1024, tmpDir: options.tmpDir, fanIn: options.sortFanIn, blockRecords: OUTPUT_BLOCK_RECORDS, blockBytes: OUTPUT_BLOCK_BYTES });

    // Blocks are read (as stored: workers inflate them) a few ahead of the one handed out.
    const readAhead = Math.max(2, workers + 1);
    const handles = new Map<string, Promise<FileHandle>>();
    const readRaw = async (p: PlannedBlock): Promise<BlockTask> => {
      const info = p.reader.blocks[p.block];
      let fh = handles.get(p.reader.file);
      if (!fh) {
        fh = open(p.reader.file, 'r');
        fh.catch(() => undefined);
        handles.set(p.reader.file, fh);
      }
      // A buffer of its own (not a pooled slice), so it can be transferred to the worker.
      const raw = Buffer.allocUnsafeSlow(info.compressedBytes);
      for (let got = 0; got < raw.length;) {
        const { bytesRead } = await (await fh).read(raw, got, raw.length - got, info.offset + got);
        if (bytesRead === 0) throw new DumpError(`the file ends inside block ${p.block}`, { file: p.reader.file, block: p.block, offset: info.offset + got });
        got += bytesRead;
      }
      return { input: p.ordinal, block: p.block, raw, offset: info.offset, uncompressedBytes: info.uncompressedBytes, records: p.records, limitRows: p.limitRows };
    };
    const readTasks = async function* (): AsyncGenerator<BlockTask> {
      const reads: Array<Promise<BlockTask>> = [];
      let next = 0;
      const start = () => {
        const read = readRaw(plan[next++]);
        read.catch(() => undefined); // reported when its turn comes
        reads.push(read);
      };
      try {
        while (reads.length < readAhead && next < plan.length) start();
        while (reads.length) {
          const task = await reads[0];
          reads.shift();
          if (next < plan.length) start();
          yield task;
        }
      } finally {
        await Promise.allSettled(reads);
        for (const fh of handles.values()) await (await fh.catch(() => undefined))?.close();
      }
    };
    const envelopeType = mainRuntime.root.lookupType(ENVELOPE_TYPE);
    const window = Math.max(4, workers * 3);

    const digests = new Map<string, { hash: Hash; first: object }>();
    for await (const result of orderedResults(readTasks(), run, window)) {
      checkInterrupt(options.signal, () => `${progress.count} of ${totalRows} rows transformed; nothing was written to ${options.outDir ?? 'the output'} (outputs are published only when a run completes)`);
      const spec = specs[result.input];
      const t = perTable.get(spec.table)!;
      for (const reject of result.rejects) {
        rejected++;
        t.rejected++;
        if (rejected > maxErrors) throw rejectError(reject, maxErrors);
        rejectsWriter ??= dryRun ? undefined : await createWriter(rejectsFileName(suffix), {
          kind: 'REJECTS', name: 'rejects', recordType: 'ferry.transform.Reject', descriptorSet: REJECT_DESCRIPTOR, createdAt: stamp,
          origin: { source: 'transform', startedAt: stamp, toolVersion: 'ferry 0.1.0' },
        });
        await rejectsWriter?.write({ table: reject.table, file: reject.file, block: reject.block, row: reject.row, error: reject.error, row_json: reject.rowText, record: reject.record });
      }
      t.rows += result.rows;
      t.events += result.events;
      for (const [type, n] of Object.entries(result.typeCounts)) perType.set(type, (perType.get(type) ?? 0) + n);
      progress.add(result.rows);
      progress.events += result.events;
      runMetrics.add('table', spec.table, { rows: result.rows, events: result.events, batches: 1, errors: result.rejects.length });
      if (options.digests) digestEvents(result, digests, envelopeType, mainRuntime.root);

      if (dryRun) {
        collectFirst(result, firstEvents, showEvents, envelopeType, mainRuntime.root);
      } else if (order === 'none') {
        if (current?.input !== result.input) {
          if (current) outputs.push(summaryOf(await closeWriter(current.writer)));
          current = {
            input: result.input,
            writer: await createEventWriter(eventsFileFor(spec.file, suffix), header(spec.table, { source: path.basename(spec.file) })),
          };
        }
        await writeFramed(current.writer, result);
      } else {
        await sorter!.add(result, result.input);
      }
    }
    if (current) outputs.push(summaryOf(await closeWriter(current.writer)));
    // Every block is transformed: the workers' heaps (~150 MB each at the example's fi scale) are
    // freed before the merge needs its read buffers.
    await pool?.close();
    pool = undefined;
    if (sorter) {
      const w = await createEventWriter(`events${suffix}.pb.gz`, header('events', { sources: files.map((f) => path.basename(f.reader.file)).join(',') }));
      for await (const block of sorter.sortedBlocks()) await w.writeFramedBlock(block.framed, block.count, block.release);
      outputs.push(summaryOf(await closeWriter(w)));
    }
    let rejectsFile: string | null = null;
    if (rejectsWriter) {
      await closeWriter(rejectsWriter);
      rejectsFile = path.join(outDir!, rejectsFileName(suffix));
    }
    progress.finish();
    if (staging) await publish(staging, outDir!, shard?.text);
    succeeded = true;

    const seconds = (performance.now() - started) / 1000;
    const rows = [...perTable.values()].reduce((s, t) => s + t.rows, 0);
    const events = [...perTable.values()].reduce((s, t) => s + t.events, 0);
    const summary: TransformSummary = {
      command: 'transform',
      ok: true,
      in: options.inDir,
      out: dryRun ? null : options.outDir!,
      order,
      dryRun,
      sample: options.sample ?? null,
      shard: shard?.text ?? null,
      workers,
      rows,
      events,
      rejected,
      typecheckSeconds,
      seconds,
      rowsPerSecond: rows / Math.max(seconds, 1e-9),
      eventsPerSecond: events / Math.max(seconds, 1e-9),
      tables: [...perTable.values()],
      eventTypes: [...perType.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([type, n]) => {
        const d = digests.get(type);
        return d ? { type, events: n, digest: d.hash.digest('hex'), first: d.first } : { type, events: n };
      }),
      outputs: outputs.map((o) => ({ ...o, file: path.join(options.outDir ?? '', path.basename(o.file)) })),
      rejectsFile,
      skippedTables: [...tables.keys()].filter((t) => !perTable.has(t) && !lookupTables.has(t)).sort(),
      sort: sorter ? { ...sorter.stats, memoryMb } : null,
    };
    if (dryRun) summary.firstEvents = firstEvents;
    return summary;
  } finally {
    await pool?.close();
    await sorter?.cleanup();
    for (const w of openWriters) await w.abort();
    await closeAll(tables);
    if (staging && !succeeded) await rm(staging, { recursive: true, force: true });
    // A run that failed before publishing leaves no --out it made.
    if (!succeeded) await removeIfEmpty(outDir!, madeOut);
  }
}

function rejectError(reject: Reject, maxErrors: number): UserError {
  const e = new TransformRowError({ ...reject });
  const hint = maxErrors === 0
    ? '; fix the transform, or pass --max-errors N to keep going and collect rejected rows in rejects.pb.gz'
    : `; more than --max-errors ${maxErrors} rows were rejected`;
  return new UserError(`${e.message}${hint}`);
}

/**
 * dbo.Members.pb.gz → dbo.Members.events.pb.gz (so sorted file names keep the input order);
 * with --shard 1/4, dbo.Members.shard-1-of-4.events.pb.gz.
 */
export function eventsFileFor(inputFile: string, shardSuffix = ''): string {
  return path.basename(inputFile).replace(/\.pb\.gz$/, '') + shardSuffix + '.events.pb.gz';
}

function rejectsFileName(shardSuffix: string): string {
  return REJECTS_FILE.replace(/\.pb\.gz$/, `${shardSuffix}.pb.gz`);
}

async function writeFramed(writer: DumpWriter, result: BlockResult): Promise<void> {
  if (result.events === 0) return;
  if (result.framed.length <= OUTPUT_BLOCK_BYTES * 2) {
    await writer.writeFramedBlock(result.framed, result.events);
    return;
  }
  // A block that made a lot of events is split so output blocks stay near the usual size (the
  // frames are walked by their length prefixes: no view per event).
  const framed = result.framed;
  let start = 0;
  let offset = 0;
  let count = 0;
  while (offset < framed.length) {
    offset = frameEnd(framed, offset);
    count++;
    if (offset - start >= OUTPUT_BLOCK_BYTES) {
      await writer.writeFramedBlock(framed.subarray(start, offset), count);
      start = offset;
      count = 0;
    }
  }
  if (count) await writer.writeFramedBlock(framed.subarray(start, offset), count);
}

/** Adds a block's events to the digest of their type (in output order, so equal runs give equal digests). */
function digestEvents(result: BlockResult, into: Map<string, { hash: Hash; first: object }>, envelopeType: protobuf.Type, root: protobuf.Root): void {
  for (const bytes of unframe(result.framed)) {
    const event = readEnvelope(envelopeType.decode(bytes));
    let d = into.get(event.type);
    if (!d) {
      const { payload: _raw, ...rest } = event;
      d = { hash: createHash('sha1'), first: { ...rest, payload: decodePayload(root, event) } };
      into.set(event.type, d);
    }
    d.hash.update(bytes);
  }
}

function collectFirst(result: BlockResult, into: object[], limit: number, envelopeType: protobuf.Type, root: protobuf.Root): void {
  if (into.length >= limit) return;
  for (const bytes of unframe(result.framed)) {
    if (into.length >= limit) return;
    const event = readEnvelope(envelopeType.decode(bytes));
    const { payload: _raw, ...rest } = event;
    into.push({ ...rest, payload: decodePayload(root, event) });
  }
}

function summaryOf(s: DumpSummary): OutputSummary {
  return { file: s.file, events: s.records, blocks: s.blocks, bytes: s.bytes };
}

/** Replaces the previous transform outputs in `outDir` with the staged ones. */
/**
 * Moves the finished outputs into --out and removes what an earlier transform left there that this
 * run did not write again; a shard removes only its own shard's leftovers, never another shard's.
 */
async function publish(staging: string, outDir: string, shard: string | undefined): Promise<void> {
  const fresh = new Set(await readdir(staging));
  for (const name of await readdir(outDir)) {
    if (!name.endsWith('.pb.gz') || fresh.has(name)) continue;
    const file = path.join(outDir, name);
    let fromTransform = false;
    try {
      const r = await DumpReader.open(file);
      fromTransform = r.header.origin.source === 'transform' && (!shard || r.header.properties.shard === shard);
      await r.close();
    } catch {
      // not a readable dump: not ours to remove
    }
    if (fromTransform) await rm(file, { force: true });
  }
  for (const name of fresh) await rename(path.join(staging, name), path.join(outDir, name));
  await rm(staging, { recursive: true, force: true });
}
