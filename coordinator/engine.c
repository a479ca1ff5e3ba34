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
#include "ferry/clock.h"
#include "ferry/log.h"
#include "ferry/steps.h"
#include "ferry/wire.h"
#include "migstore.h"
#include "spec.h"

#define EVENTS_GROUP    "ferry.coordinator"
#define EVENTS_CONSUMER "coordinator"
#define LEADER_KEY      "ferry:coordinator:leader"
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

/* Sends a command given as NULL-terminated strings. */
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

static ferry_rc redis_now(engine *eng, ferry_err *err)
{
    ferry_store_reply *r = NULL;
    ferry_rc rc = rcall(eng->store, true, &r, err, "TIME", NULL);
    if (rc != FERRY_OK)
        return rc;
    const char *s = ferry_store_reply_str(ferry_store_reply_at(r, 0));
    const char *us = ferry_store_reply_str(ferry_store_reply_at(r, 1));
    if (s != NULL && us != NULL)
        eng->now = strtoll(s, NULL, 10) * 1000 + strtoll(us, NULL, 10) / 1000;
    ferry_store_reply_free(r);
    return FERRY_OK;
}

static void i64_text(int64_t v, char *buf, size_t bufsz)
{
    (void)snprintf(buf, bufsz, "%" PRId64, v);
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
    char id[FERRY_STORE_NAME_MAX + 1], key[FERRY_STORE_KEY_MAX];
    int n = snprintf(id, sizeof(id), "%s.production", app != NULL ? app : "");
    if (n < 0 || (size_t)n >= sizeof(id) ||
        ferry_store_key(id, "migration", key, sizeof(key), &err) != FERRY_OK)
        return false;
    ferry_store_reply *r = NULL;
    if (rcall(eng->store, true, &r, &err, "HGET", key, "names_swapped", NULL) != FERRY_OK)
        return false;
    const char *v = ferry_store_reply_str(r);
    bool swapped = v != NULL && strcmp(v, "1") == 0;
    ferry_store_reply_free(r);
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
        rc = migstore_apply(eng->store, mig, eng->cfg.instance, expect, 1, view.mig.cycle, &plan,
                            NULL, 0, false, NULL, err);
        migstore_view_cleanup(&view);
        if (rc != FERRY_ERR_CONFLICT)
            return rc;
    }
    return rc;
}

/* ------------------------------------------------------------------ limits */

/* Writes the limit keys a step holds (and their sizes) for its kind and its spec. */
static size_t step_limits(const engine *eng, int kind, const stepcmd_built *b, char keys[3][300],
                          int64_t sizes[3])
{
    size_t n = 0;
    if (eng->cfg.limit_kind[kind] > 0) {
        (void)snprintf(keys[n], sizeof(keys[n]), "ferry:limit:kind:%s", kind_names[kind]);
        sizes[n++] = eng->cfg.limit_kind[kind];
    }
    if (kind == FERRY__V1__STEP_KIND__STEP_KIND_DUMP_RESTORE && eng->cfg.limit_db_host > 0 &&
        b->dr.source != NULL) {
        /* The host of the source: "host=..." in a keyword string, or a URL's authority. */
        const char *ci = b->dr.source->conninfo;
        char host[200] = "local";
        const char *h = strstr(ci, "host=");
        const char *u = strstr(ci, "://");
        if (u != NULL) {
            u += 3;
            const char *at = strchr(u, '@');
            const char *slash = strchr(u, '/');
            if (at != NULL && (slash == NULL || at < slash))
                u = at + 1;
            size_t len = strcspn(u, ":/?");
            (void)snprintf(host, sizeof(host), "%.*s", (int)len, u);
        } else if (h != NULL && (h == ci || h[-1] == ' ')) {
            h += 5;
            size_t len = strcspn(h, " ");
            (void)snprintf(host, sizeof(host), "%.*s", (int)len, h);
        }
        (void)snprintf(keys[n], sizeof(keys[n]), "ferry:limit:db_host:%s", host);
        sizes[n++] = eng->cfg.limit_db_host;
    }
    if (kind == FERRY__V1__STEP_KIND__STEP_KIND_FILE_SYNC && eng->cfg.limit_bucket > 0 &&
        b->fs.target != NULL && b->fs.target->location_case == FERRY__V1__FILE_STORE__LOCATION_S3) {
        (void)snprintf(keys[n], sizeof(keys[n]), "ferry:limit:bucket:%s", b->fs.target->s3->bucket);
        sizes[n++] = eng->cfg.limit_bucket;
    }
    return n;
}

