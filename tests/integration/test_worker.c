/*
 * Integration tests for the worker runtime (worker.c) through the test executor
 * (ferry-test-worker, built next to this binary) against the local stack's Kafka and Redis.
 *
 * The test plays the coordinator by hand: it writes a step record as pending, dispatches it
 * (ferry_steps_dispatch) and publishes the StepCommand. Workers run as separate processes with
 * a topic prefix of this run's own, a 2 s lease and a 500 ms heartbeat; each one's log goes to
 * a file that a failing run prints. The cases share the workers and run in order: one worker
 * first, a second joins for the duplicate case, then one is stopped with SIGTERM and the other
 * crashes. Group joins cost seconds each, so there are only three (two workers, one reader of
 * the dead-letter topic). FERRY_TEST_KEEP_LOGS=1 keeps the workers' logs of a passing run.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ferry.pb-c.h"
#include "ferry/clock.h"
#include "ferry/bus.h"
#include "ferry/config.h"
#include "ferry/steps.h"
#include "ferry/state.h"
#include "ferry/store.h"
#include "ferry/wire.h"
#include "ferry_test.h"

extern char **environ;

#define PARTITIONS 4
#define LEASE_MS   2000
#define COPIES     16    /* copies of one command in the duplicate case */
#define WAIT_MS    30000 /* longest wait for something that must happen (group joins included) */

typedef struct proc {
    pid_t pid; /* 0 when not running */
    char id[256];
    char log[256];
    int status; /* wait status once it ended */
} proc;

static char brokers[256], prefix[64], topic[160], dlq[160], mig[64], host[128];
static char worker_bin[4096];
static ferry_store *store;
static ferry_bus_producer *producer;
static proc workers[2];

/* ------------------------------------------------------------------ time */

/* ------------------------------------------------------------------ redis */

static ferry_rc cmd(size_t argc, const char *const *argv, ferry_store_reply **out)
{
    ferry_err err;
    ferry_rc rc = ferry_store_command(store, true, argc, argv, NULL, out, &err);
    if (rc != FERRY_OK)
        fprintf(stderr, "%s: %s\n", argv[0], err.msg);
    return rc;
}

static void record_key(const char *step, char *out, size_t outsz)
{
    char entity[128];
    (void)snprintf(entity, sizeof(entity), "step:%s", step);
    (void)ferry_state_key(mig, entity, out, outsz, NULL);
}

/* One field of a step record into out ("" when absent). */
static const char *field(const char *step, const char *name, char *out, size_t outsz)
{
    char key[FERRY_STATE_KEY_MAX];
    record_key(step, key, sizeof(key));
    const char *argv[] = {"HGET", key, name};
    ferry_store_reply *r = NULL;
    out[0] = '\0';
    if (cmd(3, argv, &r) == FERRY_OK && ferry_store_reply_str(r) != NULL)
        (void)snprintf(out, outsz, "%s", ferry_store_reply_str(r));
    ferry_store_reply_free(r);
    return out;
}

static int64_t field_i64(const char *step, const char *name)
{
    char buf[64];
    field(step, name, buf, sizeof(buf));
    return buf[0] ? strtoll(buf, NULL, 10) : -1;
}

/* Polls the step's state until it is `state` or max_ms pass. */
static bool wait_state(const char *step, const char *state, int max_ms)
{
    char buf[64];
    int64_t until = ferry_mono_ms() + max_ms;
    while (ferry_mono_ms() < until) {
        if (strcmp(field(step, "state", buf, sizeof(buf)), state) == 0)
            return true;
        ferry_sleep_ms(50);
    }
    printf("\n  %s: state '%s', expected '%s'", step, buf, state);
    return false;
}

/* The runs of step's attempt in ferry:test:runs:<mig>; the last one's start and end. */
static int runs_of(const char *step, int64_t attempt, int64_t *start, int64_t *end)
{
    char key[160], want[160];
    (void)snprintf(key, sizeof(key), "ferry:test:runs:%s", mig);
    (void)snprintf(want, sizeof(want), " %s %" PRId64 " ", step, attempt);
    const char *argv[] = {"LRANGE", key, "0", "-1"};
    ferry_store_reply *r = NULL;
    int n = 0;
    if (cmd(4, argv, &r) != FERRY_OK)
        return -1;
    for (size_t i = 0; i < r->count; i++) {
        const char *hit = strstr(r->elements[i]->str, want);
        if (hit == NULL)
            continue;
        long long s = 0, e = 0;
        if (sscanf(hit + strlen(want), "%lld %lld", &s, &e) == 2) {
            if (start != NULL)
                *start = s;
            if (end != NULL)
                *end = e;
        }
        n++;
    }
    ferry_store_reply_free(r);
    return n;
}

static void behavior_set(const char *step, const char *behavior)
{
    char key[160];
    (void)snprintf(key, sizeof(key), "ferry:test:behavior:%s", mig);
    const char *argv[] = {"HSET", key, step, behavior};
    CU_ASSERT_EQUAL(cmd(4, argv, NULL), FERRY_OK);
}

static bool exists(const char *key)
{
    const char *argv[] = {"EXISTS", key};
    ferry_store_reply *r = NULL;
    bool yes = cmd(2, argv, &r) == FERRY_OK && r->integer == 1;
    ferry_store_reply_free(r);
    return yes;
}

static bool worker_listed(const char *id)
{
    const char *argv[] = {"ZSCORE", "ferry:workers", id};
    ferry_store_reply *r = NULL;
    bool yes = cmd(3, argv, &r) == FERRY_OK && ferry_store_reply_str(r) != NULL;
    ferry_store_reply_free(r);
    return yes;
}

/* ------------------------------------------------------------------ commands */

/* The commands a test sends for one step and attempt. */
typedef enum cmd_variant {
    CMD_GOOD,       /* the app command the coordinator would send */
    CMD_WRONG_KIND, /* a dns command, on the app topic */
    CMD_FORGED,     /* the app command with another app: not what was dispatched */
} cmd_variant;

