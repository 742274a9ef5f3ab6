//! [`Registry`]: the state a pool's handle, workers, supervisor and tasks
//! share (the queue, the worker [`Slot`]s, the counters), and the pool's
//! life around it: start workers, take tasks, close the queue, retire
//! workers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use interp_core::{CancelToken, Error, Interpreter, Python};

use crate::bell::Bell;
use crate::builder::Config;
use crate::error::{PoolError, TaskError};
use crate::handoff::Handoff;
use crate::stats::{Counters, PoolStats};
use crate::sync::{lock, unpoison};
use crate::task::{Task, TaskState, Work};

/// What a worker takes from the queue: a task, or `None` to stop.
pub(crate) type Job = Option<Arc<TaskState>>;

/// Whether the coroutine of a task (by id) executes now in the worker's
/// event loop (`aio::executing`, handed down: aio is a higher layer).
pub(crate) type Executing = fn(Python<'_>, u64) -> bool;

/// Where a starting worker says whether its interpreter is ready.
pub(crate) type Ready = Sender<Result<(), Error>>;

/// A worker thread's body (the worker module's; given to
/// [`Registry::new`] so that this module does not depend on it).
pub(crate) type WorkerMain = fn(Arc<Registry>, Arc<Slot>, Option<Ready>);

/// Stops a pool whose start failed and reports the workers given up on
/// (the shutdown module's; given to [`Registry::new`] for the same reason).
pub(crate) type AfterFailedStart = fn(&Arc<Registry>) -> crate::stats::ShutdownReport;

/// The supervisor's end of the deadlines queue.
pub(crate) type Checks = Receiver<(Instant, Check)>;

/// What the supervisor is asked to check at a deadline.
pub(crate) enum Check {
    /// Cancel the task as timed out, unless it is done.
    Timeout(Weak<TaskState>),
    /// Give up on worker `worker` if it still runs the task (it ignored
    /// its interruption past the kill grace).
    Kill {
        task: Weak<TaskState>,
        worker: usize,
    },
}

/// What a worker thread is doing (to say why a worker that does not stop
/// is stuck).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Phase {
    /// Creating its interpreter and running the initializer.
    Starting = 0,
    /// Running tasks, or waiting for one.
    Serving = 1,
    /// Closing its interpreter (which waits for the threads started in it).
    Closing = 2,
}

/// One worker thread's state, shared with interrupters, the supervisor and
/// shutdown.
pub(crate) struct Slot {
    index: usize,
    name: String,
    interp: Mutex<Option<Arc<Interpreter>>>,
    thread_ident: AtomicU64,
    /// The task it runs: published by the worker, taken back by the worker
    /// or by whoever gives up on the worker (handoff.rs).
    task: Handoff<TaskState>,
    phase: AtomicU8,
    /// The worker runs the initialization code (`init_source`, the
    /// initializer): set and cleared under its interpreter's GIL, so that
    /// an interrupter holding that GIL sees whether it still does.
    initializing: AtomicBool,
    abandoned: AtomicBool,
    retired: AtomicBool,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// An event-loop worker's running coroutine tasks, by id: inserted by
    /// the worker before it starts one, removed by whoever completes it
    /// (the worker, or whoever gives up on the worker).
    coros: Mutex<HashMap<u64, Arc<TaskState>>>,
    /// Ids of coroutine tasks to cancel, for the loop to read when its
    /// [`bell`](Self::bell) rings.
    inbox: Mutex<Vec<u64>>,
    /// An event-loop worker's control bell (cancels).
    bell: Option<Bell>,
    /// The id of the task whose `interp.Cancelled` was raised last and not
    /// yet raised again by the lost-interrupt hook (0: none): each
    /// interruption is raised again at most once.
    in_flight: AtomicU64,
}

