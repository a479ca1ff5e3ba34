/*
 * target.c - the target's side of a copy's start and end (see target.h).
 */
#include "target.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dr_sql_embedded.h"
#include "ferry/buf.h"
#include "ferry/clock.h"
#include "ferry/log.h"
#include "pgoutput.h"

ferry_rc dr_target_check_free(dr_conn *tgt, ferry_err *err)
{
    dr_rows *rows = NULL;
    ferry_rc rc = dr_conn_query(tgt, dr_sql_target_in_use, 0, NULL, &rows, err);
    if (rc != FERRY_OK)
        return rc;
    long sessions = strtol(dr_rows_get(rows, 0, 0), NULL, 10);
    if (sessions > 0) {
        rc = ferry_err_set(err, FERRY_ERR_BUSY,
                           "target: the database is in use by %ld other session%s (%s): stop the "
                           "target app before copying onto it",
                           sessions, sessions == 1 ? "" : "s", dr_rows_get(rows, 0, 1));
        dr_rows_free(rows);
        return rc;
    }
    dr_rows_free(rows);
    rc = dr_conn_query(tgt, dr_sql_target_leftovers, 0, NULL, &rows, err);
    dr_rows_free(rows);
    return rc;
}

ferry_rc dr_target_check_overwrite(dr_conn *tgt, bool overwrite, ferry_err *err)
{
    if (overwrite)
        return FERRY_OK;
    dr_rows *rows = NULL;
    ferry_buf what = {0};
    ferry_rc rc = dr_conn_query(tgt, dr_sql_target_data, 0, NULL, &rows, err);
    if (rc != FERRY_OK)
        return rc;
    long tables = strtol(dr_rows_get(rows, 0, 0), NULL, 10);
    long objects = strtol(dr_rows_get(rows, 0, 2), NULL, 10);
    bool marked = strcmp(dr_rows_get(rows, 0, 3), "t") == 0;
    if (marked || (tables == 0 && objects == 0))
        goto out;
    char n[64];
    if (tables > 0) {
        (void)snprintf(n, sizeof(n), "rows in %ld table%s: ", tables, tables == 1 ? "" : "s");
        ferry_buf_add(&what, n);
        ferry_buf_add(&what, dr_rows_get(rows, 0, 1));
        ferry_buf_add(&what, tables > 5 ? ", ..." : "");
    }
    if (objects > 0) {
        (void)snprintf(n, sizeof(n), "%s%ld large object%s", tables > 0 ? "; " : "", objects,
                       objects == 1 ? "" : "s");
        ferry_buf_add(&what, n);
    }
    rc = ferry_err_set(err, FERRY_ERR_CONFLICT,
                       "target: the database holds data Ferry did not write (%s); a copy would "
                       "replace it: pass overwrite (--overwrite) to allow that",
                       what.oom ? "..." : what.p);
out:
    ferry_buf_cleanup(&what);
    dr_rows_free(rows);
    return rc;
}

ferry_rc dr_target_check_roles(dr_conn *src, dr_conn *tgt, ferry_err *err)
{
    dr_rows *roles = NULL, *rows = NULL;
    ferry_rc rc = dr_conn_query(src, dr_sql_source_roles, 0, NULL, &roles, err);
    if (rc == FERRY_OK) {
        const char *params[] = {dr_rows_get(roles, 0, 0)};
        rc = dr_conn_query(tgt, dr_sql_target_roles, 1, params, &rows, err);
    }
    if (rc != FERRY_OK)
        goto out;
    const char *missing = dr_rows_get(rows, 0, 0), *unusable = dr_rows_get(rows, 0, 1),
               *user = dr_rows_get(rows, 0, 2);
    if (missing[0] != '\0')
        rc = ferry_err_set(err, FERRY_ERR_CONFIG,
                           "target: the source's objects are owned by or granted to roles the "
                           "target server lacks: %s; create them there first (CREATE ROLE, or "
                           "pg_dumpall --roles-only from the source), then copy again",
                           missing);
    else if (unusable[0] != '\0')
        rc = ferry_err_set(err, FERRY_ERR_CONFIG,
                           "target: the target's user %s cannot act as roles the source's objects "
                           "are owned by or granted to: %s; grant them to it (GRANT role TO %s) "
                           "or copy as a superuser",
                           user, unusable, user);
out:
    dr_rows_free(roles);
    dr_rows_free(rows);
    return rc;
}

