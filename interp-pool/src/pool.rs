//! The pool: builder, workers, supervisor, submission, map, shutdown.

use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TryRecvError};
use interp_core::{
    Bound, Error, Interpreter, InterpreterConfig, PyException, Python, Runtime, Value,
};

use crate::call::{Call, Target};
use crate::task::{Outcome, Output, Task, TaskError, TaskState, Work};
use crate::PoolError;

type ThreadName = Arc<dyn Fn(usize) -> String + Send + Sync>;

/// Builds a [`Pool`] (consuming setters, as rayon's `ThreadPoolBuilder`).
#[derive(Clone)]
pub struct PoolBuilder {
    workers: usize,
    thread_name: ThreadName,
    lazy: bool,
    init_source: Option<String>,
    init_call: Option<Call>,
    prepare: Vec<(String, Value)>,
    max_tasks_per_worker: Option<u64>,
    config: InterpreterConfig,
    kill_grace: Duration,
    shutdown_timeout: Duration,
    stack_size: Option<usize>,
    wait_for_all: bool,
}

impl Default for PoolBuilder {
    fn default() -> Self {
        PoolBuilder {
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            thread_name: Arc::new(|i| format!("interp-worker-{i}")),
            lazy: false,
            init_source: None,
            init_call: None,
            prepare: Vec::new(),
            max_tasks_per_worker: None,
            config: InterpreterConfig::isolated(),
            kill_grace: Duration::from_secs(2),
            shutdown_timeout: Duration::from_secs(10),
            stack_size: None,
            wait_for_all: false,
        }
    }
}

impl PoolBuilder {
    /// Number of workers (default: available cores). Each is an OS thread
    /// owning one interpreter.
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n;
        self
    }

    /// Names worker threads (default `interp-worker-{i}`).
    pub fn thread_name(mut self, f: impl Fn(usize) -> String + Send + Sync + 'static) -> Self {
        self.thread_name = Arc::new(f);
        self
    }

    /// Create the workers on the first submission instead of in `build`.
    pub fn lazy(mut self, yes: bool) -> Self {
        self.lazy = yes;
        self
    }

    /// Python source run in each worker's `__main__` after creation and
    /// after every recycle (define functions, import modules, load data).
    pub fn init_source(mut self, source: impl Into<String>) -> Self {
        self.init_source = Some(source.into());
        self
    }

    /// A call run in each worker after `init_source` (the initializer
    /// function of `concurrent.futures`).
    pub fn init_call(mut self, call: Call) -> Self {
        self.init_call = Some(call);
        self
    }

    /// A global of each worker's `__main__`, set before the initializer:
    /// data handed over once per worker (a [`SharedBuffer`](interp_core::SharedBuffer),
    /// a [`Channel`](interp_core::Channel), [`Frozen`](interp_core::Frozen)
    /// data or any value).
    pub fn prepare_main(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.prepare.push((name.to_owned(), value.into()));
        self
    }

    /// Replace a worker's interpreter (fresh interpreter, initializer again)
    /// after this many tasks.
    pub fn max_tasks_per_worker(mut self, n: u64) -> Self {
        self.max_tasks_per_worker = Some(n.max(1));
        self
    }

    /// The workers' interpreter configuration (default: isolated, own GIL).
    pub fn interpreter_config(mut self, config: InterpreterConfig) -> Self {
        self.config = config;
        self
    }

    /// How long a cancelled or timed-out task may ignore its interruption
    /// before its worker is replaced and the task fails with
    /// [`TaskError::WorkerLost`] (default 2 s).
    pub fn kill_grace(mut self, d: Duration) -> Self {
        self.kill_grace = d;
        self
    }

    /// How long a shutdown waits (default 10 s): [`Pool::shutdown`] without
    /// `cancel_pending` lets queued and running tasks go on this long before
    /// it cancels and interrupts them; and every shutdown (dropping the
    /// pool too) abandons a worker still closing its interpreter after it
    /// (closing waits for the threads started in it). Dropping the pool
    /// interrupts running tasks at once.
    pub fn shutdown_timeout(mut self, d: Duration) -> Self {
        self.shutdown_timeout = d;
        self
    }

    /// Make `build` wait until every worker's interpreter is ready (and
    /// report the first initializer error of any of them). By default it
    /// returns once the first worker is ready — the others keep starting in
    /// parallel — so the first result does not wait for the slowest.
    pub fn wait_for_all_workers(mut self, yes: bool) -> Self {
        self.wait_for_all = yes;
        self
    }

    /// Stack size of worker threads.
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// Starts the pool: the workers create their interpreters in parallel
    /// (unless [`lazy`](Self::lazy)) and run the initializer.
    ///
    /// # Errors
    /// [`PoolError::InvalidArgument`] for zero workers;
    /// [`PoolError::Init`] when an interpreter cannot be created or the
    /// initializer fails (the Python error says why).
    pub fn build(self) -> Result<Pool, PoolError> {
        if self.workers == 0 {
            return Err(PoolError::InvalidArgument(
                "a pool needs at least one worker".into(),
            ));
        }
        Runtime::init().map_err(PoolError::Init)?;
        let (tx, rx) = crossbeam_channel::unbounded();
        let (sup_tx, sup_rx) = crossbeam_channel::unbounded();
        let (exit_tx, exit_rx) = crossbeam_channel::unbounded();
        let lazy = self.lazy;
        let shared = Arc::new(Shared {
            counters: (0..self.workers)
                .map(|_| Arc::new(Counters::default()))
                .collect(),
            cfg: self,
            tx,
            rx,
            closed: AtomicBool::new(false),
            started: AtomicBool::new(false),
            start_lock: Mutex::new(()),
            slots: Mutex::new(Vec::new()),
            live: AtomicUsize::new(0),
            exit_tx,
            exit_rx,
            supervisor: sup_tx,
            cancelled_queued: AtomicU64::new(0),
            broken: Mutex::new(None),
            stopping: AtomicU8::new(RUN),
        });
        let weak = Arc::downgrade(&shared);
        let sup = std::thread::Builder::new()
            .name("interp-pool-supervisor".into())
            .spawn(move || supervisor(weak, sup_rx))
            .map_err(|e| {
                PoolError::Init(Error::Runtime(format!("cannot spawn the supervisor: {e}")))
            })?;
        let pool = Pool {
            shared,
            supervisor: Mutex::new(Some(sup)),
        };
        if !lazy {
            pool.shared.start()?;
        }
        Ok(pool)
    }
}

/// Per-worker counters (kept across recycles and replacements).
#[derive(Default)]
pub(crate) struct Counters {
    tasks: AtomicU64,
    failed: AtomicU64,
    cancelled: AtomicU64,
    recycles: AtomicU64,
    replaced: AtomicU64,
    busy_ns: AtomicU64,
}

/// A snapshot of one worker's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerStats {
    /// Worker index.
    pub index: usize,
    /// Tasks run (successful or not).
    pub tasks: u64,
    /// Tasks that ended in an error (cancelled ones included).
    pub failed: u64,
    /// Tasks cancelled or timed out while running.
    pub cancelled: u64,
    /// Interpreter recycles (`max_tasks_per_worker`, `SystemExit`).
    pub recycles: u64,
    /// Times the worker was abandoned and replaced.
    pub replaced: u64,
    /// Time spent running tasks.
    pub busy: Duration,
    /// Whether it runs a task now.
    pub running: bool,
    /// The materialization cache of its current interpreter (all zero
    /// while it restarts): values passed again found as the objects made
    /// before, and what the cache holds. See
    /// [`Interpreter::cache_stats`].
    pub cache: interp_core::CacheStats,
}

