//! The `interp` module, importable in every interpreter (the main one
//! included): its definition and its loading. `SharedBuffer`, `Channel`,
//! `Frozen`, `freeze()`, `interpreter_id()`, pickle-fallback control and the
//! channel exceptions.
//!
//! Multi-phase init, heap types made per module object, all state in the
//! module's per-interpreter state, `Py_mod_multiple_interpreters =
//! per-interpreter GIL supported`. The only statics are the immutable
//! definitions (`PyModuleDef`, type specs, slot and method tables): no static
//! `PyTypeObject`, no global `PyObject*`.
//!
//! Where the parts live:
//! - `state`: the per-interpreter state and the GC hooks over it;
//! - `functions`: the module's functions;
//! - `buffer_type`, `channel_type`, `frozen_type`: the three Python types;
//! - `handle`: the layout of objects that carry a Rust handle, and what
//!   conversion asks of the module (recognizing and making interp's objects);
//! - `trampoline`: calls from CPython into Rust (errors raised, panics
//!   caught); `args`: argument parsing; `defs`: the static tables' builders.
//!
//! The exec slot makes the types, and the types' methods find the module
//! state by loading the module: that recursion is inherent in a module
//! that defines types, and stays inside this folder. Conversion
//! (`conversion/`) builds on this module; this module reaches it only
//! through `Python::value` and `Bound::to_value`.

#![allow(clippy::missing_safety_doc)]

use std::ffi::{c_int, c_void, CStr};
use std::ptr::null_mut;

use interp_sys as sys;
use sys::{PyObject, Py_ssize_t};

use crate::error::{Error, Result};
use crate::scope::{Bound, Python};

mod args;
mod buffer_type;
mod channel_type;
mod closure;
mod defs;
mod frozen_type;
mod functions;
mod handle;
mod state;
mod trampoline;

pub(crate) use frozen_type::frozen_to_python;
pub(crate) use handle::{buffer_to_python, channel_to_python, shared_value};
pub(crate) use state::{pickle_allowed, ModState};

use buffer_type::BUFFER_SPEC;
use channel_type::CHANNEL_SPEC;
use defs::Def;
use frozen_type::FROZEN_SPEC;
use functions::MODULE_METHODS;
use state::{module_clear, module_free, module_traverse, state_of};

// What the type files take with `use super::*`.
use {
    crate::buffer::SharedBuffer,
    crate::value::channel::{Channel, RecvError, RecvTimeoutError, SendTimeoutError, TryRecvError},
    crate::value::frozen::{Frozen, Node},
    crate::value::Value,
    args::{arg, check_args, deadline, type_error},
    defs::{getset_end, getter, kw, method, noargs, VARARGS_KW},
    handle::{handle_dealloc, handle_of, new_handle_object, HandleObject},
    state::{state, FROZEN_CACHE},
    trampoline::{borrowed, none, run, set_error, wrap},
};

// ---- module definition ------------------------------------------------------

static MODULE_SLOTS: Def<[sys::PyModuleDef_Slot; 3]> = Def::new([
    sys::PyModuleDef_Slot {
        slot: sys::Py_mod_exec,
        value: module_exec as *mut c_void,
    },
    sys::PyModuleDef_Slot {
        slot: sys::Py_mod_multiple_interpreters,
        value: sys::Py_MOD_PER_INTERPRETER_GIL_SUPPORTED,
    },
    sys::PyModuleDef_Slot {
        slot: 0,
        value: null_mut(),
    },
]);

static MODULE_DEF: Def<sys::PyModuleDef> = Def::new(sys::PyModuleDef {
    m_base: sys::PyModuleDef_HEAD_INIT,
    m_name: c"interp".as_ptr(),
    m_doc: c"Data shared between interpreters: SharedBuffer, Channel, Frozen.".as_ptr(),
    m_size: std::mem::size_of::<ModState>() as Py_ssize_t,
    m_methods: MODULE_METHODS.0.get() as *mut sys::PyMethodDef,
    m_slots: MODULE_SLOTS.0.get() as *mut sys::PyModuleDef_Slot,
    m_traverse: Some(module_traverse),
    m_clear: Some(module_clear),
    m_free: Some(module_free),
});

/// `PyInit_interp`, for `PyImport_AppendInittab`.
pub(crate) unsafe extern "C" fn init_module() -> *mut PyObject {
    // SAFETY: MODULE_DEF is a valid, static module definition.
    unsafe { sys::PyModuleDef_Init(MODULE_DEF.get()) }
}

/// Makes a type from `spec` and adds it to `module` as `name`; returns a
/// new reference.
///
/// # Safety
/// The exec slot's: `module` is ours, its interpreter attached.
unsafe fn add_type(
    module: *mut PyObject,
    spec: *mut sys::PyType_Spec,
    name: &CStr,
) -> Result<*mut PyObject, ()> {
    // SAFETY: attached (the contract); `spec` is a valid static spec;
    // FromModuleAndSpec returns a new reference or NULL.
    let t = unsafe { sys::PyType_FromModuleAndSpec(module, spec, null_mut()) };
    // SAFETY: attached; AddObjectRef takes its own reference to a live `t`.
    if t.is_null() || unsafe { sys::PyModule_AddObjectRef(module, name.as_ptr(), t) } < 0 {
        if !t.is_null() {
            // SAFETY: attached; dropping the reference made above.
            unsafe { sys::Py_DecRef(t) };
        }
        return Err(());
    }
    Ok(t)
}