/* Releases the limit slots step holds (its "limits" field). */
static void limits_release(engine *eng, const char *mig, const char *step)
{
    ferry_err err = {0};
    char key[FERRY_STORE_KEY_MAX], entity[FERRY_STORE_NAME_MAX + 8], holder[300];
    (void)snprintf(entity, sizeof(entity), "step:%s", step);
    if (ferry_store_key(mig, entity, key, sizeof(key), &err) != FERRY_OK)
        return;
    ferry_store_reply *r = NULL;
    if (rcall(eng->store, true, &r, &err, "HGET", key, "limits", NULL) != FERRY_OK)
        return;
    const char *limits = ferry_store_reply_str(r);
    (void)snprintf(holder, sizeof(holder), "%s %s", mig, step);
    char buf[1024];
    (void)snprintf(buf, sizeof(buf), "%s", limits != NULL ? limits : "");
    ferry_store_reply_free(r);
    for (char *p = buf; *p != '\0';) {
        size_t len = strcspn(p, " ");
        char save = p[len];
        p[len] = '\0';
        if (len > 0)
            (void)rcall(eng->store, true, NULL, &err, "ZREM", p, holder, NULL);
        p += len;
        if (save != '\0')
            p++;
    }
}

/* Drops holders whose step has ended, in every limit (a crash between a step's end and its
 * release, or a deleted migration, would otherwise hold a slot forever). */
static void limits_sweep(engine *eng)
{
    ferry_err err = {0};
    ferry_store_reply *keys = NULL;
    if (rcall(eng->store, true, &keys, &err, "SMEMBERS", "ferry:limit_keys", NULL) != FERRY_OK)
        return;
    for (size_t i = 0; i < keys->count; i++) {
        const char *key = ferry_store_reply_str(keys->elements[i]);
        ferry_store_reply *holders = NULL;
        if (key == NULL ||
            rcall(eng->store, true, &holders, &err, "ZRANGE", key, "0", "-1", NULL) != FERRY_OK)
            continue;
        for (size_t j = 0; j < holders->count; j++) {
            const char *h = ferry_store_reply_str(holders->elements[j]);
            char mig[FERRY_STORE_NAME_MAX + 1], step[FERRY_STORE_NAME_MAX + 1];
            char skey[FERRY_STORE_KEY_MAX], entity[FERRY_STORE_NAME_MAX + 8];
            if (h == NULL || sscanf(h, "%128s %128s", mig, step) != 2)
                continue;
            (void)snprintf(entity, sizeof(entity), "step:%s", step);
            if (ferry_store_key(mig, entity, skey, sizeof(skey), &err) != FERRY_OK)
                continue;
            ferry_store_reply *st = NULL;
            if (rcall(eng->store, true, &st, &err, "HGET", skey, "state", NULL) != FERRY_OK)
                continue;
            const char *state = ferry_store_reply_str(st);
            if (state == NULL || !fm_sstate_active(fm_sstate_parse(state)))
                (void)rcall(eng->store, true, NULL, &err, "ZREM", key, h, NULL);
            ferry_store_reply_free(st);
        }
        ferry_store_reply_free(holders);
    }
    ferry_store_reply_free(keys);
}

/* ------------------------------------------------------------------ dispatch */

