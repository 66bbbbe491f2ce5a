-- favorites: members' favourite lists. Consumes FavoriteAdded, MemberBlocked (a blocked member
-- leaves the blocker's favourites), MemberDeleted.
CREATE SCHEMA IF NOT EXISTS favorites;

CREATE TABLE IF NOT EXISTS favorites.favorite (
  member_id   uuid NOT NULL,
  favorite_id uuid NOT NULL,
  added_at    timestamptz NOT NULL,
  PRIMARY KEY (member_id, favorite_id)
);
