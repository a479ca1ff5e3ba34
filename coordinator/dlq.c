/* dlq.c - the dead-letter topic, kept in Redis for ferryctl (see dlq.h). */
#include "dlq.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry.pb-c.h"
#include "ferry/bus.h"
#include "ferry/log.h"
#include "ferry/state.h"
#include "ferry/store.h"
#include "ferry/wire.h"

struct dlq {
    dlq_cfg cfg;
    ferry_bus_consumer *consumer;
    ferry_store *store;
    pthread_t thread;
    bool started;
};

/* Stores one dead letter; false when Redis failed (the message is then not committed). */
static bool keep(dlq *d, const ferry_bus_msg *msg)
{
    ferry_err err = {0};
    Ferry__V1__DeadLetter *dl = ferry__v1__dead_letter__unpack(NULL, msg->len, msg->payload);
    /* A dead letter that does not decode is kept whole, as its own payload. */
    ferry_state_dead_letter kept = {.topic = "",
                                    .partition = -1,
                                    .offset = -1,
                                    .reason = "this dead letter does not decode",
                                    .consumer = "",
                                    .at = msg->timestamp_ms,
                                    .payload = msg->payload,
                                    .payload_len = msg->len};
    if (dl != NULL) {
        kept.topic = dl->topic;
        kept.reason = dl->reason;
        kept.consumer = dl->consumer;
        kept.payload = dl->payload.data;
        kept.payload_len = dl->payload.len;
        kept.key = (const char *)dl->key.data;
        kept.key_len = dl->key.len;
        kept.partition = dl->partition;
        kept.offset = dl->offset;
        kept.at = dl->at_unix_ms;
    }
    const char *topic = kept.topic != NULL ? kept.topic : "";
    const char *reason = kept.reason != NULL ? kept.reason : "";
    ferry_rc rc = ferry_state_dead_letter_add(d->store, &kept, &err);
    if (rc == FERRY_OK)
        ferry_log_kv(FERRY_LOG_WARN, NULL, "dead letter kept", "topic", topic, "reason", reason,
                     NULL);
    else
        ferry_log(FERRY_LOG_WARN, NULL, "keeping a dead letter: %s", err.msg);
    ferry__v1__dead_letter__free_unpacked(dl, NULL);
    return rc == FERRY_OK;
}

static void *run(void *arg)
{
    dlq *d = arg;
    ferry_err err = {0};
    while (!atomic_load(d->cfg.stop)) {
        ferry_bus_msg *msg = NULL;
        ferry_rc rc = ferry_bus_poll(d->consumer, 500, &msg, &err);
        if (rc == FERRY_ERR_PROTOCOL) {
            ferry_log(FERRY_LOG_ERROR, NULL, "dead-letter consumer stopped: %s", err.msg);
            break;
        }
        if (msg == NULL)
            continue;
        if (keep(d, msg))
            (void)ferry_bus_commit(d->consumer, msg, &err);
        ferry_bus_msg_free(msg);
    }
    return NULL;
}

ferry_rc dlq_start(const dlq_cfg *cfg, dlq **out, ferry_err *err)
{
    ferry_rc rc = FERRY_OK;
    *out = NULL;
    dlq *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
    d->cfg = *cfg;
    char group[200], topic[200];
    (void)snprintf(group, sizeof(group), "%scoordinator.dead_letters", cfg->topic_prefix);
    if (ferry_wire_dead_letter_topic(cfg->topic_prefix, topic, sizeof(topic)) != 0) {
        rc = ferry_err_set(err, FERRY_ERR_CONFIG, "topic prefix too long");
        goto fail;
    }
    ferry_bus_config bc = {
        .brokers = cfg->brokers, .client_id = "ferry-coordinator-dlq", .group_id = group};
    rc = ferry_bus_consumer_new(&bc, &d->consumer, err);
    if (rc != FERRY_OK)
        goto fail;
    const char *topics[] = {topic};
    rc = ferry_bus_subscribe(d->consumer, topics, 1, err);
    if (rc != FERRY_OK)
        goto fail;
    rc = ferry_store_open(cfg->redis_url, cfg->redis_password, 5000, &d->store, err);
    if (rc != FERRY_OK)
        goto fail;
    (void)ferry_store_set_name(d->store, "ferry-coordinator-dlq", err);
    if (pthread_create(&d->thread, NULL, run, d) != 0) {
        rc = ferry_err_set(err, FERRY_ERR_INTERNAL, "cannot start the dead-letter thread");
        goto fail;
    }
    d->started = true;
    *out = d;
    return FERRY_OK;
fail:
    dlq_stop(d);
    return rc;
}

void dlq_stop(dlq *d)
{
    if (d == NULL)
        return;
    if (d->started)
        (void)pthread_join(d->thread, NULL);
    ferry_bus_consumer_free(d->consumer);
    ferry_store_close(d->store);
    free(d);
}
