/*
 * demo_app.c - ferry-demo-app: the small web app Ferry migrates in `make demo` and the
 * end-to-end tests. Settings come from the environment (DEMO_*; see usage()); it serves the
 * rows of its database's table "orders" and its files (a directory, or a prefix of an S3
 * bucket) over HTTP:
 *
 *   GET /health        200 "ok" when the database answers and has the table, else 503
 *   GET /              a small page: app, generation, rows, checksum, files
 *   GET /data          the same as JSON
 *   GET /files/<path>  one file's bytes; 404 when absent, 400 for a path with "..", ...
 *
 * One thread serves every request (libmicrohttpd's internal polling thread), so the database
 * connection and the S3 client need no locks. Logs are quiet: start, stop, and the database or
 * the files becoming unavailable or available again; no line per request.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>
#include <openssl/crypto.h>

#include "ferry/error.h"
#include "ferry/log.h"

#include "demo_db.h"
#include "demo_files.h"

#define EXIT_CONFIG 2
#define EXIT_FAILED 1

/* ---- settings ----------------------------------------------------------------------------- */

typedef struct demo_cfg {
    const char *name;
    const char *generation;
    const char *listen;
    const char *pg_conninfo;
    char *pg_password; /* DEMO_PG_PASSWORD(_FILE); NULL: libpq's PGPASSWORD or .pgpass */
    const char *files_dir;
    const char *s3_endpoint;
    const char *s3_region;
    const char *s3_bucket;
    const char *s3_prefix;
    char *s3_access_key;
    char *s3_secret_key;
    ferry_log_level log_level;
    struct sockaddr_storage addr;
} demo_cfg;

static void usage(FILE *out)
{
    (void)fputs(
        "usage: ferry-demo-app [--check-config]\n"
        "Serves a demo app's database rows and files over HTTP. Settings (environment):\n"
        "  DEMO_NAME          the app's name (a-z, 0-9, '-'), e.g. shop\n"
        "  DEMO_GENERATION    v3 or v4\n"
        "  DEMO_LISTEN        address:port, e.g. 127.0.1.1:18090 ([::1]:18090 for IPv6)\n"
        "  DEMO_PG_CONNINFO   libpq connection string without password\n"
        "  DEMO_PG_PASSWORD   its password (or DEMO_PG_PASSWORD_FILE, or libpq's PGPASSWORD)\n"
        "  DEMO_FILES_DIR     the files' directory (absolute), or else S3:\n"
        "  DEMO_S3_ENDPOINT, DEMO_S3_BUCKET, DEMO_S3_PREFIX (default none), DEMO_S3_REGION\n"
        "                     (default us-east-1), DEMO_S3_ACCESS_KEY, DEMO_S3_SECRET_KEY\n"
        "                     (each key also as <NAME>_FILE)\n"
        "  DEMO_LOG_LEVEL     debug|info|warn|error (default info)\n"
        "Endpoints: GET /health, GET /, GET /data, GET /files/<path>.\n",
        out);
}

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' ? v : NULL;
}

/* A secret from NAME or from the file named by NAME_FILE (one trailing newline dropped).
 * Returns 0 and *out (caller frees; NULL when neither is set), or -1 after printing why. */
static int secret_env(const char *name, char **out)
{
    char fname[64];
    *out = NULL;
    const char *v = env(name);
    (void)snprintf(fname, sizeof fname, "%s_FILE", name);
    const char *path = env(fname);
    if (v != NULL && path != NULL) {
        (void)fprintf(stderr, "ferry-demo-app: set %s or %s, not both\n", name, fname);
        return -1;
    }
    if (v != NULL) {
        *out = strdup(v);
        return *out != NULL ? 0 : -1;
    }
    if (path == NULL)
        return 0;
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        (void)fprintf(stderr, "ferry-demo-app: %s: cannot open %s: %s\n", fname, path,
                      strerror(errno));
        return -1;
    }
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    bool bad = ferror(f) != 0 || n == sizeof buf - 1;
    (void)fclose(f);
    if (n > 0 && buf[n - 1] == '\n')
        n--;
    buf[n] = '\0';
    if (bad || n == 0 || memchr(buf, '\0', n) != NULL) {
        (void)fprintf(stderr, "ferry-demo-app: %s: %s is unreadable, empty or too long\n", fname,
                      path);
        OPENSSL_cleanse(buf, sizeof buf);
        return -1;
    }
    *out = strdup(buf);
    OPENSSL_cleanse(buf, sizeof buf);
    return *out != NULL ? 0 : -1;
}

