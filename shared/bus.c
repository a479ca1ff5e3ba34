/* bus.c - Kafka through librdkafka 2.0.2: producer, group consumer, topic creation, dead letters.
 */
#include "ferry/bus.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ferry.pb-c.h"
#include "ferry/config.h"
#include "ferry/log.h"

#define BUS_DEFAULT_TIMEOUT_MS 30000
#define BUS_FREE_FLUSH_MS      1000
#define BUS_POLL_SLICE_MS      100
#define BUS_TOPIC_MAX          249
#define BUS_CONTEXT_MARGIN_MS  5000

/* What every handle shares; the first member of each handle, so librdkafka's one opaque
 * pointer reaches it from every callback. */
typedef struct bus_client {
    rd_kafka_t *rk;
    int timeout_ms;
    pthread_mutex_t lock;         /* guards the fields below */
    rd_kafka_resp_err_t last_err; /* last error from error_cb, for context in messages */
    char last_errstr[256];
    int64_t last_err_at; /* monotonic ms */
    bool err_pending;    /* consumers: last_err not yet returned by ferry_bus_poll() */
} bus_client;

struct ferry_bus_producer {
    bus_client client;
    ferry_err first_failure; /* first failed async delivery since the last flush; under lock */
};

struct ferry_bus_consumer {
    bus_client client;
    char *group_id;
    bool closed;
    atomic_int assigned;
    atomic_uint rebalances;
    pthread_mutex_t plock; /* guards the fields below; taken inside the rebalance callback */
    bool want_paused;
    rd_kafka_topic_partition_list_t *paused; /* exactly the partitions this consumer paused */
    rd_kafka_resp_err_t rebalance_err;       /* a failed assign/unassign, reported by poll */
};

/* A consumed message: the public view first, so a ferry_bus_msg * converts back. */
typedef struct bus_msg {
    ferry_bus_msg pub;
    rd_kafka_message_t *rkm;
} bus_msg;

/* A synchronous publish waits on this; the delivery report callback fills it. */
typedef struct delivery_wait {
    atomic_int done;
    rd_kafka_resp_err_t rkerr;
} delivery_wait;

static int64_t now_ms(int clock)
{
    struct timespec ts;
    (void)clock_gettime(clock, &ts); /* cannot fail for these clocks */
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Maps a librdkafka error to Ferry's result codes. */
static ferry_rc rc_from_kafka(rd_kafka_resp_err_t e)
{
    switch (e) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
        return FERRY_OK;
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
        return FERRY_ERR_TIMEOUT;
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__RESOLVE:
    case RD_KAFKA_RESP_ERR__WAIT_COORD:
    case RD_KAFKA_RESP_ERR__MAX_POLL_EXCEEDED:
    case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
    case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_NOT_CONTROLLER:
        return FERRY_ERR_UNAVAILABLE;
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
        return FERRY_ERR_NOT_FOUND;
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
        return FERRY_ERR_BUSY;
    case RD_KAFKA_RESP_ERR_THROTTLING_QUOTA_EXCEEDED:
        return FERRY_ERR_THROTTLED;
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR_INVALID_PARTITIONS:
    case RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR:
    case RD_KAFKA_RESP_ERR_INVALID_CONFIG:
    case RD_KAFKA_RESP_ERR_INVALID_REQUEST:
    case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
        return FERRY_ERR_INVALID;
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
        return FERRY_ERR_PERMISSION;
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
        return FERRY_ERR_AUTH;
    case RD_KAFKA_RESP_ERR__STATE:
    case RD_KAFKA_RESP_ERR__ASSIGNMENT_LOST:
    case RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION:
    case RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID:
    case RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID:
        return FERRY_ERR_CONFLICT;
    case RD_KAFKA_RESP_ERR__DESTROY:
    case RD_KAFKA_RESP_ERR__PURGE_QUEUE:
    case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
        return FERRY_ERR_CANCELLED;
    case RD_KAFKA_RESP_ERR__FATAL:
        return FERRY_ERR_PROTOCOL;
    default:
        /* Anything else the broker says is its failure; anything else local is ours. */
        return e > 0 ? FERRY_ERR_SERVER : FERRY_ERR_INTERNAL;
    }
}

/* ---- Callbacks shared by every handle ---------------------------------------------------- */

/* librdkafka's log lines (from its own threads) go to Ferry's logger. PLAINTEXT carries no
 * credentials, and ferry_log redacts whatever is registered as secret anyway. */
static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    ferry_log_level lvl = FERRY_LOG_DEBUG;
    if (level <= 3)
        lvl = FERRY_LOG_ERROR;
    else if (level == 4)
        lvl = FERRY_LOG_WARN;
    else if (level <= 6)
        lvl = FERRY_LOG_INFO;
    ferry_log_kv(lvl, NULL, buf, "component", "kafka", "facility", fac, NULL);
}

/* Errors librdkafka raises outside any one request (broker down, fatal). Recorded, not
 * logged: they give context to the next error returned, and consumers return them from poll.
 * "All brokers down" says less than the transport error just before it, so it does not
 * replace a recent one. */
static void on_error(rd_kafka_t *rk, int e, const char *reason, void *opaque)
{
    (void)rk;
    bus_client *client = opaque;
    int64_t now = now_ms(CLOCK_MONOTONIC);
    (void)pthread_mutex_lock(&client->lock);
    bool recent = client->last_err != 0 &&
                  now - client->last_err_at <= client->timeout_ms + BUS_CONTEXT_MARGIN_MS;
    if (!(e == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN && recent)) {
        client->last_err = (rd_kafka_resp_err_t)e;
        (void)snprintf(client->last_errstr, sizeof(client->last_errstr), "%s", reason);
    }
    client->last_err_at = now;
    client->err_pending = true;
    (void)pthread_mutex_unlock(&client->lock);
}

/* Appends "; last broker error: ..." to err's message when one was seen within the last
 * timeout (plus a margin): older ones say nothing about this failure. For a timeout that
 * follows a connection error, the broker was unreachable: the code becomes UNAVAILABLE; after
 * a failed SASL authentication it becomes AUTH. */
static ferry_rc add_broker_context(bus_client *client, ferry_err *err)
{
    char last[256] = "";
    rd_kafka_resp_err_t last_err = 0;
    (void)pthread_mutex_lock(&client->lock);
    if (client->last_err != 0 && now_ms(CLOCK_MONOTONIC) - client->last_err_at <=
                                     client->timeout_ms + BUS_CONTEXT_MARGIN_MS) {
        last_err = client->last_err;
        (void)snprintf(last, sizeof(last), "%s", client->last_errstr);
    }
    (void)pthread_mutex_unlock(&client->lock);
    if (err == NULL || last_err == 0)
        return err ? err->code : FERRY_ERR_INTERNAL;
    size_t n = strlen(err->msg);
    (void)snprintf(err->msg + n, sizeof(err->msg) - n, "; last broker error: %s", last);
    ferry_rc cause = rc_from_kafka(last_err);
    if (err->code == FERRY_ERR_TIMEOUT &&
        (cause == FERRY_ERR_UNAVAILABLE || cause == FERRY_ERR_AUTH))
        err->code = cause; /* the broker was unreachable, or refused our credentials */
    return err->code;
}

