-- Sequences outside the system schemas, Ferry's and extensions', with their current state.
-- A sequence is not transactional: this reads its value now, which is at least the value any
-- row in the snapshot used. Columns: 0 qualified name, quoted; 1 last_value; 2 is_called.
SELECT format('%I.%I', s.schemaname, s.sequencename),
       coalesce(s.last_value, s.start_value)::text,
       (s.last_value IS NOT NULL)
  FROM pg_sequences s
  JOIN pg_namespace n ON n.nspname = s.schemaname
  JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = s.sequencename
 WHERE s.schemaname NOT IN ('pg_catalog', 'information_schema', '_ferry')
   AND NOT EXISTS (SELECT 1 FROM pg_depend d
                    WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                      AND d.deptype = 'e')
 ORDER BY 1
