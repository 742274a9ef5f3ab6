/* Runtime options from C: python_path directories (one not UTF-8) make
 * their modules importable by name in isolated and legacy interpreters and
 * in pool workers; bad options are refused; a missing module hints at the
 * option; a keyword given twice is a TypeError; an exception message that
 * is not UTF-8 keeps its text (escaped) and traceback. Prints "ok". Run
 * under valgrind too. */
#define _XOPEN_SOURCE 700 /* mkdtemp */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h> /* mkdir */
#include "interp.h"
#include "check.h"

/* `v` must be the int `want`; prints what it is if not. Frees `v`. */
#define EXPECT_INT(v, want) expect_int((v), (want), __LINE__)
static void expect_int(interp_value_t *v, int64_t want, int line) {
    int64_t n = 0;
    CHECK(interp_value_as_int64(v, &n, NULL));
    CHECK(interp_value_free(v));
    if (n != want) {
        fprintf(stderr, "%s:%d: got %lld, expected %lld\n", __FILE__, line, (long long)n,
                (long long)want);
        exit(1);
    }
}

/* Runs `source` in `in`, which must raise; returns the error. */
static interp_error_t *python_error(interp_interpreter_t *in, const char *source) {
    interp_error_t *err = NULL;
    EXPECT_ERROR(interp_interpreter_exec(in, source, &err), INTERP_ERR_PYTHON, err);
    return err;
}

/* Writes `text` to `dir`/`name`. */
static void write_file(const char *dir, const char *name, const char *text) {
    char path[700];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    EXPECT(f != NULL);
    fputs(text, f);
    EXPECT(fclose(f) == 0);
}

