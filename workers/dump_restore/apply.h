/*
 * apply.h - applies a logical replication stream's changes to the target database, in source
 * transaction order, several source transactions per target transaction, and records in that
 * same target transaction how far it got (_ferry.replication), so that what the target holds
 * and the position it says it holds never disagree, whatever is killed when.
 * docs/logical-replication.md describes the rules.
 */
#ifndef DR_APPLY_H
#define DR_APPLY_H

#include <stdbool.h>
#include <stdint.h>

#include "ferry/error.h"
#include "pg.h"
#include "pgoutput.h"

typedef struct dr_apply dr_apply;

/* Counters of what was applied, for progress and reports. */
typedef struct dr_apply_stats {
    uint64_t transactions, inserts, updates, deletes, truncates, skipped;
} dr_apply_stats;

/*
 * Starts applying on tgt (borrowed; dr_apply owns its session from here: it sets
 * session_replication_role to replica, so the target's triggers and foreign keys do not fire
 * twice, and puts it in pipeline mode: statements go without waiting for each answer, which
 * are checked as they arrive and all of them at each flush), with meta (borrowed, another
 * connection to the target) for catalog checks, for slot, whose recorded position on the target is
 * start_lsn: a transaction that committed before it is already on the target and is skipped. Caller
 * frees with dr_apply_free(). FERRY_ERR_PERMISSION when the target's user may not set
 * session_replication_role, saying what to grant.
 */
ferry_rc dr_apply_new(dr_conn *tgt, dr_conn *meta, const char *slot, uint64_t start_lsn,
                      dr_apply **out, ferry_err *err);
void dr_apply_free(dr_apply *apply);

/*
 * Applies one decoded message. A Relation is checked against the target's table (same columns
 * in the same order, same built-in types) and, when seen again, against what it said before:
 * a difference is DDL on the source (FERRY_ERR_CONFLICT, naming the table). An update or
 * delete that finds no row, or an insert that conflicts, means the target is not the source's
 * copy: FERRY_ERR_CONFLICT, when its answer arrives (at the latest at the next flush). Takes
 * msg->relation when it is a Relation.
 */
ferry_rc dr_apply_message(dr_apply *apply, dr_po_msg *msg, ferry_err *err);

/* Commits the target transaction holding the changes of the source transactions applied since
 * the last flush, with their position. Does nothing when there are none. */
ferry_rc dr_apply_flush(dr_apply *apply, ferry_err *err);

/* The position the target has committed: the end of the last source transaction it holds. */
uint64_t dr_apply_committed_lsn(const dr_apply *apply);

/* The commit time (microseconds since 2000-01-01) of that transaction; 0 before the first. */
int64_t dr_apply_committed_time_us(const dr_apply *apply);

/* True inside a source transaction (between its Begin and its Commit). */
bool dr_apply_in_transaction(const dr_apply *apply);

/* Source transactions applied but not yet committed on the target, and their changes. */
uint64_t dr_apply_pending_transactions(const dr_apply *apply);
uint64_t dr_apply_pending_changes(const dr_apply *apply);

const dr_apply_stats *dr_apply_stats_get(const dr_apply *apply);

#endif
