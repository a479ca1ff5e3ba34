/* api_parse.c - routing and reading a request, before anything is run (see api_parse.h). */
#include "api_parse.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEGMENTS  6
#define COUNT_DEF 100
#define COUNT_MAX 10000

const char *api_bearer(const char *authorization)
{
    if (authorization == NULL || strncmp(authorization, "Bearer ", 7) != 0)
        return NULL;
    return authorization + 7;
}

bool api_changes(const char *method)
{
    return method == NULL || (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0);
}

/* The page: "/" and "/ui/<file>". */
static bool ui_path(const char *url)
{
    return strcmp(url, "/") == 0 || (strncmp(url, "/ui/", 4) == 0 && strchr(url + 4, '/') == NULL);
}

api_need api_need_of(const char *method, const char *url)
{
    method = method != NULL ? method : "";
    url = url != NULL ? url : "";
    if (strcmp(method, "GET") == 0 && (ui_path(url) || strcmp(url, "/v1/health") == 0))
        return API_NEED_NOTHING;
    if (strcmp(method, "POST") == 0 && strcmp(url, "/v1/session") == 0)
        return API_NEED_NOTHING;
    return API_NEED_USER;
}

api_need api_route_need(const api_parsed *p)
{
    switch (p->route) {
    case API_UNKNOWN:
        return API_NEED_ADMIN;
    case API_HEALTH:
    case API_SESSION_LOGIN:
    case API_UI:
        return API_NEED_NOTHING;
    case API_APP_COMMAND:
        return API_NEED_APP;
    case API_APP_CREATE:
    case API_APP_DELETE:
    case API_DEAD_LETTER_REPLAY:
    case API_USERS_LIST:
    case API_USER_CREATE:
    case API_USER_DELETE:
    case API_USER_TOKEN:
        return API_NEED_ADMIN;
    case API_APPS_LIST:
    case API_APP_GET:
    case API_APP_STEPS:
    case API_MIGRATIONS_LIST:
    case API_MIGRATION_GET:
    case API_MIGRATION_HISTORY:
    case API_WORKERS:
    case API_DEAD_LETTERS:
    case API_SESSION_GET:
    case API_SESSION_LOGOUT:
    case API_AUDIT:
    case API_METRICS:
        return API_NEED_USER;
    }
    return API_NEED_ADMIN;
}

json_t *api_error_json(const char *code, const char *fmt, ...)
{
    char msg[1024]; /* a message for people: a longer one is cut, never overrun */
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* JSON strings are UTF-8; a message quoting a URL's raw bytes (or cut inside a character)
     * may not be. Then every non-ASCII byte becomes '?', rather than no answer at all. */
    json_t *text = json_string(msg);
    if (text == NULL) {
        for (char *p = msg; *p != '\0'; p++)
            *p = (unsigned char)*p >= 0x80 ? '?' : *p;
        text = json_string(msg);
    }
    return json_pack("{s:{s:s,s:o}}", "error", "code", code, "message", text);
}

/* The count query parameter: def when absent, at most max, -1 when not a number >= 1. */
static int64_t count_value(const char *c, int64_t def, int64_t max)
{
    if (c == NULL)
        return def;
    char *end = NULL;
    errno = 0;
    long long n = strtoll(c, &end, 10);
    if (errno != 0 || end == c || *end != '\0' || n < 1)
        return -1;
    return n > max ? max : n;
}

/* The spec in the body, or 422 with every problem found. */
static unsigned spec_read(const api_request *rq, api_parsed *out, json_t **error)
{
    ferry_err err = {0};
    ferry_spec_problems problems = {0};
    if (ferry_spec_parse(rq->body != NULL ? rq->body : "", rq->len, &out->spec, &problems, &err) ==
        FERRY_OK)
        return 0;
    json_t *list = json_array();
    for (size_t i = 0; i < problems.count; i++)
        json_array_append_new(list, json_pack("{s:s,s:s}", "path", problems.items[i].path,
                                              "message", problems.items[i].message));
    *error = json_pack("{s:{s:s,s:s,s:o}}", "error", "code", "invalid_spec", "message", err.msg,
                       "problems", list);
    ferry_spec_problems_cleanup(&problems);
    return 422;
}

/* A command's body: an optional JSON object of env and step (strings) and interrupt,
 * overwrite, force and confirm (booleans). 400 otherwise. */
