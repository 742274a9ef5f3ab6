//! Event-loop workers ([`PoolBuilder::event_loop`](crate::PoolBuilder::event_loop)):
//! each worker interpreter runs one asyncio loop for its life, with up to
//! `childconcurrency` coroutines at once.
//!
//! How work flows, with no polling anywhere:
//!
//! - **In.** Submitting rings the registry's work bell (a socket the loops
//!   watch with `loop.add_reader`; one byte per burst). Its reader callback
//!   calls [`take`] (Rust), which dequeues a batch — at most the loop's free
//!   capacity, and a fair share of what is queued so that idle loops get
//!   some — and rings the bell again when it leaves work queued. A full
//!   loop stops watching the bell and takes more when coroutines finish.
//! - **Out.** A finished coroutine's done callback appends it to a list;
//!   the first append schedules one `flush` (`loop.call_soon`), which hands
//!   the whole batch to [`finish`] (Rust) to complete the tasks.
//! - **Cancel.** `Task::cancel` posts the task's id to the worker's inbox
//!   and rings the worker's control bell; the loop calls `task.cancel()`
//!   (the coroutine sees `CancelledError`). If the coroutine is executing at
//!   that moment (it does not yield), the interrupt helper raises
//!   `interp.Cancelled` in it, as for any running task. That exception is
//!   raised at the thread's next bytecode boundary, which may be past the
//!   coroutine's return, in asyncio's own code (scheduling the finished
//!   task's done callbacks, say): the loop's exception handler then sweeps
//!   for finished tasks whose callbacks were lost, and every driver step
//!   tolerates being cut short there. One that CPython drops (it landed in
//!   a `__del__` or a weakref callback) is raised again by the worker's
//!   lost-interrupt hook while that coroutine still executes
//!   (`Slot::catch_lost_interrupts`). If the loop has not
//!   read the cancel by the kill grace, it is stuck: the worker is given up
//!   on and each of its coroutines fails with `WorkerLost` (none is
//!   re-queued: each may have had effects).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crossbeam_channel::TryRecvError;
use interp_core::{Bound, Error, Python, Value};

use crate::error::TaskError;
use crate::execute::{call_object, execute, resolve, Ran};
use crate::registry::{Check, Registry, Slot};
use crate::sync::lock;
use crate::task::{CoroFinishFn, Output, TaskState, Work};

/// The name the driver module takes in each worker's `sys.modules`.
pub(crate) const DRIVER_MODULE: &str = "_interp_pool_aio";

/// The Python side: the loop, its readers, the batches.
const DRIVER: &str = r#"
import asyncio
import sys
from functools import partial
from inspect import isawaitable
from types import CoroutineType

# Coroutine tasks of this interpreter's loop, by task id.
tasks = {}


