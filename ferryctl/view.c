/* view.c - text views of the coordinator's API objects for ferryctl (see view.h). */
#include "view.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ferry/migstate.h"

/* The widest table (the status table) has 10 columns. */
#define TABLE_MAX_COLS 10
/* Longest error or reason in a table cell, in characters; --json and the detail view show it
 * whole. */
#define SHORT_ERROR 60

/* ---- reading JSON leniently: a missing, null or mistyped field is "absent" ---- */

static const json_t *jget(const json_t *obj, const char *key)
{
    return json_is_object(obj) ? json_object_get(obj, key) : NULL;
}

static const char *jstr(const json_t *obj, const char *key)
{
    const json_t *v = jget(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Integer field; a real is accepted and truncated. Returns false when absent. */
static bool jint(const json_t *obj, const char *key, int64_t *out)
{
    const json_t *v = jget(obj, key);
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return true;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d > -9.0e18 && d < 9.0e18))
            return false;
        *out = (int64_t)d;
        return true;
    }
    return false;
}

static bool jnum(const json_t *obj, const char *key, double *out)
{
    const json_t *v = jget(obj, key);
    if (!json_is_number(v))
        return false;
    *out = json_number_value(v);
    return true;
}

/* "yes", "no", or "-" when absent. */
static const char *jyesno(const json_t *obj, const char *key)
{
    const json_t *v = jget(obj, key);
    if (!json_is_boolean(v))
        return "-";
    return json_is_true(v) ? "yes" : "no";
}

/* ---- small formatters ---- */

/* Checks an snprintf result: on error or truncation out becomes "?". Returns out. */
static const char *fitted(char *out, size_t outsz, int n)
{
    if (n < 0 || (size_t)n >= outsz) {
        if (outsz >= 2) {
            out[0] = '?';
            out[1] = '\0';
        } else if (outsz == 1) {
            out[0] = '\0';
        }
    }
    return out;
}

const char *fv_duration(int64_t ms, char *out, size_t outsz)
{
    int n;
    if (ms < 0) {
        n = snprintf(out, outsz, "-");
    } else if (ms < 1000) {
        n = snprintf(out, outsz, "%" PRId64 "ms", ms);
    } else {
        int64_t s = ms / 1000;
        if (s < 60)
            n = snprintf(out, outsz, "%" PRId64 "s", s);
        else if (s < 3600)
            n = snprintf(out, outsz, "%" PRId64 "m%02" PRId64 "s", s / 60, s % 60);
        else if (s < 86400)
            n = snprintf(out, outsz, "%" PRId64 "h%02" PRId64 "m", s / 3600, s % 3600 / 60);
        else
            n = snprintf(out, outsz, "%" PRId64 "d%02" PRId64 "h", s / 86400, s % 86400 / 3600);
    }
    return fitted(out, outsz, n);
}

const char *fv_time(int64_t ms, char *out, size_t outsz)
{
    if (ms <= 0)
        return fitted(out, outsz, snprintf(out, outsz, "-"));
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL)
        return fitted(out, outsz, -1);
    size_t n = strftime(out, outsz, "%Y-%m-%d %H:%M:%S", &tm);
    if (n == 0)
        return fitted(out, outsz, -1);
    return out;
}

const char *fv_time_local(int64_t ms, char *out, size_t outsz)
{
    if (ms <= 0)
        return fitted(out, outsz, snprintf(out, outsz, "-"));
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char stamp[32];
    if (localtime_r(&t, &tm) == NULL ||
        strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
        return fitted(out, outsz, -1);
    /* %z gives "+0100"; ISO 8601 extended form wants "+01:00". */
    long off = tm.tm_gmtoff;
    char sign = off < 0 ? '-' : '+';
    off = off < 0 ? -off : off;
    return fitted(
        out, outsz,
        snprintf(out, outsz, "%s%c%02ld:%02ld", stamp, sign, off / 3600, off % 3600 / 60));
}

const char *fv_count(int64_t n, char *out, size_t outsz)
{
    /* Digits backwards with a comma every three, then reversed. */
    char rev[40];
    size_t len = 0;
    uint64_t v = n < 0 ? (uint64_t)0 - (uint64_t)n : (uint64_t)n;
    int digits = 0;
    do {
        if (digits > 0 && digits % 3 == 0)
            rev[len++] = ',';
        rev[len++] = (char)('0' + v % 10);
        v /= 10;
        digits++;
    } while (v > 0);
    if (n < 0)
        rev[len++] = '-';
    if (len + 1 > outsz)
        return fitted(out, outsz, -1);
    for (size_t i = 0; i < len; i++)
        out[i] = rev[len - 1 - i];
    out[len] = '\0';
    return out;
}

const char *fv_bytes(int64_t n, char *out, size_t outsz)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
    if (n < 1024)
        return fitted(out, outsz, snprintf(out, outsz, "%" PRId64 " B", n));
    double v = (double)n / 1024.0;
    size_t unit = 0;
    while (v >= 1024.0 && unit + 1 < sizeof(units) / sizeof(units[0])) {
        v /= 1024.0;
        unit++;
    }
    return fitted(out, outsz, snprintf(out, outsz, "%.1f %s", v, units[unit]));
}

/* A percent with one decimal, rounded down so that 99.96 does not show as 100.0%. */
static const char *fmt_percent(double percent, char *out, size_t outsz)
{
    if (!(percent >= 0.0))
        percent = 0.0;
    if (percent > 100.0)
        percent = 100.0;
    long tenths = (long)(percent * 10.0);
    return fitted(out, outsz, snprintf(out, outsz, "%ld.%ld%%", tenths / 10, tenths % 10));
}

