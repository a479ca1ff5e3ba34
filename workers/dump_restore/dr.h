/*
 * dr.h - ferry-dump-restore's two operations, independent of how they are started (a step from
 * Kafka, or the command line): copy a PostgreSQL database onto another, and verify that two
 * databases are the same (rows, schema, sequences, large objects). docs/dump-restore.md
 * describes what they do and why.
 */
#ifndef DR_H
#define DR_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "ferry/error.h"
#include "pg.h"
#include "schema.h"

#define DR_APP_NAME "ferry-dump-restore"

/* What a running operation is doing, for progress reports. Strings are static. */
typedef struct dr_progress {
    const char *phase; /* "prepare", "schema", "data", "sequences", "large objects", ... */
    uint64_t tables_done, tables_total;
    uint64_t rows;
    uint64_t bytes_done, bytes_total; /* COPY bytes, and the tables' size on disk (estimate) */
} dr_progress;

typedef struct dr_options {
    dr_endpoint source, target;
    int jobs;               /* parallel COPY streams, index builds, checksums (>= 1) */
    int64_t split_bytes;    /* a table larger than this is copied as ranges of about this size */
    const char *pg_bin;     /* NULL: dr_tools_find's default */
    bool verify;            /* copy: verify against the copy's own snapshot at the end */
    bool overwrite;         /* copy: replace a target holding data Ferry did not write */
    const char *started_by; /* recorded on the target: "migration/step#attempt" or "ferryctl" */
    /* copy for the logical method (dr_logical_start): read the source under this exported
     * snapshot (a replication slot's) instead of taking one, and end by recording the slot's
     * starting point on the target, which stays marked incomplete until the cutover. */
    const char *import_snapshot;
    const char *replication_slot;
    uint64_t replication_lsn;
    bool full_verify; /* logical finish: verify every row, not only those changed since */
    dr_stop stop;
    void (*progress)(void *ud, const dr_progress *progress); /* NULL: none; any thread */
    void *progress_ud;
} dr_options;

/* What an operation did. Fill with dr_report_init(), release with dr_report_cleanup(). */
typedef struct dr_report {
    uint64_t tables, rows, bytes, sequences, large_objects, matviews;
    bool binary; /* COPY in binary format (for the tables whose types allow it) */
    int64_t ms_prepare, ms_schema, ms_data, ms_post_data, ms_analyze, ms_verify, ms_total;
    json_t *table_rows;     /* {"public.orders": 1200, ...} (copy), or rows seen (verify) */
    json_t *no_primary_key; /* ["public.log", ...]: tables without a primary key */
    int verified;           /* -1 not verified, 0 differences found, 1 equal */
    json_t *differences;    /* the first 50: [{"object": "sequence public.s", "what":
                             * "last_value 1200 vs 1", "source", "target"}, ...]; a table's
                             * rows add "table", "source_rows", "target_rows", "same_content" */
    uint64_t n_differences;
    /* The logical method's finish: the proof compared only what changed since the verified
     * copy (keys_compared rows' keys, tables_whole tables whole). */
    bool incremental;
    uint64_t keys_compared, tables_whole;
} dr_report;

ferry_rc dr_report_init(dr_report *report);
void dr_report_cleanup(dr_report *report);

/* Counts a difference and lists it while fewer than 50 are; takes ownership of difference
 * (a JSON object with at least "object" and "what"). FERRY_ERR_NOMEM when it cannot be listed. */
ferry_rc dr_report_difference(dr_report *report, json_t *difference);

/*
 * Copies opts->source onto opts->target: the target's schemas are replaced by the source's as
 * of one snapshot, owners and privileges included, with every row, sequence and large object,
 * then indexed and analyzed; the database's comment, settings and grants follow. Refused before
 * anything changes: a target in use (FERRY_ERR_BUSY), a target holding data Ferry did not write
 * unless opts->overwrite (FERRY_ERR_CONFLICT), a role the source names missing on the target or
 * unusable by its user (FERRY_ERR_CONFIG). The target is marked incomplete (schema _ferry) first
 * and the mark dropped in the very last transaction, so a copy that fails or is stopped is
 * never taken for a finished one, and a finished one holds only the source's objects; running
 * it again reaches the same end state. With opts->verify, a difference is an error
 * (FERRY_ERR_CONFLICT).
 */
ferry_rc dr_copy(const dr_options *opts, dr_report *report, ferry_err *err);

/*
 * The logical method's last part, once the stream has brought the target up to the source's
 * position (the source app stopped): brings over what logical replication does not carry
 * (sequences' states, large objects, unlogged tables' rows, materialized views' contents),
 * verifies the target against the source under one snapshot as a copy's verify does, and drops
 * the mark (checking it is opts->replication_slot's) in the last transaction. A difference is
 * FERRY_ERR_CONFLICT, and the target stays marked. When the copy that started the replication
 * verified, and unless opts->full_verify, the proof compares only what changed since (proof.h).
 */
ferry_rc dr_copy_complete_replicated(const dr_options *opts, dr_report *report, ferry_err *err);

/*
 * Compares source (one snapshot) and target: every table's row count and content checksum,
 * the catalog object by object (sql/verify_schema.sql), every sequence's state and every large
 * object; a target still marked incomplete differs too. Differences are listed in report; they
 * make it return FERRY_ERR_CONFLICT.
 */
ferry_rc dr_verify(const dr_options *opts, dr_report *report, ferry_err *err);

#endif
