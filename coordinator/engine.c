/* engine.c - the coordinator's engine: events, evaluation, dispatch, sweeps (see engine.h). */
#include "engine.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stepcmd.h"
#include "ferry/buf.h"
#include "ferry/clock.h"
#include "ferry/log.h"
#include "ferry/state.h"
#include "ferry/steps.h"
#include "ferry/wire.h"
#include "migstore.h"
#include "spec.h"

#define EVENTS_GROUP    "ferry.coordinator"
#define EVENTS_CONSUMER "coordinator"
#define BATCH           256
#define KINDS           5 /* indexes of Ferry__V1__StepKind, 0 unused */

struct engine {
    engine_cfg cfg;
    ferry_store *store;
    ferry_bus_producer *producer;
    int64_t now;        /* Redis's clock at the last look, ms */
    int64_t last_tick;  /* local monotonic ms */
    int64_t last_sweep; /* local monotonic ms of the last limit sweep */
    bool leader;
    bool republish_all; /* first tick after start: republish every unclaimed step */
    /* The spec of the last migration a command was built for, kept across one dispatch round. */
    char spec_mig[FERRY_STORE_NAME_MAX + 1];
    char *spec_text;
    ferry_spec *spec;
};

static const char *const kind_names[KINDS] = {NULL, "dump_restore", "file_sync", "dns", "app"};

/* ------------------------------------------------------------------ small helpers */

static int kind_index(const char *name)
{
    for (int i = 1; i < KINDS; i++) {
        if (name != NULL && strcmp(kind_names[i], name) == 0)
            return i;
    }
    return 0;
}

static ferry_rc redis_now(engine *eng, ferry_err *err)
{
    return ferry_state_now(eng->store, &eng->now, err);
}

/* ------------------------------------------------------------------ life */

ferry_rc engine_new(const engine_cfg *cfg, ferry_store *store, ferry_bus_producer *producer,
                    engine **out, ferry_err *err)
{
    *out = NULL;
    engine *eng = calloc(1, sizeof(*eng));
    if (eng == NULL)
        return ferry_err_set(err, FERRY_ERR_NOMEM, "engine: out of memory");
    eng->cfg = *cfg;
    eng->store = store;
    eng->producer = producer;
    eng->republish_all = true;
    *out = eng;
    return FERRY_OK;
}

static void spec_forget(engine *eng)
{
    ferry_spec_free(eng->spec);
    free(eng->spec_text);
    eng->spec = NULL;
    eng->spec_text = NULL;
    eng->spec_mig[0] = '\0';
}

void engine_free(engine *eng)
{
    if (eng == NULL)
        return;
    spec_forget(eng);
    free(eng);
}

/* ------------------------------------------------------------------ evaluation */

/* Whether the app's final migration has swapped its names (every environment's): the production
 * migration records it. A Redis error reads as not swapped; the step that follows says more. */
static bool app_names_swapped(engine *eng, const char *app)
{
    ferry_err err = {0};
    ferry_buf id = {0};
    ferry_buf_addf(&id, "%s.production", app != NULL ? app : "");
    const char *names[] = {"names_swapped"};
    ferry_state_list v = {0};
    bool swapped = !id.oom &&
                   ferry_state_mig_fields(eng->store, id.p, names, 1, &v, &err) == FERRY_OK &&
                   v.count == 1 && v.items[0] != NULL && strcmp(v.items[0], "1") == 0;
    ferry_state_list_cleanup(&v);
    ferry_buf_cleanup(&id);
    return swapped;
}

