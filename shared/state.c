/* state.c - Ferry's state in Redis: key names and the domain operations (see ferry/state.h;
 * the layout is in state_keys.h). */
#include "ferry/state.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/buf.h"
#include "state_keys.h"

#define STATES_MAX 16
#define FIELDS_MAX 64
#define RANGE_MAX  10000

const char *const state_queued_kinds[4] = {"dump_restore", "file_sync", "dns", "app"};

/* ------------------------------------------------------------------ helpers */

/* Printable ASCII without space; no braces when braces is false. */
bool state_name_ok(const char *s, size_t max, bool braces)
{
    size_t n = s != NULL ? strlen(s) : 0;
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f || (!braces && (c == '{' || c == '}')))
            return false;
    }
    return true;
}

static void i64_text(int64_t v, char *buf, size_t bufsz)
{
    (void)snprintf(buf, bufsz, "%" PRId64, v);
}

bool state_parse_i64(const char *s, int64_t *out)
{
    if (s == NULL || s[0] == '\0') {
        *out = 0;
        return true;
    }
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return false;
    *out = (int64_t)v;
    return true;
}

/* Sends a command given as NULL-terminated strings (at most 16); retry as for
 * ferry_store_command(). */
static ferry_rc rcall(ferry_store *store, bool retry, ferry_store_reply **out, ferry_err *err, ...)
{
    const char *argv[16];
    size_t argc = 0;
    va_list ap;
    va_start(ap, err);
    for (const char *a = va_arg(ap, const char *); a != NULL && argc < 16;
         a = va_arg(ap, const char *))
        argv[argc++] = a;
    va_end(ap);
    return ferry_store_command(store, retry, argc, argv, NULL, out, err);
}

void ferry_state_list_cleanup(ferry_state_list *list)
{
    if (list == NULL)
        return;
    for (size_t i = 0; i < list->count; i++)
        free(list->items[i]);
    free(list->items);
    list->items = NULL;
    list->count = 0;
}

/* Copies the strings of an array reply (every step-th element from first) into out. */
static ferry_rc list_from_reply(const ferry_store_reply *r, size_t first, size_t step,
                                ferry_state_list *out, ferry_err *err)
{
    memset(out, 0, sizeof(*out));
    if (r == NULL || r->type != FERRY_STORE_REPLY_ARRAY)
        return ferry_err_set(err, FERRY_ERR_PROTOCOL, "redis: expected a list");
    size_t n = r->count > first ? (r->count - first + step - 1) / step : 0;
    if (n == 0)
        return FERRY_OK;
    out->items = calloc(n, sizeof(*out->items));
    if (out->items == NULL)
        return ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
    for (size_t i = first; i < r->count; i += step) {
        const char *s = ferry_store_reply_str(r->elements[i]);
        if (s != NULL && (out->items[out->count] = strdup(s)) == NULL) {
            ferry_state_list_cleanup(out);
            return ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
        }
        out->count++;
    }
    return FERRY_OK;
}

/* Runs a command whose reply is a list of strings into out. */
static ferry_rc list_call(ferry_store *store, ferry_state_list *out, ferry_err *err, size_t argc,
                          const char *const *argv)
{
    memset(out, 0, sizeof(*out));
    ferry_store_reply *r = NULL;
    ferry_rc rc = ferry_store_command(store, true, argc, argv, NULL, &r, err);
    if (rc == FERRY_OK)
        rc = list_from_reply(r, 0, 1, out, err);
    ferry_store_reply_free(r);
    return rc;
}

ferry_rc ferry_state_now(ferry_store *store, int64_t *now_ms, ferry_err *err)
{
    ferry_store_reply *reply = NULL;
    ferry_rc rc = rcall(store, true, &reply, err, "TIME", NULL);
    if (rc != FERRY_OK)
        return rc;
    const char *sec = ferry_store_reply_str(ferry_store_reply_at(reply, 0));
    const char *usec = ferry_store_reply_str(ferry_store_reply_at(reply, 1));
    int64_t s = -1, u = -1;
    if (sec == NULL || usec == NULL || !state_parse_i64(sec, &s) || !state_parse_i64(usec, &u) ||
        s < 0 || u < 0)
        rc = ferry_err_set(err, FERRY_ERR_PROTOCOL, "TIME: unexpected reply");
    else
        *now_ms = s * 1000 + u / 1000;
    ferry_store_reply_free(reply);
    return rc;
}

/* ------------------------------------------------------------------ keys */

ferry_rc ferry_state_key(const char *migration, const char *suffix, char *out, size_t outsz,
                         ferry_err *err)
{
    if (!state_name_ok(migration, FERRY_STORE_NAME_MAX, false))
        return ferry_err_set(err, FERRY_ERR_INVALID,
                             "bad migration id: 1..%d printable characters, no space or braces",
                             FERRY_STORE_NAME_MAX);
    if (!state_name_ok(suffix, FERRY_STORE_NAME_MAX, false))
        return ferry_err_set(err, FERRY_ERR_INVALID,
                             "bad key suffix: 1..%d printable characters, no space or braces",
                             FERRY_STORE_NAME_MAX);
    int n = snprintf(out, outsz, "ferry:{%s}:%s", migration, suffix);
    if (n < 0 || (size_t)n >= outsz)
        return ferry_err_set(err, FERRY_ERR_INVALID, "key buffer too small");
    return FERRY_OK;
}

ferry_rc state_key_named(const char *prefix, const char *name, char *out, size_t outsz,
                         ferry_err *err)
{
    if (!state_name_ok(name, outsz, true))
        return ferry_err_set(err, FERRY_ERR_INVALID,
                             "bad name '%.64s' for %s...: printable characters, no space",
                             name != NULL ? name : "", prefix);
    int n = snprintf(out, outsz, "%s%s", prefix, name);
    if (n < 0 || (size_t)n >= outsz)
        return ferry_err_set(err, FERRY_ERR_INVALID, "name too long for %s...: %.64s", prefix,
                             name);
    return FERRY_OK;
}

ferry_rc state_key_step(const char *mig, const char *step, char *out, size_t outsz, ferry_err *err)
{
    char entity[FERRY_STORE_NAME_MAX + 1];
    int n = snprintf(entity, sizeof(entity), STATE_STEP_PREFIX "%s", step != NULL ? step : "");
    if (step == NULL || step[0] == '\0' || n < 0 || (size_t)n >= sizeof(entity))
        return ferry_err_set(err, FERRY_ERR_INVALID, "step id: 1 to %d characters",
                             FERRY_STORE_NAME_MAX - (int)strlen(STATE_STEP_PREFIX));
    return ferry_state_key(mig, entity, out, outsz, err);
}

