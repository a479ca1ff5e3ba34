/*
 * database.h - what a dump without --create leaves out of the database itself (its comment,
 * its settings, the privileges it grants), given to the target's database: the source's read by
 * sql/database_read.sql, the target changed only where it differs (sql/database_apply.sql).
 */
#ifndef DR_DATABASE_H
#define DR_DATABASE_H

#include "dr.h"

/* Gives tgt's database src's comment, settings (but default_transaction_read_only) and grants
 * to roles other than its owner; PUBLIC's privileges the source does not grant are revoked.
 * The target's other settings and grants stay. */
ferry_rc dr_database_copy(dr_conn *src, dr_conn *tgt, ferry_err *err);

#endif
