/*
 * verify.h - comparing source and target table by table: the same tables, and in each the same
 * row count and content checksum (sql/checksum.sql), computed on a pool of connection pairs.
 */
#ifndef DR_VERIFY_H
#define DR_VERIFY_H

#include "dr.h"
#include "pool.h"
#include "tables.h"

/* source: the source's tables (listed under the snapshot the pool's source side uses);
 * tgt: a target connection to list the target's. Fills report->verified, differences,
 * n_differences, ms_verify. Differences are not an error here. */
ferry_rc dr_verify_tables(dr_pool *pool, const dr_tables *source, dr_conn *tgt,
                          const dr_options *opts, dr_report *report, ferry_err *err);

#endif
