/* Unit tests for dnsq.c: canned responses built here, and a fake server on loopback for the
 * transport (retransmission, timeout, port unreachable, stray answers, TCP after truncation). */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <resolv.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ferry/clock.h"
#include "ferry/dnsq.h"
#include "ferry_test.h"

/* ---------------------------------------------------------------- building messages */

typedef struct msg {
    unsigned char b[8192];
    size_t len;
} msg;

/* A query for name/type as res_mkquery builds it; the caller turns it into a response. */
static void msg_query(msg *m, const char *name, int type)
{
    int n = res_mkquery(ns_o_query, name, ns_c_in, type, NULL, 0, NULL, m->b, (int)sizeof(m->b));
    CU_ASSERT_TRUE_FATAL(n > 12);
    m->len = (size_t)n;
}

/* Sets QR (and AA) and the rcode. */
static void msg_respond(msg *m, int rcode, bool aa)
{
    m->b[2] |= 0x80 | (aa ? 0x04 : 0x00);
    m->b[3] = (unsigned char)((m->b[3] & 0xF0) | (rcode & 0x0F));
}

static void msg_put(msg *m, const void *p, size_t n)
{
    CU_ASSERT_TRUE_FATAL(m->len + n <= sizeof(m->b));
    memcpy(m->b + m->len, p, n);
    m->len += n;
}

/* Wire form of a name, uncompressed. */
static size_t wire_name(const char *name, unsigned char *out, size_t outsz)
{
    int n = dn_comp(name, out, (int)outsz, NULL, NULL);
    CU_ASSERT_TRUE_FATAL(n > 0);
    return (size_t)n;
}

static const unsigned char QNAME_PTR[] = {0xC0, 0x0C}; /* the question's name */

/* Appends an answer record: owner (wire bytes), type, IN, ttl, rdata; bumps ANCOUNT. */
static void msg_answer(msg *m, const unsigned char *owner, size_t olen, int type, uint32_t ttl,
                       const void *rdata, size_t rdlen)
{
    unsigned char fixed[10];
    msg_put(m, owner, olen);
    ns_put16((unsigned)type, fixed);
    ns_put16(ns_c_in, fixed + 2);
    ns_put32(ttl, fixed + 4);
    ns_put16((unsigned)rdlen, fixed + 8);
    msg_put(m, fixed, sizeof(fixed));
    msg_put(m, rdata, rdlen);
    ns_put16(ns_get16(m->b + 6) + 1, m->b + 6);
}

static void msg_answer_a(msg *m, const char *addr, uint32_t ttl)
{
    unsigned char a[4];
    CU_ASSERT_EQUAL_FATAL(inet_pton(AF_INET, addr, a), 1);
    msg_answer(m, QNAME_PTR, sizeof(QNAME_PTR), ns_t_a, ttl, a, sizeof(a));
}

/* ---------------------------------------------------------------- parsing */

static void parses_a_records_and_ttls(void)
{
    msg m;
    msg_query(&m, "www.example.test", ns_t_a);
    msg_respond(&m, ns_r_noerror, true);
    msg_answer_a(&m, "192.0.2.10", 300);
    msg_answer_a(&m, "192.0.2.11", 299);

    ferry_dnsq_answer ans;
    ferry_err err;
    ferry_err_clear(&err);
    /* The trailing dot and case do not matter for the question match. */
    CU_ASSERT_EQUAL_FATAL(
        ferry_dnsq_parse(m.b, m.len, "WWW.example.test.", FERRY_DNSQ_A, &ans, &err), FERRY_OK);
    CU_ASSERT_EQUAL(ans.rcode, FERRY_DNSQ_NOERROR);
    CU_ASSERT_TRUE(ans.authoritative);
    CU_ASSERT_FALSE(ans.via_tcp);
    CU_ASSERT_EQUAL_FATAL(ans.count, 2);
    CU_ASSERT_STRING_EQUAL(ans.records[0].text, "192.0.2.10");
    CU_ASSERT_EQUAL(ans.records[0].ttl, 300);
    CU_ASSERT_STRING_EQUAL(ans.records[1].text, "192.0.2.11");
    CU_ASSERT_EQUAL(ans.records[1].ttl, 299);
    CU_ASSERT_TRUE(ferry_dnsq_answer_has(&ans, FERRY_DNSQ_A, "192.0.2.11"));
    CU_ASSERT_FALSE(ferry_dnsq_answer_has(&ans, FERRY_DNSQ_A, "192.0.2.1"));
    ferry_dnsq_answer_cleanup(&ans);
    CU_ASSERT_EQUAL(ans.count, 0);
    CU_ASSERT_PTR_NULL(ans.records);
    ferry_dnsq_answer_cleanup(NULL);
}

