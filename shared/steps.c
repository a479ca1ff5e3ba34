/* steps.c - the fenced changes of a step record, each one run of a shared/lua/step_*.lua; part
 * of the state module (its keys are state_keys.h's). */
#include "ferry/steps.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "ferry/log.h"
#include "ferry/state.h"
#include "ferry/wire.h"
#include "state_keys.h"

#define RESULT_NAME_MAX 120
#define DETAIL_MAX      1024

/* The keys of one step: its record and its migration's history. */
typedef struct step_keys {
    char record[FERRY_STATE_KEY_MAX];
    char history[FERRY_STATE_KEY_MAX];
} step_keys;

/* A script's arguments, every one an owned copy. */
typedef struct arg_list {
    size_t n, cap;
    char **v;
    bool failed; /* out of memory somewhere: the list is unusable */
} arg_list;

static void args_add(arg_list *a, const char *s)
{
    if (a->failed)
        return;
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 16;
        char **v = realloc(a->v, cap * sizeof(*v));
        if (v == NULL) {
            a->failed = true;
            return;
        }
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n] = strdup(s != NULL ? s : "");
    if (a->v[a->n] == NULL) {
        a->failed = true;
        return;
    }
    a->n++;
}

static void args_addf(arg_list *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void args_addf(arg_list *a, const char *fmt, ...)
{
    char buf[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(buf)) {
        a->failed = true;
        return;
    }
    args_add(a, buf);
}

static void args_free(arg_list *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->v[i]);
    free(a->v);
    memset(a, 0, sizeof(*a));
}

/* Printable ASCII without space or braces, 1..max bytes (kinds, worker ids, actors). */
static ferry_rc keys_make(const char *migration, const char *step, step_keys *k, ferry_err *err)
{
    ferry_rc rc = state_key_step(migration, step, k->record, sizeof(k->record), err);
    if (rc == FERRY_OK)
        rc = ferry_state_key(migration, STATE_MIG_HISTORY, k->history, sizeof(k->history), err);
    return rc;
}

static ferry_rc ref_check(const ferry_step_ref *ref, step_keys *k, ferry_err *err)
{
    if (ref == NULL || ref->attempt < 1)
        return ferry_err_set(err, FERRY_ERR_INVALID, "step: an attempt starts at 1");
    return keys_make(ref->migration, ref->step, k, err);
}

/*
 * Reads a script's reply {status, state, attempt, owner, lease_until, now, why} into seen,
 * status and why. FERRY_ERR_PROTOCOL when it has another shape.
 */
static ferry_rc reply_read(const ferry_store_reply *r, const char *script, char *status,
                           size_t statussz, ferry_step_seen *seen, char *why, size_t whysz,
                           ferry_err *err)
{
    const char *f[7];
    for (size_t i = 0; i < 7; i++) {
        f[i] = ferry_store_reply_str(ferry_store_reply_at(r, i));
        if (f[i] == NULL)
            return ferry_err_set(err, FERRY_ERR_PROTOCOL, "script %s: unexpected reply", script);
    }
    if (r->count != 7 || !state_parse_i64(f[2], &seen->attempt) ||
        !state_parse_i64(f[4], &seen->lease_until) || !state_parse_i64(f[5], &seen->now))
        return ferry_err_set(err, FERRY_ERR_PROTOCOL, "script %s: unexpected reply", script);
    (void)snprintf(status, statussz, "%s", f[0]);
    (void)snprintf(seen->state, sizeof(seen->state), "%s", f[1]);
    (void)snprintf(seen->owner, sizeof(seen->owner), "%s", f[3]);
    (void)snprintf(why, whysz, "%s", f[6]);
    return FERRY_OK;
}

/*
 * Runs one step script with keys and a's arguments, and sorts its reply: FERRY_OK for "ok",
 * refused (FERRY_ERR_CONFLICT, FERRY_ERR_LEASE_LOST or FERRY_ERR_BUSY) with a message that
 * says what the record is, else the store's error. what: "claim of <record> attempt 3", for
 * messages.
 */
