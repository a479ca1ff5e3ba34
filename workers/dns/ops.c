/*
 * ops.c - the operations of a DNS step: validate, call the driver, and for a check ask the
 * authoritative server over DNS until it answers the way the API says.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dns.h"
#include "ferry/buf.h"
#include "ferry/clock.h"
#include "ferry/dnsq.h"

#define CHECK_INTERVAL_MS 250
#define QUERY_TIMEOUT_MS  2000

/* "a,b,c" into the report. */
static void report_list(dns_report *rep, const char *key, const char *const *names, size_t n)
{
    ferry_buf b = {0};
    for (size_t i = 0; i < n; i++) {
        ferry_buf_add(&b, i > 0 ? "," : "");
        ferry_buf_add(&b, names[i]);
    }
    if (!b.oom && b.p != NULL)
        dns_report_set(rep, key, "%s", b.p);
    ferry_buf_cleanup(&b);
}

static void report_renames(dns_report *rep, const dns_rename *r, size_t n)
{
    ferry_buf b = {0};
    for (size_t i = 0; i < n; i++) {
        ferry_buf_add(&b, i > 0 ? "," : "");
        ferry_buf_add(&b, r[i].from);
        ferry_buf_add(&b, ">");
        ferry_buf_add(&b, r[i].to);
    }
    if (!b.oom && b.p != NULL)
        dns_report_set(rep, "renames", "%s", b.p);
    ferry_buf_cleanup(&b);
}

static ferry_rc stopped(const dns_options *opts, const char *zone, ferry_err *err)
{
    if (dns_hooks_stopping(&opts->hooks))
        return ferry_err_set(err, FERRY_ERR_CANCELLED, "zone %s: stopped", zone);
    return FERRY_OK;
}

/* PowerDNS on its sqlite3 backend answers 500 ("database is locked") when changes to one zone
 * meet (twenty apps renamed at once); every change is one transaction, read afresh and planned
 * again on each attempt, so sending it again is safe. Returns whether to try once more, after
 * a pause of 100 ms doubling (plus up to 100 ms of jitter), watching the stop flag. */
#define DRV_ATTEMPTS 6

static bool hooks_stopping(void *ud)
{
    return dns_hooks_stopping(ud);
}

static bool drv_retry(const dns_options *opts, ferry_rc rc, int attempt, ferry_err *err)
{
    if (attempt >= DRV_ATTEMPTS || (rc != FERRY_ERR_SERVER && rc != FERRY_ERR_THROTTLED))
        return false;
    if (!ferry_sleep_unless(ferry_backoff_ms(attempt, 100), hooks_stopping, (void *)&opts->hooks))
        return false;
    ferry_err_clear(err);
    return true;
}

ferry_rc dns_lower_ttl(const dns_options *opts, const char *zone, const char *const *names,
                       size_t n_names, uint32_t ttl, dns_report *rep, ferry_err *err)
{
    if (ttl == 0)
        ttl = DNS_DEFAULT_TTL;
    ferry_rc rc = dns_names_validate(zone, names, n_names, err);
    if (rc == FERRY_OK)
        rc = stopped(opts, zone, err);
    if (rc != FERRY_OK)
        return rc;
    report_list(rep, "names", names, n_names);
    dns_report_set(rep, "ttl", "%u", (unsigned)ttl);
    dns_hooks_progress(&opts->hooks, 0, n_names, "lowering TTLs");
    for (int attempt = 1;; attempt++) {
        rc = opts->drv->vt->lower_ttl(opts->drv, zone, names, n_names, ttl, &opts->hooks, rep, err);
        if (rc == FERRY_OK || !drv_retry(opts, rc, attempt, err))
            break;
    }
    if (rc == FERRY_OK)
        dns_hooks_progress(&opts->hooks, n_names, n_names, "TTLs lowered");
    return rc;
}

