/*
 * test_machine.c - the migration state machine (coordinator/machine.c), flow by flow.
 *
 * A small simulator applies each plan the way shared/lua/mig_apply.lua does (state and fields,
 * cancels, retries, new steps), and the tests finish steps the way workers would. Every
 * transition of docs/orchestration.md "Migration states" is walked, with its failure paths.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/error.h"
#include "ferry_test.h"
#include "machine.h"

#define SIM_STEPS 128

typedef struct sim {
    fm_mig m;
    fm_step steps[SIM_STEPS];
    size_t n;
    int64_t now;
    int64_t seq;
    fm_policy pol;
    fm_plan last;            /* the last plan applied */
    char error[FM_TEXT_MAX]; /* the migration's error_message */
} sim;

static sim S;

static void sim_init(const char *env)
{
    memset(&S, 0, sizeof(S));
    (void)snprintf(S.m.id, sizeof(S.m.id), "shop.%s", env);
    (void)snprintf(S.m.env, sizeof(S.m.env), "%s", env);
    S.m.state = FM_NEW;
    S.m.production = strcmp(env, "production") == 0;
    S.now = 1000000;
    S.pol = (fm_policy){.max_retries = 2,
                        .backoff_ms = 1000,
                        .backoff_max_ms = 8000,
                        .pause_ms = 300000,
                        .cutover_margin_ms = 1200000,
                        .ttl_wait_max_ms = 86400000,
                        .ttl_restore_ms = 3600000};
}

/* Copies src into dst (size n), truncating. */
static void set_text(char *dst, size_t n, const char *src)
{
    size_t len = strnlen(src, n - 1);
    memcpy(dst, src, len);
    dst[len] = '\0';
}

/* A step that is not there: the test has failed, and this keeps it from crashing. */
static fm_step missing;

static fm_step *find(const char *id)
{
    for (size_t i = 0; i < S.n; i++) {
        if (strcmp(S.steps[i].id, id) == 0)
            return &S.steps[i];
    }
    CU_FAIL("no such step");
    return &missing;
}

/* Applies a plan as mig_apply.lua does. */
static void sim_apply(const fm_plan *p)
{
    S.last = *p;
    if (p->change) {
        if (p->new_cycle)
            S.m.cycle++;
        S.m.state = p->to;
        for (size_t i = 0; i < p->n_fields; i++) {
            const char *n = p->fields[i].name, *v = p->fields[i].value;
            if (strcmp(n, "error_message") == 0)
                set_text(S.error, sizeof(S.error), v);
            else
                (void)fm_mig_field_set(&S.m, n, v); /* as migstore loads it back */
        }
    }
    for (size_t i = 0; i < p->n_acts; i++) {
        const fm_action *a = &p->acts[i];
        if (a->kind == FM_ACT_CANCEL) {
            fm_step *s = find(a->step);
            if (fm_sstate_active(s->state))
                s->state = FM_S_CANCELED;
        } else if (a->kind == FM_ACT_RETRY) {
            fm_step *s = find(a->step);
            CU_ASSERT_FALSE(fm_sstate_active(s->state));
            CU_ASSERT_EQUAL(s->attempt, a->attempt);
            s->state = FM_S_PENDING;
            s->attempt++;
            s->retries = a->reset_retries ? 0 : s->retries + (a->count ? 1 : 0);
        } else {
            CU_ASSERT_FATAL(S.n < SIM_STEPS);
            const fm_purpose *pu = fm_purpose_find(a->purpose);
            if (pu == NULL) {
                CU_FAIL("unknown purpose");
                continue;
            }
            fm_step *s = &S.steps[S.n++];
            memset(s, 0, sizeof(*s));
            (void)snprintf(s->id, sizeof(s->id), "%s-%" PRId64, pu->prefix, ++S.seq);
            (void)snprintf(s->purpose, sizeof(s->purpose), "%s", a->purpose);
            s->cycle = S.m.cycle;
            s->state = FM_S_PENDING;
            s->attempt = 1;
            s->rows = s->files_total = s->files_synced = s->bytes_total = s->bytes_synced = -1;
            s->running = -1;
            s->ttl_old = -1;
        }
    }
}

/* Advances until nothing changes; returns the number of plans applied. */
static int run(void)
{
    int n = 0;
    for (; n < 20; n++) {
        fm_plan p;
        fm_advance(&S.m, S.steps, S.n, &S.pol, S.now, &p);
        if (!p.change && p.n_acts == 0)
            break;
        sim_apply(&p);
    }
    CU_ASSERT(n < 20); /* no endless loop */
    return n;
}

/* A command with its flags (args->actor and replay_step are filled in). */
static bool cmd_with(fm_verb c, fm_verb_args args, const char *step, char *why, size_t whysz)
{
    fm_plan p;
    char local[512];
    if (why == NULL) {
        why = local;
        whysz = sizeof(local);
    }
    why[0] = '\0';
    args.actor = "test";
    args.replay_step = step;
    bool ok = fm_verb_plan(&S.m, S.steps, S.n, c, &args, &S.pol, S.now, &p, why, whysz);
    if (ok)
        sim_apply(&p);
    return ok;
}

/* A command as a user who confirms (rollback's --yes) gives it. */
static bool cmd(fm_verb c, const char *step, char *why, size_t whysz)
{
    return cmd_with(c, (fm_verb_args){.confirm = true}, step, why, whysz);
}

/* The latest step of purpose in the current cycle, or NULL. */
static fm_step *latest(const char *purpose)
{
    fm_step *best = NULL;
    for (size_t i = 0; i < S.n; i++) {
        if (S.steps[i].cycle == S.m.cycle && strcmp(S.steps[i].purpose, purpose) == 0)
            best = &S.steps[i];
    }
    return best;
}

/* The same, where the test expects one: a missing step fails the test. */
static fm_step *cur(const char *purpose)
{
    fm_step *s = latest(purpose);
    if (s != NULL)
        return s;
    CU_FAIL("expected step missing");
    return &missing;
}

static size_t count_purpose(const char *purpose)
{
    size_t c = 0;
    for (size_t i = 0; i < S.n; i++)
        c += strcmp(S.steps[i].purpose, purpose) == 0;
    return c;
}

