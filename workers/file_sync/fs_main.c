/*
 * fs_main.c - ferry-file-sync: a worker of the file_sync kind (no arguments), or one pass or
 * verify from the command line (`ferry-file-sync sync|verify ...`). Parses, resolves secrets,
 * and hands over to filesync_pass() / filesync_verify().
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ferry/config.h"
#include "ferry/log.h"
#include "ferry/opts.h"
#include "ferry/worker.h"
#include "fs.h"

#define EXIT_FAILED 1
#define EXIT_USAGE  2
#define EXIT_CONFIG 3

/* ---- a location from its parts --------------------------------------------------------------*/

/* Owns what a location borrows: prefix with its slash, resolved secrets. */
typedef struct loc_store {
    char *prefix;
    char *access_key, *secret_key;
} loc_store;

static void loc_store_cleanup(loc_store *s)
{
    free(s->prefix);
    free(s->access_key);
    free(s->secret_key);
    memset(s, 0, sizeof(*s));
}

/* "" stays ""; "a/b" becomes "a/b/"; a leading '/' is dropped. */
static ferry_rc prefix_norm(const char *prefix, loc_store *s, const char **out, ferry_err *err)
{
    if (prefix == NULL)
        prefix = "";
    while (*prefix == '/')
        prefix++;
    size_t len = strlen(prefix);
    s->prefix = malloc(len + 2);
    if (s->prefix == NULL)
        return ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
    memcpy(s->prefix, prefix, len + 1);
    if (len > 0 && prefix[len - 1] != '/') {
        s->prefix[len] = '/';
        s->prefix[len + 1] = '\0';
    }
    *out = s->prefix;
    return FERRY_OK;
}

/* A secret by name, else the fallback value (copied); CONFIG when neither. */
static ferry_rc secret_or(const char *name, const char *fallback, const char *what, char **out,
                          ferry_err *err)
{
    *out = NULL;
    if (name != NULL && name[0] != '\0')
        return ferry_secret_get(name, out, err);
    if (fallback == NULL)
        return ferry_err_set(err, FERRY_ERR_CONFIG,
                             "no %s: name a secret, or set FERRY_S3_ACCESS_KEY and "
                             "FERRY_S3_SECRET_KEY",
                             what);
    *out = strdup(fallback);
    return *out == NULL ? ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory") : FERRY_OK;
}

/* Parses "s3://bucket/prefix" into bucket (copied into bucket, size bsz) and prefix. */
static bool s3_url_parse(const char *url, char *bucket, size_t bsz, const char **prefix)
{
    if (strncmp(url, "s3://", 5) != 0)
        return false;
    const char *b = url + 5;
    const char *slash = strchr(b, '/');
    size_t blen = slash != NULL ? (size_t)(slash - b) : strlen(b);
    if (blen == 0 || blen >= bsz)
        return false;
    memcpy(bucket, b, blen);
    bucket[blen] = '\0';
    *prefix = slash != NULL ? slash + 1 : "";
    return true;
}

/* A pass, then (when asked, and the pass succeeded) a verify whose findings join its report. */
static ferry_rc pass_then_verify(const filesync_options *opts, bool verify, filesync_report *report,
                                 ferry_err *err)
{
    ferry_rc rc = filesync_pass(opts, report, err);
    if (rc != FERRY_OK || !verify)
        return rc;
    filesync_report vr;
    filesync_report_init(&vr);
    rc = filesync_verify(opts, &vr, err);
    report->verified = vr.verified;
    report->n_missing = vr.n_missing;
    report->n_different = vr.n_different;
    report->hashed_bytes += vr.hashed_bytes;
    report->differences = vr.differences;
    vr.differences = NULL;
    filesync_report_cleanup(&vr);
    return rc;
}

/* ---- the worker -----------------------------------------------------------------------------*/

static bool step_stopping(void *ud)
{
    return ferry_step_stopping(ud);
}

typedef struct step_ud {
    ferry_step_ctx *ctx;
    uint32_t pass;
    char detail[96];
} step_ud;

