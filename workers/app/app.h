/*
 * app.h - ferry-app's work: start, stop or look at one app on its hosting platform through a
 * driver per platform (supervisord over XML-RPC, the Mendix Deploy API v1), then, after a
 * start, wait until the app answers its health check. docs/app.md describes the semantics.
 *
 * Every operation drives the app to a desired state: starting a running app and stopping a
 * stopped one succeed at once (report.changed false). Nothing here logs; failures come back
 * as ferry_rc with a message that names the platform, the app and (Mendix) the environment,
 * never a password or API key.
 */
#ifndef FERRY_APP_H
#define FERRY_APP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/error.h"

/* What a platform says about an app, in Ferry's words. */
typedef enum app_state {
    APP_STATE_UNKNOWN = 0,  /* an answer the driver does not know (detail has it) */
    APP_STATE_RUNNING = 1,  /* up (supervisor RUNNING, Mendix Running) */
    APP_STATE_STOPPED = 2,  /* not running: stopped, exited, never started */
    APP_STATE_STARTING = 3, /* on its way up (STARTING, BACKOFF, a start job) */
    APP_STATE_STOPPING = 4,
    APP_STATE_FAILED = 5, /* gave up starting (supervisor FATAL) */
    APP_STATE_ABSENT = 6, /* nothing deployed (Mendix Empty / NotDeployed) */
} app_state;

/* "running", "stopped", ...: the word results and the command line use. Never NULL. */
const char *app_state_str(app_state state);

/* Polled in every wait; true means stop now (the operation returns FERRY_ERR_CANCELLED). */
typedef struct app_stop {
    bool (*stopping)(void *ud);
    void *ud;
} app_stop;

/* Called when the operation enters a new phase; detail is borrowed for the call. */
typedef void (*app_progress_fn)(void *ud, const char *detail);

typedef enum app_op {
    APP_OP_START = 0,
    APP_OP_STOP = 1,
    APP_OP_STATUS = 2,
} app_op;

/* Everything an operation needs. Strings are borrowed for the call. */
typedef struct app_options {
    const char *platform;    /* "supervisor" or "mendix" */
    const char *app;         /* supervisor program name, or Mendix AppId */
    const char *environment; /* Mendix environment (Mode): Production, Acceptance, Test, ... */

    const char *supervisor_url; /* http://host:port/RPC2; NULL: a supervisor app fails INVALID */
    const char *supervisor_user;
    const char *supervisor_password; /* secret */

    const char *mendix_api_url; /* https://deploy.mendix.com/api/1 */
    const char *mendix_user;    /* Mendix-Username */
    const char *mendix_api_key; /* Mendix-ApiKey; secret */

    int64_t timeout_ms; /* the whole operation, health check included; 0: 300 s */
    int64_t poll_ms;    /* between two looks at the platform or the health URL; 0: 500 */

    const char *health_url;      /* START: GET it until it answers; NULL or "": no check */
    long health_status;          /* expected status; 0: any 2xx */
    const char *health_contains; /* text the body must hold; NULL or "": any */

    app_stop stop;
    app_progress_fn progress;
    void *progress_ud;
} app_options;

/* What an operation found and did. */
typedef struct app_report {
    app_state state;     /* at the end */
    char detail[128];    /* the platform's own word for it ("RUNNING", "Running") */
    bool changed;        /* false when the app already was in the desired state */
    int64_t platform_ms; /* until the platform said running / stopped */
    int64_t health_ms;   /* the health check (START with health_url), else -1 */
    long health_status;  /* the health URL's last answer (0: none), START only */
    int64_t total_ms;
} app_report;

/*
 * Runs one operation: START (and the health check), STOP or STATUS. report is filled as far as
 * the operation got, also on failure. Errors:
 *   INVALID      bad options (unknown platform, missing app, environment, credentials, URL)
 *   NOT_FOUND    no such program / app / environment
 *   AUTH         supervisord or Mendix refused the credentials; PERMISSION: Mendix 403
 *   CONFLICT     the app itself failed to start (supervisor FATAL, a failed Mendix start job):
 *                a person must look; the message holds the platform's reason
 *   BUSY         Mendix has another start job or a lock on the environment
 *   TIMEOUT      the platform or the health check did not get there within timeout_ms
 *   CANCELLED    opts->stop said so
 *   UNAVAILABLE, SERVER, THROTTLED, PROTOCOL, DECODE from the platform's API
 */
ferry_rc app_run(app_op op, const app_options *opts, app_report *report, ferry_err *err);

/* ---- drivers (one per platform; app.c picks one by name) ---------------------------------- */

/*
 * A driver's operations. open checks the options it needs and makes a handle; start and stop
 * act and wait (until deadline_ms, monotonic) for the state they want, checking opts->stop;
 * status looks once. They fill report->state and report->detail.
 */
typedef struct app_driver {
    const char *name;
    ferry_rc (*open)(const app_options *opts, void **handle, ferry_err *err);
    void (*close)(void *handle);
    ferry_rc (*start)(void *handle, const app_options *opts, int64_t deadline_ms,
                      app_report *report, ferry_err *err);
    ferry_rc (*stop)(void *handle, const app_options *opts, int64_t deadline_ms, app_report *report,
                     ferry_err *err);
    ferry_rc (*status)(void *handle, const app_options *opts, app_report *report, ferry_err *err);
} app_driver;

extern const app_driver app_driver_supervisor; /* supervisor.c */
extern const app_driver app_driver_mendix;     /* mendix.c */

/* ---- helpers shared by the drivers and the health check (app.c) -------------------------- */

/* True when opts->stop says stop. */
bool app_stopping(const app_options *opts);

/* Sleeps up to ms (not past deadline_ms), waking early when opts->stop says stop. Returns
 * false when it is time to stop. */
bool app_sleep(const app_options *opts, int64_t ms, int64_t deadline_ms);

/* Reports a phase through opts->progress (printf-style). */
void app_progress(const app_options *opts, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Copies a platform's text for a message: redacted, one line, at most outsz-1 bytes. */
void app_text_clean(const char *in, char *out, size_t outsz);

/*
 * GETs opts->health_url until it answers as expected or deadline_ms passes (monotonic).
 * Fills report->health_ms and report->health_status. TIMEOUT with the message
 * "app X did not come up: GET <url> answered 503 (expected 2xx) for 120 s".
 */
ferry_rc app_health_wait(const app_options *opts, int64_t deadline_ms, app_report *report,
                         ferry_err *err);

#endif
