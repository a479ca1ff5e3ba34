/*
 * demo_files.c - the demo app's files: counting and reading them in a directory or an S3 prefix.
 */
#include "demo_files.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ferry/s3.h"

/* Largest object GET /files serves from S3 (read into memory first). */
#define DEMO_FILES_S3_MAX (64u * 1024u * 1024u)
/* ListObjectsV2 pages read for the stats, at most (1000 keys each). */
#define DEMO_FILES_MAX_PAGES 1000

struct demo_files {
    char *dir; /* NULL for S3 */
    char *bucket;
    char *prefix;
    ferry_s3 *s3;
    char where[512];
};

/* One file of a listing. */
typedef struct entry {
    char *path;
    uint64_t size;
} entry;

typedef struct listing {
    entry *items;
    size_t n, cap;
} listing;

static void listing_cleanup(listing *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i].path);
    free(l->items);
    memset(l, 0, sizeof *l);
}

static bool listing_add(listing *l, const char *path, uint64_t size)
{
    if (l->n == l->cap) {
        size_t cap = l->cap != 0 ? l->cap * 2 : 256;
        entry *items = realloc(l->items, cap * sizeof *items);
        if (items == NULL)
            return false;
        l->items = items;
        l->cap = cap;
    }
    char *copy = strdup(path);
    if (copy == NULL)
        return false;
    l->items[l->n].path = copy;
    l->items[l->n].size = size;
    l->n++;
    return true;
}

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const entry *)a)->path, ((const entry *)b)->path);
}

/* Sorts the listing by path and sums it up into *stats. */
static ferry_rc listing_stats(listing *l, demo_files_stats *stats, ferry_err *err)
{
    ferry_rc rc = FERRY_OK;
    char *text = NULL;
    size_t len = 0, cap = 0;

    qsort(l->items, l->n, sizeof *l->items, entry_cmp);
    stats->count = (int64_t)l->n;
    stats->bytes = 0;
    for (size_t i = 0; i < l->n; i++) {
        char size_text[32];
        int sn =
            snprintf(size_text, sizeof size_text, "%llu", (unsigned long long)l->items[i].size);
        size_t need = strlen(l->items[i].path) + (size_t)sn + 2;
        if (len + need + 1 > cap) {
            size_t ncap = cap != 0 ? cap * 2 : 16384;
            while (ncap < len + need + 1)
                ncap *= 2;
            char *grown = realloc(text, ncap);
            if (grown == NULL) {
                rc = ferry_err_set(err, FERRY_ERR_NOMEM, "files: out of memory");
                goto out;
            }
            text = grown;
            cap = ncap;
        }
        int n = snprintf(text + len, cap - len, "%s\t%s\n", l->items[i].path, size_text);
        if (n < 0 || (size_t)n >= cap - len) {
            rc = ferry_err_set(err, FERRY_ERR_INTERNAL, "files: listing text cut");
            goto out;
        }
        len += (size_t)n;
        stats->bytes += l->items[i].size;
    }
    rc = ferry_s3_md5_hex(text != NULL ? text : "", len, stats->checksum);
    if (rc != FERRY_OK)
        (void)ferry_err_set(err, rc, "files: md5 failed");
out:
    free(text);
    return rc;
}

ferry_rc demo_files_new(const demo_files_opts *opts, demo_files **out, ferry_err *err)
{
    ferry_rc rc = FERRY_OK;
    demo_files *files = NULL;

    *out = NULL;
    files = calloc(1, sizeof *files);
    if (files == NULL)
        return ferry_err_set(err, FERRY_ERR_NOMEM, "files: out of memory");
    if (opts->dir != NULL) {
        if (opts->dir[0] != '/') {
            rc = ferry_err_set(err, FERRY_ERR_INVALID,
                               "files: the directory must be an absolute path");
            goto out;
        }
        files->dir = strdup(opts->dir);
        if (files->dir == NULL) {
            rc = ferry_err_set(err, FERRY_ERR_NOMEM, "files: out of memory");
            goto out;
        }
        for (size_t n = strlen(files->dir); n > 1 && files->dir[n - 1] == '/'; n--)
            files->dir[n - 1] = '\0';
        (void)snprintf(files->where, sizeof files->where, "directory %s", opts->dir);
    } else {
        if (opts->s3_endpoint == NULL || opts->s3_bucket == NULL || opts->s3_access_key == NULL ||
            opts->s3_secret_key == NULL) {
            rc = ferry_err_set(err, FERRY_ERR_INVALID,
                               "files: S3 needs an endpoint, a bucket and both keys");
            goto out;
        }
        files->bucket = strdup(opts->s3_bucket);
        files->prefix = strdup(opts->s3_prefix != NULL ? opts->s3_prefix : "");
        if (files->bucket == NULL || files->prefix == NULL) {
            rc = ferry_err_set(err, FERRY_ERR_NOMEM, "files: out of memory");
            goto out;
        }
        ferry_s3_opts so = {.endpoint = opts->s3_endpoint,
                            .region = opts->s3_region != NULL ? opts->s3_region : "us-east-1",
                            .access_key = opts->s3_access_key,
                            .secret_key = opts->s3_secret_key,
                            .timeout_ms = 15000,
                            .connect_timeout_ms = 3000};
        rc = ferry_s3_new(&so, &files->s3, err);
        if (rc != FERRY_OK) {
            (void)ferry_err_prefix(err, "files");
            goto out;
        }
        (void)snprintf(files->where, sizeof files->where, "s3://%s/%s at %s", files->bucket,
                       files->prefix, opts->s3_endpoint);
    }
    *out = files;
    files = NULL;
out:
    demo_files_free(files);
    return rc;
}

