/* ctl_cmd.c - ferryctl's verbs over the coordinator's API (ctl_cmd.h). */
#include "ctl_cmd.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "ferry/clock.h"
#include "ferry/buf.h"
#include "ferry/migstate.h"
#include "spec.h"
#include "view.h"

/* The API refuses bodies over 1 MiB (docs/api.md); a list file may be longer. */
#define SPEC_MAX_BYTES (1024 * 1024)
#define LIST_MAX_BYTES (16 * 1024 * 1024)
#define PATH_MAX_BYTES 1024

typedef struct ctl_ctx {
    const ferry_ctl_args *args;
    ctl_client *client;
    bool fatal; /* the last failure will repeat for every app: unreachable, or unauthorized (a
                   403 is the app's: an operator may migrate one app and not the next) */
} ctl_ctx;

/* Set by SIGINT and SIGTERM while `watch` runs. */
static volatile sig_atomic_t watch_stop = 0;

static void on_watch_signal(int sig)
{
    (void)sig;
    watch_stop = 1;
}

/* Prints server or user text with control characters replaced: it must not drive the
 * terminal. */
static void put_clean(FILE *f, const char *text)
{
    for (const char *p = text; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        (void)fputc(c < 0x20 || c == 0x7F ? ' ' : c, f);
    }
}

/* "ferryctl: <verb> <target>: " */
static void put_label(const ctl_ctx *ctx, const char *target)
{
    fputs("ferryctl: ", stderr);
    put_clean(stderr, ctx->args->verb_name);
    if (target != NULL) {
        fputc(' ', stderr);
        put_clean(stderr, target);
    }
    fputs(": ", stderr);
}

/* Reports a local failure (not from the API) and returns code. */
static int fail_local(const ctl_ctx *ctx, const char *target, const ferry_err *err, int code)
{
    put_label(ctx, target);
    put_clean(stderr, err->msg);
    fputc('\n', stderr);
    return code;
}

/* What a failed status means, in the words of the error message. */
static const char *status_words(long status)
{
    switch (status) {
    case 400:
        return "bad request";
    case 401:
        return "unauthorized (check FERRY_COORDINATOR_TOKEN)";
    case 403:
        return "forbidden";
    case 404:
        return "not found";
    case 405:
        return "not supported by this coordinator";
    case 409:
        return "refused";
    case 413:
        return "too large";
    case 422:
        return "invalid spec";
    case 503:
        return "coordinator unavailable";
    default:
        return status >= 500 ? "coordinator error" : "unexpected answer";
    }
}

/* Reports a call that failed (transport or status) and returns its exit code. */
static int report(ctl_ctx *ctx, const char *target, ferry_rc rc, const ferry_err *err,
                  const ctl_reply *reply)
{
    put_label(ctx, target);
    if (rc == FERRY_ERR_DECODE) {
        fputs("unexpected answer from the coordinator: ", stderr);
        put_clean(stderr, err->msg);
        fputc('\n', stderr);
        return FERRY_CTL_EXIT_UNAVAILABLE;
    }
    if (rc != FERRY_OK) {
        ctx->fatal = true;
        fputs("cannot reach the coordinator: ", stderr);
        put_clean(stderr, err->msg);
        fputc('\n', stderr);
        return FERRY_CTL_EXIT_UNAVAILABLE;
    }
    const char *message = ctl_reply_message(reply);
    fputs(status_words(reply->status), stderr);
    fputs(": ", stderr);
    if (message != NULL)
        put_clean(stderr, message);
    else
        fprintf(stderr, "HTTP %ld", reply->status);
    fputc('\n', stderr);
    const json_t *problems = ctl_reply_problems(reply);
    for (size_t i = 0; i < json_array_size(problems); i++) {
        const json_t *p = json_array_get(problems, i);
        const json_t *path = json_object_get(p, "path");
        const json_t *what = json_object_get(p, "message");
        fputs("  ", stderr);
        put_clean(stderr, json_is_string(path) ? json_string_value(path) : "$");
        fputs(": ", stderr);
        put_clean(stderr, json_is_string(what) ? json_string_value(what) : "?");
        fputc('\n', stderr);
    }
    if (reply->status == 401)
        ctx->fatal = true;
    return ferry_ctl_exit_for_status(reply->status);
}

/* One request; on failure reports it and returns its exit code (reply still needs cleanup). */
static int request(ctl_ctx *ctx, const char *target, const char *method, const char *path,
                   const json_t *body, ctl_reply *reply)
{
    ferry_err err = {0};
    ctx->fatal = false;
    ferry_rc rc = ctl_client_call_json(ctx->client, method, path, body, reply, &err);
    if (rc != FERRY_OK || reply->status < 200 || reply->status > 299)
        return report(ctx, target, rc, &err, reply);
    return FERRY_CTL_EXIT_OK;
}

/* Builds a path with one encoded segment; on failure reports it (usage error). */
static int make_path(ctl_ctx *ctx, char *out, const char *prefix, const char *segment,
                     const char *suffix)
{
    ferry_err err = {0};
    if (ctl_path(out, PATH_MAX_BYTES, prefix, segment, suffix, &err) != FERRY_OK)
        return fail_local(ctx, segment, &err, FERRY_CTL_EXIT_USAGE);
    return FERRY_CTL_EXIT_OK;
}