impl Slot {
    fn new(index: usize, name: String, bell: Option<Bell>) -> Slot {
        Slot {
            in_flight: AtomicU64::new(0),
            coros: Mutex::new(HashMap::new()),
            inbox: Mutex::new(Vec::new()),
            bell,
            index,
            name,
            interp: Mutex::new(None),
            thread_ident: AtomicU64::new(0),
            task: Handoff::new(),
            phase: AtomicU8::new(Phase::Starting as u8),
            initializing: AtomicBool::new(false),
            abandoned: AtomicBool::new(false),
            retired: AtomicBool::new(false),
            thread: Mutex::new(None),
        }
    }

    /// The worker's index.
    pub(crate) fn index(&self) -> usize {
        self.index
    }

    /// The worker thread's name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The task the worker runs.
    pub(crate) fn task(&self) -> &Handoff<TaskState> {
        &self.task
    }

    pub(crate) fn set_phase(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::SeqCst);
    }

    pub(crate) fn phase(&self) -> Phase {
        match self.phase.load(Ordering::SeqCst) {
            0 => Phase::Starting,
            1 => Phase::Serving,
            _ => Phase::Closing,
        }
    }

    /// Whether the worker runs its initialization code now (read under
    /// its interpreter's GIL).
    pub(crate) fn is_initializing(&self) -> bool {
        self.initializing.load(Ordering::SeqCst)
    }

    /// Set by the worker, under its interpreter's GIL, around its
    /// initialization code.
    pub(crate) fn set_initializing(&self, yes: bool) {
        self.initializing.store(yes, Ordering::SeqCst);
    }

    /// Makes the worker's interpreter (attached as `py`, on the worker's
    /// thread) raise a lost interruption again. CPython reports an
    /// exception raised in a `__del__`, a weakref or a GC callback through
    /// `sys.unraisablehook` and then drops it: an `interp.Cancelled` landing
    /// there (a cancel arriving just then) was lost, and the task ran on
    /// until the kill grace gave up on its worker. The hook installed here
    /// raises it again, at this thread's next bytecode boundary, when the
    /// worker's running task is being cancelled (on an event-loop worker:
    /// when the coroutine whose interruption was raised still executes, as
    /// `executing` tells); any other report goes to
    /// `sys.__unraisablehook__`. An initializer may install its own hook
    /// instead.
    ///
    /// # Errors
    /// A Python error installing the hook.
    pub(crate) fn catch_lost_interrupts(
        self: &Arc<Self>,
        py: Python<'_>,
        executing: Executing,
    ) -> Result<(), Error> {
        // Weak: no cycle through the interpreter. Native all through: a hook
        // in Python would run bytecode after the interruption is set again,
        // and so take it itself (and lose it).
        let slot = Arc::downgrade(self);
        let hook = py.function(move |py, args| {
            let report = args
                .first()
                .ok_or_else(|| Error::InvalidArgument("unraisablehook takes the report".into()))?;
            // Only for an interruption raised in this worker's running
            // task, on its thread, once each; none while it closes. The
            // report is checked first: finding the task may read the
            // event loop's state (see `cancelled_task_running`).
            let serving = slot
                .upgrade()
                .filter(|s| s.phase() == Phase::Serving && py.thread_ident() == s.thread_ident());
            if let Some(s) = serving {
                let cancelled = interp_core::python_module(py)?.getattr("Cancelled")?;
                let is_cancelled = py
                    .import("builtins")?
                    .getattr("issubclass")?
                    .call(&[report.getattr("exc_type")?, cancelled.clone()], &[])?
                    .to_value()?
                    .as_bool()
                    == Some(true);
                let first = |task: &TaskState| {
                    s.in_flight
                        .compare_exchange(task.id(), 0, Ordering::SeqCst, Ordering::SeqCst)
                        .is_ok()
                };
                if is_cancelled
                    && s.cancelled_task_running(py, executing)
                        .is_some_and(|t| first(&t))
                {
                    py.interrupt(py.thread_ident(), &cancelled)?;
                    return Ok(py.none());
                }
            }
            // Read from `sys` itself: this may run while the interpreter
            // closes, when imports fail.
            match py.sys_attr("__unraisablehook__")? {
                Some(default) => default.call(std::slice::from_ref(report), &[]),
                None => Ok(py.none()),
            }
        })?;
        py.import("sys")?.setattr("unraisablehook", &hook)
    }

    /// The task whose cancel's interruption the lost-interrupt hook may
    /// raise again (read on the worker's thread, its interpreter attached
    /// as `py`): the running task when its cancel was requested; on an
    /// event-loop worker, the coroutine task whose interruption was raised
    /// last, when it is still the one executing.
    fn cancelled_task_running(
        &self,
        py: Python<'_>,
        executing: Executing,
    ) -> Option<Arc<TaskState>> {
        if let Some(t) = self.task.get() {
            return t.cancel_requested().then_some(t);
        }
        let id = self.in_flight.load(Ordering::SeqCst);
        let t = self.coro(id).filter(|t| t.cancel_requested())?;
        // A suspended coroutine gets its cancel from the loop
        // (`task.cancel()`): nothing is raised again then.
        executing(py, id).then_some(t)
    }

    /// Raises `interp.Cancelled` in the worker's thread, in the interpreter
    /// `py` is attached to (the worker's, or the main one for a main-lane
    /// task), at its next bytecode boundary. With `may_not_have_entered`
    /// (the main lane), the worker's thread may not have entered that
    /// interpreter yet: then there is nothing to raise into, and the
    /// worker sees the cancel flag once it has entered (`execute::in_main`).
    /// `task` is the task cancelled (None: the worker's initialization
    /// code); its id is kept for the lost-interrupt hook, which raises each
    /// interruption again at most once.
    ///
    /// # Errors
    /// Why it could not: that interpreter's `interp` module or its
    /// `Cancelled` could not be had, or no thread state of the worker's
    /// thread exists in that interpreter (the caller reports it: a
    /// cancel that cannot be raised must not pass unnoticed).
    pub(crate) fn raise_cancelled(
        &self,
        py: Python<'_>,
        task: Option<&TaskState>,
        may_not_have_entered: bool,
    ) -> Result<(), String> {
        let ident = self.thread_ident();
        let exc = interp_core::python_module(py)
            .and_then(|m| m.getattr("Cancelled"))
            .map_err(|e| {
                format!(
                    "interp.Cancelled could not be found in interpreter {}: {e}",
                    py.interpreter_id()
                )
            })?;
        match py.interrupt(ident, &exc) {
            Ok(true) => {
                if let Some(t) = task {
                    self.in_flight.store(t.id(), Ordering::SeqCst);
                }
                Ok(())
            }
            Ok(false) if may_not_have_entered => Ok(()),
            Ok(false) => Err(format!(
                "thread {ident} of worker {} has no thread state in interpreter {}",
                self.name(),
                py.interpreter_id()
            )),
            Err(e) => Err(e.to_string()),
        }
    }

    /// The worker's interpreter while it initializes it and serves
    /// (interrupters clone it briefly; the worker waits for them before
    /// closing it).
    pub(crate) fn interp(&self) -> Option<Arc<Interpreter>> {
        lock(&self.interp).clone()
    }

    pub(crate) fn set_interp(&self, interp: Option<Arc<Interpreter>>) {
        *lock(&self.interp) = interp;
    }

    /// The worker thread's identifier (`threading.get_ident()`), the
    /// target of its interruptions.
    pub(crate) fn thread_ident(&self) -> u64 {
        self.thread_ident.load(Ordering::SeqCst)
    }

    pub(crate) fn set_thread_ident(&self, ident: u64) {
        self.thread_ident.store(ident, Ordering::SeqCst);
    }

    /// Whether the pool gave up on this worker (its thread ends on its own
    /// if what holds it returns).
    pub(crate) fn is_abandoned(&self) -> bool {
        self.abandoned.load(Ordering::SeqCst)
    }

    pub(crate) fn mark_abandoned(&self) {
        self.abandoned.store(true, Ordering::SeqCst);
    }

    /// Whether the slot is gone for good ([`Registry::retire`]).
    pub(crate) fn is_retired(&self) -> bool {
        self.retired.load(Ordering::SeqCst)
    }

    /// The control bell of an event-loop worker.
    pub(crate) fn bell(&self) -> Option<&Bell> {
        self.bell.as_ref()
    }

    /// Registers a coroutine task as run by this worker's loop.
    pub(crate) fn add_coro(&self, task: &Arc<TaskState>) {
        lock(&self.coros).insert(task.id(), task.clone());
    }

    /// Takes a coroutine task back to complete it (`None`: someone else
    /// took it, having given up on the worker).
    pub(crate) fn take_coro(&self, id: u64) -> Option<Arc<TaskState>> {
        lock(&self.coros).remove(&id)
    }

    /// Coroutine task `id` of this worker's loop, if it still runs it.
    pub(crate) fn coro(&self, id: u64) -> Option<Arc<TaskState>> {
        lock(&self.coros).get(&id).cloned()
    }

    /// Whether this worker's loop runs `task`.
    pub(crate) fn holds_coro(&self, task: &TaskState) -> bool {
        lock(&self.coros).contains_key(&task.id())
    }

    /// The coroutine tasks its loop runs.
    pub(crate) fn coros(&self) -> Vec<Arc<TaskState>> {
        lock(&self.coros).values().cloned().collect()
    }

    /// Takes every coroutine task (giving up on the worker).
    pub(crate) fn take_coros(&self) -> Vec<Arc<TaskState>> {
        lock(&self.coros).drain().map(|(_, t)| t).collect()
    }

    /// Asks the loop to cancel coroutine task `id`.
    pub(crate) fn post_cancel(&self, id: u64) {
        lock(&self.inbox).push(id);
        if let Some(b) = &self.bell {
            b.ring();
        }
    }

    /// Whether a cancel of `id` waits for the loop to read it.
    pub(crate) fn cancel_pending(&self, id: u64) -> bool {
        lock(&self.inbox).contains(&id)
    }

    /// The cancels posted since the last call (clears the bell first).
    pub(crate) fn take_cancels(&self) -> Vec<u64> {
        if let Some(b) = &self.bell {
            b.clear();
        }
        std::mem::take(&mut *lock(&self.inbox))
    }

    /// Joins the worker thread, once (a retired, not abandoned worker's
    /// thread is ending).
    pub(crate) fn join(&self) {
        if let Some(h) = lock(&self.thread).take() {
            let _ = h.join();
        }
    }
}