static ferry_rc script_run(ferry_store *store, const char *script, bool retry, size_t nkeys,
                           const char *const *keys, const arg_list *a, const char *what,
                           ferry_step_seen *seen, ferry_err *err)
{
    ferry_store_reply *reply = NULL;
    ferry_step_seen local;
    char status[16], why[16];
    if (seen == NULL)
        seen = &local;
    memset(seen, 0, sizeof(*seen));
    if (a->failed)
        return ferry_err_set(err, FERRY_ERR_NOMEM, "%s: out of memory", what);

    ferry_rc rc = ferry_store_script(store, script, retry, nkeys, keys, a->n,
                                     (const char *const *)a->v, &reply, err);
    if (rc != FERRY_OK) {
        (void)ferry_err_prefix(err, "%s", what);
        goto out;
    }
    rc = reply_read(reply, script, status, sizeof(status), seen, why, sizeof(why), err);
    if (rc != FERRY_OK)
        goto out;
    if (strcmp(status, "ok") == 0)
        goto out;

    if (strcmp(status, "lost") == 0)
        rc = FERRY_ERR_LEASE_LOST;
    else if (strcmp(status, "notyet") == 0)
        rc = FERRY_ERR_BUSY;
    else if (strcmp(status, "conflict") == 0)
        rc = FERRY_ERR_CONFLICT;
    else {
        rc = ferry_err_set(err, FERRY_ERR_PROTOCOL, "script %s: unexpected status", script);
        goto out;
    }
    char owner[FERRY_STORE_NAME_MAX + 32] = "";
    if (seen->owner[0] != '\0')
        (void)snprintf(owner, sizeof(owner), ", owned by %s", seen->owner);
    if (rc == FERRY_ERR_BUSY)
        (void)ferry_err_set(err, rc, "%s refused: its lease runs until %" PRId64 ", now %" PRId64,
                            what, seen->lease_until, seen->now);
    else if (strcmp(why, "command") == 0)
        /* Not a race but a command that is not the coordinator's: the caller dead-letters it. */
        rc = ferry_err_set(err, FERRY_ERR_INVALID,
                           "%s refused (command): its parameters are not the ones the coordinator "
                           "recorded for this attempt",
                           what);
    else if (strcmp(why, "lease") == 0)
        (void)ferry_err_set(err, rc,
                            "%s refused (lease): the lease ran out at %" PRId64 ", now %" PRId64,
                            what, seen->lease_until, seen->now);
    else
        (void)ferry_err_set(err, rc, "%s refused (%s): it is %s%s%s at attempt %" PRId64 "%s", what,
                            why, seen->state[0] ? "'" : "",
                            seen->state[0] ? seen->state : "(absent)", seen->state[0] ? "'" : "",
                            seen->attempt, owner);
out:
    ferry_store_reply_free(reply);
    return rc;
}

/* Adds the seven p_* progress pairs. */
static void args_progress(arg_list *a, const ferry_step_progress *p)
{
    char detail[DETAIL_MAX];
    (void)ferry_redact(p->detail != NULL ? p->detail : "", detail, sizeof(detail));
    args_add(a, "p_done");
    args_addf(a, "%" PRIu64, p->done);
    args_add(a, "p_total");
    args_addf(a, "%" PRIu64, p->total);
    args_add(a, "p_unit");
    args_add(a, p->unit != NULL ? p->unit : "");
    args_add(a, "p_bytes_done");
    args_addf(a, "%" PRIu64, p->bytes_done);
    args_add(a, "p_bytes_total");
    args_addf(a, "%" PRIu64, p->bytes_total);
    args_add(a, "p_rows");
    args_addf(a, "%" PRIu64, p->rows);
    args_add(a, "p_detail");
    args_add(a, detail);
}

static void args_maxlens(arg_list *a)
{
    args_addf(a, "%d", FERRY_STATE_EVENTS_MAXLEN);
    args_addf(a, "%d", FERRY_STATE_HISTORY_MAXLEN);
}

/* The step duration histogram's bounds (ferry/state.h), "1000 5000 ...", for step_finish.lua. */
static void args_buckets(arg_list *a)
{
    char text[FERRY_STATE_DURATION_BUCKETS * 21 + 1];
    size_t len = 0;
    text[0] = '\0';
    for (size_t i = 0; i < FERRY_STATE_DURATION_BUCKETS; i++) {
        int n = snprintf(text + len, sizeof(text) - len, "%s%" PRId64, i > 0 ? " " : "",
                         ferry_state_duration_buckets_ms[i]);
        if (n < 0 || (size_t)n >= sizeof(text) - len) {
            a->failed = true;
            return;
        }
        len += (size_t)n;
    }
    args_add(a, text);
}

