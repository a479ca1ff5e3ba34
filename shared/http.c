/* http.c - HTTP requests through one libcurl easy handle per ferry_http. */
#include "ferry/http.h"

#include <curl/curl.h>
#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ferry/buf.h"
#include "ferry/log.h"

struct ferry_http {
    CURL *curl;
};

/* libcurl's global init is not thread-safe in 7.88: do it exactly once. */
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_OK;

static void curl_init_once(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

ferry_http *ferry_http_new(void)
{
    (void)pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK)
        return NULL;
    ferry_http *http = calloc(1, sizeof(*http));
    if (http == NULL)
        return NULL;
    http->curl = curl_easy_init();
    if (http->curl == NULL) {
        free(http);
        return NULL;
    }
    return http;
}

void ferry_http_free(ferry_http *http)
{
    if (http == NULL)
        return;
    curl_easy_cleanup(http->curl);
    free(http);
}

typedef struct transfer {
    const ferry_http_request *req;
    CURL *curl;
    ferry_buf body, headers;
    const unsigned char *mem_body; /* in-memory request body, consumed by mem_read */
    size_t mem_left;
    bool cancelled;
    bool oom;
    bool too_big;    /* the body or the headers passed their cap */
    size_t max_body; /* the request's cap, or FERRY_HTTP_BODY_MAX */
} transfer;

static size_t on_write(char *data, size_t size, size_t nmemb, void *ud)
{
    transfer *t = ud;
    size_t len = size * nmemb;
    long status = 0;
    (void)curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
    /* Only a successful body is streamed to the caller; an error body (S3's XML error, say)
     * is kept in memory for the caller to read from the response. */
    if (t->req->write_fn != NULL && status >= 200 && status < 300) {
        if (!t->req->write_fn(data, len, t->req->write_ud)) {
            t->cancelled = true;
            return 0;
        }
        return len;
    }
    if (len > t->max_body - t->body.len) {
        t->too_big = true;
        return 0;
    }
    ferry_buf_addn(&t->body, data, len);
    if (t->body.oom) {
        t->oom = true;
        return 0;
    }
    return len;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
    transfer *t = ud;
    size_t len = size * nmemb;
    /* A new status line (after a 100 Continue or a redirect) starts a new header block. */
    if (len >= 5 && strncmp(data, "HTTP/", 5) == 0)
        ferry_buf_reset(&t->headers);
    if (len > FERRY_HTTP_HEADERS_MAX - t->headers.len) {
        t->too_big = true;
        return 0;
    }
    ferry_buf_addn(&t->headers, data, len);
    if (t->headers.oom) {
        t->oom = true;
        return 0;
    }
    return len;
}

static size_t on_read_mem(char *buf, size_t size, size_t nmemb, void *ud)
{
    transfer *t = ud;
    size_t n = size * nmemb;
    if (n > t->mem_left)
        n = t->mem_left;
    if (n == 0)
        return 0;
    memcpy(buf, t->mem_body, n);
    t->mem_body += n;
    t->mem_left -= n;
    return n;
}

static size_t on_read_cb(char *buf, size_t size, size_t nmemb, void *ud)
{
    transfer *t = ud;
    size_t n = t->req->read_fn(buf, size * nmemb, t->req->read_ud);
    if (n == SIZE_MAX) {
        t->cancelled = true;
        return CURL_READFUNC_ABORT;
    }
    return n;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal;
    (void)ultotal;
    transfer *t = ud;
    if (!t->req->progress_fn((uint64_t)dlnow, (uint64_t)ulnow, t->req->progress_ud)) {
        t->cancelled = true;
        return 1;
    }
    return 0;
}

static ferry_rc curl_rc(CURLcode code)
{
    switch (code) {
    case CURLE_OK:
        return FERRY_OK;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
        return FERRY_ERR_UNAVAILABLE;
    case CURLE_OPERATION_TIMEDOUT:
        return FERRY_ERR_TIMEOUT;
    case CURLE_ABORTED_BY_CALLBACK:
    case CURLE_READ_ERROR:
    case CURLE_WRITE_ERROR:
        return FERRY_ERR_CANCELLED;
    case CURLE_OUT_OF_MEMORY:
        return FERRY_ERR_NOMEM;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        return FERRY_ERR_INVALID;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
        return FERRY_ERR_AUTH;
    default:
        return FERRY_ERR_PROTOCOL;
    }
}

/* Sets an option and jumps to the function's cleanup on failure. */
#define SETOPT(opt, val)                                                                           \
    do {                                                                                           \
        cc = curl_easy_setopt(h, opt, val);                                                        \
        if (cc != CURLE_OK)                                                                        \
            goto curl_failed;                                                                      \
    } while (0)

/* Sets up easy handle h for req; t must stay valid until the transfer ends. *hdrs receives the
 * header list (free it with curl_slist_free_all() after the transfer, also on failure). */
