/*
 * Integration test of ferry-dns against the local stack's PowerDNS: a zone of its own
 * (dnsworker-<pid>-0.test.) made through the API, holding two environments of an app (production
 * and test, source and target names, a CNAME custom domain); the TTLs lowered and restored, the
 * cutover renames applied, checked over DNS, applied again, rolled back; a check against a stand-in
 * name server that still answers the old way; a wrong key and a missing zone. Also runs the
 * ferry-dns binary (--check-config, the command line).
 * Needs FERRY_PDNS_API_URL, FERRY_PDNS_API_KEY and FERRY_PDNS_DNS_ADDR (deploy/local/stack env).
 */
#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dns.h"
#include "ferry/clock.h"
#include "ferry/dnsq.h"
#include "ferry/http.h"
#include "ferry/wire.h"
#include "ferry_test.h"

#ifndef FERRY_DNS_BIN
#error "FERRY_DNS_BIN comes from tests/integration/dns_worker.cmake"
#endif

#define DNS_TIMEOUT_MS 2000
#define N_CUTOVER      4

enum { SHOP, SHOP_V3, SHOP_V4, SHOP_TEST, SHOP_V3_TEST, SHOP_V4_TEST, WWW_SHOP, N_NAMES };
static const char *const labels[N_NAMES] = {"shop",         "shop-v3",      "shop-v4", "shop-test",
                                            "shop-v3-test", "shop-v4-test", "www-shop"};

static struct {
    ferry_http *http;
    const char *key;
    const char *dns;
    const char *api_url;
    char base[512]; /* .../api/v1/servers/localhost */
    char zone[128]; /* "dnsworker-<pid>-0.test." */
    char zone2[128];
    bool zone_made, zone2_made;
    char names[N_NAMES][200];
    dns_driver *drv;
    json_t *before; /* the app's names before cutover (snapshot()) */
} T;

/* An app whose environments live in zones of their own: production (the worker's key), and
 * acceptance and test (each a key of its own, from FERRY_SECRET_<NAME>). In each zone the
 * cutover chain shop-v4 -> shop -> shop-v3. */
#define MZ 3
enum { MZ_SHOP, MZ_SHOP_V3, MZ_SHOP_V4, MZ_N };
static const char *const mz_labels[MZ_N] = {"shop", "shop-v3", "shop-v4"};

static struct {
    char zone[MZ][128];
    bool made[MZ];
    char names[MZ][MZ_N][200];
    char secret[MZ][64]; /* "" for production: the worker's own key */
    char nozone[128];    /* a zone the server lacks at first */
    bool nozone_made;
    char nozone_shop[200];
    json_t *before[MZ]; /* each zone's names before cutover */
} M;

/* ---- the API, directly ---------------------------------------------------------------------- */