/* The queue of kind; FERRY_ERR_INVALID for an unknown kind. */
static ferry_rc queued_key(const char *kind, char *out, size_t outsz, ferry_err *err)
{
    for (size_t i = 0; i < sizeof(state_queued_kinds) / sizeof(state_queued_kinds[0]); i++) {
        if (kind != NULL && strcmp(kind, state_queued_kinds[i]) == 0)
            return state_key_named(STATE_QUEUED_PREFIX, kind, out, outsz, err);
    }
    return ferry_err_set(err, FERRY_ERR_INVALID, "no step kind '%.64s'", kind != NULL ? kind : "");
}

/* ------------------------------------------------------------------ records */

ferry_rc ferry_state_record_get(ferry_store *store, const char *migration, const char *entity,
                                ferry_store_record **out, ferry_err *err)
{
    char key[FERRY_STATE_KEY_MAX];
    if (out != NULL)
        *out = NULL;
    ferry_rc rc = ferry_state_key(migration, entity, key, sizeof(key), err);
    if (rc != FERRY_OK)
        return rc;
    return ferry_store_hgetall(store, key, out, err);
}

static ferry_rc change_check(const ferry_state_change *c, ferry_err *err)
{
    if (c == NULL)
        return ferry_err_set(err, FERRY_ERR_INVALID, "transition: no change");
    if (!state_name_ok(c->migration, FERRY_STORE_NAME_MAX, false) ||
        !state_name_ok(c->entity, FERRY_STORE_NAME_MAX, false))
        return ferry_err_set(err, FERRY_ERR_INVALID,
                             "transition: bad migration id or entity (1..%d printable "
                             "characters, no space or braces)",
                             FERRY_STORE_NAME_MAX);
    if (c->n_from == 0 || c->n_from > STATES_MAX || c->from == NULL)
        return ferry_err_set(err, FERRY_ERR_INVALID, "transition: give 1..%d expected states",
                             STATES_MAX);
    for (size_t i = 0; i < c->n_from; i++) {
        if (c->from[i] == NULL ||
            (c->from[i][0] != '\0' && !state_name_ok(c->from[i], FERRY_STORE_NAME_MAX, false)))
            return ferry_err_set(err, FERRY_ERR_INVALID, "transition: bad expected state #%zu",
                                 i + 1);
    }
    if (!state_name_ok(c->to, FERRY_STORE_NAME_MAX, false))
        return ferry_err_set(err, FERRY_ERR_INVALID, "transition: bad new state");
    if (!state_name_ok(c->actor, FERRY_STORE_NAME_MAX, false) ||
        !state_name_ok(c->what, FERRY_STORE_NAME_MAX, false))
        return ferry_err_set(err, FERRY_ERR_INVALID, "transition: bad actor or event type");
    if (c->expect_attempt < -1 || c->new_attempt < -1)
        return ferry_err_set(err, FERRY_ERR_INVALID, "transition: attempts are >= 0 (-1: none)");
    if (c->n_fields > FIELDS_MAX || (c->n_fields > 0 && c->fields == NULL))
        return ferry_err_set(err, FERRY_ERR_INVALID, "transition: at most %d extra fields",
                             FIELDS_MAX);
    for (size_t i = 0; i < c->n_fields; i++) {
        const char *name = c->fields[i].name;
        if (!state_name_ok(name, FERRY_STORE_NAME_MAX, false) || c->fields[i].value == NULL)
            return ferry_err_set(err, FERRY_ERR_INVALID, "transition: bad field #%zu", i + 1);
        if (strcmp(name, "state") == 0 || strcmp(name, "attempt") == 0 ||
            strcmp(name, "updated_at") == 0)
            return ferry_err_set(err, FERRY_ERR_INVALID,
                                 "transition: field '%s' is set by the transition itself", name);
    }
    return FERRY_OK;
}

/* "'pending'|(absent)" for messages. */
static void states_text(const ferry_state_change *c, ferry_buf *out)
{
    for (size_t i = 0; i < c->n_from; i++) {
        const char *s = c->from[i];
        ferry_buf_addf(out, "%s%s%s%s", i > 0 ? "|" : "", s[0] ? "'" : "", s[0] ? s : "(absent)",
                       s[0] ? "'" : "");
    }
}

/* Whether r is an array of n strings. */
static bool strings_reply(const ferry_store_reply *r, size_t n)
{
    if (r == NULL || r->type != FERRY_STORE_REPLY_ARRAY || r->count != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (r->elements[i]->type != FERRY_STORE_REPLY_STR)
            return false;
    }
    return true;
}