/// An exception the module defines.
struct ExceptionDef {
    /// Its qualified name, `interp.X`.
    full: &'static CStr,
    /// Its attribute in the module.
    short: &'static CStr,
    doc: &'static CStr,
}

const CLOSED: ExceptionDef = ExceptionDef {
    full: c"interp.ChannelClosed",
    short: c"ChannelClosed",
    doc: c"The channel is closed (and, for a receive, drained).",
};

const EMPTY: ExceptionDef = ExceptionDef {
    full: c"interp.ChannelEmpty",
    short: c"ChannelEmpty",
    doc: c"try_recv() found no value waiting.",
};

const CANCELLED: ExceptionDef = ExceptionDef {
    full: c"interp.Cancelled",
    short: c"Cancelled",
    doc: c"The running task was cancelled while it waited.",
};

/// Makes the exception `def` (a subclass of `base`) and adds it to
/// `module`; returns a new reference.
///
/// # Safety
/// The exec slot's: `module` is ours, its interpreter attached; `base` is an
/// exception type.
unsafe fn add_exception(
    module: *mut PyObject,
    def: &ExceptionDef,
    base: *mut PyObject,
) -> Result<*mut PyObject, ()> {
    let (full, doc) = (def.full.as_ptr(), def.doc.as_ptr());
    // SAFETY: attached (the contract); NewExceptionWithDoc returns a new
    // reference or NULL.
    let e = unsafe { sys::PyErr_NewExceptionWithDoc(full, doc, base, null_mut()) };
    // SAFETY: attached; AddObjectRef takes its own reference to a live `e`.
    if e.is_null() || unsafe { sys::PyModule_AddObjectRef(module, def.short.as_ptr(), e) } < 0 {
        if !e.is_null() {
            // SAFETY: attached; dropping the reference made above.
            unsafe { sys::Py_DecRef(e) };
        }
        return Err(());
    }
    Ok(e)
}

unsafe extern "C" fn module_exec(module: *mut PyObject) -> c_int {
    // SAFETY: CPython runs the exec slot on our module, with its interpreter
    // attached and its state zero-filled (m_size > 0): `exec`'s contract.
    match unsafe { exec(module) } {
        Ok(()) => 0,
        Err(()) => -1,
    }
}

/// Makes the module's types and exceptions, each added to the module and
/// held by its state (which `m_clear` releases, after a failure too).
///
/// # Safety
/// `module` must be our module, its interpreter attached, its state
/// zero-filled.
unsafe fn exec(module: *mut PyObject) -> Result<(), ()> {
    // Before this interpreter has an `interp.Cancelled` to raise.
    crate::scope::recognise_cancelled(is_cancelled);
    // SAFETY: `module` is ours (the contract), so its state is a ModState.
    let st = unsafe { state_of(module) };
    // SAFETY: reading static exception types.
    let (exception, base_exception) = unsafe { (sys::PyExc_Exception, sys::PyExc_BaseException) };
    // SAFETY: the contract (attached, `module` ours, `st` its state, which
    // only the thread holding the interpreter touches); the type specs are
    // valid statics and the bases exception types.
    unsafe {
        (*st).pickle_fallback = 1;
        (*st).buffer_type = add_type(module, BUFFER_SPEC.get(), c"SharedBuffer")?;
        (*st).channel_type = add_type(module, CHANNEL_SPEC.get(), c"Channel")?;
        (*st).frozen_type = add_type(module, FROZEN_SPEC.get(), c"Frozen")?;
        (*st).closed_exc = add_exception(module, &CLOSED, exception)?;
        (*st).empty_exc = add_exception(module, &EMPTY, exception)?;
        (*st).cancelled_exc = add_exception(module, &CANCELLED, base_exception)?;
    }
    Ok(())
}

/// The `sys.modules` key of the module: `"interp"` unless
/// [`set_module_name`] chose another before first use.
static MODULE_NAME: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();

fn module_name() -> &'static str {
    MODULE_NAME.get_or_init(|| "interp")
}

/// Makes the module live under `name` in `sys.modules` of every interpreter
/// instead of `"interp"` — for a Python extension that hosts it inside its
/// own package (the `interp` pip package keeps it as `interp._core` and
/// re-exports its types, so a package named `interp` and this module never
/// shadow each other). Call it before any interpreter uses the module. Under
/// another name the module is never imported from `sys.path`: it is made
/// from its definition on first use in each interpreter.
///
/// # Errors
/// [`Error::InvalidArgument`] when another name was set or used already.
pub fn set_module_name(name: &'static str) -> Result<()> {
    let got = MODULE_NAME.get_or_init(|| name);
    if *got == name {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "interp's Python module is already registered as {got:?}; cannot rename it to {name:?}"
        )))
    }
}

