/*
 * plan.c - names of a zone, and the rename plan: which name ends with whose records.
 * No I/O; every driver applies the plan its own way.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dns.h"
#include "ferry/buf.h"

#define NAME_MAX_LEN 253

/* ---- small shared pieces ------------------------------------------------------------------ */

void dns_rrsets_cleanup(dns_rrsets *sets)
{
    if (sets == NULL)
        return;
    for (size_t i = 0; i < sets->n; i++) {
        for (size_t j = 0; j < sets->v[i].n; j++)
            free(sets->v[i].contents[j]);
        free(sets->v[i].contents);
    }
    free(sets->v);
    sets->v = NULL;
    sets->n = 0;
}

const dns_rrset *dns_rrsets_find(const dns_rrsets *sets, const char *type)
{
    for (size_t i = 0; i < sets->n; i++)
        if (strcasecmp(sets->v[i].type, type) == 0)
            return &sets->v[i];
    return NULL;
}

ferry_rc dns_report_init(dns_report *rep)
{
    rep->results = json_object();
    return rep->results != NULL ? FERRY_OK : FERRY_ERR_NOMEM;
}

void dns_report_cleanup(dns_report *rep)
{
    if (rep == NULL)
        return;
    json_decref(rep->results);
    rep->results = NULL;
}

void dns_report_set(dns_report *rep, const char *name, const char *fmt, ...)
{
    char text[4096];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (len < 0 || rep == NULL || rep->results == NULL)
        return;
    (void)json_object_set_new(rep->results, name, json_string(text)); /* best effort */
}

const char *dns_report_get(const dns_report *rep, const char *name)
{
    return json_string_value(json_object_get(rep->results, name));
}

bool dns_hooks_stopping(const dns_hooks *hooks)
{
    return hooks != NULL && hooks->stopping != NULL && hooks->stopping(hooks->ud);
}

void dns_hooks_progress(const dns_hooks *hooks, uint64_t done, uint64_t total, const char *detail)
{
    if (hooks != NULL && hooks->progress != NULL)
        hooks->progress(hooks->ud, done, total, detail);
}

void dns_driver_free(dns_driver *drv)
{
    if (drv != NULL)
        drv->vt->free(drv);
}

/* ---- names -------------------------------------------------------------------------------- */

/* Length without the trailing dot. */
static size_t bare_len(const char *name)
{
    size_t len = strlen(name);
    return len > 0 && name[len - 1] == '.' ? len - 1 : len;
}

bool dns_name_eq(const char *a, const char *b)
{
    size_t la = bare_len(a), lb = bare_len(b);
    return la == lb && strncasecmp(a, b, la) == 0;
}

/* Labels of [A-Za-z0-9_*-]{1,63}, the whole at most 253 and ending with a dot. */
static bool name_syntax_ok(const char *name)
{
    size_t len = strlen(name);
    if (len < 2 || len > NAME_MAX_LEN + 1 || name[len - 1] != '.')
        return false;
    size_t label = 0;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (c == '.') {
            if (label == 0)
                return false;
            label = 0;
            continue;
        }
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == '*';
        if (!ok || ++label > 63)
            return false;
    }
    return true;
}

ferry_rc dns_zone_validate(const char *zone, ferry_err *err)
{
    if (zone == NULL || zone[0] == '\0')
        return ferry_err_set(err, FERRY_ERR_INVALID, "no zone given");
    if (!name_syntax_ok(zone))
        return ferry_err_set(err, FERRY_ERR_INVALID,
                             "zone '%.260s' is not a fully qualified name with the trailing dot",
                             zone);
    return FERRY_OK;
}

ferry_rc dns_name_validate(const char *zone, const char *name, ferry_err *err)
{
    if (name == NULL || name[0] == '\0')
        return ferry_err_set(err, FERRY_ERR_INVALID, "an empty name in zone %s", zone);
    if (!name_syntax_ok(name))
        return ferry_err_set(err, FERRY_ERR_INVALID,
                             "name '%.260s' is not a fully qualified name with the trailing dot",
                             name);
    size_t ln = strlen(name), lz = strlen(zone);
    if (ln <= lz + 1 || name[ln - lz - 1] != '.' || strcasecmp(name + ln - lz, zone) != 0)
        return ferry_err_set(err, FERRY_ERR_INVALID, "name %s is not inside zone %s", name, zone);
    return FERRY_OK;
}

ferry_rc dns_names_validate(const char *zone, const char *const *names, size_t n, ferry_err *err)
{
    ferry_rc rc = dns_zone_validate(zone, err);
    if (rc != FERRY_OK)
        return rc;
    if (n == 0)
        return ferry_err_set(err, FERRY_ERR_INVALID, "no names given for zone %s", zone);
    for (size_t i = 0; i < n; i++) {
        rc = dns_name_validate(zone, names[i], err);
        if (rc != FERRY_OK)
            return rc;
    }
    return FERRY_OK;
}