static unsigned command_read(const api_request *rq, api_parsed *out, json_t **error)
{
    json_t *body = NULL;
    if (rq->len > 0) {
        json_error_t jerr;
        body = json_loadb(rq->body, rq->len, 0, &jerr);
        if (body == NULL || !json_is_object(body)) {
            json_decref(body);
            *error = api_error_json("bad_request", "the body is not a JSON object: %s", jerr.text);
            return 400;
        }
    }
    json_t *jenv = json_object_get(body, "env");
    json_t *jstep = json_object_get(body, "step");
    static const char *const flags[] = {"interrupt", "overwrite", "force", "confirm"};
    bool flag_ok = true;
    for (size_t f = 0; f < sizeof(flags) / sizeof(flags[0]); f++) {
        json_t *v = json_object_get(body, flags[f]);
        flag_ok = flag_ok && (v == NULL || json_is_boolean(v));
    }
    if ((jenv != NULL && !json_is_string(jenv) && !json_is_null(jenv)) ||
        (jstep != NULL && !json_is_string(jstep) && !json_is_null(jstep)) || !flag_ok) {
        json_decref(body);
        *error = api_error_json("bad_request",
                                "env and step are strings; interrupt, overwrite, force and "
                                "confirm are true or false");
        return 400;
    }
    const char *env = json_string_value(jenv), *step = json_string_value(jstep);
    out->env = env != NULL ? strdup(env) : NULL;
    out->step = step != NULL ? strdup(step) : NULL;
    out->overwrite = json_is_true(json_object_get(body, "overwrite"));
    out->force = json_is_true(json_object_get(body, "force"));
    out->confirm = json_is_true(json_object_get(body, "confirm"));
    if (out->verb == FM_VERB_STOP && json_is_true(json_object_get(body, "interrupt")))
        out->verb = FM_VERB_INTERRUPT;
    json_decref(body);
    if ((env != NULL && out->env == NULL) || (step != NULL && out->step == NULL)) {
        *error = api_error_json("internal", "out of memory");
        return 500;
    }
    return 0;
}

/* A body that must be a JSON object (login, a new user): kept in out->json. secret: the body
 * holds a token, so the message says where the JSON is wrong but never quotes it (jansson's
 * text would: "... near 'fy1.ops...'"), as it reaches the answer and the audit trail. */
static unsigned object_read(const api_request *rq, api_parsed *out, bool secret, json_t **error)
{
    json_error_t jerr;
    out->json = json_loadb(rq->body != NULL ? rq->body : "", rq->len, 0, &jerr);
    if (out->json == NULL && secret) {
        *error = api_error_json("bad_request",
                                "the body is not a JSON object (at character %d): expected "
                                "{\"token\": \"...\"}",
                                jerr.position);
        return 400;
    }
    if (out->json == NULL || !json_is_object(out->json)) {
        *error = api_error_json("bad_request", "the body is not a JSON object: %s",
                                out->json == NULL ? jerr.text : "another JSON value");
        return 400;
    }
    return 0;
}

/* /v1/session and /v1/users...: seg[1] is "session" or "users", n segments. */
static unsigned access_route(const api_request *rq, api_parsed *out, char **seg, size_t n, bool get,
                             bool post, bool del, json_t **error)
{
    if (strcmp(seg[1], "session") == 0 && n == 2) {
        out->route = get ? API_SESSION_GET : post ? API_SESSION_LOGIN : API_SESSION_LOGOUT;
        if (!get && !post && !del) {
            *error = api_error_json("method_not_allowed", "%s takes GET, POST or DELETE", rq->url);
            return 405;
        }
        return post ? object_read(rq, out, true, error) : 0;
    }
    out->id = n >= 3 ? seg[2] : NULL;
    if (n == 2 && (get || post)) {
        out->route = get ? API_USERS_LIST : API_USER_CREATE;
        return post ? object_read(rq, out, false, error) : 0;
    }
    if (n == 3 && del) {
        out->route = API_USER_DELETE;
        return 0;
    }
    if (n == 4 && post && strcmp(seg[3], "token") == 0) {
        out->route = API_USER_TOKEN;
        return 0;
    }
    *error = api_error_json("not_found", "no such endpoint: %s %s", rq->method, rq->url);
    return 404;
}

