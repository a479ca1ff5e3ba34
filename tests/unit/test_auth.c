/*
 * test_auth.c - users, tokens, sessions and roles (coordinator/auth.c, docs/console.md): tokens
 * are checked against their Argon2id hash and only then remembered, a changed hash or removed
 * user ends what was remembered and its sessions, sessions end when idle, too old or expired,
 * the users file is read with its mistakes named, and each role may do what the table says.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "ferry_test.h"

#define BOOT  "bootstrap-token-0123456789"
#define IDLE  1000
#define MAX   5000
#define START 1000000

/* The users "kept in Redis" for these tests: lookup() answers from here. */
static auth_user kept[2];
static size_t n_kept;
static int lookups;
static bool lookup_down;

static ferry_rc lookup(void *ctx, const char *name, auth_user *out, ferry_err *err)
{
    (void)ctx;
    lookups++;
    if (lookup_down)
        return ferry_err_set(err, FERRY_ERR_UNAVAILABLE, "redis is away");
    for (size_t i = 0; i < n_kept; i++) {
        if (strcmp(kept[i].name, name) == 0)
            return auth_user_copy(out, &kept[i]) ? FERRY_OK : FERRY_ERR_NOMEM;
    }
    return ferry_err_set(err, FERRY_ERR_NOT_FOUND, "no user %s", name);
}

static auth *open_auth(const char *users_file)
{
    auth_cfg cfg = {.bootstrap_token = BOOT,
                    .users_file = users_file,
                    .session_idle_ms = IDLE,
                    .session_max_ms = MAX};
    auth *a = NULL;
    ferry_err err = {0};
    CU_ASSERT_EQUAL_FATAL(auth_open(&cfg, &a, &err), FERRY_OK);
    return a;
}

/* A user kept "in Redis" with a fresh token, returned in token. */
static void keep_user(const char *name, auth_role role, const char *app, int64_t expires,
                      char token[AUTH_TOKEN_MAX + 1])
{
    auth_user *u = &kept[n_kept++];
    ferry_err err = {0};
    memset(u, 0, sizeof(*u));
    (void)snprintf(u->name, sizeof(u->name), "%s", name);
    u->role = role;
    u->expires_at = expires;
    if (app != NULL) {
        u->apps = calloc(1, sizeof(*u->apps));
        u->apps[0] = strdup(app);
        u->n_apps = 1;
    }
    CU_ASSERT_EQUAL(auth_token_new(name, token, u->token_hash, &err), FERRY_OK);
}

static void forget_kept(void)
{
    for (size_t i = 0; i < n_kept; i++)
        auth_user_cleanup(&kept[i]);
    n_kept = 0;
    lookup_down = false;
}

