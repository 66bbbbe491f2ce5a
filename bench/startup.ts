// How fast the installed command starts: `ferry --help` and `ferry dump inspect FILE` from the
// compiled package (dist/, what `npm pack` ships), against `node -e 0` in the same run, runs
// alternated, medians. Also the clone's TypeScript entry (tsx), for comparison.
// `npm run bench -- startup [--runs N]`
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseProto, toDescriptorSet, writeDump } from '../dumps/index.ts';
import { reportFigure } from './report.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

function seconds(args: string[]): number {
  const start = performance.now();
  const r = spawnSync(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`node ${args.join(' ')} failed: ${r.stderr}`);
  return (performance.now() - start) / 1000;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

export default async function run(args: string[] = []): Promise<void> {
  const i = args.indexOf('--runs');
  const runs = i >= 0 ? Number(args[i + 1]) : 15;
  process.stderr.write('bench startup: building dist/ (scripts/build.sh)\n');
  execFileSync('bash', [path.join(ROOT, 'scripts', 'build.sh')], { stdio: 'inherit' });
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-bench-startup-'));
  try {
    const root = parseProto(['syntax = "proto3"; package bench; message Row { int32 id = 1; string name = 2; }']);
    const file = path.join(dir, 'bench.Rows.pb.gz');
    await writeDump(file, {
      kind: 'TABLE', name: 'bench.Rows', recordType: 'bench.Row', descriptorSet: toDescriptorSet(root),
      columns: [{ name: 'id', sqlType: 'int', nullable: false, field: 'id', fieldNumber: 1 }, { name: 'name', sqlType: 'text', nullable: false, field: 'name', fieldNumber: 2 }],
      primaryKey: ['id'], origin: { source: 'postgres', server: 'bench', database: 'bench' },
    }, Array.from({ length: 100 }, (_, n) => ({ id: n, name: `row ${n}` })));
    const dist = path.join(ROOT, 'dist', 'bin', 'ferry.js');
    const commands: Record<string, string[]> = {
      'node -e 0': ['-e', '0'],
      '--help': [dist, '--help'],
      'dump inspect': [dist, 'dump', 'inspect', file],
      'clone --help': [path.join(ROOT, 'bin', 'ferry.js'), '--help'],
    };
    const times = new Map<string, number[]>(Object.keys(commands).map((k) => [k, []]));
    for (const args of Object.values(commands)) seconds(args); // warm the file cache
    for (let r = 0; r < runs; r++) for (const [name, argv] of Object.entries(commands)) times.get(name)!.push(seconds(argv));
    const node = median(times.get('node -e 0')!);
    for (const name of ['--help', 'dump inspect', 'clone --help']) {
      const t = median(times.get(name)!);
      process.stderr.write(`${name}: median ${t.toFixed(3)} s over ${runs} runs (node -e 0: ${node.toFixed(3)} s)\n`);
      reportFigure({ name: `startup: ferry ${name} (${t.toFixed(3)} s)`, value: 1 / t, unit: 'starts/s', limit: 1 / node, limitWhat: `node -e 0, ${node.toFixed(3)} s` });
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
