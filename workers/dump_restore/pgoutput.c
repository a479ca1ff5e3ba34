/*
 * pgoutput.c - the logical replication stream's messages (see pgoutput.h).
 */
#include "pgoutput.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Seconds from 1970-01-01 to 2000-01-01, PostgreSQL's epoch. */
#define PG_EPOCH_OFFSET_S 946684800LL

/* A cursor over a message, in network byte order. Reads past the end set short_read. */
typedef struct reader {
    const uint8_t *p, *end;
    int short_read;
} reader;

static uint64_t rd_be(reader *r, size_t n)
{
    uint64_t v = 0;
    if ((size_t)(r->end - r->p) < n) {
        r->short_read = 1;
        r->p = r->end;
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | r->p[i];
    r->p += n;
    return v;
}

static uint8_t rd_u8(reader *r)
{
    return (uint8_t)rd_be(r, 1);
}

static uint16_t rd_u16(reader *r)
{
    return (uint16_t)rd_be(r, 2);
}

static uint32_t rd_u32(reader *r)
{
    return (uint32_t)rd_be(r, 4);
}

static uint64_t rd_u64(reader *r)
{
    return rd_be(r, 8);
}

/* A NUL-terminated string inside the message; NULL (and short_read) without its NUL. */
static const char *rd_str(reader *r)
{
    const uint8_t *nul = memchr(r->p, '\0', (size_t)(r->end - r->p));
    if (nul == NULL) {
        r->short_read = 1;
        r->p = r->end;
        return NULL;
    }
    const char *s = (const char *)r->p;
    r->p = nul + 1;
    return s;
}

static void wr_u64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)(v & 0xff);
        v >>= 8;
    }
}

/* ---- the envelope ---------------------------------------------------------------------------- */

ferry_rc dr_po_frame_decode(const uint8_t *buf, size_t len, dr_po_frame *frame, ferry_err *err)
{
    reader r = {.p = buf, .end = buf + len};
    memset(frame, 0, sizeof(*frame));
    uint8_t kind = rd_u8(&r);
    if (kind == DR_PO_FRAME_XLOGDATA) {
        frame->kind = DR_PO_FRAME_XLOGDATA;
        frame->wal_start = rd_u64(&r);
        frame->wal_end = rd_u64(&r);
        frame->send_time_us = (int64_t)rd_u64(&r);
        frame->data = r.p;
        frame->len = (size_t)(r.end - r.p);
    } else if (kind == DR_PO_FRAME_KEEPALIVE) {
        frame->kind = DR_PO_FRAME_KEEPALIVE;
        frame->wal_end = rd_u64(&r);
        frame->send_time_us = (int64_t)rd_u64(&r);
        frame->reply_requested = rd_u8(&r);
    } else {
        return ferry_err_set(err, FERRY_ERR_DECODE,
                             "replication stream: unknown message kind 0x%02x", kind);
    }
    if (r.short_read)
        return ferry_err_set(err, FERRY_ERR_DECODE, "replication stream: a short '%c' message",
                             kind);
    return FERRY_OK;
}

size_t dr_po_status_encode(uint8_t out[34], uint64_t written, uint64_t flushed, uint64_t applied,
                           int64_t now_us, int reply)
{
    out[0] = 'r';
    wr_u64(out + 1, written);
    wr_u64(out + 9, flushed);
    wr_u64(out + 17, applied);
    wr_u64(out + 25, (uint64_t)now_us);
    out[33] = reply ? 1 : 0;
    return 34;
}

int64_t dr_po_now_us(void)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_REALTIME, &ts);
    return ((int64_t)ts.tv_sec - PG_EPOCH_OFFSET_S) * 1000000LL + (int64_t)ts.tv_nsec / 1000;
}

/* ---- pgoutput -------------------------------------------------------------------------------- */

dr_po_msg *dr_po_msg_new(void)
{
    dr_po_msg *msg = calloc(1, sizeof(*msg));
    if (msg == NULL)
        return NULL;
    msg->old_store = calloc(DR_PO_MAX_COLS, sizeof(dr_po_value));
    msg->new_store = calloc(DR_PO_MAX_COLS, sizeof(dr_po_value));
    if (msg->old_store == NULL || msg->new_store == NULL) {
        dr_po_msg_free(msg);
        return NULL;
    }
    return msg;
}

void dr_po_relation_cleanup(dr_po_relation *rel)
{
    if (rel == NULL)
        return;
    for (uint16_t i = 0; rel->cols != NULL && i < rel->n; i++)
        free(rel->cols[i].name);
    free(rel->cols);
    free(rel->nspname);
    free(rel->relname);
    memset(rel, 0, sizeof(*rel));
}