/* Prints the answer's JSON as is, indented. */
static int print_json(const ctl_ctx *ctx, const char *target, const json_t *body)
{
    if (body == NULL) {
        puts("null");
        return FERRY_CTL_EXIT_OK;
    }
    if (json_dumpf(body, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0) {
        ferry_err err = {0};
        ferry_err_set(&err, FERRY_ERR_IO, "writing the answer failed");
        return fail_local(ctx, target, &err, FERRY_CTL_EXIT_REFUSED);
    }
    fputc('\n', stdout);
    return FERRY_CTL_EXIT_OK;
}

/* Writes a rendered view to stdout. */
static int print_view(const ctl_ctx *ctx, const char *target, ferry_buf *view)
{
    ferry_err err = {0};
    ferry_rc rc = fv_buf_write(view, stdout, &err);
    ferry_buf_cleanup(view);
    if (rc != FERRY_OK)
        return fail_local(ctx, target, &err, FERRY_CTL_EXIT_REFUSED);
    return FERRY_CTL_EXIT_OK;
}

/* The array `key` of an answer; reports an answer without it (exit code in *code). */
static const json_t *answer_array(const ctl_ctx *ctx, const char *target, const ctl_reply *reply,
                                  const char *key, int *code)
{
    const json_t *array = json_object_get(reply->body, key);
    if (json_is_array(array))
        return array;
    ferry_err err = {0};
    ferry_err_set(&err, FERRY_ERR_PROTOCOL, "unexpected answer from the coordinator: no \"%s\"",
                  key);
    *code = fail_local(ctx, target, &err, FERRY_CTL_EXIT_UNAVAILABLE);
    return NULL;
}

/* Reads a whole file ("-": standard input) of at most max bytes. Caller frees *out. */
static ferry_rc read_text(const char *path, size_t max, char **out, size_t *len, ferry_err *err)
{
    ferry_rc rc = FERRY_OK;
    ferry_buf b = {0};
    bool is_stdin = strcmp(path, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    char chunk[8192];

    *out = NULL;
    *len = 0;
    if (f == NULL) {
        rc = ferry_err_set_errno(err, FERRY_ERR_IO, errno, "cannot open %s", path);
        goto out;
    }
    for (;;) {
        size_t n = fread(chunk, 1, sizeof(chunk), f);
        ferry_buf_addn(&b, chunk, n);
        if (b.len > max) {
            rc = ferry_err_set(err, FERRY_ERR_INVALID, "%s is larger than %zu bytes", path, max);
            goto out;
        }
        if (n < sizeof(chunk))
            break;
    }
    if (ferror(f)) {
        rc = ferry_err_set(err, FERRY_ERR_IO, "cannot read %s", path);
        goto out;
    }
    *len = b.len;
    *out = ferry_buf_take(&b);
    if (*out == NULL)
        rc = ferry_err_set(err, FERRY_ERR_NOMEM, "reading %s", path);
out:
    if (f != NULL && !is_stdin)
        (void)fclose(f); /* read-only: nothing to lose */
    ferry_buf_cleanup(&b);
    return rc;
}

/* ---- create ---- */

static int cmd_create(ctl_ctx *ctx)
{
    const char *file = ctx->args->target;
    int code = FERRY_CTL_EXIT_OK;
    char *text = NULL;
    size_t len = 0;
    ferry_spec *spec = NULL;
    ferry_spec_problems problems = {0};
    ctl_reply reply = {0};
    ferry_err err = {0};

    ferry_rc rc = read_text(file, SPEC_MAX_BYTES, &text, &len, &err);
    if (rc != FERRY_OK) {
        code = fail_local(ctx, file, &err,
                          rc == FERRY_ERR_INVALID ? FERRY_CTL_EXIT_INVALID : FERRY_CTL_EXIT_USAGE);
        goto out;
    }
    /* The same checks the coordinator makes, so every problem shows before anything is sent. */
    rc = ferry_spec_parse(text, len, &spec, &problems, &err);
    if (rc != FERRY_OK) {
        put_label(ctx, file);
        if (problems.count > 0) {
            fprintf(stderr, "invalid spec, %zu problem%s:\n", problems.count,
                    problems.count == 1 ? "" : "s");
        } else {
            put_clean(stderr, err.msg);
            fputc('\n', stderr);
        }
        for (size_t i = 0; i < problems.count; i++) {
            fputs("  ", stderr);
            put_clean(stderr, problems.items[i].path);
            fputs(": ", stderr);
            put_clean(stderr, problems.items[i].message);
            fputc('\n', stderr);
        }
        code = rc == FERRY_ERR_INVALID ? FERRY_CTL_EXIT_INVALID : FERRY_CTL_EXIT_USAGE;
        goto out;
    }

    ctx->fatal = false;
    rc = ctl_client_call(ctx->client, "POST", "/v1/apps", text, &reply, &err);
    if (rc != FERRY_OK || reply.status < 200 || reply.status > 299) {
        code = report(ctx, file, rc, &err, &reply);
        goto out;
    }
    if (ctx->args->json) {
        code = print_json(ctx, file, reply.body);
        goto out;
    }
    if (!ctx->args->quiet) {
        const json_t *app = json_object_get(reply.body, "app");
        const json_t *migs = json_object_get(reply.body, "migrations");
        fputs("created ", stdout);
        put_clean(stdout, json_is_string(app) ? json_string_value(app) : spec->app);
        for (size_t i = 0; i < json_array_size(migs); i++) {
            const json_t *m = json_array_get(migs, i);
            fputs(i == 0 ? ": " : ", ", stdout);
            put_clean(stdout, json_is_string(m) ? json_string_value(m) : "?");
        }
        fputc('\n', stdout);
    }
out:
    ctl_reply_cleanup(&reply);
    ferry_spec_free(spec);
    ferry_spec_problems_cleanup(&problems);
    free(text);
    return code;
}

/* ---- commands on an app ---- */

/* The request body of an app command, or NULL on failure (reported; *code set). */
static json_t *command_body(ctl_ctx *ctx, const char *app, int *code)
{
    const ferry_ctl_args *args = ctx->args;
    json_t *body = json_object();
    bool ok = body != NULL;
    if (ok && args->env != NULL)
        ok = json_object_set_new(body, "env", json_string(args->env)) == 0;
    if (ok && args->verb == FERRY_CTL_STOP)
        ok = json_object_set_new(body, "interrupt", json_boolean(args->interrupt)) == 0;
    if (ok && args->step != NULL)
        ok = json_object_set_new(body, "step", json_string(args->step)) == 0;
    if (ok && args->overwrite)
        ok = json_object_set_new(body, "overwrite", json_true()) == 0;
    if (ok && args->force)
        ok = json_object_set_new(body, "force", json_true()) == 0;
    if (ok && args->yes)
        ok = json_object_set_new(body, "confirm", json_true()) == 0;
    if (!ok) {
        ferry_err err = {0};
        ferry_err_set(&err, FERRY_ERR_INVALID, "--env and --step must be UTF-8 text");
        *code = fail_local(ctx, app, &err, FERRY_CTL_EXIT_USAGE);
        json_decref(body);
        return NULL;
    }
    return body;
}

static const char *command_action(ferry_ctl_verb verb)
{
    switch (verb) {
    case FERRY_CTL_REPLICATE:
        return "/replicate";
    case FERRY_CTL_STOP:
        return "/stop";
    case FERRY_CTL_TEST_START:
        return "/test-start";
    case FERRY_CTL_TEST_STOP:
        return "/test-stop";
    case FERRY_CTL_MIGRATE:
        return "/migrate";
    case FERRY_CTL_ROLLBACK:
        return "/rollback";
    case FERRY_CTL_REPLAY:
        return "/replay";
    default:
        return NULL;
    }
}

/* "shop.production: replicating/check_target" for each migration of a command's answer. */
static void print_accepted(const ctl_ctx *ctx, const char *app, const json_t *body)
{
    const json_t *migs = json_object_get(body, "migrations");
    if (json_array_size(migs) == 0) {
        fputs(ctx->args->verb_name, stdout);
        fputc(' ', stdout);
        put_clean(stdout, app);
        fputs(": accepted\n", stdout);
        return;
    }
    for (size_t i = 0; i < json_array_size(migs); i++) {
        const json_t *m = json_array_get(migs, i);
        const json_t *id = json_object_get(m, "id");
        const json_t *state = json_object_get(m, "state");
        const json_t *phase = json_object_get(m, "phase");
        put_clean(stdout, json_is_string(id) ? json_string_value(id) : app);
        fputs(": ", stdout);
        put_clean(stdout, json_is_string(state) ? json_string_value(state) : "?");
        if (json_is_string(phase) && json_string_length(phase) > 0) {
            fputc('/', stdout);
            put_clean(stdout, json_string_value(phase));
        }
        fputc('\n', stdout);
    }
}

#define CHECK_WAIT_MS 60000 /* how long replicate waits for the target app's check */
#define CHECK_POLL_MS 300

/*
 * Replicate answers at once with each migration checking that its target app is stopped
 * (replicating/check_target); a running target app refuses the replication and the migration
 * goes back to where it was, with the reason. This waits for that verdict, so the command
 * answers the way the button does: refused, with why (exit 1), or on its way. The answer is
 * updated in place with what the migrations are now.
 */
static int await_checks(ctl_ctx *ctx, const char *app, json_t *answer)
{
    json_t *migs = json_object_get(answer, "migrations");
    int code = FERRY_CTL_EXIT_OK;
    int64_t until = ferry_mono_ms() + CHECK_WAIT_MS;
    for (size_t i = 0; i < json_array_size(migs); i++) {
        json_t *m = json_array_get(migs, i);
        const char *given = json_string_value(json_object_get(m, "id"));
        if (given == NULL)
            continue;
        /* A copy: each poll replaces m, and with it the string the id was read from. */
        char id[PATH_MAX_BYTES];
        (void)snprintf(id, sizeof(id), "%s", given);
        for (;;) {
            fm_state state = fm_state_parse(json_string_value(json_object_get(m, "state")));
            fm_phase phase = fm_phase_parse(json_string_value(json_object_get(m, "phase")));
            bool checking = state == FM_REPLICATING && phase == FM_PH_CHECK_TARGET;
            if (!checking || ferry_mono_ms() >= until)
                break;
            ferry_sleep_ms(CHECK_POLL_MS);
            char path[PATH_MAX_BYTES];
            ctl_reply reply = {0};
            int c = make_path(ctx, path, "/v1/migrations/", id, NULL);
            if (c == FERRY_CTL_EXIT_OK)
                c = request(ctx, id, "GET", path, NULL, &reply);
            if (c == FERRY_CTL_EXIT_OK && json_is_object(reply.body)) {
                json_array_set(migs, i, reply.body);
                m = json_array_get(migs, i);
            }
            ctl_reply_cleanup(&reply);
            if (c != FERRY_CTL_EXIT_OK)
                return c;
        }
        const char *state = json_string_value(json_object_get(m, "state"));
        if (state != NULL && fm_state_parse(state) != FM_REPLICATING) {
            const char *why =
                json_string_value(json_object_get(json_object_get(m, "error"), "message"));
            put_label(ctx, app);
            fputs("refused: ", stderr);
            put_clean(stderr, id);
            fputs(": ", stderr);
            put_clean(stderr, why != NULL ? why : state);
            fputc('\n', stderr);
            code = FERRY_CTL_EXIT_REFUSED;
        }
    }
    return code;
}

/* Sends the command for app; *answer (caller frees) is the API's answer on success. */
static int app_command_send(ctl_ctx *ctx, const char *app, json_t **answer)
{
    char path[PATH_MAX_BYTES];
    ctl_reply reply = {0};
    json_t *body = NULL;
    *answer = NULL;
    int code = make_path(ctx, path, "/v1/apps/", app, command_action(ctx->args->verb));
    if (code != FERRY_CTL_EXIT_OK)
        goto out;
    body = command_body(ctx, app, &code);
    if (body == NULL)
        goto out;
    code = request(ctx, app, "POST", path, body, &reply);
    if (code == FERRY_CTL_EXIT_OK)
        *answer = json_incref(reply.body);
out:
    json_decref(body);
    ctl_reply_cleanup(&reply);
    return code;
}

/* Waits for what the answer needs (replicate: the target apps' checks), then prints it. */
static int app_command_finish(ctl_ctx *ctx, const char *app, json_t *answer)
{
    int code = FERRY_CTL_EXIT_OK;
    if (ctx->args->verb == FERRY_CTL_REPLICATE)
        code = await_checks(ctx, app, answer);
    if (ctx->args->json) {
        int printed = print_json(ctx, app, answer);
        code = code != FERRY_CTL_EXIT_OK ? code : printed;
    } else if (!ctx->args->quiet) {
        print_accepted(ctx, app, answer);
    }
    return code;
}

static int app_command(ctl_ctx *ctx, const char *app)
{
    json_t *answer = NULL;
    int code = app_command_send(ctx, app, &answer);
    if (code == FERRY_CTL_EXIT_OK)
        code = app_command_finish(ctx, app, answer);
    json_decref(answer);
    return code;
}

/* The apps of a bulk command: every app the coordinator knows (--all) or a list file. */
static int bulk_apps(ctl_ctx *ctx, char ***apps, size_t *n)
{
    ferry_err err = {0};
    *apps = NULL;
    *n = 0;
    if (ctx->args->file != NULL) {
        char *text = NULL;
        size_t len = 0;
        ferry_rc rc = read_text(ctx->args->file, LIST_MAX_BYTES, &text, &len, &err);
        if (rc == FERRY_OK)
            rc = ferry_ctl_list_parse(text, apps, n, &err);
        free(text);
        if (rc != FERRY_OK) {
            ferry_err_prefix(&err, "%s", ctx->args->file);
            return fail_local(ctx, NULL, &err, FERRY_CTL_EXIT_USAGE);
        }
        return FERRY_CTL_EXIT_OK;
    }

    ctl_reply reply = {0};
    int code = request(ctx, "--all", "GET", "/v1/apps", NULL, &reply);
    const json_t *list = NULL;
    if (code == FERRY_CTL_EXIT_OK)
        list = answer_array(ctx, "--all", &reply, "apps", &code);
    size_t count = json_array_size(list);
    if (count > 0) {
        *apps = calloc(count, sizeof(**apps));
        for (size_t i = 0; *apps != NULL && i < count; i++) {
            const json_t *name = json_object_get(json_array_get(list, i), "app");
            (*apps)[i] = strdup(json_is_string(name) ? json_string_value(name) : "?");
            if ((*apps)[i] == NULL)
                break;
            (*n)++;
        }
        if (*n < count) {
            ferry_err_set(&err, FERRY_ERR_NOMEM, "out of memory");
            code = fail_local(ctx, "--all", &err, FERRY_CTL_EXIT_UNAVAILABLE);
        }
    }
    ctl_reply_cleanup(&reply);
    return code;
}

/* Every app's command is sent first, then each answer is finished (replicate waits for the
 * target apps' checks): the checks of all the apps run at once, not one after another. */
static int cmd_bulk(ctl_ctx *ctx)
{
    char **apps = NULL;
    json_t **answers = NULL;
    size_t n = 0, failed = 0, done = 0;
    int worst = bulk_apps(ctx, &apps, &n);
    if (worst != FERRY_CTL_EXIT_OK)
        goto out;
    if (n == 0 && !ctx->args->quiet)
        printf("%s: no apps\n", ctx->args->verb_name);
    answers = calloc(n > 0 ? n : 1, sizeof(*answers));
    if (answers == NULL) {
        ferry_err err = {0};
        (void)ferry_err_set(&err, FERRY_ERR_NOMEM, "out of memory");
        worst = fail_local(ctx, NULL, &err, FERRY_CTL_EXIT_USAGE);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        int code = app_command_send(ctx, apps[i], &answers[i]);
        (void)fflush(stdout); /* keep each app's lines in order with its errors on stderr */
        done++;
        if (code != FERRY_CTL_EXIT_OK) {
            failed++;
            worst = ferry_ctl_exit_worst(worst, code);
        }
        /* Unreachable or unauthorized: every other app would fail the same way. */
        if (code != FERRY_CTL_EXIT_OK && ctx->fatal)
            break;
    }
    for (size_t i = 0; i < done; i++) {
        if (answers[i] == NULL)
            continue;
        int code = app_command_finish(ctx, apps[i], answers[i]);
        (void)fflush(stdout);
        if (code != FERRY_CTL_EXIT_OK) {
            failed++;
            worst = ferry_ctl_exit_worst(worst, code);
        }
    }
    if (failed > 0 || done < n)
        fprintf(stderr, "ferryctl: %s: %zu of %zu apps failed%s\n", ctx->args->verb_name, failed, n,
                done < n ? ", the rest were not tried" : "");
out:
    for (size_t i = 0; answers != NULL && i < n; i++)
        json_decref(answers[i]);
    free(answers);
    ferry_ctl_list_free(apps, n);
    return worst;
}

/* ---- read verbs ---- */

static int cmd_status(ctl_ctx *ctx)
{
    const ferry_ctl_args *args = ctx->args;
    const char *target = args->target;
    char path[PATH_MAX_BYTES], id[512];
    ctl_reply reply = {0};
    ferry_buf view = {0};
    int code = FERRY_CTL_EXIT_OK;
    bool detail = target != NULL && (args->env != NULL || strchr(target, '.') != NULL);

    if (target == NULL) {
        code = request(ctx, NULL, "GET", "/v1/migrations", NULL, &reply);
    } else if (detail) {
        int n = args->env != NULL ? snprintf(id, sizeof(id), "%s.%s", target, args->env)
                                  : snprintf(id, sizeof(id), "%s", target);
        if (n < 0 || (size_t)n >= sizeof(id)) {
            ferry_err err = {0};
            ferry_err_set(&err, FERRY_ERR_INVALID, "name too long");
            code = fail_local(ctx, target, &err, FERRY_CTL_EXIT_USAGE);
            goto out;
        }
        code = make_path(ctx, path, "/v1/migrations/", id, NULL);
        if (code == FERRY_CTL_EXIT_OK)
            code = request(ctx, id, "GET", path, NULL, &reply);
    } else {
        code = make_path(ctx, path, "/v1/apps/", target, NULL);
        if (code == FERRY_CTL_EXIT_OK)
            code = request(ctx, target, "GET", path, NULL, &reply);
    }
    if (code != FERRY_CTL_EXIT_OK)
        goto out;
    if (args->json) {
        code = print_json(ctx, target, reply.body);
        goto out;
    }
    if (detail) {
        fv_migration_detail(&view, reply.body, ferry_wall_ms());
    } else {
        const json_t *migs = answer_array(ctx, target, &reply, "migrations", &code);
        if (migs == NULL)
            goto out;
        fv_status_table(&view, migs);
    }
    code = print_view(ctx, target, &view);
out:
    ferry_buf_cleanup(&view);
    ctl_reply_cleanup(&reply);
    return code;
}

/* A read verb whose answer is one array shown as one table. */
typedef enum list_view {
    LIST_STEPS,
    LIST_WORKERS,
    LIST_HISTORY,
    LIST_DEAD_LETTERS,
    LIST_USERS,
    LIST_AUDIT
} list_view;

static int cmd_list(ctl_ctx *ctx, list_view which)
{
    const ferry_ctl_args *args = ctx->args;
    char path[PATH_MAX_BYTES], suffix[64];
    const char *key = NULL;
    ctl_reply reply = {0};
    ferry_buf view = {0};
    int code = FERRY_CTL_EXIT_OK;
    int n = snprintf(suffix, sizeof(suffix), "/history?count=%ld", args->count);
    if (n < 0 || (size_t)n >= sizeof(suffix))
        return FERRY_CTL_EXIT_USAGE; /* cannot happen: count has at most 5 digits */

    switch (which) {
    case LIST_STEPS:
        key = "steps";
        code = make_path(ctx, path, "/v1/apps/", args->target, "/steps");
        break;
    case LIST_WORKERS:
        key = "workers";
        n = snprintf(path, sizeof(path), "/v1/workers");
        break;
    case LIST_HISTORY:
        key = "history";
        code = make_path(ctx, path, "/v1/migrations/", args->target, suffix);
        break;
    case LIST_DEAD_LETTERS:
        key = "dead_letters";
        n = snprintf(path, sizeof(path), "/v1/dead-letters?count=%ld", args->count);
        break;
    case LIST_USERS:
        key = "users";
        n = snprintf(path, sizeof(path), "/v1/users");
        break;
    case LIST_AUDIT:
        key = "audit";
        if (args->target == NULL) {
            n = snprintf(path, sizeof(path), "/v1/audit?count=%ld", args->count);
        } else {
            n = snprintf(suffix, sizeof(suffix), "&count=%ld", args->count); /* fits: see above */
            code = make_path(ctx, path, "/v1/audit?app=", args->target, suffix);
        }
        break;
    }
    if (n < 0 || (size_t)n >= sizeof(path))
        code = FERRY_CTL_EXIT_USAGE; /* cannot happen: fixed text */
    if (code != FERRY_CTL_EXIT_OK)
        goto out;
    code = request(ctx, args->target, "GET", path, NULL, &reply);
    if (code != FERRY_CTL_EXIT_OK)
        goto out;
    if (args->json) {
        code = print_json(ctx, args->target, reply.body);
        goto out;
    }
    const json_t *items = answer_array(ctx, args->target, &reply, key, &code);
    if (items == NULL)
        goto out;
    switch (which) {
    case LIST_STEPS:
        fv_steps_table(&view, items, ferry_wall_ms());
        break;
    case LIST_WORKERS:
        fv_workers_table(&view, items);
        break;
    case LIST_HISTORY:
        fv_history_table(&view, items);
        break;
    case LIST_DEAD_LETTERS:
        fv_dead_letters_table(&view, items);
        break;
    case LIST_USERS:
        fv_users_table(&view, items, ferry_wall_ms());
        break;
    case LIST_AUDIT:
        fv_audit_table(&view, items);
        break;
    }
    code = print_view(ctx, args->target, &view);
out:
    ferry_buf_cleanup(&view);
    ctl_reply_cleanup(&reply);
    return code;
}

/* ---- dead-letter replay, delete ---- */

static int cmd_dl_replay(ctl_ctx *ctx)
{
    const char *id = ctx->args->target;
    char path[PATH_MAX_BYTES];
    ctl_reply reply = {0};
    int code = make_path(ctx, path, "/v1/dead-letters/", id, "/replay");
    if (code == FERRY_CTL_EXIT_OK)
        code = request(ctx, id, "POST", path, NULL, &reply);
    if (code == FERRY_CTL_EXIT_OK && ctx->args->json) {
        code = print_json(ctx, id, reply.body);
    } else if (code == FERRY_CTL_EXIT_OK && !ctx->args->quiet) {
        const json_t *topic = json_object_get(reply.body, "topic");
        fputs("replayed ", stdout);
        put_clean(stdout, id);
        fputs(" to ", stdout);
        put_clean(stdout, json_is_string(topic) ? json_string_value(topic) : "its topic");
        fputc('\n', stdout);
    }
    ctl_reply_cleanup(&reply);
    return code;
}

static int cmd_delete(ctl_ctx *ctx)
{
    const char *app = ctx->args->target;
    char path[PATH_MAX_BYTES];
    ctl_reply reply = {0};
    int code = make_path(ctx, path, "/v1/apps/", app, NULL);
    if (code == FERRY_CTL_EXIT_OK)
        code = request(ctx, app, "DELETE", path, NULL, &reply);
    if (code == FERRY_CTL_EXIT_OK && ctx->args->json) {
        code = print_json(ctx, app, reply.body);
    } else if (code == FERRY_CTL_EXIT_OK && !ctx->args->quiet) {
        fputs("deleted ", stdout);
        put_clean(stdout, app);
        fputc('\n', stdout);
    }
    ctl_reply_cleanup(&reply);
    return code;
}

/* ---- whoami, users ---- */

static int cmd_whoami(ctl_ctx *ctx)
{
    ctl_reply reply = {0};
    ferry_buf view = {0};
    int code = request(ctx, NULL, "GET", "/v1/session", NULL, &reply);
    if (code == FERRY_CTL_EXIT_OK && ctx->args->json) {
        code = print_json(ctx, NULL, reply.body);
    } else if (code == FERRY_CTL_EXIT_OK) {
        fv_session_line(&view, reply.body);
        code = print_view(ctx, NULL, &view);
    }
    ferry_buf_cleanup(&view);
    ctl_reply_cleanup(&reply);
    return code;
}

/* The body of `user add`: name, role, apps (split at commas; ctlargs.c checked them) and
 * expires_at. NULL when out of memory. */
static json_t *user_add_body(const ferry_ctl_args *args)
{
    json_t *body = json_object();
    json_t *apps = json_array();
    bool ok = body != NULL && apps != NULL;
    if (ok)
        ok = json_object_set_new(body, "name", json_string(args->target)) == 0 &&
             json_object_set_new(body, "role", json_string(args->role)) == 0;
    for (const char *p = args->apps; ok && p != NULL;) {
        size_t len = strcspn(p, ",");
        ok = json_array_append_new(apps, json_stringn(p, len)) == 0;
        p = p[len] == ',' ? p + len + 1 : NULL;
    }
    if (ok && args->apps != NULL) {
        ok = json_object_set(body, "apps", apps) == 0;
    }
    if (ok)
        ok = json_object_set_new(body, "expires_at",
                                 args->expires_ms > 0 ? json_integer(args->expires_ms)
                                                      : json_null()) == 0;
    json_decref(apps);
    if (!ok) {
        json_decref(body);
        return NULL;
    }
    return body;
}

/*
 * Prints a new token of `user add` and `user token`: the token alone on standard output, so
 * that `tok=$(ferryctl user add ...)` holds it and nothing else; what it is, and that it is
 * shown only this once, on standard error (unless --quiet). --json prints the whole answer.
 */
static int print_token(ctl_ctx *ctx, const char *name, const ctl_reply *reply, const char *done)
{
    const json_t *token = json_object_get(reply->body, "token");
    if (!json_is_string(token) || json_string_length(token) == 0) {
        ferry_err err = {0};
        ferry_err_set(&err, FERRY_ERR_PROTOCOL,
                      "unexpected answer from the coordinator: no "
                      "\"token\"");
        return fail_local(ctx, name, &err, FERRY_CTL_EXIT_UNAVAILABLE);
    }
    if (ctx->args->json)
        return print_json(ctx, name, reply->body);
    if (!ctx->args->quiet) {
        ferry_buf who = {0};
        fv_user_brief(&who, json_object_get(reply->body, "user"));
        fputs(done, stderr);
        fputc(' ', stderr);
        fputs(who.oom || json_object_get(reply->body, "user") == NULL ? name : who.p, stderr);
        fputs("; its token follows, shown only this once:\n", stderr);
        ferry_buf_cleanup(&who);
        (void)fflush(stderr);
    }
    put_clean(stdout, json_string_value(token));
    fputc('\n', stdout);
    return FERRY_CTL_EXIT_OK;
}

static int cmd_user_add(ctl_ctx *ctx)
{
    const ferry_ctl_args *args = ctx->args;
    const char *name = args->target;
    ctl_reply reply = {0};
    ferry_err err = {0};
    json_t *body = NULL;
    int code = FERRY_CTL_EXIT_OK;
    char when[48];

    if (args->expires_ms > 0 && args->expires_ms <= ferry_wall_ms()) {
        ferry_err_set(&err, FERRY_ERR_INVALID, "--expires: %s is in the past",
                      fv_time_local(args->expires_ms, when, sizeof(when)));
        code = fail_local(ctx, name, &err, FERRY_CTL_EXIT_USAGE);
        goto out;
    }
    body = user_add_body(args);
    if (body == NULL) {
        ferry_err_set(&err, FERRY_ERR_NOMEM, "out of memory");
        code = fail_local(ctx, name, &err, FERRY_CTL_EXIT_UNAVAILABLE);
        goto out;
    }
    code = request(ctx, name, "POST", "/v1/users", body, &reply);
    if (code == FERRY_CTL_EXIT_OK)
        code = print_token(ctx, name, &reply, "created user");
out:
    json_decref(body);
    ctl_reply_cleanup(&reply);
    return code;
}

static int cmd_user_token(ctl_ctx *ctx)
{
    const char *name = ctx->args->target;
    char path[PATH_MAX_BYTES];
    ctl_reply reply = {0};
    int code = make_path(ctx, path, "/v1/users/", name, "/token");
    if (code == FERRY_CTL_EXIT_OK)
        code = request(ctx, name, "POST", path, NULL, &reply);
    if (code == FERRY_CTL_EXIT_OK)
        code = print_token(ctx, name, &reply, "new token for");
    ctl_reply_cleanup(&reply);
    return code;
}

static int cmd_user_remove(ctl_ctx *ctx)
{
    const char *name = ctx->args->target;
    char path[PATH_MAX_BYTES];
    ctl_reply reply = {0};
    int code = make_path(ctx, path, "/v1/users/", name, NULL);
    if (code == FERRY_CTL_EXIT_OK)
        code = request(ctx, name, "DELETE", path, NULL, &reply);
    if (code == FERRY_CTL_EXIT_OK && ctx->args->json) {
        code = print_json(ctx, name, reply.body);
    } else if (code == FERRY_CTL_EXIT_OK && !ctx->args->quiet) {
        fputs("removed user ", stdout);
        put_clean(stdout, name);
        fputc('\n', stdout);
    }
    ctl_reply_cleanup(&reply);
    return code;
}

/* ---- watch ---- */

/* Terminal rows a frame takes at `cols` columns (long lines wrap). */
static int frame_rows(const char *frame, int cols)
{
    int rows = 0;
    size_t width = 0;
    for (const char *p = frame; *p != '\0'; p++) {
        if (*p == '\n') {
            rows += width == 0 ? 1 : (int)((width + (size_t)cols - 1) / (size_t)cols);
            width = 0;
        } else if (((unsigned char)*p & 0xC0) != 0x80) {
            width++;
        }
    }
    return rows;
}

static int terminal_cols(void)
{
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) != 0 || ws.ws_col == 0)
        return 80;
    return ws.ws_col;
}