/* Free slots of live workers per kind, less the steps already queued for them. */
static void capacity(engine *eng, int64_t cap[KINDS])
{
    ferry_err err = {0};
    memset(cap, 0, sizeof(int64_t) * KINDS);
    char since[24];
    i64_text(eng->now - eng->cfg.worker_alive_ms, since, sizeof(since));
    ferry_store_reply *ids = NULL;
    if (rcall(eng->store, true, &ids, &err, "ZRANGEBYSCORE", "ferry:workers", since, "+inf",
              NULL) != FERRY_OK)
        return;
    for (size_t i = 0; i < ids->count; i++) {
        const char *id = ferry_store_reply_str(ids->elements[i]);
        char key[300];
        (void)snprintf(key, sizeof(key), "ferry:worker:%s", id != NULL ? id : "");
        ferry_store_reply *w = NULL;
        if (rcall(eng->store, true, &w, &err, "HMGET", key, "kind", "capacity", "running", NULL) !=
            FERRY_OK)
            continue;
        int k = kind_index(ferry_store_reply_str(ferry_store_reply_at(w, 0)));
        const char *c = ferry_store_reply_str(ferry_store_reply_at(w, 1));
        const char *r = ferry_store_reply_str(ferry_store_reply_at(w, 2));
        if (k > 0 && c != NULL)
            cap[k] += strtoll(c, NULL, 10) - (r != NULL ? strtoll(r, NULL, 10) : 0);
        ferry_store_reply_free(w);
    }
    ferry_store_reply_free(ids);
    for (int k = 1; k < KINDS; k++) {
        char key[64];
        (void)snprintf(key, sizeof(key), "ferry:queued:%s", kind_names[k]);
        ferry_store_reply *n = NULL;
        if (rcall(eng->store, true, &n, &err, "ZCARD", key, NULL) == FERRY_OK && n != NULL)
            cap[k] -= n->integer;
        ferry_store_reply_free(n);
    }
}

/* The spec of migration mig, parsed (cached for the last migration asked). Borrowed.
 * *overwrite (may be NULL): whether a copy may replace what its target holds (the replicate
 * asked so, or Ferry itself wrote the target before). */