ferry_rc engine_evaluate(engine *eng, const char *mig, ferry_err *err)
{
    ferry_rc rc = FERRY_OK;
    /* A plan can be refused because the migration moved on meanwhile (a command); look again. */
    for (int round = 0; round < 3; round++) {
        migstore_view view;
        rc = migstore_load(eng->store, mig, &view, err);
        if (rc != FERRY_OK)
            return rc;
        eng->now = view.now;
        if (view.rec == NULL) {
            migstore_view_cleanup(&view);
            return FERRY_OK; /* deleted */
        }
        fm_policy policy = eng->cfg.policy;
        policy.pause_ms = migstore_int(view.rec, "pause_ms", policy.pause_ms);
        if (!view.mig.production)
            view.mig.names_swapped =
                app_names_swapped(eng, ferry_store_record_value(view.rec, "app"));
        fm_plan plan;
        fm_advance(&view.mig, view.steps, view.n_steps, &policy, view.now, &plan);
        if (!plan.change && plan.n_acts == 0 && plan.wake_at == 0) {
            migstore_view_cleanup(&view);
            return FERRY_OK;
        }
        const char *expect[] = {migstore_state_text(&view)};
        ferry_log_ctx ctx = {.migration = mig};
        if (plan.change && plan.to != view.mig.state)
            ferry_log(FERRY_LOG_INFO, &ctx, "%s -> %s (%s)", migstore_state_text(&view),
                      fm_state_name(plan.to), plan.what);
        migstore_change change = {.actor = eng->cfg.instance,
                                  .expect = expect,
                                  .n_expect = 1,
                                  .expect_cycle = view.mig.cycle,
                                  .plan = &plan};
        rc = migstore_apply(eng->store, mig, &change, NULL, err);
        migstore_view_cleanup(&view);
        if (rc != FERRY_ERR_CONFLICT)
            return rc;
    }
    return rc;
}

/* ------------------------------------------------------------------ limits */

/* The limits a step needs a slot in, for its kind and its endpoints; host (hostsz bytes) holds
 * the name of a database host limit. */
static size_t step_limits(const engine *eng, int kind, const stepcmd_built *b,
                          ferry_state_limit limits[3], char *host, size_t hostsz)
{
    size_t n = 0;
    /* The limits bound bulk work (copies, passes): a stream that lasts the whole replication,
     * a check or a drop would only hold a slot the copies need. */
    Ferry__V1__Operation op = b->cmd.operation;
    if (op == FERRY__V1__OPERATION__OPERATION_DUMP_RESTORE_LOGICAL_STREAM ||
        op == FERRY__V1__OPERATION__OPERATION_DUMP_RESTORE_LOGICAL_CHECK ||
        op == FERRY__V1__OPERATION__OPERATION_DUMP_RESTORE_LOGICAL_DROP)
        return 0;
    if (eng->cfg.limit_kind[kind] > 0)
        limits[n++] = (ferry_state_limit){"kind", kind_names[kind], eng->cfg.limit_kind[kind]};
    if (kind == FERRY__V1__STEP_KIND__STEP_KIND_DUMP_RESTORE && eng->cfg.limit_db_host > 0 &&
        b->dr.source != NULL) {
        /* The host of the source: "host=..." in a keyword string, or a URL's authority. */
        const char *ci = b->dr.source->conninfo;
        const char *h = strstr(ci, "host=");
        const char *u = strstr(ci, "://");
        (void)snprintf(host, hostsz, "local");
        if (u != NULL) {
            u += 3;
            const char *at = strchr(u, '@');
            const char *slash = strchr(u, '/');
            if (at != NULL && (slash == NULL || at < slash))
                u = at + 1;
            size_t len = strcspn(u, ":/?");
            (void)snprintf(host, hostsz, "%.*s", (int)len, u);
        } else if (h != NULL && (h == ci || h[-1] == ' ')) {
            h += 5;
            size_t len = strcspn(h, " ");
            (void)snprintf(host, hostsz, "%.*s", (int)len, h);
        }
        limits[n++] = (ferry_state_limit){"db_host", host, eng->cfg.limit_db_host};
    }
    if (kind == FERRY__V1__STEP_KIND__STEP_KIND_FILE_SYNC && eng->cfg.limit_bucket > 0 &&
        b->fs.target != NULL && b->fs.target->location_case == FERRY__V1__FILE_STORE__LOCATION_S3)
        limits[n++] =
            (ferry_state_limit){"bucket", b->fs.target->s3->bucket, eng->cfg.limit_bucket};
    return n;
}

