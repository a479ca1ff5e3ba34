-- A digest of every catalog object a copy reproduces, for verify to compare source and target
-- by name (oids differ between servers). Catalog only: its cost does not grow with the rows.
-- Run with search_path = pg_catalog on both sides, so that names and deparsed expressions come
-- out fully qualified and the same. Left out: system schemas, Ferry's _ferry, members of
-- extensions (the extension is compared), tablespaces, security labels, subscriptions.
-- Columns: 0 object, named as pg_identify_object names it ("table public.orders",
--            "table column public.orders.id", "index public.orders_pkey", ...), "database"
--          1 what ("owner", "privileges", "comment", "type", "definition (md5)", ...)
--          2 value (short text; the md5 of a long definition); NULL for none
--          3 how to compare: e exactly; d deparsed by the server (compared only between servers
--            of the same major version, which deparse alike); s the source's must be on the
--            target, which may hold more (the new platform's own database settings and grants)
WITH ns AS (
    SELECT oid, nspname FROM pg_namespace
     WHERE nspname NOT IN ('pg_catalog', 'information_schema', '_ferry')
       AND nspname NOT LIKE 'pg\_toast%'
       AND nspname NOT LIKE 'pg\_temp\_%'),
ext AS (SELECT classid, objid FROM pg_depend WHERE deptype = 'e'),
rel AS (
    SELECT c.* FROM pg_class c
     WHERE c.relnamespace IN (SELECT oid FROM ns)
       AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
       AND c.oid NOT IN (SELECT objid FROM ext WHERE classid = 'pg_class'::regclass)),
typ AS (
    -- types a user creates: not arrays, not the row types of tables, not multiranges (made
    -- with their range)
    SELECT t.* FROM pg_type t
     WHERE t.typnamespace IN (SELECT oid FROM ns)
       AND t.typtype IN ('b', 'c', 'd', 'e', 'r')
       AND NOT (t.typcategory = 'A' AND t.typelem <> 0
                AND EXISTS (SELECT 1 FROM pg_type e WHERE e.typarray = t.oid))
       AND (t.typrelid = 0 OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
       AND t.oid NOT IN (SELECT objid FROM ext WHERE classid = 'pg_type'::regclass)),
fn AS (
    SELECT p.* FROM pg_proc p
     WHERE p.pronamespace IN (SELECT oid FROM ns)
       AND p.oid NOT IN (SELECT objid FROM ext WHERE classid = 'pg_proc'::regclass)),
d(classid, objid, subid, what, value, how) AS (
    -- schemas
    SELECT 'pg_namespace'::regclass, n.oid, 0, 'owner', pg_get_userbyid(n.nspowner)::text, 'e'
      FROM pg_namespace n WHERE n.oid IN (SELECT oid FROM ns)
    UNION ALL
    SELECT 'pg_namespace'::regclass, n.oid, 0, 'privileges', n.nspacl::text, 'e'
      FROM pg_namespace n WHERE n.oid IN (SELECT oid FROM ns)

    -- tables, views, materialized views, sequences, foreign tables
    UNION ALL
    SELECT 'pg_class'::regclass, c.oid, 0, 'owner', pg_get_userbyid(c.relowner)::text, 'e'
      FROM rel c
    UNION ALL
    SELECT 'pg_class'::regclass, c.oid, 0, 'privileges', c.relacl::text, 'e' FROM rel c
    UNION ALL
    SELECT 'pg_class'::regclass, c.oid, 0, 'persistence',
           CASE c.relpersistence WHEN 'u' THEN 'unlogged' ELSE 'logged' END, 'e'
      FROM rel c
    UNION ALL
    SELECT 'pg_class'::regclass, c.oid, 0, 'row security',
           CASE WHEN c.relforcerowsecurity THEN 'enabled, forced'
                WHEN c.relrowsecurity THEN 'enabled' ELSE 'disabled' END, 'e'
      FROM rel c WHERE c.relkind IN ('r', 'p')
    UNION ALL
    SELECT 'pg_class'::regclass, c.oid, 0, 'replica identity',
           CASE c.relreplident WHEN 'd' THEN 'default' WHEN 'n' THEN 'nothing'
                WHEN 'f' THEN 'full'
                ELSE 'index ' || coalesce((SELECT i.relname FROM pg_index x
                                             JOIN pg_class i ON i.oid = x.indexrelid
                                            WHERE x.indrelid = c.oid AND x.indisreplident),
                                          '?') END, 'e'
      FROM rel c WHERE c.relkind IN ('r', 'p', 'm')
    UNION ALL
    SELECT 'pg_class'::regclass, c.oid, 0, 'options', c.reloptions::text, 'e'
      FROM rel c WHERE c.reloptions IS NOT NULL
    UNION ALL
    SELECT 'pg_class'::regclass, c.oid, 0, 'inherits',
           (SELECT string_agg(format('%I.%I', pn.nspname, pc.relname), ', ' ORDER BY i.inhseqno)
              FROM pg_inherits i JOIN pg_class pc ON pc.oid = i.inhparent
              JOIN pg_namespace pn ON pn.oid = pc.relnamespace
             WHERE i.inhrelid = c.oid), 'e'
      FROM rel c WHERE c.relkind IN ('r', 'p', 'f')
    UNION ALL
    SELECT 'pg_class'::regclass, c.oid, 0, 'partition bound',
           pg_get_expr(c.relpartbound, c.oid), 'd'
      FROM rel c WHERE c.relispartition
    UNION ALL
    SELECT 'pg_class'::regclass, c.oid, 0, 'partition key', pg_get_partkeydef(c.oid), 'd'
      FROM rel c WHERE c.relkind = 'p'
    UNION ALL
    SELECT 'pg_class'::regclass, c.oid, 0, 'definition (md5)', md5(pg_get_viewdef(c.oid)), 'd'
      FROM rel c WHERE c.relkind IN ('v', 'm')
    UNION ALL
    SELECT 'pg_class'::regclass, c.oid, 0, 'populated', c.relispopulated::text, 'e'
      FROM rel c WHERE c.relkind = 'm'
    UNION ALL
    SELECT 'pg_class'::regclass, c.oid, 0, 'sequence',
           format('%s from %s to %s, start %s, increment %s, cache %s%s',
                  format_type(s.seqtypid, NULL), s.seqmin, s.seqmax, s.seqstart,
                  s.seqincrement, s.seqcache, CASE WHEN s.seqcycle THEN ', cycle' ELSE '' END),
           'e'
      FROM rel c JOIN pg_sequence s ON s.seqrelid = c.oid

    -- columns (named by attnum, but pg_identify_object names them by name)
    UNION ALL
    SELECT 'pg_class'::regclass, a.attrelid, a.attnum, v.what, v.value, v.how
      FROM pg_attribute a
      JOIN rel c ON c.oid = a.attrelid AND c.relkind <> 'S'
      LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
      LEFT JOIN pg_collation co ON co.oid = a.attcollation
      LEFT JOIN pg_namespace con ON con.oid = co.collnamespace
     CROSS JOIN LATERAL (VALUES
           ('position', (SELECT count(*) FROM pg_attribute b
                          WHERE b.attrelid = a.attrelid AND b.attnum > 0
                            AND NOT b.attisdropped AND b.attnum <= a.attnum)::text, 'e'),
           ('type', format_type(a.atttypid, a.atttypmod), 'e'),
           ('not null', a.attnotnull::text, 'e'),
           ('default', CASE WHEN a.attgenerated = '' THEN pg_get_expr(ad.adbin, ad.adrelid) END,
            'd'),
           ('generated', CASE WHEN a.attgenerated = 's'
                              THEN 'stored: ' || pg_get_expr(ad.adbin, ad.adrelid) END, 'd'),
           ('identity', CASE a.attidentity WHEN 'a' THEN 'always' WHEN 'd' THEN 'by default'
                        END, 'e'),
           ('collation', CASE WHEN a.attcollation <> 0
                              THEN format('%I.%I', con.nspname, co.collname) END, 'e'),
           ('privileges', a.attacl::text, 'e'),
           ('storage', a.attstorage::text, 'e'),
           ('compression', nullif(a.attcompression::text, ''), 'e'),
           ('statistics', nullif(a.attstattarget, -1)::text, 'e'))
           AS v(what, value, how)
     WHERE a.attnum > 0 AND NOT a.attisdropped

    -- constraints of tables and domains
    UNION ALL
    SELECT 'pg_constraint'::regclass, k.oid, 0, v.what, v.value, v.how
      FROM pg_constraint k
     CROSS JOIN LATERAL (VALUES ('definition', pg_get_constraintdef(k.oid), 'd'),
                                ('validated', k.convalidated::text, 'e')) AS v(what, value, how)
     WHERE k.conrelid IN (SELECT oid FROM rel) OR k.contypid IN (SELECT oid FROM typ)

    -- indexes
    UNION ALL
    SELECT 'pg_class'::regclass, x.indexrelid, 0, v.what, v.value, v.how
      FROM pg_index x
     CROSS JOIN LATERAL (VALUES ('definition', pg_get_indexdef(x.indexrelid), 'd'),
                                ('clustered', x.indisclustered::text, 'e'))
           AS v(what, value, how)
     WHERE x.indrelid IN (SELECT oid FROM rel)

    -- triggers, rules, policies
    UNION ALL
    SELECT 'pg_trigger'::regclass, tg.oid, 0, v.what, v.value, v.how
      FROM pg_trigger tg
     CROSS JOIN LATERAL (VALUES ('definition', pg_get_triggerdef(tg.oid), 'd'),
                                ('enabled', tg.tgenabled::text, 'e')) AS v(what, value, how)
     WHERE tg.tgrelid IN (SELECT oid FROM rel) AND NOT tg.tgisinternal
    UNION ALL
    SELECT 'pg_rewrite'::regclass, r.oid, 0, v.what, v.value, v.how
      FROM pg_rewrite r
     CROSS JOIN LATERAL (VALUES ('definition (md5)', md5(pg_get_ruledef(r.oid)), 'd'),
                                ('enabled', r.ev_enabled::text, 'e')) AS v(what, value, how)
     WHERE r.ev_class IN (SELECT oid FROM rel) AND r.rulename <> '_RETURN'
    UNION ALL
    SELECT 'pg_policy'::regclass, p.oid, 0, v.what, v.value, v.how
      FROM pg_policy p
     CROSS JOIN LATERAL (VALUES
           ('command', p.polcmd::text, 'e'),
           ('permissive', p.polpermissive::text, 'e'),
           ('roles', (SELECT string_agg(CASE WHEN r = 0 THEN 'public'
                                             ELSE pg_get_userbyid(r)::text END,
                                        ', ' ORDER BY 1)
                        FROM unnest(p.polroles) AS r), 'e'),
           ('using', pg_get_expr(p.polqual, p.polrelid), 'd'),
           ('with check', pg_get_expr(p.polwithcheck, p.polrelid), 'd')) AS v(what, value, how)
     WHERE p.polrelid IN (SELECT oid FROM rel)

    -- functions, procedures, aggregates
    UNION ALL
    SELECT 'pg_proc'::regclass, p.oid, 0, v.what, v.value, v.how
      FROM fn p
      LEFT JOIN pg_aggregate ag ON ag.aggfnoid = p.oid
     CROSS JOIN LATERAL (VALUES
           ('owner', pg_get_userbyid(p.proowner)::text, 'e'),
           ('privileges', p.proacl::text, 'e'),
           ('body (md5)', md5(p.prosrc), 'e'),
           ('definition (md5)',
            CASE WHEN p.prokind = 'a'
                 THEN md5(format('%s %s %s %s %s %s %s', ag.aggkind, ag.aggtransfn::regproc,
                                 ag.aggfinalfn::regproc, ag.aggcombinefn::regproc,
                                 format_type(ag.aggtranstype, NULL), ag.agginitval,
                                 ag.aggsortop::regoperator))
                 ELSE md5(pg_get_functiondef(p.oid)) END, 'd')) AS v(what, value, how)

    -- types: enums, domains, composites, ranges, base types
    UNION ALL
    SELECT 'pg_type'::regclass, t.oid, 0, v.what, v.value, v.how
      FROM typ t
     CROSS JOIN LATERAL (VALUES
           ('owner', pg_get_userbyid(t.typowner)::text, 'e'),
           ('privileges', t.typacl::text, 'e'),
           ('definition',
            CASE t.typtype
                 WHEN 'e' THEN 'enum (' || (SELECT string_agg(quote_literal(e.enumlabel), ', '
                                                              ORDER BY e.enumsortorder)
                                              FROM pg_enum e WHERE e.enumtypid = t.oid) || ')'
                 WHEN 'd' THEN format('domain over %s%s%s%s',
                                      format_type(t.typbasetype, t.typtypmod),
                                      CASE WHEN t.typnotnull THEN ' not null' ELSE '' END,
                                      ' default ' || pg_get_expr(t.typdefaultbin, 0),
                                      (SELECT ' collate ' || format('%I.%I', cn.nspname,
                                                                    co.collname)
                                         FROM pg_collation co
                                         JOIN pg_namespace cn ON cn.oid = co.collnamespace
                                        WHERE co.oid = t.typcollation
                                          AND t.typcollation <> (SELECT b.typcollation
                                                                   FROM pg_type b
                                                                  WHERE b.oid = t.typbasetype)))
                 WHEN 'c' THEN 'composite (' || (
                        SELECT string_agg(format('%I %s%s', a.attname,
                                                 format_type(a.atttypid, a.atttypmod),
                                                 CASE WHEN a.attcollation <> 0
                                                       AND a.attcollation <> 100
                                                      THEN ' collate ' || a.attcollation::regcollation::text
                                                      ELSE '' END),
                                          ', ' ORDER BY a.attnum)
                          FROM pg_attribute a
                         WHERE a.attrelid = t.typrelid AND a.attnum > 0
                           AND NOT a.attisdropped) || ')'
                 WHEN 'r' THEN (SELECT format('range of %s, subtype diff %s, canonical %s',
                                              format_type(r.rngsubtype, NULL),
                                              r.rngsubdiff::regproc, r.rngcanonical::regproc)
                                  FROM pg_range r WHERE r.rngtypid = t.oid)
                 ELSE format('base type, input %s, output %s, length %s', t.typinput::regproc,
                             t.typoutput::regproc, t.typlen) END, 'd'))
           AS v(what, value, how)

    -- other schema objects: collations, operators, text search, statistics, conversions
    UNION ALL
    SELECT 'pg_collation'::regclass, co.oid, 0, 'owner', pg_get_userbyid(co.collowner)::text, 'e'
      FROM pg_collation co WHERE co.collnamespace IN (SELECT oid FROM ns)
       AND co.oid NOT IN (SELECT objid FROM ext WHERE classid = 'pg_collation'::regclass)
    UNION ALL
    SELECT 'pg_collation'::regclass, co.oid, 0, 'definition',
           format('%s %s %s %s', co.collprovider, co.collisdeterministic, co.collcollate,
                  co.collctype), 'e'
      FROM pg_collation co WHERE co.collnamespace IN (SELECT oid FROM ns)
       AND co.oid NOT IN (SELECT objid FROM ext WHERE classid = 'pg_collation'::regclass)
    UNION ALL
    SELECT 'pg_operator'::regclass, o.oid, 0, 'owner', pg_get_userbyid(o.oprowner)::text, 'e'
      FROM pg_operator o WHERE o.oprnamespace IN (SELECT oid FROM ns)
       AND o.oid NOT IN (SELECT objid FROM ext WHERE classid = 'pg_operator'::regclass)
    UNION ALL
    SELECT 'pg_ts_config'::regclass, c.oid, 0, 'owner', pg_get_userbyid(c.cfgowner)::text, 'e'
      FROM pg_ts_config c WHERE c.cfgnamespace IN (SELECT oid FROM ns)
       AND c.oid NOT IN (SELECT objid FROM ext WHERE classid = 'pg_ts_config'::regclass)
    UNION ALL
    SELECT 'pg_ts_dict'::regclass, c.oid, 0, 'owner', pg_get_userbyid(c.dictowner)::text, 'e'
      FROM pg_ts_dict c WHERE c.dictnamespace IN (SELECT oid FROM ns)
       AND c.oid NOT IN (SELECT objid FROM ext WHERE classid = 'pg_ts_dict'::regclass)
    UNION ALL
    SELECT 'pg_conversion'::regclass, c.oid, 0, 'owner', pg_get_userbyid(c.conowner)::text, 'e'
      FROM pg_conversion c WHERE c.connamespace IN (SELECT oid FROM ns)
       AND c.oid NOT IN (SELECT objid FROM ext WHERE classid = 'pg_conversion'::regclass)
    UNION ALL
    SELECT 'pg_statistic_ext'::regclass, s.oid, 0, v.what, v.value, v.how
      FROM pg_statistic_ext s
     CROSS JOIN LATERAL (VALUES ('owner', pg_get_userbyid(s.stxowner)::text, 'e'),
                                ('definition', pg_get_statisticsobjdef(s.oid), 'd'))
           AS v(what, value, how)
     WHERE s.stxnamespace IN (SELECT oid FROM ns)

    -- objects outside schemas: extensions, publications, event triggers, languages, foreign
    -- data wrappers and servers, default privileges
    UNION ALL
    SELECT 'pg_extension'::regclass, x.oid, 0, v.what, v.value, v.how
      FROM pg_extension x
      JOIN pg_namespace n ON n.oid = x.extnamespace
     CROSS JOIN LATERAL (VALUES ('schema', n.nspname::text, 'e'),
                                ('version', x.extversion, 'd')) AS v(what, value, how)
    UNION ALL
    SELECT 'pg_publication'::regclass, p.oid, 0, v.what, v.value, v.how
      FROM pg_publication p
     CROSS JOIN LATERAL (VALUES
           ('owner', pg_get_userbyid(p.pubowner)::text, 'e'),
           ('definition', format('all tables %s, insert %s, update %s, delete %s, truncate %s, '
                                 'via root %s', p.puballtables, p.pubinsert, p.pubupdate,
                                 p.pubdelete, p.pubtruncate, p.pubviaroot), 'e'),
           ('tables', (SELECT string_agg(format('%I.%I', t.schemaname, t.tablename), ', '
                                         ORDER BY t.schemaname, t.tablename)
                         FROM pg_publication_tables t WHERE t.pubname = p.pubname), 'e'))
           AS v(what, value, how)
    UNION ALL
    SELECT 'pg_event_trigger'::regclass, e.oid, 0, v.what, v.value, v.how
      FROM pg_event_trigger e
     CROSS JOIN LATERAL (VALUES
           ('owner', pg_get_userbyid(e.evtowner)::text, 'e'),
           ('definition', format('%s %s %s %s', e.evtevent, e.evtfoid::regproc, e.evtenabled,
                                 e.evttags), 'e')) AS v(what, value, how)
     WHERE e.oid NOT IN (SELECT objid FROM ext WHERE classid = 'pg_event_trigger'::regclass)
    UNION ALL
    SELECT 'pg_language'::regclass, l.oid, 0, v.what, v.value, v.how
      FROM pg_language l
     CROSS JOIN LATERAL (VALUES ('owner', pg_get_userbyid(l.lanowner)::text, 'e'),
                                ('privileges', l.lanacl::text, 'e')) AS v(what, value, how)
     WHERE l.lanispl AND l.oid >= 16384
       AND l.oid NOT IN (SELECT objid FROM ext WHERE classid = 'pg_language'::regclass)
    UNION ALL
    SELECT 'pg_foreign_data_wrapper'::regclass, w.oid, 0, v.what, v.value, v.how
      FROM pg_foreign_data_wrapper w
     CROSS JOIN LATERAL (VALUES ('owner', pg_get_userbyid(w.fdwowner)::text, 'e'),
                                ('privileges', w.fdwacl::text, 'e'),
                                ('options', w.fdwoptions::text, 'e')) AS v(what, value, how)
     WHERE w.oid NOT IN (SELECT objid FROM ext WHERE classid = 'pg_foreign_data_wrapper'::regclass)
    UNION ALL
    SELECT 'pg_foreign_server'::regclass, s.oid, 0, v.what, v.value, v.how
      FROM pg_foreign_server s
     CROSS JOIN LATERAL (VALUES ('owner', pg_get_userbyid(s.srvowner)::text, 'e'),
                                ('privileges', s.srvacl::text, 'e'),
                                ('options', s.srvoptions::text, 'e')) AS v(what, value, how)
     WHERE s.oid NOT IN (SELECT objid FROM ext WHERE classid = 'pg_foreign_server'::regclass)
    UNION ALL
    SELECT 'pg_default_acl'::regclass, a.oid, 0, 'privileges', a.defaclacl::text, 'e'
      FROM pg_default_acl a
     WHERE a.defaclnamespace = 0 OR a.defaclnamespace IN (SELECT oid FROM ns)

    -- comments on every kind of object but large objects (verify_large_objects.sql)
    UNION ALL
    SELECT c.classoid, c.objoid, c.objsubid, 'comment', c.description, 'e'
      FROM pg_description c
      JOIN LATERAL pg_identify_object(c.classoid, c.objoid, c.objsubid) AS i ON true
     WHERE c.classoid <> 'pg_largeobject'::regclass
       AND NOT EXISTS (SELECT 1 FROM ext
                        WHERE ext.classid = c.classoid AND ext.objid = c.objoid)
       AND CASE WHEN c.classoid = 'pg_namespace'::regclass
                THEN c.objoid IN (SELECT oid FROM ns)
                WHEN i.schema IS NOT NULL THEN i.schema IN (SELECT nspname FROM ns)
                ELSE c.objoid >= 16384 OR c.classoid = 'pg_extension'::regclass END)
SELECT i.type || ' ' || i.identity, d.what, d.value, d.how
  FROM d, LATERAL pg_identify_object(d.classid, d.objid, d.subid) AS i
 WHERE d.value IS NOT NULL

-- the database itself: its comment, its settings and the privileges it grants to roles other
-- than its owner (database_read.sql says what a copy gives the target's database)
UNION ALL
SELECT 'database', 'comment', shobj_description(db.oid, 'pg_database'), 'e'
  FROM pg_database db WHERE db.datname = current_database()
UNION ALL
SELECT 'database', 'setting ' || split_part(cfg, '=', 1), substr(cfg, strpos(cfg, '=') + 1), 's'
  FROM pg_database db
  JOIN pg_db_role_setting s ON s.setdatabase = db.oid AND s.setrole = 0
 CROSS JOIN LATERAL unnest(s.setconfig) AS cfg
 WHERE db.datname = current_database()
   AND split_part(cfg, '=', 1) <> 'default_transaction_read_only'
UNION ALL
SELECT 'database', 'privileges of ' || CASE WHEN a.grantee = 0 THEN 'PUBLIC'
                                            ELSE pg_get_userbyid(a.grantee)::text END,
       string_agg(a.privilege_type || CASE WHEN a.is_grantable THEN ' (grantable)' ELSE '' END,
                  ', ' ORDER BY a.privilege_type),
       CASE WHEN a.grantee = 0 THEN 'e' ELSE 's' END
  FROM pg_database db
 CROSS JOIN LATERAL aclexplode(coalesce(db.datacl, acldefault('d', db.datdba))) AS a
 WHERE db.datname = current_database() AND a.grantee <> db.datdba
 GROUP BY a.grantee