static void wipe_free(char *s)
{
    if (s != NULL) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

static void cfg_cleanup(demo_cfg *cfg)
{
    wipe_free(cfg->pg_password);
    wipe_free(cfg->s3_access_key);
    wipe_free(cfg->s3_secret_key);
    memset(cfg, 0, sizeof *cfg);
}

static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63 || s[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return false;
    return true;
}

/* "a.b.c.d:port" or "[v6]:port" into *ss. */
static bool listen_parse(const char *text, struct sockaddr_storage *ss)
{
    char host[64];
    const char *colon = strrchr(text, ':');
    if (colon == NULL || colon == text || (size_t)(colon - text) >= sizeof host)
        return false;
    char *end = NULL;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (errno != 0 || end == colon + 1 || *end != '\0' || port < 1 || port > 65535)
        return false;
    size_t hl = (size_t)(colon - text);
    memcpy(host, text, hl);
    host[hl] = '\0';
    memset(ss, 0, sizeof *ss);
    if (host[0] == '[') {
        if (hl < 3 || host[hl - 1] != ']')
            return false;
        host[hl - 1] = '\0';
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        return inet_pton(AF_INET6, host + 1, &s6->sin6_addr) == 1;
    }
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, host, &s4->sin_addr) == 1;
}

/* Reads and checks every setting, printing each problem on its own line. */
static int cfg_load(demo_cfg *cfg)
{
    int problems = 0;
    memset(cfg, 0, sizeof *cfg);
#define PROBLEM(...)                                                                               \
    do {                                                                                           \
        (void)fprintf(stderr, "ferry-demo-app: " __VA_ARGS__);                                     \
        (void)fputc('\n', stderr);                                                                 \
        problems++;                                                                                \
    } while (0)

    cfg->name = env("DEMO_NAME");
    if (cfg->name == NULL)
        PROBLEM("DEMO_NAME: required (the app's name, e.g. shop)");
    else if (!name_ok(cfg->name))
        PROBLEM("DEMO_NAME: '%s' is not a name: 1 to 63 of a-z, 0-9 and '-'", cfg->name);
    cfg->generation = env("DEMO_GENERATION");
    if (cfg->generation == NULL)
        PROBLEM("DEMO_GENERATION: required (v3 or v4)");
    else if (strcmp(cfg->generation, "v3") != 0 && strcmp(cfg->generation, "v4") != 0)
        PROBLEM("DEMO_GENERATION: '%s' is neither v3 nor v4", cfg->generation);
    cfg->listen = env("DEMO_LISTEN");
    if (cfg->listen == NULL)
        PROBLEM("DEMO_LISTEN: required (address:port, e.g. 127.0.1.1:18090)");
    else if (!listen_parse(cfg->listen, &cfg->addr))
        PROBLEM("DEMO_LISTEN: '%s' is not address:port (127.0.1.1:18090, [::1]:18090)",
                cfg->listen);
    cfg->pg_conninfo = env("DEMO_PG_CONNINFO");
    if (cfg->pg_conninfo == NULL)
        PROBLEM("DEMO_PG_CONNINFO: required (libpq connection string without password)");
    if (secret_env("DEMO_PG_PASSWORD", &cfg->pg_password) != 0)
        problems++;

    cfg->files_dir = env("DEMO_FILES_DIR");
    cfg->s3_endpoint = env("DEMO_S3_ENDPOINT");
    cfg->s3_region = env("DEMO_S3_REGION");
    cfg->s3_bucket = env("DEMO_S3_BUCKET");
    cfg->s3_prefix = getenv("DEMO_S3_PREFIX");
    if (secret_env("DEMO_S3_ACCESS_KEY", &cfg->s3_access_key) != 0)
        problems++;
    if (secret_env("DEMO_S3_SECRET_KEY", &cfg->s3_secret_key) != 0)
        problems++;
    if (cfg->files_dir != NULL && cfg->s3_bucket != NULL) {
        PROBLEM("DEMO_FILES_DIR and DEMO_S3_BUCKET: give one of them, not both");
    } else if (cfg->files_dir != NULL) {
        if (cfg->files_dir[0] != '/')
            PROBLEM("DEMO_FILES_DIR: '%s' is not an absolute path", cfg->files_dir);
    } else if (cfg->s3_bucket != NULL) {
        if (cfg->s3_endpoint == NULL)
            PROBLEM("DEMO_S3_ENDPOINT: required with DEMO_S3_BUCKET (http://host:port)");
        if (cfg->s3_access_key == NULL)
            PROBLEM("DEMO_S3_ACCESS_KEY: required with DEMO_S3_BUCKET");
        if (cfg->s3_secret_key == NULL)
            PROBLEM("DEMO_S3_SECRET_KEY: required with DEMO_S3_BUCKET");
    } else {
        PROBLEM("DEMO_FILES_DIR or DEMO_S3_BUCKET: one is required (where the files are)");
    }
    const char *level = env("DEMO_LOG_LEVEL");
    cfg->log_level = FERRY_LOG_INFO;
    if (level != NULL && ferry_log_level_parse(level, &cfg->log_level) != 0)
        PROBLEM("DEMO_LOG_LEVEL: '%s' is not debug, info, warn or error", level);
#undef PROBLEM
    return problems;
}

