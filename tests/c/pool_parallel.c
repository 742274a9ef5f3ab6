/* A pool runs a Python function in parallel; results, kwargs, timeouts,
 * cancellation and a completion callback. Prints "ok" on success. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "interp.h"
#include "check.h"


static atomic_int callbacks;
static void on_done(interp_task_t *task, void *user_data) {
    int done = 0;
    interp_task_poll(task, &done, NULL);
    if (done && user_data == (void *)&callbacks) atomic_fetch_add(&callbacks, 1);
}

static double now(void) {
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(void) {
    EXPECT_EQ(interp_abi_version(), INTERP_ABI_VERSION);
    EXPECT_CONTAINS(interp_version(), "CPython 3.");
    interp_pool_options_t opts;
    interp_pool_options_init(&opts);
    opts.workers = 2;
    /* The cancels below must land as clean cancellations. Under load or
     * valgrind that can take a second or more, past the 2 s default; this is
     * only an upper bound, never waited out once the interruption lands. */
    opts.kill_grace_ms = 60000;
    opts.init_source =
        "def count(n, *, step=1):\n"
        "    c = 0\n"
        "    for i in range(0, n, step):\n"
        "        c += i % 7 == 0\n"
        "    return c\n"
        "def spin():\n"
        "    while True:\n"
        "        pass\n";
    interp_pool_t *pool = NULL;
    interp_error_t *err = NULL;
    CHECK_E(interp_pool_new(&opts, &pool, &err), err);

    /* Parallel CPU-bound work: 4 tasks on 2 workers. */
    interp_task_t *tasks[4];
    interp_value_t *n = NULL, *step = NULL;
    /* INTERP_TEST_SMALL shrinks the work (for runs under valgrind). */
    int64_t limit = getenv("INTERP_TEST_SMALL") ? 30000 : 3000000;
    CHECK(interp_value_int64(limit, &n, NULL));
    CHECK(interp_value_int64(1, &step, NULL));
    const interp_value_t *args[] = {n};
    const char *kw_names[] = {"step"};
    const interp_value_t *kw_values[] = {step};
    for (int i = 0; i < 4; i++)
        CHECK(interp_pool_submit(pool, "__main__", "count", args, 1, kw_names, kw_values, 1, 0, &tasks[i], NULL));
    atomic_store(&callbacks, 0);
    CHECK(interp_task_on_complete(tasks[3], on_done, &callbacks, NULL));
    for (int i = 0; i < 4; i++) {
        interp_value_t *r = NULL;
        int64_t c = 0;
        CHECK_E(interp_task_wait(tasks[i], -1, &r, &err), err);
        CHECK(interp_value_as_int64(r, &c, NULL));
        EXPECT_EQ(c, (limit + 6) / 7);
        interp_value_free(r);
    }
    /* The callback ran exactly once (on a worker thread, or at registration). */
    double t0 = now();
    while (atomic_load(&callbacks) == 0 && now() - t0 < 10) {
    }
    EXPECT_EQ(atomic_load(&callbacks), 1);
    /* A callback on a finished task runs right away, on this thread. */
    CHECK(interp_task_on_complete(tasks[0], on_done, &callbacks, NULL));
    EXPECT_EQ(atomic_load(&callbacks), 2);
    for (int i = 0; i < 4; i++) CHECK(interp_task_free(tasks[i]));

    /* Cancellation of running Python code. */
    interp_task_t *spin = NULL;
    CHECK(interp_pool_submit(pool, "__main__", "spin", NULL, 0, NULL, NULL, 0, 0, &spin, NULL));
    EXPECT_STATUS(INTERP_PENDING, interp_task_wait(spin, 0.05, NULL, &err), err);
    interp_error_free(err);
    err = NULL;
    int was_pending = 0;
    CHECK(interp_task_cancel(spin, &was_pending, NULL));
    EXPECT_EQ(was_pending, 1);
    EXPECT_STATUS(INTERP_ERR_CANCELLED, interp_task_wait(spin, 20, NULL, &err), err);
    EXPECT_STATUS(INTERP_ERR_CANCELLED, interp_error_status(err), err);
    interp_error_free(err);
    err = NULL;
    interp_task_free(spin);

    /* A timeout interrupts it too; the worker stays usable. */
    CHECK(interp_pool_submit(pool, "__main__", "spin", NULL, 0, NULL, NULL, 0, 0.05, &spin, NULL));
    EXPECT_STATUS(INTERP_ERR_TIMEOUT, interp_task_wait(spin, 20, NULL, &err), err);
    interp_error_free(err);
    err = NULL;
    interp_task_free(spin);
    interp_task_t *again = NULL;
    interp_value_t *r = NULL;
    CHECK(interp_pool_submit(pool, "__main__", "count", args, 1, NULL, NULL, 0, 0, &again, NULL));
    CHECK_E(interp_task_wait(again, -1, &r, &err), err);
    interp_value_free(r);
    interp_task_free(again);

    interp_value_free(n);
    interp_value_free(step);
    CHECK_E(interp_pool_shutdown(pool, 1, 0, &err), err);
    EXPECT_STATUS(INTERP_ERR_SHUTDOWN,
                  interp_pool_submit(pool, "__main__", "count", args, 0, NULL, NULL, 0, 0, &again, &err), err);
    interp_error_free(err);
    err = NULL;
    CHECK(interp_pool_free(pool));
    CHECK_E(interp_runtime_finalize(&err), err);
    puts("ok");
    return 0;
}
