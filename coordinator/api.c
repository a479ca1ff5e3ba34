/* api.c - the coordinator's HTTP+JSON API (see api.h and docs/api.md). */
#include "api.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/time.h>

#include "ferry/buf.h"
#include "ferry/clock.h"
#include "ferry/log.h"
#include "ferry/store.h"
#include "machine.h"
#include "metrics.h"
#include "ferry/state.h"
#include "ferry/state_access.h"
#include "api_parse.h"
#include "auth.h"
#include "ferry_ui_embedded.h"
#include "migstore.h"
#include "spec.h"
#include "stepcmd.h"

#define STEPS_LIST      5000
#define HEALTH_KAFKA_MS 1000   /* a health check waits this long for a broker */
#define HEALTH_EVERY_MS 1000   /* the health thread looks this often */
#define AUDIT_SCAN      100000 /* entries looked through for one app's audit trail */
#define AUDIT_PAGE      1000
#define SESSION_COOKIE  "ferry_session"
#define CSRF_HEADER     "X-CSRF-Token"
/* Every answer's security headers (docs/console.md): the page runs only its own files. */
#define CSP                                                                                        \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src "        \
    "'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

struct api {
    api_cfg cfg;
    auth *auth;
    /* The request being served (one at a time): who asks, and the actor the changes it makes
     * are recorded with in history ("ops-shop via api@host:pid"). */
    const auth_user *who;
    char actor[AUTH_NAME_MAX + 200];
    struct MHD_Daemon *daemon;
    ferry_store *store; /* used only on the server's thread */
    ferry_bus_producer *producer;
    /* Health, looked at by a thread of its own so that /v1/health never waits on Redis or
     * Kafka on the server's thread (which serves every user). */
    pthread_t health_thread;
    bool health_started;
    atomic_bool health_stop;
    atomic_bool redis_ok, kafka_ok;
    atomic_llong checked_at; /* wall ms of the last look; 0 before the first */
    ferry_store *health_store;
};

/* One request: its body as it arrives. */
typedef struct req {
    char *body;
    size_t len;
    bool too_large;
    bool answered; /* answered from its headers (401, 413): the body is not read */
    /* Who sent it, found from its headers before the body is read. */
    auth_user who;
    bool authed;      /* who is set */
    bool via_session; /* by the page's cookie (so a change needs the CSRF token) */
    char session[AUTH_SECRET_LEN + 1];
    char csrf[AUTH_SECRET_LEN + 1];
    char from[64]; /* the client's address */
} req;

/* What a handler answers: JSON, or a text of a content type of its own (the page's files,
 * metrics), and a cookie to set. */
typedef struct answer {
    unsigned status;
    json_t *json; /* owned */
    char *text;   /* owned; used when json is NULL */
    size_t text_len;
    const char *type; /* text's content type */
    char *cookie;     /* owned: a Set-Cookie value, or NULL */
} answer;

/* ------------------------------------------------------------------ answers */

static answer reply(unsigned status, json_t *json)
{
    answer a = {.status = status, .json = json};
    return a;
}

static answer error_answer(unsigned status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static answer error_answer(unsigned status, const char *code, const char *fmt, ...)
{
    char msg[1024]; /* a message for people: a longer one is cut, never overrun */
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return reply(status, api_error_json(code, "%s", msg));
}

/* An error from a store or bus call: 503 when a service is away, 500 otherwise. */
static answer failure_answer(const ferry_err *err)
{
    if (err->code == FERRY_ERR_UNAVAILABLE || err->code == FERRY_ERR_TIMEOUT)
        return error_answer(503, "unavailable", "%s", err->msg);
    if (err->code == FERRY_ERR_NOT_FOUND)
        return error_answer(404, "not_found", "%s", err->msg);
    if (err->code == FERRY_ERR_CONFLICT)
        return error_answer(409, "conflict", "%s", err->msg);
    return error_answer(500, "internal", "%s", err->msg);
}

/* ------------------------------------------------------------------ rendering */

/* An integer field as JSON, or null when absent (or, with zero_null, when 0). */
static json_t *jint(const ferry_store_record *rec, const char *name, bool zero_null)
{
    const char *v = ferry_store_record_value(rec, name);
    if (v == NULL || v[0] == '\0')
        return json_null();
    int64_t n = migstore_int(rec, name, 0);
    if (zero_null && n == 0)
        return json_null();
    return json_integer(n);
}

static json_t *jstr(const ferry_store_record *rec, const char *name)
{
    const char *v = ferry_store_record_value(rec, name);
    return v != NULL && v[0] != '\0' ? json_string(v) : json_null();
}

/* A step record (docs/api.md <step>). */
static json_t *step_json(const char *mig, const char *id, const ferry_store_record *rec)
{
    json_t *results = json_object();
    for (size_t i = 0; rec != NULL && i < rec->count; i++) {
        if (strncmp(rec->pairs[i].name, "r.", 2) == 0)
            json_object_set_new(results, rec->pairs[i].name + 2, json_string(rec->pairs[i].value));
    }
    json_t *error = json_null();
    const char *code = ferry_store_record_value(rec, "error_code");
    const char *msg = ferry_store_record_value(rec, "error_message");
    if ((code != NULL && code[0] != '\0') || (msg != NULL && msg[0] != '\0')) {
        json_decref(error);
        error = json_pack("{s:o,s:o,s:o,s:b}", "code", jint(rec, "error_code", false), "name",
                          jstr(rec, "error_name"), "message", jstr(rec, "error_message"),
                          "retryable", migstore_int(rec, "error_retryable", 0) == 1);
    }
    json_t *progress = json_pack(
        "{s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "done", jint(rec, "p_done", false), "total",
        jint(rec, "p_total", false), "unit", jstr(rec, "p_unit"), "bytes_done",
        jint(rec, "p_bytes_done", false), "bytes_total", jint(rec, "p_bytes_total", false), "rows",
        jint(rec, "p_rows", false), "detail", jstr(rec, "p_detail"));
    return json_pack(
        "{s:s,s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,"
        "s:o,s:o,s:o}",
        "migration", mig, "id", id, "kind", jstr(rec, "kind"), "operation", jstr(rec, "operation"),
        "purpose", jstr(rec, "purpose"), "state", jstr(rec, "state"), "attempt",
        jint(rec, "attempt", false), "retries", jint(rec, "retries", false), "worker",
        jstr(rec, "owner"), "lease_until", jint(rec, "lease_until", true), "dispatched_at",
        jint(rec, "dispatched_at", true), "started_at", jint(rec, "started_at", true),
        "finished_at", jint(rec, "finished_at", true), "duration_ms",
        jint(rec, "duration_ms", false), "deadline", jint(rec, "deadline", false), "cycle",
        jint(rec, "cycle", false), "pass", jint(rec, "pass", true), "progress", progress, "error",
        error, "results", results, "created_at", jint(rec, "created_at", true));
}

/* Every step of a migration, oldest first. */
static ferry_rc steps_json(ferry_store *store, const char *mig, json_t *into, ferry_err *err)
{
    ferry_state_list ids = {0};
    ferry_rc rc = ferry_state_step_ids(store, mig, STEPS_LIST, &ids, err);
    for (size_t i = 0; rc == FERRY_OK && i < ids.count; i++) {
        if (ids.items[i] == NULL)
            continue;
        ferry_store_record *rec = NULL;
        rc = ferry_state_step_get(store, mig, ids.items[i], &rec, err);
        if (rc == FERRY_ERR_NOT_FOUND) {
            rc = FERRY_OK;
            continue;
        }
        if (rc == FERRY_OK)
            json_array_append_new(into, step_json(mig, ids.items[i], rec));
        ferry_store_record_free(rec);
    }
    ferry_state_list_cleanup(&ids);
    return rc;
}

/* A migration (docs/api.md <migration>), from a loaded view. */
/* The cutover's limit and, while it runs, its deadline and what is left; when migrate may
 * start (the TTL wait). docs/api.md <migration>.cutover. */
static json_t *cutover_json(const migstore_view *v, const fm_policy *policy)
{
    const fm_mig *m = &v->mig;
    int64_t wait = fm_ttl_wait_until(m, policy);
    json_t *j = json_pack(
        "{s:I,s:o,s:o,s:o,s:o}", "limit_ms", (json_int_t)fm_cutover_budget(m, policy), "deadline",
        json_null(), "time_left_ms", json_null(), "downtime_ms", jint(v->rec, "downtime_ms", true),
        "migrate_after", wait > v->now ? json_integer(wait) : json_null());
    if (j != NULL && m->cutover_deadline > 0) {
        int64_t left = m->cutover_deadline - v->now;
        json_object_set_new(j, "deadline", json_integer(m->cutover_deadline));
        json_object_set_new(j, "time_left_ms", json_integer(left > 0 ? left : 0));
    }
    return j;
}

/* How the database moves (docs/api.md <migration>.database): the method and why, the slot,
 * and while a stream runs its lag (the stream's progress, docs/orchestration.md). */
static json_t *database_json(const migstore_view *v)
{
    const ferry_store_record *r = v->rec;
    const fm_mig *m = &v->mig;
    char slot[STEPCMD_SLOT_MAX + 1];
    stepcmd_slot_name(m->id, slot, sizeof(slot));
    json_t *stream = json_null();
    for (size_t i = 0; i < v->n_steps; i++) {
        const fm_step *s = &v->steps[i];
        if (s->cycle != m->cycle || s->state != FM_S_RUNNING ||
            strcmp(s->purpose, "replicate.stream") != 0)
            continue;
        const ferry_store_record *sr = v->step_recs[i];
        json_decref(stream);
        stream =
            json_pack("{s:s,s:o,s:o,s:o,s:o}", "step", s->id, "lag_ms", jint(sr, "p_done", false),
                      "lag_bytes", jint(sr, "p_bytes_done", false), "slot_wal_bytes",
                      jint(sr, "p_bytes_total", false), "changes", jint(sr, "p_rows", false));
    }
    const char *method = m->method[0] != '\0' ? m->method : NULL;
    return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o}", "method_spec",
                     m->method_spec[0] != '\0' ? json_string(m->method_spec) : json_null(),
                     "method", method != NULL ? json_string(method) : json_null(), "why",
                     jstr(r, "method_why"), "slot", m->slot_held ? json_string(slot) : json_null(),
                     "slot_error", jstr(r, "slot_error"), "stream", stream);
}

