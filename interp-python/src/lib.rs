//! interp-python: the native module `interp._native` of the `interp` pip
//! package, the Python front of interp.
//!
//! The package (`python/interp/`) is what users import; this crate gives it
//! the fast paths: a `Pool` per executor, submission
//! with arguments converted straight to [`Value`]s, a completer thread that
//! completes `concurrent.futures.Future`s in batches, waits that release the
//! main GIL, zero-copy sharing of buffer-protocol objects, and the code that
//! runs tasks inside worker interpreters.
//!
//! **One name, one module.** interp-core's own Python module (`SharedBuffer`,
//! `Channel`, `Frozen`, `freeze`, `Cancelled`, ...) is registered as
//! `interp._core` here ([`interp_core::set_module_name`]), and the `interp`
//! package re-exports its types, so `interp.SharedBuffer` is the same type in
//! the main interpreter and in every worker, where `import interp` finds the
//! same package (workers get the main interpreter's `sys.path`). The shared
//! library is loaded once per process; each interpreter gets its own module
//! object (multi-phase init, per-interpreter GIL supported) while the Rust
//! statics — the runtime, the function registry, the completer — are
//! process-wide.
//!
//! **Linking.** maturin builds the extension with
//! `PYO3_BUILD_EXTENSION_MODULE` set, so pyo3-ffi does not link libpython:
//! the host interpreter's runtime is used, and `Runtime::init` attaches to
//! it (the CPython prefix baked into interp-sys is only used when interp
//! initializes Python itself, which never happens here). Plain `cargo build`
//! / `cargo test --workspace` do not set it, so no Cargo feature leaks into
//! the other crates.
//!
//! Every function here except `core_module`, `view_if_foreign` and
//! `register_function` refuses to run outside the main interpreter: futures
//! and callables are objects of the main interpreter and never cross.

#![allow(clippy::missing_safety_doc)]

mod aio;
mod completer;
mod convert;
mod util;
mod worker;

use std::cell::UnsafeCell;
use std::ptr::null_mut;
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

use interp_core::{Bound, Error, InterpreterConfig, Python, Runtime, Value};
use interp_pool::{Call, Pool, PoolError};
use interp_sys as sys;
use sys::{PyObject, Py_ssize_t};

use completer::{Kind, PoolHandle, Rec};
use util::{
    arg, boolean, capsule, entry, from_capsule, main_only, none, seconds, take_error, MainRef,
};
use worker::Target;

/// An immutable definition table that CPython takes by `*mut`.
struct Def<T>(UnsafeCell<T>);
// SAFETY: CPython only reads these tables (PyModuleDef_Init writes the
// def's base once, under the import lock, idempotently).
unsafe impl<T> Sync for Def<T> {}

const POOL_CAPSULE: &std::ffi::CStr = c"interp._native.Pool";
const TASK_CAPSULE: &std::ffi::CStr = c"interp._native.Task";

type Fast = unsafe extern "C" fn(*mut PyObject, *mut *mut PyObject, Py_ssize_t) -> *mut PyObject;

const fn fast(
    name: &'static std::ffi::CStr,
    f: Fast,
    doc: &'static std::ffi::CStr,
) -> sys::PyMethodDef {
    sys::PyMethodDef {
        ml_name: name.as_ptr(),
        ml_meth: sys::PyMethodDefPointer { PyCFunctionFast: f },
        ml_flags: sys::METH_FASTCALL,
        ml_doc: doc.as_ptr(),
    }
}

static METHODS: Def<[sys::PyMethodDef; 23]> = Def(UnsafeCell::new([
    fast(c"core_module", m_core_module, c"core_module()\n--\n\nThis interpreter's interp-core module (SharedBuffer, Channel, Frozen, ...)."),
    fast(c"register_function", m_register, c"register_function(module, qualname)\n--\n\nA process-wide id for a function found by name."),
    fast(c"pool_new", m_pool_new, c"pool_new(workers, thread_prefix, init_source, bootstrap, max_tasks, kill_grace, isolated[, childconcurrency, loop_factory, close_timeout])\n--\n\nStarts a pool (GIL released); a capsule, or ('error', message, traceback). With the last three: workers run event loops (interp.aio)."),
    fast(c"submit", m_submit, c"submit(pool, future, target, args, kwargs, timeout)\n--\n\nSubmits one call; a task capsule."),
    fast(c"submit_chunk", m_submit_chunk, c"submit_chunk(pool, future, target, items, star, timeout)\n--\n\nSubmits a map chunk; a task capsule."),
    fast(c"submit_main", m_submit_main, c"submit_main(pool, future, fn, args, kwargs)\n--\n\nRuns fn(*args, **kwargs) in the main interpreter on a pool thread."),
    fast(c"task_wait", m_task_wait, c"task_wait(task, timeout)\n--\n\nWaits (GIL released) and completes the future; False on timeout."),
    fast(c"task_cancel", m_task_cancel, c"task_cancel(task)\n--\n\nCancels (interrupting a running task); False when it had finished."),
    fast(c"task_running", m_task_running, c"task_running(task)\n--\n\nWhether a worker runs the task now."),
    fast(c"aio_join", aio::m_aio_join, c"aio_join(pool)\n--\n\ninterp.aio: closes intake, lets queued and running coroutines go on for the close timeout, then cancels them; waits for the workers (GIL released). The names of abandoned workers."),
    fast(c"pool_shutdown", m_pool_shutdown, c"pool_shutdown(pool, wait, cancel_futures)\n--\n\nShuts the pool down (cancel_futures: cancels what no worker started); with wait, waits for every task however long it runs, then for the workers; the names of abandoned workers."),
    fast(c"pool_cancel_all", m_pool_cancel_all, c"pool_cancel_all(pool)\n--\n\nCancels every task not finished yet."),
    fast(c"pool_flush", m_pool_flush, c"pool_flush(pool)\n--\n\nCompletes the futures of every finished task now."),
    fast(c"pool_workers", m_pool_workers, c"pool_workers(pool)\n--\n\nThe number of workers."),
    fast(c"view_if_foreign", m_view_if_foreign, c"view_if_foreign(obj)\n--\n\nA memoryview for a SharedBuffer over memory exported by the main interpreter; obj otherwise."),
    fast(c"shutdown_all", m_shutdown_all, c"shutdown_all()\n--\n\nAt exit: shuts every pool down and waits for it."),
    fast(c"hold_back_late_closes", m_hold_back_late_closes, c"hold_back_late_closes()\n--\n\nThe last exit hook: from now on no worker interpreter is closed (an abandoned worker whose call returns leaves its interpreter to the runtime's finalization); waits for the closes under way (Ctrl-C stops waiting)."),
    fast(c"share", m_share, c"share(obj)\n--\n\nA process-wide token for a Channel, SharedBuffer or Frozen, to rebuild it in any interpreter (pickling)."),
    fast(c"shared", m_shared, c"shared(token)\n--\n\nThe object a token from share() stands for, in this interpreter."),
    fast(c"unshare", m_unshare, c"unshare(token)\n--\n\nReleases a reference to a token (share() made the first); the last one forgets it."),
    fast(c"retain", m_retain, c"retain(token)\n--\n\nOne more reference to a token."),
    fast(c"first_time", m_first_time, c"first_time(key)\n--\n\nTrue the first time this process (any interpreter) asks about key, then False: for warnings given once per process, not once per worker."),
    sys::PyMethodDef::zeroed(),
]));

