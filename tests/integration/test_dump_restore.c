/*
 * Integration tests of ferry-dump-restore's copy and verify against the local stack's two
 * PostgreSQL servers: a database with many kinds of objects copied and checked with our own
 * queries on both sides; a second copy over a changed source converging (told to overwrite: the
 * target holds data and no mark); a stopped copy and a copy killed with -9 leaving the target
 * marked incomplete, and the next copy completing and leaving no mark;
 * the errors users meet (wrong password, no such database, target in use); verify finding a
 * difference.
 */
#include <libpq-fe.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dr.h"
#include "ferry/clock.h"
#include "ferry/log.h"
#include "ferry_test.h"

#ifndef FERRY_DR_BIN
#error "FERRY_DR_BIN comes from tests/CMakeLists.txt"
#endif

static char src_db[64], tgt_db[64];
static char src_conninfo[300], tgt_conninfo[300];

/* "host=... port=... user=..." of a side's server, from its URL in the test settings. */
static void server_of(const char *side, char *out, size_t outsz)
{
    char key[32];
    (void)snprintf(key, sizeof(key), "pg.%s.url", side);
    PQconninfoOption *opts = PQconninfoParse(ferry_cfg_str(ferry_test_cfg(), key), NULL);
    out[0] = '\0';
    if (opts == NULL)
        return; /* the connections fail, and say so */
    const char *host = "", *port = "", *user = "";
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (o->val == NULL)
            continue;
        if (strcmp(o->keyword, "host") == 0)
            host = o->val;
        else if (strcmp(o->keyword, "port") == 0)
            port = o->val;
        else if (strcmp(o->keyword, "user") == 0)
            user = o->val;
    }
    (void)snprintf(out, outsz, "host=%s port=%s user=%s", host, port, user);
    PQconninfoFree(opts);
}

static const char *password_of(const char *side)
{
    char key[32];
    (void)snprintf(key, sizeof(key), "pg.%s.password", side);
    return ferry_cfg_str(ferry_test_cfg(), key);
}

/* A connection to db on side's server; app_name shows in pg_stat_activity. */
static PGconn *connect_db(const char *side, const char *db, const char *app_name)
{
    char server[200], conninfo[300];
    server_of(side, server, sizeof(server));
    (void)snprintf(conninfo, sizeof(conninfo), "%s dbname=%s", server, db);
    const char *keys[] = {"dbname", "password", "application_name", NULL};
    const char *vals[] = {conninfo, password_of(side), app_name, NULL};
    PGconn *conn = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(conn) != CONNECTION_OK)
        fprintf(stderr, "\n%s/%s: %s\n", side, db, PQerrorMessage(conn));
    CU_ASSERT_EQUAL_FATAL(PQstatus(conn), CONNECTION_OK);
    return conn;
}

static void exec(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        fprintf(stderr, "\n%.200s: %s\n", sql, PQerrorMessage(conn));
    CU_ASSERT(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK);
    PQclear(res);
}

/* The first value of a query, copied into out ("<error>" on failure). */
static void value(PGconn *conn, const char *sql, char *out, size_t outsz)
{
    PGresult *res = PQexec(conn, sql);
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0)
        (void)snprintf(out, outsz, "%s", PQgetisnull(res, 0, 0) ? "<null>" : PQgetvalue(res, 0, 0));
    else
        (void)snprintf(out, outsz, "<error: %s>", PQerrorMessage(conn));
    PQclear(res);
}

static void make_db(const char *side, const char *db)
{
    PGconn *conn = connect_db(side, "ferry", "ferry-integration-test");
    char sql[160];
    (void)snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", db);
    exec(conn, sql);
    (void)snprintf(sql, sizeof(sql), "CREATE DATABASE %s", db);
    exec(conn, sql);
    PQfinish(conn);
}

static void drop_db(const char *side, const char *db)
{
    PGconn *conn = connect_db(side, "ferry", "ferry-integration-test");
    char sql[160];
    (void)snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", db);
    exec(conn, sql);
    PQfinish(conn);
}

