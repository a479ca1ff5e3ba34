/*
 * pass.c - one file pass: plan (merge of the source listing, the target listing and the
 * manifest), then transfers on one curl multi, then deletions (see fs.h, docs/file-sync.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ferry/clock.h"
#include "ferry/buf.h"
#include "ferry/http.h"
#include "ferry/log.h"
#include "fs.h"
#include "fsi.h"
#include "manifest.h"
#include "tree.h"

/* Files up to this size are read into memory and sent signed; larger ones are streamed. */
#define MEM_MAX (1024 * 1024)
/* A pass trusts a complete manifest for what the target holds, but lists the target in full
 * at least this often (objects changed or removed behind Ferry's back show then, and in every
 * verify). */
#define FULL_LISTING_EVERY_MS (6LL * 3600 * 1000)
/* Sends of one request after a throttle, a 5xx or a lost connection. */
#define ATTEMPTS_MAX 6
/* How often the manifest is written while transfers run. */
#define SAVE_EVERY_MS 10000

typedef enum job_kind { JOB_PUT, JOB_PART, JOB_DELETE } job_kind;

/* A file being sent in parts. */
typedef struct mp_file {
    size_t idx; /* in the source tree */
    int fd;     /* directory source: open while parts are in flight; else -1 */
    char *upload_id;
    int nparts, left;
    unsigned char (*md5)[16];
    char (*etag)[FERRY_S3_ETAG_MAX];
    bool failed;
} mp_file;

typedef struct job {
    struct pass *ps;
    job_kind kind;
    size_t idx;   /* source index (PUT, PART) or target index (DELETE) */
    size_t slot;  /* DELETE: the object's slot in the next manifest */
    mp_file *mp;  /* PART */
    int part;     /* PART: 1..N */
    uint64_t off; /* where in the file */
    uint64_t len;
    uint64_t sent;
    int fd; /* streamed PUT/PART from a directory: the file; else -1 */
    ferry_buf mem;
    bool mem_ready;   /* mem holds the body (read from the file or fetched from S3) */
    EVP_MD_CTX *hash; /* streamed: MD5 of what was sent */
    char md5[FERRY_S3_MD5_HEX];
    int attempts;
    int64_t not_before;
    struct job *next;
} job;

typedef struct pass {
    const filesync_options *opts;
    filesync_report *rep;
    filesync_s3pair *s3;
    ferry_http_multi *multi;
    filesync_tree src, dst;
    filesync_manifest old, next;
    char *manifest_key;
    char source_id[1200];
    bool from_s3;
    size_t *plan; /* source indexes to send, in order */
    size_t n_plan, cursor;
    size_t *extra; /* target indexes the source does not have */
    size_t n_extra;
    job *ready, *ready_tail; /* parts and retries first */
    size_t running;
    int concurrency;
    ferry_rc fatal; /* a failure every request would meet: stop the pass */
    ferry_err fatal_err;
    uint64_t files_done, bytes_done;
    int64_t last_save, last_progress;
} pass;

/* ---- small helpers ------------------------------------------------------------------------ */

static bool stop_now(const pass *ps)
{
    return ps->opts->stopping != NULL && ps->opts->stopping(ps->opts->stop_ud);
}

static void progress(pass *ps, const char *phase, bool force)
{
    int64_t now = ferry_mono_ms();
    if (ps->opts->progress == NULL || (!force && now - ps->last_progress < 250))
        return;
    ps->last_progress = now;
    filesync_progress p = {.phase = phase,
                           .files_done = ps->files_done,
                           .files_total = ps->src.n,
                           .bytes_done = ps->bytes_done,
                           .bytes_total = ps->src.bytes};
    ps->opts->progress(ps->opts->progress_ud, &p);
}

static void file_error(pass *ps, const char *key, ferry_rc rc, const char *msg)
{
    ps->rep->errors++;
    ferry_log(FERRY_LOG_WARN, NULL, "file-sync: %s: %s (%s)", key, msg, ferry_rc_str(rc));
    if (ps->rep->first_error == NULL)
        ps->rep->first_error = strdup(msg);
}

/* Whether every other request would fail the same way: wrong key, no bucket, no right. */
static bool fatal(ferry_rc rc, const char *code)
{
    if (rc == FERRY_ERR_AUTH || rc == FERRY_ERR_PERMISSION || rc == FERRY_ERR_CONFIG)
        return true;
    return rc == FERRY_ERR_NOT_FOUND && strcmp(code, "NoSuchBucket") == 0;
}

static void set_fatal(pass *ps, ferry_rc rc, const char *code, const ferry_err *err)
{
    if (ps->fatal != FERRY_OK)
        return;
    ps->fatal = rc;
    ps->fatal_err = *err;
    if (strcmp(code, "RequestTimeTooSkewed") == 0)
        (void)ferry_err_prefix(&ps->fatal_err,
                               "this machine's clock differs from the S3 server's by more "
                               "than 15 minutes");
}

