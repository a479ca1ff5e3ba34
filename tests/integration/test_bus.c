/* Integration tests for bus.c against the local stack's Kafka (deploy/local/stack): topic
 * creation, a StepCommand through a consumer group with commits, dead letters, pause/resume,
 * bounded errors for an unreachable broker, and the SASL/SCRAM listener (right and wrong
 * password; the password never in an error). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ferry.pb-c.h"
#include "ferry/clock.h"
#include "ferry/bus.h"
#include "ferry/config.h"
#include "ferry_test.h"

#define WAIT_MS     60000 /* longest we wait for a message that must come */
#define QUIET_MS    4000  /* how long "nothing arrives" is watched */
#define UNREACHABLE "127.0.0.1:1"

static char brokers[256];
static char steps_topic[128];   /* 3 partitions: StepCommand round trip */
static char garbage_topic[128]; /* 3 partitions: undecodable input */
static char dlq_topic[128];     /* 1 partition: dead letters */
static char pause_topic[128];   /* 3 partitions: pause/resume */

static int suite_setup(void)
{
    const ferry_cfg *cfg = ferry_test_cfg();
    if (cfg == NULL)
        return 1; /* fails every test: the environment is incomplete */
    (void)snprintf(brokers, sizeof(brokers), "%s", ferry_cfg_str(cfg, "kafka.brokers"));
    (void)snprintf(steps_topic, sizeof(steps_topic), "%s", ferry_test_unique("ferry.test.steps"));
    (void)snprintf(garbage_topic, sizeof(garbage_topic), "%s",
                   ferry_test_unique("ferry.test.garbage"));
    (void)snprintf(dlq_topic, sizeof(dlq_topic), "%s", ferry_test_unique("ferry.test.dlq"));
    (void)snprintf(pause_topic, sizeof(pause_topic), "%s", ferry_test_unique("ferry.test.pause"));
    return 0;
}

static ferry_bus_producer *producer_open(void)
{
    ferry_bus_config cfg = {.brokers = brokers, .client_id = "ferry-test-bus", .timeout_ms = 15000};
    ferry_bus_producer *producer = NULL;
    ferry_err err;
    ferry_rc rc = ferry_bus_producer_new(&cfg, &producer, &err);
    if (rc != FERRY_OK)
        fprintf(stderr, "producer: %s\n", err.msg);
    return producer;
}

static ferry_bus_consumer *consumer_open(const char *group, const char *topic)
{
    ferry_bus_config cfg = {
        .brokers = brokers, .client_id = "ferry-test-bus", .group_id = group, .timeout_ms = 15000};
    ferry_bus_consumer *consumer = NULL;
    ferry_err err;
    if (ferry_bus_consumer_new(&cfg, &consumer, &err) != FERRY_OK) {
        fprintf(stderr, "consumer: %s\n", err.msg);
        return NULL;
    }
    const char *topics[] = {topic};
    if (ferry_bus_subscribe(consumer, topics, 1, &err) != FERRY_OK) {
        fprintf(stderr, "subscribe: %s\n", err.msg);
        ferry_bus_consumer_free(consumer);
        return NULL;
    }
    return consumer;
}

/* Polls until a message arrives or max_ms pass. Retryable errors are printed and polling goes
 * on; a fatal one fails the test. */
static ferry_bus_msg *poll_one(ferry_bus_consumer *consumer, int max_ms)
{
    int64_t deadline = ferry_mono_ms() + max_ms;
    while (ferry_mono_ms() < deadline) {
        ferry_bus_msg *msg = NULL;
        ferry_err err;
        ferry_rc rc = ferry_bus_poll(consumer, 200, &msg, &err);
        if (rc != FERRY_OK) {
            fprintf(stderr, "poll: %s (%s)\n", err.msg, ferry_rc_str(rc));
            CU_ASSERT_TRUE(ferry_rc_retryable(rc));
            if (!ferry_rc_retryable(rc))
                return NULL;
            continue;
        }
        if (msg != NULL)
            return msg;
    }
    return NULL;
}

/* Polls until the consumer has an assignment; returns how long that took, -1 on timeout. The
 * poll that brings the assignment may also bring a message: it goes to *held (caller frees). */
static int64_t wait_assigned(ferry_bus_consumer *consumer, int max_ms, ferry_bus_msg **held)
{
    int64_t start = ferry_mono_ms();
    *held = NULL;
    while (ferry_mono_ms() - start < max_ms) {
        ferry_err err;
        ferry_rc rc = ferry_bus_poll(consumer, 100, held, &err);
        if (rc != FERRY_OK)
            fprintf(stderr, "poll: %s\n", err.msg);
        if (ferry_bus_assigned(consumer) > 0 || *held != NULL)
            return ferry_mono_ms() - start;
    }
    return -1;
}

