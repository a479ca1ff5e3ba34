/*
 * test_metrics.c - the pure parts of /metrics (coordinator/metrics.c): label values escaped as
 * the Prometheus text format wants, and the step duration histogram built from the counters
 * step_finish.lua keeps (cumulative buckets, +Inf equal to the count, sum in seconds).
 */
#include <stdio.h>
#include <string.h>

#include "ferry/buf.h"
#include "ferry/state.h"
#include "ferry_test.h"
#include "metrics.h"

static void test_escape(void)
{
    ferry_buf b = {0};
    metrics_label_escape(&b, "a\\b\"c\nd");
    CU_ASSERT_STRING_EQUAL(b.p, "a\\\\b\\\"c\\nd");
    ferry_buf_reset(&b);
    metrics_label_escape(&b, "shop.production");
    CU_ASSERT_STRING_EQUAL(b.p, "shop.production");
    ferry_buf_reset(&b);
    metrics_label_escape(&b, NULL);
    CU_ASSERT_TRUE(b.p == NULL || b.p[0] == '\0');
    ferry_buf_cleanup(&b);
}

/* Whether text holds line as a whole line. */
static bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = strstr(text, line); p != NULL; p = strstr(p + 1, line)) {
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return true;
    }
    return false;
}

static void test_histogram(void)
{
    /* Three dump_restore copies: 0.8 s, 4 s and 2 h; one failed app step of 20 s; retries. */
    static char kv[][2][48] = {
        {"step:dump_restore:succeeded:count", "3"},
        {"step:dump_restore:succeeded:sum_ms", "7204800"},
        {"step:dump_restore:succeeded:le:1000", "1"},
        {"step:dump_restore:succeeded:le:5000", "1"},
        {"step:dump_restore:succeeded:le:inf", "1"},
        {"step:app:failed:count", "1"},
        {"step:app:failed:sum_ms", "20000"},
        {"step:app:failed:le:60000", "1"},
        {"retry:app", "4"},
        {"retry:newkind", "2"},
        {"something:else", "9"},
    };
    enum { N = sizeof(kv) / sizeof(kv[0]) };
    ferry_store_pair pairs[N];
    for (size_t i = 0; i < N; i++)
        pairs[i] = (ferry_store_pair){kv[i][0], kv[i][1], strlen(kv[i][1])};
    ferry_store_record rec = {N, pairs};
    ferry_buf b = {0};
    metrics_counters_render(&rec, &b);
    CU_ASSERT_FALSE_FATAL(b.oom);
    const char *t = b.p;
    const char *want[] = {
        "# TYPE ferry_step_duration_seconds histogram",
        "ferry_step_duration_seconds_bucket{kind=\"dump_restore\",outcome=\"succeeded\",le=\"1\"} "
        "1",
        "ferry_step_duration_seconds_bucket{kind=\"dump_restore\",outcome=\"succeeded\",le=\"5\"} "
        "2",
        "ferry_step_duration_seconds_bucket{kind=\"dump_restore\",outcome=\"succeeded\",le="
        "\"3600\"} "
        "2",
        "ferry_step_duration_seconds_bucket{kind=\"dump_restore\",outcome=\"succeeded\",le=\"+"
        "Inf\"} "
        "3",
        "ferry_step_duration_seconds_sum{kind=\"dump_restore\",outcome=\"succeeded\"} 7204.800",
        "ferry_step_duration_seconds_count{kind=\"dump_restore\",outcome=\"succeeded\"} 3",
        "ferry_step_duration_seconds_bucket{kind=\"app\",outcome=\"failed\",le=\"15\"} 0",
        "ferry_step_duration_seconds_bucket{kind=\"app\",outcome=\"failed\",le=\"60\"} 1",
        "ferry_step_duration_seconds_bucket{kind=\"app\",outcome=\"failed\",le=\"+Inf\"} 1",
        "ferry_step_duration_seconds_sum{kind=\"app\",outcome=\"failed\"} 20",
        "# TYPE ferry_step_retries_total counter",
        "ferry_step_retries_total{kind=\"app\"} 4",
        "ferry_step_retries_total{kind=\"dump_restore\"} 0",
        "ferry_step_retries_total{kind=\"newkind\"} 2",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        CU_ASSERT_TRUE(has_line(t, want[i]));
        if (!has_line(t, want[i]))
            printf("\n  missing: %s", want[i]);
    }
    /* Series sorted (app before dump_restore), each family's lines together. */
    CU_ASSERT_TRUE(strstr(t, "kind=\"app\",outcome") < strstr(t, "kind=\"dump_restore\",outcome"));
    CU_ASSERT_PTR_NULL(strstr(t, "something"));
    ferry_buf_cleanup(&b);

    /* No counters yet: the families, with zero retries and no histogram series. */
    metrics_counters_render(NULL, &b);
    CU_ASSERT_TRUE(has_line(b.p, "# TYPE ferry_step_duration_seconds histogram"));
    CU_ASSERT_PTR_NULL(strstr(b.p, "_bucket"));
    CU_ASSERT_TRUE(has_line(b.p, "ferry_step_retries_total{kind=\"file_sync\"} 0"));
    ferry_buf_cleanup(&b);
}

static const ferry_test_case cases[] = {
    {"label values escaped", test_escape},
    {"duration histogram and retries from the counters", test_histogram},
    {NULL, NULL},
};

int main(void)
{
    static const ferry_test_suite suites[] = {{"metrics", NULL, NULL, cases}, {NULL}};
    return ferry_test_main(suites);
}