static const ferry_spec *spec_of(engine *eng, const char *mig, char *env, size_t envsz,
                                 bool *overwrite, ferry_err *err)
{
    char key[FERRY_STORE_KEY_MAX];
    if (ferry_store_key(mig, "migration", key, sizeof(key), err) != FERRY_OK)
        return NULL;
    ferry_store_reply *r = NULL;
    if (rcall(eng->store, true, &r, err, "HMGET", key, "env", "app", "overwrite", "copied", NULL) !=
        FERRY_OK)
        return NULL;
    const char *e = ferry_store_reply_str(ferry_store_reply_at(r, 0));
    const char *app = ferry_store_reply_str(ferry_store_reply_at(r, 1));
    const char *ow = ferry_store_reply_str(ferry_store_reply_at(r, 2));
    const char *copied = ferry_store_reply_str(ferry_store_reply_at(r, 3));
    if (overwrite != NULL)
        *overwrite =
            (ow != NULL && strcmp(ow, "1") == 0) || (copied != NULL && strcmp(copied, "1") == 0);
    (void)snprintf(env, envsz, "%s", e != NULL ? e : "");
    char akey[128];
    (void)snprintf(akey, sizeof(akey), "ferry:app:%s", app != NULL ? app : "");
    ferry_store_reply_free(r);
    r = NULL;
    /* The spec lives with the app: every environment's steps need all of it (the renames). */
    if (rcall(eng->store, true, &r, err, "HGET", akey, "spec", NULL) != FERRY_OK)
        return NULL;
    const char *text = ferry_store_reply_str(r);
    if (text == NULL) {
        ferry_store_reply_free(r);
        (void)ferry_err_set(err, FERRY_ERR_NOT_FOUND, "%s: the app's spec is gone", mig);
        return NULL;
    }
    if (eng->spec != NULL && eng->spec_text != NULL && strcmp(eng->spec_text, text) == 0) {
        ferry_store_reply_free(r);
        return eng->spec;
    }
    spec_forget(eng);
    eng->spec_text = strdup(text);
    ferry_store_reply_free(r);
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
static void step_unbuildable(engine *eng, const char *mig, const char *step, int64_t attempt,
                             const ferry_err *why)
{
    char entity[FERRY_STORE_NAME_MAX + 8], code[16];
    (void)snprintf(entity, sizeof(entity), "step:%s", step);
    (void)snprintf(code, sizeof(code), "%d", (int)why->code);
    const char *from[] = {"pending"};
    ferry_store_field fields[] = {{"error_code", code},
                                  {"error_name", ferry_rc_str(why->code)},
                                  {"error_message", why->msg},
                                  {"error_retryable", "0"}};
    ferry_store_change ch = {.migration = mig,
                             .entity = entity,
                             .from = from,
                             .n_from = 1,
                             .expect_attempt = attempt,
                             .to = "failed",
                             .new_attempt = -1,
                             .actor = eng->cfg.instance,
                             .what = "unbuildable",
                             .fields = fields,
                             .n_fields = 4};
    ferry_err err = {0};
    (void)ferry_store_transition(eng->store, &ch, NULL, &err);
    ferry_log_ctx ctx = {.migration = mig, .step = step, .attempt = (unsigned)attempt};
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
        (void)rcall(eng->store, true, NULL, &err, "ZREM", "ferry:pending", member, NULL);
        return -1;
    }
    char entity[FERRY_STORE_NAME_MAX + 8];
    (void)snprintf(entity, sizeof(entity), "step:%s", step);
    ferry_store_record *rec = NULL;
    ferry_rc rc = ferry_store_record_get(eng->store, mig, entity, &rec, &err);
    if (rc != FERRY_OK || migstore_int(rec, "attempt", 0) != attempt ||
        fm_sstate_parse(ferry_store_record_value(rec, "state")) != FM_S_PENDING) {
        ferry_store_record_free(rec);
        if (rc == FERRY_OK || rc == FERRY_ERR_NOT_FOUND)
            (void)rcall(eng->store, true, NULL, &err, "ZREM", "ferry:pending", member, NULL);
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
            step_unbuildable(eng, mig, step, attempt, &err);
            (void)rcall(eng->store, true, NULL, &err, "ZREM", "ferry:pending", member, NULL);
        }
        goto out;
    }
    char keys[3][300];
    int64_t sizes[3];
    size_t n_limits = step_limits(eng, k, &b, keys, sizes);
    char holder[300], now[24], limits[1024] = "";
    (void)snprintf(holder, sizeof(holder), "%s %s", mig, step);
    i64_text(eng->now, now, sizeof(now));
    if (n_limits > 0) {
        const char *lkeys[4] = {"ferry:limit_keys", keys[0], keys[1], keys[2]};
        char size_text[3][24];
        const char *args[5] = {holder, now, size_text[0], size_text[1], size_text[2]};
        size_t used = 0;
        for (size_t i = 0; i < n_limits; i++) {
            i64_text(sizes[i], size_text[i], sizeof(size_text[i]));
            int w = snprintf(limits + used, sizeof(limits) - used, "%s%s", i ? " " : "", keys[i]);
            used += w > 0 ? (size_t)w : 0;
        }
        ferry_store_reply *r = NULL;
        rc = ferry_store_script(eng->store, "limit_acquire", true, 1 + n_limits, lkeys,
                                2 + n_limits, args, &r, &err);
        bool got = rc == FERRY_OK && ferry_store_reply_at(r, 0) != NULL &&
                   ferry_store_reply_at(r, 0)->integer == 1;
        ferry_store_reply_free(r);
        if (!got)
            goto out; /* full: it waits for a slot */
        char skey[FERRY_STORE_KEY_MAX];
        if (ferry_store_key(mig, entity, skey, sizeof(skey), &err) == FERRY_OK)
            (void)rcall(eng->store, true, NULL, &err, "HSET", skey, "limits", limits, NULL);
    }

    ferry_step_seen seen;
    rc = ferry_steps_dispatch(eng->store, &ref, kind_names[k], eng->cfg.instance, &seen, &err);
    (void)rcall(eng->store, true, NULL, &err, "ZREM", "ferry:pending", member, NULL);
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
    ferry_store_reply *due = NULL;
    char now[24];
    i64_text(eng->now, now, sizeof(now));
    if (rcall(eng->store, true, &due, &err, "ZRANGEBYSCORE", "ferry:pending", "-inf", now, "LIMIT",
              "0", "1000", NULL) != FERRY_OK) {
        ferry_log(FERRY_LOG_WARN, NULL, "dispatch: %s", err.msg);
        return 0;
    }
    if (due->count > 0) {
        int64_t cap[KINDS];
        capacity(eng, cap);
        for (size_t i = 0; i < due->count; i++) {
            int64_t free_slots = 0;
            for (int k = 1; k < KINDS; k++)
                free_slots += cap[k] > 0 ? cap[k] : 0;
            if (free_slots == 0)
                break; /* every worker is busy: the rest waits for the next round */
            const char *member = ferry_store_reply_str(due->elements[i]);
            if (member != NULL && dispatch_one(eng, member, cap) == 1)
                published++;
        }
    }
    ferry_store_reply_free(due);
    if (published > 0 && ferry_bus_flush(eng->producer, 10000, &err) != FERRY_OK)
        ferry_log(FERRY_LOG_WARN, NULL, "publishing steps: %s (the redispatch sweep retries)",
                  err.msg);
    return published;
}

