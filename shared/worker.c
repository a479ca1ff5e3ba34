/*
 * worker.c - the worker runtime: one consumer thread that claims attempts and hands them to a
 * pool of executor threads, one lease thread, one heartbeat thread, and main() driving start
 * and shutdown. docs/orchestration.md ("Executing a step") is the protocol.
 *
 * Threads and what they own:
 * - consumer: the Kafka consumer (polled from this thread only), its own ferry_store (claims),
 *   the messages it holds back while it has no free executor or Redis is away;
 * - executor i: slot i and its own ferry_store (finish); it runs one step at a time;
 * - lease: its own ferry_store (renewals); it also stops steps whose deadline passed;
 * - heartbeat: its own ferry_store (ferry_state_worker_beat);
 * - main: configuration, start, the wait for a signal, and the shutdown in order.
 * A ferry_store is not thread-safe, hence one per thread. The producer (dead letters) is.
 *
 * worker.mu guards the slots and the running count; a step context's own mutex guards its
 * progress and results. Lock order: worker.mu, then a context's mutex.
 */
#include "ferry/clock.h"
#include "ferry/worker.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ferry/bus.h"
#include "ferry/config.h"
#include "ferry/log.h"
#include "ferry/opts.h"
#include "ferry/state.h"
#include "ferry/store.h"
#include "ferry/wire.h"

#ifndef FERRY_VERSION
#error "FERRY_VERSION comes from the build (CMakeLists.txt)"
#endif

#define EXIT_CLEAN   0
#define EXIT_OTHER   1
#define EXIT_USAGE   2
#define EXIT_CONFIG  3
#define EXIT_SERVICE 4

#define POLL_MS          200   /* one consumer poll while nothing is held back */
#define HELD_POLL_MS     5     /* one poll while a message waits for a free executor */
#define TICK_MS          100   /* lease thread and main loop granularity */
#define STORE_TIMEOUT_MS 5000  /* connect and reply bound of every Redis connection */
#define BUS_TIMEOUT_MS   10000 /* one delivery, commit or close */
#define TOPICS_TIMEOUT   30000 /* creating the topics at start */
#define RETRY_MS         1000  /* a held message or a failed finish is tried again after this */
#define PROGRESS_MS      1000  /* new progress is written (with a renewal) at least this often */
#define HELD_MAX         64    /* held messages that pause the consumer; pausing keeps it small */
#define RESULTS_MAX      256
#define RESULT_NAME_MAX  120
#define TEXT_MAX         512 /* progress unit and detail kept by the runtime */

typedef enum stop_reason {
    STOP_NONE = 0,
    STOP_LEASE = 1,    /* renewal refused (canceled, superseded, expired) or not renewed in time */
    STOP_DEADLINE = 2, /* the command's deadline passed */
    STOP_SHUTDOWN = 3, /* the worker is shutting down */
} stop_reason;

struct worker;

struct ferry_step_ctx {
    struct worker *w;
    Ferry__V1__StepCommand *cmd; /* owned: freed with the context */
    ferry_step_ref ref;          /* strings borrowed from cmd */
    uint64_t gen;                /* tells this context apart from a later one in the same slot */
    int64_t deadline_ms;         /* wall clock, 0: none */
    int64_t claimed_ms;          /* Redis clock at the claim (lease_until - lease) */
    _Atomic int stop;            /* a stop_reason; the first one set stays */

    /* The lease as this process may count on it (monotonic ms): from when the last granted
     * claim or renewal was SENT, plus the lease, minus lease_margin(). Redis's lease_until comes
     * strictly later, so this worker stops before another attempt can start. Set by the consumer
     * and the lease thread, read by the executor (ferry_step_stopping). */
    _Atomic int64_t lease_ok_until;

    /* Lease thread only (under worker.mu): when it last tried a renewal (monotonic). */
    int64_t renew_tried_ms;
    bool renew_failing;
    bool finishing; /* (worker.mu) the executor returned; a refused renewal is then expected */

    pthread_mutex_t mu; /* guards what follows */
    ferry_step_progress progress;
    char unit[TEXT_MAX], detail[TEXT_MAX];
    bool has_progress;
    uint64_t progress_seq, progress_sent;   /* set by the executor / written by a renewal */
    ferry_store_field results[RESULTS_MAX]; /* owned copies */
    size_t n_results;
    bool retryable_set, retryable;
};

typedef struct slot {
    struct worker *w;
    pthread_t thread;
    bool started;
    ferry_store *store;  /* the executor's own connection */
    ferry_step_ctx *ctx; /* NULL when free; set by the consumer, cleared by the executor */
} slot;

typedef struct worker {
    const ferry_worker_def *def;
    ferry_cfg *cfg;
    const char *kind; /* wire name */
    char id[FERRY_STORE_NAME_MAX + 1];
    char host[256];
    char topic[256], dlq[256], group[256];
    int64_t lease_ms, heartbeat_ms, drain_ms;
    size_t concurrency;

    ferry_bus_producer *producer;
    ferry_bus_consumer *consumer;
    ferry_store *consumer_store, *lease_store, *beat_store;
    slot *slots;

    bool locks; /* mu and changed exist */
    pthread_mutex_t mu;
    pthread_cond_t changed; /* a slot was filled or freed; executors exit; tick waits */
    size_t running;         /* slots with a context */
    bool executors_exit;
    bool threads_exit; /* lease and heartbeat threads stop */
    uint64_t next_gen;
    int64_t started_at; /* Redis clock, ms, at the first heartbeat */

    atomic_bool stop_taking; /* the consumer stops and closes */
    atomic_bool fatal;       /* something that must end the process happened */
} worker;

/* Counts SIGTERM and SIGINT. The handler only counts, and ends the process at the second. */
static volatile sig_atomic_t signals_seen;

static void on_signal(int sig)
{
    (void)sig;
    signals_seen++;
    if (signals_seen > 1)
        _exit(EXIT_OTHER); /* asked twice: leave at once, the leases expire */
}

/* ------------------------------------------------------------------ time */

/* Waits on w->changed (w->mu held) for at most ms. The condition uses CLOCK_MONOTONIC. */
static void wait_ms(worker *w, int64_t ms)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    if (ms < 0)
        ms = 0;
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    (void)pthread_cond_timedwait(&w->changed, &w->mu, &ts);
}

/* ------------------------------------------------------------------ step contexts */

static ferry_log_ctx log_ctx(const ferry_step_ctx *ctx)
{
    ferry_log_ctx l = {.migration = ctx->ref.migration,
                       .step = ctx->ref.step,
                       .attempt = (unsigned)ctx->ref.attempt};
    return l;
}

/* What the worker's own lease deadline keeps back from Redis's: a tenth of the lease and two
 * ticks of the lease thread, so neither a slow clock nor a thread that has not looked yet lets
 * an attempt run past the moment Redis gives it to another worker. */
static int64_t lease_margin(int64_t lease_ms)
{
    return lease_ms / 10 + 2 * TICK_MS;
}

/* True once the lease this process may count on has run out (see lease_ok_until). */
static bool lease_over(ferry_step_ctx *ctx)
{
    return ferry_mono_ms() >= atomic_load(&ctx->lease_ok_until);
}

