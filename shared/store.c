/* store.c - Ferry's state in Redis through one hiredis connection per ferry_store. */
#include "ferry/store.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "ferry/log.h"
#include "ferry_lua_embedded.h"

/* Every script in shared/lua/ is embedded (ferry_lua_files), loaded with SCRIPT LOAD at open
 * and called with EVALSHA. */
#define SCRIPTS_MAX 32

#define COUNT_MAX 10000

struct ferry_store {
    redisContext *ctx; /* NULL when there is no usable connection: the next call opens one */
    ferry_store_url url;
    char *password;  /* NULL, or an owned copy kept for reconnects; wiped on close */
    int timeout_ms;  /* connect and reply timeout */
    char name[64];   /* CLIENT SETNAME after every connect; "" for none */
    char where[300]; /* "host:port/db", the prefix of every message */
    char sha[SCRIPTS_MAX][41];
};

/* ------------------------------------------------------------------ small helpers */

/* Printable ASCII without space; no braces when the text goes into a key. */
static bool name_ok(const char *s, size_t max)
{
    if (s == NULL)
        return false;
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f || c == '{' || c == '}')
            return false;
    }
    return true;
}

static struct timeval ms_to_tv(int ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    return tv;
}

static char *dup_len(const char *s, size_t len)
{
    char *p = malloc(len + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

/* Copies text into a fixed buffer; false when it does not fit. */
static bool copy_text(char *dst, size_t dstsz, const char *src, size_t len)
{
    if (len >= dstsz)
        return false;
    memcpy(dst, src, len);
    dst[len] = '\0';
    return true;
}

/* The arguments of one command; the strings are borrowed until the call returns. */
#define ARGS_CAP 32
typedef struct cmd_args {
    int argc;
    const char *argv[ARGS_CAP];
    size_t len[ARGS_CAP];
} cmd_args;

static void args_add(cmd_args *a, const char *s)
{
    if (a->argc < ARGS_CAP) {
        a->argv[a->argc] = s;
        a->len[a->argc] = strlen(s);
    }
    a->argc++;
}

/* "HGETALL", or "SCRIPT LOAD" for commands with a subcommand; never an argument's value. */
static void args_label(int argc, const char *const *argv, char *out, size_t outsz)
{
    static const char *const with_sub[] = {"SCRIPT", "XGROUP", "CLIENT", "CONFIG", "INFO"};
    bool sub = false;
    for (size_t i = 0; i < sizeof(with_sub) / sizeof(with_sub[0]); i++)
        sub = sub || (argc > 1 && strcasecmp(argv[0], with_sub[i]) == 0);
    if (sub)
        (void)snprintf(out, outsz, "%.24s %.24s", argv[0], argv[1]);
    else
        (void)snprintf(out, outsz, "%.32s", argc > 0 ? argv[0] : "?");
}

/* ------------------------------------------------------------------ errors */

ferry_rc ferry_store_error_rc(const char *reply_text)
{
    static const struct {
        const char *prefix;
        ferry_rc rc;
    } map[] = {
        {"NOAUTH", FERRY_ERR_AUTH},
        {"WRONGPASS", FERRY_ERR_AUTH},
        {"NOPERM", FERRY_ERR_PERMISSION},
        {"LOADING", FERRY_ERR_UNAVAILABLE},
        {"MASTERDOWN", FERRY_ERR_UNAVAILABLE},
        {"READONLY", FERRY_ERR_UNAVAILABLE},
        {"TRYAGAIN", FERRY_ERR_UNAVAILABLE},
        {"CLUSTERDOWN", FERRY_ERR_UNAVAILABLE},
        {"BUSY", FERRY_ERR_BUSY},
        {"OOM", FERRY_ERR_NO_SPACE},
        {"MISCONF", FERRY_ERR_SERVER},
        {"NOSCRIPT", FERRY_ERR_NOT_FOUND},
        {"NOGROUP", FERRY_ERR_NOT_FOUND},
        {"BUSYGROUP", FERRY_ERR_CONFLICT},
        {"WRONGTYPE", FERRY_ERR_INVALID},
        {"MOVED", FERRY_ERR_UNSUPPORTED},
        {"ASK", FERRY_ERR_UNSUPPORTED},
        {"CROSSSLOT", FERRY_ERR_UNSUPPORTED},
    };
    if (reply_text == NULL)
        return FERRY_ERR_PROTOCOL;
    size_t word = strcspn(reply_text, " ");
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (strlen(map[i].prefix) == word && strncmp(reply_text, map[i].prefix, word) == 0)
            return map[i].rc;
    }
    return FERRY_ERR_PROTOCOL;
}

/* Maps a failed context (hiredis: the context must not be used again) to a result. */
static ferry_rc ctx_error(const redisContext *ctx, int saved_errno, const char *where,
                          const char *what, ferry_err *err)
{
    ferry_rc rc = FERRY_ERR_UNAVAILABLE;
    const char *text = ctx->errstr[0] != '\0' ? ctx->errstr : "connection failed";
    switch (ctx->err) {
    case REDIS_ERR_IO:
        /* A read past SO_RCVTIMEO fails with EAGAIN; a connect past its timeout with
         * ETIMEDOUT. errno may have been overwritten since, so the text decides too. */
        if (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK || saved_errno == ETIMEDOUT ||
            strstr(text, "timed out") != NULL || strstr(text, "temporarily unavailable") != NULL)
            rc = FERRY_ERR_TIMEOUT;
        break;
    case REDIS_ERR_OOM:
        rc = FERRY_ERR_NOMEM;
        break;
    case REDIS_ERR_PROTOCOL:
        rc = FERRY_ERR_PROTOCOL;
        break;
    default: /* REDIS_ERR_EOF, REDIS_ERR_OTHER (name resolution, ...) */
        break;
    }
    return ferry_err_set(err, rc, "redis %s: %s: %s", where, what, text);
}

/* ------------------------------------------------------------------ SIGPIPE */

/*
 * hiredis writes with write(2), so a write to a connection the server reset raises SIGPIPE,
 * whose default action ends the process. A library must not decide that for its binary: block
 * SIGPIPE in this thread around each call and swallow one it caused (the libpq technique).
 */
typedef struct pipe_guard {
    sigset_t old;
    bool blocked;
    bool was_pending;
} pipe_guard;

static void pipe_guard_on(pipe_guard *g)
{
    sigset_t set, pending;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    g->blocked = pthread_sigmask(SIG_BLOCK, &set, &g->old) == 0;
    g->was_pending = false;
    if (g->blocked && sigpending(&pending) == 0)
        g->was_pending = sigismember(&pending, SIGPIPE) == 1;
}

static void pipe_guard_off(pipe_guard *g)
{
    if (!g->blocked)
        return;
    int saved = errno;
    sigset_t set, pending;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    if (!g->was_pending && sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1) {
        struct timespec zero = {0, 0};
        (void)sigtimedwait(&set, NULL, &zero); /* consumes the SIGPIPE we caused */
    }
    (void)pthread_sigmask(SIG_SETMASK, &g->old, NULL);
    errno = saved;
}

/* ------------------------------------------------------------------ one command */

/*
 * Sends one command on ctx and reads its reply. Returns FERRY_OK with a non-error reply in
 * *out; for an error reply, its mapped code with the reply in *out (so the caller can look at
 * it); for a failed connection, its code with *out NULL (ctx is then unusable). The caller
 * frees *out with freeReplyObject().
 */
static ferry_rc ctx_call_argv(redisContext *ctx, const char *where, int argc,
                              const char *const *argv, const size_t *len, redisReply **out,
                              ferry_err *err)
{
    char label[64];
    args_label(argc, argv, label, sizeof(label));
    *out = NULL;
    pipe_guard guard;
    pipe_guard_on(&guard);
    errno = 0;
    /* hiredis 0.14 takes `const char **` but only reads the array. */
    redisReply *reply = redisCommandArgv(ctx, argc, (const char **)argv, len);
    int saved_errno = errno;
    pipe_guard_off(&guard);
    if (reply == NULL)
        return ctx_error(ctx, saved_errno, where, label, err);
    *out = reply;
    if (reply->type != REDIS_REPLY_ERROR)
        return FERRY_OK;
    return ferry_err_set(err, ferry_store_error_rc(reply->str), "redis %s: %s: %s", where, label,
                         reply->str);
}

static ferry_rc ctx_call(redisContext *ctx, const char *where, const cmd_args *a, redisReply **out,
                         ferry_err *err)
{
    *out = NULL;
    if (a->argc > ARGS_CAP)
        return ferry_err_set(err, FERRY_ERR_INTERNAL, "redis %s: %s: too many arguments", where,
                             a->argv[0]);
    return ctx_call_argv(ctx, where, a->argc, a->argv, a->len, out, err);
}

/* Opens a connection: connect, timeouts, AUTH, SELECT, CLIENT SETNAME. Sets store->ctx. */
static ferry_rc store_connect(ferry_store *store, ferry_err *err)
{
    ferry_rc rc = FERRY_OK;
    redisReply *reply = NULL;
    struct timeval tv = ms_to_tv(store->timeout_ms);

    errno = 0;
    redisContext *ctx = redisConnectWithTimeout(store->url.host, store->url.port, tv);
    if (ctx == NULL) {
        rc = ferry_err_set(err, FERRY_ERR_NOMEM, "redis %s: connect: out of memory", store->where);
        goto out;
    }
    if (ctx->err != 0) {
        rc = ctx_error(ctx, errno, store->where, "connect", err);
        goto out;
    }
    if (redisSetTimeout(ctx, tv) != REDIS_OK) {
        rc = ctx_error(ctx, errno, store->where, "set timeout", err);
        goto out;
    }
    if (store->password != NULL) {
        cmd_args a = {0};
        args_add(&a, "AUTH");
        if (store->url.user[0] != '\0')
            args_add(&a, store->url.user);
        args_add(&a, store->password);
        rc = ctx_call(ctx, store->where, &a, &reply, err);
        if (rc != FERRY_OK && reply != NULL) {
            /* Redis's text helps ("WRONGPASS ...", "ERR AUTH <password> called without any
             * password configured ..."); should it ever echo the password, keep its first word. */
            int len = strstr(reply->str, store->password) == NULL
                          ? (int)(reply->len > 200 ? 200 : reply->len)
                          : (int)strcspn(reply->str, " ");
            rc = ferry_err_set(err, FERRY_ERR_AUTH, "redis %s: AUTH refused: %.*s", store->where,
                               len, reply->str);
        }
        if (rc != FERRY_OK)
            goto out;
        freeReplyObject(reply);
        reply = NULL;
    }

    char db[16];
    (void)snprintf(db, sizeof(db), "%d", store->url.db);
    cmd_args sel = {0};
    args_add(&sel, "SELECT");
    args_add(&sel, db);
    rc = ctx_call(ctx, store->where, &sel, &reply, err);
    if (rc == FERRY_ERR_PROTOCOL && reply != NULL) /* "ERR DB index is out of range" */
        rc = ferry_err_set(err, FERRY_ERR_INVALID, "redis %s: SELECT refused: %s", store->where,
                           reply->str);
    if (rc != FERRY_OK)
        goto out;
    freeReplyObject(reply);
    reply = NULL;

    if (store->name[0] != '\0') {
        cmd_args a = {0};
        args_add(&a, "CLIENT");
        args_add(&a, "SETNAME");
        args_add(&a, store->name);
        rc = ctx_call(ctx, store->where, &a, &reply, err);
        if (rc != FERRY_OK)
            goto out;
    }
    store->ctx = ctx;
    ctx = NULL;
out:
    freeReplyObject(reply);
    if (ctx != NULL)
        redisFree(ctx);
    return rc;
}

static void store_drop(ferry_store *store)
{
    if (store->ctx != NULL) {
        redisFree(store->ctx);
        store->ctx = NULL;
    }
}

/*
 * True when the connection can't be used: it failed, or the socket is readable while we
 * expect nothing, which means the server closed it (idle timeout, CLIENT KILL, restart).
 * Checking costs one poll(2) and lets even a non-retried command go out on a live connection.
 */
static bool conn_dead(const redisContext *ctx)
{
    if (ctx->err != 0 || ctx->fd < 0)
        return true;
    struct pollfd pfd = {.fd = ctx->fd, .events = POLLIN};
    int n = poll(&pfd, 1, 0);
    if (n < 0)
        return errno != EINTR;
    return n > 0;
}

static ferry_rc store_ready(ferry_store *store, ferry_err *err)
{
    if (store->ctx != NULL && !conn_dead(store->ctx))
        return FERRY_OK;
    store_drop(store);
    return store_connect(store, err);
}

/*
 * One command with the module's reconnect policy: (re)connect when needed, send, and when the
 * connection fails during the call drop it; if `retry` (the command is safe to repeat), do it
 * once more on a new connection. Same reply contract as ctx_call().
 */
static ferry_rc store_call_argv(ferry_store *store, bool retry, int argc, const char *const *argv,
                                const size_t *len, redisReply **out, ferry_err *err)
{
    *out = NULL;
    for (int round = 0;; round++) {
        ferry_rc rc = store_ready(store, err);
        if (rc != FERRY_OK)
            return rc;
        rc = ctx_call_argv(store->ctx, store->where, argc, argv, len, out, err);
        if (rc == FERRY_OK || *out != NULL)
            return rc; /* a reply, even an error reply, means the connection is fine */
        store_drop(store);
        if (!retry || round > 0 || rc != FERRY_ERR_UNAVAILABLE)
            return rc;
    }
}

static ferry_rc store_call(ferry_store *store, bool retry, const cmd_args *a, redisReply **out,
                           ferry_err *err)
{
    *out = NULL;
    if (a->argc > ARGS_CAP)
        return ferry_err_set(err, FERRY_ERR_INTERNAL, "redis %s: %s: too many arguments",
                             store->where, a->argv[0]);
    return store_call_argv(store, retry, a->argc, a->argv, a->len, out, err);
}

/* ------------------------------------------------------------------ URL */

ferry_rc ferry_store_url_parse(const char *url, ferry_store_url *out, ferry_err *err)
{
    memset(out, 0, sizeof(*out));
    out->port = 6379;
    if (url == NULL || url[0] == '\0')
        return ferry_err_set(err, FERRY_ERR_INVALID, "redis URL is empty");
    char shown[256];
    (void)ferry_redact(url, shown, sizeof(shown));
    if (strncasecmp(url, "rediss://", 9) == 0)
        return ferry_err_set(err, FERRY_ERR_UNSUPPORTED,
                             "redis URL '%s': TLS (rediss://) is not supported", shown);
    if (strncasecmp(url, "redis://", 8) != 0)
        return ferry_err_set(err, FERRY_ERR_INVALID, "redis URL '%s' does not start with redis://",
                             shown);
    const char *p = url + 8;
    size_t auth_len = strcspn(p, "/?#");
    if (strpbrk(p, "?#") != NULL)
        return ferry_err_set(err, FERRY_ERR_INVALID,
                             "redis URL '%s': a query or fragment is not allowed", shown);

    /* userinfo: the part before the last '@' of the authority */
    const char *at = NULL;
    for (const char *q = p; q < p + auth_len; q++) {
        if (*q == '@')
            at = q;
    }
    if (at != NULL) {
        size_t ulen = (size_t)(at - p);
        if (memchr(p, ':', ulen) != NULL)
            return ferry_err_set(err, FERRY_ERR_INVALID,
                                 "redis URL holds a password: give it separately "
                                 "(FERRY_REDIS_PASSWORD)");
        if (!copy_text(out->user, sizeof(out->user), p, ulen) ||
            !name_ok(out->user, sizeof(out->user) - 1))
            return ferry_err_set(err, FERRY_ERR_INVALID, "redis URL '%s': bad user name", shown);
        auth_len -= ulen + 1;
        p = at + 1;
    }

    /* host, [v6], then :port */
    const char *auth_end = p + auth_len;
    const char *host = p, *host_end = NULL, *port = NULL;
    if (*p == '[') {
        host = p + 1;
        host_end = memchr(host, ']', (size_t)(auth_end - host));
        if (host_end == NULL)
            return ferry_err_set(err, FERRY_ERR_INVALID, "redis URL '%s': unclosed '['", shown);
        if (host_end + 1 < auth_end && host_end[1] != ':')
            return ferry_err_set(err, FERRY_ERR_INVALID, "redis URL '%s': bad host", shown);
        port = host_end + 1 < auth_end ? host_end + 2 : NULL;
    } else {
        host_end = memchr(p, ':', auth_len);
        if (host_end != NULL)
            port = host_end + 1;
        else
            host_end = auth_end;
    }
    size_t hlen = (size_t)(host_end - host);
    if (hlen == 0 || !copy_text(out->host, sizeof(out->host), host, hlen))
        return ferry_err_set(err, FERRY_ERR_INVALID, "redis URL '%s': bad host", shown);
    for (size_t i = 0; i < hlen; i++) {
        unsigned char c = (unsigned char)out->host[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '-' || c == '_' || (host != p && (c == ':' || c == '%'));
        if (!ok)
            return ferry_err_set(err, FERRY_ERR_INVALID, "redis URL '%s': bad host", shown);
    }
    if (port != NULL) {
        size_t plen = (size_t)(auth_end - port);
        long v = 0;
        for (size_t i = 0; i < plen; i++) {
            if (port[i] < '0' || port[i] > '9' || v > 65535) {
                v = -1;
                break;
            }
            v = v * 10 + (port[i] - '0');
        }
        if (plen == 0 || v < 1 || v > 65535)
            return ferry_err_set(err, FERRY_ERR_INVALID, "redis URL '%s': bad port", shown);
        out->port = (int)v;
    }

    /* /db */
    const char *path = auth_end;
    if (*path == '/' && path[1] != '\0') {
        const char *d = path + 1;
        long v = 0;
        for (; *d != '\0'; d++) {
            if (*d < '0' || *d > '9' || v > 65535)
                break;
            v = v * 10 + (*d - '0');
        }
        if (*d != '\0' || v > 65535)
            return ferry_err_set(err, FERRY_ERR_INVALID,
                                 "redis URL '%s': the path must be a database number", shown);
        out->db = (int)v;
    }
    return FERRY_OK;
}

/* ------------------------------------------------------------------ open, close */

/* The index of the embedded script `name` in ferry_lua_files, or -1. */
static int script_index(const char *name)
{
    for (unsigned i = 0; i < ferry_lua_count; i++) {
        if (strcmp(ferry_lua_files[i].name, name) == 0)
            return (int)i;
    }
    return -1;
}

static ferry_rc script_load(ferry_store *store, int idx, ferry_err *err)
{
    redisReply *reply = NULL;
    cmd_args a = {0};
    args_add(&a, "SCRIPT");
    args_add(&a, "LOAD");
    args_add(&a, ferry_lua_files[idx].text);
    ferry_rc rc = store_call(store, true, &a, &reply, err);
    if (rc != FERRY_OK) {
        (void)ferry_err_prefix(err, "loading script %s", ferry_lua_files[idx].name);
        goto out;
    }
    if (reply->type != REDIS_REPLY_STRING ||
        !copy_text(store->sha[idx], sizeof(store->sha[idx]), reply->str, reply->len)) {
        rc = ferry_err_set(err, FERRY_ERR_PROTOCOL, "redis %s: SCRIPT LOAD %s: unexpected reply",
                           store->where, ferry_lua_files[idx].name);
        goto out;
    }
out:
    freeReplyObject(reply);
    return rc;
}

ferry_rc ferry_store_open(const char *url, const char *password, int timeout_ms, ferry_store **out,
                          ferry_err *err)
{
    ferry_rc rc = FERRY_OK;
    ferry_store *store = NULL;
    if (out == NULL)
        return ferry_err_set(err, FERRY_ERR_INVALID, "redis: no place for the store");
    *out = NULL;
    if (timeout_ms <= 0)
        return ferry_err_set(err, FERRY_ERR_INVALID, "redis: the timeout must be positive");
    store = calloc(1, sizeof(*store));
    if (store == NULL)
        return ferry_err_set(err, FERRY_ERR_NOMEM, "redis: out of memory");
    store->timeout_ms = timeout_ms;
    rc = ferry_store_url_parse(url, &store->url, err);
    if (rc != FERRY_OK)
        goto out;
    bool v6 = strchr(store->url.host, ':') != NULL;
    (void)snprintf(store->where, sizeof(store->where), "%s%s%s:%d/%d", v6 ? "[" : "",
                   store->url.host, v6 ? "]" : "", store->url.port, store->url.db);
    if (password != NULL && password[0] != '\0') {
        store->password = dup_len(password, strlen(password));
        if (store->password == NULL) {
            rc = ferry_err_set(err, FERRY_ERR_NOMEM, "redis: out of memory");
            goto out;
        }
    } else if (store->url.user[0] != '\0') {
        rc = ferry_err_set(err, FERRY_ERR_INVALID, "redis %s: a user name needs a password",
                           store->where);
        goto out;
    }
    rc = store_connect(store, err);
    if (rc != FERRY_OK)
        goto out;
    if (ferry_lua_count > SCRIPTS_MAX) {
        rc = ferry_err_set(err, FERRY_ERR_INTERNAL, "redis: embedded scripts missing or too many");
        goto out;
    }
    for (int i = 0; i < (int)ferry_lua_count; i++) {
        rc = script_load(store, i, err);
        if (rc != FERRY_OK)
            goto out;
    }
    *out = store;
    store = NULL;
out:
    ferry_store_close(store);
    return rc;
}

void ferry_store_close(ferry_store *store)
{
    if (store == NULL)
        return;
    store_drop(store);
    if (store->password != NULL) {
        explicit_bzero(store->password, strlen(store->password));
        free(store->password);
    }
    free(store);
}

ferry_rc ferry_store_set_name(ferry_store *store, const char *name, ferry_err *err)
{
    if (store == NULL || !name_ok(name, sizeof(store->name) - 1))
        return ferry_err_set(err, FERRY_ERR_INVALID,
                             "redis: a client name is 1..63 characters without spaces");
    redisReply *reply = NULL;
    cmd_args a = {0};
    args_add(&a, "CLIENT");
    args_add(&a, "SETNAME");
    args_add(&a, name);
    ferry_rc rc = store_call(store, true, &a, &reply, err);
    if (rc == FERRY_OK)
        (void)snprintf(store->name, sizeof(store->name), "%s", name);
    freeReplyObject(reply);
    return rc;
}

ferry_rc ferry_store_ping(ferry_store *store, ferry_err *err)
{
    if (store == NULL)
        return ferry_err_set(err, FERRY_ERR_INVALID, "redis: no store");
    redisReply *reply = NULL;
    cmd_args a = {0};
    args_add(&a, "PING");
    ferry_rc rc = store_call(store, true, &a, &reply, err);
    freeReplyObject(reply);
    return rc;
}

ferry_rc ferry_store_aof_enabled(ferry_store *store, bool *enabled, ferry_err *err)
{
    if (store == NULL || enabled == NULL)
        return ferry_err_set(err, FERRY_ERR_INVALID, "redis: no store");
    redisReply *reply = NULL;
    cmd_args a = {0};
    args_add(&a, "INFO");
    args_add(&a, "persistence");
    ferry_rc rc = store_call(store, true, &a, &reply, err);
    if (rc != FERRY_OK)
        goto out;
    const char *line =
        reply->type == REDIS_REPLY_STRING ? strstr(reply->str, "aof_enabled:") : NULL;
    if (line == NULL || (line != reply->str && line[-1] != '\n')) {
        rc = ferry_err_set(err, FERRY_ERR_PROTOCOL, "redis %s: INFO persistence: no aof_enabled",
                           store->where);
        goto out;
    }
    *enabled = line[strlen("aof_enabled:")] == '1';
out:
    freeReplyObject(reply);
    return rc;
}

/* ------------------------------------------------------------------ records */

static void record_cleanup(ferry_store_record *rec)
{
    for (size_t i = 0; i < rec->count; i++) {
        free(rec->pairs[i].name);
        free(rec->pairs[i].value);
    }
    free(rec->pairs);
    rec->pairs = NULL;
    rec->count = 0;
}

/* Fills rec from a flat array of name, value strings. False when out of memory or malformed
 * (*bad tells which). */
static bool record_fill(ferry_store_record *rec, const redisReply *flat, bool *bad)
{
    *bad = false;
    rec->count = 0;
    rec->pairs = NULL;
    if (flat->type != REDIS_REPLY_ARRAY || flat->elements % 2 != 0) {
        *bad = true;
        return false;
    }
    if (flat->elements == 0)
        return true;
    rec->pairs = calloc(flat->elements / 2, sizeof(*rec->pairs));
    if (rec->pairs == NULL)
        return false;
    for (size_t i = 0; i + 1 < flat->elements; i += 2) {
        const redisReply *n = flat->element[i], *v = flat->element[i + 1];
        if (n->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) {
            *bad = true;
            return false;
        }
        ferry_store_pair *pair = &rec->pairs[rec->count];
        pair->name = dup_len(n->str, n->len);
        pair->value = dup_len(v->str, v->len);
        pair->value_len = v->len;
        rec->count++; /* counted even when a copy failed, so cleanup frees the other */
        if (pair->name == NULL || pair->value == NULL)
            return false;
    }
    return true;
}

ferry_rc ferry_store_hgetall(ferry_store *store, const char *key, ferry_store_record **out,
                             ferry_err *err)
{
    ferry_rc rc = FERRY_OK;
    redisReply *reply = NULL;
    ferry_store_record *rec = NULL;
    if (out == NULL || store == NULL || key == NULL || key[0] == '\0')
        return ferry_err_set(err, FERRY_ERR_INVALID,
                             "redis: no store, key or place for the record");
    *out = NULL;
    cmd_args a = {0};
    args_add(&a, "HGETALL");
    args_add(&a, key);
    rc = store_call(store, true, &a, &reply, err);
    if (rc != FERRY_OK)
        goto out;
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 0) {
        rc = ferry_err_set(err, FERRY_ERR_NOT_FOUND, "redis %s: %s does not exist", store->where,
                           key);
        goto out;
    }
    rec = calloc(1, sizeof(*rec));
    if (rec == NULL) {
        rc = ferry_err_set(err, FERRY_ERR_NOMEM, "redis: out of memory");
        goto out;
    }
    bool bad = false;
    if (!record_fill(rec, reply, &bad)) {
        rc = bad ? ferry_err_set(err, FERRY_ERR_PROTOCOL, "redis %s: HGETALL %s: unexpected reply",
                                 store->where, key)
                 : ferry_err_set(err, FERRY_ERR_NOMEM, "redis: out of memory");
        goto out;
    }
    *out = rec;
    rec = NULL;
out:
    ferry_store_record_free(rec);
    freeReplyObject(reply);
    return rc;
}

const char *ferry_store_record_value(const ferry_store_record *rec, const char *name)
{
    if (rec == NULL || name == NULL)
        return NULL;
    for (size_t i = 0; i < rec->count; i++) {
        if (strcmp(rec->pairs[i].name, name) == 0)
            return rec->pairs[i].value;
    }
    return NULL;
}

void ferry_store_record_free(ferry_store_record *rec)
{
    if (rec == NULL)
        return;
    record_cleanup(rec);
    free(rec);
}

/* ------------------------------------------------------------------ streams */

static bool stream_args_ok(const char *stream, const char *group)
{
    /* Stream keys may hold braces (a hash tag); group names may not need them. */
    if (stream == NULL || stream[0] == '\0' || strlen(stream) > 2 * FERRY_STORE_NAME_MAX + 16)
        return false;
    for (const char *p = stream; *p != '\0'; p++) {
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
            return false;
    }
    return name_ok(group, FERRY_STORE_NAME_MAX);
}

ferry_rc ferry_store_group_create(ferry_store *store, const char *stream, const char *group,
                                  const char *start_id, ferry_err *err)
{
    if (store == NULL || !stream_args_ok(stream, group) ||
        (start_id != NULL && !name_ok(start_id, 64)))
        return ferry_err_set(err, FERRY_ERR_INVALID, "redis: bad stream, group or start id");
    redisReply *reply = NULL;
    cmd_args a = {0};
    args_add(&a, "XGROUP");
    args_add(&a, "CREATE");
    args_add(&a, stream);
    args_add(&a, group);
    args_add(&a, start_id != NULL ? start_id : "0");
    args_add(&a, "MKSTREAM");
    ferry_rc rc = store_call(store, true, &a, &reply, err);
    if (rc == FERRY_ERR_CONFLICT && reply != NULL && strncmp(reply->str, "BUSYGROUP", 9) == 0) {
        ferry_err_clear(err);
        rc = FERRY_OK; /* it exists already: that is what was asked for */
    }
    freeReplyObject(reply);
    return rc;
}

static void entries_cleanup(ferry_store_entries *entries)
{
    for (size_t i = 0; i < entries->count; i++) {
        free(entries->entries[i].id);
        record_cleanup(&entries->entries[i].fields);
    }
    free(entries->entries);
    entries->entries = NULL;
    entries->count = 0;
}

void ferry_store_entries_free(ferry_store_entries *entries)
{
    if (entries == NULL)
        return;
    entries_cleanup(entries);
    free(entries);
}

/* Fills out from a list of entries: [[id, [f, v, ...] or NIL], ...]. */
static ferry_rc entries_fill_list(ferry_store_entries *out, const redisReply *list, bool *bad)
{
    *bad = true;
    if (list->type != REDIS_REPLY_ARRAY)
        return FERRY_ERR_PROTOCOL;
    *bad = false;
    if (list->elements == 0)
        return FERRY_OK;
    out->entries = calloc(list->elements, sizeof(*out->entries));
    if (out->entries == NULL)
        return FERRY_ERR_NOMEM;
    for (size_t i = 0; i < list->elements; i++) {
        const redisReply *e = list->element[i];
        *bad = true;
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
            e->element[0]->type != REDIS_REPLY_STRING)
            return FERRY_ERR_PROTOCOL;
        ferry_store_entry *entry = &out->entries[out->count];
        out->count++;
        entry->id = dup_len(e->element[0]->str, e->element[0]->len);
        if (entry->id == NULL) {
            *bad = false;
            return FERRY_ERR_NOMEM;
        }
        if (e->element[1]->type == REDIS_REPLY_NIL) {
            *bad = false;
            continue; /* delivered, then trimmed away: no fields */
        }
        if (!record_fill(&entry->fields, e->element[1], bad))
            return *bad ? FERRY_ERR_PROTOCOL : FERRY_ERR_NOMEM;
    }
    *bad = false;
    return FERRY_OK;
}

