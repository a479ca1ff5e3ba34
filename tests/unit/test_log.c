/* Unit tests for log.c: line formats, and proof that known secrets never come out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ferry/log.h"
#include "ferry_test.h"

/* Runs fn with the logger writing to a temporary file; returns what was written (caller frees). */
static char *capture(ferry_log_format format, void (*fn)(void))
{
    FILE *f = tmpfile();
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    ferry_log_init("ferry-test", format, FERRY_LOG_DEBUG, fileno(f));
    fn();
    ferry_log_init("ferry-test", FERRY_LOG_KV, FERRY_LOG_INFO, 2);
    fflush(f);
    size_t len = (size_t)lseek(fileno(f), 0, SEEK_END);
    char *buf = calloc(1, len + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
    CU_ASSERT_EQUAL(pread(fileno(f), buf, len, 0), (ssize_t)len);
    fclose(f);
    return buf;
}

static void log_two_lines(void)
{
    ferry_log_ctx ctx = {"shop-production", "dump-1", 2};
    ferry_log(FERRY_LOG_INFO, &ctx, "copied %d tables", 12);
    ferry_log_kv(FERRY_LOG_WARN, NULL, "slow \"table\"\nnext", "table", "public.orders", "rows",
                 "12 000", NULL);
    ferry_log(FERRY_LOG_DEBUG, NULL, "debug line");
}

static void kv_format(void)
{
    char *out = capture(FERRY_LOG_KV, log_two_lines);
    char *second = strchr(out, '\n');
    CU_ASSERT_PTR_NOT_NULL_FATAL(second);
    *second++ = '\0';
    CU_ASSERT_EQUAL(strncmp(out, "time=", 5), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, " level=info service=ferry-test migration=shop-production "
                                       "step=dump-1 attempt=2 msg=\"copied 12 tables\""));
    /* Fixed keys come before the message, in order. */
    CU_ASSERT_TRUE(strstr(out, "level=") < strstr(out, "service="));
    CU_ASSERT_PTR_NOT_NULL(strstr(second, "level=warn service=ferry-test "
                                          "msg=\"slow \\\"table\\\"\\nnext\" "
                                          "table=public.orders rows=\"12 000\"\n"));
    /* One line per event: three events, three newlines. */
    int lines = 0;
    for (const char *p = second; *p; p++)
        lines += *p == '\n';
    CU_ASSERT_EQUAL(lines, 2);
    free(out);
}

static void json_format(void)
{
    char *out = capture(FERRY_LOG_JSON, log_two_lines);
    CU_ASSERT_EQUAL(strncmp(out, "{\"time\":\"", 9), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"level\":\"info\",\"service\":\"ferry-test\","
                                       "\"migration\":\"shop-production\",\"step\":\"dump-1\","
                                       "\"attempt\":\"2\",\"msg\":\"copied 12 tables\"}\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"msg\":\"slow \\\"table\\\"\\nnext\","
                                       "\"table\":\"public.orders\",\"rows\":\"12 000\"}\n"));
    free(out);
}

static void redact_cases(void)
{
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"postgresql://ferry:Pa55word@db:5432/app", "postgresql://ferry:***@db:5432/app"},
        {"redis://:r3dis-pass@127.0.0.1:16379/0", "redis://:***@127.0.0.1:16379/0"},
        {"host=db user=ferry password=Pa55word dbname=app",
         "host=db user=ferry password=*** dbname=app"},
        {"host=db password='with space' dbname=app", "host=db password='***' dbname=app"},
        {"http://h/b/k?X-Amz-Credential=AKIA%2F1&X-Amz-Signature=abcdef",
         "http://h/b/k?X-Amz-Credential=***&X-Amz-Signature=***"},
        {"Authorization: AWS4-HMAC-SHA256 Credential=AKIA/x, Signature=ff", "Authorization: ***"},
        {"X-API-Key: pdns-key-123", "X-API-Key: ***"},
        {"{\"password\":\"hunter22\",\"user\":\"a\"}", "{\"password\":\"***\",\"user\":\"a\"}"},
        {"FERRY_S3_SECRET_KEY=abc123 FERRY_PG_SOURCE_PASSWORD=xyz",
         "FERRY_S3_SECRET_KEY=*** FERRY_PG_SOURCE_PASSWORD=***"},
        {"password authentication failed for user \"ferry\"",
         "password authentication failed for user \"ferry\""},
        {"http://user@host/path", "http://user@host/path"},
        {"FERRY_REDIS_PASSWORD_FILE=/run/secrets/redis",
         "FERRY_REDIS_PASSWORD_FILE=/run/secrets/redis"},
    };
    char out[256];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ferry_redact(cases[i].in, out, sizeof(out));
        if (strcmp(out, cases[i].want) != 0)
            fprintf(stderr, "\nredact(%s)\n  got  %s\n  want %s\n", cases[i].in, out,
                    cases[i].want);
        CU_ASSERT_STRING_EQUAL(out, cases[i].want);
    }
    /* Truncation keeps the output terminated. */
    char small[8];
    CU_ASSERT_EQUAL(ferry_redact("0123456789", small, sizeof(small)), 7);
    CU_ASSERT_STRING_EQUAL(small, "0123456");
}