static void follows_cnames_and_ignores_strangers(void)
{
    msg m;
    unsigned char app[64], other[64], target[64];
    size_t app_len = wire_name("app.example.test", app, sizeof(app));
    size_t other_len = wire_name("other.example.test", other, sizeof(other));
    msg_query(&m, "www.example.test", ns_t_a);
    msg_respond(&m, ns_r_noerror, true);
    msg_answer(&m, QNAME_PTR, sizeof(QNAME_PTR), ns_t_cname, 60, app, app_len);
    unsigned char a1[4] = {192, 0, 2, 30}, a2[4] = {192, 0, 2, 99};
    msg_answer(&m, app, app_len, ns_t_a, 30, a1, sizeof(a1));
    msg_answer(&m, other, other_len, ns_t_a, 30, a2, sizeof(a2)); /* not on the chain */

    ferry_dnsq_answer ans;
    CU_ASSERT_EQUAL_FATAL(
        ferry_dnsq_parse(m.b, m.len, "www.example.test", FERRY_DNSQ_A, &ans, NULL), FERRY_OK);
    CU_ASSERT_EQUAL_FATAL(ans.count, 1);
    CU_ASSERT_STRING_EQUAL(ans.records[0].text, "192.0.2.30");
    CU_ASSERT_EQUAL(ans.records[0].ttl, 30);
    ferry_dnsq_answer_cleanup(&ans);

    /* Asked for the CNAME itself: its target, fully qualified. */
    msg_query(&m, "www.example.test", ns_t_cname);
    msg_respond(&m, ns_r_noerror, false);
    size_t tlen = wire_name("App.Example.Test", target, sizeof(target));
    msg_answer(&m, QNAME_PTR, sizeof(QNAME_PTR), ns_t_cname, 60, target, tlen);
    CU_ASSERT_EQUAL_FATAL(
        ferry_dnsq_parse(m.b, m.len, "www.example.test", FERRY_DNSQ_CNAME, &ans, NULL), FERRY_OK);
    CU_ASSERT_FALSE(ans.authoritative);
    CU_ASSERT_EQUAL_FATAL(ans.count, 1);
    CU_ASSERT_STRING_EQUAL(ans.records[0].text, "App.Example.Test.");
    CU_ASSERT_TRUE(ferry_dnsq_answer_has(&ans, FERRY_DNSQ_CNAME, "app.example.test"));
    CU_ASSERT_TRUE(ferry_dnsq_answer_has(&ans, FERRY_DNSQ_CNAME, "app.example.test."));
    CU_ASSERT_FALSE(ferry_dnsq_answer_has(&ans, FERRY_DNSQ_CNAME, "app.example"));
    ferry_dnsq_answer_cleanup(&ans);
}

