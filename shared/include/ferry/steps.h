/*
 * steps.h - the fenced changes of a step record: dispatch, claim, renew, finish, expire, refuse.
 * Part of the state module (ferry/state.h): it alone knows the keys named below.
 *
 * Each call runs one script of shared/lua/step_*.lua through ferry_store_script(): the script
 * checks the step's state, attempt and (for a worker) owner before it writes anything, uses
 * Redis's clock, and keeps the global indexes (the queue of its kind, the leases) in step with
 * the record. docs/orchestration.md has the states and fields. Every change but a renewal
 * appends an event to the event stream and to the migration's history.
 *
 * A refused change returns FERRY_ERR_CONFLICT (FERRY_ERR_LEASE_LOST for a renewal) with the
 * record's current state, attempt and owner in the ferry_step_seen the caller passed.
 */
#ifndef FERRY_STEPS_H
#define FERRY_STEPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/error.h"
#include "ferry/store.h"

/* Which attempt of which step; strings borrowed for the call. */
typedef struct ferry_step_ref {
    const char *migration; /* "shop.production" */
    const char *step;      /* "dr-3" */
    int64_t attempt;       /* >= 1 */
} ferry_step_ref;

/* What a refused (or accepted) change found. */
typedef struct ferry_step_seen {
    char state[32];
    int64_t attempt;
    char owner[FERRY_STORE_NAME_MAX + 1];
    int64_t lease_until; /* ms since the epoch, Redis clock; 0 when none */
    int64_t now;         /* Redis's time when the script ran, ms */
} ferry_step_seen;

/* Progress of a running attempt. detail and unit borrowed for the call; NULL for none. */
typedef struct ferry_step_progress {
    uint64_t done, total;
    const char *unit;
    uint64_t bytes_done, bytes_total;
    uint64_t rows;
    const char *detail;
} ferry_step_progress;

/* The end of an attempt. */
typedef enum ferry_step_outcome {
    FERRY_STEP_SUCCEEDED = 0,
    FERRY_STEP_FAILED = 1,
    FERRY_STEP_RELEASED = 2, /* given back unfinished (shutdown) */
} ferry_step_outcome;

/* Length of a command digest: SHA-256 in lower-case hex. */
#define FERRY_STEPS_DIGEST_LEN 64

struct Ferry__V1__StepCommand;

/*
 * The digest that binds an attempt to its command: SHA-256 (hex) of the command packed with
 * its envelope (issued_unix_ms, issued_by) cleared, so every publish of one attempt has the
 * same digest and any other parameter (a connection, a directory, a bucket, a secret's name,
 * the deadline) gives another. The coordinator records it at dispatch; a worker's claim must
 * present the digest of the command it received (docs/security.md).
 */
ferry_rc ferry_steps_command_digest(const struct Ferry__V1__StepCommand *cmd,
                                    char out[FERRY_STEPS_DIGEST_LEN + 1], ferry_err *err);

/*
 * Coordinator: pending at ref->attempt -> dispatched; records digest (the command's, from
 * ferry_steps_command_digest) and adds "<mig> <step> <attempt>" to the queue of kind scored
 * by now. kind: wire kind name. Not retried on a lost connection.
 */
ferry_rc ferry_steps_dispatch(ferry_store *store, const ferry_step_ref *ref, const char *kind,
                              const char *actor, const char *digest, ferry_step_seen *seen,
                              ferry_err *err);

/*
 * Worker: dispatched at ref->attempt -> running, owned by worker until now + lease_ms.
 * FERRY_ERR_CONFLICT when the attempt is not there to take (running elsewhere, finished,
 * superseded, canceled): seen says what it is. FERRY_ERR_INVALID when digest (of the command
 * the worker received) is not the one recorded at dispatch: the command is not the
 * coordinator's, and the worker dead-letters it without running it. Not retried on a lost
 * connection (a retried claim would then be refused as "running, owned by this worker": see
 * ferry_steps_claim's caller in worker.c, which treats that case as claimed).
 */