/* An integer field as text, "-" when absent. */
static const char *fmt_int(const json_t *obj, const char *key, char *out, size_t outsz)
{
    int64_t v;
    if (!jint(obj, key, &v))
        return fitted(out, outsz, snprintf(out, outsz, "-"));
    return fitted(out, outsz, snprintf(out, outsz, "%" PRId64, v));
}

/* A duration field in ms, "-" when absent. */
static const char *fmt_ms(const json_t *obj, const char *key, char *out, size_t outsz)
{
    int64_t v;
    if (!jint(obj, key, &v))
        v = -1;
    return fv_duration(v, out, outsz);
}

/* Display width of UTF-8 text: its code points (continuation bytes do not count). */
static size_t text_width(const char *s)
{
    size_t w = 0;
    for (; *s != '\0'; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            w++;
    return w;
}

/* Copies text into out (always terminated), keeping at most max characters: longer text ends
 * with "...". Control characters become spaces. Never cuts a UTF-8 sequence. Returns out. */
static const char *fmt_short(const char *text, size_t max, char *out, size_t outsz)
{
    if (outsz == 0)
        return out;
    if (text == NULL)
        text = "-";
    bool cut = text_width(text) > max;
    size_t keep = cut ? (max > 3 ? max - 3 : 0) : max;
    size_t o = 0, chars = 0;
    for (const char *p = text; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        bool starts = (c & 0xC0) != 0x80;
        if (starts && chars == keep)
            break;
        size_t need = 1;
        if (starts && c >= 0xC0)
            need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
        if (starts && o + need + (cut ? 3 : 0) + 1 > outsz)
            break;
        if (starts)
            chars++;
        out[o++] = (c < 0x20 || c == 0x7F) ? ' ' : (char)c;
    }
    if (cut && o + 4 <= outsz) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}

/* Appends text with control characters replaced (server text must not drive the terminal). */
static void add_clean(ferry_buf *out, const char *text)
{
    if (text == NULL) {
        ferry_buf_add(out, "-");
        return;
    }
    for (const char *p = text; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        char ch = (c < 0x20 || c == 0x7F) ? ' ' : (char)c;
        ferry_buf_addn(out, &ch, 1);
    }
}

static void add_fmt_int(ferry_buf *out, int64_t v)
{
    char num[32];
    ferry_buf_add(out, fitted(num, sizeof(num), snprintf(num, sizeof(num), "%" PRId64, v)));
}

/* "name: message" of an error object ({"name", "message", ...}), whole; "-" when none. A plain
 * string is taken as is. */
static void add_error_text(ferry_buf *out, const json_t *error)
{
    if (json_is_string(error)) {
        ferry_buf_add(out, json_string_value(error));
        return;
    }
    const char *name = jstr(error, "name");
    const char *message = jstr(error, "message");
    if (name == NULL && message == NULL) {
        ferry_buf_add(out, json_is_object(error) ? "error" : "-");
        return;
    }
    if (name != NULL)
        ferry_buf_add(out, name);
    if (name != NULL && message != NULL)
        ferry_buf_add(out, ": ");
    if (message != NULL)
        ferry_buf_add(out, message);
}

/* ---- tables ---- */

typedef struct table {
    size_t ncols;
    const char *const *heads; /* ncols headings, or NULL for a table without heading */
    unsigned right;           /* bit c: column c is right-aligned */
    char **cells;             /* nrows * ncols copies */
    size_t nrows, cap;
    bool oom;
} table;

/* Adds a row of ncols cells (copied; NULL prints "-"; control characters become spaces). */
static void table_add(table *t, const char *const *cells)
{
    if (t->oom)
        return;
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **grown = realloc(t->cells, cap * t->ncols * sizeof(*grown));
        if (grown == NULL) {
            t->oom = true;
            return;
        }
        t->cells = grown;
        t->cap = cap;
    }
    char **row = t->cells + t->nrows * t->ncols;
    for (size_t c = 0; c < t->ncols; c++) {
        const char *text = cells[c] != NULL ? cells[c] : "-";
        row[c] = strdup(text);
        if (row[c] == NULL) {
            for (size_t k = 0; k < c; k++)
                free(row[k]);
            t->oom = true;
            return;
        }
        for (char *p = row[c]; *p != '\0'; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7F)
                *p = ' ';
    }
    t->nrows++;
}

static void add_spaces(ferry_buf *out, size_t n)
{
    static const char spaces[] = "                                ";
    while (n > 0) {
        size_t k = n < sizeof(spaces) - 1 ? n : sizeof(spaces) - 1;
        ferry_buf_addn(out, spaces, k);
        n -= k;
    }
}

static void table_line(const table *t, const char *const *cells, const size_t *width,
                       ferry_buf *out)
{
    for (size_t c = 0; c < t->ncols; c++) {
        size_t pad = width[c] - text_width(cells[c]);
        bool right = (t->right >> c) & 1u;
        if (c > 0)
            ferry_buf_add(out, "  ");
        if (right)
            add_spaces(out, pad);
        ferry_buf_add(out, cells[c]);
        if (!right && c + 1 < t->ncols)
            add_spaces(out, pad);
    }
    ferry_buf_add(out, "\n");
}

static void table_render(const table *t, ferry_buf *out)
{
    if (t->oom) {
        out->oom = true;
        return;
    }
    size_t width[TABLE_MAX_COLS] = {0};
    for (size_t c = 0; c < t->ncols; c++) {
        if (t->heads != NULL)
            width[c] = text_width(t->heads[c]);
        for (size_t r = 0; r < t->nrows; r++) {
            size_t w = text_width(t->cells[r * t->ncols + c]);
            if (w > width[c])
                width[c] = w;
        }
    }
    if (t->heads != NULL)
        table_line(t, t->heads, width, out);
    for (size_t r = 0; r < t->nrows; r++)
        table_line(t, (const char *const *)(t->cells + r * t->ncols), width, out);
}