ferry_rc dr_target_mark(dr_conn *tgt, const dr_options *opts, char started[DR_MARK_STARTED_MAX],
                        ferry_err *err)
{
    char source[600];
    (void)ferry_redact(opts->source.conninfo, source, sizeof(source));
    (void)snprintf(started, DR_MARK_STARTED_MAX, "%" PRId64, ferry_wall_ms());
    const char *params[] = {source, opts->started_by != NULL ? opts->started_by : "ferry", started};
    dr_rows *rows = NULL;
    ferry_rc rc = dr_conn_exec(tgt, dr_sql_status_begin, err);
    if (rc == FERRY_OK)
        rc = dr_conn_exec(tgt, "BEGIN", err);
    if (rc == FERRY_OK) {
        /* dr_conn_query needs a result set; the insert has none, so wrap it. */
        ferry_buf b = {0};
        ferry_buf_add(&b, "WITH w AS (");
        ferry_buf_add(&b, dr_sql_status_incomplete);
        ferry_buf_add(&b, " RETURNING 1) SELECT count(*) FROM w");
        rc = b.oom ? ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory")
                   : dr_conn_query(tgt, b.p, 3, params, &rows, err);
        ferry_buf_cleanup(&b);
    }
    dr_rows_free(rows);
    if (rc == FERRY_OK)
        rc = dr_conn_exec(tgt, "COMMIT", err);
    return rc;
}

/* Locks the mark and checks it is still the one this copy wrote; the caller's transaction is
 * open. */
static ferry_rc mark_still_ours(dr_conn *tgt, const dr_options *opts, const char *started,
                                ferry_err *err)
{
    const char *by = opts->started_by != NULL ? opts->started_by : "ferry";
    dr_rows *owner = NULL;
    ferry_rc rc = dr_conn_query(tgt, dr_sql_mark_owner, 0, NULL, &owner, err);
    if (rc == FERRY_OK && dr_rows_count(owner) == 0)
        rc = ferry_err_set(err, FERRY_ERR_CONFLICT,
                           "the target's mark (_ferry.copy_status) vanished while the copy ran: "
                           "something else changed the target");
    else if (rc == FERRY_OK && (strcmp(dr_rows_get(owner, 0, 0), by) != 0 ||
                                strcmp(dr_rows_get(owner, 0, 1), started) != 0))
        /* A newer attempt marked the target after this one: its copy is under way there, and
         * this one must not declare the target complete. */
        rc = ferry_err_set(err, FERRY_ERR_CONFLICT,
                           "another copy (%s) has taken the target over since this one (%s) "
                           "started: this copy's result is not kept",
                           dr_rows_get(owner, 0, 0), by);
    dr_rows_free(owner);
    return rc;
}

/* Ends the open transaction: COMMIT after success, else ROLLBACK; adds what to the message of
 * errors other than CONFLICT. */
static ferry_rc end_transaction(dr_conn *tgt, ferry_rc rc, const char *what, ferry_err *err)
{
    if (rc == FERRY_OK)
        rc = dr_conn_exec(tgt, "COMMIT", err);
    if (rc != FERRY_OK) {
        ferry_err ignored;
        (void)dr_conn_exec(tgt, "ROLLBACK", &ignored);
    }
    if (rc == FERRY_OK || rc == FERRY_ERR_CONFLICT)
        return rc;
    char msg[sizeof(err->msg)];
    (void)snprintf(msg, sizeof(msg), "%s", err->msg);
    return ferry_err_set(err, rc, "%s: %s", what, msg);
}

ferry_rc dr_target_unmark(dr_conn *tgt, const dr_options *opts, const char *started, ferry_err *err)
{
    ferry_rc rc = dr_conn_exec(tgt, "BEGIN", err);
    if (rc == FERRY_OK)
        rc = mark_still_ours(tgt, opts, started, err);
    if (rc == FERRY_OK)
        rc = dr_conn_exec(tgt, dr_sql_mark_drop, err);
    return end_transaction(tgt, rc, "dropping the mark of an unfinished copy (_ferry)", err);
}