/* Releases the limit slots step holds. */
static void limits_release(engine *eng, const char *mig, const char *step)
{
    ferry_err err = {0};
    if (ferry_state_limits_release(eng->store, mig, step, &err) != FERRY_OK) {
        ferry_log_ctx ctx = {.migration = mig, .step = step};
        ferry_log(FERRY_LOG_WARN, &ctx, "releasing limits (the sweep retries): %s", err.msg);
    }
}

/* Whether a step in state s has ended (the limit sweep's question). */
static bool step_ended(const char *s)
{
    return !fm_sstate_active(fm_sstate_parse(s));
}

/* ------------------------------------------------------------------ dispatch */

/* Free slots of live workers per kind, less the steps already queued for them. */
static void capacity(engine *eng, int64_t cap[KINDS])
{
    ferry_err err = {0};
    memset(cap, 0, sizeof(int64_t) * KINDS);
    ferry_state_workers live = {0};
    if (ferry_state_workers_since(eng->store, eng->now - eng->cfg.worker_alive_ms, &live, &err) !=
        FERRY_OK)
        return;
    for (size_t i = 0; i < live.count; i++) {
        const ferry_store_record *w = live.items[i].rec;
        int k = kind_index(ferry_store_record_value(w, "kind"));
        if (k > 0 && ferry_store_record_value(w, "capacity") != NULL)
            cap[k] += migstore_int(w, "capacity", 0) - migstore_int(w, "running", 0);
    }
    ferry_state_workers_cleanup(&live);
    for (int k = 1; k < KINDS; k++) {
        int64_t n = 0;
        if (ferry_state_queued_count(eng->store, kind_names[k], &n, &err) == FERRY_OK)
            cap[k] -= n;
    }
}

/* The spec of migration mig, parsed (cached for the last migration asked). Borrowed.
 * *overwrite (may be NULL): whether a copy may replace what its target holds (the replicate
 * asked so, or Ferry itself wrote the target before). */
