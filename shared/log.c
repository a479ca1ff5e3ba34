/* log.c - one line per event, key=value or JSON, with secrets redacted on the way out. */
#include "ferry/log.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define LOG_MSG_MAX    8192
#define MIN_SECRET_LEN 4

static struct {
    char service[64];
    ferry_log_format format;
    ferry_log_level min_level;
    int fd;
} log_cfg = {"ferry", FERRY_LOG_KV, FERRY_LOG_INFO, 2};

/* Registered secrets: guarded by secrets_lock, which ferry_redact() holds while it reads. */
static pthread_mutex_t secrets_lock = PTHREAD_MUTEX_INITIALIZER;
static char **secrets;
static size_t secrets_len;

void ferry_log_init(const char *service, ferry_log_format format, ferry_log_level min_level, int fd)
{
    (void)snprintf(log_cfg.service, sizeof(log_cfg.service), "%s", service ? service : "ferry");
    log_cfg.format = format;
    log_cfg.min_level = min_level;
    log_cfg.fd = fd;
}

int ferry_log_level_parse(const char *text, ferry_log_level *out)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (text != NULL && strcasecmp(text, names[i]) == 0) {
            *out = (ferry_log_level)i;
            return 0;
        }
    }
    return -1;
}

int ferry_log_format_parse(const char *text, ferry_log_format *out)
{
    if (text != NULL && strcasecmp(text, "kv") == 0) {
        *out = FERRY_LOG_KV;
        return 0;
    }
    if (text != NULL && strcasecmp(text, "json") == 0) {
        *out = FERRY_LOG_JSON;
        return 0;
    }
    return -1;
}

void ferry_log_add_secret(const char *value)
{
    if (value == NULL || strlen(value) < MIN_SECRET_LEN)
        return;
    char *copy = strdup(value);
    if (copy == NULL)
        return;
    pthread_mutex_lock(&secrets_lock);
    char **grown = realloc(secrets, (secrets_len + 1) * sizeof(*secrets));
    if (grown == NULL) {
        free(copy);
    } else {
        secrets = grown;
        secrets[secrets_len++] = copy;
    }
    pthread_mutex_unlock(&secrets_lock);
}

void ferry_log_clear_secrets(void)
{
    pthread_mutex_lock(&secrets_lock);
    for (size_t i = 0; i < secrets_len; i++)
        free(secrets[i]);
    free(secrets);
    secrets = NULL;
    secrets_len = 0;
    pthread_mutex_unlock(&secrets_lock);
}

/* ---- redaction ---------------------------------------------------------------------------- */

typedef struct outbuf {
    char *p;
    size_t cap; /* bytes available including the NUL */
    size_t len;
} outbuf;

static void out_putn(outbuf *o, const char *s, size_t n)
{
    for (size_t i = 0; i < n && o->len + 1 < o->cap; i++)
        o->p[o->len++] = s[i];
}

static void out_puts(outbuf *o, const char *s)
{
    out_putn(o, s, strlen(s));
}

/* Keys whose value is a credential. Header-style keys take the rest of the line. */
static const struct {
    const char *name;
    bool to_eol;
} sensitive_keys[] = {
    {"password", false},        {"passwd", false},           {"sslpassword", false},
    {"x-amz-signature", false}, {"x-amz-credential", false}, {"x-amz-security-token", false},
    {"secret_key", false},      {"secretkey", false},        {"secret", false},
    {"access_key", false},      {"api_key", false},          {"apikey", false},
    {"token", false},           {"authorization", true},     {"x-api-key", true},
};

static bool is_name_char(char c)
{
    return isalnum((unsigned char)c) || c == '-';
}

