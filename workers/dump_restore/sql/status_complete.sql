-- $1 snapshot, $2 tables, $3 rows, $4 verified (true, false or NULL when not verified).
UPDATE _ferry.copy_status
   SET state = 'complete', finished_at = now(), snapshot = $1, tables = $2::bigint,
       rows = $3::bigint, verified = $4::boolean
 WHERE id = 1