static SLOTS: Def<[sys::PyModuleDef_Slot; 2]> = Def(UnsafeCell::new([
    sys::PyModuleDef_Slot {
        slot: sys::Py_mod_multiple_interpreters,
        value: sys::Py_MOD_PER_INTERPRETER_GIL_SUPPORTED,
    },
    sys::PyModuleDef_Slot {
        slot: 0,
        value: null_mut(),
    },
]));

static MODULE: Def<sys::PyModuleDef> = Def(UnsafeCell::new(sys::PyModuleDef {
    m_base: sys::PyModuleDef_HEAD_INIT,
    m_name: c"interp._native".as_ptr(),
    m_doc: c"The native half of the interp package.".as_ptr(),
    m_size: 0,
    m_methods: METHODS.0.get() as *mut sys::PyMethodDef,
    m_slots: SLOTS.0.get() as *mut sys::PyModuleDef_Slot,
    m_traverse: None,
    m_clear: None,
    m_free: None,
}));

/// The extension's entry point (multi-phase init).
///
/// # Safety
/// Called by CPython's import machinery, with an interpreter attached.
#[no_mangle]
pub unsafe extern "C" fn PyInit__native() -> *mut PyObject {
    // Name interp-core's module after this package (see the crate docs).
    // Only fails if already set to the same name by an earlier import.
    let _ = interp_core::set_module_name("interp._core");
    // SAFETY: MODULE is a valid, static module definition.
    unsafe { sys::PyModuleDef_Init(MODULE.0.get()) }
}

/// Every pool made here, for the exit hook.
static LIVE: Mutex<Vec<Weak<PoolHandle>>> = Mutex::new(Vec::new());

unsafe extern "C" fn pool_capsule_drop(cap: *mut PyObject) {
    // SAFETY: our capsule, holding a Box<Arc<PoolHandle>>.
    let p = unsafe { sys::PyCapsule_GetPointer(cap, POOL_CAPSULE.as_ptr()) };
    if p.is_null() {
        // SAFETY: attached (destructors run under the GIL).
        unsafe { sys::PyErr_Clear() };
        return;
    }
    // SAFETY: made by `capsule` with this type; dropped once.
    let handle = unsafe { Box::from_raw(p.cast::<Arc<PoolHandle>>()) };
    // The executor was garbage-collected without shutdown(): as with a
    // ThreadPoolExecutor, what was submitted still runs and its futures
    // complete; then the workers stop. Never with the main GIL held (a
    // thread of its own). Until the pool has stopped, this thread holds it,
    // so the exit hook (`shutdown_all`, through `LIVE`) still sees it.
    let _ = std::thread::Builder::new()
        .name("interp-pool-drop".into())
        .spawn(move || retire(*handle));
}

/// Shuts down a pool nobody can submit to any more, as
/// `shutdown(wait=True)` does ([`finish`]), then drops it.
fn retire(h: Arc<PoolHandle>) {
    h.pool.shutdown(false, false);
    finish(&h);
    drop(h);
}

/// `shutdown(wait=True)` as a `ThreadPoolExecutor`'s: waits until every
/// task submitted so far has finished, however long that takes, then for
/// the workers to stop. The pool's own shutdown wait is not enough: past
/// its shutdown timeout (10 s) it interrupts the tasks still running; here
/// that timeout only bounds the workers closing their interpreters.
///
/// The caller closed the pool's intake first (`pool.shutdown(false, ..)`),
/// under the main GIL where another thread could still submit, so that
/// every task is among `h.pending()` here.
fn finish(h: &PoolHandle) -> interp_pool::ShutdownReport {
    let tasks: Vec<interp_pool::Task> = h
        .pending()
        .iter()
        .filter_map(|r| r.task.get().cloned())
        .collect();
    interp_pool::wait(&tasks, interp_pool::WaitMode::All, None);
    drop(tasks);
    h.pool.shutdown(true, false)
}

unsafe extern "C" fn task_capsule_drop(cap: *mut PyObject) {
    // SAFETY: our capsule, holding a Box<Arc<Rec>>.
    let p = unsafe { sys::PyCapsule_GetPointer(cap, TASK_CAPSULE.as_ptr()) };
    if p.is_null() {
        // SAFETY: attached.
        unsafe { sys::PyErr_Clear() };
        return;
    }
    // SAFETY: made by `capsule` with this type; dropped once.
    drop(unsafe { Box::from_raw(p.cast::<Arc<Rec>>()) });
}

unsafe fn pool_of<'a>(obj: *mut PyObject) -> Result<&'a Arc<PoolHandle>, Error> {
    // SAFETY: POOL_CAPSULE capsules hold an Arc<PoolHandle>.
    unsafe { from_capsule(obj, POOL_CAPSULE, "an interp pool") }
}

unsafe fn task_of<'a>(obj: *mut PyObject) -> Result<&'a Arc<Rec>, Error> {
    // SAFETY: TASK_CAPSULE capsules hold an Arc<Rec>.
    unsafe { from_capsule(obj, TASK_CAPSULE, "an interp task") }
}

fn bound<'py>(py: Python<'py>, p: *mut PyObject) -> Bound<'py> {
    // SAFETY: callers pass valid borrowed arguments of this interpreter.
    unsafe { py.from_borrowed_ptr(p) }
}

