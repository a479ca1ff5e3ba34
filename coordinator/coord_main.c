/*
 * coord_main.c - ferry-coordinator: loads its settings, serves the HTTP API, keeps the
 * dead-letter topic in Redis, and runs the engine until SIGTERM or SIGINT.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "auth.h"
#include "dlq.h"
#include "engine.h"
#include "ferry/bus.h"
#include "ferry/config.h"
#include "ferry/log.h"
#include "ferry/opts.h"
#include "ferry/store.h"
#include "ferry/wire.h"

enum { EXIT_USAGE = 2, EXIT_CONFIG = 3, EXIT_UNAVAILABLE = 4 };

static atomic_bool stop_flag;
static volatile sig_atomic_t signals_seen;

static void on_signal(int sig)
{
    (void)sig;
    if (++signals_seen > 1)
        _exit(1); /* a second signal: leave at once, Redis has everything */
    atomic_store(&stop_flag, true);
}

/* The coordinator's command line. */
typedef struct coord_args {
    bool check, help, version;
    const char *new_token; /* --new-token NAME */
} coord_args;

static void usage(FILE *out, const ferry_opt *table)
{
    (void)fprintf(out, "usage: ferry-coordinator [--check-config] [--new-token NAME] [--help] "
                       "[--version]\n"
                       "\n"
                       "Runs Ferry's coordinator: the HTTP API (FERRY_COORDINATOR_LISTEN), the\n"
                       "migrations' state machines and the dispatch of their steps to Kafka.\n"
                       "Settings come from FERRY_* environment variables (docs/api.md,\n"
                       "docs/orchestration.md); --check-config prints them and exits.\n"
                       "--new-token NAME prints a new token for user NAME and, on the next line,\n"
                       "its Argon2id hash for the users file (docs/console.md), and exits.\n"
                       "\n"
                       "options:\n");
    ferry_opts_usage(table, out);
}

/* --new-token NAME: a token for the users file's user NAME (stdout, first line) and its hash
 * (second line). The token is shown here only; the file keeps the hash. */
static int new_token(const char *name)
{
    ferry_err err = {0};
    char token[AUTH_TOKEN_MAX + 1], hash[AUTH_HASH_MAX + 1];
    if (auth_token_new(name, token, hash, &err) != FERRY_OK) {
        (void)fprintf(stderr, "ferry-coordinator: --new-token: %s\n", err.msg);
        return err.code == FERRY_ERR_INVALID ? EXIT_USAGE : 1;
    }
    (void)printf("%s\n%s\n", token, hash);
    explicit_bzero(token, sizeof(token));
    return 0;
}

/* Parses the command line; returns -1 to go on, else the exit code. */
static int parse_args(int argc, char **argv, coord_args *a)
{
    /* clang-format off */
    const ferry_opt table[] = {
        {.name = "check-config", .kind = FERRY_OPT_FLAG, .dest = &a->check,
         .help = "validate the settings, print them (secrets hidden), exit"},
        {.name = "new-token", .kind = FERRY_OPT_STRING, .dest = &a->new_token, .arg = "NAME",
         .help = "print a new token for user NAME and its hash (for the users file), exit"},
        {.name = "help", .kind = FERRY_OPT_FLAG, .flags = FERRY_OPT_STOP, .dest = &a->help,
         .help = "print this help"},
        {.name = "version", .kind = FERRY_OPT_FLAG, .flags = FERRY_OPT_STOP, .dest = &a->version,
         .help = "print the version"},
        {.name = NULL},
    };
    /* clang-format on */
    ferry_err err = {0};
    ferry_rc rc = ferry_opts_parse(table, argc, argv, NULL, &err);
    if (rc != FERRY_OK) {
        (void)fprintf(stderr, "ferry-coordinator: %s\n", err.msg);
        usage(stderr, table);
        return rc == FERRY_ERR_INVALID ? EXIT_USAGE : 1;
    }
    if (a->help)
        usage(stdout, table);
    else if (a->version)
        (void)printf("ferry-coordinator %s\n", FERRY_VERSION);
    else if (a->new_token != NULL)
        return new_token(a->new_token);
    return a->help || a->version ? 0 : -1;
}

/* The four step topics, then the dead-letter topic. */
#define N_TOPICS 5
typedef struct topic_names {
    char names[N_TOPICS][256];
    const char *list[N_TOPICS];
} topic_names;

