/*
 * pdns.c - the PowerDNS Authoritative driver: the HTTP API (/api/v1/servers/<id>/zones), JSON
 * with jansson. Each operation reads the whole zone (GET), computes the changes and sends them
 * in one PATCH, which PowerDNS applies in one transaction.
 *
 * The TTL a name had before LOWER_TTL is kept in the record set's own comments (account
 * "ferry", content "ttl=<seconds>"): the worker stays stateless, and the memory moves with the
 * record set when it is renamed. A REPLACE sends records and comments both.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dns.h"
#include "ferry/http.h"

#define DEFAULT_TIMEOUT_MS 30000

typedef struct pdns {
    dns_driver base; /* first: a dns_driver * is a pdns * */
    ferry_http *http;
    char url[512]; /* .../api/v1/servers/localhost */
    char *key;
    long timeout_ms;
} pdns;

/* ---- HTTP --------------------------------------------------------------------------------- */

/*
 * One API call about zone: body (may be NULL) is sent as JSON; the decoded reply goes to
 * *reply when asked for (NULL for an empty body). Errors name the zone and the request, never
 * the key: UNAVAILABLE/TIMEOUT (transport), AUTH (401), PERMISSION (403), NOT_FOUND (404: no
 * such zone), INVALID (422 and other 4xx: PowerDNS's own error text), SERVER (5xx).
 */
static ferry_rc call(pdns *p, const char *method, const char *zone, json_t *body, json_t **reply,
                     ferry_err *err)
{
    ferry_rc rc = FERRY_OK;
    char url[1024], path[400], auth[600];
    char *text = NULL;
    ferry_http_response resp = {0};
    json_t *doc = NULL;
    if (reply != NULL)
        *reply = NULL;
    int n = snprintf(path, sizeof(path), "/zones/%s", zone);
    int m = snprintf(url, sizeof(url), "%s%s", p->url, path);
    int k = snprintf(auth, sizeof(auth), "X-API-Key: %s", p->key);
    if (n < 0 || (size_t)n >= sizeof(path) || m < 0 || (size_t)m >= sizeof(url) || k < 0 ||
        (size_t)k >= sizeof(auth)) {
        rc = ferry_err_set(err, FERRY_ERR_INVALID, "zone %s: the API URL or key is too long", zone);
        goto out;
    }
    const char *headers[] = {auth, "Content-Type: application/json", "Accept: application/json",
                             NULL};
    if (body != NULL) {
        text = json_dumps(body, JSON_COMPACT);
        if (text == NULL) {
            rc = ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
            goto out;
        }
    }
    ferry_http_request req = {.method = method,
                              .url = url,
                              .headers = headers,
                              .body = text,
                              .body_len = text != NULL ? strlen(text) : 0,
                              .timeout_ms = p->timeout_ms};
    rc = ferry_http_perform(p->http, &req, &resp, err);
    if (rc != FERRY_OK) {
        (void)ferry_err_prefix(err, "zone %s: PowerDNS API %s %s", zone, method, path);
        goto out;
    }
    if (resp.body_len > 0)
        doc = json_loadb(resp.body, resp.body_len, 0, NULL);
    rc = ferry_http_status_rc(resp.status);
    if (rc != FERRY_OK) {
        const char *why = json_string_value(json_object_get(doc, "error"));
        if (why == NULL && resp.body != NULL && resp.body_len < 200)
            why = resp.body; /* "Unauthorized", "Not Found" */
        switch (resp.status) {
        case 401:
        case 403:
            rc = ferry_err_set(err, rc,
                               "zone %s: the PowerDNS API refused the key (%s %s: HTTP %ld: %s)",
                               zone, method, path, resp.status, why != NULL ? why : "");
            break;
        case 404:
            rc = ferry_err_set(err, rc,
                               "zone %s does not exist on the PowerDNS server (%s %s: HTTP 404)",
                               zone, method, path);
            break;
        default:
            rc = ferry_err_set(err, rc, "zone %s: PowerDNS API %s %s: HTTP %ld: %.300s", zone,
                               method, path, resp.status, why != NULL ? why : "(no error text)");
            break;
        }
        goto out;
    }
    if (reply != NULL) {
        if (doc == NULL && resp.body_len > 0) {
            rc = ferry_err_set(err, FERRY_ERR_DECODE,
                               "zone %s: PowerDNS API %s %s: the reply is not JSON", zone, method,
                               path);
            goto out;
        }
        *reply = doc;
        doc = NULL;
    }
out:
    explicit_bzero(auth, sizeof(auth));
    json_decref(doc);
    free(text);
    ferry_http_response_cleanup(&resp);
    return rc;
}

