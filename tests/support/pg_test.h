/*
 * pg_test.h - the local stack's two PostgreSQL servers as the integration tests reach them:
 * by side ("source" or "target"), from the same settings the binaries read (FERRY_PG_*_URL and
 * FERRY_PG_*_PASSWORD, deploy/local/stack env).
 */
#ifndef FERRY_PG_TEST_H
#define FERRY_PG_TEST_H

#include <libpq-fe.h>
#include <stddef.h>

/* "host=... port=... user=..." of side's server, into out ("" when its URL does not parse). */
void pg_test_server(const char *side, char *out, size_t outsz);

/* side's password, borrowed from the test settings; NULL when none. */
const char *pg_test_password(const char *side);

/* A connection to database db on side's server, application_name app_name, server notices
 * below warnings off. A connection that fails fails the test (CUnit fatal). Caller closes
 * with PQfinish(). */
PGconn *pg_test_connect(const char *side, const char *db, const char *app_name);

#endif
