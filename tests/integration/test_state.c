/*
 * Integration tests for state.c (ferry/state.h) and ferry_steps_refuse() against the local
 * stack's Redis: apps, migrations, the coordinator's indexes and queues, concurrency limits,
 * the leadership lease, worker heartbeats, dead letters and events. What the module wrote is
 * checked from outside with raw commands, against the layout of shared/state_keys.h and
 * docs/redis.md.
 *
 * The global indexes are shared with whatever else uses the stack: the members added here carry
 * this run's unique ids, index members are scored far in the past (below anything a real
 * coordinator writes, so that they come first and are exactly what a due read returns), and the
 * suite's teardown removes every key, member, dead letter and group the tests made (the events
 * the changes appended to ferry:events stay, as with the other tests).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ferry/clock.h"
#include "ferry/config.h"
#include "ferry/state.h"
#include "ferry/steps.h"
#include "ferry/store.h"
#include "ferry_test.h"

/* The layout, as docs/redis.md has it: the test names keys to look at them from outside. */
#define MIGRATIONS   "ferry:migrations"
#define PENDING      "ferry:pending"
#define LEASES       "ferry:leases"
#define TIMERS       "ferry:timers"
#define APPS         "ferry:apps"
#define WORKERS      "ferry:workers"
#define LIMIT_KEYS   "ferry:limit_keys"
#define LEADER       "ferry:coordinator:leader"
#define EVENTS       "ferry:events"
#define DEAD         "ferry:dead_letters"
#define DEAD_REPLAYD "ferry:dead_letters:replayed"

/* Index scores far below any real one (real ones are ms since the epoch, urgent steps 1e12
 * less): exact in a double. */
#define PAST INT64_C(-4000000000000000)
/* A timer that no coordinator running meanwhile would act on (year 2096). */
#define FAR_FUTURE "4000000000000"

static ferry_store *store;

/* Everything the tests made, for the teardown. */
static char migs[32][64];
static size_t n_migs;
static struct {
    char key[FERRY_STATE_KEY_MAX];
    char member[160];
} members[64];
static size_t n_members;
static char apps[8][64];
static size_t n_apps;
static char limit_keys[8][FERRY_STATE_KEY_MAX];
static size_t n_limit_keys;
static char workers[8][64];
static size_t n_workers;
static char dead_ids[8][48];
static size_t n_dead_ids;
static char leaders[4][64];
static size_t n_leaders;
static char events_group[64];

/* ------------------------------------------------------------------ raw commands */

static ferry_rc cmdv(ferry_store_reply **out, size_t argc, const char *const *argv)
{
    ferry_err err;
    ferry_rc rc = ferry_store_command(store, true, argc, argv, NULL, out, &err);
    if (rc != FERRY_OK)
        fprintf(stderr, "\n  %s: %s\n", argv[0], err.msg);
    return rc;
}

/* One raw command, its words as arguments; the reply into *out (NULL: dropped). */
#define REDIS(out, ...)                                                                            \
    cmdv((out), sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *),                 \
         (const char *const[]){__VA_ARGS__})

/* The integer reply of a raw command; -1 when it failed or is not an integer. */
static long long int_reply(size_t argc, const char *const *argv)
{
    ferry_store_reply *r = NULL;
    long long v = -1;
    if (cmdv(&r, argc, argv) == FERRY_OK && r->type == FERRY_STORE_REPLY_INT)
        v = r->integer;
    ferry_store_reply_free(r);
    return v;
}

#define REDIS_INT(...)                                                                             \
    int_reply(sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *),                   \
              (const char *const[]){__VA_ARGS__})

static bool key_exists(const char *key)
{
    return REDIS_INT("EXISTS", key) == 1;
}

static bool set_has(const char *set, const char *member)
{
    return REDIS_INT("SISMEMBER", set, member) == 1;
}

/* Whether member is in zset key, its score into *score (may be NULL). */
static bool zscore(const char *key, const char *member, int64_t *score)
{
    ferry_store_reply *r = NULL;
    bool found = false;
    if (REDIS(&r, "ZSCORE", key, member) == FERRY_OK && ferry_store_reply_str(r) != NULL) {
        found = true;
        if (score != NULL)
            *score = (int64_t)strtod(ferry_store_reply_str(r), NULL);
    }
    ferry_store_reply_free(r);
    return found;
}

/* Field of hash key into out ("" when absent). */
static const char *hget(const char *key, const char *field, char *out, size_t outsz)
{
    ferry_store_reply *r = NULL;
    out[0] = '\0';
    if (REDIS(&r, "HGET", key, field) == FERRY_OK && ferry_store_reply_str(r) != NULL)
        (void)snprintf(out, outsz, "%s", ferry_store_reply_str(r));
    ferry_store_reply_free(r);
    return out;
}

/* The whole hash as "name=value;..." in HGETALL order, to see that nothing moved. */
static void hash_text(const char *key, char *out, size_t outsz)
{
    ferry_store_reply *r = NULL;
    size_t len = 0;
    out[0] = '\0';
    if (REDIS(&r, "HGETALL", key) == FERRY_OK) {
        for (size_t i = 0; i < r->count && len < outsz; i++) {
            int n =
                snprintf(out + len, outsz - len, "%s%c", r->elements[i]->str, i % 2 ? ';' : '=');
            if (n > 0)
                len += (size_t)n;
        }
    }
    ferry_store_reply_free(r);
}

/* Whether field name of rec (NULL: none) is want; says what it is when not. */
static bool value_is(const ferry_store_record *rec, const char *name, const char *want)
{
    const char *v = ferry_store_record_value(rec, name);
    if (v != NULL && strcmp(v, want) == 0)
        return true;
    printf("\n  field %s: '%s', expected '%s'", name, v != NULL ? v : "(absent)", want);
    return false;
}

#define VALUE_IS(rec, name, want) CU_ASSERT_TRUE(value_is((rec), (name), (want)))

/* Whether field name of rec holds exactly the n bytes of want. */
static bool bytes_are(const ferry_store_record *rec, const char *name, const void *want, size_t n)
{
    for (size_t i = 0; rec != NULL && i < rec->count; i++) {
        if (strcmp(rec->pairs[i].name, name) == 0)
            return rec->pairs[i].value_len == n && memcmp(rec->pairs[i].value, want, n) == 0;
    }
    return false;
}

static void i64_text(int64_t v, char *out, size_t outsz)
{
    (void)snprintf(out, outsz, "%" PRId64, v);
}

/* ------------------------------------------------------------------ what the tests make */

/* A migration id of its own for one test, deleted at the end. */
static const char *mig_new(void)
{
    const char *mig = ferry_test_unique("state");
    if (n_migs < sizeof(migs) / sizeof(migs[0]))
        (void)snprintf(migs[n_migs++], sizeof(migs[0]), "%s", mig);
    return mig;
}

/* A name of its own (app, worker, limit, instance), remembered in list for the teardown. */
static const char *name_new(const char *prefix, char list[][64], size_t *n, size_t cap)
{
    const char *name = ferry_test_unique(prefix);
    if (*n < cap)
        (void)snprintf(list[(*n)++], 64, "%s", name);
    return name;
}

/* ZADDs member to a global zset at score, remembered for the teardown. */
static void zadd(const char *key, int64_t score, const char *member)
{
    char s[24];
    i64_text(score, s, sizeof(s));
    if (n_members < sizeof(members) / sizeof(members[0])) {
        (void)snprintf(members[n_members].key, sizeof(members[0].key), "%s", key);
        (void)snprintf(members[n_members].member, sizeof(members[0].member), "%s", member);
        n_members++;
    }
    CU_ASSERT_EQUAL_FATAL(REDIS(NULL, "ZADD", key, s, member), FERRY_OK);
}

static void remember_app(const char *app)
{
    if (n_apps < sizeof(apps) / sizeof(apps[0]))
        (void)snprintf(apps[n_apps++], sizeof(apps[0]), "%s", app);
}

static void remember_limit_key(const char *key)
{
    if (n_limit_keys < sizeof(limit_keys) / sizeof(limit_keys[0]))
        (void)snprintf(limit_keys[n_limit_keys++], sizeof(limit_keys[0]), "%s", key);
}

static void mig_key(const char *mig, const char *suffix, char *out, size_t outsz)
{
    CU_ASSERT_EQUAL_FATAL(ferry_state_key(mig, suffix, out, outsz, NULL), FERRY_OK);
}

static void step_key(const char *mig, const char *step, char *out, size_t outsz)
{
    char entity[128];
    (void)snprintf(entity, sizeof(entity), "step:%s", step);
    mig_key(mig, entity, out, outsz);
}

/* HSETs a step record as the coordinator would have planned it. */
static void step_put(const char *mig, const char *step, const char *state, int64_t attempt)
{
    char key[FERRY_STATE_KEY_MAX], a[24];
    step_key(mig, step, key, sizeof(key));
    i64_text(attempt, a, sizeof(a));
    CU_ASSERT_EQUAL_FATAL(REDIS(NULL, "HSET", key, "state", state, "attempt", a, "kind", "app",
                                "operation", "status", "purpose", "test.state"),
                          FERRY_OK);
}

/* One field of a step record into out ("" when absent). */
static const char *step_field(const char *mig, const char *step, const char *name, char *out,
                              size_t outsz)
{
    char key[FERRY_STATE_KEY_MAX];
    step_key(mig, step, key, sizeof(key));
    return hget(key, name, out, outsz);
}

static long long history_len(const char *mig)
{
    char key[FERRY_STATE_KEY_MAX];
    mig_key(mig, "history", key, sizeof(key));
    return REDIS_INT("XLEN", key);
}

/* Applies plan_json (mig_apply.lua's JSON) to mig. */
static ferry_rc apply(const char *mig, const char *plan_json, int64_t *cycle, ferry_err *err)
{
    ferry_rc rc = ferry_state_mig_apply(store, mig, "test-state", plan_json, cycle, err);
    if (rc != FERRY_OK && rc != FERRY_ERR_CONFLICT)
        printf("\n  mig_apply: %s", err->msg);
    return rc;
}

/* Creates migration mig in state "new" of app, listed in ferry:migrations, with a timer. */
static void mig_create(const char *mig, const char *app)
{
    char plan[512];
    ferry_err err;
    int64_t cycle = -1;
    (void)snprintf(plan, sizeof(plan),
                   "{\"expect\": [\"\"], \"expect_cycle\": \"\", \"change\": true, "
                   "\"to\": \"new\", \"what\": \"created\", \"new_cycle\": true, \"index\": true, "
                   "\"fields\": {\"app\": \"%s\", \"env\": \"test\"}, \"wake_at\": \"%s\"}",
                   app, FAR_FUTURE);
    CU_ASSERT_EQUAL_FATAL(apply(mig, plan, &cycle, &err), FERRY_OK);
    CU_ASSERT_EQUAL(cycle, 1);
}

/* Index of s in list; -1 when absent. */
static long list_find(const ferry_state_list *list, const char *s)
{
    for (size_t i = 0; i < list->count; i++) {
        if (list->items[i] != NULL && strcmp(list->items[i], s) == 0)
            return (long)i;
    }
    return -1;
}

static bool list_sorted(const ferry_state_list *list)
{
    for (size_t i = 1; i < list->count; i++) {
        if (list->items[i - 1] == NULL || list->items[i] == NULL ||
            strcmp(list->items[i - 1], list->items[i]) > 0)
            return false;
    }
    return true;
}

/* Whether list is exactly want[0..n). */
static bool list_is(const ferry_state_list *list, const char *const *want, size_t n)
{
    if (list->count != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (list->items[i] == NULL || strcmp(list->items[i], want[i]) != 0)
            return false;
    }
    return true;
}

