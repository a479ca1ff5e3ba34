/*
 * Integration test of ferry-app (workers/app): the supervisord driver against the local stack's
 * supervisord with programs of its own (an HTTP server, a program that exits at once), the
 * health check, and the Mendix driver against ferry-mendix-standin (tests/support/
 * mendix_standin.c), a stand-in for the Mendix Deploy API v1. Also the ferry-app command line,
 * and that no message or output holds the Mendix API key.
 * Needs FERRY_SUPERVISOR_URL, _USER, _PASSWORD and FERRY_STACK_DIR (deploy/local/stack env).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "app.h"
#include "ferry/clock.h"
#include "ferry/config.h"
#include "ferry/xmlrpc.h"
#include "ferry_test.h"

extern char **environ;

#define MX_USER   "ferry-test@example.com"
#define MX_SECRET "APPTEST_MX"
#define POLL_MS   100

static struct {
    /* supervisor */
    const char *url, *user, *password;
    ferry_xmlrpc *rpc;
    char conf[512];
    char web[64], crash[64]; /* our programs */
    int web_port;
    /* mendix */
    char key[64]; /* the API key the stand-in accepts */
    char *resolved_key;
    pid_t standin, standin_fail;
    char api[128], api_fail[128];
    char standin_log[256];
} T;

/* A TCP port nothing listens on right now. */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(sa);
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    if (fd >= 0)
        (void)close(fd);
    return port;
}

static bool never_stop(void *ud)
{
    (void)ud;
    return false;
}

/* Stops once the monotonic clock passes *(int64_t *)ud. */
static bool stop_after(void *ud)
{
    return ferry_mono_ms() >= *(const int64_t *)ud;
}

/* ---- supervisor ---------------------------------------------------------------------------- */

static ferry_rc sup_call(const char *method, const char *name, int wait, ferry_xmlrpc_fault *f)
{
    ferry_xmlrpc_param params[2];
    size_t n = 0;
    if (name != NULL)
        params[n++] = FERRY_XMLRPC_P_STR(name);
    if (wait >= 0)
        params[n++] = FERRY_XMLRPC_P_BOOL(wait != 0);
    ferry_xmlrpc_value *v = NULL;
    ferry_err err = {0};
    ferry_rc rc = ferry_xmlrpc_call(T.rpc, method, params, n, &v, f, &err);
    if (rc != FERRY_OK && f == NULL)
        fprintf(stderr, "%s(%s): %s\n", method, name != NULL ? name : "", err.msg);
    ferry_xmlrpc_value_free(v);
    return rc;
}

/* supervisord's statename for a program ("" when it cannot say). */
static void sup_statename(const char *name, char *out, size_t outsz)
{
    ferry_xmlrpc_param p = FERRY_XMLRPC_P_STR(name);
    ferry_xmlrpc_value *v = NULL;
    ferry_err err = {0};
    out[0] = '\0';
    if (ferry_xmlrpc_call(T.rpc, "supervisor.getProcessInfo", &p, 1, &v, NULL, &err) == FERRY_OK) {
        const char *sn = ferry_xmlrpc_string(ferry_xmlrpc_member(v, "statename"));
        (void)snprintf(out, outsz, "%s", sn != NULL ? sn : "");
    }
    ferry_xmlrpc_value_free(v);
}

static app_options sup_opts(const char *program)
{
    return (app_options){.platform = "supervisor",
                         .app = program,
                         .supervisor_url = T.url,
                         .supervisor_user = T.user,
                         .supervisor_password = T.password,
                         .timeout_ms = 30000,
                         .poll_ms = POLL_MS,
                         .stop = {.stopping = never_stop}};
}

