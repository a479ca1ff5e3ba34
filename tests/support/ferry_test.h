/*
 * ferry_test.h - the small harness every CUnit test binary shares.
 *
 * A test file lists its suites in a ferry_test_suite array and calls ferry_test_main() from
 * main(). Integration tests take their endpoints and credentials from the same FERRY_*
 * environment the binaries read (deploy/local/stack env): a missing setting or a service that
 * does not answer is a failure, never a skip.
 */
#ifndef FERRY_TEST_H
#define FERRY_TEST_H

#include <CUnit/CUnit.h>

#include "ferry/config.h"

typedef struct ferry_test_case {
    const char *name;
    void (*fn)(void);
} ferry_test_case;

typedef struct ferry_test_suite {
    const char *name;
    int (*setup)(void);           /* may be NULL; non-zero fails every test of the suite */
    int (*teardown)(void);        /* may be NULL */
    const ferry_test_case *cases; /* terminated by {NULL, NULL} */
} ferry_test_suite;

/* Runs the suites (array terminated by {NULL}); returns the process exit code. */
int ferry_test_main(const ferry_test_suite *suites);

/* The configuration for integration tests (component FERRY_COMP_TEST), loaded once.
 * Returns NULL after printing every problem when the environment is incomplete. */
const ferry_cfg *ferry_test_cfg(void);

/* A name unique to this run ("<prefix>-<pid>-<n>"), for topics, buckets, zones and keys. */
const char *ferry_test_unique(const char *prefix);

#endif
