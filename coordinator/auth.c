/* auth.c - users, tokens, sessions and roles (see auth.h and docs/console.md). */
#include "auth.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_SLOTS    256              /* tokens remembered after one Argon2id check */
#define CACHE_TTL_MS   (10 * 60 * 1000) /* ... for at most this long */
#define SESSIONS_MAX   4096
#define DIGEST_LEN     32
#define FILE_USERS_MAX 10000

/* A token checked against its user's hash: its digest, and the hash it matched. */
typedef struct cached {
    bool used;
    unsigned char digest[DIGEST_LEN];
    char name[AUTH_NAME_MAX + 1];
    unsigned char hash_digest[DIGEST_LEN];
    int64_t at;
} cached;

typedef struct session {
    bool used;
    char id[AUTH_SECRET_LEN + 1];
    char csrf[AUTH_SECRET_LEN + 1];
    char name[AUTH_NAME_MAX + 1];
    unsigned char hash_digest[DIGEST_LEN]; /* the user's hash at login: a new token ends it */
    int64_t started, seen;
} session;

struct auth {
    auth_cfg cfg;
    char *bootstrap;
    auth_user *local; /* the file's users, then the bootstrap admin */
    size_t n_local;
    cached cache[CACHE_SLOTS];
    session *sessions; /* SESSIONS_MAX of them */
};

/* ------------------------------------------------------------------ users */

const char *auth_role_name(auth_role role)
{
    switch (role) {
    case AUTH_VIEWER:
        return "viewer";
    case AUTH_OPERATOR:
        return "operator";
    case AUTH_ADMIN:
        return "admin";
    }
    return "viewer";
}

bool auth_role_parse(const char *text, auth_role *out)
{
    static const auth_role roles[] = {AUTH_VIEWER, AUTH_OPERATOR, AUTH_ADMIN};
    for (size_t i = 0; text != NULL && i < sizeof(roles) / sizeof(roles[0]); i++) {
        if (strcmp(text, auth_role_name(roles[i])) == 0) {
            *out = roles[i];
            return true;
        }
    }
    return false;
}

const char *auth_source_name(auth_source source)
{
    switch (source) {
    case AUTH_FROM_BOOTSTRAP:
        return "bootstrap";
    case AUTH_FROM_FILE:
        return "file";
    case AUTH_FROM_API:
        return "api";
    }
    return "api";
}

bool auth_name_ok(const char *name)
{
    size_t n = name != NULL ? strlen(name) : 0;
    if (n == 0 || n > AUTH_NAME_MAX)
        return false;
    return strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-_") == n;
}

void auth_user_cleanup(auth_user *u)
{
    if (u == NULL)
        return;
    for (size_t i = 0; i < u->n_apps; i++)
        free(u->apps[i]);
    free(u->apps);
    sodium_memzero(u, sizeof(*u));
}

bool auth_user_copy(auth_user *dst, const auth_user *src)
{
    auth_user_cleanup(dst);
    *dst = *src;
    dst->apps = NULL;
    dst->n_apps = 0;
    if (src->n_apps == 0)
        return true;
    dst->apps = calloc(src->n_apps, sizeof(*dst->apps));
    if (dst->apps == NULL)
        return false;
    for (size_t i = 0; i < src->n_apps; i++) {
        dst->apps[i] = strdup(src->apps[i]);
        if (dst->apps[i] == NULL) {
            auth_user_cleanup(dst);
            return false;
        }
        dst->n_apps = i + 1;
    }
    return true;
}

/* A time field: absent or null is 0, else a number of ms >= 0. */
static bool time_field(const json_t *j, const char *name, int64_t *out)
{
    json_t *v = json_object_get(j, name);
    *out = 0;
    if (v == NULL || json_is_null(v))
        return true;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return false;
    *out = json_integer_value(v);
    return true;
}

