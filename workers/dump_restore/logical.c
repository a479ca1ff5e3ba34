/*
 * logical.c - the logical method's start, stream and end (see logical.h).
 */
#include "logical.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dr_sql_embedded.h"
#include "ferry/buf.h"
#include "ferry/clock.h"
#include "pgoutput.h"

#define BATCH_CHANGES    5000 /* changes per target transaction at most */
#define BATCH_MS         200  /* a batch is committed at least this often */
#define STATUS_MS        5000 /* a status update at least this often */
#define PROGRESS_MS      1000
#define SCHEMA_CHECK_MS  10000 /* how often the source is checked for tables created since */
#define TABLES_NAMED_MAX 5     /* tables named in an error; the rest are counted */

bool dr_logical_slot_name_ok(const char *slot)
{
    size_t n = slot != NULL ? strlen(slot) : 0;
    if (n == 0 || n > DR_SLOT_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((slot[i] >= 'a' && slot[i] <= 'z') || (slot[i] >= '0' && slot[i] <= '9') ||
              slot[i] == '_'))
            return false;
    return true;
}

static bool stopping(const dr_options *opts)
{
    return opts->stop.stopping != NULL && opts->stop.stopping(opts->stop.ud);
}

/* ---- the source's readiness ------------------------------------------------------------------ */

/* Checks on an open source connection; *tables (caller frees) gets replication_tables.sql. */
static ferry_rc check_source(dr_conn *src, dr_rows **tables, ferry_err *err)
{
    dr_rows *r = NULL;
    ferry_buf names = {0};
    *tables = NULL;
    ferry_rc rc = dr_conn_query(src, dr_sql_replication_source, 0, NULL, &r, err);
    if (rc != FERRY_OK)
        goto out;
    if (strcmp(dr_rows_get(r, 0, 0), "logical") != 0) {
        rc = ferry_err_set(err, FERRY_ERR_UNSUPPORTED,
                           "source: wal_level is %s; the logical method needs wal_level = "
                           "logical (set in postgresql.conf, then restart the server)",
                           dr_rows_get(r, 0, 0));
        goto out;
    }
    if (strcmp(dr_rows_get(r, 0, 1), "t") != 0) {
        rc = ferry_err_set(err, FERRY_ERR_PERMISSION,
                           "source: the user may not replicate; ALTER ROLE ... REPLICATION (or "
                           "use dump_restore)");
        goto out;
    }
    if (strtol(dr_rows_get(r, 0, 2), NULL, 10) <= strtol(dr_rows_get(r, 0, 3), NULL, 10) ||
        strtol(dr_rows_get(r, 0, 4), NULL, 10) == 0) {
        rc = ferry_err_set(err, FERRY_ERR_UNSUPPORTED,
                           "source: no free replication slot or WAL sender (max_replication_slots "
                           "%s, %s in use; max_wal_senders %s)",
                           dr_rows_get(r, 0, 2), dr_rows_get(r, 0, 3), dr_rows_get(r, 0, 4));
        goto out;
    }
    const char *no_publication[] = {""};
    rc = dr_conn_query(src, dr_sql_replication_tables, 1, no_publication, tables, err);
    if (rc != FERRY_OK)
        goto out;
    size_t missing = 0;
    for (size_t i = 0; i < dr_rows_count(*tables); i++) {
        if (strcmp(dr_rows_get(*tables, i, 2), "p") != 0 ||
            strcmp(dr_rows_get(*tables, i, 1), "t") == 0)
            continue;
        if (missing < TABLES_NAMED_MAX)
            ferry_buf_addf(&names, "%s%s", missing > 0 ? ", " : "", dr_rows_get(*tables, i, 0));
        missing++;
    }
    if (missing > 0)
        rc = ferry_err_set(err, FERRY_ERR_CONFIG,
                           "source: %zu table%s without a replica identity (%s%s): their updates "
                           "and deletes cannot be replicated; give each a primary key, or "
                           "ALTER TABLE ... REPLICA IDENTITY FULL, or use dump_restore",
                           missing, missing == 1 ? "" : "s", names.p != NULL ? names.p : "",
                           missing > TABLES_NAMED_MAX ? ", ..." : "");
out:
    if (rc != FERRY_OK) {
        dr_rows_free(*tables);
        *tables = NULL;
    }
    ferry_buf_cleanup(&names);
    dr_rows_free(r);
    return rc;
}

