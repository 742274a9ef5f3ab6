//! A cdylib that depends on interp (the Cargo.toml of tests/downstream plus
//! `[lib] crate-type = ["cdylib"]`), as a Python extension module or a
//! plugin would. tests/tests/downstream.rs builds it with and without the
//! README's build.rs line and loads it into Python with ctypes.
use std::os::raw::c_long;

/// Evaluates `6 * 7` in a new isolated interpreter of the host process's
/// Python; -1 (and the error on stderr) if that fails.
#[no_mangle]
pub extern "C" fn interp_downstream_answer() -> c_long {
    match interp_core::Interpreter::new().and_then(|i| i.eval("6 * 7")) {
        Ok(v) => v.as_i64().map_or(-1, |n| n as c_long),
        Err(e) => {
            eprintln!("interp_downstream_answer: {e}");
            -1
        }
    }
}