ferry_rc ferry_state_transition(ferry_store *store, const ferry_state_change *change,
                                ferry_state_result *res, ferry_err *err)
{
    ferry_state_result local;
    if (res == NULL)
        res = &local;
    memset(res, 0, sizeof(*res));
    ferry_rc rc = change_check(change, err);
    if (rc != FERRY_OK)
        return rc;
    if (store == NULL)
        return ferry_err_set(err, FERRY_ERR_INVALID, "transition: no store");

    char record[FERRY_STATE_KEY_MAX], history[FERRY_STATE_KEY_MAX];
    char expect[24] = "", next[24] = "", ev_max[24], hist_max[24], n_from[24];
    rc = ferry_state_key(change->migration, change->entity, record, sizeof(record), err);
    if (rc == FERRY_OK)
        rc = ferry_state_key(change->migration, STATE_MIG_HISTORY, history, sizeof(history), err);
    if (rc != FERRY_OK)
        return rc;
    if (change->expect_attempt >= 0)
        i64_text(change->expect_attempt, expect, sizeof(expect));
    if (change->new_attempt >= 0)
        i64_text(change->new_attempt, next, sizeof(next));
    i64_text(FERRY_STATE_EVENTS_MAXLEN, ev_max, sizeof(ev_max));
    i64_text(FERRY_STATE_HISTORY_MAXLEN, hist_max, sizeof(hist_max));
    (void)snprintf(n_from, sizeof(n_from), "%zu", change->n_from);

    const char *keys[] = {record, history, STATE_EVENTS};
    const char *args[10 + STATES_MAX + 2 * FIELDS_MAX];
    size_t n = 0;
    args[n++] = change->migration;
    args[n++] = change->entity;
    args[n++] = expect;
    args[n++] = change->to;
    args[n++] = next;
    args[n++] = change->actor;
    args[n++] = change->what;
    args[n++] = ev_max;
    args[n++] = hist_max;
    args[n++] = n_from;
    for (size_t i = 0; i < change->n_from; i++)
        args[n++] = change->from[i];
    for (size_t i = 0; i < change->n_fields; i++) {
        args[n++] = change->fields[i].name;
        args[n++] = change->fields[i].value;
    }
    ferry_store_reply *reply = NULL;
    /* Not retried on a lost connection: the script may have run. */
    rc = ferry_store_script(store, "transition", false, 3, keys, n, args, &reply, err);
    if (rc != FERRY_OK) {
        (void)ferry_err_prefix(err, "transition of %s to '%s'", record, change->to);
        goto out;
    }
    const char *tag = ferry_store_reply_str(ferry_store_reply_at(reply, 0));
    if (strings_reply(reply, 5) && strcmp(tag, "ok") == 0) {
        const char *ev = reply->elements[1]->str, *hist = reply->elements[2]->str;
        const char *at = reply->elements[3]->str;
        if (strlen(ev) < sizeof(res->event_id) && strlen(hist) < sizeof(res->history_id) &&
            strlen(at) < sizeof(res->at) &&
            state_parse_i64(reply->elements[4]->str, &res->attempt)) {
            (void)snprintf(res->event_id, sizeof(res->event_id), "%s", ev);
            (void)snprintf(res->history_id, sizeof(res->history_id), "%s", hist);
            (void)snprintf(res->at, sizeof(res->at), "%s", at);
            (void)snprintf(res->state, sizeof(res->state), "%s", change->to);
            goto out;
        }
    } else if (strings_reply(reply, 3) && strcmp(tag, "conflict") == 0) {
        const char *state = reply->elements[1]->str, *attempt = reply->elements[2]->str;
        (void)snprintf(res->state, sizeof(res->state), "%s", state);
        if (!state_parse_i64(attempt, &res->attempt))
            res->attempt = -1;
        ferry_buf want = {0};
        states_text(change, &want);
        char want_attempt[48] = "";
        if (change->expect_attempt >= 0)
            (void)snprintf(want_attempt, sizeof(want_attempt), " at attempt %" PRId64,
                           change->expect_attempt);
        rc =
            ferry_err_set(err, FERRY_ERR_CONFLICT,
                          "transition of %s to '%s' refused: it is %s%.128s%s at attempt %.20s, "
                          "expected %s%s",
                          record, change->to, state[0] ? "'" : "", state[0] ? state : "(absent)",
                          state[0] ? "'" : "", attempt, want.p != NULL ? want.p : "", want_attempt);
        ferry_buf_cleanup(&want);
        goto out;
    }
    rc =
        ferry_err_set(err, FERRY_ERR_PROTOCOL, "redis: transition of %s: unexpected reply", record);
out:
    ferry_store_reply_free(reply);
    return rc;
}

/* ------------------------------------------------------------------ migrations */

/* A record from a flat name, value list reply. */
static ferry_rc record_from_flat(const ferry_store_reply *flat, ferry_store_record **out)
{
    *out = NULL;
    if (flat == NULL || flat->type != FERRY_STORE_REPLY_ARRAY || flat->count % 2 != 0)
        return FERRY_ERR_PROTOCOL;
    ferry_store_record *rec = calloc(1, sizeof(*rec));
    if (rec == NULL)
        return FERRY_ERR_NOMEM;
    rec->pairs = calloc(flat->count / 2 + 1, sizeof(*rec->pairs));
    if (rec->pairs == NULL) {
        free(rec);
        return FERRY_ERR_NOMEM;
    }
    for (size_t i = 0; i + 1 < flat->count; i += 2) {
        const ferry_store_reply *name = flat->elements[i], *value = flat->elements[i + 1];
        if (name->type != FERRY_STORE_REPLY_STR || value->type != FERRY_STORE_REPLY_STR) {
            ferry_store_record_free(rec);
            return FERRY_ERR_PROTOCOL;
        }
        ferry_store_pair *p = &rec->pairs[rec->count];
        p->name = strdup(name->str);
        p->value = malloc(value->len + 1);
        rec->count++;
        if (p->name == NULL || p->value == NULL) {
            ferry_store_record_free(rec);
            return FERRY_ERR_NOMEM;
        }
        memcpy(p->value, value->str, value->len + 1);
        p->value_len = value->len;
    }
    *out = rec;
    return FERRY_OK;
}

void ferry_state_mig_cleanup(ferry_state_mig *mig)
{
    if (mig == NULL)
        return;
    ferry_store_record_free(mig->rec);
    for (size_t i = 0; i < mig->n_steps; i++)
        ferry_store_record_free(mig->steps[i]);
    free(mig->steps);
    memset(mig, 0, sizeof(*mig));
}

ferry_rc ferry_state_mig_load(ferry_store *store, const char *id, ferry_state_mig *out,
                              ferry_err *err)
{
    memset(out, 0, sizeof(*out));
    char mkey[FERRY_STATE_KEY_MAX], prefix[FERRY_STATE_KEY_MAX];
    ferry_rc rc = ferry_state_key(id, STATE_MIG_RECORD, mkey, sizeof(mkey), err);
    if (rc == FERRY_OK)
        rc = ferry_state_key(id, STATE_STEP_PREFIX, prefix, sizeof(prefix), err);
    if (rc != FERRY_OK)
        return rc;
    const char *keys[] = {mkey};
    const char *args[] = {prefix};
    ferry_store_reply *reply = NULL;
    rc = ferry_store_script(store, "mig_load", true, 1, keys, 1, args, &reply, err);
    if (rc != FERRY_OK)
        return ferry_err_prefix(err, "loading migration %s", id);
    const char *now = ferry_store_reply_str(ferry_store_reply_at(reply, 0));
    const ferry_store_reply *mflat = ferry_store_reply_at(reply, 1);
    if (now == NULL || mflat == NULL || !state_parse_i64(now, &out->now)) {
        rc = ferry_err_set(err, FERRY_ERR_PROTOCOL, "loading migration %s: unexpected reply", id);
        goto out;
    }
    if (mflat->count == 0)
        goto out;
    rc = record_from_flat(mflat, &out->rec);
    if (rc != FERRY_OK) {
        rc = ferry_err_set(err, rc, "loading migration %s: bad record", id);
        goto out;
    }
    if (reply->count > 2) {
        out->steps = calloc(reply->count - 2, sizeof(*out->steps));
        if (out->steps == NULL) {
            rc = ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
            goto out;
        }
    }
    for (size_t i = 2; i < reply->count; i++) {
        rc = record_from_flat(reply->elements[i], &out->steps[out->n_steps]);
        if (rc != FERRY_OK) {
            rc = ferry_err_set(err, rc, "loading migration %s: bad step record", id);
            goto out;
        }
        out->n_steps++;
    }
out:
    ferry_store_reply_free(reply);
    if (rc != FERRY_OK)
        ferry_state_mig_cleanup(out);
    return rc;
}

