-- profiles: texts and photos. Consumes ProfileTextWritten, PhotoUploaded, PhotoDeleted, MemberDeleted.
CREATE SCHEMA IF NOT EXISTS profiles;

CREATE TABLE IF NOT EXISTS profiles.profile_text (
  member_id  uuid NOT NULL,
  lang       char(2) NOT NULL,
  body       text NOT NULL,
  written_at timestamptz NOT NULL,
  PRIMARY KEY (member_id, lang)
);

CREATE TABLE IF NOT EXISTS profiles.photo (
  photo_id    uuid PRIMARY KEY,
  member_id   uuid NOT NULL,
  url         text NOT NULL,
  width       integer,
  height      integer,
  is_primary  boolean NOT NULL,
  uploaded_at timestamptz NOT NULL,
  deleted_at  timestamptz
);
CREATE INDEX IF NOT EXISTS photo_member ON profiles.photo (member_id);

-- Members whose profile is gone (MemberDeleted): their texts and photos are no longer shown.
CREATE TABLE IF NOT EXISTS profiles.deleted_member (
  member_id  uuid PRIMARY KEY,
  deleted_at timestamptz NOT NULL
);
