//! [`Channel`]: an MPMC channel of [`Value`]s between Rust threads and any
//! interpreters.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{select, Receiver, Sender};

use super::Value;
use crate::cancel;
use crate::detached::Detached;

/// Why [`Channel::send`] failed. The value comes back with the error.
#[derive(Debug, Clone, PartialEq)]
pub enum SendError {
    /// The channel was closed.
    Closed(Value),
    /// The current [`CancelToken`](crate::CancelToken) was cancelled.
    Cancelled(Value),
}

/// Why [`Channel::try_send`] failed. The value comes back with the error.
#[derive(Debug, Clone, PartialEq)]
pub enum TrySendError {
    /// The channel is full.
    Full(Value),
    /// The channel was closed.
    Closed(Value),
}

/// Why [`Channel::send_timeout`] failed. The value comes back with the error.
#[derive(Debug, Clone, PartialEq)]
pub enum SendTimeoutError {
    /// The channel stayed full until the timeout.
    Timeout(Value),
    /// The channel was closed.
    Closed(Value),
    /// The current [`CancelToken`](crate::CancelToken) was cancelled.
    Cancelled(Value),
}

/// Why [`Channel::recv`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvError {
    /// The channel is closed and every value sent before the close was
    /// received.
    Closed,
    /// The current [`CancelToken`](crate::CancelToken) was cancelled.
    Cancelled,
}

/// Why [`Channel::try_recv`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryRecvError {
    /// Nothing is waiting.
    Empty,
    /// The channel is closed and every value sent before the close was
    /// received.
    Closed,
}

/// Why [`Channel::recv_timeout`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvTimeoutError {
    /// Nothing arrived before the timeout.
    Timeout,
    /// The channel is closed and every value sent before the close was
    /// received.
    Closed,
    /// The current [`CancelToken`](crate::CancelToken) was cancelled.
    Cancelled,
}

impl SendError {
    /// The value that was not sent.
    pub fn into_inner(self) -> Value {
        match self {
            SendError::Closed(v) | SendError::Cancelled(v) => v,
        }
    }
}

impl TrySendError {
    /// The value that was not sent.
    pub fn into_inner(self) -> Value {
        match self {
            TrySendError::Full(v) | TrySendError::Closed(v) => v,
        }
    }

    /// Whether the send failed because the channel is full.
    pub fn is_full(&self) -> bool {
        matches!(self, TrySendError::Full(_))
    }
}

impl SendTimeoutError {
    /// The value that was not sent.
    pub fn into_inner(self) -> Value {
        match self {
            SendTimeoutError::Timeout(v)
            | SendTimeoutError::Closed(v)
            | SendTimeoutError::Cancelled(v) => v,
        }
    }

    /// Whether the send timed out.
    pub fn is_timeout(&self) -> bool {
        matches!(self, SendTimeoutError::Timeout(_))
    }
}

impl From<SendError> for SendTimeoutError {
    fn from(e: SendError) -> SendTimeoutError {
        match e {
            SendError::Closed(v) => SendTimeoutError::Closed(v),
            SendError::Cancelled(v) => SendTimeoutError::Cancelled(v),
        }
    }
}

impl TryRecvError {
    /// Whether nothing was waiting (the channel is still open).
    pub fn is_empty(&self) -> bool {
        *self == TryRecvError::Empty
    }
}

impl RecvTimeoutError {
    /// Whether the receive timed out.
    pub fn is_timeout(&self) -> bool {
        *self == RecvTimeoutError::Timeout
    }
}

impl From<RecvError> for RecvTimeoutError {
    fn from(e: RecvError) -> RecvTimeoutError {
        match e {
            RecvError::Closed => RecvTimeoutError::Closed,
            RecvError::Cancelled => RecvTimeoutError::Cancelled,
        }
    }
}

const SEND_CLOSED: &str = "send on a closed channel";
const SEND_CANCELLED: &str = "send cancelled";
const RECV_CLOSED: &str = "the channel is closed and empty";
const RECV_CANCELLED: &str = "receive cancelled";

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SendError::Closed(_) => SEND_CLOSED,
            SendError::Cancelled(_) => SEND_CANCELLED,
        })
    }
}

