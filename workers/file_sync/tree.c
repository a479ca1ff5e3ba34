/* tree.c - listings of a directory tree and of an S3 prefix (see tree.h). */
#include "tree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void filesync_tree_cleanup(filesync_tree *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->n; i++)
        free(t->v[i].key);
    free(t->v);
    free(t->first_error);
    memset(t, 0, sizeof(*t));
}

void filesync_etag_strip(const char *etag, char out[FS_ETAG_MAX])
{
    size_t len = strlen(etag);
    if (len >= 2 && etag[0] == '"' && etag[len - 1] == '"') {
        etag++;
        len -= 2;
    }
    if (len >= FS_ETAG_MAX)
        len = 0;
    memcpy(out, etag, len);
    out[len] = '\0';
}

static filesync_entry *tree_add(filesync_tree *t, const char *key)
{
    if (t->n == t->cap) {
        size_t cap = t->cap == 0 ? 256 : t->cap * 2;
        filesync_entry *grown = realloc(t->v, cap * sizeof(*grown));
        if (grown == NULL)
            return NULL;
        t->v = grown;
        t->cap = cap;
    }
    filesync_entry *e = &t->v[t->n];
    memset(e, 0, sizeof(*e));
    e->key = strdup(key);
    if (e->key == NULL)
        return NULL;
    t->n++;
    return e;
}

/* Counts an unreadable part of the tree; the first one's message is kept. */
static void tree_error(filesync_tree *t, const char *what, const char *path, int errnum)
{
    t->errors++;
    if (t->first_error != NULL)
        return;
    char msg[600];
    int n = snprintf(msg, sizeof(msg), "%s '%.400s': %s", what, path, strerror(errnum));
    if (n > 0)
        t->first_error = strdup(msg);
}

/* S3 keys are UTF-8 that XML 1.0 can carry: no control characters. */
static bool key_storable(const char *key)
{
    for (const unsigned char *p = (const unsigned char *)key; *p != '\0'; p++) {
        if (*p < 0x20 || *p == 0x7f)
            return false;
    }
    return true;
}

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const filesync_entry *)a)->key, ((const filesync_entry *)b)->key);
}

/* Walks the directory open as dfd, whose key prefix is rel ("" or "a/b/"). Returns the number of
 * entries added under it (files and markers), or -1 when out of memory. */
static long walk(int dfd, const char *rel, filesync_tree *t)
{
    DIR *d = fdopendir(dfd);
    if (d == NULL) {
        tree_error(t, "cannot read directory", rel, errno);
        (void)close(dfd);
        return 0;
    }
    long added = 0;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (de == NULL) {
            if (errno != 0)
                tree_error(t, "reading directory", rel, errno);
            break;
        }
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char key[4096];
        int n = snprintf(key, sizeof(key), "%s%s", rel, de->d_name);
        if (n < 0 || (size_t)n >= sizeof(key) - 1) {
            t->skipped++;
            continue;
        }
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno != ENOENT) /* gone since readdir: nothing to sync */
                tree_error(t, "cannot stat", key, errno);
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
            if (sub < 0) {
                tree_error(t, "cannot open directory", key, errno);
                continue;
            }
            key[n] = '/';
            key[n + 1] = '\0';
            long inside = walk(sub, key, t);
            if (inside < 0) {
                (void)closedir(d);
                return -1;
            }
            if (inside == 0 && key_storable(key) && (size_t)n + 1 <= FERRY_S3_KEY_MAX) {
                filesync_entry *e = tree_add(t, key);
                if (e == NULL) {
                    (void)closedir(d);
                    return -1;
                }
                e->marker = true;
                e->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
                inside = 1;
            }
            added += inside;
            continue;
        }
        if (!S_ISREG(st.st_mode) || !key_storable(key) || (size_t)n > FERRY_S3_KEY_MAX) {
            t->skipped++; /* symlinks, sockets, devices; names S3 cannot carry */
            continue;
        }
        filesync_entry *e = tree_add(t, key);
        if (e == NULL) {
            (void)closedir(d);
            return -1;
        }
        e->size = (uint64_t)st.st_size;
        e->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
        t->bytes += e->size;
        added++;
    }
    (void)closedir(d);
    return added;
}

/* Opens the directory that holds key's last component, below root as the walk reached it
 * (see filesync_open_file_beneath); *last points into *path (owned, caller frees) at that
 * component. -1 with errno. */
static int open_parent(const char *root, const char *key, char **path, const char **last)
{
    size_t len = strlen(key);
    *path = NULL;
    if (len > 0 && key[len - 1] == '/')
        len--; /* a directory marker: the directory itself */
    if (len == 0) {
        errno = EINVAL;
        return -1;
    }
    *path = strndup(key, len);
    if (*path == NULL)
        return -1;
    int dir = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    char *name = *path;
    while (dir >= 0) {
        char *slash = strchr(name, '/');
        if (slash != NULL)
            *slash = '\0';
        if (name[0] == '\0' || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
            (void)close(dir);
            errno = EINVAL;
            return -1;
        }
        if (slash == NULL) {
            *last = name;
            return dir;
        }
        int next = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int saved = errno;
        (void)close(dir);
        errno = saved;
        dir = next;
        name = slash + 1;
    }
    return -1;
}

