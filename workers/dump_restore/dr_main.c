/*
 * dr_main.c - ferry-dump-restore: a worker of the dump_restore kind (no arguments, or the
 * runtime's options), or one operation from the command line:
 *
 *     ferry-dump-restore copy   --source CONNINFO --target CONNINFO [options]
 *     ferry-dump-restore verify --source CONNINFO --target CONNINFO [options]
 *     ferry-dump-restore logical-check|-start|-stream|-finish|-drop ... [options]
 *
 * This file parses and reports; dr.h does the work.
 */
#include <inttypes.h>
#include <signal.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dr.h"
#include "logical.h"
#include "ferry/config.h"
#include "ferry/log.h"
#include "ferry/opts.h"
#include "ferry/worker.h"

#define EXIT_FAILED 1
#define EXIT_USAGE  2
#define EXIT_CONFIG 3

/* ---- results ------------------------------------------------------------------------------- */

/* The report as one JSON object: what the command line prints and the step's results hold. */
static json_t *report_json(const dr_report *r)
{
    json_t *j = json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:b, s:{s:I, s:I, s:I, s:I, s:I, s:I}, "
        "s:I, s:O, s:O}",
        "tables", (json_int_t)r->tables, "rows", (json_int_t)r->rows, "bytes", (json_int_t)r->bytes,
        "sequences", (json_int_t)r->sequences, "large_objects", (json_int_t)r->large_objects,
        "matviews", (json_int_t)r->matviews, "binary", r->binary, "phases_ms", "prepare",
        (json_int_t)r->ms_prepare, "schema", (json_int_t)r->ms_schema, "data",
        (json_int_t)r->ms_data, "post_data", (json_int_t)r->ms_post_data, "analyze",
        (json_int_t)r->ms_analyze, "verify", (json_int_t)r->ms_verify, "duration_ms",
        (json_int_t)r->ms_total, "no_primary_key", r->no_primary_key, "table_rows", r->table_rows);
    if (j == NULL)
        return NULL;
    if (r->incremental)
        (void)json_object_set_new(j, "proof",
                                  json_pack("{s:s, s:I, s:I}", "compared", "changed rows", "keys",
                                            (json_int_t)r->keys_compared, "tables_whole",
                                            (json_int_t)r->tables_whole));
    if (r->verified >= 0) {
        (void)json_object_set_new(j, "verified", json_boolean(r->verified == 1));
        (void)json_object_set(j, "differences", r->differences);
        (void)json_object_set_new(j, "n_differences", json_integer((json_int_t)r->n_differences));
    }
    return j;
}

/* Sets a result from a JSON value: strings as they are, numbers and the rest as JSON text. */
static void put_result(ferry_step_ctx *ctx, const char *name, json_t *value)
{
    char *text = json_is_string(value) ? strdup(json_string_value(value))
                                       : json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    if (text != NULL)
        (void)ferry_step_result(ctx, name, text); /* best effort: the step's outcome stands */
    free(text);
}

/* Step results (docs/orchestration.md "Results"): every top-level key of the report. */
static void report_results(ferry_step_ctx *ctx, const dr_report *r)
{
    json_t *j = report_json(r);
    const char *key;
    json_t *value;
    json_object_foreach(j, key, value)
    {
        put_result(ctx, key, value);
    }
    char n[24];
    (void)snprintf(n, sizeof(n), "%zu", json_array_size(r->no_primary_key));
    (void)ferry_step_result(ctx, "tables_without_primary_key", n);
    json_decref(j);
}

/* ---- the worker ---------------------------------------------------------------------------- */

static bool step_stopping(void *ud)
{
    return ferry_step_stopping(ud);
}

static void step_progress(void *ud, const dr_progress *p)
{
    ferry_step_progress fp = {.done = p->tables_done,
                              .total = p->tables_total,
                              .unit = "tables",
                              .bytes_done = p->bytes_done,
                              .bytes_total = p->bytes_total,
                              .rows = p->rows,
                              .detail = p->phase};
    ferry_step_progress_set(ud, &fp);
}