/// [`Registry::stopping`]: workers start what they dequeue.
const RUN: u8 = 0;
/// [`Registry::stopping`]: a shutdown cancels pending work (it fails with
/// [`TaskError::Cancelled`]).
const CANCEL: u8 = 1;
/// [`Registry::stopping`]: a shutdown ran out of time; what is still queued
/// fails with [`TaskError::Shutdown`].
const ABORT: u8 = 2;

/// State shared by the pool handle, workers, supervisor and tasks.
pub(crate) struct Registry {
    config: Config,
    worker_main: WorkerMain,
    after_failed_start: AfterFailedStart,
    jobs_tx: Sender<Job>,
    jobs_rx: Receiver<Job>,
    closed: AtomicBool,
    started: AtomicBool,
    start_lock: Mutex<()>,
    slots: Mutex<Vec<Arc<Slot>>>,
    counters: Vec<Counters>,
    /// Slots not retired yet.
    live: AtomicUsize,
    /// How many slots retired so far, and the condition variable that
    /// wakes every [`wait_retired`](Self::wait_retired) when one does
    /// (several shutdowns may wait at once: the last to leave must not
    /// miss a retirement another one saw).
    retirements: Mutex<u64>,
    retired: Condvar,
    /// Shutdowns waiting in [`wait_retired`](Self::wait_retired) now
    /// (changed under `retirements`).
    shutdowns_waiting: AtomicUsize,
    /// The supervisor's deadlines.
    checks: Sender<(Instant, Check)>,
    cancelled_queued: AtomicU64,
    /// Why the pool lost every worker while open (then it refuses work).
    broken: Mutex<Option<String>>,
    /// Rung when work is queued, for event-loop workers.
    work_bell: Option<Bell>,
    /// The scope of the workers' initialization code, cancelled when the
    /// pool's start fails (wakes an initializer's channel waits).
    start_token: CancelToken,
    /// [`RUN`], or how a shutdown stops pending work: [`CANCEL`] or
    /// [`ABORT`]. Workers then fail whatever they dequeue instead of
    /// starting it (and make no fresh interpreter).
    stopping: AtomicU8,
}

