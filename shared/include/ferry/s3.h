/*
 * s3.h - Ferry's S3 client: path-style requests (endpoint/bucket/key) signed with AWS SigV4.
 *
 * Requests go through ferry_http, which lets libcurl sign them. Debian bookworm ships libcurl
 * 7.88.1, whose signer trusts the caller for three things (docs/s3-sigv4.md): this module sends
 * x-amz-content-sha256 itself (the hex SHA-256 of an in-memory body, UNSIGNED-PAYLOAD for a
 * streamed one), builds the query string canonical (sorted, RFC 3986, "uploads="), and encodes
 * each key path segment with the AWS rules. Callers only pass plain bucket names and keys.
 *
 * A ferry_s3 client owns one ferry_http (one connection pool). It is not thread-safe: use one
 * client per thread. Errors: S3's XML error bodies are mapped to ferry_rc (NoSuchKey -> NOT_FOUND,
 * SignatureDoesNotMatch -> AUTH, SlowDown -> THROTTLED, ...); the message names the operation,
 * bucket and key, the S3 code and the HTTP status, never a credential.
 */
#ifndef FERRY_S3_H
#define FERRY_S3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/error.h"
#include "ferry/http.h"

typedef struct ferry_s3 ferry_s3;

/* Room for an ETag as the server sends it, quotes included ("<32 hex>-10000" and then some). */
#define FERRY_S3_ETAG_MAX 128
/* 64 hex digits and the NUL. */
#define FERRY_S3_SHA256_HEX 65
/* 32 hex digits and the NUL. */
#define FERRY_S3_MD5_HEX 33
/* S3's limit on a key, in bytes of UTF-8. */
#define FERRY_S3_KEY_MAX 1024

typedef struct ferry_s3_opts {
    const char *endpoint;   /* "http://127.0.0.1:18080" (a path prefix is allowed); copied */
    const char *region;     /* "us-east-1"; copied */
    const char *access_key; /* copied; never logged */
    const char *secret_key; /* copied, wiped on free; never logged, never in a message */
    long timeout_ms;        /* whole request; 0: none (large transfers: use progress_fn) */
    /* Sends of one synchronous request whose bodies are in memory when it meets a throttle, a
     * server error, a lost connection or a timeout, 200 ms apart doubling; 0 or 1: once.
     * Streamed transfers and requests started on a multi are sent once: their caller retries. */
    int attempts;
    long connect_timeout_ms; /* 0: 10 s */
    /* Called during every transfer; returning false aborts it with FERRY_ERR_CANCELLED
     * (a worker's stop flag). May be NULL. */
    ferry_http_progress_fn progress_fn;
    void *progress_ud; /* borrowed until ferry_s3_free() */
} ferry_s3_opts;

/* Creates a client; every string of opts is copied. On success *out is set; caller frees with
 * ferry_s3_free(). Returns INVALID for a missing or malformed option, NOMEM. */
ferry_rc ferry_s3_new(const ferry_s3_opts *opts, ferry_s3 **out, ferry_err *err);
/* Frees the client and wipes its copy of the secret. Accepts NULL. */
void ferry_s3_free(ferry_s3 *s3);

/* ---- Buckets ---------------------------------------------------------------------------- */

/* Creates a bucket; a bucket this account already owns is success. Outside us-east-1 the
 * request carries a LocationConstraint with the client's region. Bucket names follow S3's
 * rules (3-63 of a-z 0-9 . -); others are INVALID. */
ferry_rc ferry_s3_bucket_create(ferry_s3 *s3, const char *bucket, ferry_err *err);

/* Deletes an empty bucket. A bucket that still holds objects gives CONFLICT (BucketNotEmpty). */
ferry_rc ferry_s3_bucket_delete(ferry_s3 *s3, const char *bucket, ferry_err *err);

/* ---- Objects ---------------------------------------------------------------------------- */

/*
 * What HEAD and ListObjectsV2 say about an object. etag is the server's text, quotes included
 * ("\"<md5 hex>\"" for a single PUT, "\"<hex>-<parts>\"" after a multipart upload).
 */
typedef struct ferry_s3_object {
    char *key; /* owned by the ferry_s3_list; NULL from ferry_s3_object_head */
    uint64_t size;
    char etag[FERRY_S3_ETAG_MAX];
    int64_t last_modified; /* seconds since the epoch (UTC); -1 when absent */
} ferry_s3_object;

/* Uploads len bytes from memory (borrowed for the call), signed with their SHA-256. etag_out
 * (may be NULL) receives the new object's ETag. */
ferry_rc ferry_s3_object_put(ferry_s3 *s3, const char *bucket, const char *key, const void *data,
                             size_t len, char etag_out[FERRY_S3_ETAG_MAX], ferry_err *err);