def serve(work_fd, ctl_fd, capacity, take, finish, control, factory, cancelled):
    loop = factory() if factory is not None else asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    # `done` is swapped, never cleared in place, and every step below is
    # ordered so that an interruption landing between two of them (an
    # `interp.Cancelled` meant for a coroutine that had just returned or
    # yielded lands in the next Python code of this thread) loses nothing.
    st = {"stopping": False, "watching": False, "flushing": False, "recycle": False,
          "done": []}

    def schedule_flush():
        if not st["flushing"]:
            loop.call_soon(flush)
            st["flushing"] = True

    def flush():
        st["flushing"] = False
        batch = st["done"]
        st["done"] = []
        try:
            finish(batch)
        except cancelled:
            # A stray interruption: finish the batch again (tasks it
            # completed already are skipped).
            st["done"] = batch + st["done"]
            schedule_flush()
            raise
        refill()

    def on_done(tid, t):
        # Idempotent (the done callback, or a sweep): reported once, and
        # reported before it leaves `tasks`.
        if tasks.get(tid) is not t:
            return
        st["done"].append((tid, t, None))
        del tasks[tid]
        schedule_flush()

    def sweep():
        # Reports finished tasks whose done callbacks were lost: an
        # interruption landing in asyncio's own code (`call_soon` of the
        # callbacks, say) cuts the callbacks of a finished task short.
        for tid, t in list(tasks.items()):
            if t.done():
                on_done(tid, t)
        schedule_flush()

    prev_handler = loop.get_exception_handler()

    def on_exception(lp, context):
        loop.call_soon(sweep)
        if isinstance(context.get("exception"), cancelled):
            return  # a cancel's interruption that landed in the loop's code
        if prev_handler is not None:
            prev_handler(lp, context)
        else:
            lp.default_exception_handler(context)

    loop.set_exception_handler(on_exception)

    def watch(on):
        if on and not st["watching"]:
            loop.add_reader(work_fd, refill)
            st["watching"] = True
        elif not on and st["watching"]:
            loop.remove_reader(work_fd)
            st["watching"] = False

    def refill():
        if not st["stopping"]:
            free = capacity - len(tasks)
            if free > 0:
                items, stop = take(free)
                for tid, obj in items:
                    if type(obj) is CoroutineType:
                        t = loop.create_task(obj)
                    elif isawaitable(obj):
                        t = asyncio.ensure_future(obj, loop=loop)
                    else:
                        st["done"].append((tid, None, obj))
                        continue
                    tasks[tid] = t
                    t.add_done_callback(partial(on_done, tid))
                if st["done"]:
                    schedule_flush()
                if stop:
                    st["stopping"] = True
            watch(not st["stopping"] and len(tasks) < capacity)
        if st["stopping"] and not tasks and not st["done"]:
            watch(False)
            loop.stop()

    def on_control():
        ids = control()
        if ids is None:
            # The worker was given up on: its coroutines already failed.
            st["stopping"] = True
            ids = list(tasks)
        for tid in ids:
            t = tasks.get(tid)
            if t is not None:
                t.cancel()
        refill()

    loop.add_reader(ctl_fd, on_control)
    loop.call_soon(refill)
    try:
        while True:
            try:
                loop.run_forever()
                break
            except SystemExit:
                # asyncio re-raises a task's SystemExit out of the loop (the
                # task has it as its exception): take no more work here,
                # finish what runs, then the worker recycles.
                st["recycle"] = True
                st["stopping"] = True
                watch(False)
                loop.call_soon(refill)
            except (KeyboardInterrupt, cancelled):
                # An interruption that landed in the loop's own code (its
                # coroutine had just yielded): the loop goes on.
                loop.call_soon(sweep)
                loop.call_soon(refill)
    finally:
        left = list(tasks.values())
        for t in left:
            t.cancel()
        if left:
            loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))
        batch = st["done"]
        st["done"] = []
        if batch:
            finish(batch)
        loop.remove_reader(ctl_fd)
        watch(False)
        loop.run_until_complete(loop.shutdown_asyncgens())
        asyncio.set_event_loop(None)
        loop.close()
    return st["recycle"]
"#;

/// How a worker's loop ended.
pub(crate) enum LoopExit {
    /// The worker stops (a shutdown, or it was given up on).
    Stop,
    /// Go on in a fresh interpreter (`max_tasks_per_worker`, `SystemExit`).
    Recycle,
}

/// What the loop's callbacks share (they are `'static` Python functions).
struct Shared {
    registry: Arc<Registry>,
    slot: Arc<Slot>,
    /// Per running coroutine: when it started, and how its result becomes
    /// a value (closure-made coroutines).
    running: Mutex<HashMap<u64, (Instant, Option<CoroFinishFn>)>>,
    /// Coroutines started in this interpreter (for `max_tasks_per_worker`).
    started: AtomicU64,
    /// `max_tasks_per_worker` was reached.
    recycle: AtomicBool,
}

