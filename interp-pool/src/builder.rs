//! [`PoolBuilder`] (consuming setters, as rayon's `ThreadPoolBuilder`) and
//! the plain [`Config`] it is consumed into. `build` is with the handle, in
//! `pool.rs`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use interp_core::{InterpreterConfig, Value};

use crate::call::Call;
use crate::error::PoolError;

type ThreadName = Arc<dyn Fn(usize) -> String + Send + Sync>;

/// Builds a [`Pool`](crate::Pool) (consuming setters, as rayon's
/// `ThreadPoolBuilder`).
#[derive(Clone)]
pub struct PoolBuilder {
    workers: usize,
    thread_name: ThreadName,
    lazy: bool,
    init_source: Option<String>,
    init_call: Option<Call>,
    prepare: Vec<(String, Value)>,
    max_tasks_per_worker: Option<u64>,
    config: InterpreterConfig,
    kill_grace: Duration,
    shutdown_timeout: Duration,
    stack_size: Option<usize>,
    wait_for_all: bool,
    event_loop: Option<usize>,
    loop_factory: Option<Call>,
}

impl Default for PoolBuilder {
    fn default() -> Self {
        PoolBuilder {
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            thread_name: Arc::new(|i| format!("interp-worker-{i}")),
            lazy: false,
            init_source: None,
            init_call: None,
            prepare: Vec::new(),
            max_tasks_per_worker: None,
            config: InterpreterConfig::isolated(),
            kill_grace: Duration::from_secs(2),
            shutdown_timeout: Duration::from_secs(10),
            stack_size: None,
            wait_for_all: false,
            event_loop: None,
            loop_factory: None,
        }
    }
}

impl fmt::Debug for PoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolBuilder")
            .field("workers", &self.workers)
            // A user closure: not called from Debug.
            .field("thread_name", &format_args!("<fn(usize) -> String>"))
            .field("lazy", &self.lazy)
            .field("init_source", &self.init_source)
            .field("init_call", &self.init_call)
            .field("prepare", &self.prepare)
            .field("max_tasks_per_worker", &self.max_tasks_per_worker)
            .field("interpreter_config", &self.config)
            .field("kill_grace", &self.kill_grace)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("stack_size", &self.stack_size)
            .field("wait_for_all_workers", &self.wait_for_all)
            .field("event_loop", &self.event_loop)
            .field("loop_factory", &self.loop_factory)
            .finish()
    }
}

impl PoolBuilder {
    /// Number of workers (default: available cores). Each is an OS thread
    /// owning one interpreter.
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n;
        self
    }

    /// Names worker threads (default `interp-worker-{i}`).
    pub fn thread_name(mut self, f: impl Fn(usize) -> String + Send + Sync + 'static) -> Self {
        self.thread_name = Arc::new(f);
        self
    }

    /// Create the workers on the first submission instead of in `build`.
    pub fn lazy(mut self, yes: bool) -> Self {
        self.lazy = yes;
        self
    }

    /// Python source run in each worker's `__main__` after creation and
    /// after every recycle (define functions, import modules, load data).
    pub fn init_source(mut self, source: impl Into<String>) -> Self {
        self.init_source = Some(source.into());
        self
    }

    /// A call run in each worker after `init_source` (the initializer
    /// function of `concurrent.futures`).
    pub fn init_call(mut self, call: Call) -> Self {
        self.init_call = Some(call);
        self
    }

    /// A global of each worker's `__main__`, set before the initializer:
    /// data handed over once per worker (a [`SharedBuffer`](interp_core::SharedBuffer),
    /// a [`Channel`](interp_core::Channel), [`Frozen`](interp_core::Frozen)
    /// data or any value).
    pub fn prepare_main(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.prepare.push((name.to_owned(), value.into()));
        self
    }

    /// Replace a worker's interpreter (fresh interpreter, initializer again)
    /// after this many tasks.
    pub fn max_tasks_per_worker(mut self, n: u64) -> Self {
        self.max_tasks_per_worker = Some(n.max(1));
        self
    }

    /// The workers' interpreter configuration (default: isolated, own GIL).
    pub fn interpreter_config(mut self, config: InterpreterConfig) -> Self {
        self.config = config;
        self
    }

    /// How long a cancelled or timed-out task may ignore its interruption
    /// before its worker is replaced and the task fails with
    /// [`TaskError::WorkerLost`](crate::TaskError::WorkerLost) (default 2 s).
    pub fn kill_grace(mut self, d: Duration) -> Self {
        self.kill_grace = d;
        self
    }

    /// How long a shutdown waits (default 10 s): [`Pool::shutdown`](crate::Pool::shutdown)
    /// without `cancel_pending` lets queued and running tasks go on this
    /// long before it cancels and interrupts them; and every shutdown
    /// (dropping the pool too) abandons a worker still closing its
    /// interpreter after it (closing waits for the threads started in it).
    /// Dropping the pool interrupts running tasks at once.
    pub fn shutdown_timeout(mut self, d: Duration) -> Self {
        self.shutdown_timeout = d;
        self
    }

    /// Make `build` wait until every worker's interpreter is ready (and
    /// report the first initializer error of any of them). By default it
    /// returns once the first worker is ready — the others keep starting in
    /// parallel — so the first result does not wait for the slowest.
    pub fn wait_for_all_workers(mut self, yes: bool) -> Self {
        self.wait_for_all = yes;
        self
    }

    /// Makes every worker run one asyncio event loop for the life of its
    /// interpreter, with up to `childconcurrency` coroutines at once
    /// (aiomultiprocess' name; at least 1). Every call then runs as a
    /// coroutine: its result, when awaitable, is awaited in the loop (a
    /// plain function's result is taken as it is). Work reaches a loop
    /// through a descriptor it watches (no polling), and finished
    /// coroutines are reported in batches. Cancelling a task cancels its
    /// coroutine (`asyncio.CancelledError` inside it); one that never yields
    /// is interrupted like any running task, and past the kill grace its
    /// worker is replaced: every coroutine of that loop then fails with
    /// [`TaskError::WorkerLost`](crate::TaskError::WorkerLost) (none is
    /// re-queued: it may have had effects). See [`Pool::submit_async`](crate::Pool::submit_async).
    /// Needs CPython 3.13 or newer (`build` refuses 3.12, where asyncio in
    /// isolated interpreters corrupts memory).
    pub fn event_loop(mut self, childconcurrency: usize) -> Self {
        self.event_loop = Some(childconcurrency.max(1));
        self
    }

    /// With [`event_loop`](Self::event_loop): each worker makes its loop by
    /// calling this (aiomultiprocess' `loop_initializer`, e.g.
    /// `uvloop:new_event_loop`) instead of `asyncio.new_event_loop`.
    pub fn loop_factory(mut self, call: Call) -> Self {
        self.loop_factory = Some(call);
        self
    }

    /// Stack size of worker threads.
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// The settings, checked.
    ///
    /// # Errors
    /// [`PoolError::InvalidArgument`] for zero workers.
    pub(crate) fn into_config(self) -> Result<Config, PoolError> {
        if self.workers == 0 {
            return Err(PoolError::InvalidArgument(
                "a pool needs at least one worker".into(),
            ));
        }
        if self.event_loop.is_some() && !event_loops_supported(interp_sys::PYTHON_VERSION) {
            return Err(PoolError::InvalidArgument(format!(
                "event-loop workers need CPython 3.13 or newer (this is {}): on 3.12, asyncio in \
                 isolated interpreters corrupts memory (asyncio.gather in a worker ends in \
                 'double free or corruption' at exit, with or without event-loop workers)",
                interp_sys::PYTHON_VERSION
            )));
        }
        Ok(Config {
            workers: self.workers,
            thread_name: self.thread_name,
            lazy: self.lazy,
            init: Init {
                interpreter: self.config,
                prepare: self.prepare,
                source: self.init_source,
                call: self.init_call,
            },
            max_tasks_per_worker: self.max_tasks_per_worker,
            kill_grace: self.kill_grace,
            shutdown_timeout: self.shutdown_timeout,
            stack_size: self.stack_size,
            wait_for_all: self.wait_for_all,
            event_loop: self.event_loop,
            loop_factory: self.loop_factory,
        })
    }
}

