/*
 * copy.c - one copy from start to end, phase after phase (see dr.h and docs/dump-restore.md);
 * the standalone verify shares its opening.
 */
#define _GNU_SOURCE
#include "dr.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "database.h"
#include "digest.h"
#include "dr_sql_embedded.h"
#include "ferry/buf.h"
#include "ferry/clock.h"
#include "pool.h"
#include "proof.h"
#include "tables.h"
#include "target.h"
#include "verify.h"

#define LO_BATCH           1000 /* large objects per target transaction */
#define DIFFERENCES_LISTED 50   /* the first ones are listed; all are counted */

ferry_rc dr_report_init(dr_report *report)
{
    memset(report, 0, sizeof(*report));
    report->verified = -1;
    report->table_rows = json_object();
    report->no_primary_key = json_array();
    report->differences = json_array();
    if (report->table_rows == NULL || report->no_primary_key == NULL ||
        report->differences == NULL) {
        dr_report_cleanup(report);
        return FERRY_ERR_NOMEM;
    }
    return FERRY_OK;
}

ferry_rc dr_report_difference(dr_report *report, json_t *difference)
{
    report->n_differences++;
    if (json_array_size(report->differences) >= DIFFERENCES_LISTED) {
        json_decref(difference);
        return FERRY_OK;
    }
    return json_array_append_new(report->differences, difference) == 0 ? FERRY_OK : FERRY_ERR_NOMEM;
}

void dr_report_cleanup(dr_report *report)
{
    json_decref(report->table_rows);
    json_decref(report->no_primary_key);
    json_decref(report->differences);
    report->table_rows = report->no_primary_key = report->differences = NULL;
}

static void progress(const dr_options *opts, const char *phase, const dr_report *report)
{
    if (opts->progress == NULL)
        return;
    dr_progress p = {.phase = phase,
                     .tables_done = report->tables,
                     .tables_total = report->tables,
                     .rows = report->rows,
                     .bytes_done = report->bytes,
                     .bytes_total = report->bytes};
    opts->progress(opts->progress_ud, &p);
}

static bool stopping(const dr_options *opts)
{
    return opts->stop.stopping != NULL && opts->stop.stopping(opts->stop.ud);
}

/* Opens a control connection to each side and checks they can be copied between. */
static ferry_rc open_pair(const dr_options *opts, const dr_tools *tools, dr_conn **src,
                          dr_conn **tgt, bool *binary, ferry_err *err)
{
    ferry_rc rc = dr_conn_open(&opts->source, DR_APP_NAME, src, err);
    if (rc == FERRY_OK)
        rc = dr_conn_exec(*src, dr_sql_session, err);
    if (rc == FERRY_OK)
        rc = dr_conn_open(&opts->target, DR_APP_NAME, tgt, err);
    if (rc == FERRY_OK)
        rc = dr_conn_exec(*tgt, dr_sql_session, err);
    if (rc != FERRY_OK)
        return rc;
    int smaj = dr_conn_server_major(*src), tmaj = dr_conn_server_major(*tgt);
    if (smaj < 14)
        return ferry_err_set(err, FERRY_ERR_UNSUPPORTED,
                             "source runs PostgreSQL %d; Ferry copies from PostgreSQL 14 or newer",
                             smaj);
    if (tools != NULL && smaj > tools->major)
        return ferry_err_set(err, FERRY_ERR_UNSUPPORTED,
                             "source runs PostgreSQL %d but this worker's pg_dump is version %d: "
                             "install postgresql-client-%d or set FERRY_DUMP_RESTORE_PG_BIN",
                             smaj, tools->major, smaj);
    if (tmaj < smaj)
        return ferry_err_set(err, FERRY_ERR_UNSUPPORTED,
                             "target runs PostgreSQL %d, older than the source's %d: a copy to "
                             "an older major version is not supported",
                             tmaj, smaj);
    *binary = smaj == tmaj;
    return FERRY_OK;
}

/* Reads every sequence's state on src (sql/sequences.sql, into *seqs: the caller frees it) and
 * sets it on tgt: setval(seq, last_value, is_called) reproduces never called, called, and a
 * setval(seq, n, false) alike. */
