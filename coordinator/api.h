/*
 * api.h - the coordinator's HTTP+JSON API (libmicrohttpd, jansson), as docs/api.md describes it.
 * Commands are checked against the migration's state (machine.h) and applied atomically
 * (migstore.h); the engine then carries them out. Reads render what Redis holds.
 *
 * The server runs one thread of its own (libmicrohttpd's internal polling thread) with its own
 * Redis connection, so requests are served one at a time.
 */
#ifndef FERRY_API_H
#define FERRY_API_H

#include <stdbool.h>
#include <stdint.h>

#include "ferry/bus.h"
#include "ferry/error.h"
#include "machine.h"

typedef struct api_cfg {
    const char *listen;         /* "127.0.0.1:18700" (IPv4 address and port) */
    const char *token;          /* the bootstrap admin's token (docs/console.md); borrowed */
    const char *users_file;     /* the users file, or NULL; read at start */
    int64_t session_idle_ms;    /* the page's sessions end after this long unused ... */
    int64_t session_max_ms;     /* ... or this long after login */
    bool cookie_secure;         /* the session cookie is Secure (behind HTTPS) */
    const char *instance;       /* actor of commands in history: "api@coordinator-host:pid" */
    const char *topic_prefix;   /* for dead-letter replays */
    const char *redis_url;      /* the API opens its own connection */
    const char *redis_password; /* may be NULL */
    int64_t worker_alive_ms;    /* a worker whose heartbeat is older is shown as not alive */
    int64_t default_pause_ms;   /* stored with each migration when its spec sets none */
    fm_policy policy;           /* the engine's: commands check the TTL wait, status shows the
                                   cutover's limit */
    int64_t max_connections;    /* connections at once, in total ... */
    int64_t max_per_client;     /* ... and from one client address */
    int64_t client_timeout_s;   /* an idle or slow connection is closed after this */
} api_cfg;

typedef struct api api;

/* Starts serving. producer is borrowed (dead-letter replays) and must outlive the server.
 * Caller stops and frees with api_stop(). */
ferry_rc api_start(const api_cfg *cfg, ferry_bus_producer *producer, api **out, ferry_err *err);

/* Stops serving (waits for the request in progress) and frees (NULL is fine). */
void api_stop(api *a);

/* The port actually bound (useful with port 0). */
int api_port(const api *a);

#endif
