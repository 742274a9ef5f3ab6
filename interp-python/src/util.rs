//! Small FFI helpers: owned main-interpreter references, raising errors,
//! entry points with panic safety, capsules, argument access.

use std::ffi::{c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::null_mut;

use interp_core::{Error, Python};
use interp_sys as sys;
use sys::PyObject;

/// An owned (strong) reference to an object of the **main** interpreter,
/// movable between threads. It is only dereferenced, and released, with the
/// main interpreter attached on the current thread.
pub(crate) struct MainRef(pub(crate) *mut PyObject);

// SAFETY: the pointer is only used under the main interpreter's GIL (every
// use site documents it); moving the number between threads is harmless.
unsafe impl Send for MainRef {}
// SAFETY: as above; shared access never touches the object without the GIL.
unsafe impl Sync for MainRef {}

impl MainRef {
    /// Releases the reference.
    ///
    /// # Safety
    /// The main interpreter must be attached on this thread.
    pub(crate) unsafe fn release(self) {
        if !self.0.is_null() {
            // SAFETY: the caller holds the main GIL; we own this reference.
            unsafe { sys::Py_DecRef(self.0) };
        }
    }
}

/// Sets a Python exception of type `ty` with `msg`.
pub(crate) fn set_error(ty: *mut PyObject, msg: &str) {
    let c = CString::new(msg.replace('\0', "\\0")).unwrap_or_default();
    // SAFETY: callers hold the GIL of the interpreter `ty` belongs to
    // (static builtin exception types are shared by all interpreters).
    unsafe { sys::PyErr_SetString(ty, c.as_ptr()) };
}

/// Raises `err` as a Python exception of the attached interpreter: a
/// built-in exception type keeps its type, conversions are `TypeError`,
/// bad arguments `ValueError`, the rest `RuntimeError`.
pub(crate) fn raise(py: Python<'_>, err: Error) {
    // SAFETY: (whole block) reading static exception types; attached.
    let (ty, msg) = unsafe {
        match err {
            Error::Python(e) => {
                let builtin = if e.module == "builtins" {
                    py.lookup("builtins", &e.qualname).ok().filter(|t| {
                        sys::PyType_Check(t.as_ptr()) != 0
                            && sys::PyType_IsSubtype(
                                t.as_ptr().cast(),
                                sys::PyExc_BaseException.cast(),
                            ) != 0
                    })
                } else {
                    None
                };
                match builtin {
                    // Built-in exception types live as long as the interpreter.
                    Some(t) => (t.as_ptr(), e.message.clone()),
                    None => (sys::PyExc_RuntimeError, e.to_string()),
                }
            }
            Error::Conversion(m) => (sys::PyExc_TypeError, m),
            Error::InvalidArgument(m) => (sys::PyExc_ValueError, m),
            // Already a RuntimeError: no "runtime error: " prefix.
            Error::Runtime(m) => (sys::PyExc_RuntimeError, m),
            other => (sys::PyExc_RuntimeError, other.to_string()),
        }
    };
    set_error(ty, &msg);
}

/// The body of a native function: `Ok(ptr)` is returned (a new reference),
/// `Err` raised; a NULL `Ok` means an exception is already set. A panic
/// becomes `SystemError`.
pub(crate) fn entry(
    f: impl for<'py> FnOnce(Python<'py>) -> Result<*mut PyObject, Error>,
) -> *mut PyObject {
    // SAFETY: CPython calls module functions with their interpreter
    // attached, for the whole call.
    unsafe {
        Python::with_attached(|py| match catch_unwind(AssertUnwindSafe(|| f(py))) {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => {
                raise(py, e);
                null_mut()
            }
            Err(_) => {
                set_error(
                    sys::PyExc_SystemError,
                    "interp: a Rust panic was caught in interp._native (a bug; please report it)",
                );
                null_mut()
            }
        })
    }
}

/// Fails unless the main interpreter runs this code.
pub(crate) fn main_only(what: &str) -> Result<(), Error> {
    // SAFETY: attached (callers are native functions); reads runtime state.
    let is_main = unsafe { sys::PyInterpreterState_Get() == sys::PyInterpreterState_Main() };
    if is_main {
        Ok(())
    } else {
        Err(Error::Runtime(format!(
            "{what} can only be used in the main interpreter, not inside a worker interpreter. \
             If your script creates an executor at import time, put that code under \
             `if __name__ == \"__main__\":` (workers load the script under another name)."
        )))
    }
}

