/*
 * demo_db.c - the demo app's database connection and its two questions (alive? what rows?).
 */
#include "demo_db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <openssl/crypto.h>

#include "ferry/log.h"

struct demo_db {
    char *conninfo;
    char *password;
    char *appname;
    char dbname[128]; /* for messages */
    PGconn *conn;     /* NULL while not connected */
};

/* Every session reads the rows the same way, so the checksum of a copy on another server is
 * the checksum of the original: text forms of timestamps, bytea and numbers fixed. */
static const char session_sql[] = "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; "
                                  "SET IntervalStyle = 'postgres'; SET bytea_output = 'hex'; "
                                  "SET extra_float_digits = 1; SET statement_timeout = '10s'";

static const char probe_sql[] = "SELECT to_regclass('public." DEMO_DB_TABLE "') IS NOT NULL, "
                                "to_regclass('_ferry.copy_status') IS NOT NULL";

/* md5 of the md5s of every row's text, in id order: equal on two servers exactly when the rows
 * are (see session_sql). 32 bytes per row in memory, so a few million rows still fit. */
static const char stats_sql[] =
    "SELECT count(*), coalesce(md5(string_agg(md5(o::text), '' ORDER BY o.id)), md5('')) "
    "FROM public." DEMO_DB_TABLE " o";

