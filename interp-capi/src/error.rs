//! Status codes and error objects (`interp_error_t`).

use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::null;

use interp_core::{panic_message, Error};
use interp_pool::{PoolError, TaskError};

use crate::handle::{InvalidHandle, Registry};

/// The result of every fallible call. `INTERP_OK` is 0.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum interp_status_t {
    /// Success.
    INTERP_OK = 0,
    /// Python code raised; the error object has the exception's type name,
    /// message and traceback.
    INTERP_ERR_PYTHON = 1,
    /// An argument was wrong (NULL where a value is needed, invalid UTF-8,
    /// a bad shape, ...); the message says which.
    INTERP_ERR_INVALID_ARGUMENT = 2,
    /// A NULL, freed, foreign, or wrong-type handle.
    INTERP_ERR_INVALID_HANDLE = 3,
    /// A value could not cross interpreters, or has another type than the
    /// accessor expects.
    INTERP_ERR_CONVERSION = 4,
    /// The task was cancelled (or a blocking call was).
    INTERP_ERR_CANCELLED = 5,
    /// The task ran past its timeout and was interrupted.
    INTERP_ERR_TIMEOUT = 6,
    /// The pool was shut down.
    INTERP_ERR_SHUTDOWN = 7,
    /// The channel is closed (and, for a receive, drained).
    INTERP_ERR_CLOSED = 8,
    /// Not ready yet: a wait that timed out (the task keeps running), an
    /// empty channel, or a full one.
    INTERP_PENDING = 9,
    /// The worker running the task had to be replaced.
    INTERP_ERR_WORKER_LOST = 10,
    /// The runtime could not start, or refused (e.g. finalize while
    /// interpreters are open).
    INTERP_ERR_RUNTIME = 11,
    /// A bug in interp (a caught Rust panic); the message says where.
    INTERP_ERR_PANIC = 12,
    /// Memory for data of a size the caller gave (a `str`, `bytes`, `int`
    /// or container made from C data, a shared buffer, an int's decimal
    /// text) could not be had; the message names what and how big. Nothing
    /// was made; the process goes on.
    INTERP_ERR_OUT_OF_MEMORY = 13,
}

use interp_status_t::*;

/// An error: status, message, and for Python exceptions the type name and
/// formatted traceback. Owned by the caller; free with `interp_error_free`.
#[derive(Debug)]
pub struct interp_error_t {
    _private: [u8; 0],
}

/// What an error handle holds: owned C strings, never Python objects.
#[derive(Debug)]
pub(crate) struct CError {
    pub(crate) status: interp_status_t,
    message: CString,
    type_name: Option<CString>,
    traceback: Option<CString>,
}

fn cstring(s: String) -> CString {
    CString::new(s.replace('\0', "\\0")).expect("NULs replaced")
}

impl CError {
    pub(crate) fn new(status: interp_status_t, message: impl Into<String>) -> CError {
        CError {
            status,
            message: cstring(message.into()),
            type_name: None,
            traceback: None,
        }
    }

    pub(crate) fn invalid_handle(message: String) -> CError {
        CError::new(INTERP_ERR_INVALID_HANDLE, message)
    }

    pub(crate) fn invalid(message: impl Into<String>) -> CError {
        CError::new(INTERP_ERR_INVALID_ARGUMENT, message)
    }

    /// `INTERP_ERR_OUT_OF_MEMORY`: `bytes` could not be allocated for
    /// `what`.
    pub(crate) fn out_of_memory(what: &str, bytes: usize) -> CError {
        Error::OutOfMemory(format!("could not allocate {bytes} bytes for {what}")).into()
    }
}

