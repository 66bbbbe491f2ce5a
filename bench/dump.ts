// Dump writer and reader against the raw work they wrap, on the same 1,000,000 message-like records
// (~250 bytes encoded): write vs protobufjs encodeDelimited + one plain gzip stream of the same
// bytes; read vs plain gunzip + protobufjs decode of the same bytes. The parts of each limit
// (encode alone, gzip alone, …) are printed too, so a regression shows where it is.
// `npm run bench -- dump [--rows N]`
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import protobuf from 'protobufjs';
import { DumpReader, parseProto, toDescriptorSet, writeDump } from '../dumps/index.ts';
import { unframe } from '../dumps/framing.ts';
import { measure, reportFigure } from './report.ts';

const PROTO = `syntax = "proto3"; package bench;
message Message { int32 id = 1; int32 sender_id = 2; int32 recipient_id = 3; optional string body = 4;
  google.protobuf.Timestamp sent_at = 5; bool is_read = 6; optional google.protobuf.Timestamp deleted_at = 7; }`;

function* rows(count: number) {
  for (let i = 0; i < count; i++) {
    yield {
      id: i, sender_id: (i * 7919) % 40_000, recipient_id: (i * 104_729) % 40_000,
      body: `Hei! Mitä kuuluu? Viesti numero ${i}. `.repeat(3 + (i % 5)), sent_at: { seconds: 1_500_000_000 + i * 13, nanos: 0 },
      is_read: i % 3 === 0, deleted_at: i % 50 === 0 ? { seconds: 1_600_000_000 + i, nanos: 0 } : undefined,
    };
  }
}

function flag(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}

