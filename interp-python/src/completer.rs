//! Completing `concurrent.futures.Future`s from pool tasks.
//!
//! A worker thread cannot call into the main interpreter cheaply, so a
//! finished task's waker only queues its record; one completer thread takes
//! the main GIL once per batch and completes every queued future. A caller
//! blocked in `result()` does not wait for that hop: it waits on the task
//! itself (GIL released) and completes its own future on return. Each
//! record completes its future exactly once (a flag only changed under the
//! main GIL).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::task::{Context, Wake, Waker};

use crossbeam_channel::{Receiver, Sender};
use interp_core::{Bound, Python, Runtime, Value};
use interp_pool::{Pool, Task, TaskError};
use interp_sys as sys;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};
use sys::PyObject;

use crate::util::{finalizing, MainRef};
use std::ptr::null_mut;

/// What a task's value means.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    /// `(0, result)` or `(1, exception payload)` from a worker.
    Call,
    /// `(results, {index: payload})` of a map chunk.
    Chunk,
    /// Ran in the main interpreter: the outcome is in `Rec::main_out`.
    Main,
}

/// How `_interp_finish(code, ...)` reports a failure to the future.
pub(crate) mod code {
    pub(crate) const PAYLOAD: i64 = 0;
    pub(crate) const CANCELLED: i64 = 1;
    pub(crate) const TIMED_OUT: i64 = 2;
    pub(crate) const WORKER_LOST: i64 = 3;
    pub(crate) const BROKEN: i64 = 4;
    pub(crate) const TYPE_ERROR: i64 = 5;
    pub(crate) const RUNTIME_ERROR: i64 = 6;
    pub(crate) const PY_EXCEPTION: i64 = 7;
    pub(crate) const OBJECT: i64 = 8;
}

/// Hashes record addresses (already unique) with one multiplication.
#[derive(Default, Clone, Copy)]
pub(crate) struct AddrHasher(u64);

impl std::hash::Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        // Fibonacci hashing: spreads the address bits into the high bits
        // the table uses.
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// Records by address.
pub(crate) type Outstanding = HashMap<u64, Arc<Rec>, std::hash::BuildHasherDefault<AddrHasher>>;

/// A pool plus the tasks whose futures are not completed yet.
pub(crate) struct PoolHandle {
    pub(crate) pool: Pool,
    pub(crate) outstanding: Mutex<Outstanding>,
}

impl PoolHandle {
    /// Records still waiting for their futures to complete.
    pub(crate) fn pending(&self) -> Vec<Arc<Rec>> {
        self.outstanding
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }
}

/// One submitted task and its Python future.
pub(crate) struct Rec {
    pub(crate) kind: Kind,
    pub(crate) task: OnceLock<Task>,
    /// The future (an owned reference, main interpreter); null once done.
    fut: AtomicPtr<PyObject>,
    done: AtomicBool,
    /// A thread is blocked in `result()` on this task and completes the
    /// future itself when it returns: the waker then skips the completer
    /// (no thread hop on the round trip). Every waiter, on leaving, clears
    /// it and completes the future if the task is done.
    pub(crate) waited: AtomicBool,
    pub(crate) pool: Weak<PoolHandle>,
    /// Main lane: the callable and its arguments, taken by the thread that
    /// runs it (owned references, main interpreter).
    pub(crate) main_call: Mutex<Option<(MainRef, MainRef, MainRef)>>,
    /// Main lane: the result or the raised exception.
    pub(crate) main_out: Mutex<Option<Result<MainRef, MainRef>>>,
}

