/* machine.c - a migration's state machine as pure functions (see machine.h). */
#include "machine.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ferry/error.h"

/* ------------------------------------------------------------------ names */

static const char *const sstate_names[] = {
    [FM_S_UNKNOWN] = "unknown",   [FM_S_PENDING] = "pending",     [FM_S_DISPATCHED] = "dispatched",
    [FM_S_RUNNING] = "running",   [FM_S_SUCCEEDED] = "succeeded", [FM_S_FAILED] = "failed",
    [FM_S_RELEASED] = "released", [FM_S_EXPIRED] = "expired",     [FM_S_CANCELED] = "canceled",
};

fm_sstate fm_sstate_parse(const char *text)
{
    if (text == NULL)
        return FM_S_UNKNOWN;
    for (size_t i = 1; i < sizeof(sstate_names) / sizeof(sstate_names[0]); i++) {
        if (strcmp(text, sstate_names[i]) == 0)
            return (fm_sstate)i;
    }
    return FM_S_UNKNOWN;
}

const char *fm_sstate_name(fm_sstate s)
{
    if ((size_t)s >= sizeof(sstate_names) / sizeof(sstate_names[0]))
        return "unknown";
    return sstate_names[s];
}

bool fm_sstate_active(fm_sstate s)
{
    return s == FM_S_PENDING || s == FM_S_DISPATCHED || s == FM_S_RUNNING;
}

/* clang-format off */
static const fm_purpose purposes[] = {
    {"replicate.check_target", "app",          "status",    "target", "app", false},
    {"replicate.ttl",          "dns",          "lower_ttl", "both",   "dns", false},
    {"replicate.dr",           "dump_restore", "copy",      "both",   "dr",  false},
    {"replicate.fs",           "file_sync",    "pass",      "both",   "fs",  false},
    {"stop.dr",                "dump_restore", "copy",      "both",   "dr",  false},
    {"stop.fs",                "file_sync",    "pass",      "both",   "fs",  false},
    {"test.start",             "app",          "start",     "target", "app", false},
    {"test.stop",              "app",          "stop",      "target", "app", false},
    {"cutover.stop_target",    "app",          "stop",      "target", "app", false},
    {"cutover.stop_source",    "app",          "stop",      "source", "app", false},
    {"cutover.dr",             "dump_restore", "copy",      "both",   "dr",  false},
    {"cutover.fs",             "file_sync",    "pass",      "both",   "fs",  false},
    {"cutover.rename",         "dns",          "rename",    "both",   "dns", false},
    {"cutover.check",          "dns",          "check",     "both",   "dns", false},
    {"cutover.start_target",   "app",          "start",     "target", "app", false},
    {"cutover.start_source",   "app",          "start",     "source", "app", false},
    {"cutover.restart_source", "app",          "start",     "source", "app", false},
    {"rollback.stop_target",   "app",          "stop",      "target", "app", true},
    {"rollback.stop_source",   "app",          "stop",      "source", "app", true},
    {"rollback.rename",        "dns",          "rename",    "both",   "dns", true},
    {"rollback.check",         "dns",          "check",     "both",   "dns", true},
    {"rollback.start_source",  "app",          "start",     "source", "app", true},
};
/* clang-format on */

const fm_purpose *fm_purpose_find(const char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof(purposes) / sizeof(purposes[0]); i++) {
        if (strcmp(purposes[i].name, name) == 0)
            return &purposes[i];
    }
    return NULL;
}

static const char *const cmd_names[] = {
    [FM_CMD_REPLICATE] = "replicate", [FM_CMD_STOP] = "stop",
    [FM_CMD_INTERRUPT] = "interrupt", [FM_CMD_TEST_START] = "test-start",
    [FM_CMD_TEST_STOP] = "test-stop", [FM_CMD_MIGRATE] = "migrate",
    [FM_CMD_ROLLBACK] = "rollback",   [FM_CMD_REPLAY] = "replay",
};

const char *fm_cmd_name(fm_cmd cmd)
{
    if ((size_t)cmd >= sizeof(cmd_names) / sizeof(cmd_names[0]) || cmd_names[cmd] == NULL)
        return "unknown";
    return cmd_names[cmd];
}

/* ------------------------------------------------------------------ plan building */

void fm_plan_set(fm_plan *plan, const char *name, const char *fmt, ...)
{
    for (size_t i = 0; i < plan->n_fields; i++) {
        if (strcmp(plan->fields[i].name, name) == 0) {
            va_list ap;
            va_start(ap, fmt);
            (void)vsnprintf(plan->fields[i].value, sizeof(plan->fields[i].value), fmt, ap);
            va_end(ap);
            return;
        }
    }
    if (plan->n_fields >= FM_FIELDS_MAX)
        return;
    fm_field *f = &plan->fields[plan->n_fields++];
    (void)snprintf(f->name, sizeof(f->name), "%s", name);
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(f->value, sizeof(f->value), fmt, ap);
    va_end(ap);
}

