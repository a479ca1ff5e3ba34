/* ferry_test.c - CUnit runner and integration-test configuration. */
#include "ferry_test.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int ferry_test_main(const ferry_test_suite *suites)
{
    int rc = EXIT_FAILURE;
    if (CU_initialize_registry() != CUE_SUCCESS) {
        fprintf(stderr, "CUnit: %s\n", CU_get_error_msg());
        return EXIT_FAILURE;
    }
    for (const ferry_test_suite *s = suites; s->name != NULL; s++) {
        CU_pSuite suite = CU_add_suite(s->name, s->setup, s->teardown);
        if (suite == NULL)
            goto out;
        for (const ferry_test_case *c = s->cases; c->name != NULL; c++) {
            if (CU_add_test(suite, c->name, c->fn) == NULL)
                goto out;
        }
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    if (CU_basic_run_tests() != CUE_SUCCESS)
        goto out;
    unsigned failed = CU_get_number_of_tests_failed() + CU_get_number_of_suites_failed();
    unsigned ran = CU_get_number_of_tests_run();
    rc = failed == 0 && ran > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
    if (ran == 0)
        fprintf(stderr, "no test ran\n");
out:
    if (CU_get_error() != CUE_SUCCESS)
        fprintf(stderr, "CUnit: %s\n", CU_get_error_msg());
    CU_cleanup_registry();
    return rc;
}

static ferry_cfg *test_cfg;

static void test_cfg_free(void)
{
    ferry_cfg_free(test_cfg);
    test_cfg = NULL;
}

const ferry_cfg *ferry_test_cfg(void)
{
    if (test_cfg != NULL)
        return test_cfg;
    char *problems = NULL;
    ferry_rc rc = ferry_cfg_load(FERRY_COMP_TEST, NULL, NULL, &test_cfg, &problems);
    if (rc != FERRY_OK) {
        fprintf(stderr,
                "integration tests need the local stack's environment "
                "(eval \"$(deploy/local/stack env)\"):\n%s",
                problems ? problems : "out of memory\n");
        free(problems);
        return NULL;
    }
    (void)atexit(test_cfg_free);
    return test_cfg;
}

const char *ferry_test_unique(const char *prefix)
{
    static char buf[8][96];
    static unsigned n;
    char *out = buf[n % 8];
    (void)snprintf(out, sizeof(buf[0]), "%s-%ld-%u", prefix, (long)getpid(), n);
    n++;
    return out;
}