/* Finishes the active step of purpose as a worker would, then advances. */
static void ok_step(const char *purpose)
{
    fm_step *s = cur(purpose);
    CU_ASSERT_FATAL(fm_sstate_active(s->state));
    s->state = FM_S_SUCCEEDED;
    s->duration_ms = 60000;
    s->finished_at = S.now;
    if (strstr(purpose, ".dr") != NULL)
        s->rows = 1234;
    if (strstr(purpose, ".fs") != NULL) {
        s->files_total = 10;
        s->files_synced = 10;
    }
    if (strcmp(purpose, "replicate.check_target") == 0)
        s->running = 0;
    run();
}

static void fail_step(const char *purpose, ferry_rc code, bool retryable)
{
    fm_step *s = cur(purpose);
    CU_ASSERT_FATAL(fm_sstate_active(s->state));
    s->state = FM_S_FAILED;
    s->error_code = code;
    s->error_retryable = retryable;
    (void)snprintf(s->error_message, sizeof(s->error_message), "boom (%s)", ferry_rc_str(code));
    run();
}

static void assert_state(const char *state, const char *phase)
{
    CU_ASSERT_STRING_EQUAL(fm_state_name(S.m.state), state);
    if (phase != NULL)
        CU_ASSERT_STRING_EQUAL(fm_phase_name(S.m.phase), phase);
}

/* Brings a fresh migration to replicating/pause after its first full cycle. */
static void to_replicating(const char *env)
{
    sim_init(env);
    CU_ASSERT_TRUE_FATAL(cmd(FM_VERB_REPLICATE, NULL, NULL, 0));
    run();
    assert_state("replicating", "check_target");
    ok_step("replicate.check_target");
    assert_state("replicating", "lower_ttl");
    ok_step("replicate.ttl");
    assert_state("replicating", "dump_restore");
    ok_step("replicate.dr");
    assert_state("replicating", "file_sync");
    CU_ASSERT_EQUAL(S.m.pass, 1);
    ok_step("replicate.fs");
    assert_state("replicating", "pause");
}

/* ------------------------------------------------------------------ replication */

static void test_replicate_cycle(void)
{
    to_replicating("production");
    CU_ASSERT_TRUE(S.m.reached_100);
    CU_ASSERT_TRUE(S.m.ttl_lowered);
    CU_ASSERT_EQUAL(S.m.last_dr_ms, 60000);
    /* The pause: nothing happens before it ends, and the plan asks to be woken. */
    fm_plan p;
    fm_advance(&S.m, S.steps, S.n, &S.pol, S.now + 1000, &p);
    CU_ASSERT_FALSE(p.change);
    CU_ASSERT_EQUAL(p.wake_at, S.m.pause_until);
    S.now = S.m.pause_until;
    run();
    assert_state("replicating", "file_sync");
    CU_ASSERT_EQUAL(S.m.pass, 2);
    CU_ASSERT_EQUAL(count_purpose("replicate.fs"), 2);
    ok_step("replicate.fs");
    assert_state("replicating", "pause");
    /* A second activation after a stop does not lower the TTL again. */
    CU_ASSERT_TRUE(cmd(FM_VERB_STOP, NULL, NULL, 0));
    run();
    ok_step("stop.dr");
    ok_step("stop.fs");
    assert_state("stopped", "");
    CU_ASSERT_TRUE(cmd(FM_VERB_REPLICATE, NULL, NULL, 0));
    run();
    ok_step("replicate.check_target");
    assert_state("replicating", "dump_restore");
    CU_ASSERT_EQUAL(count_purpose("replicate.ttl"), 1);
}

static void test_replicate_refused_target_running(void)
{
    sim_init("production");
    CU_ASSERT_TRUE(cmd(FM_VERB_REPLICATE, NULL, NULL, 0));
    run();
    fm_step *s = cur("replicate.check_target");
    s->state = FM_S_SUCCEEDED;
    s->running = 1;
    run();
    /* Refused, not failed: back to where the command found it, with the reason. */
    assert_state("new", "");
    CU_ASSERT_PTR_NOT_NULL(strstr(S.error, "target app is running"));
    CU_ASSERT_EQUAL(count_purpose("replicate.dr"), 0);
    CU_ASSERT_EQUAL(count_purpose("replicate.ttl"), 0);
    /* Once the target is stopped, activating again works, and the refusal is cleared. */
    CU_ASSERT_TRUE(cmd(FM_VERB_REPLICATE, NULL, NULL, 0));
    run();
    assert_state("replicating", "check_target");
    ok_step("replicate.check_target");
    assert_state("replicating", "lower_ttl");
    CU_ASSERT_STRING_EQUAL(S.error, "");
    /* From stopped, a refusal goes back to stopped. */
    ok_step("replicate.ttl");
    ok_step("replicate.dr");
    ok_step("replicate.fs");
    CU_ASSERT_TRUE(cmd(FM_VERB_STOP, NULL, NULL, 0));
    run();
    ok_step("stop.dr");
    ok_step("stop.fs");
    assert_state("stopped", "");
    CU_ASSERT_TRUE(cmd(FM_VERB_REPLICATE, NULL, NULL, 0));
    run();
    s = cur("replicate.check_target");
    s->state = FM_S_SUCCEEDED;
    s->running = 1;
    run();
    assert_state("stopped", "");
}

/* After the app's final migration, another environment's first replication skips the TTL: its
 * names are swapped already (issue 12, 2.4). */
static void test_replicate_after_final_migration(void)
{
    sim_init("test");
    S.m.names_swapped = true;
    CU_ASSERT_TRUE(cmd(FM_VERB_REPLICATE, NULL, NULL, 0));
    run();
    ok_step("replicate.check_target");
    assert_state("replicating", "dump_restore");
    CU_ASSERT_EQUAL(count_purpose("replicate.ttl"), 0);
}

static void test_partial_pass_does_not_reach_100(void)
{
    sim_init("production");
    CU_ASSERT_TRUE(cmd(FM_VERB_REPLICATE, NULL, NULL, 0));
    run();
    ok_step("replicate.check_target");
    ok_step("replicate.ttl");
    ok_step("replicate.dr");
    fm_step *s = cur("replicate.fs");
    s->state = FM_S_SUCCEEDED;
    s->files_total = 10;
    s->files_synced = 7;
    run();
    assert_state("replicating", "pause");
    CU_ASSERT_FALSE(S.m.reached_100);
    char why[512];
    CU_ASSERT_FALSE(cmd(FM_VERB_MIGRATE, NULL, why, sizeof(why)));
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "never reached 100%"));
}

