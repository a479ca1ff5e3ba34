/*
 * mendix_standin.c - ferry-mendix-standin: a small stand-in for the Mendix Deploy API v1, as its
 * published documentation (docs.mendix.com, "Deploy API – Version 1") describes the calls
 * ferry-app makes, for the tests. docs/app.md lists what it follows and what it does not.
 *
 *     ferry-mendix-standin [--port N] [--user U] [--key K] [--app ID:MODE=STATUS[,MODE=STATUS]]
 *                          [--start-ms N] [--slow-start-ms N] [--fail-start] [--no-access ID]
 *
 *   GET  /api/1/apps/<AppId>/environments/<Mode>              {"Status": "Running", ...}
 *   POST /api/1/apps/<AppId>/environments/<Mode>/start        {"JobId": "..."}
 *   GET  /api/1/apps/<AppId>/environments/<Mode>/start/<Job>  {"Status": "Starting|Started"}
 *   POST /api/1/apps/<AppId>/environments/<Mode>/stop
 *
 * Errors are {"errorCode": "...", "errorMessage": "..."} with the documented status. Requests
 * need Mendix-Username and Mendix-ApiKey equal to --user and --key (else 401). State lives in
 * memory. Listens on 127.0.0.1; --port 0 (the default) picks a port and prints "port=N" on
 * stdout. Each request is printed on stderr, without the key. Runs until SIGTERM or SIGINT.
 */
#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#define MAX_ENVS  32
#define MAX_JOBS  64
#define NAME_MAX_ 64
#define BODY_MAX  4096

typedef struct env {
    char app[NAME_MAX_];
    char mode[NAME_MAX_];
    char status[16]; /* Running, Stopped, NotDeployed */
    bool no_access;
    int id;
} env;

typedef struct job {
    char id[40];
    int env;
    int64_t started_ms;
    bool done, failed;
} job;

static struct {
    pthread_mutex_t lock;
    const char *user, *key;
    int64_t start_ms;
    bool fail_start;
    env envs[MAX_ENVS];
    size_t n_envs;
    job jobs[MAX_JOBS];
    size_t n_jobs;
    unsigned next_job;
} S = {.lock = PTHREAD_MUTEX_INITIALIZER, .start_ms = 300};

typedef struct req {
    size_t len;
    bool too_large;
    char body[BODY_MAX + 1];
} req;

typedef struct answer {
    unsigned status;
    json_t *json; /* owned */
} answer;

static int64_t mono_ms(void)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static answer error_answer(unsigned status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static answer error_answer(unsigned status, const char *code, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return (answer){status, json_pack("{s:s, s:s}", "errorCode", code, "errorMessage", msg)};
}

static bool mode_valid(const char *mode)
{
    if (mode[0] == '\0' || strlen(mode) >= NAME_MAX_)
        return false;
    for (const char *p = mode; *p != '\0'; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_'))
            return false;
    return true;
}

static env *env_find(const char *app, const char *mode, answer *fail)
{
    bool app_known = false;
    for (size_t i = 0; i < S.n_envs; i++) {
        if (strcmp(S.envs[i].app, app) != 0)
            continue;
        app_known = true;
        if (strcasecmp(S.envs[i].mode, mode) == 0)
            return &S.envs[i];
    }
    if (!app_known)
        *fail = error_answer(404, "APP_NOT_FOUND", "App not found");
    else if (!mode_valid(mode))
        *fail = error_answer(400, "INVALID_ENVIRONMENT",
                             "Could not parse environment mode '%s'. Valid options are Test, "
                             "Acceptance, Production or the name of a flexible environment.",
                             mode);
    else
        *fail = error_answer(404, "ENVIRONMENT_NOT_FOUND", "Environment not found.");
    return NULL;
}

static json_t *env_json(const env *e)
{
    char id[64], url[160];
    (void)snprintf(id, sizeof(id), "00000000-0000-4000-8000-%012d", e->id);
    (void)snprintf(url, sizeof(url), "https://%s-%s.mendixcloud.example", e->app, e->mode);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b}", "Status", e->status, "EnvironmentId",
                     id, "Mode", e->mode, "Url", url, "ModelVersion", "1.0.0.1", "MendixVersion",
                     "9.24.0", "Production", strcmp(e->mode, "Production") == 0);
}

/* Start jobs run whether or not anyone asks: each one past --start-ms ends now, its
 * environment Running (or, with --fail-start, still Stopped). */
static void jobs_advance(void)
{
    int64_t now = mono_ms();
    for (size_t i = 0; i < S.n_jobs; i++) {
        job *j = &S.jobs[i];
        if (j->done || now - j->started_ms < S.start_ms)
            continue;
        j->done = true;
        j->failed = S.fail_start;
        if (!j->failed)
            (void)snprintf(S.envs[j->env].status, sizeof(S.envs[j->env].status), "Running");
    }
}