ferry_rc ferry_steps_command_digest(const struct Ferry__V1__StepCommand *cmd,
                                    char out[FERRY_STEPS_DIGEST_LEN + 1], ferry_err *err)
{
    out[0] = '\0';
    if (cmd == NULL)
        return ferry_err_set(err, FERRY_ERR_INVALID, "command digest: no command");
    /* The envelope changes with each publish of the same attempt; everything else is bound. */
    Ferry__V1__StepCommand bound = *cmd;
    bound.issued_unix_ms = 0;
    bound.issued_by = (char *)"";
    uint8_t *packed = NULL;
    size_t len = 0;
    ferry_rc rc = ferry_wire_step_encode(&bound, &packed, &len, err);
    if (rc != FERRY_OK)
        return rc;
    unsigned char raw[EVP_MAX_MD_SIZE];
    unsigned int rawlen = 0;
    int ok = EVP_Digest(packed, len, raw, &rawlen, EVP_sha256(), NULL);
    free(packed);
    if (ok != 1 || rawlen * 2 != FERRY_STEPS_DIGEST_LEN)
        return ferry_err_set(err, FERRY_ERR_INTERNAL, "command digest: SHA-256 failed");
    static const char hex[] = "0123456789abcdef";
    for (unsigned int i = 0; i < rawlen; i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[FERRY_STEPS_DIGEST_LEN] = '\0';
    return FERRY_OK;
}

/* A digest as ferry_steps_command_digest() writes it. */
static bool digest_ok(const char *digest)
{
    if (digest == NULL || strlen(digest) != FERRY_STEPS_DIGEST_LEN)
        return false;
    return strspn(digest, "0123456789abcdef") == FERRY_STEPS_DIGEST_LEN;
}

ferry_rc ferry_steps_dispatch(ferry_store *store, const ferry_step_ref *ref, const char *kind,
                              const char *actor, const char *digest, ferry_step_seen *seen,
                              ferry_err *err)
{
    step_keys k;
    arg_list a = {0};
    char queued[FERRY_STATE_KEY_MAX], what[FERRY_STATE_KEY_MAX + 64];
    ferry_rc rc = ref_check(ref, &k, err);
    if (rc != FERRY_OK)
        return rc;
    if (!state_name_ok(kind, 64, false) || !state_name_ok(actor, FERRY_STORE_NAME_MAX, false) ||
        !digest_ok(digest))
        return ferry_err_set(err, FERRY_ERR_INVALID, "dispatch: bad kind, actor or digest");
    rc = state_key_named(STATE_QUEUED_PREFIX, kind, queued, sizeof(queued), err);
    if (rc != FERRY_OK)
        return rc;
    (void)snprintf(what, sizeof(what), "dispatch of %s attempt %" PRId64, k.record, ref->attempt);
    const char *keys[] = {k.record, k.history, STATE_EVENTS, queued};
    args_add(&a, ref->migration);
    args_add(&a, ref->step);
    args_addf(&a, "%" PRId64, ref->attempt);
    args_add(&a, kind);
    args_add(&a, actor);
    args_maxlens(&a);
    args_add(&a, digest);
    /* Not retried: it may have run. */
    rc = script_run(store, "step_dispatch", false, 4, keys, &a, what, seen, err);
    args_free(&a);
    return rc;
}

ferry_rc ferry_steps_claim(ferry_store *store, const ferry_step_ref *ref, const char *kind,
                           const char *worker, int64_t lease_ms, const char *digest,
                           ferry_step_seen *seen, ferry_err *err)
{
    step_keys k;
    arg_list a = {0};
    char queued[FERRY_STATE_KEY_MAX], what[FERRY_STATE_KEY_MAX + 64];
    ferry_rc rc = ref_check(ref, &k, err);
    if (rc != FERRY_OK)
        return rc;
    if (!state_name_ok(kind, 64, false) || !state_name_ok(worker, FERRY_STORE_NAME_MAX, false) ||
        lease_ms <= 0 || !digest_ok(digest))
        return ferry_err_set(err, FERRY_ERR_INVALID, "claim: bad kind, worker, lease or digest");
    rc = state_key_named(STATE_QUEUED_PREFIX, kind, queued, sizeof(queued), err);
    if (rc != FERRY_OK)
        return rc;
    (void)snprintf(what, sizeof(what), "claim of %s attempt %" PRId64, k.record, ref->attempt);
    const char *keys[] = {k.record, k.history, STATE_EVENTS, queued, STATE_LEASES};
    args_add(&a, ref->migration);
    args_add(&a, ref->step);
    args_addf(&a, "%" PRId64, ref->attempt);
    args_add(&a, kind);
    args_add(&a, worker);
    args_addf(&a, "%" PRId64, lease_ms);
    args_maxlens(&a);
    args_add(&a, digest);
    /* Not retried: it may have run (the caller's retry sees "running, owned by me"). */
    rc = script_run(store, "step_claim", false, 5, keys, &a, what, seen, err);
    args_free(&a);
    return rc;
}

ferry_rc ferry_steps_renew(ferry_store *store, const ferry_step_ref *ref, const char *worker,
                           int64_t lease_ms, const ferry_step_progress *progress,
                           ferry_step_seen *seen, ferry_err *err)
{
    step_keys k;
    arg_list a = {0};
    char what[FERRY_STATE_KEY_MAX + 64];
    ferry_rc rc = ref_check(ref, &k, err);
    if (rc != FERRY_OK)
        return rc;
    if (!state_name_ok(worker, FERRY_STORE_NAME_MAX, false) || lease_ms <= 0)
        return ferry_err_set(err, FERRY_ERR_INVALID, "renew: bad worker or lease");
    (void)snprintf(what, sizeof(what), "renewal of %s attempt %" PRId64, k.record, ref->attempt);
    const char *keys[] = {k.record, STATE_LEASES};
    args_add(&a, ref->migration);
    args_add(&a, ref->step);
    args_addf(&a, "%" PRId64, ref->attempt);
    args_add(&a, worker);
    args_addf(&a, "%" PRId64, lease_ms);
    if (progress != NULL)
        args_progress(&a, progress);
    /* Retried: running it twice only extends the lease from a later now. */
    rc = script_run(store, "step_renew", true, 2, keys, &a, what, seen, err);
    args_free(&a);
    return rc;
}

/* A result name: printable ASCII without space, 1..RESULT_NAME_MAX bytes. */
static bool result_name_ok(const char *name)
{
    size_t n = name != NULL ? strlen(name) : 0;
    if (n == 0 || n > RESULT_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c <= 0x20 || c >= 0x7f)
            return false;
    }
    return true;
}

