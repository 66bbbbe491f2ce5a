// dbo.Photos → PhotoUploaded, and PhotoDeleted for soft-deleted photos.
import { defineTransform, type EmittedEvent } from 'ferry';
import type { Transform } from '../generated/ferry-types.ts';
import { absoluteUrl } from './clean.ts';

export default defineTransform<Transform<'dbo.Photos'>>({
  table: 'dbo.Photos',
  aggregateType: 'member',
  run(row, ctx) {
    const memberId = ctx.id('member', row.MemberId);
    const photoId = ctx.id('photo', row.Id);
    const events: EmittedEvent[] = [
      ctx.event('PhotoUploaded', {
        photo_id: photoId, legacy_id: row.Id, member_id: memberId, url: absoluteUrl(row.Url),
        width: row.Width ?? undefined, height: row.Height ?? undefined, is_primary: row.IsPrimary, uploaded_at: row.UploadedAt,
      }, { occurredAt: row.UploadedAt, aggregateId: memberId }),
    ];
    if (row.DeletedAt) {
      events.push(ctx.event('PhotoDeleted', { photo_id: photoId, member_id: memberId, deleted_at: row.DeletedAt }, { occurredAt: row.DeletedAt, aggregateId: memberId }));
    }
    return events;
  },
});