/// This interpreter's `interp` module, importing (or, when the runtime was
/// initialized by a host that did not register it, creating) it on first
/// use.
pub(crate) fn module<'py>(py: Python<'py>) -> Result<Bound<'py>> {
    if let Some(m) = loaded(py) {
        return Ok(m);
    }
    if module_name() != "interp" {
        return create_module(py);
    }
    match py.import("interp") {
        Ok(m) if is_ours(&m) => Ok(m),
        Ok(_) => Err(Error::Runtime(
            "sys.modules['interp'] is not interp's own module (a file named interp.py on sys.path \
             shadows it?); rename that module"
                .into(),
        )),
        Err(Error::Python(e)) if e.is("ModuleNotFoundError") => create_module(py),
        Err(e) => Err(e),
    }
}

/// This interpreter's interp module (`SharedBuffer`, `Channel`, `Frozen`,
/// `Cancelled`, ...), loading it on first use: what `import interp` gives
/// inside interpreters interp made, whatever name [`set_module_name`] chose.
pub fn python_module<'py>(py: Python<'py>) -> Result<Bound<'py>> {
    module(py)
}

/// The name the module is registered under, as a C string (for the inittab).
pub(crate) fn module_name_c() -> &'static std::ffi::CStr {
    static C: std::sync::OnceLock<std::ffi::CString> = std::sync::OnceLock::new();
    C.get_or_init(|| std::ffi::CString::new(module_name()).unwrap_or_default())
}

/// The module if this interpreter has loaded it (no import).
pub(crate) fn loaded<'py>(py: Python<'py>) -> Option<Bound<'py>> {
    let name = py.str(module_name()).ok()?;
    // SAFETY: attached (token); GetModule returns a new reference or NULL.
    let m = unsafe { sys::PyImport_GetModule(name.as_ptr()) };
    if m.is_null() {
        // SAFETY: attached.
        unsafe { sys::PyErr_Clear() };
        return None;
    }
    // SAFETY: `m` is a new reference to an object of this interpreter.
    let bound = unsafe { py.from_owned_ptr(m) }.ok()?;
    // An object of that name that is not ours (no state of our size)?
    is_ours(&bound).then_some(bound)
}

/// Whether `m` is a module object made from interp's definition (any other
/// object, module or not, is not; no exception is set).
fn is_ours(m: &Bound<'_>) -> bool {
    // SAFETY: attached (brand); a type check of a live object.
    let is_module = unsafe { sys::PyModule_Check(m.as_ptr()) } != 0;
    // SAFETY: attached; `m` is a module, whose definition (or NULL) GetDef
    // reads without setting an exception.
    is_module && unsafe { sys::PyModule_GetDef(m.as_ptr()) } == MODULE_DEF.get()
}

/// Whether `exc` (an exception instance) is an `interp.Cancelled` of this
/// interpreter, or a subclass: matched against the type object in the
/// module's state, so a class of that name elsewhere does not count. False
/// when this interpreter has not loaded the module (nothing raised its
/// `Cancelled` then).
pub(crate) fn is_cancelled(py: Python<'_>, exc: &Bound<'_>) -> bool {
    let Some(m) = loaded(py) else { return false };
    // SAFETY: `m` is our module (checked by `loaded`), so its state is a
    // ModState; `m` keeps it alive for this read.
    let cancelled = unsafe { (*state_of(m.as_ptr())).cancelled_exc };
    // SAFETY: attached; `exc` is a live object and `cancelled` (when not
    // NULL, i.e. not cleared) an exception type of this interpreter.
    !cancelled.is_null()
        && unsafe { sys::PyErr_GivenExceptionMatches(exc.as_ptr(), cancelled) } != 0
}

fn create_module<'py>(py: Python<'py>) -> Result<Bound<'py>> {
    let spec_cls = py.lookup("importlib.machinery", "ModuleSpec")?;
    let spec = spec_cls.call(&[py.str(module_name())?, py.none()], &[])?;
    let def = MODULE_DEF.get();
    // SAFETY: attached; `def` is a valid definition; FromDefAndSpec2
    // returns a new reference or NULL with an exception set.
    let m = unsafe {
        py.from_owned_ptr(sys::PyModule_FromDefAndSpec2(
            def,
            spec.as_ptr(),
            sys::PYTHON_API_VERSION,
        ))
    }?;
    // SAFETY: attached; `m` was made from `def` (ExecDef runs its slots).
    if unsafe { sys::PyModule_ExecDef(m.as_ptr(), def) } < 0 {
        return Err(py.take_error());
    }
    // SAFETY: attached; this interpreter's `sys.modules` (borrowed).
    let modules = unsafe { sys::PyImport_GetModuleDict() };
    let key = py.str(module_name())?;
    // SAFETY: attached; `modules` is a dict; SetItem takes its own
    // references.
    if unsafe { sys::PyDict_SetItem(modules, key.as_ptr(), m.as_ptr()) } < 0 {
        return Err(py.take_error());
    }
    Ok(m)
}
