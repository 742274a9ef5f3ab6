//! Calls from CPython into Rust: a token for the attached interpreter,
//! errors raised as Python exceptions, panics caught.

use std::ptr::null_mut;

use interp_sys as sys;
use sys::PyObject;

use crate::error::{panic_message, Error};
use crate::scope::{Bound, Python};

/// Sets a Python exception for `err` (in the attached interpreter).
pub(crate) fn raise(py: Python<'_>, err: Error) {
    let (ty, msg) = match err {
        Error::Python(e) => {
            let builtin = if e.module == "builtins" {
                builtin_exception(py, &e.qualname)
            } else {
                None
            };
            match builtin {
                Some(t) => (t, e.message.clone()),
                // SAFETY: reading a static exception type.
                None => (unsafe { sys::PyExc_RuntimeError }, e.to_string()),
            }
        }
        // SAFETY: reading a static exception type.
        Error::Conversion(m) => (unsafe { sys::PyExc_TypeError }, m),
        // SAFETY: reading a static exception type.
        Error::InvalidArgument(m) => (unsafe { sys::PyExc_ValueError }, m),
        // SAFETY: reading a static exception type.
        e @ Error::OutOfMemory(_) => (unsafe { sys::PyExc_MemoryError }, e.to_string()),
        // SAFETY: reading a static exception type.
        other => (unsafe { sys::PyExc_RuntimeError }, other.to_string()),
    };
    set_error(ty, &msg);
}

/// Sets an exception of type `ty` with message `msg` (NULs escaped).
pub(super) fn set_error(ty: *mut PyObject, msg: &str) {
    let c = std::ffi::CString::new(msg.replace('\0', "\\0")).unwrap_or_default();
    // SAFETY: attached (callers hold a token); `ty` is an exception type.
    unsafe { sys::PyErr_SetString(ty, c.as_ptr()) };
}

/// The builtin exception type `name`, if there is one.
fn builtin_exception(py: Python<'_>, name: &str) -> Option<*mut PyObject> {
    let t = py.lookup("builtins", name).ok()?;
    // SAFETY: attached; checking the type of a borrowed builtin.
    let is_exc = unsafe {
        sys::PyType_Check(t.as_ptr()) != 0
            && sys::PyType_IsSubtype(t.as_ptr().cast(), sys::PyExc_BaseException.cast()) != 0
    };
    // Builtin exception types live as long as the interpreter.
    is_exc.then(|| t.as_ptr())
}

/// Runs a callback body with a token for the attached interpreter. `Ok(Some)`
/// is the result; `Ok(None)` means a Python exception is already set; `Err`
/// is raised as a Python exception; a panic becomes `SystemError`. Both
/// failures return `on_err`.
pub(super) fn run<T>(
    on_err: T,
    f: impl for<'py> FnOnce(Python<'py>) -> Result<Option<T>, Error>,
) -> T {
    // SAFETY: CPython calls our slots and methods with the interpreter
    // attached.
    let py = unsafe { Python::assume_attached() };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(py))) {
        Ok(Ok(Some(v))) => v,
        Ok(Ok(None)) => on_err,
        Ok(Err(e)) => {
            raise(py, e);
            on_err
        }
        Err(payload) => {
            // SAFETY: reading a static exception type.
            let system_error = unsafe { sys::PyExc_SystemError };
            let msg = format!(
                "interp: a Rust panic was caught in a Python callback: {}",
                panic_message(&payload)
            );
            set_error(system_error, &msg);
            on_err
        }
    }
}

/// [`run`] for callbacks returning an object (NULL on error).
pub(super) fn wrap(
    f: impl for<'py> FnOnce(Python<'py>) -> Result<Option<*mut PyObject>, Error>,
) -> *mut PyObject {
    run(null_mut(), f)
}

/// A new reference to `None`, as a callback's result.
pub(super) fn none() -> Option<*mut PyObject> {
    // SAFETY: None is immortal.
    Some(unsafe { sys::Py_NewRef(sys::Py_None()) })
}

/// A borrowed argument as an owned `Bound`.
///
/// # Safety
/// `p` must be a valid object of the attached interpreter.
pub(super) unsafe fn borrowed<'py>(py: Python<'py>, p: *mut PyObject) -> Bound<'py> {
    // SAFETY: caller passes a valid object of the attached interpreter.
    unsafe { py.from_borrowed_ptr(p) }
}
