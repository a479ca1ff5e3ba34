/* spec.c - the migration spec: parse it, check every field, report every problem with its path. */
#include "spec.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ferry/config.h"
#include "ferry/wire.h"

#define PROBLEMS_MAX    100 /* listed; the rest are counted in one last line */
#define PATH_SZ         sizeof(((ferry_spec_problem *)0)->path)
#define DNS_NAME_MAX    253 /* without the trailing dot */
#define DNS_LABEL_MAX   63
#define SUFFIX_MAX      16
#define SECRET_NAME_MAX 64
#define REF_MAX         128 /* ids and runtime references */
#define REGION_MAX      32
#define BUCKET_MIN      3
#define BUCKET_MAX      63
#define DURATION_MIN_MS 1000LL
#define DURATION_MAX_MS (24LL * 3600 * 1000)
#define TTL_MAX         86400

#define DEFAULT_PAUSE_MS      (5LL * 60 * 1000)
#define DEFAULT_SOURCE_SUFFIX "-v3"
#define DEFAULT_TARGET_SUFFIX "-v4"
#define DEFAULT_TTL           300
#define DEFAULT_TIMEOUT_S     300
#define DEFAULT_REGION        "us-east-1"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* A value that other checks compare across sides and environments (DNS names, ids). */
typedef struct spec_ref {
    const char *text; /* borrowed from the JSON document */
    char path[PATH_SZ];
    bool target; /* on a target side */
    bool ok;     /* passed its own checks */
} spec_ref;

typedef struct spec_refs {
    spec_ref *items;
    size_t count, cap;
} spec_refs;

/* The parser's state: the problems found so far, and what the cross checks need. */
typedef struct spec_ctx {
    ferry_spec_problem *items; /* PROBLEMS_MAX + 1 slots once the first problem is found */
    size_t count;              /* listed */
    size_t total;              /* found */
    bool nomem;
    spec_refs names;
    spec_refs ids;
} spec_ctx;

/* ---- text helpers ------------------------------------------------------------------------- */

/* Copies text into out; a text that does not fit is cut and ends with "...". */
static void text_set(char *out, size_t outsz, const char *text)
{
    int n = snprintf(out, outsz, "%s", text);
    if (n < 0)
        out[0] = '\0';
    else if ((size_t)n >= outsz && outsz > 4)
        memcpy(out + outsz - 4, "...", 4);
}

static bool is_lower(char c)
{
    return c >= 'a' && c <= 'z';
}

static bool is_upper(char c)
{
    return c >= 'A' && c <= 'Z';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_word(char c)
{
    return is_lower(c) || is_upper(c) || is_digit(c) || c == '_' || c == '-';
}

static bool has_control(const char *text)
{
    for (const char *p = text; *p != '\0'; p++) {
        if ((unsigned char)*p < ' ' || *p == 0x7f)
            return true;
    }
    return false;
}

/* Space or a control character: never inside a name, reference or URL. */
static bool has_blank(const char *text)
{
    return strchr(text, ' ') != NULL || has_control(text);
}

/* [a-z0-9][a-z0-9-]{0,max-1}: app and environment names (docs/orchestration.md "Names"). */
static bool name_valid(const char *name, size_t max)
{
    size_t n = strlen(name);
    if (n == 0 || n > max || !(is_lower(name[0]) || is_digit(name[0])))
        return false;
    for (size_t i = 1; i < n; i++) {
        if (!is_lower(name[i]) && !is_digit(name[i]) && name[i] != '-')
            return false;
    }
    return true;
}

/* [A-Z0-9_]{1,64}: the worker reads FERRY_SECRET_<NAME>. */
static bool secret_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > SECRET_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!is_upper(name[i]) && !is_digit(name[i]) && name[i] != '_')
            return false;
    }
    return true;
}

/* -[a-z0-9]+, at most SUFFIX_MAX characters. */
static bool suffix_valid(const char *suffix)
{
    size_t n = strlen(suffix);
    if (n < 2 || n > SUFFIX_MAX || suffix[0] != '-')
        return false;
    for (size_t i = 1; i < n; i++) {
        if (!is_lower(suffix[i]) && !is_digit(suffix[i]))
            return false;
    }
    return true;
}

/* An id or a runtime reference: 1..REF_MAX characters, no blanks. */
static bool ref_valid(const char *text)
{
    size_t n = strlen(text);
    return n > 0 && n <= REF_MAX && !has_blank(text);
}

/* NULL when name is a fully qualified DNS name as Ferry takes them, else what is wrong. */
static const char *dns_name_problem(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || name[n - 1] != '.')
        return "must be fully qualified, ending with a dot";
    if (n - 1 > DNS_NAME_MAX)
        return "is longer than 253 characters";
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (c == '.') {
            if (label == 0)
                return "has an empty label";
            if (name[i - 1] == '-')
                return "has a label that ends with '-'";
            label = 0;
            continue;
        }
        if (is_upper(c))
            return "must be lower case";
        if (!is_lower(c) && !is_digit(c) && c != '-')
            return "may hold only a-z, 0-9, '-' and '.'";
        if (c == '-' && label == 0)
            return "has a label that starts with '-'";
        if (++label > DNS_LABEL_MAX)
            return "has a label longer than 63 characters";
    }
    return NULL;
}

/* True when name lies strictly inside zone (both valid and fully qualified). */
static bool dns_name_in_zone(const char *name, const char *zone)
{
    size_t n = strlen(name), z = strlen(zone);
    return n > z + 1 && strcmp(name + n - z, zone) == 0 && name[n - z - 1] == '.';
}

/* Where suffix stands in label as a whole part (followed by '-' or the label's end), or NULL. */
static const char *label_find_suffix(const char *label, size_t label_len, const char *suffix)
{
    size_t slen = strlen(suffix);
    for (size_t i = 0; slen > 0 && i + slen <= label_len; i++) {
        if (memcmp(label + i, suffix, slen) == 0 &&
            (i + slen == label_len || label[i + slen] == '-'))
            return label + i;
    }
    return NULL;
}

