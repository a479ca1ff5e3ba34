/*
 * Integration tests of the logical method (workers/dump_restore/logical.h) on the local
 * stack's two PostgreSQL servers: changes of every kind replicated and compared with the
 * tests' own queries; a stream killed with -9 in the middle of applying a source transaction,
 * resumed by another process exactly once; a source server restart; DDL on the source; a
 * table without a replica identity; a slot dropped behind Ferry's back.
 */
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dr.h"
#include "ferry/clock.h"
#include "ferry_test.h"
#include "logical.h"
#include "pg_test.h"

#ifndef FERRY_DR_BIN
#error "FERRY_DR_BIN and FERRY_STACK come from tests/integration/logical.cmake"
#endif

static char src_db[64], tgt_db[64], slot[64];
static char src_conninfo[300], tgt_conninfo[300];

static void exec(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        fprintf(stderr, "\n%.200s: %s\n", sql, PQerrorMessage(conn));
    CU_ASSERT(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK);
    PQclear(res);
}

static void value(PGconn *conn, const char *sql, char *out, size_t outsz)
{
    PGresult *res = PQexec(conn, sql);
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0)
        (void)snprintf(out, outsz, "%s", PQgetisnull(res, 0, 0) ? "<null>" : PQgetvalue(res, 0, 0));
    else
        (void)snprintf(out, outsz, "<error: %s>", PQerrorMessage(conn));
    PQclear(res);
}

static void on_side(const char *side, const char *db, const char *sql)
{
    PGconn *c = pg_test_connect(side, db, "ferry-integration-test");
    exec(c, sql);
    PQfinish(c);
}

static void source_sql(const char *sql)
{
    on_side("source", src_db, sql);
}

static void recreate(const char *side, const char *db)
{
    char sql[160];
    (void)snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", db);
    on_side(side, "ferry", sql);
    (void)snprintf(sql, sizeof(sql), "CREATE DATABASE %s", db);
    on_side(side, "ferry", sql);
}

static bool never_stop(void *ud)
{
    (void)ud;
    return false;
}

static dr_options options(void)
{
    dr_options o = {
        .source = {.conninfo = src_conninfo,
                   .password = pg_test_password("source"),
                   .label = "source"},
        .target = {.conninfo = tgt_conninfo,
                   .password = pg_test_password("target"),
                   .label = "target"},
        .jobs = 2,
        .split_bytes = 1024 * 1024,
        .started_by = "integration test",
        .stop = {.stopping = never_stop},
    };
    return o;
}

/* The tests' own comparison: every table's row count and the md5 of its sorted rows. */
static const char rows_sql[] =
    "SELECT string_agg(r, E'\\n' ORDER BY r) FROM ("
    " SELECT format('%I.%I', n.nspname, c.relname) || ' ' ||"
    "   (xpath('/row/c/text()', query_to_xml(format("
    "     'SELECT count(*) || '' '' || coalesce(md5(string_agg(t::text, ''|'' ORDER BY "
    "t::text)), '''') AS c FROM %I.%I t', n.nspname, c.relname), false, true, '')))[1]::text AS r"
    " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema', '_ferry')"
    "   AND n.nspname NOT LIKE 'pg\\_%') x";

/* Asserts that every table holds the same rows on both sides; returns whether they do. */
static bool rows_same(void)
{
    PGconn *s = pg_test_connect("source", src_db, "ferry-integration-test");
    PGconn *t = pg_test_connect("target", tgt_db, "ferry-integration-test");
    static char a[65536], b[65536];
    value(s, rows_sql, a, sizeof(a));
    value(t, rows_sql, b, sizeof(b));
    bool same = strcmp(a, b) == 0 && strncmp(a, "<error", 6) != 0;
    if (!same)
        fprintf(stderr, "\nsource:\n%s\ntarget:\n%s\n", a, b);
    CU_ASSERT(same);
    PQfinish(s);
    PQfinish(t);
    return same;
}

/* Starts the logical method; verified: the copy verifies (the finish's proof then compares only
 * what changed since). */