static void table_cleanup(table *t)
{
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    t->cells = NULL;
    t->nrows = t->cap = 0;
}

/* Renders an array as a table, one row per element made by fill(), or `empty` when there is
 * none. */
typedef void (*row_fn)(table *t, const json_t *item, int64_t now_ms);

static void render_array(ferry_buf *out, const json_t *items, const char *const *heads,
                         size_t ncols, unsigned right, row_fn fill, int64_t now_ms,
                         const char *empty)
{
    if (json_array_size(items) == 0) {
        ferry_buf_add(out, empty);
        ferry_buf_add(out, "\n");
        return;
    }
    table t = {.ncols = ncols, .heads = heads, .right = right};
    for (size_t i = 0; i < json_array_size(items); i++)
        fill(&t, json_array_get(items, i), now_ms);
    table_render(&t, out);
    table_cleanup(&t);
}

/* ---- progress ---- */

void fv_bar(ferry_buf *out, double percent, int width)
{
    if (width < 1)
        width = 1;
    if (width > 200)
        width = 200;
    if (!(percent >= 0.0))
        percent = 0.0;
    if (percent > 100.0)
        percent = 100.0;
    int filled = (int)(percent * (double)width / 100.0);
    char line[204];
    line[0] = '[';
    for (int i = 0; i < width; i++)
        line[1 + i] = i < filled ? '#' : '.';
    line[1 + width] = ']';
    ferry_buf_addn(out, line, (size_t)width + 2);
}

/* A stream has no end to show a bar towards: its lag and the WAL its slot keeps instead
 * (docs/orchestration.md, "Progress of a stream"). */
static void stream_line(ferry_buf *out, const json_t *o, const char *lag_ms_key,
                        const char *lag_key, const char *wal_key, const char *changes_key)
{
    int64_t lag_ms = 0, lag = 0, wal = 0, changes = 0;
    char num[32];
    (void)jint(o, lag_ms_key, &lag_ms);
    (void)jint(o, lag_key, &lag);
    (void)jint(o, wal_key, &wal);
    (void)jint(o, changes_key, &changes);
    ferry_buf_add(out, "streaming, lag ");
    ferry_buf_add(out, fv_duration(lag_ms, num, sizeof(num)));
    ferry_buf_add(out, " / ");
    ferry_buf_add(out, fv_bytes(lag, num, sizeof(num)));
    ferry_buf_add(out, ", slot keeps ");
    ferry_buf_add(out, fv_bytes(wal, num, sizeof(num)));
    ferry_buf_add(out, " of WAL, ");
    ferry_buf_add(out, fv_count(changes, num, sizeof(num)));
    ferry_buf_add(out, " changes applied");
}

static void stream_progress(ferry_buf *out, const json_t *progress)
{
    stream_line(out, progress, "done", "bytes_done", "bytes_total", "rows");
}

void fv_progress(ferry_buf *out, const json_t *progress, int width)
{
    const char *kind = jstr(progress, "unit");
    if (kind != NULL && strcmp(kind, "ms behind") == 0) {
        stream_progress(out, progress);
        return;
    }
    int64_t done = 0, total = 0, bytes_done = 0, bytes_total = 0, rows = 0;
    bool has_total = jint(progress, "total", &total) && total > 0;
    bool has_bytes = jint(progress, "bytes_total", &bytes_total) && bytes_total > 0;
    if (!jint(progress, "done", &done) || done < 0)
        done = 0;
    if (!jint(progress, "bytes_done", &bytes_done) || bytes_done < 0)
        bytes_done = 0;
    double percent = -1.0;
    if (has_total)
        percent = (double)done * 100.0 / (double)total;
    else if (has_bytes)
        percent = (double)bytes_done * 100.0 / (double)bytes_total;
    if (percent > 100.0)
        percent = 100.0;

    fv_bar(out, percent, width);
    char num[32], num2[32], line[160];
    if (percent >= 0.0)
        fitted(num, sizeof(num), snprintf(num, sizeof(num), "%3d%%", (int)percent));
    else
        fitted(num, sizeof(num), snprintf(num, sizeof(num), "  ?%%"));
    ferry_buf_add(out, " "); /* the percent is 3 wide: "]  57%", "] 100%" */
    ferry_buf_add(out, num);
    if (has_total) {
        const char *unit = jstr(progress, "unit");
        ferry_buf_add(out, "  ");
        ferry_buf_add(out, fv_count(done, num, sizeof(num)));
        ferry_buf_add(out, "/");
        ferry_buf_add(out, fv_count(total, num2, sizeof(num2)));
        if (unit != NULL && unit[0] != '\0') {
            ferry_buf_add(out, " ");
            add_clean(out, unit);
        }
    }
    if (has_bytes) {
        ferry_buf_add(out, "  ");
        ferry_buf_add(out, fv_bytes(bytes_done, num, sizeof(num)));
        ferry_buf_add(out, "/");
        ferry_buf_add(out, fv_bytes(bytes_total, num2, sizeof(num2)));
    }
    if (jint(progress, "rows", &rows) && rows > 0) {
        ferry_buf_add(out, "  ");
        ferry_buf_add(out, fv_count(rows, num, sizeof(num)));
        ferry_buf_add(out, " rows");
    }
    const char *detail = jstr(progress, "detail");
    if (detail != NULL && detail[0] != '\0') {
        ferry_buf_add(out, "  ");
        ferry_buf_add(out, fmt_short(detail, 80, line, sizeof(line)));
    }
}

/* ---- migrations ---- */