/// A snapshot of the pool's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolStats {
    /// Tasks waiting for a worker.
    pub queue_depth: usize,
    /// Queued tasks cancelled before they ran.
    pub cancelled_queued: u64,
    /// One entry per worker.
    pub workers: Vec<WorkerStats>,
}

/// What [`Pool::shutdown`] found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ShutdownReport {
    /// Workers that did not stop in time and were abandoned (each thread
    /// and its interpreter leak until what holds them returns): thread name
    /// and where it is stuck, e.g. `interp-worker-0 (stuck closing its
    /// interpreter, ...)` or `interp-worker-1 (stuck in a task that ignored
    /// its interruption past the kill grace)`.
    pub abandoned: Vec<String>,
}

/// One worker thread's state, shared with interrupters and the supervisor.
pub(crate) struct Slot {
    index: usize,
    name: String,
    interp: Mutex<Option<Arc<Interpreter>>>,
    thread_ident: AtomicU64,
    /// The running task: an `Arc<TaskState>` turned into a raw pointer, or
    /// null. The worker takes it back with a compare-and-swap when the task
    /// ends; whoever abandons the worker takes it instead — exactly one of
    /// them completes the task and owns the reference. Others get their own
    /// reference with [`Slot::running_task`].
    task: AtomicPtr<TaskState>,
    /// Threads inside [`Slot::running_task`], between reading `task` and
    /// taking their own reference: whoever takes `task` out waits for them
    /// before it may drop the reference it took (see [`Slot::reclaim`]).
    borrowers: AtomicUsize,
    /// What the worker thread is doing: [`STARTING`], [`SERVING`] or
    /// [`CLOSING`] (to say why a worker that does not stop is stuck).
    phase: AtomicU8,
    abandoned: AtomicBool,
    retired: AtomicBool,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// [`Slot::phase`]: creating its interpreter and running the initializer.
const STARTING: u8 = 0;
/// [`Slot::phase`]: running tasks, or waiting for one.
const SERVING: u8 = 1;
/// [`Slot::phase`]: closing its interpreter (which waits for the threads
/// started in it).
const CLOSING: u8 = 2;

impl Slot {
    fn runs(&self, task: &Arc<TaskState>) -> bool {
        std::ptr::eq(self.task.load(Ordering::SeqCst), Arc::as_ptr(task))
    }

    /// A reference of our own to the task this worker runs, if any.
    fn running_task(&self) -> Option<Arc<TaskState>> {
        // Announce ourselves before reading the pointer: whoever takes it
        // out of `task` after our read sees us (all SeqCst) and keeps its
        // reference, so the task stays alive until ours is taken.
        self.borrowers.fetch_add(1, Ordering::SeqCst);
        let p = self.task.load(Ordering::SeqCst);
        let task = (!p.is_null()).then(|| {
            // SAFETY: `p` is the reference published in `task`; whoever
            // takes it out waits in `reclaim` until `borrowers` drops back,
            // so it is still alive here.
            unsafe {
                Arc::increment_strong_count(p);
                Arc::from_raw(p)
            }
        });
        self.borrowers.fetch_sub(1, Ordering::SeqCst);
        task
    }

    /// The reference `p` stood for, once taken out of `task` (by a
    /// successful compare-exchange or swap), after any [`running_task`]
    /// that may have read `p` before has taken its own.
    ///
    /// # Safety
    /// `p` is non-null and was just taken out of `self.task` by the caller,
    /// which thereby owns the reference it stands for.
    ///
    /// [`running_task`]: Slot::running_task
    unsafe fn reclaim(&self, p: *mut TaskState) -> Arc<TaskState> {
        let mut spins = 0u32;
        while self.borrowers.load(Ordering::SeqCst) != 0 {
            // Borrowers hold no lock and do a few instructions; only a
            // descheduled one makes us wait longer.
            spins += 1;
            if spins < 64 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        // SAFETY: ownership of the published reference passed to the
        // caller with the exchange (caller's contract).
        unsafe { Arc::from_raw(p) }
    }
}

enum SupMsg {
    Timeout(Weak<TaskState>, Instant),
    KillCheck(Weak<TaskState>, usize, Instant),
}

/// State shared by the pool handle, workers, supervisor and tasks.
pub(crate) struct Shared {
    cfg: PoolBuilder,
    tx: Sender<Option<Arc<TaskState>>>,
    rx: Receiver<Option<Arc<TaskState>>>,
    closed: AtomicBool,
    started: AtomicBool,
    start_lock: Mutex<()>,
    slots: Mutex<Vec<Arc<Slot>>>,
    counters: Vec<Arc<Counters>>,
    live: AtomicUsize,
    exit_tx: Sender<usize>,
    exit_rx: Receiver<usize>,
    supervisor: Sender<SupMsg>,
    cancelled_queued: AtomicU64,
    /// Why the pool lost every worker while open (then it refuses work).
    broken: Mutex<Option<String>>,
    /// [`RUN`], or how a shutdown stops pending work: [`CANCEL`] or
    /// [`ABORT`]. Workers then fail whatever they dequeue instead of
    /// starting it (and make no fresh interpreter).
    stopping: AtomicU8,
}

/// [`Shared::stopping`]: workers start what they dequeue.
const RUN: u8 = 0;
/// [`Shared::stopping`]: a shutdown cancels pending work (it fails with
/// [`TaskError::Cancelled`]).
const CANCEL: u8 = 1;
/// [`Shared::stopping`]: a shutdown ran out of time; what is still queued
/// fails with [`TaskError::Shutdown`].
const ABORT: u8 = 2;

impl Shared {
    fn start(self: &Arc<Self>) -> Result<(), PoolError> {
        if self.started.load(Ordering::Acquire) {
            return Ok(());
        }
        let _g = self.start_lock.lock().unwrap_or_else(|e| e.into_inner());
        if self.started.load(Ordering::Acquire) {
            return Ok(());
        }
        let (ready_tx, ready_rx) = crossbeam_channel::unbounded();
        for i in 0..self.cfg.workers {
            self.spawn_worker(i, Some(ready_tx.clone()))?;
        }
        drop(ready_tx);
        // Return once one worker is ready (the first result does not wait
        // for the slowest interpreter), unless asked to wait for all. A
        // worker that fails later logs why and stays down.
        let need = if self.cfg.wait_for_all {
            self.cfg.workers
        } else {
            1
        };
        let mut ok = 0;
        let mut first_err = None;
        for r in ready_rx.iter() {
            match r {
                Ok(()) => ok += 1,
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
            if ok >= need || first_err.is_some() {
                break;
            }
        }
        self.started.store(true, Ordering::Release);
        match first_err {
            None => Ok(()),
            Some(e) => {
                self.close_queue(true);
                Err(PoolError::Init(e))
            }
        }
    }

    fn spawn_worker(
        self: &Arc<Self>,
        index: usize,
        ready: Option<Sender<Result<(), Error>>>,
    ) -> Result<(), PoolError> {
        let name = (self.cfg.thread_name)(index);
        let slot = Arc::new(Slot {
            index,
            name: name.clone(),
            interp: Mutex::new(None),
            thread_ident: AtomicU64::new(0),
            task: AtomicPtr::new(std::ptr::null_mut()),
            borrowers: AtomicUsize::new(0),
            phase: AtomicU8::new(STARTING),
            abandoned: AtomicBool::new(false),
            retired: AtomicBool::new(false),
            thread: Mutex::new(None),
        });
        {
            let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            if index < slots.len() {
                slots[index] = slot.clone();
            } else {
                slots.push(slot.clone());
            }
        }
        self.live.fetch_add(1, Ordering::SeqCst);
        let shared = self.clone();
        let s2 = slot.clone();
        let mut b = std::thread::Builder::new().name(name);
        if let Some(size) = self.cfg.stack_size {
            b = b.stack_size(size);
        }
        match b.spawn(move || worker_main(shared, s2, ready)) {
            Ok(handle) => {
                *slot.thread.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
                Ok(())
            }
            Err(e) => {
                self.retire(&slot);
                Err(PoolError::Init(Error::Runtime(format!(
                    "cannot spawn a worker thread: {e}"
                ))))
            }
        }
    }

    fn slot(&self, index: usize) -> Option<Arc<Slot>> {
        self.slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(index)
            .cloned()
    }

    /// What pending work fails with once a shutdown stops it.
    fn stopped_error(&self) -> TaskError {
        match self.stopping.load(Ordering::SeqCst) {
            ABORT => TaskError::Shutdown,
            _ => TaskError::Cancelled,
        }
    }

    pub(crate) fn count_cancelled_queued(&self) {
        self.cancelled_queued.fetch_add(1, Ordering::Relaxed);
    }

    /// Interrupts a running task: raises `interp.Cancelled` in the
    /// interpreter it runs in (from a helper thread, since taking that
    /// interpreter's GIL may wait for the running code), and schedules the
    /// kill check.
    pub(crate) fn interrupt(self: &Arc<Self>, task: &Arc<TaskState>) {
        let w = task.worker.load(Ordering::SeqCst);
        if w == 0 {
            return;
        }
        let Some(slot) = self.slot(w - 1) else { return };
        if !slot.runs(task) {
            return; // finished, or not started yet (then the worker sees the cancel flag)
        }
        let (s2, t2) = (slot.clone(), task.clone());
        let _ = std::thread::Builder::new()
            .name("interp-interrupt".into())
            .spawn(move || {
                let target = if t2.main_lane {
                    Runtime::get().map(|rt| rt.main())
                } else {
                    None
                };
                let worker_interp = s2.interp.lock().unwrap_or_else(|e| e.into_inner()).clone();
                let raise = |py: Python<'_>| {
                    // Under this interpreter's GIL the worker cannot move on to
                    // another task in it, so the check and the interrupt agree
                    // (the task Arc held here keeps its address from reuse).
                    if s2.runs(&t2) {
                        if let Ok(exc) =
                            interp_core::python_module(py).and_then(|m| m.getattr("Cancelled"))
                        {
                            let _ = py.interrupt(s2.thread_ident.load(Ordering::SeqCst), &exc);
                        }
                    }
                };
                match (target, worker_interp) {
                    (Some(main), _) => main.enter(raise),
                    (None, Some(interp)) => interp.enter(raise),
                    _ => {}
                }
            });
        let _ = self.supervisor.send(SupMsg::KillCheck(
            Arc::downgrade(task),
            slot.index,
            Instant::now() + self.cfg.kill_grace,
        ));
    }

