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
//!
//! # Where things live
//!
//! Each file has one concern; the layers build bottom-up.
//!
//! - Foundations, no Python objects: `error.rs` ([`Error`],
//!   [`PyException`], the texts for memory that could not be had,
//!   [`panic_message`]); `sync.rs` (the poison-tolerant `lock()`);
//!   `shared.rs` ([`Shared`], the fallibly allocated storage of values);
//!   `cancel.rs` ([`CancelToken`]); `detached.rs` (the `Detached` guard:
//!   nothing attached for a while, around blocking waits).
//! - The data that crosses interpreters: `value/` ([`Value`]: equality,
//!   hashing, accessors, in `mod.rs`; [`Channel`] in `channel.rs`;
//!   [`Frozen`] in `frozen.rs`) and `buffer.rs` ([`SharedBuffer`]). None
//!   touches a Python object. `value/` is one recursive type (a `Value`
//!   holds channels and frozen trees; a channel carries `Value`s, a frozen
//!   tree is built from them and indexed by them), so its three files use
//!   each other; nothing in it uses a module above it.
//! - Python objects: `scope/` ([`Python`], [`Bound`]: lifetime-branded
//!   access to an entered interpreter's objects, `mod.rs`; its pending
//!   exception copied out as an [`Error`], with hints, `exception.rs`).
//! - The materialization cache, `cache.rs`: one interpreter's cache, kept
//!   in its record ([`CacheConfig`], [`CacheStats`], entries, eviction,
//!   size estimates).
//! - Thread states: `tstate.rs` — one per (OS thread, interpreter), made on
//!   first entry; each interpreter's `InterpRecord` lists them; the
//!   `Attached` guard switches to one. It also keeps the main
//!   interpreter's record, set as the runtime starts.
//! - The conversions' hooks into the attached interpreter's cache,
//!   `materialize.rs` (and [`is_cached`]).
//! - The `interp` Python module, `module/`: its definition and loading
//!   (`mod.rs`), per-interpreter state (`state.rs`), functions
//!   (`functions.rs`), the three types (`buffer_type.rs`,
//!   `channel_type.rs`, `frozen_type.rs`), objects carrying a Rust handle
//!   (`handle.rs`), calls from CPython into Rust (`trampoline.rs`: errors
//!   raised as exceptions, panics caught), argument parsing (`args.rs`)
//!   and the static tables' builders (`defs.rs`).
//! - Conversion, `conversion/`: `Value` to a Python object (`to_python.rs`)
//!   and back (`from_python.rs`), behind [`Python::value`] and
//!   [`Bound::to_value`]. It depends on the data types and on `module/`;
//!   none of them imports it (the module's methods convert through those
//!   two methods).
//! - The runtime and its interpreters: `runtime.rs` ([`Runtime`],
//!   [`RuntimeConfig`]: start or attach, `python_path`, finalize, and
//!   [`Interpreter::new`], which starts the runtime) and `interpreter.rs`
//!   ([`Interpreter`], [`InterpreterConfig`]: enter, call, close; the
//!   count of live subinterpreters). `runtime.rs` uses `interpreter.rs`,
//!   not the other way round.
//!
//! No module imports one that imports it back (`tests/tests/layering.rs`
//! checks it). `scope` tells an `interp.Cancelled` by the type in the
//! `module`'s state through a function the module hands it when it loads,
//! not an import.
//!
//! The invariants:
//! - A `PyObject*` is touched only with its interpreter attached on the
//!   current thread: under a [`Python`] token (whose brand every [`Bound`]
//!   carries), or in a callback CPython makes with the interpreter attached
//!   (the trampolines assume a token there). No `PyObject*` crosses
//!   interpreters; a [`Value`] does, copied or sharing Rust data by
//!   reference.
//! - A thread state belongs to the OS thread that made it and is attached
//!   only there. It is deleted when that thread exits (unless it is its
//!   interpreter's last) or when the interpreter closes, under the record's
//!   lock, so no thread's cache uses it afterwards.
//! - Entering switches thread states; nothing waits for a record lock while
//!   holding a GIL (closing and thread exit take the lock, then a GIL).

#![warn(missing_debug_implementations)]

mod buffer;
mod cache;
mod cancel;
mod conversion;
mod detached;
mod error;
mod interpreter;
mod materialize;
mod module;
mod runtime;
mod scope;
mod shared;
mod sync;
mod tstate;
mod value;

pub use buffer::{Element, SharedBuffer, BUFFER_ALIGN};
pub use cache::{CacheConfig, CacheStats, MIN_ITEMS, SWEEP_EVERY};
pub use cancel::CancelToken;
pub use error::{panic_message, Error, ExceptionKind, PyException, Result};
pub use interpreter::{Interpreter, InterpreterConfig};
pub use materialize::is_cached;
pub use module::{python_module, set_module_name};
pub use runtime::{Runtime, RuntimeConfig};
pub use scope::{Bound, Python};
pub use shared::Shared;
pub use value::channel::{
    Channel, RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError,
};
pub use value::frozen::Frozen;
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