static void enqueue(pass *ps, job *j)
{
    j->next = NULL;
    if (ps->ready_tail != NULL)
        ps->ready_tail->next = j;
    else
        ps->ready = j;
    ps->ready_tail = j;
}

static void job_free(job *j)
{
    if (j == NULL)
        return;
    if (j->fd >= 0)
        (void)close(j->fd);
    EVP_MD_CTX_free(j->hash);
    ferry_buf_cleanup(&j->mem);
    free(j);
}

static job *job_new(pass *ps, job_kind kind, size_t idx)
{
    job *j = calloc(1, sizeof(*j));
    if (j == NULL)
        return NULL;
    j->ps = ps;
    j->kind = kind;
    j->idx = idx;
    j->fd = -1;
    return j;
}

static char *full_key(const filesync_location *loc, const char *rel)
{
    size_t len = strlen(loc->prefix) + strlen(rel) + 1;
    char *k = malloc(len);
    if (k != NULL)
        (void)snprintf(k, len, "%s%s", loc->prefix, rel);
    return k;
}

/* Records that source entry idx is on the target as etag (md5 of its content, part size). */
static void record(pass *ps, size_t idx, const char *md5, const char *etag, uint64_t part_size)
{
    const filesync_entry *e = &ps->src.v[idx];
    filesync_mentry *m = &ps->next.v[idx];
    if (m->key == NULL) {
        m->key = strdup(e->key);
        if (m->key == NULL)
            return; /* not recorded: the next pass checks it by hash */
    }
    m->size = e->size;
    filesync_manifest_version(e, ps->from_s3, m->version);
    (void)snprintf(m->md5, sizeof(m->md5), "%s", md5);
    filesync_etag_strip(etag, m->etag);
    m->part_size = part_size;
}

/* Directory source: whether the file still has the size and time it was listed with. */
static bool unchanged_since_listing(pass *ps, size_t idx)
{
    if (ps->from_s3)
        return true;
    const filesync_entry *e = &ps->src.v[idx];
    struct stat st;
    if (filesync_stat_beneath(ps->opts->source.dir, e->key, &st) != 0)
        return false;
    int64_t m = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    if (e->marker) /* still a directory; what it holds shows in the next listing */
        return S_ISDIR(st.st_mode);
    return (uint64_t)st.st_size == e->size && m == e->mtime_ns;
}

/* ---- the read side: a file's bytes ---------------------------------------------------------*/

static int open_source(pass *ps, size_t idx, ferry_rc *rc, char *msg, size_t msgsz)
{
    /* Below the walked directory as the walk reached it: a directory swapped for a symlink
     * since is refused, not followed out of the tree. */
    int fd = filesync_open_file_beneath(ps->opts->source.dir, ps->src.v[idx].key);
    if (fd < 0) {
        int e = errno;
        *rc = e == ENOENT ? FERRY_ERR_NOT_FOUND : e == EACCES ? FERRY_ERR_PERMISSION : FERRY_ERR_IO;
        (void)snprintf(msg, msgsz, "source file '%s' cannot be read: %s", ps->src.v[idx].key,
                       strerror(e));
    }
    return fd;
}

/* Reads len bytes at off into b; false with errno set on failure or a short file. */
static bool read_all(int fd, uint64_t off, uint64_t len, ferry_buf *b)
{
    char chunk[65536];
    while (len > 0) {
        size_t want = len < sizeof(chunk) ? (size_t)len : sizeof(chunk);
        ssize_t n = pread(fd, chunk, want, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = ENODATA; /* shorter than listed: it changed */
            return false;
        }
        ferry_buf_addn(b, chunk, (size_t)n);
        off += (uint64_t)n;
        len -= (uint64_t)n;
    }
    if (b->p == NULL)
        ferry_buf_add(b, ""); /* an empty file still has a body */
    return !b->oom;
}

static size_t stream_read(void *buf, size_t len, void *ud)
{
    job *j = ud;
    uint64_t left = j->len - j->sent;
    if (left == 0)
        return 0;
    if (len > left)
        len = (size_t)left;
    ssize_t n;
    do {
        n = pread(j->fd, buf, len, (off_t)(j->off + j->sent));
    } while (n < 0 && errno == EINTR);
    if (n <= 0)
        return SIZE_MAX; /* unreadable or shorter than listed: abort this request */
    (void)EVP_DigestUpdate(j->hash, buf, (size_t)n);
    j->sent += (uint64_t)n;
    return (size_t)n;
}

static bool fetch_write(const void *data, size_t len, void *ud)
{
    job *j = ud;
    ferry_buf_addn(&j->mem, data, len);
    return !j->mem.oom;
}

/* ---- sending -------------------------------------------------------------------------------*/

static void job_done(ferry_rc rc, const ferry_http_response *resp, const char *code,
                     const ferry_err *err, void *ud);
