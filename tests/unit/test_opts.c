/* Unit tests for opts.c: command lines read through a table of options, errors that name the
 * option, repeated options, and the usage printed from the same table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/opts.h"
#include "ferry_test.h"

#define MAX_ARGS 32

/* What the test table fills. */
typedef struct args {
    const char *source, *mode;
    int64_t jobs, split, wait;
    bool verify, help;
    ferry_opt_list names;
} args;

/* A mutable argv (getopt_long permutes it) built from a space-separated line. */
typedef struct argv_buf {
    char text[1024];
    char *argv[MAX_ARGS + 1];
    int argc;
} argv_buf;

static void split_line(argv_buf *a, const char *line)
{
    int n = snprintf(a->text, sizeof(a->text), "copy %s", line);
    CU_ASSERT_FATAL(n > 0 && (size_t)n < sizeof(a->text));
    a->argc = 0;
    char *p = a->text;
    while (*p != '\0' && a->argc < MAX_ARGS) {
        while (*p == ' ')
            *p++ = '\0';
        if (*p == '\0')
            break;
        a->argv[a->argc++] = p;
        while (*p != '\0' && *p != ' ')
            p++;
    }
    a->argv[a->argc] = NULL;
}

/* The table every test parses with; rows point into a. */
static void table_for(args *a, ferry_opt *t, size_t size)
{
    const ferry_opt rows[] = {
        {.name = "source",
         .letter = 's',
         .kind = FERRY_OPT_STRING,
         .flags = FERRY_OPT_REQUIRED,
         .dest = &a->source,
         .arg = "CONNINFO",
         .help = "the source database"},
        {.name = "mode", .kind = FERRY_OPT_STRING, .dest = &a->mode, .def = "fast", .help = "mode"},
        {.name = "jobs",
         .letter = 'j',
         .kind = FERRY_OPT_INT,
         .dest = &a->jobs,
         .min = 1,
         .max = 64,
         .def = "2",
         .help = "parallel streams"},
        {.name = "split",
         .kind = FERRY_OPT_SIZE,
         .dest = &a->split,
         .min = 1024 * 1024,
         .max = INT64_MAX,
         .def = "256M",
         .help = "a table larger than this is copied in ranges\nof about this size"},
        {.name = "wait",
         .kind = FERRY_OPT_DURATION,
         .dest = &a->wait,
         .min = 1000,
         .max = 3600000,
         .help = "how long to wait"},
        {.name = "name",
         .kind = FERRY_OPT_STRING,
         .flags = FERRY_OPT_REPEAT,
         .dest = &a->names,
         .help = "a name"},
        {.name = "verify", .kind = FERRY_OPT_FLAG, .dest = &a->verify, .help = "verify at the end"},
        {.name = "help",
         .letter = 'h',
         .kind = FERRY_OPT_FLAG,
         .flags = FERRY_OPT_STOP,
         .dest = &a->help,
         .help = NULL},
        {.name = NULL},
    };
    CU_ASSERT_FATAL(sizeof(rows) <= size);
    memcpy(t, rows, sizeof(rows));
}

static ferry_opt T[16];
static args A;
static argv_buf B;
static ferry_err E;

/* Parses a line with the test table (operands refused unless ops is non-NULL). */
static ferry_rc parse(const char *line, int *ops)
{
    ferry_opts_cleanup(T);
    memset(&A, 0, sizeof(A));
    table_for(&A, T, sizeof(T));
    split_line(&B, line);
    ferry_err_clear(&E);
    return ferry_opts_parse(T, B.argc, B.argv, ops, &E);
}

/* Parses a line that must be refused as a mistake on the command line; returns the message. */
static const char *refused(const char *line)
{
    ferry_rc rc = parse(line, NULL);
    CU_ASSERT_EQUAL(rc, FERRY_ERR_INVALID);
    if (rc != FERRY_ERR_INVALID)
        fprintf(stderr, "\n  accepted: %s\n", line);
    return E.msg;
}