static void tokens_and_their_hashes(void)
{
    auth *a = open_auth(NULL);
    auth_user who = {0};
    ferry_err err = {0};
    char why[256], token[AUTH_TOKEN_MAX + 1], name[AUTH_NAME_MAX + 1];
    keep_user("ops-shop", AUTH_OPERATOR, "shop", 0, token);
    CU_ASSERT_TRUE(auth_token_user(token, name));
    CU_ASSERT_STRING_EQUAL(name, "ops-shop");
    CU_ASSERT_EQUAL(strlen(token), strlen("fy1.ops-shop.") + AUTH_SECRET_LEN);
    CU_ASSERT_EQUAL(strncmp(kept[0].token_hash, "$argon2id$", 10), 0);
    CU_ASSERT_PTR_NULL(strstr(kept[0].token_hash, token + 13)); /* the hash hides the secret */

    lookups = 0;
    CU_ASSERT_EQUAL(auth_token_check(a, token, START, lookup, NULL, &who, why, sizeof(why), &err),
                    AUTH_OK);
    CU_ASSERT_STRING_EQUAL(who.name, "ops-shop");
    CU_ASSERT_EQUAL(who.role, AUTH_OPERATOR);
    /* Remembered: the second check finds the user again but needs no hash check (it would take
     * about 0.1 s); a wrong secret of the same user is still refused. */
    CU_ASSERT_EQUAL(
        auth_token_check(a, token, START + 1, lookup, NULL, &who, why, sizeof(why), &err), AUTH_OK);
    CU_ASSERT_EQUAL(lookups, 2);
    char wrong[AUTH_TOKEN_MAX + 1];
    (void)snprintf(wrong, sizeof(wrong), "%s", token);
    wrong[strlen(wrong) - 1] = wrong[strlen(wrong) - 1] == 'A' ? 'B' : 'A';
    CU_ASSERT_EQUAL(auth_token_check(a, wrong, START, lookup, NULL, &who, why, sizeof(why), &err),
                    AUTH_WRONG);
    CU_ASSERT_STRING_EQUAL(why, "wrong token");
    /* A new hash (a new token) refuses the old one, remembered or not. */
    char token2[AUTH_TOKEN_MAX + 1];
    CU_ASSERT_EQUAL(auth_token_new("ops-shop", token2, kept[0].token_hash, &err), FERRY_OK);
    CU_ASSERT_EQUAL(auth_token_check(a, token, START, lookup, NULL, &who, why, sizeof(why), &err),
                    AUTH_WRONG);
    CU_ASSERT_EQUAL(auth_token_check(a, token2, START, lookup, NULL, &who, why, sizeof(why), &err),
                    AUTH_OK);
    /* Unknown users, tokens of no form, the bootstrap token, Redis away. */
    CU_ASSERT_EQUAL(auth_token_check(a, "fy1.nobody.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                                     START, lookup, NULL, &who, why, sizeof(why), &err),
                    AUTH_WRONG);
    CU_ASSERT_EQUAL(
        auth_token_check(a, "nonsense", START, lookup, NULL, &who, why, sizeof(why), &err),
        AUTH_WRONG);
    CU_ASSERT_EQUAL(auth_token_check(a, "", START, lookup, NULL, &who, why, sizeof(why), &err),
                    AUTH_NONE);
    CU_ASSERT_EQUAL(auth_token_check(a, BOOT, START, lookup, NULL, &who, why, sizeof(why), &err),
                    AUTH_OK);
    CU_ASSERT_STRING_EQUAL(who.name, AUTH_BOOTSTRAP);
    CU_ASSERT_EQUAL(who.role, AUTH_ADMIN);
    CU_ASSERT_EQUAL(
        auth_token_check(a, BOOT "x", START, lookup, NULL, &who, why, sizeof(why), &err),
        AUTH_WRONG);
    lookup_down = true;
    CU_ASSERT_EQUAL(auth_token_check(a, token2, START, lookup, NULL, &who, why, sizeof(why), &err),
                    AUTH_UNAVAILABLE);
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "redis is away"));
    auth_user_cleanup(&who);
    forget_kept();
    auth_close(a);
}

static void expired_tokens(void)
{
    auth *a = open_auth(NULL);
    auth_user who = {0};
    ferry_err err = {0};
    char why[256], token[AUTH_TOKEN_MAX + 1];
    keep_user("temp", AUTH_VIEWER, NULL, START + 100, token);
    CU_ASSERT_EQUAL(auth_token_check(a, token, START, lookup, NULL, &who, why, sizeof(why), &err),
                    AUTH_OK);
    CU_ASSERT_EQUAL(
        auth_token_check(a, token, START + 100, lookup, NULL, &who, why, sizeof(why), &err),
        AUTH_EXPIRED);
    CU_ASSERT_STRING_EQUAL(why, "the token of temp expired");
    auth_user_cleanup(&who);
    forget_kept();
    auth_close(a);
}

