/* SPDX-License-Identifier: MIT */
/* CHECK(cond, fmt, ...) for the C tests: prints every check, counts the failures in `failures`
 * (the test's exit status reports them). Include once per test program. */
#ifndef CONVME_TESTS_C_CHECK_H
#define CONVME_TESTS_C_CHECK_H

#include <stdio.h>

static int failures;
#define CHECK(cond, ...)                                        \
    do {                                                        \
        if (cond) {                                             \
            printf("  [ ok ] %s\n", #cond);                     \
        } else {                                                \
            printf("  [FAIL] %s (line %d): ", #cond, __LINE__); \
            printf(__VA_ARGS__);                                \
            printf("\n");                                       \
            ++failures;                                         \
        }                                                       \
    } while (0)

#endif
