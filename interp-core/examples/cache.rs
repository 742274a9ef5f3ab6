//! What the materialization cache saves, by size: the time to pass a tuple
//! of ints to a function (`f(x)`, which returns `None`) with the cache off
//! (converted on every call) and on (the second call onwards is a hit), and
//! what the lookups cost values that never hit (a list of many small
//! tuples, none cached, with and without entries in the cache). Medians of
//! several runs, in this thread's CPU time (so that other processes on a
//! busy machine do not count); this is what `CacheConfig::DEFAULT.min_bytes`
//! and `MIN_ITEMS` were chosen from.
//!
//! `cargo run --release -p interp-core --example cache` (`scripts/example.sh cache`).

use interp_core::{CacheConfig, Interpreter, InterpreterConfig, Value};

/// This thread's CPU time, in seconds.
fn cpu() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and a valid out-pointer.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(r, 0, "clock_gettime");
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Median µs per call of `f(v)` over `calls` calls, 5 runs.
fn per_call(i: &Interpreter, v: &Value, calls: usize) -> f64 {
    let args = [v.clone()];
    median(
        (0..5)
            .map(|_| {
                let t = cpu();
                for _ in 0..calls {
                    i.call("__main__", "f", &args, &[]).unwrap();
                }
                (cpu() - t) * 1e6 / calls as f64
            })
            .collect(),
    )
}

fn interp(cache: CacheConfig) -> Interpreter {
    let i = Interpreter::with_config(InterpreterConfig::isolated().cache(cache)).unwrap();
    i.exec("def f(x):\n    pass").unwrap();
    i
}

fn main() {
    let off = interp(CacheConfig::OFF);
    let on = interp(CacheConfig {
        min_bytes: 0,
        ..CacheConfig::DEFAULT
    });
    let default = interp(CacheConfig::DEFAULT);
    println!("passing a tuple of n ints (each above 256: a separate object) to f(x)");
    println!("| n | est. bytes | cache off | cache hit | saved |");
    println!("| --- | --- | --- | --- | --- |");
    for n in [32usize, 64, 128, 256, 512, 2048, 16_900] {
        let v = Value::tuple((0..n as i64).map(|k| Value::Int(1000 + k)));
        let calls = (200_000 / n).clamp(200, 20_000);
        let a = per_call(&off, &v, calls);
        on.call("__main__", "f", std::slice::from_ref(&v), &[])
            .unwrap();
        let b = per_call(&on, &v, calls);
        println!(
            "| {n} | {} | {a:.2} µs | {b:.2} µs | {:.2} µs |",
            48 + 8 * n + 28 * n,
            a - b
        );
    }

    // Values passed once each: the cost of offering them to the cache
    // (measuring, inserting, sweeping the previous one) for nothing.
    println!("\ndistinct values, each passed once (cache off vs on)");
    println!("| value | cache off | cache on | overhead |");
    println!("| --- | --- | --- | --- |");
    let flat = |n: i64| move |r: i64| Value::tuple((0..n).map(|k| Value::Int(1000 + r + k)));
    let grid = |r: i64| {
        Value::tuple(
            (0..130).map(|i| Value::tuple((0..130).map(|j| Value::Bool((i * j + r) % 7 == 0)))),
        )
    };
    type Shape<'a> = (&'a str, Box<dyn Fn(i64) -> Value>, usize);
    let shapes: Vec<Shape> = vec![
        ("tuple of 32 ints", Box::new(flat(32)), 4000),
        ("tuple of 512 ints", Box::new(flat(512)), 2000),
        ("tuple of 2048 ints", Box::new(flat(2048)), 500),
        ("130x130 grid of bools", Box::new(grid), 300),
    ];
    for (name, make, count) in &shapes {
        let values: Vec<Value> = (0..*count as i64).map(make).collect();
        let once = |i: &Interpreter| {
            median(
                (0..5)
                    .map(|_| {
                        let t = cpu();
                        for v in &values {
                            // A fresh copy of the outer tuple: a new allocation.
                            let fresh = Value::tuple(v.as_seq().unwrap().iter().cloned());
                            i.call("__main__", "f", &[fresh], &[]).unwrap();
                        }
                        (cpu() - t) * 1e6 / values.len() as f64
                    })
                    .collect(),
            )
        };
        let (a, b) = (once(&off), once(&default));
        println!(
            "| {name} | {a:.2} µs | {b:.2} µs | {:+.1}% |",
            (b / a - 1.0) * 100.0
        );
    }

    // Lookups that never hit: a list of 20,000 tuples of MIN_ITEMS ints,
    // each looked up (too small to be cached), with an empty cache and with
    // one holding entries.
    let small = Value::list((0..20_000i64).map(|r| {
        Value::tuple((0..interp_core::MIN_ITEMS as i64).map(|k| Value::Int(1000 + r + k)))
    }));
    let big = Value::tuple((0..5000i64).map(|k| Value::Int(1000 + k)));
    let empty = interp(CacheConfig::DEFAULT);
    let holding = interp(CacheConfig::DEFAULT);
    holding
        .call("__main__", "f", std::slice::from_ref(&big), &[])
        .unwrap();
    assert_eq!(holding.cache_stats().entries, 1);
    let a = per_call(&off, &small, 20);
    let b = per_call(&empty, &small, 20);
    let c = per_call(&holding, &small, 20);
    println!(
        "\na list of 20,000 tuples of {} ints (never cached), per call:",
        interp_core::MIN_ITEMS
    );
    println!(
        "cache off {a:.0} µs, on but empty {b:.0} µs ({:+.1}%), on with an entry {c:.0} µs ({:+.1}%)",
        (b / a - 1.0) * 100.0,
        (c / a - 1.0) * 100.0
    );
}
