//! Thread states: one per (OS thread, interpreter), made on first entry and
//! reused for every later one.
//!
//! Each interpreter has a [`Shared`] record listing the thread states made
//! for it. Each OS thread has a cache (a thread-local) mapping interpreter id
//! to its thread state there. The two are kept consistent under
//! `Shared::state`'s lock:
//! - entering creates and registers a thread state at most once per thread;
//! - closing an interpreter deletes every registered thread state and marks
//!   the record closed, so caches on other threads never touch them again;
//! - a thread that exits deletes its thread states of still-open
//!   interpreters (taking each interpreter's GIL briefly), except an
//!   interpreter's last one, which stays registered until `close`.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use interp_sys as sys;

/// Set once the runtime is finalized: every thread state is gone then.
pub(crate) static FINALIZED: AtomicBool = AtomicBool::new(false);

/// A thread-state pointer that may be moved between threads for bookkeeping
/// (it is only ever *attached* on the thread that made it).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct TsPtr(pub(crate) *mut sys::PyThreadState);
// SAFETY: the pointer is only dereferenced by CPython calls made under the
// rules documented in this module (attach on the creating thread; delete
// under the interpreter's GIL and the Shared lock).
unsafe impl Send for TsPtr {}

/// Per-interpreter bookkeeping shared by its handle and by thread caches.
pub(crate) struct Shared {
    pub(crate) id: i64,
    pub(crate) raw: *mut sys::PyInterpreterState,
    pub(crate) is_main: bool,
    pub(crate) state: Mutex<SharedState>,
    /// Mirrors `SharedState::closed` (set under the lock) so that thread
    /// caches can prune entries without taking any lock.
    pub(crate) closed: AtomicBool,
    /// The interpreter's materialization cache (see `materialize`).
    pub(crate) cache: crate::materialize::InterpCache,
}

// SAFETY: `raw` is an opaque handle that is only passed to CPython while the
// rules of this module hold; all mutable bookkeeping is behind a Mutex.
unsafe impl Send for Shared {}
// SAFETY: as above.
unsafe impl Sync for Shared {}

#[derive(Default)]
pub(crate) struct SharedState {
    pub(crate) closed: bool,
    pub(crate) tstates: Vec<TsPtr>,
}

impl Shared {
    pub(crate) fn new(raw: *mut sys::PyInterpreterState, is_main: bool) -> Arc<Shared> {
        // SAFETY: `raw` is live (just created or the main interpreter).
        let id = unsafe { sys::interpreter_id(raw) };
        Arc::new(Shared {
            id,
            raw,
            is_main,
            state: Mutex::new(SharedState::default()),
            closed: AtomicBool::new(false),
            cache: crate::materialize::InterpCache::new(),
        })
    }

    /// Marks the record closed; call with the lock held (`st`).
    pub(crate) fn mark_closed(&self, st: &mut SharedState) {
        st.closed = true;
        st.tstates.clear();
        self.closed.store(true, Ordering::Release);
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, SharedState> {
        // A panic while holding this lock leaves consistent data (every
        // mutation is a single push/retain/flag store): ignore poisoning.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct Entry {
    shared: Arc<Shared>,
    tstate: TsPtr,
}

#[derive(Default)]
struct Cache {
    entries: Vec<Entry>,
}

impl Drop for Cache {
    fn drop(&mut self) {
        // The thread is exiting: delete its thread states of interpreters that
        // are still open, so that they do not leak.
        for e in self.entries.drain(..) {
            if FINALIZED.load(Ordering::Acquire) {
                return;
            }
            let mut st = e.shared.lock();
            if st.closed {
                continue;
            }
            if st.tstates.len() == 1 {
                // The interpreter's last thread state: keep it (orphaned,
                // still registered; `close` deletes it). CPython 3.12/3.13
                // reuse the interpreter's embedded initial thread state when
                // its list becomes empty, and abort with "thread state
                // already initialized" on the next PyThreadState_New.
                continue;
            }
            st.tstates.retain(|t| *t != e.tstate);
            if !sys::current_thread_state().is_null() {
                // Something was left attached (a leaked guard): deleting now
                // would break it. Leak the thread state instead.
                continue;
            }
            // SAFETY: the thread state was made on this thread, is not
            // attached, and the interpreter is open (checked under the lock,
            // which `close` also takes). Attaching takes its GIL, which
            // Clear needs; DeleteCurrent releases it.
            unsafe {
                sys::attach(e.tstate.0);
                sys::delete_current_thread_state(e.tstate.0);
            }
        }
    }
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
}

/// This thread's thread state for `shared`, created and registered on first
/// use. Returns `None` when the interpreter is closed.
pub(crate) fn thread_state_for(shared: &Arc<Shared>) -> Option<TsPtr> {
    let found = CACHE.with(|c| {
        c.borrow()
            .entries
            .iter()
            .find(|e| e.shared.id == shared.id)
            .map(|e| e.tstate)
    });
    if let Some(ts) = found {
        return Some(ts);
    }
    let mut st = shared.lock();
    if st.closed {
        return None;
    }
    // SAFETY: the interpreter is open (checked under the lock that `close`
    // takes before deleting it); PyThreadState_New needs no GIL.
    let ts = TsPtr(unsafe { sys::new_thread_state(shared.raw) });
    assert!(!ts.0.is_null(), "PyThreadState_New failed (out of memory)");
    st.tstates.push(ts);
    drop(st);
    register(shared, ts);
    Some(ts)
}

/// Records `ts` (already registered in `shared`) as this thread's thread
/// state for that interpreter.
pub(crate) fn register(shared: &Arc<Shared>, ts: TsPtr) {
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        // Drop entries of closed interpreters: their thread states are gone.
        // (An atomic read: this may run while a GIL is held, and locking
        // another interpreter's record here could invert the lock order
        // "record, then GIL" that close and thread exit follow.)
        c.entries
            .retain(|e| !e.shared.closed.load(Ordering::Acquire));
        c.entries.push(Entry {
            shared: shared.clone(),
            tstate: ts,
        });
    });
}