impl From<Error> for CError {
    fn from(e: Error) -> CError {
        match e {
            Error::Python(x) => CError {
                status: INTERP_ERR_PYTHON,
                message: cstring(x.to_string()),
                type_name: Some(cstring(x.type_name())),
                traceback: Some(cstring(x.traceback.clone())),
            },
            Error::Conversion(m) => CError::new(INTERP_ERR_CONVERSION, m),
            Error::InvalidArgument(m) => CError::new(INTERP_ERR_INVALID_ARGUMENT, m),
            e @ Error::OutOfMemory(_) => CError::new(INTERP_ERR_OUT_OF_MEMORY, e.to_string()),
            other => CError::new(INTERP_ERR_RUNTIME, other.to_string()),
        }
    }
}

impl From<TaskError> for CError {
    fn from(e: TaskError) -> CError {
        match e {
            TaskError::Python(x) => Error::Python(x).into(),
            TaskError::Conversion(m) => CError::new(INTERP_ERR_CONVERSION, m),
            TaskError::Cancelled => CError::new(INTERP_ERR_CANCELLED, "task cancelled"),
            TaskError::TimedOut => {
                CError::new(INTERP_ERR_TIMEOUT, "task timed out and was interrupted")
            }
            TaskError::Shutdown => CError::new(INTERP_ERR_SHUTDOWN, e.to_string()),
            TaskError::WorkerLost(m) => CError::new(INTERP_ERR_WORKER_LOST, m),
            other => CError::new(INTERP_ERR_RUNTIME, other.to_string()),
        }
    }
}

impl From<PoolError> for CError {
    fn from(e: PoolError) -> CError {
        match e {
            PoolError::Shutdown => CError::new(INTERP_ERR_SHUTDOWN, e.to_string()),
            PoolError::Init(e) => {
                let mut c = CError::from(e.clone());
                c.message = cstring(format!(
                    "a pool worker could not start: {}",
                    c.message.to_string_lossy()
                ));
                c
            }
            PoolError::InvalidArgument(m) => CError::new(INTERP_ERR_INVALID_ARGUMENT, m),
            other => CError::new(INTERP_ERR_RUNTIME, other.to_string()),
        }
    }
}

impl From<InvalidHandle> for CError {
    fn from(InvalidHandle(message): InvalidHandle) -> CError {
        CError::invalid_handle(message)
    }
}

pub(crate) static ERRORS: Registry<CError, interp_error_t> = Registry::new(1, "interp_error_t");

/// Runs an FFI body: panics are caught, errors stored in `*err` (when `err`
/// is not NULL) and turned into the status.
pub(crate) fn ffi(
    err: *mut *mut interp_error_t,
    f: impl FnOnce() -> Result<(), CError>,
) -> interp_status_t {
    let r = catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|p| {
        Err(CError::new(
            INTERP_ERR_PANIC,
            format!(
                "interp bug: a Rust panic was caught at the C boundary: {}",
                panic_message(&p)
            ),
        ))
    });
    match r {
        Ok(()) => {
            if !err.is_null() {
                // SAFETY: the caller passes a writable `interp_error_t **`.
                unsafe { *err = std::ptr::null_mut() };
            }
            INTERP_OK
        }
        Err(e) => {
            let status = e.status;
            if !err.is_null() {
                // SAFETY: the caller passes a writable `interp_error_t **`
                // (NULL excluded above).
                unsafe { *err = ERRORS.insert(e) };
            }
            status
        }
    }
}

/// Refuses a NULL out-parameter (check before making what goes into it).
pub(crate) fn need_out<T>(p: *mut T, name: &str) -> Result<(), CError> {
    if p.is_null() {
        return Err(CError::invalid(format!(
            "`{name}` (an out-parameter) is NULL"
        )));
    }
    Ok(())
}

/// Writes `value` through an out-pointer, refusing NULL.
pub(crate) fn out<T>(p: *mut T, value: T, name: &str) -> Result<(), CError> {
    if p.is_null() {
        return Err(CError::invalid(format!(
            "`{name}` (an out-parameter) is NULL"
        )));
    }
    // SAFETY: non-NULL, and the caller passes a writable pointer.
    unsafe { p.write(value) };
    Ok(())
}