/* Fills out from an XREADGROUP reply: NIL, or [[stream, [entries]]]. */
static ferry_rc entries_fill(ferry_store_entries *out, const redisReply *reply, bool *bad)
{
    *bad = true;
    if (reply->type == REDIS_REPLY_NIL) {
        *bad = false;
        return FERRY_OK;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 1)
        return FERRY_ERR_PROTOCOL;
    const redisReply *s = reply->element[0];
    if (s->type != REDIS_REPLY_ARRAY || s->elements != 2)
        return FERRY_ERR_PROTOCOL;
    return entries_fill_list(out, s->element[1], bad);
}

ferry_rc ferry_store_range(ferry_store *store, const char *stream, bool newest_first,
                           const char *from, const char *to, size_t count,
                           ferry_store_entries **out, ferry_err *err)
{
    ferry_rc rc = FERRY_OK;
    redisReply *reply = NULL;
    if (out == NULL)
        return ferry_err_set(err, FERRY_ERR_INVALID, "redis: no place for the entries");
    *out = NULL;
    if (store == NULL || stream == NULL || stream[0] == '\0' || from == NULL || to == NULL ||
        !name_ok(from, 64) || !name_ok(to, 64) || count == 0 || count > COUNT_MAX)
        return ferry_err_set(err, FERRY_ERR_INVALID, "redis: bad stream, range or count");
    char count_s[24];
    (void)snprintf(count_s, sizeof(count_s), "%zu", count);
    cmd_args a = {0};
    args_add(&a, newest_first ? "XREVRANGE" : "XRANGE");
    args_add(&a, stream);
    args_add(&a, from);
    args_add(&a, to);
    args_add(&a, "COUNT");
    args_add(&a, count_s);
    ferry_store_entries *entries = calloc(1, sizeof(*entries));
    if (entries == NULL)
        return ferry_err_set(err, FERRY_ERR_NOMEM, "redis: out of memory");
    rc = store_call(store, true, &a, &reply, err);
    if (rc != FERRY_OK)
        goto out;
    bool bad = false;
    rc = entries_fill_list(entries, reply, &bad);
    if (rc != FERRY_OK) {
        rc = bad ? ferry_err_set(err, FERRY_ERR_PROTOCOL, "redis %s: %s %s: unexpected reply",
                                 store->where, a.argv[0], stream)
                 : ferry_err_set(err, FERRY_ERR_NOMEM, "redis: out of memory");
        goto out;
    }
    *out = entries;
    entries = NULL;
out:
    ferry_store_entries_free(entries);
    freeReplyObject(reply);
    return rc;
}

