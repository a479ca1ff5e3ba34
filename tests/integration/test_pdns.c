/*
 * Integration test against the local stack's PowerDNS (API and DNS): a zone made through the
 * HTTP API, its records changed there and read back over DNS with dnsq, then deleted.
 * Needs FERRY_PDNS_API_URL, FERRY_PDNS_API_KEY and FERRY_PDNS_DNS_ADDR (deploy/local/stack env).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ferry/dnsq.h"
#include "ferry/http.h"
#include "ferry_test.h"

#define DNS_TIMEOUT_MS 2000

static struct {
    ferry_http *http;
    const char *key;
    const char *dns;
    char base[512]; /* .../api/v1/servers/localhost */
    char zone[128]; /* "ferry-pdns-<pid>-0.test." */
    char zone_id[160];
    char www[160]; /* "www.<zone>" */
    bool zone_made;
} T;

/*
 * One API call: body (may be NULL) is sent as JSON; the decoded JSON reply goes to *reply when
 * asked for. Returns the result for the HTTP status, with "METHOD path: HTTP n: <pdns error>"
 * in err. The key is sent as a header and is never part of a message.
 */
static ferry_rc pdns_call(const char *key, const char *method, const char *path, json_t *body,
                          long *status, json_t **reply, ferry_err *err)
{
    ferry_rc rc = FERRY_OK;
    char url[768], auth[256];
    char *text = NULL;
    ferry_http_response resp = {0};
    json_t *doc = NULL;
    if (reply != NULL)
        *reply = NULL;
    (void)snprintf(url, sizeof(url), "%s%s", T.base, path);
    (void)snprintf(auth, sizeof(auth), "X-API-Key: %s", key);
    const char *headers[] = {auth, "Content-Type: application/json", "Accept: application/json",
                             NULL};
    if (body != NULL) {
        text = json_dumps(body, JSON_COMPACT);
        CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    }
    ferry_http_request req = {.method = method,
                              .url = url,
                              .headers = headers,
                              .body = text,
                              .body_len = text != NULL ? strlen(text) : 0,
                              .timeout_ms = 10000};
    rc = ferry_http_perform(T.http, &req, &resp, err);
    *status = resp.status;
    if (rc != FERRY_OK)
        goto out;
    if (resp.body_len > 0)
        doc = json_loadb(resp.body, resp.body_len, 0, NULL);
    rc = ferry_http_status_rc(resp.status);
    if (rc != FERRY_OK) {
        const char *why = json_string_value(json_object_get(doc, "error"));
        ferry_err_set(err, rc, "%s %s: HTTP %ld: %s", method, path, resp.status,
                      why != NULL ? why : "(no error text)");
        goto out;
    }
    if (reply != NULL) {
        *reply = doc;
        doc = NULL;
    }
out:
    json_decref(doc);
    free(text);
    ferry_http_response_cleanup(&resp);
    return rc;
}