void demo_files_free(demo_files *files)
{
    if (files == NULL)
        return;
    ferry_s3_free(files->s3);
    free(files->dir);
    free(files->bucket);
    free(files->prefix);
    free(files);
}

const char *demo_files_where(const demo_files *files)
{
    return files->where;
}

bool demo_files_path_ok(const char *path)
{
    size_t len = strlen(path);
    if (len == 0 || len > 1024 || path[0] == '/')
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)path[i];
        if (c < 0x20 || c == 0x7f || c == '\\')
            return false;
    }
    const char *seg = path;
    for (;;) {
        size_t n = strcspn(seg, "/");
        if (n == 0 || (n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
            return false;
        if (seg[n] == '\0')
            return true;
        seg += n + 1;
    }
}

/* ---- directory ---------------------------------------------------------------------------- */

/* Directories nested deeper than this are not walked (a loop of bind mounts, ...). */
#define DEMO_FILES_MAX_DEPTH 64

/* Adds the regular files below the open directory dfd (taken: closed here) to l, their paths
 * starting with rel ("" at the top). Symbolic links are not followed. */
static ferry_rc walk_dir(int dfd, const char *rel, int depth, listing *l, ferry_err *err)
{
    ferry_rc rc = FERRY_OK;
    DIR *d = fdopendir(dfd);
    if (d == NULL) {
        rc = ferry_err_set_errno(err, FERRY_ERR_IO, errno, "files: reading directory %s", rel);
        (void)close(dfd);
        return rc;
    }
    for (;;) {
        errno = 0;
        const struct dirent *de = readdir(d);
        if (de == NULL) {
            if (errno != 0)
                rc = ferry_err_set_errno(err, FERRY_ERR_IO, errno, "files: reading directory %s",
                                         rel);
            break;
        }
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char path[PATH_MAX];
        int n = snprintf(path, sizeof path, "%s%s%s", rel, rel[0] != '\0' ? "/" : "", de->d_name);
        if (n < 0 || (size_t)n >= sizeof path)
            continue; /* a path no request could name */
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue; /* gone meanwhile */
        if (S_ISREG(st.st_mode)) {
            if (!listing_add(l, path, (uint64_t)st.st_size)) {
                rc = ferry_err_set(err, FERRY_ERR_NOMEM, "files: out of memory");
                break;
            }
        } else if (S_ISDIR(st.st_mode) && depth < DEMO_FILES_MAX_DEPTH) {
            int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0)
                continue; /* gone, or not readable: not served either */
            rc = walk_dir(sub, path, depth + 1, l, err);
            if (rc != FERRY_OK)
                break;
        }
    }
    (void)closedir(d);
    return rc;
}