impl Rec {
    /// Takes a main-lane call's outcome (set by the thread that ran it).
    pub(crate) fn take_main_out(&self) -> Option<Result<MainRef, MainRef>> {
        self.main_out
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// A record owning a new reference to `fut`.
    pub(crate) fn new(kind: Kind, fut: &Bound<'_>, pool: &Arc<PoolHandle>) -> Arc<Rec> {
        Arc::new(Rec {
            kind,
            task: OnceLock::new(),
            fut: AtomicPtr::new(fut.clone().into_ptr()),
            done: AtomicBool::new(false),
            waited: AtomicBool::new(false),
            pool: Arc::downgrade(pool),
            main_call: Mutex::new(None),
            main_out: Mutex::new(None),
        })
    }

    /// A process-unique key (the record's address while it is alive).
    pub(crate) fn key(self: &Arc<Self>) -> u64 {
        Arc::as_ptr(self) as usize as u64
    }

    /// Whether the future was completed (or given up on by `cancel`).
    pub(crate) fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    /// Marks the record done and hands back its future reference (once).
    fn claim<'py>(self: &Arc<Self>, py: Python<'py>) -> Option<Bound<'py>> {
        if self.done.swap(true, Ordering::AcqRel) {
            return None;
        }
        if let Some(pool) = self.pool.upgrade() {
            pool.outstanding
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&self.key());
        }
        let p = self.fut.swap(std::ptr::null_mut(), Ordering::AcqRel);
        // SAFETY: the main interpreter is attached (callers hold `py` for
        // it); `p` is the reference taken in `new`.
        (!p.is_null()).then(|| unsafe { py.from_owned_ptr(p) }.expect("not NULL"))
    }

    /// Gives up the future without completing it (the caller cancels it
    /// itself). Returns false when it was already completed.
    pub(crate) fn abandon(self: &Arc<Self>, py: Python<'_>) -> bool {
        let claimed = self.claim(py).is_some();
        self.release_main(py);
        claimed
    }

    fn release_main(&self, _py: Python<'_>) {
        let call = self
            .main_call
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some((f, a, k)) = call {
            // SAFETY: main GIL held (`_py`); the references are ours.
            unsafe {
                f.release();
                a.release();
                k.release();
            }
        }
        // A main-lane outcome nobody delivered (its future was cancelled
        // while the call ran).
        let out = self
            .main_out
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(Ok(r) | Err(r)) = out {
            // SAFETY: as above.
            unsafe { r.release() };
        }
    }

    /// Whether the completer still has something to do for this record:
    /// its future, or a main-lane outcome to release.
    fn needs_completion(&self) -> bool {
        !self.is_done() || self.kind == Kind::Main
    }
}

impl Drop for Rec {
    fn drop(&mut self) {
        // A record dropped before completing its future (a task that never
        // finished, at process exit) leaks that reference: releasing it
        // needs the main GIL, which this thread may not be able to take.
    }
}

impl Rec {
    fn fire(self: &Arc<Self>) {
        // SeqCst pairs with the waiter clearing `waited` and then reading
        // the task's status: the task is done before this runs, so either
        // the waiter sees it done, or this sees the flag cleared.
        if !self.waited.load(Ordering::SeqCst) {
            notify(self.clone());
        }
    }
}

/// The record is its task's waker (no extra allocation per task).
impl Wake for Rec {
    fn wake(self: Arc<Self>) {
        self.fire();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.fire();
    }
}

/// The completer threads inside the main interpreter, and whether the exit
/// hook stopped them.
#[derive(Default)]
struct Gate {
    /// Set at exit: no completer enters the main interpreter any more, and
    /// completions still arriving are dropped.
    stopping: bool,
    /// Completers inside the main interpreter now.
    inside: usize,
}

static GATE: (Mutex<Gate>, Condvar) = (
    Mutex::new(Gate {
        stopping: false,
        inside: 0,
    }),
    Condvar::new(),
);

/// A completer's pass inside the main interpreter; leaving it (also when
/// the thread is unwound) wakes the exit hook waiting in [`stop`].
struct Inside;

impl Inside {
    /// `None` once [`stop`] was called.
    fn enter() -> Option<Inside> {
        let mut g = GATE.0.lock().unwrap_or_else(|e| e.into_inner());
        if g.stopping {
            return None;
        }
        g.inside += 1;
        Some(Inside)
    }
}

impl Drop for Inside {
    fn drop(&mut self) {
        GATE.0.lock().unwrap_or_else(|e| e.into_inner()).inside -= 1;
        GATE.1.notify_all();
    }
}