impl fmt::Display for TrySendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TrySendError::Full(_) => "the channel is full",
            TrySendError::Closed(_) => SEND_CLOSED,
        })
    }
}

impl fmt::Display for SendTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SendTimeoutError::Timeout(_) => "send timed out: the channel stayed full",
            SendTimeoutError::Closed(_) => SEND_CLOSED,
            SendTimeoutError::Cancelled(_) => SEND_CANCELLED,
        })
    }
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RecvError::Closed => RECV_CLOSED,
            RecvError::Cancelled => RECV_CANCELLED,
        })
    }
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TryRecvError::Empty => "the channel is empty",
            TryRecvError::Closed => RECV_CLOSED,
        })
    }
}

impl fmt::Display for RecvTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RecvTimeoutError::Timeout => "receive timed out",
            RecvTimeoutError::Closed => RECV_CLOSED,
            RecvTimeoutError::Cancelled => RECV_CANCELLED,
        })
    }
}

impl std::error::Error for SendError {}
impl std::error::Error for TrySendError {}
impl std::error::Error for SendTimeoutError {}
impl std::error::Error for RecvError {}
impl std::error::Error for TryRecvError {}
impl std::error::Error for RecvTimeoutError {}

/// Retries `attempt` briefly before the caller parks: a value or slot that
/// appears within a few microseconds is taken without a sleep and wake-up
/// (like crossbeam's own `Backoff`), which is what makes round trips fast.
fn spin<T>(mut attempt: impl FnMut() -> Option<T>) -> Option<T> {
    for step in 0..10u32 {
        if let Some(v) = attempt() {
            return Some(v);
        }
        if step < 6 {
            for _ in 0..1u32 << step {
                std::hint::spin_loop();
            }
        } else {
            std::thread::yield_now();
        }
    }
    None
}

struct Inner {
    tx: Sender<Value>,
    rx: Receiver<Value>,
    capacity: Option<usize>,
    closed: AtomicBool,
    // Dropped on close: disconnects `close_rx`, waking every blocked select.
    close_tx: Mutex<Option<Sender<()>>>,
    close_rx: Receiver<()>,
}

/// A multi-producer, multi-consumer channel of [`Value`]s, bounded or
/// unbounded (crossbeam-channel underneath). Handles are cheap to clone and
/// travel to any interpreter as `interp.Channel` objects (as a
/// [`Value::Channel`] argument or through `prepare_main`); Python sees
/// `send(obj, timeout=None)`, `recv(timeout=None)`, `try_recv()`, `close()`,
/// `len()` and iteration until closed.
///
/// Blocking never polls: a blocked operation sleeps until a value, a free
/// slot, the close, its deadline or the current thread's
/// [`CancelToken`](crate::CancelToken) wakes it. While blocked, the calling
/// thread's interpreter (if any) is detached, so other threads can run
/// Python in it. (One exception, from Python only: in the main thread of the
/// main interpreter, a wait wakes every 50 ms to run the signal handlers,
/// so that Ctrl-C raises `KeyboardInterrupt` there.)
///
/// [`close`](Channel::close) wakes every waiter; values sent before the close
/// can still be received, then receivers get [`RecvError::Closed`].
///
/// ```
/// use interp_core::{Channel, Interpreter, Value};
///
/// let requests = Channel::bounded(16);
/// let replies = Channel::unbounded();
/// let worker = Interpreter::new()?;
/// worker.prepare_main([("requests", requests.clone().into()), ("replies", replies.clone().into())])?;
/// worker.exec("def serve():\n    for x in requests:\n        replies.send(x + 1)")?;
/// let answer = std::thread::scope(|s| {
///     let serving = s.spawn(|| worker.call("__main__", "serve", &[], &[]));
///     requests.send(Value::Int(41)).unwrap();
///     let answer = replies.recv().unwrap(); // sleeps until the reply arrives
///     requests.close(); // the worker's `for` loop ends once the channel is drained
///     serving.join().unwrap().map(|_| answer)
/// })?;
/// assert_eq!(answer, Value::Int(42));
/// # Ok::<(), interp_core::Error>(())
/// ```
#[derive(Clone)]
pub struct Channel {
    inner: Arc<Inner>,
}

