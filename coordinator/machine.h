/*
 * machine.h - a migration's state machine, as pure functions: given what Redis holds about one
 * migration (its record and the latest step of each purpose in the current cycle), decide what
 * happens next. No I/O: the engine (engine.c) loads the view, calls these, and applies the plan
 * atomically (shared/lua/mig_apply.lua). Deciding from state alone, never from the event that
 * woke us, makes a repeated event or a restarted coordinator reach the same decisions.
 *
 * The states, phases and failure rules are in docs/orchestration.md ("Migration states").
 */
#ifndef FERRY_MACHINE_H
#define FERRY_MACHINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/migstate.h"

#define FM_NAME_MAX   48
#define FM_ID_MAX     64
#define FM_TEXT_MAX   400
#define FM_STEPS_MAX  32
#define FM_ACTS_MAX   16
#define FM_FIELDS_MAX 40

/* The latest step of one purpose, as the machine needs it. */
typedef struct fm_step {
    char id[FM_ID_MAX];
    char purpose[FM_NAME_MAX];
    int64_t cycle;
    fm_sstate state;
    int64_t attempt;
    int64_t retries;
    int64_t error_code;
    bool error_retryable;
    char error_message[FM_TEXT_MAX];
    int64_t duration_ms;
    int64_t finished_at;
    /* results (-1: not reported) */
    int64_t rows;
    int64_t files_total, files_synced, bytes_total, bytes_synced;
    int running;     /* app.status: 1 running, 0 stopped, -1 unknown */
    int64_t ttl_old; /* dns.lower_ttl: the highest TTL the names had, seconds (-1: none) */
    int logical; /* replicate.check_logical: 1 the source allows the method, 0 not, -1 unknown */
    char reason[FM_TEXT_MAX]; /* replicate.check_logical: why */
} fm_step;

/* The migration record. */
typedef struct fm_mig {
    char id[FM_ID_MAX];
    char env[FM_NAME_MAX];
    fm_state state; /* FM_ABSENT when it does not exist */
    fm_phase phase;
    int64_t cycle;
    bool production;
    bool reached_100;
    bool ttl_lowered;
    bool replayable;
    int64_t pass;
    int64_t pause_until;   /* ms; 0 none */
    int64_t sync_deadline; /* ms; 0 none */
    int64_t last_dr_ms, last_fs_ms;
    /* Durations of the last copy and pass that verified, as the cutover's do (stop replication
     * and cutover): what the cutover's time limit is measured from. 0: none yet. */
    int64_t verified_dr_ms, verified_fs_ms;
    int64_t ttl_lowered_at;   /* ms, when this environment's TTL step succeeded; 0 unknown */
    int64_t ttl_old;          /* seconds, the highest TTL the names had before; 0 unknown */
    bool names_swapped;       /* the app's names are in their after-cutover form (the
                                 production migration's cutover renamed them, no rollback since) */
    int64_t cutover_deadline; /* ms: the cutover's one budget from the source's stop; 0 none */
    int64_t migrated_at;      /* ms, 0 none */
    int64_t downtime_from;    /* ms, when the cutover stopped the source; 0 none */
    bool ttl_restored;        /* after a migration: the names have their TTL back */
    fm_state failed_from;     /* where a replay returns to */
    fm_phase failed_phase;
    char error_step[FM_ID_MAX];
    /* Where a replicate came from, to go back there when the target app turns out running. */
    fm_state replicate_from;
    fm_phase replicate_from_phase;
    /* The database's method (docs/logical-replication.md): the spec's ("auto", "logical",
     * "dump_restore"; "" for a migration created before there was a choice, as dump_restore),
     * and the one this cycle uses ("" while auto has not asked the source yet). */
    char method_spec[FM_NAME_MAX];
    char method[FM_NAME_MAX];
    /* A replication slot may exist on the source for this migration: set when a logical start
     * is planned, cleared once the slot is known dropped. While set and not wanted (the
     * migration rests, or fell back), the machine drops it. */
    bool slot_held;
    char slot_drop_failed[FM_ID_MAX]; /* the drop step whose failure was recorded */
    int64_t finish_ms; /* the last logical finish (a cutover's database part); 0 none */
} fm_mig;

typedef struct fm_policy {
    int64_t max_retries;
    int64_t backoff_ms, backoff_max_ms;
    int64_t pause_ms;          /* between file passes (from the spec) */
    int64_t cutover_margin_ms; /* added to the last measured duration */
    int64_t ttl_wait_max_ms;   /* migrate waits the names' old TTL after lowering, at most this */
    int64_t ttl_restore_ms;    /* after a migration, the names get their TTL back after this */
} fm_policy;

typedef struct fm_field {
    char name[FM_NAME_MAX];
    char value[FM_TEXT_MAX];
} fm_field;

typedef enum fm_act_kind {
    FM_ACT_CREATE = 1, /* a new step of `purpose` (pending, attempt 1) */
    FM_ACT_RETRY = 2,  /* step `step` at `attempt` -> pending at attempt + 1 */
    FM_ACT_CANCEL = 3, /* step `step` -> canceled, unless final */
} fm_act_kind;