static const ferry_spec *spec_of(engine *eng, const char *mig, char *env, size_t envsz,
                                 bool *overwrite, ferry_err *err)
{
    const char *names[] = {"env", "app", "overwrite", "copied"};
    ferry_state_list f = {0};
    if (ferry_state_mig_fields(eng->store, mig, names, 4, &f, err) != FERRY_OK)
        return NULL;
    const char *e = f.items[0], *ow = f.items[2], *copied = f.items[3];
    if (overwrite != NULL)
        *overwrite =
            (ow != NULL && strcmp(ow, "1") == 0) || (copied != NULL && strcmp(copied, "1") == 0);
    (void)snprintf(env, envsz, "%s", e != NULL ? e : "");
    /* The spec lives with the app: every environment's steps need all of it (the renames). */
    ferry_state_app app = {0};
    ferry_rc rc = ferry_state_app_get(eng->store, f.items[1] != NULL ? f.items[1] : "", &app, err);
    ferry_state_list_cleanup(&f);
    if (rc != FERRY_OK) {
        if (rc == FERRY_ERR_NOT_FOUND)
            (void)ferry_err_set(err, FERRY_ERR_NOT_FOUND, "%s: the app's spec is gone", mig);
        return NULL;
    }
    const char *text = app.spec;
    if (eng->spec != NULL && eng->spec_text != NULL && strcmp(eng->spec_text, text) == 0) {
        ferry_state_app_cleanup(&app);
        return eng->spec;
    }
    spec_forget(eng);
    eng->spec_text = app.spec; /* taken */
    app.spec = NULL;
    ferry_state_app_cleanup(&app);
    if (eng->spec_text == NULL) {
        (void)ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (ferry_spec_parse(eng->spec_text, strlen(eng->spec_text), &eng->spec, NULL, err) !=
        FERRY_OK) {
        (void)ferry_err_prefix(err, "%s: the stored spec", mig);
        spec_forget(eng);
        return NULL;
    }
    (void)snprintf(eng->spec_mig, sizeof(eng->spec_mig), "%s", mig);
    return eng->spec;
}

/*
 * Builds the command of step (record rec) at attempt into *b (zeroed first; clean up with
 * stepcmd_cleanup() whatever the result). b borrows from the spec spec_of() caches: publish it
 * before the next spec_of().
 */
static ferry_rc step_build(engine *eng, const char *mig, const char *step,
                           const ferry_store_record *rec, int64_t attempt, stepcmd_built *b,
                           ferry_err *err)
{
    memset(b, 0, sizeof(*b));
    char env[FERRY_STORE_NAME_MAX + 1];
    bool overwrite = false;
    const ferry_spec *spec = spec_of(eng, mig, env, sizeof(env), &overwrite, err);
    if (spec == NULL)
        return err->code != FERRY_OK ? err->code : FERRY_ERR_NOT_FOUND;
    stepcmd_for st = {.migration = mig,
                      .env = env,
                      .step = step,
                      .purpose = ferry_store_record_value(rec, "purpose"),
                      .attempt = attempt,
                      .deadline = migstore_int(rec, "deadline", 0),
                      .pass = migstore_int(rec, "pass", 0),
                      .overwrite = overwrite,
                      .issued_by = eng->cfg.instance,
                      .issued_at = eng->now};
    return stepcmd_build(spec, &st, b, err);
}

/* Queues a built step command on the producer, keyed by migration and step. */
static ferry_rc step_publish(engine *eng, const char *mig, const char *step, const stepcmd_built *b,
                             ferry_err *err)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    ferry_rc rc = ferry_wire_step_encode(&b->cmd, &buf, &len, err);
    if (rc != FERRY_OK)
        return rc;
    char topic[256];
    if (ferry_wire_step_topic(eng->cfg.topic_prefix, b->cmd.kind, topic, sizeof(topic)) != 0) {
        free(buf);
        return ferry_err_set(err, FERRY_ERR_INVALID, "no topic for step %s", step);
    }
    /* Keyed by migration and step: step ids repeat in every migration, and a key of the step
     * alone would put every migration's "dump_restore" on the same partition. */
    char key[2 * FERRY_WIRE_ID_MAX + 2];
    int n = snprintf(key, sizeof(key), "%s/%s", mig, step);
    if (n < 0 || (size_t)n >= sizeof(key)) {
        free(buf);
        return ferry_err_set(err, FERRY_ERR_INVALID, "migration or step id too long: %s", step);
    }
    rc = ferry_bus_publish_async(eng->producer, topic, key, (size_t)n, buf, len, err);
    free(buf);
    return rc;
}

/* Marks a step that cannot be built (its spec lost an environment, ...) failed for good. */
static void step_unbuildable(engine *eng, const ferry_step_ref *ref, const ferry_err *why)
{
    ferry_err err = {0};
    (void)ferry_steps_refuse(eng->store, ref, eng->cfg.instance, why, &err);
    ferry_log_ctx ctx = {
        .migration = ref->migration, .step = ref->step, .attempt = (unsigned)ref->attempt};
    ferry_log(FERRY_LOG_ERROR, &ctx, "cannot build the step's command: %s", why->msg);
}

/* Tries to dispatch one pending member; returns 1 when published, 0 when it waits, -1 when the
 * member was stale (dropped). */
