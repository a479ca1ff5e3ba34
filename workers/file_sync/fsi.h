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
typedef struct fs_s3pair {
    ferry_s3 *src;
    ferry_s3 *dst;
    const fs_options *opts;
    bool finishing; /* the last writes after a stop (the manifest): not aborted */
} fs_s3pair;

/* Opens the clients, with the run's stop check as their progress function (s3 must stay at
 * its address while they live). INVALID for a location without bucket or endpoint. */
ferry_rc fs_s3pair_open(const fs_options *opts, fs_s3pair *s3, ferry_err *err);
void fs_s3pair_close(fs_s3pair *s3);

/* "dir:<path>" or "s3:<endpoint>/<bucket>/<prefix>": what the manifest was written for. */
void fs_source_id(const fs_location *src, char *out, size_t outsz);

/* Lists the source: the directory walked, or the bucket/prefix listed. */
ferry_rc fs_source_list(const fs_options *opts, fs_s3pair *s3, fs_tree *t, ferry_err *err);

/* The checksum of directory source file rel in the form of target's ETag: its MD5, or for a
 * multipart ETag "<md5 of part md5s>-<n>" with parts of part_size_hint (0: the run's part
 * size). CONFLICT when that part size cannot give target's part count; IO when unreadable.
 * hashed counts the bytes read. */
ferry_rc fs_checksum_like(const fs_options *opts, const char *rel, const fs_entry *target,
                          uint64_t part_size_hint, char out[FS_ETAG_MAX], uint64_t *hashed);

#endif