ferry_rc ferry_state_mig_apply(ferry_store *store, const char *id, const char *actor,
                               const char *plan_json, int64_t *cycle, ferry_err *err)
{
    char k[3][FERRY_STATE_KEY_MAX], q[4][FERRY_STATE_KEY_MAX];
    static const char *const names[] = {STATE_MIG_RECORD, STATE_MIG_HISTORY, STATE_MIG_STEPS};
    ferry_rc rc = FERRY_OK;
    for (size_t i = 0; i < 3 && rc == FERRY_OK; i++)
        rc = ferry_state_key(id, names[i], k[i], sizeof(k[i]), err);
    for (size_t i = 0; i < 4 && rc == FERRY_OK; i++)
        rc = queued_key(state_queued_kinds[i], q[i], sizeof(q[i]), err);
    if (rc != FERRY_OK)
        return rc;
    const char *keys[13] = {k[0],         k[1],         STATE_EVENTS,     k[2], STATE_PENDING,
                            STATE_LEASES, STATE_TIMERS, STATE_MIGRATIONS, q[0], q[1],
                            q[2],         q[3],         STATE_METRICS};
    const char *args[3] = {id, actor, plan_json};
    ferry_store_reply *reply = NULL;
    /* Not retried: it may have run when the connection was lost. The engine re-evaluates. */
    rc = ferry_store_script(store, "mig_apply", false, 13, keys, 3, args, &reply, err);
    if (rc != FERRY_OK)
        return ferry_err_prefix(err, "applying a plan to %s", id);
    const char *tag = ferry_store_reply_str(ferry_store_reply_at(reply, 0));
    const char *second = ferry_store_reply_str(ferry_store_reply_at(reply, 1));
    const char *why = ferry_store_reply_str(ferry_store_reply_at(reply, 3));
    if (tag != NULL && strcmp(tag, "ok") == 0 && second != NULL) {
        if (cycle != NULL)
            *cycle = strtoll(second, NULL, 10);
    } else if (tag != NULL && strcmp(tag, "conflict") == 0 && second != NULL && why != NULL) {
        rc = ferry_err_set(err, FERRY_ERR_CONFLICT, "%s is %s now (%s changed meanwhile)", id,
                           second[0] != '\0' ? second : "absent", why);
    } else {
        rc = ferry_err_set(err, FERRY_ERR_PROTOCOL, "applying a plan to %s: unexpected reply", id);
    }
    ferry_store_reply_free(reply);
    return rc;
}

ferry_rc ferry_state_mig_fields(ferry_store *store, const char *id, const char *const *names,
                                size_t n, ferry_state_list *out, ferry_err *err)
{
    memset(out, 0, sizeof(*out));
    char key[FERRY_STATE_KEY_MAX];
    if (n == 0 || n > 14)
        return ferry_err_set(err, FERRY_ERR_INVALID, "migration fields: 1 to 14 at a time");
    ferry_rc rc = ferry_state_key(id, STATE_MIG_RECORD, key, sizeof(key), err);
    if (rc != FERRY_OK)
        return rc;
    const char *argv[16] = {"HMGET", key};
    for (size_t i = 0; i < n; i++)
        argv[2 + i] = names[i];
    return list_call(store, out, err, 2 + n, argv);
}

ferry_rc ferry_state_migrations(ferry_store *store, ferry_state_list *out, ferry_err *err)
{
    const char *argv[] = {"SORT", STATE_MIGRATIONS, "ALPHA"};
    return list_call(store, out, err, 3, argv);
}

ferry_rc ferry_state_step_ids(ferry_store *store, const char *id, size_t max, ferry_state_list *out,
                              ferry_err *err)
{
    memset(out, 0, sizeof(*out));
    char key[FERRY_STATE_KEY_MAX], last[24];
    ferry_rc rc = ferry_state_key(id, STATE_MIG_STEPS, key, sizeof(key), err);
    if (rc != FERRY_OK)
        return rc;
    i64_text(max > 0 ? (int64_t)max - 1 : -1, last, sizeof(last));
    const char *argv[] = {"ZRANGE", key, "0", last};
    return list_call(store, out, err, 4, argv);
}

ferry_rc ferry_state_step_get(ferry_store *store, const char *id, const char *step,
                              ferry_store_record **out, ferry_err *err)
{
    char key[FERRY_STATE_KEY_MAX];
    if (out != NULL)
        *out = NULL;
    ferry_rc rc = state_key_step(id, step, key, sizeof(key), err);
    if (rc != FERRY_OK)
        return rc;
    return ferry_store_hgetall(store, key, out, err);
}

ferry_rc ferry_state_history(ferry_store *store, const char *id, size_t count,
                             ferry_store_entries **out, ferry_err *err)
{
    char key[FERRY_STATE_KEY_MAX];
    *out = NULL;
    ferry_rc rc = ferry_state_key(id, STATE_MIG_HISTORY, key, sizeof(key), err);
    if (rc != FERRY_OK)
        return rc;
    return ferry_store_range(store, key, true, "+", "-", count, out, err);
}

/* ------------------------------------------------------------------ apps */

static ferry_rc app_key(const char *app, char *out, size_t outsz, ferry_err *err)
{
    return state_key_named(STATE_APP_PREFIX, app, out, outsz, err);
}

ferry_rc ferry_state_app_create(ferry_store *store, const char *app, const char *spec,
                                const char *environments, int64_t created_at, bool *created,
                                ferry_err *err)
{
    char key[FERRY_STATE_KEY_MAX], at[24];
    *created = false;
    ferry_rc rc = app_key(app, key, sizeof(key), err);
    if (rc != FERRY_OK)
        return rc;
    i64_text(created_at, at, sizeof(at));
    const char *keys[] = {key, STATE_APPS};
    const char *args[] = {app, spec, environments, at};
    ferry_store_reply *r = NULL;
    /* One script: an app is stored whole or not at all, and two creations race on it alone. */
    rc = ferry_store_script(store, "app_create", false, 2, keys, 4, args, &r, err);
    if (rc == FERRY_OK)
        *created = r->type == FERRY_STORE_REPLY_INT && r->integer == 1;
    ferry_store_reply_free(r);
    return rc;
}

void ferry_state_app_cleanup(ferry_state_app *app)
{
    if (app == NULL)
        return;
    free(app->spec);
    free(app->environments);
    memset(app, 0, sizeof(*app));
}