/* Sets the new state (and phase) and the event type. */
static void plan_to(fm_plan *plan, const char *state, const char *phase, const char *what)
{
    plan->change = true;
    (void)snprintf(plan->to, sizeof(plan->to), "%s", state);
    (void)snprintf(plan->what, sizeof(plan->what), "%s", what);
    fm_plan_set(plan, "phase", "%s", phase);
}

static fm_action *plan_act(fm_plan *plan, fm_act_kind kind)
{
    if (plan->n_acts >= FM_ACTS_MAX)
        return NULL;
    fm_action *a = &plan->acts[plan->n_acts++];
    memset(a, 0, sizeof(*a));
    a->kind = kind;
    return a;
}

static void plan_create(fm_plan *plan, const char *purpose, int64_t deadline, int64_t pass)
{
    fm_action *a = plan_act(plan, FM_ACT_CREATE);
    if (a == NULL)
        return;
    (void)snprintf(a->purpose, sizeof(a->purpose), "%s", purpose);
    a->deadline = deadline;
    a->pass = pass;
}

static void plan_cancel(fm_plan *plan, const fm_step *s, const char *reason)
{
    fm_action *a = plan_act(plan, FM_ACT_CANCEL);
    if (a == NULL)
        return;
    (void)snprintf(a->step, sizeof(a->step), "%s", s->id);
    (void)snprintf(a->reason, sizeof(a->reason), "%s", reason);
}

static void plan_retry(fm_plan *plan, const fm_step *s, int64_t not_before, bool count, bool reset)
{
    fm_action *a = plan_act(plan, FM_ACT_RETRY);
    if (a == NULL)
        return;
    (void)snprintf(a->step, sizeof(a->step), "%s", s->id);
    a->attempt = s->attempt;
    a->not_before = not_before;
    a->count = count;
    a->reset_retries = reset;
}

static void plan_wake(fm_plan *plan, int64_t at)
{
    if (at > 0 && (plan->wake_at == 0 || at < plan->wake_at))
        plan->wake_at = at;
}

static void plan_clear_error(fm_plan *plan)
{
    fm_plan_set(plan, "error_step", "%s", "");
    fm_plan_set(plan, "error_code", "%s", "");
    fm_plan_set(plan, "error_name", "%s", "");
    fm_plan_set(plan, "error_message", "%s", "");
    fm_plan_set(plan, "error_at", "%s", "");
}

/* Records step s's failure (or, with s NULL, code and message) as the migration's error. */
static void plan_error(fm_plan *plan, const fm_step *s, ferry_rc code, const char *message,
                       int64_t now)
{
    fm_plan_set(plan, "error_step", "%s", s != NULL ? s->id : "");
    fm_plan_set(plan, "error_code", "%d", (int)code);
    fm_plan_set(plan, "error_name", "%s", ferry_rc_str(code));
    fm_plan_set(plan, "error_message", "%s", message);
    fm_plan_set(plan, "error_at", "%" PRId64, now);
}

/* ------------------------------------------------------------------ reading steps */

static const fm_step *latest(const fm_mig *m, const fm_step *steps, size_t n, const char *purpose)
{
    const fm_step *best = NULL;
    for (size_t i = 0; i < n; i++) {
        if (steps[i].cycle != m->cycle || strcmp(steps[i].purpose, purpose) != 0)
            continue;
        best = &steps[i];
    }
    return best;
}

typedef enum track_t {
    T_NONE,   /* no step yet (or canceled): create one */
    T_WAIT,   /* running, queued, or being retried */
    T_DONE,   /* succeeded */
    T_FAILED, /* failed for good */
} track_t;

static int64_t backoff(const fm_policy *p, int64_t retries)
{
    int64_t d = p->backoff_ms;
    for (int64_t i = 0; i < retries && d < p->backoff_max_ms; i++)
        d *= 2;
    return d > p->backoff_max_ms ? p->backoff_max_ms : d;
}

