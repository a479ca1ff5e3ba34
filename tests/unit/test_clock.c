/* Unit tests for clock.c: the backoff's bounds and a sleep that a stop flag ends. */
#include <stdbool.h>

#include "ferry/clock.h"
#include "ferry_test.h"

static void backoff_doubles_and_stops_doubling(void)
{
    for (int i = 0; i < 50; i++) {
        int64_t first = ferry_backoff_ms(1, 200);
        int64_t third = ferry_backoff_ms(3, 200);
        int64_t late = ferry_backoff_ms(40, 200);
        CU_ASSERT(first >= 200 && first < 300);
        CU_ASSERT(third >= 800 && third < 900);
        CU_ASSERT(late >= 6400 && late < 6500); /* at most 32 times the base */
    }
    CU_ASSERT(ferry_backoff_ms(0, 100) >= 100); /* a nonsense attempt counts as the first */
}

static int calls;

static bool stop_at_third_look(void *ud)
{
    (void)ud;
    return ++calls >= 3;
}

static bool never(void *ud)
{
    (void)ud;
    calls++;
    return false;
}

static void sleep_unless_ends_on_stop(void)
{
    calls = 0;
    CU_ASSERT_FALSE(ferry_sleep_unless(60000, stop_at_third_look, NULL)); /* not a minute */
    CU_ASSERT_EQUAL(calls, 3);
    calls = 0;
    CU_ASSERT_TRUE(ferry_sleep_unless(50, never, NULL));
    CU_ASSERT(calls >= 2); /* looked at least at the start and once more */
    CU_ASSERT_TRUE(ferry_sleep_unless(0, NULL, NULL));
}

static const ferry_test_case cases[] = {
    {"backoff doubles, then stops doubling", backoff_doubles_and_stops_doubling},
    {"a sleep ends when the stop flag says so", sleep_unless_ends_on_stop},
    {NULL, NULL},
};

int main(void)
{
    static const ferry_test_suite suites[] = {{"clock", NULL, NULL, cases},
                                              {NULL, NULL, NULL, NULL}};
    return ferry_test_main(suites);
}