/* ------------------------------------------------------------------ stop, interrupt */

static void test_stop_waits_for_running_step(void)
{
    to_replicating("production");
    S.now = S.m.pause_until;
    run();
    fm_step *fs = cur("replicate.fs");
    fs->state = FM_S_RUNNING;
    CU_ASSERT_TRUE(cmd(FM_VERB_STOP, NULL, NULL, 0));
    run();
    assert_state("stopping", "wait");
    CU_ASSERT_EQUAL(fs->state, FM_S_RUNNING); /* not canceled: it ends first */
    CU_ASSERT_PTR_NULL(latest("stop.dr"));
    ok_step("replicate.fs");
    assert_state("stopping", "final");
    /* The last dump-restore and file pass run in parallel. */
    CU_ASSERT_PTR_NOT_NULL(latest("stop.dr"));
    CU_ASSERT_PTR_NOT_NULL(latest("stop.fs"));
    ok_step("stop.fs");
    assert_state("stopping", "final");
    ok_step("stop.dr");
    assert_state("stopped", "");
    char why[512];
    CU_ASSERT_FALSE(cmd(FM_VERB_STOP, NULL, why, sizeof(why)));
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "stopped"));
}

static void test_stop_cancels_queued_step(void)
{
    to_replicating("production");
    S.now = S.m.pause_until;
    run();
    fm_step *fs = cur("replicate.fs");
    CU_ASSERT_EQUAL(fs->state, FM_S_PENDING);
    CU_ASSERT_TRUE(cmd(FM_VERB_STOP, NULL, NULL, 0));
    CU_ASSERT_EQUAL(fs->state, FM_S_CANCELED);
    run();
    CU_ASSERT_PTR_NOT_NULL(latest("stop.dr"));
}

static void test_interrupt(void)
{
    to_replicating("production");
    S.now = S.m.pause_until;
    run();
    fm_step *fs = cur("replicate.fs");
    fs->state = FM_S_RUNNING;
    CU_ASSERT_TRUE(cmd(FM_VERB_INTERRUPT, NULL, NULL, 0));
    assert_state("failed", NULL);
    CU_ASSERT_EQUAL(fs->state, FM_S_CANCELED);
    CU_ASSERT_FALSE(S.m.replayable);
    bool incomplete = false;
    for (size_t i = 0; i < S.last.n_fields; i++)
        incomplete |= strcmp(S.last.fields[i].name, "target_incomplete") == 0 &&
                      strcmp(S.last.fields[i].value, "1") == 0;
    CU_ASSERT_TRUE(incomplete);
    CU_ASSERT_EQUAL(run(), 0); /* failed waits for a command */
    CU_ASSERT_TRUE(cmd(FM_VERB_REPLICATE, NULL, NULL, 0));
    assert_state("replicating", "check_target");
}

/* ------------------------------------------------------------------ retries and replay */

static void test_retry_then_fail_then_replay(void)
{
    sim_init("production");
    CU_ASSERT_TRUE(cmd(FM_VERB_REPLICATE, NULL, NULL, 0));
    run();
    ok_step("replicate.check_target");
    ok_step("replicate.ttl");
    fail_step("replicate.dr", FERRY_ERR_UNAVAILABLE, true);
    fm_step *dr = cur("replicate.dr");
    CU_ASSERT_EQUAL(dr->state, FM_S_PENDING);
    CU_ASSERT_EQUAL(dr->attempt, 2);
    CU_ASSERT_EQUAL(dr->retries, 1);
    /* The retry waits its backoff: 1 s after the first failure. */
    CU_ASSERT_EQUAL(S.last.acts[0].not_before, S.now + 1000);
    fail_step("replicate.dr", FERRY_ERR_UNAVAILABLE, true);
    CU_ASSERT_EQUAL(S.last.acts[0].not_before, S.now + 2000);
    CU_ASSERT_EQUAL(dr->attempt, 3);
    fail_step("replicate.dr", FERRY_ERR_UNAVAILABLE, true); /* max_retries = 2: for good */
    assert_state("failed", "dump_restore");
    CU_ASSERT_TRUE(S.m.replayable);
    CU_ASSERT_STRING_EQUAL(S.m.error_step, dr->id);
    CU_ASSERT_EQUAL(S.m.failed_from, FM_REPLICATING);
    char why[512];
    CU_ASSERT_FALSE(cmd(FM_VERB_MIGRATE, NULL, why, sizeof(why)));
    CU_ASSERT_TRUE(cmd(FM_VERB_REPLAY, NULL, why, sizeof(why)));
    assert_state("replicating", "dump_restore");
    CU_ASSERT_EQUAL(dr->state, FM_S_PENDING);
    CU_ASSERT_EQUAL(dr->attempt, 4);
    CU_ASSERT_EQUAL(dr->retries, 0);
    ok_step("replicate.dr");
    assert_state("replicating", "file_sync"); /* and on from there */
}

static void test_non_retryable_fails_at_once(void)
{
    sim_init("production");
    CU_ASSERT_TRUE(cmd(FM_VERB_REPLICATE, NULL, NULL, 0));
    run();
    ok_step("replicate.check_target");
    fail_step("replicate.ttl", FERRY_ERR_AUTH, false);
    assert_state("failed", "lower_ttl");
    CU_ASSERT_EQUAL(cur("replicate.ttl")->attempt, 1);
}

static void test_expired_and_released(void)
{
    sim_init("production");
    CU_ASSERT_TRUE(cmd(FM_VERB_REPLICATE, NULL, NULL, 0));
    run();
    fm_step *s = cur("replicate.check_target");
    s->state = FM_S_EXPIRED; /* its worker died */
    run();
    CU_ASSERT_EQUAL(s->state, FM_S_PENDING);
    CU_ASSERT_EQUAL(s->attempt, 2);
    CU_ASSERT_EQUAL(s->retries, 1);
    s->state = FM_S_RELEASED; /* its worker shut down: not counted */
    run();
    CU_ASSERT_EQUAL(s->attempt, 3);
    CU_ASSERT_EQUAL(s->retries, 1);
    CU_ASSERT_EQUAL(S.last.acts[0].not_before, 0);
}

