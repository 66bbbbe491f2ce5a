import amqp from 'amqplib';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { redact } from '../lib/redact.ts';

describe('local servers', () => {
  it('PostgreSQL answers on loopback and refuses a wrong password', async () => {
    const url = new URL(process.env.FERRY_PG_URL!);
    expect(url.hostname).toBe('127.0.0.1');
    const client = new pg.Client({ connectionString: url.toString() });
    await client.connect();
    const { rows } = await client.query<{ addr: string; two: number }>('SELECT inet_server_addr()::text AS addr, 1 + 1 AS two');
    expect(rows[0]).toEqual({ addr: '127.0.0.1/32', two: 2 });
    await client.end();
    url.password = 'wrong';
    const bad = new pg.Client({ connectionString: url.toString() });
    await expect(bad.connect()).rejects.toThrow(/password authentication failed/);
  });

  it('RabbitMQ routes a persistent message on loopback', async () => {
    const url = process.env.FERRY_AMQP_URL!;
    expect(new URL(url).hostname).toBe('127.0.0.1');
    const conn = await amqp.connect(url);
    const ch = await conn.createConfirmChannel();
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.assertExchange('ferry.test', 'topic', { durable: false, autoDelete: true });
    await ch.bindQueue(queue, 'ferry.test', 'Member.#');
    ch.publish('ferry.test', 'Member.Registered', Buffer.from('hello'), { persistent: true, messageId: 'm1' });
    await ch.waitForConfirms();
    const msg = await ch.get(queue, { noAck: true });
    expect(msg && msg.content.toString()).toBe('hello');
    expect(msg && msg.properties.messageId).toBe('m1');
    await conn.close();
  });
});

describe('redact', () => {
  it('hides passwords in URLs and connection strings', () => {
    expect(redact('connect postgres://bob:s3cr%40t@db:5432/x failed')).toBe('connect postgres://bob:***@db:5432/x failed');
    expect(redact('mssql://sa:Pa55@host/db')).toBe('mssql://sa:***@host/db');
    expect(redact('extract --from postgres://sa:p@ss@w0rd@host:5432/db')).toBe('extract --from postgres://sa:***@host:5432/db');
    expect(redact('Server=x;User Id=sa;Password=hunter2;')).toBe('Server=x;User Id=sa;Password=***;');
    expect(redact('amqp://guest@h')).toBe('amqp://guest@h');
  });
});
