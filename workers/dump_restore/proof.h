/*
 * proof.h - the logical method's proof at the cutover, at a cost that follows the rows that
 * changed: the copy's verify proved the target equal to the source at the slot's start; since
 * then every change to a published table reached the target through the stream, which recorded
 * the key of each row it touched (_ferry.touched) and each table it truncated
 * (_ferry.touched_whole). So only those rows, and those tables whole, are compared here.
 * docs/logical-replication.md, "The proof".
 */
#ifndef DR_PROOF_H
#define DR_PROOF_H

#include "dr.h"

/*
 * Compares, for every row the stream touched, the rows with its key on src (under src's
 * snapshot) and tgt: how many and their content (md5 of the row's text); every table in
 * _ferry.touched_whole, and every unlogged table, whole (count and checksum). Differences go to
 * report (dr_report_difference); *keys gets the keys compared, *whole the tables compared
 * whole. Differences are not an error here.
 */
ferry_rc dr_proof_touched(dr_conn *src, dr_conn *tgt, dr_report *report, uint64_t *keys,
                          uint64_t *whole, ferry_err *err);

#endif
