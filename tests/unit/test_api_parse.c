/*
 * test_api_parse.c - the API's request handling before anything runs (coordinator/api_parse.c):
 * who may ask for each route, routes, the count, command bodies, and an error answer for a URL
 * that is not UTF-8 (fuzz_api found that it used to get no answer at all).
 */
#include <string.h>

#include "api_parse.h"
#include "ferry_test.h"

#define TOKEN "s3cret-token"

static unsigned parse(const char *method, const char *url, const char *auth, const char *count,
                      const char *body, api_parsed *p, json_t **error)
{
    (void)auth; /* api.c authenticates before parsing (docs/console.md) */
    api_request rq = {.method = method,
                      .url = url,
                      .count = count,
                      .body = body,
                      .len = body != NULL ? strlen(body) : 0};
    return api_parse(&rq, p, error);
}

static const char *error_code(const json_t *error)
{
    return json_string_value(json_object_get(json_object_get(error, "error"), "code"));
}

static const char *error_message(const json_t *error)
{
    return json_string_value(json_object_get(json_object_get(error, "error"), "message"));
}

/* The gate before the body (api_need_of) never lets through what the parsed route
 * (api_route_need) would refuse, and each route needs what docs/console.md says. */
static void who_may_ask(void)
{
    static const struct {
        const char *method, *url, *body;
        api_route route;
        api_need need;
    } cases[] = {
        {"GET", "/v1/health", NULL, API_HEALTH, API_NEED_NOTHING},
        {"GET", "/", NULL, API_UI, API_NEED_NOTHING},
        {"GET", "/ui/app.js", NULL, API_UI, API_NEED_NOTHING},
        {"POST", "/v1/session", "{\"token\": \"x\"}", API_SESSION_LOGIN, API_NEED_NOTHING},
        {"GET", "/v1/session", NULL, API_SESSION_GET, API_NEED_USER},
        {"DELETE", "/v1/session", NULL, API_SESSION_LOGOUT, API_NEED_USER},
        {"GET", "/metrics", NULL, API_METRICS, API_NEED_USER},
        {"GET", "/v1/apps", NULL, API_APPS_LIST, API_NEED_USER},
        {"GET", "/v1/migrations/shop.production", NULL, API_MIGRATION_GET, API_NEED_USER},
        {"GET", "/v1/audit", NULL, API_AUDIT, API_NEED_USER},
        {"POST", "/v1/apps/shop/migrate", NULL, API_APP_COMMAND, API_NEED_APP},
        {"POST", "/v1/apps/shop/replay", "{}", API_APP_COMMAND, API_NEED_APP},
        {"DELETE", "/v1/apps/shop", NULL, API_APP_DELETE, API_NEED_ADMIN},
        {"POST", "/v1/dead-letters/1-0/replay", NULL, API_DEAD_LETTER_REPLAY, API_NEED_ADMIN},
        {"GET", "/v1/users", NULL, API_USERS_LIST, API_NEED_ADMIN},
        {"POST", "/v1/users", "{\"name\": \"x\"}", API_USER_CREATE, API_NEED_ADMIN},
        {"DELETE", "/v1/users/x", NULL, API_USER_DELETE, API_NEED_ADMIN},
        {"POST", "/v1/users/x/token", NULL, API_USER_TOKEN, API_NEED_ADMIN},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        api_parsed p;
        json_t *error = NULL;
        CU_ASSERT_EQUAL(parse(cases[i].method, cases[i].url, NULL, NULL, cases[i].body, &p, &error),
                        0);
        CU_ASSERT_EQUAL(p.route, cases[i].route);
        CU_ASSERT_EQUAL(api_route_need(&p), cases[i].need);
        CU_ASSERT_EQUAL(api_need_of(cases[i].method, cases[i].url) == API_NEED_NOTHING,
                        cases[i].need == API_NEED_NOTHING);
        json_decref(error);
        api_parsed_cleanup(&p);
    }
    api_parsed p;
    json_t *error = NULL;
    /* Paths the gate lets through unauthenticated are only the page's own files. */
    CU_ASSERT_EQUAL(api_need_of("GET", "/ui/a/b"), API_NEED_USER);
    CU_ASSERT_EQUAL(api_need_of("POST", "/"), API_NEED_USER);
    CU_ASSERT_EQUAL(api_need_of("GET", "/v1/session"), API_NEED_USER);
    CU_ASSERT_EQUAL(parse("POST", "/v1/session", NULL, NULL, "[1]", &p, &error), 400);
    json_decref(error);
    api_parsed_cleanup(&p);
    /* A login body that is not JSON: the answer (and so the audit trail) never quotes it, as
     * jansson's message would ("invalid escape near '\"fy1.ops.S3CRET\\q'"). */
    CU_ASSERT_EQUAL(
        parse("POST", "/v1/session", NULL, NULL, "{\"token\": \"fy1.ops.S3CRET\\q\"}", &p, &error),
        400);
    CU_ASSERT_PTR_NULL(strstr(error_message(error), "S3CRET"));
    json_decref(error);
    api_parsed_cleanup(&p);
    /* The route is known before the body is read: a bad body is refused by role first. */
    CU_ASSERT_EQUAL(parse("POST", "/v1/apps", NULL, NULL, "{}", &p, &error), 422);
    CU_ASSERT_EQUAL(p.route, API_APP_CREATE);
    CU_ASSERT_EQUAL(api_route_need(&p), API_NEED_ADMIN);
    json_decref(error);
    api_parsed_cleanup(&p);
    CU_ASSERT_EQUAL(parse("GET", "/v1/nothing", NULL, NULL, NULL, &p, &error), 404);
    CU_ASSERT_EQUAL(p.route, API_UNKNOWN);
    json_decref(error);
    api_parsed_cleanup(&p);
    CU_ASSERT_STRING_EQUAL(api_bearer("Bearer abc"), "abc");
    CU_ASSERT_PTR_NULL(api_bearer("bearer abc"));
    CU_ASSERT_PTR_NULL(api_bearer(NULL));
    CU_ASSERT_TRUE(api_changes("POST"));
    CU_ASSERT_FALSE(api_changes("GET"));
}

