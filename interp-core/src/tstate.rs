//! Thread states: one per (OS thread, interpreter), made on first entry and
//! reused for every later one.
//!
//! Each interpreter has an [`InterpRecord`] listing the thread states made
//! for it. Each OS thread has a cache (a thread-local) mapping interpreter id
//! to its thread state there. The two are kept consistent under
//! `InterpRecord::state`'s lock:
//! - entering creates and registers a thread state at most once per thread;
//! - closing an interpreter deletes every registered thread state and marks
//!   the record closed, so caches on other threads never touch them again;
//! - a thread that exits deletes its thread states of still-open
//!   interpreters (taking each interpreter's GIL briefly), except an
//!   interpreter's last one, which stays registered until `close`.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use interp_sys as sys;

use crate::sync;

/// Set once the runtime is finalized: every thread state is gone then.
pub(crate) static FINALIZED: AtomicBool = AtomicBool::new(false);

/// The main interpreter's record, set once by the runtime as it starts.
static MAIN: OnceLock<Arc<InterpRecord>> = OnceLock::new();

/// Records the main interpreter's record (the runtime's, when it starts;
/// later calls change nothing).
pub(crate) fn set_main_record(record: &Arc<InterpRecord>) {
    let _ = MAIN.set(Arc::clone(record));
}

/// The main interpreter's record while the runtime runs: `None` before it
/// starts and after it is finalized.
fn main_record() -> Option<&'static Arc<InterpRecord>> {
    MAIN.get().filter(|_| !FINALIZED.load(Ordering::Acquire))
}

/// A thread-state pointer that may be moved between threads for bookkeeping
/// (it is only ever *attached* on the thread that made it).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct TsPtr(pub(crate) *mut sys::PyThreadState);
// SAFETY: the pointer is only dereferenced by CPython calls made under the
// rules documented in this module (attach on the creating thread; delete
// under the interpreter's GIL and its record's lock).
unsafe impl Send for TsPtr {}

/// Per-interpreter bookkeeping shared by its handle and by thread caches.
pub(crate) struct InterpRecord {
    pub(crate) id: i64,
    pub(crate) raw: *mut sys::PyInterpreterState,
    pub(crate) is_main: bool,
    pub(crate) state: Mutex<RecordState>,
    /// Mirrors `RecordState::closed` (set under the lock) so that thread
    /// caches can prune entries without taking any lock.
    pub(crate) closed: AtomicBool,
    /// The interpreter's materialization cache (see `cache`).
    pub(crate) cache: crate::cache::InterpCache,
}

// SAFETY: `raw` is an opaque handle, only passed to CPython under the rules
// of this module, whichever thread holds the record; the other fields are
// Send.
unsafe impl Send for InterpRecord {}
// SAFETY: through `&InterpRecord`, `id`, `raw` and `is_main` are only read (set at
// construction), and the mutable bookkeeping is behind the Mutex and the
// atomic.
unsafe impl Sync for InterpRecord {}

#[derive(Default)]
pub(crate) struct RecordState {
    pub(crate) closed: bool,
    pub(crate) tstates: Vec<TsPtr>,
}

impl InterpRecord {
    pub(crate) fn new(raw: *mut sys::PyInterpreterState, is_main: bool) -> Arc<InterpRecord> {
        // SAFETY: `raw` is live (just created or the main interpreter).
        let id = unsafe { sys::interpreter_id(raw) };
        Arc::new(InterpRecord {
            id,
            raw,
            is_main,
            state: Mutex::new(RecordState::default()),
            closed: AtomicBool::new(false),
            cache: crate::cache::InterpCache::new(),
        })
    }

    /// Marks the record closed; call with the lock held (`st`).
    pub(crate) fn mark_closed(&self, st: &mut RecordState) {
        st.closed = true;
        st.tstates.clear();
        self.closed.store(true, Ordering::Release);
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, RecordState> {
        // Every mutation is a single push/retain/flag store: a panic while
        // holding the lock leaves consistent data.
        sync::lock(&self.state)
    }
}

struct Entry {
    record: Arc<InterpRecord>,
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
            release(e);
        }
    }
}

