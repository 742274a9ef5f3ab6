//! Locking that ignores poisoning: every mutex of interp-core guards data
//! that each critical section leaves consistent.

use std::sync::{Mutex, MutexGuard};

/// Locks `m`, taking the data even when a panic poisoned the lock: every
/// critical section in interp-core leaves its data consistent (a single
/// push, retain, take or flag store), so a panic elsewhere must not make
/// the lock unusable.
pub(crate) fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poisoned_lock_still_gives_its_data() {
        let m = Mutex::new(vec![1]);
        let poisoner = std::panic::catch_unwind(|| {
            let mut v = lock(&m);
            v.push(2);
            panic!("while holding the lock");
        });
        assert!(poisoner.is_err());
        assert!(m.is_poisoned());
        assert_eq!(*lock(&m), vec![1, 2]);
    }
}