ferry_rc ferry_state_app_get(ferry_store *store, const char *app, ferry_state_app *out,
                             ferry_err *err)
{
    memset(out, 0, sizeof(*out));
    char key[FERRY_STATE_KEY_MAX];
    ferry_rc rc = app_key(app, key, sizeof(key), err);
    if (rc != FERRY_OK)
        return rc == FERRY_ERR_INVALID
                   ? ferry_err_set(err, FERRY_ERR_NOT_FOUND, "no app %.64s", app != NULL ? app : "")
                   : rc;
    ferry_state_list v = {0};
    const char *argv[] = {"HMGET", key, "spec", "environments", "created_at"};
    rc = list_call(store, &v, err, 5, argv);
    if (rc != FERRY_OK)
        return rc;
    if (v.count != 3 || v.items[0] == NULL || v.items[1] == NULL) {
        ferry_state_list_cleanup(&v);
        return ferry_err_set(err, FERRY_ERR_NOT_FOUND, "no app %s", app);
    }
    out->spec = v.items[0];
    out->environments = v.items[1];
    v.items[0] = v.items[1] = NULL;
    (void)state_parse_i64(v.items[2], &out->created_at);
    ferry_state_list_cleanup(&v);
    return FERRY_OK;
}

ferry_rc ferry_state_apps(ferry_store *store, ferry_state_list *out, ferry_err *err)
{
    const char *argv[] = {"SORT", STATE_APPS, "ALPHA"};
    return list_call(store, out, err, 3, argv);
}

ferry_rc ferry_state_app_delete(ferry_store *store, const char *app, const char *const *migs,
                                size_t n, const char *const *deletable, size_t n_deletable,
                                ferry_err *err)
{
    if (n > FERRY_STATE_APP_MIGS_MAX || n_deletable > 32 || (n > 0 && migs == NULL) ||
        (n_deletable > 0 && deletable == NULL))
        return ferry_err_set(err, FERRY_ERR_INVALID,
                             "app delete: at most %d migrations and 32 states",
                             FERRY_STATE_APP_MIGS_MAX);
    char app_k[FERRY_STATE_KEY_MAX], n_text[24];
    char(*mk)[3][FERRY_STATE_KEY_MAX] = calloc(n + 1, sizeof(*mk));
    char(*prefix)[FERRY_STATE_KEY_MAX] = calloc(n + 1, sizeof(*prefix));
    const char **keys = calloc(4 + 3 * n, sizeof(*keys));
    const char **args = calloc(2 + n_deletable + 2 * n, sizeof(*args));
    ferry_store_reply *r = NULL;
    ferry_rc rc = FERRY_OK;
    if (mk == NULL || prefix == NULL || keys == NULL || args == NULL) {
        rc = ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
        goto out;
    }
    rc = app_key(app, app_k, sizeof(app_k), err);
    static const char *const names[] = {STATE_MIG_RECORD, STATE_MIG_STEPS, STATE_MIG_HISTORY};
    for (size_t i = 0; rc == FERRY_OK && i < n; i++) {
        for (size_t k = 0; rc == FERRY_OK && k < 3; k++)
            rc = ferry_state_key(migs[i], names[k], mk[i][k], sizeof(mk[i][k]), err);
        if (rc == FERRY_OK)
            rc = ferry_state_key(migs[i], STATE_STEP_PREFIX, prefix[i], sizeof(prefix[i]), err);
    }
    for (size_t i = 0; rc == FERRY_OK && i < n_deletable; i++) {
        if (!state_name_ok(deletable[i], FERRY_STORE_NAME_MAX, false))
            rc = ferry_err_set(err, FERRY_ERR_INVALID, "app delete: bad state #%zu", i + 1);
    }
    if (rc != FERRY_OK)
        goto out;
    size_t nk = 0, na = 0;
    keys[nk++] = app_k;
    keys[nk++] = STATE_APPS;
    keys[nk++] = STATE_MIGRATIONS;
    keys[nk++] = STATE_TIMERS;
    (void)snprintf(n_text, sizeof(n_text), "%zu", n_deletable);
    args[na++] = app;
    args[na++] = n_text;
    for (size_t i = 0; i < n_deletable; i++)
        args[na++] = deletable[i];
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < 3; k++)
            keys[nk++] = mk[i][k];
        args[na++] = migs[i];
        args[na++] = prefix[i];
    }
    /* Not retried: it may have run. Asking again after a lost connection is harmless. */
    rc = ferry_store_script(store, "app_delete", false, nk, keys, na, args, &r, err);
    if (rc != FERRY_OK)
        goto out;
    const char *tag = ferry_store_reply_str(ferry_store_reply_at(r, 0));
    const char *mig = ferry_store_reply_str(ferry_store_reply_at(r, 1));
    const char *state = ferry_store_reply_str(ferry_store_reply_at(r, 2));
    if (tag != NULL && strcmp(tag, "conflict") == 0 && mig != NULL && state != NULL)
        rc = ferry_err_set(err, FERRY_ERR_CONFLICT, "cannot delete %s: %s is %s", app, mig, state);
    else if (tag == NULL || strcmp(tag, "ok") != 0)
        rc = ferry_err_set(err, FERRY_ERR_PROTOCOL, "deleting app %s: unexpected reply", app);
out:
    ferry_store_reply_free(r);
    free(mk);
    free(prefix);
    free(keys);
    free(args);
    return rc;
}

/* ------------------------------------------------------------------ queues */

static const char *index_key(ferry_state_index index)
{
    switch (index) {
    case FERRY_STATE_PENDING:
        return STATE_PENDING;
    case FERRY_STATE_LEASES:
        return STATE_LEASES;
    case FERRY_STATE_TIMERS:
        return STATE_TIMERS;
    }
    return NULL;
}

/* Members of zset key scored at or before until, at most max. */
static ferry_rc zset_due(ferry_store *store, const char *key, int64_t until, size_t max,
                         ferry_state_list *out, ferry_err *err)
{
    char u[24], m[24];
    i64_text(until, u, sizeof(u));
    (void)snprintf(m, sizeof(m), "%zu", max > 0 ? max : 1);
    const char *argv[] = {"ZRANGEBYSCORE", key, "-inf", u, "LIMIT", "0", m};
    return list_call(store, out, err, 7, argv);
}

ferry_rc ferry_state_due(ferry_store *store, ferry_state_index index, int64_t until, size_t max,
                         ferry_state_list *out, ferry_err *err)
{
    const char *key = index_key(index);
    if (key == NULL)
        return ferry_err_set(err, FERRY_ERR_INVALID, "no such index");
    return zset_due(store, key, until, max, out, err);
}

ferry_rc ferry_state_drop(ferry_store *store, ferry_state_index index, const char *member,
                          ferry_err *err)
{
    const char *key = index_key(index);
    if (key == NULL || member == NULL)
        return ferry_err_set(err, FERRY_ERR_INVALID, "no such index or member");
    return rcall(store, true, NULL, err, "ZREM", key, member, NULL);
}

