// Checks a finished pipeline against what the legacy data implies: event counts per type, rows in
// every module table, messages in every module queue, and a few values followed end to end.
import amqp from 'amqplib';
import pg from 'pg';
import { databaseUrl } from './pipeline.ts';

export interface Check {
  what: string;
  expected: string | number;
  actual: string | number;
  ok: boolean;
}

/** Legacy-implied count of every event type (SQL over the legacy database). */
const EVENT_COUNTS_SQL: Record<string, string> = {
  MemberRegistered: 'SELECT count(*) FROM "dbo"."Members"',
  MemberProfileUpdated: 'SELECT count(*) FROM "dbo"."Members" WHERE "LastSeenAt" IS NOT NULL',
  MemberDeleted: 'SELECT count(*) FROM "dbo"."Members" WHERE "DeletedAt" IS NOT NULL',
  ProfileTextWritten: 'SELECT count(*) FROM "dbo"."ProfileTexts"',
  PhotoUploaded: 'SELECT count(*) FROM "dbo"."Photos"',
  PhotoDeleted: 'SELECT count(*) FROM "dbo"."Photos" WHERE "DeletedAt" IS NOT NULL',
  MessageSent: 'SELECT count(*) FROM "dbo"."Messages"',
  MessageRead: 'SELECT count(*) FROM "dbo"."Messages" WHERE "IsRead"',
  MessageHidden: 'SELECT count(*) FILTER (WHERE "DeletedBySender") + count(*) FILTER (WHERE "DeletedByRecipient") FROM "dbo"."Messages"',
  FlirtSent: 'SELECT count(*) FROM "dbo"."Flirts"',
  FavoriteAdded: 'SELECT count(*) FROM "dbo"."Favorites"',
  MemberBlocked: 'SELECT count(*) FROM "dbo"."Blocks"',
  ProfileVisited: `SELECT count(*) FROM "dbo"."ProfileVisits" v
    WHERE EXISTS (SELECT 1 FROM "dbo"."Members" m WHERE m."Id" = v."VisitorId") AND EXISTS (SELECT 1 FROM "dbo"."Members" m WHERE m."Id" = v."VisitedId")`,
  AbuseReported: 'SELECT count(*) FROM "dbo"."AbuseReports"',
  AbuseReportHandled: 'SELECT count(*) FROM "dbo"."AbuseReports" WHERE "HandledAt" IS NOT NULL',
};

/** module database → [module table SQL, legacy SQL that implies its row count]. */
const MODULE_COUNTS: Record<string, Array<[string, string]>> = {
  members: [
    ['SELECT count(*) FROM members.member', EVENT_COUNTS_SQL.MemberRegistered],
    ['SELECT count(*) FROM members.member WHERE deleted_at IS NOT NULL', EVENT_COUNTS_SQL.MemberDeleted],
  ],
  profiles: [
    ['SELECT count(*) FROM profiles.profile_text', EVENT_COUNTS_SQL.ProfileTextWritten],
    ['SELECT count(*) FROM profiles.photo', EVENT_COUNTS_SQL.PhotoUploaded],
    ['SELECT count(*) FROM profiles.photo WHERE deleted_at IS NOT NULL', EVENT_COUNTS_SQL.PhotoDeleted],
    ['SELECT count(*) FROM profiles.deleted_member', EVENT_COUNTS_SQL.MemberDeleted],
  ],
  chat: [
    ['SELECT count(*) FROM chat.message', EVENT_COUNTS_SQL.MessageSent],
    ['SELECT count(*) FROM chat.message WHERE is_read', EVENT_COUNTS_SQL.MessageRead],
    ['SELECT count(*) FROM chat.message WHERE hidden_by_sender', 'SELECT count(*) FROM "dbo"."Messages" WHERE "DeletedBySender"'],
    ['SELECT count(*) FROM chat.closed_pair', EVENT_COUNTS_SQL.MemberBlocked],
  ],
  flirts: [['SELECT count(*) FROM flirts.flirt', EVENT_COUNTS_SQL.FlirtSent]],
  favorites: [['SELECT count(*) FROM favorites.favorite', EVENT_COUNTS_SQL.FavoriteAdded]],
  blocks: [['SELECT count(*) FROM blocks.block', EVENT_COUNTS_SQL.MemberBlocked]],
  visits: [['SELECT count(*) FROM visits.visit', EVENT_COUNTS_SQL.ProfileVisited]],
  newsfeed: [
    // Items of members who are deleted never survive: MemberDeleted removes them all.
    ["SELECT count(*) FROM newsfeed.item WHERE kind = 'joined'", 'SELECT count(*) FROM "dbo"."Members" WHERE "DeletedAt" IS NULL OR "DeletedAt" < "RegisteredAt"'],
    ['SELECT count(*) FROM newsfeed.hidden', EVENT_COUNTS_SQL.MemberBlocked],
  ],
  moderation: [
    ['SELECT count(*) FROM moderation.report', EVENT_COUNTS_SQL.AbuseReported],
    ['SELECT count(*) FROM moderation.report WHERE handled_at IS NOT NULL', EVENT_COUNTS_SQL.AbuseReportHandled],
    ['SELECT count(*) FROM moderation.member', EVENT_COUNTS_SQL.MemberRegistered],
  ],
};

