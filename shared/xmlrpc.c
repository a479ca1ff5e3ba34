/* xmlrpc.c - XML-RPC calls: methodCall text out, methodResponse tree (libxml2) back. */
#include "ferry/xmlrpc.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlstring.h>

#include "ferry/buf.h"
#include "ferry/http.h"
#include "ferry/log.h"

#define XMLRPC_DEFAULT_TIMEOUT_MS 30000
#define XMLRPC_MAX_DEPTH          32 /* nesting of arrays and structs in a response */

struct ferry_xmlrpc_value {
    ferry_xmlrpc_type type;
    char *s;                    /* STRING */
    int64_t i;                  /* INT */
    bool b;                     /* BOOL */
    double d;                   /* DOUBLE */
    size_t len, cap;            /* ARRAY, STRUCT */
    ferry_xmlrpc_value **items; /* ARRAY, STRUCT */
    char **keys;                /* STRUCT: member names, parallel to items */
};

struct ferry_xmlrpc {
    ferry_http *http;
    char *url;
    char *user;
    char *password;
    long timeout_ms;
};

/* ---------------------------------------------------------------- values */

void ferry_xmlrpc_value_free(ferry_xmlrpc_value *v)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < v->len; i++) {
        ferry_xmlrpc_value_free(v->items[i]);
        if (v->keys != NULL)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->s);
    free(v);
}

ferry_xmlrpc_type ferry_xmlrpc_type_of(const ferry_xmlrpc_value *v)
{
    return v != NULL ? v->type : FERRY_XMLRPC_NIL;
}

const char *ferry_xmlrpc_string(const ferry_xmlrpc_value *v)
{
    return v != NULL && v->type == FERRY_XMLRPC_STRING ? v->s : NULL;
}

bool ferry_xmlrpc_int(const ferry_xmlrpc_value *v, int64_t *out)
{
    if (v == NULL || v->type != FERRY_XMLRPC_INT)
        return false;
    *out = v->i;
    return true;
}

bool ferry_xmlrpc_bool(const ferry_xmlrpc_value *v, bool *out)
{
    if (v == NULL || v->type != FERRY_XMLRPC_BOOL)
        return false;
    *out = v->b;
    return true;
}

bool ferry_xmlrpc_double(const ferry_xmlrpc_value *v, double *out)
{
    if (v != NULL && v->type == FERRY_XMLRPC_DOUBLE) {
        *out = v->d;
        return true;
    }
    if (v != NULL && v->type == FERRY_XMLRPC_INT) {
        *out = (double)v->i;
        return true;
    }
    return false;
}

size_t ferry_xmlrpc_len(const ferry_xmlrpc_value *v)
{
    return v != NULL && (v->type == FERRY_XMLRPC_ARRAY || v->type == FERRY_XMLRPC_STRUCT) ? v->len
                                                                                          : 0;
}

const ferry_xmlrpc_value *ferry_xmlrpc_at(const ferry_xmlrpc_value *v, size_t i)
{
    return i < ferry_xmlrpc_len(v) ? v->items[i] : NULL;
}

const char *ferry_xmlrpc_key_at(const ferry_xmlrpc_value *v, size_t i)
{
    return v != NULL && v->type == FERRY_XMLRPC_STRUCT && i < v->len ? v->keys[i] : NULL;
}

const ferry_xmlrpc_value *ferry_xmlrpc_member(const ferry_xmlrpc_value *v, const char *name)
{
    if (v == NULL || v->type != FERRY_XMLRPC_STRUCT || name == NULL)
        return NULL;
    for (size_t i = 0; i < v->len; i++) {
        if (strcmp(v->keys[i], name) == 0)
            return v->items[i];
    }
    return NULL;
}