fn pool_error(py: Python<'_>, e: PoolError) -> Error {
    match e {
        PoolError::Shutdown => Error::Runtime("cannot schedule new futures after shutdown".into()),
        PoolError::Init(err) => {
            // The package's BrokenInterpreterPool (a BrokenExecutor).
            let msg = format!("the interpreter pool is broken: {err}");
            match py.lookup("interp._executor", "BrokenInterpreterPool") {
                Ok(ty) => {
                    util::set_error(ty.as_ptr(), &msg);
                    take_error(py)
                }
                Err(_) => Error::Runtime(msg),
            }
        }
        PoolError::InvalidArgument(m) => Error::InvalidArgument(m),
        other => Error::Runtime(other.to_string()),
    }
}

fn target_of(py: Python<'_>, p: *mut PyObject) -> Result<Target, Error> {
    let t = bound(py, p);
    match t.to_value()? {
        Value::Int(id) if id >= 0 && id <= u32::MAX as i64 => Ok(Target::Named(id as u32)),
        Value::Bytes(b) => Ok(Target::Pickled(Value::Pickled(b))),
        _ => Err(Error::Conversion(format!(
            "a task target is a registered function id or pickled bytes, not '{}'",
            t.type_name()
        ))),
    }
}

unsafe extern "C" fn m_core_module(
    _m: *mut PyObject,
    _a: *mut *mut PyObject,
    _n: Py_ssize_t,
) -> *mut PyObject {
    entry(|py| Ok(interp_core::python_module(py)?.into_ptr()))
}

unsafe extern "C" fn m_register(
    _m: *mut PyObject,
    a: *mut *mut PyObject,
    n: Py_ssize_t,
) -> *mut PyObject {
    entry(|py| {
        // SAFETY: FASTCALL arguments.
        let (m, q) = unsafe {
            (
                arg(a, n, 0, "register_function", 2)?,
                arg(a, n, 1, "register_function", 2)?,
            )
        };
        let (m, q) = (bound(py, m).to_value()?, bound(py, q).to_value()?);
        let (Some(m), Some(q)) = (m.as_str(), q.as_str()) else {
            return Err(Error::Conversion(
                "register_function(module, qualname) takes two str".into(),
            ));
        };
        let id = worker::register(m, q)?;
        Ok(py.value(&Value::from(id))?.into_ptr())
    })
}

unsafe extern "C" fn m_pool_new(
    _m: *mut PyObject,
    a: *mut *mut PyObject,
    n: Py_ssize_t,
) -> *mut PyObject {
    entry(|py| {
        main_only("interp.InterpreterPoolExecutor")?;
        const F: &str = "pool_new";
        // 7 arguments, or 10 for an event-loop pool (interp.aio).
        let want = if n == 10 { 10 } else { 7 };
        // SAFETY: FASTCALL arguments (count checked by `arg`).
        let get = |i| unsafe { arg(a, n, i, F, want) };
        let workers = bound(py, get(0)?)
            .to_value()?
            .as_i64()
            .filter(|w| *w > 0)
            .ok_or_else(|| Error::InvalidArgument("max_workers must be greater than 0".into()))?
            as usize;
        let prefix = bound(py, get(1)?)
            .to_value()?
            .as_str()
            .unwrap_or("")
            .to_owned();
        let init_source = bound(py, get(2)?)
            .to_value()?
            .as_str()
            .unwrap_or("")
            .to_owned();
        let mut views = false;
        let bootstrap = convert::to_value(&bound(py, get(3)?), &mut views)?;
        let max_tasks = bound(py, get(4)?).to_value()?.as_i64();
        let grace = seconds(py, get(5)?, "kill_grace")?;
        let isolated = bound(py, get(6)?).to_value()?.as_bool().unwrap_or(true);
        let mut b = Pool::builder()
            .workers(workers)
            .thread_name(move |i| format!("{prefix}_{i}"))
            .init_source(init_source)
            .init_call(Call::new("interp._worker", "_bootstrap").arg(bootstrap))
            // Every worker ready (or the first failure known) when the
            // constructor returns, as a thread pool's threads are.
            .wait_for_all_workers(true)
            .interpreter_config(if isolated {
                InterpreterConfig::isolated()
            } else {
                InterpreterConfig::legacy()
            });
        if let Some(m) = max_tasks {
            b = b.max_tasks_per_worker(m.max(1) as u64);
        }
        if let Some(g) = grace {
            b = b.kill_grace(g);
        }
        if want == 10 {
            b = aio::configure(py, b, get(7)?, get(8)?, get(9)?)?;
        }
        Runtime::init()?;
        // Starting creates interpreters: never with the main GIL held.
        let Some(built) = build_interruptibly(py, b)? else {
            return Ok(null_mut()); // Ctrl-C: KeyboardInterrupt is set
        };
        match built {
            Ok(pool) => {
                let h = Arc::new(PoolHandle {
                    pool,
                    outstanding: Mutex::new(Default::default()),
                });
                let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
                live.retain(|w| w.strong_count() > 0);
                live.push(Arc::downgrade(&h));
                drop(live);
                capsule(h, POOL_CAPSULE, pool_capsule_drop)
            }
            Err(PoolError::Init(e)) => {
                let (msg, tb) = match &e {
                    Error::Python(pe) => (pe.to_string(), pe.traceback.clone()),
                    Error::Runtime(m) => (m.clone(), String::new()),
                    other => (other.to_string(), String::new()),
                };
                Ok(py
                    .value(&Value::tuple([
                        Value::str("error"),
                        Value::Str(msg.into()),
                        Value::Str(tb.into()),
                    ]))?
                    .into_ptr())
            }
            Err(e) => Err(pool_error(py, e)),
        }
    })
}

/// Pools being built (or, after a Ctrl-C in their constructor, shut down)
/// on a thread of their own: the exit hook waits for them.
static BUILDING: (Mutex<usize>, Condvar) = (Mutex::new(0), Condvar::new());

/// One pool build's outcome, or that its caller gave up (Ctrl-C).
#[derive(Default)]
struct BuildSlot {
    abandoned: bool,
    result: Option<Result<Pool, PoolError>>,
}

