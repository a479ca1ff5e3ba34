/*
 * Integration tests for steps.c and shared/lua/step_*.lua against the local stack's Redis:
 * every script's accepted and refused paths, that a refusal writes nothing, that the indexes
 * ferry:queued:<kind> and ferry:leases follow the record, and that every change but a renewal
 * appends its event to the migration's history and to ferry:events.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ferry/clock.h"
#include "ferry/config.h"
#include "ferry/steps.h"
#include "ferry/state.h"
#include "ferry/wire.h"

/* The event stream, as docs/redis.md lays it out: the test checks the layout from outside. */
#define EVENTS_STREAM "ferry:events"
#include "ferry/store.h"
#include "ferry_test.h"

#define KIND   "app"
#define QUEUED "ferry:queued:" KIND
#define LEASES "ferry:leases"
#define W1     "app@test-steps:1"
#define W2     "app@test-steps:2"
#define LEASE  30000
/* The command digests the tests dispatch and claim with (any 64 hex digits will do). */
#define DIGEST  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define DIGEST2 "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

static ferry_store *store;
static char migs[32][64]; /* every migration id used, for cleanup */
static size_t n_migs;

/* ------------------------------------------------------------------ helpers */

/* A migration id of its own for one test. */
static const char *mig_new(void)
{
    const char *mig = ferry_test_unique("steps");
    if (n_migs < sizeof(migs) / sizeof(migs[0]))
        (void)snprintf(migs[n_migs++], sizeof(migs[0]), "%s", mig);
    return mig;
}

static ferry_rc cmd(size_t argc, const char *const *argv, ferry_store_reply **out)
{
    ferry_err err;
    ferry_rc rc = ferry_store_command(store, true, argc, argv, NULL, out, &err);
    if (rc != FERRY_OK)
        fprintf(stderr, "%s: %s\n", argv[0], err.msg);
    return rc;
}

static void record_key(const char *mig, const char *step, char *out, size_t outsz)
{
    char entity[128];
    (void)snprintf(entity, sizeof(entity), "step:%s", step);
    CU_ASSERT_EQUAL_FATAL(ferry_state_key(mig, entity, out, outsz, NULL), FERRY_OK);
}

/* HSETs a step record as the coordinator would have planned it. */
static void step_put(const char *mig, const char *step, const char *state, int64_t attempt)
{
    char key[FERRY_STATE_KEY_MAX], a[24];
    record_key(mig, step, key, sizeof(key));
    (void)snprintf(a, sizeof(a), "%" PRId64, attempt);
    const char *argv[] = {"HSET", key,  "state",     state,    "attempt", a,
                          "kind", KIND, "operation", "status", "purpose", "test.steps"};
    CU_ASSERT_EQUAL_FATAL(cmd(sizeof(argv) / sizeof(argv[0]), argv, NULL), FERRY_OK);
}

/* One field of the step record, copied into out ("" when absent). */
static const char *field(const char *mig, const char *step, const char *name, char *out,
                         size_t outsz)
{
    char key[FERRY_STATE_KEY_MAX];
    record_key(mig, step, key, sizeof(key));
    const char *argv[] = {"HGET", key, name};
    ferry_store_reply *r = NULL;
    out[0] = '\0';
    if (cmd(3, argv, &r) == FERRY_OK && ferry_store_reply_str(r) != NULL)
        (void)snprintf(out, outsz, "%s", ferry_store_reply_str(r));
    ferry_store_reply_free(r);
    return out;
}

static int64_t field_i64(const char *mig, const char *step, const char *name)
{
    char buf[64];
    field(mig, step, name, buf, sizeof(buf));
    return buf[0] ? strtoll(buf, NULL, 10) : -1;
}

/* The whole record as one "name=value;..." text in HGETALL order, to see that nothing moved. */
static void record_text(const char *mig, const char *step, char *out, size_t outsz)
{
    char key[FERRY_STATE_KEY_MAX];
    record_key(mig, step, key, sizeof(key));
    const char *argv[] = {"HGETALL", key};
    ferry_store_reply *r = NULL;
    size_t len = 0;
    out[0] = '\0';
    if (cmd(2, argv, &r) == FERRY_OK) {
        for (size_t i = 0; i < r->count && len < outsz; i++) {
            int n =
                snprintf(out + len, outsz - len, "%s%c", r->elements[i]->str, i % 2 ? ';' : '=');
            if (n > 0)
                len += (size_t)n;
        }
    }
    ferry_store_reply_free(r);
}

static long long history_len(const char *mig)
{
    char key[FERRY_STATE_KEY_MAX];
    CU_ASSERT_EQUAL_FATAL(ferry_state_key(mig, "history", key, sizeof(key), NULL), FERRY_OK);
    const char *argv[] = {"XLEN", key};
    ferry_store_reply *r = NULL;
    long long n = -1;
    if (cmd(2, argv, &r) == FERRY_OK)
        n = r->integer;
    ferry_store_reply_free(r);
    return n;
}

/* The score of member "<mig> <step> <attempt>" in zset key; -1 when absent. */
static int64_t zscore(const char *key, const char *mig, const char *step, int64_t attempt)
{
    char member[256];
    (void)snprintf(member, sizeof(member), "%s %s %" PRId64, mig, step, attempt);
    const char *argv[] = {"ZSCORE", key, member};
    ferry_store_reply *r = NULL;
    int64_t score = -1;
    if (cmd(3, argv, &r) == FERRY_OK && ferry_store_reply_str(r) != NULL)
        score = strtoll(ferry_store_reply_str(r), NULL, 10);
    ferry_store_reply_free(r);
    return score;
}

static const char *entry_value(const ferry_store_reply *fields, const char *name)
{
    for (size_t i = 0; fields != NULL && i + 1 < fields->count; i += 2) {
        if (strcmp(fields->elements[i]->str, name) == 0)
            return fields->elements[i + 1]->str;
    }
    return NULL;
}

/* Whether the stream key's newest `count` entries hold the event {mig, step:<step>, from, to,
 * attempt, actor, what} with an `at` near now. */
static bool event_found(const char *key, size_t count, const char *mig, const char *step,
                        const char *from, const char *to, int64_t attempt, const char *actor,
                        const char *what)
{
    char n[16], entity[128], a[24];
    (void)snprintf(n, sizeof(n), "%zu", count);
    (void)snprintf(entity, sizeof(entity), "step:%s", step);
    (void)snprintf(a, sizeof(a), "%" PRId64, attempt);
    const char *argv[] = {"XREVRANGE", key, "+", "-", "COUNT", n};
    ferry_store_reply *r = NULL;
    bool found = false;
    if (cmd(6, argv, &r) != FERRY_OK)
        return false;
    for (size_t i = 0; i < r->count && !found; i++) {
        const ferry_store_reply *fields = ferry_store_reply_at(r->elements[i], 1);
        const char *want[][2] = {{"migration", mig}, {"entity", entity}, {"from", from}, {"to", to},
                                 {"attempt", a},     {"actor", actor},   {"what", what}};
        bool all = true;
        for (size_t k = 0; k < sizeof(want) / sizeof(want[0]) && all; k++) {
            const char *v = entry_value(fields, want[k][0]);
            all = v != NULL && strcmp(v, want[k][1]) == 0;
        }
        const char *at = entry_value(fields, "at");
        found = all && at != NULL && llabs(strtoll(at, NULL, 10) - ferry_wall_ms()) < 60000;
    }
    ferry_store_reply_free(r);
    return found;
}

