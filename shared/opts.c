/* opts.c - a command line read through a table of its options (see opts.h). */
#include "ferry/opts.h"

#include <ctype.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/config.h"

#define VAL_BASE  256 /* getopt_long()'s value for a row without a letter: VAL_BASE + its index */
#define WIDTH_MAX 32  /* a row whose "--name ARG" is wider has its help on the next line */

static size_t table_len(const ferry_opt *table)
{
    size_t n = 0;
    while (table[n].name != NULL)
        n++;
    return n;
}

static int row_val(const ferry_opt *table, const ferry_opt *o)
{
    return o->letter != 0 ? o->letter : VAL_BASE + (int)(o - table);
}

/* The row whose getopt_long() value is val, or NULL. */
static const ferry_opt *row_of(const ferry_opt *table, size_t n, int val)
{
    for (size_t i = 0; i < n; i++) {
        if (row_val(table, &table[i]) == val)
            return &table[i];
    }
    return NULL;
}

static bool numeric(ferry_opt_kind kind)
{
    return kind == FERRY_OPT_INT || kind == FERRY_OPT_SIZE || kind == FERRY_OPT_DURATION;
}

/* The rules opts.h states for a table; breaking one is a bug in the caller. */
static ferry_rc check_table(const ferry_opt *table, size_t n, ferry_err *err)
{
    for (size_t i = 0; i < n; i++) {
        const ferry_opt *o = &table[i];
        const char *why = NULL;
        if (o->name[0] == '\0' || o->dest == NULL)
            why = "a name and a destination are needed";
        else if (o->letter != 0 && (o->letter > 127 || !isalnum(o->letter)))
            why = "the short letter must be a letter or a digit";
        else if ((o->flags & FERRY_OPT_REPEAT) && (o->kind != FERRY_OPT_STRING || o->def != NULL))
            why = "only a string without default can be repeated";
        else if ((o->flags & FERRY_OPT_STOP) && o->kind != FERRY_OPT_FLAG)
            why = "only a flag can stop the parsing";
        else if (o->kind == FERRY_OPT_FLAG && o->def != NULL)
            why = "a flag has no default";
        else if (numeric(o->kind) && o->min > o->max)
            why = "min is above max";
        for (size_t j = 0; why == NULL && j < i; j++) {
            if (strcmp(table[j].name, o->name) == 0 ||
                (o->letter != 0 && table[j].letter == o->letter))
                why = "the name or the letter is used twice";
        }
        if (why != NULL)
            return ferry_err_set(err, FERRY_ERR_INTERNAL, "option table, --%s: %s", o->name, why);
    }
    return FERRY_OK;
}

/* ---- values ------------------------------------------------------------------------------- */

/* An amount of the row's kind as the user would write it: 64, 5M, 30s. */
static void amount_text(ferry_opt_kind kind, int64_t v, char *buf, size_t size)
{
    static const struct {
        ferry_opt_kind kind;
        int64_t mul;
        const char *unit;
    } units[] = {
        {FERRY_OPT_SIZE, 1LL << 30, "G"}, {FERRY_OPT_SIZE, 1LL << 20, "M"},
        {FERRY_OPT_SIZE, 1LL << 10, "K"}, {FERRY_OPT_DURATION, 3600000, "h"},
        {FERRY_OPT_DURATION, 60000, "m"}, {FERRY_OPT_DURATION, 1000, "s"},
        {FERRY_OPT_DURATION, 1, "ms"},
    };
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (units[i].kind == kind && v != 0 && v % units[i].mul == 0) {
            (void)snprintf(buf, size, "%" PRId64 "%s", v / units[i].mul, units[i].unit);
            return;
        }
    }
    (void)snprintf(buf, size, "%" PRId64, v);
}

static ferry_rc bad_value(const ferry_opt *o, const char *text, ferry_err *err)
{
    const char *what = o->kind == FERRY_OPT_SIZE       ? "a size (bytes, or with K/M/G)"
                       : o->kind == FERRY_OPT_DURATION ? "a duration (250ms, 30s, 5m, 2h)"
                                                       : "a number";
    char lo[32], hi[32];
    amount_text(o->kind, o->min, lo, sizeof(lo));
    amount_text(o->kind, o->max, hi, sizeof(hi));
    if (o->max == INT64_MAX)
        return ferry_err_set(err, FERRY_ERR_INVALID, "--%s: %s of %s or more, not '%s'", o->name,
                             what, lo, text);
    return ferry_err_set(err, FERRY_ERR_INVALID, "--%s: %s from %s to %s, not '%s'", o->name, what,
                         lo, hi, text);
}