/* Many kinds of things a real app's database holds. */
static const char fixture[] =
    "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');\n"
    "CREATE SCHEMA app;\n"
    "CREATE TABLE app.customers (id serial PRIMARY KEY, name text NOT NULL, mood mood,\n"
    "  moods mood[], tags text[], meta jsonb, js json, price numeric(12,2), photo bytea,\n"
    "  born date, seen timestamptz, f float8, r real, span interval, ip inet, u uuid,\n"
    "  total int GENERATED ALWAYS AS (id * 2) STORED);\n"
    "INSERT INTO app.customers (name, mood, moods, tags, meta, js, price, photo, born, seen, f,\n"
    "  r, span, ip, u)\n"
    "SELECT 'c' || g || E' \\u00e9\\t\"q\"', (ARRAY['sad','ok','happy']::mood[])[1 + g % 3],\n"
    "  ARRAY['ok','happy']::mood[], ARRAY['a', 'b c', NULL], jsonb_build_object('g', g),\n"
    "  '{\"k\": [1, 2]}', g * 1.25, decode(md5(g::text), 'hex'), '2000-01-01'::date + g,\n"
    "  '2026-01-01 00:00:00+00'::timestamptz - g * interval '1 min', g / 7.0, g / 3.0,\n"
    "  g * interval '1 second', '10.0.0.1', md5(g::text)::uuid\n"
    "FROM generate_series(1, 20000) g;\n"
    "INSERT INTO app.customers (name) VALUES ('all nulls');\n"
    "CREATE TABLE app.orders (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,\n"
    "  customer int NOT NULL REFERENCES app.customers(id), amount numeric,\n"
    "  CHECK (amount >= 0));\n"
    "INSERT INTO app.orders (customer, amount) SELECT 1 + g % 20000, g FROM generate_series(1, "
    "50000) g;\n"
    "CREATE INDEX orders_customer ON app.orders (customer);\n"
    "CREATE UNIQUE INDEX customers_u ON app.customers (u);\n"
    "CREATE TABLE logs (at timestamptz, line text);\n"
    "INSERT INTO logs SELECT '2026-01-01', 'line ' || g FROM generate_series(1, 500) g;\n"
    "CREATE TABLE events (id int, day date, v text, PRIMARY KEY (id, day)) PARTITION BY RANGE "
    "(day);\n"
    "CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO "
    "('2026-01-01');\n"
    "CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO "
    "('2027-01-01');\n"
    "INSERT INTO events SELECT g, '2025-06-01'::date + (g % 400), 'v' || g FROM generate_series(1, "
    "8000) g;\n"
    "CREATE TABLE \"Odd Name\" (\"Key\" int PRIMARY KEY, \"sel ect\" text);\n"
    "INSERT INTO \"Odd Name\" VALUES (1, 'x'), (2, NULL);\n"
    "CREATE TABLE empty_one (id int PRIMARY KEY);\n"
    "CREATE VIEW app.big_orders AS SELECT * FROM app.orders WHERE amount > 1000;\n"
    "CREATE MATERIALIZED VIEW app.order_totals AS SELECT customer, sum(amount) AS total\n"
    "  FROM app.orders GROUP BY customer;\n"
    "CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS\n"
    "  $$ BEGIN NEW.seen := now(); RETURN NEW; END $$;\n"
    "CREATE TRIGGER customers_touch BEFORE UPDATE ON app.customers FOR EACH ROW\n"
    "  EXECUTE FUNCTION app.touch();\n"
    "CREATE SEQUENCE app.invoice_no START 1000;\n"
    "SELECT nextval('app.invoice_no') FROM generate_series(1, 42);\n"
    "SELECT lo_from_bytea(0, decode(repeat('ab', 300000), 'hex'));\n"
    "SELECT lo_from_bytea(0, '\\x00ff'::bytea);\n";