/// Builds the pool on a helper thread, waiting for it with the main GIL
/// released and signals checked: `Ok(None)` when Ctrl-C interrupted the
/// wait (KeyboardInterrupt set); the pool, once built, is then shut down by
/// the helper thread (the exit hook waits for that).
fn build_interruptibly(
    py: Python<'_>,
    b: interp_pool::PoolBuilder,
) -> Result<Option<Result<Pool, PoolError>>, Error> {
    let slot = Arc::new((Mutex::new(BuildSlot::default()), Condvar::new()));
    let s2 = slot.clone();
    *BUILDING.0.lock().unwrap_or_else(|e| e.into_inner()) += 1;
    let spawned = std::thread::Builder::new()
        .name("interp-pool-build".into())
        .spawn(move || {
            let r = b.build();
            let mut g = s2.0.lock().unwrap_or_else(|e| e.into_inner());
            if g.abandoned {
                drop(g);
                if let Ok(pool) = r {
                    pool.shutdown(true, true);
                    drop(pool);
                }
            } else {
                g.result = Some(r);
                s2.1.notify_all();
                drop(g);
            }
            let mut n = BUILDING.0.lock().unwrap_or_else(|e| e.into_inner());
            *n -= 1;
            BUILDING.1.notify_all();
        });
    if let Err(e) = spawned {
        *BUILDING.0.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
        return Err(Error::Runtime(format!("cannot spawn a thread: {e}")));
    }
    loop {
        let s3 = slot.clone();
        let got = py.detach(move || {
            let g = s3.0.lock().unwrap_or_else(|e| e.into_inner());
            let (mut g, _) =
                s3.1.wait_timeout_while(g, SIGNAL_CHECK, |g| g.result.is_none())
                    .unwrap_or_else(|e| e.into_inner());
            g.result.take()
        });
        if let Some(r) = got {
            return Ok(Some(r));
        }
        // SAFETY: attached; runs pending signal handlers.
        if unsafe { sys::PyErr_CheckSignals() } < 0 {
            let mut g = slot.0.lock().unwrap_or_else(|e| e.into_inner());
            g.abandoned = true;
            let late = g.result.take();
            drop(g);
            if let Some(Ok(pool)) = late {
                // Built just now: shut it down, never under the main GIL
                // (the KeyboardInterrupt stays set: only Rust runs here).
                py.detach(move || {
                    pool.shutdown(true, true);
                    drop(pool);
                });
            }
            return Ok(None);
        }
    }
}

/// Submits `rec`'s work and starts watching it; returns its capsule.
fn start(
    rec: Arc<Rec>,
    task: Result<interp_pool::Task, PoolError>,
    py: Python<'_>,
    h: &Arc<PoolHandle>,
) -> Result<*mut PyObject, Error> {
    let task = match task {
        Ok(t) => t,
        Err(e) => {
            rec.abandon(py);
            return Err(pool_error(py, e));
        }
    };
    let _ = rec.task.set(task);
    h.outstanding
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(rec.key(), rec.clone());
    completer::watch(&rec);
    capsule(rec, TASK_CAPSULE, task_capsule_drop)
}

unsafe extern "C" fn m_submit(
    _m: *mut PyObject,
    a: *mut *mut PyObject,
    n: Py_ssize_t,
) -> *mut PyObject {
    entry(|py| {
        main_only("interp.InterpreterPoolExecutor.submit")?;
        // SAFETY: FASTCALL arguments (count checked by `arg`).
        let get = |i| unsafe { arg(a, n, i, "submit", 6) };
        // SAFETY: the capsule argument is checked by name.
        let h = unsafe { pool_of(get(0)?)? }.clone();
        let fut = bound(py, get(1)?);
        let target = target_of(py, get(2)?)?;
        let args = get(3)?;
        let kwargs = get(4)?;
        let timeout = seconds(py, get(5)?, "timeout")?;
        let mut views = false;
        // SAFETY: (block) attached; type checks before tuple/dict access;
        // items are wrapped (increfed) before any conversion runs code.
        let (args, kwargs) = unsafe {
            if sys::PyTuple_Check(args) == 0 {
                return Err(Error::Conversion("args must be a tuple".into()));
            }
            let n = sys::PyTuple_GET_SIZE(args);
            let mut out = Vec::with_capacity(n as usize);
            for i in 0..n {
                let item = py.from_borrowed_ptr(sys::PyTuple_GET_ITEM(args, i));
                out.push(
                    convert::to_value(&item, &mut views)
                        .map_err(|e| argument_error(i as usize, e))?,
                );
            }
            let mut kw = Vec::new();
            if kwargs != sys::Py_None() {
                if sys::PyDict_Check(kwargs) == 0 {
                    return Err(Error::Conversion("kwargs must be a dict or None".into()));
                }
                let items = py.from_owned_ptr(sys::PyDict_Items(kwargs))?;
                for i in 0..sys::PyList_GET_SIZE(items.as_ptr()) {
                    let pair = py.from_borrowed_ptr(sys::PyList_GET_ITEM(items.as_ptr(), i));
                    let k = py.from_borrowed_ptr(sys::PyTuple_GET_ITEM(pair.as_ptr(), 0));
                    let v = py.from_borrowed_ptr(sys::PyTuple_GET_ITEM(pair.as_ptr(), 1));
                    let kv = k.to_value()?;
                    let vv = convert::to_value(&v, &mut views).map_err(|e| {
                        Error::Conversion(format!(
                            "keyword argument {kv:?} cannot be sent to a worker interpreter: {e}"
                        ))
                    })?;
                    kw.push((kv, vv));
                }
            }
            (out, kw)
        };
        let spec = worker::CallSpec {
            target,
            args,
            kwargs,
            views,
        };
        let rec = Rec::new(Kind::Call, &fut, &h);
        let task = if h.pool.event_loop().is_some() {
            // interp.aio: the call runs as a coroutine of a worker's loop.
            let target = spec.target.clone();
            h.pool.submit_async_with(
                timeout,
                move |py| worker::start_async(py, &spec),
                move |py, r| worker::finish_async(py, r, &target),
            )
        } else {
            h.pool
                .submit_with_timeout(timeout, move |py| worker::run_call(py, &spec))
        };
        start(rec, task, py, &h)
    })
}

fn argument_error(i: usize, e: Error) -> Error {
    match e {
        Error::Conversion(m) => Error::Conversion(format!(
            "argument {} cannot be sent to a worker interpreter: {m}",
            i + 1
        )),
        other => other,
    }
}

