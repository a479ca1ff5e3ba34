/*
 * pg.c - libpq for the dump-restore worker (see pg.h).
 */
#include "pg.h"

#include <libpq-fe.h>
#include <libpq/libpq-fs.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/log.h"

#define LO_CHUNK (256 * 1024) /* bytes per lo_read/lo_write round trip */

struct dr_conn {
    PGconn *pg;
    PGcancel *cancel; /* PQcancel() is safe from any thread */
    char label[16];
};

struct dr_rows {
    size_t n_rows, n_cols;
    char **cells; /* row-major; NULL for SQL NULL */
};

/* ---- errors ---------------------------------------------------------------------------------- */

ferry_rc dr_pg_classify_text(const char *text)
{
    static const struct {
        const char *needle;
        ferry_rc rc;
    } rules[] = {
        {"password authentication failed", FERRY_ERR_AUTH},
        {"no password supplied", FERRY_ERR_AUTH},
        {"authentication failed", FERRY_ERR_AUTH},
        {"no pg_hba.conf entry", FERRY_ERR_PERMISSION},
        {"permission denied", FERRY_ERR_PERMISSION},
        {"must be owner of", FERRY_ERR_PERMISSION},
        {"must be superuser", FERRY_ERR_PERMISSION},
        {"No space left on device", FERRY_ERR_NO_SPACE},
        {"could not extend file", FERRY_ERR_NO_SPACE},
        {"is not available", FERRY_ERR_UNSUPPORTED}, /* extension "x" is not available */
        {"could not open extension control file", FERRY_ERR_UNSUPPORTED},
        {"server version mismatch", FERRY_ERR_UNSUPPORTED},
        {"aborting because of server version mismatch", FERRY_ERR_UNSUPPORTED},
        {"too many clients", FERRY_ERR_BUSY},
        {"remaining connection slots are reserved", FERRY_ERR_BUSY},
        {"canceling statement due to user request", FERRY_ERR_CANCELLED},
        {"does not exist", FERRY_ERR_NOT_FOUND},
        {"Connection refused", FERRY_ERR_UNAVAILABLE},
        {"could not connect", FERRY_ERR_UNAVAILABLE},
        {"connection to server", FERRY_ERR_UNAVAILABLE},
        {"server closed the connection", FERRY_ERR_UNAVAILABLE},
        {"timeout expired", FERRY_ERR_TIMEOUT},
    };
    if (text == NULL)
        return FERRY_ERR_SERVER;
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
        if (strstr(text, rules[i].needle) != NULL)
            return rules[i].rc;
    return FERRY_ERR_SERVER;
}

/* A SQLSTATE's meaning for Ferry: class 08 (connection) can be retried, most others cannot. */
static ferry_rc classify_sqlstate(const char *state)
{
    if (state == NULL || strlen(state) != 5)
        return FERRY_ERR_SERVER;
    if (strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0 ||
        strcmp(state, "57P02") == 0 || strcmp(state, "57P03") == 0)
        return FERRY_ERR_UNAVAILABLE;
    if (strncmp(state, "28", 2) == 0)
        return FERRY_ERR_AUTH;
    if (strcmp(state, "42501") == 0)
        return FERRY_ERR_PERMISSION;
    if (strcmp(state, "53100") == 0)
        return FERRY_ERR_NO_SPACE;
    if (strcmp(state, "53300") == 0 || strcmp(state, "55006") == 0 || strcmp(state, "55P03") == 0 ||
        strcmp(state, "40P01") == 0 || strcmp(state, "40001") == 0)
        return FERRY_ERR_BUSY;
    if (strcmp(state, "57014") == 0)
        return FERRY_ERR_CANCELLED;
    if (strcmp(state, "3D000") == 0)
        return FERRY_ERR_NOT_FOUND;
    if (strcmp(state, "0A000") == 0 || strcmp(state, "58P01") == 0)
        return FERRY_ERR_UNSUPPORTED;
    if (strncmp(state, "53", 2) == 0 || strncmp(state, "XX", 2) == 0 ||
        strncmp(state, "58", 2) == 0)
        return FERRY_ERR_SERVER;
    return FERRY_ERR_INVALID;
}

