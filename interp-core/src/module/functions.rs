//! The module's functions: `interpreter_id()`, `freeze()`,
//! `set_pickle_fallback()`, `pickle_fallback()`.

use interp_sys as sys;
use sys::PyObject;

use super::defs::{method, Def};
use super::frozen_type::new_frozen_proxy;
use super::state::state_of;
use super::trampoline::{borrowed, none, wrap};
use crate::value::frozen::Frozen;
use crate::value::Value;

/// The module's method table.
pub(super) static MODULE_METHODS: Def<[sys::PyMethodDef; 5]> = Def::new([
    method!(c"interpreter_id", sys::PyMethodDefPointer { PyCFunction: m_interpreter_id }, sys::METH_NOARGS,
        c"interpreter_id()\n--\n\nThe id of the interpreter running this code (0 is the main one)."),
    method!(c"freeze", sys::PyMethodDefPointer { PyCFunction: m_freeze }, sys::METH_O,
        c"freeze(obj)\n--\n\nA read-only interp.Frozen copy of obj (None, bool, int, float, str, bytes, tuple, list, dict), shared by reference with every interpreter it is sent to: tuples arrive there as real tuples (built once per interpreter), dicts as read-only interp.Frozen proxies."),
    method!(c"set_pickle_fallback", sys::PyMethodDefPointer { PyCFunction: m_set_pickle }, sys::METH_O,
        c"set_pickle_fallback(enabled)\n--\n\nWhether objects of other types may cross interpreters pickled (default True). When False, sending them raises TypeError."),
    method!(c"pickle_fallback", sys::PyMethodDefPointer { PyCFunction: m_get_pickle }, sys::METH_NOARGS,
        c"pickle_fallback()\n--\n\nWhether objects of other types cross interpreters pickled."),
    sys::PyMethodDef::zeroed(),
]);

unsafe extern "C" fn m_interpreter_id(_m: *mut PyObject, _a: *mut PyObject) -> *mut PyObject {
    wrap(|py| Ok(Some(py.value(&Value::Int(py.interpreter_id()))?.into_ptr())))
}

unsafe extern "C" fn m_freeze(_m: *mut PyObject, obj: *mut PyObject) -> *mut PyObject {
    wrap(|py| {
        // SAFETY: METH_O passes a valid borrowed object.
        let obj = unsafe { borrowed(py, obj) };
        let frozen = Frozen::from_value(&obj.to_value()?)?;
        Ok(Some(new_frozen_proxy(py, &frozen)?.into_ptr()))
    })
}

unsafe extern "C" fn m_set_pickle(m: *mut PyObject, flag: *mut PyObject) -> *mut PyObject {
    wrap(|_py| {
        // SAFETY: `m` is our module; `flag` a valid object.
        unsafe {
            let t = sys::PyObject_IsTrue(flag);
            if t < 0 {
                return Ok(None);
            }
            (*state_of(m)).pickle_fallback = t;
        }
        Ok(none())
    })
}

unsafe extern "C" fn m_get_pickle(m: *mut PyObject, _a: *mut PyObject) -> *mut PyObject {
    // SAFETY: `m` is our module.
    let on = unsafe { (*state_of(m)).pickle_fallback } != 0;
    wrap(|py| Ok(Some(py.value(&Value::Bool(on))?.into_ptr())))
}
