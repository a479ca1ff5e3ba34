/*
 * fs.h - ferry-file-sync: one pass (list the source, compare with the target and the manifest,
 * transfer what is new or changed, optionally delete what the source no longer has) and verify
 * (every source file on the target with the same size and content checksum).
 *
 * The source is a directory tree or an S3 bucket/prefix; the target is an S3 bucket/prefix.
 * Transfers run on one thread, many at once (curl multi through ferry_s3_start). What was synced
 * is recorded in a manifest object next to the target (manifest.h), so that a pass over an
 * unchanged tree costs two listings. docs/file-sync.md describes the design.
 */
#ifndef FERRY_FS_H
#define FERRY_FS_H

#include <stdbool.h>
#include <stdint.h>

#include "ferry/error.h"

/* Where files are: a directory (dir set) or an S3 bucket and prefix. */
typedef struct filesync_location {
    const char *dir;        /* a directory tree; NULL for S3 */
    const char *endpoint;   /* http(s)://host:port */
    const char *region;     /* SigV4 region; NULL: us-east-1 */
    const char *bucket;     /* S3 bucket */
    const char *prefix;     /* "" or a prefix ending in '/' (added when missing) */
    const char *access_key; /* borrowed; never logged */
    const char *secret_key; /* borrowed; never logged */
} filesync_location;

/* Progress, as the pass goes (files and bytes of the whole tree: in sync + transferred). */
typedef struct filesync_progress {
    const char *phase; /* "listing", "comparing", "transferring", "deleting", "verifying" */
    uint64_t files_done, files_total;
    uint64_t bytes_done, bytes_total;
} filesync_progress;

typedef struct filesync_options {
    filesync_location source;
    filesync_location target;
    int concurrency;              /* transfers at once, 1..256 */
    uint64_t multipart_threshold; /* files at least this large go in parts */
    uint64_t part_size;           /* >= 5 MiB */
    bool delete_extra;            /* remove target objects the source does not have */
    bool (*stopping)(void *ud);   /* true: abort transfers and return CANCELLED; may be NULL */
    void *stop_ud;
    void (*progress)(void *ud, const filesync_progress *p); /* may be NULL; called often */
    void *progress_ud;
    int64_t generation; /* > 0: the attempt's claim time; the manifest is written only while no
                           newer attempt has written it (filesync_manifest_fence). 0: no fence
                           (the command line) */
} filesync_options;

/* What a pass or a verify did. Caller-owned; filesync_report_cleanup() frees what it holds. */
typedef struct filesync_report {
    uint64_t files, bytes;             /* source files (directory markers included) and bytes */
    uint64_t uploaded, uploaded_bytes; /* transferred this pass */
    uint64_t unchanged;                /* in sync per the manifest and the target listing */
    uint64_t adopted;                  /* already on the target (checked by hash), recorded */
    uint64_t deleted;                  /* target objects removed (delete_extra) */
    uint64_t extra;                    /* target objects the source does not have */
    uint64_t changed_during;           /* changed while being sent: the next pass sends them */
    uint64_t skipped;                  /* names S3 cannot hold, symlinks, special files */
    uint64_t errors;                   /* files that failed */
    uint64_t retries;                  /* requests sent again after a throttle or 5xx */
    uint64_t requests;                 /* S3 requests sent */
    uint64_t hashed_bytes;             /* read to compare content */
    bool target_listed; /* the target was listed (else the manifest vouched for it) */
    int64_t ms_list, ms_transfer, ms_total;
    /* verify */
    int verified;         /* 1 equal, 0 differences found, -1 not run */
    uint64_t n_missing;   /* source files absent on the target */
    uint64_t n_different; /* present, other size or checksum */
    char *differences;    /* up to 20 "key: why" lines; NULL when none */
    char *first_error;    /* the first file error's message; NULL when none */
} filesync_report;

void filesync_report_init(filesync_report *r);
void filesync_report_cleanup(filesync_report *r);

/* Runs one pass. OK when every file is on the target; else the most telling error (a fatal
 * one such as AUTH or NOT_FOUND for the bucket, or the first file error) with err filled. */
ferry_rc filesync_pass(const filesync_options *opts, filesync_report *report, ferry_err *err);

/* Checks every source file against the target: present, same size, same content checksum
 * (the target's ETag against the file's MD5, or its multipart ETag computed the same way).
 * CONFLICT when something differs (report->differences says what). */
ferry_rc filesync_verify(const filesync_options *opts, filesync_report *report, ferry_err *err);

#endif