static ferry_rc transfer_setup(CURL *h, const ferry_http_request *req, transfer *t,
                               struct curl_slist **hdrs, ferry_err *err)
{
    CURLcode cc = CURLE_OK;
    *t = (transfer){.req = req,
                    .curl = h,
                    .mem_body = req->body,
                    .mem_left = req->body_len,
                    .max_body = req->max_body > 0 ? req->max_body : FERRY_HTTP_BODY_MAX};
    *hdrs = NULL;

    curl_easy_reset(h);
    const char *method = req->method != NULL ? req->method : "GET";
    bool has_body = req->read_fn != NULL || req->body != NULL;
    bool has_expect = false;
    for (const char *const *line = req->headers; line != NULL && *line != NULL; line++) {
        has_expect = has_expect || strncasecmp(*line, "Expect:", 7) == 0;
        struct curl_slist *grown = curl_slist_append(*hdrs, *line);
        if (grown == NULL)
            return ferry_err_set(err, FERRY_ERR_NOMEM, "building HTTP headers");
        *hdrs = grown;
    }
    /* libcurl 7.88 sends "Expect: 100-continue" with every upload and then waits a second for
     * an answer that PowerDNS and supervisord never give. An empty "Expect:" line turns it off,
     * except for SigV4 requests, whose signature such a removal line breaks in 7.88 (S3 servers
     * answer 100 Continue promptly, so they do not wait). */
    if (has_body && !has_expect && req->auth != FERRY_HTTP_AUTH_SIGV4) {
        struct curl_slist *grown = curl_slist_append(*hdrs, "Expect:");
        if (grown == NULL)
            return ferry_err_set(err, FERRY_ERR_NOMEM, "building HTTP headers");
        *hdrs = grown;
    }

    SETOPT(CURLOPT_URL, req->url);
    SETOPT(CURLOPT_NOSIGNAL, 1L);
    SETOPT(CURLOPT_HTTPHEADER, *hdrs);
    SETOPT(CURLOPT_WRITEFUNCTION, on_write);
    SETOPT(CURLOPT_WRITEDATA, t);
    SETOPT(CURLOPT_HEADERFUNCTION, on_header);
    SETOPT(CURLOPT_HEADERDATA, t);
    SETOPT(CURLOPT_CONNECTTIMEOUT_MS,
           req->connect_timeout_ms > 0 ? req->connect_timeout_ms : 10000L);
    if (req->timeout_ms > 0)
        SETOPT(CURLOPT_TIMEOUT_MS, req->timeout_ms);
    if (req->progress_fn != NULL) {
        SETOPT(CURLOPT_XFERINFOFUNCTION, on_progress);
        SETOPT(CURLOPT_XFERINFODATA, t);
        SETOPT(CURLOPT_NOPROGRESS, 0L);
    }

    if (strcmp(method, "HEAD") == 0) {
        SETOPT(CURLOPT_NOBODY, 1L);
    } else if (strcmp(method, "PUT") == 0 || (has_body && strcmp(method, "GET") != 0)) {
        /* Upload mode for every method with a body, so large bodies stream; the method is
         * then set explicitly (POST, PATCH). */
        SETOPT(CURLOPT_UPLOAD, 1L);
        if (req->read_fn != NULL) {
            SETOPT(CURLOPT_READFUNCTION, on_read_cb);
            SETOPT(CURLOPT_INFILESIZE_LARGE, (curl_off_t)req->upload_len);
        } else {
            SETOPT(CURLOPT_READFUNCTION, on_read_mem);
            SETOPT(CURLOPT_INFILESIZE_LARGE, (curl_off_t)req->body_len);
        }
        SETOPT(CURLOPT_READDATA, t);
        if (strcmp(method, "PUT") != 0)
            SETOPT(CURLOPT_CUSTOMREQUEST, method);
    } else if (strcmp(method, "GET") != 0) {
        SETOPT(CURLOPT_CUSTOMREQUEST, method);
    }

