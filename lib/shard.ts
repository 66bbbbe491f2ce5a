// `--shard i/n` on every command: n copies run as an indexed batch job, each taking its own part.
import { UserError } from './errors.ts';

export interface Shard {
  index: number;
  count: number;
  /** "i/n", as given. */
  text: string;
  /** For file names: ".shard-i-of-n". */
  suffix: string;
}

export function parseShardSpec(value: string | undefined): Shard | undefined {
  if (!value) return undefined;
  const m = /^(\d+)\/(\d+)$/.exec(value);
  if (!m || Number(m[2]) < 1 || Number(m[1]) >= Number(m[2])) throw new UserError(`--shard takes i/n with 0 <= i < n, not "${value}"`);
  const [index, count] = [Number(m[1]), Number(m[2])];
  return { index, count, text: value, suffix: `.shard-${index}-of-${count}` };
}

/** Parses `--shard i/n` into a block filter (blocks are spread round-robin over shards). */
export function parseShard(value: string | undefined): ((file: string, block: number) => boolean) | undefined {
  const shard = parseShardSpec(value);
  if (!shard) return undefined;
  return (_file, block) => block % shard.count === shard.index;
}
