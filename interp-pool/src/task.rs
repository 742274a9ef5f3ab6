//! Tasks and their futures.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use interp_core::{CancelToken, Error, PyException, Python, Value};

use crate::call::Call;
use crate::pool::Shared;

/// Why a task produced no value.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum TaskError {
    /// The Python code raised: type, message and traceback.
    Python(Box<PyException>),
    /// The result (or an argument) could not cross interpreters.
    Conversion(String),
    /// Cancelled (before it ran, or interrupted while running).
    Cancelled,
    /// Interrupted because it ran longer than its [`Call::timeout`].
    TimedOut,
    /// A Rust closure (`submit_with`, `submit_blocking`) panicked; the
    /// worker survived.
    Panicked(String),
    /// A Rust closure returned an error.
    Failed(String),
    /// The worker running it had to be replaced: the task ignored
    /// interruption past the pool's kill grace, or left its interpreter
    /// unusable.
    WorkerLost(String),
    /// The pool shut down before the task ran.
    Shutdown,
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::Python(e) => write!(f, "{e}"),
            TaskError::Conversion(m) => write!(f, "conversion error: {m}"),
            TaskError::Cancelled => f.write_str("task cancelled"),
            TaskError::TimedOut => f.write_str("task timed out and was interrupted"),
            TaskError::Panicked(m) => write!(f, "task panicked: {m}"),
            TaskError::Failed(m) => write!(f, "task failed: {m}"),
            TaskError::WorkerLost(m) => write!(f, "worker lost: {m}"),
            TaskError::Shutdown => f.write_str("the pool shut down before the task ran"),
        }
    }
}

impl std::error::Error for TaskError {}

impl TaskError {
    /// The Python exception, for [`TaskError::Python`].
    pub fn exception(&self) -> Option<&PyException> {
        match self {
            TaskError::Python(e) => Some(e),
            _ => None,
        }
    }
}

impl From<Error> for TaskError {
    fn from(e: Error) -> TaskError {
        match e {
            Error::Python(e) => TaskError::Python(e),
            Error::Conversion(m) => TaskError::Conversion(m),
            other => TaskError::Failed(other.to_string()),
        }
    }
}

/// What a task produces.
pub(crate) enum Output {
    Value(Value),
    /// One result per item of a `map` chunk.
    Chunk(Vec<Result<Value, TaskError>>),
}

pub(crate) type Outcome = Result<Output, TaskError>;

/// A Rust closure run inside a worker's interpreter.
pub(crate) type WithFn = Box<dyn for<'py> FnOnce(Python<'py>) -> Result<Value, Error> + Send>;
/// A Rust closure run on a pool thread without an interpreter.
pub(crate) type BlockingFn = Box<dyn FnOnce() -> Result<Value, String> + Send>;

/// The work of a task.
pub(crate) enum Work {
    Call(Call),
    /// A `map` chunk: the template call with each item appended.
    Chunk(Call, Vec<Value>),
    With(WithFn),
    Blocking(BlockingFn),
    /// A call run in the main interpreter (shared GIL).
    Main(Call),
}

const QUEUED: u8 = 0;
const RUNNING: u8 = 1;
const DONE: u8 = 2;
/// Claimed by `cancel` while queued: no worker may start it.
const CLAIMED: u8 = 3;

enum Notify {
    Waker(Waker),
    Channel(Sender<usize>, usize),
}

