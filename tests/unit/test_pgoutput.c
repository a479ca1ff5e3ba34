/*
 * Unit tests of the logical replication stream's decoder (workers/dump_restore/pgoutput.h):
 * every pgoutput message kind built byte by byte as the PostgreSQL documentation lays them out,
 * the walsender's envelope, the standby status update, LSN text, and malformed input (every
 * truncation of every message, unknown kinds, bytes left over) refused without a crash.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry_test.h"
#include "pgoutput.h"

/* A message under construction. */
typedef struct msgbuf {
    uint8_t b[4096];
    size_t n;
} msgbuf;

static void put(msgbuf *m, const void *p, size_t n)
{
    memcpy(m->b + m->n, p, n);
    m->n += n;
}

static void u8(msgbuf *m, uint8_t v)
{
    put(m, &v, 1);
}

static void be(msgbuf *m, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--)
        u8(m, (uint8_t)(v >> (8 * i)));
}

static void str(msgbuf *m, const char *s)
{
    put(m, s, strlen(s) + 1);
}

static void text_value(msgbuf *m, const char *s)
{
    u8(m, 't');
    be(m, strlen(s), 4);
    put(m, s, strlen(s));
}

static msgbuf relation_msg(void)
{
    msgbuf m = {0};
    u8(&m, 'R');
    be(&m, 16385, 4);
    str(&m, "app");
    str(&m, "Orders");
    u8(&m, 'd');
    be(&m, 3, 2);
    u8(&m, 1), str(&m, "id"), be(&m, 23, 4), be(&m, 0xffffffff, 4);
    u8(&m, 0), str(&m, "note"), be(&m, 25, 4), be(&m, 0xffffffff, 4);
    u8(&m, 0), str(&m, "big"), be(&m, 25, 4), be(&m, 0xffffffff, 4);
    return m;
}

static msgbuf update_msg(void)
{
    msgbuf m = {0};
    u8(&m, 'U');
    be(&m, 16385, 4);
    u8(&m, 'K'); /* the key changed: the old key first */
    be(&m, 3, 2);
    text_value(&m, "7");
    u8(&m, 'n');
    u8(&m, 'n');
    u8(&m, 'N');
    be(&m, 3, 2);
    text_value(&m, "8");
    u8(&m, 'n');
    u8(&m, 'u'); /* an unchanged TOASTed value */
    return m;
}

