/* stepcmd.c - a step's StepCommand, built from the spec (see stepcmd.h). */
#include "stepcmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/wire.h"

static const Ferry__V1__Operation all_ops[] = {
    FERRY__V1__OPERATION__OPERATION_DUMP_RESTORE_COPY,
    FERRY__V1__OPERATION__OPERATION_DUMP_RESTORE_VERIFY,
    FERRY__V1__OPERATION__OPERATION_DUMP_RESTORE_LOGICAL_CHECK,
    FERRY__V1__OPERATION__OPERATION_DUMP_RESTORE_LOGICAL_START,
    FERRY__V1__OPERATION__OPERATION_DUMP_RESTORE_LOGICAL_STREAM,
    FERRY__V1__OPERATION__OPERATION_DUMP_RESTORE_LOGICAL_FINISH,
    FERRY__V1__OPERATION__OPERATION_DUMP_RESTORE_LOGICAL_DROP,
    FERRY__V1__OPERATION__OPERATION_FILE_SYNC_PASS,
    FERRY__V1__OPERATION__OPERATION_FILE_SYNC_VERIFY,
    FERRY__V1__OPERATION__OPERATION_DNS_LOWER_TTL,
    FERRY__V1__OPERATION__OPERATION_DNS_RENAME,
    FERRY__V1__OPERATION__OPERATION_DNS_CHECK,
    FERRY__V1__OPERATION__OPERATION_DNS_RESTORE_TTL,
    FERRY__V1__OPERATION__OPERATION_APP_START,
    FERRY__V1__OPERATION__OPERATION_APP_STOP,
    FERRY__V1__OPERATION__OPERATION_APP_STATUS,
};

ferry_rc stepcmd_operation(const char *kind, const char *op, Ferry__V1__StepKind *k,
                           Ferry__V1__Operation *o)
{
    if (ferry_wire_kind_parse(kind, k) != 0)
        return FERRY_ERR_INVALID;
    for (size_t i = 0; i < sizeof(all_ops) / sizeof(all_ops[0]); i++) {
        if (ferry_wire_operation_kind(all_ops[i]) == *k &&
            strcmp(ferry_wire_operation_name(all_ops[i]), op) == 0) {
            *o = all_ops[i];
            return FERRY_OK;
        }
    }
    return FERRY_ERR_INVALID;
}

