/* Unit tests for spec/spec.c: the example, every class of problem with its path, renaming.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ferry_test.h"
#include "spec.h"

/* docs/examples/shop.json: from the build when it says where, else beside this file. */
#ifndef FERRY_SPEC_EXAMPLE
#define FERRY_SPEC_EXAMPLE_REL "/../../docs/examples/shop.json"
#endif

static char *file_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *text = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = 2 * cap + 4096 + 1;
            char *grown = realloc(text, cap);
            if (grown == NULL)
                break;
            text = grown;
        }
        size_t got = fread(text + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    fclose(f);
    if (text != NULL)
        text[n] = '\0';
    *len = n;
    return text;
}

/* A file of the source tree, given relative to this file's directory. */
static char *source_read(const char *rel, size_t *len)
{
    char path[4096];
    const char *here = __FILE__;
    const char *slash = strrchr(here, '/');
    int dir_len = slash != NULL ? (int)(slash - here) : 1;
    int n = snprintf(path, sizeof(path), "%.*s%s", dir_len, slash != NULL ? here : ".", rel);
    if (n < 0 || (size_t)n >= sizeof(path))
        return NULL;
    return file_read(path, len);
}

static char *example_read(size_t *len)
{
#ifdef FERRY_SPEC_EXAMPLE
    return file_read(FERRY_SPEC_EXAMPLE, len);
#else
    return source_read(FERRY_SPEC_EXAMPLE_REL, len);
#endif
}

static json_t *example_json(void)
{
    size_t len = 0;
    char *text = example_read(&len);
    if (text == NULL)
        return NULL;
    json_t *doc = json_loadb(text, len, 0, NULL);
    free(text);
    return doc;
}

/* Sets (value != NULL, reference stolen) or deletes the field at a dotted path of keys. */
static int doc_set(json_t *doc, const char *path, json_t *value)
{
    json_t *obj = doc;
    char key[128];
    for (;;) {
        size_t n = strcspn(path, ".");
        if (n >= sizeof(key) || !json_is_object(obj))
            break;
        memcpy(key, path, n);
        key[n] = '\0';
        if (path[n] == '\0') {
            return value != NULL ? json_object_set_new(obj, key, value) : json_object_del(obj, key);
        }
        obj = json_object_get(obj, key);
        path += n + 1;
    }
    json_decref(value);
    return -1;
}

static ferry_rc doc_parse(json_t *doc, ferry_spec **spec, ferry_spec_problems *pr, ferry_err *err)
{
    char *text = json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    ferry_rc rc = ferry_spec_parse(text, strlen(text), spec, pr, err);
    free(text);
    return rc;
}

static ferry_rc text_parse(const char *text, ferry_spec **spec, ferry_spec_problems *pr,
                           ferry_err *err)
{
    return ferry_spec_parse(text, strlen(text), spec, pr, err);
}

static const ferry_spec_problem *problem_find(const ferry_spec_problems *pr, const char *path,
                                              const char *needle)
{
    for (size_t i = 0; i < pr->count; i++) {
        if (strcmp(pr->items[i].path, path) == 0 && strstr(pr->items[i].message, needle) != NULL)
            return &pr->items[i];
    }
    return NULL;
}

static void problems_print(const ferry_spec_problems *pr)
{
    for (size_t i = 0; i < pr->count; i++)
        fprintf(stderr, "    %s: %s\n", pr->items[i].path, pr->items[i].message);
}

/* No problem's path or message, nor the error's message, holds needle. */
static void assert_not_repeated(const ferry_spec_problems *pr, const ferry_err *err,
                                const char *needle)
{
    for (size_t i = 0; i < pr->count; i++) {
        CU_ASSERT_PTR_NULL(strstr(pr->items[i].path, needle));
        CU_ASSERT_PTR_NULL(strstr(pr->items[i].message, needle));
    }
    CU_ASSERT_PTR_NULL(strstr(err->msg, needle));
}

/* ---- the example -------------------------------------------------------------------------- */