/* Uploads exactly len bytes produced by read_fn (which must deliver all of them), sent as
 * UNSIGNED-PAYLOAD. read_fn returning SIZE_MAX aborts with CANCELLED. */
ferry_rc ferry_s3_object_put_stream(ferry_s3 *s3, const char *bucket, const char *key,
                                    ferry_http_read_fn read_fn, void *read_ud, uint64_t len,
                                    char etag_out[FERRY_S3_ETAG_MAX], ferry_err *err);

/* Downloads an object into memory. On success *data is the body plus a NUL (never NULL, even
 * when empty) and *len its length; caller frees *data with free(). */
ferry_rc ferry_s3_object_get(ferry_s3 *s3, const char *bucket, const char *key, void **data,
                             size_t *len, ferry_err *err);

/*
 * Downloads an object into write_fn (returning false aborts with CANCELLED). The first 4 KiB
 * are held back until the status is known, so an error reply (NoSuchKey, ...) never reaches
 * write_fn. After any failure, what write_fn received is incomplete: discard it.
 */
ferry_rc ferry_s3_object_get_stream(ferry_s3 *s3, const char *bucket, const char *key,
                                    ferry_http_write_fn write_fn, void *write_ud, ferry_err *err);

/* Fills *info (key set to NULL) from a HEAD request. NOT_FOUND when the object (or bucket) is
 * absent. A HEAD reply has no body, so other failures are mapped from the HTTP status alone
 * (a wrong secret gives 403 PERMISSION here, not AUTH). */
ferry_rc ferry_s3_object_head(ferry_s3 *s3, const char *bucket, const char *key,
                              ferry_s3_object *info, ferry_err *err);

/* Deletes an object. Deleting a key that does not exist is success (S3 answers 204). */
ferry_rc ferry_s3_object_delete(ferry_s3 *s3, const char *bucket, const char *key, ferry_err *err);

/* ---- Listing (ListObjectsV2) ------------------------------------------------------------ */

typedef struct ferry_s3_list_opts {
    const char *prefix;             /* NULL: every key */
    int max_keys;                   /* 1..1000; 0: the server's default (1000) */
    const char *continuation_token; /* from the previous page's next_token; NULL: first page */
} ferry_s3_list_opts;

/* One page of keys, in the server's (UTF-8 binary) order. Release with ferry_s3_list_cleanup(). */
typedef struct ferry_s3_list {
    ferry_s3_object *objects;
    size_t count;
    char *next_token; /* owned; NULL when this is the last page */
} ferry_s3_list;

/* Lists one page; opts may be NULL. *out is filled on success and zeroed on failure. Keys that
 * hold characters XML 1.0 cannot carry (control characters) are not supported. */
ferry_rc ferry_s3_object_list(ferry_s3 *s3, const char *bucket, const ferry_s3_list_opts *opts,
                              ferry_s3_list *out, ferry_err *err);

/* Frees what a list holds and zeroes it. Accepts NULL and a zeroed list. */
void ferry_s3_list_cleanup(ferry_s3_list *list);

/* ---- Multipart upload ------------------------------------------------------------------- */

/* A part of a multipart upload, as CompleteMultipartUpload wants it. Borrowed for the call. */
typedef struct ferry_s3_part {
    int number;       /* 1..10000, ascending in the list */
    const char *etag; /* as returned by the part upload, quotes included */
} ferry_s3_part;

/* Starts a multipart upload. *upload_id is owned by the caller: free it with free(). */
ferry_rc ferry_s3_multipart_create(ferry_s3 *s3, const char *bucket, const char *key,
                                   char **upload_id, ferry_err *err);

/* Uploads part `number` (1..10000) from memory, signed with its SHA-256. Every part but the
 * last must be at least 5 MiB. etag_out receives the part's ETag (needed to complete). */
ferry_rc ferry_s3_multipart_upload_part(ferry_s3 *s3, const char *bucket, const char *key,
                                        const char *upload_id, int number, const void *data,
                                        size_t len, char etag_out[FERRY_S3_ETAG_MAX],
                                        ferry_err *err);

/* Like ferry_s3_multipart_upload_part(), with exactly len bytes from read_fn, UNSIGNED-PAYLOAD. */
ferry_rc ferry_s3_multipart_upload_part_stream(ferry_s3 *s3, const char *bucket, const char *key,
                                               const char *upload_id, int number,
                                               ferry_http_read_fn read_fn, void *read_ud,
                                               uint64_t len, char etag_out[FERRY_S3_ETAG_MAX],
                                               ferry_err *err);

/* Completes an upload with its parts in ascending order. etag_out (may be NULL) receives the
 * object's ETag. An error S3 reports inside a 200 reply is returned as an error. */