ferry_rc ferry_store_group_read(ferry_store *store, const char *stream, const char *group,
                                const char *consumer, const char *from_id, size_t count,
                                int block_ms, ferry_store_entries **out, ferry_err *err)
{
    ferry_rc rc = FERRY_OK;
    redisReply *reply = NULL;
    ferry_store_entries *entries = NULL;
    if (out == NULL)
        return ferry_err_set(err, FERRY_ERR_INVALID, "redis: no place for the entries");
    *out = NULL;
    if (store == NULL || !stream_args_ok(stream, group) ||
        !name_ok(consumer, FERRY_STORE_NAME_MAX) || (from_id != NULL && !name_ok(from_id, 64)) ||
        count == 0 || count > COUNT_MAX || block_ms < 0 || block_ms > INT_MAX - store->timeout_ms)
        return ferry_err_set(err, FERRY_ERR_INVALID,
                             "redis: bad stream, group, consumer, id, count or block time");

    char count_s[24], block_s[24];
    (void)snprintf(count_s, sizeof(count_s), "%zu", count);
    (void)snprintf(block_s, sizeof(block_s), "%d", block_ms);
    cmd_args a = {0};
    args_add(&a, "XREADGROUP");
    args_add(&a, "GROUP");
    args_add(&a, group);
    args_add(&a, consumer);
    args_add(&a, "COUNT");
    args_add(&a, count_s);
    if (block_ms > 0) {
        args_add(&a, "BLOCK");
        args_add(&a, block_s);
    }
    args_add(&a, "STREAMS");
    args_add(&a, stream);
    args_add(&a, from_id != NULL ? from_id : ">");

    entries = calloc(1, sizeof(*entries));
    if (entries == NULL)
        return ferry_err_set(err, FERRY_ERR_NOMEM, "redis: out of memory");

    /* The reply to a blocking read may take block_ms: wait that much longer for it. */
    rc = store_ready(store, err);
    if (rc != FERRY_OK)
        goto out;
    if (block_ms > 0 &&
        redisSetTimeout(store->ctx, ms_to_tv(block_ms + store->timeout_ms)) != REDIS_OK) {
        rc = ctx_error(store->ctx, errno, store->where, "set timeout", err);
        store_drop(store);
        goto out;
    }
    rc = store_call(store, false, &a, &reply, err);
    if (block_ms > 0 && store->ctx != NULL &&
        redisSetTimeout(store->ctx, ms_to_tv(store->timeout_ms)) != REDIS_OK)
        store_drop(store); /* the next call opens a connection with the normal timeout */
    if (rc != FERRY_OK)
        goto out;
    bool bad = false;
    rc = entries_fill(entries, reply, &bad);
    if (rc != FERRY_OK) {
        rc = bad ? ferry_err_set(err, FERRY_ERR_PROTOCOL,
                                 "redis %s: XREADGROUP %s: unexpected reply", store->where, stream)
                 : ferry_err_set(err, FERRY_ERR_NOMEM, "redis: out of memory");
        goto out;
    }
    *out = entries;
    entries = NULL;
out:
    ferry_store_entries_free(entries);
    freeReplyObject(reply);
    return rc;
}