/* NULL when url is http(s)://host[...] without credentials, else what is wrong. */
static const char *http_url_problem(const char *url, bool allow_query)
{
    if (ferry_wire_has_secret(url))
        return "holds a password; name a secret instead";
    if (has_blank(url))
        return "must not contain spaces or control characters";
    const char *host;
    if (strncmp(url, "http://", 7) == 0)
        host = url + 7;
    else if (strncmp(url, "https://", 8) == 0)
        host = url + 8;
    else
        return "must start with http:// or https://";
    size_t len = strcspn(host, "/?#");
    if (len == 0)
        return "has no host";
    if (memchr(host, '@', len) != NULL)
        return "must not hold credentials (user@host); name a secret instead";
    if (!allow_query && strpbrk(host, "?#") != NULL)
        return "must not have a query or a fragment";
    return NULL;
}

/* NULL when bucket is a valid S3 bucket name, else what is wrong. */
static const char *bucket_problem(const char *bucket, size_t n)
{
    if (n < BUCKET_MIN || n > BUCKET_MAX)
        return "the bucket name must have 3 to 63 characters";
    bool all_digits_dots = true;
    for (size_t i = 0; i < n; i++) {
        char c = bucket[i];
        if (!is_lower(c) && !is_digit(c) && c != '.' && c != '-')
            return "the bucket name may hold only a-z, 0-9, '.' and '-'";
        if (c == '.' && i + 1 < n && bucket[i + 1] == '.')
            return "the bucket name must not hold '..'";
        all_digits_dots = all_digits_dots && (is_digit(c) || c == '.');
    }
    char first = bucket[0], last = bucket[n - 1];
    if (!(is_lower(first) || is_digit(first)) || !(is_lower(last) || is_digit(last)))
        return "the bucket name must start and end with a letter or digit";
    if (all_digits_dots)
        return "the bucket name must not look like an IP address";
    return NULL;
}

/* ---- problems and paths ------------------------------------------------------------------- */

static void problem_add(spec_ctx *ctx, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void problem_add(spec_ctx *ctx, const char *path, const char *fmt, ...)
{
    ctx->total++;
    if (ctx->count >= PROBLEMS_MAX)
        return;
    if (ctx->items == NULL) {
        ctx->items = calloc(PROBLEMS_MAX + 1, sizeof(*ctx->items));
        if (ctx->items == NULL) {
            ctx->nomem = true;
            return;
        }
    }
    ferry_spec_problem *p = &ctx->items[ctx->count++];
    text_set(p->path, sizeof(p->path), path);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(p->message, sizeof(p->message), fmt, ap);
    va_end(ap);
    if (n < 0)
        text_set(p->message, sizeof(p->message), "(the message could not be written)");
    else if ((size_t)n >= sizeof(p->message))
        memcpy(p->message + sizeof(p->message) - 4, "...", 4);
}

/* base + ".key", or base + "[\"key\"]" when key is not a plain word. */
static void path_key(char *out, size_t outsz, const char *base, const char *key)
{
    bool plain = key[0] != '\0';
    for (const char *p = key; *p != '\0'; p++)
        plain = plain && is_word(*p);
    char shown[PATH_SZ];
    size_t j = 0;
    for (const char *p = key; *p != '\0' && j + 3 < sizeof(shown); p++) {
        if (!plain && (*p == '"' || *p == '\\'))
            shown[j++] = '\\';
        shown[j++] = (unsigned char)*p < ' ' || *p == 0x7f ? '?' : *p;
    }
    shown[j] = '\0';
    char buf[2 * PATH_SZ];
    int n = plain ? snprintf(buf, sizeof(buf), "%s.%s", base, shown)
                  : snprintf(buf, sizeof(buf), "%s[\"%s\"]", base, shown);
    text_set(out, outsz, n < 0 ? base : buf);
}

/* base + tail, tail being a path of plain words (".target.files"). */
static void path_join(char *out, size_t outsz, const char *base, const char *tail)
{
    char buf[2 * PATH_SZ];
    int n = snprintf(buf, sizeof(buf), "%s%s", base, tail);
    text_set(out, outsz, n < 0 ? base : buf);
}

static void path_index(char *out, size_t outsz, const char *base, size_t i)
{
    char buf[2 * PATH_SZ];
    int n = snprintf(buf, sizeof(buf), "%s[%zu]", base, i);
    text_set(out, outsz, n < 0 ? base : buf);
}

static char *spec_dup(spec_ctx *ctx, const char *text)
{
    char *copy = strdup(text);
    if (copy == NULL)
        ctx->nomem = true;
    return copy;
}

static void refs_add(spec_ctx *ctx, spec_refs *refs, const char *text, const char *path,
                     bool target, bool ok)
{
    if (refs->count == refs->cap) {
        size_t cap = refs->cap == 0 ? 16 : 2 * refs->cap;
        spec_ref *items = realloc(refs->items, cap * sizeof(*items));
        if (items == NULL) {
            ctx->nomem = true;
            return;
        }
        refs->items = items;
        refs->cap = cap;
    }
    spec_ref *r = &refs->items[refs->count++];
    r->text = text;
    text_set(r->path, sizeof(r->path), path);
    r->target = target;
    r->ok = ok;
}

/* ---- fields ------------------------------------------------------------------------------- */

typedef enum spec_want {
    WANT_STRING,
    WANT_OBJECT,
    WANT_ARRAY,
    WANT_INTEGER,
    WANT_BOOLEAN,
    WANT_DURATION, /* a string, or a number of seconds */
    WANT_ANY_SIZE, /* a string ("20G"), or an integer of bytes */
} spec_want;

/* A field that is there and not null. */
static bool present(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return v != NULL && !json_is_null(v);
}

/* Reports every key of obj that is not in known (NULL-terminated), listing the known ones. */
static void keys_check(spec_ctx *ctx, json_t *obj, const char *path, const char *const *known)
{
    char list[200];
    size_t used = 0;
    list[0] = '\0';
    for (size_t i = 0; known[i] != NULL; i++) {
        int n = snprintf(list + used, sizeof(list) - used, "%s%s", i > 0 ? ", " : "", known[i]);
        if (n < 0 || (size_t)n >= sizeof(list) - used)
            break;
        used += (size_t)n;
    }
    const char *key;
    json_t *value;
    json_object_foreach(obj, key, value)
    {
        bool found = false;
        for (size_t i = 0; known[i] != NULL && !found; i++)
            found = strcmp(key, known[i]) == 0;
        if (!found) {
            char p[PATH_SZ];
            path_key(p, sizeof(p), path, key);
            problem_add(ctx, p, "unknown key (known here: %s)", list);
        }
    }
}

/*
 * The field key of obj, when present and of the wanted type; else NULL, with a problem when it
 * has the wrong type or is required and missing. null counts as missing. fpath gets its path.
 */
static json_t *field_get(spec_ctx *ctx, json_t *obj, const char *path, const char *key,
                         spec_want want, bool required, char *fpath)
{
    path_key(fpath, PATH_SZ, path, key);
    json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v)) {
        if (required)
            problem_add(ctx, fpath, "required");
        return NULL;
    }
    bool ok = false;
    const char *what = "";
    switch (want) {
    case WANT_STRING:
        ok = json_is_string(v);
        what = "a string";
        break;
    case WANT_OBJECT:
        ok = json_is_object(v);
        what = "an object";
        break;
    case WANT_ARRAY:
        ok = json_is_array(v);
        what = "an array";
        break;
    case WANT_INTEGER:
        ok = json_is_integer(v);
        what = "an integer";
        break;
    case WANT_BOOLEAN:
        ok = json_is_boolean(v);
        what = "true or false";
        break;
    case WANT_DURATION:
        ok = json_is_string(v) || json_is_number(v);
        what = "a duration (\"30s\", \"5m\", \"2h\") or a number of seconds";
        break;
    case WANT_ANY_SIZE:
        ok = json_is_string(v) || json_is_integer(v);
        what = "a size (\"20G\", \"512M\") or a number of bytes";
        break;
    }
    if (!ok) {
        problem_add(ctx, fpath, "must be %s", what);
        return NULL;
    }
    return v;
}