static json_t *migration_json(const migstore_view *v, const fm_policy *policy)
{
    const ferry_store_record *r = v->rec;
    const fm_mig *m = &v->mig;
    json_t *active = json_array();
    double percent = 0;
    int64_t fdone = migstore_int(r, "files_synced", 0), ftotal = migstore_int(r, "files_total", 0);
    int64_t bdone = migstore_int(r, "bytes_synced", 0), btotal = migstore_int(r, "bytes_total", 0);
    for (size_t i = 0; i < v->n_steps; i++) {
        const fm_step *s = &v->steps[i];
        if (s->cycle != m->cycle || !fm_sstate_active(s->state))
            continue;
        json_array_append_new(active, step_json(m->id, s->id, v->step_recs[i]));
        const fm_purpose *p = fm_purpose_find(s->purpose);
        int64_t total = migstore_int(v->step_recs[i], "p_total", 0);
        if (p != NULL && strcmp(p->kind, "file_sync") == 0 && s->state == FM_S_RUNNING &&
            total > 0) {
            fdone = migstore_int(v->step_recs[i], "p_done", 0);
            ftotal = total;
            bdone = migstore_int(v->step_recs[i], "p_bytes_done", 0);
            btotal = migstore_int(v->step_recs[i], "p_bytes_total", 0);
        }
    }
    if (ftotal > 0)
        percent = (double)(fdone * 1000 / ftotal) / 10.0;
    json_t *error = json_null();
    const char *emsg = ferry_store_record_value(r, "error_message");
    if (emsg != NULL && emsg[0] != '\0') {
        json_decref(error);
        error = json_pack("{s:o,s:o,s:o,s:s,s:o}", "step", jstr(r, "error_step"), "code",
                          jint(r, "error_code", false), "name", jstr(r, "error_name"), "message",
                          emsg, "at", jint(r, "error_at", true));
    }
    return json_pack(
        "{s:s,s:o,s:o,s:{s:o,s:o},s:{s:o,s:o},s:s,s:o,s:b,s:b,s:b,s:o,s:{s:I,s:I,s:f,s:I,s:I},"
        "s:o,s:{s:o,s:o,s:o,s:o},s:o,s:o,s:o,s:o,s:{s:o,s:o},s:o,s:b,s:o}",
        "id", m->id, "app", jstr(r, "app"), "env", jstr(r, "env"), "source", "env", jstr(r, "env"),
        "id", jstr(r, "source_id"), "target", "env", jstr(r, "env"), "id", jstr(r, "target_id"),
        "state", migstore_state_text(v), "phase", jstr(r, "phase"), "reached_100", m->reached_100,
        "target_incomplete", migstore_int(r, "target_incomplete", 0) == 1, "replayable",
        m->replayable, "pass", jint(r, "pass", false), "files", "done", (json_int_t)fdone, "total",
        (json_int_t)ftotal, "percent", percent, "bytes_done", (json_int_t)bdone, "bytes_total",
        (json_int_t)btotal, "rows", jint(r, "rows", false), "last", "dump_restore_ms",
        jint(r, "last_dr_ms", false), "file_sync_ms", jint(r, "last_fs_ms", false),
        "dump_restore_at", jint(r, "last_dr_at", true), "file_sync_at", jint(r, "last_fs_at", true),
        "error", error, "active_steps", active, "updated_at", jint(r, "updated_at", true), "cycle",
        jint(r, "cycle", false), "verified", "dump_restore_ms", jint(r, "verified_dr_ms", true),
        "file_sync_ms", jint(r, "verified_fs_ms", true), "cutover", cutover_json(v, policy),
        "names_swapped", m->names_swapped, "database", database_json(v));
}

/* The commands the requester may run on the migration now (docs/console.md "What each
 * migration offers"): those its role allows on the app and its state accepts. */
static json_t *actions_json(const api *a, const migstore_view *v)
{
    static const fm_verb verbs[] = {FM_VERB_REPLICATE,  FM_VERB_STOP,      FM_VERB_INTERRUPT,
                                    FM_VERB_TEST_START, FM_VERB_TEST_STOP, FM_VERB_MIGRATE,
                                    FM_VERB_ROLLBACK,   FM_VERB_REPLAY};
    json_t *list = json_array();
    const char *app = ferry_store_record_value(v->rec, "app");
    const char *env = ferry_store_record_value(v->rec, "env");
    if (a->who == NULL || !auth_may_command(a->who, app))
        return list;
    bool production = env != NULL && strcmp(env, "production") == 0;
    fm_verb_args args = {.actor = a->actor, .confirm = true};
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
        /* The final migration and its rollback are the production's (they rename every
         * environment's names), as the commands take them. */
        if ((verbs[i] == FM_VERB_MIGRATE || verbs[i] == FM_VERB_ROLLBACK) && !production)
            continue;
        fm_plan plan;
        char why[512];
        if (fm_verb_plan(&v->mig, v->steps, v->n_steps, verbs[i], &args, &a->cfg.policy, v->now,
                         &plan, why, sizeof(why)))
            json_array_append_new(list, json_string(fm_verb_name(verbs[i])));
    }
    return list;
}

/* Loads and renders migration id; with_steps adds every step. NULL with err on failure. */
static json_t *load_migration(api *a, const char *id, bool with_steps, ferry_err *err)
{
    migstore_view v;
    if (migstore_load(a->store, id, &v, err) != FERRY_OK)
        return NULL;
    if (v.rec == NULL) {
        migstore_view_cleanup(&v);
        (void)ferry_err_set(err, FERRY_ERR_NOT_FOUND, "no migration %s", id);
        return NULL;
    }
    json_t *j = migration_json(&v, &a->cfg.policy);
    if (j != NULL)
        json_object_set_new(j, "actions", actions_json(a, &v));
    migstore_view_cleanup(&v);
    if (j != NULL && with_steps) {
        json_t *steps = json_array();
        if (steps_json(a->store, id, steps, err) != FERRY_OK) {
            json_decref(steps);
            json_decref(j);
            return NULL;
        }
        json_object_set_new(j, "steps", steps);
    }
    return j;
}

/* The app's environments, in spec order, and (created may be NULL) when it was created. NULL
 * with err when there is no such app. */
static json_t *app_envs(api *a, const char *app, int64_t *created, ferry_err *err)
{
    ferry_state_app st = {0};
    if (ferry_state_app_get(a->store, app, &st, err) != FERRY_OK)
        return NULL;
    if (created != NULL)
        *created = st.created_at;
    json_t *list = json_array();
    for (const char *p = st.environments; list != NULL && *p != '\0';) {
        size_t len = strcspn(p, ",");
        if (json_array_append_new(list, json_stringn(p, len)) != 0) {
            json_decref(list);
            list = NULL;
            break;
        }
        p += len;
        if (*p == ',')
            p++;
    }
    ferry_state_app_cleanup(&st);
    if (list == NULL)
        (void)ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
    return list;
}

