import { writeFile } from 'node:fs/promises';
import { stat } from 'node:fs/promises';
import { Option, type Command } from 'commander';
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
    .description('print records for people: event payloads decoded with the file\'s own schema, timestamps as ISO text, int64 and decimals exact, NULL as null, bytes as base64')
    .option('--type <types>', 'event dumps: only events of these types (comma-separated)')
    .option('--where <field=value>', 'only records whose field has this value (as printed; null for NULL); an event\'s payload fields too, or payload.field; repeatable', collect, [])
    .option('--offset <n>', 'skip the first N matching records', (v) => positiveInt(v, '--offset'), 0)
    .option('--limit <n>', 'stop after N matching records', (v) => positiveInt(v, '--limit'))
    .addOption(new Option('--format <format>', 'json: one JSON object per line; table: aligned columns, nested fields as a.b').choices(['json', 'table']).default('json'))
    .action(async (file: string, opts: { type?: string; where: string[]; offset: number; limit?: number; format: 'json' | 'table' }) => {
      const types = opts.type ? new Set(opts.type.split(',').map((t) => t.trim()).filter(Boolean)) : undefined;
      const where = opts.where.map((w) => {
        const eq = w.indexOf('=');
        if (eq < 1) throw new UserError(`--where ${w}: write it as field=value`);
        return { field: w.slice(0, eq), value: w.slice(eq + 1) };
      });
      const [{ DumpReader, ENVELOPE_TYPE }, { readableRecord }] = await Promise.all([import('../dumps/index.ts'), import('../dumps/readable.ts')]);
      const reader = await DumpReader.open(file);
      if (types && reader.header.recordType !== ENVELOPE_TYPE) {
        await reader.close();
        throw new UserError(`--type applies to event dumps; ${file} holds ${reader.header.kind.toLowerCase()} records (${reader.header.recordType})`);
      }
      const out = new Output(opts.format);
      let matched = 0;
      try {
        for await (const message of reader.records()) {
          if (opts.limit !== undefined && matched >= opts.offset + opts.limit) break;
          if (types && !types.has((message as unknown as { type: string }).type)) continue;
          const record = readableRecord(reader, message);
          if (!where.every((w) => matches(record, w.field, w.value))) continue;
          if (matched++ < opts.offset) continue;
          await out.write(record);
        }
        await out.end();
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

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** field=value of --where: a top-level field, a dotted path, or (events) a field of the payload. */
function matches(record: Record<string, unknown>, field: string, value: string): boolean {
  const at = (obj: unknown, pathText: string): unknown =>
    pathText.split('.').reduce<unknown>((o, k) => (o && typeof o === 'object' && k in o ? (o as Record<string, unknown>)[k] : undefined), obj);
  let v = at(record, field);
  if (v === undefined && record.payload && typeof record.payload === 'object') v = at(record.payload, field);
  if (v === undefined) return false;
  return (v === null ? 'null' : typeof v === 'object' ? JSON.stringify(v) : String(v)) === value;
}

/** Records to stdout as NDJSON, or as aligned tables of up to 100 rows (a page is aligned on its own). */
class Output {
  private page: Array<Record<string, string | number>> = [];
  constructor(private readonly format: 'json' | 'table') {}

  async write(record: Record<string, unknown>): Promise<void> {
    if (this.format === 'json') return this.emit(JSON.stringify(record) + '\n');
    this.page.push(flatten(record));
    if (this.page.length >= 100) await this.flush();
  }

  async end(): Promise<void> {
    if (this.page.length) await this.flush();
  }

  private async flush(): Promise<void> {
    const text = table(this.page) + '\n\n';
    this.page = [];
    await this.emit(text);
  }

  private async emit(text: string): Promise<void> {
    if (!process.stdout.write(text)) await new Promise((resolve) => process.stdout.once('drain', resolve));
  }
}

/** Nested fields as a.b columns; long texts cut (the json format has them whole). */
function flatten(record: Record<string, unknown>, prefix = '', into: Record<string, string | number> = {}): Record<string, string | number> {
  for (const [k, v] of Object.entries(record)) {
    if (v && typeof v === 'object' && !Array.isArray(v)) flatten(v as Record<string, unknown>, `${prefix}${k}.`, into);
    else {
      const text = v === null ? 'null' : Array.isArray(v) ? JSON.stringify(v) : String(v);
      into[prefix + k] = text.length > 60 ? `${text.slice(0, 59)}…` : text;
    }
  }
  return into;
}
