//! A worker thread: makes its interpreter (and a fresh one on recycle),
//! takes tasks from the queue and runs them in it, closes it on the way out.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvError, TryRecvError};
use interp_core::{Error, Interpreter, Python};

use crate::aio::{self, LoopExit};
use crate::builder::Init;
use crate::error::TaskError;
use crate::execute::{call_once, execute, resolve, run_chunk, FnCache, Ran, Rest};
use crate::exit;
use crate::registry::{Check, Phase, Ready, Registry, Slot};
use crate::task::TaskState;

/// How a worker's interpreter ends.
enum Exit {
    /// Go on in a fresh interpreter (`max_tasks_per_worker`, `SystemExit`),
    /// first with the rest of a map chunk that `SystemExit` cut short.
    Recycle(Option<Carry>),
    Stop,
}

/// A map chunk one of whose items raised `SystemExit`: its interpreter runs
/// none of the rest, which goes on in the worker's next interpreter. The
/// task stays published in the worker's slot meanwhile (cancellable, and
/// covered by the kill check).
struct Carry {
    task: Arc<TaskState>,
    rest: Rest,
    started: Instant,
}

impl Carry {
    /// Ends the chunk without running the rest, whose items fail with `err`.
    fn give_up(self, slot: &Slot, err: TaskError) {
        if slot.task().take_if(&self.task).is_none() {
            return; // abandoned: the task already failed with WorkerLost
        }
        self.task.complete(self.rest.give_up(err));
    }
}

/// Why a worker stops starting: the pool's start failed in another worker.
fn start_abandoned() -> Error {
    Error::Runtime("the pool's start failed in another worker".into())
}

/// Makes the worker's interpreter as the pool's `Init` says, publishing it
/// in `slot` as soon as it exists. Stops between steps once the pool is
/// stopping (its start failed, or a shutdown cancels pending work); the
/// initialization code runs under the registry's start token and marked
/// in the slot, so that a failed start can interrupt it.
fn make_interpreter(registry: &Registry, slot: &Arc<Slot>) -> Result<Arc<Interpreter>, Error> {
    let init = &registry.config().init;
    if registry.is_stopping() {
        return Err(start_abandoned());
    }
    let i = Arc::new(Interpreter::with_config(init.interpreter)?);
    slot.set_interp(Some(i.clone()));
    let made = registry.start_token().scope(|| {
        i.enter(|py| slot.catch_lost_interrupts(py, aio::executing))?;
        if !init.prepare.is_empty() {
            i.prepare_main(init.prepare.iter().map(|(k, v)| (k.as_str(), v.clone())))?;
        }
        if init.source.is_none() && init.call.is_none() {
            return Ok(());
        }
        i.enter(|py| {
            slot.set_thread_ident(py.thread_ident());
            slot.set_initializing(true);
            // After the mark, under this GIL: a failed start either is seen
            // here or sees the mark and interrupts (Registry::start).
            let r = if registry.is_stopping() {
                Err(start_abandoned())
            } else {
                run_init(py, init)
            };
            slot.set_initializing(false);
            // An interruption that landed after the code ended.
            py.clear_interrupt();
            r
        })
    });
    match made {
        Ok(()) => Ok(i),
        Err(e) => {
            slot.set_interp(None);
            if exit::is_exiting() {
                // No close now (exit.rs), but the failure is reported: a
                // park here would leave the pool's build waiting for good.
                std::mem::forget(i);
            } else {
                close_on_this_thread(registry, slot, i);
            }
            Err(e)
        }
    }
}

/// Runs `init_source` and the initializer call in the interpreter of `py`.
fn run_init(py: Python<'_>, init: &Init) -> Result<(), Error> {
    if let Some(src) = &init.source {
        py.exec(src)?;
    }
    if let Some(call) = &init.call {
        resolve(py, &call.target).and_then(|f| call_once(py, &f, call, None))?;
    }
    Ok(())
}

