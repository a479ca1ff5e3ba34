/*
 * supervisor.c - the supervisord driver: a program's state from supervisor.getProcessInfo,
 * startProcess / stopProcess without supervisord's own wait, then polling until RUNNING or
 * STOPPED (docs/dns-and-supervisor.md has what the tests found out about supervisord 4.2.5).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "ferry/clock.h"
#include "ferry/xmlrpc.h"

#define DEFAULT_POLL_MS 500
#define CALL_TIMEOUT_MS 15000
#define STDERR_TAIL     400

/* supervisord's fault codes (supervisor/xmlrpc.py, class Faults) */
enum {
    SUP_SHUTDOWN_STATE = 6,
    SUP_BAD_NAME = 10,
    SUP_NO_FILE = 20,
    SUP_NOT_EXECUTABLE = 21,
    SUP_FAILED = 30,
    SUP_ABNORMAL_TERMINATION = 40,
    SUP_SPAWN_ERROR = 50,
    SUP_ALREADY_STARTED = 60,
    SUP_NOT_RUNNING = 70,
};

/* supervisord's process states (supervisor/states.py, ProcessStates) */
enum {
    SUP_STOPPED = 0,
    SUP_STARTING = 10,
    SUP_RUNNING = 20,
    SUP_BACKOFF = 30,
    SUP_STOPPING = 40,
    SUP_EXITED = 100,
    SUP_FATAL = 200,
};

typedef struct sup {
    ferry_xmlrpc *rpc;
} sup;

/* What getProcessInfo said, copied out of the reply. */
typedef struct sup_info {
    int64_t state;
    char statename[32];
    char spawnerr[160];
    int64_t pid;
} sup_info;

static ferry_rc sup_open(const app_options *opts, void **handle, ferry_err *err)
{
    *handle = NULL;
    if (opts->supervisor_url == NULL || opts->supervisor_url[0] == '\0')
        return ferry_err_set(err, FERRY_ERR_INVALID,
                             "supervisor program %s: this worker has no supervisord to talk to: "
                             "set FERRY_SUPERVISOR_URL, FERRY_SUPERVISOR_USER and "
                             "FERRY_SUPERVISOR_PASSWORD",
                             opts->app);
    sup *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
    ferry_xmlrpc_opts xo = {.url = opts->supervisor_url,
                            .user = opts->supervisor_user,
                            .password = opts->supervisor_password,
                            .timeout_ms = CALL_TIMEOUT_MS};
    s->rpc = ferry_xmlrpc_new(&xo);
    if (s->rpc == NULL) {
        free(s);
        return ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
    }
    *handle = s;
    return FERRY_OK;
}

static void sup_close(void *handle)
{
    sup *s = handle;
    if (s == NULL)
        return;
    ferry_xmlrpc_free(s->rpc);
    free(s);
}

/* Calls method(name[, wait]). A BAD_NAME fault becomes NOT_FOUND naming the program. */
static ferry_rc sup_call(sup *s, const app_options *opts, const char *method, int wait,
                         ferry_xmlrpc_value **v, ferry_xmlrpc_fault *fault, ferry_err *err)
{
    ferry_xmlrpc_param params[2] = {FERRY_XMLRPC_P_STR(opts->app)};
    size_t n = 1;
    if (wait >= 0)
        params[n++] = FERRY_XMLRPC_P_BOOL(wait != 0);
    ferry_xmlrpc_fault f = {0};
    ferry_rc rc = ferry_xmlrpc_call(s->rpc, method, params, n, v, &f, err);
    if (fault != NULL)
        *fault = f;
    if (rc == FERRY_ERR_PROTOCOL && f.code == SUP_BAD_NAME)
        return ferry_err_set(err, FERRY_ERR_NOT_FOUND, "supervisor has no program %s (BAD_NAME)",
                             opts->app);
    if (rc == FERRY_ERR_PROTOCOL && f.code == SUP_SHUTDOWN_STATE)
        return ferry_err_set(err, FERRY_ERR_UNAVAILABLE,
                             "supervisor program %s: supervisord is shutting down", opts->app);
    if (rc != FERRY_OK && !(rc == FERRY_ERR_PROTOCOL && f.code != 0))
        (void)ferry_err_prefix(err, "supervisor program %s", opts->app);
    return rc;
}

static ferry_rc sup_info_get(sup *s, const app_options *opts, sup_info *info, ferry_err *err)
{
    ferry_xmlrpc_value *v = NULL;
    memset(info, 0, sizeof(*info));
    ferry_rc rc = sup_call(s, opts, "supervisor.getProcessInfo", -1, &v, NULL, err);
    if (rc != FERRY_OK)
        return rc;
    const char *sn = ferry_xmlrpc_string(ferry_xmlrpc_member(v, "statename"));
    if (sn == NULL || !ferry_xmlrpc_int(ferry_xmlrpc_member(v, "state"), &info->state)) {
        ferry_xmlrpc_value_free(v);
        return ferry_err_set(err, FERRY_ERR_PROTOCOL,
                             "supervisor program %s: getProcessInfo has no state", opts->app);
    }
    (void)snprintf(info->statename, sizeof(info->statename), "%s", sn);
    app_text_clean(ferry_xmlrpc_string(ferry_xmlrpc_member(v, "spawnerr")), info->spawnerr,
                   sizeof(info->spawnerr));
    (void)ferry_xmlrpc_int(ferry_xmlrpc_member(v, "pid"), &info->pid);
    ferry_xmlrpc_value_free(v);
    return FERRY_OK;
}