static ferry_rc pdns_call(const char *method, const char *path, json_t *body, json_t **reply,
                          ferry_err *err)
{
    ferry_rc rc = FERRY_OK;
    char url[768], auth[256];
    char *text = NULL;
    ferry_http_response resp = {0};
    json_t *doc = NULL;
    if (reply != NULL)
        *reply = NULL;
    (void)snprintf(url, sizeof(url), "%s%s", T.base, path);
    (void)snprintf(auth, sizeof(auth), "X-API-Key: %s", T.key);
    const char *headers[] = {auth, "Content-Type: application/json", NULL};
    if (body != NULL)
        text = json_dumps(body, JSON_COMPACT);
    ferry_http_request req = {.method = method,
                              .url = url,
                              .headers = headers,
                              .body = text,
                              .body_len = text != NULL ? strlen(text) : 0,
                              .timeout_ms = 10000};
    rc = ferry_http_perform(T.http, &req, &resp, err);
    if (rc != FERRY_OK)
        goto out;
    if (resp.body_len > 0)
        doc = json_loadb(resp.body, resp.body_len, 0, NULL);
    rc = ferry_http_status_rc(resp.status);
    if (rc != FERRY_OK) {
        ferry_err_set(err, rc, "%s %s: HTTP %ld: %s", method, path, resp.status,
                      resp.body != NULL ? resp.body : "");
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

static void zone_create(const char *zone, const char *soa_edit_api)
{
    char ns[200];
    ferry_err err;
    ferry_err_clear(&err);
    (void)snprintf(ns, sizeof(ns), "ns1.%s", zone);
    json_t *body = json_pack("{s:s, s:s, s:s, s:[s]}", "name", zone, "kind", "Native",
                             "soa_edit_api", soa_edit_api, "nameservers", ns);
    ferry_rc rc = pdns_call("POST", "/zones", body, NULL, &err);
    json_decref(body);
    if (rc != FERRY_OK)
        fprintf(stderr, "POST /zones: %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, FERRY_OK);
}

static void zone_delete(const char *zone)
{
    char path[256];
    (void)snprintf(path, sizeof(path), "/zones/%s", zone);
    (void)pdns_call("DELETE", path, NULL, NULL, NULL);
}

/* REPLACEs name/type with the records (NULL-terminated) and comments (reference taken). */
static void put_rrset(const char *zone, const char *name, const char *type, int ttl,
                      const char *const *contents, json_t *comments)
{
    char path[256];
    ferry_err err;
    ferry_err_clear(&err);
    json_t *records = json_array();
    for (size_t i = 0; contents[i] != NULL; i++)
        json_array_append_new(records,
                              json_pack("{s:s, s:b}", "content", contents[i], "disabled", 0));
    json_t *body = json_pack("{s:[{s:s, s:s, s:i, s:s, s:o, s:o}]}", "rrsets", "name", name, "type",
                             type, "ttl", ttl, "changetype", "REPLACE", "records", records,
                             "comments", comments != NULL ? comments : json_array());
    CU_ASSERT_PTR_NOT_NULL_FATAL(body);
    (void)snprintf(path, sizeof(path), "/zones/%s", zone);
    ferry_rc rc = pdns_call("PATCH", path, body, NULL, &err);
    json_decref(body);
    if (rc != FERRY_OK)
        fprintf(stderr, "PATCH: %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, FERRY_OK);
}

static json_t *zone_get(const char *zone)
{
    char path[256];
    json_t *doc = NULL;
    ferry_err err;
    ferry_err_clear(&err);
    (void)snprintf(path, sizeof(path), "/zones/%s", zone);
    CU_ASSERT_EQUAL(pdns_call("GET", path, NULL, &doc, &err), FERRY_OK);
    return doc;
}

/* The record set name/type of a zone document, or NULL. */
static json_t *rrset_of(json_t *zdoc, const char *name, const char *type)
{
    size_t i;
    json_t *rr;
    json_array_foreach(json_object_get(zdoc, "rrsets"), i, rr)
    {
        if (strcasecmp(json_string_value(json_object_get(rr, "name")), name) == 0 &&
            strcmp(json_string_value(json_object_get(rr, "type")), type) == 0)
            return rr;
    }
    return NULL;
}

/* How many comments of the record set have this account and content. */
static int comments_with(json_t *rr, const char *account, const char *content)
{
    int found = 0;
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(rr, "comments"), i, c)
    {
        const char *a = json_string_value(json_object_get(c, "account"));
        const char *t = json_string_value(json_object_get(c, "content"));
        if (a != NULL && t != NULL && strcmp(a, account) == 0 &&
            (content == NULL || strcmp(t, content) == 0))
            found++;
    }
    return found;
}

/* The app's names as the API has them: name -> type -> {ttl, records, comments}. */
static json_t *snapshot(void)
{
    json_t *zdoc = zone_get(T.zone);
    json_t *snap = json_object();
    for (int k = 0; k < N_NAMES; k++)
        json_object_set_new(snap, T.names[k], json_object());
    size_t i;
    json_t *rr;
    json_array_foreach(json_object_get(zdoc, "rrsets"), i, rr)
    {
        json_t *at = json_object_get(snap, json_string_value(json_object_get(rr, "name")));
        if (at != NULL)
            json_object_set_new(at, json_string_value(json_object_get(rr, "type")),
                                json_pack("{s:O, s:O, s:O}", "ttl", json_object_get(rr, "ttl"),
                                          "records", json_object_get(rr, "records"), "comments",
                                          json_object_get(rr, "comments")));
    }
    json_decref(zdoc);
    return snap;
}

static long zone_serial(const char *zone)
{
    json_t *zdoc = zone_get(zone);
    long serial = (long)json_integer_value(json_object_get(zdoc, "serial"));
    json_decref(zdoc);
    return serial;
}

/* ---- DNS ------------------------------------------------------------------------------------ */

static void ask(const char *server, const char *name, ferry_dnsq_type type, ferry_dnsq_answer *ans)
{
    ferry_dnsq_request req = {
        .server = server, .name = name, .type = type, .timeout_ms = DNS_TIMEOUT_MS};
    ferry_err err;
    ferry_err_clear(&err);
    ferry_rc rc = ferry_dnsq_query(&req, ans, &err);
    if (rc != FERRY_OK)
        fprintf(stderr, "dnsq: %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, FERRY_OK);
}

/* The server answers name/type with exactly this one record (ttl >= 0: and this TTL). */
static void expect_one(const char *name, ferry_dnsq_type type, const char *text, long ttl)
{
    ferry_dnsq_answer ans;
    ask(T.dns, name, type, &ans);
    CU_ASSERT_EQUAL(ans.rcode, FERRY_DNSQ_NOERROR);
    CU_ASSERT_EQUAL(ans.count, 1);
    CU_ASSERT_TRUE(ferry_dnsq_answer_has(&ans, type, text));
    if (ttl >= 0 && ans.count == 1)
        CU_ASSERT_EQUAL(ans.records[0].ttl, (uint32_t)ttl);
    if (ans.count != 1 || !ferry_dnsq_answer_has(&ans, type, text))
        fprintf(stderr, "%s %s: expected %s, got %zu records (%s)\n", name,
                ferry_dnsq_type_str(type), text, ans.count,
                ans.count > 0 ? ans.records[0].text : "-");
    ferry_dnsq_answer_cleanup(&ans);
}

static void expect_rcode(const char *name, ferry_dnsq_type type, ferry_dnsq_rcode rcode)
{
    ferry_dnsq_answer ans;
    ask(T.dns, name, type, &ans);
    CU_ASSERT_EQUAL(ans.rcode, rcode);
    CU_ASSERT_EQUAL(ans.count, 0);
    ferry_dnsq_answer_cleanup(&ans);
}

/* ---- a stand-in name server that still answers the way things were before cutover ---------- */

typedef struct fake_rr {
    int label; /* index into T.names */
    int type;
    const char *data;
} fake_rr;

static const fake_rr fake_table[] = {
    {SHOP, FERRY_DNSQ_A, "192.0.2.10"},
    {SHOP, FERRY_DNSQ_AAAA, "2001:db8::10"},
    {SHOP_V4, FERRY_DNSQ_A, "192.0.2.20"},
    {SHOP_TEST, FERRY_DNSQ_A, "192.0.2.11"},
    {SHOP_V4_TEST, FERRY_DNSQ_CNAME, "custom.apps-v4.example."},
};

static struct {
    int fd;
    pthread_t thread;
    atomic_bool stop;
    char addr[64];
} F;

static size_t put_name(unsigned char *out, const char *name)
{
    size_t n = 0;
    const char *p = name;
    while (*p != '\0') {
        const char *dot = strchr(p, '.');
        size_t len = dot != NULL ? (size_t)(dot - p) : strlen(p);
        out[n++] = (unsigned char)len;
        memcpy(out + n, p, len);
        n += len;
        p += len + (dot != NULL ? 1 : 0);
    }
    out[n++] = 0;
    return n;
}

static size_t fake_answer(const unsigned char *q, size_t qlen, unsigned char *out)
{
    char qname[256] = "";
    size_t pos = 12, nlen = 0;
    while (pos < qlen && q[pos] != 0 && nlen + q[pos] + 2 < sizeof(qname)) {
        memcpy(qname + nlen, q + pos + 1, q[pos]);
        nlen += q[pos];
        qname[nlen++] = '.';
        pos += (size_t)q[pos] + 1;
    }
    qname[nlen] = '\0';
    pos += 1;
    if (pos + 4 > qlen)
        return 0;
    int qtype = (q[pos] << 8) | q[pos + 1];
    pos += 4;
    memcpy(out, q, pos);
    bool known = false;
    size_t n = pos, count = 0;
    for (size_t i = 0; i < sizeof(fake_table) / sizeof(fake_table[0]); i++) {
        if (strcasecmp(T.names[fake_table[i].label], qname) != 0)
            continue;
        known = true;
        if (fake_table[i].type != qtype)
            continue;
        unsigned char rdata[256];
        size_t rdlen;
        if (qtype == FERRY_DNSQ_A)
            rdlen = inet_pton(AF_INET, fake_table[i].data, rdata) == 1 ? 4 : 0;
        else if (qtype == FERRY_DNSQ_AAAA)
            rdlen = inet_pton(AF_INET6, fake_table[i].data, rdata) == 1 ? 16 : 0;
        else
            rdlen = put_name(rdata, fake_table[i].data);
        const unsigned char head[] = {0xc0, 0x0c, 0, (unsigned char)qtype, 0, 1, 0, 0,
                                      0,    60,   0, (unsigned char)rdlen};
        memcpy(out + n, head, sizeof(head));
        n += sizeof(head);
        memcpy(out + n, rdata, rdlen);
        n += rdlen;
        count++;
    }
    out[2] = (unsigned char)(0x84 | (q[2] & 0x01)); /* QR, AA, RD as asked */
    out[3] = known ? 0 : 3;                         /* NOERROR or NXDOMAIN */
    out[6] = 0;
    out[7] = (unsigned char)count;
    memset(out + 8, 0, 4);
    return n;
}

static void *fake_main(void *ud)
{
    (void)ud;
    while (!atomic_load(&F.stop)) {
        struct pollfd pfd = {.fd = F.fd, .events = POLLIN};
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        unsigned char q[512], a[1024];
        struct sockaddr_storage from;
        socklen_t flen = sizeof(from);
        ssize_t len = recvfrom(F.fd, q, sizeof(q), 0, (struct sockaddr *)&from, &flen);
        if (len < 12)
            continue;
        size_t n = fake_answer(q, (size_t)len, a);
        if (n > 0)
            (void)sendto(F.fd, a, n, 0, (struct sockaddr *)&from, flen);
    }
    return NULL;
}

static void fake_start(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    F.fd = socket(AF_INET, SOCK_DGRAM, 0);
    CU_ASSERT_FATAL(F.fd >= 0);
    CU_ASSERT_EQUAL_FATAL(bind(F.fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    CU_ASSERT_EQUAL_FATAL(getsockname(F.fd, (struct sockaddr *)&sa, &len), 0);
    (void)snprintf(F.addr, sizeof(F.addr), "127.0.0.1:%u", (unsigned)ntohs(sa.sin_port));
    atomic_store(&F.stop, false);
    CU_ASSERT_EQUAL_FATAL(pthread_create(&F.thread, NULL, fake_main, NULL), 0);
}

static void fake_stop(void)
{
    atomic_store(&F.stop, true);
    (void)pthread_join(F.thread, NULL);
    (void)close(F.fd);
}

/* ---- the operations ------------------------------------------------------------------------- */

static dns_options opts_for(dns_driver *drv, const char *server, long check_ms)
{
    return (dns_options){.drv = drv, .dns_addr = server, .check_ms = check_ms};
}

/* The renames the coordinator builds for cutover (every source name first, then every target
 * name) or rollback (the reverse pairs in reverse order). */
static void cutover_renames(dns_rename *r, bool rollback)
{
    const dns_rename fwd[N_CUTOVER] = {{T.names[SHOP], T.names[SHOP_V3]},
                                       {T.names[SHOP_TEST], T.names[SHOP_V3_TEST]},
                                       {T.names[SHOP_V4], T.names[SHOP]},
                                       {T.names[SHOP_V4_TEST], T.names[SHOP_TEST]}};
    for (int i = 0; i < N_CUTOVER; i++)
        r[i] = rollback ? (dns_rename){.from = fwd[N_CUTOVER - 1 - i].to,
                                       .to = fwd[N_CUTOVER - 1 - i].from}
                        : fwd[i];
}

static const char *app_names[4]; /* the names a LOWER_TTL step carries */

static ferry_rc run_lower(uint32_t ttl, dns_report *rep, ferry_err *err)
{
    dns_options o = opts_for(T.drv, T.dns, 0);
    ferry_err_clear(err);
    CU_ASSERT_EQUAL_FATAL(dns_report_init(rep), FERRY_OK);
    return dns_lower_ttl(&o, T.zone, app_names, 4, ttl, rep, err);
}

static ferry_rc run_restore(dns_report *rep, ferry_err *err)
{
    dns_options o = opts_for(T.drv, T.dns, 0);
    ferry_err_clear(err);
    CU_ASSERT_EQUAL_FATAL(dns_report_init(rep), FERRY_OK);
    return dns_restore_ttl(&o, T.zone, app_names, 4, rep, err);
}

static ferry_rc run_rename(bool rollback, dns_report *rep, ferry_err *err)
{
    dns_rename r[N_CUTOVER];
    cutover_renames(r, rollback);
    dns_options o = opts_for(T.drv, T.dns, 0);
    ferry_err_clear(err);
    CU_ASSERT_EQUAL_FATAL(dns_report_init(rep), FERRY_OK);
    return dns_rename_apply(&o, T.zone, r, N_CUTOVER, rep, err);
}

static ferry_rc run_check(bool rollback, const char *server, long check_ms, dns_report *rep,
                          ferry_err *err)
{
    dns_rename r[N_CUTOVER];
    cutover_renames(r, rollback);
    dns_options o = opts_for(T.drv, server, check_ms);
    ferry_err_clear(err);
    CU_ASSERT_EQUAL_FATAL(dns_report_init(rep), FERRY_OK);
    return dns_check(&o, T.zone, r, N_CUTOVER, rep, err);
}

static const char *result(const dns_report *rep, const char *name)
{
    const char *v = dns_report_get(rep, name);
    return v != NULL ? v : "(unset)";
}

/* Runs the ferry-dns binary with a shell command line; returns its exit code, output in out. */
static int run_bin(const char *args, char *out, size_t outsz)
{
    char cmd[3000];
    (void)snprintf(cmd, sizeof(cmd), "%s %s 2>&1", FERRY_DNS_BIN, args);
    FILE *f = popen(cmd, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    size_t n = fread(out, 1, outsz - 1, f);
    out[n] = '\0';
    int status = pclose(f);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* ---- suite ---------------------------------------------------------------------------------- */

static int suite_setup(void)
{
    const ferry_cfg *cfg = ferry_test_cfg();
    if (cfg == NULL)
        return 1;
    T.key = ferry_cfg_str(cfg, "pdns.api_key");
    T.dns = ferry_cfg_str(cfg, "pdns.dns_addr");
    T.api_url = ferry_cfg_str(cfg, "pdns.api_url");
    size_t len = strlen(T.api_url);
    while (len > 0 && T.api_url[len - 1] == '/')
        len--;
    (void)snprintf(T.base, sizeof(T.base), "%.*s/api/v1/servers/localhost", (int)len, T.api_url);
    (void)snprintf(T.zone, sizeof(T.zone), "%s.test.", ferry_test_unique("dnsworker"));
    (void)snprintf(T.zone2, sizeof(T.zone2), "%s.test.", ferry_test_unique("dnsworker"));
    for (int k = 0; k < N_NAMES; k++)
        (void)snprintf(T.names[k], sizeof(T.names[k]), "%s.%s", labels[k], T.zone);
    app_names[0] = T.names[SHOP];
    app_names[1] = T.names[SHOP_TEST];
    app_names[2] = T.names[SHOP_V4];
    app_names[3] = T.names[SHOP_V4_TEST];
    T.http = ferry_http_new();
    ferry_err err;
    dns_pdns_opts po = {.api_url = T.api_url, .api_key = T.key};
    T.drv = dns_pdns_new(&po, &err);
    return T.http == NULL || T.drv == NULL;
}

static int suite_teardown(void)
{
    if (T.zone_made)
        zone_delete(T.zone);
    if (T.zone2_made)
        zone_delete(T.zone2);
    for (int k = 0; k < MZ; k++) {
        if (M.made[k])
            zone_delete(M.zone[k]);
        json_decref(M.before[k]);
    }
    if (M.nozone_made)
        zone_delete(M.nozone);
    json_decref(T.before);
    dns_driver_free(T.drv);
    ferry_http_free(T.http);
    return 0;
}

/* production: shop (A, AAAA, TXT) -> shop-v4 (A, TXT); test: shop-test (A, a low TXT) ->
 * shop-v4-test (a CNAME to the new platform's custom domain); www-shop, a customer's name,
 * CNAMEs to shop and is not renamed. */
static void makes_the_zone(void)
{
    zone_create(T.zone, "DEFAULT");
    T.zone_made = true;
    const char *a10[] = {"192.0.2.10", NULL}, *aaaa10[] = {"2001:db8::10", NULL},
               *txt3[] = {"\"platform=v3\"", NULL}, *a20[] = {"192.0.2.20", NULL},
               *txt4[] = {"\"platform=v4\"", NULL}, *a11[] = {"192.0.2.11", NULL},
               *low[] = {"\"low\"", NULL}, *cname[] = {"custom.apps-v4.example.", NULL},
               *www[] = {T.names[SHOP], NULL};
    put_rrset(T.zone, T.names[SHOP], "A", 3600, a10,
              json_pack("[{s:s, s:s}]", "account", "ops", "content", "keep me"));
    put_rrset(T.zone, T.names[SHOP], "AAAA", 3600, aaaa10, NULL);
    put_rrset(T.zone, T.names[SHOP], "TXT", 3600, txt3, NULL);
    put_rrset(T.zone, T.names[SHOP_V4], "A", 3600, a20, NULL);
    put_rrset(T.zone, T.names[SHOP_V4], "TXT", 3600, txt4, NULL);
    put_rrset(T.zone, T.names[SHOP_TEST], "A", 1800, a11, NULL);
    put_rrset(T.zone, T.names[SHOP_TEST], "TXT", 60, low, NULL);
    put_rrset(T.zone, T.names[SHOP_V4_TEST], "CNAME", 3600, cname, NULL);
    put_rrset(T.zone, T.names[WWW_SHOP], "CNAME", 3600, www, NULL);
    expect_one(T.names[SHOP], FERRY_DNSQ_A, "192.0.2.10", 3600);
    expect_one(T.names[WWW_SHOP], FERRY_DNSQ_A, "192.0.2.10", -1);
}

static void lower_ttl_remembers_and_restore_gives_back(void)
{
    CU_ASSERT_TRUE_FATAL(T.zone_made);
    dns_report rep;
    ferry_err err;
    char key[300];

    ferry_rc rc = run_lower(300, &rep, &err);
    if (rc != FERRY_OK)
        fprintf(stderr, "lower: %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, FERRY_OK);
    /* shop A, AAAA, TXT; shop-test A (its TXT at 60 stays); shop-v4 A, TXT; shop-v4-test. */
    CU_ASSERT_STRING_EQUAL(result(&rep, "lowered"), "7");
    (void)snprintf(key, sizeof(key), "ttl_old.%s", T.names[SHOP]);
    CU_ASSERT_STRING_EQUAL(result(&rep, key), "3600");
    (void)snprintf(key, sizeof(key), "ttl_old.%s", T.names[SHOP_TEST]);
    CU_ASSERT_STRING_EQUAL(result(&rep, key), "1800");
    dns_report_cleanup(&rep);
    expect_one(T.names[SHOP], FERRY_DNSQ_A, "192.0.2.10", 300);
    expect_one(T.names[SHOP], FERRY_DNSQ_AAAA, "2001:db8::10", 300);
    expect_one(T.names[SHOP], FERRY_DNSQ_TXT, "platform=v3", 300);
    expect_one(T.names[SHOP_TEST], FERRY_DNSQ_A, "192.0.2.11", 300);
    expect_one(T.names[SHOP_TEST], FERRY_DNSQ_TXT, "low", 60);
    expect_one(T.names[SHOP_V4_TEST], FERRY_DNSQ_CNAME, "custom.apps-v4.example.", 300);
    json_t *z = zone_get(T.zone);
    json_t *rr = rrset_of(z, T.names[SHOP], "A");
    CU_ASSERT_EQUAL(comments_with(rr, "ferry", "ttl=3600"), 1);
    CU_ASSERT_EQUAL(comments_with(rr, "ops", "keep me"), 1); /* others' comments stay */
    CU_ASSERT_EQUAL(comments_with(rrset_of(z, T.names[SHOP_TEST], "A"), "ferry", "ttl=1800"), 1);
    CU_ASSERT_EQUAL(comments_with(rrset_of(z, T.names[SHOP_TEST], "TXT"), "ferry", NULL), 0);
    json_decref(z);

    /* Lower again, further: the remembered TTL is the original, not 300. */
    CU_ASSERT_EQUAL_FATAL(run_lower(120, &rep, &err), FERRY_OK);
    dns_report_cleanup(&rep);
    expect_one(T.names[SHOP], FERRY_DNSQ_A, "192.0.2.10", 120);
    z = zone_get(T.zone);
    CU_ASSERT_EQUAL(comments_with(rrset_of(z, T.names[SHOP], "A"), "ferry", NULL), 1);
    CU_ASSERT_EQUAL(comments_with(rrset_of(z, T.names[SHOP], "A"), "ferry", "ttl=3600"), 1);
    json_decref(z);

    /* Restore: the TTLs come back, the memory goes, others' comments stay. */
    rc = run_restore(&rep, &err);
    CU_ASSERT_EQUAL_FATAL(rc, FERRY_OK);
    CU_ASSERT_STRING_EQUAL(result(&rep, "restored"), "7");
    (void)snprintf(key, sizeof(key), "ttl.%s", T.names[SHOP]);
    CU_ASSERT_STRING_EQUAL(result(&rep, key), "3600");
    dns_report_cleanup(&rep);
    expect_one(T.names[SHOP], FERRY_DNSQ_A, "192.0.2.10", 3600);
    expect_one(T.names[SHOP], FERRY_DNSQ_TXT, "platform=v3", 3600);
    expect_one(T.names[SHOP_TEST], FERRY_DNSQ_A, "192.0.2.11", 1800);
    expect_one(T.names[SHOP_TEST], FERRY_DNSQ_TXT, "low", 60);
    expect_one(T.names[SHOP_V4_TEST], FERRY_DNSQ_CNAME, "custom.apps-v4.example.", 3600);
    z = zone_get(T.zone);
    rr = rrset_of(z, T.names[SHOP], "A");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(rr, "ttl")), 3600);
    CU_ASSERT_EQUAL(comments_with(rr, "ferry", NULL), 0);
    CU_ASSERT_EQUAL(comments_with(rr, "ops", "keep me"), 1);
    json_decref(z);

    /* Restoring again changes nothing (not even the serial). */
    long serial = zone_serial(T.zone);
    CU_ASSERT_EQUAL_FATAL(run_restore(&rep, &err), FERRY_OK);
    CU_ASSERT_STRING_EQUAL(result(&rep, "restored"), "0");
    dns_report_cleanup(&rep);
    CU_ASSERT_EQUAL(zone_serial(T.zone), serial);

    /* Replication lowers them for the cutover that follows. */
    CU_ASSERT_EQUAL_FATAL(run_lower(300, &rep, &err), FERRY_OK);
    dns_report_cleanup(&rep);
}

static void cutover_rename_moves_every_name(void)
{
    CU_ASSERT_TRUE_FATAL(T.zone_made);
    dns_report rep;
    ferry_err err;
    T.before = snapshot();
    long serial = zone_serial(T.zone);
    ferry_rc rc = run_rename(false, &rep, &err);
    if (rc != FERRY_OK)
        fprintf(stderr, "rename: %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, FERRY_OK);
    CU_ASSERT_STRING_EQUAL(result(&rep, "renamed"), "4");
    CU_ASSERT_STRING_EQUAL(result(&rep, "already"), "0");
    dns_report_cleanup(&rep);
    CU_ASSERT(zone_serial(T.zone) > serial);

    /* Production: the name answers with the target's address, the old app is at shop-v3. */
    expect_one(T.names[SHOP], FERRY_DNSQ_A, "192.0.2.20", 300);
    expect_one(T.names[SHOP], FERRY_DNSQ_TXT, "platform=v4", 300);
    expect_rcode(T.names[SHOP], FERRY_DNSQ_AAAA, FERRY_DNSQ_NOERROR); /* v4 had no AAAA */
    expect_one(T.names[SHOP_V3], FERRY_DNSQ_A, "192.0.2.10", 300);
    expect_one(T.names[SHOP_V3], FERRY_DNSQ_AAAA, "2001:db8::10", 300);
    expect_one(T.names[SHOP_V3], FERRY_DNSQ_TXT, "platform=v3", 300);
    expect_rcode(T.names[SHOP_V4], FERRY_DNSQ_A, FERRY_DNSQ_NXDOMAIN);
    /* Test: the CNAME custom domain moved with its name. */
    expect_one(T.names[SHOP_TEST], FERRY_DNSQ_CNAME, "custom.apps-v4.example.", 300);
    expect_one(T.names[SHOP_V3_TEST], FERRY_DNSQ_A, "192.0.2.11", 300);
    expect_one(T.names[SHOP_V3_TEST], FERRY_DNSQ_TXT, "low", 60);
    expect_rcode(T.names[SHOP_V4_TEST], FERRY_DNSQ_CNAME, FERRY_DNSQ_NXDOMAIN);
    /* The customer's CNAME to shop now reaches the new app. */
    expect_one(T.names[WWW_SHOP], FERRY_DNSQ_A, "192.0.2.20", -1);

    /* The remembered TTLs and others' comments moved with their record sets. */
    json_t *z = zone_get(T.zone);
    json_t *rr = rrset_of(z, T.names[SHOP_V3], "A");
    CU_ASSERT_EQUAL(comments_with(rr, "ferry", "ttl=3600"), 1);
    CU_ASSERT_EQUAL(comments_with(rr, "ops", "keep me"), 1);
    CU_ASSERT_EQUAL(comments_with(rrset_of(z, T.names[SHOP], "A"), "ops", NULL), 0);
    CU_ASSERT_PTR_NULL(rrset_of(z, T.names[SHOP_V4], "A"));
    json_decref(z);

    /* The check asks the server and finds the new answers. */
    rc = run_check(false, T.dns, 3000, &rep, &err);
    if (rc != FERRY_OK)
        fprintf(stderr, "check: %s\n", err.msg);
    CU_ASSERT_EQUAL(rc, FERRY_OK);
    CU_ASSERT_STRING_EQUAL(result(&rep, "checked"), "6"); /* 4 to names, 2 gone */
    dns_report_cleanup(&rep);
}

static void rename_again_changes_nothing(void)
{
    CU_ASSERT_TRUE_FATAL(T.zone_made);
    dns_report rep;
    ferry_err err;
    json_t *after = snapshot();
    long serial = zone_serial(T.zone);
    ferry_rc rc = run_rename(false, &rep, &err);
    if (rc != FERRY_OK)
        fprintf(stderr, "rename again: %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, FERRY_OK);
    CU_ASSERT_STRING_EQUAL(result(&rep, "renamed"), "0");
    CU_ASSERT_STRING_EQUAL(result(&rep, "already"), "4");
    CU_ASSERT_STRING_EQUAL(result(&rep, "changes"), "0");
    dns_report_cleanup(&rep);
    json_t *again = snapshot();
    CU_ASSERT_TRUE(json_equal(after, again));
    CU_ASSERT_EQUAL(zone_serial(T.zone), serial);
    json_decref(after);
    json_decref(again);
}

static void check_fails_when_the_server_answers_the_old_way(void)
{
    CU_ASSERT_TRUE_FATAL(T.zone_made);
    dns_report rep;
    ferry_err err;
    fake_start();
    int64_t t0 = ferry_mono_ms();
    ferry_rc rc = run_check(false, F.addr, 1500, &rep, &err);
    int64_t took = ferry_mono_ms() - t0;
    fake_stop();
    fprintf(stderr, "check against the old answers: %s\n", err.msg);
    CU_ASSERT_EQUAL(rc, FERRY_ERR_CONFLICT);
    CU_ASSERT(took >= 1500); /* it waited for the answers to change */
    CU_ASSERT(took < 1500 + 5000);
    CU_ASSERT_STRING_EQUAL(result(&rep, "check_dns_mismatch"), "1");
    char want[400];
    (void)snprintf(want, sizeof(want), "%s A: expected 192.0.2.20, answered 192.0.2.10",
                   T.names[SHOP]);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, want));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, F.addr));
    (void)snprintf(want, sizeof(want), "%s A: expected 192.0.2.10, answered NXDOMAIN",
                   T.names[SHOP_V3]);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, want));
    /* shop-v4 should be gone but still answers; the result lists every name. */
    (void)snprintf(want, sizeof(want), "%s A: expected NXDOMAIN or none, answered 192.0.2.20",
                   T.names[SHOP_V4]);
    CU_ASSERT_PTR_NOT_NULL(strstr(result(&rep, "check_failures"), want));
    (void)snprintf(want, sizeof(want), "%s CNAME: expected custom.apps-v4.example., answered no",
                   T.names[SHOP_TEST]);
    CU_ASSERT_PTR_NOT_NULL(strstr(result(&rep, "check_failures"), want));
    dns_report_cleanup(&rep);

    /* A server that does not answer at all: a transport error, retryable. */
    rc = run_check(false, "127.0.0.1:9", 500, &rep, &err);
    CU_ASSERT_TRUE(ferry_rc_retryable(rc));
    CU_ASSERT_PTR_NULL(dns_report_get(&rep, "check_dns_mismatch"));
    dns_report_cleanup(&rep);

    /* Before the rollback is applied the API itself shows it: a CONFLICT at once. */
    t0 = ferry_mono_ms();
    rc = run_check(true, T.dns, 5000, &rep, &err);
    CU_ASSERT_EQUAL(rc, FERRY_ERR_CONFLICT);
    CU_ASSERT(ferry_mono_ms() - t0 < 2000);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "not applied"));
    dns_report_cleanup(&rep);
}

static void binary_starts_and_its_command_line_works(void)
{
    CU_ASSERT_TRUE_FATAL(T.zone_made);
    char out[8192], args[2400];
    int code = run_bin("--check-config", out, sizeof(out));
    if (code != 0)
        fprintf(stderr, "ferry-dns --check-config: %s\n", out);
    CU_ASSERT_EQUAL(code, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "FERRY_PDNS_API_URL"));
    CU_ASSERT_PTR_NULL(strstr(out, T.key));

    (void)snprintf(args, sizeof(args),
                   "check --zone %s --from %s --to %s --from %s --to %s --from %s --to %s "
                   "--from %s --to %s --wait 3",
                   T.zone, T.names[SHOP], T.names[SHOP_V3], T.names[SHOP_TEST],
                   T.names[SHOP_V3_TEST], T.names[SHOP_V4], T.names[SHOP], T.names[SHOP_V4_TEST],
                   T.names[SHOP_TEST]);
    code = run_bin(args, out, sizeof(out));
    if (code != 0)
        fprintf(stderr, "ferry-dns check: %s\n", out);
    CU_ASSERT_EQUAL(code, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "checked=6"));

    (void)snprintf(args, sizeof(args), "rename --zone %s --from %s", T.zone, T.names[SHOP]);
    CU_ASSERT_EQUAL(run_bin(args, out, sizeof(out)), 2);
    (void)snprintf(args, sizeof(args), "restore-ttl --zone %s --name nosuch.other.test.", T.zone);
    CU_ASSERT_EQUAL(run_bin(args, out, sizeof(out)), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "not inside zone"));
}