/* A stream's progress (docs/orchestration.md, "Progress of a stream"): done is the lag in
 * milliseconds, bytes_done the lag in bytes, bytes_total the WAL the slot keeps on the source,
 * rows the changes applied; total 0, since a stream has no end. */
static void stream_progress(void *ud, const dr_stream_report *r)
{
    char detail[160];
    (void)snprintf(detail, sizeof(detail),
                   "streaming: %.1f s and %.1f kB behind the source; the slot keeps %.1f MB of WAL",
                   (double)r->lag_ms / 1000.0, (double)r->lag_bytes / 1024.0,
                   (double)r->slot_retained_bytes / (1024.0 * 1024.0));
    ferry_step_progress fp = {.done = r->lag_ms > 0 ? (uint64_t)r->lag_ms : 0,
                              .unit = "ms behind",
                              .bytes_done = r->lag_bytes,
                              .bytes_total = r->slot_retained_bytes,
                              .rows = r->stats.inserts + r->stats.updates + r->stats.deletes +
                                      r->stats.truncates,
                              .detail = detail};
    ferry_step_progress_set(ud, &fp);
}

static void result_u64(ferry_step_ctx *ctx, const char *name, uint64_t v)
{
    char n[24];
    (void)snprintf(n, sizeof(n), "%" PRIu64, v);
    (void)ferry_step_result(ctx, name, n); /* best effort: the step's outcome stands */
}

static void stream_results(ferry_step_ctx *ctx, const dr_stream_report *r)
{
    char lsn[24];
    dr_po_lsn_format(r->committed_lsn, lsn);
    (void)ferry_step_result(ctx, "committed_lsn", lsn);
    result_u64(ctx, "transactions", r->stats.transactions);
    result_u64(ctx, "changes",
               r->stats.inserts + r->stats.updates + r->stats.deletes + r->stats.truncates);
    result_u64(ctx, "lag_bytes", r->lag_bytes);
    result_u64(ctx, "slot_retained_bytes", r->slot_retained_bytes);
}

/*
 * The logical operations (docs/logical-replication.md). LOGICAL_CHECK succeeds either way and
 * says in its results whether the source allows the method ("logical": "true"/"false") and
 * why; only a failure to ask (a dead source, a wrong password) fails it. A stream runs until
 * the step is canceled (the coordinator wants it to end: what the target committed is kept,
 * and the step counts as done) or the worker shuts down.
 */
static ferry_rc execute_logical(ferry_step_ctx *ctx, const Ferry__V1__StepCommand *cmd,
                                const dr_options *opts, dr_report *report, ferry_err *err)
{
    const Ferry__V1__DumpRestoreParams *p = cmd->dump_restore;
    const ferry_cfg *cfg = ferry_step_config(ctx);
    dr_stream_report stream;
    ferry_rc rc;
    switch (cmd->operation) {
    case FERRY__V1__OPERATION__OPERATION_DUMP_RESTORE_LOGICAL_CHECK:
        rc = dr_logical_check(opts, err);
        if (rc == FERRY_ERR_UNSUPPORTED || rc == FERRY_ERR_PERMISSION || rc == FERRY_ERR_CONFIG) {
            (void)ferry_step_result(ctx, "logical", "false");
            (void)ferry_step_result(ctx, "reason", err->msg);
            ferry_err_clear(err);
            return FERRY_OK;
        }
        if (rc == FERRY_OK) {
            (void)ferry_step_result(ctx, "logical", "true");
            (void)ferry_step_result(ctx, "reason", "the source allows it");
        }
        return rc;
    case FERRY__V1__OPERATION__OPERATION_DUMP_RESTORE_LOGICAL_START:
        rc = dr_logical_start(opts, p->slot, report, err);
        report_results(ctx, report);
        return rc;
    case FERRY__V1__OPERATION__OPERATION_DUMP_RESTORE_LOGICAL_STREAM: {
        dr_stream_options so = {.slot = p->slot,
                                .max_retained_bytes =
                                    p->max_retained_wal > 0 && p->max_retained_wal <= INT64_MAX
                                        ? (int64_t)p->max_retained_wal
                                        : ferry_cfg_int(cfg, "dump_restore.max_retained_wal"),
                                .progress = stream_progress,
                                .progress_ud = ctx};
        rc = dr_logical_stream(opts, &so, &stream, err);
        stream_results(ctx, &stream);
        return rc;
    }
    case FERRY__V1__OPERATION__OPERATION_DUMP_RESTORE_LOGICAL_FINISH:
        rc = dr_logical_finish(opts, p->slot, report, &stream, err);
        report_results(ctx, report);
        stream_results(ctx, &stream);
        return rc;
    case FERRY__V1__OPERATION__OPERATION_DUMP_RESTORE_LOGICAL_DROP:
        return dr_logical_drop(opts, p->slot, err);
    default:
        return ferry_err_set(err, FERRY_ERR_INVALID, "operation %d is not a dump-restore one",
                             (int)cmd->operation);
    }
}