typedef struct fm_action {
    fm_act_kind kind;
    char purpose[FM_NAME_MAX]; /* CREATE */
    char step[FM_ID_MAX];      /* RETRY, CANCEL */
    int64_t attempt;           /* RETRY: the attempt that ended */
    int64_t not_before;        /* RETRY: ms; 0 at once */
    bool count;                /* RETRY: counts against max_retries (releases do not) */
    bool reset_retries;        /* RETRY: a replay starts counting again from 0 */
    int64_t deadline;          /* CREATE: ms; 0 none */
    int64_t pass;              /* CREATE of a file pass: its number */
    char reason[FM_TEXT_MAX];  /* CANCEL */
} fm_action;

/* What to change, applied atomically by the engine. */
typedef struct fm_plan {
    bool change;            /* set the migration's state and fields below */
    fm_state to;            /* the new state (may equal the current one) */
    char what[FM_NAME_MAX]; /* event type: "phase", "replicating", "failed", ... */
    bool new_cycle;         /* cycle + 1 (a new command: steps of the old cycle are history) */
    fm_field fields[FM_FIELDS_MAX];
    size_t n_fields;
    fm_action acts[FM_ACTS_MAX];
    size_t n_acts;
    int64_t wake_at; /* ms when to look again without an event; 0: only on events */
} fm_plan;

/* Sets the field of mig stored under name (the names fm_plan_set writes, "reached_100",
 * "cutover_deadline", ...) from its stored text: numbers in decimal, flags "1". Returns false
 * for a name the machine does not read (the record holds more for display). */
bool fm_mig_field_set(fm_mig *mig, const char *name, const char *value);

/* The purposes: kind and operation of each, and which side it acts on. */
typedef struct fm_purpose {
    const char *name;      /* "replicate.dr" */
    const char *kind;      /* wire kind name: "dump_restore" */
    const char *operation; /* wire operation name: "copy" */
    const char *side;      /* "source", "target", "both" */
    const char *prefix;    /* step id prefix: "dr" */
    bool reverse;          /* DNS: the rollback direction */
} fm_purpose;

/* The purpose named name, NULL when unknown. */
const fm_purpose *fm_purpose_find(const char *name);

/*
 * Decides what comes next for mig, from the latest step of each purpose in steps (steps of other
 * cycles are ignored). now: ms, Redis's clock. Fills *plan (zeroed first); a plan with no change
 * and no actions means "nothing to do until the next event or plan->wake_at".
 */
void fm_advance(const fm_mig *mig, const fm_step *steps, size_t n_steps, const fm_policy *policy,
                int64_t now, fm_plan *plan);

/* The cutover's time limit from now: the longer of the last verified copy and pass (or, before
 * any verified one, the last measured), plus the margin. */
int64_t fm_cutover_budget(const fm_mig *mig, const fm_policy *policy);

/* When migrate may start: the TTL lowered at ttl_lowered_at has expired in resolvers' caches
 * (the old TTL, at most policy->ttl_wait_max_ms). 0 when there is nothing to wait for. */
int64_t fm_ttl_wait_until(const fm_mig *mig, const fm_policy *policy);

/* A user's command. */
typedef enum fm_verb {
    FM_VERB_REPLICATE = 1,
    FM_VERB_STOP,
    FM_VERB_INTERRUPT,
    FM_VERB_TEST_START,
    FM_VERB_TEST_STOP,
    FM_VERB_MIGRATE,
    FM_VERB_ROLLBACK,
    FM_VERB_REPLAY,
} fm_verb;

const char *fm_verb_name(fm_verb cmd);

/* What comes with a command besides its verb. */
typedef struct fm_verb_args {
    const char *actor;       /* who, for history */
    const char *replay_step; /* REPLAY: the step to run again (NULL: the one that failed) */
    bool overwrite;          /* REPLICATE: the first copy may replace data Ferry did not write */
    bool force;              /* TEST_START: start although replication never reached 100% */
    bool confirm;            /* ROLLBACK: what the target wrote since the cutover is given up */
} fm_verb_args;

/*
 * Decides whether cmd is allowed now, and if so the plan that starts it. steps as for fm_advance
 * (for cancels and replays). policy: for the TTL wait before migrate. Returns true with *plan
 * filled, or false with the reason in refusal ("cannot migrate: production has never reached
 * 100%").
 */
bool fm_verb_plan(const fm_mig *mig, const fm_step *steps, size_t n_steps, fm_verb cmd,
                  const fm_verb_args *args, const fm_policy *policy, int64_t now, fm_plan *plan,
                  char *refusal, size_t refusal_sz);

/* Adds a field to plan (silently dropped when full: FM_FIELDS_MAX is sized for the largest
 * plan, and a unit test checks it). Exposed for the engine's own bookkeeping fields. */
void fm_plan_set(fm_plan *plan, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