/* "<mig> <step> <attempt>", the member of pending, queued and leases. */
static const char *member_of(const char *mig, const char *step, char *out, size_t outsz)
{
    (void)snprintf(out, outsz, "%s %s 1", mig, step);
    return out;
}

/* Whether stream entry id a comes before b. */
static bool id_before(const char *a, const char *b)
{
    unsigned long long ams = 0, aseq = 0, bms = 0, bseq = 0;
    if (sscanf(a, "%llu-%llu", &ams, &aseq) != 2 || sscanf(b, "%llu-%llu", &bms, &bseq) != 2)
        return false;
    return ams < bms || (ams == bms && aseq < bseq);
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
    char key[FERRY_STATE_KEY_MAX + 16];
    for (size_t i = 0; i < n_migs; i++) {
        (void)snprintf(key, sizeof(key), "ferry:{%.63s}:*", migs[i]);
        ferry_store_reply *r = NULL;
        if (REDIS(&r, "KEYS", key) == FERRY_OK) {
            for (size_t k = 0; k < r->count; k++)
                (void)REDIS(NULL, "DEL", r->elements[k]->str);
        }
        ferry_store_reply_free(r);
        (void)REDIS(NULL, "SREM", MIGRATIONS, migs[i]);
        (void)REDIS(NULL, "ZREM", TIMERS, migs[i]);
    }
    for (size_t i = 0; i < n_members; i++)
        (void)REDIS(NULL, "ZREM", members[i].key, members[i].member);
    for (size_t i = 0; i < n_apps; i++) {
        (void)snprintf(key, sizeof(key), "ferry:app:%.63s", apps[i]);
        (void)REDIS(NULL, "DEL", key);
        (void)REDIS(NULL, "SREM", APPS, apps[i]);
    }
    for (size_t i = 0; i < n_limit_keys; i++) {
        (void)REDIS(NULL, "DEL", limit_keys[i]);
        (void)REDIS(NULL, "SREM", LIMIT_KEYS, limit_keys[i]);
    }
    for (size_t i = 0; i < n_workers; i++) {
        (void)snprintf(key, sizeof(key), "ferry:worker:%.63s", workers[i]);
        (void)REDIS(NULL, "DEL", key);
        (void)REDIS(NULL, "ZREM", WORKERS, workers[i]);
    }
    for (size_t i = 0; i < n_dead_ids; i++) {
        (void)REDIS(NULL, "XDEL", DEAD, dead_ids[i]);
        (void)REDIS(NULL, "HDEL", DEAD_REPLAYD, dead_ids[i]);
    }
    /* The leader key only when one of ours holds it. */
    char holder[128];
    ferry_store_reply *r = NULL;
    if (REDIS(&r, "GET", LEADER) == FERRY_OK && ferry_store_reply_str(r) != NULL) {
        (void)snprintf(holder, sizeof(holder), "%s", ferry_store_reply_str(r));
        for (size_t i = 0; i < n_leaders; i++) {
            if (strcmp(holder, leaders[i]) == 0)
                (void)REDIS(NULL, "DEL", LEADER);
        }
    }
    ferry_store_reply_free(r);
    if (events_group[0] != '\0')
        (void)REDIS(NULL, "XGROUP", "DESTROY", EVENTS, events_group);
    ferry_store_close(store);
    return 0;
}

/* ------------------------------------------------------------------ apps */

static void test_apps(void)
{
    ferry_err err;
    bool created = false;
    char a[64], b[64], key_a[FERRY_STATE_KEY_MAX], key_b[FERRY_STATE_KEY_MAX], buf[512];
    /* Two apps that differ in their last character only: b is created first, sorts last. */
    const char *base = ferry_test_unique("state-app");
    (void)snprintf(a, sizeof(a), "%s-a", base);
    (void)snprintf(b, sizeof(b), "%s-b", base);
    remember_app(a);
    remember_app(b);
    (void)snprintf(key_a, sizeof(key_a), "ferry:app:%s", a);
    (void)snprintf(key_b, sizeof(key_b), "ferry:app:%s", b);
    const char *spec = "{\"name\": \"shop\", \"environments\": [\"production\", \"test\"]}";
    const int64_t t0 = INT64_C(1733300000123);

    /* Fresh: created, stored as the layout says, listed. */
    CU_ASSERT_EQUAL_FATAL(
        ferry_state_app_create(store, b, "spec b", "production", t0 - 1, &created, &err), FERRY_OK);
    CU_ASSERT_TRUE(created);
    CU_ASSERT_EQUAL_FATAL(
        ferry_state_app_create(store, a, spec, "production,test", t0, &created, &err), FERRY_OK);
    CU_ASSERT_TRUE(created);
    CU_ASSERT_STRING_EQUAL(hget(key_a, "spec", buf, sizeof(buf)), spec);
    CU_ASSERT_STRING_EQUAL(hget(key_a, "environments", buf, sizeof(buf)), "production,test");
    CU_ASSERT_STRING_EQUAL(hget(key_a, "created_at", buf, sizeof(buf)), "1733300000123");
    CU_ASSERT_TRUE(set_has(APPS, a));

    /* Again: not created, nothing changed. */
    char before[2048], after[2048];
    hash_text(key_a, before, sizeof(before));
    created = true;
    CU_ASSERT_EQUAL(
        ferry_state_app_create(store, a, "another spec", "staging", t0 + 5000, &created, &err),
        FERRY_OK);
    CU_ASSERT_FALSE(created);
    hash_text(key_a, after, sizeof(after));
    CU_ASSERT_STRING_EQUAL(before, after);

    /* Read back. */
    ferry_state_app app;
    CU_ASSERT_EQUAL_FATAL(ferry_state_app_get(store, a, &app, &err), FERRY_OK);
    CU_ASSERT_STRING_EQUAL(app.spec, spec);
    CU_ASSERT_STRING_EQUAL(app.environments, "production,test");
    CU_ASSERT_EQUAL(app.created_at, t0);
    ferry_state_app_cleanup(&app);
    CU_ASSERT_PTR_NULL(app.spec);
    char unknown[80];
    (void)snprintf(unknown, sizeof(unknown), "%s-none", base);
    CU_ASSERT_EQUAL(ferry_state_app_get(store, unknown, &app, &err), FERRY_ERR_NOT_FOUND);
    CU_ASSERT_PTR_NULL(app.spec);
    CU_ASSERT_PTR_NULL(app.environments);

    /* Listed, sorted. */
    ferry_state_list list = {0};
    CU_ASSERT_EQUAL_FATAL(ferry_state_apps(store, &list, &err), FERRY_OK);
    long ia = list_find(&list, a), ib = list_find(&list, b);
    CU_ASSERT_TRUE(ia >= 0 && ib >= 0 && ia < ib);
    CU_ASSERT_TRUE(list_sorted(&list));
    ferry_state_list_cleanup(&list);

    /* A migration of a with every key a migration has: record, history, steps, step records,
     * index, timer. */
    const char *mig = mig_new();
    mig_create(mig, a);
    step_put(mig, "s-1", "succeeded", 1);
    step_put(mig, "s-2", "failed", 2);
    char k_mig[FERRY_STATE_KEY_MAX], k_hist[FERRY_STATE_KEY_MAX], k_steps[FERRY_STATE_KEY_MAX];
    char k_s1[FERRY_STATE_KEY_MAX], k_s2[FERRY_STATE_KEY_MAX];
    mig_key(mig, "migration", k_mig, sizeof(k_mig));
    mig_key(mig, "history", k_hist, sizeof(k_hist));
    mig_key(mig, "steps", k_steps, sizeof(k_steps));
    step_key(mig, "s-1", k_s1, sizeof(k_s1));
    step_key(mig, "s-2", k_s2, sizeof(k_s2));
    CU_ASSERT_EQUAL_FATAL(REDIS(NULL, "ZADD", k_steps, "1", "s-1", "2", "s-2"), FERRY_OK);
    const char *keys[] = {k_mig, k_hist, k_steps, k_s1, k_s2};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        CU_ASSERT_TRUE_FATAL(key_exists(keys[i]));
    CU_ASSERT_TRUE_FATAL(set_has(MIGRATIONS, mig));
    CU_ASSERT_TRUE_FATAL(zscore(TIMERS, mig, NULL));

    /* A bad migration id: refused, and the app stays. */
    const char *deletable[] = {"new", "stopped", "failed", "migrated", "rolled_back"};
    const size_t n_del = sizeof(deletable) / sizeof(deletable[0]);
    const char *bad[] = {"bad id", mig};
    CU_ASSERT_EQUAL(ferry_state_app_delete(store, a, bad, 2, deletable, n_del, &err),
                    FERRY_ERR_INVALID);
    CU_ASSERT_TRUE(key_exists(key_a));
    CU_ASSERT_TRUE(set_has(APPS, a));
    CU_ASSERT_TRUE(key_exists(k_mig));

    /* A migration that moved on (the engine started it after the caller looked): refused in
     * the same step as the deletion, naming it, and nothing is deleted. */
    CU_ASSERT_EQUAL_FATAL(REDIS(NULL, "HSET", k_mig, "state", "replicating"), FERRY_OK);
    const char *its[] = {mig};
    CU_ASSERT_EQUAL(ferry_state_app_delete(store, a, its, 1, deletable, n_del, &err),
                    FERRY_ERR_CONFLICT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "replicating"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, mig));
    CU_ASSERT_TRUE(key_exists(key_a));
    CU_ASSERT_TRUE(set_has(APPS, a));
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        CU_ASSERT_TRUE(key_exists(keys[i]));
    CU_ASSERT_TRUE(set_has(MIGRATIONS, mig));
    CU_ASSERT_EQUAL_FATAL(REDIS(NULL, "HSET", k_mig, "state", "stopped"), FERRY_OK);

    /* Deleted: the app and every key of its migration; b untouched. */
    CU_ASSERT_EQUAL_FATAL(ferry_state_app_delete(store, a, its, 1, deletable, n_del, &err),
                          FERRY_OK);
    CU_ASSERT_FALSE(key_exists(key_a));
    CU_ASSERT_FALSE(set_has(APPS, a));
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        CU_ASSERT_FALSE(key_exists(keys[i]));
    CU_ASSERT_FALSE(set_has(MIGRATIONS, mig));
    CU_ASSERT_FALSE(zscore(TIMERS, mig, NULL));
    CU_ASSERT_EQUAL(ferry_state_app_get(store, a, &app, &err), FERRY_ERR_NOT_FOUND);
    CU_ASSERT_TRUE(key_exists(key_b));
    CU_ASSERT_TRUE(set_has(APPS, b));

    /* An app without migrations; deleting again is harmless. */
    CU_ASSERT_EQUAL(ferry_state_app_delete(store, b, NULL, 0, deletable, n_del, &err), FERRY_OK);
    CU_ASSERT_FALSE(key_exists(key_b));
    CU_ASSERT_FALSE(set_has(APPS, b));
    CU_ASSERT_EQUAL(ferry_state_app_delete(store, b, NULL, 0, deletable, n_del, &err), FERRY_OK);
}

/* ------------------------------------------------------------------ migrations */