static ferry_rc copy_sequences(dr_conn *src, dr_conn *tgt, dr_rows **seqs, dr_report *report,
                               ferry_err *err)
{
    ferry_rc rc = dr_conn_query(src, dr_sql_sequences, 0, NULL, seqs, err);
    for (size_t i = 0; rc == FERRY_OK && i < dr_rows_count(*seqs); i++) {
        const char *params[] = {dr_rows_get(*seqs, i, 0), dr_rows_get(*seqs, i, 1),
                                dr_rows_get(*seqs, i, 2)};
        dr_rows *r = NULL;
        rc = dr_conn_query(tgt, "SELECT setval($1::regclass, $2::bigint, $3::boolean)", 3, params,
                           &r, err);
        dr_rows_free(r);
        if (rc == FERRY_OK)
            report->sequences++;
    }
    return rc;
}

/* Copies every large object (same oid), then gives it the source's owner, privileges and
 * comment (the statements sql/large_objects.sql makes), LO_BATCH objects per transaction. */
static ferry_rc copy_large_objects(dr_conn *src, dr_conn *tgt, const dr_options *opts,
                                   dr_report *report, ferry_err *err)
{
    dr_rows *rows = NULL;
    ferry_buf meta = {0};
    ferry_rc rc = dr_conn_query(src, dr_sql_large_objects, 0, NULL, &rows, err);
    size_t n = dr_rows_count(rows);
    bool open = false;
    for (size_t i = 0; rc == FERRY_OK && i < n; i++) {
        if (stopping(opts)) {
            rc = ferry_err_set(err, FERRY_ERR_CANCELLED, "stopped");
            break;
        }
        if (!open) {
            rc = dr_conn_exec(tgt, "BEGIN", err);
            open = rc == FERRY_OK;
        }
        uint64_t bytes = 0;
        if (rc == FERRY_OK)
            rc = dr_conn_lo_copy(src, tgt, (uint32_t)strtoul(dr_rows_get(rows, i, 0), NULL, 10),
                                 &bytes, err);
        if (rc == FERRY_OK) {
            ferry_buf_add(&meta, dr_rows_get(rows, i, 1));
            report->large_objects++;
            report->bytes += bytes;
        }
        if (rc == FERRY_OK && (report->large_objects % LO_BATCH == 0 || i + 1 == n)) {
            if (meta.oom)
                rc = ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
            else if (meta.len > 0)
                rc = dr_conn_exec(tgt, meta.p, err);
            ferry_buf_reset(&meta);
            if (rc == FERRY_OK)
                rc = dr_conn_exec(tgt, "COMMIT", err);
            open = false;
        }
    }
    if (rc != FERRY_OK && rc != FERRY_ERR_CANCELLED) {
        char msg[sizeof(err->msg)];
        (void)snprintf(msg, sizeof(msg), "%s", err->msg);
        (void)ferry_err_set(err, rc, "large objects: %s", msg);
    }
    ferry_buf_cleanup(&meta);
    dr_rows_free(rows);
    return rc;
}

/* Refreshes the materialized views the source has data in. One may read another, so those
 * that fail are tried again after the others, until a round makes no progress. */
static ferry_rc refresh_matviews(dr_conn *src, dr_conn *tgt, dr_report *report, ferry_err *err)
{
    dr_rows *rows = NULL;
    ferry_rc rc = dr_conn_query(src, dr_sql_matviews, 0, NULL, &rows, err);
    if (rc != FERRY_OK)
        return rc;
    size_t n = dr_rows_count(rows);
    bool *done = calloc(n > 0 ? n : 1, sizeof(bool));
    if (done == NULL) {
        dr_rows_free(rows);
        return ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
    }
    size_t left = n;
    while (left > 0) {
        size_t before = left;
        for (size_t i = 0; i < n; i++) {
            if (done[i])
                continue;
            char sql[600];
            (void)snprintf(sql, sizeof(sql), "REFRESH MATERIALIZED VIEW %s",
                           dr_rows_get(rows, i, 0));
            rc = dr_conn_exec(tgt, sql, err);
            if (rc == FERRY_OK) {
                done[i] = true;
                left--;
                report->matviews++;
            }
        }
        if (left == before)
            break; /* rc holds the last failure */
        rc = FERRY_OK;
    }
    free(done);
    dr_rows_free(rows);
    return left == 0 ? FERRY_OK : rc;
}

typedef struct analyze_state {
    dr_rows *rels;
} analyze_state;

