/*
 * app.c - one app operation over a platform driver: pick the driver, set the deadline, run
 * START / STOP / STATUS, and after a start the health check (health.c).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "ferry/clock.h"
#include "ferry/log.h"

#define DEFAULT_TIMEOUT_MS (300 * 1000)
#define SLEEP_SLICE_MS     100

const char *app_state_str(app_state state)
{
    switch (state) {
    case APP_STATE_UNKNOWN:
        return "unknown";
    case APP_STATE_RUNNING:
        return "running";
    case APP_STATE_STOPPED:
        return "stopped";
    case APP_STATE_STARTING:
        return "starting";
    case APP_STATE_STOPPING:
        return "stopping";
    case APP_STATE_FAILED:
        return "failed";
    case APP_STATE_ABSENT:
        return "absent";
    }
    return "unknown";
}

bool app_stopping(const app_options *opts)
{
    return opts->stop.stopping != NULL && opts->stop.stopping(opts->stop.ud);
}

bool app_sleep(const app_options *opts, int64_t ms, int64_t deadline_ms)
{
    int64_t until = ferry_mono_ms() + ms;
    if (until > deadline_ms)
        until = deadline_ms;
    for (;;) {
        if (app_stopping(opts))
            return false;
        int64_t left = until - ferry_mono_ms();
        if (left <= 0)
            return true;
        ferry_sleep_ms(left < SLEEP_SLICE_MS ? left : SLEEP_SLICE_MS);
    }
}

void app_progress(const app_options *opts, const char *fmt, ...)
{
    if (opts->progress == NULL)
        return;
    char text[256];
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    opts->progress(opts->progress_ud, text);
}

void app_text_clean(const char *in, char *out, size_t outsz)
{
    if (outsz == 0)
        return;
    out[0] = '\0';
    if (in == NULL)
        return;
    (void)ferry_redact(in, out, outsz);
    /* one line: control characters become spaces, runs of spaces collapse, ends trimmed */
    size_t w = 0;
    for (size_t r = 0; out[r] != '\0'; r++) {
        char c = out[r];
        if ((unsigned char)c < 0x20 || c == 0x7f)
            c = ' ';
        if (c == ' ' && (w == 0 || out[w - 1] == ' '))
            continue;
        out[w++] = c;
    }
    while (w > 0 && out[w - 1] == ' ')
        w--;
    out[w] = '\0';
}

static const app_driver *driver_find(const char *platform)
{
    static const app_driver *const drivers[] = {&app_driver_supervisor, &app_driver_mendix};
    for (size_t i = 0; i < sizeof(drivers) / sizeof(drivers[0]); i++)
        if (strcmp(drivers[i]->name, platform) == 0)
            return drivers[i];
    return NULL;
}

static void report_init(app_report *report)
{
    memset(report, 0, sizeof(*report));
    report->health_ms = -1;
}

ferry_rc app_run(app_op op, const app_options *opts, app_report *report, ferry_err *err)
{
    report_init(report);
    if (opts->platform == NULL || opts->platform[0] == '\0')
        return ferry_err_set(err, FERRY_ERR_INVALID,
                             "the step names no platform (supervisor or mendix)");
    const app_driver *drv = driver_find(opts->platform);
    if (drv == NULL) {
        char shown[64];
        app_text_clean(opts->platform, shown, sizeof(shown));
        return ferry_err_set(err, FERRY_ERR_INVALID,
                             "unknown platform \"%s\": ferry-app knows supervisor and mendix",
                             shown);
    }
    if (opts->app == NULL || opts->app[0] == '\0')
        return ferry_err_set(err, FERRY_ERR_INVALID, "%s: the step names no app", drv->name);
    if (op != APP_OP_START && op != APP_OP_STOP && op != APP_OP_STATUS)
        return ferry_err_set(err, FERRY_ERR_INVALID, "unknown app operation %d", (int)op);

    int64_t t0 = ferry_mono_ms();
    int64_t deadline = t0 + (opts->timeout_ms > 0 ? opts->timeout_ms : DEFAULT_TIMEOUT_MS);
    void *handle = NULL;
    ferry_rc rc = drv->open(opts, &handle, err);
    if (rc != FERRY_OK)
        goto out;
    switch (op) {
    case APP_OP_START:
        rc = drv->start(handle, opts, deadline, report, err);
        report->platform_ms = ferry_mono_ms() - t0;
        if (rc == FERRY_OK && opts->health_url != NULL && opts->health_url[0] != '\0')
            rc = app_health_wait(opts, deadline, report, err);
        break;
    case APP_OP_STOP:
        rc = drv->stop(handle, opts, deadline, report, err);
        report->platform_ms = ferry_mono_ms() - t0;
        break;
    case APP_OP_STATUS:
        rc = drv->status(handle, opts, report, err);
        report->platform_ms = ferry_mono_ms() - t0;
        break;
    }
out:
    drv->close(handle);
    report->total_ms = ferry_mono_ms() - t0;
    return rc;
}