ferry_rc dr_logical_check(const dr_options *opts, ferry_err *err)
{
    dr_conn *src = NULL;
    dr_rows *tables = NULL;
    ferry_rc rc = dr_conn_open(&opts->source, DR_APP_NAME, &src, err);
    if (rc == FERRY_OK)
        rc = check_source(src, &tables, err);
    dr_rows_free(tables);
    dr_conn_close(src);
    return rc;
}

/* ---- slot and publication -------------------------------------------------------------------- */

static ferry_rc drop_publication(dr_conn *src, const char *slot, ferry_err *err)
{
    ferry_buf b = {0};
    ferry_buf_add(&b, "DROP PUBLICATION IF EXISTS \"");
    ferry_buf_add(&b, slot); /* dr_logical_slot_name_ok: no quote in it */
    ferry_buf_add(&b, "\"");
    ferry_rc rc =
        b.oom ? ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory") : dr_conn_exec(src, b.p, err);
    ferry_buf_cleanup(&b);
    return rc;
}

/* Drops the slot (ending a stream still on it) and the publication, if they exist. */
static ferry_rc drop_on(dr_conn *src, const char *slot, ferry_err *err)
{
    const char *params[] = {slot};
    dr_rows *r = NULL;
    ferry_rc rc = dr_conn_query(src,
                                "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots "
                                "WHERE slot_name = $1 AND active_pid IS NOT NULL",
                                1, params, &r, err);
    dr_rows_free(r);
    r = NULL;
    /* A stream just ended lets go of its slot a moment later. */
    for (int tries = 0; rc == FERRY_OK; tries++) {
        rc = dr_conn_query(src,
                           "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                           "WHERE slot_name = $1",
                           1, params, &r, err);
        dr_rows_free(r);
        r = NULL;
        if (rc != FERRY_ERR_BUSY || tries >= 50)
            break;
        ferry_sleep_ms(100);
    }
    if (rc == FERRY_OK)
        rc = drop_publication(src, slot, err);
    return rc;
}

ferry_rc dr_logical_drop(const dr_options *opts, const char *slot, ferry_err *err)
{
    if (!dr_logical_slot_name_ok(slot))
        return ferry_err_set(err, FERRY_ERR_INVALID, "bad replication slot name");
    dr_conn *src = NULL;
    ferry_rc rc = dr_conn_open(&opts->source, DR_APP_NAME, &src, err);
    if (rc == FERRY_OK)
        rc = drop_on(src, slot, err);
    dr_conn_close(src);
    return rc;
}

/* Drops the publication named slot on the target, if there is one. */
static ferry_rc drop_target_publication(const dr_endpoint *target, const char *slot, ferry_err *err)
{
    dr_conn *tgt = NULL;
    ferry_rc rc = dr_conn_open(target, DR_APP_NAME, &tgt, err);
    if (rc == FERRY_OK) {
        char sql[120];
        (void)snprintf(sql, sizeof(sql), "DROP PUBLICATION IF EXISTS \"%s\"", slot);
        rc = dr_conn_exec(tgt, sql, err);
    }
    dr_conn_close(tgt);
    return rc;
}

/* CREATE PUBLICATION for the permanent tables. */
static ferry_rc create_publication(dr_conn *src, const char *slot, const dr_rows *tables,
                                   ferry_err *err)
{
    ferry_buf b = {0};
    ferry_buf_addf(&b, "CREATE PUBLICATION \"%s\"", slot);
    const char *sep = " FOR TABLE ";
    for (size_t i = 0; i < dr_rows_count(tables); i++) {
        if (strcmp(dr_rows_get(tables, i, 2), "p") != 0)
            continue; /* unlogged: copied at the cutover */
        ferry_buf_addf(&b, "%sONLY %s", sep, dr_rows_get(tables, i, 0));
        sep = ", ";
    }
    ferry_rc rc =
        b.oom ? ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory") : dr_conn_exec(src, b.p, err);
    ferry_buf_cleanup(&b);
    return rc;
}

