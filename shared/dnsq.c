/* dnsq.c - one DNS question to one server: UDP, TCP when truncated, a deadline for both. */
#include "ferry/clock.h"
#include "ferry/dnsq.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <resolv.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DNSQ_DEFAULT_TIMEOUT_MS 5000
#define DNSQ_UDP_SENDS          3 /* a UDP query is sent at most this often within the timeout */
#define DNSQ_MAX_CHAIN          8 /* CNAMEs followed inside one answer section */
#define DNSQ_HDR_LEN            12

/* ---------------------------------------------------------------- names and texts */

const char *ferry_dnsq_rcode_str(ferry_dnsq_rcode rcode)
{
    switch (rcode) {
    case FERRY_DNSQ_NOERROR:
        return "NOERROR";
    case FERRY_DNSQ_FORMERR:
        return "FORMERR";
    case FERRY_DNSQ_SERVFAIL:
        return "SERVFAIL";
    case FERRY_DNSQ_NXDOMAIN:
        return "NXDOMAIN";
    case FERRY_DNSQ_NOTIMP:
        return "NOTIMP";
    case FERRY_DNSQ_REFUSED:
        return "REFUSED";
    }
    return "RCODE?";
}

ferry_rc ferry_dnsq_rcode_rc(ferry_dnsq_rcode rcode)
{
    switch (rcode) {
    case FERRY_DNSQ_NOERROR:
        return FERRY_OK;
    case FERRY_DNSQ_NXDOMAIN:
        return FERRY_ERR_NOT_FOUND;
    case FERRY_DNSQ_REFUSED:
        return FERRY_ERR_PERMISSION;
    case FERRY_DNSQ_SERVFAIL:
        return FERRY_ERR_SERVER;
    case FERRY_DNSQ_NOTIMP:
        return FERRY_ERR_UNSUPPORTED;
    case FERRY_DNSQ_FORMERR:
        return FERRY_ERR_PROTOCOL;
    }
    return FERRY_ERR_PROTOCOL;
}

const char *ferry_dnsq_type_str(ferry_dnsq_type type)
{
    switch (type) {
    case FERRY_DNSQ_A:
        return "A";
    case FERRY_DNSQ_NS:
        return "NS";
    case FERRY_DNSQ_CNAME:
        return "CNAME";
    case FERRY_DNSQ_SOA:
        return "SOA";
    case FERRY_DNSQ_MX:
        return "MX";
    case FERRY_DNSQ_TXT:
        return "TXT";
    case FERRY_DNSQ_AAAA:
        return "AAAA";
    }
    return "TYPE?";
}

static bool type_known(ferry_dnsq_type type)
{
    return strcmp(ferry_dnsq_type_str(type), "TYPE?") != 0;
}

static bool type_is_name(ferry_dnsq_type type)
{
    return type == FERRY_DNSQ_CNAME || type == FERRY_DNSQ_NS;
}

/* Compares two domain names case-insensitively, ignoring one trailing dot on either. */
static bool names_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 0 && a[la - 1] == '.')
        la--;
    if (lb > 0 && b[lb - 1] == '.')
        lb--;
    return la == lb && strncasecmp(a, b, la) == 0;
}

bool ferry_dnsq_answer_has(const ferry_dnsq_answer *ans, ferry_dnsq_type type, const char *text)
{
    if (ans == NULL || text == NULL)
        return false;
    for (size_t i = 0; i < ans->count; i++) {
        const ferry_dnsq_record *rec = &ans->records[i];
        if (type_is_name(type) ? names_equal(rec->text, text)
                               : rec->text_len == strlen(text) && strcmp(rec->text, text) == 0)
            return true;
    }
    return false;
}

void ferry_dnsq_answer_cleanup(ferry_dnsq_answer *ans)
{
    if (ans == NULL)
        return;
    for (size_t i = 0; i < ans->count; i++)
        free(ans->records[i].text);
    free(ans->records);
    memset(ans, 0, sizeof(*ans));
}

/* ---------------------------------------------------------------- parsing */

