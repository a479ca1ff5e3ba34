/*
 * bus.h - Ferry's Kafka bus (librdkafka): an idempotent producer, a group consumer with manual
 * commits, topic creation and the dead-letter topic. The only module that includes
 * librdkafka/rdkafka.h; every handle here is opaque.
 *
 * Settings come from the caller (the binary reads kafka.brokers, kafka.topic_prefix and
 * kafka.partitions from ferry_cfg); this module never reads the environment. librdkafka's own
 * log lines go to ferry_log with key component=kafka. See docs/kafka.md for how Ferry uses Kafka.
 *
 * Every call is bounded in time: an unreachable broker gives an error (TIMEOUT or UNAVAILABLE,
 * both retryable) after at most the configured timeout, never a hang.
 */
#ifndef FERRY_BUS_H
#define FERRY_BUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/error.h"

/* How to reach Kafka. Strings are borrowed for the call that takes the struct (they are copied
 * into librdkafka's configuration). */
typedef struct ferry_bus_config {
    const char *brokers;      /* required: "host:port[,host:port...]" (kafka.brokers) */
    const char *client_id;    /* names this process in broker logs; NULL: "ferry" */
    const char *group_id;     /* consumer group; required by consumers, unused by producers */
    int timeout_ms;           /* bound for one delivery, one commit, one close; 0: 30000 */
    int session_timeout_ms;   /* consumers: group session timeout; 0: librdkafka's 45000 */
    int max_poll_interval_ms; /* consumers: longest gap between polls; 0: librdkafka's 300000 */
    /* The transport (docs/security-transports.md); all NULL: PLAINTEXT. */
    const char *security_protocol; /* "plaintext", "ssl", "sasl_plaintext", "sasl_ssl" */
    const char *sasl_mechanism;    /* "SCRAM-SHA-256" (default), "SCRAM-SHA-512", "PLAIN" */
    const char *sasl_username;
    const char *sasl_password; /* a secret: never in a message or a log line */
    const char *ssl_ca;        /* CA file to verify the brokers; NULL: the system's */
    const char *ssl_cert;      /* client certificate file (mutual TLS); NULL: none */
    const char *ssl_key;       /* its private key file */
} ferry_bus_config;

struct ferry_cfg;

/* Fills the transport fields of bc from the loaded settings (kafka.security_protocol,
 * kafka.sasl_*, kafka.ssl_*); strings borrowed from cfg. */
void ferry_bus_config_transport(ferry_bus_config *bc, const struct ferry_cfg *cfg);

/* Checks a configuration without connecting: FERRY_ERR_CONFIG naming the first problem.
 * need_group: the configuration is for a consumer. */
ferry_rc ferry_bus_config_check(const ferry_bus_config *cfg, bool need_group, ferry_err *err);

/* True when name is a legal Kafka topic name (1..249 of [A-Za-z0-9._-], not "." or ".."). */
bool ferry_bus_topic_valid(const char *name);

/* ---- Producer -------------------------------------------------------------------------------
 * Idempotent (enable.idempotence=true, acks=all): a retried send is written once and in order.
 * Thread-safe: any thread may publish and flush. */
typedef struct ferry_bus_producer ferry_bus_producer;

/* Caller frees with ferry_bus_producer_free(). Connects lazily: a bad broker address shows up
 * at the first publish, not here. */
ferry_rc ferry_bus_producer_new(const ferry_bus_config *cfg, ferry_bus_producer **out,
                                ferry_err *err);

/*
 * Fetches the metadata of topics (which must exist) so that the first message to each is sent
 * at once: without it, librdkafka learns a topic's partitions only on its first publish, which
 * costs that message about a second. Optional; waits at most timeout_ms per topic.
 */
ferry_rc ferry_bus_producer_prepare(ferry_bus_producer *producer, const char *const *topics,
                                    size_t n, int timeout_ms, ferry_err *err);

/* FERRY_OK when a broker answers a metadata request within timeout_ms (a health check). */
ferry_rc ferry_bus_producer_ping(ferry_bus_producer *producer, int timeout_ms, ferry_err *err);

/* Flushes for at most 1 s (call ferry_bus_flush() first to see failures), drops anything still
 * queued, and destroys the producer. Accepts NULL. */
void ferry_bus_producer_free(ferry_bus_producer *producer);

/*
 * Publishes one message and waits for its delivery report: FERRY_OK once every in-sync replica
 * has it, else the delivery error. key may be NULL (key_len 0); key and payload are copied.
 * Waits at most cfg.timeout_ms (plus a little).
 */
ferry_rc ferry_bus_publish(ferry_bus_producer *producer, const char *topic, const void *key,
                           size_t key_len, const void *payload, size_t len, ferry_err *err);

/* Queues one message and returns at once; ferry_bus_flush() reports how it went. Fails only
 * when the message cannot be queued (bad topic, too large, fatal producer error). */
ferry_rc ferry_bus_publish_async(ferry_bus_producer *producer, const char *topic, const void *key,
                                 size_t key_len, const void *payload, size_t len, ferry_err *err);

/* Waits up to timeout_ms until every queued message is delivered or failed. Returns the first
 * delivery failure of an async publish since the last flush (then forgets it), FERRY_ERR_TIMEOUT
 * if messages are still queued, else FERRY_OK. */
ferry_rc ferry_bus_flush(ferry_bus_producer *producer, int timeout_ms, ferry_err *err);

/* ---- Messages ------------------------------------------------------------------------------ */

