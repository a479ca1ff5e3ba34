/* Unit tests for bus.c that need no broker: configuration checks, topic names, argument
 * checks that fail before connecting, and the dead-letter encoding. */
#include <stdlib.h>
#include <string.h>

#include "ferry.pb-c.h"
#include "ferry/bus.h"
#include "ferry_test.h"

static void config_check_names_each_problem(void)
{
    ferry_err err;
    ferry_bus_config ok = {.brokers = "127.0.0.1:19092", .group_id = "g"};
    CU_ASSERT_EQUAL(ferry_bus_config_check(&ok, true, &err), FERRY_OK);

    ferry_bus_config no_brokers = {.brokers = "", .group_id = "g"};
    CU_ASSERT_EQUAL(ferry_bus_config_check(&no_brokers, false, &err), FERRY_ERR_CONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "brokers"));

    ferry_bus_config no_group = {.brokers = "127.0.0.1:19092"};
    CU_ASSERT_EQUAL(ferry_bus_config_check(&no_group, false, &err), FERRY_OK);
    CU_ASSERT_EQUAL(ferry_bus_config_check(&no_group, true, &err), FERRY_ERR_CONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "group"));

    ferry_bus_config negative = {.brokers = "127.0.0.1:19092", .timeout_ms = -1};
    CU_ASSERT_EQUAL(ferry_bus_config_check(&negative, false, &err), FERRY_ERR_CONFIG);

    ferry_bus_config empty_client = {.brokers = "127.0.0.1:19092", .client_id = ""};
    CU_ASSERT_EQUAL(ferry_bus_config_check(&empty_client, false, &err), FERRY_ERR_CONFIG);
    CU_ASSERT_EQUAL(ferry_bus_config_check(NULL, false, &err), FERRY_ERR_CONFIG);
}

static void constructors_refuse_bad_config(void)
{
    ferry_err err;
    ferry_bus_producer *producer = (ferry_bus_producer *)&err; /* must be reset to NULL */
    ferry_bus_config no_brokers = {.brokers = NULL};
    CU_ASSERT_EQUAL(ferry_bus_producer_new(&no_brokers, &producer, &err), FERRY_ERR_CONFIG);
    CU_ASSERT_PTR_NULL(producer);

    ferry_bus_consumer *consumer = NULL;
    ferry_bus_config no_group = {.brokers = "127.0.0.1:1"};
    CU_ASSERT_EQUAL(ferry_bus_consumer_new(&no_group, &consumer, &err), FERRY_ERR_CONFIG);
    CU_ASSERT_PTR_NULL(consumer);

    /* librdkafka's own check: max.poll.interval.ms must not be below session.timeout.ms. It
     * fails inside rd_kafka_new(), before any connection. */
    ferry_bus_config bad_intervals = {.brokers = "127.0.0.1:1",
                                      .group_id = "g",
                                      .session_timeout_ms = 30000,
                                      .max_poll_interval_ms = 10000};
    CU_ASSERT_EQUAL(ferry_bus_consumer_new(&bad_intervals, &consumer, &err), FERRY_ERR_CONFIG);
    CU_ASSERT_PTR_NULL(consumer);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "max.poll.interval.ms"));

    ferry_bus_producer_free(NULL);
    ferry_bus_consumer_free(NULL);
    ferry_bus_msg_free(NULL);
}

static void topic_names(void)
{
    CU_ASSERT_TRUE(ferry_bus_topic_valid("ferry.steps.dump_restore"));
    CU_ASSERT_TRUE(ferry_bus_topic_valid("ferry.dead_letter"));
    CU_ASSERT_TRUE(ferry_bus_topic_valid("a-B_9"));
    CU_ASSERT_FALSE(ferry_bus_topic_valid(NULL));
    CU_ASSERT_FALSE(ferry_bus_topic_valid(""));
    CU_ASSERT_FALSE(ferry_bus_topic_valid("."));
    CU_ASSERT_FALSE(ferry_bus_topic_valid(".."));
    CU_ASSERT_FALSE(ferry_bus_topic_valid("has space"));
    CU_ASSERT_FALSE(ferry_bus_topic_valid("slash/topic"));
    char longest[251];
    memset(longest, 'x', sizeof(longest) - 1);
    longest[249] = '\0';
    CU_ASSERT_TRUE(ferry_bus_topic_valid(longest));
    longest[249] = 'x';
    longest[250] = '\0';
    CU_ASSERT_FALSE(ferry_bus_topic_valid(longest));
}