/* GETs the zone with its record sets; caller json_decref()s *zdoc. */
static ferry_rc zone_get(pdns *p, const char *zone, json_t **zdoc, ferry_err *err)
{
    ferry_rc rc = call(p, "GET", zone, NULL, zdoc, err);
    if (rc == FERRY_OK && !json_is_array(json_object_get(*zdoc, "rrsets"))) {
        json_decref(*zdoc);
        *zdoc = NULL;
        rc = ferry_err_set(err, FERRY_ERR_DECODE, "zone %s: the API's zone has no rrsets", zone);
    }
    return rc;
}

/* ---- record sets in the zone document ----------------------------------------------------- */

static const char *rr_name(json_t *rr)
{
    const char *s = json_string_value(json_object_get(rr, "name"));
    return s != NULL ? s : "";
}

static const char *rr_type(json_t *rr)
{
    const char *s = json_string_value(json_object_get(rr, "type"));
    return s != NULL ? s : "";
}

static json_int_t rr_ttl(json_t *rr)
{
    return json_integer_value(json_object_get(rr, "ttl"));
}

/* The records array (an empty one when absent). Borrowed or new: decref the result. */
static json_t *rr_array(json_t *rr, const char *key)
{
    json_t *a = json_object_get(rr, key);
    return json_is_array(a) ? json_incref(a) : json_array();
}

static bool rr_has_records(json_t *rr)
{
    return json_array_size(json_object_get(rr, "records")) > 0;
}

/* The TTL remembered in a record set's comments, or -1. *index gets the comment's index. */
static long remembered_ttl(json_t *rr, size_t *index)
{
    json_t *comments = json_object_get(rr, "comments");
    size_t i;
    json_t *c;
    json_array_foreach(comments, i, c)
    {
        const char *account = json_string_value(json_object_get(c, "account"));
        const char *content = json_string_value(json_object_get(c, "content"));
        size_t plen = strlen(DNS_TTL_COMMENT_PREFIX);
        if (account == NULL || content == NULL || strcmp(account, DNS_TTL_COMMENT_ACCOUNT) != 0 ||
            strncmp(content, DNS_TTL_COMMENT_PREFIX, plen) != 0)
            continue;
        char *end = NULL;
        errno = 0;
        long v = strtol(content + plen, &end, 10);
        if (errno != 0 || end == content + plen || *end != '\0' || v < 0 || v > INT32_MAX)
            continue;
        if (index != NULL)
            *index = i;
        return v;
    }
    return -1;
}

/* Appends a REPLACE of name/type with ttl, records and comments (references taken). */
static ferry_rc add_replace(json_t *changes, const char *name, const char *type, json_int_t ttl,
                            json_t *records, json_t *comments, ferry_err *err)
{
    json_t *c = json_pack("{s:s, s:s, s:I, s:s, s:o, s:o}", "name", name, "type", type, "ttl", ttl,
                          "changetype", "REPLACE", "records", records, "comments", comments);
    if (c == NULL || json_array_append_new(changes, c) != 0)
        return ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
    return FERRY_OK;
}

static ferry_rc add_delete(json_t *changes, const char *name, const char *type, ferry_err *err)
{
    json_t *c = json_pack("{s:s, s:s, s:s}", "name", name, "type", type, "changetype", "DELETE");
    if (c == NULL || json_array_append_new(changes, c) != 0)
        return ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
    return FERRY_OK;
}

/*
 * When the zone's SOA-EDIT-API is off (empty or OFF), PowerDNS leaves the serial alone on API
 * changes, so secondaries would not see them: add a REPLACE of the apex SOA with serial + 1.
 * Zones made through the API have SOA-EDIT-API DEFAULT, and PowerDNS bumps the serial itself.
 */