static int dispatch_one(engine *eng, const char *member, int64_t cap[KINDS])
{
    ferry_err err = {0};
    char mig[FERRY_STORE_NAME_MAX + 1], step[FERRY_STORE_NAME_MAX + 1];
    int64_t attempt = 0;
    if (!ferry_steps_member_parse(member, mig, sizeof(mig), step, sizeof(step), &attempt)) {
        (void)ferry_state_drop(eng->store, FERRY_STATE_PENDING, member, &err);
        return -1;
    }
    ferry_store_record *rec = NULL;
    ferry_rc rc = ferry_state_step_get(eng->store, mig, step, &rec, &err);
    if (rc != FERRY_OK || migstore_int(rec, "attempt", 0) != attempt ||
        fm_sstate_parse(ferry_store_record_value(rec, "state")) != FM_S_PENDING) {
        ferry_store_record_free(rec);
        if (rc == FERRY_OK || rc == FERRY_ERR_NOT_FOUND || rc == FERRY_ERR_INVALID)
            (void)ferry_state_drop(eng->store, FERRY_STATE_PENDING, member, &err);
        return -1;
    }
    int k = kind_index(ferry_store_record_value(rec, "kind"));
    int result = 0;
    stepcmd_built b;
    memset(&b, 0, sizeof(b));
    if (k == 0 || cap[k] <= 0 || migstore_int(rec, "not_before", 0) > eng->now)
        goto out;

    ferry_step_ref ref = {.migration = mig, .step = step, .attempt = attempt};
    /* Built once: its endpoints decide the limits, then it is what is published. */
    if (step_build(eng, mig, step, rec, attempt, &b, &err) != FERRY_OK) {
        if (err.code == FERRY_ERR_INVALID || err.code == FERRY_ERR_NOT_FOUND) {
            step_unbuildable(eng, &ref, &err);
            (void)ferry_state_drop(eng->store, FERRY_STATE_PENDING, member, &err);
        }
        goto out;
    }
    ferry_state_limit limits[3];
    char host[256];
    size_t n_limits = step_limits(eng, k, &b, limits, host, sizeof(host));
    if (n_limits > 0) {
        bool got = false;
        if (ferry_state_limits_acquire(eng->store, mig, step, limits, n_limits, eng->now, &got,
                                       &err) != FERRY_OK ||
            !got)
            goto out; /* full (or Redis away): it waits for a slot */
    }

    /* The attempt is bound to this command: a worker claims it only with the same parameters. */
    char digest[FERRY_STEPS_DIGEST_LEN + 1];
    if (ferry_steps_command_digest(&b.cmd, digest, &err) != FERRY_OK) {
        if (n_limits > 0)
            limits_release(eng, mig, step);
        goto out;
    }
    ferry_step_seen seen;
    rc = ferry_steps_dispatch(eng->store, &ref, kind_names[k], eng->cfg.instance, digest, &seen,
                              &err);
    (void)ferry_state_drop(eng->store, FERRY_STATE_PENDING, member, &err);
    if (rc != FERRY_OK) {
        if (n_limits > 0)
            limits_release(eng, mig, step);
        result = -1;
        goto out;
    }
    /* Dispatched; a publish that fails now is retried by the redispatch sweep. */
    rc = step_publish(eng, mig, step, &b, &err);
    if (rc != FERRY_OK) {
        ferry_log_ctx ctx = {.migration = mig, .step = step, .attempt = (unsigned)attempt};
        ferry_log(FERRY_LOG_WARN, &ctx, "publish failed, will retry: %s", err.msg);
    }
    cap[k]--;
    result = 1;
out:
    stepcmd_cleanup(&b);
    ferry_store_record_free(rec);
    return result;
}

int engine_dispatch(engine *eng)
{
    ferry_err err = {0};
    int published = 0;
    ferry_state_list due = {0};
    if (ferry_state_due(eng->store, FERRY_STATE_PENDING, eng->now, 1000, &due, &err) != FERRY_OK) {
        ferry_log(FERRY_LOG_WARN, NULL, "dispatch: %s", err.msg);
        return 0;
    }
    if (due.count > 0) {
        int64_t cap[KINDS];
        capacity(eng, cap);
        for (size_t i = 0; i < due.count; i++) {
            int64_t free_slots = 0;
            for (int k = 1; k < KINDS; k++)
                free_slots += cap[k] > 0 ? cap[k] : 0;
            if (free_slots == 0)
                break; /* every worker is busy: the rest waits for the next round */
            if (due.items[i] != NULL && dispatch_one(eng, due.items[i], cap) == 1)
                published++;
        }
    }
    ferry_state_list_cleanup(&due);
    if (published > 0 && ferry_bus_flush(eng->producer, 10000, &err) != FERRY_OK)
        ferry_log(FERRY_LOG_WARN, NULL, "publishing steps: %s (the redispatch sweep retries)",
                  err.msg);
    return published;
}

