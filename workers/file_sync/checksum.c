/* checksum.c - a directory file's checksum in the form of an S3 ETag (see fsi.h). */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsi.h"

/* MD5 of the file rel below root, or its multipart ETag for parts of part_size when
 * nparts > 0. */
static ferry_rc file_checksum(const char *root, const char *rel, uint64_t part_size, int nparts,
                              char *out, size_t outsz, uint64_t *hashed)
{
    int fd = filesync_open_file_beneath(root, rel);
    if (fd < 0)
        return FERRY_ERR_IO;
    EVP_MD_CTX *whole = EVP_MD_CTX_new(), *part = EVP_MD_CTX_new();
    unsigned char *digests = nparts > 0 ? calloc((size_t)nparts, 16) : NULL;
    ferry_rc rc = FERRY_OK;
    enum { BUF_SZ = 1 << 16 };
    char *buf = malloc(BUF_SZ);
    if (buf == NULL || whole == NULL || part == NULL || (nparts > 0 && digests == NULL)) {
        rc = FERRY_ERR_NOMEM;
        goto out;
    }
    (void)EVP_DigestInit_ex(whole, EVP_md5(), NULL);
    (void)EVP_DigestInit_ex(part, EVP_md5(), NULL);
    uint64_t in_part = 0;
    int k = 0;
    for (;;) {
        ssize_t n = read(fd, buf, BUF_SZ);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = FERRY_ERR_IO;
            goto out;
        }
        if (n == 0)
            break;
        *hashed += (uint64_t)n;
        if (nparts == 0) {
            (void)EVP_DigestUpdate(whole, buf, (size_t)n);
            continue;
        }
        size_t off = 0;
        while (off < (size_t)n) {
            size_t take = (size_t)n - off;
            if (take > part_size - in_part)
                take = (size_t)(part_size - in_part);
            (void)EVP_DigestUpdate(part, buf + off, take);
            off += take;
            in_part += take;
            if (in_part == part_size) {
                if (k >= nparts) {
                    rc = FERRY_ERR_CONFLICT;
                    goto out;
                }
                (void)EVP_DigestFinal_ex(part, digests + 16 * k++, NULL);
                (void)EVP_DigestInit_ex(part, EVP_md5(), NULL);
                in_part = 0;
            }
        }
    }
    unsigned char d[16];
    char hex[FERRY_S3_MD5_HEX];
    if (nparts == 0) {
        (void)EVP_DigestFinal_ex(whole, d, NULL);
        for (int i = 0; i < 16; i++)
            (void)snprintf(hex + 2 * i, 3, "%02x", d[i]);
        (void)snprintf(out, outsz, "%s", hex);
        goto out;
    }
    if (in_part > 0) {
        if (k >= nparts) {
            rc = FERRY_ERR_CONFLICT;
            goto out;
        }
        (void)EVP_DigestFinal_ex(part, digests + 16 * k++, NULL);
    }
    if (k != nparts) {
        rc = FERRY_ERR_CONFLICT;
        goto out;
    }
    (void)ferry_s3_md5_hex(digests, (size_t)nparts * 16, hex);
    (void)snprintf(out, outsz, "%s-%d", hex, nparts);
out:
    EVP_MD_CTX_free(whole);
    EVP_MD_CTX_free(part);
    free(digests);
    free(buf);
    (void)close(fd);
    return rc;
}

ferry_rc filesync_checksum_like(const filesync_options *opts, const char *rel,
                                const filesync_entry *target, uint64_t part_size_hint,
                                char out[FS_ETAG_MAX], uint64_t *hashed)
{
    const char *dash = strchr(target->etag, '-');
    int nparts = 0;
    uint64_t psz = part_size_hint > 0 ? part_size_hint : opts->part_size;
    if (dash != NULL) {
        char *end = NULL;
        long n = strtol(dash + 1, &end, 10);
        nparts = end != dash + 1 && *end == '\0' && n > 0 && n <= 10000 ? (int)n : 0;
        if (nparts <= 0 || (target->size + psz - 1) / psz != (uint64_t)nparts)
            return FERRY_ERR_CONFLICT; /* another part size: cannot recompute */
    }
    return file_checksum(opts->source.dir, rel, psz, nparts, out, FS_ETAG_MAX, hashed);
}
