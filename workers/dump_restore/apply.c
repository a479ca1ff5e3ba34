/*
 * apply.c - a logical replication stream's changes applied to the target (see apply.h).
 */
#include "apply.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dr_sql_embedded.h"
#include "ferry/buf.h"

/* The first built-in type oid that is not fixed across servers (FirstNormalObjectId). */
#define FIRST_NORMAL_OID 16384u

/* A table the stream has described, with its names quoted for SQL. */
typedef struct rel_entry {
    dr_po_relation rel;
    char *qname;  /* "schema"."table" */
    char **qcols; /* "column", rel.n of them */
    bool *always; /* rel.n: an identity column GENERATED ALWAYS on the target */
    bool any_always;
} rel_entry;

/* A prepared statement, by its text. */
typedef struct stmt_entry {
    char *sql;
    char name[24];
} stmt_entry;

/* What a statement sent down the pipeline must answer. */
typedef enum expect_check {
    EX_ANY,      /* success */
    EX_ONE_ROW,  /* an update or delete: exactly one row */
    EX_POSITION, /* the position's update: one row, else another stream took over */
} expect_check;

typedef struct expect {
    uint8_t check; /* expect_check */
    uint8_t what;  /* 'I', 'U', 'D', 'T' for changes; 0 for the rest */
    int32_t rel;   /* index in rels, -1 none */
} expect;

struct dr_apply {
    dr_conn *tgt;  /* the apply's own connection, in pipeline mode */
    dr_conn *meta; /* catalog checks while the pipeline runs */
    char *slot;
    uint64_t skip_before; /* a transaction whose commit is before this is already applied */
    bool skipping;        /* inside such a transaction */
    bool in_source_txn;   /* between a Begin and its Commit */
    bool target_txn_open; /* BEGIN sent on the target */
    uint64_t committed_lsn, pending_lsn;
    int64_t committed_time_us, pending_time_us;
    uint64_t pending_txns, pending_changes;
    rel_entry *rels;
    size_t n_rels, cap_rels;
    stmt_entry *stmts; /* open addressing, cap_stmts a power of two */
    size_t n_stmts, cap_stmts;
    unsigned next_stmt;
    ferry_buf sql, arena;
    const char **params;
    expect *expects; /* sent and not yet answered: [head, n_expects) */
    size_t head, n_expects, cap_expects;
    bool sync_pending;
    dr_apply_stats stats;
};

/* ---- names ----------------------------------------------------------------------------------- */

static void add_ident(ferry_buf *b, const char *name)
{
    ferry_buf_add(b, "\"");
    for (const char *p = name; *p != '\0'; p++) {
        if (*p == '"')
            ferry_buf_add(b, "\"\"");
        else
            ferry_buf_addn(b, p, 1);
    }
    ferry_buf_add(b, "\"");
}

static char *quote_ident(const char *name)
{
    ferry_buf b = {0};
    add_ident(&b, name);
    return ferry_buf_take(&b);
}

static void rel_entry_cleanup(rel_entry *e)
{
    for (uint16_t i = 0; e->qcols != NULL && i < e->rel.n; i++)
        free(e->qcols[i]);
    free(e->qcols);
    free(e->always);
    free(e->qname);
    dr_po_relation_cleanup(&e->rel);
}

static rel_entry *rel_find(dr_apply *a, uint32_t relid)
{
    for (size_t i = 0; i < a->n_rels; i++)
        if (a->rels[i].rel.relid == relid)
            return &a->rels[i];
    return NULL;
}

/* ---- life ------------------------------------------------------------------------------------ */