ferry_rc dns_restore_ttl(const dns_options *opts, const char *zone, const char *const *names,
                         size_t n_names, dns_report *rep, ferry_err *err)
{
    ferry_rc rc = dns_names_validate(zone, names, n_names, err);
    if (rc == FERRY_OK)
        rc = stopped(opts, zone, err);
    if (rc != FERRY_OK)
        return rc;
    report_list(rep, "names", names, n_names);
    dns_hooks_progress(&opts->hooks, 0, n_names, "restoring TTLs");
    for (int attempt = 1;; attempt++) {
        rc = opts->drv->vt->restore_ttl(opts->drv, zone, names, n_names, &opts->hooks, rep, err);
        if (rc == FERRY_OK || !drv_retry(opts, rc, attempt, err))
            break;
    }
    if (rc == FERRY_OK)
        dns_hooks_progress(&opts->hooks, n_names, n_names, "TTLs restored");
    return rc;
}

ferry_rc dns_rename_apply(const dns_options *opts, const char *zone, const dns_rename *renames,
                          size_t n, dns_report *rep, ferry_err *err)
{
    ferry_rc rc = dns_renames_validate(zone, renames, n, err);
    if (rc == FERRY_OK)
        rc = stopped(opts, zone, err);
    if (rc != FERRY_OK)
        return rc;
    report_renames(rep, renames, n);
    dns_hooks_progress(&opts->hooks, 0, n, "renaming");
    for (int attempt = 1;; attempt++) {
        rc = opts->drv->vt->rename(opts->drv, zone, renames, n, &opts->hooks, rep, err);
        if (rc == FERRY_OK || !drv_retry(opts, rc, attempt, err))
            break;
    }
    if (rc == FERRY_OK)
        dns_hooks_progress(&opts->hooks, n, n, "renamed");
    return rc;
}

/* ---- check -------------------------------------------------------------------------------- */

/* One name the check looks at: a rename's to (with the API's records), or a from that must be
 * gone. */
typedef struct check_name {
    const char *name;
    bool gone;
    dns_rrsets api;
} check_name;

/* The answer in a few words: its records ("a, b"), "no records", or the rcode. */
static void answered(ferry_buf *b, const ferry_dnsq_answer *ans)
{
    if (ans->rcode != FERRY_DNSQ_NOERROR) {
        ferry_buf_add(b, ferry_dnsq_rcode_str(ans->rcode));
        if (ans->rcode == FERRY_DNSQ_REFUSED)
            ferry_buf_add(b, " (the zone is not served there)");
        return;
    }
    if (ans->count == 0) {
        ferry_buf_add(b, "no records");
        return;
    }
    for (size_t i = 0; i < ans->count && i < 8; i++) {
        ferry_buf_add(b, i > 0 ? ", " : "");
        ferry_buf_add(b, ans->records[i].text);
    }
    if (ans->count > 8)
        ferry_buf_add(b, ", ...");
}

/*
 * Asks for name/type; when want is not NULL the answer must be NOERROR with exactly its
 * records, else NOERROR without records (or NXDOMAIN when nx_ok). Returns OK, CONFLICT with the
 * difference in why, or the transport error (its message in why).
 */
static ferry_rc ask(const char *server, const char *name, ferry_dnsq_type type,
                    const dns_rrset *want, bool nx_ok, bool *nxdomain, ferry_buf *why)
{
    ferry_dnsq_request req = {
        .server = server, .name = name, .type = type, .timeout_ms = QUERY_TIMEOUT_MS};
    ferry_dnsq_answer ans;
    ferry_err err;
    ferry_err_clear(&err);
    ferry_rc rc = ferry_dnsq_query(&req, &ans, &err);
    if (nxdomain != NULL)
        *nxdomain = false;
    if (rc != FERRY_OK) {
        ferry_buf_add(why, err.msg);
        goto out;
    }
    bool ok;
    if (ans.rcode == FERRY_DNSQ_NXDOMAIN && nx_ok) {
        if (nxdomain != NULL)
            *nxdomain = true;
        ok = true;
    } else if (ans.rcode != FERRY_DNSQ_NOERROR) {
        ok = false;
    } else if (want == NULL) {
        ok = ans.count == 0;
    } else {
        ok = ans.count == want->n;
        for (size_t i = 0; ok && i < want->n; i++)
            ok = ferry_dnsq_answer_has(&ans, type, want->contents[i]);
    }
    if (!ok) {
        rc = FERRY_ERR_CONFLICT;
        ferry_buf_add(why, name);
        ferry_buf_add(why, " ");
        ferry_buf_add(why, ferry_dnsq_type_str(type));
        ferry_buf_add(why, ": expected ");
        if (want == NULL) {
            ferry_buf_add(why, nx_ok ? "NXDOMAIN or none" : "none");
        } else {
            for (size_t i = 0; i < want->n; i++) {
                ferry_buf_add(why, i > 0 ? ", " : "");
                ferry_buf_add(why, want->contents[i]);
            }
        }
        ferry_buf_add(why, ", answered ");
        answered(why, &ans);
    }
out:
    ferry_dnsq_answer_cleanup(&ans);
    return rc;
}

