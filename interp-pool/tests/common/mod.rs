//! Helpers shared by interp-pool's integration tests.

// Each test file uses some of them.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use interp_core::Value;
use interp_pool::{Call, Pool, Task, TaskError};

/// A kill grace for tests that must see an interruption land: on a loaded
/// machine (or under valgrind) that can take seconds, and this is only an
/// upper bound, never waited out when the interruption lands.
pub const LAND: Duration = Duration::from_secs(60);

/// Submits `call` and waits for its outcome.
pub fn run(p: &Pool, call: Call) -> Result<Value, TaskError> {
    p.submit(call).expect("the pool takes the task").wait()
}

/// The type of the Python exception `call` fails with.
pub fn raised(p: &Pool, call: Call) -> String {
    match run(p, call) {
        Err(TaskError::Python(x)) => x.type_name(),
        other => panic!("expected a Python exception, got {other:?}"),
    }
}

/// Checks that the pool still serves tasks: `ident(x)`, which every test
/// initializer defines, returns `x`.
pub fn assert_serves(p: &Pool, x: i64) {
    assert_eq!(
        run(p, Call::new("__main__", "ident").arg(x)),
        Ok(Value::Int(x))
    );
}

/// Waits until a worker runs `t` (at most a minute, an upper bound that
/// exists only to fail instead of hanging).
pub fn wait_running(t: &Task) {
    let give_up = Instant::now() + Duration::from_secs(60);
    while !t.is_running() {
        assert!(
            Instant::now() < give_up,
            "task {} did not start within a minute",
            t.id()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Cancels `t` once it runs, and waits for its outcome (at most a minute).
pub fn cancel_when_running(t: &Task) -> Option<Result<Value, TaskError>> {
    wait_running(t);
    t.cancel();
    t.wait_timeout(Duration::from_secs(60))
}