static void ctx_stop(ferry_step_ctx *ctx, stop_reason why)
{
    int none = STOP_NONE;
    (void)atomic_compare_exchange_strong(&ctx->stop, &none, (int)why);
}

/* Takes ownership of cmd. claim_sent_ms: when the granted claim was sent (monotonic); the
 * lease counts from there. NULL when out of memory (cmd is then freed). */
static ferry_step_ctx *ctx_new(worker *w, Ferry__V1__StepCommand *cmd, int64_t claim_sent_ms)
{
    ferry_step_ctx *ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL || pthread_mutex_init(&ctx->mu, NULL) != 0) {
        free(ctx);
        ferry_wire_step_free(cmd);
        return NULL;
    }
    ctx->w = w;
    ctx->cmd = cmd;
    ctx->ref.migration = cmd->migration_id;
    ctx->ref.step = cmd->step_id;
    ctx->ref.attempt = cmd->attempt;
    ctx->deadline_ms = cmd->deadline_unix_ms;
    atomic_init(&ctx->stop, STOP_NONE);
    ctx->renew_tried_ms = claim_sent_ms; /* the claim set the lease */
    atomic_init(&ctx->lease_ok_until, claim_sent_ms + w->lease_ms - lease_margin(w->lease_ms));
    return ctx;
}

static void ctx_free(ferry_step_ctx *ctx)
{
    if (ctx == NULL)
        return;
    for (size_t i = 0; i < ctx->n_results; i++) {
        free((char *)ctx->results[i].name);
        free((char *)ctx->results[i].value);
    }
    (void)pthread_mutex_destroy(&ctx->mu);
    ferry_wire_step_free(ctx->cmd);
    free(ctx);
}

bool ferry_step_stopping(const ferry_step_ctx *ctx)
{
    /* The context is never const in storage: the runtime allocates it. */
    ferry_step_ctx *c = (ferry_step_ctx *)ctx;
    if (atomic_load(&c->stop) != STOP_NONE)
        return true;
    if (lease_over(c)) {
        /* Checked here too, not only by the lease thread: a process paused past its lease
         * (SIGSTOP, swapping) must not take one more action when it wakes. */
        atomic_store(&c->stop, STOP_LEASE);
        return true;
    }
    if (c->deadline_ms > 0 && ferry_wall_ms() >= c->deadline_ms) {
        ctx_stop(c, STOP_DEADLINE);
        return true;
    }
    return false;
}

void ferry_step_progress_set(ferry_step_ctx *ctx, const ferry_step_progress *progress)
{
    if (ctx == NULL || progress == NULL)
        return;
    (void)pthread_mutex_lock(&ctx->mu);
    ctx->progress = *progress;
    (void)snprintf(ctx->unit, sizeof(ctx->unit), "%s", progress->unit ? progress->unit : "");
    (void)snprintf(ctx->detail, sizeof(ctx->detail), "%s",
                   progress->detail ? progress->detail : "");
    ctx->progress.unit = ctx->unit;
    ctx->progress.detail = ctx->detail;
    ctx->has_progress = true;
    ctx->progress_seq++;
    (void)pthread_mutex_unlock(&ctx->mu);
}

ferry_rc ferry_step_result(ferry_step_ctx *ctx, const char *name, const char *value)
{
    size_t n = name != NULL ? strlen(name) : 0;
    if (ctx == NULL || value == NULL || n == 0 || n > RESULT_NAME_MAX)
        return FERRY_ERR_INVALID;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c <= 0x20 || c >= 0x7f)
            return FERRY_ERR_INVALID;
    }
    ferry_rc rc = FERRY_OK;
    char *v = strdup(value);
    char *k = NULL;
    if (v == NULL)
        return FERRY_ERR_NOMEM;
    (void)pthread_mutex_lock(&ctx->mu);
    for (size_t i = 0; i < ctx->n_results; i++) {
        if (strcmp(ctx->results[i].name, name) == 0) {
            free((char *)ctx->results[i].value);
            ctx->results[i].value = v;
            v = NULL;
            goto out;
        }
    }
    if (ctx->n_results == RESULTS_MAX) {
        rc = FERRY_ERR_INVALID;
        goto out;
    }
    k = strdup(name);
    if (k == NULL) {
        rc = FERRY_ERR_NOMEM;
        goto out;
    }
    ctx->results[ctx->n_results].name = k;
    ctx->results[ctx->n_results].value = v;
    ctx->n_results++;
    v = NULL;
out:
    (void)pthread_mutex_unlock(&ctx->mu);
    free(v);
    return rc;
}

void ferry_step_set_retryable(ferry_step_ctx *ctx, bool retryable)
{
    if (ctx == NULL)
        return;
    (void)pthread_mutex_lock(&ctx->mu);
    ctx->retryable_set = true;
    ctx->retryable = retryable;
    (void)pthread_mutex_unlock(&ctx->mu);
}

const struct ferry_cfg *ferry_step_config(const ferry_step_ctx *ctx)
{
    return ctx != NULL ? ctx->w->cfg : NULL;
}

const char *ferry_step_worker_id(const ferry_step_ctx *ctx)
{
    return ctx != NULL ? ctx->w->id : "";
}

int64_t ferry_step_claimed_ms(const ferry_step_ctx *ctx)
{
    return ctx != NULL ? ctx->claimed_ms : 0;
}

int64_t ferry_step_deadline_ms(const ferry_step_ctx *ctx)
{
    return ctx != NULL ? ctx->deadline_ms : 0;
}

/* ------------------------------------------------------------------ executors */

/* Ends the attempt in Redis. A lost connection makes the outcome unknown: the finish is tried
 * again (the lease thread keeps renewing meanwhile), and a refusal that shows the state it
 * wanted means the first one went through. Gives up when the lease is lost. */
