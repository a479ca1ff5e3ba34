/* metrics.c - the coordinator's /metrics in the Prometheus text format (see metrics.h). */
#include "metrics.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/clock.h"
#include "ferry/migstate.h"
#include "ferry/state.h"
#include "ferry/wire.h"
#include "migstore.h"

/* The step kinds, in the order they are shown. */
static const Ferry__V1__StepKind kinds[] = {
    FERRY__V1__STEP_KIND__STEP_KIND_DUMP_RESTORE, FERRY__V1__STEP_KIND__STEP_KIND_FILE_SYNC,
    FERRY__V1__STEP_KIND__STEP_KIND_DNS, FERRY__V1__STEP_KIND__STEP_KIND_APP};
#define N_KINDS (sizeof(kinds) / sizeof(kinds[0]))
/* The step states a step record can hold (FM_S_PENDING..FM_S_CANCELED). */
#define N_SSTATES ((size_t)FM_S_CANCELED)

static size_t kind_index(const char *name)
{
    for (size_t i = 0; name != NULL && i < N_KINDS; i++) {
        if (strcmp(ferry_wire_kind_name(kinds[i]), name) == 0)
            return i;
    }
    return N_KINDS;
}

/* ------------------------------------------------------------------ the format */

void metrics_label_escape(ferry_buf *out, const char *value)
{
    for (const char *p = value != NULL ? value : ""; *p != '\0'; p++) {
        if (*p == '\\')
            ferry_buf_add(out, "\\\\");
        else if (*p == '"')
            ferry_buf_add(out, "\\\"");
        else if (*p == '\n')
            ferry_buf_add(out, "\\n");
        else
            ferry_buf_addn(out, p, 1);
    }
}

