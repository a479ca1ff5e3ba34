-- What the target holds that a copy would replace, for the overwrite guard: tables of user
-- schemas with at least one row (each asked with a query of its own, LIMIT 1, run by
-- query_to_xml inside this one statement; extensions' tables left out, an extension fills its
-- own), large objects, and whether Ferry's mark is there (then Ferry wrote the target).
-- One row. Columns: 0 tables with rows; 1 the first five of them, comma separated;
--                   2 large objects; 3 the mark exists (t or f)
WITH filled AS (
    SELECT n.nspname || '.' || c.relname AS name
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
       AND query_to_xml(format('SELECT 1 AS x FROM ONLY %I.%I LIMIT 1', n.nspname, c.relname),
                        false, true, '')::text <> ''),
first AS (SELECT name FROM filled ORDER BY name LIMIT 5)
SELECT (SELECT count(*) FROM filled)::text,
       coalesce((SELECT string_agg(name, ', ' ORDER BY name) FROM first), ''),
       (SELECT count(*) FROM pg_largeobject_metadata)::text,
       to_regclass('_ferry.copy_status') IS NOT NULL
