-- The statements that give the target database what $1 (database_read.sql on the source)
-- describes, only those that change something (so a target already equal needs no privilege
-- on its database): the comment; each setting the source has; each privilege the source grants
-- that the target does not; and PUBLIC's privileges the source does not grant revoked (a
-- source that revoked CONNECT from PUBLIC keeps it revoked). The target's other settings and
-- grants are the new platform's and stay.
-- One row, one column: the statements, "" when none.
WITH src AS (SELECT $1::jsonb AS j),
db AS (SELECT oid, datdba, datacl FROM pg_database WHERE datname = current_database()),
have AS (
    SELECT a.grantee, a.privilege_type, a.is_grantable
      FROM db, aclexplode(coalesce(db.datacl, acldefault('d', db.datdba))) AS a),
want AS (
    SELECT coalesce((SELECT oid FROM pg_roles WHERE rolname = g->>'grantee'), 0) AS grantee,
           g->>'grantee' AS name, g->>'privilege' AS privilege_type,
           (g->>'grantable')::boolean AS is_grantable
      FROM src, jsonb_array_elements(src.j->'grants') AS g),
stmts(s, ord) AS (
    SELECT format('COMMENT ON DATABASE %I IS %L', current_database(), src.j->>'comment'), 1
      FROM src, db
     WHERE (src.j->>'comment') IS DISTINCT FROM shobj_description(db.oid, 'pg_database')
    UNION ALL
    SELECT format('ALTER DATABASE %I SET %I TO %s', current_database(),
                  split_part(cfg, '=', 1),
                  -- list settings are stored as lists of quoted identifiers: as they are;
                  -- every other value as a string literal
                  CASE WHEN split_part(cfg, '=', 1) IN ('search_path', 'temp_tablespaces',
                                                       'session_preload_libraries',
                                                       'local_preload_libraries')
                       THEN substr(cfg, strpos(cfg, '=') + 1)
                       ELSE quote_literal(substr(cfg, strpos(cfg, '=') + 1)) END), 2
      FROM src, jsonb_array_elements_text(src.j->'settings') AS cfg
     WHERE cfg NOT IN (SELECT unnest(s.setconfig) FROM pg_db_role_setting s, db
                        WHERE s.setdatabase = db.oid AND s.setrole = 0)
    UNION ALL
    SELECT format('GRANT %s ON DATABASE %I TO %s%s', w.privilege_type, current_database(),
                  CASE WHEN w.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(w.name) END,
                  CASE WHEN w.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END), 3
      FROM want w
     WHERE NOT EXISTS (SELECT 1 FROM have h
                        WHERE h.grantee = w.grantee AND h.privilege_type = w.privilege_type
                          AND (h.is_grantable OR NOT w.is_grantable))
    UNION ALL
    SELECT format('REVOKE %s ON DATABASE %I FROM PUBLIC', h.privilege_type, current_database()),
           4
      FROM have h
     WHERE h.grantee = 0
       AND NOT EXISTS (SELECT 1 FROM want w
                        WHERE w.grantee = 0 AND w.privilege_type = h.privilege_type))
SELECT coalesce(string_agg(s || ';', E'\n' ORDER BY ord, s), '') FROM stmts