/* Stores one occurrence of the row's option (text is NULL for a flag). */
static ferry_rc store(const ferry_opt *o, const char *text, ferry_err *err)
{
    int64_t v = 0;
    int bad = 0;
    switch (o->kind) {
    case FERRY_OPT_FLAG:
        *(bool *)o->dest = true;
        return FERRY_OK;
    case FERRY_OPT_STRING:
        if (o->flags & FERRY_OPT_REPEAT) {
            ferry_opt_list *list = o->dest;
            const char **grown = realloc(list->v, (list->n + 1) * sizeof(*grown));
            if (grown == NULL)
                return ferry_err_set(err, FERRY_ERR_NOMEM, "--%s: out of memory", o->name);
            grown[list->n++] = text;
            list->v = grown;
        } else {
            *(const char **)o->dest = text;
        }
        return FERRY_OK;
    case FERRY_OPT_INT:
        bad = ferry_parse_int(text, &v);
        break;
    case FERRY_OPT_SIZE:
        bad = ferry_parse_size(text, &v);
        break;
    case FERRY_OPT_DURATION:
        bad = ferry_parse_duration_ms(text, &v);
        break;
    }
    if (bad != 0 || v < o->min || v > o->max)
        return bad_value(o, text, err);
    *(int64_t *)o->dest = v;
    return FERRY_OK;
}

/* getopt_long() returned '?': an unknown or ambiguous option, or a value given to a flag. */
static ferry_rc unknown(const ferry_opt *table, size_t n, char **argv, ferry_err *err)
{
    const ferry_opt *o = optopt != 0 ? row_of(table, n, optopt) : NULL;
    if (o != NULL)
        return ferry_err_set(err, FERRY_ERR_INVALID, "--%s takes no value", o->name);
    if (optopt != 0)
        return ferry_err_set(err, FERRY_ERR_INVALID, "unknown option '-%c'", optopt);
    /* A long option: getopt_long() has stepped past it. */
    const char *text = argv[optind - 1];
    const char *name = strncmp(text, "--", 2) == 0 ? text + 2 : text;
    size_t len = strcspn(name, "=");
    size_t matches = 0;
    for (size_t i = 0; i < n; i++)
        matches += strncmp(table[i].name, name, len) == 0;
    if (matches > 1)
        return ferry_err_set(err, FERRY_ERR_INVALID, "option '--%.*s' is ambiguous", (int)len,
                             name);
    return ferry_err_set(err, FERRY_ERR_INVALID, "unknown option '--%.*s'", (int)len, name);
}

/* ---- parsing ------------------------------------------------------------------------------ */

ferry_rc ferry_opts_parse(const ferry_opt *table, int argc, char **argv, int *operands,
                          ferry_err *err)
{
    size_t n = table_len(table);
    struct option *longopts = NULL;
    char *shortopts = NULL;
    bool *seen = NULL;
    ferry_rc rc = check_table(table, n, err);
    if (rc != FERRY_OK)
        return rc;
    longopts = calloc(n + 1, sizeof(*longopts));
    shortopts = malloc(2 * n + 2);
    seen = calloc(n + 1, sizeof(*seen));
    if (longopts == NULL || shortopts == NULL || seen == NULL) {
        rc = ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
        goto out;
    }
    /* A leading ':' makes a missing value ':' rather than '?'. */
    char *p = shortopts;
    *p++ = ':';
    for (size_t i = 0; i < n; i++) {
        const ferry_opt *o = &table[i];
        bool has_arg = o->kind != FERRY_OPT_FLAG;
        longopts[i] = (struct option){o->name, has_arg ? required_argument : no_argument, NULL,
                                      row_val(table, o)};
        if (o->letter != 0) {
            *p++ = (char)o->letter;
            if (has_arg)
                *p++ = ':';
        }
        if (o->def != NULL && store(o, o->def, err) != FERRY_OK) {
            rc = ferry_err_set(err, FERRY_ERR_INTERNAL, "option table, --%s: bad default '%s'",
                               o->name, o->def);
            goto out;
        }
    }
    *p = '\0';

    optind = 0; /* glibc: start afresh, forgetting any earlier parse */
    opterr = 0; /* errors are reported here, naming the option */
    for (;;) {
        int c = getopt_long(argc, argv, shortopts, longopts, NULL);
        if (c == -1)
            break;
        const ferry_opt *o = row_of(table, n, c == ':' ? optopt : c);
        if (c == '?' || o == NULL) {
            rc = unknown(table, n, argv, err);
            goto out;
        }
        if (c == ':') {
            rc = ferry_err_set(err, FERRY_ERR_INVALID, "--%s needs a value", o->name);
            goto out;
        }
        seen[o - table] = true;
        rc = store(o, optarg, err);
        if (rc != FERRY_OK || (o->flags & FERRY_OPT_STOP))
            goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if ((table[i].flags & FERRY_OPT_REQUIRED) && !seen[i]) {
            rc = ferry_err_set(err, FERRY_ERR_INVALID, "--%s is required", table[i].name);
            goto out;
        }
    }
    if (operands != NULL)
        *operands = optind;
    else if (optind < argc)
        rc = ferry_err_set(err, FERRY_ERR_INVALID, "unexpected argument '%s'", argv[optind]);
out:
    free(longopts);
    free(shortopts);
    free(seen);
    return rc;
}