/* The command for step at attempt, packed; its digest (ferry_steps_command_digest) into digest
 * when that is not NULL. */
static uint8_t *command_pack(const char *step, int64_t attempt, int64_t deadline,
                             cmd_variant variant, size_t *len,
                             char digest[FERRY_STEPS_DIGEST_LEN + 1])
{
    static char platform[] = "supervisor", app[] = "shop", forged[] = "someone-elses-app",
                zone[] = "example.org.";
    bool wrong_kind = variant == CMD_WRONG_KIND;
    static char issued_by[] = "test-worker";
    char mig_copy[64], step_copy[128];
    (void)snprintf(mig_copy, sizeof(mig_copy), "%s", mig);
    (void)snprintf(step_copy, sizeof(step_copy), "%s", step);
    Ferry__V1__AppParams params = FERRY__V1__APP_PARAMS__INIT;
    Ferry__V1__DnsParams dns = FERRY__V1__DNS_PARAMS__INIT;
    Ferry__V1__StepCommand c = FERRY__V1__STEP_COMMAND__INIT;
    params.platform = platform;
    params.app = variant == CMD_FORGED ? forged : app;
    dns.zone = zone;
    c.migration_id = mig_copy;
    c.step_id = step_copy;
    c.attempt = (uint32_t)attempt;
    c.deadline_unix_ms = deadline;
    c.issued_unix_ms = ferry_wall_ms();
    c.issued_by = issued_by;
    if (wrong_kind) {
        c.kind = FERRY__V1__STEP_KIND__STEP_KIND_DNS;
        c.operation = FERRY__V1__OPERATION__OPERATION_DNS_CHECK;
        c.params_case = FERRY__V1__STEP_COMMAND__PARAMS_DNS;
        c.dns = &dns;
    } else {
        c.kind = FERRY__V1__STEP_KIND__STEP_KIND_APP;
        c.operation = FERRY__V1__OPERATION__OPERATION_APP_STATUS;
        c.params_case = FERRY__V1__STEP_COMMAND__PARAMS_APP;
        c.app = &params;
    }
    uint8_t *out = NULL;
    ferry_err err;
    if (digest != NULL && ferry_steps_command_digest(&c, digest, &err) != FERRY_OK) {
        fprintf(stderr, "digest: %s\n", err.msg);
        return NULL;
    }
    if (ferry_wire_step_encode(&c, &out, len, &err) != FERRY_OK)
        fprintf(stderr, "encode: %s\n", err.msg);
    return out;
}

static bool publish(const char *key, const void *payload, size_t len)
{
    ferry_err err;
    ferry_rc rc = ferry_bus_publish(producer, topic, key, strlen(key), payload, len, &err);
    if (rc != FERRY_OK)
        fprintf(stderr, "publish: %s\n", err.msg);
    return rc == FERRY_OK;
}

/* Plays the coordinator: step pending at attempt, dispatched, published `copies` times (each
 * copy under its own key, so that copies spread over partitions and workers). */
static void step_send(const char *step, int64_t attempt, int64_t deadline, int copies)
{
    char key[FERRY_STATE_KEY_MAX], a[24];
    record_key(step, key, sizeof(key));
    (void)snprintf(a, sizeof(a), "%" PRId64, attempt);
    const char *hset[] = {"HSET", key,   "state",     "pending", "attempt", a,
                          "kind", "app", "operation", "status",  "purpose", "test.worker"};
    CU_ASSERT_EQUAL_FATAL(cmd(sizeof(hset) / sizeof(hset[0]), hset, NULL), FERRY_OK);
    ferry_step_ref ref = {.migration = mig, .step = step, .attempt = attempt};
    ferry_step_seen seen;
    ferry_err err;
    size_t len = 0;
    char digest[FERRY_STEPS_DIGEST_LEN + 1];
    uint8_t *payload = command_pack(step, attempt, deadline, CMD_GOOD, &len, digest);
    CU_ASSERT_PTR_NOT_NULL_FATAL(payload);
    ferry_rc rc = ferry_steps_dispatch(store, &ref, "app", "test-worker", digest, &seen, &err);
    if (rc != FERRY_OK)
        fprintf(stderr, "dispatch: %s\n", err.msg);
    if (rc != FERRY_OK)
        free(payload);
    CU_ASSERT_EQUAL_FATAL(rc, FERRY_OK);
    for (int i = 0; i < copies; i++) {
        char k[160];
        (void)snprintf(k, sizeof(k), copies == 1 ? "%s" : "%s#%d", step, i);
        CU_ASSERT_TRUE(publish(k, payload, len));
    }
    free(payload);
}

/* ------------------------------------------------------------------ processes */

/* The environment of a worker: this one's, with the test's settings replacing any given. */
static char **worker_env(void)
{
    static const char *set[] = {"FERRY_KAFKA_TOPIC_PREFIX=", "FERRY_KAFKA_PARTITIONS=4",
                                "FERRY_WORKER_LEASE=2s",     "FERRY_WORKER_HEARTBEAT=500ms",
                                "FERRY_WORKER_DRAIN=0",      "FERRY_WORKER_CONCURRENCY=2",
                                "FERRY_LOG_LEVEL=info"};
    static char prefix_var[128];
    size_t n_set = sizeof(set) / sizeof(set[0]), n = 0;
    while (environ[n] != NULL)
        n++;
    char **env = calloc(n + n_set + 1, sizeof(*env));
    if (env == NULL)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        bool replaced = strncmp(environ[i], "FERRY_WORKER_ID=", 16) == 0;
        for (size_t s = 0; s < n_set && !replaced; s++) {
            size_t name_len = (size_t)(strchr(set[s], '=') - set[s]) + 1;
            replaced = strncmp(environ[i], set[s], name_len) == 0;
        }
        if (!replaced)
            env[k++] = environ[i];
    }
    (void)snprintf(prefix_var, sizeof(prefix_var), "FERRY_KAFKA_TOPIC_PREFIX=%s", prefix);
    env[k++] = prefix_var;
    for (size_t s = 1; s < n_set; s++)
        env[k++] = (char *)set[s];
    env[k] = NULL;
    return env;
}

