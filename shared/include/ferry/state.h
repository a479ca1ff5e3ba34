/*
 * state.h - Ferry's state in Redis: the one module that knows its key names.
 *
 * The coordinator's engine and API, the worker runtime and the dead-letter consumer keep their
 * state through the domain operations below (and the fenced step changes of ferry/steps.h,
 * part of this module); none of them names a key or sends a Redis command. The layout is
 * described once, next to its code, in shared/state_keys.h; docs/redis.md and
 * docs/orchestration.md explain it. ferry/store.h is the plain connection underneath.
 *
 * Every function takes a ferry_store (one connection, one thread) and an err; strings passed in
 * are borrowed for the call. Reads are retried once after a lost connection; changes that
 * are not safe to repeat say so.
 */
#ifndef FERRY_STATE_H
#define FERRY_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/error.h"
#include "ferry/store.h"

/* Approximate caps (XADD MAXLEN ~) of the event stream, each migration's history, and the
 * dead letters. */
#define FERRY_STATE_EVENTS_MAXLEN       100000
#define FERRY_STATE_HISTORY_MAXLEN      10000
#define FERRY_STATE_DEAD_LETTERS_MAXLEN 10000
/* The expected state that means "the record does not exist (or has no state)". */
#define FERRY_STATE_ABSENT ""
/* Longest key ferry_state_key() builds, with its NUL. */
#define FERRY_STATE_KEY_MAX (2 * FERRY_STORE_NAME_MAX + 16)

/* A list of strings, owned: free with ferry_state_list_cleanup(). An item may be NULL (a field
 * that is absent). */
typedef struct ferry_state_list {
    size_t count;
    char **items;
} ferry_state_list;

void ferry_state_list_cleanup(ferry_state_list *list);

/* Redis's clock (TIME) in ms since the epoch: the one clock every writer stamps with. */
ferry_rc ferry_state_now(ferry_store *store, int64_t *now_ms, ferry_err *err);

/* ------------------------------------------------------------------ migration records */

/*
 * The key of the record `suffix` of migration `migration` ("step:dr-1", "migration",
 * "history", "steps"). migration and suffix: 1..FERRY_STORE_NAME_MAX printable ASCII
 * characters, no space; migration also without '{' and '}' (it is the hash tag).
 * FERRY_ERR_INVALID otherwise. For the step scripts and for tests that look at the layout.
 */
ferry_rc ferry_state_key(const char *migration, const char *suffix, char *out, size_t outsz,
                         ferry_err *err);

/* Reads every field of the record `entity` of migration `migration`. FERRY_ERR_NOT_FOUND (and
 * *out NULL) when it does not exist. The caller frees *out with ferry_store_record_free(). */
ferry_rc ferry_state_record_get(ferry_store *store, const char *migration, const char *entity,
                                ferry_store_record **out, ferry_err *err);

/* One state change of the record `entity` of a migration. Everything is borrowed. */
typedef struct ferry_state_change {
    const char *migration;   /* the migration id (hash tag) */
    const char *entity;      /* the record inside it: "step:dr-1", "migration", ... */
    const char *const *from; /* allowed current states, n_from of them (1..16);
                                FERRY_STATE_ABSENT allows "record absent" */
    size_t n_from;
    int64_t expect_attempt;          /* the current attempt must equal this; -1: not checked.
                                        A record without an attempt has attempt 0. */
    const char *to;                  /* the new state, non-empty */
    int64_t new_attempt;             /* the attempt to store; -1 keeps the current one */
    const char *actor;               /* who: "coordinator", "dump-restore@host-1", ... */
    const char *what;                /* the event type: "created", "claimed", "succeeded", ... */
    const ferry_store_field *fields; /* more fields to set on the record (0..64); the names
                                        state, attempt and updated_at are reserved */
    size_t n_fields;
} ferry_state_change;

/* What a transition found or did. */
typedef struct ferry_state_result {
    char event_id[48];                    /* OK: the entry id in the event stream */
    char history_id[48];                  /* OK: the entry id in the migration's history */
    char at[24];                          /* OK: server time of the change, ms since the epoch */
    char state[FERRY_STORE_NAME_MAX + 1]; /* OK: the new state; CONFLICT: the current one
                                             ("" when absent) */
    int64_t attempt; /* OK: the stored attempt; CONFLICT: the current one (0 when none) */
} ferry_state_result;