static ferry_rc analyze_one(dr_conn *src, dr_conn *tgt, size_t item, void *ud, ferry_err *err)
{
    (void)src;
    analyze_state *as = ud;
    char sql[600];
    (void)snprintf(sql, sizeof(sql), "ANALYZE %s", dr_rows_get(as->rels, item, 0));
    return dr_conn_exec(tgt, sql, err);
}

/* Exports a snapshot on src (which then holds it open in its transaction); with imported, src
 * takes that snapshot (a replication slot's) instead, and the copy reads under it. */
static ferry_rc export_snapshot(dr_conn *src, const char *imported, char *out, size_t outsz,
                                ferry_err *err)
{
    dr_rows *rows = NULL;
    ferry_rc rc = dr_conn_exec(src, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", err);
    if (rc == FERRY_OK && imported != NULL) {
        if (strspn(imported, "0123456789ABCDEF-") == strlen(imported)) {
            char sql[120];
            (void)snprintf(sql, sizeof(sql), "SET TRANSACTION SNAPSHOT '%s'", imported);
            rc = dr_conn_exec(src, sql, err);
        } else {
            rc = ferry_err_set(err, FERRY_ERR_PROTOCOL, "source: unexpected snapshot id");
        }
        if (rc == FERRY_OK)
            (void)snprintf(out, outsz, "%s", imported);
        return rc;
    }
    if (rc == FERRY_OK)
        rc = dr_conn_query(src, "SELECT pg_export_snapshot()", 0, NULL, &rows, err);
    if (rc == FERRY_OK)
        (void)snprintf(out, outsz, "%s", dr_rows_get(rows, 0, 0));
    dr_rows_free(rows);
    return rc;
}

static ferry_rc verdict(dr_report *report, ferry_err *err);

/* Compares source and target: rows table by table on the pool, then everything else by digest
 * on the control connections. seqs: what a copy set the sequences to (NULL: read the source's).
 * A difference sets report->verified to 0 and is FERRY_ERR_CONFLICT, naming the first. */
static ferry_rc verify_all(dr_pool *pool, const dr_tables *tables, dr_conn *src, dr_conn *tgt,
                           const dr_rows *seqs, bool same_major, const dr_options *opts,
                           dr_report *report, ferry_err *err)
{
    int64_t t0 = ferry_mono_ms();
    ferry_rc rc = dr_verify_tables(pool, tables, tgt, opts, report, err);
    if (rc == FERRY_OK)
        rc = dr_digest_compare(src, tgt, seqs, same_major, report, err);
    report->ms_verify = ferry_mono_ms() - t0;
    return rc == FERRY_OK ? verdict(report, err) : rc;
}

/* The verdict on what a verify found: FERRY_ERR_CONFLICT naming the first difference. */
static ferry_rc verdict(dr_report *report, ferry_err *err)
{
    report->verified = report->n_differences == 0 ? 1 : 0;
    if (report->verified == 1)
        return FERRY_OK;
    json_t *first = json_array_get(report->differences, 0);
    return ferry_err_set(err, FERRY_ERR_CONFLICT,
                         "verify: %" PRIu64 " difference%s between source and target (%s: %s%s)",
                         report->n_differences, report->n_differences == 1 ? "" : "s",
                         json_string_value(json_object_get(first, "object")),
                         json_string_value(json_object_get(first, "what")),
                         report->n_differences > 1 ? ", ..." : "");
}

ferry_rc dr_copy(const dr_options *opts, dr_report *report, ferry_err *err)
{
    int64_t t0 = ferry_mono_ms(), t = t0;
    ferry_rc rc = FERRY_OK;
    dr_tools tools;
    dr_conn *src = NULL, *tgt = NULL;
    dr_pool *pool = NULL;
    dr_tables tables = {0};
    dr_rows *rels = NULL, *seqs = NULL;
    char snapshot[80] = "", dir[] = "/tmp/ferry-dump-restore.XXXXXX", archive[80] = "";
    char marked[DR_MARK_STARTED_MAX] = "";
    bool binary = false, have_dir = false;

    rc = dr_tools_find(opts->pg_bin, &tools, err);
    if (rc == FERRY_OK)
        rc = open_pair(opts, &tools, &src, &tgt, &binary, err);
    if (rc != FERRY_OK)
        goto out;
    report->binary = binary;

    /* Prepare: the source's snapshot taken; the target free, not holding data Ferry did not
     * write (unless told to overwrite), every role the source names there; only then is the
     * target marked incomplete, and changed. */
    progress(opts, "prepare", report);
    rc = dr_target_check_free(tgt, err);
    if (rc == FERRY_OK)
        rc = export_snapshot(src, opts->import_snapshot, snapshot, sizeof(snapshot), err);
    if (rc == FERRY_OK)
        rc = dr_target_check_overwrite(tgt, opts->overwrite, err);
    if (rc == FERRY_OK)
        rc = dr_target_check_roles(src, tgt, err);
    if (rc == FERRY_OK)
        rc = dr_target_mark(tgt, opts, marked, err);
    if (rc != FERRY_OK)
        goto out;
    if (mkdtemp(dir) == NULL) {
        rc = ferry_err_set_errno(err, FERRY_ERR_IO, errno, "cannot create a temporary directory");
        goto out;
    }
    have_dir = true;
    (void)snprintf(archive, sizeof(archive), "%s/schema.dump", dir);
    rc = dr_schema_dump(&tools, &opts->source, snapshot, archive, &opts->stop, err);
    if (rc == FERRY_OK)
        rc = dr_target_clear(tgt, err);
    report->ms_prepare = ferry_mono_ms() - t;
    t = ferry_mono_ms();
    if (rc != FERRY_OK)
        goto out;

    /* Schema, then rows. */
    progress(opts, "schema", report);
    rc = dr_schema_restore(&tools, &opts->target, archive, "pre-data", 1, &opts->stop, err);
    report->ms_schema = ferry_mono_ms() - t;
    t = ferry_mono_ms();
    if (rc == FERRY_OK)
        rc = dr_tables_list(src, &tables, err);
    if (rc == FERRY_OK)
        rc = dr_pool_open(opts, opts->jobs, true, snapshot, &pool, err);
    if (rc == FERRY_OK)
        rc = dr_tables_copy(pool, &tables, opts, binary, report, err);
    if (rc != FERRY_OK)
        goto out;

    progress(opts, "sequences", report);
    rc = copy_sequences(src, tgt, &seqs, report, err);
    if (rc == FERRY_OK) {
        progress(opts, "large objects", report);
        rc = copy_large_objects(src, tgt, opts, report, err);
    }
    report->ms_data = ferry_mono_ms() - t;
    t = ferry_mono_ms();
    if (rc != FERRY_OK)
        goto out;

    /* Indexes, constraints and triggers, built in parallel; then derived data and statistics. */
    progress(opts, "indexes", report);
    rc = dr_schema_restore(&tools, &opts->target, archive, "post-data", opts->jobs, &opts->stop,
                           err);
    if (rc == FERRY_OK)
        rc = refresh_matviews(src, tgt, report, err);
    report->ms_post_data = ferry_mono_ms() - t;
    t = ferry_mono_ms();
    if (rc != FERRY_OK)
        goto out;
    progress(opts, "analyze", report);
    rc = dr_conn_query(tgt, dr_sql_analyze, 0, NULL, &rels, err);
    if (rc == FERRY_OK) {
        analyze_state as = {.rels = rels};
        rc = dr_pool_run(pool, dr_rows_count(rels), analyze_one, &as, &opts->stop, NULL, err);
    }
    /* Last, so that settings such as a search_path do not apply to the copy's own sessions. */
    if (rc == FERRY_OK)
        rc = dr_database_copy(src, tgt, err);
    report->ms_analyze = ferry_mono_ms() - t;
    if (rc != FERRY_OK)
        goto out;

    if (opts->verify) {
        progress(opts, "verify", report);
        rc = verify_all(pool, &tables, src, tgt, seqs, binary, opts, report, err);
        if (rc != FERRY_OK)
            goto out;
    }
    if (stopping(opts)) {
        rc = ferry_err_set(err, FERRY_ERR_CANCELLED, "stopped");
        goto out;
    }
    /* The very last transaction: the target holds exactly the source's objects; or, for the
     * logical method, it holds them as of the slot's start, and the stream goes on from there. */
    if (opts->replication_slot != NULL)
        rc = dr_target_replicating(tgt, opts, marked, err);
    else
        rc = dr_target_unmark(tgt, opts, marked, err);
    if (rc == FERRY_OK)
        rc = dr_conn_exec(src, "COMMIT", err);
out:
    if (rc == FERRY_ERR_CANCELLED)
        (void)ferry_err_set(err, rc, "stopped; the target is marked incomplete");
    dr_rows_free(rels);
    dr_rows_free(seqs);
    dr_pool_close(pool);
    dr_tables_cleanup(&tables);
    dr_conn_close(src);
    dr_conn_close(tgt);
    if (archive[0] != '\0')
        (void)unlink(archive);
    if (have_dir)
        (void)rmdir(dir);
    report->ms_total = ferry_mono_ms() - t0;
    return rc;
}

/* Replaces the target's unlogged tables' rows with the source's (their changes are not in the
 * WAL, so no stream carries them). */
static ferry_rc copy_unlogged(dr_conn *src, dr_conn *tgt, dr_report *report, ferry_err *err)
{
    dr_rows *rels = NULL;
    const char *no_publication[] = {""};
    ferry_rc rc = dr_conn_query(src, dr_sql_replication_tables, 1, no_publication, &rels, err);
    for (size_t i = 0; rc == FERRY_OK && i < dr_rows_count(rels); i++) {
        if (strcmp(dr_rows_get(rels, i, 2), "u") != 0)
            continue;
        const char *q = dr_rows_get(rels, i, 0);
        ferry_buf out = {0}, in = {0}, trunc = {0};
        ferry_buf_addf(&out, "COPY %s TO STDOUT", q);
        ferry_buf_addf(&in, "COPY %s FROM STDIN", q);
        ferry_buf_addf(&trunc, "TRUNCATE ONLY %s", q);
        dr_copy_counters counters = {0};
        uint64_t rows = 0;
        if (out.oom || in.oom || trunc.oom)
            rc = ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
        if (rc == FERRY_OK)
            rc = dr_conn_exec(tgt, "BEGIN", err);
        if (rc == FERRY_OK)
            rc = dr_conn_exec(tgt, trunc.p, err);
        if (rc == FERRY_OK)
            rc = dr_conn_copy(src, out.p, tgt, in.p, &counters, &rows, err);
        if (rc == FERRY_OK)
            rc = dr_conn_exec(tgt, "COMMIT", err);
        report->rows += rows;
        report->bytes += atomic_load(&counters.bytes);
        ferry_buf_cleanup(&out);
        ferry_buf_cleanup(&in);
        ferry_buf_cleanup(&trunc);
    }
    dr_rows_free(rels);
    return rc;
}

/* Whether the copy that started replication slot verified the target (_ferry.replication). */
static ferry_rc replication_verified(dr_conn *tgt, const char *slot, bool *verified, ferry_err *err)
{
    const char *params[] = {slot};
    dr_rows *r = NULL;
    ferry_rc rc = dr_conn_query(tgt, "SELECT verified FROM _ferry.replication WHERE slot = $1", 1,
                                params, &r, err);
    *verified = rc == FERRY_OK && dr_rows_count(r) == 1 && strcmp(dr_rows_get(r, 0, 0), "t") == 0;
    dr_rows_free(r);
    return rc;
}

ferry_rc dr_copy_complete_replicated(const dr_options *opts, dr_report *report, ferry_err *err)
{
    int64_t t0 = ferry_mono_ms(), t = t0;
    dr_conn *src = NULL, *tgt = NULL;
    dr_pool *pool = NULL;
    dr_tables tables = {0};
    dr_rows *seqs = NULL;
    char snapshot[80];
    bool binary = false;
    ferry_rc rc = open_pair(opts, NULL, &src, &tgt, &binary, err);
    if (rc == FERRY_OK)
        rc = export_snapshot(src, NULL, snapshot, sizeof(snapshot), err);
    if (rc != FERRY_OK)
        goto out;
    report->binary = binary;

    /* What the stream does not carry: sequences, large objects (all replaced), unlogged tables,
     * materialized views. */
    progress(opts, "sequences", report);
    rc = copy_sequences(src, tgt, &seqs, report, err);
    if (rc == FERRY_OK) {
        progress(opts, "large objects", report);
        rc = dr_conn_exec(tgt, "BEGIN; SELECT lo_unlink(oid) FROM pg_largeobject_metadata; COMMIT",
                          err);
    }
    if (rc == FERRY_OK)
        rc = copy_large_objects(src, tgt, opts, report, err);
    if (rc == FERRY_OK) {
        progress(opts, "unlogged tables", report);
        rc = copy_unlogged(src, tgt, report, err);
    }
    if (rc == FERRY_OK) {
        progress(opts, "materialized views", report);
        rc = refresh_matviews(src, tgt, report, err);
    }
    report->ms_data = ferry_mono_ms() - t;
    if (rc != FERRY_OK)
        goto out;

    /* The proof, under the snapshot. When the copy's verify proved the target equal at the
     * slot's start, the rows the stream changed since, the tables it truncated and the unlogged
     * ones, then the catalog, sequences and large objects (proof.h); otherwise every row. */
    progress(opts, "verify", report);
    bool incremental = false;
    if (!opts->full_verify)
        rc = replication_verified(tgt, opts->replication_slot, &incremental, err);
    if (rc == FERRY_OK && incremental) {
        int64_t tv = ferry_mono_ms();
        report->incremental = true;
        rc = dr_proof_touched(src, tgt, report, &report->keys_compared, &report->tables_whole, err);
        if (rc == FERRY_OK)
            rc = dr_digest_compare(src, tgt, seqs, binary, report, err);
        report->ms_verify = ferry_mono_ms() - tv;
        if (rc == FERRY_OK)
            rc = verdict(report, err);
    } else if (rc == FERRY_OK) {
        rc = dr_tables_list(src, &tables, err);
        if (rc == FERRY_OK)
            rc = dr_pool_open(opts, opts->jobs, true, snapshot, &pool, err);
        if (rc == FERRY_OK) {
            report->tables = tables.n;
            rc = verify_all(pool, &tables, src, tgt, seqs, binary, opts, report, err);
        }
    }
    if (rc == FERRY_OK && stopping(opts))
        rc = ferry_err_set(err, FERRY_ERR_CANCELLED, "stopped");
    /* The very last transaction: the target holds exactly the source's objects. */
    if (rc == FERRY_OK)
        rc = dr_target_replication_done(tgt, opts->replication_slot, err);
    if (rc == FERRY_OK)
        rc = dr_conn_exec(src, "COMMIT", err);
out:
    dr_rows_free(seqs);
    dr_pool_close(pool);
    dr_tables_cleanup(&tables);
    dr_conn_close(src);
    dr_conn_close(tgt);
    report->ms_total = ferry_mono_ms() - t0;
    return rc;
}

ferry_rc dr_verify(const dr_options *opts, dr_report *report, ferry_err *err)
{
    int64_t t0 = ferry_mono_ms();
    dr_conn *src = NULL, *tgt = NULL;
    dr_pool *pool = NULL;
    dr_tables tables = {0};
    dr_rows *mark = NULL;
    char snapshot[80];
    bool binary = false;
    ferry_rc rc = open_pair(opts, NULL, &src, &tgt, &binary, err);
    if (rc == FERRY_OK)
        rc = export_snapshot(src, NULL, snapshot, sizeof(snapshot), err);
    if (rc == FERRY_OK)
        rc = dr_tables_list(src, &tables, err);
    if (rc == FERRY_OK)
        rc = dr_pool_open(opts, opts->jobs, true, snapshot, &pool, err);
    /* A target an unfinished copy marked is not equal to its source, whatever else it holds. */
    if (rc == FERRY_OK)
        rc = dr_conn_query(tgt, "SELECT to_regclass('_ferry.copy_status') IS NOT NULL", 0, NULL,
                           &mark, err);
    if (rc == FERRY_OK && strcmp(dr_rows_get(mark, 0, 0), "t") == 0) {
        json_t *d = json_pack("{s:s, s:s, s:n, s:s}", "object", "database", "what",
                              "marked incomplete: a copy into it is unfinished (_ferry)", "source",
                              "target", "incomplete");
        rc = d != NULL ? dr_report_difference(report, d) : FERRY_ERR_NOMEM;
        if (rc != FERRY_OK)
            rc = ferry_err_set(err, rc, "out of memory");
    }
    if (rc == FERRY_OK) {
        report->tables = tables.n;
        rc = verify_all(pool, &tables, src, tgt, NULL, binary, opts, report, err);
    }
    dr_rows_free(mark);
    dr_pool_close(pool);
    dr_tables_cleanup(&tables);
    dr_conn_close(src);
    dr_conn_close(tgt);
    report->ms_total = ferry_mono_ms() - t0;
    return rc;
}
