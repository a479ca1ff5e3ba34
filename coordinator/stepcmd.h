/*
 * stepcmd.h - builds the StepCommand a step's worker receives, from the app's spec: which
 * database, file store, DNS names or app the step's purpose acts on. Nothing here talks to
 * Kafka or Redis.
 */
#ifndef FERRY_STEPCMD_H
#define FERRY_STEPCMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry.pb-c.h"
#include "ferry/error.h"
#include "machine.h"
#include "spec.h"

#define STEPCMD_NAMES_MAX FERRY_SPEC_NAMES_MAX      /* a spec's names all fit one step */
#define STEPCMD_ZONES_MAX (2 * FERRY_SPEC_ENVS_MAX) /* a zone per side of each environment */
#define STEPCMD_SLOT_MAX  63                        /* PostgreSQL's longest slot name */

/* A built command and everything it points into. Strings from the spec are borrowed: keep the
 * spec alive while the command is used. Clean up with stepcmd_cleanup(). */
typedef struct stepcmd_built {
    Ferry__V1__StepCommand cmd;
    Ferry__V1__DumpRestoreParams dr;
    Ferry__V1__FileSyncParams fs;
    Ferry__V1__DnsParams dns;
    Ferry__V1__AppParams app;
    Ferry__V1__HealthCheck health;
    Ferry__V1__Database db[2];
    Ferry__V1__FileStore store[2];
    Ferry__V1__S3Location s3[2];
    Ferry__V1__SecretRef secrets[8 + STEPCMD_ZONES_MAX];
    size_t n_secrets;
    char *names[STEPCMD_NAMES_MAX];
    Ferry__V1__DnsRename renames[STEPCMD_NAMES_MAX];
    Ferry__V1__DnsRename *rename_ptrs[STEPCMD_NAMES_MAX];
    Ferry__V1__DnsZone zones[STEPCMD_ZONES_MAX];
    Ferry__V1__DnsZone *zone_ptrs[STEPCMD_ZONES_MAX];
    char *zone_names[STEPCMD_NAMES_MAX];                   /* each zone's names point into here */
    Ferry__V1__DnsRename *zone_renames[STEPCMD_NAMES_MAX]; /* and each zone's renames */
    const ferry_spec_dns *entry_dns[STEPCMD_NAMES_MAX];    /* the side each name or rename is of */
    char slot[STEPCMD_SLOT_MAX + 1];                       /* the logical operations' slot */
    char *owned[2 * STEPCMD_NAMES_MAX]; /* strings built here, freed by stepcmd_cleanup() */
    size_t n_owned;
} stepcmd_built;

/* The step to build a command for. */
typedef struct stepcmd_for {
    const char *migration; /* "shop.production" */
    const char *env;       /* "production" */
    const char *step;      /* "dr-3" */
    const char *purpose;   /* "replicate.dr" */
    int64_t attempt;
    int64_t deadline; /* ms, 0 none */
    int64_t pass;     /* file passes */
    bool overwrite;   /* dump-restore: the target may hold data Ferry did not write */
    const char *issued_by;
    int64_t issued_at; /* ms */
} stepcmd_for;

/* Builds *out (zeroed first). FERRY_ERR_INVALID when the purpose is unknown or the spec has no
 * such environment. Call stepcmd_cleanup() whatever the result. */
ferry_rc stepcmd_build(const ferry_spec *spec, const stepcmd_for *step, stepcmd_built *out,
                       ferry_err *err);
void stepcmd_cleanup(stepcmd_built *b);

/* The replication slot (and publication) of migration's logical method: "ferry_" and the id
 * with every character but a-z and 0-9 made '_' ("shop.production" -> "ferry_shop_production");
 * an id too long for 63 is cut and ends with a hash of the whole. */
void stepcmd_slot_name(const char *migration, char *out, size_t outsz);

/* The wire operation for a kind and operation name ("dump_restore", "copy"). */
ferry_rc stepcmd_operation(const char *kind, const char *op, Ferry__V1__StepKind *k,
                           Ferry__V1__Operation *o);

#endif