/* "replicating/file_sync", or the state alone. */
static const char *fmt_state(const json_t *m, char *out, size_t outsz)
{
    const char *state = jstr(m, "state");
    const char *phase = jstr(m, "phase");
    if (state == NULL)
        state = "-";
    int64_t left;
    char d[32];
    if (jint(jget(m, "cutover"), "time_left_ms", &left)) /* the app is down: its budget */
        return fitted(out, outsz,
                      snprintf(out, outsz, "%s/%s (%s left)", state, phase != NULL ? phase : "",
                               fv_duration(left, d, sizeof(d))));
    if (phase == NULL || phase[0] == '\0')
        return fitted(out, outsz, snprintf(out, outsz, "%s", state));
    return fitted(out, outsz, snprintf(out, outsz, "%s/%s", state, phase));
}

/* The environment: the migration's, or "source->target" when the two sides differ. */
static const char *fmt_env(const json_t *m, char *out, size_t outsz)
{
    const char *env = jstr(m, "env");
    const char *src = jstr(jget(m, "source"), "env");
    const char *tgt = jstr(jget(m, "target"), "env");
    if (src != NULL && tgt != NULL && strcmp(src, tgt) != 0)
        return fitted(out, outsz, snprintf(out, outsz, "%s->%s", src, tgt));
    if (env == NULL)
        env = src != NULL ? src : "-";
    return fitted(out, outsz, snprintf(out, outsz, "%s", env));
}

/* files.percent of a "files" object, "-" when absent. */
static const char *fmt_files(const json_t *files, char *out, size_t outsz)
{
    double percent;
    if (!jnum(files, "percent", &percent))
        return fitted(out, outsz, snprintf(out, outsz, "-"));
    return fmt_percent(percent, out, outsz);
}

static const char *fmt_files_percent(const json_t *m, char *out, size_t outsz)
{
    return fmt_files(jget(m, "files"), out, outsz);
}

static const char *fmt_rows(const json_t *obj, const char *key, char *out, size_t outsz)
{
    int64_t rows;
    if (!jint(obj, key, &rows))
        return fitted(out, outsz, snprintf(out, outsz, "-"));
    return fv_count(rows, out, outsz);
}

/* The status table's short error: "dr-3 unavailable: message", cut to SHORT_ERROR characters;
 * "target incomplete" when there is no error but the flag is set. */
static const char *fmt_migration_error(const json_t *m, char *out, size_t outsz)
{
    const json_t *error = jget(m, "error");
    ferry_buf text = {0};
    if (json_is_object(error) || json_is_string(error)) {
        const char *step = jstr(error, "step");
        if (step != NULL) {
            ferry_buf_add(&text, step);
            ferry_buf_add(&text, " ");
        }
        add_error_text(&text, error);
    } else if (json_is_true(jget(m, "target_incomplete"))) {
        ferry_buf_add(&text, "target incomplete");
    }
    fmt_short(text.oom || text.p == NULL ? NULL : text.p, SHORT_ERROR, out, outsz);
    ferry_buf_cleanup(&text);
    return out;
}

static void status_row(table *t, const json_t *m, int64_t now_ms)
{
    (void)now_ms; /* the status table shows no running times */
    char env[96], state[96], files[16], rows[32], dr[24], fs[24], error[SHORT_ERROR * 4 + 8];
    const json_t *last = jget(m, "last");
    const char *cells[TABLE_MAX_COLS] = {
        jstr(m, "app"),
        fmt_env(m, env, sizeof(env)),
        jstr(jget(m, "source"), "id"),
        jstr(jget(m, "target"), "id"),
        fmt_state(m, state, sizeof(state)),
        fmt_files_percent(m, files, sizeof(files)),
        fmt_rows(m, "rows", rows, sizeof(rows)),
        fmt_ms(last, "dump_restore_ms", dr, sizeof(dr)),
        fmt_ms(last, "file_sync_ms", fs, sizeof(fs)),
        fmt_migration_error(m, error, sizeof(error)),
    };
    table_add(t, cells);
}

void fv_status_table(ferry_buf *out, const json_t *migrations)
{
    static const char *const heads[] = {
        "APP",   "ENV",  "SOURCE ID",         "TARGET ID",      "STATE",
        "FILES", "ROWS", "LAST DUMP-RESTORE", "LAST FILE SYNC", "ERROR"};
    /* FILES, ROWS and the two timings are right-aligned. */
    unsigned right = (1u << 5) | (1u << 6) | (1u << 7) | (1u << 8);
    render_array(out, migrations, heads, 10, right, status_row, 0, "No migrations.");
}

/* "1m01s at 2026-11-22 10:13:20", "-" when the duration is absent. */
static void add_timing(ferry_buf *out, const json_t *last, const char *ms_key, const char *at_key)
{
    int64_t ms, at;
    char dur[24], when[32];
    if (!jint(last, ms_key, &ms)) {
        ferry_buf_add(out, "-");
        return;
    }
    ferry_buf_add(out, fv_duration(ms, dur, sizeof(dur)));
    if (jint(last, at_key, &at) && at > 0) {
        ferry_buf_add(out, " at ");
        ferry_buf_add(out, fv_time(at, when, sizeof(when)));
    }
}

/* One "Key: value" row of the detail view; value is taken from the buffer, which is reset. */
static void detail_row(table *t, const char *key, ferry_buf *value)
{
    const char *cells[2] = {key, value->oom || value->p == NULL ? "-" : value->p};
    if (value->oom)
        t->oom = true;
    table_add(t, cells);
    ferry_buf_reset(value);
}

static void add_side(ferry_buf *v, const json_t *side)
{
    add_clean(v, jstr(side, "env"));
    ferry_buf_add(v, "  ");
    add_clean(v, jstr(side, "id"));
}

