/* Unit tests for view.c: ferryctl's tables, detail view and progress bars, from JSON fixtures
 * shaped as in docs/api.md; missing, null and mistyped fields must print "-", never crash. */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ferry_test.h"
#include "view.h"

/* 2026-11-21 22:26:40 UTC */
#define T0 INT64_C(1795300000000)

static json_t *load(const char *text)
{
    json_error_t jerr;
    json_t *v = json_loads(text, 0, &jerr);
    if (v == NULL)
        fprintf(stderr, "fixture: line %d: %s\n", jerr.line, jerr.text);
    return v;
}

/* The line of text that starts with prefix, copied into out (without newline); "" if none. */
static const char *line_starting(const char *text, const char *prefix, char *out, size_t outsz)
{
    out[0] = '\0';
    for (const char *line = text; line != NULL && *line != '\0';) {
        const char *eol = strchr(line, '\n');
        size_t len = eol != NULL ? (size_t)(eol - line) : strlen(line);
        if (strncmp(line, prefix, strlen(prefix)) == 0 && len < outsz) {
            memcpy(out, line, len);
            out[len] = '\0';
            return out;
        }
        line = eol != NULL ? eol + 1 : NULL;
    }
    return out;
}

static bool has_trailing_blank(const char *text)
{
    for (const char *p = text; *p != '\0'; p++)
        if (*p == ' ' && (p[1] == '\n' || p[1] == '\0'))
            return true;
    return false;
}

/* ---- fixtures ---- */

static const char migration_json[] =
    "{\"id\": \"shop.production\", \"app\": \"shop\", \"env\": \"production\","
    " \"source\": {\"env\": \"production\", \"id\": \"7d7c1a2e-0000-4000-8000-000000000001\"},"
    " \"target\": {\"env\": \"production\", \"id\": \"a1b2c3d4-0000-4000-8000-000000000002\"},"
    " \"state\": \"replicating\", \"phase\": \"file_sync\", \"reached_100\": true,"
    " \"target_incomplete\": false, \"replayable\": false, \"pass\": 4,"
    " \"files\": {\"done\": 812, \"total\": 900, \"percent\": 90.2, \"bytes_done\": 1048576,"
    "           \"bytes_total\": 2097152},"
    " \"rows\": 120345,"
    " \"last\": {\"dump_restore_ms\": 61234, \"file_sync_ms\": 8123,"
    "          \"dump_restore_at\": 1795300000000, \"file_sync_at\": 1795300100000},"
    " \"error\": null,"
    " \"active_steps\": [{\"migration\": \"shop.production\", \"id\": \"dr-3\","
    "   \"kind\": \"dump_restore\", \"operation\": \"copy\", \"state\": \"running\","
    "   \"attempt\": 2, \"retries\": 1, \"worker\": \"dump_restore@box:4242\","
    "   \"started_at\": 1795300000000, \"duration_ms\": null,"
    "   \"progress\": {\"done\": 6, \"total\": 12, \"unit\": \"tables\", \"bytes_done\": 0,"
    "                \"bytes_total\": 0, \"rows\": 120000, \"detail\": \"copying public.orders\"},"
    "   \"error\": null}],"
    " \"updated_at\": 1795300123456}";

static const char failed_json[] =
    "{\"id\": \"shop.test\", \"app\": \"shop\", \"env\": \"test\","
    " \"source\": {\"env\": \"test\", \"id\": \"s-1\"}, \"target\": {\"env\": \"test\", \"id\": "
    "\"t-1\"},"
    " \"state\": \"failed\", \"phase\": null, \"target_incomplete\": true, \"replayable\": true,"
    " \"files\": {\"done\": 0, \"total\": 0, \"percent\": 0}, \"rows\": 0,"
    " \"last\": {\"dump_restore_ms\": null, \"file_sync_ms\": 3723000},"
    " \"error\": {\"step\": \"dr-1\", \"code\": 6, \"name\": \"unavailable\","
    "   \"message\": \"postgres at db.old:5432 refused the connection after many attempts, giving "
    "up\","
    "   \"at\": 1795300000000},"
    " \"active_steps\": []}";

static json_t *two_migrations(void)
{
    json_t *arr = json_array();
    json_array_append_new(arr, load(migration_json));
    json_array_append_new(arr, load(failed_json));
    return arr;
}

/* ---- formatters ---- */