export default async function run(args: string[] = []): Promise<void> {
  const count = flag(args, '--rows', 1_000_000);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-bench-dump-'));
  const root = parseProto([PROTO]);
  const type = root.lookupType('bench.Message');
  try {
    // Raw parts of the write: encoding alone (kept as 1 MiB chunks, the same bytes gzip gets next).
    const encoded = await measure(async () => {
      const chunks: Uint8Array[] = [];
      let w = protobuf.Writer.create();
      for (const r of rows(count)) {
        type.encodeDelimited(r as unknown as protobuf.Message, w);
        if (w.len > 1 << 20) {
          chunks.push(w.finish());
          w = protobuf.Writer.create();
        }
      }
      chunks.push(w.finish());
      return chunks;
    });
    const bytes = encoded.result.reduce((n, c) => n + c.length, 0);
    const mb = bytes / 1e6;
    const rawFile = path.join(dir, 'raw.gz');
    const gzipOnly = await measure(async () => {
      const gz = zlib.createGzip({ level: 3 });
      const done = pipeline(gz, createWriteStream(rawFile));
      for (const c of encoded.result) if (!gz.write(c)) await new Promise((res) => gz.once('drain', res));
      gz.end();
      await done;
    });
    encoded.result.length = 0; // let the chunks go before the measured runs
    process.stderr.write(`${count} records, ${mb.toFixed(1)} MB encoded (${Math.round(bytes / count)} bytes per record)\n`);

    // The write limit: encode and gzip in one pass, streamed, as a hand-written exporter would.
    const rawWrite = await measure(async () => {
      const gz = zlib.createGzip({ level: 3 });
      const done = pipeline(gz, createWriteStream(rawFile));
      let w = protobuf.Writer.create();
      for (const r of rows(count)) {
        type.encodeDelimited(r as unknown as protobuf.Message, w);
        if (w.len > 1 << 20) {
          if (!gz.write(w.finish())) await new Promise((res) => gz.once('drain', res));
          w = protobuf.Writer.create();
        }
      }
      gz.end(w.finish());
      await done;
    });
    const file = path.join(dir, 'messages.pb.gz');
    const ferryWrite = await measure(() =>
      writeDump(file, { kind: 'TABLE', name: 'bench.Message', recordType: 'bench.Message', descriptorSet: toDescriptorSet(root) }, rows(count)));
    const writeWhat = 'protobufjs encodeDelimited + one gzip stream of the same bytes, level 3';
    reportFigure({ name: 'dump write', value: count / ferryWrite.seconds, unit: 'rows/s', limit: count / rawWrite.seconds, limitWhat: writeWhat });
    reportFigure({ name: 'dump write MB/s', value: mb / ferryWrite.seconds, unit: 'MB/s', limit: mb / rawWrite.seconds, limitWhat: `${writeWhat}; MB of encoded records` });

    // Raw parts of the read: gunzip alone, decode alone.
    const gunzipped = await measure(async () => {
      const chunks: Buffer[] = [];
      await pipeline(createReadStream(rawFile), zlib.createGunzip(), async function* (src: AsyncIterable<Buffer>) {
        for await (const c of src) chunks.push(c);
      });
      return Buffer.concat(chunks);
    });
    const decodeOnly = await measure(async () => {
      let n = 0;
      for (const b of unframe(gunzipped.result)) {
        type.decode(b);
        n++;
      }
      return n;
    });
    gunzipped.result = Buffer.alloc(0);
    if (decodeOnly.result !== count) throw new Error(`decoded ${decodeOnly.result} of ${count} records`);
    const rawReadSeconds = gunzipped.seconds + decodeOnly.seconds;

    // ferry's reader as transform and seed use it: whole blocks, the next one inflated meanwhile.
    const ferryBlocks = await measure(async () => {
      const reader = await DumpReader.open(file);
      let n = 0;
      let next = reader.blocks.length > 0 ? reader.readBlock(0) : undefined;
      for (let b = 0; b < reader.blocks.length; b++) {
        const payload = await next!;
        next = b + 1 < reader.blocks.length ? reader.readBlock(b + 1) : undefined;
        for (const _ of reader.decodeBlock(b, payload)) n++;
      }
      await reader.close();
      return n;
    });
    // The one-record-at-a-time async iterator (`ferry dump cat`, simple consumers).
    const ferryRecords = await measure(async () => {
      const reader = await DumpReader.open(file);
      let n = 0;
      for await (const _ of reader.records()) n++;
      await reader.close();
      return n;
    });
    if (ferryBlocks.result !== count || ferryRecords.result !== count) {
      throw new Error(`read ${ferryBlocks.result} and ${ferryRecords.result} of ${count} records`);
    }
    const readWhat = 'gunzip + protobufjs decode of the same bytes, one after the other';
    const readLimit = count / rawReadSeconds;
    reportFigure({ name: 'dump read', value: count / ferryBlocks.seconds, unit: 'rows/s', limit: readLimit, limitWhat: readWhat });
    reportFigure({ name: 'dump read MB/s', value: mb / ferryBlocks.seconds, unit: 'MB/s', limit: mb / rawReadSeconds, limitWhat: `${readWhat}; MB of encoded records` });
    reportFigure({ name: 'dump read (records() iterator)', value: count / ferryRecords.seconds, unit: 'rows/s', limit: readLimit, limitWhat: readWhat });
    // The parts, each next to the whole limit they belong to.
    reportFigure({ name: 'encode alone', value: count / encoded.seconds, unit: 'rows/s', limit: count / rawWrite.seconds, limitWhat: writeWhat });
    reportFigure({ name: 'gzip alone', value: mb / gzipOnly.seconds, unit: 'MB/s', limit: mb / rawWrite.seconds, limitWhat: writeWhat });
    reportFigure({ name: 'gunzip alone', value: mb / gunzipped.seconds, unit: 'MB/s', limit: mb / rawReadSeconds, limitWhat: readWhat });
    reportFigure({ name: 'decode alone', value: count / decodeOnly.seconds, unit: 'rows/s', limit: readLimit, limitWhat: readWhat });
    process.stderr.write(`peak RSS: write ${Math.round(ferryWrite.peakRssMb)} MB, read ${Math.round(ferryBlocks.peakRssMb)} MB\n`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
