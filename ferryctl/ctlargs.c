/* ctlargs.c - ferryctl's command line: verbs, options, list files, exit codes (ctlargs.h). */
#include "ctlargs.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ferry/config.h"

/* Options that only some verbs take; --url, --quiet, --help and --version go with any verb. */
enum {
    O_ENV = 1u << 0,
    O_ALL = 1u << 1,
    O_FILE = 1u << 2,
    O_INTERRUPT = 1u << 3,
    O_STEP = 1u << 4,
    O_COUNT = 1u << 5,
    O_INTERVAL = 1u << 6,
    O_JSON = 1u << 7,
    O_OVERWRITE = 1u << 8,
    O_FORCE = 1u << 9,
    O_YES = 1u << 10,
    O_ROLE = 1u << 11,
    O_APPS = 1u << 12,
    O_EXPIRES = 1u << 13,
};

static const char *const option_names[] = {
    "--env",  "--all",       "--file",  "--interrupt", "--step", "--count", "--interval",
    "--json", "--overwrite", "--force", "--yes",       "--role", "--apps",  "--expires"};

/* What a verb takes after its name. */
typedef enum arg_kind {
    ARG_NONE,        /* nothing */
    ARG_ONE,         /* exactly one */
    ARG_OPTIONAL,    /* zero or one */
    ARG_APP_OR_BULK, /* one app, or --all, or --file LIST */
} arg_kind;

typedef struct verb_row {
    const char *name;
    const char *sub; /* second word ("dead-letter list"), or NULL */
    const char *full;
    ferry_ctl_verb verb;
    unsigned opts;
    arg_kind arg;
    const char *arg_name;
} verb_row;

static const verb_row verbs[] = {
    {"create", NULL, "create", FERRY_CTL_CREATE, O_JSON, ARG_ONE, "SPECFILE"},
    {"replicate", NULL, "replicate", FERRY_CTL_REPLICATE,
     O_ENV | O_ALL | O_FILE | O_JSON | O_OVERWRITE, ARG_APP_OR_BULK, "APP"},
    {"stop", NULL, "stop", FERRY_CTL_STOP, O_ENV | O_ALL | O_FILE | O_INTERRUPT | O_JSON,
     ARG_APP_OR_BULK, "APP"},
    {"test-start", NULL, "test-start", FERRY_CTL_TEST_START, O_ENV | O_JSON | O_FORCE, ARG_ONE,
     "APP"},
    {"test-stop", NULL, "test-stop", FERRY_CTL_TEST_STOP, O_ENV | O_JSON, ARG_ONE, "APP"},
    {"migrate", NULL, "migrate", FERRY_CTL_MIGRATE, O_ALL | O_FILE | O_JSON, ARG_APP_OR_BULK,
     "APP"},
    {"rollback", NULL, "rollback", FERRY_CTL_ROLLBACK, O_JSON | O_YES, ARG_ONE, "APP"},
    {"replay", NULL, "replay", FERRY_CTL_REPLAY, O_ENV | O_STEP | O_JSON, ARG_ONE, "APP"},
    {"status", NULL, "status", FERRY_CTL_STATUS, O_ENV | O_JSON, ARG_OPTIONAL, "APP"},
    {"watch", NULL, "watch", FERRY_CTL_WATCH, O_INTERVAL, ARG_ONE, "APP"},
    {"steps", NULL, "steps", FERRY_CTL_STEPS, O_JSON, ARG_ONE, "APP"},
    {"workers", NULL, "workers", FERRY_CTL_WORKERS, O_JSON, ARG_NONE, NULL},
    {"history", NULL, "history", FERRY_CTL_HISTORY, O_COUNT | O_JSON, ARG_OPTIONAL,
     "APP or MIGRATION"},
    {"dead-letter", "list", "dead-letter list", FERRY_CTL_DL_LIST, O_COUNT | O_JSON, ARG_NONE,
     NULL},
    {"dead-letter", "replay", "dead-letter replay", FERRY_CTL_DL_REPLAY, O_JSON, ARG_ONE, "ID"},
    {"delete", NULL, "delete", FERRY_CTL_DELETE, O_JSON, ARG_ONE, "APP"},
    {"whoami", NULL, "whoami", FERRY_CTL_WHOAMI, O_JSON, ARG_NONE, NULL},
    {"user", "list", "user list", FERRY_CTL_USER_LIST, O_JSON, ARG_NONE, NULL},
    {"user", "add", "user add", FERRY_CTL_USER_ADD, O_ROLE | O_APPS | O_EXPIRES | O_JSON, ARG_ONE,
     "NAME"},
    {"user", "remove", "user remove", FERRY_CTL_USER_REMOVE, O_JSON, ARG_ONE, "NAME"},
    {"user", "token", "user token", FERRY_CTL_USER_TOKEN, O_JSON, ARG_ONE, "NAME"},
};

