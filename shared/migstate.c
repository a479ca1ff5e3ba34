/* migstate.c - the name tables of migration states and phases and of step states (see
 * ferry/migstate.h). */
#include "ferry/migstate.h"

#include <stddef.h>
#include <string.h>

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

static const char *const state_names[] = {
    [FM_ABSENT] = "",
    [FM_NEW] = "new",
    [FM_REPLICATING] = "replicating",
    [FM_STOPPING] = "stopping",
    [FM_STOPPED] = "stopped",
    [FM_TESTING] = "testing",
    [FM_CUTOVER] = "cutover",
    [FM_MIGRATED] = "migrated",
    [FM_ROLLING_BACK] = "rolling_back",
    [FM_ROLLED_BACK] = "rolled_back",
    [FM_FAILED] = "failed",
    [FM_STATE_OTHER] = "unknown",
};

static const char *const phase_names[] = {
    [FM_PH_NONE] = "",
    [FM_PH_CHECK_TARGET] = "check_target",
    [FM_PH_LOWER_TTL] = "lower_ttl",
    [FM_PH_DUMP_RESTORE] = "dump_restore",
    [FM_PH_FILE_SYNC] = "file_sync",
    [FM_PH_PAUSE] = "pause",
    [FM_PH_WAIT] = "wait",
    [FM_PH_FINAL] = "final",
    [FM_PH_STARTING] = "starting",
    [FM_PH_RUNNING] = "running",
    [FM_PH_STOPPING] = "stopping",
    [FM_PH_STOP_TARGET] = "stop_target",
    [FM_PH_STOP_SOURCE] = "stop_source",
    [FM_PH_SYNC] = "sync",
    [FM_PH_RENAME] = "rename",
    [FM_PH_CHECK] = "check",
    [FM_PH_START_TARGET] = "start_target",
    [FM_PH_START_SOURCE] = "start_source",
    [FM_PH_RESTART_SOURCE] = "restart_source",
    [FM_PH_OTHER] = "unknown",
};

#define N_STATES (sizeof(state_names) / sizeof(state_names[0]))
#define N_PHASES (sizeof(phase_names) / sizeof(phase_names[0]))

const char *fm_state_name(fm_state state)
{
    return (size_t)state < N_STATES ? state_names[state] : "unknown";
}

const char *fm_phase_name(fm_phase phase)
{
    return (size_t)phase < N_PHASES ? phase_names[phase] : "unknown";
}

fm_state fm_state_parse(const char *text)
{
    if (text == NULL || text[0] == '\0')
        return FM_ABSENT;
    for (size_t i = 1; i < FM_STATE_OTHER; i++) {
        if (strcmp(text, state_names[i]) == 0)
            return (fm_state)i;
    }
    return FM_STATE_OTHER;
}

fm_phase fm_phase_parse(const char *text)
{
    if (text == NULL || text[0] == '\0')
        return FM_PH_NONE;
    for (size_t i = 1; i < FM_PH_OTHER; i++) {
        if (strcmp(text, phase_names[i]) == 0)
            return (fm_phase)i;
    }
    return FM_PH_OTHER;
}

bool fm_resting(fm_state state, fm_phase phase)
{
    switch (state) {
    case FM_NEW:
    case FM_STOPPED:
    case FM_MIGRATED:
    case FM_ROLLED_BACK:
    case FM_FAILED:
        return true;
    case FM_REPLICATING:
        return phase == FM_PH_PAUSE;
    default:
        return false;
    }
}