ferry_rc dr_target_replicating(dr_conn *tgt, const dr_options *opts, const char *started,
                               ferry_err *err)
{
    char lsn[24];
    dr_po_lsn_format(opts->replication_lsn, lsn);
    const char *params[] = {opts->replication_slot, lsn, opts->verify ? "t" : "f"};
    dr_rows *rows = NULL;
    ferry_rc rc = dr_conn_exec(tgt, "BEGIN", err);
    if (rc == FERRY_OK)
        rc = mark_still_ours(tgt, opts, started, err);
    if (rc == FERRY_OK)
        rc = dr_conn_exec(tgt, dr_sql_replication_position, err);
    if (rc == FERRY_OK)
        rc = dr_conn_query(tgt,
                           "INSERT INTO _ferry.replication (slot, publication, lsn, verified) "
                           "VALUES ($1, $1, $2::pg_lsn, $3::boolean) RETURNING 1",
                           3, params, &rows, err);
    if (rc == FERRY_OK) {
        /* The schema brought the source's publication along; it is Ferry's, not the app's. */
        ferry_buf b = {0};
        ferry_buf_addf(&b, "DROP PUBLICATION IF EXISTS \"%s\"", opts->replication_slot);
        rc = b.oom ? ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory")
                   : dr_conn_exec(tgt, b.p, err);
        ferry_buf_cleanup(&b);
    }
    dr_rows_free(rows);
    return end_transaction(tgt, rc, "recording where the replication starts (_ferry)", err);
}

ferry_rc dr_target_replication_done(dr_conn *tgt, const char *slot, ferry_err *err)
{
    dr_rows *rows = NULL;
    ferry_rc rc = dr_conn_exec(tgt, "BEGIN", err);
    if (rc == FERRY_OK)
        rc = dr_conn_query(tgt, "SELECT slot FROM _ferry.replication FOR UPDATE", 0, NULL, &rows,
                           err);
    if (rc == FERRY_ERR_INVALID || (rc == FERRY_OK && (dr_rows_count(rows) != 1 ||
                                                       strcmp(dr_rows_get(rows, 0, 0), slot) != 0)))
        rc = ferry_err_set(err, FERRY_ERR_CONFLICT,
                           "the target's mark does not record the replication %s: another copy "
                           "or replication has taken the target over",
                           slot);
    dr_rows_free(rows);
    if (rc == FERRY_OK)
        rc = dr_conn_exec(tgt, dr_sql_mark_drop, err);
    return end_transaction(tgt, rc, "dropping the mark of an unfinished copy (_ferry)", err);
}

ferry_rc dr_target_clear(dr_conn *tgt, ferry_err *err)
{
    dr_rows *rows = NULL;
    ferry_buf b = {0};
    ferry_rc rc = dr_conn_query(tgt, dr_sql_target_schemas, 0, NULL, &rows, err);
    if (rc != FERRY_OK)
        return rc;
    ferry_buf_add(&b, "BEGIN;\n");
    for (size_t i = 0; i < dr_rows_count(rows); i++) {
        ferry_buf_add(&b, "DROP SCHEMA ");
        ferry_buf_add(&b, dr_rows_get(rows, i, 0));
        ferry_buf_add(&b, " CASCADE;\n");
    }
    /* public is expected by the source's schema, as initdb makes it. */
    ferry_buf_add(&b, dr_sql_target_public);
    ferry_buf_add(&b, "\nSELECT count(lo_unlink(oid)) FROM pg_largeobject_metadata;\n"
                      "COMMIT;");
    dr_rows_free(rows);
    if (b.oom)
        rc = ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
    else
        rc = dr_conn_exec(tgt, b.p, err);
    ferry_buf_cleanup(&b);
    if (rc != FERRY_OK) {
        ferry_err ignored; /* the failure that matters is in err */
        (void)dr_conn_exec(tgt, "ROLLBACK", &ignored);
    }
    return rc;
}