/* Sleeps ms, or less when a signal sets watch_stop. */
static void watch_sleep(int64_t ms)
{
    struct timespec left = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000};
    while (watch_stop == 0 && nanosleep(&left, &left) != 0 && errno == EINTR)
        continue;
}

static int cmd_watch(ctl_ctx *ctx)
{
    const ferry_ctl_args *args = ctx->args;
    const char *app = args->target;
    char path[PATH_MAX_BYTES];
    ferry_buf frame = {0};
    char *previous = NULL;
    int shown_rows = 0;
    bool tty = isatty(STDOUT_FILENO) == 1;
    struct sigaction sa, old_int, old_term;
    int code = make_path(ctx, path, "/v1/apps/", app, NULL);
    if (code != FERRY_CTL_EXIT_OK)
        return code;

    /* No SA_RESTART: Ctrl-C must cut the sleep short. */
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_watch_signal;
    sigemptyset(&sa.sa_mask);
    watch_stop = 0;
    (void)sigaction(SIGINT, &sa, &old_int);
    (void)sigaction(SIGTERM, &sa, &old_term);
    ctl_client_set_stop(ctx->client, &watch_stop);

    for (;;) {
        ctl_reply reply = {0};
        ferry_err err = {0};
        ferry_rc rc = ctl_client_call(ctx->client, "GET", path, NULL, &reply, &err);
        if (watch_stop != 0) {
            ctl_reply_cleanup(&reply);
            break;
        }
        if (rc != FERRY_OK || reply.status < 200 || reply.status > 299) {
            code = report(ctx, app, rc, &err, &reply);
            ctl_reply_cleanup(&reply);
            break;
        }
        const json_t *migs = answer_array(ctx, app, &reply, "migrations", &code);
        if (migs == NULL) {
            ctl_reply_cleanup(&reply);
            break;
        }
        bool resting = fv_migrations_resting(migs);
        ferry_buf_reset(&frame);
        fv_watch_frame(&frame, migs, FV_BAR_WIDTH);
        if (resting && !args->quiet) {
            ferry_buf_add(&frame, "\n");
            fv_status_table(&frame, migs);
        }
        ctl_reply_cleanup(&reply);
        if (frame.oom) {
            ferry_err_set(&err, FERRY_ERR_NOMEM, "out of memory");
            code = fail_local(ctx, app, &err, FERRY_CTL_EXIT_UNAVAILABLE);
            break;
        }
        if (!args->quiet && tty) {
            if (shown_rows > 0)
                printf("\033[%dA\r\033[J", shown_rows);
            fputs(frame.p, stdout);
            (void)fflush(stdout);
            shown_rows = frame_rows(frame.p, terminal_cols());
        } else if (!args->quiet && (previous == NULL || strcmp(previous, frame.p) != 0)) {
            /* Not a terminal: a frame only when something changed. */
            if (previous != NULL)
                fputc('\n', stdout);
            fputs(frame.p, stdout);
            (void)fflush(stdout);
            free(previous);
            previous = strdup(frame.p);
        }
        if (resting)
            break;
        watch_sleep(args->interval_ms);
        if (watch_stop != 0)
            break;
    }

    ctl_client_set_stop(ctx->client, NULL);
    (void)sigaction(SIGINT, &old_int, NULL);
    (void)sigaction(SIGTERM, &old_term, NULL);
    free(previous);
    ferry_buf_cleanup(&frame);
    return code;
}