/* Appends child (and, for a struct, a copy of key); takes ownership of child. */
static bool value_add(ferry_xmlrpc_value *parent, const char *key, ferry_xmlrpc_value *child)
{
    if (parent->len == parent->cap) {
        size_t cap = parent->cap ? parent->cap * 2 : 8;
        ferry_xmlrpc_value **items = realloc(parent->items, cap * sizeof(*items));
        if (items == NULL)
            goto fail;
        parent->items = items;
        if (parent->type == FERRY_XMLRPC_STRUCT) {
            char **keys = realloc(parent->keys, cap * sizeof(*keys));
            if (keys == NULL)
                goto fail;
            parent->keys = keys;
        }
        parent->cap = cap;
    }
    if (parent->type == FERRY_XMLRPC_STRUCT) {
        char *k = strdup(key);
        if (k == NULL)
            goto fail;
        parent->keys[parent->len] = k;
    }
    parent->items[parent->len++] = child;
    return true;
fail:
    ferry_xmlrpc_value_free(child);
    return false;
}

/* ---------------------------------------------------------------- building a call */

/* Appends s escaped for XML character data. Refuses what XML 1.0 cannot carry. */
static bool sb_escaped(ferry_buf *b, const char *s)
{
    if (xmlCheckUTF8((const xmlChar *)s) == 0)
        return false;
    for (const char *p = s; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        switch (c) {
        case '&':
            ferry_buf_add(b, "&amp;");
            break;
        case '<':
            ferry_buf_add(b, "&lt;");
            break;
        case '>':
            ferry_buf_add(b, "&gt;");
            break;
        case '\r': /* a raw CR would be normalised away by the server's parser */
            ferry_buf_add(b, "&#13;");
            break;
        default:
            if (c < 0x20 && c != '\t' && c != '\n')
                return false;
            ferry_buf_addn(b, p, 1);
            break;
        }
    }
    return true;
}

static bool method_name_ok(const char *method)
{
    if (method == NULL || method[0] == '\0')
        return false;
    for (const char *p = method; *p != '\0'; p++) {
        if (!isalnum((unsigned char)*p) && strchr("_.:/", *p) == NULL)
            return false;
    }
    return true;
}

ferry_rc ferry_xmlrpc_request_build(const char *method, const ferry_xmlrpc_param *params,
                                    size_t nparams, char **out, size_t *out_len, ferry_err *err)
{
    ferry_rc rc = FERRY_OK;
    ferry_buf b = {0};
    *out = NULL;
    *out_len = 0;
    if (!method_name_ok(method)) {
        rc = ferry_err_set(err, FERRY_ERR_INVALID, "XML-RPC method name '%.100s' is not valid",
                           method != NULL ? method : "(null)");
        goto out;
    }
    ferry_buf_add(&b, "<?xml version=\"1.0\"?>\n<methodCall><methodName>");
    ferry_buf_add(&b, method);
    ferry_buf_add(&b, "</methodName><params>");
    for (size_t i = 0; i < nparams; i++) {
        const ferry_xmlrpc_param *p = &params[i];
        char num[32];
        ferry_buf_add(&b, "<param><value>");
        switch (p->type) {
        case FERRY_XMLRPC_STRING:
            ferry_buf_add(&b, "<string>");
            if (p->s == NULL || !sb_escaped(&b, p->s)) {
                rc = ferry_err_set(err, FERRY_ERR_INVALID,
                                   "%s: parameter %zu is not text XML can carry", method, i + 1);
                goto out;
            }
            ferry_buf_add(&b, "</string>");
            break;
        case FERRY_XMLRPC_INT: {
            /* <int> is 32 bits in the spec; larger values go as the common <i8> extension. */
            bool small = p->i >= INT32_MIN && p->i <= INT32_MAX;
            (void)snprintf(num, sizeof(num), "%" PRId64, p->i);
            ferry_buf_add(&b, small ? "<int>" : "<i8>");
            ferry_buf_add(&b, num);
            ferry_buf_add(&b, small ? "</int>" : "</i8>");
            break;
        }
        case FERRY_XMLRPC_BOOL:
            ferry_buf_add(&b, p->b ? "<boolean>1</boolean>" : "<boolean>0</boolean>");
            break;
        case FERRY_XMLRPC_NIL:
        case FERRY_XMLRPC_DOUBLE:
        case FERRY_XMLRPC_ARRAY:
        case FERRY_XMLRPC_STRUCT:
            rc = ferry_err_set(err, FERRY_ERR_INVALID, "%s: parameter %zu has an unsupported type",
                               method, i + 1);
            goto out;
        }
        ferry_buf_add(&b, "</value></param>");
    }
    ferry_buf_add(&b, "</params></methodCall>\n");
    if (b.oom) {
        rc = ferry_err_set(err, FERRY_ERR_NOMEM, "building XML-RPC call %s", method);
        goto out;
    }
    *out = b.p;
    *out_len = b.len;
    b.p = NULL;
out:
    free(b.p);
    return rc;
}