static void decodes_every_kind(void)
{
    dr_po_msg *msg = dr_po_msg_new();
    ferry_err err = {0};
    CU_ASSERT_PTR_NOT_NULL_FATAL(msg);

    msgbuf m = {0};
    u8(&m, 'B'), be(&m, 0x100000200ULL, 8), be(&m, 123456789, 8), be(&m, 777, 4);
    CU_ASSERT_EQUAL(dr_po_decode(msg, m.b, m.n, &err), FERRY_OK);
    CU_ASSERT_EQUAL(msg->kind, DR_PO_BEGIN);
    CU_ASSERT_EQUAL(msg->lsn, 0x100000200ULL);
    CU_ASSERT_EQUAL(msg->time_us, 123456789);
    CU_ASSERT_EQUAL(msg->xid, 777);

    m = (msgbuf){0};
    u8(&m, 'C'), u8(&m, 0), be(&m, 0x100000200ULL, 8), be(&m, 0x100000238ULL, 8), be(&m, 5, 8);
    CU_ASSERT_EQUAL(dr_po_decode(msg, m.b, m.n, &err), FERRY_OK);
    CU_ASSERT_EQUAL(msg->kind, DR_PO_COMMIT);
    CU_ASSERT_EQUAL(msg->lsn, 0x100000200ULL);
    CU_ASSERT_EQUAL(msg->end_lsn, 0x100000238ULL);

    m = relation_msg();
    CU_ASSERT_EQUAL(dr_po_decode(msg, m.b, m.n, &err), FERRY_OK);
    CU_ASSERT_EQUAL(msg->kind, DR_PO_RELATION);
    CU_ASSERT_EQUAL(msg->relation.relid, 16385);
    CU_ASSERT_STRING_EQUAL(msg->relation.nspname, "app");
    CU_ASSERT_STRING_EQUAL(msg->relation.relname, "Orders");
    CU_ASSERT_EQUAL(msg->relation.replident, 'd');
    CU_ASSERT_EQUAL_FATAL(msg->relation.n, 3);
    CU_ASSERT_EQUAL(msg->relation.cols[0].flags, 1);
    CU_ASSERT_STRING_EQUAL(msg->relation.cols[1].name, "note");
    CU_ASSERT_EQUAL(msg->relation.cols[2].type_oid, 25);
    CU_ASSERT_EQUAL(msg->relation.cols[2].typmod, -1);
    /* Taking it: the next decode must not free what the caller now owns. */
    dr_po_relation taken = msg->relation;
    memset(&msg->relation, 0, sizeof(msg->relation));

    m = (msgbuf){0};
    u8(&m, 'I'), be(&m, 16385, 4), u8(&m, 'N'), be(&m, 3, 2);
    text_value(&m, "1");
    u8(&m, 'n');
    text_value(&m, "é\t\"x\"");
    CU_ASSERT_EQUAL(dr_po_decode(msg, m.b, m.n, &err), FERRY_OK);
    CU_ASSERT_EQUAL(msg->kind, DR_PO_INSERT);
    CU_ASSERT_EQUAL(msg->relid, 16385);
    CU_ASSERT_EQUAL(msg->old_kind, 0);
    CU_ASSERT_EQUAL_FATAL(msg->new_tuple.n, 3);
    CU_ASSERT_EQUAL(msg->new_tuple.values[0].kind, DR_PO_TEXT);
    CU_ASSERT_EQUAL(msg->new_tuple.values[0].len, 1);
    CU_ASSERT_EQUAL(msg->new_tuple.values[1].kind, DR_PO_NULL);
    CU_ASSERT_EQUAL(msg->new_tuple.values[2].len, strlen("é\t\"x\""));
    CU_ASSERT(memcmp(msg->new_tuple.values[2].data, "é\t\"x\"", strlen("é\t\"x\"")) == 0);

    m = update_msg();
    CU_ASSERT_EQUAL(dr_po_decode(msg, m.b, m.n, &err), FERRY_OK);
    CU_ASSERT_EQUAL(msg->kind, DR_PO_UPDATE);
    CU_ASSERT_EQUAL(msg->old_kind, 'K');
    CU_ASSERT_EQUAL(msg->old_tuple.n, 3);
    CU_ASSERT(memcmp(msg->old_tuple.values[0].data, "7", 1) == 0);
    CU_ASSERT(memcmp(msg->new_tuple.values[0].data, "8", 1) == 0);
    CU_ASSERT_EQUAL(msg->new_tuple.values[2].kind, DR_PO_UNCHANGED);

    /* An update without an old tuple (the key did not change). */
    m = (msgbuf){0};
    u8(&m, 'U'), be(&m, 16385, 4), u8(&m, 'N'), be(&m, 1, 2);
    text_value(&m, "9");
    CU_ASSERT_EQUAL(dr_po_decode(msg, m.b, m.n, &err), FERRY_OK);
    CU_ASSERT_EQUAL(msg->old_kind, 0);
    CU_ASSERT_EQUAL(msg->new_tuple.n, 1);

    m = (msgbuf){0};
    u8(&m, 'D'), be(&m, 16385, 4), u8(&m, 'O'), be(&m, 2, 2);
    text_value(&m, "1");
    u8(&m, 'n');
    CU_ASSERT_EQUAL(dr_po_decode(msg, m.b, m.n, &err), FERRY_OK);
    CU_ASSERT_EQUAL(msg->kind, DR_PO_DELETE);
    CU_ASSERT_EQUAL(msg->old_kind, 'O');
    CU_ASSERT_EQUAL(msg->old_tuple.n, 2);

    m = (msgbuf){0};
    u8(&m, 'T'), be(&m, 2, 4), u8(&m, 3), be(&m, 16385, 4), be(&m, 16390, 4);
    CU_ASSERT_EQUAL(dr_po_decode(msg, m.b, m.n, &err), FERRY_OK);
    CU_ASSERT_EQUAL(msg->kind, DR_PO_TRUNCATE);
    CU_ASSERT_EQUAL_FATAL(msg->n_relids, 2);
    CU_ASSERT_EQUAL(msg->relids[1], 16390);
    CU_ASSERT_EQUAL(msg->truncate_options, 3);

    m = (msgbuf){0};
    u8(&m, 'Y'), be(&m, 16400, 4), str(&m, "public"), str(&m, "mood");
    CU_ASSERT_EQUAL(dr_po_decode(msg, m.b, m.n, &err), FERRY_OK);
    CU_ASSERT_STRING_EQUAL(msg->text, "mood");

    m = (msgbuf){0};
    u8(&m, 'O'), be(&m, 42, 8), str(&m, "origin");
    CU_ASSERT_EQUAL(dr_po_decode(msg, m.b, m.n, &err), FERRY_OK);
    CU_ASSERT_STRING_EQUAL(msg->text, "origin");

    m = (msgbuf){0};
    u8(&m, 'M'), u8(&m, 0), be(&m, 42, 8), str(&m, "ferry"), be(&m, 3, 4), put(&m, "abc", 3);
    CU_ASSERT_EQUAL(dr_po_decode(msg, m.b, m.n, &err), FERRY_OK);
    CU_ASSERT_STRING_EQUAL(msg->text, "ferry");

    dr_po_relation_cleanup(&taken);
    dr_po_msg_free(msg);
}

