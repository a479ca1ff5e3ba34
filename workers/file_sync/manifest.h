/*
 * manifest.h - what a pass synced: per source file its size, its version (modification time,
 * or the source object's ETag), its content MD5 and the ETag the target object got.
 *
 * Kept as one text object next to the target, at ".ferry/<target prefix>manifest.v1" in the
 * target bucket (outside the app's prefix), so that any worker, or the command line, finds
 * it. A manifest written for another source is ignored. Entries are sorted by key. A manifest
 * marked complete vouches for the target: the next pass need not list it.
 */
#ifndef FS_MANIFEST_H
#define FS_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/error.h"
#include "ferry/s3.h"
#include "tree.h"

/* "m<mtime ns>" or "e<etag>". */
#define FS_VERSION_MAX (FS_ETAG_MAX + 2)

typedef struct filesync_mentry {
    char *key; /* NULL: a slot with nothing recorded */
    uint64_t size;
    char version[FS_VERSION_MAX];
    char md5[FERRY_S3_MD5_HEX]; /* "" when unknown */
    char etag[FS_ETAG_MAX];     /* the target object's ETag, without quotes */
    uint64_t part_size;         /* 0: a single PUT */
} filesync_mentry;

typedef struct filesync_manifest {
    filesync_mentry *v;
    size_t n;
    bool ignored;      /* there was one, but for another source or unreadable */
    bool complete;     /* written at the end of a pass in which every file made it */
    int64_t listed_ms; /* when the target was last listed in full (wall clock, ms) */
} filesync_manifest;

void filesync_manifest_cleanup(filesync_manifest *m);

/* The manifest's object key for a target prefix; caller frees. NULL when out of memory. */
char *filesync_manifest_key(const char *prefix);

/* The version text of a source entry. */
void filesync_manifest_version(const filesync_entry *e, bool from_s3, char out[FS_VERSION_MAX]);

/* Reads the manifest for source_id (a text naming the source). A missing or foreign manifest
 * gives an empty one (OK); only transport and permission failures are errors. */
ferry_rc filesync_manifest_load(ferry_s3 *s3, const char *bucket, const char *key,
                                const char *source_id, filesync_manifest *m, ferry_err *err);

/*
 * The fence that keeps an older attempt from writing over a newer one's manifest: the object
 * "<key>.writer" holds the generation (the attempt's claim time) of the newest writer. Returns
 * FERRY_ERR_CONFLICT, writing nothing, when it holds a newer generation than this one; else
 * records this one (when it is not there yet) and returns OK. generation <= 0: no fence.
 *
 * Without conditional writes in every S3 server this is a check, then a write: an older
 * attempt could still write between a newer one's fence and its own, in the few milliseconds
 * after its own check. The worker's lease (it stops before Redis gives the step to another)
 * keeps it from getting there.
 */
ferry_rc filesync_manifest_fence(ferry_s3 *s3, const char *bucket, const char *key,
                                 int64_t generation, ferry_err *err);

/* Writes the slots with a key (m->v must be sorted by key), with m->complete and
 * m->listed_ms, after passing the fence of generation (filesync_manifest_fence). */
ferry_rc filesync_manifest_save(ferry_s3 *s3, const char *bucket, const char *key,
                                const char *source_id, const filesync_manifest *m,
                                int64_t generation, ferry_err *err);

/* The entry for key, or NULL (binary search). */
const filesync_mentry *filesync_manifest_find(const filesync_manifest *m, const char *key);

#endif
