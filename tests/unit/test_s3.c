/* Unit tests for s3.c (no network): what libcurl 7.88 would sign verbatim, reply parsing,
 * digests, and the checks done before any request is sent. */
#include <stdlib.h>
#include <string.h>

#include "ferry/s3.h"
#include "ferry_test.h"

/* ---- Canonical query ---- */

static char *query(const ferry_s3_param *params, size_t n)
{
    char *out = NULL;
    ferry_err err = {0};
    ferry_rc rc = ferry_s3_query_build(params, n, &out, &err);
    CU_ASSERT_EQUAL(rc, FERRY_OK);
    return out;
}

static void query_is_sorted_and_encoded(void)
{
    const ferry_s3_param p[] = {
        {"list-type", "2"},
        {"prefix", "a/b c"},
        {"max-keys", "2"},
        {"continuation-token", "1/2+3=="},
    };
    char *q = query(p, 4);
    CU_ASSERT_STRING_EQUAL(q, "continuation-token=1%2F2%2B3%3D%3D&list-type=2&max-keys=2&"
                              "prefix=a%2Fb%20c");
    free(q);
}

static void query_valueless_params_get_equals(void)
{
    const ferry_s3_param uploads[] = {{"uploads", NULL}};
    char *q = query(uploads, 1);
    CU_ASSERT_STRING_EQUAL(q, "uploads=");
    free(q);

    const ferry_s3_param mixed[] = {{"uploadId", "abc"}, {"delete", NULL}, {"partNumber", "7"}};
    q = query(mixed, 3);
    CU_ASSERT_STRING_EQUAL(q, "delete=&partNumber=7&uploadId=abc");
    free(q);
}

static void query_sorts_bytewise_then_by_value(void)
{
    /* Byte order: uppercase before lowercase; equal names ordered by encoded value. */
    const ferry_s3_param p[] = {{"b", "2"}, {"a", "z"}, {"B", "1"}, {"a", "y"}};
    char *q = query(p, 4);
    CU_ASSERT_STRING_EQUAL(q, "B=1&a=y&a=z&b=2");
    free(q);
}

static void query_encodes_like_aws(void)
{
    const ferry_s3_param p[] = {{"prefix", "é~-_.*'()!@:;,$&?#[]"}};
    char *q = query(p, 1);
    /* Unreserved kept, everything else %XX with uppercase hex, UTF-8 byte by byte. */
    CU_ASSERT_STRING_EQUAL(q, "prefix=%C3%A9~-_.%2A%27%28%29%21%40%3A%3B%2C%24%26%3F%23%5B%5D");
    free(q);

    const ferry_s3_param sp[] = {{"a b", "c d"}};
    q = query(sp, 1);
    CU_ASSERT_STRING_EQUAL(q, "a%20b=c%20d"); /* never '+' for a space */
    free(q);
}

static void query_empty(void)
{
    char *q = query(NULL, 0);
    CU_ASSERT_STRING_EQUAL(q, "");
    free(q);
}

/* ---- Key path ---- */

static void key_ok(const char *key, const char *want)
{
    char *out = NULL;
    ferry_err err = {0};
    CU_ASSERT_EQUAL_FATAL(ferry_s3_key_encode(key, &out, &err), FERRY_OK);
    CU_ASSERT_STRING_EQUAL(out, want);
    free(out);
}

static void key_bad(const char *key)
{
    char *out = (char *)"untouched";
    ferry_err err = {0};
    CU_ASSERT_EQUAL(ferry_s3_key_encode(key, &out, &err), FERRY_ERR_INVALID);
    CU_ASSERT_PTR_NULL(out);
    CU_ASSERT_NOT_EQUAL(err.msg[0], '\0');
}

