// Each module's handlers: which events it consumes and the rows they become in its own database
// (modules/<module>.sql). Pure functions of the event; ferry batches what they return into COPY
// and set-based UPDATE/DELETE statements.
import { insert, remove, update, type ModuleDefinition } from 'ferry';

// Payloads arrive decoded as plain objects: field names as in events/*.proto, int64 as strings,
// Timestamps as {seconds, nanos}, enums by name, unset optional fields as null.
/* eslint-disable @typescript-eslint/no-explicit-any */
type P = any;

const GENDER: Record<string, string | null> = { GENDER_MALE: 'M', GENDER_FEMALE: 'F', GENDER_UNSPECIFIED: null };

export const handlers: Record<string, ModuleDefinition['handlers']> = {
  members: {
    MemberRegistered: (p: P) => insert('member', {
      member_id: p.member_id, legacy_id: p.legacy_id, nickname: p.nickname, email: p.email, gender: GENDER[p.gender] ?? null,
      birth_date: p.birth_date, city: p.city, external_id: p.external_id, registered_at: p.registered_at,
    }),
    MemberProfileUpdated: (p: P) => update('member', { member_id: p.member_id }, {
      nickname: p.nickname, city: p.city, balance: p.balance, rating: p.rating, last_seen_at: p.last_seen_at,
    }),
    MemberDeleted: (p: P) => update('member', { member_id: p.member_id }, { deleted_at: p.deleted_at }),
  },
  profiles: {
    ProfileTextWritten: (p: P) => insert('profile_text', { member_id: p.member_id, lang: p.lang, body: p.body, written_at: p.written_at }),
    PhotoUploaded: (p: P) => insert('photo', {
      photo_id: p.photo_id, member_id: p.member_id, url: p.url, width: p.width, height: p.height, is_primary: p.is_primary, uploaded_at: p.uploaded_at,
    }),
    PhotoDeleted: (p: P) => update('photo', { photo_id: p.photo_id }, { deleted_at: p.deleted_at }),
    MemberDeleted: (p: P) => insert('deleted_member', { member_id: p.member_id, deleted_at: p.deleted_at }),
  },
  chat: {
    MessageSent: (p: P) => insert('message', {
      message_id: p.message_id, legacy_id: p.legacy_id, conversation_id: p.conversation_id, sender_id: p.sender_id,
      recipient_id: p.recipient_id, body: p.body, sent_at: p.sent_at,
    }),
    MessageRead: (p: P) => update('message', { message_id: p.message_id }, { is_read: true, read_at: p.read_at }),
    MessageHidden: (p: P) => update('message', { message_id: p.message_id }, p.side === 'SIDE_SENDER' ? { hidden_by_sender: true } : { hidden_by_recipient: true }),
    // A block closes the conversation between the two.
    MemberBlocked: (p: P) => insert('closed_pair', { member_a: p.blocker_id, member_b: p.blocked_id, closed_at: p.blocked_at }),
  },
  flirts: {
    FlirtSent: (p: P) => insert('flirt', { flirt_id: p.flirt_id, legacy_id: p.legacy_id, from_id: p.from_id, to_id: p.to_id, kind: FLIRT_KIND[p.kind] ?? 0, sent_at: p.sent_at }),
  },
  favorites: {
    FavoriteAdded: (p: P) => insert('favorite', { member_id: p.member_id, favorite_id: p.favorite_id, added_at: p.added_at }),
  },
  blocks: {
    MemberBlocked: (p: P) => insert('block', { blocker_id: p.blocker_id, blocked_id: p.blocked_id, reason: p.reason, blocked_at: p.blocked_at }),
  },
  visits: {
    ProfileVisited: (p: P) => insert('visit', { visit_id: p.visit_id, legacy_id: p.legacy_id, visitor_id: p.visitor_id, visited_id: p.visited_id, visited_at: p.visited_at }),
  },
  newsfeed: {
    MemberRegistered: (p: P, e) => insert('item', { item_id: e.id, actor_id: p.member_id, kind: 'joined', city: p.city, created_at: p.registered_at }),
    ProfileTextWritten: (p: P, e) => insert('item', { item_id: e.id, actor_id: p.member_id, kind: 'wrote_profile', created_at: p.written_at }),
    PhotoUploaded: (p: P, e) => insert('item', { item_id: e.id, actor_id: p.member_id, kind: 'new_photo', ref_id: p.photo_id, created_at: p.uploaded_at }),
    // A deleted photo leaves the feed; a deleted member takes all their items with them.
    PhotoDeleted: (p: P) => remove('item', { ref_id: p.photo_id }),
    MemberDeleted: (p: P) => remove('item', { actor_id: p.member_id }),
    // The blocker no longer sees the blocked member's items.
    MemberBlocked: (p: P) => insert('hidden', { viewer_id: p.blocker_id, actor_id: p.blocked_id }),
  },
  moderation: {
    AbuseReported: (p: P) => insert('report', {
      report_id: p.report_id, legacy_id: p.legacy_id, reporter_id: p.reporter_id, reported_id: p.reported_id,
      reason: String(p.reason).replace(/^REASON_CODE_/, ''), reason_text: p.reason_text, details: p.details, reported_at: p.reported_at,
    }),
    AbuseReportHandled: (p: P) => update('report', { report_id: p.report_id }, { handled_at: p.handled_at, fine: p.fine }),
    MemberRegistered: (p: P) => insert('member', { member_id: p.member_id, nickname: p.nickname }),
    MemberDeleted: (p: P) => update('member', { member_id: p.member_id }, { deleted_at: p.deleted_at }),
  },
};

const FLIRT_KIND: Record<string, number> = {
  FLIRT_KIND_WINK: 1, FLIRT_KIND_SMILE: 2, FLIRT_KIND_ROSE: 3, FLIRT_KIND_KISS: 4, FLIRT_KIND_SUPERFLIRT: 9,
};
