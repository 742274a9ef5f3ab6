//! Leaving the attached thread state for a while: [`Detached`], used where
//! nothing may be attached (creating or ending an interpreter, finalizing)
//! and around blocking waits (a channel's), so the GIL is free meanwhile.

use interp_sys as sys;

/// Detaches whatever thread state is attached on this thread, and attaches it
/// again when dropped. Used around operations that need no thread state
/// (creating or ending an interpreter, blocking waits).
pub(crate) struct Detached {
    prev: *mut sys::PyThreadState,
}

impl Detached {
    pub(crate) fn new() -> Detached {
        let prev = sys::current_thread_state();
        if !prev.is_null() {
            // SAFETY: `prev` is attached on this thread.
            unsafe { sys::detach() };
        }
        Detached { prev }
    }
}

impl Drop for Detached {
    fn drop(&mut self) {
        if !self.prev.is_null() {
            // SAFETY: `prev` was attached on this thread before `new`, is
            // still live, and nothing is attached now (every operation done
            // in between leaves no thread state attached).
            unsafe { sys::attach(self.prev) };
        }
    }
}