static void fetch_done(ferry_rc rc, const ferry_http_response *resp, const char *code,
                       const ferry_err *err, void *ud);

static void mp_finish(pass *ps, mp_file *mp);

/* Frees j. A part that will not be sent fails its upload, which ends (aborted) once no other
 * part of it is queued or in flight. */
static void job_release(pass *ps, job *j)
{
    mp_file *mp = j->mp;
    job_free(j);
    if (mp == NULL)
        return;
    mp->failed = true;
    if (--mp->left == 0)
        mp_finish(ps, mp);
}

/* Fails job j's file for good (or the whole pass); frees j. */
static void job_fail(pass *ps, job *j, ferry_rc rc, const char *code, const ferry_err *err)
{
    if (rc != FERRY_ERR_CANCELLED) {
        if (fatal(rc, code))
            set_fatal(ps, rc, code, err);
        else
            file_error(ps, j->kind == JOB_DELETE ? ps->dst.v[j->idx].key : ps->src.v[j->idx].key,
                       rc, err->msg);
    }
    job_release(ps, j);
}

static void retry_later(pass *ps, job *j)
{
    j->not_before = ferry_mono_ms() + ferry_backoff_ms(j->attempts, 200);
    j->sent = 0;
    if (j->hash != NULL)
        (void)EVP_DigestInit_ex(j->hash, EVP_md5(), NULL);
    ps->rep->retries++;
    enqueue(ps, j);
}

/* Starts job j; on failure to start, fails it. */
static void job_start(pass *ps, job *j)
{
    ferry_err err = {0};
    ferry_rc rc = FERRY_OK;
    char msg[600];
    char *key = NULL;
    const char *op = "PutObject";
    ferry_s3_param params[2];
    char partno[16];
    j->attempts++;

    if (j->kind == JOB_DELETE) {
        key = full_key(&ps->opts->target, ps->dst.v[j->idx].key);
        ferry_s3_request r = {.op = "DeleteObject",
                              .method = "DELETE",
                              .bucket = ps->opts->target.bucket,
                              .key = key};
        rc = key == NULL ? ferry_err_set(&err, FERRY_ERR_NOMEM, "out of memory")
                         : ferry_s3_start(ps->s3->dst, ps->multi, &r, job_done, j, &err);
        goto started;
    }

    const filesync_entry *e = &ps->src.v[j->idx];
    /* The bytes: in memory (small files, and everything from an S3 source), or streamed. */
    if (ps->from_s3 && !j->mem_ready) {
        char range[64];
        char *skey = full_key(&ps->opts->source, e->key);
        if (j->kind == JOB_PART)
            (void)snprintf(range, sizeof(range), "bytes=%" PRIu64 "-%" PRIu64, j->off,
                           j->off + j->len - 1);
        ferry_s3_request r = {.op = "GetObject",
                              .method = "GET",
                              .bucket = ps->opts->source.bucket,
                              .key = skey,
                              .write_fn = fetch_write,
                              .write_ud = j,
                              .range = j->kind == JOB_PART ? range : NULL};
        ferry_buf_reset(&j->mem);
        rc = skey == NULL ? ferry_err_set(&err, FERRY_ERR_NOMEM, "out of memory")
                          : ferry_s3_start(ps->s3->src, ps->multi, &r, fetch_done, j, &err);
        free(skey);
        goto started;
    }
    if (!ps->from_s3 && j->fd < 0 && !j->mem_ready) {
        int fd = j->mp != NULL ? dup(j->mp->fd) : open_source(ps, j->idx, &rc, msg, sizeof(msg));
        if (fd < 0 && j->mp != NULL) {
            rc = FERRY_ERR_IO;
            (void)snprintf(msg, sizeof(msg), "source file '%s': %s", e->key, strerror(errno));
        }
        if (fd < 0) {
            if (rc == FERRY_ERR_NOT_FOUND) { /* deleted since the listing: the next pass sees */
                ps->rep->changed_during++;
            } else {
                file_error(ps, e->key, rc, msg);
            }
            job_release(ps, j);
            return;
        }
        if (j->len <= MEM_MAX) {
            bool ok = read_all(fd, j->off, j->len, &j->mem);
            int e2 = errno;
            (void)close(fd);
            if (!ok) {
                (void)snprintf(msg, sizeof(msg), "source file '%s' cannot be read: %s", e->key,
                               strerror(e2));
                if (e2 == ENODATA) {
                    ps->rep->changed_during++;
                } else {
                    file_error(ps, e->key, FERRY_ERR_IO, msg);
                }
                job_release(ps, j);
                return;
            }
            j->mem_ready = true;
        } else {
            j->fd = fd;
        }
    }
    if (j->mem_ready) {
        (void)ferry_s3_md5_hex(j->mem.p, j->mem.len, j->md5);
    } else {
        if (j->hash == NULL)
            j->hash = EVP_MD_CTX_new();
        if (j->hash == NULL || EVP_DigestInit_ex(j->hash, EVP_md5(), NULL) != 1) {
            job_fail(ps, j, FERRY_ERR_NOMEM, "",
                     &(ferry_err){.code = FERRY_ERR_NOMEM, .msg = "out of memory (md5)"});
            return;
        }
        j->sent = 0;
    }
    key = full_key(&ps->opts->target, e->key);
    ferry_s3_request r = {.method = "PUT", .bucket = ps->opts->target.bucket, .key = key};
    if (j->kind == JOB_PART) {
        op = "UploadPart";
        (void)snprintf(partno, sizeof(partno), "%d", j->part);
        params[0] = (ferry_s3_param){"partNumber", partno};
        params[1] = (ferry_s3_param){"uploadId", j->mp->upload_id};
        r.params = params;
        r.nparams = 2;
    }
    r.op = op;
    if (j->mem_ready) {
        r.body = j->mem.p;
        r.body_len = j->mem.len;
    } else {
        r.read_fn = stream_read;
        r.read_ud = j;
        r.read_len = j->len;
    }
    rc = key == NULL ? ferry_err_set(&err, FERRY_ERR_NOMEM, "out of memory")
                     : ferry_s3_start(ps->s3->dst, ps->multi, &r, job_done, j, &err);
started:
    free(key);
    if (rc != FERRY_OK) {
        job_fail(ps, j, rc, "", &err);
        return;
    }
    ps->running++;
    ps->rep->requests++;
}

