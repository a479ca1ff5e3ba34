/*
 * target.h - the target's side of a copy's start and end: the checks made before anything
 * changes on it (not in use, not holding data Ferry did not write, every role the source names
 * there), Ferry's mark of an unfinished copy, and clearing the target for the source's schema.
 * docs/dump-restore.md describes each.
 */
#ifndef DR_TARGET_H
#define DR_TARGET_H

#include <stdbool.h>

#include "dr.h"

/* Refuses a target database other sessions use (a running app: FERRY_ERR_BUSY, naming them);
 * ends the sessions an earlier, killed attempt of a copy left behind. */
ferry_rc dr_target_check_free(dr_conn *tgt, ferry_err *err);

/* The overwrite guard. A target without Ferry's mark that holds a row in a table of a user
 * schema, or a large object, holds data Ferry did not write: without overwrite that is
 * FERRY_ERR_CONFLICT, naming up to five of those tables. Changes nothing. */
ferry_rc dr_target_check_overwrite(dr_conn *tgt, bool overwrite, ferry_err *err);

/* The roles check. Every role the source's objects name (sql/source_roles.sql, read on src)
 * must exist on the target, and the target's user must be able to act as it (a superuser, or
 * a member); otherwise FERRY_ERR_CONFIG naming them and what to do. Changes nothing. */
ferry_rc dr_target_check_roles(dr_conn *src, dr_conn *tgt, ferry_err *err);

/* When a mark was written (wall clock ms, as text): with opts->started_by, it names the copy. */
#define DR_MARK_STARTED_MAX 24

/* Marks the target incomplete (schema _ferry, table _ferry.copy_status), committed before
 * anything else changes on it; started receives the time written into the mark. */
ferry_rc dr_target_mark(dr_conn *tgt, const dr_options *opts, char started[DR_MARK_STARTED_MAX],
                        ferry_err *err);

/* Drops the mark: the last transaction of a successful copy. Drops it only when it is still
 * the one this copy wrote (opts->started_by and started); FERRY_ERR_CONFLICT when another copy
 * (a newer attempt) has marked the target since, or the mark vanished while the copy ran. */
ferry_rc dr_target_unmark(dr_conn *tgt, const dr_options *opts, const char *started,
                          ferry_err *err);

/* The logical method's end of a copy, instead of dropping the mark (same ownership rule as
 * dr_target_unmark): records where the stream starts (_ferry.replication: opts->replication_slot
 * at opts->replication_lsn) and drops the copy of Ferry's publication the schema brought. The
 * target stays marked incomplete. */
ferry_rc dr_target_replicating(dr_conn *tgt, const dr_options *opts, const char *started,
                               ferry_err *err);

/* The logical method's last transaction: drops the mark if the replication recorded there is
 * slot's (FERRY_ERR_CONFLICT otherwise: another replication or copy took the target over). */
ferry_rc dr_target_replication_done(dr_conn *tgt, const char *slot, ferry_err *err);

/* Drops every schema of the target but the system's and Ferry's, recreates public as initdb
 * makes it, and unlinks every large object, in one transaction. */
ferry_rc dr_target_clear(dr_conn *tgt, ferry_err *err);

#endif