ferry_rc ferry_state_queued_due(ferry_store *store, const char *kind, int64_t until, size_t max,
                                ferry_state_list *out, ferry_err *err)
{
    char key[FERRY_STATE_KEY_MAX];
    memset(out, 0, sizeof(*out));
    ferry_rc rc = queued_key(kind, key, sizeof(key), err);
    return rc != FERRY_OK ? rc : zset_due(store, key, until, max, out, err);
}

ferry_rc ferry_state_queued_count(ferry_store *store, const char *kind, int64_t *n, ferry_err *err)
{
    char key[FERRY_STATE_KEY_MAX];
    *n = 0;
    ferry_rc rc = queued_key(kind, key, sizeof(key), err);
    if (rc != FERRY_OK)
        return rc;
    ferry_store_reply *r = NULL;
    rc = rcall(store, true, &r, err, "ZCARD", key, NULL);
    if (rc == FERRY_OK)
        *n = r->integer;
    ferry_store_reply_free(r);
    return rc;
}

ferry_rc ferry_state_queued_touch(ferry_store *store, const char *kind, const char *member,
                                  int64_t at, ferry_err *err)
{
    char key[FERRY_STATE_KEY_MAX], a[24];
    ferry_rc rc = queued_key(kind, key, sizeof(key), err);
    if (rc != FERRY_OK)
        return rc;
    i64_text(at, a, sizeof(a));
    return rcall(store, true, NULL, err, "ZADD", key, "XX", a, member, NULL);
}

ferry_rc ferry_state_queued_drop(ferry_store *store, const char *kind, const char *member,
                                 ferry_err *err)
{
    char key[FERRY_STATE_KEY_MAX];
    ferry_rc rc = queued_key(kind, key, sizeof(key), err);
    return rc != FERRY_OK ? rc : rcall(store, true, NULL, err, "ZREM", key, member, NULL);
}

/* ------------------------------------------------------------------ limits */

ferry_rc ferry_state_limits_acquire(ferry_store *store, const char *mig, const char *step,
                                    const ferry_state_limit *limits, size_t n, int64_t now,
                                    bool *got, ferry_err *err)
{
    *got = false;
    if (n == 0 || n > 3)
        return ferry_err_set(err, FERRY_ERR_INVALID, "limits: 1 to 3 at a time");
    char keys[3][FERRY_STATE_KEY_MAX], sizes[3][24], at[24], skey[FERRY_STATE_KEY_MAX];
    ferry_buf holder = {0}, names = {0};
    ferry_rc rc = state_key_step(mig, step, skey, sizeof(skey), err);
    for (size_t i = 0; rc == FERRY_OK && i < n; i++) {
        ferry_buf name = {0};
        ferry_buf_addf(&name, "%s:%s", limits[i].scope, limits[i].name);
        rc = name.oom ? ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory")
                      : state_key_named(STATE_LIMIT_PREFIX, name.p, keys[i], sizeof(keys[i]), err);
        ferry_buf_cleanup(&name);
        i64_text(limits[i].size, sizes[i], sizeof(sizes[i]));
        if (rc == FERRY_OK)
            ferry_buf_addf(&names, "%s%s", i ? " " : "", keys[i]);
    }
    ferry_buf_addf(&holder, "%s %s", mig, step);
    if (rc == FERRY_OK && (holder.oom || names.oom))
        rc = ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
    if (rc == FERRY_OK) {
        i64_text(now, at, sizeof(at));
        const char *lkeys[4] = {STATE_LIMIT_KEYS, keys[0], keys[1], keys[2]};
        const char *args[5] = {holder.p, at, sizes[0], sizes[1], sizes[2]};
        ferry_store_reply *r = NULL;
        rc = ferry_store_script(store, "limit_acquire", true, 1 + n, lkeys, 2 + n, args, &r, err);
        *got = rc == FERRY_OK && ferry_store_reply_at(r, 0) != NULL &&
               ferry_store_reply_at(r, 0)->integer == 1;
        ferry_store_reply_free(r);
    }
    /* Recorded on the step, so that its end gives them back. */
    if (*got)
        rc = rcall(store, true, NULL, err, "HSET", skey, "limits", names.p, NULL);
    ferry_buf_cleanup(&holder);
    ferry_buf_cleanup(&names);
    return rc;
}

ferry_rc ferry_state_limits_release(ferry_store *store, const char *mig, const char *step,
                                    ferry_err *err)
{
    char skey[FERRY_STATE_KEY_MAX];
    ferry_rc rc = state_key_step(mig, step, skey, sizeof(skey), err);
    if (rc != FERRY_OK)
        return rc;
    ferry_store_reply *r = NULL;
    rc = rcall(store, true, &r, err, "HGET", skey, "limits", NULL);
    if (rc != FERRY_OK)
        return rc;
    const char *limits = ferry_store_reply_str(r);
    ferry_buf holder = {0};
    ferry_buf_addf(&holder, "%s %s", mig, step);
    for (const char *p = limits != NULL ? limits : ""; rc == FERRY_OK && *p != '\0';) {
        size_t len = strcspn(p, " ");
        char *key = len > 0 ? strndup(p, len) : NULL;
        if (len > 0 && (key == NULL || holder.oom))
            rc = ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
        else if (key != NULL && strncmp(key, STATE_LIMIT_PREFIX, strlen(STATE_LIMIT_PREFIX)) == 0)
            rc = rcall(store, true, NULL, err, "ZREM", key, holder.p, NULL);
        free(key);
        p += len;
        if (*p == ' ')
            p++;
    }
    ferry_buf_cleanup(&holder);
    ferry_store_reply_free(r);
    return rc;
}

/* Whether holder "<mig> <step>" names a step that has ended or no longer exists (one that
 * cannot be read now is kept: the next sweep looks again). */
static bool holder_ended(ferry_store *store, const char *holder, bool (*ended)(const char *state))
{
    ferry_err err = {0};
    const char *sp = strchr(holder, ' ');
    if (sp == NULL)
        return true;
    char *mig = strndup(holder, (size_t)(sp - holder));
    if (mig == NULL)
        return false;
    char skey[FERRY_STATE_KEY_MAX];
    ferry_rc rc = state_key_step(mig, sp + 1, skey, sizeof(skey), &err);
    free(mig);
    if (rc != FERRY_OK)
        return true;
    ferry_store_reply *st = NULL;
    if (rcall(store, true, &st, &err, "HGET", skey, "state", NULL) != FERRY_OK)
        return false;
    const char *s = ferry_store_reply_str(st);
    bool gone = s == NULL || ended(s);
    ferry_store_reply_free(st);
    return gone;
}