/// Deletes the thread state of `e` (made on this thread, not attached),
/// unless its interpreter is closed or it is the interpreter's last one.
fn release(e: Entry) {
    let mut st = e.record.lock();
    if st.closed {
        return;
    }
    if st.tstates.len() == 1 {
        // The interpreter's last thread state: keep it (orphaned,
        // still registered; `close` deletes it). CPython 3.12/3.13
        // reuse the interpreter's embedded initial thread state when
        // its list becomes empty, and abort with "thread state
        // already initialized" on the next PyThreadState_New.
        return;
    }
    st.tstates.retain(|t| *t != e.tstate);
    if !sys::current_thread_state().is_null() || sys::is_finalizing() {
        // Something was left attached (a leaked guard): deleting now
        // would break it. Or the runtime finalizes: it frees (or already
        // freed) the thread states itself, and attaching one now would
        // never return. Leak the thread state instead.
        return;
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

/// Deletes this thread's thread state for `record` now, as the thread's
/// exit would (see [`release`]). Returns `false` when something is attached
/// on this thread (nothing is deleted then).
pub(crate) fn release_current(record: &InterpRecord) -> bool {
    // Inside an `enter` (also while detached in it: its thread state is
    // saved to be attached again) nothing may go.
    if !sys::current_thread_state().is_null() || ENTERED.with(|n| n.get()) > 0 {
        return false;
    }
    let taken = CACHE
        .try_with(|c| {
            let mut c = c.borrow_mut();
            let i = c.entries.iter().position(|e| e.record.id == record.id)?;
            Some(c.entries.swap_remove(i))
        })
        .ok()
        .flatten();
    if let Some(e) = taken {
        release(e);
    }
    true
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
    /// Live [`Attached`] guards on this thread.
    static ENTERED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// This thread's thread state for `record`, created and registered on first
/// use. Returns `None` when the interpreter is closed.
pub(crate) fn thread_state_for(record: &Arc<InterpRecord>) -> Option<TsPtr> {
    let found = CACHE.with(|c| {
        c.borrow()
            .entries
            .iter()
            .find(|e| e.record.id == record.id)
            .map(|e| e.tstate)
    });
    if let Some(ts) = found {
        return Some(ts);
    }
    let mut st = record.lock();
    if st.closed {
        return None;
    }
    // SAFETY: the interpreter is open (checked under the lock that `close`
    // takes before deleting it); PyThreadState_New needs no GIL.
    let ts = TsPtr(unsafe { sys::new_thread_state(record.raw) });
    assert!(!ts.0.is_null(), "PyThreadState_New failed (out of memory)");
    st.tstates.push(ts);
    drop(st);
    register(record, ts);
    Some(ts)
}

/// Records `ts` (already registered in `record`) as this thread's thread
/// state for that interpreter.
pub(crate) fn register(record: &Arc<InterpRecord>, ts: TsPtr) {
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        // Drop entries of closed interpreters: their thread states are gone.
        // (An atomic read: this may run while a GIL is held, and locking
        // another interpreter's record here could invert the lock order
        // "record, then GIL" that close and thread exit follow.)
        c.entries
            .retain(|e| !e.record.closed.load(Ordering::Acquire));
        c.entries.push(Entry {
            record: record.clone(),
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
pub(crate) fn with_current<R>(f: impl FnOnce(&InterpRecord) -> R) -> Option<R> {
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
                .find(|e| e.tstate.0 == current && !e.record.closed.load(Ordering::Acquire))?;
            Some(f.take().expect("called once")(&e.record))
        })
        .ok()
        .flatten();
    if found.is_some() {
        return found;
    }
    let main = main_record()?;
    // SAFETY: `current` is the live thread state attached on this thread.
    let attached = unsafe { sys::thread_state_interpreter(current) };
    (attached == main.raw && !main.closed.load(Ordering::Acquire))
        .then(|| f.take().expect("called once")(main))
}

/// Forgets this thread's entry for `record` (its thread state was deleted).
pub(crate) fn forget(record: &InterpRecord) {
    let _ = CACHE.try_with(|c| c.borrow_mut().entries.retain(|e| e.record.id != record.id));
}

/// Restores the previously attached thread state when dropped (also on
/// panic). Holds no GIL-bound data itself.
pub(crate) struct Attached {
    prev: *mut sys::PyThreadState,
    switched: bool,
}

impl Attached {
    /// Attaches this thread's thread state for `record`, detaching whatever
    /// thread state was attached before. Re-entrant: when a thread state of
    /// the same interpreter is already attached, nothing changes.
    ///
    /// Returns `None` when the interpreter is closed.
    pub(crate) fn enter(record: &Arc<InterpRecord>) -> Option<Attached> {
        let prev = sys::current_thread_state();
        // SAFETY: `prev` is the live, attached thread state of this thread.
        if !prev.is_null() && unsafe { sys::thread_state_interpreter(prev) } == record.raw {
            ENTERED.with(|n| n.set(n.get() + 1));
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
        let Some(ts) = thread_state_for(record) else {
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
        ENTERED.with(|n| n.set(n.get() + 1));
        Some(Attached {
            prev,
            switched: true,
        })
    }
}

impl Drop for Attached {
    fn drop(&mut self) {
        let _ = ENTERED.try_with(|n| n.set(n.get().saturating_sub(1)));
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