/* ------------------------------------------------------------------ test */

static void test_test_start_stop(void)
{
    to_replicating("production");
    char why[512];
    CU_ASSERT_FALSE(cmd(FM_VERB_TEST_START, NULL, why, sizeof(why)));
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "stop replication first"));
    CU_ASSERT_TRUE(cmd(FM_VERB_STOP, NULL, NULL, 0));
    run();
    ok_step("stop.dr");
    ok_step("stop.fs");
    CU_ASSERT_TRUE(cmd(FM_VERB_TEST_START, NULL, why, sizeof(why)));
    run();
    assert_state("testing", "starting");
    CU_ASSERT_FALSE(cmd(FM_VERB_TEST_STOP, NULL, why, sizeof(why))); /* still starting */
    CU_ASSERT_FALSE(cmd(FM_VERB_REPLICATE, NULL, why, sizeof(why)));
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "test-stop it first"));
    ok_step("test.start");
    assert_state("testing", "running");
    CU_ASSERT_TRUE(cmd(FM_VERB_TEST_STOP, NULL, why, sizeof(why)));
    run();
    ok_step("test.stop");
    assert_state("stopped", "");
    /* A start that fails leaves the migration stopped, with the reason. */
    CU_ASSERT_TRUE(cmd(FM_VERB_TEST_START, NULL, why, sizeof(why)));
    run();
    fail_step("test.start", FERRY_ERR_SERVER, false);
    assert_state("stopped", "");
}

/* ------------------------------------------------------------------ cutover */

static void test_migrate_refusals(void)
{
    char why[512];
    to_replicating("test");
    CU_ASSERT_FALSE(cmd(FM_VERB_MIGRATE, NULL, why, sizeof(why)));
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "production"));
    sim_init("production");
    CU_ASSERT_FALSE(cmd(FM_VERB_MIGRATE, NULL, why, sizeof(why)));
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "replicating"));
    to_replicating("production");
    CU_ASSERT_TRUE(cmd(FM_VERB_STOP, NULL, NULL, 0));
    run();
    ok_step("stop.dr");
    ok_step("stop.fs");
    CU_ASSERT_FALSE(cmd(FM_VERB_MIGRATE, NULL, why, sizeof(why)));
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "stopped"));
}

static void test_cutover_happy(void)
{
    to_replicating("production");
    S.now = S.m.pause_until;
    run();
    fm_step *fs = cur("replicate.fs");
    fs->state = FM_S_RUNNING;
    CU_ASSERT_TRUE(cmd(FM_VERB_MIGRATE, NULL, NULL, 0));
    CU_ASSERT_EQUAL(fs->state, FM_S_CANCELED); /* the sync does it all again */
    run();
    assert_state("cutover", "stop_target");
    ok_step("cutover.stop_target");
    assert_state("cutover", "stop_source");
    ok_step("cutover.stop_source");
    assert_state("cutover", "sync");
    /* Both in parallel, each limited to its last measured duration + 20 minutes. */
    CU_ASSERT_PTR_NOT_NULL(latest("cutover.dr"));
    CU_ASSERT_PTR_NOT_NULL(latest("cutover.fs"));
    int64_t want = S.now + 60000 + 1200000;
    bool deadlines = false;
    for (size_t i = 0; i < S.last.n_acts; i++)
        deadlines |= S.last.acts[i].kind == FM_ACT_CREATE && S.last.acts[i].deadline == want;
    CU_ASSERT_TRUE(deadlines);
    CU_ASSERT_EQUAL(S.m.sync_deadline, want);
    ok_step("cutover.dr");
    assert_state("cutover", "sync");
    ok_step("cutover.fs");
    assert_state("cutover", "rename");
    ok_step("cutover.rename");
    assert_state("cutover", "check");
    ok_step("cutover.check");
    ok_step("cutover.start_target");
    ok_step("cutover.start_source");
    assert_state("migrated", "");
    CU_ASSERT_PTR_NULL(latest("rollback.rename"));
}

static void to_sync(void)
{
    to_replicating("production");
    CU_ASSERT_TRUE_FATAL(cmd(FM_VERB_MIGRATE, NULL, NULL, 0));
    run();
    ok_step("cutover.stop_target");
    ok_step("cutover.stop_source");
    assert_state("cutover", "sync");
}

static void test_cutover_sync_failure(void)
{
    to_sync();
    fail_step("cutover.dr", FERRY_ERR_NO_SPACE, false);
    assert_state("cutover", "restart_source");
    CU_ASSERT_EQUAL(cur("cutover.fs")->state, FM_S_CANCELED);
    CU_ASSERT_PTR_NULL(latest("cutover.rename")); /* nothing renamed */
    ok_step("cutover.restart_source");
    assert_state("failed", "restart_source");
    CU_ASSERT_FALSE(S.m.replayable);
    CU_ASSERT_EQUAL(S.m.failed_from, FM_CUTOVER);
    /* It is safe to replicate again. */
    CU_ASSERT_TRUE(cmd(FM_VERB_REPLICATE, NULL, NULL, 0));
    assert_state("replicating", "check_target");
}

static void test_cutover_timeout(void)
{
    to_sync();
    cur("cutover.dr")->state = FM_S_RUNNING;
    ok_step("cutover.fs");
    assert_state("cutover", "sync");
    S.now = S.m.sync_deadline;
    run();
    assert_state("cutover", "restart_source");
    CU_ASSERT_EQUAL(cur("cutover.dr")->state, FM_S_CANCELED);
    CU_ASSERT_PTR_NULL(latest("cutover.rename"));
}

/* A short pass runs again within the budget ("until it reaches 100%"); at the limit it aborts. */
static void short_pass(void)
{
    fm_step *fs = cur("cutover.fs");
    fs->state = FM_S_SUCCEEDED;
    fs->files_total = 10;
    fs->files_synced = 9;
    run();
}

