/*
 * proof.c - the logical method's proof at the cutover (see proof.h).
 */
#include "proof.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dr_sql_embedded.h"
#include "ferry/buf.h"

/* The query comparing the rows with the keys of a JSON array ($1) in table rel, one answer per
 * key in the array's order: how many rows have it, and their content. The keys are the
 * primary key's or the replica identity index's columns, NOT NULL: each lookup uses the index.
 * *full: the table is REPLICA IDENTITY FULL (no index to look a row up by; compare it whole). */
static ferry_rc compare_sql(dr_conn *tgt, const char *rel, ferry_buf *sql, bool *full,
                            ferry_err *err)
{
    const char *params[] = {rel};
    dr_rows *cols = NULL;
    ferry_rc rc = dr_conn_query(tgt, dr_sql_proof_key_columns, 1, params, &cols, err);
    if (rc != FERRY_OK)
        return rc;
    if (dr_rows_count(cols) == 0) {
        dr_rows_free(cols);
        return ferry_err_set(err, FERRY_ERR_CONFLICT,
                             "target: table %s has no replica identity any more", rel);
    }
    *full = strcmp(dr_rows_get(cols, 0, 2), "t") == 0;
    ferry_buf_add(sql, "SELECT count(t.*), coalesce(md5(string_agg(t::text, '|' ORDER BY "
                       "t::text)), '') FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY "
                       "AS k(v, ord) LEFT JOIN ONLY ");
    ferry_buf_add(sql, rel);
    ferry_buf_add(sql, " AS t ON ");
    for (size_t i = 0; i < dr_rows_count(cols); i++)
        ferry_buf_addf(sql, "%st.%s = (k.v->>%zu)::%s", i > 0 ? " AND " : "",
                       dr_rows_get(cols, i, 0), i, dr_rows_get(cols, i, 1));
    ferry_buf_add(sql, " GROUP BY k.ord ORDER BY k.ord");
    dr_rows_free(cols);
    return sql->oom ? ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory") : FERRY_OK;
}

/* A difference in table rel ("public"."orders"), named as verify names tables
 * (public.orders). */
static ferry_rc differ(dr_conn *conn, dr_report *report, const char *rel, const char *what,
                       const char *src, const char *tgt, ferry_err *err)
{
    char object[300];
    dr_rows *name = NULL;
    const char *params[] = {rel};
    ferry_err ignored;
    if (dr_conn_query(conn,
                      "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN "
                      "pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1::regclass",
                      1, params, &name, &ignored) == FERRY_OK &&
        dr_rows_count(name) == 1)
        rel = dr_rows_get(name, 0, 0);
    (void)snprintf(object, sizeof(object), "table %s", rel);
    dr_rows_free(name);
    json_t *d = json_pack("{s:s, s:s, s:s?, s:s?}", "object", object, "what", what, "source", src,
                          "target", tgt);
    if (d == NULL || dr_report_difference(report, d) != FERRY_OK)
        return ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
    return FERRY_OK;
}

/* A whole table's count and checksum on both sides. */
static ferry_rc compare_whole(dr_conn *src, dr_conn *tgt, const char *rel, dr_report *report,
                              ferry_err *err)
{
    ferry_buf sql = {0};
    const char *brace = strstr(dr_sql_checksum, "{rel}");
    if (brace == NULL)
        return ferry_err_set(err, FERRY_ERR_INTERNAL, "checksum.sql has no {rel}");
    ferry_buf_addn(&sql, dr_sql_checksum, (size_t)(brace - dr_sql_checksum));
    ferry_buf_add(&sql, rel);
    ferry_buf_add(&sql, brace + 5);
    dr_rows *s = NULL, *t = NULL;
    ferry_rc rc = sql.oom ? ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory")
                          : dr_conn_query(src, sql.p, 0, NULL, &s, err);
    if (rc == FERRY_OK)
        rc = dr_conn_query(tgt, sql.p, 0, NULL, &t, err);
    if (rc == FERRY_OK && strcmp(dr_rows_get(s, 0, 0), dr_rows_get(t, 0, 0)) != 0)
        rc = differ(tgt, report, rel, "rows", dr_rows_get(s, 0, 0), dr_rows_get(t, 0, 0), err);
    else if (rc == FERRY_OK && strcmp(dr_rows_get(s, 0, 1), dr_rows_get(t, 0, 1)) != 0)
        rc = differ(tgt, report, rel, "content", NULL, NULL, err);
    dr_rows_free(s);
    dr_rows_free(t);
    ferry_buf_cleanup(&sql);
    return rc;
}