ferry_rc dr_apply_new(dr_conn *tgt, dr_conn *meta, const char *slot, uint64_t start_lsn,
                      dr_apply **out, ferry_err *err)
{
    *out = NULL;
    dr_apply *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
    a->tgt = tgt;
    a->meta = meta;
    a->slot = strdup(slot);
    a->params = calloc(DR_PO_MAX_COLS * 2, sizeof(char *));
    a->cap_stmts = 256;
    a->stmts = calloc(a->cap_stmts, sizeof(stmt_entry));
    if (a->slot == NULL || a->params == NULL || a->stmts == NULL) {
        dr_apply_free(a);
        return ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
    }
    a->skip_before = start_lsn;
    a->committed_lsn = start_lsn;
    ferry_rc rc = dr_conn_exec(tgt, dr_sql_session, err);
    if (rc == FERRY_OK) {
        rc = dr_conn_exec(tgt, "SET session_replication_role = replica", err);
        if (rc == FERRY_ERR_PERMISSION)
            rc = ferry_err_set(err, rc,
                               "target: applying changes needs session_replication_role (so that "
                               "triggers and foreign keys do not act twice): GRANT SET ON "
                               "PARAMETER session_replication_role TO the target's user "
                               "(PostgreSQL 15), or use a superuser");
    }
    if (rc == FERRY_OK)
        rc = dr_conn_exec(tgt, "SET synchronous_commit = on", err);
    if (rc == FERRY_OK)
        rc = dr_conn_exec(meta, dr_sql_session, err);
    if (rc == FERRY_OK)
        rc = dr_conn_pipeline_enter(tgt, err);
    if (rc != FERRY_OK) {
        dr_apply_free(a);
        return rc;
    }
    *out = a;
    return FERRY_OK;
}

void dr_apply_free(dr_apply *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < a->n_rels; i++)
        rel_entry_cleanup(&a->rels[i]);
    free(a->rels);
    for (size_t i = 0; a->stmts != NULL && i < a->cap_stmts; i++)
        free(a->stmts[i].sql);
    free(a->stmts);
    ferry_buf_cleanup(&a->sql);
    ferry_buf_cleanup(&a->arena);
    free(a->expects);
    free(a->params);
    free(a->slot);
    free(a);
}

/* ---- relations ------------------------------------------------------------------------------- */

/* What differs between two descriptions of one table; NULL when nothing does. */
static const char *relation_change(const dr_po_relation *was, const dr_po_relation *now)
{
    if (strcmp(was->nspname, now->nspname) != 0 || strcmp(was->relname, now->relname) != 0)
        return "it was renamed";
    if (was->replident != now->replident)
        return "its replica identity changed";
    if (was->n != now->n)
        return "columns were added or dropped";
    for (uint16_t i = 0; i < now->n; i++) {
        if (strcmp(was->cols[i].name, now->cols[i].name) != 0)
            return "a column was renamed, added or dropped";
        if (was->cols[i].type_oid != now->cols[i].type_oid ||
            was->cols[i].typmod != now->cols[i].typmod)
            return "a column's type changed";
        if (was->cols[i].flags != now->cols[i].flags)
            return "its key changed";
    }
    return NULL;
}

/* The target's table must take the stream's rows as they come. always (rel->n entries) gets
 * which columns are identities GENERATED ALWAYS. */
static ferry_rc relation_check_target(dr_apply *a, const dr_po_relation *rel, bool *always,
                                      ferry_err *err)
{
    const char *params[] = {rel->nspname, rel->relname};
    dr_rows *cols = NULL;
    ferry_rc rc = dr_conn_query(a->meta, dr_sql_replication_columns, 2, params, &cols, err);
    if (rc != FERRY_OK)
        return rc;
    size_t n = dr_rows_count(cols);
    if (n == 0)
        rc = ferry_err_set(err, FERRY_ERR_CONFLICT,
                           "DDL on the source during replication: table %s.%s is not on the "
                           "target (created after the copy began); start the environment over",
                           rel->nspname, rel->relname);
    else if (n != rel->n)
        rc = ferry_err_set(err, FERRY_ERR_CONFLICT,
                           "DDL on the source during replication: table %s.%s has %u columns "
                           "on the source and %zu on the target; start the environment over",
                           rel->nspname, rel->relname, (unsigned)rel->n, n);
    for (size_t i = 0; rc == FERRY_OK && i < n; i++) {
        const dr_po_column *c = &rel->cols[i];
        const char *name = dr_rows_get(cols, i, 0);
        uint32_t type = (uint32_t)strtoul(dr_rows_get(cols, i, 1), NULL, 10);
        if (strcmp(name, c->name) != 0 || (c->type_oid < FIRST_NORMAL_OID && type != c->type_oid))
            rc = ferry_err_set(err, FERRY_ERR_CONFLICT,
                               "DDL on the source during replication: column %zu of %s.%s is "
                               "\"%s\" on the source and \"%s\" (%s) on the target; start the "
                               "environment over",
                               i + 1, rel->nspname, rel->relname, c->name, name,
                               dr_rows_get(cols, i, 2));
        else
            always[i] = strcmp(dr_rows_get(cols, i, 3), "a") == 0;
    }
    dr_rows_free(cols);
    return rc;
}

