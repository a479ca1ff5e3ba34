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
#include "ferry/state.h"
#include "ferry/steps.h"
#include "ferry/store.h"
#include "ferry/wire.h"

struct dlq {
    dlq_cfg cfg;
    ferry_bus_consumer *consumer;
    ferry_store *store;
    pthread_t thread;
    bool started;
};

/* Stores one dead letter; false when Redis failed (the message is then held and tried again,
 * never committed past). */
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

/*
 * Counts a dead-lettered step command against its attempt (ferry_steps_dead_lettered): at the
 * configured number the step fails for good with the dead letter's reason, instead of being
 * published again every redispatch without end. A dead letter that is not a step command of a
 * step topic is only kept. False when Redis failed (tried again).
 */
static bool count(dlq *d, const ferry_bus_msg *msg)
{
    Ferry__V1__DeadLetter *dl = ferry__v1__dead_letter__unpack(NULL, msg->len, msg->payload);
    if (dl == NULL)
        return true;
    bool ok = true;
    Ferry__V1__StepCommand *cmd =
        ferry__v1__step_command__unpack(NULL, dl->payload.len, dl->payload.data);
    const char *kind = cmd != NULL ? ferry_wire_kind_name(cmd->kind) : NULL;
    char topic[256];
    if (kind != NULL && cmd->migration_id != NULL && cmd->step_id != NULL && cmd->attempt > 0 &&
        ferry_wire_step_topic(d->cfg.topic_prefix, cmd->kind, topic, sizeof(topic)) == 0 &&
        dl->topic != NULL && strcmp(dl->topic, topic) == 0) {
        ferry_step_ref ref = {
            .migration = cmd->migration_id, .step = cmd->step_id, .attempt = cmd->attempt};
        ferry_log_ctx lc = {
            .migration = cmd->migration_id, .step = cmd->step_id, .attempt = cmd->attempt};
        ferry_steps_dl outcome = FERRY_STEPS_DL_IGNORED;
        int64_t n = 0;
        ferry_err err = {0};
        ferry_rc rc = ferry_steps_dead_lettered(d->store, &ref, kind, d->cfg.instance, dl->reason,
                                                d->cfg.dead_letter_max, &outcome, &n, &err);
        char text[24];
        (void)snprintf(text, sizeof(text), "%" PRId64, n);
        if (rc == FERRY_ERR_UNAVAILABLE || rc == FERRY_ERR_TIMEOUT) {
            ferry_log(FERRY_LOG_WARN, &lc, "counting a dead letter: %s", err.msg);
            ok = false;
        } else if (rc != FERRY_OK) {
            ferry_log(FERRY_LOG_WARN, &lc, "a dead letter not counted: %s", err.msg);
        } else if (outcome == FERRY_STEPS_DL_FAILED) {
            ferry_log_kv(FERRY_LOG_ERROR, &lc, "every worker rejects this step: failed for good",
                         "dead_letters", text, "reason", dl->reason, NULL);
        } else if (outcome == FERRY_STEPS_DL_COUNTED) {
            ferry_log_kv(FERRY_LOG_WARN, &lc, "a worker rejected this step", "dead_letters", text,
                         "reason", dl->reason, NULL);
        }
    }
    if (cmd != NULL)
        ferry__v1__step_command__free_unpacked(cmd, NULL);
    ferry__v1__dead_letter__free_unpacked(dl, NULL);
    return ok;
}

/* Pauses (or resumes) the consumer while a message waits for Redis: polling goes on for the
 * group, and nothing after the held message arrives meanwhile. */
static void hold(dlq *d, bool on, bool *paused)
{
    ferry_err err = {0};
    if (on == *paused)
        return;
    if ((on ? ferry_bus_pause(d->consumer, &err) : ferry_bus_resume(d->consumer, &err)) == FERRY_OK)
        *paused = on;
    else
        ferry_log(FERRY_LOG_WARN, NULL, "dead-letter consumer: %s", err.msg);
}

/* Messages in hand, oldest first: each is kept, counted and committed in turn. */
typedef struct inbox {
    ferry_bus_msg **v;
    size_t n, cap;
} inbox;

/* Adds msg (taken); false when out of memory (msg is then freed, not committed: it comes
 * again after a restart, and nothing after it is committed before). */
static bool inbox_add(inbox *in, ferry_bus_msg *msg)
{
    if (in->n == in->cap) {
        size_t cap = in->cap ? in->cap * 2 : 4;
        ferry_bus_msg **v = realloc(in->v, cap * sizeof(*v));
        if (v == NULL) {
            ferry_bus_msg_free(msg);
            return false;
        }
        in->v = v;
        in->cap = cap;
    }
    in->v[in->n++] = msg;
    return true;
}

static void *run(void *arg)
{
    dlq *d = arg;
    ferry_err err = {0};
    inbox in = {0};
    bool kept = false, paused = false, broken = false;
    int backoff_ms = 200;
    while (!atomic_load(d->cfg.stop) && !broken) {
        if (in.n > 0) {
            ferry_bus_msg *msg = in.v[0];
            if (!kept)
                kept = keep(d, msg);
            if (kept && count(d, msg)) {
                if (ferry_bus_commit(d->consumer, msg, &err) != FERRY_OK)
                    ferry_log(FERRY_LOG_WARN, NULL, "dead letter committed late: %s", err.msg);
                ferry_bus_msg_free(msg);
                memmove(in.v, in.v + 1, (in.n - 1) * sizeof(in.v[0]));
                in.n--;
                kept = false;
                backoff_ms = 200;
                if (in.n == 0)
                    hold(d, false, &paused);
                continue;
            }
            /* Redis away: the message stays in hand and nothing after it is committed; the
             * consumer is paused meanwhile and polled for the group only. */
            hold(d, true, &paused);
        }
        ferry_bus_msg *msg = NULL;
        ferry_rc rc = ferry_bus_poll(d->consumer, in.n > 0 ? backoff_ms : 500, &msg, &err);
        if (rc == FERRY_ERR_PROTOCOL) {
            ferry_log(FERRY_LOG_ERROR, NULL, "dead-letter consumer stopped: %s", err.msg);
            broken = true;
        }
        if (msg != NULL && !inbox_add(&in, msg)) {
            ferry_log(FERRY_LOG_ERROR, NULL, "dead-letter consumer: out of memory");
            broken = true;
        }
        if (in.n > 0 && msg == NULL)
            backoff_ms = backoff_ms < 5000 ? backoff_ms * 2 : 5000;
    }
    /* Not committed: the group hands them out again. */
    for (size_t i = 0; i < in.n; i++)
        ferry_bus_msg_free(in.v[i]);
    free(in.v);
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
    ferry_bus_config bc = *cfg->bus;
    bc.client_id = "ferry-coordinator-dlq";
    bc.group_id = group;
    bc.timeout_ms = 0;
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
