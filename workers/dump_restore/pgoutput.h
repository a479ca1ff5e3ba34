/*
 * pgoutput.h - decodes the messages of PostgreSQL's logical replication stream: the walsender's
 * envelope (XLogData, keepalive) and, inside XLogData, pgoutput's messages of protocol version 1
 * (Begin, Commit, Relation, Type, Origin, Message, Insert, Update, Delete, Truncate), as the
 * PostgreSQL documentation's "Logical Replication Message Formats" describes them. Pure: no
 * libpq, no allocation but a relation's names. docs/logical-replication.md says how Ferry uses it.
 */
#ifndef DR_PGOUTPUT_H
#define DR_PGOUTPUT_H

#include <stddef.h>
#include <stdint.h>

#include "ferry/error.h"

/* The most columns a PostgreSQL table can have (MaxTupleAttributeNumber). */
#define DR_PO_MAX_COLS 1664

/* ---- the walsender's envelope -----------------------------------------------------------------
 */

typedef enum dr_po_frame_kind {
    DR_PO_FRAME_XLOGDATA = 'w',  /* data: a pgoutput message */
    DR_PO_FRAME_KEEPALIVE = 'k', /* the server's position; it may want an answer */
} dr_po_frame_kind;

typedef struct dr_po_frame {
    dr_po_frame_kind kind;
    uint64_t wal_start;   /* XLogData: where this message's WAL starts (0 for some messages) */
    uint64_t wal_end;     /* how far the server has sent */
    int64_t send_time_us; /* the server's clock, microseconds since 2000-01-01 */
    int reply_requested;  /* keepalive: answer at once */
    const uint8_t *data;  /* XLogData: the pgoutput message, borrowed from the buffer */
    size_t len;
} dr_po_frame;

/* Decodes one CopyData message of the stream. FERRY_ERR_DECODE when it is short or unknown. */
ferry_rc dr_po_frame_decode(const uint8_t *buf, size_t len, dr_po_frame *frame, ferry_err *err);

/* Writes a standby status update (34 bytes) saying what has been written, flushed and applied;
 * now_us on the server's clock. Returns its length. */
size_t dr_po_status_encode(uint8_t out[34], uint64_t written, uint64_t flushed, uint64_t applied,
                           int64_t now_us, int reply);

/* Microseconds since 2000-01-01 (PostgreSQL's epoch) from the wall clock. */
int64_t dr_po_now_us(void);

/* ---- pgoutput's messages ----------------------------------------------------------------------
 */

typedef enum dr_po_kind {
    DR_PO_BEGIN = 'B',
    DR_PO_COMMIT = 'C',
    DR_PO_ORIGIN = 'O',
    DR_PO_RELATION = 'R',
    DR_PO_TYPE = 'Y',
    DR_PO_MESSAGE = 'M',
    DR_PO_INSERT = 'I',
    DR_PO_UPDATE = 'U',
    DR_PO_DELETE = 'D',
    DR_PO_TRUNCATE = 'T',
} dr_po_kind;

/* A column's value in a tuple. */
typedef enum dr_po_value_kind {
    DR_PO_NULL = 'n',
    DR_PO_UNCHANGED = 'u', /* an unchanged TOASTed value pgoutput did not resend */
    DR_PO_TEXT = 't',
    DR_PO_BINARY = 'b',
} dr_po_value_kind;

typedef struct dr_po_value {
    dr_po_value_kind kind;
    uint32_t len;
    const uint8_t *data; /* text: not NUL-terminated; borrowed from the buffer */
} dr_po_value;

typedef struct dr_po_tuple {
    uint16_t n;
    dr_po_value *values; /* n entries; storage belongs to the dr_po_msg */
} dr_po_tuple;

typedef struct dr_po_column {
    uint8_t flags; /* 1: part of the replica identity (the key) */
    char *name;
    uint32_t type_oid;
    int32_t typmod;
} dr_po_column;

/* A Relation message: what the following changes of relid look like. */
typedef struct dr_po_relation {
    uint32_t relid;
    char *nspname, *relname;
    char replident; /* 'd' default (primary key), 'n' nothing, 'f' full, 'i' index */
    uint16_t n;
    dr_po_column *cols;
} dr_po_relation;

/* Frees what a relation holds (not the struct). */
void dr_po_relation_cleanup(dr_po_relation *rel);

/* One decoded message. Values point into the decoded buffer and into this struct's own arrays:
 * borrowed until the next decode into it or dr_po_msg_free(). */
typedef struct dr_po_msg {
    dr_po_kind kind;
    uint64_t lsn;     /* Begin: the commit's LSN; Commit: the commit's LSN; Origin: its LSN */
    uint64_t end_lsn; /* Commit: the end of the transaction: where to resume after it */
    int64_t time_us;  /* Begin, Commit: the commit's time */
    uint32_t xid;     /* Begin */
    uint32_t relid;   /* Insert, Update, Delete */
    char old_kind;    /* Update, Delete: 'K' key, 'O' whole old row, 0 none */
    dr_po_tuple old_tuple, new_tuple;
    dr_po_relation relation; /* Relation: owned by the caller once decoded (see below) */
    uint32_t n_relids;       /* Truncate */
    uint32_t *relids;
    uint8_t truncate_options; /* 1 CASCADE, 2 RESTART IDENTITY */
    const char *text;         /* Type: its name; Message: its prefix; Origin: its name */
    /* storage */
    dr_po_value *old_store, *new_store;
    uint32_t relids_cap;
} dr_po_msg;

/* A message to decode into; caller frees with dr_po_msg_free(). NULL when out of memory. */
dr_po_msg *dr_po_msg_new(void);
void dr_po_msg_free(dr_po_msg *msg);

/*
 * Decodes one pgoutput message (an XLogData's data). A Relation's names and columns are
 * allocated: the caller takes msg->relation (and must then zero it) or leaves it to the next
 * decode, which frees it. FERRY_ERR_DECODE names what is wrong when the message is short,
 * malformed or of an unknown kind.
 */
ferry_rc dr_po_decode(dr_po_msg *msg, const uint8_t *buf, size_t len, ferry_err *err);

/* "16/B374D848" for an LSN. */
void dr_po_lsn_format(uint64_t lsn, char out[24]);

/* Parses "16/B374D848"; -1 when it is not an LSN. */
int dr_po_lsn_parse(const char *text, uint64_t *lsn);

#endif
