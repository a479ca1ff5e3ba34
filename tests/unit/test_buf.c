/* Unit tests for buf.c: growth, NUL termination, binary data, take and reset. */
#include <stdlib.h>
#include <string.h>

#include "ferry/buf.h"
#include "ferry_test.h"

static void grows_and_terminates(void)
{
    ferry_buf b = {0};
    for (int i = 0; i < 1000; i++)
        ferry_buf_add(&b, "abc");
    CU_ASSERT_FALSE(b.oom);
    CU_ASSERT_EQUAL(b.len, 3000);
    CU_ASSERT_EQUAL(strlen(b.p), 3000);
    CU_ASSERT_EQUAL(memcmp(b.p + 2997, "abc", 4), 0);
    ferry_buf_addn(&b, "x\0y", 3);
    CU_ASSERT_EQUAL(b.len, 3003);
    CU_ASSERT_EQUAL(memcmp(b.p + 3000, "x\0y\0", 4), 0);
    ferry_buf_reset(&b);
    CU_ASSERT_EQUAL(b.len, 0);
    CU_ASSERT_STRING_EQUAL(b.p, "");
    ferry_buf_cleanup(&b);
    CU_ASSERT_PTR_NULL(b.p);
}

static void take_hands_over(void)
{
    ferry_buf b = {0};
    char *empty = ferry_buf_take(&b);
    CU_ASSERT_PTR_NOT_NULL_FATAL(empty);
    CU_ASSERT_STRING_EQUAL(empty, "");
    free(empty);
    ferry_buf_add(&b, "hello");
    char *s = ferry_buf_take(&b);
    CU_ASSERT_STRING_EQUAL(s, "hello");
    CU_ASSERT_PTR_NULL(b.p);
    CU_ASSERT_EQUAL(b.len, 0);
    free(s);
    /* Out of memory is sticky, and take then gives NULL. */
    ferry_buf_add(&b, "partial");
    b.oom = true;
    ferry_buf_add(&b, "more");
    CU_ASSERT_EQUAL(b.len, 7);
    CU_ASSERT_PTR_NULL(ferry_buf_take(&b));
    CU_ASSERT_PTR_NULL(b.p);
}

static const ferry_test_case cases[] = {
    {"grows and terminates", grows_and_terminates},
    {"take hands over", take_hands_over},
    {NULL, NULL},
};

int main(void)
{
    static const ferry_test_suite suites[] = {{"buf", NULL, NULL, cases}, {NULL, NULL, NULL, NULL}};
    return ferry_test_main(suites);
}
