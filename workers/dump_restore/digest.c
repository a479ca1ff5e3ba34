/*
 * digest.c - source and target compared digest row by digest row (see digest.h).
 */
#include "digest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dr_sql_embedded.h"
#include "ferry/buf.h"

#define SHOWN_MAX 60 /* values longer than this are not repeated in "what" */

/* One digest row; the strings are borrowed from the rows of one side. how: 'e' exactly,
 * 'd' deparsed (compared between servers of the same major only), 's' the source's must be on
 * the target, which may hold more. */
typedef struct entry {
    const char *object, *what, *value;
    char how;
} entry;

typedef struct side {
    dr_rows *schema, *los, *seqs; /* seqs owned only when read here */
    const dr_rows *seq_view;      /* the sequences' rows used (seqs, or the caller's) */
    entry *e;
    size_t n;
} side;

static int entry_cmp(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    int c = strcmp(x->object, y->object);
    if (c == 0)
        c = strcmp(x->what, y->what);
    if (c == 0)
        c = strcmp(x->value, y->value);
    return c;
}

/* Appends the rows (object, what, value, how) of a digest query; NULL values say "none" and
 * are left out, as the other side's missing row says the same. */
static void add_rows(side *s, const dr_rows *rows)
{
    for (size_t i = 0; i < dr_rows_count(rows); i++) {
        const char *value = dr_rows_get(rows, i, 2), *how = dr_rows_get(rows, i, 3);
        if (value == NULL || dr_rows_get(rows, i, 0) == NULL || dr_rows_get(rows, i, 1) == NULL)
            continue;
        s->e[s->n++] = (entry){.object = dr_rows_get(rows, i, 0),
                               .what = dr_rows_get(rows, i, 1),
                               .value = value,
                               .how = how != NULL ? how[0] : 'e'};
    }
}

/* Reads one side's digests and sorts them by (object, what, value), byte order. */
static ferry_rc read_side(dr_conn *conn, const dr_rows *sequences, side *s, ferry_err *err)
{
    ferry_rc rc = dr_conn_exec(conn, "SET search_path = pg_catalog", err);
    if (rc == FERRY_OK)
        rc = dr_conn_query(conn, dr_sql_verify_schema, 0, NULL, &s->schema, err);
    if (rc == FERRY_OK)
        rc = dr_conn_query(conn, dr_sql_verify_large_objects, 0, NULL, &s->los, err);
    if (rc == FERRY_OK && sequences == NULL)
        rc = dr_conn_query(conn, dr_sql_sequences, 0, NULL, &s->seqs, err);
    if (rc != FERRY_OK)
        return rc;
    s->seq_view = sequences != NULL ? sequences : s->seqs;
    size_t n = dr_rows_count(s->schema) + dr_rows_count(s->los) + 2 * dr_rows_count(s->seq_view);
    s->e = calloc(n > 0 ? n : 1, sizeof(entry));
    if (s->e == NULL)
        return ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
    add_rows(s, s->schema);
    add_rows(s, s->los);
    for (size_t i = 0; i < dr_rows_count(s->seq_view); i++) {
        const char *object = dr_rows_get(s->seq_view, i, 3);
        const char *last = dr_rows_get(s->seq_view, i, 1), *called = dr_rows_get(s->seq_view, i, 2);
        if (object == NULL || last == NULL || called == NULL)
            continue;
        s->e[s->n++] = (entry){.object = object, .what = "last_value", .value = last, .how = 'e'};
        s->e[s->n++] = (entry){.object = object, .what = "is_called", .value = called, .how = 'e'};
    }
    qsort(s->e, s->n, sizeof(entry), entry_cmp);
    return FERRY_OK;
}

static void side_cleanup(side *s)
{
    dr_rows_free(s->schema);
    dr_rows_free(s->los);
    dr_rows_free(s->seqs);
    free(s->e);
}

static bool shown(const char *v)
{
    return v == NULL || (strlen(v) <= SHOWN_MAX && strchr(v, '\n') == NULL);
}

/* One difference: {"object", "what": "last_value 1200 vs 1", "source", "target"}; a value is
 * null where that side has none. what is the attribute; NULL says the whole object is on one
 * side only: the source's when src is not NULL ("missing on the target"), else the target's. */
