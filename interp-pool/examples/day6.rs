//! Day-6 benchmark from Rust: the blog's grid passed per call, four ways,
//! next to the grid handed over once (`prepare_main`) and a serial loop in
//! one interpreter, with the materialization cache on and off — one run,
//! medians of several interleaved repetitions.
//!
//! `cargo run --release -p interp-pool --example day6 -- [--candidates N] [--reps N] [--workers N]`
//! (`scripts/example.sh -p interp-pool day6 ...`). The grid is the one
//! `interp-python/bench/day6.py` generates (seed 2024, 130x130, a path of
//! about 5,000 cells), made by that generator inside an interpreter; the
//! work is `interp-python/bench/day6_work.py`.
//!
//! Variants (each rep builds the pool, maps every candidate, drops the pool):
//!
//! - `serial`: one interpreter, a Python loop over the candidates;
//! - `tuple per call`: `map(solve_candidate, (start, node, grid))`, the grid
//!   a plain tuple `Value` in every item (the blog's naive code);
//! - `tuple per call, cache off`: the same with `CacheConfig::OFF` (before);
//! - `Frozen per call`: the grid a `Frozen` in every item;
//! - `SharedBuffer per call`: the grid as `size * size` bytes (1 for an
//!   obstacle) in a `SharedBuffer`, a memoryview in the worker, in every
//!   item (`day6_work.solve_buffer`, as `interp-python/bench/day6.py`'s
//!   memoryview variants);
//! - `prepare_main`: the grid handed over once per worker, `solve_node(node)`.
//!
//! Then element access `grid[r][c]`: a native tuple vs a `Frozen` grid
//! arrived in the interpreter vs the `interp.Frozen` proxy `freeze` returns,
//! timed in the reading thread's CPU time (`time.thread_time`).

use std::time::Instant;

use interp_core::{
    CacheConfig, Frozen, Interpreter, InterpreterConfig, Runtime, RuntimeConfig, SharedBuffer,
    Value,
};
use interp_pool::{Call, Pool};

/// CPU time used by the whole process so far (all threads, ended ones
/// included), in seconds.
fn process_cpu() -> f64 {
    // SAFETY: `ru` is a valid out-pointer; RUSAGE_SELF is a valid target.
    let ru = unsafe {
        let mut ru = std::mem::zeroed::<libc::rusage>();
        assert_eq!(libc::getrusage(libc::RUSAGE_SELF, &mut ru), 0, "getrusage");
        ru
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    secs(ru.ru_utime) + secs(ru.ru_stime)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} needs a number"))
        })
        .unwrap_or(default)
}

struct Problem {
    start: Value,
    grid: Value,
    nodes: Vec<Value>,
}

fn pool(workers: usize, cache: CacheConfig) -> Pool {
    Pool::builder()
        .workers(workers)
        .interpreter_config(InterpreterConfig::isolated().cache(cache))
        .init_source("import day6_work")
        .build()
        .expect("pool")
}

fn count(results: impl Iterator<Item = Result<Value, interp_pool::TaskError>>) -> i64 {
    results
        .map(|r| r.expect("task") == Value::Bool(true))
        .filter(|&hit| hit)
        .count() as i64
}

const CHUNK: usize = 16;

fn per_call(p: &Problem, workers: usize, grid: &Value, cache: CacheConfig) -> i64 {
    let pool = pool(workers, cache);
    let items = p
        .nodes
        .iter()
        .map(|n| Value::tuple([p.start.clone(), n.clone(), grid.clone()]));
    let loops = count(
        pool.map(Call::new("day6_work", "solve_candidate"), items)
            .chunk_size(CHUNK),
    );
    if std::env::var_os("DAY6_CACHE_STATS").is_some() {
        for w in pool.stats().workers {
            eprintln!(
                "  worker {}: {} tasks, cache {:?}",
                w.index, w.tasks, w.cache
            );
        }
    }
    loops
}

