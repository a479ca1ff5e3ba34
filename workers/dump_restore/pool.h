/*
 * pool.h - pairs of connections (one to the source, one to the target) and threads that share
 * a list of items among them: the parallel part of a copy, an analyze or a verify. The calling
 * thread watches: when the step must stop, or one item failed, it cancels every running query
 * so that the others end at once too.
 */
#ifndef DR_POOL_H
#define DR_POOL_H

#include <stdbool.h>
#include <stddef.h>

#include "dr.h"

typedef struct dr_pool dr_pool;

/*
 * Opens n pairs. Source connections (when with_source) import snapshot (when not NULL) in a
 * read-only repeatable-read transaction; every connection gets sql/session.sql, target ones
 * also synchronous_commit off. Caller closes with dr_pool_close().
 */
ferry_rc dr_pool_open(const dr_options *opts, int n, bool with_source, const char *snapshot,
                      dr_pool **out, ferry_err *err);
void dr_pool_close(dr_pool *pool);

/* One item's work on one pair (src is NULL for a pool without source connections). */
typedef ferry_rc (*dr_pool_fn)(dr_conn *src, dr_conn *tgt, size_t item, void *ud, ferry_err *err);

/*
 * Runs fn for items 0..n_items-1, in that order of starting, on all pairs at once. tick (may be
 * NULL) is called every 100 ms on the calling thread (progress). Returns the first failure;
 * after one, the pool's connections are not to be used again.
 */
ferry_rc dr_pool_run(dr_pool *pool, size_t n_items, dr_pool_fn fn, void *ud, const dr_stop *stop,
                     void (*tick)(void *ud), ferry_err *err);

#endif