static void routes_and_bodies(void)
{
    api_parsed p;
    json_t *error = NULL;
    const char *auth = "Bearer " TOKEN;
    CU_ASSERT_EQUAL(parse("POST", "/v1/apps/shop/stop", auth, NULL,
                          "{\"env\": \"test\", \"interrupt\": true}", &p, &error),
                    0);
    CU_ASSERT_EQUAL(p.route, API_APP_COMMAND);
    CU_ASSERT_EQUAL(p.verb, FM_VERB_INTERRUPT);
    CU_ASSERT_STRING_EQUAL(p.id, "shop");
    CU_ASSERT_STRING_EQUAL(p.env, "test");
    api_parsed_cleanup(&p);

    CU_ASSERT_EQUAL(parse("GET", "/v1/apps/shop/replicate", auth, NULL, NULL, &p, &error), 405);
    json_decref(error);
    api_parsed_cleanup(&p);
    CU_ASSERT_EQUAL(parse("POST", "/v1/apps/shop/replay", auth, NULL, "{\"step\": 3}", &p, &error),
                    400);
    json_decref(error);
    api_parsed_cleanup(&p);
    CU_ASSERT_EQUAL(parse("POST", "/v1/apps", auth, NULL, "{\"app\": 1}", &p, &error), 422);
    CU_ASSERT_STRING_EQUAL(error_code(error), "invalid_spec");
    CU_ASSERT_TRUE(json_array_size(json_object_get(json_object_get(error, "error"), "problems")) >
                   0);
    json_decref(error);
    api_parsed_cleanup(&p);

    CU_ASSERT_EQUAL(
        parse("GET", "/v1/migrations/shop.production/history", auth, "20000", NULL, &p, &error), 0);
    CU_ASSERT_EQUAL(p.count, 10000);
    api_parsed_cleanup(&p);
    CU_ASSERT_EQUAL(parse("GET", "/v1/dead-letters", auth, "0", NULL, &p, &error), 400);
    json_decref(error);
    api_parsed_cleanup(&p);
}

static void url_not_utf8_still_answered(void)
{
    api_parsed p;
    json_t *error = NULL;
    CU_ASSERT_EQUAL(
        parse("GET", "/v1/dead-letters/\xff\xfe/x/y", "Bearer " TOKEN, NULL, NULL, &p, &error),
        404);
    CU_ASSERT_PTR_NOT_NULL_FATAL(error);
    CU_ASSERT_STRING_EQUAL(error_code(error), "not_found");
    CU_ASSERT_PTR_NOT_NULL(strstr(error_message(error), "/v1/dead-letters/?"
                                                        "?/x/y"));
    json_decref(error);
    api_parsed_cleanup(&p);
}

static const ferry_test_case cases[] = {
    {"who may ask for each route", who_may_ask},
    {"routes, counts and bodies", routes_and_bodies},
    {"a URL that is not UTF-8 still gets its error answer", url_not_utf8_still_answered},
    {NULL, NULL},
};

int main(void)
{
    static const ferry_test_suite suites[] = {{"api_parse", NULL, NULL, cases}, {NULL}};
    return ferry_test_main(suites);
}
