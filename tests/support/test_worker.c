/*
 * test_worker.c - ferry-test-worker --kind <kind>: a worker of any kind, on the real runtime,
 * whose steps do what a test asks (docs/orchestration.md, "The test executor").
 *
 * The behaviour of a step comes from the hash ferry:test:behavior:<migration>: field <step id>,
 * else <operation>, else "*"; none means "ok". Every attempt it runs is appended to the list
 * ferry:test:runs:<migration> as "<worker id> <step> <attempt> <start ms> <end ms>", where the
 * end is the attempt's last action: the last moment it worked (found ferry_step_stopping()
 * false and went on) or completed. A run stopped for its lease after a pause records the last
 * action before the pause, so a run that acted after the next attempt began shows as an
 * overlap. A crash is recorded just before the process kills itself.
 *
 * Each executor thread has its own Redis connection for this (a ferry_store is not
 * thread-safe), opened on its first step and closed when the thread ends.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ferry/clock.h"
#include "ferry/config.h"
#include "ferry/state.h"
#include "ferry/store.h"
#include "ferry/wire.h"
#include "ferry/worker.h"

#define STORE_TIMEOUT_MS 5000
#define TICK_MS          50

typedef struct test_conf {
    const char *redis_url;
    const char *redis_password;
} test_conf;

static pthread_key_t store_key;
static pthread_once_t store_once = PTHREAD_ONCE_INIT;
static bool store_key_ok;

static void store_destroy(void *store)
{
    ferry_store_close(store);
}

static void store_key_make(void)
{
    store_key_ok = pthread_key_create(&store_key, store_destroy) == 0;
}

/* This thread's connection, opened on first use; closed when the thread exits. */
static ferry_rc thread_store(const test_conf *conf, ferry_store **out, ferry_err *err)
{
    (void)pthread_once(&store_once, store_key_make);
    if (!store_key_ok)
        return ferry_err_set(err, FERRY_ERR_INTERNAL, "test worker: no thread key");
    *out = pthread_getspecific(store_key);
    if (*out != NULL)
        return FERRY_OK;
    if (conf == NULL || conf->redis_url == NULL)
        return ferry_err_set(err, FERRY_ERR_CONFIG, "test worker: no redis configuration");
    ferry_rc rc =
        ferry_store_open(conf->redis_url, conf->redis_password, STORE_TIMEOUT_MS, out, err);
    if (rc != FERRY_OK)
        return rc;
    if (pthread_setspecific(store_key, *out) != 0) {
        ferry_store_close(*out);
        *out = NULL;
        return ferry_err_set(err, FERRY_ERR_INTERNAL, "test worker: cannot keep the connection");
    }
    return FERRY_OK;
}

/* The behaviour for cmd into out ("ok" when none is set). */
static ferry_rc behavior_read(ferry_store *store, const Ferry__V1__StepCommand *cmd, char *out,
                              size_t outsz, ferry_err *err)
{
    char key[FERRY_STATE_KEY_MAX];
    int n = snprintf(key, sizeof(key), "ferry:test:behavior:%s", cmd->migration_id);
    if (n < 0 || (size_t)n >= sizeof(key))
        return ferry_err_set(err, FERRY_ERR_INVALID, "test worker: migration id too long");
    const char *op = ferry_wire_operation_name(cmd->operation);
    const char *argv[] = {"HMGET", key, cmd->step_id, op != NULL ? op : "", "*"};
    ferry_store_reply *reply = NULL;
    ferry_rc rc = ferry_store_command(store, true, 5, argv, NULL, &reply, err);
    if (rc != FERRY_OK)
        return rc;
    (void)snprintf(out, outsz, "ok");
    for (size_t i = 0; i < 3; i++) {
        const char *v = ferry_store_reply_str(ferry_store_reply_at(reply, i));
        if (v != NULL) {
            (void)snprintf(out, outsz, "%s", v);
            break;
        }
    }
    ferry_store_reply_free(reply);
    return FERRY_OK;
}

/* Appends "<worker id> <step> <attempt> <start> <end>" to ferry:test:runs:<migration>. */
static void run_record(ferry_store *store, ferry_step_ctx *ctx, const Ferry__V1__StepCommand *cmd,
                       int64_t start, int64_t end)
{
    char key[FERRY_STATE_KEY_MAX], entry[512];
    (void)snprintf(key, sizeof(key), "ferry:test:runs:%s", cmd->migration_id);
    (void)snprintf(entry, sizeof(entry), "%s %s %u %" PRId64 " %" PRId64, ferry_step_worker_id(ctx),
                   cmd->step_id, cmd->attempt, start, end);
    const char *argv[] = {"RPUSH", key, entry};
    ferry_err err;
    if (ferry_store_command(store, false, 3, argv, NULL, NULL, &err) != FERRY_OK)
        (void)fprintf(stderr, "ferry-test-worker: recording a run: %s\n", err.msg);
}