static ferry_rc resolve(const Ferry__V1__SecretRef *ref, char **out, ferry_err *err)
{
    *out = NULL;
    if (ref == NULL || ref->name == NULL || ref->name[0] == '\0')
        return FERRY_OK; /* no password: trust, peer, or the worker's .pgpass */
    return ferry_secret_get(ref->name, out, err);
}

static ferry_rc execute(ferry_step_ctx *ctx, const Ferry__V1__StepCommand *cmd, void *ud,
                        ferry_err *err)
{
    (void)ud;
    ferry_rc rc = FERRY_OK;
    char *src_pw = NULL, *tgt_pw = NULL;
    dr_report report;
    const Ferry__V1__DumpRestoreParams *p = cmd->dump_restore;
    if (cmd->params_case != FERRY__V1__STEP_COMMAND__PARAMS_DUMP_RESTORE || p == NULL ||
        p->source == NULL || p->target == NULL)
        return ferry_err_set(err, FERRY_ERR_INVALID, "the step has no source and target database");
    if (dr_report_init(&report) != FERRY_OK)
        return ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
    rc = resolve(p->source->password, &src_pw, err);
    if (rc == FERRY_OK)
        rc = resolve(p->target->password, &tgt_pw, err);
    if (rc != FERRY_OK)
        goto out;

    const ferry_cfg *cfg = ferry_step_config(ctx);
    char who[300];
    (void)snprintf(who, sizeof(who), "%s/%s#%" PRIu32, cmd->migration_id, cmd->step_id,
                   cmd->attempt);
    dr_options opts = {
        .source = {.conninfo = p->source->conninfo, .password = src_pw, .label = "source"},
        .target = {.conninfo = p->target->conninfo, .password = tgt_pw, .label = "target"},
        .jobs = p->parallel_tables > 0 ? (int)p->parallel_tables
                                       : (int)ferry_cfg_int(cfg, "dump_restore.jobs"),
        .split_bytes = ferry_cfg_int(cfg, "dump_restore.split"),
        .pg_bin = ferry_cfg_str(cfg, "dump_restore.pg_bin"),
        .verify = p->verify,
        .overwrite = p->overwrite,
        .started_by = who,
        .stop = {.stopping = step_stopping, .ud = ctx},
        .progress = step_progress,
        .progress_ud = ctx};
    if (opts.jobs > 64)
        opts.jobs = 64;
    switch (cmd->operation) {
    case FERRY__V1__OPERATION__OPERATION_DUMP_RESTORE_COPY:
        rc = dr_copy(&opts, &report, err);
        break;
    case FERRY__V1__OPERATION__OPERATION_DUMP_RESTORE_VERIFY:
        rc = dr_verify(&opts, &report, err);
        break;
    default:
        rc = execute_logical(ctx, cmd, &opts, &report, err);
        /* A slot gone or over its WAL limit, or DDL on the source: the coordinator decides
         * (falls back or starts over); a retry would find the same. */
        if (rc == FERRY_ERR_NOT_FOUND || rc == FERRY_ERR_NO_SPACE || rc == FERRY_ERR_UNSUPPORTED ||
            rc == FERRY_ERR_PERMISSION || rc == FERRY_ERR_CONFIG || rc == FERRY_ERR_CONFLICT ||
            rc == FERRY_ERR_INVALID)
            ferry_step_set_retryable(ctx, false);
        goto out;
    }
    report_results(ctx, &report);
    /* A difference found by verify, a target holding data Ferry did not write, or a target in
     * use, needs a person (or overwrite), not a retry. */
    if (rc == FERRY_ERR_CONFLICT || rc == FERRY_ERR_BUSY)
        ferry_step_set_retryable(ctx, false);
out:
    dr_report_cleanup(&report);
    free(src_pw);
    free(tgt_pw);
    return rc;
}

