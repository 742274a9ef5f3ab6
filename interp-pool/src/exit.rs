//! Process exit: worker interpreters closed late (by a worker the pool gave
//! up on, whose blocking call returned) must not be closed while CPython
//! finalizes the runtime, which ends the remaining subinterpreters itself.
//!
//! Every close of a worker's interpreter holds a [`Closing`] permit. Once
//! [`hold_back_late_closes`] has run (the process exits), no permit is
//! given: the worker leaves its interpreter as it is and parks its thread
//! for good ([`park_for_good`]), and the exit waits for the closes already
//! under way, so none overlaps the finalization.

use std::sync::{Condvar, Mutex};
use std::time::Instant;

use crate::sync::lock;

/// Whether the process exits, and how many worker interpreters are being
/// closed.
struct Gate {
    exiting: bool,
    closing: usize,
}

static GATE: Mutex<Gate> = Mutex::new(Gate {
    exiting: false,
    closing: 0,
});

/// Notified when a close ends.
static CLOSED: Condvar = Condvar::new();

/// Leave to close one worker interpreter; the close is counted until the
/// permit drops.
pub(crate) struct Closing(());

impl Drop for Closing {
    fn drop(&mut self) {
        lock(&GATE).closing -= 1;
        CLOSED.notify_all();
    }
}

/// A permit to close a worker interpreter now, or `None` once the process
/// exits ([`hold_back_late_closes`] has run).
pub(crate) fn may_close() -> Option<Closing> {
    let mut g = lock(&GATE);
    if g.exiting {
        return None;
    }
    g.closing += 1;
    Some(Closing(()))
}

/// Whether [`hold_back_late_closes`] has run.
pub(crate) fn is_exiting() -> bool {
    lock(&GATE).exiting
}

/// Parks the calling worker thread for good, keeping `keep` (its
/// interpreter, left to CPython's finalization) alive: the process is
/// exiting, and closing the interpreter now could overlap the runtime's
/// finalization, which ends it instead (CPython 3.13+).
pub(crate) fn park_for_good<T>(keep: T) -> ! {
    let _keep = keep;
    loop {
        std::thread::park();
    }
}

/// Marks the process as exiting, for its exit hook (the Python front calls
/// it from an `atexit` handler registered when `interp` is imported; a host
/// that finalizes CPython itself calls it just before): from now on no
/// worker interpreter is closed; a worker that was given up on (abandoned
/// in a blocking call) and whose call returns later leaves its interpreter
/// to CPython's finalization and parks its thread. One-way: every later
/// worker close, of any pool, is held back the same way (build and shut
/// down pools before).
///
/// Then waits for the closes already under way, until `deadline` (`None`:
/// no limit). Returns how many are still under way (0: none; finalizing
/// the runtime while one is would be unsafe). Calling it again waits
/// again.
///
/// A Rust host that finalizes through [`Runtime::finalize`] needs no call:
/// it refuses while any subinterpreter is open, which an abandoned
/// worker's is.
///
/// [`Runtime::finalize`]: interp_core::Runtime::finalize
pub fn hold_back_late_closes(deadline: Option<Instant>) -> usize {
    let mut g = lock(&GATE);
    g.exiting = true;
    while g.closing > 0 {
        g = match deadline {
            None => CLOSED.wait(g).unwrap_or_else(|e| e.into_inner()),
            Some(d) => {
                let now = Instant::now();
                if now >= d {
                    break;
                }
                CLOSED
                    .wait_timeout(g, d - now)
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            }
        };
    }
    g.closing
}
