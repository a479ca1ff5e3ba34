-- Recreates the target's public schema as initdb makes it, once clearing the target dropped it:
-- pg_dump leaves out what the source's public has by default and dumps only the changes (its
-- owner, comment and privileges when they differ), so the restore needs initdb's public to
-- start from. PostgreSQL 15 on: owned by pg_database_owner, USAGE for PUBLIC; before: owned by
-- the bootstrap superuser, CREATE and USAGE for PUBLIC.
DO $$
BEGIN
    IF current_setting('server_version_num')::int >= 150000 THEN
        CREATE SCHEMA public AUTHORIZATION pg_database_owner;
        GRANT USAGE ON SCHEMA public TO PUBLIC;
    ELSE
        EXECUTE format('CREATE SCHEMA public AUTHORIZATION %I',
                       (SELECT rolname FROM pg_roles WHERE oid = 10));
        GRANT CREATE, USAGE ON SCHEMA public TO PUBLIC;
    END IF;
    COMMENT ON SCHEMA public IS 'standard public schema';
END
$$;
