/*
 * mendix.c - the Mendix Deploy API v1 driver (docs.mendix.com, "Deploy API – Version 1"):
 * an environment's Status from GET /apps/<AppId>/environments/<Mode>, POST .../start with
 * {"AutoSyncDb": true} then GET .../start/<JobId> until "Started", POST .../stop then the
 * environment's Status until "Stopped". Authentication: Mendix-Username and Mendix-ApiKey.
 * Error replies carry {"errorCode", "errorMessage"}; errorcode_rc() maps the published codes.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "ferry/clock.h"
#include "ferry/http.h"

#define DEFAULT_POLL_MS    500
#define REQUEST_TIMEOUT_MS 30000
#define URL_MAX            1024

typedef struct mx {
    ferry_http *http;
    char *hdr_user; /* "Mendix-Username: ..." */
    char *hdr_key;  /* "Mendix-ApiKey: ...": wiped on close */
    const char *headers[5];
    char base[URL_MAX]; /* .../apps/<AppId>/environments/<Mode> */
    char where[300];    /* "mendix app calc environment Acceptance", for messages */
} mx;

/* A parsed reply: status, and the fields Ferry reads. */
typedef struct mx_reply {
    long status;
    char error_code[64];
    char error_message[256];
    char status_text[64]; /* "Status" */
    char job_id[128];     /* "JobId" */
    char raw[160];        /* the start of a body that is not JSON, cleaned */
} mx_reply;

static void wipe_free(char *s)
{
    if (s == NULL)
        return;
    volatile char *p = s;
    while (*p != '\0')
        *p++ = '\0';
    free(s);
}

static char *header_line(const char *name, const char *value)
{
    size_t n = strlen(name) + strlen(value) + 3;
    char *line = malloc(n);
    if (line != NULL && snprintf(line, n, "%s: %s", name, value) < 0) {
        free(line);
        return NULL;
    }
    return line;
}

/* A header value must not carry a line break (it would add a header of its own). */
static bool header_safe(const char *value)
{
    for (const char *p = value; *p != '\0'; p++)
        if (*p == '\r' || *p == '\n')
            return false;
    return true;
}

static void mx_close(void *handle)
{
    mx *m = handle;
    if (m == NULL)
        return;
    ferry_http_free(m->http);
    free(m->hdr_user);
    wipe_free(m->hdr_key);
    free(m);
}

static ferry_rc mx_open(const app_options *opts, void **handle, ferry_err *err)
{
    *handle = NULL;
    const char *env = opts->environment;
    if (env == NULL || env[0] == '\0')
        return ferry_err_set(err, FERRY_ERR_INVALID,
                             "mendix app %s: the step names no environment (Production, "
                             "Acceptance, Test, ...)",
                             opts->app);
    if (opts->mendix_user == NULL || opts->mendix_user[0] == '\0')
        return ferry_err_set(err, FERRY_ERR_INVALID,
                             "mendix app %s environment %s: the step names no user "
                             "(Mendix-Username)",
                             opts->app, env);
    if (opts->mendix_api_key == NULL || opts->mendix_api_key[0] == '\0')
        return ferry_err_set(err, FERRY_ERR_INVALID,
                             "mendix app %s environment %s: no API key (the step's credentials "
                             "name the secret holding it)",
                             opts->app, env);
    if (!header_safe(opts->mendix_user) || !header_safe(opts->mendix_api_key))
        return ferry_err_set(err, FERRY_ERR_INVALID,
                             "mendix app %s environment %s: the user or the API key holds a "
                             "line break",
                             opts->app, env);
    if (opts->mendix_api_url == NULL || opts->mendix_api_url[0] == '\0')
        return ferry_err_set(err, FERRY_ERR_INVALID,
                             "mendix app %s: no Deploy API URL (FERRY_MENDIX_API_URL)", opts->app);

    mx *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
    (void)snprintf(m->where, sizeof(m->where), "mendix app %s environment %s", opts->app, env);
    char app_enc[256], env_enc[256];
    size_t blen = strlen(opts->mendix_api_url);
    while (blen > 0 && opts->mendix_api_url[blen - 1] == '/')
        blen--;
    int n = -1;
    if (ferry_http_uri_encode(opts->app, false, app_enc, sizeof(app_enc)) >= 0 &&
        ferry_http_uri_encode(env, false, env_enc, sizeof(env_enc)) >= 0)
        n = snprintf(m->base, sizeof(m->base), "%.*s/apps/%s/environments/%s", (int)blen,
                     opts->mendix_api_url, app_enc, env_enc);
    if (n < 0 || (size_t)n >= sizeof(m->base)) {
        mx_close(m);
        return ferry_err_set(err, FERRY_ERR_INVALID, "mendix app %s environment %s: name too long",
                             opts->app, env);
    }
    m->http = ferry_http_new();
    m->hdr_user = header_line("Mendix-Username", opts->mendix_user);
    m->hdr_key = header_line("Mendix-ApiKey", opts->mendix_api_key);
    if (m->http == NULL || m->hdr_user == NULL || m->hdr_key == NULL) {
        mx_close(m);
        return ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
    }
    m->headers[0] = m->hdr_user;
    m->headers[1] = m->hdr_key;
    m->headers[2] = "Content-Type: application/json";
    m->headers[3] = "Accept: application/json";
    m->headers[4] = NULL;
    *handle = m;
    return FERRY_OK;
}