/// Runs the worker's event loop in the interpreter of `py` until the
/// worker stops or must recycle.
pub(crate) fn serve(py: Python<'_>, registry: &Arc<Registry>, slot: &Arc<Slot>) -> LoopExit {
    let sh = Arc::new(Shared {
        registry: registry.clone(),
        slot: slot.clone(),
        running: Mutex::new(HashMap::new()),
        started: AtomicU64::new(0),
        recycle: AtomicBool::new(false),
    });
    let r = run_driver(py, &sh);
    // Whatever the loop did not finish (it failed, or was given up on).
    for task in slot.take_coros() {
        let why = match &r {
            Err(e) => format!("the event loop of worker {} failed: {e}", slot.name()),
            Ok(_) => format!("the event loop of worker {} stopped", slot.name()),
        };
        task.complete(Err(TaskError::WorkerLost(why)));
    }
    match r {
        Err(e) => {
            eprintln!(
                "interp-pool: the event loop of worker {} failed, the worker recycles: {e}",
                slot.name()
            );
            LoopExit::Recycle
        }
        Ok(_) if slot.is_abandoned() => LoopExit::Stop,
        Ok(true) => LoopExit::Recycle,
        Ok(false) if sh.recycle.load(Ordering::SeqCst) => LoopExit::Recycle,
        Ok(false) => LoopExit::Stop,
    }
}

/// Loads the driver and runs its loop; whether the worker must recycle.
fn run_driver(py: Python<'_>, sh: &Arc<Shared>) -> Result<bool, Error> {
    let driver = driver(py)?;
    let config = sh.registry.config();
    let capacity = config.event_loop.unwrap_or(1);
    let (Some(work), Some(ctl)) = (sh.registry.work_bell(), sh.slot.bell()) else {
        return Err(Error::Runtime(
            "an event-loop worker without its bells".into(),
        ));
    };
    let s = sh.clone();
    let take_fn = py.function(move |py, args| {
        let want = args
            .first()
            .map(|a| a.to_value())
            .transpose()?
            .and_then(|v| v.as_i64())
            .unwrap_or(1)
            .max(1) as usize;
        take(py, &s, want)
    })?;
    let s = sh.clone();
    let finish_fn = py.function(move |py, args| {
        let batch = args
            .first()
            .ok_or_else(|| Error::InvalidArgument("finish(batch)".into()))?;
        finish(py, &s, batch)?;
        Ok(py.none())
    })?;
    let s = sh.clone();
    let control_fn = py.function(move |py, _args| {
        let ids = s.slot.take_cancels();
        if s.slot.is_abandoned() {
            return Ok(py.none());
        }
        let ids: Vec<Value> = ids.into_iter().map(|id| Value::Int(id as i64)).collect();
        py.value(&Value::list(ids))
    })?;
    let factory = match &config.loop_factory {
        Some(call) => resolve(py, &call.target)?,
        None => py.none(),
    };
    let cancelled = interp_core::python_module(py)?.getattr("Cancelled")?;
    let int = |n: i64| py.value(&Value::Int(n));
    let recycle = driver.getattr("serve")?.call(
        &[
            int(i64::from(work.fd()))?,
            int(i64::from(ctl.fd()))?,
            int(capacity as i64)?,
            take_fn,
            finish_fn,
            control_fn,
            factory,
            cancelled,
        ],
        &[],
    )?;
    Ok(recycle.to_value()?.as_bool().unwrap_or(false))
}

