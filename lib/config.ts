// Loading ferry.config.ts (its types: api/config.ts): TypeScript through tsx, one-line errors.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { FerryConfig } from '../api/config.ts';
import { UserError } from './errors.ts';
import { registerTypeScript } from './typescript-loader.js';

export interface LoadedConfig {
  config: FerryConfig;
  /** Absolute path of the config file; relative paths in it are relative to its folder. */
  file: string;
  dir: string;
}

/** Imports a ferry.config.ts (TypeScript, through tsx) and returns its default export. */
export async function loadConfig(file = 'ferry.config.ts'): Promise<LoadedConfig> {
  const absolute = path.resolve(file);
  if (!existsSync(absolute)) throw new UserError(`config file ${file} not found: pass --config PATH`);
  let mod: { default?: FerryConfig };
  // Compiled (the installed package), nothing has taught Node TypeScript yet; from sources, the
  // entry point or the test runner has.
  if (import.meta.url.endsWith('.js')) await registerTypeScript();
  try {
    mod = (await import(pathToFileURL(absolute).href)) as { default?: FerryConfig };
  } catch (err) {
    throw new UserError(`config file ${file} does not load: ${firstProblem(err)}`, { cause: err });
  }
  if (!mod.default || typeof mod.default !== 'object') throw new UserError(`config file ${file} must "export default defineConfig({...})"`);
  return { config: mod.default, file: absolute, dir: path.dirname(absolute) };
}

/** The line of a load error that says what and where (esbuild puts it after "Transform failed with 1 error:"). */
function firstProblem(err: unknown): string {
  const lines = String((err as Error)?.message ?? err).split('\n').map((l) => l.trim()).filter(Boolean);
  const detail = /^Transform failed with \d+ errors?:?$/.test(lines[0] ?? '') ? lines[1] : lines[0];
  return detail ?? 'unknown error';
}
