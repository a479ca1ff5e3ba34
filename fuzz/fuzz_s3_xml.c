/* fuzz_s3_xml.c - what an S3 server answers: a ListObjectsV2 page and an error body. The
 * first byte picks the HTTP status given to the error parser; the rest is the body. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/s3.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const long statuses[] = {400, 403, 404, 409, 500, 503, 301, 200};
    if (size < 1)
        return 0;
    const char *xml = (const char *)data + 1;
    size_t len = size - 1;
    ferry_s3_list list;
    ferry_err err;
    memset(&list, 0, sizeof(list));
    if (ferry_s3_list_parse(xml, len, &list, &err) == FERRY_OK) {
        for (size_t i = 0; i < list.count; i++) {
            if (list.objects[i].key == NULL ||
                strlen(list.objects[i].etag) >= sizeof(list.objects[i].etag))
                abort(); /* every listed object has its key; an ETag fits its field */
        }
    }
    ferry_s3_list_cleanup(&list);
    char code[64], msg[256];
    (void)ferry_s3_error_parse(statuses[data[0] % 8], xml, len, code, sizeof(code), msg,
                               sizeof(msg));
    if (strlen(code) >= sizeof(code) || strlen(msg) >= sizeof(msg))
        abort();
    return 0;
}