static bool proc_start(proc *p, const char *name)
{
    char **env = worker_env();
    posix_spawn_file_actions_t fa;
    bool ok = false;
    (void)snprintf(p->log, sizeof(p->log), "/tmp/%s.log", ferry_test_unique(name));
    if (env == NULL || posix_spawn_file_actions_init(&fa) != 0) {
        free(env);
        return false;
    }
    static char kind_flag[] = "--kind", kind[] = "app";
    char *argv[] = {worker_bin, kind_flag, kind, NULL};
    if (posix_spawn_file_actions_addopen(&fa, 1, p->log, O_WRONLY | O_CREAT | O_TRUNC, 0644) == 0 &&
        posix_spawn_file_actions_adddup2(&fa, 1, 2) == 0 &&
        posix_spawn(&p->pid, worker_bin, &fa, NULL, argv, env) == 0)
        ok = true;
    (void)posix_spawn_file_actions_destroy(&fa);
    free(env);
    if (!ok) {
        p->pid = 0;
        return false;
    }
    (void)snprintf(p->id, sizeof(p->id), "app@%s:%ld", host, (long)p->pid);
    printf("\n  started %s (log %s)", p->id, p->log);
    return true;
}

/* Waits up to max_ms for p to end; true when it did (status in p->status). */
static bool proc_wait(proc *p, int max_ms)
{
    int64_t until = ferry_mono_ms() + max_ms;
    while (p->pid > 0) {
        pid_t r = waitpid(p->pid, &p->status, WNOHANG);
        if (r == p->pid) {
            p->pid = 0;
            return true;
        }
        if (ferry_mono_ms() >= until)
            return false;
        ferry_sleep_ms(20);
    }
    return true;
}

static proc *proc_by_id(const char *id)
{
    for (size_t i = 0; i < 2; i++) {
        if (workers[i].pid > 0 && strcmp(workers[i].id, id) == 0)
            return &workers[i];
    }
    return NULL;
}

/* Lines of p's log that hold every one of the NULL-terminated needles. */
static int log_count(const proc *p, ...)
{
    FILE *f = fopen(p->log, "r");
    char line[4096];
    int n = 0;
    if (f == NULL)
        return 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        va_list ap;
        va_start(ap, p);
        bool all = true;
        for (const char *needle = va_arg(ap, const char *); needle != NULL && all;
             needle = va_arg(ap, const char *))
            all = strstr(line, needle) != NULL;
        va_end(ap);
        n += all;
    }
    (void)fclose(f);
    return n;
}

static void log_print(const proc *p)
{
    FILE *f = fopen(p->log, "r");
    char line[4096];
    if (f == NULL)
        return;
    printf("\n---- %s (%s)\n", p->id, p->log);
    while (fgets(line, sizeof(line), f) != NULL)
        fputs(line, stdout);
    (void)fclose(f);
}

/* ------------------------------------------------------------------ suite */

static int suite_setup(void)
{
    const ferry_cfg *cfg = ferry_test_cfg();
    if (cfg == NULL)
        return 1;
    (void)signal(SIGPIPE, SIG_IGN);
    ssize_t n = readlink("/proc/self/exe", worker_bin, sizeof(worker_bin) - 1);
    if (n <= 0 || (size_t)n >= sizeof(worker_bin) - 32)
        return 1;
    worker_bin[n] = '\0';
    char *slash = strrchr(worker_bin, '/');
    if (slash == NULL)
        return 1;
    (void)snprintf(slash + 1, sizeof(worker_bin) - (size_t)(slash + 1 - worker_bin),
                   "ferry-test-worker");
    if (access(worker_bin, X_OK) != 0) {
        fprintf(stderr, "no test executor at %s\n", worker_bin);
        return 1;
    }
    if (gethostname(host, sizeof(host)) != 0)
        return 1;
    host[sizeof(host) - 1] = '\0';

    (void)snprintf(brokers, sizeof(brokers), "%s", ferry_cfg_str(cfg, "kafka.brokers"));
    (void)snprintf(prefix, sizeof(prefix), "%s.", ferry_test_unique("ferrytw"));
    (void)snprintf(mig, sizeof(mig), "%s", ferry_test_unique("tw"));
    if (ferry_wire_step_topic(prefix, FERRY__V1__STEP_KIND__STEP_KIND_APP, topic, sizeof(topic)) !=
            0 ||
        ferry_wire_dead_letter_topic(prefix, dlq, sizeof(dlq)) != 0)
        return 1;

    ferry_err err;
    const char *topics[] = {topic, dlq};
    const ferry_bus_config tcfg = {.brokers = brokers};
    if (ferry_bus_create_topics(&tcfg, topics, 2, PARTITIONS, -1, 30000, &err) != FERRY_OK ||
        ferry_store_open(ferry_cfg_str(cfg, "redis.url"), ferry_cfg_str(cfg, "redis.password"),
                         5000, &store, &err) != FERRY_OK) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return 1;
    }
    ferry_bus_config pcfg = {
        .brokers = brokers, .client_id = "ferry-test-worker-it", .timeout_ms = 15000};
    if (ferry_bus_producer_new(&pcfg, &producer, &err) != FERRY_OK) {
        fprintf(stderr, "producer: %s\n", err.msg);
        return 1;
    }
    return 0;
}