/* The event in both streams: the migration's history (newest entry) and ferry:events. */
static void assert_event(const char *mig, const char *step, const char *from, const char *to,
                         int64_t attempt, const char *actor, const char *what)
{
    char history[FERRY_STATE_KEY_MAX];
    CU_ASSERT_EQUAL_FATAL(ferry_state_key(mig, "history", history, sizeof(history), NULL),
                          FERRY_OK);
    CU_ASSERT_TRUE(event_found(history, 1, mig, step, from, to, attempt, actor, what));
    CU_ASSERT_TRUE(event_found(EVENTS_STREAM, 500, mig, step, from, to, attempt, actor, what));
}

static ferry_rc dispatch(const char *mig, const char *step, int64_t attempt, ferry_step_seen *seen)
{
    ferry_step_ref ref = {.migration = mig, .step = step, .attempt = attempt};
    ferry_err err;
    ferry_rc rc = ferry_steps_dispatch(store, &ref, KIND, "coordinator", DIGEST, seen, &err);
    if (rc != FERRY_OK)
        printf("\n  dispatch: %s", err.msg);
    return rc;
}

static ferry_rc claim(const char *mig, const char *step, int64_t attempt, const char *worker,
                      int64_t lease_ms, ferry_step_seen *seen)
{
    ferry_step_ref ref = {.migration = mig, .step = step, .attempt = attempt};
    ferry_err err;
    ferry_rc rc = ferry_steps_claim(store, &ref, KIND, worker, lease_ms, DIGEST, seen, &err);
    if (rc != FERRY_OK)
        printf("\n  claim: %s", err.msg);
    return rc;
}

/* A step planned, dispatched and claimed by W1 at attempt 1. */
/* ferry_steps_finish with its ending spelled out. */
static ferry_rc finish(const ferry_step_ref *ref, const char *worker, ferry_step_outcome outcome,
                       const ferry_err *error, bool retryable, const ferry_step_progress *progress,
                       const ferry_store_field *results, size_t n_results, ferry_step_seen *seen,
                       ferry_err *err)
{
    ferry_step_end end = {.outcome = outcome,
                          .error = error,
                          .retryable = retryable,
                          .progress = progress,
                          .results = results,
                          .n_results = n_results};
    return ferry_steps_finish(store, ref, worker, &end, seen, err);
}

/* Cancels a running step as a migration's plan does (mig_apply.lua): canceled, its lease entry
 * gone. */
static void cancel_running(const char *mig, const char *step, int64_t attempt)
{
    char key[FERRY_STATE_KEY_MAX], member[256];
    record_key(mig, step, key, sizeof(key));
    (void)snprintf(member, sizeof(member), "%s %s %lld", mig, step, (long long)attempt);
    const char *hset[] = {"HSET", key, "state", "canceled"};
    const char *zrem[] = {"ZREM", LEASES, member};
    CU_ASSERT_EQUAL_FATAL(cmd(4, hset, NULL), FERRY_OK);
    CU_ASSERT_EQUAL_FATAL(cmd(3, zrem, NULL), FERRY_OK);
}

static void step_running(const char *mig, const char *step, int64_t lease_ms)
{
    ferry_step_seen seen;
    step_put(mig, step, "pending", 1);
    CU_ASSERT_EQUAL_FATAL(dispatch(mig, step, 1, &seen), FERRY_OK);
    CU_ASSERT_EQUAL_FATAL(claim(mig, step, 1, W1, lease_ms, &seen), FERRY_OK);
}

/* ------------------------------------------------------------------ suite */

static int suite_setup(void)
{
    const ferry_cfg *cfg = ferry_test_cfg();
    if (cfg == NULL)
        return 1;
    ferry_err err;
    if (ferry_store_open(ferry_cfg_str(cfg, "redis.url"), ferry_cfg_str(cfg, "redis.password"),
                         5000, &store, &err) != FERRY_OK) {
        fprintf(stderr, "redis: %s\n", err.msg);
        return 1;
    }
    return 0;
}

static int suite_teardown(void)
{
    /* Every key and index entry the tests made. */
    for (size_t i = 0; i < n_migs; i++) {
        char pattern[FERRY_STATE_KEY_MAX];
        (void)snprintf(pattern, sizeof(pattern), "ferry:{%.63s}:*", migs[i]);
        const char *scan[] = {"KEYS", pattern};
        ferry_store_reply *r = NULL;
        if (cmd(2, scan, &r) == FERRY_OK) {
            for (size_t k = 0; k < r->count; k++) {
                const char *del[] = {"DEL", r->elements[k]->str};
                (void)cmd(2, del, NULL);
            }
        }
        ferry_store_reply_free(r);
        const char *zsets[] = {QUEUED, LEASES};
        for (size_t z = 0; z < 2; z++) {
            char lo[96], hi[96];
            (void)snprintf(lo, sizeof(lo), "[%.63s ", migs[i]);
            (void)snprintf(hi, sizeof(hi), "[%.63s!", migs[i]); /* '!' sorts right after ' ' */
            const char *rem[] = {"ZREMRANGEBYLEX", zsets[z], lo, hi};
            (void)cmd(4, rem, NULL);
        }
    }
    ferry_store_close(store);
    return 0;
}

/* ------------------------------------------------------------------ dispatch */