static ferry_rc start_copy(bool verified, ferry_err *err)
{
    dr_options o = options();
    o.verify = verified;
    dr_report report;
    CU_ASSERT_EQUAL_FATAL(dr_report_init(&report), FERRY_OK);
    ferry_rc rc = dr_logical_start(&o, slot, &report, err);
    if (rc != FERRY_OK)
        fprintf(stderr, "\nlogical start: %s\n", err->msg);
    dr_report_cleanup(&report);
    return rc;
}

static ferry_rc start(ferry_err *err)
{
    return start_copy(false, err);
}

static ferry_rc catch_up(dr_stream_report *r, ferry_err *err)
{
    dr_options o = options();
    dr_stream_options so = {.slot = slot, .until_current = true};
    return dr_logical_stream(&o, &so, r, err);
}

/* Rows of the big table on the target. */
static long target_count(const char *table)
{
    PGconn *t = pg_test_connect("target", tgt_db, "ferry-integration-test");
    char sql[200], v[64];
    (void)snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
    value(t, sql, v, sizeof(v));
    PQfinish(t);
    return strtol(v, NULL, 10);
}

/* Starts `ferry-dump-restore <op>` on the test's databases and slot as a child (with
 * --until-caught-up when asked). */
static pid_t run_cli(const char *op, bool until_caught_up)
{
    (void)setenv("FERRY_SECRET_LRT_SRC", pg_test_password("source"), 1);
    (void)setenv("FERRY_SECRET_LRT_TGT", pg_test_password("target"), 1);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0)
            (void)dup2(fd, 1);
        execl(FERRY_DR_BIN, FERRY_DR_BIN, op, "--source", src_conninfo, "--source-secret",
              "LRT_SRC", "--target", tgt_conninfo, "--target-secret", "LRT_TGT", "--slot", slot,
              "--json", until_caught_up ? "--until-caught-up" : NULL, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static int wait_exit(pid_t pid)
{
    int status = 0;
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static pid_t run_stream(bool until_caught_up)
{
    return run_cli("logical-stream", until_caught_up);
}

/* The test's slot and every publication on the source's database: what Ferry left there. */
static long source_leftovers(void)
{
    PGconn *s = pg_test_connect("source", src_db, "ferry-integration-test");
    char v[64], sql[300];
    (void)snprintf(sql, sizeof(sql),
                   "SELECT (SELECT count(*) FROM pg_replication_slots WHERE slot_name = '%s') + "
                   "(SELECT count(*) FROM pg_publication)",
                   slot);
    value(s, sql, v, sizeof(v));
    PQfinish(s);
    return strtol(v, NULL, 10);
}

static int suite_setup(void)
{
    if (ferry_test_cfg() == NULL)
        return 1;
    (void)snprintf(src_db, sizeof(src_db), "lrt_src_%d", (int)getpid());
    (void)snprintf(tgt_db, sizeof(tgt_db), "lrt_tgt_%d", (int)getpid());
    (void)snprintf(slot, sizeof(slot), "ferry_test_%d", (int)getpid());
    char server[200];
    pg_test_server("source", server, sizeof(server));
    (void)snprintf(src_conninfo, sizeof(src_conninfo), "%s dbname=%s", server, src_db);
    pg_test_server("target", server, sizeof(server));
    (void)snprintf(tgt_conninfo, sizeof(tgt_conninfo), "%s dbname=%s", server, tgt_db);
    return 0;
}

/* Drops what the tests left, without asserting (CUnit has no test running here): a slot keeps
 * WAL on the stack's source. */
static int suite_teardown(void)
{
    dr_options o = options();
    ferry_err err = {0};
    (void)dr_logical_drop(&o, slot, &err);
    const char *sides[] = {"source", "target"}, *dbs[] = {src_db, tgt_db};
    for (int i = 0; i < 2; i++) {
        char server[200], conninfo[300], sql[160];
        pg_test_server(sides[i], server, sizeof(server));
        (void)snprintf(conninfo, sizeof(conninfo), "%s dbname=ferry password=%s", server,
                       pg_test_password(sides[i]));
        PGconn *c = PQconnectdb(conninfo);
        (void)snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", dbs[i]);
        PQclear(PQexec(c, sql));
        PQfinish(c);
    }
    return 0;
}

static const char fixture[] =
    "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');\n"
    "CREATE TABLE kinds (id int PRIMARY KEY, name text, mood mood, moods mood[], tags text[],\n"
    "  meta jsonb, js json, price numeric(12,2), photo bytea, born date, seen timestamptz,\n"
    "  at timestamp, f float8, r real, span interval, ip inet, u uuid, big text, bits bit(8),\n"
    "  rng int4range, pt point, ok boolean, total int GENERATED ALWAYS AS (id * 2) STORED);\n"
    "ALTER TABLE kinds ALTER COLUMN big SET STORAGE EXTERNAL;\n"
    "INSERT INTO kinds (id, name, mood, moods, tags, meta, js, price, photo, born, seen, at, f,\n"
    "  r, span, ip, u, big, bits, rng, pt, ok)\n"
    "SELECT g, 'c' || g || E' \\u00e9\\t\"q\\'', (ARRAY['sad','ok','happy']::mood[])[1 + g % 3],\n"
    "  ARRAY['ok','happy']::mood[], ARRAY['a', 'b c', NULL], jsonb_build_object('g', g),\n"
    "  '{\"k\": [1, 2]}', g * 1.25, decode(md5(g::text), 'hex'), '2000-01-01'::date + g,\n"
    "  '2026-01-01 00:00:00+00'::timestamptz - g * interval '1 min', '2026-01-01', g / 7.0,\n"
    "  g / 3.0, g * interval '1 second', '10.0.0.1', md5(g::text)::uuid,\n"
    "  CASE WHEN g % 100 = 0 THEN repeat(md5(g::text), 400) END, B'10101010',\n"
    "  int4range(g, g + 10), point(g, -g), g % 2 = 0\n"
    "FROM generate_series(1, 2000) g;\n"
    "CREATE TABLE parent (id serial PRIMARY KEY, v text);\n"
    "CREATE TABLE child (id serial PRIMARY KEY, parent int REFERENCES parent(id) ON DELETE "
    "CASCADE, v text);\n"
    "INSERT INTO parent (v) SELECT 'p' || g FROM generate_series(1, 100) g;\n"
    "INSERT INTO child (parent, v) SELECT 1 + g % 100, 'c' || g FROM generate_series(1, 300) g;\n"
    "CREATE TABLE audited (id int PRIMARY KEY, v text);\n"
    "CREATE TABLE audit_log (n serial PRIMARY KEY, what text);\n"
    "CREATE FUNCTION log_it() RETURNS trigger LANGUAGE plpgsql AS\n"
    "  $$ BEGIN INSERT INTO audit_log (what) VALUES (TG_OP || ' ' || NEW.id); RETURN NEW; END "
    "$$;\n"
    "CREATE TRIGGER audited_log AFTER INSERT ON audited FOR EACH ROW EXECUTE FUNCTION log_it();\n"
    "CREATE TABLE full_ident (a int, b text);\n"
    "ALTER TABLE full_ident REPLICA IDENTITY FULL;\n"
    "INSERT INTO full_ident VALUES (1, 'x'), (1, 'x'), (2, NULL);\n"
    "CREATE TABLE trunc_me (id int PRIMARY KEY);\n"
    "INSERT INTO trunc_me SELECT generate_series(1, 50);\n"
    "CREATE TABLE always_id (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v text);\n"
    "INSERT INTO always_id (v) VALUES ('a'), ('b'), ('c');\n"
    "CREATE TABLE \"Odd Name\" (\"Key\" int PRIMARY KEY, \"sel ect\" text);\n"
    "CREATE UNLOGGED TABLE scratch (id int PRIMARY KEY);\n"
    "CREATE SEQUENCE invoice_no START 1000;\n"
    "CREATE MATERIALIZED VIEW parent_counts AS SELECT p.id, count(c.id) AS n FROM parent p\n"
    "  LEFT JOIN child c ON c.parent = p.id GROUP BY p.id;\n"
    "SELECT lo_from_bytea(0, '\\x0102'::bytea);\n";

static void changes_of_every_kind(void)
{
    ferry_err err = {0};
    recreate("source", src_db);
    recreate("target", tgt_db);
    source_sql(fixture);
    CU_ASSERT_EQUAL_FATAL(start_copy(true, &err), FERRY_OK);

    /* Changes in many transactions, some mixing tables; one rolled back. */
    source_sql("INSERT INTO kinds (id, name, big) VALUES (5000, 'new', repeat('z', 100000))");
    source_sql("UPDATE kinds SET name = 'renamed', meta = NULL WHERE id BETWEEN 10 AND 20");
    source_sql("UPDATE kinds SET id = id + 10000 WHERE id IN (30, 31)"); /* key change */
    source_sql("UPDATE kinds SET price = 1 WHERE big IS NOT NULL");      /* TOAST unchanged */
    source_sql("UPDATE kinds SET big = big || 'tail' WHERE id = 200");   /* TOAST changed */
    source_sql("DELETE FROM kinds WHERE id % 97 = 0");
    source_sql("BEGIN; INSERT INTO parent (v) VALUES ('new parent');"
               " INSERT INTO child (parent, v) VALUES (currval('parent_id_seq'), 'new child');"
               " DELETE FROM parent WHERE id = 3; COMMIT"); /* cascades to its children */
    source_sql("INSERT INTO audited SELECT g, 'v' FROM generate_series(1, 10) g");
    source_sql("BEGIN; INSERT INTO kinds (id, name) VALUES (9999, 'rolled back'); ROLLBACK");
    source_sql("DELETE FROM full_ident WHERE a = 1");
    source_sql("UPDATE full_ident SET b = 'set' WHERE a = 2");
    source_sql("INSERT INTO full_ident VALUES (3, 'y'), (3, 'y')");
    source_sql("TRUNCATE trunc_me");
    source_sql("INSERT INTO trunc_me VALUES (7)");
    source_sql("INSERT INTO \"Odd Name\" VALUES (1, 'quoted'), (2, NULL)");
    source_sql("UPDATE \"Odd Name\" SET \"sel ect\" = 'x''y' WHERE \"Key\" = 2");
    /* An identity GENERATED ALWAYS: the source's values are kept (found by bench/cutover). */
    source_sql("INSERT INTO always_id (v) VALUES ('d'), ('e')");
    source_sql("UPDATE always_id SET v = 'B' WHERE id = 2");
    source_sql("DELETE FROM always_id WHERE id = 1");

    dr_stream_report r;
    ferry_rc rc = catch_up(&r, &err);
    if (rc != FERRY_OK)
        fprintf(stderr, "\nstream: %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, FERRY_OK);
    CU_ASSERT(r.stats.transactions >= 15);
    CU_ASSERT(r.stats.truncates == 1);
    CU_ASSERT(r.committed_lsn > r.start_lsn);
    CU_ASSERT(rows_same());

    /* The trigger did not fire again on the target: audit_log holds the source's 10 rows. */
    PGconn *t = pg_test_connect("target", tgt_db, "ferry-integration-test");
    char v[128];
    value(t, "SELECT count(*) FROM audit_log", v, sizeof(v));
    CU_ASSERT_STRING_EQUAL(v, "10");
    /* The generated column was computed by the target. */
    value(t, "SELECT total FROM kinds WHERE id = 5000", v, sizeof(v));
    CU_ASSERT_STRING_EQUAL(v, "10000");
    /* The target records how far it got, and the copy of the publication is gone. */
    value(t, "SELECT count(*) FROM pg_publication", v, sizeof(v));
    CU_ASSERT_STRING_EQUAL(v, "0");
    PQfinish(t);

    /* A second stream with nothing new applies nothing and skips nothing twice. */
    rc = catch_up(&r, &err);
    CU_ASSERT_EQUAL(rc, FERRY_OK);
    CU_ASSERT_EQUAL(r.stats.inserts + r.stats.updates + r.stats.deletes, 0);
    CU_ASSERT(rows_same());
}

/* The stream's apply session on the target has written in a transaction it has not committed. */
static bool apply_mid_transaction(void)
{
    PGconn *t = pg_test_connect("target", tgt_db, "ferry-integration-test");
    char v[64];
    value(t,
          "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND "
          "application_name = 'ferry-dump-restore' AND backend_xid IS NOT NULL",
          v, sizeof(v));
    PQfinish(t);
    return strcmp(v, "1") == 0;
}

static void killed_mid_transaction_resumes_exactly_once(void)
{
    ferry_err err = {0};
    recreate("source", src_db);
    recreate("target", tgt_db);
    source_sql("CREATE TABLE big (id int PRIMARY KEY, v text);"
               "CREATE TABLE small (id serial PRIMARY KEY, v text)");
    CU_ASSERT_EQUAL_FATAL(start(&err), FERRY_OK);
    /* Many small transactions, then one large one, then more small ones. */
    PGconn *s = pg_test_connect("source", src_db, "ferry-integration-test");
    for (int i = 0; i < 300; i++)
        exec(s, "INSERT INTO small (v) VALUES ('before')");
    exec(s, "INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, 300000) g");
    for (int i = 0; i < 300; i++)
        exec(s, "INSERT INTO small (v) VALUES ('after')");
    PQfinish(s);

    pid_t pid = run_stream(true);
    CU_ASSERT_FATAL(pid > 0);
    int64_t deadline = ferry_mono_ms() + 60000;
    bool caught = false;
    while (!caught && ferry_mono_ms() < deadline) {
        caught = apply_mid_transaction() && target_count("small") >= 300;
        if (!caught)
            ferry_sleep_ms(20);
    }
    CU_ASSERT_FATAL(caught);
    CU_ASSERT_EQUAL(kill(pid, SIGKILL), 0);
    CU_ASSERT_EQUAL(wait_exit(pid), 128 + SIGKILL);
    /* Nothing of the large transaction is on the target: it is applied whole or not at all. */
    CU_ASSERT_EQUAL(target_count("big"), 0);
    long small = target_count("small");
    CU_ASSERT(small >= 300 && small < 600);

    /* Another process resumes from the target's record: every transaction exactly once. */
    pid = run_stream(true);
    CU_ASSERT_FATAL(pid > 0);
    CU_ASSERT_EQUAL(wait_exit(pid), 0);
    CU_ASSERT_EQUAL(target_count("big"), 300000);
    CU_ASSERT_EQUAL(target_count("small"), 600);
    CU_ASSERT(rows_same());
}

static void source_restart_then_resume(void)
{
    ferry_err err = {0};
    /* The previous test's databases and slot go on. */
    pid_t pid = run_stream(false);
    CU_ASSERT_FATAL(pid > 0);
    source_sql("INSERT INTO small (v) VALUES ('before restart')");
    int64_t deadline = ferry_mono_ms() + 30000;
    while (target_count("small") < 601 && ferry_mono_ms() < deadline)
        ferry_sleep_ms(50);
    CU_ASSERT_EQUAL(target_count("small"), 601);
    char cmd[600];
    (void)snprintf(cmd, sizeof(cmd), "%s restart pg-source >/dev/null 2>&1", FERRY_STACK);
    CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
    /* The stream loses its server: it ends with an error, keeping what it committed. */
    CU_ASSERT_EQUAL(wait_exit(pid), 1);
    source_sql("INSERT INTO small (v) VALUES ('after restart')");
    dr_stream_report r;
    CU_ASSERT_EQUAL(catch_up(&r, &err), FERRY_OK);
    CU_ASSERT_EQUAL(target_count("small"), 602);
    CU_ASSERT(rows_same());
}

static void stalled_stream_is_taken_over(void)
{
    ferry_err err = {0};
    /* A stream stopped (SIGSTOP, as a frozen worker) in the middle of a large transaction. */
    pid_t pid = run_stream(false);
    CU_ASSERT_FATAL(pid > 0);
    source_sql("INSERT INTO big SELECT g, 'stalled' FROM generate_series(300001, 500000) g");
    int64_t deadline = ferry_mono_ms() + 60000;
    while (!apply_mid_transaction() && ferry_mono_ms() < deadline)
        ferry_sleep_ms(10);
    CU_ASSERT_EQUAL(kill(pid, SIGSTOP), 0);
    CU_ASSERT_FATAL(apply_mid_transaction());
    /* Another stream takes over: the stalled one's sessions end, everything arrives once. */
    source_sql("INSERT INTO small (v) VALUES ('while stalled')");
    dr_stream_report r;
    ferry_rc rc = catch_up(&r, &err);
    if (rc != FERRY_OK)
        fprintf(stderr, "\ntakeover: %s\n", err.msg);
    CU_ASSERT_EQUAL(rc, FERRY_OK);
    CU_ASSERT_EQUAL(target_count("big"), 500000);
    /* Woken, the stalled one finds its sessions gone and records nothing. */
    CU_ASSERT_EQUAL(kill(pid, SIGCONT), 0);
    CU_ASSERT_EQUAL(wait_exit(pid), 1);
    CU_ASSERT_EQUAL(target_count("big"), 500000);
    CU_ASSERT(rows_same());
}

static void ddl_on_the_source_stops_the_stream(void)
{
    ferry_err err = {0};
    source_sql("ALTER TABLE small ADD COLUMN extra int");
    source_sql("INSERT INTO small (v, extra) VALUES ('with extra', 1)");
    dr_stream_report r;
    CU_ASSERT_EQUAL(catch_up(&r, &err), FERRY_ERR_CONFLICT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "DDL on the source"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "public.small"));
    /* Nothing of that transaction reached the target. */
    CU_ASSERT_EQUAL(target_count("small"), 603);
}

static void table_created_on_the_source_stops_the_stream(void)
{
    ferry_err err = {0};
    recreate("source", src_db);
    recreate("target", tgt_db);
    source_sql("CREATE TABLE small (id serial PRIMARY KEY, v text)");
    CU_ASSERT_EQUAL_FATAL(start(&err), FERRY_OK);
    source_sql("CREATE TABLE later (id int PRIMARY KEY); INSERT INTO later VALUES (1)");
    dr_stream_report r;
    CU_ASSERT_EQUAL(catch_up(&r, &err), FERRY_ERR_CONFLICT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "DDL on the source"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "public.later"));
}

static void wal_over_the_limit_drops_the_slot(void)
{
    ferry_err err = {0};
    /* The previous test's slot: the source writes about 8 MB of WAL the slot must keep. */
    source_sql("DROP TABLE later");
    source_sql("INSERT INTO small (v) SELECT repeat('w', 500) FROM generate_series(1, 15000)");
    dr_options o = options();
    dr_stream_options so = {
        .slot = slot, .until_current = true, .max_retained_bytes = 2 * 1024 * 1024};
    dr_stream_report r;
    CU_ASSERT_EQUAL(dr_logical_stream(&o, &so, &r, &err), FERRY_ERR_NO_SPACE);
    if (!r.slot_dropped)
        fprintf(stderr, "\nover the limit: %s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "over the limit of 2 MB"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "falls back to dump_restore"));
    CU_ASSERT(r.slot_dropped);
    CU_ASSERT(r.slot_retained_bytes > 2 * 1024 * 1024);
    CU_ASSERT_EQUAL(source_leftovers(), 0);
}

static void slot_dropped_behind_ferrys_back(void)
{
    ferry_err err = {0};
    char sql[200];
    (void)snprintf(sql, sizeof(sql), "SELECT pg_drop_replication_slot('%s')", slot);
    source_sql(sql);
    dr_stream_report r;
    CU_ASSERT_EQUAL(catch_up(&r, &err), FERRY_ERR_NOT_FOUND);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "is gone"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, slot));
}