static void example_parses_and_every_field_lands(void)
{
    size_t len = 0;
    char *text = example_read(&len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    ferry_spec *spec = NULL;
    ferry_spec_problems pr;
    ferry_err err;
    ferry_err_clear(&err);
    ferry_rc rc = ferry_spec_parse(text, len, &spec, &pr, &err);
    free(text);
    if (rc != FERRY_OK) {
        fprintf(stderr, "\n  %s\n", err.msg);
        problems_print(&pr);
    }
    CU_ASSERT_EQUAL_FATAL(rc, FERRY_OK);
    CU_ASSERT_EQUAL(pr.count, 0);
    CU_ASSERT_PTR_NULL(pr.items);
    CU_ASSERT_PTR_NOT_NULL_FATAL(spec);

    CU_ASSERT_STRING_EQUAL(spec->app, "shop");
    CU_ASSERT_EQUAL(spec->options.file_sync_pause_ms, 5 * 60 * 1000);
    CU_ASSERT_STRING_EQUAL(spec->options.source_suffix, "-v3");
    CU_ASSERT_STRING_EQUAL(spec->options.target_suffix, "-v4");
    CU_ASSERT_EQUAL(spec->options.dns_ttl, 300);
    CU_ASSERT_EQUAL_FATAL(spec->n_envs, 2);
    CU_ASSERT_STRING_EQUAL(spec->envs[0].name, "production"); /* in the order of the file */
    CU_ASSERT_STRING_EQUAL(spec->envs[1].name, "test");

    const ferry_spec_env *prod = ferry_spec_env_find(spec, "production");
    CU_ASSERT_PTR_EQUAL_FATAL(prod, &spec->envs[0]);
    const ferry_spec_side *s = &prod->source;
    CU_ASSERT_STRING_EQUAL(s->id, "0b5e7a3c-1d2f-4e6a-8b9c-0d1e2f3a4b5c");
    CU_ASSERT_STRING_EQUAL(s->database.conninfo,
                           "host=127.0.0.1 port=15432 dbname=shop user=ferry");
    CU_ASSERT_STRING_EQUAL(s->database.password_secret, "PG_SOURCE");
    CU_ASSERT_STRING_EQUAL(s->files.directory, "/tmp/ferry-stack/files/shop-v3/production");
    CU_ASSERT_PTR_NULL(s->files.s3_bucket);
    CU_ASSERT_PTR_NULL(s->files.s3_prefix);
    CU_ASSERT_PTR_NULL(s->files.s3_endpoint);
    CU_ASSERT_PTR_NULL(s->files.s3_region);
    CU_ASSERT_PTR_NULL(s->files.access_key_secret);
    CU_ASSERT_STRING_EQUAL(s->dns.zone, "ferry.test.");
    CU_ASSERT_EQUAL_FATAL(s->dns.n_names, 1);
    CU_ASSERT_STRING_EQUAL(s->dns.names[0], "shop.ferry.test.");
    CU_ASSERT_STRING_EQUAL(s->dns.api_key_secret, "PDNS_API_KEY");
    CU_ASSERT_STRING_EQUAL(s->runtime.platform, "supervisor");
    CU_ASSERT_STRING_EQUAL(s->runtime.app, "shop-v3-production");
    CU_ASSERT_STRING_EQUAL(s->runtime.environment, "production"); /* default: the env's name */
    CU_ASSERT_PTR_NULL(s->runtime.credentials_secret);
    CU_ASSERT_PTR_NULL(s->runtime.health_url);
    CU_ASSERT_EQUAL(s->runtime.timeout_seconds, 120); /* "2m" */

    const ferry_spec_side *t = &prod->target;
    CU_ASSERT_STRING_EQUAL(t->id, "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d");
    CU_ASSERT_STRING_EQUAL(t->database.conninfo, "postgresql://ferry@127.0.0.1:15433/shop");
    CU_ASSERT_STRING_EQUAL(t->database.password_secret, "PG_TARGET");
    CU_ASSERT_PTR_NULL(t->files.directory);
    CU_ASSERT_STRING_EQUAL(t->files.s3_bucket, "shop-v4");
    CU_ASSERT_STRING_EQUAL(t->files.s3_prefix, "production/");
    CU_ASSERT_STRING_EQUAL(t->files.s3_endpoint, "http://127.0.0.1:18080");
    CU_ASSERT_STRING_EQUAL(t->files.s3_region, "us-east-1");
    CU_ASSERT_STRING_EQUAL(t->files.access_key_secret, "S3_ACCESS_KEY");
    CU_ASSERT_STRING_EQUAL(t->files.secret_key_secret, "S3_SECRET_KEY");
    CU_ASSERT_STRING_EQUAL(t->dns.zone, "ferry.test.");
    CU_ASSERT_EQUAL_FATAL(t->dns.n_names, 1);
    CU_ASSERT_STRING_EQUAL(t->dns.names[0], "shop-v4.ferry.test.");
    CU_ASSERT_STRING_EQUAL(t->runtime.app, "shop-v4-production");
    CU_ASSERT_STRING_EQUAL(t->runtime.environment, "production");
    CU_ASSERT_EQUAL(t->runtime.timeout_seconds, 120); /* the number 120: seconds */

    const ferry_spec_env *test = ferry_spec_env_find(spec, "test");
    CU_ASSERT_PTR_EQUAL_FATAL(test, &spec->envs[1]);
    CU_ASSERT_STRING_EQUAL(test->source.database.conninfo,
                           "host=127.0.0.1 port=15432 dbname=shop_test user=ferry");
    CU_ASSERT_STRING_EQUAL(test->source.files.s3_bucket, "shop-v3");
    CU_ASSERT_STRING_EQUAL(test->source.files.s3_prefix, "test/");
    CU_ASSERT_STRING_EQUAL(test->source.files.s3_region, "us-east-1"); /* the default */
    CU_ASSERT_PTR_NULL(test->source.dns.api_key_secret);
    CU_ASSERT_STRING_EQUAL(test->source.dns.names[0], "shop-test.ferry.test.");
    CU_ASSERT_STRING_EQUAL(test->target.dns.names[0], "shop-v4-test.ferry.test.");
    CU_ASSERT_STRING_EQUAL(test->source.runtime.environment, "test");
    CU_ASSERT_EQUAL(test->source.runtime.timeout_seconds, 300); /* the default */
    CU_ASSERT_STRING_EQUAL(test->target.runtime.app, "shop-v4-test");
    CU_ASSERT_STRING_EQUAL(test->target.files.s3_prefix, "test/");

    CU_ASSERT_PTR_NULL(ferry_spec_env_find(spec, "acceptance"));
    CU_ASSERT_PTR_NULL(ferry_spec_env_find(spec, NULL));
    ferry_spec_free(spec);
    ferry_spec_free(NULL);
    ferry_spec_problems_cleanup(&pr);
    ferry_spec_problems_cleanup(NULL);
}

/* The smallest valid spec: every optional field left out. */
static const char minimal[] =
    "{\"app\": \"crm\", \"environments\": {\"acceptance\": {"
    " \"source\": {\"id\": \"s1\", \"database\": {\"conninfo\": \"dbname=crm\"},"
    "   \"files\": {\"url\": \"s3://crm-v3\", \"endpoint\": \"https://s3.example.com\"},"
    "   \"dns\": {\"zone\": \"example.com.\", \"names\": [\"crm-accp.example.com.\"]},"
    "   \"runtime\": {\"platform\": \"mendix\", \"app\": \"crm\"}},"
    " \"target\": {\"id\": \"t1\", \"database\": {\"conninfo\": \"dbname=crm4\"},"
    "   \"files\": {\"directory\": \"/srv/crm\"},"
    "   \"dns\": {\"zone\": \"example.com.\", \"names\": [\"crm-v4-accp.example.com.\"]},"
    "   \"runtime\": {\"platform\": \"mendix\", \"app\": \"crm-v4\", \"health_url\": "
    "     \"http://crm-v4-accp.example.com/health?deep=1\", \"credentials_secret\": "
    "\"MX_API\"}}}}}";

static void defaults_fill_what_is_left_out(void)
{
    ferry_spec *spec = NULL;
    ferry_spec_problems pr;
    ferry_err err;
    ferry_rc rc = text_parse(minimal, &spec, &pr, &err);
    if (rc != FERRY_OK)
        problems_print(&pr);
    CU_ASSERT_EQUAL_FATAL(rc, FERRY_OK);
    CU_ASSERT_EQUAL(spec->options.file_sync_pause_ms, 300000);
    CU_ASSERT_STRING_EQUAL(spec->options.source_suffix, "-v3");
    CU_ASSERT_STRING_EQUAL(spec->options.target_suffix, "-v4");
    CU_ASSERT_EQUAL(spec->options.dns_ttl, 300);
    const ferry_spec_env *env = ferry_spec_env_find(spec, "acceptance");
    CU_ASSERT_PTR_NOT_NULL_FATAL(env);
    CU_ASSERT_PTR_NULL(env->source.database.password_secret);
    CU_ASSERT_EQUAL(env->source.database.method, FERRY_SPEC_DB_AUTO);
    CU_ASSERT_EQUAL(env->source.database.max_retained_wal, 0);
    CU_ASSERT_STRING_EQUAL(env->source.files.s3_bucket, "crm-v3");
    CU_ASSERT_STRING_EQUAL(env->source.files.s3_prefix, ""); /* the whole bucket */
    CU_ASSERT_STRING_EQUAL(env->source.files.s3_region, "us-east-1");
    CU_ASSERT_PTR_NULL(env->source.files.access_key_secret);
    CU_ASSERT_PTR_NULL(env->source.files.secret_key_secret);
    CU_ASSERT_PTR_NULL(env->source.dns.api_key_secret);
    CU_ASSERT_STRING_EQUAL(env->source.runtime.environment, "acceptance");
    CU_ASSERT_EQUAL(env->source.runtime.timeout_seconds, 300);
    CU_ASSERT_PTR_NULL(env->source.runtime.credentials_secret);
    CU_ASSERT_STRING_EQUAL(env->target.files.directory, "/srv/crm");
    CU_ASSERT_STRING_EQUAL(env->target.runtime.credentials_secret, "MX_API");
    CU_ASSERT_STRING_EQUAL(env->target.runtime.health_url,
                           "http://crm-v4-accp.example.com/health?deep=1");
    ferry_spec_free(spec);
}

/* The database's method and WAL limit, on the source side. */
static void the_method_and_its_limit_land(void)
{
    json_t *doc = example_json();
    CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
    CU_ASSERT_EQUAL_FATAL(
        doc_set(doc, "environments.production.source.database.method", json_string("logical")), 0);
    CU_ASSERT_EQUAL_FATAL(doc_set(doc, "environments.production.source.database.max_retained_wal",
                                  json_string("20G")),
                          0);
    ferry_spec *spec = NULL;
    ferry_spec_problems pr;
    ferry_err err;
    ferry_rc rc = doc_parse(doc, &spec, &pr, &err);
    if (rc != FERRY_OK)
        problems_print(&pr);
    CU_ASSERT_EQUAL_FATAL(rc, FERRY_OK);
    const ferry_spec_env *env = ferry_spec_env_find(spec, "production");
    CU_ASSERT_PTR_NOT_NULL_FATAL(env);
    CU_ASSERT_EQUAL(env->source.database.method, FERRY_SPEC_DB_LOGICAL);
    CU_ASSERT_STRING_EQUAL(ferry_spec_db_method_name(env->source.database.method), "logical");
    CU_ASSERT_EQUAL(env->source.database.max_retained_wal, INT64_C(20) << 30);
    ferry_spec_free(spec);
    ferry_spec_problems_cleanup(&pr);
    json_decref(doc);
}

/* The full example in docs/spec.md (its last json block) is valid too. */
static void the_documented_example_parses(void)
{
    size_t len = 0;
    char *doc = source_read("/../../docs/spec.md", &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
    const char *start = NULL;
    for (const char *p = strstr(doc, "```json\n"); p != NULL; p = strstr(p + 1, "```json\n"))
        start = p + 8;
    CU_ASSERT_PTR_NOT_NULL_FATAL(start);
    const char *end = strstr(start, "```");
    CU_ASSERT_PTR_NOT_NULL_FATAL(end);
    ferry_spec *spec = NULL;
    ferry_spec_problems pr;
    ferry_err err;
    ferry_rc rc = ferry_spec_parse(start, (size_t)(end - start), &spec, &pr, &err);
    if (rc != FERRY_OK)
        problems_print(&pr);
    CU_ASSERT_EQUAL_FATAL(rc, FERRY_OK);
    CU_ASSERT_EQUAL(spec->n_envs, 2);
    const ferry_spec_env *prod = ferry_spec_env_find(spec, "production");
    CU_ASSERT_PTR_NOT_NULL_FATAL(prod);
    CU_ASSERT_STRING_EQUAL(prod->source.runtime.platform, "mendix");
    CU_ASSERT_STRING_EQUAL(prod->source.runtime.credentials_secret, "MX_API");
    CU_ASSERT_EQUAL(prod->source.runtime.timeout_seconds, 600);
    CU_ASSERT_STRING_EQUAL(prod->source.files.s3_region, "eu-west-1");
    CU_ASSERT_STRING_EQUAL(prod->target.runtime.health_url,
                           "https://shop-v4.mendixcloud.example/health");
    ferry_spec_free(spec);
    free(doc);
}

static void options_take_durations_numbers_and_null(void)
{
    static const struct {
        const char *pause; /* JSON value of file_sync_pause */
        int64_t ms;
    } cases[] = {{"\"90s\"", 90000},    {"90", 90000},        {"1.5", 1500},   {"\"1s\"", 1000},
                 {"\"24h\"", 86400000}, {"\"2500ms\"", 2500}, {"null", 300000}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *doc = example_json();
        CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
        CU_ASSERT_EQUAL(doc_set(doc, "options.file_sync_pause",
                                json_loads(cases[i].pause, JSON_DECODE_ANY, NULL)),
                        0);
        CU_ASSERT_EQUAL(doc_set(doc, "options.dns_ttl", json_integer(60)), 0);
        CU_ASSERT_EQUAL(doc_set(doc, "options.source_suffix", json_null()), 0);
        ferry_spec *spec = NULL;
        ferry_spec_problems pr;
        ferry_err err;
        ferry_rc rc = doc_parse(doc, &spec, &pr, &err);
        if (rc != FERRY_OK)
            problems_print(&pr);
        CU_ASSERT_EQUAL_FATAL(rc, FERRY_OK);
        CU_ASSERT_EQUAL(spec->options.file_sync_pause_ms, cases[i].ms);
        CU_ASSERT_EQUAL(spec->options.dns_ttl, 60);
        CU_ASSERT_STRING_EQUAL(spec->options.source_suffix, "-v3");
        ferry_spec_free(spec);
        json_decref(doc);
    }
}

/* ---- problems ----------------------------------------------------------------------------- */

#define P   "$.environments.production."
#define PS  "$.environments.production.source."
#define PT  "$.environments.production.target."
#define ES  "environments.production.source."
#define ET  "environments.production.target."
#define DEL NULL

/* One mutation of the example and the problem it must cause. */
static const struct {
    const char *set;   /* dotted path in the example */
    const char *value; /* JSON; NULL deletes the field */
    const char *path;  /* the problem's exact path */
    const char *says;  /* part of its message */
    size_t count;      /* problems in all */
} classes[] = {
    /* top level */
    {"app", DEL, "$.app", "required", 1},
    {"app", "5", "$.app", "must be a string", 1},
    {"app", "\"Shop\"", "$.app", "not an app name", 1},
    {"app", "\"-shop\"", "$.app", "not an app name", 1},
    {"app", "\"s0123456789012345678901234567890123456789012345678901234567890123\"", "$.app",
     "not an app name", 1},
    {"app", "\"\"", "$.app", "must not be empty", 1},
    {"apps", "\"shop\"", "$.apps", "unknown key", 1},
    {"options", "[]", "$.options", "must be an object", 1},
    {"environments", DEL, "$.environments", "required", 1},
    {"environments", "{}", "$.environments", "at least one environment", 1},
    {"environments", "[]", "$.environments", "must be an object", 1},
    /* options */
    {"options.ttl", "60", "$.options.ttl", "unknown key", 1},
    {"options.dns_ttl", "0", "$.options.dns_ttl", "between 1 and 86400", 1},
    {"options.dns_ttl", "86401", "$.options.dns_ttl", "between 1 and 86400", 1},
    {"options.dns_ttl", "\"300\"", "$.options.dns_ttl", "must be an integer", 1},
    {"options.file_sync_pause", "\"500ms\"", "$.options.file_sync_pause", "between 1s and 24h", 1},
    {"options.file_sync_pause", "\"25h\"", "$.options.file_sync_pause", "between 1s and 24h", 1},
    {"options.file_sync_pause", "86401", "$.options.file_sync_pause", "between 1s and 24h", 1},
    {"options.file_sync_pause", "-1", "$.options.file_sync_pause", "between 1s and 24h", 1},
    {"options.file_sync_pause", "\"300\"", "$.options.file_sync_pause", "not a duration", 1},
    {"options.file_sync_pause", "\"soon\"", "$.options.file_sync_pause", "not a duration", 1},
    {"options.file_sync_pause", "true", "$.options.file_sync_pause", "must be a duration", 1},
    {"options.source_suffix", "\"v3\"", "$.options.source_suffix", "not a suffix", 1},
    {"options.source_suffix", "\"-V3\"", "$.options.source_suffix", "not a suffix", 1},
    {"options.target_suffix", "\"-\"", "$.options.target_suffix", "not a suffix", 1},
    {"options.target_suffix", "\"-v3\"", "$.options.target_suffix", "must differ", 1},
    /* environments and sides */
    {"environments.production", "\"x\"", "$.environments.production", "must be an object", 1},
    {"environments.production.sidekick", "{}", P "sidekick", "unknown key", 1},
    {"environments.production.source", DEL, P "source", "required", 1},
    {"environments.production.source", "\"x\"", P "source", "must be an object", 1},
    {ES "database", DEL, PS "database", "required", 1},
    {ES "idd", "\"x\"", PS "idd", "unknown key (known here: id, database, files, dns, runtime)", 1},
    {ES "id", DEL, PS "id", "required", 1},
    {ES "id", "\"a b\"", PS "id", "without spaces", 1},
    {ET "id", "\"0b5e7a3c-1d2f-4e6a-8b9c-0d1e2f3a4b5c\"", PT "id",
     "the same id as $.environments.production.source.id", 1},
    {"environments.test.source.id", "\"0b5e7a3c-1d2f-4e6a-8b9c-0d1e2f3a4b5c\"",
     "$.environments.test.source.id", "the same id as $.environments.production.source.id", 1},
    /* database */
    {ES "database", "{\"conninf\": \"host=h dbname=d\"}", PS "database.conninf", "unknown key", 2},
    {ES "database", "{\"conninf\": \"host=h dbname=d\"}", PS "database.conninfo", "required", 2},
    {ES "database.conninfo", "\"\"", PS "database.conninfo", "must not be empty", 1},
    {ES "database.method", "\"pglogical\"", PS "database.method", "logical, dump_restore", 1},
    {ES "database.method", "1", PS "database.method", "must be a string", 1},
    {ES "database.max_retained_wal", "\"lots\"", PS "database.max_retained_wal", "16M", 1},
    {ES "database.max_retained_wal", "1024", PS "database.max_retained_wal", "16M", 1},
    {ES "database.max_retained_wal", "true", PS "database.max_retained_wal", "a size", 1},
    {ET "database.method", "\"logical\"", PT "database.method", "unknown key", 1},
    {ES "database.conninfo", "\"localhost:5432\"", PS "database.conninfo", "keyword=value", 1},
    {ES "database.conninfo", "\"mysql://h/db\"", PS "database.conninfo", "postgresql://", 1},
    {ES "database.password_secret", "\"shop-db\"", PS "database.password_secret",
     "FERRY_SECRET_<NAME>", 1},
    {ES "database.password_secret",
     "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"",
     PS "database.password_secret", "FERRY_SECRET_<NAME>", 1},
    {ET "database.conninfo", "\"host=127.0.0.1 port=15432 dbname=shop user=ferry\"",
     PT "database.conninfo", "the same as the source's", 1},
    /* files */
    {ES "files.directory", "\"relative/files\"", PS "files.directory", "absolute", 1},
    {ES "files.directory", "\"/srv/../etc\"", PS "files.directory", "'..'", 1},
    {ES "files", "{}", PS "files", "needs a directory or an s3 url", 1},
    {ES "files", "{\"directory\": \"/a\", \"url\": \"s3://bkt/x\"}", PS "files", "has both", 1},
    {ES "files", "{\"directory\": \"/a\", \"endpoint\": \"http://h\"}", PS "files.endpoint",
     "only with an s3 url", 1},
    {ES "files.dir", "\"/a\"", PS "files.dir", "unknown key", 1},
    {ET "files.url", "\"s3://Bad_Bucket/x\"", PT "files.url", "bucket name", 1},
    {ET "files.url", "\"https://shop-v4/x\"", PT "files.url", "s3://bucket", 1},
    {ET "files.url", "\"s3://ab\"", PT "files.url", "3 to 63", 1},
    {ET "files.url", "\"s3://192.168.1.10/x\"", PT "files.url", "IP address", 1},
    {ET "files.url", "\"s3://shop-v4//x\"", PT "files.url", "empty part", 1},
    {ET "files.url", "\"s3://-shop/x\"", PT "files.url", "start and end", 1},
    {ET "files.endpoint", DEL, PT "files.endpoint", "required", 1},
    {ET "files.endpoint", "\"ftp://h\"", PT "files.endpoint", "http:// or https://", 1},
    {ET "files.endpoint", "\"http://user@h:1\"", PT "files.endpoint", "credentials", 1},
    {ET "files.endpoint", "\"http://h:1/?x=1\"", PT "files.endpoint", "query", 1},
    {ET "files.endpoint", "\"http://\"", PT "files.endpoint", "no host", 1},
    {ET "files.region", "\"US_EAST\"", PT "files.region", "not a region", 1},
    {ET "files.secret_key_secret", DEL, PT "files.secret_key_secret",
     "required when access_key_secret is given", 1},
    {ET "files", "{\"directory\": \"/tmp/ferry-stack/files/shop-v3/production\"}", PT "files",
     "the same as the source's", 1},
    /* dns */
    {ES "dns", DEL, PS "dns", "required", 1},
    {ES "dns.zone", "\"ferry.test\"", PS "dns.zone", "fully qualified", 1},
    {ES "dns.zone", "\".\"", PS "dns.zone", "empty label", 1},
    {ES "dns.names", "[]", PS "dns.names", "at least one name", 1},
    {ES "dns.names", "\"shop.ferry.test.\"", PS "dns.names", "must be an array", 1},
    {ES "dns.names", "[5]", PS "dns.names[0]", "must be a string", 1},
    {ES "dns.names", "[\"shop.other.test.\"]", PS "dns.names[0]", "not inside the zone", 1},
    {ES "dns.names", "[\"ferry.test.\"]", PS "dns.names[0]", "not inside the zone", 1},
    {ES "dns.names", "[\"Shop.ferry.test.\"]", PS "dns.names[0]", "lower case", 1},
    {ES "dns.names", "[\"shop.ferry.test\"]", PS "dns.names[0]", "fully qualified", 1},
    {ES "dns.names", "[\"shop..ferry.test.\"]", PS "dns.names[0]", "empty label", 1},
    {ES "dns.names", "[\"shop_1.ferry.test.\"]", PS "dns.names[0]", "only a-z", 1},
    {ES "dns.names", "[\"shop-.ferry.test.\"]", PS "dns.names[0]", "ends with '-'", 1},
    {ES "dns.names", "[\"shop.ferry.test.\", \"shop-v3.ferry.test.\"]", PS "dns.names[1]",
     "already holds the source suffix -v3", 1},
    {ES "dns.names", "[\"shop.ferry.test.\", \"shop.ferry.test.\"]", PS "dns.names[1]",
     "the same name as $.environments.production.source.dns.names[0]", 1},
    {ET "dns.names", "[\"shop-new.ferry.test.\"]", PT "dns.names[0]", "needs the target suffix -v4",
     1},
    {ET "dns.names", "[\"shop-v42.ferry.test.\"]", PT "dns.names[0]", "needs the target suffix -v4",
     1},
    {ET "dns.names", "[\"www.shop-v4.ferry.test.\"]", PT "dns.names[0]",
     "needs the target suffix -v4 in its first label", 1},
    {"environments.test.source.dns.names", "[\"shop.ferry.test.\"]",
     "$.environments.test.source.dns.names[0]",
     "the same name as $.environments.production.source.dns.names[0]", 1},
    {"environments.test.target.dns.names", "[\"shop-v4.ferry.test.\"]",
     "$.environments.test.target.dns.names[0]",
     "the same name as $.environments.production.target.dns.names[0]", 1},
    {ET "dns.names", "[\"shop-v4.ferry.test.\", \"shop-v4-v3.ferry.test.\"]", PT "dns.names[1]",
     "becomes shop-v3.ferry.test. at cutover, as does "
     "$.environments.production.source.dns.names[0]",
     1},
    {ES "dns.api_key_secret", "\"pdns\"", PS "dns.api_key_secret", "secret's name", 1},
    /* the swap: the target takes over exactly the source's names, in the source's zone */
    {ET "dns.names", "[\"shop-v4.ferry.test.\", \"shop-v4-api.ferry.test.\"]", PT "dns.names[1]",
     "which the source does not serve", 1},
    {ES "dns.names", "[\"shop.ferry.test.\", \"shop-api.ferry.test.\"]", PS "dns.names[1]",
     "no target name takes it over", 1},
    {ET "dns.zone", "\"test.\"", PT "dns.zone", "differs from the source's zone", 1},
    /* runtime */
    {ES "runtime", "{}", PS "runtime.platform", "required", 2},
    {ES "runtime", "{}", PS "runtime.app", "required", 2},
    {ES "runtime.platform", "\"docker\"", PS "runtime.platform", "not a platform", 1},
    {ES "runtime.app", "\"shop v3\"", PS "runtime.app", "without spaces", 1},
    {ES "runtime.environment", "\"\"", PS "runtime.environment", "must not be empty", 1},
    {ES "runtime.timeout", "\"soon\"", PS "runtime.timeout", "not a duration", 1},
    {ES "runtime.timeout", "\"1500ms\"", PS "runtime.timeout", "whole number of seconds", 1},
    {ES "runtime.timeout", "0", PS "runtime.timeout", "between 1s and 24h", 1},
    {ES "runtime.health_url", "\"ftp://h/health\"", PS "runtime.health_url", "http://", 1},
    {ES "runtime.credentials_secret", "\"lower\"", PS "runtime.credentials_secret", "secret's name",
     1},
    {ES "runtime.timout", "\"5m\"", PS "runtime.timout", "unknown key", 1},
    {ET "runtime.app", "\"shop-v3-production\"", PT "runtime", "the same app as the source's", 1},
};

static void each_class_of_problem_has_its_path(void)
{
    for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++) {
        json_t *doc = example_json();
        CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
        json_t *value = NULL;
        if (classes[i].value != NULL) {
            value = json_loads(classes[i].value, JSON_DECODE_ANY, NULL);
            CU_ASSERT_PTR_NOT_NULL_FATAL(value);
        }
        CU_ASSERT_EQUAL_FATAL(doc_set(doc, classes[i].set, value), 0);
        ferry_spec *spec = NULL;
        ferry_spec_problems pr;
        ferry_err err;
        ferry_rc rc = doc_parse(doc, &spec, &pr, &err);
        bool found = problem_find(&pr, classes[i].path, classes[i].says) != NULL;
        if (rc != FERRY_ERR_INVALID || !found || pr.count != classes[i].count) {
            fprintf(stderr, "\n  case %zu: %s = %s: want %s: ...%s... (%zu problems); got:\n", i,
                    classes[i].set, classes[i].value != NULL ? classes[i].value : "(deleted)",
                    classes[i].path, classes[i].says, classes[i].count);
            problems_print(&pr);
        }
        CU_ASSERT_EQUAL(rc, FERRY_ERR_INVALID);
        CU_ASSERT_PTR_NULL(spec);
        CU_ASSERT_TRUE(found);
        CU_ASSERT_EQUAL(pr.count, classes[i].count);
        CU_ASSERT_EQUAL(err.code, FERRY_ERR_INVALID);
        ferry_spec_problems_cleanup(&pr);
        json_decref(doc);
    }
}

/* Environment names are keys: set them by building the environments object anew. */
static void environment_names_follow_the_rule(void)
{
    static const struct {
        const char *name;
        const char *path;
    } bad[] = {
        {"Prod", "$.environments.Prod"},
        {"pro d", "$.environments[\"pro d\"]"},
        {"-prod", "$.environments.-prod"},
        {"p012345678901234567890123456789012", "$.environments.p012345678901234567890123456789012"},
        {"we\"ird", "$.environments[\"we\\\"ird\"]"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *doc = example_json();
        CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
        json_t *prod =
            json_incref(json_object_get(json_object_get(doc, "environments"), "production"));
        json_t *envs = json_object();
        json_object_set_new(envs, bad[i].name, prod);
        CU_ASSERT_EQUAL(doc_set(doc, "environments", envs), 0);
        ferry_spec *spec = NULL;
        ferry_spec_problems pr;
        ferry_err err;
        ferry_rc rc = doc_parse(doc, &spec, &pr, &err);
        CU_ASSERT_EQUAL(rc, FERRY_ERR_INVALID);
        CU_ASSERT_EQUAL(pr.count, 1);
        CU_ASSERT_PTR_NOT_NULL(problem_find(&pr, bad[i].path, "not an environment name"));
        if (pr.count != 1 || problem_find(&pr, bad[i].path, "not an environment name") == NULL)
            problems_print(&pr);
        ferry_spec_problems_cleanup(&pr);
        json_decref(doc);
    }
}

static void every_problem_is_listed_at_once(void)
{
    json_t *doc = example_json();
    CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
    doc_set(doc, "app", json_string("Shop!"));
    doc_set(doc, "options.dns_ttl", json_integer(0));
    doc_set(doc, "extra", json_true());
    doc_set(doc, ES "database.conninfo", json_string("host=h password=hunter2secret dbname=d"));
    doc_set(doc, ET "dns.names", json_loads("[\"shop-new.ferry.test.\"]", 0, NULL));
    doc_set(doc, "environments.test.target.runtime.platform", json_string("docker"));
    doc_set(doc, "environments.test.source.files.url", json_string("s3://x"));
    ferry_spec *spec = NULL;
    ferry_spec_problems pr;
    ferry_err err;
    ferry_rc rc = doc_parse(doc, &spec, &pr, &err);
    CU_ASSERT_EQUAL(rc, FERRY_ERR_INVALID);
    CU_ASSERT_PTR_NULL(spec);
    if (pr.count != 7)
        problems_print(&pr);
    CU_ASSERT_EQUAL(pr.count, 7);
    CU_ASSERT_PTR_NOT_NULL(problem_find(&pr, "$.app", "not an app name"));
    CU_ASSERT_PTR_NOT_NULL(problem_find(&pr, "$.options.dns_ttl", "between"));
    CU_ASSERT_PTR_NOT_NULL(problem_find(&pr, "$.extra", "unknown key"));
    CU_ASSERT_PTR_NOT_NULL(problem_find(&pr, PS "database.conninfo", "holds a password"));
    CU_ASSERT_PTR_NOT_NULL(problem_find(&pr, PT "dns.names[0]", "target suffix"));
    CU_ASSERT_PTR_NOT_NULL(
        problem_find(&pr, "$.environments.test.target.runtime.platform", "not a platform"));
    CU_ASSERT_PTR_NOT_NULL(problem_find(&pr, "$.environments.test.source.files.url", "3 to 63"));
    /* The summary counts them and names the first, in document order. */
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "the spec has 7 problems"));
    CU_ASSERT_STRING_EQUAL(pr.items[0].path, "$.extra"); /* unknown keys come first */
    CU_ASSERT_STRING_EQUAL(pr.items[1].path, "$.app");
    assert_not_repeated(&pr, &err, "hunter2secret");
    ferry_spec_problems_cleanup(&pr);

    /* The caller may not want the list: the summary still says it all. */
    rc = doc_parse(doc, &spec, NULL, &err);
    CU_ASSERT_EQUAL(rc, FERRY_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "the spec has 7 problems, the first: $.extra"));
    json_decref(doc);
}

