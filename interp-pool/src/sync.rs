//! Locking that ignores poisoning, for every mutex of this crate.
//!
//! Each mutex here guards data that a panic leaves consistent (a whole value
//! stored or taken, an entry pushed), and a panic in user code never happens
//! while one is held: a poisoned lock is used as it is.

use std::sync::{LockResult, Mutex, MutexGuard, PoisonError};

/// Locks `m`, ignoring poisoning.
pub(crate) fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    unpoison(m.lock())
}

/// The guard of a lock operation (a condition variable's wait), ignoring
/// poisoning.
pub(crate) fn unpoison<G>(r: LockResult<G>) -> G {
    r.unwrap_or_else(PoisonError::into_inner)
}