/// Whether the coroutine of task `id` is executing now in this worker's
/// loop (`py`: the worker's interpreter, attached); false when that cannot
/// be told.
///
/// C-level calls only (a dict lookup, the C `Task.get_coro`, the
/// coroutine's `cr_running`), no bytecode: the callers (an interrupt helper,
/// the lost-interrupt hook) must not run bytecode here, which would take an
/// interruption pending on that thread (and lose it) or hand the GIL over
/// between this answer and the interruption that acts on it.
pub(crate) fn executing(py: Python<'_>, id: u64) -> bool {
    let running = || -> Result<bool, Error> {
        let Some(modules) = py.sys_attr("modules")? else {
            return Ok(false);
        };
        // Looked up, never made here.
        fn get<'py>(d: &Bound<'py>, key: Bound<'py>) -> Result<Bound<'py>, Error> {
            d.getattr("get")?.call(&[key], &[])
        }
        let driver = get(&modules, py.str(DRIVER_MODULE)?)?;
        if driver.is_none() {
            return Ok(false);
        }
        let task = get(&driver.getattr("tasks")?, py.value(&Value::Int(id as i64))?)?;
        if task.is_none() {
            return Ok(false);
        }
        // asyncio's C Task (uvloop's too): its `get_coro` is a builtin. A
        // Task written in Python keeps the coroutine in `_coro`, read as
        // an attribute rather than through a method of its.
        let get_coro = task.getattr("get_coro")?;
        let coro = if get_coro.type_name() == "builtin_function_or_method" {
            get_coro.call(&[], &[])?
        } else {
            task.getattr("_coro")?
        };
        for flag in ["cr_running", "gi_running"] {
            if let Ok(v) = coro.getattr(flag) {
                return Ok(v.to_value()?.as_bool() == Some(true));
            }
        }
        Ok(false)
    };
    running().unwrap_or(false)
}

/// The driver module of this interpreter (made on first use).
pub(crate) fn driver(py: Python<'_>) -> Result<Bound<'_>, Error> {
    let modules = py.import("sys")?.getattr("modules")?;
    let name = py.str(DRIVER_MODULE)?;
    if let Ok(m) = modules
        .getattr("get")?
        .call(std::slice::from_ref(&name), &[])
    {
        if !m.is_none() {
            return Ok(m);
        }
    }
    let m = py
        .import("types")?
        .getattr("ModuleType")?
        .call(std::slice::from_ref(&name), &[])?;
    let builtins = py.import("builtins")?;
    let exec = builtins.getattr("exec")?;
    let code = builtins.getattr("compile")?.call(
        &[
            py.str(DRIVER)?,
            py.str("<interp-pool event loop>")?,
            py.str("exec")?,
        ],
        &[],
    )?;
    exec.call(&[code, m.getattr("__dict__")?], &[])?;
    modules
        .getattr("__setitem__")?
        .call(&[name, m.clone()], &[])?;
    Ok(m)
}

/// `take(want)`: dequeues a batch for the loop. Returns `(items, stop)`:
/// `items` are `(task id, object)` pairs (the loop awaits awaitable
/// objects and reports the others as they are); `stop` tells the loop to
/// take no more work (a shutdown, or `max_tasks_per_worker`).
fn take<'py>(py: Python<'py>, sh: &Shared, want: usize) -> Result<Bound<'py>, Error> {
    let (registry, slot) = (&sh.registry, &sh.slot);
    let config = registry.config();
    if let Some(bell) = registry.work_bell() {
        bell.clear();
    }
    let mut quota = usize::MAX;
    if let Some(max) = config.max_tasks_per_worker {
        let left = max.saturating_sub(sh.started.load(Ordering::SeqCst));
        quota = usize::try_from(left).unwrap_or(usize::MAX);
    }
    // A fair share of what is queued, so that other idle loops get some.
    let queued = registry.jobs().len();
    let share = queued.div_ceil(config.workers).max(1);
    let limit = want.min(share).min(quota);
    let mut items: Vec<Bound<'py>> = Vec::new();
    let mut stop = slot.is_abandoned() || quota == 0;
    let mut taken = 0;
    while !stop && taken < limit {
        let task = match registry.jobs().try_recv() {
            Ok(Some(task)) => task,
            Ok(None) | Err(TryRecvError::Disconnected) => {
                stop = true;
                break;
            }
            Err(TryRecvError::Empty) => break,
        };
        taken += 1;
        if let Some(item) = start(py, sh, task)? {
            items.push(item);
        }
    }
    if sh.started.load(Ordering::SeqCst) >= config.max_tasks_per_worker.unwrap_or(u64::MAX) {
        sh.recycle.store(true, Ordering::SeqCst);
        stop = true;
    }
    if !registry.jobs().is_empty() {
        // Left work queued (full, or a fair share taken): other loops, or
        // this one once it has room, take it.
        if let Some(bell) = registry.work_bell() {
            bell.ring();
        }
    }
    let items = py.tuple(&items)?;
    let stop = py.value(&Value::Bool(stop))?;
    py.tuple(&[items, stop])
}

