/*
 * tables.c - listing tables and copying their rows (see tables.h).
 */
#include "tables.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dr_sql_embedded.h"
#include "ferry/buf.h"

#define MAX_RANGES 256 /* per table */

ferry_rc dr_tables_list(dr_conn *conn, dr_tables *out, ferry_err *err)
{
    dr_rows *rows = NULL;
    memset(out, 0, sizeof(*out));
    ferry_rc rc = dr_conn_query(conn, dr_sql_tables, 0, NULL, &rows, err);
    if (rc != FERRY_OK)
        return rc;
    size_t n = dr_rows_count(rows);
    out->t = calloc(n > 0 ? n : 1, sizeof(dr_table));
    if (out->t == NULL) {
        dr_rows_free(rows);
        return ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        dr_table *t = &out->t[out->n++];
        const char *schema = dr_rows_get(rows, i, 6), *rel = dr_rows_get(rows, i, 7);
        size_t len = strlen(schema) + strlen(rel) + 2;
        t->name = malloc(len);
        t->qname = strdup(dr_rows_get(rows, i, 0));
        t->columns = strdup(dr_rows_get(rows, i, 1));
        if (t->name == NULL || t->qname == NULL || t->columns == NULL) {
            dr_rows_free(rows);
            dr_tables_cleanup(out);
            return ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
        }
        (void)snprintf(t->name, len, "%s.%s", schema, rel);
        t->blocks = strtoll(dr_rows_get(rows, i, 2), NULL, 10);
        t->bytes = strtoll(dr_rows_get(rows, i, 3), NULL, 10);
        t->binary_ok = strcmp(dr_rows_get(rows, i, 4), "t") == 0;
        t->has_pk = strcmp(dr_rows_get(rows, i, 5), "t") == 0;
    }
    dr_rows_free(rows);
    return FERRY_OK;
}

void dr_tables_cleanup(dr_tables *tables)
{
    for (size_t i = 0; i < tables->n; i++) {
        free(tables->t[i].qname);
        free(tables->t[i].name);
        free(tables->t[i].columns);
    }
    free(tables->t);
    memset(tables, 0, sizeof(*tables));
}

/* One COPY: a whole table, or the blocks [from, to) of one (to < 0: to the end). */
typedef struct unit {
    size_t table;
    int64_t from, to;
    bool whole;
} unit;

typedef struct copy_state {
    const dr_tables *tables;
    const dr_options *opts;
    bool binary;
    unit *units;
    size_t n_units;
    _Atomic uint64_t *table_rows; /* per table */
    _Atomic int *units_left;      /* per table */
    _Atomic uint64_t tables_done;
    dr_copy_counters counters;
    uint64_t bytes_total;
} copy_state;

static ferry_rc copy_unit(dr_conn *src, dr_conn *tgt, size_t item, void *ud, ferry_err *err)
{
    copy_state *cs = ud;
    const unit *u = &cs->units[item];
    const dr_table *t = &cs->tables->t[u->table];
    bool binary = cs->binary && t->binary_ok;
    const char *fmt = binary ? " (FORMAT binary)" : "";
    bool cols = t->columns[0] != '\0';
    ferry_buf out = {0}, in = {0};
    ferry_rc rc = FERRY_OK;
    char range[96] = "";

    /* Source: the whole table, or a range of its blocks (a TID range scan, PostgreSQL 14+). */
    if (u->whole) {
        ferry_buf_add(&out, "COPY ");
        ferry_buf_add(&out, t->qname);
        if (cols) {
            ferry_buf_add(&out, " (");
            ferry_buf_add(&out, t->columns);
            ferry_buf_add(&out, ")");
        }
    } else {
        if (u->to >= 0)
            (void)snprintf(range, sizeof(range),
                           "ctid >= '(%" PRId64 ",0)'::tid AND ctid < '(%" PRId64 ",0)'::tid",
                           u->from, u->to);
        else
            (void)snprintf(range, sizeof(range), "ctid >= '(%" PRId64 ",0)'::tid", u->from);
        ferry_buf_add(&out, "COPY (SELECT ");
        ferry_buf_add(&out, cols ? t->columns : "");
        ferry_buf_add(&out, " FROM ONLY ");
        ferry_buf_add(&out, t->qname);
        ferry_buf_add(&out, " WHERE ");
        ferry_buf_add(&out, range);
        ferry_buf_add(&out, ")");
    }
    ferry_buf_add(&out, " TO STDOUT");
    ferry_buf_add(&out, fmt);

    /* Target: a whole table is emptied and loaded in one transaction, so COPY can FREEZE its
     * rows (no later vacuum, no hint-bit writes while indexes are built). */
    ferry_buf_add(&in, "COPY ");
    ferry_buf_add(&in, t->qname);
    if (cols) {
        ferry_buf_add(&in, " (");
        ferry_buf_add(&in, t->columns);
        ferry_buf_add(&in, ")");
    }
    ferry_buf_add(&in, " FROM STDIN");
    if (u->whole)
        ferry_buf_add(&in, binary ? " (FORMAT binary, FREEZE)" : " (FREEZE)");
    else
        ferry_buf_add(&in, fmt);
    if (out.oom || in.oom) {
        rc = ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
        goto out;
    }

    if (u->whole) {
        ferry_buf trunc = {0};
        ferry_buf_add(&trunc, "BEGIN; TRUNCATE ONLY ");
        ferry_buf_add(&trunc, t->qname);
        rc = trunc.oom ? ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory")
                       : dr_conn_exec(tgt, trunc.p, err);
        ferry_buf_cleanup(&trunc);
        if (rc != FERRY_OK)
            goto out;
    }
    uint64_t rows = 0;
    rc = dr_conn_copy(src, out.p, tgt, in.p, &cs->counters, &rows, err);
    if (rc == FERRY_OK && u->whole)
        rc = dr_conn_exec(tgt, "COMMIT", err);
    if (rc != FERRY_OK) {
        char msg[sizeof(err->msg)];
        (void)snprintf(msg, sizeof(msg), "%s", err->msg);
        (void)ferry_err_set(err, rc, "copying %s: %s", t->name, msg);
        goto out;
    }
    atomic_fetch_add(&cs->table_rows[u->table], rows);
    if (atomic_fetch_sub(&cs->units_left[u->table], 1) == 1)
        atomic_fetch_add(&cs->tables_done, 1);
out:
    ferry_buf_cleanup(&out);
    ferry_buf_cleanup(&in);
    return rc;
}