static ferry_rc relation_take(dr_apply *a, dr_po_msg *msg, ferry_err *err)
{
    dr_po_relation *rel = &msg->relation;
    rel_entry *e = rel_find(a, rel->relid);
    if (e != NULL) {
        const char *what = relation_change(&e->rel, rel);
        if (what != NULL)
            return ferry_err_set(err, FERRY_ERR_CONFLICT,
                                 "DDL on the source during replication: table %s.%s changed (%s); "
                                 "start the environment over",
                                 e->rel.nspname, e->rel.relname, what);
        return FERRY_OK; /* described again, unchanged (a new session, a cache flush) */
    }
    bool *always = calloc(rel->n > 0 ? rel->n : 1, sizeof(bool));
    if (always == NULL)
        return ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
    ferry_rc rc = relation_check_target(a, rel, always, err);
    if (rc != FERRY_OK) {
        free(always);
        return rc;
    }
    if (a->n_rels == a->cap_rels) {
        size_t cap = a->cap_rels > 0 ? a->cap_rels * 2 : 32;
        rel_entry *p = realloc(a->rels, cap * sizeof(*p));
        if (p == NULL) {
            free(always);
            return ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
        }
        a->rels = p;
        a->cap_rels = cap;
    }
    e = &a->rels[a->n_rels];
    memset(e, 0, sizeof(*e));
    e->always = always;
    for (uint16_t i = 0; i < rel->n; i++)
        e->any_always = e->any_always || always[i];
    ferry_buf q = {0};
    add_ident(&q, rel->nspname);
    ferry_buf_add(&q, ".");
    add_ident(&q, rel->relname);
    e->qname = ferry_buf_take(&q);
    e->qcols = calloc(rel->n > 0 ? rel->n : 1, sizeof(char *));
    bool oom = e->qname == NULL || e->qcols == NULL;
    for (uint16_t i = 0; !oom && i < rel->n; i++) {
        e->qcols[i] = quote_ident(rel->cols[i].name);
        oom = e->qcols[i] == NULL;
    }
    e->rel = *rel;
    memset(rel, 0, sizeof(*rel)); /* taken */
    if (oom) {
        rel_entry_cleanup(e);
        return ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
    }
    a->n_rels++;
    return FERRY_OK;
}

/* ---- the pipeline ------------------------------------------------------------------------- */

static const char *what_name(uint8_t what)
{
    switch (what) {
    case 'I':
        return "insert";
    case 'U':
        return "update";
    case 'D':
        return "delete";
    case 'T':
        return "truncate";
    default:
        return "statement";
    }
}

/* An error a statement answered, said in the user's terms. */
static ferry_rc statement_fail(dr_apply *a, const expect *e, ferry_rc rc, ferry_err *err)
{
    const char *table = e != NULL && e->rel >= 0 ? a->rels[e->rel].qname : "a table";
    if (rc == FERRY_ERR_INVALID && strstr(err->msg, "SQLSTATE 23") != NULL && e != NULL &&
        e->what != 0) {
        char msg[sizeof(err->msg)];
        (void)snprintf(msg, sizeof(msg), "%s", err->msg);
        return ferry_err_set(err, FERRY_ERR_CONFLICT,
                             "the target is not the source's copy: the %s of a row of %s "
                             "conflicts there (%s)",
                             what_name(e->what), table, msg);
    }
    return rc;
}

/* The answer to e: affected rows where one is expected. */
static ferry_rc check_result(dr_apply *a, const expect *e, uint64_t affected, ferry_err *err)
{
    if (e->check == EX_ONE_ROW && affected != 1)
        return ferry_err_set(err, FERRY_ERR_CONFLICT,
                             "the target is not the source's copy: %s %s %s %s found %" PRIu64
                             " rows with its key there, not 1",
                             e->what == 'U' ? "an" : "a", what_name(e->what),
                             e->what == 'U' ? "of" : "from", a->rels[e->rel].qname, affected);
    if (e->check == EX_POSITION && affected != 1) {
        char was[24];
        dr_po_lsn_format(a->committed_lsn, was);
        return ferry_err_set(err, FERRY_ERR_CONFLICT,
                             "target: the replication's position (_ferry.replication, slot %s) "
                             "is no longer %s: another stream took over; this one's changes are "
                             "not kept",
                             a->slot, was);
    }
    return FERRY_OK;
}

