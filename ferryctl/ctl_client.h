/*
 * ctl_client.h - ferryctl's client of the coordinator's HTTP API (docs/api.md), over
 * ferry/http.h: one request, its JSON answer, and the API's error shape.
 *
 * The bearer token is kept in this handle only, sent in the Authorization header, and wiped
 * when the handle is freed; it never appears in an error message.
 */
#ifndef FERRY_CTL_CLIENT_H
#define FERRY_CTL_CLIENT_H

#include <jansson.h>
#include <signal.h>
#include <stddef.h>

#include "ferry/error.h"

typedef struct ctl_client ctl_client;

/* An answer. body is the parsed JSON (NULL when the body was empty or not JSON); caller
 * releases it with ctl_reply_cleanup(). */
typedef struct ctl_reply {
    long status; /* the HTTP status */
    json_t *body;
} ctl_reply;

/*
 * A client of the API at url ("http://127.0.0.1:18700", a trailing '/' is ignored), using
 * token (may be NULL: requests then go without Authorization and get 401 but on /v1/health).
 * Both are copied. Caller frees with ctl_client_free(). Returns NULL (err set) on failure.
 */
ctl_client *ctl_client_new(const char *url, const char *token, ferry_err *err);

void ctl_client_free(ctl_client *client);

/* While *stop is non-zero, requests abort promptly with FERRY_ERR_CANCELLED (a signal handler
 * sets it). stop is borrowed until the client is freed; NULL turns this off. */
void ctl_client_set_stop(ctl_client *client, const volatile sig_atomic_t *stop);

/*
 * Performs one request: method, a path starting with "/v1/" (segments already encoded, see
 * ctl_path()), and an optional JSON text body (NULL: none; a POST without body sends "{}").
 * Returns FERRY_OK when the coordinator answered, whatever the status (reply->status says), and
 * FERRY_ERR_DECODE when a 2xx answer is not JSON. A transport failure returns its code
 * (FERRY_ERR_UNAVAILABLE, FERRY_ERR_TIMEOUT, FERRY_ERR_CANCELLED, ...) with reply->status 0.
 * Release reply with ctl_reply_cleanup() in every case.
 */
ferry_rc ctl_client_call(ctl_client *client, const char *method, const char *path, const char *body,
                         ctl_reply *reply, ferry_err *err);

/* Like ctl_client_call() with a JSON object body (borrowed; NULL: none). */
ferry_rc ctl_client_call_json(ctl_client *client, const char *method, const char *path,
                              const json_t *body, ctl_reply *reply, ferry_err *err);

void ctl_reply_cleanup(ctl_reply *reply);

/* The error message of an error answer ({"error": {"message": ...}}), borrowed from reply;
 * NULL when there is none. */
const char *ctl_reply_message(const ctl_reply *reply);

/* The "problems" array of an invalid-spec answer, borrowed from reply; NULL when none. */
const json_t *ctl_reply_problems(const ctl_reply *reply);

/*
 * Builds prefix + the percent-encoded segment + suffix into out ("/v1/apps/", "shop",
 * "/migrate"). suffix may be NULL. Returns FERRY_ERR_INVALID when out is too small.
 */
ferry_rc ctl_path(char *out, size_t outsz, const char *prefix, const char *segment,
                  const char *suffix, ferry_err *err);

#endif