ferry_rc dr_logical_start(const dr_options *opts, const char *slot, dr_report *report,
                          ferry_err *err)
{
    dr_conn *src = NULL, *repl = NULL;
    dr_rows *tables = NULL, *created = NULL;
    uint64_t start = 0;
    if (!dr_logical_slot_name_ok(slot))
        return ferry_err_set(err, FERRY_ERR_INVALID,
                             "bad replication slot name: lowercase letters, digits and "
                             "underscores, at most 63");
    ferry_rc rc = dr_conn_open(&opts->source, DR_APP_NAME, &src, err);
    if (rc == FERRY_OK)
        rc = check_source(src, &tables, err);
    if (rc == FERRY_OK)
        rc = drop_on(src, slot, err); /* an earlier start's, unfinished */
    /* The publication first: decoding reads it as of each change's position. */
    if (rc == FERRY_OK)
        rc = create_publication(src, slot, tables, err);
    if (rc == FERRY_OK)
        rc = dr_conn_open_replication(&opts->source, DR_APP_NAME, &repl, err);
    if (rc == FERRY_OK) {
        char sql[160];
        (void)snprintf(sql, sizeof(sql),
                       "CREATE_REPLICATION_SLOT \"%s\" LOGICAL pgoutput EXPORT_SNAPSHOT", slot);
        rc = dr_conn_query_simple(repl, sql, &created, err);
    }
    if (rc == FERRY_OK &&
        (dr_rows_count(created) != 1 || dr_po_lsn_parse(dr_rows_get(created, 0, 1), &start) != 0 ||
         dr_rows_get(created, 0, 2) == NULL))
        rc = ferry_err_set(err, FERRY_ERR_PROTOCOL,
                           "source: CREATE_REPLICATION_SLOT answered something unexpected");
    if (rc != FERRY_OK)
        goto out;
    /* A publication of this name on the target came from an earlier whole copy of the source
     * while it had one (a stop's): the restore would trip on it. */
    rc = drop_target_publication(&opts->target, slot, err);
    if (rc != FERRY_OK)
        goto out;
    /* The slot's snapshot stays valid while repl stays idle: for the whole copy. */
    dr_options copy = *opts;
    copy.import_snapshot = dr_rows_get(created, 0, 2);
    copy.replication_slot = slot;
    copy.replication_lsn = start;
    rc = dr_copy(&copy, report, err);
out:
    if (rc != FERRY_OK && src != NULL) {
        /* Leave nothing that holds WAL behind (best effort: the server may be gone); a new start
         * makes them again. */
        ferry_err ignored;
        dr_conn_close(repl);
        repl = NULL;
        (void)drop_on(src, slot, &ignored);
    }
    dr_rows_free(tables);
    dr_rows_free(created);
    dr_conn_close(repl);
    dr_conn_close(src);
    return rc;
}

/* ---- the stream ------------------------------------------------------------------------------ */

/* The target's record of the stream: its position. */
static ferry_rc read_position(dr_conn *tgt, const char *slot, uint64_t *lsn, ferry_err *err)
{
    dr_rows *r = NULL;
    const char *params[] = {slot};
    ferry_rc rc = dr_conn_query(tgt, "SELECT to_regclass('_ferry.replication') IS NOT NULL", 0,
                                NULL, &r, err);
    bool have = rc == FERRY_OK && strcmp(dr_rows_get(r, 0, 0), "t") == 0;
    dr_rows_free(r);
    r = NULL;
    if (rc == FERRY_OK && have)
        rc = dr_conn_query(tgt, "SELECT lsn::text FROM _ferry.replication WHERE slot = $1", 1,
                           params, &r, err);
    if (rc == FERRY_OK && (!have || dr_rows_count(r) != 1))
        rc = ferry_err_set(err, FERRY_ERR_NOT_FOUND,
                           "target: no logical replication (slot %s) has started into it: its "
                           "initial copy comes first",
                           slot);
    if (rc == FERRY_OK && dr_po_lsn_parse(dr_rows_get(r, 0, 0), lsn) != 0)
        rc = ferry_err_set(err, FERRY_ERR_PROTOCOL, "target: a bad position in _ferry.replication");
    dr_rows_free(r);
    return rc;
}

/* Takes the slot over from a stream still on it (an older attempt, stalled or gone): ends its
 * walsender and waits, up to 10 s, for the slot to be free. */