static void durations(void)
{
    char out[24];
    CU_ASSERT_STRING_EQUAL(fv_duration(0, out, sizeof(out)), "0ms");
    CU_ASSERT_STRING_EQUAL(fv_duration(850, out, sizeof(out)), "850ms");
    CU_ASSERT_STRING_EQUAL(fv_duration(8123, out, sizeof(out)), "8s");
    CU_ASSERT_STRING_EQUAL(fv_duration(59999, out, sizeof(out)), "59s");
    CU_ASSERT_STRING_EQUAL(fv_duration(61234, out, sizeof(out)), "1m01s");
    CU_ASSERT_STRING_EQUAL(fv_duration(62000, out, sizeof(out)), "1m02s");
    CU_ASSERT_STRING_EQUAL(fv_duration(3723000, out, sizeof(out)), "1h02m");
    CU_ASSERT_STRING_EQUAL(
        fv_duration((2 * 86400 + 3 * 3600 + 59) * INT64_C(1000), out, sizeof(out)), "2d03h");
    CU_ASSERT_STRING_EQUAL(fv_duration(-1, out, sizeof(out)), "-");
    /* A buffer too small gives "?", never a cut number. */
    char tiny[4];
    CU_ASSERT_STRING_EQUAL(fv_duration(61234, tiny, sizeof(tiny)), "?");
}

static void counts_bytes_times(void)
{
    char out[32];
    CU_ASSERT_STRING_EQUAL(fv_count(0, out, sizeof(out)), "0");
    CU_ASSERT_STRING_EQUAL(fv_count(999, out, sizeof(out)), "999");
    CU_ASSERT_STRING_EQUAL(fv_count(1000, out, sizeof(out)), "1,000");
    CU_ASSERT_STRING_EQUAL(fv_count(120345, out, sizeof(out)), "120,345");
    CU_ASSERT_STRING_EQUAL(fv_count(-1234567, out, sizeof(out)), "-1,234,567");
    CU_ASSERT_STRING_EQUAL(fv_count(INT64_MIN, out, sizeof(out)), "-9,223,372,036,854,775,808");
    CU_ASSERT_STRING_EQUAL(fv_bytes(512, out, sizeof(out)), "512 B");
    CU_ASSERT_STRING_EQUAL(fv_bytes(1024, out, sizeof(out)), "1.0 KiB");
    CU_ASSERT_STRING_EQUAL(fv_bytes(2097152, out, sizeof(out)), "2.0 MiB");
    CU_ASSERT_STRING_EQUAL(fv_bytes(INT64_C(5) << 40, out, sizeof(out)), "5.0 TiB");
    CU_ASSERT_STRING_EQUAL(fv_time(T0, out, sizeof(out)), "2026-11-21 22:26:40");
    CU_ASSERT_STRING_EQUAL(fv_time(0, out, sizeof(out)), "-");
}

/* ---- bars ---- */

static void bar_text(double percent, int width, char *out, size_t outsz)
{
    ferry_buf b = {0};
    fv_bar(&b, percent, width);
    (void)snprintf(out, outsz, "%s", b.p != NULL ? b.p : "(null)");
    ferry_buf_cleanup(&b);
}

static void bars(void)
{
    char out[64];
    bar_text(0.0, 10, out, sizeof(out));
    CU_ASSERT_STRING_EQUAL(out, "[..........]");
    bar_text(50.0, 10, out, sizeof(out));
    CU_ASSERT_STRING_EQUAL(out, "[#####.....]");
    bar_text(100.0, 10, out, sizeof(out));
    CU_ASSERT_STRING_EQUAL(out, "[##########]");
    /* Rounded down: 99.9% is not a full bar. */
    bar_text(99.9, 10, out, sizeof(out));
    CU_ASSERT_STRING_EQUAL(out, "[#########.]");
    bar_text(150.0, 4, out, sizeof(out));
    CU_ASSERT_STRING_EQUAL(out, "[####]");
    bar_text(-3.0, 4, out, sizeof(out));
    CU_ASSERT_STRING_EQUAL(out, "[....]");
    bar_text(NAN, 4, out, sizeof(out));
    CU_ASSERT_STRING_EQUAL(out, "[....]");
}

static void progress_text(const char *json, int width, char *out, size_t outsz)
{
    json_t *p = json != NULL ? load(json) : NULL;
    ferry_buf b = {0};
    fv_progress(&b, p, width);
    (void)snprintf(out, outsz, "%s", b.p != NULL ? b.p : "(null)");
    ferry_buf_cleanup(&b);
    json_decref(p);
}

