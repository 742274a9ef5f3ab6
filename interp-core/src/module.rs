//! The `interp` module, importable in every interpreter (the main one
//! included): `SharedBuffer`, `Channel`, `Frozen`, `freeze()`,
//! `interpreter_id()`, pickle-fallback control and the channel exceptions.
//!
//! Multi-phase init, heap types made per module object, all state in the
//! module's per-interpreter state, `Py_mod_multiple_interpreters =
//! per-interpreter GIL supported`. The only statics are the immutable
//! definitions (`PyModuleDef`, type specs, slot and method tables): no static
//! `PyTypeObject`, no global `PyObject*`.

#![allow(clippy::missing_safety_doc)]

use std::cell::UnsafeCell;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::ptr::{self, null_mut};
use std::time::{Duration, Instant};

use interp_sys as sys;
use sys::{PyObject, Py_ssize_t};

use crate::buffer::SharedBuffer;
use crate::channel::{Channel, RecvError, SendError};
use crate::error::{Error, Result};
use crate::frozen::{Frozen, Node};
use crate::scope::{Bound, Python};
use crate::value::{self, Value};

/// Per-interpreter state of the module.
#[repr(C)]
pub(crate) struct ModState {
    pub(crate) buffer_type: *mut PyObject,
    pub(crate) channel_type: *mut PyObject,
    pub(crate) frozen_type: *mut PyObject,
    closed_exc: *mut PyObject,
    empty_exc: *mut PyObject,
    cancelled_exc: *mut PyObject,
    pub(crate) pickle_fallback: c_int,
    /// Proxies of the frozen trees most recently handed to this interpreter
    /// (strong references, newest last), so a tree passed in call after
    /// call keeps its materialized children.
    // Boxed: CPython zero-fills module state, and all-zero bytes are a
    // valid `None` here but not a valid `Vec`.
    #[allow(clippy::box_collection)]
    frozen_cache: Option<Box<Vec<(usize, *mut PyObject)>>>,
}

/// How many frozen roots each interpreter keeps proxies for.
const FROZEN_CACHE: usize = 16;

/// An immutable definition table that CPython takes by `*mut`.
struct Def<T>(UnsafeCell<T>);
// SAFETY: CPython only reads these tables (PyModuleDef_Init writes the
// def's base once, under the import lock, idempotently).
unsafe impl<T> Sync for Def<T> {}
impl<T> Def<T> {
    const fn new(t: T) -> Self {
        Def(UnsafeCell::new(t))
    }
    fn get(&self) -> *mut T {
        self.0.get()
    }
}

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

const VARARGS_KW: c_int = sys::METH_VARARGS | sys::METH_KEYWORDS;

const fn kw(
    f: unsafe extern "C" fn(*mut PyObject, *mut PyObject, *mut PyObject) -> *mut PyObject,
) -> sys::PyMethodDefPointer {
    sys::PyMethodDefPointer {
        PyCFunctionWithKeywords: f,
    }
}

const fn noargs(
    f: unsafe extern "C" fn(*mut PyObject, *mut PyObject) -> *mut PyObject,
) -> sys::PyMethodDefPointer {
    sys::PyMethodDefPointer { PyCFunction: f }
}

// ---- module definition ------------------------------------------------------

static MODULE_METHODS: Def<[sys::PyMethodDef; 5]> = Def::new([
    method!(c"interpreter_id", sys::PyMethodDefPointer { PyCFunction: m_interpreter_id }, sys::METH_NOARGS,
        c"interpreter_id()\n--\n\nThe id of the interpreter running this code (0 is the main one)."),
    method!(c"freeze", sys::PyMethodDefPointer { PyCFunction: m_freeze }, sys::METH_O,
        c"freeze(obj)\n--\n\nA read-only interp.Frozen copy of obj (None, bool, int, float, str, bytes, tuple, list, dict), shared by reference with every interpreter it is sent to."),
    method!(c"set_pickle_fallback", sys::PyMethodDefPointer { PyCFunction: m_set_pickle }, sys::METH_O,
        c"set_pickle_fallback(enabled)\n--\n\nWhether objects of other types may cross interpreters pickled (default True). When False, sending them raises TypeError."),
    method!(c"pickle_fallback", sys::PyMethodDefPointer { PyCFunction: m_get_pickle }, sys::METH_NOARGS,
        c"pickle_fallback()\n--\n\nWhether objects of other types cross interpreters pickled."),
    sys::PyMethodDef::zeroed(),
]);

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

unsafe fn state_of(module: *mut PyObject) -> *mut ModState {
    // SAFETY: callers pass our module object, whose state is a ModState.
    unsafe { sys::PyModule_GetState(module).cast() }
}

unsafe extern "C" fn module_traverse(
    module: *mut PyObject,
    visit: sys::visitproc,
    arg: *mut c_void,
) -> c_int {
    // SAFETY: called by the GC on our module; the state holds strong refs.
    unsafe {
        let st = sys::PyModule_GetState(module).cast::<ModState>();
        if st.is_null() {
            return 0;
        }
        for o in [
            (*st).buffer_type,
            (*st).channel_type,
            (*st).frozen_type,
            (*st).closed_exc,
            (*st).empty_exc,
            (*st).cancelled_exc,
        ] {
            if !o.is_null() {
                let r = visit(o, arg);
                if r != 0 {
                    return r;
                }
            }
        }
    }
    0
}

unsafe extern "C" fn module_clear(module: *mut PyObject) -> c_int {
    // SAFETY: called by CPython on our module with its interpreter attached.
    unsafe {
        let st = sys::PyModule_GetState(module).cast::<ModState>();
        if st.is_null() {
            return 0;
        }
        for (_, p) in (*st)
            .frozen_cache
            .take()
            .into_iter()
            .flat_map(|c| c.into_iter())
        {
            sys::Py_DecRef(p);
        }
        for o in [
            &mut (*st).buffer_type,
            &mut (*st).channel_type,
            &mut (*st).frozen_type,
            &mut (*st).closed_exc,
            &mut (*st).empty_exc,
            &mut (*st).cancelled_exc,
        ] {
            let old = std::mem::replace(o, null_mut());
            if !old.is_null() {
                sys::Py_DecRef(old);
            }
        }
    }
    0
}

unsafe extern "C" fn module_free(module: *mut c_void) {
    // SAFETY: as module_clear.
    unsafe { module_clear(module.cast()) };
}

unsafe fn add_type(
    module: *mut PyObject,
    spec: *mut sys::PyType_Spec,
    name: &CStr,
) -> Result<*mut PyObject, ()> {
    // SAFETY: attached (exec slot); spec is a valid static spec.
    unsafe {
        let t = sys::PyType_FromModuleAndSpec(module, spec, null_mut());
        if t.is_null() || sys::PyModule_AddObjectRef(module, name.as_ptr(), t) < 0 {
            if !t.is_null() {
                sys::Py_DecRef(t);
            }
            return Err(());
        }
        Ok(t)
    }
}

unsafe fn add_exception(
    module: *mut PyObject,
    full: &CStr,
    short: &CStr,
    base: *mut PyObject,
    doc: &CStr,
) -> Result<*mut PyObject, ()> {
    // SAFETY: attached (exec slot).
    unsafe {
        let e = sys::PyErr_NewExceptionWithDoc(full.as_ptr(), doc.as_ptr(), base, null_mut());
        if e.is_null() || sys::PyModule_AddObjectRef(module, short.as_ptr(), e) < 0 {
            if !e.is_null() {
                sys::Py_DecRef(e);
            }
            return Err(());
        }
        Ok(e)
    }
}

