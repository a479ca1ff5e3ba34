/*
 * step.c - one DNS step as the executor runs it: the zones of DnsParams in turn (or the one zone
 * at its top), each through a driver with its own key, their results merged into one report.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"
#include "ferry/buf.h"
#include "ferry/config.h"

/* One zone's share of the step, checked and ready to run. */
typedef struct step_zone {
    size_t index;             /* in DnsParams.zones (0 for the zone at the top) */
    const char *zone;         /* borrowed from the command */
    const char *const *names; /* borrowed from the command */
    size_t n_names;
    dns_rename *renames; /* owned array; from and to borrowed from the command */
    size_t n_renames;
    const char *secret; /* the key's secret name (borrowed), or NULL: the worker's key */
    uint64_t units;     /* what progress counts in this zone */
    dns_driver *drv;    /* owned */
} step_zone;

/* Progress of one zone, seen as progress of the whole step. */
typedef struct zone_hooks {
    const dns_hooks *outer;
    uint64_t before; /* units of the zones before this one */
    uint64_t total;  /* units of every zone */
    size_t at, n;    /* this zone's place (from 1) among the n run */
    const char *zone;
} zone_hooks;

static bool uses_names(Ferry__V1__Operation op)
{
    return op == FERRY__V1__OPERATION__OPERATION_DNS_LOWER_TTL ||
           op == FERRY__V1__OPERATION__OPERATION_DNS_RESTORE_TTL;
}

static bool uses_renames(Ferry__V1__Operation op)
{
    return op == FERRY__V1__OPERATION__OPERATION_DNS_RENAME ||
           op == FERRY__V1__OPERATION__OPERATION_DNS_CHECK;
}

/* Makes the message start with "zone <zone>" (the driver's and the check's already do). */
static ferry_rc name_the_zone(ferry_err *err, const char *zone)
{
    size_t len = strlen(zone);
    if (strncmp(err->msg, "zone ", 5) == 0 && strncmp(err->msg + 5, zone, len) == 0 &&
        (err->msg[5 + len] == ':' || err->msg[5 + len] == ' '))
        return err->code;
    return ferry_err_prefix(err, "zone %s", zone);
}

/* Fills z from one zone of the command (the arrays borrowed, the renames copied). */
static ferry_rc zone_fill(step_zone *z, Ferry__V1__Operation op, const char *zone, char **names,
                          size_t n_names, Ferry__V1__DnsRename **renames, size_t n_renames,
                          const Ferry__V1__SecretRef *key, ferry_err *err)
{
    z->zone = zone;
    z->names = (const char *const *)names;
    z->n_names = n_names;
    z->secret = key != NULL && key->name != NULL && key->name[0] != '\0' ? key->name : NULL;
    z->renames = calloc(n_renames + 1, sizeof(*z->renames));
    if (z->renames == NULL)
        return ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n_renames; i++) {
        if (renames[i] != NULL)
            z->renames[i] = (dns_rename){.from = renames[i]->from, .to = renames[i]->to};
    }
    z->n_renames = n_renames;
    if (uses_names(op))
        z->units = n_names;
    else if (op == FERRY__V1__OPERATION__OPERATION_DNS_CHECK)
        z->units = dns_check_count(z->renames, n_renames);
    else
        z->units = n_renames;
    return FERRY_OK;
}

/* The zones of a command with zones: those with something to do for op, every one checked
 * (zone, names or renames, no zone twice) before anything is touched. */