static void parses_txt_mx_soa(void)
{
    msg m;
    ferry_dnsq_answer ans;
    msg_query(&m, "example.test", ns_t_txt);
    msg_respond(&m, ns_r_noerror, true);
    static const unsigned char txt[] = "\x05hello\x06 world\x00";
    msg_answer(&m, QNAME_PTR, sizeof(QNAME_PTR), ns_t_txt, 120, txt, sizeof(txt) - 1);
    CU_ASSERT_EQUAL_FATAL(ferry_dnsq_parse(m.b, m.len, "example.test", FERRY_DNSQ_TXT, &ans, NULL),
                          FERRY_OK);
    CU_ASSERT_EQUAL_FATAL(ans.count, 1);
    CU_ASSERT_STRING_EQUAL(ans.records[0].text, "hello world");
    CU_ASSERT_EQUAL(ans.records[0].text_len, 11);
    CU_ASSERT_TRUE(ferry_dnsq_answer_has(&ans, FERRY_DNSQ_TXT, "hello world"));
    ferry_dnsq_answer_cleanup(&ans);

    msg_query(&m, "example.test", ns_t_mx);
    msg_respond(&m, ns_r_noerror, true);
    unsigned char mx[80];
    ns_put16(10, mx);
    size_t mlen = wire_name("mail.example.test", mx + 2, sizeof(mx) - 2);
    msg_answer(&m, QNAME_PTR, sizeof(QNAME_PTR), ns_t_mx, 3600, mx, mlen + 2);
    CU_ASSERT_EQUAL_FATAL(ferry_dnsq_parse(m.b, m.len, "example.test", FERRY_DNSQ_MX, &ans, NULL),
                          FERRY_OK);
    CU_ASSERT_EQUAL_FATAL(ans.count, 1);
    CU_ASSERT_STRING_EQUAL(ans.records[0].text, "10 mail.example.test.");
    ferry_dnsq_answer_cleanup(&ans);

    msg_query(&m, "example.test", ns_t_soa);
    msg_respond(&m, ns_r_noerror, true);
    unsigned char soa[160];
    size_t o = wire_name("ns1.example.test", soa, sizeof(soa));
    o += wire_name("hostmaster.example.test", soa + o, sizeof(soa) - o);
    const uint32_t nums[5] = {2024010101, 10800, 3600, 604800, 60};
    for (int i = 0; i < 5; i++, o += 4)
        ns_put32(nums[i], soa + o);
    msg_answer(&m, QNAME_PTR, sizeof(QNAME_PTR), ns_t_soa, 3600, soa, o);
    CU_ASSERT_EQUAL_FATAL(ferry_dnsq_parse(m.b, m.len, "example.test", FERRY_DNSQ_SOA, &ans, NULL),
                          FERRY_OK);
    CU_ASSERT_EQUAL_FATAL(ans.count, 1);
    CU_ASSERT_STRING_EQUAL(ans.records[0].text,
                           "ns1.example.test. hostmaster.example.test. 2024010101 10800 3600 "
                           "604800 60");
    ferry_dnsq_answer_cleanup(&ans);
}

