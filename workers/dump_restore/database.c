/*
 * database.c - the database's own comment, settings and privileges (see database.h).
 */
#include "database.h"

#include <stdio.h>
#include <string.h>

#include "dr_sql_embedded.h"

ferry_rc dr_database_copy(dr_conn *src, dr_conn *tgt, ferry_err *err)
{
    dr_rows *props = NULL, *stmts = NULL;
    ferry_rc rc = dr_conn_query(src, dr_sql_database_read, 0, NULL, &props, err);
    if (rc == FERRY_OK) {
        const char *params[] = {dr_rows_get(props, 0, 0)};
        rc = dr_conn_query(tgt, dr_sql_database_apply, 1, params, &stmts, err);
    }
    if (rc == FERRY_OK && dr_rows_get(stmts, 0, 0)[0] != '\0')
        rc = dr_conn_exec(tgt, dr_rows_get(stmts, 0, 0), err);
    if (rc != FERRY_OK) {
        char msg[sizeof(err->msg)];
        (void)snprintf(msg, sizeof(msg), "%s", err->msg);
        (void)ferry_err_set(err, rc, "the database's comment, settings and grants: %s", msg);
    }
    dr_rows_free(props);
    dr_rows_free(stmts);
    return rc;
}
