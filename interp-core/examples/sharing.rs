//! Sharing figures: channel round trips (vs CPython's
//! `concurrent.interpreters.Queue`), frozen-data access vs a native tuple,
//! and the cost of handing a 130x130 grid to a call by copy (a new tuple
//! `Value` per call, or the same one, found in the interpreter's
//! materialization cache), frozen, or once via `prepare_main`.
//!
//! `make bench-sharing` (or `cargo run --release -p interp-core --example sharing`).

use std::time::{Duration, Instant};

use interp_core::{Channel, Frozen, Interpreter, Runtime, SharedBuffer, Value};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn grid(n: usize) -> Value {
    Value::tuple(
        (0..n).map(|r| Value::tuple((0..n).map(|c| Value::Bool((r * 7 + c * 3) % 5 == 0)))),
    )
}

fn main() -> Result<(), interp_core::Error> {
    let rt = Runtime::init()?;
    let (ma, mi, mc) = rt.python_version();
    println!("interp sharing figures, CPython {ma}.{mi}.{mc} (medians of 5 runs)");

    // --- channel ping-pong between two interpreters -----------------------
    let ping = Channel::bounded(1);
    let pong = Channel::bounded(1);
    let a = Interpreter::new()?;
    let b = Interpreter::new()?;
    for i in [&a, &b] {
        i.prepare_main([("ping", ping.clone().into()), ("pong", pong.clone().into())])?;
    }
    a.exec("import time\ndef run(n):\n    t = time.perf_counter()\n    for i in range(n):\n        ping.send(i)\n        pong.recv()\n    return (time.perf_counter() - t) / n\n")?;
    b.exec("def echo(n):\n    for _ in range(n):\n        pong.send(ping.recv())\n")?;
    let n = 20_000i64;
    let mut rtts = Vec::new();
    for _ in 0..5 {
        let rtt = std::thread::scope(|s| {
            let e = s.spawn(|| b.call("__main__", "echo", &[n.into()], &[]));
            let r = a.call("__main__", "run", &[n.into()], &[]);
            e.join().unwrap().unwrap();
            r
        })?;
        rtts.push(rtt.as_f64().unwrap() * 1e6);
    }
    let ours = median(rtts);
    println!("  Channel ping-pong between two interpreters:     {ours:>8.2} µs per round trip");

    // Rust thread <-> Rust thread through the same channel type.
    let mut rust = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        std::thread::scope(|s| {
            s.spawn(|| {
                for _ in 0..n {
                    let v = ping.recv().unwrap();
                    pong.send(v).unwrap();
                }
            });
            for i in 0..n {
                ping.send(Value::Int(i)).unwrap();
                pong.recv().unwrap();
            }
        });
        rust.push(t.elapsed().as_secs_f64() * 1e6 / n as f64);
    }
    println!(
        "  Channel ping-pong between two Rust threads:     {:>8.2} µs per round trip",
        median(rust)
    );

    // CPython's own queue between two interpreters, same machine, same run.
    let script = r#"
import time, threading
from concurrent import interpreters
q1, q2 = interpreters.create_queue(), interpreters.create_queue()
echo = interpreters.create()
echo.prepare_main(q1=q1, q2=q2)
N = 300
def run_echo():
    echo.exec("for _ in range(%d):\n    q2.put(q1.get())" % N)
res = []
for _ in range(5):
    th = threading.Thread(target=run_echo); th.start()
    t = time.perf_counter()
    for i in range(N):
        q1.put(i); q2.get()
    res.append((time.perf_counter() - t) / N * 1e6)
    th.join()