static void progress_lines(void)
{
    char out[256];
    progress_text("{\"done\": 0, \"total\": 12, \"unit\": \"tables\"}", 12, out, sizeof(out));
    CU_ASSERT_STRING_EQUAL(out, "[............]   0%  0/12 tables");
    progress_text("{\"done\": 6, \"total\": 12, \"unit\": \"tables\", \"rows\": 0,"
                  " \"detail\": \"copying public.orders\"}",
                  12, out, sizeof(out));
    CU_ASSERT_STRING_EQUAL(out, "[######......]  50%  6/12 tables  copying public.orders");
    progress_text("{\"done\": 12, \"total\": 12, \"unit\": \"tables\", \"rows\": 120345}", 12, out,
                  sizeof(out));
    CU_ASSERT_STRING_EQUAL(out, "[############] 100%  12/12 tables  120,345 rows");
    /* No count: the bytes give the percent. */
    progress_text("{\"done\": 0, \"total\": 0, \"bytes_done\": 1048576, \"bytes_total\": 2097152}",
                  10, out, sizeof(out));
    CU_ASSERT_STRING_EQUAL(out, "[#####.....]  50%  1.0 MiB/2.0 MiB");
    /* Nothing known: an empty bar and "?". */
    progress_text("{\"done\": null, \"total\": null, \"unit\": 3, \"detail\": null}", 4, out,
                  sizeof(out));
    CU_ASSERT_STRING_EQUAL(out, "[....]   ?%");
    progress_text(NULL, 4, out, sizeof(out));
    CU_ASSERT_STRING_EQUAL(out, "[....]   ?%");
    progress_text("[1, 2]", 4, out, sizeof(out));
    CU_ASSERT_STRING_EQUAL(out, "[....]   ?%");
    /* More done than total (a file appeared): capped at 100%. */
    progress_text("{\"done\": 13, \"total\": 12}", 4, out, sizeof(out));
    CU_ASSERT_STRING_EQUAL(out, "[####] 100%  13/12");
}

/* ---- status table ---- */

static void status_table_columns(void)
{
    json_t *migs = two_migrations();
    CU_ASSERT_PTR_NOT_NULL_FATAL(migs);
    ferry_buf b = {0};
    fv_status_table(&b, migs);
    CU_ASSERT_FALSE_FATAL(b.oom);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b.p);
    const char *expected =
        "APP   ENV         SOURCE ID                             TARGET ID                         "
        "    STATE                  FILES     ROWS  LAST DUMP-RESTORE  LAST FILE SYNC  ERROR\n"
        "shop  production  7d7c1a2e-0000-4000-8000-000000000001  "
        "a1b2c3d4-0000-4000-8000-00000000000"
        "2  replicating/file_sync  90.2%  120,345              1m01s              8s  -\n"
        "shop  test        s-1                                   t-1                               "
        "    failed                  0.0%        0                  -           1h02m  dr-1 "
        "unavailable: postgres at db.old:5432 refused the con...\n";
    CU_ASSERT_STRING_EQUAL(b.p, expected);
    CU_ASSERT_FALSE(has_trailing_blank(b.p));
    ferry_buf_cleanup(&b);
    json_decref(migs);
}

static void status_table_edges(void)
{
    ferry_buf b = {0};
    char line[512];
    /* Percent is rounded down; differing source and target environments both show. */
    json_t *migs = load("[{\"app\": \"a\", \"env\": \"acc\", \"state\": \"replicating\","
                        "  \"phase\": \"pause\", \"files\": {\"percent\": 99.96},"
                        "  \"source\": {\"env\": \"acceptance\"}, \"target\": {\"env\": \"acc\"}},"
                        " {\"app\": \"b\", \"state\": \"stopped\", \"target_incomplete\": true},"
                        " null, 7, {\"app\": 5, \"files\": \"x\", \"last\": [], \"rows\": \"9\","
                        "  \"error\": {\"message\": \"boom\\u001b[2J\\nnext\"}}]");
    CU_ASSERT_PTR_NOT_NULL_FATAL(migs);
    fv_status_table(&b, migs);
    CU_ASSERT_FALSE_FATAL(b.oom);
    line_starting(b.p, "a ", line, sizeof(line));
    CU_ASSERT_PTR_NOT_NULL(strstr(line, "acceptance->acc"));
    CU_ASSERT_PTR_NOT_NULL(strstr(line, "replicating/pause"));
    CU_ASSERT_PTR_NOT_NULL(strstr(line, "99.9%"));
    CU_ASSERT_PTR_NULL(strstr(line, "100.0%"));
    line_starting(b.p, "b ", line, sizeof(line));
    CU_ASSERT_PTR_NOT_NULL(strstr(line, "target incomplete"));
    /* null, a number and a mistyped object: rows of "-", and no control character escapes. */
    CU_ASSERT_PTR_NULL(strchr(b.p, '\033'));
    CU_ASSERT_PTR_NOT_NULL(strstr(b.p, "boom [2J next"));
    size_t lines = 0, dashed = 0;
    for (const char *p = b.p; *p != '\0'; p++) {
        lines += *p == '\n';
        dashed += *p == '\n' && strncmp(p + 1, "-    -  ", 8) == 0;
    }
    CU_ASSERT_EQUAL(dashed, 3); /* null, 7 and the object whose app is a number */
    CU_ASSERT_PTR_NULL(strstr(b.p, "null"));
    CU_ASSERT_EQUAL(lines, 6); /* heading + 5 rows */
    ferry_buf_reset(&b);

    json_t *empty = json_array();
    fv_status_table(&b, empty);
    CU_ASSERT_STRING_EQUAL(b.p, "No migrations.\n");
    ferry_buf_reset(&b);
    fv_status_table(&b, NULL);
    CU_ASSERT_STRING_EQUAL(b.p, "No migrations.\n");
    ferry_buf_cleanup(&b);
    json_decref(empty);
    json_decref(migs);
}