static void test_migrations(void)
{
    ferry_err err;
    const char *mig = mig_new();
    char k_mig[FERRY_STATE_KEY_MAX], before[4096], after[4096];
    mig_key(mig, "migration", k_mig, sizeof(k_mig));

    /* Absent: not an error, no record, Redis's clock. */
    ferry_state_mig m;
    CU_ASSERT_EQUAL_FATAL(ferry_state_mig_load(store, mig, &m, &err), FERRY_OK);
    CU_ASSERT_PTR_NULL(m.rec);
    CU_ASSERT_EQUAL(m.n_steps, 0);
    CU_ASSERT_TRUE(m.now > 0 && llabs(m.now - ferry_wall_ms()) < 5000);
    ferry_state_mig_cleanup(&m);
    ferry_store_entries *h = NULL;
    CU_ASSERT_EQUAL(ferry_state_history(store, mig, 10, &h, &err), FERRY_OK);
    CU_ASSERT_TRUE(h != NULL && h->count == 0);
    ferry_store_entries_free(h);

    /* Created by a plan that expects it absent. */
    int64_t cycle = -1;
    const char *create = "{\"expect\": [\"\"], \"change\": true, \"to\": \"new\", "
                         "\"what\": \"created\", \"new_cycle\": true, \"index\": true, "
                         "\"fields\": {\"app\": \"shop\", \"env\": \"test\"}}";
    CU_ASSERT_EQUAL_FATAL(apply(mig, create, &cycle, &err), FERRY_OK);
    CU_ASSERT_EQUAL(cycle, 1);
    CU_ASSERT_TRUE(set_has(MIGRATIONS, mig));

    /* Its latest step of a purpose comes with it (cur.<purpose>). */
    step_put(mig, "s-1", "pending", 1);
    CU_ASSERT_EQUAL_FATAL(REDIS(NULL, "HSET", k_mig, "cur.test.state", "s-1"), FERRY_OK);
    CU_ASSERT_EQUAL_FATAL(ferry_state_mig_load(store, mig, &m, &err), FERRY_OK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m.rec);
    VALUE_IS(m.rec, "state", "new");
    VALUE_IS(m.rec, "cycle", "1");
    VALUE_IS(m.rec, "app", "shop");
    const char *updated = ferry_store_record_value(m.rec, "updated_at");
    CU_ASSERT_TRUE(updated != NULL && llabs(strtoll(updated, NULL, 10) - m.now) < 5000);
    CU_ASSERT_EQUAL_FATAL(m.n_steps, 1);
    VALUE_IS(m.steps[0], "state", "pending");
    VALUE_IS(m.steps[0], "purpose", "test.state");
    ferry_state_mig_cleanup(&m);
    CU_ASSERT_PTR_NULL(m.rec);

    /* Fields in the order asked, NULL for an absent one (and for an absent migration). */
    const char *names[] = {"state", "no_such_field", "app", "cycle"};
    ferry_state_list f = {0};
    CU_ASSERT_EQUAL_FATAL(ferry_state_mig_fields(store, mig, names, 4, &f, &err), FERRY_OK);
    CU_ASSERT_EQUAL_FATAL(f.count, 4);
    CU_ASSERT_STRING_EQUAL(f.items[0], "new");
    CU_ASSERT_PTR_NULL(f.items[1]);
    CU_ASSERT_STRING_EQUAL(f.items[2], "shop");
    CU_ASSERT_STRING_EQUAL(f.items[3], "1");
    ferry_state_list_cleanup(&f);
    CU_ASSERT_EQUAL(f.count, 0);
    char absent[96];
    (void)snprintf(absent, sizeof(absent), "%s-none", mig);
    CU_ASSERT_EQUAL_FATAL(ferry_state_mig_fields(store, absent, names, 2, &f, &err), FERRY_OK);
    CU_ASSERT_TRUE(f.count == 2 && f.items[0] == NULL && f.items[1] == NULL);
    ferry_state_list_cleanup(&f);

    /* Listed, sorted. */
    ferry_state_list list = {0};
    CU_ASSERT_EQUAL_FATAL(ferry_state_migrations(store, &list, &err), FERRY_OK);
    CU_ASSERT_TRUE(list_find(&list, mig) >= 0);
    CU_ASSERT_TRUE(list_sorted(&list));
    ferry_state_list_cleanup(&list);

    /* Wrong state, wrong cycle, creating it again: refused, nothing written. */
    hash_text(k_mig, before, sizeof(before));
    long long events = history_len(mig);
    const char *wrong_state = "{\"expect\": [\"replicating\", \"stopped\"], \"change\": true, "
                              "\"to\": \"failed\", \"what\": \"failed\"}";
    const char *wrong_cycle = "{\"expect\": [\"new\"], \"expect_cycle\": \"7\", "
                              "\"change\": true, \"to\": \"stopped\", \"what\": \"stopped\"}";
    CU_ASSERT_EQUAL(apply(mig, wrong_state, &cycle, &err), FERRY_ERR_CONFLICT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, " is new now"));
    CU_ASSERT_EQUAL(apply(mig, wrong_cycle, &cycle, &err), FERRY_ERR_CONFLICT);
    CU_ASSERT_EQUAL(apply(mig, create, &cycle, &err), FERRY_ERR_CONFLICT);
    hash_text(k_mig, after, sizeof(after));
    CU_ASSERT_STRING_EQUAL(before, after);
    CU_ASSERT_EQUAL(history_len(mig), events);

    /* A second change, in its cycle. */
    const char *stop = "{\"expect\": [\"new\"], \"expect_cycle\": \"1\", \"change\": true, "
                       "\"to\": \"stopped\", \"what\": \"stopped\"}";
    CU_ASSERT_EQUAL_FATAL(apply(mig, stop, &cycle, &err), FERRY_OK);
    CU_ASSERT_EQUAL(cycle, 1);

    /* History: newest first. */
    CU_ASSERT_EQUAL_FATAL(ferry_state_history(store, mig, 10, &h, &err), FERRY_OK);
    CU_ASSERT_EQUAL_FATAL(h->count, 2);
    const ferry_store_record *e0 = &h->entries[0].fields, *e1 = &h->entries[1].fields;
    CU_ASSERT_TRUE(id_before(h->entries[1].id, h->entries[0].id));
    VALUE_IS(e0, "migration", mig);
    VALUE_IS(e0, "entity", "migration");
    VALUE_IS(e0, "from", "new");
    VALUE_IS(e0, "to", "stopped");
    VALUE_IS(e0, "actor", "test-state");
    VALUE_IS(e1, "from", "");
    VALUE_IS(e1, "to", "new");
    VALUE_IS(e1, "what", "created");
    char newest[48];
    (void)snprintf(newest, sizeof(newest), "%s", h->entries[0].id);
    ferry_store_entries_free(h);
    h = NULL;
    CU_ASSERT_EQUAL_FATAL(ferry_state_history(store, mig, 1, &h, &err), FERRY_OK);
    CU_ASSERT_TRUE(h->count == 1 && strcmp(h->entries[0].id, newest) == 0);
    ferry_store_entries_free(h);

    /* Its steps, by creation; one step's record. */
    char k_steps[FERRY_STATE_KEY_MAX];
    mig_key(mig, "steps", k_steps, sizeof(k_steps));
    CU_ASSERT_EQUAL_FATAL(REDIS(NULL, "ZADD", k_steps, "2", "s-2", "1", "s-1", "3", "s-3"),
                          FERRY_OK);
    const char *all[] = {"s-1", "s-2", "s-3"};
    CU_ASSERT_EQUAL_FATAL(ferry_state_step_ids(store, mig, 0, &list, &err), FERRY_OK);
    CU_ASSERT_TRUE(list_is(&list, all, 3));
    ferry_state_list_cleanup(&list);
    CU_ASSERT_EQUAL_FATAL(ferry_state_step_ids(store, mig, 2, &list, &err), FERRY_OK);
    CU_ASSERT_TRUE(list_is(&list, all, 2));
    ferry_state_list_cleanup(&list);
    ferry_store_record *rec = NULL;
    CU_ASSERT_EQUAL_FATAL(ferry_state_step_get(store, mig, "s-1", &rec, &err), FERRY_OK);
    VALUE_IS(rec, "state", "pending");
    ferry_store_record_free(rec);
    rec = NULL;
    CU_ASSERT_EQUAL(ferry_state_step_get(store, mig, "s-2", &rec, &err), FERRY_ERR_NOT_FOUND);
    CU_ASSERT_PTR_NULL(rec);
}

/* ------------------------------------------------------------------ metrics */

/* The counter field of ferry:metrics, as a number; 0 when absent. */
static int64_t metric(const char *field)
{
    ferry_err err;
    ferry_store_record *rec = NULL;
    CU_ASSERT_EQUAL_FATAL(ferry_state_metrics_get(store, &rec, &err), FERRY_OK);
    const char *v = ferry_store_record_value(rec, field);
    int64_t n = v != NULL ? strtoll(v, NULL, 10) : 0;
    ferry_store_record_free(rec);
    return n;
}

/* A retry that counts adds 1 to retry:<kind>; a release's retry and a replay's do not. */
static void test_metrics_retries(void)
{
    ferry_err err;
    const char *mig = mig_new();
    char kind[64], field[80], k_step[FERRY_STATE_KEY_MAX], plan[512];
    int64_t cycle = -1;
    /* A kind of this test's own: other tests may retry steps of real kinds meanwhile. */
    (void)snprintf(kind, sizeof(kind), "%s-kind", mig);
    (void)snprintf(field, sizeof(field), "retry:%s", kind);
    mig_create(mig, "shop");
    step_put(mig, "s-1", "failed", 1);
    step_key(mig, "s-1", k_step, sizeof(k_step));
    CU_ASSERT_EQUAL_FATAL(REDIS(NULL, "HSET", k_step, "kind", kind), FERRY_OK);
    CU_ASSERT_EQUAL(metric(field), 0);

    const char *const how[] = {"\"count\": true", "\"count\": false",
                               "\"count\": true, \"reset\": true"};
    const int64_t want[] = {1, 1, 1};
    for (size_t i = 0; i < 3; i++) {
        (void)snprintf(plan, sizeof(plan),
                       "{\"expect\": [\"new\"], \"retries\": [{\"step\": \"s-1\", "
                       "\"attempt\": \"%zu\", \"not_before\": \"%s\", %s}]}",
                       i + 1, FAR_FUTURE, how[i]);
        CU_ASSERT_EQUAL_FATAL(apply(mig, plan, &cycle, &err), FERRY_OK);
        CU_ASSERT_EQUAL(metric(field), want[i]);
        /* The attempt ends again, to be retried by the next plan. */
        CU_ASSERT_EQUAL_FATAL(REDIS(NULL, "HSET", k_step, "state", "failed"), FERRY_OK);
    }
    CU_ASSERT_EQUAL(REDIS(NULL, "HDEL", "ferry:metrics", field), FERRY_OK);
    for (int attempt = 2; attempt <= 4; attempt++) {
        char member[160];
        (void)snprintf(member, sizeof(member), "%s s-1 %d", mig, attempt);
        (void)REDIS(NULL, "ZREM", PENDING, member);
    }

    /* Dead letters: how many the stream holds and how many were replayed. */
    int64_t held = -1, replayed = -1;
    CU_ASSERT_EQUAL(ferry_state_dead_letters_count(store, &held, &replayed, &err), FERRY_OK);
    CU_ASSERT_EQUAL(held, REDIS_INT("XLEN", "ferry:dead_letters"));
    CU_ASSERT_EQUAL(replayed, REDIS_INT("HLEN", "ferry:dead_letters:replayed"));
}

/* ------------------------------------------------------------------ indexes */

