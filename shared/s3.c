/* s3.c - S3 requests over ferry_http, built so bookworm's libcurl 7.88 signs them right. */
#include "ferry/s3.h"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/buf.h"
#include "ferry/clock.h"
#include "ferry/log.h"

struct ferry_s3 {
    ferry_http *http;
    char *endpoint; /* without a trailing '/' */
    char *access_key;
    char *secret_key; /* wiped before it is freed */
    char *sigv4;      /* "aws:amz:<region>:s3" */
    bool us_east_1;   /* CreateBucket needs no LocationConstraint */
    char *region;
    long timeout_ms;
    long connect_timeout_ms;
    int attempts; /* sends of one synchronous request with an in-memory body (>= 1) */
    ferry_http_progress_fn progress_fn;
    void *progress_ud;
};

/* Room for an S3 error code ("XAmzContentSHA256Mismatch"); longer codes are not ones we map. */
#define S3_CODE_MAX 64

/* The hex SHA-256 of no bytes: the payload hash of GET, HEAD and DELETE. */
static const char empty_sha256[] =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/* ---- Small helpers ---------------------------------------------------------------------- */

/* Text for element content: & < > escaped. */
static void sb_add_xml(ferry_buf *b, const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '&')
            ferry_buf_add(b, "&amp;");
        else if (*s == '<')
            ferry_buf_add(b, "&lt;");
        else if (*s == '>')
            ferry_buf_add(b, "&gt;");
        else
            ferry_buf_addn(b, s, 1);
    }
}

/* RFC 3986 / AWS encoding into a new string ('/' kept when keep_slash); NULL when out of memory. */
static char *uri_encode_dup(const char *text, bool keep_slash)
{
    size_t cap = strlen(text) * 3 + 1;
    char *out = malloc(cap);
    if (out == NULL)
        return NULL;
    if (ferry_http_uri_encode(text, keep_slash, out, cap) < 0) {
        free(out); /* cannot happen: 3 bytes per input byte always fit */
        return NULL;
    }
    return out;
}

static bool is_empty(const char *s)
{
    return s == NULL || *s == '\0';
}

/* Copies src into dst (size sz); false when it does not fit. */
static bool copy_text(char *dst, size_t sz, const char *src)
{
    size_t n = strlen(src);
    if (n >= sz)
        return false;
    memcpy(dst, src, n + 1);
    return true;
}

/* "s3://bucket/key" for messages, the key shortened so the S3 code after it stays visible. */
static void s3_target(const char *bucket, const char *key, char *out, size_t outsz)
{
    int n;
    if (key == NULL)
        n = snprintf(out, outsz, "s3://%s", bucket);
    else
        n = snprintf(out, outsz, "s3://%s/%.160s%s", bucket, key, strlen(key) > 160 ? "..." : "");
    if (n < 0 && outsz > 0)
        out[0] = '\0';
}

/* ---- Validation and encoding ------------------------------------------------------------ */

/* S3's bucket naming rules: 3-63 of a-z 0-9 . -, starting and ending with a letter or digit. */
static bool bucket_valid(const char *bucket)
{
    size_t n = bucket != NULL ? strlen(bucket) : 0;
    if (n < 3 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = bucket[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && ((c != '.' && c != '-') || i == 0 || i == n - 1))
            return false;
    }
    return true;
}