/* The first line of a libpq message, redacted. */
static void first_line(const char *msg, char *out, size_t outsz)
{
    char line[400];
    size_t n = strcspn(msg != NULL ? msg : "", "\n");
    if (n >= sizeof(line))
        n = sizeof(line) - 1;
    memcpy(line, msg != NULL ? msg : "", n);
    line[n] = '\0';
    (void)ferry_redact(line, out, outsz);
}

/* Fills err from a failed result (or the connection when res is NULL); what says what we did. */
static ferry_rc pg_fail(const dr_conn *conn, const PGresult *res, const char *what, ferry_err *err)
{
    char text[400];
    const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (msg == NULL)
        msg = res != NULL ? PQresultErrorMessage(res) : NULL;
    if (msg == NULL || msg[0] == '\0')
        msg = PQerrorMessage(conn->pg);
    first_line(msg, text, sizeof(text));
    ferry_rc rc = FERRY_ERR_UNAVAILABLE;
    if (state != NULL)
        rc = classify_sqlstate(state);
    else if (PQstatus(conn->pg) == CONNECTION_OK)
        rc = dr_pg_classify_text(text);
    if (state != NULL)
        return ferry_err_set(err, rc, "%s: %s: %s (SQLSTATE %s)", conn->label, what, text, state);
    return ferry_err_set(err, rc, "%s: %s: %s", conn->label, what, text);
}

/* ---- connections ----------------------------------------------------------------------------- */

/* Server NOTICEs ("drop cascades to ...") are expected during a copy; libpq would print them on
 * stderr, outside the log's format. */
static void quiet_notice(void *ud, const char *message)
{
    (void)ud;
    (void)message;
}

/* replication: NULL for a normal connection, "database" for a logical walsender one. */
static ferry_rc conn_open(const dr_endpoint *ep, const char *app_name, const char *replication,
                          dr_conn **out, ferry_err *err)
{
    *out = NULL;
    dr_conn *conn = calloc(1, sizeof(*conn));
    if (conn == NULL)
        return ferry_err_set(err, FERRY_ERR_NOMEM, "%s: out of memory", ep->label);
    (void)snprintf(conn->label, sizeof(conn->label), "%s", ep->label);
    /* dbname first: the array entries after it override what its connection string says. */
    const char *keys[] = {"dbname",          "password",        "application_name", "keepalives",
                          "keepalives_idle", "connect_timeout", "replication",      NULL};
    const char *vals[] = {ep->conninfo, ep->password != NULL ? ep->password : "",
                          app_name,     "1",
                          "30",         "10",
                          replication,  NULL};
    if (replication == NULL)
        keys[6] = NULL;
    conn->pg = PQconnectdbParams(keys, vals, 1);
    if (conn->pg == NULL) {
        free(conn);
        return ferry_err_set(err, FERRY_ERR_NOMEM, "%s: out of memory", ep->label);
    }
    if (PQstatus(conn->pg) != CONNECTION_OK) {
        char text[400];
        first_line(PQerrorMessage(conn->pg), text, sizeof(text));
        /* libpq prefixes "connection to server at ... failed: "; keep the reason after it. */
        const char *why = strstr(text, "failed: ");
        why = why != NULL ? why + 8 : text;
        ferry_rc rc = dr_pg_classify_text(text);
        if (rc == FERRY_ERR_SERVER || rc == FERRY_ERR_CANCELLED)
            rc = FERRY_ERR_UNAVAILABLE;
        ferry_err_set(err, rc, "%s: cannot connect: %s", ep->label, why);
        dr_conn_close(conn);
        return rc;
    }
    (void)PQsetNoticeProcessor(conn->pg, quiet_notice, NULL);
    conn->cancel = PQgetCancel(conn->pg);
    *out = conn;
    return FERRY_OK;
}