static void test_cutover_incomplete_pass(void)
{
    to_sync();
    ok_step("cutover.dr");
    short_pass();
    assert_state("cutover", "sync");
    fm_step *fs = cur("cutover.fs");
    CU_ASSERT_EQUAL(fs->state, FM_S_PENDING);
    CU_ASSERT_EQUAL(fs->attempt, 2);
    short_pass();
    assert_state("cutover", "sync");
    ok_step("cutover.fs");
    assert_state("cutover", "rename");
    /* Short at the limit: nothing renamed, the source restarted. */
    to_sync();
    ok_step("cutover.dr");
    S.now = S.m.cutover_deadline - 500; /* a retry would start after the limit */
    short_pass();
    assert_state("cutover", "restart_source");
    CU_ASSERT_PTR_NOT_NULL(strstr(S.error, "did not reach 100%"));
    CU_ASSERT_PTR_NULL(latest("cutover.rename"));
}

static void test_cutover_rename_failure_rolls_back(void)
{
    to_sync();
    ok_step("cutover.dr");
    ok_step("cutover.fs");
    /* A retryable failure is retried (max_retries: 2) while the budget allows. */
    fail_step("cutover.rename", FERRY_ERR_UNAVAILABLE, true);
    assert_state("cutover", "rename");
    fail_step("cutover.rename", FERRY_ERR_UNAVAILABLE, true);
    assert_state("cutover", "rename");
    fail_step("cutover.rename", FERRY_ERR_UNAVAILABLE, true);
    assert_state("rolling_back", "stop_target");
    /* Near the limit, the first failure rolls back at once: a retry could not start in time. */
    to_sync();
    ok_step("cutover.dr");
    ok_step("cutover.fs");
    S.now = S.m.cutover_deadline - 100;
    fail_step("cutover.rename", FERRY_ERR_UNAVAILABLE, true);
    assert_state("rolling_back", "stop_target");
    CU_ASSERT_EQUAL(cur("cutover.rename")->attempt, 1); /* no retry was tried */
    ok_step("rollback.stop_target");
    ok_step("rollback.stop_source");
    assert_state("rolling_back", "rename");
    ok_step("rollback.rename");
    ok_step("rollback.check");
    ok_step("rollback.start_source");
    assert_state("rolled_back", "");
}

/* The budget starts when the source stops and covers everything until the target serves: a
 * step still going at the limit is canceled and the cutover rolls back (issue 12, 2.9). */
static void test_cutover_budget(void)
{
    to_replicating("production");
    CU_ASSERT_TRUE_FATAL(cmd(FM_VERB_MIGRATE, NULL, NULL, 0));
    run();
    ok_step("cutover.stop_target");
    CU_ASSERT_EQUAL(S.m.cutover_deadline, 0); /* the app still serves: no budget yet */
    S.now += 5000;
    ok_step("cutover.stop_source");
    int64_t budget = 60000 + S.pol.cutover_margin_ms;
    CU_ASSERT_EQUAL(S.m.cutover_deadline, S.now + budget);
    CU_ASSERT_EQUAL(S.m.downtime_from, S.now);
    ok_step("cutover.dr");
    ok_step("cutover.fs");
    ok_step("cutover.rename");
    ok_step("cutover.check");
    fm_step *st = cur("cutover.start_target");
    /* Its step carries the budget's end as its deadline. */
    bool deadline_set = false;
    for (size_t i = 0; i < S.last.n_acts; i++)
        deadline_set = deadline_set || (S.last.acts[i].kind == FM_ACT_CREATE &&
                                        S.last.acts[i].deadline == S.m.cutover_deadline);
    CU_ASSERT_TRUE(deadline_set);
    st->state = FM_S_RUNNING;
    fm_plan p;
    fm_advance(&S.m, S.steps, S.n, &S.pol, S.now, &p);
    CU_ASSERT_EQUAL(p.wake_at, S.m.cutover_deadline);
    S.now = S.m.cutover_deadline;
    run();
    assert_state("rolling_back", "stop_target");
    CU_ASSERT_EQUAL(st->state, FM_S_CANCELED);
    CU_ASSERT_PTR_NOT_NULL(strstr(S.error, "time limit"));
    CU_ASSERT_TRUE(S.m.names_swapped); /* the rollback renames them back */
    ok_step("rollback.stop_target");
    ok_step("rollback.stop_source");
    ok_step("rollback.rename");
    CU_ASSERT_FALSE(S.m.names_swapped);
}

/* The cutover's limit comes from the copy and pass that verified, as the cutover's do (stop
 * replication), not from the quicker unverified replication steps (issue 12, 2.2). */
static void test_cutover_limit_like_with_like(void)
{
    to_replicating("production");
    CU_ASSERT_EQUAL(fm_cutover_budget(&S.m, &S.pol), 60000 + S.pol.cutover_margin_ms);
    CU_ASSERT_TRUE(cmd(FM_VERB_STOP, NULL, NULL, 0));
    run();
    fm_step *dr = cur("stop.dr");
    dr->state = FM_S_SUCCEEDED;
    dr->duration_ms = 400000;
    dr->finished_at = S.now;
    dr->rows = 1;
    run();
    ok_step("stop.fs");
    assert_state("stopped", "");
    CU_ASSERT_EQUAL(S.m.verified_dr_ms, 400000);
    CU_ASSERT_EQUAL(S.m.verified_fs_ms, 60000);
    CU_ASSERT_TRUE(cmd(FM_VERB_REPLICATE, NULL, NULL, 0));
    run();
    ok_step("replicate.check_target");
    ok_step("replicate.dr"); /* 60 s, unverified: does not lower the limit */
    ok_step("replicate.fs");
    CU_ASSERT_EQUAL(fm_cutover_budget(&S.m, &S.pol), 400000 + S.pol.cutover_margin_ms);
}

