-- The tables whose rows the copy moves, biggest first: every ordinary table (partitions
-- included; partitioned parents hold no rows) outside the system schemas, Ferry's own schema
-- and extensions. Columns:
--   0 qualified name, quoted    1 column list, quoted (generated columns left out; "" if none)
--   2 heap blocks               3 total bytes (heap + TOAST)
--   4 binary ok: every column's type travels in COPY's binary format between two servers of
--     the same major version (built-in types, enums, domains over built-ins; not arrays or
--     composites of user types, whose binary form carries type oids that differ on the target)
--   5 has a primary key         6 schema   7 name
SELECT format('%I.%I', n.nspname, c.relname),
       coalesce((SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum)
                   FROM pg_attribute a
                  WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                    AND a.attgenerated = ''), ''),
       (pg_relation_size(c.oid) / current_setting('block_size')::bigint)::text,
       pg_table_size(c.oid)::text,
       NOT EXISTS (SELECT 1
                     FROM pg_attribute a
                     JOIN pg_type t ON t.oid = a.atttypid
                    WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                      AND t.oid >= 16384
                      AND t.typtype <> 'e'
                      AND NOT (t.typtype = 'd' AND t.typbasetype < 16384)),
       EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'p'),
       n.nspname,
       c.relname
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
 ORDER BY pg_table_size(c.oid) DESC, 1