static void create_topics_twice(void)
{
    ferry_err err;
    const char *three[] = {steps_topic, garbage_topic, pause_topic};
    const char *one[] = {dlq_topic};
    int64_t start = ferry_mono_ms();
    ferry_bus_config base = {.brokers = brokers};
    ferry_rc rc = ferry_bus_create_topics(&base, three, 3, 3, 1, 30000, &err);
    CU_ASSERT_EQUAL_FATAL(rc, FERRY_OK);
    printf("\n  create 3 topics: %lld ms\n", (long long)(ferry_mono_ms() - start));
    rc = ferry_bus_create_topics(&base, one, 1, 1, -1, 30000, &err);
    CU_ASSERT_EQUAL_FATAL(rc, FERRY_OK);
    /* Again: a topic that exists is success. */
    rc = ferry_bus_create_topics(&base, three, 3, 3, 1, 30000, &err);
    if (rc != FERRY_OK)
        fprintf(stderr, "create again: %s\n", err.msg);
    CU_ASSERT_EQUAL(rc, FERRY_OK);
    /* A replication factor the one-node cluster cannot give is a clear, non-retryable error. */
    const char *extra[] = {ferry_test_unique("ferry.test.rf3")};
    rc = ferry_bus_create_topics(&base, extra, 1, 1, 3, 30000, &err);
    CU_ASSERT_EQUAL(rc, FERRY_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, extra[0]));
    printf("  replication 3 on one broker: %s\n", err.msg);
}

static uint8_t *step_command_pack(size_t *len)
{
    /* protobuf-c's string fields are not const: give them writable copies. */
    static char src_conninfo[] = "postgresql://ferry@127.0.0.1:15432/shop";
    static char dst_conninfo[] = "postgresql://ferry@127.0.0.1:15433/shop";
    static char src_secret[] = "PG_SOURCE", dst_secret[] = "PG_TARGET";
    static char migration_id[] = "shop-production", step_id[] = "shop-production-dr-0001";
    static char issued_by[] = "coordinator-a";
    Ferry__V1__Database source = FERRY__V1__DATABASE__INIT;
    Ferry__V1__Database target = FERRY__V1__DATABASE__INIT;
    Ferry__V1__SecretRef source_pw = FERRY__V1__SECRET_REF__INIT;
    Ferry__V1__SecretRef target_pw = FERRY__V1__SECRET_REF__INIT;
    Ferry__V1__DumpRestoreParams params = FERRY__V1__DUMP_RESTORE_PARAMS__INIT;
    Ferry__V1__StepCommand cmd = FERRY__V1__STEP_COMMAND__INIT;
    source.conninfo = src_conninfo;
    source_pw.name = src_secret;
    source.password = &source_pw;
    target.conninfo = dst_conninfo;
    target_pw.name = dst_secret;
    target.password = &target_pw;
    params.source = &source;
    params.target = &target;
    params.parallel_tables = 4;
    params.verify = 1;
    cmd.migration_id = migration_id;
    cmd.step_id = step_id;
    cmd.attempt = 3;
    cmd.kind = FERRY__V1__STEP_KIND__STEP_KIND_DUMP_RESTORE;
    cmd.operation = FERRY__V1__OPERATION__OPERATION_DUMP_RESTORE_COPY;
    cmd.deadline_unix_ms = 1893456000000;
    cmd.issued_unix_ms = 1700000000000;
    cmd.issued_by = issued_by;
    cmd.params_case = FERRY__V1__STEP_COMMAND__PARAMS_DUMP_RESTORE;
    cmd.dump_restore = &params;
    *len = ferry__v1__step_command__get_packed_size(&cmd);
    uint8_t *buf = malloc(*len);
    if (buf != NULL)
        (void)ferry__v1__step_command__pack(&cmd, buf);
    return buf;
}

