/*
 * dlq.h - keeps what arrives on the dead-letter topic in Redis (the state module's dead letters),
 * so that `ferryctl dead-letter list` can show it and `replay` can publish it again, and counts
 * a dead-lettered step command against its attempt: a step that every worker rejects fails for
 * good after dead_letter_max of them instead of being published again without end. Nothing is
 * committed before it is kept and counted. Runs on a
 * thread of its own with its own consumer (group "<prefix>coordinator.dead_letters") and Redis
 * connection.
 */
#ifndef FERRY_DLQ_H
#define FERRY_DLQ_H

#include <stdatomic.h>
#include <stdint.h>

#include "ferry/bus.h"
#include "ferry/error.h"

typedef struct dlq_cfg {
    const ferry_bus_config *bus; /* brokers and transport (the consumer's own fields are set) */
    int session_timeout_ms;
    const char *topic_prefix;
    const char *redis_url;
    const char *redis_password; /* may be NULL */
    const char *instance;       /* who counts dead letters (the coordinator's id) */
    int64_t dead_letter_max;    /* dead letters of one attempt after which its step fails */
    const atomic_bool *stop;    /* the thread returns once it is true */
} dlq_cfg;

typedef struct dlq dlq;

/* Starts the thread. cfg's strings must outlive it. Stop it with dlq_stop(). */
ferry_rc dlq_start(const dlq_cfg *cfg, dlq **out, ferry_err *err);

/* Waits for the thread (after *cfg->stop turned true), closes and frees (NULL is fine). */
void dlq_stop(dlq *d);

#endif
