-- moderation: review of abuse reports. Consumes AbuseReported, AbuseReportHandled,
-- MemberRegistered (nicknames for reviewers), MemberDeleted.
CREATE SCHEMA IF NOT EXISTS moderation;

CREATE TABLE IF NOT EXISTS moderation.report (
  report_id   uuid PRIMARY KEY,
  legacy_id   integer NOT NULL UNIQUE,
  reporter_id uuid NOT NULL,
  reported_id uuid NOT NULL,
  reason      text NOT NULL,            -- the ReasonCode name, e.g. SPAM
  reason_text text NOT NULL,
  details     text,
  reported_at timestamptz NOT NULL,
  handled_at  timestamptz,
  fine        numeric(10,2)
);
CREATE INDEX IF NOT EXISTS report_open ON moderation.report (reported_at) WHERE handled_at IS NULL;

CREATE TABLE IF NOT EXISTS moderation.member (
  member_id  uuid PRIMARY KEY,
  nickname   text NOT NULL,
  deleted_at timestamptz
);