static void sessions(void)
{
    auth *a = open_auth(NULL);
    auth_user who = {0};
    ferry_err err = {0};
    char why[256], token[AUTH_TOKEN_MAX + 1], id[AUTH_SECRET_LEN + 1], csrf[AUTH_SECRET_LEN + 1];
    char seen_csrf[AUTH_SECRET_LEN + 1];
    keep_user("ops-shop", AUTH_OPERATOR, "shop", 0, token);
    CU_ASSERT_EQUAL(auth_token_check(a, token, START, lookup, NULL, &who, why, sizeof(why), &err),
                    AUTH_OK);
    auth_session_start(a, &who, START, id, csrf);
    CU_ASSERT_EQUAL(strlen(id), AUTH_SECRET_LEN);
    CU_ASSERT_NOT_EQUAL(strcmp(id, csrf), 0);
    /* Used within the idle time, again and again, until the session is too old. */
    int64_t t = START;
    for (; t + IDLE - 1 < START + MAX; t += IDLE - 1) {
        CU_ASSERT_EQUAL(
            auth_session_check(a, id, t, lookup, NULL, &who, seen_csrf, why, sizeof(why), &err),
            AUTH_OK);
        CU_ASSERT_STRING_EQUAL(seen_csrf, csrf);
    }
    CU_ASSERT_EQUAL(auth_session_check(a, id, START + MAX, lookup, NULL, &who, seen_csrf, why,
                                       sizeof(why), &err),
                    AUTH_WRONG);
    /* Idle too long. */
    auth_session_start(a, &who, START, id, csrf);
    CU_ASSERT_EQUAL(auth_session_check(a, id, START + IDLE, lookup, NULL, &who, seen_csrf, why,
                                       sizeof(why), &err),
                    AUTH_WRONG);
    /* Logout, and a session of a user given a new token or removed. */
    auth_session_start(a, &who, START, id, csrf);
    auth_session_end(a, id);
    CU_ASSERT_EQUAL(
        auth_session_check(a, id, START, lookup, NULL, &who, seen_csrf, why, sizeof(why), &err),
        AUTH_WRONG);
    CU_ASSERT_EQUAL(auth_token_check(a, token, START, lookup, NULL, &who, why, sizeof(why), &err),
                    AUTH_OK);
    auth_session_start(a, &who, START, id, csrf);
    char token2[AUTH_TOKEN_MAX + 1];
    CU_ASSERT_EQUAL(auth_token_new("ops-shop", token2, kept[0].token_hash, &err), FERRY_OK);
    CU_ASSERT_EQUAL(
        auth_session_check(a, id, START, lookup, NULL, &who, seen_csrf, why, sizeof(why), &err),
        AUTH_WRONG);
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "new token"));
    CU_ASSERT_EQUAL(auth_session_check(a, "not-a-session", START, lookup, NULL, &who, seen_csrf,
                                       why, sizeof(why), &err),
                    AUTH_WRONG);
    auth_user_cleanup(&who);
    forget_kept();
    auth_close(a);
}

