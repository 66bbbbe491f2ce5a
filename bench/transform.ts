// ferry transform on a 1,000,000-row table dump (one event per row) against two raw limits measured
// in the same run: gunzip + protobufjs decode of the same dump, with no transform; and that plus
// protobufjs encode + gzip of the events the transform wrote (same level, same blocks), one
// thread: the floor of any transform, which must read its input and write its output.
// `npm run bench -- transform [--rows N] [--workers N]`
//
// Each transform runs in a child process of its own, so its peak RSS (the kernel's high-water mark
// of that process: main thread, workers, buffers) is the transform's alone, not inflated by the
// raw read before it (which holds the whole inflated dump) or by the run before it.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import protobuf from 'protobufjs';
import { DumpReader, parseProto, toDescriptorSet, writeDump } from '../dumps/index.ts';
import { encodeMember } from '../dumps/gzip-member.ts';
import { unframe } from '../dumps/framing.ts';
import { OUTPUT_GZIP_LEVEL, defaultWorkers, runTransformJob, type Order, type TransformJobOptions, type TransformSummary } from '../transform/engine.ts';
import { measure, reportFigure } from './report.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const gunzip = promisify(zlib.gunzip);

const TABLE_PROTO = `syntax = "proto3"; package legacy.dbo;
message Messages { int64 Id = 1; int32 SenderId = 2; int32 RecipientId = 3; optional string Body = 4; google.protobuf.Timestamp SentAt = 5; bool IsRead = 6; }`;
const COLUMNS = [
  { name: 'Id', sqlType: 'bigint', nullable: false },
  { name: 'SenderId', sqlType: 'int', nullable: false },
  { name: 'RecipientId', sqlType: 'int', nullable: false },
  { name: 'Body', sqlType: 'nvarchar(max)', nullable: true },
  { name: 'SentAt', sqlType: 'datetime2', nullable: false },
  { name: 'IsRead', sqlType: 'bit', nullable: false },
];
const EVENT_PROTO = `syntax = "proto3"; package dating.messages;
message MessageSent { string message_id = 1; string sender_id = 2; string recipient_id = 3; optional string body = 4; google.protobuf.Timestamp sent_at = 5; bool read = 6; }`;

function transformSource(apiImport: string): string {
  return `import { defineTransform, type TransformDefinition } from '${apiImport}';
interface Row { Id: bigint; SenderId: number; RecipientId: number; Body: string | null; SentAt: Date; IsRead: boolean }
interface Events { MessageSent: { message_id: string; sender_id: string; recipient_id: string; body?: string | null; sent_at: Date | string; read: boolean } }
export default defineTransform<TransformDefinition<Row, Events, 'dbo.Messages'>>({
  table: 'dbo.Messages',
  aggregateType: 'conversation',
  run(row, ctx) {
    const sender = ctx.id('member', row.SenderId);
    return ctx.event('MessageSent', {
      message_id: ctx.id('message', row.Id), sender_id: sender, recipient_id: ctx.id('member', row.RecipientId),
      body: row.Body, sent_at: row.SentAt, read: row.IsRead,
    }, { occurredAt: row.SentAt, aggregateId: sender });
  },
});
`;
}

function* rows(count: number) {
  for (let i = 0; i < count; i++) {
    yield {
      Id: String(i + 1), SenderId: (i * 7919) % 40_000, RecipientId: (i * 104_729) % 40_000,
      Body: i % 20 === 0 ? undefined : `Hei! Mitä kuuluu? Viesti numero ${i}. `.repeat(1 + (i % 4)),
      // Not in key order, so the ordering has real work to do.
      SentAt: { seconds: 1_400_000_000 + ((i * 7919) % count) * 13, nanos: (i % 1000) * 1000 },
      IsRead: i % 3 === 0,
    };
  }
}

function flag(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}