/* A string field; "" is reported as empty. */
static const char *field_string(spec_ctx *ctx, json_t *obj, const char *path, const char *key,
                                bool required, char *fpath)
{
    json_t *v = field_get(ctx, obj, path, key, WANT_STRING, required, fpath);
    if (v == NULL)
        return NULL;
    const char *s = json_string_value(v);
    if (s[0] == '\0') {
        problem_add(ctx, fpath, "must not be empty");
        return NULL;
    }
    return s;
}

/* A secret's name: stored in *dst when valid. The value is never repeated in a problem: a
 * confused writer may have put the secret itself there. */
static void field_secret(spec_ctx *ctx, json_t *obj, const char *path, const char *key,
                         bool required, char **dst)
{
    char p[PATH_SZ];
    const char *s = field_string(ctx, obj, path, key, required, p);
    if (s == NULL)
        return;
    if (!secret_name_valid(s)) {
        problem_add(ctx, p,
                    "a secret's name is 1 to 64 of A-Z, 0-9 and _ (the worker reads "
                    "FERRY_SECRET_<NAME>)");
        return;
    }
    *dst = spec_dup(ctx, s);
}

/* A duration between 1s and 24h: "250ms", "30s", "5m", "2h", or a number of seconds. */
static bool field_duration(spec_ctx *ctx, json_t *obj, const char *path, const char *key,
                           int64_t *out_ms)
{
    char p[PATH_SZ];
    json_t *v = field_get(ctx, obj, path, key, WANT_DURATION, false, p);
    if (v == NULL)
        return false;
    int64_t ms = -1;
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = strlen(s);
        if (n == 0 || !(is_lower(s[n - 1])) || ferry_parse_duration_ms(s, &ms) != 0) {
            problem_add(ctx, p,
                        "'%.40s' is not a duration: a number with a unit (250ms, 30s, 5m, 2h), or "
                        "a JSON number of seconds",
                        s);
            return false;
        }
    } else if (json_is_integer(v)) {
        json_int_t s = json_integer_value(v);
        ms = s < 0 || s > DURATION_MAX_MS ? -1 : (int64_t)s * 1000;
    } else {
        double s = json_real_value(v);
        ms = isfinite(s) && s >= 0 && s <= (double)DURATION_MAX_MS ? (int64_t)(s * 1000.0) : -1;
    }
    if (ms < DURATION_MIN_MS || ms > DURATION_MAX_MS) {
        problem_add(ctx, p, "must be between 1s and 24h");
        return false;
    }
    *out_ms = ms;
    return true;
}

/* ---- sections ----------------------------------------------------------------------------- */

static void options_read(spec_ctx *ctx, json_t *root, ferry_spec_options *opt)
{
    static const char *const known[] = {"file_sync_pause",
                                        "file_sync_delete",
                                        "source_suffix",
                                        "target_suffix",
                                        "dns_ttl",
                                        "overwrite_target",
                                        NULL};
    char p[PATH_SZ];
    char sp[PATH_SZ];
    opt->file_sync_pause_ms = DEFAULT_PAUSE_MS;
    opt->dns_ttl = DEFAULT_TTL;
    json_t *obj = field_get(ctx, root, "$", "options", WANT_OBJECT, false, p);
    const char *source = DEFAULT_SOURCE_SUFFIX;
    const char *target = DEFAULT_TARGET_SUFFIX;
    if (obj != NULL) {
        keys_check(ctx, obj, p, known);
        (void)field_duration(ctx, obj, p, "file_sync_pause", &opt->file_sync_pause_ms);
        json_t *del = field_get(ctx, obj, p, "file_sync_delete", WANT_BOOLEAN, false, sp);
        opt->file_sync_delete = del != NULL && json_is_true(del);
        json_t *ow = field_get(ctx, obj, p, "overwrite_target", WANT_BOOLEAN, false, sp);
        opt->overwrite_target = ow != NULL && json_is_true(ow);
        const char *s = field_string(ctx, obj, p, "source_suffix", false, sp);
        if (s != NULL && !suffix_valid(s)) {
            problem_add(ctx, sp, "'%.40s' is not a suffix: '-' then 1 to 15 of a-z and 0-9", s);
            source = NULL;
        } else if (s != NULL) {
            source = s;
        }
        const char *t = field_string(ctx, obj, p, "target_suffix", false, sp);
        if (t != NULL && !suffix_valid(t)) {
            problem_add(ctx, sp, "'%.40s' is not a suffix: '-' then 1 to 15 of a-z and 0-9", t);
            target = NULL;
        } else if (t != NULL) {
            target = t;
        }
        if (source != NULL && target != NULL && strcmp(source, target) == 0) {
            path_key(sp, sizeof(sp), p, t != NULL ? "target_suffix" : "source_suffix");
            problem_add(ctx, sp, "source_suffix and target_suffix must differ (both are %s)",
                        source);
            target = NULL;
        }
        json_t *ttl = field_get(ctx, obj, p, "dns_ttl", WANT_INTEGER, false, sp);
        if (ttl != NULL) {
            json_int_t v = json_integer_value(ttl);
            if (v < 1 || v > TTL_MAX)
                problem_add(ctx, sp, "must be between 1 and 86400 (seconds)");
            else
                opt->dns_ttl = (uint32_t)v;
        }
    }
    /* An invalid suffix stays NULL: the checks that need it are skipped, not misled. */
    if (source != NULL)
        opt->source_suffix = spec_dup(ctx, source);
    if (target != NULL)
        opt->target_suffix = spec_dup(ctx, target);
}