static void add_files(ferry_buf *v, const json_t *files)
{
    char num[32], num2[32];
    int64_t done, total, bytes_done, bytes_total;
    fmt_files(files, num, sizeof(num));
    ferry_buf_add(v, num);
    if (jint(files, "done", &done) && jint(files, "total", &total)) {
        ferry_buf_add(v, "  ");
        ferry_buf_add(v, fv_count(done, num, sizeof(num)));
        ferry_buf_add(v, "/");
        ferry_buf_add(v, fv_count(total, num2, sizeof(num2)));
        ferry_buf_add(v, " files");
    }
    if (jint(files, "bytes_done", &bytes_done) && jint(files, "bytes_total", &bytes_total)) {
        ferry_buf_add(v, "  ");
        ferry_buf_add(v, fv_bytes(bytes_done, num, sizeof(num)));
        ferry_buf_add(v, "/");
        ferry_buf_add(v, fv_bytes(bytes_total, num2, sizeof(num2)));
    }
}

/* "logical (set in the spec)", "dump_restore (auto: source: wal_level is replica; ...)". */
static void add_database(ferry_buf *v, const json_t *db)
{
    const char *method = jstr(db, "method");
    const char *spec = jstr(db, "method_spec");
    const char *why = jstr(db, "why");
    if (method == NULL)
        method =
            spec != NULL && strcmp(spec, "auto") == 0 ? "auto (not asked yet)" : "dump_restore";
    add_clean(v, method);
    if (why != NULL && why[0] != '\0') {
        ferry_buf_add(v, " (");
        add_clean(v, why);
        ferry_buf_add(v, ")");
    }
}

/* The slot on the source and, while the stream runs, its lag; or "-". */
static void add_slot(ferry_buf *v, const json_t *db)
{
    const char *slot = jstr(db, "slot");
    const char *error = jstr(db, "slot_error");
    const json_t *stream = jget(db, "stream");
    if (slot == NULL) {
        ferry_buf_add(v, "-");
    } else {
        add_clean(v, slot);
        if (json_is_object(stream)) {
            ferry_buf_add(v, ": ");
            stream_line(v, stream, "lag_ms", "lag_bytes", "slot_wal_bytes", "changes");
        }
    }
    if (error != NULL && error[0] != '\0') {
        ferry_buf_add(v, "; ");
        add_clean(v, error);
    }
}

static void add_migration_error(ferry_buf *v, const json_t *error)
{
    int64_t code, at;
    char when[32];
    if (!json_is_object(error) && !json_is_string(error)) {
        ferry_buf_add(v, "-");
        return;
    }
    const char *step = jstr(error, "step");
    if (step != NULL) {
        add_clean(v, step);
        ferry_buf_add(v, ": ");
    }
    ferry_buf text = {0};
    add_error_text(&text, error);
    add_clean(v, text.oom ? "?" : text.p);
    ferry_buf_cleanup(&text);
    if (jint(error, "code", &code)) {
        ferry_buf_add(v, " (code ");
        add_fmt_int(v, code);
        ferry_buf_add(v, ")");
    }
    if (jint(error, "at", &at) && at > 0) {
        ferry_buf_add(v, " at ");
        ferry_buf_add(v, fv_time(at, when, sizeof(when)));
    }
}

/* Appends the active steps' progress lines, each indented by `indent`. */
static void add_active_steps(ferry_buf *out, const json_t *steps, const char *indent, int bar_width)
{
    size_t id_w = 0, op_w = 0;
    char op[96], cell[96];
    for (size_t i = 0; i < json_array_size(steps); i++) {
        const json_t *step = json_array_get(steps, i);
        size_t w = text_width(fmt_short(jstr(step, "id"), 40, cell, sizeof(cell)));
        id_w = w > id_w ? w : id_w;
        fitted(op, sizeof(op),
               snprintf(op, sizeof(op), "%s.%s", jstr(step, "kind") ? jstr(step, "kind") : "-",
                        jstr(step, "operation") ? jstr(step, "operation") : "-"));
        w = text_width(fmt_short(op, 40, cell, sizeof(cell)));
        op_w = w > op_w ? w : op_w;
    }
    for (size_t i = 0; i < json_array_size(steps); i++) {
        const json_t *step = json_array_get(steps, i);
        ferry_buf_add(out, indent);
        fmt_short(jstr(step, "id"), 40, cell, sizeof(cell));
        ferry_buf_add(out, cell);
        add_spaces(out, id_w - text_width(cell) + 2);
        fitted(op, sizeof(op),
               snprintf(op, sizeof(op), "%s.%s", jstr(step, "kind") ? jstr(step, "kind") : "-",
                        jstr(step, "operation") ? jstr(step, "operation") : "-"));
        fmt_short(op, 40, cell, sizeof(cell));
        ferry_buf_add(out, cell);
        add_spaces(out, op_w - text_width(cell) + 2);
        fv_progress(out, jget(step, "progress"), bar_width);
        ferry_buf_add(out, "\n");
    }
}