static answer job_status(const job *j)
{
    if (!j->done)
        return (answer){200, json_pack("{s:s}", "Status", "Starting")};
    if (j->failed)
        return error_answer(500, "START_FAILED",
                            "Cannot start app: startup failed (injected by --fail-start)");
    return (answer){200, json_pack("{s:s}", "Status", "Started")};
}

static answer start(env *e, const req *rq)
{
    if (rq->len > 0) { /* {"AutoSyncDb": true}: a JSON object with a boolean, when given */
        json_t *body = json_loadb(rq->body, rq->len, 0, NULL);
        json_t *sync = json_object_get(body, "AutoSyncDb");
        bool ok = json_is_object(body) && (sync == NULL || json_is_boolean(sync));
        json_decref(body);
        if (!ok)
            return error_answer(400, "INVALID_PARAMETERS", "Could not parse the request body.");
    }
    if (strcmp(e->status, "NotDeployed") == 0)
        return error_answer(500, "NO_MDA_HAS_BEEN_DEPLOYED",
                            "Cannot start app. There is no MDA deployed.");
    if (strcmp(e->status, "Running") == 0)
        return error_answer(200, "ALREADY_STARTED", "Cannot start app. App is already running.");
    for (size_t i = 0; i < S.n_jobs; i++)
        if (S.jobs[i].env == e->id && !S.jobs[i].done)
            return error_answer(500, "APP_ALREADY_HAS_A_STARTING_JOB",
                                "Cannot start app. There is already a starting job id found.");
    if (S.n_jobs == MAX_JOBS)
        return error_answer(500, "START_FAILED", "Cannot start app: stand-in job table full");
    job *j = &S.jobs[S.n_jobs++];
    (void)snprintf(j->id, sizeof(j->id), "02df2e50-0e79-11e4-9191-%012u", ++S.next_job);
    j->env = e->id;
    j->started_ms = mono_ms();
    j->done = j->failed = false;
    return (answer){200, json_pack("{s:s}", "JobId", j->id)};
}