ferry_rc dr_conn_open(const dr_endpoint *ep, const char *app_name, dr_conn **out, ferry_err *err)
{
    return conn_open(ep, app_name, NULL, out, err);
}

ferry_rc dr_conn_open_replication(const dr_endpoint *ep, const char *app_name, dr_conn **out,
                                  ferry_err *err)
{
    return conn_open(ep, app_name, "database", out, err);
}

void dr_conn_close(dr_conn *conn)
{
    if (conn == NULL)
        return;
    if (conn->cancel != NULL)
        PQfreeCancel(conn->cancel);
    PQfinish(conn->pg);
    free(conn);
}

int dr_conn_server_version(const dr_conn *conn)
{
    return PQserverVersion(conn->pg);
}

int dr_conn_server_major(const dr_conn *conn)
{
    return PQserverVersion(conn->pg) / 10000;
}

const char *dr_conn_label(const dr_conn *conn)
{
    return conn->label;
}

void dr_conn_cancel(dr_conn *conn)
{
    char buf[256];
    if (conn != NULL && conn->cancel != NULL)
        (void)PQcancel(conn->cancel, buf, (int)sizeof(buf)); /* best effort: the query may end */
}

ferry_rc dr_conn_exec(dr_conn *conn, const char *sql, ferry_err *err)
{
    PGresult *res = PQexec(conn->pg, sql);
    ExecStatusType st = PQresultStatus(res);
    ferry_rc rc = FERRY_OK;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        rc = pg_fail(conn, res, "query", err);
    PQclear(res);
    return rc;
}

ferry_rc dr_conn_prepare(dr_conn *conn, const char *name, const char *sql, int n_params,
                         ferry_err *err)
{
    PGresult *res = PQprepare(conn->pg, name, sql, n_params, NULL);
    ferry_rc rc = FERRY_OK;
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        rc = pg_fail(conn, res, "prepare", err);
    PQclear(res);
    return rc;
}

