/*
 * xmlrpc.h - a small XML-RPC client over ferry_http (POST text/xml, HTTP Basic auth).
 *
 * Calls take string, int and boolean parameters; a methodResponse is parsed (libxml2) into an
 * owned tree of values: nil, string, int, boolean, double, array, struct. A <fault> comes back
 * as FERRY_ERR_PROTOCOL with its faultCode and faultString in a ferry_xmlrpc_fault, so the
 * caller can decide by code (supervisord: BAD_NAME 10, ALREADY_STARTED 60, NOT_RUNNING 70).
 * A client is not thread-safe: use one per thread.
 */
#ifndef FERRY_XMLRPC_H
#define FERRY_XMLRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/error.h"

typedef enum ferry_xmlrpc_type {
    FERRY_XMLRPC_NIL = 0,
    FERRY_XMLRPC_STRING = 1, /* also dateTime.iso8601 and base64, kept as the text sent */
    FERRY_XMLRPC_INT = 2,    /* int, i4, i8 */
    FERRY_XMLRPC_BOOL = 3,
    FERRY_XMLRPC_DOUBLE = 4,
    FERRY_XMLRPC_ARRAY = 5,
    FERRY_XMLRPC_STRUCT = 6,
} ferry_xmlrpc_type;

/* One value of a response; a tree owned by its root. */
typedef struct ferry_xmlrpc_value ferry_xmlrpc_value;

/* One call parameter. Build with the macros below; strings are borrowed for the call. */
typedef struct ferry_xmlrpc_param {
    ferry_xmlrpc_type type; /* STRING, INT or BOOL */
    const char *s;
    int64_t i;
    bool b;
} ferry_xmlrpc_param;

#define FERRY_XMLRPC_P_STR(v)  ((ferry_xmlrpc_param){.type = FERRY_XMLRPC_STRING, .s = (v)})
#define FERRY_XMLRPC_P_INT(v)  ((ferry_xmlrpc_param){.type = FERRY_XMLRPC_INT, .i = (v)})
#define FERRY_XMLRPC_P_BOOL(v) ((ferry_xmlrpc_param){.type = FERRY_XMLRPC_BOOL, .b = (v)})

/* The server's <fault>: faultCode and faultString (cut to fit). */
typedef struct ferry_xmlrpc_fault {
    int64_t code; /* 0 when the response was not a fault */
    char string[256];
} ferry_xmlrpc_fault;

typedef struct ferry_xmlrpc_opts {
    const char *url;      /* "http://127.0.0.1:19001/RPC2"; copied */
    const char *user;     /* HTTP Basic user, NULL for no auth; copied */
    const char *password; /* copied, wiped on free, never put in a message */
    long timeout_ms;      /* per call; 0: 30000 */
} ferry_xmlrpc_opts;

typedef struct ferry_xmlrpc ferry_xmlrpc;

/* Caller frees with ferry_xmlrpc_free(). Returns NULL when out of memory or opts->url is NULL. */
ferry_xmlrpc *ferry_xmlrpc_new(const ferry_xmlrpc_opts *opts);
void ferry_xmlrpc_free(ferry_xmlrpc *x);

/*
 * Calls method with params (nparams of them; params may be NULL when 0). On success *result is
 * the returned value; caller frees it with ferry_xmlrpc_value_free(). On failure *result is NULL:
 *   PROTOCOL   the server answered with a <fault>: its code and text are in *fault (may be NULL)
 *   AUTH       HTTP 401; other HTTP statuses as ferry_http_status_rc() maps them
 *   DECODE     the body is not a well-formed methodResponse
 *   INVALID    a string parameter that XML cannot carry (control characters, bad UTF-8)
 *   UNAVAILABLE, TIMEOUT, NOMEM from the transport
 * fault->code is 0 unless a fault arrived. Messages never hold the password.
 */
ferry_rc ferry_xmlrpc_call(ferry_xmlrpc *x, const char *method, const ferry_xmlrpc_param *params,
                           size_t nparams, ferry_xmlrpc_value **result, ferry_xmlrpc_fault *fault,
                           ferry_err *err);

/*
 * The pieces of a call, public for tests and other transports.
 * ferry_xmlrpc_request_build: the methodCall document; caller frees *out with free().
 * ferry_xmlrpc_response_parse: a methodResponse body, with the results of ferry_xmlrpc_call().
 */
ferry_rc ferry_xmlrpc_request_build(const char *method, const ferry_xmlrpc_param *params,
                                    size_t nparams, char **out, size_t *out_len, ferry_err *err);
ferry_rc ferry_xmlrpc_response_parse(const char *body, size_t len, ferry_xmlrpc_value **result,
                                     ferry_xmlrpc_fault *fault, ferry_err *err);

/* Frees a value and everything under it (v may be NULL). Free only roots. */
void ferry_xmlrpc_value_free(ferry_xmlrpc_value *v);

/* Readers. All accept NULL and a value of the wrong type, and then return NULL / false / 0,
 * so lookups can be chained: ferry_xmlrpc_string(ferry_xmlrpc_member(info, "statename")).
 * Returned values and strings are borrowed from the tree until its root is freed. */
ferry_xmlrpc_type ferry_xmlrpc_type_of(const ferry_xmlrpc_value *v); /* NIL for NULL */
const char *ferry_xmlrpc_string(const ferry_xmlrpc_value *v);
bool ferry_xmlrpc_int(const ferry_xmlrpc_value *v, int64_t *out);
bool ferry_xmlrpc_bool(const ferry_xmlrpc_value *v, bool *out);
bool ferry_xmlrpc_double(const ferry_xmlrpc_value *v, double *out); /* also reads an int */
size_t ferry_xmlrpc_len(const ferry_xmlrpc_value *v);               /* array items, members */
const ferry_xmlrpc_value *ferry_xmlrpc_at(const ferry_xmlrpc_value *v, size_t i);
const char *ferry_xmlrpc_key_at(const ferry_xmlrpc_value *v, size_t i); /* struct member name */
const ferry_xmlrpc_value *ferry_xmlrpc_member(const ferry_xmlrpc_value *v, const char *name);

#endif
