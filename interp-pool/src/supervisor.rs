//! Stopping running tasks: interrupts (`interp.Cancelled` raised in the
//! worker's interpreter), the supervisor thread that enforces timeouts and
//! kill checks at their deadlines, and giving up on a stuck worker.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::{Arc, Weak};
use std::time::Instant;

use crossbeam_channel::{Receiver, RecvTimeoutError};
use interp_core::{Python, Runtime};

use crate::aio;
use crate::error::TaskError;
use crate::registry::{Check, Registry, Slot};
use crate::task::{Host, TaskState};

impl Host for Registry {
    fn count_cancelled_queued(&self) {
        Registry::count_cancelled_queued(self);
    }

    /// Raises `interp.Cancelled` in the interpreter `task` runs in (from a
    /// helper thread, since taking that interpreter's GIL may wait for the
    /// running code), and schedules the kill check.
    fn interrupt(&self, task: &Arc<TaskState>) {
        let Some(slot) = task.worker().and_then(|w| self.slot(w)) else {
            return; // not started yet: the worker sees the cancel flag
        };
        if task.is_coroutine() {
            interrupt_coroutine(self, &slot, task);
            return;
        }
        if !slot.task().holds(task) {
            return; // finished, or not started yet (then the worker sees the cancel flag)
        }
        let (s2, t2) = (slot.clone(), task.clone());
        let spawned = std::thread::Builder::new()
            .name("interp-interrupt".into())
            .spawn(move || {
                let raise = |py: Python<'_>| {
                    // Under this interpreter's GIL the worker cannot move on to
                    // another task in it, so the check and the interrupt agree
                    // (the task Arc held here keeps its address from reuse).
                    if s2.task().holds(&t2) {
                        s2.raise_cancelled(py, Some(&t2), t2.is_main_lane())
                    } else {
                        Ok(())
                    }
                };
                let raised = if t2.is_main_lane() {
                    match Runtime::get() {
                        Some(_) if interp_core::sys::is_finalizing() => {
                            Err("the Python runtime is finalizing".into())
                        }
                        Some(rt) => rt.main().enter(raise),
                        None => Err("the Python runtime is gone".into()),
                    }
                } else {
                    match s2.interp() {
                        Some(interp) => interp.enter(raise),
                        None => Ok(()), // the worker is closing it: the task is over
                    }
                };
                if let Err(why) = raised {
                    interrupt_failed(&s2, &t2, why);
                }
            });
        if let Err(e) = spawned {
            interrupt_failed(&slot, task, format!("no thread to raise it from: {e}"));
        }
        let check = Check::Kill {
            task: Arc::downgrade(task),
            worker: slot.index(),
        };
        self.schedule(Instant::now() + self.config().kill_grace, check);
    }
}

/// Reports that `interp.Cancelled` could not be raised in `task` on
/// worker `slot`: logged, and kept on the task for the kill check's
/// message (which still gives up on the worker if the task runs on).
fn interrupt_failed(slot: &Slot, task: &TaskState, why: String) {
    eprintln!(
        "interp-pool: could not interrupt task {} on worker {}: {why}",
        task.id(),
        slot.name()
    );
    task.set_interrupt_failure(why);
}

/// Cancels coroutine `task` in the event loop of `slot`: the loop reads the
/// cancel from the worker's inbox and calls `task.cancel()`; if the
/// coroutine is executing right now (it does not yield), a helper raises
/// `interp.Cancelled` in it, as for any running task. The kill check
/// follows at the kill grace.
fn interrupt_coroutine(registry: &Registry, slot: &Arc<Slot>, task: &Arc<TaskState>) {
    if !slot.holds_coro(task) {
        return; // finished, or not started yet (then the loop sees the cancel flag)
    }
    slot.post_cancel(task.id());
    let (s2, t2) = (slot.clone(), task.clone());
    let _ = std::thread::Builder::new()
        .name("interp-interrupt".into())
        .spawn(move || {
            let Some(interp) = s2.interp() else { return };
            interp.enter(|py| {
                // Under this interpreter's GIL the loop cannot move on, so
                // the check and the interrupt agree.
                if !s2.holds_coro(&t2) {
                    return;
                }
                if aio::executing(py, t2.id()) {
                    if let Err(why) = s2.raise_cancelled(py, Some(&t2), false) {
                        interrupt_failed(&s2, &t2, why);
                    }
                }
            });
        });
    let check = Check::Kill {
        task: Arc::downgrade(task),
        worker: slot.index(),
    };
    registry.schedule(Instant::now() + registry.config().kill_grace, check);
}

/// Gives up on event-loop worker `slot` (its loop did not read a cancel
/// within the kill grace: a coroutine that never yields holds it): every
/// coroutine of that loop fails with `WorkerLost` (none is re-queued: each
/// may have had effects), and the worker is replaced while the pool is
/// open. A coroutine whose loop did read the cancel but which goes on
/// (it swallows `CancelledError`) completes as cancelled and runs on.
fn abandon_loop(registry: &Arc<Registry>, slot: &Slot, task: &Arc<TaskState>) {
    if !slot.cancel_pending(task.id()) {
        if slot.take_coro(task.id()).is_some() {
            task.complete(Err(task.cancel_error()));
        }
        return;
    }
    slot.mark_abandoned();
    let grace = registry.config().kill_grace;
    let closed = registry.is_closed();
    let why = format!(
        "the event loop of worker {} did not turn for {grace:?} after a cancel (a coroutine that \
         never yields, or a blocking call, holds it); the worker was {}, and every coroutine of \
         its loop failed (none is re-queued)",
        slot.name(),
        if closed {
            "abandoned (the pool is shutting down)"
        } else {
            "replaced"
        }
    );
    for t in slot.take_coros() {
        t.complete(Err(TaskError::WorkerLost(why.clone())));
    }
    // If the loop ever turns again, it cancels what it still runs and stops.
    if let Some(bell) = slot.bell() {
        bell.ring();
    }
    registry.counters(slot.index()).replaced();
    if !closed {
        if let Err(e) = registry.spawn_worker(slot.index(), None) {
            eprintln!("interp-pool: could not replace worker {}: {e}", slot.name());
        }
    }
    registry.retire(slot);
}