ferry_rc ferry_s3_key_encode(const char *key, char **out, ferry_err *err)
{
    *out = NULL;
    size_t n = key != NULL ? strlen(key) : 0;
    if (n == 0)
        return ferry_err_set(err, FERRY_ERR_INVALID, "S3 key is empty");
    if (n > FERRY_S3_KEY_MAX)
        return ferry_err_set(err, FERRY_ERR_INVALID, "S3 key is %zu bytes, more than %d", n,
                             FERRY_S3_KEY_MAX);
    /* libcurl removes "." and ".." segments from a URL path (RFC 3986 dot-segment removal)
     * before it sends and signs it, so such a key would silently name another object. */
    for (const char *seg = key; seg != NULL;) {
        const char *slash = strchr(seg, '/');
        size_t len = slash != NULL ? (size_t)(slash - seg) : strlen(seg);
        if ((len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
            return ferry_err_set(err, FERRY_ERR_INVALID,
                                 "S3 key '%.160s' has a '.' or '..' segment, which HTTP "
                                 "clients resolve away",
                                 key);
        seg = slash != NULL ? slash + 1 : NULL;
    }
    *out = uri_encode_dup(key, true);
    if (*out == NULL)
        return ferry_err_set(err, FERRY_ERR_NOMEM, "encoding S3 key");
    return FERRY_OK;
}

typedef struct enc_param {
    char *name;
    char *value; /* "" for a valueless parameter */
} enc_param;

static int enc_param_cmp(const void *a, const void *b)
{
    const enc_param *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c != 0 ? c : strcmp(x->value, y->value);
}

ferry_rc ferry_s3_query_build(const ferry_s3_param *params, size_t n, char **out, ferry_err *err)
{
    ferry_rc rc = FERRY_OK;
    enc_param *enc = NULL;
    ferry_buf b = {0};
    *out = NULL;

    enc = calloc(n > 0 ? n : 1, sizeof(*enc));
    if (enc == NULL)
        goto oom;
    for (size_t i = 0; i < n; i++) {
        enc[i].name = uri_encode_dup(params[i].name, false);
        enc[i].value = uri_encode_dup(params[i].value != NULL ? params[i].value : "", false);
        if (enc[i].name == NULL || enc[i].value == NULL)
            goto oom;
    }
    qsort(enc, n, sizeof(*enc), enc_param_cmp);
    ferry_buf_add(&b, "");
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            ferry_buf_add(&b, "&");
        ferry_buf_add(&b, enc[i].name);
        ferry_buf_add(&b, "=");
        ferry_buf_add(&b, enc[i].value);
    }
    if (b.oom)
        goto oom;
    *out = b.p;
    b.p = NULL;
    goto out;

oom:
    rc = ferry_err_set(err, FERRY_ERR_NOMEM, "building S3 query string");
out:
    for (size_t i = 0; enc != NULL && i < n; i++) {
        free(enc[i].name);
        free(enc[i].value);
    }
    free(enc);
    free(b.p);
    return rc;
}

/* endpoint/bucket[/key][?canonical query]: exactly what libcurl 7.88 will sign. */
static ferry_rc s3_url(const ferry_s3 *s3, const char *bucket, const char *key,
                       const ferry_s3_param *params, size_t nparams, char **out, ferry_err *err)
{
    ferry_rc rc = FERRY_OK;
    char *ekey = NULL;
    char *query = NULL;
    ferry_buf b = {0};
    *out = NULL;

    if (!bucket_valid(bucket)) {
        rc = ferry_err_set(err, FERRY_ERR_INVALID,
                           "S3 bucket name '%.64s' breaks S3's naming rules (3-63 of a-z 0-9 . -)",
                           bucket != NULL ? bucket : "");
        goto out;
    }
    if (key != NULL) {
        rc = ferry_s3_key_encode(key, &ekey, err);
        if (rc != FERRY_OK)
            goto out;
    }
    if (nparams > 0) {
        rc = ferry_s3_query_build(params, nparams, &query, err);
        if (rc != FERRY_OK)
            goto out;
    }
    ferry_buf_add(&b, s3->endpoint);
    ferry_buf_add(&b, "/");
    ferry_buf_add(&b, bucket);
    if (ekey != NULL) {
        ferry_buf_add(&b, "/");
        ferry_buf_add(&b, ekey);
    }
    if (query != NULL) {
        ferry_buf_add(&b, "?");
        ferry_buf_add(&b, query);
    }
    if (b.oom) {
        rc = ferry_err_set(err, FERRY_ERR_NOMEM, "building S3 URL");
        goto out;
    }
    *out = b.p;
    b.p = NULL;
out:
    free(ekey);
    free(query);
    free(b.p);
    return rc;
}

/* ---- Digests ---------------------------------------------------------------------------- */

static ferry_rc digest_hex(const EVP_MD *md, const void *data, size_t len, char *out, size_t outsz)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[EVP_MAX_MD_SIZE];
    unsigned int rawlen = 0;
    if (EVP_Digest(data != NULL ? data : "", len, raw, &rawlen, md, NULL) != 1 ||
        (size_t)rawlen * 2 + 1 > outsz) {
        if (outsz > 0)
            out[0] = '\0';
        return FERRY_ERR_INTERNAL;
    }
    for (unsigned int i = 0; i < rawlen; i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[2 * rawlen] = '\0';
    return FERRY_OK;
}

ferry_rc ferry_s3_sha256_hex(const void *data, size_t len, char out[FERRY_S3_SHA256_HEX])
{
    return digest_hex(EVP_sha256(), data, len, out, FERRY_S3_SHA256_HEX);
}

ferry_rc ferry_s3_md5_hex(const void *data, size_t len, char out[FERRY_S3_MD5_HEX])
{
    return digest_hex(EVP_md5(), data, len, out, FERRY_S3_MD5_HEX);
}

/* ---- XML replies ------------------------------------------------------------------------ */

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void xml_init_once(void)
{
    xmlInitParser();
}

/* Parses a reply body without network access, entity expansion or messages on stderr.
 * NULL when it is not XML. Caller frees with xmlFreeDoc(). */
static xmlDocPtr xml_read(const char *xml, size_t len)
{
    (void)pthread_once(&xml_once, xml_init_once);
    if (xml == NULL || len == 0 || len > INT_MAX)
        return NULL;
    return xmlReadMemory(xml, (int)len, "s3-reply.xml", NULL,
                         XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
}

/* True for an element with this local name (S3 replies carry a default namespace). */
static bool xml_is(const xmlNode *node, const char *name)
{
    return node != NULL && node->type == XML_ELEMENT_NODE &&
           strcmp((const char *)node->name, name) == 0;
}

/* The element's text as a new string (caller frees with free()); NULL when out of memory. */
static char *xml_text_dup(const xmlNode *node)
{
    xmlChar *content = xmlNodeGetContent(node);
    if (content == NULL)
        return strdup("");
    char *text = strdup((const char *)content);
    xmlFree(content);
    return text;
}

/* Copies the element's text into out; false when out of memory or it does not fit. */
static bool xml_text_copy(const xmlNode *node, char *out, size_t outsz)
{
    char *text = xml_text_dup(node);
    bool ok = text != NULL && copy_text(out, outsz, text);
    free(text);
    return ok;
}

static bool parse_u64(const char *text, uint64_t *out)
{
    char *end = NULL;
    if (text[0] < '0' || text[0] > '9')
        return false;
    unsigned long long v = strtoull(text, &end, 10);
    if (*end != '\0' || v == ULLONG_MAX)
        return false;
    *out = (uint64_t)v;
    return true;
}

/* "2024-01-02T03:04:05.000Z" (listings) -> seconds since the epoch, -1 when unparsable. */
static int64_t parse_iso8601(const char *text)
{
    struct tm tm = {0};
    char tail = '\0';
    if (sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d%c", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &tail) != 7 ||
        (tail != '.' && tail != 'Z'))
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    return t == (time_t)-1 ? -1 : (int64_t)t;
}

/* "Tue, 02 Jan 2024 03:04:05 GMT" (HTTP headers) -> seconds since the epoch, -1 when unparsable. */
static int64_t parse_http_date(const char *text)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    struct tm tm = {0};
    char mon[4] = {0};
    if (sscanf(text, "%*3s, %2d %3s %4d %2d:%2d:%2d GMT", &tm.tm_mday, mon, &tm.tm_year,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
        return -1;
    const char *m = strlen(mon) == 3 ? strstr(months, mon) : NULL;
    if (m == NULL || (m - months) % 3 != 0)
        return -1;
    tm.tm_mon = (int)((m - months) / 3);
    tm.tm_year -= 1900;
    time_t t = timegm(&tm);
    return t == (time_t)-1 ? -1 : (int64_t)t;
}

static ferry_rc list_entry_parse(const xmlNode *contents, ferry_s3_object *obj, ferry_err *err)
{
    ferry_rc rc = FERRY_OK;
    char *text = NULL;
    bool has_size = false;
    obj->last_modified = -1;
    for (const xmlNode *c = contents->children; c != NULL; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        free(text);
        text = xml_text_dup(c);
        if (text == NULL) {
            rc = ferry_err_set(err, FERRY_ERR_NOMEM, "reading S3 listing");
            goto out;
        }
        if (xml_is(c, "Key")) {
            free(obj->key);
            obj->key = text;
            text = NULL;
        } else if (xml_is(c, "Size")) {
            has_size = parse_u64(text, &obj->size);
            if (!has_size) {
                rc = ferry_err_set(err, FERRY_ERR_DECODE, "S3 listing: bad Size '%.32s'", text);
                goto out;
            }
        } else if (xml_is(c, "ETag")) {
            if (!copy_text(obj->etag, sizeof(obj->etag), text)) {
                rc = ferry_err_set(err, FERRY_ERR_DECODE, "S3 listing: ETag too long");
                goto out;
            }
        } else if (xml_is(c, "LastModified")) {
            obj->last_modified = parse_iso8601(text);
        }
    }
    if (obj->key == NULL || !has_size)
        rc = ferry_err_set(err, FERRY_ERR_DECODE, "S3 listing: an entry without Key or Size");
out:
    free(text);
    return rc;
}

ferry_rc ferry_s3_list_parse(const char *xml, size_t len, ferry_s3_list *out, ferry_err *err)
{
    ferry_rc rc = FERRY_OK;
    xmlDocPtr doc = NULL;
    bool truncated = false;
    memset(out, 0, sizeof(*out));

    doc = xml_read(xml, len);
    const xmlNode *root = doc != NULL ? xmlDocGetRootElement(doc) : NULL;
    if (!xml_is(root, "ListBucketResult")) {
        rc = ferry_err_set(err, FERRY_ERR_DECODE, "S3 listing: not a ListBucketResult document");
        goto out;
    }
    size_t n = 0;
    for (const xmlNode *c = root->children; c != NULL; c = c->next)
        n += xml_is(c, "Contents");
    out->objects = calloc(n > 0 ? n : 1, sizeof(*out->objects));
    if (out->objects == NULL) {
        rc = ferry_err_set(err, FERRY_ERR_NOMEM, "reading S3 listing");
        goto out;
    }
    for (const xmlNode *c = root->children; c != NULL; c = c->next) {
        if (xml_is(c, "Contents")) {
            rc = list_entry_parse(c, &out->objects[out->count], err);
            out->count++; /* counted even when half filled, so cleanup frees its key */
            if (rc != FERRY_OK)
                goto out;
        } else if (xml_is(c, "IsTruncated")) {
            char flag[8];
            truncated = xml_text_copy(c, flag, sizeof(flag)) && strcmp(flag, "true") == 0;
        } else if (xml_is(c, "NextContinuationToken")) {
            free(out->next_token);
            out->next_token = xml_text_dup(c);
            if (out->next_token == NULL) {
                rc = ferry_err_set(err, FERRY_ERR_NOMEM, "reading S3 listing");
                goto out;
            }
        }
    }
    if (truncated && is_empty(out->next_token)) {
        rc = ferry_err_set(err, FERRY_ERR_PROTOCOL,
                           "S3 listing is truncated but has no NextContinuationToken");
        goto out;
    }
    if (!truncated) {
        free(out->next_token);
        out->next_token = NULL;
    }
out:
    if (rc != FERRY_OK)
        ferry_s3_list_cleanup(out);
    xmlFreeDoc(doc);
    return rc;
}

void ferry_s3_list_cleanup(ferry_s3_list *list)
{
    if (list == NULL)
        return;
    for (size_t i = 0; i < list->count; i++)
        free(list->objects[i].key);
    free(list->objects);
    free(list->next_token);
    memset(list, 0, sizeof(*list));
}

/* S3 error codes whose meaning is sharper than their HTTP status. Anything else: the status. */
static const struct {
    const char *code;
    ferry_rc rc;
} s3_codes[] = {
    {"NoSuchKey", FERRY_ERR_NOT_FOUND},
    {"NoSuchBucket", FERRY_ERR_NOT_FOUND},
    {"NoSuchUpload", FERRY_ERR_NOT_FOUND},
    {"SignatureDoesNotMatch", FERRY_ERR_AUTH},
    {"InvalidAccessKeyId", FERRY_ERR_AUTH},
    {"InvalidSecurity", FERRY_ERR_AUTH},
    {"InvalidToken", FERRY_ERR_AUTH},
    {"ExpiredToken", FERRY_ERR_AUTH},
    {"RequestTimeTooSkewed", FERRY_ERR_AUTH},
    {"AuthorizationHeaderMalformed", FERRY_ERR_CONFIG}, /* usually the wrong region */
    {"PermanentRedirect", FERRY_ERR_CONFIG},            /* wrong endpoint for the bucket */
    {"AccessDenied", FERRY_ERR_PERMISSION},
    {"AllAccessDisabled", FERRY_ERR_PERMISSION},
    {"AccountProblem", FERRY_ERR_PERMISSION},
    {"SlowDown", FERRY_ERR_THROTTLED},
    {"ServiceUnavailable", FERRY_ERR_THROTTLED},
    {"InternalError", FERRY_ERR_SERVER},
    {"RequestTimeout", FERRY_ERR_TIMEOUT},
    {"XAmzContentSHA256Mismatch", FERRY_ERR_PROTOCOL},
    {"BadDigest", FERRY_ERR_PROTOCOL},
    {"InvalidDigest", FERRY_ERR_PROTOCOL},
    {"IncompleteBody", FERRY_ERR_PROTOCOL},
    {"MalformedXML", FERRY_ERR_PROTOCOL},
    {"MissingContentLength", FERRY_ERR_PROTOCOL},
    {"BucketAlreadyExists", FERRY_ERR_CONFLICT},
    {"BucketAlreadyOwnedByYou", FERRY_ERR_CONFLICT},
    {"BucketNotEmpty", FERRY_ERR_CONFLICT},
    {"OperationAborted", FERRY_ERR_CONFLICT},
    {"PreconditionFailed", FERRY_ERR_CONFLICT},
    {"InvalidBucketName", FERRY_ERR_INVALID},
    {"KeyTooLongError", FERRY_ERR_INVALID},
    {"EntityTooSmall", FERRY_ERR_INVALID},
    {"EntityTooLarge", FERRY_ERR_INVALID},
    {"InvalidPart", FERRY_ERR_INVALID},
    {"InvalidPartOrder", FERRY_ERR_INVALID},
    {"InvalidArgument", FERRY_ERR_INVALID},
    {"InvalidRange", FERRY_ERR_INVALID},
    {"NotImplemented", FERRY_ERR_UNSUPPORTED},
};

ferry_rc ferry_s3_error_parse(long status, const char *xml, size_t len, char *code, size_t code_sz,
                              char *msg, size_t msg_sz)
{
    xmlDocPtr doc = xml_read(xml, len);
    const xmlNode *root = doc != NULL ? xmlDocGetRootElement(doc) : NULL;
    if (code_sz > 0)
        code[0] = '\0';
    if (msg_sz > 0)
        msg[0] = '\0';
    for (const xmlNode *c = xml_is(root, "Error") ? root->children : NULL; c != NULL; c = c->next) {
        if (xml_is(c, "Code") && code_sz > 0 && !xml_text_copy(c, code, code_sz))
            code[0] = '\0'; /* an unknown, overlong code: fall back to the status */
        else if (xml_is(c, "Message") && msg_sz > 0) {
            char *text = xml_text_dup(c);
            if (text != NULL)
                (void)snprintf(msg, msg_sz, "%s", text); /* truncation is fine for people */
            free(text);
        }
    }
    xmlFreeDoc(doc);
    for (size_t i = 0; code_sz > 0 && i < sizeof(s3_codes) / sizeof(s3_codes[0]); i++) {
        if (strcmp(code, s3_codes[i].code) == 0)
            return s3_codes[i].rc;
    }
    ferry_rc rc = ferry_http_status_rc(status);
    /* An error body in a 2xx reply (CompleteMultipartUpload can do that) is still an error. */
    return rc == FERRY_OK ? FERRY_ERR_SERVER : rc;
}

/* ---- Client ----------------------------------------------------------------------------- */

ferry_rc ferry_s3_new(const ferry_s3_opts *opts, ferry_s3 **out, ferry_err *err)
{
    ferry_rc rc = FERRY_OK;
    ferry_s3 *s3 = NULL;
    *out = NULL;

    if (opts == NULL || is_empty(opts->endpoint) || is_empty(opts->region) ||
        is_empty(opts->access_key) || is_empty(opts->secret_key))
        return ferry_err_set(
            err, FERRY_ERR_INVALID,
            "S3 client needs an endpoint, a region, an access key and a secret key");
    if (strncmp(opts->endpoint, "http://", 7) != 0 && strncmp(opts->endpoint, "https://", 8) != 0)
        return ferry_err_set(err, FERRY_ERR_INVALID,
                             "S3 endpoint must start with http:// or https://");
    if (strchr(opts->endpoint, '?') != NULL || strchr(opts->endpoint, '#') != NULL)
        return ferry_err_set(err, FERRY_ERR_INVALID, "S3 endpoint must not have a query");
    /* The region goes into libcurl's "aws:amz:<region>:s3" provider string. */
    if (strspn(opts->region, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(opts->region))
        return ferry_err_set(err, FERRY_ERR_INVALID, "S3 region '%.32s' is not a region name",
                             opts->region);

    s3 = calloc(1, sizeof(*s3));
    if (s3 == NULL)
        goto oom;
    s3->endpoint = strdup(opts->endpoint);
    s3->region = strdup(opts->region);
    s3->access_key = strdup(opts->access_key);
    s3->secret_key = strdup(opts->secret_key);
    size_t sigv4_len = strlen(opts->region) + sizeof("aws:amz::s3");
    s3->sigv4 = malloc(sigv4_len);
    if (s3->endpoint == NULL || s3->region == NULL || s3->access_key == NULL ||
        s3->secret_key == NULL || s3->sigv4 == NULL)
        goto oom;
    int n = snprintf(s3->sigv4, sigv4_len, "aws:amz:%s:s3", opts->region);
    if (n < 0 || (size_t)n >= sigv4_len) {
        rc = ferry_err_set(err, FERRY_ERR_INTERNAL, "building the SigV4 provider string");
        goto out;
    }
    size_t elen = strlen(s3->endpoint);
    while (elen > 0 && s3->endpoint[elen - 1] == '/')
        s3->endpoint[--elen] = '\0';
    s3->us_east_1 = strcmp(opts->region, "us-east-1") == 0;
    s3->timeout_ms = opts->timeout_ms;
    s3->connect_timeout_ms = opts->connect_timeout_ms;
    s3->attempts = opts->attempts > 0 ? opts->attempts : 1;
    s3->progress_fn = opts->progress_fn;
    s3->progress_ud = opts->progress_ud;
    s3->http = ferry_http_new();
    if (s3->http == NULL)
        goto oom;
    *out = s3;
    s3 = NULL;
    goto out;

oom:
    rc = ferry_err_set(err, FERRY_ERR_NOMEM, "creating S3 client");
out:
    ferry_s3_free(s3);
    return rc;
}

void ferry_s3_free(ferry_s3 *s3)
{
    if (s3 == NULL)
        return;
    ferry_http_free(s3->http);
    if (s3->secret_key != NULL)
        OPENSSL_cleanse(s3->secret_key, strlen(s3->secret_key));
    free(s3->secret_key);
    free(s3->access_key);
    free(s3->sigv4);
    free(s3->region);
    free(s3->endpoint);
    free(s3);
}

/* ---- One request ------------------------------------------------------------------------ */

/* One S3 request: the public ferry_s3_request. */
typedef ferry_s3_request s3_call;

/* Fills err for a non-2xx reply (or an error inside a 2xx one) and returns its code. The
 * server's message goes through ferry_redact() too: it is text we did not write. */
static ferry_rc s3_fail(const s3_call *c, long status, const char *body, size_t body_len,
                        char *code, size_t code_sz, ferry_err *err)
{
    char message[256], clean[256], target[256];
    ferry_rc rc =
        ferry_s3_error_parse(status, body, body_len, code, code_sz, message, sizeof(message));
    (void)ferry_redact(message, clean, sizeof(clean));
    s3_target(c->bucket, c->key, target, sizeof(target));
    if (code[0] == '\0')
        return ferry_err_set(err, rc, "S3 %s %s: HTTP %ld", c->op, target, status);
    return ferry_err_set(err, rc, "S3 %s %s: %s (HTTP %ld)%s%s", c->op, target, code, status,
                         clean[0] != '\0' ? ": " : "", clean);
}

/* A request ready for ferry_http: its URL and signed-payload header. */
typedef struct s3_prepared {
    char *url; /* owned */
    char payload_header[sizeof("x-amz-content-sha256: ") + FERRY_S3_SHA256_HEX];
    char range_header[96];
    const char *headers[4];
    ferry_http_request req;
} s3_prepared;

/* Builds p from c; release with free(p->url) (also after a failure). */
static ferry_rc s3_prepare(ferry_s3 *s3, const s3_call *c, s3_prepared *p, ferry_err *err)
{
    char payload_hash[FERRY_S3_SHA256_HEX];
    memset(p, 0, sizeof(*p));
    if ((c->body == NULL && c->body_len > 0) || (c->read_fn != NULL && c->body != NULL))
        return ferry_err_set(err, FERRY_ERR_INVALID, "S3 %s: no body data, or two bodies", c->op);
    ferry_rc rc = s3_url(s3, c->bucket, c->key, c->params, c->nparams, &p->url, err);
    if (rc != FERRY_OK)
        return rc;
    /* libcurl 7.88 neither sends nor computes x-amz-content-sha256: without it the request
     * is signed as if the body were empty. Send the real hash, or say it is unsigned. */
    if (c->read_fn != NULL) {
        (void)copy_text(payload_hash, sizeof(payload_hash), "UNSIGNED-PAYLOAD"); /* fits */
    } else if (c->body_len == 0) {
        (void)copy_text(payload_hash, sizeof(payload_hash), empty_sha256); /* fits */
    } else if (ferry_s3_sha256_hex(c->body, c->body_len, payload_hash) != FERRY_OK) {
        return ferry_err_set(err, FERRY_ERR_INTERNAL, "S3 %s: hashing the body failed", c->op);
    }
    int n = snprintf(p->payload_header, sizeof(p->payload_header), "x-amz-content-sha256: %s",
                     payload_hash);
    if (n < 0 || (size_t)n >= sizeof(p->payload_header))
        return ferry_err_set(err, FERRY_ERR_INTERNAL, "S3 %s: building headers", c->op);
    /* Only headers with values: a removal line ("Expect:") breaks 7.88's signature. */
    size_t h = 0;
    p->headers[h++] = p->payload_header;
    if (c->xml_body)
        p->headers[h++] = "Content-Type: application/xml";
    if (c->range != NULL) {
        n = snprintf(p->range_header, sizeof(p->range_header), "Range: %s", c->range);
        if (n < 0 || (size_t)n >= sizeof(p->range_header))
            return ferry_err_set(err, FERRY_ERR_INVALID, "S3 %s: range too long", c->op);
        p->headers[h++] = p->range_header;
    }
    p->headers[h] = NULL;

    /* A non-NULL body pointer for empty bodies, so PUT and POST send Content-Length: 0. */
    bool with_body = c->read_fn == NULL && (c->body != NULL || strcmp(c->method, "PUT") == 0 ||
                                            strcmp(c->method, "POST") == 0);
    p->req = (ferry_http_request){
        .method = c->method,
        .url = p->url,
        .headers = p->headers,
        .body = with_body ? (c->body != NULL ? c->body : "") : NULL,
        .body_len = c->body_len,
        .read_fn = c->read_fn,
        .read_ud = c->read_ud,
        .upload_len = c->read_len,
        .write_fn = c->write_fn, /* only a 2xx body reaches it: http.c keeps error bodies */
        .write_ud = c->write_ud,
        .progress_fn = s3->progress_fn,
        .progress_ud = s3->progress_ud,
        .auth = FERRY_HTTP_AUTH_SIGV4,
        .user = s3->access_key,
        .password = s3->secret_key,
        .sigv4 = s3->sigv4,
        .timeout_ms = s3->timeout_ms,
        .connect_timeout_ms = s3->connect_timeout_ms,
    };
    return FERRY_OK;
}

/* What ferry_http's rc and the reply mean for request c: OK only for a 2xx reply. */
static ferry_rc s3_check(const s3_call *c, ferry_rc rc, const ferry_http_response *resp, char *code,
                         ferry_err *err)
{
    char target[256];
    if (rc != FERRY_OK) {
        s3_target(c->bucket, c->key, target, sizeof(target));
        (void)ferry_err_prefix(err, "S3 %s %s", c->op, target);
        return rc;
    }
    if (resp->status < 200 || resp->status > 299)
        return s3_fail(c, resp->status, resp->body, resp->body_len, code, S3_CODE_MAX, err);
    return FERRY_OK;
}

bool ferry_s3_transient(ferry_rc rc)
{
    return rc == FERRY_ERR_THROTTLED || rc == FERRY_ERR_SERVER || rc == FERRY_ERR_UNAVAILABLE ||
           rc == FERRY_ERR_TIMEOUT;
}

/* The client's progress function as a stop flag (the caller's stop, between attempts). */
static bool s3_stopped(void *ud)
{
    const ferry_s3 *s3 = ud;
    return s3->progress_fn != NULL && !s3->progress_fn(0, 0, s3->progress_ud);
}

/*
 * Sends one request and returns OK only for a 2xx reply. On failure err names the operation,
 * bucket and key, and code (S3_CODE_MAX bytes, may be NULL) receives the S3 error code ("" when
 * none). resp is always filled; the caller releases it with ferry_http_response_cleanup().
 */
static ferry_rc s3_send(ferry_s3 *s3, const s3_call *c, ferry_http_response *resp, char *code,
                        ferry_err *err)
{
    char code_buf[S3_CODE_MAX];
    s3_prepared p;
    memset(resp, 0, sizeof(*resp));
    if (code == NULL)
        code = code_buf;
    code[0] = '\0';
    ferry_rc rc = s3_prepare(s3, c, &p, err);
    /* A streamed body cannot be read again: only in-memory requests are sent more than once. */
    int attempts = c->read_fn == NULL && c->write_fn == NULL ? s3->attempts : 1;
    for (int attempt = 1; rc == FERRY_OK; attempt++) {
        rc = ferry_http_perform(s3->http, &p.req, resp, err);
        rc = s3_check(c, rc, resp, code, err);
        if (attempt >= attempts || !ferry_s3_transient(rc) ||
            !ferry_sleep_unless(ferry_backoff_ms(attempt, 200), s3_stopped, s3))
            break;
        ferry_http_response_cleanup(resp);
        ferry_err_clear(err);
        code[0] = '\0';
        rc = FERRY_OK;
    }
    free(p.url);
    return rc;
}

/* ---- Requests on a ferry_http_multi ------------------------------------------------------- */

/* One request in flight: what its done function needs once the multi hands back the reply. */
typedef struct s3_pending {
    s3_prepared p;
    s3_call c; /* op, bucket and key point at the copies below */
    char *op, *bucket, *key;
    ferry_s3_done_fn done;
    void *ud;
} s3_pending;

static void s3_pending_free(s3_pending *q)
{
    free(q->p.url);
    free(q->op);
    free(q->bucket);
    free(q->key);
    free(q);
}

static void s3_async_done(ferry_rc rc, const ferry_http_response *resp, const ferry_err *herr,
                          void *ud)
{
    s3_pending *q = ud;
    char code[S3_CODE_MAX];
    ferry_err err = *herr;
    code[0] = '\0';
    rc = s3_check(&q->c, rc, resp, code, &err);
    q->done(rc, resp, code, &err, q->ud);
    s3_pending_free(q);
}

ferry_rc ferry_s3_start(ferry_s3 *s3, ferry_http_multi *m, const ferry_s3_request *r,
                        ferry_s3_done_fn done, void *ud, ferry_err *err)
{
    s3_pending *q = calloc(1, sizeof(*q));
    if (q == NULL)
        return ferry_err_set(err, FERRY_ERR_NOMEM, "S3 %s: out of memory", r->op);
    q->c = *r;
    q->op = strdup(r->op);
    q->bucket = r->bucket != NULL ? strdup(r->bucket) : NULL;
    q->key = r->key != NULL ? strdup(r->key) : NULL;
    q->done = done;
    q->ud = ud;
    if (q->op == NULL || (r->bucket != NULL && q->bucket == NULL) ||
        (r->key != NULL && q->key == NULL)) {
        s3_pending_free(q);
        return ferry_err_set(err, FERRY_ERR_NOMEM, "S3 %s: out of memory", r->op);
    }
    q->c.op = q->op;
    q->c.bucket = q->bucket;
    q->c.key = q->key;
    q->c.params = NULL; /* only needed to build the URL, below */
    q->c.nparams = 0;
    ferry_rc rc = s3_prepare(s3, r, &q->p, err);
    if (rc == FERRY_OK)
        rc = ferry_http_multi_add(m, &q->p.req, s3_async_done, q, err);
    if (rc != FERRY_OK) {
        s3_pending_free(q);
        return rc;
    }
    return FERRY_OK;
}

/* Copies a reply header's value (ETag) into out; PROTOCOL when it is missing or too long. */
static ferry_rc reply_etag(const s3_call *c, const ferry_http_response *resp,
                           char out[FERRY_S3_ETAG_MAX], ferry_err *err)
{
    char target[256];
    char value[FERRY_S3_ETAG_MAX + 1];
    if (ferry_http_response_header(resp, "ETag", value, sizeof(value)) && value[0] != '\0' &&
        strlen(value) < FERRY_S3_ETAG_MAX) {
        memcpy(out, value, strlen(value) + 1);
        return FERRY_OK;
    }
    s3_target(c->bucket, c->key, target, sizeof(target));
    return ferry_err_set(err, FERRY_ERR_PROTOCOL, "S3 %s %s: reply has no usable ETag", c->op,
                         target);
}

/* ---- Buckets ---------------------------------------------------------------------------- */

ferry_rc ferry_s3_bucket_create(ferry_s3 *s3, const char *bucket, ferry_err *err)
{
    ferry_http_response resp = {0};
    ferry_buf body = {0};
    char code[S3_CODE_MAX];
    s3_call c = {.op = "CreateBucket", .method = "PUT", .bucket = bucket};
    if (!s3->us_east_1) {
        ferry_buf_add(
            &body, "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                   "<LocationConstraint>");
        sb_add_xml(&body, s3->region);
        ferry_buf_add(&body, "</LocationConstraint></CreateBucketConfiguration>");
        if (body.oom) {
            free(body.p);
            return ferry_err_set(err, FERRY_ERR_NOMEM, "S3 CreateBucket");
        }
        c.body = body.p;
        c.body_len = body.len;
        c.xml_body = true;
    }
    ferry_rc rc = s3_send(s3, &c, &resp, code, err);
    if (rc != FERRY_OK && strcmp(code, "BucketAlreadyOwnedByYou") == 0) {
        ferry_err_clear(err);
        rc = FERRY_OK;
    }
    ferry_http_response_cleanup(&resp);
    free(body.p);
    return rc;
}

ferry_rc ferry_s3_bucket_delete(ferry_s3 *s3, const char *bucket, ferry_err *err)
{
    ferry_http_response resp = {0};
    s3_call c = {.op = "DeleteBucket", .method = "DELETE", .bucket = bucket};
    ferry_rc rc = s3_send(s3, &c, &resp, NULL, err);
    ferry_http_response_cleanup(&resp);
    return rc;
}

/* ---- Objects ---------------------------------------------------------------------------- */

static ferry_rc put_common(ferry_s3 *s3, const s3_call *c, char etag_out[FERRY_S3_ETAG_MAX],
                           ferry_err *err)
{
    ferry_http_response resp = {0};
    ferry_rc rc = s3_send(s3, c, &resp, NULL, err);
    if (rc == FERRY_OK && etag_out != NULL)
        rc = reply_etag(c, &resp, etag_out, err);
    ferry_http_response_cleanup(&resp);
    return rc;
}

ferry_rc ferry_s3_object_put(ferry_s3 *s3, const char *bucket, const char *key, const void *data,
                             size_t len, char etag_out[FERRY_S3_ETAG_MAX], ferry_err *err)
{
    s3_call c = {.op = "PutObject",
                 .method = "PUT",
                 .bucket = bucket,
                 .key = key,
                 .body = data,
                 .body_len = len};
    return put_common(s3, &c, etag_out, err);
}

ferry_rc ferry_s3_object_put_stream(ferry_s3 *s3, const char *bucket, const char *key,
                                    ferry_http_read_fn read_fn, void *read_ud, uint64_t len,
                                    char etag_out[FERRY_S3_ETAG_MAX], ferry_err *err)
{
    s3_call c = {.op = "PutObject",
                 .method = "PUT",
                 .bucket = bucket,
                 .key = key,
                 .read_fn = read_fn,
                 .read_ud = read_ud,
                 .read_len = len};
    if (read_fn == NULL)
        return ferry_err_set(err, FERRY_ERR_INVALID, "S3 PutObject: no read callback");
    return put_common(s3, &c, etag_out, err);
}

ferry_rc ferry_s3_object_get(ferry_s3 *s3, const char *bucket, const char *key, void **data,
                             size_t *len, ferry_err *err)
{
    ferry_http_response resp = {0};
    s3_call c = {.op = "GetObject", .method = "GET", .bucket = bucket, .key = key};
    *data = NULL;
    *len = 0;
    ferry_rc rc = s3_send(s3, &c, &resp, NULL, err);
    if (rc != FERRY_OK)
        goto out;
    if (resp.body == NULL) { /* an empty object: still hand out a NUL-terminated buffer */
        resp.body = calloc(1, 1);
        if (resp.body == NULL) {
            rc = ferry_err_set(err, FERRY_ERR_NOMEM, "S3 GetObject");
            goto out;
        }
    }
    *data = resp.body;
    *len = resp.body_len;
    resp.body = NULL;
out:
    ferry_http_response_cleanup(&resp);
    return rc;
}

ferry_rc ferry_s3_object_get_stream(ferry_s3 *s3, const char *bucket, const char *key,
                                    ferry_http_write_fn write_fn, void *write_ud, ferry_err *err)
{
    ferry_http_response resp = {0};
    s3_call c = {.op = "GetObject",
                 .method = "GET",
                 .bucket = bucket,
                 .key = key,
                 .write_fn = write_fn,
                 .write_ud = write_ud};
    if (write_fn == NULL)
        return ferry_err_set(err, FERRY_ERR_INVALID, "S3 GetObject: no write callback");
    ferry_rc rc = s3_send(s3, &c, &resp, NULL, err);
    ferry_http_response_cleanup(&resp);
    return rc;
}

ferry_rc ferry_s3_object_head(ferry_s3 *s3, const char *bucket, const char *key,
                              ferry_s3_object *info, ferry_err *err)
{
    ferry_http_response resp = {0};
    char value[64], target[256];
    s3_call c = {.op = "HeadObject", .method = "HEAD", .bucket = bucket, .key = key};
    memset(info, 0, sizeof(*info));
    info->last_modified = -1;
    ferry_rc rc = s3_send(s3, &c, &resp, NULL, err);
    if (rc != FERRY_OK)
        goto out;
    if (!ferry_http_response_header(&resp, "Content-Length", value, sizeof(value)) ||
        !parse_u64(value, &info->size)) {
        s3_target(bucket, key, target, sizeof(target));
        rc = ferry_err_set(err, FERRY_ERR_PROTOCOL, "S3 HeadObject %s: no Content-Length", target);
        goto out;
    }
    rc = reply_etag(&c, &resp, info->etag, err);
    if (rc != FERRY_OK)
        goto out;
    if (ferry_http_response_header(&resp, "Last-Modified", value, sizeof(value)))
        info->last_modified = parse_http_date(value);
out:
    ferry_http_response_cleanup(&resp);
    return rc;
}

ferry_rc ferry_s3_object_delete(ferry_s3 *s3, const char *bucket, const char *key, ferry_err *err)
{
    ferry_http_response resp = {0};
    s3_call c = {.op = "DeleteObject", .method = "DELETE", .bucket = bucket, .key = key};
    ferry_rc rc = s3_send(s3, &c, &resp, NULL, err);
    ferry_http_response_cleanup(&resp);
    return rc;
}

ferry_rc ferry_s3_object_list(ferry_s3 *s3, const char *bucket, const ferry_s3_list_opts *opts,
                              ferry_s3_list *out, ferry_err *err)
{
    ferry_http_response resp = {0};
    ferry_s3_param params[4] = {{"list-type", "2"}};
    size_t n = 1;
    char max_keys[16];
    char target[256];
    memset(out, 0, sizeof(*out));
    if (opts != NULL && (opts->max_keys < 0 || opts->max_keys > 1000))
        return ferry_err_set(err, FERRY_ERR_INVALID, "S3 ListObjectsV2: max-keys %d not in 0..1000",
                             opts->max_keys);
    if (opts != NULL && opts->prefix != NULL)
        params[n++] = (ferry_s3_param){"prefix", opts->prefix};
    if (opts != NULL && opts->max_keys > 0) {
        (void)snprintf(max_keys, sizeof(max_keys), "%d", opts->max_keys); /* fits: <= 1000 */
        params[n++] = (ferry_s3_param){"max-keys", max_keys};
    }
    if (opts != NULL && opts->continuation_token != NULL)
        params[n++] = (ferry_s3_param){"continuation-token", opts->continuation_token};
    s3_call c = {
        .op = "ListObjectsV2", .method = "GET", .bucket = bucket, .params = params, .nparams = n};
    ferry_rc rc = s3_send(s3, &c, &resp, NULL, err);
    if (rc != FERRY_OK)
        goto out;
    rc = ferry_s3_list_parse(resp.body, resp.body_len, out, err);
    if (rc != FERRY_OK) {
        s3_target(bucket, NULL, target, sizeof(target));
        (void)ferry_err_prefix(err, "S3 ListObjectsV2 %s", target);
    }
out:
    ferry_http_response_cleanup(&resp);
    return rc;
}

/* ---- Multipart upload ------------------------------------------------------------------- */

/* Copies the text of the root's child `name` into a new string (*out, caller frees), when the
 * body is a document whose root is `root_name`. DECODE otherwise. */
static ferry_rc reply_field(const s3_call *c, const ferry_http_response *resp,
                            const char *root_name, const char *name, char **out, ferry_err *err)
{
    ferry_rc rc = FERRY_OK;
    char target[256];
    xmlDocPtr doc = xml_read(resp->body, resp->body_len);
    const xmlNode *root = doc != NULL ? xmlDocGetRootElement(doc) : NULL;
    *out = NULL;
    for (const xmlNode *n = xml_is(root, root_name) ? root->children : NULL; n != NULL;
         n = n->next) {
        if (xml_is(n, name)) {
            *out = xml_text_dup(n);
            if (*out == NULL)
                rc = ferry_err_set(err, FERRY_ERR_NOMEM, "S3 %s", c->op);
            goto out;
        }
    }
    s3_target(c->bucket, c->key, target, sizeof(target));
    rc = ferry_err_set(err, FERRY_ERR_DECODE, "S3 %s %s: reply has no %s/%s", c->op, target,
                       root_name, name);
out:
    xmlFreeDoc(doc);
    return rc;
}

ferry_rc ferry_s3_multipart_create(ferry_s3 *s3, const char *bucket, const char *key,
                                   char **upload_id, ferry_err *err)
{
    ferry_http_response resp = {0};
    const ferry_s3_param params[] = {{"uploads", NULL}};
    s3_call c = {.op = "CreateMultipartUpload",
                 .method = "POST",
                 .bucket = bucket,
                 .key = key,
                 .params = params,
                 .nparams = 1,
                 .xml_body = true};
    *upload_id = NULL;
    ferry_rc rc = s3_send(s3, &c, &resp, NULL, err);
    if (rc == FERRY_OK)
        rc = reply_field(&c, &resp, "InitiateMultipartUploadResult", "UploadId", upload_id, err);
    if (rc == FERRY_OK && (*upload_id)[0] == '\0') {
        free(*upload_id);
        *upload_id = NULL;
        rc = ferry_err_set(err, FERRY_ERR_PROTOCOL, "S3 CreateMultipartUpload: empty UploadId");
    }
    ferry_http_response_cleanup(&resp);
    return rc;
}

static ferry_rc upload_part(ferry_s3 *s3, s3_call *c, const char *upload_id, int number,
                            char etag_out[FERRY_S3_ETAG_MAX], ferry_err *err)
{
    char num[16];
    if (number < 1 || number > 10000)
        return ferry_err_set(err, FERRY_ERR_INVALID,
                             "S3 UploadPart: part number %d not in 1..10000", number);
    if (is_empty(upload_id))
        return ferry_err_set(err, FERRY_ERR_INVALID, "S3 UploadPart: no upload id");
    (void)snprintf(num, sizeof(num), "%d", number); /* fits: <= 10000 */
    const ferry_s3_param params[] = {{"partNumber", num}, {"uploadId", upload_id}};
    c->op = "UploadPart";
    c->method = "PUT";
    c->params = params;
    c->nparams = 2;
    return put_common(s3, c, etag_out, err);
}

ferry_rc ferry_s3_multipart_upload_part(ferry_s3 *s3, const char *bucket, const char *key,
                                        const char *upload_id, int number, const void *data,
                                        size_t len, char etag_out[FERRY_S3_ETAG_MAX],
                                        ferry_err *err)
{
    s3_call c = {.bucket = bucket, .key = key, .body = data, .body_len = len};
    return upload_part(s3, &c, upload_id, number, etag_out, err);
}

ferry_rc ferry_s3_multipart_upload_part_stream(ferry_s3 *s3, const char *bucket, const char *key,
                                               const char *upload_id, int number,
                                               ferry_http_read_fn read_fn, void *read_ud,
                                               uint64_t len, char etag_out[FERRY_S3_ETAG_MAX],
                                               ferry_err *err)
{
    s3_call c = {
        .bucket = bucket, .key = key, .read_fn = read_fn, .read_ud = read_ud, .read_len = len};
    if (read_fn == NULL)
        return ferry_err_set(err, FERRY_ERR_INVALID, "S3 UploadPart: no read callback");
    return upload_part(s3, &c, upload_id, number, etag_out, err);
}

ferry_rc ferry_s3_multipart_complete(ferry_s3 *s3, const char *bucket, const char *key,
                                     const char *upload_id, const ferry_s3_part *parts,
                                     size_t nparts, char etag_out[FERRY_S3_ETAG_MAX],
                                     ferry_err *err)
{
    ferry_rc rc = FERRY_OK;
    ferry_http_response resp = {0};
    ferry_buf body = {0};
    char *etag = NULL;
    char num[16], code[S3_CODE_MAX];
    const ferry_s3_param params[] = {{"uploadId", upload_id}};
    s3_call c = {.op = "CompleteMultipartUpload",
                 .method = "POST",
                 .bucket = bucket,
                 .key = key,
                 .params = params,
                 .nparams = 1,
                 .xml_body = true};

    if (is_empty(upload_id) || nparts == 0 || nparts > 10000) {
        rc = ferry_err_set(err, FERRY_ERR_INVALID,
                           "S3 CompleteMultipartUpload: needs an upload id and 1..10000 parts");
        goto out;
    }
    ferry_buf_add(&body,
                  "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
    for (size_t i = 0; i < nparts; i++) {
        if (parts[i].number < 1 || parts[i].number > 10000 || is_empty(parts[i].etag) ||
            (i > 0 && parts[i].number <= parts[i - 1].number)) {
            rc = ferry_err_set(err, FERRY_ERR_INVALID,
                               "S3 CompleteMultipartUpload: part %zu has a bad number or no ETag "
                               "(numbers must ascend within 1..10000)",
                               i);
            goto out;
        }
        (void)snprintf(num, sizeof(num), "%d", parts[i].number); /* fits: <= 10000 */
        ferry_buf_add(&body, "<Part><PartNumber>");
        ferry_buf_add(&body, num);
        ferry_buf_add(&body, "</PartNumber><ETag>");
        sb_add_xml(&body, parts[i].etag);
        ferry_buf_add(&body, "</ETag></Part>");
    }
    ferry_buf_add(&body, "</CompleteMultipartUpload>");
    if (body.oom) {
        rc = ferry_err_set(err, FERRY_ERR_NOMEM, "S3 CompleteMultipartUpload");
        goto out;
    }
    c.body = body.p;
    c.body_len = body.len;
    rc = s3_send(s3, &c, &resp, NULL, err);
    if (rc != FERRY_OK)
        goto out;
    /* S3 may answer 200 and then report a failure in the body, since it has to keep the
     * connection alive with whitespace while it assembles the object. */
    xmlDocPtr doc = xml_read(resp.body, resp.body_len);
    bool is_error = doc != NULL && xml_is(xmlDocGetRootElement(doc), "Error");
    xmlFreeDoc(doc);
    if (is_error) {
        rc = s3_fail(&c, resp.status, resp.body, resp.body_len, code, sizeof(code), err);
        goto out;
    }
    if (etag_out != NULL) {
        rc = reply_field(&c, &resp, "CompleteMultipartUploadResult", "ETag", &etag, err);
        if (rc != FERRY_OK)
            goto out;
        if (etag[0] == '\0' || !copy_text(etag_out, FERRY_S3_ETAG_MAX, etag)) {
            rc = ferry_err_set(err, FERRY_ERR_PROTOCOL,
                               "S3 CompleteMultipartUpload: empty or overlong ETag");
            goto out;
        }
    }
out:
    free(etag);
    free(body.p);
    ferry_http_response_cleanup(&resp);
    return rc;
}

ferry_rc ferry_s3_multipart_abort(ferry_s3 *s3, const char *bucket, const char *key,
                                  const char *upload_id, ferry_err *err)
{
    ferry_http_response resp = {0};
    if (is_empty(upload_id))
        return ferry_err_set(err, FERRY_ERR_INVALID, "S3 AbortMultipartUpload: no upload id");
    const ferry_s3_param params[] = {{"uploadId", upload_id}};
    s3_call c = {.op = "AbortMultipartUpload",
                 .method = "DELETE",
                 .bucket = bucket,
                 .key = key,
                 .params = params,
                 .nparams = 1};
    ferry_rc rc = s3_send(s3, &c, &resp, NULL, err);
    ferry_http_response_cleanup(&resp);
    return rc;
}
