/*
 * engine.h - the coordinator's engine: reads the event stream as a consumer group, re-evaluates the
 * migrations they name (machine.h), dispatches pending steps to Kafka within the concurrency
 * limits and the live workers' free capacity, expires dead workers' leases, republishes steps
 * nobody claimed, and wakes migrations whose timer is due. It keeps nothing Redis does not have:
 * killed and restarted, it carries on (docs/orchestration.md, "The coordinator's loop").
 *
 * One engine runs on one thread with its own Redis connection; the producer may be shared.
 */
#ifndef FERRY_ENGINE_H
#define FERRY_ENGINE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "ferry/bus.h"
#include "ferry/error.h"
#include "ferry/store.h"
#include "machine.h"

typedef struct engine_cfg {
    const char *topic_prefix; /* "ferry." */
    const char *instance;     /* "coordinator@host:pid": actor in history, issued_by */
    fm_policy policy;         /* pause_ms is the default; each migration's spec may set its own */
    int64_t tick_ms;          /* sweep interval */
    int64_t redispatch_ms;    /* republish a step unclaimed this long */
    int64_t worker_alive_ms;  /* a worker whose heartbeat is older is not counted */
    int64_t limit_kind[5];    /* per kind (index: Ferry__V1__StepKind), 0: none */
    int64_t limit_db_host;    /* dump-restores per source database host, 0: none */
    int64_t limit_bucket;     /* file passes per target bucket, 0: none */
} engine_cfg;

typedef struct engine engine;

/* store and producer are borrowed and must outlive the engine; the store is used only by the
 * engine's thread. cfg's strings are borrowed too. Caller frees with engine_free(). */
ferry_rc engine_new(const engine_cfg *cfg, ferry_store *store, ferry_bus_producer *producer,
                    engine **out, ferry_err *err);
void engine_free(engine *eng);

/* Runs until *stop is true (checked at least every tick). Returns FERRY_OK then, or the error
 * that made it give up (it rides out Redis and Kafka outages, logging them). */
ferry_rc engine_run(engine *eng, const atomic_bool *stop, ferry_err *err);

/* Re-evaluates one migration now and applies the plan (also used by tests). */
ferry_rc engine_evaluate(engine *eng, const char *migration, ferry_err *err);

/* Dispatches what can be dispatched now; returns how many steps were published. */
int engine_dispatch(engine *eng);

/* One sweep: due timers, expired leases, unclaimed steps, then dispatch. */
void engine_tick(engine *eng);

#endif