res.sort(); print(res[2])
"#;
    match std::process::Command::new(interp_core::sys::PYTHON_EXECUTABLE)
        .args(["-c", script])
        .output()
    {
        Ok(out) if out.status.success() => {
            let stdlib: f64 = String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse()
                .unwrap_or(f64::NAN);
            println!(
                "  concurrent.interpreters.Queue ping-pong:        {stdlib:>8.2} µs per round trip  ({:.0}x slower)",
                stdlib / ours
            );
        }
        _ => println!(
            "  concurrent.interpreters.Queue: not measured (needs CPython 3.14's executable)"
        ),
    }

    // --- frozen access vs native tuple ------------------------------------
    let g = grid(130);
    let frozen = Frozen::from_value(&g)?;
    a.prepare_main([("native", g.clone()), ("frozen", frozen.clone().into())])?;
    a.exec("def scan(grid):\n    t = time.perf_counter()\n    n = 0\n    for r in range(130):\n        row = grid[r]\n        for c in range(130):\n            n += row[c]\n    return (time.perf_counter() - t) / 16900 * 1e9\n")?;
    a.exec("import interp\nproxy = interp.freeze(native)")?;
    let mut nat = Vec::new();
    let mut fro = Vec::new();
    let mut prx = Vec::new();
    for _ in 0..5 {
        nat.push(a.eval("scan(native)")?.as_f64().unwrap());
        // A Frozen tuple arrives as real tuples (built once per interpreter).
        fro.push(a.eval("scan(frozen)")?.as_f64().unwrap());
        // The proxy interp.freeze() returns (its rows are real tuples).
        prx.push(a.eval("scan(proxy)")?.as_f64().unwrap());
    }
    println!(
        "  element read grid[r][c], native tuple:          {:>8.1} ns",
        median(nat.clone())
    );
    println!(
        "  element read, Frozen (arrives as tuples):       {:>8.1} ns   ({:.2}x native)",
        median(fro.clone()),
        median(fro) / median(nat.clone())
    );
    println!(
        "  element read, interp.freeze() proxy:            {:>8.1} ns   ({:.2}x native)",
        median(prx.clone()),
        median(prx) / median(nat)
    );

    // --- handing a 130x130 grid to a call ---------------------------------
    b.exec("def count(grid):\n    return sum(map(sum, grid))\ndef count_main():\n    return sum(map(sum, G))\n")?;
    b.prepare_main([("G", g.clone())])?;
    let calls = 300;
    let time =
        |f: &dyn Fn() -> Result<Value, interp_core::Error>| -> Result<f64, interp_core::Error> {
            let mut v = Vec::new();
            for _ in 0..5 {
                let t = Instant::now();
                for _ in 0..calls {
                    f()?;
                }
                v.push(t.elapsed().as_secs_f64() * 1e6 / calls as f64);
            }
            Ok(median(v))
        };
    // A new tuple Value each call (equal rows, new outer allocation): not in
    // the materialization cache, converted in full.
    let fresh = || Value::tuple(g.as_seq().unwrap().iter().cloned());
    let copy = time(&|| b.call("__main__", "count", &[fresh()], &[]))?;
    // The same tuple Value each call: built once, then found in the cache.
    let same = time(&|| b.call("__main__", "count", std::slice::from_ref(&g), &[]))?;
    let fz = time(&|| b.call("__main__", "count", &[frozen.clone().into()], &[]))?;
    let once = time(&|| b.call("__main__", "count_main", &[], &[]))?;
    let noop_g = time(&|| b.call("builtins", "len", &[fresh()], &[]))?;
    let noop_s = time(&|| b.call("builtins", "len", std::slice::from_ref(&g), &[]))?;
    let noop_f = time(&|| b.call("builtins", "len", &[frozen.clone().into()], &[]))?;
    println!("  call count(grid), a new tuple Value per call:   {copy:>8.1} µs");
    println!("  call count(grid), the same tuple Value (cached):{same:>8.1} µs");
    println!("  call count(grid), grid frozen (shared):         {fz:>8.1} µs");
    println!("  call count(), grid handed over once:            {once:>8.1} µs");
    println!(
        "  passing cost alone (len(grid)): new Value {noop_g:.1} µs, same Value {noop_s:.2} µs, frozen {noop_f:.2} µs"
    );

    // --- a big buffer per call --------------------------------------------
    let big = SharedBuffer::zeroed(256 << 20);
    let t = Instant::now();
    for _ in 0..1000 {
        b.call("builtins", "id", &[big.clone().into()], &[])?;
    }
    let per = t.elapsed() / 1000;
    println!(
        "  passing a 256 MiB SharedBuffer in a call:       {:>8.2} µs",
        dur_us(per)
    );
    Ok(())
}

fn dur_us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
