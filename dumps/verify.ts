// Full check of dumps: structure, every block's checksums and record counts, every record decodes.
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { DumpReader } from './dump-reader.ts';

export const DUMP_SUFFIX = '.pb.gz';

export interface VerifyResult {
  file: string;
  ok: boolean;
  records: number;
  blocks: number;
  bytes: number;
  /** The first problem found, with file, block and byte offset. */
  problem?: string;
}

export async function verifyDump(file: string): Promise<VerifyResult> {
  let reader: DumpReader | undefined;
  let records = 0;
  try {
    reader = await DumpReader.open(file);
    for await (const _ of reader.records()) records++;
    return { file, ok: true, records, blocks: reader.blocks.length, bytes: reader.fileBytes };
  } catch (err) {
    return { file, ok: false, records, blocks: reader?.blocks.length ?? 0, bytes: reader?.fileBytes ?? 0, problem: (err as Error).message };
  } finally {
    await reader?.close();
  }
}

/**
 * Dump files in a folder, in a stable order: only its own unless `recursive` (a folder of a run's
 * dumps often sits beside or above others, e.g. the demo's under dumps/out).
 */
export async function listDumps(dir: string, options: { recursive?: boolean } = {}): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: Boolean(options.recursive) });
  return entries
    .filter((e) => e.isFile() && e.name.endsWith(DUMP_SUFFIX) && !e.name.startsWith('.'))
    .map((e) => path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name))
    .sort();
}

/** Partial files left by interrupted writers: never complete dumps, worth telling the user about. */
export async function listPartials(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile() && /^\..*\.partial-\d+$/.test(e.name))
    .map((e) => path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name))
    .sort();
}

/** Verifies one file or every dump in a folder. */
export async function verifyPath(target: string): Promise<VerifyResult[]> {
  const info = await stat(target);
  if (!info.isDirectory()) return [await verifyDump(target)];
  const results: VerifyResult[] = [];
  for (const file of await listDumps(target, { recursive: true })) results.push(await verifyDump(file));
  return results;
}