unsafe extern "C" fn module_exec(module: *mut PyObject) -> c_int {
    // SAFETY: CPython runs the exec slot with the module's interpreter
    // attached; the state was zero-initialized (m_size > 0).
    unsafe {
        let st = state_of(module);
        (*st).pickle_fallback = 1;
        let r = (|| -> Result<(), ()> {
            (*st).buffer_type = add_type(module, BUFFER_SPEC.get(), c"SharedBuffer")?;
            (*st).channel_type = add_type(module, CHANNEL_SPEC.get(), c"Channel")?;
            (*st).frozen_type = add_type(module, FROZEN_SPEC.get(), c"Frozen")?;
            (*st).closed_exc = add_exception(
                module,
                c"interp.ChannelClosed",
                c"ChannelClosed",
                sys::PyExc_Exception,
                c"The channel is closed (and, for a receive, drained).",
            )?;
            (*st).empty_exc = add_exception(
                module,
                c"interp.ChannelEmpty",
                c"ChannelEmpty",
                sys::PyExc_Exception,
                c"try_recv() found no value waiting.",
            )?;
            (*st).cancelled_exc = add_exception(
                module,
                c"interp.Cancelled",
                c"Cancelled",
                sys::PyExc_BaseException,
                c"The running task was cancelled while it waited.",
            )?;
            Ok(())
        })();
        if r.is_err() {
            -1
        } else {
            0
        }
    }
}

/// This interpreter's `interp` module, importing (or, when the runtime was
/// initialized by a host that did not register it, creating) it on first
/// use.
pub(crate) fn module<'py>(py: Python<'py>) -> Result<Bound<'py>> {
    if let Some(m) = loaded(py) {
        return Ok(m);
    }
    match py.import("interp") {
        // SAFETY: reading the definition of a module object.
        Ok(m) if unsafe { sys::PyModule_GetDef(m.as_ptr()) } == MODULE_DEF.get() => Ok(m),
        Ok(_) => Err(Error::Runtime(
            "sys.modules['interp'] is not interp's own module (a file named interp.py on sys.path \
             shadows it?); rename that module"
                .into(),
        )),
        Err(Error::Python(e)) if e.is("ModuleNotFoundError") => create_module(py),
        Err(e) => Err(e),
    }
}

/// The module if this interpreter has loaded it (no import).
pub(crate) fn loaded<'py>(py: Python<'py>) -> Option<Bound<'py>> {
    // SAFETY: attached (token); GetModule returns a new reference or NULL.
    unsafe {
        let name = py.str("interp").ok()?;
        let m = sys::PyImport_GetModule(name.as_ptr());
        if m.is_null() {
            sys::PyErr_Clear();
            return None;
        }
        // A module of that name that is not ours (no state of our size)?
        let bound = py.from_owned_ptr(m).ok()?;
        if sys::PyModule_GetDef(m) != MODULE_DEF.get() {
            return None;
        }
        Some(bound)
    }
}

fn create_module<'py>(py: Python<'py>) -> Result<Bound<'py>> {
    let spec_cls = py.lookup("importlib.machinery", "ModuleSpec")?;
    let spec = spec_cls.call(&[py.str("interp")?, py.none()], &[])?;
    // SAFETY: attached; MODULE_DEF is valid; FromDefAndSpec2 returns a new
    // reference or NULL; ExecDef runs the exec slot.
    unsafe {
        let m = py.from_owned_ptr(sys::PyModule_FromDefAndSpec2(
            MODULE_DEF.get(),
            spec.as_ptr(),
            sys::PYTHON_API_VERSION,
        ))?;
        if sys::PyModule_ExecDef(m.as_ptr(), MODULE_DEF.get()) < 0 {
            return Err(py.take_error());
        }
        let modules = sys::PyImport_GetModuleDict();
        if sys::PyDict_SetItemString(modules, c"interp".as_ptr(), m.as_ptr()) < 0 {
            return Err(py.take_error());
        }
        Ok(m)
    }
}

/// The module state of this interpreter's `interp` module (loading it).
/// The returned pointer stays valid while `module` lives.
pub(crate) fn state<'py>(py: Python<'py>) -> Result<(Bound<'py>, *mut ModState)> {
    let m = module(py)?;
    // SAFETY: `m` is our module (checked by `loaded`, or just made).
    let st = unsafe { state_of(m.as_ptr()) };
    Ok((m, st))
}

// ---- errors -------------------------------------------------------------

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
                // SAFETY: reading an immortal/static exception type.
                None => (unsafe { sys::PyExc_RuntimeError }, e.to_string()),
            }
        }
        // SAFETY: reading static exception types.
        Error::Conversion(m) => (unsafe { sys::PyExc_TypeError }, m),
        // SAFETY: as above.
        Error::InvalidArgument(m) => (unsafe { sys::PyExc_ValueError }, m),
        // SAFETY: as above.
        other => (unsafe { sys::PyExc_RuntimeError }, other.to_string()),
    };
    set_error(ty, &msg);
}

fn set_error(ty: *mut PyObject, msg: &str) {
    let c = std::ffi::CString::new(msg.replace('\0', "\\0")).unwrap_or_default();
    // SAFETY: attached (callers hold a token); `ty` is an exception type.
    unsafe { sys::PyErr_SetString(ty, c.as_ptr()) };
}

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
fn run<T>(on_err: T, f: impl for<'py> FnOnce(Python<'py>) -> Result<Option<T>>) -> T {
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
        Err(_) => {
            // SAFETY: attached.
            set_error(
                unsafe { sys::PyExc_SystemError },
                "interp: a Rust panic was caught in a Python callback",
            );
            on_err
        }
    }
}

/// [`run`] for callbacks returning an object (NULL on error).
fn wrap(f: impl for<'py> FnOnce(Python<'py>) -> Result<Option<*mut PyObject>>) -> *mut PyObject {
    run(null_mut(), f)
}

fn none() -> Option<*mut PyObject> {
    // SAFETY: None is immortal.
    Some(unsafe { sys::Py_NewRef(sys::Py_None()) })
}

unsafe fn borrowed<'py>(py: Python<'py>, p: *mut PyObject) -> Bound<'py> {
    // SAFETY: caller passes a valid object of the attached interpreter.
    unsafe { py.from_borrowed_ptr(p) }
}

/// Positional-or-keyword argument `i`/`name` of a VARARGS|KEYWORDS call.
/// Unknown keywords are reported by `check_kwargs`.
unsafe fn arg<'py>(
    py: Python<'py>,
    args: *mut PyObject,
    kwargs: *mut PyObject,
    i: usize,
    name: &CStr,
) -> Option<Bound<'py>> {
    // SAFETY: args is a tuple, kwargs NULL or a dict (CPython's contract).
    unsafe {
        if !args.is_null() && (i as Py_ssize_t) < sys::PyTuple_GET_SIZE(args) {
            return Some(borrowed(py, sys::PyTuple_GET_ITEM(args, i as Py_ssize_t)));
        }
        if !kwargs.is_null() {
            let v = sys::PyDict_GetItemString(kwargs, name.as_ptr());
            if !v.is_null() {
                return Some(borrowed(py, v));
            }
        }
        None
    }
}

