-- Materialized views that hold data on the source (a schema-only restore leaves them empty).
SELECT format('%I.%I', n.nspname, c.relname)
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'm' AND c.relispopulated
   AND n.nspname NOT IN ('pg_catalog', 'information_schema', '_ferry')
 ORDER BY c.oid
