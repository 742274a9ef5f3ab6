//! Cancellation of blocking waits.
//!
//! A [`CancelToken`] is installed for the current thread with
//! [`CancelToken::scope`]. Every blocking operation of interp-core
//! ([`Channel`](crate::Channel) send/recv, from Rust or Python) waits on the
//! token too, and fails with a "cancelled" error as soon as it is cancelled:
//! no polling, a wait simply has one more thing to wake it. The pool uses
//! this to cancel running tasks that are blocked in a channel.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crossbeam_channel::{Receiver, Sender};

use crate::sync::lock;

/// A cancellation flag that wakes blocked waits. Cheap to clone; all clones
/// share one state.
#[derive(Clone)]
pub struct CancelToken {
    inner: Arc<Inner>,
}

struct Inner {
    cancelled: AtomicBool,
    /// Made on first use (most tokens are never waited on): the receiver
    /// that blocked waits select on, and its sender, dropped on cancel so
    /// that every select wakes up.
    wake: Mutex<Option<Wake>>,
}

/// The sender (None once cancelled) and the receiver waits select on.
type Wake = (Option<Sender<()>>, Receiver<()>);

impl Default for CancelToken {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CancelToken")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

thread_local! {
    static CURRENT: RefCell<Option<CancelToken>> = const { RefCell::new(None) };
}

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> CancelToken {
        CancelToken {
            inner: Arc::new(Inner {
                cancelled: AtomicBool::new(false),
                wake: Mutex::new(None),
            }),
        }
    }

    /// Cancels: every wait under this token, now or later, fails. Idempotent.
    pub fn cancel(&self) {
        let mut wake = lock(&self.inner.wake);
        self.inner.cancelled.store(true, Ordering::Release);
        if let Some((tx, _)) = wake.as_mut() {
            tx.take();
        }
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.load(Ordering::Acquire)
    }

    /// Runs `f` with this token installed for the current thread (nested
    /// scopes replace it until they end).
    pub fn scope<R>(&self, f: impl FnOnce() -> R) -> R {
        struct Restore(Option<CancelToken>);
        impl Drop for Restore {
            fn drop(&mut self) {
                let prev = self.0.take();
                CURRENT.with(|c| *c.borrow_mut() = prev);
            }
        }
        let prev = CURRENT.with(|c| c.borrow_mut().replace(self.clone()));
        let _restore = Restore(prev);
        f()
    }

    /// The token installed for the current thread, if any.
    pub fn current() -> Option<CancelToken> {
        CURRENT.with(|c| c.borrow().clone())
    }

    /// A receiver that becomes ready (disconnected) when the token is
    /// cancelled: add it to a `select!` to make a wait cancellable.
    pub(crate) fn waker(&self) -> Receiver<()> {
        let mut wake = lock(&self.inner.wake);
        let (_, rx) = wake.get_or_insert_with(|| {
            let (tx, rx) = crossbeam_channel::bounded(0);
            // Already cancelled: hand out a receiver that is ready at once.
            let tx = (!self.inner.cancelled.load(Ordering::Acquire)).then_some(tx);
            (tx, rx)
        });
        rx.clone()
    }
}

/// Whether a token is installed for the current thread and was cancelled.
pub(crate) fn current_is_cancelled() -> bool {
    CURRENT.with(|c| c.borrow().as_ref().is_some_and(CancelToken::is_cancelled))
}

/// The current thread's cancellation waker, or a receiver that never fires.
pub(crate) fn current_waker() -> (Receiver<()>, Option<CancelToken>) {
    match CancelToken::current() {
        Some(t) => (t.waker(), Some(t)),
        None => (crossbeam_channel::never(), None),
    }
}
