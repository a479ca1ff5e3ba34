/*
 * Integration tests: a copy by ferry-dump-restore is exact (issue 12, section 1), against the
 * local stack's two PostgreSQL servers. The source holds what a row copy can miss and pg_dump
 * does not carry by default: owners other than the connecting user, grants to extra roles
 * (column grants too), default privileges, row security with policies, replica identities,
 * unlogged tables, generated and identity columns, column collations, comments on every kind
 * of object, sequences in every state, large objects with owners, grants and comments, the
 * database's comment, settings and grants. After a copy, source and target are compared with
 * the tests' own catalog and data queries (tests/support/pg_fingerprint.sql), not with Ferry's
 * verify; then differences are planted on the target one at a time and verify must name each.
 * Also: the overwrite guard, the roles check, and Ferry's mark (gone after a completed copy,
 * "incomplete" after a stopped one).
 *
 * Roles are cluster-wide: they are created on both servers with names unique to the run
 * (drx<pid>_...) and dropped at the end.
 */
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dr.h"
#include "ferry/buf.h"
#include "ferry_test.h"
#include "pg_test.h"

#ifndef FERRY_PG_FINGERPRINT
#error "FERRY_PG_FINGERPRINT (the path of tests/support/pg_fingerprint.sql) comes from CMake"
#endif

static char prefix[32]; /* drx<pid>: databases and roles of this run */
static char src_db[64], tgt_db[64], empty_db[64];
static char src_conninfo[300], tgt_conninfo[300], empty_conninfo[300];
static char *fingerprint_sql;

/* ---- connections ------------------------------------------------------------------------ */

/* sql with every "{p}" replaced by the run's prefix and "{db}" by the source database's name.
 * Caller frees. */
static char *expand(const char *sql)
{
    ferry_buf b = {0};
    for (const char *p = sql; *p != '\0';) {
        if (strncmp(p, "{p}", 3) == 0) {
            ferry_buf_add(&b, prefix);
            p += 3;
        } else if (strncmp(p, "{db}", 4) == 0) {
            ferry_buf_add(&b, src_db);
            p += 4;
        } else {
            ferry_buf_addn(&b, p, 1);
            p++;
        }
    }
    return ferry_buf_take(&b);
}

static void exec(PGconn *conn, const char *sql)
{
    char *text = expand(sql);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    PGresult *res = PQexec(conn, text);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        fprintf(stderr, "\n%.300s: %s\n", text, PQerrorMessage(conn));
    CU_ASSERT(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK);
    PQclear(res);
    free(text);
}

static void exec_on(const char *side, const char *db, const char *sql)
{
    PGconn *conn = pg_test_connect(side, db, "ferry-integration-test");
    exec(conn, sql);
    PQfinish(conn);
}

/* The first value of a query on side/db, copied into out ("<error>" on failure). */
static void value_on(const char *side, const char *db, const char *sql, char *out, size_t outsz)
{
    PGconn *conn = pg_test_connect(side, db, "ferry-integration-test");
    char *text = expand(sql);
    PGresult *res = PQexec(conn, text);
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0)
        (void)snprintf(out, outsz, "%s", PQgetisnull(res, 0, 0) ? "<null>" : PQgetvalue(res, 0, 0));
    else
        (void)snprintf(out, outsz, "<error: %s>", PQerrorMessage(conn));
    PQclear(res);
    free(text);
    PQfinish(conn);
}

/* ---- the fingerprint -------------------------------------------------------------------- */