/* Expands the (possibly compressed) name at src, which must lie inside [rdata, rdend).
 * Writes it fully qualified ("a.b." or ".") and returns the bytes it took, or -1. */
static int expand_name(const ns_msg *h, const unsigned char *src, const unsigned char *rdend,
                       char *out, size_t outsz)
{
    int used = ns_name_uncompress(ns_msg_base(*h), ns_msg_end(*h), src, out, outsz);
    if (used < 0 || src + used > rdend)
        return -1;
    size_t len = strlen(out);
    if (len == 0 || out[len - 1] != '.') {
        if (len + 2 > outsz)
            return -1;
        out[len] = '.';
        out[len + 1] = '\0';
    }
    return used;
}

/* Turns one record's data into rec->text (allocated). */
static ferry_rc rdata_text(const ns_msg *h, const ns_rr *rr, ferry_dnsq_type type,
                           ferry_dnsq_record *rec, ferry_err *err)
{
    const unsigned char *rd = ns_rr_rdata(*rr);
    size_t rdlen = ns_rr_rdlen(*rr);
    const unsigned char *rdend = rd + rdlen;
    char buf[2 * NS_MAXDNAME + 64];
    int used = 0;

    switch (type) {
    case FERRY_DNSQ_A:
    case FERRY_DNSQ_AAAA: {
        int af = type == FERRY_DNSQ_A ? AF_INET : AF_INET6;
        size_t want = type == FERRY_DNSQ_A ? 4 : 16;
        if (rdlen != want || inet_ntop(af, rd, buf, sizeof(buf)) == NULL)
            goto bad;
        break;
    }
    case FERRY_DNSQ_CNAME:
    case FERRY_DNSQ_NS:
        used = expand_name(h, rd, rdend, buf, sizeof(buf));
        if (used < 0 || (size_t)used != rdlen)
            goto bad;
        break;
    case FERRY_DNSQ_MX: {
        if (rdlen < 3)
            goto bad;
        char name[NS_MAXDNAME + 2];
        used = expand_name(h, rd + 2, rdend, name, sizeof(name));
        if (used < 0 || (size_t)used + 2 != rdlen)
            goto bad;
        (void)snprintf(buf, sizeof(buf), "%u %s", (unsigned)ns_get16(rd), name);
        break;
    }
    case FERRY_DNSQ_SOA: {
        char mname[NS_MAXDNAME + 2], rname[NS_MAXDNAME + 2];
        int m = expand_name(h, rd, rdend, mname, sizeof(mname));
        if (m < 0)
            goto bad;
        int r = expand_name(h, rd + m, rdend, rname, sizeof(rname));
        if (r < 0 || (size_t)m + (size_t)r + 20 != rdlen)
            goto bad;
        const unsigned char *n = rd + m + r;
        (void)snprintf(buf, sizeof(buf), "%s %s %lu %lu %lu %lu %lu", mname, rname,
                       (unsigned long)ns_get32(n), (unsigned long)ns_get32(n + 4),
                       (unsigned long)ns_get32(n + 8), (unsigned long)ns_get32(n + 12),
                       (unsigned long)ns_get32(n + 16));
        break;
    }
    case FERRY_DNSQ_TXT: {
        /* <len><bytes> strings, concatenated; the result is never longer than rdlen. */
        char *text = malloc(rdlen + 1);
        if (text == NULL)
            return ferry_err_set(err, FERRY_ERR_NOMEM, "decoding TXT record");
        size_t o = 0;
        for (const unsigned char *p = rd; p < rdend;) {
            size_t slen = *p++;
            if (slen > (size_t)(rdend - p)) {
                free(text);
                goto bad;
            }
            memcpy(text + o, p, slen);
            o += slen;
            p += slen;
        }
        text[o] = '\0';
        rec->text = text;
        rec->text_len = o;
        rec->ttl = ns_rr_ttl(*rr);
        return FERRY_OK;
    }
    }

    rec->text = strdup(buf);
    if (rec->text == NULL)
        return ferry_err_set(err, FERRY_ERR_NOMEM, "decoding %s record", ferry_dnsq_type_str(type));
    rec->text_len = strlen(buf);
    rec->ttl = ns_rr_ttl(*rr);
    return FERRY_OK;
bad:
    return ferry_err_set(err, FERRY_ERR_DECODE, "malformed %s record data (%zu bytes)",
                         ferry_dnsq_type_str(type), rdlen);
}

