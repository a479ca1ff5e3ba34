/*
 * demo_db.h - the demo app's database: one libpq connection, reopened when it is lost.
 *
 * The only file of the demo that includes libpq-fe.h. Not thread-safe: the app serves its
 * requests from one thread. The connection string never holds the password (it is refused);
 * the password is a separate setting, wiped when the handle is freed.
 */
#ifndef DEMO_DB_H
#define DEMO_DB_H

#include <stdbool.h>
#include <stdint.h>

#include "ferry/error.h"

typedef struct demo_db demo_db;

/* The table the app serves, in the public schema. */
#define DEMO_DB_TABLE "orders"

typedef struct demo_db_opts {
    const char *conninfo;         /* libpq keywords or URL, without a password; copied */
    const char *password;         /* may be NULL (then libpq's PGPASSWORD, .pgpass); copied */
    const char *application_name; /* copied */
} demo_db_opts;

/* What GET /data reports about the database. */
typedef struct demo_db_stats {
    bool has_table;      /* false: the database answers but has no table "orders" */
    int64_t rows;        /* rows of orders (0 without the table) */
    char checksum[33];   /* md5 of the rows in id order, "" without the table */
    char copy_state[16]; /* "incomplete" while ferry-dump-restore's mark (_ferry.copy_status)
                          * is there, an unfinished copy; "" otherwise (none, or completed) */
} demo_db_stats;

/* Checks opts (a conninfo that does not parse or holds a password is INVALID) and creates the
 * handle without connecting. Caller frees with demo_db_free(). */
ferry_rc demo_db_new(const demo_db_opts *opts, demo_db **out, ferry_err *err);
/* Closes the connection, wipes the password copy, frees. Accepts NULL. */
void demo_db_free(demo_db *db);

/* Asks whether the table exists (connecting first when needed), setting *has_table.
 * UNAVAILABLE when the server cannot be reached or the connection broke, AUTH for a refused
 * login, NOT_FOUND for a missing database; the message names the database, never the
 * password. */
ferry_rc demo_db_ping(demo_db *db, bool *has_table, ferry_err *err);

/* Fills *stats in one read-only transaction (connecting first when needed). A missing table is
 * not an error: has_table is false. */
ferry_rc demo_db_stats_get(demo_db *db, demo_db_stats *stats, ferry_err *err);

#endif