/* due(index, until, max) is exactly want[0..n). */
static void assert_due(ferry_state_index index, int64_t until, size_t max, const char *const *want,
                       size_t n)
{
    ferry_state_list list = {0};
    ferry_err err;
    CU_ASSERT_EQUAL_FATAL(ferry_state_due(store, index, until, max, &list, &err), FERRY_OK);
    CU_ASSERT_TRUE(list_is(&list, want, n));
    if (!list_is(&list, want, n))
        printf("\n  due(%d, %zu): %zu items, first %s", (int)index, max, list.count,
               list.count > 0 && list.items[0] != NULL ? list.items[0] : "-");
    ferry_state_list_cleanup(&list);
}

/* One index of "<mig> <step> <attempt>" members (pending, leases): due and drop. */
static void index_steps(ferry_state_index index, const char *key)
{
    ferry_err err;
    const char *mig = mig_new();
    char m1[160], m2[160], m3[160], m4[160];
    zadd(key, PAST + 30, member_of(mig, "s-1", m1, sizeof(m1)));
    zadd(key, PAST + 10, member_of(mig, "s-2", m2, sizeof(m2)));
    zadd(key, PAST + 20, member_of(mig, "s-3", m3, sizeof(m3)));
    zadd(key, PAST + 100, member_of(mig, "s-4", m4, sizeof(m4)));

    const char *in_order[] = {m2, m3, m1};
    assert_due(index, PAST + 50, 10, in_order, 3); /* earliest first; s-4 not due */
    assert_due(index, PAST + 50, 2, in_order, 2);  /* at most max */
    assert_due(index, PAST + 30, 10, in_order, 3); /* until is inclusive */
    assert_due(index, PAST + 5, 10, NULL, 0);

    CU_ASSERT_EQUAL(ferry_state_drop(store, index, m3, &err), FERRY_OK);
    CU_ASSERT_FALSE(zscore(key, m3, NULL));
    CU_ASSERT_TRUE(zscore(key, m1, NULL));
    const char *left[] = {m2, m1};
    assert_due(index, PAST + 50, 10, left, 2);
    CU_ASSERT_EQUAL(ferry_state_drop(store, index, m3, &err), FERRY_OK); /* again: harmless */
}

static void test_indexes(void)
{
    index_steps(FERRY_STATE_PENDING, PENDING);
    index_steps(FERRY_STATE_LEASES, LEASES);

    /* Timers hold migration ids. */
    ferry_err err;
    char t1[64], t2[64], t3[64];
    (void)snprintf(t1, sizeof(t1), "%s", mig_new());
    (void)snprintf(t2, sizeof(t2), "%s", mig_new());
    (void)snprintf(t3, sizeof(t3), "%s", mig_new());
    zadd(TIMERS, PAST + 200, t1);
    zadd(TIMERS, PAST + 100, t2);
    zadd(TIMERS, PAST + 900, t3);
    const char *timers[] = {t2, t1};
    assert_due(FERRY_STATE_TIMERS, PAST + 500, 10, timers, 2);
    assert_due(FERRY_STATE_TIMERS, PAST + 500, 1, timers, 1);
    CU_ASSERT_EQUAL(ferry_state_drop(store, FERRY_STATE_TIMERS, t2, &err), FERRY_OK);
    CU_ASSERT_FALSE(zscore(TIMERS, t2, NULL));
    const char *left[] = {t1};
    assert_due(FERRY_STATE_TIMERS, PAST + 500, 10, left, 1);

    /* No such index. */
    ferry_state_list list = {0};
    CU_ASSERT_EQUAL(ferry_state_due(store, (ferry_state_index)7, PAST, 10, &list, &err),
                    FERRY_ERR_INVALID);
    CU_ASSERT_EQUAL(list.count, 0);
    CU_ASSERT_EQUAL(ferry_state_drop(store, (ferry_state_index)7, t1, &err), FERRY_ERR_INVALID);
    CU_ASSERT_TRUE(zscore(TIMERS, t1, NULL));
}

/* ------------------------------------------------------------------ queued */

static void test_queued(void)
{
    ferry_err err;
    const char *mig = mig_new();
    const char *key = "ferry:queued:app";
    char m1[160], m2[160], m3[160];
    member_of(mig, "s-1", m1, sizeof(m1));
    member_of(mig, "s-2", m2, sizeof(m2));
    member_of(mig, "s-3", m3, sizeof(m3));

    int64_t n0 = -1, n = -1;
    CU_ASSERT_EQUAL_FATAL(ferry_state_queued_count(store, "app", &n0, &err), FERRY_OK);
    CU_ASSERT_TRUE(n0 >= 0);
    zadd(key, PAST + 10, m1);
    zadd(key, PAST + 20, m2);
    CU_ASSERT_EQUAL(ferry_state_queued_count(store, "app", &n, &err), FERRY_OK);
    CU_ASSERT_EQUAL(n, n0 + 2);

    ferry_state_list list = {0};
    const char *both[] = {m1, m2};
    CU_ASSERT_EQUAL_FATAL(ferry_state_queued_due(store, "app", PAST + 50, 10, &list, &err),
                          FERRY_OK);
    CU_ASSERT_TRUE(list_is(&list, both, 2));
    ferry_state_list_cleanup(&list);
    CU_ASSERT_EQUAL_FATAL(ferry_state_queued_due(store, "app", PAST + 15, 10, &list, &err),
                          FERRY_OK);
    CU_ASSERT_TRUE(list_is(&list, both, 1));
    ferry_state_list_cleanup(&list);
    CU_ASSERT_EQUAL_FATAL(ferry_state_queued_due(store, "app", PAST + 50, 1, &list, &err),
                          FERRY_OK);
    CU_ASSERT_TRUE(list_is(&list, both, 1));
    ferry_state_list_cleanup(&list);
    /* Another kind's queue does not hold them. */
    CU_ASSERT_EQUAL_FATAL(ferry_state_queued_due(store, "dns", PAST + 50, 10, &list, &err),
                          FERRY_OK);
    CU_ASSERT_EQUAL(list_find(&list, m1), -1);
    ferry_state_list_cleanup(&list);

    /* Touch: moves a queued member, never adds one. */
    int64_t score = 0;
    CU_ASSERT_EQUAL(ferry_state_queued_touch(store, "app", m1, PAST + 40, &err), FERRY_OK);
    CU_ASSERT_TRUE(zscore(key, m1, &score));
    CU_ASSERT_EQUAL(score, PAST + 40);
    const char *touched[] = {m2, m1};
    CU_ASSERT_EQUAL_FATAL(ferry_state_queued_due(store, "app", PAST + 50, 10, &list, &err),
                          FERRY_OK);
    CU_ASSERT_TRUE(list_is(&list, touched, 2));
    ferry_state_list_cleanup(&list);
    CU_ASSERT_EQUAL(ferry_state_queued_touch(store, "app", m3, PAST + 1, &err), FERRY_OK);
    CU_ASSERT_FALSE(zscore(key, m3, NULL));
    CU_ASSERT_EQUAL(ferry_state_queued_count(store, "app", &n, &err), FERRY_OK);
    CU_ASSERT_EQUAL(n, n0 + 2);

    /* Drop. */
    CU_ASSERT_EQUAL(ferry_state_queued_drop(store, "app", m2, &err), FERRY_OK);
    CU_ASSERT_FALSE(zscore(key, m2, NULL));
    CU_ASSERT_EQUAL(ferry_state_queued_count(store, "app", &n, &err), FERRY_OK);
    CU_ASSERT_EQUAL(n, n0 + 1);

    /* Every kind with a queue, and no other. */
    const char *kinds[] = {"dump_restore", "file_sync", "dns", "app"};
    for (size_t i = 0; i < 4; i++)
        CU_ASSERT_EQUAL(ferry_state_queued_count(store, kinds[i], &n, &err), FERRY_OK);
    const char *unknown[] = {"nope", "", "app ", "queued:app"};
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        CU_ASSERT_EQUAL(ferry_state_queued_due(store, unknown[i], PAST + 50, 10, &list, &err),
                        FERRY_ERR_INVALID);
        CU_ASSERT_EQUAL(list.count, 0);
        CU_ASSERT_EQUAL(ferry_state_queued_count(store, unknown[i], &n, &err), FERRY_ERR_INVALID);
        CU_ASSERT_EQUAL(ferry_state_queued_touch(store, unknown[i], m1, PAST, &err),
                        FERRY_ERR_INVALID);
        CU_ASSERT_EQUAL(ferry_state_queued_drop(store, unknown[i], m1, &err), FERRY_ERR_INVALID);
    }
    CU_ASSERT_EQUAL(ferry_state_queued_count(store, NULL, &n, &err), FERRY_ERR_INVALID);
    CU_ASSERT_TRUE(zscore(key, m1, NULL));
}

/* ------------------------------------------------------------------ limits */

static bool acquire(const char *mig, const char *step, const ferry_state_limit *limits, size_t n,
                    int64_t now)
{
    ferry_err err;
    bool got = false;
    ferry_rc rc = ferry_state_limits_acquire(store, mig, step, limits, n, now, &got, &err);
    CU_ASSERT_EQUAL(rc, FERRY_OK);
    if (rc != FERRY_OK)
        printf("\n  limits_acquire: %s", err.msg);
    return got;
}

