/* manifest.c - the record of what was synced, kept next to the target (see manifest.h). */
#include "manifest.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/buf.h"
#include "ferry/http.h"

#define MAGIC "ferry-file-sync-manifest 1\n"

void filesync_manifest_cleanup(filesync_manifest *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->n; i++)
        free(m->v[i].key);
    free(m->v);
    memset(m, 0, sizeof(*m));
}

char *filesync_manifest_key(const char *prefix)
{
    size_t len = strlen(".ferry/") + strlen(prefix) + strlen("manifest.v1") + 1;
    char *key = malloc(len);
    if (key != NULL)
        (void)snprintf(key, len, ".ferry/%smanifest.v1", prefix);
    return key;
}

void filesync_manifest_version(const filesync_entry *e, bool from_s3, char out[FS_VERSION_MAX])
{
    if (from_s3)
        (void)snprintf(out, FS_VERSION_MAX, "e%s", e->etag);
    else
        (void)snprintf(out, FS_VERSION_MAX, "m%" PRId64, e->mtime_ns);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes %XX in place; false on a malformed escape or a NUL byte. */
static bool pct_decode(char *s)
{
    char *o = s;
    for (const char *p = s; *p != '\0'; p++) {
        if (*p != '%') {
            *o++ = *p;
            continue;
        }
        int hi = hexval(p[1]);
        int lo = hi >= 0 ? hexval(p[2]) : -1;
        if (lo < 0 || (hi == 0 && lo == 0))
            return false;
        *o++ = (char)(hi * 16 + lo);
        p += 2;
    }
    *o = '\0';
    return true;
}

static int mentry_cmp(const void *a, const void *b)
{
    const filesync_mentry *x = a, *y = b;
    return strcmp(x->key, y->key);
}

/* Parses one line "<size> <version> <md5|-> <etag|-> <part_size> <key>" into e. */
static bool line_parse(char *line, filesync_mentry *e)
{
    char *f[6];
    char *save = line;
    for (int i = 0; i < 5; i++) {
        char *sp = strchr(save, ' ');
        if (sp == NULL)
            return false;
        *sp = '\0';
        f[i] = save;
        save = sp + 1;
    }
    f[5] = save;
    char *end = NULL;
    unsigned long long size = strtoull(f[0], &end, 10);
    if (end == f[0] || *end != '\0')
        return false;
    unsigned long long part = strtoull(f[4], &end, 10);
    if (end == f[4] || *end != '\0')
        return false;
    if (strlen(f[1]) >= FS_VERSION_MAX || strlen(f[2]) >= FERRY_S3_MD5_HEX ||
        strlen(f[3]) >= FS_ETAG_MAX || f[5][0] == '\0' || !pct_decode(f[5]))
        return false;
    memset(e, 0, sizeof(*e));
    e->size = size;
    e->part_size = part;
    memcpy(e->version, f[1], strlen(f[1]) + 1);
    if (strcmp(f[2], "-") != 0)
        memcpy(e->md5, f[2], strlen(f[2]) + 1);
    if (strcmp(f[3], "-") != 0)
        memcpy(e->etag, f[3], strlen(f[3]) + 1);
    e->key = strdup(f[5]);
    return e->key != NULL;
}

ferry_rc filesync_manifest_load(ferry_s3 *s3, const char *bucket, const char *key,
                                const char *source_id, filesync_manifest *m, ferry_err *err)
{
    void *data = NULL;
    size_t len = 0;
    memset(m, 0, sizeof(*m));
    ferry_rc rc = ferry_s3_object_get(s3, bucket, key, &data, &len, err);
    if (rc == FERRY_ERR_NOT_FOUND) { /* the first pass (a missing bucket shows at listing) */
        ferry_err_clear(err);
        return FERRY_OK;
    }
    if (rc != FERRY_OK)
        return rc;
    char *text = data;
    char *line = text;
    size_t cap = 0;
    /* Header: the magic line, then "source <id>". */
    size_t mlen = strlen(MAGIC);
    char *nl = len >= mlen && memcmp(text, MAGIC, mlen) == 0 ? strchr(text + mlen, '\n') : NULL;
    if (nl == NULL || strncmp(text + mlen, "source ", 7) != 0) {
        m->ignored = true;
        goto out;
    }
    *nl = '\0';
    if (strcmp(text + mlen + 7, source_id) != 0) {
        m->ignored = true;
        goto out;
    }
    line = nl + 1;
    /* Then "complete <0|1> listed <ms>" (a manifest without it vouches for nothing). */
    nl = strchr(line, '\n');
    int complete = 0;
    long long listed = 0;
    if (nl != NULL && sscanf(line, "complete %d listed %lld", &complete, &listed) == 2) {
        m->complete = complete == 1;
        m->listed_ms = (int64_t)listed;
        line = nl + 1;
    }
    while (*line != '\0') {
        nl = strchr(line, '\n');
        if (nl == NULL)
            break; /* a cut-off last line: ignore it */
        *nl = '\0';
        if (m->n == cap) {
            cap = cap == 0 ? 1024 : cap * 2;
            filesync_mentry *grown = realloc(m->v, cap * sizeof(*grown));
            if (grown == NULL) {
                rc = ferry_err_set(err, FERRY_ERR_NOMEM, "reading the manifest: out of memory");
                goto out;
            }
            m->v = grown;
        }
        if (line_parse(line, &m->v[m->n]))
            m->n++;
        line = nl + 1;
    }
    if (m->n > 1)
        qsort(m->v, m->n, sizeof(*m->v), mentry_cmp);
out:
    free(data);
    if (rc != FERRY_OK)
        filesync_manifest_cleanup(m);
    return rc;
}

#define WRITER_SUFFIX ".writer"

ferry_rc filesync_manifest_fence(ferry_s3 *s3, const char *bucket, const char *key,
                                 int64_t generation, ferry_err *err)
{
    if (generation <= 0)
        return FERRY_OK;
    ferry_buf wkey = {0};
    ferry_buf_add(&wkey, key);
    ferry_buf_add(&wkey, WRITER_SUFFIX);
    if (wkey.oom)
        return ferry_err_set(err, FERRY_ERR_NOMEM, "the manifest's writer: out of memory");
    void *data = NULL;
    size_t len = 0;
    long long newest = 0;
    ferry_rc rc = ferry_s3_object_get(s3, bucket, wkey.p, &data, &len, err);
    if (rc == FERRY_ERR_NOT_FOUND) {
        ferry_err_clear(err);
        rc = FERRY_OK;
    } else if (rc == FERRY_OK) {
        char text[64];
        size_t n = len < sizeof(text) - 1 ? len : sizeof(text) - 1;
        memcpy(text, data, n);
        text[n] = '\0';
        if (sscanf(text, "writer %lld", &newest) != 1)
            newest = 0; /* unreadable: this writer takes it over */
    }
    free(data);
    if (rc == FERRY_OK && newest > generation)
        rc = ferry_err_set(err, FERRY_ERR_CONFLICT,
                           "a newer attempt (claimed at %lld) writes the manifest %s; this one "
                           "(claimed at %" PRId64 ") writes nothing more",
                           newest, key, generation);
    else if (rc == FERRY_OK && newest < generation) {
        char line[64];
        int n = snprintf(line, sizeof(line), "writer %" PRId64 "\n", generation);
        rc = ferry_s3_object_put(s3, bucket, wkey.p, line, (size_t)n, NULL, err);
    }
    ferry_buf_cleanup(&wkey);
    return rc;
}

ferry_rc filesync_manifest_save(ferry_s3 *s3, const char *bucket, const char *key,
                                const char *source_id, const filesync_manifest *m,
                                int64_t generation, ferry_err *err)
{
    ferry_rc frc = filesync_manifest_fence(s3, bucket, key, generation, err);
    if (frc != FERRY_OK)
        return frc;
    ferry_buf b = {0};
    char enc[3 * FERRY_S3_KEY_MAX + 1];
    char line[256];
    ferry_buf_add(&b, MAGIC);
    ferry_buf_add(&b, "source ");
    ferry_buf_add(&b, source_id);
    (void)snprintf(line, sizeof(line), "\ncomplete %d listed %" PRId64 "\n", m->complete ? 1 : 0,
                   m->listed_ms);
    ferry_buf_add(&b, line);
    for (size_t i = 0; i < m->n; i++) {
        const filesync_mentry *e = &m->v[i];
        if (e->key == NULL || ferry_http_uri_encode(e->key, true, enc, sizeof(enc)) < 0)
            continue;
        (void)snprintf(line, sizeof(line), "%" PRIu64 " %s %s %s %" PRIu64 " ", e->size, e->version,
                       e->md5[0] != '\0' ? e->md5 : "-", e->etag[0] != '\0' ? e->etag : "-",
                       e->part_size);
        ferry_buf_add(&b, line);
        ferry_buf_add(&b, enc);
        ferry_buf_add(&b, "\n");
    }
    ferry_rc rc = b.oom ? ferry_err_set(err, FERRY_ERR_NOMEM, "writing the manifest")
                        : ferry_s3_object_put(s3, bucket, key, b.p, b.len, NULL, err);
    free(b.p);
    return rc;
}

const filesync_mentry *filesync_manifest_find(const filesync_manifest *m, const char *key)
{
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(m->v[mid].key, key);
        if (c == 0)
            return &m->v[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}
