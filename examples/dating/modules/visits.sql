-- visits: who looked at whose profile. Consumes ProfileVisited, MemberBlocked (visits between
-- the two are hidden), MemberDeleted.
CREATE SCHEMA IF NOT EXISTS visits;

CREATE TABLE IF NOT EXISTS visits.visit (
  visit_id   uuid PRIMARY KEY,
  legacy_id  bigint NOT NULL UNIQUE,
  visitor_id uuid NOT NULL,
  visited_id uuid NOT NULL,
  visited_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS visit_visited ON visits.visit (visited_id, visited_at);