static void finish_finding_a_difference_drops_the_slot(void)
{
    ferry_err err = {0};
    recreate("source", src_db);
    recreate("target", tgt_db);
    source_sql("CREATE TABLE small (id serial PRIMARY KEY, v text);"
               "INSERT INTO small (v) SELECT 'v' || g FROM generate_series(1, 100) g");
    CU_ASSERT_EQUAL_FATAL(start(&err), FERRY_OK);
    /* Something other than the stream wrote to the target; the copy did not verify, so the
     * finish (the command line's) verifies every row and finds it. */
    on_side("target", tgt_db, "UPDATE small SET v = 'tampered' WHERE id = 7");
    pid_t pid = run_cli("logical-finish", false);
    CU_ASSERT_FATAL(pid > 0);
    CU_ASSERT_EQUAL(wait_exit(pid), 1);
    /* The target stays marked incomplete; nothing of the replication is left on the source. */
    PGconn *t = pg_test_connect("target", tgt_db, "ferry-integration-test");
    char v[64];
    value(t, "SELECT to_regnamespace('_ferry') IS NOT NULL", v, sizeof(v));
    CU_ASSERT_STRING_EQUAL(v, "t");
    PQfinish(t);
    CU_ASSERT_EQUAL(source_leftovers(), 0);
}

