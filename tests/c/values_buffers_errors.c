/* Values round-trip through Python, a zero-copy buffer made in C is read and
 * written by Python, channels carry values both ways, Python errors keep
 * their traceback, and bad input (NULL, invalid UTF-8, freed or foreign
 * handles, double free) gives errors, not crashes. Prints "ok". Run under
 * valgrind too. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "interp.h"
#include "check.h"


static int released;
static void release(void *user_data) {
    free(user_data);
    released++;
}

static interp_value_t *echo(interp_interpreter_t *in, const interp_value_t *v) {
    interp_value_t *r = NULL;
    const interp_value_t *args[] = {v};
    CHECK(interp_interpreter_call(in, "__main__", "echo", args, 1, &r, NULL));
    return r;
}

int main(void) {
    interp_interpreter_t *in = NULL;
    CHECK(interp_interpreter_new(1, &in, NULL));
    CHECK(interp_interpreter_exec(in,
        "def echo(x):\n    return x\n"
        "def describe(x):\n    return type(x).__name__\n"
        "def fill(buf):\n    mv = memoryview(buf)\n    old = mv[1, 2]\n    mv[1, 2] = old * 10\n    return (mv.shape, mv.format, old)\n"
        "def fail(msg):\n    raise ValueError(msg)\n", NULL));

    /* Scalars and containers round-trip exactly. */
    interp_value_t *items[7];
    CHECK(interp_value_none(&items[0], NULL));
    CHECK(interp_value_bool(1, &items[1], NULL));
    CHECK(interp_value_int64(-42, &items[2], NULL));
    CHECK(interp_value_int_from_decimal("-123456789012345678901234567890", &items[3], NULL));
    CHECK(interp_value_double(2.5, &items[4], NULL));
    CHECK(interp_value_str("h\xc3\xa9llo \xf0\x9f\x98\x80", 11, &items[5], NULL));
    CHECK(interp_value_bytes("a\0b", 3, &items[6], NULL));
    interp_value_t *tuple = NULL, *list = NULL, *dict = NULL;
    CHECK(interp_value_tuple((const interp_value_t *const *)items, 7, &tuple, NULL));
    CHECK(interp_value_list((const interp_value_t *const *)items, 3, &list, NULL));
    const interp_value_t *keys[] = {items[5], items[2]};
    const interp_value_t *vals[] = {tuple, list};
    CHECK(interp_value_dict(keys, vals, 2, &dict, NULL));
    interp_value_t *back = echo(in, dict);
    int equal = 0;
    CHECK(interp_value_equal(back, dict, &equal, NULL));
    EXPECT_EQ(equal, 1);
    interp_kind_t kind;
    CHECK(interp_value_kind(back, &kind, NULL));
    EXPECT_EQ(kind, INTERP_DICT);
    interp_value_t *k = NULL, *v = NULL;
    CHECK(interp_value_dict_item(back, 0, &k, &v, NULL));
    const char *text = NULL;
    size_t len = 0;
    CHECK(interp_value_as_str(k, &text, &len, NULL));
    EXPECT(len == 11 && memcmp(text, "h\xc3\xa9llo \xf0\x9f\x98\x80", 11) == 0);
    interp_value_t *big = NULL;
    CHECK(interp_value_item(v, 3, &big, NULL));
    char *dec = NULL;
    CHECK(interp_value_int_to_decimal(big, &dec, NULL));
    EXPECT_STREQ(dec, "-123456789012345678901234567890");
    interp_string_free(dec);
    int64_t n = 0;
    EXPECT_STATUS(INTERP_ERR_CONVERSION, interp_value_as_int64(big, &n, NULL), NULL);
    interp_value_t *neg = NULL;
    CHECK(interp_value_item(v, 2, &neg, NULL));
    CHECK(interp_value_as_int64(neg, &n, NULL));
    EXPECT_EQ(n, -42);
    interp_value_free(neg);
    interp_value_free(big);
    interp_value_free(k);
    interp_value_free(v);
    interp_value_free(back);

    /* A zero-copy 2x3 buffer of doubles owned by C. */
    double *grid = malloc(6 * sizeof(double));
    for (int i = 0; i < 6; i++) grid[i] = i;
    size_t shape[] = {2, 3};
    interp_value_t *buf = NULL;
    CHECK(interp_value_buffer_wrap(grid, 6 * sizeof(double), "d", shape, 2, 0, release, grid, &buf, NULL));
    const interp_value_t *bargs[] = {buf};
    interp_value_t *info = NULL;
    CHECK(interp_interpreter_call(in, "__main__", "fill", bargs, 1, &info, NULL));
    EXPECT(grid[5] == 50.0); /* written by Python, read here: same memory */
    interp_value_t *old = NULL;
    CHECK(interp_value_item(info, 2, &old, NULL));
    double x = 0;
    CHECK(interp_value_as_double(old, &x, NULL));
    EXPECT(x == 5.0);
    interp_value_free(old);
    interp_value_free(info);
    void *data = NULL;
    CHECK(interp_value_buffer_data(buf, &data, &len, NULL));
    EXPECT(data == grid && len == 48);
    EXPECT_STATUS(INTERP_ERR_INVALID_ARGUMENT, interp_value_buffer_wrap(grid, 48, "d", shape, 1, 0, release, grid, &info, NULL), NULL);
    EXPECT_EQ(released, 0);
    interp_value_free(buf);
    EXPECT_EQ(released, 1); /* the last reference is gone: released exactly once */

    /* Channels: C -> Python -> C. */
    interp_channel_t *ch = NULL;
    interp_value_t *chv = NULL, *got = NULL;
    CHECK(interp_channel_new(1, 4, &ch, NULL));
    CHECK(interp_channel_value(ch, &chv, NULL));
    const interp_value_t *cargs[] = {chv};
    interp_value_t *ignored = NULL;
    CHECK(interp_interpreter_exec(in, "def relay(c):\n    c.send(('from python', c.recv()))\n", NULL));
    CHECK(interp_channel_send(ch, items[4], 1.0, NULL));
    CHECK(interp_interpreter_call(in, "__main__", "relay", cargs, 1, &ignored, NULL));
    CHECK(interp_channel_recv(ch, 1.0, &got, NULL));
    CHECK(interp_value_len(got, &len, NULL));
    EXPECT_EQ(len, 2);
    interp_error_t *err = NULL;
    EXPECT_STATUS(INTERP_PENDING, interp_channel_recv(ch, 0, &got, &err), err);
    interp_error_free(err);
    CHECK(interp_channel_close(ch, NULL));
    EXPECT_STATUS(INTERP_ERR_CLOSED, interp_channel_recv(ch, -1, &ignored, NULL), NULL);
    interp_value_free(got);
    interp_value_free(chv);
    interp_channel_free(ch);

    /* A Python error keeps type, message and traceback. */
    const interp_value_t *fargs[] = {items[5]};
    interp_value_t *none = NULL;
    EXPECT_STATUS(INTERP_ERR_PYTHON, interp_interpreter_call(in, "__main__", "fail", fargs, 1, &none, &err), err);
    EXPECT_STREQ(interp_error_type_name(err), "ValueError");
    EXPECT_CONTAINS(interp_error_message(err), "ValueError: h");
    EXPECT_CONTAINS(interp_error_traceback(err), "in fail");
    interp_error_free(err);
    EXPECT_STATUS(INTERP_ERR_PYTHON, interp_interpreter_exec(in, "def broken(:\n", &err), err);
    EXPECT_STREQ(interp_error_type_name(err), "SyntaxError");
    interp_error_free(err);

    /* Bad input: clear errors, no crashes. */
    EXPECT_STATUS(INTERP_ERR_INVALID_ARGUMENT, interp_value_str("\xff\xfe", 2, &none, &err), err);
    EXPECT_CONTAINS(interp_error_message(err), "UTF-8");
    interp_error_free(err);
    EXPECT_STATUS(INTERP_ERR_INVALID_ARGUMENT, interp_interpreter_exec(in, "\xff = 1", NULL), NULL);
    EXPECT_STATUS(INTERP_ERR_INVALID_ARGUMENT, interp_value_none(NULL, NULL), NULL);
    EXPECT_STATUS(INTERP_ERR_INVALID_HANDLE, interp_interpreter_exec(NULL, "1", NULL), NULL);
    EXPECT_STATUS(INTERP_ERR_INVALID_ARGUMENT, interp_interpreter_exec(in, NULL, NULL), NULL);
    int local = 7;
    EXPECT_STATUS(INTERP_ERR_INVALID_HANDLE, interp_value_kind((interp_value_t *)&local, &kind, &err), err);
    EXPECT_CONTAINS(interp_error_message(err), "not an interp_value_t handle");
    interp_error_free(err);
    EXPECT_STATUS(INTERP_ERR_INVALID_HANDLE, interp_pool_free((interp_pool_t *)items[0]), NULL); /* wrong type */
    interp_value_t *gone = NULL;
    CHECK(interp_value_int64(1, &gone, NULL));
    CHECK(interp_value_free(gone));
    EXPECT_STATUS(INTERP_ERR_INVALID_HANDLE, interp_value_kind(gone, &kind, NULL), NULL); /* use after free */
    EXPECT_STATUS(INTERP_ERR_INVALID_HANDLE, interp_value_free(gone), NULL);              /* double free */
    EXPECT_STATUS(INTERP_ERR_INVALID_HANDLE, interp_error_free((interp_error_t *)&local), NULL);
    EXPECT_STATUS(INTERP_ERR_INVALID_ARGUMENT, interp_value_item(tuple, 99, &none, NULL), NULL);
    EXPECT_STATUS(INTERP_ERR_INVALID_ARGUMENT, interp_value_tuple(NULL, 2, &none, NULL), NULL);
    EXPECT_STREQ(interp_status_name(12345), "unknown status");

    /* Big ints: minimal two's complement bytes both ways (linear, no
     * limit); decimal text has a documented digit limit; a NULL
     * out-parameter is refused before the string is made (no leak). */
    size_t nle = 0;
    CHECK(interp_value_int_to_bytes(items[3], NULL, 0, &nle, NULL));
    EXPECT(nle == 13); /* -123456789012345678901234567890 needs 98 bits */
    unsigned char le[13];
    CHECK(interp_value_int_to_bytes(items[3], le, sizeof le, &nle, NULL));
    EXPECT(le[12] & 0x80); /* negative */
    /* A buffer too small is an error, not a silent success: nothing is
     * written, and *len still says the size needed. */
    unsigned char small[4] = {0xAA, 0xAA, 0xAA, 0xAA};
    nle = 0;
    EXPECT_STATUS(INTERP_ERR_INVALID_ARGUMENT,
                  interp_value_int_to_bytes(items[3], small, sizeof small, &nle, &err), err);
    EXPECT_CONTAINS(interp_error_message(err), "buffer too small: the int needs 13 bytes, `cap` is 4");
    interp_error_free(err);
    EXPECT_EQ(nle, 13);
    EXPECT(small[0] == 0xAA && small[1] == 0xAA && small[2] == 0xAA && small[3] == 0xAA);
    EXPECT_STREQ(interp_status_name(INTERP_ERR_OUT_OF_MEMORY), "INTERP_ERR_OUT_OF_MEMORY");
    interp_value_t *from_le = NULL;
    CHECK(interp_value_int_from_bytes(le, nle, 1, &from_le, NULL));
    CHECK(interp_value_equal(from_le, items[3], &equal, NULL));
    EXPECT(equal == 1);
    interp_value_free(from_le);
    EXPECT(interp_value_int_to_decimal(items[3], NULL, &err) == INTERP_ERR_INVALID_ARGUMENT);
    EXPECT(strstr(interp_error_message(err), "`text`") != NULL);
    interp_error_free(err);
    char *too_long = malloc(INTERP_INT_MAX_DIGITS + 2);
    memset(too_long, '9', INTERP_INT_MAX_DIGITS + 1);
    too_long[INTERP_INT_MAX_DIGITS + 1] = '\0';
    EXPECT(interp_value_int_from_decimal(too_long, &none, &err) == INTERP_ERR_INVALID_ARGUMENT);
    EXPECT(strstr(interp_error_message(err), "INTERP_INT_MAX_DIGITS") != NULL);
    interp_error_free(err);
    free(too_long);

    /* A dimension above PTRDIFF_MAX cannot be shown to Python (it saw
     * shape (0, -1)): refused even when another dimension is 0. */
    size_t zero_huge[] = {0, (size_t)PTRDIFF_MAX + 1};
    int released_earlier = released;
    EXPECT(interp_value_buffer_wrap(NULL, 0, "B", zero_huge, 2, 0, release, NULL, &none, &err) == INTERP_ERR_INVALID_ARGUMENT);
    EXPECT(strstr(interp_error_message(err), "dimension 1 is") != NULL);
    interp_error_free(err);
    EXPECT(released == released_earlier);

    /* A bad layout never takes ownership: release does not run. */
    size_t deep_shape[65];
    for (int i = 0; i < 65; i++) deep_shape[i] = 1;
    char *one = malloc(1);
    int released_before = released;
    EXPECT_STATUS(INTERP_ERR_INVALID_ARGUMENT, interp_value_buffer_wrap(one, 1, "B", deep_shape, 65, 0, release, one, &none, NULL), NULL);
    EXPECT_EQ(released, released_before);
    free(one);
    /* Huge requests are errors, not aborts: memory that cannot be had is
     * its own status, a size no allocation can have an invalid argument. */
    EXPECT_STATUS(INTERP_ERR_OUT_OF_MEMORY, interp_value_buffer_new((size_t)1 << 62, &none, &err), err);
    EXPECT_CONTAINS(interp_error_message(err), "out of memory: could not allocate 4398046511104.0 MiB");
    interp_error_free(err);
    EXPECT_STATUS(INTERP_ERR_INVALID_ARGUMENT, interp_value_buffer_new((size_t)-1, &none, NULL), NULL);
    interp_channel_t *huge = NULL;
    EXPECT_STATUS(INTERP_ERR_INVALID_ARGUMENT, interp_channel_new(1, (size_t)-1, &huge, NULL), NULL);
    /* Nesting is bounded (deeper values could not be freed safely). */
    interp_value_t *nest = NULL;
    CHECK(interp_value_none(&nest, NULL));
    int level = 0;
    for (;; level++) {
        const interp_value_t *one_item[] = {nest};
        interp_value_t *outer = NULL;
        interp_status_t st = interp_value_tuple(one_item, 1, &outer, NULL);
        if (st != INTERP_OK) {
            EXPECT_STATUS(INTERP_ERR_INVALID_ARGUMENT, st, NULL);
            break;
        }
        interp_value_free(nest);
        nest = outer;
    }
    EXPECT_EQ(level, 200);
    interp_value_free(nest);
    /* Shared structure: 2**100 paths, 100 distinct tuples, linear work. */
    interp_value_t *dag = NULL;
    CHECK(interp_value_int64(7, &dag, NULL));
    for (int i = 0; i < 100; i++) {
        const interp_value_t *pair[] = {dag, dag};
        interp_value_t *outer = NULL;
        CHECK(interp_value_tuple(pair, 2, &outer, NULL));
        interp_value_free(dag);
        dag = outer;
    }
    CHECK(interp_value_equal(dag, dag, &equal, NULL));
    EXPECT_EQ(equal, 1);
    interp_value_t *dag_back = echo(in, dag);
    CHECK(interp_value_kind(dag_back, &kind, NULL));
    EXPECT_EQ(kind, INTERP_TUPLE);
    interp_value_free(dag_back);
    interp_value_free(dag);

    for (int i = 0; i < 7; i++) CHECK(interp_value_free(items[i]));
    CHECK(interp_value_free(tuple));
    CHECK(interp_value_free(list));
    CHECK(interp_value_free(dict));
    EXPECT_STATUS(INTERP_ERR_RUNTIME, interp_runtime_finalize(&err), err); /* an interpreter is open */
    interp_error_free(err);
    CHECK(interp_interpreter_free(in));
    CHECK(interp_runtime_finalize(NULL));
    puts("ok");
    return 0;
}