static void step_progress(void *ud, const filesync_progress *p)
{
    step_ud *s = ud;
    if (s->pass > 0)
        (void)snprintf(s->detail, sizeof(s->detail), "pass %" PRIu32 ": %s", s->pass, p->phase);
    else
        (void)snprintf(s->detail, sizeof(s->detail), "%s", p->phase);
    ferry_step_progress p2 = {.done = p->files_done,
                              .total = p->files_total,
                              .unit = "files",
                              .bytes_done = p->bytes_done,
                              .bytes_total = p->bytes_total,
                              .detail = s->detail};
    ferry_step_progress_set(s->ctx, &p2);
}

static void result_u64(ferry_step_ctx *ctx, const char *name, uint64_t v)
{
    char text[32];
    (void)snprintf(text, sizeof(text), "%" PRIu64, v);
    (void)ferry_step_result(ctx, name, text);
}

static void report_results(ferry_step_ctx *ctx, const filesync_report *r, bool pass)
{
    if (pass) {
        /* The coordinator's names: files_synced of files_total reached means 100%. */
        uint64_t synced = r->unchanged + r->adopted + r->uploaded;
        result_u64(ctx, "files_total", r->files);
        result_u64(ctx, "files_synced", synced > r->files ? r->files : synced);
        result_u64(ctx, "bytes_total", r->bytes);
        result_u64(ctx, "bytes_synced", r->errors == 0 ? r->bytes : 0);
        result_u64(ctx, "uploaded", r->uploaded);
        result_u64(ctx, "uploaded_bytes", r->uploaded_bytes);
        result_u64(ctx, "unchanged", r->unchanged);
        result_u64(ctx, "adopted", r->adopted);
        result_u64(ctx, "deleted", r->deleted);
        result_u64(ctx, "changed_during", r->changed_during);
        result_u64(ctx, "retries", r->retries);
        result_u64(ctx, "requests", r->requests);
        (void)ferry_step_result(ctx, "target_listed", r->target_listed ? "true" : "false");
    }
    result_u64(ctx, "files", r->files);
    result_u64(ctx, "bytes", r->bytes);
    result_u64(ctx, "extra", r->extra);
    result_u64(ctx, "skipped", r->skipped);
    result_u64(ctx, "errors", r->errors);
    result_u64(ctx, "hashed_bytes", r->hashed_bytes);
    result_u64(ctx, "duration_ms", (uint64_t)r->ms_total);
    if (r->verified >= 0) {
        (void)ferry_step_result(ctx, "verified", r->verified == 1 ? "true" : "false");
        result_u64(ctx, "n_missing", r->n_missing);
        result_u64(ctx, "n_different", r->n_different);
        if (r->differences != NULL)
            (void)ferry_step_result(ctx, "differences", r->differences);
    }
}

/* Fills loc from a FileStore of the step, with the worker's settings as defaults. */
static ferry_rc loc_from_wire(const Ferry__V1__FileStore *fst, const ferry_cfg *cfg,
                              const char *side, bool target, filesync_location *loc, loc_store *s,
                              ferry_err *err)
{
    memset(loc, 0, sizeof(*loc));
    if (fst == NULL)
        return ferry_err_set(err, FERRY_ERR_INVALID, "the step has no %s", side);
    if (fst->location_case == FERRY__V1__FILE_STORE__LOCATION_DIRECTORY) {
        if (target)
            return ferry_err_set(err, FERRY_ERR_UNSUPPORTED,
                                 "the target must be an S3 bucket, not a directory");
        if (fst->directory == NULL || fst->directory[0] == '\0')
            return ferry_err_set(err, FERRY_ERR_INVALID, "the %s directory is empty", side);
        loc->dir = fst->directory;
        return FERRY_OK;
    }
    const Ferry__V1__S3Location *l = fst->s3;
    if (fst->location_case != FERRY__V1__FILE_STORE__LOCATION_S3 || l == NULL)
        return ferry_err_set(err, FERRY_ERR_INVALID, "the %s has no location", side);
    loc->endpoint = l->endpoint != NULL && l->endpoint[0] != '\0'
                        ? l->endpoint
                        : ferry_cfg_str(cfg, "s3.endpoint");
    loc->region =
        l->region != NULL && l->region[0] != '\0' ? l->region : ferry_cfg_str(cfg, "s3.region");
    loc->bucket = l->bucket;
    ferry_rc rc = prefix_norm(l->prefix, s, &loc->prefix, err);
    if (rc == FERRY_OK)
        rc = secret_or(l->access_key != NULL ? l->access_key->name : NULL,
                       ferry_cfg_str(cfg, "s3.access_key"), "S3 access key", &s->access_key, err);
    if (rc == FERRY_OK)
        rc = secret_or(l->secret_key != NULL ? l->secret_key->name : NULL,
                       ferry_cfg_str(cfg, "s3.secret_key"), "S3 secret key", &s->secret_key, err);
    if (rc != FERRY_OK)
        return ferry_err_prefix(err, "the %s", side);
    loc->access_key = s->access_key;
    loc->secret_key = s->secret_key;
    return FERRY_OK;
}

