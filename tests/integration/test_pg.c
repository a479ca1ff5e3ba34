/*
 * Integration tests against the local stack's two PostgreSQL servers (source and target): a
 * libpq round trip, the settings a migration relies on, a binary COPY stream from source to
 * target, and a wrong password refused without the password in the message.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/log.h"
#include "ferry_test.h"

static PGconn *pg_open(const char *side, const char *password_override)
{
    const ferry_cfg *cfg = ferry_test_cfg();
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    char url_key[32], pw_key[32];
    (void)snprintf(url_key, sizeof(url_key), "pg.%s.url", side);
    (void)snprintf(pw_key, sizeof(pw_key), "pg.%s.password", side);
    const char *keys[] = {"dbname", "password", "application_name", "connect_timeout", NULL};
    const char *values[] = {ferry_cfg_str(cfg, url_key),
                            password_override ? password_override : ferry_cfg_str(cfg, pw_key),
                            "ferry-integration-test", "5", NULL};
    return PQconnectdbParams(keys, values, 1);
}

static PGresult *exec_ok(PGconn *conn, const char *sql, ExecStatusType want)
{
    PGresult *res = PQexec(conn, sql);
    if (PQresultStatus(res) != want)
        fprintf(stderr, "\n%s: %s\n", sql, PQerrorMessage(conn));
    CU_ASSERT_EQUAL(PQresultStatus(res), want);
    return res;
}

static void round_trip_on(const char *side)
{
    PGconn *conn = pg_open(side, NULL);
    if (PQstatus(conn) != CONNECTION_OK)
        fprintf(stderr, "\n%s: %s\n", side, PQerrorMessage(conn));
    CU_ASSERT_EQUAL_FATAL(PQstatus(conn), CONNECTION_OK);

    PQclear(exec_ok(conn, "CREATE TEMP TABLE t (id int PRIMARY KEY, doc jsonb, data bytea)",
                    PGRES_COMMAND_OK));
    const char *params[] = {"7", "{\"app\": \"shop\", \"n\": [1, 2]}", "\\x00ff10"};
    PGresult *res =
        PQexecParams(conn, "INSERT INTO t VALUES ($1, $2, $3)", 3, NULL, params, NULL, NULL, 0);
    CU_ASSERT_EQUAL(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);
    res = exec_ok(conn, "SELECT id, doc->>'app', encode(data, 'hex') FROM t", PGRES_TUPLES_OK);
    CU_ASSERT_EQUAL_FATAL(PQntuples(res), 1);
    CU_ASSERT_STRING_EQUAL(PQgetvalue(res, 0, 0), "7");
    CU_ASSERT_STRING_EQUAL(PQgetvalue(res, 0, 1), "shop");
    CU_ASSERT_STRING_EQUAL(PQgetvalue(res, 0, 2), "00ff10");
    PQclear(res);

    /* The stack's servers are set up for logical replication, as a later piece needs. */
    res = exec_ok(conn, "SHOW wal_level", PGRES_TUPLES_OK);
    CU_ASSERT_STRING_EQUAL(PQgetvalue(res, 0, 0), "logical");
    PQclear(res);
    res = exec_ok(conn, "SELECT current_setting('application_name')", PGRES_TUPLES_OK);
    CU_ASSERT_STRING_EQUAL(PQgetvalue(res, 0, 0), "ferry-integration-test");
    PQclear(res);
    PQfinish(conn);
}

static void round_trip_source(void)
{
    round_trip_on("source");
}

static void round_trip_target(void)
{
    round_trip_on("target");
}

/* Source and target are separate servers: what is created on one is absent on the other. */
static void servers_are_distinct(void)
{
    PGconn *src = pg_open("source", NULL);
    PGconn *dst = pg_open("target", NULL);
    CU_ASSERT_EQUAL_FATAL(PQstatus(src), CONNECTION_OK);
    CU_ASSERT_EQUAL_FATAL(PQstatus(dst), CONNECTION_OK);
    PGresult *a =
        exec_ok(src, "SELECT system_identifier::text FROM pg_control_system()", PGRES_TUPLES_OK);
    PGresult *b =
        exec_ok(dst, "SELECT system_identifier::text FROM pg_control_system()", PGRES_TUPLES_OK);
    CU_ASSERT_STRING_NOT_EQUAL(PQgetvalue(a, 0, 0), PQgetvalue(b, 0, 0));
    PQclear(a);
    PQclear(b);
    PQfinish(src);
    PQfinish(dst);
}