impl Registry {
    /// A registry without workers yet, and the receiving end of the
    /// supervisor's deadlines.
    ///
    /// # Errors
    /// [`PoolError::Spawn`] when an event-loop pool's bell cannot be made.
    pub(crate) fn new(
        config: Config,
        worker_main: WorkerMain,
        after_failed_start: AfterFailedStart,
    ) -> Result<(Arc<Registry>, Checks), PoolError> {
        let work_bell = match config.event_loop {
            Some(_) => Some(Bell::new().map_err(|e| PoolError::Spawn(Arc::new(e)))?),
            None => None,
        };
        let (jobs_tx, jobs_rx) = crossbeam_channel::unbounded();
        let (checks, checks_rx) = crossbeam_channel::unbounded();
        let registry = Arc::new(Registry {
            counters: (0..config.workers).map(|_| Counters::default()).collect(),
            config,
            worker_main,
            after_failed_start,
            jobs_tx,
            jobs_rx,
            closed: AtomicBool::new(false),
            started: AtomicBool::new(false),
            start_lock: Mutex::new(()),
            slots: Mutex::new(Vec::new()),
            live: AtomicUsize::new(0),
            retirements: Mutex::new(0),
            retired: Condvar::new(),
            shutdowns_waiting: AtomicUsize::new(0),
            checks,
            cancelled_queued: AtomicU64::new(0),
            broken: Mutex::new(None),
            start_token: CancelToken::new(),
            stopping: AtomicU8::new(RUN),
            work_bell,
        });
        Ok((registry, checks_rx))
    }