/* PATCHes the zone with body (its reference is taken): 204 expected. */
static void patch_zone(json_t *body)
{
    char path[256];
    long status = 0;
    ferry_err err;
    ferry_err_clear(&err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(body);
    (void)snprintf(path, sizeof(path), "/zones/%s", T.zone_id);
    ferry_rc rc = pdns_call(T.key, "PATCH", path, body, &status, NULL, &err);
    json_decref(body);
    if (rc != FERRY_OK)
        fprintf(stderr, "PATCH: %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, FERRY_OK);
    CU_ASSERT_EQUAL(status, 204);
}

/* REPLACEs one record set of the zone (records' reference is taken). */
static void replace_rrset(const char *name, const char *type, int ttl, json_t *records)
{
    patch_zone(json_pack("{s:[{s:s, s:s, s:i, s:s, s:o}]}", "rrsets", "name", name, "type", type,
                         "ttl", ttl, "changetype", "REPLACE", "records", records));
}

/* DELETEs one record set of the zone. */
static void delete_rrset(const char *name, const char *type)
{
    patch_zone(json_pack("{s:[{s:s, s:s, s:s}]}", "rrsets", "name", name, "type", type,
                         "changetype", "DELETE"));
}

static json_t *one_record(const char *content)
{
    return json_pack("[{s:s, s:b}]", "content", content, "disabled", 0);
}

/* Asks the name server; fails the test when no response arrives. */
static void ask(const char *name, ferry_dnsq_type type, bool tcp, ferry_dnsq_answer *ans)
{
    ferry_dnsq_request req = {
        .server = T.dns, .name = name, .type = type, .timeout_ms = DNS_TIMEOUT_MS, .tcp = tcp};
    ferry_err err;
    ferry_err_clear(&err);
    ferry_rc rc = ferry_dnsq_query(&req, ans, &err);
    if (rc != FERRY_OK)
        fprintf(stderr, "dnsq: %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, FERRY_OK);
}

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int suite_setup(void)
{
    const ferry_cfg *cfg = ferry_test_cfg();
    if (cfg == NULL)
        return 1;
    T.key = ferry_cfg_str(cfg, "pdns.api_key");
    T.dns = ferry_cfg_str(cfg, "pdns.dns_addr");
    const char *url = ferry_cfg_str(cfg, "pdns.api_url");
    size_t len = strlen(url);
    while (len > 0 && url[len - 1] == '/')
        len--;
    /* The setting may name the server root or the API's server URL. */
    const char *suffix = "/api/v1/servers/localhost";
    if (len >= 18 && strncmp(url + len - 18, "/servers/localhost", 18) == 0)
        suffix = "";
    else if (len >= 7 && strncmp(url + len - 7, "/api/v1", 7) == 0)
        suffix = "/servers/localhost";
    (void)snprintf(T.base, sizeof(T.base), "%.*s%s", (int)len, url, suffix);
    (void)snprintf(T.zone, sizeof(T.zone), "%s.test.", ferry_test_unique("ferry-pdns"));
    (void)snprintf(T.www, sizeof(T.www), "www.%s", T.zone);
    T.http = ferry_http_new();
    return T.http == NULL;
}

static int suite_teardown(void)
{
    if (T.zone_made) { /* a test failed half way: do not leave the zone behind */
        char path[256];
        long status = 0;
        (void)snprintf(path, sizeof(path), "/zones/%s", T.zone_id);
        (void)pdns_call(T.key, "DELETE", path, NULL, &status, NULL, NULL);
    }
    ferry_http_free(T.http);
    return 0;
}

static void creates_a_zone_with_soa_and_ns(void)
{
    char ns[160], soa[400];
    long status = 0;
    ferry_err err;
    ferry_err_clear(&err);
    (void)snprintf(ns, sizeof(ns), "ns1.%s", T.zone);
    (void)snprintf(soa, sizeof(soa), "%s hostmaster.%s 1 10800 3600 604800 60", ns, T.zone);
    json_t *body = json_pack("{s:s, s:s, s:[s], s:[{s:s, s:s, s:i, s:[{s:s, s:b}]}]}", "name",
                             T.zone, "kind", "Native", "nameservers", ns, "rrsets", "name", T.zone,
                             "type", "SOA", "ttl", 3600, "records", "content", soa, "disabled", 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(body);
    json_t *reply = NULL;
    ferry_rc rc = pdns_call(T.key, "POST", "/zones", body, &status, &reply, &err);
    json_decref(body);
    if (rc != FERRY_OK)
        fprintf(stderr, "POST /zones: %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, FERRY_OK);
    CU_ASSERT_EQUAL(status, 201);
    const char *id = json_string_value(json_object_get(reply, "id"));
    CU_ASSERT_PTR_NOT_NULL_FATAL(id);
    (void)snprintf(T.zone_id, sizeof(T.zone_id), "%s", id);
    T.zone_made = true;
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(reply, "name")), T.zone);
    json_decref(reply);

    /* The name server answers for the zone at once, with our SOA and NS. */
    ferry_dnsq_answer ans;
    ask(T.zone, FERRY_DNSQ_SOA, false, &ans);
    CU_ASSERT_EQUAL(ans.rcode, FERRY_DNSQ_NOERROR);
    CU_ASSERT_TRUE(ans.authoritative);
    CU_ASSERT_EQUAL_FATAL(ans.count, 1);
    /* The serial is the API's to bump: compare the names only. */
    char want[400];
    (void)snprintf(want, sizeof(want), "%s hostmaster.%s ", ns, T.zone);
    CU_ASSERT_EQUAL(strncmp(ans.records[0].text, want, strlen(want)), 0);
    CU_ASSERT_EQUAL(ans.records[0].ttl, 3600);
    ferry_dnsq_answer_cleanup(&ans);
    ask(T.zone, FERRY_DNSQ_NS, false, &ans);
    CU_ASSERT_TRUE(ferry_dnsq_answer_has(&ans, FERRY_DNSQ_NS, ns));
    ferry_dnsq_answer_cleanup(&ans);
}

static void a_record_is_served(void)
{
    CU_ASSERT_TRUE_FATAL(T.zone_made);
    replace_rrset(T.www, "A", 60, one_record("192.0.2.10"));
    ferry_dnsq_answer ans;
    for (int tcp = 0; tcp < 2; tcp++) {
        ask(T.www, FERRY_DNSQ_A, tcp, &ans);
        CU_ASSERT_EQUAL(ans.rcode, FERRY_DNSQ_NOERROR);
        CU_ASSERT_TRUE(ans.authoritative);
        CU_ASSERT_EQUAL(ans.via_tcp, tcp == 1);
        CU_ASSERT_EQUAL_FATAL(ans.count, 1);
        CU_ASSERT_STRING_EQUAL(ans.records[0].text, "192.0.2.10");
        CU_ASSERT_EQUAL(ans.records[0].ttl, 60);
        ferry_dnsq_answer_cleanup(&ans);
    }
}

static void replaced_record_is_served_at_once(void)
{
    CU_ASSERT_TRUE_FATAL(T.zone_made);
    /* Ask once more so any cache in the server holds the old answer... */
    ferry_dnsq_answer ans;
    ask(T.www, FERRY_DNSQ_A, false, &ans);
    CU_ASSERT_TRUE(ferry_dnsq_answer_has(&ans, FERRY_DNSQ_A, "192.0.2.10"));
    ferry_dnsq_answer_cleanup(&ans);

    /* ...then change it: the very next query must see the new one. */
    replace_rrset(T.www, "A", 30, one_record("192.0.2.20"));
    int64_t t0 = mono_us();
    ask(T.www, FERRY_DNSQ_A, false, &ans);
    int64_t took = mono_us() - t0;
    CU_ASSERT_EQUAL(ans.rcode, FERRY_DNSQ_NOERROR);
    CU_ASSERT_EQUAL_FATAL(ans.count, 1);
    CU_ASSERT_STRING_EQUAL(ans.records[0].text, "192.0.2.20");
    CU_ASSERT_EQUAL(ans.records[0].ttl, 30);
    CU_ASSERT_FALSE(ferry_dnsq_answer_has(&ans, FERRY_DNSQ_A, "192.0.2.10"));
    ferry_dnsq_answer_cleanup(&ans);
    fprintf(stderr, "pdns: new A answer on the first query after PATCH (%lld us)\n",
            (long long)took);

    /* A CNAME pointing at www answers an A query through the chain. */
    char target[160];
    (void)snprintf(target, sizeof(target), "app.%s", T.zone);
    replace_rrset(target, "CNAME", 45, one_record(T.www));
    ask(target, FERRY_DNSQ_A, false, &ans);
    CU_ASSERT_EQUAL_FATAL(ans.count, 1);
    CU_ASSERT_STRING_EQUAL(ans.records[0].text, "192.0.2.20");
    ferry_dnsq_answer_cleanup(&ans);
    ask(target, FERRY_DNSQ_CNAME, false, &ans);
    CU_ASSERT_TRUE(ferry_dnsq_answer_has(&ans, FERRY_DNSQ_CNAME, T.www));
    CU_ASSERT_EQUAL_FATAL(ans.count, 1);
    CU_ASSERT_EQUAL(ans.records[0].ttl, 45);
    ferry_dnsq_answer_cleanup(&ans);
}

static void large_answer_comes_over_tcp(void)
{
    CU_ASSERT_TRUE_FATAL(T.zone_made);
    char name[160];
    (void)snprintf(name, sizeof(name), "big.%s", T.zone);
    json_t *records = json_array();
    CU_ASSERT_PTR_NOT_NULL_FATAL(records);
    for (int i = 0; i < 30; i++) {
        char content[80];
        (void)snprintf(content, sizeof(content), "\"ferry record %02d padding padding\"", i);
        CU_ASSERT_EQUAL(json_array_append_new(
                            records, json_pack("{s:s, s:b}", "content", content, "disabled", 0)),
                        0);
    }
    replace_rrset(name, "TXT", 120, records);
    /* 30 records of ~35 bytes do not fit in 512 bytes: UDP comes back truncated. */
    ferry_dnsq_answer ans;
    ask(name, FERRY_DNSQ_TXT, false, &ans);
    CU_ASSERT_TRUE(ans.via_tcp);
    CU_ASSERT_EQUAL(ans.count, 30);
    CU_ASSERT_TRUE(ferry_dnsq_answer_has(&ans, FERRY_DNSQ_TXT, "ferry record 29 padding padding"));
    ferry_dnsq_answer_cleanup(&ans);
}

static void names_appear_and_vanish_at_once(void)
{
    CU_ASSERT_TRUE_FATAL(T.zone_made);
    char name[160];
    (void)snprintf(name, sizeof(name), "nope.%s", T.zone);
    ferry_dnsq_answer ans;
    ask(name, FERRY_DNSQ_A, false, &ans);
    CU_ASSERT_EQUAL(ans.rcode, FERRY_DNSQ_NXDOMAIN);
    CU_ASSERT_TRUE(ans.authoritative);
    CU_ASSERT_EQUAL(ans.count, 0);
    CU_ASSERT_EQUAL(ferry_dnsq_rcode_rc(ans.rcode), FERRY_ERR_NOT_FOUND);
    ferry_dnsq_answer_cleanup(&ans);

    /* A name that was just NXDOMAIN (and may sit in the negative caches) is served as soon as
     * the API adds it, and NXDOMAIN again as soon as the API deletes it: a rename. */
    replace_rrset(name, "A", 60, one_record("192.0.2.40"));
    ask(name, FERRY_DNSQ_A, false, &ans);
    CU_ASSERT_EQUAL(ans.rcode, FERRY_DNSQ_NOERROR);
    CU_ASSERT_TRUE(ferry_dnsq_answer_has(&ans, FERRY_DNSQ_A, "192.0.2.40"));
    ferry_dnsq_answer_cleanup(&ans);
    delete_rrset(name, "A");
    ask(name, FERRY_DNSQ_A, false, &ans);
    CU_ASSERT_EQUAL(ans.rcode, FERRY_DNSQ_NXDOMAIN);
    CU_ASSERT_EQUAL(ans.count, 0);
    ferry_dnsq_answer_cleanup(&ans);

    /* The name exists, the type does not: NOERROR without records. */
    ask(T.www, FERRY_DNSQ_AAAA, false, &ans);
    CU_ASSERT_EQUAL(ans.rcode, FERRY_DNSQ_NOERROR);
    CU_ASSERT_EQUAL(ans.count, 0);
    ferry_dnsq_answer_cleanup(&ans);
}

static void wrong_key_is_auth_error(void)
{
    static const char wrong[] = "ferry-wrong-api-key-0123";
    long status = 0;
    ferry_err err;
    ferry_err_clear(&err);
    json_t *reply = NULL;
    ferry_rc rc = pdns_call(wrong, "GET", "/zones", NULL, &status, &reply, &err);
    CU_ASSERT_EQUAL(rc, FERRY_ERR_AUTH);
    CU_ASSERT_EQUAL(status, 401);
    CU_ASSERT_PTR_NULL(reply);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "401"));
    CU_ASSERT_PTR_NULL(strstr(err.msg, wrong));
    CU_ASSERT_PTR_NULL(strstr(err.msg, T.key));
    fprintf(stderr, "pdns: wrong key -> %s\n", err.msg);
}

static void deleted_zone_is_no_longer_served(void)
{
    CU_ASSERT_TRUE_FATAL(T.zone_made);
    char path[256];
    long status = 0;
    ferry_err err;
    ferry_err_clear(&err);
    (void)snprintf(path, sizeof(path), "/zones/%s", T.zone_id);
    CU_ASSERT_EQUAL_FATAL(pdns_call(T.key, "DELETE", path, NULL, &status, NULL, &err), FERRY_OK);
    CU_ASSERT_EQUAL(status, 204);
    T.zone_made = false;
    CU_ASSERT_EQUAL(pdns_call(T.key, "GET", path, NULL, &status, NULL, &err), FERRY_ERR_NOT_FOUND);
    CU_ASSERT_EQUAL(status, 404);

    ferry_dnsq_answer ans;
    ask(T.www, FERRY_DNSQ_A, false, &ans);
    CU_ASSERT_TRUE(ans.rcode == FERRY_DNSQ_REFUSED || ans.rcode == FERRY_DNSQ_NXDOMAIN);
    CU_ASSERT_EQUAL(ans.count, 0);
    fprintf(stderr, "pdns: after DELETE the name gets %s\n", ferry_dnsq_rcode_str(ans.rcode));
    ferry_dnsq_answer_cleanup(&ans);
}

int main(void)
{
    static const ferry_test_case cases[] = {
        {"creates a zone with SOA and NS", creates_a_zone_with_soa_and_ns},
        {"A record is served", a_record_is_served},
        {"replaced record is served at once", replaced_record_is_served_at_once},
        {"large answer comes over TCP", large_answer_comes_over_tcp},
        {"names appear and vanish at once", names_appear_and_vanish_at_once},
        {"wrong key is an auth error", wrong_key_is_auth_error},
        {"deleted zone is no longer served", deleted_zone_is_no_longer_served},
        {NULL, NULL},
    };
    static const ferry_test_suite suites[] = {{"pdns", suite_setup, suite_teardown, cases},
                                              {NULL, NULL, NULL, NULL}};
    return ferry_test_main(suites);
}