/// The state shared by a task's handles and the worker running it.
pub(crate) struct TaskState {
    pub(crate) id: u64,
    status: AtomicU8,
    pub(crate) work: Mutex<Option<Work>>,
    pub(crate) timeout: Option<Duration>,
    result: Mutex<Option<Outcome>>,
    cond: Condvar,
    sleepers: AtomicUsize,
    notify: Mutex<Vec<Notify>>,
    /// Runs in the main interpreter (the main lane).
    pub(crate) main_lane: bool,
    cancel_requested: AtomicBool,
    pub(crate) timed_out: AtomicBool,
    /// Index + 1 of the worker running it (0: none).
    pub(crate) worker: AtomicUsize,
    pub(crate) token: CancelToken,
    pool: Weak<Shared>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl TaskState {
    pub(crate) fn new(work: Work, timeout: Option<Duration>, pool: Weak<Shared>) -> Arc<TaskState> {
        let main_lane = matches!(work, Work::Main(_));
        Arc::new(TaskState {
            main_lane,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            status: AtomicU8::new(QUEUED),
            work: Mutex::new(Some(work)),
            timeout,
            result: Mutex::new(None),
            cond: Condvar::new(),
            sleepers: AtomicUsize::new(0),
            notify: Mutex::new(Vec::new()),
            cancel_requested: AtomicBool::new(false),
            timed_out: AtomicBool::new(false),
            worker: AtomicUsize::new(0),
            token: CancelToken::new(),
            pool,
        })
    }

    pub(crate) fn is_done(&self) -> bool {
        self.status.load(Ordering::Acquire) == DONE
    }

    pub(crate) fn is_running(&self) -> bool {
        self.status.load(Ordering::Acquire) == RUNNING
    }

    pub(crate) fn cancel_requested(&self) -> bool {
        // SeqCst: pairs with the worker's store of its running task (the
        // worker stores that, then loads this; `cancel` stores this, then
        // loads that).
        self.cancel_requested.load(Ordering::SeqCst)
    }

    /// Claims a queued task for worker `index`; false when it was already
    /// cancelled or completed.
    pub(crate) fn start(&self, index: usize) -> bool {
        self.worker.store(index + 1, Ordering::SeqCst);
        self.status
            .compare_exchange(QUEUED, RUNNING, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    /// Records the outcome (the first one wins) and wakes every waiter.
    /// Returns whether this call completed the task.
    pub(crate) fn complete(&self, outcome: Outcome) -> bool {
        {
            let mut slot = self.result.lock().unwrap_or_else(|e| e.into_inner());
            if slot.is_some() {
                return false;
            }
            *slot = Some(outcome);
            self.status.store(DONE, Ordering::SeqCst);
        }
        if self.sleepers.load(Ordering::Acquire) > 0 {
            let _g = self.result.lock().unwrap_or_else(|e| e.into_inner());
            self.cond.notify_all();
        }
        // Always under the lock `add_notify` takes (which re-checks DONE):
        // a listener is either drained here or fired by `add_notify`.
        let pending: Vec<Notify> = self
            .notify
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
            .collect();
        for n in pending {
            match n {
                Notify::Waker(w) => w.wake(),
                Notify::Channel(tx, i) => {
                    let _ = tx.send(i);
                }
            }
        }
        true
    }

    /// Clones the outcome (None while pending).
    pub(crate) fn outcome(&self) -> Option<Result<Output, TaskError>> {
        if !self.is_done() {
            return None;
        }
        let slot = self.result.lock().unwrap_or_else(|e| e.into_inner());
        slot.as_ref().map(|r| match r {
            Ok(Output::Value(v)) => Ok(Output::Value(v.clone())),
            Ok(Output::Chunk(items)) => Ok(Output::Chunk(items.clone())),
            Err(e) => Err(e.clone()),
        })
    }

    /// Takes the outcome out (for single-consumer paths like `map`).
    pub(crate) fn take_outcome(&self) -> Option<Outcome> {
        if !self.is_done() {
            return None;
        }
        self.result.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// Blocks until done or `deadline`; true when done.
    pub(crate) fn block(&self, deadline: Option<Instant>) -> bool {
        // Spin briefly first: most tiny tasks finish within microseconds,
        // and a sleep/wake-up pair costs far more than that.
        for step in 0..14u32 {
            if self.is_done() {
                return true;
            }
            if step < 8 {
                for _ in 0..1u32 << step {
                    std::hint::spin_loop();
                }
            } else {
                std::thread::yield_now();
            }
        }
        let mut slot = self.result.lock().unwrap_or_else(|e| e.into_inner());
        self.sleepers.fetch_add(1, Ordering::AcqRel);
        let done = loop {
            if slot.is_some() || self.is_done() {
                break true;
            }
            match deadline {
                None => slot = self.cond.wait(slot).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        break false;
                    }
                    slot = self
                        .cond
                        .wait_timeout(slot, d - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
        };
        self.sleepers.fetch_sub(1, Ordering::AcqRel);
        done
    }

    fn add_notify(&self, n: Notify) {
        let mut list = self.notify.lock().unwrap_or_else(|e| e.into_inner());
        if self.is_done() {
            drop(list);
            match n {
                Notify::Waker(w) => w.wake(),
                Notify::Channel(tx, i) => {
                    let _ = tx.send(i);
                }
            }
            return;
        }
        if let Notify::Waker(w) = &n {
            if list
                .iter()
                .any(|x| matches!(x, Notify::Waker(o) if o.will_wake(w)))
            {
                return;
            }
        }
        list.push(n);
    }

    /// Cancels: a queued task completes as cancelled at once; a running one
    /// is interrupted (its blocking waits wake, and the pool raises
    /// `interp.Cancelled` in its interpreter). Returns false when the task
    /// had already finished.
    pub(crate) fn cancel(self: &Arc<Self>, timed_out: bool) -> bool {
        if self.is_done() {
            return false;
        }
        if timed_out {
            self.timed_out.store(true, Ordering::Release);
        }
        self.cancel_requested.store(true, Ordering::SeqCst);
        self.token.cancel();
        // A queued task is claimed here, so no worker can start it after.
        if self
            .status
            .compare_exchange(QUEUED, CLAIMED, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            let err = if timed_out {
                TaskError::TimedOut
            } else {
                TaskError::Cancelled
            };
            self.complete(Err(err));
            if let Some(pool) = self.pool.upgrade() {
                pool.count_cancelled_queued();
            }
            return true;
        }
        if let Some(pool) = self.pool.upgrade() {
            pool.interrupt(self);
        }
        true
    }
}

/// A handle to a submitted task: wait for its result (blocking, with a
/// timeout, or as a `std::future::Future`), poll it, or cancel it. Cheap to
/// clone; every clone sees the same result.
///
/// ```
/// use std::future::Future;
/// use std::pin::pin;
/// use std::sync::Arc;
/// use std::task::{Context, Poll, Wake, Waker};
/// use interp_core::Value;
/// use interp_pool::{Call, Pool};
///
/// let pool = Pool::builder()
///     .workers(2)
///     .init_source("def add(a, b):\n    return a + b")
///     .build()?;
///
/// // Blocking.
/// let task = pool.submit(Call::new("__main__", "add").arg(1).arg(2))?;
/// assert_eq!(task.wait()?, Value::Int(3));
///
/// // As a future, in any executor; here a minimal one that parks the thread.
/// fn block_on<F: Future>(future: F) -> F::Output {
///     struct Unpark(std::thread::Thread);
///     impl Wake for Unpark {
///         fn wake(self: Arc<Self>) {
///             self.0.unpark();
///         }
///     }
///     let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
///     let mut cx = Context::from_waker(&waker);
///     let mut future = pin!(future);
///     loop {
///         match future.as_mut().poll(&mut cx) {
///             Poll::Ready(output) => return output,
///             Poll::Pending => std::thread::park(),
///         }
///     }
/// }
/// let a = pool.submit(Call::new("__main__", "add").arg(10).arg(20))?;
/// let b = pool.submit(Call::new("__main__", "add").arg(30).arg(40))?;
/// let both = block_on(async { Ok::<_, interp_pool::TaskError>((a.await?, b.await?)) })?;
/// assert_eq!(both, (Value::Int(30), Value::Int(70)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Task {
    pub(crate) state: Arc<TaskState>,
}

impl fmt::Debug for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("id", &self.state.id)
            .field("done", &self.is_done())
            .finish()
    }
}

fn value_of(o: Result<Output, TaskError>) -> Result<Value, TaskError> {
    match o? {
        Output::Value(v) => Ok(v),
        Output::Chunk(items) => items
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
            .map(Value::list),
    }
}

impl Task {
    /// A process-unique id.
    pub fn id(&self) -> u64 {
        self.state.id
    }

    /// Waits for the result.
    ///
    /// # Errors
    /// The task's [`TaskError`].
    pub fn wait(&self) -> Result<Value, TaskError> {
        self.state.block(None);
        value_of(self.state.outcome().expect("done"))
    }

    /// Waits at most `timeout`; `None` if the task is still pending then
    /// (it keeps running: [`cancel`](Self::cancel) stops it).
    pub fn wait_timeout(&self, timeout: Duration) -> Option<Result<Value, TaskError>> {
        if self.state.block(Some(Instant::now() + timeout)) {
            self.try_result()
        } else {
            None
        }
    }

    /// The result if the task is done, without waiting.
    pub fn try_result(&self) -> Option<Result<Value, TaskError>> {
        self.state.outcome().map(value_of)
    }

    /// Whether the task has finished (with a value or an error).
    pub fn is_done(&self) -> bool {
        self.state.is_done()
    }

    /// Whether a worker is running the task now.
    pub fn is_running(&self) -> bool {
        self.state.is_running()
    }

    /// Cancels the task. A queued task never runs. A running task is
    /// interrupted: blocking channel waits wake at once, Python bytecode
    /// gets `interp.Cancelled` raised at its next instruction boundary;
    /// a blocking C call (`time.sleep`, a socket read) only notices when it
    /// returns — past the pool's kill grace the worker is replaced and the
    /// task fails with [`TaskError::WorkerLost`]. Returns false when the
    /// task had already finished.
    pub fn cancel(&self) -> bool {
        self.state.cancel(false)
    }

    pub(crate) fn add_listener(&self, tx: Sender<usize>, index: usize) {
        self.state.add_notify(Notify::Channel(tx, index));
    }
}

impl Future for Task {
    type Output = Result<Value, TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(r) = self.try_result() {
            return Poll::Ready(r);
        }
        self.state.add_notify(Notify::Waker(cx.waker().clone()));
        match self.try_result() {
            Some(r) => Poll::Ready(r),
            None => Poll::Pending,
        }
    }
}

/// What [`wait`] waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitMode {
    /// Every task finished.
    All,
    /// At least one task finished.
    Any,
    /// Every task finished, or one failed.
    FirstException,
}

