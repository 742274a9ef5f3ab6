//! The task state machine ([`TaskState`]: queued, running, done, or claimed
//! by a cancel) and its public handle, [`Task`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use interp_core::{Bound, CancelToken, Error, Python, Value};

use crate::call::Call;
use crate::error::TaskError;
use crate::sync::{lock, unpoison};

/// What a task produces.
pub(crate) enum Output {
    Value(Value),
    /// One result per item of a `map` chunk.
    Chunk(Vec<Result<Value, TaskError>>),
}

/// How a task ended.
pub(crate) type Outcome = Result<Output, TaskError>;

/// A Rust closure run inside a worker's interpreter.
pub(crate) type WithFn = Box<dyn for<'py> FnOnce(Python<'py>) -> Result<Value, Error> + Send>;
/// A Rust closure run on a pool thread without an interpreter.
pub(crate) type BlockingFn = Box<dyn FnOnce() -> Result<Value, String> + Send>;

/// Starts a coroutine task in a worker's event loop: the awaitable to run.
pub(crate) type CoroStartFn =
    Box<dyn for<'py> FnOnce(Python<'py>) -> Result<Bound<'py>, Error> + Send>;
/// Turns what the awaitable gave (its result, or the exception object it
/// raised) into the task's value, in the worker's interpreter.
pub(crate) type CoroFinishFn = Box<
    dyn for<'py> FnOnce(Python<'py>, Result<Bound<'py>, Bound<'py>>) -> Result<Value, Error> + Send,
>;

/// The work of a task.
pub(crate) enum Work {
    Call(Call),
    /// A `map` chunk: the template call with each item appended.
    Chunk(Call, Vec<Value>),
    With(WithFn),
    Blocking(BlockingFn),
    /// A call run in the main interpreter (shared GIL).
    Main(Call),
    /// A Rust closure run in the main interpreter (shared GIL).
    MainWith(WithFn),
    /// A call whose awaitable result runs in a worker's event loop.
    Coro(Call),
    /// A closure-made awaitable run in a worker's event loop, and how its
    /// result becomes the task's value.
    CoroWith(CoroStartFn, CoroFinishFn),
}

impl Work {
    /// Whether it runs as a coroutine in a worker's event loop.
    pub(crate) fn is_coroutine(&self) -> bool {
        matches!(self, Work::Coro(_) | Work::CoroWith(..))
    }
}

/// What a task needs from the pool that runs it (the registry provides
/// it). Held weakly: a task outlives its pool.
pub(crate) trait Host: Send + Sync {
    /// Counts a task cancelled before it ran.
    fn count_cancelled_queued(&self);
    /// Interrupts `task`, which a worker may be running.
    fn interrupt(&self, task: &Arc<TaskState>);
}

/// [`TaskState::status`]: waiting in the queue.
const QUEUED: u8 = 0;
/// [`TaskState::status`]: a worker started it.
const RUNNING: u8 = 1;
/// [`TaskState::status`]: its outcome is recorded.
const DONE: u8 = 2;
/// [`TaskState::status`]: claimed by `cancel` while queued: no worker may
/// start it.
const CLAIMED: u8 = 3;

/// Who is told when the task is done.
enum Notify {
    Waker(Waker),
    Channel(Sender<usize>, usize),
}

impl Notify {
    fn fire(self) {
        match self {
            Notify::Waker(w) => w.wake(),
            Notify::Channel(tx, i) => {
                let _ = tx.send(i);
            }
        }
    }
}

