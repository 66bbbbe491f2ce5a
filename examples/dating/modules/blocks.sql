-- blocks: who blocked whom. Consumes MemberBlocked.
CREATE SCHEMA IF NOT EXISTS blocks;

CREATE TABLE IF NOT EXISTS blocks.block (
  blocker_id uuid NOT NULL,
  blocked_id uuid NOT NULL,
  reason     text,
  blocked_at timestamptz NOT NULL,
  PRIMARY KEY (blocker_id, blocked_id)
);
