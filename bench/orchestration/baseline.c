/*
 * baseline.c - bench-orchestration-baseline: what Kafka and Redis themselves cost, measured with
 * Ferry's own bus and store modules, for bench/orchestration/run to set the orchestration
 * overhead against.
 *
 * Each of --count rounds (after --warmup unmeasured ones) does, one after the other:
 * - publish one small message with ferry_bus_publish() (waits for the broker's ack, like the
 *   coordinator's flush) to the topic <kafka.topic_prefix>baseline, and poll the group consumer
 *   (already joined, group <prefix>baseline) until that message comes back: the Kafka round
 *   trip, from the start of the publish to the poll that returns the message;
 * - commit its offset (informational: the worker commits after every claim);
 * - one HSET through ferry_store_command(): the Redis round trip.
 * The "bare" round trip of a round is its Kafka round trip plus its Redis round trip.
 *
 * Variants, for finding out where time goes: --flush publishes with ferry_bus_publish_async()
 * and ferry_bus_flush() as the coordinator does (the flush sends at once, without waiting for
 * librdkafka's linger.ms); --gap-ms idles between rounds, polling like an idle worker;
 * --pause-resume pauses the consumer for 600 ms (polling) and resumes it before each publish, as
 * the worker does when its executors were all busy.
 *
 * Settings come from the environment like any worker's (FERRY_KAFKA_BROKERS,
 * FERRY_KAFKA_TOPIC_PREFIX, FERRY_KAFKA_PARTITIONS, FERRY_REDIS_URL, FERRY_REDIS_PASSWORD).
 * Output: one line per metric, "<metric> <p50_ms> <p99_ms> <mean_ms> <max_ms>", after a header
 * line starting with '#'. The topic is left behind (the run script's prefix names it).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ferry/bus.h"
#include "ferry/config.h"
#include "ferry/log.h"
#include "ferry/store.h"

#define EXIT_USAGE   2
#define EXIT_CONFIG  3
#define EXIT_SERVICE 4

#define BUS_TIMEOUT_MS   10000
#define STORE_TIMEOUT_MS 5000
#define JOIN_TIMEOUT_MS  30000
#define POLL_SLICE_MS    100
#define IDLE_POLL_MS     200 /* the worker's poll (shared/worker.c POLL_MS) */
#define PAUSED_MS        600 /* --pause-resume: how long the consumer stays paused */
#define REDIS_KEY        "ferry:bench:baseline"
#define COUNT_MAX        1000000L

enum { M_PUBLISH, M_KAFKA, M_COMMIT, M_REDIS, M_BARE, M_COUNT };

static const char *const metric_names[M_COUNT] = {
    "kafka_publish", "kafka_roundtrip", "kafka_commit", "redis_roundtrip", "bare_roundtrip"};

typedef struct bench_opts {
    long count;
    long warmup;
    long gap_ms;
    bool pause_resume;
    bool flush; /* publish_async + flush, the coordinator's way, instead of publish */
} bench_opts;

typedef struct bench {
    ferry_bus_producer *producer;
    ferry_bus_consumer *consumer;
    ferry_store *store;
    char topic[256];
    char group[256];
    int partitions;
} bench;

static double now_ms(void)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts); /* cannot fail for this clock */
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void usage(FILE *out)
{
    (void)fprintf(
        out, "usage: bench-orchestration-baseline [--count N] [--warmup N] [--gap-ms N]\n"
             "                                    [--pause-resume] [--flush]\n"
             "\n"
             "Measures N sequential Kafka produce-to-consume round trips (Ferry's bus\n"
             "module) and N Redis round trips (HSET through Ferry's store module).\n"
             "Settings: FERRY_KAFKA_BROKERS, FERRY_KAFKA_TOPIC_PREFIX, FERRY_KAFKA_PARTITIONS,\n"
             "FERRY_REDIS_URL, FERRY_REDIS_PASSWORD.\n"
             "\n"
             "  --count N        measured round trips (default 2000)\n"
             "  --warmup N       unmeasured round trips first (default 50)\n"
             "  --gap-ms N       idle N ms before each round, polling the consumer like an\n"
             "                   idle worker (default 0: rounds back to back)\n"
             "  --pause-resume   pause the consumer for 600 ms (polling), then resume it,\n"
             "                   before each publish\n"
             "  --flush          publish with ferry_bus_publish_async() + ferry_bus_flush(), as\n"
             "                   the coordinator does, instead of ferry_bus_publish()\n");
}

