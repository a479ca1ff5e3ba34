/*
 * dnsq.h - asks one DNS server directly for one name and type (libresolv, plain sockets).
 *
 * Used to check that a name server answers the way a change meant it to. The server is given as
 * a numeric address and port; /etc/resolv.conf, /etc/hosts and the system resolver are never
 * consulted. The query goes over UDP (retransmitted within the timeout) and falls back to TCP
 * when the answer comes back truncated. Thread-safe: no shared state.
 */
#ifndef FERRY_DNSQ_H
#define FERRY_DNSQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/error.h"

/* The record types whose data this module turns into text (values are the DNS type codes). */
typedef enum ferry_dnsq_type {
    FERRY_DNSQ_A = 1,
    FERRY_DNSQ_NS = 2,
    FERRY_DNSQ_CNAME = 5,
    FERRY_DNSQ_SOA = 6,
    FERRY_DNSQ_MX = 15,
    FERRY_DNSQ_TXT = 16,
    FERRY_DNSQ_AAAA = 28,
} ferry_dnsq_type;

/* The response code of an answer (values are the DNS RCODEs; others may arrive too). */
typedef enum ferry_dnsq_rcode {
    FERRY_DNSQ_NOERROR = 0,  /* the name exists (the record set may still be empty) */
    FERRY_DNSQ_FORMERR = 1,  /* the server could not read the query */
    FERRY_DNSQ_SERVFAIL = 2, /* the server failed (backend down, ...) */
    FERRY_DNSQ_NXDOMAIN = 3, /* the name does not exist in a zone the server serves */
    FERRY_DNSQ_NOTIMP = 4,   /* the server does not implement the query */
    FERRY_DNSQ_REFUSED = 5,  /* the server refuses: for an authoritative server, no such zone */
} ferry_dnsq_rcode;

/* One answer record of the asked type. */
typedef struct ferry_dnsq_record {
    uint32_t ttl;
    /* The record data as text, NUL-terminated:
     *   A, AAAA  the address ("192.0.2.10", "2001:db8::1")
     *   CNAME,NS the target name, fully qualified, lower case as sent ("host.example.test.")
     *   MX       "<preference> <exchange>."
     *   SOA      "<mname>. <rname>. <serial> <refresh> <retry> <expire> <minimum>"
     *   TXT      the character-strings concatenated, raw bytes, no quotes (may hold NULs:
     *            text_len is the length) */
    char *text;
    size_t text_len;
} ferry_dnsq_record;

/* A response. Fill it with ferry_dnsq_query() or ferry_dnsq_parse(); release it with
 * ferry_dnsq_answer_cleanup(). */
typedef struct ferry_dnsq_answer {
    ferry_dnsq_rcode rcode;
    bool authoritative;         /* the AA flag */
    bool via_tcp;               /* the answer came over TCP (truncated over UDP, or asked so) */
    size_t count;               /* records of the asked type in the answer section */
    ferry_dnsq_record *records; /* owned by the answer */
} ferry_dnsq_answer;

typedef struct ferry_dnsq_request {
    const char *server; /* "127.0.0.1:15353", "[::1]:5353", or an address alone (port 53) */
    const char *name;   /* "www.example.test", with or without the trailing dot */
    ferry_dnsq_type type;
    long timeout_ms; /* for the whole query, TCP fallback included; 0: 5000 */
    bool recurse;    /* set RD: only for a recursive resolver; off for authoritative ones */
    bool tcp;        /* skip UDP and ask over TCP */
} ferry_dnsq_request;

/*
 * Asks req->server and fills ans (cleared first). Returns FERRY_OK when a response arrived,
 * whatever its rcode: read ans->rcode (ferry_dnsq_rcode_rc() turns it into a result).
 * Failures: INVALID (bad server, name or type), TIMEOUT (no answer before the deadline),
 * UNAVAILABLE (ICMP port unreachable, TCP connection refused or closed), DECODE (a response
 * that cannot be parsed), PROTOCOL (a TCP response to another question), IO, NOMEM.
 * Always release ans with ferry_dnsq_answer_cleanup(), also after a failure.
 */
ferry_rc ferry_dnsq_query(const ferry_dnsq_request *req, ferry_dnsq_answer *ans, ferry_err *err);

/*
 * Parses one DNS response message (no transport, no ID check) into ans: it must be a response
 * whose question is `name`/`type`/IN. Returns FERRY_OK, DECODE for a malformed message, PROTOCOL
 * for a response to another question, NOMEM. Release ans with ferry_dnsq_answer_cleanup().
 */
ferry_rc ferry_dnsq_parse(const unsigned char *msg, size_t len, const char *name,
                          ferry_dnsq_type type, ferry_dnsq_answer *ans, ferry_err *err);

/* Frees the records and clears ans (may be NULL). */
void ferry_dnsq_answer_cleanup(ferry_dnsq_answer *ans);

/* True when a record's text equals text; names (CNAME, NS) compare case-insensitively and with
 * or without the trailing dot. */
bool ferry_dnsq_answer_has(const ferry_dnsq_answer *ans, ferry_dnsq_type type, const char *text);

/* Maps an rcode to a result: NOERROR OK, NXDOMAIN NOT_FOUND, REFUSED PERMISSION, SERVFAIL SERVER,
 * NOTIMP UNSUPPORTED, FORMERR and others PROTOCOL. */
ferry_rc ferry_dnsq_rcode_rc(ferry_dnsq_rcode rcode);

/* "NOERROR", "NXDOMAIN", ...; "RCODE?" for codes without a name. Never NULL. */
const char *ferry_dnsq_rcode_str(ferry_dnsq_rcode rcode);

/* "A", "TXT", ...; "TYPE?" for others. Never NULL. */
const char *ferry_dnsq_type_str(ferry_dnsq_type type);

#endif