/* At in+i a sensitive key may start. Returns the number of input bytes consumed (0 if none). */
static size_t redact_key(const char *in, size_t i, outbuf *o)
{
    if (i > 0 && is_name_char(in[i - 1]) && in[i - 1] != '-')
        return 0; /* inside a longer word, except after '_' or '-' (FERRY_S3_SECRET_KEY=) */
    for (size_t k = 0; k < sizeof(sensitive_keys) / sizeof(sensitive_keys[0]); k++) {
        const char *name = sensitive_keys[k].name;
        size_t n = strlen(name);
        if (strncasecmp(in + i, name, n) != 0)
            continue;
        size_t j = i + n;
        if (is_name_char(in[j]) || in[j] == '_')
            continue; /* a longer key, such as password_file */
        if (in[j] == '"' || in[j] == '\'')
            j++;
        while (in[j] == ' ')
            j++;
        if (in[j] != '=' && in[j] != ':')
            continue;
        j++;
        while (in[j] == ' ')
            j++;
        out_putn(o, in + i, j - i);
        if (in[j] == '\'' || in[j] == '"') {
            char q = in[j++];
            out_putn(o, &q, 1);
            out_puts(o, "***");
            out_putn(o, &q, 1);
            while (in[j] != '\0' && in[j] != q) {
                if (in[j] == '\\' && in[j + 1] != '\0')
                    j++;
                j++;
            }
            if (in[j] == q)
                j++;
            return j - i;
        }
        out_puts(o, "***");
        if (sensitive_keys[k].to_eol) {
            while (in[j] != '\0' && in[j] != '\n' && in[j] != '"')
                j++;
            return j - i;
        }
        while (in[j] != '\0' && strchr(" \t\r\n&;,\"'}", in[j]) == NULL)
            j++;
        return j - i;
    }
    return 0;
}

/* At in+i stands "://". Emits the authority with any password masked; returns bytes consumed. */
static size_t redact_url_authority(const char *in, size_t i, outbuf *o)
{
    size_t start = i + 3, at = 0, colon = 0;
    for (size_t j = start; in[j] != '\0' && strchr("/?# \t\r\n\"'", in[j]) == NULL; j++) {
        if (in[j] == '@')
            at = j;
        else if (in[j] == ':' && colon == 0 && at == 0)
            colon = j;
    }
    out_puts(o, "://");
    if (at == 0 || colon == 0 || colon > at)
        return 3;
    out_putn(o, in + start, colon - start + 1);
    out_puts(o, "***");
    return at - i; /* continue at '@' */
}

size_t ferry_redact(const char *in, char *out, size_t outsz)
{
    if (out == NULL || outsz == 0)
        return 0;
    outbuf o = {out, outsz, 0};
    if (in == NULL) {
        out[0] = '\0';
        return 0;
    }
    pthread_mutex_lock(&secrets_lock);
    size_t i = 0;
    while (in[i] != '\0' && o.len + 1 < o.cap) {
        size_t used = 0;
        for (size_t s = 0; s < secrets_len && used == 0; s++) {
            size_t n = strlen(secrets[s]);
            if (strncmp(in + i, secrets[s], n) == 0) {
                out_puts(&o, "***");
                used = n;
            }
        }
        if (used == 0 && strncmp(in + i, "://", 3) == 0)
            used = redact_url_authority(in, i, &o);
        if (used == 0 && isalpha((unsigned char)in[i]))
            used = redact_key(in, i, &o);
        if (used == 0) {
            out_putn(&o, in + i, 1);
            used = 1;
        }
        i += used;
    }
    pthread_mutex_unlock(&secrets_lock);
    out[o.len] = '\0';
    return o.len;
}

/* ---- line formatting ---------------------------------------------------------------------- */

static const char *level_name(ferry_log_level level)
{
    switch (level) {
    case FERRY_LOG_DEBUG:
        return "debug";
    case FERRY_LOG_INFO:
        return "info";
    case FERRY_LOG_WARN:
        return "warn";
    case FERRY_LOG_ERROR:
        return "error";
    }
    return "info";
}

typedef struct line {
    char buf[LOG_MSG_MAX * 2];
    size_t len;
    bool first;
} line;