static int sup_setup(void)
{
    const ferry_cfg *cfg = ferry_test_cfg();
    const char *stack = getenv("FERRY_STACK_DIR");
    if (cfg == NULL)
        return 1;
    T.url = ferry_cfg_str(cfg, "supervisor.url");
    T.user = ferry_cfg_str(cfg, "supervisor.user");
    T.password = ferry_cfg_str(cfg, "supervisor.password");
    ferry_xmlrpc_opts xo = {.url = T.url, .user = T.user, .password = T.password};
    T.rpc = ferry_xmlrpc_new(&xo);
    if (T.rpc == NULL)
        return 1;
    (void)snprintf(T.web, sizeof(T.web), "app-test-%d-web", (int)getpid());
    (void)snprintf(T.crash, sizeof(T.crash), "app-test-%d-crash", (int)getpid());
    (void)snprintf(T.conf, sizeof(T.conf), "%s/supervisor/conf.d/app-test-%d.conf",
                   stack != NULL ? stack : "/tmp/ferry-stack", (int)getpid());
    T.web_port = free_port();
    FILE *f = fopen(T.conf, "w");
    if (f == NULL || T.web_port <= 0) {
        fprintf(stderr, "cannot write %s: %s\n", T.conf, strerror(errno));
        if (f != NULL)
            (void)fclose(f);
        return 1;
    }
    /* The web program serves /tmp's listing; the crash one writes to stderr and exits. */
    fprintf(f,
            "[program:%s]\ncommand=python3 -m http.server %d --bind 127.0.0.1\ndirectory=/tmp\n"
            "autostart=false\nautorestart=false\nstartsecs=1\nstopwaitsecs=5\n"
            "stopasgroup=true\nkillasgroup=true\n\n"
            "[program:%s]\ncommand=/bin/sh -c \"echo cannot open /etc/app-test.conf >&2; "
            "exit 3\"\nautostart=false\nautorestart=false\nstartsecs=1\nstartretries=1\n",
            T.web, T.web_port, T.crash);
    if (fclose(f) != 0)
        return 1;
    if (sup_call("supervisor.reloadConfig", NULL, -1, NULL) != FERRY_OK ||
        sup_call("supervisor.addProcessGroup", T.web, -1, NULL) != FERRY_OK ||
        sup_call("supervisor.addProcessGroup", T.crash, -1, NULL) != FERRY_OK)
        return 1;
    return 0;
}

static int sup_teardown(void)
{
    if (T.rpc != NULL) { /* take our programs out again, whatever happened */
        ferry_xmlrpc_fault f;
        (void)sup_call("supervisor.stopProcess", T.web, 1, &f);
        (void)sup_call("supervisor.stopProcess", T.crash, 1, &f);
        (void)sup_call("supervisor.removeProcessGroup", T.web, -1, &f);
        (void)sup_call("supervisor.removeProcessGroup", T.crash, -1, &f);
    }
    if (T.conf[0] != '\0')
        (void)unlink(T.conf);
    if (T.rpc != NULL)
        (void)sup_call("supervisor.reloadConfig", NULL, -1, NULL);
    ferry_xmlrpc_free(T.rpc);
    T.rpc = NULL;
    return 0;
}