static const char *const db_methods[] = {
    [FERRY_SPEC_DB_AUTO] = "auto",
    [FERRY_SPEC_DB_LOGICAL] = "logical",
    [FERRY_SPEC_DB_DUMP_RESTORE] = "dump_restore",
};

const char *ferry_spec_db_method_name(ferry_spec_db_method method)
{
    if ((size_t)method >= sizeof(db_methods) / sizeof(db_methods[0]))
        return "auto";
    return db_methods[method];
}

/* The source database's method and WAL limit (docs/spec.md, database). */
static void database_method_read(spec_ctx *ctx, json_t *obj, const char *p, ferry_spec_db *db)
{
    char mp[PATH_SZ];
    const char *method = field_string(ctx, obj, p, "method", false, mp);
    if (method != NULL) {
        size_t i = 0;
        while (i < sizeof(db_methods) / sizeof(db_methods[0]) && strcmp(db_methods[i], method) != 0)
            i++;
        if (i < sizeof(db_methods) / sizeof(db_methods[0]))
            db->method = (ferry_spec_db_method)i;
        else
            problem_add(ctx, mp, "must be logical, dump_restore or auto (the default)");
    }
    json_t *wal = field_get(ctx, obj, p, "max_retained_wal", WANT_ANY_SIZE, false, mp);
    if (wal == NULL)
        return;
    int64_t bytes = -1;
    if (json_is_integer(wal))
        bytes = json_integer_value(wal);
    else if (json_is_string(wal) && ferry_parse_size(json_string_value(wal), &bytes) != 0)
        bytes = -1;
    if (bytes < 16 * 1024 * 1024)
        problem_add(ctx, mp, "must be a size of at least 16M (\"20G\", \"512M\", or bytes)");
    else
        db->max_retained_wal = bytes;
}

static void database_read(spec_ctx *ctx, json_t *side, const char *path, bool source,
                          ferry_spec_db *db)
{
    static const char *const known_source[] = {"conninfo", "password_secret", "method",
                                               "max_retained_wal", NULL};
    static const char *const known_target[] = {"conninfo", "password_secret", NULL};
    const char *const *known = source ? known_source : known_target;
    char p[PATH_SZ];
    char cp[PATH_SZ];
    json_t *obj = field_get(ctx, side, path, "database", WANT_OBJECT, true, p);
    if (obj == NULL)
        return;
    keys_check(ctx, obj, p, known);
    const char *conninfo = field_string(ctx, obj, p, "conninfo", true, cp);
    if (conninfo != NULL) {
        /* Never repeat a conninfo in a problem: it may hold the password. */
        if (ferry_wire_has_secret(conninfo))
            problem_add(ctx, cp, "holds a password; name a secret in password_secret instead");
        else if (strstr(conninfo, "://") != NULL && strncmp(conninfo, "postgresql://", 13) != 0 &&
                 strncmp(conninfo, "postgres://", 11) != 0)
            problem_add(ctx, cp, "a URL conninfo starts with postgresql:// or postgres://");
        else if (strstr(conninfo, "://") == NULL && strchr(conninfo, '=') == NULL)
            problem_add(ctx, cp,
                        "is neither a postgresql:// URL nor keyword=value pairs (host=... "
                        "dbname=...)");
        else
            db->conninfo = spec_dup(ctx, conninfo);
    }
    field_secret(ctx, obj, p, "password_secret", false, &db->password_secret);
    if (source)
        database_method_read(ctx, obj, p, db);
}

static void s3_url_read(spec_ctx *ctx, const char *url, const char *upath, ferry_spec_files *f)
{
    if (ferry_wire_has_secret(url)) {
        problem_add(ctx, upath,
                    "holds credentials; name secrets in access_key_secret and "
                    "secret_key_secret instead");
        return;
    }
    if (strncmp(url, "s3://", 5) != 0 || has_blank(url) || strpbrk(url, "?#@") != NULL) {
        problem_add(ctx, upath, "must be s3://bucket or s3://bucket/prefix");
        return;
    }
    const char *bucket = url + 5;
    size_t n = strcspn(bucket, "/");
    const char *why = bucket_problem(bucket, n);
    if (why != NULL) {
        problem_add(ctx, upath, "%s", why);
        return;
    }
    const char *prefix = bucket[n] == '/' ? bucket + n + 1 : bucket + n;
    if (prefix[0] == '/' || strstr(prefix, "//") != NULL) {
        problem_add(ctx, upath, "the prefix must not hold an empty part ('//')");
        return;
    }
    f->s3_bucket = strndup(bucket, n);
    if (f->s3_bucket == NULL)
        ctx->nomem = true;
    f->s3_prefix = spec_dup(ctx, prefix);
}