static ferry_rc name_topics(const ferry_cfg *cfg, topic_names *t, ferry_err *err)
{
    const char *prefix = ferry_cfg_str(cfg, "kafka.topic_prefix");
    static const Ferry__V1__StepKind kinds[] = {
        FERRY__V1__STEP_KIND__STEP_KIND_DUMP_RESTORE, FERRY__V1__STEP_KIND__STEP_KIND_FILE_SYNC,
        FERRY__V1__STEP_KIND__STEP_KIND_DNS, FERRY__V1__STEP_KIND__STEP_KIND_APP};
    for (size_t i = 0; i < N_TOPICS - 1; i++) {
        if (ferry_wire_step_topic(prefix, kinds[i], t->names[i], sizeof(t->names[i])) != 0)
            return ferry_err_set(err, FERRY_ERR_CONFIG, "FERRY_KAFKA_TOPIC_PREFIX: too long");
        t->list[i] = t->names[i];
    }
    if (ferry_wire_dead_letter_topic(prefix, t->names[N_TOPICS - 1],
                                     sizeof(t->names[N_TOPICS - 1])) != 0)
        return ferry_err_set(err, FERRY_ERR_CONFIG, "FERRY_KAFKA_TOPIC_PREFIX: too long");
    t->list[N_TOPICS - 1] = t->names[N_TOPICS - 1];
    return FERRY_OK;
}

