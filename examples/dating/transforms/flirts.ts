// dbo.Flirts → FlirtSent.
import { defineTransform } from 'ferry';
import type { Transform } from '../generated/ferry-types.ts';
import { flirtKind } from './clean.ts';

export default defineTransform<Transform<'dbo.Flirts'>>({
  table: 'dbo.Flirts',
  aggregateType: 'member',
  run(row, ctx) {
    const fromId = ctx.id('member', row.FromId);
    return ctx.event('FlirtSent', {
      flirt_id: ctx.id('flirt', row.Id), legacy_id: row.Id, from_id: fromId, to_id: ctx.id('member', row.ToId), kind: flirtKind(row.Kind), sent_at: row.SentAt,
    }, { occurredAt: row.SentAt, aggregateId: fromId });
  },
});