/// Starts one dequeued task: `Some((id, object))` for the loop, or `None`
/// when it is already complete (cancelled, refused, failed at the call,
/// or synchronous work run here).
fn start<'py>(
    py: Python<'py>,
    sh: &Shared,
    task: Arc<TaskState>,
) -> Result<Option<Bound<'py>>, Error> {
    let (registry, slot) = (&sh.registry, &sh.slot);
    if !task.is_coroutine() {
        run_sync(py, registry, slot, task);
        return Ok(None);
    }
    // Registered before the cancel flag is checked (in `start`): a cancel
    // either finds it here or is seen by `start` (both under the lock).
    slot.add_coro(&task);
    if registry.is_stopping() {
        if slot.take_coro(task.id()).is_some() {
            let err = registry.stopped_error();
            let cancelled = err == TaskError::Cancelled;
            if task.complete(Err(err)) && cancelled {
                registry.count_cancelled_queued();
            }
        }
        return Ok(None);
    }
    let work = match task.start(slot.index()) {
        None => {
            slot.take_coro(task.id());
            return Ok(None); // cancelled while queued
        }
        Some(Err(e)) => {
            if slot.take_coro(task.id()).is_some() {
                task.complete(Err(e));
            }
            return Ok(None);
        }
        Some(Ok(work)) => work,
    };
    sh.started.fetch_add(1, Ordering::SeqCst);
    if let Some(t) = task.timeout() {
        registry.schedule(Instant::now() + t, Check::Timeout(Arc::downgrade(&task)));
    }
    let began = Instant::now();
    let (made, finisher) = match work {
        Work::Coro(call) => (
            task.in_scope(|| {
                resolve(py, &call.target).and_then(|f| call_object(py, &f, &call, None))
            }),
            None,
        ),
        Work::CoroWith(start, finish) => (task.in_scope(|| start(py)), Some(finish)),
        _ => unreachable!("is_coroutine"),
    };
    match made {
        Ok(obj) => {
            lock(&sh.running).insert(task.id(), (began, finisher));
            let id = py.value(&Value::Int(task.id() as i64))?;
            Ok(Some(py.tuple(&[id, obj])?))
        }
        Err(e) => {
            complete(py, sh, &task, began, Err(e));
            Ok(None)
        }
    }
}

/// Runs non-coroutine work (a closure, a `map` chunk, the thread or main
/// lane) synchronously in the loop's thread, published as the worker's
/// running task so that a cancel interrupts it as usual.
fn run_sync(py: Python<'_>, registry: &Registry, slot: &Slot, task: Arc<TaskState>) {
    slot.task().publish(task.clone());
    if registry.is_stopping() {
        if slot.task().take_if(&task).is_some() {
            let err = registry.stopped_error();
            let cancelled = err == TaskError::Cancelled;
            if task.complete(Err(err)) && cancelled {
                registry.count_cancelled_queued();
            }
        }
        return;
    }
    let Some(work) = task.start(slot.index()) else {
        slot.task().take_if(&task);
        return;
    };
    let began = Instant::now();
    let closed = || registry.is_closed();
    let outcome = match work {
        Err(e) => Err(e),
        Ok(work) => {
            if let Some(t) = task.timeout() {
                registry.schedule(Instant::now() + t, Check::Timeout(Arc::downgrade(&task)));
            }
            let mut cache = HashMap::new();
            match task.in_scope(|| execute(py, &mut cache, &task, &closed, work)) {
                Ran::Done { outcome, .. } => outcome,
                Ran::CutShort(rest) => rest.give_up(TaskError::Failed(
                    "an item raised SystemExit; the rest of the chunk did not run".into(),
                )),
            }
        }
    };
    let outcome = match outcome {
        Err(e) => Err(task.classify(e, closed())),
        ok => ok,
    };
    if task.cancel_requested() {
        py.clear_interrupt();
    }
    if slot.task().take_if(&task).is_some() {
        registry
            .counters(slot.index())
            .record(began.elapsed(), &outcome);
        task.complete(outcome);
    }
}

