/*
 * store.h - one connection to Redis (hiredis): commands, scripts, records and streams. The
 * only module that includes hiredis.h; it knows no key of Ferry's. What Ferry keeps in Redis,
 * and under which keys, is the state module's (ferry/state.h); docs/redis.md has the layout.
 *
 * A ferry_store is one connection; it is not thread-safe: use one per thread, and a separate
 * one for blocking stream reads. A connection that failed is dropped and reopened on the next
 * call (with AUTH, SELECT and the client name again). Calls that are safe to repeat are retried
 * once on a fresh connection when the connection is lost during the call; the others
 * (a command or script called with retry false, ferry_store_group_read) are not, because they
 * may have been applied: see each function. A connection the server closed while idle is
 * noticed before anything is sent, so that case never costs a call.
 *
 * Requires Redis 7.0 or later (the scripts declare themselves with "#!lua" so that Redis admits
 * or refuses them whole). No hiredis type appears here.
 */
#ifndef FERRY_STORE_H
#define FERRY_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/error.h"

typedef struct ferry_store ferry_store;

/* Longest migration id, entity, state, actor or event type, in bytes. */
#define FERRY_STORE_NAME_MAX 128

/* ------------------------------------------------------------------ connection */

/* A parsed redis://[user@]host[:port][/db] URL. */
typedef struct ferry_store_url {
    char host[256]; /* name, IPv4, or IPv6 without its brackets */
    int port;       /* default 6379 */
    int db;         /* default 0 */
    char user[128]; /* ACL user (Redis 6+), "" for the default user */
} ferry_store_url;

/*
 * Parses url into *out. Refuses a URL that holds a password (it comes separately), rediss://
 * (FERRY_ERR_UNSUPPORTED: no TLS in hiredis 0.14), a query or fragment, and bad ports or
 * database numbers (FERRY_ERR_INVALID). Messages quote the URL only in redacted form.
 */
ferry_rc ferry_store_url_parse(const char *url, ferry_store_url *out, ferry_err *err);

/*
 * Connects to url (see ferry_store_url_parse), sends AUTH when password is non-empty, SELECT
 * db, and loads the Lua scripts. timeout_ms (> 0) bounds the connect and every reply.
 * password is copied (kept for reconnects, wiped on close) and never appears in err.
 * Errors: FERRY_ERR_UNAVAILABLE (refused, unreachable, lost), FERRY_ERR_TIMEOUT,
 * FERRY_ERR_AUTH (wrong or missing password), FERRY_ERR_INVALID (bad URL).
 * On success the caller closes *out with ferry_store_close(); on failure *out is NULL.
 */
ferry_rc ferry_store_open(const char *url, const char *password, int timeout_ms, ferry_store **out,
                          ferry_err *err);

/* Closes the connection and frees store (NULL is fine). */
void ferry_store_close(ferry_store *store);

/* Names the connection (CLIENT SETNAME; shown by CLIENT LIST), now and after every reconnect.
 * name: 1..63 characters without spaces; copied. Retried. */
ferry_rc ferry_store_set_name(ferry_store *store, const char *name, ferry_err *err);

/* PING. Retried. */
ferry_rc ferry_store_ping(ferry_store *store, ferry_err *err);

/* Whether the server has AOF persistence on (INFO persistence: aof_enabled). Retried. */
ferry_rc ferry_store_aof_enabled(ferry_store *store, bool *enabled, ferry_err *err);

/* ------------------------------------------------------------------ records */

/* A name/value pair given by the caller; both borrowed for the call. */
typedef struct ferry_store_field {
    const char *name;
    const char *value;
} ferry_store_field;

/* One field; both strings owned by the record or entry that holds it. */
typedef struct ferry_store_pair {
    char *name;
    char *value; /* NUL-terminated; may hold NULs within value_len (a payload) */
    size_t value_len;
} ferry_store_pair;

/* A hash or a stream entry's fields, in the order Redis returned them. */
typedef struct ferry_store_record {
    size_t count;
    ferry_store_pair *pairs;
} ferry_store_record;

/*
 * Reads every field of the hash key (HGETALL). On success the caller frees *out with
 * ferry_store_record_free(). FERRY_ERR_NOT_FOUND (and *out NULL) when the key does not exist.
 * Retried.
 */
ferry_rc ferry_store_hgetall(ferry_store *store, const char *key, ferry_store_record **out,
                             ferry_err *err);

/* The value of field name, borrowed from rec; NULL when absent (or rec is NULL). */
const char *ferry_store_record_value(const ferry_store_record *rec, const char *name);

/* Frees a record from ferry_store_record_get() (NULL is fine). */
void ferry_store_record_free(ferry_store_record *rec);

/* ------------------------------------------------------------------ streams */

/* One stream entry. fields.count is 0 for a pending entry that was trimmed from the stream
 * since it was delivered: acknowledge it and move on. */
typedef struct ferry_store_entry {
    char *id;
    ferry_store_record fields;
} ferry_store_entry;