/// The state shared by a task's handles and the worker running it.
///
/// `status` goes QUEUED → RUNNING (a worker's [`start`](Self::start)) or
/// QUEUED → CLAIMED (a [`cancel`](Self::cancel) before it ran), then → DONE
/// when [`complete`](Self::complete) records the outcome (the first one
/// wins: the worker, a cancel, the supervisor giving up on its worker, or
/// a shutdown).
pub(crate) struct TaskState {
    id: u64,
    status: AtomicU8,
    work: Mutex<Option<Work>>,
    timeout: Option<Duration>,
    result: Mutex<Option<Outcome>>,
    cond: Condvar,
    sleepers: AtomicUsize,
    notify: Mutex<Vec<Notify>>,
    /// Runs in the main interpreter (the main lane).
    main_lane: bool,
    /// Runs as a coroutine in a worker's event loop.
    coroutine: bool,
    cancel_requested: AtomicBool,
    timed_out: AtomicBool,
    /// Why `interp.Cancelled` could not be raised in it, if it could not.
    interrupt_failure: Mutex<Option<String>>,
    /// Index + 1 of the worker running it (0: none).
    worker: AtomicUsize,
    token: CancelToken,
    pool: Weak<dyn Host>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl TaskState {
    /// A queued task of the pool `pool`.
    pub(crate) fn new(
        work: Work,
        timeout: Option<Duration>,
        pool: Weak<dyn Host>,
    ) -> Arc<TaskState> {
        let main_lane = matches!(work, Work::Main(_) | Work::MainWith(_));
        let coroutine = work.is_coroutine();
        Arc::new(TaskState {
            main_lane,
            coroutine,
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
            interrupt_failure: Mutex::new(None),
            worker: AtomicUsize::new(0),
            token: CancelToken::new(),
            pool,
        })
    }

    /// Its timeout, counted from when a worker starts it.
    pub(crate) fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// Whether it runs in the main interpreter.
    pub(crate) fn is_main_lane(&self) -> bool {
        self.main_lane
    }

    /// Whether it runs as a coroutine in a worker's event loop.
    pub(crate) fn is_coroutine(&self) -> bool {
        self.coroutine
    }

    /// Records why `interp.Cancelled` could not be raised in it.
    pub(crate) fn set_interrupt_failure(&self, why: String) {
        *lock(&self.interrupt_failure) = Some(why);
    }

    /// Why `interp.Cancelled` could not be raised in it, if it could not.
    pub(crate) fn interrupt_failure(&self) -> Option<String> {
        lock(&self.interrupt_failure).clone()
    }

    /// Its process-unique id.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// The index of the worker that started it.
    pub(crate) fn worker(&self) -> Option<usize> {
        self.worker.load(Ordering::SeqCst).checked_sub(1)
    }

    pub(crate) fn is_done(&self) -> bool {
        self.status.load(Ordering::Acquire) == DONE
    }

    pub(crate) fn is_running(&self) -> bool {
        self.status.load(Ordering::Acquire) == RUNNING
    }

    /// Whether a cancel (or its timeout) asked it to stop.
    pub(crate) fn cancel_requested(&self) -> bool {
        // SeqCst: pairs with the worker's publication of its running task
        // (the worker publishes, then loads this; `cancel` stores this,
        // then checks the publication: see handoff.rs).
        self.cancel_requested.load(Ordering::SeqCst)
    }

    /// Claims the task for worker `index`, which has published it as its
    /// running task, and takes its work. `None` when a cancel claimed it
    /// first (it is complete then); an error when it was cancelled after
    /// all (the worker completes it with that error).
    pub(crate) fn start(&self, index: usize) -> Option<Result<Work, TaskError>> {
        self.worker.store(index + 1, Ordering::SeqCst);
        self.status
            .compare_exchange(QUEUED, RUNNING, Ordering::SeqCst, Ordering::SeqCst)
            .ok()?;
        Some(match lock(&self.work).take() {
            None => Err(TaskError::Cancelled),
            Some(_) if self.cancel_requested() => Err(self.cancel_error()),
            Some(work) => Ok(work),
        })
    }

    /// Runs `f` with the task's cancel token as this thread's current one,
    /// so that a cancel wakes the channel waits `f` makes.
    pub(crate) fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        self.token.scope(f)
    }

    /// The error of a task stopped by its timeout or by a cancel.
    pub(crate) fn cancel_error(&self) -> TaskError {
        if self.timed_out.load(Ordering::Acquire) {
            TaskError::TimedOut
        } else {
            TaskError::Cancelled
        }
    }

    /// Maps the `interp.Cancelled` raised by an interruption (asked for by
    /// a cancel, or by a shutdown when `pool_closed`) to the task's
    /// cancellation error; other errors pass through.
    pub(crate) fn classify(&self, e: TaskError, pool_closed: bool) -> TaskError {
        match e {
            TaskError::Python(x)
                if x.is_cancelled() && (self.cancel_requested() || pool_closed) =>
            {
                self.cancel_error()
            }
            other => other,
        }
    }

