/*
 * view.h - ferryctl's text views of the coordinator's API objects (docs/api.md): the status
 * table, a migration's detail, the steps, workers, dead-letter, history, users and audit tables,
 * the session line, and the progress bars of `ferryctl watch`.
 *
 * Pure functions: JSON in, text out; no network, no clock (callers pass now_ms). Each view
 * appends to a ferry_buf the caller owns (out of memory is sticky: check out->oom once, or let
 * fv_buf_write() report it). A missing, null or mistyped field prints as "-" and never crashes.
 * Columns are as wide as their widest cell, two spaces apart, with no trailing blanks. Text from
 * the server has its control characters replaced, so it cannot move the cursor. Times are UTC,
 * but for the users' and audit views, which show local time with its offset (fv_time_local(),
 * which depends on TZ).
 */
#ifndef FERRY_VIEW_H
#define FERRY_VIEW_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ferry/buf.h"
#include "ferry/error.h"

/* Width of the bar (between the brackets) used by fv_watch_frame(). */
#define FV_BAR_WIDTH 30

/* A duration: "850ms", "8s", "1m02s", "1h05m", "2d03h"; "-" when ms < 0. Writes into out
 * (24 bytes are always enough) and returns it. */
const char *fv_duration(int64_t ms, char *out, size_t outsz);

/* A time (ms since the epoch) as "2026-11-22 10:13:20" in UTC; "-" when ms <= 0. Writes into out
 * (32 bytes are always enough) and returns it. */
const char *fv_time(int64_t ms, char *out, size_t outsz);

/* A time (ms since the epoch) as ISO 8601 local time with its offset, "2026-11-22T00:26:40+01:00"
 * (the zone of TZ, like date(1)); "-" when ms <= 0. Writes into out (40 bytes are always enough)
 * and returns it. */
const char *fv_time_local(int64_t ms, char *out, size_t outsz);

/* A count with thousands separators: "120,345". Writes into out (32 bytes are always enough)
 * and returns it. */
const char *fv_count(int64_t n, char *out, size_t outsz);

/* A size in bytes: "512 B", "1.0 KiB", "2.0 MiB". Writes into out (32 bytes are always enough)
 * and returns it. */
const char *fv_bytes(int64_t n, char *out, size_t outsz);

/* Appends "[#####.....]": width characters between the brackets, filled in proportion to
 * percent (clamped to 0..100, rounded down). */
void fv_bar(ferry_buf *out, double percent, int width);

/* Appends one progress line, without newline, for a step's "progress" object:
 * "[#######.....]  57%  3/12 tables  1.0 MiB/2.0 MiB  120,000 rows  copying public.orders".
 * The percent comes from done/total, else bytes_done/bytes_total; without either it is "  ?%"
 * and the bar is empty. A NULL or null progress prints the empty bar and "  ?%". */
void fv_progress(ferry_buf *out, const json_t *progress, int width);

/* The status table of an array of <migration> (or <summary>): APP, ENV, SOURCE ID, TARGET ID,
 * STATE (state/phase), FILES (percent), ROWS, LAST DUMP-RESTORE, LAST FILE SYNC, ERROR (short).
 * "No migrations." for an empty array. */
void fv_status_table(ferry_buf *out, const json_t *migrations);

/* Every field of one <migration>, one per line, then its active steps' progress, then its
 * steps table when the object has "steps". now_ms times running steps. */
void fv_migration_detail(ferry_buf *out, const json_t *migration, int64_t now_ms);

/* The steps table of an array of <step>: MIGRATION, STEP, KIND.OP, STATE, ATTEMPT, RETRIES,
 * WORKER, DURATION, ERROR. A running step's duration is now_ms - started_at, marked "+". */
void fv_steps_table(ferry_buf *out, const json_t *steps, int64_t now_ms);

/* The workers table of an array of <worker>: ID, KIND, RUNNING/CAPACITY, HEARTBEAT AGE, ALIVE,
 * STEPS. */
void fv_workers_table(ferry_buf *out, const json_t *workers);

/* The dead letters table of an array of <dead letter>: ID, AT (UTC), TOPIC, PARTITION, OFFSET,
 * KEY, SIZE, REPLAYED, REASON. */
void fv_dead_letters_table(ferry_buf *out, const json_t *dead_letters);

/* The history table of an array of <event>: AT (UTC), ENTITY, CHANGE (from -> to), ATTEMPT,
 * ACTOR, WHAT. */
void fv_history_table(ferry_buf *out, const json_t *events);

/* A <user> in brief: "ops-shop (operator of shop, crm)", "admin (admin)"; an operator without
 * apps is "(operator of no app)". */
void fv_user_brief(ferry_buf *out, const json_t *user);

/* The line of `ferryctl whoami` for a <session> (docs/console.md):
 * "ops-shop (operator of shop, crm), via bearer", then ", expires <local time>" when it does. */
void fv_session_line(ferry_buf *out, const json_t *session);

/* The users table of an array of <user>: NAME, ROLE, APPS, SOURCE, EXPIRES (local time, "never",
 * with " (expired)" when before now_ms), CREATED BY. */
void fv_users_table(ferry_buf *out, const json_t *users, int64_t now_ms);

/* The audit table of an array of <audit entry>: TIME (local), USER, ROLE, FROM, ACTION, APP/ENV
 * ("shop/production", "shop"), STATUS, OUTCOME (short). */
void fv_audit_table(ferry_buf *out, const json_t *entries);

/* One frame of `ferryctl watch` for an array of <migration>: per migration a line with its
 * id, state/phase, files percent and rows, then one line per active step with its progress
 * bar (bar_width wide). */
void fv_watch_frame(ferry_buf *out, const json_t *migrations, int bar_width);

/* True when a migration is at rest (nothing will change until someone acts): new, stopped,
 * migrated, rolled_back, failed, or replicating in phase pause. False for NULL or a migration
 * without a state. */
bool fv_migration_resting(const json_t *migration);

/* True when every migration of the array is at rest (and for an empty array). */
bool fv_migrations_resting(const json_t *migrations);

/* Writes the buffer's text to f. Returns FERRY_ERR_NOMEM when the buffer ran out of memory
 * (nothing written), FERRY_ERR_IO when writing fails. */
ferry_rc fv_buf_write(const ferry_buf *b, FILE *f, ferry_err *err);

#endif