impl fmt::Debug for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channel")
            .field("len", &self.len())
            .field("capacity", &self.inner.capacity)
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl PartialEq for Channel {
    /// Handles are equal when they are the same channel.
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Eq for Channel {}

impl std::hash::Hash for Channel {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (Arc::as_ptr(&self.inner) as usize).hash(state);
    }
}

impl Channel {
    fn with(tx: Sender<Value>, rx: Receiver<Value>, capacity: Option<usize>) -> Channel {
        let (close_tx, close_rx) = crossbeam_channel::bounded(0);
        Channel {
            inner: Arc::new(Inner {
                tx,
                rx,
                capacity,
                closed: AtomicBool::new(false),
                close_tx: Mutex::new(Some(close_tx)),
                close_rx,
            }),
        }
    }

    /// The largest capacity of a bounded channel (its slots are allocated
    /// up front); use an unbounded channel beyond that.
    pub const MAX_CAPACITY: usize = 1 << 20;

    /// A channel that holds at most `capacity` values; senders block while
    /// it is full. `capacity` 0 is a rendezvous channel.
    ///
    /// # Panics
    /// When `capacity` exceeds [`MAX_CAPACITY`](Self::MAX_CAPACITY).
    pub fn bounded(capacity: usize) -> Channel {
        assert!(
            capacity <= Self::MAX_CAPACITY,
            "channel capacity {capacity} exceeds Channel::MAX_CAPACITY ({}); use Channel::unbounded()",
            Self::MAX_CAPACITY
        );
        let (tx, rx) = crossbeam_channel::bounded(capacity);
        Self::with(tx, rx, Some(capacity))
    }

    /// A channel without a limit.
    pub fn unbounded() -> Channel {
        let (tx, rx) = crossbeam_channel::unbounded();
        Self::with(tx, rx, None)
    }

    /// The capacity (`None` when unbounded).
    pub fn capacity(&self) -> Option<usize> {
        self.inner.capacity
    }

    /// How many values wait to be received.
    pub fn len(&self) -> usize {
        self.inner.rx.len()
    }

    /// Whether no value waits.
    pub fn is_empty(&self) -> bool {
        self.inner.rx.is_empty()
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    /// Closes the channel: later sends fail, blocked senders and receivers
    /// wake up; values already sent remain receivable. Idempotent.
    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        crate::sync::lock(&self.inner.close_tx).take();
    }

    /// Sends without blocking.
    ///
    /// # Errors
    /// [`TrySendError::Full`] or [`TrySendError::Closed`], with the value.
    pub fn try_send(&self, value: Value) -> Result<(), TrySendError> {
        if self.is_closed() {
            return Err(TrySendError::Closed(value));
        }
        self.inner.tx.try_send(value).map_err(|e| match e {
            crossbeam_channel::TrySendError::Full(v) => TrySendError::Full(v),
            crossbeam_channel::TrySendError::Disconnected(v) => TrySendError::Closed(v),
        })
    }

    /// Sends, blocking while the channel is full.
    ///
    /// # Errors
    /// [`SendError::Closed`] or [`SendError::Cancelled`], with the value.
    pub fn send(&self, value: Value) -> Result<(), SendError> {
        self.send_deadline(value, None).map_err(|e| match e {
            SendTimeoutError::Closed(v) => SendError::Closed(v),
            SendTimeoutError::Cancelled(v) => SendError::Cancelled(v),
            SendTimeoutError::Timeout(_) => unreachable!("a send without a deadline timed out"),
        })
    }

    /// Sends, blocking at most `timeout` while the channel is full.
    ///
    /// # Errors
    /// [`SendTimeoutError::Timeout`], [`SendTimeoutError::Closed`] or
    /// [`SendTimeoutError::Cancelled`], with the value.
    pub fn send_timeout(&self, value: Value, timeout: Duration) -> Result<(), SendTimeoutError> {
        self.send_deadline(value, Some(Instant::now() + timeout))
    }