ferry_rc ferry_store_ack(ferry_store *store, const char *stream, const char *group, const char *id,
                         ferry_err *err)
{
    if (store == NULL || !stream_args_ok(stream, group) || !name_ok(id, 64))
        return ferry_err_set(err, FERRY_ERR_INVALID, "redis: bad stream, group or entry id");
    redisReply *reply = NULL;
    cmd_args a = {0};
    args_add(&a, "XACK");
    args_add(&a, stream);
    args_add(&a, group);
    args_add(&a, id);
    ferry_rc rc = store_call(store, true, &a, &reply, err);
    freeReplyObject(reply);
    return rc;
}

/* ------------------------------------------------------------------ any command */

void ferry_store_reply_free(ferry_store_reply *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->count; i++)
        ferry_store_reply_free(r->elements[i]);
    free(r->elements);
    free(r->str);
    free(r);
}

/* Deep copy of a hiredis reply (not an error reply) into Ferry's own type; NULL when out of
 * memory or nested deeper than Redis ever nests a reply. */
static ferry_store_reply *reply_copy(const redisReply *src, int depth)
{
    if (depth > 16)
        return NULL;
    ferry_store_reply *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    switch (src->type) {
    case REDIS_REPLY_INTEGER:
        r->type = FERRY_STORE_REPLY_INT;
        r->integer = src->integer;
        return r;
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
        r->type = FERRY_STORE_REPLY_STR;
        r->str = dup_len(src->str, src->len);
        r->len = src->len;
        if (r->str == NULL)
            break;
        return r;
    case REDIS_REPLY_ARRAY:
        r->type = FERRY_STORE_REPLY_ARRAY;
        if (src->elements == 0)
            return r;
        r->elements = calloc(src->elements, sizeof(*r->elements));
        if (r->elements == NULL)
            break;
        for (size_t i = 0; i < src->elements; i++) {
            r->elements[i] = reply_copy(src->element[i], depth + 1);
            r->count = i + 1;
            if (r->elements[i] == NULL)
                goto fail;
        }
        return r;
    default: /* NIL; hiredis 0.14 has no other types */
        r->type = FERRY_STORE_REPLY_NIL;
        return r;
    }
fail:
    ferry_store_reply_free(r);
    return NULL;
}

