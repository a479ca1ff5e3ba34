/*
 * dlq.h - keeps what arrives on the dead-letter topic in Redis (the state module's dead letters),
 * so that `ferryctl dead-letter list` can show it and `replay` can publish it again. Runs on a
 * thread of its own with its own consumer (group "<prefix>coordinator.dead_letters") and Redis
 * connection.
 */
#ifndef FERRY_DLQ_H
#define FERRY_DLQ_H

#include <stdatomic.h>

#include "ferry/error.h"

typedef struct dlq_cfg {
    const char *brokers;
    int session_timeout_ms;
    const char *topic_prefix;
    const char *redis_url;
    const char *redis_password; /* may be NULL */
    const atomic_bool *stop;    /* the thread returns once it is true */
} dlq_cfg;

typedef struct dlq dlq;

/* Starts the thread. cfg's strings must outlive it. Stop it with dlq_stop(). */
ferry_rc dlq_start(const dlq_cfg *cfg, dlq **out, ferry_err *err);

/* Waits for the thread (after *cfg->stop turned true), closes and frees (NULL is fine). */
void dlq_stop(dlq *d);

#endif