/* ---- detail ---- */

static void migration_detail(void)
{
    json_t *m = load(migration_json);
    json_t *failed = load(failed_json);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_PTR_NOT_NULL_FATAL(failed);
    json_object_set_new(m, "steps", json_deep_copy(json_object_get(m, "active_steps")));
    ferry_buf b = {0};
    char line[512];
    fv_migration_detail(&b, m, T0 + 65000);
    CU_ASSERT_FALSE_FATAL(b.oom);
    CU_ASSERT_STRING_EQUAL(line_starting(b.p, "Migration:", line, sizeof(line)),
                           "Migration:          shop.production");
    CU_ASSERT_STRING_EQUAL(line_starting(b.p, "Source:", line, sizeof(line)),
                           "Source:             production  7d7c1a2e-0000-4000-8000-000000000001");
    CU_ASSERT_STRING_EQUAL(line_starting(b.p, "State:", line, sizeof(line)),
                           "State:              replicating/file_sync");
    CU_ASSERT_STRING_EQUAL(line_starting(b.p, "Reached 100%:", line, sizeof(line)),
                           "Reached 100%:       yes");
    CU_ASSERT_STRING_EQUAL(line_starting(b.p, "Files:", line, sizeof(line)),
                           "Files:              90.2%  812/900 files  1.0 MiB/2.0 MiB");
    CU_ASSERT_STRING_EQUAL(line_starting(b.p, "Rows:", line, sizeof(line)),
                           "Rows:               120,345");
    CU_ASSERT_STRING_EQUAL(line_starting(b.p, "Last dump-restore:", line, sizeof(line)),
                           "Last dump-restore:  1m01s at 2026-11-21 22:26:40");
    CU_ASSERT_STRING_EQUAL(line_starting(b.p, "Last file sync:", line, sizeof(line)),
                           "Last file sync:     8s at 2026-11-21 22:28:20");
    CU_ASSERT_STRING_EQUAL(line_starting(b.p, "Error:", line, sizeof(line)),
                           "Error:              -");
    CU_ASSERT_STRING_EQUAL(
        line_starting(b.p, "  dr-3", line, sizeof(line)),
        "  dr-3  dump_restore.copy  [###############...............]  50%  6/12 tables  "
        "120,000 rows  copying public.orders");
    /* The steps table follows, with the running step's time so far. */
    CU_ASSERT_PTR_NOT_NULL(strstr(b.p, "\nSteps:\nMIGRATION "));
    CU_ASSERT_PTR_NOT_NULL(
        strstr(line_starting(b.p, "shop.production  dr-3", line, sizeof(line)), "  1m05s+  -"));
    ferry_buf_reset(&b);

    /* A failed migration: the whole error, its code and time; no steps section. */
    fv_migration_detail(&b, failed, 0);
    CU_ASSERT_STRING_EQUAL(line_starting(b.p, "Error:", line, sizeof(line)),
                           "Error:              dr-1: unavailable: postgres at db.old:5432 refused "
                           "the connection after many attempts, giving up (code 6) at 2026-11-21 "
                           "22:26:40");
    CU_ASSERT_STRING_EQUAL(line_starting(b.p, "Target incomplete:", line, sizeof(line)),
                           "Target incomplete:  yes");
    CU_ASSERT_STRING_EQUAL(line_starting(b.p, "Last dump-restore:", line, sizeof(line)),
                           "Last dump-restore:  -");
    CU_ASSERT_PTR_NULL(strstr(b.p, "Steps:"));
    CU_ASSERT_PTR_NULL(strstr(b.p, "Active steps:"));
    ferry_buf_reset(&b);

    /* Nothing at all: every field "-". */
    fv_migration_detail(&b, NULL, 0);
    CU_ASSERT_STRING_EQUAL(line_starting(b.p, "Rows:", line, sizeof(line)),
                           "Rows:               -");
    CU_ASSERT_FALSE(has_trailing_blank(b.p));
    ferry_buf_cleanup(&b);
    json_decref(m);
    json_decref(failed);
}