ferry_rc ferry_s3_multipart_complete(ferry_s3 *s3, const char *bucket, const char *key,
                                     const char *upload_id, const ferry_s3_part *parts,
                                     size_t nparts, char etag_out[FERRY_S3_ETAG_MAX],
                                     ferry_err *err);

/* Aborts an upload and discards its parts. NOT_FOUND (NoSuchUpload) when it is already gone. */
ferry_rc ferry_s3_multipart_abort(ferry_s3 *s3, const char *bucket, const char *key,
                                  const char *upload_id, ferry_err *err);

/* ---- Requests on a ferry_http_multi (many at once, one thread) ------------------------- */

/* A query parameter. value NULL means a valueless parameter, written "name=". */
typedef struct ferry_s3_param {
    const char *name;
    const char *value;
} ferry_s3_param;

/*
 * One S3 request, described for ferry_s3_start() (the synchronous calls above use the same
 * description). Exactly one body source: body (signed with its SHA-256; may be NULL with
 * body_len 0) or read_fn (read_len bytes, sent as UNSIGNED-PAYLOAD).
 */
typedef struct ferry_s3_request {
    const char *op;     /* the S3 API name, for messages: "PutObject" */
    const char *method; /* "GET", "PUT", "POST", "HEAD", "DELETE" */
    const char *bucket;
    const char *key; /* NULL for a bucket request */
    const ferry_s3_param *params;
    size_t nparams;
    const void *body;
    size_t body_len;
    ferry_http_read_fn read_fn;
    void *read_ud;
    uint64_t read_len;
    bool xml_body;                /* adds Content-Type: application/xml */
    ferry_http_write_fn write_fn; /* a 2xx reply body goes here; NULL: kept in the reply */
    void *write_ud;
    const char *range; /* "bytes=0-1023" for a ranged GET; NULL: the whole object */
} ferry_s3_request;

/* Called once when a started request ends: rc is OK only for a 2xx reply; code is the S3
 * error code ("" when none); resp (status, headers such as ETag, body) and err are borrowed
 * for the call. */
typedef void (*ferry_s3_done_fn)(ferry_rc rc, const ferry_http_response *resp, const char *code,
                                 const ferry_err *err, void *ud);

/* Whether a request that failed so may pass when sent again: a throttle (SlowDown, 503), a
 * server error, a lost connection, a timeout. */
bool ferry_s3_transient(ferry_rc rc);

/* Starts r on m (signed like every request of this client); its done function runs from
 * ferry_http_multi_run(). r's strings are copied; its body, read_fn, write_fn and their ud stay
 * borrowed until done. The client's progress_fn applies to each request. */
ferry_rc ferry_s3_start(ferry_s3 *s3, ferry_http_multi *m, const ferry_s3_request *r,
                        ferry_s3_done_fn done, void *ud, ferry_err *err);

/* ---- Building blocks, public for tests and for callers that compare content ------------- */

/* Builds the canonical query string SigV4 signs: names and values RFC 3986-encoded (uppercase
 * hex, '/' encoded too), sorted by encoded name then value, joined with '&'. n == 0 gives "".
 * Caller frees *out with free(). */
ferry_rc ferry_s3_query_build(const ferry_s3_param *params, size_t n, char **out, ferry_err *err);

/* Encodes a key for the URL path: each byte outside A-Z a-z 0-9 - _ . ~ becomes %XX (uppercase),
 * '/' stays. Rejects (INVALID) an empty key, one over FERRY_S3_KEY_MAX bytes, and one with a
 * "." or ".." segment (libcurl would resolve it before sending). Caller frees *out with free(). */
ferry_rc ferry_s3_key_encode(const char *key, char **out, ferry_err *err);

/* Hex digests (lowercase) of len bytes. Return INTERNAL if libcrypto fails. MD5 is the ETag a
 * single PUT of these bytes gets on S3 and S3Proxy. */
ferry_rc ferry_s3_sha256_hex(const void *data, size_t len, char out[FERRY_S3_SHA256_HEX]);
ferry_rc ferry_s3_md5_hex(const void *data, size_t len, char out[FERRY_S3_MD5_HEX]);

/* Parses a ListObjectsV2 reply body into *out (release with ferry_s3_list_cleanup()). Returns
 * DECODE for a body that is not such a reply, PROTOCOL for a truncated page without a token. */
ferry_rc ferry_s3_list_parse(const char *xml, size_t len, ferry_s3_list *out, ferry_err *err);

/*
 * Reads an S3 error body (<Error><Code>..</Code><Message>..</Message></Error>) into code and
 * msg (each truncated to its size, "" when absent) and returns the ferry_rc for it: the code's
 * meaning when it is known, else the meaning of the HTTP status.
 */
ferry_rc ferry_s3_error_parse(long status, const char *xml, size_t len, char *code, size_t code_sz,
                              char *msg, size_t msg_sz);

#endif