/// At exit, before the runtime finalizes: no completer enters the main
/// interpreter from now on, and those inside (completing futures, running
/// done-callbacks) are waited for, at most `limit` (`None`: as long as it
/// takes). Returns whether none is left inside. Call it again to wait more.
///
/// A completer still inside when finalization starts cannot take the main
/// GIL back after a callback released it: CPython 3.12 and 3.13 end such a
/// thread with `pthread_exit`, whose unwinding through Rust frames crashes
/// the process (the destructors run with no thread state, and Rust's
/// thread root cannot let a forced unwind pass); 3.14 parks the thread for
/// good, so its callback never finishes. Must be called without the main
/// GIL.
pub(crate) fn stop(limit: Option<Duration>) -> bool {
    let mut g = GATE.0.lock().unwrap_or_else(|e| e.into_inner());
    g.stopping = true;
    let busy = |g: &mut Gate| g.inside > 0;
    let g = match limit {
        Some(limit) => {
            GATE.1
                .wait_timeout_while(g, limit, busy)
                .unwrap_or_else(|e| e.into_inner())
                .0
        }
        None => GATE
            .1
            .wait_while(g, busy)
            .unwrap_or_else(|e| e.into_inner()),
    };
    g.inside == 0
}

static COMPLETER: OnceLock<Sender<Arc<Rec>>> = OnceLock::new();

/// How long one done-callback may run before the completer running it
/// counts as stuck and another completer thread takes over its work.
const STUCK_AFTER: Duration = Duration::from_millis(20);

/// At most this many completer threads (each stuck one in a callback that
/// blocks adds one).
const MAX_COMPLETERS: usize = 64;

/// An extra completer (one that took over from a stuck one) ends after
/// this long without work.
const EXTRA_IDLE: Duration = Duration::from_secs(1);

/// The completer threads: for each, when the done-callback it runs now
/// started (nanoseconds since [`epoch`], 0: not in a callback).
static COMPLETERS: Mutex<Vec<Arc<AtomicU64>>> = Mutex::new(Vec::new());

/// The watchdog that starts a completer when every one is stuck.
static WATCHDOG: OnceLock<std::thread::Thread> = OnceLock::new();

fn epoch() -> Instant {
    static E: OnceLock<Instant> = OnceLock::new();
    *E.get_or_init(Instant::now)
}

fn now_ns() -> u64 {
    (epoch().elapsed().as_nanos() as u64).max(1)
}

/// Starts a completer thread serving `rx`; `primary`: the first one,
/// which never ends.
fn spawn_completer(rx: Receiver<Arc<Rec>>, primary: bool) -> bool {
    let since = Arc::new(AtomicU64::new(0));
    let mine = since.clone();
    let spawned = std::thread::Builder::new()
        .name("interp-completer".into())
        .spawn(move || completer_loop(rx, primary, &mine));
    match spawned {
        Ok(_) => {
            COMPLETERS
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(since);
            true
        }
        Err(e) => {
            eprintln!("interp: could not start a completer thread: {e}");
            false
        }
    }
}

fn completer_loop(rx: Receiver<Arc<Rec>>, primary: bool, since: &Arc<AtomicU64>) {
    let mut batch = Vec::with_capacity(256);
    // A completer taking over from a stuck one first runs the callbacks
    // that one left queued.
    let mut callbacks_due = !primary;
    loop {
        let first = if primary {
            rx.recv().ok()
        } else {
            match rx.recv_timeout(EXTRA_IDLE) {
                Ok(r) => Some(r),
                Err(_) if callbacks_due => None,
                Err(_) => break,
            }
        };
        batch.extend(first);
        while batch.len() < 4096 {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        if primary && batch.is_empty() {
            break; // the channel is gone
        }
        batch.retain(|r| r.needs_completion());
        let Some(rt) = Runtime::get() else {
            batch.clear();
            continue;
        };
        let inside = Inside::enter();
        if inside.is_none() || finalizing() {
            // Leaked rather than released without the GIL.
            batch.drain(..).for_each(std::mem::forget);
            callbacks_due = false;
            continue;
        }
        if batch.is_empty() && !callbacks_due {
            continue;
        }
        rt.main().enter(|py| {
            for r in batch.drain(..) {
                complete(py, &r, false);
            }
            run_deferred(py, since);
        });
        callbacks_due = false;
        drop(inside);
    }
    COMPLETERS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|s| !Arc::ptr_eq(s, since));
}

