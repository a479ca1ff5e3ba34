/* machine.c - a migration's state machine as pure functions (see machine.h). */
#include "machine.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ferry/error.h"

/* clang-format off */
static const fm_purpose purposes[] = {
    {"replicate.check_target", "app",          "status",    "target", "app", false},
    {"replicate.ttl",          "dns",          "lower_ttl", "both",   "dns", false},
    {"replicate.check_logical","dump_restore", "logical_check", "source", "dr", false},
    {"replicate.dr",           "dump_restore", "copy",      "both",   "dr",  false},
    {"replicate.start",        "dump_restore", "logical_start", "both", "dr", false},
    {"replicate.stream",       "dump_restore", "logical_stream", "both", "lr", false},
    {"replicate.fs",           "file_sync",    "pass",      "both",   "fs",  false},
    {"stop.dr",                "dump_restore", "copy",      "both",   "dr",  false},
    {"stop.fs",                "file_sync",    "pass",      "both",   "fs",  false},
    {"test.start",             "app",          "start",     "target", "app", false},
    {"test.stop",              "app",          "stop",      "target", "app", false},
    {"cutover.stop_target",    "app",          "stop",      "target", "app", false},
    {"cutover.stop_source",    "app",          "stop",      "source", "app", false},
    {"cutover.dr",             "dump_restore", "copy",      "both",   "dr",  false},
    {"cutover.finish",         "dump_restore", "logical_finish", "both", "dr", false},
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
    {"migrated.restore_ttl",   "dns",          "restore_ttl", "both", "dns", false},
    {"slot.drop",              "dump_restore", "logical_drop", "source", "dr", false},
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
    [FM_VERB_REPLICATE] = "replicate", [FM_VERB_STOP] = "stop",
    [FM_VERB_INTERRUPT] = "interrupt", [FM_VERB_TEST_START] = "test-start",
    [FM_VERB_TEST_STOP] = "test-stop", [FM_VERB_MIGRATE] = "migrate",
    [FM_VERB_ROLLBACK] = "rollback",   [FM_VERB_REPLAY] = "replay",
};

const char *fm_verb_name(fm_verb cmd)
{
    if ((size_t)cmd >= sizeof(cmd_names) / sizeof(cmd_names[0]) || cmd_names[cmd] == NULL)
        return "unknown";
    return cmd_names[cmd];
}

/* ------------------------------------------------------------------ the migration's fields */

typedef enum mf_type { MF_TEXT, MF_INT, MF_FLAG, MF_STATE, MF_PHASE } mf_type;

/* Each field the machine reads, under the name it is stored (and planned) with. */
typedef struct mig_field {
    const char *name;
    mf_type type;
    size_t offset;
    size_t size; /* MF_TEXT: the buffer's */
} mig_field;

#define MF_TEXT_FIELD(n, f)                                                                        \
    {                                                                                              \
        n, MF_TEXT, offsetof(fm_mig, f), sizeof(((fm_mig *)0)->f)                                  \
    }
#define MF_INT_FIELD(n, f)                                                                         \
    {                                                                                              \
        n, MF_INT, offsetof(fm_mig, f), 0                                                          \
    }
#define MF_FLAG_FIELD(n, f)                                                                        \
    {                                                                                              \
        n, MF_FLAG, offsetof(fm_mig, f), 0                                                         \
    }
#define MF_STATE_FIELD(n, f)                                                                       \
    {                                                                                              \
        n, MF_STATE, offsetof(fm_mig, f), 0                                                        \
    }
#define MF_PHASE_FIELD(n, f)                                                                       \
    {                                                                                              \
        n, MF_PHASE, offsetof(fm_mig, f), 0                                                        \
    }

static const mig_field mig_fields[] = {
    MF_TEXT_FIELD("env", env),
    MF_STATE_FIELD("state", state),
    MF_PHASE_FIELD("phase", phase),
    MF_INT_FIELD("cycle", cycle),
    MF_FLAG_FIELD("production", production),
    MF_FLAG_FIELD("reached_100", reached_100),
    MF_FLAG_FIELD("ttl_lowered", ttl_lowered),
    MF_FLAG_FIELD("replayable", replayable),
    MF_INT_FIELD("pass", pass),
    MF_INT_FIELD("pause_until", pause_until),
    MF_INT_FIELD("sync_deadline", sync_deadline),
    MF_INT_FIELD("last_dr_ms", last_dr_ms),
    MF_INT_FIELD("last_fs_ms", last_fs_ms),
    MF_INT_FIELD("verified_dr_ms", verified_dr_ms),
    MF_INT_FIELD("verified_fs_ms", verified_fs_ms),
    MF_INT_FIELD("ttl_lowered_at", ttl_lowered_at),
    MF_INT_FIELD("ttl_old", ttl_old),
    MF_FLAG_FIELD("names_swapped", names_swapped),
    MF_INT_FIELD("cutover_deadline", cutover_deadline),
    MF_INT_FIELD("migrated_at", migrated_at),
    MF_INT_FIELD("downtime_from", downtime_from),
    MF_FLAG_FIELD("ttl_restored", ttl_restored),
    MF_STATE_FIELD("failed_from", failed_from),
    MF_PHASE_FIELD("failed_phase", failed_phase),
    MF_TEXT_FIELD("error_step", error_step),
    MF_STATE_FIELD("replicate_from", replicate_from),
    MF_PHASE_FIELD("replicate_from_phase", replicate_from_phase),
    MF_TEXT_FIELD("method_spec", method_spec),
    MF_TEXT_FIELD("method", method),
    MF_FLAG_FIELD("slot", slot_held),
    MF_TEXT_FIELD("slot_drop_failed", slot_drop_failed),
    MF_INT_FIELD("finish_ms", finish_ms),
};

