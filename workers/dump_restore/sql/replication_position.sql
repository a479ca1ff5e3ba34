-- Where a logical replication stream into this target stands, written by the copy's end (one
-- transaction, replacing what an earlier start left) and then in the same transactions as the
-- changes the stream applies. Lives in Ferry's mark (_ferry), which exists until the cutover's
-- last transaction drops it.
DROP TABLE IF EXISTS _ferry.replication, _ferry.touched, _ferry.touched_whole;
-- The end of the last source transaction the target holds; verified: the copy's verify found
-- the target equal to the source at the slot's start (the proof at the cutover builds on it).
CREATE TABLE _ferry.replication (
    slot             text PRIMARY KEY,
    publication      text NOT NULL,
    lsn              pg_lsn NOT NULL,
    verified         boolean NOT NULL,
    applied_at       timestamptz NOT NULL DEFAULT now(),
    source_commit_at timestamptz
);
-- The rows the stream has changed since, by table and key (the replica identity's values, as
-- text, in column order): at the cutover only these are compared (docs/logical-replication.md).
CREATE TABLE _ferry.touched (
    rel text NOT NULL,
    key jsonb NOT NULL,
    PRIMARY KEY (rel, key)
);
-- Tables compared whole at the cutover: truncated by the stream, or with a row the apply could
-- not name (an unchanged TOASTed value in a REPLICA IDENTITY FULL table).
CREATE TABLE _ferry.touched_whole (
    rel text PRIMARY KEY
);
