-- members: who is a member. Consumes MemberRegistered, MemberProfileUpdated, MemberDeleted.
CREATE SCHEMA IF NOT EXISTS members;

CREATE TABLE IF NOT EXISTS members.member (
  member_id     uuid PRIMARY KEY,
  legacy_id     integer NOT NULL UNIQUE,
  nickname      text NOT NULL,
  email         text,
  gender        char(1) CHECK (gender IN ('M', 'F')),
  birth_date    date,
  city          text,
  external_id   uuid,
  registered_at timestamptz NOT NULL,
  last_seen_at  timestamptz,
  balance       numeric(19,4) NOT NULL DEFAULT 0,
  rating        numeric(5,2),
  deleted_at    timestamptz
);
