// dbo.Favorites (composite key) → FavoriteAdded.
import { defineTransform } from 'ferry';
import type { Transform } from '../generated/ferry-types.ts';

export default defineTransform<Transform<'dbo.Favorites'>>({
  table: 'dbo.Favorites',
  aggregateType: 'member',
  run(row, ctx) {
    const memberId = ctx.id('member', row.MemberId);
    return ctx.event('FavoriteAdded', { member_id: memberId, favorite_id: ctx.id('member', row.FavoriteId), added_at: row.AddedAt }, { occurredAt: row.AddedAt, aggregateId: memberId });
  },
});