/* The owners whose records answer the question: the name itself, then each CNAME target
 * reached from it inside the answer section (servers put the chain in for in-zone targets). */
typedef struct chain {
    char names[DNSQ_MAX_CHAIN][NS_MAXDNAME + 2];
    size_t len;
} chain;

static bool chain_has(const chain *c, const char *name)
{
    for (size_t i = 0; i < c->len; i++) {
        if (names_equal(c->names[i], name))
            return true;
    }
    return false;
}

static ferry_rc follow_cnames(ns_msg *h, const char *qname, chain *c, ferry_err *err)
{
    (void)snprintf(c->names[0], sizeof(c->names[0]), "%s", qname);
    c->len = 1;
    int an = ns_msg_count(*h, ns_s_an);
    bool grown = true;
    while (grown && c->len < DNSQ_MAX_CHAIN) {
        grown = false;
        for (int i = 0; i < an; i++) {
            ns_rr rr;
            if (ns_parserr(h, ns_s_an, i, &rr) < 0)
                return ferry_err_set(err, FERRY_ERR_DECODE, "malformed answer record %d", i);
            if (ns_rr_type(rr) != ns_t_cname || ns_rr_class(rr) != ns_c_in ||
                !names_equal(ns_rr_name(rr), c->names[c->len - 1]))
                continue;
            char target[NS_MAXDNAME + 2];
            const unsigned char *rd = ns_rr_rdata(rr);
            if (expand_name(h, rd, rd + ns_rr_rdlen(rr), target, sizeof(target)) < 0)
                return ferry_err_set(err, FERRY_ERR_DECODE, "malformed CNAME record data");
            if (chain_has(c, target))
                return FERRY_OK; /* a loop: what we have is all there is */
            (void)snprintf(c->names[c->len], sizeof(c->names[0]), "%s", target);
            c->len++;
            grown = true;
            break;
        }
    }
    return FERRY_OK;
}

ferry_rc ferry_dnsq_parse(const unsigned char *msg, size_t len, const char *name,
                          ferry_dnsq_type type, ferry_dnsq_answer *ans, ferry_err *err)
{
    ferry_rc rc = FERRY_OK;
    ns_msg h;
    ns_rr rr;
    chain *c = NULL;
    memset(ans, 0, sizeof(*ans));

    if (len > NS_MAXMSG || ns_initparse(msg, (int)len, &h) < 0) {
        rc = ferry_err_set(err, FERRY_ERR_DECODE, "malformed DNS message (%zu bytes)", len);
        goto out;
    }
    if (!ns_msg_getflag(h, ns_f_qr) || ns_msg_getflag(h, ns_f_opcode) != ns_o_query) {
        rc = ferry_err_set(err, FERRY_ERR_DECODE, "DNS message is not a query response");
        goto out;
    }
    ans->rcode = (ferry_dnsq_rcode)ns_msg_getflag(h, ns_f_rcode);
    ans->authoritative = ns_msg_getflag(h, ns_f_aa) != 0;

    /* A server may drop the question from an error response (FORMERR, NOTIMP); otherwise it
     * must be ours. */
    if (ns_msg_count(h, ns_s_qd) == 0 && ans->rcode != FERRY_DNSQ_NOERROR)
        goto out;
    if (ns_msg_count(h, ns_s_qd) != 1) {
        rc = ferry_err_set(err, FERRY_ERR_PROTOCOL, "DNS response has %d questions",
                           ns_msg_count(h, ns_s_qd));
        goto out;
    }
    if (ns_parserr(&h, ns_s_qd, 0, &rr) < 0) {
        rc = ferry_err_set(err, FERRY_ERR_DECODE, "malformed question in DNS response");
        goto out;
    }
    if (!names_equal(ns_rr_name(rr), name) || (int)ns_rr_type(rr) != (int)type ||
        ns_rr_class(rr) != ns_c_in) {
        rc = ferry_err_set(err, FERRY_ERR_PROTOCOL, "DNS response answers another question");
        goto out;
    }

    int an = ns_msg_count(h, ns_s_an);
    if (an == 0)
        goto out;
    ans->records = calloc((size_t)an, sizeof(*ans->records));
    c = malloc(sizeof(*c));
    if (ans->records == NULL || c == NULL) {
        rc = ferry_err_set(err, FERRY_ERR_NOMEM, "decoding DNS answer");
        goto out;
    }
    if (type == FERRY_DNSQ_CNAME) {
        (void)snprintf(c->names[0], sizeof(c->names[0]), "%s", name);
        c->len = 1;
    } else {
        rc = follow_cnames(&h, name, c, err);
        if (rc != FERRY_OK)
            goto out;
    }
    for (int i = 0; i < an; i++) {
        if (ns_parserr(&h, ns_s_an, i, &rr) < 0) {
            rc = ferry_err_set(err, FERRY_ERR_DECODE, "malformed answer record %d", i);
            goto out;
        }
        if ((int)ns_rr_type(rr) != (int)type || ns_rr_class(rr) != ns_c_in ||
            !chain_has(c, ns_rr_name(rr)))
            continue;
        rc = rdata_text(&h, &rr, type, &ans->records[ans->count], err);
        if (rc != FERRY_OK)
            goto out;
        ans->count++;
    }
out:
    free(c);
    return rc;
}

