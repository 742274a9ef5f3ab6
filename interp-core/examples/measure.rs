//! Core figures: interpreter creation, call round trips, idle RSS.
//!
//! `make measure` (or `cargo run --release -p interp-core --example measure`).
//! Prints medians over several repetitions; run on a quiet machine.

use std::time::{Duration, Instant};

use interp_core::{Interpreter, Runtime, Value};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

fn main() -> Result<(), interp_core::Error> {
    let rt = Runtime::init()?;
    let (ma, mi, mc) = rt.python_version();
    println!("interp-core figures on CPython {ma}.{mi}.{mc} (medians)");

    // Creating (and closing) one isolated interpreter.
    let _warm = Interpreter::new()?;
    let mut create = Vec::new();
    let mut close = Vec::new();
    for _ in 0..30 {
        let t = Instant::now();
        let i = Interpreter::new()?;
        create.push(t.elapsed());
        let t = Instant::now();
        i.close();
        close.push(t.elapsed());
    }
    println!(
        "  create one isolated interpreter:        {:>9.1} µs",
        median(create).as_secs_f64() * 1e6
    );
    println!(
        "  close one isolated interpreter:         {:>9.1} µs",
        median(close).as_secs_f64() * 1e6
    );

    // call round trips.
    let i = Interpreter::new()?;
    i.exec("def f(x):\n    return x")?;
    let rounds = 200_000u32;
    let mut outside = Vec::new();
    let mut inside = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        for n in 0..rounds {
            let r = i.call("__main__", "f", &[Value::Int(n as i64)], &[])?;
            debug_assert_eq!(r, Value::Int(n as i64));
        }
        outside.push(t.elapsed() / rounds);
        let t = Instant::now();
        i.enter(|py| -> Result<(), interp_core::Error> {
            let f = py.lookup("__main__", "f")?;
            for n in 0..rounds {
                let r = f.call_values(&[Value::Int(n as i64)], &[])?.to_value()?;
                debug_assert_eq!(r, Value::Int(n as i64));
            }
            Ok(())
        })?;
        inside.push(t.elapsed() / rounds);
    }
    println!(
        "  Interpreter::call f(x)=x (enter+lookup+call+convert+leave): {:>6.0} ns",
        median(outside).as_secs_f64() * 1e9
    );
    println!(
        "  call f(x)=x on an entered interpreter (Value in, Value out): {:>5.0} ns",
        median(inside).as_secs_f64() * 1e9
    );

    // RSS per idle interpreter.
    let before = rss_kib();
    let many: Vec<Interpreter> = (0..50)
        .map(|_| Interpreter::new())
        .collect::<Result<_, _>>()?;
    let after = rss_kib();
    println!(
        "  RSS per idle isolated interpreter:      {:>9.0} KiB (50 interpreters)",
        (after - before) as f64 / 50.0
    );
    drop(many);
    Ok(())
}
