//! Runtime, version, and single interpreters from C (`interp_interpreter_t`).

use std::ffi::{c_char, c_int, CStr};
use std::path::PathBuf;
use std::sync::Mutex;

use interp_core::{Interpreter, InterpreterConfig, Runtime, RuntimeConfig};

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

/// Initializes the Python runtime with the defaults (optional: the first
/// pool or interpreter does it), or does nothing when it is initialized.
/// When the host already initialized Python, interp attaches to it.
#[no_mangle]
pub extern "C" fn interp_runtime_init(err: *mut *mut interp_error_t) -> interp_status_t {
    ffi(err, || Runtime::init().map(drop).map_err(CError::from))
}

/// Runtime options for `interp_runtime_init_with`. Create with
/// `interp_runtime_config_new`, free with `interp_runtime_config_free`.
pub struct interp_runtime_config_t {
    _private: [u8; 0],
}

pub(crate) static RUNTIME_CONFIGS: Registry<Mutex<RuntimeConfig>, interp_runtime_config_t> =
    Registry::new(7, "interp_runtime_config_t");

/// Creates runtime options holding the defaults (CPython's isolated
/// configuration, no extra `sys.path` directories).
#[no_mangle]
pub extern "C" fn interp_runtime_config_new(
    out_config: *mut *mut interp_runtime_config_t,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    ffi(err, || {
        need_out(out_config, "out_config")?;
        let c = RUNTIME_CONFIGS.insert(Mutex::new(RuntimeConfig::new()));
        out(out_config, c, "out_config")
    })
}

/// Adds a directory (a NUL-terminated file name, in the file system's
/// encoding; relative to the current directory at init when not absolute)
/// to `sys.path` of every interpreter, like `PYTHONPATH`: where the modules
/// of functions called by name live. The directories go to the front of
/// `sys.path`, in the order added, ahead of the standard library.
#[no_mangle]
pub extern "C" fn interp_runtime_config_add_python_path(
    config: *mut interp_runtime_config_t,
    dir: *const c_char,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    ffi(err, || {
        let c = RUNTIME_CONFIGS.get(config)?;
        if dir.is_null() {
            return Err(CError::invalid("`dir` is NULL"));
        }
        // SAFETY: non-NULL; the caller passes a NUL-terminated string.
        let bytes = unsafe { CStr::from_ptr(dir) }.to_bytes();
        if bytes.is_empty() {
            return Err(CError::invalid(
                "`dir` is empty; give the directory that holds the modules",
            ));
        }
        let dir = path_from_c(bytes)?;
        let mut c = c.lock().unwrap_or_else(|e| e.into_inner());
        *c = std::mem::take(&mut *c).python_path(dir);
        Ok(())
    })
}

/// A file name from C: bytes as they are on Unix, UTF-8 elsewhere.
fn path_from_c(bytes: &[u8]) -> Result<PathBuf, CError> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        Ok(std::ffi::OsStr::from_bytes(bytes).into())
    }
    #[cfg(not(unix))]
    {
        std::str::from_utf8(bytes)
            .map(PathBuf::from)
            .map_err(|e| CError::invalid(format!("`dir` is not valid UTF-8: {e}")))
    }
}

/// Frees runtime options (the runtime keeps what it was initialized with).
/// NULL does nothing; a freed or foreign handle gives
/// `INTERP_ERR_INVALID_HANDLE`.
#[no_mangle]
pub extern "C" fn interp_runtime_config_free(
    config: *mut interp_runtime_config_t,
) -> interp_status_t {
    if config.is_null() {
        return interp_status_t::INTERP_OK;
    }
    ffi(std::ptr::null_mut(), || {
        RUNTIME_CONFIGS.remove(config).map(drop)
    })
}

/// Initializes the Python runtime with `config` (NULL: the defaults, as
/// `interp_runtime_init`). Call it before creating any pool or interpreter:
/// once the runtime runs, a different configuration is refused with
/// `INTERP_ERR_RUNTIME` instead of being ignored (the same one is fine).
/// When the host already initialized Python, interp attaches to it and only
/// the python_path directories apply. A bad directory gives
/// `INTERP_ERR_INVALID_ARGUMENT` and leaves the runtime uninitialized.
#[no_mangle]
pub extern "C" fn interp_runtime_init_with(
    config: *const interp_runtime_config_t,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    ffi(err, || {
        if config.is_null() {
            return Runtime::init().map(drop).map_err(CError::from);
        }
        let c = RUNTIME_CONFIGS.get(config)?;
        let c = c.lock().unwrap_or_else(|e| e.into_inner()).clone();
        Runtime::init_with(c).map(drop).map_err(CError::from)
    })
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