static ferry_rc differ(dr_report *report, const char *object, const char *what, const char *src,
                       const char *tgt)
{
    ferry_buf text = {0};
    if (what == NULL) {
        ferry_buf_add(&text, src != NULL ? "missing on the target" : "only on the target");
    } else if (shown(src) && shown(tgt)) {
        ferry_buf_add(&text, what);
        ferry_buf_add(&text, " ");
        ferry_buf_add(&text, src != NULL ? src : "none");
        ferry_buf_add(&text, " vs ");
        ferry_buf_add(&text, tgt != NULL ? tgt : "none");
    } else {
        ferry_buf_add(&text, what);
        ferry_buf_add(&text, " differs");
    }
    json_t *d =
        text.oom ? NULL
                 : json_pack("{s:s, s:s, s:s?, s:s?}", "object", object, "what", text.p, "source",
                             what != NULL ? src : NULL, "target", what != NULL ? tgt : NULL);
    ferry_buf_cleanup(&text);
    return d != NULL ? dr_report_difference(report, d) : FERRY_ERR_NOMEM;
}

/* The end of the run of entries of s that share s->e[from]'s object. */
static size_t object_end(const side *s, size_t from)
{
    size_t k = from;
    while (k < s->n && strcmp(s->e[k].object, s->e[from].object) == 0)
        k++;
    return k;
}

/* The rows of one object present on both sides, compared attribute by attribute. */
static ferry_rc compare_object(const side *s, size_t i, size_t ie, const side *t, size_t j,
                               size_t je, bool same_major, dr_report *report)
{
    ferry_rc rc = FERRY_OK;
    const char *object = s->e[i].object;
    while (rc == FERRY_OK && (i < ie || j < je)) {
        int c = i == ie ? 1 : j == je ? -1 : strcmp(s->e[i].what, t->e[j].what);
        if (c < 0) {
            rc = differ(report, object, s->e[i].what, s->e[i].value, NULL);
            i++;
        } else if (c > 0) {
            if (t->e[j].how != 's')
                rc = differ(report, object, t->e[j].what, NULL, t->e[j].value);
            j++;
        } else {
            bool skip = s->e[i].how == 'd' && !same_major;
            if (!skip && strcmp(s->e[i].value, t->e[j].value) != 0)
                rc = differ(report, object, s->e[i].what, s->e[i].value, t->e[j].value);
            i++;
            j++;
        }
    }
    return rc;
}

/* An object found on one side only: one difference for it, but the database (on both sides by
 * definition) attribute by attribute, and rows the target may hold more of not at all. */
static ferry_rc one_sided(const side *x, size_t from, size_t end, bool on_source, dr_report *report)
{
    const char *object = x->e[from].object;
    bool whole = strcmp(object, "database") != 0;
    ferry_rc rc = FERRY_OK;
    for (size_t k = from; rc == FERRY_OK && k < end; k++) {
        if (!on_source && x->e[k].how == 's')
            continue;
        if (whole)
            return differ(report, object, NULL, on_source ? "" : NULL, on_source ? NULL : "");
        rc = differ(report, object, x->e[k].what, on_source ? x->e[k].value : NULL,
                    on_source ? NULL : x->e[k].value);
    }
    return rc;
}

ferry_rc dr_digest_compare(dr_conn *src, dr_conn *tgt, const dr_rows *src_sequences,
                           bool same_major, dr_report *report, ferry_err *err)
{
    side s = {0}, t = {0};
    ferry_rc rc = read_side(src, src_sequences, &s, err);
    if (rc == FERRY_OK)
        rc = read_side(tgt, NULL, &t, err);
    if (rc != FERRY_OK)
        goto out;
    size_t i = 0, j = 0;
    while (rc == FERRY_OK && (i < s.n || j < t.n)) {
        int c = i == s.n ? 1 : j == t.n ? -1 : strcmp(s.e[i].object, t.e[j].object);
        size_t ie = c <= 0 ? object_end(&s, i) : i, je = c >= 0 ? object_end(&t, j) : j;
        if (c < 0)
            rc = one_sided(&s, i, ie, true, report);
        else if (c > 0)
            rc = one_sided(&t, j, je, false, report);
        else
            rc = compare_object(&s, i, ie, &t, j, je, same_major, report);
        i = ie;
        j = je;
    }
    if (rc != FERRY_OK)
        rc = ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
out:
    side_cleanup(&s);
    side_cleanup(&t);
    return rc;
}