static void family(ferry_buf *out, const char *name, const char *type, const char *help)
{
    ferry_buf_addf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{labels} value: labels are name, value pairs ending with NULL; value is text. */
static void sample_text(ferry_buf *out, const char *name, const char *const *labels,
                        const char *value)
{
    ferry_buf_add(out, name);
    for (size_t i = 0; labels != NULL && labels[i] != NULL; i += 2) {
        ferry_buf_addf(out, "%s%s=\"", i == 0 ? "{" : ",", labels[i]);
        metrics_label_escape(out, labels[i + 1]);
        ferry_buf_add(out, "\"");
    }
    if (labels != NULL && labels[0] != NULL)
        ferry_buf_add(out, "}");
    ferry_buf_addf(out, " %s\n", value);
}

static void sample_int(ferry_buf *out, const char *name, const char *const *labels, int64_t v)
{
    char text[24];
    (void)snprintf(text, sizeof(text), "%" PRId64, v);
    sample_text(out, name, labels, text);
}

/* ms as seconds, exactly: "61.234", "5". */
static void seconds_text(int64_t ms, char *text, size_t size)
{
    int64_t a = ms < 0 ? -ms : ms;
    if (a % 1000 == 0)
        (void)snprintf(text, size, "%s%" PRId64, ms < 0 ? "-" : "", a / 1000);
    else
        (void)snprintf(text, size, "%s%" PRId64 ".%03" PRId64, ms < 0 ? "-" : "", a / 1000,
                       a % 1000);
}

static void sample_ms(ferry_buf *out, const char *name, const char *const *labels, int64_t ms)
{
    char text[32];
    seconds_text(ms, text, sizeof(text));
    sample_text(out, name, labels, text);
}

/* ------------------------------------------------------------------ counters */

/* One histogram series: steps of a kind that ended in one state. */
typedef struct series {
    char kind[FERRY_STORE_NAME_MAX + 1];
    char end[32];
    int64_t count, sum_ms, le[FERRY_STATE_DURATION_BUCKETS];
} series;

static int series_cmp(const void *a, const void *b)
{
    const series *x = a, *y = b;
    int c = strcmp(x->kind, y->kind);
    return c != 0 ? c : strcmp(x->end, y->end);
}

/* The series of "step:<kind>:<end>:<what>" in list[0..*n) (added when new and room is left),
 * and <what> in *what; NULL when name is not such a field. */
static series *series_of(const char *name, series *list, size_t *n, size_t max, const char **what)
{
    if (strncmp(name, "step:", 5) != 0)
        return NULL;
    const char *kind = name + 5;
    const char *colon = strchr(kind, ':');
    const char *end = colon != NULL ? colon + 1 : NULL;
    const char *colon2 = end != NULL ? strchr(end, ':') : NULL;
    if (colon2 == NULL || colon == kind || colon2 == end ||
        (size_t)(colon - kind) >= sizeof(list[0].kind) ||
        (size_t)(colon2 - end) >= sizeof(list[0].end))
        return NULL;
    *what = colon2 + 1;
    for (size_t i = 0; i < *n; i++) {
        if (strncmp(list[i].kind, kind, (size_t)(colon - kind)) == 0 &&
            list[i].kind[colon - kind] == '\0' &&
            strncmp(list[i].end, end, (size_t)(colon2 - end)) == 0 &&
            list[i].end[colon2 - end] == '\0')
            return &list[i];
    }
    if (*n == max)
        return NULL;
    series *s = &list[(*n)++];
    memset(s, 0, sizeof(*s));
    (void)snprintf(s->kind, sizeof(s->kind), "%.*s", (int)(colon - kind), kind);
    (void)snprintf(s->end, sizeof(s->end), "%.*s", (int)(colon2 - end), end);
    return s;
}

static int64_t count_of(const char *text)
{
    char *end = NULL;
    long long v = strtoll(text != NULL ? text : "", &end, 10);
    return end != NULL && end != text && *end == '\0' ? (int64_t)v : 0;
}

void metrics_counters_render(const ferry_store_record *counters, ferry_buf *out)
{
    enum { MAX_SERIES = 64 }; /* kinds x end states, with room for kinds added later */
    series list[MAX_SERIES];
    size_t n = 0;
    for (size_t i = 0; counters != NULL && i < counters->count; i++) {
        const char *what = NULL;
        series *s = series_of(counters->pairs[i].name, list, &n, MAX_SERIES, &what);
        if (s == NULL)
            continue;
        int64_t v = count_of(counters->pairs[i].value);
        if (strcmp(what, "count") == 0)
            s->count = v;
        else if (strcmp(what, "sum_ms") == 0)
            s->sum_ms = v;
        for (size_t b = 0; b < FERRY_STATE_DURATION_BUCKETS; b++) {
            char le[32];
            (void)snprintf(le, sizeof(le), "le:%" PRId64, ferry_state_duration_buckets_ms[b]);
            if (strcmp(what, le) == 0)
                s->le[b] = v;
        }
    }
    qsort(list, n, sizeof(list[0]), series_cmp);
    family(out, "ferry_step_duration_seconds", "histogram",
           "How long steps ran, from claim to end, by kind and how they ended (counted by "
           "step_finish.lua).");
    for (size_t i = 0; i < n; i++) {
        const series *s = &list[i];
        int64_t acc = 0;
        for (size_t b = 0; b <= FERRY_STATE_DURATION_BUCKETS; b++) {
            char le[32];
            if (b < FERRY_STATE_DURATION_BUCKETS) {
                acc += s->le[b];
                seconds_text(ferry_state_duration_buckets_ms[b], le, sizeof(le));
            } else {
                acc = s->count; /* +Inf is every step counted */
                (void)snprintf(le, sizeof(le), "+Inf");
            }
            const char *labels[] = {"kind", s->kind, "outcome", s->end, "le", le, NULL};
            sample_int(out, "ferry_step_duration_seconds_bucket", labels, acc);
        }
        const char *labels[] = {"kind", s->kind, "outcome", s->end, NULL};
        sample_ms(out, "ferry_step_duration_seconds_sum", labels, s->sum_ms);
        sample_int(out, "ferry_step_duration_seconds_count", labels, s->count);
    }
    family(out, "ferry_step_retries_total", "counter",
           "Step attempts retried after a failure or an expired lease, by kind (counted by "
           "mig_apply.lua).");
    for (size_t k = 0; k < N_KINDS; k++) {
        char field[64];
        const char *kind = ferry_wire_kind_name(kinds[k]);
        (void)snprintf(field, sizeof(field), "retry:%s", kind);
        const char *labels[] = {"kind", kind, NULL};
        sample_int(out, "ferry_step_retries_total", labels,
                   count_of(ferry_store_record_value(counters, field)));
    }
    for (size_t i = 0; counters != NULL && i < counters->count; i++) {
        const char *name = counters->pairs[i].name;
        if (strncmp(name, "retry:", 6) != 0 || kind_index(name + 6) < N_KINDS)
            continue;
        const char *labels[] = {"kind", name + 6, NULL};
        sample_int(out, "ferry_step_retries_total", labels, count_of(counters->pairs[i].value));
    }
}

/* ------------------------------------------------------------------ migrations */

/* The families shown per migration, filled while the migrations are read one by one. */
enum {
    PM_STATE,
    PM_DOWNTIME,
    PM_LIMIT,
    PM_LEFT,
    PM_LAST_COPY,
    PM_VERIFIED,
    PM_LAG_S,
    PM_LAG_B,
    PM_SLOT_WAL,
    PM_COUNT
};

static const struct {
    const char *name, *help;
} per_mig[PM_COUNT] = {
    [PM_STATE] = {"ferry_migration_state", "1 for each migration, labelled with its state."},
    [PM_DOWNTIME] = {"ferry_cutover_downtime_seconds",
                     "The last cutover's downtime: from the source app's stop to the target "
                     "app's start."},
    [PM_LIMIT] = {"ferry_cutover_limit_seconds",
                  "The cutover's time limit: while it has the app down, the one it runs under; "
                  "otherwise the one it would get if it started now."},
    [PM_LEFT] = {"ferry_cutover_time_left_seconds",
                 "While a cutover has the app down: what is left of its time limit (0: over)."},
    [PM_LAST_COPY] = {"ferry_last_copy_seconds",
                      "How long the last database copy (dump_restore) or file pass (file_sync) "
                      "took."},
    [PM_VERIFIED] = {"ferry_verified_copy_seconds",
                     "How long the last verified copy or pass took: the cutover's limit is "
                     "measured from it."},
    [PM_LAG_S] = {"ferry_replication_lag_seconds",
                  "While a logical replication stream runs: how far the target is behind."},
    [PM_LAG_B] = {"ferry_replication_lag_bytes",
                  "While a logical replication stream runs: the WAL not yet applied on the "
                  "target."},
    [PM_SLOT_WAL] = {"ferry_replication_slot_wal_bytes",
                     "While a logical replication stream runs: the WAL its slot keeps on the "
                     "source."},
};

/* What is added up over every migration. */
typedef struct totals {
    int64_t migrations[FM_STATE_OTHER + 1];
    int64_t steps[N_KINDS][N_SSTATES + 1];
} totals;

static void mig_add(const migstore_view *v, const metrics_cfg *cfg, ferry_buf *fam, totals *t)
{
    const fm_mig *m = &v->mig;
    const ferry_store_record *r = v->rec;
    const char *id = m->id;
    if (m->state > FM_ABSENT && m->state <= FM_STATE_OTHER)
        t->migrations[m->state]++;
    const char *state_labels[] = {"migration", id,
                                  "app",       ferry_store_record_value(r, "app"),
                                  "env",       ferry_store_record_value(r, "env"),
                                  "state",     migstore_state_text(v),
                                  NULL};
    sample_int(&fam[PM_STATE], per_mig[PM_STATE].name, state_labels, 1);
    const char *labels[] = {"migration", id, NULL};
    int64_t downtime = migstore_int(r, "downtime_ms", 0);
    if (downtime > 0)
        sample_ms(&fam[PM_DOWNTIME], per_mig[PM_DOWNTIME].name, labels, downtime);
    if (m->cutover_deadline > 0) {
        int64_t left = m->cutover_deadline - v->now;
        int64_t limit = m->downtime_from > 0 ? m->cutover_deadline - m->downtime_from
                                             : fm_cutover_budget(m, cfg->policy);
        sample_ms(&fam[PM_LIMIT], per_mig[PM_LIMIT].name, labels, limit);
        sample_ms(&fam[PM_LEFT], per_mig[PM_LEFT].name, labels, left > 0 ? left : 0);
    } else {
        sample_ms(&fam[PM_LIMIT], per_mig[PM_LIMIT].name, labels,
                  fm_cutover_budget(m, cfg->policy));
    }
    const struct {
        const char *kind;
        int64_t last, verified;
    } copies[] = {{"dump_restore", m->last_dr_ms, m->verified_dr_ms},
                  {"file_sync", m->last_fs_ms, m->verified_fs_ms}};
    for (size_t i = 0; i < sizeof(copies) / sizeof(copies[0]); i++) {
        const char *kl[] = {"migration", id, "kind", copies[i].kind, NULL};
        if (copies[i].last > 0)
            sample_ms(&fam[PM_LAST_COPY], per_mig[PM_LAST_COPY].name, kl, copies[i].last);
        if (copies[i].verified > 0)
            sample_ms(&fam[PM_VERIFIED], per_mig[PM_VERIFIED].name, kl, copies[i].verified);
    }
    for (size_t i = 0; i < v->n_steps; i++) {
        const fm_step *s = &v->steps[i];
        const fm_purpose *p = fm_purpose_find(s->purpose);
        size_t k = p != NULL ? kind_index(p->kind) : N_KINDS;
        if (k < N_KINDS && s->state > FM_S_UNKNOWN && s->state <= FM_S_CANCELED)
            t->steps[k][s->state]++;
        /* The stream's progress is its lag (docs/orchestration.md): done = ms behind,
         * bytes_done = bytes behind, bytes_total = the WAL its slot keeps. */
        if (s->cycle != m->cycle || s->state != FM_S_RUNNING ||
            strcmp(s->purpose, "replicate.stream") != 0)
            continue;
        const ferry_store_record *sr = v->step_recs[i];
        sample_ms(&fam[PM_LAG_S], per_mig[PM_LAG_S].name, labels, migstore_int(sr, "p_done", 0));
        sample_int(&fam[PM_LAG_B], per_mig[PM_LAG_B].name, labels,
                   migstore_int(sr, "p_bytes_done", 0));
        sample_int(&fam[PM_SLOT_WAL], per_mig[PM_SLOT_WAL].name, labels,
                   migstore_int(sr, "p_bytes_total", 0));
    }
}

/* Reads every migration: the totals into *t, the per-migration families into out. */
static ferry_rc migrations_render(ferry_store *store, const metrics_cfg *cfg, totals *t,
                                  ferry_buf *out, ferry_err *err)
{
    ferry_buf fam[PM_COUNT];
    memset(fam, 0, sizeof(fam));
    ferry_state_list ids = {0};
    ferry_rc rc = ferry_state_migrations(store, &ids, err);
    for (size_t i = 0; rc == FERRY_OK && i < ids.count; i++) {
        if (ids.items[i] == NULL)
            continue;
        migstore_view v;
        rc = migstore_load(store, ids.items[i], &v, err);
        if (rc != FERRY_OK)
            break;
        if (v.rec != NULL)
            mig_add(&v, cfg, fam, t);
        migstore_view_cleanup(&v);
    }
    for (size_t f = 0; rc == FERRY_OK && f < PM_COUNT; f++) {
        family(out, per_mig[f].name, "gauge", per_mig[f].help);
        if (fam[f].p != NULL)
            ferry_buf_add(out, fam[f].p);
        if (fam[f].oom)
            out->oom = true;
    }
    for (size_t f = 0; f < PM_COUNT; f++)
        ferry_buf_cleanup(&fam[f]);
    ferry_state_list_cleanup(&ids);
    return rc;
}

static void totals_render(const totals *t, ferry_buf *out)
{
    family(out, "ferry_migrations", "gauge", "Migrations by state.");
    for (fm_state s = FM_NEW; s <= FM_STATE_OTHER; s++) {
        const char *labels[] = {"state", fm_state_name(s), NULL};
        sample_int(out, "ferry_migrations", labels, t->migrations[s]);
    }
    family(out, "ferry_steps", "gauge",
           "Steps by kind and state: the latest step of each purpose of every migration.");
    for (size_t k = 0; k < N_KINDS; k++) {
        for (size_t s = FM_S_PENDING; s <= N_SSTATES; s++) {
            const char *labels[] = {"kind", ferry_wire_kind_name(kinds[k]), "state",
                                    fm_sstate_name((fm_sstate)s), NULL};
            sample_int(out, "ferry_steps", labels, t->steps[k][s]);
        }
    }
}

/* ------------------------------------------------------------------ workers, queues */

static ferry_rc workers_render(ferry_store *store, const metrics_cfg *cfg, ferry_buf *out,
                               ferry_err *err)
{
    int64_t now = ferry_wall_ms(); /* as GET /v1/workers judges them */
    int64_t alive[N_KINDS] = {0}, slots[N_KINDS] = {0}, busy[N_KINDS] = {0};
    ferry_state_workers known = {0};
    ferry_rc rc = ferry_state_workers_since(store, now - cfg->worker_alive_ms, &known, err);
    if (rc != FERRY_OK)
        return rc;
    for (size_t i = 0; i < known.count; i++) {
        const ferry_state_worker *w = &known.items[i];
        if (w->rec == NULL || w->rec->count == 0 || now - w->heartbeat_at >= cfg->worker_alive_ms)
            continue;
        size_t k = kind_index(ferry_store_record_value(w->rec, "kind"));
        if (k == N_KINDS)
            continue;
        alive[k]++;
        slots[k] += migstore_int(w->rec, "capacity", 0);
        busy[k] += migstore_int(w->rec, "running", 0);
    }
    ferry_state_workers_cleanup(&known);
    int64_t queued[N_KINDS] = {0};
    for (size_t k = 0; rc == FERRY_OK && k < N_KINDS; k++)
        rc = ferry_state_queued_count(store, ferry_wire_kind_name(kinds[k]), &queued[k], err);
    if (rc != FERRY_OK)
        return rc;
    const struct {
        const char *name, *help;
        const int64_t *v;
        bool free;
    } fams[] = {
        {"ferry_workers_alive", "Workers alive (heard of within the alive time), by kind.", alive,
         false},
        {"ferry_worker_slots", "Step slots of the alive workers, by kind.", slots, false},
        {"ferry_worker_slots_free", "Step slots of the alive workers that run nothing, by kind.",
         slots, true},
        {"ferry_steps_queued", "Steps dispatched to a kind and not claimed by a worker yet.",
         queued, false},
    };
    for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
        family(out, fams[f].name, "gauge", fams[f].help);
        for (size_t k = 0; k < N_KINDS; k++) {
            int64_t v = fams[f].v[k] - (fams[f].free ? busy[k] : 0);
            const char *labels[] = {"kind", ferry_wire_kind_name(kinds[k]), NULL};
            sample_int(out, fams[f].name, labels, v > 0 ? v : 0);
        }
    }
    return FERRY_OK;
}

