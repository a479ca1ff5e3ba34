/*
 * pg.h - the dump-restore worker's one wrapper around libpq: connections with their cancel
 * handles, queries copied into plain rows, a COPY stream from one connection to another, large
 * object copies, and libpq errors turned into ferry_rc codes with messages users can act on.
 * Only pg.c includes libpq-fe.h.
 */
#ifndef DR_PG_H
#define DR_PG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/error.h"

/* Where to connect. conninfo is a libpq URL or keyword string without a password; password
 * may be NULL (libpq then uses PGPASSFILE/.pgpass or no password). label ("source",
 * "target") prefixes every error message. All borrowed. */
typedef struct dr_endpoint {
    const char *conninfo;
    const char *password;
    const char *label;
} dr_endpoint;

typedef struct dr_conn dr_conn;

/* Opens a connection (connect timeout 10 s, TCP keepalives) named app_name in
 * pg_stat_activity. Caller closes with dr_conn_close(). Errors: FERRY_ERR_AUTH (wrong or missing
 * password), FERRY_ERR_NOT_FOUND (no such database), FERRY_ERR_PERMISSION, FERRY_ERR_BUSY (too
 * many connections), else FERRY_ERR_UNAVAILABLE. */
ferry_rc dr_conn_open(const dr_endpoint *ep, const char *app_name, dr_conn **out, ferry_err *err);

/* Opens a logical replication connection (replication=database) to ep's database: it runs
 * replication commands (CREATE_REPLICATION_SLOT, START_REPLICATION) and simple SQL. */
ferry_rc dr_conn_open_replication(const dr_endpoint *ep, const char *app_name, dr_conn **out,
                                  ferry_err *err);

/* Closes the connection (a transaction still open is rolled back by the server). Accepts NULL. */
void dr_conn_close(dr_conn *conn);

/* The server's version as a number (150004) and its major (15). */
int dr_conn_server_version(const dr_conn *conn);
int dr_conn_server_major(const dr_conn *conn);

/* The label given at open ("source"). */
const char *dr_conn_label(const dr_conn *conn);

/* Asks the server to cancel what this connection runs. Thread-safe: any thread may call it
 * while another uses the connection; the running call then fails with FERRY_ERR_CANCELLED. */
void dr_conn_cancel(dr_conn *conn);

/* Runs one or more statements that return no rows we need. */
ferry_rc dr_conn_exec(dr_conn *conn, const char *sql, ferry_err *err);

/* Rows of a query, every value as text (NULL for SQL NULL). Caller frees with dr_rows_free(). */
typedef struct dr_rows dr_rows;

/* Runs a query with text parameters ($1...; params may be NULL when n_params is 0). */
ferry_rc dr_conn_query(dr_conn *conn, const char *sql, int n_params, const char *const *params,
                       dr_rows **out, ferry_err *err);

/* The same, without parameters, by the simple query protocol: what a replication connection
 * takes (CREATE_REPLICATION_SLOT). */
ferry_rc dr_conn_query_simple(dr_conn *conn, const char *sql, dr_rows **out, ferry_err *err);

/* Prepares sql (text parameters $1..$n_params, types inferred) as statement name. */
ferry_rc dr_conn_prepare(dr_conn *conn, const char *name, const char *sql, int n_params,
                         ferry_err *err);

/* Runs a prepared statement; *affected (may be NULL) gets the rows it inserted, updated or
 * deleted. */
ferry_rc dr_conn_exec_prepared(dr_conn *conn, const char *name, int n_params,
                               const char *const *params, uint64_t *affected, ferry_err *err);

/* Pipeline mode: statements are sent without waiting for their results, which are read later,
 * in order (libpq's pipeline mode). Only the calls below may use the connection then. */
ferry_rc dr_conn_pipeline_enter(dr_conn *conn, ferry_err *err);

/* Sends prepared statement name (or, when name is NULL, sql) with text parameters. */
ferry_rc dr_conn_pipeline_send(dr_conn *conn, const char *name, const char *sql, int n_params,
                               const char *const *params, ferry_err *err);

/* Sends the preparation of sql as statement name. */
ferry_rc dr_conn_pipeline_prepare(dr_conn *conn, const char *name, const char *sql, int n_params,
                                  ferry_err *err);

/* Ends the batch sent so far: its results follow, then DR_PIPE_SYNC. */
ferry_rc dr_conn_pipeline_sync(dr_conn *conn, ferry_err *err);

typedef enum dr_pipe_event {
    DR_PIPE_NONE,    /* nothing ready yet (only when not waiting) */
    DR_PIPE_RESULT,  /* a statement succeeded; *affected rows */
    DR_PIPE_END,     /* the end of one statement's results */
    DR_PIPE_SYNC,    /* the end of the batch */
    DR_PIPE_ABORTED, /* a statement skipped after an earlier one failed */
} dr_pipe_event;

/* The next event of the pipeline; with wait false, DR_PIPE_NONE when none has arrived. A
 * statement that failed is returned as its error. */
ferry_rc dr_conn_pipeline_next(dr_conn *conn, bool wait, dr_pipe_event *event, uint64_t *affected,
                               ferry_err *err);

size_t dr_rows_count(const dr_rows *rows);
/* The value at (row, col), NULL for SQL NULL or out of range; borrowed until dr_rows_free(). */
const char *dr_rows_get(const dr_rows *rows, size_t row, size_t col);
void dr_rows_free(dr_rows *rows);

/* Counters a COPY stream adds to as it goes; read by other threads for progress. */
typedef struct dr_copy_counters {
    _Atomic uint64_t bytes; /* COPY data bytes passed */
    _Atomic uint64_t rows;  /* rows passed (COPY messages; exact once a stream ends) */
} dr_copy_counters;

/*
 * Streams `out_sql` (a COPY ... TO STDOUT on src) into `in_sql` (a COPY ... FROM STDIN on dst),
 * message by message, without an intermediate file. *rows is the row count dst reports.
 * Both connections must be idle (in a transaction or not). On failure the connections may be
 * in any state: close them.
 */
ferry_rc dr_conn_copy(dr_conn *src, const char *out_sql, dr_conn *dst, const char *in_sql,
                      dr_copy_counters *counters, uint64_t *rows, ferry_err *err);

/*
 * Copies large object `oid` from src to dst under the same oid. Both connections must be inside
 * a transaction (src's snapshot decides what is read). *bytes gets the object's size.
 */
ferry_rc dr_conn_lo_copy(dr_conn *src, dr_conn *dst, uint32_t oid, uint64_t *bytes, ferry_err *err);

/* A replication stream (CopyBoth) on a connection from dr_conn_open_replication(). */

/* Runs START_REPLICATION (sql); the connection then streams until it is closed. */
ferry_rc dr_conn_stream_start(dr_conn *conn, const char *sql, ferry_err *err);

/* The next message of the stream, waiting up to timeout_ms: *buf (release with
 * dr_conn_stream_release()) and *len, or *buf NULL when none came in time. The stream's end
 * (the server stopped it) is an error naming the server's reason. */
ferry_rc dr_conn_stream_read(dr_conn *conn, int timeout_ms, uint8_t **buf, size_t *len,
                             ferry_err *err);
void dr_conn_stream_release(uint8_t *buf);

/* Sends one message (a standby status update) on the stream. */
ferry_rc dr_conn_stream_send(dr_conn *conn, const uint8_t *data, size_t len, ferry_err *err);

/* Classifies an error text from a PostgreSQL tool or libpq without a SQLSTATE (pg_restore's
 * stderr, a failed connection): auth, permission, disk full, missing extension, ... */
ferry_rc dr_pg_classify_text(const char *text);

#endif