void fv_migration_detail(ferry_buf *out, const json_t *migration, int64_t now_ms)
{
    const json_t *m = migration;
    const json_t *last = jget(m, "last");
    table t = {.ncols = 2};
    ferry_buf v = {0};
    char num[96];
    int64_t n;

    add_clean(&v, jstr(m, "id"));
    detail_row(&t, "Migration:", &v);
    add_clean(&v, jstr(m, "app"));
    detail_row(&t, "App:", &v);
    add_clean(&v, jstr(m, "env"));
    detail_row(&t, "Environment:", &v);
    add_side(&v, jget(m, "source"));
    detail_row(&t, "Source:", &v);
    add_side(&v, jget(m, "target"));
    detail_row(&t, "Target:", &v);
    ferry_buf_add(&v, fmt_state(m, num, sizeof(num)));
    detail_row(&t, "State:", &v);
    ferry_buf_add(&v, fmt_int(m, "pass", num, sizeof(num)));
    detail_row(&t, "File passes:", &v);
    ferry_buf_add(&v, jyesno(m, "reached_100"));
    detail_row(&t, "Reached 100%:", &v);
    ferry_buf_add(&v, jyesno(m, "target_incomplete"));
    detail_row(&t, "Target incomplete:", &v);
    ferry_buf_add(&v, jyesno(m, "replayable"));
    detail_row(&t, "Replayable:", &v);
    add_files(&v, jget(m, "files"));
    detail_row(&t, "Files:", &v);
    ferry_buf_add(&v, fmt_rows(m, "rows", num, sizeof(num)));
    detail_row(&t, "Rows:", &v);
    add_timing(&v, last, "dump_restore_ms", "dump_restore_at");
    detail_row(&t, "Last dump-restore:", &v);
    add_timing(&v, last, "file_sync_ms", "file_sync_at");
    detail_row(&t, "Last file sync:", &v);
    const json_t *cut = jget(m, "cutover");
    if (json_is_object(cut)) {
        const json_t *verified = jget(m, "verified");
        bool measured = jint(verified, "dump_restore_ms", &n) || jint(verified, "file_sync_ms", &n);
        ferry_buf_add(&v, fmt_ms(cut, "limit_ms", num, sizeof(num)));
        ferry_buf_add(&v, measured ? " (the last verified copy and pass + margin)"
                                   : " (the last copy and pass + margin; stop replication once "
                                     "to measure a verified one)");
        detail_row(&t, "Cutover limit:", &v);
        if (jint(cut, "time_left_ms", &n)) {
            ferry_buf_add(&v, fmt_ms(cut, "time_left_ms", num, sizeof(num)));
            ferry_buf_add(&v, " (the app is down; past this the cutover rolls back)");
            detail_row(&t, "Time left:", &v);
        }
        if (jint(cut, "migrate_after", &n)) {
            ferry_buf_add(&v, fv_time(n, num, sizeof(num)));
            ferry_buf_add(&v, " (resolvers may hold the old TTL until then)");
            detail_row(&t, "Migrate from:", &v);
        }
        if (jint(cut, "downtime_ms", &n)) {
            ferry_buf_add(&v, fmt_ms(cut, "downtime_ms", num, sizeof(num)));
            detail_row(&t, "Last downtime:", &v);
        }
    }
    add_database(&v, jget(m, "database"));
    detail_row(&t, "Database method:", &v);
    add_slot(&v, jget(m, "database"));
    detail_row(&t, "Replication slot:", &v);
    add_migration_error(&v, jget(m, "error"));
    detail_row(&t, "Error:", &v);
    if (jint(m, "updated_at", &n))
        ferry_buf_add(&v, fv_time(n, num, sizeof(num)));
    else
        ferry_buf_add(&v, "-");
    detail_row(&t, "Updated:", &v);
    table_render(&t, out);
    table_cleanup(&t);
    ferry_buf_cleanup(&v);

    const json_t *active = jget(m, "active_steps");
    if (json_array_size(active) > 0) {
        ferry_buf_add(out, "\nActive steps:\n");
        add_active_steps(out, active, "  ", FV_BAR_WIDTH);
    }
    const json_t *steps = jget(m, "steps");
    if (json_is_array(steps)) {
        ferry_buf_add(out, "\nSteps:\n");
        fv_steps_table(out, steps, now_ms);
    }
}

/* ---- steps, workers, dead letters, history ---- */

static const char *fmt_step_duration(const json_t *step, int64_t now_ms, char *out, size_t outsz)
{
    int64_t ms, started;
    const char *state = jstr(step, "state");
    if (jint(step, "duration_ms", &ms) && ms >= 0)
        return fv_duration(ms, out, outsz);
    if (state != NULL && fm_sstate_parse(state) == FM_S_RUNNING &&
        jint(step, "started_at", &started) && started > 0 && now_ms >= started) {
        char dur[24];
        fv_duration(now_ms - started, dur, sizeof(dur));
        return fitted(out, outsz, snprintf(out, outsz, "%s+", dur));
    }
    return fitted(out, outsz, snprintf(out, outsz, "-"));
}

static const char *fmt_step_error(const json_t *step, char *out, size_t outsz)
{
    const json_t *error = jget(step, "error");
    if (!json_is_object(error) && !json_is_string(error))
        return fmt_short(NULL, SHORT_ERROR, out, outsz);
    ferry_buf text = {0};
    add_error_text(&text, error);
    fmt_short(text.oom ? NULL : text.p, SHORT_ERROR, out, outsz);
    ferry_buf_cleanup(&text);
    return out;
}

static void step_row(table *t, const json_t *step, int64_t now_ms)
{
    char op[96], attempt[24], retries[24], dur[32], error[SHORT_ERROR * 4 + 8];
    const char *kind = jstr(step, "kind");
    const char *operation = jstr(step, "operation");
    fitted(op, sizeof(op),
           snprintf(op, sizeof(op), "%s.%s", kind ? kind : "-", operation ? operation : "-"));
    const char *cells[] = {
        jstr(step, "migration"),
        jstr(step, "id"),
        op,
        jstr(step, "state"),
        fmt_int(step, "attempt", attempt, sizeof(attempt)),
        fmt_int(step, "retries", retries, sizeof(retries)),
        jstr(step, "worker"),
        fmt_step_duration(step, now_ms, dur, sizeof(dur)),
        fmt_step_error(step, error, sizeof(error)),
    };
    table_add(t, cells);
}

void fv_steps_table(ferry_buf *out, const json_t *steps, int64_t now_ms)
{
    static const char *const heads[] = {"MIGRATION", "STEP",   "KIND.OP",  "STATE", "ATTEMPT",
                                        "RETRIES",   "WORKER", "DURATION", "ERROR"};
    unsigned right = (1u << 4) | (1u << 5) | (1u << 7);
    render_array(out, steps, heads, 9, right, step_row, now_ms, "No steps.");
}