static void quiet_notices(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* The first line of libpq's message, without the trailing newline, redacted. */
static void pq_message(const char *in, char *out, size_t outsz)
{
    char line[400];
    size_t n = strcspn(in != NULL ? in : "", "\n");
    if (n >= sizeof line)
        n = sizeof line - 1;
    memcpy(line, in != NULL ? in : "", n);
    line[n] = '\0';
    (void)ferry_redact(line, out, outsz);
}

ferry_rc demo_db_new(const demo_db_opts *opts, demo_db **out, ferry_err *err)
{
    ferry_rc rc = FERRY_OK;
    demo_db *db = NULL;
    PQconninfoOption *parsed = NULL;
    char *perr = NULL;

    *out = NULL;
    if (opts == NULL || opts->conninfo == NULL || opts->conninfo[0] == '\0')
        return ferry_err_set(err, FERRY_ERR_INVALID, "database: no connection string");
    parsed = PQconninfoParse(opts->conninfo, &perr);
    if (parsed == NULL) {
        char msg[256];
        pq_message(perr, msg, sizeof msg);
        rc = ferry_err_set(err, FERRY_ERR_INVALID,
                           "database: the connection string does not "
                           "parse: %s",
                           perr != NULL ? msg : "out of memory");
        goto out;
    }
    db = calloc(1, sizeof *db);
    if (db == NULL) {
        rc = ferry_err_set(err, FERRY_ERR_NOMEM, "database: out of memory");
        goto out;
    }
    (void)snprintf(db->dbname, sizeof db->dbname, "%s", "(default)");
    for (const PQconninfoOption *o = parsed; o->keyword != NULL; o++) {
        if (o->val == NULL || o->val[0] == '\0')
            continue;
        if (strcmp(o->keyword, "password") == 0) {
            rc = ferry_err_set(err, FERRY_ERR_INVALID,
                               "database: the connection string holds a password; give it in "
                               "DEMO_PG_PASSWORD (or PGPASSWORD) instead");
            goto out;
        }
        if (strcmp(o->keyword, "dbname") == 0)
            (void)snprintf(db->dbname, sizeof db->dbname, "%s", o->val);
    }
    db->conninfo = strdup(opts->conninfo);
    db->password = opts->password != NULL ? strdup(opts->password) : NULL;
    db->appname = strdup(opts->application_name != NULL ? opts->application_name : "ferry-demo");
    if (db->conninfo == NULL || db->appname == NULL ||
        (opts->password != NULL && db->password == NULL)) {
        rc = ferry_err_set(err, FERRY_ERR_NOMEM, "database: out of memory");
        goto out;
    }
    *out = db;
    db = NULL;
out:
    PQconninfoFree(parsed);
    PQfreemem(perr);
    demo_db_free(db);
    return rc;
}

static void db_close(demo_db *db)
{
    if (db->conn != NULL) {
        PQfinish(db->conn);
        db->conn = NULL;
    }
}

void demo_db_free(demo_db *db)
{
    if (db == NULL)
        return;
    db_close(db);
    if (db->password != NULL) {
        OPENSSL_cleanse(db->password, strlen(db->password));
        free(db->password);
    }
    free(db->conninfo);
    free(db->appname);
    free(db);
}

static ferry_rc db_connect(demo_db *db, ferry_err *err)
{
    if (db->conn != NULL && PQstatus(db->conn) == CONNECTION_OK)
        return FERRY_OK;
    db_close(db);

    const char *keys[6] = {"dbname", "application_name", "connect_timeout", NULL, NULL, NULL};
    const char *vals[6] = {db->conninfo, db->appname, "3", NULL, NULL, NULL};
    if (db->password != NULL) {
        keys[3] = "password";
        vals[3] = db->password;
    }
    PGconn *conn = PQconnectdbParams(keys, vals, 1);
    if (conn == NULL)
        return ferry_err_set(err, FERRY_ERR_NOMEM, "database %s: out of memory", db->dbname);
    if (PQstatus(conn) != CONNECTION_OK) {
        char msg[400];
        const char *text = PQerrorMessage(conn);
        pq_message(text, msg, sizeof msg);
        ferry_rc code = strstr(text, "authentication") != NULL   ? FERRY_ERR_AUTH
                        : strstr(text, "does not exist") != NULL ? FERRY_ERR_NOT_FOUND
                                                                 : FERRY_ERR_UNAVAILABLE;
        PQfinish(conn);
        return ferry_err_set(err, code, "database %s: cannot connect: %s", db->dbname, msg);
    }
    (void)PQsetNoticeProcessor(conn, quiet_notices, NULL);
    PGresult *res = PQexec(conn, session_sql);
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    if (!ok) {
        char msg[400];
        pq_message(PQerrorMessage(conn), msg, sizeof msg);
        PQfinish(conn);
        return ferry_err_set(err, FERRY_ERR_UNAVAILABLE, "database %s: session settings: %s",
                             db->dbname, msg);
    }
    db->conn = conn;
    return FERRY_OK;
}

/* Runs sql; on success *out is a result of the wanted status (caller PQclears). A lost
 * connection is closed so the next call reconnects (UNAVAILABLE); a failed statement is rolled
 * back (SERVER). */
static ferry_rc db_exec(demo_db *db, const char *sql, ExecStatusType want, PGresult **out,
                        ferry_err *err)
{
    *out = NULL;
    PGresult *res = PQexec(db->conn, sql);
    if (PQresultStatus(res) == want) {
        *out = res;
        return FERRY_OK;
    }
    char msg[400];
    const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    pq_message(res != NULL && PQresultErrorMessage(res)[0] != '\0' ? PQresultErrorMessage(res)
                                                                   : PQerrorMessage(db->conn),
               msg, sizeof msg);
    bool lost =
        PQstatus(db->conn) != CONNECTION_OK || state == NULL || strncmp(state, "08", 2) == 0;
    PQclear(res);
    if (lost)
        db_close(db);
    else
        /* Leave no failed transaction behind; the next request starts clean. */
        PQclear(PQexec(db->conn, "ROLLBACK"));
    return ferry_err_set(err, lost ? FERRY_ERR_UNAVAILABLE : FERRY_ERR_SERVER, "database %s: %s",
                         db->dbname, msg);
}

static ferry_rc db_ping(demo_db *db, bool *has_table, ferry_err *err)
{
    *has_table = false;
    ferry_rc rc = db_connect(db, err);
    if (rc != FERRY_OK)
        return rc;
    PGresult *res = NULL;
    rc = db_exec(db, probe_sql, PGRES_TUPLES_OK, &res, err);
    if (rc == FERRY_OK)
        *has_table = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    return rc;
}

static ferry_rc db_stats(demo_db *db, demo_db_stats *stats, ferry_err *err)
{
    PGresult *res = NULL;
    ferry_rc rc = FERRY_OK;
    bool has_copy_status = false;

    memset(stats, 0, sizeof *stats);
    rc = db_connect(db, err);
    if (rc != FERRY_OK)
        return rc;
    rc =
        db_exec(db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", PGRES_COMMAND_OK, &res, err);
    if (rc != FERRY_OK)
        return rc;
    PQclear(res);

    rc = db_exec(db, probe_sql, PGRES_TUPLES_OK, &res, err);
    if (rc != FERRY_OK)
        return rc;
    stats->has_table = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    has_copy_status = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
    PQclear(res);

    if (stats->has_table) {
        rc = db_exec(db, stats_sql, PGRES_TUPLES_OK, &res, err);
        if (rc != FERRY_OK)
            return rc;
        char *end = NULL;
        long long n = strtoll(PQgetvalue(res, 0, 0), &end, 10);
        if (end == NULL || *end != '\0' || n < 0) {
            PQclear(res);
            rc = ferry_err_set(err, FERRY_ERR_PROTOCOL, "database %s: bad row count", db->dbname);
            goto rollback;
        }
        stats->rows = n;
        (void)snprintf(stats->checksum, sizeof stats->checksum, "%s", PQgetvalue(res, 0, 1));
        PQclear(res);
    }
    /* ferry-dump-restore's mark exists only while a copy into the database is unfinished
     * (running, failed or stopped); a completed copy drops it. */
    if (has_copy_status)
        (void)snprintf(stats->copy_state, sizeof stats->copy_state, "%s", "incomplete");
    rc = db_exec(db, "COMMIT", PGRES_COMMAND_OK, &res, err);
    if (rc != FERRY_OK)
        return rc;
    PQclear(res);
    return FERRY_OK;

rollback:
    if (db->conn != NULL)
        PQclear(PQexec(db->conn, "ROLLBACK"));
    return rc;
}

/* A kept connection may have died since the last request (the server restarted, the session
 * was terminated): that shows only when it is used. Such a failure is retried once on a fresh
 * connection, so a restart costs no failed request. */
ferry_rc demo_db_ping(demo_db *db, bool *has_table, ferry_err *err)
{
    bool reused = db->conn != NULL;
    ferry_rc rc = db_ping(db, has_table, err);
    if (rc == FERRY_ERR_UNAVAILABLE && reused) {
        ferry_err_clear(err);
        rc = db_ping(db, has_table, err);
    }
    return rc;
}

ferry_rc demo_db_stats_get(demo_db *db, demo_db_stats *stats, ferry_err *err)
{
    bool reused = db->conn != NULL;
    ferry_rc rc = db_stats(db, stats, err);
    if (rc == FERRY_ERR_UNAVAILABLE && reused) {
        ferry_err_clear(err);
        rc = db_stats(db, stats, err);
    }
    return rc;
}