static void step_finish(slot *s, ferry_step_ctx *ctx, ferry_rc rc, const ferry_err *run_err,
                        int64_t began_ms)
{
    worker *w = s->w;
    ferry_log_ctx lc = log_ctx(ctx);
    int why = atomic_load(&ctx->stop);
    ferry_step_outcome outcome = FERRY_STEP_SUCCEEDED;
    ferry_err error;
    bool retryable = false;
    ferry_err_clear(&error);

    if (why == STOP_LEASE || lease_over(ctx)) {
        /* The attempt may belong to another worker by now: whatever it did, this one records
         * nothing (Redis would refuse a finish after lease_until anyway). The coordinator
         * expires the lease and runs the step again. */
        ferry_log_kv(FERRY_LOG_WARN, &lc, "lease over: the attempt's outcome is not recorded",
                     "outcome", rc == FERRY_OK ? "succeeded" : ferry_rc_str(rc), NULL);
        return;
    }
    if (rc == FERRY_OK) {
        outcome = FERRY_STEP_SUCCEEDED;
    } else if (why == STOP_SHUTDOWN) {
        outcome = FERRY_STEP_RELEASED;
    } else if (why == STOP_DEADLINE) {
        outcome = FERRY_STEP_FAILED;
        (void)ferry_err_set(&error, FERRY_ERR_TIMEOUT, "deadline %" PRId64 " passed (%s)",
                            ctx->deadline_ms, run_err->msg);
        retryable = false;
    } else {
        outcome = FERRY_STEP_FAILED;
        error = *run_err;
        error.code = rc;
        if (error.msg[0] == '\0')
            (void)snprintf(error.msg, sizeof(error.msg), "%s", ferry_rc_str(rc));
        (void)pthread_mutex_lock(&ctx->mu);
        retryable = ctx->retryable_set ? ctx->retryable : ferry_rc_retryable(rc);
        (void)pthread_mutex_unlock(&ctx->mu);
    }
    const char *outcome_name = outcome == FERRY_STEP_SUCCEEDED ? "succeeded"
                               : outcome == FERRY_STEP_FAILED  ? "failed"
                                                               : "released";

    for (int round = 0;; round++) {
        ferry_step_progress progress;
        ferry_step_seen seen;
        ferry_err err;
        bool has_progress;
        /* The results and progress are final: the executor has returned. */
        (void)pthread_mutex_lock(&ctx->mu);
        progress = ctx->progress;
        has_progress = ctx->has_progress;
        (void)pthread_mutex_unlock(&ctx->mu);
        ferry_step_end end = {.outcome = outcome,
                              .error = outcome == FERRY_STEP_FAILED ? &error : NULL,
                              .retryable = retryable,
                              .progress = has_progress ? &progress : NULL,
                              .results = ctx->results,
                              .n_results = ctx->n_results};
        ferry_rc frc = ferry_steps_finish(s->store, &ctx->ref, w->id, &end, &seen, &err);
        if (frc == FERRY_OK) {
            char ms[24];
            (void)snprintf(ms, sizeof(ms), "%" PRId64, ferry_mono_ms() - began_ms);
            if (outcome == FERRY_STEP_FAILED)
                ferry_log_kv(FERRY_LOG_WARN, &lc, "step failed", "code", ferry_rc_str(error.code),
                             "retryable", retryable ? "true" : "false", "error", error.msg,
                             "duration_ms", ms, NULL);
            else
                ferry_log_kv(FERRY_LOG_INFO, &lc,
                             outcome == FERRY_STEP_SUCCEEDED ? "step succeeded" : "step released",
                             "duration_ms", ms, NULL);
            return;
        }
        if (frc == FERRY_ERR_CONFLICT) {
            if (round > 0 && strcmp(seen.state, outcome_name) == 0 &&
                seen.attempt == ctx->ref.attempt && strcmp(seen.owner, w->id) == 0) {
                ferry_log(FERRY_LOG_INFO, &lc, "step %s (the first finish went through)",
                          outcome_name);
                return;
            }
            /* Lease lost (canceled, superseded, expired): the attempt is no longer ours. */
            ferry_log_kv(FERRY_LOG_INFO, &lc, "finish refused: the attempt is not ours any more",
                         "outcome", outcome_name, "reason", err.msg, NULL);
            return;
        }
        if (atomic_load(&ctx->stop) == STOP_LEASE || lease_over(ctx)) {
            ferry_log_kv(FERRY_LOG_ERROR, &lc, "finish failed and the lease is lost; giving up",
                         "outcome", outcome_name, "error", err.msg, NULL);
            return;
        }
        ferry_log_kv(FERRY_LOG_WARN, &lc, "finish failed; trying again", "outcome", outcome_name,
                     "error", err.msg, NULL);
        ferry_sleep_ms(RETRY_MS);
    }
}