static app_state state_of(int64_t state)
{
    switch (state) {
    case SUP_RUNNING:
        return APP_STATE_RUNNING;
    case SUP_STOPPED:
    case SUP_EXITED:
        return APP_STATE_STOPPED;
    case SUP_STARTING:
    case SUP_BACKOFF:
        return APP_STATE_STARTING;
    case SUP_STOPPING:
        return APP_STATE_STOPPING;
    case SUP_FATAL:
        return APP_STATE_FAILED;
    default:
        return APP_STATE_UNKNOWN;
    }
}

static void report_set(app_report *report, const sup_info *info)
{
    report->state = state_of(info->state);
    (void)snprintf(report->detail, sizeof(report->detail), "%s", info->statename);
}

/* The last lines of the program's stderr log, one line, redacted ("" when there is none). */
static void stderr_tail(sup *s, const app_options *opts, char *out, size_t outsz)
{
    out[0] = '\0';
    ferry_xmlrpc_param params[3] = {FERRY_XMLRPC_P_STR(opts->app), FERRY_XMLRPC_P_INT(-STDERR_TAIL),
                                    FERRY_XMLRPC_P_INT(0)};
    ferry_xmlrpc_value *v = NULL;
    ferry_err ignored = {0};
    /* best effort: a program without a stderr log (NO_FILE) simply has no tail */
    if (ferry_xmlrpc_call(s->rpc, "supervisor.readProcessStderrLog", params, 3, &v, NULL,
                          &ignored) == FERRY_OK) {
        const char *text = ferry_xmlrpc_string(v);
        if (text != NULL) {
            size_t len = strlen(text);
            /* keep the end: it is what happened last */
            const char *from = len + 1 > outsz ? text + len - (outsz - 1) : text;
            app_text_clean(from, out, outsz);
        }
    }
    ferry_xmlrpc_value_free(v);
}

/* The program could not start: CONFLICT with supervisord's reason and its stderr tail. */
static ferry_rc start_failed(sup *s, const app_options *opts, const char *why, ferry_err *err)
{
    char tail[STDERR_TAIL + 1];
    stderr_tail(s, opts, tail, sizeof(tail));
    return ferry_err_set(err, FERRY_ERR_CONFLICT, "supervisor program %s did not start: %s%s%s",
                         opts->app, why, tail[0] != '\0' ? "; stderr: " : "", tail);
}

static ferry_rc sup_status(void *handle, const app_options *opts, app_report *report,
                           ferry_err *err)
{
    sup_info info;
    ferry_rc rc = sup_info_get(handle, opts, &info, err);
    if (rc == FERRY_ERR_NOT_FOUND)
        report->state = APP_STATE_ABSENT;
    if (rc != FERRY_OK)
        return rc;
    report_set(report, &info);
    return FERRY_OK;
}

