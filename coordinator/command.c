/* command.c - a step's StepCommand, built from the spec (see command.h). */
#include "command.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/wire.h"

static const Ferry__V1__Operation all_ops[] = {
    FERRY__V1__OPERATION__OPERATION_DUMP_RESTORE_COPY,
    FERRY__V1__OPERATION__OPERATION_DUMP_RESTORE_VERIFY,
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

ferry_rc cmd_operation(const char *kind, const char *op, Ferry__V1__StepKind *k,
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

void cmd_cleanup(cmd_built *b)
{
    if (b == NULL)
        return;
    for (size_t i = 0; i < b->n_owned; i++)
        free(b->owned[i]);
    b->n_owned = 0;
}

static Ferry__V1__SecretRef *secret(cmd_built *b, char *name)
{
    if (name == NULL || b->n_secrets >= sizeof(b->secrets) / sizeof(b->secrets[0]))
        return NULL;
    Ferry__V1__SecretRef *s = &b->secrets[b->n_secrets++];
    ferry__v1__secret_ref__init(s);
    s->name = name;
    return s;
}

static Ferry__V1__Database *database(cmd_built *b, int i, const ferry_spec_db *db)
{
    Ferry__V1__Database *d = &b->db[i];
    ferry__v1__database__init(d);
    d->conninfo = db->conninfo;
    d->password = secret(b, db->password_secret);
    return d;
}

static Ferry__V1__FileStore *file_store(cmd_built *b, int i, const ferry_spec_files *f)
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

static ferry_rc add_rename(cmd_built *b, const char *from, const char *to, ferry_err *err)
{
    size_t n = b->dns.n_renames;
    if (n >= CMD_NAMES_MAX || b->n_owned + 2 > sizeof(b->owned) / sizeof(b->owned[0]))
        return ferry_err_set(err, FERRY_ERR_INVALID, "more than %d DNS names", CMD_NAMES_MAX);
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
    b->dns.renames = b->rename_ptrs;
    b->dns.n_renames = n + 1;
    return FERRY_OK;
}

/* The cutover's renames of every environment: source names get the source suffix, target
 * names lose the target suffix. Sources first: their names must be free before targets take
 * them. reverse: the rollback's renames (to -> from). */
static ferry_rc dns_renames(const ferry_spec *spec, bool reverse, cmd_built *b, ferry_err *err)
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
                    rc = reverse ? add_rename(b, renamed, d->names[i], err)
                                 : add_rename(b, d->names[i], renamed, err);
                if (rc != FERRY_OK)
                    return rc;
            }
        }
    }
    if (reverse) { /* undo in the opposite order: targets give their names back first */
        size_t n = b->dns.n_renames;
        for (size_t i = 0; i < n / 2; i++) {
            Ferry__V1__DnsRename *t = b->rename_ptrs[i];
            b->rename_ptrs[i] = b->rename_ptrs[n - 1 - i];
            b->rename_ptrs[n - 1 - i] = t;
        }
    }
    return FERRY_OK;
}

static void dns_names(cmd_built *b, const ferry_spec_dns *d)
{
    for (size_t i = 0; i < d->n_names && b->dns.n_names < CMD_NAMES_MAX; i++)
        b->names[b->dns.n_names++] = d->names[i];
    b->dns.names = b->names;
}

ferry_rc cmd_build(const ferry_spec *spec, const cmd_step *st, cmd_built *b, ferry_err *err)
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
    if (cmd_operation(p->kind, p->operation, &c->kind, &c->operation) != FERRY_OK)
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
        b->dr.verify = strcmp(p->name, "cutover.dr") == 0;
        c->params_case = FERRY__V1__STEP_COMMAND__PARAMS_DUMP_RESTORE;
        c->dump_restore = &b->dr;
        return FERRY_OK;
    case FERRY__V1__STEP_KIND__STEP_KIND_FILE_SYNC:
        ferry__v1__file_sync_params__init(&b->fs);
        b->fs.source = file_store(b, 0, &env->source.files);
        b->fs.target = file_store(b, 1, &env->target.files);
        b->fs.pass = (uint32_t)st->pass;
        b->fs.delete_ = spec->options.file_sync_delete;
        b->fs.verify = strcmp(p->name, "cutover.fs") == 0;
        c->params_case = FERRY__V1__STEP_COMMAND__PARAMS_FILE_SYNC;
        c->file_sync = &b->fs;
        return FERRY_OK;
    case FERRY__V1__STEP_KIND__STEP_KIND_DNS:
        ferry__v1__dns_params__init(&b->dns);
        b->dns.zone = env->source.dns.zone;
        b->dns.api_key = secret(b, env->source.dns.api_key_secret);
        b->dns.ttl = spec->options.dns_ttl;
        c->params_case = FERRY__V1__STEP_COMMAND__PARAMS_DNS;
        c->dns = &b->dns;
        if (c->operation == FERRY__V1__OPERATION__OPERATION_DNS_LOWER_TTL) {
            dns_names(b, &env->source.dns);
            dns_names(b, &env->target.dns);
            return FERRY_OK;
        }
        return dns_renames(spec, p->reverse, b, err);
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
