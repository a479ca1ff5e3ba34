/*
 * metrics.h - the coordinator's /metrics: Ferry's state in Redis, read at each scrape, written in
 * the Prometheus text format 0.0.4. docs/metrics.md lists every metric and says where it comes
 * from: the migration and step records, the workers' heartbeats, the dead letters, and the
 * counters the step scripts keep (ferry/state.h, "metrics").
 */
#ifndef FERRY_METRICS_H
#define FERRY_METRICS_H

#include <stdint.h>

#include "ferry/buf.h"
#include "ferry/error.h"
#include "ferry/store.h"
#include "machine.h"

typedef struct metrics_cfg {
    int64_t worker_alive_ms; /* a worker heard of within this long is alive */
    const fm_policy *policy; /* for the cutover's limit; borrowed */
} metrics_cfg;

/* The content type of what metrics_render() writes. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Reads everything /metrics shows and appends it to out. On failure out may hold part of it
 * (the caller drops it) and err says what could not be read. Not thread-safe beyond store's. */
ferry_rc metrics_render(ferry_store *store, const metrics_cfg *cfg, ferry_buf *out, ferry_err *err);

/* Pure parts, exposed for tests. */

/* Appends value as a label value: backslash, double quote and newline escaped. */
void metrics_label_escape(ferry_buf *out, const char *value);

/* Appends the families ferry_step_duration_seconds (histogram) and ferry_step_retries_total
 * from the counters of ferry_state_metrics_get() (counters may be NULL: none yet), with the
 * buckets of ferry_state_duration_buckets_ms. */
void metrics_counters_render(const ferry_store_record *counters, ferry_buf *out);

#endif