/* One consumed message. Fields are borrowed from the message object and stay valid until
 * ferry_bus_msg_free(). key is NULL when the message has none. */
typedef struct ferry_bus_msg {
    const char *topic;
    int32_t partition;
    int64_t offset;
    const void *key;
    size_t key_len;
    const void *payload;
    size_t len;
    int64_t timestamp_ms; /* producer's create time, -1 when unknown */
} ferry_bus_msg;

/* Frees a message returned by ferry_bus_poll() (only those). Accepts NULL. */
void ferry_bus_msg_free(ferry_bus_msg *msg);

/* ---- Consumer ------------------------------------------------------------------------------
 * A member of cfg.group_id with manual commits (no auto commit, no auto offset store), starting
 * at the earliest offset when the group has none, and the range assignor (cooperative-sticky is
 * buggy in librdkafka 2.0.2). ferry_bus_poll() must be called from one thread, often enough
 * (see max_poll_interval_ms); commit, pause and resume may be called from any thread. */
typedef struct ferry_bus_consumer ferry_bus_consumer;

/* Caller frees with ferry_bus_consumer_free(). */
ferry_rc ferry_bus_consumer_new(const ferry_bus_config *cfg, ferry_bus_consumer **out,
                                ferry_err *err);

/* Subscribes to topics (replacing any earlier subscription). The group join happens inside
 * later ferry_bus_poll() calls. */
ferry_rc ferry_bus_subscribe(ferry_bus_consumer *consumer, const char *const *topics, size_t count,
                             ferry_err *err);

/*
 * Waits up to timeout_ms for one message; also serves rebalances and errors.
 * - FERRY_OK with *out a message (caller frees with ferry_bus_msg_free()), or *out NULL when
 *   nothing arrived in time.
 * - A retryable error for an informational consumer error (broker down, topic not there yet,
 *   a failed rebalance step): note it and keep polling; librdkafka recovers by itself.
 * - FERRY_ERR_PROTOCOL (not retryable, message starts with "fatal") when librdkafka raised a
 *   fatal error: this consumer cannot go on; close it and stop.
 */
ferry_rc ferry_bus_poll(ferry_bus_consumer *consumer, int timeout_ms, ferry_bus_msg **out,
                        ferry_err *err);

/* Commits msg's offset + 1 for its partition and waits for the broker (at most cfg.timeout_ms).
 * Fails when the partition was revoked meanwhile: the message will be delivered again, to this
 * member or another, so its handling must be idempotent. */
ferry_rc ferry_bus_commit(ferry_bus_consumer *consumer, const ferry_bus_msg *msg, ferry_err *err);

/* Stops fetching from every assigned partition, and from any assigned later by a rebalance,
 * until ferry_bus_resume(). Keep polling while paused: polls then serve rebalances only. */
ferry_rc ferry_bus_pause(ferry_bus_consumer *consumer, ferry_err *err);

/* Resumes exactly the partitions this consumer paused (resuming others rewinds their fetch
 * position in librdkafka 2.0.2). Fetching restarts after the last message returned by poll. */
ferry_rc ferry_bus_resume(ferry_bus_consumer *consumer, ferry_err *err);

/* Number of partitions currently assigned, and of rebalance events seen (assign and revoke). */
int ferry_bus_assigned(const ferry_bus_consumer *consumer);
unsigned ferry_bus_rebalances(const ferry_bus_consumer *consumer);

/* Writes "<group>/<member id>" (the member id is empty before the first join) into out. */
void ferry_bus_consumer_id(const ferry_bus_consumer *consumer, char *out, size_t outsz);

/* Leaves the group (revoking the assignment; nothing is committed) and stops fetching; waits
 * at most cfg.timeout_ms. Call it once no other thread uses the consumer; afterwards every call
 * but free returns FERRY_ERR_INVALID, and a second close returns FERRY_OK at once. Messages
 * still held by the caller stay valid. */
ferry_rc ferry_bus_consumer_close(ferry_bus_consumer *consumer, ferry_err *err);

/* Closes the consumer if needed, and frees it. Free every message it returned first. Accepts
 * NULL. */
void ferry_bus_consumer_free(ferry_bus_consumer *consumer);

/* ---- Topics and dead letters --------------------------------------------------------------- */

/*
 * Creates topics through the Admin API with `partitions` partitions and `replication` replicas
 * each (-1 for either: the broker's default). A topic that already exists counts as created
 * (its partition count is not checked). Waits at most timeout_ms. base gives the brokers and
 * the transport (its other fields are not used); names are borrowed.
 */
ferry_rc ferry_bus_create_topics(const ferry_bus_config *base, const char *const *names,
                                 size_t count, int partitions, int replication, int timeout_ms,
                                 ferry_err *err);

/*
 * Encodes a Ferry__V1__DeadLetter for original (topic, partition, offset, key, payload) with
 * reason, consumer_id (NULL: "") and at_unix_ms. On success *out is the encoding; caller frees it
 * with free().
 */
ferry_rc ferry_bus_dead_letter_encode(const ferry_bus_msg *original, const char *reason,
                                      const char *consumer_id, int64_t at_unix_ms, uint8_t **out,
                                      size_t *len, ferry_err *err);

/* Publishes that encoding (at the current time) to dlq_topic, keyed by the original's key, and
 * waits for its delivery like ferry_bus_publish(). */
ferry_rc ferry_bus_dead_letter(ferry_bus_producer *producer, const char *dlq_topic,
                               const ferry_bus_msg *original, const char *reason,
                               const char *consumer_id, ferry_err *err);

#endif