static void sup_start_with_health(void)
{
    char url[128], sn[32];
    (void)snprintf(url, sizeof(url), "http://127.0.0.1:%d/", T.web_port);
    app_options o = sup_opts(T.web);
    o.health_url = url;
    o.health_contains = "Directory listing";
    app_report r;
    ferry_err err = {0};
    ferry_rc rc = app_run(APP_OP_START, &o, &r, &err);
    if (rc != FERRY_OK)
        fprintf(stderr, "start: %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, FERRY_OK);
    CU_ASSERT_EQUAL(r.state, APP_STATE_RUNNING);
    CU_ASSERT_STRING_EQUAL(r.detail, "RUNNING");
    CU_ASSERT_TRUE(r.changed);
    CU_ASSERT_TRUE(r.platform_ms >= 900); /* startsecs=1: supervisord waits it out */
    CU_ASSERT_TRUE(r.health_ms >= 0);
    CU_ASSERT_EQUAL(r.health_status, 200);
    sup_statename(T.web, sn, sizeof(sn));
    CU_ASSERT_STRING_EQUAL(sn, "RUNNING");
    fprintf(stderr, "supervisor start: platform %lld ms, healthy after %lld ms\n",
            (long long)r.platform_ms, (long long)r.health_ms);

    /* Again: already running, success at once. */
    rc = app_run(APP_OP_START, &o, &r, &err);
    CU_ASSERT_EQUAL(rc, FERRY_OK);
    CU_ASSERT_FALSE(r.changed);
    CU_ASSERT_EQUAL(r.state, APP_STATE_RUNNING);
    CU_ASSERT_TRUE(r.platform_ms < 500);

    rc = app_run(APP_OP_STATUS, &o, &r, &err);
    CU_ASSERT_EQUAL(rc, FERRY_OK);
    CU_ASSERT_EQUAL(r.state, APP_STATE_RUNNING);
}

static void sup_health_wrong_status(void)
{
    char url[128];
    (void)snprintf(url, sizeof(url), "http://127.0.0.1:%d/no-such-page", T.web_port);
    app_options o = sup_opts(T.web);
    o.health_url = url;
    o.timeout_ms = 1500;
    app_report r;
    ferry_err err = {0};
    int64_t t0 = ferry_mono_ms();
    CU_ASSERT_EQUAL(app_run(APP_OP_START, &o, &r, &err), FERRY_ERR_TIMEOUT);
    int64_t took = ferry_mono_ms() - t0;
    fprintf(stderr, "supervisor health 404 (%lld ms): %s\n", (long long)took, err.msg);
    CU_ASSERT_TRUE(took >= 1400 && took < 4000);
    CU_ASSERT_EQUAL(r.health_status, 404);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "did not come up"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, T.web));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, url));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "answered 404 (expected 2xx)"));

    /* The status asked for, and a text the body does not hold. */
    (void)snprintf(url, sizeof(url), "http://127.0.0.1:%d/", T.web_port);
    o.health_status = 200;
    o.health_contains = "no such text anywhere";
    CU_ASSERT_EQUAL(app_run(APP_OP_START, &o, &r, &err), FERRY_ERR_TIMEOUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "(expected 200 holding \"no such text anywhere\")"));
}

static void sup_health_no_answer(void)
{
    char url[128];
    (void)snprintf(url, sizeof(url), "http://127.0.0.1:%d/health?token=s3cr3t-t0ken", free_port());
    app_options o = sup_opts(T.web);
    o.health_url = url;
    o.timeout_ms = 2000;
    app_report r;
    ferry_err err = {0};
    int64_t t0 = ferry_mono_ms();
    CU_ASSERT_EQUAL(app_run(APP_OP_START, &o, &r, &err), FERRY_ERR_TIMEOUT);
    int64_t took = ferry_mono_ms() - t0;
    fprintf(stderr, "supervisor health no answer (%lld ms): %s\n", (long long)took, err.msg);
    CU_ASSERT_TRUE(took >= 1900 && took < 5000);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "did not come up"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "gave no answer"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "for 2 s"));
    CU_ASSERT_PTR_NULL(strstr(err.msg, "s3cr3t-t0ken")); /* the URL is redacted */
    CU_ASSERT_EQUAL(r.health_status, 0);

    /* Stopping the step ends the wait promptly. */
    int64_t stop_at = ferry_mono_ms() + 600;
    o.timeout_ms = 30000;
    o.stop = (app_stop){.stopping = stop_after, .ud = &stop_at};
    t0 = ferry_mono_ms();
    CU_ASSERT_EQUAL(app_run(APP_OP_START, &o, &r, &err), FERRY_ERR_CANCELLED);
    took = ferry_mono_ms() - t0;
    CU_ASSERT_TRUE(took < 1500);
    fprintf(stderr, "supervisor health cancelled after %lld ms: %s\n", (long long)took, err.msg);
}

