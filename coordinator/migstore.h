/*
 * migstore.h - a migration in Redis, for the coordinator: load it in one round trip
 * (shared/lua/mig_load.lua) into the state machine's view, and apply a plan whole
 * (shared/lua/mig_apply.lua). The engine and the API both go through here.
 */
#ifndef FERRY_MIGSTORE_H
#define FERRY_MIGSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/error.h"
#include "ferry/state.h"
#include "ferry/store.h"
#include "machine.h"

/* A loaded migration: the machine's view, plus the raw records for display. */
typedef struct migstore_view {
    int64_t now; /* Redis's clock when loaded, ms */
    fm_mig mig;
    fm_step steps[FM_STEPS_MAX]; /* the latest step of each purpose (any cycle) */
    size_t n_steps;
    const ferry_store_record *rec;                     /* the migration's fields; NULL when
                                                          absent (borrowed from raw) */
    const ferry_store_record *step_recs[FM_STEPS_MAX]; /* parallel to steps (from raw) */
    ferry_state_mig raw;                               /* as read from the state module */
} migstore_view;

/* Loads migration id into *view (caller cleans up with migstore_view_cleanup()). A migration that
 * does not exist loads with mig.state "" and rec NULL; that is not an error. */
ferry_rc migstore_load(ferry_store *store, const char *id, migstore_view *view, ferry_err *err);
void migstore_view_cleanup(migstore_view *view);

/* The state as stored ("" when the migration does not exist): what a plan expects, and what
 * is shown, even for a state this coordinator does not know. Borrowed from view. */
const char *migstore_state_text(const migstore_view *view);

/* Fills an fm_step from a step record (exposed for the API's step listings). */
void migstore_step_from_record(const ferry_store_record *rec, fm_step *out);

/* The value of field name in rec as an integer; def when absent or not a number. */
int64_t migstore_int(const ferry_store_record *rec, const char *name, int64_t def);

/* A plan to apply, and what the migration must be for it to apply. Everything borrowed. */
typedef struct migstore_change {
    const char *actor;         /* who */
    const char *const *expect; /* the states it may be in ("" = absent) */
    size_t n_expect;
    int64_t expect_cycle; /* its cycle must be this; -1: not checked */
    const fm_plan *plan;
    const ferry_store_field *extra; /* more fields to set with the change (a creation's) */
    size_t n_extra;
    bool index; /* list the migration (a creation) */
} migstore_change;

/*
 * Applies change->plan to migration id whole, if it is as change expects. On success *cycle
 * (may be NULL) is the cycle after the change. FERRY_ERR_CONFLICT, nothing written, when the
 * migration moved on meanwhile; err then says what it is now.
 */
ferry_rc migstore_apply(ferry_store *store, const char *id, const migstore_change *change,
                        int64_t *cycle, ferry_err *err);

#endif