void dr_po_msg_free(dr_po_msg *msg)
{
    if (msg == NULL)
        return;
    dr_po_relation_cleanup(&msg->relation);
    free(msg->old_store);
    free(msg->new_store);
    free(msg->relids);
    free(msg);
}

/* TupleData into tuple, its values in store. */
static ferry_rc rd_tuple(reader *r, dr_po_tuple *tuple, dr_po_value *store, ferry_err *err)
{
    tuple->n = rd_u16(r);
    tuple->values = store;
    if (tuple->n > DR_PO_MAX_COLS)
        return ferry_err_set(err, FERRY_ERR_DECODE, "pgoutput: a tuple of %u columns",
                             (unsigned)tuple->n);
    for (uint16_t i = 0; i < tuple->n && !r->short_read; i++) {
        dr_po_value *v = &store[i];
        memset(v, 0, sizeof(*v));
        uint8_t kind = rd_u8(r);
        switch (kind) {
        case DR_PO_NULL:
        case DR_PO_UNCHANGED:
            v->kind = (dr_po_value_kind)kind;
            break;
        case DR_PO_TEXT:
        case DR_PO_BINARY:
            v->kind = (dr_po_value_kind)kind;
            v->len = rd_u32(r);
            if ((size_t)(r->end - r->p) < v->len) {
                r->short_read = 1;
                break;
            }
            v->data = r->p;
            r->p += v->len;
            break;
        default:
            if (r->short_read)
                break;
            return ferry_err_set(err, FERRY_ERR_DECODE,
                                 "pgoutput: column %u has an unknown value kind 0x%02x",
                                 (unsigned)i + 1, kind);
        }
    }
    return FERRY_OK;
}

static char *dup_str(reader *r)
{
    const char *s = rd_str(r);
    return s != NULL ? strdup(s) : NULL;
}

static ferry_rc rd_relation(reader *r, dr_po_relation *rel, ferry_err *err)
{
    rel->relid = rd_u32(r);
    rel->nspname = dup_str(r);
    rel->relname = dup_str(r);
    rel->replident = (char)rd_u8(r);
    rel->n = rd_u16(r);
    if (r->short_read)
        return FERRY_OK; /* the caller reports it */
    if (rel->nspname == NULL || rel->relname == NULL)
        return ferry_err_set(err, FERRY_ERR_NOMEM, "pgoutput: out of memory");
    if (rel->n > DR_PO_MAX_COLS)
        return ferry_err_set(err, FERRY_ERR_DECODE, "pgoutput: a relation of %u columns",
                             (unsigned)rel->n);
    rel->cols = calloc(rel->n > 0 ? rel->n : 1, sizeof(dr_po_column));
    if (rel->cols == NULL)
        return ferry_err_set(err, FERRY_ERR_NOMEM, "pgoutput: out of memory");
    for (uint16_t i = 0; i < rel->n && !r->short_read; i++) {
        dr_po_column *c = &rel->cols[i];
        c->flags = rd_u8(r);
        c->name = dup_str(r);
        c->type_oid = rd_u32(r);
        c->typmod = (int32_t)rd_u32(r);
        if (c->name == NULL && !r->short_read)
            return ferry_err_set(err, FERRY_ERR_NOMEM, "pgoutput: out of memory");
    }
    return FERRY_OK;
}

/* 'K' or 'O' then a tuple, when the next byte is one of those. */
static ferry_rc rd_old(reader *r, dr_po_msg *msg, ferry_err *err)
{
    if (r->p < r->end && (*r->p == 'K' || *r->p == 'O')) {
        msg->old_kind = (char)rd_u8(r);
        return rd_tuple(r, &msg->old_tuple, msg->old_store, err);
    }
    return FERRY_OK;
}

static ferry_rc rd_new(reader *r, dr_po_msg *msg, ferry_err *err)
{
    uint8_t n = rd_u8(r);
    if (r->short_read)
        return FERRY_OK;
    if (n != 'N')
        return ferry_err_set(err, FERRY_ERR_DECODE,
                             "pgoutput: expected a new tuple ('N'), found 0x%02x", n);
    return rd_tuple(r, &msg->new_tuple, msg->new_store, err);
}