static void sup_stop_twice(void)
{
    app_options o = sup_opts(T.web);
    app_report r;
    ferry_err err = {0};
    char sn[32];
    ferry_rc rc = app_run(APP_OP_STOP, &o, &r, &err);
    if (rc != FERRY_OK)
        fprintf(stderr, "stop: %s\n", err.msg);
    CU_ASSERT_EQUAL(rc, FERRY_OK);
    CU_ASSERT_TRUE(r.changed);
    CU_ASSERT_EQUAL(r.state, APP_STATE_STOPPED);
    sup_statename(T.web, sn, sizeof(sn));
    CU_ASSERT_STRING_EQUAL(sn, "STOPPED");

    rc = app_run(APP_OP_STOP, &o, &r, &err);
    CU_ASSERT_EQUAL(rc, FERRY_OK);
    CU_ASSERT_FALSE(r.changed);
    CU_ASSERT_EQUAL(r.state, APP_STATE_STOPPED);

    CU_ASSERT_EQUAL(app_run(APP_OP_STATUS, &o, &r, &err), FERRY_OK);
    CU_ASSERT_EQUAL(r.state, APP_STATE_STOPPED);
}

static void sup_crash_fails_clearly(void)
{
    app_options o = sup_opts(T.crash);
    app_report r;
    ferry_err err = {0};
    CU_ASSERT_EQUAL(app_run(APP_OP_START, &o, &r, &err), FERRY_ERR_CONFLICT);
    fprintf(stderr, "supervisor crash: %s\n", err.msg);
    CU_ASSERT_FALSE(ferry_rc_retryable(FERRY_ERR_CONFLICT));
    CU_ASSERT_EQUAL(r.state, APP_STATE_FAILED);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, T.crash));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "did not start: FATAL"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "cannot open /etc/app-test.conf")); /* stderr tail */

    /* Stopping a program that gave up is the desired state already. */
    CU_ASSERT_EQUAL(app_run(APP_OP_STOP, &o, &r, &err), FERRY_OK);
    CU_ASSERT_FALSE(r.changed);
}

static void sup_unknown_program(void)
{
    char name[96];
    (void)snprintf(name, sizeof(name), "app-test-%d-no-such-program", (int)getpid());
    app_options o = sup_opts(name);
    app_report r;
    ferry_err err = {0};
    CU_ASSERT_EQUAL(app_run(APP_OP_START, &o, &r, &err), FERRY_ERR_NOT_FOUND);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, name));
    fprintf(stderr, "supervisor unknown: %s\n", err.msg);
    CU_ASSERT_EQUAL(app_run(APP_OP_STOP, &o, &r, &err), FERRY_ERR_NOT_FOUND);
    CU_ASSERT_EQUAL(app_run(APP_OP_STATUS, &o, &r, &err), FERRY_ERR_NOT_FOUND);
    CU_ASSERT_EQUAL(r.state, APP_STATE_ABSENT);
}

static void sup_settings_and_auth(void)
{
    app_options o = sup_opts(T.web);
    app_report r;
    ferry_err err = {0};
    o.supervisor_url = NULL;
    CU_ASSERT_EQUAL(app_run(APP_OP_STATUS, &o, &r, &err), FERRY_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "FERRY_SUPERVISOR_URL"));

    static const char wrong[] = "app-test-wrong-password";
    o = sup_opts(T.web);
    o.supervisor_password = wrong;
    CU_ASSERT_EQUAL(app_run(APP_OP_START, &o, &r, &err), FERRY_ERR_AUTH);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, T.web));
    CU_ASSERT_PTR_NULL(strstr(err.msg, wrong));
    CU_ASSERT_PTR_NULL(strstr(err.msg, T.password));

    o = sup_opts(T.web);
    o.platform = "kubernetes";
    CU_ASSERT_EQUAL(app_run(APP_OP_START, &o, &r, &err), FERRY_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "kubernetes"));
}