ferry_rc ferry_state_limits_sweep(ferry_store *store, bool (*ended)(const char *state),
                                  ferry_err *err)
{
    ferry_state_list keys = {0};
    const char *argv[] = {"SMEMBERS", STATE_LIMIT_KEYS};
    ferry_rc rc = list_call(store, &keys, err, 2, argv);
    for (size_t i = 0; rc == FERRY_OK && i < keys.count; i++) {
        ferry_state_list holders = {0};
        if (keys.items[i] == NULL)
            continue;
        const char *hv[] = {"ZRANGE", keys.items[i], "0", "-1"};
        if (list_call(store, &holders, err, 4, hv) != FERRY_OK)
            continue;
        for (size_t j = 0; j < holders.count; j++) {
            if (holders.items[j] != NULL && holder_ended(store, holders.items[j], ended))
                (void)rcall(store, true, NULL, err, "ZREM", keys.items[i], holders.items[j], NULL);
        }
        ferry_state_list_cleanup(&holders);
    }
    ferry_state_list_cleanup(&keys);
    return rc;
}

/* ------------------------------------------------------------------ leader */

ferry_rc ferry_state_lead(ferry_store *store, const char *instance, int64_t lease_ms, bool *leading,
                          char *holder, size_t holdersz, ferry_err *err)
{
    char lease[24];
    i64_text(lease_ms, lease, sizeof(lease));
    const char *keys[] = {STATE_LEADER};
    const char *args[] = {instance, lease};
    ferry_store_reply *r = NULL;
    ferry_rc rc = ferry_store_script(store, "leader", false, 1, keys, 2, args, &r, err);
    if (rc != FERRY_OK)
        return rc;
    *leading = ferry_store_reply_at(r, 0) != NULL && ferry_store_reply_at(r, 0)->integer == 1;
    const char *who = ferry_store_reply_str(ferry_store_reply_at(r, 1));
    if (holder != NULL && holdersz > 0)
        (void)snprintf(holder, holdersz, "%s", who != NULL ? who : "?");
    ferry_store_reply_free(r);
    return FERRY_OK;
}

/* ------------------------------------------------------------------ events */

ferry_rc ferry_state_events_join(ferry_store *store, const char *group, ferry_err *err)
{
    return ferry_store_group_create(store, STATE_EVENTS, group, "0", err);
}

ferry_rc ferry_state_events_read(ferry_store *store, const char *group, const char *consumer,
                                 bool pending, size_t count, int block_ms,
                                 ferry_store_entries **out, ferry_err *err)
{
    return ferry_store_group_read(store, STATE_EVENTS, group, consumer, pending ? "0" : ">", count,
                                  block_ms, out, err);
}

ferry_rc ferry_state_events_ack(ferry_store *store, const char *group, const char *id,
                                ferry_err *err)
{
    return ferry_store_ack(store, STATE_EVENTS, group, id, err);
}

const char *ferry_state_event_step(const ferry_store_record *event)
{
    const char *entity = ferry_store_record_value(event, "entity");
    size_t n = strlen(STATE_STEP_PREFIX);
    if (entity == NULL || strncmp(entity, STATE_STEP_PREFIX, n) != 0 || entity[n] == '\0')
        return NULL;
    return entity + n;
}

/* ------------------------------------------------------------------ workers */

ferry_rc ferry_state_worker_beat(ferry_store *store, const ferry_state_beat *b, ferry_err *err)
{
    char key[FERRY_STATE_KEY_MAX], capacity[24], running[24], pid[24], started[24], at[24];
    char expire[24];
    ferry_rc rc = state_key_named(STATE_WORKER_PREFIX, b->id, key, sizeof(key), err);
    if (rc != FERRY_OK)
        return rc;
    (void)snprintf(capacity, sizeof(capacity), "%zu", b->capacity);
    (void)snprintf(running, sizeof(running), "%zu", b->running);
    (void)snprintf(pid, sizeof(pid), "%ld", b->pid);
    i64_text(b->started_at, started, sizeof(started));
    i64_text(b->at, at, sizeof(at));
    i64_text(b->expire_ms, expire, sizeof(expire));
    const char *hset[] = {"HSET",       key,        "kind",
                          b->kind,      "capacity", capacity,
                          "running",    running,    "host",
                          b->host,      "pid",      pid,
                          "started_at", started,    "heartbeat_at",
                          at,           "steps",    b->steps != NULL ? b->steps : ""};
    rc = ferry_store_command(store, true, sizeof(hset) / sizeof(hset[0]), hset, NULL, NULL, err);
    if (rc == FERRY_OK)
        rc = rcall(store, true, NULL, err, "PEXPIRE", key, expire, NULL);
    if (rc == FERRY_OK)
        rc = rcall(store, true, NULL, err, "ZADD", STATE_WORKERS, at, b->id, NULL);
    return rc;
}

ferry_rc ferry_state_worker_gone(ferry_store *store, const char *id, ferry_err *err)
{
    char key[FERRY_STATE_KEY_MAX];
    ferry_rc rc = state_key_named(STATE_WORKER_PREFIX, id, key, sizeof(key), err);
    if (rc == FERRY_OK)
        rc = rcall(store, true, NULL, err, "ZREM", STATE_WORKERS, id, NULL);
    if (rc == FERRY_OK)
        rc = rcall(store, true, NULL, err, "DEL", key, NULL);
    return rc;
}

void ferry_state_workers_cleanup(ferry_state_workers *w)
{
    if (w == NULL)
        return;
    for (size_t i = 0; i < w->count; i++) {
        free(w->items[i].id);
        ferry_store_record_free(w->items[i].rec);
    }
    free(w->items);
    memset(w, 0, sizeof(*w));
}

ferry_rc ferry_state_workers_since(ferry_store *store, int64_t since, ferry_state_workers *out,
                                   ferry_err *err)
{
    memset(out, 0, sizeof(*out));
    char s[24];
    i64_text(since, s, sizeof(s));
    ferry_store_reply *ids = NULL;
    ferry_rc rc = rcall(store, true, &ids, err, "ZRANGEBYSCORE", STATE_WORKERS, s, "+inf",
                        "WITHSCORES", NULL);
    if (rc != FERRY_OK)
        return rc;
    if (ids->count >= 2) {
        out->items = calloc(ids->count / 2, sizeof(*out->items));
        if (out->items == NULL)
            rc = ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; rc == FERRY_OK && i + 1 < ids->count; i += 2) {
        const char *id = ferry_store_reply_str(ids->elements[i]);
        const char *beat = ferry_store_reply_str(ids->elements[i + 1]);
        char key[FERRY_STATE_KEY_MAX];
        if (id == NULL ||
            state_key_named(STATE_WORKER_PREFIX, id, key, sizeof(key), err) != FERRY_OK)
            continue;
        ferry_state_worker *w = &out->items[out->count];
        w->id = strdup(id);
        if (w->id == NULL) {
            rc = ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
            break;
        }
        out->count++;
        w->heartbeat_at = beat != NULL ? strtoll(beat, NULL, 10) : 0;
        ferry_rc got = ferry_store_hgetall(store, key, &w->rec, err);
        if (got != FERRY_OK && got != FERRY_ERR_NOT_FOUND)
            rc = got;
    }
    ferry_store_reply_free(ids);
    if (rc != FERRY_OK)
        ferry_state_workers_cleanup(out);
    return rc;
}

