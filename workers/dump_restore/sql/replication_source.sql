-- What logical replication needs of the source server and its user. Columns:
--   0 wal_level ('logical' needed)   1 the user may replicate (REPLICATION or superuser)
--   2 max_replication_slots          3 slots in use
--   4 max_wal_senders
SELECT current_setting('wal_level'),
       (SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user),
       current_setting('max_replication_slots')::int,
       (SELECT count(*) FROM pg_replication_slots),
       current_setting('max_wal_senders')::int
