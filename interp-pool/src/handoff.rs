//! [`Handoff`]: a published `Arc` (a worker's running task) that others can
//! read, and exactly one party takes back.
//!
//! This is the only `unsafe` code of the crate. Its protocol, stated once:
//!
//! # Ownership
//!
//! While `ptr` is not null it owns one strong reference of an `Arc<T>`, made
//! by [`Arc::into_raw`] in [`publish`](Handoff::publish). The reference is
//! taken back by an atomic swap ([`take`](Handoff::take)) or
//! compare-exchange ([`take_if`](Handoff::take_if)) of `ptr` to null, so of
//! all the parties that try, exactly one gets a given publication, and with
//! it the reference. In the pool: the worker when the task ends; or, when the
//! worker is given up on, the supervisor or a shutdown, which then complete
//! the task themselves.
//!
//! # Readers
//!
//! [`get`](Handoff::get) makes a new reference from the published pointer
//! without taking it. Between its load of `ptr` and its increment of the
//! strong count, a taker could take the reference and drop it, freeing the
//! value. So a reader counts itself in `readers` *before* it loads `ptr` and
//! out *after* the increment, and a taker, once it has taken `ptr`, waits
//! until `readers` is zero before it hands the reference over (after which
//! it may be dropped).
//!
//! Why that suffices: every access to `ptr` and `readers` is `SeqCst`, so
//! all of them fall in one total order. A reader that loaded the taken
//! pointer did so before the taker's swap, and counted itself in before
//! that; the taker loads `readers` after its swap, so it sees that count
//! until the reader counts itself out. Counting out is a release that the
//! taker's load of zero acquires (the counter's read-modify-writes form one
//! release sequence), so the reader's increment of the strong count happens
//! before the taker's reference can be dropped. A taker may also wait for
//! readers of a later publication; readers do a handful of instructions and
//! hold no lock, so only a descheduled reader makes it wait longer.
//!
//! Whoever passes a value to `take_if` or `holds` holds a reference to it,
//! so its address cannot be reused by another value meanwhile: comparing
//! addresses compares values (no ABA).
//!
//! # Publication against flags
//!
//! [`publish`](Handoff::publish) is a `SeqCst` store and
//! [`holds`](Handoff::holds) a `SeqCst` load. A publisher that then loads a
//! `SeqCst` flag of the value, and another thread that stores that flag
//! (`SeqCst`) and then checks `holds`, cannot both miss each other: either
//! the publisher sees the flag, or the other thread sees the value
//! published. A task's cancel relies on this (see `TaskState::cancel`).

use std::marker::PhantomData;
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

/// One published `Arc<T>`, or nothing. See the [module docs](self) for the
/// protocol.
pub(crate) struct Handoff<T> {
    /// The published reference (`Arc::into_raw`), or null.
    ptr: AtomicPtr<T>,
    /// Readers between their load of `ptr` and their own reference.
    readers: AtomicUsize,
    /// Owns an `Arc<T>` (for `Send`/`Sync` and drop checking).
    _owns: PhantomData<Arc<T>>,
}

impl<T> Handoff<T> {
    /// Nothing published.
    pub(crate) fn new() -> Handoff<T> {
        Handoff {
            ptr: AtomicPtr::new(ptr::null_mut()),
            readers: AtomicUsize::new(0),
            _owns: PhantomData,
        }
    }

    /// Publishes `value`. Only the publisher publishes, and only when
    /// nothing is published (a value still published would leak).
    pub(crate) fn publish(&self, value: Arc<T>) {
        let old = self.ptr.swap(Arc::into_raw(value).cast_mut(), SeqCst);
        debug_assert!(old.is_null(), "published over a published value");
    }

    /// Whether `value` is the one published now.
    pub(crate) fn holds(&self, value: &Arc<T>) -> bool {
        ptr::eq(self.ptr.load(SeqCst), Arc::as_ptr(value))
    }

    /// Whether a value is published.
    pub(crate) fn is_occupied(&self) -> bool {
        !self.ptr.load(SeqCst).is_null()
    }

    /// A reference of the caller's own to the published value, if any.
    pub(crate) fn get(&self) -> Option<Arc<T>> {
        self.readers.fetch_add(1, SeqCst);
        let p = self.ptr.load(SeqCst);
        #[cfg(test)]
        tests::in_read_window();
        let value = (!p.is_null()).then(|| {
            // SAFETY: `p` was published and holds a strong reference; a
            // taker waits for `readers` to drop back before that reference
            // can go (module docs, "Readers"), so the value is alive here.
            unsafe {
                Arc::increment_strong_count(p);
                Arc::from_raw(p)
            }
        });
        self.readers.fetch_sub(1, SeqCst);
        value
    }

