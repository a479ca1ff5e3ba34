-- The columns that identify a row of table $1 (quoted, qualified) for the logical method's
-- proof, in column order, as the stream's apply recorded them (_ferry.touched): the replica
-- identity's columns (the primary key, or the index chosen with REPLICA IDENTITY USING INDEX),
-- or every column for REPLICA IDENTITY FULL (generated columns are not in the stream). Columns:
-- 0 name, quoted   1 type, as format_type gives it (for a cast from text)
-- 2 REPLICA IDENTITY FULL (no index to find a row by: the table is compared whole)
SELECT quote_ident(a.attname), format_type(a.atttypid, a.atttypmod), c.relreplident = 'f'
  FROM pg_class c
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE c.oid = $1::regclass
   AND CASE c.relreplident
           WHEN 'f' THEN a.attgenerated = ''
           WHEN 'd' THEN a.attnum = ANY ((SELECT k.conkey FROM pg_constraint k
                                           WHERE k.conrelid = c.oid AND k.contype = 'p')::int2[])
           WHEN 'i' THEN a.attnum = ANY ((SELECT i.indkey FROM pg_index i
                                           WHERE i.indrelid = c.oid AND i.indisreplident)::int2[])
           ELSE false
       END
 ORDER BY a.attnum
