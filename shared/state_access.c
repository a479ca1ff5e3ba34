/* state_access.c - users and the audit trail in Redis (see ferry/state_access.h). */
#include "ferry/state_access.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state_keys.h"

#define AUDIT_FIELDS_MAX 32

ferry_rc ferry_state_users_get(ferry_store *store, ferry_store_record **out, ferry_err *err)
{
    ferry_rc rc = ferry_store_hgetall(store, STATE_USERS, out, err);
    if (rc == FERRY_ERR_NOT_FOUND) {
        *out = calloc(1, sizeof(**out));
        if (*out == NULL)
            return ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
        return FERRY_OK;
    }
    return rc;
}

ferry_rc ferry_state_user_get(ferry_store *store, const char *name, char **json, ferry_err *err)
{
    *json = NULL;
    if (!state_name_ok(name, FERRY_STORE_NAME_MAX, false))
        return ferry_err_set(err, FERRY_ERR_NOT_FOUND, "no user %.64s", name);
    const char *argv[] = {"HGET", STATE_USERS, name};
    ferry_store_reply *r = NULL;
    ferry_rc rc = ferry_store_command(store, true, 3, argv, NULL, &r, err);
    if (rc == FERRY_OK && (r == NULL || r->type != FERRY_STORE_REPLY_STR))
        rc = ferry_err_set(err, FERRY_ERR_NOT_FOUND, "no user %s", name);
    if (rc == FERRY_OK) {
        *json = strdup(r->str);
        if (*json == NULL)
            rc = ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
    }
    ferry_store_reply_free(r);
    return rc;
}

ferry_rc ferry_state_user_put(ferry_store *store, const char *name, const char *json, bool only_new,
                              ferry_err *err)
{
    if (!state_name_ok(name, FERRY_STORE_NAME_MAX, false))
        return ferry_err_set(err, FERRY_ERR_INVALID, "bad user name");
    const char *argv[] = {only_new ? "HSETNX" : "HSET", STATE_USERS, name, json};
    ferry_store_reply *r = NULL;
    ferry_rc rc = ferry_store_command(store, !only_new, 4, argv, NULL, &r, err);
    if (rc == FERRY_OK && only_new &&
        (r == NULL || r->type != FERRY_STORE_REPLY_INT || r->integer == 0))
        rc = ferry_err_set(err, FERRY_ERR_CONFLICT, "user %s exists already", name);
    ferry_store_reply_free(r);
    return rc;
}

ferry_rc ferry_state_user_remove(ferry_store *store, const char *name, ferry_err *err)
{
    if (!state_name_ok(name, FERRY_STORE_NAME_MAX, false))
        return ferry_err_set(err, FERRY_ERR_NOT_FOUND, "no user %.64s", name);
    const char *argv[] = {"HDEL", STATE_USERS, name};
    ferry_store_reply *r = NULL;
    ferry_rc rc = ferry_store_command(store, true, 3, argv, NULL, &r, err);
    if (rc == FERRY_OK && (r == NULL || r->type != FERRY_STORE_REPLY_INT || r->integer == 0))
        rc = ferry_err_set(err, FERRY_ERR_NOT_FOUND, "no user %s", name);
    ferry_store_reply_free(r);
    return rc;
}

ferry_rc ferry_state_audit_add(ferry_store *store, const ferry_store_field *fields, size_t n,
                               ferry_err *err)
{
    if (n == 0 || n > AUDIT_FIELDS_MAX)
        return ferry_err_set(err, FERRY_ERR_INVALID, "an audit entry has 1..%d fields",
                             AUDIT_FIELDS_MAX);
    const char *argv[3 + 2 * AUDIT_FIELDS_MAX];
    size_t argc = 0;
    argv[argc++] = "XADD";
    argv[argc++] = STATE_AUDIT;
    argv[argc++] = "*";
    for (size_t i = 0; i < n; i++) {
        argv[argc++] = fields[i].name;
        argv[argc++] = fields[i].value != NULL ? fields[i].value : "";
    }
    return ferry_store_command(store, false, argc, argv, NULL, NULL, err);
}

ferry_rc ferry_state_audit_read(ferry_store *store, size_t count, ferry_store_entries **out,
                                ferry_err *err)
{
    return ferry_store_range(store, STATE_AUDIT, true, "+", "-", count, out, err);
}

ferry_rc ferry_state_audit_before(ferry_store *store, const char *before, size_t count,
                                  ferry_store_entries **out, ferry_err *err)
{
    char to[64];
    (void)snprintf(to, sizeof(to), "(%s", before);
    return ferry_store_range(store, STATE_AUDIT, true, strcmp(before, "+") == 0 ? "+" : to, "-",
                             count, out, err);
}
