import { readFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { isAlive, runAs } from '../services/system.ts';
import { FERRY, runFerry, tempDir } from './helpers.ts';

/** Pids of processes whose command line mentions `text` (servers started under a folder). */
function processesMentioning(text: string): number[] {
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).filter((d) => {
    try {
      return readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(text);
    } catch {
      return false;
    }
  }).map(Number);
}

describe('ferry services', () => {
  it('starts both servers on loopback, prints their URLs, and stops exactly those pids', async () => {
    const cwd = await tempDir();
    const env = { FERRY_PG_URL: '', FERRY_AMQP_URL: '' };
    const start = await runFerry(['services', 'start'], { cwd, env, timeoutMs: 170_000 });
    expect(start.stderr).toContain('started');
    expect(start.code).toBe(0);
    const urls = Object.fromEntries(start.stdout.trim().split('\n').map((l) => l.replace(/^export /, '').split('=')).map(([k, v]) => [k, v.replace(/'/g, '')]));
    expect(new URL(urls.FERRY_PG_URL).hostname).toBe('127.0.0.1');
    expect(new URL(urls.FERRY_AMQP_URL).hostname).toBe('127.0.0.1');
    const client = new pg.Client({ connectionString: urls.FERRY_PG_URL });
    await client.connect();
    expect((await client.query('SELECT 41 + 1 AS n')).rows[0].n).toBe(42);
    await client.end();

    const envCmd = await runFerry(['services', 'env'], { cwd, env });
    expect(envCmd.stdout).toContain(urls.FERRY_PG_URL);

    const state = JSON.parse(await readFile(path.join(cwd, '.ferry', 'services.json'), 'utf8')) as { postgres: { pid: number }; rabbitmq: { pid: number; epmdPid: number } };
    const pids = [state.postgres.pid, state.rabbitmq.pid, state.rabbitmq.epmdPid];
    expect(pids.every(isAlive)).toBe(true);
    const stop = await runFerry(['services', 'stop'], { cwd, env, timeoutMs: 60_000 });
    expect(stop.code).toBe(0);
    expect(pids.filter(isAlive)).toEqual([]);
    const again = await runFerry(['services', 'env'], { cwd, env });
    expect(again.code).toBe(1);
    expect(again.stderr).toBe('ferry: no ferry services are running: start them with "npx ferry services start"\n');
  }, 240_000);

  it('keeps track of PostgreSQL after a pg_ctl restart (new pid): env still works, stop stops the new pid', async () => {
    const cwd = await tempDir();
    const env = { FERRY_PG_URL: '', FERRY_AMQP_URL: '' };
    expect((await runFerry(['services', 'start'], { cwd, env, timeoutMs: 170_000 })).code).toBe(0);
    const stateFile = path.join(cwd, '.ferry', 'services.json');
    const state = JSON.parse(await readFile(stateFile, 'utf8')) as { postgres: { pid: number; bin: string; dataDir: string; options: string; logFile: string }; rabbitmq: { pid: number; epmdPid: number } };
    await runAs('postgres', path.join(state.postgres.bin, 'pg_ctl'), ['restart', '-w', '-D', state.postgres.dataDir, '-l', state.postgres.logFile, '-o', state.postgres.options]);
    const newPid = Number((await readFile(path.join(state.postgres.dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
    expect(newPid).not.toBe(state.postgres.pid);
    const envCmd = await runFerry(['services', 'env'], { cwd, env });
    expect(envCmd.code).toBe(0);
    expect(envCmd.stdout).toContain('FERRY_PG_URL=');
    const stop = await runFerry(['services', 'stop'], { cwd, env, timeoutMs: 60_000 });
    expect(stop.stderr).toBe('stopped\n');
    expect([newPid, state.rabbitmq.pid, state.rabbitmq.epmdPid].filter(isAlive)).toEqual([]);
  }, 240_000);

  it('Ctrl-C on ferry demo stops the servers it started and exits 130', async () => {
    const cwd = await tempDir();
    const child = spawn(process.execPath, [FERRY, 'demo', '--scale', 'tiny', '--out', path.join(cwd, 'out')], { cwd, env: { ...process.env, FERRY_PG_URL: '', FERRY_AMQP_URL: '' } });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.resume();
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    // Interrupted once both servers are up and the pipeline has begun.
    for (let i = 0; i < 1800 && !/demo at scale tiny/.test(stderr); i++) await sleep(100);
    const dir = /starting PostgreSQL and RabbitMQ under (\S+) \.\.\./.exec(stderr)![1];
    expect(processesMentioning(dir).length).toBeGreaterThan(0);
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(stderr).toContain('ferry: interrupted: stopping the demo and the servers it started');
    expect(stderr.trim().split('\n').at(-1)).toMatch(/^ferry: interrupted: demo stopped; run "npx ferry demo --scale tiny --out \S+" to start it again$/);
    await sleep(500);
    expect(processesMentioning(dir)).toEqual([]);
    expect(existsSync(dir)).toBe(false);
  }, 240_000);
});