/* ------------------------------------------------------------------ sweeps */

static void sweep_timers(engine *eng)
{
    ferry_err err = {0};
    ferry_state_list due = {0};
    if (ferry_state_due(eng->store, FERRY_STATE_TIMERS, eng->now, 500, &due, &err) != FERRY_OK)
        return;
    for (size_t i = 0; i < due.count; i++) {
        const char *mig = due.items[i];
        if (mig == NULL)
            continue;
        /* Dropped before the evaluation, which sets it again when still needed. */
        (void)ferry_state_drop(eng->store, FERRY_STATE_TIMERS, mig, &err);
        if (engine_evaluate(eng, mig, &err) != FERRY_OK) {
            ferry_log_ctx ctx = {.migration = mig};
            ferry_log(FERRY_LOG_WARN, &ctx, "evaluation failed: %s", err.msg);
        }
    }
    ferry_state_list_cleanup(&due);
}

static void sweep_leases(engine *eng)
{
    ferry_err err = {0};
    ferry_state_list due = {0};
    if (ferry_state_due(eng->store, FERRY_STATE_LEASES, eng->now, 500, &due, &err) != FERRY_OK)
        return;
    for (size_t i = 0; i < due.count; i++) {
        const char *member = due.items[i];
        char mig[FERRY_STORE_NAME_MAX + 1], step[FERRY_STORE_NAME_MAX + 1];
        int64_t attempt = 0;
        if (member == NULL ||
            !ferry_steps_member_parse(member, mig, sizeof(mig), step, sizeof(step), &attempt))
            continue;
        ferry_step_ref ref = {.migration = mig, .step = step, .attempt = attempt};
        ferry_step_seen seen;
        ferry_rc rc = ferry_steps_expire(eng->store, &ref, eng->cfg.instance, &seen, &err);
        ferry_log_ctx ctx = {.migration = mig, .step = step, .attempt = (unsigned)attempt};
        if (rc == FERRY_OK)
            ferry_log(FERRY_LOG_WARN, &ctx, "lease of %s expired: the step runs again", seen.owner);
        else if (rc == FERRY_ERR_CONFLICT) /* ended meanwhile: the entry is stale */
            (void)ferry_state_drop(eng->store, FERRY_STATE_LEASES, member, &err);
    }
    ferry_state_list_cleanup(&due);
}

/* Publishes again the step of queued member of kind k if it is still dispatched and unclaimed;
 * drops a stale member. Returns whether it was published. */
static bool republish(engine *eng, int k, const char *member)
{
    ferry_err err = {0};
    char mig[FERRY_STORE_NAME_MAX + 1], step[FERRY_STORE_NAME_MAX + 1];
    int64_t attempt = 0;
    if (!ferry_steps_member_parse(member, mig, sizeof(mig), step, sizeof(step), &attempt))
        return false;
    ferry_store_record *rec = NULL;
    ferry_rc rc = ferry_state_step_get(eng->store, mig, step, &rec, &err);
    bool still = rc == FERRY_OK && migstore_int(rec, "attempt", 0) == attempt &&
                 fm_sstate_parse(ferry_store_record_value(rec, "state")) == FM_S_DISPATCHED;
    bool published = false;
    if (still) {
        stepcmd_built b;
        rc = step_build(eng, mig, step, rec, attempt, &b, &err);
        if (rc == FERRY_OK)
            rc = step_publish(eng, mig, step, &b, &err);
        stepcmd_cleanup(&b);
        if (rc == FERRY_OK) {
            published = true;
            (void)ferry_state_queued_touch(eng->store, kind_names[k], member, eng->now, &err);
        }
    } else if (rc == FERRY_OK || rc == FERRY_ERR_NOT_FOUND || rc == FERRY_ERR_INVALID) {
        (void)ferry_state_queued_drop(eng->store, kind_names[k], member, &err);
    }
    ferry_store_record_free(rec);
    return published;
}

