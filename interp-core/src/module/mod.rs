//! The `interp` module, importable in every interpreter (the main one
//! included): `SharedBuffer`, `Channel`, `Frozen`, `freeze()`,
//! `interpreter_id()`, pickle-fallback control and the channel exceptions.
//!
//! Multi-phase init, heap types made per module object, all state in the
//! module's per-interpreter state, `Py_mod_multiple_interpreters =
//! per-interpreter GIL supported`. The three types live in `buffer_type`,
//! `channel_type` and `frozen_type`. The only statics are the immutable
//! definitions (`PyModuleDef`, type specs, slot and method tables): no static
//! `PyTypeObject`, no global `PyObject*`.

#![allow(clippy::missing_safety_doc)]

use std::cell::UnsafeCell;
use std::ffi::{c_int, c_void, CStr};
use std::ptr::null_mut;
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
        c"freeze(obj)\n--\n\nA read-only interp.Frozen copy of obj (None, bool, int, float, str, bytes, tuple, list, dict), shared by reference with every interpreter it is sent to: tuples arrive there as real tuples (built once per interpreter), dicts as read-only interp.Frozen proxies."),
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
    // SAFETY: attached (token); GetModule returns a new reference or NULL.
    unsafe {
        let name = py.str(module_name()).ok()?;
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
    let spec = spec_cls.call(&[py.str(module_name())?, py.none()], &[])?;
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
        let key = py.str(module_name())?;
        if sys::PyDict_SetItem(modules, key.as_ptr(), m.as_ptr()) < 0 {
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
                if sys::PyUnicode_Check(k) == 0 {
                    return Err(type_error(format!("{func}() keywords must be strings")));
                }
                // A str that is not UTF-8 (lone surrogates): none of `names`.
                let key = borrowed(Python::assume_attached(), k)
                    .str_contents_escaped()
                    .unwrap_or_default();
                return Err(type_error(format!(
                    "{func}() got an unexpected keyword argument '{key}'"
                )));
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

// The types come after the macros above (macro scoping is textual).
mod buffer_type;
mod channel_type;
mod frozen_type;

use buffer_type::*;
use channel_type::*;
pub(crate) use frozen_type::frozen_to_python;
use frozen_type::*;
