/* The workers' materialization cache from C: its bounds in the pool options,
 * per-worker statistics (interp_pool_cache_stats). A big tuple passed again
 * to the same worker is found in its cache; the cache turned off finds
 * nothing; values under min_bytes are never kept. Prints "ok" on success. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "interp.h"
#include "check.h"

static void expect_in_(const char *file, int line, const char *expr, unsigned long long got,
                       unsigned long long lo, unsigned long long hi) {
    if (got >= lo && got <= hi) return;
    fprintf(stderr, "%s:%d: %s is %llu, expected %llu..%llu\n", file, line, expr, got, lo, hi);
    exit(1);
}

/* `got` must lie in [lo, hi]; prints it otherwise. */
#define EXPECT_IN(got, lo, hi) expect_in_(__FILE__, __LINE__, #got, (got), (lo), (hi))

#define ITEMS 2000
#define CALLS 8

/* A tuple of ITEMS ints from 1000 (objects of their own in Python: about
 * 40 KB, over the default 16 KiB min_bytes). */
static interp_value_t *big_tuple(void) {
    static interp_value_t *items[ITEMS];
    for (int i = 0; i < ITEMS; i++) CHECK(interp_value_int64(1000 + i, &items[i], NULL));
    interp_value_t *t = NULL;
    CHECK(interp_value_tuple((const interp_value_t *const *)items, ITEMS, &t, NULL));
    for (int i = 0; i < ITEMS; i++) interp_value_free(items[i]);
    return t;
}

/* Starts a pool of `workers` with `cache`, calls total(t) CALLS times with
 * the same tuple, and sums its workers' cache statistics into *sum. */
static void run(size_t workers, interp_cache_config_t cache, const interp_value_t *t,
                interp_cache_stats_t *sum) {
    interp_pool_options_t opts;
    interp_pool_options_init(&opts);
    opts.workers = workers;
    opts.cache = cache;
    opts.init_source = "def total(t):\n    return sum(t)\n";
    interp_pool_t *pool = NULL;
    interp_error_t *err = NULL;
    CHECK_E(interp_pool_new(&opts, &pool, &err), err);
    const interp_value_t *args[] = {t};
    for (int i = 0; i < CALLS; i++) {
        interp_task_t *task = NULL;
        interp_value_t *r = NULL;
        int64_t got = 0;
        CHECK(interp_pool_submit(pool, "__main__", "total", args, 1, NULL, NULL, 0, 0, &task, NULL));
        CHECK_E(interp_task_wait(task, -1, &r, &err), err);
        CHECK(interp_value_as_int64(r, &got, NULL));
        EXPECT_EQ(got, (int64_t)ITEMS * 1000 + (int64_t)ITEMS * (ITEMS - 1) / 2);
        interp_value_free(r);
        interp_task_free(task);
    }

    /* Capacity 0 (out may be NULL): only the count. */
    size_t count = 0;
    CHECK_E(interp_pool_cache_stats(pool, NULL, 0, &count, &err), err);
    EXPECT_EQ(count, workers);
    /* One snapshot per worker; a too-small capacity fills what fits. */
    interp_cache_stats_t stats[4];
    memset(stats, 0xAB, sizeof stats);
    interp_cache_stats_t untouched;
    memset(&untouched, 0xAB, sizeof untouched);
    CHECK_E(interp_pool_cache_stats(pool, stats, workers - 1, &count, &err), err);
    EXPECT_EQ(count, workers);
    EXPECT(memcmp(&stats[workers - 1], &untouched, sizeof untouched) == 0);
    CHECK_E(interp_pool_cache_stats(pool, stats, 4, &count, &err), err);
    EXPECT_EQ(count, workers);
    memset(sum, 0, sizeof *sum);
    for (size_t w = 0; w < count; w++) {
        EXPECT_IN(stats[w].entries, 0, 1);
        EXPECT_IN(stats[w].bytes, 0, cache.max_bytes);
        EXPECT_EQ(stats[w].entries == 0, stats[w].bytes == 0);
        sum->hits += stats[w].hits;
        sum->misses += stats[w].misses;
        sum->inserts += stats[w].inserts;
        sum->evictions += stats[w].evictions;
        sum->entries += stats[w].entries;
        sum->bytes += stats[w].bytes;
    }
    /* Bad arguments are errors that say what was wrong. */
    EXPECT_STATUS(INTERP_ERR_INVALID_ARGUMENT, interp_pool_cache_stats(pool, NULL, 1, &count, &err), err);
    EXPECT_CONTAINS(interp_error_message(err), "capacity");
    interp_error_free(err);
    err = NULL;
    EXPECT_STATUS(INTERP_ERR_INVALID_ARGUMENT, interp_pool_cache_stats(pool, stats, 4, NULL, &err), err);
    interp_error_free(err);
    err = NULL;
    CHECK(interp_pool_free(pool));
    EXPECT_STATUS(INTERP_ERR_INVALID_HANDLE, interp_pool_cache_stats(pool, NULL, 0, &count, &err), err);
    interp_error_free(err);
}

int main(void) {
    interp_value_t *t = big_tuple();
    interp_pool_options_t defaults;
    interp_pool_options_init(&defaults);
    EXPECT_EQ(defaults.cache.max_bytes, (size_t)64 << 20);
    EXPECT_EQ(defaults.cache.max_entries, (size_t)1024);
    EXPECT_EQ(defaults.cache.min_bytes, (size_t)16 << 10);

    /* Defaults, 2 workers: each worker converts the tuple at most once, then
     * finds it in its cache. */
    interp_cache_stats_t sum;
    run(2, defaults.cache, t, &sum);
    EXPECT_EQ(sum.hits + sum.misses, (uint64_t)CALLS);
    EXPECT_IN(sum.misses, 1, 2);
    EXPECT_EQ(sum.inserts, sum.misses);
    EXPECT_EQ(sum.entries, (size_t)sum.inserts);
    EXPECT_IN(sum.bytes, (size_t)ITEMS * 32, (size_t)2 << 20);
    EXPECT_EQ(sum.evictions, (uint64_t)0);

    /* Turned off: nothing looked up, nothing kept. */
    interp_cache_config_t off = defaults.cache;
    off.max_entries = 0;
    run(1, off, t, &sum);
    EXPECT_EQ(sum.hits + sum.misses + sum.inserts, (uint64_t)0);
    EXPECT_EQ(sum.entries, (size_t)0);

    /* Over min_bytes' reach: looked up every time, never kept. */
    interp_cache_config_t picky = defaults.cache;
    picky.min_bytes = SIZE_MAX;
    run(1, picky, t, &sum);
    EXPECT_EQ(sum.misses, (uint64_t)CALLS);
    EXPECT_EQ(sum.hits + sum.inserts, (uint64_t)0);

    interp_value_free(t);
    interp_error_t *err = NULL;
    CHECK_E(interp_runtime_finalize(&err), err);
    puts("ok");
    return 0;
}
