-- tests/support/pg_fingerprint.sql - what a copy of a database must reproduce, as rows
-- (object, attribute, value) sorted, for tests to run on source and target and compare row by
-- row. The tests' own, written apart from ferry-dump-restore's verify (which it checks): the
-- schema (tables, columns, constraints, indexes, views, functions, triggers, types, policies,
-- row security, replica identity, persistence), comments on every kind of object, owners,
-- privileges, default privileges, extensions, the database's comment, settings and grants,
-- each sequence's definition and state (read from the sequence), each large object's content
-- md5, owner, privileges and comment, and each table's and materialized view's rows (count and
-- md5 of the sorted row texts).
--
-- One statement, plain SQL, no psql variables: psql -X -At -F ' | ' -f pg_fingerprint.sql.
-- Every value is one line: long definitions are given as their md5.
-- Run it with the same session settings on both sides (search_path, TimeZone, DateStyle,
-- extra_float_digits: the server defaults of the local stack's two servers are the same).
-- Only system schemas (pg_*, information_schema) and extension members are left out: a
-- schema Ferry left behind (_ferry) shows up as a difference.
WITH ns AS (
    SELECT oid, nspname FROM pg_namespace
     WHERE nspname !~ '^pg_' AND nspname <> 'information_schema'),
member AS (SELECT classid, objid FROM pg_depend WHERE deptype = 'e'),
rels AS (
    SELECT c.*, format('%I.%I', n.nspname, c.relname) AS qname
      FROM pg_class c JOIN ns n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
       AND NOT EXISTS (SELECT 1 FROM member m
                        WHERE m.classid = 'pg_class'::regclass AND m.objid = c.oid)),
facts(object, attribute, value) AS (
    -- schemas
    SELECT 'schema ' || n.nspname, 'owner', pg_get_userbyid(s.nspowner)::text
      FROM ns n JOIN pg_namespace s ON s.oid = n.oid
    UNION ALL
    SELECT 'schema ' || n.nspname, 'acl', coalesce(s.nspacl::text, '(default)')
      FROM ns n JOIN pg_namespace s ON s.oid = n.oid

    -- relations
    UNION ALL
    SELECT 'relation ' || r.qname, a.attribute, a.value
      FROM rels r
     CROSS JOIN LATERAL (VALUES
           ('kind', r.relkind::text),
           ('owner', pg_get_userbyid(r.relowner)::text),
           ('acl', coalesce(r.relacl::text, '(default)')),
           ('persistence', r.relpersistence::text),
           ('row level security', r.relrowsecurity::text),
           ('force row level security', r.relforcerowsecurity::text),
           ('replica identity', r.relreplident::text),
           ('options', coalesce(r.reloptions::text, '')),
           ('partition of', coalesce((SELECT i.inhparent::regclass::text FROM pg_inherits i
                                       WHERE i.inhrelid = r.oid), '')),
           ('partition bound', coalesce(pg_get_expr(r.relpartbound, r.oid), '')),
           ('view definition md5', CASE WHEN r.relkind IN ('v', 'm')
                                        THEN md5(pg_get_viewdef(r.oid)) ELSE '' END),
           ('populated', r.relispopulated::text)) AS a(attribute, value)

    -- columns
    UNION ALL
    SELECT format('column %s.%I', r.qname, at.attname), a.attribute, a.value
      FROM rels r
      JOIN pg_attribute at ON at.attrelid = r.oid AND at.attnum > 0 AND NOT at.attisdropped
      LEFT JOIN pg_attrdef df ON df.adrelid = at.attrelid AND df.adnum = at.attnum
     CROSS JOIN LATERAL (VALUES
           ('ordinal', (SELECT count(*) FROM pg_attribute x
                         WHERE x.attrelid = r.oid AND x.attnum > 0 AND NOT x.attisdropped
                           AND x.attnum <= at.attnum)::text),
           ('type', format_type(at.atttypid, at.atttypmod)),
           ('not null', at.attnotnull::text),
           ('default', coalesce(pg_get_expr(df.adbin, df.adrelid), '')),
           ('generated', at.attgenerated::text),
           ('identity', at.attidentity::text),
           ('collation', coalesce((SELECT collname FROM pg_collation
                                    WHERE oid = at.attcollation), '')),
           ('acl', coalesce(at.attacl::text, ''))) AS a(attribute, value)
     WHERE r.relkind <> 'S'

    -- constraints (of tables and of domains), indexes, triggers
    UNION ALL
    SELECT pg_describe_object('pg_constraint'::regclass, k.oid, 0), a.attribute, a.value
      FROM pg_constraint k
     CROSS JOIN LATERAL (VALUES ('definition', pg_get_constraintdef(k.oid)),
                                ('validated', k.convalidated::text)) AS a(attribute, value)
     WHERE k.connamespace IN (SELECT oid FROM ns)
    UNION ALL
    SELECT 'index ' || x.indexrelid::regclass::text, a.attribute, a.value
      FROM pg_index x JOIN rels r ON r.oid = x.indrelid
     CROSS JOIN LATERAL (VALUES ('definition', pg_get_indexdef(x.indexrelid)),
                                ('clustered', x.indisclustered::text),
                                ('replica identity', x.indisreplident::text))
           AS a(attribute, value)
    UNION ALL
    SELECT pg_describe_object('pg_trigger'::regclass, t.oid, 0), a.attribute, a.value
      FROM pg_trigger t JOIN rels r ON r.oid = t.tgrelid
     CROSS JOIN LATERAL (VALUES ('definition', pg_get_triggerdef(t.oid)),
                                ('enabled', t.tgenabled::text)) AS a(attribute, value)
     WHERE NOT t.tgisinternal

    -- policies, through the pg_policies view
    UNION ALL
    SELECT format('policy %I on %I.%I', p.policyname, p.schemaname, p.tablename), a.attribute,
           a.value
      FROM pg_policies p
     CROSS JOIN LATERAL (VALUES ('permissive', p.permissive),
                                ('roles', array_to_string(ARRAY(SELECT unnest(p.roles) ORDER BY 1),
                                                          ',')),
                                ('command', p.cmd),
                                ('using', coalesce(p.qual, '')),
                                ('with check', coalesce(p.with_check, ''))) AS a(attribute, value)
     WHERE p.schemaname IN (SELECT nspname FROM ns)

    -- functions and procedures
    UNION ALL
    SELECT 'function ' || p.oid::regprocedure::text, a.attribute, a.value
      FROM pg_proc p
     CROSS JOIN LATERAL (VALUES ('owner', pg_get_userbyid(p.proowner)::text),
                                ('acl', coalesce(p.proacl::text, '(default)')),
                                ('definition md5', md5(CASE WHEN p.prokind = 'a' THEN p.prosrc
                                                            ELSE pg_get_functiondef(p.oid) END)))
           AS a(attribute, value)
     WHERE p.pronamespace IN (SELECT oid FROM ns)
       AND NOT EXISTS (SELECT 1 FROM member m
                        WHERE m.classid = 'pg_proc'::regclass AND m.objid = p.oid)

    -- types: enums, domains, composites, ranges
    UNION ALL
    SELECT 'type ' || t.oid::regtype::text, a.attribute, a.value
      FROM pg_type t
     CROSS JOIN LATERAL (VALUES
           ('owner', pg_get_userbyid(t.typowner)::text),
           ('acl', coalesce(t.typacl::text, '(default)')),
           ('kind', t.typtype::text),
           ('enum labels', coalesce((SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
                                       FROM pg_enum e WHERE e.enumtypid = t.oid), '')),
           ('base type', coalesce(format_type(nullif(t.typbasetype, 0), t.typtypmod), '')),
           ('not null', t.typnotnull::text),
           ('default', coalesce(t.typdefault, '')),
           ('collation', coalesce((SELECT collname FROM pg_collation
                                    WHERE oid = t.typcollation), '')),
           ('attributes', coalesce((SELECT string_agg(format('%I %s %s', x.attname,
                                                             format_type(x.atttypid, x.atttypmod),
                                                             x.attcollation::regcollation),
                                                      ',' ORDER BY x.attnum)
                                      FROM pg_attribute x
                                     WHERE x.attrelid = t.typrelid AND x.attnum > 0), '')))
           AS a(attribute, value)
     WHERE t.typnamespace IN (SELECT oid FROM ns)
       AND t.typtype IN ('e', 'd', 'c', 'r')
       AND (t.typrelid = 0 OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
       AND NOT EXISTS (SELECT 1 FROM member m
                        WHERE m.classid = 'pg_type'::regclass AND m.objid = t.oid)

    -- comments on every kind of object (large objects' below)
    UNION ALL
    SELECT pg_describe_object(d.classoid, d.objoid, d.objsubid), 'comment', d.description
      FROM pg_description d
     WHERE d.classoid <> 'pg_largeobject'::regclass
       AND NOT EXISTS (SELECT 1 FROM member m
                        WHERE m.classid = d.classoid AND m.objid = d.objoid)
       AND (d.objoid >= 16384
            OR (d.classoid = 'pg_namespace'::regclass AND d.objoid IN (SELECT oid FROM ns)))

    -- default privileges, extensions
    UNION ALL
    SELECT format('default privileges of %s in %s on %s', pg_get_userbyid(a.defaclrole),
                  coalesce((SELECT nspname FROM pg_namespace WHERE oid = a.defaclnamespace),
                           'all schemas'), a.defaclobjtype), 'acl', a.defaclacl::text
      FROM pg_default_acl a
    UNION ALL
    SELECT 'extension ' || e.extname, 'version and schema',
           e.extversion || ' in ' || e.extnamespace::regnamespace::text
      FROM pg_extension e

    -- sequences: definition, and state read from each sequence
    UNION ALL
    SELECT 'sequence ' || r.qname, a.attribute, a.value
      FROM rels r
      JOIN pg_sequence s ON s.seqrelid = r.oid
     CROSS JOIN LATERAL query_to_xml('SELECT last_value, is_called FROM ' || r.qname,
                                     false, true, '') AS st
     CROSS JOIN LATERAL (VALUES
           ('definition', concat_ws(' ', s.seqtypid::regtype, s.seqstart, s.seqincrement,
                                    s.seqmin, s.seqmax, s.seqcache, s.seqcycle)),
           ('state', (regexp_match(st::text, '<last_value>(.*)</last_value>'))[1] || ' called '
                     || (regexp_match(st::text, '<is_called>(.*)</is_called>'))[1]))
           AS a(attribute, value)

    -- large objects
    UNION ALL
    SELECT 'large object ' || m.oid, a.attribute, a.value
      FROM pg_largeobject_metadata m
     CROSS JOIN LATERAL (VALUES ('owner', pg_get_userbyid(m.lomowner)::text),
                                ('acl', coalesce(m.lomacl::text, '(default)')),
                                ('comment', coalesce(obj_description(m.oid, 'pg_largeobject'),
                                                     '')),
                                ('content md5', md5(lo_get(m.oid)))) AS a(attribute, value)

    -- rows of tables and materialized views
    UNION ALL
    SELECT 'rows of ' || r.qname, 'count and md5',
           (regexp_match(query_to_xml(format('SELECT count(*) || '' '' || '
                                             'coalesce(md5(string_agg(t::text, E''\n'' '
                                             'ORDER BY t::text)), '''') AS v FROM ONLY %s t',
                                             r.qname), false, true, '')::text,
                         '<v>(.*)</v>'))[1]
      FROM rels r
     WHERE r.relkind IN ('r', 'm') AND r.relpersistence <> 't'

    -- the database itself
    UNION ALL
    SELECT 'database', 'comment', coalesce(shobj_description(d.oid, 'pg_database'), '')
      FROM pg_database d WHERE d.datname = current_database()
    UNION ALL
    SELECT 'database', 'setting', array_to_string(ARRAY(SELECT unnest(s.setconfig) ORDER BY 1), ',')
      FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
     WHERE d.datname = current_database() AND s.setrole = 0
    UNION ALL
    SELECT 'database', 'grant to ' || CASE WHEN a.grantee = 0 THEN 'PUBLIC'
                                           ELSE pg_get_userbyid(a.grantee)::text END,
           a.privilege_type || CASE WHEN a.is_grantable THEN ' with grant option' ELSE '' END
      FROM pg_database d, aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a
     WHERE d.datname = current_database() AND a.grantee <> d.datdba)
SELECT object, attribute, value
  FROM facts
 ORDER BY object COLLATE "C", attribute COLLATE "C", value COLLATE "C"