static void test_limits(void)
{
    ferry_err err;
    const char *mig = mig_new();
    char one_name[64], two_name[64], one_key[FERRY_STATE_KEY_MAX], two_key[FERRY_STATE_KEY_MAX];
    char h1[160], h2[160], h3[160], buf[512], want[2 * FERRY_STATE_KEY_MAX + 2];
    (void)snprintf(one_name, sizeof(one_name), "%s", ferry_test_unique("state-lim"));
    (void)snprintf(two_name, sizeof(two_name), "%s", ferry_test_unique("state-lim"));
    (void)snprintf(one_key, sizeof(one_key), "ferry:limit:test:%s", one_name);
    (void)snprintf(two_key, sizeof(two_key), "ferry:limit:test:%s", two_name);
    remember_limit_key(one_key);
    remember_limit_key(two_key);
    (void)snprintf(h1, sizeof(h1), "%s s-1", mig);
    (void)snprintf(h2, sizeof(h2), "%s s-2", mig);
    (void)snprintf(h3, sizeof(h3), "%s s-3", mig);
    step_put(mig, "s-1", "dispatched", 1);
    step_put(mig, "s-2", "dispatched", 1);
    step_put(mig, "s-3", "dispatched", 1);
    int64_t now = 0, score = 0;
    CU_ASSERT_EQUAL_FATAL(ferry_state_now(store, &now, &err), FERRY_OK);
    const ferry_state_limit one[] = {{"test", one_name, 1}};

    /* The first holder gets the slot; the step records it; the key is listed for the sweep. */
    CU_ASSERT_TRUE(acquire(mig, "s-1", one, 1, now));
    CU_ASSERT_STRING_EQUAL(step_field(mig, "s-1", "limits", buf, sizeof(buf)), one_key);
    CU_ASSERT_TRUE(zscore(one_key, h1, &score));
    CU_ASSERT_EQUAL(score, now);
    CU_ASSERT_TRUE(set_has(LIMIT_KEYS, one_key));

    /* Full for another step, nothing written; the same step again is fine. */
    CU_ASSERT_FALSE(acquire(mig, "s-2", one, 1, now + 1));
    CU_ASSERT_STRING_EQUAL(step_field(mig, "s-2", "limits", buf, sizeof(buf)), "");
    CU_ASSERT_FALSE(zscore(one_key, h2, NULL));
    CU_ASSERT_TRUE(acquire(mig, "s-1", one, 1, now + 2));
    CU_ASSERT_EQUAL(REDIS_INT("ZCARD", one_key), 1);

    /* All or none: the free limit is not taken when the other is full. */
    const ferry_state_limit two[] = {{"test", two_name, 5}, {"test", one_name, 1}};
    CU_ASSERT_FALSE(acquire(mig, "s-3", two, 2, now + 3));
    CU_ASSERT_FALSE(zscore(two_key, h3, NULL));
    CU_ASSERT_EQUAL(REDIS_INT("EXISTS", two_key), 0);

    /* Released: the next one gets it. */
    CU_ASSERT_EQUAL(ferry_state_limits_release(store, mig, "s-1", &err), FERRY_OK);
    CU_ASSERT_FALSE(zscore(one_key, h1, NULL));
    CU_ASSERT_TRUE(acquire(mig, "s-2", one, 1, now + 4));
    CU_ASSERT_TRUE(zscore(one_key, h2, NULL));
    CU_ASSERT_EQUAL(ferry_state_limits_release(store, mig, "s-2", &err), FERRY_OK);
    CU_ASSERT_TRUE(acquire(mig, "s-3", two, 2, now + 5));
    CU_ASSERT_TRUE(zscore(two_key, h3, NULL));
    CU_ASSERT_TRUE(zscore(one_key, h3, NULL));
    (void)snprintf(want, sizeof(want), "%s %s", two_key, one_key);
    CU_ASSERT_STRING_EQUAL(step_field(mig, "s-3", "limits", buf, sizeof(buf)), want);
    CU_ASSERT_TRUE(set_has(LIMIT_KEYS, two_key));
    CU_ASSERT_EQUAL(ferry_state_limits_release(store, mig, "s-3", &err), FERRY_OK);
    CU_ASSERT_EQUAL(REDIS_INT("ZCARD", one_key), 0);
    CU_ASSERT_EQUAL(REDIS_INT("ZCARD", two_key), 0);
    /* Releasing what a step does not hold is harmless. */
    CU_ASSERT_EQUAL(ferry_state_limits_release(store, mig, "s-9", &err), FERRY_OK);

    /* Bad input: refused, nothing taken. */
    bool got = true;
    CU_ASSERT_EQUAL(ferry_state_limits_acquire(store, mig, "s-1", one, 0, now, &got, &err),
                    FERRY_ERR_INVALID);
    CU_ASSERT_FALSE(got);
    const ferry_state_limit four[] = {one[0], one[0], one[0], one[0]};
    CU_ASSERT_EQUAL(ferry_state_limits_acquire(store, mig, "s-1", four, 4, now, &got, &err),
                    FERRY_ERR_INVALID);
    const ferry_state_limit spaced[] = {{"test", "has space", 1}};
    got = true;
    CU_ASSERT_EQUAL(ferry_state_limits_acquire(store, mig, "s-1", spaced, 1, now, &got, &err),
                    FERRY_ERR_INVALID);
    CU_ASSERT_FALSE(got);
    const ferry_state_limit later_bad[] = {{"test", one_name, 1}, {"test", "has space", 1}};
    got = true;
    CU_ASSERT_EQUAL(ferry_state_limits_acquire(store, mig, "s-1", later_bad, 2, now, &got, &err),
                    FERRY_ERR_INVALID);
    CU_ASSERT_FALSE(got);
    CU_ASSERT_EQUAL(REDIS_INT("ZCARD", one_key), 0);
    CU_ASSERT_EQUAL(ferry_state_limits_acquire(store, "bad id", "s-1", one, 1, now, &got, &err),
                    FERRY_ERR_INVALID);
    CU_ASSERT_EQUAL(ferry_state_limits_release(store, mig, "bad step", &err), FERRY_ERR_INVALID);
}

/* The states in which a step has ended (as the coordinator's sweep says), and what was asked. */
static bool saw_ended, saw_active;

static bool step_ended(const char *state)
{
    static const char *const final[] = {"succeeded", "failed", "released", "expired", "canceled"};
    for (size_t i = 0; i < sizeof(final) / sizeof(final[0]); i++) {
        if (strcmp(state, final[i]) == 0) {
            saw_ended = true;
            return true;
        }
    }
    saw_active = true;
    return false;
}

static void test_limits_sweep(void)
{
    ferry_err err;
    const char *mig = mig_new();
    char name[64], key[FERRY_STATE_KEY_MAX], ended[160], gone[160], active[160];
    (void)snprintf(name, sizeof(name), "%s", ferry_test_unique("state-lim"));
    (void)snprintf(key, sizeof(key), "ferry:limit:test:%s", name);
    remember_limit_key(key);
    (void)snprintf(ended, sizeof(ended), "%s s-1", mig);
    (void)snprintf(gone, sizeof(gone), "%s s-2", mig);
    (void)snprintf(active, sizeof(active), "%s s-3", mig);
    int64_t now = 0;
    CU_ASSERT_EQUAL_FATAL(ferry_state_now(store, &now, &err), FERRY_OK);
    const ferry_state_limit lim[] = {{"test", name, 10}};
    step_put(mig, "s-1", "running", 1);
    step_put(mig, "s-2", "running", 1);
    step_put(mig, "s-3", "running", 1);
    CU_ASSERT_TRUE_FATAL(acquire(mig, "s-1", lim, 1, now));
    CU_ASSERT_TRUE_FATAL(acquire(mig, "s-2", lim, 1, now));
    CU_ASSERT_TRUE_FATAL(acquire(mig, "s-3", lim, 1, now));
    CU_ASSERT_EQUAL_FATAL(REDIS_INT("ZCARD", key), 3);

    /* s-1 ended without giving its slot back; s-2's record is gone; s-3 still runs. */
    char k1[FERRY_STATE_KEY_MAX], k2[FERRY_STATE_KEY_MAX];
    step_key(mig, "s-1", k1, sizeof(k1));
    step_key(mig, "s-2", k2, sizeof(k2));
    CU_ASSERT_EQUAL_FATAL(REDIS(NULL, "HSET", k1, "state", "succeeded"), FERRY_OK);
    CU_ASSERT_EQUAL_FATAL(REDIS(NULL, "DEL", k2), FERRY_OK);

    saw_ended = saw_active = false;
    CU_ASSERT_EQUAL(ferry_state_limits_sweep(store, step_ended, &err), FERRY_OK);
    CU_ASSERT_TRUE(saw_ended);
    CU_ASSERT_TRUE(saw_active);
    CU_ASSERT_FALSE(zscore(key, ended, NULL));
    CU_ASSERT_FALSE(zscore(key, gone, NULL));
    CU_ASSERT_TRUE(zscore(key, active, NULL));
    CU_ASSERT_EQUAL(REDIS_INT("ZCARD", key), 1);
    CU_ASSERT_FALSE(key_exists(k2)); /* the sweep did not bring the record back */
}

/* ------------------------------------------------------------------ leader */

/* The current holder of the lease into out ("" when none). */
static const char *leader_now(char *out, size_t outsz)
{
    ferry_store_reply *r = NULL;
    out[0] = '\0';
    if (REDIS(&r, "GET", LEADER) == FERRY_OK && ferry_store_reply_str(r) != NULL)
        (void)snprintf(out, outsz, "%s", ferry_store_reply_str(r));
    ferry_store_reply_free(r);
    return out;
}

static void test_leader(void)
{
    ferry_err err;
    char holder[FERRY_STORE_NAME_MAX + 1], cur[FERRY_STORE_NAME_MAX + 1];
    char a[64], b[64];
    (void)snprintf(a, sizeof(a), "%s", name_new("state-coord", leaders, &n_leaders, 4));
    (void)snprintf(b, sizeof(b), "%s", name_new("state-coord", leaders, &n_leaders, 4));

    /* A coordinator that stopped just before leaves its lease (5 s at least) behind: wait it
     * out. One that still runs makes this test meaningless: it fails, saying so. */
    int64_t deadline = ferry_mono_ms() + 15000;
    while (leader_now(cur, sizeof(cur))[0] != '\0' && ferry_mono_ms() < deadline)
        ferry_sleep_ms(50);
    if (cur[0] != '\0')
        printf("\n  the leader lease is held by %s: a coordinator runs against this Redis", cur);
    CU_ASSERT_STRING_EQUAL_FATAL(cur, "");

    /* A leads; renewing keeps it. */
    bool leading = false;
    CU_ASSERT_EQUAL_FATAL(ferry_state_lead(store, a, 200, &leading, holder, sizeof(holder), &err),
                          FERRY_OK);
    CU_ASSERT_TRUE(leading);
    CU_ASSERT_STRING_EQUAL(holder, a);
    CU_ASSERT_STRING_EQUAL(leader_now(cur, sizeof(cur)), a);
    long long ttl = REDIS_INT("PTTL", LEADER);
    CU_ASSERT_TRUE(ttl > 0 && ttl <= 200);
    CU_ASSERT_EQUAL(ferry_state_lead(store, a, 200, &leading, holder, sizeof(holder), &err),
                    FERRY_OK);
    CU_ASSERT_TRUE(leading);
    int64_t renewed = ferry_mono_ms();

    /* B is refused and told who leads. */
    leading = true;
    CU_ASSERT_EQUAL(ferry_state_lead(store, b, 200, &leading, holder, sizeof(holder), &err),
                    FERRY_OK);
    CU_ASSERT_FALSE(leading);
    CU_ASSERT_STRING_EQUAL(holder, a);
    CU_ASSERT_STRING_EQUAL(leader_now(cur, sizeof(cur)), a);

    /* A stops renewing: once the lease ran out, B takes over and A stands by. */
    ferry_sleep_ms(200 - (ferry_mono_ms() - renewed) + 30);
    CU_ASSERT_EQUAL(ferry_state_lead(store, b, 200, &leading, holder, sizeof(holder), &err),
                    FERRY_OK);
    CU_ASSERT_TRUE(leading);
    CU_ASSERT_STRING_EQUAL(holder, b);
    CU_ASSERT_EQUAL(ferry_state_lead(store, a, 200, &leading, holder, sizeof(holder), &err),
                    FERRY_OK);
    CU_ASSERT_FALSE(leading);
    CU_ASSERT_STRING_EQUAL(holder, b);
    /* A holder buffer too small is cut, not overrun. */
    char tiny[4] = "xyz";
    CU_ASSERT_EQUAL(ferry_state_lead(store, a, 200, &leading, tiny, sizeof(tiny), &err), FERRY_OK);
    CU_ASSERT_EQUAL(strlen(tiny), 3);
    CU_ASSERT_EQUAL(strncmp(tiny, b, 3), 0);
    if (strcmp(leader_now(cur, sizeof(cur)), b) == 0)
        CU_ASSERT_EQUAL(REDIS(NULL, "DEL", LEADER), FERRY_OK);
}

/* ------------------------------------------------------------------ workers */

static const ferry_state_worker *worker_find(const ferry_state_workers *w, const char *id,
                                             size_t *index)
{
    for (size_t i = 0; i < w->count; i++) {
        if (w->items[i].id != NULL && strcmp(w->items[i].id, id) == 0) {
            if (index != NULL)
                *index = i;
            return &w->items[i];
        }
    }
    return NULL;
}