static void files_read(spec_ctx *ctx, json_t *side, const char *path, ferry_spec_files *f)
{
    static const char *const known[] = {
        "directory", "url", "endpoint", "region", "access_key_secret", "secret_key_secret", NULL};
    static const char *const s3_only[] = {"endpoint", "region", "access_key_secret",
                                          "secret_key_secret"};
    char p[PATH_SZ];
    char fp[PATH_SZ];
    json_t *obj = field_get(ctx, side, path, "files", WANT_OBJECT, true, p);
    if (obj == NULL)
        return;
    keys_check(ctx, obj, p, known);
    bool has_dir = present(obj, "directory");
    bool has_url = present(obj, "url");
    if (has_dir && has_url) {
        problem_add(ctx, p, "has both directory and url; give one");
        return;
    }
    if (!has_dir && !has_url) {
        problem_add(ctx, p, "needs a directory or an s3 url");
        return;
    }
    if (has_dir) {
        for (size_t i = 0; i < COUNT(s3_only); i++) {
            if (present(obj, s3_only[i])) {
                path_key(fp, sizeof(fp), p, s3_only[i]);
                problem_add(ctx, fp, "only with an s3 url, not with a directory");
            }
        }
        const char *dir = field_string(ctx, obj, p, "directory", true, fp);
        if (dir == NULL)
            return;
        size_t n = strlen(dir);
        bool dotdot = strstr(dir, "/../") != NULL || (n >= 3 && strcmp(dir + n - 3, "/..") == 0);
        if (dir[0] != '/')
            problem_add(ctx, fp, "must be an absolute path");
        else if (dotdot)
            problem_add(ctx, fp, "must not hold '..'");
        else if (has_control(dir))
            problem_add(ctx, fp, "must not hold control characters");
        else
            f->directory = spec_dup(ctx, dir);
        return;
    }
    const char *url = field_string(ctx, obj, p, "url", true, fp);
    if (url != NULL)
        s3_url_read(ctx, url, fp, f);
    const char *endpoint = field_string(ctx, obj, p, "endpoint", true, fp);
    if (endpoint != NULL) {
        const char *why = http_url_problem(endpoint, false);
        if (why != NULL)
            problem_add(ctx, fp, "%s", why);
        else
            f->s3_endpoint = spec_dup(ctx, endpoint);
    }
    const char *region = field_string(ctx, obj, p, "region", false, fp);
    if (region == NULL) {
        f->s3_region = spec_dup(ctx, DEFAULT_REGION);
    } else {
        bool ok = strlen(region) <= REGION_MAX;
        for (const char *c = region; ok && *c != '\0'; c++)
            ok = is_lower(*c) || is_digit(*c) || *c == '-';
        if (!ok)
            problem_add(ctx, fp, "'%.40s' is not a region: 1 to 32 of a-z, 0-9 and '-'", region);
        else
            f->s3_region = spec_dup(ctx, region);
    }
    field_secret(ctx, obj, p, "access_key_secret", false, &f->access_key_secret);
    field_secret(ctx, obj, p, "secret_key_secret", false, &f->secret_key_secret);
    bool has_access = present(obj, "access_key_secret");
    bool has_secret = present(obj, "secret_key_secret");
    if (has_access != has_secret) {
        path_key(fp, sizeof(fp), p, has_access ? "secret_key_secret" : "access_key_secret");
        problem_add(ctx, fp, "required when %s is given",
                    has_access ? "access_key_secret" : "secret_key_secret");
    }
}

static void dns_read(spec_ctx *ctx, json_t *side, const char *path, bool target,
                     const ferry_spec *spec, ferry_spec_dns *dns)
{
    static const char *const known[] = {"zone", "names", "api_key_secret", NULL};
    char p[PATH_SZ];
    char fp[PATH_SZ];
    char np[PATH_SZ];
    json_t *obj = field_get(ctx, side, path, "dns", WANT_OBJECT, true, p);
    if (obj == NULL)
        return;
    keys_check(ctx, obj, p, known);
    const char *zone = field_string(ctx, obj, p, "zone", true, fp);
    if (zone != NULL) {
        const char *why = dns_name_problem(zone);
        if (why != NULL) {
            problem_add(ctx, fp, "%s", why);
            zone = NULL;
        } else {
            dns->zone = spec_dup(ctx, zone);
        }
    }
    json_t *names = field_get(ctx, obj, p, "names", WANT_ARRAY, true, fp);
    size_t count = names != NULL ? json_array_size(names) : 0;
    if (names != NULL && count == 0)
        problem_add(ctx, fp, "needs at least one name");
    if (count > FERRY_SPEC_NAMES_MAX) {
        problem_add(ctx, fp, "%zu names: at most %d in one spec", count, FERRY_SPEC_NAMES_MAX);
        count = 0;
    }
    if (count > 0) {
        dns->names = calloc(count, sizeof(*dns->names));
        if (dns->names == NULL)
            ctx->nomem = true;
    }
    const char *suffix = target ? spec->options.target_suffix : spec->options.source_suffix;
    for (size_t i = 0; dns->names != NULL && i < count; i++) {
        path_index(np, sizeof(np), fp, i);
        json_t *v = json_array_get(names, i);
        if (!json_is_string(v)) {
            problem_add(ctx, np, "must be a string");
            continue;
        }
        const char *name = json_string_value(v);
        const char *why = dns_name_problem(name);
        size_t label_len = strcspn(name, ".");
        bool ok = false;
        if (why != NULL)
            problem_add(ctx, np, "'%.80s' %s", name, why);
        else if (zone != NULL && !dns_name_in_zone(name, zone))
            problem_add(ctx, np, "'%.80s' is not inside the zone %.80s", name, zone);
        else if (target && suffix != NULL && label_find_suffix(name, label_len, suffix) == NULL)
            problem_add(ctx, np,
                        "'%.80s' needs the target suffix %s in its first label (the name "
                        "before cutover, like %s%s.%s)",
                        name, suffix, spec->app != NULL ? spec->app : "app", suffix,
                        zone != NULL ? zone : "example.com.");
        else if (!target && suffix != NULL && label_find_suffix(name, label_len, suffix) != NULL)
            problem_add(ctx, np,
                        "'%.80s' already holds the source suffix %s in its first label; give "
                        "the name as it is before cutover",
                        name, suffix);
        else
            ok = zone != NULL && suffix != NULL;
        refs_add(ctx, &ctx->names, name, np, target, ok);
        dns->names[dns->n_names] = spec_dup(ctx, name);
        if (dns->names[dns->n_names] != NULL)
            dns->n_names++;
    }
    field_secret(ctx, obj, p, "api_key_secret", false, &dns->api_key_secret);
}

