/*
 * clock.h - the milliseconds every module measures in: a monotonic clock for durations and
 * deadlines, the wall clock for timestamps others read, and a sleep that resumes after signals.
 */
#ifndef FERRY_CLOCK_H
#define FERRY_CLOCK_H

#include <stdint.h>

/* Milliseconds of CLOCK_MONOTONIC: for measuring and waiting, never for stamping. */
int64_t ferry_mono_ms(void);

/* Milliseconds since the Unix epoch (CLOCK_REALTIME): for times stored or shown. */
int64_t ferry_wall_ms(void);

/* Sleeps ms milliseconds (none when ms <= 0), resuming after an interrupting signal. */
void ferry_sleep_ms(int64_t ms);

#endif
