-- The tables a logical replication of this database publishes: those the copy moves
-- (tables.sql's choice). $1: the publication's name ('' before it exists). Columns:
--   0 qualified name, quoted
--   1 its changes can be replicated: it has a replica identity (its primary key, an index
--     chosen with REPLICA IDENTITY USING INDEX, or FULL); without one, an UPDATE or DELETE on a
--     published table fails on the source
--   2 persistence: 'p' permanent, 'u' unlogged (not written to the WAL: not replicated)
--   3 publication $1 covers it (a permanent table it does not cover was created on the source
--     after the logical method started: DDL, its rows would never reach the target)
SELECT format('%I.%I', n.nspname, c.relname),
       CASE c.relreplident
           WHEN 'f' THEN true
           WHEN 'i' THEN EXISTS (SELECT 1 FROM pg_index i
                                  WHERE i.indrelid = c.oid AND i.indisreplident)
           WHEN 'd' THEN EXISTS (SELECT 1 FROM pg_constraint k
                                  WHERE k.conrelid = c.oid AND k.contype = 'p')
           ELSE false
       END,
       c.relpersistence,
       EXISTS (SELECT 1
                 FROM pg_publication_rel pr
                 JOIN pg_publication p ON p.oid = pr.prpubid
                WHERE p.pubname = $1 AND pr.prrelid = c.oid)
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'r'
   AND c.relpersistence <> 't'
   AND n.nspname NOT IN ('pg_catalog', 'information_schema', '_ferry')
   AND n.nspname NOT LIKE 'pg\_toast%'
   AND n.nspname NOT LIKE 'pg\_temp\_%'
   AND NOT EXISTS (SELECT 1 FROM pg_depend d
                    WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                      AND d.deptype = 'e')
 ORDER BY 1
