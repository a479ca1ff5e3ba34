/*
 * api_parse.h - the part of the API's request handling that depends on the request alone:
 * routing, who may ask for each route, the query's count, and the body (a spec to create an app, a
 * command's arguments). It touches no store and no socket, so it is what the fuzz target drives
 * (fuzz/fuzz_api.c); api.c runs what it parsed.
 */
#ifndef FERRY_API_PARSE_H
#define FERRY_API_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "machine.h"
#include "spec.h"

/* The largest body the API reads; a larger one is refused (413). */
#define API_BODY_MAX (1024 * 1024)

typedef enum api_route {
    API_UNKNOWN, /* no such endpoint (or not parsed yet) */
    API_HEALTH,
    API_APP_CREATE,
    API_APPS_LIST,
    API_APP_GET,
    API_APP_DELETE,
    API_APP_STEPS,
    API_APP_COMMAND,
    API_MIGRATIONS_LIST,
    API_MIGRATION_GET,
    API_MIGRATION_HISTORY,
    API_WORKERS,
    API_DEAD_LETTERS,
    API_DEAD_LETTER_REPLAY,
    API_SESSION_GET,
    API_SESSION_LOGIN,
    API_SESSION_LOGOUT,
    API_USERS_LIST,
    API_USER_CREATE,
    API_USER_DELETE,
    API_USER_TOKEN,
    API_AUDIT,
    API_METRICS,
    API_UI,
} api_route;

/* Who may run a route (docs/console.md): anyone, any user, a user who may run commands on the
 * app the URL names (admin, or operator of it), an admin. */
typedef enum api_need { API_NEED_NOTHING, API_NEED_USER, API_NEED_APP, API_NEED_ADMIN } api_need;

/* A request as it arrived; everything borrowed. */
typedef struct api_request {
    const char *method; /* "GET" */
    const char *url;    /* the path, "/v1/apps/shop/replicate" */
    const char *count;  /* the query's count parameter, or NULL */
    const char *app;    /* the query's app parameter (the audit trail), or NULL */
    const char *body;   /* NULL when none */
    size_t len;
    bool too_large; /* the body went over API_BODY_MAX (it was not kept) */
} api_request;

/* What a request asks, once parsed. Clean up with api_parsed_cleanup(). */
typedef struct api_parsed {
    api_route route;
    char *path;       /* owned: the URL's copy that id points into */
    const char *id;   /* the app, migration, dead letter or user the URL names, the page's
                         file ("index.html" for "/"); NULL when none */
    const char *app;  /* API_AUDIT: only this app's entries; NULL for all */
    json_t *json;     /* API_SESSION_LOGIN, API_USER_CREATE: the body, a JSON object (owned) */
    int64_t count;    /* history, dead letters: 1..10000 */
    ferry_spec *spec; /* API_APP_CREATE: the parsed spec (owned) */
    /* API_APP_COMMAND */
    fm_verb verb;     /* FM_VERB_INTERRUPT for stop with "interrupt": true */
    char *env, *step; /* owned; NULL when the body names none */
    bool overwrite, force, confirm;
} api_parsed;

/* The token an Authorization header carries ("Bearer <token>"), borrowed from it; NULL when
 * there is none. */
const char *api_bearer(const char *authorization);

/* Who may ask for method url, from those two alone (before the body is read): the page's files,
 * health and logging in need nothing, everything else a user. api_route_need() says more once
 * the request is parsed. */
api_need api_need_of(const char *method, const char *url);

/* Who may run the parsed request p. */
api_need api_route_need(const api_parsed *p);

/* Whether the request changes something (anything but GET and HEAD): a request from the page's
 * session must then carry its CSRF token. */
bool api_changes(const char *method);

/* An error answer's JSON: {"error": {"code": code, "message": ...}}. */
json_t *api_error_json(const char *code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Parses rq into *out (zeroed first). Returns 0 when it is a request to run, else the HTTP
 * status of the answer with its JSON in *error (owned by the caller): 404 for no such
 * endpoint, 405 for a command without POST, 413 for a body over the limit, 400 for a bad
 * count or body, 422 for a spec that does not parse (with its problems). Who asks is not
 * looked at here (api.c authenticates first). out->route is set as soon as the URL names one,
 * before the body is read: api.c checks the role on it even when the body is bad, so that a
 * caller learns nothing of a route it may not use. out needs api_parsed_cleanup() either way.
 */
unsigned api_parse(const api_request *rq, api_parsed *out, json_t **error);

void api_parsed_cleanup(api_parsed *p);

#endif