/* Routes below /v1/apps: seg[0] "v1", seg[1] "apps", n segments. */
static unsigned apps_route(const api_request *rq, api_parsed *out, char **seg, size_t n, bool get,
                           bool post, bool del, json_t **error)
{
    static const struct {
        const char *name;
        fm_verb verb;
    } verbs[] = {{"replicate", FM_VERB_REPLICATE},   {"stop", FM_VERB_STOP},
                 {"test-start", FM_VERB_TEST_START}, {"test-stop", FM_VERB_TEST_STOP},
                 {"migrate", FM_VERB_MIGRATE},       {"rollback", FM_VERB_ROLLBACK},
                 {"replay", FM_VERB_REPLAY}};
    out->id = n >= 3 ? seg[2] : NULL;
    if (n == 2 && post) {
        out->route = API_APP_CREATE;
        return spec_read(rq, out, error);
    }
    if (n == 2 && get) {
        out->route = API_APPS_LIST;
        return 0;
    }
    if (n == 3 && (get || del)) {
        out->route = get ? API_APP_GET : API_APP_DELETE;
        return 0;
    }
    if (n == 4 && get && strcmp(seg[3], "steps") == 0) {
        out->route = API_APP_STEPS;
        return 0;
    }
    for (size_t i = 0; n == 4 && i < sizeof(verbs) / sizeof(verbs[0]); i++) {
        if (strcmp(seg[3], verbs[i].name) != 0)
            continue;
        if (!post) {
            *error = api_error_json("method_not_allowed", "%s needs POST", rq->url);
            return 405;
        }
        out->route = API_APP_COMMAND;
        out->verb = verbs[i].verb;
        return command_read(rq, out, error);
    }
    *error = api_error_json("not_found", "no such endpoint: %s %s", rq->method, rq->url);
    return 404;
}

unsigned api_parse(const api_request *rq, api_parsed *out, json_t **error)
{
    memset(out, 0, sizeof(*out));
    *error = NULL;
    const char *method = rq->method != NULL ? rq->method : "";
    const char *url = rq->url != NULL ? rq->url : "";
    out->path = strdup(url);
    if (out->path == NULL) {
        *error = api_error_json("internal", "out of memory");
        return 500;
    }
    char *seg[SEGMENTS] = {0};
    size_t n = 0;
    for (char *p = out->path; *p != '\0' && n < SEGMENTS;) {
        while (*p == '/')
            p++;
        if (*p == '\0')
            break;
        seg[n++] = p;
        p += strcspn(p, "/");
        if (*p == '/')
            *p++ = '\0';
    }
    bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    bool del = strcmp(method, "DELETE") == 0;
    if (get && ui_path(url)) {
        out->route = API_UI;
        out->id = n == 2 ? seg[1] : "index.html";
        return 0;
    }
    if (get && strcmp(url, "/metrics") == 0) {
        out->route = API_METRICS;
        return 0;
    }
    if (n < 2 || strcmp(seg[0], "v1") != 0) {
        *error = api_error_json("not_found", "no such endpoint: %s", url);
        return 404;
    }
    if (n == 2 && strcmp(seg[1], "health") == 0) {
        out->route = API_HEALTH; /* answered without the token */
        return 0;
    }
    if (rq->too_large) {
        *error = api_error_json("too_large", "the body is larger than %d bytes", API_BODY_MAX);
        return 413;
    }

    if (strcmp(seg[1], "apps") == 0)
        return apps_route(rq, out, seg, n, get, post, del, error);
    if (strcmp(seg[1], "session") == 0 || strcmp(seg[1], "users") == 0)
        return access_route(rq, out, seg, n, get, post, del, error);
    bool history = false;
    if (strcmp(seg[1], "migrations") == 0) {
        out->id = n >= 3 ? seg[2] : NULL;
        if (n == 2 && get) {
            out->route = API_MIGRATIONS_LIST;
            return 0;
        }
        if (n == 3 && get) {
            out->route = API_MIGRATION_GET;
            return 0;
        }
        history = n == 4 && get && strcmp(seg[3], "history") == 0;
        if (history)
            out->route = API_MIGRATION_HISTORY;
    } else if (strcmp(seg[1], "audit") == 0 && n == 2 && get) {
        history = true;
        out->route = API_AUDIT;
        out->app = rq->app != NULL && rq->app[0] != '\0' ? rq->app : NULL;
    } else if (strcmp(seg[1], "workers") == 0 && n == 2 && get) {
        out->route = API_WORKERS;
        return 0;
    } else if (strcmp(seg[1], "dead-letters") == 0) {
        history = n == 2 && get;
        if (history)
            out->route = API_DEAD_LETTERS;
        if (n == 4 && post && strcmp(seg[3], "replay") == 0) {
            out->route = API_DEAD_LETTER_REPLAY;
            out->id = seg[2];
            return 0;
        }
    }
    if (!history) {
        *error = api_error_json("not_found", "no such endpoint: %s %s", method, url);
        return 404;
    }
    out->count = count_value(rq->count, COUNT_DEF, COUNT_MAX);
    if (out->count < 0) {
        *error = api_error_json("bad_request", "count: a number from 1 to %d", COUNT_MAX);
        return 400;
    }
    return 0;
}

void api_parsed_cleanup(api_parsed *p)
{
    if (p == NULL)
        return;
    free(p->path);
    free(p->env);
    free(p->step);
    json_decref(p->json);
    ferry_spec_free(p->spec);
    memset(p, 0, sizeof(*p));
}