/* Queries whose answers must be the same on source and target after a copy. */
static const char *const same_on_both[] = {
    "SELECT count(*) FROM app.customers",
    "SELECT md5(string_agg(c::text, '|' ORDER BY id)) FROM app.customers c",
    "SELECT md5(string_agg(o::text, '|' ORDER BY id)) FROM app.orders o",
    "SELECT count(*) || ':' || sum(id) FROM events",
    "SELECT count(*) FROM events_2026",
    "SELECT md5(string_agg(l::text, '|' ORDER BY id, day)) FROM events l",
    "SELECT string_agg(\"Key\" || '=' || coalesce(\"sel ect\", 'NULL'), ',') FROM \"Odd Name\"",
    "SELECT count(*) FROM empty_one",
    "SELECT last_value || ':' || is_called FROM app.invoice_no",
    "SELECT nextval('app.customers_id_seq')",
    "SELECT nextval('app.orders_id_seq')",
    "SELECT string_agg(md5(lo_get(oid)), ',' ORDER BY oid) FROM pg_largeobject_metadata",
    "SELECT count(*) || ':' || sum(total) FROM app.order_totals",
    "SELECT count(*) FROM app.big_orders",
    "SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes "
    "WHERE schemaname IN ('app', 'public')",
    "SELECT string_agg(conname || ':' || contype::text, ',' ORDER BY conname) FROM pg_constraint c "
    "JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname IN ('app', 'public')",
    "SELECT string_agg(tgname, ',') FROM pg_trigger WHERE NOT tgisinternal",
    "SELECT enum_range(NULL::mood)::text",
    "SELECT moods::text || tags::text FROM app.customers WHERE id = 5",
    "SELECT total FROM app.customers WHERE id = 7",
};

static void assert_same(void)
{
    PGconn *s = connect_db("source", src_db, "ferry-integration-test");
    PGconn *t = connect_db("target", tgt_db, "ferry-integration-test");
    for (size_t i = 0; i < sizeof(same_on_both) / sizeof(same_on_both[0]); i++) {
        char a[512], b[512];
        value(s, same_on_both[i], a, sizeof(a));
        value(t, same_on_both[i], b, sizeof(b));
        if (strcmp(a, b) != 0 || strncmp(a, "<error", 6) == 0)
            fprintf(stderr, "\n%s\n  source: %s\n  target: %s\n", same_on_both[i], a, b);
        CU_ASSERT(strcmp(a, b) == 0 && strncmp(a, "<error", 6) != 0);
    }
    PQfinish(s);
    PQfinish(t);
}

/* The state in Ferry's mark on the target, "none" without a mark (a completed copy). */
static void target_status(char *out, size_t outsz)
{
    PGconn *t = connect_db("target", tgt_db, "ferry-integration-test");
    value(t, "SELECT to_regclass('_ferry.copy_status') IS NOT NULL", out, outsz);
    if (strcmp(out, "t") == 0)
        value(t, "SELECT state FROM _ferry.copy_status", out, outsz);
    else if (strcmp(out, "f") == 0)
        (void)snprintf(out, outsz, "none");
    PQfinish(t);
}

/* Stop control for the library calls: stop once a given phase is reported. */
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

static dr_options options(bool verify, bool overwrite)
{
    atomic_store(&stop_now, false);
    dr_options o = {
        .source = {.conninfo = src_conninfo, .password = password_of("source"), .label = "source"},
        .target = {.conninfo = tgt_conninfo, .password = password_of("target"), .label = "target"},
        .jobs = 2,
        .split_bytes = 1024 * 1024, /* small: the big tables go in ranges */
        .verify = verify,
        .overwrite = overwrite,
        .started_by = "integration test",
        .stop = {.stopping = test_stopping},
        .progress = test_progress};
    return o;
}

static ferry_rc run_copy(bool verify, bool overwrite, dr_report *report, ferry_err *err)
{
    dr_options o = options(verify, overwrite);
    CU_ASSERT_EQUAL_FATAL(dr_report_init(report), FERRY_OK);
    ferry_rc rc = dr_copy(&o, report, err);
    if (rc != FERRY_OK && stop_at_phase == NULL)
        fprintf(stderr, "\ncopy: %s\n", err->msg);
    return rc;
}