static json_t *app_json(api *a, const char *app, ferry_err *err)
{
    int64_t created = 0;
    json_t *envs = app_envs(a, app, &created, err);
    if (envs == NULL)
        return NULL;
    json_t *j = json_pack("{s:s,s:I,s:o,s:[]}", "app", app, "created_at", (json_int_t)created,
                          "environments", envs, "migrations");
    json_t *migs = json_object_get(j, "migrations");
    size_t i;
    json_t *env;
    json_array_foreach(envs, i, env)
    {
        char id[FERRY_STORE_NAME_MAX + 1];
        (void)snprintf(id, sizeof(id), "%s.%s", app, json_string_value(env));
        json_t *m = load_migration(a, id, false, err);
        if (m == NULL) {
            json_decref(j);
            return NULL;
        }
        json_array_append_new(migs, m);
    }
    return j;
}

/* ------------------------------------------------------------------ creating an app */

/* Creates the app of spec (parsed by api_parse from body, which is kept as the app's spec). */
static answer create_app(api *a, const ferry_spec *spec, const char *body)
{
    ferry_err err = {0};
    answer out;
    char created[24];
    int64_t now = ferry_wall_ms();
    (void)snprintf(created, sizeof(created), "%" PRId64, now);
    ferry_buf envs_list = {0}; /* "production,test,...": as long as the spec's environments */
    for (size_t i = 0; i < spec->n_envs; i++) {
        if (i > 0)
            ferry_buf_add(&envs_list, ",");
        ferry_buf_add(&envs_list, spec->envs[i].name);
    }
    if (envs_list.oom) {
        ferry_buf_cleanup(&envs_list);
        return error_answer(500, "internal", "out of memory");
    }
    const char *envs = envs_list.p != NULL ? envs_list.p : "";
    bool fresh = false;
    ferry_rc rc = ferry_state_app_create(a->store, spec->app, body, envs, now, &fresh, &err);
    if (rc != FERRY_OK) {
        out = failure_answer(&err);
        goto done;
    }
    if (!fresh) {
        out = error_answer(409, "conflict",
                           "app %s exists already; delete it first to change its spec", spec->app);
        goto done;
    }
    json_t *ids = json_array();
    for (size_t i = 0; rc == FERRY_OK && i < spec->n_envs; i++) {
        const ferry_spec_env *e = &spec->envs[i];
        char id[FERRY_STORE_NAME_MAX + 1], pause[24];
        (void)snprintf(id, sizeof(id), "%s.%s", spec->app, e->name);
        (void)snprintf(pause, sizeof(pause), "%" PRId64,
                       spec->options.file_sync_pause_ms > 0 ? spec->options.file_sync_pause_ms
                                                            : a->cfg.default_pause_ms);
        ferry_store_field extra[] = {
            {"app", spec->app},
            {"env", e->name},
            {"production", strcmp(e->name, "production") == 0 ? "1" : "0"},
            {"pause_ms", pause},
            {"source_id", e->source.id != NULL ? e->source.id : ""},
            {"target_id", e->target.id != NULL ? e->target.id : ""},
            {"method_spec", ferry_spec_db_method_name(e->source.database.method)},
            {"created_at", created},
        };
        fm_plan plan;
        memset(&plan, 0, sizeof(plan));
        plan.change = true;
        plan.to = FM_NEW;
        (void)snprintf(plan.what, sizeof(plan.what), "created");
        const char *expect[] = {""};
        migstore_change change = {.actor = a->actor,
                                  .expect = expect,
                                  .n_expect = 1,
                                  .expect_cycle = -1,
                                  .plan = &plan,
                                  .extra = extra,
                                  .n_extra = sizeof(extra) / sizeof(extra[0]),
                                  .index = true};
        rc = migstore_apply(a->store, id, &change, NULL, &err);
        if (rc == FERRY_OK)
            json_array_append_new(ids, json_string(id));
    }
    if (rc != FERRY_OK) {
        json_decref(ids);
        out = failure_answer(&err);
        goto done;
    }
    ferry_log(FERRY_LOG_INFO, NULL, "app %s created with %zu environment%s", spec->app,
              spec->n_envs, spec->n_envs == 1 ? "" : "s");
    out = reply(201, json_pack("{s:s,s:o}", "app", spec->app, "migrations", ids));
done:
    ferry_buf_cleanup(&envs_list);
    return out;
}

static answer delete_app(api *a, const char *app)
{
    ferry_err err = {0};
    json_t *envs = app_envs(a, app, NULL, &err);
    if (envs == NULL)
        return failure_answer(&err);
    size_t n = json_array_size(envs);
    char(*ids)[FERRY_STORE_NAME_MAX + 1] = calloc(n + 1, sizeof(*ids));
    const char **idp = calloc(n + 1, sizeof(*idp));
    if (ids == NULL || idp == NULL) {
        free(ids);
        free(idp);
        json_decref(envs);
        return error_answer(500, "internal", "out of memory");
    }
    size_t i;
    json_t *env;
    json_array_foreach(envs, i, env)
    {
        char *id = ids[i];
        idp[i] = id;
        (void)snprintf(id, sizeof(ids[i]), "%s.%s", app, json_string_value(env));
        migstore_view v;
        if (migstore_load(a->store, id, &v, &err) != FERRY_OK) {
            json_decref(envs);
            free(ids);
            free(idp);
            return failure_answer(&err);
        }
        /* Resting, except between passes: a pause still holds a next pass. */
        bool ok = v.rec == NULL ||
                  (fm_resting(v.mig.state, v.mig.phase) && v.mig.state != FM_REPLICATING);
        /* A replication slot left on the source would keep its WAL until the disk fills: the
         * machine drops it as soon as the migration rests (fm_advance); delete waits for that. */
        bool slot = v.rec != NULL && v.mig.slot_held;
        char state[FM_NAME_MAX];
        (void)snprintf(state, sizeof(state), "%s", migstore_state_text(&v));
        migstore_view_cleanup(&v);
        if (!ok || slot) {
            answer refused =
                slot ? error_answer(
                           409, "conflict",
                           "cannot delete %s yet: %s still has a replication slot on "
                           "its source, which Ferry is dropping; try again shortly (ferryctl "
                           "status %s says why if it cannot)",
                           app, id, id)
                     : error_answer(409, "conflict", "cannot delete %s: %s is %s", app, id, state);
            json_decref(envs);
            free(ids);
            free(idp);
            return refused;
        }
    }
    json_decref(envs);
    /* Checked again in the deletion itself: the engine may have moved one on meanwhile. */
    const char *deletable[FM_STATE_OTHER];
    size_t n_deletable = 0;
    for (fm_state s = FM_NEW; s < FM_STATE_OTHER; s++) {
        if (fm_resting(s, FM_PH_NONE) && s != FM_REPLICATING)
            deletable[n_deletable++] = fm_state_name(s);
    }
    ferry_rc rc = ferry_state_app_delete(a->store, app, idp, n, deletable, n_deletable, &err);
    free(ids);
    free(idp);
    if (rc != FERRY_OK)
        return failure_answer(&err);
    ferry_log(FERRY_LOG_INFO, NULL, "app %s deleted", app);
    return reply(200, json_pack("{s:s}", "app", app));
}

/* ------------------------------------------------------------------ commands */

/* Which environments a command applies to by default. */
typedef enum env_default { ENV_ALL, ENV_PRODUCTION, ENV_FAILED } env_default;