/* Reads the answers that have arrived (all of them, up to the batch's end, when wait). */
static ferry_rc collect(dr_apply *a, bool wait, ferry_err *err)
{
    while (a->head < a->n_expects || a->sync_pending) {
        dr_pipe_event ev;
        uint64_t affected = 0;
        const expect *e = a->head < a->n_expects ? &a->expects[a->head] : NULL;
        ferry_rc rc = dr_conn_pipeline_next(a->tgt, wait, &ev, &affected, err);
        if (rc != FERRY_OK)
            return statement_fail(a, e, rc, err);
        switch (ev) {
        case DR_PIPE_NONE:
            return FERRY_OK;
        case DR_PIPE_RESULT:
            if (e != NULL) {
                rc = check_result(a, e, affected, err);
                if (rc != FERRY_OK)
                    return rc;
            }
            break;
        case DR_PIPE_END:
            if (e != NULL)
                a->head++;
            break;
        case DR_PIPE_SYNC:
            a->sync_pending = false;
            a->head = a->n_expects = 0;
            break;
        case DR_PIPE_ABORTED:
            return ferry_err_set(err, FERRY_ERR_PROTOCOL, "target: the apply's batch was aborted");
        }
    }
    a->head = a->n_expects = 0;
    return FERRY_OK;
}

static ferry_rc expect_push(dr_apply *a, expect_check check, uint8_t what, int32_t rel,
                            ferry_err *err)
{
    if (a->n_expects == a->cap_expects && a->head > 0) {
        /* Drop the answered ones: a source transaction of millions of rows keeps only the
         * statements still in flight. */
        memmove(a->expects, a->expects + a->head, (a->n_expects - a->head) * sizeof(expect));
        a->n_expects -= a->head;
        a->head = 0;
    }
    if (a->n_expects == a->cap_expects) {
        size_t cap = a->cap_expects > 0 ? a->cap_expects * 2 : 1024;
        expect *p = realloc(a->expects, cap * sizeof(*p));
        if (p == NULL)
            return ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
        a->expects = p;
        a->cap_expects = cap;
    }
    a->expects[a->n_expects++] = (expect){.check = check, .what = what, .rel = rel};
    return FERRY_OK;
}

/* Sends a statement (prepared name, or sql) down the pipeline and reads what has arrived. */
static ferry_rc send(dr_apply *a, const char *name, const char *sql, int n, expect_check check,
                     uint8_t what, int32_t rel, ferry_err *err)
{
    ferry_rc rc = expect_push(a, check, what, rel, err);
    if (rc == FERRY_OK)
        rc = dr_conn_pipeline_send(a->tgt, name, sql, n, a->params, err);
    if (rc == FERRY_OK)
        rc = collect(a, false, err);
    return rc;
}

/* ---- statements ------------------------------------------------------------------------------ */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s != '\0'; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ULL;
    return h;
}

static ferry_rc stmts_grow(dr_apply *a, ferry_err *err)
{
    size_t cap = a->cap_stmts * 2;
    stmt_entry *t = calloc(cap, sizeof(*t));
    if (t == NULL)
        return ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < a->cap_stmts; i++) {
        if (a->stmts[i].sql == NULL)
            continue;
        size_t j = (size_t)hash_str(a->stmts[i].sql) & (cap - 1);
        while (t[j].sql != NULL)
            j = (j + 1) & (cap - 1);
        t[j] = a->stmts[i];
    }
    free(a->stmts);
    a->stmts = t;
    a->cap_stmts = cap;
    return FERRY_OK;
}

