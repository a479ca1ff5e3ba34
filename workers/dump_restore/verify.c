/*
 * verify.c - table-by-table comparison of source and target (see verify.h).
 */
#include "verify.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dr_sql_embedded.h"
#include "ferry/clock.h"
#include "ferry/buf.h"

#define DIFFERENCES_LISTED 50 /* the first ones are listed; all are counted */

typedef struct sums {
    char *src_rows, *src_sum, *tgt_rows, *tgt_sum;
} sums;

typedef struct verify_state {
    const dr_tables *tables;
    const dr_options *opts;
    sums *sums;
    _Atomic uint64_t done;
} verify_state;

/* The checksum query for one table: sql/checksum.sql with {rel} replaced. */
static char *checksum_sql(const char *qname)
{
    ferry_buf b = {0};
    const char *tmpl = dr_sql_checksum;
    const char *at = strstr(tmpl, "{rel}");
    if (at == NULL)
        return NULL;
    ferry_buf_addn(&b, tmpl, (size_t)(at - tmpl));
    ferry_buf_add(&b, qname);
    ferry_buf_add(&b, at + strlen("{rel}"));
    return b.oom ? (ferry_buf_cleanup(&b), NULL) : ferry_buf_take(&b);
}

static ferry_rc one_side(dr_conn *conn, const char *sql, char **rows, char **sum, ferry_err *err)
{
    dr_rows *r = NULL;
    ferry_rc rc = dr_conn_query(conn, sql, 0, NULL, &r, err);
    if (rc != FERRY_OK)
        return rc;
    *rows = strdup(dr_rows_get(r, 0, 0) != NULL ? dr_rows_get(r, 0, 0) : "");
    *sum = strdup(dr_rows_get(r, 0, 1) != NULL ? dr_rows_get(r, 0, 1) : "");
    dr_rows_free(r);
    if (*rows == NULL || *sum == NULL)
        return ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
    return FERRY_OK;
}

static ferry_rc verify_one(dr_conn *src, dr_conn *tgt, size_t item, void *ud, ferry_err *err)
{
    verify_state *vs = ud;
    const dr_table *t = &vs->tables->t[item];
    sums *s = &vs->sums[item];
    char *sql = checksum_sql(t->qname);
    if (sql == NULL)
        return ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
    ferry_rc rc = one_side(src, sql, &s->src_rows, &s->src_sum, err);
    if (rc == FERRY_OK)
        rc = one_side(tgt, sql, &s->tgt_rows, &s->tgt_sum, err);
    free(sql);
    if (rc != FERRY_OK) {
        char msg[sizeof(err->msg)];
        (void)snprintf(msg, sizeof(msg), "%s", err->msg);
        return ferry_err_set(err, rc, "verifying %s: %s", t->name, msg);
    }
    atomic_fetch_add(&vs->done, 1);
    return rc;
}

static void verify_tick(void *ud)
{
    verify_state *vs = ud;
    if (vs->opts->progress == NULL)
        return;
    dr_progress p = {
        .phase = "verify", .tables_done = atomic_load(&vs->done), .tables_total = vs->tables->n};
    vs->opts->progress(vs->opts->progress_ud, &p);
}

static ferry_rc add_difference(dr_report *report, const char *table, const char *src_rows,
                               const char *tgt_rows, bool same_content)
{
    report->n_differences++;
    if (json_array_size(report->differences) >= DIFFERENCES_LISTED)
        return FERRY_OK;
    json_t *d = json_pack("{s:s, s:s?, s:s?, s:b}", "table", table, "source_rows", src_rows,
                          "target_rows", tgt_rows, "same_content", same_content);
    return d != NULL && json_array_append_new(report->differences, d) == 0 ? FERRY_OK
                                                                           : FERRY_ERR_NOMEM;
}

ferry_rc dr_verify_tables(dr_pool *pool, const dr_tables *source, dr_conn *tgt,
                          const dr_options *opts, dr_report *report, ferry_err *err)
{
    int64_t t0 = ferry_mono_ms();
    dr_tables target = {0};
    verify_state vs = {.tables = source, .opts = opts};
    atomic_init(&vs.done, 0);
    ferry_rc rc = dr_tables_list(tgt, &target, err);
    if (rc != FERRY_OK)
        return rc;
    vs.sums = calloc(source->n > 0 ? source->n : 1, sizeof(sums));
    if (vs.sums == NULL) {
        rc = ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
        goto out;
    }

    /* The same set of tables on both sides. */
    for (size_t i = 0; i < source->n && rc == FERRY_OK; i++) {
        bool found = false;
        for (size_t j = 0; j < target.n && !found; j++)
            found = strcmp(source->t[i].name, target.t[j].name) == 0;
        if (!found)
            rc = add_difference(report, source->t[i].name, NULL, NULL, false);
    }
    for (size_t j = 0; j < target.n && rc == FERRY_OK; j++) {
        bool found = false;
        for (size_t i = 0; i < source->n && !found; i++)
            found = strcmp(source->t[i].name, target.t[j].name) == 0;
        if (!found)
            rc = add_difference(report, target.t[j].name, NULL, NULL, false);
    }
    if (rc != FERRY_OK) {
        rc = ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (report->n_differences > 0) {
        /* A table missing on one side: checksums of the others would not make it pass. */
        report->verified = 0;
        goto out;
    }

    rc = dr_pool_run(pool, source->n, verify_one, &vs, &opts->stop, verify_tick, err);
    verify_tick(&vs);
    if (rc != FERRY_OK)
        goto out;
    uint64_t rows = 0;
    for (size_t i = 0; i < source->n; i++) {
        const sums *s = &vs.sums[i];
        rows += (uint64_t)strtoull(s->src_rows, NULL, 10);
        bool same_rows = strcmp(s->src_rows, s->tgt_rows) == 0;
        bool same_sum = strcmp(s->src_sum, s->tgt_sum) == 0;
        if (json_object_set_new(report->table_rows, source->t[i].name,
                                json_integer((json_int_t)strtoll(s->src_rows, NULL, 10))) != 0) {
            rc = ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
            goto out;
        }
        if ((!same_rows || !same_sum) && add_difference(report, source->t[i].name, s->src_rows,
                                                        s->tgt_rows, same_sum) != FERRY_OK) {
            rc = ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
            goto out;
        }
    }
    if (report->rows == 0) /* a verify of its own: the rows it compared */
        report->rows = rows;
    report->verified = report->n_differences == 0 ? 1 : 0;
out:
    if (vs.sums != NULL) {
        for (size_t i = 0; i < source->n; i++) {
            free(vs.sums[i].src_rows);
            free(vs.sums[i].src_sum);
            free(vs.sums[i].tgt_rows);
            free(vs.sums[i].tgt_sum);
        }
        free(vs.sums);
    }
    dr_tables_cleanup(&target);
    report->ms_verify = ferry_mono_ms() - t0;
    return rc;
}
