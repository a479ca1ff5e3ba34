/* source.c - the S3 clients of a run and the source's listing (see fsi.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsi.h"

static bool on_progress(uint64_t down, uint64_t up, void *ud)
{
    (void)down;
    (void)up;
    const filesync_s3pair *s3 = ud;
    const filesync_options *opts = s3->opts;
    return s3->finishing || opts->stopping == NULL || !opts->stopping(opts->stop_ud);
}

static ferry_rc client_open(filesync_s3pair *s3, const filesync_location *loc, const char *side,
                            ferry_s3 **out, ferry_err *err)
{
    if (loc->endpoint == NULL || loc->endpoint[0] == '\0' || loc->bucket == NULL ||
        loc->bucket[0] == '\0')
        return ferry_err_set(err, FERRY_ERR_INVALID, "the %s has no S3 endpoint or bucket", side);
    if (loc->access_key == NULL || loc->secret_key == NULL)
        return ferry_err_set(err, FERRY_ERR_CONFIG, "no S3 credentials for the %s", side);
    ferry_s3_opts so = {.endpoint = loc->endpoint,
                        .region = loc->region != NULL && loc->region[0] != '\0' ? loc->region
                                                                                : "us-east-1",
                        .access_key = loc->access_key,
                        .secret_key = loc->secret_key,
                        .connect_timeout_ms = 10000,
                        .attempts = 6, /* listings, the manifest, multipart create/complete */
                        .progress_fn = on_progress,
                        .progress_ud = s3};
    ferry_rc rc = ferry_s3_new(&so, out, err);
    if (rc != FERRY_OK)
        (void)ferry_err_prefix(err, "the %s", side);
    return rc;
}

ferry_rc filesync_s3pair_open(const filesync_options *opts, filesync_s3pair *s3, ferry_err *err)
{
    memset(s3, 0, sizeof(*s3));
    s3->opts = opts;
    ferry_rc rc = client_open(s3, &opts->target, "target", &s3->dst, err);
    if (rc == FERRY_OK && opts->source.dir == NULL)
        rc = client_open(s3, &opts->source, "source", &s3->src, err);
    if (rc != FERRY_OK)
        filesync_s3pair_close(s3);
    return rc;
}

void filesync_s3pair_close(filesync_s3pair *s3)
{
    ferry_s3_free(s3->src);
    ferry_s3_free(s3->dst);
    memset(s3, 0, sizeof(*s3));
}

void filesync_source_id(const filesync_location *src, char *out, size_t outsz)
{
    if (src->dir != NULL)
        (void)snprintf(out, outsz, "dir:%s", src->dir);
    else
        (void)snprintf(out, outsz, "s3:%s/%s/%s", src->endpoint, src->bucket, src->prefix);
    for (char *p = out; *p != '\0'; p++) {
        if (*p == '\n' || *p == '\r')
            *p = ' '; /* the id is one line of the manifest */
    }
}

ferry_rc filesync_source_list(const filesync_options *opts, filesync_s3pair *s3, filesync_tree *t,
                              ferry_err *err)
{
    if (opts->source.dir != NULL)
        return filesync_tree_walk(opts->source.dir, t, err);
    ferry_rc rc = filesync_tree_list(s3->src, opts->source.bucket, opts->source.prefix,
                                     opts->source.prefix[0] == '\0' ? ".ferry/" : NULL,
                                     opts->stopping, opts->stop_ud, t, err);
    if (rc != FERRY_OK)
        (void)ferry_err_prefix(err, "the source");
    return rc;
}