static void copy_tick(void *ud)
{
    copy_state *cs = ud;
    if (cs->opts->progress == NULL)
        return;
    dr_progress p = {.phase = "data",
                     .tables_done = atomic_load(&cs->tables_done),
                     .tables_total = cs->tables->n,
                     .rows = atomic_load(&cs->counters.rows),
                     .bytes_done = atomic_load(&cs->counters.bytes),
                     .bytes_total = cs->bytes_total};
    cs->opts->progress(cs->opts->progress_ud, &p);
}

/* Splits the tables into units: a table larger than split becomes ranges of its blocks. */
static ferry_rc plan_units(copy_state *cs, int64_t split, ferry_err *err)
{
    size_t cap = 0;
    for (size_t i = 0; i < cs->tables->n; i++) {
        const dr_table *t = &cs->tables->t[i];
        int64_t k = split > 0 && t->bytes > split ? (t->bytes + split - 1) / split : 1;
        if (k > MAX_RANGES)
            k = MAX_RANGES;
        if (k > t->blocks)
            k = t->blocks > 0 ? t->blocks : 1;
        cap += (size_t)k;
    }
    cs->units = calloc(cap > 0 ? cap : 1, sizeof(unit));
    if (cs->units == NULL)
        return ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < cs->tables->n; i++) {
        const dr_table *t = &cs->tables->t[i];
        int64_t k = split > 0 && t->bytes > split ? (t->bytes + split - 1) / split : 1;
        if (k > MAX_RANGES)
            k = MAX_RANGES;
        if (k > t->blocks)
            k = t->blocks > 0 ? t->blocks : 1;
        atomic_init(&cs->units_left[i], (int)k);
        if (k == 1) {
            cs->units[cs->n_units++] = (unit){.table = i, .from = 0, .to = -1, .whole = true};
            continue;
        }
        /* The last range is open: the snapshot's rows may sit in blocks added since. */
        int64_t step = t->blocks / k;
        for (int64_t r = 0; r < k; r++)
            cs->units[cs->n_units++] = (unit){.table = i,
                                              .from = r * step,
                                              .to = r == k - 1 ? -1 : (r + 1) * step,
                                              .whole = false};
    }
    return FERRY_OK;
}

ferry_rc dr_tables_copy(dr_pool *pool, const dr_tables *tables, const dr_options *opts, bool binary,
                        dr_report *report, ferry_err *err)
{
    ferry_rc rc = FERRY_OK;
    copy_state cs = {.tables = tables, .opts = opts, .binary = binary};
    atomic_init(&cs.tables_done, 0);
    atomic_init(&cs.counters.bytes, 0);
    atomic_init(&cs.counters.rows, 0);
    size_t n = tables->n > 0 ? tables->n : 1;
    cs.table_rows = calloc(n, sizeof(*cs.table_rows));
    cs.units_left = calloc(n, sizeof(*cs.units_left));
    if (cs.table_rows == NULL || cs.units_left == NULL) {
        rc = ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < tables->n; i++) {
        atomic_init(&cs.table_rows[i], 0);
        cs.bytes_total += (uint64_t)tables->t[i].bytes;
    }
    rc = plan_units(&cs, opts->split_bytes, err);
    if (rc != FERRY_OK)
        goto out;
    rc = dr_pool_run(pool, cs.n_units, copy_unit, &cs, &opts->stop, copy_tick, err);
    copy_tick(&cs);
    if (rc != FERRY_OK)
        goto out;
    for (size_t i = 0; i < tables->n; i++) {
        const dr_table *t = &tables->t[i];
        uint64_t rows = atomic_load(&cs.table_rows[i]);
        report->rows += rows;
        if (json_object_set_new(report->table_rows, t->name, json_integer((json_int_t)rows)) != 0 ||
            (!t->has_pk &&
             json_array_append_new(report->no_primary_key, json_string(t->name)) != 0)) {
            rc = ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
            goto out;
        }
    }
    report->tables = tables->n;
    report->bytes = atomic_load(&cs.counters.bytes);
out:
    free(cs.units);
    free(cs.table_rows);
    free(cs.units_left);
    return rc;
}