static ferry_rc take_slot(dr_conn *src, const char *slot, ferry_err *err)
{
    const char *params[] = {slot};
    for (int tries = 0;; tries++) {
        dr_rows *r = NULL;
        ferry_rc rc = dr_conn_query(src,
                                    "SELECT pg_terminate_backend(active_pid) FROM "
                                    "pg_replication_slots WHERE slot_name = $1 AND active",
                                    1, params, &r, err);
        size_t active = dr_rows_count(r);
        dr_rows_free(r);
        if (rc != FERRY_OK || active == 0)
            return rc;
        if (tries >= 100)
            return ferry_err_set(err, FERRY_ERR_BUSY,
                                 "source: the replication slot %s stays in use by another "
                                 "stream",
                                 slot);
        ferry_sleep_ms(100);
    }
}

/* The slot's state on the source: *retained WAL bytes, *current the source's WAL position. */
static ferry_rc read_slot(dr_conn *src, const char *slot, uint64_t *retained, uint64_t *current,
                          ferry_err *err)
{
    dr_rows *r = NULL;
    const char *params[] = {slot};
    ferry_rc rc = dr_conn_query(src, dr_sql_replication_slot, 1, params, &r, err);
    if (rc == FERRY_OK && dr_rows_count(r) != 1)
        rc = ferry_err_set(err, FERRY_ERR_NOT_FOUND,
                           "source: the replication slot %s is gone (dropped outside Ferry?): the "
                           "target can no longer be kept in step; start the environment over",
                           slot);
    if (rc == FERRY_OK && strcmp(dr_rows_get(r, 0, 3), "lost") == 0)
        rc = ferry_err_set(err, FERRY_ERR_NOT_FOUND,
                           "source: the replication slot %s lost WAL it needed "
                           "(max_slot_wal_keep_size): start the environment over",
                           slot);
    if (rc == FERRY_OK) {
        const char *kept = dr_rows_get(r, 0, 1);
        *retained = kept != NULL ? strtoull(kept, NULL, 10) : 0;
        if (dr_po_lsn_parse(dr_rows_get(r, 0, 4), current) != 0)
            rc = ferry_err_set(err, FERRY_ERR_PROTOCOL, "source: a bad WAL position");
    }
    dr_rows_free(r);
    return rc;
}

/* A table created on the source since the publication was made: DDL. */
static ferry_rc check_unpublished(dr_conn *src, const char *slot, ferry_err *err)
{
    dr_rows *r = NULL;
    const char *params[] = {slot};
    ferry_buf names = {0};
    size_t n = 0;
    ferry_rc rc = dr_conn_query(src, dr_sql_replication_tables, 1, params, &r, err);
    for (size_t i = 0; rc == FERRY_OK && i < dr_rows_count(r); i++) {
        if (strcmp(dr_rows_get(r, i, 2), "p") != 0 || strcmp(dr_rows_get(r, i, 3), "t") == 0)
            continue;
        if (n < TABLES_NAMED_MAX)
            ferry_buf_addf(&names, "%s%s", n > 0 ? ", " : "", dr_rows_get(r, i, 0));
        n++;
    }
    if (rc == FERRY_OK && n > 0)
        rc = ferry_err_set(err, FERRY_ERR_CONFLICT,
                           "DDL on the source during replication: table%s %s%s created since the "
                           "replication started, so not replicated; start the environment over",
                           n == 1 ? "" : "s", names.p != NULL ? names.p : "",
                           n > TABLES_NAMED_MAX ? ", ..." : "");
    ferry_buf_cleanup(&names);
    dr_rows_free(r);
    return rc;
}

/* Over the WAL limit: the stream's connection is closed, then the slot and the publication are
 * dropped, and the error says why. */