static void a_flood_of_problems_is_capped(void)
{
    json_t *doc = json_object();
    char key[32];
    for (int i = 0; i < 150; i++) {
        (void)snprintf(key, sizeof(key), "k%d", i);
        json_object_set_new(doc, key, json_integer(i));
    }
    ferry_spec *spec = NULL;
    ferry_spec_problems pr;
    ferry_err err;
    CU_ASSERT_EQUAL(doc_parse(doc, &spec, &pr, &err), FERRY_ERR_INVALID);
    /* 150 unknown keys, app and environments required: 152; 100 listed and one line for the rest */
    CU_ASSERT_EQUAL_FATAL(pr.count, 101);
    CU_ASSERT_STRING_EQUAL(pr.items[100].path, "$");
    CU_ASSERT_STRING_EQUAL(pr.items[100].message, "52 more problems not listed");
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "the spec has 152 problems"));
    ferry_spec_problems_cleanup(&pr);
    json_decref(doc);
}

static void passwords_are_refused_and_never_repeated(void)
{
    static const char *const conninfos[] = {
        "host=127.0.0.1 password=hunter2secret dbname=shop",
        "host=127.0.0.1 PASSWORD = hunter2secret dbname=shop",
        "postgresql://ferry:hunter2secret@127.0.0.1:15432/shop",
        "postgres://ferry:hunter2secret@127.0.0.1/shop",
        "postgresql://ferry@127.0.0.1/shop?password=hunter2secret",
    };
    for (size_t i = 0; i < sizeof(conninfos) / sizeof(conninfos[0]); i++) {
        json_t *doc = example_json();
        CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
        doc_set(doc, ET "database.conninfo", json_string(conninfos[i]));
        ferry_spec *spec = NULL;
        ferry_spec_problems pr;
        ferry_err err;
        CU_ASSERT_EQUAL(doc_parse(doc, &spec, &pr, &err), FERRY_ERR_INVALID);
        CU_ASSERT_PTR_NULL(spec);
        CU_ASSERT_EQUAL(pr.count, 1);
        CU_ASSERT_PTR_NOT_NULL(problem_find(&pr, PT "database.conninfo",
                                            "holds a password; name a secret in password_secret"));
        assert_not_repeated(&pr, &err, "hunter2secret");
        ferry_spec_problems_cleanup(&pr);
        json_decref(doc);
    }

    /* Nor anywhere else a confused writer may put one. */
    static const struct {
        const char *set;
        const char *value;
        const char *path;
    } elsewhere[] = {
        {ES "database.password", "\"hunter2secret\"", PS "database.password"},
        {ES "database.password_secret", "\"hunter2secret\"", PS "database.password_secret"},
        {ET "files.endpoint", "\"http://AKIA:hunter2secret@127.0.0.1:18080\"", PT "files.endpoint"},
        {ET "files.url", "\"s3://AKIA:hunter2secret@shop-v4/production/\"", PT "files.url"},
        {ES "runtime.health_url", "\"http://admin:hunter2secret@127.0.0.1/health\"",
         PS "runtime.health_url"},
        {ES "runtime.credentials_secret", "\"hunter2secret\"", PS "runtime.credentials_secret"},
    };
    for (size_t i = 0; i < sizeof(elsewhere) / sizeof(elsewhere[0]); i++) {
        json_t *doc = example_json();
        CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
        doc_set(doc, elsewhere[i].set, json_loads(elsewhere[i].value, JSON_DECODE_ANY, NULL));
        ferry_spec *spec = NULL;
        ferry_spec_problems pr;
        ferry_err err;
        CU_ASSERT_EQUAL(doc_parse(doc, &spec, &pr, &err), FERRY_ERR_INVALID);
        CU_ASSERT_EQUAL_FATAL(pr.count, 1);
        CU_ASSERT_STRING_EQUAL(pr.items[0].path, elsewhere[i].path);
        assert_not_repeated(&pr, &err, "hunter2secret");
        ferry_spec_problems_cleanup(&pr);
        json_decref(doc);
    }

    /* JSON that does not parse: jansson quotes the text near the error; that is cut off. */
    static const char *const broken[] = {
        "{\"app\": \"shop\", \"password\": swordfish}",
        "{\"app\": \"shop\", \"conninfo\": \"swordfish\" \"x\"}",
        "{\"app\": \"shop\", \"swordfish\": 1, \"swordfish\": 2}",
    };
    for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
        ferry_spec *spec = NULL;
        ferry_spec_problems pr;
        ferry_err err;
        CU_ASSERT_EQUAL(text_parse(broken[i], &spec, &pr, &err), FERRY_ERR_INVALID);
        CU_ASSERT_EQUAL(pr.count, 1);
        CU_ASSERT_PTR_NOT_NULL(problem_find(&pr, "$", "not valid JSON: line 1, column "));
        assert_not_repeated(&pr, &err, "swordfish");
        ferry_spec_problems_cleanup(&pr);
    }
}