/// `None`, as a new reference.
pub(crate) fn none() -> *mut PyObject {
    // SAFETY: None is immortal and valid in every interpreter.
    unsafe { sys::Py_NewRef(sys::Py_None()) }
}

/// `True`/`False`, as a new reference.
pub(crate) fn boolean(b: bool) -> *mut PyObject {
    // SAFETY: the booleans are immortal and valid in every interpreter.
    unsafe { sys::Py_NewRef(if b { sys::Py_True() } else { sys::Py_False() }) }
}

/// Positional argument `i` of a METH_FASTCALL call, borrowed.
///
/// # Safety
/// `args` holds `nargs` valid borrowed objects.
pub(crate) unsafe fn arg(
    args: *mut *mut PyObject,
    nargs: sys::Py_ssize_t,
    i: usize,
    func: &str,
    want: usize,
) -> Result<*mut PyObject, Error> {
    if nargs as usize != want {
        return Err(Error::Conversion(format!(
            "{func}() takes {want} arguments ({nargs} given)"
        )));
    }
    // SAFETY: bounds checked above; CPython passes valid pointers.
    Ok(unsafe { *args.add(i) })
}

/// Makes a capsule owning `value` (dropped by the capsule's destructor).
pub(crate) fn capsule<T>(
    value: T,
    name: &'static CStr,
    destructor: sys::PyCapsule_Destructor,
) -> Result<*mut PyObject, Error> {
    let raw = Box::into_raw(Box::new(value));
    // SAFETY: attached (native functions); `raw` is a valid heap pointer the
    // capsule owns from here on; `name` is static.
    let cap = unsafe { sys::PyCapsule_New(raw.cast::<c_void>(), name.as_ptr(), Some(destructor)) };
    if cap.is_null() {
        // SAFETY: the capsule was not made, so we still own `raw`.
        drop(unsafe { Box::from_raw(raw) });
        return Err(Error::Runtime("could not allocate a capsule".into()));
    }
    Ok(cap)
}

/// The value inside a capsule made by [`capsule`] with `name`.
///
/// # Safety
/// A capsule of that name must have been made by [`capsule`] with a `T`.
pub(crate) unsafe fn from_capsule<'a, T>(
    obj: *mut PyObject,
    name: &CStr,
    what: &str,
) -> Result<&'a T, Error> {
    // SAFETY: GetPointer checks the type and name and returns NULL (with an
    // exception) otherwise.
    let p = unsafe { sys::PyCapsule_GetPointer(obj, name.as_ptr()) };
    if p.is_null() {
        // SAFETY: attached; drop the capsule's own error for a clearer one.
        unsafe { sys::PyErr_Clear() };
        return Err(Error::Conversion(format!("expected {what}")));
    }
    // SAFETY: per the contract, `p` is a live Box<T> owned by the capsule,
    // which the caller's borrowed argument keeps alive.
    Ok(unsafe { &*p.cast::<T>() })
}

/// Seconds from a Python `None`/number argument.
pub(crate) fn seconds(
    py: Python<'_>,
    obj: *mut PyObject,
    what: &str,
) -> Result<Option<std::time::Duration>, Error> {
    // SAFETY: attached; `obj` is a valid borrowed object.
    let b = unsafe { py.from_borrowed_ptr(obj) };
    if b.is_none() {
        return Ok(None);
    }
    let secs = b.to_value()?.as_f64().ok_or_else(|| {
        Error::Conversion(format!(
            "{what} must be None or a number of seconds, not '{}'",
            b.type_name()
        ))
    })?;
    if secs.is_nan() {
        return Err(Error::InvalidArgument(format!(
            "{what} must be a number of seconds, got nan"
        )));
    }
    // `inf` is "no limit": longer than any process lives.
    if secs < 0.0 {
        return Err(Error::InvalidArgument(format!(
            "{what} must be >= 0, got {secs}"
        )));
    }
    Ok(Some(std::time::Duration::from_secs_f64(secs.min(1e9))))
}

/// Whether the runtime is shutting down (no thread may attach then).
pub(crate) fn finalizing() -> bool {
    sys::is_finalizing()
}

/// Takes the pending Python exception as an [`Error`].
pub(crate) fn take_error(py: Python<'_>) -> Error {
    // SAFETY: attached; a NULL "result" makes the token fetch the pending
    // exception (or report that none was set).
    match unsafe { py.from_owned_ptr(null_mut()) } {
        Err(e) => e,
        Ok(_) => Error::Runtime("no exception was set".into()),
    }
}