/*
 * Applies change atomically (shared/lua/transition.lua): if the record's state is one of
 * change->from and (when asked) its attempt is change->expect_attempt, sets state, attempt,
 * updated_at (server time, ms) and the extra fields, and appends the event {migration, entity,
 * from, to, attempt, actor, what, at} to the event stream and the migration's history.
 * Otherwise nothing is written and FERRY_ERR_CONFLICT is returned, with the current state and
 * attempt in *res (res may be NULL) and in err's message. Used for a change no other script
 * makes (a step that cannot be built fails for good); a step's life goes through
 * ferry/steps.h, a migration's plan through ferry_state_mig_apply().
 *
 * Not retried after the connection is lost during the call: read the record to find out.
 */
ferry_rc ferry_state_transition(ferry_store *store, const ferry_state_change *change,
                                ferry_state_result *res, ferry_err *err);

/* ------------------------------------------------------------------ migrations */

/* A migration as stored: its record and its steps' records, read in one round trip. */
typedef struct ferry_state_mig {
    int64_t now;                /* Redis's clock when read, ms */
    ferry_store_record *rec;    /* the migration's fields; NULL when it does not exist */
    size_t n_steps;             /* the latest step of each purpose (its cur.<purpose>) */
    ferry_store_record **steps; /* n_steps records */
} ferry_state_mig;

/* Reads migration id (shared/lua/mig_load.lua). A migration that does not exist is not an
 * error: rec is NULL. The caller cleans up with ferry_state_mig_cleanup(). */
ferry_rc ferry_state_mig_load(ferry_store *store, const char *id, ferry_state_mig *out,
                              ferry_err *err);
void ferry_state_mig_cleanup(ferry_state_mig *mig);

/*
 * Applies a plan (the JSON that shared/lua/mig_apply.lua reads; coordinator/migstore.c writes
 * it) to migration id as actor, whole or not at all. *cycle (may be NULL): the cycle after the
 * change. FERRY_ERR_CONFLICT, nothing written, when the migration moved on meanwhile; err says
 * what it is now. Not retried after a lost connection (it may have run).
 */
ferry_rc ferry_state_mig_apply(ferry_store *store, const char *id, const char *actor,
                               const char *plan_json, int64_t *cycle, ferry_err *err);

/* The values of fields names[0..n) of migration id's record, in that order, into *out (an
 * absent field or record gives NULL items). */
ferry_rc ferry_state_mig_fields(ferry_store *store, const char *id, const char *const *names,
                                size_t n, ferry_state_list *out, ferry_err *err);

/* Every migration id, sorted. */
ferry_rc ferry_state_migrations(ferry_store *store, ferry_state_list *out, ferry_err *err);

/* The ids of migration id's steps, oldest first, at most max of them (0: all). */
ferry_rc ferry_state_step_ids(ferry_store *store, const char *id, size_t max, ferry_state_list *out,
                              ferry_err *err);

/* Step `step` of migration id (ferry_state_record_get of its record). */
ferry_rc ferry_state_step_get(ferry_store *store, const char *id, const char *step,
                              ferry_store_record **out, ferry_err *err);

/* The newest count (1..10000) entries of migration id's history, newest first. An unknown
 * migration has none. */
ferry_rc ferry_state_history(ferry_store *store, const char *id, size_t count,
                             ferry_store_entries **out, ferry_err *err);

/* ------------------------------------------------------------------ apps */

/* An app as stored. */
typedef struct ferry_state_app {
    char *spec;         /* the spec's text, as posted */
    char *environments; /* "production,test,...", in spec order */
    int64_t created_at; /* ms since the epoch */
} ferry_state_app;

/* Stores a new app whole (shared/lua/app_create.lua): its spec, environments ("a,b,...") and
 * creation time, and lists it.
 * *created false (and nothing changed) when an app of that name exists already. */
ferry_rc ferry_state_app_create(ferry_store *store, const char *app, const char *spec,
                                const char *environments, int64_t created_at, bool *created,
                                ferry_err *err);

/* Reads app; FERRY_ERR_NOT_FOUND when there is none. Clean up with ferry_state_app_cleanup(). */
ferry_rc ferry_state_app_get(ferry_store *store, const char *app, ferry_state_app *out,
                             ferry_err *err);
void ferry_state_app_cleanup(ferry_state_app *app);

/* Every app name, sorted. */
ferry_rc ferry_state_apps(ferry_store *store, ferry_state_list *out, ferry_err *err);

/* Most migrations one app deletion takes (an app's environments are bounded by its spec). */
#define FERRY_STATE_APP_MIGS_MAX 256

/*
 * Deletes app and everything of its migrations migs[0..n) (records, steps, history, index,
 * timers) in one step (shared/lua/app_delete.lua), provided each migration is absent or in one
 * of the states deletable[0..n_deletable); otherwise nothing is deleted and the result is
 * FERRY_ERR_CONFLICT naming the migration and its state. Not retried (asking again is harmless).
 */
ferry_rc ferry_state_app_delete(ferry_store *store, const char *app, const char *const *migs,
                                size_t n, const char *const *deletable, size_t n_deletable,
                                ferry_err *err);

