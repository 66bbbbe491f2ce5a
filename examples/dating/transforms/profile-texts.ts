// dbo.ProfileTexts → ProfileTextWritten. Texts never edited have no UpdatedAt: they were written
// when the member registered, which we look up (dbo.Members is a reference table here).
import { defineTransform } from 'ferry';
import type { Transform } from '../generated/ferry-types.ts';

export default defineTransform<Transform<'dbo.ProfileTexts'>>({
  table: 'dbo.ProfileTexts',
  aggregateType: 'member',
  lookups: ['dbo.Members'],
  run(row, ctx) {
    const memberId = ctx.id('member', row.MemberId);
    const writtenAt = row.UpdatedAt ?? ctx.lookup('dbo.Members', row.MemberId)?.RegisteredAt;
    if (!writtenAt) throw new Error(`profile text of member ${row.MemberId}, who does not exist`);
    return ctx.event('ProfileTextWritten', { member_id: memberId, lang: row.Lang, body: row.Body, written_at: writtenAt }, { occurredAt: writtenAt, aggregateId: memberId });
  },
});
