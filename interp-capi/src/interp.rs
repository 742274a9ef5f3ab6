//! Runtime, version, and single interpreters from C (`interp_interpreter_t`).

use std::ffi::{c_char, c_int};

use interp_core::{Interpreter, InterpreterConfig, Runtime};

use crate::error::{ffi, interp_error_t, interp_status_t, need_out, out, CError};
use crate::handle::Registry;
use crate::value::{cstr, interp_value_t, new_value, values};

/// The ABI version of this header. `interp_abi_version()` returns the
/// library's; they must be equal.
pub const INTERP_ABI_VERSION: u32 = 1;

/// The ABI version of the loaded library (compare with `INTERP_ABI_VERSION`).
#[no_mangle]
pub extern "C" fn interp_abi_version() -> u32 {
    INTERP_ABI_VERSION
}

/// The library version, e.g. `"0.1.0 (CPython 3.14.7)"` (static string).
#[no_mangle]
pub extern "C" fn interp_version() -> *const c_char {
    static V: std::sync::OnceLock<std::ffi::CString> = std::sync::OnceLock::new();
    V.get_or_init(|| {
        std::ffi::CString::new(format!(
            "{} (CPython {})",
            env!("CARGO_PKG_VERSION"),
            interp_sys::PYTHON_VERSION
        ))
        .expect("no NUL")
    })
    .as_ptr()
}

/// Initializes the Python runtime (optional: the first pool or interpreter
/// does it). When the host already initialized Python, interp attaches to it.
#[no_mangle]
pub extern "C" fn interp_runtime_init(err: *mut *mut interp_error_t) -> interp_status_t {
    ffi(err, || Runtime::init().map(drop).map_err(CError::from))
}

/// Finalizes Python. Refused (`INTERP_ERR_RUNTIME`) while pools or
/// interpreters are alive; afterwards nothing can run Python in this process.
#[no_mangle]
pub extern "C" fn interp_runtime_finalize(err: *mut *mut interp_error_t) -> interp_status_t {
    ffi(err, || match Runtime::get() {
        Some(rt) => rt.finalize().map_err(CError::from),
        None => Ok(()),
    })
}

/// One interpreter, used from any thread. Free with `interp_interpreter_free`
/// (which ends it).
pub struct interp_interpreter_t {
    _private: [u8; 0],
}

pub(crate) static INTERPRETERS: Registry<Interpreter, interp_interpreter_t> =
    Registry::new(6, "interp_interpreter_t");

/// Creates an interpreter: isolated (own GIL, runs in parallel) when
/// `isolated` is non-zero, else legacy (shared GIL, loads any extension).
#[no_mangle]
pub extern "C" fn interp_interpreter_new(
    isolated: c_int,
    out_i: *mut *mut interp_interpreter_t,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    ffi(err, || {
        need_out(out_i, "out_i")?;
        let cfg = if isolated != 0 {
            InterpreterConfig::isolated()
        } else {
            InterpreterConfig::legacy()
        };
        let i = Interpreter::with_config(cfg)?;
        out(out_i, INTERPRETERS.insert(i), "out_i")
    })
}

/// Runs `source` (NUL-terminated UTF-8) in the interpreter's `__main__`.
#[no_mangle]
pub extern "C" fn interp_interpreter_exec(
    i: *const interp_interpreter_t,
    source: *const c_char,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    ffi(err, || {
        INTERPRETERS
            .get(i)?
            .exec(cstr(source, "source")?)
            .map_err(CError::from)
    })
}

/// Evaluates `expression` in `__main__`; the result goes to `*out_v`.
#[no_mangle]
pub extern "C" fn interp_interpreter_eval(
    i: *const interp_interpreter_t,
    expression: *const c_char,
    out_v: *mut *mut interp_value_t,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    ffi(err, || {
        need_out(out_v, "out_v")?;
        let v = INTERPRETERS.get(i)?.eval(cstr(expression, "expression")?)?;
        out(out_v, new_value(v), "out_v")
    })
}

/// Calls `module.qualname(*args)` (args borrowed); the result goes to `*out_v`.
#[no_mangle]
pub extern "C" fn interp_interpreter_call(
    i: *const interp_interpreter_t,
    module: *const c_char,
    qualname: *const c_char,
    args: *const *const interp_value_t,
    nargs: usize,
    out_v: *mut *mut interp_value_t,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    ffi(err, || {
        need_out(out_v, "out_v")?;
        let args = values(args, nargs, "args")?;
        let v = INTERPRETERS.get(i)?.call(
            cstr(module, "module")?,
            cstr(qualname, "qualname")?,
            &args,
            &[],
        )?;
        out(out_v, new_value(v), "out_v")
    })
}

/// Ends and frees an interpreter. NULL does nothing; a freed or foreign
/// handle gives `INTERP_ERR_INVALID_HANDLE`.
#[no_mangle]
pub extern "C" fn interp_interpreter_free(i: *mut interp_interpreter_t) -> interp_status_t {
    if i.is_null() {
        return interp_status_t::INTERP_OK;
    }
    ffi(std::ptr::null_mut(), || INTERPRETERS.remove(i).map(drop))
}