static void worker_row(table *t, const json_t *w, int64_t now_ms)
{
    (void)now_ms; /* the server gives the heartbeat's age */
    char load[48], running[24], capacity[24], age[24];
    ferry_buf steps = {0};
    const json_t *list = jget(w, "steps");
    for (size_t i = 0; i < json_array_size(list); i++) {
        const json_t *s = json_array_get(list, i);
        if (i > 0)
            ferry_buf_add(&steps, ",");
        ferry_buf_add(&steps, json_is_string(s) ? json_string_value(s) : "?");
    }
    fitted(load, sizeof(load),
           snprintf(load, sizeof(load), "%s/%s", fmt_int(w, "running", running, sizeof(running)),
                    fmt_int(w, "capacity", capacity, sizeof(capacity))));
    const char *cells[] = {
        jstr(w, "id"),
        jstr(w, "kind"),
        load,
        fmt_ms(w, "age_ms", age, sizeof(age)),
        jyesno(w, "alive"),
        steps.oom || steps.len == 0 ? "-" : steps.p,
    };
    if (steps.oom)
        t->oom = true;
    table_add(t, cells);
    ferry_buf_cleanup(&steps);
}

void fv_workers_table(ferry_buf *out, const json_t *workers)
{
    static const char *const heads[] = {"ID",    "KIND", "RUNNING/CAPACITY", "HEARTBEAT AGE",
                                        "ALIVE", "STEPS"};
    unsigned right = (1u << 2) | (1u << 3);
    render_array(out, workers, heads, 6, right, worker_row, 0, "No workers.");
}

static void dead_letter_row(table *t, const json_t *d, int64_t now_ms)
{
    (void)now_ms;
    char at[32], partition[24], offset[24], size[32], reason[SHORT_ERROR * 4 + 8];
    int64_t n;
    const char *cells[] = {
        jstr(d, "id"),
        jint(d, "at", &n) ? fv_time(n, at, sizeof(at)) : "-",
        jstr(d, "topic"),
        fmt_int(d, "partition", partition, sizeof(partition)),
        fmt_int(d, "offset", offset, sizeof(offset)),
        jstr(d, "key"),
        jint(d, "size", &n) ? fv_bytes(n, size, sizeof(size)) : "-",
        jyesno(d, "replayed"),
        fmt_short(jstr(d, "reason"), SHORT_ERROR, reason, sizeof(reason)),
    };
    table_add(t, cells);
}

void fv_dead_letters_table(ferry_buf *out, const json_t *dead_letters)
{
    static const char *const heads[] = {"ID",  "AT (UTC)", "TOPIC",    "PARTITION", "OFFSET",
                                        "KEY", "SIZE",     "REPLAYED", "REASON"};
    unsigned right = (1u << 3) | (1u << 4) | (1u << 6);
    render_array(out, dead_letters, heads, 9, right, dead_letter_row, 0, "No dead letters.");
}

static void event_row(table *t, const json_t *e, int64_t now_ms)
{
    (void)now_ms;
    char at[32], change[160], attempt[24];
    const char *from = jstr(e, "from");
    const char *to = jstr(e, "to");
    int64_t n;
    if (from != NULL && from[0] != '\0')
        fitted(change, sizeof(change),
               snprintf(change, sizeof(change), "%s -> %s", from, to ? to : "-"));
    else
        fitted(change, sizeof(change), snprintf(change, sizeof(change), "%s", to ? to : "-"));
    const char *cells[] = {
        jint(e, "at", &n) ? fv_time(n, at, sizeof(at)) : "-", jstr(e, "entity"), change,
        fmt_int(e, "attempt", attempt, sizeof(attempt)),      jstr(e, "actor"),  jstr(e, "what"),
    };
    table_add(t, cells);
}

void fv_history_table(ferry_buf *out, const json_t *events)
{
    static const char *const heads[] = {"AT (UTC)", "ENTITY", "CHANGE", "ATTEMPT", "ACTOR", "WHAT"};
    render_array(out, events, heads, 6, 1u << 3, event_row, 0, "No history.");
}

/* ---- session, users, audit trail ---- */

/* "shop, crm" of a string array into out; "-" when empty. */
static void add_names(ferry_buf *out, const json_t *names, const char *sep)
{
    size_t shown = 0;
    for (size_t i = 0; i < json_array_size(names); i++) {
        const json_t *name = json_array_get(names, i);
        if (shown++ > 0)
            ferry_buf_add(out, sep);
        add_clean(out, json_is_string(name) ? json_string_value(name) : "?");
    }
    if (shown == 0)
        ferry_buf_add(out, "-");
}

/* "NAME (ROLE[ of APPS])" */
static void add_user_brief(ferry_buf *out, const char *name, const char *role, const json_t *apps)
{
    add_clean(out, name);
    ferry_buf_add(out, " (");
    add_clean(out, role);
    if (role != NULL && strcmp(role, "operator") == 0) {
        if (json_array_size(apps) > 0) {
            ferry_buf_add(out, " of ");
            add_names(out, apps, ", ");
        } else {
            ferry_buf_add(out, " of no app");
        }
    }
    ferry_buf_add(out, ")");
}

void fv_user_brief(ferry_buf *out, const json_t *user)
{
    add_user_brief(out, jstr(user, "name"), jstr(user, "role"), jget(user, "apps"));
}

void fv_session_line(ferry_buf *out, const json_t *session)
{
    int64_t expires;
    char when[48];
    add_user_brief(out, jstr(session, "user"), jstr(session, "role"), jget(session, "apps"));
    ferry_buf_add(out, ", via ");
    add_clean(out, jstr(session, "via"));
    if (jint(session, "expires_at", &expires) && expires > 0) {
        ferry_buf_add(out, ", expires ");
        ferry_buf_add(out, fv_time_local(expires, when, sizeof(when)));
    }
    ferry_buf_add(out, "\n");
}

