//! The per-interpreter materialization cache: immutable data passed again
//! arrives as the same object; results returned again convert to the same
//! shared data; mutable data is never cached; entries die with their value
//! and respect the bounds; memory stays flat over many distinct values.

use interp_core::{
    CacheConfig, CacheStats, Frozen, Interpreter, InterpreterConfig, Shared, Value, MIN_ITEMS,
};

/// A `rows` x `cols` grid of ints starting at `base` (ints above 256, so
/// every cell is an object the cache must hold).
fn grid(rows: i64, cols: i64, base: i64) -> Value {
    Value::tuple(
        (0..rows).map(|r| Value::tuple((0..cols).map(|c| Value::Int(base + r * cols + c)))),
    )
}

const HELPERS: &str = "
kept = None
def keep(x):
    global kept
    kept = x
    return len(x)
def same(x):
    return x is kept
def total(g):
    return sum(map(sum, g))
";

fn interp(cfg: CacheConfig) -> Interpreter {
    let i = Interpreter::with_config(InterpreterConfig::isolated().cache(cfg)).unwrap();
    i.exec(HELPERS).unwrap();
    i
}

fn call(i: &Interpreter, f: &str, arg: &Value) -> Value {
    i.call("__main__", f, std::slice::from_ref(arg), &[])
        .unwrap_or_else(|e| panic!("{f}: {e}"))
}

fn call0(i: &Interpreter, f: &str) -> Value {
    i.call("__main__", f, &[], &[])
        .unwrap_or_else(|e| panic!("{f}: {e}"))
}

fn stats_delta(after: CacheStats, before: CacheStats) -> (u64, u64) {
    (after.hits - before.hits, after.misses - before.misses)
}

#[test]
fn the_same_value_arrives_as_the_same_object() {
    let i = interp(CacheConfig::DEFAULT);
    let g = grid(130, 130, 1000);
    call(&i, "keep", &g);
    let before = i.cache_stats();
    assert_eq!(call(&i, "same", &g), Value::Bool(true));
    // Nested in another value too (a per-call argument tuple).
    i.exec("def same_nested(t):\n    return t[2] is kept")
        .unwrap();
    let args = Value::tuple([Value::Int(1), Value::Int(2), g.clone()]);
    assert_eq!(call(&i, "same_nested", &args), Value::Bool(true));
    let (hits, _) = stats_delta(i.cache_stats(), before);
    assert_eq!(hits, 2, "{:?}", i.cache_stats());
    let s = i.cache_stats();
    assert_eq!(s.entries, 1, "{s:?}");
    assert!(
        s.bytes > 130 * 130 * 28,
        "the grid's ints are counted: {s:?}"
    );
    // is_cached: the kept object is the grid's; an equal new one is not.
    i.enter(|py| {
        assert!(interp_core::is_cached(&py.eval("kept").unwrap()));
        assert!(!interp_core::is_cached(
            &py.eval("tuple(map(tuple, kept))").unwrap()
        ));
        assert!(
            !interp_core::is_cached(&py.eval("kept[0]").unwrap()),
            "rows are not entries"
        );
    });
    // A clone is the same value (the same shared data).
    assert_eq!(call(&i, "same", &g), Value::Bool(true));
    // Another interpreter makes its own object.
    let j = interp(CacheConfig::DEFAULT);
    call(&j, "keep", &g);
    assert_eq!(call(&j, "same", &g), Value::Bool(true));
    assert_eq!(call(&j, "total", &g), call(&i, "total", &g));
}

#[test]
fn equal_but_distinct_values_are_distinct_entries() {
    let i = interp(CacheConfig::DEFAULT);
    let a = grid(64, 64, 1000);
    let b = grid(64, 64, 1000);
    assert_eq!(a, b);
    call(&i, "keep", &a);
    assert_eq!(call(&i, "same", &b), Value::Bool(false));
    assert_eq!(call(&i, "same", &a), Value::Bool(true));
    assert_eq!(i.cache_stats().entries, 2, "{:?}", i.cache_stats());
    assert_eq!(call(&i, "total", &a), call(&i, "total", &b));
}

