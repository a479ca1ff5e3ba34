/*
 * opts.h - a command line read through a table of its options, one row per option: the long
 * name, a short letter, the kind of value, where the value goes, and the help text. The table
 * builds getopt_long()'s option array, checks each value with config.c's parsers and the row's
 * bounds, names the option in every error ("--jobs: a number from 1 to 64, not 'x'"), and
 * prints the option list of the usage.
 *
 * A table is an array of rows ended by a row whose name is NULL. Rows usually point into one
 * struct of the caller's that holds the parsed command line:
 *
 *     const ferry_opt table[] = {
 *         {.name = "jobs", .kind = FERRY_OPT_INT, .dest = &args.jobs, .min = 1, .max = 64,
 *          .def = "2", .arg = "N", .help = "parallel streams"},
 *         {.name = "help", .letter = 'h', .kind = FERRY_OPT_FLAG, .flags = FERRY_OPT_STOP,
 *          .dest = &args.help, .help = "print this help"},
 *         {.name = NULL}};
 */
#ifndef FERRY_OPTS_H
#define FERRY_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ferry/error.h"

typedef enum ferry_opt_kind {
    FERRY_OPT_FLAG,     /* no value; dest is a bool *, set to true */
    FERRY_OPT_STRING,   /* dest is a const char **, borrowed from argv */
    FERRY_OPT_INT,      /* dest is an int64_t *: a decimal integer within [min, max] */
    FERRY_OPT_SIZE,     /* dest is an int64_t *: bytes, or with K/M/G (64M), within [min, max] */
    FERRY_OPT_DURATION, /* dest is an int64_t *: milliseconds from 250ms, 30s, 5m, 2h or a bare
                           number of milliseconds, within [min, max] */
} ferry_opt_kind;

enum {
    /* STRING only: every occurrence is kept, in order; dest is a ferry_opt_list *. Without it
     * an option given twice keeps its last value. */
    FERRY_OPT_REPEAT = 1u << 0,
    /* Parsing fails when the option is not given (unless a STOP option ended it). */
    FERRY_OPT_REQUIRED = 1u << 1,
    /* FLAG only: parsing ends successfully when the option is seen (--help, --version); the
     * rest of the command line is not looked at. */
    FERRY_OPT_STOP = 1u << 2,
};

/* The values of a FERRY_OPT_REPEAT row. Start from {0}. The strings are borrowed from argv;
 * the array belongs to the list: ferry_opts_cleanup() frees it. */
typedef struct ferry_opt_list {
    const char **v;
    size_t n;
} ferry_opt_list;

typedef struct ferry_opt {
    const char *name; /* long name without "--"; NULL ends the table */
    int letter;       /* short option letter ('h' for -h), or 0 for none */
    ferry_opt_kind kind;
    unsigned flags;   /* FERRY_OPT_REPEAT, FERRY_OPT_REQUIRED, FERRY_OPT_STOP */
    void *dest;       /* where the value goes; its type follows kind (see above) */
    int64_t min, max; /* inclusive bounds of INT, SIZE (bytes) and DURATION (ms) */
    const char *def;  /* default as text, stored in dest before parsing and shown in the
                         usage; NULL leaves dest as the caller set it */
    const char *arg;  /* the value's name in the usage ("N", "CONNINFO"); NULL: from the kind */
    const char *help; /* the usage's text ('\n' continues it on another line); NULL hides the
                         row from the usage */
} ferry_opt;

/*
 * Parses argv[1..argc-1] by the table (argv[0] is the program's or the sub-command's name, and
 * is not looked at). getopt_long() does the parsing: long options may be abbreviated, given as
 * --name VALUE or --name=VALUE, and operands may come between options (they are moved to the
 * end of argv). operands: NULL refuses any operand; otherwise *operands is set to the index in
 * argv of the first operand (argc when none).
 *
 * Returns FERRY_OK; FERRY_ERR_INVALID for a mistake on the command line, with err's message
 * naming the option ("--jobs: a number from 1 to 64, not 'x'", "unknown option '--jbos'",
 * "--source is required"); FERRY_ERR_NOMEM; FERRY_ERR_INTERNAL for a table that breaks the
 * rules above (a bug). Whatever it returns, the lists of REPEAT rows are freed with
 * ferry_opts_cleanup(). Not thread-safe: getopt_long()'s state is global.
 */
ferry_rc ferry_opts_parse(const ferry_opt *table, int argc, char **argv, int *operands,
                          ferry_err *err);

/* Frees the lists of the table's REPEAT rows and empties them. */
void ferry_opts_cleanup(const ferry_opt *table);

/* Prints the table's option list, one row each ("  --jobs N   parallel streams (default 2)"),
 * with the help texts aligned in one column. */
void ferry_opts_usage(const ferry_opt *table, FILE *out);

/*
 * A program's sub-command line, the way every Ferry binary answers it: parses argv by table
 * (as ferry_opts_parse, no operands); on a mistake prints "<prog> <op>: <message>" (or
 * "<prog>: <message>" when op is NULL, for a program without sub-commands) and the
 * usage to stderr and returns 2 (a usage error) or 1; when *help is set after parsing prints
 * the usage to stdout and returns 0; otherwise returns -1: go on and run the operation.
 * usage(out, table) prints the program's whole usage, the option list included.
 */
int ferry_opts_cli(const ferry_opt *table, int argc, char **argv, const char *prog, const char *op,
                   void (*usage)(FILE *out, const ferry_opt *table), const bool *help);

#endif