bool auth_user_from_json(const json_t *j, bool need_hash, auth_user *out, char *why, size_t whysz)
{
    auth_user_cleanup(out);
    out->source = AUTH_FROM_API;
    if (!json_is_object(j)) {
        (void)snprintf(why, whysz, "a user is a JSON object");
        return false;
    }
    /* "source" is what auth_user_json() writes; where a user came from is decided by who
     * reads it, not by the JSON. */
    static const char *const known[] = {"name",       "role",       "apps",       "token_hash",
                                        "expires_at", "created_at", "created_by", "source"};
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)j, key, v)
    {
        bool ok = false;
        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
            ok = ok || strcmp(key, known[i]) == 0;
        if (!ok) {
            (void)snprintf(why, whysz, "%.64s: unknown field", key);
            return false;
        }
    }
    const char *name = json_string_value(json_object_get(j, "name"));
    if (!auth_name_ok(name)) {
        (void)snprintf(why, whysz, "name: 1 to %d of a-z, 0-9, '-' and '_'", AUTH_NAME_MAX);
        return false;
    }
    (void)snprintf(out->name, sizeof(out->name), "%s", name);
    if (!auth_role_parse(json_string_value(json_object_get(j, "role")), &out->role)) {
        (void)snprintf(why, whysz, "role: admin, operator or viewer");
        return false;
    }
    json_t *apps = json_object_get(j, "apps");
    if (apps != NULL && !json_is_null(apps)) {
        if (!json_is_array(apps) || json_array_size(apps) > AUTH_APPS_MAX) {
            (void)snprintf(why, whysz, "apps: a list of at most %d app names", AUTH_APPS_MAX);
            return false;
        }
        if (out->role != AUTH_OPERATOR && json_array_size(apps) > 0) {
            (void)snprintf(why, whysz, "apps: only an operator has apps (an %s may %s)",
                           auth_role_name(out->role),
                           out->role == AUTH_ADMIN ? "do everything" : "only read");
            return false;
        }
        out->apps = calloc(json_array_size(apps) + 1, sizeof(*out->apps));
        if (out->apps == NULL) {
            (void)snprintf(why, whysz, "out of memory");
            return false;
        }
        size_t i;
        json_t *app;
        json_array_foreach(apps, i, app)
        {
            const char *s = json_string_value(app);
            if (s == NULL || s[0] == '\0' || strlen(s) > 200) {
                (void)snprintf(why, whysz, "apps[%zu]: an app name", i);
                return false;
            }
            out->apps[i] = strdup(s);
            if (out->apps[i] == NULL) {
                (void)snprintf(why, whysz, "out of memory");
                return false;
            }
            out->n_apps = i + 1;
        }
    }
    if (out->role == AUTH_OPERATOR && out->n_apps == 0) {
        (void)snprintf(why, whysz, "apps: an operator needs the apps it operates");
        return false;
    }
    const char *hash = json_string_value(json_object_get(j, "token_hash"));
    if (need_hash &&
        (hash == NULL || strncmp(hash, "$argon2id$", 10) != 0 || strlen(hash) > AUTH_HASH_MAX)) {
        (void)snprintf(why, whysz,
                       "token_hash: an Argon2id hash (\"$argon2id$...\", from "
                       "ferry-coordinator new-token)");
        return false;
    }
    if (!need_hash && json_object_get(j, "token_hash") != NULL) {
        (void)snprintf(why, whysz, "token_hash: not given here; the coordinator makes the token");
        return false;
    }
    if (hash != NULL)
        (void)snprintf(out->token_hash, sizeof(out->token_hash), "%s", hash);
    if (!time_field(j, "expires_at", &out->expires_at)) {
        (void)snprintf(why, whysz, "expires_at: ms since the epoch, or null");
        return false;
    }
    if (!time_field(j, "created_at", &out->created_at)) {
        (void)snprintf(why, whysz, "created_at: ms since the epoch, or null");
        return false;
    }
    const char *by = json_string_value(json_object_get(j, "created_by"));
    if (by != NULL)
        (void)snprintf(out->created_by, sizeof(out->created_by), "%s", by);
    return true;
}