/* ---- the command line ---------------------------------------------------------------------- */

/* One operation's command line. */
typedef struct cli_args {
    const char *op; /* copy, verify, logical-... */
    const char *source, *target, *src_secret, *tgt_secret, *pg_bin, *slot;
    int64_t jobs, split, max_wal;
    bool verify, overwrite, as_json, help, caught_up, full_verify;
} cli_args;

static void usage(FILE *out, const ferry_opt *table)
{
    (void)fprintf(out,
                  "usage: ferry-dump-restore [--check-config | --version | --help]\n"
                  "           run as a worker of the dump_restore kind (see README.md)\n"
                  "       ferry-dump-restore copy|verify --source CONNINFO --target CONNINFO\n"
                  "           [options]\n"
                  "\n"
                  "copy    replaces the target database's schemas with the source's, owners,\n"
                  "        privileges, rows, sequences and large objects included\n"
                  "        (docs/dump-restore.md)\n"
                  "verify  compares rows, schema, sequences and large objects; exit 1 on a\n"
                  "        difference\n"
                  "logical-check   says whether the source allows the logical method\n"
                  "logical-start   creates the publication and slot --slot and copies under\n"
                  "                its snapshot (docs/logical-replication.md)\n"
                  "logical-stream  applies the slot's changes to the target until stopped\n"
                  "                (SIGINT, SIGTERM) or, with --until-caught-up, caught up\n"
                  "logical-finish  (source app stopped) catches up, brings sequences, large\n"
                  "                objects and unlogged tables over, verifies, drops the\n"
                  "                mark, the slot and the publication\n"
                  "logical-drop    drops the slot and publication on the source\n"
                  "\n"
                  "CONNINFO is a libpq URL or keyword string without a password. Passwords come\n"
                  "from FERRY_SECRET_<NAME> (or _FILE) for --source-secret/--target-secret NAME,\n"
                  "else from libpq's own PGPASSFILE or ~/.pgpass.\n"
                  "\n"
                  "options:\n");
    ferry_opts_usage(table, out);
}

static volatile sig_atomic_t cli_stop_requested;

static void cli_on_signal(int sig)
{
    (void)sig;
    cli_stop_requested = 1;
}

static bool cli_stopping(void *ud)
{
    (void)ud;
    /* copy and verify: SIGINT ends the process, the target stays marked incomplete; a stream
     * ends at the next message, keeping what the target committed. */
    return cli_stop_requested != 0;
}

static void cli_stream_progress(void *ud, const dr_stream_report *r)
{
    (void)ud;
    char held[24], at[24];
    dr_po_lsn_format(r->committed_lsn, held);
    dr_po_lsn_format(r->source_lsn, at);
    (void)fprintf(stderr,
                  "ferry-dump-restore: applied %s of %s, lag %" PRIu64 " bytes %.1f s, %" PRIu64
                  " transactions, slot keeps %" PRIu64 " bytes\n",
                  held, at, r->lag_bytes, (double)r->lag_ms / 1000.0, r->stats.transactions,
                  r->slot_retained_bytes);
}

