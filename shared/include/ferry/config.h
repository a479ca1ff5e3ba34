/*
 * config.h - every Ferry setting is one row of one table (config.c); one loader for all binaries.
 *
 * A row has a name ("kafka.brokers"), its environment variable (FERRY_KAFKA_BROKERS), a type, a
 * default, bounds, the components that read it, whether those components require it, and whether
 * it is a secret. A secret may instead come from <VAR>_FILE (the file's content, one trailing
 * newline dropped); setting both is an error. Loading checks every row and reports every
 * problem at once, one line each. Loaded secrets are registered with the logger so they can
 * never be logged.
 */
#ifndef FERRY_CONFIG_H
#define FERRY_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "ferry/error.h"

/* The components (binaries) that read settings; a row names the ones that use it. */
enum {
    FERRY_COMP_COORDINATOR = 1u << 0,
    FERRY_COMP_CTL = 1u << 1,
    FERRY_COMP_DUMP_RESTORE = 1u << 2,
    FERRY_COMP_FILE_SYNC = 1u << 3,
    FERRY_COMP_DNS = 1u << 4,
    FERRY_COMP_APP = 1u << 5,
    FERRY_COMP_TEST = 1u << 6, /* the integration tests: they use every service */
    FERRY_COMP_NOOP = 1u << 7, /* workers with no system of their own: the tests' executor and
                                  the benchmark's no-op worker */
    /* Added to a worker's component for its command line (one operation on its own, no Kafka,
     * no Redis): the Kafka and Redis rows are then loaded but not required. */
    FERRY_COMP_STANDALONE = 1u << 8,
};
#define FERRY_COMP_WORKERS                                                                         \
    (FERRY_COMP_DUMP_RESTORE | FERRY_COMP_FILE_SYNC | FERRY_COMP_DNS | FERRY_COMP_APP |            \
     FERRY_COMP_NOOP)

typedef enum ferry_cfg_type {
    FERRY_CFG_STRING,   /* any text */
    FERRY_CFG_URL,      /* scheme://host...; a password inside it is refused */
    FERRY_CFG_INT,      /* decimal integer within [min, max] */
    FERRY_CFG_BOOL,     /* true/false/yes/no/1/0/on/off */
    FERRY_CFG_DURATION, /* 250ms, 30s, 5m, 2h, or a bare number of milliseconds; kept in ms */
    FERRY_CFG_SIZE,     /* bytes with optional K/M/G suffix (powers of 1024) */
    FERRY_CFG_ENUM,     /* one of the '|'-separated words in choices */
} ferry_cfg_type;

enum {
    FERRY_CFG_REQUIRED = 1u << 0, /* required by the components in `components` */
    FERRY_CFG_SECRET = 1u << 1,   /* never printed; may come from <VAR>_FILE */
};

typedef struct ferry_cfg_setting {
    const char *name; /* dotted name, used by the getters */
    const char *env;  /* environment variable */
    ferry_cfg_type type;
    const char *def;     /* default as text, NULL for none */
    int64_t min, max;    /* bounds for INT, DURATION (ms) and SIZE (bytes) */
    const char *choices; /* for ENUM: "kv|json" */
    unsigned components; /* FERRY_COMP_* that read it */
    unsigned flags;      /* FERRY_CFG_REQUIRED, FERRY_CFG_SECRET */
    const char *help;
} ferry_cfg_setting;

/* Loaded configuration; opaque. */
typedef struct ferry_cfg ferry_cfg;

/* Returns the value of an environment variable, or NULL. Lets tests load from a table. */
typedef const char *(*ferry_cfg_getenv_fn)(const char *name, void *ud);

/* The settings table and its length (read-only). */
const ferry_cfg_setting *ferry_cfg_table(size_t *len);

/*
 * Loads every row used by `component` from the environment (getenv_fn NULL means getenv).
 * On success *out is set; caller frees with ferry_cfg_free(). On failure returns
 * FERRY_ERR_CONFIG (or FERRY_ERR_NOMEM), *out is NULL, and *problems is every problem, one per
 * line, each naming the variable ("FERRY_KAFKA_BROKERS: required but not set"); caller frees
 * *problems with free(). Problems never quote a secret's value.
 */
ferry_rc ferry_cfg_load(unsigned component, ferry_cfg_getenv_fn getenv_fn, void *ud,
                        ferry_cfg **out, char **problems);

void ferry_cfg_free(ferry_cfg *cfg);

/* Getters by dotted name. A name that is not in the table, or not loaded for this component,
 * is a bug: the getters abort with a message naming it. Strings are borrowed until
 * ferry_cfg_free(); an unset optional string is NULL. */
const char *ferry_cfg_str(const ferry_cfg *cfg, const char *name);
int64_t ferry_cfg_int(const ferry_cfg *cfg, const char *name); /* INT, DURATION, SIZE */
bool ferry_cfg_bool(const ferry_cfg *cfg, const char *name);

/* Prints the effective settings, one "ENV=value" per line, secrets as "***" (--check-config). */
void ferry_cfg_dump(const ferry_cfg *cfg, FILE *out);

/*
 * Resolves a secret named in a step command (SecretRef, docs/spec.md "Secrets"): the value of
 * FERRY_SECRET_<name>, else the content of the file FERRY_SECRET_<name>_FILE. name must be
 * [A-Z0-9_]{1,64}. On success *out is the value (caller frees with free()), registered with
 * the logger's redaction. An unset secret is FERRY_ERR_CONFIG with a message naming both
 * variables (never a value).
 */
ferry_rc ferry_secret_get(const char *name, char **out, ferry_err *err);

/* Parsers used by the loader, public for tests and for other inputs (the migration spec, the
 * command lines' options). Each takes the whole text ("12x" is refused), returns 0 and sets
 * *out, or returns -1 and leaves *out alone. */
int ferry_parse_int(const char *text, int64_t *out); /* decimal, optional '-' */
int ferry_parse_duration_ms(const char *text, int64_t *out);
int ferry_parse_size(const char *text, int64_t *out);
int ferry_parse_bool(const char *text, bool *out);

#endif