    /// Cancels every running task (which interrupts it and schedules its
    /// kill check) and returns them with their workers.
    fn interrupt_running(&self) -> Vec<(Arc<Slot>, Arc<TaskState>)> {
        let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner()).clone();
        slots
            .into_iter()
            .filter_map(|slot| {
                let task = slot.running_task()?;
                task.cancel(false).then_some((slot, task))
            })
            .collect()
    }

    /// Stops intake: `cancel_pending` completes queued tasks as cancelled;
    /// then one stop message per worker.
    fn close_queue(&self, cancel_pending: bool) {
        self.closed.store(true, Ordering::SeqCst);
        if cancel_pending {
            self.stopping.store(CANCEL, Ordering::SeqCst);
            while let Ok(Some(t)) = self.rx.try_recv() {
                if t.complete(Err(TaskError::Cancelled)) {
                    self.count_cancelled_queued();
                }
            }
        }
        self.send_stops();
        if self.live.load(Ordering::SeqCst) == 0 {
            self.drain(TaskError::Shutdown);
        }
    }

    /// Queues one stop message per worker.
    fn send_stops(&self) {
        let n = self.slots.lock().unwrap_or_else(|e| e.into_inner()).len();
        for _ in 0..n {
            let _ = self.tx.send(None);
        }
    }

    /// A shutdown out of time: what is still queued (now or when a worker
    /// dequeues it) fails with [`TaskError::Shutdown`] instead of running.
    fn abort_queue(&self) {
        let _ = self
            .stopping
            .compare_exchange(RUN, ABORT, Ordering::SeqCst, Ordering::SeqCst);
        self.drain(TaskError::Shutdown);
        // The drain took the stop messages too.
        self.send_stops();
    }

    /// Completes everything still queued with `err`.
    fn drain(&self, err: TaskError) {
        while let Ok(job) = self.rx.try_recv() {
            if let Some(t) = job {
                t.complete(Err(err.clone()));
            }
        }
    }