static ferry_rc client_init(bus_client *client, const ferry_bus_config *cfg)
{
    client->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : BUS_DEFAULT_TIMEOUT_MS;
    return pthread_mutex_init(&client->lock, NULL) == 0 ? FERRY_OK : FERRY_ERR_NOMEM;
}

/* Sets one librdkafka property that is not a secret: the value is quoted in the error. Secrets
 * go through conf_set_secret(). */
static ferry_rc conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, ferry_err *err)
{
    char errstr[256];
    if (rd_kafka_conf_set(conf, name, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
        return ferry_err_set(err, FERRY_ERR_CONFIG, "kafka setting %s=%s: %s", name, value, errstr);
    return FERRY_OK;
}

/* Sets a secret property: the error names the property, never the value. */
static ferry_rc conf_set_secret(rd_kafka_conf_t *conf, const char *name, const char *value,
                                ferry_err *err)
{
    char errstr[256];
    if (rd_kafka_conf_set(conf, name, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
        return ferry_err_set(err, FERRY_ERR_CONFIG, "kafka setting %s: refused", name);
    return FERRY_OK;
}

/* The transport: TLS and SASL as cfg says (all unset: PLAINTEXT). */
static ferry_rc conf_transport(rd_kafka_conf_t *conf, const ferry_bus_config *cfg, ferry_err *err)
{
    const char *proto = cfg->security_protocol != NULL ? cfg->security_protocol : "plaintext";
    bool sasl = strncmp(proto, "sasl_", 5) == 0;
    bool tls = strcmp(proto, "ssl") == 0 || strcmp(proto, "sasl_ssl") == 0;
    if (!sasl && !tls && strcmp(proto, "plaintext") != 0)
        return ferry_err_set(err, FERRY_ERR_CONFIG,
                             "kafka: security protocol '%s' is not plaintext, ssl, sasl_plaintext "
                             "or sasl_ssl",
                             proto);
    ferry_rc rc = conf_set(conf, "security.protocol", proto, err);
    if (rc == FERRY_OK && sasl) {
        if (cfg->sasl_username == NULL || cfg->sasl_username[0] == '\0' ||
            cfg->sasl_password == NULL || cfg->sasl_password[0] == '\0')
            return ferry_err_set(err, FERRY_ERR_CONFIG,
                                 "kafka: %s needs a SASL user name and password "
                                 "(FERRY_KAFKA_SASL_USERNAME, FERRY_KAFKA_SASL_PASSWORD)",
                                 proto);
        rc = conf_set(conf, "sasl.mechanism",
                      cfg->sasl_mechanism != NULL ? cfg->sasl_mechanism : "SCRAM-SHA-256", err);
        if (rc == FERRY_OK)
            rc = conf_set(conf, "sasl.username", cfg->sasl_username, err);
        if (rc == FERRY_OK)
            rc = conf_set_secret(conf, "sasl.password", cfg->sasl_password, err);
    }
    if (rc == FERRY_OK && tls && cfg->ssl_ca != NULL && cfg->ssl_ca[0] != '\0')
        rc = conf_set(conf, "ssl.ca.location", cfg->ssl_ca, err);
    if (rc == FERRY_OK && tls && cfg->ssl_cert != NULL && cfg->ssl_cert[0] != '\0')
        rc = conf_set(conf, "ssl.certificate.location", cfg->ssl_cert, err);
    if (rc == FERRY_OK && tls && cfg->ssl_key != NULL && cfg->ssl_key[0] != '\0')
        rc = conf_set(conf, "ssl.key.location", cfg->ssl_key, err);
    return rc;
}

void ferry_bus_config_transport(ferry_bus_config *bc, const struct ferry_cfg *cfg)
{
    bc->security_protocol = ferry_cfg_str(cfg, "kafka.security_protocol");
    bc->sasl_mechanism = ferry_cfg_str(cfg, "kafka.sasl_mechanism");
    bc->sasl_username = ferry_cfg_str(cfg, "kafka.sasl_username");
    bc->sasl_password = ferry_cfg_str(cfg, "kafka.sasl_password");
    bc->ssl_ca = ferry_cfg_str(cfg, "kafka.ssl_ca");
    bc->ssl_cert = ferry_cfg_str(cfg, "kafka.ssl_cert");
    bc->ssl_key = ferry_cfg_str(cfg, "kafka.ssl_key");
}

static ferry_rc conf_set_int(rd_kafka_conf_t *conf, const char *name, int value, ferry_err *err)
{
    char text[24];
    (void)snprintf(text, sizeof(text), "%d", value);
    return conf_set(conf, name, text, err);
}

/* The settings every handle shares. On success *out is the configuration; the caller hands it
 * to rd_kafka_new() or destroys it. */
static ferry_rc conf_common(const ferry_bus_config *cfg, bus_client *client, const char *client_id,
                            rd_kafka_conf_t **out, ferry_err *err)
{
    ferry_rc rc = FERRY_OK;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (conf == NULL)
        return ferry_err_set(err, FERRY_ERR_NOMEM, "kafka configuration: out of memory");
    rc = conf_set(conf, "bootstrap.servers", cfg->brokers, err);
    if (rc != FERRY_OK)
        goto out;
    rc = conf_set(conf, "client.id", client_id, err);
    if (rc != FERRY_OK)
        goto out;
    /* Brokers close idle connections (connections.max.idle.ms); that is not worth a line. */
    rc = conf_set(conf, "log.connection.close", "false", err);
    if (rc != FERRY_OK)
        goto out;
    rc = conf_transport(conf, cfg, err);
    if (rc != FERRY_OK)
        goto out;
    rd_kafka_conf_set_log_cb(conf, on_log);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_opaque(conf, client);
    *out = conf;
    conf = NULL;
out:
    if (conf != NULL)
        rd_kafka_conf_destroy(conf);
    return rc;
}

/* ---- Checks ------------------------------------------------------------------------------ */

bool ferry_bus_topic_valid(const char *name)
{
    if (name == NULL)
        return false;
    size_t len = strlen(name);
    if (len == 0 || len > BUS_TOPIC_MAX || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

ferry_rc ferry_bus_config_check(const ferry_bus_config *cfg, bool need_group, ferry_err *err)
{
    if (cfg == NULL)
        return ferry_err_set(err, FERRY_ERR_CONFIG, "kafka: no configuration");
    if (cfg->brokers == NULL || cfg->brokers[0] == '\0')
        return ferry_err_set(err, FERRY_ERR_CONFIG, "kafka: no brokers given");
    if (need_group && (cfg->group_id == NULL || cfg->group_id[0] == '\0'))
        return ferry_err_set(err, FERRY_ERR_CONFIG, "kafka: a consumer needs a group id");
    if (cfg->client_id != NULL && cfg->client_id[0] == '\0')
        return ferry_err_set(err, FERRY_ERR_CONFIG, "kafka: empty client id");
    if (cfg->timeout_ms < 0 || cfg->session_timeout_ms < 0 || cfg->max_poll_interval_ms < 0)
        return ferry_err_set(err, FERRY_ERR_CONFIG, "kafka: negative timeout");
    return FERRY_OK;
}

/* ---- Producer ----------------------------------------------------------------------------- */

/* Describes a failed delivery to topic in err. */
static ferry_rc delivery_error(bus_client *client, rd_kafka_resp_err_t rkerr, const char *topic,
                               ferry_err *err)
{
    if (rkerr == RD_KAFKA_RESP_ERR__FATAL) {
        char reason[256] = "";
        (void)rd_kafka_fatal_error(client->rk, reason, sizeof(reason));
        return ferry_err_set(err, FERRY_ERR_PROTOCOL,
                             "fatal kafka producer error publishing to %s: %s; the producer "
                             "must be recreated",
                             topic, reason);
    }
    if (rkerr == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT) {
        (void)ferry_err_set(err, FERRY_ERR_TIMEOUT, "publish to %s: not delivered within %d ms",
                            topic, client->timeout_ms);
        return add_broker_context(client, err);
    }
    (void)ferry_err_set(err, rc_from_kafka(rkerr), "publish to %s: %s", topic,
                        rd_kafka_err2str(rkerr));
    return add_broker_context(client, err);
}

/* Delivery reports, served by whichever thread polls the producer. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
    (void)rk;
    ferry_bus_producer *producer = opaque;
    delivery_wait *wait = rkm->_private;
    if (wait != NULL) {
        wait->rkerr = rkm->err;
        atomic_store_explicit(&wait->done, 1, memory_order_release);
        return;
    }
    if (rkm->err == RD_KAFKA_RESP_ERR_NO_ERROR)
        return;
    ferry_err failure;
    ferry_err_clear(&failure);
    (void)delivery_error(&producer->client, rkm->err, rd_kafka_topic_name(rkm->rkt), &failure);
    (void)pthread_mutex_lock(&producer->client.lock);
    if (producer->first_failure.code == FERRY_OK)
        producer->first_failure = failure;
    (void)pthread_mutex_unlock(&producer->client.lock);
}

ferry_rc ferry_bus_producer_new(const ferry_bus_config *cfg, ferry_bus_producer **out,
                                ferry_err *err)
{
    ferry_rc rc = FERRY_OK;
    ferry_bus_producer *producer = NULL;
    rd_kafka_conf_t *conf = NULL;
    char errstr[512];

    *out = NULL;
    rc = ferry_bus_config_check(cfg, false, err);
    if (rc != FERRY_OK)
        return rc;
    producer = calloc(1, sizeof(*producer));
    if (producer == NULL)
        return ferry_err_set(err, FERRY_ERR_NOMEM, "kafka producer: out of memory");
    rc = client_init(&producer->client, cfg);
    if (rc != FERRY_OK) {
        free(producer);
        return ferry_err_set(err, rc, "kafka producer: cannot create a mutex");
    }
    rc = conf_common(cfg, &producer->client, cfg->client_id ? cfg->client_id : "ferry", &conf, err);
    if (rc != FERRY_OK)
        goto out;
    /* Idempotence implies acks=all, bounded in-flight requests and endless retries within
     * message.timeout.ms; acks is set anyway so the intent reads here. */
    rc = conf_set(conf, "enable.idempotence", "true", err);
    if (rc == FERRY_OK)
        rc = conf_set(conf, "acks", "all", err);
    if (rc == FERRY_OK)
        rc = conf_set_int(conf, "message.timeout.ms", producer->client.timeout_ms, err);
    if (rc != FERRY_OK)
        goto out;
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    producer->client.rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (producer->client.rk == NULL) {
        rc = ferry_err_set(err, FERRY_ERR_CONFIG, "kafka producer: %s", errstr);
        goto out;
    }
    conf = NULL; /* rd_kafka_new() took it */
    *out = producer;
    producer = NULL;
out:
    if (conf != NULL)
        rd_kafka_conf_destroy(conf);
    if (producer != NULL) {
        (void)pthread_mutex_destroy(&producer->client.lock);
        free(producer);
    }
    return rc;
}

ferry_rc ferry_bus_producer_prepare(ferry_bus_producer *producer, const char *const *topics,
                                    size_t n, int timeout_ms, ferry_err *err)
{
    if (producer == NULL || (topics == NULL && n > 0) || timeout_ms < 0)
        return ferry_err_set(err, FERRY_ERR_INVALID, "kafka metadata: invalid arguments");
    rd_kafka_t *rk = producer->client.rk;
    for (size_t i = 0; i < n; i++) {
        /* The handle is reference-counted: the one publishing uses later is this same topic. */
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topics[i], NULL);
        if (rkt == NULL)
            return ferry_err_set(err, FERRY_ERR_INVALID, "kafka metadata: topic %s: %s", topics[i],
                                 rd_kafka_err2str(rd_kafka_last_error()));
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t rkerr = rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms);
        ferry_rc rc = FERRY_OK;
        if (rkerr != RD_KAFKA_RESP_ERR_NO_ERROR)
            rc = ferry_err_set(err,
                               rkerr == RD_KAFKA_RESP_ERR__TIMED_OUT ? FERRY_ERR_TIMEOUT
                                                                     : FERRY_ERR_UNAVAILABLE,
                               "kafka metadata: topic %s: %s", topics[i], rd_kafka_err2str(rkerr));
        else if (md->topic_cnt != 1 || md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR)
            rc = ferry_err_set(
                err, FERRY_ERR_UNAVAILABLE, "kafka metadata: topic %s: %s", topics[i],
                rd_kafka_err2str(md->topic_cnt == 1 ? md->topics[0].err
                                                    : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC));
        if (md != NULL)
            rd_kafka_metadata_destroy(md);
        rd_kafka_topic_destroy(rkt);
        if (rc != FERRY_OK)
            return rc;
    }
    return FERRY_OK;
}

ferry_rc ferry_bus_producer_ping(ferry_bus_producer *producer, int timeout_ms, ferry_err *err)
{
    if (producer == NULL || timeout_ms < 0)
        return ferry_err_set(err, FERRY_ERR_INVALID, "kafka ping: invalid arguments");
    const struct rd_kafka_metadata *md = NULL;
    /* No topic and all_topics 0: the brokers only, the smallest answer there is. */
    rd_kafka_resp_err_t rkerr = rd_kafka_metadata(producer->client.rk, 0, NULL, &md, timeout_ms);
    if (md != NULL)
        rd_kafka_metadata_destroy(md);
    if (rkerr != RD_KAFKA_RESP_ERR_NO_ERROR)
        return ferry_err_set(
            err, rkerr == RD_KAFKA_RESP_ERR__TIMED_OUT ? FERRY_ERR_TIMEOUT : FERRY_ERR_UNAVAILABLE,
            "kafka: %s", rd_kafka_err2str(rkerr));
    return FERRY_OK;
}

void ferry_bus_producer_free(ferry_bus_producer *producer)
{
    if (producer == NULL)
        return;
    rd_kafka_t *rk = producer->client.rk;
    (void)rd_kafka_flush(rk, BUS_FREE_FLUSH_MS); /* the caller flushed already if it cared */
    if (rd_kafka_outq_len(rk) > 0) {
        (void)rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        (void)rd_kafka_poll(rk, 0); /* serve the purged messages' reports */
    }
    rd_kafka_destroy(rk);
    (void)pthread_mutex_destroy(&producer->client.lock);
    free(producer);
}

/* Queues one message; wait (may be NULL) receives its delivery report. */
static ferry_rc produce(ferry_bus_producer *producer, const char *topic, const void *key,
                        size_t key_len, const void *payload, size_t len, delivery_wait *wait,
                        ferry_err *err)
{
    if (producer == NULL || !ferry_bus_topic_valid(topic) || (key == NULL && key_len > 0) ||
        (payload == NULL && len > 0))
        return ferry_err_set(err, FERRY_ERR_INVALID, "publish to %s: invalid arguments",
                             topic ? topic : "(null)");
    rd_kafka_t *rk = producer->client.rk;
    int64_t deadline = now_ms(CLOCK_MONOTONIC) + producer->client.timeout_ms;
    rd_kafka_resp_err_t rkerr;
    for (;;) {
        /* MSG_F_COPY: librdkafka copies the bytes, so the caller's stay its own and const. */
        rkerr = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE((void *)(uintptr_t)payload, len),
            RD_KAFKA_V_OPAQUE(wait), RD_KAFKA_V_END);
        if (rkerr != RD_KAFKA_RESP_ERR__QUEUE_FULL || now_ms(CLOCK_MONOTONIC) >= deadline)
            break;
        (void)rd_kafka_poll(rk, BUS_POLL_SLICE_MS); /* deliveries make room in the queue */
    }
    if (rkerr != RD_KAFKA_RESP_ERR_NO_ERROR)
        return delivery_error(&producer->client, rkerr, topic, err);
    (void)rd_kafka_poll(rk, 0); /* serve delivery reports that are ready */
    return FERRY_OK;
}

ferry_rc ferry_bus_publish(ferry_bus_producer *producer, const char *topic, const void *key,
                           size_t key_len, const void *payload, size_t len, ferry_err *err)
{
    delivery_wait wait;
    atomic_init(&wait.done, 0);
    wait.rkerr = RD_KAFKA_RESP_ERR_NO_ERROR;
    ferry_rc rc = produce(producer, topic, key, key_len, payload, len, &wait, err);
    if (rc != FERRY_OK)
        return rc;
    /* Every queued message gets exactly one delivery report, at the latest when
     * message.timeout.ms (the configured timeout) expires; it writes to `wait`, so this
     * function must not return before it has arrived. Another thread's poll may serve it. */
    while (atomic_load_explicit(&wait.done, memory_order_acquire) == 0)
        (void)rd_kafka_poll(producer->client.rk, BUS_POLL_SLICE_MS);
    if (wait.rkerr != RD_KAFKA_RESP_ERR_NO_ERROR)
        return delivery_error(&producer->client, wait.rkerr, topic, err);
    return FERRY_OK;
}

ferry_rc ferry_bus_publish_async(ferry_bus_producer *producer, const char *topic, const void *key,
                                 size_t key_len, const void *payload, size_t len, ferry_err *err)
{
    return produce(producer, topic, key, key_len, payload, len, NULL, err);
}

ferry_rc ferry_bus_flush(ferry_bus_producer *producer, int timeout_ms, ferry_err *err)
{
    if (producer == NULL || timeout_ms < 0)
        return ferry_err_set(err, FERRY_ERR_INVALID, "kafka flush: invalid arguments");
    rd_kafka_resp_err_t rkerr = rd_kafka_flush(producer->client.rk, timeout_ms);
    ferry_err failure;
    (void)pthread_mutex_lock(&producer->client.lock);
    failure = producer->first_failure;
    ferry_err_clear(&producer->first_failure);
    (void)pthread_mutex_unlock(&producer->client.lock);
    if (failure.code != FERRY_OK) {
        if (err != NULL)
            *err = failure;
        return failure.code;
    }
    if (rkerr == RD_KAFKA_RESP_ERR__TIMED_OUT) {
        (void)ferry_err_set(err, FERRY_ERR_TIMEOUT,
                            "kafka flush: %d message(s) still queued after %d ms",
                            rd_kafka_outq_len(producer->client.rk), timeout_ms);
        return add_broker_context(&producer->client, err);
    }
    return FERRY_OK;
}

/* ---- Consumer ----------------------------------------------------------------------------- */

void ferry_bus_msg_free(ferry_bus_msg *msg)
{
    if (msg == NULL)
        return;
    bus_msg *m = (bus_msg *)msg;
    rd_kafka_message_destroy(m->rkm);
    free(m);
}

/* Adds to consumer->paused the partitions of parts that were paused without error.
 * Called with plock held. */
static void paused_add(ferry_bus_consumer *consumer, const rd_kafka_topic_partition_list_t *parts)
{
    for (int i = 0; i < parts->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &parts->elems[i];
        if (p->err != RD_KAFKA_RESP_ERR_NO_ERROR)
            continue;
        if (rd_kafka_topic_partition_list_find(consumer->paused, p->topic, p->partition) != NULL)
            continue;
        (void)rd_kafka_topic_partition_list_add(consumer->paused, p->topic, p->partition);
    }
}

/* Forgets the paused partitions that parts gives up. Called with plock held. */
static void paused_remove(ferry_bus_consumer *consumer,
                          const rd_kafka_topic_partition_list_t *parts)
{
    for (int i = 0; i < parts->cnt; i++)
        (void)rd_kafka_topic_partition_list_del(consumer->paused, parts->elems[i].topic,
                                                parts->elems[i].partition);
}

/* Pauses parts (not yet paused by us) and records them. Called with plock held. */
static rd_kafka_resp_err_t pause_parts(ferry_bus_consumer *consumer,
                                       const rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_resp_err_t rkerr = RD_KAFKA_RESP_ERR_NO_ERROR;
    rd_kafka_topic_partition_list_t *todo = rd_kafka_topic_partition_list_new(parts->cnt);
    for (int i = 0; i < parts->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &parts->elems[i];
        if (rd_kafka_topic_partition_list_find(consumer->paused, p->topic, p->partition) == NULL)
            (void)rd_kafka_topic_partition_list_add(todo, p->topic, p->partition);
    }
    if (todo->cnt > 0) {
        rkerr = rd_kafka_pause_partitions(consumer->client.rk, todo);
        if (rkerr == RD_KAFKA_RESP_ERR_NO_ERROR)
            paused_add(consumer, todo);
    }
    rd_kafka_topic_partition_list_destroy(todo);
    return rkerr;
}

static int assignment_count(rd_kafka_t *rk)
{
    rd_kafka_topic_partition_list_t *cur = NULL;
    if (rd_kafka_assignment(rk, &cur) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return 0;
    int n = cur->cnt;
    rd_kafka_topic_partition_list_destroy(cur);
    return n;
}

/*
 * Rebalances, served inside ferry_bus_poll() (and close). With the range assignor the
 * protocol is EAGER: everything is revoked, then the new set assigned. The COOPERATIVE branch
 * keeps this correct should the strategy ever change. A consumer that wants to be paused
 * pauses what it is newly given, so a rebalance never resumes fetching behind its back.
 */
static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t why,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    ferry_bus_consumer *consumer = opaque;
    bool cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    rd_kafka_resp_err_t rkerr = RD_KAFKA_RESP_ERR_NO_ERROR;
    rd_kafka_error_t *error = NULL;

    atomic_fetch_add(&consumer->rebalances, 1u);
    (void)pthread_mutex_lock(&consumer->plock);
    if (why == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        if (cooperative)
            error = rd_kafka_incremental_assign(rk, parts);
        else
            rkerr = rd_kafka_assign(rk, parts);
        if (error == NULL && rkerr == RD_KAFKA_RESP_ERR_NO_ERROR && consumer->want_paused)
            rkerr = pause_parts(consumer, parts);
    } else {
        /* REVOKE_PARTITIONS, or a rebalance error: give up what is named (everything when
         * eager). Offsets are committed per message, so nothing needs committing here. */
        if (cooperative)
            error = rd_kafka_incremental_unassign(rk, parts);
        else
            rkerr = rd_kafka_assign(rk, NULL);
        paused_remove(consumer, parts);
    }
    if (error != NULL) {
        rkerr = rd_kafka_error_code(error);
        rd_kafka_error_destroy(error);
    }
    if (rkerr != RD_KAFKA_RESP_ERR_NO_ERROR && consumer->rebalance_err == 0)
        consumer->rebalance_err = rkerr;
    (void)pthread_mutex_unlock(&consumer->plock);
    atomic_store(&consumer->assigned, assignment_count(rk));
}

ferry_rc ferry_bus_consumer_new(const ferry_bus_config *cfg, ferry_bus_consumer **out,
                                ferry_err *err)
{
    ferry_rc rc = FERRY_OK;
    ferry_bus_consumer *consumer = NULL;
    rd_kafka_conf_t *conf = NULL;
    bool plock_ok = false;
    char errstr[512];

    *out = NULL;
    rc = ferry_bus_config_check(cfg, true, err);
    if (rc != FERRY_OK)
        return rc;
    consumer = calloc(1, sizeof(*consumer));
    if (consumer == NULL)
        return ferry_err_set(err, FERRY_ERR_NOMEM, "kafka consumer: out of memory");
    rc = client_init(&consumer->client, cfg);
    if (rc != FERRY_OK) {
        free(consumer);
        return ferry_err_set(err, rc, "kafka consumer: cannot create a mutex");
    }
    atomic_init(&consumer->assigned, 0);
    atomic_init(&consumer->rebalances, 0u);
    plock_ok = pthread_mutex_init(&consumer->plock, NULL) == 0;
    consumer->group_id = strdup(cfg->group_id);
    consumer->paused = rd_kafka_topic_partition_list_new(8);
    if (!plock_ok || consumer->group_id == NULL || consumer->paused == NULL) {
        rc = ferry_err_set(err, FERRY_ERR_NOMEM, "kafka consumer: out of memory");
        goto out;
    }
    rc = conf_common(cfg, &consumer->client, cfg->client_id ? cfg->client_id : "ferry", &conf, err);
    if (rc != FERRY_OK)
        goto out;
    const struct {
        const char *name, *value;
    } fixed[] = {
        {"group.id", cfg->group_id},
        /* Commits are explicit, after the work is claimed (docs/kafka.md). */
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"auto.offset.reset", "earliest"},
        /* cooperative-sticky has loops, lost assignments and hangs in 2.0.2 (REFERENCE.md). */
        {"partition.assignment.strategy", "range"},
        {"enable.partition.eof", "false"},
    };
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]) && rc == FERRY_OK; i++)
        rc = conf_set(conf, fixed[i].name, fixed[i].value, err);
    if (rc == FERRY_OK && cfg->session_timeout_ms > 0)
        rc = conf_set_int(conf, "session.timeout.ms", cfg->session_timeout_ms, err);
    if (rc == FERRY_OK && cfg->max_poll_interval_ms > 0)
        rc = conf_set_int(conf, "max.poll.interval.ms", cfg->max_poll_interval_ms, err);
    if (rc != FERRY_OK)
        goto out;
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    consumer->client.rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (consumer->client.rk == NULL) {
        rc = ferry_err_set(err, FERRY_ERR_CONFIG, "kafka consumer: %s", errstr);
        goto out;
    }
    conf = NULL; /* rd_kafka_new() took it */
    /* One queue for everything: messages, rebalances, errors and logs all come through
     * rd_kafka_consumer_poll(). */
    rd_kafka_resp_err_t rkerr = rd_kafka_poll_set_consumer(consumer->client.rk);
    if (rkerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rc = ferry_err_set(err, FERRY_ERR_INTERNAL, "kafka consumer: %s", rd_kafka_err2str(rkerr));
        goto out;
    }
    *out = consumer;
    consumer = NULL;