static void key_encoding(void)
{
    key_ok("plain.txt", "plain.txt");
    key_ok("dir/sub/file name.txt", "dir/sub/file%20name.txt");
    key_ok("a+b=c", "a%2Bb%3Dc");
    key_ok("ünï/çødé", "%C3%BCn%C3%AF/%C3%A7%C3%B8d%C3%A9");
    key_ok("~user/a-b_c.d", "~user/a-b_c.d");
    key_ok("100%?#&", "100%25%3F%23%26");
    key_ok("a//b/", "a//b/");
    key_ok(".hidden/...x/a..b", ".hidden/...x/a..b");
}

static void key_rejects_what_curl_would_rewrite(void)
{
    key_bad("");
    key_bad(NULL);
    key_bad(".");
    key_bad("..");
    key_bad("a/./b");
    key_bad("a/../b");
    key_bad("../x");
    key_bad("x/..");

    char long_key[FERRY_S3_KEY_MAX + 2];
    memset(long_key, 'k', sizeof(long_key) - 1);
    long_key[sizeof(long_key) - 1] = '\0';
    key_bad(long_key);
    long_key[FERRY_S3_KEY_MAX] = '\0';
    char *out = NULL;
    ferry_err err = {0};
    CU_ASSERT_EQUAL(ferry_s3_key_encode(long_key, &out, &err), FERRY_OK);
    free(out);
}

/* ---- Digests ---- */

