/* Unit tests for config.c: the table, every problem reported at once, secrets and _FILE. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ferry/config.h"
#include "ferry/log.h"
#include "ferry_test.h"

/* A fake environment: NULL-terminated name, value pairs. */
static const char *fake_env(const char *name, void *ud)
{
    const char *const *kv = ud;
    for (size_t i = 0; kv[i] != NULL; i += 2) {
        if (strcmp(kv[i], name) == 0)
            return kv[i + 1];
    }
    return NULL;
}

static void table_rows_are_well_formed(void)
{
    size_t n = 0;
    const ferry_cfg_setting *t = ferry_cfg_table(&n);
    CU_ASSERT_TRUE_FATAL(n > 10);
    for (size_t i = 0; i < n; i++) {
        CU_ASSERT_EQUAL(strncmp(t[i].env, "FERRY_", 6), 0);
        CU_ASSERT_PTR_NOT_NULL(t[i].help);
        CU_ASSERT_NOT_EQUAL(t[i].components, 0);
        CU_ASSERT_FALSE(t[i].type == FERRY_CFG_ENUM && t[i].choices == NULL);
        /* A required secret has no default. */
        CU_ASSERT_FALSE((t[i].flags & FERRY_CFG_SECRET) && t[i].def != NULL);
        for (size_t j = i + 1; j < n; j++) {
            CU_ASSERT_STRING_NOT_EQUAL(t[i].name, t[j].name);
            CU_ASSERT_STRING_NOT_EQUAL(t[i].env, t[j].env);
        }
    }
}

static void loads_values_and_defaults(void)
{
    const char *env[] = {"FERRY_KAFKA_BROKERS",
                         "127.0.0.1:19092",
                         "FERRY_REDIS_URL",
                         "redis://127.0.0.1:16379/0",
                         "FERRY_WORKER_CONCURRENCY",
                         "8",
                         "FERRY_WORKER_LEASE",
                         "2m",
                         NULL};
    ferry_cfg *cfg = NULL;
    char *problems = NULL;
    ferry_rc rc = ferry_cfg_load(FERRY_COMP_DUMP_RESTORE, fake_env, env, &cfg, &problems);
    CU_ASSERT_EQUAL_FATAL(rc, FERRY_OK);
    CU_ASSERT_PTR_NULL(problems);
    CU_ASSERT_STRING_EQUAL(ferry_cfg_str(cfg, "kafka.brokers"), "127.0.0.1:19092");
    CU_ASSERT_EQUAL(ferry_cfg_int(cfg, "worker.concurrency"), 8);
    CU_ASSERT_EQUAL(ferry_cfg_int(cfg, "worker.lease"), 120000);
    CU_ASSERT_STRING_EQUAL(ferry_cfg_str(cfg, "log.level"), "info");
    CU_ASSERT_EQUAL(ferry_cfg_int(cfg, "kafka.partitions"), 6);
    CU_ASSERT_PTR_NULL(ferry_cfg_str(cfg, "redis.password"));
    ferry_cfg_free(cfg);
}