/// Runs the done-callbacks queued by completions (main GIL held), marking
/// each in `since` for the watchdog.
fn run_deferred(py: Python<'_>, since: &AtomicU64) {
    static NEXT: OnceLock<Option<MainRef>> = OnceLock::new();
    let next = NEXT.get_or_init(|| {
        // Kept for the main interpreter's lifetime (never released).
        py.lookup("interp._executor", "_next_deferred")
            .ok()
            .map(|f| MainRef(f.into_ptr()))
    });
    let Some(next) = next else { return };
    loop {
        // SAFETY: attached (main); `next` is a live function of it; a new
        // reference or NULL.
        let fut = unsafe { sys::PyObject_CallNoArgs(next.0) };
        // SAFETY: attached.
        if fut.is_null() || fut == unsafe { sys::Py_None() } {
            // SAFETY: attached; `fut` is NULL (error cleared) or None.
            unsafe {
                if fut.is_null() {
                    sys::PyErr_Clear();
                } else {
                    sys::Py_DecRef(fut);
                }
            }
            return;
        }
        since.store(now_ns(), Ordering::SeqCst);
        if let Some(w) = WATCHDOG.get() {
            w.unpark();
        }
        // SAFETY: attached; `fut` is a future we own a reference to;
        // `_invoke_callbacks` logs what a callback raises.
        unsafe {
            let r = sys::PyObject_CallMethod(fut, c"_invoke_callbacks".as_ptr(), null_mut());
            if r.is_null() {
                sys::PyErr_Clear();
            } else {
                sys::Py_DecRef(r);
            }
            sys::Py_DecRef(fut);
        }
        since.store(0, Ordering::SeqCst);
    }
}

/// Watches the completers: when every one has been inside one
/// done-callback for longer than [`STUCK_AFTER`], starts another, so a
/// callback that blocks (on another future, say) delays no completion.
fn watchdog(rx: Receiver<Arc<Rec>>) {
    loop {
        let stamps: Vec<u64> = COMPLETERS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|s| s.load(Ordering::SeqCst))
            .collect();
        if stamps.iter().all(|s| *s == 0) {
            // Woken when a callback starts (a missed wake-up costs one
            // timeout, not a hang).
            std::thread::park_timeout(Duration::from_secs(1));
            continue;
        }
        let now = now_ns();
        let stuck = |s: &u64| *s != 0 && now.saturating_sub(*s) >= STUCK_AFTER.as_nanos() as u64;
        if stamps.iter().all(stuck) && stamps.len() < MAX_COMPLETERS {
            spawn_completer(rx.clone(), false);
        }
        std::thread::sleep(STUCK_AFTER);
    }
}

/// Queues a finished task for the completer thread.
fn notify(rec: Arc<Rec>) {
    if !rec.needs_completion() {
        return;
    }
    let tx = COMPLETER.get_or_init(|| {
        let (tx, rx) = crossbeam_channel::unbounded::<Arc<Rec>>();
        let rx2 = rx.clone();
        if spawn_completer(rx, true) {
            match std::thread::Builder::new()
                .name("interp-completer-watchdog".into())
                .spawn(move || watchdog(rx2))
            {
                Ok(h) => {
                    let _ = WATCHDOG.set(h.thread().clone());
                }
                Err(e) => eprintln!("interp: could not start the completer watchdog: {e}"),
            }
        }
        tx
    });
    let _ = tx.send(rec);
}

/// Arranges for `rec`'s future to be completed when its task finishes.
pub(crate) fn watch(rec: &Arc<Rec>) {
    let Some(task) = rec.task.get() else { return };
    let waker = Waker::from(rec.clone());
    let mut t = task.clone();
    if std::pin::Pin::new(&mut t)
        .poll(&mut Context::from_waker(&waker))
        .is_ready()
    {
        notify(rec.clone());
    }
}

use std::future::Future as _;

/// Completes `rec`'s future from its finished task (no-op when already
/// done). The main interpreter must be attached (`py`).
///
/// `inline`: the future's done-callbacks run now, on this thread (a caller
/// completing its own future); otherwise they are queued, and the completer
/// runs them once its whole batch is complete ([`run_deferred`]).
pub(crate) fn complete(py: Python<'_>, rec: &Arc<Rec>, inline: bool) {
    if rec.is_done() && rec.kind != Kind::Main {
        return; // completed already: no copy of the outcome made
    }
    let Some(outcome) = rec.task.get().and_then(Task::try_result) else {
        return; // not finished: completed later
    };
    if let Some(fut) = rec.claim(py) {
        deliver(py, &fut, rec, outcome, inline);
    }
    rec.release_main(py);
}

/// Attribute names used on every completion, made once (interned) in the
/// main interpreter and kept for its lifetime: no string is built per task.
struct Names {
    cond: MainRef,
    cbl: MainRef,
    state: MainRef,
    result: MainRef,
    set_result: MainRef,
    pending: MainRef,
    finished: MainRef,
    task: MainRef,
}