ferry_rc dr_po_decode(dr_po_msg *msg, const uint8_t *buf, size_t len, ferry_err *err)
{
    reader r = {.p = buf, .end = buf + len};
    ferry_rc rc = FERRY_OK;
    dr_po_relation_cleanup(&msg->relation);
    msg->lsn = msg->end_lsn = 0;
    msg->time_us = 0;
    msg->xid = msg->relid = msg->n_relids = 0;
    msg->old_kind = 0;
    msg->old_tuple = (dr_po_tuple){0};
    msg->new_tuple = (dr_po_tuple){0};
    msg->truncate_options = 0;
    msg->text = NULL;

    uint8_t kind = rd_u8(&r);
    msg->kind = (dr_po_kind)kind;
    switch (kind) {
    case DR_PO_BEGIN:
        msg->lsn = rd_u64(&r);
        msg->time_us = (int64_t)rd_u64(&r);
        msg->xid = rd_u32(&r);
        break;
    case DR_PO_COMMIT:
        (void)rd_u8(&r); /* flags, unused */
        msg->lsn = rd_u64(&r);
        msg->end_lsn = rd_u64(&r);
        msg->time_us = (int64_t)rd_u64(&r);
        break;
    case DR_PO_ORIGIN:
        msg->lsn = rd_u64(&r);
        msg->text = rd_str(&r);
        break;
    case DR_PO_RELATION:
        rc = rd_relation(&r, &msg->relation, err);
        break;
    case DR_PO_TYPE:
        msg->relid = rd_u32(&r); /* the type's oid */
        (void)rd_str(&r);        /* its schema */
        msg->text = rd_str(&r);
        break;
    case DR_PO_MESSAGE: {
        (void)rd_u8(&r); /* flags: transactional or not */
        msg->lsn = rd_u64(&r);
        msg->text = rd_str(&r);
        uint32_t n = rd_u32(&r);
        if ((size_t)(r.end - r.p) < n)
            r.short_read = 1;
        else
            r.p += n;
        break;
    }
    case DR_PO_INSERT:
        msg->relid = rd_u32(&r);
        rc = rd_new(&r, msg, err);
        break;
    case DR_PO_UPDATE:
        msg->relid = rd_u32(&r);
        rc = rd_old(&r, msg, err);
        if (rc == FERRY_OK)
            rc = rd_new(&r, msg, err);
        break;
    case DR_PO_DELETE:
        msg->relid = rd_u32(&r);
        rc = rd_old(&r, msg, err);
        if (rc == FERRY_OK && msg->old_kind == 0 && !r.short_read)
            rc = ferry_err_set(err, FERRY_ERR_DECODE, "pgoutput: a delete without its old key");
        break;
    case DR_PO_TRUNCATE: {
        uint32_t n = rd_u32(&r);
        msg->truncate_options = rd_u8(&r);
        if (r.short_read || (size_t)(r.end - r.p) / 4 < n) {
            r.short_read = 1;
            break;
        }
        if (n > msg->relids_cap) {
            uint32_t *p = realloc(msg->relids, (size_t)n * sizeof(uint32_t));
            if (p == NULL)
                return ferry_err_set(err, FERRY_ERR_NOMEM, "pgoutput: out of memory");
            msg->relids = p;
            msg->relids_cap = n;
        }
        msg->n_relids = n;
        for (uint32_t i = 0; i < n; i++)
            msg->relids[i] = rd_u32(&r);
        break;
    }
    default:
        return ferry_err_set(err, FERRY_ERR_DECODE, "pgoutput: unknown message kind 0x%02x", kind);
    }
    if (rc != FERRY_OK)
        return rc;
    if (r.short_read)
        return ferry_err_set(err, FERRY_ERR_DECODE, "pgoutput: a short '%c' message", kind);
    if (r.p != r.end)
        return ferry_err_set(err, FERRY_ERR_DECODE,
                             "pgoutput: %zu bytes left over after a '%c' message",
                             (size_t)(r.end - r.p), kind);
    return FERRY_OK;
}

void dr_po_lsn_format(uint64_t lsn, char out[24])
{
    (void)snprintf(out, 24, "%" PRIX32 "/%" PRIX32, (uint32_t)(lsn >> 32), (uint32_t)lsn);
}

int dr_po_lsn_parse(const char *text, uint64_t *lsn)
{
    char *end = NULL;
    if (text == NULL || !isxdigit((unsigned char)text[0]))
        return -1;
    unsigned long long hi = strtoull(text, &end, 16);
    if (end == text || *end != '/' || hi > 0xffffffffULL)
        return -1;
    const char *lo_text = end + 1;
    if (!isxdigit((unsigned char)lo_text[0]))
        return -1;
    unsigned long long lo = strtoull(lo_text, &end, 16);
    if (end == lo_text || *end != '\0' || lo > 0xffffffffULL)
        return -1;
    *lsn = ((uint64_t)hi << 32) | (uint64_t)lo;
    return 0;
}