/* ---------------------------------------------------------------- parsing a response */

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void xml_init_once(void)
{
    xmlInitParser();
}

static bool is_elem(const xmlNode *n, const char *name)
{
    return n != NULL && n->type == XML_ELEMENT_NODE &&
           xmlStrcmp(n->name, (const xmlChar *)name) == 0;
}

/* The next element at or after n among siblings, skipping text and comments. */
static xmlNode *elem_from(xmlNode *n)
{
    while (n != NULL && n->type != XML_ELEMENT_NODE)
        n = n->next;
    return n;
}

static xmlNode *first_elem(const xmlNode *n)
{
    return elem_from(n->children);
}

static xmlNode *next_elem(const xmlNode *n)
{
    return elem_from(n->next);
}

/* The text of an element, as a malloc()ed string ("" when empty); NULL when out of memory. */
static char *elem_text(xmlNode *n)
{
    xmlChar *content = xmlNodeGetContent(n);
    char *s = strdup(content != NULL ? (const char *)content : "");
    xmlFree(content);
    return s;
}

/* Parses a number's text with surrounding blanks allowed; false when it is not all number. */
static bool parse_int_text(const char *text, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno != 0 || end == text)
        return false;
    while (isspace((unsigned char)*end))
        end++;
    if (*end != '\0')
        return false;
    *out = (int64_t)v;
    return true;
}

static bool parse_double_text(const char *text, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (errno != 0 || end == text)
        return false;
    while (isspace((unsigned char)*end))
        end++;
    if (*end != '\0')
        return false;
    *out = v;
    return true;
}

typedef struct parse_ctx {
    ferry_err *err;
    ferry_rc rc;
} parse_ctx;

static ferry_xmlrpc_value *parse_fail(parse_ctx *pc, ferry_rc rc, const char *what,
                                      const xmlNode *n)
{
    pc->rc = ferry_err_set(pc->err, rc, "XML-RPC response: %s (line %ld)", what,
                           n != NULL ? (long)xmlGetLineNo(n) : 0L);
    return NULL;
}

static ferry_xmlrpc_value *parse_value(parse_ctx *pc, xmlNode *value, int depth);

static ferry_xmlrpc_value *parse_array(parse_ctx *pc, ferry_xmlrpc_value *v, xmlNode *arr,
                                       int depth)
{
    xmlNode *data = first_elem(arr);
    if (!is_elem(data, "data") || next_elem(data) != NULL)
        return parse_fail(pc, FERRY_ERR_DECODE, "<array> without one <data>", arr);
    for (xmlNode *item = first_elem(data); item != NULL; item = next_elem(item)) {
        if (!is_elem(item, "value"))
            return parse_fail(pc, FERRY_ERR_DECODE, "<data> holds something else than <value>",
                              item);
        ferry_xmlrpc_value *child = parse_value(pc, item, depth + 1);
        if (child == NULL)
            return NULL;
        if (!value_add(v, NULL, child))
            return parse_fail(pc, FERRY_ERR_NOMEM, "out of memory", item);
    }
    return v;
}