/* Parses a count in [min, COUNT_MAX]; false when text is not one. */
static bool count_parse(const char *text, long min, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < min || v > COUNT_MAX)
        return false;
    *out = v;
    return true;
}

/* Returns 0, or the exit code for bad arguments (-1: --help was printed). */
static int opts_parse(int argc, char **argv, bench_opts *opts)
{
    opts->count = 2000;
    opts->warmup = 50;
    opts->gap_ms = 0;
    opts->pause_resume = false;
    opts->flush = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return -1;
        }
        if (strcmp(argv[i], "--pause-resume") == 0) {
            opts->pause_resume = true;
            continue;
        }
        if (strcmp(argv[i], "--flush") == 0) {
            opts->flush = true;
            continue;
        }
        bool is_count = strcmp(argv[i], "--count") == 0;
        bool is_warmup = strcmp(argv[i], "--warmup") == 0;
        bool is_gap = strcmp(argv[i], "--gap-ms") == 0;
        long *target = is_count ? &opts->count : is_warmup ? &opts->warmup : &opts->gap_ms;
        if ((is_count || is_warmup || is_gap) && i + 1 < argc &&
            count_parse(argv[i + 1], is_count ? 1 : 0, target)) {
            i++;
            continue;
        }
        (void)fprintf(stderr, "bench-orchestration-baseline: bad argument '%s'\n", argv[i]);
        usage(stderr);
        return EXIT_USAGE;
    }
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile q (0..1] of the n sorted values: the value at rank ceil(q * n). */
static double percentile(const double *sorted, size_t n, double q)
{
    size_t rank = (size_t)(q * (double)n);
    if ((double)rank < q * (double)n)
        rank++;
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return sorted[rank - 1];
}

/* Sorts values (n > 0) and prints "<name> <p50> <p99> <mean> <max>". */
static void metric_print(const char *name, double *values, size_t n)
{
    double sum = 0.0;
    for (size_t i = 0; i < n; i++)
        sum += values[i];
    qsort(values, n, sizeof(values[0]), cmp_double);
    (void)printf("%-16s %9.3f %9.3f %9.3f %9.3f\n", name, percentile(values, n, 0.50),
                 percentile(values, n, 0.99), sum / (double)n, values[n - 1]);
}

/* Polls until the consumer group has given this consumer its partitions. */
static ferry_rc bench_join(bench *b, ferry_err *err)
{
    double deadline = now_ms() + JOIN_TIMEOUT_MS;
    while (ferry_bus_assigned(b->consumer) == 0) {
        if (now_ms() >= deadline)
            return ferry_err_set(err, FERRY_ERR_TIMEOUT,
                                 "consumer group %s: no partitions assigned within %d ms", b->group,
                                 JOIN_TIMEOUT_MS);
        ferry_bus_msg *msg = NULL;
        ferry_err perr;
        ferry_rc rc = ferry_bus_poll(b->consumer, POLL_SLICE_MS, &msg, &perr);
        if (rc != FERRY_OK && !ferry_rc_retryable(rc)) {
            *err = perr;
            return rc;
        }
        ferry_bus_msg_free(msg); /* a fresh topic holds nothing yet */
    }
    return FERRY_OK;
}

/* Publishes one message (key and payload name round i), polls until it is back and commits
 * it. Fills the publish time (until the broker's ack), the round trip (publish to poll) and the
 * commit time, in ms. */
static ferry_rc kafka_round(bench *b, bool flush, long i, double *publish_ms, double *round_ms,
                            double *commit_ms, ferry_err *err)
{
    char key[32], payload[64];
    int klen = snprintf(key, sizeof(key), "k%ld", i);
    int plen = snprintf(payload, sizeof(payload), "bench round %ld", i);
    if (klen < 0 || (size_t)klen >= sizeof(key) || plen < 0 || (size_t)plen >= sizeof(payload))
        return ferry_err_set(err, FERRY_ERR_INTERNAL, "round %ld: key or payload too long", i);

    double t0 = now_ms();
    ferry_rc rc = FERRY_OK;
    if (flush) {
        rc = ferry_bus_publish_async(b->producer, b->topic, key, (size_t)klen, payload,
                                     (size_t)plen, err);
        if (rc == FERRY_OK)
            rc = ferry_bus_flush(b->producer, BUS_TIMEOUT_MS, err);
    } else {
        rc =
            ferry_bus_publish(b->producer, b->topic, key, (size_t)klen, payload, (size_t)plen, err);
    }
    if (rc != FERRY_OK)
        return rc;
    double t1 = now_ms();
    double deadline = t1 + BUS_TIMEOUT_MS;
    for (;;) {
        if (now_ms() >= deadline)
            return ferry_err_set(err, FERRY_ERR_TIMEOUT,
                                 "round %ld: message not consumed within %d ms", i, BUS_TIMEOUT_MS);
        ferry_bus_msg *msg = NULL;
        rc = ferry_bus_poll(b->consumer, POLL_SLICE_MS, &msg, err);
        if (rc != FERRY_OK && !ferry_rc_retryable(rc))
            return rc;
        if (msg == NULL)
            continue;
        bool mine = msg->len == (size_t)plen && memcmp(msg->payload, payload, msg->len) == 0;
        if (mine) {
            double t2 = now_ms();
            rc = ferry_bus_commit(b->consumer, msg, err);
            double t3 = now_ms();
            ferry_bus_msg_free(msg);
            if (rc != FERRY_OK)
                return rc;
            *publish_ms = t1 - t0;
            *round_ms = t2 - t0;
            *commit_ms = t3 - t2;
            return FERRY_OK;
        }
        ferry_bus_msg_free(msg); /* an earlier round's duplicate: not ours */
    }
}