void ferry_opts_cleanup(const ferry_opt *table)
{
    for (size_t i = 0; table[i].name != NULL; i++) {
        if ((table[i].flags & FERRY_OPT_REPEAT) && table[i].dest != NULL) {
            ferry_opt_list *list = table[i].dest;
            free(list->v);
            list->v = NULL;
            list->n = 0;
        }
    }
}

/* ---- usage -------------------------------------------------------------------------------- */

static const char *arg_name(const ferry_opt *o)
{
    if (o->arg != NULL)
        return o->arg;
    switch (o->kind) {
    case FERRY_OPT_FLAG:
        return "";
    case FERRY_OPT_STRING:
        return "TEXT";
    case FERRY_OPT_INT:
        return "N";
    case FERRY_OPT_SIZE:
        return "SIZE";
    case FERRY_OPT_DURATION:
        return "DURATION";
    }
    return "";
}

/* The width of a row's head: "-j, --jobs N". */
static size_t head_width(const ferry_opt *o)
{
    size_t w = 2 + strlen(o->name) + (o->letter != 0 ? 4 : 0);
    if (o->kind != FERRY_OPT_FLAG)
        w += 1 + strlen(arg_name(o));
    return w;
}

void ferry_opts_usage(const ferry_opt *table, FILE *out)
{
    size_t col = 0;
    for (size_t i = 0; table[i].name != NULL; i++) {
        size_t w = head_width(&table[i]);
        if (table[i].help != NULL && w <= WIDTH_MAX && w > col)
            col = w;
    }
    for (size_t i = 0; table[i].name != NULL; i++) {
        const ferry_opt *o = &table[i];
        if (o->help == NULL)
            continue;
        size_t w = head_width(o);
        if (o->letter != 0)
            (void)fprintf(out, "  -%c, --%s", o->letter, o->name);
        else
            (void)fprintf(out, "  --%s", o->name);
        if (o->kind != FERRY_OPT_FLAG)
            (void)fprintf(out, " %s", arg_name(o));
        if (w > col)
            (void)fprintf(out, "\n%*s", (int)col + 4, "");
        else
            (void)fprintf(out, "%*s", (int)(col - w) + 2, "");
        /* The help, each further line indented to the column. */
        for (const char *line = o->help;;) {
            size_t len = strcspn(line, "\n");
            (void)fprintf(out, "%.*s", (int)len, line);
            if (line[len] == '\0')
                break;
            line += len + 1;
            (void)fprintf(out, "\n%*s", (int)col + 4, "");
        }
        if (o->def != NULL)
            (void)fprintf(out, " (default %s)", o->def);
        if (o->flags & FERRY_OPT_REQUIRED)
            (void)fprintf(out, " (required)");
        if (o->flags & FERRY_OPT_REPEAT)
            (void)fprintf(out, " (repeatable)");
        (void)fputc('\n', out);
    }
}

int ferry_opts_cli(const ferry_opt *table, int argc, char **argv, const char *prog, const char *op,
                   void (*usage)(FILE *out, const ferry_opt *table), const bool *help)
{
    ferry_err err = {0};
    ferry_rc rc = ferry_opts_parse(table, argc, argv, NULL, &err);
    if (rc != FERRY_OK) {
        if (op != NULL && op[0] != '\0')
            (void)fprintf(stderr, "%s %s: %s\n", prog, op, err.msg);
        else
            (void)fprintf(stderr, "%s: %s\n", prog, err.msg);
        usage(stderr, table);
        return rc == FERRY_ERR_INVALID ? 2 : 1;
    }
    if (*help) {
        usage(stdout, table);
        return 0;
    }
    return -1;
}
