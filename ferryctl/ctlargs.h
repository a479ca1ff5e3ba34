/*
 * ctlargs.h - ferryctl's command line: the verbs, their options and arguments, list files and
 * exit codes. Pure (no network, no environment), in the ferry_ctl library so that unit tests
 * can drive it; the ferryctl binary (ctl_*.c) acts on the result.
 *
 * Parsing uses glibc's getopt_long: options may come before or after the verb and its argument
 * ("ferryctl status shop --json"); "--" ends the options.
 */
#ifndef FERRY_CTLARGS_H
#define FERRY_CTLARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/error.h"

/* ferryctl's exit codes (docs/ferryctl.md); numbered, never renumbered. */
enum {
    FERRY_CTL_EXIT_OK = 0,
    FERRY_CTL_EXIT_REFUSED = 1,     /* 409, or an item of a bulk command failed */
    FERRY_CTL_EXIT_USAGE = 2,       /* bad command line or configuration */
    FERRY_CTL_EXIT_NOT_FOUND = 3,   /* 404 */
    FERRY_CTL_EXIT_INVALID = 4,     /* invalid spec or request: 422, 400, 413 */
    FERRY_CTL_EXIT_UNAVAILABLE = 5, /* coordinator unreachable, 5xx (503: Redis or Kafka down) */
    FERRY_CTL_EXIT_AUTH = 6,        /* 401: wrong, missing or expired token */
    FERRY_CTL_EXIT_FORBIDDEN = 7,   /* 403: the user's role does not allow it */
};

typedef enum ferry_ctl_verb {
    FERRY_CTL_HELP = 0, /* --help, or no verb at all */
    FERRY_CTL_VERSION,
    FERRY_CTL_CREATE,
    FERRY_CTL_REPLICATE,
    FERRY_CTL_STOP,
    FERRY_CTL_TEST_START,
    FERRY_CTL_TEST_STOP,
    FERRY_CTL_MIGRATE,
    FERRY_CTL_ROLLBACK,
    FERRY_CTL_REPLAY,
    FERRY_CTL_STATUS,
    FERRY_CTL_WATCH,
    FERRY_CTL_STEPS,
    FERRY_CTL_WORKERS,
    FERRY_CTL_HISTORY,
    FERRY_CTL_DL_LIST,
    FERRY_CTL_DL_REPLAY,
    FERRY_CTL_DELETE,
    FERRY_CTL_WHOAMI,
    FERRY_CTL_USER_LIST,
    FERRY_CTL_USER_ADD,
    FERRY_CTL_USER_REMOVE,
    FERRY_CTL_USER_TOKEN,
} ferry_ctl_verb;

#define FERRY_CTL_DEFAULT_INTERVAL_MS 1000
#define FERRY_CTL_DEFAULT_COUNT       100
#define FERRY_CTL_COUNT_MAX           10000
/* User names (docs/console.md): 1 to 64 of a-z, 0-9, '-' and '_'. */
#define FERRY_CTL_USER_NAME_MAX 64

/* The parsed command line. Strings are borrowed from argv. */
typedef struct ferry_ctl_args {
    ferry_ctl_verb verb;
    const char *verb_name; /* "migrate", "dead-letter list"; "ferryctl" for help and version */
    const char *target;    /* APP, SPECFILE, MIGRATION, user NAME or dead letter ID; or NULL */
    const char *url;       /* --url, NULL: FERRY_COORDINATOR_URL or its default */
    const char *env;       /* --env */
    const char *file;      /* --file LIST */
    const char *step;      /* --step */
    bool all;              /* --all */
    bool interrupt;        /* --interrupt */
    bool overwrite;        /* --overwrite (replicate) */
    bool force;            /* --force (test-start) */
    bool yes;              /* --yes (rollback) */
    bool json;             /* --json */
    bool quiet;            /* --quiet */
    int64_t interval_ms;   /* --interval, FERRY_CTL_DEFAULT_INTERVAL_MS by default */
    long count;            /* --count, FERRY_CTL_DEFAULT_COUNT by default */
    const char *role;      /* --role (user add): "admin", "operator" or "viewer" */
    const char *apps;      /* --apps (user add) as typed, "shop,crm": each a well-formed app name */
    int64_t expires_ms;    /* --expires (user add) in ms since the epoch; 0: never */
} ferry_ctl_args;

/*
 * Parses a command line (argv[0] is the program). On success fills args. On FERRY_ERR_INVALID
 * err says what is wrong ("stop: --step is not an option of this verb"): a usage error. Resets
 * getopt's global state first, so it may be called more than once; permutes argv as
 * getopt_long does. Not thread-safe (getopt is not).
 */
ferry_rc ferry_ctl_args_parse(int argc, char **argv, ferry_ctl_args *args, ferry_err *err);

/*
 * Parses --expires: ms since the epoch ("1798761599000"), or an RFC 3339 time with its zone
 * ("2026-12-31T23:59:59Z", "2026-12-31T23:59:59.5+01:00"). Digits that look like seconds (before
 * 2001) are refused, as is a time without zone. Pure: whether it is in the past is the caller's
 * question.
 */
ferry_rc ferry_ctl_parse_expires(const char *text, int64_t *ms, ferry_err *err);

/* True when the verb acts on many apps at once (--all or --file). */
bool ferry_ctl_args_bulk(const ferry_ctl_args *args);

/*
 * Parses a list file's text: one app per line; '#' starts a comment; blank lines are skipped;
 * surrounding blanks are trimmed. A line with a blank inside the name is an error naming the
 * line. On success *apps holds *n copies (caller frees with ferry_ctl_list_free()); an empty
 * list is an error.
 */
ferry_rc ferry_ctl_list_parse(const char *text, char ***apps, size_t *n, ferry_err *err);

void ferry_ctl_list_free(char **apps, size_t n);

/* The exit code for an HTTP status: 0 for 2xx; 0 (no answer) is FERRY_CTL_EXIT_UNAVAILABLE. */
int ferry_ctl_exit_for_status(long status);

/* The worse of two exit codes (a bulk command reports the worst): the higher number. */
int ferry_ctl_exit_worst(int a, int b);

#endif