static void rollback_restores_the_original_state(void)
{
    CU_ASSERT_TRUE_FATAL(T.zone_made && T.before != NULL);
    dns_report rep;
    ferry_err err;
    ferry_rc rc = run_rename(true, &rep, &err);
    if (rc != FERRY_OK)
        fprintf(stderr, "rollback: %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, FERRY_OK);
    CU_ASSERT_STRING_EQUAL(result(&rep, "renamed"), "4");
    dns_report_cleanup(&rep);
    json_t *now = snapshot();
    CU_ASSERT_TRUE(json_equal(T.before, now));
    if (!json_equal(T.before, now)) {
        char *a = json_dumps(T.before, JSON_SORT_KEYS), *b = json_dumps(now, JSON_SORT_KEYS);
        fprintf(stderr, "before: %s\nnow:    %s\n", a, b);
        free(a);
        free(b);
    }
    json_decref(now);
    expect_one(T.names[SHOP], FERRY_DNSQ_A, "192.0.2.10", 300);
    expect_one(T.names[SHOP_V4], FERRY_DNSQ_A, "192.0.2.20", 300);
    expect_one(T.names[WWW_SHOP], FERRY_DNSQ_A, "192.0.2.10", -1);
    expect_rcode(T.names[SHOP_V3], FERRY_DNSQ_A, FERRY_DNSQ_NXDOMAIN);
    expect_rcode(T.names[SHOP_V3_TEST], FERRY_DNSQ_A, FERRY_DNSQ_NXDOMAIN);
    rc = run_check(true, T.dns, 3000, &rep, &err);
    if (rc != FERRY_OK)
        fprintf(stderr, "rollback check: %s\n", err.msg);
    CU_ASSERT_EQUAL(rc, FERRY_OK);
    dns_report_cleanup(&rep);

    /* The end of the migration: the TTLs go back. */
    CU_ASSERT_EQUAL(run_restore(&rep, &err), FERRY_OK);
    dns_report_cleanup(&rep);
    expect_one(T.names[SHOP], FERRY_DNSQ_A, "192.0.2.10", 3600);
    expect_one(T.names[SHOP_TEST], FERRY_DNSQ_A, "192.0.2.11", 1800);
}

static void half_renamed_names_are_a_conflict(void)
{
    CU_ASSERT_TRUE_FATAL(T.zone_made);
    char a[200], b[200];
    (void)snprintf(a, sizeof(a), "conflict-a.%s", T.zone);
    (void)snprintf(b, sizeof(b), "conflict-b.%s", T.zone);
    const char *ra[] = {"192.0.2.50", NULL}, *rb[] = {"192.0.2.51", NULL};
    put_rrset(T.zone, a, "A", 60, ra, NULL);
    put_rrset(T.zone, b, "A", 60, rb, NULL);
    dns_report rep;
    ferry_err err;
    ferry_err_clear(&err);
    CU_ASSERT_EQUAL_FATAL(dns_report_init(&rep), FERRY_OK);
    dns_options o = opts_for(T.drv, T.dns, 0);
    /* b is taken: neither before nor after a -> b. The good rename in the same step is not
     * applied either: one change, all or nothing. */
    dns_rename r[] = {{T.names[SHOP], T.names[SHOP_V3]}, {a, b}};
    ferry_rc rc = dns_rename_apply(&o, T.zone, r, 2, &rep, &err);
    fprintf(stderr, "conflict: %s\n", err.msg);
    CU_ASSERT_EQUAL(rc, FERRY_ERR_CONFLICT);
    CU_ASSERT_FALSE(ferry_rc_retryable(rc));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, a));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, b));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, T.zone));
    dns_report_cleanup(&rep);
    expect_one(b, FERRY_DNSQ_A, "192.0.2.51", -1);
    expect_one(T.names[SHOP], FERRY_DNSQ_A, "192.0.2.10", -1);

    /* Neither name has records: nothing to rename is a conflict too. */
    char c[200], d[200];
    (void)snprintf(c, sizeof(c), "nothing-c.%s", T.zone);
    (void)snprintf(d, sizeof(d), "nothing-d.%s", T.zone);
    dns_rename r2[] = {{c, d}};
    CU_ASSERT_EQUAL(dns_report_init(&rep), FERRY_OK);
    CU_ASSERT_EQUAL(dns_rename_apply(&o, T.zone, r2, 1, &rep, &err), FERRY_ERR_CONFLICT);
    dns_report_cleanup(&rep);

    /* Bad input is INVALID before anything is asked: a swap, a name outside the zone. */
    dns_rename swap[] = {{a, b}, {b, a}};
    CU_ASSERT_EQUAL(dns_report_init(&rep), FERRY_OK);
    CU_ASSERT_EQUAL(dns_rename_apply(&o, T.zone, swap, 2, &rep, &err), FERRY_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "cycle"));
    dns_rename outside[] = {{a, "shop.other.test."}};
    CU_ASSERT_EQUAL(dns_rename_apply(&o, T.zone, outside, 1, &rep, &err), FERRY_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "shop.other.test."));
    dns_report_cleanup(&rep);
}