    /// A worker slot is gone for good (its thread ended, or it was
    /// abandoned). Exactly once per slot. When the last one goes: a closed
    /// pool fails what is still queued; an open pool is broken (every
    /// worker failed to restart its interpreter) and fails it too.
    fn retire(&self, slot: &Slot) {
        if slot.retired.swap(true, Ordering::SeqCst) {
            return;
        }
        let _ = self.exit_tx.send(slot.index);
        if self.live.fetch_sub(1, Ordering::SeqCst) != 1 {
            return;
        }
        if self.closed.load(Ordering::SeqCst) {
            self.drain(TaskError::Shutdown);
        } else {
            let why = "every worker of the pool stopped: their interpreters could not be recreated (see stderr)".to_owned();
            *self.broken.lock().unwrap_or_else(|e| e.into_inner()) = Some(why.clone());
            self.closed.store(true, Ordering::SeqCst);
            self.drain(TaskError::WorkerLost(why));
        }
    }
}

// ---- workers --------------------------------------------------------------

enum Exit {
    /// Go on in a fresh interpreter (`max_tasks_per_worker`, `SystemExit`),
    /// first with the rest of a map chunk that `SystemExit` cut short.
    Recycle(Option<Carry>),
    Stop,
}

/// The items of a map chunk and their results so far (one per item before
/// `items[out.len()]`).
struct Rest {
    call: Call,
    items: Vec<Value>,
    out: Vec<Result<Value, TaskError>>,
}

/// A map chunk one of whose items raised `SystemExit`: its interpreter runs
/// none of the rest, which goes on in the worker's next interpreter. The
/// task stays published in the worker's slot meanwhile (cancellable, and
/// covered by the kill check).
struct Carry {
    task: Arc<TaskState>,
    rest: Rest,
    started: Instant,
}

impl Carry {
    /// Ends the chunk without running the rest, whose items fail with `err`.
    fn give_up(self, slot: &Slot, err: TaskError) {
        if !release(slot, &self.task) {
            return; // abandoned: the task already failed with WorkerLost
        }
        let Rest { items, mut out, .. } = self.rest;
        let missing = items.len() - out.len();
        out.extend(std::iter::repeat_n(Err(err), missing));
        self.task.complete(Ok(Output::Chunk(out)));
    }
}

/// What running a task gave.
enum Ran {
    /// Its outcome; `exited`: an item of a map chunk raised `SystemExit`, so
    /// the interpreter must be recycled although the chunk succeeded.
    Done { outcome: Outcome, exited: bool },
    /// A map chunk cut short by `SystemExit` (see [`Carry`]).
    CutShort(Rest),
}

impl From<Outcome> for Ran {
    fn from(outcome: Outcome) -> Ran {
        Ran::Done {
            outcome,
            exited: false,
        }
    }
}

/// Whether the task raised `SystemExit` (its interpreter is then recycled).
fn is_system_exit(e: &PyException) -> bool {
    e.qualname == "SystemExit" && e.module == "builtins"
}

/// Takes the worker's reference to `task` back out of `slot`; false when
/// the worker was abandoned meanwhile (the abandoner took it and completed
/// the task).
fn release(slot: &Slot, task: &Arc<TaskState>) -> bool {
    let raw = Arc::as_ptr(task) as *mut TaskState;
    match slot.task.compare_exchange(
        raw,
        std::ptr::null_mut(),
        Ordering::SeqCst,
        Ordering::SeqCst,
    ) {
        Ok(_) => {
            // SAFETY: the exchange took the non-null `raw` out of `slot.task`.
            drop(unsafe { slot.reclaim(raw) });
            true
        }
        Err(_) => false,
    }
}

fn make_interpreter(cfg: &PoolBuilder) -> Result<Interpreter, Error> {
    let i = Interpreter::with_config(cfg.config)?;
    if !cfg.prepare.is_empty() {
        i.prepare_main(cfg.prepare.iter().map(|(k, v)| (k.as_str(), v.clone())))?;
    }
    if let Some(src) = &cfg.init_source {
        i.exec(src)?;
    }
    if let Some(call) = &cfg.init_call {
        i.enter(|py| {
            resolve(py, &call.target)
                .and_then(|f| call_once(py, &f, call, None))
                .map(drop)
        })?;
    }
    Ok(i)
}

fn worker_main(shared: Arc<Shared>, slot: Arc<Slot>, mut ready: Option<Sender<Result<(), Error>>>) {
    let mut carry: Option<Carry> = None;
    loop {
        slot.phase.store(STARTING, Ordering::SeqCst);
        let interp = match make_interpreter(&shared.cfg) {
            Ok(i) => Arc::new(i),
            Err(e) => {
                let sent = ready.take().is_some_and(|r| r.send(Err(e.clone())).is_ok());
                if !sent {
                    eprintln!("interp-pool: worker {} could not create its interpreter and stays down: {e}", slot.name);
                }
                if let Some(c) = carry.take() {
                    c.give_up(
                        &slot,
                        TaskError::WorkerLost(format!(
                            "an item of this map chunk raised SystemExit, and worker {} could not \
                             create a fresh interpreter for the rest: {e}",
                            slot.name
                        )),
                    );
                }
                break;
            }
        };
        *slot.interp.lock().unwrap_or_else(|e| e.into_inner()) = Some(interp.clone());
        slot.phase.store(SERVING, Ordering::SeqCst);
        if let Some(r) = ready.take() {
            let _ = r.send(Ok(()));
        }
        let exit = interp.enter(|py| run_tasks(py, &shared, &slot, carry.take()));
        slot.phase.store(CLOSING, Ordering::SeqCst);
        *slot.interp.lock().unwrap_or_else(|e| e.into_inner()) = None;
        // Interrupt helpers hold clones briefly; wait for them, then close
        // the interpreter on this thread.
        let mut interp = interp;
        let interp = loop {
            match Arc::try_unwrap(interp) {
                Ok(i) => break i,
                Err(again) => {
                    interp = again;
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
        };
        interp.close();
        match exit {
            // Abandoned: whatever it carried already failed with WorkerLost.
            Exit::Recycle(_) if slot.abandoned.load(Ordering::SeqCst) => break,
            Exit::Recycle(next) if shared.stopping.load(Ordering::SeqCst) != RUN => {
                // A shutdown stops everything left: no fresh interpreter.
                if let Some(c) = next {
                    c.give_up(&slot, shared.stopped_error());
                }
                break;
            }
            Exit::Recycle(next) => {
                shared.counters[slot.index]
                    .recycles
                    .fetch_add(1, Ordering::Relaxed);
                carry = next;
            }
            Exit::Stop => break,
        }
    }
    shared.retire(&slot);
}

/// Looks up a task's function.
fn resolve<'py>(py: Python<'py>, target: &Target) -> Result<Bound<'py>, Error> {
    match target {
        Target::Named { module, qualname } => py.lookup(module, qualname),
        Target::Callable(v) => py.value(v),
    }
}

fn args_of<'py>(
    py: Python<'py>,
    args: &[Value],
    extra: Option<&Value>,
) -> Result<Vec<Bound<'py>>, Error> {
    args.iter().chain(extra).map(|v| py.value(v)).collect()
}

/// Functions already looked up in this interpreter: module -> qualname ->
/// function. Nested so a hit borrows the `&str`s (no per-task clones).
type FnCache<'py> = HashMap<Arc<str>, HashMap<Arc<str>, Bound<'py>>>;

/// Looks up a task's function, caching named targets for this interpreter.
fn cached<'py>(
    py: Python<'py>,
    cache: &mut FnCache<'py>,
    target: &Target,
) -> Result<Bound<'py>, Error> {
    match target {
        Target::Named { module, qualname } => {
            if let Some(f) = cache.get(&**module).and_then(|m| m.get(&**qualname)) {
                return Ok(f.clone());
            }
            let f = py.lookup(module, qualname)?;
            cache
                .entry(module.clone())
                .or_default()
                .insert(qualname.clone(), f.clone());
            Ok(f)
        }
        Target::Callable(v) => py.value(v),
    }
}

fn call_once<'py>(
    py: Python<'py>,
    f: &Bound<'py>,
    call: &Call,
    extra: Option<&Value>,
) -> Result<Value, Error> {
    let args = args_of(py, &call.args, extra)?;
    if call.kwargs.is_empty() {
        return f.call(&args, &[])?.to_value();
    }
    let kw: Vec<(&str, Bound<'py>)> = call
        .kwargs
        .iter()
        .map(|(k, v)| Ok((&**k, py.value(v)?)))
        .collect::<Result<_, Error>>()?;
    f.call(&args, &kw)?.to_value()
}

/// Maps the `interp.Cancelled` raised by an interruption to the task's
/// cancellation error; other errors pass through.
fn classify(task: &TaskState, closed: bool, e: TaskError) -> TaskError {
    match e {
        TaskError::Python(x)
            if x.module == "interp"
                && x.qualname == "Cancelled"
                && (task.cancel_requested() || closed) =>
        {
            cancel_error(task)
        }
        other => other,
    }
}

/// The error of a task stopped by its timeout or by a cancel.
fn cancel_error(task: &TaskState) -> TaskError {
    if task.timed_out.load(Ordering::Acquire) {
        TaskError::TimedOut
    } else {
        TaskError::Cancelled
    }
}

fn execute<'py>(
    py: Python<'py>,
    cache: &mut FnCache<'py>,
    task: &TaskState,
    shared: &Shared,
    work: Work,
) -> Ran {
    match work {
        Work::Call(call) => {
            match cached(py, cache, &call.target).and_then(|f| call_once(py, &f, &call, None)) {
                Ok(v) => Ok(Output::Value(v)),
                Err(e) => Err(e.into()),
            }
            .into()
        }
        Work::Chunk(call, items) => {
            let out = Vec::with_capacity(items.len());
            run_chunk(py, cache, task, shared, Rest { call, items, out })
        }
        Work::With(f) => {
            let r = catch_unwind(AssertUnwindSafe(|| f(py)));
            // User code may have redefined what names point at.
            cache.clear();
            match r {
                Ok(Ok(v)) => Ok(Output::Value(v)),
                Ok(Err(e)) => Err(e.into()),
                Err(p) => Err(TaskError::Panicked(panic_message(&p))),
            }
            .into()
        }
        Work::Blocking(f) => match py.detach(|| catch_unwind(AssertUnwindSafe(f))) {
            Ok(Ok(v)) => Ok(Output::Value(v)),
            Ok(Err(m)) => Err(TaskError::Failed(m)),
            Err(p) => Err(TaskError::Panicked(panic_message(&p))),
        }
        .into(),
        Work::Main(call) => py
            .detach(|| {
                let rt = Runtime::get().ok_or(TaskError::Shutdown)?;
                rt.main().enter(|mpy| {
                    // Drop an interruption meant for an earlier main-lane task
                    // of this thread that finished before it landed.
                    mpy.clear_interrupt();
                    let r =
                        resolve(mpy, &call.target).and_then(|f| call_once(mpy, &f, &call, None));
                    if task.cancel_requested() {
                        mpy.clear_interrupt();
                    }
                    r.map(Output::Value).map_err(TaskError::from)
                })
            })
            .into(),
    }
}