static void *executor_main(void *arg)
{
    slot *s = arg;
    worker *w = s->w;
    (void)pthread_mutex_lock(&w->mu);
    for (;;) {
        while (s->ctx == NULL && !w->executors_exit)
            (void)pthread_cond_wait(&w->changed, &w->mu);
        if (s->ctx == NULL)
            break; /* executors_exit, and nothing left to run */
        ferry_step_ctx *ctx = s->ctx;
        (void)pthread_mutex_unlock(&w->mu);

        ferry_log_ctx lc = log_ctx(ctx);
        ferry_log_kv(FERRY_LOG_INFO, &lc, "step started", "operation",
                     ferry_wire_operation_name(ctx->cmd->operation), NULL);
        ferry_err err;
        ferry_err_clear(&err);
        int64_t began = ferry_mono_ms();
        /* A process paused between the claim and here may wake past its lease: then it does
         * not start the step at all (step_finish records nothing). */
        ferry_rc rc = ferry_step_stopping(ctx)
                          ? ferry_err_set(&err, FERRY_ERR_CANCELLED, "stopped before it started")
                          : w->def->execute(ctx, ctx->cmd, w->def->ud, &err);
        (void)pthread_mutex_lock(&w->mu);
        ctx->finishing = true;
        (void)pthread_mutex_unlock(&w->mu);
        step_finish(s, ctx, rc, &err, began);

        (void)pthread_mutex_lock(&w->mu);
        s->ctx = NULL;
        w->running--;
        (void)pthread_cond_broadcast(&w->changed);
        (void)pthread_mutex_unlock(&w->mu);
        ctx_free(ctx);
        (void)pthread_mutex_lock(&w->mu);
    }
    (void)pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* ------------------------------------------------------------------ lease thread */

typedef struct renew_job {
    size_t slot;
    uint64_t gen;
    char migration[FERRY_WIRE_ID_MAX + 1], step[FERRY_WIRE_ID_MAX + 1];
    int64_t attempt;
    ferry_step_progress progress;
    char unit[TEXT_MAX], detail[TEXT_MAX];
    bool has_progress;
    uint64_t progress_seq, progress_sent; /* set by the executor / written by a renewal */
} renew_job;

/* Under w->mu: the steps due for renewal go to jobs; deadlines and leases not renewed in time
 * set stop flags. Returns the number of jobs. */
static size_t lease_collect(worker *w, renew_job *jobs, int64_t now)
{
    size_t n = 0;
    int64_t third = w->lease_ms / 3;
    int64_t wall = ferry_wall_ms();
    for (size_t i = 0; i < w->concurrency; i++) {
        ferry_step_ctx *ctx = w->slots[i].ctx;
        if (ctx == NULL)
            continue;
        ferry_log_ctx lc = log_ctx(ctx);
        if (ctx->deadline_ms > 0 && wall >= ctx->deadline_ms &&
            atomic_load(&ctx->stop) == STOP_NONE) {
            ferry_log(FERRY_LOG_WARN, &lc, "deadline passed: stopping the step");
            ctx_stop(ctx, STOP_DEADLINE);
        }
        if (now >= atomic_load(&ctx->lease_ok_until) && atomic_load(&ctx->stop) != STOP_LEASE) {
            /* Not renewed in time: another worker may hold it soon. */
            ferry_log(FERRY_LOG_WARN, &lc, "lease not renewed in time: stopping the step");
            atomic_store(&ctx->stop, STOP_LEASE);
        }
        int64_t every = ctx->renew_failing && third > RETRY_MS ? RETRY_MS : third;
        /* New progress goes out within PROGRESS_MS, not only every third of the lease, so a
         * status view sees steps move. */
        (void)pthread_mutex_lock(&ctx->mu);
        bool fresh = ctx->progress_seq != ctx->progress_sent;
        (void)pthread_mutex_unlock(&ctx->mu);
        if (fresh && every > PROGRESS_MS)
            every = PROGRESS_MS;
        if (now - ctx->renew_tried_ms < every || atomic_load(&ctx->stop) == STOP_LEASE)
            continue;
        renew_job *j = &jobs[n++];
        j->slot = i;
        j->gen = ctx->gen;
        (void)snprintf(j->migration, sizeof(j->migration), "%s", ctx->ref.migration);
        (void)snprintf(j->step, sizeof(j->step), "%s", ctx->ref.step);
        j->attempt = ctx->ref.attempt;
        (void)pthread_mutex_lock(&ctx->mu);
        j->has_progress = ctx->has_progress;
        j->progress = ctx->progress;
        ctx->progress_sent = ctx->progress_seq;
        (void)snprintf(j->unit, sizeof(j->unit), "%s", ctx->unit);
        (void)snprintf(j->detail, sizeof(j->detail), "%s", ctx->detail);
        (void)pthread_mutex_unlock(&ctx->mu);
        j->progress.unit = j->unit;
        j->progress.detail = j->detail;
        ctx->renew_tried_ms = now;
    }
    return n;
}

static void lease_renew(worker *w, const renew_job *j)
{
    ferry_step_ref ref = {.migration = j->migration, .step = j->step, .attempt = j->attempt};
    ferry_log_ctx lc = {
        .migration = j->migration, .step = j->step, .attempt = (unsigned)j->attempt};
    ferry_step_seen seen;
    ferry_err err;
    int64_t sent = ferry_mono_ms(); /* the new lease counts from here, not from the answer */
    ferry_rc rc = ferry_steps_renew(w->lease_store, &ref, w->id, w->lease_ms,
                                    j->has_progress ? &j->progress : NULL, &seen, &err);
    bool expected = true; /* a refusal for an attempt that is over or being finished */
    (void)pthread_mutex_lock(&w->mu);
    ferry_step_ctx *ctx = w->slots[j->slot].ctx;
    if (ctx != NULL && ctx->gen == j->gen) {
        expected = ctx->finishing;
        if (rc == FERRY_OK) {
            int64_t until = sent + w->lease_ms - lease_margin(w->lease_ms);
            if (until > atomic_load(&ctx->lease_ok_until))
                atomic_store(&ctx->lease_ok_until, until);
            ctx->renew_failing = false;
        } else if (rc == FERRY_ERR_LEASE_LOST) {
            /* Lease loss outranks an earlier deadline or shutdown: the finish is refused. */
            atomic_store(&ctx->stop, STOP_LEASE);
        } else {
            ctx->renew_failing = true;
        }
    }
    (void)pthread_mutex_unlock(&w->mu);
    if (rc == FERRY_ERR_LEASE_LOST)
        ferry_log_kv(expected ? FERRY_LOG_DEBUG : FERRY_LOG_WARN, &lc,
                     "lease lost: stopping the step", "state", seen.state, "owner", seen.owner,
                     "reason", err.msg, NULL);
    else if (rc != FERRY_OK)
        ferry_log_kv(FERRY_LOG_WARN, &lc, "lease renewal failed; trying again", "error", err.msg,
                     NULL);
}

static void *lease_main(void *arg)
{
    worker *w = arg;
    renew_job *jobs = calloc(w->concurrency, sizeof(*jobs));
    if (jobs == NULL) {
        ferry_log(FERRY_LOG_ERROR, NULL, "lease thread: out of memory");
        atomic_store(&w->fatal, true);
        return NULL;
    }
    (void)pthread_mutex_lock(&w->mu);
    while (!w->threads_exit) {
        size_t n = lease_collect(w, jobs, ferry_mono_ms());
        (void)pthread_mutex_unlock(&w->mu);
        for (size_t i = 0; i < n; i++)
            lease_renew(w, &jobs[i]);
        (void)pthread_mutex_lock(&w->mu);
        if (!w->threads_exit)
            wait_ms(w, TICK_MS);
    }
    (void)pthread_mutex_unlock(&w->mu);
    free(jobs);
    return NULL;
}

/* ------------------------------------------------------------------ heartbeat */

static ferry_rc heartbeat_write(worker *w, ferry_err *err)
{
    char *steps = NULL;
    int64_t now = 0;
    ferry_rc rc = ferry_state_now(w->beat_store, &now, err);
    if (rc != FERRY_OK)
        return rc;

    size_t cap = w->concurrency * (2 * FERRY_WIRE_ID_MAX + 2) + 1;
    steps = calloc(1, cap);
    if (steps == NULL)
        return ferry_err_set(err, FERRY_ERR_NOMEM, "heartbeat: out of memory");
    size_t len = 0, n_running = 0;
    (void)pthread_mutex_lock(&w->mu);
    if (w->started_at == 0)
        w->started_at = now;
    for (size_t i = 0; i < w->concurrency; i++) {
        const ferry_step_ctx *ctx = w->slots[i].ctx;
        if (ctx == NULL)
            continue;
        int k = snprintf(steps + len, cap - len, "%s%s/%s", n_running ? " " : "",
                         ctx->ref.migration, ctx->ref.step);
        if (k > 0 && (size_t)k < cap - len)
            len += (size_t)k;
        n_running++;
    }
    int64_t started_at = w->started_at;
    (void)pthread_mutex_unlock(&w->mu);

    ferry_state_beat beat = {.id = w->id,
                             .kind = w->kind,
                             .host = w->host,
                             .pid = (long)getpid(),
                             /* A worker that is shutting down offers no capacity. */
                             .capacity = atomic_load(&w->stop_taking) ? 0 : w->concurrency,
                             .running = n_running,
                             .started_at = started_at,
                             .steps = steps,
                             .at = now,
                             .expire_ms = 3 * w->heartbeat_ms};
    rc = ferry_state_worker_beat(w->beat_store, &beat, err);
    free(steps);
    return rc;
}

static void heartbeat_remove(worker *w)
{
    ferry_err err;
    ferry_rc rc = ferry_state_worker_gone(w->beat_store, w->id, &err);
    if (rc != FERRY_OK)
        ferry_log_kv(FERRY_LOG_WARN, NULL, "could not remove the worker's heartbeat; it expires",
                     "error", err.msg, NULL);
}

static void *heartbeat_main(void *arg)
{
    worker *w = arg;
    bool failing = false;
    (void)pthread_mutex_lock(&w->mu);
    while (!w->threads_exit) {
        int64_t next = ferry_mono_ms() + w->heartbeat_ms;
        (void)pthread_mutex_unlock(&w->mu);
        ferry_err err;
        ferry_rc rc = heartbeat_write(w, &err);
        if (rc != FERRY_OK && !failing)
            ferry_log_kv(FERRY_LOG_WARN, NULL, "heartbeat failed", "error", err.msg, NULL);
        else if (rc == FERRY_OK && failing)
            ferry_log(FERRY_LOG_INFO, NULL, "heartbeat written again");
        failing = rc != FERRY_OK;
        (void)pthread_mutex_lock(&w->mu);
        while (!w->threads_exit && ferry_mono_ms() < next)
            wait_ms(w, next - ferry_mono_ms());
    }
    (void)pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* ------------------------------------------------------------------ consumer */

typedef enum handled {
    HANDLED_DONE = 0, /* committed (or given up on); free the message */
    HANDLED_RETRY = 1 /* keep it and try again later (Redis away) */
} handled;

static void consumer_commit(worker *w, const ferry_bus_msg *msg, const ferry_log_ctx *lc)
{
    ferry_err err;
    ferry_rc rc = ferry_bus_commit(w->consumer, msg, &err);
    if (rc != FERRY_OK)
        ferry_log_kv(FERRY_LOG_WARN, lc, "commit failed; the message will come again", "error",
                     err.msg, NULL);
}

/* Sends msg to the dead-letter topic and commits it; false when the topic refused it three
 * times: then nothing is committed, and the caller holds the message and tries again. */
static bool consumer_dead_letter(worker *w, const ferry_bus_msg *msg, const char *reason)
{
    char consumer_id[512], where[64];
    ferry_bus_consumer_id(w->consumer, consumer_id, sizeof(consumer_id));
    (void)snprintf(where, sizeof(where), "%d/%" PRId64, (int)msg->partition, msg->offset);
    ferry_rc rc = FERRY_OK;
    ferry_err err;
    for (int i = 0; i < 3; i++) {
        rc = ferry_bus_dead_letter(w->producer, w->dlq, msg, reason, consumer_id, &err);
        if (rc == FERRY_OK)
            break;
    }
    if (rc != FERRY_OK) {
        ferry_log_kv(FERRY_LOG_ERROR, NULL,
                     "the dead-letter topic refused a message; held, tried again", "topic",
                     msg->topic, "partition_offset", where, "reason", reason, "error", err.msg,
                     NULL);
        return false;
    }
    ferry_log_kv(FERRY_LOG_WARN, NULL, "message sent to the dead-letter topic", "topic", msg->topic,
                 "partition_offset", where, "reason", reason, NULL);
    consumer_commit(w, msg, NULL);
    return true;
}

/* Whether this process runs that attempt right now. */
static bool running_here(worker *w, const ferry_step_ref *ref)
{
    bool found = false;
    (void)pthread_mutex_lock(&w->mu);
    for (size_t i = 0; i < w->concurrency && !found; i++) {
        const ferry_step_ctx *ctx = w->slots[i].ctx;
        found = ctx != NULL && ctx->ref.attempt == ref->attempt &&
                strcmp(ctx->ref.migration, ref->migration) == 0 &&
                strcmp(ctx->ref.step, ref->step) == 0;
    }
    (void)pthread_mutex_unlock(&w->mu);
    return found;
}

/* Hands a claimed attempt to a free executor. The consumer only calls this with a slot free. */
static bool consumer_start(worker *w, ferry_step_ctx *ctx)
{
    bool placed = false;
    (void)pthread_mutex_lock(&w->mu);
    for (size_t i = 0; i < w->concurrency; i++) {
        if (w->slots[i].ctx == NULL) {
            ctx->gen = ++w->next_gen;
            w->slots[i].ctx = ctx;
            w->running++;
            placed = true;
            break;
        }
    }
    (void)pthread_cond_broadcast(&w->changed);
    (void)pthread_mutex_unlock(&w->mu);
    return placed;
}

/*
 * One message: decode, check it is of this kind, claim the attempt, start it, commit. A
 * message that cannot be used goes to the dead-letter topic; a refused claim is done with;
 * a claim that could not reach Redis is tried again later (nothing committed).
 */
static handled consumer_handle(worker *w, const ferry_bus_msg *msg)
{
    Ferry__V1__StepCommand *cmd = NULL;
    ferry_err err;
    ferry_rc rc = ferry_wire_step_decode(msg->payload, msg->len, &cmd, &err);
    if (rc != FERRY_OK)
        return consumer_dead_letter(w, msg, err.msg) ? HANDLED_DONE : HANDLED_RETRY;
    if (cmd->kind != w->def->kind) {
        char reason[256];
        (void)snprintf(reason, sizeof(reason), "step command of kind %s on the topic of kind %s",
                       ferry_wire_kind_name(cmd->kind), w->kind);
        ferry_wire_step_free(cmd);
        return consumer_dead_letter(w, msg, reason) ? HANDLED_DONE : HANDLED_RETRY;
    }
    ferry_step_ref ref = {
        .migration = cmd->migration_id, .step = cmd->step_id, .attempt = cmd->attempt};
    ferry_log_ctx lc = {
        .migration = cmd->migration_id, .step = cmd->step_id, .attempt = cmd->attempt};
    if (running_here(w, &ref)) {
        ferry_log(FERRY_LOG_INFO, &lc, "attempt already running here: duplicate message");
        ferry_wire_step_free(cmd);
        consumer_commit(w, msg, &lc);
        return HANDLED_DONE;
    }

    /* The claim presents the digest of the command as received: one whose parameters differ
     * from what the coordinator recorded for the attempt is refused (INVALID, dead-lettered
     * below) before anything runs. */
    char digest[FERRY_STEPS_DIGEST_LEN + 1];
    if (ferry_steps_command_digest(cmd, digest, &err) != FERRY_OK) {
        ferry_wire_step_free(cmd);
        return consumer_dead_letter(w, msg, err.msg) ? HANDLED_DONE : HANDLED_RETRY;
    }
    ferry_step_seen seen;
    int64_t claim_sent = ferry_mono_ms(); /* the lease counts from here (see lease_ok_until) */
    rc = ferry_steps_claim(w->consumer_store, &ref, w->kind, w->id, w->lease_ms, digest, &seen,
                           &err);
    if (rc == FERRY_ERR_UNAVAILABLE || rc == FERRY_ERR_TIMEOUT) {
        /* The claim may have run: a second one tells (refused as running under our name). */
        ferry_log_kv(FERRY_LOG_WARN, &lc, "claim lost on the way; claiming again", "error", err.msg,
                     NULL);
        rc = ferry_steps_claim(w->consumer_store, &ref, w->kind, w->id, w->lease_ms, digest, &seen,
                               &err);
    }
    bool mine = rc == FERRY_ERR_CONFLICT && strcmp(seen.state, "running") == 0 &&
                seen.attempt == ref.attempt && strcmp(seen.owner, w->id) == 0;
    if (rc == FERRY_ERR_CONFLICT && !mine) {
        ferry_log_kv(FERRY_LOG_INFO, &lc, "claim refused", "state", seen.state, "owner", seen.owner,
                     "reason", err.msg, NULL);
        ferry_wire_step_free(cmd);
        consumer_commit(w, msg, &lc);
        return HANDLED_DONE;
    }
    if (rc == FERRY_ERR_INVALID) {
        ferry_wire_step_free(cmd);
        return consumer_dead_letter(w, msg, err.msg) ? HANDLED_DONE : HANDLED_RETRY;
    }
    if (rc != FERRY_OK && !mine) {
        ferry_log_kv(FERRY_LOG_WARN, &lc, "claim failed; will try again", "error", err.msg, NULL);
        ferry_wire_step_free(cmd);
        return HANDLED_RETRY;
    }

    char until[24];
    (void)snprintf(until, sizeof(until), "%" PRId64, seen.lease_until);
    ferry_log_kv(FERRY_LOG_INFO, &lc, mine ? "claimed (the earlier claim went through)" : "claimed",
                 "lease_until", until, NULL);
    ferry_step_ctx *ctx = ctx_new(w, cmd, claim_sent); /* takes cmd */
    if (ctx != NULL)
        ctx->claimed_ms = seen.lease_until - w->lease_ms;
    if (ctx == NULL || !consumer_start(w, ctx)) {
        /* Not run: the lease expires and the coordinator dispatches a new attempt. */
        ferry_log(FERRY_LOG_ERROR, &lc, "could not start the claimed step (out of memory)");
        ctx_free(ctx);
    }
    consumer_commit(w, msg, &lc);
    return HANDLED_DONE;
}

static size_t slots_free(worker *w)
{
    (void)pthread_mutex_lock(&w->mu);
    size_t n = w->concurrency - w->running;
    (void)pthread_mutex_unlock(&w->mu);
    return n;
}

static void *consumer_main(void *arg)
{
    worker *w = arg;
    ferry_bus_msg **held = NULL; /* grows: a message polled is never dropped */
    size_t n_held = 0, held_cap = 0;
    bool paused = false;
    int assigned = 0;
    int64_t retry_at = 0;
    char last_error[sizeof(((ferry_err *)0)->msg)] = "";
    int64_t last_error_at = 0;

    while (!atomic_load(&w->stop_taking)) {
        /* Messages held back go first, in order, while an executor is free. */
        while (n_held > 0 && slots_free(w) > 0 && ferry_mono_ms() >= retry_at &&
               !atomic_load(&w->stop_taking)) {
            if (consumer_handle(w, held[0]) == HANDLED_RETRY) {
                retry_at = ferry_mono_ms() + RETRY_MS;
                break;
            }
            ferry_bus_msg_free(held[0]);
            memmove(held, held + 1, (n_held - 1) * sizeof(held[0]));
            n_held--;
        }

        /*
         * Paused once as many messages are held back as there are executors: enough to refill
         * them all. Polling goes on, for the group. Pausing on the first held message would
         * cost a fetch round trip after every resume (librdkafka does not fetch again at once),
         * which is most of a step's latency when the worker is busy.
         */
        bool want_pause = n_held >= w->concurrency || n_held >= HELD_MAX;
        if (want_pause != paused) {
            ferry_err err;
            ferry_rc rc = want_pause ? ferry_bus_pause(w->consumer, &err)
                                     : ferry_bus_resume(w->consumer, &err);
            if (rc == FERRY_OK)
                paused = want_pause;
            else
                ferry_log_kv(FERRY_LOG_WARN, NULL, want_pause ? "pause failed" : "resume failed",
                             "error", err.msg, NULL);
        }

        ferry_bus_msg *msg = NULL;
        ferry_err err;
        ferry_rc rc = ferry_bus_poll(w->consumer, n_held > 0 ? HELD_POLL_MS : POLL_MS, &msg, &err);
        int now_assigned = ferry_bus_assigned(w->consumer);
        if (now_assigned != assigned) {
            char parts[16];
            (void)snprintf(parts, sizeof(parts), "%d", now_assigned);
            ferry_log_kv(FERRY_LOG_INFO, NULL, "partitions assigned", "partitions", parts, NULL);
            assigned = now_assigned;
        }
        if (rc != FERRY_OK && !ferry_rc_retryable(rc)) {
            ferry_log_kv(FERRY_LOG_ERROR, NULL, "kafka consumer failed; shutting down", "error",
                         err.msg, NULL);
            atomic_store(&w->fatal, true);
            break;
        }
        if (rc != FERRY_OK) {
            /* Informational (broker away, topic not there yet): librdkafka recovers. */
            int64_t now = ferry_mono_ms();
            if (strcmp(last_error, err.msg) != 0 || now - last_error_at > 60000) {
                ferry_log_kv(FERRY_LOG_INFO, NULL, "kafka consumer", "error", err.msg, NULL);
                (void)snprintf(last_error, sizeof(last_error), "%s", err.msg);
                last_error_at = now;
            }
            continue;
        }
        if (msg == NULL)
            continue;
        if (n_held == held_cap) {
            /* Pausing keeps this rare (only what was fetched before the pause took). A message
             * let go here would be lost: committing a later one commits past it. */
            size_t cap = held_cap ? held_cap * 2 : 2 * (size_t)HELD_MAX;
            ferry_bus_msg **v = realloc(held, cap * sizeof(*v));
            if (v == NULL) {
                ferry_log(FERRY_LOG_ERROR, NULL, "out of memory holding a message; shutting down");
                ferry_bus_msg_free(msg);
                atomic_store(&w->fatal, true);
                break;
            }
            held = v;
            held_cap = cap;
        }
        held[n_held++] = msg;
    }

    /* Held messages are not committed: the group hands them out again. */
    for (size_t i = 0; i < n_held; i++)
        ferry_bus_msg_free(held[i]);
    free(held);
    ferry_err err;
    if (ferry_bus_consumer_close(w->consumer, &err) != FERRY_OK)
        ferry_log_kv(FERRY_LOG_WARN, NULL, "closing the kafka consumer", "error", err.msg, NULL);
    else
        ferry_log(FERRY_LOG_INFO, NULL, "left the consumer group");
    return NULL;
}

/* ------------------------------------------------------------------ start and shutdown */

/* The definition the usage describes (ferry_opts_cli's usage callback takes only the table). */
static const ferry_worker_def *usage_def;

static void usage(FILE *out, const ferry_opt *table)
{
    (void)fprintf(out,
                  "usage: %s [--check-config] [--help] [--version]\n"
                  "\n"
                  "A Ferry worker of kind %s: consumes step commands from Kafka, runs them and\n"
                  "records their state in Redis. Settings come from FERRY_* environment\n"
                  "variables (see --check-config).\n"
                  "\n",
                  usage_def->name, ferry_wire_kind_name(usage_def->kind));
    ferry_opts_usage(table, out);
    (void)fprintf(out, "\nExit codes: 0 clean shutdown, 1 failure, 2 usage, 3 bad configuration,\n"
                       "4 a service unreachable at start.\n");
}

static ferry_rc store_open(worker *w, const char *role, ferry_store **out, ferry_err *err)
{
    ferry_rc rc =
        ferry_store_open(ferry_cfg_str(w->cfg, "redis.url"),
                         ferry_cfg_str(w->cfg, "redis.password"), STORE_TIMEOUT_MS, out, err);
    if (rc != FERRY_OK)
        return rc;
    char name[64];
    (void)snprintf(name, sizeof(name), "%s-%s", w->def->name, role);
    for (char *p = name; *p != '\0'; p++) {
        if (*p == ' ')
            *p = '_';
    }
    rc = ferry_store_set_name(*out, name, err);
    return rc;
}

/* Opens what the worker needs: topics, Kafka clients, Redis connections. Returns the exit code
 * for a failure (EXIT_SERVICE when a service cannot be reached), 0 on success. */
static int worker_open(worker *w)
{
    ferry_err err;
    ferry_rc rc;
    const char *brokers = ferry_cfg_str(w->cfg, "kafka.brokers");
    const char *topics[] = {w->topic, w->dlq};
    ferry_bus_config base = {.brokers = brokers};
    ferry_bus_config_transport(&base, w->cfg);
    rc = ferry_bus_create_topics(&base, topics, 2, (int)ferry_cfg_int(w->cfg, "kafka.partitions"),
                                 -1, TOPICS_TIMEOUT, &err);
    if (rc != FERRY_OK) {
        ferry_log_kv(FERRY_LOG_ERROR, NULL, "cannot create the topics", "error", err.msg, NULL);
        return EXIT_SERVICE;
    }

    const char *roles[] = {"consumer", "lease", "heartbeat"};
    ferry_store **stores[] = {&w->consumer_store, &w->lease_store, &w->beat_store};
    for (size_t i = 0; i < 3; i++) {
        rc = store_open(w, roles[i], stores[i], &err);
        if (rc != FERRY_OK)
            goto redis_failed;
    }
    for (size_t i = 0; i < w->concurrency; i++) {
        char role[32];
        (void)snprintf(role, sizeof(role), "exec%zu", i);
        rc = store_open(w, role, &w->slots[i].store, &err);
        if (rc != FERRY_OK)
            goto redis_failed;
    }

    ferry_bus_config pcfg = base;
    pcfg.client_id = w->def->name;
    pcfg.timeout_ms = BUS_TIMEOUT_MS;
    rc = ferry_bus_producer_new(&pcfg, &w->producer, &err);
    if (rc == FERRY_OK) {
        /* A worker killed with -9 holds its partitions until the session times out: keep that
         * short, so a retried step on them waits seconds, not librdkafka's 45 s. */
        ferry_bus_config ccfg = pcfg;
        ccfg.group_id = w->group;
        ccfg.session_timeout_ms = (int)ferry_cfg_int(w->cfg, "kafka.session_timeout");
        rc = ferry_bus_consumer_new(&ccfg, &w->consumer, &err);
    }
    if (rc == FERRY_OK) {
        const char *subscribe[] = {w->topic};
        rc = ferry_bus_subscribe(w->consumer, subscribe, 1, &err);
    }
    if (rc != FERRY_OK) {
        ferry_log_kv(FERRY_LOG_ERROR, NULL, "cannot set up kafka", "error", err.msg, NULL);
        return rc == FERRY_ERR_CONFIG || rc == FERRY_ERR_INVALID ? EXIT_CONFIG : EXIT_SERVICE;
    }

    rc = heartbeat_write(w, &err);
    if (rc != FERRY_OK)
        goto redis_failed;
    return 0;
redis_failed:
    ferry_log_kv(FERRY_LOG_ERROR, NULL, "cannot reach redis", "error", err.msg, NULL);
    return rc == FERRY_ERR_INVALID || rc == FERRY_ERR_AUTH ? EXIT_CONFIG : EXIT_SERVICE;
}

static void worker_close(worker *w)
{
    if (w->producer != NULL) {
        ferry_err err;
        if (ferry_bus_flush(w->producer, BUS_TIMEOUT_MS, &err) != FERRY_OK)
            ferry_log_kv(FERRY_LOG_WARN, NULL, "flushing the producer", "error", err.msg, NULL);
    }
    ferry_bus_producer_free(w->producer);
    ferry_bus_consumer_free(w->consumer);
    ferry_store_close(w->consumer_store);
    ferry_store_close(w->lease_store);
    ferry_store_close(w->beat_store);
    for (size_t i = 0; w->slots != NULL && i < w->concurrency; i++)
        ferry_store_close(w->slots[i].store);
    free(w->slots);
    if (w->locks) {
        (void)pthread_cond_destroy(&w->changed);
        (void)pthread_mutex_destroy(&w->mu);
    }
}

/* Fills w from the configuration: ids, topics, durations. Returns 0 or EXIT_CONFIG. */
static int worker_init(worker *w, const ferry_worker_def *def, ferry_cfg *cfg)
{
    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr) != 0)
        return EXIT_OTHER;
    bool locks = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) == 0 &&
                 pthread_cond_init(&w->changed, &attr) == 0;
    if (locks && pthread_mutex_init(&w->mu, NULL) != 0) {
        (void)pthread_cond_destroy(&w->changed);
        locks = false;
    }
    (void)pthread_condattr_destroy(&attr);
    if (!locks) {
        (void)fprintf(stderr, "%s: cannot create a lock\n", def->name);
        return EXIT_OTHER;
    }
    w->locks = true;
    w->def = def;
    w->cfg = cfg;
    w->kind = ferry_wire_kind_name(def->kind);
    w->concurrency = (size_t)ferry_cfg_int(cfg, "worker.concurrency");
    w->lease_ms = ferry_cfg_int(cfg, "worker.lease");
    w->heartbeat_ms = ferry_cfg_int(cfg, "worker.heartbeat");
    w->drain_ms = ferry_cfg_int(cfg, "worker.drain");
    atomic_init(&w->stop_taking, false);
    atomic_init(&w->fatal, false);

    if (gethostname(w->host, sizeof(w->host)) != 0)
        (void)snprintf(w->host, sizeof(w->host), "unknown");
    w->host[sizeof(w->host) - 1] = '\0';
    const char *id = ferry_cfg_str(cfg, "worker.id");
    int n = id != NULL && id[0] != '\0'
                ? snprintf(w->id, sizeof(w->id), "%s", id)
                : snprintf(w->id, sizeof(w->id), "%s@%s:%ld", w->kind, w->host, (long)getpid());
    bool id_ok = n > 0 && (size_t)n < sizeof(w->id);
    for (const char *p = w->id; id_ok && *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        id_ok = c > 0x20 && c < 0x7f && c != '{' && c != '}';
    }
    if (!id_ok) {
        (void)fprintf(stderr,
                      "FERRY_WORKER_ID: 1 to %d printable characters without spaces or braces\n",
                      FERRY_STORE_NAME_MAX);
        return EXIT_CONFIG;
    }

    const char *prefix = ferry_cfg_str(cfg, "kafka.topic_prefix");
    n = snprintf(w->group, sizeof(w->group), "%s%s", prefix != NULL ? prefix : "", w->kind);
    if (ferry_wire_step_topic(prefix, def->kind, w->topic, sizeof(w->topic)) != 0 ||
        ferry_wire_dead_letter_topic(prefix, w->dlq, sizeof(w->dlq)) != 0 || n < 0 ||
        (size_t)n >= sizeof(w->group) || !ferry_bus_topic_valid(w->topic) ||
        !ferry_bus_topic_valid(w->dlq)) {
        (void)fprintf(stderr, "FERRY_KAFKA_TOPIC_PREFIX: gives topic names Kafka refuses\n");
        return EXIT_CONFIG;
    }

    w->slots = calloc(w->concurrency, sizeof(*w->slots));
    if (w->slots == NULL) {
        (void)fprintf(stderr, "%s: out of memory\n", def->name);
        return EXIT_OTHER;
    }
    for (size_t i = 0; i < w->concurrency; i++) {
        w->slots[i].w = w;
    }
    return 0;
}