/* Sends a->sql with n parameters (a->params) as a prepared statement, preparing it once. */
static ferry_rc run(dr_apply *a, int n, expect_check check, uint8_t what, const rel_entry *e,
                    ferry_err *err)
{
    if (a->sql.oom || a->arena.oom)
        return ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
    if ((a->n_stmts + 1) * 2 > a->cap_stmts) {
        ferry_rc rc = stmts_grow(a, err);
        if (rc != FERRY_OK)
            return rc;
    }
    int32_t rel = (int32_t)(e - a->rels);
    size_t j = (size_t)hash_str(a->sql.p) & (a->cap_stmts - 1);
    while (a->stmts[j].sql != NULL && strcmp(a->stmts[j].sql, a->sql.p) != 0)
        j = (j + 1) & (a->cap_stmts - 1);
    stmt_entry *s = &a->stmts[j];
    if (s->sql == NULL) {
        char name[24];
        (void)snprintf(name, sizeof(name), "ferry_apply_%u", a->next_stmt++);
        ferry_rc rc = expect_push(a, EX_ANY, what, rel, err);
        if (rc == FERRY_OK)
            rc = dr_conn_pipeline_prepare(a->tgt, name, a->sql.p, n, err);
        if (rc != FERRY_OK)
            return rc;
        s->sql = strdup(a->sql.p);
        if (s->sql == NULL)
            return ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
        memcpy(s->name, name, sizeof(name));
        a->n_stmts++;
    }
    return send(a, s->name, NULL, n, check, what, rel, err);
}

/* Appends value v as parameter $(n+1): its text, NUL-terminated, in the arena; NULL for SQL
 * NULL. Offsets are kept in params until params_fix() turns them into pointers (the arena may
 * move while it grows). */
static void param_add(dr_apply *a, int n, const dr_po_value *v)
{
    if (v->kind == DR_PO_NULL) {
        a->params[n] = NULL;
        return;
    }
    a->params[n] = (const char *)(uintptr_t)(a->arena.len + 1); /* +1: 0 means NULL */
    ferry_buf_addn(&a->arena, v->data, v->len);
    ferry_buf_addn(&a->arena, "", 1);
}

static void params_fix(dr_apply *a, int n)
{
    for (int i = 0; i < n; i++)
        if (a->params[i] != NULL)
            a->params[i] = a->arena.p + ((uintptr_t)a->params[i] - 1);
}

/* Appends a string as parameter $(n+1), as param_add does for a value. */
static void param_str(dr_apply *a, int n, const char *text)
{
    dr_po_value v = {
        .kind = DR_PO_TEXT, .len = (uint32_t)strlen(text), .data = (const uint8_t *)text};
    param_add(a, n, &v);
}

/* Records that the row with t's key changed (_ferry.touched), in the change's transaction, for
 * the proof at the cutover; a key the apply cannot name (an unchanged TOASTed value in a
 * REPLICA IDENTITY FULL row) marks the whole table instead (_ferry.touched_whole). */
static ferry_rc touch(dr_apply *a, const rel_entry *e, const dr_po_tuple *t, ferry_err *err)
{
    bool whole = false;
    int n = 0;
    ferry_buf_reset(&a->sql);
    ferry_buf_reset(&a->arena);
    param_str(a, n++, e->qname);
    ferry_buf_add(&a->sql, "INSERT INTO _ferry.touched (rel, key) VALUES ($1, jsonb_build_array(");
    for (uint16_t i = 0; i < t->n && i < e->rel.n; i++) {
        if ((e->rel.cols[i].flags & 1) == 0)
            continue;
        if (t->values[i].kind == DR_PO_UNCHANGED)
            whole = true;
        ferry_buf_addf(&a->sql, "%s$%d::text", n > 1 ? ", " : "", n + 1);
        param_add(a, n++, &t->values[i]);
    }
    ferry_buf_add(&a->sql, ")) ON CONFLICT DO NOTHING");
    if (whole || n == 1) {
        n = 1;
        ferry_buf_reset(&a->sql);
        ferry_buf_add(&a->sql, "INSERT INTO _ferry.touched_whole (rel) VALUES ($1) "
                               "ON CONFLICT DO NOTHING");
    }
    params_fix(a, n);
    return run(a, n, EX_ANY, 0, e, err);
}

/* The WHERE clause finding the row a change is about: the key's columns from old (or from the
 * new row when the key did not change); with a whole old row (REPLICA IDENTITY FULL), every
 * column, and one row of any duplicates. Adds the parameters after the first n; returns the
 * new count. */