static int suite_setup(void)
{
    if (ferry_test_cfg() == NULL)
        return 1;
    (void)snprintf(src_db, sizeof(src_db), "drt_src_%d", (int)getpid());
    (void)snprintf(tgt_db, sizeof(tgt_db), "drt_tgt_%d", (int)getpid());
    char server[200];
    server_of("source", server, sizeof(server));
    (void)snprintf(src_conninfo, sizeof(src_conninfo), "%s dbname=%s", server, src_db);
    server_of("target", server, sizeof(server));
    (void)snprintf(tgt_conninfo, sizeof(tgt_conninfo), "%s dbname=%s", server, tgt_db);
    return 0;
}

/* The first case: CUnit asserts are not allowed in a suite's setup. */
static void create_databases(void)
{
    make_db("source", src_db);
    make_db("target", tgt_db);
    PGconn *s = connect_db("source", src_db, "ferry-integration-test");
    exec(s, fixture);
    PQfinish(s);
}

static void drop_databases(void)
{
    drop_db("source", src_db);
    drop_db("target", tgt_db);
}

static void copy_many_kinds_and_verify(void)
{
    dr_report report;
    ferry_err err = {0};
    stop_at_phase = NULL;
    CU_ASSERT_EQUAL_FATAL(run_copy(true, false, &report, &err), FERRY_OK);
    CU_ASSERT_EQUAL(report.verified, 1);
    CU_ASSERT_EQUAL(report.tables, 7); /* customers, orders, logs, 2 partitions, Odd Name, empty */
    CU_ASSERT_EQUAL(report.rows, 20001 + 50000 + 500 + 8000 + 2);
    CU_ASSERT_EQUAL(report.large_objects, 2);
    CU_ASSERT_EQUAL(report.matviews, 1);
    CU_ASSERT(report.binary);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(report.table_rows, "app.orders")), 50000);
    CU_ASSERT_EQUAL(json_array_size(report.no_primary_key), 1); /* logs */
    dr_report_cleanup(&report);
    assert_same();
    char state[64];
    target_status(state, sizeof(state));
    CU_ASSERT_STRING_EQUAL(state, "none");
}

static void second_copy_over_changed_source_converges(void)
{
    PGconn *s = connect_db("source", src_db, "ferry-integration-test");
    exec(s, "UPDATE app.customers SET name = name || '!' WHERE id % 10 = 0;"
            "DELETE FROM app.orders WHERE id % 7 = 0;"
            "INSERT INTO app.orders (customer, amount) SELECT 1, g FROM generate_series(1, 100) g;"
            "DROP TABLE logs;"
            "CREATE TABLE newer (id int PRIMARY KEY, note text);"
            "INSERT INTO newer VALUES (1, 'n');"
            "SELECT nextval('app.invoice_no');"
            "SELECT lo_unlink(min(oid)) FROM pg_largeobject_metadata;"
            /* A copy refreshes materialized views (as pg_restore does): make the source's
             * current too, so both sides can be compared. */
            "REFRESH MATERIALIZED VIEW app.order_totals;");
    PQfinish(s);
    PGconn *t = connect_db("target", tgt_db, "ferry-integration-test");
    exec(t, "CREATE TABLE public.stray (x int); INSERT INTO app.orders (customer, amount) "
            "VALUES (1, 1)");
    PQfinish(t);

    dr_report report;
    ferry_err err = {0};
    stop_at_phase = NULL;
    CU_ASSERT_EQUAL_FATAL(run_copy(true, true, &report, &err), FERRY_OK);
    CU_ASSERT_EQUAL(report.verified, 1);
    CU_ASSERT_EQUAL(report.large_objects, 1);
    dr_report_cleanup(&report);
    assert_same();
    t = connect_db("target", tgt_db, "ferry-integration-test");
    char v[128];
    value(t, "SELECT count(*) FROM pg_class WHERE relname IN ('stray', 'logs')", v, sizeof(v));
    CU_ASSERT_STRING_EQUAL(v, "0");
    value(t, "SELECT note FROM newer", v, sizeof(v));
    CU_ASSERT_STRING_EQUAL(v, "n");
    PQfinish(t);
}

