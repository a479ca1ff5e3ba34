/*
 * state_access.h - the console's part of Ferry's state in Redis (docs/console.md): the users an
 * admin added through the API, kept hashed, and the audit trail of every command. Part of the
 * state module (the keys are in shared/state_keys.h); the coordinator's API is its only user.
 */
#ifndef FERRY_STATE_ACCESS_H
#define FERRY_STATE_ACCESS_H

#include <stdbool.h>
#include <stddef.h>

#include "ferry/error.h"
#include "ferry/store.h"

/* Every user added through the API: name -> its JSON (role, apps, token hash, ...). The caller
 * frees *out with ferry_store_record_free(); no user is an empty record, never NOT_FOUND. */
ferry_rc ferry_state_users_get(ferry_store *store, ferry_store_record **out, ferry_err *err);

/* User name's JSON into *json (the caller frees it); FERRY_ERR_NOT_FOUND when there is none. */
ferry_rc ferry_state_user_get(ferry_store *store, const char *name, char **json, ferry_err *err);

/* Adds (only_new: FERRY_ERR_CONFLICT when it exists) or replaces user name's JSON. */
ferry_rc ferry_state_user_put(ferry_store *store, const char *name, const char *json, bool only_new,
                              ferry_err *err);

/* Removes user name; FERRY_ERR_NOT_FOUND when there was none. */
ferry_rc ferry_state_user_remove(ferry_store *store, const char *name, ferry_err *err);

/* Appends one entry (its fields, n of them, 1..32) to the audit trail. Never trimmed. Not
 * retried: an entry is written at most once. */
ferry_rc ferry_state_audit_add(ferry_store *store, const ferry_store_field *fields, size_t n,
                               ferry_err *err);

/* The newest count (1..10000) entries of the audit trail, newest first; the caller frees *out
 * with ferry_store_entries_free(). */
ferry_rc ferry_state_audit_read(ferry_store *store, size_t count, ferry_store_entries **out,
                                ferry_err *err);

/* The newest entries before id `before` ("+" for the newest), for scanning the trail backwards. */
ferry_rc ferry_state_audit_before(ferry_store *store, const char *before, size_t count,
                                  ferry_store_entries **out, ferry_err *err);

#endif
