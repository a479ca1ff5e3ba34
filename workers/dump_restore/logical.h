/*
 * logical.h - the logical method: keep a target in step with its source by PostgreSQL's
 * logical replication, decoded and applied by Ferry itself (no extension, no subscription on
 * the target, no path from the target server to the source). A publication and a slot are
 * created on the source; the parallel copy reads the slot's exported snapshot, so the stream
 * that follows starts exactly where the copy's picture ends; the stream is applied with its
 * position recorded in the same target transactions (apply.h). docs/logical-replication.md.
 */
#ifndef DR_LOGICAL_H
#define DR_LOGICAL_H

#include <stdbool.h>
#include <stdint.h>

#include "apply.h"
#include "dr.h"

/* Longest slot name PostgreSQL takes (NAMEDATALEN - 1). */
#define DR_SLOT_NAME_MAX 63

/* True for a name made of lowercase letters, digits and underscores, 1 to 63 of them. */
bool dr_logical_slot_name_ok(const char *slot);

/*
 * Whether the source allows the logical method: wal_level logical, a user that may replicate,
 * a free replication slot and WAL sender, and every table with a replica identity. Returns
 * FERRY_OK, or FERRY_ERR_UNSUPPORTED / FERRY_ERR_PERMISSION / FERRY_ERR_CONFIG with the reason
 * in err (the tables without a replica identity by name). Changes nothing.
 */
ferry_rc dr_logical_check(const dr_options *opts, ferry_err *err);

/*
 * Starts the logical method for slot: checks the source (dr_logical_check), replaces any
 * earlier publication and slot of that name, creates the publication (every table the copy
 * moves, but unlogged ones) and the slot, and copies the source onto the target under the
 * slot's snapshot (dr_copy, opts as for a copy). The copy's end records the slot's starting
 * point on the target (_ferry.replication) and keeps the target marked incomplete: it becomes
 * the source's copy at the cutover (dr_logical_finish). report as dr_copy's.
 */
ferry_rc dr_logical_start(const dr_options *opts, const char *slot, dr_report *report,
                          ferry_err *err);

/* What a stream did and where it stands. */
typedef struct dr_stream_report {
    uint64_t start_lsn;           /* where it resumed: the position the target had recorded */
    uint64_t committed_lsn;       /* the position the target holds now */
    uint64_t source_lsn;          /* the source's WAL position when last read */
    uint64_t lag_bytes;           /* source_lsn minus what the target holds (0 when caught up) */
    int64_t lag_ms;               /* age of the oldest source commit not yet on the target */
    uint64_t slot_retained_bytes; /* WAL the slot keeps on the source */
    bool slot_dropped;            /* over max_retained_bytes: the slot and publication are gone */
    dr_apply_stats stats;
    int64_t ms_total;
} dr_stream_report;

typedef struct dr_stream_options {
    const char *slot;
    /* Stop once the target holds every transaction that committed on the source before this
     * position (0: run until stopped). */
    uint64_t until_lsn;
    /* Stop once caught up with the source's WAL position as of the stream's start (what a
     * cutover needs after the source app stopped). */
    bool until_current;
    /* The most WAL the slot may keep on the source (0: no limit). Over it, the slot and the
     * publication are dropped to protect the source's disk, and the stream ends with
     * FERRY_ERR_NO_SPACE: the environment falls back to dump_restore. */
    int64_t max_retained_bytes;
    /* Called about once a second with the stream's figures; NULL: none. */
    void (*progress)(void *ud, const dr_stream_report *report);
    void *progress_ud;
} dr_stream_options;

/*
 * Streams the slot's changes from the position the target recorded, applying them as they
 * come, until sopts says to stop or opts->stop does (FERRY_ERR_CANCELLED, with everything the
 * target committed kept and confirmed). Any process may resume a stream another one ran: the
 * target's record says where. Errors: FERRY_ERR_NOT_FOUND when the target holds no start of
 * this replication or the slot is gone from the source; FERRY_ERR_BUSY while another stream
 * still uses the slot; FERRY_ERR_CONFLICT on DDL on the source or a target that is not the
 * source's copy (a table created on the source since the start is DDL too: its rows would not
 * be replicated); FERRY_ERR_NO_SPACE over sopts->max_retained_bytes; FERRY_ERR_UNAVAILABLE
 * when a server went away (resume later).
 */
ferry_rc dr_logical_stream(const dr_options *opts, const dr_stream_options *sopts,
                           dr_stream_report *report, ferry_err *err);

/*
 * The cutover's database part, the source app stopped: streams until the target holds
 * everything the source committed (stream as dr_logical_stream's), then completes the target
 * (dr_copy_complete_replicated: sequences, large objects, unlogged tables, materialized views,
 * the verify, the mark dropped) and drops the slot and publication. Run again after it
 * completed the target, it only drops what is left on the source. When the verify finds a
 * difference (FERRY_ERR_CONFLICT) the slot is dropped too: the target stays marked, and the
 * environment starts over.
 */
ferry_rc dr_logical_finish(const dr_options *opts, const char *slot, dr_report *report,
                           dr_stream_report *stream, ferry_err *err);

/* Drops the slot and the publication on the source, if they exist (a slot a stream still
 * uses is ended first). Idempotent. */
ferry_rc dr_logical_drop(const dr_options *opts, const char *slot, ferry_err *err);

#endif
