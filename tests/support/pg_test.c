/* pg_test.c - the stack's PostgreSQL servers for integration tests (pg_test.h). */
#include "pg_test.h"

#include <stdio.h>
#include <string.h>

#include "ferry_test.h"

void pg_test_server(const char *side, char *out, size_t outsz)
{
    char key[32];
    (void)snprintf(key, sizeof(key), "pg.%s.url", side);
    PQconninfoOption *opts = PQconninfoParse(ferry_cfg_str(ferry_test_cfg(), key), NULL);
    out[0] = '\0';
    if (opts == NULL)
        return; /* the connections fail, and say so */
    const char *host = "", *port = "", *user = "";
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (o->val == NULL)
            continue;
        if (strcmp(o->keyword, "host") == 0)
            host = o->val;
        else if (strcmp(o->keyword, "port") == 0)
            port = o->val;
        else if (strcmp(o->keyword, "user") == 0)
            user = o->val;
    }
    (void)snprintf(out, outsz, "host=%s port=%s user=%s", host, port, user);
    PQconninfoFree(opts);
}

const char *pg_test_password(const char *side)
{
    char key[32];
    (void)snprintf(key, sizeof(key), "pg.%s.password", side);
    return ferry_cfg_str(ferry_test_cfg(), key);
}

PGconn *pg_test_connect(const char *side, const char *db, const char *app_name)
{
    char server[200], conninfo[300];
    pg_test_server(side, server, sizeof(server));
    (void)snprintf(conninfo, sizeof(conninfo), "%s dbname=%s", server, db);
    const char *keys[] = {"dbname", "password", "application_name", NULL};
    const char *vals[] = {conninfo, pg_test_password(side), app_name, NULL};
    PGconn *conn = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(conn) != CONNECTION_OK)
        fprintf(stderr, "\n%s/%s: %s\n", side, db, PQerrorMessage(conn));
    CU_ASSERT_EQUAL_FATAL(PQstatus(conn), CONNECTION_OK);
    PQclear(PQexec(conn, "SET client_min_messages = warning"));
    return conn;
}