typedef struct ferry_store_entries {
    size_t count;
    ferry_store_entry *entries;
} ferry_store_entries;

/*
 * Creates consumer group `group` on `stream` (XGROUP CREATE ... MKSTREAM), starting at
 * start_id ("0": everything still in the stream; "$": only new entries; NULL means "0").
 * A group that already exists is success. Retried.
 */
ferry_rc ferry_store_group_create(ferry_store *store, const char *stream, const char *group,
                                  const char *start_id, ferry_err *err);

/*
 * Reads up to count (1..10000) entries as `consumer` of `group` (XREADGROUP). from_id NULL or
 * ">" reads entries never delivered to the group; "0" re-reads this consumer's delivered but
 * unacknowledged entries (do that first after a restart or an error). block_ms > 0 waits that
 * long for new entries; 0 does not wait. On success the caller frees *out with
 * ferry_store_entries_free(); (*out)->count is 0 when nothing came.
 *
 * Not retried after the connection is lost during the call: entries may have been delivered
 * (they then wait in this consumer's pending list: read "0" to get them). A missing group is
 * FERRY_ERR_NOT_FOUND.
 */
ferry_rc ferry_store_group_read(ferry_store *store, const char *stream, const char *group,
                                const char *consumer, const char *from_id, size_t count,
                                int block_ms, ferry_store_entries **out, ferry_err *err);

/*
 * Reads up to count (1..10000) entries of stream from id `from` to id `to` (XRANGE), or with
 * newest_first from `from` down to `to` (XREVRANGE; "+" and "-" are the ends). A stream that
 * does not exist has none. On success the caller frees *out. Retried.
 */
ferry_rc ferry_store_range(ferry_store *store, const char *stream, bool newest_first,
                           const char *from, const char *to, size_t count,
                           ferry_store_entries **out, ferry_err *err);

/* Frees entries from ferry_store_group_read() or ferry_store_range() (NULL is fine). */
void ferry_store_entries_free(ferry_store_entries *entries);

/* Acknowledges entry id in group (XACK). Acknowledging twice is harmless. Retried. */
ferry_rc ferry_store_ack(ferry_store *store, const char *stream, const char *group, const char *id,
                         ferry_err *err);

/* ------------------------------------------------------------------ any command */

/* A reply, copied out of hiredis into Ferry's own type. Status replies are strings; error
 * replies never come back as a reply (they are the call's error). */
typedef enum ferry_store_reply_type {
    FERRY_STORE_REPLY_NIL = 0,
    FERRY_STORE_REPLY_INT = 1,
    FERRY_STORE_REPLY_STR = 2,
    FERRY_STORE_REPLY_ARRAY = 3,
} ferry_store_reply_type;

typedef struct ferry_store_reply {
    ferry_store_reply_type type;
    long long integer;                   /* INT */
    char *str;                           /* STR: NUL-terminated (may hold NULs within len) */
    size_t len;                          /* STR */
    size_t count;                        /* ARRAY */
    struct ferry_store_reply **elements; /* ARRAY: count of them, none NULL */
} ferry_store_reply;

/* Frees a reply and everything in it (NULL is fine). */
void ferry_store_reply_free(ferry_store_reply *r);

/* Element i of an array reply, borrowed from r; NULL when r is not an array or too short. */
const ferry_store_reply *ferry_store_reply_at(const ferry_store_reply *r, size_t i);

/* The text of a string reply, borrowed from r; NULL when r is not a string. */
const char *ferry_store_reply_str(const ferry_store_reply *r);

/*
 * Sends one command: argv[0..argc) (lens NULL: each is NUL-terminated; else their lengths).
 * retry: the command is safe to repeat, so it is sent once more on a fresh connection when the
 * connection is lost during the call. An error reply is an error code (ferry_store_error_rc())
 * with Redis's text in err. On success *out (when out is not NULL) is the reply; caller frees it
 * with ferry_store_reply_free(). Everything passed in is borrowed for the call.
 */
ferry_rc ferry_store_command(ferry_store *store, bool retry, size_t argc, const char *const *argv,
                             const size_t *lens, ferry_store_reply **out, ferry_err *err);

/*
 * Runs the embedded script shared/lua/<name>.lua with EVALSHA (loading it again after a
 * NOSCRIPT reply, which means it did not run). Keys and args are NUL-terminated strings,
 * borrowed; at most 1024 keys and 4096 arguments (FERRY_ERR_INVALID beyond). retry as for
 * ferry_store_command(): pass true only for scripts that are safe to run twice. Reply
 * ownership as for ferry_store_command().
 */
ferry_rc ferry_store_script(ferry_store *store, const char *name, bool retry, size_t nkeys,
                            const char *const *keys, size_t nargs, const char *const *args,
                            ferry_store_reply **out, ferry_err *err);

/* ------------------------------------------------------------------ for tests */

/* Maps the text of a Redis error reply ("WRONGPASS ...", "NOSCRIPT ...") to a result code. */
ferry_rc ferry_store_error_rc(const char *reply_text);

#endif