static void malformed_json_names_line_and_column(void)
{
    const char *text = "{\n  \"app\": \"shop\",\n  \"environments\": }\n";
    ferry_spec *spec = NULL;
    ferry_spec_problems pr;
    ferry_err err;
    CU_ASSERT_EQUAL(text_parse(text, &spec, &pr, &err), FERRY_ERR_INVALID);
    CU_ASSERT_PTR_NULL(spec);
    CU_ASSERT_EQUAL_FATAL(pr.count, 1);
    CU_ASSERT_STRING_EQUAL(pr.items[0].path, "$");
    CU_ASSERT_PTR_NOT_NULL(strstr(pr.items[0].message, "not valid JSON: line 3, column 19"));
    ferry_spec_problems_cleanup(&pr);

    static const char *const others[] = {"", "   ", "[1, 2", "{\"app\": \"shop\"} trailing",
                                         "{\"app\": \"sh\\u0000op\"}"};
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        CU_ASSERT_EQUAL(text_parse(others[i], &spec, &pr, &err), FERRY_ERR_INVALID);
        CU_ASSERT_EQUAL(pr.count, 1);
        CU_ASSERT_PTR_NOT_NULL(problem_find(&pr, "$", "not valid JSON: line "));
        ferry_spec_problems_cleanup(&pr);
    }

    /* Valid JSON that is not an object. */
    CU_ASSERT_EQUAL(text_parse("[1, 2]", &spec, &pr, &err), FERRY_ERR_INVALID);
    CU_ASSERT_EQUAL(pr.count, 1);
    CU_ASSERT_PTR_NOT_NULL(problem_find(&pr, "$", "must be an object"));
    ferry_spec_problems_cleanup(&pr);

    /* Bad arguments. */
    CU_ASSERT_EQUAL(ferry_spec_parse("{}", 2, NULL, &pr, &err), FERRY_ERR_INVALID);
    CU_ASSERT_EQUAL(ferry_spec_parse(NULL, 3, &spec, &pr, &err), FERRY_ERR_INVALID);
}