static ferry_rc dir_stats(demo_files *files, demo_files_stats *stats, ferry_err *err)
{
    listing l = {0};
    int dfd = open(files->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return ferry_err_set_errno(
            err, errno == ENOENT || errno == ENOTDIR ? FERRY_ERR_NOT_FOUND : FERRY_ERR_IO, errno,
            "files: directory %s", files->dir);
    ferry_rc rc = walk_dir(dfd, "", 0, &l, err);
    if (rc == FERRY_OK)
        rc = listing_stats(&l, stats, err);
    listing_cleanup(&l);
    return rc;
}

static ferry_rc dir_open(demo_files *files, const char *path, demo_file *out, ferry_err *err)
{
    ferry_rc rc = FERRY_OK;
    char full[PATH_MAX], *root = NULL, *real = NULL;
    int fd = -1;

    int n =
        snprintf(full, sizeof full, "%s/%s", strcmp(files->dir, "/") == 0 ? "" : files->dir, path);
    if (n < 0 || (size_t)n >= sizeof full)
        return ferry_err_set(err, FERRY_ERR_INVALID, "files: path too long");
    root = realpath(files->dir, NULL);
    real = realpath(full, NULL);
    if (root == NULL) {
        rc =
            ferry_err_set_errno(err, FERRY_ERR_NOT_FOUND, errno, "files: directory %s", files->dir);
        goto out;
    }
    size_t rl = strlen(root);
    /* Absent, or a symbolic link that leads out of the directory: both are "not here". */
    if (real == NULL || strncmp(real, root, rl) != 0 || (rl > 1 && real[rl] != '/')) {
        rc = ferry_err_set(err, FERRY_ERR_NOT_FOUND, "files: no file %s", path);
        goto out;
    }
    fd = open(real, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = ferry_err_set(err, FERRY_ERR_NOT_FOUND, "files: no file %s", path);
        goto out;
    }
    out->fd = fd;
    out->data = NULL;
    out->len = (uint64_t)st.st_size;
    fd = -1;
out:
    if (fd >= 0)
        (void)close(fd);
    free(root);
    free(real);
    return rc;
}

/* ---- S3 ---------------------------------------------------------------------------------------
 */

static ferry_rc s3_stats(demo_files *files, demo_files_stats *stats, ferry_err *err)
{
    ferry_rc rc = FERRY_OK;
    listing l = {0};
    ferry_s3_list page = {0};
    char *token = NULL;
    size_t plen = strlen(files->prefix);

    for (int pages = 0;; pages++) {
        if (pages == DEMO_FILES_MAX_PAGES) {
            rc = ferry_err_set(err, FERRY_ERR_UNSUPPORTED, "files: more than %d000 objects",
                               DEMO_FILES_MAX_PAGES);
            goto out;
        }
        ferry_s3_list_opts lo = {.prefix = plen != 0 ? files->prefix : NULL,
                                 .max_keys = 1000,
                                 .continuation_token = token};
        rc = ferry_s3_object_list(files->s3, files->bucket, &lo, &page, err);
        if (rc != FERRY_OK)
            goto out;
        for (size_t i = 0; i < page.count; i++) {
            const char *key = page.objects[i].key;
            if (strncmp(key, files->prefix, plen) != 0 || key[plen] == '\0')
                continue;
            if (!listing_add(&l, key + plen, page.objects[i].size)) {
                rc = ferry_err_set(err, FERRY_ERR_NOMEM, "files: out of memory");
                goto out;
            }
        }
        free(token);
        token = page.next_token;
        page.next_token = NULL;
        ferry_s3_list_cleanup(&page);
        if (token == NULL)
            break;
    }
    rc = listing_stats(&l, stats, err);
out:
    ferry_s3_list_cleanup(&page);
    free(token);
    listing_cleanup(&l);
    return rc;
}

typedef struct membuf {
    char *p;
    size_t len, cap;
    bool too_big;
} membuf;

static bool membuf_write(const void *data, size_t len, void *ud)
{
    membuf *b = ud;
    if (len > DEMO_FILES_S3_MAX - b->len) {
        b->too_big = true;
        return false;
    }
    if (b->len + len > b->cap) {
        size_t cap = b->cap != 0 ? b->cap : 16384;
        while (cap < b->len + len)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL)
            return false;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, len);
    b->len += len;
    return true;
}

static ferry_rc s3_open(demo_files *files, const char *path, demo_file *out, ferry_err *err)
{
    char key[FERRY_S3_KEY_MAX + 1];
    membuf b = {0};

    int n = snprintf(key, sizeof key, "%s%s", files->prefix, path);
    if (n < 0 || (size_t)n >= sizeof key)
        return ferry_err_set(err, FERRY_ERR_INVALID, "files: path too long");
    ferry_rc rc = ferry_s3_object_get_stream(files->s3, files->bucket, key, membuf_write, &b, err);
    if (rc != FERRY_OK) {
        free(b.p);
        if (b.too_big)
            return ferry_err_set(err, FERRY_ERR_NO_SPACE,
                                 "files: %s is larger than the %u MiB this app serves from S3",
                                 path, DEMO_FILES_S3_MAX / (1024u * 1024u));
        return rc;
    }
    out->fd = -1;
    out->data = b.p != NULL ? b.p : malloc(1);
    out->len = b.len;
    if (out->data == NULL)
        return ferry_err_set(err, FERRY_ERR_NOMEM, "files: out of memory");
    return FERRY_OK;
}

/* ---- either -----------------------------------------------------------------------------------
 */

ferry_rc demo_files_stats_get(demo_files *files, demo_files_stats *stats, ferry_err *err)
{
    memset(stats, 0, sizeof *stats);
    return files->dir != NULL ? dir_stats(files, stats, err) : s3_stats(files, stats, err);
}

ferry_rc demo_files_open(demo_files *files, const char *path, demo_file *out, ferry_err *err)
{
    out->fd = -1;
    out->data = NULL;
    out->len = 0;
    if (!demo_files_path_ok(path))
        return ferry_err_set(err, FERRY_ERR_INVALID, "files: not an acceptable file path");
    return files->dir != NULL ? dir_open(files, path, out, err) : s3_open(files, path, out, err);
}
