-- chat: messages between two members. Consumes MessageSent, MessageRead, MessageHidden,
-- MemberBlocked (the conversation closes), MemberDeleted.
CREATE SCHEMA IF NOT EXISTS chat;

CREATE TABLE IF NOT EXISTS chat.message (
  message_id          uuid PRIMARY KEY,
  legacy_id           bigint NOT NULL UNIQUE,
  conversation_id     uuid NOT NULL,
  sender_id           uuid NOT NULL,
  recipient_id        uuid NOT NULL,
  body                text,
  sent_at             timestamptz NOT NULL,
  is_read             boolean NOT NULL DEFAULT false,
  read_at             timestamptz,
  hidden_by_sender    boolean NOT NULL DEFAULT false,
  hidden_by_recipient boolean NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS message_conversation ON chat.message (conversation_id, sent_at);

-- Pairs that may no longer write to each other (MemberBlocked, either direction).
CREATE TABLE IF NOT EXISTS chat.closed_pair (
  member_a  uuid NOT NULL,
  member_b  uuid NOT NULL,
  closed_at timestamptz NOT NULL,
  PRIMARY KEY (member_a, member_b)
);
