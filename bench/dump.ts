// Dump writer and reader against the raw work they wrap: protobufjs encoding plus one gzip
// stream (write), and gunzip plus protobufjs decoding (read), of the same 1,000,000 records.
import { createReadStream, createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import protobuf from 'protobufjs';
import { DumpReader, parseProto, toDescriptorSet, writeDump } from '../dumps/index.ts';
import { unframe } from '../dumps/framing.ts';
import { measure, reportFigure } from './report.ts';
import os from 'node:os';
import { mkdtemp } from 'node:fs/promises';

const ROWS = 1_000_000;
const PROTO = `syntax = "proto3"; package bench;
message Message { int32 id = 1; int32 sender_id = 2; int32 recipient_id = 3; optional string body = 4;
  google.protobuf.Timestamp sent_at = 5; bool is_read = 6; optional google.protobuf.Timestamp deleted_at = 7; }`;

function* rows() {
  for (let i = 0; i < ROWS; i++) {
    yield {
      id: i, sender_id: (i * 7919) % 40_000, recipient_id: (i * 104_729) % 40_000,
      body: `Hei! Mitä kuuluu? Viesti numero ${i}. `.repeat(1 + (i % 5)), sent_at: { seconds: 1_500_000_000 + i * 13, nanos: 0 },
      is_read: i % 3 === 0, deleted_at: i % 50 === 0 ? { seconds: 1_600_000_000 + i, nanos: 0 } : undefined,
    };
  }
}

export default async function run(): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-bench-dump-'));
  const root = parseProto([PROTO]);
  const type = root.lookupType('bench.Message');
  try {
    const rawFile = path.join(dir, 'raw.gz');
    const raw = await measure(async () => {
      const gz = zlib.createGzip({ level: 3 });
      const done = pipeline(gz, createWriteStream(rawFile));
      let w = protobuf.Writer.create();
      for (const r of rows()) {
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
    const ferry = await measure(() => writeDump(file, { kind: 'TABLE', name: 'bench.Message', recordType: 'bench.Message', descriptorSet: toDescriptorSet(root) }, rows()));
    reportFigure({ name: 'dump write', value: ROWS / ferry.seconds, unit: 'rows/s', limit: ROWS / raw.seconds, limitWhat: 'protobufjs encodeDelimited + one gzip stream, level 3' });

    const rawRead = await measure(async () => {
      const chunks: Buffer[] = [];
      await pipeline(createReadStream(rawFile), zlib.createGunzip(), async function* (src: AsyncIterable<Buffer>) {
        for await (const c of src) chunks.push(c);
      });
      let n = 0;
      for (const bytes of unframe(Buffer.concat(chunks))) {
        type.decode(bytes);
        n++;
      }
      return n;
    });
    const ferryRead = await measure(async () => {
      const reader = await DumpReader.open(file);
      let n = 0;
      for await (const _ of reader.records()) n++;
      await reader.close();
      return n;
    });
    if (ferryRead.result !== ROWS || rawRead.result !== ROWS) throw new Error(`read ${ferryRead.result} and ${rawRead.result} of ${ROWS} records`);
    reportFigure({ name: 'dump read', value: ROWS / ferryRead.seconds, unit: 'rows/s', limit: ROWS / rawRead.seconds, limitWhat: 'gunzip + protobufjs decode of the same records' });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
