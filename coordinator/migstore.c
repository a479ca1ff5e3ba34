/* migstore.c - load a migration for the state machine, and apply its plans (see migstore.h). */
#include "migstore.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/state.h"

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
    const char *logical = ferry_store_record_value(rec, "r.logical");
    s->logical = logical == NULL ? -1 : strcmp(logical, "true") == 0 ? 1 : 0;
    copy_field(rec, "r.reason", s->reason, sizeof(s->reason));
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
    ferry_state_mig_cleanup(&view->raw);
    memset(view, 0, sizeof(*view));
}

ferry_rc migstore_load(ferry_store *store, const char *id, migstore_view *view, ferry_err *err)
{
    memset(view, 0, sizeof(*view));
    ferry_rc rc = ferry_state_mig_load(store, id, &view->raw, err);
    if (rc != FERRY_OK)
        return rc;
    view->now = view->raw.now;
    view->rec = view->raw.rec;
    mig_from_record(id, view->rec, &view->mig);
    for (size_t i = 0; view->rec != NULL && i < view->raw.n_steps && view->n_steps < FM_STEPS_MAX;
         i++) {
        const ferry_store_record *srec = view->raw.steps[i];
        fm_step *s = &view->steps[view->n_steps];
        migstore_step_from_record(srec, s);
        /* The id is the record's cur.<purpose> value. */
        char field[FM_NAME_MAX + 8];
        (void)snprintf(field, sizeof(field), "cur.%s", s->purpose);
        copy_field(view->rec, field, s->id, sizeof(s->id));
        view->step_recs[view->n_steps++] = srec;
    }
    return FERRY_OK;
}

/* ------------------------------------------------------------------ applying */

static json_t *i64_str(int64_t v)
{
    char buf[24];
    (void)snprintf(buf, sizeof(buf), "%" PRId64, v);
    return json_string(buf);
}

/* The plan as mig_apply.lua reads it; NULL when out of memory. */
static json_t *plan_json(const migstore_change *c)
{
    const char *const *expect = c->expect;
    size_t n_expect = c->n_expect;
    int64_t expect_cycle = c->expect_cycle;
    const fm_plan *plan = c->plan;
    const ferry_store_field *extra = c->extra;
    size_t n_extra = c->n_extra;
    bool index = c->index;
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
    json_object_set_new(j, "events_max", i64_str(FERRY_STATE_EVENTS_MAXLEN));
    json_object_set_new(j, "history_max", i64_str(FERRY_STATE_HISTORY_MAXLEN));
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

ferry_rc migstore_apply(ferry_store *store, const char *id, const migstore_change *change,
                        int64_t *cycle, ferry_err *err)
{
    json_t *j = plan_json(change);
    char *text = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
    ferry_rc rc = text != NULL ? ferry_state_mig_apply(store, id, change->actor, text, cycle, err)
                               : ferry_err_set(err, FERRY_ERR_NOMEM,
                                               "applying a plan to %s: out of memory", id);
    free(text);
    json_decref(j);
    return rc;
}
