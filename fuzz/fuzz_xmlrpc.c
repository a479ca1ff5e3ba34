/* fuzz_xmlrpc.c - what supervisord answers: an XML-RPC methodResponse, a value or a fault. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "ferry/xmlrpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Walks a value the way the app worker reads one. */
static void walk(const ferry_xmlrpc_value *v, int depth)
{
    if (v == NULL || depth > 64)
        return;
    int64_t i;
    bool b;
    double d;
    (void)ferry_xmlrpc_string(v);
    (void)ferry_xmlrpc_int(v, &i);
    (void)ferry_xmlrpc_bool(v, &b);
    (void)ferry_xmlrpc_double(v, &d);
    for (size_t k = 0; k < 1024; k++) {
        const ferry_xmlrpc_value *c = ferry_xmlrpc_at(v, k);
        if (c == NULL)
            break;
        (void)ferry_xmlrpc_key_at(v, k);
        walk(c, depth + 1);
    }
    (void)ferry_xmlrpc_member(v, "statename");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ferry_xmlrpc_value *result = NULL;
    ferry_xmlrpc_fault fault;
    ferry_err err;
    if (ferry_xmlrpc_response_parse((const char *)data, size, &result, &fault, &err) == FERRY_OK)
        walk(result, 0);
    ferry_xmlrpc_value_free(result);
    return 0;
}