/* Runs the command p (api_parse read its verb and arguments) on the app p->id. */
static answer command(api *a, const api_parsed *p)
{
    ferry_err err = {0};
    json_t *envs = NULL;
    answer out;
    const char *app = p->id;
    fm_verb cmd = p->verb;
    fm_verb_args args = {.actor = a->actor,
                         .replay_step = p->step,
                         .overwrite = p->overwrite,
                         .force = p->force,
                         .confirm = p->confirm};
    const char *want_env = p->env;

    envs = app_envs(a, app, NULL, &err);
    if (envs == NULL)
        return failure_answer(&err);
    env_default def = ENV_ALL;
    if (cmd == FM_VERB_MIGRATE || cmd == FM_VERB_ROLLBACK || cmd == FM_VERB_TEST_START ||
        cmd == FM_VERB_TEST_STOP)
        def = ENV_PRODUCTION;
    if (cmd == FM_VERB_REPLAY)
        def = ENV_FAILED;
    if (cmd == FM_VERB_MIGRATE || cmd == FM_VERB_ROLLBACK)
        want_env = "production"; /* the final migration is the production's (it renames all) */

    json_t *done = json_array();
    json_t *refused = json_array();
    size_t i;
    json_t *env;
    bool matched = false;
    char first_refusal[FERRY_STORE_NAME_MAX + 520] = "";
    json_array_foreach(envs, i, env)
    {
        const char *name = json_string_value(env);
        if (want_env != NULL && strcmp(want_env, name) != 0)
            continue;
        if (want_env == NULL && def == ENV_PRODUCTION && strcmp(name, "production") != 0)
            continue;
        char id[FERRY_STORE_NAME_MAX + 1];
        (void)snprintf(id, sizeof(id), "%s.%s", app, name);
        migstore_view v;
        if (migstore_load(a->store, id, &v, &err) != FERRY_OK) {
            out = failure_answer(&err);
            goto fail;
        }
        if (want_env == NULL && def == ENV_FAILED &&
            (v.mig.state != FM_FAILED || !v.mig.replayable)) {
            migstore_view_cleanup(&v);
            continue;
        }
        matched = true;
        fm_plan plan;
        char why[512] = "";
        if (!fm_verb_plan(&v.mig, v.steps, v.n_steps, cmd, &args, &a->cfg.policy, v.now, &plan, why,
                          sizeof(why))) {
            json_array_append_new(refused, json_pack("{s:s,s:s}", "id", id, "message", why));
            if (first_refusal[0] == '\0')
                (void)snprintf(first_refusal, sizeof(first_refusal), "%s: %s", id, why);
            migstore_view_cleanup(&v);
            continue;
        }
        const char *expect[] = {migstore_state_text(&v)};
        migstore_change change = {.actor = a->actor,
                                  .expect = expect,
                                  .n_expect = 1,
                                  .expect_cycle = v.mig.cycle,
                                  .plan = &plan};
        ferry_rc rc = migstore_apply(a->store, id, &change, NULL, &err);
        migstore_view_cleanup(&v);
        if (rc == FERRY_ERR_CONFLICT) {
            json_array_append_new(refused, json_pack("{s:s,s:s}", "id", id, "message", err.msg));
            continue;
        }
        if (rc != FERRY_OK) {
            out = failure_answer(&err);
            goto fail;
        }
        ferry_log_ctx ctx = {.migration = id};
        ferry_log(FERRY_LOG_INFO, &ctx, "%s accepted", fm_verb_name(cmd));
        json_t *m = load_migration(a, id, false, &err);
        if (m != NULL)
            json_array_append_new(done, m);
    }
    if (!matched) {
        if (want_env != NULL)
            out = error_answer(404, "not_found", "app %s has no environment %s", app, want_env);
        else if (def == ENV_PRODUCTION)
            out = error_answer(404, "not_found", "app %s has no production environment", app);
        else
            out = error_answer(409, "conflict",
                               "%s: nothing to %s: no migration of %s is failed "
                               "and replayable",
                               app, fm_verb_name(cmd), app);
        goto fail;
    }
    if (json_array_size(done) == 0) {
        out = reply(409, json_pack("{s:{s:s,s:s,s:o}}", "error", "code", "conflict", "message",
                                   first_refusal, "refused", refused));
        refused = NULL;
        goto fail;
    }
    out = reply(202, json_pack("{s:o,s:o}", "migrations", done, "refused", refused));
    json_decref(envs);
    return out;
fail:
    json_decref(done);
    json_decref(refused);
    json_decref(envs);
    return out;
}

/* ------------------------------------------------------------------ other reads */

static answer list_migrations(api *a)
{
    ferry_err err = {0};
    ferry_state_list ids = {0};
    if (ferry_state_migrations(a->store, &ids, &err) != FERRY_OK)
        return failure_answer(&err);
    json_t *list = json_array();
    for (size_t i = 0; i < ids.count; i++) {
        json_t *m = ids.items[i] != NULL ? load_migration(a, ids.items[i], false, &err) : NULL;
        if (m != NULL)
            json_array_append_new(list, m);
    }
    ferry_state_list_cleanup(&ids);
    return reply(200, json_pack("{s:o}", "migrations", list));
}

static answer list_apps(api *a)
{
    ferry_err err = {0};
    ferry_state_list names = {0};
    if (ferry_state_apps(a->store, &names, &err) != FERRY_OK)
        return failure_answer(&err);
    json_t *list = json_array();
    for (size_t i = 0; i < names.count; i++) {
        json_t *j = names.items[i] != NULL ? app_json(a, names.items[i], &err) : NULL;
        if (j != NULL)
            json_array_append_new(list, j);
    }
    ferry_state_list_cleanup(&names);
    return reply(200, json_pack("{s:o}", "apps", list));
}

static answer app_steps(api *a, const char *app)
{
    ferry_err err = {0};
    json_t *envs = app_envs(a, app, NULL, &err);
    if (envs == NULL)
        return failure_answer(&err);
    json_t *list = json_array();
    size_t i;
    json_t *env;
    json_array_foreach(envs, i, env)
    {
        char id[FERRY_STORE_NAME_MAX + 1];
        (void)snprintf(id, sizeof(id), "%s.%s", app, json_string_value(env));
        if (steps_json(a->store, id, list, &err) != FERRY_OK) {
            json_decref(list);
            json_decref(envs);
            return failure_answer(&err);
        }
    }
    json_decref(envs);
    return reply(200, json_pack("{s:o}", "steps", list));
}

/* Stream entries, newest first -> JSON objects, oldest first. */
static json_t *entries_json(const ferry_store_entries *r, bool dead_letters, api *a)
{
    json_t *list = json_array();
    for (size_t i = r->count; i-- > 0;) {
        const ferry_store_entry *e = &r->entries[i];
        json_t *o = json_pack("{s:s}", "id", e->id);
        for (size_t k = 0; k < e->fields.count; k++) {
            const ferry_store_pair *f = &e->fields.pairs[k];
            if (strcmp(f->name, "payload") == 0) {
                json_object_set_new(o, "size", json_integer((json_int_t)f->value_len));
                continue;
            }
            bool number = strcmp(f->name, "at") == 0 || strcmp(f->name, "attempt") == 0 ||
                          strcmp(f->name, "partition") == 0 || strcmp(f->name, "offset") == 0;
            json_object_set_new(o, f->name,
                                number ? json_integer(strtoll(f->value, NULL, 10))
                                       : json_stringn(f->value, f->value_len));
        }
        if (dead_letters) {
            ferry_err err = {0};
            bool replayed = false;
            (void)ferry_state_dead_letter_was_replayed(a->store, e->id, &replayed, &err);
            json_object_set_new(o, "replayed", json_boolean(replayed));
        }
        json_array_append_new(list, o);
    }
    return list;
}

static answer history(api *a, const char *mig, int64_t count)
{
    ferry_err err = {0};
    ferry_store_entries *r = NULL;
    ferry_rc rc = ferry_state_history(a->store, mig, (size_t)count, &r, &err);
    if (rc == FERRY_ERR_INVALID)
        return error_answer(404, "not_found", "no migration %s", mig);
    if (rc != FERRY_OK)
        return failure_answer(&err);
    json_t *list = entries_json(r, false, a);
    ferry_store_entries_free(r);
    if (json_array_size(list) == 0) {
        json_decref(list);
        return error_answer(404, "not_found", "no migration %s", mig);
    }
    return reply(200, json_pack("{s:o}", "history", list));
}

/* The "<mig>/<step> ..." list a worker runs, as a JSON array. */
static json_t *worker_steps(const char *val)
{
    json_t *steps = json_array();
    for (const char *p = val; *p != '\0';) {
        size_t len = strcspn(p, " ");
        if (len > 0)
            json_array_append_new(steps, json_stringn(p, len));
        p += len;
        if (*p == ' ')
            p++;
    }
    return steps;
}

static answer workers(api *a)
{
    ferry_err err = {0};
    int64_t now = ferry_wall_ms();
    /* Forget workers silent for a day. */
    (void)ferry_state_workers_forget(a->store, now - 86400000, &err);
    ferry_state_workers known = {0};
    if (ferry_state_workers_since(a->store, 0, &known, &err) != FERRY_OK)
        return failure_answer(&err);
    json_t *list = json_array();
    for (size_t i = 0; i < known.count; i++) {
        const ferry_state_worker *w = &known.items[i];
        json_t *o =
            json_pack("{s:s,s:I,s:I}", "id", w->id, "heartbeat_at", (json_int_t)w->heartbeat_at,
                      "age_ms", (json_int_t)(now - w->heartbeat_at));
        json_t *steps = NULL;
        for (size_t k = 0; w->rec != NULL && k < w->rec->count; k++) {
            const char *name = w->rec->pairs[k].name, *val = w->rec->pairs[k].value;
            if (strcmp(name, "heartbeat_at") == 0)
                continue;
            if (strcmp(name, "steps") == 0) {
                json_decref(steps);
                steps = worker_steps(val);
                continue;
            }
            bool number = strcmp(name, "capacity") == 0 || strcmp(name, "running") == 0 ||
                          strcmp(name, "pid") == 0 || strcmp(name, "started_at") == 0;
            json_object_set_new(o, name,
                                number ? json_integer(strtoll(val, NULL, 10)) : json_string(val));
        }
        json_object_set_new(o, "steps", steps != NULL ? steps : json_array());
        json_object_set_new(o, "alive",
                            json_boolean(w->rec != NULL && w->rec->count > 0 &&
                                         now - w->heartbeat_at < a->cfg.worker_alive_ms));
        json_array_append_new(list, o);
    }
    ferry_state_workers_cleanup(&known);
    return reply(200, json_pack("{s:o}", "workers", list));
}