/* These fail on their arguments, before any handle or connection is made. */
static void create_topics_checks_arguments_first(void)
{
    ferry_err err;
    const char *good[] = {"ferry.steps.dns"};
    const char *bad[] = {"ferry.steps.dns", "no spaces allowed"};
    const ferry_bus_config unreachable = {.brokers = "127.0.0.1:1"};
    CU_ASSERT_EQUAL(ferry_bus_create_topics(&unreachable, bad, 2, 3, 1, 1000, &err),
                    FERRY_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "no spaces allowed"));
    CU_ASSERT_EQUAL(ferry_bus_create_topics(&unreachable, good, 1, 0, 1, 1000, &err),
                    FERRY_ERR_INVALID);
    CU_ASSERT_EQUAL(ferry_bus_create_topics(&unreachable, good, 1, 3, 0, 1000, &err),
                    FERRY_ERR_INVALID);
    CU_ASSERT_EQUAL(ferry_bus_create_topics(&unreachable, good, 1, 3, 1, 0, &err),
                    FERRY_ERR_INVALID);
    CU_ASSERT_EQUAL(ferry_bus_create_topics(&unreachable, good, 0, 3, 1, 1000, &err),
                    FERRY_ERR_INVALID);
    CU_ASSERT_EQUAL(ferry_bus_create_topics(NULL, good, 1, 3, 1, 1000, &err), FERRY_ERR_CONFIG);
}

/* The transport settings are checked when a handle is made: an unknown protocol, SASL without
 * its user or password; the error names the settings, never a password. */
static void transport_settings_checked(void)
{
    ferry_err err;
    ferry_bus_producer *p = NULL;
    ferry_bus_config bad = {.brokers = "127.0.0.1:1", .security_protocol = "ssl3"};
    CU_ASSERT_EQUAL(ferry_bus_producer_new(&bad, &p, &err), FERRY_ERR_CONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "ssl3"));
    ferry_bus_config no_user = {.brokers = "127.0.0.1:1",
                                .security_protocol = "sasl_ssl",
                                .sasl_password = "hunter2-secret"};
    CU_ASSERT_EQUAL(ferry_bus_producer_new(&no_user, &p, &err), FERRY_ERR_CONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "FERRY_KAFKA_SASL_USERNAME"));
    CU_ASSERT_PTR_NULL(strstr(err.msg, "hunter2"));
    ferry_bus_config ok = {.brokers = "127.0.0.1:1",
                           .security_protocol = "sasl_plaintext",
                           .sasl_username = "ferry",
                           .sasl_password = "hunter2-secret"};
    CU_ASSERT_EQUAL(ferry_bus_producer_new(&ok, &p, &err), FERRY_OK); /* connects lazily */
    ferry_bus_producer_free(p);
}

static void calls_on_no_handle_are_invalid(void)
{
    ferry_err err;
    ferry_bus_msg *msg = (ferry_bus_msg *)&err; /* must be reset to NULL */
    CU_ASSERT_EQUAL(ferry_bus_poll(NULL, 0, &msg, &err), FERRY_ERR_INVALID);
    CU_ASSERT_PTR_NULL(msg);
    CU_ASSERT_EQUAL(ferry_bus_commit(NULL, NULL, &err), FERRY_ERR_INVALID);
    CU_ASSERT_EQUAL(ferry_bus_pause(NULL, &err), FERRY_ERR_INVALID);
    CU_ASSERT_EQUAL(ferry_bus_resume(NULL, &err), FERRY_ERR_INVALID);
    CU_ASSERT_EQUAL(ferry_bus_publish(NULL, "t", NULL, 0, "x", 1, &err), FERRY_ERR_INVALID);
    CU_ASSERT_EQUAL(ferry_bus_flush(NULL, 0, &err), FERRY_ERR_INVALID);
    CU_ASSERT_EQUAL(ferry_bus_assigned(NULL), 0);
    char id[32] = "junk";
    ferry_bus_consumer_id(NULL, id, sizeof(id));
    CU_ASSERT_STRING_EQUAL(id, "");
}

