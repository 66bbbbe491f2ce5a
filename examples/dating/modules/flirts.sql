-- flirts: winks, roses and kisses. Consumes FlirtSent, MemberDeleted.
CREATE SCHEMA IF NOT EXISTS flirts;

CREATE TABLE IF NOT EXISTS flirts.flirt (
  flirt_id  uuid PRIMARY KEY,
  legacy_id integer NOT NULL UNIQUE,
  from_id   uuid NOT NULL,
  to_id     uuid NOT NULL,
  kind      smallint NOT NULL,
  sent_at   timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS flirt_to ON flirts.flirt (to_id, sent_at);