/* One look at one name over DNS. */
static ferry_rc check_one(const char *server, const check_name *c, ferry_buf *why)
{
    if (c->gone) {
        bool nx = false;
        ferry_rc rc = ask(server, c->name, FERRY_DNSQ_A, NULL, true, &nx, why);
        if (rc != FERRY_OK || nx)
            return rc;
        rc = ask(server, c->name, FERRY_DNSQ_AAAA, NULL, false, NULL, why);
        if (rc == FERRY_OK)
            rc = ask(server, c->name, FERRY_DNSQ_CNAME, NULL, false, NULL, why);
        return rc;
    }
    const dns_rrset *cname = dns_rrsets_find(&c->api, "CNAME");
    if (cname != NULL) /* A and AAAA follow the chain: the CNAME itself is what moved */
        return ask(server, c->name, FERRY_DNSQ_CNAME, cname, false, NULL, why);
    ferry_rc rc =
        ask(server, c->name, FERRY_DNSQ_A, dns_rrsets_find(&c->api, "A"), false, NULL, why);
    if (rc == FERRY_OK)
        rc = ask(server, c->name, FERRY_DNSQ_AAAA, dns_rrsets_find(&c->api, "AAAA"), false, NULL,
                 why);
    if (rc == FERRY_OK) /* no CNAME left over (A and AAAA would have followed it) */
        rc = ask(server, c->name, FERRY_DNSQ_CNAME, NULL, false, NULL, why);
    return rc;
}

/* Whether rename i's from is also a rename's to (the middle of a chain). */
static bool from_is_a_to(const dns_rename *renames, size_t n, size_t i)
{
    for (size_t j = 0; j < n; j++) {
        if (dns_name_eq(renames[i].from, renames[j].to))
            return true;
    }
    return false;
}

size_t dns_check_count(const dns_rename *renames, size_t n)
{
    size_t count = n;
    for (size_t i = 0; i < n; i++)
        count += from_is_a_to(renames, n, i) ? 0 : 1;
    return count;
}

/* What the API has at each name; CONFLICT when it shows a rename not applied. */
static ferry_rc check_api(const dns_options *opts, const char *zone, const dns_rename *renames,
                          size_t n, check_name *names, size_t *n_names, ferry_err *err)
{
    *n_names = 0;
    for (size_t i = 0; i < n; i++) {
        check_name *c = &names[(*n_names)++];
        c->name = renames[i].to;
        ferry_rc rc = opts->drv->vt->records(opts->drv, zone, c->name, &c->api, err);
        if (rc == FERRY_OK && c->api.n == 0)
            rc = ferry_err_set(err, FERRY_ERR_CONFLICT,
                               "zone %s: the API has no records at %s: the rename %s -> %s is "
                               "not applied",
                               zone, c->name, renames[i].from, renames[i].to);
        if (rc != FERRY_OK)
            return rc;
    }
    for (size_t i = 0; i < n; i++) {
        if (from_is_a_to(renames, n, i))
            continue;
        check_name *c = &names[(*n_names)++];
        c->name = renames[i].from;
        c->gone = true;
        ferry_rc rc = opts->drv->vt->records(opts->drv, zone, c->name, &c->api, err);
        if (rc == FERRY_OK && c->api.n > 0)
            rc = ferry_err_set(err, FERRY_ERR_CONFLICT,
                               "zone %s: the API still has %s records at %s: the rename %s -> %s "
                               "is not applied",
                               zone, c->api.v[0].type, c->name, renames[i].from, renames[i].to);
        if (rc != FERRY_OK)
            return rc;
    }
    return FERRY_OK;
}

