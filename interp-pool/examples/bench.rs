//! Pool micro-benchmark: submit+wait round trip, tiny-task throughput via
//! `submit` and via `map`, pool start-up to first result, RSS per idle
//! worker — next to CPython 3.14's `InterpreterPoolExecutor` and
//! `ThreadPoolExecutor`, measured in the same run on the same machine.
//!
//! `make bench-pool` (or `cargo run --release -p interp-pool --example bench -- [workers] [--json] [--runs N] [--quick]`).
//! Prints medians of several runs; run it on a quiet machine. `--json`
//! prints one JSON object with every run's figure instead (no stdlib
//! comparison): `make bench` (interp-python/bench/bench.py) reads it for
//! interp's native rows. `--quick` makes a tenth of the calls.

use std::time::Instant;

use interp_core::{Interpreter, Value};
use interp_pool::{Call, Pool};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// The process's resident set size in KiB (`VmRSS`), 0 where unknown.
fn rss_kib() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0.0)
}

/// Tasks per second of `run`, which computes `f(i)` (the identity) for
/// `i` in `0..n` and returns the sum: one figure per run.
fn throughput(
    runs: usize,
    n: i64,
    mut run: impl FnMut() -> Result<i64, Box<dyn std::error::Error>>,
) -> Result<Vec<f64>, Box<dyn std::error::Error>> {
    let mut thr = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let sum = run()?;
        thr.push(n as f64 / t.elapsed().as_secs_f64());
        assert_eq!(sum, n * (n - 1) / 2);
    }
    Ok(thr)
}

/// `[a, b, c]` for the JSON output.
fn json_list(v: &[f64]) -> String {
    let items: Vec<String> = v.iter().map(|x| format!("{x:.6}")).collect();
    format!("[{}]", items.join(", "))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json = args.iter().any(|a| a == "--json");
    let quick = args.iter().any(|a| a == "--quick");
    let runs: usize = match args.iter().position(|a| a == "--runs") {
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .filter(|&n| n > 0)
            .ok_or("--runs needs a positive number")?,
        None => 5,
    };
    let workers: usize = args
        .iter()
        .find_map(|a| a.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(2);
    let scale = if quick { 10 } else { 1 };
    let init = "def f(x):\n    return x\n";
    if !json {
        println!("interp-pool bench: {workers} workers, f(x) = x, medians of {runs} runs");
    }

    // Start-up: one interpreter vs a pool to its first result.
    let _warm = Interpreter::new()?;
    let mut one = Vec::new();
    let mut first = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let i = Interpreter::new()?;
        one.push(t.elapsed().as_secs_f64() * 1e3);
        drop(i);
        let t = Instant::now();
        let pool = Pool::builder().workers(workers).init_source(init).build()?;
        pool.submit(Call::new("__main__", "f").arg(1))?.wait()?;
        first.push(t.elapsed().as_secs_f64() * 1e3);
    }
    if !json {
        let (one, first) = (median(one.clone()), median(first.clone()));
        println!("  create one interpreter:               {one:>9.2} ms");
        println!(
            "  pool start-up to first result:        {first:>9.2} ms  ({:.2}x one interpreter)",
            first / one
        );
    }

    // RSS per idle worker: a pool of IDLE workers that each ran one task.
    const IDLE: usize = 8;
    let mut rss = Vec::new();
    for _ in 0..runs {
        let before = rss_kib();
        let pool = Pool::builder().workers(IDLE).init_source(init).build()?;
        let tasks: Vec<_> = (0..4 * IDLE as i64)
            .map(|i| pool.submit(Call::new("__main__", "f").arg(i)))
            .collect::<Result<_, _>>()?;
        for t in &tasks {
            t.wait()?;
        }
        rss.push((rss_kib() - before) / 1024.0 / IDLE as f64);
    }
    if !json {
        println!(
            "  RSS per idle worker ({IDLE} workers):     {:>9.2} MiB",
            median(rss.clone())
        );
    }

    let pool = Pool::builder().workers(workers).init_source(init).build()?;
    let call = Call::new("__main__", "f");

    // Round trip.
    let mut rts = Vec::new();
    let rt_n = 20_000 / scale as i64;
    for _ in 0..runs {
        let mut v = Vec::with_capacity(rt_n as usize);
        for i in 0..rt_n {
            let t = Instant::now();
            let r = pool.submit(call.clone().arg(i))?.wait()?;
            v.push(t.elapsed().as_secs_f64() * 1e6);
            debug_assert_eq!(r, Value::Int(i));
        }
        rts.push(median(v));
    }
    // Throughput via submit.
    let n = 100_000 / scale as i64;
    let submit = throughput(runs, n, || {
        let tasks: Vec<_> = (0..n)
            .map(|i| pool.submit(call.clone().arg(i)))
            .collect::<Result<_, _>>()?;
        let mut sum = 0i64;
        for task in &tasks {
            sum += task.wait()?.as_i64().unwrap();
        }
        Ok(sum)
    })?;

    // Throughput via map.
    let m = 1_000_000 / scale as i64;
    let map = throughput(runs, m, || {
        let mut sum = 0i64;
        for r in pool
            .map(call.clone(), (0..m).map(Value::Int))
            .chunk_size(4096)
        {
            sum += r?.as_i64().unwrap();
        }
        Ok(sum)
    })?;
    drop(pool);
    if json {
        println!(
            "{{\"workers\": {workers}, \"runs\": {runs}, \"calls\": {{\"round_trip\": {rt_n}, \"submit\": {n}, \"map\": {m}}}, \
             \"map_chunk_size\": 4096, \"idle_workers\": {IDLE}, \"create_one_interpreter_ms\": {}, \
             \"startup_to_first_result_ms\": {}, \"rss_per_idle_worker_mib\": {}, \"round_trip_us\": {}, \
             \"submit_per_s\": {}, \"map_per_s\": {}}}",
            json_list(&one),
            json_list(&first),
            json_list(&rss),
            json_list(&rts),
            json_list(&submit),
            json_list(&map)
        );
        return Ok(());
    }
    let (rt, submit_tps, map_tps) = (median(rts), median(submit), median(map));
    println!("  submit+wait round trip:               {rt:>9.2} µs");
    println!("  throughput via submit ({n} tasks):   {submit_tps:>9.0} tasks/s");
    println!("  throughput via map ({m} inputs):     {map_tps:>9.0} tasks/s");

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
    Ok(())
}