static void step_command_assert(const ferry_bus_msg *msg)
{
    CU_ASSERT_STRING_EQUAL(msg->topic, steps_topic);
    CU_ASSERT_TRUE(msg->partition >= 0 && msg->partition < 3);
    CU_ASSERT_EQUAL(msg->offset, 0);
    CU_ASSERT_EQUAL(msg->key_len, strlen("shop-production-dr-0001"));
    CU_ASSERT_EQUAL(memcmp(msg->key, "shop-production-dr-0001", msg->key_len), 0);
    Ferry__V1__StepCommand *cmd = ferry__v1__step_command__unpack(NULL, msg->len, msg->payload);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cmd);
    CU_ASSERT_STRING_EQUAL(cmd->migration_id, "shop-production");
    CU_ASSERT_STRING_EQUAL(cmd->step_id, "shop-production-dr-0001");
    CU_ASSERT_EQUAL(cmd->attempt, 3);
    CU_ASSERT_EQUAL(cmd->kind, FERRY__V1__STEP_KIND__STEP_KIND_DUMP_RESTORE);
    CU_ASSERT_EQUAL(cmd->operation, FERRY__V1__OPERATION__OPERATION_DUMP_RESTORE_COPY);
    CU_ASSERT_EQUAL(cmd->deadline_unix_ms, 1893456000000);
    CU_ASSERT_EQUAL(cmd->issued_unix_ms, 1700000000000);
    CU_ASSERT_STRING_EQUAL(cmd->issued_by, "coordinator-a");
    CU_ASSERT_EQUAL_FATAL(cmd->params_case, FERRY__V1__STEP_COMMAND__PARAMS_DUMP_RESTORE);
    const Ferry__V1__DumpRestoreParams *p = cmd->dump_restore;
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p->source);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p->target);
    CU_ASSERT_STRING_EQUAL(p->source->conninfo, "postgresql://ferry@127.0.0.1:15432/shop");
    CU_ASSERT_STRING_EQUAL(p->source->password->name, "PG_SOURCE");
    CU_ASSERT_STRING_EQUAL(p->target->conninfo, "postgresql://ferry@127.0.0.1:15433/shop");
    CU_ASSERT_STRING_EQUAL(p->target->password->name, "PG_TARGET");
    CU_ASSERT_EQUAL(p->parallel_tables, 4);
    CU_ASSERT_TRUE(p->verify);
    ferry__v1__step_command__free_unpacked(cmd, NULL);
}

