/*
 * demo_s3tool.c - ferry-demo-s3: the bucket chores of deploy/demo/setup, through Ferry's S3
 * client (so the signing pitfalls of bookworm's curl stay in one place, shared/s3.c).
 *
 *   ferry-demo-s3 create BUCKET           create it (one this account owns already: fine)
 *   ferry-demo-s3 remove BUCKET           delete every object, then the bucket (absent: fine)
 *   ferry-demo-s3 count BUCKET [PREFIX]   print how many objects (under PREFIX)
 *   ferry-demo-s3 put BUCKET KEY FILE     upload FILE (up to 1 GiB) as KEY (a hand-made "file
 *                                         sync" for trying the v4 app before Ferry's)
 *
 * Settings: the stack's FERRY_S3_ENDPOINT, FERRY_S3_REGION (default us-east-1),
 * FERRY_S3_ACCESS_KEY and FERRY_S3_SECRET_KEY, from the environment only (never argv).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/error.h"
#include "ferry/log.h"
#include "ferry/s3.h"

#define EXIT_CONFIG 2
#define EXIT_FAILED 1

static void usage(FILE *out)
{
    (void)fputs("usage: ferry-demo-s3 create BUCKET | remove BUCKET | count BUCKET [PREFIX] |\n"
                "                     put BUCKET KEY FILE\n"
                "Settings: FERRY_S3_ENDPOINT, FERRY_S3_REGION, FERRY_S3_ACCESS_KEY,\n"
                "FERRY_S3_SECRET_KEY (environment).\n",
                out);
}

/* Calls fn for every key under prefix (NULL: all), page by page. */
static ferry_rc each_key(ferry_s3 *s3, const char *bucket, const char *prefix,
                         ferry_rc (*fn)(ferry_s3 *s3, const char *bucket, const char *key, void *ud,
                                        ferry_err *err),
                         void *ud, ferry_err *err)
{
    ferry_rc rc = FERRY_OK;
    ferry_s3_list page = {0};
    char *token = NULL;
    for (;;) {
        ferry_s3_list_opts lo = {.prefix = prefix, .max_keys = 1000, .continuation_token = token};
        rc = ferry_s3_object_list(s3, bucket, &lo, &page, err);
        if (rc != FERRY_OK)
            break;
        for (size_t i = 0; i < page.count && rc == FERRY_OK; i++)
            rc = fn(s3, bucket, page.objects[i].key, ud, err);
        free(token);
        token = page.next_token;
        page.next_token = NULL;
        ferry_s3_list_cleanup(&page);
        if (rc != FERRY_OK || token == NULL)
            break;
    }
    ferry_s3_list_cleanup(&page);
    free(token);
    return rc;
}

static ferry_rc count_one(ferry_s3 *s3, const char *bucket, const char *key, void *ud,
                          ferry_err *err)
{
    (void)s3;
    (void)bucket;
    (void)key;
    (void)err;
    (*(unsigned long long *)ud)++;
    return FERRY_OK;
}

static ferry_rc delete_one(ferry_s3 *s3, const char *bucket, const char *key, void *ud,
                           ferry_err *err)
{
    (*(unsigned long long *)ud)++;
    return ferry_s3_object_delete(s3, bucket, key, err);
}

/* Largest file put uploads (read into memory: this is a demo chore, not a file sync). */
#define PUT_MAX (1024L * 1024L * 1024L)

