//! Shutting a pool down: close the queue, interrupt what runs, join the
//! workers, give up on those that do not stop in time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::TaskError;
use crate::exit;
use crate::registry::{Phase, Registry, Slot};
use crate::stats::ShutdownReport;
use crate::supervisor::abandon;
use crate::task::TaskState;

/// Stops the pool as [`Pool::shutdown`](crate::Pool::shutdown) documents.
pub(crate) fn shutdown(
    registry: &Arc<Registry>,
    wait: bool,
    cancel_pending: bool,
) -> ShutdownReport {
    // The workers given up on before this shutdown, read before the queue
    // closes: a worker this shutdown stops may mark itself abandoned at
    // once (at exit, leaving its interpreter to the runtime: exit.rs), and
    // is then one of this shutdown's.
    let given_up = registry
        .slots()
        .into_iter()
        .filter(|s| s.is_abandoned())
        .collect();
    shutdown_within(
        registry,
        wait,
        cancel_pending,
        registry.config().shutdown_timeout,
        given_up,
    )
}

/// Stops a pool whose start failed (its queue is closed, its initializers
/// interrupted): the workers still starting get the kill grace, not the
/// shutdown timeout (nothing of theirs is worth waiting for), and are
/// abandoned after it. Returns them, named with why.
pub(crate) fn after_failed_start(registry: &Arc<Registry>) -> ShutdownReport {
    // No worker was given up on before (the start closed the queue already,
    // so a snapshot taken now could count one this stop abandons).
    shutdown_within(registry, true, true, Duration::ZERO, Vec::new())
}

/// [`shutdown`] with `shutdown_timeout` in place of the configured one;
/// `given_up` are the workers given up on before (not this stop's).
fn shutdown_within(
    registry: &Arc<Registry>,
    wait: bool,
    cancel_pending: bool,
    shutdown_timeout: Duration,
    given_up: Vec<Arc<Slot>>,
) -> ShutdownReport {
    let start = Instant::now();
    let config = registry.config();
    if !registry.is_closed() || cancel_pending {
        registry.close_queue(cancel_pending);
    }
    let slots = registry.slots();
    let already: Vec<bool> = slots
        .iter()
        .map(|s| given_up.iter().any(|g| Arc::ptr_eq(g, s)))
        .collect();
    let mut interrupted = if cancel_pending {
        interrupt_running(registry)
    } else {
        Vec::new()
    };
    if !wait {
        return ShutdownReport::default();
    }
    let timeout_at = start + shutdown_timeout;
    if !cancel_pending && !join_until(registry, timeout_at) {
        // Past the shutdown timeout: what is still queued fails (else
        // the workers would start it) and what runs is interrupted.
        registry.abort_queue();
        interrupted = interrupt_running(registry);
    }
    // An interrupted task gets the kill grace; then it is given up on
    // (the supervisor's kill check does the same; the first one wins).
    let grace_end = Instant::now() + config.kill_grace;
    for (slot, task) in &interrupted {
        if !task.block(Some(grace_end)) {
            abandon(registry, slot, task);
        }
    }
    // What remains is workers closing their interpreters: they get what
    // is left of the shutdown timeout, and at least the kill grace.
    let close_by = timeout_at.max(Instant::now() + config.kill_grace);
    let mut why: Vec<Option<&str>> = vec![None; slots.len()];
    if !join_until(registry, close_by) {
        for (slot, why) in slots.iter().zip(&mut why) {
            if slot.is_retired() {
                continue;
            }
            slot.mark_abandoned();
            let coros = slot.take_coros();
            for t in &coros {
                t.complete(Err(TaskError::WorkerLost(format!(
                    "the pool shut down while the event loop of worker {} was stuck",
                    slot.name()
                ))));
            }
            // If that loop ever turns again, it cancels what it runs and stops.
            if let Some(bell) = slot.bell() {
                bell.ring();
            }
            *why = Some(match slot.task().take() {
                Some(t) => {
                    t.complete(Err(TaskError::WorkerLost(format!(
                        "the pool shut down while worker {} was stuck in this task",
                        slot.name()
                    ))));
                    "stuck in a task"
                }
                None if !coros.is_empty() => "its event loop did not stop in time",
                None => match slot.phase() {
                    Phase::Closing => {
                        "stuck closing its interpreter, which waits for the threads started \
                         in it: a `threading` thread that does not end?"
                    }
                    Phase::Starting => {
                        "stuck starting its interpreter: an initializer that does not return?"
                    }
                    Phase::Serving => "did not stop in time",
                },
            });
            registry.retire(slot);
        }
    }
    let abandoned = slots
        .iter()
        .zip(already)
        .zip(why)
        .filter(|((s, before), _)| !before && s.is_abandoned())
        .map(|((s, _), why)| {
            let why = why.unwrap_or(if exit::is_exiting() {
                "the process exits: its interpreter is left to the runtime's finalization"
            } else {
                "stuck in a task that ignored its interruption past the kill grace"
            });
            format!("{} ({why})", s.name())
        })
        .collect();
    ShutdownReport { abandoned }
}

/// Cancels every running task (which interrupts it and schedules its kill
/// check) and returns them with their workers.
fn interrupt_running(registry: &Registry) -> Vec<(Arc<Slot>, Arc<TaskState>)> {
    registry
        .slots()
        .into_iter()
        .flat_map(|slot| {
            let mut tasks = slot.coros();
            tasks.extend(slot.task().get());
            tasks
                .into_iter()
                .filter(|t| t.cancel(false))
                .map(move |t| (slot.clone(), t))
        })
        .collect()
}

/// Waits until every worker slot has retired, joining their threads; false
/// at `deadline`.
fn join_until(registry: &Registry, deadline: Instant) -> bool {
    loop {
        // Read before the slots are: a slot retiring after this makes the
        // wait below return at once.
        let seen = registry.retirements();
        let mut all = true;
        for s in registry.slots() {
            if !s.is_retired() {
                all = false;
            } else if !s.is_abandoned() {
                s.join();
            }
        }
        if all {
            return true;
        }
        if !registry.wait_retired(seen, deadline) {
            return false;
        }
    }
}
