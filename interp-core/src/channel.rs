//! [`Channel`]: an MPMC channel of [`Value`]s between Rust threads and any
//! interpreters.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{select, Receiver, Sender};

use crate::cancel;
use crate::tstate::Detached;
use crate::value::Value;

/// Why a send failed. The value comes back with the error.
#[derive(Debug, Clone, PartialEq)]
pub enum SendError {
    /// The channel was closed.
    Closed(Value),
    /// The channel stayed full until the timeout.
    Timeout(Value),
    /// The channel is full (from `try_send`).
    Full(Value),
    /// The current [`CancelToken`](crate::CancelToken) was cancelled.
    Cancelled(Value),
}

impl SendError {
    /// The value that was not sent.
    pub fn into_inner(self) -> Value {
        match self {
            SendError::Closed(v)
            | SendError::Timeout(v)
            | SendError::Full(v)
            | SendError::Cancelled(v) => v,
        }
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SendError::Closed(_) => "send on a closed channel",
            SendError::Timeout(_) => "send timed out: the channel stayed full",
            SendError::Full(_) => "the channel is full",
            SendError::Cancelled(_) => "send cancelled",
        })
    }
}

impl std::error::Error for SendError {}

/// Why a receive failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvError {
    /// The channel is closed and every value sent before the close was
    /// received.
    Closed,
    /// Nothing arrived before the timeout.
    Timeout,
    /// Nothing is waiting (from `try_recv`).
    Empty,
    /// The current [`CancelToken`](crate::CancelToken) was cancelled.
    Cancelled,
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RecvError::Closed => "the channel is closed and empty",
            RecvError::Timeout => "receive timed out",
            RecvError::Empty => "the channel is empty",
            RecvError::Cancelled => "receive cancelled",
        })
    }
}

impl std::error::Error for RecvError {}

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
/// Python in it.
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
        crate::lock(&self.inner.close_tx).take();
    }

    /// Sends without blocking.
    ///
    /// # Errors
    /// [`SendError::Full`] or [`SendError::Closed`], with the value.
    pub fn try_send(&self, value: Value) -> Result<(), SendError> {
        if self.is_closed() {
            return Err(SendError::Closed(value));
        }
        self.inner.tx.try_send(value).map_err(|e| match e {
            crossbeam_channel::TrySendError::Full(v) => SendError::Full(v),
            crossbeam_channel::TrySendError::Disconnected(v) => SendError::Closed(v),
        })
    }

    /// Sends, blocking while the channel is full.
    ///
    /// # Errors
    /// [`SendError::Closed`] or [`SendError::Cancelled`], with the value.
    pub fn send(&self, value: Value) -> Result<(), SendError> {
        self.send_deadline(value, None)
    }

    /// Sends, blocking at most `timeout` while the channel is full.
    ///
    /// # Errors
    /// As [`send`](Self::send), plus [`SendError::Timeout`].
    pub fn send_timeout(&self, value: Value, timeout: Duration) -> Result<(), SendError> {
        self.send_deadline(value, Some(Instant::now() + timeout))
    }

    pub(crate) fn send_deadline(
        &self,
        value: Value,
        deadline: Option<Instant>,
    ) -> Result<(), SendError> {
        let mut pending = Some(value);
        let done = spin(|| match self.try_send(pending.take().unwrap()) {
            Err(SendError::Full(v)) => {
                pending = Some(v);
                None
            }
            other => Some(other),
        });
        if let Some(r) = done {
            return r;
        }
        let value = pending.take().unwrap();
        let (cancel, token) = cancel::current_waker();
        if token.as_ref().is_some_and(|t| t.is_cancelled()) {
            return Err(SendError::Cancelled(value));
        }
        let _detached = Detached::new();
        let timeout = deadline.map_or(crossbeam_channel::never(), crossbeam_channel::at);
        let inner = &self.inner;
        if self.is_closed() {
            return Err(SendError::Closed(value));
        }
        // Values are cheap to clone (reference-counted); the clone offered
        // to `send` is dropped if another branch wins.
        select! {
            send(inner.tx, value.clone()) -> r => r.map_err(|e| SendError::Closed(e.into_inner())),
            recv(inner.close_rx) -> _ => Err(SendError::Closed(value)),
            recv(cancel) -> _ => Err(SendError::Cancelled(value)),
            recv(timeout) -> _ => Err(SendError::Timeout(value)),
        }
    }

    /// Receives without blocking.
    ///
    /// # Errors
    /// [`RecvError::Empty`], or [`RecvError::Closed`] once closed and
    /// drained.
    pub fn try_recv(&self) -> Result<Value, RecvError> {
        match self.inner.rx.try_recv() {
            Ok(v) => Ok(v),
            Err(_) if self.is_closed() => Err(RecvError::Closed),
            Err(_) => Err(RecvError::Empty),
        }
    }

    /// Receives, blocking until a value arrives or the channel is closed and
    /// drained.
    ///
    /// # Errors
    /// [`RecvError::Closed`] or [`RecvError::Cancelled`].
    pub fn recv(&self) -> Result<Value, RecvError> {
        self.recv_deadline(None)
    }

    /// Receives, blocking at most `timeout`.
    ///
    /// # Errors
    /// As [`recv`](Self::recv), plus [`RecvError::Timeout`].
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Value, RecvError> {
        self.recv_deadline(Some(Instant::now() + timeout))
    }

    pub(crate) fn recv_deadline(&self, deadline: Option<Instant>) -> Result<Value, RecvError> {
        let done = spin(|| match self.try_recv() {
            Err(RecvError::Empty) => None,
            other => Some(other),
        });
        if let Some(r) = done {
            return r;
        }
        let (cancel, token) = cancel::current_waker();
        if token.as_ref().is_some_and(|t| t.is_cancelled()) {
            return Err(RecvError::Cancelled);
        }
        let _detached = Detached::new();
        let timeout = deadline.map_or(crossbeam_channel::never(), crossbeam_channel::at);
        let inner = &self.inner;
        loop {
            select! {
                recv(inner.rx) -> r => if let Ok(v) = r { return Ok(v) },
                recv(inner.close_rx) -> _ => {
                    // Closed: drain what was sent before the close.
                    return inner.rx.try_recv().map_err(|_| RecvError::Closed);
                },
                recv(cancel) -> _ => return Err(RecvError::Cancelled),
                recv(timeout) -> _ => return Err(RecvError::Timeout),
            }
        }
    }

    /// An iterator that receives until the channel is closed and drained
    /// (or the receive is cancelled).
    pub fn iter(&self) -> impl Iterator<Item = Value> + '_ {
        std::iter::from_fn(move || self.recv().ok())
    }
}
