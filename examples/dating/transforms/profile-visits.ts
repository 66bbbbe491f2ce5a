// dbo.ProfileVisits → ProfileVisited. The table has no foreign keys: visits by or of purged
// members point at nobody, so they are rejected (and land in the rejects dump with --max-errors).
import { defineTransform } from 'ferry';
import type { Transform } from '../generated/ferry-types.ts';

export default defineTransform<Transform<'dbo.ProfileVisits'>>({
  table: 'dbo.ProfileVisits',
  aggregateType: 'member',
  lookups: ['dbo.Members'],
  run(row, ctx) {
    if (!ctx.lookup('dbo.Members', row.VisitorId) || !ctx.lookup('dbo.Members', row.VisitedId)) {
      throw new Error(`visit ${row.Id} involves a purged member (${row.VisitorId} → ${row.VisitedId})`);
    }
    const visitedId = ctx.id('member', row.VisitedId);
    return ctx.event('ProfileVisited', {
      visit_id: ctx.id('visit', row.Id), legacy_id: row.Id, visitor_id: ctx.id('member', row.VisitorId), visited_id: visitedId, visited_at: row.VisitedAt,
    }, { occurredAt: row.VisitedAt, aggregateId: visitedId });
  },
});