enum {
    LONG_INTERVAL = 256,
    LONG_OVERWRITE,
    LONG_FORCE,
    LONG_YES,
    LONG_ROLE,
    LONG_APPS,
    LONG_EXPIRES
};

static const struct option long_options[] = {
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {"url", required_argument, NULL, 'u'},
    {"json", no_argument, NULL, 'j'},
    {"quiet", no_argument, NULL, 'q'},
    {"env", required_argument, NULL, 'e'},
    {"all", no_argument, NULL, 'a'},
    {"file", required_argument, NULL, 'f'},
    {"interrupt", no_argument, NULL, 'i'},
    {"step", required_argument, NULL, 's'},
    {"count", required_argument, NULL, 'n'},
    {"interval", required_argument, NULL, LONG_INTERVAL},
    {"overwrite", no_argument, NULL, LONG_OVERWRITE},
    {"force", no_argument, NULL, LONG_FORCE},
    {"yes", no_argument, NULL, LONG_YES},
    {"role", required_argument, NULL, LONG_ROLE},
    {"apps", required_argument, NULL, LONG_APPS},
    {"expires", required_argument, NULL, LONG_EXPIRES},
    {NULL, 0, NULL, 0},
};

/* Leading ':' makes a missing value return ':' instead of printing a message. */
static const char short_options[] = ":hVu:jqe:af:is:n:";

static ferry_rc usage_error(ferry_err *err, const char *verb, const char *what)
{
    if (verb != NULL)
        return ferry_err_set(err, FERRY_ERR_INVALID, "%s: %s", verb, what);
    return ferry_err_set(err, FERRY_ERR_INVALID, "%s", what);
}

/* Names the option getopt just refused: the long option as typed (argv[optind - 1], without
 * any "=value"), else the short option in optopt. */
static ferry_rc bad_option(ferry_err *err, int argc, char **argv, bool missing_value)
{
    const char *text = optind >= 1 && optind <= argc ? argv[optind - 1] : NULL;
    char name[3] = {'-', '?', '\0'};
    if (text == NULL || strncmp(text, "--", 2) != 0) {
        if (optopt > 0 && optopt < 128)
            name[1] = (char)optopt;
        text = name;
    }
    int len = (int)strcspn(text, "=");
    if (text[len] == '=' && optopt != 0)
        return ferry_err_set(err, FERRY_ERR_INVALID, "option %.*s takes no value", len, text);
    if (missing_value)
        return ferry_err_set(err, FERRY_ERR_INVALID, "option %.*s needs a value", len, text);
    return ferry_err_set(err, FERRY_ERR_INVALID, "unknown option %.*s", len, text);
}

static ferry_rc parse_count(const char *text, long *out, ferry_err *err)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < 1 || v > FERRY_CTL_COUNT_MAX)
        return ferry_err_set(err, FERRY_ERR_INVALID,
                             "--count: want a number from 1 to %d, not '%s'", FERRY_CTL_COUNT_MAX,
                             text);
    *out = v;
    return FERRY_OK;
}

static ferry_rc parse_interval(const char *text, int64_t *out, ferry_err *err)
{
    int64_t ms = 0;
    if (ferry_parse_duration_ms(text, &ms) != 0 || ms < 100 || ms > 3600000)
        return ferry_err_set(err, FERRY_ERR_INVALID,
                             "--interval: want a duration from 100ms to 1h (500ms, 2s), not '%s'",
                             text);
    *out = ms;
    return FERRY_OK;
}

/* Reads exactly n digits at *p into *out and moves *p past them. */
static bool take_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return true;
}