int ctl_cmd_run(const ferry_ctl_args *args, ctl_client *client)
{
    ctl_ctx ctx = {.args = args, .client = client};
    switch (args->verb) {
    case FERRY_CTL_CREATE:
        return cmd_create(&ctx);
    case FERRY_CTL_REPLICATE:
    case FERRY_CTL_STOP:
    case FERRY_CTL_MIGRATE:
        if (ferry_ctl_args_bulk(args))
            return cmd_bulk(&ctx);
        return app_command(&ctx, args->target);
    case FERRY_CTL_TEST_START:
    case FERRY_CTL_TEST_STOP:
    case FERRY_CTL_ROLLBACK:
    case FERRY_CTL_REPLAY:
        return app_command(&ctx, args->target);
    case FERRY_CTL_STATUS:
        return cmd_status(&ctx);
    case FERRY_CTL_WATCH:
        return cmd_watch(&ctx);
    case FERRY_CTL_STEPS:
        return cmd_list(&ctx, LIST_STEPS);
    case FERRY_CTL_WORKERS:
        return cmd_list(&ctx, LIST_WORKERS);
    case FERRY_CTL_HISTORY:
        /* A migration id is APP.ENV; an app name has no dot (docs/spec.md). */
        if (args->target != NULL && strchr(args->target, '.') != NULL)
            return cmd_list(&ctx, LIST_HISTORY);
        return cmd_list(&ctx, LIST_AUDIT);
    case FERRY_CTL_DL_LIST:
        return cmd_list(&ctx, LIST_DEAD_LETTERS);
    case FERRY_CTL_DL_REPLAY:
        return cmd_dl_replay(&ctx);
    case FERRY_CTL_DELETE:
        return cmd_delete(&ctx);
    case FERRY_CTL_WHOAMI:
        return cmd_whoami(&ctx);
    case FERRY_CTL_USER_LIST:
        return cmd_list(&ctx, LIST_USERS);
    case FERRY_CTL_USER_ADD:
        return cmd_user_add(&ctx);
    case FERRY_CTL_USER_REMOVE:
        return cmd_user_remove(&ctx);
    case FERRY_CTL_USER_TOKEN:
        return cmd_user_token(&ctx);
    case FERRY_CTL_HELP:
    case FERRY_CTL_VERSION:
        break;
    }
    return FERRY_CTL_EXIT_USAGE;
}