out:
    if (conf != NULL)
        rd_kafka_conf_destroy(conf);
    if (consumer != NULL) {
        if (consumer->client.rk != NULL)
            rd_kafka_destroy_flags(consumer->client.rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
        if (consumer->paused != NULL)
            rd_kafka_topic_partition_list_destroy(consumer->paused);
        free(consumer->group_id);
        if (plock_ok)
            (void)pthread_mutex_destroy(&consumer->plock);
        (void)pthread_mutex_destroy(&consumer->client.lock);
        free(consumer);
    }
    return rc;
}

ferry_rc ferry_bus_subscribe(ferry_bus_consumer *consumer, const char *const *topics, size_t count,
                             ferry_err *err)
{
    if (consumer == NULL || consumer->closed || topics == NULL || count == 0 || count > INT32_MAX)
        return ferry_err_set(err, FERRY_ERR_INVALID, "kafka subscribe: invalid arguments");
    for (size_t i = 0; i < count; i++) {
        if (!ferry_bus_topic_valid(topics[i]))
            return ferry_err_set(err, FERRY_ERR_INVALID, "kafka subscribe: invalid topic '%s'",
                                 topics[i] ? topics[i] : "(null)");
    }
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)count);
    for (size_t i = 0; i < count; i++)
        (void)rd_kafka_topic_partition_list_add(list, topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t rkerr = rd_kafka_subscribe(consumer->client.rk, list);
    rd_kafka_topic_partition_list_destroy(list);
    if (rkerr != RD_KAFKA_RESP_ERR_NO_ERROR)
        return ferry_err_set(err, rc_from_kafka(rkerr), "kafka subscribe: %s",
                             rd_kafka_err2str(rkerr));
    return FERRY_OK;
}