/* Every prefix of a valid message is refused with DECODE, as is junk after it. */
static void refuses_malformed(void)
{
    dr_po_msg *msg = dr_po_msg_new();
    ferry_err err = {0};
    CU_ASSERT_PTR_NOT_NULL_FATAL(msg);
    msgbuf valid[] = {relation_msg(), update_msg()};
    for (size_t k = 0; k < 2; k++) {
        for (size_t n = 0; n < valid[k].n; n++) {
            ferry_rc rc = dr_po_decode(msg, valid[k].b, n, &err);
            CU_ASSERT_EQUAL(rc, FERRY_ERR_DECODE);
            if (rc != FERRY_ERR_DECODE)
                fprintf(stderr, "\nmessage %zu cut at %zu: %s\n", k, n, ferry_rc_str(rc));
        }
        msgbuf longer = valid[k];
        u8(&longer, 0);
        CU_ASSERT_EQUAL(dr_po_decode(msg, longer.b, longer.n, &err), FERRY_ERR_DECODE);
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "left over"));
    }
    uint8_t unknown[] = {'Z', 0, 0};
    CU_ASSERT_EQUAL(dr_po_decode(msg, unknown, sizeof(unknown), &err), FERRY_ERR_DECODE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "unknown message kind 0x5a"));
    /* A value of an unknown kind, and a value longer than the message. */
    msgbuf m = {0};
    u8(&m, 'I'), be(&m, 1, 4), u8(&m, 'N'), be(&m, 1, 2), u8(&m, 'x');
    CU_ASSERT_EQUAL(dr_po_decode(msg, m.b, m.n, &err), FERRY_ERR_DECODE);
    m = (msgbuf){0};
    u8(&m, 'I'), be(&m, 1, 4), u8(&m, 'N'), be(&m, 1, 2), u8(&m, 't'), be(&m, 0xfffffff0, 4);
    CU_ASSERT_EQUAL(dr_po_decode(msg, m.b, m.n, &err), FERRY_ERR_DECODE);
    /* A delete must say which row. */
    m = (msgbuf){0};
    u8(&m, 'D'), be(&m, 1, 4);
    CU_ASSERT_EQUAL(dr_po_decode(msg, m.b, m.n, &err), FERRY_ERR_DECODE);
    /* More columns than a table can have. */
    m = (msgbuf){0};
    u8(&m, 'I'), be(&m, 1, 4), u8(&m, 'N'), be(&m, 5000, 2);
    CU_ASSERT_EQUAL(dr_po_decode(msg, m.b, m.n, &err), FERRY_ERR_DECODE);
    dr_po_msg_free(msg);
}

