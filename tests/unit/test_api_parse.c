/*
 * test_api_parse.c - the API's request handling before anything runs (coordinator/api_parse.c):
 * the token from the header, routes, the count, command bodies, and an error answer for a URL
 * that is not UTF-8 (fuzz_api found that it used to get no answer at all).
 */
#include <string.h>

#include "api_parse.h"
#include "ferry_test.h"

#define TOKEN "s3cret-token"

static unsigned parse(const char *method, const char *url, const char *auth, const char *count,
                      const char *body, api_parsed *p, json_t **error)
{
    api_request rq = {.method = method,
                      .url = url,
                      .authorization = auth,
                      .token = TOKEN,
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

static void token_checked_before_anything(void)
{
    api_parsed p;
    json_t *error = NULL;
    CU_ASSERT_EQUAL(parse("GET", "/v1/apps", NULL, NULL, NULL, &p, &error), 401);
    CU_ASSERT_STRING_EQUAL(error_code(error), "unauthorized");
    json_decref(error);
    api_parsed_cleanup(&p);
    CU_ASSERT_EQUAL(parse("POST", "/v1/apps", "Bearer s3cret-tokeN", NULL, "{", &p, &error), 401);
    json_decref(error);
    api_parsed_cleanup(&p);
    CU_ASSERT_EQUAL(
        parse("POST", "/v1/apps", "Bearer s3cret-token-and-more", NULL, NULL, &p, &error), 401);
    json_decref(error);
    api_parsed_cleanup(&p);
    /* Health needs none. */
    CU_ASSERT_EQUAL(parse("GET", "/v1/health", NULL, NULL, NULL, &p, &error), 0);
    CU_ASSERT_EQUAL(p.route, API_HEALTH);
    CU_ASSERT_PTR_NULL(error);
    api_parsed_cleanup(&p);
    CU_ASSERT_TRUE(api_token_ok(TOKEN, "Bearer " TOKEN));
    CU_ASSERT_FALSE(api_token_ok(TOKEN, "bearer " TOKEN));
    CU_ASSERT_FALSE(api_token_ok(TOKEN, NULL));
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
    {"the token is checked before anything but health", token_checked_before_anything},
    {"routes, counts and bodies", routes_and_bodies},
    {"a URL that is not UTF-8 still gets its error answer", url_not_utf8_still_answered},
    {NULL, NULL},
};

int main(void)
{
    static const ferry_test_suite suites[] = {{"api_parse", NULL, NULL, cases}, {NULL}};
    return ferry_test_main(suites);
}