static bool take_char(const char **p, const char *any)
{
    if (**p == '\0' || strchr(any, **p) == NULL)
        return false;
    (*p)++;
    return true;
}

/* "2026-12-31T23:59:59[.frac](Z|+01:00)" in ms since the epoch; false when malformed. */
static bool parse_rfc3339(const char *text, int64_t *ms)
{
    const char *p = text;
    int year, mon, day, hour, min, sec, off_h = 0, off_m = 0, sign = 0, frac_ms = 0;
    if (!take_digits(&p, 4, &year) || !take_char(&p, "-") || !take_digits(&p, 2, &mon) ||
        !take_char(&p, "-") || !take_digits(&p, 2, &day) || !take_char(&p, "Tt ") ||
        !take_digits(&p, 2, &hour) || !take_char(&p, ":") || !take_digits(&p, 2, &min) ||
        !take_char(&p, ":") || !take_digits(&p, 2, &sec))
        return false;
    if (*p == '.') {
        p++;
        int scale = 100, digits = 0;
        for (; *p >= '0' && *p <= '9'; p++, digits++) {
            frac_ms += (*p - '0') * scale;
            scale /= 10;
        }
        if (digits == 0)
            return false;
    }
    if (take_char(&p, "Zz")) {
        sign = 0;
    } else if (*p == '+' || *p == '-') {
        sign = *p == '+' ? 1 : -1;
        p++;
        if (!take_digits(&p, 2, &off_h) || !take_char(&p, ":") || !take_digits(&p, 2, &off_m) ||
            off_h > 23 || off_m > 59)
            return false;
    } else {
        return false;
    }
    if (*p != '\0' || year < 1970 || mon < 1 || mon > 12 || day < 1 || hour > 23 || min > 59 ||
        sec > 60)
        return false;
    struct tm tm = {.tm_year = year - 1900,
                    .tm_mon = mon - 1,
                    .tm_mday = day,
                    .tm_hour = hour,
                    .tm_min = min,
                    .tm_sec = sec > 59 ? 59 : sec}; /* a leap second counts as :59 */
    time_t t = timegm(&tm);
    if (t == (time_t)-1 || tm.tm_mday != day || tm.tm_mon != mon - 1)
        return false; /* timegm normalised a day that does not exist (February 30th) */
    *ms = ((int64_t)t - (int64_t)sign * (off_h * 3600 + off_m * 60)) * 1000 + frac_ms;
    return true;
}

/* Before this, digits are rather seconds than ms (2001-09-09). */
#define EXPIRES_MIN_MS INT64_C(1000000000000)

ferry_rc ferry_ctl_parse_expires(const char *text, int64_t *ms, ferry_err *err)
{
    static const char want[] = "want an RFC 3339 time with its zone (2026-12-31T23:59:59Z, "
                               "2026-12-31T23:59:59+01:00) or ms since the epoch";
    if (text[0] >= '0' && text[0] <= '9' && strspn(text, "0123456789") == strlen(text)) {
        char *end = NULL;
        errno = 0;
        long long v = strtoll(text, &end, 10);
        if (errno != 0 || end == text || *end != '\0')
            return ferry_err_set(err, FERRY_ERR_INVALID, "--expires: '%s' is out of range", text);
        if (v < EXPIRES_MIN_MS)
            return ferry_err_set(err, FERRY_ERR_INVALID, "--expires: '%s' looks like seconds; %s",
                                 text, want);
        *ms = (int64_t)v;
        return FERRY_OK;
    }
    if (!parse_rfc3339(text, ms))
        return ferry_err_set(err, FERRY_ERR_INVALID, "--expires: %s, not '%s'", want, text);
    return FERRY_OK;
}

/* The server's rules (docs/console.md, docs/spec.md), checked here so a typo is caught before
 * anything is sent. */
static bool user_name_ok(const char *name)
{
    size_t len = strlen(name);
    return len >= 1 && len <= FERRY_CTL_USER_NAME_MAX &&
           strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-_") == len;
}

static bool app_name_ok(const char *name, size_t len)
{
    if (len < 1 || len > 63 || name[0] == '-')
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return false;
    }
    return true;
}

