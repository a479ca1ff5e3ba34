/*
 * http.h - Ferry's HTTP client (libcurl). The only module that includes curl/curl.h.
 *
 * A ferry_http handle keeps one connection pool alive across requests; it is not thread-safe:
 * use one handle per thread. Request bodies come from memory or from a read callback; response
 * bodies go to memory or to a write callback. Authentication: HTTP Basic, or AWS SigV4 signed by
 * libcurl (see s3.h for the bookworm-libcurl rules a signed request must follow).
 */
#ifndef FERRY_HTTP_H
#define FERRY_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/error.h"

typedef struct ferry_http ferry_http;

/* Returns bytes written into buf (at most len); 0 ends the body; SIZE_MAX aborts the request. */
typedef size_t (*ferry_http_read_fn)(void *buf, size_t len, void *ud);
/* Consumes len bytes of response body; returns false to abort the request. */
typedef bool (*ferry_http_write_fn)(const void *data, size_t len, void *ud);
/* Called now and then during a transfer; returns false to abort (FERRY_ERR_CANCELLED). */
typedef bool (*ferry_http_progress_fn)(uint64_t down_done, uint64_t up_done, void *ud);

typedef enum ferry_http_auth {
    FERRY_HTTP_AUTH_NONE = 0,
    FERRY_HTTP_AUTH_BASIC = 1, /* user, password */
    FERRY_HTTP_AUTH_SIGV4 = 2, /* user = access key, password = secret key, sigv4 = provider */
} ferry_http_auth;

typedef struct ferry_http_request {
    const char *method;         /* "GET", "PUT", "POST", "HEAD", "DELETE", "PATCH" */
    const char *url;            /* sent verbatim: encode it first */
    const char *const *headers; /* NULL-terminated "Name: value" lines, or NULL */
    const void *body;           /* in-memory body (may be NULL with body_len 0) ... */
    size_t body_len;
    ferry_http_read_fn read_fn; /* ... or a streamed body of upload_len bytes */
    void *read_ud;
    uint64_t upload_len;
    ferry_http_write_fn write_fn; /* stream a 2xx response body; NULL keeps it in memory.
                                     A non-2xx body is always kept in memory (resp->body). */
    void *write_ud;
    ferry_http_progress_fn progress_fn;
    void *progress_ud;
    ferry_http_auth auth;
    const char *user;        /* borrowed; never logged */
    const char *password;    /* borrowed; never logged */
    const char *sigv4;       /* "aws:amz:<region>:s3" for FERRY_HTTP_AUTH_SIGV4 */
    long timeout_ms;         /* whole request; 0: none */
    long connect_timeout_ms; /* 0: 10 s */
    size_t max_body;         /* most response body bytes kept in memory (resp->body); 0:
                                FERRY_HTTP_BODY_MAX. A longer one ends the request with
                                FERRY_ERR_PROTOCOL. A streamed 2xx body (write_fn) is not
                                limited here: its callback decides. */
} ferry_http_request;

/* Default cap of a response body kept in memory, and of a response's header block. */
#define FERRY_HTTP_BODY_MAX    (16u * 1024u * 1024u)
#define FERRY_HTTP_HEADERS_MAX (256u * 1024u)

typedef struct ferry_http_response {
    long status; /* HTTP status, 0 when no response arrived */
    char *body;  /* NUL-terminated copy of the body when no write_fn */
    size_t body_len;
    char *headers; /* raw response header block, NUL-terminated */
    size_t headers_len;
} ferry_http_response;

/* Caller frees with ferry_http_free(). Returns NULL when out of memory. */
ferry_http *ferry_http_new(void);
void ferry_http_free(ferry_http *http);

/*
 * Performs one request. Transport failures return an error (UNAVAILABLE for no connection,
 * TIMEOUT, CANCELLED when a callback stopped it, ...), with the URL redacted in err. Any HTTP
 * status is success at this level: check resp->status (ferry_http_status_rc() maps it).
 * resp is filled even on failure; release it with ferry_http_response_cleanup().
 */
ferry_rc ferry_http_perform(ferry_http *http, const ferry_http_request *req,
                            ferry_http_response *resp, ferry_err *err);

void ferry_http_response_cleanup(ferry_http_response *resp);

/*
 * Many requests at once on one thread (libcurl multi): add requests, then call
 * ferry_http_multi_run() in a loop; each request's done function is called exactly once, from
 * ferry_http_multi_run(), when it ends. Connections are reused across requests. Not
 * thread-safe: one ferry_http_multi per thread.
 */
typedef struct ferry_http_multi ferry_http_multi;

/* rc and err as ferry_http_perform() would give them; resp (body, headers, status) is borrowed
 * for the call. The done function may add new requests. */
typedef void (*ferry_http_done_fn)(ferry_rc rc, const ferry_http_response *resp,
                                   const ferry_err *err, void *ud);

/* Caller frees with ferry_http_multi_free(). Returns NULL when out of memory. */
ferry_http_multi *ferry_http_multi_new(void);
/* Frees the multi handle. Requests still in flight are dropped: their done functions run
 * first, with FERRY_ERR_CANCELLED (they must not add requests then). Accepts NULL. */
void ferry_http_multi_free(ferry_http_multi *m);

/* Starts req. req's strings and headers are copied; its body (memory or read_fn), write_fn,
 * progress_fn and their ud stay borrowed until done is called. */
ferry_rc ferry_http_multi_add(ferry_http_multi *m, const ferry_http_request *req,
                              ferry_http_done_fn done, void *ud, ferry_err *err);

/* Requests added and not yet ended. */
size_t ferry_http_multi_running(const ferry_http_multi *m);

/* Moves every transfer along, waiting up to timeout_ms for activity, and calls the done
 * function of each request that ended. Errors only for the multi handle itself. */
ferry_rc ferry_http_multi_run(ferry_http_multi *m, int timeout_ms, ferry_err *err);

/* Finds a response header (case-insensitive name). Copies its value, trimmed, into out;
 * returns false when absent. */
bool ferry_http_response_header(const ferry_http_response *resp, const char *name, char *out,
                                size_t outsz);

/* Maps an HTTP status to a result: 2xx OK, 401 AUTH, 403 PERMISSION, 404 NOT_FOUND,
 * 409/412 CONFLICT, 429 THROTTLED, 503 THROTTLED, other 5xx SERVER, other 4xx INVALID,
 * 0 UNAVAILABLE. */
ferry_rc ferry_http_status_rc(long status);

/* Percent-encodes text the AWS way (RFC 3986 unreserved kept, uppercase hex); '/' kept when
 * keep_slash. Returns the length written, or -1 if out is too small. */
int ferry_http_uri_encode(const char *text, bool keep_slash, char *out, size_t outsz);

#endif