/* ---------------------------------------------------------------- transport */

/* Milliseconds left until deadline, for poll(): 0 when passed. */
static int left_ms(int64_t deadline)
{
    int64_t left = deadline - ferry_mono_ms();
    if (left <= 0)
        return 0;
    return left > 86400000 ? 86400000 : (int)left;
}

/* "host:port", "[v6]:port", or a bare address (port 53); numeric only. */
static ferry_rc parse_server(const char *server, struct sockaddr_storage *ss, socklen_t *sslen,
                             ferry_err *err)
{
    char host[INET6_ADDRSTRLEN + 1];
    const char *start = server;
    const char *port_text = NULL;
    size_t hlen = 0;
    if (server == NULL || server[0] == '\0')
        return ferry_err_set(err, FERRY_ERR_INVALID, "no DNS server given");
    const char *colon = strrchr(server, ':');
    if (server[0] == '[') {
        const char *close = strchr(server, ']');
        if (close == NULL || (close[1] != '\0' && close[1] != ':'))
            goto bad;
        start = server + 1;
        hlen = (size_t)(close - start);
        port_text = close[1] == ':' ? close + 2 : NULL;
    } else if (colon != NULL && strchr(server, ':') == colon) {
        hlen = (size_t)(colon - server); /* one colon: v4 or name, and a port */
        port_text = colon + 1;
    } else {
        hlen = strlen(server); /* an address alone, v4 or v6 */
    }
    if (hlen == 0 || hlen >= sizeof(host))
        goto bad;
    memcpy(host, start, hlen);
    host[hlen] = '\0';

    long port = 53;
    if (port_text != NULL) {
        char *end = NULL;
        errno = 0;
        port = strtol(port_text, &end, 10);
        if (errno != 0 || end == port_text || *end != '\0' || port < 1 || port > 65535)
            goto bad;
    }
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        *sslen = sizeof(*v4);
        return FERRY_OK;
    }
    if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        *sslen = sizeof(*v6);
        return FERRY_OK;
    }
bad:
    return ferry_err_set(err, FERRY_ERR_INVALID,
                         "DNS server '%.100s' is not a numeric address[:port]", server);
}

/* Builds the query with res_nmkquery() on a private resolver state, so nothing is read from
 * the system's resolver configuration and threads share nothing. */
