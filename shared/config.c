/* config.c - the settings table and its one loader. */
#include "ferry/config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ferry/buf.h"
#include "ferry/log.h"

#define SECRET_FILE_MAX (64 * 1024)
#define ALL_COMPONENTS  0xffffffffu
#define SERVICES        (FERRY_COMP_COORDINATOR | FERRY_COMP_WORKERS | FERRY_COMP_TEST)

/* clang-format off */
static const ferry_cfg_setting settings[] = {
    {"log.level", "FERRY_LOG_LEVEL", FERRY_CFG_ENUM, "info", 0, 0, "debug|info|warn|error",
     ALL_COMPONENTS, 0, "lowest level logged"},
    {"log.format", "FERRY_LOG_FORMAT", FERRY_CFG_ENUM, "kv", 0, 0, "kv|json",
     ALL_COMPONENTS, 0, "log line format"},

    {"kafka.brokers", "FERRY_KAFKA_BROKERS", FERRY_CFG_STRING, NULL, 0, 0, NULL,
     SERVICES, FERRY_CFG_REQUIRED, "Kafka bootstrap servers, host:port[,host:port]"},
    {"kafka.topic_prefix", "FERRY_KAFKA_TOPIC_PREFIX", FERRY_CFG_STRING, "ferry.", 0, 0, NULL,
     SERVICES, 0, "prefix of every topic Ferry uses"},
    {"kafka.partitions", "FERRY_KAFKA_PARTITIONS", FERRY_CFG_INT, "6", 1, 1024, NULL,
     SERVICES, 0, "partitions of topics Ferry creates; bounds the workers per kind"},

    {"kafka.security_protocol", "FERRY_KAFKA_SECURITY_PROTOCOL", FERRY_CFG_ENUM, "plaintext", 0,
     0, "plaintext|ssl|sasl_plaintext|sasl_ssl", SERVICES, 0,
     "how Ferry talks to the brokers: TLS (ssl), SASL (sasl_*), both (sasl_ssl)"},
    {"kafka.sasl_mechanism", "FERRY_KAFKA_SASL_MECHANISM", FERRY_CFG_ENUM, "SCRAM-SHA-256", 0, 0,
     "SCRAM-SHA-256|SCRAM-SHA-512|PLAIN", SERVICES, 0, "SASL mechanism (sasl_* protocols)"},
    {"kafka.sasl_username", "FERRY_KAFKA_SASL_USERNAME", FERRY_CFG_STRING, NULL, 0, 0, NULL,
     SERVICES, 0, "SASL user name (sasl_* protocols)"},
    {"kafka.sasl_password", "FERRY_KAFKA_SASL_PASSWORD", FERRY_CFG_STRING, NULL, 0, 0, NULL,
     SERVICES, FERRY_CFG_SECRET, "SASL password (sasl_* protocols)"},
    {"kafka.ssl_ca", "FERRY_KAFKA_SSL_CA", FERRY_CFG_STRING, NULL, 0, 0, NULL, SERVICES, 0,
     "CA certificate file that verifies the brokers (ssl, sasl_ssl); unset: the system's"},
    {"kafka.ssl_cert", "FERRY_KAFKA_SSL_CERT", FERRY_CFG_STRING, NULL, 0, 0, NULL, SERVICES, 0,
     "client certificate file, for brokers that require one (ssl, sasl_ssl)"},
    {"kafka.ssl_key", "FERRY_KAFKA_SSL_KEY", FERRY_CFG_STRING, NULL, 0, 0, NULL, SERVICES, 0,
     "the client certificate's private key file"},

    {"kafka.session_timeout", "FERRY_KAFKA_SESSION_TIMEOUT", FERRY_CFG_DURATION, "10s", 6000,
     300000, NULL, SERVICES, 0,
     "consumer group session: how long a killed member holds its partitions"},

    {"redis.url", "FERRY_REDIS_URL", FERRY_CFG_URL, NULL, 0, 0, NULL,
     SERVICES, FERRY_CFG_REQUIRED, "redis://host:port/db (no password: see FERRY_REDIS_PASSWORD)"},
    {"redis.password", "FERRY_REDIS_PASSWORD", FERRY_CFG_STRING, NULL, 0, 0, NULL,
     SERVICES, FERRY_CFG_SECRET, "Redis AUTH password"},

    {"pg.source.url", "FERRY_PG_SOURCE_URL", FERRY_CFG_URL, NULL, 0, 0, NULL,
     FERRY_COMP_TEST, FERRY_CFG_REQUIRED, "source PostgreSQL, postgresql://user@host:port/db"},
    {"pg.source.password", "FERRY_PG_SOURCE_PASSWORD", FERRY_CFG_STRING, NULL, 0, 0, NULL,
     FERRY_COMP_TEST, FERRY_CFG_SECRET, "source PostgreSQL password"},
    {"pg.target.url", "FERRY_PG_TARGET_URL", FERRY_CFG_URL, NULL, 0, 0, NULL,
     FERRY_COMP_TEST, FERRY_CFG_REQUIRED, "target PostgreSQL, postgresql://user@host:port/db"},
    {"pg.target.password", "FERRY_PG_TARGET_PASSWORD", FERRY_CFG_STRING, NULL, 0, 0, NULL,
     FERRY_COMP_TEST, FERRY_CFG_SECRET, "target PostgreSQL password"},

    {"s3.endpoint", "FERRY_S3_ENDPOINT", FERRY_CFG_URL, NULL, 0, 0, NULL,
     FERRY_COMP_FILE_SYNC | FERRY_COMP_TEST, 0,
     "S3-compatible endpoint URL, for a step whose location names none"},
    {"s3.region", "FERRY_S3_REGION", FERRY_CFG_STRING, "us-east-1", 0, 0, NULL,
     FERRY_COMP_FILE_SYNC | FERRY_COMP_TEST, 0, "SigV4 signing region"},
    {"s3.access_key", "FERRY_S3_ACCESS_KEY", FERRY_CFG_STRING, NULL, 0, 0, NULL,
     FERRY_COMP_FILE_SYNC | FERRY_COMP_TEST, FERRY_CFG_SECRET,
     "S3 access key id, for a step whose location names no secret"},
    {"s3.secret_key", "FERRY_S3_SECRET_KEY", FERRY_CFG_STRING, NULL, 0, 0, NULL,
     FERRY_COMP_FILE_SYNC | FERRY_COMP_TEST, FERRY_CFG_SECRET,
     "S3 secret access key, for a step whose location names no secret"},

    {"pdns.api_url", "FERRY_PDNS_API_URL", FERRY_CFG_URL, NULL, 0, 0, NULL,
     FERRY_COMP_DNS | FERRY_COMP_TEST, FERRY_CFG_REQUIRED, "PowerDNS HTTP API base URL"},
    {"pdns.api_key", "FERRY_PDNS_API_KEY", FERRY_CFG_STRING, NULL, 0, 0, NULL,
     FERRY_COMP_DNS | FERRY_COMP_TEST, FERRY_CFG_REQUIRED | FERRY_CFG_SECRET,
     "PowerDNS API key"},
    {"pdns.dns_addr", "FERRY_PDNS_DNS_ADDR", FERRY_CFG_STRING, NULL, 0, 0, NULL,
     FERRY_COMP_DNS | FERRY_COMP_TEST, FERRY_CFG_REQUIRED,
     "host:port where the name server answers DNS queries"},

    {"supervisor.url", "FERRY_SUPERVISOR_URL", FERRY_CFG_URL, NULL, 0, 0, NULL,
     FERRY_COMP_APP | FERRY_COMP_TEST, 0,
     "supervisord XML-RPC URL (.../RPC2), for apps whose platform is supervisor"},
    {"supervisor.user", "FERRY_SUPERVISOR_USER", FERRY_CFG_STRING, NULL, 0, 0, NULL,
     FERRY_COMP_APP | FERRY_COMP_TEST, 0, "supervisord user"},
    {"supervisor.password", "FERRY_SUPERVISOR_PASSWORD", FERRY_CFG_STRING, NULL, 0, 0, NULL,
     FERRY_COMP_APP | FERRY_COMP_TEST, FERRY_CFG_SECRET, "supervisord password"},
    {"mendix.api_url", "FERRY_MENDIX_API_URL", FERRY_CFG_URL, "https://deploy.mendix.com/api/1",
     0, 0, NULL, FERRY_COMP_APP, 0,
     "Mendix Deploy API v1 base URL, for apps whose platform is mendix"},

    {"dump_restore.jobs", "FERRY_DUMP_RESTORE_JOBS", FERRY_CFG_INT, "2", 1, 64, NULL,
     FERRY_COMP_DUMP_RESTORE, 0,
     "parallel COPY streams and index builds of one copy (a step's parallel_tables overrides)"},
    {"dump_restore.split", "FERRY_DUMP_RESTORE_SPLIT", FERRY_CFG_SIZE, "256M", 1048576,
     INT64_MAX, NULL, FERRY_COMP_DUMP_RESTORE, 0,
     "a table larger than this is copied as several ranges of about this size, in parallel"},
    {"dump_restore.max_retained_wal", "FERRY_DUMP_RESTORE_MAX_RETAINED_WAL", FERRY_CFG_SIZE,
     "10G", 16777216, INT64_MAX, NULL, FERRY_COMP_DUMP_RESTORE, 0,
     "the logical method: the most WAL a slot may keep on the source before Ferry drops it and "
     "falls back to dump_restore (a spec's database.max_retained_wal overrides)"},
    {"dump_restore.pg_bin", "FERRY_DUMP_RESTORE_PG_BIN", FERRY_CFG_STRING, NULL, 0, 0, NULL,
     FERRY_COMP_DUMP_RESTORE, 0,
     "directory of pg_dump and pg_restore (default: the newest /usr/lib/postgresql/*/bin, else PATH)"},

    {"file_sync.concurrency", "FERRY_FILE_SYNC_CONCURRENCY", FERRY_CFG_INT, "16", 1, 256, NULL,
     FERRY_COMP_FILE_SYNC, 0,
     "transfers one file pass runs at once (a step's concurrency overrides)"},
    {"file_sync.multipart_threshold", "FERRY_FILE_SYNC_MULTIPART_THRESHOLD", FERRY_CFG_SIZE,
     "64M", 5242880, INT64_MAX, NULL, FERRY_COMP_FILE_SYNC, 0,
     "files at least this large are uploaded in parts"},
    {"file_sync.part_size", "FERRY_FILE_SYNC_PART_SIZE", FERRY_CFG_SIZE, "16M", 5242880,
     5368709120, NULL, FERRY_COMP_FILE_SYNC, 0, "size of each part of a multipart upload"},

    {"worker.concurrency", "FERRY_WORKER_CONCURRENCY", FERRY_CFG_INT, "2", 1, 256, NULL,
     FERRY_COMP_WORKERS, 0, "steps one worker process runs at once"},
    {"worker.lease", "FERRY_WORKER_LEASE", FERRY_CFG_DURATION, "30s", 1000, 600000, NULL,
     FERRY_COMP_WORKERS, 0, "lease on a running step; renewed at a third of it"},
    {"worker.heartbeat", "FERRY_WORKER_HEARTBEAT", FERRY_CFG_DURATION, "2s", 100, 60000, NULL,
     FERRY_COMP_WORKERS, 0, "how often a worker advertises itself and its free capacity"},
    {"worker.drain", "FERRY_WORKER_DRAIN", FERRY_CFG_DURATION, "30s", 0, 3600000, NULL,
     FERRY_COMP_WORKERS, 0, "on SIGTERM, how long running steps may finish before release"},
    {"worker.id", "FERRY_WORKER_ID", FERRY_CFG_STRING, NULL, 0, 0, NULL,
     FERRY_COMP_WORKERS, 0, "this worker's id; default <kind>@<host>:<pid>"},

    {"coordinator.listen", "FERRY_COORDINATOR_LISTEN", FERRY_CFG_STRING, "127.0.0.1:18700", 0, 0,
     NULL, FERRY_COMP_COORDINATOR, 0, "address:port of the HTTP API"},
    {"coordinator.token", "FERRY_COORDINATOR_TOKEN", FERRY_CFG_STRING, NULL, 0, 0, NULL,
     FERRY_COMP_COORDINATOR | FERRY_COMP_CTL, FERRY_CFG_REQUIRED | FERRY_CFG_SECRET,
     "the bootstrap admin's bearer token of the HTTP API (user admin)"},
    {"coordinator.users", "FERRY_COORDINATOR_USERS", FERRY_CFG_STRING, NULL, 0, 0, NULL,
     FERRY_COMP_COORDINATOR, 0,
     "the users file: names, roles and token hashes (docs/console.md); none by default"},
    {"coordinator.session_idle", "FERRY_COORDINATOR_SESSION_IDLE", FERRY_CFG_DURATION, "30m", 1000,
     86400000, NULL, FERRY_COMP_COORDINATOR, 0, "a page's session unused this long ends"},
    {"coordinator.session_max", "FERRY_COORDINATOR_SESSION_MAX", FERRY_CFG_DURATION, "12h", 1000,
     604800000, NULL, FERRY_COMP_COORDINATOR, 0, "a page's session ends this long after login"},
    {"coordinator.cookie_secure", "FERRY_COORDINATOR_COOKIE_SECURE", FERRY_CFG_BOOL, "false", 0, 0,
     NULL, FERRY_COMP_COORDINATOR, 0, "mark the session cookie Secure (the page is behind HTTPS)"},
    {"coordinator.url", "FERRY_COORDINATOR_URL", FERRY_CFG_URL, "http://127.0.0.1:18700", 0, 0,
     NULL, FERRY_COMP_CTL, 0, "where ferryctl finds the coordinator's API"},
    {"coordinator.tick", "FERRY_COORDINATOR_TICK", FERRY_CFG_DURATION, "500ms", 10, 60000, NULL,
     FERRY_COMP_COORDINATOR, 0, "how often leases, timers and waiting steps are looked at"},
    {"coordinator.max_retries", "FERRY_COORDINATOR_MAX_RETRIES", FERRY_CFG_INT, "3", 0, 100,
     NULL, FERRY_COMP_COORDINATOR, 0, "retries of a step whose failure is retryable"},
    {"coordinator.backoff", "FERRY_COORDINATOR_BACKOFF", FERRY_CFG_DURATION, "2s", 0, 3600000,
     NULL, FERRY_COMP_COORDINATOR, 0, "first retry delay; doubles each retry"},
    {"coordinator.backoff_max", "FERRY_COORDINATOR_BACKOFF_MAX", FERRY_CFG_DURATION, "5m", 0,
     86400000, NULL, FERRY_COMP_COORDINATOR, 0, "longest retry delay"},
    {"coordinator.redispatch", "FERRY_COORDINATOR_REDISPATCH", FERRY_CFG_DURATION, "60s", 1000,
     3600000, NULL, FERRY_COMP_COORDINATOR, 0,
     "publish a dispatched step again when no worker claimed it in this time"},
    {"coordinator.api_connections", "FERRY_COORDINATOR_API_CONNECTIONS", FERRY_CFG_INT, "512", 8,
     65536, NULL, FERRY_COMP_COORDINATOR, 0, "API connections at once, in total"},
    {"coordinator.api_per_client", "FERRY_COORDINATOR_API_PER_CLIENT", FERRY_CFG_INT, "64", 1,
     65536, NULL, FERRY_COMP_COORDINATOR, 0, "API connections at once from one client address"},
    {"coordinator.api_client_timeout", "FERRY_COORDINATOR_API_CLIENT_TIMEOUT", FERRY_CFG_DURATION,
     "15s", 1000, 3600000, NULL, FERRY_COMP_COORDINATOR, 0,
     "an API connection idle or slower than this is closed"},
    {"coordinator.dead_letter_max", "FERRY_COORDINATOR_DEAD_LETTER_MAX", FERRY_CFG_INT, "3", 1,
     100, NULL, FERRY_COMP_COORDINATOR, 0,
     "dead letters of one attempt (every worker rejects it) after which its step fails"},
    {"coordinator.cutover_margin", "FERRY_COORDINATOR_CUTOVER_MARGIN", FERRY_CFG_DURATION, "20m",
     0, 86400000, NULL, FERRY_COMP_COORDINATOR, 0,
     "the cutover's time limit, from the source's stop: last measured duration plus this"},
    {"coordinator.ttl_wait_max", "FERRY_COORDINATOR_TTL_WAIT_MAX", FERRY_CFG_DURATION, "24h", 0,
     604800000, NULL, FERRY_COMP_COORDINATOR, 0,
     "migrate waits the names' old TTL after lowering it, at most this"},
    {"coordinator.ttl_restore_after", "FERRY_COORDINATOR_TTL_RESTORE_AFTER", FERRY_CFG_DURATION,
     "24h", 0, 2592000000, NULL, FERRY_COMP_COORDINATOR, 0,
     "after a successful migration, give the names their TTL back after this"},
    {"coordinator.pause", "FERRY_COORDINATOR_PAUSE", FERRY_CFG_DURATION, "5m", 0, 86400000, NULL,
     FERRY_COMP_COORDINATOR, 0,
     "pause between file-sync passes of a migration whose spec sets none"},
    {"coordinator.worker_alive", "FERRY_COORDINATOR_WORKER_ALIVE", FERRY_CFG_DURATION, "15s", 1000,
     3600000, NULL, FERRY_COMP_COORDINATOR, 0,
     "a worker whose last heartbeat is older is not counted, and shown as not alive"},
    {"coordinator.redis_timeout", "FERRY_COORDINATOR_REDIS_TIMEOUT", FERRY_CFG_DURATION, "5s", 100,
     300000, NULL, FERRY_COMP_COORDINATOR, 0, "bounds connecting to Redis and each of its replies"},
    {"coordinator.topics_timeout", "FERRY_COORDINATOR_TOPICS_TIMEOUT", FERRY_CFG_DURATION, "30s",
     1000, 600000, NULL, FERRY_COMP_COORDINATOR, 0, "at start, creating the Kafka topics"},
    {"coordinator.metadata_timeout", "FERRY_COORDINATOR_METADATA_TIMEOUT", FERRY_CFG_DURATION,
     "10s", 0, 600000, NULL, FERRY_COMP_COORDINATOR, 0,
     "at start, fetching the step topics' metadata (later, the first steps wait for it)"},
    {"coordinator.flush_timeout", "FERRY_COORDINATOR_FLUSH_TIMEOUT", FERRY_CFG_DURATION, "5s", 0,
     600000, NULL, FERRY_COMP_COORDINATOR, 0,
     "on shutdown, how long queued messages may take to reach Kafka"},
    {"coordinator.limit.dump_restore", "FERRY_COORDINATOR_LIMIT_DUMP_RESTORE", FERRY_CFG_INT, "0",
     0, 100000, NULL, FERRY_COMP_COORDINATOR, 0, "dump-restores at once in all (0: no limit)"},
    {"coordinator.limit.file_sync", "FERRY_COORDINATOR_LIMIT_FILE_SYNC", FERRY_CFG_INT, "0", 0,
     100000, NULL, FERRY_COMP_COORDINATOR, 0, "file-sync passes at once in all (0: no limit)"},
    {"coordinator.limit.db_host", "FERRY_COORDINATOR_LIMIT_DB_HOST", FERRY_CFG_INT, "2", 0,
     100000, NULL, FERRY_COMP_COORDINATOR, 0,
     "dump-restores at once per source database host (0: no limit)"},
    {"coordinator.limit.bucket", "FERRY_COORDINATOR_LIMIT_BUCKET", FERRY_CFG_INT, "0", 0, 100000,
     NULL, FERRY_COMP_COORDINATOR, 0, "file-sync passes at once per target bucket (0: no limit)"},
};
/* clang-format on */