/* ---- mendix -------------------------------------------------------------------------------- */

/* Starts the stand-in with args; returns its pid and the API base URL, or -1. */
static pid_t standin_start(const char *const *extra, char *api, size_t apisz)
{
    const char *argv[16] = {FERRY_MENDIX_STANDIN_BIN,
                            "--user",
                            MX_USER,
                            "--key",
                            T.key,
                            "--start-ms",
                            "400",
                            "--app",
                            "calc:Production=Stopped,Acceptance=Running,Test=NotDeployed",
                            "--app",
                            "locked:Production=Stopped",
                            "--no-access",
                            "locked"};
    size_t n = 13;
    for (; extra != NULL && *extra != NULL && n < 15; extra++)
        argv[n++] = *extra;
    argv[n] = NULL;
    int out[2];
    if (pipe(out) != 0)
        return -1;
    posix_spawn_file_actions_t fa;
    pid_t pid = -1;
    if (posix_spawn_file_actions_init(&fa) != 0)
        return -1;
    if (posix_spawn_file_actions_adddup2(&fa, out[1], 1) == 0 &&
        posix_spawn_file_actions_addclose(&fa, out[0]) == 0 &&
        posix_spawn_file_actions_addopen(&fa, 2, T.standin_log, O_WRONLY | O_CREAT | O_APPEND,
                                         0644) == 0 &&
        posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, environ) != 0)
        pid = -1;
    (void)posix_spawn_file_actions_destroy(&fa);
    (void)close(out[1]);
    FILE *f = fdopen(out[0], "r");
    char line[64] = "";
    int port = 0;
    if (f != NULL && fgets(line, sizeof(line), f) != NULL)
        (void)sscanf(line, "port=%d", &port);
    if (f != NULL)
        (void)fclose(f);
    else
        (void)close(out[0]);
    if (pid > 0 && port <= 0) {
        (void)kill(pid, SIGTERM);
        (void)waitpid(pid, NULL, 0);
        return -1;
    }
    (void)snprintf(api, apisz, "http://127.0.0.1:%d/api/1", port);
    return pid;
}

static void standin_stop(pid_t *pid)
{
    if (*pid <= 0)
        return;
    (void)kill(*pid, SIGTERM);
    (void)waitpid(*pid, NULL, 0);
    *pid = -1;
}

static int mx_setup(void)
{
    (void)snprintf(T.key, sizeof(T.key), "mx-key-%d-7f3a9c2e51", (int)getpid());
    (void)snprintf(T.standin_log, sizeof(T.standin_log), "/tmp/app-test-%d-standin.log",
                   (int)getpid());
    /* The key reaches the driver the way the worker gets it: FERRY_SECRET_<NAME>. */
    if (setenv("FERRY_SECRET_" MX_SECRET, T.key, 1) != 0)
        return 1;
    ferry_err err = {0};
    if (ferry_secret_get(MX_SECRET, &T.resolved_key, &err) != FERRY_OK)
        return 1;
    static const char *const fail[] = {"--fail-start", NULL};
    T.standin = standin_start(NULL, T.api, sizeof(T.api));
    T.standin_fail = standin_start(fail, T.api_fail, sizeof(T.api_fail));
    return T.standin <= 0 || T.standin_fail <= 0;
}

static int mx_teardown(void)
{
    standin_stop(&T.standin);
    standin_stop(&T.standin_fail);
    free(T.resolved_key);
    T.resolved_key = NULL;
    (void)unlink(T.standin_log);
    return 0;
}

static app_options mx_opts(const char *app, const char *environment)
{
    return (app_options){.platform = "mendix",
                         .app = app,
                         .environment = environment,
                         .mendix_api_url = T.api,
                         .mendix_user = MX_USER,
                         .mendix_api_key = T.resolved_key,
                         .timeout_ms = 20000,
                         .poll_ms = POLL_MS,
                         .stop = {.stopping = never_stop}};
}

