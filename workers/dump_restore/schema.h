/*
 * schema.h - the schema half of a copy, done by PostgreSQL's own tools: pg_dump writes the
 * source's schema (as of the copy's snapshot) to a custom-format archive; pg_restore loads its
 * pre-data section before the rows and its post-data section (indexes, constraints, triggers)
 * after them, in parallel. The tools run as child processes that die with the worker, get the
 * password through their environment (never argv) and are stopped when the step must stop.
 */
#ifndef DR_SCHEMA_H
#define DR_SCHEMA_H

#include <stdbool.h>

#include "ferry/error.h"
#include "pg.h"

typedef struct dr_tools {
    char pg_dump[512];
    char pg_restore[512];
    int major; /* of pg_dump: it can read servers up to this major version */
} dr_tools;

/* Asked every 100 ms while a tool runs; true stops it (FERRY_ERR_CANCELLED). */
typedef struct dr_stop {
    bool (*stopping)(void *ud);
    void *ud;
} dr_stop;

/* Finds pg_dump and pg_restore: in pg_bin when given, else the newest
 * /usr/lib/postgresql/<major>/bin, else PATH; and reads pg_dump's major version. */
ferry_rc dr_tools_find(const char *pg_bin, dr_tools *out, ferry_err *err);

/* Dumps src's schema as of snapshot (none when NULL) into the archive file at path. */
ferry_rc dr_schema_dump(const dr_tools *tools, const dr_endpoint *src, const char *snapshot,
                        const char *path, const dr_stop *stop, ferry_err *err);

/* Restores one section ("pre-data" or "post-data") of the archive into dst, owners and
 * privileges (default privileges too) included, without tablespaces or security labels; jobs > 1
 * runs pg_restore -j. The roles named must exist on dst (dr_target_check_roles). */
ferry_rc dr_schema_restore(const dr_tools *tools, const dr_endpoint *dst, const char *path,
                           const char *section, int jobs, const dr_stop *stop, ferry_err *err);

#endif
