/* Unit tests for error.c: every code has its own text, the retry verdicts, message building. */
#include <errno.h>
#include <string.h>

#include "ferry/error.h"
#include "ferry_test.h"

static void every_code_has_distinct_text(void)
{
    for (int a = 0; a <= FERRY_RC_MAX; a++) {
        const char *ta = ferry_rc_str((ferry_rc)a);
        CU_ASSERT_PTR_NOT_NULL_FATAL(ta);
        CU_ASSERT_STRING_NOT_EQUAL(ta, "unknown error");
        for (int b = a + 1; b <= FERRY_RC_MAX; b++)
            CU_ASSERT_STRING_NOT_EQUAL(ta, ferry_rc_str((ferry_rc)b));
    }
    CU_ASSERT_STRING_EQUAL(ferry_rc_str((ferry_rc)999), "unknown error");
}

static void retry_verdicts(void)
{
    CU_ASSERT_TRUE(ferry_rc_retryable(FERRY_ERR_UNAVAILABLE));
    CU_ASSERT_TRUE(ferry_rc_retryable(FERRY_ERR_TIMEOUT));
    CU_ASSERT_TRUE(ferry_rc_retryable(FERRY_ERR_SERVER));
    CU_ASSERT_TRUE(ferry_rc_retryable(FERRY_ERR_BUSY));
    CU_ASSERT_FALSE(ferry_rc_retryable(FERRY_OK));
    CU_ASSERT_FALSE(ferry_rc_retryable(FERRY_ERR_AUTH));
    CU_ASSERT_FALSE(ferry_rc_retryable(FERRY_ERR_INVALID));
    CU_ASSERT_FALSE(ferry_rc_retryable(FERRY_ERR_CONFLICT));
    CU_ASSERT_FALSE(ferry_rc_retryable(FERRY_ERR_CANCELLED));
}

static void set_prefix_and_errno(void)
{
    ferry_err err;
    ferry_err_clear(&err);
    CU_ASSERT_EQUAL(err.code, FERRY_OK);
    CU_ASSERT_EQUAL(ferry_err_set(&err, FERRY_ERR_NOT_FOUND, "table %s", "t1"),
                    FERRY_ERR_NOT_FOUND);
    CU_ASSERT_STRING_EQUAL(err.msg, "table t1");
    CU_ASSERT_EQUAL(ferry_err_prefix(&err, "copying %d", 3), FERRY_ERR_NOT_FOUND);
    CU_ASSERT_STRING_EQUAL(err.msg, "copying 3: table t1");
    ferry_err_set_errno(&err, FERRY_ERR_IO, ENOENT, "open %s", "/x");
    CU_ASSERT_EQUAL(err.sys_errno, ENOENT);
    CU_ASSERT_STRING_EQUAL(err.msg, "open /x: No such file or directory");
    /* NULL details are allowed: the code still comes back. */
    CU_ASSERT_EQUAL(ferry_err_set(NULL, FERRY_ERR_AUTH, "x"), FERRY_ERR_AUTH);
}

static void long_messages_truncate_safely(void)
{
    ferry_err err;
    char big[2000];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    ferry_err_set(&err, FERRY_ERR_INVALID, "%s", big);
    CU_ASSERT_EQUAL(strlen(err.msg), sizeof(err.msg) - 1);
    ferry_err_prefix(&err, "ctx");
    CU_ASSERT_EQUAL(strncmp(err.msg, "ctx: aaa", 8), 0);
    CU_ASSERT_EQUAL(strlen(err.msg), sizeof(err.msg) - 1);
}

static const ferry_test_case cases[] = {
    {"every code has distinct text", every_code_has_distinct_text},
    {"retry verdicts", retry_verdicts},
    {"set, prefix, errno", set_prefix_and_errno},
    {"long messages truncate safely", long_messages_truncate_safely},
    {NULL, NULL},
};

int main(void)
{
    static const ferry_test_suite suites[] = {{"error", NULL, NULL, cases},
                                              {NULL, NULL, NULL, NULL}};
    return ferry_test_main(suites);
}
