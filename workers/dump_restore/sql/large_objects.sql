SELECT oid::text FROM pg_largeobject_metadata ORDER BY oid