    /// Takes the published reference back if it is `value`'s (none is
    /// published, or another value, when someone else took it first).
    pub(crate) fn take_if(&self, value: &Arc<T>) -> Option<Arc<T>> {
        let p = Arc::as_ptr(value).cast_mut();
        self.ptr
            .compare_exchange(p, ptr::null_mut(), SeqCst, SeqCst)
            .ok()
            .map(|p| self.reclaim(p))
    }

    /// Takes whatever is published.
    pub(crate) fn take(&self) -> Option<Arc<T>> {
        let p = self.ptr.swap(ptr::null_mut(), SeqCst);
        (!p.is_null()).then(|| self.reclaim(p))
    }

    /// The reference `p` stands for, once `p` (not null) was taken out of
    /// `ptr` by the caller, after every reader that may have loaded it.
    fn reclaim(&self, p: *mut T) -> Arc<T> {
        let mut spins = 0u32;
        while self.readers.load(SeqCst) != 0 {
            spins += 1;
            if spins < 64 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        // SAFETY: `p` came from `Arc::into_raw` in `publish`, and the
        // caller's swap or exchange moved its reference out of `ptr` to us:
        // nobody else takes it (module docs, "Ownership").
        unsafe { Arc::from_raw(p) }
    }
}

impl<T> Drop for Handoff<T> {
    fn drop(&mut self) {
        drop(self.take());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::sync::atomic::AtomicBool;
    use std::sync::mpsc;
    use std::time::Duration;

    thread_local! {
        /// Run by `get` between its load of `ptr` and its own reference: a
        /// test stops a reader there.
        static READ_WINDOW: RefCell<Option<Box<dyn FnMut()>>> = const { RefCell::new(None) };
    }

    pub(super) fn in_read_window() {
        READ_WINDOW.with(|w| {
            if let Some(f) = w.borrow_mut().as_mut() {
                f();
            }
        });
    }

    #[test]
    fn a_publication_is_taken_back_once() {
        let a = Arc::new(1);
        let h = Handoff::new();
        assert!(!h.is_occupied() && h.get().is_none() && h.take().is_none());
        h.publish(a.clone());
        assert_eq!(Arc::strong_count(&a), 2, "the handoff owns one reference");
        assert!(h.is_occupied() && h.holds(&a));
        let got = h.get().expect("published");
        assert!(Arc::ptr_eq(&got, &a));
        assert_eq!(Arc::strong_count(&a), 3, "a reader gets its own reference");
        drop(got);

        let other = Arc::new(1);
        assert!(!h.holds(&other) && h.take_if(&other).is_none());
        assert_eq!(Arc::strong_count(&a), 2, "a failed take_if takes nothing");

        let taken = h.take_if(&a).expect("still published");
        assert!(Arc::ptr_eq(&taken, &a) && !h.is_occupied());
        assert!(h.take_if(&a).is_none() && h.take().is_none(), "taken once");
        drop(taken);
        assert_eq!(
            Arc::strong_count(&a),
            1,
            "the published reference was released"
        );

        h.publish(a.clone());
        assert!(h.take().is_some_and(|t| Arc::ptr_eq(&t, &a)));
        assert_eq!(Arc::strong_count(&a), 1);
    }

    #[test]
    fn dropping_the_handoff_releases_what_it_holds() {
        let a = Arc::new("task");
        let h = Handoff::new();
        h.publish(a.clone());
        drop(h);
        assert_eq!(Arc::strong_count(&a), 1);
    }

    #[test]
    fn a_taker_waits_for_a_reader_between_its_load_and_its_reference() {
        let drops = Arc::new(AtomicUsize::new(0));
        let h = Handoff::new();
        h.publish(Arc::new(Probe {
            alive: AtomicBool::new(true),
            drops: drops.clone(),
            stealable: true,
        }));
        let (in_window, reader_stopped) = mpsc::channel();
        let (go, resume) = mpsc::channel::<()>();
        let handed_over = AtomicBool::new(false);
        let h = &h;
        std::thread::scope(|s| {
            // Dropped if an assertion fails, which lets the reader go.
            let go = go;
            let reader = s.spawn(move || {
                READ_WINDOW.with(|w| {
                    *w.borrow_mut() = Some(Box::new(move || {
                        in_window.send(()).unwrap();
                        resume.recv().unwrap();
                    }))
                });
                h.get().expect("published")
            });
            reader_stopped.recv().unwrap();
            let taker = s.spawn(|| {
                let taken = h.take();
                handed_over.store(true, SeqCst);
                drop(taken);
            });
            while h.is_occupied() {
                std::thread::yield_now();
            }
            // The taker has the pointer. A correct one waits for the
            // reader however long this takes; the pause only gives a
            // broken one the time to hand over (and drop) the reference.
            std::thread::sleep(Duration::from_millis(20));
            assert!(
                !handed_over.load(SeqCst),
                "the taker handed over the reference while a reader had not taken its own"
            );
            go.send(()).unwrap();
            let got = reader.join().unwrap();
            taker.join().unwrap();
            assert!(got.alive.load(SeqCst) && handed_over.load(SeqCst));
            assert_eq!(
                drops.load(SeqCst),
                0,
                "the reader's reference keeps it alive"
            );
            drop(got);
            assert_eq!(drops.load(SeqCst), 1);
        });
    }

    /// A value that notices use after its drop and counts its drops.
    struct Probe {
        alive: AtomicBool,
        drops: Arc<AtomicUsize>,
        /// Takers may take it (else only readers contend with the
        /// publisher).
        stealable: bool,
    }

    impl Drop for Probe {
        fn drop(&mut self) {
            assert!(self.alive.swap(false, SeqCst), "dropped twice");
            self.drops.fetch_add(1, SeqCst);
        }
    }

    /// Many threads at once: a publisher that publishes and takes back its
    /// values (a worker), rival takers that take what they read (the
    /// supervisor, a shutdown) and readers (cancels, stats). Every value
    /// must be dropped exactly once, never while a reader uses it.
    #[test]
    fn stress_publishers_takers_and_readers() {
        const ROUNDS: usize = 20_000;
        /// Every this many rounds the publisher leaves its value to a taker.
        const STEAL_EVERY: usize = 64;
        const READERS: usize = 6;
        const TAKERS: usize = 2;
        let drops = Arc::new(AtomicUsize::new(0));
        let h = Handoff::<Probe>::new();
        let done = AtomicBool::new(false);
        let start = std::sync::Barrier::new(READERS + TAKERS + 1);
        let (mine, stolen) = std::thread::scope(|s| {
            for _ in 0..READERS {
                s.spawn(|| {
                    start.wait();
                    while !done.load(SeqCst) {
                        if let Some(p) = h.get() {
                            assert!(p.alive.load(SeqCst), "a reader got a dropped value");
                        }
                        // Readers are rare in the pool; here they leave the
                        // takers room, or taking could wait for a long time.
                        std::thread::yield_now();
                    }
                });
            }
            let takers: Vec<_> = (0..TAKERS)
                .map(|_| {
                    s.spawn(|| {
                        start.wait();
                        let mut stolen = 0usize;
                        while !done.load(SeqCst) {
                            if let Some(p) = h.get().filter(|p| p.stealable) {
                                if let Some(t) = h.take_if(&p) {
                                    assert!(t.alive.load(SeqCst));
                                    stolen += 1;
                                }
                            }
                            std::thread::yield_now();
                        }
                        stolen
                    })
                })
                .collect();
            start.wait();
            // Stops the other threads even if an assertion below fails.
            struct Stop<'a>(&'a AtomicBool);
            impl Drop for Stop<'_> {
                fn drop(&mut self) {
                    self.0.store(true, SeqCst);
                }
            }
            let stop = Stop(&done);
            let mut mine = 0usize;
            for round in 0..ROUNDS {
                // A worker given up on, one racing its taker, one left alone.
                let (wait_for_taker, stealable) = match round % STEAL_EVERY {
                    0 => (true, true),
                    r => (false, r % 2 == 0),
                };
                let p = Arc::new(Probe {
                    alive: AtomicBool::new(true),
                    drops: drops.clone(),
                    stealable,
                });
                h.publish(p.clone());
                if wait_for_taker {
                    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(60);
                    while h.holds(&p) && std::time::Instant::now() < give_up {
                        std::thread::yield_now();
                    }
                    assert!(!h.holds(&p), "no taker took round {round} within a minute");
                } else {
                    std::thread::yield_now();
                }
                if h.take_if(&p).is_some() {
                    mine += 1;
                }
            }
            drop(stop);
            let stolen: usize = takers.into_iter().map(|t| t.join().unwrap()).sum();
            (mine, stolen)
        });
        assert_eq!(
            mine + stolen,
            ROUNDS,
            "each publication taken exactly once ({mine} by the publisher, {stolen} by takers)"
        );
        assert!(
            stolen >= ROUNDS / STEAL_EVERY && mine >= ROUNDS / 2,
            "{mine} taken back by the publisher, {stolen} stolen"
        );
        assert!(!h.is_occupied());
        assert_eq!(drops.load(SeqCst), ROUNDS, "every value dropped once");
    }
}