    /// Sends, blocking until `deadline` (`None`: no limit) while the channel
    /// is full.
    pub(crate) fn send_deadline(
        &self,
        value: Value,
        deadline: Option<Instant>,
    ) -> Result<(), SendTimeoutError> {
        let mut pending = Some(value);
        let done = spin(|| match self.try_send(pending.take().unwrap()) {
            Ok(()) => Some(Ok(())),
            Err(TrySendError::Full(v)) => {
                pending = Some(v);
                None
            }
            Err(TrySendError::Closed(v)) => Some(Err(SendTimeoutError::Closed(v))),
        });
        if let Some(r) = done {
            return r;
        }
        let value = pending.take().unwrap();
        let (cancel, token) = cancel::current_waker();
        if token.as_ref().is_some_and(|t| t.is_cancelled()) {
            return Err(SendTimeoutError::Cancelled(value));
        }
        let _detached = Detached::new();
        let timeout = deadline.map_or(crossbeam_channel::never(), crossbeam_channel::at);
        let inner = &self.inner;
        if self.is_closed() {
            return Err(SendTimeoutError::Closed(value));
        }
        // Values are cheap to clone (reference-counted); the clone offered
        // to `send` is dropped if another branch wins.
        select! {
            send(inner.tx, value.clone()) -> r => {
                r.map_err(|e| SendTimeoutError::Closed(e.into_inner()))
            },
            recv(inner.close_rx) -> _ => Err(SendTimeoutError::Closed(value)),
            recv(cancel) -> _ => Err(SendTimeoutError::Cancelled(value)),
            recv(timeout) -> _ => Err(SendTimeoutError::Timeout(value)),
        }
    }

    /// Receives without blocking.
    ///
    /// # Errors
    /// [`TryRecvError::Empty`], or [`TryRecvError::Closed`] once closed and
    /// drained.
    pub fn try_recv(&self) -> Result<Value, TryRecvError> {
        match self.inner.rx.try_recv() {
            Ok(v) => Ok(v),
            Err(_) if self.is_closed() => Err(TryRecvError::Closed),
            Err(_) => Err(TryRecvError::Empty),
        }
    }

    /// Receives, blocking until a value arrives or the channel is closed and
    /// drained.
    ///
    /// # Errors
    /// [`RecvError::Closed`] or [`RecvError::Cancelled`].
    pub fn recv(&self) -> Result<Value, RecvError> {
        self.recv_deadline(None).map_err(|e| match e {
            RecvTimeoutError::Closed => RecvError::Closed,
            RecvTimeoutError::Cancelled => RecvError::Cancelled,
            RecvTimeoutError::Timeout => unreachable!("a receive without a deadline timed out"),
        })
    }

    /// Receives, blocking at most `timeout`.
    ///
    /// # Errors
    /// [`RecvTimeoutError::Timeout`], [`RecvTimeoutError::Closed`] or
    /// [`RecvTimeoutError::Cancelled`].
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Value, RecvTimeoutError> {
        self.recv_deadline(Some(Instant::now() + timeout))
    }

    /// Receives, blocking until `deadline` (`None`: no limit).
    pub(crate) fn recv_deadline(
        &self,
        deadline: Option<Instant>,
    ) -> Result<Value, RecvTimeoutError> {
        let done = spin(|| match self.try_recv() {
            Ok(v) => Some(Ok(v)),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Closed) => Some(Err(RecvTimeoutError::Closed)),
        });
        if let Some(r) = done {
            return r;
        }
        let (cancel, token) = cancel::current_waker();
        if token.as_ref().is_some_and(|t| t.is_cancelled()) {
            return Err(RecvTimeoutError::Cancelled);
        }
        let _detached = Detached::new();
        let timeout = deadline.map_or(crossbeam_channel::never(), crossbeam_channel::at);
        let inner = &self.inner;
        loop {
            select! {
                recv(inner.rx) -> r => if let Ok(v) = r { return Ok(v) },
                recv(inner.close_rx) -> _ => {
                    // Closed: drain what was sent before the close.
                    return inner.rx.try_recv().map_err(|_| RecvTimeoutError::Closed);
                },
                recv(cancel) -> _ => return Err(RecvTimeoutError::Cancelled),
                recv(timeout) -> _ => return Err(RecvTimeoutError::Timeout),
            }
        }
    }

    /// An iterator that receives until the channel is closed and drained
    /// (or the receive is cancelled).
    pub fn iter(&self) -> impl Iterator<Item = Value> + '_ {
        std::iter::from_fn(move || self.recv().ok())
    }
}
