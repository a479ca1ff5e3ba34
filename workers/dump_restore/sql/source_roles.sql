-- Every role the source's objects name, which the target must have for a copy with owners and
-- privileges: owners (of schemas, relations, routines, types, collations, operators, text search
-- objects, statistics, publications, foreign data wrappers and servers, event triggers,
-- languages, large objects), grantees and grantors in privileges (columns' and default
-- privileges' included), roles of default privileges, of policies and of user mappings, and
-- roles granted privileges on the database itself. PUBLIC (0) is no role. Objects outside the
-- copy (system schemas, Ferry's, extensions' members) are left out.
-- One row, one column: a JSON array of role names, sorted.
WITH ns AS (
    SELECT oid FROM pg_namespace
     WHERE nspname NOT IN ('pg_catalog', 'information_schema', '_ferry')
       AND nspname NOT LIKE 'pg\_toast%'
       AND nspname NOT LIKE 'pg\_temp\_%'),
ext AS (SELECT classid, objid FROM pg_depend WHERE deptype = 'e'),
rel AS (
    SELECT c.oid, c.relowner, c.relacl FROM pg_class c
     WHERE c.relnamespace IN (SELECT oid FROM ns)
       AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'c')
       AND c.oid NOT IN (SELECT objid FROM ext WHERE classid = 'pg_class'::regclass)),
owners(role) AS (
    SELECT nspowner FROM pg_namespace WHERE oid IN (SELECT oid FROM ns)
    UNION SELECT relowner FROM rel
    UNION SELECT proowner FROM pg_proc p WHERE pronamespace IN (SELECT oid FROM ns)
      AND p.oid NOT IN (SELECT objid FROM ext WHERE classid = 'pg_proc'::regclass)
    UNION SELECT typowner FROM pg_type t WHERE typnamespace IN (SELECT oid FROM ns)
      AND t.oid NOT IN (SELECT objid FROM ext WHERE classid = 'pg_type'::regclass)
    UNION SELECT collowner FROM pg_collation WHERE collnamespace IN (SELECT oid FROM ns)
    UNION SELECT conowner FROM pg_conversion WHERE connamespace IN (SELECT oid FROM ns)
    UNION SELECT oprowner FROM pg_operator WHERE oprnamespace IN (SELECT oid FROM ns)
    UNION SELECT opcowner FROM pg_opclass WHERE opcnamespace IN (SELECT oid FROM ns)
    UNION SELECT opfowner FROM pg_opfamily WHERE opfnamespace IN (SELECT oid FROM ns)
    UNION SELECT dictowner FROM pg_ts_dict WHERE dictnamespace IN (SELECT oid FROM ns)
    UNION SELECT cfgowner FROM pg_ts_config WHERE cfgnamespace IN (SELECT oid FROM ns)
    UNION SELECT stxowner FROM pg_statistic_ext WHERE stxnamespace IN (SELECT oid FROM ns)
    UNION SELECT pubowner FROM pg_publication
    UNION SELECT fdwowner FROM pg_foreign_data_wrapper w
     WHERE w.oid NOT IN (SELECT objid FROM ext WHERE classid = 'pg_foreign_data_wrapper'::regclass)
    UNION SELECT srvowner FROM pg_foreign_server s
     WHERE s.oid NOT IN (SELECT objid FROM ext WHERE classid = 'pg_foreign_server'::regclass)
    UNION SELECT evtowner FROM pg_event_trigger e
     WHERE e.oid NOT IN (SELECT objid FROM ext WHERE classid = 'pg_event_trigger'::regclass)
    UNION SELECT lanowner FROM pg_language l WHERE l.lanispl AND l.oid >= 16384
      AND l.oid NOT IN (SELECT objid FROM ext WHERE classid = 'pg_language'::regclass)
    UNION SELECT lomowner FROM pg_largeobject_metadata
    UNION SELECT defaclrole FROM pg_default_acl
     WHERE defaclnamespace = 0 OR defaclnamespace IN (SELECT oid FROM ns)
    UNION SELECT unnest(polroles) FROM pg_policy
     WHERE polrelid IN (SELECT oid FROM rel)
    UNION SELECT umuser FROM pg_user_mapping),
acls(acl) AS (
    SELECT nspacl FROM pg_namespace WHERE oid IN (SELECT oid FROM ns)
    UNION ALL SELECT relacl FROM rel
    UNION ALL SELECT attacl FROM pg_attribute WHERE attrelid IN (SELECT oid FROM rel)
    UNION ALL SELECT proacl FROM pg_proc p WHERE pronamespace IN (SELECT oid FROM ns)
      AND p.oid NOT IN (SELECT objid FROM ext WHERE classid = 'pg_proc'::regclass)
    UNION ALL SELECT typacl FROM pg_type t WHERE typnamespace IN (SELECT oid FROM ns)
      AND t.oid NOT IN (SELECT objid FROM ext WHERE classid = 'pg_type'::regclass)
    UNION ALL SELECT fdwacl FROM pg_foreign_data_wrapper
    UNION ALL SELECT srvacl FROM pg_foreign_server
    UNION ALL SELECT lanacl FROM pg_language WHERE lanispl AND oid >= 16384
    UNION ALL SELECT lomacl FROM pg_largeobject_metadata
    UNION ALL SELECT defaclacl FROM pg_default_acl
     WHERE defaclnamespace = 0 OR defaclnamespace IN (SELECT oid FROM ns)),
acl_roles(role) AS (
    SELECT a.grantee FROM acls, aclexplode(acls.acl) AS a
    UNION SELECT a.grantor FROM acls, aclexplode(acls.acl) AS a
    UNION SELECT a.grantee
      FROM pg_database d, aclexplode(d.datacl) AS a
     WHERE d.datname = current_database() AND a.grantee <> d.datdba)
SELECT coalesce(json_agg(r.rolname ORDER BY r.rolname), '[]')::text
  FROM pg_roles r
 WHERE r.oid IN (SELECT role FROM owners UNION SELECT role FROM acl_roles)