static void stopped_copy_is_marked_incomplete(void)
{
    dr_report report;
    ferry_err err = {0};
    stop_at_phase = "data";
    ferry_rc rc = run_copy(false, true, &report, &err);
    stop_at_phase = NULL;
    CU_ASSERT_EQUAL(rc, FERRY_ERR_CANCELLED);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "incomplete"));
    dr_report_cleanup(&report);
    char state[64];
    target_status(state, sizeof(state));
    CU_ASSERT_STRING_EQUAL(state, "incomplete");

    /* A marked target is Ferry's: no overwrite needed. */
    CU_ASSERT_EQUAL(run_copy(true, false, &report, &err), FERRY_OK);
    dr_report_cleanup(&report);
    target_status(state, sizeof(state));
    CU_ASSERT_STRING_EQUAL(state, "none");
    assert_same();
}

/* Runs the binary's copy (with --overwrite when overwrite); returns its pid (the caller
 * waits). */
static pid_t spawn_copy(bool overwrite)
{
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0)
            (void)dup2(devnull, 1);
        execl(FERRY_DR_BIN, FERRY_DR_BIN, "copy", "--source", src_conninfo, "--target",
              tgt_conninfo, "--source-secret", "DRT_SRC", "--target-secret", "DRT_TGT", "--jobs",
              "2", "--split", "4M", overwrite ? "--overwrite" : (char *)NULL, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static void killed_copy_converges(void)
{
    /* Enough rows that the copy is still streaming when it is killed. */
    PGconn *s = connect_db("source", src_db, "ferry-integration-test");
    exec(s, "CREATE TABLE bulk (id bigint PRIMARY KEY, pad text);"
            "INSERT INTO bulk SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, 600000) g");
    PQfinish(s);
    CU_ASSERT_EQUAL_FATAL(setenv("FERRY_SECRET_DRT_SRC", password_of("source"), 1), 0);
    CU_ASSERT_EQUAL_FATAL(setenv("FERRY_SECRET_DRT_TGT", password_of("target"), 1), 0);

    pid_t pid = spawn_copy(true); /* the target holds the last copy's data, and no mark */
    CU_ASSERT_FATAL(pid > 0);
    /* Kill it as soon as rows are flowing into the target. */
    PGconn *t = connect_db("target", "ferry", "ferry-integration-test");
    char sql[300], v[64] = "0";
    (void)snprintf(sql, sizeof(sql),
                   "SELECT count(*) FROM pg_stat_activity WHERE datname = '%s' AND "
                   "application_name = 'ferry-dump-restore' AND query LIKE 'COPY %%FROM STDIN%%'",
                   tgt_db);
    int64_t until = ferry_mono_ms() + 60000;
    while (strcmp(v, "0") == 0 && ferry_mono_ms() < until) {
        value(t, sql, v, sizeof(v));
        struct timespec ts = {0, 20 * 1000000L};
        (void)nanosleep(&ts, NULL);
    }
    PQfinish(t);
    CU_ASSERT_STRING_NOT_EQUAL(v, "0");
    (void)kill(pid, SIGKILL);
    int status = 0;
    (void)waitpid(pid, &status, 0);
    CU_ASSERT(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    char state[64];
    target_status(state, sizeof(state));
    CU_ASSERT_STRING_EQUAL(state, "incomplete");

    /* The next copy takes over (the killed one's sessions ended; the target is marked, so no
     * overwrite) and converges. */
    pid = spawn_copy(false);
    (void)waitpid(pid, &status, 0);
    CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    target_status(state, sizeof(state));
    CU_ASSERT_STRING_EQUAL(state, "none");
    assert_same();
    dr_report report;
    ferry_err err = {0};
    dr_options o = options(true, false);
    CU_ASSERT_EQUAL_FATAL(dr_report_init(&report), FERRY_OK);
    CU_ASSERT_EQUAL(dr_verify(&o, &report, &err), FERRY_OK);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(report.table_rows, "public.bulk")), 600000);
    dr_report_cleanup(&report);
}

