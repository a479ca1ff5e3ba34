/*
 * verify.c - the rows of source and target compared table by table (see verify.h).
 */
#include "verify.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dr_sql_embedded.h"
#include "ferry/buf.h"

typedef struct sums {
    char *src_rows, *src_sum, *tgt_rows, *tgt_sum;
} sums;

typedef struct verify_state {
    const dr_tables *tables;
    const bool *both; /* per source table: the target has it too */
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
    if (!vs->both[item])
        return FERRY_OK; /* the catalog digest reports the table missing */
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

/* A table whose rows differ: {"object": "table app.orders", "what": "rows 1200 vs 1199", ...,
 * "table", "source_rows", "target_rows", "same_content"}. */
static ferry_rc add_difference(dr_report *report, const char *table, const char *src_rows,
                               const char *tgt_rows, bool same_content)
{
    ferry_buf object = {0}, what = {0};
    ferry_buf_add(&object, "table ");
    ferry_buf_add(&object, table);
    if (strcmp(src_rows, tgt_rows) != 0) {
        ferry_buf_add(&what, "rows ");
        ferry_buf_add(&what, src_rows);
        ferry_buf_add(&what, " vs ");
        ferry_buf_add(&what, tgt_rows);
    } else {
        ferry_buf_add(&what, "content differs (checksum of every row)");
    }
    json_t *d = object.oom || what.oom
                    ? NULL
                    : json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "object", object.p, "what",
                                what.p, "table", table, "source_rows", src_rows, "target_rows",
                                tgt_rows, "same_content", same_content);
    ferry_buf_cleanup(&object);
    ferry_buf_cleanup(&what);
    return d != NULL ? dr_report_difference(report, d) : FERRY_ERR_NOMEM;
}

ferry_rc dr_verify_tables(dr_pool *pool, const dr_tables *source, dr_conn *tgt,
                          const dr_options *opts, dr_report *report, ferry_err *err)
{
    dr_tables target = {0};
    verify_state vs = {.tables = source, .opts = opts};
    bool *both = NULL;
    atomic_init(&vs.done, 0);
    ferry_rc rc = dr_tables_list(tgt, &target, err);
    if (rc != FERRY_OK)
        return rc;
    vs.sums = calloc(source->n > 0 ? source->n : 1, sizeof(sums));
    both = calloc(source->n > 0 ? source->n : 1, sizeof(bool));
    vs.both = both;
    if (vs.sums == NULL || both == NULL) {
        rc = ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
        goto out;
    }

    /* Tables on one side only are the catalog digest's to report (digest.c). */
    for (size_t i = 0; i < source->n; i++)
        for (size_t j = 0; j < target.n && !both[i]; j++)
            both[i] = strcmp(source->t[i].name, target.t[j].name) == 0;

    rc = dr_pool_run(pool, source->n, verify_one, &vs, &opts->stop, verify_tick, err);
    verify_tick(&vs);
    if (rc != FERRY_OK)
        goto out;
    uint64_t rows = 0;
    for (size_t i = 0; i < source->n; i++) {
        const sums *s = &vs.sums[i];
        if (!both[i])
            continue;
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
out:
    free(both);
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
    return rc;
}
