/*
 * app_main.c - ferry-app: a worker of the app kind (no arguments, or the runtime's options), or
 * one operation from the command line:
 *
 *     ferry-app start|stop|status --platform supervisor|mendix --app NAME [options]
 *
 * This file parses and reports; app.h does the work.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "ferry/config.h"
#include "ferry/log.h"
#include "ferry/opts.h"
#include "ferry/worker.h"

#define EXIT_FAILED 1
#define EXIT_USAGE  2
#define EXIT_CONFIG 3

/* ---- the worker ---------------------------------------------------------------------------- */

static bool step_stopping(void *ud)
{
    return ferry_step_stopping(ud);
}

static void step_progress(void *ud, const char *detail)
{
    ferry_step_progress fp = {.unit = "", .detail = detail};
    ferry_step_progress_set(ud, &fp);
}

static void result_int(ferry_step_ctx *ctx, const char *name, int64_t value)
{
    char text[24];
    (void)snprintf(text, sizeof(text), "%" PRId64, value);
    (void)ferry_step_result(ctx, name, text); /* best effort: the step's outcome stands */
}

/* Step results (docs/app.md "Results"). */
static void report_results(ferry_step_ctx *ctx, const char *platform, const app_report *r)
{
    (void)ferry_step_result(ctx, "state", app_state_str(r->state));
    /* The coordinator's name (docs/orchestration.md): replicate refuses a running target. */
    (void)ferry_step_result(
        ctx, "running",
        r->state == APP_STATE_RUNNING || r->state == APP_STATE_STARTING ? "true" : "false");
    (void)ferry_step_result(ctx, "platform", platform);
    if (r->detail[0] != '\0')
        (void)ferry_step_result(ctx, "platform_state", r->detail);
    (void)ferry_step_result(ctx, "changed", r->changed ? "true" : "false");
    result_int(ctx, "platform_ms", r->platform_ms);
    if (r->health_ms >= 0)
        result_int(ctx, "health_ms", r->health_ms);
    if (r->health_status > 0)
        result_int(ctx, "health_status", r->health_status);
    result_int(ctx, "duration_ms", r->total_ms);
}

static ferry_rc op_of(Ferry__V1__Operation operation, app_op *op)
{
    switch (operation) {
    case FERRY__V1__OPERATION__OPERATION_APP_START:
        *op = APP_OP_START;
        return FERRY_OK;
    case FERRY__V1__OPERATION__OPERATION_APP_STOP:
        *op = APP_OP_STOP;
        return FERRY_OK;
    case FERRY__V1__OPERATION__OPERATION_APP_STATUS:
        *op = APP_OP_STATUS;
        return FERRY_OK;
    default:
        return FERRY_ERR_INVALID;
    }
}

static ferry_rc execute(ferry_step_ctx *ctx, const Ferry__V1__StepCommand *cmd, void *ud,
                        ferry_err *err)
{
    (void)ud;
    ferry_rc rc = FERRY_OK;
    char *api_key = NULL;
    app_report report;
    app_op op;
    const Ferry__V1__AppParams *p = cmd->app;
    if (cmd->params_case != FERRY__V1__STEP_COMMAND__PARAMS_APP || p == NULL)
        return ferry_err_set(err, FERRY_ERR_INVALID, "the step has no app parameters");
    if (op_of(cmd->operation, &op) != FERRY_OK)
        return ferry_err_set(err, FERRY_ERR_INVALID, "operation %d is not an app one",
                             (int)cmd->operation);
    bool mendix = p->platform != NULL && strcmp(p->platform, "mendix") == 0;
    if (mendix && p->credentials != NULL && p->credentials->name != NULL &&
        p->credentials->name[0] != '\0') {
        rc = ferry_secret_get(p->credentials->name, &api_key, err);
        if (rc != FERRY_OK)
            return ferry_err_prefix(err, "mendix app %s environment %s", p->app, p->environment);
    }

    const ferry_cfg *cfg = ferry_step_config(ctx);
    const Ferry__V1__HealthCheck *h = op == APP_OP_START ? p->health : NULL;
    app_options opts = {.platform = p->platform,
                        .app = p->app,
                        .environment = p->environment,
                        .supervisor_url = ferry_cfg_str(cfg, "supervisor.url"),
                        .supervisor_user = ferry_cfg_str(cfg, "supervisor.user"),
                        .supervisor_password = ferry_cfg_str(cfg, "supervisor.password"),
                        .mendix_api_url = ferry_cfg_str(cfg, "mendix.api_url"),
                        .mendix_user = p->user,
                        .mendix_api_key = api_key,
                        .timeout_ms = (int64_t)p->timeout_seconds * 1000,
                        .health_url = h != NULL ? h->url : NULL,
                        .health_status = h != NULL ? (long)h->status : 0,
                        .health_contains = h != NULL ? h->contains : NULL,
                        .stop = {.stopping = step_stopping, .ud = ctx},
                        .progress = step_progress,
                        .progress_ud = ctx};
    rc = app_run(op, &opts, &report, err);
    report_results(ctx, p->platform != NULL ? p->platform : "", &report);
    free(api_key);
    return rc;
}