export interface VerifyInput {
  pgUrl: string;
  amqpUrl?: string;
  legacyUrl: string;
  /** Events per type written by transform (its --json summary). */
  eventsByType: Record<string, number>;
  /** Module queue name → the event types it is bound to. */
  queues?: Array<{ name: string; bindings: string[] }>;
}

export async function verifyPipeline(input: VerifyInput): Promise<Check[]> {
  const checks: Check[] = [];
  const check = (what: string, expected: string | number, actual: string | number) => checks.push({ what, expected, actual, ok: String(expected) === String(actual) });
  const legacy = new pg.Client({ connectionString: input.legacyUrl });
  await legacy.connect();
  try {
    const legacyCount = async (sql: string) => Number(Object.values((await legacy.query(sql)).rows[0])[0]);
    const expectedEvents: Record<string, number> = {};
    for (const [type, sql] of Object.entries(EVENT_COUNTS_SQL)) {
      expectedEvents[type] = await legacyCount(sql);
      check(`events ${type}`, expectedEvents[type], input.eventsByType[type] ?? 0);
    }
    for (const [module, pairs] of Object.entries(MODULE_COUNTS)) {
      const db = new pg.Client({ connectionString: databaseUrl(input.pgUrl, `dating_${module}`) });
      await db.connect();
      try {
        for (const [moduleSql, legacySql] of pairs) {
          const actual = Number((await db.query<{ count: string }>(moduleSql.replace('count(*)', 'count(*) AS count'))).rows[0].count);
          check(`${module}: ${moduleSql.replace(/^SELECT count\(\*\) FROM /, '')}`, await legacyCount(legacySql), actual);
        }
      } finally {
        await db.end();
      }
    }
    await spotChecks(legacy, input.pgUrl, check);
    if (input.amqpUrl && input.queues) {
      const conn = await amqp.connect(input.amqpUrl);
      try {
        const ch = await conn.createChannel();
        for (const q of input.queues) {
          const expected = q.bindings.reduce((sum, type) => sum + (expectedEvents[type] ?? 0), 0);
          check(`queue ${q.name}`, expected, (await ch.checkQueue(q.name)).messageCount);
        }
        await ch.close();
      } finally {
        await conn.close();
      }
    }
  } finally {
    await legacy.end();
  }
  return checks;
}

/** Values followed from the legacy row to the module row: exact money, Unicode text, a lower-cased email. */
async function spotChecks(legacy: pg.Client, pgUrl: string, check: (what: string, expected: string | number, actual: string | number) => void): Promise<void> {
  const members = new pg.Client({ connectionString: databaseUrl(pgUrl, 'dating_members') });
  const chat = new pg.Client({ connectionString: databaseUrl(pgUrl, 'dating_chat') });
  await Promise.all([members.connect(), chat.connect()]);
  try {
    const m = (await legacy.query('SELECT "Id", "Nickname", lower("Email") AS email, "Balance"::text AS balance, "LastSeenAt" IS NOT NULL AS seen FROM "dbo"."Members" ORDER BY "Id" LIMIT 1')).rows[0];
    const got = (await members.query('SELECT nickname, email, balance::text AS balance FROM members.member WHERE legacy_id = $1', [m.Id])).rows[0] ?? {};
    check(`member ${m.Id} nickname`, m.Nickname, got.nickname ?? '(missing)');
    check(`member ${m.Id} email`, m.email ?? '(null)', got.email ?? '(null)');
    if (m.seen) check(`member ${m.Id} balance (money, exact)`, m.balance, got.balance ?? '(missing)');
    const msg = (await legacy.query(`SELECT "Id"::text AS id, "Body" AS body, "SentAt" AS sent FROM "dbo"."Messages" WHERE "Body" ~ '[äöåÄÖÅ]' ORDER BY "Id" LIMIT 1`)).rows[0];
    if (msg) {
      const row = (await chat.query(`SELECT body, to_char(sent_at AT TIME ZONE 'Europe/Helsinki', 'YYYY-MM-DD HH24:MI:SS.MS') AS sent FROM chat.message WHERE legacy_id = $1`, [msg.id])).rows[0] ?? {};
      check(`message ${msg.id} body (Unicode)`, msg.body, row.body ?? '(missing)');
      const sent = (await legacy.query(`SELECT to_char("SentAt", 'YYYY-MM-DD HH24:MI:SS.MS') AS sent FROM "dbo"."Messages" WHERE "Id" = $1`, [msg.id])).rows[0].sent;
      check(`message ${msg.id} sent_at (Helsinki wall clock → UTC instant)`, sent, row.sent ?? '(missing)');
    }
  } finally {
    await Promise.all([members.end(), chat.end()]);
  }
}