/* Runs tests/support/pg_fingerprint.sql on side/db. Caller PQclears. */
static PGresult *fingerprint(const char *side, const char *db)
{
    PGconn *conn = pg_test_connect(side, db, "ferry-integration-test");
    PGresult *res = PQexec(conn, fingerprint_sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        fprintf(stderr, "\nfingerprint on %s: %s\n", side, PQerrorMessage(conn));
    CU_ASSERT_EQUAL(PQresultStatus(res), PGRES_TUPLES_OK);
    PQfinish(conn);
    return res;
}

static int row_cmp(const PGresult *a, int i, const PGresult *b, int j)
{
    for (int c = 0; c < 3; c++) {
        int d = strcmp(PQgetvalue(a, i, c), PQgetvalue(b, j, c));
        if (d != 0)
            return d;
    }
    return 0;
}

/* Compares two fingerprints row by row (both sorted in byte order); prints the rows only one
 * has. Returns how many differ. */
static int fingerprint_diff(const PGresult *a, const char *a_name, const PGresult *b,
                            const char *b_name)
{
    int i = 0, j = 0, na = PQntuples(a), nb = PQntuples(b), differ = 0;
    while (i < na || j < nb) {
        int c = i == na ? 1 : j == nb ? -1 : row_cmp(a, i, b, j);
        if (c == 0) {
            i++;
            j++;
            continue;
        }
        const PGresult *r = c < 0 ? a : b;
        int k = c < 0 ? i++ : j++;
        if (differ++ < 40)
            fprintf(stderr, "\n  only on the %s: %s | %s | %.120s", c < 0 ? a_name : b_name,
                    PQgetvalue(r, k, 0), PQgetvalue(r, k, 1), PQgetvalue(r, k, 2));
    }
    if (differ > 0)
        fprintf(stderr, "\n  (%d rows differ)\n", differ);
    return differ;
}

static void assert_target_is_source(void)
{
    PGresult *s = fingerprint("source", src_db), *t = fingerprint("target", tgt_db);
    CU_ASSERT(PQntuples(s) > 300); /* the fixture's facts, not an empty answer */
    CU_ASSERT_EQUAL(fingerprint_diff(s, "source", t, "target"), 0);
    PQclear(s);
    PQclear(t);
}

/* ---- copies ----------------------------------------------------------------------------- */

static const char *stop_at_phase;
static _Atomic bool stop_now;

static bool test_stopping(void *ud)
{
    (void)ud;
    return atomic_load(&stop_now);
}

static void test_progress(void *ud, const dr_progress *p)
{
    (void)ud;
    if (stop_at_phase != NULL && strcmp(p->phase, stop_at_phase) == 0)
        atomic_store(&stop_now, true);
}

static dr_options options(const char *target_conninfo, bool overwrite)
{
    atomic_store(&stop_now, false);
    dr_options o = {.source = {.conninfo = src_conninfo,
                               .password = pg_test_password("source"),
                               .label = "source"},
                    .target = {.conninfo = target_conninfo,
                               .password = pg_test_password("target"),
                               .label = "target"},
                    .jobs = 2,
                    .split_bytes = 1024 * 1024,
                    .verify = true,
                    .overwrite = overwrite,
                    .started_by = "integration test (exact)",
                    .stop = {.stopping = test_stopping},
                    .progress = test_progress};
    return o;
}

static ferry_rc copy_to(const char *target_conninfo, bool overwrite, ferry_err *err)
{
    dr_report report;
    dr_options o = options(target_conninfo, overwrite);
    CU_ASSERT_EQUAL_FATAL(dr_report_init(&report), FERRY_OK);
    ferry_rc rc = dr_copy(&o, &report, err);
    if (rc != FERRY_OK && stop_at_phase == NULL)
        fprintf(stderr, "\ncopy: %s\n", err->msg);
    dr_report_cleanup(&report);
    return rc;
}

/* "t" when the target database tgt has Ferry's mark (the schema _ferry). */
static void mark_of(const char *db, char *out, size_t outsz)
{
    value_on("target", db, "SELECT to_regnamespace('_ferry') IS NOT NULL", out, outsz);
}

/* ---- the source ------------------------------------------------------------------------- */

static const char *const roles[] = {"owner", "reader", "writer", "gone", NULL};

/* The source, in parts (a C string has a length limit). */
static const char *const fixture[] = {
    "CREATE EXTENSION citext;\n"
    "COMMENT ON EXTENSION citext IS 'case-insensitive text, for the tags';\n"
    "CREATE SCHEMA app AUTHORIZATION {p}_owner;\n"
    "COMMENT ON SCHEMA app IS 'the app''s schema';\n"
    "GRANT USAGE ON SCHEMA app TO {p}_reader, {p}_writer;\n"
    "CREATE TYPE app.mood AS ENUM ('sad', 'ok', 'happy');\n"
    "COMMENT ON TYPE app.mood IS 'how a customer feels';\n"
    "ALTER TYPE app.mood OWNER TO {p}_owner;\n"
    "GRANT USAGE ON TYPE app.mood TO {p}_reader;\n"
    "CREATE DOMAIN app.email AS text COLLATE \"C\" CONSTRAINT has_at CHECK (VALUE LIKE '%@%');\n"
    "COMMENT ON DOMAIN app.email IS 'an e-mail address';\n"
    "COMMENT ON CONSTRAINT has_at ON DOMAIN app.email IS 'at least an at';\n"
    "CREATE TYPE app.pair AS (a int, b text COLLATE \"C\");\n"
    "COMMENT ON TYPE app.pair IS 'a pair';\n"
    "COMMENT ON COLUMN app.pair.a IS 'the first of the pair';\n",
    /* identity, generated, collations, replica identity full */
    "CREATE TABLE app.customers (\n"
    "  id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
    "  name text COLLATE \"C\" NOT NULL,\n"
    "  email app.email,\n"
    "  mood app.mood DEFAULT 'ok',\n"
    "  tags citext,\n"
    "  spot app.pair,\n"
    "  name_upper text GENERATED ALWAYS AS (upper(name)) STORED,\n"
    "  tenant text NOT NULL DEFAULT 'a');\n"
    "INSERT INTO app.customers (name, email, mood, tags, spot, tenant)\n"
    "SELECT 'c' || g, 'c' || g || '@example.org', (ARRAY['sad','ok','happy']::app.mood[])[1 + g % "
    "3],\n"
    "  'Tag' || g % 7, ROW(g, 'p' || g)::app.pair, CASE WHEN g % 2 = 0 THEN 'a' ELSE 'b' END\n"
    "FROM generate_series(1, 300) g;\n"
    "ALTER TABLE app.customers REPLICA IDENTITY FULL;\n"
    "COMMENT ON TABLE app.customers IS 'who buys';\n"
    "COMMENT ON COLUMN app.customers.name IS 'as they spell it';\n"
    "COMMENT ON CONSTRAINT customers_pkey ON app.customers IS 'one per customer';\n"
    "COMMENT ON INDEX app.customers_pkey IS 'the primary key''s index';\n"
    "CREATE STATISTICS app.customers_stats ON name, tenant FROM app.customers;\n"
    "COMMENT ON STATISTICS app.customers_stats IS 'name and tenant go together';\n"
    "ALTER TABLE app.customers OWNER TO {p}_owner;\n"
    "GRANT SELECT ON app.customers TO {p}_reader;\n",
    /* serial, check, foreign key, replica identity using an index, column grants */
    "CREATE TABLE app.orders (id bigserial PRIMARY KEY,\n"
    "  customer int NOT NULL REFERENCES app.customers (id),\n"
    "  amount numeric(10,2) CONSTRAINT positive CHECK (amount >= 0), code text NOT NULL,\n"
    "  changed timestamptz);\n"
    "INSERT INTO app.orders (customer, amount, code)\n"
    "SELECT 1 + g % 300, g / 4.0, 'o' || g FROM generate_series(1, 2000) g;\n"
    "CREATE UNIQUE INDEX orders_code ON app.orders (code);\n"
    "CREATE INDEX orders_amount_idx ON app.orders (amount);\n"
    "ALTER TABLE app.orders REPLICA IDENTITY USING INDEX orders_code;\n"
    "COMMENT ON CONSTRAINT positive ON app.orders IS 'no refunds here';\n"
    "ALTER TABLE app.orders OWNER TO {p}_owner;\n"
    "GRANT SELECT (id, amount), UPDATE (amount) ON app.orders TO {p}_writer;\n"
    "SELECT setval('app.orders_id_seq', 5000, false);\n",
    /* a trigger on a function owned by another role, EXECUTE not for PUBLIC */
    "CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS\n"
    "  $$ BEGIN NEW.changed := now(); RETURN NEW; END $$;\n"
    "COMMENT ON FUNCTION app.touch() IS 'stamps a change';\n"
    "ALTER FUNCTION app.touch() OWNER TO {p}_owner;\n"
    "REVOKE EXECUTE ON FUNCTION app.touch() FROM PUBLIC;\n"
    "GRANT EXECUTE ON FUNCTION app.touch() TO {p}_writer;\n"
    "CREATE TRIGGER orders_touch BEFORE UPDATE ON app.orders FOR EACH ROW\n"
    "  EXECUTE FUNCTION app.touch();\n"
    "COMMENT ON TRIGGER orders_touch ON app.orders IS 'keeps changed current';\n"
    "CREATE PROCEDURE app.nothing() LANGUAGE sql AS $$ SELECT 1 $$;\n"
    "COMMENT ON PROCEDURE app.nothing() IS 'does nothing';\n",
    /* an unlogged table */
    "CREATE UNLOGGED TABLE app.cache (k text PRIMARY KEY, v text);\n"
    "INSERT INTO app.cache SELECT 'k' || g, repeat('v', g) FROM generate_series(1, 50) g;\n"
    "COMMENT ON TABLE app.cache IS 'rebuilt on a crash';\n",
    /* row security, enabled and forced, with policies */
    "CREATE TABLE app.secrets (id int PRIMARY KEY, tenant text NOT NULL, body text);\n"
    "INSERT INTO app.secrets SELECT g, CASE WHEN g % 2 = 0 THEN 'a' ELSE 'b' END, 's' || g\n"
    "  FROM generate_series(1, 40) g;\n"
    "ALTER TABLE app.secrets ENABLE ROW LEVEL SECURITY;\n"
    "ALTER TABLE app.secrets FORCE ROW LEVEL SECURITY;\n"
    "CREATE POLICY tenant_only ON app.secrets FOR SELECT TO {p}_reader\n"
    "  USING (tenant = current_setting('app.tenant', true));\n"
    "COMMENT ON POLICY tenant_only ON app.secrets IS 'a tenant sees its own';\n"
    "CREATE POLICY writers ON app.secrets AS RESTRICTIVE FOR INSERT TO {p}_writer\n"
    "  WITH CHECK (tenant <> '');\n"
    "ALTER TABLE app.secrets OWNER TO {p}_owner;\n"
    "GRANT SELECT, INSERT ON app.secrets TO {p}_reader, {p}_writer;\n",
    /* views */
    "CREATE VIEW app.big_orders AS SELECT id, customer, amount FROM app.orders WHERE amount > "
    "400;\n"
    "COMMENT ON VIEW app.big_orders IS 'the big ones';\n"
    "COMMENT ON COLUMN app.big_orders.amount IS 'over 400';\n"
    "ALTER VIEW app.big_orders OWNER TO {p}_owner;\n"
    "GRANT SELECT ON app.big_orders TO {p}_reader;\n"
    "CREATE MATERIALIZED VIEW app.totals AS\n"
    "  SELECT customer, sum(amount) AS total FROM app.orders GROUP BY customer;\n"
    "COMMENT ON MATERIALIZED VIEW app.totals IS 'per customer';\n"
    "ALTER MATERIALIZED VIEW app.totals OWNER TO {p}_owner;\n",
    /* sequences in every state: never called (start 100), called, setval(n, false) at a value
     * other than the start, negative increment, cycled, free-standing and owned by a column */
    "CREATE SEQUENCE app.never_called START 100;\n"
    "CREATE SEQUENCE app.called;\n"
    "SELECT nextval('app.called') FROM generate_series(1, 5);\n"
    "COMMENT ON SEQUENCE app.called IS 'called five times';\n"
    "ALTER SEQUENCE app.called OWNER TO {p}_owner;\n"
    "GRANT USAGE, SELECT ON SEQUENCE app.called TO {p}_writer;\n"
    "CREATE SEQUENCE app.reset_false START 1;\n"
    "SELECT nextval('app.reset_false');\n"
    "SELECT setval('app.reset_false', 500, false);\n"
    "CREATE SEQUENCE app.down INCREMENT -2 START -10 MINVALUE -1000 MAXVALUE -1;\n"
    "SELECT nextval('app.down') FROM generate_series(1, 3);\n"
    "CREATE SEQUENCE app.wraps MAXVALUE 3 CYCLE;\n"
    "SELECT nextval('app.wraps') FROM generate_series(1, 4);\n"
    "CREATE TABLE app.counted (n int);\n"
    "CREATE SEQUENCE app.counted_n OWNED BY app.counted.n;\n"
    "SELECT setval('app.counted_n', 42);\n",
    /* default privileges: in a schema, and for every schema */
    "ALTER DEFAULT PRIVILEGES FOR ROLE {p}_owner IN SCHEMA app GRANT SELECT ON TABLES TO "
    "{p}_reader;\n"
    "ALTER DEFAULT PRIVILEGES FOR ROLE {p}_owner REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;\n"
    "ALTER DEFAULT PRIVILEGES FOR ROLE {p}_owner GRANT EXECUTE ON FUNCTIONS TO {p}_writer;\n",
    /* large objects with comments, owners and grants */
    "SELECT lo_from_bytea(70001, decode(repeat('0123456789abcdef', 40000), 'hex'));\n"
    "SELECT lo_from_bytea(70002, 'small');\n"
    "SELECT lo_from_bytea(70003, '');\n"
    "COMMENT ON LARGE OBJECT 70001 IS 'the big one';\n"
    "ALTER LARGE OBJECT 70001 OWNER TO {p}_owner;\n"
    "GRANT SELECT ON LARGE OBJECT 70001 TO {p}_reader;\n"
    "GRANT SELECT, UPDATE ON LARGE OBJECT 70001 TO {p}_writer WITH GRANT OPTION;\n"
    "COMMENT ON LARGE OBJECT 70003 IS 'empty';\n",
    /* public: a table, a changed comment */
    "CREATE TABLE public.plain (id int PRIMARY KEY, note text);\n"
    "INSERT INTO public.plain VALUES (1, 'one'), (2, NULL);\n"
    "COMMENT ON SCHEMA public IS 'the app''s public';\n",
    /* the database itself */
    "COMMENT ON DATABASE {db} IS 'the shop''s data';\n"
    "ALTER DATABASE {db} SET work_mem = '8MB';\n"
    "ALTER DATABASE {db} SET app.tenant = 'a';\n"
    "ALTER DATABASE {db} SET search_path = app, \"$user\", public;\n"
    "REVOKE TEMPORARY ON DATABASE {db} FROM PUBLIC;\n"
    "GRANT CREATE ON DATABASE {db} TO {p}_owner;\n",
    NULL};

static void on_servers(const char *sql)
{
    exec_on("source", "ferry", sql);
    exec_on("target", "ferry", sql);
}

static void drop_roles(void)
{
    char sql[200];
    for (size_t i = 0; roles[i] != NULL; i++) {
        (void)snprintf(sql, sizeof(sql), "DROP ROLE IF EXISTS {p}_%s", roles[i]);
        on_servers(sql);
    }
}

static void drop_dbs(void)
{
    char sql[200];
    (void)snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", src_db);
    exec_on("source", "ferry", sql);
    (void)snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", tgt_db);
    exec_on("target", "ferry", sql);
    (void)snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", empty_db);
    exec_on("target", "ferry", sql);
}

static int suite_setup(void)
{
    if (ferry_test_cfg() == NULL)
        return 1;
    (void)snprintf(prefix, sizeof(prefix), "drx%d", (int)getpid());
    (void)snprintf(src_db, sizeof(src_db), "%s_src", prefix);
    (void)snprintf(tgt_db, sizeof(tgt_db), "%s_tgt", prefix);
    (void)snprintf(empty_db, sizeof(empty_db), "%s_empty", prefix);
    char server[200];
    pg_test_server("source", server, sizeof(server));
    (void)snprintf(src_conninfo, sizeof(src_conninfo), "%s dbname=%s", server, src_db);
    pg_test_server("target", server, sizeof(server));
    (void)snprintf(tgt_conninfo, sizeof(tgt_conninfo), "%s dbname=%s", server, tgt_db);
    (void)snprintf(empty_conninfo, sizeof(empty_conninfo), "%s dbname=%s", server, empty_db);

    FILE *f = fopen(FERRY_PG_FINGERPRINT, "r");
    if (f == NULL)
        return 1;
    ferry_buf b = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        ferry_buf_addn(&b, chunk, n);
    (void)fclose(f);
    fingerprint_sql = ferry_buf_take(&b);
    return fingerprint_sql != NULL ? 0 : 1;
}

static int suite_teardown(void)
{
    free(fingerprint_sql);
    fingerprint_sql = NULL;
    return 0;
}

/* The first case: CUnit asserts are not allowed in a suite's setup. */
static void create_source(void)
{
    drop_dbs();
    drop_roles();
    char sql[200];
    for (size_t i = 0; roles[i] != NULL; i++) {
        (void)snprintf(sql, sizeof(sql), "CREATE ROLE {p}_%s", roles[i]);
        /* "gone" exists on the source only: the roles check must find it missing */
        if (strcmp(roles[i], "gone") == 0)
            exec_on("source", "ferry", sql);
        else
            on_servers(sql);
    }
    (void)snprintf(sql, sizeof(sql), "CREATE DATABASE %s", src_db);
    exec_on("source", "ferry", sql);
    (void)snprintf(sql, sizeof(sql), "CREATE DATABASE %s", tgt_db);
    exec_on("target", "ferry", sql);
    PGconn *conn = pg_test_connect("source", src_db, "ferry-integration-test");
    for (size_t i = 0; fixture[i] != NULL; i++)
        exec(conn, fixture[i]);
    PQfinish(conn);
}

static void cleanup_all(void)
{
    drop_dbs();
    drop_roles();
}

/* ---- the cases -------------------------------------------------------------------------- */

static void copy_is_exact(void)
{
    ferry_err err = {0};
    dr_report report;
    dr_options o = options(tgt_conninfo, false);
    CU_ASSERT_EQUAL_FATAL(dr_report_init(&report), FERRY_OK);
    CU_ASSERT_EQUAL(dr_copy(&o, &report, &err), FERRY_OK);
    if (err.msg[0] != '\0')
        fprintf(stderr, "\ncopy: %s\n", err.msg);
    CU_ASSERT_EQUAL(report.verified, 1);
    CU_ASSERT_EQUAL(report.n_differences, 0);
    CU_ASSERT_EQUAL(report.large_objects, 3);
    /* customers' identity, orders_id_seq, never_called, called, reset_false, down, wraps,
     * counted_n */
    CU_ASSERT_EQUAL(report.sequences, 8);
    dr_report_cleanup(&report);

    assert_target_is_source();
    /* A completed copy leaves nothing of Ferry's behind. */
    char v[64];
    mark_of(tgt_db, v, sizeof(v));
    CU_ASSERT_STRING_EQUAL(v, "f");
    /* The states point 1 of the issue lists, read on the target itself. */
    value_on("target", tgt_db,
             "SELECT string_agg(v, ' ' ORDER BY s) FROM ("
             "SELECT 1 s, last_value || ':' || is_called v FROM app.never_called UNION ALL "
             "SELECT 2, last_value || ':' || is_called FROM app.called UNION ALL "
             "SELECT 3, last_value || ':' || is_called FROM app.reset_false UNION ALL "
             "SELECT 4, last_value || ':' || is_called FROM app.down UNION ALL "
             "SELECT 5, last_value || ':' || is_called FROM app.wraps UNION ALL "
             "SELECT 6, last_value || ':' || is_called FROM app.orders_id_seq UNION ALL "
             "SELECT 7, last_value || ':' || is_called FROM app.counted_n) x",
             v, sizeof(v));
    CU_ASSERT_STRING_EQUAL(v, "100:false 5:true 500:false -14:true 1:true 5000:false 42:true");
}

/* One planted difference: SQL that makes it on the target, the object and attribute verify must
 * name, SQL that undoes it. */
typedef struct plant {
    const char *make, *object, *what, *undo;
} plant;

static const plant plants[] = {
    {"SELECT setval('app.reset_false', 500, true)", "sequence app.reset_false", "is_called f vs t",
     "SELECT setval('app.reset_false', 500, false)"},
    {"SELECT setval('app.called', 77)", "sequence app.called", "last_value 5 vs 77",
     "SELECT setval('app.called', 5)"},
    {"COMMENT ON LARGE OBJECT 70001 IS 'changed'", "large object 70001",
     "comment the big one vs changed", "COMMENT ON LARGE OBJECT 70001 IS 'the big one'"},
    {"ALTER LARGE OBJECT 70002 OWNER TO {p}_reader", "large object 70002", "owner",
     "ALTER LARGE OBJECT 70002 OWNER TO CURRENT_USER"},
    {"COMMENT ON COLUMN app.customers.name IS NULL", "table column app.customers.name",
     "comment as they spell it vs none",
     "COMMENT ON COLUMN app.customers.name IS 'as they spell it'"},
    {"REVOKE SELECT ON app.customers FROM {p}_reader", "table app.customers", "privileges",
     "GRANT SELECT ON app.customers TO {p}_reader"},
    {"DROP INDEX app.orders_amount_idx", "index app.orders_amount_idx", "missing on the target",
     "CREATE INDEX orders_amount_idx ON app.orders (amount)"},
    {"CREATE OR REPLACE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS\n"
     "  $$ BEGIN RETURN NEW; END $$",
     "function app.touch()", "body (md5)",
     "CREATE OR REPLACE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS\n"
     "  $$ BEGIN NEW.changed := now(); RETURN NEW; END $$"},
    {"DROP POLICY tenant_only ON app.secrets", "policy tenant_only on app.secrets",
     "missing on the target",
     "CREATE POLICY tenant_only ON app.secrets FOR SELECT TO {p}_reader\n"
     "  USING (tenant = current_setting('app.tenant', true));\n"
     "COMMENT ON POLICY tenant_only ON app.secrets IS 'a tenant sees its own'"},
    {"ALTER TABLE app.secrets NO FORCE ROW LEVEL SECURITY", "table app.secrets",
     "row security enabled, forced vs enabled", "ALTER TABLE app.secrets FORCE ROW LEVEL SECURITY"},
    {"ALTER TABLE app.customers REPLICA IDENTITY DEFAULT", "table app.customers",
     "replica identity full vs default", "ALTER TABLE app.customers REPLICA IDENTITY FULL"},
    {"ALTER DEFAULT PRIVILEGES FOR ROLE {p}_owner IN SCHEMA app REVOKE SELECT ON TABLES FROM "
     "{p}_reader",
     "default acl for role {p}_owner in schema app on tables", "missing on the target",
     "ALTER DEFAULT PRIVILEGES FOR ROLE {p}_owner IN SCHEMA app GRANT SELECT ON TABLES TO "
     "{p}_reader"},
    {"COMMENT ON DATABASE {tgt} IS NULL", "database", "comment the shop's data vs none",
     "COMMENT ON DATABASE {tgt} IS 'the shop''s data'"},
    /* (replica: the trigger that stamps a change does not fire, so the undo is exact) */
    {"SET session_replication_role = replica; UPDATE app.orders SET amount = amount + 1 WHERE "
     "id = 3",
     "table app.orders", "content differs",
     "SET session_replication_role = replica; UPDATE app.orders SET amount = amount - 1 WHERE "
     "id = 3"},
};

/* sql with "{tgt}" replaced by the target database's name (then expand() does the rest). */
static void exec_target(const char *sql)
{
    ferry_buf b = {0};
    const char *at = strstr(sql, "{tgt}");
    if (at != NULL) {
        ferry_buf_addn(&b, sql, (size_t)(at - sql));
        ferry_buf_add(&b, tgt_db);
        ferry_buf_add(&b, at + strlen("{tgt}"));
    } else {
        ferry_buf_add(&b, sql);
    }
    CU_ASSERT_FALSE_FATAL(b.oom);
    exec_on("target", tgt_db, b.p);
    ferry_buf_cleanup(&b);
}

static void verify_names_each_planted_difference(void)
{
    for (size_t i = 0; i < sizeof(plants) / sizeof(plants[0]); i++) {
        const plant *p = &plants[i];
        char *object = expand(p->object);
        CU_ASSERT_PTR_NOT_NULL_FATAL(object);
        exec_target(p->make);

        dr_report report;
        ferry_err err = {0};
        dr_options o = options(tgt_conninfo, false);
        CU_ASSERT_EQUAL_FATAL(dr_report_init(&report), FERRY_OK);
        CU_ASSERT_EQUAL(dr_verify(&o, &report, &err), FERRY_ERR_CONFLICT);
        CU_ASSERT_EQUAL(report.verified, 0);
        /* Named, and nothing else (a function's body and its definition may both differ). */
        bool named = false, others = false;
        for (size_t k = 0; k < json_array_size(report.differences); k++) {
            json_t *d = json_array_get(report.differences, k);
            const char *obj = json_string_value(json_object_get(d, "object"));
            const char *what = json_string_value(json_object_get(d, "what"));
            bool same = obj != NULL && strcmp(obj, object) == 0;
            named = named || (same && what != NULL && strstr(what, p->what) != NULL);
            others = others || !same;
        }
        if (!named || others) {
            char *all = json_dumps(report.differences, JSON_INDENT(1));
            fprintf(stderr, "\nplanted: %s\nwanted: %s: %s\ngot %" PRIu64 ": %s\n", p->make, object,
                    p->what, report.n_differences, all != NULL ? all : "?");
            free(all);
        }
        CU_ASSERT(named);
        CU_ASSERT_FALSE(others);
        CU_ASSERT(report.n_differences >= 1 && report.n_differences <= 2);
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, object));
        dr_report_cleanup(&report);
        free(object);
        exec_target(p->undo);
    }
    /* Undone, the target is the source's copy again. */
    dr_report report;
    ferry_err err = {0};
    dr_options o = options(tgt_conninfo, false);
    CU_ASSERT_EQUAL_FATAL(dr_report_init(&report), FERRY_OK);
    CU_ASSERT_EQUAL(dr_verify(&o, &report, &err), FERRY_OK);
    dr_report_cleanup(&report);
}