    /// Records the outcome (the first one wins) and wakes every waiter.
    /// Returns whether this call completed the task.
    pub(crate) fn complete(&self, outcome: Outcome) -> bool {
        {
            let mut slot = lock(&self.result);
            if slot.is_some() {
                return false;
            }
            *slot = Some(outcome);
            self.status.store(DONE, Ordering::SeqCst);
        }
        if self.sleepers.load(Ordering::Acquire) > 0 {
            let _g = lock(&self.result);
            self.cond.notify_all();
        }
        // Always under the lock `add_notify` takes (which re-checks DONE):
        // a listener is either drained here or fired by `add_notify`.
        let pending: Vec<Notify> = lock(&self.notify).drain(..).collect();
        for n in pending {
            n.fire();
        }
        true
    }

    /// Clones the outcome (None while pending).
    fn outcome(&self) -> Option<Outcome> {
        if !self.is_done() {
            return None;
        }
        lock(&self.result).as_ref().map(|r| match r {
            Ok(Output::Value(v)) => Ok(Output::Value(v.clone())),
            Ok(Output::Chunk(items)) => Ok(Output::Chunk(items.clone())),
            Err(e) => Err(e.clone()),
        })
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
        let mut slot = lock(&self.result);
        self.sleepers.fetch_add(1, Ordering::AcqRel);
        let done = loop {
            if slot.is_some() || self.is_done() {
                break true;
            }
            match deadline {
                None => slot = unpoison(self.cond.wait(slot)),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        break false;
                    }
                    slot = unpoison(self.cond.wait_timeout(slot, d - now)).0;
                }
            }
        };
        self.sleepers.fetch_sub(1, Ordering::AcqRel);
        done
    }

    fn add_notify(&self, n: Notify) {
        let mut list = lock(&self.notify);
        if self.is_done() {
            drop(list);
            n.fire();
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
    /// `interp.Cancelled` in its interpreter). `timed_out`: the cancel is
    /// its timeout's. Returns false when the task had already finished.
    pub(crate) fn cancel(self: &Arc<Self>, timed_out: bool) -> bool {
        if self.is_done() {
            return false;
        }
        if timed_out {
            self.timed_out.store(true, Ordering::Release);
        }
        // SeqCst, then the host checks the worker's publication: see
        // `cancel_requested`.
        self.cancel_requested.store(true, Ordering::SeqCst);
        self.token.cancel();
        // A queued task is claimed here, so no worker can start it after.
        if self
            .status
            .compare_exchange(QUEUED, CLAIMED, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            after_claim();
            // A shutdown draining the queue may complete (and count) it
            // first: only the call that completes it counts it.
            let completed = self.complete(Err(if timed_out {
                TaskError::TimedOut
            } else {
                TaskError::Cancelled
            }));
            if completed {
                if let Some(pool) = self.pool.upgrade() {
                    pool.count_cancelled_queued();
                }
            }
            return true;
        }
        if let Some(pool) = self.pool.upgrade() {
            pool.interrupt(self);
        }
        true
    }

    /// Cancels the task only if no worker has started it: claims it
    /// (QUEUED → CLAIMED, the transition a worker's [`start`](Self::start)
    /// races for) and completes it as cancelled. A running or finished task
    /// is left alone. Returns whether it cancelled the task.
    pub(crate) fn cancel_if_queued(&self) -> bool {
        if self
            .status
            .compare_exchange(QUEUED, CLAIMED, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return false;
        }
        self.cancel_requested.store(true, Ordering::SeqCst);
        after_claim();
        // As in `cancel`: only the call that completes it counts it.
        if self.complete(Err(TaskError::Cancelled)) {
            if let Some(pool) = self.pool.upgrade() {
                pool.count_cancelled_queued();
            }
        }
        true
    }
}

#[cfg(test)]
thread_local! {
    /// Test hook: runs right after a cancel claims a queued task and before
    /// it completes it, where a shutdown's drain can come in.
    static AFTER_CLAIM: std::cell::RefCell<Option<Box<dyn FnOnce()>>> =
        const { std::cell::RefCell::new(None) };
}

/// Runs the test hook [`AFTER_CLAIM`] (nothing outside tests).
fn after_claim() {
    #[cfg(test)]
    if let Some(f) = AFTER_CLAIM.with(|h| h.borrow_mut().take()) {
        f();
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
    state: Arc<TaskState>,
}

impl fmt::Debug for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("id", &self.state.id)
            .field("done", &self.is_done())
            .finish()
    }
}