/* Where step s stands; plans a retry when its failure allows one. */
static track_t track(const fm_step *s, const fm_policy *p, int64_t now, fm_plan *plan)
{
    if (s == NULL)
        return T_NONE;
    switch (s->state) {
    case FM_S_PENDING:
    case FM_S_DISPATCHED:
    case FM_S_RUNNING:
    case FM_S_UNKNOWN:
        return T_WAIT;
    case FM_S_SUCCEEDED:
        return T_DONE;
    case FM_S_RELEASED: /* a worker shut down: not the step's fault */
        plan_retry(plan, s, 0, false, false);
        return T_WAIT;
    case FM_S_EXPIRED:
    case FM_S_FAILED: {
        bool retryable = s->state == FM_S_EXPIRED || s->error_retryable;
        if (retryable && s->retries < p->max_retries) {
            plan_retry(plan, s, now + backoff(p, s->retries), true, false);
            return T_WAIT;
        }
        return T_FAILED;
    }
    case FM_S_CANCELED:
        return T_NONE;
    }
    return T_WAIT;
}

static ferry_rc step_code(const fm_step *s)
{
    if (s->state == FM_S_EXPIRED)
        return FERRY_ERR_LEASE_LOST;
    if (s->error_code > 0 && s->error_code <= FERRY_RC_MAX)
        return (ferry_rc)s->error_code;
    return FERRY_ERR_INTERNAL;
}

/* The migration fails because step s failed for good. */
static void fail_step(const fm_mig *m, const fm_step *s, bool replayable, bool incomplete,
                      int64_t now, fm_plan *plan)
{
    plan_to(plan, "failed", m->phase, "failed");
    fm_plan_set(plan, "failed_from", "%s", m->state);
    fm_plan_set(plan, "failed_phase", "%s", m->phase);
    fm_plan_set(plan, "replayable", "%d", replayable ? 1 : 0);
    if (incomplete)
        fm_plan_set(plan, "target_incomplete", "1");
    char msg[FM_TEXT_MAX];
    (void)snprintf(msg, sizeof(msg), "step %s (%s) failed after %" PRId64 " attempt%s: %.200s",
                   s->id, s->purpose, s->attempt, s->attempt == 1 ? "" : "s",
                   s->error_message[0] != '\0' ? s->error_message : fm_sstate_name(s->state));
    plan_error(plan, s, step_code(s), msg, now);
}

/* Records a finished dump-restore's figures. */
static void note_dr(const fm_step *s, fm_plan *plan)
{
    fm_plan_set(plan, "last_dr_ms", "%" PRId64, s->duration_ms);
    fm_plan_set(plan, "last_dr_at", "%" PRId64, s->finished_at);
    if (s->rows >= 0)
        fm_plan_set(plan, "rows", "%" PRId64, s->rows);
    fm_plan_set(plan, "target_incomplete", "0");
}

/* Records a finished file pass's figures; true when it reached 100%. */
static bool note_fs(const fm_step *s, fm_plan *plan)
{
    fm_plan_set(plan, "last_fs_ms", "%" PRId64, s->duration_ms);
    fm_plan_set(plan, "last_fs_at", "%" PRId64, s->finished_at);
    if (s->files_total >= 0)
        fm_plan_set(plan, "files_total", "%" PRId64, s->files_total);
    if (s->files_synced >= 0)
        fm_plan_set(plan, "files_synced", "%" PRId64, s->files_synced);
    if (s->bytes_total >= 0)
        fm_plan_set(plan, "bytes_total", "%" PRId64, s->bytes_total);
    if (s->bytes_synced >= 0)
        fm_plan_set(plan, "bytes_synced", "%" PRId64, s->bytes_synced);
    return s->files_total >= 0 && s->files_synced == s->files_total;
}

/* ------------------------------------------------------------------ replicating */

static void start_pass(const fm_mig *m, fm_plan *plan)
{
    int64_t pass = m->pass + 1;
    plan_to(plan, m->state, "file_sync", "phase");
    fm_plan_set(plan, "pass", "%" PRId64, pass);
    fm_plan_set(plan, "pause_until", "0");
    plan_create(plan, "replicate.fs", 0, pass);
}