static void user_row(table *t, const json_t *u, int64_t now_ms)
{
    char expires[64], when[48];
    int64_t n;
    ferry_buf apps = {0};
    add_names(&apps, jget(u, "apps"), ",");
    if (!jint(u, "expires_at", &n) || n <= 0)
        fitted(expires, sizeof(expires), snprintf(expires, sizeof(expires), "never"));
    else
        fitted(expires, sizeof(expires),
               snprintf(expires, sizeof(expires), "%s%s", fv_time_local(n, when, sizeof(when)),
                        n <= now_ms ? " (expired)" : ""));
    const char *cells[] = {
        jstr(u, "name"),   jstr(u, "role"), apps.oom ? "?" : apps.p,
        jstr(u, "source"), expires,         jstr(u, "created_by"),
    };
    if (apps.oom)
        t->oom = true;
    table_add(t, cells);
    ferry_buf_cleanup(&apps);
}

void fv_users_table(ferry_buf *out, const json_t *users, int64_t now_ms)
{
    static const char *const heads[] = {"NAME", "ROLE", "APPS", "SOURCE", "EXPIRES", "CREATED BY"};
    render_array(out, users, heads, 6, 0, user_row, now_ms, "No users.");
}

static void audit_row(table *t, const json_t *a, int64_t now_ms)
{
    (void)now_ms;
    char at[48], where[160], status[24], outcome[SHORT_ERROR * 4 + 8];
    const char *app = jstr(a, "app");
    const char *env = jstr(a, "env");
    int64_t n;
    if (app != NULL && app[0] != '\0' && env != NULL && env[0] != '\0')
        fitted(where, sizeof(where), snprintf(where, sizeof(where), "%s/%s", app, env));
    else
        fitted(where, sizeof(where),
               snprintf(where, sizeof(where), "%s", app != NULL && app[0] != '\0' ? app : "-"));
    const char *cells[] = {
        jint(a, "at", &n) ? fv_time_local(n, at, sizeof(at)) : "-",
        jstr(a, "user"),
        jstr(a, "role"),
        jstr(a, "from"),
        jstr(a, "action"),
        where,
        fmt_int(a, "status", status, sizeof(status)),
        fmt_short(jstr(a, "outcome"), SHORT_ERROR, outcome, sizeof(outcome)),
    };
    table_add(t, cells);
}

void fv_audit_table(ferry_buf *out, const json_t *entries)
{
    static const char *const heads[] = {"TIME",   "USER",    "ROLE",   "FROM",
                                        "ACTION", "APP/ENV", "STATUS", "OUTCOME"};
    render_array(out, entries, heads, 8, 1u << 6, audit_row, 0, "No audit entries.");
}

/* ---- watch ---- */

void fv_watch_frame(ferry_buf *out, const json_t *migrations, int bar_width)
{
    size_t id_w = 0, state_w = 0;
    char cell[128], state[96], files[16], rows[32], error[SHORT_ERROR * 4 + 8];
    for (size_t i = 0; i < json_array_size(migrations); i++) {
        const json_t *m = json_array_get(migrations, i);
        size_t w = text_width(fmt_short(jstr(m, "id"), 60, cell, sizeof(cell)));
        id_w = w > id_w ? w : id_w;
        w = text_width(fmt_state(m, state, sizeof(state)));
        state_w = w > state_w ? w : state_w;
    }
    if (json_array_size(migrations) == 0)
        ferry_buf_add(out, "No migrations.\n");
    for (size_t i = 0; i < json_array_size(migrations); i++) {
        const json_t *m = json_array_get(migrations, i);
        fmt_short(jstr(m, "id"), 60, cell, sizeof(cell));
        ferry_buf_add(out, cell);
        add_spaces(out, id_w - text_width(cell) + 2);
        fmt_state(m, state, sizeof(state));
        ferry_buf_add(out, state);
        add_spaces(out, state_w - text_width(state) + 2);
        ferry_buf_add(out, "files ");
        ferry_buf_add(out, fmt_files_percent(m, files, sizeof(files)));
        ferry_buf_add(out, "  rows ");
        ferry_buf_add(out, fmt_rows(m, "rows", rows, sizeof(rows)));
        fmt_migration_error(m, error, sizeof(error));
        if (strcmp(error, "-") != 0) {
            ferry_buf_add(out, "  error: ");
            ferry_buf_add(out, error);
        }
        ferry_buf_add(out, "\n");
        add_active_steps(out, jget(m, "active_steps"), "  ", bar_width);
    }
}

bool fv_migration_resting(const json_t *migration)
{
    const char *state = jstr(migration, "state");
    return state != NULL &&
           fm_resting(fm_state_parse(state), fm_phase_parse(jstr(migration, "phase")));
}

bool fv_migrations_resting(const json_t *migrations)
{
    for (size_t i = 0; i < json_array_size(migrations); i++)
        if (!fv_migration_resting(json_array_get(migrations, i)))
            return false;
    return true;
}

ferry_rc fv_buf_write(const ferry_buf *b, FILE *f, ferry_err *err)
{
    if (b->oom)
        return ferry_err_set(err, FERRY_ERR_NOMEM, "out of memory while rendering");
    if (b->len > 0 && fwrite(b->p, 1, b->len, f) != b->len)
        return ferry_err_set(err, FERRY_ERR_IO, "writing output failed");
    if (fflush(f) != 0)
        return ferry_err_set_errno(err, FERRY_ERR_IO, errno, "writing output");
    return FERRY_OK;
}
