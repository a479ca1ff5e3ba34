/*
 * clock.h - the milliseconds every module measures in: a monotonic clock for durations and
 * deadlines, the wall clock for timestamps others read, a sleep that resumes after signals, and
 * the backoff of retries.
 */
#ifndef FERRY_CLOCK_H
#define FERRY_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

/* Milliseconds of CLOCK_MONOTONIC: for measuring and waiting, never for stamping. */
int64_t ferry_mono_ms(void);

/* Milliseconds since the Unix epoch (CLOCK_REALTIME): for times stored or shown. */
int64_t ferry_wall_ms(void);

/* Sleeps ms milliseconds (none when ms <= 0), resuming after an interrupting signal. */
void ferry_sleep_ms(int64_t ms);

/* The pause before try attempt + 1 after a transient failure (attempt >= 1): base_ms doubling
 * with each attempt (at most 32 times base_ms), plus up to 100 ms of jitter so that clients
 * failing together do not retry together. */
int64_t ferry_backoff_ms(int attempt, int64_t base_ms);

/* Sleeps ms milliseconds in slices of 20 ms, while stop (may be NULL) returns false. Returns
 * false when stop ended the sleep early. */
bool ferry_sleep_unless(int64_t ms, bool (*stop)(void *ud), void *ud);

#endif