static void adv_replicating(const fm_mig *m, const fm_step *steps, size_t n, const fm_policy *p,
                            int64_t now, fm_plan *plan)
{
    const char *ph = m->phase;
    if (strcmp(ph, "check_target") == 0 || ph[0] == '\0') {
        const fm_step *s = latest(m, steps, n, "replicate.check_target");
        switch (track(s, p, now, plan)) {
        case T_NONE:
            plan_to(plan, m->state, "check_target", "phase");
            plan_create(plan, "replicate.check_target", 0, 0);
            return;
        case T_WAIT:
            return;
        case T_FAILED:
            fail_step(m, s, true, false, now, plan);
            return;
        case T_DONE:
            break;
        }
        if (s->running == 1) {
            plan_to(plan, "failed", ph, "refused");
            fm_plan_set(plan, "failed_from", "%s", m->state);
            fm_plan_set(plan, "failed_phase", "%s", ph);
            fm_plan_set(plan, "replayable", "0");
            plan_error(plan, s, FERRY_ERR_BUSY,
                       "the target app is running: stop it, then activate replication again "
                       "(data cannot be replicated into a running app)",
                       now);
            return;
        }
        if (m->ttl_lowered) {
            plan_to(plan, m->state, "dump_restore", "phase");
            plan_create(plan, "replicate.dr", 0, 0);
        } else {
            plan_to(plan, m->state, "lower_ttl", "phase");
            plan_create(plan, "replicate.ttl", 0, 0);
        }
        return;
    }
    if (strcmp(ph, "lower_ttl") == 0) {
        const fm_step *s = latest(m, steps, n, "replicate.ttl");
        switch (track(s, p, now, plan)) {
        case T_NONE:
            plan_create(plan, "replicate.ttl", 0, 0);
            return;
        case T_WAIT:
            return;
        case T_FAILED:
            fail_step(m, s, true, false, now, plan);
            return;
        case T_DONE:
            plan_to(plan, m->state, "dump_restore", "phase");
            fm_plan_set(plan, "ttl_lowered", "1");
            plan_create(plan, "replicate.dr", 0, 0);
            return;
        }
        return;
    }
    if (strcmp(ph, "dump_restore") == 0) {
        const fm_step *s = latest(m, steps, n, "replicate.dr");
        switch (track(s, p, now, plan)) {
        case T_NONE:
            plan_create(plan, "replicate.dr", 0, 0);
            return;
        case T_WAIT:
            return;
        case T_FAILED:
            fail_step(m, s, true, true, now, plan);
            return;
        case T_DONE:
            note_dr(s, plan);
            start_pass(m, plan);
            return;
        }
        return;
    }
    if (strcmp(ph, "file_sync") == 0) {
        const fm_step *s = latest(m, steps, n, "replicate.fs");
        switch (track(s, p, now, plan)) {
        case T_NONE:
            start_pass(m, plan);
            return;
        case T_WAIT:
            return;
        case T_FAILED:
            fail_step(m, s, true, false, now, plan);
            return;
        case T_DONE:
            break;
        }
        bool complete = note_fs(s, plan);
        plan_to(plan, m->state, "pause", "pass_done");
        if (complete && !m->reached_100)
            fm_plan_set(plan, "reached_100", "1");
        fm_plan_set(plan, "pause_until", "%" PRId64, now + p->pause_ms);
        plan_wake(plan, now + p->pause_ms);
        return;
    }
    if (strcmp(ph, "pause") == 0) {
        if (now >= m->pause_until)
            start_pass(m, plan);
        else
            plan_wake(plan, m->pause_until);
        return;
    }
}

/* ------------------------------------------------------------------ stopping */

static void adv_stopping(const fm_mig *m, const fm_step *steps, size_t n, const fm_policy *p,
                         int64_t now, fm_plan *plan)
{
    /* Let a step of the replication that was already running end first. */
    static const char *const repl[] = {"replicate.check_target", "replicate.ttl", "replicate.dr",
                                       "replicate.fs"};
    for (size_t i = 0; i < sizeof(repl) / sizeof(repl[0]); i++) {
        const fm_step *s = latest(m, steps, n, repl[i]);
        if (s != NULL && fm_sstate_active(s->state))
            return;
    }
    const fm_step *dr = latest(m, steps, n, "stop.dr");
    const fm_step *fs = latest(m, steps, n, "stop.fs");
    track_t tdr = track(dr, p, now, plan);
    track_t tfs = track(fs, p, now, plan);
    if (tdr == T_NONE)
        plan_create(plan, "stop.dr", 0, 0);
    if (tfs == T_NONE) {
        plan_create(plan, "stop.fs", 0, m->pass + 1);
        plan_to(plan, m->state, "final", "phase");
        fm_plan_set(plan, "pass", "%" PRId64, m->pass + 1);
    }
    if (tdr == T_FAILED) {
        fail_step(m, dr, true, true, now, plan);
        return;
    }
    if (tfs == T_FAILED) {
        fail_step(m, fs, true, false, now, plan);
        return;
    }
    if (tdr != T_DONE || tfs != T_DONE)
        return;
    note_dr(dr, plan);
    bool complete = note_fs(fs, plan);
    plan_to(plan, "stopped", "", "stopped");
    if (complete)
        fm_plan_set(plan, "reached_100", "1");
}

/* ------------------------------------------------------------------ testing */