#[test]
fn one_allocation_as_tuple_frozenset_and_list_gives_each_its_type() {
    let i = interp(CacheConfig::DEFAULT);
    let Value::Tuple(items) = grid(1, 5000, 1000).as_seq().unwrap()[0].clone() else {
        unreachable!()
    };
    let t = Value::Tuple(items.clone());
    let f = Value::FrozenSet(items.clone());
    let l = Value::List(items);
    i.exec("def kind(x):\n    return type(x).__name__").unwrap();
    call(&i, "keep", &t);
    assert_eq!(call(&i, "same", &t), Value::Bool(true));
    for (v, name) in [(&f, "frozenset"), (&l, "list")] {
        assert_eq!(call(&i, "kind", v), Value::str(name));
        assert_eq!(call(&i, "same", v), Value::Bool(false));
    }
    // The frozenset is cached on its own; the list never is.
    call(&i, "keep", &f);
    assert_eq!(call(&i, "same", &f), Value::Bool(true));
    assert_eq!(i.cache_stats().entries, 2, "{:?}", i.cache_stats());
}

#[test]
fn mutable_data_is_never_cached() {
    let i = interp(CacheConfig::DEFAULT);
    i.exec("def grab(t):\n    t[-1].append(len(t[-1]))\n    return t[-1]")
        .unwrap();
    // A tuple holding a list: big, but the callee may change the list.
    let mut items: Vec<Value> = (0..100).map(|n| Value::Int(1000 + n)).collect();
    items.push(Value::list([Value::Int(0)]));
    let t = Value::tuple(items);
    for _ in 0..3 {
        assert_eq!(call(&i, "grab", &t), Value::list([0.into(), 1.into()]));
    }
    call(&i, "keep", &t);
    assert_eq!(call(&i, "same", &t), Value::Bool(false));
    // A list deep inside (a grid whose last row holds one) is found too.
    let mut rows: Vec<Value> = (0..64)
        .map(|r| grid(1, 64, 1000 + r * 64).as_seq().unwrap()[0].clone())
        .collect();
    rows.push(Value::tuple([Value::Int(1), Value::list([Value::Int(0)])]));
    let deep = Value::tuple(rows);
    call(&i, "keep", &deep);
    assert_eq!(call(&i, "same", &deep), Value::Bool(false));
    // Nor a pickled object, e.g. a bytearray; mutated, it is never stale
    // when passed again.
    let ba = i.eval("bytearray(b'x' * 5000)").unwrap();
    assert!(matches!(ba, Value::Pickled(_)), "{ba:?}");
    i.exec("def poke(b):\n    b[0] = ord('y')\n    return bytes(b[:2])")
        .unwrap();
    for _ in 0..3 {
        assert_eq!(call(&i, "poke", &ba), Value::bytes(b"yx"));
    }
    assert_eq!(i.cache_stats().entries, 0, "{:?}", i.cache_stats());
}

#[test]
fn a_mutated_result_is_never_stale() {
    let i = interp(CacheConfig::DEFAULT);
    i.exec(
        "ba = bytearray(b'a' * 5000)\nbox = tuple(range(1000, 2000)) + ([],)\n\
         def step():\n    ba[0] += 1\n    box[-1].append(1)\n    return ba, box",
    )
    .unwrap();
    for n in 1..4 {
        let r = call0(&i, "step");
        let (ba, bx) = (&r.as_seq().unwrap()[0], &r.as_seq().unwrap()[1]);
        let Value::Pickled(_) = ba else {
            panic!("{ba:?}")
        };
        assert_eq!(
            i.call("builtins", "bytes", std::slice::from_ref(ba), &[])
                .unwrap()
                .as_bytes()
                .unwrap()[0],
            b'a' + n
        );
        assert_eq!(
            bx.as_seq().unwrap().last().unwrap().as_seq().unwrap().len(),
            n as usize
        );
    }
}

#[test]
fn an_object_returned_again_converts_to_the_same_shared_data() {
    let i = interp(CacheConfig::DEFAULT);
    i.exec("TABLE = tuple(range(1000, 1000 + 5000))\ndef table():\n    return TABLE\ndef fresh():\n    return tuple(range(1000, 6000))")
        .unwrap();
    let (Value::Tuple(a), Value::Tuple(b)) = (call0(&i, "table"), call0(&i, "table")) else {
        panic!()
    };
    assert!(Shared::ptr_eq(&a, &b), "the same tuple returned twice");
    // And sent back, it arrives as that tuple.
    i.exec("def is_table(t):\n    return t is TABLE").unwrap();
    assert_eq!(
        call(&i, "is_table", &Value::Tuple(a.clone())),
        Value::Bool(true)
    );
    // A value this interpreter made, returned: the value it was made from.
    let g = grid(64, 64, 1000);
    call(&i, "keep", &g);
    let Value::Tuple(back) = i.eval("kept").unwrap() else {
        panic!()
    };
    let Value::Tuple(orig) = &g else {
        unreachable!()
    };
    assert!(Shared::ptr_eq(&back, orig));
    // Fresh objects are distinct values.
    let (Value::Tuple(c), Value::Tuple(d)) = (call0(&i, "fresh"), call0(&i, "fresh")) else {
        panic!()
    };
    assert!(!Shared::ptr_eq(&c, &d));
    assert_eq!(c, d);
}

