/*
 * state_keys.h - the layout of Ferry's state in Redis, private to the state module
 * (shared/state.c, shared/steps.c and the scripts in shared/lua/). Nothing else names a key.
 *
 * Every key of one migration carries its id as the hash tag, so that one script can change
 * them together; the global indexes hold members that name a migration and a step.
 *
 *   key                              type    holds
 *   ferry:{<mig>}:migration          hash    the migration: state, cycle, cur.<purpose>, ...
 *   ferry:{<mig>}:step:<step>        hash    one step: kind, state, attempt, owner, lease, ...
 *   ferry:{<mig>}:steps              zset    the migration's step ids, by creation
 *   ferry:{<mig>}:history            stream  every change of the migration (capped)
 *   ferry:events                     stream  every change of every migration (capped); the
 *                                            coordinator reads it as a consumer group
 *   ferry:migrations                 set     every migration id
 *   ferry:pending                    zset    "<mig> <step> <attempt>" to dispatch, by not-before
 *   ferry:queued:<kind>              zset    dispatched and not claimed, by last publish
 *   ferry:leases                     zset    running attempts, by lease end
 *   ferry:timers                     zset    migrations to evaluate again, by when
 *   ferry:app:<app>                  hash    spec, environments, created_at
 *   ferry:apps                       set     every app name
 *   ferry:worker:<id>                hash    a worker's heartbeat (expires)
 *   ferry:workers                    zset    worker ids, by last heartbeat
 *   ferry:limit:<scope>:<name>       zset    holders "<mig> <step>" of a concurrency limit
 *   ferry:limit_keys                 set     every limit key, for the sweep
 *   ferry:coordinator:leader         string  the leading coordinator (expires)
 *   ferry:dead_letters               stream  messages no consumer could handle (capped)
 *   ferry:dead_letters:replayed      hash    dead letter id -> when it was replayed
 *   ferry:metrics                    hash    counters for /metrics that workers' scripts add to
 *                                            (step ends by kind, state and duration bucket)
 *   ferry:users                      hash    user name -> JSON: role, apps, token hash (console)
 *   ferry:audit                      stream  every command: who, what, when, from where, how
 *                                            it ended (never trimmed, no API deletes it)
 *
 * docs/redis.md and docs/orchestration.md describe the fields.
 */
#ifndef FERRY_STATE_KEYS_H
#define FERRY_STATE_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/error.h"
#include "ferry/state.h"

#define STATE_EVENTS        "ferry:events"
#define STATE_MIGRATIONS    "ferry:migrations"
#define STATE_PENDING       "ferry:pending"
#define STATE_LEASES        "ferry:leases"
#define STATE_TIMERS        "ferry:timers"
#define STATE_APPS          "ferry:apps"
#define STATE_WORKERS       "ferry:workers"
#define STATE_LIMIT_KEYS    "ferry:limit_keys"
#define STATE_LEADER        "ferry:coordinator:leader"
#define STATE_DEAD_LETTERS  "ferry:dead_letters"
#define STATE_DEAD_REPLAYED "ferry:dead_letters:replayed"
#define STATE_METRICS       "ferry:metrics"
#define STATE_USERS         "ferry:users"
#define STATE_AUDIT         "ferry:audit"
#define STATE_QUEUED_PREFIX "ferry:queued:"
#define STATE_APP_PREFIX    "ferry:app:"
#define STATE_WORKER_PREFIX "ferry:worker:"
#define STATE_LIMIT_PREFIX  "ferry:limit:"
/* The records inside a migration (ferry_state_key suffixes). */
#define STATE_MIG_RECORD  "migration"
#define STATE_MIG_HISTORY "history"
#define STATE_MIG_STEPS   "steps"
#define STATE_STEP_PREFIX "step:"

/* The step kinds that have a queue, in the order mig_apply.lua takes their keys. */
extern const char *const state_queued_kinds[4];

/* prefix + name into out; FERRY_ERR_INVALID when name is empty, holds a space or a control
 * character, or does not fit. */
ferry_rc state_key_named(const char *prefix, const char *name, char *out, size_t outsz,
                         ferry_err *err);

/* The record of step `step` of migration mig. */
ferry_rc state_key_step(const char *mig, const char *step, char *out, size_t outsz, ferry_err *err);

/* A name that may go into a key or a script argument: 1..max printable ASCII characters, no
 * space, no braces unless braces (they would change a key's hash slot). */
bool state_name_ok(const char *s, size_t max, bool braces);

/* A decimal field as Redis holds it; "" or NULL read as 0. False when it is not a number. */
bool state_parse_i64(const char *s, int64_t *out);

#endif