static ferry_rc check_apps(const char *apps, const char *verb, ferry_err *err)
{
    const char *p = apps;
    for (;;) {
        size_t len = strcspn(p, ",");
        if (len == 0)
            return ferry_err_set(err, FERRY_ERR_INVALID,
                                 "%s: --apps: an empty name in '%s' (want app,app,...)", verb,
                                 apps);
        if (!app_name_ok(p, len))
            return ferry_err_set(err, FERRY_ERR_INVALID,
                                 "%s: --apps: '%.*s' is not an app name: 1 to 63 of a-z, 0-9 and "
                                 "'-', starting with a letter or digit",
                                 verb, (int)(len > 70 ? 70 : len), p);
        if (p[len] == '\0')
            return FERRY_OK;
        p += len + 1;
    }
}

/* "user: want 'list', 'add', 'remove' or 'token' after it", from the table. */
static ferry_rc sub_error(ferry_err *err, const char *name)
{
    char subs[256] = "";
    size_t n = 0, total = 0, used = 0;
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
        total += strcmp(verbs[i].name, name) == 0;
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
        if (strcmp(verbs[i].name, name) != 0)
            continue;
        const char *sep = n == 0 ? "" : n + 1 == total ? " or " : ", ";
        int w = snprintf(subs + used, sizeof(subs) - used, "%s'%s'", sep, verbs[i].sub);
        if (w < 0 || (size_t)w >= sizeof(subs) - used)
            break; /* cannot happen: a handful of short words */
        used += (size_t)w;
        n++;
    }
    return ferry_err_set(err, FERRY_ERR_INVALID, "%s: want %s after it", name, subs);
}

static const verb_row *verb_find(const char *name, const char *sub, bool *needs_sub)
{
    *needs_sub = false;
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
        if (strcmp(verbs[i].name, name) != 0)
            continue;
        if (verbs[i].sub == NULL)
            return &verbs[i];
        *needs_sub = true;
        if (sub != NULL && strcmp(verbs[i].sub, sub) == 0)
            return &verbs[i];
    }
    return NULL;
}

/* The user verbs' name, --role, --apps and --expires. */
static ferry_rc user_args_check(const verb_row *row, ferry_ctl_args *args, const char *expires_text,
                                ferry_err *err)
{
    bool named = row->verb == FERRY_CTL_USER_ADD || row->verb == FERRY_CTL_USER_REMOVE ||
                 row->verb == FERRY_CTL_USER_TOKEN;
    if (named && !user_name_ok(args->target))
        return ferry_err_set(err, FERRY_ERR_INVALID,
                             "%s: '%.70s' is not a user name: 1 to %d of a-z, 0-9, '-' and '_'",
                             row->full, args->target, FERRY_CTL_USER_NAME_MAX);
    if (row->verb != FERRY_CTL_USER_ADD)
        return FERRY_OK;
    if (args->role == NULL)
        return usage_error(err, row->full, "--role is required: admin, operator or viewer");
    if (strcmp(args->role, "admin") != 0 && strcmp(args->role, "operator") != 0 &&
        strcmp(args->role, "viewer") != 0)
        return ferry_err_set(err, FERRY_ERR_INVALID,
                             "%s: --role: want admin, operator or viewer, not '%.70s'", row->full,
                             args->role);
    if (args->apps != NULL && args->apps[0] == '\0')
        return usage_error(err, row->full, "--apps is empty");
    if (args->apps != NULL && check_apps(args->apps, row->full, err) != FERRY_OK)
        return FERRY_ERR_INVALID;
    if (expires_text != NULL &&
        ferry_ctl_parse_expires(expires_text, &args->expires_ms, err) != FERRY_OK)
        return ferry_err_prefix(err, "%s", row->full);
    return FERRY_OK;
}