static void zone_without_soa_edit_api_gets_its_serial_bumped(void)
{
    zone_create(T.zone2, "");
    T.zone2_made = true;
    char a[200], b[200];
    (void)snprintf(a, sizeof(a), "app.%s", T.zone2);
    (void)snprintf(b, sizeof(b), "app-v3.%s", T.zone2);
    const char *ra[] = {"192.0.2.60", NULL};
    put_rrset(T.zone2, a, "A", 60, ra, NULL);
    long serial = zone_serial(T.zone2);
    dns_report rep;
    ferry_err err;
    ferry_err_clear(&err);
    CU_ASSERT_EQUAL_FATAL(dns_report_init(&rep), FERRY_OK);
    dns_options o = opts_for(T.drv, T.dns, 0);
    dns_rename r[] = {{a, b}};
    ferry_rc rc = dns_rename_apply(&o, T.zone2, r, 1, &rep, &err);
    if (rc != FERRY_OK)
        fprintf(stderr, "rename: %s\n", err.msg);
    CU_ASSERT_EQUAL(rc, FERRY_OK);
    dns_report_cleanup(&rep);
    CU_ASSERT_EQUAL(zone_serial(T.zone2), serial + 1);
    expect_one(b, FERRY_DNSQ_A, "192.0.2.60", 60);
    expect_rcode(a, FERRY_DNSQ_A, FERRY_DNSQ_NXDOMAIN);
}