static answer route(struct MHD_Connection *conn, const char *method, const char *url, const req *rq)
{
    const char *user = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Mendix-Username");
    const char *key = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Mendix-ApiKey");
    if (user == NULL || key == NULL || strcmp(user, S.user) != 0 || strcmp(key, S.key) != 0)
        return error_answer(401, "UNAUTHORIZED",
                            "Invalid Mendix-Username or Mendix-ApiKey header.");

    jobs_advance();
    /* /api/1/apps/<app>/environments/<mode>[/start[/<job>] | /stop] */
    static const char prefix[] = "/api/1/apps/";
    if (strncmp(url, prefix, sizeof(prefix) - 1) != 0)
        return error_answer(404, "NOT_FOUND", "No such resource: %s", url);
    char copy[512];
    if (snprintf(copy, sizeof(copy), "%s", url + sizeof(prefix) - 1) >= (int)sizeof(copy))
        return error_answer(400, "INVALID_PARAMETERS", "URL too long");
    char *seg[6] = {0};
    size_t n = 0;
    for (char *p = copy, *slash; p != NULL && n < 6; p = slash) {
        slash = strchr(p, '/');
        if (slash != NULL)
            *slash++ = '\0';
        seg[n++] = p;
    }
    if (n < 3 || strcmp(seg[1], "environments") != 0 || seg[0][0] == '\0')
        return error_answer(404, "NOT_FOUND", "No such resource: %s", url);
    if (!mode_valid(seg[0]))
        return error_answer(400, "INVALID_APPID", "Invalid AppId");
    answer fail = {0};
    env *e = env_find(seg[0], seg[2], &fail);
    if (e == NULL)
        return fail;
    if (e->no_access)
        return error_answer(403, "NO_ACCESS", "You do not have access");
    bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    if (n == 3 && get)
        return (answer){200, env_json(e)};
    if (n == 4 && post && strcmp(seg[3], "start") == 0)
        return start(e, rq);
    if (n == 5 && get && strcmp(seg[3], "start") == 0) {
        for (size_t i = 0; i < S.n_jobs; i++)
            if (S.jobs[i].env == e->id && strcmp(S.jobs[i].id, seg[4]) == 0)
                return job_status(&S.jobs[i]);
        return error_answer(404, "NO_SUCH_STARTJOB", "Job not found.");
    }
    if (n == 4 && post && strcmp(seg[3], "stop") == 0) {
        if (strcmp(e->status, "Running") == 0)
            (void)snprintf(e->status, sizeof(e->status), "Stopped");
        return (answer){200, json_object()};
    }
    return error_answer(405, "METHOD_NOT_ALLOWED", "%s %s is not part of the stand-in", method,
                        url);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
    (void)cls;
    (void)version;
    req *rq = *con_cls;
    if (rq == NULL) {
        rq = calloc(1, sizeof(*rq));
        if (rq == NULL)
            return MHD_NO;
        *con_cls = rq;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t add = *upload_data_size;
        if (rq->len + add <= BODY_MAX) {
            memcpy(rq->body + rq->len, upload_data, add);
            rq->len += add;
            rq->body[rq->len] = '\0';
        } else {
            rq->too_large = true;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    (void)pthread_mutex_lock(&S.lock);
    answer ans = rq->too_large ? error_answer(400, "INVALID_PARAMETERS", "Body too large")
                               : route(conn, method, url, rq);
    (void)pthread_mutex_unlock(&S.lock);
    char *text = ans.json != NULL ? json_dumps(ans.json, JSON_COMPACT) : NULL;
    json_decref(ans.json);
    if (text == NULL)
        return MHD_NO;
    (void)fprintf(stderr, "mendix-standin: %s %s -> %u %s\n", method, url, ans.status, text);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(text);
        return MHD_NO;
    }
    (void)MHD_add_response_header(resp, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(conn, ans.status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    free(*con_cls);
    *con_cls = NULL;
}

/* --app ID:MODE=STATUS[,MODE=STATUS...] */
static int add_app(const char *spec)
{
    char copy[512];
    if (snprintf(copy, sizeof(copy), "%s", spec) >= (int)sizeof(copy))
        return -1;
    char *colon = strchr(copy, ':');
    if (colon == NULL)
        return -1;
    *colon = '\0';
    for (char *p = colon + 1, *comma; p != NULL; p = comma) {
        comma = strchr(p, ',');
        if (comma != NULL)
            *comma++ = '\0';
        char *eq = strchr(p, '=');
        if (eq == NULL || S.n_envs == MAX_ENVS)
            return -1;
        *eq = '\0';
        const char *st = eq + 1;
        if (strcmp(st, "Running") != 0 && strcmp(st, "Stopped") != 0 &&
            strcmp(st, "NotDeployed") != 0)
            return -1;
        env *e = &S.envs[S.n_envs];
        if (!mode_valid(copy) || !mode_valid(p))
            return -1;
        (void)snprintf(e->app, sizeof(e->app), "%.*s", (int)sizeof(e->app) - 1, copy);
        (void)snprintf(e->mode, sizeof(e->mode), "%.*s", (int)sizeof(e->mode) - 1, p);
        (void)snprintf(e->status, sizeof(e->status), "%s", st);
        e->id = (int)S.n_envs++;
    }
    return 0;
}

static int usage(void)
{
    (void)fprintf(
        stderr, "usage: ferry-mendix-standin [--port N] [--user U] [--key K]\n"
                "           [--app ID:MODE=Running|Stopped|NotDeployed[,...]]...\n"
                "           [--start-ms N | --slow-start-ms N] [--fail-start] [--no-access ID]\n");
    return 2;
}

static bool parse_long(const char *text, long lo, long hi, long *out)
{
    char *end = NULL;
    long v = strtol(text, &end, 10);
    if (end == text || *end != '\0' || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

int main(int argc, char **argv)
{
    long port = 0, ms = 0;
    S.user = "ferry@example.com";
    S.key = "standin-key-0000";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--fail-start") == 0) {
            S.fail_start = true;
            continue;
        }
        if (v == NULL)
            return usage();
        i++;
        if (strcmp(a, "--port") == 0) {
            if (!parse_long(v, 0, 65535, &port))
                return usage();
        } else if (strcmp(a, "--user") == 0) {
            S.user = v;
        } else if (strcmp(a, "--key") == 0) {
            S.key = v;
        } else if (strcmp(a, "--app") == 0) {
            if (add_app(v) != 0)
                return usage();
        } else if (strcmp(a, "--start-ms") == 0 || strcmp(a, "--slow-start-ms") == 0) {
            if (!parse_long(v, 0, 3600000, &ms))
                return usage();
            S.start_ms = ms;
        } else if (strcmp(a, "--no-access") == 0) {
            bool found = false;
            for (size_t k = 0; k < S.n_envs; k++)
                if (strcmp(S.envs[k].app, v) == 0)
                    S.envs[k].no_access = found = true;
            if (!found)
                return usage();
        } else {
            return usage();
        }
    }
    if (S.n_envs == 0 && add_app("calc:Production=Stopped,Acceptance=Stopped,Test=NotDeployed"))
        return 1;

    /* Signals are taken by sigwait below, never by a handler. */
    sigset_t set;
    (void)sigemptyset(&set);
    (void)sigaddset(&set, SIGTERM);
    (void)sigaddset(&set, SIGINT);
    (void)pthread_sigmask(SIG_BLOCK, &set, NULL);

    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0, NULL, NULL, handle, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END);
    if (d == NULL) {
        (void)fprintf(stderr, "mendix-standin: cannot listen on 127.0.0.1:%ld\n", port);
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    (void)printf("port=%u\n", info != NULL ? (unsigned)info->port : (unsigned)port);
    (void)fflush(stdout);
    int sig = 0;
    (void)sigwait(&set, &sig);
    MHD_stop_daemon(d);
    return 0;
}