/// Unpacks one `(start, node, buffer, size)` item for `solve_buffer` (the
/// map appends its input as the last argument; `solve_buffer` takes four)
/// and views the `interp.SharedBuffer` as a memoryview (no copy).
const BUFFER_CANDIDATE: &str = "import day6_work\n\
def solve_buffer_candidate(candidate):\n    \
start, node, view, size = candidate\n    \
return day6_work.solve_buffer(start, node, memoryview(view), size)";

fn buffer_per_call(p: &Problem, workers: usize, buffer: &Value) -> i64 {
    let pool = Pool::builder()
        .workers(workers)
        .init_source(BUFFER_CANDIDATE)
        .build()
        .expect("pool");
    let size = Value::Int(p.grid.as_seq().expect("grid").len() as i64);
    let items = p
        .nodes
        .iter()
        .map(|n| Value::tuple([p.start.clone(), n.clone(), buffer.clone(), size.clone()]));
    count(
        pool.map(Call::new("__main__", "solve_buffer_candidate"), items)
            .chunk_size(CHUNK),
    )
}

fn prepared(p: &Problem, workers: usize) -> i64 {
    let pool = Pool::builder()
        .workers(workers)
        .prepare_main("GRID", p.grid.clone())
        .prepare_main("START", p.start.clone())
        .init_call(Call::new("day6_work", "use_main"))
        .build()
        .expect("pool");
    count(
        pool.map(
            Call::new("day6_work", "solve_node"),
            p.nodes.iter().cloned(),
        )
        .chunk_size(CHUNK),
    )
}