/* One HSET; fills its time (ms). */
static ferry_rc redis_round(bench *b, long i, double *round_ms, ferry_err *err)
{
    char value[32];
    (void)snprintf(value, sizeof(value), "%ld", i);
    const char *argv[] = {"HSET", REDIS_KEY, "round", value};
    double t0 = now_ms();
    ferry_rc rc = ferry_store_command(b->store, true, 4, argv, NULL, NULL, err);
    *round_ms = now_ms() - t0;
    return rc;
}

/* Opens the topic, the producer, the consumer (joined) and the Redis connection. */
static int bench_open(bench *b, const ferry_cfg *cfg, ferry_err *err)
{
    const char *brokers = ferry_cfg_str(cfg, "kafka.brokers");
    const char *prefix = ferry_cfg_str(cfg, "kafka.topic_prefix");
    b->partitions = (int)ferry_cfg_int(cfg, "kafka.partitions");
    int n1 = snprintf(b->topic, sizeof(b->topic), "%sbaseline", prefix ? prefix : "");
    int n2 = snprintf(b->group, sizeof(b->group), "%sbaseline", prefix ? prefix : "");
    if (n1 < 0 || (size_t)n1 >= sizeof(b->topic) || n2 < 0 || (size_t)n2 >= sizeof(b->group) ||
        !ferry_bus_topic_valid(b->topic)) {
        (void)ferry_err_set(err, FERRY_ERR_CONFIG,
                            "FERRY_KAFKA_TOPIC_PREFIX: gives a topic name "
                            "Kafka refuses");
        return EXIT_CONFIG;
    }
    const char *topics[] = {b->topic};
    ferry_bus_config pcfg = {.brokers = brokers,
                             .client_id = "bench-orchestration-baseline",
                             .timeout_ms = BUS_TIMEOUT_MS};
    if (ferry_bus_create_topics(&pcfg, topics, 1, b->partitions, -1, 30000, err) != FERRY_OK)
        return EXIT_SERVICE;

    ferry_bus_config ccfg = pcfg;
    ccfg.group_id = b->group;
    if (ferry_bus_producer_new(&pcfg, &b->producer, err) != FERRY_OK ||
        ferry_bus_consumer_new(&ccfg, &b->consumer, err) != FERRY_OK ||
        ferry_bus_subscribe(b->consumer, topics, 1, err) != FERRY_OK)
        return EXIT_SERVICE;
    if (ferry_store_open(ferry_cfg_str(cfg, "redis.url"), ferry_cfg_str(cfg, "redis.password"),
                         STORE_TIMEOUT_MS, &b->store, err) != FERRY_OK)
        return err->code == FERRY_ERR_AUTH || err->code == FERRY_ERR_INVALID ? EXIT_CONFIG
                                                                             : EXIT_SERVICE;
    if (bench_join(b, err) != FERRY_OK)
        return EXIT_SERVICE;
    return 0;
}

static void bench_close(bench *b)
{
    ferry_err err;
    const char *argv[] = {"DEL", REDIS_KEY};
    if (b->store != NULL)
        (void)ferry_store_command(b->store, true, 2, argv, NULL, NULL, &err); /* best effort */
    ferry_store_close(b->store);
    ferry_bus_consumer_free(b->consumer);
    ferry_bus_producer_free(b->producer);
}

