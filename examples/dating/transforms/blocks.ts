// dbo.Blocks (composite key) → MemberBlocked.
import { defineTransform } from 'ferry';
import type { Transform } from '../generated/ferry-types.ts';

export default defineTransform<Transform<'dbo.Blocks'>>({
  table: 'dbo.Blocks',
  aggregateType: 'member',
  run(row, ctx) {
    const blockerId = ctx.id('member', row.BlockerId);
    return ctx.event('MemberBlocked', {
      blocker_id: blockerId, blocked_id: ctx.id('member', row.BlockedId), reason: row.Reason ?? undefined, blocked_at: row.BlockedAt,
    }, { occurredAt: row.BlockedAt, aggregateId: blockerId });
  },
});
