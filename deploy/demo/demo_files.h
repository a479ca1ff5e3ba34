/*
 * demo_files.h - the demo app's stored files: a directory (v3) or a prefix in an S3 bucket (v4).
 *
 * Paths are relative, '/'-separated and UTF-8, the same in both stores: the file "a/b.txt" of
 * the directory D is D/a/b.txt, and of bucket B with prefix P the object B/Pa/b.txt. Not
 * thread-safe (one S3 client): the app serves its requests from one thread.
 */
#ifndef DEMO_FILES_H
#define DEMO_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/error.h"

typedef struct demo_files demo_files;

typedef struct demo_files_opts {
    const char *dir;           /* an absolute directory; or NULL for S3. Copied. */
    const char *s3_endpoint;   /* "http://127.0.0.1:18080"; copied */
    const char *s3_region;     /* NULL: us-east-1 */
    const char *s3_bucket;     /* copied */
    const char *s3_prefix;     /* "" or "production/"; copied */
    const char *s3_access_key; /* copied, never logged */
    const char *s3_secret_key; /* copied, wiped on free, never logged */
} demo_files_opts;

/* What GET /data reports about the files. */
typedef struct demo_files_stats {
    int64_t count;     /* regular files (directory) or objects (S3) */
    uint64_t bytes;    /* their total size */
    char checksum[33]; /* md5 of "<path>\t<size>\n" for every file in byte order of the path */
} demo_files_stats;

/* A file opened for GET /files/<path>: either fd (directory) or data (S3) is set. */
typedef struct demo_file {
    int fd;       /* -1 when data is used; the caller owns it */
    void *data;   /* NULL when fd is used; the caller frees it with free() */
    uint64_t len; /* bytes to send */
} demo_file;

/* Creates the store (the S3 client, without any request). INVALID for a relative directory or
 * a missing S3 setting. Caller frees with demo_files_free(). */
ferry_rc demo_files_new(const demo_files_opts *opts, demo_files **out, ferry_err *err);
/* Frees; accepts NULL. */
void demo_files_free(demo_files *files);

/* "directory /x/y" or "s3://bucket/prefix at http://...": for logs and the page. Borrowed. */
const char *demo_files_where(const demo_files *files);

/* True when path is a safe relative file path: not empty, at most 1024 bytes, no leading or
 * doubled '/', no "." or ".." segment, no control character or backslash. */
bool demo_files_path_ok(const char *path);

/* Walks the directory or lists the prefix. NOT_FOUND when the directory or bucket is absent,
 * UNAVAILABLE and others from S3. */
ferry_rc demo_files_stats_get(demo_files *files, demo_files_stats *stats, ferry_err *err);

/* Opens one file (path must pass demo_files_path_ok(), else INVALID). NOT_FOUND when absent or
 * not a regular file (directories, symbolic links leading out of the directory); an object
 * over 64 MiB in S3 gives NO_SPACE (it would be read into memory). On success *out is set; see
 * demo_file. */
ferry_rc demo_files_open(demo_files *files, const char *path, demo_file *out, ferry_err *err);

#endif