static ferry_xmlrpc_value *parse_struct(parse_ctx *pc, ferry_xmlrpc_value *v, xmlNode *st,
                                        int depth)
{
    for (xmlNode *m = first_elem(st); m != NULL; m = next_elem(m)) {
        xmlNode *name = first_elem(m);
        xmlNode *val = name != NULL ? next_elem(name) : NULL;
        if (!is_elem(m, "member") || !is_elem(name, "name") || !is_elem(val, "value") ||
            next_elem(val) != NULL)
            return parse_fail(pc, FERRY_ERR_DECODE, "<struct> member is not <name><value>", m);
        char *key = elem_text(name);
        if (key == NULL)
            return parse_fail(pc, FERRY_ERR_NOMEM, "out of memory", m);
        ferry_xmlrpc_value *child = parse_value(pc, val, depth + 1);
        if (child == NULL) {
            free(key);
            return NULL;
        }
        bool added = value_add(v, key, child);
        free(key);
        if (!added)
            return parse_fail(pc, FERRY_ERR_NOMEM, "out of memory", m);
    }
    return v;
}

/* Parses a <value> element into a new value; NULL with pc->rc set on failure. */
static ferry_xmlrpc_value *parse_value(parse_ctx *pc, xmlNode *value, int depth)
{
    if (depth > XMLRPC_MAX_DEPTH)
        return parse_fail(pc, FERRY_ERR_DECODE, "values nested too deeply", value);
    ferry_xmlrpc_value *v = calloc(1, sizeof(*v));
    char *text = NULL;
    if (v == NULL)
        return parse_fail(pc, FERRY_ERR_NOMEM, "out of memory", value);

    xmlNode *t = first_elem(value);
    if (t != NULL && next_elem(t) != NULL) {
        parse_fail(pc, FERRY_ERR_DECODE, "<value> with more than one type", value);
        goto fail;
    }
    /* No type element: the spec's default is a string. */
    xmlNode *text_node = t != NULL ? t : value;
    bool scalar = t == NULL || is_elem(t, "string") || is_elem(t, "int") || is_elem(t, "i4") ||
                  is_elem(t, "i8") || is_elem(t, "boolean") || is_elem(t, "double") ||
                  is_elem(t, "dateTime.iso8601") || is_elem(t, "base64");
    if (scalar) {
        text = elem_text(text_node);
        if (text == NULL) {
            parse_fail(pc, FERRY_ERR_NOMEM, "out of memory", value);
            goto fail;
        }
    }

    if (t == NULL || is_elem(t, "string") || is_elem(t, "dateTime.iso8601") ||
        is_elem(t, "base64")) {
        v->type = FERRY_XMLRPC_STRING;
        v->s = text;
        text = NULL;
    } else if (is_elem(t, "int") || is_elem(t, "i4") || is_elem(t, "i8")) {
        v->type = FERRY_XMLRPC_INT;
        if (!parse_int_text(text, &v->i)) {
            parse_fail(pc, FERRY_ERR_DECODE, "<int> is not an integer", t);
            goto fail;
        }
    } else if (is_elem(t, "boolean")) {
        int64_t b = 0;
        v->type = FERRY_XMLRPC_BOOL;
        if (!parse_int_text(text, &b) || (b != 0 && b != 1)) {
            parse_fail(pc, FERRY_ERR_DECODE, "<boolean> is not 0 or 1", t);
            goto fail;
        }
        v->b = b == 1;
    } else if (is_elem(t, "double")) {
        v->type = FERRY_XMLRPC_DOUBLE;
        if (!parse_double_text(text, &v->d)) {
            parse_fail(pc, FERRY_ERR_DECODE, "<double> is not a number", t);
            goto fail;
        }
    } else if (is_elem(t, "nil")) { /* also <ex:nil/>: the local name is "nil" */
        v->type = FERRY_XMLRPC_NIL;
    } else if (is_elem(t, "array")) {
        v->type = FERRY_XMLRPC_ARRAY;
        if (parse_array(pc, v, t, depth) == NULL)
            goto fail;
    } else if (is_elem(t, "struct")) {
        v->type = FERRY_XMLRPC_STRUCT;
        if (parse_struct(pc, v, t, depth) == NULL)
            goto fail;
    } else {
        parse_fail(pc, FERRY_ERR_DECODE, "unknown value type", t);
        goto fail;
    }
    free(text);
    return v;
fail:
    free(text);
    ferry_xmlrpc_value_free(v);
    return NULL;
}

