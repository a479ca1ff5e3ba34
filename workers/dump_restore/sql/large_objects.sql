-- The source's large objects in oid order, each with the statements that give its copy on the
-- target the same owner, privileges and comment (pg_dump is run with --no-blobs: Ferry copies
-- large objects itself, in batches). The owner is always set; privileges only when the source's
-- are not the owner's default: all revoked, then granted as the source lists them, a grant made
-- by a role other than the owner made under that role (SET ROLE), owner's first so that grant
-- options exist before they are used.
-- Columns: 0 oid; 1 statements to run on the target after the object is created
SELECT m.oid::text,
       format('ALTER LARGE OBJECT %s OWNER TO %I;', m.oid, pg_get_userbyid(m.lomowner))
       || CASE WHEN m.lomacl IS NULL THEN ''
               ELSE format('REVOKE ALL ON LARGE OBJECT %s FROM PUBLIC, %I;', m.oid,
                           pg_get_userbyid(m.lomowner))
                    || coalesce((SELECT string_agg(
                                  CASE WHEN a.grantor <> m.lomowner
                                       THEN format('SET ROLE %I;', pg_get_userbyid(a.grantor))
                                       ELSE '' END
                                  || format('GRANT %s ON LARGE OBJECT %s TO %s%s;',
                                            a.privilege_type, m.oid,
                                            CASE WHEN a.grantee = 0 THEN 'PUBLIC'
                                                 ELSE quote_ident(pg_get_userbyid(a.grantee)) END,
                                            CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION'
                                                 ELSE '' END)
                                  || CASE WHEN a.grantor <> m.lomowner THEN 'RESET ROLE;'
                                          ELSE '' END,
                                  '' ORDER BY a.grantor <> m.lomowner, a.grantee, a.privilege_type)
                                   FROM aclexplode(m.lomacl) AS a), '')
          END
       || coalesce(format('COMMENT ON LARGE OBJECT %s IS %L;', m.oid, d.description), '')
  FROM pg_largeobject_metadata m
  LEFT JOIN pg_description d ON d.classoid = 'pg_largeobject'::regclass AND d.objoid = m.oid
                            AND d.objsubid = 0
 ORDER BY m.oid