/// `finish(batch)`: completes each `(task id, asyncio task or None,
/// value)` of a batch of finished coroutines.
fn finish<'py>(py: Python<'py>, sh: &Shared, batch: &Bound<'py>) -> Result<(), Error> {
    let items = batch.items()?;
    let mut done = Vec::with_capacity(items.len());
    let mut bad = None;
    for item in items {
        // The driver's own tuples: malformed only through a bug, reported
        // after the rest of the batch is completed.
        let parsed = item.items().and_then(|v| {
            let [tid, t, value]: [Bound<'py>; 3] = v
                .try_into()
                .map_err(|_| Error::InvalidArgument("finish: (id, task, value) expected".into()))?;
            Ok((tid.to_value()?.as_i64().unwrap_or(-1) as u64, t, value))
        });
        let (tid, t, value) = match parsed {
            Ok(p) => p,
            Err(e) => {
                bad = Some(e);
                continue;
            }
        };
        let (began, finisher) = match lock(&sh.running).remove(&tid) {
            Some(r) => r,
            None => (Instant::now(), None),
        };
        let Some(task) = sh.slot.coro(tid) else {
            continue; // given up on: it already failed with WorkerLost
        };
        let r = match finisher {
            None if t.is_none() => value.to_value(),
            None => t
                .getattr("result")
                .and_then(|m| m.call(&[], &[]))
                .and_then(|b| b.to_value()),
            Some(f) => {
                // The result, or the exception object; a cancelled task
                // raises CancelledError from `exception()` (the finisher is
                // not asked).
                let got = if t.is_none() {
                    Ok(Ok(value))
                } else {
                    t.getattr("exception")
                        .and_then(|m| m.call(&[], &[]))
                        .and_then(|exc| {
                            if exc.is_none() {
                                t.getattr("result")?.call(&[], &[]).map(Ok)
                            } else {
                                Ok(Err(exc))
                            }
                        })
                };
                got.and_then(|r| task.in_scope(|| f(py, r)))
            }
        };
        done.push((task, began, r));
    }
    // Outcomes first (Python work), then every completion in one tight
    // pass, so that whoever waits on the batch sees it at once.
    for (task, began, r) in done {
        complete(py, sh, &task, began, r);
    }
    bad.map_or(Ok(()), Err)
}

/// Whether `e` stopped a coroutine because it was cancelled.
fn is_cancellation(e: &interp_core::PyException) -> bool {
    e.is_cancelled() || e.is("asyncio.exceptions.CancelledError") || e.is("CancelledError")
}

/// Completes coroutine task `task` with `r`, unless someone else took it.
fn complete(
    py: Python<'_>,
    sh: &Shared,
    task: &Arc<TaskState>,
    began: Instant,
    r: Result<Value, Error>,
) {
    let closed = sh.registry.is_closed();
    let outcome = match r {
        Ok(v) => Ok(Output::Value(v)),
        Err(Error::Python(e)) if is_cancellation(&e) && (task.cancel_requested() || closed) => {
            Err(task.cancel_error())
        }
        Err(e) => Err(task.classify(e.into(), closed)),
    };
    if task.cancel_requested() {
        // An interruption meant for it that has not landed yet.
        py.clear_interrupt();
    }
    if sh.slot.take_coro(task.id()).is_none() {
        return; // given up on: it already failed with WorkerLost
    }
    sh.registry
        .counters(sh.slot.index())
        .record(began.elapsed(), &outcome);
    task.complete(outcome);
}
