/*
 * tree.h - a listing of files, sorted by key: a directory walked, or an S3 prefix listed.
 *
 * Keys are relative to the directory or prefix, '/'-separated, in byte order (S3's order), so
 * the source, the target and the manifest can be compared by one merge.
 */
#ifndef FS_TREE_H
#define FS_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/stat.h>

#include "ferry/error.h"
#include "ferry/s3.h"

/* Room for an ETag without its quotes ("<32 hex>-10000"). */
#define FS_ETAG_MAX 48

typedef struct filesync_entry {
    char *key;              /* owned by the tree; "a/b.txt", "empty dir/" for a marker */
    uint64_t size;          /* bytes */
    int64_t mtime_ns;       /* directory: modification time; S3: last modified (s) * 1e9 */
    char etag[FS_ETAG_MAX]; /* S3: the ETag without quotes; directory: "" */
    bool marker;            /* an empty directory, kept as a zero-byte "dir/" object */
} filesync_entry;

typedef struct filesync_tree {
    filesync_entry *v;
    size_t n, cap;
    uint64_t bytes;   /* sum of sizes */
    uint64_t skipped; /* entries left out: symlinks, special files, names S3 cannot hold */
    uint64_t errors;  /* directories or files that could not be read */
    char *first_error;
} filesync_tree;

void filesync_tree_cleanup(filesync_tree *t);

/* Walks dir (not following symlinks) into t, sorted. Unreadable parts are counted in t->errors
 * (first message in t->first_error), not fatal; a missing or unreadable root is (NOT_FOUND,
 * PERMISSION). Empty directories become markers. */
ferry_rc filesync_tree_walk(const char *dir, filesync_tree *t, ferry_err *err);

/*
 * Opens for reading the regular file key, a key the walk produced ("a/b.txt"; for a directory
 * marker "a/", the directory, which must still be one), below the
 * directory root as the walk reached it: root opened as given, then each directory on the way
 * with O_NOFOLLOW relative to the one before, and the file itself with O_NOFOLLOW. A directory
 * (or the file) swapped for a symlink after the walk is refused (ELOOP or ENOTDIR), never
 * followed out of the tree; anything but a regular file is refused too (EISDIR, EINVAL).
 * Returns the descriptor (O_CLOEXEC, O_NONBLOCK, which regular files ignore), or -1 with errno
 * (EINVAL also for a key with an empty, "." or ".." component).
 */
int filesync_open_file_beneath(const char *root, const char *key);

/* lstat of key ("a/b.txt", or "a/" for a directory) below root, reached the same way. 0, or -1
 * with errno. */
int filesync_stat_beneath(const char *root, const char *key, struct stat *st);

/* Lists bucket/prefix into t (keys without the prefix, sorted by the server). Keys under
 * skip_prefix (relative; NULL: none) are left out: the manifest lives there. */
ferry_rc filesync_tree_list(ferry_s3 *s3, const char *bucket, const char *prefix,
                            const char *skip_prefix, bool (*stopping)(void *), void *stop_ud,
                            filesync_tree *t, ferry_err *err);

/* Copies an ETag without its quotes into out (FS_ETAG_MAX); "" when it does not fit. */
void filesync_etag_strip(const char *etag, char out[FS_ETAG_MAX]);

#endif