#[test]
fn strings_and_bytes_are_cached_above_the_threshold() {
    let cfg = CacheConfig {
        min_bytes: 1024,
        ..CacheConfig::DEFAULT
    };
    let i = interp(cfg);
    let values = [
        Value::Str("é".repeat(2000).into()),
        Value::bytes(&[7u8; 3000]),
        Value::Str("x".repeat(2000).into()),
    ];
    for v in &values {
        call(&i, "keep", v);
        assert_eq!(call(&i, "same", v), Value::Bool(true), "{v:?}");
    }
    // Below the threshold: converted on each arrival.
    let small = Value::Str("y".repeat(900).into());
    call(&i, "keep", &small);
    assert_eq!(call(&i, "same", &small), Value::Bool(false));
    assert_eq!(i.cache_stats().entries, 3, "{:?}", i.cache_stats());
}

#[test]
fn small_values_are_not_looked_up() {
    let i = interp(CacheConfig::DEFAULT);
    let before = i.cache_stats();
    let small = Value::tuple((0..MIN_ITEMS as i64 - 1).map(|n| Value::Int(1000 + n)));
    for _ in 0..10 {
        call(&i, "keep", &small);
    }
    assert_eq!(i.cache_stats(), before);
}

#[test]
fn the_bounds_hold_least_recently_used_first_out() {
    // By entries.
    let i = interp(CacheConfig {
        max_entries: 3,
        ..CacheConfig::DEFAULT
    });
    let values: Vec<Value> = (0..5).map(|k| grid(64, 64, 1000 + k * 10_000)).collect();
    for v in &values[..3] {
        call(&i, "keep", v);
    }
    // Use the first again: the second is now the least recently used.
    call(&i, "keep", &values[0]);
    call(&i, "keep", &values[3]);
    let s = i.cache_stats();
    assert_eq!((s.entries, s.evictions), (3, 1), "{s:?}");
    assert_eq!(call(&i, "same", &values[1]), Value::Bool(false), "evicted");
    let before = i.cache_stats();
    call(&i, "keep", &values[0]);
    assert_eq!(stats_delta(i.cache_stats(), before), (1, 0), "still cached");

    // By bytes: each 64x64 grid of ints takes about 170 KB.
    let i = interp(CacheConfig {
        max_bytes: 400_000,
        ..CacheConfig::DEFAULT
    });
    for v in &values {
        call(&i, "keep", v);
        let s = i.cache_stats();
        assert!(s.bytes <= 400_000, "{s:?}");
    }
    let s = i.cache_stats();
    assert_eq!((s.entries, s.evictions), (2, 3), "{s:?}");
    // Too big for the bound at all: not cached.
    let i = interp(CacheConfig {
        max_bytes: 100_000,
        ..CacheConfig::DEFAULT
    });
    call(&i, "keep", &values[0]);
    assert_eq!(i.cache_stats().entries, 0);
    // Shrinking the bounds evicts at once; OFF empties and disables.
    let i = interp(CacheConfig::DEFAULT);
    for v in &values {
        call(&i, "keep", v);
    }
    assert_eq!(i.cache_stats().entries, 5);
    i.set_cache_config(CacheConfig {
        max_entries: 2,
        ..CacheConfig::DEFAULT
    });
    assert_eq!(i.cache_stats().entries, 2);
    assert_eq!(i.cache_config().max_entries, 2);
    i.set_cache_config(CacheConfig::OFF);
    assert_eq!(i.cache_stats().entries, 0);
    call(&i, "keep", &values[0]);
    assert_eq!(call(&i, "same", &values[0]), Value::Bool(false));
}