static ferry_rc add_soa_bump(json_t *zdoc, const char *zone, json_t *changes, ferry_err *err)
{
    const char *edit = json_string_value(json_object_get(zdoc, "soa_edit_api"));
    if (edit != NULL && edit[0] != '\0' && strcasecmp(edit, "OFF") != 0)
        return FERRY_OK;
    size_t i;
    json_t *rr;
    json_array_foreach(json_object_get(zdoc, "rrsets"), i, rr)
    {
        if (!dns_name_eq(rr_name(rr), zone) || strcmp(rr_type(rr), "SOA") != 0)
            continue;
        const char *soa = json_string_value(
            json_object_get(json_array_get(json_object_get(rr, "records"), 0), "content"));
        char mname[256], rname[256];
        unsigned long serial, refresh, retry, expire, minimum;
        if (soa == NULL || sscanf(soa, "%255s %255s %lu %lu %lu %lu %lu", mname, rname, &serial,
                                  &refresh, &retry, &expire, &minimum) != 7)
            return ferry_err_set(err, FERRY_ERR_DECODE, "zone %s: cannot read the SOA '%.200s'",
                                 zone, soa != NULL ? soa : "");
        uint32_t next = (uint32_t)serial + 1;
        if (next == 0)
            next = 1;
        char content[700];
        (void)snprintf(content, sizeof(content), "%s %s %" PRIu32 " %lu %lu %lu %lu", mname, rname,
                       next, refresh, retry, expire, minimum);
        json_t *records = json_pack("[{s:s, s:b}]", "content", content, "disabled", 0);
        if (records == NULL)
            return ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
        return add_replace(changes, rr_name(rr), "SOA", rr_ttl(rr), records,
                           rr_array(rr, "comments"), err);
    }
    return ferry_err_set(err, FERRY_ERR_DECODE, "zone %s has no SOA record", zone);
}

/* Sends the changes (if any) in one PATCH, with the SOA bump the zone needs. */
static ferry_rc patch(pdns *p, const char *zone, json_t *zdoc, json_t *changes, ferry_err *err)
{
    if (json_array_size(changes) == 0)
        return FERRY_OK;
    ferry_rc rc = add_soa_bump(zdoc, zone, changes, err);
    if (rc != FERRY_OK)
        return rc;
    json_t *body = json_pack("{s:O}", "rrsets", changes);
    if (body == NULL)
        return ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
    rc = call(p, "PATCH", zone, body, NULL, err);
    json_decref(body);
    return rc;
}

/* ---- TTLs --------------------------------------------------------------------------------- */

static ferry_rc pdns_lower_ttl(dns_driver *drv, const char *zone, const char *const *names,
                               size_t n_names, uint32_t ttl, const dns_hooks *hooks,
                               dns_report *rep, ferry_err *err)
{
    pdns *p = (pdns *)drv;
    json_t *zdoc = NULL, *changes = json_array();
    size_t lowered = 0;
    ferry_rc rc = changes != NULL ? FERRY_OK : ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
    if (rc == FERRY_OK)
        rc = zone_get(p, zone, &zdoc, err);
    if (rc != FERRY_OK)
        goto out;
    for (size_t k = 0; k < n_names; k++) {
        bool found = false;
        long old_max = -1;
        size_t i;
        json_t *rr;
        json_array_foreach(json_object_get(zdoc, "rrsets"), i, rr)
        {
            if (!dns_name_eq(rr_name(rr), names[k]) || !rr_has_records(rr))
                continue;
            found = true;
            json_int_t cur = rr_ttl(rr);
            long kept = remembered_ttl(rr, NULL);
            if (kept >= 0 && kept > old_max)
                old_max = kept;
            if (cur <= (json_int_t)ttl)
                continue; /* low enough: nothing to lower (a remembered TTL stays) */
            json_t *comments = rr_array(rr, "comments");
            if (kept < 0) {
                json_t *copy = json_copy(comments);
                json_decref(comments);
                comments = copy;
                char text[40];
                (void)snprintf(text, sizeof(text), DNS_TTL_COMMENT_PREFIX "%" JSON_INTEGER_FORMAT,
                               cur);
                if (comments == NULL ||
                    json_array_append_new(comments, json_pack("{s:s, s:s}", "account",
                                                              DNS_TTL_COMMENT_ACCOUNT, "content",
                                                              text)) != 0) {
                    json_decref(comments);
                    rc = ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
                    goto out;
                }
                if (cur > old_max)
                    old_max = (long)cur;
            }
            rc = add_replace(changes, rr_name(rr), rr_type(rr), ttl, rr_array(rr, "records"),
                             comments, err);
            if (rc != FERRY_OK)
                goto out;
            lowered++;
        }
        if (!found) {
            rc = ferry_err_set(err, FERRY_ERR_NOT_FOUND, "zone %s: %s has no records to lower",
                               zone, names[k]);
            goto out;
        }
        if (old_max >= 0) {
            char key[300];
            (void)snprintf(key, sizeof(key), "ttl_old.%s", names[k]);
            dns_report_set(rep, key, "%ld", old_max);
        }
    }
    if (dns_hooks_stopping(hooks)) {
        rc = ferry_err_set(err, FERRY_ERR_CANCELLED, "zone %s: stopped before lowering TTLs", zone);
        goto out;
    }
    rc = patch(p, zone, zdoc, changes, err);
    if (rc == FERRY_OK)
        dns_report_set(rep, "lowered", "%zu", lowered);
out:
    json_decref(changes);
    json_decref(zdoc);
    return rc;
}