static void adv_testing(const fm_mig *m, const fm_step *steps, size_t n, const fm_policy *p,
                        int64_t now, fm_plan *plan)
{
    if (strcmp(m->phase, "starting") == 0) {
        const fm_step *s = latest(m, steps, n, "test.start");
        switch (track(s, p, now, plan)) {
        case T_NONE:
            plan_create(plan, "test.start", 0, 0);
            return;
        case T_WAIT:
            return;
        case T_DONE:
            plan_to(plan, m->state, "running", "test_started");
            return;
        case T_FAILED:
            /* Nothing changed on the target but a failed start: back to stopped, with why. */
            plan_to(plan, "stopped", "", "test_start_failed");
            plan_error(plan, s, step_code(s), s->error_message, now);
            return;
        }
        return;
    }
    if (strcmp(m->phase, "stopping") == 0) {
        const fm_step *s = latest(m, steps, n, "test.stop");
        switch (track(s, p, now, plan)) {
        case T_NONE:
            plan_create(plan, "test.stop", 0, 0);
            return;
        case T_WAIT:
            return;
        case T_DONE:
            plan_to(plan, "stopped", "", "test_stopped");
            return;
        case T_FAILED:
            /* The app may still run: stay in testing, say why; test-stop can be asked again. */
            plan_to(plan, m->state, "running", "test_stop_failed");
            plan_error(plan, s, step_code(s), s->error_message, now);
            return;
        }
    }
}

/* ------------------------------------------------------------------ cutover and rollback */

/* A chain of one-step phases: phases[i] runs purpose "<prefix>.<phases[i]>". */
typedef struct chain {
    const char *state;
    const char *prefix;
    const char *const *phases;
    size_t n;
    const char *done_state; /* after the last phase */
} chain;

static const char *const cutover_phases[] = {"stop_target", "stop_source",  "sync",        "rename",
                                             "check",       "start_target", "start_source"};
static const char *const rollback_phases[] = {"stop_target", "stop_source", "rename", "check",
                                              "start_source"};

static void enter_phase(const fm_mig *m, const char *prefix, const char *phase, const fm_policy *p,
                        int64_t now, fm_plan *plan)
{
    plan_to(plan, m->state, phase, "phase");
    if (strcmp(phase, "sync") == 0) {
        int64_t dr_deadline = now + m->last_dr_ms + p->cutover_margin_ms;
        int64_t fs_deadline = now + m->last_fs_ms + p->cutover_margin_ms;
        int64_t deadline = dr_deadline > fs_deadline ? dr_deadline : fs_deadline;
        fm_plan_set(plan, "sync_deadline", "%" PRId64, deadline);
        plan_create(plan, "cutover.dr", dr_deadline, 0);
        plan_create(plan, "cutover.fs", fs_deadline, m->pass + 1);
        fm_plan_set(plan, "pass", "%" PRId64, m->pass + 1);
        plan_wake(plan, deadline);
        return;
    }
    char purpose[FM_NAME_MAX];
    (void)snprintf(purpose, sizeof(purpose), "%s.%s", prefix, phase);
    plan_create(plan, purpose, 0, 0);
}

/* Cutover sync failed or timed out: rename nothing, start the source again. */
static void cutover_abort(const fm_mig *m, const fm_step *s, ferry_rc code, const char *message,
                          int64_t now, fm_plan *plan)
{
    plan_to(plan, m->state, "restart_source", "sync_failed");
    plan_error(plan, s, code, message, now);
    plan_create(plan, "cutover.restart_source", 0, 0);
}