/* ------------------------------------------------------------------ sweeps */

static void sweep_timers(engine *eng)
{
    ferry_err err = {0};
    char now[24];
    i64_text(eng->now, now, sizeof(now));
    ferry_store_reply *due = NULL;
    if (rcall(eng->store, true, &due, &err, "ZRANGEBYSCORE", "ferry:timers", "-inf", now, "LIMIT",
              "0", "500", NULL) != FERRY_OK)
        return;
    for (size_t i = 0; i < due->count; i++) {
        const char *mig = ferry_store_reply_str(due->elements[i]);
        if (mig == NULL)
            continue;
        /* Dropped before the evaluation, which sets it again when still needed. */
        (void)rcall(eng->store, true, NULL, &err, "ZREM", "ferry:timers", mig, NULL);
        if (engine_evaluate(eng, mig, &err) != FERRY_OK) {
            ferry_log_ctx ctx = {.migration = mig};
            ferry_log(FERRY_LOG_WARN, &ctx, "evaluation failed: %s", err.msg);
        }
    }
    ferry_store_reply_free(due);
}

static void sweep_leases(engine *eng)
{
    ferry_err err = {0};
    char now[24];
    i64_text(eng->now, now, sizeof(now));
    ferry_store_reply *due = NULL;
    if (rcall(eng->store, true, &due, &err, "ZRANGEBYSCORE", "ferry:leases", "-inf", now, "LIMIT",
              "0", "500", NULL) != FERRY_OK)
        return;
    for (size_t i = 0; i < due->count; i++) {
        const char *member = ferry_store_reply_str(due->elements[i]);
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
            (void)rcall(eng->store, true, NULL, &err, "ZREM", "ferry:leases", member, NULL);
    }
    ferry_store_reply_free(due);
}

