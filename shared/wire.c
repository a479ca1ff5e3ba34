/* wire.c - names, topics and validated encode/decode for the step contract. */
#include "ferry/wire.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct {
    Ferry__V1__StepKind kind;
    const char *name;
} kinds[] = {
    {FERRY__V1__STEP_KIND__STEP_KIND_DUMP_RESTORE, "dump_restore"},
    {FERRY__V1__STEP_KIND__STEP_KIND_FILE_SYNC, "file_sync"},
    {FERRY__V1__STEP_KIND__STEP_KIND_DNS, "dns"},
    {FERRY__V1__STEP_KIND__STEP_KIND_APP, "app"},
};

static const struct {
    Ferry__V1__Operation op;
    Ferry__V1__StepKind kind;
    const char *name;
} operations[] = {
    {FERRY__V1__OPERATION__OPERATION_DUMP_RESTORE_COPY,
     FERRY__V1__STEP_KIND__STEP_KIND_DUMP_RESTORE, "copy"},
    {FERRY__V1__OPERATION__OPERATION_DUMP_RESTORE_VERIFY,
     FERRY__V1__STEP_KIND__STEP_KIND_DUMP_RESTORE, "verify"},
    {FERRY__V1__OPERATION__OPERATION_DUMP_RESTORE_LOGICAL_CHECK,
     FERRY__V1__STEP_KIND__STEP_KIND_DUMP_RESTORE, "logical_check"},
    {FERRY__V1__OPERATION__OPERATION_DUMP_RESTORE_LOGICAL_START,
     FERRY__V1__STEP_KIND__STEP_KIND_DUMP_RESTORE, "logical_start"},
    {FERRY__V1__OPERATION__OPERATION_DUMP_RESTORE_LOGICAL_STREAM,
     FERRY__V1__STEP_KIND__STEP_KIND_DUMP_RESTORE, "logical_stream"},
    {FERRY__V1__OPERATION__OPERATION_DUMP_RESTORE_LOGICAL_FINISH,
     FERRY__V1__STEP_KIND__STEP_KIND_DUMP_RESTORE, "logical_finish"},
    {FERRY__V1__OPERATION__OPERATION_DUMP_RESTORE_LOGICAL_DROP,
     FERRY__V1__STEP_KIND__STEP_KIND_DUMP_RESTORE, "logical_drop"},
    {FERRY__V1__OPERATION__OPERATION_FILE_SYNC_PASS, FERRY__V1__STEP_KIND__STEP_KIND_FILE_SYNC,
     "pass"},
    {FERRY__V1__OPERATION__OPERATION_FILE_SYNC_VERIFY, FERRY__V1__STEP_KIND__STEP_KIND_FILE_SYNC,
     "verify"},
    {FERRY__V1__OPERATION__OPERATION_DNS_LOWER_TTL, FERRY__V1__STEP_KIND__STEP_KIND_DNS,
     "lower_ttl"},
    {FERRY__V1__OPERATION__OPERATION_DNS_RENAME, FERRY__V1__STEP_KIND__STEP_KIND_DNS, "rename"},
    {FERRY__V1__OPERATION__OPERATION_DNS_CHECK, FERRY__V1__STEP_KIND__STEP_KIND_DNS, "check"},
    {FERRY__V1__OPERATION__OPERATION_DNS_RESTORE_TTL, FERRY__V1__STEP_KIND__STEP_KIND_DNS,
     "restore_ttl"},
    {FERRY__V1__OPERATION__OPERATION_APP_START, FERRY__V1__STEP_KIND__STEP_KIND_APP, "start"},
    {FERRY__V1__OPERATION__OPERATION_APP_STOP, FERRY__V1__STEP_KIND__STEP_KIND_APP, "stop"},
    {FERRY__V1__OPERATION__OPERATION_APP_STATUS, FERRY__V1__STEP_KIND__STEP_KIND_APP, "status"},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

const char *ferry_wire_kind_name(Ferry__V1__StepKind kind)
{
    for (size_t i = 0; i < COUNT(kinds); i++) {
        if (kinds[i].kind == kind)
            return kinds[i].name;
    }
    return NULL;
}

int ferry_wire_kind_parse(const char *name, Ferry__V1__StepKind *out)
{
    for (size_t i = 0; name != NULL && i < COUNT(kinds); i++) {
        if (strcmp(kinds[i].name, name) == 0) {
            *out = kinds[i].kind;
            return 0;
        }
    }
    return -1;
}

const char *ferry_wire_operation_name(Ferry__V1__Operation op)
{
    for (size_t i = 0; i < COUNT(operations); i++) {
        if (operations[i].op == op)
            return operations[i].name;
    }
    return NULL;
}

Ferry__V1__StepKind ferry_wire_operation_kind(Ferry__V1__Operation op)
{
    for (size_t i = 0; i < COUNT(operations); i++) {
        if (operations[i].op == op)
            return operations[i].kind;
    }
    return FERRY__V1__STEP_KIND__STEP_KIND_UNSPECIFIED;
}

int ferry_wire_step_topic(const char *prefix, Ferry__V1__StepKind kind, char *out, size_t outsz)
{
    const char *name = ferry_wire_kind_name(kind);
    if (name == NULL)
        return -1;
    int n = snprintf(out, outsz, "%ssteps.%s", prefix != NULL ? prefix : "", name);
    return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

int ferry_wire_dead_letter_topic(const char *prefix, char *out, size_t outsz)
{
    int n = snprintf(out, outsz, "%sdead_letter", prefix != NULL ? prefix : "");
    return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

int ferry_wire_has_secret(const char *text)
{
    if (text == NULL)
        return 0;
    const char *sep = strstr(text, "://");
    if (sep != NULL) {
        const char *auth = sep + 3;
        size_t len = strcspn(auth, "/?#");
        const char *at = memchr(auth, '@', len);
        if (at != NULL && memchr(auth, ':', (size_t)(at - auth)) != NULL)
            return 1;
    }
    /* A key=value whose key ends in "password" or is "passwd" (libpq's password and
     * sslpassword, a URL's ?password=): the key is the word before '=' (spaces allowed). */
    for (const char *eq = strchr(text, '='); eq != NULL; eq = strchr(eq + 1, '=')) {
        const char *end = eq;
        while (end > text && end[-1] == ' ')
            end--;
        const char *start = end;
        while (start > text && (isalnum((unsigned char)start[-1]) || start[-1] == '_'))
            start--;
        size_t len = (size_t)(end - start);
        if ((len >= 8 && strncasecmp(end - 8, "password", 8) == 0) ||
            (len == 6 && strncasecmp(start, "passwd", 6) == 0))
            return 1;
    }
    return 0;
}

/* Ids appear in Redis keys, topics and file names: keep them to a safe alphabet. */
static int valid_id(const char *id)
{
    size_t n = id != NULL ? strlen(id) : 0;
    if (n == 0 || n > FERRY_WIRE_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)id[i];
        if (!isalnum(c) && c != '-' && c != '_' && c != '.' && c != ':')
            return 0;
    }
    return 1;
}

/* Secret names are environment variable suffixes: upper-case letters, digits, '_'. */
static ferry_rc check_secret_ref(const Ferry__V1__SecretRef *ref, const char *field, ferry_err *err)
{
    if (ref == NULL || ref->name == NULL || ref->name[0] == '\0')
        return FERRY_OK; /* no credential needed (trust or peer auth) */
    for (const char *p = ref->name; *p != '\0'; p++) {
        if (!isupper((unsigned char)*p) && !isdigit((unsigned char)*p) && *p != '_')
            return ferry_err_set(err, FERRY_ERR_INVALID,
                                 "%s: a secret reference is a name of A-Z, 0-9 and _", field);
    }
    return FERRY_OK;
}

static ferry_rc check_endpoint(const char *text, const char *field, ferry_err *err)
{
    if (text == NULL || text[0] == '\0')
        return ferry_err_set(err, FERRY_ERR_INVALID, "%s: required", field);
    if (ferry_wire_has_secret(text))
        return ferry_err_set(err, FERRY_ERR_INVALID,
                             "%s: holds a password; send a secret reference instead", field);
    return FERRY_OK;
}

static ferry_rc check_database(const Ferry__V1__Database *db, const char *field, ferry_err *err)
{
    char name[64];
    if (db == NULL)
        return ferry_err_set(err, FERRY_ERR_INVALID, "%s: required", field);
    (void)snprintf(name, sizeof(name), "%s.conninfo", field);
    ferry_rc rc = check_endpoint(db->conninfo, name, err);
    if (rc != FERRY_OK)
        return rc;
    (void)snprintf(name, sizeof(name), "%s.password", field);
    return check_secret_ref(db->password, name, err);
}

static ferry_rc check_store(const Ferry__V1__FileStore *fs, const char *field, ferry_err *err)
{
    char name[64];
    if (fs == NULL)
        return ferry_err_set(err, FERRY_ERR_INVALID, "%s: required", field);
    switch (fs->location_case) {
    case FERRY__V1__FILE_STORE__LOCATION_DIRECTORY:
        if (fs->directory == NULL || fs->directory[0] != '/')
            return ferry_err_set(err, FERRY_ERR_INVALID, "%s.directory: an absolute path", field);
        return FERRY_OK;
    case FERRY__V1__FILE_STORE__LOCATION_S3: {
        const Ferry__V1__S3Location *s3 = fs->s3;
        (void)snprintf(name, sizeof(name), "%s.s3.endpoint", field);
        ferry_rc rc = check_endpoint(s3->endpoint, name, err);
        if (rc != FERRY_OK)
            return rc;
        if (s3->bucket == NULL || s3->bucket[0] == '\0')
            return ferry_err_set(err, FERRY_ERR_INVALID, "%s.s3.bucket: required", field);
        (void)snprintf(name, sizeof(name), "%s.s3.access_key", field);
        rc = check_secret_ref(s3->access_key, name, err);
        if (rc != FERRY_OK)
            return rc;
        (void)snprintf(name, sizeof(name), "%s.s3.secret_key", field);
        return check_secret_ref(s3->secret_key, name, err);
    }
    case FERRY__V1__FILE_STORE__LOCATION__NOT_SET:
    case _FERRY__V1__FILE_STORE__LOCATION__CASE_IS_INT_SIZE:
        break;
    }
    return ferry_err_set(err, FERRY_ERR_INVALID, "%s: a directory or an s3 location", field);
}

/* Without zones the zone at the top is the step's; with zones each needs its name (the fields at
 * the top are not used, but a secret reference is checked wherever it is). */
static ferry_rc check_dns(const Ferry__V1__DnsParams *dns, ferry_err *err)
{
    char name[64];
    if (dns->n_zones == 0 && (dns->zone == NULL || dns->zone[0] == '\0'))
        return ferry_err_set(err, FERRY_ERR_INVALID, "dns.zone: required");
    for (size_t i = 0; i < dns->n_zones; i++) {
        const Ferry__V1__DnsZone *z = dns->zones[i];
        if (z == NULL || z->zone == NULL || z->zone[0] == '\0')
            return ferry_err_set(err, FERRY_ERR_INVALID, "dns.zones[%zu].zone: required", i);
        (void)snprintf(name, sizeof(name), "dns.zones[%zu].api_key", i);
        ferry_rc rc = check_secret_ref(z->api_key, name, err);
        if (rc != FERRY_OK)
            return rc;
    }
    return check_secret_ref(dns->api_key, "dns.api_key", err);
}

/* The logical operations but the check name their slot: lowercase letters, digits and '_',
 * at most 63 (PostgreSQL's rule for slot names). */
static ferry_rc check_slot(const Ferry__V1__StepCommand *cmd, ferry_err *err)
{
    const char *slot = cmd->dump_restore->slot;
    bool needed = cmd->operation == FERRY__V1__OPERATION__OPERATION_DUMP_RESTORE_LOGICAL_START ||
                  cmd->operation == FERRY__V1__OPERATION__OPERATION_DUMP_RESTORE_LOGICAL_STREAM ||
                  cmd->operation == FERRY__V1__OPERATION__OPERATION_DUMP_RESTORE_LOGICAL_FINISH ||
                  cmd->operation == FERRY__V1__OPERATION__OPERATION_DUMP_RESTORE_LOGICAL_DROP;
    if (slot == NULL || slot[0] == '\0')
        return needed ? ferry_err_set(err, FERRY_ERR_INVALID, "dump_restore.slot: required for %s",
                                      ferry_wire_operation_name(cmd->operation))
                      : FERRY_OK;
    size_t n = strlen(slot);
    bool ok = n <= 63;
    for (size_t i = 0; ok && i < n; i++)
        ok = (slot[i] >= 'a' && slot[i] <= 'z') || (slot[i] >= '0' && slot[i] <= '9') ||
             slot[i] == '_';
    if (!ok)
        return ferry_err_set(err, FERRY_ERR_INVALID,
                             "dump_restore.slot: lowercase letters, digits and '_', at most 63");
    return FERRY_OK;
}

static ferry_rc check_params(const Ferry__V1__StepCommand *cmd, ferry_err *err)
{
    ferry_rc rc;
    switch (cmd->params_case) {
    case FERRY__V1__STEP_COMMAND__PARAMS_DUMP_RESTORE:
        if (cmd->kind != FERRY__V1__STEP_KIND__STEP_KIND_DUMP_RESTORE)
            break;
        rc = check_database(cmd->dump_restore->source, "dump_restore.source", err);
        if (rc != FERRY_OK)
            return rc;
        rc = check_database(cmd->dump_restore->target, "dump_restore.target", err);
        if (rc != FERRY_OK)
            return rc;
        return check_slot(cmd, err);
    case FERRY__V1__STEP_COMMAND__PARAMS_FILE_SYNC:
        if (cmd->kind != FERRY__V1__STEP_KIND__STEP_KIND_FILE_SYNC)
            break;
        rc = check_store(cmd->file_sync->source, "file_sync.source", err);
        if (rc != FERRY_OK)
            return rc;
        return check_store(cmd->file_sync->target, "file_sync.target", err);
    case FERRY__V1__STEP_COMMAND__PARAMS_DNS:
        if (cmd->kind != FERRY__V1__STEP_KIND__STEP_KIND_DNS)
            break;
        return check_dns(cmd->dns, err);
    case FERRY__V1__STEP_COMMAND__PARAMS_APP:
        if (cmd->kind != FERRY__V1__STEP_KIND__STEP_KIND_APP)
            break;
        if (cmd->app->platform == NULL || cmd->app->platform[0] == '\0')
            return ferry_err_set(err, FERRY_ERR_INVALID, "app.platform: required");
        if (cmd->app->app == NULL || cmd->app->app[0] == '\0')
            return ferry_err_set(err, FERRY_ERR_INVALID, "app.app: required");
        return check_secret_ref(cmd->app->credentials, "app.credentials", err);
    case FERRY__V1__STEP_COMMAND__PARAMS__NOT_SET:
        return ferry_err_set(err, FERRY_ERR_INVALID, "params: required for kind %s",
                             ferry_wire_kind_name(cmd->kind));
    case _FERRY__V1__STEP_COMMAND__PARAMS__CASE_IS_INT_SIZE:
        break;
    }
    return ferry_err_set(err, FERRY_ERR_INVALID, "params: do not match kind %s",
                         ferry_wire_kind_name(cmd->kind));
}

ferry_rc ferry_wire_step_validate(const Ferry__V1__StepCommand *cmd, ferry_err *err)
{
    if (cmd == NULL)
        return ferry_err_set(err, FERRY_ERR_INVALID, "no command");
    if (!valid_id(cmd->migration_id))
        return ferry_err_set(
            err, FERRY_ERR_INVALID,
            "migration_id: 1 to %d characters of A-Z a-z 0-9 - _ . :", FERRY_WIRE_ID_MAX);
    if (!valid_id(cmd->step_id))
        return ferry_err_set(
            err, FERRY_ERR_INVALID,
            "step_id: 1 to %d characters of A-Z a-z 0-9 - _ . :", FERRY_WIRE_ID_MAX);
    if (cmd->attempt < 1)
        return ferry_err_set(err, FERRY_ERR_INVALID, "attempt: starts at 1");
    if (ferry_wire_kind_name(cmd->kind) == NULL)
        return ferry_err_set(err, FERRY_ERR_INVALID, "kind: unknown (%d)", (int)cmd->kind);
    if (ferry_wire_operation_name(cmd->operation) == NULL)
        return ferry_err_set(err, FERRY_ERR_INVALID, "operation: unknown (%d)",
                             (int)cmd->operation);
    if (ferry_wire_operation_kind(cmd->operation) != cmd->kind)
        return ferry_err_set(err, FERRY_ERR_INVALID, "operation: %s is not an operation of %s",
                             ferry_wire_operation_name(cmd->operation),
                             ferry_wire_kind_name(cmd->kind));
    if (cmd->deadline_unix_ms < 0)
        return ferry_err_set(err, FERRY_ERR_INVALID, "deadline_unix_ms: negative");
    return check_params(cmd, err);
}

ferry_rc ferry_wire_step_encode(const Ferry__V1__StepCommand *cmd, uint8_t **out, size_t *len,
                                ferry_err *err)
{
    *out = NULL;
    *len = 0;
    ferry_rc rc = ferry_wire_step_validate(cmd, err);
    if (rc != FERRY_OK)
        return ferry_err_prefix(err, "step command");
    size_t size = ferry__v1__step_command__get_packed_size(cmd);
    uint8_t *buf = malloc(size > 0 ? size : 1);
    if (buf == NULL)
        return ferry_err_set(err, FERRY_ERR_NOMEM, "packing step command");
    size_t packed = ferry__v1__step_command__pack(cmd, buf);
    if (packed != size) {
        free(buf);
        return ferry_err_set(err, FERRY_ERR_INTERNAL, "packing step command: %zu of %zu bytes",
                             packed, size);
    }
    *out = buf;
    *len = size;
    return FERRY_OK;
}

ferry_rc ferry_wire_step_decode(const void *data, size_t len, Ferry__V1__StepCommand **out,
                                ferry_err *err)
{
    *out = NULL;
    Ferry__V1__StepCommand *cmd = ferry__v1__step_command__unpack(NULL, len, data);
    if (cmd == NULL)
        return ferry_err_set(err, FERRY_ERR_DECODE,
                             "step command: not a valid protobuf (%zu bytes)", len);
    ferry_rc rc = ferry_wire_step_validate(cmd, err);
    if (rc != FERRY_OK) {
        ferry__v1__step_command__free_unpacked(cmd, NULL);
        return ferry_err_prefix(err, "step command");
    }
    *out = cmd;
    return FERRY_OK;
}

void ferry_wire_step_free(Ferry__V1__StepCommand *cmd)
{
    if (cmd != NULL)
        ferry__v1__step_command__free_unpacked(cmd, NULL);
}