ferry_rc ferry_ctl_args_parse(int argc, char **argv, ferry_ctl_args *args, ferry_err *err)
{
    const char *count_text = NULL, *interval_text = NULL, *expires_text = NULL;
    unsigned seen = 0;
    bool help = false, version = false;

    memset(args, 0, sizeof(*args));
    args->verb = FERRY_CTL_HELP;
    args->verb_name = "ferryctl";
    args->interval_ms = FERRY_CTL_DEFAULT_INTERVAL_MS;
    args->count = FERRY_CTL_DEFAULT_COUNT;

    /* optind = 0 makes glibc's getopt start over (it keeps state between calls). */
    optind = 0;
    opterr = 0;
    for (;;) {
        int c = getopt_long(argc, argv, short_options, long_options, NULL);
        if (c == -1)
            break;
        switch (c) {
        case 'h':
            help = true;
            break;
        case 'V':
            version = true;
            break;
        case 'u':
            args->url = optarg;
            break;
        case 'j':
            args->json = true;
            seen |= O_JSON;
            break;
        case 'q':
            args->quiet = true;
            break;
        case 'e':
            args->env = optarg;
            seen |= O_ENV;
            break;
        case 'a':
            args->all = true;
            seen |= O_ALL;
            break;
        case 'f':
            args->file = optarg;
            seen |= O_FILE;
            break;
        case 'i':
            args->interrupt = true;
            seen |= O_INTERRUPT;
            break;
        case 's':
            args->step = optarg;
            seen |= O_STEP;
            break;
        case 'n':
            count_text = optarg;
            seen |= O_COUNT;
            break;
        case LONG_INTERVAL:
            interval_text = optarg;
            seen |= O_INTERVAL;
            break;
        case LONG_OVERWRITE:
            args->overwrite = true;
            seen |= O_OVERWRITE;
            break;
        case LONG_FORCE:
            args->force = true;
            seen |= O_FORCE;
            break;
        case LONG_YES:
            args->yes = true;
            seen |= O_YES;
            break;
        case LONG_ROLE:
            args->role = optarg;
            seen |= O_ROLE;
            break;
        case LONG_APPS:
            args->apps = optarg;
            seen |= O_APPS;
            break;
        case LONG_EXPIRES:
            expires_text = optarg;
            seen |= O_EXPIRES;
            break;
        case ':':
            return bad_option(err, argc, argv, true);
        default:
            return bad_option(err, argc, argv, false);
        }
    }
    if (help)
        return FERRY_OK;
    if (version) {
        args->verb = FERRY_CTL_VERSION;
        return FERRY_OK;
    }
    if (optind >= argc)
        return FERRY_OK; /* no verb: help */

    int pos = optind;
    bool needs_sub = false;
    const char *name = argv[pos++];
    const char *sub = pos < argc ? argv[pos] : NULL;
    const verb_row *row = verb_find(name, sub, &needs_sub);
    if (row == NULL && needs_sub)
        return sub_error(err, name);
    if (row == NULL)
        return ferry_err_set(err, FERRY_ERR_INVALID, "unknown verb '%s' (see ferryctl --help)",
                             name);
    if (row->sub != NULL)
        pos++;
    args->verb = row->verb;
    args->verb_name = row->full;

    for (size_t i = 0; i < sizeof(option_names) / sizeof(option_names[0]); i++) {
        if ((seen & (1u << i)) != 0 && (row->opts & (1u << i)) == 0)
            return ferry_err_set(err, FERRY_ERR_INVALID, "%s: %s is not an option of this verb",
                                 row->full, option_names[i]);
    }

    int left = argc - pos;
    if (left > 1 || (left == 1 && row->arg == ARG_NONE))
        return ferry_err_set(err, FERRY_ERR_INVALID, "%s: unexpected argument '%s'", row->full,
                             argv[row->arg == ARG_NONE ? pos : pos + 1]);
    if (left == 1)
        args->target = argv[pos];
    if (args->target != NULL && args->target[0] == '\0')
        return ferry_err_set(err, FERRY_ERR_INVALID, "%s: %s is empty", row->full, row->arg_name);

    switch (row->arg) {
    case ARG_NONE:
    case ARG_OPTIONAL:
        break;
    case ARG_ONE:
        if (args->target == NULL)
            return ferry_err_set(err, FERRY_ERR_INVALID, "%s: missing %s", row->full,
                                 row->arg_name);
        break;
    case ARG_APP_OR_BULK: {
        int forms = (args->target != NULL) + args->all + (args->file != NULL);
        if (forms != 1)
            return usage_error(err, row->full,
                               forms == 0 ? "name an app, or use --all or --file LIST"
                                          : "name one app, or use --all, or --file LIST: only one "
                                            "of them");
        break;
    }
    }

    if (args->file != NULL && args->file[0] == '\0')
        return usage_error(err, row->full, "--file is empty");
    if (args->env != NULL && args->env[0] == '\0')
        return usage_error(err, row->full, "--env is empty");
    if (args->step != NULL && args->step[0] == '\0')
        return usage_error(err, row->full, "--step is empty");
    if (row->verb == FERRY_CTL_STATUS && args->env != NULL && args->target == NULL)
        return usage_error(err, row->full, "--env needs an APP");
    if (count_text != NULL && parse_count(count_text, &args->count, err) != FERRY_OK)
        return ferry_err_prefix(err, "%s", row->full);
    if (interval_text != NULL && parse_interval(interval_text, &args->interval_ms, err) != FERRY_OK)
        return ferry_err_prefix(err, "%s", row->full);
    return user_args_check(row, args, expires_text, err);
}

