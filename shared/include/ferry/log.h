/*
 * log.h - Ferry's one logger: one line per event, key=value or JSON.
 *
 * Fixed keys come first (time, level, service, migration, step, attempt), then msg, then any
 * extra key/value pairs. Every message and value passes through ferry_redact(), so connection
 * strings, URLs with credentials and every value registered with ferry_log_add_secret() come out
 * as "***". Thread-safe: each line is written with a single write(2).
 */
#ifndef FERRY_LOG_H
#define FERRY_LOG_H

#include <stddef.h>

typedef enum ferry_log_level {
    FERRY_LOG_DEBUG = 0,
    FERRY_LOG_INFO = 1,
    FERRY_LOG_WARN = 2,
    FERRY_LOG_ERROR = 3,
} ferry_log_level;

typedef enum ferry_log_format {
    FERRY_LOG_KV = 0,
    FERRY_LOG_JSON = 1,
} ferry_log_format;

/* Which step a line is about; any field may be NULL/0. Borrowed for the call. */
typedef struct ferry_log_ctx {
    const char *migration;
    const char *step;
    unsigned attempt;
} ferry_log_ctx;

/* Sets the service name (copied), format, minimum level and output file descriptor
 * (default: "ferry", kv, info, 2). Call once at start, before threads. */
void ferry_log_init(const char *service, ferry_log_format format, ferry_log_level min_level,
                    int fd);

/* Parses "debug|info|warn|error" and "kv|json"; return -1 on unknown text. */
int ferry_log_level_parse(const char *text, ferry_log_level *out);
int ferry_log_format_parse(const char *text, ferry_log_format *out);

/* Registers a secret value (copied) that must never appear in a log line. Values shorter than
 * 4 characters are ignored (they would redact ordinary words). Thread-safe. */
void ferry_log_add_secret(const char *value);

/* Forgets every registered secret (tests). */
void ferry_log_clear_secrets(void);

/*
 * Logs one line. fmt builds the message; ctx may be NULL.
 * Extra fields: use ferry_log_kv() instead.
 */
void ferry_log(ferry_log_level level, const ferry_log_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Logs msg with extra fields given as NULL-terminated key, value pairs of strings. */
void ferry_log_kv(ferry_log_level level, const ferry_log_ctx *ctx, const char *msg, ...)
    __attribute__((sentinel));

/*
 * Copies in to out (size outsz, always NUL-terminated, truncated if needed) with secrets
 * replaced by "***": the password of any URL (scheme://user:PASSWORD@host), libpq keyword
 * values password=..., the values of query parameters and headers that carry credentials
 * (X-Amz-Signature, X-Amz-Credential, X-Amz-Security-Token, token, api_key, apikey, secret,
 * password, Authorization:, X-API-Key:), and every registered secret. Returns the length of out.
 */
size_t ferry_redact(const char *in, char *out, size_t outsz);

#endif
