// What every ferry command has in common: --version, examples at the end of --help, --json and
// --quiet on every step, and --in that reads its own folder unless --recursive.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { COMMANDS_WITH_EXAMPLES } from '../cli/help-examples.ts';
import { writeLegacyDumps, writeProject } from './fixtures/transform-project.ts';
import { ROOT, runFerry, tempDir } from './helpers.ts';

const STEPS = ['extract', 'transform', 'seed modules', 'seed rabbitmq'];

describe('ferry command line conventions', () => {
  it('prints its version', async () => {
    const { version } = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const r = await runFerry(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(version);
  });

  it('ends every command\'s help with real examples', async () => {
    const leaves = ['init', 'extract', 'dump inspect', 'dump cat', 'dump verify', 'transform', 'transform codegen', 'seed modules', 'seed rabbitmq', 'services start', 'services stop', 'services env', 'services rabbitmqctl', 'services psql', 'demo'];
    expect(COMMANDS_WITH_EXAMPLES).toEqual(expect.arrayContaining(leaves));
    for (const command of leaves) {
      const r = await runFerry([...command.split(' '), '--help']);
      expect(r.code, command).toBe(0);
      const examples = r.stdout.slice(r.stdout.lastIndexOf('Examples:'));
      expect(examples, command).toMatch(/^Examples:\n( {2}\$ (npx ferry|npm run|mkdir|eval|FERRY_EXTRACT_FROM)[^\n]+\n?)+$/);
    }
  });

  it('gives every step --json and --quiet', async () => {
    for (const step of STEPS) {
      const r = await runFerry([...step.split(' '), '--help']);
      expect(r.stdout, step).toMatch(/--json\b/);
      expect(r.stdout, step).toMatch(/--quiet\b/);
    }
  });

  it('reads the dumps of --in itself, and those of its subfolders only with --recursive', async () => {
    const dir = await tempDir('ferry-recursive-');
    await writeLegacyDumps(path.join(dir, 'dumps', 'nested'), { members: 20, favorites: 10 });
    const config = await writeProject(dir);
    const flat = await runFerry(['transform', '--in', 'dumps', '--dry-run', '--config', config, '--no-typecheck'], { cwd: dir });
    expect(flat.code).toBe(1);
    expect(flat.stderr).toMatch(/^ferry: .*dumps/);
    const deep = await runFerry(['transform', '--in', 'dumps', '--recursive', '--dry-run', '--config', config, '--no-typecheck', '--json'], { cwd: dir });
    expect(deep.code, deep.stderr).toBe(0);
    expect(JSON.parse(deep.stdout).rows).toBe(30);
  });
});
