-- A replication slot on the source ($1): whether a stream uses it now, how much WAL it keeps
-- the server from removing (bytes from its restart point to the current position), and the
-- position the target has confirmed. No row: there is no such slot.
SELECT active,
       pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint,
       confirmed_flush_lsn::text,
       coalesce(wal_status, ''),
       pg_current_wal_lsn()::text
  FROM pg_replication_slots
 WHERE slot_name = $1 AND database = current_database()