unsafe fn check_args(
    args: *mut PyObject,
    kwargs: *mut PyObject,
    names: &[&str],
    func: &str,
) -> Result<()> {
    // SAFETY: as `arg`.
    unsafe {
        let n = if args.is_null() {
            0
        } else {
            sys::PyTuple_GET_SIZE(args) as usize
        };
        if n > names.len() {
            return Err(type_error(format!(
                "{func}() takes at most {} arguments ({n} given)",
                names.len()
            )));
        }
        if kwargs.is_null() {
            return Ok(());
        }
        let mut pos: Py_ssize_t = 0;
        let (mut k, mut v) = (null_mut(), null_mut());
        while sys::PyDict_Next(kwargs, &mut pos, &mut k, &mut v) != 0 {
            let mut len = 0;
            let p = sys::PyUnicode_AsUTF8AndSize(k, &mut len);
            if p.is_null() {
                sys::PyErr_Clear();
                return Err(type_error(format!("{func}() keywords must be strings")));
            }
            let key = std::str::from_utf8_unchecked(std::slice::from_raw_parts(
                p.cast::<u8>(),
                len as usize,
            ));
            match names.iter().position(|n| *n == key) {
                None => {
                    return Err(type_error(format!(
                        "{func}() got an unexpected keyword argument '{key}'"
                    )))
                }
                Some(i) if i < n => {
                    return Err(type_error(format!(
                        "{func}() got multiple values for argument '{key}'"
                    )))
                }
                _ => {}
            }
        }
        Ok(())
    }
}

fn type_error(msg: String) -> Error {
    Error::Conversion(msg)
}

/// A timeout argument: None (no deadline) or seconds >= 0.
fn deadline(timeout: Option<Bound<'_>>) -> Result<Option<Instant>> {
    let Some(t) = timeout.filter(|t| !t.is_none()) else {
        return Ok(None);
    };
    let secs = t
        .to_value()?
        .as_f64()
        .filter(|s| s.is_finite())
        .ok_or_else(|| {
            type_error(format!(
                "timeout must be None or a number of seconds, not '{}'",
                t.type_name()
            ))
        })?;
    if secs < 0.0 {
        return Err(Error::InvalidArgument(format!(
            "timeout must be >= 0, got {secs}"
        )));
    }
    Ok(Some(
        Instant::now() + Duration::from_secs_f64(secs.min(1e9)),
    ))
}

// ---- module functions ------------------------------------------------------

unsafe extern "C" fn m_interpreter_id(_m: *mut PyObject, _a: *mut PyObject) -> *mut PyObject {
    wrap(|py| Ok(Some(py.value(&Value::Int(py.interpreter_id()))?.into_ptr())))
}

