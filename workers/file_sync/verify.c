/*
 * verify.c - every source file on the target with the same size and content checksum (see
 * fs.h). Directory sources are read in full (MD5, or the multipart ETag computed the same way
 * the target computed it); S3 sources compare ETags, or the mapping a pass recorded when it
 * checked the bytes it copied.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/buf.h"
#include "ferry/clock.h"
#include "fsi.h"
#include "manifest.h"

#define DIFFERENCES_MAX 20

static void difference(filesync_report *rep, ferry_buf *diffs, const char *key, const char *why)
{
    if (rep->n_missing + rep->n_different > DIFFERENCES_MAX)
        return;
    ferry_buf_add(diffs, key);
    ferry_buf_add(diffs, ": ");
    ferry_buf_add(diffs, why);
    ferry_buf_add(diffs, "\n");
}

ferry_rc filesync_verify(const filesync_options *opts, filesync_report *rep, ferry_err *err)
{
    ferry_rc rc = FERRY_OK;
    filesync_s3pair s3 = {0};
    filesync_tree src = {0}, dst = {0};
    filesync_manifest man = {0};
    ferry_buf diffs = {0};
    char *mkey = NULL;
    char source_id[1200];
    int64_t t0 = ferry_mono_ms();
    bool from_s3 = opts->source.dir == NULL;
    uint64_t files_done = 0, bytes_done = 0;
    int64_t last = 0;

    filesync_source_id(&opts->source, source_id, sizeof(source_id));
    rc = filesync_s3pair_open(opts, &s3, err);
    if (rc != FERRY_OK)
        goto out;
    rc = filesync_source_list(opts, &s3, &src, err);
    if (rc == FERRY_OK)
        rc = filesync_tree_list(s3.dst, opts->target.bucket, opts->target.prefix,
                                opts->target.prefix[0] == '\0' ? ".ferry/" : NULL, opts->stopping,
                                opts->stop_ud, &dst, err);
    mkey = filesync_manifest_key(opts->target.prefix);
    if (rc == FERRY_OK && mkey == NULL)
        rc = ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
    if (rc == FERRY_OK)
        rc = filesync_manifest_load(s3.dst, opts->target.bucket, mkey, source_id, &man, err);
    if (rc != FERRY_OK)
        goto out;
    rep->files = src.n;
    rep->bytes = src.bytes;
    rep->skipped = src.skipped;
    rep->errors = src.errors;
    if (src.first_error != NULL)
        rep->first_error = strdup(src.first_error);
    rep->ms_list = ferry_mono_ms() - t0;

    size_t k = 0;
    for (size_t i = 0; i < src.n; i++) {
        if (opts->stopping != NULL && opts->stopping(opts->stop_ud)) {
            rc = ferry_err_set(err, FERRY_ERR_CANCELLED, "verify was stopped");
            goto out;
        }
        const filesync_entry *s = &src.v[i];
        while (k < dst.n && strcmp(dst.v[k].key, s->key) < 0) {
            rep->extra++;
            k++;
        }
        const filesync_entry *t = k < dst.n && strcmp(dst.v[k].key, s->key) == 0 ? &dst.v[k] : NULL;
        if (t != NULL)
            k++;
        char why[200];
        if (t == NULL) {
            rep->n_missing++;
            difference(rep, &diffs, s->key, "missing on the target");
        } else if (t->size != s->size) {
            rep->n_different++;
            (void)snprintf(why, sizeof(why),
                           "size %" PRIu64 " on the target, %" PRIu64 " on the source", t->size,
                           s->size);
            difference(rep, &diffs, s->key, why);
        } else if (s->marker) {
            /* an empty directory: its zero-byte marker is there */
        } else if (from_s3) {
            const filesync_mentry *m = filesync_manifest_find(&man, s->key);
            char version[FS_VERSION_MAX];
            filesync_manifest_version(s, true, version);
            bool same =
                strcmp(s->etag, t->etag) == 0 ||
                (m != NULL && strcmp(m->version, version) == 0 && strcmp(m->etag, t->etag) == 0);
            if (!same) {
                rep->n_different++;
                difference(rep, &diffs, s->key, "content differs (ETag)");
            }
        } else {
            const filesync_mentry *m = filesync_manifest_find(&man, s->key);
            char sum[FS_ETAG_MAX] = "";
            rc = filesync_checksum_like(opts, s->key, t, m != NULL ? m->part_size : 0, sum,
                                        &rep->hashed_bytes);
            if (rc == FERRY_ERR_IO) {
                rep->errors++;
                (void)snprintf(why, sizeof(why), "source file cannot be read");
                difference(rep, &diffs, s->key, why);
            } else if (rc != FERRY_OK || strcmp(sum, t->etag) != 0) {
                rep->n_different++;
                (void)snprintf(why, sizeof(why), "content differs: target %s, source %s", t->etag,
                               rc == FERRY_OK ? sum : "(another part layout)");
                difference(rep, &diffs, s->key, why);
            }
            rc = FERRY_OK;
        }
        files_done++;
        bytes_done += s->size;
        if (opts->progress != NULL && ferry_mono_ms() - last > 250) {
            last = ferry_mono_ms();
            filesync_progress p = {.phase = "verifying",
                                   .files_done = files_done,
                                   .files_total = src.n,
                                   .bytes_done = bytes_done,
                                   .bytes_total = src.bytes};
            opts->progress(opts->progress_ud, &p);
        }
    }
    rep->extra += dst.n - k;
    if (diffs.oom) {
        rc = ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
        goto out;
    }
    rep->differences = diffs.p;
    diffs.p = NULL;
    rep->verified = rep->n_missing + rep->n_different == 0 && rep->errors == 0 ? 1 : 0;
    if (rep->verified == 0 && man.complete && !man.ignored) {
        /* The manifest no longer vouches for the target: the next pass lists it in full and
         * sends again what differs. */
        ferry_err e2 = {0};
        man.complete = false;
        if (filesync_manifest_save(s3.dst, opts->target.bucket, mkey, source_id, &man,
                                   opts->generation, &e2) != FERRY_OK)
            rep->errors++; /* counted; the differences are what the caller acts on */
    }
    if (rep->verified == 0)
        rc = ferry_err_set(err, FERRY_ERR_CONFLICT,
                           "the target differs from the source: %" PRIu64 " missing, %" PRIu64
                           " different, %" PRIu64 " unreadable, of %zu files",
                           rep->n_missing, rep->n_different, rep->errors, src.n);
out:
    rep->ms_total = ferry_mono_ms() - t0;
    ferry_buf_cleanup(&diffs);
    filesync_manifest_cleanup(&man);
    filesync_tree_cleanup(&src);
    filesync_tree_cleanup(&dst);
    free(mkey);
    filesync_s3pair_close(&s3);
    return rc;
}