/// Closes `interp` on this thread (the worker's, which made it), once the
/// interrupt helpers have let go of their clones. Once the process exits
/// (typically a worker the pool gave up on, whose blocking call returned
/// late), the interpreter is left for the runtime's finalization to end
/// instead: the slot retires as abandoned (nothing joins its thread) and
/// the thread parks for good (exit.rs).
fn close_on_this_thread(registry: &Registry, slot: &Slot, mut interp: Arc<Interpreter>) {
    let Some(_closing) = exit::may_close() else {
        slot.mark_abandoned();
        registry.retire(slot);
        exit::park_for_good(interp)
    };
    let interp = loop {
        match Arc::try_unwrap(interp) {
            Ok(i) => break i,
            Err(again) => {
                interp = again;
                std::thread::sleep(Duration::from_micros(200));
            }
        }
    };
    interp.close();
}

/// A worker thread's body: one interpreter after another until told to
/// stop, then the slot retires. `ready` hears whether the first
/// interpreter could be made.
pub(crate) fn main(registry: Arc<Registry>, slot: Arc<Slot>, mut ready: Option<Ready>) {
    let mut carry: Option<Carry> = None;
    loop {
        slot.set_phase(Phase::Starting);
        let interp = match make_interpreter(&registry, &slot) {
            Ok(i) => i,
            Err(e) => {
                let sent = ready.take().is_some_and(|r| r.send(Err(e.clone())).is_ok());
                // A stopping pool needs no interpreter: nothing to report.
                if !sent && !registry.is_stopping() {
                    eprintln!(
                        "interp-pool: worker {} could not create its interpreter and stays down: {e}",
                        slot.name()
                    );
                }
                if let Some(c) = carry.take() {
                    c.give_up(
                        &slot,
                        TaskError::WorkerLost(format!(
                            "an item of this map chunk raised SystemExit, and worker {} could not \
                             create a fresh interpreter for the rest: {e}",
                            slot.name()
                        )),
                    );
                }
                break;
            }
        };
        slot.set_interp(Some(interp.clone()));
        slot.set_phase(Phase::Serving);
        if let Some(r) = ready.take() {
            let _ = r.send(Ok(()));
        }
        let exit = interp.enter(|py| {
            if registry.is_event_loop() {
                slot.set_thread_ident(py.thread_ident());
                match aio::serve(py, &registry, &slot) {
                    LoopExit::Stop => Exit::Stop,
                    LoopExit::Recycle => Exit::Recycle(None),
                }
            } else {
                run_tasks(py, &registry, &slot, carry.take())
            }
        });
        slot.set_phase(Phase::Closing);
        slot.set_interp(None);
        // Interrupt helpers hold clones briefly.
        close_on_this_thread(&registry, &slot, interp);
        match exit {
            // Abandoned: whatever it carried already failed with WorkerLost.
            Exit::Recycle(_) if slot.is_abandoned() => break,
            Exit::Recycle(next) if registry.is_stopping() => {
                // A shutdown stops everything left: no fresh interpreter.
                if let Some(c) = next {
                    c.give_up(&slot, registry.stopped_error());
                }
                break;
            }
            Exit::Recycle(next) => {
                registry.counters(slot.index()).recycled();
                carry = next;
            }
            Exit::Stop => break,
        }
    }
    registry.retire(&slot);
}