static int suite_teardown(void)
{
    bool failed = CU_get_number_of_failures() > 0;
    bool keep = failed || getenv("FERRY_TEST_KEEP_LOGS") != NULL;
    for (size_t i = 0; i < 2; i++) {
        if (failed && workers[i].log[0] != '\0')
            log_print(&workers[i]);
        if (workers[i].pid > 0) {
            (void)kill(workers[i].pid, SIGKILL);
            (void)proc_wait(&workers[i], 5000);
        }
        if (!keep && workers[i].log[0] != '\0')
            (void)unlink(workers[i].log);
        if (workers[i].id[0] != '\0') {
            char key[300];
            (void)snprintf(key, sizeof(key), "ferry:worker:%s", workers[i].id);
            const char *del[] = {"DEL", key};
            const char *zrem[] = {"ZREM", "ferry:workers", workers[i].id};
            (void)cmd(2, del, NULL);
            (void)cmd(3, zrem, NULL);
        }
    }
    if (store != NULL) {
        char pattern[128], runs[160], behavior[160], lo[96], hi[96];
        (void)snprintf(pattern, sizeof(pattern), "ferry:{%s}:*", mig);
        (void)snprintf(runs, sizeof(runs), "ferry:test:runs:%s", mig);
        (void)snprintf(behavior, sizeof(behavior), "ferry:test:behavior:%s", mig);
        const char *keys[] = {"KEYS", pattern};
        ferry_store_reply *r = NULL;
        if (cmd(2, keys, &r) == FERRY_OK) {
            for (size_t k = 0; k < r->count; k++) {
                const char *del[] = {"DEL", r->elements[k]->str};
                (void)cmd(2, del, NULL);
            }
        }
        ferry_store_reply_free(r);
        const char *del[] = {"DEL", runs, behavior};
        (void)cmd(3, del, NULL);
        (void)snprintf(lo, sizeof(lo), "[%s ", mig);
        (void)snprintf(hi, sizeof(hi), "[%s!", mig);
        const char *zq[] = {"ZREMRANGEBYLEX", "ferry:queued:app", lo, hi};
        const char *zl[] = {"ZREMRANGEBYLEX", "ferry:leases", lo, hi};
        (void)cmd(4, zq, NULL);
        (void)cmd(4, zl, NULL);
    }
    ferry_store_close(store);
    ferry_bus_producer_free(producer);
    return 0;
}

/* ------------------------------------------------------------------ cases */

static void test_start_heartbeat(void)
{
    proc *a = &workers[0];
    CU_ASSERT_TRUE_FATAL(proc_start(a, "tw-a"));
    char key[300], buf[256];
    (void)snprintf(key, sizeof(key), "ferry:worker:%s", a->id);
    int64_t until = ferry_mono_ms() + WAIT_MS;
    while (!exists(key) && ferry_mono_ms() < until)
        ferry_sleep_ms(50);
    CU_ASSERT_TRUE_FATAL(exists(key));

    const char *hgetall[] = {"HGETALL", key};
    ferry_store_reply *r = NULL;
    CU_ASSERT_EQUAL_FATAL(cmd(2, hgetall, &r), FERRY_OK);
    const char *want[][2] = {{"kind", "app"}, {"capacity", "2"}, {"running", "0"}, {"host", host}};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const char *v = NULL;
        for (size_t k = 0; k + 1 < r->count; k += 2) {
            if (strcmp(r->elements[k]->str, want[i][0]) == 0)
                v = r->elements[k + 1]->str;
        }
        CU_ASSERT_PTR_NOT_NULL(v);
        if (v != NULL)
            CU_ASSERT_STRING_EQUAL(v, want[i][1]);
    }
    ferry_store_reply_free(r);
    (void)snprintf(buf, sizeof(buf), "%ld", (long)a->pid);
    const char *hget[] = {"HGET", key, "pid"};
    CU_ASSERT_EQUAL(cmd(3, hget, &r), FERRY_OK);
    CU_ASSERT_STRING_EQUAL(ferry_store_reply_str(r) ? ferry_store_reply_str(r) : "", buf);
    ferry_store_reply_free(r);
    CU_ASSERT_TRUE(worker_listed(a->id));
    /* It expires unless renewed: a TTL of three heartbeats at most. */
    const char *pttl[] = {"PTTL", key};
    CU_ASSERT_EQUAL(cmd(2, pttl, &r), FERRY_OK);
    CU_ASSERT_TRUE(r != NULL && r->integer > 0 && r->integer <= 1500);
    ferry_store_reply_free(r);
}

static void test_succeeds(void)
{
    char buf[256];
    int64_t start = 0, end = 0;
    step_send("ok-1", 1, 0, 1); /* no behaviour set: ok */
    CU_ASSERT_TRUE_FATAL(wait_state("ok-1", "succeeded", WAIT_MS));
    CU_ASSERT_STRING_EQUAL(field("ok-1", "r.running", buf, sizeof(buf)), "false");
    CU_ASSERT_STRING_EQUAL(field("ok-1", "owner", buf, sizeof(buf)), workers[0].id);
    CU_ASSERT_TRUE(field_i64("ok-1", "duration_ms") >= 0);
    CU_ASSERT_EQUAL(field_i64("ok-1", "p_done"), 1);
    CU_ASSERT_EQUAL(runs_of("ok-1", 1, &start, &end), 1);
    CU_ASSERT_TRUE(start > 0 && end >= start);

    behavior_set("run-1", "running");
    step_send("run-1", 1, 0, 1);
    CU_ASSERT_TRUE(wait_state("run-1", "succeeded", WAIT_MS));
    CU_ASSERT_STRING_EQUAL(field("run-1", "r.running", buf, sizeof(buf)), "true");
}

