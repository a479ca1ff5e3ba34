-- Ends the sessions an earlier attempt of a copy left on this database (a worker killed with
-- -9 leaves backends that end only when they next talk to it), so their locks go now.
SELECT pg_terminate_backend(pid)
  FROM pg_stat_activity
 WHERE datname = current_database()
   AND pid <> pg_backend_pid()
   AND (application_name LIKE 'ferry-dump-restore%' OR application_name = 'pg_restore')
