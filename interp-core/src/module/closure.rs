//! Python callables made from Rust closures ([`Python::function`]): a
//! builtin function whose `self` is a capsule owning the closure.

use std::ffi::{c_void, CStr};

use interp_sys as sys;
use sys::PyObject;

use super::defs::{method, Def};
use super::trampoline::{borrowed, wrap};
use crate::error::Result;
use crate::scope::{Bound, Python};

/// What a Rust-made Python function runs: the positional arguments in, a
/// new object out (an `Err` is raised as a Python exception).
type Body = dyn for<'py> Fn(Python<'py>, &[Bound<'py>]) -> Result<Bound<'py>> + Send + Sync;

/// The capsule name (checked when the capsule is opened).
const CAPSULE: &CStr = c"interp.function";

/// The one method definition all such functions share; their capsule says
/// which closure runs.
static CLOSURE_DEF: Def<sys::PyMethodDef> = Def::new(method!(
    c"function",
    sys::PyMethodDefPointer { PyCFunction: call },
    sys::METH_VARARGS,
    c"A function implemented in Rust."
));

unsafe extern "C" fn drop_capsule(cap: *mut PyObject) {
    // SAFETY: CPython calls the destructor once, with our capsule, whose
    // pointer came from `Box::into_raw` of a `Box<Box<Body>>`.
    unsafe {
        let p = sys::PyCapsule_GetPointer(cap, CAPSULE.as_ptr());
        if p.is_null() {
            sys::PyErr_Clear();
            return;
        }
        drop(Box::from_raw(p.cast::<Box<Body>>()));
    }
}

unsafe extern "C" fn call(cap: *mut PyObject, args: *mut PyObject) -> *mut PyObject {
    wrap(|py| {
        // SAFETY: `cap` is the capsule this function was made with (its
        // `self`), which the function object keeps alive during the call;
        // METH_VARARGS passes a tuple.
        let (body, items) = unsafe {
            let p = sys::PyCapsule_GetPointer(cap, CAPSULE.as_ptr());
            if p.is_null() {
                return Ok(None);
            }
            let body: &Body = &**p.cast::<Box<Body>>();
            let n = sys::PyTuple_GET_SIZE(args);
            let items: Vec<Bound<'_>> = (0..n)
                .map(|i| borrowed(py, sys::PyTuple_GET_ITEM(args, i)))
                .collect();
            (body, items)
        };
        Ok(Some(body(py, &items)?.into_ptr()))
    })
}

impl<'py> Python<'py> {
    /// A Python function (positional arguments only) that runs `f` — for
    /// Python code of this interpreter to call back into Rust, such as an
    /// event loop's reader callback. `f` lives as long as the function
    /// object; an `Err` it returns is raised as the matching Python
    /// exception, a panic as `SystemError`.
    ///
    /// ```
    /// use interp_core::{Interpreter, Value};
    /// let i = Interpreter::new()?;
    /// let got = i.enter(|py| {
    ///     let twice = py.function(|py, args| {
    ///         let n = args[0].to_value()?.as_i64().unwrap_or(0);
    ///         py.value(&Value::Int(2 * n))
    ///     })?;
    ///     twice.call(&[py.value(&Value::Int(21))?], &[])?.to_value()
    /// })?;
    /// assert_eq!(got, Value::Int(42));
    /// # Ok::<(), interp_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// A Python error when the function object cannot be made.
    pub fn function<F>(self, f: F) -> Result<Bound<'py>>
    where
        F: for<'a> Fn(Python<'a>, &[Bound<'a>]) -> Result<Bound<'a>> + Send + Sync + 'static,
    {
        let body: Box<Box<Body>> = Box::new(Box::new(f));
        let raw = Box::into_raw(body);
        // SAFETY: attached (token). The capsule owns `raw` from here on
        // (its destructor frees it); on failure we free it ourselves.
        unsafe {
            let cap =
                sys::PyCapsule_New(raw.cast::<c_void>(), CAPSULE.as_ptr(), Some(drop_capsule));
            if cap.is_null() {
                drop(Box::from_raw(raw));
                return Err(self.take_error());
            }
            let cap = self.from_owned_ptr(cap)?;
            // The function holds its own reference to the capsule.
            self.from_owned_ptr(sys::PyCFunction_NewEx(
                CLOSURE_DEF.get(),
                cap.as_ptr(),
                std::ptr::null_mut(),
            ))
        }
    }
}

impl<'py> Bound<'py> {
    /// The items of a sequence (a tuple or list: read without calls into
    /// Python code; another iterable: iterated), as owned references.
    ///
    /// ```
    /// use interp_core::{Interpreter, Value};
    /// let i = Interpreter::new()?;
    /// let (n, first) = i.enter(|py| {
    ///     let items = py.eval("(x * x for x in range(4))")?.items()?;
    ///     Ok::<_, interp_core::Error>((items.len(), items[3].to_value()?))
    /// })?;
    /// assert_eq!((n, first), (4, Value::Int(9)));
    /// assert!(i.enter(|py| py.eval("42")?.items().map(|v| v.len())).is_err(), "not iterable");
    /// # Ok::<(), interp_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// `TypeError` (as [`Error::Python`](crate::Error::Python)) when the
    /// object is not iterable, or what iterating it raised.
    pub fn items(&self) -> Result<Vec<Bound<'py>>> {
        let py = self.py();
        // SAFETY: attached (a `Bound` carries its token); PySequence_Tuple
        // returns a new tuple (or NULL with an exception set), whose items
        // are valid borrowed references while we hold the tuple.
        unsafe {
            let t = py.from_owned_ptr(sys::PySequence_Tuple(self.as_ptr()))?;
            let n = sys::PyTuple_GET_SIZE(t.as_ptr());
            Ok((0..n)
                .map(|i| borrowed(py, sys::PyTuple_GET_ITEM(t.as_ptr(), i)))
                .collect())
        }
    }
}
