-- The columns a logical replication stream sends for a table ($1 schema, $2 name), in order:
-- pgoutput leaves out dropped and generated columns. Used on the target to check that a
-- table's changes can be applied to it as they come. Column 4: the identity kind ('a': GENERATED
-- ALWAYS, whose values an INSERT must override and an UPDATE cannot set).
SELECT a.attname, a.atttypid::bigint, format_type(a.atttypid, a.atttypmod), a.attidentity
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relname = $2
  AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
ORDER BY a.attnum