/* logical-check, -stream and -drop; returns the exit code. */
static int cli_logical(const cli_args *a, const dr_options *opts, ferry_err *err)
{
    ferry_rc rc;
    if (strcmp(a->op, "logical-check") == 0) {
        rc = dr_logical_check(opts, err);
        if (rc == FERRY_OK)
            (void)printf("logical-check: the source allows the logical method\n");
    } else if (strcmp(a->op, "logical-drop") == 0) {
        rc = dr_logical_drop(opts, a->slot, err);
        if (rc == FERRY_OK)
            (void)printf("logical-drop: slot and publication %s are gone\n", a->slot);
    } else {
        struct sigaction sa = {.sa_handler = cli_on_signal};
        (void)sigaction(SIGINT, &sa, NULL);
        (void)sigaction(SIGTERM, &sa, NULL);
        dr_stream_options so = {.slot = a->slot,
                                .until_current = a->caught_up,
                                .max_retained_bytes = a->max_wal,
                                .progress = a->as_json ? NULL : cli_stream_progress};
        dr_stream_report r;
        rc = dr_logical_stream(opts, &so, &r, err);
        if (rc == FERRY_ERR_CANCELLED)
            rc = FERRY_OK; /* asked to stop: what the target committed is kept */
        char from[24], to[24];
        dr_po_lsn_format(r.start_lsn, from);
        dr_po_lsn_format(r.committed_lsn, to);
        if (a->as_json)
            (void)printf("{\"ok\": %s, \"start_lsn\": \"%s\", \"committed_lsn\": \"%s\", "
                         "\"transactions\": %" PRIu64 ", \"inserts\": %" PRIu64
                         ", \"updates\": %" PRIu64 ", \"deletes\": %" PRIu64
                         ", \"truncates\": %" PRIu64 ", \"skipped\": %" PRIu64
                         ", \"lag_bytes\": %" PRIu64 ", \"duration_ms\": %" PRId64 "}\n",
                         rc == FERRY_OK ? "true" : "false", from, to, r.stats.transactions,
                         r.stats.inserts, r.stats.updates, r.stats.deletes, r.stats.truncates,
                         r.stats.skipped, r.lag_bytes, r.ms_total);
        else if (rc == FERRY_OK)
            (void)printf("logical-stream: applied %s to %s, %" PRIu64 " transactions in %.1f s\n",
                         from, to, r.stats.transactions, (double)r.ms_total / 1000.0);
    }
    if (rc != FERRY_OK) {
        (void)fprintf(stderr, "ferry-dump-restore: %s failed (%s): %s\n", a->op, ferry_rc_str(rc),
                      err->msg);
        return EXIT_FAILED;
    }
    return 0;
}

static void cli_progress(void *ud, const dr_progress *p)
{
    static const char *last;
    bool *tty = ud;
    if (!*tty) {
        if (p->phase != last)
            (void)fprintf(stderr, "ferry-dump-restore: %s\n", p->phase);
        last = p->phase;
        return;
    }
    (void)fprintf(stderr, "\r%-14s tables %" PRIu64 "/%" PRIu64 "  rows %" PRIu64 "  %.1f MB   ",
                  p->phase, p->tables_done, p->tables_total, p->rows,
                  (double)p->bytes_done / (1024.0 * 1024.0));
    last = p->phase;
}