static void sha256_vectors(void)
{
    char hex[FERRY_S3_SHA256_HEX];
    CU_ASSERT_EQUAL(ferry_s3_sha256_hex("", 0, hex), FERRY_OK);
    CU_ASSERT_STRING_EQUAL(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CU_ASSERT_EQUAL(ferry_s3_sha256_hex(NULL, 0, hex), FERRY_OK);
    CU_ASSERT_STRING_EQUAL(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CU_ASSERT_EQUAL(ferry_s3_sha256_hex("abc", 3, hex), FERRY_OK);
    CU_ASSERT_STRING_EQUAL(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    CU_ASSERT_EQUAL(ferry_s3_sha256_hex(two_blocks, strlen(two_blocks), hex), FERRY_OK);
    CU_ASSERT_STRING_EQUAL(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");

    char *million = malloc(1000000);
    CU_ASSERT_PTR_NOT_NULL_FATAL(million);
    memset(million, 'a', 1000000);
    CU_ASSERT_EQUAL(ferry_s3_sha256_hex(million, 1000000, hex), FERRY_OK);
    CU_ASSERT_STRING_EQUAL(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(million);
}

static void md5_vectors(void)
{
    char hex[FERRY_S3_MD5_HEX];
    CU_ASSERT_EQUAL(ferry_s3_md5_hex("", 0, hex), FERRY_OK);
    CU_ASSERT_STRING_EQUAL(hex, "d41d8cd98f00b204e9800998ecf8427e");
    CU_ASSERT_EQUAL(ferry_s3_md5_hex("abc", 3, hex), FERRY_OK);
    CU_ASSERT_STRING_EQUAL(hex, "900150983cd24fb0d6963f7d28e17f72");
    const char *fox = "The quick brown fox jumps over the lazy dog";
    CU_ASSERT_EQUAL(ferry_s3_md5_hex(fox, strlen(fox), hex), FERRY_OK);
    CU_ASSERT_STRING_EQUAL(hex, "9e107d9d372bb6826bd81d3542a419d6");
}

/* ---- ListObjectsV2 replies ---- */

static const char list_page1[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\n"
    "  <Name>bucket</Name><Prefix>dir/</Prefix><MaxKeys>2</MaxKeys><KeyCount>2</KeyCount>\n"
    "  <IsTruncated>true</IsTruncated>\n"
    "  <Contents>\n"
    "    <Key>dir/a &amp; b.txt</Key>\n"
    "    <LastModified>2024-01-02T03:04:05.000Z</LastModified>\n"
    "    <ETag>&quot;900150983cd24fb0d6963f7d28e17f72&quot;</ETag>\n"
    "    <Size>3</Size><StorageClass>STANDARD</StorageClass>\n"
    "  </Contents>\n"
    "  <Contents>\n"
    "    <Key>dir/ünï</Key><LastModified>2023-12-31T23:59:59Z</LastModified>\n"
    "    <ETag>\"0123456789abcdef0123456789abcdef-3\"</ETag><Size>10486784</Size>\n"
    "  </Contents>\n"
    "  <NextContinuationToken>1/2+tok==</NextContinuationToken>\n"
    "</ListBucketResult>\n";

static const char list_last[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
    "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
    "<Name>bucket</Name><KeyCount>1</KeyCount><IsTruncated>false</IsTruncated>"
    "<ContinuationToken>1/2+tok==</ContinuationToken>"
    "<Contents><Key>z</Key><Size>0</Size><ETag>\"d41d8cd98f00b204e9800998ecf8427e\"</ETag>"
    "</Contents></ListBucketResult>";

static void list_page_with_token(void)
{
    ferry_s3_list list;
    ferry_err err = {0};
    CU_ASSERT_EQUAL_FATAL(ferry_s3_list_parse(list_page1, strlen(list_page1), &list, &err),
                          FERRY_OK);
    CU_ASSERT_EQUAL_FATAL(list.count, 2);
    CU_ASSERT_STRING_EQUAL(list.objects[0].key, "dir/a & b.txt");
    CU_ASSERT_EQUAL(list.objects[0].size, 3);
    CU_ASSERT_STRING_EQUAL(list.objects[0].etag, "\"900150983cd24fb0d6963f7d28e17f72\"");
    CU_ASSERT_EQUAL(list.objects[0].last_modified, 1704164645);
    CU_ASSERT_STRING_EQUAL(list.objects[1].key, "dir/ünï");
    CU_ASSERT_EQUAL(list.objects[1].size, 10486784);
    CU_ASSERT_STRING_EQUAL(list.objects[1].etag, "\"0123456789abcdef0123456789abcdef-3\"");
    CU_ASSERT_EQUAL(list.objects[1].last_modified, 1704067199);
    CU_ASSERT_PTR_NOT_NULL_FATAL(list.next_token);
    CU_ASSERT_STRING_EQUAL(list.next_token, "1/2+tok==");
    ferry_s3_list_cleanup(&list);
    CU_ASSERT_PTR_NULL(list.objects);
    ferry_s3_list_cleanup(&list); /* twice is fine */
}

static void list_last_page(void)
{
    ferry_s3_list list;
    ferry_err err = {0};
    CU_ASSERT_EQUAL_FATAL(ferry_s3_list_parse(list_last, strlen(list_last), &list, &err), FERRY_OK);
    CU_ASSERT_EQUAL_FATAL(list.count, 1);
    CU_ASSERT_STRING_EQUAL(list.objects[0].key, "z");
    CU_ASSERT_EQUAL(list.objects[0].size, 0);
    CU_ASSERT_EQUAL(list.objects[0].last_modified, -1);
    CU_ASSERT_PTR_NULL(list.next_token);
    ferry_s3_list_cleanup(&list);
}

static void list_empty_bucket(void)
{
    const char *xml = "<ListBucketResult><Name>b</Name><KeyCount>0</KeyCount>"
                      "<IsTruncated>false</IsTruncated></ListBucketResult>";
    ferry_s3_list list;
    ferry_err err = {0};
    CU_ASSERT_EQUAL(ferry_s3_list_parse(xml, strlen(xml), &list, &err), FERRY_OK);
    CU_ASSERT_EQUAL(list.count, 0);
    CU_ASSERT_PTR_NULL(list.next_token);
    ferry_s3_list_cleanup(&list);
}

static void list_bad(const char *xml, ferry_rc want)
{
    ferry_s3_list list;
    ferry_err err = {0};
    CU_ASSERT_EQUAL(ferry_s3_list_parse(xml, xml != NULL ? strlen(xml) : 0, &list, &err), want);
    CU_ASSERT_EQUAL(list.count, 0);
    CU_ASSERT_PTR_NULL(list.objects);
    CU_ASSERT_PTR_NULL(list.next_token);
    CU_ASSERT_NOT_EQUAL(err.msg[0], '\0');
}

static void list_rejects_bad_replies(void)
{
    list_bad(NULL, FERRY_ERR_DECODE);
    list_bad("not xml at all", FERRY_ERR_DECODE);
    list_bad("<ListBucketResult><Contents><Key>a</Key>", FERRY_ERR_DECODE); /* cut short */
    list_bad("<Error><Code>NoSuchBucket</Code></Error>", FERRY_ERR_DECODE);
    list_bad("<ListBucketResult><Contents><Key>a</Key><Size>-1</Size></Contents>"
             "</ListBucketResult>",
             FERRY_ERR_DECODE);
    list_bad("<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>",
             FERRY_ERR_DECODE);
    /* A second entry failing after a first good one: nothing leaks, nothing is returned. */
    list_bad("<ListBucketResult><Contents><Key>a</Key><Size>1</Size></Contents>"
             "<Contents><Key>b</Key><Size>x</Size></Contents></ListBucketResult>",
             FERRY_ERR_DECODE);
    list_bad("<ListBucketResult><IsTruncated>true</IsTruncated>"
             "<Contents><Key>a</Key><Size>1</Size></Contents></ListBucketResult>",
             FERRY_ERR_PROTOCOL);
}

/* ---- Error replies ---- */

static void error_body_codes_and_message(void)
{
    const char *body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                       "<Error><Code>NoSuchKey</Code><Message>The specified key does not "
                       "exist.</Message><Key>a b</Key><RequestId>4442587FB7D0A2F9</RequestId>"
                       "</Error>";
    char code[64], msg[128];
    CU_ASSERT_EQUAL(
        ferry_s3_error_parse(404, body, strlen(body), code, sizeof(code), msg, sizeof(msg)),
        FERRY_ERR_NOT_FOUND);
    CU_ASSERT_STRING_EQUAL(code, "NoSuchKey");
    CU_ASSERT_STRING_EQUAL(msg, "The specified key does not exist.");

    /* A message longer than the buffer is cut, still terminated. */
    char tiny[8];
    (void)ferry_s3_error_parse(404, body, strlen(body), code, sizeof(code), tiny, sizeof(tiny));
    CU_ASSERT_STRING_EQUAL(tiny, "The spe");
}

static ferry_rc code_rc(long status, const char *s3code)
{
    char body[256], code[64], msg[64];
    int n =
        snprintf(body, sizeof(body), "<Error><Code>%s</Code><Message>m</Message></Error>", s3code);
    CU_ASSERT_TRUE_FATAL(n > 0 && (size_t)n < sizeof(body));
    ferry_rc rc =
        ferry_s3_error_parse(status, body, (size_t)n, code, sizeof(code), msg, sizeof(msg));
    CU_ASSERT_STRING_EQUAL(code, s3code);
    return rc;
}

static void error_codes_map_to_rc(void)
{
    CU_ASSERT_EQUAL(code_rc(404, "NoSuchBucket"), FERRY_ERR_NOT_FOUND);
    CU_ASSERT_EQUAL(code_rc(404, "NoSuchUpload"), FERRY_ERR_NOT_FOUND);
    CU_ASSERT_EQUAL(code_rc(403, "SignatureDoesNotMatch"), FERRY_ERR_AUTH);
    CU_ASSERT_EQUAL(code_rc(403, "InvalidAccessKeyId"), FERRY_ERR_AUTH);
    CU_ASSERT_EQUAL(code_rc(403, "AccessDenied"), FERRY_ERR_PERMISSION);
    CU_ASSERT_EQUAL(code_rc(503, "SlowDown"), FERRY_ERR_THROTTLED);
    CU_ASSERT_EQUAL(code_rc(400, "XAmzContentSHA256Mismatch"), FERRY_ERR_PROTOCOL);
    CU_ASSERT_EQUAL(code_rc(500, "InternalError"), FERRY_ERR_SERVER);
    CU_ASSERT_EQUAL(code_rc(409, "BucketNotEmpty"), FERRY_ERR_CONFLICT);
    CU_ASSERT_EQUAL(code_rc(400, "RequestTimeout"), FERRY_ERR_TIMEOUT);
    CU_ASSERT_EQUAL(code_rc(400, "EntityTooSmall"), FERRY_ERR_INVALID);
    CU_ASSERT_EQUAL(code_rc(501, "NotImplemented"), FERRY_ERR_UNSUPPORTED);
    /* Unknown codes fall back to the status. */
    CU_ASSERT_EQUAL(code_rc(400, "SomethingNew"), FERRY_ERR_INVALID);
    CU_ASSERT_EQUAL(code_rc(503, "SomethingNew"), FERRY_ERR_THROTTLED);
    /* An error inside a 200 (CompleteMultipartUpload) is never OK. */
    CU_ASSERT_EQUAL(code_rc(200, "InternalError"), FERRY_ERR_SERVER);
    CU_ASSERT_EQUAL(code_rc(200, "SomethingNew"), FERRY_ERR_SERVER);
}

static void error_without_body_uses_status(void)
{
    char code[64] = "junk", msg[64] = "junk";
    CU_ASSERT_EQUAL(ferry_s3_error_parse(404, NULL, 0, code, sizeof(code), msg, sizeof(msg)),
                    FERRY_ERR_NOT_FOUND);
    CU_ASSERT_STRING_EQUAL(code, "");
    CU_ASSERT_STRING_EQUAL(msg, "");
    const char *html = "<html><body>Bad Gateway</body></html>";
    CU_ASSERT_EQUAL(
        ferry_s3_error_parse(502, html, strlen(html), code, sizeof(code), msg, sizeof(msg)),
        FERRY_ERR_SERVER);
    CU_ASSERT_EQUAL(ferry_s3_error_parse(403, "garbage", 7, code, sizeof(code), msg, sizeof(msg)),
                    FERRY_ERR_PERMISSION);
    CU_ASSERT_STRING_EQUAL(code, "");
}

/* ---- Client checks done before any request ---- */

static void client_options_are_checked(void)
{
    ferry_s3 *s3 = NULL;
    ferry_err err = {0};
    ferry_s3_opts opts = {.endpoint = "http://127.0.0.1:1/",
                          .region = "us-east-1",
                          .access_key = "AKIDEXAMPLE",
                          .secret_key = "s3cr3t-do-not-show"};
    ferry_s3_opts bad = opts;
    bad.secret_key = "";
    CU_ASSERT_EQUAL(ferry_s3_new(&bad, &s3, &err), FERRY_ERR_INVALID);
    CU_ASSERT_PTR_NULL(s3);
    bad = opts;
    bad.endpoint = "ftp://127.0.0.1";
    CU_ASSERT_EQUAL(ferry_s3_new(&bad, &s3, &err), FERRY_ERR_INVALID);
    bad = opts;
    bad.region = "us-east-1:evil";
    CU_ASSERT_EQUAL(ferry_s3_new(&bad, &s3, &err), FERRY_ERR_INVALID);
    CU_ASSERT_EQUAL(ferry_s3_new(NULL, &s3, &err), FERRY_ERR_INVALID);
    ferry_s3_free(NULL);

    CU_ASSERT_EQUAL_FATAL(ferry_s3_new(&opts, &s3, &err), FERRY_OK);
    /* Bad names fail before anything is sent (port 1 would refuse: UNAVAILABLE). */
    CU_ASSERT_EQUAL(ferry_s3_object_put(s3, "Bad_Bucket", "k", "x", 1, NULL, &err),
                    FERRY_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "Bad_Bucket"));
    CU_ASSERT_EQUAL(ferry_s3_object_put(s3, "bucket", "k", NULL, 5, NULL, &err), FERRY_ERR_INVALID);
    CU_ASSERT_EQUAL(ferry_s3_object_put_stream(s3, "bucket", "k", NULL, NULL, 5, NULL, &err),
                    FERRY_ERR_INVALID);
    CU_ASSERT_EQUAL(ferry_s3_object_delete(s3, "ab", "k", &err), FERRY_ERR_INVALID);
    CU_ASSERT_EQUAL(ferry_s3_object_delete(s3, "-bucket", "k", &err), FERRY_ERR_INVALID);
    CU_ASSERT_EQUAL(ferry_s3_object_delete(s3, "bucket", "a/../b", &err), FERRY_ERR_INVALID);
    CU_ASSERT_EQUAL(ferry_s3_multipart_upload_part(s3, "bucket", "k", "id", 0, "x", 1, NULL, &err),
                    FERRY_ERR_INVALID);
    const ferry_s3_part unordered[] = {{2, "\"a\""}, {1, "\"b\""}};
    CU_ASSERT_EQUAL(ferry_s3_multipart_complete(s3, "bucket", "k", "id", unordered, 2, NULL, &err),
                    FERRY_ERR_INVALID);
    ferry_s3_list list;
    const ferry_s3_list_opts lo = {.max_keys = 1001};
    CU_ASSERT_EQUAL(ferry_s3_object_list(s3, "bucket", &lo, &list, &err), FERRY_ERR_INVALID);
    /* A refused connection is UNAVAILABLE, and the message names the operation and key. */
    CU_ASSERT_EQUAL(ferry_s3_object_delete(s3, "bucket", "some key", &err), FERRY_ERR_UNAVAILABLE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "DeleteObject s3://bucket/some key"));
    CU_ASSERT_PTR_NULL(strstr(err.msg, "s3cr3t"));
    ferry_s3_free(s3);
}

static const ferry_test_case query_cases[] = {
    {"sorted and encoded", query_is_sorted_and_encoded},
    {"valueless params get '='", query_valueless_params_get_equals},
    {"bytewise sort, then by value", query_sorts_bytewise_then_by_value},
    {"AWS encoding", query_encodes_like_aws},
    {"no params", query_empty},
    {NULL, NULL},
};

static const ferry_test_case key_cases[] = {
    {"segments encoded, '/' kept", key_encoding},
    {"rejects dot segments, empty, too long", key_rejects_what_curl_would_rewrite},
    {NULL, NULL},
};

static const ferry_test_case digest_cases[] = {
    {"SHA-256 vectors", sha256_vectors},
    {"MD5 vectors", md5_vectors},
    {NULL, NULL},
};

static const ferry_test_case reply_cases[] = {
    {"list page with continuation token", list_page_with_token},
    {"list last page", list_last_page},
    {"list of an empty bucket", list_empty_bucket},
    {"list rejects bad replies", list_rejects_bad_replies},
    {"error body code and message", error_body_codes_and_message},
    {"error codes map to ferry_rc", error_codes_map_to_rc},
    {"error without XML uses the status", error_without_body_uses_status},
    {NULL, NULL},
};

static const ferry_test_case client_cases[] = {
    {"options and names checked before sending", client_options_are_checked},
    {NULL, NULL},
};

int main(void)
{
    const ferry_test_suite suites[] = {
        {"s3 canonical query", NULL, NULL, query_cases}, {"s3 key path", NULL, NULL, key_cases},
        {"s3 digests", NULL, NULL, digest_cases},        {"s3 replies", NULL, NULL, reply_cases},
        {"s3 client", NULL, NULL, client_cases},         {NULL, NULL, NULL, NULL},
    };
    return ferry_test_main(suites);
}