/* Polls the consumer for ms milliseconds, as an idle worker does (nothing is due to come). */
static ferry_rc bench_idle(bench *b, long ms, ferry_err *err)
{
    double until = now_ms() + (double)ms;
    for (double left = (double)ms; left > 0.0; left = until - now_ms()) {
        ferry_bus_msg *msg = NULL;
        int slice = left < IDLE_POLL_MS ? (int)left + 1 : IDLE_POLL_MS;
        ferry_rc rc = ferry_bus_poll(b->consumer, slice, &msg, err);
        ferry_bus_msg_free(msg); /* a late duplicate of an earlier round, if anything */
        if (rc != FERRY_OK && !ferry_rc_retryable(rc))
            return rc;
    }
    return FERRY_OK;
}

/* Runs warmup + count rounds; the measured ones go to values[metric][k]. */
static ferry_rc bench_run(bench *b, const bench_opts *opts, double *values[M_COUNT], ferry_err *err)
{
    for (long i = 0; i < opts->warmup + opts->count; i++) {
        double m[M_COUNT];
        ferry_rc rc = opts->gap_ms > 0 ? bench_idle(b, opts->gap_ms, err) : FERRY_OK;
        if (rc != FERRY_OK)
            return rc;
        if (opts->pause_resume) {
            /* Paused for longer than a fetch's long poll (fetch.wait.max.ms, 500 ms), as a
             * worker whose executors are all busy, polling meanwhile; then resumed. */
            rc = ferry_bus_pause(b->consumer, err);
            if (rc == FERRY_OK)
                rc = bench_idle(b, PAUSED_MS, err);
            if (rc == FERRY_OK)
                rc = ferry_bus_resume(b->consumer, err);
            if (rc != FERRY_OK)
                return rc;
        }
        rc = kafka_round(b, opts->flush, i, &m[M_PUBLISH], &m[M_KAFKA], &m[M_COMMIT], err);
        if (rc == FERRY_OK)
            rc = redis_round(b, i, &m[M_REDIS], err);
        if (rc != FERRY_OK)
            return ferry_err_prefix(err, "round %ld", i);
        m[M_BARE] = m[M_KAFKA] + m[M_REDIS];
        if (i < opts->warmup)
            continue;
        for (int k = 0; k < M_COUNT; k++)
            values[k][i - opts->warmup] = m[k];
    }
    return FERRY_OK;
}

int main(int argc, char **argv)
{
    int code = 1;
    bench_opts opts;
    bench b;
    ferry_cfg *cfg = NULL;
    char *problems = NULL;
    double *values[M_COUNT] = {NULL};
    ferry_err err;
    ferry_err_clear(&err);
    memset(&b, 0, sizeof(b));

    int parsed = opts_parse(argc, argv, &opts);
    if (parsed != 0)
        return parsed < 0 ? 0 : parsed;
    if (ferry_cfg_load(FERRY_COMP_NOOP, NULL, NULL, &cfg, &problems) != FERRY_OK) {
        (void)fprintf(stderr, "bench-orchestration-baseline: bad configuration:\n%s",
                      problems != NULL ? problems : "out of memory\n");
        free(problems);
        return EXIT_CONFIG;
    }
    ferry_log_init("bench-baseline", FERRY_LOG_KV, FERRY_LOG_WARN, 2);
    for (int k = 0; k < M_COUNT; k++) {
        values[k] = calloc((size_t)opts.count, sizeof(double));
        if (values[k] == NULL) {
            (void)fprintf(stderr, "bench-orchestration-baseline: out of memory\n");
            goto out;
        }
    }

    code = bench_open(&b, cfg, &err);
    if (code != 0) {
        (void)fprintf(stderr, "bench-orchestration-baseline: %s\n", err.msg);
        goto out;
    }
    if (bench_run(&b, &opts, values, &err) != FERRY_OK) {
        (void)fprintf(stderr, "bench-orchestration-baseline: %s\n", err.msg);
        code = EXIT_SERVICE;
        goto out;
    }
    (void)printf("# %ld round trips (after %ld warm-up) on %s (%d partitions), %s%s%s; "
                 "metric p50_ms p99_ms mean_ms max_ms\n",
                 opts.count, opts.warmup, b.topic, b.partitions,
                 opts.flush ? "publish_async+flush" : "publish",
                 opts.gap_ms > 0 ? ", idle gaps" : "",
                 opts.pause_resume ? ", consumer paused and resumed before each" : "");
    for (int k = 0; k < M_COUNT; k++)
        metric_print(metric_names[k], values[k], (size_t)opts.count);
    code = 0;
out:
    bench_close(&b);
    for (int k = 0; k < M_COUNT; k++)
        free(values[k]);
    ferry_cfg_free(cfg);
    return code;
}