ferry_rc dr_conn_exec_prepared(dr_conn *conn, const char *name, int n_params,
                               const char *const *params, uint64_t *affected, ferry_err *err)
{
    PGresult *res = PQexecPrepared(conn->pg, name, n_params, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    ferry_rc rc = FERRY_OK;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        rc = pg_fail(conn, res, "apply", err);
    else if (affected != NULL)
        *affected = strtoull(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return rc;
}

/* ---- pipelines ------------------------------------------------------------------------------- */

ferry_rc dr_conn_pipeline_enter(dr_conn *conn, ferry_err *err)
{
    if (PQenterPipelineMode(conn->pg) != 1)
        return pg_fail(conn, NULL, "pipeline", err);
    return FERRY_OK;
}

ferry_rc dr_conn_pipeline_send(dr_conn *conn, const char *name, const char *sql, int n_params,
                               const char *const *params, ferry_err *err)
{
    int ok = name != NULL ? PQsendQueryPrepared(conn->pg, name, n_params, params, NULL, NULL, 0)
                          : PQsendQueryParams(conn->pg, sql, n_params, NULL, params, NULL, NULL, 0);
    return ok == 1 ? FERRY_OK : pg_fail(conn, NULL, "apply", err);
}

ferry_rc dr_conn_pipeline_prepare(dr_conn *conn, const char *name, const char *sql, int n_params,
                                  ferry_err *err)
{
    if (PQsendPrepare(conn->pg, name, sql, n_params, NULL) != 1)
        return pg_fail(conn, NULL, "prepare", err);
    return FERRY_OK;
}

ferry_rc dr_conn_pipeline_sync(dr_conn *conn, ferry_err *err)
{
    if (PQpipelineSync(conn->pg) != 1)
        return pg_fail(conn, NULL, "apply", err);
    return FERRY_OK;
}

ferry_rc dr_conn_pipeline_next(dr_conn *conn, bool wait, dr_pipe_event *event, uint64_t *affected,
                               ferry_err *err)
{
    *event = DR_PIPE_NONE;
    *affected = 0;
    if (!wait) {
        if (PQconsumeInput(conn->pg) == 0)
            return pg_fail(conn, NULL, "apply", err);
        if (PQisBusy(conn->pg))
            return FERRY_OK;
    }
    PGresult *res = PQgetResult(conn->pg);
    if (res == NULL) {
        if (PQstatus(conn->pg) != CONNECTION_OK)
            return pg_fail(conn, NULL, "apply", err);
        *event = DR_PIPE_END;
        return FERRY_OK;
    }
    ferry_rc rc = FERRY_OK;
    switch (PQresultStatus(res)) {
    case PGRES_COMMAND_OK:
    case PGRES_TUPLES_OK:
        *event = DR_PIPE_RESULT;
        *affected = strtoull(PQcmdTuples(res), NULL, 10);
        break;
    case PGRES_PIPELINE_SYNC:
        *event = DR_PIPE_SYNC;
        break;
    case PGRES_PIPELINE_ABORTED:
        *event = DR_PIPE_ABORTED;
        break;
    default:
        rc = pg_fail(conn, res, "apply", err);
        break;
    }
    PQclear(res);
    return rc;
}

/* ---- rows ------------------------------------------------------------------------------------ */

static ferry_rc query(dr_conn *conn, const char *sql, int n_params, const char *const *params,
                      bool simple, dr_rows **out, ferry_err *err)
{
    ferry_rc rc = FERRY_OK;
    dr_rows *rows = NULL;
    *out = NULL;
    PGresult *res = simple ? PQexec(conn->pg, sql)
                           : PQexecParams(conn->pg, sql, n_params, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = pg_fail(conn, res, "query", err);
        goto out;
    }
    rows = calloc(1, sizeof(*rows));
    if (rows == NULL)
        goto oom;
    rows->n_rows = (size_t)PQntuples(res);
    rows->n_cols = (size_t)PQnfields(res);
    if (rows->n_rows > 0 && rows->n_cols > 0) {
        rows->cells = calloc(rows->n_rows * rows->n_cols, sizeof(char *));
        if (rows->cells == NULL)
            goto oom;
    }
    for (size_t r = 0; r < rows->n_rows; r++) {
        for (size_t c = 0; c < rows->n_cols; c++) {
            if (PQgetisnull(res, (int)r, (int)c))
                continue;
            char *v = strdup(PQgetvalue(res, (int)r, (int)c));
            if (v == NULL)
                goto oom;
            rows->cells[r * rows->n_cols + c] = v;
        }
    }
    *out = rows;
    rows = NULL;
    goto out;
oom:
    rc = ferry_err_set(err, FERRY_ERR_NOMEM, "%s: out of memory reading rows", conn->label);
out:
    dr_rows_free(rows);
    PQclear(res);
    return rc;
}

ferry_rc dr_conn_query(dr_conn *conn, const char *sql, int n_params, const char *const *params,
                       dr_rows **out, ferry_err *err)
{
    return query(conn, sql, n_params, params, false, out, err);
}

ferry_rc dr_conn_query_simple(dr_conn *conn, const char *sql, dr_rows **out, ferry_err *err)
{
    return query(conn, sql, 0, NULL, true, out, err);
}

size_t dr_rows_count(const dr_rows *rows)
{
    return rows != NULL ? rows->n_rows : 0;
}

const char *dr_rows_get(const dr_rows *rows, size_t row, size_t col)
{
    if (rows == NULL || row >= rows->n_rows || col >= rows->n_cols)
        return NULL;
    return rows->cells[row * rows->n_cols + col];
}

void dr_rows_free(dr_rows *rows)
{
    if (rows == NULL)
        return;
    if (rows->cells != NULL)
        for (size_t i = 0; i < rows->n_rows * rows->n_cols; i++)
            free(rows->cells[i]);
    free(rows->cells);
    free(rows);
}

/* ---- COPY ------------------------------------------------------------------------------------ */

/* Reads the results left on a connection until it is idle again. */
static void drain(dr_conn *conn)
{
    PGresult *res;
    while ((res = PQgetResult(conn->pg)) != NULL) {
        ExecStatusType st = PQresultStatus(res);
        PQclear(res);
        if (st == PGRES_COPY_IN)
            (void)PQputCopyEnd(conn->pg, "abandoned");
        else if (st == PGRES_COPY_OUT) {
            char *buf = NULL;
            while (PQgetCopyData(conn->pg, &buf, 0) > 0)
                PQfreemem(buf);
        }
    }
}

ferry_rc dr_conn_copy(dr_conn *src, const char *out_sql, dr_conn *dst, const char *in_sql,
                      dr_copy_counters *counters, uint64_t *rows, ferry_err *err)
{
    ferry_rc rc = FERRY_OK;
    bool dst_in = false, src_out = false;
    *rows = 0;

    PGresult *res = PQexec(dst->pg, in_sql);
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        rc = pg_fail(dst, res, "COPY FROM", err);
        PQclear(res);
        goto out;
    }
    PQclear(res);
    dst_in = true;
    res = PQexec(src->pg, out_sql);
    if (PQresultStatus(res) != PGRES_COPY_OUT) {
        rc = pg_fail(src, res, "COPY TO", err);
        PQclear(res);
        goto out;
    }
    PQclear(res);
    src_out = true;

    for (;;) {
        char *buf = NULL;
        int n = PQgetCopyData(src->pg, &buf, 0);
        if (n == -1)
            break; /* the end: the COPY's result follows */
        if (n < 0) {
            rc = pg_fail(src, NULL, "COPY TO", err);
            goto out;
        }
        int put = PQputCopyData(dst->pg, buf, n);
        PQfreemem(buf);
        if (put != 1) {
            rc = pg_fail(dst, NULL, "COPY FROM", err);
            goto out;
        }
        atomic_fetch_add(&counters->bytes, (uint64_t)n);
        atomic_fetch_add(&counters->rows, 1);
    }
    src_out = false;
    res = PQgetResult(src->pg);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        rc = pg_fail(src, res, "COPY TO", err);
        PQclear(res);
        goto out;
    }
    PQclear(res);
    drain(src);

    dst_in = false;
    if (PQputCopyEnd(dst->pg, NULL) != 1) {
        rc = pg_fail(dst, NULL, "COPY FROM", err);
        goto out;
    }
    res = PQgetResult(dst->pg);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        rc = pg_fail(dst, res, "COPY FROM", err);
        PQclear(res);
        goto out;
    }
    *rows = strtoull(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    drain(dst);
out:
    if (rc != FERRY_OK) {
        /* Leave both connections idle if they still work; the caller closes them anyway. */
        if (src_out) {
            dr_conn_cancel(src);
            drain(src);
        }
        if (dst_in) {
            (void)PQputCopyEnd(dst->pg, "the source side failed");
            drain(dst);
        }
    }
    return rc;
}

