/* Unit tests for http.c pieces that need no server: status mapping, URI encoding, headers,
 * and a transport failure against a closed port. */
#include <string.h>

#include "ferry/http.h"
#include "ferry_test.h"

static void status_mapping(void)
{
    CU_ASSERT_EQUAL(ferry_http_status_rc(200), FERRY_OK);
    CU_ASSERT_EQUAL(ferry_http_status_rc(204), FERRY_OK);
    CU_ASSERT_EQUAL(ferry_http_status_rc(0), FERRY_ERR_UNAVAILABLE);
    CU_ASSERT_EQUAL(ferry_http_status_rc(401), FERRY_ERR_AUTH);
    CU_ASSERT_EQUAL(ferry_http_status_rc(403), FERRY_ERR_PERMISSION);
    CU_ASSERT_EQUAL(ferry_http_status_rc(404), FERRY_ERR_NOT_FOUND);
    CU_ASSERT_EQUAL(ferry_http_status_rc(409), FERRY_ERR_CONFLICT);
    CU_ASSERT_EQUAL(ferry_http_status_rc(429), FERRY_ERR_THROTTLED);
    CU_ASSERT_EQUAL(ferry_http_status_rc(503), FERRY_ERR_THROTTLED);
    CU_ASSERT_EQUAL(ferry_http_status_rc(500), FERRY_ERR_SERVER);
    CU_ASSERT_EQUAL(ferry_http_status_rc(422), FERRY_ERR_INVALID);
    CU_ASSERT_TRUE(ferry_rc_retryable(ferry_http_status_rc(502)));
    CU_ASSERT_FALSE(ferry_rc_retryable(ferry_http_status_rc(400)));
}

static void uri_encoding(void)
{
    char out[128];
    CU_ASSERT_EQUAL(ferry_http_uri_encode("a b/c+d=e~f_g.h-i", true, out, sizeof(out)), 23);
    CU_ASSERT_STRING_EQUAL(out, "a%20b/c%2Bd%3De~f_g.h-i");
    CU_ASSERT_TRUE(ferry_http_uri_encode("dir/ä", false, out, sizeof(out)) > 0);
    CU_ASSERT_STRING_EQUAL(out, "dir%2F%C3%A4");
    CU_ASSERT_EQUAL(ferry_http_uri_encode("", true, out, sizeof(out)), 0);
    CU_ASSERT_EQUAL(ferry_http_uri_encode("abc", true, out, 3), -1);
    CU_ASSERT_EQUAL(ferry_http_uri_encode(" ", true, out, 3), -1);
}

static void header_lookup(void)
{
    char block[] = "HTTP/1.1 200 OK\r\nETag: \"abc\"\r\ncontent-length: 12 \r\nX-Empty:\r\n\r\n";
    ferry_http_response resp = {.status = 200, .headers = block, .headers_len = sizeof(block) - 1};
    char v[64];
    CU_ASSERT_TRUE(ferry_http_response_header(&resp, "etag", v, sizeof(v)));
    CU_ASSERT_STRING_EQUAL(v, "\"abc\"");
    CU_ASSERT_TRUE(ferry_http_response_header(&resp, "Content-Length", v, sizeof(v)));
    CU_ASSERT_STRING_EQUAL(v, "12");
    CU_ASSERT_TRUE(ferry_http_response_header(&resp, "x-empty", v, sizeof(v)));
    CU_ASSERT_STRING_EQUAL(v, "");
    CU_ASSERT_FALSE(ferry_http_response_header(&resp, "Content", v, sizeof(v)));
    CU_ASSERT_TRUE(ferry_http_response_header(&resp, "etag", v, 3));
    CU_ASSERT_STRING_EQUAL(v, "\"a");
}

static void closed_port_is_unavailable(void)
{
    ferry_http *http = ferry_http_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(http);
    ferry_http_request req = {
        .method = "GET", .url = "http://user:Very-Secret-99@127.0.0.1:1/x", .timeout_ms = 2000};
    ferry_http_response resp;
    ferry_err err;
    CU_ASSERT_EQUAL(ferry_http_perform(http, &req, &resp, &err), FERRY_ERR_UNAVAILABLE);
    CU_ASSERT_EQUAL(resp.status, 0);
    CU_ASSERT_PTR_NULL(strstr(err.msg, "Very-Secret-99"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "GET http://user:***@127.0.0.1:1/x"));
    ferry_http_response_cleanup(&resp);
    ferry_http_free(http);
    ferry_http_free(NULL);
}

static const ferry_test_case cases[] = {
    {"status mapping", status_mapping},
    {"URI encoding", uri_encoding},
    {"header lookup", header_lookup},
    {"closed port is unavailable, URL redacted", closed_port_is_unavailable},
    {NULL, NULL},
};

int main(void)
{
    static const ferry_test_suite suites[] = {{"http", NULL, NULL, cases},
                                              {NULL, NULL, NULL, NULL}};
    return ferry_test_main(suites);
}
