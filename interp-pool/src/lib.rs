//! interp-pool: a pool of isolated CPython interpreters.
//!
//! [`Pool`] runs Python calls ([`Call`]: a function by `module:qualname`
//! or a pickled callable, with [`Value`](interp_core::Value) arguments) on
//! worker threads that each own an own-GIL interpreter, so CPU-bound Python
//! runs in parallel. Beyond `concurrent.futures.InterpreterPoolExecutor`:
//!
//! - per-task overhead in the microseconds, not hundreds of them;
//! - data handed over once per worker ([`PoolBuilder::prepare_main`],
//!   initializers), or shared by reference (`SharedBuffer`, `Frozen`);
//! - [`Task::cancel`] and [`Call::timeout`] interrupt *running* Python code,
//!   and a worker stuck past the kill grace is replaced;
//! - workers recycle after [`PoolBuilder::max_tasks_per_worker`] tasks or a
//!   `SystemExit`;
//! - one pool for CPU-bound interpreter tasks, I/O-bound thread tasks
//!   ([`Pool::submit_blocking`]) and main-interpreter calls
//!   ([`Pool::submit_main`]);
//! - [`Task`] is a `std::future::Future` (no runtime dependency).
//!
//! ```
//! use std::time::Duration;
//! use interp_core::Value;
//! use interp_pool::{Call, Pool, TaskError};
//!
//! let pool = Pool::builder()
//!     .workers(2) // default: one per core
//!     .init_source("def square(x):\n    return x * x\ndef spin():\n    while True: pass")
//!     // How long an interrupted task may take to stop before its worker is
//!     // replaced (default 2 s); generous, so a busy machine cannot turn the
//!     // timeout below into WorkerLost.
//!     .kill_grace(Duration::from_secs(60))
//!     .build()?;
//!
//! // One call, as a task to wait on (or `.await`).
//! let task = pool.submit(Call::new("__main__", "square").arg(12))?;
//! assert_eq!(task.wait()?, Value::Int(144));
//!
//! // Many inputs, results in order.
//! let squares: Vec<Value> = pool
//!     .map(Call::new("__main__", "square"), (1..=4).map(Value::from))
//!     .collect::<Result<_, _>>()?;
//! assert_eq!(squares, [1, 4, 9, 16].map(Value::from));
//!
//! // A timeout interrupts running Python; the worker stays usable.
//! let stuck = pool.submit(Call::new("__main__", "spin").timeout(Duration::from_millis(50)))?;
//! assert_eq!(stuck.wait(), Err(TaskError::TimedOut));
//! assert_eq!(pool.submit(Call::new("__main__", "square").arg(3))?.wait()?, Value::Int(9));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The README ("The pool", "Depending on interp") has the longer tour:
//! sharing data with workers, cancellation, the thread and main-interpreter
//! lanes, statistics, and how to depend on these crates.
//!
//! **Limits.** Interruption reaches Python bytecode; a blocking C call
//! (`time.sleep`, a socket read, a long C routine) notices only when it
//! returns. If it does not return within the kill grace, the worker is
//! abandoned (its thread and interpreter stay alive until the call
//! returns) and replaced, so the pool keeps its capacity and still shuts
//! down.

#![deny(unsafe_code)]

// Each module uses only modules of lower layers (no import circle): see
// `POOL_LAYERS` in tests/tests/layering.rs, which checks it, and
// ARCHITECTURE.md. The only `unsafe` code is in `handoff`.
mod aio;
mod bell;
mod builder;
mod call;
mod error;
mod execute;
mod exit;
#[allow(unsafe_code)]
mod handoff;
mod map;
mod pool;
mod registry;
mod shutdown;
mod stats;
mod supervisor;
mod sync;
mod task;
mod wait;
mod worker;

pub use builder::PoolBuilder;
pub use call::Call;
pub use error::{PoolError, TaskError};
pub use exit::hold_back_late_closes;
pub use map::{Map, MapUnordered};
pub use pool::Pool;
pub use stats::{PoolStats, ShutdownReport, WorkerStats};
pub use task::Task;
pub use wait::{as_completed, wait, WaitMode, WaitResult};

/// The README's Rust examples, compiled and run as doctests (here, where
/// both interp-core and interp-pool are available).
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

#[allow(dead_code)]
fn _assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<Pool>();
    is::<Task>();
    is::<Call>();
    is::<PoolError>();
    is::<TaskError>();
}