export default async function run(args: string[] = []): Promise<void> {
  const count = flag(args, '--rows', 1_000_000);
  const workers = flag(args, '--workers', defaultWorkers());
  const dir = process.env.FERRY_BENCH_DIR ?? (await mkdtemp(path.join(os.tmpdir(), 'ferry-bench-transform-')));
  try {
    const dumps = path.join(dir, 'dumps');
    await mkdir(dumps, { recursive: true });
    const root = parseProto([TABLE_PROTO]);
    const type = root.lookupType('legacy.dbo.Messages');
    const file = path.join(dumps, 'dbo.Messages.pb.gz');
    process.stderr.write(`writing ${count} rows to ${file} ...\n`);
    await writeDump(file, {
      kind: 'TABLE', name: 'dbo.Messages', recordType: 'legacy.dbo.Messages', descriptorSet: toDescriptorSet(root),
      columns: COLUMNS.map((c) => ({ ...c, field: c.name, fieldNumber: type.fields[c.name].id })), primaryKey: ['Id'],
    }, rows(count));

    const project = path.join(dir, 'project');
    await mkdir(project, { recursive: true });
    await writeFile(path.join(project, 'package.json'), '{ "type": "module" }\n');
    await writeFile(path.join(project, 'messages.proto'), EVENT_PROTO);
    const api = path.relative(project, path.join(ROOT, 'api', 'transform.ts')).split(path.sep).join('/');
    const lib = path.relative(project, path.join(ROOT, 'api', 'config.ts')).split(path.sep).join('/');
    await writeFile(path.join(project, 'messages.ts'), transformSource(api));
    await writeFile(path.join(project, 'ferry.config.ts'), `import { defineConfig } from '${lib}';
import messages from './messages.ts';
export default defineConfig({ eventSchemas: ['messages.proto'], transforms: [messages] });
`);

    // The raw limit: gunzip the whole file (every gzip member) and decode every record.
    const raw = await measure(async () => {
      const all = await gunzip(await readFile(file));
      const frames = [...unframe(all)];
      for (let i = 1; i < frames.length - 1; i++) type.decode(frames[i]);
      return frames.length - 2;
    });
    if (raw.result !== count) throw new Error(`raw read ${raw.result} of ${count} rows`);
    const limit = count / raw.seconds;

    // The floor adds writing the output: measured on the first run's events (the same events in
    // either order), after it, so the transform children run on a machine as idle as the raw read.
    let floor: number | undefined;
    for (const order of ['none', 'occurred_at'] as Order[]) {
      const out = path.join(dir, `out-${order}`);
      const m = await runChild({
        inDir: dumps, outDir: out, configFile: path.join(project, 'ferry.config.ts'), order, workers, typecheck: false, quiet: true,
        tmpDir: dir, memoryMb: 256,
      });
      const s = m.summary;
      if (s.rows !== count || s.events !== count) throw new Error(`transformed ${s.rows} rows into ${s.events} events, expected ${count}`);
      if (floor === undefined) {
        const write = await writeSeconds(out);
        if (write.events !== count) throw new Error(`re-encoded ${write.events} events, expected ${count}`);
        floor = count / (raw.seconds + write.seconds);
        process.stderr.write(`floor: read ${raw.seconds.toFixed(2)} s + write ${write.seconds.toFixed(2)} s (encode ${write.encodeSeconds.toFixed(2)} s, gzip ${(write.seconds - write.encodeSeconds).toFixed(2)} s)\n`);
      }
      const what = `gunzip + decode of the same dump, no transform`;
      const floorWhat = `gunzip + decode of the dump, plus protobufjs encode + gzip level ${OUTPUT_GZIP_LEVEL} of the events written, same blocks, one thread`;
      process.stderr.write(`--order ${order}: ${m.seconds.toFixed(1)}s, ${workers} workers, peak RSS ${Math.round(m.peakRssMb)} MB${s.sort ? `, ${s.sort.runs} sorted runs spilled` : ''}\n`);
      reportFigure({ name: `transform rows (--order ${order})`, value: count / m.seconds, unit: 'rows/s', limit, limitWhat: what });
      reportFigure({ name: `transform rows (--order ${order}) against its floor`, value: count / m.seconds, unit: 'rows/s', limit: floor, limitWhat: floorWhat });
      reportFigure({ name: `transform events (--order ${order})`, value: s.events / m.seconds, unit: 'events/s', limit, limitUnit: 'rows/s', limitWhat: what });
      await rm(out, { recursive: true, force: true });
    }
  } finally {
    if (!process.env.FERRY_BENCH_DIR) await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Seconds to write the events of a transform's event dumps again, block by block as it wrote
 * them: protobufjs encode of each payload and envelope (delimited), then the block gzipped at the
 * transform's level, one block at a time. Decoding them back into objects first is not timed.
 */
async function writeSeconds(outDir: string): Promise<{ seconds: number; encodeSeconds: number; events: number }> {
  let seconds = 0, encodeSeconds = 0, events = 0;
  for (const name of (await readdir(outDir)).filter((f) => f.endsWith('.pb.gz')).sort()) {
    const reader = await DumpReader.open(path.join(outDir, name));
    try {
      if (reader.header.kind !== 'EVENTS') continue;
      const w = await writeBlocksSeconds(reader);
      seconds += w.seconds;
      encodeSeconds += w.encodeSeconds;
      events += w.events;
    } finally {
      await reader.close();
    }
  }
  return { seconds, encodeSeconds, events };
}

/** writeSeconds for one event dump. */
async function writeBlocksSeconds(reader: DumpReader): Promise<{ seconds: number; encodeSeconds: number; events: number }> {
  let seconds = 0, encodeSeconds = 0, events = 0;
  const types = new Map<string, protobuf.Type>();
  const typeOf = (name: string) => {
    let t = types.get(name);
    if (!t) types.set(name, (t = reader.root.lookupType(name)));
    return t;
  };
  for (let b = 0; b < reader.blocks.length; b++) {
    const envelopes = [...reader.decodeBlock(b, await reader.readBlock(b))] as Array<protobuf.Message & { payload: Uint8Array; payload_type: string }>;
    const payloads = envelopes.map((e) => typeOf(e.payload_type).decode(e.payload));
    const start = performance.now();
    const writer = protobuf.Writer.create();
    for (let i = 0; i < envelopes.length; i++) {
      envelopes[i].payload = typeOf(envelopes[i].payload_type).encode(payloads[i]).finish();
      reader.recordType.encodeDelimited(envelopes[i], writer);
    }
    const block = writer.finish();
    const encoded = performance.now();
    await encodeMember('B', block, OUTPUT_GZIP_LEVEL);
    seconds += (performance.now() - start) / 1000;
    encodeSeconds += (encoded - start) / 1000;
    events += envelopes.length;
  }
  return { seconds, encodeSeconds, events };
}

interface ChildResult {
  seconds: number;
  peakRssMb: number;
  summary: TransformSummary;
}

const CHILD_FLAG = '--ferry-bench-transform-child';

/** Runs one transform job in a child process; its time is the job's, its peak RSS the process's. */
async function runChild(job: TransformJobOptions): Promise<ChildResult> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), CHILD_FLAG], {
    env: { ...process.env, FERRY_BENCH_JOB: JSON.stringify(job) }, stdio: ['ignore', 'pipe', 'inherit'],
  });
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? 1)));
  if (code !== 0) throw new Error(`transform child exited with code ${code}`);
  return JSON.parse(stdout) as ChildResult;
}

if (process.argv.includes(CHILD_FLAG)) {
  const job = JSON.parse(process.env.FERRY_BENCH_JOB!) as TransformJobOptions;
  const m = await measure(() => runTransformJob(job));
  // ru_maxrss, in KiB: the high-water mark of the whole process (all threads), sampled by the kernel.
  const peakRssMb = Math.max(m.peakRssMb, (process.resourceUsage().maxRSS * 1024) / 1e6);
  process.stdout.write(JSON.stringify({ seconds: m.seconds, peakRssMb, summary: m.result } satisfies ChildResult));
}