/* ------------------------------------------------------------------ the coordinator's queues */

/*
 * The global indexes the coordinator sweeps. A member of pending, queued and leases is
 * "<migration> <step> <attempt>" (ferry_steps_member_parse()); of timers, a migration id.
 * *_due: members scored at or before `until` (ms), at most max of them, earliest first.
 */
typedef enum ferry_state_index {
    FERRY_STATE_PENDING = 0, /* steps waiting to be dispatched, scored by when they may go */
    FERRY_STATE_LEASES = 1,  /* running attempts, scored by when their lease ends */
    FERRY_STATE_TIMERS = 2,  /* migrations to evaluate again, scored by when */
} ferry_state_index;

ferry_rc ferry_state_due(ferry_store *store, ferry_state_index index, int64_t until, size_t max,
                         ferry_state_list *out, ferry_err *err);
/* Drops member from index (a stale entry, or a timer about to be evaluated). */
ferry_rc ferry_state_drop(ferry_store *store, ferry_state_index index, const char *member,
                          ferry_err *err);

/* The steps dispatched to kind (a wire kind name) and not claimed yet, scored by when they
 * were last published: those published at or before `until`, at most max. */
ferry_rc ferry_state_queued_due(ferry_store *store, const char *kind, int64_t until, size_t max,
                                ferry_state_list *out, ferry_err *err);
/* How many steps wait for kind. */
ferry_rc ferry_state_queued_count(ferry_store *store, const char *kind, int64_t *n, ferry_err *err);
/* Marks member of kind's queue published again at `at` (only if it is still queued). */
ferry_rc ferry_state_queued_touch(ferry_store *store, const char *kind, const char *member,
                                  int64_t at, ferry_err *err);
/* Drops member from kind's queue. */
ferry_rc ferry_state_queued_drop(ferry_store *store, const char *kind, const char *member,
                                 ferry_err *err);

/* ------------------------------------------------------------------ limits */

/* One concurrency limit a step needs a slot in: scope ("kind", "db_host", "bucket") and the
 * name within it, and how many slots the limit has. */
typedef struct ferry_state_limit {
    const char *scope;
    const char *name;
    int64_t size;
} ferry_state_limit;

/*
 * Takes a slot in each of limits[0..n) (1..3) for step `step` of migration mig, all or none
 * (shared/lua/limit_acquire.lua), and records them on the step so that they can be released.
 * *got false when one is full. Safe to repeat.
 */
ferry_rc ferry_state_limits_acquire(ferry_store *store, const char *mig, const char *step,
                                    const ferry_state_limit *limits, size_t n, int64_t now,
                                    bool *got, ferry_err *err);

/* Gives back the slots step `step` of mig holds. */
ferry_rc ferry_state_limits_release(ferry_store *store, const char *mig, const char *step,
                                    ferry_err *err);

/* Gives back every slot held by a step that no longer exists or whose state `ended` says has
 * ended: a crash between a step's end and its release would otherwise hold a slot forever. */
ferry_rc ferry_state_limits_sweep(ferry_store *store, bool (*ended)(const char *state),
                                  ferry_err *err);

/* ------------------------------------------------------------------ the coordinator's lead */

/* Takes or keeps the leadership lease for instance, lease_ms long (shared/lua/leader.lua).
 * *leading: whether instance leads now; holder (holdersz bytes): who does. */
ferry_rc ferry_state_lead(ferry_store *store, const char *instance, int64_t lease_ms, bool *leading,
                          char *holder, size_t holdersz, ferry_err *err);

/* ------------------------------------------------------------------ events */

/*
 * The event stream every change appends to, read by the coordinator as consumer group
 * `group`. join: creates the group (idempotent), starting with the events still in the stream.
 * read: as ferry_store_group_read() (pending: this consumer's delivered but unacknowledged
 * entries instead of new ones). ack: acknowledges entry id.
 */
ferry_rc ferry_state_events_join(ferry_store *store, const char *group, ferry_err *err);
ferry_rc ferry_state_events_read(ferry_store *store, const char *group, const char *consumer,
                                 bool pending, size_t count, int block_ms,
                                 ferry_store_entries **out, ferry_err *err);
ferry_rc ferry_state_events_ack(ferry_store *store, const char *group, const char *id,
                                ferry_err *err);

/* The step an event is about ("dr-1" for a change of the record step:dr-1), borrowed from
 * event; NULL when it is about another record. */
const char *ferry_state_event_step(const ferry_store_record *event);

/* ------------------------------------------------------------------ workers */

