/*
 * Integration tests for store.c against the local stack's Redis (redis.url, redis.password):
 * transitions and refusals, events in both streams read through a consumer group, errors
 * (auth, unreachable, timeout), reconnects and NOSCRIPT recovery.
 *
 * Test-side access to Redis (CLIENT KILL, SCRIPT FLUSH, CONFIG GET) goes through redis-cli with
 * the password in REDISCLI_AUTH, never on a command line: only store.c includes hiredis.h.
 * A small TCP proxy in this file cuts or stalls the store's connection mid-call.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ferry/clock.h"
#include "ferry/config.h"
#include "ferry/state.h"

/* The event stream, as docs/redis.md lays it out: the test checks the layout from outside. */
#define EVENTS_STREAM "ferry:events"
#include "ferry/store.h"
#include "ferry_test.h"

static const char *redis_url;
static const char *redis_password;
static ferry_store_url target; /* the stack's Redis, parsed */
static char created_keys[64][FERRY_STATE_KEY_MAX];
static size_t n_created_keys;
static char events_group[96]; /* our group on ferry:events, destroyed at the end */

/* ------------------------------------------------------------------ redis-cli */

/* Runs redis-cli with args (safe characters only) against the stack; output into out. */
static int redis_cli(const char *args, char *out, size_t outsz)
{
    char cmd[1024];
    int n = snprintf(cmd, sizeof(cmd), "redis-cli --no-auth-warning -h %s -p %d -n %d %s 2>&1",
                     target.host, target.port, target.db, args);
    if (n < 0 || (size_t)n >= sizeof(cmd))
        return -1;
    FILE *p = popen(cmd, "r");
    if (p == NULL)
        return -1;
    size_t len = 0;
    if (out != NULL && outsz > 0) {
        len = fread(out, 1, outsz - 1, p);
        out[len] = '\0';
    } else {
        char sink[4096];
        while (fread(sink, 1, sizeof(sink), p) > 0)
            ;
    }
    return pclose(p);
}

static void remember_key(const char *migration, const char *suffix)
{
    if (n_created_keys < sizeof(created_keys) / sizeof(created_keys[0]) &&
        ferry_state_key(migration, suffix, created_keys[n_created_keys], sizeof(created_keys[0]),
                        NULL) == FERRY_OK)
        n_created_keys++;
}

/* The id of the client connection named `name`, from CLIENT LIST; -1 when absent. */
static long client_id_by_name(const char *name)
{
    static char list[1 << 16];
    if (redis_cli("CLIENT LIST", list, sizeof(list)) != 0)
        return -1;
    char needle[128];
    (void)snprintf(needle, sizeof(needle), " name=%s ", name);
    const char *hit = strstr(list, needle);
    if (hit == NULL)
        return -1;
    const char *line = hit;
    while (line > list && line[-1] != '\n')
        line--;
    if (strncmp(line, "id=", 3) != 0)
        return -1;
    return strtol(line + 3, NULL, 10);
}

static bool kill_client(long id)
{
    char args[64], out[64];
    (void)snprintf(args, sizeof(args), "CLIENT KILL ID %ld", id);
    return redis_cli(args, out, sizeof(out)) == 0 && strncmp(out, "1", 1) == 0;
}

static ferry_store *open_store(int timeout_ms)
{
    ferry_store *store = NULL;
    ferry_err err;
    ferry_rc rc = ferry_store_open(redis_url, redis_password, timeout_ms, &store, &err);
    if (rc != FERRY_OK)
        fprintf(stderr, "open: %s\n", err.msg);
    return store;
}

/* ------------------------------------------------------------------ suite setup */

static int suite_setup(void)
{
    /* The tests cut connections on purpose; the store guards SIGPIPE itself, but a stray one
     * from the proxy's own writes must not end the run. */
    (void)signal(SIGPIPE, SIG_IGN);
    const ferry_cfg *cfg = ferry_test_cfg();
    if (cfg == NULL)
        return 1; /* fails every test: an incomplete environment is a failure, not a skip */
    redis_url = ferry_cfg_str(cfg, "redis.url");
    redis_password = ferry_cfg_str(cfg, "redis.password");
    ferry_err err;
    if (ferry_store_url_parse(redis_url, &target, &err) != FERRY_OK) {
        fprintf(stderr, "FERRY_REDIS_URL: %s\n", err.msg);
        return 1;
    }
    if (redis_password != NULL && setenv("REDISCLI_AUTH", redis_password, 1) != 0)
        return 1;
    return 0;
}