/* ---- steps, workers, dead letters, history ---- */

static void steps_table(void)
{
    json_t *steps =
        load("[{\"migration\": \"shop.production\", \"id\": \"dr-3\", \"kind\": \"dump_restore\","
             "  \"operation\": \"copy\", \"state\": \"running\", \"attempt\": 2, \"retries\": 1,"
             "  \"worker\": \"dump_restore@box:4242\", \"started_at\": 1795300000000,"
             "  \"duration_ms\": null, \"error\": null},"
             " {\"migration\": \"shop.production\", \"id\": \"fs-12\", \"kind\": \"file_sync\","
             "  \"operation\": \"pass\", \"state\": \"failed\", \"attempt\": 1, \"retries\": 0,"
             "  \"worker\": null, \"duration_ms\": 62000,"
             "  \"error\": {\"code\": 6, \"name\": \"unavailable\", \"message\": \"s3 did not "
             "answer\"}},"
             " {\"id\": \"x\", \"attempt\": \"2\", \"state\": \"running\", \"started_at\": null}]");
    CU_ASSERT_PTR_NOT_NULL_FATAL(steps);
    ferry_buf b = {0};
    fv_steps_table(&b, steps, T0 + 65000);
    const char *expected = "MIGRATION        STEP   KIND.OP            STATE    ATTEMPT  RETRIES  "
                           "WORKER               "
                           "  DURATION  ERROR\n"
                           "shop.production  dr-3   dump_restore.copy  running        2        1  "
                           "dump_restore@box:4242"
                           "    1m05s+  -\n"
                           "shop.production  fs-12  file_sync.pass     failed         1        0  "
                           "-                    "
                           "     1m02s  unavailable: s3 did not answer\n"
                           "-                x      -.-                running        -        -  "
                           "-                    "
                           "         -  -\n";
    CU_ASSERT_STRING_EQUAL(b.p, expected);
    ferry_buf_reset(&b);
    json_t *empty = json_array();
    fv_steps_table(&b, empty, 0);
    CU_ASSERT_STRING_EQUAL(b.p, "No steps.\n");
    ferry_buf_cleanup(&b);
    json_decref(empty);
    json_decref(steps);
}

static void workers_table(void)
{
    json_t *workers =
        load("[{\"id\": \"dump_restore@box:4242\", \"kind\": \"dump_restore\", \"capacity\": 2,"
             "  \"running\": 1, \"host\": \"box\", \"pid\": 4242, \"age_ms\": 830, \"alive\": true,"
             "  \"steps\": [\"shop.production/dr-3\", \"crm.test/dr-1\"]},"
             " {\"id\": \"dns@box:7\", \"kind\": \"dns\", \"capacity\": 4, \"running\": 0,"
             "  \"age_ms\": 95000, \"alive\": false, \"steps\": []},"
             " {\"id\": \"odd\"}]");
    CU_ASSERT_PTR_NOT_NULL_FATAL(workers);
    ferry_buf b = {0};
    fv_workers_table(&b, workers);
    const char *expected =
        "ID                     KIND          RUNNING/CAPACITY  HEARTBEAT AGE  ALIVE  STEPS\n"
        "dump_restore@box:4242  dump_restore               1/2          830ms  yes    "
        "shop.production/dr-3,crm.test/dr-1\n"
        "dns@box:7              dns                        0/4          1m35s  no     -\n"
        "odd                    -                          -/-              -  -      -\n";
    CU_ASSERT_STRING_EQUAL(b.p, expected);
    ferry_buf_cleanup(&b);
    json_decref(workers);
}