    switch (req->auth) {
    case FERRY_HTTP_AUTH_NONE:
        break;
    case FERRY_HTTP_AUTH_BASIC:
        SETOPT(CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        SETOPT(CURLOPT_USERNAME, req->user);
        SETOPT(CURLOPT_PASSWORD, req->password);
        break;
    case FERRY_HTTP_AUTH_SIGV4:
        SETOPT(CURLOPT_AWS_SIGV4, req->sigv4);
        SETOPT(CURLOPT_USERNAME, req->user);
        SETOPT(CURLOPT_PASSWORD, req->password);
        break;
    }
    return FERRY_OK;

curl_failed:
    return ferry_err_set(err, curl_rc(cc), "setting up HTTP request: %s", curl_easy_strerror(cc));
}

/* Hands the transfer's result to resp (which takes the buffers) and maps cc. */
static ferry_rc transfer_finish(transfer *t, CURLcode cc, ferry_http_response *resp, ferry_err *err)
{
    ferry_rc rc = FERRY_OK;
    const ferry_http_request *req = t->req;
    (void)curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &resp->status);
    resp->body = t->body.p;
    resp->body_len = t->body.len;
    resp->headers = t->headers.p;
    resp->headers_len = t->headers.len;
    t->body = (ferry_buf){0};
    t->headers = (ferry_buf){0};
    if (t->oom) {
        rc = ferry_err_set(err, FERRY_ERR_NOMEM, "reading HTTP response");
    } else if (t->too_big) {
        char url[512];
        (void)ferry_redact(req->url, url, sizeof(url));
        rc = ferry_err_set(err, FERRY_ERR_PROTOCOL,
                           "%s %s: the response is too large (body over %zu bytes or headers over "
                           "%u bytes)",
                           req->method != NULL ? req->method : "GET", url, t->max_body,
                           FERRY_HTTP_HEADERS_MAX);
    } else if (cc != CURLE_OK) {
        char url[512];
        (void)ferry_redact(req->url, url, sizeof(url));
        rc = ferry_err_set(err, t->cancelled ? FERRY_ERR_CANCELLED : curl_rc(cc), "%s %s: %s",
                           req->method != NULL ? req->method : "GET", url, curl_easy_strerror(cc));
    }
    return rc;
}

ferry_rc ferry_http_perform(ferry_http *http, const ferry_http_request *req,
                            ferry_http_response *resp, ferry_err *err)
{
    transfer t;
    struct curl_slist *hdrs = NULL;
    memset(resp, 0, sizeof(*resp));
    ferry_rc rc = transfer_setup(http->curl, req, &t, &hdrs, err);
    if (rc == FERRY_OK) {
        CURLcode cc = curl_easy_perform(http->curl);
        rc = transfer_finish(&t, cc, resp, err);
    }
    free(t.body.p);
    free(t.headers.p);
    curl_slist_free_all(hdrs);
    return rc;
}

/* ---- Many requests at once (curl multi) --------------------------------------------------- */

/* A request in flight: its easy handle, its transfer state and whom to tell. */
typedef struct multi_req {
    transfer t;
    struct multi_req *prev, *next; /* the multi's list of requests in flight */
    struct curl_slist *hdrs;
    CURL *curl;
    ferry_http_done_fn done;
    void *ud;
} multi_req;

struct ferry_http_multi {
    CURLM *multi;
    CURL **idle; /* easy handles kept for reuse (their connections stay in the multi's cache) */
    size_t n_idle, cap_idle;
    multi_req *head; /* requests in flight */
    size_t running;
};

ferry_http_multi *ferry_http_multi_new(void)
{
    (void)pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK)
        return NULL;
    ferry_http_multi *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    m->multi = curl_multi_init();
    if (m->multi == NULL) {
        free(m);
        return NULL;
    }
    return m;
}

/* Ends a request: its easy handle goes back to the idle list (or is freed). */
static void multi_req_release(ferry_http_multi *m, multi_req *r)
{
    (void)curl_multi_remove_handle(m->multi, r->curl);
    if (r->prev != NULL)
        r->prev->next = r->next;
    else
        m->head = r->next;
    if (r->next != NULL)
        r->next->prev = r->prev;
    if (m->n_idle == m->cap_idle) {
        size_t cap = m->cap_idle == 0 ? 16 : m->cap_idle * 2;
        CURL **grown = realloc(m->idle, cap * sizeof(*grown));
        if (grown != NULL) {
            m->idle = grown;
            m->cap_idle = cap;
        }
    }
    if (m->n_idle < m->cap_idle)
        m->idle[m->n_idle++] = r->curl;
    else
        curl_easy_cleanup(r->curl);
    curl_slist_free_all(r->hdrs);
    free(r->t.body.p);
    free(r->t.headers.p);
    free(r);
    m->running--;
}

void ferry_http_multi_free(ferry_http_multi *m)
{
    if (m == NULL)
        return;
    /* Requests still in flight end here: each done function hears CANCELLED. */
    while (m->head != NULL) {
        multi_req *r = m->head;
        ferry_http_done_fn done = r->done;
        void *ud = r->ud;
        ferry_http_response resp = {0};
        ferry_err err = {0};
        (void)ferry_err_set(&err, FERRY_ERR_CANCELLED, "HTTP request dropped unfinished");
        multi_req_release(m, r);
        done(FERRY_ERR_CANCELLED, &resp, &err, ud);
    }
    for (size_t i = 0; i < m->n_idle; i++)
        curl_easy_cleanup(m->idle[i]);
    free(m->idle);
    curl_multi_cleanup(m->multi);
    free(m);
}