static void frames_and_status(void)
{
    ferry_err err = {0};
    dr_po_frame f;
    msgbuf m = {0};
    u8(&m, 'w'), be(&m, 10, 8), be(&m, 20, 8), be(&m, 30, 8), put(&m, "B123", 4);
    CU_ASSERT_EQUAL(dr_po_frame_decode(m.b, m.n, &f, &err), FERRY_OK);
    CU_ASSERT_EQUAL(f.kind, DR_PO_FRAME_XLOGDATA);
    CU_ASSERT_EQUAL(f.wal_start, 10);
    CU_ASSERT_EQUAL(f.wal_end, 20);
    CU_ASSERT_EQUAL(f.len, 4);
    CU_ASSERT(memcmp(f.data, "B123", 4) == 0);

    m = (msgbuf){0};
    u8(&m, 'k'), be(&m, 0x5000, 8), be(&m, 99, 8), u8(&m, 1);
    CU_ASSERT_EQUAL(dr_po_frame_decode(m.b, m.n, &f, &err), FERRY_OK);
    CU_ASSERT_EQUAL(f.kind, DR_PO_FRAME_KEEPALIVE);
    CU_ASSERT_EQUAL(f.wal_end, 0x5000);
    CU_ASSERT_EQUAL(f.reply_requested, 1);
    CU_ASSERT_EQUAL(dr_po_frame_decode(m.b, m.n - 1, &f, &err), FERRY_ERR_DECODE);
    uint8_t odd[] = {'q'};
    CU_ASSERT_EQUAL(dr_po_frame_decode(odd, 1, &f, &err), FERRY_ERR_DECODE);

    uint8_t st[34];
    CU_ASSERT_EQUAL(dr_po_status_encode(st, 1, 0x0102030405060708ULL, 3, 4, 0), 34);
    CU_ASSERT_EQUAL(st[0], 'r');
    static const uint8_t flushed[] = {1, 2, 3, 4, 5, 6, 7, 8};
    CU_ASSERT(memcmp(st + 9, flushed, 8) == 0);
    CU_ASSERT_EQUAL(st[33], 0);
    /* The server's clock counts from 2000-01-01: now is after 2026 there too. */
    CU_ASSERT(dr_po_now_us() > 26LL * 365 * 24 * 3600 * 1000000LL);
}

static void lsn_text(void)
{
    char out[24];
    uint64_t lsn = 0;
    dr_po_lsn_format(0x16B374D848ULL, out);
    CU_ASSERT_STRING_EQUAL(out, "16/B374D848");
    CU_ASSERT_EQUAL(dr_po_lsn_parse("16/B374D848", &lsn), 0);
    CU_ASSERT_EQUAL(lsn, 0x16B374D848ULL);
    CU_ASSERT_EQUAL(dr_po_lsn_parse("0/0", &lsn), 0);
    CU_ASSERT_EQUAL(lsn, 0);
    CU_ASSERT_EQUAL(dr_po_lsn_parse("16B374D848", &lsn), -1);
    CU_ASSERT_EQUAL(dr_po_lsn_parse("1/", &lsn), -1);
    CU_ASSERT_EQUAL(dr_po_lsn_parse("1/2x", &lsn), -1);
    CU_ASSERT_EQUAL(dr_po_lsn_parse("-1/2", &lsn), -1);
    CU_ASSERT_EQUAL(dr_po_lsn_parse("100000000/0", &lsn), -1);
    CU_ASSERT_EQUAL(dr_po_lsn_parse(NULL, &lsn), -1);
}

static const ferry_test_case cases[] = {
    {"every pgoutput message kind", decodes_every_kind},
    {"malformed messages are refused", refuses_malformed},
    {"the envelope and the status update", frames_and_status},
    {"LSN text", lsn_text},
    {NULL, NULL},
};

int main(void)
{
    static const ferry_test_suite suites[] = {{"pgoutput", NULL, NULL, cases},
                                              {NULL, NULL, NULL, NULL}};
    return ferry_test_main(suites);
}