static ferry_rc pdns_restore_ttl(dns_driver *drv, const char *zone, const char *const *names,
                                 size_t n_names, const dns_hooks *hooks, dns_report *rep,
                                 ferry_err *err)
{
    pdns *p = (pdns *)drv;
    json_t *zdoc = NULL, *changes = json_array();
    size_t restored = 0;
    ferry_rc rc = changes != NULL ? FERRY_OK : ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
    if (rc == FERRY_OK)
        rc = zone_get(p, zone, &zdoc, err);
    if (rc != FERRY_OK)
        goto out;
    for (size_t k = 0; k < n_names; k++) {
        long back = -1;
        size_t i;
        json_t *rr;
        json_array_foreach(json_object_get(zdoc, "rrsets"), i, rr)
        {
            size_t at = 0;
            if (!dns_name_eq(rr_name(rr), names[k]))
                continue;
            long kept = remembered_ttl(rr, &at);
            if (kept < 0)
                continue;
            json_t *comments = json_copy(json_object_get(rr, "comments"));
            if (comments == NULL || json_array_remove(comments, at) != 0) {
                json_decref(comments);
                rc = ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
                goto out;
            }
            rc = add_replace(changes, rr_name(rr), rr_type(rr), kept, rr_array(rr, "records"),
                             comments, err);
            if (rc != FERRY_OK)
                goto out;
            restored++;
            if (kept > back)
                back = kept;
        }
        if (back >= 0) {
            char key[300];
            (void)snprintf(key, sizeof(key), "ttl.%s", names[k]);
            dns_report_set(rep, key, "%ld", back);
        }
    }
    if (dns_hooks_stopping(hooks)) {
        rc =
            ferry_err_set(err, FERRY_ERR_CANCELLED, "zone %s: stopped before restoring TTLs", zone);
        goto out;
    }
    rc = patch(p, zone, zdoc, changes, err);
    if (rc == FERRY_OK)
        dns_report_set(rep, "restored", "%zu", restored);
out:
    json_decref(changes);
    json_decref(zdoc);
    return rc;
}

/* ---- renames ------------------------------------------------------------------------------ */

static bool zone_has(const char *name, void *ud)
{
    size_t i;
    json_t *rr;
    json_array_foreach(json_object_get(ud, "rrsets"), i, rr)
    {
        if (dns_name_eq(rr_name(rr), name) && rr_has_records(rr))
            return true;
    }
    return false;
}

/* The record set of name and type in the zone, or NULL. */
static json_t *zone_rrset(json_t *zdoc, const char *name, const char *type)
{
    size_t i;
    json_t *rr;
    json_array_foreach(json_object_get(zdoc, "rrsets"), i, rr)
    {
        if (dns_name_eq(rr_name(rr), name) && strcmp(rr_type(rr), type) == 0)
            return rr;
    }
    return NULL;
}