static void test_fails(void)
{
    char buf[256];
    behavior_set("fail-1", "fail:invalid");
    step_send("fail-1", 1, 0, 1);
    CU_ASSERT_TRUE_FATAL(wait_state("fail-1", "failed", WAIT_MS));
    CU_ASSERT_EQUAL(field_i64("fail-1", "error_code"), FERRY_ERR_INVALID);
    CU_ASSERT_STRING_EQUAL(field("fail-1", "error_name", buf, sizeof(buf)), "invalid");
    CU_ASSERT_STRING_EQUAL(field("fail-1", "error_retryable", buf, sizeof(buf)), "0");
    CU_ASSERT_PTR_NOT_NULL(
        strstr(field("fail-1", "error_message", buf, sizeof(buf)), "fail:invalid"));
    CU_ASSERT_EQUAL(runs_of("fail-1", 1, NULL, NULL), 1);

    /* retry:1 fails retryable at attempt 1 and succeeds at attempt 2. */
    behavior_set("retry-1", "retry:1");
    step_send("retry-1", 1, 0, 1);
    CU_ASSERT_TRUE_FATAL(wait_state("retry-1", "failed", WAIT_MS));
    CU_ASSERT_STRING_EQUAL(field("retry-1", "error_name", buf, sizeof(buf)), "unavailable");
    CU_ASSERT_STRING_EQUAL(field("retry-1", "error_retryable", buf, sizeof(buf)), "1");
    step_send("retry-1", 2, 0, 1);
    CU_ASSERT_TRUE_FATAL(wait_state("retry-1", "succeeded", WAIT_MS));
    CU_ASSERT_EQUAL(field_i64("retry-1", "attempt"), 2);
    /* The new attempt's claim dropped the old error. */
    CU_ASSERT_STRING_EQUAL(field("retry-1", "error_code", buf, sizeof(buf)), "");
    CU_ASSERT_EQUAL(runs_of("retry-1", 1, NULL, NULL), 1);
    CU_ASSERT_EQUAL(runs_of("retry-1", 2, NULL, NULL), 1);
}

static void test_deadline(void)
{
    char buf[256];
    behavior_set("deadline-1", "hang");
    step_send("deadline-1", 1, ferry_wall_ms() + 1500, 1);
    CU_ASSERT_TRUE_FATAL(wait_state("deadline-1", "failed", WAIT_MS));
    CU_ASSERT_EQUAL(field_i64("deadline-1", "error_code"), FERRY_ERR_TIMEOUT);
    CU_ASSERT_STRING_EQUAL(field("deadline-1", "error_retryable", buf, sizeof(buf)), "0");
    int64_t start = 0, end = 0;
    CU_ASSERT_EQUAL(runs_of("deadline-1", 1, &start, &end), 1);
}

/* A claim whose reply was lost: the attempt is running under this worker's own id but not
 * here. The worker's claim is refused that way, and it counts it as its own and runs it. */
static void test_own_claim_counts(void)
{
    char key[FERRY_STATE_KEY_MAX];
    record_key("mine-1", key, sizeof(key));
    const char *hset[] = {"HSET", key,    "state", "pending",   "attempt",
                          "1",    "kind", "app",   "operation", "status"};
    CU_ASSERT_EQUAL_FATAL(cmd(sizeof(hset) / sizeof(hset[0]), hset, NULL), FERRY_OK);
    ferry_step_ref ref = {.migration = mig, .step = "mine-1", .attempt = 1};
    ferry_step_seen seen;
    ferry_err err;
    size_t len = 0;
    char digest[FERRY_STEPS_DIGEST_LEN + 1];
    uint8_t *payload = command_pack("mine-1", 1, 0, CMD_GOOD, &len, digest);
    CU_ASSERT_PTR_NOT_NULL_FATAL(payload);
    CU_ASSERT_EQUAL_FATAL(
        ferry_steps_dispatch(store, &ref, "app", "test-worker", digest, &seen, &err), FERRY_OK);
    CU_ASSERT_EQUAL_FATAL(
        ferry_steps_claim(store, &ref, "app", workers[0].id, LEASE_MS, digest, &seen, &err),
        FERRY_OK);
    CU_ASSERT_TRUE(publish("mine-1", payload, len));
    free(payload);
    CU_ASSERT_TRUE(wait_state("mine-1", "succeeded", WAIT_MS));
    CU_ASSERT_EQUAL(runs_of("mine-1", 1, NULL, NULL), 1);
    CU_ASSERT_EQUAL(
        log_count(&workers[0], "earlier claim went through", "step=mine-1 ", (const char *)NULL),
        1);
}

/* Three 800 ms steps on two executors: never more than two at once; the heartbeat shows them. */
static void test_concurrency_bound(void)
{
    const char *steps[] = {"conc-1", "conc-2", "conc-3"};
    for (size_t i = 0; i < 3; i++) {
        behavior_set(steps[i], "ok:800");
        step_send(steps[i], 1, 0, 1);
    }
    char key[300], buf[512];
    (void)snprintf(key, sizeof(key), "ferry:worker:%s", workers[0].id);
    bool saw_full = false;
    int64_t until = ferry_mono_ms() + WAIT_MS;
    while (!saw_full && ferry_mono_ms() < until) {
        const char *hmget[] = {"HMGET", key, "running", "steps"};
        ferry_store_reply *r = NULL;
        if (cmd(4, hmget, &r) == FERRY_OK) {
            const char *running = ferry_store_reply_str(ferry_store_reply_at(r, 0));
            const char *list = ferry_store_reply_str(ferry_store_reply_at(r, 1));
            (void)snprintf(buf, sizeof(buf), "%s/conc-", mig);
            saw_full = running != NULL && strcmp(running, "2") == 0 && list != NULL &&
                       strstr(list, buf) != NULL;
        }
        ferry_store_reply_free(r);
        ferry_sleep_ms(50);
    }
    CU_ASSERT_TRUE(saw_full);
    int64_t start[3] = {0}, end[3] = {0};
    for (size_t i = 0; i < 3; i++) {
        CU_ASSERT_TRUE_FATAL(wait_state(steps[i], "succeeded", WAIT_MS));
        CU_ASSERT_EQUAL(runs_of(steps[i], 1, &start[i], &end[i]), 1);
    }
    /* The last to start began after one of the other two had ended. */
    size_t last = 0;
    for (size_t i = 1; i < 3; i++) {
        if (start[i] > start[last])
            last = i;
    }
    int64_t first_end = INT64_MAX;
    for (size_t i = 0; i < 3; i++) {
        if (i != last && end[i] < first_end)
            first_end = end[i];
    }
    CU_ASSERT_TRUE(start[last] >= first_end);
}

