// dbo.Messages → MessageSent, MessageRead (when IsRead), MessageHidden (per deleted-by flag).
import { defineTransform, type EmittedEvent } from 'ferry';
import type { Transform } from '../generated/ferry-types.ts';

export default defineTransform<Transform<'dbo.Messages'>>({
  table: 'dbo.Messages',
  aggregateType: 'conversation',
  run(row, ctx) {
    const messageId = ctx.id('message', row.Id);
    const senderId = ctx.id('member', row.SenderId);
    const recipientId = ctx.id('member', row.RecipientId);
    // A conversation is the unordered pair of members.
    const [a, b] = row.SenderId < row.RecipientId ? [row.SenderId, row.RecipientId] : [row.RecipientId, row.SenderId];
    const conversationId = ctx.id('conversation', a, b);
    const events: EmittedEvent[] = [
      ctx.event('MessageSent', {
        message_id: messageId, legacy_id: row.Id, conversation_id: conversationId, sender_id: senderId,
        recipient_id: recipientId, body: row.Body ?? undefined, sent_at: row.SentAt,
      }, { occurredAt: row.SentAt, aggregateId: conversationId }),
    ];
    if (row.IsRead) {
      // Messages read before May 2011 have no ReadAt: they count as read when sent.
      events.push(ctx.event('MessageRead', {
        message_id: messageId, conversation_id: conversationId, reader_id: recipientId, read_at: row.ReadAt ?? undefined,
      }, { occurredAt: row.ReadAt && row.ReadAt > row.SentAt ? row.ReadAt : row.SentAt, aggregateId: conversationId }));
    }
    // The legacy flags have no time of their own: hiding is placed at the time of sending.
    if (row.DeletedBySender) {
      events.push(ctx.event('MessageHidden', { message_id: messageId, conversation_id: conversationId, member_id: senderId, side: 'SIDE_SENDER' }, { occurredAt: row.SentAt, aggregateId: conversationId }));
    }
    if (row.DeletedByRecipient) {
      events.push(ctx.event('MessageHidden', { message_id: messageId, conversation_id: conversationId, member_id: recipientId, side: 'SIDE_RECIPIENT' }, { occurredAt: row.SentAt, aggregateId: conversationId }));
    }
    return events;
  },
});