static void fetch_done(ferry_rc rc, const ferry_http_response *resp, const char *code,
                       const ferry_err *err, void *ud)
{
    (void)resp;
    job *j = ud;
    pass *ps = j->ps;
    ps->running--;
    if (rc == FERRY_OK && j->mem.len != j->len && !j->mem.oom) {
        ps->rep->changed_during++; /* replaced since the listing: the next pass sees it */
        job_release(ps, j);
        return;
    }
    if (rc == FERRY_OK) {
        if (j->mem.p == NULL)
            ferry_buf_add(&j->mem, "");
        j->mem_ready = true;
        enqueue(ps, j);
        return;
    }
    if (ferry_s3_transient(rc) && j->attempts < ATTEMPTS_MAX) {
        retry_later(ps, j);
        return;
    }
    if (rc == FERRY_ERR_NOT_FOUND && strcmp(code, "NoSuchKey") == 0) {
        ps->rep->changed_during++; /* deleted since the listing */
        job_release(ps, j);
        return;
    }
    job_fail(ps, j, rc, code, err);
}

static void job_done(ferry_rc rc, const ferry_http_response *resp, const char *code,
                     const ferry_err *err, void *ud)
{
    job *j = ud;
    pass *ps = j->ps;
    char etag[FERRY_S3_ETAG_MAX] = "";
    ps->running--;
    if (rc != FERRY_OK) {
        if (ferry_s3_transient(rc) && j->attempts < ATTEMPTS_MAX) {
            if (j->fd >= 0 && j->kind == JOB_PUT) {
                (void)close(j->fd);
                j->fd = -1;
            }
            retry_later(ps, j);
            return;
        }
        job_fail(ps, j, rc, code, err);
        return;
    }
    if (j->kind == JOB_DELETE) {
        /* gone from the target: gone from the manifest */
        free(ps->next.v[j->slot].key);
        ps->next.v[j->slot].key = NULL;
        ps->rep->deleted++;
        job_free(j);
        return;
    }
    if (j->hash != NULL && !j->mem_ready) {
        unsigned char d[16];
        unsigned int dl = 0;
        (void)EVP_DigestFinal_ex(j->hash, d, &dl);
        for (int i = 0; i < 16; i++)
            (void)snprintf(j->md5 + 2 * i, 3, "%02x", d[i]);
    }
    (void)ferry_http_response_header(resp, "ETag", etag, sizeof(etag));
    char got[FS_ETAG_MAX];
    filesync_etag_strip(etag, got);
    /* A plain-MD5 ETag that is not the MD5 of what was sent means the bytes were damaged. */
    if (strlen(got) == 32 && strchr(got, '-') == NULL && strcmp(got, j->md5) != 0) {
        ferry_err e2 = {0};
        (void)ferry_err_set(&e2, FERRY_ERR_PROTOCOL,
                            "the target stored '%s' with MD5 %s, but %s was sent",
                            ps->src.v[j->idx].key, got, j->md5);
        if (j->attempts < ATTEMPTS_MAX) {
            retry_later(ps, j);
            return;
        }
        job_fail(ps, j, FERRY_ERR_PROTOCOL, "", &e2);
        return;
    }
    if (j->kind == JOB_PART) {
        mp_file *mp = j->mp;
        int k = j->part - 1;
        for (int i = 0; i < 16; i++) {
            unsigned int v = 0;
            (void)sscanf(j->md5 + 2 * i, "%2x", &v);
            mp->md5[k][i] = (unsigned char)v;
        }
        (void)snprintf(mp->etag[k], FERRY_S3_ETAG_MAX, "%s", etag);
        ps->rep->uploaded_bytes += j->len;
        ps->bytes_done += j->len;
        job_free(j);
        if (--mp->left == 0)
            mp_finish(ps, mp);
        return;
    }
    size_t idx = j->idx;
    if (unchanged_since_listing(ps, idx)) {
        record(ps, idx, j->md5, etag, 0);
    } else {
        ps->rep->changed_during++;
    }
    ps->rep->uploaded++;
    ps->rep->uploaded_bytes += j->len;
    ps->files_done++;
    ps->bytes_done += j->len;
    job_free(j);
}

