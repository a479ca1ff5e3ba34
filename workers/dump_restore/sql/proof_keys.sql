-- A page of the keys the stream's apply touched in table $1 (_ferry.touched), after key $2
-- (NULL: from the first), as one JSON array in key order, and the page's last key.
SELECT coalesce(jsonb_agg(key ORDER BY key), '[]')::text, (array_agg(key ORDER BY key DESC))[1]::text
  FROM (SELECT key FROM _ferry.touched
         WHERE rel = $1 AND ($2::jsonb IS NULL OR key > $2::jsonb)
         ORDER BY key
         LIMIT 2000) page