/* ---- replication streams -------------------------------------------------------------------- */

ferry_rc dr_conn_stream_start(dr_conn *conn, const char *sql, ferry_err *err)
{
    PGresult *res = PQexec(conn->pg, sql);
    ferry_rc rc = FERRY_OK;
    if (PQresultStatus(res) != PGRES_COPY_BOTH)
        rc = pg_fail(conn, res, "start replication", err);
    PQclear(res);
    return rc;
}

ferry_rc dr_conn_stream_read(dr_conn *conn, int timeout_ms, uint8_t **buf, size_t *len,
                             ferry_err *err)
{
    *buf = NULL;
    *len = 0;
    for (int waited = 0;; waited = 1) {
        char *data = NULL;
        int n = PQgetCopyData(conn->pg, &data, 1);
        if (n > 0) {
            *buf = (uint8_t *)data;
            *len = (size_t)n;
            return FERRY_OK;
        }
        if (n == -1) {
            /* The server ended the stream: its result says why. */
            PGresult *res = PQgetResult(conn->pg);
            ferry_rc rc;
            if (res != NULL && PQresultStatus(res) == PGRES_FATAL_ERROR)
                rc = pg_fail(conn, res, "replication stream ended", err);
            else /* the server ended the copy (CopyDone): it is shutting down */
                rc = ferry_err_set(err, FERRY_ERR_UNAVAILABLE,
                                   "%s: the server ended the replication stream (shutting down "
                                   "or restarting); resume later",
                                   conn->label);
            PQclear(res);
            drain(conn);
            return rc;
        }
        if (n < -1)
            return pg_fail(conn, NULL, "replication stream", err);
        if (waited)
            return FERRY_OK; /* nothing within timeout_ms */
        struct pollfd pfd = {.fd = PQsocket(conn->pg), .events = POLLIN};
        int p = poll(&pfd, 1, timeout_ms);
        if (p < 0 && errno != EINTR)
            return ferry_err_set_errno(err, FERRY_ERR_IO, errno, "%s: poll", conn->label);
        if (p > 0 && PQconsumeInput(conn->pg) == 0)
            return pg_fail(conn, NULL, "replication stream", err);
    }
}