fn value_of(o: Outcome) -> Result<Value, TaskError> {
    match o? {
        Output::Value(v) => Ok(v),
        Output::Chunk(items) => items
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
            .map(Value::list),
    }
}

impl Task {
    /// The handle of a submitted task.
    pub(crate) fn new(state: Arc<TaskState>) -> Task {
        Task { state }
    }

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

    /// Cancels the task only if no worker has started it yet, atomically:
    /// either it never runs (and fails with [`TaskError::Cancelled`]) and
    /// this returns true, or a worker started it first (or it had
    /// finished), and this returns false and leaves it alone — a running
    /// task is never interrupted. The semantics of
    /// `concurrent.futures.Future.cancel` and of
    /// `Executor.shutdown(cancel_futures=True)`.
    pub fn cancel_if_queued(&self) -> bool {
        self.state.cancel_if_queued()
    }

    /// Waits for the outcome and takes it out, for the only holder of the
    /// task (a `map` chunk's: it hands no handle out), which saves a copy of
    /// the results.
    pub(crate) fn take_outcome(&self) -> Outcome {
        self.state.block(None);
        lock(&self.state.result)
            .take()
            .unwrap_or(Err(TaskError::Shutdown))
    }

    /// Sends `index` on `tx` when the task is done (at once if it is).
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A host that counts the tasks it is told were cancelled while queued,
    /// and the interrupts it is asked for.
    #[derive(Default)]
    struct Counting(AtomicUsize, AtomicUsize);

    impl Host for Counting {
        fn count_cancelled_queued(&self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
        fn interrupt(&self, _task: &Arc<TaskState>) {
            self.1.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn queued(host: &Arc<Counting>) -> Arc<TaskState> {
        let weak: Weak<dyn Host> = Arc::downgrade(host) as Weak<dyn Host>;
        TaskState::new(Work::Blocking(Box::new(|| Ok(Value::None))), None, weak)
    }

    #[test]
    fn cancel_if_queued_and_a_worker_start_exclude_each_other() {
        // What shutdown(cancel_futures=True) in the Python front rests on,
        // both orders made deterministic: a task a worker started is left
        // alone (not completed, not interrupted), and a task claimed by the
        // cancel is never started.
        let host = Arc::new(Counting::default());
        let started = queued(&host);
        assert!(matches!(started.start(0), Some(Ok(_))));
        assert!(!started.cancel_if_queued(), "a started task was cancelled");
        assert!(!started.is_done() && !started.cancel_requested());
        assert_eq!(
            host.1.load(Ordering::SeqCst),
            0,
            "a started task was interrupted"
        );
        let claimed = queued(&host);
        assert!(claimed.cancel_if_queued());
        assert!(claimed.start(0).is_none(), "a cancelled task was started");
        assert_eq!(
            claimed.outcome().map(value_of),
            Some(Err(TaskError::Cancelled))
        );
        assert_eq!(host.0.load(Ordering::SeqCst), 1);
    }

    /// Cancels a queued task with `cancel` while, between its claim and
    /// its completion, a shutdown's drain completes and counts it (as
    /// `Registry::close_queue` does); returns how often it was counted.
    fn counted_when_a_drain_comes_in(cancel: impl FnOnce(&Arc<TaskState>) -> bool) -> usize {
        let host = Arc::new(Counting::default());
        let task = queued(&host);
        let (t2, h2) = (task.clone(), host.clone());
        AFTER_CLAIM.with(|h| {
            *h.borrow_mut() = Some(Box::new(move || {
                if t2.complete(Err(TaskError::Cancelled)) {
                    h2.count_cancelled_queued();
                }
            }))
        });
        assert!(cancel(&task), "the queued task was not cancelled");
        assert_eq!(
            task.outcome().map(value_of),
            Some(Err(TaskError::Cancelled))
        );
        host.0.load(Ordering::SeqCst)
    }

    #[test]
    fn a_task_cancelled_while_queued_is_counted_once_when_a_drain_races() {
        assert_eq!(
            counted_when_a_drain_comes_in(|t| t.cancel(false)),
            1,
            "cancel"
        );
        assert_eq!(
            counted_when_a_drain_comes_in(|t| t.cancel_if_queued()),
            1,
            "cancel_if_queued"
        );
    }
}
