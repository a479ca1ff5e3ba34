/*
 * worker.h - the worker runtime every worker binary runs: consume one step kind's topic in a
 * consumer group, claim each attempt in Redis with a lease, run it on an executor thread while
 * the consumer keeps polling, renew the lease with progress, finish through the fenced script,
 * and drain on SIGTERM. docs/orchestration.md describes the protocol.
 *
 * A worker binary supplies only its executor (what a step of its kind does):
 *
 *     static ferry_rc run(ferry_step_ctx *ctx, const Ferry__V1__StepCommand *cmd, void *ud,
 *                         ferry_err *err);
 *     int main(int argc, char **argv)
 *     {
 *         ferry_worker_def def = {.kind = FERRY__V1__STEP_KIND__STEP_KIND_DNS,
 *                                 .component = FERRY_COMP_DNS, .name = "ferry-dns",
 *                                 .execute = run};
 *         return ferry_worker_main(argc, argv, &def);
 *     }
 */
#ifndef FERRY_WORKER_H
#define FERRY_WORKER_H

#include <stdbool.h>
#include <stdint.h>

#include "ferry.pb-c.h"
#include "ferry/error.h"
#include "ferry/steps.h"

/* One running attempt, as its executor sees it. Owned by the runtime; valid during execute. */
typedef struct ferry_step_ctx ferry_step_ctx;

/*
 * Runs one step. Called on an executor thread; cmd is borrowed for the call. Return FERRY_OK
 * when the step reached its end state, else an error code with err filled (the runtime reports
 * it, retryable per ferry_rc_retryable(code) unless ferry_step_set_retryable() said otherwise).
 * Must check ferry_step_stopping() often (and abort long calls through it): when it turns
 * true, return FERRY_ERR_CANCELLED promptly.
 */
typedef ferry_rc (*ferry_step_execute_fn)(ferry_step_ctx *ctx, const Ferry__V1__StepCommand *cmd,
                                          void *ud, ferry_err *err);

typedef struct ferry_worker_def {
    Ferry__V1__StepKind kind; /* the topic and consumer group */
    unsigned component;       /* FERRY_COMP_* whose settings to load */
    const char *name;         /* binary name for logs, usage and the Redis client name */
    ferry_step_execute_fn execute;
    void *ud; /* passed to execute */
} ferry_worker_def;

/*
 * The whole main() of a worker: parses argv (--help, --check-config, --version), loads the
 * configuration, installs signal handlers, opens Kafka and Redis, runs until SIGTERM/SIGINT, and
 * shuts down in order. Returns the process exit code: 0 after a clean shutdown, 2 for usage, 3
 * for bad configuration, 4 when a service could not be reached at start, 1 otherwise.
 */
int ferry_worker_main(int argc, char **argv, const ferry_worker_def *def);

/* ---- for executors ------------------------------------------------------------------------ */

/* True once the step must stop: its lease is lost or it was canceled, its deadline passed, or the
 * worker is shutting down. Thread-safe; cheap enough to call in a loop. */
bool ferry_step_stopping(const ferry_step_ctx *ctx);

/* Records progress; the lease thread writes the latest with a renewal within a second (else
 * renewals come every third of the lease). Strings copied. */
void ferry_step_progress_set(ferry_step_ctx *ctx, const ferry_step_progress *progress);

/* Adds one result (stored as r.<name> on success or failure); both strings copied. Returns
 * FERRY_ERR_INVALID for a bad name, FERRY_ERR_NOMEM. */
ferry_rc ferry_step_result(ferry_step_ctx *ctx, const char *name, const char *value);

/* Overrides whether the failure being returned can be retried. */
void ferry_step_set_retryable(ferry_step_ctx *ctx, bool retryable);

/* The worker's loaded settings (the component's rows: FERRY_DUMP_RESTORE_JOBS, ...); borrowed
 * for the life of the worker. */
const struct ferry_cfg *ferry_step_config(const ferry_step_ctx *ctx);

/* The worker id ("dump_restore@host:pid") and the step's deadline (ms, 0 for none). */
const char *ferry_step_worker_id(const ferry_step_ctx *ctx);
int64_t ferry_step_deadline_ms(const ferry_step_ctx *ctx);

/* When this attempt was claimed, by Redis's clock (ms). A later attempt of any step is claimed
 * later, so this orders the writers of an outside object: an executor stamps what it writes
 * with it, and refuses to write over a newer stamp (docs/security.md, "Stalled workers"). */
int64_t ferry_step_claimed_ms(const ferry_step_ctx *ctx);

#endif
