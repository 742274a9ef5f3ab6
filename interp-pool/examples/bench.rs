//! Pool micro-benchmark: submit+wait round trip, tiny-task throughput via
//! `submit` and via `map`, pool start-up to first result — next to CPython
//! 3.14's `InterpreterPoolExecutor` and `ThreadPoolExecutor`, measured in the
//! same run on the same machine.
//!
//! `make bench-pool` (or `cargo run --release -p interp-pool --example bench [workers]`).
//! Prints medians of several runs; run it on a quiet machine.

use std::time::{Duration, Instant};

use interp_core::{Interpreter, Value};
use interp_pool::{Call, Pool};

const RUNS: usize = 5;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Tasks per second of `run`, which computes `f(i)` (the identity) for
/// `i` in `0..n` and returns the sum: the median of [`RUNS`] runs.
fn throughput(
    n: i64,
    mut run: impl FnMut() -> Result<i64, Box<dyn std::error::Error>>,
) -> Result<f64, Box<dyn std::error::Error>> {
    let mut thr = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        let sum = run()?;
        thr.push(n as f64 / t.elapsed().as_secs_f64());
        assert_eq!(sum, n * (n - 1) / 2);
    }
    Ok(median(thr))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let workers: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2);
    let init = "def f(x):\n    return x\n";
    println!("interp-pool bench: {workers} workers, f(x) = x, medians of {RUNS} runs");

    // Start-up: one interpreter vs a pool to its first result.
    let _warm = Interpreter::new()?;
    let mut one = Vec::new();
    let mut first = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        let i = Interpreter::new()?;
        one.push(t.elapsed().as_secs_f64() * 1e3);
        drop(i);
        let t = Instant::now();
        let pool = Pool::builder().workers(workers).init_source(init).build()?;
        pool.submit(Call::new("__main__", "f").arg(1))?.wait()?;
        first.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let (one, first) = (median(one), median(first));
    println!("  create one interpreter:               {one:>9.2} ms");
    println!(
        "  pool start-up to first result:        {first:>9.2} ms  ({:.2}x one interpreter)",
        first / one
    );

    let pool = Pool::builder().workers(workers).init_source(init).build()?;
    let call = Call::new("__main__", "f");

    // Round trip.
    let mut rts = Vec::new();
    for _ in 0..RUNS {
        let mut v = Vec::with_capacity(20_000);
        for i in 0..20_000i64 {
            let t = Instant::now();
            let r = pool.submit(call.clone().arg(i))?.wait()?;
            v.push(t.elapsed().as_secs_f64() * 1e6);
            debug_assert_eq!(r, Value::Int(i));
        }
        rts.push(median(v));
    }
    let rt = median(rts);
    println!("  submit+wait round trip:               {rt:>9.2} µs");

    // Throughput via submit.
    let n = 100_000i64;
    let submit_tps = throughput(n, || {
        let tasks: Vec<_> = (0..n)
            .map(|i| pool.submit(call.clone().arg(i)))
            .collect::<Result<_, _>>()?;
        let mut sum = 0i64;
        for task in &tasks {
            sum += task.wait()?.as_i64().unwrap();
        }
        Ok(sum)
    })?;
    println!(
        "  throughput via submit (100k tasks):   {:>9.0} tasks/s",
        submit_tps
    );

    // Throughput via map.
    let m = 1_000_000i64;
    let map_tps = throughput(m, || {
        let mut sum = 0i64;
        for r in pool
            .map(call.clone(), (0..m).map(Value::Int))
            .chunk_size(4096)
        {
            sum += r?.as_i64().unwrap();
        }
        Ok(sum)
    })?;
    println!(
        "  throughput via map (1M inputs):       {:>9.0} tasks/s",
        map_tps
    );
    drop(pool);

    // CPython's executors, same machine, same run.
    let script = format!(
        r#"
import time, statistics
from concurrent.futures import InterpreterPoolExecutor, ThreadPoolExecutor
def f(x):
    return x
W = {workers}
for name, cls, n in (("InterpreterPoolExecutor", InterpreterPoolExecutor, 20000), ("ThreadPoolExecutor", ThreadPoolExecutor, 100000)):
    with cls(W) as ex:
        ex.submit(f, 0).result()
        thr, rts = [], []
        for _ in range(3):
            t = time.perf_counter()
            futs = [ex.submit(f, i) for i in range(n)]
            s = sum(x.result() for x in futs)
            thr.append(n / (time.perf_counter() - t))
            v = []
            for i in range(2000):
                t = time.perf_counter(); ex.submit(f, i).result(); v.append(time.perf_counter() - t)
            rts.append(statistics.median(v) * 1e6)
        print(name, statistics.median(thr), statistics.median(rts))
"#
    );
    let dir = std::env::temp_dir().join(format!("interp-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("stdlib_bench.py");
    std::fs::write(&path, script)?;
    let out = std::process::Command::new(interp_core::sys::PYTHON_EXECUTABLE)
        .arg(&path)
        .current_dir(&dir)
        .output();
    let _ = std::fs::remove_dir_all(&dir);
    let mut ipe = None;
    match out {
        Ok(o) if o.status.success() => {
            for line in String::from_utf8_lossy(&o.stdout).lines() {
                let parts: Vec<&str> = line.split_whitespace().collect();
                if let [name, tps, rt] = parts[..] {
                    let (tps, rt): (f64, f64) = (tps.parse()?, rt.parse()?);
                    println!("  {name:<24} {tps:>9.0} tasks/s via submit, {rt:>7.1} µs round trip");
                    if name == "InterpreterPoolExecutor" {
                        ipe = Some((tps, rt));
                    }
                }
            }
        }
        Ok(o) => println!(
            "  stdlib executors: failed: {}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => println!("  stdlib executors: not run ({e})"),
    }
    if let Some((tps, ipe_rt)) = ipe {
        println!(
            "  vs InterpreterPoolExecutor: submit throughput {:.0}x, map throughput {:.0}x, round trip {:.0}x faster",
            submit_tps / tps,
            map_tps / tps,
            ipe_rt / rt
        );
    }
    let _ = Duration::ZERO;
    Ok(())
}