static void test_dispatch(void)
{
    const char *mig = mig_new();
    ferry_step_seen seen;
    char buf[256];

    /* Absent: refused, nothing created. */
    CU_ASSERT_EQUAL(dispatch(mig, "s1", 1, &seen), FERRY_ERR_CONFLICT);
    CU_ASSERT_STRING_EQUAL(seen.state, "");
    CU_ASSERT_EQUAL(history_len(mig), 0);
    CU_ASSERT_STRING_EQUAL(field(mig, "s1", "state", buf, sizeof(buf)), "");

    /* Pending at attempt 2: attempt 1 is refused. */
    step_put(mig, "s1", "pending", 2);
    CU_ASSERT_EQUAL(dispatch(mig, "s1", 1, &seen), FERRY_ERR_CONFLICT);
    CU_ASSERT_STRING_EQUAL(seen.state, "pending");
    CU_ASSERT_EQUAL(seen.attempt, 2);
    CU_ASSERT_EQUAL(zscore(QUEUED, mig, "s1", 1), -1);
    CU_ASSERT_EQUAL(history_len(mig), 0);

    /* Accepted: dispatched, dispatched_at, queued scored by it, the event. */
    int64_t before = ferry_wall_ms();
    CU_ASSERT_EQUAL_FATAL(dispatch(mig, "s1", 2, &seen), FERRY_OK);
    CU_ASSERT_STRING_EQUAL(seen.state, "dispatched");
    CU_ASSERT_EQUAL(seen.attempt, 2);
    CU_ASSERT_STRING_EQUAL(field(mig, "s1", "state", buf, sizeof(buf)), "dispatched");
    int64_t at = field_i64(mig, "s1", "dispatched_at");
    CU_ASSERT_TRUE(llabs(at - before) < 5000);
    CU_ASSERT_EQUAL(field_i64(mig, "s1", "updated_at"), at);
    CU_ASSERT_EQUAL(zscore(QUEUED, mig, "s1", 2), at);
    CU_ASSERT_EQUAL(history_len(mig), 1);
    assert_event(mig, "s1", "pending", "dispatched", 2, "coordinator", "dispatched");

    /* Again: already dispatched. */
    CU_ASSERT_EQUAL(dispatch(mig, "s1", 2, &seen), FERRY_ERR_CONFLICT);
    CU_ASSERT_STRING_EQUAL(seen.state, "dispatched");
    CU_ASSERT_EQUAL(history_len(mig), 1);

    /* A record of another kind is not put in this kind's queue. */
    step_put(mig, "s2", "pending", 1);
    char key[FERRY_STATE_KEY_MAX];
    record_key(mig, "s2", key, sizeof(key));
    const char *hset[] = {"HSET", key, "kind", "dns"};
    CU_ASSERT_EQUAL(cmd(4, hset, NULL), FERRY_OK);
    CU_ASSERT_EQUAL(dispatch(mig, "s2", 1, &seen), FERRY_ERR_CONFLICT);
    CU_ASSERT_EQUAL(zscore(QUEUED, mig, "s2", 1), -1);
    CU_ASSERT_STRING_EQUAL(field(mig, "s2", "state", buf, sizeof(buf)), "pending");

    /* Bad arguments never reach Redis. */
    ferry_step_ref ref = {.migration = mig, .step = "s1", .attempt = 0};
    ferry_err err;
    CU_ASSERT_EQUAL(ferry_steps_dispatch(store, &ref, KIND, "coordinator", DIGEST, &seen, &err),
                    FERRY_ERR_INVALID);
    ref.attempt = 1;
    ref.migration = "bad{mig}";
    CU_ASSERT_EQUAL(ferry_steps_dispatch(store, &ref, KIND, "coordinator", DIGEST, &seen, &err),
                    FERRY_ERR_INVALID);
}

/* ------------------------------------------------------------------ claim */

static void test_claim(void)
{
    const char *mig = mig_new();
    ferry_step_seen seen;
    char buf[256];

    /* Not dispatched: refused with nothing written. */
    step_put(mig, "s1", "pending", 1);
    CU_ASSERT_EQUAL(claim(mig, "s1", 1, W1, LEASE, &seen), FERRY_ERR_CONFLICT);
    CU_ASSERT_STRING_EQUAL(seen.state, "pending");
    CU_ASSERT_EQUAL(zscore(LEASES, mig, "s1", 1), -1);
    CU_ASSERT_STRING_EQUAL(field(mig, "s1", "owner", buf, sizeof(buf)), "");
    CU_ASSERT_EQUAL(history_len(mig), 0);

    /* What an earlier attempt left is dropped by the claim. */
    char key[FERRY_STATE_KEY_MAX];
    record_key(mig, "s1", key, sizeof(key));
    const char *old[] = {"HSET",         key, "error_code", "6", "error_message", "earlier",
                         "r.old_figure", "7", "p_done",     "5", "finished_at",   "1"};
    CU_ASSERT_EQUAL(cmd(sizeof(old) / sizeof(old[0]), old, NULL), FERRY_OK);
    CU_ASSERT_EQUAL_FATAL(dispatch(mig, "s1", 1, &seen), FERRY_OK);

    /* Wrong attempt. */
    char before[2048], after[2048];
    record_text(mig, "s1", before, sizeof(before));
    CU_ASSERT_EQUAL(claim(mig, "s1", 2, W1, LEASE, &seen), FERRY_ERR_CONFLICT);
    CU_ASSERT_STRING_EQUAL(seen.state, "dispatched");
    CU_ASSERT_EQUAL(seen.attempt, 1);
    record_text(mig, "s1", after, sizeof(after));
    CU_ASSERT_STRING_EQUAL(before, after);
    CU_ASSERT_NOT_EQUAL(zscore(QUEUED, mig, "s1", 1), -1);

    /* The dispatch recorded the command's digest; a claim with the digest of another command
     * (parameters changed on the way) is refused as INVALID, for the worker to dead-letter,
     * with nothing written. */
    CU_ASSERT_STRING_EQUAL(field(mig, "s1", "command", buf, sizeof(buf)), DIGEST);
    ferry_step_ref ref = {.migration = mig, .step = "s1", .attempt = 1};
    ferry_err err;
    CU_ASSERT_EQUAL(ferry_steps_claim(store, &ref, KIND, W1, LEASE, DIGEST2, &seen, &err),
                    FERRY_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "not the ones the coordinator recorded"));
    CU_ASSERT_EQUAL(ferry_steps_claim(store, &ref, KIND, W1, LEASE, "not hex", &seen, &err),
                    FERRY_ERR_INVALID);
    record_text(mig, "s1", after, sizeof(after));
    CU_ASSERT_STRING_EQUAL(before, after);
    CU_ASSERT_EQUAL(history_len(mig), 1);

    /* Accepted. */
    CU_ASSERT_EQUAL_FATAL(claim(mig, "s1", 1, W1, LEASE, &seen), FERRY_OK);
    CU_ASSERT_STRING_EQUAL(seen.state, "running");
    CU_ASSERT_STRING_EQUAL(seen.owner, W1);
    CU_ASSERT_EQUAL(seen.lease_until, seen.now + LEASE);
    CU_ASSERT_TRUE(llabs(seen.now - ferry_wall_ms()) < 5000);
    CU_ASSERT_STRING_EQUAL(field(mig, "s1", "state", buf, sizeof(buf)), "running");
    CU_ASSERT_STRING_EQUAL(field(mig, "s1", "owner", buf, sizeof(buf)), W1);
    CU_ASSERT_EQUAL(field_i64(mig, "s1", "lease_until"), seen.lease_until);
    CU_ASSERT_EQUAL(field_i64(mig, "s1", "started_at"), seen.now);
    CU_ASSERT_EQUAL(zscore(QUEUED, mig, "s1", 1), -1);
    CU_ASSERT_EQUAL(zscore(LEASES, mig, "s1", 1), seen.lease_until);
    CU_ASSERT_STRING_EQUAL(field(mig, "s1", "error_code", buf, sizeof(buf)), "");
    CU_ASSERT_STRING_EQUAL(field(mig, "s1", "error_message", buf, sizeof(buf)), "");
    CU_ASSERT_STRING_EQUAL(field(mig, "s1", "r.old_figure", buf, sizeof(buf)), "");
    CU_ASSERT_STRING_EQUAL(field(mig, "s1", "p_done", buf, sizeof(buf)), "");
    CU_ASSERT_STRING_EQUAL(field(mig, "s1", "finished_at", buf, sizeof(buf)), "");
    CU_ASSERT_EQUAL(history_len(mig), 2);
    assert_event(mig, "s1", "dispatched", "running", 1, W1, "claimed");

    /* Already running: refused, and seen tells who holds it (the same worker too). */
    record_text(mig, "s1", before, sizeof(before));
    CU_ASSERT_EQUAL(claim(mig, "s1", 1, W2, LEASE, &seen), FERRY_ERR_CONFLICT);
    CU_ASSERT_STRING_EQUAL(seen.state, "running");
    CU_ASSERT_EQUAL(seen.attempt, 1);
    CU_ASSERT_STRING_EQUAL(seen.owner, W1);
    CU_ASSERT_EQUAL(claim(mig, "s1", 1, W1, LEASE, &seen), FERRY_ERR_CONFLICT);
    CU_ASSERT_STRING_EQUAL(seen.owner, W1);
    record_text(mig, "s1", after, sizeof(after));
    CU_ASSERT_STRING_EQUAL(before, after);
    CU_ASSERT_EQUAL(history_len(mig), 2);
}