static int add_where(dr_apply *a, const rel_entry *e, const dr_po_tuple *key, bool full, int n)
{
    const char *sep = "";
    if (full) {
        ferry_buf_addf(&a->sql, " WHERE ctid = (SELECT ctid FROM %s WHERE ", e->qname);
    } else {
        ferry_buf_add(&a->sql, " WHERE ");
    }
    for (uint16_t i = 0; i < key->n && i < e->rel.n; i++) {
        const dr_po_value *v = &key->values[i];
        if ((e->rel.cols[i].flags & 1) == 0 || v->kind == DR_PO_UNCHANGED)
            continue;
        if (!full && v->kind == DR_PO_NULL)
            continue; /* a key column is never NULL; pgoutput sends the others as NULL */
        ferry_buf_addf(&a->sql, "%s%s %s $%d", sep, e->qcols[i],
                       full ? "IS NOT DISTINCT FROM" : "=", n + 1);
        param_add(a, n++, v);
        sep = " AND ";
    }
    if (sep[0] == '\0')
        ferry_buf_add(&a->sql, "false");
    if (full)
        ferry_buf_add(&a->sql, " LIMIT 1)");
    return n;
}

static ferry_rc apply_insert(dr_apply *a, const rel_entry *e, const dr_po_msg *msg, ferry_err *err)
{
    const dr_po_tuple *t = &msg->new_tuple;
    int n = 0;
    ferry_buf_addf(&a->sql, "INSERT INTO %s (", e->qname);
    for (uint16_t i = 0; i < t->n && i < e->rel.n; i++)
        ferry_buf_addf(&a->sql, "%s%s", i > 0 ? ", " : "", e->qcols[i]);
    /* The source's values, identities GENERATED ALWAYS too (as pg_restore's COPY does). */
    ferry_buf_add(&a->sql, e->any_always ? ") OVERRIDING SYSTEM VALUE VALUES (" : ") VALUES (");
    for (uint16_t i = 0; i < t->n && i < e->rel.n; i++) {
        ferry_buf_addf(&a->sql, "%s$%d", i > 0 ? ", " : "", n + 1);
        param_add(a, n++, &t->values[i]);
    }
    ferry_buf_add(&a->sql, ")");
    params_fix(a, n);
    a->stats.inserts++;
    ferry_rc rc = run(a, n, EX_ANY, 'I', e, err);
    return rc == FERRY_OK ? touch(a, e, t, err) : rc;
}

/* Whether an update's old row (sent when its key changed, or for REPLICA IDENTITY FULL) holds
 * another value than its new row in column i. */
static bool always_changed(const dr_po_msg *msg, uint16_t i)
{
    if (msg->old_kind == 0 || i >= msg->old_tuple.n)
        return false;
    const dr_po_value *o = &msg->old_tuple.values[i], *v = &msg->new_tuple.values[i];
    if (o->kind != v->kind)
        return o->kind != DR_PO_NULL || msg->old_kind == 'O';
    return o->len != v->len || (o->len > 0 && memcmp(o->data, v->data, o->len) != 0);
}

static ferry_rc apply_update(dr_apply *a, const rel_entry *e, const dr_po_msg *msg, ferry_err *err)
{
    const dr_po_tuple *t = &msg->new_tuple;
    int n = 0;
    bool any = false;
    ferry_buf_addf(&a->sql, "UPDATE %s SET ", e->qname);
    for (uint16_t i = 0; i < t->n && i < e->rel.n; i++) {
        /* An unchanged TOASTed value was not resent: the target's is the same; leave it. */
        if (t->values[i].kind == DR_PO_UNCHANGED)
            continue;
        /* An identity GENERATED ALWAYS cannot be set by an UPDATE: it must be unchanged. */
        if (e->always[i]) {
            if (always_changed(msg, i))
                return ferry_err_set(err, FERRY_ERR_CONFLICT,
                                     "%s: an update changed the identity column %s, which is "
                                     "GENERATED ALWAYS: the logical method cannot apply that; "
                                     "start the environment over with dump_restore",
                                     e->qname, e->qcols[i]);
            continue;
        }
        ferry_buf_addf(&a->sql, "%s%s = $%d", any ? ", " : "", e->qcols[i], n + 1);
        param_add(a, n++, &t->values[i]);
        any = true;
    }
    if (!any)
        return FERRY_OK; /* only unchanged TOASTed values: nothing to write */
    const dr_po_tuple *key = msg->old_kind != 0 ? &msg->old_tuple : t;
    n = add_where(a, e, key, msg->old_kind == 'O', n);
    params_fix(a, n);
    a->stats.updates++;
    ferry_rc rc = run(a, n, EX_ONE_ROW, 'U', e, err);
    if (rc == FERRY_OK && msg->old_kind != 0)
        rc = touch(a, e, &msg->old_tuple, err); /* the row as it was: its key changed */
    return rc == FERRY_OK ? touch(a, e, t, err) : rc;
}

