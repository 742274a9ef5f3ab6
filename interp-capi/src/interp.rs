//! Runtime, version, and single interpreters from C (`interp_interpreter_t`).

use std::ffi::{c_char, c_int};
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
#[derive(Debug)]
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
/// encoding on Unix, UTF-8 elsewhere) to `sys.path` of every interpreter,
/// like `PYTHONPATH`: where the modules of functions called by name live.
/// The directories go into `sys.path` in the order added, where
/// `PYTHONPATH` goes: ahead of the standard library; first when interp
/// initializes Python, right after `sys.path[0]` (the script's directory)
/// on a host's Python.
///
/// Returns `INTERP_ERR_INVALID_HANDLE` when `config` is NULL, freed or not
/// a runtime config, `INTERP_ERR_INVALID_ARGUMENT` when `dir` is NULL (or,
/// outside Unix, not UTF-8). The directory itself is checked and made
/// absolute (against the current directory) by `interp_runtime_init_with`,
/// which refuses an empty one with `INTERP_ERR_INVALID_ARGUMENT`.
#[no_mangle]
pub extern "C" fn interp_runtime_config_add_python_path(
    config: *mut interp_runtime_config_t,
    dir: *const c_char,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    ffi(err, || {
        let c = RUNTIME_CONFIGS.get(config)?;
        let dir = path_from_c(dir, "dir")?;
        let mut c = crate::lock(&c);
        *c = std::mem::take(&mut *c).python_path(dir);
        Ok(())
    })
}

/// A file name from C (`what` names the argument): bytes as they are on
/// Unix, UTF-8 elsewhere.
fn path_from_c(s: *const c_char, what: &str) -> Result<PathBuf, CError> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        if s.is_null() {
            return Err(CError::invalid(format!("`{what}` is NULL")));
        }
        // SAFETY: non-NULL; the caller passes a NUL-terminated string.
        let bytes = unsafe { std::ffi::CStr::from_ptr(s) }.to_bytes();
        Ok(std::ffi::OsStr::from_bytes(bytes).into())
    }
    #[cfg(not(unix))]
    {
        cstr(s, what).map(PathBuf::from)
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
        Ok(RUNTIME_CONFIGS.remove(config).map(drop)?)
    })
}

/// Initializes the Python runtime with `config`. Call it before creating
/// any pool or interpreter: once the runtime runs, a different
/// configuration is refused with `INTERP_ERR_RUNTIME` instead of being
/// ignored; the same one (its directories compared once made absolute) is
/// fine, and adds nothing twice. When the host already initialized Python,
/// interp attaches to it and only the python_path directories apply (and
/// are compared). A bad (empty) directory gives
/// `INTERP_ERR_INVALID_ARGUMENT` and leaves the runtime uninitialized; a
/// host `sys.path` that is not a list gives `INTERP_ERR_RUNTIME` and can be
/// retried once fixed.
///
/// NULL asks for no particular configuration: exactly
/// `interp_runtime_init`, which starts the runtime with the defaults or
/// accepts the running one whatever its configuration. A config from
/// `interp_runtime_config_new` holding only the defaults is a request for
/// the defaults, refused if the runtime runs with other options.
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
        let c = crate::lock(&c).clone();
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
#[derive(Debug)]
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
    ffi(std::ptr::null_mut(), || {
        Ok(INTERPRETERS.remove(i).map(drop)?)
    })
}