static void test_workers(void)
{
    ferry_err err;
    char w1[64], w2[64], k1[FERRY_STATE_KEY_MAX], k2[FERRY_STATE_KEY_MAX];
    (void)snprintf(w1, sizeof(w1), "%s", name_new("state-w", workers, &n_workers, 8));
    (void)snprintf(w2, sizeof(w2), "%s", name_new("state-w", workers, &n_workers, 8));
    (void)snprintf(k1, sizeof(k1), "ferry:worker:%s", w1);
    (void)snprintf(k2, sizeof(k2), "ferry:worker:%s", w2);

    /* Beats scored at 1970 + 1 s and + 2 s: below every real worker's, so that forgetting the
     * old ones here touches nothing else. */
    const ferry_state_beat b1 = {.id = w1,
                                 .kind = "dns",
                                 .host = "host-1",
                                 .pid = 4242,
                                 .capacity = 4,
                                 .running = 1,
                                 .started_at = 500,
                                 .steps = "shop.test/ttl-1 shop.test/ttl-2",
                                 .at = 1000,
                                 .expire_ms = 60000};
    const ferry_state_beat b2 = {.id = w2,
                                 .kind = "app",
                                 .host = "host-2",
                                 .pid = 77,
                                 .capacity = 2,
                                 .running = 0,
                                 .started_at = 600,
                                 .steps = NULL,
                                 .at = 2000,
                                 .expire_ms = 150};
    CU_ASSERT_EQUAL_FATAL(ferry_state_worker_beat(store, &b1, &err), FERRY_OK);
    CU_ASSERT_EQUAL_FATAL(ferry_state_worker_beat(store, &b2, &err), FERRY_OK);
    long long ttl1 = REDIS_INT("PTTL", k1), ttl2 = REDIS_INT("PTTL", k2);
    CU_ASSERT_TRUE(ttl1 > 150 && ttl1 <= 60000);
    CU_ASSERT_TRUE(ttl2 > 0 && ttl2 <= 150);

    /* Both, oldest beat first, with their fields. */
    ferry_state_workers ws = {0};
    size_t i1 = 0, i2 = 0;
    CU_ASSERT_EQUAL_FATAL(ferry_state_workers_since(store, 0, &ws, &err), FERRY_OK);
    const ferry_state_worker *x1 = worker_find(&ws, w1, &i1), *x2 = worker_find(&ws, w2, &i2);
    CU_ASSERT_TRUE(x1 != NULL && x2 != NULL && i1 < i2);
    CU_ASSERT_TRUE(x1 != NULL && x1->heartbeat_at == 1000 && x1->rec != NULL);
    CU_ASSERT_TRUE(x2 != NULL && x2->heartbeat_at == 2000 && x2->rec != NULL);
    const ferry_store_record *r1 = x1 != NULL ? x1->rec : NULL;
    const ferry_store_record *r2 = x2 != NULL ? x2->rec : NULL;
    VALUE_IS(r1, "kind", "dns");
    VALUE_IS(r1, "capacity", "4");
    VALUE_IS(r1, "running", "1");
    VALUE_IS(r1, "host", "host-1");
    VALUE_IS(r1, "pid", "4242");
    VALUE_IS(r1, "started_at", "500");
    VALUE_IS(r1, "heartbeat_at", "1000");
    VALUE_IS(r1, "steps", "shop.test/ttl-1 shop.test/ttl-2");
    VALUE_IS(r2, "kind", "app");
    VALUE_IS(r2, "capacity", "2");
    VALUE_IS(r2, "running", "0");
    VALUE_IS(r2, "heartbeat_at", "2000");
    VALUE_IS(r2, "steps", "");
    ferry_state_workers_cleanup(&ws);
    CU_ASSERT_EQUAL(ws.count, 0);

    /* since filters by the beat. */
    CU_ASSERT_EQUAL_FATAL(ferry_state_workers_since(store, 1500, &ws, &err), FERRY_OK);
    CU_ASSERT_PTR_NULL(worker_find(&ws, w1, NULL));
    CU_ASSERT_PTR_NOT_NULL(worker_find(&ws, w2, NULL));
    ferry_state_workers_cleanup(&ws);

    /* w2's record expires; the index still names it, without a record. */
    int64_t until = ferry_mono_ms() + 5000;
    while (key_exists(k2) && ferry_mono_ms() < until)
        ferry_sleep_ms(20);
    CU_ASSERT_FALSE(key_exists(k2));
    CU_ASSERT_EQUAL_FATAL(ferry_state_workers_since(store, 1500, &ws, &err), FERRY_OK);
    x2 = worker_find(&ws, w2, NULL);
    CU_ASSERT_PTR_NOT_NULL(x2);
    CU_ASSERT_TRUE(x2 != NULL && x2->rec == NULL && x2->heartbeat_at == 2000);
    ferry_state_workers_cleanup(&ws);

    /* Forgetting those heard of before 1.5 s drops w1 only. */
    CU_ASSERT_EQUAL(ferry_state_workers_forget(store, 1500, &err), FERRY_OK);
    CU_ASSERT_FALSE(zscore(WORKERS, w1, NULL));
    CU_ASSERT_TRUE(zscore(WORKERS, w2, NULL));
    CU_ASSERT_EQUAL_FATAL(ferry_state_workers_since(store, 0, &ws, &err), FERRY_OK);
    CU_ASSERT_PTR_NULL(worker_find(&ws, w1, NULL));
    ferry_state_workers_cleanup(&ws);

    /* Gone: index and record. */
    CU_ASSERT_EQUAL(ferry_state_worker_gone(store, w2, &err), FERRY_OK);
    CU_ASSERT_FALSE(zscore(WORKERS, w2, NULL));
    CU_ASSERT_EQUAL(ferry_state_worker_gone(store, w1, &err), FERRY_OK);
    CU_ASSERT_FALSE(key_exists(k1));

    /* A bad id. */
    ferry_state_beat bad = b1;
    bad.id = "has space";
    CU_ASSERT_EQUAL(ferry_state_worker_beat(store, &bad, &err), FERRY_ERR_INVALID);
    CU_ASSERT_EQUAL(ferry_state_worker_gone(store, "has space", &err), FERRY_ERR_INVALID);
    CU_ASSERT_EQUAL(ferry_state_worker_gone(store, "", &err), FERRY_ERR_INVALID);
}

/* ------------------------------------------------------------------ dead letters */

static const ferry_store_entry *letter_find(const ferry_store_entries *ents, const char *reason,
                                            size_t *index)
{
    for (size_t i = 0; ents != NULL && i < ents->count; i++) {
        const char *r = ferry_store_record_value(&ents->entries[i].fields, "reason");
        if (r != NULL && strcmp(r, reason) == 0) {
            if (index != NULL)
                *index = i;
            return &ents->entries[i];
        }
    }
    return NULL;
}

static void test_dead_letters(void)
{
    ferry_err err;
    char reason1[96], reason2[96], topic[96];
    (void)snprintf(reason1, sizeof(reason1), "decode failed %s", ferry_test_unique("state-dl"));
    (void)snprintf(reason2, sizeof(reason2), "decode failed %s", ferry_test_unique("state-dl"));
    (void)snprintf(topic, sizeof(topic), "ferry.test.%s", ferry_test_unique("state-dl"));

    /* Bytes with NULs, in buffers of exactly their length (nothing to read past them). */
    static const unsigned char payload_bytes[] = {'p', 0, 'a', 0xff, 0, 'y', '\n', 0x01, 0};
    static const unsigned char key_bytes[] = {'k', 0, 0xfe, 'y'};
    unsigned char *payload = malloc(sizeof(payload_bytes));
    unsigned char *key = malloc(sizeof(key_bytes));
    /* And a payload without any NUL, for the second letter. */
    size_t plain_len = 300;
    char *plain = malloc(plain_len);
    CU_ASSERT_FATAL(payload != NULL && key != NULL && plain != NULL);
    memcpy(payload, payload_bytes, sizeof(payload_bytes));
    memcpy(key, key_bytes, sizeof(key_bytes));
    memset(plain, 'x', plain_len);

    const ferry_state_dead_letter dl1 = {.topic = topic,
                                         .partition = 3,
                                         .offset = INT64_C(1234567890123),
                                         .key = (const char *)key,
                                         .key_len = sizeof(key_bytes),
                                         .reason = reason1,
                                         .consumer = "state-test",
                                         .at = INT64_C(1733300000000),
                                         .payload = payload,
                                         .payload_len = sizeof(payload_bytes)};
    const ferry_state_dead_letter dl2 = {.topic = topic,
                                         .partition = 0,
                                         .offset = 7,
                                         .reason = reason2,
                                         .consumer = "state-test",
                                         .at = INT64_C(1733300000001),
                                         .payload = plain,
                                         .payload_len = plain_len};
    CU_ASSERT_EQUAL_FATAL(ferry_state_dead_letter_add(store, &dl1, &err), FERRY_OK);
    CU_ASSERT_EQUAL_FATAL(ferry_state_dead_letter_add(store, &dl2, &err), FERRY_OK);

    /* Newest first, bytes intact. */
    ferry_store_entries *ents = NULL;
    size_t i1 = 0, i2 = 0;
    CU_ASSERT_EQUAL_FATAL(ferry_state_dead_letters(store, 1000, &ents, &err), FERRY_OK);
    const ferry_store_entry *e1 = letter_find(ents, reason1, &i1);
    const ferry_store_entry *e2 = letter_find(ents, reason2, &i2);
    if (e1 != NULL && n_dead_ids < 8)
        (void)snprintf(dead_ids[n_dead_ids++], sizeof(dead_ids[0]), "%s", e1->id);
    if (e2 != NULL && n_dead_ids < 8)
        (void)snprintf(dead_ids[n_dead_ids++], sizeof(dead_ids[0]), "%s", e2->id);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e2);
    CU_ASSERT_TRUE(i2 < i1);
    CU_ASSERT_TRUE(id_before(e1->id, e2->id));
    for (size_t i = 1; i < ents->count; i++)
        CU_ASSERT_TRUE(id_before(ents->entries[i].id, ents->entries[i - 1].id));
    const ferry_store_record *f = &e1->fields;
    VALUE_IS(f, "topic", topic);
    VALUE_IS(f, "partition", "3");
    VALUE_IS(f, "offset", "1234567890123");
    VALUE_IS(f, "consumer", "state-test");
    VALUE_IS(f, "at", "1733300000000");
    CU_ASSERT_TRUE(bytes_are(f, "payload", payload_bytes, sizeof(payload_bytes)));
    CU_ASSERT_TRUE(bytes_are(f, "key", key_bytes, sizeof(key_bytes)));
    CU_ASSERT_TRUE(bytes_are(&e2->fields, "payload", plain, plain_len));
    CU_ASSERT_TRUE(bytes_are(&e2->fields, "key", "", 0));
    char id1[48], id2[48];
    (void)snprintf(id1, sizeof(id1), "%s", e1->id);
    (void)snprintf(id2, sizeof(id2), "%s", e2->id);
    ferry_store_entries_free(ents);
    ents = NULL;

    /* By id. */
    CU_ASSERT_EQUAL_FATAL(ferry_state_dead_letter_get(store, id1, &ents, &err), FERRY_OK);
    CU_ASSERT_EQUAL_FATAL(ents->count, 1);
    CU_ASSERT_STRING_EQUAL(ents->entries[0].id, id1);
    VALUE_IS(&ents->entries[0].fields, "reason", reason1);
    CU_ASSERT_TRUE(
        bytes_are(&ents->entries[0].fields, "payload", payload_bytes, sizeof(payload_bytes)));
    ferry_store_entries_free(ents);
    ents = NULL;
    const char *unknown[] = {"0-1", "nope", "1 2", "", "-", "+"};
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        ferry_rc rc = ferry_state_dead_letter_get(store, unknown[i], &ents, &err);
        CU_ASSERT_EQUAL(rc, FERRY_ERR_NOT_FOUND);
        if (rc != FERRY_ERR_NOT_FOUND)
            printf("\n  dead_letter_get('%s'): %s", unknown[i], ferry_rc_str(rc));
        CU_ASSERT_PTR_NULL(ents);
        ferry_store_entries_free(ents);
        ents = NULL;
    }

    /* Replayed: recorded with its time, read back. */
    bool replayed = true;
    CU_ASSERT_EQUAL(ferry_state_dead_letter_was_replayed(store, id1, &replayed, &err), FERRY_OK);
    CU_ASSERT_FALSE(replayed);
    CU_ASSERT_EQUAL(ferry_state_dead_letter_replayed(store, id1, INT64_C(1733300000500), &err),
                    FERRY_OK);
    CU_ASSERT_EQUAL(ferry_state_dead_letter_was_replayed(store, id1, &replayed, &err), FERRY_OK);
    CU_ASSERT_TRUE(replayed);
    char buf[32];
    CU_ASSERT_STRING_EQUAL(hget(DEAD_REPLAYD, id1, buf, sizeof(buf)), "1733300000500");
    CU_ASSERT_EQUAL(ferry_state_dead_letter_was_replayed(store, id2, &replayed, &err), FERRY_OK);
    CU_ASSERT_FALSE(replayed);
    free(payload);
    free(key);
    free(plain);
}