static void line_raw(line *l, const char *s)
{
    size_t n = strlen(s);
    if (n > sizeof(l->buf) - 2 - l->len)
        n = sizeof(l->buf) - 2 - l->len;
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void line_char(line *l, char c)
{
    if (l->len < sizeof(l->buf) - 2)
        l->buf[l->len++] = c;
}

/* Appends one field; value is redacted and escaped for the current format. */
static void line_field(line *l, const char *key, const char *value)
{
    static __thread char tl_red[LOG_MSG_MAX]; /* keeps the stack small in worker threads */
    (void)ferry_redact(value, tl_red, sizeof(tl_red));
    bool json = log_cfg.format == FERRY_LOG_JSON;
    if (!l->first)
        line_char(l, json ? ',' : ' ');
    l->first = false;
    if (json) {
        line_char(l, '"');
        line_raw(l, key);
        line_raw(l, "\":\"");
    } else {
        line_raw(l, key);
        line_char(l, '=');
    }
    bool quote = json || tl_red[0] == '\0' || strpbrk(tl_red, " =\"\t\n\r\\") != NULL;
    if (quote && !json)
        line_char(l, '"');
    for (const char *p = tl_red; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            line_char(l, '\\');
            line_char(l, (char)c);
        } else if (c == '\n') {
            line_raw(l, "\\n");
        } else if (c == '\r') {
            line_raw(l, "\\r");
        } else if (c == '\t') {
            line_raw(l, "\\t");
        } else if (c < 0x20) {
            char esc[8];
            (void)snprintf(esc, sizeof(esc), "\\u%04x", c);
            line_raw(l, esc);
        } else {
            line_char(l, (char)c);
        }
    }
    if (quote)
        line_char(l, '"');
}

static void log_emit(ferry_log_level level, const ferry_log_ctx *ctx, const char *msg, va_list *kv)
{
    static __thread line l;
    l.len = 0;
    l.first = true;
    if (log_cfg.format == FERRY_LOG_JSON)
        line_char(&l, '{');

    struct timespec ts;
    (void)clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    (void)gmtime_r(&ts.tv_sec, &tm);
    char when[64];
    (void)snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                   tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                   (int)(ts.tv_nsec / 1000000L));
    line_field(&l, "time", when);
    line_field(&l, "level", level_name(level));
    line_field(&l, "service", log_cfg.service);
    if (ctx != NULL && ctx->migration != NULL)
        line_field(&l, "migration", ctx->migration);
    if (ctx != NULL && ctx->step != NULL)
        line_field(&l, "step", ctx->step);
    if (ctx != NULL && ctx->attempt > 0) {
        char num[16];
        (void)snprintf(num, sizeof(num), "%u", ctx->attempt);
        line_field(&l, "attempt", num);
    }
    line_field(&l, "msg", msg);
    if (kv != NULL) {
        for (;;) {
            const char *key = va_arg(*kv, const char *);
            if (key == NULL)
                break;
            const char *value = va_arg(*kv, const char *);
            line_field(&l, key, value != NULL ? value : "");
        }
    }
    if (log_cfg.format == FERRY_LOG_JSON)
        line_char(&l, '}');
    l.buf[l.len++] = '\n';

    size_t off = 0;
    while (off < l.len) {
        ssize_t n = write(log_cfg.fd, l.buf + off, l.len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* nowhere left to report a logging failure */
        off += (size_t)n;
    }
}

void ferry_log(ferry_log_level level, const ferry_log_ctx *ctx, const char *fmt, ...)
{
    if (level < log_cfg.min_level)
        return;
    static __thread char msg[LOG_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0)
        (void)snprintf(msg, sizeof(msg), "(unformattable log message)");
    log_emit(level, ctx, msg, NULL);
}

void ferry_log_kv(ferry_log_level level, const ferry_log_ctx *ctx, const char *msg, ...)
{
    if (level < log_cfg.min_level)
        return;
    va_list ap;
    va_start(ap, msg);
    log_emit(level, ctx, msg, &ap);
    va_end(ap);
}