static const char *outcome_state(ferry_step_outcome outcome)
{
    switch (outcome) {
    case FERRY_STEP_SUCCEEDED:
        return "succeeded";
    case FERRY_STEP_FAILED:
        return "failed";
    case FERRY_STEP_RELEASED:
        return "released";
    }
    return NULL;
}

ferry_rc ferry_steps_finish(ferry_store *store, const ferry_step_ref *ref, const char *worker,
                            const ferry_step_end *end, ferry_step_seen *seen, ferry_err *err)
{
    if (end == NULL)
        return ferry_err_set(err, FERRY_ERR_INVALID, "finish: no end");
    ferry_step_outcome outcome = end->outcome;
    const ferry_err *error = end->error;
    const ferry_step_progress *progress = end->progress;
    const ferry_store_field *results = end->results;
    size_t n_results = end->n_results;
    step_keys k;
    arg_list a = {0};
    char what[FERRY_STATE_KEY_MAX + 64];
    ferry_rc rc = ref_check(ref, &k, err);
    if (rc != FERRY_OK)
        return rc;
    const char *to = outcome_state(outcome);
    if (!state_name_ok(worker, FERRY_STORE_NAME_MAX, false) || to == NULL)
        return ferry_err_set(err, FERRY_ERR_INVALID, "finish: bad worker or outcome");
    if (outcome == FERRY_STEP_FAILED && (error == NULL || error->code == FERRY_OK))
        return ferry_err_set(err, FERRY_ERR_INVALID, "finish: a failure needs its error");
    if (n_results > 0 && results == NULL)
        return ferry_err_set(err, FERRY_ERR_INVALID, "finish: results missing");
    for (size_t i = 0; i < n_results; i++) {
        if (!result_name_ok(results[i].name) || results[i].value == NULL)
            return ferry_err_set(err, FERRY_ERR_INVALID,
                                 "finish: result %zu: a name of 1 to %d printable characters "
                                 "without spaces, and a value",
                                 i, RESULT_NAME_MAX);
    }
    (void)snprintf(what, sizeof(what), "finish (%s) of %s attempt %" PRId64, to, k.record,
                   ref->attempt);
    const char *keys[] = {k.record, k.history, STATE_EVENTS, STATE_LEASES, STATE_METRICS};
    args_add(&a, ref->migration);
    args_add(&a, ref->step);
    args_addf(&a, "%" PRId64, ref->attempt);
    args_add(&a, worker);
    args_add(&a, to);
    args_maxlens(&a);
    args_buckets(&a);
    if (progress != NULL)
        args_progress(&a, progress);
    if (outcome == FERRY_STEP_FAILED) {
        char message[sizeof(error->msg)];
        (void)ferry_redact(error->msg, message, sizeof(message));
        args_add(&a, "error_code");
        args_addf(&a, "%d", (int)error->code);
        args_add(&a, "error_name");
        args_add(&a, ferry_rc_str(error->code));
        args_add(&a, "error_message");
        args_add(&a, message);
        args_add(&a, "error_retryable");
        args_add(&a, end->retryable ? "1" : "0");
    }
    for (size_t i = 0; i < n_results; i++) {
        char name[RESULT_NAME_MAX + 3];
        (void)snprintf(name, sizeof(name), "r.%s", results[i].name);
        args_add(&a, name);
        args_add(&a, results[i].value);
    }
    /* Not retried: it may have run (a retry is refused with the state it set). */
    rc = script_run(store, "step_finish", false, 5, keys, &a, what, seen, err);
    args_free(&a);
    return rc;
}