static const char *const known_secrets[] = {"Sup3r-S3cret-Key", "AKIAFERRYTEST", "hunter2hunter2"};

static void log_secrets_everywhere(void)
{
    ferry_log_ctx ctx = {"Sup3r-S3cret-Key", NULL, 0};
    ferry_log(FERRY_LOG_ERROR, &ctx, "connect postgresql://u:%s@h/db failed", known_secrets[2]);
    ferry_log(FERRY_LOG_ERROR, NULL, "s3 key %s secret %s", known_secrets[1], known_secrets[0]);
    ferry_log_kv(FERRY_LOG_INFO, NULL, "headers", "auth", "Sup3r-S3cret-Key", "conn",
                 "host=h password=hunter2hunter2", "prefix", "xxSup3r-S3cret-Keyxx", NULL);
}

static void known_secrets_never_come_out(void)
{
    for (size_t i = 0; i < 3; i++)
        ferry_log_add_secret(known_secrets[i]);
    ferry_log_add_secret("abc"); /* too short to register: would redact ordinary words */
    for (int format = FERRY_LOG_KV; format <= FERRY_LOG_JSON; format++) {
        char *out = capture((ferry_log_format)format, log_secrets_everywhere);
        CU_ASSERT_TRUE(strlen(out) > 100);
        for (size_t i = 0; i < 3; i++)
            CU_ASSERT_PTR_NULL(strstr(out, known_secrets[i]));
        CU_ASSERT_PTR_NOT_NULL(strstr(out, "***"));
        free(out);
    }
    char out[64];
    ferry_redact("abc and abcd", out, sizeof(out));
    CU_ASSERT_STRING_EQUAL(out, "abc and abcd");
    ferry_log_clear_secrets();
    ferry_redact("Sup3r-S3cret-Key", out, sizeof(out));
    CU_ASSERT_STRING_EQUAL(out, "Sup3r-S3cret-Key");
}

static void level_and_format_parse(void)
{
    ferry_log_level level;
    ferry_log_format format;
    CU_ASSERT_EQUAL(ferry_log_level_parse("WARN", &level), 0);
    CU_ASSERT_EQUAL(level, FERRY_LOG_WARN);
    CU_ASSERT_EQUAL(ferry_log_level_parse("loud", &level), -1);
    CU_ASSERT_EQUAL(ferry_log_format_parse("json", &format), 0);
    CU_ASSERT_EQUAL(format, FERRY_LOG_JSON);
    CU_ASSERT_EQUAL(ferry_log_format_parse("xml", &format), -1);
}

static const ferry_test_case cases[] = {
    {"key=value format", kv_format},
    {"JSON format", json_format},
    {"redaction of URLs, conninfo, headers", redact_cases},
    {"known secrets never come out", known_secrets_never_come_out},
    {"level and format parsing", level_and_format_parse},
    {NULL, NULL},
};

int main(void)
{
    static const ferry_test_suite suites[] = {{"log", NULL, NULL, cases}, {NULL, NULL, NULL, NULL}};
    return ferry_test_main(suites);
}