/* Reads <fault><value><struct>faultCode, faultString</struct></value></fault>. */
static ferry_rc parse_fault(parse_ctx *pc, xmlNode *fnode, ferry_xmlrpc_fault *fault)
{
    xmlNode *val = first_elem(fnode);
    if (!is_elem(val, "value") || next_elem(val) != NULL) {
        parse_fail(pc, FERRY_ERR_DECODE, "<fault> without one <value>", fnode);
        return pc->rc;
    }
    ferry_xmlrpc_value *v = parse_value(pc, val, 0);
    if (v == NULL)
        return pc->rc;
    int64_t code = 0;
    const char *text = ferry_xmlrpc_string(ferry_xmlrpc_member(v, "faultString"));
    if (!ferry_xmlrpc_int(ferry_xmlrpc_member(v, "faultCode"), &code) || text == NULL) {
        ferry_xmlrpc_value_free(v);
        parse_fail(pc, FERRY_ERR_DECODE, "<fault> without faultCode and faultString", fnode);
        return pc->rc;
    }
    if (fault != NULL) {
        fault->code = code;
        (void)snprintf(fault->string, sizeof(fault->string), "%s", text);
    }
    pc->rc = ferry_err_set(pc->err, FERRY_ERR_PROTOCOL, "fault %" PRId64 ": %.300s", code, text);
    ferry_xmlrpc_value_free(v);
    return pc->rc;
}