/* Migrate waits for resolvers to forget the old TTL (issue 12, 2.7). */
static void test_migrate_waits_for_ttl(void)
{
    sim_init("production");
    CU_ASSERT_TRUE(cmd(FM_VERB_REPLICATE, NULL, NULL, 0));
    run();
    ok_step("replicate.check_target");
    fm_step *ttl = cur("replicate.ttl");
    ttl->state = FM_S_SUCCEEDED;
    ttl->finished_at = S.now;
    ttl->ttl_old = 3600;
    run();
    CU_ASSERT_EQUAL(S.m.ttl_old, 3600);
    CU_ASSERT_EQUAL(S.m.ttl_lowered_at, S.now);
    ok_step("replicate.dr");
    ok_step("replicate.fs");
    char why[512];
    CU_ASSERT_FALSE(cmd(FM_VERB_MIGRATE, NULL, why, sizeof(why)));
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "in 3600 s"));
    S.now += 3599000;
    CU_ASSERT_FALSE(cmd(FM_VERB_MIGRATE, NULL, why, sizeof(why)));
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "in 1 s"));
    S.now += 1000;
    CU_ASSERT_TRUE(cmd(FM_VERB_MIGRATE, NULL, why, sizeof(why)));
    /* A setting caps the wait. */
    S.pol.ttl_wait_max_ms = 10000;
    CU_ASSERT_EQUAL(fm_ttl_wait_until(&S.m, &S.pol), S.m.ttl_lowered_at + 10000);
}

/* After a migration and a grace period, the names get their TTL back. */
static void test_ttl_restored_after_migration(void)
{
    to_sync();
    ok_step("cutover.dr");
    ok_step("cutover.fs");
    ok_step("cutover.rename");
    ok_step("cutover.check");
    ok_step("cutover.start_target");
    ok_step("cutover.start_source");
    assert_state("migrated", "");
    CU_ASSERT_PTR_NULL(latest("migrated.restore_ttl"));
    fm_plan p;
    fm_advance(&S.m, S.steps, S.n, &S.pol, S.now, &p);
    CU_ASSERT_EQUAL(p.wake_at, S.m.migrated_at + S.pol.ttl_restore_ms);
    S.now = p.wake_at;
    run();
    ok_step("migrated.restore_ttl");
    assert_state("migrated", "");
    CU_ASSERT_TRUE(S.m.ttl_restored);
    run();
    CU_ASSERT_EQUAL(count_purpose("migrated.restore_ttl"), 1);
}

/* The guard rails the source document asks for in words, each with its override. */
static void test_guard_rails(void)
{
    char why[512];
    to_sync();
    ok_step("cutover.dr");
    ok_step("cutover.fs");
    ok_step("cutover.rename");
    ok_step("cutover.check");
    ok_step("cutover.start_target");
    ok_step("cutover.start_source");
    /* Rollback says what is lost and needs confirmation. */
    CU_ASSERT_FALSE(cmd_with(FM_VERB_ROLLBACK, (fm_verb_args){0}, NULL, why, sizeof(why)));
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "not copied back"));
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "--yes"));
    assert_state("migrated", "");
    CU_ASSERT_TRUE(cmd(FM_VERB_ROLLBACK, NULL, why, sizeof(why)));
    /* test-start before 100% warns, and --force overrides. */
    to_replicating("production");
    CU_ASSERT_TRUE(cmd(FM_VERB_STOP, NULL, NULL, 0));
    run();
    ok_step("stop.dr");
    fm_step *fs = cur("stop.fs");
    fs->state = FM_S_SUCCEEDED;
    fs->files_total = 10;
    fs->files_synced = 9;
    run();
    assert_state("stopped", "");
    S.m.reached_100 = false; /* as for an environment whose passes never completed */
    CU_ASSERT_FALSE(cmd(FM_VERB_TEST_START, NULL, why, sizeof(why)));
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "100%"));
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "--force"));
    CU_ASSERT_TRUE(
        cmd_with(FM_VERB_TEST_START, (fm_verb_args){.force = true}, NULL, why, sizeof(why)));
    /* replicate --overwrite is recorded for the copy's command. */
    sim_init("production");
    CU_ASSERT_TRUE(
        cmd_with(FM_VERB_REPLICATE, (fm_verb_args){.overwrite = true}, NULL, why, sizeof(why)));
    bool recorded = false;
    for (size_t i = 0; i < S.last.n_fields; i++)
        recorded = recorded || (strcmp(S.last.fields[i].name, "overwrite") == 0 &&
                                strcmp(S.last.fields[i].value, "1") == 0);
    CU_ASSERT_TRUE(recorded);
}

static void test_cutover_start_failure_rolls_back(void)
{
    to_sync();
    ok_step("cutover.dr");
    ok_step("cutover.fs");
    ok_step("cutover.rename");
    ok_step("cutover.check");
    fail_step("cutover.start_target", FERRY_ERR_TIMEOUT, false);
    assert_state("rolling_back", "stop_target");
}

static void test_manual_rollback_and_replay(void)
{
    to_sync();
    ok_step("cutover.dr");
    ok_step("cutover.fs");
    ok_step("cutover.rename");
    ok_step("cutover.check");
    ok_step("cutover.start_target");
    ok_step("cutover.start_source");
    assert_state("migrated", "");
    char why[512];
    CU_ASSERT_FALSE(cmd(FM_VERB_REPLICATE, NULL, why, sizeof(why)));
    CU_ASSERT_TRUE(cmd(FM_VERB_ROLLBACK, NULL, why, sizeof(why)));
    run();
    ok_step("rollback.stop_target");
    ok_step("rollback.stop_source");
    fail_step("rollback.rename", FERRY_ERR_PERMISSION, false);
    assert_state("failed", "rename");
    CU_ASSERT_TRUE(S.m.replayable);
    CU_ASSERT_TRUE(cmd(FM_VERB_REPLAY, NULL, why, sizeof(why)));
    assert_state("rolling_back", "rename");
    ok_step("rollback.rename");
    ok_step("rollback.check");
    ok_step("rollback.start_source");
    assert_state("rolled_back", "");
    CU_ASSERT_TRUE(cmd(FM_VERB_REPLICATE, NULL, why, sizeof(why)));
}

static void test_replay_named_step(void)
{
    sim_init("production");
    CU_ASSERT_TRUE(cmd(FM_VERB_REPLICATE, NULL, NULL, 0));
    run();
    ok_step("replicate.check_target");
    fail_step("replicate.ttl", FERRY_ERR_INVALID, false);
    char why[512];
    CU_ASSERT_FALSE(cmd(FM_VERB_REPLAY, "nope-99", why, sizeof(why)));
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "nope-99"));
    CU_ASSERT_FALSE(cmd(FM_VERB_REPLAY, cur("replicate.check_target")->id, why, sizeof(why)));
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "has not failed"));
    CU_ASSERT_TRUE(cmd(FM_VERB_REPLAY, cur("replicate.ttl")->id, why, sizeof(why)));
}

