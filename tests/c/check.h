/* Assertion helpers shared by the C tests: fail loudly with file and line. */
#ifndef INTERP_TEST_CHECK_H
#define INTERP_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include "interp.h"

/* The call must return INTERP_OK. */
#define CHECK(call)                                                                      \
    do {                                                                                 \
        interp_status_t st_ = (call);                                                    \
        if (st_ != INTERP_OK) {                                                          \
            fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, interp_status_name(st_)); \
            exit(1);                                                                     \
        }                                                                                \
    } while (0)

#define EXPECT(cond)                                                                     \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond);          \
            exit(1);                                                                     \
        }                                                                                \
    } while (0)

#endif