/* Stops taking work, lets running steps finish for up to the drain time, then stops and
 * releases the rest, and removes the worker from Redis. The threads are joined here. */
static void worker_shutdown(worker *w, pthread_t consumer, pthread_t lease, pthread_t beat)
{
    atomic_store(&w->stop_taking, true);
    (void)pthread_join(consumer, NULL);

    (void)pthread_mutex_lock(&w->mu);
    int64_t drain_until = ferry_mono_ms() + w->drain_ms;
    if (w->running > 0)
        ferry_log(FERRY_LOG_INFO, NULL, "draining %zu running step(s) for up to %" PRId64 " ms",
                  w->running, w->drain_ms);
    while (w->running > 0 && ferry_mono_ms() < drain_until)
        wait_ms(w, drain_until - ferry_mono_ms());
    if (w->running > 0) {
        ferry_log(FERRY_LOG_INFO, NULL, "stopping %zu step(s) to release them", w->running);
        for (size_t i = 0; i < w->concurrency; i++) {
            if (w->slots[i].ctx != NULL)
                ctx_stop(w->slots[i].ctx, STOP_SHUTDOWN);
        }
    }
    int64_t said = ferry_mono_ms();
    while (w->running > 0) {
        wait_ms(w, TICK_MS);
        if (ferry_mono_ms() - said >= 5000) {
            ferry_log(FERRY_LOG_WARN, NULL,
                      "still waiting for %zu step(s) to stop (a second signal exits at once)",
                      w->running);
            said = ferry_mono_ms();
        }
    }
    w->executors_exit = true;
    (void)pthread_cond_broadcast(&w->changed);
    (void)pthread_mutex_unlock(&w->mu);
    for (size_t i = 0; i < w->concurrency; i++) {
        if (w->slots[i].started)
            (void)pthread_join(w->slots[i].thread, NULL);
    }

    (void)pthread_mutex_lock(&w->mu);
    w->threads_exit = true;
    (void)pthread_cond_broadcast(&w->changed);
    (void)pthread_mutex_unlock(&w->mu);
    (void)pthread_join(lease, NULL);
    (void)pthread_join(beat, NULL);
    heartbeat_remove(w);
}