static int suite_teardown(void)
{
    for (size_t i = 0; i < n_created_keys; i++) {
        char args[FERRY_STATE_KEY_MAX + 16];
        (void)snprintf(args, sizeof(args), "DEL '%.*s'", FERRY_STATE_KEY_MAX - 1, created_keys[i]);
        (void)redis_cli(args, NULL, 0);
    }
    if (events_group[0] != '\0') {
        char args[160];
        (void)snprintf(args, sizeof(args), "XGROUP DESTROY %s %s", EVENTS_STREAM, events_group);
        (void)redis_cli(args, NULL, 0);
    }
    return 0;
}

/* ------------------------------------------------------------------ the stack */

static void redis_runs_with_aof(void)
{
    char out[256];
    CU_ASSERT_EQUAL_FATAL(redis_cli("CONFIG GET appendonly", out, sizeof(out)), 0);
    CU_ASSERT_STRING_EQUAL(out, "appendonly\nyes\n");

    ferry_store *store = open_store(2000);
    CU_ASSERT_PTR_NOT_NULL_FATAL(store);
    bool aof = false;
    ferry_err err;
    CU_ASSERT_EQUAL(ferry_store_aof_enabled(store, &aof, &err), FERRY_OK);
    CU_ASSERT_TRUE(aof);
    CU_ASSERT_EQUAL(ferry_store_ping(store, &err), FERRY_OK);
    ferry_store_close(store);
}

/* ------------------------------------------------------------------ transitions */

static const char *const from_absent[] = {FERRY_STATE_ABSENT};
static const char *const from_pending[] = {"pending"};
static const char *const from_running[] = {"running"};

/* absent -> pending at attempt 1, by the coordinator: how a step record is born. */
static ferry_state_change create_change(const char *mig)
{
    ferry_state_change c = {
        .migration = mig,
        .entity = "step:s1",
        .from = from_absent,
        .n_from = 1,
        .expect_attempt = -1,
        .to = "pending",
        .new_attempt = 1,
        .actor = "coordinator",
        .what = "created",
    };
    return c;
}

static void check_event(const ferry_store_entry *e, const char *migration, const char *from,
                        const char *to, const char *attempt, const char *actor, const char *what)
{
    const ferry_store_record *f = &e->fields;
    CU_ASSERT_STRING_EQUAL(ferry_store_record_value(f, "migration"), migration);
    CU_ASSERT_STRING_EQUAL(ferry_store_record_value(f, "entity"), "step:s1");
    CU_ASSERT_STRING_EQUAL(ferry_store_record_value(f, "from"), from);
    CU_ASSERT_STRING_EQUAL(ferry_store_record_value(f, "to"), to);
    CU_ASSERT_STRING_EQUAL(ferry_store_record_value(f, "attempt"), attempt);
    CU_ASSERT_STRING_EQUAL(ferry_store_record_value(f, "actor"), actor);
    CU_ASSERT_STRING_EQUAL(ferry_store_record_value(f, "what"), what);
    int64_t at = 0;
    const char *at_s = ferry_store_record_value(f, "at");
    CU_ASSERT_PTR_NOT_NULL_FATAL(at_s);
    at = strtoll(at_s, NULL, 10);
    CU_ASSERT_TRUE(at > ferry_wall_ms() - 60000 && at < ferry_wall_ms() + 60000);
    CU_ASSERT_EQUAL(f->count, 8);
}