static void every_kind_is_stored(void)
{
    CU_ASSERT_EQUAL_FATAL(
        parse("--source db1 --jobs 8 --split=1G --wait 30s --verify --mode slow", NULL), FERRY_OK);
    CU_ASSERT_STRING_EQUAL(A.source, "db1");
    CU_ASSERT_STRING_EQUAL(A.mode, "slow");
    CU_ASSERT_EQUAL(A.jobs, 8);
    CU_ASSERT_EQUAL(A.split, 1024LL * 1024 * 1024);
    CU_ASSERT_EQUAL(A.wait, 30000);
    CU_ASSERT_TRUE(A.verify);
    CU_ASSERT_FALSE(A.help);
    CU_ASSERT_EQUAL(A.names.n, 0);
    /* Short letters, an abbreviation, and a bare number of milliseconds. */
    CU_ASSERT_EQUAL_FATAL(parse("-s db2 -j3 --ver --wait 1500", NULL), FERRY_OK);
    CU_ASSERT_STRING_EQUAL(A.source, "db2");
    CU_ASSERT_EQUAL(A.jobs, 3);
    CU_ASSERT_TRUE(A.verify);
    CU_ASSERT_EQUAL(A.wait, 1500);
}

static void defaults_come_from_the_table(void)
{
    CU_ASSERT_EQUAL_FATAL(parse("--source db", NULL), FERRY_OK);
    CU_ASSERT_STRING_EQUAL(A.mode, "fast");
    CU_ASSERT_EQUAL(A.jobs, 2);
    CU_ASSERT_EQUAL(A.split, 256LL * 1024 * 1024);
    CU_ASSERT_EQUAL(A.wait, 0); /* no default: left as the caller set it */
    CU_ASSERT_FALSE(A.verify);
}

static void bounds_are_inclusive(void)
{
    CU_ASSERT_EQUAL(parse("--source db --jobs 1 --split 1M --wait 1s", NULL), FERRY_OK);
    CU_ASSERT_EQUAL(parse("--source db --jobs 64 --wait 1h", NULL), FERRY_OK);
    CU_ASSERT_EQUAL(A.wait, 3600000);
}

static void errors_name_the_option(void)
{
    CU_ASSERT_STRING_EQUAL(refused("--source db --jobs x"),
                           "--jobs: a number from 1 to 64, not 'x'");
    CU_ASSERT_STRING_EQUAL(refused("--source db --jobs 65"),
                           "--jobs: a number from 1 to 64, not '65'");
    CU_ASSERT_STRING_EQUAL(refused("--source db -j 0"), "--jobs: a number from 1 to 64, not '0'");
    CU_ASSERT_STRING_EQUAL(refused("--source db --jobs 4x"),
                           "--jobs: a number from 1 to 64, not '4x'");
    CU_ASSERT_STRING_EQUAL(refused("--source db --split 512K"),
                           "--split: a size (bytes, or with K/M/G) of 1M or more, not '512K'");
    CU_ASSERT_STRING_EQUAL(refused("--source db --wait 2h"),
                           "--wait: a duration (250ms, 30s, 5m, 2h) from 1s to 1h, not '2h'");
    CU_ASSERT_STRING_EQUAL(refused("--source db --wait soon"),
                           "--wait: a duration (250ms, 30s, 5m, 2h) from 1s to 1h, not 'soon'");
    CU_ASSERT_STRING_EQUAL(refused("--source db --jbos 2"), "unknown option '--jbos'");
    CU_ASSERT_STRING_EQUAL(refused("--source db --jbos=2"), "unknown option '--jbos'");
    CU_ASSERT_STRING_EQUAL(refused("--source db -x"), "unknown option '-x'");
    CU_ASSERT_STRING_EQUAL(refused("--s db"), "option '--s' is ambiguous");
    CU_ASSERT_STRING_EQUAL(refused("--source db --jobs"), "--jobs needs a value");
    CU_ASSERT_STRING_EQUAL(refused("--source db -j"), "--jobs needs a value");
    CU_ASSERT_STRING_EQUAL(refused("--source db --verify=yes"), "--verify takes no value");
    CU_ASSERT_STRING_EQUAL(refused("--jobs 2"), "--source is required");
    CU_ASSERT_STRING_EQUAL(refused("--source db extra"), "unexpected argument 'extra'");
}