static ferry_rc over_limit(dr_conn **repl, dr_conn *src, const dr_stream_options *sopts,
                           dr_stream_report *report, ferry_err *err)
{
    dr_conn_close(*repl);
    *repl = NULL;
    ferry_err drop_err = {0};
    ferry_rc rc = take_slot(src, sopts->slot, &drop_err); /* our walsender may linger a moment */
    if (rc == FERRY_OK)
        rc = drop_on(src, sopts->slot, &drop_err);
    report->slot_dropped = rc == FERRY_OK;
    return ferry_err_set(err, FERRY_ERR_NO_SPACE,
                         "source: the replication slot %s kept %" PRIu64
                         " MB of WAL, over the limit of %" PRId64 " MB; %s to protect the "
                         "source's disk: this environment falls back to dump_restore%s%s",
                         sopts->slot, report->slot_retained_bytes / (1024 * 1024),
                         sopts->max_retained_bytes / (1024 * 1024),
                         rc == FERRY_OK ? "Ferry dropped the slot and the publication"
                                        : "dropping the slot failed",
                         rc == FERRY_OK ? "" : ": ", rc == FERRY_OK ? "" : drop_err.msg);
}

static ferry_rc send_status(dr_conn *repl, uint64_t flushed, ferry_err *err)
{
    uint8_t msg[34];
    size_t n = dr_po_status_encode(msg, flushed, flushed, flushed, dr_po_now_us(), 0);
    return dr_conn_stream_send(repl, msg, n, err);
}

/* The streaming connection: text output pinned as the copy's, so values read back the same. */
static ferry_rc open_stream(const dr_options *opts, const char *slot, uint64_t start,
                            dr_conn **repl, ferry_err *err)
{
    static const char *const settings[] = {
        "SET DateStyle = 'ISO, YMD'", "SET IntervalStyle = 'postgres'", "SET TimeZone = 'UTC'",
        "SET extra_float_digits = 3", "SET bytea_output = 'hex'"};
    ferry_rc rc = dr_conn_open_replication(&opts->source, DR_APP_NAME, repl, err);
    for (size_t i = 0; rc == FERRY_OK && i < sizeof(settings) / sizeof(settings[0]); i++)
        rc = dr_conn_exec(*repl, settings[i], err);
    if (rc == FERRY_OK) {
        char sql[300], lsn[24];
        dr_po_lsn_format(start, lsn);
        (void)snprintf(sql, sizeof(sql),
                       "START_REPLICATION SLOT \"%s\" LOGICAL %s (proto_version '1', "
                       "publication_names '\"%s\"')",
                       slot, lsn, slot);
        rc = dr_conn_stream_start(*repl, sql, err);
    }
    return rc;
}