static bool http_going_on(uint64_t down, uint64_t up, void *ud)
{
    (void)down;
    (void)up;
    return !app_stopping(ud);
}

static void copy_member(json_t *root, const char *name, char *out, size_t outsz)
{
    const char *v = json_string_value(json_object_get(root, name));
    app_text_clean(v, out, outsz);
}

/* One request to <base><suffix>; the reply parsed into *reply. Transport failures only. */
static ferry_rc mx_request(mx *m, const app_options *opts, const char *method, const char *suffix,
                           const char *body, mx_reply *reply, ferry_err *err)
{
    char url[URL_MAX + 256];
    int n = snprintf(url, sizeof(url), "%s%s", m->base, suffix);
    if (n < 0 || (size_t)n >= sizeof(url))
        return ferry_err_set(err, FERRY_ERR_INVALID, "%s: URL too long", m->where);
    memset(reply, 0, sizeof(*reply));
    ferry_http_request req = {.method = method,
                              .url = url,
                              .headers = m->headers,
                              .body = body,
                              .body_len = body != NULL ? strlen(body) : 0,
                              .progress_fn = http_going_on,
                              .progress_ud = (void *)opts,
                              .timeout_ms = REQUEST_TIMEOUT_MS};
    ferry_http_response resp = {0};
    ferry_rc rc = ferry_http_perform(m->http, &req, &resp, err);
    if (rc != FERRY_OK) {
        ferry_http_response_cleanup(&resp);
        if (rc == FERRY_ERR_CANCELLED)
            return ferry_err_set(err, FERRY_ERR_CANCELLED, "%s: stopped on request", m->where);
        return ferry_err_prefix(err, "%s", m->where);
    }
    reply->status = resp.status;
    json_t *root = resp.body != NULL ? json_loadb(resp.body, resp.body_len, 0, NULL) : NULL;
    if (json_is_object(root)) {
        copy_member(root, "errorCode", reply->error_code, sizeof(reply->error_code));
        copy_member(root, "errorMessage", reply->error_message, sizeof(reply->error_message));
        copy_member(root, "Status", reply->status_text, sizeof(reply->status_text));
        copy_member(root, "JobId", reply->job_id, sizeof(reply->job_id));
    } else if (resp.body != NULL) {
        app_text_clean(resp.body, reply->raw, sizeof(reply->raw));
    }
    json_decref(root);
    ferry_http_response_cleanup(&resp);
    return FERRY_OK;
}

/* The published error codes Ferry decides on; others go by the HTTP status. */
static ferry_rc errorcode_rc(const char *code, long status)
{
    static const struct {
        const char *code;
        ferry_rc rc;
    } table[] = {
        {"APP_NOT_FOUND", FERRY_ERR_NOT_FOUND},
        {"ENVIRONMENT_NOT_FOUND", FERRY_ERR_NOT_FOUND},
        {"NO_SUCH_STARTJOB", FERRY_ERR_NOT_FOUND},
        {"INVALID_APPID", FERRY_ERR_INVALID},
        {"INVALID_ENVIRONMENT", FERRY_ERR_INVALID},
        {"INVALID_PARAMETERS", FERRY_ERR_INVALID},
        {"APP_ALREADY_HAS_A_STARTING_JOB", FERRY_ERR_BUSY},
        {"ALREADY_LOCKED", FERRY_ERR_BUSY},
        /* the app cannot start as deployed: a person must look */
        {"NO_MDA_HAS_BEEN_DEPLOYED", FERRY_ERR_CONFLICT},
        {"NO_PACKAGE", FERRY_ERR_CONFLICT},
        {"DB_SYNC_FAILED", FERRY_ERR_CONFLICT},
        {"INVALID_DB_STRUCTURE", FERRY_ERR_CONFLICT},
        {"MISSING_CONSTANT", FERRY_ERR_CONFLICT},
        {"INSECURE_ADMIN_PASSWORD", FERRY_ERR_CONFLICT},
        {"STARTUP_ACTION_FAILED", FERRY_ERR_CONFLICT},
        {"START_FAILED", FERRY_ERR_CONFLICT},
    };
    /* Credentials first: whatever the body says, 401 and 403 are not worth a retry. */
    if (status == 401 || status == 403)
        return ferry_http_status_rc(status);
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (strcmp(table[i].code, code) == 0)
            return table[i].rc;
    ferry_rc rc = ferry_http_status_rc(status);
    return rc == FERRY_OK ? FERRY_ERR_PROTOCOL : rc; /* an errorCode with a 2xx status */
}