unsafe extern "C" fn m_submit_chunk(
    _m: *mut PyObject,
    a: *mut *mut PyObject,
    n: Py_ssize_t,
) -> *mut PyObject {
    entry(|py| {
        main_only("interp.InterpreterPoolExecutor.map")?;
        // SAFETY: FASTCALL arguments (count checked by `arg`).
        let get = |i| unsafe { arg(a, n, i, "submit_chunk", 6) };
        // SAFETY: the capsule argument is checked by name.
        let h = unsafe { pool_of(get(0)?)? }.clone();
        let fut = bound(py, get(1)?);
        let target = target_of(py, get(2)?)?;
        let mut views = false;
        let items = convert::to_value(&bound(py, get(3)?), &mut views)?;
        if items.as_seq().is_none() {
            return Err(Error::Conversion("chunk items must be a list".into()));
        }
        let star = bound(py, get(4)?).to_value()?.as_bool().unwrap_or(false);
        let timeout = seconds(py, get(5)?, "timeout")?;
        let spec = worker::ChunkSpec {
            target,
            items,
            star,
            views,
        };
        let rec = Rec::new(Kind::Chunk, &fut, &h);
        let task = if h.pool.event_loop().is_some() {
            // interp.aio: the chunk's calls run at once in a worker's loop.
            let target = spec.target.clone();
            h.pool.submit_async_with(
                timeout,
                move |py| worker::start_async_chunk(py, &spec),
                move |py, r| worker::finish_async_chunk(py, r, &target),
            )
        } else {
            h.pool
                .submit_with_timeout(timeout, move |py| worker::run_chunk(py, &spec))
        };
        start(rec, task, py, &h)
    })
}

unsafe extern "C" fn m_submit_main(
    _m: *mut PyObject,
    a: *mut *mut PyObject,
    n: Py_ssize_t,
) -> *mut PyObject {
    entry(|py| {
        main_only("interp.InterpreterThreadPoolExecutor.submit")?;
        // SAFETY: FASTCALL arguments (count checked by `arg`).
        let get = |i| unsafe { arg(a, n, i, "submit_main", 5) };
        // SAFETY: the capsule argument is checked by name.
        let h = unsafe { pool_of(get(0)?)? }.clone();
        let fut = bound(py, get(1)?);
        let (f, args, kwargs) = (bound(py, get(2)?), bound(py, get(3)?), bound(py, get(4)?));
        let rec = Rec::new(Kind::Main, &fut, &h);
        *rec.main_call.lock().unwrap_or_else(|e| e.into_inner()) = Some((
            MainRef(f.into_ptr()),
            MainRef(args.into_ptr()),
            MainRef(kwargs.into_ptr()),
        ));
        let r2 = rec.clone();
        // The pool's main lane: a cancel raises interp.Cancelled in the call.
        let task = h.pool.submit_main_with(move |mpy| run_main(mpy, &r2));
        start(rec, task, py, &h)
    })
}

/// Runs a main-lane call on a pool thread, in the main interpreter (`py`):
/// calls, keeps the result or exception object for the completer. An
/// `interp.Cancelled` raised out of the call is also reported as such, so
/// that the pool can tell the interruption of a cancel or timeout (the
/// future is then cancelled) from one the call raised itself (kept as the
/// future's exception).
fn run_main(py: Python<'_>, rec: &Arc<Rec>) -> Result<Value, Error> {
    let call = rec
        .main_call
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    let Some((f, args, kwargs)) = call else {
        return Err(Error::Runtime("the call was withdrawn".into()));
    };
    // SAFETY: (block) the main interpreter is attached (`py`); the three
    // references are ours, valid objects of it (a callable, a tuple, a dict
    // or None).
    let out = unsafe {
        let kw = if kwargs.0 == sys::Py_None() {
            null_mut()
        } else {
            kwargs.0
        };
        let r = sys::PyObject_Call(f.0, args.0, kw);
        f.release();
        args.release();
        kwargs.release();
        if r.is_null() {
            Err(MainRef(sys::PyErr_GetRaisedException()))
        } else {
            Ok(MainRef(r))
        }
    };
    let cancelled = match &out {
        Err(exc) => is_cancelled(py, exc),
        Ok(_) => false,
    };
    *rec.main_out.lock().unwrap_or_else(|e| e.into_inner()) = Some(out);
    if cancelled {
        return Err(Error::Python(Box::new(interp_core::PyException {
            module: "interp".into(),
            qualname: "Cancelled".into(),
            message: "the main-lane call was interrupted".into(),
            kind: interp_core::ExceptionKind::Cancelled,
            ..Default::default()
        })));
    }
    Ok(Value::None)
}

/// Whether `exc` (an exception object of the main interpreter, `py`) is an
/// `interp.Cancelled`. The module is loaded in the main interpreter (the
/// package imports it); if it could not be had, nothing raised its
/// `Cancelled`.
fn is_cancelled(py: Python<'_>, exc: &MainRef) -> bool {
    match interp_core::python_module(py).and_then(|m| m.getattr("Cancelled")) {
        // SAFETY: attached; both are live objects of the main interpreter.
        Ok(c) => unsafe { sys::PyErr_GivenExceptionMatches(exc.0, c.as_ptr()) != 0 },
        Err(_) => false,
    }
}

/// How long one slice of a blocking wait lasts before signals are checked.
const SIGNAL_CHECK: Duration = Duration::from_millis(50);