static void incremental_proof_finds_a_changed_row_that_differs(void)
{
    ferry_err err = {0};
    recreate("source", src_db);
    recreate("target", tgt_db);
    source_sql("CREATE TABLE small (id serial PRIMARY KEY, v text);"
               "INSERT INTO small (v) SELECT 'v' || g FROM generate_series(1, 100) g");
    CU_ASSERT_EQUAL_FATAL(start_copy(true, &err), FERRY_OK);
    source_sql("UPDATE small SET v = 'changed' WHERE id IN (5, 6)");
    dr_stream_report r;
    CU_ASSERT_EQUAL_FATAL(catch_up(&r, &err), FERRY_OK);
    /* A row the stream changed is changed again on the target, behind its back. */
    on_side("target", tgt_db, "UPDATE small SET v = 'tampered' WHERE id = 5");
    dr_options o = options();
    dr_report report;
    dr_stream_report stream;
    CU_ASSERT_EQUAL_FATAL(dr_report_init(&report), FERRY_OK);
    CU_ASSERT_EQUAL(dr_logical_finish(&o, slot, &report, &stream, &err), FERRY_ERR_CONFLICT);
    CU_ASSERT(report.incremental);
    CU_ASSERT_EQUAL(report.keys_compared, 2);
    CU_ASSERT_EQUAL(report.n_differences, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "public.small"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "a row's content differs"));
    dr_report_cleanup(&report);
    CU_ASSERT_EQUAL(source_leftovers(), 0);
}

