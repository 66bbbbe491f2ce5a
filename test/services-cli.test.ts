import { readFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { isAlive } from '../services/system.ts';
import { runFerry, tempDir } from './helpers.ts';

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
});