    /// The bell rung when work is queued (event-loop pools).
    pub(crate) fn work_bell(&self) -> Option<&Bell> {
        self.work_bell.as_ref()
    }

    /// Whether workers run event loops.
    pub(crate) fn is_event_loop(&self) -> bool {
        self.config.event_loop.is_some()
    }

    /// The pool's settings.
    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    /// Worker `index`'s counters.
    pub(crate) fn counters(&self, index: usize) -> &Counters {
        &self.counters[index]
    }

    /// The queue workers take jobs from.
    pub(crate) fn jobs(&self) -> &Receiver<Job> {
        &self.jobs_rx
    }

    pub(crate) fn is_started(&self) -> bool {
        self.started.load(Ordering::Acquire)
    }

    /// Whether the pool takes no more work (shut down, or broken).
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Starts the workers (once) and waits until the first one is ready,
    /// or all of them with `wait_for_all_workers`.
    ///
    /// Fails fast: at the first worker that cannot start (its interpreter
    /// or thread cannot be made, its initializer raises) no more workers
    /// are started, the pool is closed, and the workers still starting stop
    /// (between steps; initialization code running now is interrupted, as a
    /// cancelled task is). The interruption does not reach a blocking C
    /// call (`time.sleep`) or a `threading` wait: a worker still starting
    /// after the kill grace is abandoned and named on stderr.
    ///
    /// # Errors
    /// The first worker's failure to start: [`PoolError::Init`] or
    /// [`PoolError::Spawn`] (then the pool is closed).
    pub(crate) fn start(self: &Arc<Self>) -> Result<(), PoolError> {
        if self.is_started() {
            return Ok(());
        }
        let _g = lock(&self.start_lock);
        if self.is_started() {
            return Ok(());
        }
        let (ready_tx, ready_rx) = crossbeam_channel::unbounded();
        let mut ok = 0;
        let mut failed: Option<PoolError> = None;
        let heard = |r: Result<(), Error>, ok: &mut usize, failed: &mut Option<PoolError>| match r {
            Ok(()) => *ok += 1,
            Err(e) => {
                failed.get_or_insert(PoolError::Init(e));
            }
        };
        // Return once one worker is ready (the first result does not wait
        // for the slowest interpreter), unless asked to wait for all; the
        // first report that decides it wins, as it comes. A worker that
        // fails later logs why and stays down.
        let need = if self.config.wait_for_all {
            self.config.workers
        } else {
            1
        };
        for i in 0..self.config.workers {
            // A worker that already failed stops the spawning.
            while failed.is_none() && ok < need {
                match ready_rx.try_recv() {
                    Ok(r) => heard(r, &mut ok, &mut failed),
                    Err(_) => break,
                }
            }
            if failed.is_some() {
                break;
            }
            if let Err(e) = self.spawn_worker(i, Some(ready_tx.clone())) {
                failed = Some(e);
                break;
            }
        }
        drop(ready_tx);
        while failed.is_none() && ok < need {
            match ready_rx.recv() {
                Ok(r) => heard(r, &mut ok, &mut failed),
                Err(_) => break, // every worker reported
            }
        }
        self.started.store(true, Ordering::Release);
        match failed {
            None => Ok(()),
            Some(e) => {
                // Stopping first: a worker checks it after it marks itself
                // initializing, under its GIL, and the interrupt checks the
                // mark under that GIL, so each starting worker either stops
                // by itself or is interrupted.
                self.close_queue(true);
                self.start_token.cancel();
                self.interrupt_initializers();
                // The interrupt does not reach a blocking C call or a
                // `threading` wait: such workers get the kill grace, then
                // are abandoned (their threads and interpreters stay until
                // what holds them returns).
                let report = (self.after_failed_start)(self);
                if !report.abandoned.is_empty() {
                    eprintln!(
                        "interp-pool: the pool's start failed ({e}); workers whose initialization \
                         did not stop within the kill grace ({:?}) were abandoned: {}",
                        self.config.kill_grace,
                        report.abandoned.join(", ")
                    );
                }
                Err(e)
            }
        }
    }