static void runtime_read(spec_ctx *ctx, json_t *side, const char *path, const char *env_name,
                         ferry_spec_runtime *rt)
{
    static const char *const known[] = {"platform",           "app",        "environment", "user",
                                        "credentials_secret", "health_url", "timeout",     NULL};
    char p[PATH_SZ];
    char fp[PATH_SZ];
    rt->timeout_seconds = DEFAULT_TIMEOUT_S;
    json_t *obj = field_get(ctx, side, path, "runtime", WANT_OBJECT, true, p);
    if (obj == NULL)
        return;
    keys_check(ctx, obj, p, known);
    const char *platform = field_string(ctx, obj, p, "platform", true, fp);
    if (platform != NULL && strcmp(platform, "supervisor") != 0 && strcmp(platform, "mendix") != 0)
        problem_add(ctx, fp, "'%.40s' is not a platform: supervisor or mendix", platform);
    else if (platform != NULL)
        rt->platform = spec_dup(ctx, platform);
    const char *app = field_string(ctx, obj, p, "app", true, fp);
    if (app != NULL && !ref_valid(app))
        problem_add(ctx, fp, "must have 1 to 128 characters without spaces");
    else if (app != NULL)
        rt->app = spec_dup(ctx, app);
    const char *env = field_string(ctx, obj, p, "environment", false, fp);
    if (env != NULL && !ref_valid(env))
        problem_add(ctx, fp, "must have 1 to 128 characters without spaces");
    else if (env != NULL || env_name != NULL)
        rt->environment = spec_dup(ctx, env != NULL ? env : env_name);
    const char *user = field_string(ctx, obj, p, "user", false, fp);
    if (user != NULL && !ref_valid(user))
        problem_add(ctx, fp, "must have 1 to 128 characters without spaces");
    else if (user != NULL)
        rt->user = spec_dup(ctx, user);
    field_secret(ctx, obj, p, "credentials_secret", false, &rt->credentials_secret);
    const char *health = field_string(ctx, obj, p, "health_url", false, fp);
    if (health != NULL) {
        const char *why = http_url_problem(health, true);
        if (why != NULL)
            problem_add(ctx, fp, "%s", why);
        else
            rt->health_url = spec_dup(ctx, health);
    }
    int64_t ms = 0;
    if (field_duration(ctx, obj, p, "timeout", &ms)) {
        path_key(fp, sizeof(fp), p, "timeout");
        if (ms % 1000 != 0)
            problem_add(ctx, fp, "must be a whole number of seconds");
        else
            rt->timeout_seconds = (uint32_t)(ms / 1000);
    }
}

static void side_read(spec_ctx *ctx, json_t *env, const char *path, const char *key,
                      const char *env_name, const ferry_spec *spec, ferry_spec_side *side)
{
    static const char *const known[] = {"id", "database", "files", "dns", "runtime", NULL};
    char p[PATH_SZ];
    char fp[PATH_SZ];
    bool target = strcmp(key, "target") == 0;
    json_t *obj = field_get(ctx, env, path, key, WANT_OBJECT, true, p);
    if (obj == NULL)
        return;
    keys_check(ctx, obj, p, known);
    const char *id = field_string(ctx, obj, p, "id", true, fp);
    if (id != NULL && !ref_valid(id)) {
        problem_add(ctx, fp, "must have 1 to 128 characters without spaces");
    } else if (id != NULL) {
        side->id = spec_dup(ctx, id);
        refs_add(ctx, &ctx->ids, id, fp, target, true);
    }
    database_read(ctx, obj, p, !target, &side->database);
    files_read(ctx, obj, p, &side->files);
    dns_read(ctx, obj, p, target, spec, &side->dns);
    runtime_read(ctx, obj, p, env_name, &side->runtime);
}

static bool same(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/* One environment's source and target must not be the same thing: the target gets overwritten. */
static void env_sides_check(spec_ctx *ctx, const char *path, const ferry_spec_env *env)
{
    const ferry_spec_side *s = &env->source, *t = &env->target;
    char p[PATH_SZ];
    if (same(s->database.conninfo, t->database.conninfo)) {
        path_join(p, sizeof(p), path, ".target.database.conninfo");
        problem_add(ctx, p, "the same as the source's: the target would overwrite the source");
    }
    bool same_files = same(s->files.directory, t->files.directory) ||
                      (same(s->files.s3_bucket, t->files.s3_bucket) &&
                       same(s->files.s3_prefix, t->files.s3_prefix) &&
                       same(s->files.s3_endpoint, t->files.s3_endpoint));
    if (same_files) {
        path_join(p, sizeof(p), path, ".target.files");
        problem_add(ctx, p, "the same as the source's: the target would overwrite the source");
    }
    if (same(s->runtime.platform, t->runtime.platform) && same(s->runtime.app, t->runtime.app) &&
        same(s->runtime.environment, t->runtime.environment)) {
        path_join(p, sizeof(p), path, ".target.runtime");
        problem_add(ctx, p, "the same app as the source's");
    }
}

static void envs_read(spec_ctx *ctx, json_t *root, ferry_spec *spec)
{
    static const char *const known[] = {"source", "target", NULL};
    char p[PATH_SZ];
    char ep[PATH_SZ];
    json_t *obj = field_get(ctx, root, "$", "environments", WANT_OBJECT, true, p);
    if (obj == NULL)
        return;
    size_t count = json_object_size(obj);
    if (count == 0) {
        problem_add(ctx, p, "needs at least one environment");
        return;
    }
    if (count > FERRY_SPEC_ENVS_MAX) {
        problem_add(ctx, p, "%zu environments: at most %d in one spec", count, FERRY_SPEC_ENVS_MAX);
        return;
    }
    spec->envs = calloc(count, sizeof(*spec->envs));
    if (spec->envs == NULL) {
        ctx->nomem = true;
        return;
    }
    const char *key;
    json_t *value;
    json_object_foreach(obj, key, value)
    {
        path_key(ep, sizeof(ep), p, key);
        if (!name_valid(key, FERRY_SPEC_ENV_MAX))
            problem_add(ctx, ep,
                        "not an environment name: 1 to 32 of a-z, 0-9 and '-', starting with a "
                        "letter or digit");
        if (!json_is_object(value)) {
            problem_add(ctx, ep, "must be an object");
            continue;
        }
        ferry_spec_env *env = &spec->envs[spec->n_envs++];
        env->name = spec_dup(ctx, key);
        keys_check(ctx, value, ep, known);
        side_read(ctx, value, ep, "source", key, spec, &env->source);
        side_read(ctx, value, ep, "target", key, spec, &env->target);
        env_sides_check(ctx, ep, env);
    }
}

/* Names and ids are unique across every side of every environment, before and after cutover. */
static void refs_check(spec_ctx *ctx, const ferry_spec *spec)
{
    if (ctx->names.count > FERRY_SPEC_NAMES_MAX)
        problem_add(ctx, "$.environments",
                    "%zu DNS names in all: at most %d in one spec (a cutover renames them all "
                    "in one step)",
                    ctx->names.count, FERRY_SPEC_NAMES_MAX);
    for (size_t j = 0; j < ctx->ids.count; j++) {
        for (size_t i = 0; i < j; i++) {
            if (strcmp(ctx->ids.items[i].text, ctx->ids.items[j].text) == 0) {
                problem_add(ctx, ctx->ids.items[j].path, "the same id as %s",
                            ctx->ids.items[i].path);
                break;
            }
        }
    }
    const spec_refs *names = &ctx->names;
    bool unique = true;
    for (size_t j = 0; j < names->count; j++) {
        for (size_t i = 0; i < j; i++) {
            if (strcmp(names->items[i].text, names->items[j].text) == 0) {
                problem_add(ctx, names->items[j].path, "the same name as %s", names->items[i].path);
                unique = false;
                break;
            }
        }
    }
    if (!unique || spec->app == NULL)
        return;
    /* After cutover: the source's names carry the source suffix, the target's lose theirs. */
    char(*after)[DNS_NAME_MAX + 2] = calloc(names->count + 1, sizeof(*after));
    if (after == NULL) {
        ctx->nomem = true;
        return;
    }
    for (size_t j = 0; j < names->count; j++) {
        const spec_ref *r = &names->items[j];
        if (!r->ok)
            continue;
        ferry_err err;
        ferry_rc rc =
            r->target ? ferry_spec_target_renamed(spec, r->text, after[j], sizeof(after[j]), &err)
                      : ferry_spec_source_renamed(spec, r->text, after[j], sizeof(after[j]), &err);
        if (rc != FERRY_OK) {
            problem_add(ctx, r->path, "cannot be renamed at cutover: %s", err.msg);
            after[j][0] = '\0';
            continue;
        }
        for (size_t i = 0; i < j; i++) {
            if (strcmp(after[i], after[j]) == 0) {
                problem_add(ctx, r->path, "becomes %s at cutover, as does %s", after[j],
                            names->items[i].path);
                break;
            }
        }
    }
    free(after);
}

static bool name_listed(const char *name, char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(name, names[i]) == 0)
            return true;
    }
    return false;
}