int filesync_open_file_beneath(const char *root, const char *key)
{
    char *path = NULL;
    const char *last = NULL;
    size_t len = strlen(key);
    bool marker = len > 0 && key[len - 1] == '/';
    int dir = open_parent(root, key, &path, &last);
    int fd = -1, saved = errno;
    if (dir >= 0) {
        /* O_NONBLOCK: a FIFO put in the file's place must not block the open. */
        fd = openat(dir, last,
                    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | (marker ? O_DIRECTORY : 0));
        saved = errno;
        struct stat st;
        if (fd >= 0) {
            if (fstat(fd, &st) != 0)
                saved = errno;
            else if (marker ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))
                saved = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
            else
                saved = 0;
            if (saved != 0) {
                (void)close(fd);
                fd = -1;
            }
        }
        (void)close(dir);
    }
    free(path);
    errno = saved;
    return fd;
}

int filesync_stat_beneath(const char *root, const char *key, struct stat *st)
{
    char *path = NULL;
    const char *last = NULL;
    int dir = open_parent(root, key, &path, &last);
    int rc = -1, saved = errno;
    if (dir >= 0) {
        rc = fstatat(dir, last, st, AT_SYMLINK_NOFOLLOW);
        saved = errno;
        (void)close(dir);
    }
    free(path);
    errno = saved;
    return rc;
}

ferry_rc filesync_tree_walk(const char *dir, filesync_tree *t, ferry_err *err)
{
    memset(t, 0, sizeof(*t));
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) {
        int e = errno;
        return ferry_err_set(err,
                             e == ENOENT || e == ENOTDIR ? FERRY_ERR_NOT_FOUND
                             : e == EACCES               ? FERRY_ERR_PERMISSION
                                                         : FERRY_ERR_IO,
                             "source directory '%s': %s", dir, strerror(e));
    }
    if (walk(fd, "", t) < 0) {
        filesync_tree_cleanup(t);
        return ferry_err_set(err, FERRY_ERR_NOMEM, "listing '%s': out of memory", dir);
    }
    if (t->n > 1)
        qsort(t->v, t->n, sizeof(*t->v), entry_cmp);
    return FERRY_OK;
}

ferry_rc filesync_tree_list(ferry_s3 *s3, const char *bucket, const char *prefix,
                            const char *skip_prefix, bool (*stopping)(void *), void *stop_ud,
                            filesync_tree *t, ferry_err *err)
{
    ferry_rc rc = FERRY_OK;
    char *token = NULL;
    size_t plen = strlen(prefix);
    size_t slen = skip_prefix != NULL ? strlen(skip_prefix) : 0;
    memset(t, 0, sizeof(*t));
    do {
        if (stopping != NULL && stopping(stop_ud)) {
            rc = ferry_err_set(err, FERRY_ERR_CANCELLED, "listing s3://%s/%s: stopped", bucket,
                               prefix);
            break;
        }
        ferry_s3_list page = {0};
        ferry_s3_list_opts lo = {
            .prefix = plen > 0 ? prefix : NULL, .max_keys = 1000, .continuation_token = token};
        rc = ferry_s3_object_list(s3, bucket, &lo, &page, err);
        free(token);
        token = NULL;
        if (rc != FERRY_OK)
            break;
        for (size_t i = 0; i < page.count && rc == FERRY_OK; i++) {
            const ferry_s3_object *o = &page.objects[i];
            if (strncmp(o->key, prefix, plen) != 0 || o->key[plen] == '\0')
                continue;
            const char *rel = o->key + plen;
            if (slen > 0 && strncmp(rel, skip_prefix, slen) == 0)
                continue;
            filesync_entry *e = tree_add(t, rel);
            if (e == NULL) {
                rc = ferry_err_set(err, FERRY_ERR_NOMEM, "listing s3://%s: out of memory", bucket);
                break;
            }
            e->size = o->size;
            e->mtime_ns = o->last_modified >= 0 ? o->last_modified * 1000000000 : 0;
            e->marker = rel[strlen(rel) - 1] == '/';
            filesync_etag_strip(o->etag, e->etag);
            t->bytes += e->size;
        }
        if (rc == FERRY_OK && page.next_token != NULL) {
            token = strdup(page.next_token);
            if (token == NULL)
                rc = ferry_err_set(err, FERRY_ERR_NOMEM, "listing s3://%s: out of memory", bucket);
        }
        ferry_s3_list_cleanup(&page);
    } while (rc == FERRY_OK && token != NULL);
    free(token);
    if (rc != FERRY_OK) {
        filesync_tree_cleanup(t);
        return rc;
    }
    /* The server's order is UTF-8 byte order already; sort anyway, cheaply, to be sure. */
    if (t->n > 1)
        qsort(t->v, t->n, sizeof(*t->v), entry_cmp);
    return FERRY_OK;
}