bool fm_mig_field_set(fm_mig *mig, const char *name, const char *value)
{
    for (size_t i = 0; i < sizeof(mig_fields) / sizeof(mig_fields[0]); i++) {
        const mig_field *f = &mig_fields[i];
        if (strcmp(f->name, name) != 0)
            continue;
        char *at = (char *)mig + f->offset;
        if (f->type == MF_TEXT) {
            (void)snprintf(at, f->size, "%s", value);
            return true;
        }
        if (f->type == MF_STATE) {
            *(fm_state *)(void *)at = fm_state_parse(value);
            return true;
        }
        if (f->type == MF_PHASE) {
            *(fm_phase *)(void *)at = fm_phase_parse(value);
            return true;
        }
        char *end = NULL;
        errno = 0;
        long long n = strtoll(value, &end, 10);
        bool ok = errno == 0 && end != value && *end == '\0';
        if (f->type == MF_INT)
            *(int64_t *)(void *)at = ok ? (int64_t)n : 0;
        else
            *(bool *)(void *)at = ok && n == 1;
        return true;
    }
    return false;
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
static void plan_to(fm_plan *plan, fm_state state, fm_phase phase, const char *what)
{
    plan->change = true;
    plan->to = state;
    (void)snprintf(plan->what, sizeof(plan->what), "%s", what);
    fm_plan_set(plan, "phase", "%s", fm_phase_name(phase));
}

/* Where a replay or a refused replicate goes back to. */
static void plan_failed_from(fm_plan *plan, const fm_mig *m)
{
    fm_plan_set(plan, "failed_from", "%s", fm_state_name(m->state));
    fm_plan_set(plan, "failed_phase", "%s", fm_phase_name(m->phase));
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

/*
 * Where step s of a cutover under its budget stands: a failure a retry can fix is retried, up
 * to max_retries, only when the retry would start before deadline; any other failure, or one
 * too late to retry, is final.
 */
static track_t track_budget(const fm_step *s, const fm_policy *p, int64_t deadline, int64_t now,
                            fm_plan *plan)
{
    if (s == NULL || deadline <= 0 || (s->state != FM_S_FAILED && s->state != FM_S_EXPIRED))
        return track(s, p, now, plan);
    bool retryable = s->state == FM_S_EXPIRED || s->error_retryable;
    int64_t at = now + backoff(p, s->retries);
    if (retryable && s->retries < p->max_retries && at < deadline) {
        plan_retry(plan, s, at, true, false);
        return T_WAIT;
    }
    return T_FAILED;
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
    plan_to(plan, FM_FAILED, m->phase, "failed");
    plan_failed_from(plan, m);
    fm_plan_set(plan, "replayable", "%d", replayable ? 1 : 0);
    if (incomplete)
        fm_plan_set(plan, "target_incomplete", "1");
    char msg[FM_TEXT_MAX];
    (void)snprintf(msg, sizeof(msg), "step %s (%s) failed after %" PRId64 " attempt%s: %.200s",
                   s->id, s->purpose, s->attempt, s->attempt == 1 ? "" : "s",
                   s->error_message[0] != '\0' ? s->error_message : fm_sstate_name(s->state));
    plan_error(plan, s, step_code(s), msg, now);
}

/* The copies and passes that verify, like the cutover's: their durations set its time limit. */
static bool verifying(const fm_step *s)
{
    return strncmp(s->purpose, "stop.", 5) == 0 || strncmp(s->purpose, "cutover.", 8) == 0;
}

/* Records a finished dump-restore's figures (a copy, a logical start or finish). */
static void note_dr(const fm_step *s, fm_plan *plan)
{
    fm_plan_set(plan, "last_dr_ms", "%" PRId64, s->duration_ms);
    if (strcmp(s->purpose, "cutover.finish") == 0) {
        /* The finish dropped the slot; its duration is the next logical cutover's measure. */
        fm_plan_set(plan, "finish_ms", "%" PRId64, s->duration_ms);
        fm_plan_set(plan, "slot", "0");
    } else if (verifying(s)) {
        fm_plan_set(plan, "verified_dr_ms", "%" PRId64, s->duration_ms);
    }
    fm_plan_set(plan, "copied", "1"); /* what the target holds now, Ferry wrote */
    fm_plan_set(plan, "last_dr_at", "%" PRId64, s->finished_at);
    if (s->rows >= 0 && strcmp(s->purpose, "cutover.finish") != 0) /* a finish copies no rows */
        fm_plan_set(plan, "rows", "%" PRId64, s->rows);
    fm_plan_set(plan, "target_incomplete", "0");
}

/* Records a finished file pass's figures; true when it reached 100%. */
static bool note_fs(const fm_step *s, fm_plan *plan)
{
    fm_plan_set(plan, "last_fs_ms", "%" PRId64, s->duration_ms);
    if (verifying(s))
        fm_plan_set(plan, "verified_fs_ms", "%" PRId64, s->duration_ms);
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

/* ------------------------------------------------------------------ the database's method */

static void start_pass(const fm_mig *m, fm_plan *plan);

static bool logical(const fm_mig *m)
{
    return strcmp(m->method, "logical") == 0;
}

/* The first database step of a replication using method: ask the source ("": auto, not asked
 * yet), start the logical method, or copy. */
static void plan_db_first(const char *method, fm_plan *plan)
{
    if (method[0] == '\0') {
        plan_create(plan, "replicate.check_logical", 0, 0);
    } else if (strcmp(method, "logical") == 0) {
        plan_create(plan, "replicate.start", 0, 0);
        fm_plan_set(plan, "slot", "1"); /* from here a slot may exist, whatever becomes of it */
    } else {
        plan_create(plan, "replicate.dr", 0, 0);
    }
}

/* The database phase of a replication: the method's first step, then the file passes (and,
 * with the logical method, the stream beside them). */
static void adv_database(const fm_mig *m, const fm_step *steps, size_t n, const fm_policy *p,
                         int64_t now, fm_plan *plan)
{
    if (m->method[0] == '\0') {
        const fm_step *s = latest(m, steps, n, "replicate.check_logical");
        switch (track(s, p, now, plan)) {
        case T_NONE:
            plan_db_first("", plan);
            return;
        case T_WAIT:
            return;
        case T_FAILED:
            fail_step(m, s, true, false, now, plan);
            return;
        case T_DONE:
            break;
        }
        const char *method = s->logical == 1 ? "logical" : "dump_restore";
        plan_to(plan, m->state, FM_PH_DUMP_RESTORE, "method");
        fm_plan_set(plan, "method", "%s", method);
        fm_plan_set(plan, "method_why", "auto: %.300s",
                    s->reason[0] != '\0' ? s->reason : "the source did not say");
        plan_db_first(method, plan);
        return;
    }
    bool lr = logical(m);
    const fm_step *s = latest(m, steps, n, lr ? "replicate.start" : "replicate.dr");
    switch (track(s, p, now, plan)) {
    case T_NONE:
        plan_db_first(m->method, plan);
        return;
    case T_WAIT:
        return;
    case T_FAILED:
        fail_step(m, s, true, true, now, plan);
        return;
    case T_DONE:
        note_dr(s, plan);
        start_pass(m, plan);
        if (lr)
            plan_create(plan, "replicate.stream", 0, 0);
        return;
    }
}

/*
 * While replicating with the logical method, the stream runs beside the file passes; it ends
 * only when told to, so one that ended is started again. A slot gone or over its WAL limit
 * falls back to dump_restore (the slot is then dropped, adv_slot); any other failure for good
 * (DDL on the source) fails the migration. Returns false when it did.
 */
static bool adv_stream(const fm_mig *m, const fm_step *steps, size_t n, const fm_policy *p,
                       int64_t now, fm_plan *plan)
{
    if (!logical(m) || !m->slot_held)
        return true;
    const fm_step *s = latest(m, steps, n, "replicate.stream");
    switch (track(s, p, now, plan)) {
    case T_NONE:
    case T_DONE:
        plan_create(plan, "replicate.stream", 0, 0);
        return true;
    case T_WAIT:
        return true;
    case T_FAILED:
        break;
    }
    ferry_rc code = step_code(s);
    if (code == FERRY_ERR_NO_SPACE || code == FERRY_ERR_NOT_FOUND) {
        plan_to(plan, m->state, m->phase, "fallback");
        fm_plan_set(plan, "method", "%s", "dump_restore");
        fm_plan_set(plan, "method_why",
                    "fell back from logical (step %s): %.300s; the stop and the cutover copy "
                    "the whole database",
                    s->id, s->error_message);
        plan_create(plan, "slot.drop", 0, 0); /* gone, or dropped by the stream: make sure */
        return true;
    }
    fail_step(m, s, true, false, now, plan);
    return false;
}

/*
 * A slot that is no longer wanted is dropped: a forgotten one keeps WAL on the source until
 * its disk fills. Not wanted: the migration rests (stopped, failed, rolled back, migrated), or
 * it replicates with another method (it fell back). A cutover's finish drops its own. A drop
 * that fails for good is said once (slot_error); the next logical start drops it too.
 */
static void adv_slot(const fm_mig *m, const fm_step *steps, size_t n, const fm_policy *p,
                     int64_t now, fm_plan *plan)
{
    if (!m->slot_held || (m->state == FM_REPLICATING && logical(m)))
        return;
    const fm_step *s = latest(m, steps, n, "slot.drop");
    switch (track(s, p, now, plan)) {
    case T_NONE:
        plan_create(plan, "slot.drop", 0, 0);
        return;
    case T_WAIT:
        return;
    case T_DONE:
        plan_to(plan, m->state, m->phase, "slot_dropped");
        fm_plan_set(plan, "slot", "0");
        fm_plan_set(plan, "slot_error", "%s", "");
        if (logical(m) && m->state != FM_REPLICATING)
            fm_plan_set(plan, "method_why",
                        "logical until the migration became %s, which dropped the slot; "
                        "replicate starts it again",
                        fm_state_name(m->state));
        return;
    case T_FAILED:
        if (strcmp(m->slot_drop_failed, s->id) == 0)
            return;
        plan_to(plan, m->state, m->phase, "slot_drop_failed");
        fm_plan_set(plan, "slot_drop_failed", "%s", s->id);
        fm_plan_set(plan, "slot_error",
                    "the replication slot could not be dropped from the source (step %s): "
                    "%.200s; it keeps WAL there: drop it with ferry-dump-restore logical-drop",
                    s->id, s->error_message);
        return;
    }
}

/* ------------------------------------------------------------------ replicating */

static void start_pass(const fm_mig *m, fm_plan *plan)
{
    int64_t pass = m->pass + 1;
    plan_to(plan, m->state, FM_PH_FILE_SYNC, "phase");
    fm_plan_set(plan, "pass", "%" PRId64, pass);
    fm_plan_set(plan, "pause_until", "0");
    plan_create(plan, "replicate.fs", 0, pass);
}

static void adv_replicating(const fm_mig *m, const fm_step *steps, size_t n, const fm_policy *p,
                            int64_t now, fm_plan *plan)
{
    fm_phase ph = m->phase;
    if (ph == FM_PH_CHECK_TARGET || ph == FM_PH_NONE) {
        const fm_step *s = latest(m, steps, n, "replicate.check_target");
        switch (track(s, p, now, plan)) {
        case T_NONE:
            plan_to(plan, m->state, FM_PH_CHECK_TARGET, "phase");
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
            /* Refused, not failed: back where the command found the migration, with why. */
            fm_state back = m->replicate_from != FM_ABSENT ? m->replicate_from : FM_NEW;
            plan_to(plan, back, m->replicate_from_phase, "refused");
            plan_error(plan, s, FERRY_ERR_BUSY,
                       "cannot activate replication: the target app is running; stop it first "
                       "(data cannot be replicated into a running app)",
                       now);
            return;
        }
        plan_clear_error(plan);
        fm_plan_set(plan, "failed_from", "%s", "");
        fm_plan_set(plan, "failed_phase", "%s", "");
        if (m->ttl_lowered || m->names_swapped) {
            /* After the final migration the names are swapped for good: a TTL step would look
             * for names that no longer exist, and no cutover is left for a low TTL to speed. */
            plan_to(plan, m->state, FM_PH_DUMP_RESTORE, "phase");
            plan_db_first(m->method, plan);
        } else {
            plan_to(plan, m->state, FM_PH_LOWER_TTL, "phase");
            plan_create(plan, "replicate.ttl", 0, 0);
        }
        return;
    }
    if (ph == FM_PH_LOWER_TTL) {
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
            plan_to(plan, m->state, FM_PH_DUMP_RESTORE, "phase");
            fm_plan_set(plan, "ttl_lowered", "1");
            fm_plan_set(plan, "ttl_lowered_at", "%" PRId64,
                        s->finished_at > 0 ? s->finished_at : now);
            fm_plan_set(plan, "ttl_old", "%" PRId64, s->ttl_old > 0 ? s->ttl_old : 0);
            plan_db_first(m->method, plan);
            return;
        }
        return;
    }
    if (ph == FM_PH_DUMP_RESTORE) {
        adv_database(m, steps, n, p, now, plan);
        return;
    }
    adv_slot(m, steps, n, p, now, plan);
    if ((ph == FM_PH_FILE_SYNC || ph == FM_PH_PAUSE) && !adv_stream(m, steps, n, p, now, plan))
        return;
    if (ph == FM_PH_FILE_SYNC) {
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
        plan_to(plan, m->state, FM_PH_PAUSE, "pass_done");
        if (complete && !m->reached_100)
            fm_plan_set(plan, "reached_100", "1");
        fm_plan_set(plan, "pause_until", "%" PRId64, now + p->pause_ms);
        plan_wake(plan, now + p->pause_ms);
        return;
    }
    if (ph == FM_PH_PAUSE) {
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
    static const char *const repl[] = {"replicate.check_target",
                                       "replicate.ttl",
                                       "replicate.check_logical",
                                       "replicate.dr",
                                       "replicate.start",
                                       "replicate.stream",
                                       "replicate.fs"};
    for (size_t i = 0; i < sizeof(repl) / sizeof(repl[0]); i++) {
        const fm_step *s = latest(m, steps, n, repl[i]);
        if (s != NULL && fm_sstate_active(s->state))
            return;
    }
    if (m->slot_held) {
        /* The stream is over: drop its slot before the whole copy, which must not take Ferry's
         * publication along to the target. */
        const fm_step *d = latest(m, steps, n, "slot.drop");
        switch (track(d, p, now, plan)) {
        case T_NONE:
            plan_create(plan, "slot.drop", 0, 0);
            return;
        case T_WAIT:
            return;
        case T_FAILED:
            fail_step(m, d, true, false, now, plan);
            return;
        case T_DONE:
            plan_to(plan, m->state, m->phase, "slot_dropped");
            fm_plan_set(plan, "slot", "0");
            break;
        }
    }
    const fm_step *dr = latest(m, steps, n, "stop.dr");
    const fm_step *fs = latest(m, steps, n, "stop.fs");
    track_t tdr = track(dr, p, now, plan);
    track_t tfs = track(fs, p, now, plan);
    if (tdr == T_NONE)
        plan_create(plan, "stop.dr", 0, 0);
    if (tfs == T_NONE) {
        plan_create(plan, "stop.fs", 0, m->pass + 1);
        plan_to(plan, m->state, FM_PH_FINAL, "phase");
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
    plan_to(plan, FM_STOPPED, FM_PH_NONE, "stopped");
    if (complete)
        fm_plan_set(plan, "reached_100", "1");
}

/* ------------------------------------------------------------------ testing */

static void adv_testing(const fm_mig *m, const fm_step *steps, size_t n, const fm_policy *p,
                        int64_t now, fm_plan *plan)
{
    if (m->phase == FM_PH_STARTING) {
        const fm_step *s = latest(m, steps, n, "test.start");
        switch (track(s, p, now, plan)) {
        case T_NONE:
            plan_create(plan, "test.start", 0, 0);
            return;
        case T_WAIT:
            return;
        case T_DONE:
            plan_to(plan, m->state, FM_PH_RUNNING, "test_started");
            return;
        case T_FAILED:
            /* Nothing changed on the target but a failed start: back to stopped, with why. */
            plan_to(plan, FM_STOPPED, FM_PH_NONE, "test_start_failed");
            plan_error(plan, s, step_code(s), s->error_message, now);
            return;
        }
        return;
    }
    if (m->phase == FM_PH_STOPPING) {
        const fm_step *s = latest(m, steps, n, "test.stop");
        switch (track(s, p, now, plan)) {
        case T_NONE:
            plan_create(plan, "test.stop", 0, 0);
            return;
        case T_WAIT:
            return;
        case T_DONE:
            plan_to(plan, FM_STOPPED, FM_PH_NONE, "test_stopped");
            return;
        case T_FAILED:
            /* The app may still run: stay in testing, say why; test-stop can be asked again. */
            plan_to(plan, m->state, FM_PH_RUNNING, "test_stop_failed");
            plan_error(plan, s, step_code(s), s->error_message, now);
            return;
        }
    }
}

/* ------------------------------------------------------------------ cutover and rollback */

int64_t fm_cutover_budget(const fm_mig *m, const fm_policy *p)
{
    int64_t dr = m->verified_dr_ms > 0 ? m->verified_dr_ms : m->last_dr_ms;
    /* A logical cutover's database part is the finish; before one was measured, a whole
     * verified copy bounds it. */
    if (m->slot_held && logical(m) && m->finish_ms > 0)
        dr = m->finish_ms;
    int64_t fs = m->verified_fs_ms > 0 ? m->verified_fs_ms : m->last_fs_ms;
    return (dr > fs ? dr : fs) + p->cutover_margin_ms;
}

int64_t fm_ttl_wait_until(const fm_mig *m, const fm_policy *p)
{
    if (!m->ttl_lowered || m->ttl_lowered_at <= 0 || m->ttl_old <= 0)
        return 0;
    int64_t wait = m->ttl_old * 1000;
    if (p->ttl_wait_max_ms >= 0 && wait > p->ttl_wait_max_ms)
        wait = p->ttl_wait_max_ms;
    return m->ttl_lowered_at + wait;
}

/* What a phase's failure leads to. */
typedef enum on_fail {
    FAIL_ABORT,    /* cutover before the renames: rename nothing, start the source again */
    FAIL_ROLLBACK, /* cutover after the renames began: roll back automatically (4.7.2) */
    FAIL_STOP,     /* rollback: stop there; a replay continues */
} on_fail;

/* One phase of a chain: it runs purpose "<prefix>.<phase name>". budget: the phase runs while
 * the app is down and counts against the cutover's one budget. */
typedef struct phase {
    fm_phase id;
    bool budget;
    on_fail fail;
} phase;

typedef struct chain {
    fm_state state;
    const char *prefix;
    const phase *phases;
    size_t n;
    fm_state done_state; /* after the last phase */
} chain;

/* clang-format off */
static const phase cutover_phases[] = {
    {FM_PH_STOP_TARGET,  false, FAIL_ABORT},
    {FM_PH_STOP_SOURCE,  false, FAIL_ABORT},    /* done: the downtime and its budget begin */
    {FM_PH_SYNC,         true,  FAIL_ABORT},    /* copy and file pass in parallel (adv_sync) */
    {FM_PH_RENAME,       true,  FAIL_ROLLBACK},
    {FM_PH_CHECK,        true,  FAIL_ROLLBACK},
    {FM_PH_START_TARGET, true,  FAIL_ROLLBACK}, /* done: the app serves again */
    {FM_PH_START_SOURCE, false, FAIL_ROLLBACK},
};
static const phase rollback_phases[] = {
    {FM_PH_STOP_TARGET,  false, FAIL_STOP},
    {FM_PH_STOP_SOURCE,  false, FAIL_STOP},
    {FM_PH_RENAME,       false, FAIL_STOP},
    {FM_PH_CHECK,        false, FAIL_STOP},
    {FM_PH_START_SOURCE, false, FAIL_STOP},
};
/* clang-format on */

static const chain cutover_chain = {FM_CUTOVER, "cutover", cutover_phases,
                                    sizeof(cutover_phases) / sizeof(cutover_phases[0]),
                                    FM_MIGRATED};
static const chain rollback_chain = {FM_ROLLING_BACK, "rollback", rollback_phases,
                                     sizeof(rollback_phases) / sizeof(rollback_phases[0]),
                                     FM_ROLLED_BACK};

/* The phase of chain c that is phase id (its index in *at); NULL when c has none (a phase
 * outside the chain, as restart_source, or one this coordinator does not know). */
static const phase *chain_phase(const chain *c, fm_phase id, size_t *at)
{
    for (size_t i = 0; i < c->n; i++) {
        if (c->phases[i].id == id) {
            *at = i;
            return &c->phases[i];
        }
    }
    return NULL;
}

/* Enters phase ph of chain c; deadline: the cutover's budget end (0 none). */
static void enter_phase(const fm_mig *m, const chain *c, const phase *ph, int64_t deadline,
                        fm_plan *plan)
{
    plan_to(plan, m->state, ph->id, "phase");
    int64_t step_deadline = ph->budget ? deadline : 0;
    if (c == &cutover_chain && ph->id == FM_PH_SYNC) {
        fm_plan_set(plan, "sync_deadline", "%" PRId64, deadline);
        /* With a stream in step (migrate canceled it), only what changed since is left. */
        plan_create(plan, m->slot_held && logical(m) ? "cutover.finish" : "cutover.dr",
                    step_deadline, 0);
        plan_create(plan, "cutover.fs", step_deadline, m->pass + 1);
        fm_plan_set(plan, "pass", "%" PRId64, m->pass + 1);
        plan_wake(plan, deadline);
        return;
    }
    char purpose[FM_NAME_MAX];
    (void)snprintf(purpose, sizeof(purpose), "%s.%s", c->prefix, fm_phase_name(ph->id));
    plan_create(plan, purpose, step_deadline, 0);
    if (step_deadline > 0)
        plan_wake(plan, step_deadline);
}

/* Cutover sync failed or timed out: rename nothing, start the source again. */
static void cutover_abort(const fm_mig *m, const fm_step *s, ferry_rc code, const char *message,
                          int64_t now, fm_plan *plan)
{
    plan_to(plan, m->state, FM_PH_RESTART_SOURCE, "sync_failed");
    plan_error(plan, s, code, message, now);
    fm_plan_set(plan, "cutover_deadline", "0");
    plan_create(plan, "cutover.restart_source", 0, 0);
}

/* A cutover step after the renames began failed or ran out of budget: roll back. */
static void cutover_rollback(const fm_step *s, ferry_rc code, const char *message, int64_t now,
                             fm_plan *plan)
{
    plan_to(plan, FM_ROLLING_BACK, rollback_phases[0].id, "auto_rollback");
    plan_error(plan, s, code, message, now);
    fm_plan_set(plan, "cutover_deadline", "0");
    plan_create(plan, "rollback.stop_target", 0, 0);
}

/* "limit: the last measured duration + 20 min" */
static void budget_text(const fm_policy *p, char *out, size_t outsz)
{
    int64_t margin = p->cutover_margin_ms;
    bool whole_min = margin % 60000 == 0;
    (void)snprintf(out, outsz, "limit: the last measured duration + %" PRId64 " %s",
                   whole_min ? margin / 60000 : margin / 1000, whole_min ? "min" : "s");
}

static void adv_sync(const fm_mig *m, const fm_step *steps, size_t n, const fm_policy *p,
                     int64_t now, fm_plan *plan)
{
    const fm_step *dr = latest(m, steps, n, "cutover.finish");
    if (dr == NULL)
        dr = latest(m, steps, n, "cutover.dr");
    const fm_step *fs = latest(m, steps, n, "cutover.fs");
    int64_t deadline = m->cutover_deadline > 0 ? m->cutover_deadline : m->sync_deadline;
    if (dr == NULL && fs == NULL) {
        enter_phase(m, &cutover_chain, &cutover_phases[2], deadline, plan);
        return;
    }
    track_t tdr = track_budget(dr, p, deadline, now, plan);
    track_t tfs = track_budget(fs, p, deadline, now, plan);
    const fm_step *failed = tdr == T_FAILED ? dr : tfs == T_FAILED ? fs : NULL;
    char msg[FM_TEXT_MAX];
    if (tfs == T_DONE && !note_fs(fs, plan)) {
        /* Short of 100% (files that failed to copy): "runs the replication until it reaches
         * 100%" -- another pass, as long as the budget lets one start. */
        int64_t at = now + backoff(p, fs->retries);
        if (failed == NULL && (deadline <= 0 || at < deadline)) {
            plan_to(plan, m->state, FM_PH_SYNC, "short_pass");
            plan_retry(plan, fs, at, true, false);
            tfs = T_WAIT;
        } else if (failed == NULL) {
            (void)snprintf(msg, sizeof(msg),
                           "cutover replication did not reach 100%% within its time limit: the "
                           "last file pass ended with %" PRId64 " of %" PRId64
                           " files replicated; nothing renamed, source app restarted",
                           fs->files_synced, fs->files_total);
            cutover_abort(m, fs, FERRY_ERR_TIMEOUT, msg, now, plan);
            return;
        }
    }
    if (tdr == T_DONE && tfs == T_DONE) {
        note_dr(dr, plan);
        enter_phase(m, &cutover_chain, &cutover_phases[3], deadline, plan);
        return;
    }
    bool late = deadline > 0 && now >= deadline;
    if (failed == NULL && !late) {
        plan_wake(plan, deadline);
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
    if (failed != NULL) {
        (void)snprintf(msg, sizeof(msg),
                       "cutover replication failed, nothing renamed, source app restarted: "
                       "step %s (%s): %.200s",
                       failed->id, failed->purpose,
                       failed->error_message[0] != '\0' ? failed->error_message
                                                        : fm_sstate_name(failed->state));
        cutover_abort(m, failed, step_code(failed), msg, now, plan);
    } else {
        char limit[96];
        budget_text(p, limit, sizeof(limit));
        (void)snprintf(msg, sizeof(msg),
                       "cutover replication timed out (%s), nothing renamed, source app "
                       "restarted",
                       limit);
        cutover_abort(m, NULL, FERRY_ERR_TIMEOUT, msg, now, plan);
    }
}

static void adv_restart_source(const fm_mig *m, const fm_step *steps, size_t n, const fm_policy *p,
                               int64_t now, fm_plan *plan)
{
    const fm_step *s = latest(m, steps, n, "cutover.restart_source");
    switch (track(s, p, now, plan)) {
    case T_NONE:
        plan_create(plan, "cutover.restart_source", 0, 0);
        return;
    case T_WAIT:
        return;
    case T_DONE:
        /* The error that ended the cutover stays on the migration. */
        plan_to(plan, FM_FAILED, FM_PH_RESTART_SOURCE, "cutover_failed");
        fm_plan_set(plan, "failed_from", "%s", fm_state_name(FM_CUTOVER));
        fm_plan_set(plan, "failed_phase", "%s", fm_phase_name(FM_PH_RESTART_SOURCE));
        fm_plan_set(plan, "replayable", "0");
        return;
    case T_FAILED:
        fail_step(m, s, true, false, now, plan);
        return;
    }
}

/* What a phase that ended brings besides the next phase. */
static void phase_done(const fm_mig *m, const chain *c, const phase *ph, int64_t now,
                       const fm_policy *p, int64_t *deadline, fm_plan *plan)
{
    bool cutover = c == &cutover_chain;
    if (cutover && ph->id == FM_PH_STOP_SOURCE) {
        /* The app is down from here: one budget for everything until it serves again. */
        *deadline = now + fm_cutover_budget(m, p);
        fm_plan_set(plan, "cutover_deadline", "%" PRId64, *deadline);
        fm_plan_set(plan, "downtime_from", "%" PRId64, now);
    }
    if (ph->id == FM_PH_RENAME)
        fm_plan_set(plan, "names_swapped", "%d", cutover ? 1 : 0);
    if (cutover && ph->id == FM_PH_START_TARGET) {
        fm_plan_set(plan, "downtime_ms", "%" PRId64,
                    m->downtime_from > 0 ? now - m->downtime_from : 0);
        fm_plan_set(plan, "cutover_deadline", "0");
    }
}

static void adv_chain(const fm_mig *m, const chain *c, const fm_step *steps, size_t n,
                      const fm_policy *p, int64_t now, fm_plan *plan)
{
    bool cutover = c == &cutover_chain;
    if (cutover && m->phase == FM_PH_SYNC) {
        adv_sync(m, steps, n, p, now, plan);
        return;
    }
    if (cutover && m->phase == FM_PH_RESTART_SOURCE) {
        adv_restart_source(m, steps, n, p, now, plan);
        return;
    }
    size_t i = 0;
    const phase *ph = chain_phase(c, m->phase, &i);
    int64_t deadline = cutover ? m->cutover_deadline : 0;
    if (ph == NULL) { /* no phase yet: the command just arrived */
        enter_phase(m, c, &c->phases[0], deadline, plan);
        return;
    }
    char purpose[FM_NAME_MAX];
    (void)snprintf(purpose, sizeof(purpose), "%s.%s", c->prefix, fm_phase_name(ph->id));
    const fm_step *s = latest(m, steps, n, purpose);
    bool budgeted = ph->budget && deadline > 0;
    track_t t = budgeted ? track_budget(s, p, deadline, now, plan) : track(s, p, now, plan);
    char msg[FM_TEXT_MAX];
    switch (t) {
    case T_NONE:
        plan_create(plan, purpose, budgeted ? deadline : 0, 0);
        return;
    case T_WAIT:
        if (!budgeted || now < deadline) {
            if (budgeted)
                plan_wake(plan, deadline);
            return;
        }
        /* The budget is spent with the step still going: no later success can help. */
        plan->n_acts = 0;
        if (s != NULL && fm_sstate_active(s->state))
            plan_cancel(plan, s, "the cutover's time limit passed");
        (void)snprintf(msg, sizeof(msg),
                       "cutover exceeded its time limit at %s (step %s), rolled back "
                       "automatically",
                       fm_phase_name(ph->id), s != NULL ? s->id : "?");
        cutover_rollback(s, FERRY_ERR_TIMEOUT, msg, now, plan);
        return;
    case T_DONE:
        phase_done(m, c, ph, now, p, &deadline, plan);
        if (i + 1 < c->n) {
            enter_phase(m, c, &c->phases[i + 1], deadline, plan);
        } else {
            plan_to(plan, c->done_state, FM_PH_NONE, fm_state_name(c->done_state));
            fm_plan_set(plan, "sync_deadline", "0");
            fm_plan_set(plan, "cutover_deadline", "0");
            if (cutover) {
                fm_plan_set(plan, "migrated_at", "%" PRId64, now);
                fm_plan_set(plan, "ttl_restored", "0");
            }
        }
        return;
    case T_FAILED:
        break;
    }
    switch (ph->fail) {
    case FAIL_STOP: /* a rollback step failed for good: stop here, replay continues */
        fail_step(m, s, true, false, now, plan);
        return;
    case FAIL_ABORT: /* stopping the apps failed: nothing changed yet, start the source again */
        (void)snprintf(msg, sizeof(msg), "cutover stopped before replication: step %s (%s): %.200s",
                       s->id, s->purpose, s->error_message);
        cutover_abort(m, s, step_code(s), msg, now, plan);
        return;
    case FAIL_ROLLBACK: /* rename, check or a start failed: roll back (source document 4.7.2) */
        if (budgeted && now >= deadline) /* the worker stopped it at the step's deadline */
            (void)snprintf(msg, sizeof(msg),
                           "cutover exceeded its time limit at %s (step %s: %.200s), rolled back "
                           "automatically",
                           fm_phase_name(ph->id), s->id, s->error_message);
        else
            (void)snprintf(msg, sizeof(msg),
                           "cutover failed at %s, rolled back automatically: step %s: %.200s",
                           fm_phase_name(ph->id), s->id, s->error_message);
        cutover_rollback(s, budgeted && now >= deadline ? FERRY_ERR_TIMEOUT : step_code(s), msg,
                         now, plan);
        return;
    }
}

/* ------------------------------------------------------------------ migrated */

/* After a successful migration and a grace period, the names get their TTL back. */
static void adv_migrated(const fm_mig *m, const fm_step *steps, size_t n, const fm_policy *p,
                         int64_t now, fm_plan *plan)
{
    if (!m->production || m->ttl_restored || m->migrated_at <= 0 || p->ttl_restore_ms < 0)
        return;
    int64_t due = m->migrated_at + p->ttl_restore_ms;
    if (now < due) {
        plan_wake(plan, due);
        return;
    }
    const fm_step *s = latest(m, steps, n, "migrated.restore_ttl");
    switch (track(s, p, now, plan)) {
    case T_NONE:
        plan_create(plan, "migrated.restore_ttl", 0, 0);
        return;
    case T_WAIT:
        return;
    case T_DONE:
        plan_to(plan, m->state, FM_PH_NONE, "ttl_restored");
        fm_plan_set(plan, "ttl_restored", "1");
        fm_plan_set(plan, "ttl_lowered", "0");
        return;
    case T_FAILED:
        if (strcmp(m->error_step, s->id) == 0)
            return; /* said once; the migration itself stays migrated */
        plan_to(plan, m->state, FM_PH_NONE, "ttl_restore_failed");
        char msg[FM_TEXT_MAX];
        (void)snprintf(msg, sizeof(msg),
                       "the names' TTL could not be given back (step %s): %.200s; restore it "
                       "with ferry-dns restore-ttl",
                       s->id, s->error_message);
        plan_error(plan, s, step_code(s), msg, now);
        return;
    }
}

/* ------------------------------------------------------------------ advance */

void fm_advance(const fm_mig *mig, const fm_step *steps, size_t n_steps, const fm_policy *policy,
                int64_t now, fm_plan *plan)
{
    memset(plan, 0, sizeof(*plan));
    switch (mig->state) {
    case FM_REPLICATING:
        adv_replicating(mig, steps, n_steps, policy, now, plan);
        return;
    case FM_STOPPING:
        adv_stopping(mig, steps, n_steps, policy, now, plan);
        return;
    case FM_TESTING:
        adv_testing(mig, steps, n_steps, policy, now, plan);
        return;
    case FM_CUTOVER:
        adv_chain(mig, &cutover_chain, steps, n_steps, policy, now, plan);
        return;
    case FM_ROLLING_BACK:
        adv_chain(mig, &rollback_chain, steps, n_steps, policy, now, plan);
        return;
    case FM_MIGRATED:
        adv_slot(mig, steps, n_steps, policy, now, plan);
        adv_migrated(mig, steps, n_steps, policy, now, plan);
        return;
    case FM_NEW:
    case FM_STOPPED:
    case FM_FAILED:
    case FM_ROLLED_BACK:
        adv_slot(mig, steps, n_steps, policy, now, plan); /* then they wait for a command */
        return;
    case FM_ABSENT:
    case FM_STATE_OTHER:
        return;
    }
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

/* Whether state is one of list (n states). */
static bool in(fm_state state, const fm_state *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (list[i] == state)
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

static bool cmd_replicate(const fm_mig *m, const fm_verb_args *args, fm_plan *plan, char *why,
                          size_t whysz)
{
    static const fm_state ok[] = {FM_NEW, FM_STOPPED, FM_FAILED, FM_ROLLED_BACK};
    const char *state = fm_state_name(m->state);
    if (!in(m->state, ok, sizeof(ok) / sizeof(ok[0]))) {
        if (m->state == FM_TESTING)
            return refuse(why, whysz,
                          "cannot activate replication: the target app is running for a test "
                          "(%s); test-stop it first",
                          fm_phase_name(m->phase));
        if (m->state == FM_REPLICATING || m->state == FM_STOPPING)
            return refuse(why, whysz, "cannot activate replication: it is already %s", state);
        if (m->state == FM_MIGRATED)
            return refuse(why, whysz, "cannot activate replication: the app is %s; roll back first",
                          state);
        return refuse(why, whysz, "cannot activate replication while the migration is %s", state);
    }
    plan_to(plan, FM_REPLICATING, FM_PH_CHECK_TARGET, "replicate");
    plan->new_cycle = true;
    /* The errors and failure of before stay until the target app is found stopped: a refusal
     * goes back to them (adv_replicating). */
    fm_plan_set(plan, "replicate_from", "%s", state);
    fm_plan_set(plan, "replicate_from_phase", "%s", fm_phase_name(m->phase));
    fm_plan_set(plan, "replayable", "0");
    fm_plan_set(plan, "pause_until", "0");
    fm_plan_set(plan, "overwrite", "%d", args->overwrite ? 1 : 0);
    /* The method: the spec's, or asked of the source at the database phase (auto). A migration
     * created before there was a choice keeps dump_restore. */
    const char *spec = m->method_spec;
    bool chosen = strcmp(spec, "logical") == 0 || strcmp(spec, "dump_restore") == 0;
    fm_plan_set(plan, "method", "%s", chosen ? spec : spec[0] == '\0' ? "dump_restore" : "");
    fm_plan_set(plan, "method_why", "%s",
                chosen            ? "set in the spec"
                : spec[0] == '\0' ? "the migration predates the choice"
                                  : "");
    return true;
}

/* "at 2026-12-04 21:12:10 UTC" */
static void time_text(int64_t ms, char *out, size_t outsz)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(out, outsz, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
        (void)snprintf(out, outsz, "%" PRId64 " ms", ms);
}

bool fm_verb_plan(const fm_mig *m, const fm_step *steps, size_t n, fm_verb cmd,
                  const fm_verb_args *args, const fm_policy *policy, int64_t now, fm_plan *plan,
                  char *why, size_t whysz)
{
    memset(plan, 0, sizeof(*plan));
    if (m->state == FM_ABSENT)
        return refuse(why, whysz, "%s: no such migration", m->id);
    const char *state = fm_state_name(m->state);
    char reason[FM_TEXT_MAX], when[64];
    (void)snprintf(reason, sizeof(reason), "%s by %s", fm_verb_name(cmd), args->actor);
    switch (cmd) {
    case FM_VERB_REPLICATE:
        return cmd_replicate(m, args, plan, why, whysz);
    case FM_VERB_STOP:
        if (m->state != FM_REPLICATING)
            return refuse(why, whysz,
                          "cannot stop replication: the migration is %s, not "
                          "replicating",
                          state);
        /* Queued steps of the replication are not needed any more; a running one ends first,
         * but the stream, which never ends by itself: stop copies the whole database. */
        cancel_active(m, steps, n, reason, false, plan);
        for (size_t i = 0; i < n; i++) {
            if (steps[i].cycle == m->cycle && steps[i].state == FM_S_RUNNING &&
                strcmp(steps[i].purpose, "replicate.stream") == 0)
                plan_cancel(plan, &steps[i], reason);
        }
        plan_to(plan, FM_STOPPING, FM_PH_WAIT, "stop");
        return true;
    case FM_VERB_INTERRUPT:
        if (m->state != FM_REPLICATING && m->state != FM_STOPPING)
            return refuse(why, whysz, "cannot interrupt replication: the migration is %s", state);
        cancel_active(m, steps, n, reason, true, plan);
        plan_to(plan, FM_FAILED, m->phase, "interrupted");
        plan_failed_from(plan, m);
        fm_plan_set(plan, "replayable", "0");
        fm_plan_set(plan, "target_incomplete", "1");
        plan_error(plan, NULL, FERRY_ERR_CANCELLED,
                   "replication interrupted: the target is incomplete and probably inconsistent; "
                   "activate replication again to bring it to 100%",
                   now);
        return true;
    case FM_VERB_TEST_START:
        if (m->state != FM_STOPPED)
            return refuse(why, whysz,
                          "cannot start a test: the migration is %s; stop "
                          "replication first and wait for stopped",
                          state);
        if (!m->reached_100 && !args->force)
            return refuse(why, whysz,
                          "not starting the test of %s: its replication has not reached 100%%, "
                          "so data may be missing on the target (source document 4.5); start "
                          "it anyway with --force",
                          m->id);
        plan_to(plan, FM_TESTING, FM_PH_STARTING, "test_start");
        plan->new_cycle = true;
        plan_clear_error(plan);
        return true;
    case FM_VERB_TEST_STOP:
        if (m->state != FM_TESTING)
            return refuse(why, whysz, "cannot stop a test: the migration is %s, not testing",
                          state);
        if (m->phase != FM_PH_RUNNING)
            return refuse(why, whysz, "cannot stop the test yet: the target app is %s",
                          fm_phase_name(m->phase));
        plan_to(plan, FM_TESTING, FM_PH_STOPPING, "test_stop");
        plan_clear_error(plan);
        return true;
    case FM_VERB_MIGRATE:
        if (!m->production)
            return refuse(why, whysz,
                          "cannot migrate %s: the final migration is started from the "
                          "production environment (it renames every environment)",
                          m->id);
        if (m->state != FM_REPLICATING)
            return refuse(why, whysz,
                          "cannot migrate: production is %s; replication must be "
                          "active (replicating)",
                          state);
        if (!m->reached_100)
            return refuse(why, whysz,
                          "cannot migrate %s: production replication has never "
                          "reached 100%%",
                          m->id);
        int64_t ttl_ok = fm_ttl_wait_until(m, policy);
        if (now < ttl_ok) {
            time_text(ttl_ok, when, sizeof(when));
            return refuse(why, whysz,
                          "cannot migrate %s yet: the names' TTL was lowered from %" PRId64
                          " s less than that long ago, so resolvers may still hold the old "
                          "answers; migrate from %s (in %" PRId64 " s)",
                          m->id, m->ttl_old, when, (ttl_ok - now + 999) / 1000);
        }
        cancel_active(m, steps, n, reason, true, plan);
        plan_to(plan, FM_CUTOVER, FM_PH_STOP_TARGET, "migrate");
        plan->new_cycle = true;
        plan_clear_error(plan);
        fm_plan_set(plan, "sync_deadline", "0");
        fm_plan_set(plan, "cutover_deadline", "0");
        fm_plan_set(plan, "downtime_from", "0");
        return true;
    case FM_VERB_ROLLBACK: {
        bool again = m->state == FM_FAILED && m->failed_from == FM_ROLLING_BACK;
        if (m->state != FM_MIGRATED && !again)
            return refuse(why, whysz, "cannot roll back: the migration is %s, not migrated", state);
        if (!args->confirm) {
            time_text(m->migrated_at, when, sizeof(when));
            return refuse(why, whysz,
                          "rolling back %s gives up everything the target app wrote since the "
                          "cutover%s%s: it is not copied back to the source (source document "
                          "4.6); confirm with --yes (API: \"confirm\": true)",
                          m->id, m->migrated_at > 0 ? " of " : "", m->migrated_at > 0 ? when : "");
        }
        cancel_active(m, steps, n, reason, true, plan);
        plan_to(plan, FM_ROLLING_BACK, FM_PH_STOP_TARGET, "rollback");
        plan->new_cycle = true;
        plan_clear_error(plan);
        return true;
    }
    case FM_VERB_REPLAY: {
        if (m->state != FM_FAILED)
            return refuse(why, whysz, "nothing to replay: the migration is %s, not failed", state);
        if (!m->replayable)
            return refuse(why, whysz,
                          "%s cannot be replayed: it was interrupted or its cutover was "
                          "abandoned; activate replication again",
                          m->id);
        const char *want = args->replay_step != NULL && args->replay_step[0] != '\0'
                               ? args->replay_step
                               : m->error_step;
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