static void transitions_apply_refuse_and_record_events(void)
{
    ferry_store *store = open_store(2000);
    CU_ASSERT_PTR_NOT_NULL_FATAL(store);
    ferry_err err;
    char mig[64];
    (void)snprintf(mig, sizeof(mig), "%s", ferry_test_unique("store-it"));
    remember_key(mig, "step:s1");
    remember_key(mig, "history");
    char history[FERRY_STATE_KEY_MAX];
    CU_ASSERT_EQUAL_FATAL(ferry_state_key(mig, "history", history, sizeof(history), &err),
                          FERRY_OK);

    /* A group on the shared event stream that sees only what comes after this point. */
    (void)snprintf(events_group, sizeof(events_group), "%s", ferry_test_unique("store-it-g"));
    CU_ASSERT_EQUAL_FATAL(ferry_store_group_create(store, EVENTS_STREAM, events_group, "$", &err),
                          FERRY_OK);
    CU_ASSERT_EQUAL(ferry_store_group_create(store, EVENTS_STREAM, events_group, "$", &err),
                    FERRY_OK); /* idempotent */

    /* absent -> pending, attempt 1 */
    const ferry_store_field kind[] = {{"kind", "dump_restore"}};
    ferry_state_change create = create_change(mig);
    create.fields = kind;
    create.n_fields = 1;
    ferry_state_result res;
    CU_ASSERT_EQUAL_FATAL(ferry_state_transition(store, &create, &res, &err), FERRY_OK);
    CU_ASSERT_STRING_EQUAL(res.state, "pending");
    CU_ASSERT_EQUAL(res.attempt, 1);
    CU_ASSERT_NOT_EQUAL(res.event_id[0], '\0');
    char created_event[48];
    (void)snprintf(created_event, sizeof(created_event), "%s", res.event_id);

    /* pending -> running at attempt 1: the worker's claim */
    const ferry_store_field owner[] = {{"owner", "worker-a"}, {"note", "text with spaces"}};
    ferry_state_change claim = {
        .migration = mig,
        .entity = "step:s1",
        .from = from_pending,
        .n_from = 1,
        .expect_attempt = 1,
        .to = "running",
        .new_attempt = -1,
        .actor = "worker-a",
        .what = "claimed",
        .fields = owner,
        .n_fields = 2,
    };
    CU_ASSERT_EQUAL_FATAL(ferry_state_transition(store, &claim, &res, &err), FERRY_OK);
    CU_ASSERT_STRING_EQUAL(res.state, "running");
    CU_ASSERT_EQUAL(res.attempt, 1);
    char claimed_event[48];
    (void)snprintf(claimed_event, sizeof(claimed_event), "%s", res.event_id);

    /* A stale claim (attempt 0) and a claim in the wrong state are refused. */
    const ferry_store_field thief[] = {{"owner", "worker-b"}};
    ferry_state_change stale = {
        .migration = mig,
        .entity = "step:s1",
        .from = from_running,
        .n_from = 1,
        .expect_attempt = 0,
        .to = "succeeded",
        .new_attempt = -1,
        .actor = "worker-b",
        .what = "finished",
        .fields = thief,
        .n_fields = 1,
    };
    CU_ASSERT_EQUAL(ferry_state_transition(store, &stale, &res, &err), FERRY_ERR_CONFLICT);
    CU_ASSERT_STRING_EQUAL(res.state, "running");
    CU_ASSERT_EQUAL(res.attempt, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "'running' at attempt 1"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "expected 'running' at attempt 0"));

    ferry_state_change second = claim;
    second.actor = "worker-b";
    second.fields = thief;
    second.n_fields = 1;
    CU_ASSERT_EQUAL(ferry_state_transition(store, &second, &res, &err), FERRY_ERR_CONFLICT);
    CU_ASSERT_STRING_EQUAL(res.state, "running");
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "expected 'pending' at attempt 1"));

    CU_ASSERT_EQUAL(ferry_state_transition(store, &create, &res, &err), FERRY_ERR_CONFLICT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "expected (absent)"));

    /* The record holds the claim, untouched by the refusals. */
    ferry_store_record *rec = NULL;
    CU_ASSERT_EQUAL_FATAL(ferry_state_record_get(store, mig, "step:s1", &rec, &err), FERRY_OK);
    CU_ASSERT_STRING_EQUAL(ferry_store_record_value(rec, "state"), "running");
    CU_ASSERT_STRING_EQUAL(ferry_store_record_value(rec, "attempt"), "1");
    CU_ASSERT_STRING_EQUAL(ferry_store_record_value(rec, "owner"), "worker-a");
    CU_ASSERT_STRING_EQUAL(ferry_store_record_value(rec, "note"), "text with spaces");
    CU_ASSERT_STRING_EQUAL(ferry_store_record_value(rec, "kind"), "dump_restore");
    const char *updated = ferry_store_record_value(rec, "updated_at");
    CU_ASSERT_PTR_NOT_NULL_FATAL(updated);
    CU_ASSERT_TRUE(llabs(strtoll(updated, NULL, 10) - ferry_wall_ms()) < 60000);
    CU_ASSERT_EQUAL(rec->count, 6);
    ferry_store_record_free(rec);
    rec = NULL;
    CU_ASSERT_EQUAL(ferry_state_record_get(store, mig, "step:none", &rec, &err),
                    FERRY_ERR_NOT_FOUND);
    CU_ASSERT_PTR_NULL(rec);

    /* The migration's history: exactly the two applied changes, in order. */
    ferry_store_entries *entries = NULL;
    CU_ASSERT_EQUAL_FATAL(ferry_store_group_create(store, history, "coord", "0", &err), FERRY_OK);
    CU_ASSERT_EQUAL_FATAL(
        ferry_store_group_read(store, history, "coord", "c1", NULL, 100, 0, &entries, &err),
        FERRY_OK);
    CU_ASSERT_EQUAL_FATAL(entries->count, 2);
    check_event(&entries->entries[0], mig, "", "pending", "1", "coordinator", "created");
    check_event(&entries->entries[1], mig, "pending", "running", "1", "worker-a", "claimed");
    for (size_t i = 0; i < entries->count; i++)
        CU_ASSERT_EQUAL(ferry_store_ack(store, history, "coord", entries->entries[i].id, &err),
                        FERRY_OK);
    ferry_store_entries_free(entries);
    entries = NULL;
    /* Nothing pending after the acks; nothing new within a short block. */
    CU_ASSERT_EQUAL_FATAL(
        ferry_store_group_read(store, history, "coord", "c1", "0", 100, 0, &entries, &err),
        FERRY_OK);
    CU_ASSERT_EQUAL(entries->count, 0);
    ferry_store_entries_free(entries);
    entries = NULL;
    int64_t t0 = ferry_wall_ms();
    CU_ASSERT_EQUAL_FATAL(
        ferry_store_group_read(store, history, "coord", "c1", NULL, 10, 300, &entries, &err),
        FERRY_OK);
    CU_ASSERT_EQUAL(entries->count, 0);
    CU_ASSERT_TRUE(ferry_wall_ms() - t0 >= 250);
    ferry_store_entries_free(entries);
    entries = NULL;

    /* ferry:events: ours among whatever else the stack's users append. */
    int seen = 0;
    for (int round = 0; round < 20 && seen < 2; round++) {
        CU_ASSERT_EQUAL_FATAL(ferry_store_group_read(store, EVENTS_STREAM, events_group, "c1", NULL,
                                                     100, 200, &entries, &err),
                              FERRY_OK);
        for (size_t i = 0; i < entries->count; i++) {
            const ferry_store_entry *e = &entries->entries[i];
            if (strcmp(e->id, created_event) == 0) {
                check_event(e, mig, "", "pending", "1", "coordinator", "created");
                seen++;
            } else if (strcmp(e->id, claimed_event) == 0) {
                check_event(e, mig, "pending", "running", "1", "worker-a", "claimed");
                seen++;
            } else {
                /* Only the two applied changes of this migration may appear. */
                const char *m = ferry_store_record_value(&e->fields, "migration");
                CU_ASSERT_TRUE(m == NULL || strcmp(m, mig) != 0);
            }
            CU_ASSERT_EQUAL(ferry_store_ack(store, EVENTS_STREAM, events_group, e->id, &err),
                            FERRY_OK);
        }
        ferry_store_entries_free(entries);
        entries = NULL;
    }
    CU_ASSERT_EQUAL(seen, 2);

    CU_ASSERT_EQUAL(
        ferry_store_group_read(store, history, "no-such-group", "c1", NULL, 1, 0, &entries, &err),
        FERRY_ERR_NOT_FOUND);
    ferry_store_close(store);
}

