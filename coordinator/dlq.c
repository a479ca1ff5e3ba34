/* dlq.c - the dead-letter topic, kept in Redis for ferryctl (see dlq.h). */
#include "dlq.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry.pb-c.h"
#include "ferry/bus.h"
#include "ferry/log.h"
#include "ferry/store.h"
#include "ferry/wire.h"

#define DLQ_STREAM "ferry:dead_letters"
#define DLQ_MAXLEN "10000"

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
    char partition[16], offset[24], at[24];
    const char *topic = "", *reason = "this dead letter does not decode", *consumer = "";
    const void *payload = msg->payload;
    size_t payload_len = msg->len;
    const char *key = "";
    size_t key_len = 0;
    (void)snprintf(partition, sizeof(partition), "%d", -1);
    (void)snprintf(offset, sizeof(offset), "%d", -1);
    (void)snprintf(at, sizeof(at), "%" PRId64, msg->timestamp_ms);
    if (dl != NULL) {
        topic = dl->topic;
        reason = dl->reason;
        consumer = dl->consumer;
        payload = dl->payload.data;
        payload_len = dl->payload.len;
        key = (const char *)dl->key.data;
        key_len = dl->key.len;
        (void)snprintf(partition, sizeof(partition), "%d", (int)dl->partition);
        (void)snprintf(offset, sizeof(offset), "%" PRId64, dl->offset);
        (void)snprintf(at, sizeof(at), "%" PRId64, dl->at_unix_ms);
    }
    const char *argv[] = {"XADD",  DLQ_STREAM, "MAXLEN",    "~",       DLQ_MAXLEN, "*",
                          "topic", topic,      "partition", partition, "offset",   offset,
                          "key",   key,        "reason",    reason,    "consumer", consumer,
                          "at",    at,         "payload",   payload};
    size_t n = sizeof(argv) / sizeof(argv[0]);
    size_t lens[sizeof(argv) / sizeof(argv[0])];
    /* key and payload are bytes (not NUL-terminated): their lengths come from the message. */
    if (key == NULL) {
        key = "";
        key_len = 0;
    }
    if (payload == NULL) {
        payload = "";
        payload_len = 0;
    }
    argv[13] = key;
    argv[n - 1] = payload;
    for (size_t i = 0; i < n; i++) {
        if (i == 13)
            lens[i] = key_len;
        else if (i == n - 1)
            lens[i] = payload_len;
        else
            lens[i] = strlen(argv[i]);
    }
    ferry_rc rc = ferry_store_command(d->store, false, n, argv, lens, NULL, &err);
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