static ferry_rc fatal_error(ferry_bus_consumer *consumer, ferry_err *err)
{
    char reason[256] = "";
    rd_kafka_resp_err_t rkerr = rd_kafka_fatal_error(consumer->client.rk, reason, sizeof(reason));
    return ferry_err_set(err, FERRY_ERR_PROTOCOL,
                         "fatal kafka consumer error: %s: %s; close the consumer", reason,
                         rd_kafka_err2name(rkerr));
}

/* Returns (once) an error recorded by a callback since the last poll, as a retryable one. */
static ferry_rc pending_error(ferry_bus_consumer *consumer, ferry_err *err)
{
    rd_kafka_resp_err_t rebalance_err = 0;
    (void)pthread_mutex_lock(&consumer->plock);
    rebalance_err = consumer->rebalance_err;
    consumer->rebalance_err = 0;
    (void)pthread_mutex_unlock(&consumer->plock);
    if (rebalance_err != 0)
        return ferry_err_set(err, FERRY_ERR_UNAVAILABLE, "kafka rebalance: %s",
                             rd_kafka_err2str(rebalance_err));

    bus_client *client = &consumer->client;
    ferry_rc rc = FERRY_OK;
    (void)pthread_mutex_lock(&client->lock);
    if (client->err_pending) {
        client->err_pending = false;
        rc = rc_from_kafka(client->last_err);
        if (!ferry_rc_retryable(rc))
            rc = FERRY_ERR_UNAVAILABLE;
        (void)ferry_err_set(err, rc, "kafka consumer: %s", client->last_errstr);
    }
    (void)pthread_mutex_unlock(&client->lock);
    return rc;
}