/// Whether CPython `version` (`"3.14.7"`) runs asyncio safely in isolated
/// interpreters (3.13 and newer).
fn event_loops_supported(version: &str) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (3, 13)
}

/// A pool's settings, as the builder left them (checked).
pub(crate) struct Config {
    /// At least one.
    pub(crate) workers: usize,
    pub(crate) thread_name: ThreadName,
    pub(crate) lazy: bool,
    pub(crate) init: Init,
    pub(crate) max_tasks_per_worker: Option<u64>,
    pub(crate) kill_grace: Duration,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) stack_size: Option<usize>,
    pub(crate) wait_for_all: bool,
    /// Each worker runs an event loop with this many coroutines at most.
    pub(crate) event_loop: Option<usize>,
    /// Makes a worker's event loop (else `asyncio.new_event_loop`).
    pub(crate) loop_factory: Option<Call>,
}

/// How each worker makes its interpreter, in this order.
pub(crate) struct Init {
    pub(crate) interpreter: InterpreterConfig,
    /// Globals of `__main__`.
    pub(crate) prepare: Vec<(String, Value)>,
    pub(crate) source: Option<String>,
    pub(crate) call: Option<Call>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_the_settings_without_calling_the_thread_namer() {
        let b = PoolBuilder::default()
            .workers(3)
            .thread_name(|_| panic!("called from Debug"));
        let text = format!("{b:?}");
        assert!(
            text.contains("workers: 3") && text.contains("thread_name"),
            "{text}"
        );
    }

    #[test]
    fn event_loops_need_cpython_3_13() {
        assert!(!event_loops_supported("3.12.1"));
        assert!(event_loops_supported("3.13.0"));
        assert!(event_loops_supported("3.14.7"));
        assert!(event_loops_supported("4.0.0"));
    }

    #[test]
    fn zero_workers_is_refused() {
        match PoolBuilder::default().workers(0).into_config() {
            Err(PoolError::InvalidArgument(m)) => assert!(m.contains("at least one worker"), "{m}"),
            other => panic!(
                "expected InvalidArgument, got {:?}",
                other.map(|c| c.workers)
            ),
        }
    }

    #[test]
    fn the_config_keeps_what_was_set() {
        let c = PoolBuilder::default()
            .workers(3)
            .thread_name(|i| format!("w{i}"))
            .max_tasks_per_worker(0)
            .kill_grace(Duration::from_millis(5))
            .prepare_main("a", 1)
            .into_config()
            .unwrap();
        assert_eq!((c.thread_name)(2), "w2");
        assert_eq!(
            c.max_tasks_per_worker,
            Some(1),
            "at least one task per interpreter"
        );
        assert_eq!(c.kill_grace, Duration::from_millis(5));
        assert_eq!(c.init.prepare, [("a".to_owned(), Value::Int(1))]);
        assert_eq!(c.workers, 3);
    }
}