static ferry_rc apply_delete(dr_apply *a, const rel_entry *e, const dr_po_msg *msg, ferry_err *err)
{
    ferry_buf_addf(&a->sql, "DELETE FROM %s", e->qname);
    int n = add_where(a, e, &msg->old_tuple, msg->old_kind == 'O', 0);
    params_fix(a, n);
    a->stats.deletes++;
    ferry_rc rc = run(a, n, EX_ONE_ROW, 'D', e, err);
    return rc == FERRY_OK ? touch(a, e, &msg->old_tuple, err) : rc;
}

static ferry_rc apply_truncate(dr_apply *a, const dr_po_msg *msg, ferry_err *err)
{
    ferry_buf_add(&a->sql, "TRUNCATE ONLY ");
    for (uint32_t i = 0; i < msg->n_relids; i++) {
        const rel_entry *e = rel_find(a, msg->relids[i]);
        if (e == NULL)
            return ferry_err_set(err, FERRY_ERR_PROTOCOL,
                                 "pgoutput: a truncate of relation %" PRIu32
                                 " the stream never described",
                                 msg->relids[i]);
        ferry_buf_addf(&a->sql, "%s%s", i > 0 ? ", " : "", e->qname);
    }
    if (msg->truncate_options & 2)
        ferry_buf_add(&a->sql, " RESTART IDENTITY");
    if (msg->truncate_options & 1)
        ferry_buf_add(&a->sql, " CASCADE");
    if (a->sql.oom)
        return ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
    a->stats.truncates++;
    ferry_rc rc = send(a, NULL, a->sql.p, 0, EX_ANY, 'T', -1, err);
    /* A truncated table is compared whole at the cutover. */
    for (uint32_t i = 0; rc == FERRY_OK && i < msg->n_relids; i++) {
        const rel_entry *e = rel_find(a, msg->relids[i]);
        if (e == NULL)
            break; /* checked above: every relation was described */
        ferry_buf_reset(&a->sql);
        ferry_buf_reset(&a->arena);
        param_str(a, 0, e->qname);
        ferry_buf_add(&a->sql, "INSERT INTO _ferry.touched_whole (rel) VALUES ($1) "
                               "ON CONFLICT DO NOTHING");
        params_fix(a, 1);
        rc = run(a, 1, EX_ANY, 0, e, err);
    }
    return rc;
}

/* ---- the stream ------------------------------------------------------------------------------ */

static ferry_rc change(dr_apply *a, dr_po_msg *msg, ferry_err *err)
{
    if (!a->in_source_txn)
        return ferry_err_set(err, FERRY_ERR_PROTOCOL, "pgoutput: a change outside a transaction");
    if (a->skipping) {
        a->stats.skipped++;
        return FERRY_OK;
    }
    if (!a->target_txn_open) {
        ferry_rc rc = send(a, NULL, "BEGIN", 0, EX_ANY, 0, -1, err);
        if (rc != FERRY_OK)
            return rc;
        a->target_txn_open = true;
    }
    ferry_buf_reset(&a->sql);
    ferry_buf_reset(&a->arena);
    a->pending_changes++;
    if (msg->kind == DR_PO_TRUNCATE)
        return apply_truncate(a, msg, err);
    const rel_entry *e = rel_find(a, msg->relid);
    if (e == NULL)
        return ferry_err_set(
            err, FERRY_ERR_PROTOCOL,
            "pgoutput: a change of relation %" PRIu32 " the stream never described", msg->relid);
    switch (msg->kind) {
    case DR_PO_INSERT:
        return apply_insert(a, e, msg, err);
    case DR_PO_UPDATE:
        return apply_update(a, e, msg, err);
    default:
        return apply_delete(a, e, msg, err);
    }
}