/* Every message must leave the key out. */
static void no_key(const char *text)
{
    CU_ASSERT_PTR_NULL(strstr(text, T.key));
}

static void mx_start_status_stop(void)
{
    app_options o = mx_opts("calc", "Production");
    app_report r;
    ferry_err err = {0};
    CU_ASSERT_EQUAL_FATAL(app_run(APP_OP_STATUS, &o, &r, &err), FERRY_OK);
    CU_ASSERT_EQUAL(r.state, APP_STATE_STOPPED);
    CU_ASSERT_STRING_EQUAL(r.detail, "Stopped");

    /* Health: the stand-in answers a request without headers 401; ask for exactly that. */
    char health[192];
    (void)snprintf(health, sizeof(health), "%s/apps/calc/environments/Production", T.api);
    o.health_url = health;
    o.health_status = 401;
    o.health_contains = "UNAUTHORIZED";
    ferry_rc rc = app_run(APP_OP_START, &o, &r, &err);
    if (rc != FERRY_OK)
        fprintf(stderr, "mendix start: %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, FERRY_OK);
    CU_ASSERT_EQUAL(r.state, APP_STATE_RUNNING);
    CU_ASSERT_STRING_EQUAL(r.detail, "Started");
    CU_ASSERT_TRUE(r.changed);
    CU_ASSERT_TRUE(r.platform_ms >= 400); /* the job said Starting for 400 ms */
    CU_ASSERT_EQUAL(r.health_status, 401);
    CU_ASSERT_TRUE(r.health_ms >= 0);
    fprintf(stderr, "mendix start: platform %lld ms\n", (long long)r.platform_ms);

    o.health_url = NULL;
    CU_ASSERT_EQUAL(app_run(APP_OP_STATUS, &o, &r, &err), FERRY_OK);
    CU_ASSERT_EQUAL(r.state, APP_STATE_RUNNING);
    CU_ASSERT_EQUAL(app_run(APP_OP_START, &o, &r, &err), FERRY_OK);
    CU_ASSERT_FALSE(r.changed);
    CU_ASSERT_TRUE(r.platform_ms < 300);

    CU_ASSERT_EQUAL(app_run(APP_OP_STOP, &o, &r, &err), FERRY_OK);
    CU_ASSERT_TRUE(r.changed);
    CU_ASSERT_EQUAL(r.state, APP_STATE_STOPPED);
    CU_ASSERT_EQUAL(app_run(APP_OP_STOP, &o, &r, &err), FERRY_OK);
    CU_ASSERT_FALSE(r.changed);
    CU_ASSERT_EQUAL(app_run(APP_OP_STATUS, &o, &r, &err), FERRY_OK);
    CU_ASSERT_EQUAL(r.state, APP_STATE_STOPPED);

    o = mx_opts("calc", "Test");
    CU_ASSERT_EQUAL(app_run(APP_OP_STATUS, &o, &r, &err), FERRY_OK);
    CU_ASSERT_EQUAL(r.state, APP_STATE_ABSENT);
    CU_ASSERT_EQUAL(app_run(APP_OP_START, &o, &r, &err), FERRY_ERR_CONFLICT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "NO_MDA_HAS_BEEN_DEPLOYED"));
}

