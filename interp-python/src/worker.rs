//! What runs inside a worker interpreter: function lookup (by registered
//! name, cached per interpreter), the call, and the envelope its outcome
//! travels back in.
//!
//! A single call returns `(0, result)` or `(1, payload)`; a chunk returns
//! `(results, {index: payload})`. A payload describes an exception:
//! `(traceback text, pickled exception or None, type module, type qualname,
//! str(exc))`. Cancellation (`interp.Cancelled` while the task's token is
//! cancelled) and `SystemExit` are returned as errors instead, so the pool
//! classifies the first and recycles the worker on the second.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use interp_core::{Bound, CancelToken, Error, PyException, Python, Value};
use interp_sys as sys;
use sys::PyObject;

use crate::convert::viewify;
use crate::util::take_error;

/// The function a task calls.
#[derive(Clone)]
pub(crate) enum Target {
    /// A registered `module.qualname` (see [`register`]).
    Named(u32),
    /// A pickled callable.
    Pickled(Value),
}

#[derive(Default)]
struct Registry {
    names: Vec<(Arc<str>, Arc<str>)>,
    ids: HashMap<(Arc<str>, Arc<str>), u32>,
}

static REGISTRY: RwLock<Option<Registry>> = RwLock::new(None);

/// A process-wide id for `module.qualname` (the same name gets the same id).
pub(crate) fn register(module: &str, qualname: &str) -> Result<u32, Error> {
    let mut g = REGISTRY.write().unwrap_or_else(|e| e.into_inner());
    let r = g.get_or_insert_with(Registry::default);
    let key: (Arc<str>, Arc<str>) = (module.into(), qualname.into());
    if let Some(id) = r.ids.get(&key) {
        return Ok(*id);
    }
    let id = u32::try_from(r.names.len())
        .map_err(|_| Error::Runtime("too many distinct task functions".into()))?;
    r.names.push(key.clone());
    r.ids.insert(key, id);
    Ok(id)
}

fn name_of(id: u32) -> Option<(Arc<str>, Arc<str>)> {
    let g = REGISTRY.read().unwrap_or_else(|e| e.into_inner());
    g.as_ref()?.names.get(id as usize).cloned()
}

/// The key of this interpreter's function cache (a list indexed by id) in
/// its per-interpreter dict: released with the interpreter.
const CACHE_KEY: &str = "interp._native.functions";

fn cache_list<'py>(py: Python<'py>) -> Result<Bound<'py>, Error> {
    // SAFETY: (whole block) attached to this worker; the interpreter dict
    // is a borrowed reference owned by the interpreter.
    unsafe {
        let d = sys::PyInterpreterState_GetDict(sys::PyInterpreterState_Get());
        if d.is_null() {
            return Err(Error::Runtime("no per-interpreter dict".into()));
        }
        let key = py.str(CACHE_KEY)?;
        let found = sys::PyDict_GetItemWithError(d, key.as_ptr());
        if !found.is_null() {
            return Ok(py.from_borrowed_ptr(found));
        }
        if !sys::PyErr_Occurred().is_null() {
            return Err(take_error(py));
        }
        let list = py.from_owned_ptr(sys::PyList_New(0))?;
        if sys::PyDict_SetItem(d, key.as_ptr(), list.as_ptr()) < 0 {
            return Err(take_error(py));
        }
        Ok(list)
    }
}

/// The function `id` names, looked up once per interpreter.
fn named<'py>(py: Python<'py>, id: u32) -> Result<Bound<'py>, Error> {
    let i = id as sys::Py_ssize_t;
    let list = cache_list(py)?;
    // SAFETY: attached; `list` is an exact list we own a reference to.
    unsafe {
        if i < sys::PyList_GET_SIZE(list.as_ptr()) {
            let f = sys::PyList_GET_ITEM(list.as_ptr(), i);
            if f != sys::Py_None() {
                return Ok(py.from_borrowed_ptr(f));
            }
        }
    }
    let (module, qualname) =
        name_of(id).ok_or_else(|| Error::Runtime(format!("unknown function id {id}")))?;
    let f = py.lookup(&module, &qualname)?;
    // SAFETY: attached; the list is ours (re-read: the lookup ran Python
    // code); SetItem steals the new reference.
    unsafe {
        let list = cache_list(py)?;
        while sys::PyList_GET_SIZE(list.as_ptr()) <= i {
            if sys::PyList_Append(list.as_ptr(), sys::Py_None()) < 0 {
                return Err(Error::Runtime("could not grow the function cache".into()));
            }
        }
        sys::PyList_SetItem(list.as_ptr(), i, f.clone().into_ptr());
    }
    Ok(f)
}