unsafe extern "C" fn m_freeze(_m: *mut PyObject, obj: *mut PyObject) -> *mut PyObject {
    wrap(|py| {
        // SAFETY: METH_O passes a valid borrowed object.
        let obj = unsafe { borrowed(py, obj) };
        let frozen = Frozen::from_value(&obj.to_value()?)?;
        Ok(Some(py.value(&Value::Frozen(frozen))?.into_ptr()))
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

// ---- shared objects: common layout ------------------------------------------

/// Layout of SharedBuffer and Channel objects: a boxed Rust handle.
#[repr(C)]
struct HandleObject<T> {
    ob_base: PyObject,
    handle: Option<Box<T>>,
}

/// Creates an instance of heap type `ty` holding `handle`.
unsafe fn new_handle_object<'py, T>(
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

unsafe fn handle_of<'a, T>(obj: *mut PyObject) -> &'a T {
    // SAFETY: callers pass instances of the matching type, whose handle is
    // set right after allocation (tp_new and new_handle_object).
    unsafe {
        (*obj.cast::<HandleObject<T>>())
            .handle
            .as_deref()
            .expect("initialized interp object")
    }
}

unsafe extern "C" fn handle_dealloc<T>(obj: *mut PyObject) {
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

// ---- SharedBuffer -------------------------------------------------------------

static BUFFER_GETSET: Def<[sys::PyGetSetDef; 6]> = Def::new([
    getter(c"nbytes", buf_nbytes, c"Length in bytes."),
    getter(
        c"format",
        buf_format,
        c"The struct format code of the items.",
    ),
    getter(c"shape", buf_shape, c"The shape (C order)."),
    getter(c"itemsize", buf_itemsize, c"Size of one item in bytes."),
    getter(c"readonly", buf_readonly, c"Whether views refuse writes."),
    getset_end(),
]);

const fn getter(name: &'static CStr, f: sys::getter, doc: &'static CStr) -> sys::PyGetSetDef {
    sys::PyGetSetDef {
        name: name.as_ptr(),
        get: Some(f),
        set: None,
        doc: doc.as_ptr(),
        closure: null_mut(),
    }
}

const fn getset_end() -> sys::PyGetSetDef {
    sys::PyGetSetDef {
        name: ptr::null(),
        get: None,
        set: None,
        doc: ptr::null(),
        closure: null_mut(),
    }
}

static BUFFER_SLOTS: Def<[sys::PyType_Slot; 7]> = Def::new([
    sys::PyType_Slot { slot: sys::Py_tp_new, pfunc: buf_new as *mut c_void },
    sys::PyType_Slot { slot: sys::Py_tp_dealloc, pfunc: handle_dealloc::<SharedBuffer> as *mut c_void },
    sys::PyType_Slot { slot: sys::Py_bf_getbuffer, pfunc: buf_getbuffer as *mut c_void },
    sys::PyType_Slot { slot: sys::Py_tp_repr, pfunc: buf_repr as *mut c_void },
    sys::PyType_Slot { slot: sys::Py_tp_getset, pfunc: BUFFER_GETSET.0.get() as *mut c_void },
    sys::PyType_Slot {
        slot: sys::Py_tp_doc,
        pfunc: c"SharedBuffer(shape, format='B')\n--\n\nZeroed memory shared with every interpreter it is sent to; memoryview(buf) makes no copy. shape is an int or a tuple of ints; format one native struct code. Writes are not synchronized.".as_ptr() as *mut c_void,
    },
    sys::PyType_Slot { slot: 0, pfunc: null_mut() },
]);

static BUFFER_SPEC: Def<sys::PyType_Spec> = Def::new(sys::PyType_Spec {
    name: c"interp.SharedBuffer".as_ptr(),
    basicsize: std::mem::size_of::<HandleObject<SharedBuffer>>() as c_int,
    itemsize: 0,
    flags: (sys::Py_TPFLAGS_DEFAULT | sys::Py_TPFLAGS_IMMUTABLETYPE) as _,
    slots: BUFFER_SLOTS.0.get() as *mut sys::PyType_Slot,
});

unsafe extern "C" fn buf_new(
    ty: *mut sys::PyTypeObject,
    args: *mut PyObject,
    kwargs: *mut PyObject,
) -> *mut PyObject {
    wrap(|py| {
        // SAFETY: args/kwargs per CPython's tp_new contract.
        unsafe { check_args(args, kwargs, &["shape", "format"], "SharedBuffer")? };
        // SAFETY: as above.
        let shape = unsafe { arg(py, args, kwargs, 0, c"shape") }
            .ok_or_else(|| type_error("SharedBuffer() missing required argument 'shape'".into()))?;
        // SAFETY: as above.
        let format = match unsafe { arg(py, args, kwargs, 1, c"format") } {
            Some(f) => f
                .to_value()?
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| type_error("format must be a str".into()))?,
            None => "B".to_owned(),
        };
        let dims: Vec<usize> = match shape.to_value()? {
            Value::Int(n) => vec![usize::try_from(n)
                .map_err(|_| Error::InvalidArgument(format!("shape must be >= 0, got {n}")))?],
            Value::Tuple(d) | Value::List(d) => d
                .iter()
                .map(|x| match x {
                    Value::Int(n) if *n >= 0 => Ok(*n as usize),
                    other => Err(Error::InvalidArgument(format!(
                        "shape entries must be ints >= 0, got {other:?}"
                    ))),
                })
                .collect::<Result<_>>()?,
            other => {
                return Err(type_error(format!(
                    "shape must be an int or a tuple of ints, not '{}'",
                    other.type_name()
                )))
            }
        };
        let itemsize = SharedBuffer::zeroed(0)
            .with_layout(&format, &[0])
            .map(|b| b.itemsize())?;
        let nbytes = dims
            .iter()
            .try_fold(itemsize, |acc, &d| acc.checked_mul(d))
            .filter(|&n| n <= isize::MAX as usize)
            .ok_or_else(|| Error::InvalidArgument(format!("shape {dims:?} is too large")))?;
        let buf = SharedBuffer::try_zeroed(nbytes)?.with_layout(&format, &dims)?;
        // SAFETY: `ty` is our SharedBuffer type (or a subclass: none allowed).
        Ok(Some(
            unsafe { new_handle_object(py, ty.cast(), buf) }?.into_ptr(),
        ))
    })
}

unsafe extern "C" fn buf_getbuffer(
    obj: *mut PyObject,
    view: *mut sys::Py_buffer,
    flags: c_int,
) -> c_int {
    // SAFETY: CPython passes our object and a view to fill, attached.
    unsafe {
        let b = handle_of::<SharedBuffer>(obj);
        if flags & sys::PyBUF_WRITABLE == sys::PyBUF_WRITABLE && b.is_readonly() {
            (*view).obj = null_mut();
            set_error(
                sys::PyExc_BufferError,
                "this interp.SharedBuffer is read-only",
            );
            return -1;
        }
        (*view).buf = b.as_ptr().cast();
        (*view).obj = sys::Py_NewRef(obj);
        (*view).len = b.len() as Py_ssize_t;
        (*view).readonly = b.is_readonly() as c_int;
        (*view).itemsize = b.itemsize() as Py_ssize_t;
        (*view).format = if flags & sys::PyBUF_FORMAT != 0 {
            b.format_cstr().as_ptr() as *mut c_char
        } else {
            null_mut()
        };
        (*view).ndim = b.raw_shape().len() as c_int;
        // Shape and strides live in the handle, which lives as long as the
        // object that `view.obj` keeps alive.
        (*view).shape = if flags & sys::PyBUF_ND == sys::PyBUF_ND {
            b.raw_shape().as_ptr() as *mut Py_ssize_t
        } else {
            null_mut()
        };
        (*view).strides = if flags & sys::PyBUF_STRIDES == sys::PyBUF_STRIDES {
            b.raw_strides().as_ptr() as *mut Py_ssize_t
        } else {
            null_mut()
        };
        (*view).suboffsets = null_mut();
        (*view).internal = null_mut();
    }
    0
}

unsafe extern "C" fn buf_repr(obj: *mut PyObject) -> *mut PyObject {
    wrap(|py| {
        // SAFETY: our object.
        let b = unsafe { handle_of::<SharedBuffer>(obj) };
        let shape: Vec<String> = b.shape().iter().map(|d| d.to_string()).collect();
        let shape = if shape.len() == 1 {
            format!("({},)", shape[0])
        } else {
            format!("({})", shape.join(", "))
        };
        let ro = if b.is_readonly() { ", readonly" } else { "" };
        Ok(Some(
            py.str(&format!(
                "<interp.SharedBuffer {} bytes, format '{}', shape {shape}{ro}>",
                b.len(),
                b.format()
            ))?
            .into_ptr(),
        ))
    })
}

macro_rules! buf_getter {
    ($name:ident, |$b:ident| $e:expr) => {
        unsafe extern "C" fn $name(obj: *mut PyObject, _c: *mut c_void) -> *mut PyObject {
            wrap(|py| {
                // SAFETY: CPython calls getters on our objects.
                let $b = unsafe { handle_of::<SharedBuffer>(obj) };
                Ok(Some(py.value(&$e)?.into_ptr()))
            })
        }
    };
}
buf_getter!(buf_nbytes, |b| Value::from(b.len() as u64));
buf_getter!(buf_format, |b| Value::str(b.format()));
buf_getter!(buf_shape, |b| Value::tuple(
    b.shape().into_iter().map(|d| Value::from(d as u64))
));
buf_getter!(buf_itemsize, |b| Value::from(b.itemsize() as u64));
buf_getter!(buf_readonly, |b| Value::Bool(b.is_readonly()));

// ---- Channel ------------------------------------------------------------------

static CHANNEL_METHODS: Def<[sys::PyMethodDef; 5]> = Def::new([
    method!(c"send", kw(ch_send), VARARGS_KW,
        c"send(obj, timeout=None)\n--\n\nSends a copy of obj (buffers, channels and frozen data by reference). Blocks while a bounded channel is full. Raises ChannelClosed, TimeoutError, or Cancelled."),
    method!(c"recv", kw(ch_recv), VARARGS_KW,
        c"recv(timeout=None)\n--\n\nReceives the next value, blocking (GIL released) until one arrives. Raises ChannelClosed once closed and drained, TimeoutError, or Cancelled."),
    method!(c"try_recv", noargs(ch_try_recv), sys::METH_NOARGS,
        c"try_recv()\n--\n\nReceives without blocking. Raises ChannelEmpty or ChannelClosed."),
    method!(c"close", noargs(ch_close), sys::METH_NOARGS,
        c"close()\n--\n\nCloses the channel: wakes every waiter; values already sent stay receivable."),
    sys::PyMethodDef::zeroed(),
]);

static CHANNEL_GETSET: Def<[sys::PyGetSetDef; 3]> = Def::new([
    getter(c"closed", ch_closed, c"Whether close() was called."),
    getter(
        c"capacity",
        ch_capacity,
        c"The capacity, or None when unbounded.",
    ),
    getset_end(),
]);

static CHANNEL_SLOTS: Def<[sys::PyType_Slot; 11]> = Def::new([
    sys::PyType_Slot { slot: sys::Py_tp_new, pfunc: ch_new as *mut c_void },
    sys::PyType_Slot { slot: sys::Py_tp_dealloc, pfunc: handle_dealloc::<Channel> as *mut c_void },
    sys::PyType_Slot { slot: sys::Py_tp_methods, pfunc: CHANNEL_METHODS.0.get() as *mut c_void },
    sys::PyType_Slot { slot: sys::Py_tp_getset, pfunc: CHANNEL_GETSET.0.get() as *mut c_void },
    sys::PyType_Slot { slot: sys::Py_mp_length, pfunc: ch_len as *mut c_void },
    sys::PyType_Slot { slot: sys::Py_tp_iter, pfunc: ch_iter as *mut c_void },
    sys::PyType_Slot { slot: sys::Py_tp_iternext, pfunc: ch_next as *mut c_void },
    sys::PyType_Slot { slot: sys::Py_tp_repr, pfunc: ch_repr as *mut c_void },
    sys::PyType_Slot { slot: sys::Py_tp_richcompare, pfunc: ch_richcompare as *mut c_void },
    sys::PyType_Slot {
        slot: sys::Py_tp_doc,
        pfunc: c"Channel(capacity=None)\n--\n\nA multi-producer, multi-consumer channel between threads and interpreters. capacity None is unbounded, 0 a rendezvous. Iterating receives until closed.".as_ptr() as *mut c_void,
    },
    sys::PyType_Slot { slot: 0, pfunc: null_mut() },
]);

static CHANNEL_SPEC: Def<sys::PyType_Spec> = Def::new(sys::PyType_Spec {
    name: c"interp.Channel".as_ptr(),
    basicsize: std::mem::size_of::<HandleObject<Channel>>() as c_int,
    itemsize: 0,
    flags: (sys::Py_TPFLAGS_DEFAULT | sys::Py_TPFLAGS_IMMUTABLETYPE) as _,
    slots: CHANNEL_SLOTS.0.get() as *mut sys::PyType_Slot,
});

unsafe extern "C" fn ch_new(
    ty: *mut sys::PyTypeObject,
    args: *mut PyObject,
    kwargs: *mut PyObject,
) -> *mut PyObject {
    wrap(|py| {
        // SAFETY: tp_new contract.
        unsafe { check_args(args, kwargs, &["capacity"], "Channel")? };
        // SAFETY: as above.
        let ch = match unsafe { arg(py, args, kwargs, 0, c"capacity") }.filter(|c| !c.is_none()) {
            None => Channel::unbounded(),
            Some(c) => match c.to_value()? {
                Value::Int(n) if n >= 0 && n as usize <= Channel::MAX_CAPACITY => {
                    Channel::bounded(n as usize)
                }
                other => {
                    return Err(Error::InvalidArgument(format!(
                        "capacity must be None (unbounded) or an int from 0 to {}, got {other:?}",
                        Channel::MAX_CAPACITY
                    )))
                }
            },
        };
        // SAFETY: `ty` is our Channel type.
        Ok(Some(
            unsafe { new_handle_object(py, ty.cast(), ch) }?.into_ptr(),
        ))
    })
}

fn channel_exc(
    py: Python<'_>,
    which: fn(&ModState) -> *mut PyObject,
    msg: &str,
) -> Result<Option<*mut PyObject>> {
    let (_m, st) = state(py)?;
    // SAFETY: the state pointer is valid while the module lives (`_m`).
    set_error(which(unsafe { &*st }), msg);
    Ok(None)
}

unsafe extern "C" fn ch_send(
    obj: *mut PyObject,
    args: *mut PyObject,
    kwargs: *mut PyObject,
) -> *mut PyObject {
    wrap(|py| {
        // SAFETY: METH_VARARGS|KEYWORDS contract; `obj` is our Channel.
        let (ch, item, timeout) = unsafe {
            check_args(args, kwargs, &["obj", "timeout"], "send")?;
            let item = arg(py, args, kwargs, 0, c"obj")
                .ok_or_else(|| type_error("send() missing required argument 'obj'".into()))?;
            (
                handle_of::<Channel>(obj),
                item,
                arg(py, args, kwargs, 1, c"timeout"),
            )
        };
        let deadline = deadline(timeout)?;
        let value = item.to_value()?;
        match ch.send_deadline(value, deadline) {
            Ok(()) => Ok(none()),
            Err(SendError::Closed(_)) => {
                channel_exc(py, |s| s.closed_exc, "send on a closed interp.Channel")
            }
            Err(SendError::Timeout(_)) | Err(SendError::Full(_)) => {
                set_error(
                    // SAFETY: static exception type.
                    unsafe { sys::PyExc_TimeoutError },
                    "send timed out: the channel stayed full",
                );
                Ok(None)
            }
            Err(SendError::Cancelled(_)) => channel_exc(py, |s| s.cancelled_exc, "send cancelled"),
        }
    })
}

fn recv_result(
    py: Python<'_>,
    r: std::result::Result<Value, RecvError>,
) -> Result<Option<*mut PyObject>> {
    match r {
        Ok(v) => Ok(Some(py.value(&v)?.into_ptr())),
        Err(RecvError::Closed) => channel_exc(
            py,
            |s| s.closed_exc,
            "the interp.Channel is closed and empty",
        ),
        Err(RecvError::Empty) => channel_exc(py, |s| s.empty_exc, "the interp.Channel is empty"),
        Err(RecvError::Cancelled) => channel_exc(py, |s| s.cancelled_exc, "receive cancelled"),
        Err(RecvError::Timeout) => {
            // SAFETY: static exception type.
            set_error(unsafe { sys::PyExc_TimeoutError }, "receive timed out");
            Ok(None)
        }
    }
}

unsafe extern "C" fn ch_recv(
    obj: *mut PyObject,
    args: *mut PyObject,
    kwargs: *mut PyObject,
) -> *mut PyObject {
    wrap(|py| {
        // SAFETY: method contract; our Channel.
        let (ch, timeout) = unsafe {
            check_args(args, kwargs, &["timeout"], "recv")?;
            (
                handle_of::<Channel>(obj),
                arg(py, args, kwargs, 0, c"timeout"),
            )
        };
        let deadline = deadline(timeout)?;
        recv_result(py, ch.recv_deadline(deadline))
    })
}

unsafe extern "C" fn ch_try_recv(obj: *mut PyObject, _a: *mut PyObject) -> *mut PyObject {
    // SAFETY: our Channel.
    let ch = unsafe { handle_of::<Channel>(obj) };
    wrap(|py| recv_result(py, ch.try_recv()))
}

unsafe extern "C" fn ch_close(obj: *mut PyObject, _a: *mut PyObject) -> *mut PyObject {
    // SAFETY: our Channel.
    unsafe { handle_of::<Channel>(obj) }.close();
    none().unwrap()
}

unsafe extern "C" fn ch_len(obj: *mut PyObject) -> Py_ssize_t {
    // SAFETY: our Channel.
    unsafe { handle_of::<Channel>(obj) }.len() as Py_ssize_t
}

unsafe extern "C" fn ch_iter(obj: *mut PyObject) -> *mut PyObject {
    // SAFETY: returning a new reference to self.
    unsafe { sys::Py_NewRef(obj) }
}

unsafe extern "C" fn ch_next(obj: *mut PyObject) -> *mut PyObject {
    // SAFETY: our Channel.
    let ch = unsafe { handle_of::<Channel>(obj) };
    wrap(|py| match ch.recv() {
        Err(RecvError::Closed) => Ok(None), // StopIteration (no exception set)
        r => recv_result(py, r),
    })
}

unsafe extern "C" fn ch_repr(obj: *mut PyObject) -> *mut PyObject {
    // SAFETY: our Channel.
    let ch = unsafe { handle_of::<Channel>(obj) };
    wrap(|py| {
        let cap = ch
            .capacity()
            .map_or("unbounded".to_owned(), |c| format!("capacity {c}"));
        let closed = if ch.is_closed() { ", closed" } else { "" };
        Ok(Some(
            py.str(&format!(
                "<interp.Channel {cap}, {} waiting{closed}>",
                ch.len()
            ))?
            .into_ptr(),
        ))
    })
}

unsafe extern "C" fn ch_richcompare(
    a: *mut PyObject,
    b: *mut PyObject,
    op: c_int,
) -> *mut PyObject {
    // SAFETY: `a` is our Channel; `b` any object; comparing types first.
    unsafe {
        if sys::Py_TYPE(a) != sys::Py_TYPE(b) || (op != sys::Py_EQ && op != sys::Py_NE) {
            return sys::Py_NewRef(sys::Py_NotImplemented());
        }
        let same = handle_of::<Channel>(a) == handle_of::<Channel>(b);
        sys::Py_NewRef(if same == (op == sys::Py_EQ) {
            sys::Py_True()
        } else {
            sys::Py_False()
        })
    }
}

macro_rules! ch_getter {
    ($name:ident, |$c:ident| $e:expr) => {
        unsafe extern "C" fn $name(obj: *mut PyObject, _c: *mut c_void) -> *mut PyObject {
            wrap(|py| {
                // SAFETY: CPython calls getters on our objects.
                let $c = unsafe { handle_of::<Channel>(obj) };
                Ok(Some(py.value(&$e)?.into_ptr()))
            })
        }
    };
}
ch_getter!(ch_closed, |c| Value::Bool(c.is_closed()));
ch_getter!(ch_capacity, |c| c.capacity().map(|n| n as u64).into());

// ---- Frozen ---------------------------------------------------------------------

/// A Frozen proxy: the handle plus this interpreter's cache of materialized
/// children (values, and keys for dicts), made lazily.
#[repr(C)]
struct FrozenObject {
    ob_base: PyObject,
    handle: Option<Box<Frozen>>,
    children: Option<Box<[*mut PyObject]>>,
    keys: Option<Box<[*mut PyObject]>>,
    /// All values (or, for dicts, all keys) as one tuple, once iterated:
    /// later iterations run at native tuple speed.
    values_tuple: *mut PyObject,
    keys_tuple: *mut PyObject,
    hash: Py_ssize_t,
}

static FROZEN_METHODS: Def<[sys::PyMethodDef; 6]> = Def::new([
    method!(
        c"keys",
        noargs(fz_keys),
        sys::METH_NOARGS,
        c"keys()\n--\n\nThe keys of a frozen dict, as a tuple."
    ),
    method!(
        c"values",
        noargs(fz_values),
        sys::METH_NOARGS,
        c"values()\n--\n\nThe values of a frozen dict, as a tuple."
    ),
    method!(
        c"items",
        noargs(fz_items),
        sys::METH_NOARGS,
        c"items()\n--\n\nThe (key, value) pairs of a frozen dict, as a tuple."
    ),
    method!(
        c"get",
        kw(fz_get),
        VARARGS_KW,
        c"get(key, default=None)\n--\n\nThe value for key in a frozen dict, else default."
    ),
    method!(
        c"thaw",
        noargs(fz_thaw),
        sys::METH_NOARGS,
        c"thaw()\n--\n\nA plain, mutable Python copy (tuples and dicts)."
    ),
    sys::PyMethodDef::zeroed(),
]);

static FROZEN_SLOTS: Def<[sys::PyType_Slot; 14]> = Def::new([
    sys::PyType_Slot { slot: sys::Py_tp_new, pfunc: fz_new as *mut c_void },
    sys::PyType_Slot { slot: sys::Py_tp_dealloc, pfunc: fz_dealloc as *mut c_void },
    sys::PyType_Slot { slot: sys::Py_tp_methods, pfunc: FROZEN_METHODS.0.get() as *mut c_void },
    sys::PyType_Slot { slot: sys::Py_mp_length, pfunc: fz_len as *mut c_void },
    sys::PyType_Slot { slot: sys::Py_sq_length, pfunc: fz_len as *mut c_void },
    sys::PyType_Slot { slot: sys::Py_mp_subscript, pfunc: fz_getitem as *mut c_void },
    sys::PyType_Slot { slot: sys::Py_mp_ass_subscript, pfunc: fz_setitem as *mut c_void },
    sys::PyType_Slot { slot: sys::Py_sq_contains, pfunc: fz_contains as *mut c_void },
    sys::PyType_Slot { slot: sys::Py_tp_iter, pfunc: fz_iter as *mut c_void },
    sys::PyType_Slot { slot: sys::Py_tp_richcompare, pfunc: fz_richcompare as *mut c_void },
    sys::PyType_Slot { slot: sys::Py_tp_hash, pfunc: fz_hash as *mut c_void },
    sys::PyType_Slot { slot: sys::Py_tp_repr, pfunc: fz_repr as *mut c_void },
    sys::PyType_Slot {
        slot: sys::Py_tp_doc,
        pfunc: c"Frozen(obj)\n--\n\nRead-only data (tuples and dicts of scalars) shared by reference between interpreters; see interp.freeze().".as_ptr() as *mut c_void,
    },
    sys::PyType_Slot { slot: 0, pfunc: null_mut() },
]);

static FROZEN_SPEC: Def<sys::PyType_Spec> = Def::new(sys::PyType_Spec {
    name: c"interp.Frozen".as_ptr(),
    basicsize: std::mem::size_of::<FrozenObject>() as c_int,
    itemsize: 0,
    flags: (sys::Py_TPFLAGS_DEFAULT | sys::Py_TPFLAGS_IMMUTABLETYPE) as _,
    slots: FROZEN_SLOTS.0.get() as *mut sys::PyType_Slot,
});

/// The Python object for a frozen handle arriving in this interpreter: a
/// plain object for a scalar, else a proxy — the same one as last time when
/// the tree was handed over recently (see `FROZEN_CACHE`).
pub(crate) fn frozen_to_python<'py>(py: Python<'py>, f: &Frozen) -> Result<Bound<'py>> {
    if f.node().len().is_none() {
        return py.value(&f.to_value());
    }
    let key = f.node() as *const Node as usize;
    let (_m, st) = state(py)?;
    // SAFETY: the state is valid while `_m` lives; cached objects are live
    // proxies of this interpreter (owned by the cache).
    unsafe {
        let cache = (*st).frozen_cache.get_or_insert_with(Default::default);
        if let Some(pos) = cache.iter().position(|(k, _)| *k == key) {
            let entry = cache.remove(pos);
            cache.push(entry);
            return Ok(py.from_borrowed_ptr(entry.1));
        }
    }
    let proxy = new_frozen_proxy(py, f)?;
    // SAFETY: as above; the cache takes its own reference.
    unsafe {
        let cache = (*st).frozen_cache.get_or_insert_with(Default::default);
        if cache.len() >= FROZEN_CACHE {
            let (_, old) = cache.remove(0);
            sys::Py_DecRef(old);
        }
        cache.push((key, proxy.clone().into_ptr()));
    }
    Ok(proxy)
}

/// A new proxy for a container node.
fn new_frozen_proxy<'py>(py: Python<'py>, f: &Frozen) -> Result<Bound<'py>> {
    if f.node().len().is_none() {
        return py.value(&f.to_value());
    }
    let (_m, st) = state(py)?;
    // SAFETY: the state is valid while `_m` lives; the type's basicsize is
    // FrozenObject's; GenericAlloc zero-fills.
    unsafe {
        let obj = py.from_owned_ptr(sys::PyType_GenericAlloc((*st).frozen_type.cast(), 0))?;
        let o = obj.as_ptr().cast::<FrozenObject>();
        (*o).handle = Some(Box::new(f.clone()));
        (*o).hash = -1;
        Ok(obj)
    }
}

