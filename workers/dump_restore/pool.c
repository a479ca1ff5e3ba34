/*
 * pool.c - connection pairs and the threads that share items among them (see pool.h).
 */
#include "pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dr_sql_embedded.h"

#define WATCH_MS 100

typedef struct pair {
    dr_conn *src, *tgt;
} pair;

struct dr_pool {
    int n;
    pair *pairs;
    bool broken;
};

typedef struct run_state {
    dr_pool *pool;
    size_t n_items;
    dr_pool_fn fn;
    void *ud;
    _Atomic size_t next;
    _Atomic bool abort;
    _Atomic int running;
    pthread_mutex_t mu;
    ferry_err first; /* under mu */
    bool failed;     /* under mu */
} run_state;

typedef struct thread_arg {
    run_state *rs;
    int slot;
} thread_arg;

static bool snapshot_id_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'F') || s[i] == '-'))
            return false;
    return true;
}

ferry_rc dr_pool_open(const dr_options *opts, int n, bool with_source, const char *snapshot,
                      dr_pool **out, ferry_err *err)
{
    ferry_rc rc = FERRY_OK;
    *out = NULL;
    if (n < 1)
        n = 1;
    if (snapshot != NULL && !snapshot_id_ok(snapshot))
        return ferry_err_set(err, FERRY_ERR_INTERNAL, "unexpected snapshot id");
    dr_pool *pool = calloc(1, sizeof(*pool));
    if (pool == NULL)
        return ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
    pool->pairs = calloc((size_t)n, sizeof(pair));
    if (pool->pairs == NULL) {
        free(pool);
        return ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
    }
    pool->n = n;
    for (int i = 0; i < n && rc == FERRY_OK; i++) {
        pair *p = &pool->pairs[i];
        if (with_source) {
            rc = dr_conn_open(&opts->source, DR_APP_NAME, &p->src, err);
            if (rc == FERRY_OK)
                rc = dr_conn_exec(p->src, dr_sql_session, err);
            if (rc == FERRY_OK && snapshot != NULL) {
                char sql[160];
                (void)snprintf(sql, sizeof(sql),
                               "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; "
                               "SET TRANSACTION SNAPSHOT '%s'",
                               snapshot);
                rc = dr_conn_exec(p->src, sql, err);
            }
        }
        if (rc == FERRY_OK)
            rc = dr_conn_open(&opts->target, DR_APP_NAME, &p->tgt, err);
        if (rc == FERRY_OK)
            rc = dr_conn_exec(p->tgt, dr_sql_session, err);
        if (rc == FERRY_OK)
            rc = dr_conn_exec(p->tgt, "SET synchronous_commit = off", err);
    }
    if (rc != FERRY_OK) {
        dr_pool_close(pool);
        return rc;
    }
    *out = pool;
    return FERRY_OK;
}

void dr_pool_close(dr_pool *pool)
{
    if (pool == NULL)
        return;
    for (int i = 0; i < pool->n; i++) {
        dr_conn_close(pool->pairs[i].src);
        dr_conn_close(pool->pairs[i].tgt);
    }
    free(pool->pairs);
    free(pool);
}

static void *run_thread(void *arg)
{
    thread_arg *ta = arg;
    run_state *rs = ta->rs;
    pair *p = &rs->pool->pairs[ta->slot];
    while (!atomic_load(&rs->abort)) {
        size_t item = atomic_fetch_add(&rs->next, 1);
        if (item >= rs->n_items)
            break;
        ferry_err err = {0};
        ferry_rc rc = rs->fn(p->src, p->tgt, item, rs->ud, &err);
        if (rc != FERRY_OK) {
            (void)pthread_mutex_lock(&rs->mu);
            /* The first failure is the cause; the ones it sets off (cancels) are not. */
            if (!rs->failed) {
                rs->first = err;
                rs->failed = true;
            }
            (void)pthread_mutex_unlock(&rs->mu);
            atomic_store(&rs->abort, true);
            break;
        }
    }
    atomic_fetch_sub(&rs->running, 1);
    return NULL;
}

static void cancel_all(dr_pool *pool)
{
    for (int i = 0; i < pool->n; i++) {
        dr_conn_cancel(pool->pairs[i].src);
        dr_conn_cancel(pool->pairs[i].tgt);
    }
}

ferry_rc dr_pool_run(dr_pool *pool, size_t n_items, dr_pool_fn fn, void *ud, const dr_stop *stop,
                     void (*tick)(void *ud), ferry_err *err)
{
    if (pool->broken)
        return ferry_err_set(err, FERRY_ERR_INTERNAL, "connection pool used after a failure");
    if (n_items == 0)
        return FERRY_OK;
    run_state rs = {.pool = pool, .n_items = n_items, .fn = fn, .ud = ud};
    atomic_init(&rs.next, 0);
    atomic_init(&rs.abort, false);
    int n_threads = pool->n < (int)n_items ? pool->n : (int)n_items;
    atomic_init(&rs.running, n_threads);
    (void)pthread_mutex_init(&rs.mu, NULL);
    pthread_t *threads = calloc((size_t)n_threads, sizeof(pthread_t));
    thread_arg *args = calloc((size_t)n_threads, sizeof(thread_arg));
    if (threads == NULL || args == NULL) {
        free(threads);
        free(args);
        (void)pthread_mutex_destroy(&rs.mu);
        return ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
    }
    int started = 0;
    for (int i = 0; i < n_threads; i++) {
        args[i] = (thread_arg){.rs = &rs, .slot = i};
        if (pthread_create(&threads[i], NULL, run_thread, &args[i]) != 0)
            break;
        started++;
    }
    if (started < n_threads) {
        /* Fewer threads than slots: those that started share the items all the same. */
        atomic_fetch_sub(&rs.running, n_threads - started);
    }
    if (started == 0) {
        free(threads);
        free(args);
        (void)pthread_mutex_destroy(&rs.mu);
        return ferry_err_set(err, FERRY_ERR_INTERNAL, "cannot start threads");
    }

    bool stopped = false, cancelled = false;
    while (atomic_load(&rs.running) > 0) {
        struct timespec ts = {.tv_sec = 0, .tv_nsec = WATCH_MS * 1000000L};
        (void)nanosleep(&ts, NULL);
        if (!stopped && stop != NULL && stop->stopping(stop->ud)) {
            stopped = true;
            atomic_store(&rs.abort, true);
        }
        if (atomic_load(&rs.abort) && !cancelled) {
            cancel_all(pool);
            cancelled = true;
        }
        if (tick != NULL)
            tick(ud);
    }
    for (int i = 0; i < started; i++)
        (void)pthread_join(threads[i], NULL);
    free(threads);
    free(args);

    ferry_rc rc = FERRY_OK;
    if (stopped) {
        rc = ferry_err_set(err, FERRY_ERR_CANCELLED, "stopped");
    } else if (rs.failed) {
        *err = rs.first;
        rc = rs.first.code;
    }
    if (rc != FERRY_OK)
        pool->broken = true;
    (void)pthread_mutex_destroy(&rs.mu);
    return rc;
}