/* Plausible results of a successful step, per kind and operation. */
static ferry_rc results_set(ferry_step_ctx *ctx, const Ferry__V1__StepCommand *cmd, bool running,
                            long ttl_old)
{
    static const struct {
        Ferry__V1__Operation op;
        const char *name, *value;
    } fixed[] = {
        {FERRY__V1__OPERATION__OPERATION_DUMP_RESTORE_COPY, "rows", "100"},
        {FERRY__V1__OPERATION__OPERATION_DUMP_RESTORE_COPY, "tables", "3"},
        {FERRY__V1__OPERATION__OPERATION_DUMP_RESTORE_VERIFY, "rows", "100"},
        {FERRY__V1__OPERATION__OPERATION_DUMP_RESTORE_VERIFY, "tables", "3"},
        {FERRY__V1__OPERATION__OPERATION_FILE_SYNC_PASS, "files_total", "10"},
        {FERRY__V1__OPERATION__OPERATION_FILE_SYNC_PASS, "files_synced", "10"},
        {FERRY__V1__OPERATION__OPERATION_FILE_SYNC_PASS, "bytes_total", "10240"},
        {FERRY__V1__OPERATION__OPERATION_FILE_SYNC_PASS, "bytes_synced", "10240"},
    };
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        if (fixed[i].op != cmd->operation)
            continue;
        ferry_rc rc = ferry_step_result(ctx, fixed[i].name, fixed[i].value);
        if (rc != FERRY_OK)
            return rc;
    }
    if (cmd->operation == FERRY__V1__OPERATION__OPERATION_APP_STATUS)
        return ferry_step_result(ctx, "running", running ? "true" : "false");
    if (cmd->operation == FERRY__V1__OPERATION__OPERATION_DNS_LOWER_TTL && ttl_old > 0) {
        /* As ferry-dns: the TTL each name had, per name, in every zone of the step. */
        char name[300], value[24];
        (void)snprintf(value, sizeof(value), "%ld", ttl_old);
        for (size_t z = 0; cmd->dns != NULL && z < cmd->dns->n_zones; z++) {
            for (size_t i = 0; i < cmd->dns->zones[z]->n_names; i++) {
                (void)snprintf(name, sizeof(name), "ttl_old.%s", cmd->dns->zones[z]->names[i]);
                ferry_rc rc = ferry_step_result(ctx, name, value);
                if (rc != FERRY_OK)
                    return rc;
            }
        }
    }
    return FERRY_OK;
}

/* Parses the decimal number after a behaviour's colon; false when there is none. */
static bool number_after(const char *behavior, const char *name, long *out)
{
    size_t n = strlen(name);
    if (strncmp(behavior, name, n) != 0 || behavior[n] != ':')
        return false;
    const char *num = behavior + n + 1;
    char *end = NULL;
    errno = 0;
    long v = strtol(num, &end, 10);
    if (errno != 0 || end == num || *end != '\0' || v < 0)
        return false;
    *out = v;
    return true;
}

/* The result code named text ("invalid", "unavailable"); FERRY_OK when none is. */
static ferry_rc rc_by_name(const char *text)
{
    for (int code = 1; code <= (int)FERRY_RC_MAX; code++) {
        if (strcmp(ferry_rc_str((ferry_rc)code), text) == 0)
            return (ferry_rc)code;
    }
    return FERRY_OK;
}

/* Reports progress for ms milliseconds (0: none), stopping early when told to. *acted: when it
 * last went on working or completed (left as it is when it stops before its first tick). */
static ferry_rc run_for(ferry_step_ctx *ctx, long ms, bool forever, int64_t *acted)
{
    int64_t start = ferry_wall_ms();
    for (;;) {
        int64_t spent = ferry_wall_ms() - start;
        ferry_step_progress p = {.done = (uint64_t)spent,
                                 .total = forever ? 0 : (uint64_t)ms,
                                 .unit = "ms",
                                 .detail = forever ? "hanging until told to stop" : "working"};
        ferry_step_progress_set(ctx, &p);
        if (ferry_step_stopping(ctx))
            return FERRY_ERR_CANCELLED;
        *acted = ferry_wall_ms();
        if (!forever && spent >= ms)
            return FERRY_OK;
        ferry_sleep_ms(TICK_MS);
    }
}