/* A key of the wrong type is refused before the record is touched. */
static void test_claim_wrongtype(void)
{
    const char *mig = mig_new();
    ferry_step_seen seen;
    char history[FERRY_STATE_KEY_MAX], buf[64];
    step_put(mig, "s1", "pending", 1);
    CU_ASSERT_EQUAL_FATAL(dispatch(mig, "s1", 1, &seen), FERRY_OK);
    CU_ASSERT_EQUAL_FATAL(ferry_state_key(mig, "history", history, sizeof(history), NULL),
                          FERRY_OK);
    const char *del[] = {"DEL", history};
    const char *set[] = {"SET", history, "not a stream"};
    CU_ASSERT_EQUAL(cmd(2, del, NULL), FERRY_OK);
    CU_ASSERT_EQUAL(cmd(3, set, NULL), FERRY_OK);
    ferry_step_ref ref = {.migration = mig, .step = "s1", .attempt = 1};
    ferry_err err;
    CU_ASSERT_EQUAL(ferry_steps_claim(store, &ref, KIND, W1, LEASE, DIGEST, &seen, &err),
                    FERRY_ERR_INVALID);
    CU_ASSERT_STRING_EQUAL(field(mig, "s1", "state", buf, sizeof(buf)), "dispatched");
    CU_ASSERT_EQUAL(zscore(LEASES, mig, "s1", 1), -1);
    CU_ASSERT_NOT_EQUAL(zscore(QUEUED, mig, "s1", 1), -1);
    CU_ASSERT_EQUAL(cmd(2, del, NULL), FERRY_OK);
}

/* ------------------------------------------------------------------ renew */

static void test_renew(void)
{
    const char *mig = mig_new();
    ferry_step_seen seen;
    ferry_err err;
    char buf[256], before[2048], after[2048];
    step_running(mig, "s1", 1000);
    long long events = history_len(mig);
    ferry_step_ref ref = {.migration = mig, .step = "s1", .attempt = 1};

    /* Accepted: the lease moves, progress is stored, no event. */
    ferry_step_progress p = {.done = 3,
                             .total = 12,
                             .unit = "tables",
                             .bytes_done = 1024,
                             .bytes_total = 4096,
                             .rows = 120000,
                             .detail = "copying public.orders"};
    CU_ASSERT_EQUAL_FATAL(ferry_steps_renew(store, &ref, W1, LEASE, &p, &seen, &err), FERRY_OK);
    CU_ASSERT_EQUAL(seen.lease_until, seen.now + LEASE);
    CU_ASSERT_EQUAL(field_i64(mig, "s1", "lease_until"), seen.lease_until);
    CU_ASSERT_EQUAL(zscore(LEASES, mig, "s1", 1), seen.lease_until);
    CU_ASSERT_EQUAL(field_i64(mig, "s1", "p_done"), 3);
    CU_ASSERT_EQUAL(field_i64(mig, "s1", "p_total"), 12);
    CU_ASSERT_STRING_EQUAL(field(mig, "s1", "p_unit", buf, sizeof(buf)), "tables");
    CU_ASSERT_EQUAL(field_i64(mig, "s1", "p_bytes_done"), 1024);
    CU_ASSERT_EQUAL(field_i64(mig, "s1", "p_bytes_total"), 4096);
    CU_ASSERT_EQUAL(field_i64(mig, "s1", "p_rows"), 120000);
    CU_ASSERT_STRING_EQUAL(field(mig, "s1", "p_detail", buf, sizeof(buf)), "copying public.orders");
    CU_ASSERT_EQUAL(history_len(mig), events);

    /* Without progress: only the lease. */
    CU_ASSERT_EQUAL(ferry_steps_renew(store, &ref, W1, LEASE, NULL, &seen, &err), FERRY_OK);
    CU_ASSERT_EQUAL(field_i64(mig, "s1", "p_done"), 3);

    /* Another worker, or another attempt: lost, nothing written. */
    record_text(mig, "s1", before, sizeof(before));
    CU_ASSERT_EQUAL(ferry_steps_renew(store, &ref, W2, LEASE, &p, &seen, &err),
                    FERRY_ERR_LEASE_LOST);
    CU_ASSERT_STRING_EQUAL(seen.owner, W1);
    ref.attempt = 2;
    CU_ASSERT_EQUAL(ferry_steps_renew(store, &ref, W1, LEASE, &p, &seen, &err),
                    FERRY_ERR_LEASE_LOST);
    ref.attempt = 1;
    record_text(mig, "s1", after, sizeof(after));
    CU_ASSERT_STRING_EQUAL(before, after);

    /* After a cancel: lost, and seen says canceled. */
    cancel_running(mig, "s1", 1);
    CU_ASSERT_EQUAL(ferry_steps_renew(store, &ref, W1, LEASE, &p, &seen, &err),
                    FERRY_ERR_LEASE_LOST);
    CU_ASSERT_STRING_EQUAL(seen.state, "canceled");
    CU_ASSERT_EQUAL(zscore(LEASES, mig, "s1", 1), -1);
}

/* ------------------------------------------------------------------ finish */