unsafe fn fz<'a>(obj: *mut PyObject) -> &'a mut FrozenObject {
    // SAFETY: callers pass our Frozen objects, used under their
    // interpreter's GIL (no concurrent access).
    unsafe { &mut *obj.cast::<FrozenObject>() }
}

unsafe extern "C" fn fz_new(
    _ty: *mut sys::PyTypeObject,
    args: *mut PyObject,
    kwargs: *mut PyObject,
) -> *mut PyObject {
    wrap(|py| {
        // SAFETY: tp_new contract.
        let obj = unsafe {
            check_args(args, kwargs, &["obj"], "Frozen")?;
            arg(py, args, kwargs, 0, c"obj")
        }
        .ok_or_else(|| type_error("Frozen() missing required argument 'obj'".into()))?;
        let frozen = Frozen::from_value(&obj.to_value()?)?;
        Ok(Some(py.value(&Value::Frozen(frozen))?.into_ptr()))
    })
}

unsafe extern "C" fn fz_dealloc(obj: *mut PyObject) {
    // SAFETY: our object; cached children are owned references of this
    // interpreter; heap-type instances own a reference to their type.
    unsafe {
        let o = fz(obj);
        for t in [o.values_tuple, o.keys_tuple] {
            if !t.is_null() {
                sys::Py_DecRef(t);
            }
        }
        for cache in [o.children.take(), o.keys.take()].into_iter().flatten() {
            for p in cache.iter().filter(|p| !p.is_null()) {
                sys::Py_DecRef(*p);
            }
        }
        drop(o.handle.take());
        let tp = sys::Py_TYPE(obj);
        let free: sys::freefunc = std::mem::transmute(sys::PyType_GetSlot(tp, sys::Py_tp_free));
        free(obj.cast());
        sys::Py_DecRef(tp.cast());
    }
}

