//! interp-core: the safe model of interp, which runs Python on CPython
//! subinterpreters that each own their GIL (CPython 3.12+), so threads in
//! different interpreters run Python in parallel.
//!
//! - [`Runtime`]: the process's CPython runtime, initialized once.
//! - [`Interpreter`]: an isolated (own-GIL) or legacy subinterpreter, usable
//!   from any thread, ended on drop.
//! - [`Python`] / [`Bound`]: scoped, lifetime-branded access to the objects
//!   of an entered interpreter.
//! - [`Value`]: data that crosses interpreters (copied; strings, bytes and
//!   containers held as [`Shared`] data), including
//!   [`SharedBuffer`], [`Channel`] and [`Frozen`] (shared by reference).
//! - [`Error`]: Python exceptions (type, message, traceback) and interp's
//!   own failures.
//!
//! ```
//! use interp_core::{Interpreter, Value};
//!
//! let interp = Interpreter::new()?; // an isolated interpreter with its own GIL
//! interp.exec("def area(w, h, *, scale=1):\n    return w * h * scale")?;
//! let r = interp.call("__main__", "area", &[3.into(), 4.into()], &[("scale", 2.into())])?;
//! assert_eq!(r, Value::Int(24));
//!
//! // Exceptions arrive with their type, message and traceback.
//! let err = interp.call("json", "loads", &["{".into()], &[]).unwrap_err();
//! assert_eq!(err.exception().unwrap().type_name(), "json.decoder.JSONDecodeError");
//! # Ok::<(), interp_core::Error>(())
//! ```
//!
//! Interpreters run in parallel: each thread below holds its own
//! interpreter's GIL.
//!
//! ```
//! use interp_core::{Interpreter, Value};
//!
//! let workers: Vec<Interpreter> = (0..2).map(|_| Interpreter::new()).collect::<Result<_, _>>()?;
//! let sums: Vec<Value> = std::thread::scope(|s| {
//!     let handles: Vec<_> = workers
//!         .iter()
//!         .map(|w| s.spawn(move || w.eval("sum(i * i for i in range(100_000))")))
//!         .collect();
//!     handles.into_iter().map(|h| h.join().unwrap()).collect::<Result<_, _>>()
//! })?;
//! assert_eq!(sums, vec![Value::Int(333328333350000); 2]);
//! # Ok::<(), interp_core::Error>(())
//! ```
//!
//! Sharing data without copying it per call: [`SharedBuffer`] (memory),
//! [`Channel`] (values between threads and interpreters) and [`Frozen`]
//! (read-only structures), each with an example on its page. A pool of
//! interpreters with futures and cancellation is the `interp-pool` crate.
//!
//! **Building.** interp links the CPython named by `PYO3_PYTHON` (3.12+,
//! built with `--enable-shared`; `scripts/bootstrap.sh` finds or builds
//! one), and a crate that depends on interp needs a one-line `build.rs` so
//! its binaries find libpython: see the README's "Depending on interp",
//! which also has longer examples of everything here.

mod buffer;
mod cancel;
mod channel;
mod error;
mod frozen;
mod interpreter;
mod materialize;
mod module;
mod runtime;
mod scope;
mod shared;
mod tstate;
mod value;

pub use buffer::{Element, SharedBuffer, BUFFER_ALIGN};
pub use cancel::CancelToken;
pub use channel::{Channel, RecvError, SendError};
pub use error::{Error, PyException, Result};
pub use frozen::Frozen;
pub use interpreter::{Interpreter, InterpreterConfig};
pub use materialize::{is_cached, CacheConfig, CacheStats, MIN_ITEMS, SWEEP_EVERY};
pub use module::{python_module, set_module_name};
pub use runtime::{Runtime, RuntimeConfig};
pub use scope::{Bound, Python};
pub use shared::Shared;
pub use value::{Value, MAX_DEPTH};

/// The raw FFI layer, for code that needs a CPython call interp does not wrap.
pub use interp_sys as sys;

#[allow(dead_code)]
fn _assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<Interpreter>();
    is::<Value>();
    is::<Error>();
    is::<SharedBuffer>();
    is::<Channel>();
    is::<Frozen>();
    is::<CancelToken>();
}