static void test_finish(void)
{
    const char *mig = mig_new();
    ferry_step_seen seen;
    ferry_err err;
    char buf[256], before[2048], after[2048];
    step_running(mig, "s1", LEASE);
    ferry_step_ref ref = {.migration = mig, .step = "s1", .attempt = 1};
    ferry_store_field results[] = {{"rows", "120345"}, {"rows.public.orders", "1200"}};
    ferry_step_progress p = {.done = 12, .total = 12, .unit = "tables"};

    /* Wrong owner, wrong attempt: refused with nothing written. */
    long long events = history_len(mig);
    record_text(mig, "s1", before, sizeof(before));
    CU_ASSERT_EQUAL(
        finish(&ref, W2, FERRY_STEP_SUCCEEDED, NULL, false, &p, results, 2, &seen, &err),
        FERRY_ERR_CONFLICT);
    CU_ASSERT_STRING_EQUAL(seen.state, "running");
    CU_ASSERT_STRING_EQUAL(seen.owner, W1);
    ref.attempt = 2;
    CU_ASSERT_EQUAL(
        finish(&ref, W1, FERRY_STEP_SUCCEEDED, NULL, false, &p, results, 2, &seen, &err),
        FERRY_ERR_CONFLICT);
    ref.attempt = 1;
    record_text(mig, "s1", after, sizeof(after));
    CU_ASSERT_STRING_EQUAL(before, after);
    CU_ASSERT_EQUAL(history_len(mig), events);
    CU_ASSERT_NOT_EQUAL(zscore(LEASES, mig, "s1", 1), -1);

    /* A bad result name never reaches Redis. */
    ferry_store_field bad[] = {{"has space", "1"}};
    CU_ASSERT_EQUAL(finish(&ref, W1, FERRY_STEP_SUCCEEDED, NULL, false, NULL, bad, 1, &seen, &err),
                    FERRY_ERR_INVALID);
    /* A failure needs its error. */
    CU_ASSERT_EQUAL(finish(&ref, W1, FERRY_STEP_FAILED, NULL, false, NULL, NULL, 0, &seen, &err),
                    FERRY_ERR_INVALID);

    /* Succeeded: results, progress, times; the lease entry goes. */
    ferry_sleep_ms(20);
    CU_ASSERT_EQUAL_FATAL(
        finish(&ref, W1, FERRY_STEP_SUCCEEDED, NULL, false, &p, results, 2, &seen, &err), FERRY_OK);
    CU_ASSERT_STRING_EQUAL(seen.state, "succeeded");
    CU_ASSERT_STRING_EQUAL(field(mig, "s1", "state", buf, sizeof(buf)), "succeeded");
    CU_ASSERT_STRING_EQUAL(field(mig, "s1", "r.rows", buf, sizeof(buf)), "120345");
    CU_ASSERT_STRING_EQUAL(field(mig, "s1", "r.rows.public.orders", buf, sizeof(buf)), "1200");
    CU_ASSERT_EQUAL(field_i64(mig, "s1", "p_done"), 12);
    int64_t started = field_i64(mig, "s1", "started_at");
    int64_t finished = field_i64(mig, "s1", "finished_at");
    CU_ASSERT_EQUAL(finished, seen.now);
    CU_ASSERT_EQUAL(field_i64(mig, "s1", "duration_ms"), finished - started);
    CU_ASSERT_TRUE(finished - started >= 20);
    CU_ASSERT_EQUAL(zscore(LEASES, mig, "s1", 1), -1);
    assert_event(mig, "s1", "running", "succeeded", 1, W1, "succeeded");

    /* Finished: a second finish is refused and shows the end state. */
    CU_ASSERT_EQUAL(finish(&ref, W1, FERRY_STEP_FAILED, &err, false, NULL, NULL, 0, &seen, &err),
                    FERRY_ERR_CONFLICT);
    CU_ASSERT_STRING_EQUAL(seen.state, "succeeded");

    /* Failed: the error fields, without secrets. */
    step_running(mig, "s2", LEASE);
    ref.step = "s2";
    ferry_err failure;
    ferry_err_set(&failure, FERRY_ERR_UNAVAILABLE,
                  "connect postgresql://ferry:hunter2secret@db/shop failed");
    CU_ASSERT_EQUAL_FATAL(
        finish(&ref, W1, FERRY_STEP_FAILED, &failure, true, NULL, NULL, 0, &seen, &err), FERRY_OK);
    CU_ASSERT_STRING_EQUAL(field(mig, "s2", "state", buf, sizeof(buf)), "failed");
    CU_ASSERT_EQUAL(field_i64(mig, "s2", "error_code"), FERRY_ERR_UNAVAILABLE);
    CU_ASSERT_STRING_EQUAL(field(mig, "s2", "error_name", buf, sizeof(buf)), "unavailable");
    CU_ASSERT_STRING_EQUAL(field(mig, "s2", "error_retryable", buf, sizeof(buf)), "1");
    field(mig, "s2", "error_message", buf, sizeof(buf));
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "failed"));
    CU_ASSERT_PTR_NULL(strstr(buf, "hunter2secret"));
    assert_event(mig, "s2", "running", "failed", 1, W1, "failed");

    /* Released. */
    step_running(mig, "s3", LEASE);
    ref.step = "s3";
    CU_ASSERT_EQUAL_FATAL(
        finish(&ref, W1, FERRY_STEP_RELEASED, NULL, false, NULL, NULL, 0, &seen, &err), FERRY_OK);
    CU_ASSERT_STRING_EQUAL(field(mig, "s3", "state", buf, sizeof(buf)), "released");
    CU_ASSERT_EQUAL(zscore(LEASES, mig, "s3", 1), -1);
    assert_event(mig, "s3", "running", "released", 1, W1, "released");
}

/* ------------------------------------------------------------------ metrics */

/* Field name of ferry:metrics as a number; 0 when absent. */
static int64_t metric(const char *name)
{
    const char *argv[] = {"HGET", "ferry:metrics", name};
    ferry_store_reply *r = NULL;
    int64_t n = 0;
    if (cmd(3, argv, &r) == FERRY_OK && ferry_store_reply_str(r) != NULL)
        n = strtoll(ferry_store_reply_str(r), NULL, 10);
    ferry_store_reply_free(r);
    return n;
}

/* Sets one field of a step record. */
static void step_set(const char *mig, const char *step, const char *name, const char *value)
{
    char key[FERRY_STATE_KEY_MAX];
    record_key(mig, step, key, sizeof(key));
    const char *argv[] = {"HSET", key, name, value};
    CU_ASSERT_EQUAL_FATAL(cmd(4, argv, NULL), FERRY_OK);
}

/* Each end of a step adds to the counters of its kind and end state: count, the sum of the
 * durations and the one bucket its duration falls in (ferry/state.h, "metrics"). */
