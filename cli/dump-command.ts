import { writeFile } from 'node:fs/promises';
import { stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { UserError } from '../lib/errors.ts';
import { table } from '../lib/progress.ts';

export function registerDump(program: Command): void {
  const dump = program.command('dump').description('look into dump files: inspect, cat, verify');

  dump
    .command('inspect')
    .argument('<file>', 'a .pb.gz dump')
    .description('show the header, record schema, blocks and counts of a dump')
    .option('--json', 'print one JSON document')
    .option('--descriptor-set-out <file>', 'write the record schema as a FileDescriptorSet (for protoc --descriptor_set_in)')
    .action(async (file: string, opts: { json?: boolean; descriptorSetOut?: string }) => {
      const [{ DumpReader }, { typeToProto }] = await Promise.all([import('../dumps/index.ts'), import('../dumps/proto-text.ts')]);
      const reader = await DumpReader.open(file);
      try {
        const { header, trailer } = reader;
        if (opts.descriptorSetOut) await writeFile(opts.descriptorSetOut, header.descriptorSet);
        const info = {
          file,
          formatVersion: header.formatVersion,
          kind: header.kind,
          name: header.name,
          recordType: header.recordType,
          columns: header.columns,
          primaryKey: header.primaryKey,
          origin: header.origin,
          createdAt: header.createdAt,
          finishedAt: trailer.finishedAt,
          properties: header.properties,
          records: trailer.records,
          bytes: reader.fileBytes,
          uncompressedBytes: trailer.blocks.reduce((s, b) => s + b.uncompressedBytes, 0),
          blocks: trailer.blocks,
          schema: typeToProto(reader.recordType),
        };
        if (opts.json) {
          process.stdout.write(JSON.stringify(info, null, 2) + '\n');
          return;
        }
        const out: string[] = [
          `${file}: ferry dump v${info.formatVersion}, ${info.kind} ${info.name}`,
          `records: ${info.records} in ${info.blocks.length} blocks, ${info.bytes} bytes (${info.uncompressedBytes} uncompressed)`,
          `created: ${info.createdAt}, finished: ${info.finishedAt}`,
          `origin: ${Object.entries(info.origin).filter(([, v]) => v).map(([k, v]) => `${k}=${v}`).join(' ') || '-'}`,
          `primary key: ${info.primaryKey.join(', ') || '-'}`,
        ];
        for (const [k, v] of Object.entries(info.properties)) out.push(`${k}: ${v}`);
        if (info.columns.length) {
          out.push('', table(info.columns.map((c) => ({ column: c.name, 'sql type': c.sqlType, null: c.nullable ? 'yes' : 'no', field: `${c.field} = ${c.fieldNumber}` }))));
        }
        out.push('', `record type ${info.recordType}:`, info.schema, '');
        out.push(table(info.blocks.map((b, i) => ({ block: i, offset: b.offset, bytes: b.compressedBytes, uncompressed: b.uncompressedBytes, records: b.records, crc32: b.crc32.toString(16).padStart(8, '0') }))));
        process.stdout.write(out.join('\n') + '\n');
      } finally {
        await reader.close();
      }
    });

  dump
    .command('cat')
    .argument('<file>', 'a .pb.gz dump')
    .description('print records as NDJSON (int64 and decimals as strings, bytes as base64, NULL as null)')
    .option('--limit <n>', 'stop after N records', (v) => positiveInt(v, '--limit'))
    .action(async (file: string, opts: { limit?: number }) => {
      const { DumpReader } = await import('../dumps/index.ts');
      const reader = await DumpReader.open(file);
      let n = 0;
      try {
        for await (const message of reader.records()) {
          if (opts.limit !== undefined && n >= opts.limit) break;
          const line = JSON.stringify(reader.toPlain(message)) + '\n';
          if (!process.stdout.write(line)) await new Promise((resolve) => process.stdout.once('drain', resolve));
          n++;
        }
      } finally {
        await reader.close();
      }
    });

  dump
    .command('verify')
    .argument('<path>', 'a dump file or a folder of dumps')
    .description('check structure, checksums and record counts of every block; non-zero exit on any problem')
    .option('--json', 'print one JSON document')
    .action(async (target: string, opts: { json?: boolean }) => {
      await stat(target).catch(() => {
        throw new UserError(`${target}: no such file or folder`);
      });
      const { listPartials, verifyPath } = await import('../dumps/index.ts');
      const results = await verifyPath(target);
      const partials = (await stat(target)).isDirectory() ? await listPartials(target) : [];
      const bad = results.filter((r) => !r.ok);
      if (opts.json) {
        process.stdout.write(JSON.stringify({ ok: bad.length === 0 && results.length > 0, files: results, partials }, null, 2) + '\n');
      } else {
        for (const r of results) {
          process.stdout.write(r.ok ? `ok  ${r.file}: ${r.records} records, ${r.blocks} blocks, ${r.bytes} bytes\n` : `BAD ${r.problem}\n`);
        }
        for (const p of partials) process.stdout.write(`note ${p}: partial file of an interrupted writer (not a dump; safe to delete)\n`);
      }
      if (results.length === 0) throw new UserError(`${target}: no dump files (*.pb.gz) found`);
      if (bad.length) throw new UserError(`${bad.length} of ${results.length} dump(s) failed verification`);
    });
}

function positiveInt(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new UserError(`${flag} takes a whole number, not "${value}"`);
  return n;
}