static answer dead_letters(api *a, int64_t count)
{
    ferry_err err = {0};
    ferry_store_entries *r = NULL;
    if (ferry_state_dead_letters(a->store, (size_t)count, &r, &err) != FERRY_OK)
        return failure_answer(&err);
    json_t *list = entries_json(r, true, a);
    ferry_store_entries_free(r);
    return reply(200, json_pack("{s:o}", "dead_letters", list));
}

static answer dead_letter_replay(api *a, const char *id)
{
    ferry_err err = {0};
    ferry_store_entries *r = NULL;
    ferry_rc rc = ferry_state_dead_letter_get(a->store, id, &r, &err);
    if (rc == FERRY_ERR_NOT_FOUND)
        return error_answer(404, "not_found", "no dead letter %s", id);
    if (rc != FERRY_OK)
        return failure_answer(&err);
    const ferry_store_record *f = &r->entries[0].fields;
    const ferry_store_pair *payload = NULL;
    const ferry_store_pair *key = NULL;
    const char *topic = NULL;
    for (size_t k = 0; k < f->count; k++) {
        const ferry_store_pair *p = &f->pairs[k];
        if (strcmp(p->name, "payload") == 0)
            payload = p;
        else if (strcmp(p->name, "topic") == 0)
            topic = p->value;
        else if (strcmp(p->name, "key") == 0)
            key = p;
    }
    if (payload == NULL || topic == NULL || topic[0] == '\0') {
        ferry_store_entries_free(r);
        return error_answer(404, "not_found", "no dead letter %s", id);
    }
    answer out;
    /* The key is bytes, like the payload: its length is the stored one. */
    if (ferry_bus_publish(a->producer, topic, key != NULL ? key->value : NULL,
                          key != NULL ? key->value_len : 0, payload->value, payload->value_len,
                          &err) != FERRY_OK) {
        out = error_answer(503, "unavailable", "replaying %s to %s: %s", id, topic, err.msg);
    } else {
        (void)ferry_state_dead_letter_replayed(a->store, id, ferry_wall_ms(), &err);
        ferry_log(FERRY_LOG_INFO, NULL, "dead letter %s replayed to %s", id, topic);
        out = reply(202, json_pack("{s:s,s:s}", "id", id, "topic", topic));
    }
    ferry_store_entries_free(r);
    return out;
}

/* ------------------------------------------------------------------ users and sessions */

/* A user added through the API, from its JSON as kept in Redis (with its hash). */
static ferry_rc user_parse(const char *name, const char *text, auth_user *out, ferry_err *err)
{
    json_t *j = json_loads(text, 0, NULL);
    char why[256] = "not JSON";
    bool ok = j != NULL && auth_user_from_json(j, true, out, why, sizeof(why));
    json_decref(j);
    if (!ok)
        return ferry_err_set(err, FERRY_ERR_PROTOCOL, "user %s as kept in Redis: %s", name, why);
    out->source = AUTH_FROM_API;
    return FERRY_OK;
}

/* Finds a user added through the API (auth_lookup_fn): one HGET a request. */
static ferry_rc user_lookup(void *ctx, const char *name, auth_user *out, ferry_err *err)
{
    api *a = ctx;
    char *text = NULL;
    ferry_rc rc = ferry_state_user_get(a->store, name, &text, err);
    if (rc == FERRY_OK)
        rc = user_parse(name, text, out, err);
    free(text);
    return rc;
}

/* Who sent the request, from its bearer token or else its session cookie (docs/console.md). */
static auth_result authenticate(api *a, struct MHD_Connection *conn, req *rq, char *why,
                                size_t whysz)
{
    ferry_err err = {0};
    int64_t now = ferry_wall_ms();
    const char *bearer =
        api_bearer(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization"));
    const char *cookie = MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, SESSION_COOKIE);
    auth_result res = AUTH_NONE;
    if (bearer != NULL) {
        res = auth_token_check(a->auth, bearer, now, user_lookup, a, &rq->who, why, whysz, &err);
    } else if (cookie != NULL) {
        res = auth_session_check(a->auth, cookie, now, user_lookup, a, &rq->who, rq->csrf, why,
                                 whysz, &err);
        rq->via_session = res == AUTH_OK;
        if (rq->via_session)
            (void)snprintf(rq->session, sizeof(rq->session), "%s", cookie);
    } else {
        (void)snprintf(why, whysz, "no credentials: a bearer token or the page's session");
    }
    rq->authed = res == AUTH_OK;
    return res;
}

/* The client's address, for the audit trail. */
static void client_address(struct MHD_Connection *conn, char *out, size_t outsz)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    (void)snprintf(out, outsz, "-");
    if (info == NULL || info->client_addr == NULL)
        return;
    const struct sockaddr *sa = info->client_addr;
    if (sa->sa_family == AF_INET)
        (void)inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
                        (socklen_t)outsz);
    else if (sa->sa_family == AF_INET6)
        (void)inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
                        (socklen_t)outsz);
}

/* The session's JSON: who, and for the page its CSRF token. */
static json_t *session_json(const auth_user *who, bool via_session, const char *csrf)
{
    json_t *j = auth_user_json(who, false);
    if (j == NULL)
        return NULL;
    json_object_set_new(j, "user", json_string(who->name));
    json_object_set_new(j, "via", json_string(via_session ? "session" : "bearer"));
    if (via_session)
        json_object_set_new(j, "csrf", json_string(csrf));
    return j;
}

static answer login(api *a, const api_parsed *p, req *rq)
{
    ferry_err err = {0};
    char why[300] = "";
    const char *token = json_string_value(json_object_get(p->json, "token"));
    if (token == NULL)
        return error_answer(400, "bad_request", "the body is {\"token\": \"...\"}");
    auth_result res = auth_token_check(a->auth, token, ferry_wall_ms(), user_lookup, a, &rq->who,
                                       why, sizeof(why), &err);
    if (res == AUTH_UNAVAILABLE)
        return error_answer(503, "unavailable", "%s", why);
    if (res != AUTH_OK)
        return error_answer(401, "unauthorized", "%s", why);
    rq->authed = true;
    a->who = &rq->who;
    char id[AUTH_SECRET_LEN + 1], csrf[AUTH_SECRET_LEN + 1];
    auth_session_start(a->auth, &rq->who, ferry_wall_ms(), id, csrf);
    answer out = reply(200, session_json(&rq->who, true, csrf));
    char cookie[256];
    (void)snprintf(cookie, sizeof(cookie),
                   SESSION_COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%lld%s", id,
                   (long long)(a->cfg.session_max_ms / 1000),
                   a->cfg.cookie_secure ? "; Secure" : "");
    out.cookie = strdup(cookie);
    explicit_bzero(id, sizeof(id));
    return out;
}

static answer logout(api *a, req *rq)
{
    if (rq->via_session)
        auth_session_end(a->auth, rq->session);
    answer out = reply(200, json_pack("{s:b}", "ok", true));
    out.cookie = strdup(SESSION_COOKIE "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    return out;
}

static answer users_list(api *a)
{
    ferry_err err = {0};
    json_t *list = json_array();
    size_t n = 0;
    const auth_user *local = auth_local_users(a->auth, &n);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, auth_user_json(&local[i], false));
    ferry_store_record *rec = NULL;
    if (ferry_state_users_get(a->store, &rec, &err) != FERRY_OK) {
        json_decref(list);
        return failure_answer(&err);
    }
    for (size_t i = 0; i < rec->count; i++) {
        auth_user u = {0};
        if (user_parse(rec->pairs[i].name, rec->pairs[i].value, &u, &err) == FERRY_OK)
            json_array_append_new(list, auth_user_json(&u, false));
        else
            ferry_log(FERRY_LOG_WARN, NULL, "%s", err.msg); /* listed without it */
        auth_user_cleanup(&u);
    }
    ferry_store_record_free(rec);
    return reply(200, json_pack("{s:o}", "users", list));
}

