// The README's first command, at the tiny scale, checked from the outside: module databases and
// queues hold what the legacy data implies.
import amqp from 'amqplib';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { databaseUrl } from '../demo/pipeline.ts';
import { runFerry, tempDir } from './helpers.ts';

describe('ferry demo --scale tiny', () => {
  it('runs extract → transform → seed end to end and every check passes', async () => {
    const out = await tempDir();
    const res = await runFerry(['demo', '--scale', 'tiny', '--out', out, '--json'], { timeoutMs: 300_000 });
    expect(res.stderr).not.toMatch(/FAILED/);
    expect(res.code).toBe(0);
    const report = JSON.parse(res.stdout) as { checks: Array<{ what: string; ok: boolean; expected: number | string; actual: number | string }>; steps: Array<{ step: string }>; report: string };
    expect(report.steps.map((s) => s.step)).toEqual(['generate', 'extract', 'transform', 'seed modules', 'seed rabbitmq']);
    expect(report.checks.length).toBeGreaterThan(40);
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
    expect(report.report).toMatch(/report\.html$/);

    const pgUrl = process.env.FERRY_PG_URL!;
    const legacy = new pg.Client({ connectionString: databaseUrl(pgUrl, 'dating_legacy') });
    const chat = new pg.Client({ connectionString: databaseUrl(pgUrl, 'dating_chat') });
    const members = new pg.Client({ connectionString: databaseUrl(pgUrl, 'dating_members') });
    await Promise.all([legacy.connect(), chat.connect(), members.connect()]);
    try {
      const legacyMessages = Number((await legacy.query('SELECT count(*) AS n FROM "dbo"."Messages"')).rows[0].n);
      expect(legacyMessages).toBe(2_000);
      expect(Number((await chat.query('SELECT count(*) AS n FROM chat.message')).rows[0].n)).toBe(legacyMessages);
      // The extreme money value of test account 1 arrives digit for digit.
      const balance = (await legacy.query('SELECT "Balance"::text AS b FROM "dbo"."Members" WHERE "Id" = 1')).rows[0].b;
      expect((await members.query('SELECT balance::text AS b FROM members.member WHERE legacy_id = 1')).rows[0].b).toBe(balance);
      const body = (await legacy.query('SELECT "Body" AS b FROM "dbo"."Messages" WHERE "Id" = 7')).rows[0].b;
      expect((await chat.query('SELECT body FROM chat.message WHERE legacy_id = 7')).rows[0].body).toBe(body);
    } finally {
      await Promise.all([legacy.end(), chat.end(), members.end()]);
    }

    const conn = await amqp.connect(process.env.FERRY_AMQP_URL!);
    try {
      const ch = await conn.createChannel();
      const blocks = await ch.checkQueue('dating.blocks');
      expect(blocks.messageCount).toBe(40);
      const msg = await ch.get('dating.blocks', { noAck: false });
      expect(msg).not.toBe(false);
      if (msg) {
        expect(msg.fields.routingKey).toBe('MemberBlocked');
        expect(msg.properties.type).toBe('MemberBlocked');
        expect(msg.properties.messageId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-/);
        expect(msg.properties.contentType).toBe('application/x-protobuf');
        ch.nack(msg, false, true);
      }
      await ch.close();
    } finally {
      await conn.close();
    }
  }, 300_000);
});