int main(void) {
    const char *tmp = getenv("TMPDIR");
    char dir[512];
    snprintf(dir, sizeof dir, "%s/interp-runtime-config-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    EXPECT(mkdtemp(dir) != NULL);
    write_file(dir, "pp_c_xyz.py",
               "def add(a, b):\n    return a + b\ndef kw(**kw):\n    return len(kw)\n");
    /* A directory whose name is not UTF-8: passed as the bytes it is. */
    char odd[600];
    snprintf(odd, sizeof odd, "%s/dir-\xff", dir);
    EXPECT(mkdir(odd, 0700) == 0);
    write_file(odd, "pp_c_odd_xyz.py", "NAME = 'odd'\n");

    interp_runtime_config_t *cfg = NULL;
    CHECK(interp_runtime_config_new(&cfg, NULL));
    /* Bad options: clear errors, nothing started. */
    EXPECT_RETURNS(interp_runtime_config_add_python_path(cfg, NULL, &e_), INTERP_ERR_INVALID_ARGUMENT);
    EXPECT_RETURNS(interp_runtime_config_add_python_path(NULL, dir, &e_), INTERP_ERR_INVALID_HANDLE);
    EXPECT_RETURNS(interp_runtime_config_new(NULL, &e_), INTERP_ERR_INVALID_ARGUMENT);
    interp_runtime_config_t *empty = NULL;
    CHECK(interp_runtime_config_new(&empty, NULL));
    CHECK(interp_runtime_config_add_python_path(empty, "", NULL));
    interp_error_t *err = NULL;
    EXPECT_ERROR(interp_runtime_init_with(empty, &err), INTERP_ERR_INVALID_ARGUMENT, err);
    if (!strstr(interp_error_message(err), "python_path")) {
        fprintf(stderr, "the error does not name the option: %s\n", interp_error_message(err));
        return 1;
    }
    interp_error_free(err);
    CHECK(interp_runtime_config_free(empty));

    CHECK(interp_runtime_config_add_python_path(cfg, dir, NULL));
    CHECK(interp_runtime_config_add_python_path(cfg, odd, NULL));
    CHECK(interp_runtime_init_with(cfg, NULL));
    /* The same options again, or none (NULL: whatever runs): fine. Other
     * options, even an explicit default config: refused, not silently
     * ignored. */
    CHECK(interp_runtime_init_with(cfg, NULL));
    CHECK(interp_runtime_init_with(NULL, NULL));
    CHECK(interp_runtime_init(NULL));
    interp_runtime_config_t *other = NULL;
    CHECK(interp_runtime_config_new(&other, NULL));
    EXPECT_RETURNS(interp_runtime_init_with(other, &e_), INTERP_ERR_RUNTIME);
    CHECK(interp_runtime_config_add_python_path(other, "/elsewhere", NULL));
    EXPECT_RETURNS(interp_runtime_init_with(other, &e_), INTERP_ERR_RUNTIME);
    CHECK(interp_runtime_config_free(other));
    CHECK(interp_runtime_config_free(cfg));
    EXPECT_RETURNS(interp_runtime_config_free(cfg), INTERP_ERR_INVALID_HANDLE);
    CHECK(interp_runtime_config_free(NULL));

    /* The modules import by name in isolated and legacy interpreters. */
    interp_value_t *two = NULL, *three = NULL;
    CHECK(interp_value_int64(2, &two, NULL));
    CHECK(interp_value_int64(3, &three, NULL));
    const interp_value_t *args[] = {two, three};
    for (int isolated = 0; isolated < 2; isolated++) {
        interp_interpreter_t *in = NULL;
        interp_value_t *r = NULL;
        CHECK(interp_interpreter_new(isolated, &in, NULL));
        CHECK(interp_interpreter_call(in, "pp_c_xyz", "add", args, 2, &r, NULL));
        EXPECT_INT(r, 5);
        EXPECT_RETURNS(interp_interpreter_exec(
                          in, "import pp_c_odd_xyz\nassert pp_c_odd_xyz.NAME == 'odd'\n", &e_),
                      INTERP_OK);
        CHECK(interp_interpreter_free(in));
    }

    /* ... and in pool workers. */
    interp_pool_options_t opts;
    interp_pool_options_init(&opts);
    opts.workers = 1;
    interp_pool_t *pool = NULL;
    CHECK(interp_pool_new(&opts, &pool, NULL));
    interp_task_t *t = NULL;
    interp_value_t *r = NULL;
    CHECK(interp_pool_submit(pool, "pp_c_xyz", "add", args, 2, NULL, NULL, 0, 0, &t, NULL));
    CHECK(interp_task_wait(t, -1, &r, NULL));
    EXPECT_INT(r, 5);
    CHECK(interp_task_free(t));

    /* A module that is not found: the error says which option fixes it. */
    CHECK(interp_pool_submit(pool, "not_on_the_path_xyz", "f", NULL, 0, NULL, NULL, 0, 0, &t, NULL));
    EXPECT_ERROR(interp_task_wait(t, -1, NULL, &err), INTERP_ERR_PYTHON, err);
    EXPECT_TYPE(err, "ModuleNotFoundError");
    if (!strstr(interp_error_message(err), "interp_runtime_config_add_python_path")) {
        fprintf(stderr, "no python_path hint: %s\n", interp_error_message(err));
        return 1;
    }
    interp_error_free(err);
    CHECK(interp_task_free(t));

    /* A keyword given twice: Python's TypeError, naming the keyword. */
    const char *kw_names[] = {"x", "y", "x"};
    const interp_value_t *kw_values[] = {two, three, two};
    CHECK(interp_pool_submit(pool, "pp_c_xyz", "kw", NULL, 0, kw_names, kw_values, 3, 0, &t, NULL));
    EXPECT_ERROR(interp_task_wait(t, -1, NULL, &err), INTERP_ERR_PYTHON, err);
    EXPECT_TYPE(err, "TypeError");
    if (strcmp(interp_error_message(err),
               "TypeError: pp_c_xyz.kw() got multiple values for keyword argument 'x'") != 0) {
        fprintf(stderr, "unexpected message: %s\n", interp_error_message(err));
        return 1;
    }
    interp_error_free(err);
    CHECK(interp_task_free(t));
    CHECK(interp_pool_submit(pool, "pp_c_xyz", "kw", NULL, 0, kw_names, kw_values, 2, 0, &t, NULL));
    CHECK(interp_task_wait(t, -1, &r, NULL));
    EXPECT_INT(r, 2);
    CHECK(interp_task_free(t));
    CHECK(interp_pool_free(pool));

    /* A message with a lone surrogate keeps its text (escaped) and frames. */
    interp_interpreter_t *in = NULL;
    CHECK(interp_interpreter_new(1, &in, NULL));
    err = python_error(in, "def f():\n    raise ValueError('bad \\udcff')\nf()\n");
    if (strcmp(interp_error_message(err), "ValueError: bad \\udcff") != 0 ||
        !strstr(interp_error_traceback(err), ", in f\n")) {
        fprintf(stderr, "lost: %s\n%s\n", interp_error_message(err), interp_error_traceback(err));
        return 1;
    }
    interp_error_free(err);

    /* Clean up the directory (and the bytecode cache Python wrote there). */
    interp_value_t *path = NULL;
    CHECK(interp_value_str(dir, strlen(dir), &path, NULL));
    const interp_value_t *rm_args[] = {path};
    CHECK(interp_interpreter_call(in, "shutil", "rmtree", rm_args, 1, &r, NULL));
    CHECK(interp_value_free(r));
    CHECK(interp_value_free(path));
    CHECK(interp_interpreter_free(in));
    CHECK(interp_value_free(two));
    CHECK(interp_value_free(three));
    CHECK(interp_runtime_finalize(NULL));
    puts("ok");
    return 0;
}