/* Stores u with a new token: 201 (created) or 200 (a new token) with the token shown once. */
static answer user_store(api *a, auth_user *u, bool only_new)
{
    ferry_err err = {0};
    char token[AUTH_TOKEN_MAX + 1];
    if (auth_token_new(u->name, token, u->token_hash, &err) != FERRY_OK)
        return failure_answer(&err);
    json_t *stored = auth_user_json(u, true);
    char *text = stored != NULL ? json_dumps(stored, JSON_COMPACT) : NULL;
    json_decref(stored);
    ferry_rc rc = text != NULL ? ferry_state_user_put(a->store, u->name, text, only_new, &err)
                               : ferry_err_set(&err, FERRY_ERR_NOMEM, "out of memory");
    free(text);
    if (rc == FERRY_ERR_CONFLICT) {
        explicit_bzero(token, sizeof(token));
        return error_answer(409, "conflict", "user %s exists already", u->name);
    }
    if (rc != FERRY_OK) {
        explicit_bzero(token, sizeof(token));
        return failure_answer(&err);
    }
    auth_forget_user(a->auth, u->name);
    ferry_log(FERRY_LOG_INFO, NULL, "user %s (%s) %s by %s", u->name, auth_role_name(u->role),
              only_new ? "added" : "given a new token", a->who->name);
    answer out = reply(only_new ? 201 : 200,
                       json_pack("{s:o,s:s}", "user", auth_user_json(u, false), "token", token));
    explicit_bzero(token, sizeof(token));
    return out;
}

static answer user_create(api *a, const api_parsed *p)
{
    char why[300];
    auth_user u = {0};
    if (!auth_user_from_json(p->json, false, &u, why, sizeof(why))) {
        auth_user_cleanup(&u);
        return error_answer(400, "bad_request", "$.%s", why);
    }
    if (auth_local_user(a->auth, u.name) != NULL) {
        answer out =
            error_answer(409, "conflict", "user %s is configured in the users file", u.name);
        auth_user_cleanup(&u);
        return out;
    }
    u.source = AUTH_FROM_API;
    u.created_at = ferry_wall_ms();
    (void)snprintf(u.created_by, sizeof(u.created_by), "%s", a->who->name);
    answer out = user_store(a, &u, true);
    auth_user_cleanup(&u);
    return out;
}

static answer user_change(api *a, const char *name, bool remove)
{
    ferry_err err = {0};
    if (auth_local_user(a->auth, name) != NULL)
        return error_answer(409, "conflict",
                            "user %s is configured in the users file (or is the bootstrap "
                            "admin): change it there",
                            name);
    if (remove) {
        if (ferry_state_user_remove(a->store, name, &err) != FERRY_OK)
            return failure_answer(&err);
        auth_forget_user(a->auth, name);
        ferry_log(FERRY_LOG_INFO, NULL, "user %s removed by %s", name, a->who->name);
        return reply(200, json_pack("{s:s}", "user", name));
    }
    auth_user u = {0};
    if (user_lookup(a, name, &u, &err) != FERRY_OK) {
        auth_user_cleanup(&u);
        return failure_answer(&err);
    }
    answer out = user_store(a, &u, false);
    auth_user_cleanup(&u);
    return out;
}

/* ------------------------------------------------------------------ the audit trail */

/* The app a request is about (its URL's /v1/apps/{app}...), or NULL. */
static const char *request_app(const api_parsed *p)
{
    if (p->route == API_APP_COMMAND || p->route == API_APP_DELETE || p->route == API_APP_CREATE)
        return p->route == API_APP_CREATE ? (p->spec != NULL ? p->spec->app : NULL) : p->id;
    return NULL;
}

/* What a request did, for the audit trail. */
static const char *request_action(const api_parsed *p, const char *method)
{
    switch (p->route) {
    case API_APP_COMMAND:
        return fm_verb_name(p->verb);
    case API_APP_CREATE:
        return "create-app";
    case API_APP_DELETE:
        return "delete-app";
    case API_DEAD_LETTER_REPLAY:
        return "replay-dead-letter";
    case API_SESSION_LOGIN:
        return "login";
    case API_SESSION_LOGOUT:
        return "logout";
    case API_USER_CREATE:
        return "add-user";
    case API_USER_DELETE:
        return "remove-user";
    case API_USER_TOKEN:
        return "new-token";
    default:
        return method;
    }
}

/* How it ended, in words: accepted ids, or the error's message. */
static void outcome_text(const answer *out, char *text, size_t sz)
{
    json_t *err = json_object_get(out->json, "error");
    const char *msg = json_string_value(json_object_get(err, "message"));
    if (msg != NULL) {
        (void)snprintf(text, sz, "%s", msg);
        return;
    }
    json_t *migs = json_object_get(out->json, "migrations");
    int n = snprintf(text, sz, "%s", out->status < 300 ? "ok" : "refused");
    size_t i;
    json_t *m;
    json_array_foreach(migs, i, m)
    {
        const char *id =
            json_is_string(m) ? json_string_value(m) : json_string_value(json_object_get(m, "id"));
        if (id != NULL && n >= 0 && (size_t)n < sz)
            n += snprintf(text + n, sz - (size_t)n, "%s%s", i == 0 ? ": " : ", ", id);
    }
}

/* Appends the request and how it ended to the audit trail. A failure to write it is logged
 * (the command itself was carried out or refused already). */
static void audit(api *a, const req *rq, const char *method, const char *url, const char *action,
                  const char *app, const char *env, const answer *out)
{
    ferry_err err = {0};
    char status[16], at[24], outcome[600], envs[256] = "";
    (void)snprintf(status, sizeof(status), "%u", out->status);
    (void)snprintf(at, sizeof(at), "%lld", (long long)ferry_wall_ms());
    outcome_text(out, outcome, sizeof(outcome));
    /* A command that named no environment: the environments it changed. */
    size_t i;
    json_t *m;
    if (env == NULL) {
        int n = 0;
        json_array_foreach(json_object_get(out->json, "migrations"), i, m)
        {
            const char *e = json_string_value(json_object_get(m, "env"));
            if (e != NULL && n >= 0 && (size_t)n < sizeof(envs))
                n += snprintf(envs + n, sizeof(envs) - (size_t)n, "%s%s", n > 0 ? "," : "", e);
        }
        env = envs;
    }
    const ferry_store_field fields[] = {
        {"at", at},
        {"user", rq->authed ? rq->who.name : "-"},
        {"role", rq->authed ? auth_role_name(rq->who.role) : "-"},
        {"from", rq->from},
        {"method", method},
        {"path", url},
        {"action", action},
        {"app", app != NULL ? app : ""},
        {"env", env != NULL ? env : ""},
        {"status", status},
        {"outcome", outcome},
    };
    if (ferry_state_audit_add(a->store, fields, sizeof(fields) / sizeof(fields[0]), &err) !=
        FERRY_OK)
        ferry_log(FERRY_LOG_ERROR, NULL, "the audit trail lost: %s %s by %s -> %s: %s", method, url,
                  fields[1].value, status, err.msg);
}

/* The audit entry of a request refused from its headers (401, CSRF, 413): what it asked for is
 * read from its method and URL alone (its body is never read). */
static void audit_early(api *a, const req *rq, const char *method, const char *url,
                        const answer *out)
{
    api_request in = {.method = method, .url = url};
    api_parsed p;
    json_t *error = NULL;
    (void)api_parse(&in, &p, &error); /* only the route is wanted: the body is not there */
    json_decref(error);
    audit(a, rq, method, url, p.route != API_UNKNOWN ? request_action(&p, method) : method,
          p.route == API_APP_COMMAND || p.route == API_APP_DELETE ? p.id : NULL, p.env, out);
    api_parsed_cleanup(&p);
}

static json_t *audit_entry_json(const ferry_store_entry *e)
{
    const ferry_store_record *r = &e->fields;
    const char *at = ferry_store_record_value(r, "at");
    const char *status = ferry_store_record_value(r, "status");
    json_t *j = json_pack("{s:s}", "id", e->id);
    json_object_set_new(j, "at", json_integer(at != NULL ? strtoll(at, NULL, 10) : 0));
    json_object_set_new(j, "status", json_integer(status != NULL ? strtol(status, NULL, 10) : 0));
    static const char *const text[] = {"user",   "role", "from", "method", "path",
                                       "action", "app",  "env",  "outcome"};
    for (size_t i = 0; i < sizeof(text) / sizeof(text[0]); i++) {
        const char *v = ferry_store_record_value(r, text[i]);
        json_object_set_new(j, text[i], v != NULL && v[0] != '\0' ? json_string(v) : json_null());
    }
    return j;
}