/* Every state and phase has a name that parses back to it; a name this coordinator does not
 * know is the OTHER value, and the machine leaves such a migration alone. */
static void test_state_and_phase_names(void)
{
    for (int st = FM_ABSENT; st < FM_STATE_OTHER; st++)
        CU_ASSERT_EQUAL(fm_state_parse(fm_state_name((fm_state)st)), st);
    for (int ph = FM_PH_NONE; ph < FM_PH_OTHER; ph++)
        CU_ASSERT_EQUAL(fm_phase_parse(fm_phase_name((fm_phase)ph)), ph);
    CU_ASSERT_EQUAL(fm_state_parse("paused_by_a_newer_coordinator"), FM_STATE_OTHER);
    CU_ASSERT_EQUAL(fm_phase_parse("warp"), FM_PH_OTHER);
    sim_init("production");
    CU_ASSERT_TRUE(fm_mig_field_set(&S.m, "state", "paused_by_a_newer_coordinator"));
    fm_plan p;
    fm_advance(&S.m, S.steps, S.n, &S.pol, S.now, &p);
    CU_ASSERT_FALSE(p.change);
    CU_ASSERT_EQUAL(p.n_acts, 0);
}

static void test_names(void)
{
    for (int s = FM_S_PENDING; s <= FM_S_CANCELED; s++)
        CU_ASSERT_EQUAL(fm_sstate_parse(fm_sstate_name((fm_sstate)s)), s);
    CU_ASSERT_EQUAL(fm_sstate_parse("bogus"), FM_S_UNKNOWN);
    CU_ASSERT_PTR_NULL(fm_purpose_find("nope"));
    CU_ASSERT_STRING_EQUAL(fm_purpose_find("cutover.rename")->kind, "dns");
    CU_ASSERT_TRUE(fm_purpose_find("rollback.rename")->reverse);
    CU_ASSERT_STRING_EQUAL(fm_verb_name(FM_VERB_TEST_START), "test-start");
}

/* ------------------------------------------------------------------ the logical method */

/* A fresh migration whose spec says method (or auto), replicating up to its database phase. */
static void to_database(const char *method)
{
    sim_init("production");
    (void)snprintf(S.m.method_spec, sizeof(S.m.method_spec), "%s", method);
    CU_ASSERT_TRUE_FATAL(cmd(FM_VERB_REPLICATE, NULL, NULL, 0));
    run();
    ok_step("replicate.check_target");
    ok_step("replicate.ttl");
    assert_state("replicating", "dump_restore");
}

/* The check step answers whether the source allows the method. */
static void check_answers(bool allowed, const char *reason)
{
    fm_step *s = cur("replicate.check_logical");
    s->logical = allowed ? 1 : 0;
    (void)snprintf(s->reason, sizeof(s->reason), "%s", reason);
    ok_step("replicate.check_logical");
}

/* Auto, the source allows it: started, then a stream beside the file passes. */
static void to_streaming(void)
{
    to_database("auto");
    CU_ASSERT_PTR_NULL(latest("replicate.dr"));
    check_answers(true, "the source allows it");
    CU_ASSERT_STRING_EQUAL(S.m.method, "logical");
    CU_ASSERT_TRUE(S.m.slot_held); /* from the start's planning: a failed start may leave one */
    ok_step("replicate.start");
    assert_state("replicating", "file_sync");
    CU_ASSERT_EQUAL(cur("replicate.stream")->state, FM_S_PENDING);
    cur("replicate.stream")->state = FM_S_RUNNING;
    ok_step("replicate.fs");
    assert_state("replicating", "pause");
    CU_ASSERT_EQUAL(count_purpose("replicate.stream"), 1);
    CU_ASSERT_EQUAL(count_purpose("replicate.dr"), 0);
}

static void test_logical_cutover(void)
{
    to_streaming();
    fm_step *stream = cur("replicate.stream");
    CU_ASSERT_TRUE(cmd(FM_VERB_MIGRATE, NULL, NULL, 0));
    CU_ASSERT_EQUAL(stream->state, FM_S_CANCELED);
    run();
    ok_step("cutover.stop_target");
    ok_step("cutover.stop_source");
    assert_state("cutover", "sync");
    /* The finish, not a whole copy; before one was measured the verified copy bounds it. */
    CU_ASSERT_PTR_NULL(latest("cutover.dr"));
    CU_ASSERT_PTR_NOT_NULL(latest("cutover.finish"));
    cur("cutover.finish")->duration_ms = 4000;
    fm_step *fin = cur("cutover.finish");
    fin->state = FM_S_SUCCEEDED;
    fin->finished_at = S.now;
    run();
    ok_step("cutover.fs");
    CU_ASSERT_FALSE(S.m.slot_held); /* the finish dropped it */
    CU_ASSERT_EQUAL(S.m.finish_ms, 4000);
    CU_ASSERT_EQUAL(S.m.verified_dr_ms, 0); /* a finish is not the measure of a whole copy */
    ok_step("cutover.rename");
    ok_step("cutover.check");
    ok_step("cutover.start_target");
    ok_step("cutover.start_source");
    assert_state("migrated", "");
    CU_ASSERT_EQUAL(count_purpose("slot.drop"), 0);
    /* The next logical cutover's limit is measured from the finish. */
    S.m.slot_held = true;
    S.m.verified_fs_ms = 1000;
    CU_ASSERT_EQUAL(fm_cutover_budget(&S.m, &S.pol), 4000 + S.pol.cutover_margin_ms);
}

static void test_logical_auto_refused(void)
{
    to_database("auto");
    check_answers(false, "source: wal_level is replica");
    CU_ASSERT_STRING_EQUAL(S.m.method, "dump_restore");
    ok_step("replicate.dr");
    assert_state("replicating", "file_sync");
    CU_ASSERT_PTR_NULL(latest("replicate.stream"));
    CU_ASSERT_FALSE(S.m.slot_held);
    /* A spec that names the method does not ask. */
    to_database("dump_restore");
    CU_ASSERT_PTR_NULL(latest("replicate.check_logical"));
    CU_ASSERT_PTR_NOT_NULL(latest("replicate.dr"));
    to_database("logical");
    CU_ASSERT_PTR_NULL(latest("replicate.check_logical"));
    CU_ASSERT_PTR_NOT_NULL(latest("replicate.start"));
    /* A migration created before the choice keeps dump_restore. */
    to_database("");
    CU_ASSERT_PTR_NOT_NULL(latest("replicate.dr"));
}