ferry_rc ferry_http_multi_add(ferry_http_multi *m, const ferry_http_request *req,
                              ferry_http_done_fn done, void *ud, ferry_err *err)
{
    multi_req *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
    r->curl = m->n_idle > 0 ? m->idle[--m->n_idle] : curl_easy_init();
    if (r->curl == NULL) {
        free(r);
        return ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory (curl handle)");
    }
    r->done = done;
    r->ud = ud;
    ferry_rc rc = transfer_setup(r->curl, req, &r->t, &r->hdrs, err);
    if (rc == FERRY_OK) {
        /* The private pointer leads from a finished handle back to its request. */
        (void)curl_easy_setopt(r->curl, CURLOPT_PRIVATE, r);
        CURLMcode mc = curl_multi_add_handle(m->multi, r->curl);
        if (mc != CURLM_OK)
            rc = ferry_err_set(err, FERRY_ERR_INTERNAL, "adding an HTTP request: %s",
                               curl_multi_strerror(mc));
    }
    if (rc != FERRY_OK) {
        curl_easy_cleanup(r->curl);
        curl_slist_free_all(r->hdrs);
        free(r);
        return rc;
    }
    r->next = m->head;
    if (m->head != NULL)
        m->head->prev = r;
    m->head = r;
    m->running++;
    return FERRY_OK;
}

size_t ferry_http_multi_running(const ferry_http_multi *m)
{
    return m->running;
}

ferry_rc ferry_http_multi_run(ferry_http_multi *m, int timeout_ms, ferry_err *err)
{
    int still = 0;
    CURLMcode mc = curl_multi_perform(m->multi, &still);
    if (mc == CURLM_OK && still > 0 && m->running > 0)
        mc = curl_multi_poll(m->multi, NULL, 0, timeout_ms, NULL);
    if (mc == CURLM_OK)
        mc = curl_multi_perform(m->multi, &still);
    if (mc != CURLM_OK)
        return ferry_err_set(err, FERRY_ERR_INTERNAL, "HTTP transfers: %s",
                             curl_multi_strerror(mc));
    int left = 0;
    CURLMsg *msg;
    while ((msg = curl_multi_info_read(m->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        char *priv = NULL;
        (void)curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
        multi_req *r = (multi_req *)(void *)priv;
        if (r == NULL)
            continue;
        ferry_http_response resp = {0};
        ferry_err rerr = {0};
        ferry_rc rc = transfer_finish(&r->t, msg->data.result, &resp, &rerr);
        ferry_http_done_fn done = r->done;
        void *ud = r->ud;
        multi_req_release(m, r);
        done(rc, &resp, &rerr, ud);
        ferry_http_response_cleanup(&resp);
    }
    return FERRY_OK;
}

#undef SETOPT

void ferry_http_response_cleanup(ferry_http_response *resp)
{
    if (resp == NULL)
        return;
    free(resp->body);
    free(resp->headers);
    memset(resp, 0, sizeof(*resp));
}

bool ferry_http_response_header(const ferry_http_response *resp, const char *name, char *out,
                                size_t outsz)
{
    size_t nlen = strlen(name);
    const char *p = resp->headers;
    while (p != NULL && *p != '\0') {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len > nlen && strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
            const char *v = p + nlen + 1;
            const char *end = p + len;
            while (v < end && isspace((unsigned char)*v))
                v++;
            while (end > v && isspace((unsigned char)end[-1]))
                end--;
            size_t vlen = (size_t)(end - v);
            if (vlen >= outsz)
                vlen = outsz - 1;
            memcpy(out, v, vlen);
            out[vlen] = '\0';
            return true;
        }
        p = eol ? eol + 1 : NULL;
    }
    return false;
}

ferry_rc ferry_http_status_rc(long status)
{
    if (status >= 200 && status < 300)
        return FERRY_OK;
    switch (status) {
    case 0:
        return FERRY_ERR_UNAVAILABLE;
    case 401:
        return FERRY_ERR_AUTH;
    case 403:
        return FERRY_ERR_PERMISSION;
    case 404:
        return FERRY_ERR_NOT_FOUND;
    case 409:
    case 412:
        return FERRY_ERR_CONFLICT;
    case 429:
    case 503:
        return FERRY_ERR_THROTTLED;
    case 507:
        return FERRY_ERR_NO_SPACE;
    default:
        break;
    }
    return status >= 500 ? FERRY_ERR_SERVER : FERRY_ERR_INVALID;
}

int ferry_http_uri_encode(const char *text, bool keep_slash, char *out, size_t outsz)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++) {
        bool keep = isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~' ||
                    (keep_slash && *p == '/');
        size_t need = keep ? 1 : 3;
        if (o + need + 1 > outsz)
            return -1;
        if (keep) {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    if (o + 1 > outsz)
        return -1;
    out[o] = '\0';
    return (int)o;
}