/* The last count entries (of app's only, when given), oldest first. */
static answer audit_list(api *a, const char *app, int64_t count)
{
    ferry_err err = {0};
    json_t *list = json_array();
    char before[64] = "+";
    size_t scanned = 0;
    while ((int64_t)json_array_size(list) < count && scanned < AUDIT_SCAN) {
        ferry_store_entries *page = NULL;
        size_t want = app != NULL ? AUDIT_PAGE : (size_t)count;
        if (ferry_state_audit_before(a->store, before, want, &page, &err) != FERRY_OK) {
            json_decref(list);
            return failure_answer(&err);
        }
        for (size_t i = 0; i < page->count && (int64_t)json_array_size(list) < count; i++) {
            const char *eapp = ferry_store_record_value(&page->entries[i].fields, "app");
            if (app == NULL || (eapp != NULL && strcmp(eapp, app) == 0))
                json_array_insert_new(list, 0, audit_entry_json(&page->entries[i]));
        }
        bool last = page->count < want;
        if (page->count > 0)
            (void)snprintf(before, sizeof(before), "%s", page->entries[page->count - 1].id);
        scanned += page->count;
        ferry_store_entries_free(page);
        if (last)
            break;
    }
    return reply(200, json_pack("{s:o}", "audit", list));
}

/* ------------------------------------------------------------------ the page */

static const char *content_type(const char *name)
{
    static const struct {
        const char *ext, *type;
    } types[] = {{".html", "text/html; charset=utf-8"},
                 {".js", "text/javascript; charset=utf-8"},
                 {".css", "text/css; charset=utf-8"},
                 {".svg", "image/svg+xml"},
                 {".png", "image/png"},
                 {".ico", "image/x-icon"}};
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot != NULL && i < sizeof(types) / sizeof(types[0]); i++) {
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    }
    return "application/octet-stream";
}

static answer ui_file(const char *name)
{
    for (unsigned i = 0; i < ferry_ui_count; i++) {
        if (strcmp(ferry_ui_files[i].name, name) != 0)
            continue;
        answer out = {
            .status = 200, .text = strdup(ferry_ui_files[i].text), .type = content_type(name)};
        if (out.text == NULL)
            return error_answer(500, "internal", "out of memory");
        out.text_len = strlen(out.text);
        return out;
    }
    return error_answer(404, "not_found", "no such file: %s", name);
}

/* ------------------------------------------------------------------ metrics */

/* GET /metrics (docs/metrics.md): read from Redis at each scrape. */
static answer metrics(api *a)
{
    ferry_err err = {0};
    ferry_buf b = {0};
    metrics_cfg mcfg = {.worker_alive_ms = a->cfg.worker_alive_ms, .policy = &a->cfg.policy};
    if (metrics_render(a->store, &mcfg, &b, &err) != FERRY_OK || b.oom) {
        ferry_buf_cleanup(&b);
        return b.oom ? error_answer(500, "internal", "out of memory") : failure_answer(&err);
    }
    answer out = {.status = 200, .type = METRICS_CONTENT_TYPE};
    out.text_len = b.len;
    out.text = ferry_buf_take(&b);
    if (out.text == NULL)
        return error_answer(500, "internal", "out of memory");
    return out;
}

/* ------------------------------------------------------------------ routing */

/* What the health thread saw last: answered at once, whatever Redis and Kafka do. */
static answer health(api *a)
{
    int64_t at = atomic_load(&a->checked_at), age = ferry_wall_ms() - at;
    bool fresh = at > 0 && age <= 3 * HEALTH_EVERY_MS + HEALTH_KAFKA_MS;
    bool redis = fresh && atomic_load(&a->redis_ok), kafka = fresh && atomic_load(&a->kafka_ok);
    return reply(redis && kafka ? 200 : 503,
                 json_pack("{s:b,s:b,s:b,s:I}", "ok", redis && kafka, "redis", redis, "kafka",
                           kafka, "checked_ms_ago", (json_int_t)(at > 0 ? age : -1)));
}

/* 403 unless the requester may run p (docs/console.md); status 0 when it may. */
static answer permitted(const api *a, const req *rq, const api_parsed *p)
{
    answer none = {0};
    api_need need = api_route_need(p);
    char who[AUTH_NAME_MAX + 300];
    auth_user_describe(&rq->who, who, sizeof(who));
    if (need == API_NEED_ADMIN && rq->who.role != AUTH_ADMIN)
        return error_answer(403, "forbidden", "%s may not %s: only an admin may", who,
                            request_action(p, "do that"));
    if (need == API_NEED_APP && !auth_may_command(&rq->who, p->id))
        return error_answer(403, "forbidden", "%s may not %s %s", who, fm_verb_name(p->verb),
                            p->id != NULL ? p->id : "");
    (void)a;
    return none;
}

/* Runs what p asks (once permitted). */
static answer run(api *a, struct MHD_Connection *conn, const char *method, const char *url, req *rq,
                  const api_parsed *p)
{
    ferry_err err = {0};
    json_t *j = NULL;
    (void)conn;
    switch (p->route) {
    case API_UNKNOWN:
        break;
    case API_HEALTH:
        return health(a);
    case API_UI:
        return ui_file(p->id);
    case API_SESSION_LOGIN:
        return login(a, p, rq);
    case API_SESSION_GET:
        return reply(200, session_json(&rq->who, rq->via_session, rq->csrf));
    case API_SESSION_LOGOUT:
        return logout(a, rq);
    case API_USERS_LIST:
        return users_list(a);
    case API_USER_CREATE:
        return user_create(a, p);
    case API_USER_DELETE:
        return user_change(a, p->id, true);
    case API_USER_TOKEN:
        return user_change(a, p->id, false);
    case API_AUDIT:
        return audit_list(a, p->app, p->count);
    case API_METRICS:
        return metrics(a);
    case API_APP_CREATE:
        return create_app(a, p->spec, rq->body != NULL ? rq->body : "");
    case API_APPS_LIST:
        return list_apps(a);
    case API_APP_GET:
        j = app_json(a, p->id, &err);
        return j != NULL ? reply(200, j) : failure_answer(&err);
    case API_APP_DELETE:
        return delete_app(a, p->id);
    case API_APP_STEPS:
        return app_steps(a, p->id);
    case API_APP_COMMAND:
        return command(a, p);
    case API_MIGRATIONS_LIST:
        return list_migrations(a);
    case API_MIGRATION_GET:
        j = load_migration(a, p->id, true, &err);
        return j != NULL ? reply(200, j) : failure_answer(&err);
    case API_MIGRATION_HISTORY:
        return history(a, p->id, p->count);
    case API_WORKERS:
        return workers(a);
    case API_DEAD_LETTERS:
        return dead_letters(a, p->count);
    case API_DEAD_LETTER_REPLAY:
        return dead_letter_replay(a, p->id);
    }
    return error_answer(404, "not_found", "no such endpoint: %s %s", method, url);
}

/* Parses the request (api_parse.c: routing, body), checks that its user may run it, runs it,
 * and records a change in the audit trail. */
static answer route(api *a, struct MHD_Connection *conn, const char *method, const char *url,
                    req *rq)
{
    api_request in = {.method = method,
                      .url = url,
                      .count = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "count"),
                      .app = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "app"),
                      .body = rq->body,
                      .len = rq->len,
                      .too_large = rq->too_large};
    api_parsed p;
    json_t *error = NULL;
    unsigned status = api_parse(&in, &p, &error);
    answer out = reply(status, error);
    a->who = rq->authed ? &rq->who : NULL;
    (void)snprintf(a->actor, sizeof(a->actor), "%s via %s", rq->authed ? rq->who.name : "-",
                   a->cfg.instance);
    if (p.route != API_UNKNOWN && api_route_need(&p) != API_NEED_NOTHING) {
        answer refused = permitted(a, rq, &p);
        if (refused.status != 0) {
            json_decref(out.json);
            out = refused;
            status = refused.status;
        }
    }
    if (status == 0)
        out = run(a, conn, method, url, rq, &p);
    if (api_changes(method))
        audit(a, rq, method, url, p.route != API_UNKNOWN ? request_action(&p, method) : method,
              p.route != API_UNKNOWN ? request_app(&p) : NULL, p.env, &out);
    a->who = NULL;
    api_parsed_cleanup(&p);
    return out;
}

static enum MHD_Result send_answer(struct MHD_Connection *conn, const char *method, const char *url,
                                   answer ans);

/* Decided from the headers alone, before any body is read or buffered: who sends it (a client
 * without credentials is answered at once, as one without the page's CSRF token on a change),
 * and a body announced over the limit. Status 0 when the request goes on. */
