-- What a dump without --create leaves out of the source database itself, for the target's
-- database to be given the same (database_apply.sql): its comment, its settings (ALTER DATABASE
-- ... SET, for every role) and the privileges it grants to roles other than its owner, PUBLIC
-- included. Not default_transaction_read_only: a source frozen for its cutover must not freeze
-- its copy. The owner is the target's own.
-- One row, one column: {"comment": text or null, "settings": ["name=value", ...],
--                       "grants": [{"grantee": name or null for PUBLIC, "privilege", "grantable"}]}
SELECT json_build_object(
         'comment', shobj_description(d.oid, 'pg_database'),
         'settings', coalesce((SELECT json_agg(cfg ORDER BY cfg)
                                 FROM pg_db_role_setting s, unnest(s.setconfig) AS cfg
                                WHERE s.setdatabase = d.oid AND s.setrole = 0
                                  AND split_part(cfg, '=', 1) <> 'default_transaction_read_only'),
                              '[]'),
         'grants', coalesce((SELECT json_agg(json_build_object(
                                       'grantee', CASE WHEN a.grantee = 0 THEN NULL
                                                       ELSE pg_get_userbyid(a.grantee) END,
                                       'privilege', a.privilege_type,
                                       'grantable', a.is_grantable)
                                     ORDER BY a.grantee, a.privilege_type)
                               FROM aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) AS a
                              WHERE a.grantee <> d.datdba),
                            '[]'))::text
  FROM pg_database d
 WHERE d.datname = current_database()