static void maps_response_codes(void)
{
    static const struct {
        int rcode;
        ferry_dnsq_rcode want;
        ferry_rc rc;
        const char *text;
    } cases[] = {
        {ns_r_noerror, FERRY_DNSQ_NOERROR, FERRY_OK, "NOERROR"},
        {ns_r_nxdomain, FERRY_DNSQ_NXDOMAIN, FERRY_ERR_NOT_FOUND, "NXDOMAIN"},
        {ns_r_refused, FERRY_DNSQ_REFUSED, FERRY_ERR_PERMISSION, "REFUSED"},
        {ns_r_servfail, FERRY_DNSQ_SERVFAIL, FERRY_ERR_SERVER, "SERVFAIL"},
        {ns_r_notimpl, FERRY_DNSQ_NOTIMP, FERRY_ERR_UNSUPPORTED, "NOTIMP"},
        {ns_r_formerr, FERRY_DNSQ_FORMERR, FERRY_ERR_PROTOCOL, "FORMERR"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        msg m;
        ferry_dnsq_answer ans;
        msg_query(&m, "gone.example.test", ns_t_a);
        msg_respond(&m, cases[i].rcode, cases[i].rcode == ns_r_nxdomain);
        CU_ASSERT_EQUAL_FATAL(
            ferry_dnsq_parse(m.b, m.len, "gone.example.test", FERRY_DNSQ_A, &ans, NULL), FERRY_OK);
        CU_ASSERT_EQUAL(ans.rcode, cases[i].want);
        CU_ASSERT_EQUAL(ans.count, 0);
        CU_ASSERT_EQUAL(ferry_dnsq_rcode_rc(ans.rcode), cases[i].rc);
        CU_ASSERT_STRING_EQUAL(ferry_dnsq_rcode_str(ans.rcode), cases[i].text);
        ferry_dnsq_answer_cleanup(&ans);
    }
    CU_ASSERT_STRING_EQUAL(ferry_dnsq_rcode_str((ferry_dnsq_rcode)9), "RCODE?");
    CU_ASSERT_EQUAL(ferry_dnsq_rcode_rc((ferry_dnsq_rcode)9), FERRY_ERR_PROTOCOL);
}

static void rejects_malformed_and_foreign_responses(void)
{
    msg m;
    ferry_dnsq_answer ans;
    ferry_err err;

    /* Cut off inside the answer record. */
    msg_query(&m, "www.example.test", ns_t_a);
    msg_respond(&m, ns_r_noerror, true);
    msg_answer_a(&m, "192.0.2.10", 300);
    ferry_err_clear(&err);
    CU_ASSERT_EQUAL(ferry_dnsq_parse(m.b, m.len - 3, "www.example.test", FERRY_DNSQ_A, &ans, &err),
                    FERRY_ERR_DECODE);
    CU_ASSERT_NOT_EQUAL(err.msg[0], '\0');
    ferry_dnsq_answer_cleanup(&ans);

    /* An A record whose data is 3 bytes long. */
    msg_query(&m, "www.example.test", ns_t_a);
    msg_respond(&m, ns_r_noerror, true);
    msg_answer(&m, QNAME_PTR, sizeof(QNAME_PTR), ns_t_a, 1, "\x01\x02\x03", 3);
    CU_ASSERT_EQUAL(ferry_dnsq_parse(m.b, m.len, "www.example.test", FERRY_DNSQ_A, &ans, &err),
                    FERRY_ERR_DECODE);
    ferry_dnsq_answer_cleanup(&ans);

    /* A TXT string running past its record. */
    msg_query(&m, "t.example.test", ns_t_txt);
    msg_respond(&m, ns_r_noerror, true);
    msg_answer(&m, QNAME_PTR, sizeof(QNAME_PTR), ns_t_txt, 1, "\x09short", 6);
    CU_ASSERT_EQUAL(ferry_dnsq_parse(m.b, m.len, "t.example.test", FERRY_DNSQ_TXT, &ans, &err),
                    FERRY_ERR_DECODE);
    ferry_dnsq_answer_cleanup(&ans);

    /* A query, not a response. */
    msg_query(&m, "www.example.test", ns_t_a);
    CU_ASSERT_EQUAL(ferry_dnsq_parse(m.b, m.len, "www.example.test", FERRY_DNSQ_A, &ans, &err),
                    FERRY_ERR_DECODE);
    ferry_dnsq_answer_cleanup(&ans);

    /* An answer to another name, or another type. */
    msg_query(&m, "evil.example.test", ns_t_a);
    msg_respond(&m, ns_r_noerror, true);
    msg_answer_a(&m, "203.0.113.66", 300);
    CU_ASSERT_EQUAL(ferry_dnsq_parse(m.b, m.len, "www.example.test", FERRY_DNSQ_A, &ans, &err),
                    FERRY_ERR_PROTOCOL);
    ferry_dnsq_answer_cleanup(&ans);
    CU_ASSERT_EQUAL(ferry_dnsq_parse(m.b, m.len, "evil.example.test", FERRY_DNSQ_AAAA, &ans, &err),
                    FERRY_ERR_PROTOCOL);
    ferry_dnsq_answer_cleanup(&ans);

    /* Garbage and nothing. */
    static const unsigned char junk[] = {1, 2, 3, 4, 5};
    CU_ASSERT_EQUAL(ferry_dnsq_parse(junk, sizeof(junk), "x", FERRY_DNSQ_A, &ans, &err),
                    FERRY_ERR_DECODE);
    ferry_dnsq_answer_cleanup(&ans);
}

/* ---------------------------------------------------------------- transport */

/* A socket of the given kind bound to 127.0.0.1 on a free port; its "127.0.0.1:port" in addr. */
static int loopback_socket(int kind, char *addr, size_t addrsz)
{
    int fd = socket(AF_INET, kind, 0);
    CU_ASSERT_TRUE_FATAL(fd >= 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CU_ASSERT_EQUAL_FATAL(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    socklen_t len = sizeof(sin);
    CU_ASSERT_EQUAL_FATAL(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    (void)snprintf(addr, addrsz, "127.0.0.1:%u", (unsigned)ntohs(sin.sin_port));
    return fd;
}

static void times_out_against_a_silent_server(void)
{
    char addr[64];
    int fd = loopback_socket(SOCK_DGRAM, addr, sizeof(addr));
    ferry_dnsq_request req = {
        .server = addr, .name = "www.example.test", .type = FERRY_DNSQ_A, .timeout_ms = 300};
    ferry_dnsq_answer ans;
    ferry_err err;
    ferry_err_clear(&err);
    int64_t t0 = ferry_mono_ms();
    ferry_rc rc = ferry_dnsq_query(&req, &ans, &err);
    int64_t took = ferry_mono_ms() - t0;
    CU_ASSERT_EQUAL(rc, FERRY_ERR_TIMEOUT);
    CU_ASSERT_TRUE(took >= 290 && took < 1000);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "www.example.test"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, addr));
    CU_ASSERT_EQUAL(ans.count, 0);
    ferry_dnsq_answer_cleanup(&ans);

    /* The query was sent, and sent again within the timeout: three datagrams wait. */
    int seen = 0;
    unsigned char buf[512];
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    while (poll(&pfd, 1, 0) == 1 && recv(fd, buf, sizeof(buf), 0) > 12)
        seen++;
    CU_ASSERT_EQUAL(seen, 3);
    close(fd);
}

static void port_unreachable_is_unavailable(void)
{
    char addr[64];
    int fd = loopback_socket(SOCK_DGRAM, addr, sizeof(addr));
    close(fd); /* nothing listens there now: loopback answers with ICMP port unreachable */
    ferry_dnsq_request req = {
        .server = addr, .name = "www.example.test", .type = FERRY_DNSQ_A, .timeout_ms = 2000};
    ferry_dnsq_answer ans;
    ferry_err err;
    int64_t t0 = ferry_mono_ms();
    CU_ASSERT_EQUAL(ferry_dnsq_query(&req, &ans, &err), FERRY_ERR_UNAVAILABLE);
    CU_ASSERT_TRUE(ferry_mono_ms() - t0 < 1000);
    ferry_dnsq_answer_cleanup(&ans);

    req.tcp = true; /* TCP: connection refused */
    CU_ASSERT_EQUAL(ferry_dnsq_query(&req, &ans, &err), FERRY_ERR_UNAVAILABLE);
    ferry_dnsq_answer_cleanup(&ans);
}

static void refuses_bad_requests(void)
{
    static const char *const bad_servers[] = {
        "",           "localhost:53", "127.0.0.1:0", "127.0.0.1:x",
        "127.0.0.1:", "[::1",         "[::1]x",      "1.2.3.4:70000"};
    ferry_dnsq_answer ans;
    ferry_err err;
    for (size_t i = 0; i < sizeof(bad_servers) / sizeof(bad_servers[0]); i++) {
        ferry_dnsq_request req = {.server = bad_servers[i], .name = "a.test", .type = FERRY_DNSQ_A};
        CU_ASSERT_EQUAL(ferry_dnsq_query(&req, &ans, &err), FERRY_ERR_INVALID);
        ferry_dnsq_answer_cleanup(&ans);
    }
    ferry_dnsq_request req = {.server = "127.0.0.1:53", .name = "a.test", .type = 99};
    CU_ASSERT_EQUAL(ferry_dnsq_query(&req, &ans, &err), FERRY_ERR_INVALID);
    req.type = FERRY_DNSQ_A;
    req.name = "";
    CU_ASSERT_EQUAL(ferry_dnsq_query(&req, &ans, &err), FERRY_ERR_INVALID);
    char label[80];
    memset(label, 'a', sizeof(label) - 1);
    label[sizeof(label) - 1] = '\0';
    req.name = label; /* a label longer than 63 */
    CU_ASSERT_EQUAL(ferry_dnsq_query(&req, &ans, &err), FERRY_ERR_INVALID);
    ferry_dnsq_answer_cleanup(&ans);
}

/* A fake name server: answers over UDP (first a stray response with a wrong ID, then either the
 * answer or a truncated one) and, when truncating, over TCP with 40 TXT records. */
typedef struct fake_server {
    int udp, tcp;
    bool truncate;
    int tcp_queries;
} fake_server;

static void fake_answer(msg *m, const unsigned char *q, size_t qlen, bool full)
{
    memcpy(m->b, q, qlen);
    m->len = qlen;
    msg_respond(m, ns_r_noerror, true);
    if (!full) {
        m->b[2] |= 0x02; /* TC */
        return;
    }
    for (int i = 0; i < 40; i++) {
        unsigned char txt[64];
        int n = snprintf((char *)txt + 1, sizeof(txt) - 1, "record number %02d padding-padding", i);
        txt[0] = (unsigned char)n;
        msg_answer(m, QNAME_PTR, sizeof(QNAME_PTR), ns_t_txt, 77, txt, (size_t)n + 1);
    }
}

static void *fake_server_run(void *ud)
{
    fake_server *fs = ud;
    unsigned char q[512];
    struct sockaddr_storage from;
    socklen_t fromlen = sizeof(from);
    ssize_t n = recvfrom(fs->udp, q, sizeof(q), 0, (struct sockaddr *)&from, &fromlen);
    if (n < 12)
        return NULL;
    msg m;
    /* A stray truncated answer with another ID comes first: it must not send the client to
     * TCP (in the UDP case nobody would answer there). */
    fake_answer(&m, q, (size_t)n, false);
    m.b[1] ^= 0x5A;
    (void)sendto(fs->udp, m.b, m.len, 0, (struct sockaddr *)&from, fromlen);
    fake_answer(&m, q, (size_t)n, false);
    if (!fs->truncate) {
        m.b[2] &= (unsigned char)~0x02;
        msg_answer(&m, QNAME_PTR, sizeof(QNAME_PTR), ns_t_txt, 77, "\x03udp", 4);
    }
    (void)sendto(fs->udp, m.b, m.len, 0, (struct sockaddr *)&from, fromlen);
    if (!fs->truncate)
        return NULL;

    int c = accept(fs->tcp, NULL, NULL);
    if (c < 0)
        return NULL;
    unsigned char lenbuf[2];
    if (recv(c, lenbuf, 2, MSG_WAITALL) == 2) {
        size_t qlen = ns_get16(lenbuf);
        if (qlen <= sizeof(q) && recv(c, q, qlen, MSG_WAITALL) == (ssize_t)qlen) {
            fs->tcp_queries++;
            fake_answer(&m, q, qlen, true);
            unsigned char out[2 + sizeof(m.b)];
            ns_put16((unsigned)m.len, out);
            memcpy(out + 2, m.b, m.len);
            (void)send(c, out, m.len + 2, 0);
        }
    }
    close(c);
    return NULL;
}

static void run_fake(bool truncate, ferry_dnsq_answer *ans, ferry_rc *rc, fake_server *fs)
{
    char addr[64], taddr[64];
    fs->truncate = truncate;
    fs->tcp_queries = 0;
    fs->udp = loopback_socket(SOCK_DGRAM, addr, sizeof(addr));
    /* TCP on the same port number as UDP, as a name server does. */
    fs->tcp = socket(AF_INET, SOCK_STREAM, 0);
    CU_ASSERT_TRUE_FATAL(fs->tcp >= 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    unsigned port = 0;
    CU_ASSERT_EQUAL_FATAL(sscanf(addr, "127.0.0.1:%u", &port), 1);
    sin.sin_port = htons((uint16_t)port);
    CU_ASSERT_EQUAL_FATAL(bind(fs->tcp, (struct sockaddr *)&sin, sizeof(sin)), 0);
    CU_ASSERT_EQUAL_FATAL(listen(fs->tcp, 4), 0);
    (void)snprintf(taddr, sizeof(taddr), "%s", addr);

    pthread_t th;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, fake_server_run, fs), 0);
    ferry_dnsq_request req = {
        .server = taddr, .name = "big.example.test", .type = FERRY_DNSQ_TXT, .timeout_ms = 3000};
    ferry_err err;
    ferry_err_clear(&err);
    *rc = ferry_dnsq_query(&req, ans, &err);
    if (*rc != FERRY_OK)
        fprintf(stderr, "query failed: %s\n", err.msg);
    pthread_join(th, NULL);
    close(fs->udp);
    close(fs->tcp);
}

static void ignores_stray_answers_over_udp(void)
{
    fake_server fs;
    ferry_dnsq_answer ans;
    ferry_rc rc;
    run_fake(false, &ans, &rc, &fs);
    CU_ASSERT_EQUAL_FATAL(rc, FERRY_OK);
    CU_ASSERT_FALSE(ans.via_tcp);
    CU_ASSERT_EQUAL(fs.tcp_queries, 0);
    CU_ASSERT_EQUAL_FATAL(ans.count, 1);
    CU_ASSERT_STRING_EQUAL(ans.records[0].text, "udp");
    ferry_dnsq_answer_cleanup(&ans);
}

static void falls_back_to_tcp_when_truncated(void)
{
    fake_server fs;
    ferry_dnsq_answer ans;
    ferry_rc rc;
    run_fake(true, &ans, &rc, &fs);
    CU_ASSERT_EQUAL_FATAL(rc, FERRY_OK);
    CU_ASSERT_TRUE(ans.via_tcp);
    CU_ASSERT_EQUAL(fs.tcp_queries, 1);
    CU_ASSERT_EQUAL_FATAL(ans.count, 40);
    CU_ASSERT_STRING_EQUAL(ans.records[39].text, "record number 39 padding-padding");
    CU_ASSERT_EQUAL(ans.records[39].ttl, 77);
    ferry_dnsq_answer_cleanup(&ans);
}

int main(void)
{
    static const ferry_test_case parse_cases[] = {
        {"parses A records and TTLs", parses_a_records_and_ttls},
        {"follows CNAMEs, ignores strangers", follows_cnames_and_ignores_strangers},
        {"parses TXT, MX, SOA", parses_txt_mx_soa},
        {"maps response codes", maps_response_codes},
        {"rejects malformed and foreign responses", rejects_malformed_and_foreign_responses},
        {NULL, NULL},
    };
    static const ferry_test_case transport_cases[] = {
        {"times out against a silent server", times_out_against_a_silent_server},
        {"port unreachable is unavailable", port_unreachable_is_unavailable},
        {"refuses bad requests", refuses_bad_requests},
        {"ignores stray answers over UDP", ignores_stray_answers_over_udp},
        {"falls back to TCP when truncated", falls_back_to_tcp_when_truncated},
        {NULL, NULL},
    };
    static const ferry_test_suite suites[] = {
        {"dnsq parse", NULL, NULL, parse_cases},
        {"dnsq transport", NULL, NULL, transport_cases},
        {NULL, NULL, NULL, NULL},
    };
    return ferry_test_main(suites);
}
