//! What the pool counts and reports: per-worker [`Counters`], and the
//! snapshots [`PoolStats`] / [`WorkerStats`] and [`ShutdownReport`].

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::error::TaskError;

/// Per-worker counters (kept across recycles and replacements). Relaxed:
/// each is a statistic on its own, read without ordering against the rest.
#[derive(Default)]
pub(crate) struct Counters {
    tasks: AtomicU64,
    failed: AtomicU64,
    cancelled: AtomicU64,
    recycles: AtomicU64,
    replaced: AtomicU64,
    busy_ns: AtomicU64,
}

impl Counters {
    /// A task ran for `busy` and ended with `outcome`.
    pub(crate) fn record<T>(&self, busy: Duration, outcome: &Result<T, TaskError>) {
        self.busy_ns
            .fetch_add(u64::try_from(busy.as_nanos()).unwrap_or(u64::MAX), Relaxed);
        self.tasks.fetch_add(1, Relaxed);
        match outcome {
            Ok(_) => {}
            Err(TaskError::Cancelled | TaskError::TimedOut) => {
                self.cancelled.fetch_add(1, Relaxed);
                self.failed.fetch_add(1, Relaxed);
            }
            Err(_) => {
                self.failed.fetch_add(1, Relaxed);
            }
        }
    }

    /// The worker's interpreter was recycled.
    pub(crate) fn recycled(&self) {
        self.recycles.fetch_add(1, Relaxed);
    }

    /// The worker was abandoned (and replaced, while the pool is open).
    pub(crate) fn replaced(&self) {
        self.replaced.fetch_add(1, Relaxed);
    }

    /// A snapshot, for worker `index` (`running`: whether it runs a task).
    pub(crate) fn snapshot(
        &self,
        index: usize,
        running: bool,
        cache: interp_core::CacheStats,
    ) -> WorkerStats {
        WorkerStats {
            index,
            tasks: self.tasks.load(Relaxed),
            failed: self.failed.load(Relaxed),
            cancelled: self.cancelled.load(Relaxed),
            recycles: self.recycles.load(Relaxed),
            replaced: self.replaced.load(Relaxed),
            busy: Duration::from_nanos(self.busy_ns.load(Relaxed)),
            running,
            cache,
        }
    }
}

/// A snapshot of one worker's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerStats {
    /// Worker index.
    pub index: usize,
    /// Tasks run (successful or not).
    pub tasks: u64,
    /// Tasks that ended in an error (cancelled ones included).
    pub failed: u64,
    /// Tasks cancelled or timed out while running.
    pub cancelled: u64,
    /// Interpreter recycles (`max_tasks_per_worker`, `SystemExit`).
    pub recycles: u64,
    /// Times the worker was abandoned and replaced.
    pub replaced: u64,
    /// Time spent running tasks.
    pub busy: Duration,
    /// Whether it runs a task now.
    pub running: bool,
    /// The materialization cache of its current interpreter (all zero
    /// while it restarts): values passed again found as the objects made
    /// before, and what the cache holds. See
    /// [`Interpreter::cache_stats`](interp_core::Interpreter::cache_stats).
    pub cache: interp_core::CacheStats,
}

/// A snapshot of the pool's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolStats {
    /// Tasks waiting for a worker.
    pub queue_depth: usize,
    /// Queued tasks cancelled before they ran.
    pub cancelled_queued: u64,
    /// [`Pool::shutdown`](crate::Pool::shutdown) calls waiting for workers
    /// to stop right now (a shutdown that seems to hang shows here).
    pub shutdowns_waiting: usize,
    /// One entry per worker.
    pub workers: Vec<WorkerStats>,
}

/// What [`Pool::shutdown`](crate::Pool::shutdown) found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ShutdownReport {
    /// Workers that did not stop in time and were abandoned (each thread
    /// and its interpreter leak until what holds them returns): thread name
    /// and where it is stuck, e.g. `interp-worker-0 (stuck closing its
    /// interpreter, ...)` or `interp-worker-1 (stuck in a task that ignored
    /// its interruption past the kill grace)`.
    pub abandoned: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_are_counted_by_kind() {
        let c = Counters::default();
        let ms = Duration::from_millis;
        c.record(ms(1), &Ok(()));
        c.record::<()>(ms(2), &Err(TaskError::Cancelled));
        c.record::<()>(ms(3), &Err(TaskError::TimedOut));
        c.record::<()>(ms(4), &Err(TaskError::Failed("x".into())));
        c.recycled();
        c.replaced();
        assert_eq!(
            c.snapshot(3, true, interp_core::CacheStats::default()),
            WorkerStats {
                index: 3,
                tasks: 4,
                failed: 3,
                cancelled: 2,
                recycles: 1,
                replaced: 1,
                busy: ms(10),
                running: true,
                cache: interp_core::CacheStats::default(),
            }
        );
    }
}
