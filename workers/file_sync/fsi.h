/*
 * fsi.h - what the pass and verify share inside ferry-file-sync: the S3 clients of a run, the
 * source's listing and identity, and content checksums comparable with ETags.
 */
#ifndef FS_FSI_H
#define FS_FSI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/error.h"
#include "ferry/s3.h"
#include "fs.h"
#include "tree.h"

/* The clients of one run: the target's, and the source's when it is S3 (else NULL). Both
 * serve synchronous calls and requests started on the run's multi (same thread). */
typedef struct filesync_s3pair {
    ferry_s3 *src;
    ferry_s3 *dst;
    const filesync_options *opts;
    bool finishing; /* the last writes after a stop (the manifest): not aborted */
} filesync_s3pair;

/* Opens the clients, with the run's stop check as their progress function (s3 must stay at
 * its address while they live). INVALID for a location without bucket or endpoint. */
ferry_rc filesync_s3pair_open(const filesync_options *opts, filesync_s3pair *s3, ferry_err *err);
void filesync_s3pair_close(filesync_s3pair *s3);

/* "dir:<path>" or "s3:<endpoint>/<bucket>/<prefix>": what the manifest was written for. */
void filesync_source_id(const filesync_location *src, char *out, size_t outsz);

/* Lists the source: the directory walked, or the bucket/prefix listed. */
ferry_rc filesync_source_list(const filesync_options *opts, filesync_s3pair *s3, filesync_tree *t,
                              ferry_err *err);

/* The checksum of directory source file rel in the form of target's ETag: its MD5, or for a
 * multipart ETag "<md5 of part md5s>-<n>" with parts of part_size_hint (0: the run's part
 * size). CONFLICT when that part size cannot give target's part count; IO when unreadable.
 * hashed counts the bytes read. */
ferry_rc filesync_checksum_like(const filesync_options *opts, const char *rel,
                                const filesync_entry *target, uint64_t part_size_hint,
                                char out[FS_ETAG_MAX], uint64_t *hashed);

#endif