/* A change is refused whole: when the history stream key has the wrong type, the record is not
 * created either. */
static void change_is_never_half_applied(void)
{
    ferry_store *store = open_store(2000);
    CU_ASSERT_PTR_NOT_NULL_FATAL(store);
    ferry_err err;
    char mig[64], history[FERRY_STATE_KEY_MAX], args[FERRY_STATE_KEY_MAX + 32];
    (void)snprintf(mig, sizeof(mig), "%s", ferry_test_unique("store-it"));
    remember_key(mig, "step:s1");
    remember_key(mig, "history");
    CU_ASSERT_EQUAL_FATAL(ferry_state_key(mig, "history", history, sizeof(history), &err),
                          FERRY_OK);
    (void)snprintf(args, sizeof(args), "SET '%s' not-a-stream", history);
    CU_ASSERT_EQUAL_FATAL(redis_cli(args, NULL, 0), 0);

    ferry_state_change create = create_change(mig);
    ferry_state_result res;
    ferry_rc rc = ferry_state_transition(store, &create, &res, &err);
    CU_ASSERT_EQUAL(rc, FERRY_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "WRONGTYPE"));
    ferry_store_record *rec = NULL;
    CU_ASSERT_EQUAL(ferry_state_record_get(store, mig, "step:s1", &rec, &err), FERRY_ERR_NOT_FOUND);
    ferry_store_record_free(rec);
    /* The connection is still fine after an error reply. */
    CU_ASSERT_EQUAL(ferry_store_ping(store, &err), FERRY_OK);
    ferry_store_close(store);
}