/* True when two record sets hold the same TTL, records and comments. */
static bool rr_same(json_t *a, json_t *b)
{
    return rr_ttl(a) == rr_ttl(b) &&
           json_equal(json_object_get(a, "records"), json_object_get(b, "records")) &&
           json_equal(json_object_get(a, "comments"), json_object_get(b, "comments"));
}

/* The changes that give mv->name the record sets mv->source has now (none: it ends empty),
 * at most one per name and type as PowerDNS requires. Deletions go to dels, the rest to reps:
 * PowerDNS applies a PATCH in order and refuses a CNAME next to another record set that still
 * exists at that point (and the reverse), so every deletion must come first. */
static ferry_rc move_changes(json_t *zdoc, const dns_move *mv, json_t *dels, json_t *reps,
                             ferry_err *err)
{
    ferry_rc rc = FERRY_OK;
    size_t i;
    json_t *rr;
    json_t *rrsets = json_object_get(zdoc, "rrsets");
    if (mv->source != NULL) {
        json_array_foreach(rrsets, i, rr)
        {
            if (!dns_name_eq(rr_name(rr), mv->source) || !rr_has_records(rr))
                continue;
            json_t *now = zone_rrset(zdoc, mv->name, rr_type(rr));
            if (now != NULL && rr_same(now, rr))
                continue;
            rc = add_replace(reps, mv->name, rr_type(rr), rr_ttl(rr), rr_array(rr, "records"),
                             rr_array(rr, "comments"), err);
            if (rc != FERRY_OK)
                return rc;
        }
    }
    json_array_foreach(rrsets, i, rr)
    {
        if (!dns_name_eq(rr_name(rr), mv->name))
            continue;
        json_t *keep = mv->source != NULL ? zone_rrset(zdoc, mv->source, rr_type(rr)) : NULL;
        if (keep != NULL && rr_has_records(keep))
            continue; /* replaced above */
        rc = add_delete(dels, rr_name(rr), rr_type(rr), err);
        if (rc != FERRY_OK)
            return rc;
    }
    return FERRY_OK;
}

static ferry_rc pdns_rename(dns_driver *drv, const char *zone, const dns_rename *renames,
                            size_t n_renames, const dns_hooks *hooks, dns_report *rep,
                            ferry_err *err)
{
    pdns *p = (pdns *)drv;
    json_t *zdoc = NULL, *changes = json_array(), *reps = json_array();
    dns_plan plan = {0};
    ferry_rc rc = changes != NULL && reps != NULL
                      ? FERRY_OK
                      : ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
    if (rc == FERRY_OK)
        rc = zone_get(p, zone, &zdoc, err);
    if (rc == FERRY_OK)
        rc = dns_plan_make(renames, n_renames, zone_has, zdoc, &plan, err);
    if (rc != FERRY_OK) {
        if (rc == FERRY_ERR_CONFLICT)
            (void)ferry_err_prefix(err, "zone %s", zone);
        goto out;
    }
    for (size_t i = 0; i < plan.n_moves && rc == FERRY_OK; i++)
        rc = move_changes(zdoc, &plan.moves[i], changes, reps, err);
    if (rc == FERRY_OK && json_array_extend(changes, reps) != 0)
        rc = ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
    if (rc != FERRY_OK)
        goto out;
    if (dns_hooks_stopping(hooks)) {
        rc = ferry_err_set(err, FERRY_ERR_CANCELLED, "zone %s: stopped before renaming", zone);
        goto out;
    }
    rc = patch(p, zone, zdoc, changes, err);
    if (rc != FERRY_OK)
        goto out;
    dns_report_set(rep, "renamed", "%zu", plan.applied);
    dns_report_set(rep, "already", "%zu", plan.already);
    dns_report_set(rep, "changes", "%zu", json_array_size(changes));
out:
    dns_plan_cleanup(&plan);
    json_decref(reps);
    json_decref(changes);
    json_decref(zdoc);
    return rc;
}

/* ---- reading ------------------------------------------------------------------------------ */