    /// The scope of the workers' initialization code (see `start`).
    pub(crate) fn start_token(&self) -> &CancelToken {
        &self.start_token
    }

    /// Interrupts the initialization code that workers run now (the pool's
    /// start failed).
    fn interrupt_initializers(&self) {
        for slot in self.slots() {
            let Some(interp) = slot.interp() else {
                continue;
            };
            if !slot.is_initializing() {
                continue;
            }
            // From a helper thread: taking that interpreter's GIL waits for
            // the code running in it.
            let _ = std::thread::Builder::new()
                .name("interp-interrupt".into())
                .spawn(move || {
                    interp.enter(|py| {
                        if slot.is_initializing() {
                            if let Err(e) = slot.raise_cancelled(py, None, false) {
                                eprintln!(
                                    "interp-pool: could not interrupt the initializer of worker \
                                     {}: {e}",
                                    slot.name()
                                );
                            }
                        }
                    })
                });
        }
    }

    /// Starts worker `index` in a new slot (replacing the old one's).
    ///
    /// # Errors
    /// [`PoolError::Spawn`] when the thread cannot be started.
    pub(crate) fn spawn_worker(
        self: &Arc<Self>,
        index: usize,
        ready: Option<Ready>,
    ) -> Result<(), PoolError> {
        let name = (self.config.thread_name)(index);
        let bell = match self.config.event_loop {
            Some(_) => Some(Bell::new().map_err(|e| PoolError::Spawn(Arc::new(e)))?),
            None => None,
        };
        let slot = Arc::new(Slot::new(index, name.clone(), bell));
        {
            let mut slots = lock(&self.slots);
            if index < slots.len() {
                slots[index] = slot.clone();
            } else {
                slots.push(slot.clone());
            }
        }
        self.live.fetch_add(1, Ordering::SeqCst);
        let (registry, s2, main) = (self.clone(), slot.clone(), self.worker_main);
        let mut b = std::thread::Builder::new().name(name);
        if let Some(size) = self.config.stack_size {
            b = b.stack_size(size);
        }
        match b.spawn(move || main(registry, s2, ready)) {
            Ok(handle) => {
                *lock(&slot.thread) = Some(handle);
                Ok(())
            }
            Err(e) => {
                self.retire(&slot);
                Err(PoolError::Spawn(Arc::new(e)))
            }
        }
    }