/* Runs one operation; returns the exit code. */
static int cli_run(const cli_args *a)
{
    const char *op = a->op;
    ferry_log_init("ferry-dump-restore", FERRY_LOG_KV, FERRY_LOG_WARN, 2);
    ferry_err err = {0};
    char *src_pw = NULL, *tgt_pw = NULL;
    int status = EXIT_FAILED;
    dr_report report;
    if (dr_report_init(&report) != FERRY_OK)
        return EXIT_FAILED;
    if ((a->src_secret != NULL && ferry_secret_get(a->src_secret, &src_pw, &err) != FERRY_OK) ||
        (a->tgt_secret != NULL && ferry_secret_get(a->tgt_secret, &tgt_pw, &err) != FERRY_OK)) {
        (void)fprintf(stderr, "ferry-dump-restore: %s\n", err.msg);
        status = EXIT_CONFIG;
        goto out;
    }
    bool tty = isatty(fileno(stderr)) != 0;
    dr_options opts = {.source = {.conninfo = a->source, .password = src_pw, .label = "source"},
                       .target = {.conninfo = a->target, .password = tgt_pw, .label = "target"},
                       .jobs = (int)a->jobs,
                       .split_bytes = a->split,
                       .pg_bin = a->pg_bin,
                       .verify = a->verify || strcmp(op, "verify") == 0,
                       .overwrite = a->overwrite,
                       .full_verify = a->full_verify,
                       .started_by = "ferry-dump-restore (command line)",
                       .stop = {.stopping = cli_stopping},
                       .progress = a->as_json ? NULL : cli_progress,
                       .progress_ud = &tty};
    bool logical = strncmp(op, "logical-", 8) == 0;
    if (a->target == NULL && strcmp(op, "logical-check") != 0 && strcmp(op, "logical-drop") != 0) {
        (void)fprintf(stderr, "ferry-dump-restore: %s: --target is required\n", op);
        status = EXIT_USAGE;
        goto out;
    }
    if (logical && strcmp(op, "logical-check") != 0 && !dr_logical_slot_name_ok(a->slot)) {
        (void)fprintf(stderr, "ferry-dump-restore: --slot: lowercase letters, digits and "
                              "underscores, at most 63\n");
        status = EXIT_USAGE;
        goto out;
    }
    if (logical && strcmp(op, "logical-start") != 0 && strcmp(op, "logical-finish") != 0) {
        status = cli_logical(a, &opts, &err);
        goto out;
    }
    ferry_rc rc;
    dr_stream_report stream;
    if (strcmp(op, "copy") == 0)
        rc = dr_copy(&opts, &report, &err);
    else if (strcmp(op, "logical-start") == 0)
        rc = dr_logical_start(&opts, a->slot, &report, &err);
    else if (strcmp(op, "logical-finish") == 0)
        rc = dr_logical_finish(&opts, a->slot, &report, &stream, &err);
    else
        rc = dr_verify(&opts, &report, &err);
    if (tty && !a->as_json)
        (void)fputc('\n', stderr);
    json_t *j = report_json(&report);
    if (a->as_json && j != NULL) {
        (void)json_object_set_new(j, "ok", json_boolean(rc == FERRY_OK));
        if (rc != FERRY_OK)
            (void)json_object_set_new(
                j, "error", json_pack("{s:s, s:s}", "code", ferry_rc_str(rc), "message", err.msg));
        (void)json_dumpf(j, stdout, JSON_INDENT(2));
        (void)fputc('\n', stdout);
    } else if (rc == FERRY_OK) {
        (void)printf("%s: %" PRIu64 " tables, %" PRIu64 " rows, %.1f MB in %.1f s%s\n", op,
                     report.tables, report.rows, (double)report.bytes / (1024.0 * 1024.0),
                     (double)report.ms_total / 1000.0,
                     report.verified == 1 ? "; verified equal" : "");
    }
    json_decref(j);
    if (rc != FERRY_OK) {
        (void)fprintf(stderr, "ferry-dump-restore: %s failed (%s): %s\n", op, ferry_rc_str(rc),
                      err.msg);
        if (report.n_differences > 0) {
            char *d = json_dumps(report.differences, JSON_INDENT(2));
            if (d != NULL)
                (void)fprintf(stderr, "differences: %s\n", d);
            free(d);
        }
        status = EXIT_FAILED;
    } else {
        status = 0;
    }
out:
    dr_report_cleanup(&report);
    free(src_pw);
    free(tgt_pw);
    return status;
}