static void repeated_options_keep_every_value(void)
{
    CU_ASSERT_EQUAL_FATAL(parse("--name a. --source db --name b. --name=c. --source db2", NULL),
                          FERRY_OK);
    CU_ASSERT_EQUAL_FATAL(A.names.n, 3);
    CU_ASSERT_STRING_EQUAL(A.names.v[0], "a.");
    CU_ASSERT_STRING_EQUAL(A.names.v[1], "b.");
    CU_ASSERT_STRING_EQUAL(A.names.v[2], "c.");
    CU_ASSERT_STRING_EQUAL(A.source, "db2"); /* not repeatable: the last one counts */
    ferry_opts_cleanup(T);
    CU_ASSERT_PTR_NULL(A.names.v);
    CU_ASSERT_EQUAL(A.names.n, 0);
}

static void a_stop_option_ends_parsing(void)
{
    /* --help wins over what follows it, a missing required option included. */
    CU_ASSERT_EQUAL_FATAL(parse("--help --jobs x", NULL), FERRY_OK);
    CU_ASSERT_TRUE(A.help);
    CU_ASSERT_EQUAL(parse("-h", NULL), FERRY_OK);
    CU_ASSERT_TRUE(A.help);
    /* ... but not over a mistake before it. */
    CU_ASSERT_STRING_EQUAL(refused("--jobs x --help"), "--jobs: a number from 1 to 64, not 'x'");
}

static void operands_are_returned_when_allowed(void)
{
    int ops = -1;
    CU_ASSERT_EQUAL_FATAL(parse("one --source db two -- --three", &ops), FERRY_OK);
    CU_ASSERT_EQUAL_FATAL(ops, B.argc - 3);
    CU_ASSERT_STRING_EQUAL(B.argv[ops], "one");
    CU_ASSERT_STRING_EQUAL(B.argv[ops + 1], "two");
    CU_ASSERT_STRING_EQUAL(B.argv[ops + 2], "--three");
    CU_ASSERT_EQUAL(parse("--source db", &ops), FERRY_OK);
    CU_ASSERT_EQUAL(ops, B.argc);
}

static void a_broken_table_is_a_bug(void)
{
    int64_t n = 0;
    bool f = false;
    const char *s = NULL;
    ferry_err err;
    char prog[] = "x";
    char *argv[] = {prog, NULL};
    const ferry_opt repeat_int[] = {
        {.name = "n", .kind = FERRY_OPT_INT, .flags = FERRY_OPT_REPEAT, .dest = &n, .max = 9},
        {.name = NULL}};
    CU_ASSERT_EQUAL(ferry_opts_parse(repeat_int, 1, argv, NULL, &err), FERRY_ERR_INTERNAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "--n"));
    const ferry_opt twice[] = {{.name = "a", .letter = 'a', .kind = FERRY_OPT_FLAG, .dest = &f},
                               {.name = "b", .letter = 'a', .kind = FERRY_OPT_STRING, .dest = &s},
                               {.name = NULL}};
    CU_ASSERT_EQUAL(ferry_opts_parse(twice, 1, argv, NULL, &err), FERRY_ERR_INTERNAL);
    const ferry_opt bad_default[] = {
        {.name = "n", .kind = FERRY_OPT_INT, .dest = &n, .min = 1, .max = 9, .def = "10"},
        {.name = NULL}};
    CU_ASSERT_EQUAL(ferry_opts_parse(bad_default, 1, argv, NULL, &err), FERRY_ERR_INTERNAL);
    const ferry_opt no_dest[] = {{.name = "a", .kind = FERRY_OPT_FLAG}, {.name = NULL}};
    CU_ASSERT_EQUAL(ferry_opts_parse(no_dest, 1, argv, NULL, &err), FERRY_ERR_INTERNAL);
}