static void wrong_key_missing_zone_and_no_api_are_classified(void)
{
    CU_ASSERT_TRUE_FATAL(T.zone_made);
    static const char wrong[] = "ferry-wrong-dns-key-0123456789";
    ferry_err err;
    dns_report rep;
    dns_pdns_opts po = {.api_url = T.api_url, .api_key = wrong};
    dns_driver *bad = dns_pdns_new(&po, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(bad);
    dns_options o = opts_for(bad, T.dns, 0);
    ferry_err_clear(&err);
    CU_ASSERT_EQUAL_FATAL(dns_report_init(&rep), FERRY_OK);
    ferry_rc rc = dns_lower_ttl(&o, T.zone, app_names, 4, 300, &rep, &err);
    fprintf(stderr, "wrong key: %s\n", err.msg);
    CU_ASSERT_TRUE(rc == FERRY_ERR_AUTH || rc == FERRY_ERR_PERMISSION);
    CU_ASSERT_FALSE(ferry_rc_retryable(rc));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, T.zone));
    CU_ASSERT_PTR_NULL(strstr(err.msg, wrong));
    CU_ASSERT_PTR_NULL(strstr(err.msg, T.key));
    dns_rename r[N_CUTOVER];
    cutover_renames(r, false);
    rc = dns_rename_apply(&o, T.zone, r, N_CUTOVER, &rep, &err);
    CU_ASSERT_TRUE(rc == FERRY_ERR_AUTH || rc == FERRY_ERR_PERMISSION);
    CU_ASSERT_PTR_NULL(strstr(err.msg, wrong));
    dns_report_cleanup(&rep);
    dns_driver_free(bad);

    /* A zone the server does not have. */
    char nozone[160], name[200];
    (void)snprintf(nozone, sizeof(nozone), "%s.test.", ferry_test_unique("dnsworker-none"));
    (void)snprintf(name, sizeof(name), "shop.%s", nozone);
    const char *names[] = {name};
    o = opts_for(T.drv, T.dns, 0);
    CU_ASSERT_EQUAL_FATAL(dns_report_init(&rep), FERRY_OK);
    rc = dns_lower_ttl(&o, nozone, names, 1, 300, &rep, &err);
    fprintf(stderr, "missing zone: %s\n", err.msg);
    CU_ASSERT_EQUAL(rc, FERRY_ERR_NOT_FOUND);
    CU_ASSERT_FALSE(ferry_rc_retryable(rc));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, nozone));
    dns_report_cleanup(&rep);

    /* A name the zone does not have (LOWER_TTL of a misspelt name). */
    char missing[200];
    (void)snprintf(missing, sizeof(missing), "no-such-name.%s", T.zone);
    const char *mnames[] = {missing};
    CU_ASSERT_EQUAL_FATAL(dns_report_init(&rep), FERRY_OK);
    CU_ASSERT_EQUAL(dns_lower_ttl(&o, T.zone, mnames, 1, 300, &rep, &err), FERRY_ERR_NOT_FOUND);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, missing));
    dns_report_cleanup(&rep);

    /* No API listening: UNAVAILABLE, retryable. */
    dns_pdns_opts off = {.api_url = "http://127.0.0.1:9", .api_key = T.key};
    dns_driver *gone = dns_pdns_new(&off, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(gone);
    o = opts_for(gone, T.dns, 0);
    CU_ASSERT_EQUAL_FATAL(dns_report_init(&rep), FERRY_OK);
    rc = dns_restore_ttl(&o, T.zone, app_names, 4, &rep, &err);
    fprintf(stderr, "no API: %s\n", err.msg);
    CU_ASSERT_EQUAL(rc, FERRY_ERR_UNAVAILABLE);
    CU_ASSERT_TRUE(ferry_rc_retryable(rc));
    CU_ASSERT_PTR_NULL(strstr(err.msg, T.key));
    dns_report_cleanup(&rep);
    dns_driver_free(gone);
}

/* ---- several zones in one step, through the executor's path ------------------------------- */

/* The progress the step reported. */
static struct {
    unsigned calls;
    uint64_t done, total;
    bool backwards, total_changed;
    char detail[400];
} P;

static void mz_progress(void *ud, uint64_t done, uint64_t total, const char *detail)
{
    (void)ud;
    if (P.calls > 0 && done < P.done)
        P.backwards = true;
    if (P.calls > 0 && total != P.total)
        P.total_changed = true;
    P.calls++;
    P.done = done;
    P.total = total;
    (void)snprintf(P.detail, sizeof(P.detail), "%s", detail != NULL ? detail : "");
}

/* A StepCommand of the dns kind with zones, built in place (every pointer into the struct). */
typedef struct mz_cmd {
    Ferry__V1__StepCommand cmd;
    Ferry__V1__DnsParams dns;
    size_t n;
    Ferry__V1__DnsZone zones[MZ + 2];
    Ferry__V1__DnsZone *zp[MZ + 2];
    Ferry__V1__SecretRef keys[MZ + 2];
    Ferry__V1__DnsRename renames[MZ + 2][2];
    Ferry__V1__DnsRename *rp[MZ + 2][2];
    char *names[MZ + 2][2];
} mz_cmd;

static void mz_init(mz_cmd *c, Ferry__V1__Operation op)
{
    memset(c, 0, sizeof(*c));
    ferry__v1__step_command__init(&c->cmd);
    ferry__v1__dns_params__init(&c->dns);
    c->cmd.migration_id = (char *)"dnszones";
    c->cmd.step_id = (char *)"dns-1";
    c->cmd.attempt = 1;
    c->cmd.kind = FERRY__V1__STEP_KIND__STEP_KIND_DNS;
    c->cmd.operation = op;
    c->cmd.params_case = FERRY__V1__STEP_COMMAND__PARAMS_DNS;
    c->cmd.dns = &c->dns;
    c->dns.zones = c->zp;
}

/* Adds a zone with two names (shop, shop-v4) and the cutover (or rollback) renames; names or
 * renames left out when not wanted. secret NULL or "": the worker's key. */
static void mz_add(mz_cmd *c, const char *zone, const char *secret, char *shop, char *v3, char *v4,
                   bool with_names, bool with_renames, bool rollback)
{
    size_t i = c->n++;
    Ferry__V1__DnsZone *z = &c->zones[i];
    ferry__v1__dns_zone__init(z);
    z->zone = (char *)zone;
    if (secret != NULL && secret[0] != '\0') {
        ferry__v1__secret_ref__init(&c->keys[i]);
        c->keys[i].name = (char *)secret;
        z->api_key = &c->keys[i];
    }
    if (with_names) {
        c->names[i][0] = shop;
        c->names[i][1] = v4;
        z->names = c->names[i];
        z->n_names = 2;
    }
    if (with_renames) {
        char *from[2] = {shop, v4}, *to[2] = {v3, shop}; /* cutover */
        if (rollback) {
            from[0] = shop, to[0] = v4;
            from[1] = v3, to[1] = shop;
        }
        for (int k = 0; k < 2; k++) {
            ferry__v1__dns_rename__init(&c->renames[i][k]);
            c->renames[i][k].from = from[k];
            c->renames[i][k].to = to[k];
            c->rp[i][k] = &c->renames[i][k];
        }
        z->renames = c->rp[i];
        z->n_renames = 2;
    }
    c->zp[i] = z;
    c->dns.n_zones = c->n;
}

/* The app's three zones, names and renames for both kinds of operation. */
static void mz_build(mz_cmd *c, Ferry__V1__Operation op, bool rollback)
{
    mz_init(c, op);
    for (int k = 0; k < MZ; k++)
        mz_add(c, M.zone[k], M.secret[k], M.names[k][MZ_SHOP], M.names[k][MZ_SHOP_V3],
               M.names[k][MZ_SHOP_V4], true, true, rollback);
}

/* Encodes the command, decodes it as a worker does (both validate) and runs it as the
 * executor does. */
static ferry_rc mz_run(mz_cmd *c, long check_ms, dns_report *rep, ferry_err *err)
{
    uint8_t *bytes = NULL;
    size_t len = 0;
    Ferry__V1__StepCommand *got = NULL;
    memset(&P, 0, sizeof(P));
    ferry_err_clear(err);
    CU_ASSERT_EQUAL_FATAL(dns_report_init(rep), FERRY_OK);
    ferry_rc rc = ferry_wire_step_encode(&c->cmd, &bytes, &len, err);
    if (rc == FERRY_OK)
        rc = ferry_wire_step_decode(bytes, len, &got, err);
    free(bytes);
    if (rc != FERRY_OK)
        return rc;
    dns_step_env env = {.api_url = T.api_url,
                        .api_key = T.key,
                        .dns_addr = T.dns,
                        .check_ms = check_ms,
                        .hooks = {.progress = mz_progress}};
    rc = dns_step_run(&env, got->operation, got->dns, rep, err);
    ferry_wire_step_free(got);
    return rc;
}