static int cli_main(int argc, char **argv)
{
    cli_args a = {.op = argv[1], .slot = "ferry"};
    /* clang-format off */
    const ferry_opt table[] = {
        {.name = "source", .kind = FERRY_OPT_STRING, .flags = FERRY_OPT_REQUIRED, .dest = &a.source,
         .arg = "CONNINFO", .help = "the source database"},
        {.name = "target", .kind = FERRY_OPT_STRING, .dest = &a.target,
         .arg = "CONNINFO", .help = "the target database (all but logical-check and -drop)"},
        {.name = "source-secret", .kind = FERRY_OPT_STRING, .dest = &a.src_secret, .arg = "NAME",
         .help = "the source's password is FERRY_SECRET_<NAME> (or _FILE)"},
        {.name = "target-secret", .kind = FERRY_OPT_STRING, .dest = &a.tgt_secret, .arg = "NAME",
         .help = "the target's password is FERRY_SECRET_<NAME> (or _FILE)"},
        {.name = "jobs", .kind = FERRY_OPT_INT, .dest = &a.jobs, .min = 1, .max = 64, .def = "2",
         .help = "parallel COPY streams and index builds"},
        {.name = "split", .kind = FERRY_OPT_SIZE, .dest = &a.split, .min = 1024 * 1024,
         .max = INT64_MAX, .def = "256M", .help = "copy a table larger than SIZE as ranges"},
        {.name = "pg-bin", .kind = FERRY_OPT_STRING, .dest = &a.pg_bin, .arg = "DIR",
         .help = "where pg_dump and pg_restore are (default: the newest\n"
                 "/usr/lib/postgresql/*/bin, else PATH)"},
        {.name = "verify", .kind = FERRY_OPT_FLAG, .dest = &a.verify,
         .help = "(copy) verify against the copy's snapshot at the end"},
        {.name = "overwrite", .kind = FERRY_OPT_FLAG, .dest = &a.overwrite,
         .help = "(copy) replace a target holding data Ferry did not write\n"
                 "(without it such a target is refused, nothing changed)"},
        {.name = "slot", .kind = FERRY_OPT_STRING, .dest = &a.slot, .arg = "NAME",
         .help = "(logical-*) the replication slot and publication (default ferry)"},
        {.name = "until-caught-up", .kind = FERRY_OPT_FLAG, .dest = &a.caught_up,
         .help = "(logical-stream) stop once the target holds what the source\n"
                 "had committed when the stream started"},
        {.name = "max-retained-wal", .kind = FERRY_OPT_SIZE, .dest = &a.max_wal, .min = 0,
         .max = INT64_MAX, .def = "0",
         .help = "(logical-stream) drop the slot and fail once it keeps more\n"
                 "WAL than SIZE on the source (0: no limit)"},
        {.name = "full-verify", .kind = FERRY_OPT_FLAG, .dest = &a.full_verify,
         .help = "(logical-finish) verify every row, not only those the\n"
                 "stream changed since the verified copy"},
        {.name = "json", .kind = FERRY_OPT_FLAG, .dest = &a.as_json,
         .help = "print the report as JSON instead of a summary"},
        {.name = "help", .kind = FERRY_OPT_FLAG, .flags = FERRY_OPT_STOP, .dest = &a.help,
         .help = "print this help"},
        {.name = NULL},
    };
    /* clang-format on */
    int status =
        ferry_opts_cli(table, argc - 1, argv + 1, "ferry-dump-restore", a.op, usage, &a.help);
    return status >= 0 ? status : cli_run(&a);
}

int main(int argc, char **argv)
{
    static const char *const ops[] = {"copy",          "verify",         "logical-check",
                                      "logical-start", "logical-stream", "logical-finish",
                                      "logical-drop"};
    for (size_t i = 0; argc >= 2 && i < sizeof(ops) / sizeof(ops[0]); i++)
        if (strcmp(argv[1], ops[i]) == 0)
            return cli_main(argc, argv);
    ferry_worker_def def = {.kind = FERRY__V1__STEP_KIND__STEP_KIND_DUMP_RESTORE,
                            .component = FERRY_COMP_DUMP_RESTORE,
                            .name = "ferry-dump-restore",
                            .execute = execute};
    return ferry_worker_main(argc, argv, &def);
}