static void test_finish_counts(void)
{
    const char *mig = mig_new();
    ferry_step_seen seen;
    ferry_err err;
    char kind[96], name[160], at[24];
    /* A kind of this test's own, set on the records after the claim: other tests may end steps
     * of real kinds meanwhile. */
    (void)snprintf(kind, sizeof(kind), "%s-kind", mig);
    ferry_step_ref ref = {.migration = mig, .step = "m1", .attempt = 1};

    /* Succeeded after about 20 ms: bucket 1 s. */
    step_running(mig, "m1", LEASE);
    step_set(mig, "m1", "kind", kind);
    ferry_sleep_ms(20);
    CU_ASSERT_EQUAL_FATAL(
        finish(&ref, W1, FERRY_STEP_SUCCEEDED, NULL, false, NULL, NULL, 0, &seen, &err), FERRY_OK);
    int64_t d1 = field_i64(mig, "m1", "duration_ms");
    CU_ASSERT_TRUE(d1 >= 20 && d1 <= 1000);
    (void)snprintf(name, sizeof(name), "step:%s:succeeded:count", kind);
    CU_ASSERT_EQUAL(metric(name), 1);
    (void)snprintf(name, sizeof(name), "step:%s:succeeded:sum_ms", kind);
    CU_ASSERT_EQUAL(metric(name), d1);
    (void)snprintf(name, sizeof(name), "step:%s:succeeded:le:1000", kind);
    CU_ASSERT_EQUAL(metric(name), 1);
    (void)snprintf(name, sizeof(name), "step:%s:succeeded:le:5000", kind);
    CU_ASSERT_EQUAL(metric(name), 0);

    /* Failed after about 7 s (started_at moved back): bucket 15 s, its own series. */
    step_running(mig, "m2", LEASE);
    step_set(mig, "m2", "kind", kind);
    (void)snprintf(at, sizeof(at), "%" PRId64, field_i64(mig, "m2", "started_at") - 7000);
    step_set(mig, "m2", "started_at", at);
    ref.step = "m2";
    ferry_err failure;
    ferry_err_set(&failure, FERRY_ERR_UNAVAILABLE, "gone");
    CU_ASSERT_EQUAL_FATAL(
        finish(&ref, W1, FERRY_STEP_FAILED, &failure, true, NULL, NULL, 0, &seen, &err), FERRY_OK);
    int64_t d2 = field_i64(mig, "m2", "duration_ms");
    CU_ASSERT_TRUE(d2 >= 7000 && d2 <= 15000);
    (void)snprintf(name, sizeof(name), "step:%s:failed:count", kind);
    CU_ASSERT_EQUAL(metric(name), 1);
    (void)snprintf(name, sizeof(name), "step:%s:failed:sum_ms", kind);
    CU_ASSERT_EQUAL(metric(name), d2);
    (void)snprintf(name, sizeof(name), "step:%s:failed:le:15000", kind);
    CU_ASSERT_EQUAL(metric(name), 1);
    (void)snprintf(name, sizeof(name), "step:%s:succeeded:count", kind);
    CU_ASSERT_EQUAL(metric(name), 1);

    /* A refused finish counts nothing. */
    CU_ASSERT_EQUAL(finish(&ref, W1, FERRY_STEP_SUCCEEDED, NULL, false, NULL, NULL, 0, &seen, &err),
                    FERRY_ERR_CONFLICT);
    (void)snprintf(name, sizeof(name), "step:%s:succeeded:count", kind);
    CU_ASSERT_EQUAL(metric(name), 1);

    /* This test's counters go. */
    const char *end[] = {"succeeded", "failed"};
    const char *what[] = {"count", "sum_ms", "le:1000", "le:15000"};
    for (size_t e = 0; e < 2; e++) {
        for (size_t w = 0; w < 4; w++) {
            (void)snprintf(name, sizeof(name), "step:%s:%s:%s", kind, end[e], what[w]);
            const char *argv[] = {"HDEL", "ferry:metrics", name};
            (void)cmd(3, argv, NULL);
        }
    }
}

/* ------------------------------------------------------------------ expire */

static void test_expire(void)
{
    const char *mig = mig_new();
    ferry_step_seen seen;
    ferry_err err;
    char buf[256], before[2048], after[2048];
    ferry_step_ref ref = {.migration = mig, .step = "s1", .attempt = 1};

    /* Not running: refused. */
    step_put(mig, "s1", "pending", 1);
    CU_ASSERT_EQUAL(ferry_steps_expire(store, &ref, "coordinator", &seen, &err),
                    FERRY_ERR_CONFLICT);
    CU_ASSERT_EQUAL_FATAL(dispatch(mig, "s1", 1, &seen), FERRY_OK);
    CU_ASSERT_EQUAL(ferry_steps_expire(store, &ref, "coordinator", &seen, &err),
                    FERRY_ERR_CONFLICT);

    /* Running with a 200 ms lease: not yet, nothing written. */
    CU_ASSERT_EQUAL_FATAL(claim(mig, "s1", 1, W1, 200, &seen), FERRY_OK);
    int64_t lease_until = seen.lease_until;
    long long events = history_len(mig);
    record_text(mig, "s1", before, sizeof(before));
    CU_ASSERT_EQUAL(ferry_steps_expire(store, &ref, "coordinator", &seen, &err), FERRY_ERR_BUSY);
    CU_ASSERT_EQUAL(seen.lease_until, lease_until);
    CU_ASSERT_TRUE(seen.now <= lease_until);
    record_text(mig, "s1", after, sizeof(after));
    CU_ASSERT_STRING_EQUAL(before, after);
    CU_ASSERT_EQUAL(history_len(mig), events);
    CU_ASSERT_EQUAL(zscore(LEASES, mig, "s1", 1), lease_until);

    /* The wrong attempt is refused even after the lease passed. */
    while (ferry_wall_ms() <= lease_until + 20)
        ferry_sleep_ms(20);
    ref.attempt = 2;
    CU_ASSERT_EQUAL(ferry_steps_expire(store, &ref, "coordinator", &seen, &err),
                    FERRY_ERR_CONFLICT);
    ref.attempt = 1;

    /* Passed: expired, a retryable lease-lost error naming the owner, the lease entry gone. */
    CU_ASSERT_EQUAL_FATAL(ferry_steps_expire(store, &ref, "coordinator", &seen, &err), FERRY_OK);
    CU_ASSERT_STRING_EQUAL(seen.state, "expired");
    CU_ASSERT_STRING_EQUAL(field(mig, "s1", "state", buf, sizeof(buf)), "expired");
    CU_ASSERT_EQUAL(field_i64(mig, "s1", "error_code"), FERRY_ERR_LEASE_LOST);
    CU_ASSERT_STRING_EQUAL(field(mig, "s1", "error_name", buf, sizeof(buf)),
                           ferry_rc_str(FERRY_ERR_LEASE_LOST));
    CU_ASSERT_STRING_EQUAL(field(mig, "s1", "error_retryable", buf, sizeof(buf)), "1");
    CU_ASSERT_STRING_EQUAL(field(mig, "s1", "error_message", buf, sizeof(buf)),
                           "worker " W1 " lost its lease");
    CU_ASSERT_EQUAL(zscore(LEASES, mig, "s1", 1), -1);
    assert_event(mig, "s1", "running", "expired", 1, "coordinator", "expired");

    /* The late worker's renewal and finish are refused. */
    CU_ASSERT_EQUAL(ferry_steps_renew(store, &ref, W1, LEASE, NULL, &seen, &err),
                    FERRY_ERR_LEASE_LOST);
    CU_ASSERT_EQUAL(finish(&ref, W1, FERRY_STEP_SUCCEEDED, NULL, false, NULL, NULL, 0, &seen, &err),
                    FERRY_ERR_CONFLICT);
    CU_ASSERT_STRING_EQUAL(seen.state, "expired");
}