int ferry_worker_main(int argc, char **argv, const ferry_worker_def *def)
{
    int code = EXIT_OTHER;
    bool check_config = false;
    ferry_cfg *cfg = NULL;
    char *problems = NULL;
    worker w;
    memset(&w, 0, sizeof(w));

    if (def == NULL || def->execute == NULL || def->name == NULL ||
        ferry_wire_kind_name(def->kind) == NULL) {
        (void)fprintf(stderr, "ferry worker: incomplete definition\n");
        return EXIT_OTHER;
    }
    bool help = false, version = false;
    const ferry_opt table[] = {{.name = "check-config",
                                .kind = FERRY_OPT_FLAG,
                                .dest = &check_config,
                                .help = "validate the settings, print them (secrets hidden), exit"},
                               {.name = "help",
                                .letter = 'h',
                                .kind = FERRY_OPT_FLAG,
                                .flags = FERRY_OPT_STOP,
                                .dest = &help,
                                .help = "this text"},
                               {.name = "version",
                                .kind = FERRY_OPT_FLAG,
                                .flags = FERRY_OPT_STOP,
                                .dest = &version,
                                .help = "print the version"},
                               {.name = NULL}};
    usage_def = def;
    int cli = ferry_opts_cli(table, argc, argv, def->name, NULL, usage, &help);
    if (cli >= 0)
        return cli == 2 ? EXIT_USAGE : cli == 0 ? EXIT_CLEAN : EXIT_OTHER;
    if (version) {
        (void)printf("%s %s\n", def->name, FERRY_VERSION);
        return EXIT_CLEAN;
    }

    ferry_rc rc = ferry_cfg_load(def->component, NULL, NULL, &cfg, &problems);
    if (rc != FERRY_OK) {
        (void)fprintf(stderr, "%s: bad configuration:\n%s", def->name,
                      problems != NULL ? problems : "out of memory\n");
        free(problems);
        return EXIT_CONFIG;
    }
    if (check_config) {
        ferry_cfg_dump(cfg, stdout);
        ferry_cfg_free(cfg);
        return EXIT_CLEAN;
    }
    ferry_log_level level = FERRY_LOG_INFO;
    ferry_log_format format = FERRY_LOG_KV;
    (void)ferry_log_level_parse(ferry_cfg_str(cfg, "log.level"), &level);
    (void)ferry_log_format_parse(ferry_cfg_str(cfg, "log.format"), &format);
    ferry_log_init(def->name, format, level, STDERR_FILENO);

    /* Signals: only counted. Blocked in every thread this process starts from here on
     * (librdkafka's included), and let through to the main thread once all are running. */
    sigset_t term;
    (void)sigemptyset(&term);
    (void)sigaddset(&term, SIGTERM);
    (void)sigaddset(&term, SIGINT);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sa.sa_mask = term;
    (void)sigaction(SIGTERM, &sa, NULL);
    (void)sigaction(SIGINT, &sa, NULL);
    (void)signal(SIGPIPE, SIG_IGN);
    (void)pthread_sigmask(SIG_BLOCK, &term, NULL);

    code = worker_init(&w, def, cfg);
    if (code != 0)
        goto out;
    code = worker_open(&w);
    if (code != 0)
        goto out;

    pthread_t consumer, lease, beat;
    bool ok = true;
    for (size_t i = 0; i < w.concurrency && ok; i++) {
        ok = pthread_create(&w.slots[i].thread, NULL, executor_main, &w.slots[i]) == 0;
        w.slots[i].started = ok;
    }
    bool lease_ok = ok && pthread_create(&lease, NULL, lease_main, &w) == 0;
    bool beat_ok = lease_ok && pthread_create(&beat, NULL, heartbeat_main, &w) == 0;
    bool consumer_ok = beat_ok && pthread_create(&consumer, NULL, consumer_main, &w) == 0;
    if (!consumer_ok) {
        /* Nothing was claimed: stop what started and leave. */
        ferry_log(FERRY_LOG_ERROR, NULL, "cannot start threads");
        (void)pthread_mutex_lock(&w.mu);
        w.executors_exit = w.threads_exit = true;
        (void)pthread_cond_broadcast(&w.changed);
        (void)pthread_mutex_unlock(&w.mu);
        for (size_t i = 0; i < w.concurrency; i++) {
            if (w.slots[i].started)
                (void)pthread_join(w.slots[i].thread, NULL);
        }
        if (lease_ok)
            (void)pthread_join(lease, NULL);
        if (beat_ok)
            (void)pthread_join(beat, NULL);
        heartbeat_remove(&w);
        code = EXIT_OTHER;
        goto out;
    }
    ferry_log_kv(FERRY_LOG_INFO, NULL, "worker started", "worker", w.id, "topic", w.topic, "group",
                 w.group, NULL);
    (void)pthread_sigmask(SIG_UNBLOCK, &term, NULL);

    (void)pthread_mutex_lock(&w.mu);
    while (signals_seen == 0 && !atomic_load(&w.fatal))
        wait_ms(&w, TICK_MS);
    (void)pthread_mutex_unlock(&w.mu);
    ferry_log(FERRY_LOG_INFO, NULL, "%s",
              signals_seen ? "signal received: shutting down" : "shutting down after a failure");
    worker_shutdown(&w, consumer, lease, beat);
    code = atomic_load(&w.fatal) ? EXIT_OTHER : EXIT_CLEAN;
    ferry_log(FERRY_LOG_INFO, NULL, "worker stopped");
out:
    worker_close(&w);
    ferry_cfg_free(cfg);
    return code;
}