static ferry_rc execute(ferry_step_ctx *ctx, const Ferry__V1__StepCommand *cmd, void *ud,
                        ferry_err *err)
{
    (void)ud;
    ferry_rc rc = FERRY_OK;
    loc_store ss = {0}, ts = {0};
    filesync_report report;
    filesync_report_init(&report);
    const Ferry__V1__FileSyncParams *p = cmd->file_sync;
    const ferry_cfg *cfg = ferry_step_config(ctx);
    if (cmd->params_case != FERRY__V1__STEP_COMMAND__PARAMS_FILE_SYNC || p == NULL)
        return ferry_err_set(err, FERRY_ERR_INVALID, "the step has no file-sync parameters");
    step_ud sud = {.ctx = ctx, .pass = p->pass};
    filesync_options opts = {
        .concurrency = p->concurrency > 0 ? (int)p->concurrency
                                          : (int)ferry_cfg_int(cfg, "file_sync.concurrency"),
        .multipart_threshold = p->multipart_threshold > 0
                                   ? p->multipart_threshold
                                   : (uint64_t)ferry_cfg_int(cfg, "file_sync.multipart_threshold"),
        .part_size =
            p->part_size > 0 ? p->part_size : (uint64_t)ferry_cfg_int(cfg, "file_sync.part_size"),
        .delete_extra = p->delete_,
        .stopping = step_stopping,
        .stop_ud = ctx,
        .progress = step_progress,
        .progress_ud = &sud,
        .generation = ferry_step_claimed_ms(ctx)};
    if (opts.concurrency > 256)
        opts.concurrency = 256;
    if (opts.part_size < 5ULL * 1024 * 1024) {
        rc = ferry_err_set(err, FERRY_ERR_INVALID, "part size %" PRIu64 " is under 5 MiB",
                           opts.part_size);
        goto out;
    }
    rc = loc_from_wire(p->source, cfg, "source", false, &opts.source, &ss, err);
    if (rc == FERRY_OK)
        rc = loc_from_wire(p->target, cfg, "target", true, &opts.target, &ts, err);
    if (rc != FERRY_OK)
        goto out;
    switch (cmd->operation) {
    case FERRY__V1__OPERATION__OPERATION_FILE_SYNC_PASS:
        rc = pass_then_verify(&opts, p->verify, &report, err);
        report_results(ctx, &report, true);
        break;
    case FERRY__V1__OPERATION__OPERATION_FILE_SYNC_VERIFY:
        rc = filesync_verify(&opts, &report, err);
        report_results(ctx, &report, false);
        break;
    default:
        rc = ferry_err_set(err, FERRY_ERR_INVALID, "operation %d is not a file-sync one",
                           (int)cmd->operation);
        break;
    }
    /* A difference found by verify needs a person; so do a wrong key and a missing bucket. */
    if (rc == FERRY_ERR_CONFLICT)
        ferry_step_set_retryable(ctx, false);
out:
    filesync_report_cleanup(&report);
    loc_store_cleanup(&ss);
    loc_store_cleanup(&ts);
    return rc;
}

/* ---- the command line ---------------------------------------------------------------------- */

/* One sync or verify's command line. */
typedef struct cli_args {
    const char *op; /* sync or verify */
    const char *source, *target, *endpoint, *src_endpoint, *region, *ak_name, *sk_name;
    int64_t concurrency, threshold, part;
    bool del, verify, as_json, help;
} cli_args;

