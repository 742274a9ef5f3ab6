//! Two isolated interpreters run Python bytecode at the same time.
//!
//! No timing asserts: each interpreter sets a GIL switch interval of 1000 s,
//! so a thread spinning in pure bytecode never hands its GIL over. Each side
//! raises its own flag in shared memory (an mmap of one file) and spins
//! until it sees the other's. With one GIL per interpreter both finish the
//! handshake; with a shared GIL (the legacy config, the control case) the
//! first spinner starves the second until it gives up.

use std::sync::Barrier;

use interp_core::{Interpreter, InterpreterConfig, Value};

const HANDSHAKE: &str = r#"
import mmap, sys
sys.setswitchinterval(1000.0)
def handshake(path, me, other, limit):
    with open(path, 'r+b') as f:
        m = mmap.mmap(f.fileno(), 2)
    m[me] = 1
    n = 0
    while m[other] == 0:
        n += 1
        if n > limit:
            return False
    return True
"#;

fn run(config: InterpreterConfig, limit: i64) -> (bool, bool) {
    let path =
        std::env::temp_dir().join(format!("interp-handshake-{}-{limit}", std::process::id()));
    std::fs::write(&path, [0u8, 0u8]).unwrap();
    let path_s = path.to_str().unwrap().to_owned();
    let a = Interpreter::with_config(config).unwrap();
    let b = Interpreter::with_config(config).unwrap();
    a.exec(HANDSHAKE).unwrap();
    b.exec(HANDSHAKE).unwrap();
    let barrier = Barrier::new(2);
    let go = |interp: &Interpreter, me: i64, other: i64| {
        barrier.wait();
        interp
            .call(
                "__main__",
                "handshake",
                &[
                    path_s.as_str().into(),
                    me.into(),
                    other.into(),
                    limit.into(),
                ],
                &[],
            )
            .unwrap()
    };
    let go = &go;
    let res = std::thread::scope(|s| {
        let (a, b) = (&a, &b);
        let ta = s.spawn(move || go(a, 0, 1));
        let tb = s.spawn(move || go(b, 1, 0));
        (ta.join().unwrap(), tb.join().unwrap())
    });
    let _ = std::fs::remove_file(&path);
    (res.0 == Value::Bool(true), res.1 == Value::Bool(true))
}

#[test]
fn isolated_interpreters_run_bytecode_in_parallel() {
    // Generous limit: a few seconds of spinning at most if something is wrong.
    let (a, b) = run(InterpreterConfig::isolated(), 100_000_000);
    assert!(
        a && b,
        "own-GIL interpreters must see each other's flag while both spin (got {a}, {b})"
    );
}

#[test]
fn shared_gil_control_case_serializes() {
    // The same handshake under one shared GIL cannot complete on both sides:
    // this shows the test above can fail.
    let (a, b) = run(InterpreterConfig::legacy(), 2_000_000);
    assert!(
        !(a && b),
        "legacy interpreters share a GIL, so one side must starve"
    );
}