static ferry_rc build_query(const ferry_dnsq_request *req, unsigned char *buf, size_t bufsz,
                            size_t *qlen, ferry_err *err)
{
    struct __res_state state;
    memset(&state, 0, sizeof(state));
    int n = res_nmkquery(&state, ns_o_query, req->name, ns_c_in, (int)req->type, NULL, 0, NULL, buf,
                         (int)bufsz);
    if (n < DNSQ_HDR_LEN)
        return ferry_err_set(err, FERRY_ERR_INVALID, "cannot build a DNS query for '%.260s'",
                             req->name);
    /* A fresh random ID from the kernel (glibc's own is derived from the clock). */
    unsigned char id[2];
    if (getrandom(id, sizeof(id), 0) == (ssize_t)sizeof(id))
        memcpy(buf, id, sizeof(id));
    if (req->recurse)
        buf[2] |= 0x01; /* RD */
    else
        buf[2] &= (unsigned char)~0x01;
    *qlen = (size_t)n;
    return FERRY_OK;
}

/* Waits for fd to become ready for events before deadline: 1 ready, 0 timed out, -1 error. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = events};
        int n = poll(&pfd, 1, left_ms(deadline));
        if (n < 0 && errno == EINTR)
            continue;
        return n < 0 ? -1 : n;
    }
}

/* Question text for messages: "A www.example.test @127.0.0.1:53". */
#define QFMT       "%s %.260s @%.100s"
#define QARGS(req) ferry_dnsq_type_str((req)->type), (req)->name, (req)->server

/*
 * Sends the query over UDP (again after a third of the timeout if nothing came back) and takes
 * the first response with our ID and our question. *truncated tells the caller to go TCP;
 * otherwise ans is filled.
 */
static ferry_rc udp_exchange(const ferry_dnsq_request *req, const struct sockaddr_storage *ss,
                             socklen_t sslen, const unsigned char *q, size_t qlen, int64_t deadline,
                             long timeout_ms, bool *truncated, ferry_dnsq_answer *ans,
                             ferry_err *err)
{
    ferry_rc rc = FERRY_OK;
    unsigned char *buf = NULL;
    int fd = socket(ss->ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        rc = ferry_err_set_errno(err, FERRY_ERR_IO, errno, "DNS " QFMT ": UDP socket", QARGS(req));
        goto out;
    }
    /* A connected UDP socket only receives datagrams from the server, and reports an ICMP
     * port-unreachable as ECONNREFUSED. */
    if (connect(fd, (const struct sockaddr *)ss, sslen) < 0) {
        rc = ferry_err_set_errno(err, FERRY_ERR_UNAVAILABLE, errno, "DNS " QFMT ": UDP connect",
                                 QARGS(req));
        goto out;
    }
    buf = malloc(NS_MAXMSG);
    if (buf == NULL) {
        rc = ferry_err_set(err, FERRY_ERR_NOMEM, "DNS " QFMT, QARGS(req));
        goto out;
    }
    int64_t interval = timeout_ms / DNSQ_UDP_SENDS > 0 ? timeout_ms / DNSQ_UDP_SENDS : 1;
    int64_t next_send = ferry_mono_ms();
    int sends = 0;
    for (;;) {
        int64_t now = ferry_mono_ms();
        if (now >= deadline) {
            rc = ferry_err_set(err, FERRY_ERR_TIMEOUT, "DNS " QFMT ": no answer within %ld ms",
                               QARGS(req), timeout_ms);
            goto out;
        }
        if (sends < DNSQ_UDP_SENDS && now >= next_send) {
            ssize_t sent = send(fd, q, qlen, 0);
            if (sent < 0 && errno == ECONNREFUSED) {
                rc = ferry_err_set(err, FERRY_ERR_UNAVAILABLE,
                                   "DNS " QFMT ": nothing listens there (port unreachable)",
                                   QARGS(req));
                goto out;
            }
            if (sent < 0 && errno != EINTR && errno != EAGAIN) {
                rc = ferry_err_set_errno(err, FERRY_ERR_IO, errno, "DNS " QFMT ": UDP send",
                                         QARGS(req));
                goto out;
            }
            sends++;
            next_send = now + interval;
        }
        int64_t wake = sends < DNSQ_UDP_SENDS && next_send < deadline ? next_send : deadline;
        int ready = wait_fd(fd, POLLIN, wake);
        if (ready < 0) {
            rc = ferry_err_set_errno(err, FERRY_ERR_IO, errno, "DNS " QFMT ": poll", QARGS(req));
            goto out;
        }
        if (ready == 0)
            continue;
        ssize_t n = recv(fd, buf, NS_MAXMSG, 0);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            if (errno == ECONNREFUSED) {
                rc = ferry_err_set(err, FERRY_ERR_UNAVAILABLE,
                                   "DNS " QFMT ": nothing listens there (port unreachable)",
                                   QARGS(req));
                goto out;
            }
            rc = ferry_err_set_errno(err, FERRY_ERR_IO, errno, "DNS " QFMT ": UDP receive",
                                     QARGS(req));
            goto out;
        }
        /* Anything that is not a response to this very query is ignored: late answers to an
         * earlier query, or forgeries. */
        if (n < DNSQ_HDR_LEN || buf[0] != q[0] || buf[1] != q[1] || (buf[2] & 0x80) == 0)
            continue;
        if (buf[2] & 0x02) { /* TC */
            *truncated = true;
            goto out;
        }
        ferry_err perr;
        ferry_err_clear(&perr);
        rc = ferry_dnsq_parse(buf, (size_t)n, req->name, req->type, ans, &perr);
        if (rc == FERRY_ERR_PROTOCOL) {
            ferry_dnsq_answer_cleanup(ans);
            rc = FERRY_OK;
            continue;
        }
        if (rc != FERRY_OK) {
            rc = ferry_err_set(err, rc, "DNS " QFMT ": %s", QARGS(req), perr.msg);
            goto out;
        }
        goto out;
    }