static void adv_sync(const fm_mig *m, const fm_step *steps, size_t n, const fm_policy *p,
                     int64_t now, fm_plan *plan)
{
    const fm_step *dr = latest(m, steps, n, "cutover.dr");
    const fm_step *fs = latest(m, steps, n, "cutover.fs");
    if (dr == NULL && fs == NULL) {
        enter_phase(m, "cutover", "sync", p, now, plan);
        return;
    }
    track_t tdr = track(dr, p, now, plan);
    track_t tfs = track(fs, p, now, plan);
    if (tdr == T_DONE && tfs == T_DONE) {
        note_dr(dr, plan);
        if (!note_fs(fs, plan)) {
            char msg[FM_TEXT_MAX];
            (void)snprintf(msg, sizeof(msg),
                           "the last file pass ended with %" PRId64 " of %" PRId64
                           " files replicated",
                           fs->files_synced, fs->files_total);
            cutover_abort(m, fs, FERRY_ERR_CONFLICT, msg, now, plan);
            return;
        }
        enter_phase(m, "cutover", "rename", p, now, plan);
        return;
    }
    const fm_step *failed = tdr == T_FAILED ? dr : tfs == T_FAILED ? fs : NULL;
    bool late = m->sync_deadline > 0 && now >= m->sync_deadline;
    if (failed == NULL && !late) {
        plan_wake(plan, m->sync_deadline);
        if (tdr == T_NONE || tfs == T_NONE) /* canceled by hand: that ends the cutover too */
            failed = tdr == T_NONE ? dr : fs;
        else
            return;
    }
    /* Stop what still runs; no retry of the other can help now. */
    plan->n_acts = 0;
    if (dr != NULL && fm_sstate_active(dr->state))
        plan_cancel(plan, dr, "cutover replication ended");
    if (fs != NULL && fm_sstate_active(fs->state))
        plan_cancel(plan, fs, "cutover replication ended");
    char msg[FM_TEXT_MAX];
    if (failed != NULL) {
        (void)snprintf(msg, sizeof(msg),
                       "cutover replication failed, nothing renamed, source app restarted: "
                       "step %s (%s): %.200s",
                       failed->id, failed->purpose,
                       failed->error_message[0] != '\0' ? failed->error_message
                                                        : fm_sstate_name(failed->state));
        cutover_abort(m, failed, step_code(failed), msg, now, plan);
    } else {
        int64_t margin = p->cutover_margin_ms;
        bool whole_min = margin % 60000 == 0;
        (void)snprintf(msg, sizeof(msg),
                       "cutover replication timed out (limit: last measured duration + %" PRId64
                       " %s), nothing renamed, source app restarted",
                       whole_min ? margin / 60000 : margin / 1000, whole_min ? "min" : "s");
        cutover_abort(m, NULL, FERRY_ERR_TIMEOUT, msg, now, plan);
    }
}

static void adv_chain(const fm_mig *m, const chain *c, const fm_step *steps, size_t n,
                      const fm_policy *p, int64_t now, fm_plan *plan)
{
    bool cutover = strcmp(c->state, "cutover") == 0;
    if (cutover && strcmp(m->phase, "sync") == 0) {
        adv_sync(m, steps, n, p, now, plan);
        return;
    }
    if (cutover && strcmp(m->phase, "restart_source") == 0) {
        const fm_step *s = latest(m, steps, n, "cutover.restart_source");
        switch (track(s, p, now, plan)) {
        case T_NONE:
            plan_create(plan, "cutover.restart_source", 0, 0);
            return;
        case T_WAIT:
            return;
        case T_DONE:
            /* The error that ended the cutover stays on the migration. */
            plan_to(plan, "failed", "restart_source", "cutover_failed");
            fm_plan_set(plan, "failed_from", "cutover");
            fm_plan_set(plan, "failed_phase", "restart_source");
            fm_plan_set(plan, "replayable", "0");
            return;
        case T_FAILED:
            fail_step(m, s, true, false, now, plan);
            return;
        }
        return;
    }
    size_t i = 0;
    while (i < c->n && strcmp(c->phases[i], m->phase) != 0)
        i++;
    if (i == c->n) { /* no phase yet: the command just arrived */
        enter_phase(m, c->prefix, c->phases[0], p, now, plan);
        return;
    }
    char purpose[FM_NAME_MAX];
    (void)snprintf(purpose, sizeof(purpose), "%s.%s", c->prefix, c->phases[i]);
    const fm_step *s = latest(m, steps, n, purpose);
    switch (track(s, p, now, plan)) {
    case T_NONE:
        plan_create(plan, purpose, 0, 0);
        return;
    case T_WAIT:
        return;
    case T_DONE:
        if (i + 1 < c->n) {
            enter_phase(m, c->prefix, c->phases[i + 1], p, now, plan);
        } else {
            plan_to(plan, c->done_state, "", c->done_state);
            fm_plan_set(plan, "sync_deadline", "0");
        }
        return;
    case T_FAILED:
        break;
    }
    if (!cutover) { /* a rollback step failed for good: stop here, replay continues */
        fail_step(m, s, true, false, now, plan);
        return;
    }
    if (i < 2) { /* stopping the apps failed: nothing changed yet, start the source again */
        char msg[FM_TEXT_MAX];
        (void)snprintf(msg, sizeof(msg), "cutover stopped before replication: step %s (%s): %.200s",
                       s->id, s->purpose, s->error_message);
        cutover_abort(m, s, step_code(s), msg, now, plan);
        return;
    }
    /* Rename, check or restart failed: roll back automatically (source document 4.7.2). */
    char msg[FM_TEXT_MAX];
    (void)snprintf(msg, sizeof(msg),
                   "cutover failed at %s, rolled back automatically: step %s: %.200s", c->phases[i],
                   s->id, s->error_message);
    plan_to(plan, "rolling_back", rollback_phases[0], "auto_rollback");
    plan_error(plan, s, step_code(s), msg, now);
    plan_create(plan, "rollback.stop_target", 0, 0);
}