/* What a worker says of itself at each heartbeat. */
typedef struct ferry_state_beat {
    const char *id;   /* "dump_restore@host-1234" */
    const char *kind; /* wire kind name */
    const char *host;
    long pid;
    size_t capacity; /* free and busy slots; 0 while shutting down */
    size_t running;
    int64_t started_at; /* ms, Redis clock */
    const char *steps;  /* "<migration>/<step> ..." it runs */
    int64_t at;         /* ms, Redis clock */
    int64_t expire_ms;  /* the record disappears this long after the beat */
} ferry_state_beat;

/* Records a worker's heartbeat. */
ferry_rc ferry_state_worker_beat(ferry_store *store, const ferry_state_beat *beat, ferry_err *err);
/* Removes worker id's heartbeat (it stops). */
ferry_rc ferry_state_worker_gone(ferry_store *store, const char *id, ferry_err *err);

/* A worker as last heard of. */
typedef struct ferry_state_worker {
    char *id;
    int64_t heartbeat_at;    /* ms, Redis clock */
    ferry_store_record *rec; /* its fields (kind, capacity, running, host, pid, started_at,
                                steps); NULL when its record expired */
} ferry_state_worker;

typedef struct ferry_state_workers {
    size_t count;
    ferry_state_worker *items;
} ferry_state_workers;

/* The workers heard of at or after `since` (ms), oldest beat first. */
ferry_rc ferry_state_workers_since(ferry_store *store, int64_t since, ferry_state_workers *out,
                                   ferry_err *err);
void ferry_state_workers_cleanup(ferry_state_workers *w);
/* Forgets the workers last heard of before `before` (ms). */
ferry_rc ferry_state_workers_forget(ferry_store *store, int64_t before, ferry_err *err);

/* ------------------------------------------------------------------ metrics */

/*
 * The counters /metrics shows (docs/metrics.md), kept in one hash that the scripts add to as
 * things happen: step_finish.lua when a worker ends a step, mig_apply.lua when the coordinator
 * retries one. Fields, each a decimal count:
 *   step:<kind>:<end>:count     steps of kind that ended <end> (succeeded, failed, released)
 *   step:<kind>:<end>:sum_ms    the sum of their durations, ms
 *   step:<kind>:<end>:le:<ms>   those whose duration was at most <ms> and above the bucket
 *                               before (not cumulative); le:inf above the last bound
 *   retry:<kind>                attempts of kind retried after a failure or an expired lease
 * The buckets' upper bounds, ms, ascending: the one list, passed to step_finish.lua at each
 * finish and used by whoever renders the histogram.
 */
#define FERRY_STATE_DURATION_BUCKETS 7
extern const int64_t ferry_state_duration_buckets_ms[FERRY_STATE_DURATION_BUCKETS];

/* Every counter, into *out (an empty record when none was counted yet); the caller frees it with
 * ferry_store_record_free(). */
ferry_rc ferry_state_metrics_get(ferry_store *store, ferry_store_record **out, ferry_err *err);

/* ------------------------------------------------------------------ dead letters */

/* A message no consumer could handle, kept to be looked at and replayed. key and payload are
 * bytes with their lengths; the rest are strings. */
typedef struct ferry_state_dead_letter {
    const char *topic;
    int32_t partition;
    int64_t offset;
    const char *key;
    size_t key_len;
    const char *reason;
    const char *consumer;
    int64_t at; /* ms */
    const void *payload;
    size_t payload_len;
} ferry_state_dead_letter;

/* Keeps a dead letter (capped at about FERRY_STATE_DEAD_LETTERS_MAXLEN). Not retried. */
ferry_rc ferry_state_dead_letter_add(ferry_store *store, const ferry_state_dead_letter *dl,
                                     ferry_err *err);
/* The newest count (1..10000) dead letters, newest first. */
ferry_rc ferry_state_dead_letters(ferry_store *store, size_t count, ferry_store_entries **out,
                                  ferry_err *err);
/* Dead letter id; FERRY_ERR_NOT_FOUND when there is none (or id is not an entry id). */
ferry_rc ferry_state_dead_letter_get(ferry_store *store, const char *id, ferry_store_entries **out,
                                     ferry_err *err);
/* Records that dead letter id was replayed at `at` (ms); reads whether it was. */
ferry_rc ferry_state_dead_letter_replayed(ferry_store *store, const char *id, int64_t at,
                                          ferry_err *err);
ferry_rc ferry_state_dead_letter_was_replayed(ferry_store *store, const char *id, bool *replayed,
                                              ferry_err *err);
/* How many dead letters the stream holds (*held) and how many of all kept ever were replayed
 * (*replayed: the replay records, which outlive a trimmed letter). */
ferry_rc ferry_state_dead_letters_count(ferry_store *store, int64_t *held, int64_t *replayed,
                                        ferry_err *err);

#endif