ferry_rc ferry_steps_expire(ferry_store *store, const ferry_step_ref *ref, const char *actor,
                            ferry_step_seen *seen, ferry_err *err)
{
    step_keys k;
    arg_list a = {0};
    char what[FERRY_STATE_KEY_MAX + 64];
    ferry_rc rc = ref_check(ref, &k, err);
    if (rc != FERRY_OK)
        return rc;
    if (!state_name_ok(actor, FERRY_STORE_NAME_MAX, false))
        return ferry_err_set(err, FERRY_ERR_INVALID, "expire: bad actor");
    (void)snprintf(what, sizeof(what), "expiry of %s attempt %" PRId64, k.record, ref->attempt);
    const char *keys[] = {k.record, k.history, STATE_EVENTS, STATE_LEASES};
    args_add(&a, ref->migration);
    args_add(&a, ref->step);
    args_addf(&a, "%" PRId64, ref->attempt);
    args_add(&a, actor);
    args_addf(&a, "%d", (int)FERRY_ERR_LEASE_LOST);
    args_add(&a, ferry_rc_str(FERRY_ERR_LEASE_LOST));
    args_maxlens(&a);
    rc = script_run(store, "step_expire", false, 4, keys, &a, what, seen, err);
    args_free(&a);
    return rc;
}

ferry_rc ferry_steps_refuse(ferry_store *store, const ferry_step_ref *ref, const char *actor,
                            const ferry_err *why, ferry_err *err)
{
    step_keys k;
    ferry_rc rc = ref_check(ref, &k, err);
    if (rc != FERRY_OK)
        return rc;
    char entity[FERRY_STORE_NAME_MAX + 1], code[16], message[sizeof(why->msg)];
    (void)snprintf(entity, sizeof(entity), STATE_STEP_PREFIX "%s", ref->step);
    (void)snprintf(code, sizeof(code), "%d", (int)why->code);
    (void)ferry_redact(why->msg, message, sizeof(message));
    const char *from[] = {"pending"};
    ferry_store_field fields[] = {{"error_code", code},
                                  {"error_name", ferry_rc_str(why->code)},
                                  {"error_message", message},
                                  {"error_retryable", "0"}};
    ferry_state_change ch = {.migration = ref->migration,
                             .entity = entity,
                             .from = from,
                             .n_from = 1,
                             .expect_attempt = ref->attempt,
                             .to = "failed",
                             .new_attempt = -1,
                             .actor = actor,
                             .what = "unbuildable",
                             .fields = fields,
                             .n_fields = sizeof(fields) / sizeof(fields[0])};
    return ferry_state_transition(store, &ch, NULL, err);
}