/* Whether the message starts with "zone <zone>" (a multi-zone step's errors do). */
static bool names_zone_first(const char *msg, const char *zone)
{
    char want[200];
    (void)snprintf(want, sizeof(want), "zone %s", zone);
    return strncmp(msg, want, strlen(want)) == 0;
}

static void mz_key(int k, const char *value)
{
    char var[128];
    (void)snprintf(var, sizeof(var), "FERRY_SECRET_%s", M.secret[k]);
    CU_ASSERT_EQUAL_FATAL(setenv(var, value, 1), 0);
}

/* One zone's app names as the API has them: name -> type -> {ttl, records, comments}. */
static json_t *mz_snapshot(int k)
{
    json_t *zdoc = zone_get(M.zone[k]);
    json_t *snap = json_object();
    size_t i;
    json_t *rr;
    for (int j = 0; j < MZ_N; j++)
        json_object_set_new(snap, M.names[k][j], json_object());
    json_array_foreach(json_object_get(zdoc, "rrsets"), i, rr)
    {
        json_t *at = json_object_get(snap, json_string_value(json_object_get(rr, "name")));
        if (at != NULL)
            json_object_set_new(at, json_string_value(json_object_get(rr, "type")),
                                json_pack("{s:O, s:O, s:O}", "ttl", json_object_get(rr, "ttl"),
                                          "records", json_object_get(rr, "records"), "comments",
                                          json_object_get(rr, "comments")));
    }
    json_decref(zdoc);
    return snap;
}

/* production: shop A+AAAA at 3600 -> shop-v4 A; acceptance: shop A at 1800 -> shop-v4 A+TXT;
 * test: shop A at 3600 -> shop-v4 a CNAME custom domain. */
static const char *const mz_old[MZ] = {"192.0.2.110", "192.0.2.111", "192.0.2.112"};
static const char *const mz_new[MZ] = {"192.0.2.120", "192.0.2.121", NULL};
static const int mz_ttl[MZ] = {3600, 1800, 3600};
#define MZ_CNAME "custom.apps-v4.example."

static void makes_three_zones(void)
{
    for (int k = 0; k < MZ; k++) {
        (void)snprintf(M.zone[k], sizeof(M.zone[k]), "%s.test.", ferry_test_unique("dnszones"));
        for (int j = 0; j < MZ_N; j++)
            (void)snprintf(M.names[k][j], sizeof(M.names[k][j]), "%s.%s", mz_labels[j], M.zone[k]);
        if (k > 0)
            (void)snprintf(M.secret[k], sizeof(M.secret[k]), "FERRY_DNS_TEST_%ld_%d",
                           (long)getpid(), k);
    }
    mz_key(1, T.key);
    mz_key(2, T.key);
    (void)snprintf(M.nozone, sizeof(M.nozone), "%s.test.", ferry_test_unique("dnszones-late"));
    (void)snprintf(M.nozone_shop, sizeof(M.nozone_shop), "shop.%s", M.nozone);

    for (int k = 0; k < MZ; k++) {
        zone_create(M.zone[k], "DEFAULT");
        M.made[k] = true;
        const char *old[] = {mz_old[k], NULL}, *nw[] = {mz_new[k], NULL};
        put_rrset(M.zone[k], M.names[k][MZ_SHOP], "A", mz_ttl[k], old, NULL);
        if (k == 0) {
            const char *aaaa[] = {"2001:db8::110", NULL};
            put_rrset(M.zone[k], M.names[k][MZ_SHOP], "AAAA", mz_ttl[k], aaaa, NULL);
        }
        if (mz_new[k] != NULL) {
            put_rrset(M.zone[k], M.names[k][MZ_SHOP_V4], "A", mz_ttl[k], nw, NULL);
        } else {
            const char *cname[] = {MZ_CNAME, NULL};
            put_rrset(M.zone[k], M.names[k][MZ_SHOP_V4], "CNAME", mz_ttl[k], cname, NULL);
        }
        if (k == 1) {
            const char *txt[] = {"\"accp\"", NULL};
            put_rrset(M.zone[k], M.names[k][MZ_SHOP_V4], "TXT", mz_ttl[k], txt, NULL);
        }
        expect_one(M.names[k][MZ_SHOP], FERRY_DNSQ_A, mz_old[k], mz_ttl[k]);
    }
}

/* What shop, shop-v3 and shop-v4 of zone k answer after cutover (true) or before it. */
static void mz_expect(int k, bool cut, long ttl)
{
    const char *shop = M.names[k][MZ_SHOP], *v3 = M.names[k][MZ_SHOP_V3],
               *v4 = M.names[k][MZ_SHOP_V4];
    if (cut) {
        if (mz_new[k] != NULL)
            expect_one(shop, FERRY_DNSQ_A, mz_new[k], ttl);
        else
            expect_one(shop, FERRY_DNSQ_CNAME, MZ_CNAME, ttl);
        expect_one(v3, FERRY_DNSQ_A, mz_old[k], ttl);
        expect_rcode(v4, FERRY_DNSQ_A, FERRY_DNSQ_NXDOMAIN);
    } else {
        expect_one(shop, FERRY_DNSQ_A, mz_old[k], ttl);
        if (mz_new[k] != NULL)
            expect_one(v4, FERRY_DNSQ_A, mz_new[k], ttl);
        else
            expect_one(v4, FERRY_DNSQ_CNAME, MZ_CNAME, ttl);
        expect_rcode(v3, FERRY_DNSQ_A, FERRY_DNSQ_NXDOMAIN);
    }
}

static void zones_lower_ttl_each_with_its_key(void)
{
    CU_ASSERT_TRUE_FATAL(M.made[MZ - 1]);
    mz_cmd c;
    dns_report rep;
    ferry_err err;
    char key[300], want[1400];
    mz_build(&c, FERRY__V1__OPERATION__OPERATION_DNS_LOWER_TTL, false);
    c.dns.ttl = 300;
    /* A zone with renames only has nothing to lower: skipped, though the server lacks it. */
    mz_add(&c, M.nozone, NULL, M.nozone_shop, M.nozone_shop, M.nozone_shop, false, true, false);
    ferry_rc rc = mz_run(&c, 0, &rep, &err);
    if (rc != FERRY_OK)
        fprintf(stderr, "lower over zones: %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, FERRY_OK);
    /* production shop A, AAAA, shop-v4 A; acceptance shop A, shop-v4 A, TXT; test 2. */
    CU_ASSERT_STRING_EQUAL(result(&rep, "lowered"), "8");
    CU_ASSERT_STRING_EQUAL(result(&rep, "ttl"), "300");
    (void)snprintf(want, sizeof(want), "%s,%s,%s", M.zone[0], M.zone[1], M.zone[2]);
    CU_ASSERT_STRING_EQUAL(result(&rep, "zones"), want);
    (void)snprintf(want, sizeof(want), "%s,%s,%s,%s,%s,%s", M.names[0][MZ_SHOP],
                   M.names[0][MZ_SHOP_V4], M.names[1][MZ_SHOP], M.names[1][MZ_SHOP_V4],
                   M.names[2][MZ_SHOP], M.names[2][MZ_SHOP_V4]);
    CU_ASSERT_STRING_EQUAL(result(&rep, "names"), want);
    for (int k = 0; k < MZ; k++) {
        (void)snprintf(key, sizeof(key), "ttl_old.%s", M.names[k][MZ_SHOP]);
        CU_ASSERT_EQUAL(strtol(result(&rep, key), NULL, 10), mz_ttl[k]);
    }
    /* Progress counts the names of every zone. */
    CU_ASSERT_EQUAL(P.done, 6);
    CU_ASSERT_EQUAL(P.total, 6);
    CU_ASSERT_FALSE(P.backwards);
    CU_ASSERT_FALSE(P.total_changed);
    CU_ASSERT_PTR_NOT_NULL(strstr(P.detail, M.zone[2]));
    dns_report_cleanup(&rep);
    for (int k = 0; k < MZ; k++) {
        mz_expect(k, false, 300);
        json_t *z = zone_get(M.zone[k]);
        char remembered[32];
        (void)snprintf(remembered, sizeof(remembered), "ttl=%d", mz_ttl[k]);
        CU_ASSERT_EQUAL(comments_with(rrset_of(z, M.names[k][MZ_SHOP], "A"), "ferry", remembered),
                        1);
        json_decref(z);
    }

    /* Again, lower: every zone keeps the TTL it remembered first. */
    c.dns.ttl = 120;
    CU_ASSERT_EQUAL_FATAL(mz_run(&c, 0, &rep, &err), FERRY_OK);
    (void)snprintf(key, sizeof(key), "ttl_old.%s", M.names[1][MZ_SHOP_V4]);
    CU_ASSERT_STRING_EQUAL(result(&rep, key), "1800");
    dns_report_cleanup(&rep);
    expect_one(M.names[1][MZ_SHOP], FERRY_DNSQ_A, mz_old[1], 120);
}

static void zones_rename_retry_after_a_failed_zone_converges(void)
{
    CU_ASSERT_TRUE_FATAL(M.made[MZ - 1]);
    static const char wrong[] = "ferry-wrong-dns-key-zones-0123456789";
    mz_cmd c;
    dns_report rep;
    ferry_err err;
    char want[400];
    for (int k = 0; k < MZ; k++)
        M.before[k] = mz_snapshot(k);
    long serial[MZ];
    for (int k = 0; k < MZ; k++)
        serial[k] = zone_serial(M.zone[k]);

    /* Acceptance's key is wrong: production is renamed, acceptance and test are not. */
    mz_key(1, wrong);
    mz_build(&c, FERRY__V1__OPERATION__OPERATION_DNS_RENAME, false);
    ferry_rc rc = mz_run(&c, 0, &rep, &err);
    fprintf(stderr, "rename, acceptance's key wrong: %s\n", err.msg);
    CU_ASSERT_TRUE(rc == FERRY_ERR_AUTH || rc == FERRY_ERR_PERMISSION);
    CU_ASSERT_TRUE(names_zone_first(err.msg, M.zone[1]));
    CU_ASSERT_PTR_NULL(strstr(err.msg, wrong));
    CU_ASSERT_PTR_NULL(strstr(err.msg, T.key));
    CU_ASSERT_STRING_EQUAL(result(&rep, "zones"), M.zone[0]);
    CU_ASSERT_STRING_EQUAL(result(&rep, "renamed"), "2");
    dns_report_cleanup(&rep);
    mz_expect(0, true, 120);
    mz_expect(1, false, 120);
    mz_expect(2, false, 120);
    CU_ASSERT(zone_serial(M.zone[0]) > serial[0]);
    CU_ASSERT_EQUAL(zone_serial(M.zone[1]), serial[1]);
    CU_ASSERT_EQUAL(zone_serial(M.zone[2]), serial[2]);

    /* The key fixed, the same step again: production already renamed, the others now. */
    mz_key(1, T.key);
    rc = mz_run(&c, 0, &rep, &err);
    if (rc != FERRY_OK)
        fprintf(stderr, "rename retried: %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, FERRY_OK);
    CU_ASSERT_STRING_EQUAL(result(&rep, "renamed"), "4");
    CU_ASSERT_STRING_EQUAL(result(&rep, "already"), "2");
    (void)snprintf(want, sizeof(want), "%s,%s,%s", M.zone[0], M.zone[1], M.zone[2]);
    CU_ASSERT_STRING_EQUAL(result(&rep, "zones"), want);
    CU_ASSERT_EQUAL(P.done, 6); /* renames of every zone */
    CU_ASSERT_EQUAL(P.total, 6);
    CU_ASSERT_FALSE(P.backwards);
    dns_report_cleanup(&rep);
    for (int k = 0; k < MZ; k++)
        mz_expect(k, true, 120);
    json_t *z = zone_get(M.zone[1]); /* the remembered TTL moved with its record set */
    CU_ASSERT_EQUAL(comments_with(rrset_of(z, M.names[1][MZ_SHOP_V3], "A"), "ferry", "ttl=1800"),
                    1);
    CU_ASSERT_PTR_NOT_NULL(rrset_of(z, M.names[1][MZ_SHOP], "TXT"));
    json_decref(z);

    /* Once more: nothing left to do anywhere, no serial moves. */
    for (int k = 0; k < MZ; k++)
        serial[k] = zone_serial(M.zone[k]);
    CU_ASSERT_EQUAL_FATAL(mz_run(&c, 0, &rep, &err), FERRY_OK);
    CU_ASSERT_STRING_EQUAL(result(&rep, "renamed"), "0");
    CU_ASSERT_STRING_EQUAL(result(&rep, "already"), "6");
    CU_ASSERT_STRING_EQUAL(result(&rep, "changes"), "0");
    dns_report_cleanup(&rep);
    for (int k = 0; k < MZ; k++)
        CU_ASSERT_EQUAL(zone_serial(M.zone[k]), serial[k]);
}

static void zones_check_asks_every_zone(void)
{
    CU_ASSERT_TRUE_FATAL(M.made[MZ - 1]);
    mz_cmd c;
    dns_report rep;
    ferry_err err;
    mz_build(&c, FERRY__V1__OPERATION__OPERATION_DNS_CHECK, false);
    ferry_rc rc = mz_run(&c, 3000, &rep, &err);
    if (rc != FERRY_OK)
        fprintf(stderr, "check over zones: %s\n", err.msg);
    CU_ASSERT_EQUAL(rc, FERRY_OK);
    CU_ASSERT_STRING_EQUAL(result(&rep, "checked"), "9"); /* shop, shop-v3, shop-v4 in each */
    CU_ASSERT_STRING_EQUAL(result(&rep, "check_attempts"), "1");
    CU_ASSERT_EQUAL(P.total, 9);
    CU_ASSERT_EQUAL(P.done, 9);
    dns_report_cleanup(&rep);

    /* The rollback's check before the rollback: the first zone shows it, at once. */
    mz_build(&c, FERRY__V1__OPERATION__OPERATION_DNS_CHECK, true);
    rc = mz_run(&c, 3000, &rep, &err);
    CU_ASSERT_EQUAL(rc, FERRY_ERR_CONFLICT);
    CU_ASSERT_TRUE(names_zone_first(err.msg, M.zone[0]));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "not applied"));
    CU_ASSERT_PTR_NULL(dns_report_get(&rep, "zones"));
    dns_report_cleanup(&rep);
}