/* ---- multipart -----------------------------------------------------------------------------*/

static void mp_free(mp_file *mp)
{
    if (mp == NULL)
        return;
    if (mp->fd >= 0)
        (void)close(mp->fd);
    free(mp->upload_id);
    free(mp->md5);
    free(mp->etag);
    free(mp);
}

/* All parts ended: complete (or abort) the upload and record the file. */
static void mp_finish(pass *ps, mp_file *mp)
{
    const filesync_entry *e = &ps->src.v[mp->idx];
    ferry_err err = {0};
    char *key = full_key(&ps->opts->target, e->key);
    if (key == NULL) {
        mp->failed = true;
    } else if (mp->failed) {
        (void)ferry_s3_multipart_abort(ps->s3->dst, ps->opts->target.bucket, key, mp->upload_id,
                                       &err);
    } else {
        ferry_s3_part *parts = calloc((size_t)mp->nparts, sizeof(*parts));
        char etag[FERRY_S3_ETAG_MAX] = "";
        ferry_rc rc = FERRY_ERR_NOMEM;
        if (parts != NULL) {
            for (int i = 0; i < mp->nparts; i++)
                parts[i] = (ferry_s3_part){.number = i + 1, .etag = mp->etag[i]};
            rc = ferry_s3_multipart_complete(ps->s3->dst, ps->opts->target.bucket, key,
                                             mp->upload_id, parts, (size_t)mp->nparts, etag, &err);
            ps->rep->requests++;
        }
        free(parts);
        char want[FERRY_S3_MD5_HEX], got[FS_ETAG_MAX], expect[FS_ETAG_MAX];
        if (rc == FERRY_OK) {
            (void)ferry_s3_md5_hex(mp->md5, (size_t)mp->nparts * 16, want);
            (void)snprintf(expect, sizeof(expect), "%s-%d", want, mp->nparts);
            filesync_etag_strip(etag, got);
            if (strchr(got, '-') != NULL && strcmp(got, expect) != 0)
                rc = ferry_err_set(&err, FERRY_ERR_PROTOCOL,
                                   "the target assembled '%s' as %s, expected %s", e->key, got,
                                   expect);
        }
        if (rc == FERRY_OK) {
            if (unchanged_since_listing(ps, mp->idx))
                record(ps, mp->idx, "", etag, ps->opts->part_size);
            else
                ps->rep->changed_during++;
            ps->rep->uploaded++;
            ps->files_done++;
        } else {
            if (fatal(rc, ""))
                set_fatal(ps, rc, "", &err);
            else
                file_error(ps, e->key, rc, err.msg);
            (void)ferry_s3_multipart_abort(ps->s3->dst, ps->opts->target.bucket, key, mp->upload_id,
                                           &err);
        }
    }
    free(key);
    mp_free(mp);
}

