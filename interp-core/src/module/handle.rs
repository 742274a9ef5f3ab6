//! Objects that carry a Rust handle (`SharedBuffer`, `Channel`): their
//! layout, making one, and finding the handle in any of interp's objects
//! (what conversion asks of the module).

use std::ffi::c_void;

use interp_sys as sys;
use sys::PyObject;

use super::frozen_type::{fz, fz_dealloc};
use super::state::state;
use crate::buffer::SharedBuffer;
use crate::error::Result;
use crate::scope::{Bound, Python};
use crate::value::channel::Channel;
use crate::value::Value;

/// Layout of SharedBuffer and Channel objects: a boxed Rust handle.
#[repr(C)]
pub(super) struct HandleObject<T> {
    ob_base: PyObject,
    handle: Option<Box<T>>,
}

/// Creates an instance of heap type `ty` holding `handle`.
///
/// # Safety
/// `ty` must be one of interp's heap types whose instances are
/// `HandleObject<T>`.
pub(super) unsafe fn new_handle_object<'py, T>(
    py: Python<'py>,
    ty: *mut PyObject,
    handle: T,
) -> Result<Bound<'py>> {
    // SAFETY: `ty` is one of our heap types, whose basicsize is
    // size_of::<HandleObject<T>>(); GenericAlloc zero-fills (handle = None).
    unsafe {
        let obj = py.from_owned_ptr(sys::PyType_GenericAlloc(ty.cast(), 0))?;
        (*obj.as_ptr().cast::<HandleObject<T>>()).handle = Some(Box::new(handle));
        Ok(obj)
    }
}

/// The handle of `obj`.
///
/// # Safety
/// `obj` must be an instance of the type holding `HandleObject<T>`, and
/// outlive `'a`.
pub(super) unsafe fn handle_of<'a, T>(obj: *mut PyObject) -> &'a T {
    // SAFETY: callers pass instances of the matching type, whose handle is
    // set right after allocation (tp_new and new_handle_object).
    unsafe {
        (*obj.cast::<HandleObject<T>>())
            .handle
            .as_deref()
            .expect("initialized interp object")
    }
}

/// `tp_dealloc` of the handle types: drops the handle, frees the object.
pub(super) unsafe extern "C" fn handle_dealloc<T>(obj: *mut PyObject) {
    // SAFETY: `obj` is an instance of one of our heap types with this
    // layout; heap-type instances own a reference to their type.
    unsafe {
        let tp = sys::Py_TYPE(obj);
        drop((*obj.cast::<HandleObject<T>>()).handle.take());
        let free: sys::freefunc = std::mem::transmute(sys::PyType_GetSlot(tp, sys::Py_tp_free));
        free(obj.cast());
        sys::Py_DecRef(tp.cast());
    }
}

/// If `obj` is one of this module's shared objects, its Value.
pub(crate) fn shared_value(_py: Python<'_>, obj: &Bound<'_>) -> Option<Value> {
    let p = obj.as_ptr();
    // SAFETY: attached (brand); reading the type of a live object.
    let tp = unsafe { sys::Py_TYPE(p) };
    // SAFETY: attached; reading the flags of a live type.
    if unsafe { sys::PyType_HasFeature(tp, sys::Py_TPFLAGS_HEAPTYPE) } == 0 {
        return None;
    }
    // Recognized by the deallocator in the type's slots: the same in every
    // module object made from our definition, whatever sys.modules holds.
    // SAFETY: attached; reading a slot of a live heap type.
    let dealloc = unsafe { sys::PyType_GetSlot(tp, sys::Py_tp_dealloc) };
    if dealloc == handle_dealloc::<SharedBuffer> as *mut c_void {
        // SAFETY: `p` is a SharedBuffer object (its deallocator says so),
        // alive while `obj` is.
        Some(Value::Buffer(
            unsafe { handle_of::<SharedBuffer>(p) }.clone(),
        ))
    } else if dealloc == handle_dealloc::<Channel> as *mut c_void {
        // SAFETY: `p` is a Channel object (its deallocator says so), alive
        // while `obj` is.
        Some(Value::Channel(unsafe { handle_of::<Channel>(p) }.clone()))
    } else if dealloc == fz_dealloc as *mut c_void {
        // SAFETY: `p` is a Frozen proxy (its deallocator says so), alive
        // while `obj` is, and used under its interpreter only.
        Some(Value::Frozen(unsafe { fz(p) }.handle.as_deref()?.clone()))
    } else {
        None
    }
}

/// Python objects for the shared Value variants.
pub(crate) fn buffer_to_python<'py>(py: Python<'py>, b: &SharedBuffer) -> Result<Bound<'py>> {
    let (_m, st) = state(py)?;
    // SAFETY: state valid while `_m` lives; our SharedBuffer type.
    unsafe { new_handle_object(py, (*st).buffer_type, b.clone()) }
}

/// See [`buffer_to_python`].
pub(crate) fn channel_to_python<'py>(py: Python<'py>, c: &Channel) -> Result<Bound<'py>> {
    let (_m, st) = state(py)?;
    // SAFETY: state valid while `_m` lives; our Channel type.
    unsafe { new_handle_object(py, (*st).channel_type, c.clone()) }
}