#[test]
fn an_entry_dies_with_its_value() {
    let i = interp(CacheConfig::DEFAULT);
    let a = grid(64, 64, 1000);
    call(&i, "keep", &a);
    i.exec("kept = None").unwrap();
    assert_eq!(i.cache_stats().entries, 1);
    drop(a);
    // Swept on the next insert.
    let b = grid(64, 64, 2000);
    call(&i, "keep", &b);
    assert_eq!(i.cache_stats().entries, 1, "{:?}", i.cache_stats());
    assert_eq!(call(&i, "same", &b), Value::Bool(true));
    // Or after SWEEP_EVERY lookups.
    drop(b);
    let small_hit = grid(64, 64, 3000);
    call(&i, "keep", &small_hit);
    for _ in 0..interp_core::SWEEP_EVERY {
        call(&i, "keep", &small_hit);
    }
    assert_eq!(i.cache_stats().entries, 1, "{:?}", i.cache_stats());
    // A frozen tree's entry dies with the tree.
    let f = Frozen::from_value(&grid(10, 10, 1000)).unwrap();
    call(&i, "keep", &Value::Frozen(f.clone()));
    assert_eq!(
        call(&i, "same", &Value::Frozen(f.clone())),
        Value::Bool(true)
    );
    assert_eq!(i.cache_stats().entries, 2);
    drop(f);
    call(&i, "keep", &grid(64, 64, 4000));
    assert_eq!(
        i.cache_stats().entries,
        2,
        "the frozen entry is gone: {:?}",
        i.cache_stats()
    );
}

#[test]
fn entries_in_several_interpreters_die_together_with_their_value() {
    let (i, j) = (interp(CacheConfig::DEFAULT), interp(CacheConfig::DEFAULT));
    let g = grid(64, 64, 1000);
    call(&i, "keep", &g);
    call(&j, "keep", &g);
    // Both caches hold the value: neither may count the other as a user.
    drop(g);
    call(&i, "keep", &grid(64, 64, 5000)); // inserts sweep
    call(&j, "keep", &grid(64, 64, 5000));
    assert_eq!(i.cache_stats().entries, 1, "{:?}", i.cache_stats());
    assert_eq!(j.cache_stats().entries, 1, "{:?}", j.cache_stats());
}

#[test]
fn a_frozen_tree_holding_dicts_dies_with_its_last_handle() {
    // The tuple arrives with a proxy for the dict inside, and the proxy holds
    // the tree: the entry must not count it as a user.
    let i = interp(CacheConfig::DEFAULT);
    let tree = Value::tuple([
        Value::dict([(Value::str("k"), Value::Int(1))]),
        grid(10, 10, 1000),
    ]);
    let f = Frozen::from_value(&tree).unwrap();
    call(&i, "keep", &Value::Frozen(f.clone()));
    assert_eq!(
        call(&i, "same", &Value::Frozen(f.clone())),
        Value::Bool(true)
    );
    i.exec(
        "assert type(kept) is tuple and kept[0]['k'] == 1 and type(kept[0]).__name__ == 'Frozen'",
    )
    .unwrap();
    assert_eq!(i.cache_stats().entries, 1);
    drop(f);
    call(&i, "keep", &grid(64, 64, 5000)); // an insert sweeps
    assert_eq!(i.cache_stats().entries, 1, "{:?}", i.cache_stats());
}

#[test]
fn results_die_with_their_object() {
    let i = interp(CacheConfig::DEFAULT);
    i.exec("T = tuple(range(1000, 6000))\ndef t():\n    return T")
        .unwrap();
    let r = call0(&i, "t");
    assert_eq!(i.cache_stats().entries, 1);
    drop(r);
    assert_eq!(
        i.cache_stats().entries,
        1,
        "the object still lives in Python"
    );
    i.exec("del T").unwrap();
    call(&i, "keep", &grid(64, 64, 1000)); // an insert sweeps
    assert_eq!(i.cache_stats().entries, 1, "{:?}", i.cache_stats());
}

#[test]
fn threads_sharing_an_interpreter_see_correct_objects() {
    let i = interp(CacheConfig {
        max_entries: 4,
        ..CacheConfig::DEFAULT
    });
    let values: Vec<Value> = (0..8).map(|k| grid(40, 40, 1000 + k * 10_000)).collect();
    let expected: Vec<Value> = values.iter().map(|v| call(&i, "total", v)).collect();
    std::thread::scope(|s| {
        for t in 0..4 {
            let (i, values, expected) = (&i, &values, &expected);
            s.spawn(move || {
                for n in 0..200 {
                    let k = (n * 7 + t * 3) % values.len();
                    assert_eq!(call(i, "total", &values[k]), expected[k]);
                }
            });
        }
    });
    assert!(i.cache_stats().entries <= 4);
}