/* A hanging step reports progress through the renewals; canceled, it stops within seconds. */
static void test_cancel_stops(void)
{
    char buf[256];
    behavior_set("hang-1", "hang");
    step_send("hang-1", 1, 0, 1);
    CU_ASSERT_TRUE_FATAL(wait_state("hang-1", "running", WAIT_MS));
    int64_t first_lease = field_i64("hang-1", "lease_until");
    int64_t until = ferry_mono_ms() + 5000;
    while (field_i64("hang-1", "p_done") <= 0 && ferry_mono_ms() < until)
        ferry_sleep_ms(100);
    CU_ASSERT_STRING_EQUAL(field("hang-1", "p_unit", buf, sizeof(buf)), "ms");
    CU_ASSERT_TRUE(field_i64("hang-1", "p_done") > 0);
    CU_ASSERT_TRUE(field_i64("hang-1", "lease_until") > first_lease);
    CU_ASSERT_EQUAL(runs_of("hang-1", 1, NULL, NULL), 0);

    /* Canceled as a migration's plan cancels a running step (mig_apply.lua): the record says
     * canceled and its lease entry goes; the worker finds out at its next renewal. */
    char key[FERRY_STATE_KEY_MAX], member[256];
    record_key("hang-1", key, sizeof(key));
    (void)snprintf(member, sizeof(member), "%s hang-1 1", mig);
    const char *hset[] = {"HSET", key, "state", "canceled"};
    const char *zrem[] = {"ZREM", "ferry:leases", member};
    CU_ASSERT_EQUAL_FATAL(cmd(4, hset, NULL), FERRY_OK);
    CU_ASSERT_EQUAL_FATAL(cmd(3, zrem, NULL), FERRY_OK);
    int64_t canceled = ferry_mono_ms();
    while (runs_of("hang-1", 1, NULL, NULL) == 0 && ferry_mono_ms() - canceled < 5000)
        ferry_sleep_ms(50);
    printf("\n  canceled step stopped after %lld ms", (long long)(ferry_mono_ms() - canceled));
    CU_ASSERT_EQUAL(runs_of("hang-1", 1, NULL, NULL), 1);
    CU_ASSERT_TRUE(ferry_mono_ms() - canceled < 2 * LEASE_MS);
    /* The worker records nothing for an attempt it lost: the record stays canceled. */
    until = ferry_mono_ms() + 5000;
    while (log_count(&workers[0], "outcome is not recorded", "step=hang-1", (const char *)NULL) ==
               0 &&
           ferry_mono_ms() < until)
        ferry_sleep_ms(50);
    CU_ASSERT_EQUAL(
        log_count(&workers[0], "outcome is not recorded", "step=hang-1", (const char *)NULL), 1);
    CU_ASSERT_STRING_EQUAL(field("hang-1", "state", buf, sizeof(buf)), "canceled");
    CU_ASSERT_TRUE(log_count(&workers[0], "lease lost", "step=hang-1", (const char *)NULL) >= 1);
}

/* Undecodable bytes, a command of another kind, and a command whose parameters are not the
 * ones the coordinator dispatched (anyone who can write to a step topic could send one: here
 * it names another app) go to the dead-letter topic without running; the genuine command of
 * that step then runs once, and the next good message is still processed. */