/// The cached Python object for child `i` (a value, or a dict key when
/// `key`), made on first use.
fn child<'py>(py: Python<'py>, obj: *mut PyObject, i: usize, key: bool) -> Result<Bound<'py>> {
    // SAFETY: our object, under its interpreter's GIL.
    let o = unsafe { fz(obj) };
    let f = o.handle.as_deref().expect("initialized Frozen");
    let (nodes, n): (&[Node], usize) = match f.node() {
        Node::Tuple(items) => (items, items.len()),
        Node::Dict(d) => (if key { &d.keys } else { &d.values }, d.keys.len()),
        _ => unreachable!("scalars have no proxy"),
    };
    let cache = if key { &mut o.keys } else { &mut o.children };
    let cache = cache.get_or_insert_with(|| vec![null_mut(); n].into_boxed_slice());
    if cache[i].is_null() {
        let made = new_frozen_proxy(py, &f.child(&nodes[i]))?;
        cache[i] = made.into_ptr();
    }
    // SAFETY: cache[i] is a live object of this interpreter.
    Ok(unsafe { py.from_borrowed_ptr(cache[i]) })
}

fn frozen_len(obj: *mut PyObject) -> usize {
    // SAFETY: our object.
    unsafe { fz(obj) }
        .handle
        .as_deref()
        .and_then(|f| f.len())
        .unwrap_or(0)
}

