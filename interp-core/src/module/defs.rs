//! Builders for the static tables CPython reads: method, getter and slot
//! definitions, and the `Def` cell that holds them.

use std::cell::UnsafeCell;
use std::ffi::{c_int, CStr};
use std::ptr::{self, null_mut};

use interp_sys as sys;
use sys::PyObject;

/// An immutable definition table that CPython takes by `*mut`.
pub(super) struct Def<T>(pub(super) UnsafeCell<T>);
// SAFETY: CPython only reads these tables (PyModuleDef_Init writes the
// def's base once, under the import lock, idempotently).
unsafe impl<T> Sync for Def<T> {}
impl<T> Def<T> {
    pub(super) const fn new(t: T) -> Self {
        Def(UnsafeCell::new(t))
    }
    pub(super) fn get(&self) -> *mut T {
        self.0.get()
    }
}

/// A `PyMethodDef`: `method!(c"name", pointer, flags, c"doc")`.
macro_rules! method {
    ($name:literal, $f:expr, $flags:expr, $doc:literal) => {
        sys::PyMethodDef {
            ml_name: $name.as_ptr(),
            ml_meth: $f,
            ml_flags: $flags,
            ml_doc: $doc.as_ptr(),
        }
    };
}
pub(super) use method;

/// The flags of a method taking positional and keyword arguments.
pub(super) const VARARGS_KW: c_int = sys::METH_VARARGS | sys::METH_KEYWORDS;

/// The method pointer of a `METH_VARARGS | METH_KEYWORDS` method.
pub(super) const fn kw(
    f: unsafe extern "C" fn(*mut PyObject, *mut PyObject, *mut PyObject) -> *mut PyObject,
) -> sys::PyMethodDefPointer {
    sys::PyMethodDefPointer {
        PyCFunctionWithKeywords: f,
    }
}

/// The method pointer of a `METH_NOARGS` or `METH_O` method.
pub(super) const fn noargs(
    f: unsafe extern "C" fn(*mut PyObject, *mut PyObject) -> *mut PyObject,
) -> sys::PyMethodDefPointer {
    sys::PyMethodDefPointer { PyCFunction: f }
}

/// A read-only attribute.
pub(super) const fn getter(
    name: &'static CStr,
    f: sys::getter,
    doc: &'static CStr,
) -> sys::PyGetSetDef {
    sys::PyGetSetDef {
        name: name.as_ptr(),
        get: Some(f),
        set: None,
        doc: doc.as_ptr(),
        closure: null_mut(),
    }
}

/// The entry that ends a getter table.
pub(super) const fn getset_end() -> sys::PyGetSetDef {
    sys::PyGetSetDef {
        name: ptr::null(),
        get: None,
        set: None,
        doc: ptr::null(),
        closure: null_mut(),
    }
}