/// Runs the items of a map chunk from `rest.out.len()` on. An item raising
/// `SystemExit` fails with it, and this interpreter runs no further item:
/// the chunk comes back cut short, to go on in a fresh interpreter.
fn run_chunk<'py>(
    py: Python<'py>,
    cache: &mut FnCache<'py>,
    task: &TaskState,
    shared: &Shared,
    mut rest: Rest,
) -> Ran {
    let closed = || shared.closed.load(Ordering::SeqCst);
    let Rest { call, items, out } = &mut rest;
    if out.len() < items.len() {
        let f = match cached(py, cache, &call.target) {
            Ok(f) => f,
            // Not found: every input gets the error (those done keep theirs).
            Err(e) if out.is_empty() => return Err(e.into()).into(),
            Err(e) => {
                let e = TaskError::from(e);
                let missing = items.len() - out.len();
                out.extend(std::iter::repeat_n(Err(e), missing));
                return Ok(Output::Chunk(rest.out)).into();
            }
        };
        while out.len() < items.len() {
            if task.cancel_requested() {
                out.push(Err(cancel_error(task)));
                continue;
            }
            let r = call_once(py, &f, call, Some(&items[out.len()]));
            let exited = matches!(&r, Err(Error::Python(e)) if is_system_exit(e));
            out.push(r.map_err(|e| classify(task, closed(), e.into())));
            if exited {
                if out.len() < items.len() {
                    return Ran::CutShort(rest);
                }
                return Ran::Done {
                    outcome: Ok(Output::Chunk(rest.out)),
                    exited: true,
                };
            }
        }
    }
    Ok(Output::Chunk(rest.out)).into()
}