    /// Worker `index`'s current slot.
    pub(crate) fn slot(&self, index: usize) -> Option<Arc<Slot>> {
        lock(&self.slots).get(index).cloned()
    }

    /// The current slots.
    pub(crate) fn slots(&self) -> Vec<Arc<Slot>> {
        lock(&self.slots).clone()
    }

    /// Queues `work` (starting a lazy pool's workers first).
    ///
    /// # Errors
    /// [`PoolError::Shutdown`] once closed, [`PoolError::Init`] for a broken
    /// pool, or when a lazy pool fails to start.
    pub(crate) fn submit(
        self: &Arc<Self>,
        work: Work,
        timeout: Option<Duration>,
    ) -> Result<Task, PoolError> {
        if self.is_closed() {
            return Err(self.refusal());
        }
        if !self.is_started() {
            self.start()?;
        }
        let host: Weak<Registry> = Arc::downgrade(self);
        // On an event-loop pool every call runs as a coroutine.
        let work = match work {
            Work::Call(call) if self.is_event_loop() => Work::Coro(call),
            w if w.is_coroutine() && !self.is_event_loop() => {
                return Err(PoolError::InvalidArgument(
                    "coroutine tasks need a pool whose workers run event loops: build it with \
                     PoolBuilder::event_loop(childconcurrency)"
                        .into(),
                ))
            }
            w => w,
        };
        let state = TaskState::new(work, timeout, host);
        self.jobs_tx
            .send(Some(state.clone()))
            .map_err(|_| PoolError::Shutdown)?;
        if let Some(b) = &self.work_bell {
            b.ring();
        }
        // Raced with a shutdown whose last worker already left: nobody
        // would ever run what was just queued.
        if self.is_closed() && self.live.load(Ordering::SeqCst) == 0 {
            self.drain(TaskError::Shutdown);
        }
        Ok(Task::new(state))
    }

    /// Why a closed pool refuses work.
    fn refusal(&self) -> PoolError {
        match lock(&self.broken).clone() {
            Some(why) => PoolError::Init(Error::Runtime(why)),
            None => PoolError::Shutdown,
        }
    }