ferry_rc ferry_steps_claim(ferry_store *store, const ferry_step_ref *ref, const char *kind,
                           const char *worker, int64_t lease_ms, const char *digest,
                           ferry_step_seen *seen, ferry_err *err);

/* Worker: extends the lease of a running attempt it owns to now + lease_ms and stores progress
 * (may be NULL). FERRY_ERR_LEASE_LOST when the attempt is no longer running under worker, or
 * its lease_until is not after Redis's clock (even before the coordinator expired it). */
ferry_rc ferry_steps_renew(ferry_store *store, const ferry_step_ref *ref, const char *worker,
                           int64_t lease_ms, const ferry_step_progress *progress,
                           ferry_step_seen *seen, ferry_err *err);

/* How an attempt ended; everything borrowed for the call. */
typedef struct ferry_step_end {
    ferry_step_outcome outcome;
    const ferry_err *error;              /* FAILED: code and message (without secrets) */
    bool retryable;                      /* FAILED: whether a retry can help */
    const ferry_step_progress *progress; /* the last progress; NULL for none */
    const ferry_store_field *results;    /* n_results pairs stored as r.<name> (names:
                                            printable ASCII, no space) */
    size_t n_results;
} ferry_step_end;

/* Worker: ends a running attempt it owns, as *end says. FERRY_ERR_CONFLICT (nothing written)
 * when it is no longer running under worker or its lease_until is not after Redis's clock. */
ferry_rc ferry_steps_finish(ferry_store *store, const ferry_step_ref *ref, const char *worker,
                            const ferry_step_end *end, ferry_step_seen *seen, ferry_err *err);

/* Coordinator: running at ref->attempt with lease_until < now -> expired (error: lease lost by
 * its owner). FERRY_ERR_CONFLICT when not running at that attempt; FERRY_ERR_BUSY when the lease
 * has not expired yet (seen->lease_until says until when). */
ferry_rc ferry_steps_expire(ferry_store *store, const ferry_step_ref *ref, const char *actor,
                            ferry_step_seen *seen, ferry_err *err);

/* Coordinator: pending at ref->attempt -> failed for good (not retryable), with why as its
 * error: the step's command cannot be built (its spec lost an environment, ...). Refused
 * (FERRY_ERR_CONFLICT) when the step moved on meanwhile. Not retried on a lost connection. */
ferry_rc ferry_steps_refuse(ferry_store *store, const ferry_step_ref *ref, const char *actor,
                            const ferry_err *why, ferry_err *err);

/* What counting a dead letter did. */
typedef enum ferry_steps_dl {
    FERRY_STEPS_DL_IGNORED = 0, /* the attempt is not dispatched (claimed, ended, superseded) */
    FERRY_STEPS_DL_COUNTED = 1, /* counted; fewer than max so far */
    FERRY_STEPS_DL_FAILED = 2,  /* the max-th: the step failed for good with the reason */
} ferry_steps_dl;

/*
 * Coordinator: a worker sent the command of attempt ref (of kind, a wire kind name) to the
 * dead-letter topic with reason. Counts it on the record; at the max-th dead letter of the same
 * attempt the step fails for good (not retryable, error "rejected by every worker (n dead
 * letters): <reason>", FERRY_ERR_PROTOCOL), so it is not published again without end and the
 * migration can be replayed. *outcome and *count say what happened. Not retried on a lost
 * connection.
 */
ferry_rc ferry_steps_dead_lettered(ferry_store *store, const ferry_step_ref *ref, const char *kind,
                                   const char *actor, const char *reason, int64_t max,
                                   ferry_steps_dl *outcome, int64_t *count, ferry_err *err);

/* The "<mig> <step> <attempt>" member of the queues and the leases, parsed. Writes
 * into the caller's buffers; false when member is not of that form. */
bool ferry_steps_member_parse(const char *member, char *mig, size_t migsz, char *step,
                              size_t stepsz, int64_t *attempt);

#endif