/* The touched rows of one table, page by page; a REPLICA IDENTITY FULL table whole. */
static ferry_rc compare_touched(dr_conn *src, dr_conn *tgt, const char *rel, dr_report *report,
                                uint64_t *keys, uint64_t *whole, ferry_err *err)
{
    ferry_buf sql = {0};
    char *after = NULL;
    bool full = false;
    ferry_rc rc = compare_sql(tgt, rel, &sql, &full, err);
    if (rc == FERRY_OK && full) {
        (*whole)++;
        ferry_buf_cleanup(&sql);
        return compare_whole(src, tgt, rel, report, err);
    }
    while (rc == FERRY_OK) {
        dr_rows *page = NULL, *s = NULL, *t = NULL;
        const char *params[] = {rel, after};
        rc = dr_conn_query(tgt, dr_sql_proof_keys, 2, params, &page, err);
        const char *array = rc == FERRY_OK ? dr_rows_get(page, 0, 0) : NULL;
        const char *last = rc == FERRY_OK ? dr_rows_get(page, 0, 1) : NULL;
        if (rc == FERRY_OK && last != NULL) {
            const char *arg[] = {array};
            rc = dr_conn_query(src, sql.p, 1, arg, &s, err);
            if (rc == FERRY_OK)
                rc = dr_conn_query(tgt, sql.p, 1, arg, &t, err);
            size_t n = dr_rows_count(s);
            if (rc == FERRY_OK && n != dr_rows_count(t))
                rc = ferry_err_set(err, FERRY_ERR_INTERNAL, "proof: pages of different lengths");
            for (size_t i = 0; rc == FERRY_OK && i < n; i++) {
                if (strcmp(dr_rows_get(s, i, 0), dr_rows_get(t, i, 0)) != 0)
                    rc = differ(tgt, report, rel,
                                "rows changed since the copy: a key's rows differ in number",
                                dr_rows_get(s, i, 0), dr_rows_get(t, i, 0), err);
                else if (strcmp(dr_rows_get(s, i, 1), dr_rows_get(t, i, 1)) != 0)
                    rc = differ(tgt, report, rel,
                                "rows changed since the copy: a row's content differs", NULL, NULL,
                                err);
            }
            *keys += n;
            free(after);
            after = strdup(last);
            if (after == NULL && rc == FERRY_OK)
                rc = ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
        }
        bool done = rc != FERRY_OK || last == NULL;
        dr_rows_free(page);
        dr_rows_free(s);
        dr_rows_free(t);
        if (done)
            break;
    }
    free(after);
    ferry_buf_cleanup(&sql);
    return rc;
}

ferry_rc dr_proof_touched(dr_conn *src, dr_conn *tgt, dr_report *report, uint64_t *keys,
                          uint64_t *whole, ferry_err *err)
{
    dr_rows *rels = NULL, *wholes = NULL;
    *keys = *whole = 0;
    ferry_rc rc =
        dr_conn_query(tgt,
                      "SELECT DISTINCT rel FROM _ferry.touched t WHERE NOT EXISTS "
                      "(SELECT 1 FROM _ferry.touched_whole w WHERE w.rel = t.rel) ORDER BY 1",
                      0, NULL, &rels, err);
    for (size_t i = 0; rc == FERRY_OK && i < dr_rows_count(rels); i++)
        rc = compare_touched(src, tgt, dr_rows_get(rels, i, 0), report, keys, whole, err);
    /* Truncated tables, and unlogged ones (copied whole at the finish). */
    if (rc == FERRY_OK) {
        const char *no_publication[] = {""};
        rc = dr_conn_query(src, dr_sql_replication_tables, 1, no_publication, &wholes, err);
    }
    dr_rows *truncated = NULL;
    if (rc == FERRY_OK)
        rc = dr_conn_query(tgt, "SELECT rel FROM _ferry.touched_whole ORDER BY 1", 0, NULL,
                           &truncated, err);
    for (size_t i = 0; rc == FERRY_OK && i < dr_rows_count(truncated); i++, (*whole)++)
        rc = compare_whole(src, tgt, dr_rows_get(truncated, i, 0), report, err);
    for (size_t i = 0; rc == FERRY_OK && i < dr_rows_count(wholes); i++) {
        if (strcmp(dr_rows_get(wholes, i, 2), "u") != 0)
            continue;
        rc = compare_whole(src, tgt, dr_rows_get(wholes, i, 0), report, err);
        (*whole)++;
    }
    dr_rows_free(truncated);
    dr_rows_free(wholes);
    dr_rows_free(rels);
    return rc;
}