/// The status of an error. `INTERP_ERR_INVALID_HANDLE` for an invalid handle.
#[no_mangle]
pub extern "C" fn interp_error_status(err: *const interp_error_t) -> interp_status_t {
    catch_unwind(|| {
        ERRORS
            .get(err)
            .map(|e| e.status)
            .unwrap_or(INTERP_ERR_INVALID_HANDLE)
    })
    .unwrap_or(INTERP_ERR_PANIC)
}

/// The error message (UTF-8, NUL-terminated). Owned by the error: valid until
/// `interp_error_free`. An empty string for NULL or an invalid handle, so it
/// is always safe to print.
#[no_mangle]
pub extern "C" fn interp_error_message(err: *const interp_error_t) -> *const c_char {
    // The CString lives in the registry entry until the error is freed.
    catch_unwind(|| {
        ERRORS
            .get(err)
            .map(|e| e.message.as_ptr())
            .unwrap_or(c"".as_ptr())
    })
    .unwrap_or(c"".as_ptr())
}

/// For `INTERP_ERR_PYTHON`: the exception type's qualified name
/// (`"ValueError"`, `"json.decoder.JSONDecodeError"`); NULL otherwise.
/// Owned by the error.
#[no_mangle]
pub extern "C" fn interp_error_type_name(err: *const interp_error_t) -> *const c_char {
    catch_unwind(|| {
        ERRORS
            .get(err)
            .ok()
            .and_then(|e| e.type_name.as_ref().map(|s| s.as_ptr()))
            .unwrap_or(null())
    })
    .unwrap_or(null())
}

/// For `INTERP_ERR_PYTHON`: the formatted traceback; NULL otherwise. Owned
/// by the error.
#[no_mangle]
pub extern "C" fn interp_error_traceback(err: *const interp_error_t) -> *const c_char {
    catch_unwind(|| {
        ERRORS
            .get(err)
            .ok()
            .and_then(|e| e.traceback.as_ref().map(|s| s.as_ptr()))
            .unwrap_or(null())
    })
    .unwrap_or(null())
}

/// Frees an error. Freeing NULL does nothing; freeing twice (or a foreign
/// pointer) returns `INTERP_ERR_INVALID_HANDLE`.
#[no_mangle]
pub extern "C" fn interp_error_free(err: *mut interp_error_t) -> interp_status_t {
    if err.is_null() {
        return INTERP_OK;
    }
    catch_unwind(|| match ERRORS.remove(err) {
        Ok(_) => INTERP_OK,
        Err(_) => INTERP_ERR_INVALID_HANDLE,
    })
    .unwrap_or(INTERP_ERR_PANIC)
}

/// A static, NUL-terminated name for a status code (`"INTERP_ERR_PYTHON"`),
/// or `"unknown status"`.
#[no_mangle]
pub extern "C" fn interp_status_name(status: std::ffi::c_int) -> *const c_char {
    const NAMES: [&std::ffi::CStr; 14] = [
        c"INTERP_OK",
        c"INTERP_ERR_PYTHON",
        c"INTERP_ERR_INVALID_ARGUMENT",
        c"INTERP_ERR_INVALID_HANDLE",
        c"INTERP_ERR_CONVERSION",
        c"INTERP_ERR_CANCELLED",
        c"INTERP_ERR_TIMEOUT",
        c"INTERP_ERR_SHUTDOWN",
        c"INTERP_ERR_CLOSED",
        c"INTERP_PENDING",
        c"INTERP_ERR_WORKER_LOST",
        c"INTERP_ERR_RUNTIME",
        c"INTERP_ERR_PANIC",
        c"INTERP_ERR_OUT_OF_MEMORY",
    ];
    usize::try_from(status)
        .ok()
        .and_then(|i| NAMES.get(i))
        .unwrap_or(&c"unknown status")
        .as_ptr()
}
