/*
 * verify.h - comparing the rows of source and target table by table: in each table the two
 * have, the same row count and content checksum (sql/checksum.sql), computed on a pool of
 * connection pairs. The rest (tables on one side only, the schema, sequences, large objects)
 * is digest.h's.
 */
#ifndef DR_VERIFY_H
#define DR_VERIFY_H

#include "dr.h"
#include "pool.h"
#include "tables.h"

/* source: the source's tables (listed under the snapshot the pool's source side uses);
 * tgt: a target connection to list the target's. Adds each table whose rows differ to report
 * (dr_report_difference) and the rows per table to report->table_rows. Differences are not
 * an error here. */
ferry_rc dr_verify_tables(dr_pool *pool, const dr_tables *source, dr_conn *tgt,
                          const dr_options *opts, dr_report *report, ferry_err *err);

#endif