#[test]
fn the_main_interpreter_has_its_own_cache() {
    let main = interp_core::Runtime::init().unwrap().main();
    let g = grid(64, 64, 1000);
    main.exec(HELPERS).unwrap();
    let before = main.cache_stats();
    call(main, "keep", &g);
    assert_eq!(call(main, "same", &g), Value::Bool(true));
    assert_eq!(main.cache_stats().hits, before.hits + 1);
    // Objects of the main interpreter never reach a subinterpreter.
    let i = interp(CacheConfig::DEFAULT);
    call(&i, "keep", &g);
    assert_eq!(call(&i, "same", &g), Value::Bool(true));
    i.exec("import interp\nassert interp.interpreter_id() != 0")
        .unwrap();
    main.exec("kept = None").unwrap();
}

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = s.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn rss_stays_flat_over_ten_thousand_distinct_grids() {
    // Bounds far above what 10,000 grids need (about 700 MB): only entries
    // dying with their values keep the memory flat.
    let i = interp(CacheConfig {
        max_bytes: 4 << 30,
        max_entries: 100_000,
        ..CacheConfig::DEFAULT
    });
    let mut before = 0;
    for n in 0..10_000i64 {
        if n == 1_000 {
            before = rss_kib();
        }
        let g = grid(32, 32, 1000 + n);
        assert_eq!(call(&i, "keep", &g), Value::Int(32));
    }
    let growth = rss_kib().saturating_sub(before);
    let s = i.cache_stats();
    eprintln!("RSS growth over 9,000 distinct 32x32 grids: {growth} KiB; {s:?}");
    assert!(s.entries <= 2, "{s:?}");
    assert_eq!(s.inserts, 10_000, "{s:?}");
    assert_eq!(
        s.misses, 10_000,
        "only the grid is looked up, not its rows: {s:?}"
    );
    assert!(
        growth < 64 * 1024,
        "RSS grew {growth} KiB: entries outlive their values"
    );
}

/// Set in the process [`rss_with_a_full_cache_stays_within_the_bound`]
/// starts to measure alone.
const RSS_CHILD: &str = "INTERP_TEST_RSS_CHILD";

/// What RSS may grow beyond the cache's bound: the argument being converted
/// while the cache is full (it exists before the cache evicts to make room
/// for it: one grid, about 690 KB), the interpreter's own allocations while
/// it runs the calls, the cache's maps, allocator and page granularity.
/// 1 MiB, about 3% of the bound. (Measured: 33.0 MiB with the allocators'
/// overhead estimated; 36.0–37.5 MiB before, when the estimate counted
/// only what `sys.getsizeof` does.)
const RSS_SLACK_KIB: usize = 1024;

#[test]
fn rss_with_a_full_cache_stays_within_the_bound() {
    if std::env::var_os(RSS_CHILD).is_some() {
        return full_cache_rss();
    }
    // In a process of its own: RSS is the whole process's, and the other
    // tests of this binary allocate on other threads meanwhile.
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "rss_with_a_full_cache_stays_within_the_bound",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(RSS_CHILD, "1")
        .output()
        .expect("re-running the test binary");
    let got = format!(
        "child {}:\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{got}");
    assert!(out.status.success(), "{got}");
    assert!(
        got.contains("RSS growth with a full"),
        "the child measured nothing: {got}"
    );
}

fn full_cache_rss() {
    // 150 distinct grids of about 690 KB of Python objects each, all kept
    // alive on the Rust side (built before the measurement starts), passed
    // once each: the cache may keep only 32 MiB of them.
    let bound = 32 << 20;
    let i = interp(CacheConfig {
        max_bytes: bound,
        max_entries: 100_000,
        ..CacheConfig::DEFAULT
    });
    let grids: Vec<Value> = (0..150)
        .map(|k| grid(130, 130, 1000 + k * 20_000))
        .collect();
    // Warm up the interpreter and the cache with a small grid (cached, and
    // dead once dropped: what it frees is reused by the grids measured).
    call(&i, "keep", &grid(32, 32, 0));
    i.exec("kept = None").unwrap();
    let before = rss_kib();
    for g in &grids {
        assert_eq!(call(&i, "keep", g), Value::Int(130));
    }
    i.exec("kept = None").unwrap();
    let growth = rss_kib().saturating_sub(before) as usize;
    let s = i.cache_stats();
    eprintln!(
        "RSS growth with a full 32 MiB cache: {growth} KiB ({:.3}x the bound); {s:?}",
        growth as f64 / (bound >> 10) as f64
    );
    assert!(s.bytes <= bound && s.evictions > 0, "{s:?}");
    // Unbounded, the grids' objects would take about 100 MiB.
    assert!(
        growth <= (bound >> 10) + RSS_SLACK_KIB,
        "RSS grew {growth} KiB, over the cache's {} KiB bound (+ {RSS_SLACK_KIB} KiB slack)",
        bound >> 10
    );
}
