-- newsfeed: "what's new" items about members. Produces no events. Consumes MemberRegistered,
-- ProfileTextWritten, PhotoUploaded, PhotoDeleted, MemberBlocked (removes the items between the
-- two from each other's feed) and MemberDeleted (removes the member's items).
CREATE SCHEMA IF NOT EXISTS newsfeed;

CREATE TABLE IF NOT EXISTS newsfeed.item (
  item_id    uuid PRIMARY KEY,          -- the id of the event that made it
  actor_id   uuid NOT NULL,
  kind       text NOT NULL CHECK (kind IN ('joined', 'wrote_profile', 'new_photo')),
  ref_id     uuid,                      -- the photo, for new_photo
  city       text,
  created_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS item_actor ON newsfeed.item (actor_id);
CREATE INDEX IF NOT EXISTS item_created ON newsfeed.item (created_at DESC);
-- PhotoDeleted removes the photo's item by ref_id.
CREATE INDEX IF NOT EXISTS item_ref ON newsfeed.item (ref_id);

-- Viewer never sees actor (both directions of every MemberBlocked).
CREATE TABLE IF NOT EXISTS newsfeed.hidden (
  viewer_id uuid NOT NULL,
  actor_id  uuid NOT NULL,
  PRIMARY KEY (viewer_id, actor_id)
);