fn run_tasks(
    py: Python<'_>,
    shared: &Arc<Shared>,
    slot: &Arc<Slot>,
    mut carry: Option<Carry>,
) -> Exit {
    slot.thread_ident.store(py.thread_ident(), Ordering::SeqCst);
    let counters = &shared.counters[slot.index];
    let mut cache: FnCache<'_> = HashMap::new();
    let mut ran: u64 = 0;
    loop {
        let (task, started, result) = if let Some(Carry {
            task,
            rest,
            started,
        }) = carry.take()
        {
            // The rest of a chunk cut short in the previous interpreter.
            let result = task
                .token
                .scope(|| run_chunk(py, &mut cache, &task, shared, rest));
            (task, started, result)
        } else {
            if slot.abandoned.load(Ordering::SeqCst) {
                return Exit::Stop;
            }
            let job = match shared.rx.try_recv() {
                Ok(job) => job,
                Err(TryRecvError::Disconnected) => return Exit::Stop,
                Err(TryRecvError::Empty) => {
                    // Release this interpreter while idle. Poll a little
                    // longer than crossbeam's own backoff before parking: a
                    // parked worker costs the submitter a wake-up system call
                    // per task, which halves throughput when tasks arrive just
                    // slower than they are done. Yielding leaves the CPU to
                    // the submitter if it shares this core.
                    match py.detach(|| idle_recv(&shared.rx)) {
                        Ok(job) => job,
                        Err(_) => return Exit::Stop,
                    }
                }
            };
            let Some(task) = job else { return Exit::Stop };
            // Publish the task before claiming it, and check the cancel flags
            // after: a concurrent `cancel` (or a shutdown cancelling what
            // runs) either sees it running (and interrupts it) or is seen
            // here.
            slot.task.store(
                Arc::into_raw(task.clone()) as *mut TaskState,
                Ordering::SeqCst,
            );
            if shared.stopping.load(Ordering::SeqCst) != RUN {
                // Dequeued while a shutdown stops pending work: not started.
                if !release(slot, &task) {
                    return Exit::Stop;
                }
                let err = shared.stopped_error();
                let cancelled = err == TaskError::Cancelled;
                if task.complete(Err(err)) && cancelled {
                    shared.count_cancelled_queued();
                }
                continue;
            }
            if !task.start(slot.index) {
                if !release(slot, &task) {
                    return Exit::Stop;
                }
                continue; // cancelled while queued
            }
            let work = task.work.lock().unwrap_or_else(|e| e.into_inner()).take();
            let started = Instant::now();
            let result = match work {
                None => Err(TaskError::Cancelled).into(),
                Some(_) if task.cancel_requested() => Err(cancel_error(&task)).into(),
                Some(work) => {
                    if let Some(t) = task.timeout {
                        let _ = shared
                            .supervisor
                            .send(SupMsg::Timeout(Arc::downgrade(&task), Instant::now() + t));
                    }
                    task.token
                        .scope(|| execute(py, &mut cache, &task, shared, work))
                }
            };
            (task, started, result)
        };
        let closed = shared.closed.load(Ordering::SeqCst);
        let (outcome, exited) = match result {
            Ran::Done { outcome, exited } => (outcome, exited),
            Ran::CutShort(rest) => {
                return Exit::Recycle(Some(Carry {
                    task,
                    rest,
                    started,
                }))
            }
        };
        let mut recycle = exited;
        let outcome = match outcome {
            Err(TaskError::Python(e)) if is_system_exit(&e) => {
                recycle = true;
                Err(TaskError::Python(e))
            }
            Err(e) => Err(classify(&task, closed, e)),
            ok => ok,
        };
        if task.cancel_requested() || closed {
            py.clear_interrupt();
        }
        if !release(slot, &task) {
            // The supervisor gave up on this task and replaced this worker;
            // the task already failed with WorkerLost.
            return Exit::Stop;
        }
        counters
            .busy_ns
            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        counters.tasks.fetch_add(1, Ordering::Relaxed);
        match &outcome {
            Ok(_) => {}
            Err(TaskError::Cancelled | TaskError::TimedOut) => {
                counters.cancelled.fetch_add(1, Ordering::Relaxed);
                counters.failed.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                counters.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        task.complete(outcome);
        ran += 1;
        if recycle || shared.cfg.max_tasks_per_worker.is_some_and(|m| ran >= m) {
            return Exit::Recycle(None);
        }
    }
}

/// How long an idle worker polls the queue before it parks.
const IDLE_POLL: Duration = Duration::from_micros(200);

fn idle_recv<T>(rx: &Receiver<T>) -> Result<T, crossbeam_channel::RecvError> {
    let start = Instant::now();
    let mut round = 0u32;
    loop {
        match rx.try_recv() {
            Ok(v) => return Ok(v),
            Err(TryRecvError::Disconnected) => return Err(crossbeam_channel::RecvError),
            Err(TryRecvError::Empty) => {}
        }
        round += 1;
        if round < 64 {
            std::hint::spin_loop();
        } else if start.elapsed() < IDLE_POLL {
            std::thread::yield_now();
        } else {
            return rx.recv();
        }
    }
}

fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic payload".into())
}

// ---- supervisor: timeouts and kill checks -----------------------------------

#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Due(std::cmp::Reverse<(Instant, u64)>);

fn supervisor(shared: Weak<Shared>, rx: Receiver<SupMsg>) {
    let mut heap: BinaryHeap<Due> = BinaryHeap::new();
    let mut events: HashMap<u64, SupMsg> = HashMap::new();
    let mut seq = 0u64;
    loop {
        let next = heap.peek().map(|d| d.0 .0 .0);
        let msg = match next {
            Some(at) => match rx.recv_deadline(at) {
                Ok(m) => Some(m),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => None,
                Err(_) => return,
            },
            None => match rx.recv() {
                Ok(m) => Some(m),
                Err(_) => return,
            },
        };
        if let Some(m) = msg {
            let at = match &m {
                SupMsg::Timeout(_, at) | SupMsg::KillCheck(_, _, at) => *at,
            };
            seq += 1;
            heap.push(Due(std::cmp::Reverse((at, seq))));
            events.insert(seq, m);
            continue;
        }
        let now = Instant::now();
        while heap.peek().is_some_and(|d| d.0 .0 .0 <= now) {
            let Due(std::cmp::Reverse((_, id))) = heap.pop().unwrap();
            let Some(ev) = events.remove(&id) else {
                continue;
            };
            let Some(shared) = shared.upgrade() else {
                return;
            };
            match ev {
                SupMsg::Timeout(task, _) => {
                    if let Some(task) = task.upgrade() {
                        if !task.is_done() {
                            task.cancel(true);
                        }
                    }
                }
                SupMsg::KillCheck(task, index, _) => {
                    let Some(task) = task.upgrade() else { continue };
                    let Some(slot) = shared.slot(index) else {
                        continue;
                    };
                    if !task.is_done() {
                        abandon(&shared, &slot, &task);
                    }
                }
            }
        }
    }
}

/// Gives up on a worker stuck in `task`: fails the task, replaces the
/// worker, and lets the old thread end on its own if its task ever returns.
/// Does nothing when the worker has finished that task meanwhile.
fn abandon(shared: &Arc<Shared>, slot: &Arc<Slot>, task: &Arc<TaskState>) {
    let ptr = Arc::as_ptr(task) as *mut TaskState;
    if slot
        .task
        .compare_exchange(
            ptr,
            std::ptr::null_mut(),
            Ordering::SeqCst,
            Ordering::SeqCst,
        )
        .is_err()
    {
        return;
    }
    // SAFETY: the exchange took the non-null pointer out of `slot.task`.
    let owned = unsafe { slot.reclaim(ptr) };
    slot.abandoned.store(true, Ordering::SeqCst);
    let grace = shared.cfg.kill_grace;
    let closed = shared.closed.load(Ordering::SeqCst);
    owned.complete(Err(TaskError::WorkerLost(format!(
        "the task ignored its interruption for {grace:?} (a blocking C call, or code that swallows \
         interp.Cancelled); worker {} was {}",
        slot.name,
        if closed {
            "abandoned (the pool is shutting down)"
        } else {
            "replaced"
        }
    ))));
    shared.counters[slot.index]
        .replaced
        .fetch_add(1, Ordering::Relaxed);
    if !closed {
        // Count the replacement in before the old slot leaves, so `live`
        // never touches zero on the way.
        if let Err(e) = shared.spawn_worker(slot.index, None) {
            eprintln!("interp-pool: could not replace worker {}: {e}", slot.name);
        }
    }
    shared.retire(slot);
}

// ---- the pool handle ------------------------------------------------------

/// A pool of worker threads, each owning one isolated interpreter.
///
/// ```
/// use interp_pool::{Call, Pool};
/// let pool = Pool::builder().workers(2).init_source("def sq(x):\n    return x * x").build()?;
/// let t = pool.submit(Call::new("__main__", "sq").arg(7))?;
/// assert_eq!(t.wait()?, interp_core::Value::Int(49));
/// let squares: Vec<i64> = pool
///     .map(Call::new("__main__", "sq"), (0..100).map(interp_core::Value::from))
///     .map(|r| r.unwrap().as_i64().unwrap())
///     .collect();
/// assert_eq!(squares[99], 99 * 99);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Pool {
    shared: Arc<Shared>,
    supervisor: Mutex<Option<JoinHandle<()>>>,
}

impl Pool {
    /// A builder with the defaults.
    pub fn builder() -> PoolBuilder {
        PoolBuilder::default()
    }

    /// A pool with the default settings.
    ///
    /// # Errors
    /// As [`PoolBuilder::build`].
    pub fn new() -> Result<Pool, PoolError> {
        Self::builder().build()
    }

    /// Number of workers.
    pub fn workers(&self) -> usize {
        self.shared.cfg.workers
    }