static void mx_wrong_key(void)
{
    static const char wrong[] = "mx-wrong-key-5d1e0b7a";
    app_options o = mx_opts("calc", "Acceptance");
    o.mendix_api_key = wrong;
    app_report r;
    ferry_err err = {0};
    ferry_rc rc = app_run(APP_OP_START, &o, &r, &err);
    fprintf(stderr, "mendix wrong key: %s\n", err.msg);
    CU_ASSERT_EQUAL(rc, FERRY_ERR_AUTH);
    CU_ASSERT_FALSE(ferry_rc_retryable(rc));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "401"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "calc"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "Acceptance"));
    CU_ASSERT_PTR_NULL(strstr(err.msg, wrong));
    no_key(err.msg);

    o = mx_opts("locked", "Production");
    CU_ASSERT_EQUAL(app_run(APP_OP_START, &o, &r, &err), FERRY_ERR_PERMISSION);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "NO_ACCESS"));
    no_key(err.msg);
}

static void mx_not_found_and_invalid(void)
{
    app_options o = mx_opts("no-such-app", "Production");
    app_report r;
    ferry_err err = {0};
    CU_ASSERT_EQUAL(app_run(APP_OP_START, &o, &r, &err), FERRY_ERR_NOT_FOUND);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "APP_NOT_FOUND"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "no-such-app"));
    no_key(err.msg);
    o = mx_opts("calc", "Staging");
    CU_ASSERT_EQUAL(app_run(APP_OP_STOP, &o, &r, &err), FERRY_ERR_NOT_FOUND);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "ENVIRONMENT_NOT_FOUND"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "Staging"));

    o = mx_opts("calc", "");
    CU_ASSERT_EQUAL(app_run(APP_OP_STATUS, &o, &r, &err), FERRY_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "environment"));
    o = mx_opts("calc", "Production");
    o.mendix_api_key = NULL;
    CU_ASSERT_EQUAL(app_run(APP_OP_STATUS, &o, &r, &err), FERRY_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "API key"));

    /* Nothing listening: retryable. */
    o = mx_opts("calc", "Production");
    char dead[64];
    (void)snprintf(dead, sizeof(dead), "http://127.0.0.1:%d/api/1", free_port());
    o.mendix_api_url = dead;
    ferry_rc rc = app_run(APP_OP_STATUS, &o, &r, &err);
    CU_ASSERT_TRUE(ferry_rc_retryable(rc));
    no_key(err.msg);
}

static void mx_failed_start_job(void)
{
    app_options o = mx_opts("calc", "Production");
    o.mendix_api_url = T.api_fail;
    app_report r;
    ferry_err err = {0};
    ferry_rc rc = app_run(APP_OP_START, &o, &r, &err);
    fprintf(stderr, "mendix failed job: %s\n", err.msg);
    CU_ASSERT_EQUAL(rc, FERRY_ERR_CONFLICT);
    CU_ASSERT_EQUAL(r.state, APP_STATE_FAILED);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "start job"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "START_FAILED"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "calc environment Production"));
    no_key(err.msg);

    /* Cancel while the job runs (the stand-in reports Starting for 400 ms). */
    o = mx_opts("calc", "Acceptance");
    CU_ASSERT_EQUAL(app_run(APP_OP_STOP, &o, &r, &err), FERRY_OK);
    int64_t stop_at = ferry_mono_ms() + 150;
    o.stop = (app_stop){.stopping = stop_after, .ud = &stop_at};
    CU_ASSERT_EQUAL(app_run(APP_OP_START, &o, &r, &err), FERRY_ERR_CANCELLED);
}