static ferry_rc zones_from_list(Ferry__V1__Operation op, const Ferry__V1__DnsParams *p,
                                step_zone *zones, size_t *n_zones, ferry_err *err)
{
    *n_zones = 0;
    for (size_t i = 0; i < p->n_zones; i++) {
        const Ferry__V1__DnsZone *dz = p->zones[i];
        if (dz == NULL)
            return ferry_err_set(err, FERRY_ERR_INVALID, "dns.zones[%zu]: missing", i);
        ferry_rc rc = dns_zone_validate(dz->zone, err);
        if (rc != FERRY_OK)
            return ferry_err_prefix(err, "dns.zones[%zu]", i);
        for (size_t j = 0; j < i; j++) {
            if (p->zones[j] != NULL && dns_name_eq(p->zones[j]->zone, dz->zone))
                return ferry_err_set(err, FERRY_ERR_INVALID,
                                     "dns.zones[%zu]: zone %s is also dns.zones[%zu]", i, dz->zone,
                                     j);
        }
        if (uses_names(op) ? dz->n_names == 0 : dz->n_renames == 0)
            continue; /* nothing to do in this zone */
        step_zone *z = &zones[(*n_zones)++];
        z->index = i;
        rc = zone_fill(z, op, dz->zone, dz->names, dz->n_names, dz->renames, dz->n_renames,
                       dz->api_key, err);
        if (rc == FERRY_OK)
            rc = uses_names(op) ? dns_names_validate(z->zone, z->names, z->n_names, err)
                                : dns_renames_validate(z->zone, z->renames, z->n_renames, err);
        if (rc != FERRY_OK)
            return name_the_zone(err, z->zone);
    }
    if (*n_zones == 0)
        return ferry_err_set(err, FERRY_ERR_INVALID, "dns.zones: no zone has %s for this step",
                             uses_names(op) ? "names" : "renames");
    return FERRY_OK;
}

/* The driver of one zone, with its own key or the worker's. */
static ferry_rc zone_driver(const dns_step_env *env, step_zone *z, ferry_err *err)
{
    char *key = NULL;
    const char *api_key = env->api_key;
    if (z->secret != NULL) {
        ferry_rc rc = ferry_secret_get(z->secret, &key, err);
        if (rc != FERRY_OK)
            return rc;
        api_key = key;
    }
    dns_pdns_opts po = {.api_url = env->api_url, .api_key = api_key};
    z->drv = dns_pdns_new(&po, err); /* copies the key */
    if (key != NULL) {
        explicit_bzero(key, strlen(key));
        free(key);
    }
    return z->drv != NULL ? FERRY_OK : err->code;
}

static ferry_rc zone_run(const dns_step_env *env, Ferry__V1__Operation op, uint32_t ttl,
                         const step_zone *z, const dns_hooks *hooks, dns_report *rep,
                         ferry_err *err)
{
    dns_options opts = {
        .drv = z->drv, .dns_addr = env->dns_addr, .check_ms = env->check_ms, .hooks = *hooks};
    switch (op) {
    case FERRY__V1__OPERATION__OPERATION_DNS_LOWER_TTL:
        return dns_lower_ttl(&opts, z->zone, z->names, z->n_names, ttl, rep, err);
    case FERRY__V1__OPERATION__OPERATION_DNS_RESTORE_TTL:
        return dns_restore_ttl(&opts, z->zone, z->names, z->n_names, rep, err);
    case FERRY__V1__OPERATION__OPERATION_DNS_RENAME:
        return dns_rename_apply(&opts, z->zone, z->renames, z->n_renames, rep, err);
    case FERRY__V1__OPERATION__OPERATION_DNS_CHECK:
        return dns_check(&opts, z->zone, z->renames, z->n_renames, rep, err);
    default:
        break;
    }
    return ferry_err_set(err, FERRY_ERR_INVALID, "operation %d is not a DNS one", (int)op);
}

/* ---- progress and results over several zones ---------------------------------------------- */

static bool zone_stopping(void *ud)
{
    const zone_hooks *zh = ud;
    return dns_hooks_stopping(zh->outer);
}

static void zone_progress(void *ud, uint64_t done, uint64_t total, const char *detail)
{
    const zone_hooks *zh = ud;
    char text[400];
    (void)total; /* this zone's share of zh->total */
    /* A detail cut short is still a detail: the result of snprintf is not needed. */
    (void)snprintf(text, sizeof(text), "%s in %s (zone %zu of %zu)", detail, zh->zone, zh->at,
                   zh->n);
    dns_hooks_progress(zh->outer, zh->before + done, zh->total, text);
}

/* Results that add up over zones, that take the highest, and lists joined with sep. */
static const char *const summed[] = {"lowered", "restored", "renamed", "already",
                                     "changes", "checked",  "check_ms"};
static const char *const highest[] = {"check_attempts"};
static const struct {
    const char *key;
    const char *sep;
} joined[] = {{"names", ","}, {"renames", ","}, {"check_failures", "; "}};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static bool listed(const char *key, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(key, list[i]) == 0)
            return true;
    }
    return false;
}

static bool parse_count(const char *text, unsigned long long *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || text[0] == '-')
        return false;
    *out = v;
    return true;
}