ferry_rc dr_logical_stream(const dr_options *opts, const dr_stream_options *sopts,
                           dr_stream_report *report, ferry_err *err)
{
    int64_t t0 = ferry_mono_ms();
    dr_conn *src = NULL, *tgt = NULL, *tgt_apply = NULL, *repl = NULL;
    dr_apply *apply = NULL;
    dr_po_msg *msg = NULL;
    uint8_t *buf = NULL;
    const char *slot = sopts->slot;
    uint64_t start = 0, until = sopts->until_lsn, idle_confirmed = 0;
    int64_t batch_start = 0, last_status = 0, last_progress = 0, oldest_pending_us = 0;
    int64_t last_schema_check = 0;
    bool caught_up = false;
    memset(report, 0, sizeof(*report));
    if (!dr_logical_slot_name_ok(slot))
        return ferry_err_set(err, FERRY_ERR_INVALID, "bad replication slot name");

    /* A stream that an older one (stalled, or killed with its sessions not yet gone) still
     * runs is taken over: its sessions on the target end, its walsender ends, and the position
     * it would record no longer matches (dr_apply_flush). */
    dr_rows *ended = NULL;
    ferry_rc rc = dr_conn_open(&opts->target, DR_APP_NAME, &tgt, err);
    if (rc == FERRY_OK)
        rc = dr_conn_query(tgt, dr_sql_target_leftovers, 0, NULL, &ended, err);
    dr_rows_free(ended);
    if (rc == FERRY_OK)
        rc = read_position(tgt, slot, &start, err);
    if (rc == FERRY_OK)
        rc = dr_conn_open(&opts->source, DR_APP_NAME, &src, err);
    if (rc == FERRY_OK)
        rc = read_slot(src, slot, &report->slot_retained_bytes, &report->source_lsn, err);
    if (rc == FERRY_OK)
        rc = take_slot(src, slot, err);
    if (rc != FERRY_OK)
        goto out;
    report->start_lsn = report->committed_lsn = start;
    if (sopts->until_current)
        until = report->source_lsn;
    msg = dr_po_msg_new();
    if (msg == NULL) {
        rc = ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
        goto out;
    }
    rc = dr_conn_open(&opts->target, DR_APP_NAME, &tgt_apply, err);
    if (rc == FERRY_OK)
        rc = dr_apply_new(tgt_apply, tgt, slot, start, &apply, err);
    if (rc == FERRY_OK)
        rc = open_stream(opts, slot, start, &repl, err);
    if (rc != FERRY_OK)
        goto out;

    for (;;) {
        int64_t now = ferry_mono_ms();
        bool idle = !dr_apply_in_transaction(apply) && dr_apply_pending_transactions(apply) == 0;
        if (idle && until > 0 &&
            (dr_apply_committed_lsn(apply) >= until || idle_confirmed >= until)) {
            caught_up = true; /* the target holds everything before until */
            break;
        }
        if (stopping(opts)) {
            rc = ferry_err_set(err, FERRY_ERR_CANCELLED, "stopped");
            break;
        }
        /* Commit the batch when it is big or old enough, or when nothing more is coming. */
        size_t len = 0;
        int wait = dr_apply_pending_transactions(apply) > 0 ? 20 : 500;
        rc = dr_conn_stream_read(repl, wait, &buf, &len, err);
        if (rc != FERRY_OK)
            break;
        bool flush = !dr_apply_in_transaction(apply) && dr_apply_pending_transactions(apply) > 0 &&
                     (buf == NULL || dr_apply_pending_changes(apply) >= BATCH_CHANGES ||
                      now - batch_start >= BATCH_MS);
        if (flush) {
            rc = dr_apply_flush(apply, err);
            if (rc == FERRY_OK)
                rc = send_status(repl, dr_apply_committed_lsn(apply), err);
            if (rc != FERRY_OK)
                break;
            oldest_pending_us = 0;
            last_status = now;
        }
        if (buf != NULL) {
            dr_po_frame frame;
            rc = dr_po_frame_decode(buf, len, &frame, err);
            if (rc == FERRY_OK && frame.kind == DR_PO_FRAME_KEEPALIVE) {
                /* Everything before wal_end has been sent: when it is all applied, the slot
                 * may move on past WAL the target needs nothing from. */
                uint64_t confirm = dr_apply_committed_lsn(apply);
                if (idle && frame.wal_end > confirm) {
                    idle_confirmed = frame.wal_end;
                    confirm = frame.wal_end;
                }
                if (frame.reply_requested || now - last_status >= STATUS_MS) {
                    rc = send_status(repl, confirm, err);
                    last_status = now;
                }
            } else if (rc == FERRY_OK) {
                rc = dr_po_decode(msg, frame.data, frame.len, err);
                if (rc == FERRY_OK && msg->kind == DR_PO_BEGIN) {
                    if (dr_apply_pending_transactions(apply) == 0)
                        batch_start = now;
                    if (oldest_pending_us == 0)
                        oldest_pending_us = msg->time_us;
                }
                if (rc == FERRY_OK)
                    rc = dr_apply_message(apply, msg, err);
            }
            dr_conn_stream_release(buf);
            buf = NULL;
            if (rc != FERRY_OK)
                break;
        }
        if (now - last_status >= STATUS_MS) {
            rc = send_status(repl,
                             idle ? (idle_confirmed > dr_apply_committed_lsn(apply)
                                         ? idle_confirmed
                                         : dr_apply_committed_lsn(apply))
                                  : dr_apply_committed_lsn(apply),
                             err);
            last_status = now;
            if (rc != FERRY_OK)
                break;
        }
        if (now - last_progress >= PROGRESS_MS) {
            last_progress = now;
            rc = read_slot(src, slot, &report->slot_retained_bytes, &report->source_lsn, err);
            if (rc == FERRY_OK && sopts->max_retained_bytes > 0 &&
                report->slot_retained_bytes > (uint64_t)sopts->max_retained_bytes)
                rc = over_limit(&repl, src, sopts, report, err);
            if (rc == FERRY_OK && now - last_schema_check >= SCHEMA_CHECK_MS) {
                last_schema_check = now;
                rc = check_unpublished(src, slot, err);
            }
            if (rc != FERRY_OK)
                break;
            uint64_t held = dr_apply_committed_lsn(apply);
            if (idle && idle_confirmed > held)
                held = idle_confirmed;
            report->committed_lsn = dr_apply_committed_lsn(apply);
            report->lag_bytes = report->source_lsn > held ? report->source_lsn - held : 0;
            report->lag_ms =
                oldest_pending_us > 0 ? (dr_po_now_us() - oldest_pending_us) / 1000 : 0;
            report->stats = *dr_apply_stats_get(apply);
            if (sopts->progress != NULL)
                sopts->progress(sopts->progress_ud, report);
        }
    }
    /* Stopped or failed: keep what whole transactions were applied, drop a partial one. */
    if ((rc == FERRY_OK || rc == FERRY_ERR_CANCELLED) && repl != NULL) {
        ferry_err flush_err = {0};
        ferry_rc frc = FERRY_OK;
        if (!dr_apply_in_transaction(apply))
            frc = dr_apply_flush(apply, &flush_err);
        if (frc == FERRY_OK)
            frc = send_status(repl, dr_apply_committed_lsn(apply), &flush_err);
        if (frc != FERRY_OK && rc == FERRY_OK) {
            rc = frc;
            *err = flush_err;
        }
    }
out:
    if (apply != NULL) {
        report->committed_lsn = dr_apply_committed_lsn(apply);
        report->stats = *dr_apply_stats_get(apply);
        if (report->source_lsn <= report->committed_lsn || caught_up)
            report->lag_bytes = 0;
        if (caught_up)
            report->lag_ms = 0;
    }
    dr_conn_stream_release(buf);
    dr_apply_free(apply);
    dr_po_msg_free(msg);
    dr_conn_close(repl);
    dr_conn_close(tgt_apply);
    dr_conn_close(tgt);
    dr_conn_close(src);
    report->ms_total = ferry_mono_ms() - t0;
    return rc;
}