/* ------------------------------------------------------------------ advance */

void fm_advance(const fm_mig *mig, const fm_step *steps, size_t n_steps, const fm_policy *policy,
                int64_t now, fm_plan *plan)
{
    memset(plan, 0, sizeof(*plan));
    const char *st = mig->state;
    if (strcmp(st, "replicating") == 0) {
        adv_replicating(mig, steps, n_steps, policy, now, plan);
    } else if (strcmp(st, "stopping") == 0) {
        adv_stopping(mig, steps, n_steps, policy, now, plan);
    } else if (strcmp(st, "testing") == 0) {
        adv_testing(mig, steps, n_steps, policy, now, plan);
    } else if (strcmp(st, "cutover") == 0) {
        chain c = {"cutover", "cutover", cutover_phases,
                   sizeof(cutover_phases) / sizeof(cutover_phases[0]), "migrated"};
        adv_chain(mig, &c, steps, n_steps, policy, now, plan);
    } else if (strcmp(st, "rolling_back") == 0) {
        chain c = {"rolling_back", "rollback", rollback_phases,
                   sizeof(rollback_phases) / sizeof(rollback_phases[0]), "rolled_back"};
        adv_chain(mig, &c, steps, n_steps, policy, now, plan);
    }
    /* new, stopped, failed, migrated, rolled_back: they wait for a command. */
}

/* ------------------------------------------------------------------ commands */