/// Runs `f` with the record of the interpreter attached on this thread:
/// found by its thread state (one interp made, on this thread), or, for a
/// thread state interp did not make (a host's, a thread started by
/// `threading`), the main interpreter's record when the main interpreter is
/// the attached one. `None` when nothing is attached or the attached
/// interpreter is a subinterpreter interp did not make. `f` must not enter
/// or leave interpreters.
pub(crate) fn with_current<R>(f: impl FnOnce(&Shared) -> R) -> Option<R> {
    let current = sys::current_thread_state();
    if current.is_null() {
        return None;
    }
    let mut f = Some(f);
    let found = CACHE
        .try_with(|c| {
            let c = c.borrow();
            // A closed interpreter's entry may name a deleted thread state
            // whose address was reused: skip closed ones.
            let e = c
                .entries
                .iter()
                .find(|e| e.tstate.0 == current && !e.shared.closed.load(Ordering::Acquire))?;
            Some(f.take().expect("called once")(&e.shared))
        })
        .ok()
        .flatten();
    if found.is_some() {
        return found;
    }
    let main = crate::runtime::Runtime::get()?.main().shared();
    // SAFETY: `current` is the live thread state attached on this thread.
    let attached = unsafe { sys::thread_state_interpreter(current) };
    (attached == main.raw && !main.closed.load(Ordering::Acquire))
        .then(|| f.take().expect("called once")(main))
}

/// Forgets this thread's entry for `shared` (its thread state was deleted).
pub(crate) fn forget(shared: &Shared) {
    let _ = CACHE.try_with(|c| c.borrow_mut().entries.retain(|e| e.shared.id != shared.id));
}

/// Restores the previously attached thread state when dropped (also on
/// panic). Holds no GIL-bound data itself.
pub(crate) struct Attached {
    prev: *mut sys::PyThreadState,
    switched: bool,
}

impl Attached {
    /// Attaches this thread's thread state for `shared`, detaching whatever
    /// thread state was attached before. Re-entrant: when a thread state of
    /// the same interpreter is already attached, nothing changes.
    ///
    /// Returns `None` when the interpreter is closed.
    pub(crate) fn enter(shared: &Arc<Shared>) -> Option<Attached> {
        let prev = sys::current_thread_state();
        // SAFETY: `prev` is the live, attached thread state of this thread.
        if !prev.is_null() && unsafe { sys::thread_state_interpreter(prev) } == shared.raw {
            return Some(Attached {
                prev,
                switched: false,
            });
        }
        // Detach first: finding or making the thread state may take the
        // target's record lock, and no GIL may be held while waiting for a
        // record lock (close and thread exit hold it while taking a GIL).
        if !prev.is_null() {
            // SAFETY: `prev` is attached on this thread.
            unsafe { sys::detach() };
        }
        let Some(ts) = thread_state_for(shared) else {
            if !prev.is_null() {
                // SAFETY: `prev` was attached here just before; nothing is
                // attached now.
                unsafe { sys::attach(prev) };
            }
            return None;
        };
        // SAFETY: `ts` was made on this thread for an open interpreter and
        // nothing is attached. A handle to an open interpreter (borrowed by
        // the caller) keeps it open meanwhile.
        unsafe { sys::attach(ts.0) };
        Some(Attached {
            prev,
            switched: true,
        })
    }
}

impl Drop for Attached {
    fn drop(&mut self) {
        if self.switched {
            // SAFETY: `enter` attached a thread state on this thread and
            // every nested entry restored it before returning; `prev` was
            // attached here before and is still live (its interpreter is
            // entered further up this thread's stack).
            unsafe {
                sys::detach();
                if !self.prev.is_null() {
                    sys::attach(self.prev);
                }
            }
        }
    }
}

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
