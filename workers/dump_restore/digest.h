/*
 * digest.h - verify's comparison of everything but the rows: digests, rows of (object, what,
 * value), read on both sides and compared by object name (oids differ between servers). The
 * catalog (sql/verify_schema.sql), each sequence's state (sql/sequences.sql) and each large
 * object's content, owner, privileges and comment (sql/verify_large_objects.sql).
 */
#ifndef DR_DIGEST_H
#define DR_DIGEST_H

#include <stdbool.h>

#include "dr.h"

/*
 * Compares src and tgt (both idle or in a transaction; src's snapshot decides what the source
 * holds). Sets search_path to pg_catalog on both, so names come out qualified. src_sequences:
 * the sequences' state the target must have (a copy passes what it read and set: the source's
 * own may have moved on since); NULL reads the source's now. same_major: the servers deparse
 * alike, so deparsed definitions are compared too. Each difference goes to report
 * (dr_report_difference); differences are not an error here.
 */
ferry_rc dr_digest_compare(dr_conn *src, dr_conn *tgt, const dr_rows *src_sequences,
                           bool same_major, dr_report *report, ferry_err *err);

#endif
