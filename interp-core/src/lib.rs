//! interp-core: the safe model of interp.
//!
//! - [`Runtime`]: the process's CPython runtime, initialized once.
//! - [`Interpreter`]: an isolated (own-GIL) or legacy subinterpreter, usable
//!   from any thread, ended on drop.
//! - [`Python`] / [`Bound`]: scoped, lifetime-branded access to the objects
//!   of an entered interpreter.
//! - [`Value`]: data that crosses interpreters (copied), including
//!   [`SharedBuffer`], [`Channel`] and [`Frozen`] (shared by reference).
//! - [`Error`]: Python exceptions (type, message, traceback) and interp's
//!   own failures.
//!
//! ```no_run
//! use interp_core::{Interpreter, Value};
//!
//! let interp = Interpreter::new()?;
//! interp.exec("def double(x):\n    return 2 * x")?;
//! let four = interp.call("__main__", "double", &[Value::from(2)], &[])?;
//! assert_eq!(four, Value::from(4));
//! # Ok::<(), interp_core::Error>(())
//! ```

mod buffer;
mod cancel;
mod channel;
mod error;
mod frozen;
mod interpreter;
mod module;
mod runtime;
mod scope;
mod tstate;
mod value;

pub use buffer::{Element, SharedBuffer, BUFFER_ALIGN};
pub use cancel::CancelToken;
pub use channel::{Channel, RecvError, SendError};
pub use error::{Error, PyException, Result};
pub use frozen::Frozen;
pub use interpreter::{Interpreter, InterpreterConfig};
pub use module::{python_module, set_module_name};
pub use runtime::{Runtime, RuntimeConfig};
pub use scope::{Bound, Python};
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
