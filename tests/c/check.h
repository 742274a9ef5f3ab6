/* Assertion helpers shared by the C tests: on failure they print file, line,
 * the failing expression, what it returned against what was expected (status
 * names), and the error's message when there is one; then exit(1). */
#ifndef INTERP_TEST_CHECK_H
#define INTERP_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "interp.h"

static inline void check_status_(const char *file, int line, const char *expr, int got, int want,
                                 const interp_error_t *err) {
    if (got == want) return;
    fprintf(stderr, "%s:%d: %s\n  returned %s (%d), expected %s (%d)\n", file, line, expr,
            interp_status_name(got), got, interp_status_name(want), want);
    if (err != NULL) fprintf(stderr, "  error: %s\n", interp_error_message(err));
    exit(1);
}

/* `call` must return `want` (a status). `err` names the error the call fills
 * in (or NULL); it is read after the call, and printed on failure. */
#define EXPECT_STATUS(want, call, err)                                     \
    do {                                                                   \
        int got_ = (call);                                                 \
        check_status_(__FILE__, __LINE__, #call, got_, (want), (err));     \
    } while (0)

/* The call must return INTERP_OK (for calls given no error object). */
#define CHECK(call) EXPECT_STATUS(INTERP_OK, call, NULL)

/* As CHECK, for a call that fills in `err`: its message is printed on failure. */
#define CHECK_E(call, err) EXPECT_STATUS(INTERP_OK, call, err)

#define EXPECT(cond)                                                                     \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond);          \
            exit(1);                                                                     \
        }                                                                                \
    } while (0)

/* Integers `got` and `want` must be equal; prints both otherwise. */
#define EXPECT_EQ(got, want)                                                                  \
    do {                                                                                      \
        long long got_ = (long long)(got), want_ = (long long)(want);                         \
        if (got_ != want_) {                                                                  \
            fprintf(stderr, "%s:%d: %s is %lld, expected %s (%lld)\n", __FILE__, __LINE__, #got, \
                    got_, #want, want_);                                                      \
            exit(1);                                                                          \
        }                                                                                     \
    } while (0)

static inline void check_str_(const char *file, int line, const char *expr, const char *got,
                              const char *want, int whole) {
    if (got != NULL && (whole ? strcmp(got, want) == 0 : strstr(got, want) != NULL)) return;
    fprintf(stderr, "%s:%d: %s is \"%s\", expected %s \"%s\"\n", file, line, expr,
            got ? got : "(NULL)", whole ? "" : "it to contain", want);
    exit(1);
}

/* The string `got` (may be NULL) must equal `want`. */
#define EXPECT_STREQ(got, want) check_str_(__FILE__, __LINE__, #got, (got), (want), 1)

/* The string `got` (may be NULL) must contain `want`. */
#define EXPECT_CONTAINS(got, want) check_str_(__FILE__, __LINE__, #got, (got), (want), 0)

/* --- Statuses and errors with their own error object (runtime_config.c) --- */

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
#define EXPECT_RETURNS(call, want)                                                          \
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
