/*
 * dns.h - ferry-dns: lowers and restores the TTLs of an app's names, renames them at cutover
 * and rollback, and checks that the name server answers the new way (docs/dns.md).
 *
 * The name server's API is behind a driver (dns_driver, a small vtable); dns_pdns_new() makes
 * the PowerDNS Authoritative HTTP API one. The dns_* operations validate their input, call the
 * driver and, for a check, ask the server itself over DNS (ferry/dnsq.h).
 */
#ifndef FERRY_DNS_H
#define FERRY_DNS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry.pb-c.h"
#include "ferry/error.h"

#define DNS_DEFAULT_TTL         300
#define DNS_DEFAULT_CHECK_MS    10000 /* how long a check waits for the new answers */
#define DNS_TTL_COMMENT_ACCOUNT "ferry"
#define DNS_TTL_COMMENT_PREFIX  "ttl="

/* One rename: every record set at `from` moves to `to`. Names fully qualified, trailing dot.
 * Borrowed. */
typedef struct dns_rename {
    const char *from;
    const char *to;
} dns_rename;

/* One record set at a name, as the driver reports it (enabled records only). */
typedef struct dns_rrset {
    char type[16]; /* "A", "CNAME", ... */
    uint32_t ttl;
    size_t n;
    char **contents; /* n record contents as the API gives them ("192.0.2.1", "host.zone.") */
} dns_rrset;

/* The record sets at one name. Release with dns_rrsets_cleanup(). */
typedef struct dns_rrsets {
    size_t n;
    dns_rrset *v;
} dns_rrsets;

void dns_rrsets_cleanup(dns_rrsets *sets);
/* The record set of that type, or NULL. */
const dns_rrset *dns_rrsets_find(const dns_rrsets *sets, const char *type);

/* What an operation did: result name -> text (the step's r.<name> results). */
typedef struct dns_report {
    json_t *results; /* object of strings, owned */
} dns_report;