ferry_rc ferry_bus_poll(ferry_bus_consumer *consumer, int timeout_ms, ferry_bus_msg **out,
                        ferry_err *err)
{
    *out = NULL;
    if (consumer == NULL || consumer->closed || timeout_ms < 0)
        return ferry_err_set(err, FERRY_ERR_INVALID, "kafka poll: invalid arguments or closed");
    rd_kafka_t *rk = consumer->client.rk;
    if (rd_kafka_fatal_error(rk, NULL, 0) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return fatal_error(consumer, err);

    rd_kafka_message_t *rkm = rd_kafka_consumer_poll(rk, timeout_ms);
    if (rkm == NULL && rd_kafka_fatal_error(rk, NULL, 0) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return fatal_error(consumer, err); /* raised through error_cb during this poll */
    if (rkm == NULL)
        return pending_error(consumer, err);
    if (rkm->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_resp_err_t rkerr = rkm->err;
        ferry_rc rc = FERRY_OK;
        if (rkerr == RD_KAFKA_RESP_ERR__FATAL) {
            rc = fatal_error(consumer, err);
        } else if (rkerr != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            /* Informational: librdkafka keeps going by itself. */
            rc = rc_from_kafka(rkerr);
            if (!ferry_rc_retryable(rc))
                rc = FERRY_ERR_UNAVAILABLE;
            if (rkm->rkt != NULL)
                (void)ferry_err_set(err, rc, "kafka consumer: %s [%d]: %s",
                                    rd_kafka_topic_name(rkm->rkt), (int)rkm->partition,
                                    rd_kafka_message_errstr(rkm));
            else
                (void)ferry_err_set(err, rc, "kafka consumer: %s", rd_kafka_message_errstr(rkm));
        }
        rd_kafka_message_destroy(rkm);
        return rc;
    }

    bus_msg *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        /* The message is not lost: it was not committed, so it comes again after a restart. */
        rd_kafka_message_destroy(rkm);
        return ferry_err_set(err, FERRY_ERR_NOMEM, "kafka poll: out of memory");
    }
    m->rkm = rkm;
    m->pub.topic = rd_kafka_topic_name(rkm->rkt);
    m->pub.partition = rkm->partition;
    m->pub.offset = rkm->offset;
    m->pub.key = rkm->key;
    m->pub.key_len = rkm->key ? rkm->key_len : 0;
    m->pub.payload = rkm->payload;
    m->pub.len = rkm->payload ? rkm->len : 0;
    rd_kafka_timestamp_type_t tstype;
    m->pub.timestamp_ms = rd_kafka_message_timestamp(rkm, &tstype);
    *out = &m->pub;
    return FERRY_OK;
}

/* Whether topic/partition is in the current assignment. */
static bool is_assigned(rd_kafka_t *rk, const char *topic, int32_t partition)
{
    rd_kafka_topic_partition_list_t *cur = NULL;
    if (rd_kafka_assignment(rk, &cur) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return false;
    bool found = rd_kafka_topic_partition_list_find(cur, topic, partition) != NULL;
    rd_kafka_topic_partition_list_destroy(cur);
    return found;
}

ferry_rc ferry_bus_commit(ferry_bus_consumer *consumer, const ferry_bus_msg *msg, ferry_err *err)
{
    ferry_rc rc = FERRY_OK;
    rd_kafka_topic_partition_list_t *offsets = NULL;
    rd_kafka_queue_t *queue = NULL;
    rd_kafka_event_t *ev = NULL;

    if (consumer == NULL || consumer->closed || msg == NULL || msg->topic == NULL ||
        msg->offset < 0)
        return ferry_err_set(err, FERRY_ERR_INVALID, "kafka commit: invalid arguments or closed");
    rd_kafka_t *rk = consumer->client.rk;
    /* The broker checks only the member and generation, not who owns the partition: a commit
     * for a partition given to another member could move that member's position back. */
    if (!is_assigned(rk, msg->topic, msg->partition))
        return ferry_err_set(err, FERRY_ERR_CONFLICT,
                             "kafka commit %s [%d] offset %lld: partition no longer assigned",
                             msg->topic, (int)msg->partition, (long long)msg->offset);

    offsets = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(offsets, msg->topic, msg->partition)->offset =
        msg->offset + 1;
    /* rd_kafka_commit(sync) waits without a bound when the coordinator is gone; the result
     * on a queue of our own can be awaited for a bounded time instead. */
    queue = rd_kafka_queue_new(rk);
    rd_kafka_resp_err_t rkerr = rd_kafka_commit_queue(rk, offsets, queue, NULL, NULL);
    if (rkerr != RD_KAFKA_RESP_ERR_NO_ERROR)
        goto failed;
    int64_t deadline = now_ms(CLOCK_MONOTONIC) + consumer->client.timeout_ms;
    for (;;) {
        int64_t left = deadline - now_ms(CLOCK_MONOTONIC);
        if (left <= 0) {
            rc = ferry_err_set(err, FERRY_ERR_TIMEOUT,
                               "kafka commit %s [%d] offset %lld: no answer within %d ms",
                               msg->topic, (int)msg->partition, (long long)msg->offset,
                               consumer->client.timeout_ms);
            (void)add_broker_context(&consumer->client, err);
            goto out;
        }
        ev = rd_kafka_queue_poll(queue, (int)left);
        if (ev != NULL && rd_kafka_event_type(ev) == RD_KAFKA_EVENT_OFFSET_COMMIT)
            break;
        if (ev != NULL)
            rd_kafka_event_destroy(ev);
        ev = NULL;
    }
    rkerr = rd_kafka_event_error(ev);
    if (rkerr != RD_KAFKA_RESP_ERR_NO_ERROR)
        goto failed;
    const rd_kafka_topic_partition_list_t *result = rd_kafka_event_topic_partition_list(ev);
    for (int i = 0; result != NULL && i < result->cnt; i++) {
        if (result->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            rkerr = result->elems[i].err;
            goto failed;
        }
    }
    goto out;
failed:
    rc =
        ferry_err_set(err, rc_from_kafka(rkerr), "kafka commit %s [%d] offset %lld: %s", msg->topic,
                      (int)msg->partition, (long long)msg->offset, rd_kafka_err2str(rkerr));
out:
    if (ev != NULL)
        rd_kafka_event_destroy(ev);
    if (queue != NULL)
        rd_kafka_queue_destroy(queue);
    rd_kafka_topic_partition_list_destroy(offsets);
    return rc;
}

ferry_rc ferry_bus_pause(ferry_bus_consumer *consumer, ferry_err *err)
{
    if (consumer == NULL || consumer->closed)
        return ferry_err_set(err, FERRY_ERR_INVALID, "kafka pause: invalid arguments or closed");
    ferry_rc rc = FERRY_OK;
    rd_kafka_topic_partition_list_t *cur = NULL;
    (void)pthread_mutex_lock(&consumer->plock);
    consumer->want_paused = true; /* partitions assigned later get paused by on_rebalance */
    rd_kafka_resp_err_t rkerr = rd_kafka_assignment(consumer->client.rk, &cur);
    if (rkerr == RD_KAFKA_RESP_ERR_NO_ERROR)
        rkerr = pause_parts(consumer, cur);
    (void)pthread_mutex_unlock(&consumer->plock);
    if (cur != NULL)
        rd_kafka_topic_partition_list_destroy(cur);
    if (rkerr != RD_KAFKA_RESP_ERR_NO_ERROR)
        rc = ferry_err_set(err, rc_from_kafka(rkerr), "kafka pause: %s", rd_kafka_err2str(rkerr));
    return rc;
}

ferry_rc ferry_bus_resume(ferry_bus_consumer *consumer, ferry_err *err)
{
    if (consumer == NULL || consumer->closed)
        return ferry_err_set(err, FERRY_ERR_INVALID, "kafka resume: invalid arguments or closed");
    rd_kafka_resp_err_t rkerr = RD_KAFKA_RESP_ERR_NO_ERROR;
    (void)pthread_mutex_lock(&consumer->plock);
    consumer->want_paused = false;
    if (consumer->paused->cnt > 0) {
        /* Per-partition errors (a partition revoked meanwhile) need nothing done. */
        rkerr = rd_kafka_resume_partitions(consumer->client.rk, consumer->paused);
        rd_kafka_topic_partition_list_t *empty = rd_kafka_topic_partition_list_new(8);
        rd_kafka_topic_partition_list_destroy(consumer->paused);
        consumer->paused = empty;
    }
    (void)pthread_mutex_unlock(&consumer->plock);
    if (rkerr != RD_KAFKA_RESP_ERR_NO_ERROR)
        return ferry_err_set(err, rc_from_kafka(rkerr), "kafka resume: %s",
                             rd_kafka_err2str(rkerr));
    return FERRY_OK;
}

int ferry_bus_assigned(const ferry_bus_consumer *consumer)
{
    return consumer ? atomic_load(&consumer->assigned) : 0;
}

unsigned ferry_bus_rebalances(const ferry_bus_consumer *consumer)
{
    return consumer ? atomic_load(&consumer->rebalances) : 0u;
}

void ferry_bus_consumer_id(const ferry_bus_consumer *consumer, char *out, size_t outsz)
{
    if (out == NULL || outsz == 0)
        return;
    if (consumer == NULL) {
        out[0] = '\0';
        return;
    }
    char *member = rd_kafka_memberid(consumer->client.rk);
    (void)snprintf(out, outsz, "%s/%s", consumer->group_id, member ? member : "");
    if (member != NULL)
        rd_kafka_mem_free(consumer->client.rk, member);
}

ferry_rc ferry_bus_consumer_close(ferry_bus_consumer *consumer, ferry_err *err)
{
    if (consumer == NULL)
        return ferry_err_set(err, FERRY_ERR_INVALID, "kafka close: no consumer");
    if (consumer->closed)
        return FERRY_OK;
    consumer->closed = true;
    ferry_rc rc = FERRY_OK;
    rd_kafka_t *rk = consumer->client.rk;
    /* rd_kafka_consumer_close() may block for up to the session timeout; closing through a
     * queue we serve ourselves keeps to our own bound. That queue is served with the event
     * API (serving it with callbacks trips an assert in 2.0.2): the revocation arrives as a
     * REBALANCE event and is handed to on_rebalance, which unassigns. */
    rd_kafka_queue_t *queue = rd_kafka_queue_new(rk);
    rd_kafka_error_t *error = rd_kafka_consumer_close_queue(rk, queue);
    if (error != NULL) {
        rc = ferry_err_set(err, rc_from_kafka(rd_kafka_error_code(error)), "kafka close: %s",
                           rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
        goto out;
    }
    int64_t deadline = now_ms(CLOCK_MONOTONIC) + consumer->client.timeout_ms;
    while (!rd_kafka_consumer_closed(rk)) {
        if (now_ms(CLOCK_MONOTONIC) >= deadline) {
            rc = ferry_err_set(err, FERRY_ERR_TIMEOUT, "kafka close: group not left within %d ms",
                               consumer->client.timeout_ms);
            goto out;
        }
        rd_kafka_event_t *ev = rd_kafka_queue_poll(queue, BUS_POLL_SLICE_MS);
        if (ev != NULL && rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE)
            on_rebalance(rk, rd_kafka_event_error(ev), rd_kafka_event_topic_partition_list(ev),
                         consumer);
        if (ev != NULL)
            rd_kafka_event_destroy(ev);
    }
out:
    rd_kafka_queue_destroy(queue);
    atomic_store(&consumer->assigned, 0);
    return rc;
}

void ferry_bus_consumer_free(ferry_bus_consumer *consumer)
{
    if (consumer == NULL)
        return;
    (void)ferry_bus_consumer_close(consumer, NULL); /* the caller closed first if it cared */
    rd_kafka_destroy_flags(consumer->client.rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    rd_kafka_topic_partition_list_destroy(consumer->paused);
    free(consumer->group_id);
    (void)pthread_mutex_destroy(&consumer->plock);
    (void)pthread_mutex_destroy(&consumer->client.lock);
    free(consumer);
}

/* ---- Topics ------------------------------------------------------------------------------- */

ferry_rc ferry_bus_create_topics(const ferry_bus_config *base, const char *const *names,
                                 size_t count, int partitions, int replication, int timeout_ms,
                                 ferry_err *err)
{
    ferry_rc rc = FERRY_OK;
    bus_client client = {0};
    bool lock_ok = false;
    rd_kafka_conf_t *conf = NULL;
    rd_kafka_NewTopic_t **topics = NULL;
    size_t made = 0;
    rd_kafka_AdminOptions_t *opts = NULL;
    rd_kafka_queue_t *queue = NULL;
    rd_kafka_event_t *ev = NULL;
    char errstr[512];

    if (names == NULL || count == 0 || timeout_ms <= 0 || (partitions < 1 && partitions != -1) ||
        (replication < 1 && replication != -1) || replication > INT16_MAX)
        return ferry_err_set(err, FERRY_ERR_INVALID, "kafka create topics: invalid arguments");
    for (size_t i = 0; i < count; i++) {
        if (!ferry_bus_topic_valid(names[i]))
            return ferry_err_set(err, FERRY_ERR_INVALID, "kafka create topics: invalid topic '%s'",
                                 names[i] ? names[i] : "(null)");
    }
    if (base == NULL)
        return ferry_err_set(err, FERRY_ERR_CONFIG, "kafka: no configuration");
    ferry_bus_config cfg = *base;
    cfg.client_id = NULL;
    cfg.group_id = NULL;
    cfg.timeout_ms = timeout_ms;
    rc = ferry_bus_config_check(&cfg, false, err);
    if (rc != FERRY_OK)
        return rc;

    rc = client_init(&client, &cfg);
    if (rc != FERRY_OK)
        return ferry_err_set(err, rc, "kafka create topics: cannot create a mutex");
    lock_ok = true;
    rc = conf_common(&cfg, &client, "ferry-admin", &conf, err);
    if (rc != FERRY_OK)
        goto out;
    client.rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (client.rk == NULL) {
        rc = ferry_err_set(err, FERRY_ERR_CONFIG, "kafka create topics: %s", errstr);
        goto out;
    }
    conf = NULL; /* rd_kafka_new() took it */

    topics = calloc(count, sizeof(*topics));
    if (topics == NULL) {
        rc = ferry_err_set(err, FERRY_ERR_NOMEM, "kafka create topics: out of memory");
        goto out;
    }
    for (made = 0; made < count; made++) {
        topics[made] =
            rd_kafka_NewTopic_new(names[made], partitions, replication, errstr, sizeof(errstr));
        if (topics[made] == NULL) {
            rc = ferry_err_set(err, FERRY_ERR_INVALID, "kafka create topic %s: %s", names[made],
                               errstr);
            goto out;
        }
    }
    opts = rd_kafka_AdminOptions_new(client.rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    /* The request timeout bounds everything, including finding the controller; the broker
     * gets half of it to finish creating the topics. */
    if (rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, errstr, sizeof(errstr)) !=
            RD_KAFKA_RESP_ERR_NO_ERROR ||
        rd_kafka_AdminOptions_set_operation_timeout(opts, timeout_ms / 2, errstr, sizeof(errstr)) !=
            RD_KAFKA_RESP_ERR_NO_ERROR) {
        rc = ferry_err_set(err, FERRY_ERR_INVALID, "kafka create topics: %s", errstr);
        goto out;
    }
    queue = rd_kafka_queue_new(client.rk);
    rd_kafka_CreateTopics(client.rk, topics, count, opts, queue);

    /* librdkafka answers by itself when the request timeout expires; the margin only guards
     * against that answer never coming. Polling the handle serves error_cb for context. */
    int64_t deadline = now_ms(CLOCK_MONOTONIC) + timeout_ms + 5000;
    while (ev == NULL) {
        (void)rd_kafka_poll(client.rk, 0);
        if (now_ms(CLOCK_MONOTONIC) >= deadline) {
            rc = ferry_err_set(err, FERRY_ERR_TIMEOUT,
                               "kafka create topics: no answer within %d ms", timeout_ms);
            (void)add_broker_context(&client, err);
            goto out;
        }
        ev = rd_kafka_queue_poll(queue, BUS_POLL_SLICE_MS);
    }
    (void)rd_kafka_poll(client.rk, 0);
    if (rd_kafka_event_type(ev) != RD_KAFKA_EVENT_CREATETOPICS_RESULT) {
        rc = ferry_err_set(err, FERRY_ERR_PROTOCOL, "kafka create topics: unexpected event %s",
                           rd_kafka_event_name(ev));
        goto out;
    }
    rd_kafka_resp_err_t rkerr = rd_kafka_event_error(ev);
    if (rkerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
        (void)ferry_err_set(err, rc_from_kafka(rkerr), "kafka create topics: %s",
                            rd_kafka_event_error_string(ev));
        rc = add_broker_context(&client, err);
        goto out;
    }
    size_t n = 0;
    const rd_kafka_topic_result_t **results =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    for (size_t i = 0; i < n; i++) {
        rkerr = rd_kafka_topic_result_error(results[i]);
        if (rkerr == RD_KAFKA_RESP_ERR_NO_ERROR || rkerr == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
            continue;
        const char *why = rd_kafka_topic_result_error_string(results[i]);
        rc = ferry_err_set(err, rc_from_kafka(rkerr), "kafka create topic %s: %s",
                           rd_kafka_topic_result_name(results[i]),
                           why ? why : rd_kafka_err2str(rkerr));
        goto out;
    }
out:
    if (ev != NULL)
        rd_kafka_event_destroy(ev);
    if (queue != NULL)
        rd_kafka_queue_destroy(queue);
    if (opts != NULL)
        rd_kafka_AdminOptions_destroy(opts);
    if (topics != NULL) {
        rd_kafka_NewTopic_destroy_array(topics, made);
        free(topics);
    }
    if (conf != NULL)
        rd_kafka_conf_destroy(conf);
    if (client.rk != NULL)
        rd_kafka_destroy(client.rk);
    if (lock_ok)
        (void)pthread_mutex_destroy(&client.lock);
    return rc;
}

/* ---- Dead letters ------------------------------------------------------------------------- */

ferry_rc ferry_bus_dead_letter_encode(const ferry_bus_msg *original, const char *reason,
                                      const char *consumer_id, int64_t at_unix_ms, uint8_t **out,
                                      size_t *len, ferry_err *err)
{
    *out = NULL;
    *len = 0;
    if (original == NULL || original->topic == NULL || reason == NULL || reason[0] == '\0' ||
        (original->key == NULL && original->key_len > 0) ||
        (original->payload == NULL && original->len > 0))
        return ferry_err_set(err, FERRY_ERR_INVALID, "dead letter: invalid arguments");
    /* protobuf-c's fields are not const; packing only reads them. */
    Ferry__V1__DeadLetter dl = FERRY__V1__DEAD_LETTER__INIT;
    dl.topic = (char *)(uintptr_t)original->topic;
    dl.partition = original->partition;
    dl.offset = original->offset;
    dl.key.data = (uint8_t *)(uintptr_t)original->key;
    dl.key.len = original->key_len;
    dl.payload.data = (uint8_t *)(uintptr_t)original->payload;
    dl.payload.len = original->len;
    dl.reason = (char *)(uintptr_t)reason;
    dl.consumer = (char *)(uintptr_t)(consumer_id ? consumer_id : "");
    dl.at_unix_ms = at_unix_ms;
    size_t size = ferry__v1__dead_letter__get_packed_size(&dl);
    uint8_t *buf = malloc(size > 0 ? size : 1);
    if (buf == NULL)
        return ferry_err_set(err, FERRY_ERR_NOMEM, "dead letter: out of memory");
    if (ferry__v1__dead_letter__pack(&dl, buf) != size) {
        free(buf);
        return ferry_err_set(err, FERRY_ERR_INTERNAL, "dead letter: packed size mismatch");
    }
    *out = buf;
    *len = size;
    return FERRY_OK;
}

ferry_rc ferry_bus_dead_letter(ferry_bus_producer *producer, const char *dlq_topic,
                               const ferry_bus_msg *original, const char *reason,
                               const char *consumer_id, ferry_err *err)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    ferry_rc rc = ferry_bus_dead_letter_encode(original, reason, consumer_id,
                                               now_ms(CLOCK_REALTIME), &buf, &len, err);
    if (rc != FERRY_OK)
        return rc;
    rc = ferry_bus_publish(producer, dlq_topic, original->key, original->key_len, buf, len, err);
    if (rc != FERRY_OK)
        (void)ferry_err_prefix(err, "dead letter for %s [%d] offset %lld", original->topic,
                               (int)original->partition, (long long)original->offset);
    free(buf);
    return rc;
}