static void usage(FILE *out, const ferry_opt *table)
{
    (void)fprintf(
        out,
        "usage: ferry-file-sync [--check-config | --version | --help]\n"
        "           run as a worker of the file_sync kind (see README.md)\n"
        "       ferry-file-sync sync|verify --source DIR|s3://BUCKET/PREFIX\n"
        "           --target s3://BUCKET/PREFIX [options]\n"
        "\n"
        "sync    one pass: sends what is new or changed since the last pass (the manifest is\n"
        "        kept in the target bucket under .ferry/); --delete removes target objects the\n"
        "        source no longer has, unless the pass had errors\n"
        "verify  checks every source file is on the target with the same size and checksum\n"
        "\n"
        "The endpoint defaults to FERRY_S3_ENDPOINT, the region to FERRY_S3_REGION. The keys\n"
        "come from FERRY_SECRET_<NAME> for --access-key-secret/--secret-key-secret, else from\n"
        "FERRY_S3_ACCESS_KEY and FERRY_S3_SECRET_KEY (an S3 source uses the same keys).\n"
        "\n"
        "options:\n");
    ferry_opts_usage(table, out);
}

static bool cli_stopping(void *ud)
{
    (void)ud;
    return false; /* SIGINT ends the process; the manifest holds what finished before it */
}

static void cli_progress(void *ud, const filesync_progress *p)
{
    bool *tty = ud;
    if (!*tty)
        return;
    (void)fprintf(stderr, "\r%-13s files %" PRIu64 "/%" PRIu64 "  %.1f/%.1f MB   ", p->phase,
                  p->files_done, p->files_total, (double)p->bytes_done / 1048576.0,
                  (double)p->bytes_total / 1048576.0);
}

static json_t *report_json(const filesync_report *r)
{
    json_t *j = json_pack(
        "{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "files",
        (json_int_t)r->files, "bytes", (json_int_t)r->bytes, "uploaded", (json_int_t)r->uploaded,
        "uploaded_bytes", (json_int_t)r->uploaded_bytes, "unchanged", (json_int_t)r->unchanged,
        "adopted", (json_int_t)r->adopted, "deleted", (json_int_t)r->deleted, "extra",
        (json_int_t)r->extra, "changed_during", (json_int_t)r->changed_during, "skipped",
        (json_int_t)r->skipped, "errors", (json_int_t)r->errors, "retries", (json_int_t)r->retries,
        "requests", (json_int_t)r->requests, "hashed_bytes", (json_int_t)r->hashed_bytes, "ms_list",
        (json_int_t)r->ms_list, "ms_transfer", (json_int_t)r->ms_transfer, "ms_total",
        (json_int_t)r->ms_total);
    if (j != NULL)
        (void)json_object_set_new(j, "target_listed", json_boolean(r->target_listed));
    if (j != NULL && r->verified >= 0) {
        (void)json_object_set_new(j, "verified", json_boolean(r->verified == 1));
        (void)json_object_set_new(j, "n_missing", json_integer((json_int_t)r->n_missing));
        (void)json_object_set_new(j, "n_different", json_integer((json_int_t)r->n_different));
        if (r->differences != NULL)
            (void)json_object_set_new(j, "differences", json_string(r->differences));
    }
    return j;
}

