/* fuzz_wire.c - a step command off a topic: decode, validate, and the digest a claim presents.
 * Whatever the bytes, the decoder answers OK, DECODE or INVALID and never reads out of bounds. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "ferry/steps.h"
#include "ferry/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Ferry__V1__StepCommand *cmd = NULL;
    ferry_err err;
    ferry_rc rc = ferry_wire_step_decode(data, size, &cmd, &err);
    if (rc == FERRY_OK) {
        char digest[FERRY_STEPS_DIGEST_LEN + 1];
        if (ferry_wire_step_validate(cmd, &err) != FERRY_OK ||
            ferry_steps_command_digest(cmd, digest, &err) != FERRY_OK)
            abort(); /* a decoded command is valid, and can be digested */
        (void)ferry_wire_operation_name(cmd->operation);
        (void)ferry_wire_kind_name(cmd->kind);
        ferry_wire_step_free(cmd);
    } else if (cmd != NULL) {
        abort(); /* a refused message leaves nothing to free */
    }
    return 0;
}