ferry_rc ferry_xmlrpc_response_parse(const char *body, size_t len, ferry_xmlrpc_value **result,
                                     ferry_xmlrpc_fault *fault, ferry_err *err)
{
    parse_ctx pc = {.err = err, .rc = FERRY_OK};
    xmlParserCtxt *ctxt = NULL;
    xmlDoc *doc = NULL;
    *result = NULL;
    if (fault != NULL)
        memset(fault, 0, sizeof(*fault));

    (void)pthread_once(&xml_once, xml_init_once);
    if (body == NULL || len == 0 || len > INT_MAX) {
        pc.rc = ferry_err_set(err, FERRY_ERR_DECODE, "XML-RPC response: empty or too large body");
        goto out;
    }
    ctxt = xmlNewParserCtxt();
    if (ctxt == NULL) {
        pc.rc = ferry_err_set(err, FERRY_ERR_NOMEM, "XML-RPC response: out of memory");
        goto out;
    }
    /* No network, no entity expansion, no messages printed by libxml2 itself. */
    doc = xmlCtxtReadMemory(ctxt, body, (int)len, NULL, NULL,
                            XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (doc == NULL) {
        const xmlError *xe = xmlCtxtGetLastError(ctxt);
        pc.rc = ferry_err_set(err, FERRY_ERR_DECODE, "XML-RPC response: malformed XML (line %d)",
                              xe != NULL ? xe->line : 0);
        goto out;
    }
    /* A DTD has no business in XML-RPC, and refusing it rules out entity tricks. */
    if (doc->intSubset != NULL) {
        pc.rc = ferry_err_set(err, FERRY_ERR_DECODE, "XML-RPC response: has a DTD");
        goto out;
    }
    xmlNode *root = xmlDocGetRootElement(doc);
    if (!is_elem(root, "methodResponse")) {
        parse_fail(&pc, FERRY_ERR_DECODE, "root element is not <methodResponse>", root);
        goto out;
    }
    xmlNode *top = first_elem(root);
    if (top == NULL || next_elem(top) != NULL) {
        parse_fail(&pc, FERRY_ERR_DECODE, "<methodResponse> needs one <params> or <fault>", root);
        goto out;
    }
    if (is_elem(top, "fault")) {
        (void)parse_fault(&pc, top, fault);
        goto out;
    }
    xmlNode *param = first_elem(top);
    xmlNode *val = param != NULL ? first_elem(param) : NULL;
    if (!is_elem(top, "params") || !is_elem(param, "param") || next_elem(param) != NULL ||
        !is_elem(val, "value") || next_elem(val) != NULL) {
        parse_fail(&pc, FERRY_ERR_DECODE, "<params> needs one <param><value>", top);
        goto out;
    }
    *result = parse_value(&pc, val, 0);
out:
    xmlFreeDoc(doc);
    xmlFreeParserCtxt(ctxt);
    return pc.rc;
}

/* ---------------------------------------------------------------- the client */

static void free_secret(char *s)
{
    if (s == NULL)
        return;
    explicit_bzero(s, strlen(s));
    free(s);
}

ferry_xmlrpc *ferry_xmlrpc_new(const ferry_xmlrpc_opts *opts)
{
    if (opts == NULL || opts->url == NULL)
        return NULL;
    ferry_xmlrpc *x = calloc(1, sizeof(*x));
    if (x == NULL)
        return NULL;
    x->http = ferry_http_new();
    x->url = strdup(opts->url);
    x->user = opts->user != NULL ? strdup(opts->user) : NULL;
    x->password = strdup(opts->password != NULL ? opts->password : "");
    x->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : XMLRPC_DEFAULT_TIMEOUT_MS;
    if (x->http == NULL || x->url == NULL || x->password == NULL ||
        (opts->user != NULL && x->user == NULL)) {
        ferry_xmlrpc_free(x);
        return NULL;
    }
    return x;
}

void ferry_xmlrpc_free(ferry_xmlrpc *x)
{
    if (x == NULL)
        return;
    ferry_http_free(x->http);
    free(x->url);
    free(x->user);
    free_secret(x->password);
    free(x);
}

ferry_rc ferry_xmlrpc_call(ferry_xmlrpc *x, const char *method, const ferry_xmlrpc_param *params,
                           size_t nparams, ferry_xmlrpc_value **result, ferry_xmlrpc_fault *fault,
                           ferry_err *err)
{
    ferry_rc rc = FERRY_OK;
    char *body = NULL;
    size_t body_len = 0;
    ferry_http_response resp = {0};
    char url[512];
    *result = NULL;
    if (fault != NULL)
        memset(fault, 0, sizeof(*fault));

    rc = ferry_xmlrpc_request_build(method, params, nparams, &body, &body_len, err);
    if (rc != FERRY_OK)
        goto out;
    static const char *const headers[] = {"Content-Type: text/xml", "Accept: text/xml", NULL};
    ferry_http_request req = {
        .method = "POST",
        .url = x->url,
        .headers = headers,
        .body = body,
        .body_len = body_len,
        .auth = x->user != NULL ? FERRY_HTTP_AUTH_BASIC : FERRY_HTTP_AUTH_NONE,
        .user = x->user,
        .password = x->password,
        .timeout_ms = x->timeout_ms,
    };
    rc = ferry_http_perform(x->http, &req, &resp, err);
    if (rc != FERRY_OK) {
        (void)ferry_err_prefix(err, "XML-RPC %s", method);
        goto out;
    }
    rc = ferry_http_status_rc(resp.status);
    if (rc != FERRY_OK) {
        (void)ferry_redact(x->url, url, sizeof(url));
        rc = ferry_err_set(err, rc, "XML-RPC %s: POST %s: HTTP %ld%s", method, url, resp.status,
                           rc == FERRY_ERR_AUTH ? " (wrong user or password)" : "");
        goto out;
    }
    rc = ferry_xmlrpc_response_parse(resp.body, resp.body_len, result, fault, err);
    if (rc != FERRY_OK)
        (void)ferry_err_prefix(err, "XML-RPC %s", method);
out:
    ferry_http_response_cleanup(&resp);
    free(body);
    return rc;
}