out:
    free(buf);
    if (fd >= 0)
        (void)close(fd);
    return rc;
}

/* Sends or receives exactly len bytes on a non-blocking stream socket before deadline. */
static ferry_rc tcp_io(int fd, bool sending, unsigned char *p, size_t len, int64_t deadline,
                       const ferry_dnsq_request *req, ferry_err *err)
{
    while (len > 0) {
        ssize_t n = sending ? send(fd, p, len, MSG_NOSIGNAL) : recv(fd, p, len, 0);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n == 0)
            return ferry_err_set(err, FERRY_ERR_UNAVAILABLE,
                                 "DNS " QFMT ": server closed the TCP connection", QARGS(req));
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return ferry_err_set_errno(err, FERRY_ERR_UNAVAILABLE, errno, "DNS " QFMT ": TCP %s",
                                       QARGS(req), sending ? "send" : "receive");
        int ready = wait_fd(fd, sending ? POLLOUT : POLLIN, deadline);
        if (ready < 0)
            return ferry_err_set_errno(err, FERRY_ERR_IO, errno, "DNS " QFMT ": poll", QARGS(req));
        if (ready == 0)
            return ferry_err_set(err, FERRY_ERR_TIMEOUT, "DNS " QFMT ": no TCP answer in time",
                                 QARGS(req));
    }
    return FERRY_OK;
}