static void table_without_replica_identity_is_named(void)
{
    ferry_err err = {0};
    recreate("source", src_db);
    recreate("target", tgt_db);
    source_sql("CREATE TABLE keyed (id int PRIMARY KEY); CREATE TABLE loose (a int);"
               "CREATE TABLE \"Loose Too\" (a int)");
    dr_options o = options();
    CU_ASSERT_EQUAL(dr_logical_check(&o, &err), FERRY_ERR_CONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "2 tables without a replica identity"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "public.loose"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "public.\"Loose Too\""));
    CU_ASSERT_PTR_NULL(strstr(err.msg, "keyed"));
    CU_ASSERT_EQUAL(start(&err), FERRY_ERR_CONFIG);
    /* Nothing was left on the source: no slot, no publication. */
    CU_ASSERT_EQUAL(source_leftovers(), 0);
}

/* Queries for what the stream does not carry, the same on both sides after the finish. */
static const char *const finished_same[] = {
    "SELECT last_value || ':' || is_called FROM invoice_no",
    "SELECT last_value || ':' || is_called FROM parent_id_seq",
    "SELECT string_agg(md5(lo_get(oid)), ',' ORDER BY oid) FROM pg_largeobject_metadata",
    "SELECT count(*) || ':' || sum(id) FROM scratch",
    "SELECT count(*) || ':' || sum(n) FROM parent_counts",
};

