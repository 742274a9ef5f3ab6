//! The module's per-interpreter state: its layout, finding it, and the
//! garbage collector's hooks over the references it holds.

use std::ffi::{c_int, c_void};
use std::ptr::null_mut;

use interp_sys as sys;
use sys::PyObject;

use super::{loaded, module};
use crate::error::Result;
use crate::scope::{Bound, Python};

/// Per-interpreter state of the module.
#[repr(C)]
pub(crate) struct ModState {
    pub(crate) buffer_type: *mut PyObject,
    pub(crate) channel_type: *mut PyObject,
    pub(crate) frozen_type: *mut PyObject,
    pub(super) closed_exc: *mut PyObject,
    pub(super) empty_exc: *mut PyObject,
    pub(super) cancelled_exc: *mut PyObject,
    pub(crate) pickle_fallback: c_int,
    /// Proxies of the frozen trees most recently handed to this interpreter
    /// (strong references, newest last), so a tree passed in call after
    /// call keeps its materialized children.
    // Boxed: CPython zero-fills module state, and all-zero bytes are a
    // valid `None` here but not a valid `Vec`.
    #[allow(clippy::box_collection)]
    pub(super) frozen_cache: Option<Box<Vec<(usize, *mut PyObject)>>>,
}

/// How many frozen roots each interpreter keeps proxies for.
pub(super) const FROZEN_CACHE: usize = 16;

/// The state of `module`.
///
/// # Safety
/// `module` must be a module object made from interp's definition.
pub(super) unsafe fn state_of(module: *mut PyObject) -> *mut ModState {
    // SAFETY: the caller passes our module object, whose state is a ModState.
    unsafe { sys::PyModule_GetState(module).cast() }
}

/// The module state of this interpreter's `interp` module (loading it).
/// The returned pointer stays valid while `module` lives.
pub(crate) fn state<'py>(py: Python<'py>) -> Result<(Bound<'py>, *mut ModState)> {
    let m = module(py)?;
    // SAFETY: `m` is our module (checked by `loaded`, or just made).
    let st = unsafe { state_of(m.as_ptr()) };
    Ok((m, st))
}

/// Whether this interpreter allows the pickle fallback (default: yes).
pub(crate) fn pickle_allowed(py: Python<'_>) -> bool {
    match loaded(py) {
        // SAFETY: our module.
        Some(m) => unsafe { (*state_of(m.as_ptr())).pickle_fallback != 0 },
        None => true,
    }
}

impl ModState {
    /// Where the state keeps its strong references to types and exceptions
    /// (the frozen cache aside).
    ///
    /// # Safety
    /// `st` must point to a live ModState.
    unsafe fn object_slots(st: *mut ModState) -> [*mut *mut PyObject; 6] {
        // SAFETY: `st` is live (the contract); this only takes field
        // addresses.
        unsafe {
            [
                &raw mut (*st).buffer_type,
                &raw mut (*st).channel_type,
                &raw mut (*st).frozen_type,
                &raw mut (*st).closed_exc,
                &raw mut (*st).empty_exc,
                &raw mut (*st).cancelled_exc,
            ]
        }
    }
}

/// `m_traverse`: visits the objects the state holds strong references to.
pub(super) unsafe extern "C" fn module_traverse(
    module: *mut PyObject,
    visit: sys::visitproc,
    arg: *mut c_void,
) -> c_int {
    // SAFETY: the GC calls m_traverse on our module, whose state is a
    // ModState (or NULL).
    let st = unsafe { sys::PyModule_GetState(module).cast::<ModState>() };
    if st.is_null() {
        return 0;
    }
    // SAFETY: `st` is our module's live state.
    for slot in unsafe { ModState::object_slots(st) } {
        // SAFETY: `slot` points into the live state, which nothing writes
        // while the GC runs (it holds the interpreter).
        let o = unsafe { *slot };
        if !o.is_null() {
            // SAFETY: `o` is a strong reference the state holds; `visit`
            // and `arg` are the GC's.
            let r = unsafe { visit(o, arg) };
            if r != 0 {
                return r;
            }
        }
    }
    0
}

/// `m_clear`: drops every reference the state holds.
pub(super) unsafe extern "C" fn module_clear(module: *mut PyObject) -> c_int {
    // SAFETY: CPython calls m_clear on our module, whose state is a ModState
    // (or NULL).
    let st = unsafe { sys::PyModule_GetState(module).cast::<ModState>() };
    if st.is_null() {
        return 0;
    }
    // SAFETY: `st` is our module's live state, which only the thread
    // holding its interpreter (this one: m_clear runs attached) touches.
    let cache = unsafe { (*st).frozen_cache.take() };
    for (_, p) in cache.into_iter().flat_map(|c| c.into_iter()) {
        // SAFETY: attached; a strong reference the cache held.
        unsafe { sys::Py_DecRef(p) };
    }
    // SAFETY: `st` is our module's live state.
    for slot in unsafe { ModState::object_slots(st) } {
        // SAFETY: `slot` points into the live state, which only this thread
        // touches.
        let old = unsafe { slot.replace(null_mut()) };
        if !old.is_null() {
            // SAFETY: attached; a strong reference the state held.
            unsafe { sys::Py_DecRef(old) };
        }
    }
    0
}

/// `m_free`: as `m_clear`.
pub(super) unsafe extern "C" fn module_free(module: *mut c_void) {
    // SAFETY: CPython calls m_free with our module, its interpreter
    // attached: m_clear's contract.
    unsafe { module_clear(module.cast()) };
}