/* Runs one sync or verify; returns the exit code. */
static int cli_run(const cli_args *a)
{
    const char *op = a->op, *endpoint = a->endpoint, *src_endpoint = a->src_endpoint,
               *region = a->region;
    char tbucket[256], sbucket[256];
    const char *tprefix = NULL, *sprefix = NULL;
    if (!s3_url_parse(a->target, tbucket, sizeof(tbucket), &tprefix)) {
        (void)fprintf(stderr, "ferry-file-sync: --target: s3://BUCKET[/PREFIX]\n");
        return EXIT_USAGE;
    }
    bool src_s3 = strncmp(a->source, "s3://", 5) == 0;
    if (src_s3 && !s3_url_parse(a->source, sbucket, sizeof(sbucket), &sprefix)) {
        (void)fprintf(stderr, "ferry-file-sync: --source: a directory or s3://BUCKET[/PREFIX]\n");
        return EXIT_USAGE;
    }
    ferry_log_init("ferry-file-sync", FERRY_LOG_KV, FERRY_LOG_WARN, 2);
    if (endpoint == NULL)
        endpoint = getenv("FERRY_S3_ENDPOINT");
    if (region == NULL)
        region = getenv("FERRY_S3_REGION");
    if (src_endpoint == NULL)
        src_endpoint = endpoint;

    ferry_err err = {0};
    int status = EXIT_FAILED;
    loc_store ss = {0}, ts = {0};
    char *ak = NULL, *sk = NULL;
    filesync_report report;
    filesync_report_init(&report);
    ferry_rc rc = secret_or(a->ak_name, getenv("FERRY_S3_ACCESS_KEY"), "S3 access key", &ak, &err);
    if (rc == FERRY_OK)
        rc = secret_or(a->sk_name, getenv("FERRY_S3_SECRET_KEY"), "S3 secret key", &sk, &err);
    if (rc == FERRY_OK && (endpoint == NULL || endpoint[0] == '\0'))
        rc = ferry_err_set(&err, FERRY_ERR_CONFIG,
                           "no S3 endpoint: --endpoint or FERRY_S3_ENDPOINT");
    if (rc != FERRY_OK) {
        (void)fprintf(stderr, "ferry-file-sync: %s\n", err.msg);
        status = EXIT_CONFIG;
        goto out;
    }
    bool tty = isatty(fileno(stderr)) != 0 && !a->as_json;
    filesync_options opts = {.target = {.endpoint = endpoint,
                                        .region = region,
                                        .bucket = tbucket,
                                        .access_key = ak,
                                        .secret_key = sk},
                             .concurrency = (int)a->concurrency,
                             .multipart_threshold = (uint64_t)a->threshold,
                             .part_size = (uint64_t)a->part,
                             .delete_extra = a->del,
                             .stopping = cli_stopping,
                             .progress = cli_progress,
                             .progress_ud = &tty};
    if (src_s3)
        opts.source = (filesync_location){.endpoint = src_endpoint,
                                          .region = region,
                                          .bucket = sbucket,
                                          .access_key = ak,
                                          .secret_key = sk};
    else
        opts.source.dir = a->source;
    rc = prefix_norm(tprefix, &ts, &opts.target.prefix, &err);
    if (rc == FERRY_OK && src_s3)
        rc = prefix_norm(sprefix, &ss, &opts.source.prefix, &err);
    if (rc == FERRY_OK && strcmp(op, "sync") == 0) {
        rc = pass_then_verify(&opts, a->verify, &report, &err);
    } else if (rc == FERRY_OK) {
        rc = filesync_verify(&opts, &report, &err);
    }
    if (tty)
        (void)fputc('\n', stderr);
    json_t *j = report_json(&report);
    if (a->as_json && j != NULL) {
        (void)json_object_set_new(j, "ok", json_boolean(rc == FERRY_OK));
        if (rc != FERRY_OK)
            (void)json_object_set_new(
                j, "error", json_pack("{s:s,s:s}", "code", ferry_rc_str(rc), "message", err.msg));
        (void)json_dumpf(j, stdout, JSON_INDENT(2));
        (void)fputc('\n', stdout);
    } else if (rc == FERRY_OK && strcmp(op, "sync") == 0) {
        (void)printf("sync: %" PRIu64 " files (%.1f MB): %" PRIu64 " sent (%.1f MB), %" PRIu64
                     " unchanged, %" PRIu64 " already there, %" PRIu64 " deleted in %.2f s%s\n",
                     report.files, (double)report.bytes / 1048576.0, report.uploaded,
                     (double)report.uploaded_bytes / 1048576.0, report.unchanged, report.adopted,
                     report.deleted, (double)report.ms_total / 1000.0,
                     report.verified == 1 ? "; verified equal" : "");
    } else if (rc == FERRY_OK) {
        (void)printf("verify: %" PRIu64 " files (%.1f MB) on the target, equal\n", report.files,
                     (double)report.bytes / 1048576.0);
    }
    json_decref(j);
    if (rc != FERRY_OK) {
        (void)fprintf(stderr, "ferry-file-sync: %s failed (%s): %s\n", op, ferry_rc_str(rc),
                      err.msg);
        if (report.differences != NULL && !a->as_json)
            (void)fprintf(stderr, "differences:\n%s", report.differences);
        status = EXIT_FAILED;
    } else {
        status = 0;
    }
out:
    filesync_report_cleanup(&report);
    loc_store_cleanup(&ss);
    loc_store_cleanup(&ts);
    free(ak);
    free(sk);
    return status;
}