static void zones_rollback_and_restore(void)
{
    CU_ASSERT_TRUE_FATAL(M.made[MZ - 1] && M.before[0] != NULL);
    mz_cmd c;
    dns_report rep;
    ferry_err err;
    char key[300];
    mz_build(&c, FERRY__V1__OPERATION__OPERATION_DNS_RENAME, true);
    ferry_rc rc = mz_run(&c, 0, &rep, &err);
    if (rc != FERRY_OK)
        fprintf(stderr, "rollback over zones: %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, FERRY_OK);
    CU_ASSERT_STRING_EQUAL(result(&rep, "renamed"), "6");
    dns_report_cleanup(&rep);
    for (int k = 0; k < MZ; k++) {
        json_t *now = mz_snapshot(k);
        CU_ASSERT_TRUE(json_equal(M.before[k], now));
        json_decref(now);
        mz_expect(k, false, 120);
    }
    mz_build(&c, FERRY__V1__OPERATION__OPERATION_DNS_CHECK, true);
    rc = mz_run(&c, 3000, &rep, &err);
    if (rc != FERRY_OK)
        fprintf(stderr, "rollback check over zones: %s\n", err.msg);
    CU_ASSERT_EQUAL(rc, FERRY_OK);
    dns_report_cleanup(&rep);

    mz_build(&c, FERRY__V1__OPERATION__OPERATION_DNS_RESTORE_TTL, false);
    rc = mz_run(&c, 0, &rep, &err);
    CU_ASSERT_EQUAL_FATAL(rc, FERRY_OK);
    CU_ASSERT_STRING_EQUAL(result(&rep, "restored"), "8");
    (void)snprintf(key, sizeof(key), "ttl.%s", M.names[1][MZ_SHOP]);
    CU_ASSERT_STRING_EQUAL(result(&rep, key), "1800");
    dns_report_cleanup(&rep);
    for (int k = 0; k < MZ; k++) {
        mz_expect(k, false, mz_ttl[k]);
        json_t *z = zone_get(M.zone[k]);
        CU_ASSERT_EQUAL(comments_with(rrset_of(z, M.names[k][MZ_SHOP], "A"), "ferry", NULL), 0);
        json_decref(z);
    }
    long serial = zone_serial(M.zone[2]);
    CU_ASSERT_EQUAL_FATAL(mz_run(&c, 0, &rep, &err), FERRY_OK);
    CU_ASSERT_STRING_EQUAL(result(&rep, "restored"), "0");
    dns_report_cleanup(&rep);
    CU_ASSERT_EQUAL(zone_serial(M.zone[2]), serial);

    /* A step without zones still runs the zone at the top, as before. */
    mz_init(&c, FERRY__V1__OPERATION__OPERATION_DNS_RESTORE_TTL);
    c.dns.zone = M.zone[0];
    c.dns.names = c.names[0];
    c.names[0][0] = M.names[0][MZ_SHOP];
    c.dns.n_names = 1;
    CU_ASSERT_EQUAL(mz_run(&c, 0, &rep, &err), FERRY_OK);
    CU_ASSERT_STRING_EQUAL(result(&rep, "restored"), "0");
    CU_ASSERT_PTR_NULL(dns_report_get(&rep, "zones"));
    dns_report_cleanup(&rep);
}

static void zones_unknown_zone_fails_there_and_retry_converges(void)
{
    CU_ASSERT_TRUE_FATAL(M.made[MZ - 1]);
    mz_cmd c;
    dns_report rep;
    ferry_err err;
    char key[300];
    mz_init(&c, FERRY__V1__OPERATION__OPERATION_DNS_LOWER_TTL);
    mz_add(&c, M.zone[2], M.secret[2], M.names[2][MZ_SHOP], M.names[2][MZ_SHOP_V3],
           M.names[2][MZ_SHOP_V4], true, false, false);
    mz_add(&c, M.nozone, NULL, M.nozone_shop, NULL, M.nozone_shop, false, false, false);
    c.names[1][0] = M.nozone_shop; /* one name */
    c.zones[1].names = c.names[1];
    c.zones[1].n_names = 1;
    ferry_rc rc = mz_run(&c, 0, &rep, &err);
    fprintf(stderr, "a zone the server lacks: %s\n", err.msg);
    CU_ASSERT_EQUAL(rc, FERRY_ERR_NOT_FOUND);
    CU_ASSERT_TRUE(names_zone_first(err.msg, M.nozone));
    CU_ASSERT_STRING_EQUAL(result(&rep, "zones"), M.zone[2]);
    dns_report_cleanup(&rep);
    expect_one(M.names[2][MZ_SHOP], FERRY_DNSQ_A, mz_old[2], 300); /* the first zone is done */

    /* The zone made (the operator's fix), the same step again. */
    zone_create(M.nozone, "DEFAULT");
    M.nozone_made = true;
    const char *a[] = {"192.0.2.130", NULL};
    put_rrset(M.nozone, M.nozone_shop, "A", 900, a, NULL);
    rc = mz_run(&c, 0, &rep, &err);
    if (rc != FERRY_OK)
        fprintf(stderr, "lower retried: %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, FERRY_OK);
    (void)snprintf(key, sizeof(key), "ttl_old.%s", M.names[2][MZ_SHOP]);
    CU_ASSERT_STRING_EQUAL(result(&rep, key), "3600"); /* remembered by the first run */
    (void)snprintf(key, sizeof(key), "ttl_old.%s", M.nozone_shop);
    CU_ASSERT_STRING_EQUAL(result(&rep, key), "900");
    CU_ASSERT_STRING_EQUAL(result(&rep, "lowered"), "1"); /* the first zone had nothing left */
    dns_report_cleanup(&rep);
    expect_one(M.nozone_shop, FERRY_DNSQ_A, "192.0.2.130", 300);

    c.cmd.operation = FERRY__V1__OPERATION__OPERATION_DNS_RESTORE_TTL;
    CU_ASSERT_EQUAL(mz_run(&c, 0, &rep, &err), FERRY_OK);
    CU_ASSERT_STRING_EQUAL(result(&rep, "restored"), "3");
    dns_report_cleanup(&rep);
    expect_one(M.names[2][MZ_SHOP], FERRY_DNSQ_A, mz_old[2], 3600);
    expect_one(M.nozone_shop, FERRY_DNSQ_A, "192.0.2.130", 900);
}

static void zones_bad_input_changes_nothing(void)
{
    CU_ASSERT_TRUE_FATAL(M.made[MZ - 1]);
    mz_cmd c;
    dns_report rep;
    ferry_err err;
    long serial = zone_serial(M.zone[0]);
    char outside[200];
    (void)snprintf(outside, sizeof(outside), "shop-v3.%s", M.zone[0]);

    /* The second zone's rename leaves its zone: INVALID, naming it, before the first runs. */
    mz_build(&c, FERRY__V1__OPERATION__OPERATION_DNS_RENAME, false);
    c.renames[1][0].to = outside;
    ferry_rc rc = mz_run(&c, 0, &rep, &err);
    fprintf(stderr, "a rename out of its zone: %s\n", err.msg);
    CU_ASSERT_EQUAL(rc, FERRY_ERR_INVALID);
    CU_ASSERT_TRUE(names_zone_first(err.msg, M.zone[1]));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, outside));
    dns_report_cleanup(&rep);

    /* The same zone twice. */
    mz_build(&c, FERRY__V1__OPERATION__OPERATION_DNS_RENAME, false);
    c.zones[2].zone = M.zone[0];
    CU_ASSERT_EQUAL(mz_run(&c, 0, &rep, &err), FERRY_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "dns.zones[2]"));
    dns_report_cleanup(&rep);

    /* The third zone's key is not set on this worker: CONFIG, naming the zone and the secret,
     * nothing renamed. */
    char var[128];
    (void)snprintf(var, sizeof(var), "FERRY_SECRET_%s", M.secret[2]);
    CU_ASSERT_EQUAL(unsetenv(var), 0);
    mz_build(&c, FERRY__V1__OPERATION__OPERATION_DNS_RENAME, false);
    rc = mz_run(&c, 0, &rep, &err);
    fprintf(stderr, "a key not set: %s\n", err.msg);
    CU_ASSERT_EQUAL(rc, FERRY_ERR_CONFIG);
    CU_ASSERT_TRUE(names_zone_first(err.msg, M.zone[2]));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, M.secret[2]));
    dns_report_cleanup(&rep);
    mz_key(2, T.key);

    /* No zone with anything to do. */
    mz_init(&c, FERRY__V1__OPERATION__OPERATION_DNS_LOWER_TTL);
    mz_add(&c, M.zone[0], NULL, M.names[0][MZ_SHOP], M.names[0][MZ_SHOP_V3], M.names[0][MZ_SHOP_V4],
           false, true, false);
    CU_ASSERT_EQUAL(mz_run(&c, 0, &rep, &err), FERRY_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "no zone has names"));
    dns_report_cleanup(&rep);

    CU_ASSERT_EQUAL(zone_serial(M.zone[0]), serial);
    mz_expect(0, false, mz_ttl[0]);
}