static ferry_rc reply_out(ferry_store *store, const redisReply *reply, ferry_store_reply **out,
                          ferry_err *err)
{
    if (out == NULL)
        return FERRY_OK;
    *out = reply_copy(reply, 0);
    if (*out == NULL)
        return ferry_err_set(err, FERRY_ERR_NOMEM, "redis %s: out of memory copying a reply",
                             store->where);
    return FERRY_OK;
}

ferry_rc ferry_store_command(ferry_store *store, bool retry, size_t argc, const char *const *argv,
                             const size_t *lens, ferry_store_reply **out, ferry_err *err)
{
    ferry_rc rc = FERRY_OK;
    redisReply *reply = NULL;
    size_t *len = NULL;
    if (out != NULL)
        *out = NULL;
    if (store == NULL || argc == 0 || argc > INT_MAX || argv == NULL)
        return ferry_err_set(err, FERRY_ERR_INVALID, "redis: bad command");
    len = malloc(argc * sizeof(*len));
    if (len == NULL)
        return ferry_err_set(err, FERRY_ERR_NOMEM, "redis: out of memory");
    for (size_t i = 0; i < argc; i++)
        len[i] = lens != NULL ? lens[i] : strlen(argv[i]);
    rc = store_call_argv(store, retry, (int)argc, argv, len, &reply, err);
    if (rc == FERRY_OK)
        rc = reply_out(store, reply, out, err);
    freeReplyObject(reply);
    free(len);
    return rc;
}