static NAMES: OnceLock<Names> = OnceLock::new();

fn names(_py: Python<'_>) -> &'static Names {
    NAMES.get_or_init(|| {
        // SAFETY: the main interpreter is attached (`_py`: completions only
        // run there); interned strings live as long as it does, and these
        // references are never released.
        let s =
            |t: &std::ffi::CStr| MainRef(unsafe { sys::PyUnicode_InternFromString(t.as_ptr()) });
        Names {
            cond: s(c"_cond"),
            cbl: s(c"_cbl"),
            state: s(c"_state"),
            result: s(c"_result"),
            set_result: s(c"_interp_set_result"),
            pending: s(c"PENDING"),
            finished: s(c"FINISHED"),
            task: s(c"_task"),
        }
    })
}

fn finish<'py>(py: Python<'py>, fut: &Bound<'py>, code: i64, args: &[Value], inline: bool) {
    let r = (|| {
        let mut a = vec![
            py.value(&Value::Int(code))?,
            py.value(&Value::Bool(inline))?,
        ];
        for v in args {
            a.push(py.value(v)?);
        }
        fut.getattr("_interp_finish")?.call(&a, &[])
    })();
    if let Err(e) = r {
        eprintln!("interp: could not complete a future: {e}");
    }
}

/// Completes `fut` with `obj`. A future nobody can be waiting on (no
/// condition made yet, so no waiters, and no done-callbacks) is finished by
/// setting its fields: no Python code runs, so no other thread sees it half
/// done (the GIL is held throughout). Otherwise `set_result` does it.
fn finish_with<'py>(fut: &Bound<'py>, obj: Bound<'py>, inline: bool) {
    let py = fut.py();
    let n = names(py);
    let f = fut.as_ptr();
    // SAFETY: (whole block) the main interpreter is attached; `f`, `obj`
    // and the names are valid objects of it; GetAttr returns new
    // references (released below) or NULL with an exception (cleared: the
    // slow path then reports problems itself). Plain instance attributes:
    // no Python code runs between the checks and the writes.
    let quiet = unsafe {
        let get = |name: &MainRef| py.from_owned_ptr(sys::PyObject_GetAttr(f, name.0)).ok();
        match (get(&n.cond), get(&n.cbl), get(&n.state)) {
            (Some(cond), Some(cbl), Some(state)) if cond.is_none() => {
                let no_callbacks = cbl.is_none() || sys::PyObject_Size(cbl.as_ptr()) == 0;
                let pending =
                    sys::PyObject_RichCompareBool(state.as_ptr(), n.pending.0, sys::Py_EQ) == 1;
                if !pending {
                    sys::PyErr_Clear();
                    true // completed (or cancelled) already: nothing to do
                } else if no_callbacks {
                    // `_task` goes: its task keeps the outcome as a value,
                    // a second copy of the result.
                    sys::PyObject_SetAttr(f, n.result.0, obj.as_ptr()) == 0
                        && sys::PyObject_SetAttr(f, n.state.0, n.finished.0) == 0
                        && sys::PyObject_SetAttr(f, n.task.0, sys::Py_None()) == 0
                } else {
                    false
                }
            }
            _ => false,
        }
    };
    if !quiet {
        // SAFETY: attached; drop any error of the quick path.
        unsafe { sys::PyErr_Clear() };
        // Fails only if the future was completed behind our back
        // (InvalidStateError): nothing left to do then.
        let flag = if inline {
            // SAFETY: immortal singletons.
            unsafe { sys::Py_True() }
        } else {
            // SAFETY: as above.
            unsafe { sys::Py_False() }
        };
        // SAFETY: attached; valid objects; a new reference or NULL.
        let r = unsafe {
            sys::PyObject_CallMethodObjArgs(
                f,
                n.set_result.0,
                obj.as_ptr(),
                flag,
                null_mut::<PyObject>(),
            )
        };
        if r.is_null() {
            // SAFETY: attached.
            unsafe { sys::PyErr_Clear() };
        } else {
            // SAFETY: a new reference we own.
            unsafe { sys::Py_DecRef(r) };
        }
    }
}