static answer early_answer(api *a, struct MHD_Connection *conn, const char *method, const char *url,
                           req *rq)
{
    answer none = {0};
    char why[300] = "";
    client_address(conn, rq->from, sizeof(rq->from));
    api_need need = api_need_of(method, url);
    auth_result res =
        need != API_NEED_NOTHING ? authenticate(a, conn, rq, why, sizeof(why)) : AUTH_NONE;
    if (need == API_NEED_NOTHING && strcmp(url, "/v1/session") != 0)
        return none;
    if (need != API_NEED_NOTHING && res == AUTH_UNAVAILABLE)
        return error_answer(503, "unavailable", "%s", why);
    if (need != API_NEED_NOTHING && res != AUTH_OK)
        return error_answer(401, "unauthorized", "%s", why);
    if (rq->via_session && api_changes(method)) {
        const char *csrf = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, CSRF_HEADER);
        if (csrf == NULL || !auth_equal(rq->csrf, csrf))
            return error_answer(403, "csrf",
                                "a change from the page needs its session's CSRF token in the "
                                "%s header",
                                CSRF_HEADER);
    }
    const char *cl =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl != NULL && strtoull(cl, NULL, 10) > API_BODY_MAX)
        return error_answer(413, "too_large", "the body is larger than %d bytes", API_BODY_MAX);
    return none;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
    (void)version;
    api *a = cls;
    req *rq = *con_cls;
    if (rq == NULL) {
        rq = calloc(1, sizeof(*rq));
        if (rq == NULL)
            return MHD_NO;
        *con_cls = rq;
        answer early = early_answer(a, conn, method, url, rq);
        if (early.status == 0)
            return MHD_YES;
        rq->answered = true;
        if (api_changes(method) || early.status == 401)
            audit_early(a, rq, method, url, &early);
        return send_answer(conn, method, url, early);
    }
    if (rq->answered) { /* a body after an early answer: dropped unread */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t add = *upload_data_size;
        if (!rq->too_large && rq->len + add <= API_BODY_MAX) {
            char *grown = realloc(rq->body, rq->len + add + 1);
            if (grown == NULL)
                return MHD_NO;
            memcpy(grown + rq->len, upload_data, add);
            rq->len += add;
            grown[rq->len] = '\0';
            rq->body = grown;
        } else {
            rq->too_large = true;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    return send_answer(conn, method, url, route(a, conn, method, url, rq));
}

/* Queues ans (taken) as the connection's response, with the security headers every answer
 * carries (docs/console.md). */
static enum MHD_Result send_answer(struct MHD_Connection *conn, const char *method, const char *url,
                                   answer ans)
{
    char *text = ans.text;
    size_t len = ans.text_len;
    const char *type = ans.type;
    if (ans.json != NULL || text == NULL) {
        free(text);
        text = ans.json != NULL ? json_dumps(ans.json, JSON_COMPACT) : NULL;
        len = text != NULL ? strlen(text) : 0;
        type = "application/json";
    }
    json_decref(ans.json);
    if (text == NULL) { /* out of memory, or a value JSON cannot hold: still an answer */
        ans.status = 500;
        text = strdup("{\"error\":{\"code\":\"internal\",\"message\":\"the answer could not "
                      "be written\"}}");
        len = text != NULL ? strlen(text) : 0;
        type = "application/json";
    }
    if (text == NULL) {
        free(ans.cookie);
        return MHD_NO;
    }
    /* libmicrohttpd frees text with free() once sent. */
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(text);
        free(ans.cookie);
        return MHD_NO;
    }
    static const struct {
        const char *name, *value;
    } headers[] = {{"Content-Security-Policy", CSP},
                   {"X-Frame-Options", "DENY"},
                   {"X-Content-Type-Options", "nosniff"},
                   {"Referrer-Policy", "no-referrer"},
                   {"Cache-Control", "no-store"}};
    (void)MHD_add_response_header(resp, "Content-Type", type);
    for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++)
        (void)MHD_add_response_header(resp, headers[i].name, headers[i].value);
    if (ans.cookie != NULL)
        (void)MHD_add_response_header(resp, "Set-Cookie", ans.cookie);
    free(ans.cookie);
    enum MHD_Result ret = MHD_queue_response(conn, ans.status, resp);
    MHD_destroy_response(resp);
    if (ans.status >= 500)
        ferry_log(FERRY_LOG_WARN, NULL, "%s %s -> %u", method, url, ans.status);
    return ret;
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    req *rq = *con_cls;
    if (rq != NULL) {
        free(rq->body);
        auth_user_cleanup(&rq->who);
        explicit_bzero(rq, sizeof(*rq));
        free(rq);
    }
    *con_cls = NULL;
}

/* ------------------------------------------------------------------ health */

static void *health_main(void *arg)
{
    api *a = arg;
    while (!atomic_load(&a->health_stop)) {
        ferry_err err = {0};
        atomic_store(&a->redis_ok, ferry_store_ping(a->health_store, &err) == FERRY_OK);
        atomic_store(&a->kafka_ok,
                     ferry_bus_producer_ping(a->producer, HEALTH_KAFKA_MS, &err) == FERRY_OK);
        atomic_store(&a->checked_at, (long long)ferry_wall_ms());
        for (int waited = 0; waited < HEALTH_EVERY_MS && !atomic_load(&a->health_stop);
             waited += 50)
            ferry_sleep_ms(50);
    }
    return NULL;
}

/* ------------------------------------------------------------------ life */

ferry_rc api_start(const api_cfg *cfg, ferry_bus_producer *producer, api **out, ferry_err *err)
{
    ferry_rc rc = FERRY_OK;
    *out = NULL;
    api *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return ferry_err_set(err, FERRY_ERR_NOMEM, "api: out of memory");
    a->cfg = *cfg;
    a->producer = producer;
    if (cfg->token == NULL || strlen(cfg->token) < 16) {
        rc = ferry_err_set(err, FERRY_ERR_CONFIG,
                           "the API token (FERRY_COORDINATOR_TOKEN) is too short: it needs "
                           "16 characters or more");
        goto fail;
    }
    auth_cfg acfg = {.bootstrap_token = cfg->token,
                     .users_file = cfg->users_file,
                     .session_idle_ms = cfg->session_idle_ms,
                     .session_max_ms = cfg->session_max_ms};
    rc = auth_open(&acfg, &a->auth, err);
    if (rc != FERRY_OK)
        goto fail;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    char host[64];
    const char *colon = strrchr(cfg->listen, ':');
    char *end = NULL;
    long port = colon != NULL ? strtol(colon + 1, &end, 10) : -1;
    if (colon == NULL || end == colon + 1 || *end != '\0' || port < 0 || port > 65535 ||
        (size_t)(colon - cfg->listen) >= sizeof(host)) {
        rc =
            ferry_err_set(err, FERRY_ERR_CONFIG,
                          "FERRY_COORDINATOR_LISTEN: expected address:port, got '%s'", cfg->listen);
        goto fail;
    }
    (void)snprintf(host, sizeof(host), "%.*s", (int)(colon - cfg->listen), cfg->listen);
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        rc = ferry_err_set(err, FERRY_ERR_CONFIG,
                           "FERRY_COORDINATOR_LISTEN: '%s' is not an IPv4 address", host);
        goto fail;
    }
    sa.sin_port = htons((uint16_t)port);
    rc = ferry_store_open(cfg->redis_url, cfg->redis_password, 5000, &a->store, err);
    if (rc != FERRY_OK)
        goto fail;
    (void)ferry_store_set_name(a->store, "ferry-coordinator-api", err);
    rc = ferry_store_open(cfg->redis_url, cfg->redis_password, 5000, &a->health_store, err);
    if (rc != FERRY_OK)
        goto fail;
    (void)ferry_store_set_name(a->health_store, "ferry-coordinator-health", err);
    if (pthread_create(&a->health_thread, NULL, health_main, a) != 0) {
        rc = ferry_err_set(err, FERRY_ERR_INTERNAL, "cannot start the health thread");
        goto fail;
    }
    a->health_started = true;
    /* Limits so that no client can hold the one serving thread's connections: in total, per
     * client address, and a time after which an idle or slow connection is closed. Request
     * headers and URL together fit the connection's memory (MHD answers 431 or 414 beyond). */
    a->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0, NULL, NULL, handle, a,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->client_timeout_s, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)cfg->max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned)cfg->max_per_client, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
        MHD_OPTION_END);
    if (a->daemon == NULL) {
        rc = ferry_err_set(err, FERRY_ERR_IO, "cannot listen on %s (in use?)", cfg->listen);
        goto fail;
    }
    *out = a;
    return FERRY_OK;
fail:
    api_stop(a);
    return rc;
}

int api_port(const api *a)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(a->daemon, MHD_DAEMON_INFO_BIND_PORT);
    return info != NULL ? (int)info->port : -1;
}

void api_stop(api *a)
{
    if (a == NULL)
        return;
    if (a->daemon != NULL)
        MHD_stop_daemon(a->daemon);
    atomic_store(&a->health_stop, true);
    if (a->health_started)
        (void)pthread_join(a->health_thread, NULL);
    ferry_store_close(a->health_store);
    ferry_store_close(a->store);
    auth_close(a->auth);
    free(a);
}