static void dead_letters_and_history(void)
{
    json_t *dls = load("[{\"id\": \"1795300000000-0\", \"topic\": \"ferry.steps.dns\","
                       "  \"partition\": 2, \"offset\": 17, \"key\": \"dns-4\","
                       "  \"reason\": \"cannot decode StepCommand: truncated\","
                       "  \"consumer\": \"ferry.dns/rdkafka-1\", \"at\": 1795300000000,"
                       "  \"size\": 12, \"replayed\": false}]");
    json_t *events = load("[{\"id\": \"1795300000000-0\", \"entity\": \"step:dr-3\","
                          "  \"from\": \"dispatched\", \"to\": \"running\", \"attempt\": 1,"
                          "  \"actor\": \"dump_restore@box:4242\", \"what\": \"claimed\","
                          "  \"at\": 1795300000000},"
                          " {\"entity\": \"migration\", \"from\": null, \"to\": \"new\","
                          "  \"actor\": \"api\", \"what\": \"created\", \"at\": 1795299000000}]");
    CU_ASSERT_PTR_NOT_NULL_FATAL(dls);
    CU_ASSERT_PTR_NOT_NULL_FATAL(events);
    ferry_buf b = {0};
    fv_dead_letters_table(&b, dls);
    CU_ASSERT_STRING_EQUAL(b.p, "ID               AT (UTC)             TOPIC            PARTITION "
                                " OFFSET  KEY    SIZE  REPLAYED  REASON\n"
                                "1795300000000-0  2026-11-21 22:26:40  ferry.steps.dns          2 "
                                "     17  dns-4  12 B  no        cannot decode StepCommand: "
                                "truncated\n");
    ferry_buf_reset(&b);
    fv_history_table(&b, events);
    CU_ASSERT_STRING_EQUAL(b.p,
                           "AT (UTC)             ENTITY     CHANGE                 ATTEMPT  ACTOR  "
                           "                WHAT\n"
                           "2026-11-21 22:26:40  step:dr-3  dispatched -> running        1  "
                           "dump_restore@box:4242  claimed\n"
                           "2026-11-21 22:10:00  migration  new                          -  api    "
                           "                created\n");
    ferry_buf_reset(&b);
    json_t *empty = json_array();
    fv_dead_letters_table(&b, empty);
    fv_history_table(&b, empty);
    fv_workers_table(&b, empty);
    CU_ASSERT_STRING_EQUAL(b.p, "No dead letters.\nNo history.\nNo workers.\n");
    ferry_buf_cleanup(&b);
    json_decref(empty);
    json_decref(dls);
    json_decref(events);
}

/* ---- long text ---- */

static void errors_are_shortened_on_characters(void)
{
    /* 70 two-byte characters: cut to 57 characters and "...", never inside a character. */
    char message[141];
    for (int i = 0; i < 70; i++)
        memcpy(message + 2 * i, "\xc3\xa9", 2);
    message[140] = '\0';
    json_t *steps =
        json_pack("[{s:s, s:{s:s, s:s}}]", "id", "s", "error", "name", "x", "message", message);
    CU_ASSERT_PTR_NOT_NULL_FATAL(steps);
    ferry_buf b = {0};
    fv_steps_table(&b, steps, 0);
    const char *err = strstr(b.p, "x: ");
    CU_ASSERT_PTR_NOT_NULL_FATAL(err);
    /* "x: " + 54 characters + "..." = 60 characters, 3 + 108 + 3 bytes. */
    CU_ASSERT_EQUAL(strlen(err), 3 + 54 * 2 + 3 + 1);
    CU_ASSERT_EQUAL(memcmp(err + strlen(err) - 4, "...\n", 4), 0);
    ferry_buf_cleanup(&b);
    json_decref(steps);
}

/* ---- watch ---- */

static void watch_frame(void)
{
    json_t *migs = two_migrations();
    CU_ASSERT_PTR_NOT_NULL_FATAL(migs);
    ferry_buf b = {0};
    fv_watch_frame(&b, migs, 12);
    CU_ASSERT_STRING_EQUAL(b.p,
                           "shop.production  replicating/file_sync  files 90.2%  rows 120,345\n"
                           "  dr-3  dump_restore.copy  [######......]  50%  6/12 tables  "
                           "120,000 rows  copying public.orders\n"
                           "shop.test        failed                 files 0.0%  rows 0  "
                           "error: dr-1 unavailable: postgres at db.old:5432 refused the "
                           "con...\n");
    ferry_buf_reset(&b);
    fv_watch_frame(&b, NULL, 12);
    CU_ASSERT_STRING_EQUAL(b.p, "No migrations.\n");
    ferry_buf_cleanup(&b);
    json_decref(migs);
}

static bool resting(const char *state, const char *phase)
{
    json_t *m = json_pack("{s:s?, s:s?}", "state", state, "phase", phase);
    bool r = fv_migration_resting(m);
    json_decref(m);
    return r;
}

static void resting_states(void)
{
    CU_ASSERT_TRUE(resting("new", NULL));
    CU_ASSERT_TRUE(resting("stopped", NULL));
    CU_ASSERT_TRUE(resting("migrated", NULL));
    CU_ASSERT_TRUE(resting("rolled_back", NULL));
    CU_ASSERT_TRUE(resting("failed", NULL));
    CU_ASSERT_TRUE(resting("replicating", "pause"));
    CU_ASSERT_FALSE(resting("replicating", "file_sync"));
    CU_ASSERT_FALSE(resting("replicating", NULL));
    CU_ASSERT_FALSE(resting("stopping", NULL));
    CU_ASSERT_FALSE(resting("testing", NULL));
    CU_ASSERT_FALSE(resting("cutover", "rename"));
    CU_ASSERT_FALSE(resting("rolling_back", "stop_source"));
    CU_ASSERT_FALSE(resting(NULL, NULL));
    CU_ASSERT_FALSE(fv_migration_resting(NULL));

    json_t *migs = two_migrations(); /* replicating/file_sync and failed */
    CU_ASSERT_FALSE(fv_migrations_resting(migs));
    json_array_remove(migs, 0);
    CU_ASSERT_TRUE(fv_migrations_resting(migs));
    json_decref(migs);
}