static void usage_is_printed_from_the_table(void)
{
    (void)parse("--source db", NULL);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    ferry_opts_usage(T, f);
    CU_ASSERT_EQUAL_FATAL(fclose(f), 0);
    const char *want = "  -s, --source CONNINFO  the source database (required)\n"
                       "  --mode TEXT            mode (default fast)\n"
                       "  -j, --jobs N           parallel streams (default 2)\n"
                       "  --split SIZE           a table larger than this is copied in ranges\n"
                       "                         of about this size (default 256M)\n"
                       "  --wait DURATION        how long to wait\n"
                       "  --name TEXT            a name (repeatable)\n"
                       "  --verify               verify at the end\n";
    CU_ASSERT_STRING_EQUAL(text, want);
    if (strcmp(text, want) != 0)
        fprintf(stderr, "\n%s", text);
    free(text);
}

static void parses_again_from_the_start(void)
{
    /* getopt_long()'s state is global; each parse starts over, even after a short option
     * cluster was left half read by an error. */
    (void)refused("--source db -vj");
    CU_ASSERT_EQUAL(parse("-s db -j 5", NULL), FERRY_OK);
    CU_ASSERT_EQUAL(A.jobs, 5);
    CU_ASSERT_EQUAL(parse("--source db", NULL), FERRY_OK);
    CU_ASSERT_EQUAL(A.jobs, 2);
    ferry_opts_cleanup(T);
}

/* ferry_opts_cli: the answer every binary gives, and where the usage goes. */
static int usage_calls;
static FILE *usage_out;

static void count_usage(FILE *out, const ferry_opt *table)
{
    (void)table;
    usage_calls++;
    usage_out = out;
}

static int cli(const char *line)
{
    ferry_opts_cleanup(T);
    memset(&A, 0, sizeof(A));
    table_for(&A, T, sizeof(T));
    split_line(&B, line);
    usage_calls = 0;
    usage_out = NULL;
    return ferry_opts_cli(T, B.argc, B.argv, "ferry-test", "copy", count_usage, &A.help);
}

static void a_command_line_is_answered(void)
{
    CU_ASSERT_EQUAL(cli("--source db --jobs 4"), -1); /* go on */
    CU_ASSERT_EQUAL(A.jobs, 4);
    CU_ASSERT_EQUAL(usage_calls, 0);
    CU_ASSERT_EQUAL(cli("--jobs 4"), 2); /* --source is required: a usage error */
    CU_ASSERT_EQUAL(usage_calls, 1);
    CU_ASSERT_PTR_EQUAL(usage_out, stderr);
    CU_ASSERT_EQUAL(cli("--help"), 0);
    CU_ASSERT_EQUAL(usage_calls, 1);
    CU_ASSERT_PTR_EQUAL(usage_out, stdout);
}

static const ferry_test_case cases[] = {
    {"a command line is answered the same way everywhere", a_command_line_is_answered},
    {"every kind of value is stored", every_kind_is_stored},
    {"defaults come from the table", defaults_come_from_the_table},
    {"bounds are inclusive", bounds_are_inclusive},
    {"every error names the option", errors_name_the_option},
    {"a repeated option keeps every value", repeated_options_keep_every_value},
    {"a stop option (--help) ends the parsing", a_stop_option_ends_parsing},
    {"operands are returned when allowed", operands_are_returned_when_allowed},
    {"a broken table is reported as a bug", a_broken_table_is_a_bug},
    {"the usage is printed from the table", usage_is_printed_from_the_table},
    {"each parse starts from the beginning", parses_again_from_the_start},
    {NULL, NULL},
};

int main(void)
{
    static const ferry_test_suite suites[] = {{"opts", NULL, NULL, cases},
                                              {NULL, NULL, NULL, NULL}};
    return ferry_test_main(suites);
}