unsafe extern "C" fn m_task_wait(
    _m: *mut PyObject,
    a: *mut *mut PyObject,
    n: Py_ssize_t,
) -> *mut PyObject {
    entry(|py| {
        main_only("Future.result")?;
        // SAFETY: FASTCALL arguments; the capsule is checked by name.
        let rec = unsafe { task_of(arg(a, n, 0, "task_wait", 2)?)? }.clone();
        // SAFETY: as above.
        let timeout = seconds(py, unsafe { arg(a, n, 1, "task_wait", 2)? }, "timeout")?;
        let deadline = timeout.map(|t| Instant::now() + t);
        let Some(task) = rec.task.get().cloned() else {
            return Ok(boolean(false));
        };
        /// Clears `waited` on every way out, then completes the future if
        /// the task is done (the completer may have been skipped).
        struct Waiting<'a, 'py>(&'a Arc<Rec>, Python<'py>);
        impl Drop for Waiting<'_, '_> {
            fn drop(&mut self) {
                self.0
                    .waited
                    .store(false, std::sync::atomic::Ordering::SeqCst);
                if self.0.task.get().is_some_and(|t| t.is_done()) {
                    // SAFETY: attached (main); a pending exception (Ctrl-C)
                    // is set aside while Python code completes the future.
                    unsafe {
                        let pending = sys::PyErr_GetRaisedException();
                        completer::complete(self.1, self.0, true);
                        if !pending.is_null() {
                            sys::PyErr_SetRaisedException(pending);
                        }
                    }
                }
            }
        }
        rec.waited.store(true, std::sync::atomic::Ordering::SeqCst);
        let _waiting = Waiting(&rec, py);
        loop {
            let slice = match deadline {
                Some(d) => d
                    .saturating_duration_since(Instant::now())
                    .min(SIGNAL_CHECK),
                None => SIGNAL_CHECK,
            };
            let t2 = task.clone();
            let done = task.is_done() || py.detach(move || t2.wait_timeout(slice).is_some());
            if done {
                return Ok(boolean(true)); // `_waiting` completes the future
            }
            // SAFETY: attached; runs pending signal handlers (Ctrl-C raises
            // KeyboardInterrupt here, in the main thread).
            if unsafe { sys::PyErr_CheckSignals() } < 0 {
                return Ok(null_mut());
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(boolean(false));
            }
        }
    })
}

unsafe extern "C" fn m_task_cancel(
    _m: *mut PyObject,
    a: *mut *mut PyObject,
    n: Py_ssize_t,
) -> *mut PyObject {
    entry(|py| {
        main_only("Future.cancel")?;
        // SAFETY: FASTCALL arguments; the capsule is checked by name.
        let rec = unsafe { task_of(arg(a, n, 0, "task_cancel", 1)?)? }.clone();
        let Some(task) = rec.task.get() else {
            return Ok(boolean(false));
        };
        let cancelled = if rec.kind == Kind::Main {
            // Code running in the main interpreter is not interrupted (as
            // with ThreadPoolExecutor): only a task no thread started yet
            // is cancelled, atomically.
            task.cancel_if_queued()
        } else {
            task.cancel()
        };
        if cancelled {
            // The caller marks its future cancelled; a later completion is
            // ignored.
            Ok(boolean(rec.abandon(py)))
        } else {
            completer::complete(py, &rec, true);
            Ok(boolean(false))
        }
    })
}

unsafe extern "C" fn m_task_running(
    _m: *mut PyObject,
    a: *mut *mut PyObject,
    n: Py_ssize_t,
) -> *mut PyObject {
    entry(|_py| {
        // SAFETY: FASTCALL arguments; the capsule is checked by name.
        let rec = unsafe { task_of(arg(a, n, 0, "task_running", 1)?)? };
        Ok(boolean(rec.task.get().is_some_and(|t| t.is_running())))
    })
}

/// Completes every finished task's future now (main GIL held).
fn flush(py: Python<'_>, h: &PoolHandle) {
    for rec in h.pending() {
        if rec.task.get().is_some_and(|t| t.is_done()) {
            completer::complete(py, &rec, true);
        }
    }
}

unsafe extern "C" fn m_pool_flush(
    _m: *mut PyObject,
    a: *mut *mut PyObject,
    n: Py_ssize_t,
) -> *mut PyObject {
    entry(|py| {
        main_only("pool_flush")?;
        // SAFETY: FASTCALL arguments; the capsule is checked by name.
        let h = unsafe { pool_of(arg(a, n, 0, "pool_flush", 1)?)? };
        flush(py, h);
        Ok(none())
    })
}

unsafe extern "C" fn m_pool_workers(
    _m: *mut PyObject,
    a: *mut *mut PyObject,
    n: Py_ssize_t,
) -> *mut PyObject {
    entry(|py| {
        // SAFETY: FASTCALL arguments; the capsule is checked by name.
        let h = unsafe { pool_of(arg(a, n, 0, "pool_workers", 1)?)? };
        Ok(py.value(&Value::from(h.pool.workers()))?.into_ptr())
    })
}

/// Runs `f` on a helper thread and waits for it with the GIL released,
/// checking for signals; `Ok(None)` when a signal handler raised.
fn blocking<R: Send + 'static>(
    py: Python<'_>,
    f: impl FnOnce() -> R + Send + 'static,
) -> Result<Option<R>, Error> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    std::thread::Builder::new()
        .name("interp-wait".into())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .map_err(|e| Error::Runtime(format!("cannot spawn a thread: {e}")))?;
    loop {
        let rx2 = rx.clone();
        if let Ok(r) = py.detach(move || rx2.recv_timeout(SIGNAL_CHECK)) {
            return Ok(Some(r));
        }
        // SAFETY: attached; runs pending signal handlers.
        if unsafe { sys::PyErr_CheckSignals() } < 0 {
            return Ok(None);
        }
    }
}

unsafe extern "C" fn m_pool_shutdown(
    _m: *mut PyObject,
    a: *mut *mut PyObject,
    n: Py_ssize_t,
) -> *mut PyObject {
    entry(|py| {
        main_only("Executor.shutdown")?;
        // SAFETY: FASTCALL arguments (count checked by `arg`).
        let get = |i| unsafe { arg(a, n, i, "pool_shutdown", 3) };
        // SAFETY: the capsule is checked by name.
        let h = unsafe { pool_of(get(0)?)? }.clone();
        let wait = bound(py, get(1)?).to_value()?.as_bool().unwrap_or(true);
        let cancel = bound(py, get(2)?).to_value()?.as_bool().unwrap_or(false);
        // Intake closed first, under the main GIL: no task can be added to
        // those `finish` waits for. The workers finish what is queued (unless
        // cancelled below), then stop.
        h.pool.shutdown(false, false);
        if cancel {
            // `concurrent.futures` semantics: what no worker has started is
            // cancelled, what runs goes on. (The pool's own `cancel_pending`
            // also interrupts running tasks, so it is not used here.)
            let h2 = h.clone();
            if blocking(py, move || let_idle_workers_start(&h2))?.is_none() {
                return Ok(null_mut());
            }
            for rec in h.pending() {
                if let Some(t) = rec.task.get() {
                    // Only if no worker started it, atomically (a task
                    // that starts meanwhile runs to its end); completes it
                    // as cancelled, and `flush` below marks its future.
                    t.cancel_if_queued();
                }
            }
        }
        let abandoned = if wait {
            let h2 = h.clone();
            match blocking(py, move || finish(&h2))? {
                Some(report) => report.abandoned,
                None => {
                    flush(py, &h);
                    return Ok(null_mut());
                }
            }
        } else {
            Vec::new()
        };
        flush(py, &h);
        Ok(py
            .value(&Value::list(abandoned.into_iter().map(Value::from)))?
            .into_ptr())
    })
}

