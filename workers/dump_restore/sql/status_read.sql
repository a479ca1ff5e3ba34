SELECT state, started_by, coalesce(verified::text, '') FROM _ferry.copy_status WHERE id = 1