static int cli_main(int argc, char **argv)
{
    cli_args a = {.op = argv[1]};
    /* clang-format off */
    const ferry_opt table[] = {
        {.name = "source", .kind = FERRY_OPT_STRING, .flags = FERRY_OPT_REQUIRED, .dest = &a.source,
         .arg = "LOCATION", .help = "the files: a directory, or s3://BUCKET[/PREFIX]"},
        {.name = "target", .kind = FERRY_OPT_STRING, .flags = FERRY_OPT_REQUIRED, .dest = &a.target,
         .arg = "S3URL", .help = "where they go: s3://BUCKET[/PREFIX]"},
        {.name = "endpoint", .kind = FERRY_OPT_STRING, .dest = &a.endpoint, .arg = "URL",
         .help = "the S3 endpoint (default FERRY_S3_ENDPOINT)"},
        {.name = "source-endpoint", .kind = FERRY_OPT_STRING, .dest = &a.src_endpoint, .arg = "URL",
         .help = "an S3 source's endpoint (default --endpoint)"},
        {.name = "region", .kind = FERRY_OPT_STRING, .dest = &a.region, .arg = "R",
         .help = "the SigV4 region (default FERRY_S3_REGION)"},
        {.name = "access-key-secret", .kind = FERRY_OPT_STRING, .dest = &a.ak_name, .arg = "NAME",
         .help = "the access key is FERRY_SECRET_<NAME> (or _FILE)"},
        {.name = "secret-key-secret", .kind = FERRY_OPT_STRING, .dest = &a.sk_name, .arg = "NAME",
         .help = "the secret key is FERRY_SECRET_<NAME> (or _FILE)"},
        {.name = "concurrency", .kind = FERRY_OPT_INT, .dest = &a.concurrency, .min = 1, .max = 256,
         .def = "16", .help = "transfers at once"},
        {.name = "multipart-threshold", .kind = FERRY_OPT_SIZE, .dest = &a.threshold, .min = 1,
         .max = INT64_MAX, .def = "64M", .help = "files this large go in parts"},
        {.name = "part-size", .kind = FERRY_OPT_SIZE, .dest = &a.part, .min = 5LL << 20,
         .max = 5LL << 30, .def = "16M", .help = "part size, 5M to 5G"},
        {.name = "delete", .kind = FERRY_OPT_FLAG, .dest = &a.del,
         .help = "(sync) remove target objects the source no longer has"},
        {.name = "verify", .kind = FERRY_OPT_FLAG, .dest = &a.verify,
         .help = "(sync) verify the target after the pass"},
        {.name = "json", .kind = FERRY_OPT_FLAG, .dest = &a.as_json,
         .help = "print the report as JSON instead of a summary"},
        {.name = "help", .kind = FERRY_OPT_FLAG, .flags = FERRY_OPT_STOP, .dest = &a.help,
         .help = "print this help"},
        {.name = NULL},
    };
    /* clang-format on */
    int status = ferry_opts_cli(table, argc - 1, argv + 1, "ferry-file-sync", a.op, usage, &a.help);
    return status >= 0 ? status : cli_run(&a);
}

int main(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "sync") == 0 || strcmp(argv[1], "verify") == 0))
        return cli_main(argc, argv);
    ferry_worker_def def = {.kind = FERRY__V1__STEP_KIND__STEP_KIND_FILE_SYNC,
                            .component = FERRY_COMP_FILE_SYNC,
                            .name = "ferry-file-sync",
                            .execute = execute};
    return ferry_worker_main(argc, argv, &def);
}