/* A worker whose lease ran out may neither renew nor finish, even before the coordinator has
 * expired the attempt: another attempt may start at any moment (issue 14 §5). The lease is put
 * in the past by hand, as a worker paused past it would find it. */
static void test_lease_passed(void)
{
    const char *mig = mig_new();
    ferry_step_seen seen;
    ferry_err err;
    char key[FERRY_STATE_KEY_MAX], past[24], before[2048], after[2048];
    step_running(mig, "s1", LEASE);
    ferry_step_ref ref = {.migration = mig, .step = "s1", .attempt = 1};

    /* Granted while the lease runs. */
    CU_ASSERT_EQUAL_FATAL(ferry_steps_renew(store, &ref, W1, LEASE, NULL, &seen, &err), FERRY_OK);

    record_key(mig, "s1", key, sizeof(key));
    (void)snprintf(past, sizeof(past), "%" PRId64, seen.now - 1);
    const char *argv[] = {"HSET", key, "lease_until", past};
    CU_ASSERT_EQUAL_FATAL(cmd(4, argv, NULL), FERRY_OK);
    long long events = history_len(mig);
    record_text(mig, "s1", before, sizeof(before));

    /* Refused: the renewal as lost, the finish (success or failure) as a conflict; nothing
     * written, and the reason says it was the lease. */
    ferry_step_progress p = {.done = 12, .total = 12, .unit = "tables"};
    CU_ASSERT_EQUAL(ferry_steps_renew(store, &ref, W1, LEASE, &p, &seen, &err),
                    FERRY_ERR_LEASE_LOST);
    CU_ASSERT_STRING_EQUAL(seen.state, "running");
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "lease"));
    CU_ASSERT_EQUAL(finish(&ref, W1, FERRY_STEP_SUCCEEDED, NULL, false, &p, NULL, 0, &seen, &err),
                    FERRY_ERR_CONFLICT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "lease"));
    ferry_err failure;
    (void)ferry_err_set(&failure, FERRY_ERR_IO, "disk full");
    CU_ASSERT_EQUAL(finish(&ref, W1, FERRY_STEP_FAILED, &failure, true, NULL, NULL, 0, &seen, &err),
                    FERRY_ERR_CONFLICT);
    record_text(mig, "s1", after, sizeof(after));
    CU_ASSERT_STRING_EQUAL(before, after);
    CU_ASSERT_EQUAL(history_len(mig), events);

    /* The coordinator expires it: the attempt ends as expired, not as anything the worker
     * said. */
    CU_ASSERT_EQUAL(ferry_steps_expire(store, &ref, "coordinator", &seen, &err), FERRY_OK);
    CU_ASSERT_STRING_EQUAL(seen.state, "expired");
}

/* The digest binds everything but the envelope: a republish (new issued time and issuer) has
 * the same one, any changed parameter another. */
static void test_command_digest(void)
{
    static char mig[] = "shop.production", step[] = "app-1", by1[] = "coordinator@a:1",
                by2[] = "coordinator@b:2", platform[] = "supervisor", app[] = "shop",
                other[] = "evil";
    Ferry__V1__AppParams params = FERRY__V1__APP_PARAMS__INIT;
    Ferry__V1__StepCommand c = FERRY__V1__STEP_COMMAND__INIT;
    params.platform = platform;
    params.app = app;
    c.migration_id = mig;
    c.step_id = step;
    c.attempt = 2;
    c.kind = FERRY__V1__STEP_KIND__STEP_KIND_APP;
    c.operation = FERRY__V1__OPERATION__OPERATION_APP_STATUS;
    c.params_case = FERRY__V1__STEP_COMMAND__PARAMS_APP;
    c.app = &params;
    c.deadline_unix_ms = 1700000000000;
    c.issued_unix_ms = 1;
    c.issued_by = by1;
    char d1[FERRY_STEPS_DIGEST_LEN + 1], d2[FERRY_STEPS_DIGEST_LEN + 1];
    ferry_err err;
    CU_ASSERT_EQUAL_FATAL(ferry_steps_command_digest(&c, d1, &err), FERRY_OK);
    CU_ASSERT_EQUAL(strlen(d1), FERRY_STEPS_DIGEST_LEN);
    CU_ASSERT_EQUAL(strspn(d1, "0123456789abcdef"), FERRY_STEPS_DIGEST_LEN);

    c.issued_unix_ms = 2;
    c.issued_by = by2;
    CU_ASSERT_EQUAL_FATAL(ferry_steps_command_digest(&c, d2, &err), FERRY_OK);
    CU_ASSERT_STRING_EQUAL(d1, d2);

    params.app = other;
    CU_ASSERT_EQUAL_FATAL(ferry_steps_command_digest(&c, d2, &err), FERRY_OK);
    CU_ASSERT_STRING_NOT_EQUAL(d1, d2);
    params.app = app;
    c.deadline_unix_ms++;
    CU_ASSERT_EQUAL_FATAL(ferry_steps_command_digest(&c, d2, &err), FERRY_OK);
    CU_ASSERT_STRING_NOT_EQUAL(d1, d2);
    c.deadline_unix_ms--;
    c.attempt = 3;
    CU_ASSERT_EQUAL_FATAL(ferry_steps_command_digest(&c, d2, &err), FERRY_OK);
    CU_ASSERT_STRING_NOT_EQUAL(d1, d2);
}

/* ------------------------------------------------------------------ dead letters */

