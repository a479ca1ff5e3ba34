/*
 * api_parse.h - the part of the API's request handling that depends on the request alone: the
 * token, routing, the query's count, and the body (a spec to create an app, a command's
 * arguments). It touches no store and no socket, so it is what the fuzz target drives
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
} api_route;

/* A request as it arrived; everything borrowed. */
typedef struct api_request {
    const char *method;        /* "GET" */
    const char *url;           /* the path, "/v1/apps/shop/replicate" */
    const char *authorization; /* the Authorization header, or NULL */
    const char *token;         /* the API's bearer token */
    const char *count;         /* the query's count parameter, or NULL */
    const char *body;          /* NULL when none */
    size_t len;
    bool too_large; /* the body went over API_BODY_MAX (it was not kept) */
} api_request;

/* What a request asks, once parsed. Clean up with api_parsed_cleanup(). */
typedef struct api_parsed {
    api_route route;
    char *path;       /* owned: the URL's copy that id points into */
    const char *id;   /* the app, migration or dead letter the URL names; NULL when none */
    int64_t count;    /* history, dead letters: 1..10000 */
    ferry_spec *spec; /* API_APP_CREATE: the parsed spec (owned) */
    /* API_APP_COMMAND */
    fm_verb verb;     /* FM_VERB_INTERRUPT for stop with "interrupt": true */
    char *env, *step; /* owned; NULL when the body names none */
    bool overwrite, force, confirm;
} api_parsed;

/* True when the Authorization header carries the token ("Bearer <token>"); compares in time
 * that depends only on the token's length. */
bool api_token_ok(const char *token, const char *authorization);

/* An error answer's JSON: {"error": {"code": code, "message": ...}}. */
json_t *api_error_json(const char *code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Parses rq into *out (zeroed first). Returns 0 when it is a request to run, else the HTTP
 * status of the answer with its JSON in *error (owned by the caller): 401 without the token
 * (health needs none), 404 for no such endpoint, 405 for a command without POST, 413 for a
 * body over the limit, 400 for a bad count or command body, 422 for a spec that does not
 * parse (with its problems). out needs api_parsed_cleanup() either way.
 */
unsigned api_parse(const api_request *rq, api_parsed *out, json_t **error);

void api_parsed_cleanup(api_parsed *p);

#endif
