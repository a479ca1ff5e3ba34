-- Marks the target incomplete, in its own committed transaction, before anything else changes.
-- The mark (schema _ferry, table _ferry.copy_status) exists only while a copy is unfinished:
-- the last transaction of a successful copy drops the schema (mark_drop.sql).
CREATE SCHEMA IF NOT EXISTS _ferry;
COMMENT ON SCHEMA _ferry IS 'Ferry''s mark: a copy into this database is unfinished (it started, failed or was stopped); the next copy replaces it';
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