/* ---- the command line ---------------------------------------------------------------------- */

/* One operation's command line. */
typedef struct cli_args {
    const char *opname; /* start, stop or status */
    const char *platform, *app, *environment, *user, *secret, *health_url, *health_contains;
    int64_t health_status, timeout;
    bool quiet, help;
} cli_args;

static void usage(FILE *out, const ferry_opt *table)
{
    (void)fprintf(
        out,
        "usage: ferry-app [--check-config | --version | --help]\n"
        "           run as a worker of the app kind (see README.md)\n"
        "       ferry-app start|stop|status --platform supervisor|mendix --app NAME\n"
        "           [--environment MODE] [--user USER --credentials-secret NAME]\n"
        "           [--health-url URL [--health-status N] [--health-contains TEXT]]\n"
        "           [--timeout SECONDS]\n"
        "\n"
        "start   starts the app (at once when it runs already) and waits until the platform\n"
        "        says running, then until --health-url answers (docs/app.md)\n"
        "stop    stops the app and waits until the platform says stopped\n"
        "status  prints the app's state: running, stopped, starting, stopping, failed, absent\n"
        "\n"
        "supervisor: NAME is the program; FERRY_SUPERVISOR_URL, _USER, _PASSWORD (or _FILE).\n"
        "mendix:     NAME is the AppId, MODE the environment (Production, Acceptance, Test);\n"
        "            USER the Mendix-Username; the API key comes from FERRY_SECRET_<NAME> (or\n"
        "            _FILE); the API from FERRY_MENDIX_API_URL (https://deploy.mendix.com/api/1).\n"
        "exit: 0 done, 1 failed, 2 usage, 3 configuration\n"
        "\n"
        "options:\n");
    ferry_opts_usage(table, out);
}

static void cli_progress(void *ud, const char *detail)
{
    (void)ud;
    char line[512];
    (void)ferry_redact(detail, line, sizeof(line));
    (void)fprintf(stderr, "ferry-app: %s\n", line);
}

/* Runs one operation; returns the exit code. */
static int cli_run(const cli_args *a)
{
    const char *opname = a->opname;
    app_op op = strcmp(opname, "start") == 0  ? APP_OP_START
                : strcmp(opname, "stop") == 0 ? APP_OP_STOP
                                              : APP_OP_STATUS;
    ferry_log_init("ferry-app", FERRY_LOG_KV, FERRY_LOG_WARN, 2);
    ferry_cfg *cfg = NULL;
    char *problems = NULL, *api_key = NULL;
    int status = EXIT_FAILED;
    if (ferry_cfg_load(FERRY_COMP_APP | FERRY_COMP_STANDALONE, NULL, NULL, &cfg, &problems) !=
        FERRY_OK) {
        (void)fprintf(stderr, "ferry-app: bad configuration:\n%s\n",
                      problems != NULL ? problems : "out of memory");
        free(problems);
        return EXIT_CONFIG;
    }
    ferry_err err = {0};
    if (a->secret != NULL && ferry_secret_get(a->secret, &api_key, &err) != FERRY_OK) {
        (void)fprintf(stderr, "ferry-app: %s\n", err.msg);
        status = EXIT_CONFIG;
        goto out;
    }
    app_options opts = {.platform = a->platform,
                        .app = a->app,
                        .environment = a->environment,
                        .supervisor_url = ferry_cfg_str(cfg, "supervisor.url"),
                        .supervisor_user = ferry_cfg_str(cfg, "supervisor.user"),
                        .supervisor_password = ferry_cfg_str(cfg, "supervisor.password"),
                        .mendix_api_url = ferry_cfg_str(cfg, "mendix.api_url"),
                        .mendix_user = a->user,
                        .mendix_api_key = api_key,
                        .timeout_ms = a->timeout * 1000,
                        .health_url = op == APP_OP_START ? a->health_url : NULL,
                        .health_status = (long)a->health_status,
                        .health_contains = a->health_contains,
                        .progress = a->quiet ? NULL : cli_progress};
    app_report report;
    ferry_rc rc = app_run(op, &opts, &report, &err);
    if (rc != FERRY_OK) {
        (void)fprintf(stderr, "ferry-app: %s failed (%s): %s\n", opname, ferry_rc_str(rc), err.msg);
        status = rc == FERRY_ERR_INVALID ? EXIT_USAGE : EXIT_FAILED;
        goto out;
    }
    (void)printf("%s %s: %s (%s)%s", a->platform, a->app, app_state_str(report.state),
                 report.detail,
                 op == APP_OP_STATUS ? ""
                 : report.changed    ? ""
                                     : ", nothing to do");
    if (report.health_ms >= 0)
        (void)printf(", healthy after %.1f s", (double)report.health_ms / 1000.0);
    (void)printf("\n");
    status = 0;
out:
    free(api_key);
    ferry_cfg_free(cfg);
    return status;
}