ferry_rc ferry_state_workers_forget(ferry_store *store, int64_t before, ferry_err *err)
{
    char b[24];
    i64_text(before, b, sizeof(b));
    return rcall(store, true, NULL, err, "ZREMRANGEBYSCORE", STATE_WORKERS, "-inf", b, NULL);
}

/* ------------------------------------------------------------------ dead letters */

ferry_rc ferry_state_dead_letter_add(ferry_store *store, const ferry_state_dead_letter *dl,
                                     ferry_err *err)
{
    char maxlen[24], partition[24], offset[24], at[24];
    i64_text(FERRY_STATE_DEAD_LETTERS_MAXLEN, maxlen, sizeof(maxlen));
    i64_text(dl->partition, partition, sizeof(partition));
    i64_text(dl->offset, offset, sizeof(offset));
    i64_text(dl->at, at, sizeof(at));
    const char *argv[] = {"XADD",      STATE_DEAD_LETTERS,
                          "MAXLEN",    "~",
                          maxlen,      "*",
                          "topic",     dl->topic != NULL ? dl->topic : "",
                          "partition", partition,
                          "offset",    offset,
                          "key",       dl->key != NULL ? dl->key : "",
                          "reason",    dl->reason != NULL ? dl->reason : "",
                          "consumer",  dl->consumer != NULL ? dl->consumer : "",
                          "at",        at,
                          "payload",   dl->payload != NULL ? dl->payload : ""};
    enum { KEY = 13 };
    size_t n = sizeof(argv) / sizeof(argv[0]);
    size_t lens[sizeof(argv) / sizeof(argv[0])];
    /* key and payload are bytes (not NUL-terminated): their lengths come from the message, and
     * strlen never looks at them. */
    for (size_t i = 0; i < n; i++) {
        if (i == KEY)
            lens[i] = dl->key != NULL ? dl->key_len : 0;
        else if (i == n - 1)
            lens[i] = dl->payload != NULL ? dl->payload_len : 0;
        else
            lens[i] = strlen(argv[i]);
    }
    return ferry_store_command(store, false, n, argv, lens, NULL, err);
}

ferry_rc ferry_state_dead_letters(ferry_store *store, size_t count, ferry_store_entries **out,
                                  ferry_err *err)
{
    return ferry_store_range(store, STATE_DEAD_LETTERS, true, "+", "-", count, out, err);
}

/* Whether id is a whole stream entry id, "<ms>-<seq>" (XRANGE would also take "<ms>"). */
static bool entry_id_ok(const char *id)
{
    size_t ms = id != NULL ? strspn(id, "0123456789") : 0;
    if (ms == 0 || ms > 20 || id[ms] != '-')
        return false;
    size_t seq = strspn(id + ms + 1, "0123456789");
    return seq > 0 && seq <= 20 && id[ms + 1 + seq] == '\0';
}

ferry_rc ferry_state_dead_letter_get(ferry_store *store, const char *id, ferry_store_entries **out,
                                     ferry_err *err)
{
    *out = NULL;
    if (!entry_id_ok(id))
        return ferry_err_set(err, FERRY_ERR_NOT_FOUND, "no dead letter %.64s",
                             id != NULL ? id : "");
    ferry_rc rc = ferry_store_range(store, STATE_DEAD_LETTERS, false, id, id, 1, out, err);
    if (rc == FERRY_ERR_INVALID || rc == FERRY_ERR_PROTOCOL)
        return ferry_err_set(err, FERRY_ERR_NOT_FOUND, "no dead letter %.64s", id);
    if (rc == FERRY_OK && (*out)->count == 0) {
        ferry_store_entries_free(*out);
        *out = NULL;
        return ferry_err_set(err, FERRY_ERR_NOT_FOUND, "no dead letter %.64s", id);
    }
    return rc;
}

ferry_rc ferry_state_dead_letter_replayed(ferry_store *store, const char *id, int64_t at,
                                          ferry_err *err)
{
    char a[24];
    i64_text(at, a, sizeof(a));
    return rcall(store, true, NULL, err, "HSET", STATE_DEAD_REPLAYED, id, a, NULL);
}

ferry_rc ferry_state_dead_letter_was_replayed(ferry_store *store, const char *id, bool *replayed,
                                              ferry_err *err)
{
    ferry_store_reply *r = NULL;
    *replayed = false;
    ferry_rc rc = rcall(store, true, &r, err, "HEXISTS", STATE_DEAD_REPLAYED, id, NULL);
    if (rc == FERRY_OK)
        *replayed = r->integer == 1;
    ferry_store_reply_free(r);
    return rc;
}

ferry_rc ferry_state_dead_letters_count(ferry_store *store, int64_t *held, int64_t *replayed,
                                        ferry_err *err)
{
    ferry_store_reply *r = NULL;
    *held = 0;
    *replayed = 0;
    ferry_rc rc = rcall(store, true, &r, err, "XLEN", STATE_DEAD_LETTERS, NULL);
    if (rc == FERRY_OK)
        *held = r->integer;
    ferry_store_reply_free(r);
    r = NULL;
    if (rc == FERRY_OK)
        rc = rcall(store, true, &r, err, "HLEN", STATE_DEAD_REPLAYED, NULL);
    if (rc == FERRY_OK)
        *replayed = r->integer;
    ferry_store_reply_free(r);
    return rc;
}

/* ------------------------------------------------------------------ metrics */

const int64_t ferry_state_duration_buckets_ms[FERRY_STATE_DURATION_BUCKETS] = {
    1000, 5000, 15000, 60000, 300000, 900000, 3600000};

ferry_rc ferry_state_metrics_get(ferry_store *store, ferry_store_record **out, ferry_err *err)
{
    ferry_rc rc = ferry_store_hgetall(store, STATE_METRICS, out, err);
    if (rc != FERRY_ERR_NOT_FOUND)
        return rc;
    *out = calloc(1, sizeof(**out));
    if (*out == NULL)
        return ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
    return FERRY_OK;
}