json_t *auth_user_json(const auth_user *u, bool with_hash)
{
    json_t *apps = json_array();
    for (size_t i = 0; i < u->n_apps; i++)
        json_array_append_new(apps, json_string(u->apps[i]));
    json_t *j = json_pack(
        "{s:s,s:s,s:o,s:o,s:s,s:o,s:o}", "name", u->name, "role", auth_role_name(u->role), "apps",
        apps, "expires_at", u->expires_at > 0 ? json_integer(u->expires_at) : json_null(), "source",
        auth_source_name(u->source), "created_at",
        u->created_at > 0 ? json_integer(u->created_at) : json_null(), "created_by",
        u->created_by[0] != '\0' ? json_string(u->created_by) : json_null());
    if (j != NULL && with_hash)
        json_object_set_new(j, "token_hash", json_string(u->token_hash));
    return j;
}

bool auth_may_command(const auth_user *u, const char *app)
{
    if (u->role == AUTH_ADMIN)
        return true;
    if (u->role != AUTH_OPERATOR || app == NULL)
        return false;
    for (size_t i = 0; i < u->n_apps; i++) {
        if (strcmp(u->apps[i], app) == 0)
            return true;
    }
    return false;
}

void auth_user_describe(const auth_user *u, char *out, size_t outsz)
{
    int n = snprintf(out, outsz, "%s (%s", u->name, auth_role_name(u->role));
    for (size_t i = 0; n >= 0 && (size_t)n < outsz && i < u->n_apps; i++)
        n += snprintf(out + n, outsz - (size_t)n, "%s%s", i == 0 ? " of " : ", ", u->apps[i]);
    if (n >= 0 && (size_t)n < outsz)
        (void)snprintf(out + n, outsz - (size_t)n, ")");
}

/* ------------------------------------------------------------------ tokens */

bool auth_equal(const char *x, const char *y)
{
    size_t n = strlen(x), m = strlen(y);
    unsigned char diff = (unsigned char)(n != m);
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(x[i] ^ (i < m ? y[i] : 0));
    return diff == 0;
}

