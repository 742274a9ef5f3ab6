/* An event-loop pool (interp_pool_new_event_loop) runs coroutines submitted
 * with interp_pool_submit_async: many at once per worker loop, a raising
 * coroutine, cancellation inside the loop, and refusals. Prints "ok". */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "interp.h"
#include "check.h"

static double now(void) {
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Submits `fn` with no arguments and returns its int result. */
static int64_t run_int(interp_pool_t *pool, const char *fn) {
    interp_task_t *t = NULL;
    interp_value_t *r = NULL;
    interp_error_t *err = NULL;
    int64_t v = -1;
    CHECK(interp_pool_submit_async(pool, "__main__", fn, NULL, 0, NULL, NULL, 0, 0, &t, NULL));
    CHECK_E(interp_task_wait(t, -1, &r, &err), err);
    CHECK(interp_value_as_int64(r, &v, NULL));
    interp_value_free(r);
    interp_task_free(t);
    return v;
}

int main(void) {
    interp_error_t *err = NULL;
    interp_pool_options_t opts;
    interp_pool_options_init(&opts);
    opts.workers = 1;
    opts.kill_grace_ms = 60000; /* an upper bound only (valgrind) */
    opts.init_source =
        "import asyncio\n"
        "started = 0\n"
        "saw_cancel = 0\n"
        "async def later(x, delay):\n"
        "    await asyncio.sleep(delay)\n"
        "    return x\n"
        "async def boom():\n"
        "    await asyncio.sleep(0)\n"
        "    raise ValueError('bad coroutine')\n"
        "async def wait_cancel():\n"
        "    global started, saw_cancel\n"
        "    started += 1\n"
        "    try:\n"
        "        await asyncio.sleep(3600)\n"
        "    except asyncio.CancelledError:\n"
        "        saw_cancel += 1\n"
        "        raise\n"
        "async def get_started():\n"
        "    return started\n"
        "async def get_saw_cancel():\n"
        "    return saw_cancel\n";

    /* childconcurrency 0 is refused. */
    interp_pool_t *pool = NULL;
    EXPECT_STATUS(INTERP_ERR_INVALID_ARGUMENT, interp_pool_new_event_loop(&opts, 0, &pool, &err), err);
    EXPECT_CONTAINS(interp_error_message(err), "childconcurrency");
    interp_error_free(err);
    err = NULL;

    CHECK_E(interp_pool_new_event_loop(&opts, 1000, &pool, &err), err);

    /* Many sleeping coroutines at once in one worker's loop. */
    int n = getenv("INTERP_TEST_SMALL") ? 100 : 1000;
    double delay = 0.2;
    interp_task_t **tasks = calloc((size_t)n, sizeof *tasks);
    EXPECT(tasks != NULL);
    interp_value_t *d = NULL;
    CHECK(interp_value_double(delay, &d, NULL));
    double t0 = now();
    for (int i = 0; i < n; i++) {
        interp_value_t *x = NULL;
        CHECK(interp_value_int64(i, &x, NULL));
        const interp_value_t *args[] = {x, d};
        CHECK(interp_pool_submit_async(pool, "__main__", "later", args, 2, NULL, NULL, 0, 0, &tasks[i], NULL));
        interp_value_free(x);
    }
    for (int i = 0; i < n; i++) {
        interp_value_t *r = NULL;
        int64_t v = -1;
        CHECK_E(interp_task_wait(tasks[i], -1, &r, &err), err);
        CHECK(interp_value_as_int64(r, &v, NULL));
        EXPECT_EQ(v, i);
        interp_value_free(r);
        interp_task_free(tasks[i]);
    }
    /* Run one after another they would take n * delay (200 s); at once,
     * about delay. The bound is far from both, for a loaded machine. */
    if (!getenv("INTERP_TEST_SMALL")) EXPECT(now() - t0 < n * delay / 10);
    free(tasks);
    interp_value_free(d);

    /* A raising coroutine: the Python error, with its type. */
    interp_task_t *t = NULL;
    CHECK(interp_pool_submit_async(pool, "__main__", "boom", NULL, 0, NULL, NULL, 0, 0, &t, NULL));
    EXPECT_STATUS(INTERP_ERR_PYTHON, interp_task_wait(t, -1, NULL, &err), err);
    EXPECT_STREQ(interp_error_type_name(err), "ValueError");
    EXPECT_CONTAINS(interp_error_message(err), "bad coroutine");
    EXPECT_CONTAINS(interp_error_traceback(err), "in boom");
    interp_error_free(err);
    err = NULL;
    interp_task_free(t);

    /* Cancelling the task cancels the coroutine inside the loop. */
    CHECK(interp_pool_submit_async(pool, "__main__", "wait_cancel", NULL, 0, NULL, NULL, 0, 0, &t, NULL));
    double waited = now();
    while (run_int(pool, "get_started") == 0) EXPECT(now() - waited < 60);
    int was_pending = 0;
    CHECK(interp_task_cancel(t, &was_pending, NULL));
    EXPECT_EQ(was_pending, 1);
    EXPECT_STATUS(INTERP_ERR_CANCELLED, interp_task_wait(t, 60, NULL, &err), err);
    interp_error_free(err);
    err = NULL;
    interp_task_free(t);
    EXPECT_EQ(run_int(pool, "get_saw_cancel"), 1);

    /* A timeout cancels it the same way. */
    CHECK(interp_pool_submit_async(pool, "__main__", "wait_cancel", NULL, 0, NULL, NULL, 0, 0.05, &t, NULL));
    EXPECT_STATUS(INTERP_ERR_TIMEOUT, interp_task_wait(t, 60, NULL, &err), err);
    interp_error_free(err);
    err = NULL;
    interp_task_free(t);

    CHECK_E(interp_pool_shutdown(pool, 1, 0, &err), err);
    CHECK(interp_pool_free(pool));

    /* A pool without event loops refuses coroutine calls. */
    CHECK_E(interp_pool_new(&opts, &pool, &err), err);
    EXPECT_STATUS(INTERP_ERR_INVALID_ARGUMENT,
                  interp_pool_submit_async(pool, "__main__", "boom", NULL, 0, NULL, NULL, 0, 0, &t, &err), err);
    EXPECT_CONTAINS(interp_error_message(err), "event_loop");
    interp_error_free(err);
    err = NULL;
    CHECK(interp_pool_free(pool));
    CHECK_E(interp_runtime_finalize(&err), err);
    puts("ok");
    return 0;
}