static ferry_rc tcp_exchange(const ferry_dnsq_request *req, const struct sockaddr_storage *ss,
                             socklen_t sslen, const unsigned char *q, size_t qlen, int64_t deadline,
                             ferry_dnsq_answer *ans, ferry_err *err)
{
    ferry_rc rc = FERRY_OK;
    unsigned char *buf = NULL;
    unsigned char out[2 + NS_PACKETSZ];
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        rc = ferry_err_set_errno(err, FERRY_ERR_IO, errno, "DNS " QFMT ": TCP socket", QARGS(req));
        goto out;
    }
    if (connect(fd, (const struct sockaddr *)ss, sslen) < 0) {
        if (errno != EINPROGRESS) {
            rc = ferry_err_set_errno(err, FERRY_ERR_UNAVAILABLE, errno, "DNS " QFMT ": TCP connect",
                                     QARGS(req));
            goto out;
        }
        int ready = wait_fd(fd, POLLOUT, deadline);
        if (ready <= 0) {
            rc = ready == 0 ? ferry_err_set(err, FERRY_ERR_TIMEOUT,
                                            "DNS " QFMT ": TCP connect timed out", QARGS(req))
                            : ferry_err_set_errno(err, FERRY_ERR_IO, errno, "DNS " QFMT ": poll",
                                                  QARGS(req));
            goto out;
        }
        int soerr = 0;
        socklen_t soerr_len = sizeof(soerr);
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &soerr_len) < 0)
            soerr = errno;
        if (soerr != 0) {
            rc = ferry_err_set_errno(err, FERRY_ERR_UNAVAILABLE, soerr, "DNS " QFMT ": TCP connect",
                                     QARGS(req));
            goto out;
        }
    }
    /* Length prefix and query in one write. */
    ns_put16((unsigned)qlen, out);
    memcpy(out + 2, q, qlen);
    rc = tcp_io(fd, true, out, qlen + 2, deadline, req, err);
    if (rc != FERRY_OK)
        goto out;
    unsigned char lenbuf[2];
    rc = tcp_io(fd, false, lenbuf, sizeof(lenbuf), deadline, req, err);
    if (rc != FERRY_OK)
        goto out;
    size_t rlen = ns_get16(lenbuf);
    if (rlen < DNSQ_HDR_LEN) {
        rc = ferry_err_set(err, FERRY_ERR_DECODE, "DNS " QFMT ": TCP response of %zu bytes",
                           QARGS(req), rlen);
        goto out;
    }
    buf = malloc(rlen);
    if (buf == NULL) {
        rc = ferry_err_set(err, FERRY_ERR_NOMEM, "DNS " QFMT, QARGS(req));
        goto out;
    }
    rc = tcp_io(fd, false, buf, rlen, deadline, req, err);
    if (rc != FERRY_OK)
        goto out;
    if (buf[0] != q[0] || buf[1] != q[1]) {
        rc = ferry_err_set(err, FERRY_ERR_PROTOCOL, "DNS " QFMT ": TCP response has another ID",
                           QARGS(req));
        goto out;
    }
    ferry_err perr;
    ferry_err_clear(&perr);
    rc = ferry_dnsq_parse(buf, rlen, req->name, req->type, ans, &perr);
    if (rc != FERRY_OK) {
        rc = ferry_err_set(err, rc, "DNS " QFMT ": %s", QARGS(req), perr.msg);
        goto out;
    }
    ans->via_tcp = true;
out:
    free(buf);
    if (fd >= 0)
        (void)close(fd);
    return rc;
}

ferry_rc ferry_dnsq_query(const ferry_dnsq_request *req, ferry_dnsq_answer *ans, ferry_err *err)
{
    ferry_rc rc = FERRY_OK;
    struct sockaddr_storage ss;
    socklen_t sslen = 0;
    unsigned char q[NS_PACKETSZ];
    size_t qlen = 0;
    bool truncated = false;
    memset(ans, 0, sizeof(*ans));

    if (req->name == NULL || req->name[0] == '\0' || !type_known(req->type)) {
        rc = ferry_err_set(err, FERRY_ERR_INVALID, "DNS query needs a name and a known type");
        goto out;
    }
    rc = parse_server(req->server, &ss, &sslen, err);
    if (rc != FERRY_OK)
        goto out;
    rc = build_query(req, q, sizeof(q), &qlen, err);
    if (rc != FERRY_OK)
        goto out;

    long timeout_ms = req->timeout_ms > 0 ? req->timeout_ms : DNSQ_DEFAULT_TIMEOUT_MS;
    int64_t deadline = ferry_mono_ms() + timeout_ms;
    if (!req->tcp) {
        rc = udp_exchange(req, &ss, sslen, q, qlen, deadline, timeout_ms, &truncated, ans, err);
        if (rc != FERRY_OK || !truncated)
            goto out;
    }
    rc = tcp_exchange(req, &ss, sslen, q, qlen, deadline, ans, err);
out:
    return rc;
}