static void test_poison(void)
{
    uint8_t garbage[64];
    for (size_t i = 0; i < sizeof(garbage); i++)
        garbage[i] = (uint8_t)(0xff - i * 7);
    CU_ASSERT_TRUE(publish("poison", garbage, sizeof(garbage)));
    size_t len = 0;
    uint8_t *wrong = command_pack("wrong-kind-1", 1, 0, CMD_WRONG_KIND, &len, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(wrong);
    CU_ASSERT_TRUE(publish("wrong-kind-1", wrong, len));
    free(wrong);

    /* The forged copy first, under its own key; the genuine one after it. */
    char key[FERRY_STATE_KEY_MAX], digest[FERRY_STEPS_DIGEST_LEN + 1];
    record_key("forged-1", key, sizeof(key));
    const char *hset[] = {"HSET", key,   "state",     "pending", "attempt", "1",
                          "kind", "app", "operation", "status",  "purpose", "test.worker"};
    CU_ASSERT_EQUAL_FATAL(cmd(sizeof(hset) / sizeof(hset[0]), hset, NULL), FERRY_OK);
    uint8_t *good = command_pack("forged-1", 1, 0, CMD_GOOD, &len, digest);
    CU_ASSERT_PTR_NOT_NULL_FATAL(good);
    ferry_step_ref ref = {.migration = mig, .step = "forged-1", .attempt = 1};
    ferry_step_seen seen;
    ferry_err err;
    CU_ASSERT_EQUAL(ferry_steps_dispatch(store, &ref, "app", "test-worker", digest, &seen, &err),
                    FERRY_OK);
    size_t forged_len = 0;
    uint8_t *forged = command_pack("forged-1", 1, 0, CMD_FORGED, &forged_len, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(forged);
    CU_ASSERT_TRUE(publish("forged-1", forged, forged_len));
    free(forged);
    CU_ASSERT_TRUE(publish("forged-1", good, len));
    free(good);
    step_send("after-poison-1", 1, 0, 1);

    ferry_bus_config ccfg = {.brokers = brokers,
                             .client_id = "ferry-test-worker-it",
                             .group_id = ferry_test_unique("ferrytw-dlq"),
                             .timeout_ms = 15000};
    ferry_bus_consumer *consumer = NULL;
    CU_ASSERT_EQUAL_FATAL(ferry_bus_consumer_new(&ccfg, &consumer, &err), FERRY_OK);
    const char *topics[] = {dlq};
    CU_ASSERT_EQUAL(ferry_bus_subscribe(consumer, topics, 1, &err), FERRY_OK);
    bool got_garbage = false, got_wrong = false, got_forged = false;
    int64_t until = ferry_mono_ms() + WAIT_MS;
    while ((!got_garbage || !got_wrong || !got_forged) && ferry_mono_ms() < until) {
        ferry_bus_msg *msg = NULL;
        if (ferry_bus_poll(consumer, 200, &msg, &err) != FERRY_OK || msg == NULL)
            continue;
        Ferry__V1__DeadLetter *dl = ferry__v1__dead_letter__unpack(NULL, msg->len, msg->payload);
        CU_ASSERT_PTR_NOT_NULL(dl);
        if (dl != NULL) {
            CU_ASSERT_STRING_EQUAL(dl->topic, topic);
            CU_ASSERT_TRUE(dl->reason != NULL && dl->reason[0] != '\0');
            CU_ASSERT_PTR_NOT_NULL(strstr(dl->consumer, prefix));
            if (dl->payload.len == sizeof(garbage) &&
                memcmp(dl->payload.data, garbage, sizeof(garbage)) == 0) {
                got_garbage = true;
                CU_ASSERT_EQUAL(dl->key.len, strlen("poison"));
            } else if (dl->key.len == strlen("wrong-kind-1") &&
                       memcmp(dl->key.data, "wrong-kind-1", dl->key.len) == 0) {
                got_wrong = true;
                CU_ASSERT_PTR_NOT_NULL(strstr(dl->reason, "kind"));
            } else if (dl->key.len == strlen("forged-1") &&
                       memcmp(dl->key.data, "forged-1", dl->key.len) == 0) {
                got_forged = true;
                CU_ASSERT_PTR_NOT_NULL(strstr(dl->reason, "not the ones the coordinator recorded"));
            }
            ferry__v1__dead_letter__free_unpacked(dl, NULL);
        }
        ferry_bus_msg_free(msg);
    }
    (void)ferry_bus_consumer_close(consumer, &err);
    ferry_bus_consumer_free(consumer);
    CU_ASSERT_TRUE(got_garbage);
    CU_ASSERT_TRUE(got_wrong);
    CU_ASSERT_TRUE(got_forged);
    CU_ASSERT_TRUE(wait_state("forged-1", "succeeded", WAIT_MS));
    CU_ASSERT_EQUAL(runs_of("forged-1", 1, NULL, NULL), 1);
    CU_ASSERT_TRUE(wait_state("after-poison-1", "succeeded", WAIT_MS));
}

/* Two workers on one topic, one attempt published COPIES times: it runs once. */
static void test_duplicates_run_once(void)
{
    proc *b = &workers[1];
    CU_ASSERT_TRUE_FATAL(proc_start(b, "tw-b"));
    char key[300];
    (void)snprintf(key, sizeof(key), "ferry:worker:%s", b->id);
    int64_t until = ferry_mono_ms() + WAIT_MS;
    while (!exists(key) && ferry_mono_ms() < until)
        ferry_sleep_ms(50);
    CU_ASSERT_TRUE(exists(key));
    /* Both in the group: with 4 partitions, 2 each. */
    while (log_count(b, "partitions assigned", "partitions=2", (const char *)NULL) == 0 &&
           ferry_mono_ms() < until)
        ferry_sleep_ms(50);
    CU_ASSERT_TRUE(log_count(b, "partitions assigned", "partitions=2", (const char *)NULL) > 0);

    behavior_set("dup-1", "ok:300");
    step_send("dup-1", 1, 0, COPIES);
    CU_ASSERT_TRUE_FATAL(wait_state("dup-1", "succeeded", WAIT_MS));
    /* Every copy is seen: one claimed, the others refused or found running already. */
    int refused = 0;
    until = ferry_mono_ms() + WAIT_MS;
    do {
        refused = 0;
        for (size_t i = 0; i < 2; i++) {
            refused += log_count(&workers[i], "claim refused", "step=dup-1 ", (const char *)NULL);
            refused +=
                log_count(&workers[i], "duplicate message", "step=dup-1 ", (const char *)NULL);
        }
        if (refused < COPIES - 1)
            ferry_sleep_ms(100);
    } while (refused < COPIES - 1 && ferry_mono_ms() < until);
    /* Each worker had copies (16 keys over 4 partitions: all on one side is a 1 in 30000). */
    int seen_a = log_count(&workers[0], "step=dup-1 ", (const char *)NULL);
    int seen_b = log_count(b, "step=dup-1 ", (const char *)NULL);
    printf("\n  copies refused: %d; lines about it: a %d, b %d", refused, seen_a, seen_b);
    CU_ASSERT_EQUAL(refused, COPIES - 1);
    CU_ASSERT_TRUE(seen_a > 0 && seen_b > 0);
    CU_ASSERT_EQUAL(runs_of("dup-1", 1, NULL, NULL), 1);
}

/* A worker paused (SIGSTOP) past its lease and woken (SIGCONT) before anyone expired the
 * attempt stops at once: no further action (the executor's last action came before the
 * pause), no renewal, and no outcome recorded, neither success nor failure. The attempt waits,
 * as it was, for the coordinator to expire it. */
static void test_stalled_records_nothing(void)
{
    char owner[256], buf[256];
    behavior_set("stall-1", "ok:3000");
    step_send("stall-1", 1, 0, 1);
    CU_ASSERT_TRUE_FATAL(wait_state("stall-1", "running", WAIT_MS));
    field("stall-1", "owner", owner, sizeof(owner));
    proc *p = proc_by_id(owner);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    if (p == NULL)
        return;
    CU_ASSERT_EQUAL_FATAL(kill(p->pid, SIGSTOP), 0);
    int64_t paused = ferry_wall_ms();
    /* Paused until Redis's lease has passed and the step's own time (3 s) with it. */
    int64_t lease_until = field_i64("stall-1", "lease_until");
    while (ferry_wall_ms() < lease_until + 1500)
        ferry_sleep_ms(100);
    CU_ASSERT_EQUAL_FATAL(kill(p->pid, SIGCONT), 0);
    int64_t woken = ferry_wall_ms();

    int64_t until = ferry_mono_ms() + 5000;
    while (log_count(p, "lease over", "step=stall-1 ", (const char *)NULL) == 0 &&
           ferry_mono_ms() < until)
        ferry_sleep_ms(50);
    CU_ASSERT_EQUAL(log_count(p, "lease over", "step=stall-1 ", (const char *)NULL), 1);
    /* Paused before its executor began, the attempt never runs; paused while running, its last
     * action came before the pause. */
    int64_t start = 0, end = 0;
    int runs = runs_of("stall-1", 1, &start, &end);
    CU_ASSERT_TRUE(runs == 0 || (runs == 1 && end <= paused));
    printf("\n  woken %lld ms after the pause; last action %lld ms before it",
           (long long)(woken - paused), (long long)(paused - end));
    CU_ASSERT_STRING_EQUAL(field("stall-1", "state", buf, sizeof(buf)), "running");
    CU_ASSERT_STRING_EQUAL(field("stall-1", "owner", buf, sizeof(buf)), p->id);
    CU_ASSERT_EQUAL(field_i64("stall-1", "lease_until"), lease_until);
    CU_ASSERT_STRING_EQUAL(field("stall-1", "error_code", buf, sizeof(buf)), "");

    ferry_step_ref ref = {.migration = mig, .step = "stall-1", .attempt = 1};
    ferry_step_seen seen;
    ferry_err err;
    CU_ASSERT_EQUAL(ferry_steps_expire(store, &ref, "test-worker", &seen, &err), FERRY_OK);
}

/* SIGTERM with a drain of 0: the running step is released, the worker leaves Redis, exit 0. */
static void test_sigterm_releases(void)
{
    char owner[256], key[300];
    behavior_set("long-1", "ok:20000");
    step_send("long-1", 1, 0, 1);
    CU_ASSERT_TRUE_FATAL(wait_state("long-1", "running", WAIT_MS));
    field("long-1", "owner", owner, sizeof(owner));
    proc *p = proc_by_id(owner);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    (void)snprintf(key, sizeof(key), "ferry:worker:%s", p->id);
    CU_ASSERT_TRUE(exists(key));

    int64_t signaled = ferry_mono_ms();
    CU_ASSERT_EQUAL(kill(p->pid, SIGTERM), 0);
    CU_ASSERT_TRUE_FATAL(proc_wait(p, 20000));
    printf("\n  worker exited %lld ms after SIGTERM", (long long)(ferry_mono_ms() - signaled));
    CU_ASSERT_TRUE(WIFEXITED(p->status) && WEXITSTATUS(p->status) == 0);
    CU_ASSERT_TRUE(wait_state("long-1", "released", 1000));
    CU_ASSERT_EQUAL(runs_of("long-1", 1, NULL, NULL), 1);
    CU_ASSERT_FALSE(exists(key));
    CU_ASSERT_FALSE(worker_listed(p->id));
}

/* A worker killed mid-step leaves the attempt running with its lease, which then expires. */
static void test_crash_expires(void)
{
    proc *p = workers[0].pid > 0 ? &workers[0] : &workers[1];
    CU_ASSERT_TRUE_FATAL(p->pid > 0);
    behavior_set("crash-1", "crash");
    step_send("crash-1", 1, 0, 1);
    CU_ASSERT_TRUE_FATAL(proc_wait(p, WAIT_MS));
    CU_ASSERT_TRUE(WIFSIGNALED(p->status) && WTERMSIG(p->status) == SIGKILL);

    char buf[256];
    CU_ASSERT_STRING_EQUAL(field("crash-1", "state", buf, sizeof(buf)), "running");
    CU_ASSERT_STRING_EQUAL(field("crash-1", "owner", buf, sizeof(buf)), p->id);
    ferry_step_ref ref = {.migration = mig, .step = "crash-1", .attempt = 1};
    ferry_step_seen seen;
    ferry_err err;
    CU_ASSERT_EQUAL(ferry_steps_expire(store, &ref, "test-worker", &seen, &err), FERRY_ERR_BUSY);
    CU_ASSERT_TRUE(seen.lease_until > seen.now);
    ferry_sleep_ms((long)(seen.lease_until - seen.now) + 100);
    CU_ASSERT_EQUAL(ferry_steps_expire(store, &ref, "test-worker", &seen, &err), FERRY_OK);
    CU_ASSERT_STRING_EQUAL(field("crash-1", "state", buf, sizeof(buf)), "expired");
    CU_ASSERT_STRING_EQUAL(field("crash-1", "error_retryable", buf, sizeof(buf)), "1");
    CU_ASSERT_EQUAL(runs_of("crash-1", 1, NULL, NULL), 1);
}

static const ferry_test_case cases[] = {
    {"a worker advertises itself (heartbeat)", test_start_heartbeat},
    {"a step succeeds with results", test_succeeds},
    {"a failing step records its error; retry at the next attempt", test_fails},
    {"a step past its deadline fails with timeout", test_deadline},
    {"a claim under its own name (lost reply) counts as claimed", test_own_claim_counts},
    {"at most worker.concurrency steps at once; heartbeat lists them", test_concurrency_bound},
    {"a canceled step stops within seconds", test_cancel_stops},
    {"poison and wrong-kind messages go to the dead-letter topic", test_poison},
    {"two workers, duplicate messages: the attempt runs once", test_duplicates_run_once},
    {"a worker paused past its lease records nothing when woken", test_stalled_records_nothing},
    {"SIGTERM releases the running step and removes the worker", test_sigterm_releases},
    {"a crash leaves a lease that expires", test_crash_expires},
    {NULL, NULL},
};

int main(void)
{
    const ferry_test_suite suites[] = {
        {"worker", suite_setup, suite_teardown, cases},
        {NULL, NULL, NULL, NULL},
    };
    return ferry_test_main(suites);
}