static void buf_write(void)
{
    FILE *f = tmpfile();
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    ferry_err err = {0};
    ferry_buf b = {0};
    ferry_buf_add(&b, "hello\n");
    CU_ASSERT_EQUAL(fv_buf_write(&b, f, &err), FERRY_OK);
    rewind(f);
    char got[16] = "";
    CU_ASSERT_PTR_NOT_NULL(fgets(got, sizeof(got), f));
    CU_ASSERT_STRING_EQUAL(got, "hello\n");
    b.oom = true;
    CU_ASSERT_EQUAL(fv_buf_write(&b, f, &err), FERRY_ERR_NOMEM);
    b.oom = false;
    ferry_buf_cleanup(&b);
    (void)fclose(f);
}

/* ---- session, users, audit trail (docs/console.md); local times, in a fixed zone ---- */

static void set_zone(const char *tz)
{
    CU_ASSERT_EQUAL_FATAL(setenv("TZ", tz, 1), 0);
    tzset();
}

static void local_times(void)
{
    char out[48];
    set_zone("UTC0");
    CU_ASSERT_STRING_EQUAL(fv_time_local(T0, out, sizeof(out)), "2026-11-21T22:26:40+00:00");
    set_zone("CET-1");
    CU_ASSERT_STRING_EQUAL(fv_time_local(T0, out, sizeof(out)), "2026-11-21T23:26:40+01:00");
    set_zone("NST+3:30");
    CU_ASSERT_STRING_EQUAL(fv_time_local(T0, out, sizeof(out)), "2026-11-21T18:56:40-03:30");
    CU_ASSERT_STRING_EQUAL(fv_time_local(0, out, sizeof(out)), "-");
    CU_ASSERT_STRING_EQUAL(fv_time_local(T0, out, 10), "?");
    set_zone("UTC0");
}

static void session_lines(void)
{
    json_t *op =
        load("{\"user\": \"ops-shop\", \"role\": \"operator\", \"apps\": [\"shop\", \"crm\"],"
             " \"via\": \"bearer\", \"expires_at\": 1795300000000}");
    json_t *admin = load("{\"user\": \"admin\", \"role\": \"admin\", \"apps\": [],"
                         " \"via\": \"bearer\", \"expires_at\": null}");
    json_t *lone = load("{\"user\": \"idle\", \"role\": \"operator\", \"via\": \"bearer\"}");
    json_t *odd = load("{\"user\": \"x\\u001b[2J\", \"role\": 5}");
    CU_ASSERT_PTR_NOT_NULL_FATAL(op);
    CU_ASSERT_PTR_NOT_NULL_FATAL(admin);
    CU_ASSERT_PTR_NOT_NULL_FATAL(lone);
    CU_ASSERT_PTR_NOT_NULL_FATAL(odd);
    set_zone("CET-1");
    ferry_buf b = {0};
    fv_session_line(&b, op);
    fv_session_line(&b, admin);
    fv_session_line(&b, lone);
    fv_session_line(&b, odd);
    fv_session_line(&b, NULL);
    CU_ASSERT_STRING_EQUAL(b.p, "ops-shop (operator of shop, crm), via bearer, expires "
                                "2026-11-21T23:26:40+01:00\n"
                                "admin (admin), via bearer\n"
                                "idle (operator of no app), via bearer\n"
                                "x [2J (-), via -\n"
                                "- (-), via -\n");
    ferry_buf_reset(&b);
    json_t *user = load("{\"name\": \"ops-shop\", \"role\": \"operator\", \"apps\": [\"shop\"]}");
    CU_ASSERT_PTR_NOT_NULL_FATAL(user);
    fv_user_brief(&b, user);
    CU_ASSERT_STRING_EQUAL(b.p, "ops-shop (operator of shop)");
    set_zone("UTC0");
    ferry_buf_cleanup(&b);
    json_decref(user);
    json_decref(op);
    json_decref(admin);
    json_decref(lone);
    json_decref(odd);
}

