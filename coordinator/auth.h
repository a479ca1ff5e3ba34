/*
 * auth.h - who a request comes from (docs/console.md): users with a role, their tokens kept as
 * Argon2id hashes (libsodium), the bootstrap admin token, the page's sessions with their CSRF
 * tokens, and what each role may do. It knows no HTTP and no Redis: the API looks up users that
 * live in Redis through a callback, so the rules here are tested alone (tests/unit/test_auth.c).
 *
 * One thread uses an auth handle (the API's serving thread).
 */
#ifndef FERRY_AUTH_H
#define FERRY_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "ferry/error.h"

#define AUTH_NAME_MAX   64
#define AUTH_APPS_MAX   1024
#define AUTH_TOKEN_MAX  128 /* "fy1." + name + "." + 43 characters, with room */
#define AUTH_HASH_MAX   128 /* crypto_pwhash_STRBYTES */
#define AUTH_SECRET_LEN 43  /* 32 random bytes in base64url, no padding */
#define AUTH_BOOTSTRAP  "admin"
#define AUTH_TOKEN_STEM "fy1."

typedef enum auth_role { AUTH_VIEWER = 0, AUTH_OPERATOR = 1, AUTH_ADMIN = 2 } auth_role;

/* Where a user was configured. */
typedef enum auth_source { AUTH_FROM_BOOTSTRAP, AUTH_FROM_FILE, AUTH_FROM_API } auth_source;

/* A user. Initialize to {0}; auth_user_cleanup() frees what it holds. */
typedef struct auth_user {
    char name[AUTH_NAME_MAX + 1];
    auth_role role;
    char **apps; /* operator: the apps whose commands it may run (owned) */
    size_t n_apps;
    char token_hash[AUTH_HASH_MAX + 1]; /* "$argon2id$..."; empty for the bootstrap admin */
    int64_t expires_at;                 /* ms since the epoch; 0: never */
    int64_t created_at;                 /* ms; 0 when unknown */
    char created_by[AUTH_NAME_MAX + 1];
    auth_source source;
} auth_user;

const char *auth_role_name(auth_role role);
bool auth_role_parse(const char *text, auth_role *out);
const char *auth_source_name(auth_source source);

/* A user name: 1..AUTH_NAME_MAX of a-z, 0-9, '-', '_'. */
bool auth_name_ok(const char *name);

/*
 * Reads a user from JSON (the users file's entries, the API's body, what Redis keeps):
 * {"name", "role", "apps": [...], "token_hash", "expires_at": ms|null, "created_at",
 * "created_by"}. need_hash: token_hash must be there (a stored user); otherwise it must not.
 * On failure, why says which field is wrong and how. out is cleaned up first.
 */
bool auth_user_from_json(const json_t *j, bool need_hash, auth_user *out, char *why, size_t whysz);

/* The user as JSON (docs/console.md <user>); with_hash adds token_hash (for storing it).
 * New reference. */
json_t *auth_user_json(const auth_user *u, bool with_hash);

/* Copies src into dst (cleaned up first). False when out of memory. */
bool auth_user_copy(auth_user *dst, const auth_user *src);

void auth_user_cleanup(auth_user *u);

/* May u run commands on app? Admins on every app, operators on theirs, viewers on none. */
bool auth_may_command(const auth_user *u, const char *app);

/* "ops-shop (operator of shop, crm)", for messages. */
void auth_user_describe(const auth_user *u, char *out, size_t outsz);

/*
 * A new token for user name, "fy1.<name>.<secret>", and its Argon2id hash. Secrets come from
 * libsodium's randombytes. FERRY_ERR_INTERNAL when hashing fails (out of memory).
 */
ferry_rc auth_token_new(const char *name, char token[AUTH_TOKEN_MAX + 1],
                        char hash[AUTH_HASH_MAX + 1], ferry_err *err);

/* The user a token names ("fy1.<name>.<secret>"); false when it is not of that form. */
bool auth_token_user(const char *token, char name[AUTH_NAME_MAX + 1]);

/* ------------------------------------------------------------------ the authenticator */

typedef struct auth auth;

typedef struct auth_cfg {
    const char *bootstrap_token; /* FERRY_COORDINATOR_TOKEN: user "admin", role admin */
    const char *users_file;      /* FERRY_COORDINATOR_USERS; NULL or "" when none */
    int64_t session_idle_ms;     /* a session unused this long ends */
    int64_t session_max_ms;      /* a session ends this long after login in any case */
} auth_cfg;

/* Finds a user kept elsewhere (Redis): FERRY_OK with *out filled, FERRY_ERR_NOT_FOUND when
 * there is none, another code when it cannot be asked. */
typedef ferry_rc (*auth_lookup_fn)(void *ctx, const char *name, auth_user *out, ferry_err *err);

/* Reads the users file (a bad one is FERRY_ERR_CONFIG naming the entry and field). The caller
 * closes *out with auth_close(). cfg's strings are copied. */
ferry_rc auth_open(const auth_cfg *cfg, auth **out, ferry_err *err);
void auth_close(auth *a);

/* The users of the file and the bootstrap admin, in that order (borrowed from a). */
const auth_user *auth_local_users(const auth *a, size_t *count);

/* The user called name among the file's and the bootstrap, or NULL (borrowed). */
const auth_user *auth_local_user(const auth *a, const char *name);

/* How authenticating ended. */
typedef enum auth_result {
    AUTH_OK,          /* *who is the user */
    AUTH_NONE,        /* no credentials given */
    AUTH_WRONG,       /* wrong or unknown token, unknown or ended session */
    AUTH_EXPIRED,     /* the user's token expired */
    AUTH_UNAVAILABLE, /* the user could not be looked up (err says why) */
} auth_result;

/*
 * The user whose token this is (the bearer token of a request, or a login's token): the
 * bootstrap token, or a "fy1." token checked against its user's hash (once: a token that was
 * checked is remembered by its digest as long as its user's hash stays the same). *who is
 * cleaned up first and filled on AUTH_OK. why: a message for the caller on failure.
 */
auth_result auth_token_check(auth *a, const char *token, int64_t now, auth_lookup_fn lookup,
                             void *ctx, auth_user *who, char *why, size_t whysz, ferry_err *err);

/* Starts a session for who (just authenticated): its id (the cookie's value) and its CSRF
 * token. Ends the oldest sessions beyond the limit. */
void auth_session_start(auth *a, const auth_user *who, int64_t now, char id[AUTH_SECRET_LEN + 1],
                        char csrf[AUTH_SECRET_LEN + 1]);

/*
 * The user of session id (the cookie's value): AUTH_OK with *who and its CSRF token copied to
 * csrf; AUTH_WRONG when there is no such session, it ended (idle, too old), or its user was
 * removed or got a new token (the session then ends); AUTH_EXPIRED when the user expired.
 */
auth_result auth_session_check(auth *a, const char *id, int64_t now, auth_lookup_fn lookup,
                               void *ctx, auth_user *who, char csrf[AUTH_SECRET_LEN + 1], char *why,
                               size_t whysz, ferry_err *err);

/* Ends session id (logout); nothing when there is none. */
void auth_session_end(auth *a, const char *id);

/* Ends every session of user name and forgets its checked tokens (removed, new token). */
void auth_forget_user(auth *a, const char *name);

/* Compares two strings in time that depends only on their lengths. */
bool auth_equal(const char *x, const char *y);

#endif