static void roles(void)
{
    auth_user op = {0}, viewer = {0}, admin = {0};
    char why[256], text[200];
    json_t *j =
        json_loads("{\"name\":\"ops\",\"role\":\"operator\",\"apps\":[\"shop\",\"crm\"]}", 0, NULL);
    CU_ASSERT_TRUE(auth_user_from_json(j, false, &op, why, sizeof(why)));
    json_decref(j);
    viewer.role = AUTH_VIEWER;
    admin.role = AUTH_ADMIN;
    CU_ASSERT_TRUE(auth_may_command(&op, "shop"));
    CU_ASSERT_TRUE(auth_may_command(&op, "crm"));
    CU_ASSERT_FALSE(auth_may_command(&op, "shop2"));
    CU_ASSERT_FALSE(auth_may_command(&op, NULL));
    CU_ASSERT_FALSE(auth_may_command(&viewer, "shop"));
    CU_ASSERT_TRUE(auth_may_command(&admin, "anything"));
    auth_user_describe(&op, text, sizeof(text));
    CU_ASSERT_STRING_EQUAL(text, "ops (operator of shop, crm)");
    /* What the JSON of a user may not say, each with the field named. */
    static const struct {
        const char *json, *why;
    } bad[] = {
        {"{\"name\":\"Ops\",\"role\":\"viewer\"}", "name: "},
        {"{\"name\":\"ops\",\"role\":\"root\"}", "role: "},
        {"{\"name\":\"ops\",\"role\":\"operator\"}", "apps: an operator needs"},
        {"{\"name\":\"ops\",\"role\":\"viewer\",\"apps\":[\"shop\"]}", "apps: only an operator"},
        {"{\"name\":\"ops\",\"role\":\"viewer\",\"token_hash\":\"x\"}", "token_hash: not given"},
        {"{\"name\":\"ops\",\"role\":\"viewer\",\"expires_at\":\"soon\"}", "expires_at: "},
        {"{\"name\":\"ops\",\"role\":\"viewer\",\"colour\":1}", "colour: unknown field"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        auth_user u = {0};
        j = json_loads(bad[i].json, 0, NULL);
        CU_ASSERT_FALSE(auth_user_from_json(j, false, &u, why, sizeof(why)));
        CU_ASSERT_EQUAL(strncmp(why, bad[i].why, strlen(bad[i].why)), 0);
        json_decref(j);
        auth_user_cleanup(&u);
    }
    auth_user_cleanup(&op);
}

/* The users file: read at start, its users found without the lookup, mistakes named. */
static void users_file(void)
{
    char path[] = "/tmp/ferry-test-users-XXXXXX";
    int fd = mkstemp(path);
    CU_ASSERT_FATAL(fd >= 0);
    char token[AUTH_TOKEN_MAX + 1], hash[AUTH_HASH_MAX + 1];
    ferry_err err = {0};
    CU_ASSERT_EQUAL(auth_token_new("dash", token, hash, &err), FERRY_OK);
    FILE *f = fdopen(fd, "w");
    (void)fprintf(f,
                  "{\"users\": [{\"name\": \"dash\", \"role\": \"viewer\", \"token_hash\": "
                  "\"%s\"}]}",
                  hash);
    (void)fclose(f);
    auth *a = open_auth(path);
    auth_user who = {0};
    char why[256];
    lookups = 0;
    CU_ASSERT_EQUAL(auth_token_check(a, token, START, lookup, NULL, &who, why, sizeof(why), &err),
                    AUTH_OK);
    CU_ASSERT_EQUAL(lookups, 0);
    CU_ASSERT_EQUAL(who.source, AUTH_FROM_FILE);
    size_t n = 0;
    const auth_user *local = auth_local_users(a, &n);
    CU_ASSERT_EQUAL(n, 2);
    CU_ASSERT_STRING_EQUAL(local[1].name, AUTH_BOOTSTRAP);
    auth_user_cleanup(&who);
    auth_close(a);

    f = fopen(path, "w");
    (void)fprintf(f,
                  "{\"users\": [{\"name\": \"dash\", \"role\": \"viewer\", \"token_hash\": "
                  "\"%s\"}, {\"name\": \"x\", \"role\": \"viewer\"}]}",
                  hash);
    (void)fclose(f);
    auth_cfg cfg = {
        .bootstrap_token = BOOT, .users_file = path, .session_idle_ms = 1, .session_max_ms = 1};
    a = NULL;
    CU_ASSERT_EQUAL(auth_open(&cfg, &a, &err), FERRY_ERR_CONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "$.users[1].token_hash"));
    CU_ASSERT_PTR_NULL(a);
    f = fopen(path, "w");
    (void)fprintf(f,
                  "{\"users\": [{\"name\": \"admin\", \"role\": \"viewer\", \"token_hash\": "
                  "\"%s\"}]}",
                  hash);
    (void)fclose(f);
    CU_ASSERT_EQUAL(auth_open(&cfg, &a, &err), FERRY_ERR_CONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "bootstrap admin"));
    f = fopen(path, "w");
    (void)fprintf(f, "{\"users\": [ ");
    (void)fclose(f);
    CU_ASSERT_EQUAL(auth_open(&cfg, &a, &err), FERRY_ERR_CONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "line 1"));
    (void)unlink(path);
}

static const ferry_test_case cases[] = {
    {"tokens are checked against their hash, then remembered", tokens_and_their_hashes},
    {"an expired token is refused", expired_tokens},
    {"sessions end idle, old, at logout and with a new token", sessions},
    {"roles and users' JSON", roles},
    {"the users file", users_file},
    {NULL, NULL},
};

int main(void)
{
    static const ferry_test_suite suites[] = {{"auth", NULL, NULL, cases}, {NULL}};
    return ferry_test_main(suites);
}