/// How long `shutdown(cancel_futures=True)` waits at most for idle workers
/// to take queued tasks: a bound that only matters if a worker never comes
/// back (it normally takes microseconds).
const IDLE_WORKERS_BOUND: Duration = Duration::from_secs(2);

/// Before `shutdown(cancel_futures=True)` cancels what is queued: waits until
/// every worker is running a task or nothing is queued any more, so that the
/// tasks an idle worker would take at once run rather than being cancelled,
/// however late the worker threads get a CPU on a busy machine (as a
/// `ThreadPoolExecutor`'s idle threads, woken at `submit`, would have taken
/// them). Without this, `submit` × 50 then `shutdown(cancel_futures=True)`
/// could cancel all 50 when no worker woke in between.
fn let_idle_workers_start(h: &PoolHandle) {
    let deadline = Instant::now() + IDLE_WORKERS_BOUND;
    let mut queued: Vec<Arc<Rec>> = h.pending();
    loop {
        queued.retain(|r| {
            r.task
                .get()
                .is_some_and(|t| !t.is_running() && !t.is_done())
        });
        if queued.is_empty()
            || h.pool.stats().workers.iter().all(|w| w.running)
            || Instant::now() >= deadline
        {
            return;
        }
        std::thread::sleep(Duration::from_micros(50));
    }
}

unsafe extern "C" fn m_pool_cancel_all(
    _m: *mut PyObject,
    a: *mut *mut PyObject,
    n: Py_ssize_t,
) -> *mut PyObject {
    entry(|py| {
        main_only("pool_cancel_all")?;
        // SAFETY: FASTCALL arguments; the capsule is checked by name.
        let h = unsafe { pool_of(arg(a, n, 0, "pool_cancel_all", 1)?)? };
        let mut n = 0i64;
        for rec in h.pending() {
            if rec.task.get().is_some_and(|t| t.cancel()) {
                n += 1;
            }
        }
        Ok(py.value(&Value::Int(n))?.into_ptr())
    })
}

unsafe extern "C" fn m_view_if_foreign(
    _m: *mut PyObject,
    a: *mut *mut PyObject,
    n: Py_ssize_t,
) -> *mut PyObject {
    entry(|py| {
        // SAFETY: FASTCALL arguments.
        let obj = bound(py, unsafe { arg(a, n, 0, "view_if_foreign", 1)? });
        Ok(convert::viewify(obj, 0)?.into_ptr())
    })
}

unsafe extern "C" fn m_shutdown_all(
    _m: *mut PyObject,
    _a: *mut *mut PyObject,
    _n: Py_ssize_t,
) -> *mut PyObject {
    entry(|py| {
        main_only("shutdown_all")?;
        // Pools still being built (or shut down after a Ctrl-C in their
        // constructor) have interpreters too.
        let builds = blocking(py, || {
            let g = BUILDING.0.lock().unwrap_or_else(|e| e.into_inner());
            drop(
                BUILDING
                    .1
                    .wait_while(g, |n| *n > 0)
                    .unwrap_or_else(|e| e.into_inner()),
            );
        })?;
        if builds.is_none() {
            // Ctrl-C: no waiting for callbacks, and nobody enters any more.
            py.detach(|| completer::seal(SEAL_WAIT));
            return Ok(null_mut());
        }
        let pools: Vec<Arc<PoolHandle>> = LIVE
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        // Ctrl-C while waiting: what is queued is cancelled and what runs
        // is interrupted, and the workers are still waited for (bounded by
        // the kill grace and the shutdown timeout), since no worker
        // interpreter may outlive this hook.
        // Intake closed under the main GIL first (see `finish`).
        for h in &pools {
            h.pool.shutdown(false, false);
        }
        let mut interrupt: Option<*mut PyObject> = None;
        for h in &pools {
            if interrupt.is_none() {
                let h2 = h.clone();
                if blocking(py, move || finish(&h2))?.is_none() {
                    // SAFETY: attached; the KeyboardInterrupt is set aside
                    // (restored below) while futures complete.
                    interrupt = Some(unsafe { sys::PyErr_GetRaisedException() });
                }
            }
            if interrupt.is_some() {
                let h2 = h.clone();
                py.detach(move || h2.pool.shutdown(true, true));
            }
            flush(py, h);
        }
        let interrupted = stop_completers(py);
        if let Some(exc) = interrupt {
            if interrupted {
                // SAFETY: attached; the first KeyboardInterrupt is raised below.
                unsafe { sys::PyErr_Clear() };
            }
            py.detach(move || drop(pools));
            if !exc.is_null() {
                // SAFETY: attached; `exc` is the reference taken above.
                unsafe { sys::PyErr_SetRaisedException(exc) };
            }
            return Ok(null_mut());
        }
        // The last reference to a pool being retired may be this one: its
        // drop joins nothing any more, but never under the main GIL.
        py.detach(move || drop(pools));
        if interrupted {
            return Ok(null_mut()); // the KeyboardInterrupt is set
        }
        Ok(none())
    })
}

/// After a Ctrl-C at exit: how long the hook still waits for interp's
/// threads on a short pass through the main interpreter (not in a
/// done-callback).
const SEAL_WAIT: Duration = Duration::from_secs(2);

unsafe extern "C" fn m_hold_back_late_closes(
    _m: *mut PyObject,
    _a: *mut *mut PyObject,
    _n: Py_ssize_t,
) -> *mut PyObject {
    entry(|py| {
        main_only("hold_back_late_closes")?;
        // Marked on this thread first (a Ctrl-C cannot come before it), and
        // no waiting thread when no close is under way.
        if interp_pool::hold_back_late_closes(Some(Instant::now())) == 0 {
            return Ok(none());
        }
        let note_at = Instant::now() + EXIT_CALLBACK_NOTE;
        let waited = match blocking(py, move || {
            interp_pool::hold_back_late_closes(Some(note_at))
        })? {
            Some(0) => return Ok(none()),
            Some(left) => {
                eprintln!(
                    "interp: the exit waits for {left} worker interpreter(s) still closing (a \
                     task abandoned in a blocking call that returned late, or a `threading` \
                     thread started in a worker that does not end; Ctrl-C stops waiting)"
                );
                blocking(py, || interp_pool::hold_back_late_closes(None))?
            }
            None => None,
        };
        if waited.is_some() {
            return Ok(none());
        }
        eprintln!(
            "interp: exiting without waiting for the worker interpreter(s) still closing (the \
             exit may crash)"
        );
        Ok(null_mut()) // the KeyboardInterrupt is set
    })
}

