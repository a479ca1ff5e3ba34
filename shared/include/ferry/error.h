/*
 * error.h - Ferry's one result enum, and the error details that travel with it.
 *
 * Values are numbered and never renumbered: they appear in Redis, in step events and in
 * ferryctl's output. Add new codes at the end. ferry_rc_str() is a switch without default so
 * the compiler flags a code that has no text.
 */
#ifndef FERRY_ERROR_H
#define FERRY_ERROR_H

#include <stdbool.h>
#include <stddef.h>

typedef enum ferry_rc {
    FERRY_OK = 0,
    FERRY_ERR_INVALID = 1,      /* bad argument or input: fix the input, a retry won't help */
    FERRY_ERR_NOMEM = 2,        /* out of memory */
    FERRY_ERR_CONFIG = 3,       /* bad or missing configuration */
    FERRY_ERR_IO = 4,           /* local I/O error (file, socket) */
    FERRY_ERR_TIMEOUT = 5,      /* the other side did not answer in time */
    FERRY_ERR_UNAVAILABLE = 6,  /* service unreachable or connection lost */
    FERRY_ERR_AUTH = 7,         /* authentication failed (wrong password or key) */
    FERRY_ERR_PERMISSION = 8,   /* authenticated, but not allowed */
    FERRY_ERR_NOT_FOUND = 9,    /* the named thing does not exist */
    FERRY_ERR_CONFLICT = 10,    /* state is not what the change expects (stale attempt, ...) */
    FERRY_ERR_DECODE = 11,      /* a message or reply could not be decoded */
    FERRY_ERR_PROTOCOL = 12,    /* the other side answered something unexpected */
    FERRY_ERR_CANCELLED = 13,   /* stopped on request (interrupt, shutdown) */
    FERRY_ERR_LEASE_LOST = 14,  /* this worker no longer holds the step's lease */
    FERRY_ERR_NO_SPACE = 15,    /* disk or quota full */
    FERRY_ERR_UNSUPPORTED = 16, /* not supported by this version or platform */
    FERRY_ERR_INTERNAL = 17,    /* a bug in Ferry */
    FERRY_ERR_THROTTLED = 18,   /* the other side asks us to slow down */
    FERRY_ERR_SERVER = 19,      /* the other side failed (HTTP 5xx, server crash) */
    FERRY_ERR_BUSY = 20,        /* the resource is in use (app running, limit reached) */
} ferry_rc;

/* The highest code in use; tests walk 0..FERRY_RC_MAX. */
#define FERRY_RC_MAX FERRY_ERR_BUSY

/* A short stable text for a code ("unavailable"). Never NULL. */
const char *ferry_rc_str(ferry_rc rc);

/* True when trying the same thing again later can succeed without anyone changing anything. */
bool ferry_rc_retryable(ferry_rc rc);

/*
 * Error details, owned by the caller (usually on its stack). Library code fills it and
 * returns its code; it does not log. The message never holds a secret: build it from
 * redacted text only.
 */
typedef struct ferry_err {
    ferry_rc code;
    int sys_errno; /* errno at the failure, 0 when none */
    char msg[512];
} ferry_err;

/* Clears err (may be NULL). */
void ferry_err_clear(ferry_err *err);

/* Sets code and a printf-style message; returns code so callers can `return ferry_err_set(...)`.
 * err may be NULL. */
ferry_rc ferry_err_set(ferry_err *err, ferry_rc code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like ferry_err_set(), and records errno (whose text is appended to the message). */
ferry_rc ferry_err_set_errno(ferry_err *err, ferry_rc code, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Puts context in front of the message: "reading spec: <old message>". Keeps code. */
ferry_rc ferry_err_prefix(ferry_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
