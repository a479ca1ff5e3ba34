-- Sequences outside the system schemas, Ferry's and extensions', each with its state read from
-- the sequence itself, as pg_dump does (pg_sequences.last_value is NULL whenever is_called is
-- false, which loses a setval(seq, n, false)). Reading a sequence takes a query of its own;
-- query_to_xml runs those inside this one statement, so a thousand sequences cost one round
-- trip, not a thousand. A sequence is not transactional: this is its state now, at least the
-- value any row in the copy's snapshot used.
-- Columns: 0 qualified name, quoted; 1 last_value; 2 is_called (t or f);
--          3 the name verify reports ("sequence public.orders_id_seq")
SELECT format('%I.%I', n.nspname, c.relname),
       (regexp_match(x::text, '<last_value>([^<]*)</last_value>'))[1],
       CASE (regexp_match(x::text, '<is_called>([^<]*)</is_called>'))[1]
            WHEN 'true' THEN 't' ELSE 'f' END,
       'sequence ' || (pg_identify_object('pg_class'::regclass, c.oid, 0)).identity
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
 CROSS JOIN LATERAL query_to_xml(format('SELECT last_value, is_called FROM %I.%I',
                                        n.nspname, c.relname), false, true, '') AS x
 WHERE c.relkind = 'S'
   AND n.nspname NOT IN ('pg_catalog', 'information_schema', '_ferry')
   AND n.nspname NOT LIKE 'pg\_toast%'
   AND n.nspname NOT LIKE 'pg\_temp\_%'
   AND NOT EXISTS (SELECT 1 FROM pg_depend d
                    WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                      AND d.deptype = 'e')
 ORDER BY 1
