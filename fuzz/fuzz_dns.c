/* fuzz_dns.c - a DNS response from the network: parsed as an answer to www.ferry.test (the
 * first byte picks the type asked), compression pointers and all. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "ferry/dnsq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const ferry_dnsq_type types[] = {FERRY_DNSQ_A, FERRY_DNSQ_AAAA, FERRY_DNSQ_CNAME,
                                            FERRY_DNSQ_TXT};
    if (size < 1)
        return 0;
    ferry_dnsq_answer ans = {0};
    ferry_err err;
    ferry_dnsq_type type = types[data[0] % 4];
    if (ferry_dnsq_parse(data + 1, size - 1, "www.ferry.test", type, &ans, &err) == FERRY_OK)
        (void)ferry_dnsq_answer_has(&ans, type, "192.0.2.1");
    ferry_dnsq_answer_cleanup(&ans);
    return 0;
}
