-- Marks the target incomplete, in its own committed transaction, before anything else changes.
-- $1 source (redacted), $2 who (migration/step/attempt or "ferryctl"), $3 started (ms).
CREATE SCHEMA IF NOT EXISTS _ferry;
COMMENT ON SCHEMA _ferry IS 'Ferry''s record of the copy into this database; safe to drop once the migration is done';
CREATE TABLE IF NOT EXISTS _ferry.copy_status (
    id          int PRIMARY KEY CHECK (id = 1),
    state       text NOT NULL CHECK (state IN ('incomplete', 'complete')),
    source      text NOT NULL,
    started_by  text NOT NULL,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz,
    snapshot    text,
    tables      bigint,
    rows        bigint,
    verified    boolean
);