fn set_result<'py>(py: Python<'py>, fut: &Bound<'py>, value: &Value, inline: bool) {
    match py.value(value) {
        Ok(obj) => finish_with(fut, obj, inline),
        Err(e) => finish(
            py,
            fut,
            code::TYPE_ERROR,
            &[Value::Str(
                format!("the task's result could not be rebuilt in the main interpreter: {e}")
                    .into(),
            )],
            inline,
        ),
    }
}

/// Fails `fut` with `exc`, an exception object of the main interpreter
/// (a main-lane call raised it), whose reference this takes.
fn finish_with_exception<'py>(py: Python<'py>, fut: &Bound<'py>, exc: MainRef, inline: bool) {
    // SAFETY: main GIL held; we own `exc`'s reference (not NULL: taken from
    // a raised exception).
    let exc = unsafe { py.from_owned_ptr(exc.0) }.expect("not NULL");
    let r = py.value(&Value::Int(code::OBJECT)).and_then(|c| {
        let flag = py.value(&Value::Bool(inline))?;
        fut.getattr("_interp_finish")?.call(&[c, flag, exc], &[])
    });
    if let Err(e) = r {
        eprintln!("interp: could not complete a future: {e}");
    }
}

fn deliver<'py>(
    py: Python<'py>,
    fut: &Bound<'py>,
    rec: &Rec,
    outcome: Result<Value, TaskError>,
    inline: bool,
) {
    let finish = |py, fut, code, args: &[Value]| finish(py, fut, code, args, inline);
    match outcome {
        Ok(v) => match rec.kind {
            Kind::Call => match v.as_seq() {
                Some([Value::Int(0), r]) => set_result(py, fut, r, inline),
                Some([Value::Int(1), Value::Tuple(p)]) => finish(py, fut, code::PAYLOAD, p),
                _ => finish(
                    py,
                    fut,
                    code::RUNTIME_ERROR,
                    &[Value::str("malformed task result")],
                ),
            },
            Kind::Chunk => set_result(py, fut, &v, inline),
            Kind::Main => {
                let out = rec.take_main_out();
                match out {
                    Some(Ok(r)) => {
                        // SAFETY: main GIL held; we own `r`'s reference.
                        let obj = unsafe { py.from_owned_ptr(r.0) }.expect("not NULL");
                        finish_with(fut, obj, inline);
                    }
                    Some(Err(exc)) => finish_with_exception(py, fut, exc, inline),
                    None => finish(
                        py,
                        fut,
                        code::RUNTIME_ERROR,
                        &[Value::str("the task produced no outcome")],
                    ),
                }
            }
        },
        Err(e) => {
            if rec.kind == Kind::Main {
                if matches!(e, TaskError::Python(_)) {
                    match rec.take_main_out() {
                        // The call raised interp.Cancelled itself (no cancel
                        // asked for it): that exception object is its outcome.
                        Some(Err(exc)) => return finish_with_exception(py, fut, exc, inline),
                        // SAFETY: main GIL held; we own the reference.
                        Some(Ok(r)) => unsafe { r.release() },
                        None => {}
                    }
                }
                // What the call left (its outcome, or the call itself when
                // it was cancelled before it ran).
                rec.release_main(py);
            }
            let text = |s: String| [Value::Str(s.into())];
            match e {
                TaskError::Cancelled => finish(py, fut, code::CANCELLED, &[]),
                TaskError::TimedOut => finish(
                    py,
                    fut,
                    code::TIMED_OUT,
                    &text("the task ran past its timeout and was interrupted".into()),
                ),
                TaskError::WorkerLost(m) => finish(py, fut, code::WORKER_LOST, &text(m)),
                TaskError::Shutdown => finish(
                    py,
                    fut,
                    code::BROKEN,
                    &text("the pool shut down (every worker stopped) before the task ran".into()),
                ),
                TaskError::Conversion(m) => finish(py, fut, code::TYPE_ERROR, &text(m)),
                TaskError::Python(pe) => finish(
                    py,
                    fut,
                    code::PY_EXCEPTION,
                    &[
                        Value::Str(pe.module.clone().into()),
                        Value::Str(pe.qualname.clone().into()),
                        Value::Str(
                            match &pe.hint {
                                Some(h) => format!("{} (hint: {h})", pe.message),
                                None => pe.message.clone(),
                            }
                            .into(),
                        ),
                        Value::Str(pe.traceback.clone().into()),
                    ],
                ),
                other => finish(py, fut, code::RUNTIME_ERROR, &text(other.to_string())),
            }
        }
    }
}