static ferry_rc pdns_records(dns_driver *drv, const char *zone, const char *name, dns_rrsets *out,
                             ferry_err *err)
{
    pdns *p = (pdns *)drv;
    json_t *zdoc = NULL;
    memset(out, 0, sizeof(*out));
    ferry_rc rc = zone_get(p, zone, &zdoc, err);
    if (rc != FERRY_OK)
        return rc;
    json_t *rrsets = json_object_get(zdoc, "rrsets");
    out->v = calloc(json_array_size(rrsets) + 1, sizeof(*out->v));
    if (out->v == NULL) {
        rc = ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
        goto out;
    }
    size_t i;
    json_t *rr;
    json_array_foreach(rrsets, i, rr)
    {
        if (!dns_name_eq(rr_name(rr), name))
            continue;
        json_t *records = json_object_get(rr, "records");
        dns_rrset *set = &out->v[out->n];
        (void)snprintf(set->type, sizeof(set->type), "%s", rr_type(rr));
        set->ttl = (uint32_t)rr_ttl(rr);
        set->contents = calloc(json_array_size(records) + 1, sizeof(char *));
        if (set->contents == NULL) {
            rc = ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
            goto out;
        }
        out->n++;
        size_t j;
        json_t *rec;
        json_array_foreach(records, j, rec)
        {
            const char *content = json_string_value(json_object_get(rec, "content"));
            if (content == NULL || json_is_true(json_object_get(rec, "disabled")))
                continue;
            set->contents[set->n] = strdup(content);
            if (set->contents[set->n] == NULL) {
                rc = ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
                goto out;
            }
            set->n++;
        }
        if (set->n == 0) { /* only disabled records (or comments): not served */
            free(set->contents);
            set->contents = NULL;
            out->n--;
        }
    }
out:
    json_decref(zdoc);
    return rc;
}

/* ---- the handle --------------------------------------------------------------------------- */

static void pdns_free(dns_driver *drv)
{
    pdns *p = (pdns *)drv;
    if (p == NULL)
        return;
    ferry_http_free(p->http);
    if (p->key != NULL) {
        explicit_bzero(p->key, strlen(p->key));
        free(p->key);
    }
    free(p);
}

static const dns_driver_vt pdns_vt = {.name = "powerdns",
                                      .lower_ttl = pdns_lower_ttl,
                                      .restore_ttl = pdns_restore_ttl,
                                      .rename = pdns_rename,
                                      .records = pdns_records,
                                      .free = pdns_free};

dns_driver *dns_pdns_new(const dns_pdns_opts *opts, ferry_err *err)
{
    if (opts->api_url == NULL || opts->api_url[0] == '\0' ||
        (strncmp(opts->api_url, "http://", 7) != 0 && strncmp(opts->api_url, "https://", 8) != 0)) {
        (void)ferry_err_set(err, FERRY_ERR_INVALID, "the PowerDNS API URL must be http(s)://...");
        return NULL;
    }
    if (opts->api_key == NULL || opts->api_key[0] == '\0') {
        (void)ferry_err_set(err, FERRY_ERR_CONFIG, "no PowerDNS API key");
        return NULL;
    }
    pdns *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        (void)ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
        return NULL;
    }
    p->base.vt = &pdns_vt;
    p->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : DEFAULT_TIMEOUT_MS;
    /* The setting may name the server root, the API, or the API's server. */
    const char *url = opts->api_url;
    size_t len = strlen(url);
    while (len > 0 && url[len - 1] == '/')
        len--;
    const char *suffix = "/api/v1/servers/localhost";
    if (len >= 9 && strstr(url, "/servers/") != NULL)
        suffix = "";
    else if (len >= 7 && strncmp(url + len - 7, "/api/v1", 7) == 0)
        suffix = "/servers/localhost";
    int n = snprintf(p->url, sizeof(p->url), "%.*s%s", (int)len, url, suffix);
    p->key = strdup(opts->api_key);
    p->http = ferry_http_new();
    if (n < 0 || (size_t)n >= sizeof(p->url)) {
        (void)ferry_err_set(err, FERRY_ERR_INVALID, "the PowerDNS API URL is too long");
        pdns_free(&p->base);
        return NULL;
    }
    if (p->key == NULL || p->http == NULL) {
        (void)ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
        pdns_free(&p->base);
        return NULL;
    }
    return &p->base;
}