static void finish_completes_the_target(void)
{
    ferry_err err = {0};
    /* The app's last moves before it stopped: sequences, large objects, unlogged rows. */
    source_sql("SELECT nextval('invoice_no') FROM generate_series(1, 5)");
    source_sql("INSERT INTO parent (v) VALUES ('last')");
    source_sql("SELECT lo_from_bytea(0, decode(repeat('cd', 100000), 'hex'))");
    source_sql("INSERT INTO scratch SELECT generate_series(1, 30)");
    /* A materialized view is refreshed on the target from the target's rows, as pg_restore
     * does; the app refreshed the source's. */
    source_sql("REFRESH MATERIALIZED VIEW parent_counts");
    dr_options o = options();
    dr_report report;
    dr_stream_report stream;
    CU_ASSERT_EQUAL_FATAL(dr_report_init(&report), FERRY_OK);
    ferry_rc rc = dr_logical_finish(&o, slot, &report, &stream, &err);
    if (rc != FERRY_OK)
        fprintf(stderr, "\nfinish: %s\n", err.msg);
    CU_ASSERT_EQUAL(rc, FERRY_OK);
    CU_ASSERT_EQUAL(report.verified, 1);
    /* The copy verified: the proof compared the rows changed since, not all 2000 of kinds. */
    CU_ASSERT(report.incremental);
    CU_ASSERT(report.keys_compared >= 40 && report.keys_compared < 600);
    CU_ASSERT(report.tables_whole >= 3); /* trunc_me, full_ident, the unlogged scratch */
    CU_ASSERT(stream.stats.transactions >= 1);
    dr_report_cleanup(&report);
    rows_same();
    PGconn *s = pg_test_connect("source", src_db, "ferry-integration-test");
    PGconn *t = pg_test_connect("target", tgt_db, "ferry-integration-test");
    for (size_t i = 0; i < sizeof(finished_same) / sizeof(finished_same[0]); i++) {
        char a[512], b[512];
        value(s, finished_same[i], a, sizeof(a));
        value(t, finished_same[i], b, sizeof(b));
        if (strcmp(a, b) != 0)
            fprintf(stderr, "\n%s\n  source: %s\n  target: %s\n", finished_same[i], a, b);
        CU_ASSERT(strcmp(a, b) == 0 && strncmp(a, "<error", 6) != 0);
    }
    /* Nothing of Ferry's is left: no mark on the target, no slot or publication on the source. */
    char v[256];
    value(t, "SELECT to_regnamespace('_ferry') IS NULL", v, sizeof(v));
    CU_ASSERT_STRING_EQUAL(v, "t");
    PQfinish(s);
    PQfinish(t);
    CU_ASSERT_EQUAL(source_leftovers(), 0);
    /* Run again (a retried step): nothing left to do, and it says so without failing. */
    CU_ASSERT_EQUAL_FATAL(dr_report_init(&report), FERRY_OK);
    CU_ASSERT_EQUAL(dr_logical_finish(&o, slot, &report, &stream, &err), FERRY_OK);
    dr_report_cleanup(&report);
}