ferry_rc dns_check(const dns_options *opts, const char *zone, const dns_rename *renames, size_t n,
                   dns_report *rep, ferry_err *err)
{
    ferry_buf why = {0}, one_why = {0};
    size_t n_names = 0;
    check_name *names = NULL;
    ferry_rc rc = dns_renames_validate(zone, renames, n, err);
    if (rc == FERRY_OK && (opts->dns_addr == NULL || opts->dns_addr[0] == '\0'))
        rc = ferry_err_set(err, FERRY_ERR_CONFIG, "no DNS server address to check zone %s", zone);
    if (rc == FERRY_OK)
        rc = stopped(opts, zone, err);
    if (rc != FERRY_OK)
        return rc;
    report_renames(rep, renames, n);
    names = calloc(2 * n, sizeof(*names));
    if (names == NULL)
        return ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
    rc = check_api(opts, zone, renames, n, names, &n_names, err);
    if (rc != FERRY_OK)
        goto out;

    long limit = opts->check_ms > 0 ? opts->check_ms : DNS_DEFAULT_CHECK_MS;
    int64_t t0 = ferry_mono_ms();
    for (unsigned attempt = 1;; attempt++) {
        size_t good = 0;
        ferry_buf_reset(&why);
        rc = FERRY_OK;
        for (size_t i = 0; i < n_names; i++) { /* every name, so the message lists them all */
            ferry_buf_reset(&one_why);
            ferry_rc one = check_one(opts->dns_addr, &names[i], &one_why);
            if (one == FERRY_OK) {
                good++;
                continue;
            }
            if (rc == FERRY_OK || rc == FERRY_ERR_CONFLICT)
                rc = one; /* a transport error wins: it says why nothing could be compared */
            ferry_buf_add(&why, why.len > 0 ? "; " : "");
            ferry_buf_add(&why, one_why.oom || one_why.p == NULL ? "(out of memory)" : one_why.p);
        }
        dns_hooks_progress(&opts->hooks, good, n_names, "checking answers");
        int64_t took = ferry_mono_ms() - t0;
        if (rc == FERRY_OK) {
            dns_report_set(rep, "checked", "%zu", n_names);
            dns_report_set(rep, "check_ms", "%lld", (long long)took);
            dns_report_set(rep, "check_attempts", "%u", attempt);
            break;
        }
        if (took >= limit) {
            if (rc == FERRY_ERR_CONFLICT)
                dns_report_set(rep, "check_dns_mismatch", "1");
            /* The message may be cut at its size; the result holds every name. */
            dns_report_set(rep, "check_failures", "%s",
                           why.oom || why.p == NULL ? "(out of memory)" : why.p);
            dns_report_set(rep, "check_attempts", "%u", attempt);
            rc = ferry_err_set(err, rc, "zone %s: after %.1f s (%u tries) the server %s %s %s",
                               zone, (double)took / 1000.0, attempt, opts->dns_addr,
                               rc == FERRY_ERR_CONFLICT ? "does not answer the new way:"
                                                        : "could not be asked:",
                               why.oom || why.p == NULL ? "(out of memory)" : why.p);
            break;
        }
        rc = stopped(opts, zone, err);
        if (rc != FERRY_OK)
            break;
        ferry_sleep_ms(CHECK_INTERVAL_MS);
    }
out:
    for (size_t i = 0; i < n_names; i++)
        dns_rrsets_cleanup(&names[i].api);
    free(names);
    ferry_buf_cleanup(&why);
    ferry_buf_cleanup(&one_why);
    return rc;
}