    fn refuse(&self) -> PoolError {
        match self
            .shared
            .broken
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            Some(why) => PoolError::Init(Error::Runtime(why)),
            None => PoolError::Shutdown,
        }
    }

    fn enqueue(&self, work: Work, timeout: Option<Duration>) -> Result<Task, PoolError> {
        let sh = &self.shared;
        if sh.closed.load(Ordering::SeqCst) {
            return Err(self.refuse());
        }
        if !sh.started.load(Ordering::Acquire) {
            sh.start()?;
        }
        let state = TaskState::new(work, timeout, Arc::downgrade(sh));
        sh.tx
            .send(Some(state.clone()))
            .map_err(|_| PoolError::Shutdown)?;
        // Raced with a shutdown whose last worker already left: nobody
        // would ever run what was just queued.
        if sh.closed.load(Ordering::SeqCst) && sh.live.load(Ordering::SeqCst) == 0 {
            sh.drain(TaskError::Shutdown);
        }
        Ok(Task { state })
    }

    /// Submits a Python call.
    ///
    /// # Errors
    /// [`PoolError::Shutdown`] after [`shutdown`](Self::shutdown);
    /// [`PoolError::Init`] when a lazy pool fails to start, or when every
    /// worker was lost.
    pub fn submit(&self, call: Call) -> Result<Task, PoolError> {
        let timeout = call.timeout;
        self.enqueue(Work::Call(call), timeout)
    }

    /// Runs a Rust closure inside a worker's interpreter, with a scope token
    /// for its objects. A panic fails the task; the worker survives.
    ///
    /// # Errors
    /// As [`submit`](Self::submit).
    pub fn submit_with<F>(&self, f: F) -> Result<Task, PoolError>
    where
        F: for<'py> FnOnce(Python<'py>) -> Result<Value, Error> + Send + 'static,
    {
        self.enqueue(Work::With(Box::new(f)), None)
    }

    /// As [`submit_with`](Self::submit_with), with a timeout: a closure that
    /// runs longer than `timeout` (counted from when a worker starts it) is
    /// interrupted as a [`Call::timeout`] is — `interp.Cancelled` raised in
    /// the Python code it runs — and the task fails with
    /// [`TaskError::TimedOut`] when the closure passes that error on.
    ///
    /// # Errors
    /// As [`submit`](Self::submit).
    pub fn submit_with_timeout<F>(&self, timeout: Option<Duration>, f: F) -> Result<Task, PoolError>
    where
        F: for<'py> FnOnce(Python<'py>) -> Result<Value, Error> + Send + 'static,
    {
        self.enqueue(Work::With(Box::new(f)), timeout)
    }

    /// Runs an I/O-bound Rust closure on a pool thread without holding any
    /// interpreter (the thread lane of the hybrid pool). An `Err` fails the
    /// task with [`TaskError::Failed`]; a panic with [`TaskError::Panicked`].
    ///
    /// # Errors
    /// As [`submit`](Self::submit).
    pub fn submit_blocking<F>(&self, f: F) -> Result<Task, PoolError>
    where
        F: FnOnce() -> Result<Value, String> + Send + 'static,
    {
        self.enqueue(Work::Blocking(Box::new(f)), None)
    }

    /// Runs a Python call in the main interpreter (shared GIL) on a pool
    /// thread: the lane for extension modules that refuse isolated
    /// interpreters. [`Call::timeout`] and cancellation interrupt it too.
    ///
    /// # Errors
    /// As [`submit`](Self::submit).
    pub fn submit_main(&self, call: Call) -> Result<Task, PoolError> {
        let timeout = call.timeout;
        self.enqueue(Work::Main(call), timeout)
    }

    /// Applies `call` to every input (appended as its last positional
    /// argument), in order. Inputs are pulled lazily; see [`Map`] for the
    /// chunk size, the bound on work in flight and a progress callback. A
    /// [`Call::timeout`] applies to each chunk.
    pub fn map<I>(&self, call: Call, inputs: I) -> Map<'_, I::IntoIter>
    where
        I: IntoIterator<Item = Value>,
    {
        Map::new(self, call, inputs.into_iter(), true)
    }

    /// As [`map`](Self::map), but yields `(input index, result)` as chunks
    /// complete, so one slow input does not hold back the rest.
    pub fn map_unordered<I>(&self, call: Call, inputs: I) -> MapUnordered<'_, I::IntoIter>
    where
        I: IntoIterator<Item = Value>,
    {
        MapUnordered(Map::new(self, call, inputs.into_iter(), false))
    }

    /// Counters per worker and the queue depth.
    pub fn stats(&self) -> PoolStats {
        let slots = self
            .shared
            .slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        PoolStats {
            queue_depth: self.shared.rx.len(),
            cancelled_queued: self.shared.cancelled_queued.load(Ordering::Relaxed),
            workers: self
                .shared
                .counters
                .iter()
                .enumerate()
                .map(|(i, c)| WorkerStats {
                    index: i,
                    tasks: c.tasks.load(Ordering::Relaxed),
                    failed: c.failed.load(Ordering::Relaxed),
                    cancelled: c.cancelled.load(Ordering::Relaxed),
                    recycles: c.recycles.load(Ordering::Relaxed),
                    replaced: c.replaced.load(Ordering::Relaxed),
                    busy: Duration::from_nanos(c.busy_ns.load(Ordering::Relaxed)),
                    running: slots
                        .get(i)
                        .is_some_and(|s| !s.task.load(Ordering::Relaxed).is_null()),
                    cache: slots
                        .get(i)
                        .and_then(|s| {
                            let interp = s.interp.lock().unwrap_or_else(|e| e.into_inner());
                            interp.as_ref().map(|i| i.cache_stats())
                        })
                        .unwrap_or_default(),
                })
                .collect(),
        }
    }

    /// Stops the pool: no new tasks are accepted.
    ///
    /// With `cancel_pending`, queued tasks never run (they fail with
    /// [`TaskError::Cancelled`]) and running ones are interrupted at once.
    /// Otherwise queued and running tasks go on; with `wait`, for at most
    /// the [shutdown timeout](PoolBuilder::shutdown_timeout), after which
    /// what is still queued fails with [`TaskError::Shutdown`] and what runs
    /// is interrupted.
    ///
    /// With `wait`, returns once every worker has stopped, or was given up
    /// on: a task that ignores its interruption past the kill grace fails
    /// with [`TaskError::WorkerLost`] and its worker is abandoned; so is a
    /// worker still closing its interpreter (which waits for the threads
    /// started in it) after the shutdown timeout, and at least the kill
    /// grace after its tasks ended. The report lists them and why.
    /// Idempotent.
    pub fn shutdown(&self, wait: bool, cancel_pending: bool) -> ShutdownReport {
        let sh = &self.shared;
        let start = Instant::now();
        if !sh.closed.load(Ordering::SeqCst) || cancel_pending {
            sh.close_queue(cancel_pending);
        }
        let slots = sh.slots.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let already: Vec<bool> = slots
            .iter()
            .map(|s| s.abandoned.load(Ordering::SeqCst))
            .collect();
        let mut interrupted = if cancel_pending {
            sh.interrupt_running()
        } else {
            Vec::new()
        };
        if !wait {
            return ShutdownReport::default();
        }
        let timeout_at = start + sh.cfg.shutdown_timeout;
        if !cancel_pending && !self.join_until(timeout_at) {
            // Past the shutdown timeout: what is still queued fails (else
            // the workers would start it) and what runs is interrupted.
            sh.abort_queue();
            interrupted = sh.interrupt_running();
        }
        // An interrupted task gets the kill grace; then it is given up on
        // (the supervisor's kill check does the same; the first one wins).
        let grace_end = Instant::now() + sh.cfg.kill_grace;
        for (slot, task) in &interrupted {
            if !task.block(Some(grace_end)) {
                abandon(sh, slot, task);
            }
        }
        // What remains is workers closing their interpreters: they get what
        // is left of the shutdown timeout, and at least the kill grace.
        let close_by = timeout_at.max(Instant::now() + sh.cfg.kill_grace);
        let mut why: Vec<Option<&str>> = vec![None; slots.len()];
        if !self.join_until(close_by) {
            for (slot, why) in slots.iter().zip(&mut why) {
                if slot.retired.load(Ordering::SeqCst) {
                    continue;
                }
                slot.abandoned.store(true, Ordering::SeqCst);
                let p = slot.task.swap(std::ptr::null_mut(), Ordering::SeqCst);
                *why = Some(if !p.is_null() {
                    // SAFETY: the swap took the non-null `p` out of `slot.task`.
                    let t = unsafe { slot.reclaim(p) };
                    t.complete(Err(TaskError::WorkerLost(format!(
                        "the pool shut down while worker {} was stuck in this task",
                        slot.name
                    ))));
                    "stuck in a task"
                } else {
                    match slot.phase.load(Ordering::SeqCst) {
                        CLOSING => {
                            "stuck closing its interpreter, which waits for the threads started \
                             in it: a `threading` thread that does not end?"
                        }
                        STARTING => {
                            "stuck starting its interpreter: an initializer that does not return?"
                        }
                        _ => "did not stop in time",
                    }
                });
                sh.retire(slot);
            }
        }
        let abandoned = slots
            .iter()
            .zip(already)
            .zip(why)
            .filter(|((s, before), _)| !before && s.abandoned.load(Ordering::SeqCst))
            .map(|((s, _), why)| {
                let why = why
                    .unwrap_or("stuck in a task that ignored its interruption past the kill grace");
                format!("{} ({why})", s.name)
            })
            .collect();
        ShutdownReport { abandoned }
    }

    /// Waits until every worker slot has retired; joins their threads.
    fn join_until(&self, deadline: Instant) -> bool {
        loop {
            let slots = self
                .shared
                .slots
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            let mut all = true;
            for s in &slots {
                if s.retired.load(Ordering::SeqCst) {
                    if !s.abandoned.load(Ordering::SeqCst) {
                        if let Some(h) = s.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
                            let _ = h.join();
                        }
                    }
                } else {
                    all = false;
                }
            }
            if all {
                return true;
            }
            if self.shared.exit_rx.recv_deadline(deadline).is_err() {
                return false;
            }
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let report = self.shutdown(true, true);
        if !report.abandoned.is_empty() {
            eprintln!(
                "interp-pool: dropped with stuck workers, abandoned (each thread and its interpreter \
                 stay alive until what holds them returns): {}",
                report.abandoned.join(", ")
            );
        }
        // The supervisor ends when the last Shared reference (held by tasks
        // and workers) goes; it is detached here rather than joined.
        drop(
            self.supervisor
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take(),
        );
    }
}

