/* Runs a CPU-bound Python function on 4 inputs across a pool of isolated
 * interpreters, in parallel. Build: see the README ("C and C++"). */
#include <stdio.h>
#include "interp.h"

static int check(interp_status_t st, interp_error_t *err) {
    if (st == INTERP_OK) return 0;
    fprintf(stderr, "%s: %s\n%s", interp_status_name(st), interp_error_message(err),
            interp_error_traceback(err) ? interp_error_traceback(err) : "");
    interp_error_free(err);
    return 1;
}

int main(void) {
    interp_error_t *err = NULL;
    interp_pool_options_t opts;
    interp_pool_options_init(&opts);
    opts.init_source = "def work(n):\n    return sum(i * i for i in range(n))\n";
    interp_pool_t *pool = NULL;
    if (check(interp_pool_new(&opts, &pool, &err), err)) return 1;
    interp_task_t *tasks[4];
    for (int i = 0; i < 4; i++) {
        interp_value_t *n = NULL;
        interp_value_int64(2000000 + i, &n, NULL);
        const interp_value_t *args[] = {n};
        if (check(interp_pool_submit(pool, "__main__", "work", args, 1, NULL, NULL, 0, 0, &tasks[i], &err), err)) return 1;
        interp_value_free(n);
    }
    for (int i = 0; i < 4; i++) {
        interp_value_t *r = NULL;
        if (check(interp_task_wait(tasks[i], -1, &r, &err), err)) return 1;
        char *text = NULL;
        interp_value_int_to_decimal(r, &text, NULL);
        printf("work(%d) = %s\n", 2000000 + i, text);
        interp_string_free(text);
        interp_value_free(r);
        interp_task_free(tasks[i]);
    }
    return check(interp_pool_free(pool), NULL);
}