/* ------------------------------------------------------------------ errors */

static void wrong_password_is_auth_error(void)
{
    ferry_store *store = NULL;
    ferry_err err;
    const char *wrong = "wrong-pass-7f3a91c2";
    CU_ASSERT_EQUAL(ferry_store_open(redis_url, wrong, 2000, &store, &err), FERRY_ERR_AUTH);
    CU_ASSERT_PTR_NULL(store);
    CU_ASSERT_PTR_NULL(strstr(err.msg, wrong));
    CU_ASSERT_PTR_NULL(strstr(err.msg, redis_password));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "WRONGPASS"));

    /* No password at all: the first command meets NOAUTH. */
    CU_ASSERT_EQUAL(ferry_store_open(redis_url, NULL, 2000, &store, &err), FERRY_ERR_AUTH);
    CU_ASSERT_PTR_NULL(store);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "NOAUTH"));
}

/* The stack's ACL user for Ferry (docs/security-transports.md): what Ferry does works under it
 * (open: AUTH user password, SELECT, CLIENT SETNAME; INFO; the state module's scripts), and
 * anything else is refused with NOPERM (PERMISSION): admin commands, keys outside ferry:*. A
 * wrong password is AUTH, without the password in the message. */
static void ferry_acl_user(void)
{
    const char *url = getenv("FERRY_STACK_REDIS_FERRY_URL");
    const char *password = getenv("FERRY_STACK_REDIS_FERRY_PASSWORD");
    CU_ASSERT_FATAL(url != NULL && password != NULL && password[0] != '\0'); /* `stack env` */
    ferry_store *store = NULL;
    ferry_err err;
    CU_ASSERT_EQUAL_FATAL(ferry_store_open(url, password, 2000, &store, &err), FERRY_OK);
    bool aof = false;
    CU_ASSERT_EQUAL(ferry_store_aof_enabled(store, &aof, &err), FERRY_OK);

    char app[64];
    (void)snprintf(app, sizeof(app), "%s", ferry_test_unique("acl"));
    bool created = false;
    CU_ASSERT_EQUAL(ferry_state_app_create(store, app, "{}", "production", 1000, &created, &err),
                    FERRY_OK);
    CU_ASSERT_TRUE(created);
    ferry_state_app got;
    CU_ASSERT_EQUAL(ferry_state_app_get(store, app, &got, &err), FERRY_OK);
    ferry_state_app_cleanup(&got);
    CU_ASSERT_EQUAL(ferry_state_app_delete(store, app, NULL, 0, NULL, 0, &err), FERRY_OK);

    const char *flush[] = {"FLUSHALL"};
    CU_ASSERT_EQUAL(ferry_store_command(store, false, 1, flush, NULL, NULL, &err),
                    FERRY_ERR_PERMISSION);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "NOPERM"));
    const char *config[] = {"CONFIG", "SET", "appendonly", "no"};
    CU_ASSERT_EQUAL(ferry_store_command(store, false, 4, config, NULL, NULL, &err),
                    FERRY_ERR_PERMISSION);
    const char *outside[] = {"SET", "not-ferry:acl", "1"};
    CU_ASSERT_EQUAL(ferry_store_command(store, false, 3, outside, NULL, NULL, &err),
                    FERRY_ERR_PERMISSION);
    ferry_store_close(store);

    const char *wrong = "not-the-acl-password-31";
    store = NULL;
    CU_ASSERT_EQUAL(ferry_store_open(url, wrong, 2000, &store, &err), FERRY_ERR_AUTH);
    CU_ASSERT_PTR_NULL(store);
    CU_ASSERT_PTR_NULL(strstr(err.msg, wrong));
    CU_ASSERT_PTR_NULL(strstr(err.msg, password));
}

