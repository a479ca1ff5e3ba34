-- Other sessions on the target database (an app still running on it), Ferry's own left out.
-- Columns: 0 sessions; 1 who (application names or users), comma separated.
SELECT count(*)::text,
       coalesce(string_agg(DISTINCT coalesce(nullif(application_name, ''), usename::text), ', '), '')
  FROM pg_stat_activity
 WHERE datname = current_database()
   AND pid <> pg_backend_pid()
   AND backend_type = 'client backend'
   AND application_name NOT LIKE 'ferry-dump-restore%'
   AND application_name NOT IN ('pg_dump', 'pg_restore')