static void cfg_print(const demo_cfg *cfg, FILE *out)
{
    char conninfo[512];
    (void)ferry_redact(cfg->pg_conninfo, conninfo, sizeof conninfo);
    (void)fprintf(out, "DEMO_NAME=%s\nDEMO_GENERATION=%s\nDEMO_LISTEN=%s\nDEMO_PG_CONNINFO=%s\n",
                  cfg->name, cfg->generation, cfg->listen, conninfo);
    (void)fprintf(out, "DEMO_PG_PASSWORD=%s\n", cfg->pg_password != NULL ? "***" : "(unset)");
    if (cfg->files_dir != NULL) {
        (void)fprintf(out, "DEMO_FILES_DIR=%s\n", cfg->files_dir);
    } else {
        (void)fprintf(out,
                      "DEMO_S3_ENDPOINT=%s\nDEMO_S3_REGION=%s\nDEMO_S3_BUCKET=%s\n"
                      "DEMO_S3_PREFIX=%s\nDEMO_S3_ACCESS_KEY=***\nDEMO_S3_SECRET_KEY=***\n",
                      cfg->s3_endpoint, cfg->s3_region != NULL ? cfg->s3_region : "us-east-1",
                      cfg->s3_bucket, cfg->s3_prefix != NULL ? cfg->s3_prefix : "");
    }
}

/* ---- the app ------------------------------------------------------------------------------ */

typedef struct demo_app {
    const demo_cfg *cfg;
    demo_db *db;
    demo_files *files;
    bool db_down;    /* last answer of the database was a failure (logged once) */
    bool files_down; /* same for the files */
} demo_app;

/* Logs a change of state only: quiet logs while a service stays up, or stays down. */
static void note_db(demo_app *app, ferry_rc rc, const ferry_err *err)
{
    if (rc != FERRY_OK && !app->db_down)
        ferry_log(FERRY_LOG_WARN, NULL, "database unavailable: %s", err->msg);
    else if (rc == FERRY_OK && app->db_down)
        ferry_log(FERRY_LOG_INFO, NULL, "database available again");
    app->db_down = rc != FERRY_OK;
}

static void note_files(demo_app *app, ferry_rc rc, const ferry_err *err)
{
    if (rc != FERRY_OK && !app->files_down)
        ferry_log(FERRY_LOG_WARN, NULL, "files unavailable: %s", err->msg);
    else if (rc == FERRY_OK && app->files_down)
        ferry_log(FERRY_LOG_INFO, NULL, "files available again");
    app->files_down = rc != FERRY_OK;
}

/* An answer: status, content type and a malloc'ed body (or a file). */
typedef struct answer {
    unsigned status;
    const char *type;
    char *body; /* malloc'ed, or NULL with file set */
    size_t len;
    demo_file file; /* fd >= 0 or data != NULL when serving a file */
} answer;

static void answer_text(answer *ans, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void answer_text(answer *ans, unsigned status, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n > sizeof buf - 2)
        n = (int)sizeof buf - 2;
    buf[n] = '\n';
    buf[n + 1] = '\0';
    ans->status = status;
    ans->type = "text/plain; charset=utf-8";
    ans->body = strdup(buf);
    ans->len = ans->body != NULL ? strlen(ans->body) : 0;
}

/* What /data and / show, gathered once per request. */
typedef struct facts {
    demo_db_stats db;
    demo_files_stats files;
    ferry_rc db_rc, files_rc;
    char db_msg[512], files_msg[512];
} facts;