static ferry_rc put_file(ferry_s3 *s3, const char *bucket, const char *key, const char *path,
                         ferry_err *err)
{
    ferry_rc rc = FERRY_OK;
    char *data = NULL;
    FILE *f = fopen(path, "rbe");
    if (f == NULL)
        return ferry_err_set_errno(err, FERRY_ERR_IO, errno, "cannot open %s", path);
    if (fseek(f, 0, SEEK_END) != 0) {
        rc = ferry_err_set_errno(err, FERRY_ERR_IO, errno, "cannot read %s", path);
        goto out;
    }
    long size = ftell(f);
    if (size < 0 || size > PUT_MAX || fseek(f, 0, SEEK_SET) != 0) {
        rc = ferry_err_set(err, FERRY_ERR_INVALID, "%s: unreadable or over 1 GiB", path);
        goto out;
    }
    data = malloc((size_t)size + 1);
    if (data == NULL) {
        rc = ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (fread(data, 1, (size_t)size, f) != (size_t)size) {
        rc = ferry_err_set(err, FERRY_ERR_IO, "%s: short read", path);
        goto out;
    }
    rc = ferry_s3_object_put(s3, bucket, key, data, (size_t)size, NULL, err);
out:
    free(data);
    (void)fclose(f);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    bool ok_args = argc >= 3 && ((strcmp(argv[1], "count") == 0 && argc <= 4) ||
                                 (strcmp(argv[1], "put") == 0 && argc == 5) || argc == 3);
    if (!ok_args) {
        usage(stderr);
        return EXIT_CONFIG;
    }
    const char *op = argv[1], *bucket = argv[2], *prefix = argc == 4 ? argv[3] : NULL;
    const char *key = argc == 5 ? argv[3] : NULL, *file = argc == 5 ? argv[4] : NULL;
    ferry_s3_opts so = {.endpoint = getenv("FERRY_S3_ENDPOINT"),
                        .region = getenv("FERRY_S3_REGION"),
                        .access_key = getenv("FERRY_S3_ACCESS_KEY"),
                        .secret_key = getenv("FERRY_S3_SECRET_KEY"),
                        .timeout_ms = 30000};
    if (so.region == NULL || so.region[0] == '\0')
        so.region = "us-east-1";
    if (so.endpoint == NULL || so.access_key == NULL || so.secret_key == NULL) {
        (void)fputs("ferry-demo-s3: FERRY_S3_ENDPOINT, FERRY_S3_ACCESS_KEY and "
                    "FERRY_S3_SECRET_KEY must be set (eval \"$(deploy/local/stack env)\")\n",
                    stderr);
        return EXIT_CONFIG;
    }
    ferry_log_add_secret(so.access_key);
    ferry_log_add_secret(so.secret_key);

    ferry_err err = {0};
    ferry_s3 *s3 = NULL;
    ferry_rc rc = ferry_s3_new(&so, &s3, &err);
    unsigned long long n = 0;
    if (rc != FERRY_OK)
        goto out;
    if (strcmp(op, "create") == 0) {
        rc = ferry_s3_bucket_create(s3, bucket, &err);
    } else if (strcmp(op, "remove") == 0) {
        rc = each_key(s3, bucket, NULL, delete_one, &n, &err);
        if (rc == FERRY_OK)
            rc = ferry_s3_bucket_delete(s3, bucket, &err);
        if (rc == FERRY_ERR_NOT_FOUND) /* no such bucket: nothing to remove */
            rc = FERRY_OK;
        if (rc == FERRY_OK && n > 0)
            (void)printf("%llu objects deleted\n", n);
    } else if (strcmp(op, "put") == 0) {
        rc = put_file(s3, bucket, key, file, &err);
    } else if (strcmp(op, "count") == 0) {
        rc = each_key(s3, bucket, prefix, count_one, &n, &err);
        if (rc == FERRY_OK)
            (void)printf("%llu\n", n);
    } else {
        ferry_s3_free(s3);
        usage(stderr);
        return EXIT_CONFIG;
    }
out:
    ferry_s3_free(s3);
    if (rc != FERRY_OK) {
        char msg[600];
        (void)ferry_redact(err.msg, msg, sizeof msg);
        (void)fprintf(stderr, "ferry-demo-s3: %s %s: %s (%s)\n", op, bucket, msg, ferry_rc_str(rc));
        return EXIT_FAILED;
    }
    return 0;
}
