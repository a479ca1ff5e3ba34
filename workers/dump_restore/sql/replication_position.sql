-- Where a logical replication stream into this target stands: the end of the last source
-- transaction the target holds, written in the same transaction as that transaction's changes.
-- Lives in Ferry's mark (_ferry), which exists until the cutover's last transaction drops it.
CREATE TABLE IF NOT EXISTS _ferry.replication (
    slot             text PRIMARY KEY,
    publication      text NOT NULL,
    lsn              pg_lsn NOT NULL,
    applied_at       timestamptz NOT NULL DEFAULT now(),
    source_commit_at timestamptz
);