#define N_SETTINGS (sizeof(settings) / sizeof(settings[0]))

typedef struct cfg_value {
    bool loaded; /* the row is used by the loaded component */
    char *text;  /* effective text, NULL when unset */
    int64_t num;
    bool flag;
} cfg_value;

struct ferry_cfg {
    unsigned component;
    cfg_value values[N_SETTINGS];
};

const ferry_cfg_setting *ferry_cfg_table(size_t *len)
{
    if (len != NULL)
        *len = N_SETTINGS;
    return settings;
}

/* ---- parsers ------------------------------------------------------------------------------ */

static int parse_i64(const char *text, int64_t *out, char **end)
{
    if (text == NULL || !(isdigit((unsigned char)text[0]) || text[0] == '-'))
        return -1;
    errno = 0;
    long long v = strtoll(text, end, 10);
    if (errno != 0 || *end == text)
        return -1;
    *out = (int64_t)v;
    return 0;
}

int ferry_parse_int(const char *text, int64_t *out)
{
    char *end = NULL;
    int64_t v;
    if (parse_i64(text, &v, &end) != 0 || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

int ferry_parse_duration_ms(const char *text, int64_t *out)
{
    char *end = NULL;
    int64_t v;
    if (parse_i64(text, &v, &end) != 0 || v < 0)
        return -1;
    int64_t mul;
    if (*end == '\0' || strcmp(end, "ms") == 0)
        mul = 1;
    else if (strcmp(end, "s") == 0)
        mul = 1000;
    else if (strcmp(end, "m") == 0)
        mul = 60 * 1000;
    else if (strcmp(end, "h") == 0)
        mul = 3600 * 1000;
    else
        return -1;
    if (v > INT64_MAX / mul)
        return -1;
    *out = v * mul;
    return 0;
}

int ferry_parse_size(const char *text, int64_t *out)
{
    char *end = NULL;
    int64_t v;
    if (parse_i64(text, &v, &end) != 0 || v < 0)
        return -1;
    int64_t mul;
    if (*end == '\0' || strcasecmp(end, "b") == 0)
        mul = 1;
    else if (strcasecmp(end, "k") == 0 || strcasecmp(end, "kb") == 0 || strcmp(end, "KiB") == 0)
        mul = 1024;
    else if (strcasecmp(end, "m") == 0 || strcasecmp(end, "mb") == 0 || strcmp(end, "MiB") == 0)
        mul = 1024 * 1024;
    else if (strcasecmp(end, "g") == 0 || strcasecmp(end, "gb") == 0 || strcmp(end, "GiB") == 0)
        mul = 1024 * 1024 * 1024;
    else
        return -1;
    if (v > INT64_MAX / mul)
        return -1;
    *out = v * mul;
    return 0;
}

int ferry_parse_bool(const char *text, bool *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; text != NULL && i < 4; i++) {
        if (strcasecmp(text, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(text, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

static bool enum_has(const char *choices, const char *text)
{
    size_t n = strlen(text);
    const char *p = choices;
    while (p != NULL && *p != '\0') {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, text, n) == 0)
            return true;
        p = bar ? bar + 1 : NULL;
    }
    return false;
}

/* A URL needs scheme://host and no password in its userinfo. Returns a problem text or NULL. */
static const char *url_problem(const char *text)
{
    const char *sep = strstr(text, "://");
    if (sep == NULL || sep == text || sep[3] == '\0' || sep[3] == '/')
        return "is not a URL of the form scheme://host[:port][/path]";
    const char *auth = sep + 3;
    size_t auth_len = strcspn(auth, "/?#");
    const char *at = memchr(auth, '@', auth_len);
    if (at != NULL && memchr(auth, ':', (size_t)(at - auth)) != NULL)
        return "holds a password; give it in the matching *_PASSWORD setting (or its _FILE)";
    if (strstr(text, "password=") != NULL)
        return "holds a password; give it in the matching *_PASSWORD setting (or its _FILE)";
    return NULL;
}

/* ---- problems report ---------------------------------------------------------------------- */

/* Problems found while loading, one per line. */
typedef struct report {
    ferry_buf text;
    unsigned count;
} report;

static void report_add(report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void report_add(report *r, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    ferry_buf_add(&r->text, line);
    ferry_buf_add(&r->text, "\n");
    r->count++;
}

/* ---- loading ------------------------------------------------------------------------------ */

static const char *env_default(const char *name, void *ud)
{
    (void)ud;
    return getenv(name);
}

/* Reads a secret file; returns malloc'd text without one trailing newline, or NULL with errno. */
static char *read_secret_file(const char *path)
{
    char *buf = NULL;
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    buf = malloc(SECRET_FILE_MAX + 1);
    if (buf == NULL)
        goto fail;
    size_t n = fread(buf, 1, SECRET_FILE_MAX + 1, f);
    if (ferror(f) || n > SECRET_FILE_MAX) {
        errno = n > SECRET_FILE_MAX ? EFBIG : EIO;
        goto fail;
    }
    buf[n] = '\0';
    if (n > 0 && buf[n - 1] == '\n')
        buf[--n] = '\0';
    if (n > 0 && buf[n - 1] == '\r')
        buf[--n] = '\0';
    (void)fclose(f);
    return buf;
fail:
    free(buf);
    (void)fclose(f);
    return NULL;
}

ferry_rc ferry_secret_get(const char *name, char **out, ferry_err *err)
{
    *out = NULL;
    size_t n = name != NULL ? strlen(name) : 0;
    if (n == 0 || n > 64)
        return ferry_err_set(err, FERRY_ERR_INVALID, "secret name: 1 to 64 characters");
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
            return ferry_err_set(err, FERRY_ERR_INVALID,
                                 "secret name %s: only A-Z, 0-9 and _ are allowed", name);
    }
    char var[96];
    (void)snprintf(var, sizeof(var), "FERRY_SECRET_%s", name);
    const char *value = getenv(var);
    char *copy = NULL;
    if (value != NULL) {
        copy = strdup(value);
        if (copy == NULL)
            return ferry_err_set(err, FERRY_ERR_NOMEM, "secret %s: out of memory", name);
    } else {
        char file_var[104];
        (void)snprintf(file_var, sizeof(file_var), "%s_FILE", var);
        const char *path = getenv(file_var);
        if (path == NULL || path[0] == '\0')
            return ferry_err_set(err, FERRY_ERR_CONFIG,
                                 "secret %s is not set on this worker: set %s or %s", name, var,
                                 file_var);
        copy = read_secret_file(path);
        if (copy == NULL)
            return ferry_err_set_errno(err, FERRY_ERR_CONFIG, errno,
                                       "secret %s: cannot read the file in %s", name, file_var);
    }
    ferry_log_add_secret(copy);
    *out = copy;
    return FERRY_OK;
}

/* Parses one row's text into v; adds a problem to r when the text does not fit the row. */
static void load_value(const ferry_cfg_setting *s, cfg_value *v, report *r)
{
    bool secret = (s->flags & FERRY_CFG_SECRET) != 0;
    const char *shown = secret ? "(secret value)" : v->text;
    switch (s->type) {
    case FERRY_CFG_STRING:
        return;
    case FERRY_CFG_URL: {
        const char *why = url_problem(v->text);
        if (why != NULL)
            report_add(r, "%s: %s", s->env, why);
        return;
    }
    case FERRY_CFG_ENUM:
        if (!enum_has(s->choices, v->text))
            report_add(r, "%s: '%s' is not one of %s", s->env, shown, s->choices);
        return;
    case FERRY_CFG_BOOL:
        if (ferry_parse_bool(v->text, &v->flag) != 0)
            report_add(r, "%s: '%s' is not a boolean (true/false)", s->env, shown);
        return;
    case FERRY_CFG_INT:
    case FERRY_CFG_DURATION:
    case FERRY_CFG_SIZE: {
        int rc;
        const char *what;
        if (s->type == FERRY_CFG_INT) {
            rc = ferry_parse_int(v->text, &v->num);
            what = "an integer";
        } else if (s->type == FERRY_CFG_DURATION) {
            rc = ferry_parse_duration_ms(v->text, &v->num);
            what = "a duration (250ms, 30s, 5m, 2h)";
        } else {
            rc = ferry_parse_size(v->text, &v->num);
            what = "a size (bytes, or with K/M/G)";
        }
        if (rc != 0)
            report_add(r, "%s: '%s' is not %s", s->env, shown, what);
        else if (v->num < s->min || v->num > s->max)
            report_add(r, "%s: '%s' is out of bounds [%" PRId64 ", %" PRId64 "]%s", s->env, shown,
                       s->min, s->max, s->type == FERRY_CFG_DURATION ? " ms" : "");
        return;
    }
    }
}

ferry_rc ferry_cfg_load(unsigned component, ferry_cfg_getenv_fn getenv_fn, void *ud,
                        ferry_cfg **out, char **problems)
{
    report r = {0};
    *out = NULL;
    *problems = NULL;
    if (getenv_fn == NULL)
        getenv_fn = env_default;
    bool standalone = (component & FERRY_COMP_STANDALONE) != 0;
    component &= ~(unsigned)FERRY_COMP_STANDALONE;
    ferry_cfg *cfg = calloc(1, sizeof(*cfg));
    if (cfg == NULL)
        return FERRY_ERR_NOMEM;
    cfg->component = component;

    for (size_t i = 0; i < N_SETTINGS; i++) {
        const ferry_cfg_setting *s = &settings[i];
        cfg_value *v = &cfg->values[i];
        if ((s->components & component) == 0)
            continue;
        v->loaded = true;
        const char *text = getenv_fn(s->env, ud);
        if (text != NULL && text[0] == '\0')
            text = NULL;
        if (s->flags & FERRY_CFG_SECRET) {
            char file_env[128];
            (void)snprintf(file_env, sizeof(file_env), "%s_FILE", s->env);
            const char *path = getenv_fn(file_env, ud);
            if (path != NULL && path[0] != '\0') {
                if (text != NULL) {
                    report_add(&r, "%s and %s are both set; use one", s->env, file_env);
                    continue;
                }
                v->text = read_secret_file(path);
                if (v->text == NULL) {
                    report_add(&r, "%s: cannot read %s: %s", file_env, path, strerror(errno));
                    continue;
                }
            }
        }
        if (v->text == NULL && text != NULL)
            v->text = strdup(text);
        else if (v->text == NULL && s->def != NULL)
            v->text = strdup(s->def);
        if (v->text == NULL) {
            if (text != NULL || s->def != NULL)
                r.text.oom = true;
            else if ((s->flags & FERRY_CFG_REQUIRED) && !(standalone && s->components == SERVICES))
                report_add(&r, "%s: required but not set (%s)", s->env, s->help);
            continue;
        }
        load_value(s, v, &r);
        if (s->flags & FERRY_CFG_SECRET)
            ferry_log_add_secret(v->text);
    }

    if (r.text.oom) {
        ferry_buf_cleanup(&r.text);
        ferry_cfg_free(cfg);
        return FERRY_ERR_NOMEM;
    }
    if (r.count > 0) {
        *problems = ferry_buf_take(&r.text);
        ferry_cfg_free(cfg);
        return *problems != NULL ? FERRY_ERR_CONFIG : FERRY_ERR_NOMEM;
    }
    ferry_buf_cleanup(&r.text);
    *out = cfg;
    return FERRY_OK;
}

void ferry_cfg_free(ferry_cfg *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < N_SETTINGS; i++) {
        if (cfg->values[i].text != NULL && (settings[i].flags & FERRY_CFG_SECRET))
            explicit_bzero(cfg->values[i].text, strlen(cfg->values[i].text));
        free(cfg->values[i].text);
    }
    free(cfg);
}

static const cfg_value *lookup(const ferry_cfg *cfg, const char *name, const ferry_cfg_setting **s)
{
    for (size_t i = 0; i < N_SETTINGS; i++) {
        if (strcmp(settings[i].name, name) == 0 && cfg->values[i].loaded) {
            *s = &settings[i];
            return &cfg->values[i];
        }
    }
    /* A programming error, not a user's: the binary asked for a setting it does not load. */
    fprintf(stderr, "ferry: BUG: setting '%s' is not loaded for this component\n", name);
    abort();
}

const char *ferry_cfg_str(const ferry_cfg *cfg, const char *name)
{
    const ferry_cfg_setting *s;
    return lookup(cfg, name, &s)->text;
}

int64_t ferry_cfg_int(const ferry_cfg *cfg, const char *name)
{
    const ferry_cfg_setting *s;
    const cfg_value *v = lookup(cfg, name, &s);
    return v->num;
}

bool ferry_cfg_bool(const ferry_cfg *cfg, const char *name)
{
    const ferry_cfg_setting *s;
    return lookup(cfg, name, &s)->flag;
}

void ferry_cfg_dump(const ferry_cfg *cfg, FILE *out)
{
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const cfg_value *v = &cfg->values[i];
        if (!v->loaded)
            continue;
        const char *shown = v->text == NULL                          ? "(unset)"
                            : (settings[i].flags & FERRY_CFG_SECRET) ? "***"
                                                                     : v->text;
        fprintf(out, "%s=%s\n", settings[i].env, shown);
    }
}
