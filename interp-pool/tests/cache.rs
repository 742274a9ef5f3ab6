//! The workers' materialization caches: a grid passed per call is built
//! once per worker, the same object as the one `prepare_main` handed over,
//! and `stats()` shows each worker's cache.

use interp_core::{CacheConfig, InterpreterConfig, Value};
use interp_pool::{Call, Pool};

fn grid() -> Value {
    Value::tuple((0..100).map(|r| Value::tuple((0..100).map(|c| Value::Int(1000 + r * 100 + c)))))
}

#[test]
fn a_grid_passed_per_call_is_the_object_prepare_main_handed_over() {
    let g = grid();
    let pool = Pool::builder()
        .workers(1)
        .prepare_main("GRID", g.clone())
        .init_source("def is_grid(g):\n    return g is GRID")
        .build()
        .unwrap();
    for _ in 0..3 {
        let r = pool
            .submit(Call::new("__main__", "is_grid").arg(g.clone()))
            .unwrap();
        assert_eq!(r.wait().unwrap(), Value::Bool(true));
    }
    let w = &pool.stats().workers[0];
    assert_eq!((w.cache.hits, w.cache.entries), (3, 1), "{w:?}");
    assert!(w.cache.bytes > 100 * 100 * 28, "{w:?}");
}

#[test]
fn stats_show_each_workers_cache_and_its_configuration_applies() {
    let g = grid();
    let pool = Pool::builder()
        .workers(2)
        .init_source("def n(g):\n    return len(g)")
        .build()
        .unwrap();
    let results: Vec<_> = (0..40)
        .map(|_| {
            pool.submit(Call::new("__main__", "n").arg(g.clone()))
                .unwrap()
        })
        .collect();
    for r in results {
        assert_eq!(r.wait().unwrap(), Value::Int(100));
    }
    let stats = pool.stats();
    let (hits, misses): (u64, u64) = stats
        .workers
        .iter()
        .fold((0, 0), |(h, m), w| (h + w.cache.hits, m + w.cache.misses));
    // Each worker that ran a task built the grid once.
    let ran = stats.workers.iter().filter(|w| w.tasks > 0).count() as u64;
    assert_eq!((hits + misses, misses), (40, ran), "{stats:?}");

    let off = Pool::builder()
        .workers(1)
        .interpreter_config(InterpreterConfig::isolated().cache(CacheConfig::OFF))
        .init_source("def n(g):\n    return len(g)")
        .build()
        .unwrap();
    for _ in 0..3 {
        off.submit(Call::new("__main__", "n").arg(g.clone()))
            .unwrap()
            .wait()
            .unwrap();
    }
    assert_eq!(
        off.stats().workers[0].cache,
        interp_core::CacheStats::default()
    );
}