/* Starts a multipart upload of source entry idx and queues its parts. */
static void mp_begin(pass *ps, size_t idx)
{
    const filesync_entry *e = &ps->src.v[idx];
    ferry_err err = {0};
    ferry_rc rc = FERRY_OK;
    char msg[600];
    uint64_t psz = ps->opts->part_size;
    int nparts = (int)((e->size + psz - 1) / psz);
    mp_file *mp = calloc(1, sizeof(*mp));
    char *key = full_key(&ps->opts->target, e->key);
    if (mp == NULL || key == NULL || nparts > 10000) {
        file_error(ps, e->key, FERRY_ERR_INVALID,
                   nparts > 10000 ? "more than 10000 parts: raise the part size" : "out of memory");
        free(key);
        free(mp);
        return;
    }
    mp->idx = idx;
    mp->fd = -1;
    mp->nparts = nparts;
    mp->md5 = calloc((size_t)nparts, sizeof(*mp->md5));
    mp->etag = calloc((size_t)nparts, sizeof(*mp->etag));
    if (mp->md5 == NULL || mp->etag == NULL) {
        file_error(ps, e->key, FERRY_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (!ps->from_s3) {
        mp->fd = open_source(ps, idx, &rc, msg, sizeof(msg));
        if (mp->fd < 0) {
            if (rc == FERRY_ERR_NOT_FOUND)
                ps->rep->changed_during++;
            else
                file_error(ps, e->key, rc, msg);
            goto fail;
        }
    }
    rc = ferry_s3_multipart_create(ps->s3->dst, ps->opts->target.bucket, key, &mp->upload_id, &err);
    ps->rep->requests++;
    if (rc != FERRY_OK) {
        if (fatal(rc, ""))
            set_fatal(ps, rc, "", &err);
        else
            file_error(ps, e->key, rc, err.msg);
        goto fail;
    }
    for (int i = 0; i < nparts; i++) {
        job *j = job_new(ps, JOB_PART, idx);
        if (j == NULL) {
            mp->failed = true;
            mp->left += nparts - i;
            break;
        }
        j->mp = mp;
        j->part = i + 1;
        j->off = (uint64_t)i * psz;
        j->len = e->size - j->off < psz ? e->size - j->off : psz;
        mp->left++;
        enqueue(ps, j);
    }
    if (mp->failed && mp->left == nparts) /* nothing queued */
        mp_finish(ps, mp);
    free(key);
    return;
fail:
    free(key);
    mp_free(mp);
}

/* ---- the plan ------------------------------------------------------------------------------*/

/* Decides, for every source entry, whether it is in sync, already there, or to be sent. */
static ferry_rc plan(pass *ps, ferry_err *err)
{
    ps->plan = calloc(ps->src.n + 1, sizeof(*ps->plan));
    ps->extra = calloc(ps->dst.n + 1, sizeof(*ps->extra));
    /* The next manifest: one slot per source entry, then the target's extra objects (kept
     * there, so a later pass with deletions on still knows them). */
    ps->next.v = calloc(ps->src.n + ps->dst.n + 1, sizeof(*ps->next.v));
    if (ps->plan == NULL || ps->extra == NULL || ps->next.v == NULL)
        return ferry_err_set(err, FERRY_ERR_NOMEM, "planning the pass: out of memory");
    ps->next.n = ps->src.n;
    size_t i = 0, k = 0;
    while (i < ps->src.n || k < ps->dst.n) {
        int c = i >= ps->src.n   ? 1
                : k >= ps->dst.n ? -1
                                 : strcmp(ps->src.v[i].key, ps->dst.v[k].key);
        if (c > 0) {
            const filesync_entry *t = &ps->dst.v[k];
            filesync_mentry *x = &ps->next.v[ps->next.n++];
            x->key = strdup(t->key);
            x->size = t->size;
            (void)snprintf(x->version, sizeof(x->version), "x");
            (void)snprintf(x->etag, sizeof(x->etag), "%s", t->etag);
            ps->extra[ps->n_extra++] = k++;
            continue;
        }
        const filesync_entry *s = &ps->src.v[i];
        const filesync_entry *t = c == 0 ? &ps->dst.v[k] : NULL;
        if (c == 0)
            k++;
        const filesync_mentry *m = filesync_manifest_find(&ps->old, s->key);
        char version[FS_VERSION_MAX];
        filesync_manifest_version(s, ps->from_s3, version);
        bool in_sync = t != NULL && m != NULL && m->size == s->size &&
                       strcmp(m->version, version) == 0 && t->size == s->size &&
                       strcmp(t->etag, m->etag) == 0;
        if (in_sync) {
            ps->next.v[i] = *m;
            ps->next.v[i].key = strdup(s->key);
            ps->rep->unchanged++;
            ps->files_done++;
            ps->bytes_done += s->size;
            i++;
            continue;
        }
        /* On the target with the same size but not recorded (a pass killed before it wrote
         * the manifest, or copied by other means): compare content before sending again. */
        if (t != NULL && t->size == s->size && t->etag[0] != '\0') {
            bool same = false;
            char sum[FS_ETAG_MAX] = "";
            if (ps->from_s3) {
                same = strcmp(s->etag, t->etag) == 0;
            } else if (filesync_checksum_like(ps->opts, s->key, t, m != NULL ? m->part_size : 0,
                                              sum, &ps->rep->hashed_bytes) == FERRY_OK) {
                same = strcmp(sum, t->etag) == 0;
            }
            if (same) {
                record(ps, i, strchr(sum, '-') == NULL ? sum : "", t->etag,
                       strchr(t->etag, '-') != NULL
                           ? (m != NULL && m->part_size > 0 ? m->part_size : ps->opts->part_size)
                           : 0);
                ps->rep->adopted++;
                ps->files_done++;
                ps->bytes_done += s->size;
                i++;
                continue;
            }
        }
        ps->plan[ps->n_plan++] = i++;
        if (stop_now(ps))
            return ferry_err_set(err, FERRY_ERR_CANCELLED, "the pass was stopped");
    }
    return FERRY_OK;
}

/* The target as the manifest says it is: its keys with their sizes and ETags. */
static ferry_rc tree_from_manifest(const filesync_manifest *m, filesync_tree *t, ferry_err *err)
{
    memset(t, 0, sizeof(*t));
    t->v = calloc(m->n + 1, sizeof(*t->v));
    if (t->v == NULL)
        return ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
    t->cap = m->n + 1;
    for (size_t i = 0; i < m->n; i++) {
        filesync_entry *e = &t->v[t->n];
        e->key = strdup(m->v[i].key);
        if (e->key == NULL) {
            filesync_tree_cleanup(t);
            return ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
        }
        e->size = m->v[i].size;
        (void)snprintf(e->etag, sizeof(e->etag), "%s", m->v[i].etag);
        e->marker = e->key[0] != '\0' && e->key[strlen(e->key) - 1] == '/';
        t->bytes += e->size;
        t->n++;
    }
    return FERRY_OK;
}

static void save_manifest(pass *ps, bool final)
{
    ferry_err err = {0};
    ferry_rc rc = filesync_manifest_save(ps->s3->dst, ps->opts->target.bucket, ps->manifest_key,
                                         ps->source_id, &ps->next, ps->opts->generation, &err);
    if (rc == FERRY_ERR_CONFLICT)
        /* A newer attempt owns the target now: this pass stops, its result not kept. */
        set_fatal(ps, rc, "", &err);
    else if (rc != FERRY_OK)
        ferry_log(FERRY_LOG_WARN, NULL, "file-sync: %s the manifest could not be written: %s",
                  final ? "at the end of the pass," : "during the pass,", err.msg);
    ps->last_save = ferry_mono_ms();
}

/* Picks the next job to start: a due part or retry, else the next planned file. */
static job *next_job(pass *ps)
{
    int64_t now = ferry_mono_ms();
    for (job **pp = &ps->ready; *pp != NULL; pp = &(*pp)->next) {
        job *j = *pp;
        if (j->not_before > now)
            continue;
        *pp = j->next;
        if (ps->ready_tail == j) {
            ps->ready_tail = NULL;
            for (job *t = ps->ready; t != NULL; t = t->next)
                ps->ready_tail = t;
        }
        j->next = NULL;
        return j;
    }
    while (ps->cursor < ps->n_plan && ps->fatal == FERRY_OK) {
        size_t idx = ps->plan[ps->cursor++];
        const filesync_entry *e = &ps->src.v[idx];
        if (e->size >= ps->opts->multipart_threshold && e->size > 0) {
            mp_begin(ps, idx);
            return next_job(ps);
        }
        job *j = job_new(ps, JOB_PUT, idx);
        if (j == NULL) {
            file_error(ps, e->key, FERRY_ERR_NOMEM, "out of memory");
            continue;
        }
        j->len = e->size;
        return j;
    }
    return NULL;
}

/* Runs the queue until it is empty, the pass is stopped, or a fatal error. */
static ferry_rc run_queue(pass *ps, const char *phase, ferry_err *err)
{
    while (ps->fatal == FERRY_OK) {
        if (stop_now(ps))
            return ferry_err_set(err, FERRY_ERR_CANCELLED, "the pass was stopped");
        while (ps->running < (size_t)ps->concurrency) {
            job *j = next_job(ps);
            if (j == NULL)
                break;
            job_start(ps, j);
        }
        if (ps->running == 0 && ps->ready == NULL && ps->cursor >= ps->n_plan)
            break;
        if (ps->running == 0) { /* only retries waiting for their time */
            ferry_sleep_ms(20);
            continue;
        }
        ferry_rc rc = ferry_http_multi_run(ps->multi, 100, err);
        if (rc != FERRY_OK)
            return rc;
        progress(ps, phase, false);
        if (ferry_mono_ms() - ps->last_save > SAVE_EVERY_MS)
            save_manifest(ps, false);
    }
    if (ps->fatal != FERRY_OK) {
        *err = ps->fatal_err;
        return ps->fatal;
    }
    return FERRY_OK;
}

/* Drops what is still queued or in flight (after a stop or a fatal error). */
static void drain(pass *ps)
{
    /* Transfers in flight end here, CANCELLED, through their done functions. */
    ferry_http_multi_free(ps->multi);
    ps->multi = NULL;
    while (ps->ready != NULL) {
        job *j = ps->ready;
        ps->ready = j->next;
        job_release(ps, j); /* a part: its upload is aborted once nothing of it is left */
    }
    ps->ready_tail = NULL;
}

ferry_rc filesync_pass(const filesync_options *opts, filesync_report *rep, ferry_err *err)
{
    ferry_rc rc = FERRY_OK;
    pass ps = {.opts = opts, .rep = rep, .concurrency = opts->concurrency};
    int64_t t0 = ferry_mono_ms();
    filesync_s3pair s3 = {0};
    ps.s3 = &s3;
    ps.from_s3 = opts->source.dir == NULL;
    if (ps.concurrency < 1)
        ps.concurrency = 1;
    filesync_source_id(&opts->source, ps.source_id, sizeof(ps.source_id));
    rc = filesync_s3pair_open(opts, &s3, err);
    if (rc != FERRY_OK)
        goto out;
    ps.multi = ferry_http_multi_new();
    ps.manifest_key = filesync_manifest_key(opts->target.prefix);
    if (ps.multi == NULL || ps.manifest_key == NULL) {
        rc = ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
        goto out;
    }

    /* The source's listing, the manifest, and the target's listing unless the manifest
     * vouches for the target (the last pass was complete, the last full listing recent). */
    progress(&ps, "listing", true);
    /* First the fence: an attempt older than the manifest's last writer sends nothing. */
    rc = filesync_manifest_fence(s3.dst, opts->target.bucket, ps.manifest_key, opts->generation,
                                 err);
    if (rc == FERRY_OK)
        rc = filesync_source_list(opts, &s3, &ps.src, err);
    if (rc == FERRY_OK)
        rc = filesync_manifest_load(s3.dst, opts->target.bucket, ps.manifest_key, ps.source_id,
                                    &ps.old, err);
    if (rc != FERRY_OK)
        goto out;
    int64_t now = ferry_wall_ms();
    bool trusted = ps.old.complete && !ps.old.ignored && now - ps.old.listed_ms >= 0 &&
                   now - ps.old.listed_ms < FULL_LISTING_EVERY_MS;
    if (trusted) {
        rc = tree_from_manifest(&ps.old, &ps.dst, err);
        ps.next.listed_ms = ps.old.listed_ms;
    } else {
        rc = filesync_tree_list(s3.dst, opts->target.bucket, opts->target.prefix,
                                opts->target.prefix[0] == '\0' ? ".ferry/" : NULL, opts->stopping,
                                opts->stop_ud, &ps.dst, err);
        ps.next.listed_ms = now;
        rep->target_listed = true;
        if (rc != FERRY_OK)
            (void)ferry_err_prefix(err, "listing");
    }
    if (rc != FERRY_OK)
        goto out;
    rep->files = ps.src.n;
    rep->bytes = ps.src.bytes;
    rep->skipped = ps.src.skipped;
    rep->errors = ps.src.errors;
    if (ps.src.first_error != NULL)
        rep->first_error = strdup(ps.src.first_error);
    rep->ms_list = ferry_mono_ms() - t0;

    /* Compare, then send. */
    progress(&ps, "comparing", true);
    rc = plan(&ps, err);
    if (rc != FERRY_OK)
        goto out;
    int64_t t1 = ferry_mono_ms();
    ps.last_save = t1;
    progress(&ps, "transferring", true);
    rc = run_queue(&ps, "transferring", err);
    rep->ms_transfer = ferry_mono_ms() - t1;
    if (rc != FERRY_OK)
        goto out;

    /* Deletions: only after a pass in which every file made it. */
    rep->extra = ps.n_extra;
    if (opts->delete_extra && ps.n_extra > 0 && rep->errors == 0) {
        progress(&ps, "deleting", true);
        for (size_t x = 0; x < ps.n_extra; x++) {
            job *j = job_new(&ps, JOB_DELETE, ps.extra[x]);
            if (j == NULL) {
                rc = ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
                goto out;
            }
            j->slot = ps.src.n + x; /* extras follow the source slots, in order (plan) */
            enqueue(&ps, j);
        }
        rc = run_queue(&ps, "deleting", err);
        if (rc != FERRY_OK)
            goto out;
    }
    progress(&ps, "done", true);
out:
    if (ps.multi != NULL && (rc != FERRY_OK || ps.running > 0))
        drain(&ps);
    /* What was sent stays recorded, also after a stop: the next pass does not send it again. */
    s3.finishing = true;
    ps.next.complete = rc == FERRY_OK && rep->errors == 0;
    if (ps.next.v != NULL && rc != FERRY_ERR_AUTH && rc != FERRY_ERR_PERMISSION &&
        rc != FERRY_ERR_CONFLICT)
        save_manifest(&ps, true);
    if (rc == FERRY_OK && ps.fatal == FERRY_ERR_CONFLICT) {
        *err = ps.fatal_err;
        rc = ps.fatal;
    }
    if (rc == FERRY_OK && rep->errors > 0)
        rc = ferry_err_set(err, FERRY_ERR_IO, "%" PRIu64 " file(s) failed; the first: %s",
                           rep->errors, rep->first_error != NULL ? rep->first_error : "?");
    rep->ms_total = ferry_mono_ms() - t0;
    ferry_http_multi_free(ps.multi);
    filesync_tree_cleanup(&ps.src);
    filesync_tree_cleanup(&ps.dst);
    filesync_manifest_cleanup(&ps.old);
    filesync_manifest_cleanup(&ps.next);
    free(ps.plan);
    free(ps.extra);
    free(ps.manifest_key);
    filesync_s3pair_close(&s3);
    return rc;
}