/* A loopback port nobody listens on (bound, then released). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* A loopback socket that listens but never answers; returns its fd, the port in *port. */
static int silent_listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 4) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port = ntohs(sa.sin_port);
    return fd;
}

static void unreachable_and_silent_servers(void)
{
    ferry_store *store = NULL;
    ferry_err err;
    char url[128];
    int port = free_port();
    CU_ASSERT_TRUE_FATAL(port > 0);
    (void)snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", port);
    CU_ASSERT_EQUAL(ferry_store_open(url, redis_password, 2000, &store, &err),
                    FERRY_ERR_UNAVAILABLE);
    CU_ASSERT_PTR_NULL(store);
    CU_ASSERT_PTR_NULL(strstr(err.msg, redis_password));
    CU_ASSERT_TRUE(ferry_rc_retryable(err.code));

    int lport = 0;
    int lfd = silent_listener(&lport);
    CU_ASSERT_TRUE_FATAL(lfd >= 0);
    (void)snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", lport);
    int64_t t0 = ferry_wall_ms();
    CU_ASSERT_EQUAL(ferry_store_open(url, redis_password, 300, &store, &err), FERRY_ERR_TIMEOUT);
    int64_t took = ferry_wall_ms() - t0;
    CU_ASSERT_TRUE(took >= 250 && took < 3000);
    CU_ASSERT_PTR_NULL(store);
    CU_ASSERT_PTR_NULL(strstr(err.msg, redis_password));
    close(lfd);
}

/* ------------------------------------------------------------------ reconnects */