/// The split [`wait`] returns: indices into the slice it was given.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WaitResult {
    /// Tasks that finished.
    pub done: Vec<usize>,
    /// Tasks still pending.
    pub pending: Vec<usize>,
}

/// Waits for `tasks` as `mode` says, at most `timeout` (`None`: no limit),
/// like `concurrent.futures.wait`.
pub fn wait(tasks: &[Task], mode: WaitMode, timeout: Option<Duration>) -> WaitResult {
    let deadline = timeout.map(|t| Instant::now() + t);
    let (tx, rx) = crossbeam_channel::unbounded();
    for (i, t) in tasks.iter().enumerate() {
        t.add_listener(tx.clone(), i);
    }
    drop(tx);
    let satisfied = |tasks: &[Task]| {
        let done: Vec<bool> = tasks.iter().map(Task::is_done).collect();
        match mode {
            WaitMode::All => done.iter().all(|d| *d),
            WaitMode::Any => tasks.is_empty() || done.iter().any(|d| *d),
            WaitMode::FirstException => {
                done.iter().all(|d| *d)
                    || tasks.iter().any(|t| matches!(t.try_result(), Some(Err(_))))
            }
        }
    };
    while !satisfied(tasks) {
        let got = match deadline {
            None => rx.recv().ok(),
            Some(d) => rx.recv_deadline(d).ok(),
        };
        if got.is_none() {
            break;
        }
    }
    let (done, pending) = (0..tasks.len()).partition(|&i| tasks[i].is_done());
    WaitResult { done, pending }
}

/// Yields tasks as they finish (each once), like
/// `concurrent.futures.as_completed`.
pub fn as_completed(tasks: &[Task]) -> impl Iterator<Item = Task> + '_ {
    let (tx, rx) = crossbeam_channel::unbounded();
    for (i, t) in tasks.iter().enumerate() {
        t.add_listener(tx.clone(), i);
    }
    drop(tx);
    rx.into_iter()
        .take(tasks.len())
        .map(move |i| tasks[i].clone())
}