static void test_dead_lettered(void)
{
    const char *mig = mig_new();
    ferry_step_seen seen;
    ferry_err err;
    char buf[512];
    ferry_steps_dl out = FERRY_STEPS_DL_COUNTED;
    int64_t n = -1;
    const char *why = "unknown operation 99";

    /* Not dispatched (absent, pending, running): ignored, nothing written. */
    ferry_step_ref ref = {.migration = mig, .step = "s1", .attempt = 1};
    CU_ASSERT_EQUAL(
        ferry_steps_dead_lettered(store, &ref, KIND, "coordinator", why, 3, &out, &n, &err),
        FERRY_OK);
    CU_ASSERT_EQUAL(out, FERRY_STEPS_DL_IGNORED);
    step_put(mig, "s1", "pending", 1);
    CU_ASSERT_EQUAL(
        ferry_steps_dead_lettered(store, &ref, KIND, "coordinator", why, 3, &out, &n, &err),
        FERRY_OK);
    CU_ASSERT_EQUAL(out, FERRY_STEPS_DL_IGNORED);
    CU_ASSERT_STRING_EQUAL(field(mig, "s1", "dl_count", buf, sizeof(buf)), "");

    /* Dispatched: counted up to the maximum, then failed for good with the reason. */
    CU_ASSERT_EQUAL_FATAL(dispatch(mig, "s1", 1, &seen), FERRY_OK);
    long long events = history_len(mig);
    for (int64_t i = 1; i <= 2; i++) {
        CU_ASSERT_EQUAL(
            ferry_steps_dead_lettered(store, &ref, KIND, "coordinator", why, 3, &out, &n, &err),
            FERRY_OK);
        CU_ASSERT_EQUAL(out, FERRY_STEPS_DL_COUNTED);
        CU_ASSERT_EQUAL(n, i);
        CU_ASSERT_STRING_EQUAL(field(mig, "s1", "state", buf, sizeof(buf)), "dispatched");
    }
    CU_ASSERT_EQUAL(history_len(mig), events);
    /* Another attempt's, or another kind's, dead letter does not count. */
    ferry_step_ref old = {.migration = mig, .step = "s1", .attempt = 2};
    CU_ASSERT_EQUAL(
        ferry_steps_dead_lettered(store, &old, KIND, "coordinator", why, 3, &out, &n, &err),
        FERRY_OK);
    CU_ASSERT_EQUAL(out, FERRY_STEPS_DL_IGNORED);
    CU_ASSERT_EQUAL(
        ferry_steps_dead_lettered(store, &ref, "dns", "coordinator", why, 3, &out, &n, &err),
        FERRY_OK);
    CU_ASSERT_EQUAL(out, FERRY_STEPS_DL_IGNORED);
    CU_ASSERT_NOT_EQUAL(zscore(QUEUED, mig, "s1", 1), -1);

    CU_ASSERT_EQUAL_FATAL(
        ferry_steps_dead_lettered(store, &ref, KIND, "coordinator", why, 3, &out, &n, &err),
        FERRY_OK);
    CU_ASSERT_EQUAL(out, FERRY_STEPS_DL_FAILED);
    CU_ASSERT_EQUAL(n, 3);
    CU_ASSERT_STRING_EQUAL(field(mig, "s1", "state", buf, sizeof(buf)), "failed");
    CU_ASSERT_STRING_EQUAL(field(mig, "s1", "error_retryable", buf, sizeof(buf)), "0");
    CU_ASSERT_EQUAL(field_i64(mig, "s1", "error_code"), FERRY_ERR_PROTOCOL);
    CU_ASSERT_STRING_EQUAL(field(mig, "s1", "error_message", buf, sizeof(buf)),
                           "rejected by every worker (3 dead letters): unknown operation 99");
    CU_ASSERT_EQUAL(zscore(QUEUED, mig, "s1", 1), -1);
    assert_event(mig, "s1", "dispatched", "failed", 1, "coordinator", "dead_lettered");
    /* Late ones change nothing. */
    CU_ASSERT_EQUAL(
        ferry_steps_dead_lettered(store, &ref, KIND, "coordinator", why, 3, &out, &n, &err),
        FERRY_OK);
    CU_ASSERT_EQUAL(out, FERRY_STEPS_DL_IGNORED);

    /* The count is the attempt's: a new attempt starts from one. */
    step_put(mig, "s2", "pending", 1);
    CU_ASSERT_EQUAL_FATAL(dispatch(mig, "s2", 1, &seen), FERRY_OK);
    ferry_step_ref r2 = {.migration = mig, .step = "s2", .attempt = 1};
    CU_ASSERT_EQUAL(
        ferry_steps_dead_lettered(store, &r2, KIND, "coordinator", why, 3, &out, &n, &err),
        FERRY_OK);
    step_put(mig, "s2", "pending", 2);
    CU_ASSERT_EQUAL_FATAL(dispatch(mig, "s2", 2, &seen), FERRY_OK);
    r2.attempt = 2;
    CU_ASSERT_EQUAL(
        ferry_steps_dead_lettered(store, &r2, KIND, "coordinator", why, 3, &out, &n, &err),
        FERRY_OK);
    CU_ASSERT_EQUAL(out, FERRY_STEPS_DL_COUNTED);
    CU_ASSERT_EQUAL(n, 1);

    /* Bad input never reaches Redis. */
    CU_ASSERT_EQUAL(
        ferry_steps_dead_lettered(store, &r2, KIND, "coordinator", why, 0, &out, &n, &err),
        FERRY_ERR_INVALID);
    CU_ASSERT_EQUAL(
        ferry_steps_dead_lettered(store, &r2, "a kind", "coordinator", why, 3, &out, &n, &err),
        FERRY_ERR_INVALID);
}

/* ------------------------------------------------------------------ members */

static void test_member_parse(void)
{
    char mig[64], step[64];
    int64_t attempt = 0;
    CU_ASSERT_TRUE(ferry_steps_member_parse("shop.production dr-3 12", mig, sizeof(mig), step,
                                            sizeof(step), &attempt));
    CU_ASSERT_STRING_EQUAL(mig, "shop.production");
    CU_ASSERT_STRING_EQUAL(step, "dr-3");
    CU_ASSERT_EQUAL(attempt, 12);
    const char *bad[] = {"",
                         "shop",
                         "shop dr-3",
                         "shop dr-3 ",
                         "shop dr-3 0",
                         "shop dr-3 x",
                         "shop dr-3 1 2",
                         " dr-3 1",
                         "shop  1",
                         "shop dr-3 -1",
                         "shop dr-3 1x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CU_ASSERT_FALSE(
            ferry_steps_member_parse(bad[i], mig, sizeof(mig), step, sizeof(step), &attempt));
    }
    /* Buffers too small. */
    CU_ASSERT_FALSE(
        ferry_steps_member_parse("shop.production dr-3 1", mig, 4, step, sizeof(step), &attempt));
}

static const ferry_test_case cases[] = {
    {"dispatch: pending at its attempt only; queued; event", test_dispatch},
    {"claim: dispatched at its attempt only; lease; event", test_claim},
    {"claim: a key of the wrong type changes nothing", test_claim_wrongtype},
    {"renew: owner and attempt; progress; no event; lost after cancel", test_renew},
    {"finish: owner and attempt; results, error, duration; event", test_finish},
    {"finish: counted by kind, end state and duration bucket", test_finish_counts},
    {"expire: only after the lease passed", test_expire},
    {"renew and finish: refused once the lease passed, before any expire", test_lease_passed},
    {"dead letters: counted per attempt, failed for good at the maximum", test_dead_lettered},
    {"member parse", test_member_parse},
    {"command digest: the envelope aside, every field bound", test_command_digest},
    {NULL, NULL},
};

int main(void)
{
    const ferry_test_suite suites[] = {
        {"steps", suite_setup, suite_teardown, cases},
        {NULL, NULL, NULL, NULL},
    };
    return ferry_test_main(suites);
}