static void sweep_unclaimed(engine *eng)
{
    ferry_err err = {0};
    int64_t age = eng->republish_all ? 0 : eng->cfg.redispatch_ms;
    int republished = 0;
    for (int k = 1; k < KINDS; k++) {
        ferry_state_list old = {0};
        if (ferry_state_queued_due(eng->store, kind_names[k], eng->now - age, 200, &old, &err) !=
            FERRY_OK)
            continue;
        for (size_t i = 0; i < old.count; i++) {
            if (old.items[i] != NULL && republish(eng, k, old.items[i]))
                republished++;
        }
        ferry_state_list_cleanup(&old);
    }
    if (republished > 0) {
        ferry_log(FERRY_LOG_INFO, NULL, "republished %d unclaimed step%s", republished,
                  republished == 1 ? "" : "s");
        (void)ferry_bus_flush(eng->producer, 10000, &err);
    }
    eng->republish_all = false;
}

void engine_tick(engine *eng)
{
    ferry_err err = {0};
    if (redis_now(eng, &err) != FERRY_OK)
        return;
    sweep_timers(eng);
    sweep_leases(eng);
    sweep_unclaimed(eng);
    int64_t mono = ferry_mono_ms();
    if (mono - eng->last_sweep > 30000) {
        (void)ferry_state_limits_sweep(eng->store, step_ended, &err);
        eng->last_sweep = mono;
    }
    (void)engine_dispatch(eng);
}

/* ------------------------------------------------------------------ the loop */

static bool final_state(const char *s)
{
    fm_sstate st = fm_sstate_parse(s);
    return st != FM_S_UNKNOWN && !fm_sstate_active(st);
}

/* Acts on a batch of events: releases the slots of steps that ended, re-evaluates each migration
 * named (once), then acknowledges. Returns false when something failed (the entries stay pending
 * and are read again). */
static bool handle_events(engine *eng, const ferry_store_entries *ents)
{
    ferry_err err = {0};
    bool ok = true;
    const char *done[BATCH];
    size_t n_done = 0;
    for (size_t i = 0; i < ents->count; i++) {
        const ferry_store_record *f = &ents->entries[i].fields;
        const char *mig = ferry_store_record_value(f, "migration");
        const char *to = ferry_store_record_value(f, "to");
        if (mig == NULL)
            continue; /* trimmed while pending: nothing to act on */
        const char *step = ferry_state_event_step(f);
        if (step != NULL && final_state(to))
            limits_release(eng, mig, step);
        bool seen = false;
        for (size_t j = 0; j < n_done && !seen; j++)
            seen = strcmp(done[j], mig) == 0;
        if (seen)
            continue;
        if (n_done < BATCH)
            done[n_done++] = mig;
        if (engine_evaluate(eng, mig, &err) != FERRY_OK) {
            ferry_log_ctx ctx = {.migration = mig};
            ferry_log(FERRY_LOG_WARN, &ctx, "evaluation failed: %s", err.msg);
            if (ferry_rc_retryable(err.code))
                ok = false;
        }
    }
    if (!ok)
        return false;
    for (size_t i = 0; i < ents->count; i++)
        (void)ferry_state_events_ack(eng->store, EVENTS_GROUP, ents->entries[i].id, &err);
    return true;
}