static void users_table(void)
{
    json_t *users =
        load("[{\"name\": \"admin\", \"role\": \"admin\", \"apps\": [], \"expires_at\": null,"
             "  \"source\": \"bootstrap\", \"created_at\": null, \"created_by\": null},"
             " {\"name\": \"ops-shop\", \"role\": \"operator\", \"apps\": [\"shop\", \"crm\"],"
             "  \"expires_at\": 1795300000000, \"source\": \"api\", \"created_at\": 1795299000000,"
             "  \"created_by\": \"admin\"},"
             " {\"name\": \"old\", \"role\": \"viewer\", \"expires_at\": 1795200000000,"
             "  \"source\": \"file\"}]");
    CU_ASSERT_PTR_NOT_NULL_FATAL(users);
    set_zone("UTC0");
    ferry_buf b = {0};
    fv_users_table(&b, users, T0 - 1);
    CU_ASSERT_STRING_EQUAL(b.p,
                           "NAME      ROLE      APPS      SOURCE     EXPIRES                       "
                           "       CREATED BY\n"
                           "admin     admin     -         bootstrap  never                         "
                           "       -\n"
                           "ops-shop  operator  shop,crm  api        2026-11-21T22:26:40+00:00     "
                           "       admin\n"
                           "old       viewer    -         file       2026-11-20T18:40:00+00:00 "
                           "(expired)  -\n");
    CU_ASSERT_FALSE(has_trailing_blank(b.p));
    ferry_buf_reset(&b);
    json_t *empty = json_array();
    fv_users_table(&b, empty, T0);
    CU_ASSERT_STRING_EQUAL(b.p, "No users.\n");
    ferry_buf_cleanup(&b);
    json_decref(empty);
    json_decref(users);
}

static void audit_table(void)
{
    json_t *entries = load(
        "[{\"id\": \"1795300000000-0\", \"at\": 1795300000000, \"user\": \"ops-shop\","
        "  \"role\": \"operator\", \"from\": \"127.0.0.1\", \"method\": \"POST\","
        "  \"path\": \"/v1/apps/shop/replicate\", \"action\": \"replicate\", \"app\": \"shop\","
        "  \"env\": \"production\", \"status\": 202, \"outcome\": \"accepted: shop.production\"},"
        " {\"at\": 1795300001000, \"user\": \"ops-shop\", \"role\": \"operator\","
        "  \"from\": \"10.0.0.7\", \"action\": \"migrate\", \"app\": \"crm\", \"env\": null,"
        "  \"status\": 403,"
        "  \"outcome\": \"forbidden: ops-shop (operator of shop) may not migrate crm at all, "
        "ever\"},"
        " {\"at\": 1795300002000, \"user\": \"-\", \"from\": \"10.0.0.9\", \"action\": \"login\","
        "  \"status\": 401, \"outcome\": \"wrong token\"}]");
    CU_ASSERT_PTR_NOT_NULL_FATAL(entries);
    set_zone("CET-1");
    ferry_buf b = {0};
    fv_audit_table(&b, entries);
    CU_ASSERT_STRING_EQUAL(
        b.p,
        "TIME                       USER      ROLE      FROM       ACTION     APP/ENV          "
        "STATUS  OUTCOME\n"
        "2026-11-21T23:26:40+01:00  ops-shop  operator  127.0.0.1  replicate  shop/production  "
        "   202  accepted: shop.production\n"
        "2026-11-21T23:26:41+01:00  ops-shop  operator  10.0.0.7   migrate    crm              "
        "   403  forbidden: ops-shop (operator of shop) may not migrate cr...\n"
        "2026-11-21T23:26:42+01:00  -         -         10.0.0.9   login      -                "
        "   401  wrong token\n");
    CU_ASSERT_FALSE(has_trailing_blank(b.p));
    ferry_buf_reset(&b);
    json_t *empty = json_array();
    fv_audit_table(&b, empty);
    CU_ASSERT_STRING_EQUAL(b.p, "No audit entries.\n");
    set_zone("UTC0");
    ferry_buf_cleanup(&b);
    json_decref(empty);
    json_decref(entries);
}

static const ferry_test_case cases[] = {
    {"durations", durations},
    {"counts, bytes and times", counts_bytes_times},
    {"bars at 0, 50 and 100 percent", bars},
    {"progress lines", progress_lines},
    {"status table columns", status_table_columns},
    {"status table edges", status_table_edges},
    {"migration detail", migration_detail},
    {"steps table", steps_table},
    {"workers table", workers_table},
    {"dead letters and history", dead_letters_and_history},
    {"errors are shortened on characters", errors_are_shortened_on_characters},
    {"watch frame", watch_frame},
    {"resting states", resting_states},
    {"buffer written to a file", buf_write},
    {"local times", local_times},
    {"session lines", session_lines},
    {"users table", users_table},
    {"audit table", audit_table},
    {NULL, NULL},
};

int main(void)
{
    static const ferry_test_suite suites[] = {{"view", NULL, NULL, cases},
                                              {NULL, NULL, NULL, NULL}};
    return ferry_test_main(suites);
}