int main(int argc, char **argv)
{
    coord_args args = {0};
    int exit_code = parse_args(argc, argv, &args);
    if (exit_code >= 0)
        return exit_code;

    int status = 1;
    ferry_cfg *cfg = NULL;
    char *problems = NULL;
    ferry_bus_producer *producer = NULL;
    ferry_store *store = NULL;
    engine *eng = NULL;
    api *server = NULL;
    dlq *dead = NULL;
    ferry_err err = {0};

    if (ferry_cfg_load(FERRY_COMP_COORDINATOR, NULL, NULL, &cfg, &problems) != FERRY_OK) {
        (void)fprintf(stderr, "ferry-coordinator: bad configuration:\n%s",
                      problems != NULL ? problems : "out of memory\n");
        free(problems);
        return EXIT_CONFIG;
    }
    if (args.check) {
        ferry_cfg_dump(cfg, stdout);
        ferry_cfg_free(cfg);
        return 0;
    }
    ferry_log_level level = FERRY_LOG_INFO;
    ferry_log_format format = FERRY_LOG_KV;
    (void)ferry_log_level_parse(ferry_cfg_str(cfg, "log.level"), &level);
    (void)ferry_log_format_parse(ferry_cfg_str(cfg, "log.format"), &format);
    ferry_log_init("coordinator", format, level, 2);

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    (void)sigaction(SIGTERM, &sa, NULL);
    (void)sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    (void)sigaction(SIGPIPE, &sa, NULL);

    char host[128] = "localhost", instance[300], api_actor[320];
    (void)gethostname(host, sizeof(host) - 1);
    /* One logical coordinator per host and listen address: a restart takes its lease back at
     * once instead of waiting for it to expire. */
    (void)snprintf(instance, sizeof(instance), "coordinator@%s/%s", host,
                   ferry_cfg_str(cfg, "coordinator.listen"));
    (void)snprintf(api_actor, sizeof(api_actor), "api@%s", host);

    const char *brokers = ferry_cfg_str(cfg, "kafka.brokers");
    const char *prefix = ferry_cfg_str(cfg, "kafka.topic_prefix");
    const char *redis_url = ferry_cfg_str(cfg, "redis.url");
    const char *redis_pw = ferry_cfg_str(cfg, "redis.password");

    int redis_timeout = (int)ferry_cfg_int(cfg, "coordinator.redis_timeout");
    if (ferry_store_open(redis_url, redis_pw, redis_timeout, &store, &err) != FERRY_OK) {
        ferry_log(FERRY_LOG_ERROR, NULL, "cannot reach Redis: %s", err.msg);
        status = EXIT_UNAVAILABLE;
        goto out;
    }
    (void)ferry_store_set_name(store, "ferry-coordinator-engine", &err);
    bool aof = false;
    if (ferry_store_aof_enabled(store, &aof, &err) == FERRY_OK && !aof)
        ferry_log(FERRY_LOG_WARN, NULL,
                  "Redis runs without AOF persistence: a Redis crash can lose migrations' state");
    topic_names topics;
    ferry_bus_config bc = {.brokers = brokers, .client_id = "ferry-coordinator"};
    ferry_bus_config_transport(&bc, cfg);
    if (name_topics(cfg, &topics, &err) != FERRY_OK ||
        ferry_bus_create_topics(
            &bc, topics.list, N_TOPICS, (int)ferry_cfg_int(cfg, "kafka.partitions"), -1,
            (int)ferry_cfg_int(cfg, "coordinator.topics_timeout"), &err) != FERRY_OK) {
        ferry_log(FERRY_LOG_ERROR, NULL, "cannot create Kafka topics: %s", err.msg);
        status = EXIT_UNAVAILABLE;
        goto out;
    }
    if (ferry_bus_producer_new(&bc, &producer, &err) != FERRY_OK) {
        ferry_log(FERRY_LOG_ERROR, NULL, "Kafka producer: %s", err.msg);
        goto out;
    }
    /* The step topics' metadata now, so the first step of each kind is not a second late. */
    if (ferry_bus_producer_prepare(producer, topics.list, N_TOPICS - 1,
                                   (int)ferry_cfg_int(cfg, "coordinator.metadata_timeout"),
                                   &err) != FERRY_OK)
        ferry_log(FERRY_LOG_WARN, NULL, "Kafka metadata (first steps may be slower): %s", err.msg);

    const fm_policy policy = {.max_retries = ferry_cfg_int(cfg, "coordinator.max_retries"),
                              .backoff_ms = ferry_cfg_int(cfg, "coordinator.backoff"),
                              .backoff_max_ms = ferry_cfg_int(cfg, "coordinator.backoff_max"),
                              .pause_ms = ferry_cfg_int(cfg, "coordinator.pause"),
                              .cutover_margin_ms = ferry_cfg_int(cfg, "coordinator.cutover_margin"),
                              .ttl_wait_max_ms = ferry_cfg_int(cfg, "coordinator.ttl_wait_max"),
                              .ttl_restore_ms =
                                  ferry_cfg_int(cfg, "coordinator.ttl_restore_after")};
    api_cfg acfg = {.listen = ferry_cfg_str(cfg, "coordinator.listen"),
                    .token = ferry_cfg_str(cfg, "coordinator.token"),
                    .users_file = ferry_cfg_str(cfg, "coordinator.users"),
                    .session_idle_ms = ferry_cfg_int(cfg, "coordinator.session_idle"),
                    .session_max_ms = ferry_cfg_int(cfg, "coordinator.session_max"),
                    .cookie_secure = ferry_cfg_bool(cfg, "coordinator.cookie_secure"),
                    .instance = api_actor,
                    .topic_prefix = prefix,
                    .redis_url = redis_url,
                    .redis_password = redis_pw,
                    .worker_alive_ms = ferry_cfg_int(cfg, "coordinator.worker_alive"),
                    .max_connections = ferry_cfg_int(cfg, "coordinator.api_connections"),
                    .max_per_client = ferry_cfg_int(cfg, "coordinator.api_per_client"),
                    .client_timeout_s = ferry_cfg_int(cfg, "coordinator.api_client_timeout") / 1000,
                    .default_pause_ms = policy.pause_ms,
                    .policy = policy};
    if (api_start(&acfg, producer, &server, &err) != FERRY_OK) {
        ferry_log(FERRY_LOG_ERROR, NULL, "API: %s", err.msg);
        status = err.code == FERRY_ERR_CONFIG ? EXIT_CONFIG : 1;
        goto out;
    }
    dlq_cfg dcfg = {.bus = &bc,
                    .session_timeout_ms = (int)ferry_cfg_int(cfg, "kafka.session_timeout"),
                    .topic_prefix = prefix,
                    .redis_url = redis_url,
                    .redis_password = redis_pw,
                    .instance = instance,
                    .dead_letter_max = ferry_cfg_int(cfg, "coordinator.dead_letter_max"),
                    .stop = &stop_flag};
    if (dlq_start(&dcfg, &dead, &err) != FERRY_OK) {
        ferry_log(FERRY_LOG_ERROR, NULL, "dead-letter consumer: %s", err.msg);
        goto out;
    }

    engine_cfg ecfg = {
        .topic_prefix = prefix,
        .instance = instance,
        .policy = policy,
        .tick_ms = ferry_cfg_int(cfg, "coordinator.tick"),
        .redispatch_ms = ferry_cfg_int(cfg, "coordinator.redispatch"),
        .worker_alive_ms = acfg.worker_alive_ms,
        .limit_kind = {0, ferry_cfg_int(cfg, "coordinator.limit.dump_restore"),
                       ferry_cfg_int(cfg, "coordinator.limit.file_sync"), 0, 0},
        .limit_db_host = ferry_cfg_int(cfg, "coordinator.limit.db_host"),
        .limit_bucket = ferry_cfg_int(cfg, "coordinator.limit.bucket"),
    };
    if (engine_new(&ecfg, store, producer, &eng, &err) != FERRY_OK) {
        ferry_log(FERRY_LOG_ERROR, NULL, "engine: %s", err.msg);
        goto out;
    }
    ferry_log(FERRY_LOG_INFO, NULL, "serving on %s as %s", acfg.listen, instance);
    (void)engine_run(eng, &stop_flag, &err);
    ferry_log(FERRY_LOG_INFO, NULL, "shutting down");
    status = 0;
out:
    atomic_store(&stop_flag, true);
    api_stop(server);
    dlq_stop(dead);
    engine_free(eng);
    if (producer != NULL &&
        ferry_bus_flush(producer, (int)ferry_cfg_int(cfg, "coordinator.flush_timeout"), &err) !=
            FERRY_OK)
        ferry_log(FERRY_LOG_WARN, NULL, "flushing the producer: %s", err.msg);
    ferry_bus_producer_free(producer);
    ferry_store_close(store);
    ferry_cfg_free(cfg);
    return status;
}