void stepcmd_slot_name(const char *migration, char *out, size_t outsz)
{
    char name[STEPCMD_SLOT_MAX + 1];
    size_t n = (size_t)snprintf(name, sizeof(name), "ferry_");
    uint32_t h = 2166136261u; /* FNV-1a of the whole id, for names cut short */
    for (const char *c = migration; *c != '\0'; c++) {
        h = (h ^ (uint8_t)*c) * 16777619u;
        if (n < STEPCMD_SLOT_MAX)
            name[n++] = (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ? *c : '_';
    }
    name[n] = '\0';
    if (strlen("ferry_") + strlen(migration) > STEPCMD_SLOT_MAX)
        (void)snprintf(name + STEPCMD_SLOT_MAX - 9, 10, "_%08x", h);
    (void)snprintf(out, outsz, "%s", name);
}

void stepcmd_cleanup(stepcmd_built *b)
{
    if (b == NULL)
        return;
    for (size_t i = 0; i < b->n_owned; i++)
        free(b->owned[i]);
    b->n_owned = 0;
}

static Ferry__V1__SecretRef *secret(stepcmd_built *b, char *name)
{
    if (name == NULL || b->n_secrets >= sizeof(b->secrets) / sizeof(b->secrets[0]))
        return NULL;
    Ferry__V1__SecretRef *s = &b->secrets[b->n_secrets++];
    ferry__v1__secret_ref__init(s);
    s->name = name;
    return s;
}

static Ferry__V1__Database *database(stepcmd_built *b, int i, const ferry_spec_db *db)
{
    Ferry__V1__Database *d = &b->db[i];
    ferry__v1__database__init(d);
    d->conninfo = db->conninfo;
    d->password = secret(b, db->password_secret);
    return d;
}

static Ferry__V1__FileStore *file_store(stepcmd_built *b, int i, const ferry_spec_files *f)
{
    Ferry__V1__FileStore *s = &b->store[i];
    ferry__v1__file_store__init(s);
    if (f->directory != NULL) {
        s->location_case = FERRY__V1__FILE_STORE__LOCATION_DIRECTORY;
        s->directory = f->directory;
        return s;
    }
    Ferry__V1__S3Location *l = &b->s3[i];
    ferry__v1__s3_location__init(l);
    l->endpoint = f->s3_endpoint;
    l->region = f->s3_region;
    l->bucket = f->s3_bucket;
    l->prefix = f->s3_prefix;
    l->access_key = secret(b, f->access_key_secret);
    l->secret_key = secret(b, f->secret_key_secret);
    s->location_case = FERRY__V1__FILE_STORE__LOCATION_S3;
    s->s3 = l;
    return s;
}

static ferry_rc add_rename(stepcmd_built *b, const ferry_spec_dns *d, const char *from,
                           const char *to, ferry_err *err)
{
    size_t n = b->dns.n_renames;
    if (n >= STEPCMD_NAMES_MAX || b->n_owned + 2 > sizeof(b->owned) / sizeof(b->owned[0]))
        return ferry_err_set(err, FERRY_ERR_INVALID, "more than %d DNS names", STEPCMD_NAMES_MAX);
    char *f = strdup(from), *t = strdup(to);
    if (f == NULL || t == NULL) {
        free(f);
        free(t);
        return ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
    }
    b->owned[b->n_owned++] = f;
    b->owned[b->n_owned++] = t;
    ferry__v1__dns_rename__init(&b->renames[n]);
    b->renames[n].from = f;
    b->renames[n].to = t;
    b->rename_ptrs[n] = &b->renames[n];
    b->entry_dns[n] = d;
    b->dns.renames = b->rename_ptrs;
    b->dns.n_renames = n + 1;
    return FERRY_OK;
}

/* The cutover's renames of every environment: source names get the source suffix, target
 * names lose the target suffix. Sources first: their names must be free before targets take
 * them. reverse: the rollback's renames (to -> from). */
static ferry_rc dns_renames(const ferry_spec *spec, bool reverse, stepcmd_built *b, ferry_err *err)
{
    char renamed[512];
    for (int side = 0; side < 2; side++) {
        for (size_t e = 0; e < spec->n_envs; e++) {
            const ferry_spec_dns *d =
                side == 0 ? &spec->envs[e].source.dns : &spec->envs[e].target.dns;
            for (size_t i = 0; i < d->n_names; i++) {
                ferry_rc rc = side == 0 ? ferry_spec_source_renamed(spec, d->names[i], renamed,
                                                                    sizeof(renamed), err)
                                        : ferry_spec_target_renamed(spec, d->names[i], renamed,
                                                                    sizeof(renamed), err);
                if (rc == FERRY_OK)
                    rc = reverse ? add_rename(b, d, renamed, d->names[i], err)
                                 : add_rename(b, d, d->names[i], renamed, err);
                if (rc != FERRY_OK)
                    return rc;
            }
        }
    }
    if (reverse) { /* undo in the opposite order: targets give their names back first */
        size_t n = b->dns.n_renames;
        for (size_t i = 0; i < n / 2; i++) {
            Ferry__V1__DnsRename *t = b->rename_ptrs[i];
            const ferry_spec_dns *td = b->entry_dns[i];
            b->rename_ptrs[i] = b->rename_ptrs[n - 1 - i];
            b->entry_dns[i] = b->entry_dns[n - 1 - i];
            b->rename_ptrs[n - 1 - i] = t;
            b->entry_dns[n - 1 - i] = td;
        }
    }
    return FERRY_OK;
}

/* Adds side d's names; renamed: in their after-cutover form (copies owned by b). */
static ferry_rc dns_names(stepcmd_built *b, const ferry_spec *spec, const ferry_spec_dns *d,
                          bool source, bool renamed, ferry_err *err)
{
    char name[512];
    for (size_t i = 0; i < d->n_names; i++) {
        if (b->dns.n_names >= STEPCMD_NAMES_MAX ||
            b->n_owned >= sizeof(b->owned) / sizeof(b->owned[0]))
            return ferry_err_set(err, FERRY_ERR_INVALID, "more than %d DNS names",
                                 STEPCMD_NAMES_MAX);
        char *n = d->names[i];
        if (renamed) {
            ferry_rc rc =
                source ? ferry_spec_source_renamed(spec, d->names[i], name, sizeof(name), err)
                       : ferry_spec_target_renamed(spec, d->names[i], name, sizeof(name), err);
            if (rc != FERRY_OK)
                return rc;
            n = strdup(name);
            if (n == NULL)
                return ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory");
            b->owned[b->n_owned++] = n;
        }
        b->entry_dns[b->dns.n_names] = d;
        b->names[b->dns.n_names++] = n;
    }
    b->dns.names = b->names;
    return FERRY_OK;
}

/*
 * Splits the step's names (or renames) into one DnsZone per zone, in the order each first
 * appears, keeping the order within each: every name is changed in its own zone, and renames
 * that form a chain in one zone (shop-v4 -> shop -> shop-v3) stay in one atomic change. A zone
 * is changed with the key of the side that names it first (the source's, at a cutover): one
 * name server's API holds the whole zone, so both sides' keys open it.
 */
static ferry_rc dns_zones(stepcmd_built *b, bool renames, ferry_err *err)
{
    size_t n = renames ? b->dns.n_renames : b->dns.n_names;
    bool placed[STEPCMD_NAMES_MAX] = {false};
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        if (placed[i])
            continue;
        if (b->dns.n_zones >= STEPCMD_ZONES_MAX)
            return ferry_err_set(err, FERRY_ERR_INVALID, "more than %d DNS zones",
                                 STEPCMD_ZONES_MAX);
        const ferry_spec_dns *d = b->entry_dns[i];
        Ferry__V1__DnsZone *z = &b->zones[b->dns.n_zones];
        ferry__v1__dns_zone__init(z);
        z->zone = d->zone;
        z->api_key = secret(b, d->api_key_secret);
        if (d->api_key_secret != NULL && z->api_key == NULL)
            return ferry_err_set(err, FERRY_ERR_INVALID, "too many secrets in one DNS step");
        if (renames)
            z->renames = &b->zone_renames[used];
        else
            z->names = &b->zone_names[used];
        for (size_t j = i; j < n; j++) {
            if (placed[j] || strcmp(b->entry_dns[j]->zone, d->zone) != 0)
                continue;
            placed[j] = true;
            if (renames)
                b->zone_renames[used++] = b->rename_ptrs[j];
            else
                b->zone_names[used++] = b->names[j];
        }
        if (renames)
            z->n_renames = (size_t)(&b->zone_renames[used] - z->renames);
        else
            z->n_names = (size_t)(&b->zone_names[used] - z->names);
        b->zone_ptrs[b->dns.n_zones++] = z;
    }
    b->dns.zones = b->zone_ptrs;
    if (b->dns.n_zones > 0) { /* the single-zone fields, for older workers' validation */
        b->dns.zone = b->zones[0].zone;
        b->dns.api_key = b->zones[0].api_key;
    }
    return FERRY_OK;
}