/// How long the exit hook waits for running done-callbacks before it says
/// that it waits (on stderr).
const EXIT_CALLBACK_NOTE: Duration = Duration::from_secs(5);

/// At exit: closes the way into the main interpreter for interp's own
/// threads and waits (main GIL released) for the done-callbacks its
/// completers run, as a thread pool's exit waits for its threads, so that
/// none is inside the main interpreter when it finalizes (see
/// [`completer::stop`]). After [`EXIT_CALLBACK_NOTE`] it says so on stderr.
/// Ctrl-C stops the wait: returns `true` then, the `KeyboardInterrupt` set.
fn stop_completers(py: Python<'_>) -> bool {
    let mut noted = false;
    loop {
        let limit = if noted {
            None
        } else {
            Some(EXIT_CALLBACK_NOTE)
        };
        match blocking(py, move || completer::stop(limit)) {
            Ok(Some(true)) => return false,
            Ok(Some(false)) => {
                eprintln!(
                    "interp: the exit waits for a future's done-callback that is still \
                     running (Ctrl-C stops waiting)"
                );
                noted = true;
            }
            Ok(None) => {
                py.detach(|| completer::seal(SEAL_WAIT));
                eprintln!(
                    "interp: exiting without waiting for the done-callback (it will not finish)"
                );
                return true;
            }
            // No thread to wait on: wait here, Ctrl-C unseen.
            Err(_) => return !py.detach(|| completer::stop(None)),
        }
    }
}

/// What `shared()` and `retain()` say about a token already released.
const GONE: &str =
    "this shared object is gone: every interp object holding it was garbage-collected \
                    before the pickle that refers to it was loaded";

/// Shared objects handed over through pickles, by token.
/// Each with a count of references (see `interp._event`): the token goes
/// when the last is released.
#[allow(clippy::type_complexity)]
static TOKENS: Mutex<Option<(u64, std::collections::HashMap<u64, (Value, u64)>)>> =
    Mutex::new(None);

unsafe extern "C" fn m_share(
    _m: *mut PyObject,
    a: *mut *mut PyObject,
    n: Py_ssize_t,
) -> *mut PyObject {
    entry(|py| {
        // SAFETY: FASTCALL arguments.
        let obj = bound(py, unsafe { arg(a, n, 0, "share", 1)? });
        let v = obj.to_value()?;
        if !matches!(v, Value::Channel(_) | Value::Buffer(_) | Value::Frozen(_)) {
            return Err(Error::Conversion(format!(
                "share() takes a Channel, SharedBuffer or Frozen, not '{}'",
                obj.type_name()
            )));
        }
        let mut g = TOKENS.lock().unwrap_or_else(|e| e.into_inner());
        let (next, map) = g.get_or_insert_with(Default::default);
        *next += 1;
        map.insert(*next, (v, 1));
        Ok(py.value(&Value::from(*next))?.into_ptr())
    })
}

fn token_arg(py: Python<'_>, a: *mut *mut PyObject, n: Py_ssize_t, f: &str) -> Result<u64, Error> {
    // SAFETY: FASTCALL arguments.
    let t = bound(py, unsafe { arg(a, n, 0, f, 1)? }).to_value()?;
    t.as_i64()
        .and_then(|t| u64::try_from(t).ok())
        .ok_or_else(|| Error::Conversion(format!("{f}() takes a token from share()")))
}

unsafe extern "C" fn m_shared(
    _m: *mut PyObject,
    a: *mut *mut PyObject,
    n: Py_ssize_t,
) -> *mut PyObject {
    entry(|py| {
        let token = token_arg(py, a, n, "shared")?;
        let v = TOKENS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .and_then(|(_, m)| m.get(&token).map(|(v, _)| v.clone()))
            .ok_or_else(|| Error::Runtime(GONE.into()))?;
        Ok(py.value(&v)?.into_ptr())
    })
}

unsafe extern "C" fn m_unshare(
    _m: *mut PyObject,
    a: *mut *mut PyObject,
    n: Py_ssize_t,
) -> *mut PyObject {
    entry(|py| {
        let token = token_arg(py, a, n, "unshare")?;
        let mut g = TOKENS.lock().unwrap_or_else(|e| e.into_inner());
        let gone = g.as_mut().and_then(|(_, m)| {
            let (_, n) = m.get_mut(&token)?;
            *n -= 1;
            if *n == 0 {
                m.remove(&token)
            } else {
                None
            }
        });
        drop(g);
        // Dropped without the lock (a buffer's release may take a GIL).
        drop(gone);
        Ok(none())
    })
}

unsafe extern "C" fn m_retain(
    _m: *mut PyObject,
    a: *mut *mut PyObject,
    n: Py_ssize_t,
) -> *mut PyObject {
    entry(|py| {
        let token = token_arg(py, a, n, "retain")?;
        let mut g = TOKENS.lock().unwrap_or_else(|e| e.into_inner());
        match g.as_mut().and_then(|(_, m)| m.get_mut(&token)) {
            Some((_, n)) => {
                *n += 1;
                Ok(none())
            }
            None => Err(Error::Runtime(GONE.into())),
        }
    })
}

/// The keys `first_time` has seen (process-wide).
static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());

unsafe extern "C" fn m_first_time(
    _m: *mut PyObject,
    a: *mut *mut PyObject,
    n: Py_ssize_t,
) -> *mut PyObject {
    entry(|py| {
        // SAFETY: FASTCALL arguments.
        let key = bound(py, unsafe { arg(a, n, 0, "first_time", 1)? }).to_value()?;
        let Some(key) = key.as_str() else {
            return Err(Error::Conversion("first_time(key) takes a str".into()));
        };
        let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
        let first = !seen.iter().any(|k| k == key);
        if first {
            seen.push(key.to_owned());
        }
        Ok(boolean(first))
    })
}