static void reconnects_after_client_kill(void)
{
    ferry_store *store = open_store(2000);
    CU_ASSERT_PTR_NOT_NULL_FATAL(store);
    ferry_err err;
    char name[64], mig[64];
    (void)snprintf(name, sizeof(name), "%s", ferry_test_unique("store-it-conn"));
    (void)snprintf(mig, sizeof(mig), "%s", ferry_test_unique("store-it"));
    remember_key(mig, "step:s1");
    remember_key(mig, "history");
    CU_ASSERT_EQUAL_FATAL(ferry_store_set_name(store, name, &err), FERRY_OK);

    long id1 = client_id_by_name(name);
    CU_ASSERT_TRUE_FATAL(id1 > 0);
    CU_ASSERT_TRUE_FATAL(kill_client(id1));

    /* A transition is not retried, so the store must notice the dead connection before it
     * sends; the call succeeds on a new connection that carries the same name. */
    ferry_state_change create = create_change(mig);
    ferry_state_result res;
    ferry_rc rc = ferry_state_transition(store, &create, &res, &err);
    if (rc != FERRY_OK)
        fprintf(stderr, "after kill: %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, FERRY_OK);
    long id2 = client_id_by_name(name);
    CU_ASSERT_TRUE_FATAL(id2 > 0);
    CU_ASSERT_NOT_EQUAL(id1, id2);

    CU_ASSERT_TRUE_FATAL(kill_client(id2));
    ferry_store_record *rec = NULL;
    CU_ASSERT_EQUAL_FATAL(ferry_state_record_get(store, mig, "step:s1", &rec, &err), FERRY_OK);
    CU_ASSERT_STRING_EQUAL(ferry_store_record_value(rec, "state"), "pending");
    ferry_store_record_free(rec);
    ferry_store_close(store);
}

static void noscript_is_recovered(void)
{
    ferry_store *store = open_store(2000);
    CU_ASSERT_PTR_NOT_NULL_FATAL(store);
    ferry_err err;
    char mig[64], out[64];
    (void)snprintf(mig, sizeof(mig), "%s", ferry_test_unique("store-it"));
    remember_key(mig, "step:s1");
    remember_key(mig, "history");
    /* Every user of the stack's Redis goes through this module and recovers the same way. */
    CU_ASSERT_EQUAL_FATAL(redis_cli("SCRIPT FLUSH", out, sizeof(out)), 0);
    CU_ASSERT_EQUAL(strncmp(out, "OK", 2), 0);
    ferry_state_change create = create_change(mig);
    ferry_state_result res;
    ferry_rc rc = ferry_state_transition(store, &create, &res, &err);
    if (rc != FERRY_OK)
        fprintf(stderr, "after SCRIPT FLUSH: %s\n", err.msg);
    CU_ASSERT_EQUAL(rc, FERRY_OK);
    CU_ASSERT_EQUAL(res.attempt, 1);
    ferry_store_close(store);
}

/* ------------------------------------------------------------------ a cutting proxy */

enum { PROXY_FORWARD, PROXY_DROP_NEXT, PROXY_STALL };

typedef struct proxy {
    int listen_fd;
    int port;
    atomic_int mode;
    atomic_int accepted;
    atomic_bool stop;
    pthread_t thread;
} proxy;

static bool write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static int connect_target(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)target.port)};
    if (fd < 0 || inet_pton(AF_INET, target.host, &sa.sin_addr) != 1 ||
        connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* Forwards one connection at a time to the stack's Redis. DROP_NEXT closes both sides when the
 * client next sends (the command never reaches Redis), then forwards again; STALL swallows. */
static void *proxy_run(void *arg)
{
    proxy *px = arg;
    int client = -1, up = -1;
    char buf[1 << 16];
    while (!atomic_load(&px->stop)) {
        struct pollfd p[3] = {{px->listen_fd, POLLIN, 0}, {client, POLLIN, 0}, {up, POLLIN, 0}};
        if (poll(p, 3, 50) <= 0)
            continue;
        if (p[0].revents & POLLIN) {
            int c = accept(px->listen_fd, NULL, NULL);
            if (c >= 0) {
                if (client >= 0)
                    close(client);
                if (up >= 0)
                    close(up);
                client = c;
                up = connect_target();
                atomic_fetch_add(&px->accepted, 1);
            }
            continue;
        }
        if (client >= 0 && p[1].revents != 0) {
            ssize_t r = read(client, buf, sizeof(buf));
            int mode = atomic_load(&px->mode);
            if (r <= 0 || mode == PROXY_DROP_NEXT || up < 0) {
                close(client);
                if (up >= 0)
                    close(up);
                client = up = -1;
                if (mode == PROXY_DROP_NEXT)
                    atomic_store(&px->mode, PROXY_FORWARD);
                continue;
            }
            if (mode == PROXY_FORWARD)
                (void)write_all(up, buf, (size_t)r);
            continue;
        }
        if (up >= 0 && p[2].revents != 0) {
            ssize_t r = read(up, buf, sizeof(buf));
            if (r <= 0 || !write_all(client, buf, (size_t)r)) {
                close(client);
                close(up);
                client = up = -1;
            }
        }
    }
    if (client >= 0)
        close(client);
    if (up >= 0)
        close(up);
    return NULL;
}

static bool proxy_start(proxy *px)
{
    memset(px, 0, sizeof(*px));
    px->listen_fd = silent_listener(&px->port);
    if (px->listen_fd < 0)
        return false;
    atomic_init(&px->mode, PROXY_FORWARD);
    atomic_init(&px->accepted, 0);
    atomic_init(&px->stop, false);
    return pthread_create(&px->thread, NULL, proxy_run, px) == 0;
}

static void proxy_stop(proxy *px)
{
    atomic_store(&px->stop, true);
    (void)pthread_join(px->thread, NULL);
    close(px->listen_fd);
}

static void connection_cut_mid_call(void)
{
    proxy px;
    CU_ASSERT_TRUE_FATAL(proxy_start(&px));
    char url[128];
    (void)snprintf(url, sizeof(url), "redis://127.0.0.1:%d/%d", px.port, target.db);
    ferry_store *store = NULL;
    ferry_err err;
    CU_ASSERT_EQUAL_FATAL(ferry_store_open(url, redis_password, 500, &store, &err), FERRY_OK);
    CU_ASSERT_EQUAL(atomic_load(&px.accepted), 1);

    char mig[64];
    (void)snprintf(mig, sizeof(mig), "%s", ferry_test_unique("store-it"));
    remember_key(mig, "step:s1");
    remember_key(mig, "history");
    ferry_state_change create = create_change(mig);
    ferry_state_result res;

    /* A transition cut mid-call is not retried: UNAVAILABLE, and here it never arrived. */
    atomic_store(&px.mode, PROXY_DROP_NEXT);
    CU_ASSERT_EQUAL(ferry_state_transition(store, &create, &res, &err), FERRY_ERR_UNAVAILABLE);
    CU_ASSERT_EQUAL(atomic_load(&px.accepted), 1);
    ferry_store_record *rec = NULL;
    CU_ASSERT_EQUAL(ferry_state_record_get(store, mig, "step:s1", &rec, &err), FERRY_ERR_NOT_FOUND);
    CU_ASSERT_EQUAL(atomic_load(&px.accepted), 2); /* reconnected for the read */
    CU_ASSERT_EQUAL_FATAL(ferry_state_transition(store, &create, &res, &err), FERRY_OK);

    /* A read cut mid-call is retried once on a new connection: the caller sees success. */
    atomic_store(&px.mode, PROXY_DROP_NEXT);
    rec = NULL;
    CU_ASSERT_EQUAL_FATAL(ferry_state_record_get(store, mig, "step:s1", &rec, &err), FERRY_OK);
    CU_ASSERT_STRING_EQUAL(ferry_store_record_value(rec, "state"), "pending");
    ferry_store_record_free(rec);
    CU_ASSERT_EQUAL(atomic_load(&px.accepted), 3);

    /* A blocking group read cut mid-call is not retried (entries may have been delivered). */
    char history[FERRY_STATE_KEY_MAX];
    CU_ASSERT_EQUAL(ferry_state_key(mig, "history", history, sizeof(history), &err), FERRY_OK);
    CU_ASSERT_EQUAL(ferry_store_group_create(store, history, "g", "$", &err), FERRY_OK);
    ferry_store_entries *entries = NULL;
    atomic_store(&px.mode, PROXY_DROP_NEXT);
    CU_ASSERT_EQUAL(
        ferry_store_group_read(store, history, "g", "c", NULL, 10, 1000, &entries, &err),
        FERRY_ERR_UNAVAILABLE);
    CU_ASSERT_PTR_NULL(entries);

    /* No answer within the timeout: TIMEOUT, and the next call uses a new connection. */
    CU_ASSERT_EQUAL(ferry_store_ping(store, &err), FERRY_OK);
    int before = atomic_load(&px.accepted);
    atomic_store(&px.mode, PROXY_STALL);
    int64_t t0 = ferry_wall_ms();
    CU_ASSERT_EQUAL(ferry_store_ping(store, &err), FERRY_ERR_TIMEOUT);
    CU_ASSERT_TRUE(ferry_wall_ms() - t0 >= 450);
    atomic_store(&px.mode, PROXY_FORWARD);
    CU_ASSERT_EQUAL(ferry_store_ping(store, &err), FERRY_OK);
    CU_ASSERT_EQUAL(atomic_load(&px.accepted), before + 1);

    /* A blocking read waits longer than the reply timeout without timing out. */
    t0 = ferry_wall_ms();
    CU_ASSERT_EQUAL_FATAL(
        ferry_store_group_read(store, history, "g", "c", NULL, 10, 900, &entries, &err), FERRY_OK);
    CU_ASSERT_TRUE(ferry_wall_ms() - t0 >= 850);
    CU_ASSERT_EQUAL(entries->count, 0);
    ferry_store_entries_free(entries);

    ferry_store_close(store);
    proxy_stop(&px);
}

static const ferry_test_case store_cases[] = {
    {"the stack's Redis runs with AOF", redis_runs_with_aof},
    {"transitions apply, refuse, and record events", transitions_apply_refuse_and_record_events},
    {"a change is never half applied", change_is_never_half_applied},
    {"wrong or missing password: AUTH", wrong_password_is_auth_error},
    {"Ferry's ACL user: its commands work, the rest is NOPERM", ferry_acl_user},
    {"unreachable: UNAVAILABLE; silent: TIMEOUT", unreachable_and_silent_servers},
    {"reconnects after CLIENT KILL", reconnects_after_client_kill},
    {"NOSCRIPT after SCRIPT FLUSH is recovered", noscript_is_recovered},
    {"connection cut or stalled mid-call", connection_cut_mid_call},
    {NULL, NULL},
};

static const ferry_test_suite suites[] = {
    {"store (Redis)", suite_setup, suite_teardown, store_cases},
    {NULL, NULL, NULL, NULL},
};

int main(void)
{
    return ferry_test_main(suites);
}