/* A reply that is an error: the right code, and a message naming app, environment, the call,
 * the status and the platform's own code and words. */
static ferry_rc mx_fail(const mx *m, const char *what, const mx_reply *r, ferry_err *err)
{
    ferry_rc rc = errorcode_rc(r->error_code, r->status);
    const char *hint = "";
    if (r->status == 401)
        hint = " (the Deploy API refused the user and API key)";
    else if (r->status == 403)
        hint = " (the user lacks API rights on this environment)";
    const char *words = r->error_message[0] != '\0' ? r->error_message : r->raw;
    return ferry_err_set(err, rc, "%s: %s: HTTP %ld%s%s%s%s%s", m->where, what, r->status,
                         r->error_code[0] != '\0' ? " " : "", r->error_code,
                         words[0] != '\0' ? ": " : "", words, hint);
}

static app_state state_of(const char *status)
{
    static const struct {
        const char *text;
        app_state state;
    } table[] = {
        {"Running", APP_STATE_RUNNING},    {"Stopped", APP_STATE_STOPPED},
        {"NotRunning", APP_STATE_STOPPED}, {"Starting", APP_STATE_STARTING},
        {"Stopping", APP_STATE_STOPPING},  {"Empty", APP_STATE_ABSENT},
        {"NotDeployed", APP_STATE_ABSENT},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (strcmp(table[i].text, status) == 0)
            return table[i].state;
    return APP_STATE_UNKNOWN;
}

/* GET the environment: its Status into the report. */
static ferry_rc env_status(mx *m, const app_options *opts, app_report *report, ferry_err *err)
{
    mx_reply r;
    ferry_rc rc = mx_request(m, opts, "GET", "", NULL, &r, err);
    if (rc != FERRY_OK)
        return rc;
    if (r.status != 200 || r.error_code[0] != '\0') {
        rc = mx_fail(m, "retrieve environment", &r, err);
        if (rc == FERRY_ERR_NOT_FOUND)
            report->state = APP_STATE_ABSENT;
        return rc;
    }
    if (r.status_text[0] == '\0')
        return ferry_err_set(err, FERRY_ERR_PROTOCOL, "%s: retrieve environment: no Status in %s",
                             m->where, r.raw[0] != '\0' ? r.raw : "the reply");
    report->state = state_of(r.status_text);
    (void)snprintf(report->detail, sizeof(report->detail), "%s", r.status_text);
    return FERRY_OK;
}

static ferry_rc mx_status(void *handle, const app_options *opts, app_report *report, ferry_err *err)
{
    return env_status(handle, opts, report, err);
}

static ferry_rc cancelled(const mx *m, const char *what, ferry_err *err)
{
    return ferry_err_set(err, FERRY_ERR_CANCELLED, "%s: %s stopped on request", m->where, what);
}

static ferry_rc mx_start(void *handle, const app_options *opts, int64_t deadline_ms,
                         app_report *report, ferry_err *err)
{
    mx *m = handle;
    mx_reply r;
    int64_t poll = opts->poll_ms > 0 ? opts->poll_ms : DEFAULT_POLL_MS;
    /* Until a start job of ours runs: another one under way (v1 does not say which) means
     * waiting for the environment to run, or for that job to end so ours can start. */
    for (;;) {
        ferry_rc rc = env_status(m, opts, report, err);
        if (rc != FERRY_OK)
            return rc;
        if (report->state == APP_STATE_RUNNING) {
            app_progress(opts, "%s is Running", m->where);
            return FERRY_OK;
        }
        app_progress(opts, "starting %s (%s)", m->where, report->detail);
        rc = mx_request(m, opts, "POST", "/start", "{\"AutoSyncDb\": true}", &r, err);
        if (rc != FERRY_OK)
            return rc;
        if (strcmp(r.error_code, "ALREADY_STARTED") == 0) { /* 200 or 500, by the docs' age */
            report->state = APP_STATE_RUNNING;
            (void)snprintf(report->detail, sizeof(report->detail), "Running");
            return FERRY_OK;
        }
        if (strcmp(r.error_code, "APP_ALREADY_HAS_A_STARTING_JOB") != 0)
            break;
        if (ferry_mono_ms() >= deadline_ms)
            return mx_fail(m, "start environment (still, after the step's timeout)", &r, err);
        app_progress(opts, "%s: another start job is under way; waiting", m->where);
        if (!app_sleep(opts, poll, deadline_ms) && app_stopping(opts))
            return cancelled(m, "start", err);
    }
    if (r.status < 200 || r.status > 299 || r.error_code[0] != '\0')
        return mx_fail(m, "start environment", &r, err);
    if (r.job_id[0] == '\0')
        return ferry_err_set(err, FERRY_ERR_PROTOCOL, "%s: start environment: no JobId in %s",
                             m->where, r.raw[0] != '\0' ? r.raw : "the reply");
    report->changed = true;
    report->state = APP_STATE_STARTING;
    char suffix[400], job_enc[128 * 3 + 1];
    if (ferry_http_uri_encode(r.job_id, false, job_enc, sizeof(job_enc)) < 0)
        return ferry_err_set(err, FERRY_ERR_PROTOCOL, "%s: JobId too long", m->where);
    (void)snprintf(suffix, sizeof(suffix), "/start/%s", job_enc);
    char job[128];
    (void)snprintf(job, sizeof(job), "%s", r.job_id);

    for (;;) {
        if (!app_sleep(opts, poll, deadline_ms) && app_stopping(opts))
            return cancelled(m, "start", err);
        ferry_rc rc = mx_request(m, opts, "GET", suffix, NULL, &r, err);
        if (rc != FERRY_OK)
            return rc;
        if (strcmp(r.error_code, "ALREADY_STARTED") == 0 ||
            (r.status == 200 && strcmp(r.status_text, "Started") == 0)) {
            report->state = APP_STATE_RUNNING;
            (void)snprintf(report->detail, sizeof(report->detail), "Started");
            app_progress(opts, "%s: start job %s Started", m->where, job);
            return FERRY_OK;
        }
        if (r.status != 200 || r.error_code[0] != '\0') {
            char what[200];
            (void)snprintf(what, sizeof(what), "start job %s failed", job);
            rc = mx_fail(m, what, &r, err);
            if (rc == FERRY_ERR_CONFLICT)
                report->state = APP_STATE_FAILED;
            return rc;
        }
        (void)snprintf(report->detail, sizeof(report->detail), "%s", r.status_text);
        if (ferry_mono_ms() >= deadline_ms)
            return ferry_err_set(err, FERRY_ERR_TIMEOUT,
                                 "%s: start job %s still %s after the step's timeout", m->where,
                                 job, r.status_text);
        app_progress(opts, "%s: start job %s %s", m->where, job, r.status_text);
    }
}

static ferry_rc mx_stop(void *handle, const app_options *opts, int64_t deadline_ms,
                        app_report *report, ferry_err *err)
{
    mx *m = handle;
    ferry_rc rc = env_status(m, opts, report, err);
    if (rc != FERRY_OK)
        return rc;
    if (report->state == APP_STATE_STOPPED || report->state == APP_STATE_ABSENT) {
        app_progress(opts, "%s is not running (%s)", m->where, report->detail);
        return FERRY_OK;
    }
    app_progress(opts, "stopping %s (%s)", m->where, report->detail);
    mx_reply r;
    rc = mx_request(m, opts, "POST", "/stop", NULL, &r, err);
    if (rc != FERRY_OK)
        return rc;
    if (r.status < 200 || r.status > 299 || r.error_code[0] != '\0')
        return mx_fail(m, "stop environment", &r, err);
    report->changed = true;
    int64_t poll = opts->poll_ms > 0 ? opts->poll_ms : DEFAULT_POLL_MS;
    for (;;) {
        rc = env_status(m, opts, report, err);
        if (rc != FERRY_OK)
            return rc;
        if (report->state == APP_STATE_STOPPED || report->state == APP_STATE_ABSENT) {
            app_progress(opts, "%s is %s", m->where, report->detail);
            return FERRY_OK;
        }
        if (ferry_mono_ms() >= deadline_ms)
            return ferry_err_set(err, FERRY_ERR_TIMEOUT, "%s: still %s after the step's timeout",
                                 m->where, report->detail);
        if (!app_sleep(opts, poll, deadline_ms) && app_stopping(opts))
            return cancelled(m, "stop", err);
    }
}

const app_driver app_driver_mendix = {
    .name = "mendix",
    .open = mx_open,
    .close = mx_close,
    .start = mx_start,
    .stop = mx_stop,
    .status = mx_status,
};