static int cli_main(int argc, char **argv)
{
    cli_args a = {.opname = argv[1]};
    /* clang-format off */
    const ferry_opt table[] = {
        {.name = "platform", .kind = FERRY_OPT_STRING, .flags = FERRY_OPT_REQUIRED,
         .dest = &a.platform, .arg = "supervisor|mendix", .help = "where the app runs"},
        {.name = "app", .kind = FERRY_OPT_STRING, .flags = FERRY_OPT_REQUIRED, .dest = &a.app,
         .arg = "NAME", .help = "the program (supervisor) or the AppId (mendix)"},
        {.name = "environment", .kind = FERRY_OPT_STRING, .dest = &a.environment, .arg = "MODE",
         .help = "(mendix) the environment: Production, Acceptance, Test"},
        {.name = "user", .kind = FERRY_OPT_STRING, .dest = &a.user, .arg = "USER",
         .help = "(mendix) the Mendix-Username"},
        {.name = "credentials-secret", .kind = FERRY_OPT_STRING, .dest = &a.secret, .arg = "NAME",
         .help = "(mendix) the API key is FERRY_SECRET_<NAME> (or _FILE)"},
        {.name = "health-url", .kind = FERRY_OPT_STRING, .dest = &a.health_url, .arg = "URL",
         .help = "(start) wait until this URL answers"},
        {.name = "health-status", .kind = FERRY_OPT_INT, .dest = &a.health_status, .min = 100,
         .max = 599, .help = "(start) the HTTP status it must answer with (default: any 2xx)"},
        {.name = "health-contains", .kind = FERRY_OPT_STRING, .dest = &a.health_contains,
         .arg = "TEXT", .help = "(start) text its answer must hold"},
        {.name = "timeout", .kind = FERRY_OPT_INT, .dest = &a.timeout, .min = 1, .max = 86400,
         .def = "300", .arg = "SECONDS", .help = "the whole operation, health check included"},
        {.name = "quiet", .kind = FERRY_OPT_FLAG, .dest = &a.quiet,
         .help = "no progress lines on stderr"},
        {.name = "help", .kind = FERRY_OPT_FLAG, .flags = FERRY_OPT_STOP, .dest = &a.help,
         .help = "print this help"},
        {.name = NULL},
    };
    /* clang-format on */
    int status = ferry_opts_cli(table, argc - 1, argv + 1, "ferry-app", a.opname, usage, &a.help);
    return status >= 0 ? status : cli_run(&a);
}

int main(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "start") == 0 || strcmp(argv[1], "stop") == 0 ||
                      strcmp(argv[1], "status") == 0))
        return cli_main(argc, argv);
    ferry_worker_def def = {.kind = FERRY__V1__STEP_KIND__STEP_KIND_APP,
                            .component = FERRY_COMP_APP,
                            .name = "ferry-app",
                            .execute = execute};
    return ferry_worker_main(argc, argv, &def);
}
