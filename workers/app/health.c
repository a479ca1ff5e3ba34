/*
 * health.c - the health check after a start: GET the app's URL every poll interval until it
 * answers the expected status (and its body holds the expected text), or the deadline passes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "ferry/clock.h"
#include "ferry/http.h"

#define DEFAULT_POLL_MS    500
#define REQUEST_TIMEOUT_MS 5000
#define BODY_KEEP          (256 * 1024) /* enough to find a marker; the rest is dropped */

typedef struct body_buf {
    char data[BODY_KEEP + 1];
    size_t len;
} body_buf;

static bool body_write(const void *data, size_t len, void *ud)
{
    body_buf *b = ud;
    size_t room = BODY_KEEP - b->len;
    size_t n = len < room ? len : room;
    memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
    return true;
}

static bool http_going_on(uint64_t down, uint64_t up, void *ud)
{
    (void)down;
    (void)up;
    return !app_stopping(ud);
}

/* Whether an answer is the expected one. */
static bool answer_ok(const app_options *opts, long status, const char *body)
{
    bool status_ok =
        opts->health_status > 0 ? status == opts->health_status : status >= 200 && status < 300;
    if (!status_ok)
        return false;
    if (opts->health_contains == NULL || opts->health_contains[0] == '\0')
        return true;
    return body != NULL && strstr(body, opts->health_contains) != NULL;
}

ferry_rc app_health_wait(const app_options *opts, int64_t deadline_ms, app_report *report,
                         ferry_err *err)
{
    ferry_rc rc = FERRY_OK;
    body_buf *body = NULL;
    ferry_http *http = NULL;
    char url[512], expected[96], last[256];
    app_text_clean(opts->health_url, url, sizeof(url));
    if (opts->health_status > 0)
        (void)snprintf(expected, sizeof(expected), "%ld", opts->health_status);
    else
        (void)snprintf(expected, sizeof(expected), "2xx");
    if (opts->health_contains != NULL && opts->health_contains[0] != '\0') {
        char text[64];
        app_text_clean(opts->health_contains, text, sizeof(text));
        size_t n = strlen(expected);
        (void)snprintf(expected + n, sizeof(expected) - n, " holding \"%s\"", text);
    }
    (void)snprintf(last, sizeof(last), "no answer yet");

    int64_t t0 = ferry_mono_ms();
    int64_t poll = opts->poll_ms > 0 ? opts->poll_ms : DEFAULT_POLL_MS;
    body = calloc(1, sizeof(*body));
    http = ferry_http_new();
    if (body == NULL || http == NULL) {
        rc = ferry_err_set(err, FERRY_ERR_NOMEM, "health check: out of memory");
        goto out;
    }
    app_progress(opts, "health check: GET %s", url);
    for (int64_t attempt = 1;; attempt++) {
        if (app_stopping(opts)) {
            rc = ferry_err_set(err, FERRY_ERR_CANCELLED,
                               "app %s: health check stopped on request after %lld attempts",
                               opts->app, (long long)attempt - 1);
            goto out;
        }
        int64_t started = ferry_mono_ms();
        int64_t left = deadline_ms - started;
        long timeout =
            left < REQUEST_TIMEOUT_MS ? (long)(left > 100 ? left : 100) : REQUEST_TIMEOUT_MS;
        body->len = 0;
        body->data[0] = '\0';
        ferry_http_request req = {.method = "GET",
                                  .url = opts->health_url,
                                  .write_fn = body_write,
                                  .write_ud = body,
                                  .progress_fn = http_going_on,
                                  .progress_ud = (void *)opts,
                                  .timeout_ms = timeout,
                                  .connect_timeout_ms = timeout};
        ferry_http_response resp = {0};
        ferry_err herr = {0};
        ferry_rc hrc = ferry_http_perform(http, &req, &resp, &herr);
        if (hrc == FERRY_ERR_CANCELLED) {
            ferry_http_response_cleanup(&resp);
            continue; /* the stop check above reports it */
        }
        if (hrc == FERRY_OK) {
            /* A non-2xx body stays in resp.body; a 2xx one went to body_write. */
            const char *text = resp.status >= 200 && resp.status < 300 ? body->data : resp.body;
            report->health_status = resp.status;
            bool ok = answer_ok(opts, resp.status, text);
            if (!ok && resp.status >= 200 && resp.status < 300 && opts->health_status <= 0)
                (void)snprintf(last, sizeof(last), "answered %ld without the text", resp.status);
            else
                (void)snprintf(last, sizeof(last), "answered %ld", resp.status);
            ferry_http_response_cleanup(&resp);
            if (ok) {
                report->health_ms = ferry_mono_ms() - t0;
                app_progress(opts, "health check: GET %s answered %ld", url, report->health_status);
                goto out;
            }
        } else {
            char why[200];
            app_text_clean(herr.msg, why, sizeof(why));
            (void)snprintf(last, sizeof(last), "gave no answer (%s: %s)", ferry_rc_str(hrc), why);
            ferry_http_response_cleanup(&resp);
        }
        if (attempt == 1 || attempt % 10 == 0)
            app_progress(opts, "health check: GET %s %s", url, last);
        if (ferry_mono_ms() >= deadline_ms || !app_sleep(opts, poll, deadline_ms) ||
            ferry_mono_ms() >= deadline_ms) {
            if (app_stopping(opts))
                continue;
            report->health_ms = ferry_mono_ms() - t0;
            rc = ferry_err_set(err, FERRY_ERR_TIMEOUT,
                               "app %s did not come up: GET %s %s (expected %s) for %lld s",
                               opts->app, url, last, expected,
                               (long long)((report->health_ms + 500) / 1000));
            goto out;
        }
    }
out:
    ferry_http_free(http);
    free(body);
    return rc;
}
