/* error.c - result codes, their text, and the error details struct. */
#include "ferry/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *ferry_rc_str(ferry_rc rc)
{
    switch (rc) {
    case FERRY_OK:
        return "ok";
    case FERRY_ERR_INVALID:
        return "invalid";
    case FERRY_ERR_NOMEM:
        return "out of memory";
    case FERRY_ERR_CONFIG:
        return "configuration";
    case FERRY_ERR_IO:
        return "i/o error";
    case FERRY_ERR_TIMEOUT:
        return "timeout";
    case FERRY_ERR_UNAVAILABLE:
        return "unavailable";
    case FERRY_ERR_AUTH:
        return "authentication failed";
    case FERRY_ERR_PERMISSION:
        return "permission denied";
    case FERRY_ERR_NOT_FOUND:
        return "not found";
    case FERRY_ERR_CONFLICT:
        return "conflict";
    case FERRY_ERR_DECODE:
        return "undecodable";
    case FERRY_ERR_PROTOCOL:
        return "protocol error";
    case FERRY_ERR_CANCELLED:
        return "cancelled";
    case FERRY_ERR_LEASE_LOST:
        return "lease lost";
    case FERRY_ERR_NO_SPACE:
        return "no space";
    case FERRY_ERR_UNSUPPORTED:
        return "unsupported";
    case FERRY_ERR_INTERNAL:
        return "internal error";
    case FERRY_ERR_THROTTLED:
        return "throttled";
    case FERRY_ERR_SERVER:
        return "server error";
    case FERRY_ERR_BUSY:
        return "busy";
    }
    return "unknown error";
}

bool ferry_rc_retryable(ferry_rc rc)
{
    switch (rc) {
    case FERRY_ERR_TIMEOUT:
    case FERRY_ERR_UNAVAILABLE:
    case FERRY_ERR_LEASE_LOST:
    case FERRY_ERR_THROTTLED:
    case FERRY_ERR_SERVER:
    case FERRY_ERR_BUSY:
    case FERRY_ERR_IO:
    case FERRY_ERR_NOMEM:
        return true;
    case FERRY_OK:
    case FERRY_ERR_INVALID:
    case FERRY_ERR_CONFIG:
    case FERRY_ERR_AUTH:
    case FERRY_ERR_PERMISSION:
    case FERRY_ERR_NOT_FOUND:
    case FERRY_ERR_CONFLICT:
    case FERRY_ERR_DECODE:
    case FERRY_ERR_PROTOCOL:
    case FERRY_ERR_CANCELLED:
    case FERRY_ERR_NO_SPACE:
    case FERRY_ERR_UNSUPPORTED:
    case FERRY_ERR_INTERNAL:
        return false;
    }
    return false;
}

void ferry_err_clear(ferry_err *err)
{
    if (err == NULL)
        return;
    err->code = FERRY_OK;
    err->sys_errno = 0;
    err->msg[0] = '\0';
}

static void err_vset(ferry_err *err, ferry_rc code, int errnum, const char *fmt, va_list ap)
{
    err->code = code;
    err->sys_errno = errnum;
    int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    if (n < 0) {
        err->msg[0] = '\0';
        n = 0;
    }
    if (errnum != 0 && (size_t)n < sizeof(err->msg)) {
        char buf[128];
        const char *text = strerror_r(errnum, buf, sizeof(buf)) == 0 ? buf : "unknown errno";
        (void)snprintf(err->msg + n, sizeof(err->msg) - (size_t)n, ": %s", text);
    }
}

ferry_rc ferry_err_set(ferry_err *err, ferry_rc code, const char *fmt, ...)
{
    if (err == NULL)
        return code;
    va_list ap;
    va_start(ap, fmt);
    err_vset(err, code, 0, fmt, ap);
    va_end(ap);
    return code;
}

ferry_rc ferry_err_set_errno(ferry_err *err, ferry_rc code, int errnum, const char *fmt, ...)
{
    if (err == NULL)
        return code;
    va_list ap;
    va_start(ap, fmt);
    err_vset(err, code, errnum, fmt, ap);
    va_end(ap);
    return code;
}

ferry_rc ferry_err_prefix(ferry_err *err, const char *fmt, ...)
{
    if (err == NULL)
        return FERRY_ERR_INTERNAL;
    char prefix[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    if (n < 0)
        return err->code;
    /* Shift the old message right and put "prefix: " in front; the end may be cut off, which
     * is acceptable for a message meant for people. */
    size_t cap = sizeof(err->msg) - 1;
    size_t plen = (size_t)n + 2 < cap ? (size_t)n + 2 : cap;
    size_t olen = strlen(err->msg);
    if (olen > cap - plen)
        olen = cap - plen;
    memmove(err->msg + plen, err->msg, olen);
    err->msg[plen + olen] = '\0';
    memcpy(err->msg, prefix, plen >= 2 ? plen - 2 : plen);
    if (plen >= 2 && (size_t)n + 2 <= cap) {
        err->msg[plen - 2] = ':';
        err->msg[plen - 1] = ' ';
    }
    return err->code;
}