/* Runs cmd through the shell; returns its exit status and its output (stdout and stderr). */
static int run_cli(const char *cmd, char *out, size_t outsz)
{
    FILE *p = popen(cmd, "r");
    size_t n = 0;
    if (p == NULL)
        return -1;
    while (n + 1 < outsz) {
        size_t got = fread(out + n, 1, outsz - 1 - n, p);
        if (got == 0)
            break;
        n += got;
    }
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void mx_command_line(void)
{
    char cmd[1024], out[8192];
#define MX_CLI(op, secret)                                                                         \
    FERRY_APP_BIN " " op " --platform mendix --app calc --environment Test --user " MX_USER        \
                  " --credentials-secret " secret " --timeout 20 2>&1"
    CU_ASSERT_EQUAL_FATAL(setenv("FERRY_MENDIX_API_URL", T.api, 1), 0);
    CU_ASSERT_EQUAL(run_cli(MX_CLI("status", MX_SECRET), out, sizeof(out)), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "absent (NotDeployed)"));
    no_key(out);

    (void)snprintf(cmd, sizeof(cmd),
                   FERRY_APP_BIN " start --platform mendix --app calc --environment Acceptance "
                                 "--user " MX_USER " --credentials-secret " MX_SECRET " 2>&1");
    CU_ASSERT_EQUAL(run_cli(cmd, out, sizeof(out)), 0);
    fprintf(stderr, "ferry-app start:\n%s", out);
    /* The cancelled start's job may still run: ferry-app waits for it, then sees Running. */
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "mendix calc: running ("));
    no_key(out);

    /* A wrong key: exit 1, and neither key in the output. */
    CU_ASSERT_EQUAL_FATAL(setenv("FERRY_SECRET_APPTEST_WRONG", "mx-wrong-key-cli-90f1", 1), 0);
    CU_ASSERT_EQUAL(run_cli(MX_CLI("stop", "APPTEST_WRONG"), out, sizeof(out)), 1);
    fprintf(stderr, "ferry-app wrong key: %s", out);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "authentication failed"));
    CU_ASSERT_PTR_NULL(strstr(out, "mx-wrong-key-cli-90f1"));
    no_key(out);

    /* Usage. */
    CU_ASSERT_EQUAL(run_cli(FERRY_APP_BIN " start --platform mendix 2>&1", out, sizeof(out)), 2);

    /* The stand-in's own log never saw a reason to print the key either. */
    FILE *f = fopen(T.standin_log, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    size_t n = fread(out, 1, sizeof(out) - 1, f);
    out[n] = '\0';
    (void)fclose(f);
    CU_ASSERT_TRUE(n > 0);
    no_key(out);
}

static void sup_command_line(void)
{
    char cmd[512], out[4096];
    (void)snprintf(cmd, sizeof(cmd), FERRY_APP_BIN " status --platform supervisor --app %s 2>&1",
                   T.web);
    CU_ASSERT_EQUAL(run_cli(cmd, out, sizeof(out)), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "stopped (STOPPED)"));
    (void)snprintf(cmd, sizeof(cmd),
                   FERRY_APP_BIN " start --platform supervisor --app %s-nope 2>&1", T.web);
    CU_ASSERT_EQUAL(run_cli(cmd, out, sizeof(out)), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "not found"));
    CU_ASSERT_PTR_NULL(strstr(out, T.password));
}

int main(void)
{
    static const ferry_test_case sup_cases[] = {
        {"start, start again, health check", sup_start_with_health},
        {"health check: wrong status or text", sup_health_wrong_status},
        {"health check: no answer, cancel", sup_health_no_answer},
        {"stop, stop again", sup_stop_twice},
        {"a program that exits at once", sup_crash_fails_clearly},
        {"unknown program is NOT_FOUND", sup_unknown_program},
        {"settings, wrong password, platform", sup_settings_and_auth},
        {"command line", sup_command_line},
        {NULL, NULL},
    };
    static const ferry_test_case mx_cases[] = {
        {"start with a job, status, stop", mx_start_status_stop},
        {"wrong key is AUTH, no access is PERMISSION", mx_wrong_key},
        {"unknown app or environment, bad options", mx_not_found_and_invalid},
        {"a failed start job, cancel", mx_failed_start_job},
        {"command line, no key anywhere", mx_command_line},
        {NULL, NULL},
    };
    static const ferry_test_suite suites[] = {
        {"app supervisor", sup_setup, sup_teardown, sup_cases},
        {"app mendix", mx_setup, mx_teardown, mx_cases},
        {NULL, NULL, NULL, NULL}};
    return ferry_test_main(suites);
}