static void verify_finds_a_difference(void)
{
    PGconn *t = connect_db("target", tgt_db, "ferry-integration-test");
    exec(t, "UPDATE app.orders SET amount = amount + 1 WHERE id = 3");
    PQfinish(t);
    dr_report report;
    ferry_err err = {0};
    dr_options o = options(true, false);
    CU_ASSERT_EQUAL_FATAL(dr_report_init(&report), FERRY_OK);
    CU_ASSERT_EQUAL(dr_verify(&o, &report, &err), FERRY_ERR_CONFLICT);
    CU_ASSERT_EQUAL(report.verified, 0);
    CU_ASSERT_EQUAL(report.n_differences, 1);
    json_t *d = json_array_get(report.differences, 0);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(d, "object")), "table app.orders");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(d, "table")), "app.orders");
    CU_ASSERT(json_is_false(json_object_get(d, "same_content")));
    dr_report_cleanup(&report);
}

static void errors_are_clear(void)
{
    static const char wrong[] = "Not-The-Password-42";
    dr_report report;
    ferry_err err = {0};
    dr_options o = options(false, false);

    /* Wrong password: auth, and the password is not in the message. */
    o.source.password = wrong;
    CU_ASSERT_EQUAL_FATAL(dr_report_init(&report), FERRY_OK);
    CU_ASSERT_EQUAL(dr_copy(&o, &report, &err), FERRY_ERR_AUTH);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "source"));
    CU_ASSERT_PTR_NULL(strstr(err.msg, wrong));
    CU_ASSERT(!ferry_rc_retryable(err.code));
    dr_report_cleanup(&report);

    /* No such database. */
    o = options(false, false);
    char missing[300];
    char server[200];
    server_of("target", server, sizeof(server));
    (void)snprintf(missing, sizeof(missing), "%s dbname=no_such_db_%d", server, (int)getpid());
    o.target.conninfo = missing;
    CU_ASSERT_EQUAL_FATAL(dr_report_init(&report), FERRY_OK);
    CU_ASSERT_EQUAL(dr_copy(&o, &report, &err), FERRY_ERR_NOT_FOUND);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "does not exist"));
    dr_report_cleanup(&report);

    /* The target app still connected: refused, and the target left as it was. */
    PGconn *app = connect_db("target", tgt_db, "shop-app");
    o = options(false, true);
    CU_ASSERT_EQUAL_FATAL(dr_report_init(&report), FERRY_OK);
    CU_ASSERT_EQUAL(dr_copy(&o, &report, &err), FERRY_ERR_BUSY);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "shop-app"));
    dr_report_cleanup(&report);
    char state[64];
    value(app, "SELECT to_regnamespace('_ferry') IS NULL", state, sizeof(state));
    CU_ASSERT_STRING_EQUAL(state, "t"); /* not even marked */
    PQfinish(app);
}

static const ferry_test_case cases[] = {
    {"create the source (many kinds of objects) and target databases", create_databases},
    {"copy many kinds of objects, verified equal", copy_many_kinds_and_verify},
    {"a second copy over a changed source converges", second_copy_over_changed_source_converges},
    {"a stopped copy is marked incomplete; the next completes", stopped_copy_is_marked_incomplete},
    {"a copy killed with -9 is marked incomplete; the next converges", killed_copy_converges},
    {"errors: wrong password, no database, target in use", errors_are_clear},
    {"verify finds a changed row", verify_finds_a_difference},
    {"drop the databases", drop_databases},
    {NULL, NULL},
};

int main(void)
{
    static const ferry_test_suite suites[] = {{"dump-restore", suite_setup, NULL, cases},
                                              {NULL, NULL, NULL, NULL}};
    return ferry_test_main(suites);
}