ferry_rc dr_apply_message(dr_apply *a, dr_po_msg *msg, ferry_err *err)
{
    switch (msg->kind) {
    case DR_PO_BEGIN:
        if (a->in_source_txn)
            return ferry_err_set(err, FERRY_ERR_PROTOCOL, "pgoutput: a Begin inside a transaction");
        a->in_source_txn = true;
        /* Its commit is at msg->lsn: one before the recorded position is on the target. */
        a->skipping = msg->lsn < a->skip_before;
        return FERRY_OK;
    case DR_PO_COMMIT:
        if (!a->in_source_txn)
            return ferry_err_set(err, FERRY_ERR_PROTOCOL, "pgoutput: a Commit without a Begin");
        a->in_source_txn = false;
        if (a->skipping) {
            a->skipping = false;
            return FERRY_OK;
        }
        a->pending_lsn = msg->end_lsn;
        a->pending_time_us = msg->time_us;
        a->pending_txns++;
        a->stats.transactions++;
        return FERRY_OK;
    case DR_PO_RELATION:
        return relation_take(a, msg, err);
    case DR_PO_INSERT:
    case DR_PO_UPDATE:
    case DR_PO_DELETE:
    case DR_PO_TRUNCATE:
        return change(a, msg, err);
    case DR_PO_ORIGIN:
    case DR_PO_TYPE:
    case DR_PO_MESSAGE:
        return FERRY_OK; /* nothing to apply: types are checked by name with their tables */
    }
    return ferry_err_set(err, FERRY_ERR_PROTOCOL, "pgoutput: unexpected message '%c'",
                         (char)msg->kind);
}

ferry_rc dr_apply_flush(dr_apply *a, ferry_err *err)
{
    if (a->pending_txns == 0)
        return collect(a, false, err);
    ferry_rc rc = FERRY_OK;
    if (!a->target_txn_open) {
        /* Transactions without a change for the target (other tables, or all skipped). */
        rc = send(a, NULL, "BEGIN", 0, EX_ANY, 0, -1, err);
        if (rc != FERRY_OK)
            return rc;
        a->target_txn_open = true;
    }
    char lsn[24], at[32], was[24];
    dr_po_lsn_format(a->pending_lsn, lsn);
    dr_po_lsn_format(a->committed_lsn, was);
    (void)snprintf(at, sizeof(at), "%" PRId64, a->pending_time_us);
    a->params[0] = a->slot;
    a->params[1] = lsn;
    a->params[2] = at;
    a->params[3] = was;
    /* Only from the position this stream started from or last wrote: another stream that took
     * over (this one stalled past its lease) has moved it, and its changes stand, not ours. */
    rc = send(a, NULL,
              "UPDATE _ferry.replication SET lsn = $2::pg_lsn, applied_at = now(), "
              "source_commit_at = timestamptz '2000-01-01 00:00:00+00' + "
              "$3::bigint * interval '1 microsecond' "
              "WHERE slot = $1 AND lsn = $4::pg_lsn",
              4, EX_POSITION, 0, -1, err);
    if (rc == FERRY_OK)
        rc = send(a, NULL, "COMMIT", 0, EX_ANY, 0, -1, err);
    if (rc == FERRY_OK)
        rc = dr_conn_pipeline_sync(a->tgt, err);
    if (rc == FERRY_OK) {
        a->sync_pending = true;
        rc = collect(a, true, err);
    }
    a->target_txn_open = false;
    if (rc != FERRY_OK)
        return rc; /* the connection rolls back; nothing is recorded as committed */
    a->committed_lsn = a->pending_lsn;
    a->committed_time_us = a->pending_time_us;
    a->skip_before = a->committed_lsn;
    a->pending_txns = a->pending_changes = 0;
    return FERRY_OK;
}

uint64_t dr_apply_committed_lsn(const dr_apply *a)
{
    return a->committed_lsn;
}

int64_t dr_apply_committed_time_us(const dr_apply *a)
{
    return a->committed_time_us;
}

bool dr_apply_in_transaction(const dr_apply *a)
{
    return a->in_source_txn;
}

uint64_t dr_apply_pending_transactions(const dr_apply *a)
{
    return a->pending_txns;
}

uint64_t dr_apply_pending_changes(const dr_apply *a)
{
    return a->pending_changes;
}

const dr_apply_stats *dr_apply_stats_get(const dr_apply *a)
{
    return &a->stats;
}