static void dead_letter_round_trip(void)
{
    static const unsigned char key[] = {'s', 't', 0x00, 'p'};
    static const unsigned char payload[] = {0x0f, 0xff, 0x00, 0xfe, 'g', 'a', 'r', 'b'};
    ferry_bus_msg original = {.topic = "ferry.steps.dns",
                              .partition = 2,
                              .offset = 41,
                              .key = key,
                              .key_len = sizeof(key),
                              .payload = payload,
                              .len = sizeof(payload)};
    uint8_t *buf = NULL;
    size_t len = 0;
    ferry_err err;
    CU_ASSERT_EQUAL_FATAL(ferry_bus_dead_letter_encode(&original, "undecodable StepCommand",
                                                       "dns/member-1", 1700000000123, &buf, &len,
                                                       &err),
                          FERRY_OK);
    Ferry__V1__DeadLetter *dl = ferry__v1__dead_letter__unpack(NULL, len, buf);
    free(buf);
    CU_ASSERT_PTR_NOT_NULL_FATAL(dl);
    CU_ASSERT_STRING_EQUAL(dl->topic, "ferry.steps.dns");
    CU_ASSERT_EQUAL(dl->partition, 2);
    CU_ASSERT_EQUAL(dl->offset, 41);
    CU_ASSERT_EQUAL(dl->key.len, sizeof(key));
    CU_ASSERT_EQUAL(memcmp(dl->key.data, key, sizeof(key)), 0);
    CU_ASSERT_EQUAL(dl->payload.len, sizeof(payload));
    CU_ASSERT_EQUAL(memcmp(dl->payload.data, payload, sizeof(payload)), 0);
    CU_ASSERT_STRING_EQUAL(dl->reason, "undecodable StepCommand");
    CU_ASSERT_STRING_EQUAL(dl->consumer, "dns/member-1");
    CU_ASSERT_EQUAL(dl->at_unix_ms, 1700000000123);
    ferry__v1__dead_letter__free_unpacked(dl, NULL);
}

static void dead_letter_without_key_or_payload(void)
{
    ferry_bus_msg original = {.topic = "t", .partition = 0, .offset = 0};
    uint8_t *buf = NULL;
    size_t len = 0;
    ferry_err err;
    CU_ASSERT_EQUAL_FATAL(
        ferry_bus_dead_letter_encode(&original, "empty", NULL, 1, &buf, &len, &err), FERRY_OK);
    Ferry__V1__DeadLetter *dl = ferry__v1__dead_letter__unpack(NULL, len, buf);
    free(buf);
    CU_ASSERT_PTR_NOT_NULL_FATAL(dl);
    CU_ASSERT_EQUAL(dl->key.len, 0);
    CU_ASSERT_EQUAL(dl->payload.len, 0);
    CU_ASSERT_STRING_EQUAL(dl->consumer, "");
    ferry__v1__dead_letter__free_unpacked(dl, NULL);

    /* A dead letter needs a reason, and lengths without data are refused. */
    CU_ASSERT_EQUAL(ferry_bus_dead_letter_encode(&original, "", NULL, 1, &buf, &len, &err),
                    FERRY_ERR_INVALID);
    CU_ASSERT_PTR_NULL(buf);
    ferry_bus_msg broken = {.topic = "t", .key_len = 3};
    CU_ASSERT_EQUAL(ferry_bus_dead_letter_encode(&broken, "r", NULL, 1, &buf, &len, &err),
                    FERRY_ERR_INVALID);
}

static const ferry_test_case bus_cases[] = {
    {"config check names each problem", config_check_names_each_problem},
    {"constructors refuse a bad config", constructors_refuse_bad_config},
    {"topic names", topic_names},
    {"create topics checks arguments first", create_topics_checks_arguments_first},
    {"transport settings are checked; no password in errors", transport_settings_checked},
    {"calls on no handle are invalid", calls_on_no_handle_are_invalid},
    {"dead letter round trip", dead_letter_round_trip},
    {"dead letter without key or payload", dead_letter_without_key_or_payload},
    {NULL, NULL},
};

static const ferry_test_suite suites[] = {
    {"bus", NULL, NULL, bus_cases},
    {NULL, NULL, NULL, NULL},
};

int main(void)
{
    return ferry_test_main(suites);
}