/* The value of key once zone's value add joins the step's value now. */
static void merge_one(dns_report *into, const char *key, const char *now, const char *add)
{
    unsigned long long have, more;
    bool sum = listed(key, summed, COUNT(summed)), max = listed(key, highest, COUNT(highest));
    if ((sum || max) && parse_count(now, &have) && parse_count(add, &more)) {
        dns_report_set(into, key, "%llu", sum ? have + more : have > more ? have : more);
        return;
    }
    for (size_t i = 0; i < COUNT(joined); i++) {
        if (strcmp(key, joined[i].key) != 0)
            continue;
        ferry_buf b = {0};
        ferry_buf_add(&b, now);
        ferry_buf_add(&b, joined[i].sep);
        ferry_buf_add(&b, add);
        if (!b.oom && b.p != NULL) /* best effort, as dns_report_set */
            (void)json_object_set_new(into->results, key, json_string(b.p));
        ferry_buf_cleanup(&b);
        return;
    }
    dns_report_set(into, key, "%s", add); /* per name (ttl_old.<name>), or the same everywhere */
}

/* Adds one zone's results to the step's (best effort, as dns_report_set). */
static void report_merge(dns_report *into, const dns_report *from)
{
    const char *key;
    json_t *value;
    json_object_foreach(from->results, key, value)
    {
        const char *now = dns_report_get(into, key), *add = json_string_value(value);
        if (add == NULL)
            continue;
        if (now == NULL)
            dns_report_set(into, key, "%s", add);
        else
            merge_one(into, key, now, add);
    }
}

/* ---- the step ----------------------------------------------------------------------------- */

ferry_rc dns_step_run(const dns_step_env *env, Ferry__V1__Operation op,
                      const Ferry__V1__DnsParams *p, dns_report *rep, ferry_err *err)
{
    ferry_rc rc = FERRY_OK;
    bool many = p->n_zones > 0;
    size_t n_zones = 0;
    step_zone *zones = NULL;
    dns_report zrep = {0};
    ferry_buf done = {0};
    if (!uses_names(op) && !uses_renames(op))
        return ferry_err_set(err, FERRY_ERR_INVALID, "operation %d is not a DNS one", (int)op);
    zones = calloc(many ? p->n_zones : 1, sizeof(*zones));
    if (zones == NULL)
        return ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");

    if (many) {
        rc = zones_from_list(op, p, zones, &n_zones, err);
    } else { /* the zone at the top, as before zones: the operation checks it */
        n_zones = 1;
        rc = zone_fill(&zones[0], op, p->zone, p->names, p->n_names, p->renames, p->n_renames,
                       p->api_key, err);
    }
    if (rc != FERRY_OK)
        goto out;
    uint64_t total = 0;
    for (size_t i = 0; i < n_zones; i++) {
        total += zones[i].units;
        rc = zone_driver(env, &zones[i], err);
        if (rc != FERRY_OK) {
            if (many)
                (void)name_the_zone(err, zones[i].zone);
            goto out;
        }
    }
    if (!many) {
        rc = zone_run(env, op, p->ttl, &zones[0], &env->hooks, rep, err);
        goto out;
    }

    uint64_t before = 0;
    for (size_t i = 0; i < n_zones; i++) {
        const step_zone *z = &zones[i];
        zone_hooks zh = {.outer = &env->hooks,
                         .before = before,
                         .total = total,
                         .at = i + 1,
                         .n = n_zones,
                         .zone = z->zone};
        dns_hooks hooks = {.stopping = zone_stopping, .progress = zone_progress, .ud = &zh};
        rc = dns_report_init(&zrep);
        if (rc != FERRY_OK) {
            rc = ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
            break;
        }
        rc = zone_run(env, op, p->ttl, z, &hooks, &zrep, err);
        report_merge(rep, &zrep); /* a failed check's findings too */
        dns_report_cleanup(&zrep);
        if (rc != FERRY_OK) {
            (void)name_the_zone(err, z->zone);
            break;
        }
        ferry_buf_add(&done, done.len > 0 ? "," : "");
        ferry_buf_add(&done, z->zone);
        before += z->units;
    }
    if (!done.oom && done.p != NULL)
        dns_report_set(rep, "zones", "%s", done.p);
out:
    for (size_t i = 0; i < n_zones; i++) {
        free(zones[i].renames);
        dns_driver_free(zones[i].drv);
    }
    free(zones);
    ferry_buf_cleanup(&done);
    return rc;
}