fn serial(p: &Problem) -> i64 {
    let i = Interpreter::new().expect("interpreter");
    i.prepare_main([
        ("grid", p.grid.clone()),
        ("start", p.start.clone()),
        ("nodes", Value::tuple(p.nodes.iter().cloned())),
    ])
    .expect("prepare");
    i.exec("import day6_work").expect("import");
    i.eval("sum(1 for n in nodes if day6_work.solve(start, n, grid))")
        .expect("serial")
        .as_i64()
        .expect("int")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let candidates = arg("--candidates", 1500);
    let reps = arg("--reps", 3);
    let workers = arg("--workers", 2);
    let bench = concat!(env!("CARGO_MANIFEST_DIR"), "/../interp-python/bench");
    Runtime::init_with(RuntimeConfig::new().python_path(bench))?;

    let t = Instant::now();
    let gen = Interpreter::new()?;
    gen.exec("import day6\nstart, grid, path = day6.generate(2024)")?;
    let start = gen.eval("start")?;
    let grid = gen.eval("grid")?;
    let path = gen.eval("path")?;
    drop(gen);
    let nodes: Vec<Value> = path.as_seq().expect("path")[1..]
        .iter()
        .take(candidates)
        .cloned()
        .collect();
    let frozen = Value::Frozen(Frozen::from_value(&grid)?);
    let flat: Vec<u8> = grid
        .as_seq()
        .expect("grid")
        .iter()
        .flat_map(|row| row.as_seq().expect("row").iter())
        .map(|cell| u8::from(cell.as_bool().expect("cell")))
        .collect();
    let buffer = Value::Buffer(SharedBuffer::from_bytes(&flat));
    let p = Problem { start, grid, nodes };
    eprintln!(
        "grid ready in {:.2} s: {} candidates, {workers} workers, {reps} reps",
        t.elapsed().as_secs_f64(),
        p.nodes.len()
    );

    type Variant<'a> = (&'a str, Box<dyn Fn() -> i64 + 'a>);
    let variants: Vec<Variant> = vec![
        ("serial (one interpreter)", Box::new(|| serial(&p))),
        (
            "tuple per call, cache off (before)",
            Box::new(|| per_call(&p, workers, &p.grid, CacheConfig::OFF)),
        ),
        (
            "tuple per call (cache on)",
            Box::new(|| per_call(&p, workers, &p.grid, CacheConfig::DEFAULT)),
        ),
        (
            "Frozen per call",
            Box::new(|| per_call(&p, workers, &frozen, CacheConfig::DEFAULT)),
        ),
        (
            "SharedBuffer per call",
            Box::new(|| buffer_per_call(&p, workers, &buffer)),
        ),
        (
            "prepare_main once per worker",
            Box::new(|| prepared(&p, workers)),
        ),
    ];
    let mut times = vec![Vec::new(); variants.len()];
    let mut cpus = vec![Vec::new(); variants.len()];
    let mut answer = None;
    for rep in 0..reps {
        for (k, (name, run)) in variants.iter().enumerate() {
            let (t, c) = (Instant::now(), process_cpu());
            let loops = run();
            let (secs, cpu) = (t.elapsed().as_secs_f64(), process_cpu() - c);
            eprintln!("rep {rep}: {name}: {secs:.3} s, {cpu:.3} s CPU ({loops} loops)");
            times[k].push(secs);
            cpus[k].push(cpu);
            match answer {
                None => answer = Some(loops),
                Some(a) => assert_eq!(a, loops, "{name} disagrees on the loop count"),
            }
        }
    }
    let serial_s = median(times[0].clone());
    let prepared_s = median(times[variants.len() - 1].clone());
    let serial_cpu = median(cpus[0].clone());
    let prepared_cpu = median(cpus[variants.len() - 1].clone());
    println!(
        "day 6, {} candidates, {workers} workers, median of {reps} (pool start and shutdown included)",
        p.nodes.len()
    );
    println!(
        "wall: elapsed time (needs {workers} idle cores to show the speed-up); CPU: the process's \
         CPU time, and the speed-up it allows on {workers} idle cores (serial CPU / (CPU / {workers}))"
    );
    println!("| grid passed | wall | vs serial | vs prepare_main | CPU | CPU speed-up | CPU vs prepare_main |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for (k, (name, _)) in variants.iter().enumerate() {
        let s = median(times[k].clone());
        let c = median(cpus[k].clone());
        let speedup = if k == 0 {
            1.0
        } else {
            serial_cpu / (c / workers as f64)
        };
        println!(
            "| {name} | {s:.3} s | {:.2}x | {:.3}x | {c:.3} s | {speedup:.2}x | {:.3}x |",
            serial_s / s,
            s / prepared_s,
            c / prepared_cpu
        );
    }

    // Element access: grid[r][c] over the whole grid, ns per read.
    let i = Interpreter::new()?;
    i.prepare_main([("native", p.grid.clone()), ("arrived", frozen.clone())])?;
    i.exec(
        "import interp, time\nproxy = interp.freeze(native)\n\
         def scan(g):\n    n = len(g)\n    t = time.thread_time()\n    s = 0\n    for _ in range(50):\n        for r in range(n):\n            for c in range(n):\n                if g[r][c]:\n                    s += 1\n    return (time.thread_time() - t) / (50 * n * n) * 1e9",
    )?;
    let mut access: Vec<Vec<f64>> = vec![Vec::new(); 3];
    for _ in 0..reps.max(5) {
        for (k, name) in ["native", "arrived", "proxy"].iter().enumerate() {
            let ns = i.eval(&format!("scan({name})"))?.as_f64().expect("float");
            access[k].push(ns);
        }
    }
    let native = median(access[0].clone());
    println!(
        "\nelement access grid[r][c] (the reading thread's CPU time), median of {}",
        reps.max(5)
    );
    println!("| grid | ns per read | vs native tuple |");
    println!("| --- | --- | --- |");
    for (k, name) in [
        "native tuple",
        "Frozen arrived in the interpreter (real tuples)",
        "interp.freeze() proxy (rows real tuples)",
    ]
    .iter()
    .enumerate()
    {
        let ns = median(access[k].clone());
        println!("| {name} | {ns:.1} | {:.2}x |", ns / native);
    }
    Ok(())
}
