-- Tables a logical replication should carry but its publication ($1) does not: permanent
-- tables (replication_tables.sql's choice) created, or made logged, on the source after the
-- logical method started. Their rows would never reach the target: DDL the stream must stop on.
SELECT format('%I.%I', n.nspname, c.relname)
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'r'
   AND c.relpersistence = 'p'
   AND n.nspname NOT IN ('pg_catalog', 'information_schema', '_ferry')
   AND n.nspname NOT LIKE 'pg\_toast%'
   AND n.nspname NOT LIKE 'pg\_temp\_%'
   AND NOT EXISTS (SELECT 1 FROM pg_depend d
                    WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                      AND d.deptype = 'e')
   AND NOT EXISTS (SELECT 1
                     FROM pg_publication_rel pr
                     JOIN pg_publication p ON p.oid = pr.prpubid
                    WHERE p.pubname = $1 AND pr.prrelid = c.oid)
 ORDER BY 1
 LIMIT 6
