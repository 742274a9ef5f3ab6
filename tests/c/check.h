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

/* --- Statuses and errors (runtime_config.c) --- */
#include <string.h>

/* `call`, which passes `&(err)` as its error out-parameter, must return
 * `want`; prints the call, both statuses and the error's message if not.
 * The error stays in `err` for the caller to inspect and free. */
#define EXPECT_ERROR(call, want, err)                                                      \
    do {                                                                                   \
        interp_status_t got_ = (call);                                                     \
        if (got_ != (want)) {                                                              \
            fprintf(stderr, "%s:%d: %s: got %s, expected %s: %s\n", __FILE__, __LINE__,    \
                    #call, interp_status_name(got_), interp_status_name(want),             \
                    interp_error_message(err));                                            \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

/* As EXPECT_ERROR, with the error in `e_` (pass `&e_`), freed afterwards. */
#define EXPECT_STATUS(call, want)                                                          \
    do {                                                                                   \
        interp_error_t *e_ = NULL;                                                         \
        EXPECT_ERROR(call, want, e_);                                                      \
        interp_error_free(e_);                                                             \
    } while (0)

/* The error `err` must be a Python exception of type `type`; prints the
 * type and message it has if not. */
#define EXPECT_TYPE(err, type)                                                             \
    do {                                                                                   \
        const char *t_ = interp_error_type_name(err);                                      \
        if (!t_ || strcmp(t_, (type)) != 0) {                                              \
            fprintf(stderr, "%s:%d: got a %s error, expected %s: %s\n", __FILE__, __LINE__, \
                    t_ ? t_ : "non-Python", (type), interp_error_message(err));            \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

#endif