static const ferry_test_case cases[] = {
    {"changes of every kind are applied exactly", changes_of_every_kind},
    {"the finish brings the rest over, verifies, leaves nothing behind",
     finish_completes_the_target},
    {"a stream killed -9 mid-transaction resumes exactly once",
     killed_mid_transaction_resumes_exactly_once},
    {"a source server restart, then the stream resumes", source_restart_then_resume},
    {"a stalled stream is taken over; woken, it records nothing", stalled_stream_is_taken_over},
    {"DDL on the source stops the stream, naming the table", ddl_on_the_source_stops_the_stream},
    {"a slot dropped behind Ferry's back is a clear failure", slot_dropped_behind_ferrys_back},
    {"a table created on the source stops the stream, naming it",
     table_created_on_the_source_stops_the_stream},
    {"WAL kept over the limit: the slot is dropped, fall back", wal_over_the_limit_drops_the_slot},
    {"a finish that finds a difference fails and drops the slot",
     finish_finding_a_difference_drops_the_slot},
    {"the proof of changed rows finds one that differs",
     incremental_proof_finds_a_changed_row_that_differs},
    {"tables without a replica identity are named", table_without_replica_identity_is_named},
    {NULL, NULL},
};

int main(void)
{
    static const ferry_test_suite suites[] = {{"logical", suite_setup, suite_teardown, cases},
                                              {NULL, NULL, NULL, NULL}};
    return ferry_test_main(suites);
}