static void overwrite_guard(void)
{
    /* The target holds data and no mark (a completed copy, then an app's writes): refused,
     * with nothing changed. */
    exec_on("target", tgt_db, "INSERT INTO public.plain VALUES (3, 'the app wrote this')");
    PGresult *before = fingerprint("target", tgt_db);
    ferry_err err = {0};
    CU_ASSERT_EQUAL(copy_to(tgt_conninfo, false, &err), FERRY_ERR_CONFLICT);
    CU_ASSERT(!ferry_rc_retryable(err.code));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "app.customers"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "public.plain"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "3 large objects"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "overwrite"));
    PGresult *after = fingerprint("target", tgt_db);
    CU_ASSERT_EQUAL(fingerprint_diff(before, "target before", after, "target after"), 0);
    PQclear(before);
    PQclear(after);
    char v[64];
    mark_of(tgt_db, v, sizeof(v));
    CU_ASSERT_STRING_EQUAL(v, "f");

    /* Told to overwrite: replaced, exact again. */
    CU_ASSERT_EQUAL(copy_to(tgt_conninfo, true, &err), FERRY_OK);
    assert_target_is_source();

    /* An empty database, or one with only empty tables (a freshly deployed app's): fine. */
    char sql[200];
    (void)snprintf(sql, sizeof(sql), "CREATE DATABASE %s", empty_db);
    exec_on("target", "ferry", sql);
    exec_on("target", empty_db,
            "CREATE TABLE public.orders (id int); CREATE SCHEMA app; CREATE TABLE app.x (y int)");
    CU_ASSERT_EQUAL(copy_to(empty_conninfo, false, &err), FERRY_OK);
    value_on("target", empty_db, "SELECT count(*) FROM app.customers", v, sizeof(v));
    CU_ASSERT_STRING_EQUAL(v, "300");
    /* A large object alone is data too. */
    exec_on("target", empty_db, "DROP SCHEMA app CASCADE; DROP TABLE public.plain");
    exec_on("target", empty_db, "SELECT lo_unlink(70001), lo_unlink(70002), lo_unlink(70003)");
    exec_on("target", empty_db, "SELECT lo_from_bytea(0, 'x')");
    CU_ASSERT_EQUAL(copy_to(empty_conninfo, false, &err), FERRY_ERR_CONFLICT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "1 large object"));
}