/// Gives up on worker `slot`, stuck in `task`: fails the task, replaces the
/// worker (while the pool is open), and lets the old thread end on its own
/// if its task ever returns. Does nothing when the worker has finished that
/// task meanwhile.
pub(crate) fn abandon(registry: &Arc<Registry>, slot: &Slot, task: &Arc<TaskState>) {
    if task.is_coroutine() {
        abandon_loop(registry, slot, task);
        return;
    }
    let Some(owned) = slot.task().take_if(task) else {
        return;
    };
    slot.mark_abandoned();
    let grace = registry.config().kill_grace;
    let closed = registry.is_closed();
    let fate = if closed {
        "abandoned (the pool is shutting down)"
    } else {
        "replaced"
    };
    owned.complete(Err(TaskError::WorkerLost(
        match owned.interrupt_failure() {
            Some(why) => format!(
            "the task could not be interrupted ({why}) and ran on for {grace:?}; worker {} was \
             {fate}",
            slot.name()
        ),
            None => format!(
                "the task ignored its interruption for {grace:?} (a blocking C call, or code that \
             swallows interp.Cancelled); worker {} was {fate}",
                slot.name()
            ),
        },
    )));
    registry.counters(slot.index()).replaced();
    if !closed {
        // Count the replacement in before the old slot leaves, so the live
        // count never touches zero on the way.
        if let Err(e) = registry.spawn_worker(slot.index(), None) {
            eprintln!("interp-pool: could not replace worker {}: {e}", slot.name());
        }
    }
    registry.retire(slot);
}

/// The supervisor thread: runs each [`Check`] at its deadline, until the
/// registry is gone.
pub(crate) fn run(registry: Weak<Registry>, checks: Receiver<(Instant, Check)>) {
    let mut due = Deadlines::new();
    loop {
        let msg = match due.next_deadline() {
            Some(at) => match checks.recv_deadline(at) {
                Ok(m) => Some(m),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            },
            None => match checks.recv() {
                Ok(m) => Some(m),
                Err(_) => return,
            },
        };
        if let Some((at, check)) = msg {
            due.push(at, check);
            continue;
        }
        while let Some(check) = due.pop_due(Instant::now()) {
            let Some(registry) = registry.upgrade() else {
                return;
            };
            match check {
                Check::Timeout(task) => {
                    if let Some(task) = task.upgrade() {
                        if !task.is_done() {
                            task.cancel(true);
                        }
                    }
                }
                Check::Kill { task, worker } => {
                    let Some(task) = task.upgrade() else { continue };
                    let Some(slot) = registry.slot(worker) else {
                        continue;
                    };
                    if !task.is_done() {
                        abandon(&registry, &slot, &task);
                    }
                }
            }
        }
    }
}

/// Items due at deadlines: the earliest first, in insertion order among
/// equal deadlines.
struct Deadlines<T> {
    heap: BinaryHeap<Due<T>>,
    seq: u64,
}

/// A heap entry, ordered so that the max-heap pops the earliest deadline
/// (then the lowest sequence number) first.
struct Due<T> {
    at: Instant,
    seq: u64,
    item: T,
}

impl<T> PartialEq for Due<T> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl<T> Eq for Due<T> {}

impl<T> PartialOrd for Due<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T> Ord for Due<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

impl<T> Deadlines<T> {
    fn new() -> Self {
        Deadlines {
            heap: BinaryHeap::new(),
            seq: 0,
        }
    }

    fn push(&mut self, at: Instant, item: T) {
        self.seq += 1;
        self.heap.push(Due {
            at,
            seq: self.seq,
            item,
        });
    }

    /// The earliest deadline.
    fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|d| d.at)
    }

    /// The next item due at `now` (its deadline passed or is `now`).
    fn pop_due(&mut self, now: Instant) -> Option<T> {
        if self.heap.peek()?.at > now {
            return None;
        }
        self.heap.pop().map(|d| d.item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn deadlines_pop_earliest_first_and_in_order_among_equals() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut d = Deadlines::new();
        assert_eq!(d.next_deadline(), None);
        assert_eq!(d.pop_due(at(1_000)), None);
        for (ms, item) in [(30, "c"), (10, "a1"), (20, "b"), (10, "a2"), (10, "a3")] {
            d.push(at(ms), item);
        }
        assert_eq!(d.next_deadline(), Some(at(10)));
        assert_eq!(d.pop_due(at(9)), None, "nothing is due before its deadline");
        let mut popped = Vec::new();
        while let Some(item) = d.pop_due(at(20)) {
            popped.push(item);
        }
        assert_eq!(
            popped,
            ["a1", "a2", "a3", "b"],
            "due at 20 ms, earliest first"
        );
        assert_eq!(d.next_deadline(), Some(at(30)));
        d.push(at(5), "late but early");
        assert_eq!(d.pop_due(at(20)), Some("late but early"));
        assert_eq!(d.pop_due(at(30)), Some("c"));
        assert_eq!(d.next_deadline(), None);
    }
}