/* What ferry_wire_step_validate() says of a command (its message in msg). */
static ferry_rc wire_says(mz_cmd *c, char *msg, size_t msgsz)
{
    ferry_err err;
    ferry_err_clear(&err);
    ferry_rc rc = ferry_wire_step_validate(&c->cmd, &err);
    (void)snprintf(msg, msgsz, "%s", rc == FERRY_OK ? "" : err.msg);
    return rc;
}

static void zones_wire_validation(void)
{
    mz_cmd c;
    char msg[512];
    char zone[] = "a.test.", shop[] = "shop.a.test.", v3[] = "shop-v3.a.test.",
         v4[] = "shop-v4.a.test.", zone2[] = "b.test.";
    Ferry__V1__Operation op = FERRY__V1__OPERATION__OPERATION_DNS_RENAME;

    /* Zones without a zone at the top: fine. */
    mz_init(&c, op);
    mz_add(&c, zone, NULL, shop, v3, v4, true, true, false);
    mz_add(&c, zone2, "SHOP_TEST_DNS", shop, v3, v4, true, true, false);
    CU_ASSERT_EQUAL(wire_says(&c, msg, sizeof(msg)), FERRY_OK);

    /* The second zone without its name. */
    c.zones[1].zone = (char *)"";
    CU_ASSERT_EQUAL(wire_says(&c, msg, sizeof(msg)), FERRY_ERR_INVALID);
    CU_ASSERT_STRING_EQUAL(msg, "dns.zones[1].zone: required");
    c.zones[1].zone = NULL;
    CU_ASSERT_EQUAL(wire_says(&c, msg, sizeof(msg)), FERRY_ERR_INVALID);
    CU_ASSERT_STRING_EQUAL(msg, "dns.zones[1].zone: required");
    c.zones[1].zone = zone2;

    /* A key that is not a secret's name (perhaps the key itself): refused, never quoted. */
    c.keys[1].name = (char *)"sk-live-0123abcd";
    CU_ASSERT_EQUAL(wire_says(&c, msg, sizeof(msg)), FERRY_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "dns.zones[1].api_key"));
    CU_ASSERT_PTR_NULL(strstr(msg, "sk-live"));
    c.keys[1].name = (char *)"SHOP_TEST_DNS";

    /* The unused key at the top is still a secret reference. */
    Ferry__V1__SecretRef top = FERRY__V1__SECRET_REF__INIT;
    top.name = (char *)"not a name";
    c.dns.api_key = &top;
    CU_ASSERT_EQUAL(wire_says(&c, msg, sizeof(msg)), FERRY_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "dns.api_key"));
    c.dns.api_key = NULL;

    /* The encoded command decodes to the same zones. */
    uint8_t *bytes = NULL;
    size_t len = 0;
    Ferry__V1__StepCommand *got = NULL;
    ferry_err err;
    ferry_err_clear(&err);
    CU_ASSERT_EQUAL_FATAL(ferry_wire_step_encode(&c.cmd, &bytes, &len, &err), FERRY_OK);
    CU_ASSERT_EQUAL_FATAL(ferry_wire_step_decode(bytes, len, &got, &err), FERRY_OK);
    free(bytes);
    CU_ASSERT_EQUAL_FATAL(got->dns->n_zones, 2);
    CU_ASSERT_STRING_EQUAL(got->dns->zones[1]->zone, zone2);
    CU_ASSERT_STRING_EQUAL(got->dns->zones[1]->api_key->name, "SHOP_TEST_DNS");
    CU_ASSERT_STRING_EQUAL(got->dns->zones[0]->renames[1]->from, v4);
    ferry_wire_step_free(got);

    /* Without zones, as before: the zone at the top is required. */
    mz_init(&c, op);
    CU_ASSERT_EQUAL(wire_says(&c, msg, sizeof(msg)), FERRY_ERR_INVALID);
    CU_ASSERT_STRING_EQUAL(msg, "dns.zone: required");
    c.dns.zone = zone;
    CU_ASSERT_EQUAL(wire_says(&c, msg, sizeof(msg)), FERRY_OK);
}

static void deletes_the_app_zones(void)
{
    for (int k = 0; k < MZ; k++) {
        if (M.made[k])
            zone_delete(M.zone[k]);
        M.made[k] = false;
    }
    if (M.nozone_made)
        zone_delete(M.nozone);
    M.nozone_made = false;
    ferry_dnsq_answer ans;
    ask(T.dns, M.names[1][MZ_SHOP], FERRY_DNSQ_A, &ans);
    CU_ASSERT_TRUE(ans.rcode == FERRY_DNSQ_REFUSED || ans.rcode == FERRY_DNSQ_NXDOMAIN);
    ferry_dnsq_answer_cleanup(&ans);
}

static void deletes_the_zones(void)
{
    CU_ASSERT_TRUE_FATAL(T.zone_made);
    zone_delete(T.zone);
    T.zone_made = false;
    if (T.zone2_made) {
        zone_delete(T.zone2);
        T.zone2_made = false;
    }
    ferry_dnsq_answer ans;
    ask(T.dns, T.names[SHOP], FERRY_DNSQ_A, &ans);
    CU_ASSERT_TRUE(ans.rcode == FERRY_DNSQ_REFUSED || ans.rcode == FERRY_DNSQ_NXDOMAIN);
    ferry_dnsq_answer_cleanup(&ans);
}

int main(void)
{
    static const ferry_test_case cases[] = {
        {"makes the zone", makes_the_zone},
        {"lower TTL remembers, restore gives back", lower_ttl_remembers_and_restore_gives_back},
        {"cutover rename moves every name", cutover_rename_moves_every_name},
        {"rename again changes nothing", rename_again_changes_nothing},
        {"check fails when the server answers the old way",
         check_fails_when_the_server_answers_the_old_way},
        {"binary starts and its command line works", binary_starts_and_its_command_line_works},
        {"rollback restores the original state", rollback_restores_the_original_state},
        {"half renamed names are a conflict", half_renamed_names_are_a_conflict},
        {"zone without SOA-EDIT-API gets its serial bumped",
         zone_without_soa_edit_api_gets_its_serial_bumped},
        {"wrong key, missing zone, no API are classified",
         wrong_key_missing_zone_and_no_api_are_classified},
        {"deletes the zones", deletes_the_zones},
        {"makes three zones", makes_three_zones},
        {"zones: lower TTL, each with its key", zones_lower_ttl_each_with_its_key},
        {"zones: rename retry after a failed zone converges",
         zones_rename_retry_after_a_failed_zone_converges},
        {"zones: check asks every zone", zones_check_asks_every_zone},
        {"zones: rollback and restore", zones_rollback_and_restore},
        {"zones: unknown zone fails there, retry converges",
         zones_unknown_zone_fails_there_and_retry_converges},
        {"zones: bad input changes nothing", zones_bad_input_changes_nothing},
        {"zones: wire validation", zones_wire_validation},
        {"deletes the app's zones", deletes_the_app_zones},
        {NULL, NULL},
    };
    static const ferry_test_suite suites[] = {{"dns_worker", suite_setup, suite_teardown, cases},
                                              {NULL, NULL, NULL, NULL}};
    return ferry_test_main(suites);
}