void dr_conn_stream_release(uint8_t *buf)
{
    if (buf != NULL)
        PQfreemem(buf);
}

ferry_rc dr_conn_stream_send(dr_conn *conn, const uint8_t *data, size_t len, ferry_err *err)
{
    if (PQputCopyData(conn->pg, (const char *)data, (int)len) != 1 || PQflush(conn->pg) != 0)
        return pg_fail(conn, NULL, "replication stream", err);
    return FERRY_OK;
}

/* ---- large objects --------------------------------------------------------------------------- */

ferry_rc dr_conn_lo_copy(dr_conn *src, dr_conn *dst, uint32_t oid, uint64_t *bytes, ferry_err *err)
{
    ferry_rc rc = FERRY_OK;
    int sfd = -1, dfd = -1;
    char *buf = NULL;
    char what[64];
    *bytes = 0;
    (void)snprintf(what, sizeof(what), "large object %u", oid);

    sfd = lo_open(src->pg, (Oid)oid, INV_READ);
    if (sfd < 0) {
        rc = pg_fail(src, NULL, what, err);
        goto out;
    }
    if (lo_create(dst->pg, (Oid)oid) != (Oid)oid) {
        rc = pg_fail(dst, NULL, what, err);
        goto out;
    }
    dfd = lo_open(dst->pg, (Oid)oid, INV_WRITE);
    if (dfd < 0) {
        rc = pg_fail(dst, NULL, what, err);
        goto out;
    }
    buf = malloc(LO_CHUNK);
    if (buf == NULL) {
        rc = ferry_err_set(err, FERRY_ERR_NOMEM, "%s: out of memory", what);
        goto out;
    }
    for (;;) {
        int n = lo_read(src->pg, sfd, buf, LO_CHUNK);
        if (n < 0) {
            rc = pg_fail(src, NULL, what, err);
            goto out;
        }
        if (n == 0)
            break;
        if (lo_write(dst->pg, dfd, buf, (size_t)n) != n) {
            rc = pg_fail(dst, NULL, what, err);
            goto out;
        }
        *bytes += (uint64_t)n;
    }
out:
    free(buf);
    if (sfd >= 0)
        (void)lo_close(src->pg, sfd); /* the transaction's end closes it anyway */
    if (dfd >= 0 && lo_close(dst->pg, dfd) < 0 && rc == FERRY_OK)
        rc = pg_fail(dst, NULL, what, err);
    return rc;
}