/* 32 random bytes as 43 base64url characters. */
static void secret_new(char out[AUTH_SECRET_LEN + 1])
{
    unsigned char raw[32];
    char text[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
    randombytes_buf(raw, sizeof(raw));
    (void)sodium_bin2base64(text, sizeof(text), raw, sizeof(raw),
                            sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    (void)snprintf(out, AUTH_SECRET_LEN + 1, "%s", text);
    sodium_memzero(raw, sizeof(raw));
    sodium_memzero(text, sizeof(text));
}

ferry_rc auth_token_new(const char *name, char token[AUTH_TOKEN_MAX + 1],
                        char hash[AUTH_HASH_MAX + 1], ferry_err *err)
{
    if (sodium_init() < 0)
        return ferry_err_set(err, FERRY_ERR_INTERNAL, "libsodium cannot start");
    if (!auth_name_ok(name))
        return ferry_err_set(err, FERRY_ERR_INVALID,
                             "a user name is 1 to %d of a-z, 0-9, '-' and '_'", AUTH_NAME_MAX);
    char secret[AUTH_SECRET_LEN + 1];
    secret_new(secret);
    (void)snprintf(token, AUTH_TOKEN_MAX + 1, AUTH_TOKEN_STEM "%s.%s", name, secret);
    sodium_memzero(secret, sizeof(secret));
    char out[crypto_pwhash_STRBYTES];
    if (crypto_pwhash_str(out, token, strlen(token), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
        sodium_memzero(token, AUTH_TOKEN_MAX + 1);
        return ferry_err_set(err, FERRY_ERR_INTERNAL, "hashing the token failed (out of memory)");
    }
    (void)snprintf(hash, AUTH_HASH_MAX + 1, "%s", out);
    return FERRY_OK;
}

bool auth_token_user(const char *token, char name[AUTH_NAME_MAX + 1])
{
    size_t stem = strlen(AUTH_TOKEN_STEM);
    if (token == NULL || strncmp(token, AUTH_TOKEN_STEM, stem) != 0)
        return false;
    const char *start = token + stem, *dot = strchr(start, '.');
    if (dot == NULL || dot == start || (size_t)(dot - start) > AUTH_NAME_MAX ||
        strlen(dot + 1) != AUTH_SECRET_LEN)
        return false;
    (void)snprintf(name, AUTH_NAME_MAX + 1, "%.*s", (int)(dot - start), start);
    return auth_name_ok(name);
}

/* ------------------------------------------------------------------ the users file */

static ferry_rc file_read(auth *a, const char *path, ferry_err *err)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    ferry_rc rc = FERRY_OK;
    if (root == NULL)
        return ferry_err_set(err, FERRY_ERR_CONFIG, "users file %s: line %d: %s", path, jerr.line,
                             jerr.text);
    json_t *users = json_object_get(root, "users");
    if (!json_is_object(root) || !json_is_array(users) || json_object_size(root) != 1 ||
        json_array_size(users) > FILE_USERS_MAX) {
        rc = ferry_err_set(err, FERRY_ERR_CONFIG,
                           "users file %s: expected {\"users\": [...]} (at most %d)", path,
                           FILE_USERS_MAX);
        goto done;
    }
    a->local = calloc(json_array_size(users) + 1, sizeof(*a->local));
    if (a->local == NULL) {
        rc = ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
        goto done;
    }
    size_t i;
    json_t *j;
    json_array_foreach(users, i, j)
    {
        char why[256];
        auth_user *u = &a->local[a->n_local];
        if (!auth_user_from_json(j, true, u, why, sizeof(why))) {
            rc = ferry_err_set(err, FERRY_ERR_CONFIG, "users file %s: $.users[%zu].%s", path, i,
                               why);
            goto done;
        }
        u->source = AUTH_FROM_FILE;
        a->n_local++;
        if (strcmp(u->name, AUTH_BOOTSTRAP) == 0 || auth_local_user(a, u->name) != u) {
            rc = ferry_err_set(err, FERRY_ERR_CONFIG, "users file %s: $.users[%zu].name: %s %s",
                               path, i, u->name,
                               strcmp(u->name, AUTH_BOOTSTRAP) == 0
                                   ? "is the bootstrap admin (FERRY_COORDINATOR_TOKEN)"
                                   : "appears twice");
            goto done;
        }
    }
done:
    json_decref(root);
    return rc;
}

ferry_rc auth_open(const auth_cfg *cfg, auth **out, ferry_err *err)
{
    *out = NULL;
    if (sodium_init() < 0)
        return ferry_err_set(err, FERRY_ERR_INTERNAL, "libsodium cannot start");
    auth *a = calloc(1, sizeof(*a));
    ferry_rc rc = FERRY_OK;
    if (a == NULL)
        return ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
    a->cfg = *cfg;
    a->cfg.users_file = NULL;
    a->bootstrap = strdup(cfg->bootstrap_token != NULL ? cfg->bootstrap_token : "");
    a->sessions = calloc(SESSIONS_MAX, sizeof(*a->sessions));
    if (a->bootstrap == NULL || a->sessions == NULL) {
        rc = ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (cfg->users_file != NULL && cfg->users_file[0] != '\0') {
        rc = file_read(a, cfg->users_file, err);
        if (rc != FERRY_OK)
            goto fail;
    } else {
        a->local = calloc(1, sizeof(*a->local));
        if (a->local == NULL) {
            rc = ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
            goto fail;
        }
    }
    auth_user *boot = &a->local[a->n_local++];
    (void)snprintf(boot->name, sizeof(boot->name), "%s", AUTH_BOOTSTRAP);
    boot->role = AUTH_ADMIN;
    boot->source = AUTH_FROM_BOOTSTRAP;
    *out = a;
    return FERRY_OK;
fail:
    auth_close(a);
    return rc;
}

void auth_close(auth *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < a->n_local; i++)
        auth_user_cleanup(&a->local[i]);
    free(a->local);
    if (a->bootstrap != NULL) {
        sodium_memzero(a->bootstrap, strlen(a->bootstrap));
        free(a->bootstrap);
    }
    if (a->sessions != NULL) {
        sodium_memzero(a->sessions, SESSIONS_MAX * sizeof(*a->sessions));
        free(a->sessions);
    }
    sodium_memzero(a->cache, sizeof(a->cache));
    free(a);
}

const auth_user *auth_local_users(const auth *a, size_t *count)
{
    *count = a->n_local;
    return a->local;
}

const auth_user *auth_local_user(const auth *a, const char *name)
{
    for (size_t i = 0; i < a->n_local; i++) {
        if (strcmp(a->local[i].name, name) == 0)
            return &a->local[i];
    }
    return NULL;
}

/* ------------------------------------------------------------------ checking */

static void digest_of(const char *text, unsigned char out[DIGEST_LEN])
{
    (void)crypto_generichash(out, DIGEST_LEN, (const unsigned char *)text, strlen(text), NULL, 0);
}

/* The user called name, wherever it lives. */
static ferry_rc user_find(auth *a, const char *name, auth_lookup_fn lookup, void *ctx,
                          auth_user *out, ferry_err *err)
{
    const auth_user *local = auth_local_user(a, name);
    if (local != NULL)
        return auth_user_copy(out, local) ? FERRY_OK
                                          : ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
    if (lookup == NULL)
        return ferry_err_set(err, FERRY_ERR_NOT_FOUND, "no user %s", name);
    return lookup(ctx, name, out, err);
}

static bool expired(const auth_user *u, int64_t now)
{
    return u->expires_at > 0 && u->expires_at <= now;
}

auth_result auth_token_check(auth *a, const char *token, int64_t now, auth_lookup_fn lookup,
                             void *ctx, auth_user *who, char *why, size_t whysz, ferry_err *err)
{
    auth_user_cleanup(who);
    if (token == NULL || token[0] == '\0') {
        (void)snprintf(why, whysz, "no token");
        return AUTH_NONE;
    }
    char name[AUTH_NAME_MAX + 1];
    if (!auth_token_user(token, name)) {
        if (a->bootstrap[0] != '\0' && auth_equal(a->bootstrap, token)) {
            (void)auth_user_copy(who, auth_local_user(a, AUTH_BOOTSTRAP));
            return AUTH_OK;
        }
        (void)snprintf(why, whysz, "wrong token");
        return AUTH_WRONG;
    }
    ferry_rc rc = user_find(a, name, lookup, ctx, who, err);
    if (rc == FERRY_ERR_NOT_FOUND || (rc == FERRY_OK && who->token_hash[0] == '\0')) {
        auth_user_cleanup(who);
        (void)snprintf(why, whysz, "wrong token");
        return AUTH_WRONG;
    }
    if (rc != FERRY_OK) {
        (void)snprintf(why, whysz, "cannot look up user %s: %s", name, err->msg);
        return AUTH_UNAVAILABLE;
    }
    unsigned char digest[DIGEST_LEN], hash_digest[DIGEST_LEN];
    digest_of(token, digest);
    digest_of(who->token_hash, hash_digest);
    cached *hit = NULL, *slot = &a->cache[0];
    for (size_t i = 0; i < CACHE_SLOTS; i++) {
        cached *c = &a->cache[i];
        if (c->used && now - c->at < CACHE_TTL_MS &&
            sodium_memcmp(c->digest, digest, DIGEST_LEN) == 0 && strcmp(c->name, name) == 0 &&
            sodium_memcmp(c->hash_digest, hash_digest, DIGEST_LEN) == 0)
            hit = c;
        if (slot->used && (!c->used || c->at < slot->at))
            slot = c; /* the first free slot, else the oldest */
    }
    if (hit == NULL) {
        if (crypto_pwhash_str_verify(who->token_hash, token, strlen(token)) != 0) {
            auth_user_cleanup(who);
            (void)snprintf(why, whysz, "wrong token");
            return AUTH_WRONG;
        }
        slot->used = true;
        memcpy(slot->digest, digest, DIGEST_LEN);
        memcpy(slot->hash_digest, hash_digest, DIGEST_LEN);
        (void)snprintf(slot->name, sizeof(slot->name), "%s", name);
        slot->at = now;
    }
    if (expired(who, now)) {
        (void)snprintf(why, whysz, "the token of %s expired", name);
        auth_user_cleanup(who);
        return AUTH_EXPIRED;
    }
    return AUTH_OK;
}

void auth_session_start(auth *a, const auth_user *who, int64_t now, char id[AUTH_SECRET_LEN + 1],
                        char csrf[AUTH_SECRET_LEN + 1])
{
    session *slot = &a->sessions[0];
    for (size_t i = 0; i < SESSIONS_MAX; i++) {
        session *s = &a->sessions[i];
        if (s->used &&
            (now - s->seen >= a->cfg.session_idle_ms || now - s->started >= a->cfg.session_max_ms))
            sodium_memzero(s, sizeof(*s));
        if (!s->used) {
            slot = s;
            break;
        }
        if (s->seen < slot->seen)
            slot = s;
    }
    sodium_memzero(slot, sizeof(*slot));
    slot->used = true;
    secret_new(slot->id);
    secret_new(slot->csrf);
    (void)snprintf(slot->name, sizeof(slot->name), "%s", who->name);
    digest_of(who->token_hash, slot->hash_digest);
    slot->started = now;
    slot->seen = now;
    (void)snprintf(id, AUTH_SECRET_LEN + 1, "%s", slot->id);
    (void)snprintf(csrf, AUTH_SECRET_LEN + 1, "%s", slot->csrf);
}

static session *session_find(auth *a, const char *id)
{
    if (id == NULL || strlen(id) != AUTH_SECRET_LEN)
        return NULL;
    session *found = NULL;
    for (size_t i = 0; i < SESSIONS_MAX; i++) {
        session *s = &a->sessions[i];
        if (s->used && sodium_memcmp(s->id, id, AUTH_SECRET_LEN) == 0)
            found = s;
    }
    return found;
}

auth_result auth_session_check(auth *a, const char *id, int64_t now, auth_lookup_fn lookup,
                               void *ctx, auth_user *who, char csrf[AUTH_SECRET_LEN + 1], char *why,
                               size_t whysz, ferry_err *err)
{
    auth_user_cleanup(who);
    session *s = session_find(a, id);
    if (s == NULL) {
        (void)snprintf(why, whysz, "no such session (logged out, or the coordinator restarted)");
        return AUTH_WRONG;
    }
    if (now - s->seen >= a->cfg.session_idle_ms || now - s->started >= a->cfg.session_max_ms) {
        sodium_memzero(s, sizeof(*s));
        (void)snprintf(why, whysz, "the session ended; log in again");
        return AUTH_WRONG;
    }
    ferry_rc rc = user_find(a, s->name, lookup, ctx, who, err);
    if (rc != FERRY_OK && rc != FERRY_ERR_NOT_FOUND) {
        (void)snprintf(why, whysz, "cannot look up user %s: %s", s->name, err->msg);
        return AUTH_UNAVAILABLE;
    }
    unsigned char hash_digest[DIGEST_LEN];
    digest_of(rc == FERRY_OK ? who->token_hash : "", hash_digest);
    if (rc == FERRY_ERR_NOT_FOUND || sodium_memcmp(hash_digest, s->hash_digest, DIGEST_LEN) != 0) {
        (void)snprintf(why, whysz, "user %s was removed or has a new token; log in again", s->name);
        sodium_memzero(s, sizeof(*s));
        auth_user_cleanup(who);
        return AUTH_WRONG;
    }
    if (expired(who, now)) {
        (void)snprintf(why, whysz, "the token of %s expired", s->name);
        sodium_memzero(s, sizeof(*s));
        auth_user_cleanup(who);
        return AUTH_EXPIRED;
    }
    s->seen = now;
    (void)snprintf(csrf, AUTH_SECRET_LEN + 1, "%s", s->csrf);
    return AUTH_OK;
}

void auth_session_end(auth *a, const char *id)
{
    session *s = session_find(a, id);
    if (s != NULL)
        sodium_memzero(s, sizeof(*s));
}

void auth_forget_user(auth *a, const char *name)
{
    for (size_t i = 0; i < SESSIONS_MAX; i++) {
        if (a->sessions[i].used && strcmp(a->sessions[i].name, name) == 0)
            sodium_memzero(&a->sessions[i], sizeof(a->sessions[i]));
    }
    for (size_t i = 0; i < CACHE_SLOTS; i++) {
        if (a->cache[i].used && strcmp(a->cache[i].name, name) == 0)
            sodium_memzero(&a->cache[i], sizeof(a->cache[i]));
    }
}