/*
 * The swap must leave nothing behind (source document 4.6: the v4 app takes the v3 app's names):
 * in each environment, the target's names without the target suffix are exactly the source's
 * names, in the same zone (a rename moves record sets within a zone).
 */
static void swap_check(spec_ctx *ctx, const ferry_spec *spec)
{
    /* A check of the whole: it runs once every name is valid on its own, so a misspelt name
     * is reported once, where it is. */
    if (ctx->total > 0 || spec->app == NULL || spec->options.target_suffix == NULL)
        return;
    char p[PATH_SZ], after[DNS_NAME_MAX + 2];
    for (size_t e = 0; e < spec->n_envs; e++) {
        const ferry_spec_env *env = &spec->envs[e];
        const ferry_spec_dns *sd = &env->source.dns, *td = &env->target.dns;
        if (env->name == NULL || sd->zone == NULL || td->zone == NULL)
            continue; /* reported where it is missing */
        char base[PATH_SZ], list[PATH_SZ];
        path_key(base, sizeof(base), "$.environments", env->name);
        bool matched = false;
        for (size_t i = 0; i < td->n_names; i++) {
            ferry_err err;
            if (ferry_spec_target_renamed(spec, td->names[i], after, sizeof(after), &err) !=
                FERRY_OK)
                continue; /* reported by refs_check */
            path_join(list, sizeof(list), base, ".target.dns.names");
            path_index(p, sizeof(p), list, i);
            if (!name_listed(after, sd->names, sd->n_names)) {
                problem_add(ctx, p,
                            "becomes %s at cutover, which the source does not serve: the target "
                            "takes over the source's names (one of %s%s)",
                            after, sd->n_names > 0 ? sd->names[0] : "?",
                            sd->n_names > 1 ? ", ..." : "");
                continue;
            }
            matched = true;
        }
        for (size_t i = 0; i < sd->n_names; i++) {
            bool taken = false;
            for (size_t j = 0; j < td->n_names && !taken; j++) {
                ferry_err err;
                taken = ferry_spec_target_renamed(spec, td->names[j], after, sizeof(after), &err) ==
                            FERRY_OK &&
                        strcmp(after, sd->names[i]) == 0;
            }
            if (!taken) {
                path_join(list, sizeof(list), base, ".source.dns.names");
                path_index(p, sizeof(p), list, i);
                problem_add(ctx, p,
                            "no target name takes it over at cutover: after the swap nothing "
                            "would serve it (add %s's counterpart with the target suffix %s to "
                            "the target's names)",
                            sd->names[i], spec->options.target_suffix);
            }
        }
        if (matched && strcmp(sd->zone, td->zone) != 0) {
            path_join(p, sizeof(p), base, ".target.dns.zone");
            problem_add(ctx, p,
                        "%s differs from the source's zone %s, yet the target's names become the "
                        "source's at cutover: a name is renamed within its zone, so both sides "
                        "name the zone that holds them",
                        td->zone, sd->zone);
        }
    }
}

static void spec_read(spec_ctx *ctx, json_t *root, ferry_spec *spec)
{
    static const char *const known[] = {"app", "options", "environments", NULL};
    char p[PATH_SZ];
    if (!json_is_object(root)) {
        problem_add(ctx, "$", "must be an object");
        return;
    }
    keys_check(ctx, root, "$", known);
    const char *app = field_string(ctx, root, "$", "app", true, p);
    if (app != NULL && !name_valid(app, FERRY_SPEC_APP_MAX))
        problem_add(ctx, p,
                    "'%.70s' is not an app name: 1 to 63 of a-z, 0-9 and '-', starting with a "
                    "letter or digit",
                    app);
    else if (app != NULL)
        spec->app = spec_dup(ctx, app);
    options_read(ctx, root, &spec->options);
    envs_read(ctx, root, spec);
    refs_check(ctx, spec);
    swap_check(ctx, spec);
}

/* ---- public ------------------------------------------------------------------------------- */

