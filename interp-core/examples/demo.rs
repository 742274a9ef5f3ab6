//! The demo: several isolated interpreters run CPU-bound Python in parallel.
//!
//! Runs the same pure-Python job (counting primes) N times: first one after
//! another in one interpreter, then on N threads with N own-GIL
//! interpreters, then on N threads with N legacy (shared-GIL) interpreters
//! for contrast. Prints the times and the speed-ups.
//!
//! `make demo` (or `cargo run --release -p interp-core --example demo [N]`).

use std::time::{Duration, Instant};

use interp_core::{Interpreter, InterpreterConfig, Runtime, Value};

const JOB: &str = r#"
def count_primes(limit):
    count = 0
    for n in range(2, limit):
        d = 2
        while d * d <= n:
            if n % d == 0:
                break
            d += 1
        else:
            count += 1
    return count
"#;
const LIMIT: i64 = 300_000;

fn run_parallel(interps: &[Interpreter]) -> (Duration, Vec<Value>) {
    let start = Instant::now();
    let results = std::thread::scope(|s| {
        let handles: Vec<_> = interps
            .iter()
            .map(|i| {
                s.spawn(move || {
                    i.call("__main__", "count_primes", &[LIMIT.into()], &[])
                        .unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    (start.elapsed(), results)
}

fn main() -> Result<(), interp_core::Error> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map_or(2, |n| n.get())
                .max(2)
        });
    let rt = Runtime::init()?;
    let (ma, mi, mc) = rt.python_version();
    println!("interp demo: CPython {ma}.{mi}.{mc}, {n} interpreters, count_primes({LIMIT}) each");

    let make = |cfg: InterpreterConfig| -> Result<Vec<Interpreter>, interp_core::Error> {
        (0..n)
            .map(|_| {
                let i = Interpreter::with_config(cfg)?;
                i.exec(JOB)?;
                Ok(i)
            })
            .collect()
    };

    let isolated = make(InterpreterConfig::isolated())?;
    let start = Instant::now();
    let mut serial = Vec::new();
    for _ in 0..n {
        serial.push(isolated[0].call("__main__", "count_primes", &[LIMIT.into()], &[])?);
    }
    let t_serial = start.elapsed();
    println!(
        "  1 interpreter, {n} jobs one after another: {:>8.3} s",
        t_serial.as_secs_f64()
    );

    let (t_par, par) = run_parallel(&isolated);
    assert_eq!(par, serial, "parallel results must equal serial ones");
    println!(
        "  {n} own-GIL interpreters on {n} threads:    {:>8.3} s   speed-up {:.2}x",
        t_par.as_secs_f64(),
        t_serial.as_secs_f64() / t_par.as_secs_f64()
    );
    drop(isolated);

    let legacy = make(InterpreterConfig::legacy())?;
    let (t_leg, leg) = run_parallel(&legacy);
    assert_eq!(leg, serial);
    println!(
        "  {n} shared-GIL interpreters on {n} threads: {:>8.3} s   speed-up {:.2}x  (for contrast)",
        t_leg.as_secs_f64(),
        t_serial.as_secs_f64() / t_leg.as_secs_f64()
    );
    println!(
        "  result: {} primes below {LIMIT} (each job)",
        serial[0].as_i64().unwrap_or(-1)
    );
    Ok(())
}
