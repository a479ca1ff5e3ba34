/*
 * spec.h - the migration spec: one app, its environments, and for each the source and the target
 * (database, files, DNS names, runtime), plus options. JSON, documented in docs/spec.md.
 *
 * Parsing checks everything and reports every problem at once, each with its JSON path
 * ("$.environments.production.source.database.conninfo: holds a password; name a secret
 * instead"). Secrets are never written in a spec: they are named (`*_secret`) and each worker
 * resolves the name from its own environment (FERRY_SECRET_<NAME>).
 */
#ifndef FERRY_SPEC_H
#define FERRY_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/error.h"

#define FERRY_SPEC_APP_MAX 63
#define FERRY_SPEC_ENV_MAX 32
/* What can grow in a spec, bounded so that every step built from it fits (a cutover's rename
 * step carries every name of every environment). Each has its own error naming the limit. */
#define FERRY_SPEC_ENVS_MAX  32  /* environments */
#define FERRY_SPEC_NAMES_MAX 128 /* DNS names in the whole spec, both sides */

/* How an environment's database is moved (docs/logical-replication.md). */
typedef enum ferry_spec_db_method {
    FERRY_SPEC_DB_AUTO = 0,     /* logical where the source allows it, else dump_restore */
    FERRY_SPEC_DB_LOGICAL,      /* a copy, then the source's changes streamed until cutover */
    FERRY_SPEC_DB_DUMP_RESTORE, /* a whole copy at each stop and at the cutover */
} ferry_spec_db_method;

/* "auto", "logical", "dump_restore". */
const char *ferry_spec_db_method_name(ferry_spec_db_method method);

/* A database: a libpq connection string (URL or keywords) without a password. */
typedef struct ferry_spec_db {
    char *conninfo;
    char *password_secret; /* NULL when the connection needs none (trust, peer, .pgpass) */
    /* Source side only: */
    ferry_spec_db_method method;
    int64_t max_retained_wal; /* bytes of WAL a slot may keep; 0: the worker's default */
} ferry_spec_db;

/* Stored files: a directory tree, or an S3 bucket and prefix. */
typedef struct ferry_spec_files {
    char *directory;         /* set for a directory, else NULL */
    char *s3_bucket;         /* set for s3://bucket/prefix, else NULL */
    char *s3_prefix;         /* "" for the whole bucket; no leading '/' */
    char *s3_endpoint;       /* http(s)://host:port */
    char *s3_region;         /* default "us-east-1" */
    char *access_key_secret; /* names of the S3 credentials */
    char *secret_key_secret;
} ferry_spec_files;

/* The app on its hosting platform. */
typedef struct ferry_spec_runtime {
    char *platform;           /* "supervisor" or "mendix" */
    char *app;                /* the app's reference there (program name, app id) */
    char *environment;        /* the platform's environment name; default: the spec's */
    char *user;               /* mendix: the Mendix-Username; NULL for supervisor */
    char *credentials_secret; /* NULL when the worker's own configuration suffices */
    char *health_url;         /* optional: checked after start */
    uint32_t timeout_seconds; /* start/stop time limit; default 300 */
} ferry_spec_runtime;

/* DNS names of one side, all in one zone. */
typedef struct ferry_spec_dns {
    char *zone;   /* fully qualified, trailing dot */
    char **names; /* fully qualified, trailing dot; at least one */
    size_t n_names;
    char *api_key_secret; /* NULL: the DNS worker's own configuration */
} ferry_spec_dns;

typedef struct ferry_spec_side {
    char *id; /* the environment's id on its platform (a UUID in the source document) */
    ferry_spec_db database;
    ferry_spec_files files;
    ferry_spec_dns dns;
    ferry_spec_runtime runtime;
} ferry_spec_side;

typedef struct ferry_spec_env {
    char *name; /* "production", "acceptance", "test", ... */
    ferry_spec_side source;
    ferry_spec_side target;
} ferry_spec_env;

typedef struct ferry_spec_options {
    int64_t file_sync_pause_ms; /* pause between file passes; default 5 minutes */
    bool file_sync_delete;      /* passes remove target files the source no longer has */
    char *source_suffix;        /* given to the source's names at cutover; default "-v3" */
    char *target_suffix;        /* removed from the target's names at cutover; default "-v4" */
    uint32_t dns_ttl;           /* seconds, set when replication starts; default 300 */
    bool overwrite_target;      /* a first copy may replace data Ferry did not write */
} ferry_spec_options;

typedef struct ferry_spec {
    char *app;
    ferry_spec_env *envs; /* in the order of the JSON object */
    size_t n_envs;
    ferry_spec_options options;
} ferry_spec;

/* One problem: where (a JSON path from "$") and what. */
typedef struct ferry_spec_problem {
    char path[256];
    char message[256];
} ferry_spec_problem;

typedef struct ferry_spec_problems {
    ferry_spec_problem *items; /* caller frees with ferry_spec_problems_cleanup() */
    size_t count;
} ferry_spec_problems;

/*
 * Parses and checks a spec. On success *out is the spec (caller frees with ferry_spec_free()).
 * On FERRY_ERR_INVALID, *out is NULL and problems lists every problem found (JSON that does not
 * parse is one problem at "$" with the line and column). err's message summarizes ("the spec has
 * 3 problems"). problems may be NULL when the caller does not want them.
 */
ferry_rc ferry_spec_parse(const char *json, size_t len, ferry_spec **out,
                          ferry_spec_problems *problems, ferry_err *err);

void ferry_spec_free(ferry_spec *spec);
void ferry_spec_problems_cleanup(ferry_spec_problems *problems);

/* The environment named name, borrowed from spec; NULL when there is none. */
const ferry_spec_env *ferry_spec_env_find(const ferry_spec *spec, const char *name);

/*
 * The names of a DNS name after cutover. For a source name: the source suffix inserted after
 * the app's name in the first label ("shop.example.com." -> "shop-v3.example.com.",
 * "shop-test.example.com." -> "shop-v3-test.example.com."), or at the end of the first label when
 * it does not start with the app's name. For a target name: the target suffix removed from the
 * first label ("shop-v4-test.example.com." -> "shop-test.example.com."). Writes into out; returns
 * FERRY_ERR_INVALID when the name does not have the expected form, or out is too small.
 */
ferry_rc ferry_spec_source_renamed(const ferry_spec *spec, const char *name, char *out,
                                   size_t outsz, ferry_err *err);
ferry_rc ferry_spec_target_renamed(const ferry_spec *spec, const char *name, char *out,
                                   size_t outsz, ferry_err *err);

#endif
