// A small JSON checkpoint that survives any crash of the writing process: written to a temporary
// file in the same folder, flushed, then renamed over the old one, so a reader sees either the old
// or the new state, never half of one.
import { open, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { UserError } from '../lib/errors.ts';
import { fsReason } from '../lib/output-dir.ts';
import { removeDebris } from '../lib/run-lock.ts';

export class CheckpointFile<T> {
  constructor(readonly file: string) {}

  /** The stored state, or undefined when there is no checkpoint. */
  async read(): Promise<T | undefined> {
    // Temporary copies that runs killed with -9 left (the pid ends the name).
    await removeDebris(path.dirname(this.file), new RegExp(`^\\.${path.basename(this.file).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.partial-(\\d+)$`));
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new UserError(`cannot read checkpoint ${this.file} (${fsReason(err)}): pass --checkpoint FILE (a file path, not a folder)`, { cause: err });
    }
    try {
      return JSON.parse(text) as T;
    } catch (err) {
      throw new UserError(`checkpoint ${this.file} is not valid JSON: delete it, or pass --restart to start over`, { cause: err });
    }
  }

  async write(state: T): Promise<void> {
    const temp = path.join(path.dirname(this.file), `.${path.basename(this.file)}.partial-${process.pid}`);
    const handle = await open(temp, 'w');
    try {
      await handle.writeFile(JSON.stringify(state, null, 2) + '\n');
      // Without this a machine crash could leave an empty file under the new name.
      await handle.datasync();
    } finally {
      await handle.close();
    }
    await rename(temp, this.file);
  }

  async remove(): Promise<void> {
    await rm(this.file, { force: true });
  }
}