static void sweep_unclaimed(engine *eng)
{
    ferry_err err = {0};
    char before[24], now[24];
    int64_t age = eng->republish_all ? 0 : eng->cfg.redispatch_ms;
    i64_text(eng->now - age, before, sizeof(before));
    i64_text(eng->now, now, sizeof(now));
    int republished = 0;
    for (int k = 1; k < KINDS; k++) {
        char key[64];
        (void)snprintf(key, sizeof(key), "ferry:queued:%s", kind_names[k]);
        ferry_store_reply *old = NULL;
        if (rcall(eng->store, true, &old, &err, "ZRANGEBYSCORE", key, "-inf", before, "LIMIT", "0",
                  "200", NULL) != FERRY_OK)
            continue;
        for (size_t i = 0; i < old->count; i++) {
            const char *member = ferry_store_reply_str(old->elements[i]);
            char mig[FERRY_STORE_NAME_MAX + 1], step[FERRY_STORE_NAME_MAX + 1];
            char entity[FERRY_STORE_NAME_MAX + 8];
            int64_t attempt = 0;
            if (member == NULL ||
                !ferry_steps_member_parse(member, mig, sizeof(mig), step, sizeof(step), &attempt))
                continue;
            (void)snprintf(entity, sizeof(entity), "step:%s", step);
            ferry_store_record *rec = NULL;
            ferry_rc rc = ferry_store_record_get(eng->store, mig, entity, &rec, &err);
            bool still = rc == FERRY_OK && migstore_int(rec, "attempt", 0) == attempt &&
                         fm_sstate_parse(ferry_store_record_value(rec, "state")) == FM_S_DISPATCHED;
            if (still) {
                stepcmd_built b;
                rc = step_build(eng, mig, step, rec, attempt, &b, &err);
                if (rc == FERRY_OK)
                    rc = step_publish(eng, mig, step, &b, &err);
                stepcmd_cleanup(&b);
                if (rc == FERRY_OK) {
                    republished++;
                    (void)rcall(eng->store, true, NULL, &err, "ZADD", key, "XX", now, member, NULL);
                }
            } else if (rc == FERRY_OK || rc == FERRY_ERR_NOT_FOUND) {
                (void)rcall(eng->store, true, NULL, &err, "ZREM", key, member, NULL);
            }
            ferry_store_record_free(rec);
        }
        ferry_store_reply_free(old);
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
        limits_sweep(eng);
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
        const char *entity = ferry_store_record_value(f, "entity");
        const char *to = ferry_store_record_value(f, "to");
        if (mig == NULL)
            continue; /* trimmed while pending: nothing to act on */
        if (entity != NULL && strncmp(entity, "step:", 5) == 0 && final_state(to))
            limits_release(eng, mig, entity + 5);
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
        (void)ferry_store_ack(eng->store, FERRY_STORE_EVENTS, EVENTS_GROUP, ents->entries[i].id,
                              &err);
    return true;
}

/* Takes or keeps the leadership lease; true while this instance leads. */
static bool lead(engine *eng)
{
    ferry_err err = {0};
    char lease[24];
    i64_text(eng->cfg.tick_ms * 10 > 5000 ? eng->cfg.tick_ms * 10 : 5000, lease, sizeof(lease));
    const char *keys[] = {LEADER_KEY};
    const char *args[] = {eng->cfg.instance, lease};
    ferry_store_reply *r = NULL;
    if (ferry_store_script(eng->store, "leader", false, 1, keys, 2, args, &r, &err) != FERRY_OK)
        return eng->leader; /* Redis is away: keep what we were, the next tick tells */
    bool now_leader =
        ferry_store_reply_at(r, 0) != NULL && ferry_store_reply_at(r, 0)->integer == 1;
    if (now_leader != eng->leader) {
        const char *who = ferry_store_reply_str(ferry_store_reply_at(r, 1));
        ferry_log(FERRY_LOG_INFO, NULL, now_leader ? "leading" : "standing by: %s leads",
                  who != NULL ? who : "?");
        eng->republish_all = now_leader;
    }
    eng->leader = now_leader;
    ferry_store_reply_free(r);
    return now_leader;
}

/* Evaluates every migration once (after a start or a takeover). */
static void evaluate_all(engine *eng)
{
    ferry_err err = {0};
    ferry_store_reply *ids = NULL;
    if (rcall(eng->store, true, &ids, &err, "SMEMBERS", "ferry:migrations", NULL) != FERRY_OK)
        return;
    for (size_t i = 0; i < ids->count; i++) {
        const char *mig = ferry_store_reply_str(ids->elements[i]);
        if (mig != NULL && engine_evaluate(eng, mig, &err) != FERRY_OK) {
            ferry_log_ctx ctx = {.migration = mig};
            ferry_log(FERRY_LOG_WARN, &ctx, "evaluation failed: %s", err.msg);
        }
    }
    ferry_store_reply_free(ids);
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
            if (ferry_store_group_create(eng->store, FERRY_STORE_EVENTS, EVENTS_GROUP, "0", err) !=
                FERRY_OK) {
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
        ferry_rc rc =
            ferry_store_group_read(eng->store, FERRY_STORE_EVENTS, EVENTS_GROUP, EVENTS_CONSUMER,
                                   read_pending ? "0" : ">", BATCH, block, &ents, err);
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
