// The run manifest (`extract-manifest.json` in the output folder): the plan, a checkpoint per
// chunk of every part, and the final per-table summary. `--resume` continues from it. It never
// holds credentials: the source is recorded as scheme, server and database only.
import { readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { KeyTuple } from './source.ts';

export const MANIFEST_FILE = 'extract-manifest.json';
/** Checkpoints kept per part: resume needs the newest one whose rows are on disk. */
const CHECKPOINTS_KEPT = 4;

export interface Checkpoint {
  /** Chunks of the part finished so far. */
  chunk: number;
  /** Rows of the part written so far. */
  rows: number;
  /** Key of the last row written; the next chunk starts after it. */
  lastKey?: KeyTuple;
  at: string;
}

export interface PartResult {
  records: number;
  blocks: number;
  bytes: number;
  uncompressedBytes: number;
}

export interface ManifestPart {
  index: number;
  /** File name of the dump inside the output folder. */
  file: string;
  /** Rows with keys after this one (exclusive) ... */
  after?: KeyTuple;
  /** ... up to this one (inclusive); unset = open-ended. */
  upTo?: KeyTuple;
  status: 'pending' | 'running' | 'done';
  checkpoints: Checkpoint[];
  startedAt?: string;
  finishedAt?: string;
  /** Seconds spent on this part, summed over runs. */
  seconds: number;
  retries: number;
  /** Rows taken back from a killed run's partial file by --resume (not read again from the source). */
  salvagedRows?: number;
  result?: PartResult;
}

export interface TableSummary {
  table: string;
  rows: number;
  bytes: number;
  uncompressedBytes: number;
  seconds: number;
  rowsPerSecond: number;
  mbPerSecond: number;
  files: string[];
}

export interface ManifestTable {
  table: string;
  schema: string;
  name: string;
  recordType: string;
  protoFile: string;
  /** The .proto text the dumps carry; a resumed run checks the table still produces it. */
  protoText: string;
  key: string[];
  keySource: string;
  estimatedRows?: number;
  query: string;
  parts: ManifestPart[];
  summary?: TableSummary;
}

export interface ManifestSettings {
  tables: string[];
  exclude: string[];
  excludeColumns: string[];
  casts: string[];
  keys: string[];
  noKey: boolean;
  chunkRows: number;
  /** A chunk also ends once its rows reach this many bytes (unset in manifests of runs that had no such limit). */
  chunkBytes?: number;
  parts: number;
  sourceTimezone: string;
  isolation?: string;
}

export interface ExtractManifest {
  version: 1;
  tool: 'ferry extract';
  status: 'running' | 'complete' | 'failed';
  /** When the run (first attempt) started: also the `createdAt` of every dump it writes. */
  startedAt: string;
  updatedAt: string;
  finishedAt?: string;
  error?: string;
  source: { scheme: string; server: string; database: string };
  settings: ManifestSettings;
  tables: ManifestTable[];
}

/** Holds the manifest in memory and writes it atomically, one write at a time. */
export class ManifestStore {
  private chain: Promise<void> = Promise.resolve();

  constructor(
    readonly file: string,
    readonly data: ExtractManifest,
  ) {}

  /** The manifest of a run, or of one shard's run (`extract-manifest.shard-i-of-n.json`). */
  static fileIn(dir: string, shardSuffix = ''): string {
    return path.join(dir, MANIFEST_FILE.replace(/\.json$/, `${shardSuffix}.json`));
  }

  static async load(dir: string, shardSuffix = ''): Promise<ManifestStore | undefined> {
    const file = ManifestStore.fileIn(dir, shardSuffix);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    return new ManifestStore(file, JSON.parse(text) as ExtractManifest);
  }

  /** Records a finished chunk of a part. */
  checkpoint(part: ManifestPart, cp: Omit<Checkpoint, 'at'>): Promise<void> {
    part.checkpoints.push({ ...cp, at: new Date().toISOString() });
    if (part.checkpoints.length > CHECKPOINTS_KEPT) part.checkpoints.splice(0, part.checkpoints.length - CHECKPOINTS_KEPT);
    return this.save();
  }

  save(): Promise<void> {
    this.data.updatedAt = new Date().toISOString();
    const text = JSON.stringify(this.data, null, 2) + '\n';
    const next = this.chain.then(async () => {
      const tmp = `${this.file}.tmp-${process.pid}`;
      await writeFile(tmp, text);
      await rename(tmp, this.file);
    });
    this.chain = next.catch(() => undefined);
    return next;
  }
}
