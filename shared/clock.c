/*
 * clock.c - millisecond clocks and sleep (see clock.h).
 */
#include "ferry/clock.h"

#include <errno.h>
#include <time.h>

static int64_t clock_ms(clockid_t clk)
{
    struct timespec ts;
    if (clock_gettime(clk, &ts) != 0)
        return 0; /* only with a bad clock id, which these are not */
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ferry_mono_ms(void)
{
    return clock_ms(CLOCK_MONOTONIC);
}

int64_t ferry_wall_ms(void)
{
    return clock_ms(CLOCK_REALTIME);
}

void ferry_sleep_ms(int64_t ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

int64_t ferry_backoff_ms(int attempt, int64_t base_ms)
{
    int shift = attempt < 1 ? 0 : attempt > 6 ? 5 : attempt - 1;
    /* The jitter needs no quality, only spread: the monotonic clock's milliseconds. */
    return (base_ms << shift) + ferry_mono_ms() % 100;
}

bool ferry_sleep_unless(int64_t ms, bool (*stop)(void *ud), void *ud)
{
    int64_t until = ferry_mono_ms() + ms;
    for (;;) {
        if (stop != NULL && stop(ud))
            return false;
        int64_t left = until - ferry_mono_ms();
        if (left <= 0)
            return true;
        ferry_sleep_ms(left < 20 ? left : 20);
    }
}