static void step_command_through_a_group(void)
{
    ferry_err err;
    char group[96], other_group[96];
    (void)snprintf(group, sizeof(group), "%s", ferry_test_unique("ferry-test-workers"));
    (void)snprintf(other_group, sizeof(other_group), "%s", ferry_test_unique("ferry-test-other"));

    ferry_bus_producer *producer = producer_open();
    CU_ASSERT_PTR_NOT_NULL_FATAL(producer);
    size_t len = 0;
    uint8_t *payload = step_command_pack(&len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(payload);
    const char *key = "shop-production-dr-0001";
    int64_t start = ferry_mono_ms();
    ferry_rc rc = ferry_bus_publish(producer, steps_topic, key, strlen(key), payload, len, &err);
    free(payload);
    if (rc != FERRY_OK)
        fprintf(stderr, "publish: %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, FERRY_OK);
    printf("\n  first synchronous publish (connect + metadata + idempotent init): %lld ms\n",
           (long long)(ferry_mono_ms() - start));
    start = ferry_mono_ms();
    rc = ferry_bus_publish(producer, steps_topic, "warm", 4, "", 0, &err);
    CU_ASSERT_EQUAL(rc, FERRY_OK);
    printf("  second synchronous publish: %lld ms\n", (long long)(ferry_mono_ms() - start));

    /* First member of a new group: measure the join, then the message. */
    start = ferry_mono_ms();
    ferry_bus_consumer *consumer = consumer_open(group, steps_topic);
    CU_ASSERT_PTR_NOT_NULL_FATAL(consumer);
    ferry_bus_msg *msg = NULL;
    int64_t joined = wait_assigned(consumer, WAIT_MS, &msg);
    CU_ASSERT_TRUE_FATAL(joined >= 0);
    CU_ASSERT_EQUAL(ferry_bus_assigned(consumer), 3);
    printf("  first consumer group join (subscribe to assignment): %lld ms, rebalances %u\n",
           (long long)joined, ferry_bus_rebalances(consumer));
    if (msg == NULL)
        msg = poll_one(consumer, WAIT_MS);
    CU_ASSERT_PTR_NOT_NULL_FATAL(msg);
    printf("  subscribe to first message: %lld ms\n", (long long)(ferry_mono_ms() - start));
    if (msg->len == 0) { /* the "warm" message may come first: it sits on its own partition */
        ferry_bus_msg_free(msg);
        msg = poll_one(consumer, WAIT_MS);
        CU_ASSERT_PTR_NOT_NULL_FATAL(msg);
    }
    step_command_assert(msg);
    char id[256];
    ferry_bus_consumer_id(consumer, id, sizeof(id));
    CU_ASSERT_EQUAL(strncmp(id, group, strlen(group)), 0);
    CU_ASSERT_TRUE(strlen(id) > strlen(group) + 1); /* a member id after the slash */
    rc = ferry_bus_commit(consumer, msg, &err);
    if (rc != FERRY_OK)
        fprintf(stderr, "commit: %s\n", err.msg);
    CU_ASSERT_EQUAL(rc, FERRY_OK);
    ferry_bus_msg_free(msg);
    /* A partition this member does not own is refused locally: the broker would accept it. */
    ferry_bus_msg foreign = {.topic = steps_topic, .partition = 7, .offset = 0};
    CU_ASSERT_EQUAL(ferry_bus_commit(consumer, &foreign, &err), FERRY_ERR_CONFLICT);
    /* The "warm" message is left uncommitted on purpose: it must come back below. */
    start = ferry_mono_ms();
    rc = ferry_bus_consumer_close(consumer, &err);
    CU_ASSERT_EQUAL(rc, FERRY_OK);
    printf("  consumer close: %lld ms\n", (long long)(ferry_mono_ms() - start));
    CU_ASSERT_EQUAL(ferry_bus_consumer_close(consumer, &err), FERRY_OK); /* twice is fine */
    CU_ASSERT_EQUAL(ferry_bus_poll(consumer, 0, &msg, &err), FERRY_ERR_INVALID);
    ferry_bus_consumer_free(consumer);

    /* A new member of the same group starts after the commit: it gets the uncommitted "warm"
     * message and a marker published now, never the committed command. */
    consumer = consumer_open(group, steps_topic);
    CU_ASSERT_PTR_NOT_NULL_FATAL(consumer);
    start = ferry_mono_ms();
    joined = wait_assigned(consumer, WAIT_MS, &msg);
    CU_ASSERT_TRUE_FATAL(joined >= 0);
    printf("  second join of the same group: %lld ms\n", (long long)joined);
    rc = ferry_bus_publish(producer, steps_topic, "marker", 6, "marker", 6, &err);
    CU_ASSERT_EQUAL_FATAL(rc, FERRY_OK);
    bool saw_warm = false, saw_marker = false;
    int64_t until = ferry_mono_ms() + QUIET_MS;
    while (ferry_mono_ms() < until || !(saw_warm && saw_marker)) {
        if (ferry_mono_ms() > start + WAIT_MS)
            break;
        if (msg == NULL)
            msg = poll_one(consumer, 200);
        if (msg == NULL)
            continue;
        if (msg->key_len == 4 && memcmp(msg->key, "warm", 4) == 0)
            saw_warm = true;
        else if (msg->key_len == 6 && memcmp(msg->key, "marker", 6) == 0)
            saw_marker = true;
        else
            CU_FAIL("the committed StepCommand was delivered again to its group");
        ferry_bus_msg_free(msg);
        msg = NULL;
    }
    CU_ASSERT_TRUE(saw_warm);
    CU_ASSERT_TRUE(saw_marker);
    ferry_bus_consumer_free(consumer);

    /* Another group has its own offsets: it sees the command from the start. */
    consumer = consumer_open(other_group, steps_topic);
    CU_ASSERT_PTR_NOT_NULL_FATAL(consumer);
    bool saw_command = false;
    for (int i = 0; i < 3 && !saw_command; i++) {
        msg = poll_one(consumer, WAIT_MS);
        CU_ASSERT_PTR_NOT_NULL_FATAL(msg);
        if (msg->key_len == strlen(key) && memcmp(msg->key, key, msg->key_len) == 0) {
            step_command_assert(msg);
            saw_command = true;
        }
        ferry_bus_msg_free(msg);
    }
    CU_ASSERT_TRUE(saw_command);
    ferry_bus_consumer_free(consumer);

    CU_ASSERT_EQUAL(ferry_bus_flush(producer, 10000, &err), FERRY_OK);
    ferry_bus_producer_free(producer);
}

static void garbage_goes_to_the_dead_letter_topic(void)
{
    static const unsigned char garbage[] = {0x0f, 0xff, 0xfe, 0x00, 'n', 'o', 't', ' ', 'p', 'b'};
    ferry_err err;
    ferry_bus_producer *producer = producer_open();
    CU_ASSERT_PTR_NOT_NULL_FATAL(producer);
    /* Published asynchronously, then flushed: the other publishing path. */
    ferry_rc rc = ferry_bus_publish_async(producer, garbage_topic, "bad-step", 8, garbage,
                                          sizeof(garbage), &err);
    CU_ASSERT_EQUAL_FATAL(rc, FERRY_OK);
    rc = ferry_bus_flush(producer, 15000, &err);
    if (rc != FERRY_OK)
        fprintf(stderr, "flush: %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, FERRY_OK);

    char group[96];
    (void)snprintf(group, sizeof(group), "%s", ferry_test_unique("ferry-test-dlq-workers"));
    ferry_bus_consumer *consumer = consumer_open(group, garbage_topic);
    CU_ASSERT_PTR_NOT_NULL_FATAL(consumer);
    ferry_bus_msg *msg = poll_one(consumer, WAIT_MS);
    CU_ASSERT_PTR_NOT_NULL_FATAL(msg);
    CU_ASSERT_EQUAL(msg->len, sizeof(garbage));
    Ferry__V1__StepCommand *cmd = ferry__v1__step_command__unpack(NULL, msg->len, msg->payload);
    CU_ASSERT_PTR_NULL(cmd); /* it is garbage */
    if (cmd != NULL)
        ferry__v1__step_command__free_unpacked(cmd, NULL);
    char id[256];
    ferry_bus_consumer_id(consumer, id, sizeof(id));
    int64_t before = ferry_wall_ms();
    rc = ferry_bus_dead_letter(producer, dlq_topic, msg, "undecodable StepCommand", id, &err);
    if (rc != FERRY_OK)
        fprintf(stderr, "dead letter: %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, FERRY_OK);
    CU_ASSERT_EQUAL(ferry_bus_commit(consumer, msg, &err), FERRY_OK); /* moved on */
    int32_t partition = msg->partition;
    int64_t offset = msg->offset;
    ferry_bus_msg_free(msg);
    ferry_bus_consumer_free(consumer);

    char reader[96];
    (void)snprintf(reader, sizeof(reader), "%s", ferry_test_unique("ferry-test-dlq-reader"));
    consumer = consumer_open(reader, dlq_topic);
    CU_ASSERT_PTR_NOT_NULL_FATAL(consumer);
    msg = poll_one(consumer, WAIT_MS);
    CU_ASSERT_PTR_NOT_NULL_FATAL(msg);
    CU_ASSERT_EQUAL(msg->key_len, 8);
    CU_ASSERT_EQUAL(memcmp(msg->key, "bad-step", 8), 0); /* keyed like the original */
    Ferry__V1__DeadLetter *dl = ferry__v1__dead_letter__unpack(NULL, msg->len, msg->payload);
    CU_ASSERT_PTR_NOT_NULL_FATAL(dl);
    CU_ASSERT_STRING_EQUAL(dl->reason, "undecodable StepCommand");
    CU_ASSERT_STRING_EQUAL(dl->topic, garbage_topic);
    CU_ASSERT_EQUAL(dl->partition, partition);
    CU_ASSERT_EQUAL(dl->offset, offset);
    CU_ASSERT_EQUAL(dl->offset, 0);
    CU_ASSERT_EQUAL(dl->payload.len, sizeof(garbage));
    CU_ASSERT_EQUAL(memcmp(dl->payload.data, garbage, sizeof(garbage)), 0);
    CU_ASSERT_EQUAL(dl->key.len, 8);
    CU_ASSERT_STRING_EQUAL(dl->consumer, id);
    CU_ASSERT_TRUE(dl->at_unix_ms >= before - 1000 && dl->at_unix_ms <= ferry_wall_ms() + 1000);
    ferry__v1__dead_letter__free_unpacked(dl, NULL);
    ferry_bus_msg_free(msg);
    ferry_bus_consumer_free(consumer);
    ferry_bus_producer_free(producer);
}

/* Which of the pause test's messages ("k0".."k8") msg is; -1 for none. */
static int key_index(const ferry_bus_msg *msg, int n)
{
    const char *key = msg->key;
    if (msg->key_len != 2 || key[0] != 'k' || key[1] < '0' || key[1] >= '0' + n)
        return -1;
    return key[1] - '0';
}

/* Polls consumer once; a message there is a failure ("paused"), or counted into seen and
 * committed. */
static void poll_paused(ferry_bus_consumer *consumer)
{
    ferry_bus_msg *msg = NULL;
    ferry_err err;
    (void)ferry_bus_poll(consumer, 100, &msg, &err);
    if (msg != NULL) {
        fprintf(stderr, "paused consumer got %s [%d] offset %lld\n", msg->topic,
                (int)msg->partition, (long long)msg->offset);
        CU_FAIL("a message arrived while paused");
    }
    ferry_bus_msg_free(msg);
}

static void poll_counting(ferry_bus_consumer *consumer, int *seen, int n)
{
    ferry_bus_msg *msg = NULL;
    ferry_err err;
    (void)ferry_bus_poll(consumer, 100, &msg, &err);
    if (msg == NULL)
        return;
    int i = key_index(msg, n);
    CU_ASSERT_TRUE(i >= 0);
    if (i >= 0)
        seen[i]++;
    CU_ASSERT_EQUAL(ferry_bus_commit(consumer, msg, &err), FERRY_OK);
    ferry_bus_msg_free(msg);
}

/*
 * The long-job pattern: take one message, commit it, pause, keep polling (nothing comes),
 * survive two rebalances while paused (another member joins and leaves: the partitions
 * assigned anew must stay paused), resume, and get exactly the rest: nothing lost, nothing
 * delivered twice.
 */
static void pause_survives_rebalances_and_resume_continues(void)
{
    enum { N = 9 };
    ferry_err err;
    int seen[N] = {0};
    ferry_bus_producer *producer = producer_open();
    CU_ASSERT_PTR_NOT_NULL_FATAL(producer);
    for (int i = 0; i < N; i++) {
        char key[8];
        (void)snprintf(key, sizeof(key), "k%d", i);
        CU_ASSERT_EQUAL(ferry_bus_publish_async(producer, pause_topic, key, strlen(key), key,
                                                strlen(key), &err),
                        FERRY_OK);
    }
    CU_ASSERT_EQUAL_FATAL(ferry_bus_flush(producer, 15000, &err), FERRY_OK);
    ferry_bus_producer_free(producer);

    char group[96];
    (void)snprintf(group, sizeof(group), "%s", ferry_test_unique("ferry-test-pause"));
    ferry_bus_consumer *c1 = consumer_open(group, pause_topic);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c1);
    ferry_bus_msg *msg = poll_one(c1, WAIT_MS);
    CU_ASSERT_PTR_NOT_NULL_FATAL(msg);
    int first = key_index(msg, N);
    CU_ASSERT_TRUE_FATAL(first >= 0);
    seen[first]++;
    CU_ASSERT_EQUAL(ferry_bus_pause(c1, &err), FERRY_OK);
    CU_ASSERT_EQUAL(ferry_bus_commit(c1, msg, &err), FERRY_OK); /* the claim would go here */
    ferry_bus_msg_free(msg);
    for (int64_t until = ferry_mono_ms() + QUIET_MS; ferry_mono_ms() < until;)
        poll_paused(c1);

    /* Another member joins: everything is revoked and reassigned (eager range protocol). */
    unsigned before = ferry_bus_rebalances(c1);
    ferry_bus_consumer *c2 = consumer_open(group, pause_topic);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c2);
    int64_t start = ferry_mono_ms();
    while (ferry_mono_ms() - start < WAIT_MS &&
           !(ferry_bus_assigned(c2) > 0 && ferry_bus_rebalances(c1) >= before + 2 &&
             ferry_bus_assigned(c1) > 0)) {
        poll_paused(c1);
        poll_counting(c2, seen, N);
    }
    printf("\n  rebalance for a joining member: %lld ms; c1 has %d partition(s), c2 %d\n",
           (long long)(ferry_mono_ms() - start), ferry_bus_assigned(c1), ferry_bus_assigned(c2));
    CU_ASSERT_TRUE(ferry_bus_assigned(c2) > 0);
    CU_ASSERT_TRUE(ferry_bus_assigned(c1) > 0);
    for (int64_t until = ferry_mono_ms() + QUIET_MS; ferry_mono_ms() < until;) {
        poll_paused(c1);
        poll_counting(c2, seen, N);
    }

    /* It leaves: c1 gets every partition back, still paused. */
    before = ferry_bus_rebalances(c1);
    CU_ASSERT_EQUAL(ferry_bus_consumer_close(c2, &err), FERRY_OK);
    ferry_bus_consumer_free(c2);
    start = ferry_mono_ms();
    while (ferry_mono_ms() - start < WAIT_MS &&
           !(ferry_bus_rebalances(c1) >= before + 2 && ferry_bus_assigned(c1) == 3))
        poll_paused(c1);
    printf("  rebalance for a leaving member: %lld ms\n", (long long)(ferry_mono_ms() - start));
    CU_ASSERT_EQUAL(ferry_bus_assigned(c1), 3);
    for (int64_t until = ferry_mono_ms() + QUIET_MS; ferry_mono_ms() < until;)
        poll_paused(c1);

    CU_ASSERT_EQUAL(ferry_bus_resume(c1, &err), FERRY_OK);
    CU_ASSERT_EQUAL(ferry_bus_resume(c1, &err), FERRY_OK); /* nothing left to resume */
    int total = 0;
    start = ferry_mono_ms();
    while (ferry_mono_ms() - start < WAIT_MS) {
        total = 0;
        for (int i = 0; i < N; i++)
            total += seen[i] > 0;
        if (total == N)
            break;
        poll_counting(c1, seen, N);
    }
    for (int64_t until = ferry_mono_ms() + QUIET_MS; ferry_mono_ms() < until;)
        poll_counting(c1, seen, N); /* anything more would be a duplicate */
    for (int i = 0; i < N; i++) {
        if (seen[i] != 1)
            fprintf(stderr, "k%d seen %d times\n", i, seen[i]);
        CU_ASSERT_EQUAL(seen[i], 1);
    }
    ferry_bus_consumer_free(c1);
}

static void unreachable_broker_fails_in_bounded_time(void)
{
    enum { TIMEOUT = 3000, SLACK = 2500 };
    ferry_err err;
    ferry_bus_config cfg = {.brokers = UNREACHABLE,
                            .client_id = "ferry-test-bus",
                            .group_id = "ferry-test-unreachable",
                            .timeout_ms = TIMEOUT};
    ferry_bus_producer *producer = NULL;
    CU_ASSERT_EQUAL_FATAL(ferry_bus_producer_new(&cfg, &producer, &err), FERRY_OK);

    int64_t start = ferry_mono_ms();
    ferry_rc rc = ferry_bus_publish(producer, "ferry.test.unreachable", "k", 1, "v", 1, &err);
    int64_t took = ferry_mono_ms() - start;
    printf("\n  publish, unreachable: %lld ms, %s: %s\n", (long long)took, ferry_rc_str(rc),
           err.msg);
    CU_ASSERT_EQUAL(rc, FERRY_ERR_UNAVAILABLE);
    CU_ASSERT_TRUE(ferry_rc_retryable(rc));
    CU_ASSERT_TRUE(took < TIMEOUT + SLACK);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, UNREACHABLE));

    start = ferry_mono_ms();
    CU_ASSERT_EQUAL(
        ferry_bus_publish_async(producer, "ferry.test.unreachable", "k", 1, "v", 1, &err),
        FERRY_OK);
    rc = ferry_bus_flush(producer, 2 * TIMEOUT, &err);
    took = ferry_mono_ms() - start;
    printf("  async publish + flush, unreachable: %lld ms, %s: %s\n", (long long)took,
           ferry_rc_str(rc), err.msg);
    CU_ASSERT_EQUAL(rc, FERRY_ERR_UNAVAILABLE);
    CU_ASSERT_TRUE(took < TIMEOUT + SLACK);
    CU_ASSERT_EQUAL(ferry_bus_flush(producer, 100, &err), FERRY_OK); /* reported once */

    /* A flush that gives up first says how much is still queued. */
    CU_ASSERT_EQUAL(
        ferry_bus_publish_async(producer, "ferry.test.unreachable", "k", 1, "v", 1, &err),
        FERRY_OK);
    rc = ferry_bus_flush(producer, 200, &err);
    CU_ASSERT_TRUE(rc == FERRY_ERR_TIMEOUT || rc == FERRY_ERR_UNAVAILABLE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "still queued"));
    start = ferry_mono_ms();
    ferry_bus_producer_free(producer);
    took = ferry_mono_ms() - start;
    printf("  producer free with a message queued: %lld ms\n", (long long)took);
    CU_ASSERT_TRUE(took < 1000 + SLACK);

    const char *names[] = {"ferry.test.unreachable"};
    start = ferry_mono_ms();
    rc = ferry_bus_create_topics(&cfg, names, 1, 3, 1, TIMEOUT, &err);
    took = ferry_mono_ms() - start;
    printf("  create topics, unreachable: %lld ms, %s: %s\n", (long long)took, ferry_rc_str(rc),
           err.msg);
    CU_ASSERT_TRUE(rc == FERRY_ERR_UNAVAILABLE || rc == FERRY_ERR_TIMEOUT);
    CU_ASSERT_TRUE(took < TIMEOUT + SLACK);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, UNREACHABLE));

    ferry_bus_consumer *consumer = NULL;
    CU_ASSERT_EQUAL_FATAL(ferry_bus_consumer_new(&cfg, &consumer, &err), FERRY_OK);
    CU_ASSERT_EQUAL(ferry_bus_subscribe(consumer, names, 1, &err), FERRY_OK);
    int errors = 0;
    for (int64_t until = ferry_mono_ms() + 2000; ferry_mono_ms() < until;) {
        ferry_bus_msg *msg = NULL;
        rc = ferry_bus_poll(consumer, 100, &msg, &err);
        CU_ASSERT_PTR_NULL(msg);
        if (rc != FERRY_OK) {
            CU_ASSERT_TRUE(ferry_rc_retryable(rc));
            if (errors++ == 0)
                printf("  consumer poll, unreachable: %s: %s\n", ferry_rc_str(rc), err.msg);
        }
    }
    CU_ASSERT_TRUE(errors > 0);
    start = ferry_mono_ms();
    rc = ferry_bus_consumer_close(consumer, &err);
    ferry_bus_consumer_free(consumer);
    took = ferry_mono_ms() - start;
    printf("  consumer close + free, unreachable: %lld ms, %s\n", (long long)took,
           ferry_rc_str(rc));
    CU_ASSERT_TRUE(took < TIMEOUT + SLACK);
}