/// Runs tasks in the interpreter of `py` until it must be recycled or the
/// worker stops; first the rest of a chunk carried over from the previous
/// interpreter.
fn run_tasks(py: Python<'_>, registry: &Registry, slot: &Slot, mut carry: Option<Carry>) -> Exit {
    slot.set_thread_ident(py.thread_ident());
    let counters = registry.counters(slot.index());
    let closed = || registry.is_closed();
    let mut cache: FnCache<'_> = HashMap::new();
    let mut ran: u64 = 0;
    loop {
        let (task, started, result) = if let Some(Carry {
            task,
            rest,
            started,
        }) = carry.take()
        {
            // The rest of a chunk cut short in the previous interpreter.
            let result = task.in_scope(|| run_chunk(py, &mut cache, &task, &closed, rest));
            (task, started, result)
        } else {
            if slot.is_abandoned() {
                return Exit::Stop;
            }
            let job = match registry.jobs().try_recv() {
                Ok(job) => job,
                Err(TryRecvError::Disconnected) => return Exit::Stop,
                Err(TryRecvError::Empty) => {
                    // Release this interpreter while idle. Poll a little
                    // longer than crossbeam's own backoff before parking: a
                    // parked worker costs the submitter a wake-up system call
                    // per task, which halves throughput when tasks arrive just
                    // slower than they are done. Yielding leaves the CPU to
                    // the submitter if it shares this core.
                    match py.detach(|| idle_recv(registry.jobs())) {
                        Ok(job) => job,
                        Err(_) => return Exit::Stop,
                    }
                }
            };
            let Some(task) = job else { return Exit::Stop };
            // Publish the task before claiming it, and check the cancel flags
            // after: a concurrent `cancel` (or a shutdown cancelling what
            // runs) either sees it running (and interrupts it) or is seen
            // here (handoff.rs, "Publication against flags").
            slot.task().publish(task.clone());
            if registry.is_stopping() {
                // Dequeued while a shutdown stops pending work: not started.
                if slot.task().take_if(&task).is_none() {
                    return Exit::Stop;
                }
                let err = registry.stopped_error();
                let cancelled = err == TaskError::Cancelled;
                if task.complete(Err(err)) && cancelled {
                    registry.count_cancelled_queued();
                }
                continue;
            }
            let Some(work) = task.start(slot.index()) else {
                if slot.task().take_if(&task).is_none() {
                    return Exit::Stop;
                }
                continue; // cancelled while queued
            };
            let started = Instant::now();
            let result = match work {
                Err(e) => Err(e).into(),
                Ok(work) => {
                    if let Some(t) = task.timeout() {
                        let check = Check::Timeout(Arc::downgrade(&task));
                        registry.schedule(Instant::now() + t, check);
                    }
                    task.in_scope(|| execute(py, &mut cache, &task, &closed, work))
                }
            };
            (task, started, result)
        };
        let closed = closed();
        let (outcome, exited) = match result {
            Ran::Done { outcome, exited } => (outcome, exited),
            Ran::CutShort(rest) => {
                return Exit::Recycle(Some(Carry {
                    task,
                    rest,
                    started,
                }))
            }
        };
        let mut recycle = exited;
        let outcome = match outcome {
            Err(TaskError::Python(e)) if e.is_system_exit() => {
                recycle = true;
                Err(TaskError::Python(e))
            }
            Err(e) => Err(task.classify(e, closed)),
            ok => ok,
        };
        if task.cancel_requested() || closed {
            py.clear_interrupt();
        }
        if slot.task().take_if(&task).is_none() {
            // The supervisor gave up on this task and replaced this worker;
            // the task already failed with WorkerLost.
            return Exit::Stop;
        }
        counters.record(started.elapsed(), &outcome);
        task.complete(outcome);
        ran += 1;
        if recycle
            || registry
                .config()
                .max_tasks_per_worker
                .is_some_and(|m| ran >= m)
        {
            return Exit::Recycle(None);
        }
    }
}

/// How long an idle worker polls the queue before it parks.
const IDLE_POLL: Duration = Duration::from_micros(200);

/// Receives from `rx`: spins, then yields for [`IDLE_POLL`], then parks.
fn idle_recv<T>(rx: &Receiver<T>) -> Result<T, RecvError> {
    let start = Instant::now();
    let mut round = 0u32;
    loop {
        match rx.try_recv() {
            Ok(v) => return Ok(v),
            Err(TryRecvError::Disconnected) => return Err(RecvError),
            Err(TryRecvError::Empty) => {}
        }
        round += 1;
        if round < 64 {
            std::hint::spin_loop();
        } else if start.elapsed() < IDLE_POLL {
            std::thread::yield_now();
        } else {
            return rx.recv();
        }
    }
}