unsafe extern "C" fn fz_len(obj: *mut PyObject) -> Py_ssize_t {
    frozen_len(obj) as Py_ssize_t
}

fn is_dict(obj: *mut PyObject) -> bool {
    matches!(
        // SAFETY: our object.
        unsafe { fz(obj) }.handle.as_deref().map(Frozen::node),
        Some(Node::Dict(_))
    )
}

fn dict_index(obj: *mut PyObject, key: &Bound<'_>) -> Result<Option<usize>> {
    // SAFETY: our object.
    let f = unsafe { fz(obj) }
        .handle
        .as_deref()
        .expect("initialized Frozen");
    let Node::Dict(d) = f.node() else {
        return Ok(None);
    };
    // Keys that are not shareable data cannot be in a frozen dict.
    Ok(value::from_python_no_pickle(key)
        .ok()
        .and_then(|k| d.index_of(&k)))
}

unsafe extern "C" fn fz_getitem(obj: *mut PyObject, key: *mut PyObject) -> *mut PyObject {
    wrap(|py| {
        // SAFETY: valid borrowed key.
        let key = unsafe { borrowed(py, key) };
        if is_dict(obj) {
            return match dict_index(obj, &key)? {
                Some(i) => Ok(Some(child(py, obj, i, false)?.into_ptr())),
                None => {
                    // SAFETY: attached; KeyError with the key as its argument.
                    unsafe { sys::PyErr_SetObject(sys::PyExc_KeyError, key.as_ptr()) };
                    Ok(None)
                }
            };
        }
        let n = frozen_len(obj) as isize;
        // SAFETY: attached; type checks before conversions.
        unsafe {
            if sys::PySlice_Check(key.as_ptr()) != 0 {
                let (mut start, mut stop, mut step) = (0, 0, 0);
                if sys::PySlice_Unpack(key.as_ptr(), &mut start, &mut stop, &mut step) < 0 {
                    return Ok(None);
                }
                let len = sys::PySlice_AdjustIndices(n, &mut start, &mut stop, step);
                let mut items = Vec::with_capacity(len as usize);
                let mut i = start;
                for _ in 0..len {
                    items.push(child(py, obj, i as usize, false)?);
                    i += step;
                }
                return Ok(Some(py.tuple(&items)?.into_ptr()));
            }
            if sys::PyIndex_Check(key.as_ptr()) == 0 {
                return Err(type_error(format!(
                    "interp.Frozen indices must be integers or slices, not {}",
                    key.type_name()
                )));
            }
            let mut i = sys::PyNumber_AsSsize_t(key.as_ptr(), sys::PyExc_IndexError);
            if i == -1 && !sys::PyErr_Occurred().is_null() {
                return Ok(None);
            }
            if i < 0 {
                i += n;
            }
            if i < 0 || i >= n {
                set_error(sys::PyExc_IndexError, "interp.Frozen index out of range");
                return Ok(None);
            }
            Ok(Some(child(py, obj, i as usize, false)?.into_ptr()))
        }
    })
}

unsafe extern "C" fn fz_setitem(
    _obj: *mut PyObject,
    _k: *mut PyObject,
    _v: *mut PyObject,
) -> c_int {
    // SAFETY: attached (slot call).
    set_error(
        unsafe { sys::PyExc_TypeError },
        "interp.Frozen is read-only: it cannot be changed in place; thaw() gives a mutable copy",
    );
    -1
}

unsafe extern "C" fn fz_contains(obj: *mut PyObject, item: *mut PyObject) -> c_int {
    run(-1, |py| {
        // SAFETY: valid borrowed item.
        let item = unsafe { borrowed(py, item) };
        if is_dict(obj) {
            return Ok(Some(dict_index(obj, &item)?.is_some() as c_int));
        }
        for i in 0..frozen_len(obj) {
            let c = child(py, obj, i, false)?;
            // SAFETY: attached; both objects valid.
            match unsafe { sys::PyObject_RichCompareBool(c.as_ptr(), item.as_ptr(), sys::Py_EQ) } {
                0 => {}
                1 => return Ok(Some(1)),
                _ => return Ok(None),
            }
        }
        Ok(Some(0))
    })
}

/// All children (values, or keys when `keys`) as a tuple.
fn all_children<'py>(py: Python<'py>, obj: *mut PyObject, keys: bool) -> Result<Bound<'py>> {
    // SAFETY: our object, under its interpreter's GIL.
    let cached = unsafe {
        let o = fz(obj);
        if keys {
            o.keys_tuple
        } else {
            o.values_tuple
        }
    };
    if !cached.is_null() {
        // SAFETY: a live tuple owned by the proxy.
        return Ok(unsafe { py.from_borrowed_ptr(cached) });
    }
    let items = (0..frozen_len(obj))
        .map(|i| child(py, obj, i, keys))
        .collect::<Result<Vec<_>>>()?;
    let t = py.tuple(&items)?;
    // SAFETY: as above; the proxy keeps its own reference.
    unsafe {
        let o = fz(obj);
        let slot = if keys {
            &mut o.keys_tuple
        } else {
            &mut o.values_tuple
        };
        *slot = t.clone().into_ptr();
    }
    Ok(t)
}