/* ------------------------------------------------------------------ all */

ferry_rc metrics_render(ferry_store *store, const metrics_cfg *cfg, ferry_buf *out, ferry_err *err)
{
    totals *t = calloc(1, sizeof(*t));
    ferry_store_record *counters = NULL;
    int64_t held = 0, replayed = 0;
    if (t == NULL)
        return ferry_err_set(err, FERRY_ERR_NOMEM, "metrics: out of memory");
    ferry_rc rc = migrations_render(store, cfg, t, out, err);
    if (rc == FERRY_OK)
        totals_render(t, out);
    if (rc == FERRY_OK)
        rc = ferry_state_metrics_get(store, &counters, err);
    if (rc == FERRY_OK)
        metrics_counters_render(counters, out);
    if (rc == FERRY_OK)
        rc = workers_render(store, cfg, out, err);
    if (rc == FERRY_OK)
        rc = ferry_state_dead_letters_count(store, &held, &replayed, err);
    if (rc == FERRY_OK) {
        family(out, "ferry_dead_letters", "gauge",
               "Messages no consumer could handle, kept in Redis (capped at about 10000).");
        sample_int(out, "ferry_dead_letters", NULL, held);
        family(out, "ferry_dead_letters_replayed", "gauge",
               "Dead letters replayed (POST /v1/dead-letters/{id}/replay), ever.");
        sample_int(out, "ferry_dead_letters_replayed", NULL, replayed);
    }
    if (rc == FERRY_OK && out->oom)
        rc = ferry_err_set(err, FERRY_ERR_NOMEM, "metrics: out of memory");
    if (rc != FERRY_OK)
        (void)ferry_err_prefix(err, "metrics");
    ferry_store_record_free(counters);
    free(t);
    return rc;
}