/* Takes or keeps the leadership lease; true while this instance leads. */
static bool lead(engine *eng)
{
    ferry_err err = {0};
    int64_t lease = eng->cfg.tick_ms * 10 > 5000 ? eng->cfg.tick_ms * 10 : 5000;
    bool now_leader = false;
    char who[FERRY_STORE_NAME_MAX + 1];
    if (ferry_state_lead(eng->store, eng->cfg.instance, lease, &now_leader, who, sizeof(who),
                         &err) != FERRY_OK)
        return eng->leader; /* Redis is away: keep what we were, the next tick tells */
    if (now_leader != eng->leader) {
        ferry_log(FERRY_LOG_INFO, NULL, now_leader ? "leading" : "standing by: %s leads", who);
        eng->republish_all = now_leader;
    }
    eng->leader = now_leader;
    return now_leader;
}

/* Evaluates every migration once (after a start or a takeover). */
static void evaluate_all(engine *eng)
{
    ferry_err err = {0};
    ferry_state_list ids = {0};
    if (ferry_state_migrations(eng->store, &ids, &err) != FERRY_OK)
        return;
    for (size_t i = 0; i < ids.count; i++) {
        const char *mig = ids.items[i];
        if (mig != NULL && engine_evaluate(eng, mig, &err) != FERRY_OK) {
            ferry_log_ctx ctx = {.migration = mig};
            ferry_log(FERRY_LOG_WARN, &ctx, "evaluation failed: %s", err.msg);
        }
    }
    ferry_state_list_cleanup(&ids);
}

ferry_rc engine_run(engine *eng, const atomic_bool *stop, ferry_err *err)
{
    bool read_pending = true; /* our own unacknowledged entries first */
    bool started = false;
    int backoff_ms = 100;
    while (!atomic_load(stop)) {
        if (!lead(eng)) {
            started = false;
            struct timespec ts = {.tv_sec = 0, .tv_nsec = 500L * 1000000L};
            (void)nanosleep(&ts, NULL);
            continue;
        }
        if (!started) {
            if (ferry_state_events_join(eng->store, EVENTS_GROUP, err) != FERRY_OK) {
                ferry_log(FERRY_LOG_WARN, NULL, "creating the events group: %s", err->msg);
                goto pause;
            }
            (void)redis_now(eng, err);
            evaluate_all(eng);
            engine_tick(eng);
            eng->last_tick = ferry_mono_ms();
            started = true;
        }
        ferry_store_entries *ents = NULL;
        int block = read_pending ? 0 : (int)eng->cfg.tick_ms;
        ferry_rc rc = ferry_state_events_read(eng->store, EVENTS_GROUP, EVENTS_CONSUMER,
                                              read_pending, BATCH, block, &ents, err);
        if (rc == FERRY_ERR_NOT_FOUND) { /* the group vanished (FLUSHALL?): make it again */
            started = false;
            continue;
        }
        if (rc != FERRY_OK) {
            ferry_log(FERRY_LOG_WARN, NULL, "reading events: %s", err->msg);
            read_pending = true;
            goto pause;
        }
        if (ents->count > 0) {
            if (!handle_events(eng, ents)) {
                ferry_store_entries_free(ents);
                read_pending = true;
                goto pause;
            }
            if (read_pending && ents->count < BATCH)
                read_pending = false;
            (void)engine_dispatch(eng);
        } else if (read_pending) {
            read_pending = false;
        }
        ferry_store_entries_free(ents);
        if (ferry_mono_ms() - eng->last_tick >= eng->cfg.tick_ms) {
            engine_tick(eng);
            eng->last_tick = ferry_mono_ms();
        }
        backoff_ms = 100;
        continue;
    pause : {
        struct timespec ts = {.tv_sec = backoff_ms / 1000,
                              .tv_nsec = (long)(backoff_ms % 1000) * 1000000L};
        (void)nanosleep(&ts, NULL);
        backoff_ms = backoff_ms < 5000 ? backoff_ms * 2 : 5000;
    }
    }
    return FERRY_OK;
}