ferry_rc ferry_spec_parse(const char *json, size_t len, ferry_spec **out,
                          ferry_spec_problems *problems, ferry_err *err)
{
    spec_ctx ctx = {0};
    ferry_spec *spec = NULL;
    json_t *root = NULL;
    ferry_rc rc = FERRY_OK;
    json_error_t jerr;

    if (problems != NULL) {
        problems->items = NULL;
        problems->count = 0;
    }
    if (out == NULL || (json == NULL && len > 0))
        return ferry_err_set(err, FERRY_ERR_INVALID, "parsing the spec: no text or no output");
    *out = NULL;

    root = json_loadb(json != NULL ? json : "", len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        /* jansson quotes the text near the error; it may be a password, so cut it off. */
        char *near = strstr(jerr.text, " near ");
        if (near != NULL)
            *near = '\0';
        problem_add(&ctx, "$", "not valid JSON: line %d, column %d: %s", jerr.line, jerr.column,
                    jerr.text);
    } else {
        spec = calloc(1, sizeof(*spec));
        if (spec == NULL)
            ctx.nomem = true;
        else
            spec_read(&ctx, root, spec);
    }
    if (ctx.nomem) {
        rc = ferry_err_set(err, FERRY_ERR_NOMEM, "parsing the spec: out of memory");
        goto cleanup;
    }
    if (ctx.total > 0) {
        if (ctx.total > ctx.count) {
            ferry_spec_problem *last = &ctx.items[ctx.count++];
            text_set(last->path, sizeof(last->path), "$");
            (void)snprintf(last->message, sizeof(last->message), "%zu more problems not listed",
                           ctx.total - PROBLEMS_MAX);
        }
        rc = ferry_err_set(err, FERRY_ERR_INVALID, "the spec has %zu problem%s, the first: %s: %s",
                           ctx.total, ctx.total == 1 ? "" : "s", ctx.items[0].path,
                           ctx.items[0].message);
        goto cleanup;
    }
    *out = spec;
    spec = NULL;

cleanup:
    if (rc == FERRY_ERR_INVALID && problems != NULL) {
        problems->items = ctx.items;
        problems->count = ctx.count;
        ctx.items = NULL;
    }
    free(ctx.items);
    free(ctx.names.items);
    free(ctx.ids.items);
    ferry_spec_free(spec);
    json_decref(root);
    return rc;
}

static void side_free(ferry_spec_side *side)
{
    free(side->id);
    free(side->database.conninfo);
    free(side->database.password_secret);
    free(side->files.directory);
    free(side->files.s3_bucket);
    free(side->files.s3_prefix);
    free(side->files.s3_endpoint);
    free(side->files.s3_region);
    free(side->files.access_key_secret);
    free(side->files.secret_key_secret);
    free(side->dns.zone);
    for (size_t i = 0; i < side->dns.n_names; i++)
        free(side->dns.names[i]);
    free(side->dns.names);
    free(side->dns.api_key_secret);
    free(side->runtime.platform);
    free(side->runtime.app);
    free(side->runtime.environment);
    free(side->runtime.credentials_secret);
    free(side->runtime.user);
    free(side->runtime.health_url);
}

void ferry_spec_free(ferry_spec *spec)
{
    if (spec == NULL)
        return;
    for (size_t i = 0; i < spec->n_envs; i++) {
        free(spec->envs[i].name);
        side_free(&spec->envs[i].source);
        side_free(&spec->envs[i].target);
    }
    free(spec->envs);
    free(spec->app);
    free(spec->options.source_suffix);
    free(spec->options.target_suffix);
    free(spec);
}

void ferry_spec_problems_cleanup(ferry_spec_problems *problems)
{
    if (problems == NULL)
        return;
    free(problems->items);
    problems->items = NULL;
    problems->count = 0;
}

const ferry_spec_env *ferry_spec_env_find(const ferry_spec *spec, const char *name)
{
    for (size_t i = 0; spec != NULL && name != NULL && i < spec->n_envs; i++) {
        if (same(spec->envs[i].name, name))
            return &spec->envs[i];
    }
    return NULL;
}

/* Writes the renamed name; out is "" on failure. */
static ferry_rc renamed_write(const char *name, size_t keep, const char *insert, size_t skip,
                              char *out, size_t outsz, ferry_err *err)
{
    size_t first = strcspn(name, ".");
    size_t label = first - skip + strlen(insert);
    size_t total = strlen(name) - 1 - skip + strlen(insert);
    if (label > DNS_LABEL_MAX || total > DNS_NAME_MAX)
        return ferry_err_set(err, FERRY_ERR_INVALID, "%s: renamed, it would be too long", name);
    int n = snprintf(out, outsz, "%.*s%s%s", (int)keep, name, insert, name + keep + skip);
    if (n < 0 || (size_t)n >= outsz) {
        out[0] = '\0';
        return ferry_err_set(err, FERRY_ERR_INVALID, "%s: renamed, it does not fit in %zu bytes",
                             name, outsz);
    }
    return FERRY_OK;
}

ferry_rc ferry_spec_source_renamed(const ferry_spec *spec, const char *name, char *out,
                                   size_t outsz, ferry_err *err)
{
    if (spec == NULL || name == NULL || out == NULL || outsz == 0 ||
        spec->options.source_suffix == NULL)
        return ferry_err_set(err, FERRY_ERR_INVALID, "source rename: no spec, name or output");
    out[0] = '\0';
    const char *why = dns_name_problem(name);
    if (why != NULL)
        return ferry_err_set(err, FERRY_ERR_INVALID, "%.260s: %s", name, why);
    const char *suffix = spec->options.source_suffix;
    size_t first = strcspn(name, ".");
    if (label_find_suffix(name, first, suffix) != NULL)
        return ferry_err_set(err, FERRY_ERR_INVALID, "%s: already holds the source suffix %s", name,
                             suffix);
    /* After the app's name when the label starts with it as a whole part, else at the end. */
    size_t at = first;
    size_t alen = spec->app != NULL ? strlen(spec->app) : 0;
    if (alen > 0 && alen <= first && memcmp(name, spec->app, alen) == 0 &&
        (alen == first || name[alen] == '-'))
        at = alen;
    return renamed_write(name, at, suffix, 0, out, outsz, err);
}

ferry_rc ferry_spec_target_renamed(const ferry_spec *spec, const char *name, char *out,
                                   size_t outsz, ferry_err *err)
{
    if (spec == NULL || name == NULL || out == NULL || outsz == 0 ||
        spec->options.target_suffix == NULL)
        return ferry_err_set(err, FERRY_ERR_INVALID, "target rename: no spec, name or output");
    out[0] = '\0';
    const char *why = dns_name_problem(name);
    if (why != NULL)
        return ferry_err_set(err, FERRY_ERR_INVALID, "%.260s: %s", name, why);
    const char *suffix = spec->options.target_suffix;
    size_t first = strcspn(name, ".");
    const char *at = label_find_suffix(name, first, suffix);
    if (at == NULL || at == name)
        return ferry_err_set(err, FERRY_ERR_INVALID, "%s: no target suffix %s in its first label",
                             name, suffix);
    return renamed_write(name, (size_t)(at - name), "", strlen(suffix), out, outsz, err);
}