/* Streams a table from source to target with binary COPY, as the dump-restore worker will. */
static void binary_copy_source_to_target(void)
{
    const char *table = ferry_test_unique("copy_t");
    char name[96], sql[512];
    (void)snprintf(name, sizeof(name), "\"%s\"", table);
    PGconn *src = pg_open("source", NULL);
    PGconn *dst = pg_open("target", NULL);
    CU_ASSERT_EQUAL_FATAL(PQstatus(src), CONNECTION_OK);
    CU_ASSERT_EQUAL_FATAL(PQstatus(dst), CONNECTION_OK);

    (void)snprintf(sql, sizeof(sql),
                   "CREATE TABLE %s (id bigint PRIMARY KEY, note text, n numeric(12,3));"
                   "INSERT INTO %s SELECT g, 'row ' || g, g / 7.0 FROM generate_series(1, 5000) g",
                   name, name);
    PQclear(exec_ok(src, sql, PGRES_COMMAND_OK));
    (void)snprintf(sql, sizeof(sql),
                   "CREATE TABLE %s (id bigint PRIMARY KEY, note text, n numeric(12,3))", name);
    PQclear(exec_ok(dst, sql, PGRES_COMMAND_OK));

    (void)snprintf(sql, sizeof(sql), "COPY %s TO STDOUT (FORMAT binary)", name);
    PQclear(exec_ok(src, sql, PGRES_COPY_OUT));
    (void)snprintf(sql, sizeof(sql), "COPY %s FROM STDIN (FORMAT binary)", name);
    PQclear(exec_ok(dst, sql, PGRES_COPY_IN));
    char *buf = NULL;
    int n;
    long messages = 0;
    while ((n = PQgetCopyData(src, &buf, 0)) > 0) {
        CU_ASSERT_EQUAL(PQputCopyData(dst, buf, n), 1);
        PQfreemem(buf);
        messages++;
    }
    CU_ASSERT_EQUAL(n, -1); /* -1: done; -2 would be an error */
    PGresult *res = PQgetResult(src);
    CU_ASSERT_EQUAL(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);
    CU_ASSERT_EQUAL(PQputCopyEnd(dst, NULL), 1);
    res = PQgetResult(dst);
    CU_ASSERT_EQUAL(PQresultStatus(res), PGRES_COMMAND_OK);
    CU_ASSERT_STRING_EQUAL(PQcmdTuples(res), "5000");
    PQclear(res);
    CU_ASSERT_TRUE(messages >= 5000);

    /* Same content on both sides. */
    (void)snprintf(sql, sizeof(sql),
                   "SELECT count(*), md5(string_agg(%s::text, ',' ORDER BY id)) FROM %s", name,
                   name);
    PGresult *a = exec_ok(src, sql, PGRES_TUPLES_OK);
    PGresult *b = exec_ok(dst, sql, PGRES_TUPLES_OK);
    CU_ASSERT_STRING_EQUAL(PQgetvalue(a, 0, 0), "5000");
    CU_ASSERT_STRING_EQUAL(PQgetvalue(a, 0, 1), PQgetvalue(b, 0, 1));
    PQclear(a);
    PQclear(b);

    (void)snprintf(sql, sizeof(sql), "DROP TABLE %s", name);
    PQclear(exec_ok(src, sql, PGRES_COMMAND_OK));
    PQclear(exec_ok(dst, sql, PGRES_COMMAND_OK));
    PQfinish(src);
    PQfinish(dst);
}

static void wrong_password_is_refused_without_echo(void)
{
    static const char wrong[] = "not-the-Password-42";
    PGconn *conn = pg_open("source", wrong);
    CU_ASSERT_EQUAL(PQstatus(conn), CONNECTION_BAD);
    const char *msg = PQerrorMessage(conn);
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "password authentication failed"));
    CU_ASSERT_PTR_NULL(strstr(msg, wrong));
    PQfinish(conn);
}

static const ferry_test_case cases[] = {
    {"round trip on the source server", round_trip_source},
    {"round trip on the target server", round_trip_target},
    {"source and target are distinct servers", servers_are_distinct},
    {"binary COPY from source to target", binary_copy_source_to_target},
    {"wrong password refused without echo", wrong_password_is_refused_without_echo},
    {NULL, NULL},
};

int main(void)
{
    static const ferry_test_suite suites[] = {{"postgresql", NULL, NULL, cases},
                                              {NULL, NULL, NULL, NULL}};
    return ferry_test_main(suites);
}