bool ferry_ctl_args_bulk(const ferry_ctl_args *args)
{
    return args->all || args->file != NULL;
}

void ferry_ctl_list_free(char **apps, size_t n)
{
    if (apps == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(apps[i]);
    free(apps);
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

ferry_rc ferry_ctl_list_parse(const char *text, char ***apps, size_t *n, ferry_err *err)
{
    ferry_rc rc = FERRY_OK;
    char **list = NULL;
    size_t count = 0, cap = 0;
    unsigned line_no = 0;
    const char *line = text;

    *apps = NULL;
    *n = 0;
    while (line != NULL && *line != '\0') {
        line_no++;
        const char *eol = strchr(line, '\n');
        const char *end = eol != NULL ? eol : line + strlen(line);
        const char *hash = memchr(line, '#', (size_t)(end - line));
        if (hash != NULL)
            end = hash;
        while (line < end && is_blank(*line))
            line++;
        while (end > line && is_blank(end[-1]))
            end--;
        size_t len = (size_t)(end - line);
        if (len > 0) {
            for (const char *p = line; p < end; p++) {
                if (is_blank(*p) || (unsigned char)*p < 0x20) {
                    rc = ferry_err_set(err, FERRY_ERR_INVALID,
                                       "line %u: one app per line, without blanks inside", line_no);
                    goto out;
                }
            }
            bool duplicate = false;
            for (size_t i = 0; i < count && !duplicate; i++)
                duplicate = strlen(list[i]) == len && memcmp(list[i], line, len) == 0;
            if (!duplicate) {
                if (count == cap) {
                    size_t grown_cap = cap ? cap * 2 : 16;
                    char **grown = realloc(list, grown_cap * sizeof(*grown));
                    if (grown == NULL) {
                        rc = ferry_err_set(err, FERRY_ERR_NOMEM, "reading the list");
                        goto out;
                    }
                    list = grown;
                    cap = grown_cap;
                }
                list[count] = strndup(line, len);
                if (list[count] == NULL) {
                    rc = ferry_err_set(err, FERRY_ERR_NOMEM, "reading the list");
                    goto out;
                }
                count++;
            }
        }
        line = eol != NULL ? eol + 1 : NULL;
    }
    if (count == 0) {
        rc = ferry_err_set(err, FERRY_ERR_INVALID, "the list names no app");
        goto out;
    }
    *apps = list;
    *n = count;
    list = NULL;
    count = 0;
out:
    ferry_ctl_list_free(list, count);
    return rc;
}

int ferry_ctl_exit_for_status(long status)
{
    if (status >= 200 && status <= 299)
        return FERRY_CTL_EXIT_OK;
    switch (status) {
    case 401:
        return FERRY_CTL_EXIT_AUTH;
    case 403:
        return FERRY_CTL_EXIT_FORBIDDEN;
    case 404:
        return FERRY_CTL_EXIT_NOT_FOUND;
    case 409:
        return FERRY_CTL_EXIT_REFUSED;
    default:
        break;
    }
    if (status >= 400 && status <= 499)
        return FERRY_CTL_EXIT_INVALID; /* 400, 413, 422, and requests the server does not know */
    return FERRY_CTL_EXIT_UNAVAILABLE; /* no answer, 5xx, anything unexpected */
}

int ferry_ctl_exit_worst(int a, int b)
{
    return a > b ? a : b;
}