static void duplicate_keys_are_refused(void)
{
    size_t len = 0;
    char *text = example_read(&len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    /* The example with its first "dns_ttl" line doubled. */
    const char *at = strstr(text, "\"dns_ttl\": 300");
    CU_ASSERT_PTR_NOT_NULL_FATAL(at);
    size_t head = (size_t)(at - text);
    size_t dup_len = 0;
    char *doubled = malloc(len + 64);
    CU_ASSERT_PTR_NOT_NULL_FATAL(doubled);
    memcpy(doubled, text, head);
    dup_len = head;
    memcpy(doubled + dup_len, "\"dns_ttl\": 60, ", 15);
    dup_len += 15;
    memcpy(doubled + dup_len, at, len - head);
    dup_len += len - head;
    doubled[dup_len] = '\0';

    ferry_spec *spec = NULL;
    ferry_spec_problems pr;
    ferry_err err;
    CU_ASSERT_EQUAL(ferry_spec_parse(doubled, dup_len, &spec, &pr, &err), FERRY_ERR_INVALID);
    CU_ASSERT_PTR_NULL(spec);
    CU_ASSERT_EQUAL_FATAL(pr.count, 1);
    CU_ASSERT_STRING_EQUAL(pr.items[0].path, "$");
    CU_ASSERT_PTR_NOT_NULL(strstr(pr.items[0].message, "duplicate object key"));
    CU_ASSERT_PTR_NOT_NULL(strstr(pr.items[0].message, "line 7"));
    ferry_spec_problems_cleanup(&pr);
    free(doubled);

    /* Deeper down too: a second "conninfo" must not silently win. */
    const char *nested =
        "{\"app\": \"shop\", \"environments\": {\"production\": {\"source\": "
        "{\"database\": {\"conninfo\": \"dbname=a\", \"conninfo\": \"dbname=b\"}}}}}";
    CU_ASSERT_EQUAL(text_parse(nested, &spec, &pr, &err), FERRY_ERR_INVALID);
    CU_ASSERT_EQUAL(pr.count, 1);
    CU_ASSERT_PTR_NOT_NULL(problem_find(&pr, "$", "duplicate object key"));
    ferry_spec_problems_cleanup(&pr);
    free(text);
}

/* ---- renaming ----------------------------------------------------------------------------- */

static void source_and_target_names_are_renamed(void)
{
    size_t len = 0;
    char *text = example_read(&len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    ferry_spec *spec = NULL;
    ferry_err err;
    CU_ASSERT_EQUAL_FATAL(ferry_spec_parse(text, len, &spec, NULL, &err), FERRY_OK);
    free(text);

    static const struct {
        const char *from, *to;
    } source[] = {
        {"shop.ferry.test.", "shop-v3.ferry.test."},
        {"shop-test.ferry.test.", "shop-v3-test.ferry.test."},
        {"shop-acceptance.example.com.", "shop-v3-acceptance.example.com."},
        {"shop.apps.example.com.", "shop-v3.apps.example.com."},
        {"www.shop.example.com.", "www-v3.shop.example.com."}, /* does not start with the app */
        {"shopping.example.com.", "shopping-v3.example.com."}, /* "shop" is not a whole part */
        {"shop-v30.example.com.", "shop-v3-v30.example.com."}, /* "-v30" is not "-v3" */
    };
    char out[256];
    for (size_t i = 0; i < sizeof(source) / sizeof(source[0]); i++) {
        CU_ASSERT_EQUAL(ferry_spec_source_renamed(spec, source[i].from, out, sizeof(out), &err),
                        FERRY_OK);
        CU_ASSERT_STRING_EQUAL(out, source[i].to);
    }
    static const struct {
        const char *from, *to;
    } target[] = {
        {"shop-v4.ferry.test.", "shop.ferry.test."},
        {"shop-v4-test.ferry.test.", "shop-test.ferry.test."},
        {"shop-test-v4.example.com.", "shop-test.example.com."},
        {"shop-v4.apps.example.com.", "shop.apps.example.com."},
    };
    for (size_t i = 0; i < sizeof(target) / sizeof(target[0]); i++) {
        CU_ASSERT_EQUAL(ferry_spec_target_renamed(spec, target[i].from, out, sizeof(out), &err),
                        FERRY_OK);
        CU_ASSERT_STRING_EQUAL(out, target[i].to);
    }

    /* In the example, each target name takes over a source name of its environment. */
    for (size_t e = 0; e < spec->n_envs; e++) {
        const ferry_spec_env *env = &spec->envs[e];
        CU_ASSERT_EQUAL_FATAL(env->target.dns.n_names, env->source.dns.n_names);
        for (size_t i = 0; i < env->target.dns.n_names; i++) {
            CU_ASSERT_EQUAL(
                ferry_spec_target_renamed(spec, env->target.dns.names[i], out, sizeof(out), &err),
                FERRY_OK);
            CU_ASSERT_STRING_EQUAL(out, env->source.dns.names[i]);
        }
    }

    /* Names without the expected form. */
    static const char *const bad_source[] = {"shop-v3.ferry.test.", "shop-test-v3.ferry.test.",
                                             "shop.ferry.test", "Shop.ferry.test.", ""};
    for (size_t i = 0; i < sizeof(bad_source) / sizeof(bad_source[0]); i++) {
        CU_ASSERT_EQUAL(ferry_spec_source_renamed(spec, bad_source[i], out, sizeof(out), &err),
                        FERRY_ERR_INVALID);
        CU_ASSERT_STRING_EQUAL(out, "");
    }
    static const char *const bad_target[] = {"shop.ferry.test.", "shop-v42.ferry.test.",
                                             "www.shop-v4.ferry.test.", "shop-v4.ferry.test"};
    for (size_t i = 0; i < sizeof(bad_target) / sizeof(bad_target[0]); i++) {
        CU_ASSERT_EQUAL(ferry_spec_target_renamed(spec, bad_target[i], out, sizeof(out), &err),
                        FERRY_ERR_INVALID);
        CU_ASSERT_STRING_EQUAL(out, "");
    }

    /* out too small: refused, never cut. */
    char small[19]; /* "shop-v3.ferry.test." needs 20 */
    CU_ASSERT_EQUAL(ferry_spec_source_renamed(spec, "shop.ferry.test.", small, sizeof(small), &err),
                    FERRY_ERR_INVALID);
    CU_ASSERT_STRING_EQUAL(small, "");
    char exact[20];
    CU_ASSERT_EQUAL(ferry_spec_source_renamed(spec, "shop.ferry.test.", exact, sizeof(exact), &err),
                    FERRY_OK);
    CU_ASSERT_STRING_EQUAL(exact, "shop-v3.ferry.test.");

    /* A first label that would grow past 63 characters. */
    char longname[128];
    (void)snprintf(longname, sizeof(longname), "%s.example.com.",
                   "shop-abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstu");
    CU_ASSERT_EQUAL(ferry_spec_source_renamed(spec, longname, out, sizeof(out), &err),
                    FERRY_ERR_INVALID);
    CU_ASSERT_EQUAL(ferry_spec_source_renamed(NULL, "shop.ferry.test.", out, sizeof(out), &err),
                    FERRY_ERR_INVALID);
    CU_ASSERT_EQUAL(ferry_spec_target_renamed(spec, "shop-v4.ferry.test.", out, 0, &err),
                    FERRY_ERR_INVALID);
    ferry_spec_free(spec);
}

static void renaming_follows_the_spec_suffixes(void)
{
    char source_suffix[] = "-old", target_suffix[] = "-next", app[] = "crm";
    ferry_spec spec;
    memset(&spec, 0, sizeof(spec));
    spec.app = app;
    spec.options.source_suffix = source_suffix;
    spec.options.target_suffix = target_suffix;
    char out[256];
    ferry_err err;
    CU_ASSERT_EQUAL(
        ferry_spec_source_renamed(&spec, "crm-test.example.com.", out, sizeof(out), &err),
        FERRY_OK);
    CU_ASSERT_STRING_EQUAL(out, "crm-old-test.example.com.");
    CU_ASSERT_EQUAL(
        ferry_spec_target_renamed(&spec, "crm-next-test.example.com.", out, sizeof(out), &err),
        FERRY_OK);
    CU_ASSERT_STRING_EQUAL(out, "crm-test.example.com.");
    CU_ASSERT_EQUAL(ferry_spec_target_renamed(&spec, "crm-v4.example.com.", out, sizeof(out), &err),
                    FERRY_ERR_INVALID);

    /* Through a parsed spec with its own options. */
    json_t *doc = example_json();
    CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
    doc_set(doc, "options.source_suffix", json_string("-old"));
    doc_set(doc, "options.target_suffix", json_string("-new"));
    doc_set(doc, ET "dns.names", json_loads("[\"shop-new.ferry.test.\"]", 0, NULL));
    doc_set(doc, "environments.test.target.dns.names",
            json_loads("[\"shop-new-test.ferry.test.\"]", 0, NULL));
    ferry_spec *parsed = NULL;
    ferry_spec_problems pr;
    ferry_rc rc = doc_parse(doc, &parsed, &pr, &err);
    if (rc != FERRY_OK)
        problems_print(&pr);
    CU_ASSERT_EQUAL_FATAL(rc, FERRY_OK);
    CU_ASSERT_EQUAL(
        ferry_spec_target_renamed(parsed, "shop-new-test.ferry.test.", out, sizeof(out), &err),
        FERRY_OK);
    CU_ASSERT_STRING_EQUAL(out, "shop-test.ferry.test.");
    CU_ASSERT_EQUAL(
        ferry_spec_source_renamed(parsed, "shop-test.ferry.test.", out, sizeof(out), &err),
        FERRY_OK);
    CU_ASSERT_STRING_EQUAL(out, "shop-old-test.ferry.test.");
    ferry_spec_free(parsed);
    json_decref(doc);
}

/* What can grow is bounded, each limit named where it is exceeded. */
static void limits_are_named(void)
{
    json_t *doc = example_json();
    CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
    json_t *envs = json_object_get(doc, "environments");
    json_t *prod = json_object_get(envs, "production");
    char name[40];
    for (int i = 0; i < 40; i++) { /* copies of production under other names: 42 in all */
        (void)snprintf(name, sizeof(name), "env-%02d", i);
        CU_ASSERT_EQUAL_FATAL(json_object_set_new(envs, name, json_deep_copy(prod)), 0);
    }
    ferry_spec *spec = NULL;
    ferry_spec_problems pr;
    ferry_err err;
    CU_ASSERT_EQUAL(doc_parse(doc, &spec, &pr, &err), FERRY_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(problem_find(&pr, "$.environments", "at most 32"));
    ferry_spec_problems_cleanup(&pr);
    json_decref(doc);

    doc = example_json();
    CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
    json_t *names = json_array();
    for (int i = 0; i < 130; i++) {
        (void)snprintf(name, sizeof(name), "shop-%03d.ferry.test.", i);
        CU_ASSERT_EQUAL_FATAL(json_array_append_new(names, json_string(name)), 0);
    }
    json_t *dns = json_object_get(
        json_object_get(json_object_get(json_object_get(doc, "environments"), "production"),
                        "source"),
        "dns");
    CU_ASSERT_EQUAL_FATAL(json_object_set_new(dns, "names", names), 0);
    CU_ASSERT_EQUAL(doc_parse(doc, &spec, &pr, &err), FERRY_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(
        problem_find(&pr, "$.environments.production.source.dns.names", "at most 128"));
    ferry_spec_problems_cleanup(&pr);
    json_decref(doc);
}

static const ferry_test_case cases[] = {
    {"limits are named", limits_are_named},
    {"the example parses and every field lands", example_parses_and_every_field_lands},
    {"the documented example parses", the_documented_example_parses},
    {"the database's method and WAL limit land", the_method_and_its_limit_land},
    {"defaults fill what is left out", defaults_fill_what_is_left_out},
    {"options take durations, numbers and null", options_take_durations_numbers_and_null},
    {"each class of problem has its path", each_class_of_problem_has_its_path},
    {"environment names follow the rule", environment_names_follow_the_rule},
    {"every problem is listed at once", every_problem_is_listed_at_once},
    {"a flood of problems is capped", a_flood_of_problems_is_capped},
    {"passwords are refused and never repeated", passwords_are_refused_and_never_repeated},
    {"malformed JSON names line and column", malformed_json_names_line_and_column},
    {"duplicate keys are refused", duplicate_keys_are_refused},
    {"source and target names are renamed", source_and_target_names_are_renamed},
    {"renaming follows the spec's suffixes", renaming_follows_the_spec_suffixes},
    {NULL, NULL},
};

static const ferry_test_suite suites[] = {
    {"spec", NULL, NULL, cases},
    {NULL, NULL, NULL, NULL},
};

int main(void)
{
    return ferry_test_main(suites);
}