static void test_logical_fallback(void)
{
    for (int i = 0; i < 2; i++) {
        to_streaming();
        fail_step("replicate.stream", i == 0 ? FERRY_ERR_NO_SPACE : FERRY_ERR_NOT_FOUND, false);
        assert_state("replicating", "pause");
        CU_ASSERT_STRING_EQUAL(S.m.method, "dump_restore");
        CU_ASSERT_PTR_NOT_NULL(latest("slot.drop"));
        ok_step("slot.drop");
        CU_ASSERT_FALSE(S.m.slot_held);
        CU_ASSERT_EQUAL(count_purpose("replicate.stream"), 1); /* not started again */
        /* The cutover copies the whole database. */
        CU_ASSERT_TRUE(cmd(FM_VERB_MIGRATE, NULL, NULL, 0));
        run();
        ok_step("cutover.stop_target");
        ok_step("cutover.stop_source");
        CU_ASSERT_PTR_NOT_NULL(latest("cutover.dr"));
        CU_ASSERT_PTR_NULL(latest("cutover.finish"));
    }
}

static void test_logical_ddl_fails_and_drops(void)
{
    to_streaming();
    fail_step("replicate.stream", FERRY_ERR_CONFLICT, false);
    assert_state("failed", NULL);
    CU_ASSERT_TRUE(strstr(S.error, "boom") != NULL);
    /* Resting with a slot: it is dropped; a drop that fails is said, once. */
    fail_step("slot.drop", FERRY_ERR_UNAVAILABLE, false);
    CU_ASSERT_TRUE(S.m.slot_held);
    CU_ASSERT_STRING_EQUAL(S.m.slot_drop_failed, cur("slot.drop")->id);
    CU_ASSERT_EQUAL(run(), 0);
    CU_ASSERT_EQUAL(count_purpose("slot.drop"), 1);
}

static void test_logical_stop_and_interrupt(void)
{
    to_streaming();
    fm_step *stream = cur("replicate.stream");
    CU_ASSERT_TRUE(cmd(FM_VERB_STOP, NULL, NULL, 0));
    CU_ASSERT_EQUAL(stream->state, FM_S_CANCELED); /* a stream never ends by itself */
    run();
    /* The slot first: the whole copy must not take Ferry's publication to the target. */
    CU_ASSERT_PTR_NULL(latest("stop.dr"));
    ok_step("slot.drop");
    CU_ASSERT_FALSE(S.m.slot_held);
    assert_state("stopping", "final");
    ok_step("stop.dr"); /* the document's stop: a whole copy, verified */
    ok_step("stop.fs");
    assert_state("stopped", "");
    CU_ASSERT_EQUAL(run(), 0);
    CU_ASSERT_EQUAL(count_purpose("slot.drop"), 1);

    to_streaming();
    stream = cur("replicate.stream");
    CU_ASSERT_TRUE(cmd(FM_VERB_INTERRUPT, NULL, NULL, 0));
    CU_ASSERT_EQUAL(stream->state, FM_S_CANCELED);
    run();
    assert_state("failed", NULL);
    ok_step("slot.drop");
    CU_ASSERT_FALSE(S.m.slot_held);
    /* Replicating again starts the method over. */
    CU_ASSERT_TRUE(cmd(FM_VERB_REPLICATE, NULL, NULL, 0));
    run();
    ok_step("replicate.check_target");
    CU_ASSERT_PTR_NOT_NULL(latest("replicate.check_logical"));
}

static const ferry_test_case cases[] = {
    {"logical: auto, start, stream, cutover by the finish", test_logical_cutover},
    {"logical: auto refused, or the spec's method", test_logical_auto_refused},
    {"logical: a slot over its limit or gone falls back", test_logical_fallback},
    {"logical: DDL fails the migration, the slot is dropped", test_logical_ddl_fails_and_drops},
    {"logical: stop and interrupt end the stream and drop the slot",
     test_logical_stop_and_interrupt},
    {"replicate: a whole cycle, passes repeat after the pause", test_replicate_cycle},
    {"replicate: refused when the target app runs", test_replicate_refused_target_running},
    {"replicate: a partial pass does not count as 100%", test_partial_pass_does_not_reach_100},
    {"stop: waits for the running step, then final dr and pass", test_stop_waits_for_running_step},
    {"stop: cancels a queued step", test_stop_cancels_queued_step},
    {"interrupt: failed, incomplete, not replayable", test_interrupt},
    {"retry with backoff, fail for good, replay", test_retry_then_fail_then_replay},
    {"a non-retryable failure fails at once", test_non_retryable_fails_at_once},
    {"expired lease retries, release does not count", test_expired_and_released},
    {"test: start and stop the target", test_test_start_stop},
    {"migrate: refusals", test_migrate_refusals},
    {"cutover: all the way to migrated", test_cutover_happy},
    {"cutover: sync failure restarts the source", test_cutover_sync_failure},
    {"cutover: sync timeout", test_cutover_timeout},
    {"cutover: a pass short of 100% aborts", test_cutover_incomplete_pass},
    {"cutover: rename failure rolls back", test_cutover_rename_failure_rolls_back},
    {"cutover: start failure rolls back", test_cutover_start_failure_rolls_back},
    {"cutover: one budget from the source's stop", test_cutover_budget},
    {"cutover: the limit measures like with like", test_cutover_limit_like_with_like},
    {"migrate: waits for the old TTL", test_migrate_waits_for_ttl},
    {"migrated: the TTL given back after a grace", test_ttl_restored_after_migration},
    {"guard rails and their overrides", test_guard_rails},
    {"replicate after the final migration skips the TTL", test_replicate_after_final_migration},
    {"rollback by hand, failure, replay", test_manual_rollback_and_replay},
    {"replay a named step", test_replay_named_step},
    {"names", test_names},
    {"state and phase names", test_state_and_phase_names},
    {NULL, NULL},
};

int main(void)
{
    static const ferry_test_suite suites[] = {{"machine", NULL, NULL, cases}, {NULL}};
    return ferry_test_main(suites);
}