ferry_rc dr_logical_finish(const dr_options *opts, const char *slot, dr_report *report,
                           dr_stream_report *stream, ferry_err *err)
{
    dr_conn *tgt = NULL;
    dr_rows *r = NULL;
    memset(stream, 0, sizeof(*stream));
    if (!dr_logical_slot_name_ok(slot))
        return ferry_err_set(err, FERRY_ERR_INVALID, "bad replication slot name");
    /* A finish that completed the target and failed to drop the slot: only that is left. */
    ferry_rc rc = dr_conn_open(&opts->target, DR_APP_NAME, &tgt, err);
    if (rc == FERRY_OK)
        rc = dr_conn_query(tgt, "SELECT to_regnamespace('_ferry') IS NULL", 0, NULL, &r, err);
    bool done = rc == FERRY_OK && strcmp(dr_rows_get(r, 0, 0), "t") == 0;
    dr_rows_free(r);
    dr_conn_close(tgt);
    if (rc != FERRY_OK)
        return rc;
    if (!done) {
        dr_stream_options so = {.slot = slot, .until_current = true};
        rc = dr_logical_stream(opts, &so, stream, err);
        if (rc != FERRY_OK)
            return rc;
        /* Caught up: the publication has served, and the verify must not find it on the source
         * only (the target's copy of it was dropped at the start). */
        rc = dr_conn_open(&opts->source, DR_APP_NAME, &tgt, err);
        if (rc == FERRY_OK)
            rc = drop_publication(tgt, slot, err);
        dr_conn_close(tgt);
        if (rc != FERRY_OK)
            return rc;
        dr_options o = *opts;
        o.replication_slot = slot;
        rc = dr_copy_complete_replicated(&o, report, err);
        if (rc == FERRY_ERR_CONFLICT) {
            /* The target differs: this replication cannot end well, and its slot must not keep
             * WAL on the source while people look into it. A failure a retry may cure keeps
             * the slot for the retry. */
            ferry_err drop_err = {0};
            bool dropped = dr_logical_drop(opts, slot, &drop_err) == FERRY_OK;
            char msg[sizeof(err->msg)];
            (void)snprintf(msg, sizeof(msg), "%s", err->msg);
            (void)ferry_err_set(err, rc, "%s; %s", msg,
                                dropped ? "the slot was dropped: replicate again"
                                        : "dropping the slot failed too: drop it by hand");
        }
        if (rc != FERRY_OK)
            return rc;
    }
    return dr_logical_drop(opts, slot, err);
}
