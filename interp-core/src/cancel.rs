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

/// A cancellation flag that wakes blocked waits. Cheap to clone; all clones
/// share one state.
#[derive(Clone)]
pub struct CancelToken {
    inner: Arc<Inner>,
}

struct Inner {
    cancelled: AtomicBool,
    // Dropping the sender disconnects `wake`, which wakes every select on it.
    tx: Mutex<Option<Sender<()>>>,
    wake: Receiver<()>,
}

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
        let (tx, wake) = crossbeam_channel::bounded(0);
        CancelToken {
            inner: Arc::new(Inner {
                cancelled: AtomicBool::new(false),
                tx: Mutex::new(Some(tx)),
                wake,
            }),
        }
    }

    /// Cancels: every wait under this token, now or later, fails. Idempotent.
    pub fn cancel(&self) {
        self.inner.cancelled.store(true, Ordering::Release);
        self.inner
            .tx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
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
    pub(crate) fn waker(&self) -> &Receiver<()> {
        &self.inner.wake
    }
}

/// The current thread's cancellation waker, or a receiver that never fires.
pub(crate) fn current_waker() -> (Receiver<()>, Option<CancelToken>) {
    match CancelToken::current() {
        Some(t) => (t.waker().clone(), Some(t)),
        None => (crossbeam_channel::never(), None),
    }
}