ferry_rc ferry_steps_dead_lettered(ferry_store *store, const ferry_step_ref *ref, const char *kind,
                                   const char *actor, const char *reason, int64_t max,
                                   ferry_steps_dl *outcome, int64_t *count, ferry_err *err)
{
    step_keys k;
    arg_list a = {0};
    char queued[FERRY_STATE_KEY_MAX], message[DETAIL_MAX];
    *outcome = FERRY_STEPS_DL_IGNORED;
    *count = 0;
    ferry_rc rc = ref_check(ref, &k, err);
    if (rc != FERRY_OK)
        return rc;
    if (!state_name_ok(kind, 64, false) || !state_name_ok(actor, FERRY_STORE_NAME_MAX, false) ||
        max < 1)
        return ferry_err_set(err, FERRY_ERR_INVALID, "dead letter: bad kind, actor or maximum");
    rc = state_key_named(STATE_QUEUED_PREFIX, kind, queued, sizeof(queued), err);
    if (rc != FERRY_OK)
        return rc;
    (void)ferry_redact(reason != NULL && reason[0] != '\0' ? reason : "no reason given", message,
                       sizeof(message));
    const char *keys[] = {k.record, k.history, STATE_EVENTS, queued};
    args_add(&a, ref->migration);
    args_add(&a, ref->step);
    args_addf(&a, "%" PRId64, ref->attempt);
    args_add(&a, kind);
    args_add(&a, actor);
    args_addf(&a, "%" PRId64, max);
    args_add(&a, message);
    args_addf(&a, "%d", (int)FERRY_ERR_PROTOCOL);
    args_add(&a, ferry_rc_str(FERRY_ERR_PROTOCOL));
    args_maxlens(&a);
    ferry_store_reply *reply = NULL;
    if (a.failed)
        rc = ferry_err_set(err, FERRY_ERR_NOMEM, "dead letter: out of memory");
    else
        /* Not retried: it may have run (and counted). */
        rc = ferry_store_script(store, "step_dead_letter", false, 4, keys, a.n,
                                (const char *const *)a.v, &reply, err);
    args_free(&a);
    if (rc != FERRY_OK)
        return ferry_err_prefix(err, "dead letter of %s attempt %" PRId64, k.record, ref->attempt);
    const char *tag = ferry_store_reply_str(ferry_store_reply_at(reply, 0));
    const char *n = ferry_store_reply_str(ferry_store_reply_at(reply, 1));
    if (tag != NULL && n != NULL && strcmp(tag, "ignored") == 0) {
        *outcome = FERRY_STEPS_DL_IGNORED;
    } else if (tag != NULL && n != NULL && state_parse_i64(n, count) &&
               (strcmp(tag, "counted") == 0 || strcmp(tag, "failed") == 0)) {
        *outcome = tag[0] == 'f' ? FERRY_STEPS_DL_FAILED : FERRY_STEPS_DL_COUNTED;
    } else {
        rc = ferry_err_set(err, FERRY_ERR_PROTOCOL, "script step_dead_letter: unexpected reply");
    }
    ferry_store_reply_free(reply);
    return rc;
}

bool ferry_steps_member_parse(const char *member, char *mig, size_t migsz, char *step,
                              size_t stepsz, int64_t *attempt)
{
    if (member == NULL)
        return false;
    const char *sp1 = strchr(member, ' ');
    const char *sp2 = sp1 != NULL ? strchr(sp1 + 1, ' ') : NULL;
    if (sp1 == NULL || sp2 == NULL || sp1 == member || sp2 == sp1 + 1 || sp2[1] == '\0')
        return false;
    size_t mlen = (size_t)(sp1 - member), slen = (size_t)(sp2 - sp1 - 1);
    if (mlen >= migsz || slen >= stepsz)
        return false;
    const char *num = sp2 + 1;
    if (num[0] < '1' || num[0] > '9')
        return false;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(num, &end, 10);
    if (errno != 0 || *end != '\0' || v < 1)
        return false;
    memcpy(mig, member, mlen);
    mig[mlen] = '\0';
    memcpy(step, sp1 + 1, slen);
    step[slen] = '\0';
    *attempt = (int64_t)v;
    return true;
}
