/*
 * tables.h - the tables of a database (sql/tables.sql) and the copy of their rows: each table,
 * or each range of blocks of a large one, streamed by COPY from source to target on a pool of
 * connection pairs.
 */
#ifndef DR_TABLES_H
#define DR_TABLES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dr.h"
#include "pool.h"

typedef struct dr_table {
    char *qname;   /* "public"."orders", quoted as needed */
    char *name;    /* public.orders, for reports */
    char *columns; /* quoted column list; "" when the table has no (non-generated) column */
    int64_t blocks, bytes;
    bool binary_ok, has_pk;
} dr_table;

typedef struct dr_tables {
    size_t n;
    dr_table *t;
} dr_tables;

/* Lists conn's tables, biggest first. Caller releases with dr_tables_cleanup(). */
ferry_rc dr_tables_list(dr_conn *conn, dr_tables *out, ferry_err *err);
void dr_tables_cleanup(dr_tables *tables);

/* Copies every table's rows (target tables exist and are empty), filling report->rows, bytes,
 * tables, table_rows and no_primary_key. binary: both servers have the same major version. */
ferry_rc dr_tables_copy(dr_pool *pool, const dr_tables *tables, const dr_options *opts, bool binary,
                        dr_report *report, ferry_err *err);

#endif
