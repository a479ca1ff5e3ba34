/* migstore.c - load a migration for the state machine, and apply its plans (see migstore.h). */
#include "migstore.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/steps.h"

/* ------------------------------------------------------------------ reading */

int64_t migstore_int(const ferry_store_record *rec, const char *name, int64_t def)
{
    const char *v = ferry_store_record_value(rec, name);
    if (v == NULL || v[0] == '\0')
        return def;
    char *end = NULL;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0')
        return def;
    return (int64_t)n;
}

static void copy_field(const ferry_store_record *rec, const char *name, char *out, size_t outsz)
{
    const char *v = ferry_store_record_value(rec, name);
    (void)snprintf(out, outsz, "%s", v != NULL ? v : "");
}

void migstore_step_from_record(const ferry_store_record *rec, fm_step *s)
{
    memset(s, 0, sizeof(*s));
    copy_field(rec, "purpose", s->purpose, sizeof(s->purpose));
    s->cycle = migstore_int(rec, "cycle", 0);
    s->state = fm_sstate_parse(ferry_store_record_value(rec, "state"));
    s->attempt = migstore_int(rec, "attempt", 0);
    s->retries = migstore_int(rec, "retries", 0);
    s->error_code = migstore_int(rec, "error_code", 0);
    const char *r = ferry_store_record_value(rec, "error_retryable");
    s->error_retryable = r != NULL && strcmp(r, "1") == 0;
    copy_field(rec, "error_message", s->error_message, sizeof(s->error_message));
    s->duration_ms = migstore_int(rec, "duration_ms", 0);
    s->finished_at = migstore_int(rec, "finished_at", 0);
    s->rows = migstore_int(rec, "r.rows", -1);
    s->files_total = migstore_int(rec, "r.files_total", -1);
    s->files_synced = migstore_int(rec, "r.files_synced", -1);
    s->bytes_total = migstore_int(rec, "r.bytes_total", -1);
    s->bytes_synced = migstore_int(rec, "r.bytes_synced", -1);
    const char *run = ferry_store_record_value(rec, "r.running");
    s->running = run == NULL ? -1 : strcmp(run, "true") == 0 ? 1 : 0;
    /* The DNS worker remembers each name's old TTL as r.ttl_old.<name>: the highest counts. */
    s->ttl_old = -1;
    for (size_t i = 0; rec != NULL && i < rec->count; i++) {
        const ferry_store_pair *p = &rec->pairs[i];
        if (strncmp(p->name, "r.ttl_old.", 10) != 0)
            continue;
        char *end = NULL;
        long long v = strtoll(p->value, &end, 10);
        if (end != p->value && *end == '\0' && v > s->ttl_old)
            s->ttl_old = (int64_t)v;
    }
}

/* A flat name/value array reply -> a record (owned by the caller). */
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
        const char *name = ferry_store_reply_str(flat->elements[i]);
        const char *value = ferry_store_reply_str(flat->elements[i + 1]);
        if (name == NULL || value == NULL) {
            ferry_store_record_free(rec);
            return FERRY_ERR_PROTOCOL;
        }
        ferry_store_pair *p = &rec->pairs[rec->count];
        p->name = strdup(name);
        p->value = strdup(value);
        rec->count++;
        if (p->name == NULL || p->value == NULL) {
            ferry_store_record_free(rec);
            return FERRY_ERR_NOMEM;
        }
    }
    *out = rec;
    return FERRY_OK;
}

/* The machine's view of a migration record: every field it reads (fm_mig_field_set). */
static void mig_from_record(const char *id, const ferry_store_record *rec, fm_mig *m)
{
    memset(m, 0, sizeof(*m));
    (void)snprintf(m->id, sizeof(m->id), "%s", id);
    for (size_t i = 0; rec != NULL && i < rec->count; i++)
        (void)fm_mig_field_set(m, rec->pairs[i].name, rec->pairs[i].value);
}

const char *migstore_state_text(const migstore_view *view)
{
    const char *v = ferry_store_record_value(view->rec, "state");
    return v != NULL ? v : "";
}

void migstore_view_cleanup(migstore_view *view)
{
    if (view == NULL)
        return;
    ferry_store_record_free(view->rec);
    for (size_t i = 0; i < view->n_steps; i++)
        ferry_store_record_free(view->step_recs[i]);
    memset(view, 0, sizeof(*view));
}