fn resolve<'py>(py: Python<'py>, target: &Target) -> Result<Bound<'py>, Error> {
    match target {
        Target::Named(id) => named(py, *id),
        Target::Pickled(v) => py.value(v),
    }
}

/// One call's arguments.
pub(crate) struct CallSpec {
    pub(crate) target: Target,
    pub(crate) args: Vec<Value>,
    pub(crate) kwargs: Vec<(Value, Value)>,
    /// Some argument shares foreign memory: present it as a memoryview.
    pub(crate) views: bool,
}

/// One `map` chunk.
pub(crate) struct ChunkSpec {
    pub(crate) target: Target,
    pub(crate) items: Value,
    /// Each item is an argument tuple (`starmap`, several iterables).
    pub(crate) star: bool,
    pub(crate) views: bool,
}

fn obj<'py>(py: Python<'py>, v: &Value, views: bool) -> Result<Bound<'py>, Error> {
    let o = py.value(v)?;
    if views {
        viewify(o, 0)
    } else {
        Ok(o)
    }
}

/// Calls `f`; on failure returns the raised exception object.
fn call<'py>(
    py: Python<'py>,
    f: &Bound<'py>,
    args: &[Bound<'py>],
    kwargs: Option<&Bound<'py>>,
) -> Result<Bound<'py>, Bound<'py>> {
    // SAFETY: (whole block) attached; all objects are valid and kept alive
    // by their `Bound`s during the call.
    unsafe {
        let r = match kwargs {
            None => {
                let ptrs: Vec<*mut PyObject> = args.iter().map(Bound::as_ptr).collect();
                sys::PyObject_Vectorcall(
                    f.as_ptr(),
                    ptrs.as_ptr(),
                    ptrs.len(),
                    std::ptr::null_mut(),
                )
            }
            Some(kw) => match py.tuple(args) {
                Ok(t) => sys::PyObject_Call(f.as_ptr(), t.as_ptr(), kw.as_ptr()),
                Err(_) => std::ptr::null_mut(),
            },
        };
        if !r.is_null() {
            return Ok(py.from_owned_ptr(r).expect("not NULL"));
        }
        Err(raised(py))
    }
}

/// Takes the raised exception (a RuntimeError if, against the C-API's
/// rules, none was set).
fn raised(py: Python<'_>) -> Bound<'_> {
    // SAFETY: attached; GetRaisedException returns a new reference or NULL.
    unsafe {
        let e = sys::PyErr_GetRaisedException();
        if !e.is_null() {
            return py.from_owned_ptr(e).expect("not NULL");
        }
        crate::util::set_error(sys::PyExc_SystemError, "a call failed without an exception");
        py.from_owned_ptr(sys::PyErr_GetRaisedException())
            .expect("just set")
    }
}

/// How a failed call is reported.
enum Failure {
    /// Stopped by its task's cancellation or timeout.
    Cancelled,
    /// `SystemExit`: the task fails and the worker is recycled.
    Exit(PyException),
    /// Any other exception, described for the caller.
    Payload(Value),
}

fn cancelled_error() -> Error {
    Error::Python(Box::new(PyException {
        module: "interp".into(),
        qualname: "Cancelled".into(),
        message: String::new(),
        traceback: String::new(),
        hint: None,
        import_name: None,
        kind: interp_core::ExceptionKind::Cancelled,
    }))
}

fn token_cancelled() -> bool {
    CancelToken::current().is_some_and(|t| t.is_cancelled())
}

/// A payload for an error interp itself reports in the worker.
fn synthetic(qualname: &str, message: String) -> Value {
    Value::tuple([
        Value::str(""),
        Value::None,
        Value::str("builtins"),
        Value::str(qualname),
        Value::Str(message.into()),
    ])
}

fn failure<'py>(py: Python<'py>, exc: &Bound<'py>) -> Failure {
    // SAFETY: attached; instance checks on valid objects.
    let is = |ty: *mut PyObject| unsafe { sys::PyErr_GivenExceptionMatches(exc.as_ptr(), ty) == 1 };
    let cancelled = interp_core::python_module(py)
        .and_then(|m| m.getattr("Cancelled"))
        .map(|c| is(c.as_ptr()))
        .unwrap_or(false);
    if cancelled && token_cancelled() {
        return Failure::Cancelled;
    }
    let payload = py
        .lookup("interp._worker", "pack")
        .and_then(|pack| pack.call(std::slice::from_ref(exc), &[]))
        .and_then(|p| p.to_value())
        .unwrap_or_else(|e| {
            synthetic(
                "RuntimeError",
                format!(
                    "the task raised a '{}' that could not be described: {e}",
                    exc.type_name()
                ),
            )
        });
    // SAFETY: reading a static exception type.
    if is(unsafe { sys::PyExc_SystemExit }) {
        let text = |i: usize| {
            payload
                .as_seq()
                .and_then(|s| s.get(i))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        return Failure::Exit(PyException {
            module: "builtins".into(),
            qualname: "SystemExit".into(),
            message: text(4),
            traceback: text(0),
            hint: None,
            import_name: None,
            kind: interp_core::ExceptionKind::SystemExit,
        });
    }
    Failure::Payload(payload)
}

fn result_value(r: &Bound<'_>, what: &dyn Fn() -> String) -> Result<Value, Value> {
    r.to_value().map_err(|e| {
        synthetic(
            "TypeError",
            format!(
                "the result of {} cannot be sent back to the main interpreter: {e}",
                what()
            ),
        )
    })
}

fn describe(target: &Target) -> String {
    match target {
        Target::Named(id) => {
            name_of(*id).map_or_else(|| "the task".into(), |(m, q)| format!("{m}.{q}"))
        }
        Target::Pickled(_) => "the task".into(),
    }
}

/// The function and arguments of a call, as objects of this interpreter.
#[allow(clippy::type_complexity)]
fn call_parts<'py>(
    py: Python<'py>,
    spec: &CallSpec,
) -> Result<(Bound<'py>, Vec<Bound<'py>>, Option<Bound<'py>>), Error> {
    let f = resolve(py, &spec.target)?;
    let args = spec
        .args
        .iter()
        .map(|v| obj(py, v, spec.views))
        .collect::<Result<Vec<_>, _>>()?;
    let kwargs = if spec.kwargs.is_empty() {
        None
    } else {
        // SAFETY: attached; a fresh dict filled with valid objects.
        let d = unsafe { py.from_owned_ptr(sys::PyDict_New()) }?;
        for (k, v) in &spec.kwargs {
            let (k, v) = (py.value(k)?, obj(py, v, spec.views)?);
            // SAFETY: as above; SetItem does not steal.
            if unsafe { sys::PyDict_SetItem(d.as_ptr(), k.as_ptr(), v.as_ptr()) } < 0 {
                return Err(Error::Runtime(
                    "could not build the keyword arguments".into(),
                ));
            }
        }
        Some(d)
    };
    Ok((f, args, kwargs))
}