unsafe extern "C" fn fz_iter(obj: *mut PyObject) -> *mut PyObject {
    wrap(|py| {
        let t = all_children(py, obj, is_dict(obj))?;
        // SAFETY: attached; tuple iterator.
        Ok(Some(
            unsafe { py.from_owned_ptr(sys::PyObject_GetIter(t.as_ptr())) }?.into_ptr(),
        ))
    })
}

fn require_dict(obj: *mut PyObject, what: &str) -> Result<()> {
    if is_dict(obj) {
        Ok(())
    } else {
        Err(type_error(format!(
            "{what}() needs a frozen dict; this interp.Frozen is a tuple"
        )))
    }
}

unsafe extern "C" fn fz_keys(obj: *mut PyObject, _a: *mut PyObject) -> *mut PyObject {
    wrap(|py| {
        require_dict(obj, "keys")?;
        Ok(Some(all_children(py, obj, true)?.into_ptr()))
    })
}

unsafe extern "C" fn fz_values(obj: *mut PyObject, _a: *mut PyObject) -> *mut PyObject {
    wrap(|py| {
        require_dict(obj, "values")?;
        Ok(Some(all_children(py, obj, false)?.into_ptr()))
    })
}

unsafe extern "C" fn fz_items(obj: *mut PyObject, _a: *mut PyObject) -> *mut PyObject {
    wrap(|py| {
        require_dict(obj, "items")?;
        let pairs = (0..frozen_len(obj))
            .map(|i| py.tuple(&[child(py, obj, i, true)?, child(py, obj, i, false)?]))
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(py.tuple(&pairs)?.into_ptr()))
    })
}

unsafe extern "C" fn fz_get(
    obj: *mut PyObject,
    args: *mut PyObject,
    kwargs: *mut PyObject,
) -> *mut PyObject {
    wrap(|py| {
        require_dict(obj, "get")?;
        // SAFETY: method contract.
        let (key, default) = unsafe {
            check_args(args, kwargs, &["key", "default"], "get")?;
            (
                arg(py, args, kwargs, 0, c"key")
                    .ok_or_else(|| type_error("get() missing required argument 'key'".into()))?,
                arg(py, args, kwargs, 1, c"default"),
            )
        };
        Ok(Some(match dict_index(obj, &key)? {
            Some(i) => child(py, obj, i, false)?.into_ptr(),
            None => default.unwrap_or_else(|| py.none()).into_ptr(),
        }))
    })
}

unsafe extern "C" fn fz_thaw(obj: *mut PyObject, _a: *mut PyObject) -> *mut PyObject {
    wrap(|py| {
        // SAFETY: our object.
        let f = unsafe { fz(obj) }
            .handle
            .as_deref()
            .expect("initialized Frozen");
        Ok(Some(py.value(&f.to_value())?.into_ptr()))
    })
}

unsafe extern "C" fn fz_richcompare(
    a: *mut PyObject,
    b: *mut PyObject,
    op: c_int,
) -> *mut PyObject {
    wrap(|py| {
        if op != sys::Py_EQ && op != sys::Py_NE {
            // SAFETY: NotImplemented is immortal.
            return Ok(Some(unsafe { sys::Py_NewRef(sys::Py_NotImplemented()) }));
        }
        // SAFETY: `a` is our object; `b` any valid object.
        let (f, other) = unsafe {
            (
                fz(a).handle.as_deref().expect("initialized Frozen"),
                borrowed(py, b),
            )
        };
        let eq = match value::from_python_no_pickle(&other) {
            Ok(v) => f.node().eq_value(&v),
            Err(_) => false,
        };
        let t = eq == (op == sys::Py_EQ);
        Ok(Some(py.value(&Value::Bool(t))?.into_ptr()))
    })
}

/// A hashable plain-Python equivalent: tuples stay tuples, dicts become
/// frozensets of (key, value) pairs.
fn hashable<'py>(py: Python<'py>, node: &Node) -> Result<Bound<'py>> {
    match node {
        Node::Tuple(items) => {
            let parts = items
                .iter()
                .map(|n| hashable(py, n))
                .collect::<Result<Vec<_>>>()?;
            py.tuple(&parts)
        }
        Node::Dict(d) => {
            let pairs = d
                .keys
                .iter()
                .zip(d.values.iter())
                .map(|(k, v)| py.tuple(&[hashable(py, k)?, hashable(py, v)?]))
                .collect::<Result<Vec<_>>>()?;
            let list = py.tuple(&pairs)?;
            // SAFETY: attached; frozenset from a tuple.
            unsafe { py.from_owned_ptr(sys::PyFrozenSet_New(list.as_ptr())) }
        }
        scalar => py.value(&scalar.to_value()),
    }
}

unsafe extern "C" fn fz_hash(obj: *mut PyObject) -> Py_ssize_t {
    run(-1, |py| {
        // SAFETY: our object, under its interpreter's GIL.
        let o = unsafe { fz(obj) };
        if o.hash != -1 {
            return Ok(Some(o.hash));
        }
        let h = hashable(py, o.handle.as_deref().expect("initialized Frozen").node())?;
        // SAFETY: attached.
        let v = unsafe { sys::PyObject_Hash(h.as_ptr()) };
        if v == -1 {
            return Ok(None);
        }
        o.hash = v;
        Ok(Some(v))
    })
}

unsafe extern "C" fn fz_repr(obj: *mut PyObject) -> *mut PyObject {
    wrap(|py| {
        // SAFETY: our object.
        let f = unsafe { fz(obj) }
            .handle
            .as_deref()
            .expect("initialized Frozen");
        let plain = py.value(&f.to_value())?;
        Ok(Some(
            py.str(&format!("interp.Frozen({})", plain.repr()?))?
                .into_ptr(),
        ))
    })
}

// ---- conversions used by value.rs ------------------------------------------------

/// If `obj` is one of this module's shared objects, its Value.
pub(crate) fn shared_value(_py: Python<'_>, obj: &Bound<'_>) -> Option<Value> {
    // Recognized by the deallocator in the type's slots: the same in every
    // module object made from our definition, whatever sys.modules holds.
    // SAFETY: reading a slot of a live type; handles of our objects are set.
    unsafe {
        let tp = sys::Py_TYPE(obj.as_ptr());
        if sys::PyType_HasFeature(tp, sys::Py_TPFLAGS_HEAPTYPE) == 0 {
            return None;
        }
        let dealloc = sys::PyType_GetSlot(tp, sys::Py_tp_dealloc);
        if dealloc == handle_dealloc::<SharedBuffer> as *mut c_void {
            Some(Value::Buffer(
                handle_of::<SharedBuffer>(obj.as_ptr()).clone(),
            ))
        } else if dealloc == handle_dealloc::<Channel> as *mut c_void {
            Some(Value::Channel(handle_of::<Channel>(obj.as_ptr()).clone()))
        } else if dealloc == fz_dealloc as *mut c_void {
            Some(Value::Frozen(fz(obj.as_ptr()).handle.as_deref()?.clone()))
        } else {
            None
        }
    }
}

/// Whether this interpreter allows the pickle fallback (default: yes).
pub(crate) fn pickle_allowed(py: Python<'_>) -> bool {
    match loaded(py) {
        // SAFETY: our module.
        Some(m) => unsafe { (*state_of(m.as_ptr())).pickle_fallback != 0 },
        None => true,
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