static void stopped_copy_keeps_the_mark(void)
{
    /* Stopped while copying rows (overwrite: the target holds the last copy's data). */
    ferry_err err = {0};
    stop_at_phase = "data";
    ferry_rc rc = copy_to(tgt_conninfo, true, &err);
    stop_at_phase = NULL;
    CU_ASSERT_EQUAL(rc, FERRY_ERR_CANCELLED);
    char v[64];
    value_on("target", tgt_db, "SELECT state FROM _ferry.copy_status", v, sizeof(v));
    CU_ASSERT_STRING_EQUAL(v, "incomplete");

    /* A marked target is Ferry's: the next copy needs no overwrite, and leaves no mark. */
    CU_ASSERT_EQUAL(copy_to(tgt_conninfo, false, &err), FERRY_OK);
    mark_of(tgt_db, v, sizeof(v));
    CU_ASSERT_STRING_EQUAL(v, "f");
    assert_target_is_source();
}

static void missing_role_is_refused(void)
{
    /* A source table owned by a role the target server lacks, and a grant to it. */
    exec_on("source", src_db,
            "CREATE TABLE app.theirs (id int); ALTER TABLE app.theirs OWNER TO {p}_gone;"
            "GRANT SELECT ON app.orders TO {p}_gone");
    PGresult *before = fingerprint("target", tgt_db);
    ferry_err err = {0};
    CU_ASSERT_EQUAL(copy_to(tgt_conninfo, true, &err), FERRY_ERR_CONFIG);
    CU_ASSERT(!ferry_rc_retryable(err.code));
    char *gone = expand("{p}_gone");
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, gone));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "CREATE ROLE"));
    CU_ASSERT_PTR_NULL(strstr(err.msg, "_owner")); /* only the missing ones are named */
    free(gone);
    PGresult *after = fingerprint("target", tgt_db);
    CU_ASSERT_EQUAL(fingerprint_diff(before, "target before", after, "target after"), 0);
    PQclear(before);
    PQclear(after);
    exec_on("source", src_db, "DROP TABLE app.theirs; REVOKE SELECT ON app.orders FROM {p}_gone");
}

static const ferry_test_case cases[] = {
    {"create roles on both servers and the source database", create_source},
    {"a copy is exact: the tests' own fingerprint is equal, no mark left", copy_is_exact},
    {"verify names each difference planted on the target", verify_names_each_planted_difference},
    {"overwrite guard: refused, allowed with overwrite, fine on an empty target", overwrite_guard},
    {"a stopped copy keeps the mark; the next needs no overwrite", stopped_copy_keeps_the_mark},
    {"a role missing on the target is refused, nothing changed", missing_role_is_refused},
    {"drop the databases and roles", cleanup_all},
    {NULL, NULL},
};

int main(void)
{
    static const ferry_test_suite suites[] = {
        {"dump-restore exact", suite_setup, suite_teardown, cases}, {NULL, NULL, NULL, NULL}};
    return ferry_test_main(suites);
}