// ---- map ---------------------------------------------------------------------

type Progress<'p> = Box<dyn FnMut(usize) + 'p>;

/// The iterator [`Pool::map`] returns. Results come as `Result<Value,
/// TaskError>`, one per input. Dropping it cancels work not yet yielded.
pub struct Map<'p, I: Iterator<Item = Value>> {
    pool: &'p Pool,
    call: Call,
    inputs: I,
    ordered: bool,
    chunk: usize,
    max_in_flight: usize,
    next_index: usize,
    /// Submitted chunks: start index, length, and the task (or the error
    /// that kept it from being submitted, kept in order).
    in_flight: VecDeque<(usize, usize, Result<Task, TaskError>)>,
    ready: VecDeque<(usize, Result<Value, TaskError>)>,
    completions: Option<(Sender<usize>, Receiver<usize>)>,
    progress: Option<Progress<'p>>,
    done: usize,
    exhausted: bool,
}

impl<'p, I: Iterator<Item = Value>> Map<'p, I> {
    fn new(pool: &'p Pool, call: Call, inputs: I, ordered: bool) -> Self {
        Map {
            pool,
            call,
            inputs,
            ordered,
            chunk: 256,
            max_in_flight: pool.workers() * 4,
            next_index: 0,
            in_flight: VecDeque::new(),
            ready: VecDeque::new(),
            completions: (!ordered).then(crossbeam_channel::unbounded),
            progress: None,
            done: 0,
            exhausted: false,
        }
    }

    /// Inputs per task (default 256): larger chunks amortize dispatch,
    /// smaller ones balance uneven work.
    pub fn chunk_size(mut self, n: usize) -> Self {
        self.chunk = n.max(1);
        self
    }

    /// At most this many chunks submitted and not yet consumed (default
    /// 4 per worker): bounds memory for long or endless inputs.
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n.max(1);
        self
    }

    /// Called with the number of inputs completed so far, after each chunk.
    pub fn progress(mut self, f: impl FnMut(usize) + 'p) -> Self {
        self.progress = Some(Box::new(f));
        self
    }

    fn fill(&mut self) {
        while !self.exhausted && self.in_flight.len() < self.max_in_flight {
            let items: Vec<Value> = self.inputs.by_ref().take(self.chunk).collect();
            if items.is_empty() {
                self.exhausted = true;
                break;
            }
            let start = self.next_index;
            let n = items.len();
            self.next_index += n;
            match self
                .pool
                .enqueue(Work::Chunk(self.call.clone(), items), self.call.timeout)
            {
                Ok(t) => {
                    if let Some((tx, _)) = &self.completions {
                        t.add_listener(tx.clone(), start);
                    }
                    self.in_flight.push_back((start, n, Ok(t)));
                }
                Err(e) => {
                    // Keep the failure in order, and stop pulling inputs:
                    // the pool takes no more work.
                    let err = match e {
                        PoolError::Shutdown => TaskError::Shutdown,
                        other => TaskError::Failed(other.to_string()),
                    };
                    self.in_flight.push_back((start, n, Err(err)));
                    self.exhausted = true;
                }
            }
        }
    }

    fn collect_chunk(&mut self, start: usize, len: usize, task: Result<Task, TaskError>) {
        let outcome = match task {
            Ok(task) => {
                task.state.block(None);
                task.state
                    .take_outcome()
                    .unwrap_or(Err(TaskError::Shutdown))
            }
            Err(e) => Err(e),
        };
        match outcome {
            Ok(Output::Chunk(items)) => {
                self.ready
                    .extend(items.into_iter().enumerate().map(|(k, r)| (start + k, r)));
            }
            Ok(Output::Value(v)) => self.ready.push_back((start, Ok(v))),
            // The whole chunk failed (cancelled, timed out, worker lost,
            // function not found, not submitted): every input gets the error.
            Err(e) => self
                .ready
                .extend((start..start + len).map(|i| (i, Err(e.clone())))),
        }
        self.done += len;
        if let Some(p) = &mut self.progress {
            p(self.done);
        }
    }

    /// The next `(input index, result)`.
    fn next_indexed(&mut self) -> Option<(usize, Result<Value, TaskError>)> {
        loop {
            if let Some(r) = self.ready.pop_front() {
                return Some(r);
            }
            self.fill();
            if self.in_flight.is_empty() {
                return None;
            }
            let failed = self.in_flight.iter().position(|(_, _, t)| t.is_err());
            let pos = if self.ordered {
                0
            } else if let Some(p) = failed {
                p
            } else {
                let (_, rx) = self
                    .completions
                    .as_ref()
                    .expect("unordered map has a channel");
                loop {
                    let start = rx.recv().ok()?;
                    if let Some(p) = self.in_flight.iter().position(|(s, _, _)| *s == start) {
                        break p;
                    }
                }
            };
            let (start, len, task) = self.in_flight.remove(pos).expect("in flight");
            self.collect_chunk(start, len, task);
        }
    }
}

impl<I: Iterator<Item = Value>> Iterator for Map<'_, I> {
    type Item = Result<Value, TaskError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_indexed().map(|(_, r)| r)
    }
}

/// The iterator [`Pool::map_unordered`] returns: `(input index, result)`
/// as chunks complete.
pub struct MapUnordered<'p, I: Iterator<Item = Value>>(Map<'p, I>);

impl<'p, I: Iterator<Item = Value>> MapUnordered<'p, I> {
    /// See [`Map::chunk_size`].
    pub fn chunk_size(self, n: usize) -> Self {
        MapUnordered(self.0.chunk_size(n))
    }

    /// See [`Map::max_in_flight`].
    pub fn max_in_flight(self, n: usize) -> Self {
        MapUnordered(self.0.max_in_flight(n))
    }

    /// See [`Map::progress`].
    pub fn progress(self, f: impl FnMut(usize) + 'p) -> Self {
        MapUnordered(self.0.progress(f))
    }
}

impl<I: Iterator<Item = Value>> Iterator for MapUnordered<'_, I> {
    type Item = (usize, Result<Value, TaskError>);

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next_indexed()
    }
}

impl<I: Iterator<Item = Value>> Drop for Map<'_, I> {
    fn drop(&mut self) {
        for (_, _, t) in &self.in_flight {
            if let Ok(t) = t {
                t.cancel();
            }
        }
    }
}