/* The stack's second listener authenticates with SASL/SCRAM (docs/security-transports.md): with
 * the right password, topics are created and a message goes through a group; with a wrong one
 * the producer fails with AUTH and its error names neither password. */
static void sasl_scram_listener(void)
{
    const char *sasl_brokers = getenv("FERRY_STACK_KAFKA_SASL_BROKERS");
    const char *user = getenv("FERRY_STACK_KAFKA_SASL_USER");
    const char *password = getenv("FERRY_STACK_KAFKA_SASL_PASSWORD");
    CU_ASSERT_FATAL(sasl_brokers != NULL && user != NULL && password != NULL &&
                    password[0] != '\0'); /* from `stack env` */
    ferry_err err;
    ferry_bus_config cfg = {.brokers = sasl_brokers,
                            .client_id = "ferry-test-bus-sasl",
                            .timeout_ms = 15000,
                            .security_protocol = "sasl_plaintext",
                            .sasl_mechanism = "SCRAM-SHA-256",
                            .sasl_username = user,
                            .sasl_password = password};
    char topic[128];
    (void)snprintf(topic, sizeof(topic), "%s", ferry_test_unique("ferry.test.sasl"));
    const char *topics[] = {topic};
    CU_ASSERT_EQUAL_FATAL(ferry_bus_create_topics(&cfg, topics, 1, 1, -1, 30000, &err), FERRY_OK);

    ferry_bus_producer *producer = NULL;
    CU_ASSERT_EQUAL_FATAL(ferry_bus_producer_new(&cfg, &producer, &err), FERRY_OK);
    CU_ASSERT_EQUAL(ferry_bus_publish(producer, topic, "k", 1, "over scram", 10, &err), FERRY_OK);
    ferry_bus_producer_free(producer);

    ferry_bus_config ccfg = cfg;
    ccfg.group_id = ferry_test_unique("ferry.test.sasl.group");
    ferry_bus_consumer *consumer = NULL;
    CU_ASSERT_EQUAL_FATAL(ferry_bus_consumer_new(&ccfg, &consumer, &err), FERRY_OK);
    CU_ASSERT_EQUAL_FATAL(ferry_bus_subscribe(consumer, topics, 1, &err), FERRY_OK);
    ferry_bus_msg *msg = poll_one(consumer, WAIT_MS);
    CU_ASSERT_TRUE(msg != NULL && msg->len == 10 && memcmp(msg->payload, "over scram", 10) == 0);
    ferry_bus_msg_free(msg);
    (void)ferry_bus_consumer_close(consumer, &err);
    ferry_bus_consumer_free(consumer);

    /* A wrong password: refused in bounded time, AUTH, and no password in the message. */
    static const char wrong[] = "not-the-password-4711";
    cfg.sasl_password = wrong;
    cfg.timeout_ms = 5000;
    producer = NULL;
    ferry_rc rc = ferry_bus_producer_new(&cfg, &producer, &err);
    if (rc == FERRY_OK) {
        rc = ferry_bus_publish(producer, topic, "k", 1, "nope", 4, &err);
        ferry_bus_producer_free(producer);
    }
    printf("\n  wrong SCRAM password: %s (%s)", ferry_rc_str(rc), err.msg);
    CU_ASSERT_EQUAL(rc, FERRY_ERR_AUTH);
    CU_ASSERT_PTR_NULL(strstr(err.msg, wrong));
    CU_ASSERT_PTR_NULL(strstr(err.msg, password));

    /* SASL without a password is a configuration error that names the settings. */
    cfg.sasl_password = NULL;
    CU_ASSERT_EQUAL(ferry_bus_producer_new(&cfg, &producer, &err), FERRY_ERR_CONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "FERRY_KAFKA_SASL_PASSWORD"));
}

static const ferry_test_case bus_cases[] = {
    {"create topics twice", create_topics_twice},
    {"step command through a group", step_command_through_a_group},
    {"garbage goes to the dead letter topic", garbage_goes_to_the_dead_letter_topic},
    {"pause survives rebalances, resume continues", pause_survives_rebalances_and_resume_continues},
    {"unreachable broker fails in bounded time", unreachable_broker_fails_in_bounded_time},
    {"the SASL/SCRAM listener: right and wrong password", sasl_scram_listener},
    {NULL, NULL},
};

static const ferry_test_suite suites[] = {
    {"bus", suite_setup, NULL, bus_cases},
    {NULL, NULL, NULL, NULL},
};

int main(void)
{
    return ferry_test_main(suites);
}