/* n bytes that end where an unreadable page begins: reading one byte past them faults. Unmap
 * *base (*len bytes) when done; NULL when mmap failed. */
static unsigned char *guarded(size_t n, void **base, size_t *len)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t pages = (n + page - 1) / page + 1;
    *len = pages * page;
    *base = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (*base == MAP_FAILED) {
        *base = NULL;
        return NULL;
    }
    unsigned char *guard = (unsigned char *)*base + (pages - 1) * page;
    if (mprotect(guard, page, PROT_NONE) != 0) {
        (void)munmap(*base, *len);
        *base = NULL;
        return NULL;
    }
    return guard - n;
}

/* The key and payload are bytes of a given length, not strings: nothing past them is read. A
 * payload without any NUL, right before an unreadable page, is added by a child process (which
 * a fault would kill, and which has its own connection). */
static void test_dead_letter_bytes(void)
{
    ferry_err err;
    char reason[96];
    (void)snprintf(reason, sizeof(reason), "decode failed %s", ferry_test_unique("state-dl"));
    void *pbase = NULL, *kbase = NULL;
    size_t plen = 0, klen = 0, n = 5000;
    unsigned char *payload = guarded(n, &pbase, &plen);
    unsigned char *key = guarded(7, &kbase, &klen);
    CU_ASSERT_FATAL(payload != NULL && key != NULL);
    memset(payload, 'z', n);
    memcpy(key, "key-123", 7);
    const ferry_state_dead_letter dl = {.topic = "ferry.test.bytes",
                                        .key = (const char *)key,
                                        .key_len = 7,
                                        .reason = reason,
                                        .consumer = "state-test",
                                        .at = INT64_C(1733300000002),
                                        .payload = payload,
                                        .payload_len = n};
    (void)fflush(stdout);
    (void)fflush(stderr);
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        const ferry_cfg *cfg = ferry_test_cfg();
        ferry_store *own = NULL;
        if (cfg == NULL ||
            ferry_store_open(ferry_cfg_str(cfg, "redis.url"), ferry_cfg_str(cfg, "redis.password"),
                             5000, &own, &err) != FERRY_OK)
            _exit(2);
        ferry_rc rc = ferry_state_dead_letter_add(own, &dl, &err);
        ferry_store_close(own);
        _exit(rc == FERRY_OK ? 0 : 1);
    }
    int status = 0;
    CU_ASSERT_EQUAL_FATAL(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status))
        printf("\n  ferry_state_dead_letter_add killed by signal %d: it read past the bytes",
               WTERMSIG(status));
    CU_ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    /* When it was added: whole. */
    ferry_store_entries *ents = NULL;
    CU_ASSERT_EQUAL_FATAL(ferry_state_dead_letters(store, 1000, &ents, &err), FERRY_OK);
    const ferry_store_entry *e = letter_find(ents, reason, NULL);
    if (e != NULL && n_dead_ids < sizeof(dead_ids) / sizeof(dead_ids[0]))
        (void)snprintf(dead_ids[n_dead_ids++], sizeof(dead_ids[0]), "%s", e->id);
    CU_ASSERT_EQUAL(e != NULL, WIFEXITED(status) && WEXITSTATUS(status) == 0);
    if (e != NULL) {
        CU_ASSERT_TRUE(bytes_are(&e->fields, "payload", payload, n));
        CU_ASSERT_TRUE(bytes_are(&e->fields, "key", "key-123", 7));
    }
    ferry_store_entries_free(ents);
    (void)munmap(pbase, plen);
    (void)munmap(kbase, klen);
}

/* An entry id is "<ms>-<seq>": the time alone names no dead letter (XRANGE would take it for
 * the first entry of that millisecond). */
static void test_dead_letter_whole_ids(void)
{
    ferry_err err;
    char reason[96], ms[32];
    (void)snprintf(reason, sizeof(reason), "decode failed %s", ferry_test_unique("state-dl"));
    const ferry_state_dead_letter dl = {.topic = "ferry.test.ids",
                                        .reason = reason,
                                        .consumer = "state-test",
                                        .at = INT64_C(1733300000003),
                                        .payload = "x",
                                        .payload_len = 1};
    CU_ASSERT_EQUAL_FATAL(ferry_state_dead_letter_add(store, &dl, &err), FERRY_OK);
    ferry_store_entries *ents = NULL;
    CU_ASSERT_EQUAL_FATAL(ferry_state_dead_letters(store, 1000, &ents, &err), FERRY_OK);
    const ferry_store_entry *e = letter_find(ents, reason, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    if (n_dead_ids < sizeof(dead_ids) / sizeof(dead_ids[0]))
        (void)snprintf(dead_ids[n_dead_ids++], sizeof(dead_ids[0]), "%s", e->id);
    (void)snprintf(ms, sizeof(ms), "%.*s", (int)strcspn(e->id, "-"), e->id);
    ferry_store_entries_free(ents);
    ents = NULL;

    ferry_rc rc = ferry_state_dead_letter_get(store, ms, &ents, &err);
    if (rc == FERRY_OK)
        printf("\n  dead_letter_get('%s') gave entry %s", ms,
               ents->count > 0 ? ents->entries[0].id : "-");
    CU_ASSERT_EQUAL(rc, FERRY_ERR_NOT_FOUND);
    CU_ASSERT_TRUE(rc != FERRY_OK || (ents->count == 1 && strcmp(ents->entries[0].id, ms) == 0));
    ferry_store_entries_free(ents);
}

/* ------------------------------------------------------------------ events */

static void test_event_step(void)
{
    char n_mig[] = "migration", v_mig[] = "shop.test", n_entity[] = "entity";
    char v_step[] = "step:dr-1", v_mig_rec[] = "migration", v_bare[] = "step:";
    ferry_store_pair pairs[2] = {{n_mig, v_mig, sizeof(v_mig) - 1}, {n_entity, v_step, 9}};
    ferry_store_record ev = {2, pairs};
    const char *step = ferry_state_event_step(&ev);
    CU_ASSERT_PTR_NOT_NULL_FATAL(step);
    CU_ASSERT_STRING_EQUAL(step, "dr-1");
    CU_ASSERT_PTR_EQUAL(step, v_step + 5); /* borrowed from the event */

    pairs[1].value = v_mig_rec;
    CU_ASSERT_PTR_NULL(ferry_state_event_step(&ev));
    pairs[1].value = v_bare;
    CU_ASSERT_PTR_NULL(ferry_state_event_step(&ev));
    ev.count = 1; /* no entity */
    CU_ASSERT_PTR_NULL(ferry_state_event_step(&ev));
    CU_ASSERT_PTR_NULL(ferry_state_event_step(NULL));
}

static void test_events_group(void)
{
    ferry_err err;
    /* An event of our own, so that the stream is not empty. */
    const char *mig = mig_new();
    const char *const from[] = {FERRY_STATE_ABSENT};
    ferry_state_change c = {.migration = mig,
                            .entity = "step:s-1",
                            .from = from,
                            .n_from = 1,
                            .expect_attempt = -1,
                            .to = "pending",
                            .new_attempt = 1,
                            .actor = "test-state",
                            .what = "created"};
    ferry_state_result res;
    CU_ASSERT_EQUAL_FATAL(ferry_state_transition(store, &c, &res, &err), FERRY_OK);

    (void)snprintf(events_group, sizeof(events_group), "%s", ferry_test_unique("state-g"));
    CU_ASSERT_EQUAL_FATAL(ferry_state_events_join(store, events_group, &err), FERRY_OK);
    CU_ASSERT_EQUAL(ferry_state_events_join(store, events_group, &err), FERRY_OK);

    /* The group starts with the events still in the stream: the oldest comes first. */
    ferry_store_entries *first = NULL, *oldest = NULL, *pending = NULL;
    CU_ASSERT_EQUAL_FATAL(ferry_store_range(store, EVENTS, false, "-", "+", 1, &oldest, &err),
                          FERRY_OK);
    CU_ASSERT_EQUAL_FATAL(
        ferry_state_events_read(store, events_group, "c1", false, 1, 0, &first, &err), FERRY_OK);
    CU_ASSERT_EQUAL_FATAL(first->count, 1);
    CU_ASSERT_EQUAL_FATAL(oldest->count, 1);
    CU_ASSERT_STRING_EQUAL(first->entries[0].id, oldest->entries[0].id);

    /* Delivered and not acknowledged: this consumer's pending; acknowledged: gone from it. */
    CU_ASSERT_EQUAL_FATAL(
        ferry_state_events_read(store, events_group, "c1", true, 10, 0, &pending, &err), FERRY_OK);
    CU_ASSERT_TRUE(pending->count == 1 &&
                   strcmp(pending->entries[0].id, first->entries[0].id) == 0);
    ferry_store_entries_free(pending);
    pending = NULL;
    CU_ASSERT_EQUAL(ferry_state_events_ack(store, events_group, first->entries[0].id, &err),
                    FERRY_OK);
    CU_ASSERT_EQUAL_FATAL(
        ferry_state_events_read(store, events_group, "c1", true, 10, 0, &pending, &err), FERRY_OK);
    CU_ASSERT_EQUAL(pending->count, 0);
    ferry_store_entries_free(pending);
    ferry_store_entries_free(first);
    ferry_store_entries_free(oldest);
}

/* ------------------------------------------------------------------ refuse */

static void test_refuse(void)
{
    ferry_err err, why;
    const char *mig = mig_new();
    char buf[512], k3[FERRY_STATE_KEY_MAX];
    step_put(mig, "s-1", "pending", 1);
    (void)ferry_err_set(&why, FERRY_ERR_INVALID,
                        "environment 'test' is gone from the spec of "
                        "postgresql://ferry:hunter2secret@db/shop");
    ferry_step_ref ref = {.migration = mig, .step = "s-1", .attempt = 1};

    /* Pending at its attempt: failed for good, with its error, and the event. */
    CU_ASSERT_EQUAL_FATAL(ferry_steps_refuse(store, &ref, "coordinator", &why, &err), FERRY_OK);
    CU_ASSERT_STRING_EQUAL(step_field(mig, "s-1", "state", buf, sizeof(buf)), "failed");
    CU_ASSERT_STRING_EQUAL(step_field(mig, "s-1", "attempt", buf, sizeof(buf)), "1");
    (void)snprintf(buf, sizeof(buf), "%d", (int)FERRY_ERR_INVALID);
    char code[512];
    CU_ASSERT_STRING_EQUAL(step_field(mig, "s-1", "error_code", code, sizeof(code)), buf);
    CU_ASSERT_STRING_EQUAL(step_field(mig, "s-1", "error_name", buf, sizeof(buf)),
                           ferry_rc_str(FERRY_ERR_INVALID));
    CU_ASSERT_STRING_EQUAL(step_field(mig, "s-1", "error_retryable", buf, sizeof(buf)), "0");
    step_field(mig, "s-1", "error_message", buf, sizeof(buf));
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "environment 'test' is gone"));
    CU_ASSERT_PTR_NULL(strstr(buf, "hunter2secret"));
    CU_ASSERT_EQUAL(history_len(mig), 1);
    ferry_store_entries *h = NULL;
    CU_ASSERT_EQUAL_FATAL(ferry_state_history(store, mig, 1, &h, &err), FERRY_OK);
    CU_ASSERT_EQUAL_FATAL(h->count, 1);
    const ferry_store_record *e = &h->entries[0].fields;
    VALUE_IS(e, "migration", mig);
    VALUE_IS(e, "entity", "step:s-1");
    VALUE_IS(e, "from", "pending");
    VALUE_IS(e, "to", "failed");
    VALUE_IS(e, "attempt", "1");
    VALUE_IS(e, "actor", "coordinator");
    VALUE_IS(e, "what", "unbuildable");
    const char *step = ferry_state_event_step(e);
    CU_ASSERT_TRUE(step != NULL && strcmp(step, "s-1") == 0);
    ferry_store_entries_free(h);

    /* Again: it moved on. */
    CU_ASSERT_EQUAL(ferry_steps_refuse(store, &ref, "coordinator", &why, &err), FERRY_ERR_CONFLICT);
    CU_ASSERT_EQUAL(history_len(mig), 1);

    /* Another attempt, or no record: refused, nothing written or created. */
    step_put(mig, "s-2", "pending", 2);
    ref.step = "s-2";
    CU_ASSERT_EQUAL(ferry_steps_refuse(store, &ref, "coordinator", &why, &err), FERRY_ERR_CONFLICT);
    CU_ASSERT_STRING_EQUAL(step_field(mig, "s-2", "state", buf, sizeof(buf)), "pending");
    CU_ASSERT_STRING_EQUAL(step_field(mig, "s-2", "error_code", buf, sizeof(buf)), "");
    ref.step = "s-3";
    CU_ASSERT_EQUAL(ferry_steps_refuse(store, &ref, "coordinator", &why, &err), FERRY_ERR_CONFLICT);
    step_key(mig, "s-3", k3, sizeof(k3));
    CU_ASSERT_FALSE(key_exists(k3));
    CU_ASSERT_EQUAL(history_len(mig), 1);

    /* Bad references never reach Redis. */
    ref.attempt = 0;
    CU_ASSERT_EQUAL(ferry_steps_refuse(store, &ref, "coordinator", &why, &err), FERRY_ERR_INVALID);
    ref.attempt = 1;
    ref.migration = "bad id";
    CU_ASSERT_EQUAL(ferry_steps_refuse(store, &ref, "coordinator", &why, &err), FERRY_ERR_INVALID);
    ref.migration = mig;
    ref.step = "s-2";
    CU_ASSERT_EQUAL(ferry_steps_refuse(store, &ref, "bad actor", &why, &err), FERRY_ERR_INVALID);
}