ferry_rc migstore_load(ferry_store *store, const char *id, migstore_view *view, ferry_err *err)
{
    ferry_rc rc = FERRY_OK;
    ferry_store_reply *reply = NULL;
    memset(view, 0, sizeof(*view));
    char mkey[FERRY_STORE_KEY_MAX], prefix[FERRY_STORE_KEY_MAX];
    rc = ferry_store_key(id, "migration", mkey, sizeof(mkey), err);
    if (rc == FERRY_OK)
        rc = ferry_store_key(id, "step:", prefix, sizeof(prefix), err);
    if (rc != FERRY_OK)
        return rc;
    const char *keys[] = {mkey};
    const char *args[] = {prefix};
    rc = ferry_store_script(store, "mig_load", true, 1, keys, 1, args, &reply, err);
    if (rc != FERRY_OK)
        return ferry_err_prefix(err, "loading migration %s", id);
    const char *now = ferry_store_reply_str(ferry_store_reply_at(reply, 0));
    const ferry_store_reply *mflat = ferry_store_reply_at(reply, 1);
    if (now == NULL || mflat == NULL) {
        rc = ferry_err_set(err, FERRY_ERR_PROTOCOL, "loading migration %s: unexpected reply", id);
        goto out;
    }
    view->now = strtoll(now, NULL, 10);
    if (mflat->count == 0) {
        mig_from_record(id, NULL, &view->mig);
        goto out;
    }
    rc = record_from_flat(mflat, &view->rec);
    if (rc != FERRY_OK) {
        rc = ferry_err_set(err, rc, "loading migration %s: bad record", id);
        goto out;
    }
    mig_from_record(id, view->rec, &view->mig);
    for (size_t i = 2; i < reply->count && view->n_steps < FM_STEPS_MAX; i++) {
        ferry_store_record *srec = NULL;
        rc = record_from_flat(reply->elements[i], &srec);
        if (rc != FERRY_OK) {
            rc = ferry_err_set(err, rc, "loading migration %s: bad step record", id);
            goto out;
        }
        fm_step *s = &view->steps[view->n_steps];
        migstore_step_from_record(srec, s);
        /* The id is the record's cur.<purpose> value. */
        char field[FM_NAME_MAX + 8];
        (void)snprintf(field, sizeof(field), "cur.%s", s->purpose);
        copy_field(view->rec, field, s->id, sizeof(s->id));
        view->step_recs[view->n_steps++] = srec;
    }
out:
    ferry_store_reply_free(reply);
    if (rc != FERRY_OK)
        migstore_view_cleanup(view);
    return rc;
}

/* ------------------------------------------------------------------ applying */

static json_t *i64_str(int64_t v)
{
    char buf[24];
    (void)snprintf(buf, sizeof(buf), "%" PRId64, v);
    return json_string(buf);
}

/* The plan as mig_apply.lua reads it; NULL when out of memory. */
static json_t *plan_json(const char *const *expect, size_t n_expect, int64_t expect_cycle,
                         const fm_plan *plan, const ferry_store_field *extra, size_t n_extra,
                         bool index)
{
    json_t *j = json_object();
    json_t *exp = json_array();
    json_t *fields = json_object();
    json_t *creates = json_array();
    json_t *retries = json_array();
    json_t *cancels = json_array();
    if (j == NULL || exp == NULL || fields == NULL || creates == NULL || retries == NULL ||
        cancels == NULL)
        goto fail;
    for (size_t i = 0; i < n_expect; i++)
        json_array_append_new(exp, json_string(expect[i]));
    json_object_set_new(j, "expect", exp);
    exp = NULL;
    json_object_set_new(j, "expect_cycle",
                        expect_cycle >= 0 ? i64_str(expect_cycle) : json_string(""));
    bool change = plan->change || n_extra > 0;
    json_object_set_new(j, "change", json_boolean(change));
    json_object_set_new(j, "to", json_string(fm_state_name(plan->to)));
    json_object_set_new(j, "what", json_string(plan->what));
    json_object_set_new(j, "new_cycle", json_boolean(plan->new_cycle));
    json_object_set_new(j, "index", json_boolean(index));
    for (size_t i = 0; i < plan->n_fields; i++)
        json_object_set_new(fields, plan->fields[i].name, json_string(plan->fields[i].value));
    for (size_t i = 0; i < n_extra; i++)
        json_object_set_new(fields, extra[i].name, json_string(extra[i].value));
    json_object_set_new(j, "fields", fields);
    fields = NULL;
    for (size_t i = 0; i < plan->n_acts; i++) {
        const fm_action *a = &plan->acts[i];
        json_t *o = json_object();
        if (o == NULL)
            goto fail;
        if (a->kind == FM_ACT_CREATE) {
            const fm_purpose *p = fm_purpose_find(a->purpose);
            if (p == NULL) {
                json_decref(o);
                continue;
            }
            json_object_set_new(o, "purpose", json_string(p->name));
            json_object_set_new(o, "kind", json_string(p->kind));
            json_object_set_new(o, "operation", json_string(p->operation));
            json_object_set_new(o, "prefix", json_string(p->prefix));
            json_object_set_new(o, "deadline", i64_str(a->deadline));
            json_object_set_new(o, "pass", i64_str(a->pass));
            json_array_append_new(creates, o);
        } else if (a->kind == FM_ACT_RETRY) {
            json_object_set_new(o, "step", json_string(a->step));
            json_object_set_new(o, "attempt", i64_str(a->attempt));
            json_object_set_new(o, "not_before", i64_str(a->not_before));
            json_object_set_new(o, "count", json_boolean(a->count));
            json_object_set_new(o, "reset", json_boolean(a->reset_retries));
            json_object_set_new(o, "what",
                                json_string(a->reset_retries ? "replay"
                                            : a->count       ? "retry"
                                                             : "redispatch"));
            json_array_append_new(retries, o);
        } else {
            json_object_set_new(o, "step", json_string(a->step));
            json_object_set_new(o, "reason", json_string(a->reason));
            json_array_append_new(cancels, o);
        }
    }
    json_object_set_new(j, "creates", creates);
    json_object_set_new(j, "retries", retries);
    json_object_set_new(j, "cancels", cancels);
    json_object_set_new(j, "wake_at", i64_str(plan->wake_at));
    json_object_set_new(j, "events_max", i64_str(FERRY_STORE_EVENTS_MAXLEN));
    json_object_set_new(j, "history_max", i64_str(FERRY_STORE_HISTORY_MAXLEN));
    return j;
fail:
    json_decref(j);
    json_decref(exp);
    json_decref(fields);
    json_decref(creates);
    json_decref(retries);
    json_decref(cancels);
    return NULL;
}