ferry_rc ferry_store_script(ferry_store *store, const char *name, bool retry, size_t nkeys,
                            const char *const *keys, size_t nargs, const char *const *args,
                            ferry_store_reply **out, ferry_err *err)
{
    ferry_rc rc = FERRY_OK;
    redisReply *reply = NULL;
    const char **argv = NULL;
    size_t *len = NULL;
    if (out != NULL)
        *out = NULL;
    int idx = name != NULL ? script_index(name) : -1;
    if (store == NULL || idx < 0)
        return ferry_err_set(err, FERRY_ERR_INVALID, "redis: no embedded script named '%s'",
                             name != NULL ? name : "(null)");
    size_t argc = 3 + nkeys + nargs;
    if (nkeys > 1024 || nargs > 4096)
        return ferry_err_set(err, FERRY_ERR_INVALID, "redis: script %s: too many arguments", name);
    char numkeys[24];
    (void)snprintf(numkeys, sizeof(numkeys), "%zu", nkeys);
    argv = malloc(argc * sizeof(*argv));
    len = malloc(argc * sizeof(*len));
    if (argv == NULL || len == NULL) {
        rc = ferry_err_set(err, FERRY_ERR_NOMEM, "redis: out of memory");
        goto out;
    }
    argv[0] = "EVALSHA";
    argv[1] = store->sha[idx]; /* refreshed in place when the script is loaded again */
    argv[2] = numkeys;
    for (size_t i = 0; i < nkeys; i++)
        argv[3 + i] = keys[i];
    for (size_t i = 0; i < nargs; i++)
        argv[3 + nkeys + i] = args[i];
    for (size_t i = 0; i < argc; i++)
        len[i] = strlen(argv[i]);

    rc = store_call_argv(store, retry, (int)argc, argv, len, &reply, err);
    if (rc == FERRY_ERR_NOT_FOUND && reply != NULL && strncmp(reply->str, "NOSCRIPT", 8) == 0) {
        freeReplyObject(reply);
        reply = NULL;
        rc = script_load(store, idx, err);
        if (rc == FERRY_OK)
            rc = store_call_argv(store, retry, (int)argc, argv, len, &reply, err);
    }
    if (rc != FERRY_OK) {
        (void)ferry_err_prefix(err, "script %s", name);
        goto out;
    }
    rc = reply_out(store, reply, out, err);
out:
    freeReplyObject(reply);
    free(argv);
    free(len);
    return rc;
}

const ferry_store_reply *ferry_store_reply_at(const ferry_store_reply *r, size_t i)
{
    if (r == NULL || r->type != FERRY_STORE_REPLY_ARRAY || i >= r->count)
        return NULL;
    return r->elements[i];
}

const char *ferry_store_reply_str(const ferry_store_reply *r)
{
    if (r == NULL || r->type != FERRY_STORE_REPLY_STR)
        return NULL;
    return r->str;
}