static void reports_every_problem_at_once(void)
{
    const char *env[] = {"FERRY_REDIS_URL",
                         "redis://:hunter22@127.0.0.1:16379",
                         "FERRY_WORKER_CONCURRENCY",
                         "0",
                         "FERRY_WORKER_LEASE",
                         "soon",
                         "FERRY_LOG_FORMAT",
                         "xml",
                         NULL};
    ferry_cfg *cfg = NULL;
    char *problems = NULL;
    ferry_rc rc = ferry_cfg_load(FERRY_COMP_DUMP_RESTORE, fake_env, env, &cfg, &problems);
    CU_ASSERT_EQUAL(rc, FERRY_ERR_CONFIG);
    CU_ASSERT_PTR_NULL(cfg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(problems);
    CU_ASSERT_PTR_NOT_NULL(strstr(problems, "FERRY_KAFKA_BROKERS: required but not set"));
    CU_ASSERT_PTR_NOT_NULL(strstr(problems, "FERRY_REDIS_URL: holds a password"));
    CU_ASSERT_PTR_NOT_NULL(strstr(problems, "FERRY_WORKER_CONCURRENCY: '0' is out of bounds"));
    CU_ASSERT_PTR_NOT_NULL(strstr(problems, "FERRY_WORKER_LEASE: 'soon' is not a duration"));
    CU_ASSERT_PTR_NOT_NULL(strstr(problems, "FERRY_LOG_FORMAT: 'xml' is not one of kv|json"));
    CU_ASSERT_PTR_NULL(strstr(problems, "hunter22")); /* the password is never echoed */
    int lines = 0;
    for (const char *p = problems; *p != '\0'; p++)
        lines += *p == '\n';
    CU_ASSERT_EQUAL(lines, 5);
    free(problems);
}

/* A worker's command line needs its own rows, not Kafka or Redis. */
static void standalone_needs_no_kafka_or_redis(void)
{
    const char *env[] = {"FERRY_PDNS_API_URL",
                         "http://127.0.0.1:18081",
                         "FERRY_PDNS_API_KEY",
                         "k-0123456789",
                         "FERRY_PDNS_DNS_ADDR",
                         "127.0.0.1:15353",
                         NULL};
    ferry_cfg *cfg = NULL;
    char *problems = NULL;
    CU_ASSERT_EQUAL(ferry_cfg_load(FERRY_COMP_DNS, fake_env, env, &cfg, &problems),
                    FERRY_ERR_CONFIG);
    CU_ASSERT(problems != NULL && strstr(problems, "FERRY_KAFKA_BROKERS") != NULL);
    free(problems);
    problems = NULL;
    CU_ASSERT_EQUAL_FATAL(
        ferry_cfg_load(FERRY_COMP_DNS | FERRY_COMP_STANDALONE, fake_env, env, &cfg, &problems),
        FERRY_OK);
    CU_ASSERT_STRING_EQUAL(ferry_cfg_str(cfg, "pdns.dns_addr"), "127.0.0.1:15353");
    CU_ASSERT_PTR_NULL(ferry_cfg_str(cfg, "kafka.brokers"));
    ferry_cfg_free(cfg);
    /* its own rows stay required */
    const char *none[] = {NULL};
    CU_ASSERT_EQUAL(
        ferry_cfg_load(FERRY_COMP_DNS | FERRY_COMP_STANDALONE, fake_env, none, &cfg, &problems),
        FERRY_ERR_CONFIG);
    CU_ASSERT(problems != NULL && strstr(problems, "FERRY_PDNS_API_URL") != NULL &&
              strstr(problems, "FERRY_KAFKA_BROKERS") == NULL);
    free(problems);
}

static void secret_from_file_and_conflicts(void)
{
    char path[] = "/tmp/ferry-test-secret-XXXXXX";
    int fd = mkstemp(path);
    CU_ASSERT_TRUE_FATAL(fd >= 0);
    CU_ASSERT_EQUAL(write(fd, "s3cr3t-from-file\n", 17), 17);
    close(fd);

    const char *env_ok[] = {"FERRY_KAFKA_BROKERS",
                            "k:1",
                            "FERRY_REDIS_URL",
                            "redis://h:1",
                            "FERRY_REDIS_PASSWORD_FILE",
                            path,
                            "FERRY_COORDINATOR_TOKEN",
                            "coordinator-token-0123456789",
                            NULL};
    ferry_cfg *cfg = NULL;
    char *problems = NULL;
    CU_ASSERT_EQUAL_FATAL(ferry_cfg_load(FERRY_COMP_DNS | FERRY_COMP_COORDINATOR, fake_env,
                                         (void *)env_ok, &cfg, &problems),
                          FERRY_ERR_CONFIG); /* DNS needs pdns.*: still missing */
    CU_ASSERT_PTR_NOT_NULL(strstr(problems, "FERRY_PDNS_API_KEY: required"));
    free(problems);

    CU_ASSERT_EQUAL_FATAL(
        ferry_cfg_load(FERRY_COMP_COORDINATOR, fake_env, (void *)env_ok, &cfg, &problems),
        FERRY_OK);
    CU_ASSERT_STRING_EQUAL(ferry_cfg_str(cfg, "redis.password"), "s3cr3t-from-file");

    /* The dump redacts the secret. */
    char *dump = NULL;
    size_t dump_len = 0;
    FILE *f = open_memstream(&dump, &dump_len);
    ferry_cfg_dump(cfg, f);
    fclose(f);
    CU_ASSERT_PTR_NOT_NULL(strstr(dump, "FERRY_REDIS_PASSWORD=***"));
    CU_ASSERT_PTR_NULL(strstr(dump, "s3cr3t-from-file"));
    CU_ASSERT_PTR_NOT_NULL(strstr(dump, "FERRY_COORDINATOR_TOKEN=***"));
    CU_ASSERT_PTR_NULL(strstr(dump, "coordinator-token-0123456789"));
    free(dump);
    ferry_cfg_free(cfg);

    /* Loading registered the secret with the logger. */
    char out[128];
    ferry_redact("auth with s3cr3t-from-file ok", out, sizeof(out));
    CU_ASSERT_STRING_EQUAL(out, "auth with *** ok");

    const char *env_both[] = {"FERRY_KAFKA_BROKERS",
                              "k:1",
                              "FERRY_REDIS_URL",
                              "redis://h:1",
                              "FERRY_REDIS_PASSWORD",
                              "x",
                              "FERRY_REDIS_PASSWORD_FILE",
                              path,
                              NULL};
    CU_ASSERT_EQUAL(
        ferry_cfg_load(FERRY_COMP_COORDINATOR, fake_env, (void *)env_both, &cfg, &problems),
        FERRY_ERR_CONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(problems, "are both set"));
    free(problems);

    unlink(path);
    const char *env_gone[] = {"FERRY_KAFKA_BROKERS",
                              "k:1",
                              "FERRY_REDIS_URL",
                              "redis://h:1",
                              "FERRY_REDIS_PASSWORD_FILE",
                              path,
                              NULL};
    CU_ASSERT_EQUAL(
        ferry_cfg_load(FERRY_COMP_COORDINATOR, fake_env, (void *)env_gone, &cfg, &problems),
        FERRY_ERR_CONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(problems, "FERRY_REDIS_PASSWORD_FILE: cannot read"));
    free(problems);
    ferry_log_clear_secrets();
}

static void parsers(void)
{
    int64_t v;
    bool b;
    CU_ASSERT_EQUAL(ferry_parse_duration_ms("250ms", &v), 0);
    CU_ASSERT_EQUAL(v, 250);
    CU_ASSERT_EQUAL(ferry_parse_duration_ms("5m", &v), 0);
    CU_ASSERT_EQUAL(v, 300000);
    CU_ASSERT_EQUAL(ferry_parse_duration_ms("1500", &v), 0);
    CU_ASSERT_EQUAL(v, 1500);
    CU_ASSERT_NOT_EQUAL(ferry_parse_duration_ms("-1s", &v), 0);
    CU_ASSERT_NOT_EQUAL(ferry_parse_duration_ms("5 m", &v), 0);
    CU_ASSERT_NOT_EQUAL(ferry_parse_duration_ms("", &v), 0);
    CU_ASSERT_NOT_EQUAL(ferry_parse_duration_ms("99999999999999999999h", &v), 0);
    CU_ASSERT_EQUAL(ferry_parse_size("8M", &v), 0);
    CU_ASSERT_EQUAL(v, 8 * 1024 * 1024);
    CU_ASSERT_EQUAL(ferry_parse_size("64KiB", &v), 0);
    CU_ASSERT_EQUAL(v, 64 * 1024);
    CU_ASSERT_NOT_EQUAL(ferry_parse_size("8T", &v), 0);
    CU_ASSERT_EQUAL(ferry_parse_bool("Yes", &b), 0);
    CU_ASSERT_TRUE(b);
    CU_ASSERT_EQUAL(ferry_parse_bool("off", &b), 0);
    CU_ASSERT_FALSE(b);
    CU_ASSERT_NOT_EQUAL(ferry_parse_bool("maybe", &b), 0);
}

static void secrets_resolve_by_name(void)
{
    char *value = NULL;
    ferry_err err = {0};
    CU_ASSERT_EQUAL(setenv("FERRY_SECRET_UT_DB", "s3cr3t-Value", 1), 0);
    CU_ASSERT_EQUAL(ferry_secret_get("UT_DB", &value, &err), FERRY_OK);
    CU_ASSERT_STRING_EQUAL(value, "s3cr3t-Value");
    free(value);
    value = NULL;

    /* From a file, one trailing newline dropped. */
    char path[] = "/tmp/ferry-secret-XXXXXX";
    int fd = mkstemp(path);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_EQUAL(write(fd, "from-file\n", 10), 10);
    (void)close(fd);
    CU_ASSERT_EQUAL(setenv("FERRY_SECRET_UT_FILE_FILE", path, 1), 0);
    CU_ASSERT_EQUAL(ferry_secret_get("UT_FILE", &value, &err), FERRY_OK);
    CU_ASSERT_STRING_EQUAL(value, "from-file");
    free(value);
    value = NULL;
    (void)unlink(path);

    /* Unset: a configuration error that names both variables; a bad name is refused. */
    CU_ASSERT_EQUAL(ferry_secret_get("UT_MISSING", &value, &err), FERRY_ERR_CONFIG);
    CU_ASSERT_PTR_NULL(value);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "FERRY_SECRET_UT_MISSING_FILE"));
    CU_ASSERT_EQUAL(ferry_secret_get("ut-lower", &value, &err), FERRY_ERR_INVALID);
    CU_ASSERT_EQUAL(ferry_secret_get("", &value, &err), FERRY_ERR_INVALID);
    (void)unsetenv("FERRY_SECRET_UT_DB");
    (void)unsetenv("FERRY_SECRET_UT_FILE_FILE");
}

static const ferry_test_case cases[] = {
    {"table rows are well formed", table_rows_are_well_formed},
    {"secrets resolve by name", secrets_resolve_by_name},
    {"loads values and defaults", loads_values_and_defaults},
    {"reports every problem at once", reports_every_problem_at_once},
    {"a command line needs no Kafka or Redis", standalone_needs_no_kafka_or_redis},
    {"secret from file, conflicts, redaction", secret_from_file_and_conflicts},
    {"parsers", parsers},
    {NULL, NULL},
};

int main(void)
{
    static const ferry_test_suite suites[] = {{"config", NULL, NULL, cases},
                                              {NULL, NULL, NULL, NULL}};
    return ferry_test_main(suites);
}