ferry_rc migstore_apply(ferry_store *store, const char *id, const char *actor,
                        const char *const *expect, size_t n_expect, int64_t expect_cycle,
                        const fm_plan *plan, const ferry_store_field *extra, size_t n_extra,
                        bool index, int64_t *cycle, ferry_err *err)
{
    ferry_rc rc = FERRY_OK;
    json_t *j = NULL;
    char *text = NULL;
    ferry_store_reply *reply = NULL;
    char k[8][FERRY_STORE_KEY_MAX];
    static const char *const names[] = {"migration", "history", "steps"};
    for (size_t i = 0; i < 3; i++) {
        rc = ferry_store_key(id, names[i], k[i], sizeof(k[i]), err);
        if (rc != FERRY_OK)
            return rc;
    }
    const char *keys[12] = {k[0],
                            k[1],
                            FERRY_STORE_EVENTS,
                            k[2],
                            "ferry:pending",
                            "ferry:leases",
                            "ferry:timers",
                            "ferry:migrations",
                            "ferry:queued:dump_restore",
                            "ferry:queued:file_sync",
                            "ferry:queued:dns",
                            "ferry:queued:app"};
    j = plan_json(expect, n_expect, expect_cycle, plan, extra, n_extra, index);
    if (j != NULL)
        text = json_dumps(j, JSON_COMPACT);
    if (text == NULL) {
        rc = ferry_err_set(err, FERRY_ERR_NOMEM, "applying a plan to %s: out of memory", id);
        goto out;
    }
    const char *args[3] = {id, actor, text};
    /* Not retried: it may have run when the connection was lost. The engine re-evaluates. */
    rc = ferry_store_script(store, "mig_apply", false, 12, keys, 3, args, &reply, err);
    if (rc != FERRY_OK) {
        (void)ferry_err_prefix(err, "applying a plan to %s", id);
        goto out;
    }
    const char *tag = ferry_store_reply_str(ferry_store_reply_at(reply, 0));
    const char *cyc = ferry_store_reply_str(ferry_store_reply_at(reply, 1));
    if (tag != NULL && strcmp(tag, "ok") == 0 && cyc != NULL) {
        if (cycle != NULL)
            *cycle = strtoll(cyc, NULL, 10);
        goto out;
    }
    const char *state = ferry_store_reply_str(ferry_store_reply_at(reply, 1));
    const char *why = ferry_store_reply_str(ferry_store_reply_at(reply, 3));
    if (tag != NULL && strcmp(tag, "conflict") == 0 && state != NULL && why != NULL) {
        rc = ferry_err_set(err, FERRY_ERR_CONFLICT, "%s is %s now (%s changed meanwhile)", id,
                           state[0] != '\0' ? state : "absent", why);
        goto out;
    }
    rc = ferry_err_set(err, FERRY_ERR_PROTOCOL, "applying a plan to %s: unexpected reply", id);
out:
    ferry_store_reply_free(reply);
    free(text);
    json_decref(j);
    return rc;
}
