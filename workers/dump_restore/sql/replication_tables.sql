-- The tables a logical replication of this database publishes: those the copy moves
-- (tables.sql's choice). Columns:
--   0 qualified name, quoted
--   1 its changes can be replicated: it has a replica identity (its primary key, an index
--     chosen with REPLICA IDENTITY USING INDEX, or FULL); without one, an UPDATE or DELETE on a
--     published table fails on the source
--   2 persistence: 'p' permanent, 'u' unlogged (not written to the WAL: not replicated)
SELECT format('%I.%I', n.nspname, c.relname),
       CASE c.relreplident
           WHEN 'f' THEN true
           WHEN 'i' THEN EXISTS (SELECT 1 FROM pg_index i
                                  WHERE i.indrelid = c.oid AND i.indisreplident)
           WHEN 'd' THEN EXISTS (SELECT 1 FROM pg_constraint k
                                  WHERE k.conrelid = c.oid AND k.contype = 'p')
           ELSE false
       END,
       c.relpersistence
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