/* ------------------------------------------------------------------ clock */

static void test_now(void)
{
    ferry_err err;
    int64_t a = 0, b = 0;
    CU_ASSERT_EQUAL_FATAL(ferry_state_now(store, &a, &err), FERRY_OK);
    CU_ASSERT_TRUE(llabs(a - ferry_wall_ms()) < 5000);
    CU_ASSERT_EQUAL_FATAL(ferry_state_now(store, &b, &err), FERRY_OK);
    CU_ASSERT_TRUE(b >= a);
}

/* ------------------------------------------------------------------ bad input */

static void test_bad_input(void)
{
    ferry_err err;
    char key[FERRY_STATE_KEY_MAX], long_id[FERRY_STORE_NAME_MAX + 2];
    const char *bad_ids[] = {"a b", "a{b", "a}b", "{ab}", "", "tab\there", "nl\n", "\x7f"};
    for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
        CU_ASSERT_EQUAL(ferry_state_key(bad_ids[i], "migration", key, sizeof(key), &err),
                        FERRY_ERR_INVALID);
        CU_ASSERT_EQUAL(ferry_state_key("shop.test", bad_ids[i], key, sizeof(key), &err),
                        FERRY_ERR_INVALID);
    }
    CU_ASSERT_EQUAL(ferry_state_key(NULL, "migration", key, sizeof(key), &err), FERRY_ERR_INVALID);
    CU_ASSERT_EQUAL(ferry_state_key("shop.test", NULL, key, sizeof(key), &err), FERRY_ERR_INVALID);

    /* The longest id fits the documented buffer; one more is refused; so is a small buffer. */
    memset(long_id, 'm', sizeof(long_id) - 1);
    long_id[FERRY_STORE_NAME_MAX] = '\0';
    memset(key, 0, sizeof(key));
    char suffix[FERRY_STORE_NAME_MAX + 1];
    memset(suffix, 's', FERRY_STORE_NAME_MAX);
    suffix[FERRY_STORE_NAME_MAX] = '\0';
    CU_ASSERT_EQUAL(ferry_state_key(long_id, suffix, key, sizeof(key), &err), FERRY_OK);
    CU_ASSERT_EQUAL(strlen(key), 2 * FERRY_STORE_NAME_MAX + strlen("ferry:{}:"));
    long_id[FERRY_STORE_NAME_MAX] = 'm';
    long_id[FERRY_STORE_NAME_MAX + 1] = '\0';
    CU_ASSERT_EQUAL(ferry_state_key(long_id, "migration", key, sizeof(key), &err),
                    FERRY_ERR_INVALID);
    char small[16];
    CU_ASSERT_EQUAL(ferry_state_key("shop.test", "migration", small, sizeof(small), &err),
                    FERRY_ERR_INVALID);
    CU_ASSERT_EQUAL(ferry_state_key("shop.test", "migration", key, sizeof(key), &err), FERRY_OK);
    CU_ASSERT_STRING_EQUAL(key, "ferry:{shop.test}:migration");

    /* Reads and changes with bad ids: refused, never a crash. */
    ferry_store_record *rec = NULL;
    const char *bad_steps[] = {"s 1", "{s1}", "", NULL};
    for (size_t i = 0; i < sizeof(bad_steps) / sizeof(bad_steps[0]); i++) {
        CU_ASSERT_EQUAL(ferry_state_step_get(store, "shop.test", bad_steps[i], &rec, &err),
                        FERRY_ERR_INVALID);
        CU_ASSERT_PTR_NULL(rec);
    }
    CU_ASSERT_EQUAL(ferry_state_step_get(store, "a b", "s-1", &rec, &err), FERRY_ERR_INVALID);
    CU_ASSERT_EQUAL(ferry_state_step_get(store, "a{b}", "s-1", &rec, &err), FERRY_ERR_INVALID);
    CU_ASSERT_PTR_NULL(rec);
    CU_ASSERT_EQUAL(ferry_state_record_get(store, "a b", "migration", &rec, &err),
                    FERRY_ERR_INVALID);
    ferry_state_mig m;
    CU_ASSERT_EQUAL(ferry_state_mig_load(store, "a b", &m, &err), FERRY_ERR_INVALID);
    CU_ASSERT_PTR_NULL(m.rec);
    CU_ASSERT_EQUAL(
        ferry_state_mig_apply(store, "a{b}", "test-state", "{\"expect\": [\"\"]}", NULL, &err),
        FERRY_ERR_INVALID);
    ferry_store_entries *h = NULL;
    CU_ASSERT_EQUAL(ferry_state_history(store, "a b", 10, &h, &err), FERRY_ERR_INVALID);
    CU_ASSERT_PTR_NULL(h);
    ferry_state_list list = {0};
    CU_ASSERT_EQUAL(ferry_state_step_ids(store, "a b", 0, &list, &err), FERRY_ERR_INVALID);
    const char *names[15] = {"state"};
    for (size_t i = 1; i < 15; i++)
        names[i] = "state";
    CU_ASSERT_EQUAL(ferry_state_mig_fields(store, "a b", names, 1, &list, &err), FERRY_ERR_INVALID);
    CU_ASSERT_EQUAL(ferry_state_mig_fields(store, "shop.test", names, 0, &list, &err),
                    FERRY_ERR_INVALID);
    CU_ASSERT_EQUAL(ferry_state_mig_fields(store, "shop.test", names, 15, &list, &err),
                    FERRY_ERR_INVALID);
    CU_ASSERT_EQUAL(list.count, 0);

    /* A plan that is not JSON is refused by the script, nothing created. */
    const char *mig = mig_new();
    char k_mig[FERRY_STATE_KEY_MAX];
    mig_key(mig, "migration", k_mig, sizeof(k_mig));
    CU_ASSERT_NOT_EQUAL(ferry_state_mig_apply(store, mig, "test-state", "{not json", NULL, &err),
                        FERRY_OK);
    CU_ASSERT_FALSE(key_exists(k_mig));

    /* Apps: a name with a space is refused, nothing stored. */
    bool created = true;
    CU_ASSERT_EQUAL(
        ferry_state_app_create(store, "my app", "spec", "production", 1, &created, &err),
        FERRY_ERR_INVALID);
    CU_ASSERT_FALSE(created);
    CU_ASSERT_FALSE(key_exists("ferry:app:my app"));
    CU_ASSERT_FALSE(set_has(APPS, "my app"));
    CU_ASSERT_EQUAL(ferry_state_app_create(store, "", "spec", "production", 1, &created, &err),
                    FERRY_ERR_INVALID);
    ferry_state_app app;
    CU_ASSERT_NOT_EQUAL(ferry_state_app_get(store, "my app", &app, &err), FERRY_OK);
    CU_ASSERT_PTR_NULL(app.spec);
    CU_ASSERT_EQUAL(ferry_state_app_delete(store, "my app", NULL, 0, NULL, 0, &err),
                    FERRY_ERR_INVALID);
}

static const ferry_test_case cases[] = {
    {"apps: create once, get, list sorted, delete with its migrations' keys", test_apps},
    {"migrations: load, apply (create, refuse), fields, list, history, steps", test_migrations},
    {"metrics: a counted retry adds to retry:<kind>; dead letters counted", test_metrics_retries},
    {"indexes: due earliest first up to until and max; drop", test_indexes},
    {"queued: due, count, touch (existing only), drop; unknown kind", test_queued},
    {"limits: acquire all or none, idempotent, recorded on the step; release", test_limits},
    {"limits: the sweep frees ended and vanished holders only", test_limits_sweep},
    {"leader: one instance leads; another takes over after the lease", test_leader},
    {"workers: beat, since, expiry, forget, gone", test_workers},
    {"dead letters: binary bytes, newest first, by id, replayed", test_dead_letters},
    {"dead letters: key and payload read as bytes, never past their length",
     test_dead_letter_bytes},
    {"dead letters: get takes whole entry ids only", test_dead_letter_whole_ids},
    {"events: the step an event is about", test_event_step},
    {"events: join, read, pending, ack", test_events_group},
    {"refuse: pending at its attempt -> failed for good, once", test_refuse},
    {"now: Redis's clock near the wall clock", test_now},
    {"bad input: refused, never a crash", test_bad_input},
    {NULL, NULL},
};

int main(void)
{
    const ferry_test_suite suites[] = {
        {"state", suite_setup, suite_teardown, cases},
        {NULL, NULL, NULL, NULL},
    };
    return ferry_test_main(suites);
}
