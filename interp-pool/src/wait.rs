//! Waiting on many tasks: [`wait`] and [`as_completed`], as in
//! `concurrent.futures`.

use std::time::{Duration, Instant};

use crate::task::Task;

/// What [`wait`] waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitMode {
    /// Every task finished.
    All,
    /// At least one task finished.
    Any,
    /// Every task finished, or one failed.
    FirstException,
}

/// The split [`wait`] returns: indices into the slice it was given.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WaitResult {
    /// Tasks that finished.
    pub done: Vec<usize>,
    /// Tasks still pending.
    pub pending: Vec<usize>,
}

/// Waits for `tasks` as `mode` says, at most `timeout` (`None`: no limit),
/// like `concurrent.futures.wait`.
pub fn wait(tasks: &[Task], mode: WaitMode, timeout: Option<Duration>) -> WaitResult {
    let deadline = timeout.map(|t| Instant::now() + t);
    let (tx, rx) = crossbeam_channel::unbounded();
    for (i, t) in tasks.iter().enumerate() {
        t.add_listener(tx.clone(), i);
    }
    drop(tx);
    let satisfied = |tasks: &[Task]| {
        let done: Vec<bool> = tasks.iter().map(Task::is_done).collect();
        match mode {
            WaitMode::All => done.iter().all(|d| *d),
            WaitMode::Any => tasks.is_empty() || done.iter().any(|d| *d),
            WaitMode::FirstException => {
                done.iter().all(|d| *d)
                    || tasks.iter().any(|t| matches!(t.try_result(), Some(Err(_))))
            }
        }
    };
    while !satisfied(tasks) {
        let got = match deadline {
            None => rx.recv().ok(),
            Some(d) => rx.recv_deadline(d).ok(),
        };
        if got.is_none() {
            break;
        }
    }
    let (done, pending) = (0..tasks.len()).partition(|&i| tasks[i].is_done());
    WaitResult { done, pending }
}

/// Yields tasks as they finish (each once), like
/// `concurrent.futures.as_completed`.
pub fn as_completed(tasks: &[Task]) -> impl Iterator<Item = Task> + '_ {
    let (tx, rx) = crossbeam_channel::unbounded();
    for (i, t) in tasks.iter().enumerate() {
        t.add_listener(tx.clone(), i);
    }
    drop(tx);
    rx.into_iter()
        .take(tasks.len())
        .map(move |i| tasks[i].clone())
}