ferry_rc dns_renames_validate(const char *zone, const dns_rename *renames, size_t n, ferry_err *err)
{
    ferry_rc rc = dns_zone_validate(zone, err);
    if (rc != FERRY_OK)
        return rc;
    if (n == 0)
        return ferry_err_set(err, FERRY_ERR_INVALID, "no renames given for zone %s", zone);
    for (size_t i = 0; i < n; i++) {
        rc = dns_name_validate(zone, renames[i].from, err);
        if (rc == FERRY_OK)
            rc = dns_name_validate(zone, renames[i].to, err);
        if (rc != FERRY_OK)
            return ferry_err_prefix(err, "rename %zu", i + 1);
        if (dns_name_eq(renames[i].from, renames[i].to))
            return ferry_err_set(err, FERRY_ERR_INVALID, "rename %s -> %s: the same name",
                                 renames[i].from, renames[i].to);
        for (size_t j = 0; j < i; j++) {
            if (dns_name_eq(renames[i].from, renames[j].from))
                return ferry_err_set(err, FERRY_ERR_INVALID,
                                     "%s is renamed twice (to %s and to %s)", renames[i].from,
                                     renames[j].to, renames[i].to);
            if (dns_name_eq(renames[i].to, renames[j].to))
                return ferry_err_set(err, FERRY_ERR_INVALID, "%s is the new name of both %s and %s",
                                     renames[i].to, renames[j].from, renames[i].from);
        }
    }
    /* A cycle: follow each name's renames; more than n steps means we came back. */
    for (size_t i = 0; i < n; i++) {
        const char *cur = renames[i].to;
        for (size_t steps = 0;; steps++) {
            size_t j = 0;
            while (j < n && !dns_name_eq(renames[j].from, cur))
                j++;
            if (j == n)
                break;
            if (steps > n)
                return ferry_err_set(err, FERRY_ERR_INVALID,
                                     "the renames of %s form a cycle; a swap is not supported",
                                     renames[i].from);
            cur = renames[j].to;
        }
    }
    return FERRY_OK;
}

/* ---- the plan ----------------------------------------------------------------------------- */

/* The rename whose from is name, or n. */
static size_t find_from(const dns_rename *r, size_t n, const char *name)
{
    size_t i = 0;
    while (i < n && !dns_name_eq(r[i].from, name))
        i++;
    return i;
}

static size_t find_to(const dns_rename *r, size_t n, const char *name)
{
    size_t i = 0;
    while (i < n && !dns_name_eq(r[i].to, name))
        i++;
    return i;
}

/* "a, b" of the chain's names whose presence is `want`. */
static void list_names(ferry_buf *b, const char *const *chain, const bool *has, size_t len,
                       bool want)
{
    size_t shown = 0;
    for (size_t i = 0; i < len; i++) {
        if (has[i] != want)
            continue;
        if (shown++ > 0)
            ferry_buf_add(b, ", ");
        ferry_buf_add(b, chain[i]);
    }
    if (shown == 0)
        ferry_buf_add(b, "(none)");
}

ferry_rc dns_plan_make(const dns_rename *renames, size_t n, dns_present_fn present, void *ud,
                       dns_plan *plan, ferry_err *err)
{
    ferry_rc rc = FERRY_OK;
    const char **chain = NULL;
    bool *has = NULL;
    ferry_buf msg = {0};
    memset(plan, 0, sizeof(*plan));
    plan->moves = calloc(2 * n, sizeof(*plan->moves));
    chain = calloc(n + 1, sizeof(*chain));
    has = calloc(n + 1, sizeof(*has));
    if (plan->moves == NULL || chain == NULL || has == NULL) {
        rc = ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
        goto out;
    }
    /* Each chain starts at a name that is no rename's to (validated: there is no cycle). */
    for (size_t h = 0; h < n; h++) {
        if (find_to(renames, n, renames[h].from) < n)
            continue;
        size_t len = 0;
        chain[len++] = renames[h].from;
        for (size_t i = h; i < n; i = find_from(renames, n, chain[len - 1]))
            chain[len++] = renames[i].to;
        for (size_t i = 0; i < len; i++)
            has[i] = present(chain[i], ud);
        bool mid = true; /* n1 .. n(k-1) */
        for (size_t i = 1; i + 1 < len; i++)
            mid = mid && has[i];
        if (mid && has[0] && !has[len - 1]) { /* to do */
            plan->moves[plan->n_moves++] = (dns_move){.name = chain[0], .source = NULL};
            for (size_t i = 1; i < len; i++)
                plan->moves[plan->n_moves++] = (dns_move){.name = chain[i], .source = chain[i - 1]};
            plan->applied += len - 1;
        } else if (mid && !has[0] && has[len - 1]) { /* done */
            plan->already += len - 1;
        } else {
            ferry_buf_add(&msg, "");
            for (size_t i = 0; i < len; i++) {
                ferry_buf_add(&msg, i == 0 ? "" : " -> ");
                ferry_buf_add(&msg, chain[i]);
            }
            ferry_buf_add(&msg, " is half renamed or taken: with records: ");
            list_names(&msg, chain, has, len, true);
            ferry_buf_add(&msg, "; without: ");
            list_names(&msg, chain, has, len, false);
            ferry_buf_add(&msg, " (expected ");
            ferry_buf_add(&msg, chain[len - 1]);
            ferry_buf_add(&msg, " free before the rename, or ");
            ferry_buf_add(&msg, chain[0]);
            ferry_buf_add(&msg, " free after it");
            if (len > 2)
                ferry_buf_add(&msg, ", the names between with records");
            ferry_buf_add(&msg, ")");
            rc = ferry_err_set(err, FERRY_ERR_CONFLICT, "%s",
                               msg.oom ? "a rename is half done (out of memory)" : msg.p);
            goto out;
        }
    }
out:
    if (rc != FERRY_OK)
        dns_plan_cleanup(plan);
    ferry_buf_cleanup(&msg);
    free(chain);
    free(has);
    return rc;
}

void dns_plan_cleanup(dns_plan *plan)
{
    if (plan == NULL)
        return;
    free(plan->moves);
    memset(plan, 0, sizeof(*plan));
}