ferry_rc dns_report_init(dns_report *rep);
void dns_report_cleanup(dns_report *rep);
/* Sets one result (printf-style value); best effort (out of memory drops it). */
void dns_report_set(dns_report *rep, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The result's text, or NULL. */
const char *dns_report_get(const dns_report *rep, const char *name);

/* Stop and progress hooks (both may be NULL). */
typedef struct dns_hooks {
    bool (*stopping)(void *ud);
    void (*progress)(void *ud, uint64_t done, uint64_t total, const char *detail);
    void *ud;
} dns_hooks;

bool dns_hooks_stopping(const dns_hooks *hooks);
void dns_hooks_progress(const dns_hooks *hooks, uint64_t done, uint64_t total, const char *detail);

/* ---- the driver --------------------------------------------------------------------------- */

typedef struct dns_driver dns_driver;

/*
 * What a name server's API must do. Names and zone are validated before a call (fully
 * qualified, inside the zone). Every change of one call is applied atomically (all or none).
 * Errors: UNAVAILABLE/TIMEOUT (API unreachable), AUTH/PERMISSION (key refused), NOT_FOUND (no
 * such zone), INVALID (the API refused the data), SERVER (API failed), CONFLICT (rename: the
 * zone is neither before nor after the renames). Messages name zone and names, never the key.
 */
typedef struct dns_driver_vt {
    const char *name;
    /* Sets every record set at each name to ttl, remembering the TTL it had (kept by the name
     * server, so a restart loses nothing). A TTL already <= ttl is left; a remembered TTL is
     * never overwritten. Results: lowered, ttl_old.<name>. */
    ferry_rc (*lower_ttl)(dns_driver *drv, const char *zone, const char *const *names,
                          size_t n_names, uint32_t ttl, const dns_hooks *hooks, dns_report *rep,
                          ferry_err *err);
    /* Gives every record set at each name back its remembered TTL and forgets it. Idempotent.
     * Results: restored, ttl.<name>. */
    ferry_rc (*restore_ttl)(dns_driver *drv, const char *zone, const char *const *names,
                            size_t n_names, const dns_hooks *hooks, dns_report *rep,
                            ferry_err *err);
    /* Applies the renames (validated by dns_renames_validate) in one atomic change, per
     * dns_plan_make(). Results: renamed, already, changes. */
    ferry_rc (*rename)(dns_driver *drv, const char *zone, const dns_rename *renames,
                       size_t n_renames, const dns_hooks *hooks, dns_report *rep, ferry_err *err);
    /* The record sets at name, as the API has them. *out is cleared first; caller releases it
     * with dns_rrsets_cleanup() (also after a failure). */
    ferry_rc (*records)(dns_driver *drv, const char *zone, const char *name, dns_rrsets *out,
                        ferry_err *err);
    void (*free)(dns_driver *drv);
} dns_driver_vt;

struct dns_driver {
    const dns_driver_vt *vt;
};

/* Frees a driver (NULL is fine). */
void dns_driver_free(dns_driver *drv);

/* The PowerDNS Authoritative HTTP API (4.x). */
typedef struct dns_pdns_opts {
    const char *api_url; /* http://host:port, .../api/v1 or .../api/v1/servers/<id> */
    const char *api_key; /* X-API-Key; copied, wiped on free, never in a message */
    long timeout_ms;     /* per request; 0: 30 s */
} dns_pdns_opts;

/* Caller frees with dns_driver_free(). NULL with err set (INVALID url, NOMEM). */
dns_driver *dns_pdns_new(const dns_pdns_opts *opts, ferry_err *err);

/* ---- names and the rename plan ------------------------------------------------------------ */

/* A zone is a fully qualified name with the trailing dot; a name is one strictly inside it.
 * Letters, digits, '-', '_' and '*' in labels of 1..63; at most 253 in all. */
ferry_rc dns_zone_validate(const char *zone, ferry_err *err);
ferry_rc dns_name_validate(const char *zone, const char *name, ferry_err *err);
/* A valid zone and at least one name, each inside it. */
ferry_rc dns_names_validate(const char *zone, const char *const *names, size_t n, ferry_err *err);
/* Case-insensitive name equality, with or without the trailing dot. */
bool dns_name_eq(const char *a, const char *b);

/* Every from/to a valid name of the zone, no from equal to its to, no name the from of two
 * renames or the to of two, no cycle (a swap could not be told done from not done). */
ferry_rc dns_renames_validate(const char *zone, const dns_rename *renames, size_t n,
                              ferry_err *err);

/* Whether a name has records now (for dns_plan_make). */
typedef bool (*dns_present_fn)(const char *name, void *ud);

/* One name's end state: it gets the record sets `source` has now (NULL: it ends empty). */
typedef struct dns_move {
    const char *name;   /* borrowed from the renames */
    const char *source; /* borrowed; NULL: delete everything at name */
} dns_move;

typedef struct dns_plan {
    size_t n_moves;
    dns_move *moves; /* owned; free with dns_plan_cleanup() */
    size_t applied;  /* renames the moves carry out */
    size_t already;  /* renames already done (from free, to with records) */
} dns_plan;

/*
 * Plans the renames as one change. They form chains (shop-v4 -> shop -> shop-v3: each name's
 * records move one step along). A chain n0 -> ... -> nk is
 *   to do  when n0..n(k-1) have records and nk has none: n(j+1) gets nj's, n0 ends empty;
 *   done   when n0 has none and n1..nk have records: nothing to change;
 *   else   CONFLICT, naming the chain's names with and without records.
 * The renames must have passed dns_renames_validate(). On success release with
 * dns_plan_cleanup().
 */
ferry_rc dns_plan_make(const dns_rename *renames, size_t n, dns_present_fn present, void *ud,
                       dns_plan *plan, ferry_err *err);
void dns_plan_cleanup(dns_plan *plan);

/* ---- operations --------------------------------------------------------------------------- */

typedef struct dns_options {
    dns_driver *drv;      /* borrowed */
    const char *dns_addr; /* the authoritative server, "host:port" (check) */
    long check_ms;        /* how long a check retries; 0: DNS_DEFAULT_CHECK_MS */
    dns_hooks hooks;
} dns_options;

/* The operations of a DNS step. Each validates zone and names (INVALID), checks the hooks'
 * stop flag (CANCELLED), and calls the driver. ttl 0 means DNS_DEFAULT_TTL. */
ferry_rc dns_lower_ttl(const dns_options *opts, const char *zone, const char *const *names,
                       size_t n_names, uint32_t ttl, dns_report *rep, ferry_err *err);
ferry_rc dns_restore_ttl(const dns_options *opts, const char *zone, const char *const *names,
                         size_t n_names, dns_report *rep, ferry_err *err);
ferry_rc dns_rename_apply(const dns_options *opts, const char *zone, const dns_rename *renames,
                          size_t n, dns_report *rep, ferry_err *err);

/*
 * Checks that the server at opts->dns_addr answers the way the API says, for every rename: the
 * `to` name with the A, AAAA and CNAME records the API has there; a `from` that is no rename's
 * `to` with NXDOMAIN or no records. Asks again every 250 ms until opts->check_ms has passed.
 * Returns CONFLICT at once when the API itself shows a rename not applied, CONFLICT after the
 * wait when the server still answers otherwise (message: name, type, expected, answered; the
 * report's check_dns_mismatch is "1": a later try may see it), or the DNS transport error.
 */
ferry_rc dns_check(const dns_options *opts, const char *zone, const dns_rename *renames, size_t n,
                   dns_report *rep, ferry_err *err);
/* How many names dns_check() asks about: every to, and every from that is no rename's to. */
size_t dns_check_count(const dns_rename *renames, size_t n);

/* ---- a step: what the executor does ------------------------------------------------------- */

/* The worker's settings a step uses. Strings borrowed for the call. */
typedef struct dns_step_env {
    const char *api_url;  /* FERRY_PDNS_API_URL */
    const char *api_key;  /* FERRY_PDNS_API_KEY: for a zone whose step names no key; secret */
    const char *dns_addr; /* FERRY_PDNS_DNS_ADDR (check) */
    long check_ms;        /* how long a check retries, per zone; 0: DNS_DEFAULT_CHECK_MS */
    dns_hooks hooks;
} dns_step_env;

/*
 * Runs one DNS step (operation op, parameters p; both borrowed). Without p->zones: one zone,
 * p->zone with p->names / p->renames and p->api_key. With p->zones: each zone in turn, in their
 * order, each with its own key (FERRY_SECRET_<NAME>, or env->api_key when it names none); a
 * zone with nothing for op is skipped. Every zone's input and key are checked before any zone
 * is touched (INVALID, CONFIG); a failure in a later zone leaves the earlier ones done, and
 * every operation is idempotent, so running the whole step again converges. Errors name the
 * zone. Results go to rep: counters summed over the zones, lists joined, "zones" the zones
 * done (docs/dns.md).
 */
ferry_rc dns_step_run(const dns_step_env *env, Ferry__V1__Operation op,
                      const Ferry__V1__DnsParams *p, dns_report *rep, ferry_err *err);

#endif
