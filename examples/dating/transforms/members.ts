// dbo.Members → MemberRegistered (every row), MemberProfileUpdated (when LastSeenAt is set),
// MemberDeleted (soft-deleted rows). Cleans the legacy warts on the way.
import { defineTransform, type EmittedEvent } from 'ferry';
import type { Transform } from '../generated/ferry-types.ts';
import { cleanCity, gender } from './clean.ts';

export default defineTransform<Transform<'dbo.Members'>>({
  table: 'dbo.Members',
  aggregateType: 'member',
  run(row, ctx) {
    const memberId = ctx.id('member', row.Id);
    const city = cleanCity(row.City);
    const events: EmittedEvent[] = [
      ctx.event('MemberRegistered', {
        member_id: memberId,
        legacy_id: row.Id,
        nickname: row.Nickname,
        email: row.Email?.toLowerCase(),
        gender: gender(row.Gender),
        // 1900-01-01 was the form's placeholder for "not given".
        birth_date: row.BirthDate === '1900-01-01' ? undefined : row.BirthDate,
        city,
        registered_at: row.RegisteredAt,
        external_id: row.ExternalId ?? undefined,
      }, { occurredAt: row.RegisteredAt, aggregateId: memberId }),
    ];
    if (row.LastSeenAt) {
      events.push(ctx.event('MemberProfileUpdated', {
        member_id: memberId,
        nickname: row.Nickname,
        city,
        balance: row.Balance,
        rating: row.Rating ?? undefined,
        last_seen_at: row.LastSeenAt,
      }, { occurredAt: row.LastSeenAt, aggregateId: memberId }));
    }
    if (row.DeletedAt) {
      events.push(ctx.event('MemberDeleted', { member_id: memberId, deleted_at: row.DeletedAt }, { occurredAt: row.DeletedAt, aggregateId: memberId }));
    }
    return events;
  },
});