    /// Whether a shutdown stops pending work (workers then fail what they
    /// dequeue with [`stopped_error`](Self::stopped_error)).
    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst) != RUN
    }

    /// What pending work fails with once a shutdown stops it.
    pub(crate) fn stopped_error(&self) -> TaskError {
        match self.stopping.load(Ordering::SeqCst) {
            ABORT => TaskError::Shutdown,
            _ => TaskError::Cancelled,
        }
    }

    /// Counts a queued task cancelled before it ran.
    pub(crate) fn count_cancelled_queued(&self) {
        self.cancelled_queued.fetch_add(1, Ordering::Relaxed);
    }

    /// Asks the supervisor to check `check` at `at`.
    pub(crate) fn schedule(&self, at: Instant, check: Check) {
        let _ = self.checks.send((at, check));
    }

    /// Stops intake: `cancel_pending` completes queued tasks as cancelled;
    /// then one stop message per worker.
    pub(crate) fn close_queue(&self, cancel_pending: bool) {
        self.closed.store(true, Ordering::SeqCst);
        if cancel_pending {
            self.stopping.store(CANCEL, Ordering::SeqCst);
            while let Ok(Some(t)) = self.jobs_rx.try_recv() {
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
        let n = lock(&self.slots).len();
        for _ in 0..n {
            let _ = self.jobs_tx.send(None);
        }
        if let Some(b) = &self.work_bell {
            b.ring();
        }
    }

    /// A shutdown out of time: what is still queued (now or when a worker
    /// dequeues it) fails with [`TaskError::Shutdown`] instead of running.
    pub(crate) fn abort_queue(&self) {
        let _ = self
            .stopping
            .compare_exchange(RUN, ABORT, Ordering::SeqCst, Ordering::SeqCst);
        self.drain(TaskError::Shutdown);
        // The drain took the stop messages too.
        self.send_stops();
    }

    /// Completes everything still queued with `err`.
    fn drain(&self, err: TaskError) {
        while let Ok(job) = self.jobs_rx.try_recv() {
            if let Some(t) = job {
                t.complete(Err(err.clone()));
            }
        }
    }

    /// A worker slot is gone for good (its thread ended, or it was
    /// abandoned). Exactly once per slot. When the last one goes: a closed
    /// pool fails what is still queued; an open pool is broken (every
    /// worker failed to restart its interpreter) and fails it too.
    pub(crate) fn retire(&self, slot: &Slot) {
        if slot.retired.swap(true, Ordering::SeqCst) {
            return;
        }
        *lock(&self.retirements) += 1;
        self.retired.notify_all();
        if self.live.fetch_sub(1, Ordering::SeqCst) != 1 {
            return;
        }
        if self.is_closed() {
            self.drain(TaskError::Shutdown);
        } else {
            let why = "every worker of the pool stopped: their interpreters could not be recreated (see stderr)".to_owned();
            *lock(&self.broken) = Some(why.clone());
            self.closed.store(true, Ordering::SeqCst);
            self.drain(TaskError::WorkerLost(why));
        }
    }

    /// How many slots retired so far (for [`wait_retired`](Self::wait_retired)).
    pub(crate) fn retirements(&self) -> u64 {
        *lock(&self.retirements)
    }

    /// Waits until more than `seen` slots have retired (`seen` read from
    /// [`retirements`](Self::retirements) before the caller looked at the
    /// slots) or `deadline` passes; false at the deadline. Any number of
    /// threads may wait at once: each retirement wakes them all.
    pub(crate) fn wait_retired(&self, seen: u64, deadline: Instant) -> bool {
        let mut n = lock(&self.retirements);
        self.shutdowns_waiting.fetch_add(1, Ordering::SeqCst);
        let retired = loop {
            if *n != seen {
                break true;
            }
            let now = Instant::now();
            if now >= deadline {
                break false;
            }
            n = unpoison(self.retired.wait_timeout(n, deadline - now)).0;
        };
        self.shutdowns_waiting.fetch_sub(1, Ordering::SeqCst);
        retired
    }

    /// Counters per worker and the queue depth.
    pub(crate) fn stats(&self) -> PoolStats {
        let slots = self.slots();
        PoolStats {
            queue_depth: self.jobs_rx.len(),
            cancelled_queued: self.cancelled_queued.load(Ordering::Relaxed),
            shutdowns_waiting: self.shutdowns_waiting.load(Ordering::SeqCst),
            workers: self
                .counters
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let slot = slots.get(i);
                    c.snapshot(
                        i,
                        slot.is_some_and(|s| s.task.is_occupied() || !lock(&s.coros).is_empty()),
                        slot.and_then(|s| s.interp())
                            .map(|interp| interp.cache_stats())
                            .unwrap_or_default(),
                    )
                })
                .collect(),
        }
    }
}