/// A call's outcome (its result, or the exception object it raised) in
/// the envelope it travels back in.
fn envelope<'py>(
    py: Python<'py>,
    r: Result<Bound<'py>, Bound<'py>>,
    target: &Target,
) -> Result<Value, Error> {
    match r {
        Ok(r) => Ok(match result_value(&r, &|| describe(target)) {
            Ok(v) => Value::tuple([Value::Int(0), v]),
            Err(p) => Value::tuple([Value::Int(1), p]),
        }),
        Err(exc) => match failure(py, &exc) {
            Failure::Cancelled => Err(cancelled_error()),
            Failure::Exit(e) => Err(Error::Python(Box::new(e))),
            Failure::Payload(p) => Ok(Value::tuple([Value::Int(1), p])),
        },
    }
}

/// Runs one call in the worker (the body of a `submit` task).
pub(crate) fn run_call(py: Python<'_>, spec: &CallSpec) -> Result<Value, Error> {
    let (f, args, kwargs) = call_parts(py, spec)?;
    envelope(py, call(py, &f, &args, kwargs.as_ref()), &spec.target)
}

/// Starts one call on an event-loop worker (`interp.aio`): a coroutine
/// that calls the function and awaits its result when it is awaitable, so
/// that whatever it raises reaches [`finish_async`].
pub(crate) fn start_async<'py>(py: Python<'py>, spec: &CallSpec) -> Result<Bound<'py>, Error> {
    let (f, args, kwargs) = call_parts(py, spec)?;
    let args = py.tuple(&args)?;
    let kwargs = kwargs.unwrap_or_else(|| py.none());
    py.lookup("interp._worker", "_aio_call")?
        .call(&[f, args, kwargs], &[])
}

/// What an event-loop call gave, in its envelope.
pub(crate) fn finish_async<'py>(
    py: Python<'py>,
    r: Result<Bound<'py>, Bound<'py>>,
    target: &Target,
) -> Result<Value, Error> {
    envelope(py, r, target)
}

