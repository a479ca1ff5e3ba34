/* Unit tests for http.c: status mapping, URI encoding, headers, a transport failure against a
 * closed port, and the caps on what a response may make Ferry hold (a tiny server on loopback,
 * in a thread of the test). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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

/* A one-connection server that answers with a body of body_len bytes, or with header_len bytes
 * of headers. */
typedef struct tiny_server {
    int fd;
    int port;
    size_t body_len;
    size_t header_len;
} tiny_server;

static void *tiny_serve(void *arg)
{
    tiny_server *ts = arg;
    int c = accept(ts->fd, NULL, NULL);
    if (c < 0)
        return NULL;
    char req[4096];
    size_t got = 0;
    while (got < sizeof(req) - 1) { /* up to the end of the request's headers */
        ssize_t n = read(c, req + got, sizeof(req) - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
        req[got] = '\0';
        if (strstr(req, "\r\n\r\n") != NULL)
            break;
    }
    char head[128];
    int n =
        snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n", ts->body_len);
    bool ok = n > 0 && write(c, head, (size_t)n) == n;
    static const char filler[] = "X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    for (size_t sent = 0; ok && sent < ts->header_len; sent += sizeof(filler) - 1)
        ok = write(c, filler, sizeof(filler) - 1) == (ssize_t)(sizeof(filler) - 1);
    ok = ok && write(c, "\r\n", 2) == 2;
    static char chunk[65536];
    memset(chunk, 'x', sizeof(chunk));
    for (size_t sent = 0; ok && sent < ts->body_len;) {
        size_t k = ts->body_len - sent < sizeof(chunk) ? ts->body_len - sent : sizeof(chunk);
        ssize_t w = write(c, chunk, k);
        ok = w > 0;
        sent += ok ? (size_t)w : 0;
    }
    (void)close(c);
    return NULL;
}

/* GET of a tiny_server's answer with max_body; returns the result and fills resp. */
static ferry_rc tiny_get(size_t body_len, size_t header_len, size_t max_body,
                         ferry_http_response *resp, ferry_err *err)
{
    tiny_server ts = {.body_len = body_len, .header_len = header_len};
    ts.fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    if (ts.fd < 0 || bind(ts.fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(ts.fd, 1) != 0 ||
        getsockname(ts.fd, (struct sockaddr *)&a, &al) != 0)
        return FERRY_ERR_IO;
    ts.port = ntohs(a.sin_port);
    pthread_t th;
    if (pthread_create(&th, NULL, tiny_serve, &ts) != 0)
        return FERRY_ERR_IO;
    char url[64];
    (void)snprintf(url, sizeof(url), "http://127.0.0.1:%d/big", ts.port);
    ferry_http *http = ferry_http_new();
    ferry_http_request req = {
        .method = "GET", .url = url, .timeout_ms = 10000, .max_body = max_body};
    ferry_rc rc = http != NULL ? ferry_http_perform(http, &req, resp, err) : FERRY_ERR_NOMEM;
    ferry_http_free(http);
    (void)pthread_join(th, NULL);
    (void)close(ts.fd);
    return rc;
}

static void response_caps(void)
{
    ferry_http_response resp;
    ferry_err err;
    /* Within the cap: whole. */
    CU_ASSERT_EQUAL(tiny_get(3u << 20, 0, 4u << 20, &resp, &err), FERRY_OK);
    CU_ASSERT_EQUAL(resp.status, 200);
    CU_ASSERT_EQUAL(resp.body_len, 3u << 20);
    ferry_http_response_cleanup(&resp);
    /* Over the request's cap: refused, naming the cap, nothing kept. */
    CU_ASSERT_EQUAL(tiny_get(3u << 20, 0, 1u << 20, &resp, &err), FERRY_ERR_PROTOCOL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "too large"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "1048576"));
    ferry_http_response_cleanup(&resp);
    /* The default cap holds when the request names none. */
    CU_ASSERT_EQUAL(tiny_get(FERRY_HTTP_BODY_MAX + 1, 0, 0, &resp, &err), FERRY_ERR_PROTOCOL);
    ferry_http_response_cleanup(&resp);
    /* Headers past their cap: refused too. */
    CU_ASSERT_EQUAL(tiny_get(10, FERRY_HTTP_HEADERS_MAX + 4096, 0, &resp, &err),
                    FERRY_ERR_PROTOCOL);
    ferry_http_response_cleanup(&resp);
}

static const ferry_test_case cases[] = {
    {"status mapping", status_mapping},
    {"URI encoding", uri_encoding},
    {"header lookup", header_lookup},
    {"closed port is unavailable, URL redacted", closed_port_is_unavailable},
    {"a response body or header block over its cap is refused", response_caps},
    {NULL, NULL},
};

int main(void)
{
    static const ferry_test_suite suites[] = {{"http", NULL, NULL, cases},
                                              {NULL, NULL, NULL, NULL}};
    return ferry_test_main(suites);
}
