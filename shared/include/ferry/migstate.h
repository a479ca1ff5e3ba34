/*
 * migstate.h - the names of a migration's states and phases and of a step's states: one enum
 * and one name table each, the only place their stored text is compared. The coordinator's state
 * machine (coordinator/machine.h) decides with them; ferryctl reads the API's answers with them.
 * The fm_ prefix is the migration machine's vocabulary (docs/orchestration.md, "Migration
 * states").
 */
#ifndef FERRY_MIGSTATE_H
#define FERRY_MIGSTATE_H

#include <stdbool.h>

/* A step's state, as stored. */
typedef enum fm_sstate {
    FM_S_UNKNOWN = 0,
    FM_S_PENDING,
    FM_S_DISPATCHED,
    FM_S_RUNNING,
    FM_S_SUCCEEDED,
    FM_S_FAILED,
    FM_S_RELEASED,
    FM_S_EXPIRED,
    FM_S_CANCELED,
} fm_sstate;

fm_sstate fm_sstate_parse(const char *text);
const char *fm_sstate_name(fm_sstate s);
/* pending, dispatched or running */
bool fm_sstate_active(fm_sstate s);

/* A migration's state, stored by its name ("replicating"): fm_state_name, fm_state_parse. */
typedef enum fm_state {
    FM_ABSENT = 0, /* "": no such migration */
    FM_NEW,
    FM_REPLICATING,
    FM_STOPPING,
    FM_STOPPED,
    FM_TESTING,
    FM_CUTOVER,
    FM_MIGRATED,
    FM_ROLLING_BACK,
    FM_ROLLED_BACK,
    FM_FAILED,
    FM_STATE_OTHER, /* a name this coordinator does not know (a newer one's): it waits */
} fm_state;

/* The phase within a state (docs/orchestration.md, "Migration states"), stored by its name. */
typedef enum fm_phase {
    FM_PH_NONE = 0, /* "" */
    FM_PH_CHECK_TARGET,
    FM_PH_LOWER_TTL,
    FM_PH_DUMP_RESTORE,
    FM_PH_FILE_SYNC,
    FM_PH_PAUSE,
    FM_PH_WAIT,
    FM_PH_FINAL,
    FM_PH_STARTING,
    FM_PH_RUNNING,
    FM_PH_STOPPING,
    FM_PH_STOP_TARGET,
    FM_PH_STOP_SOURCE,
    FM_PH_SYNC,
    FM_PH_RENAME,
    FM_PH_CHECK,
    FM_PH_START_TARGET,
    FM_PH_START_SOURCE,
    FM_PH_RESTART_SOURCE,
    FM_PH_OTHER, /* a name this coordinator does not know */
} fm_phase;

/* Names as stored; "unknown" for the OTHER values. */
const char *fm_state_name(fm_state state);
const char *fm_phase_name(fm_phase phase);
/* "" is FM_ABSENT / FM_PH_NONE; a name not in the table is the OTHER value. */
fm_state fm_state_parse(const char *text);
fm_phase fm_phase_parse(const char *text);

/* Whether a migration in state (and phase) waits for a user: nothing runs and nothing will
 * until a command (new, stopped, migrated, rolled back, failed, or replicating's pause between
 * passes). */
bool fm_resting(fm_state state, fm_phase phase);

#endif