/// Starts a `map` chunk on an event-loop worker (`interp.aio`): one
/// coroutine gathering a call per item, all at once in the loop.
pub(crate) fn start_async_chunk<'py>(
    py: Python<'py>,
    spec: &ChunkSpec,
) -> Result<Bound<'py>, Error> {
    let f = resolve(py, &spec.target)?;
    let items = obj(py, &spec.items, spec.views)?;
    let star = py.value(&Value::Bool(spec.star))?;
    py.lookup("interp._worker", "_aio_chunk")?
        .call(&[f, items, star], &[])
}

/// What an event-loop chunk gave (`_aio_chunk`'s `(results, raised
/// indices)`): `(results, {index: payload})`, as [`run_chunk`] returns.
/// The chunk's own failure (a cancel) fails the task.
pub(crate) fn finish_async_chunk<'py>(
    py: Python<'py>,
    r: Result<Bound<'py>, Bound<'py>>,
    target: &Target,
) -> Result<Value, Error> {
    let list = match r {
        Ok(list) => list,
        Err(exc) => {
            return match failure(py, &exc) {
                Failure::Cancelled => Err(cancelled_error()),
                Failure::Exit(e) => Err(Error::Python(Box::new(e))),
                Failure::Payload(_) => Err(Error::Runtime(format!(
                    "a map chunk failed as a whole: {}",
                    exc.str().unwrap_or_default()
                ))),
            }
        }
    };
    let malformed = || Error::Runtime("_aio_chunk: (results, raised indices) expected".into());
    let [list, raised]: [Bound<'py>; 2] = list.items()?.try_into().map_err(|_| malformed())?;
    let items = list.items()?;
    let mut raised_at = vec![false; items.len()];
    for i in raised.items()? {
        let i = i.to_value()?.as_i64().ok_or_else(malformed)?;
        *usize::try_from(i)
            .ok()
            .and_then(|i| raised_at.get_mut(i))
            .ok_or_else(malformed)? = true;
    }
    let mut results = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let outcome = if raised_at[i] {
            match failure(py, item) {
                Failure::Cancelled => Err(synthetic("RuntimeError", "cancelled".into())),
                Failure::Exit(e) => Err(Value::tuple([
                    Value::Str(e.traceback.into()),
                    Value::None,
                    Value::str("builtins"),
                    Value::str("SystemExit"),
                    Value::Str(e.message.into()),
                ])),
                Failure::Payload(p) => Err(p),
            }
        } else {
            result_value(item, &|| describe(target))
        };
        match outcome {
            Ok(v) => results.push(v),
            Err(p) => {
                results.push(Value::None);
                errors.push((Value::from(i), p));
            }
        }
    }
    Ok(Value::tuple([
        Value::List(results.into()),
        Value::Dict(errors.into()),
    ]))
}

/// Runs a `map` chunk in the worker: one call per item, in order.
pub(crate) fn run_chunk(py: Python<'_>, spec: &ChunkSpec) -> Result<Value, Error> {
    let f = resolve(py, &spec.target)?;
    let items = spec.items.as_seq().unwrap_or(&[]);
    let mut results = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for (i, item) in items.iter().enumerate() {
        if token_cancelled() {
            return Err(cancelled_error());
        }
        let o = obj(py, item, spec.views)?;
        let r = if spec.star {
            // SAFETY: attached; PySequence_Tuple accepts any iterable.
            let t = unsafe { py.from_owned_ptr(sys::PySequence_Tuple(o.as_ptr())) }?;
            // SAFETY: attached; `t` is a tuple.
            let r = unsafe { sys::PyObject_Call(f.as_ptr(), t.as_ptr(), std::ptr::null_mut()) };
            if r.is_null() {
                Err(raised(py))
            } else {
                // SAFETY: a new reference.
                Ok(unsafe { py.from_owned_ptr(r) }?)
            }
        } else {
            call(py, &f, std::slice::from_ref(&o), None)
        };
        match r {
            Ok(r) => match result_value(&r, &|| describe(&spec.target)) {
                Ok(v) => results.push(v),
                Err(p) => {
                    results.push(Value::None);
                    errors.push((Value::from(i), p));
                }
            },
            Err(exc) => match failure(py, &exc) {
                Failure::Cancelled => return Err(cancelled_error()),
                Failure::Exit(e) => {
                    results.push(Value::None);
                    errors.push((
                        Value::from(i),
                        Value::tuple([
                            Value::Str(e.traceback.into()),
                            Value::None,
                            Value::str("builtins"),
                            Value::str("SystemExit"),
                            Value::Str(e.message.into()),
                        ]),
                    ));
                }
                Failure::Payload(p) => {
                    results.push(Value::None);
                    errors.push((Value::from(i), p));
                }
            },
        }
    }
    Ok(Value::tuple([
        Value::List(results.into()),
        Value::Dict(errors.into()),
    ]))
}
