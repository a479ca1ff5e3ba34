/* fuzz_pgoutput.c - a logical replication stream's message from the source server: decoded as
 * the walsender's envelope and, inside XLogData, as a pgoutput message; the input is also
 * decoded as a pgoutput message directly, into the same reused message (as the stream does). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "pgoutput.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static dr_po_msg *msg;
    if (msg == NULL)
        msg = dr_po_msg_new(); /* reused across inputs, as a stream reuses it */
    if (msg == NULL)
        return 0;
    ferry_err err;
    dr_po_frame frame;
    if (dr_po_frame_decode(data, size, &frame, &err) == FERRY_OK &&
        frame.kind == DR_PO_FRAME_XLOGDATA)
        (void)dr_po_decode(msg, frame.data, frame.len, &err);
    (void)dr_po_decode(msg, data, size, &err);
    if (msg->kind == DR_PO_RELATION) {
        /* Taken by the caller, as the apply does, then released. */
        dr_po_relation rel = msg->relation;
        msg->relation = (dr_po_relation){0};
        dr_po_relation_cleanup(&rel);
    }
    return 0;
}