static bool refuse(char *out, size_t outsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool refuse(char *out, size_t outsz, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(out, outsz, fmt, ap);
    va_end(ap);
    return false;
}

static bool in(const char *state, const char *const *list)
{
    for (; *list != NULL; list++) {
        if (strcmp(state, *list) == 0)
            return true;
    }
    return false;
}

/* Cancels every step of the current cycle that has not ended. */
static void cancel_active(const fm_mig *m, const fm_step *steps, size_t n, const char *reason,
                          bool running_too, fm_plan *plan)
{
    for (size_t i = 0; i < n; i++) {
        if (steps[i].cycle != m->cycle || !fm_sstate_active(steps[i].state))
            continue;
        if (!running_too && steps[i].state == FM_S_RUNNING)
            continue;
        plan_cancel(plan, &steps[i], reason);
    }
}

static bool cmd_replicate(const fm_mig *m, fm_plan *plan, char *why, size_t whysz)
{
    static const char *const ok[] = {"new", "stopped", "failed", "rolled_back", NULL};
    if (!in(m->state, ok)) {
        if (strcmp(m->state, "testing") == 0)
            return refuse(why, whysz,
                          "cannot activate replication: the target app is running for a test "
                          "(%s); test-stop it first",
                          m->phase);
        if (strcmp(m->state, "replicating") == 0 || strcmp(m->state, "stopping") == 0)
            return refuse(why, whysz, "cannot activate replication: it is already %s", m->state);
        if (strcmp(m->state, "migrated") == 0)
            return refuse(why, whysz, "cannot activate replication: the app is %s; roll back first",
                          m->state);
        return refuse(why, whysz, "cannot activate replication while the migration is %s",
                      m->state);
    }
    plan_to(plan, "replicating", "check_target", "replicate");
    plan->new_cycle = true;
    plan_clear_error(plan);
    fm_plan_set(plan, "replayable", "0");
    fm_plan_set(plan, "failed_from", "%s", "");
    fm_plan_set(plan, "failed_phase", "%s", "");
    fm_plan_set(plan, "pause_until", "0");
    return true;
}

bool fm_command(const fm_mig *m, const fm_step *steps, size_t n, fm_cmd cmd,
                const char *replay_step, const char *actor, int64_t now, fm_plan *plan, char *why,
                size_t whysz)
{
    memset(plan, 0, sizeof(*plan));
    (void)now;
    if (m->state[0] == '\0')
        return refuse(why, whysz, "%s: no such migration", m->id);
    char reason[FM_TEXT_MAX];
    (void)snprintf(reason, sizeof(reason), "%s by %s", fm_cmd_name(cmd), actor);
    switch (cmd) {
    case FM_CMD_REPLICATE:
        return cmd_replicate(m, plan, why, whysz);
    case FM_CMD_STOP:
        if (strcmp(m->state, "replicating") != 0)
            return refuse(why, whysz,
                          "cannot stop replication: the migration is %s, not "
                          "replicating",
                          m->state);
        /* Queued steps of the replication are not needed any more; a running one ends first. */
        cancel_active(m, steps, n, reason, false, plan);
        plan_to(plan, "stopping", "wait", "stop");
        return true;
    case FM_CMD_INTERRUPT:
        if (strcmp(m->state, "replicating") != 0 && strcmp(m->state, "stopping") != 0)
            return refuse(why, whysz, "cannot interrupt replication: the migration is %s",
                          m->state);
        cancel_active(m, steps, n, reason, true, plan);
        plan_to(plan, "failed", m->phase, "interrupted");
        fm_plan_set(plan, "failed_from", "%s", m->state);
        fm_plan_set(plan, "failed_phase", "%s", m->phase);
        fm_plan_set(plan, "replayable", "0");
        fm_plan_set(plan, "target_incomplete", "1");
        plan_error(plan, NULL, FERRY_ERR_CANCELLED,
                   "replication interrupted: the target is incomplete and probably inconsistent; "
                   "activate replication again to bring it to 100%",
                   now);
        return true;
    case FM_CMD_TEST_START:
        if (strcmp(m->state, "stopped") != 0)
            return refuse(why, whysz,
                          "cannot start a test: the migration is %s; stop "
                          "replication first and wait for stopped",
                          m->state);
        plan_to(plan, "testing", "starting", "test_start");
        plan->new_cycle = true;
        plan_clear_error(plan);
        return true;
    case FM_CMD_TEST_STOP:
        if (strcmp(m->state, "testing") != 0)
            return refuse(why, whysz, "cannot stop a test: the migration is %s, not testing",
                          m->state);
        if (strcmp(m->phase, "running") != 0)
            return refuse(why, whysz, "cannot stop the test yet: the target app is %s", m->phase);
        plan_to(plan, "testing", "stopping", "test_stop");
        plan_clear_error(plan);
        return true;
    case FM_CMD_MIGRATE:
        if (!m->production)
            return refuse(why, whysz,
                          "cannot migrate %s: the final migration is started from the "
                          "production environment (it renames every environment)",
                          m->id);
        if (strcmp(m->state, "replicating") != 0)
            return refuse(why, whysz,
                          "cannot migrate: production is %s; replication must be "
                          "active (replicating)",
                          m->state);
        if (!m->reached_100)
            return refuse(why, whysz,
                          "cannot migrate %s: production replication has never "
                          "reached 100%%",
                          m->id);
        cancel_active(m, steps, n, reason, true, plan);
        plan_to(plan, "cutover", "stop_target", "migrate");
        plan->new_cycle = true;
        plan_clear_error(plan);
        fm_plan_set(plan, "sync_deadline", "0");
        return true;
    case FM_CMD_ROLLBACK: {
        bool again = strcmp(m->state, "failed") == 0 && strcmp(m->failed_from, "rolling_back") == 0;
        if (strcmp(m->state, "migrated") != 0 && !again)
            return refuse(why, whysz, "cannot roll back: the migration is %s, not migrated",
                          m->state);
        plan_to(plan, "rolling_back", "stop_target", "rollback");
        plan->new_cycle = true;
        plan_clear_error(plan);
        return true;
    }
    case FM_CMD_REPLAY: {
        if (strcmp(m->state, "failed") != 0)
            return refuse(why, whysz, "nothing to replay: the migration is %s, not failed",
                          m->state);
        if (!m->replayable)
            return refuse(why, whysz,
                          "%s cannot be replayed: it was interrupted or its cutover was "
                          "abandoned; activate replication again",
                          m->id);
        const char *want =
            replay_step != NULL && replay_step[0] != '\0' ? replay_step : m->error_step;
        const fm_step *s = NULL;
        for (size_t i = 0; i < n; i++) {
            if (strcmp(steps[i].id, want) == 0 && steps[i].cycle == m->cycle)
                s = &steps[i];
        }
        if (s == NULL)
            return refuse(why, whysz, "no step %s in the current cycle to replay", want);
        if (s->state != FM_S_FAILED && s->state != FM_S_EXPIRED && s->state != FM_S_CANCELED)
            return refuse(why, whysz, "step %s has not failed", want);
        plan_retry(plan, s, 0, false, true);
        plan_to(plan, m->failed_from, m->failed_phase, "replay");
        plan_clear_error(plan);
        fm_plan_set(plan, "replayable", "0");
        return true;
    }
    }
    return refuse(why, whysz, "unknown command %d", (int)cmd);
}
