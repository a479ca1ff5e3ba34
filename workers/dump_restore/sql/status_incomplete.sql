INSERT INTO _ferry.copy_status (id, state, source, started_by, started_at)
VALUES (1, 'incomplete', $1, $2, to_timestamp($3::bigint / 1000.0))
ON CONFLICT (id) DO UPDATE
   SET state = 'incomplete', source = $1, started_by = $2,
       started_at = to_timestamp($3::bigint / 1000.0),
       finished_at = NULL, snapshot = NULL, tables = NULL, rows = NULL, verified = NULL