ferry_rc stepcmd_build(const ferry_spec *spec, const stepcmd_for *st, stepcmd_built *b,
                       ferry_err *err)
{
    memset(b, 0, sizeof(*b));
    const fm_purpose *p = fm_purpose_find(st->purpose);
    if (p == NULL)
        return ferry_err_set(err, FERRY_ERR_INVALID, "step %s: unknown purpose '%s'", st->step,
                             st->purpose);
    const ferry_spec_env *env = ferry_spec_env_find(spec, st->env);
    if (env == NULL)
        return ferry_err_set(err, FERRY_ERR_INVALID, "step %s: the spec has no environment '%s'",
                             st->step, st->env);
    Ferry__V1__StepCommand *c = &b->cmd;
    ferry__v1__step_command__init(c);
    if (stepcmd_operation(p->kind, p->operation, &c->kind, &c->operation) != FERRY_OK)
        return ferry_err_set(err, FERRY_ERR_INTERNAL, "purpose %s: no operation %s.%s", p->name,
                             p->kind, p->operation);
    c->migration_id = (char *)st->migration;
    c->step_id = (char *)st->step;
    c->attempt = (uint32_t)st->attempt;
    c->deadline_unix_ms = st->deadline;
    c->issued_unix_ms = st->issued_at;
    c->issued_by = (char *)st->issued_by;
    const ferry_spec_side *side = strcmp(p->side, "source") == 0 ? &env->source : &env->target;

    switch (c->kind) {
    case FERRY__V1__STEP_KIND__STEP_KIND_DUMP_RESTORE:
        ferry__v1__dump_restore_params__init(&b->dr);
        b->dr.source = database(b, 0, &env->source.database);
        b->dr.target = database(b, 1, &env->target.database);
        /* Stopping replication verifies as the cutover does, so its duration is the measure of
         * the cutover's copy (source document 4.6: "the last operation timing will include
         * these additional operations"). */
        b->dr.verify = strcmp(p->name, "cutover.dr") == 0 || strcmp(p->name, "stop.dr") == 0;
        b->dr.overwrite = st->overwrite || spec->options.overwrite_target;
        if (strncmp(p->operation, "logical_", 8) == 0 &&
            c->operation != FERRY__V1__OPERATION__OPERATION_DUMP_RESTORE_LOGICAL_CHECK) {
            stepcmd_slot_name(st->migration, b->slot, sizeof(b->slot));
            b->dr.slot = b->slot;
            b->dr.max_retained_wal = (uint64_t)env->source.database.max_retained_wal;
            /* The start always verifies: the verified copy is the cutover proof's base. */
            b->dr.verify =
                c->operation == FERRY__V1__OPERATION__OPERATION_DUMP_RESTORE_LOGICAL_START;
        }
        c->params_case = FERRY__V1__STEP_COMMAND__PARAMS_DUMP_RESTORE;
        c->dump_restore = &b->dr;
        return FERRY_OK;
    case FERRY__V1__STEP_KIND__STEP_KIND_FILE_SYNC:
        ferry__v1__file_sync_params__init(&b->fs);
        b->fs.source = file_store(b, 0, &env->source.files);
        b->fs.target = file_store(b, 1, &env->target.files);
        b->fs.pass = (uint32_t)st->pass;
        b->fs.delete_ = spec->options.file_sync_delete;
        b->fs.verify = strcmp(p->name, "cutover.fs") == 0 || strcmp(p->name, "stop.fs") == 0;
        c->params_case = FERRY__V1__STEP_COMMAND__PARAMS_FILE_SYNC;
        c->file_sync = &b->fs;
        return FERRY_OK;
    case FERRY__V1__STEP_KIND__STEP_KIND_DNS: {
        ferry__v1__dns_params__init(&b->dns);
        b->dns.zone = env->source.dns.zone;
        b->dns.ttl = spec->options.dns_ttl;
        c->params_case = FERRY__V1__STEP_COMMAND__PARAMS_DNS;
        c->dns = &b->dns;
        ferry_rc rc = FERRY_OK;
        if (c->operation == FERRY__V1__OPERATION__OPERATION_DNS_LOWER_TTL) {
            /* This environment's names, before any cutover. */
            rc = dns_names(b, spec, &env->source.dns, true, false, err);
            if (rc == FERRY_OK)
                rc = dns_names(b, spec, &env->target.dns, false, false, err);
        } else if (c->operation == FERRY__V1__OPERATION__OPERATION_DNS_RESTORE_TTL) {
            /* After the final migration: every environment's names, as the cutover left them. */
            for (size_t e = 0; rc == FERRY_OK && e < spec->n_envs; e++) {
                rc = dns_names(b, spec, &spec->envs[e].source.dns, true, true, err);
                if (rc == FERRY_OK)
                    rc = dns_names(b, spec, &spec->envs[e].target.dns, false, true, err);
            }
        } else {
            rc = dns_renames(spec, p->reverse, b, err);
        }
        if (rc != FERRY_OK)
            return rc;
        bool renames = c->operation == FERRY__V1__OPERATION__OPERATION_DNS_RENAME ||
                       c->operation == FERRY__V1__OPERATION__OPERATION_DNS_CHECK;
        return dns_zones(b, renames, err);
    }
    case FERRY__V1__STEP_KIND__STEP_KIND_APP:
        ferry__v1__app_params__init(&b->app);
        b->app.platform = side->runtime.platform;
        b->app.app = side->runtime.app;
        b->app.environment = side->runtime.environment;
        b->app.timeout_seconds = side->runtime.timeout_seconds;
        b->app.credentials = secret(b, side->runtime.credentials_secret);
        b->app.user = side->runtime.user;
        if (side->runtime.health_url != NULL &&
            c->operation == FERRY__V1__OPERATION__OPERATION_APP_START) {
            ferry__v1__health_check__init(&b->health);
            b->health.url = side->runtime.health_url;
            b->app.health = &b->health;
        }
        c->params_case = FERRY__V1__STEP_COMMAND__PARAMS_APP;
        c->app = &b->app;
        return FERRY_OK;
    case FERRY__V1__STEP_KIND__STEP_KIND_UNSPECIFIED:
    case _FERRY__V1__STEP_KIND_IS_INT_SIZE:
        break;
    }
    return ferry_err_set(err, FERRY_ERR_INTERNAL, "purpose %s: unknown kind", p->name);
}