static void facts_get(demo_app *app, facts *f)
{
    ferry_err err = {0};
    memset(f, 0, sizeof *f);
    f->db_rc = demo_db_stats_get(app->db, &f->db, &err);
    note_db(app, f->db_rc, &err);
    if (f->db_rc != FERRY_OK)
        (void)snprintf(f->db_msg, sizeof f->db_msg, "%s", err.msg);
    else if (!f->db.has_table)
        (void)snprintf(f->db_msg, sizeof f->db_msg,
                       "the database has no table %s (not created or not copied yet)",
                       DEMO_DB_TABLE);
    ferry_err_clear(&err);
    f->files_rc = demo_files_stats_get(app->files, &f->files, &err);
    note_files(app, f->files_rc, &err);
    if (f->files_rc != FERRY_OK)
        (void)snprintf(f->files_msg, sizeof f->files_msg, "%s", err.msg);
}

static bool facts_ok(const facts *f)
{
    return f->db_rc == FERRY_OK && f->db.has_table && f->files_rc == FERRY_OK;
}

static void route_health(demo_app *app, answer *ans)
{
    ferry_err err = {0};
    bool has_table = false;
    ferry_rc rc = demo_db_ping(app->db, &has_table, &err);
    note_db(app, rc, &err);
    if (rc != FERRY_OK)
        answer_text(ans, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable: %s", err.msg);
    else if (!has_table)
        answer_text(ans, MHD_HTTP_SERVICE_UNAVAILABLE,
                    "unavailable: the database has no table %s (not created or not copied yet)",
                    DEMO_DB_TABLE);
    else
        answer_text(ans, MHD_HTTP_OK, "ok");
}

static void route_data(demo_app *app, answer *ans)
{
    facts f;
    facts_get(app, &f);
    const demo_cfg *cfg = app->cfg;
    json_t *j = json_pack("{s:s, s:s}", "app", cfg->name, "generation", cfg->generation);
    if (j == NULL)
        goto nomem;
    if (f.db_rc == FERRY_OK && f.db.has_table) {
        (void)json_object_set_new(j, "rows", json_integer(f.db.rows));
        (void)json_object_set_new(j, "checksum", json_string(f.db.checksum));
    }
    if (f.db_rc == FERRY_OK)
        (void)json_object_set_new(j, "copy_state",
                                  f.db.copy_state[0] != '\0' ? json_string(f.db.copy_state)
                                                             : json_null());
    if (f.files_rc == FERRY_OK) {
        (void)json_object_set_new(j, "files", json_integer(f.files.count));
        (void)json_object_set_new(j, "files_bytes", json_integer((json_int_t)f.files.bytes));
        (void)json_object_set_new(j, "files_checksum", json_string(f.files.checksum));
    }
    if (!facts_ok(&f)) {
        char msg[1100];
        (void)snprintf(msg, sizeof msg, "%s%s%s", f.db_msg,
                       f.db_msg[0] != '\0' && f.files_msg[0] != '\0' ? "; " : "", f.files_msg);
        (void)json_object_set_new(j, "error", json_string(msg));
    }
    ans->body = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (ans->body == NULL)
        goto nomem;
    ans->len = strlen(ans->body);
    ans->status = facts_ok(&f) ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE;
    ans->type = "application/json";
    return;
nomem:
    answer_text(ans, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
}

/* Writes text to out with <, >, &, " escaped. */
static void html_put(FILE *out, const char *text)
{
    for (const char *p = text; *p != '\0'; p++) {
        switch (*p) {
        case '<':
            (void)fputs("&lt;", out);
            break;
        case '>':
            (void)fputs("&gt;", out);
            break;
        case '&':
            (void)fputs("&amp;", out);
            break;
        case '"':
            (void)fputs("&quot;", out);
            break;
        default:
            (void)fputc(*p, out);
        }
    }
}

static void route_page(demo_app *app, answer *ans)
{
    facts f;
    facts_get(app, &f);
    const demo_cfg *cfg = app->cfg;
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    if (out == NULL) {
        answer_text(ans, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    (void)fprintf(out,
                  "<!doctype html>\n<html><head><meta charset=\"utf-8\">"
                  "<title>%s (%s)</title></head>\n<body>\n<h1>%s</h1>\n"
                  "<p>generation: <b>%s</b></p>\n<ul>\n",
                  cfg->name, cfg->generation, cfg->name, cfg->generation);
    if (f.db_rc == FERRY_OK && f.db.has_table)
        (void)fprintf(out, "<li>rows: %lld</li>\n<li>checksum: %s</li>\n", (long long)f.db.rows,
                      f.db.checksum);
    else {
        (void)fputs("<li>database: ", out);
        html_put(out, f.db_msg);
        (void)fputs("</li>\n", out);
    }
    if (f.files_rc == FERRY_OK)
        (void)fprintf(out, "<li>files: %lld (%llu bytes)</li>\n", (long long)f.files.count,
                      (unsigned long long)f.files.bytes);
    else {
        (void)fputs("<li>files: ", out);
        html_put(out, f.files_msg);
        (void)fputs("</li>\n", out);
    }
    (void)fputs("<li>stored in: ", out);
    html_put(out, demo_files_where(app->files));
    (void)fputs("</li>\n</ul>\n</body></html>\n", out);
    if (fclose(out) != 0 || buf == NULL) {
        free(buf);
        answer_text(ans, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    ans->body = buf;
    ans->len = len;
    ans->status = facts_ok(&f) ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE;
    ans->type = "text/html; charset=utf-8";
}

static const char *content_type(const char *path)
{
    static const struct {
        const char *ext, *type;
    } types[] = {{".txt", "text/plain; charset=utf-8"},
                 {".json", "application/json"},
                 {".csv", "text/csv; charset=utf-8"},
                 {".html", "text/html; charset=utf-8"},
                 {".png", "image/png"},
                 {".pdf", "application/pdf"}};
    const char *dot = strrchr(path, '.');
    if (dot != NULL && strchr(dot, '/') == NULL)
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (strcmp(dot, types[i].ext) == 0)
                return types[i].type;
    return "application/octet-stream";
}

static void route_file(demo_app *app, const char *path, answer *ans)
{
    ferry_err err = {0};
    if (!demo_files_path_ok(path)) {
        answer_text(ans, MHD_HTTP_BAD_REQUEST,
                    "refused: a file path is relative, without '.', '..' or empty parts");
        return;
    }
    ferry_rc rc = demo_files_open(app->files, path, &ans->file, &err);
    if (rc == FERRY_ERR_NOT_FOUND) {
        answer_text(ans, MHD_HTTP_NOT_FOUND, "no such file");
        return;
    }
    if (rc == FERRY_ERR_NO_SPACE) {
        answer_text(ans, MHD_HTTP_CONTENT_TOO_LARGE, "%s", err.msg);
        return;
    }
    note_files(app, rc, &err);
    if (rc != FERRY_OK) {
        answer_text(ans, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable: %s", err.msg);
        return;
    }
    ans->status = MHD_HTTP_OK;
    ans->type = content_type(path);
}

static void route(demo_app *app, const char *method, const char *url, answer *ans)
{
    static const char files_prefix[] = "/files/";
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        answer_text(ans, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD");
        return;
    }
    if (strcmp(url, "/health") == 0)
        route_health(app, ans);
    else if (strcmp(url, "/") == 0)
        route_page(app, ans);
    else if (strcmp(url, "/data") == 0)
        route_data(app, ans);
    else if (strncmp(url, files_prefix, sizeof files_prefix - 1) == 0)
        route_file(app, url + sizeof files_prefix - 1, ans);
    else
        answer_text(ans, MHD_HTTP_NOT_FOUND, "not found: try /, /data, /health or /files/<path>");
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)con_cls;
    demo_app *app = cls;
    answer ans = {.file = {.fd = -1}};
    struct MHD_Response *resp = NULL;

    route(app, method, url, &ans);
    if (ans.file.fd >= 0) {
        /* Takes the descriptor: closed with the response. */
        resp = MHD_create_response_from_fd(ans.file.len, ans.file.fd);
        if (resp == NULL)
            (void)close(ans.file.fd);
    } else if (ans.file.data != NULL) {
        resp = MHD_create_response_from_buffer((size_t)ans.file.len, ans.file.data,
                                               MHD_RESPMEM_MUST_FREE);
        if (resp == NULL)
            free(ans.file.data);
    } else if (ans.body != NULL) {
        resp = MHD_create_response_from_buffer(ans.len, ans.body, MHD_RESPMEM_MUST_FREE);
        if (resp == NULL)
            free(ans.body);
    }
    if (resp == NULL)
        return MHD_NO;
    (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ans.type);
    (void)MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (ans.status == MHD_HTTP_METHOD_NOT_ALLOWED)
        (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result ret = MHD_queue_response(conn, ans.status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* ---- main --------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    bool check_only = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--check-config") == 0) {
            check_only = true;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            (void)fprintf(stderr, "ferry-demo-app: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return EXIT_CONFIG;
        }
    }

    demo_cfg cfg;
    int problems = cfg_load(&cfg);
    if (problems != 0) {
        (void)fprintf(stderr, "ferry-demo-app: %d problem%s in the settings\n", problems,
                      problems == 1 ? "" : "s");
        cfg_cleanup(&cfg);
        return EXIT_CONFIG;
    }
    char service[96];
    (void)snprintf(service, sizeof service, "ferry-demo-app %s-%s", cfg.name, cfg.generation);
    ferry_log_init("ferry-demo-app", FERRY_LOG_KV, cfg.log_level, 2);
    if (cfg.pg_password != NULL)
        ferry_log_add_secret(cfg.pg_password);
    if (cfg.s3_access_key != NULL)
        ferry_log_add_secret(cfg.s3_access_key);
    if (cfg.s3_secret_key != NULL)
        ferry_log_add_secret(cfg.s3_secret_key);

    int status = EXIT_FAILED;
    ferry_err err = {0};
    demo_app app = {.cfg = &cfg};
    struct MHD_Daemon *daemon = NULL;
    char appname[96];
    (void)snprintf(appname, sizeof appname, "ferry-demo-%s-%s", cfg.name, cfg.generation);
    demo_db_opts dbo = {
        .conninfo = cfg.pg_conninfo, .password = cfg.pg_password, .application_name = appname};
    demo_files_opts fo = {.dir = cfg.files_dir,
                          .s3_endpoint = cfg.s3_endpoint,
                          .s3_region = cfg.s3_region,
                          .s3_bucket = cfg.s3_bucket,
                          .s3_prefix = cfg.s3_prefix,
                          .s3_access_key = cfg.s3_access_key,
                          .s3_secret_key = cfg.s3_secret_key};
    if (demo_db_new(&dbo, &app.db, &err) != FERRY_OK ||
        demo_files_new(&fo, &app.files, &err) != FERRY_OK) {
        (void)fprintf(stderr, "ferry-demo-app: %s\n", err.msg);
        status = EXIT_CONFIG;
        goto out;
    }
    if (check_only) {
        cfg_print(&cfg, stdout);
        status = 0;
        goto out;
    }

    /* Signals go to sigwait() below: block them before libmicrohttpd starts its thread, which
     * inherits the mask. */
    sigset_t sigs;
    (void)sigemptyset(&sigs);
    (void)sigaddset(&sigs, SIGTERM);
    (void)sigaddset(&sigs, SIGINT);
    (void)sigaddset(&sigs, SIGHUP);
    (void)pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    (void)signal(SIGPIPE, SIG_IGN);

    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO;
    if (cfg.addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    daemon = MHD_start_daemon(flags, 0, NULL, NULL, handle, &app, MHD_OPTION_SOCK_ADDR,
                              (struct sockaddr *)&cfg.addr, MHD_OPTION_LISTENING_ADDRESS_REUSE,
                              (unsigned)1, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned)64, MHD_OPTION_END);
    if (daemon == NULL) {
        ferry_log(FERRY_LOG_ERROR, NULL, "cannot listen on %s (address in use or not local?)",
                  cfg.listen);
        goto out;
    }
    ferry_log(FERRY_LOG_INFO, NULL, "%s listening on %s; files in %s", service, cfg.listen,
              demo_files_where(app.files));

    int sig = 0;
    for (;;) {
        int r = sigwait(&sigs, &sig);
        if (r == 0 && sig != SIGHUP)
            break;
    }
    /* A second SIGTERM or SIGINT ends the process at once while the server stops. */
    (void)signal(SIGTERM, SIG_DFL);
    (void)signal(SIGINT, SIG_DFL);
    (void)pthread_sigmask(SIG_UNBLOCK, &sigs, NULL);
    ferry_log(FERRY_LOG_INFO, NULL, "%s stopping (%s)", service,
              sig == SIGTERM ? "SIGTERM" : "SIGINT");
    MHD_stop_daemon(daemon);
    daemon = NULL;
    status = 0;
out:
    if (daemon != NULL)
        MHD_stop_daemon(daemon);
    demo_files_free(app.files);
    demo_db_free(app.db);
    cfg_cleanup(&cfg);
    return status;
}