static ferry_rc run(ferry_step_ctx *ctx, const Ferry__V1__StepCommand *cmd, void *ud,
                    ferry_err *err)
{
    const test_conf *conf = ud;
    ferry_store *store = NULL;
    char behavior[256];
    long n = 0;
    int64_t start = ferry_wall_ms(), acted = -1;
    ferry_rc rc = thread_store(conf, &store, err);
    if (rc != FERRY_OK)
        return rc;
    rc = behavior_read(store, cmd, behavior, sizeof(behavior), err);
    if (rc != FERRY_OK)
        return rc;

    bool running = false;
    long ttl_old = 0;
    if (strcmp(behavior, "ok") == 0) {
        rc = FERRY_OK;
    } else if (number_after(behavior, "ttl", &ttl_old)) {
        rc = FERRY_OK; /* a lower_ttl that reports the names' old TTL */
    } else if (strcmp(behavior, "running") == 0) {
        running = true;
        rc = FERRY_OK;
    } else if (number_after(behavior, "ok", &n)) {
        acted = start; /* the attempt began: a stop before the first tick acted no further */
        rc = run_for(ctx, n, false, &acted);
        if (rc != FERRY_OK)
            (void)ferry_err_set(err, rc, "test behaviour %s: stopped early", behavior);
    } else if (strncmp(behavior, "fail:", 5) == 0) {
        rc = rc_by_name(behavior + 5);
        if (rc == FERRY_OK)
            rc = ferry_err_set(err, FERRY_ERR_INVALID, "test behaviour %s: no such code", behavior);
        else
            (void)ferry_err_set(err, rc, "test behaviour %s", behavior);
    } else if (number_after(behavior, "retry", &n)) {
        rc = (long)cmd->attempt <= n ? FERRY_ERR_UNAVAILABLE : FERRY_OK;
        if (rc != FERRY_OK)
            (void)ferry_err_set(err, rc, "test behaviour %s: attempt %u fails", behavior,
                                cmd->attempt);
    } else if (strcmp(behavior, "hang") == 0) {
        acted = start;
        rc = run_for(ctx, 0, true, &acted);
        (void)ferry_err_set(err, rc, "test behaviour hang: stopped");
    } else if (strcmp(behavior, "crash") == 0 ||
               (number_after(behavior, "crash", &n) && (long)cmd->attempt <= n)) {
        run_record(store, ctx, cmd, start, ferry_wall_ms());
        (void)fprintf(stderr, "ferry-test-worker: crashing on %s/%s attempt %u\n",
                      cmd->migration_id, cmd->step_id, cmd->attempt);
        (void)kill(getpid(), SIGKILL);
        pause();
    } else if (number_after(behavior, "crash", &n)) {
        rc = FERRY_OK; /* crash:<n> past attempt n */
    } else {
        rc = ferry_err_set(err, FERRY_ERR_INVALID, "test behaviour '%s' is not known", behavior);
    }

    if (rc == FERRY_OK || acted < 0)
        acted = ferry_wall_ms(); /* completed, or a behaviour that acts once */
    if (rc == FERRY_OK) {
        ferry_step_progress p = {.done = 1, .total = 1, .unit = "steps", .detail = "done"};
        ferry_step_progress_set(ctx, &p);
        rc = results_set(ctx, cmd, running, ttl_old);
        if (rc != FERRY_OK)
            (void)ferry_err_set(err, rc, "test worker: cannot set results");
    }
    run_record(store, ctx, cmd, start, acted);
    return rc;
}

int main(int argc, char **argv)
{
    const char *kind_name = NULL;
    bool info_only = false;
    char **args = calloc((size_t)argc + 1, sizeof(*args));
    int n_args = 0;
    if (args == NULL)
        return 1;
    args[n_args++] = argv[0];
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--kind") == 0 && i + 1 < argc) {
            kind_name = argv[++i];
            continue;
        }
        if (strncmp(argv[i], "--kind=", 7) == 0) {
            kind_name = argv[i] + 7;
            continue;
        }
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "--version") == 0)
            info_only = true;
        args[n_args++] = argv[i];
    }

    ferry_worker_def def = {
        .component = FERRY_COMP_NOOP, .name = "ferry-test-worker", .execute = run};
    if (kind_name == NULL && info_only)
        kind_name = "app";
    if (kind_name == NULL || ferry_wire_kind_parse(kind_name, &def.kind) != 0) {
        (void)fprintf(stderr, "usage: ferry-test-worker --kind dump_restore|file_sync|dns|app "
                              "[--check-config] [--help] [--version]\n");
        free(args);
        return 2;
    }

    /* The executor's own Redis access; a configuration that does not load is reported by
     * ferry_worker_main() below, with every problem. */
    ferry_cfg *cfg = NULL;
    char *problems = NULL;
    test_conf conf = {0};
    if (ferry_cfg_load(FERRY_COMP_NOOP, NULL, NULL, &cfg, &problems) == FERRY_OK) {
        conf.redis_url = ferry_cfg_str(cfg, "redis.url");
        conf.redis_password = ferry_cfg_str(cfg, "redis.password");
    }
    free(problems);
    def.ud = &conf;

    int code = ferry_worker_main(n_args, args, &def);
    ferry_cfg_free(cfg);
    free(args);
    return code;
}