static ferry_rc sup_start(void *handle, const app_options *opts, int64_t deadline_ms,
                          app_report *report, ferry_err *err)
{
    sup *s = handle;
    sup_info info;
    ferry_rc rc = sup_info_get(s, opts, &info, err);
    if (rc != FERRY_OK)
        return rc;
    report_set(report, &info);
    if (info.state == SUP_RUNNING) {
        app_progress(opts, "supervisor program %s is already RUNNING", opts->app);
        return FERRY_OK;
    }
    /* STARTING or BACKOFF: a start is under way; wait for it instead of asking again. */
    if (info.state != SUP_STARTING && info.state != SUP_BACKOFF) {
        app_progress(opts, "starting supervisor program %s (%s)", opts->app, info.statename);
        ferry_xmlrpc_value *v = NULL;
        ferry_xmlrpc_fault fault;
        rc = sup_call(s, opts, "supervisor.startProcess", 0, &v, &fault, err);
        ferry_xmlrpc_value_free(v);
        if (rc == FERRY_ERR_PROTOCOL && fault.code == SUP_ALREADY_STARTED) {
            rc = FERRY_OK; /* someone else started it meanwhile: the desired state */
        } else if (rc == FERRY_ERR_PROTOCOL &&
                   (fault.code == SUP_SPAWN_ERROR || fault.code == SUP_NO_FILE ||
                    fault.code == SUP_NOT_EXECUTABLE || fault.code == SUP_ABNORMAL_TERMINATION ||
                    fault.code == SUP_FAILED)) {
            char why[300];
            app_text_clean(fault.string, why, sizeof(why));
            return start_failed(s, opts, why, err);
        } else if (rc != FERRY_OK) {
            return rc;
        } else {
            report->changed = true;
        }
    }
    int64_t poll = opts->poll_ms > 0 ? opts->poll_ms : DEFAULT_POLL_MS;
    for (;;) {
        rc = sup_info_get(s, opts, &info, err);
        if (rc != FERRY_OK)
            return rc;
        report_set(report, &info);
        switch (info.state) {
        case SUP_RUNNING:
            app_progress(opts, "supervisor program %s is RUNNING (pid %lld)", opts->app,
                         (long long)info.pid);
            return FERRY_OK;
        case SUP_FATAL: {
            char why[200];
            (void)snprintf(why, sizeof(why), "FATAL (%s)",
                           info.spawnerr[0] != '\0' ? info.spawnerr : "gave up starting it");
            return start_failed(s, opts, why, err);
        }
        case SUP_STOPPED:
        case SUP_EXITED: {
            /* exited right after startsecs, or stopped by someone else while we waited */
            char why[256];
            (void)snprintf(why, sizeof(why), "%s while starting%s%s", info.statename,
                           info.spawnerr[0] != '\0' ? ": " : "", info.spawnerr);
            return start_failed(s, opts, why, err);
        }
        default: /* STARTING, BACKOFF (supervisord retries startretries times), STOPPING */
            break;
        }
        if (ferry_mono_ms() >= deadline_ms)
            return ferry_err_set(err, FERRY_ERR_TIMEOUT,
                                 "supervisor program %s is still %s after the step's timeout%s%s",
                                 opts->app, info.statename, info.spawnerr[0] != '\0' ? ": " : "",
                                 info.spawnerr);
        app_progress(opts, "supervisor program %s is %s", opts->app, info.statename);
        if (!app_sleep(opts, poll, deadline_ms) && app_stopping(opts))
            return ferry_err_set(err, FERRY_ERR_CANCELLED,
                                 "supervisor program %s: start stopped on request (%s)", opts->app,
                                 info.statename);
    }
}

static ferry_rc sup_stop(void *handle, const app_options *opts, int64_t deadline_ms,
                         app_report *report, ferry_err *err)
{
    sup *s = handle;
    sup_info info;
    ferry_rc rc = sup_info_get(s, opts, &info, err);
    if (rc != FERRY_OK)
        return rc;
    report_set(report, &info);
    if (info.state == SUP_STOPPED || info.state == SUP_EXITED || info.state == SUP_FATAL) {
        report->state = APP_STATE_STOPPED;
        app_progress(opts, "supervisor program %s is not running (%s)", opts->app, info.statename);
        return FERRY_OK;
    }
    if (info.state != SUP_STOPPING) {
        app_progress(opts, "stopping supervisor program %s (%s)", opts->app, info.statename);
        ferry_xmlrpc_value *v = NULL;
        ferry_xmlrpc_fault fault;
        rc = sup_call(s, opts, "supervisor.stopProcess", 0, &v, &fault, err);
        ferry_xmlrpc_value_free(v);
        if (rc == FERRY_ERR_PROTOCOL && fault.code == SUP_NOT_RUNNING)
            rc = FERRY_OK; /* stopped meanwhile: the desired state */
        else if (rc == FERRY_OK)
            report->changed = true;
        if (rc == FERRY_ERR_PROTOCOL) {
            char why[300];
            app_text_clean(fault.string, why, sizeof(why));
            return ferry_err_set(err, FERRY_ERR_SERVER, "supervisor program %s did not stop: %s",
                                 opts->app, why);
        }
        if (rc != FERRY_OK)
            return rc;
    }
    int64_t poll = opts->poll_ms > 0 ? opts->poll_ms : DEFAULT_POLL_MS;
    for (;;) {
        rc = sup_info_get(s, opts, &info, err);
        if (rc != FERRY_OK)
            return rc;
        report_set(report, &info);
        if (info.state == SUP_STOPPED || info.state == SUP_EXITED || info.state == SUP_FATAL) {
            report->state = APP_STATE_STOPPED;
            app_progress(opts, "supervisor program %s is %s", opts->app, info.statename);
            return FERRY_OK;
        }
        if (ferry_mono_ms() >= deadline_ms)
            return ferry_err_set(err, FERRY_ERR_TIMEOUT,
                                 "supervisor program %s is still %s after the step's timeout",
                                 opts->app, info.statename);
        if (!app_sleep(opts, poll, deadline_ms) && app_stopping(opts))
            return ferry_err_set(err, FERRY_ERR_CANCELLED,
                                 "supervisor program %s: stop stopped on request (%s)", opts->app,
                                 info.statename);
    }
}

const app_driver app_driver_supervisor = {
    .name = "supervisor",
    .open = sup_open,
    .close = sup_close,
    .start = sup_start,
    .stop = sup_stop,
    .status = sup_status,
};
