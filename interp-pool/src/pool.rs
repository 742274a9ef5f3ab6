//! [`Pool`]: the handle — build and start a pool, submit work, map, read
//! statistics, shut down.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use interp_core::{Bound, Error, Python, Runtime, Value};

use crate::builder::PoolBuilder;
use crate::call::Call;
use crate::error::PoolError;
use crate::map::{Map, MapUnordered};
use crate::registry::Registry;
use crate::stats::{PoolStats, ShutdownReport};
use crate::sync::lock;
use crate::task::{Task, Work};
use crate::{shutdown, supervisor, worker};

/// A pool of worker threads, each owning one isolated interpreter.
///
/// ```
/// use interp_pool::{Call, Pool};
/// let pool = Pool::builder().workers(2).init_source("def sq(x):\n    return x * x").build()?;
/// let t = pool.submit(Call::new("__main__", "sq").arg(7))?;
/// assert_eq!(t.wait()?, interp_core::Value::Int(49));
/// let squares: Vec<i64> = pool
///     .map(Call::new("__main__", "sq"), (0..100).map(interp_core::Value::from))
///     .map(|r| r.unwrap().as_i64().unwrap())
///     .collect();
/// assert_eq!(squares[99], 99 * 99);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Pool {
    registry: Arc<Registry>,
    supervisor: Mutex<Option<JoinHandle<()>>>,
}

impl PoolBuilder {
    /// Starts the pool: the workers create their interpreters in parallel
    /// (unless [`lazy`](Self::lazy)) and run the initializer.
    ///
    /// # Errors
    /// [`PoolError::InvalidArgument`] for zero workers;
    /// [`PoolError::Init`] when an interpreter cannot be created or the
    /// initializer fails (the Python error says why);
    /// [`PoolError::Spawn`] when a pool thread cannot be started. The first
    /// failure is reported at once: no further worker is started, and the
    /// initialization code of those still starting is interrupted (as a
    /// cancelled task is: a blocking C call ends only when it returns).
    pub fn build(self) -> Result<Pool, PoolError> {
        let config = self.into_config()?;
        Runtime::init().map_err(PoolError::Init)?;
        let lazy = config.lazy;
        let (registry, checks) = Registry::new(config, worker::main, shutdown::after_failed_start)?;
        let weak = Arc::downgrade(&registry);
        let sup = std::thread::Builder::new()
            .name("interp-pool-supervisor".into())
            .spawn(move || supervisor::run(weak, checks))
            .map_err(|e| PoolError::Spawn(Arc::new(e)))?;
        let pool = Pool {
            registry,
            supervisor: Mutex::new(Some(sup)),
        };
        if !lazy {
            pool.registry.start()?;
        }
        Ok(pool)
    }
}

impl Pool {
    /// A builder with the defaults.
    pub fn builder() -> PoolBuilder {
        PoolBuilder::default()
    }

    /// A pool with the default settings.
    ///
    /// # Errors
    /// As [`PoolBuilder::build`].
    pub fn new() -> Result<Pool, PoolError> {
        Self::builder().build()
    }

    /// Number of workers.
    pub fn workers(&self) -> usize {
        self.registry.config().workers
    }

    /// How many coroutines each worker's event loop runs at most, for a
    /// pool built with [`PoolBuilder::event_loop`] (`None` otherwise).
    pub fn event_loop(&self) -> Option<usize> {
        self.registry.config().event_loop
    }

    /// Submits a Python call.
    ///
    /// # Errors
    /// [`PoolError::Shutdown`] after [`shutdown`](Self::shutdown);
    /// [`PoolError::Init`] when a lazy pool fails to start, or when every
    /// worker was lost.
    pub fn submit(&self, call: Call) -> Result<Task, PoolError> {
        let timeout = call.timeout;
        self.registry.submit(Work::Call(call), timeout)
    }

    /// Runs a Rust closure inside a worker's interpreter, with a scope token
    /// for its objects. A panic fails the task; the worker survives.
    ///
    /// # Errors
    /// As [`submit`](Self::submit).
    pub fn submit_with<F>(&self, f: F) -> Result<Task, PoolError>
    where
        F: for<'py> FnOnce(Python<'py>) -> Result<Value, Error> + Send + 'static,
    {
        self.registry.submit(Work::With(Box::new(f)), None)
    }

    /// As [`submit_with`](Self::submit_with), with a timeout: a closure that
    /// runs longer than `timeout` (counted from when a worker starts it) is
    /// interrupted as a [`Call::timeout`] is — `interp.Cancelled` raised in
    /// the Python code it runs — and the task fails with
    /// [`TaskError::TimedOut`](crate::TaskError::TimedOut) when the closure
    /// passes that error on.
    ///
    /// # Errors
    /// As [`submit`](Self::submit).
    pub fn submit_with_timeout<F>(&self, timeout: Option<Duration>, f: F) -> Result<Task, PoolError>
    where
        F: for<'py> FnOnce(Python<'py>) -> Result<Value, Error> + Send + 'static,
    {
        self.registry.submit(Work::With(Box::new(f)), timeout)
    }

    /// Runs an I/O-bound Rust closure on a pool thread without holding any
    /// interpreter (the thread lane of the hybrid pool). An `Err` fails the
    /// task with [`TaskError::Failed`](crate::TaskError::Failed); a panic
    /// with [`TaskError::Panicked`](crate::TaskError::Panicked).
    ///
    /// # Errors
    /// As [`submit`](Self::submit).
    pub fn submit_blocking<F>(&self, f: F) -> Result<Task, PoolError>
    where
        F: FnOnce() -> Result<Value, String> + Send + 'static,
    {
        self.registry.submit(Work::Blocking(Box::new(f)), None)
    }

    /// Runs a Python call in the main interpreter (shared GIL) on a pool
    /// thread: the lane for extension modules that refuse isolated
    /// interpreters. [`Call::timeout`] and cancellation interrupt it too.
    ///
    /// # Errors
    /// As [`submit`](Self::submit).
    pub fn submit_main(&self, call: Call) -> Result<Task, PoolError> {
        let timeout = call.timeout;
        self.registry.submit(Work::Main(call), timeout)
    }

    /// Runs a Rust closure in the main interpreter (shared GIL) on a pool
    /// thread, with a scope token for its objects: the main lane, as
    /// [`submit_main`](Self::submit_main), for code that holds main
    /// interpreter objects itself (a host's callable, say). A cancel raises
    /// `interp.Cancelled` in the Python code it runs, and the task fails
    /// with [`TaskError::Cancelled`](crate::TaskError::Cancelled) when the
    /// closure passes that error on; a closure that ignores the
    /// interruption past the kill grace loses its worker, as any task does.
    /// A panic fails the task; the worker survives.
    ///
    /// # Errors
    /// As [`submit`](Self::submit).
    pub fn submit_main_with<F>(&self, f: F) -> Result<Task, PoolError>
    where
        F: for<'py> FnOnce(Python<'py>) -> Result<Value, Error> + Send + 'static,
    {
        self.registry.submit(Work::MainWith(Box::new(f)), None)
    }

    /// Submits a coroutine call to a pool whose workers run event loops
    /// ([`PoolBuilder::event_loop`]): `call`'s function (an `async def`, or
    /// any function returning an awaitable; a plain function's result is
    /// taken as it is) runs as a task of a worker's loop, alongside up to
    /// `childconcurrency - 1` others. The [`Task`] is the pool's: wait on it,
    /// `.await` it, or cancel it (`asyncio.CancelledError` inside the
    /// coroutine). [`Call::timeout`] cancels it likewise. On such a pool
    /// [`submit`](Self::submit) does the same.
    ///
    /// ```
    /// use interp_core::Value;
    /// use interp_pool::{Call, Pool};
    /// # if interp_sys::PYTHON_VERSION.starts_with("3.12.") { return Ok(()); } // needs 3.13+
    /// let pool = Pool::builder()
    ///     .workers(2)
    ///     .event_loop(100)
    ///     .init_source("import asyncio\nasync def later(x):\n    await asyncio.sleep(0.01)\n    return x")
    ///     .build()?;
    /// let tasks: Vec<_> = (0..100)
    ///     .map(|i| pool.submit_async(Call::new("__main__", "later").arg(i)))
    ///     .collect::<Result<_, _>>()?;
    /// for (i, t) in tasks.iter().enumerate() {
    ///     assert_eq!(t.wait()?, Value::Int(i as i64));
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`PoolError::InvalidArgument`] on a pool without event loops; else
    /// as [`submit`](Self::submit).
    pub fn submit_async(&self, call: Call) -> Result<Task, PoolError> {
        let timeout = call.timeout;
        self.registry.submit(Work::Coro(call), timeout)
    }

    /// As [`submit_async`](Self::submit_async), with the awaitable made by
    /// `start` in the worker's interpreter (an `Err` fails the task), and
    /// its outcome — its result, or the exception object it raised — turned
    /// into the task's value by `finish` there (which runs under the task's
    /// cancel token). A cancelled coroutine's outcome does not reach
    /// `finish`: the task fails with
    /// [`TaskError::Cancelled`](crate::TaskError::Cancelled).
    ///
    /// # Errors
    /// As [`submit_async`](Self::submit_async).
    pub fn submit_async_with<S, F>(
        &self,
        timeout: Option<Duration>,
        start: S,
        finish: F,
    ) -> Result<Task, PoolError>
    where
        S: for<'py> FnOnce(Python<'py>) -> Result<Bound<'py>, Error> + Send + 'static,
        F: for<'py> FnOnce(Python<'py>, Result<Bound<'py>, Bound<'py>>) -> Result<Value, Error>
            + Send
            + 'static,
    {
        self.registry
            .submit(Work::CoroWith(Box::new(start), Box::new(finish)), timeout)
    }

    /// Applies `call` to every input (appended as its last positional
    /// argument), in order. Inputs are pulled lazily; see [`Map`] for the
    /// chunk size, the bound on work in flight and a progress callback. A
    /// [`Call::timeout`] applies to each chunk.
    pub fn map<I>(&self, call: Call, inputs: I) -> Map<'_, I::IntoIter>
    where
        I: IntoIterator<Item = Value>,
    {
        Map::new(&self.registry, call, inputs.into_iter(), true)
    }

    /// As [`map`](Self::map), but yields `(input index, result)` as chunks
    /// complete, so one slow input does not hold back the rest.
    pub fn map_unordered<I>(&self, call: Call, inputs: I) -> MapUnordered<'_, I::IntoIter>
    where
        I: IntoIterator<Item = Value>,
    {
        MapUnordered::new(&self.registry, call, inputs.into_iter())
    }

    /// Counters per worker and the queue depth.
    pub fn stats(&self) -> PoolStats {
        self.registry.stats()
    }

    /// Stops the pool: no new tasks are accepted.
    ///
    /// With `cancel_pending`, queued tasks never run (they fail with
    /// [`TaskError::Cancelled`](crate::TaskError::Cancelled)) and running
    /// ones are interrupted at once. Otherwise queued and running tasks go
    /// on; with `wait`, for at most the [shutdown
    /// timeout](PoolBuilder::shutdown_timeout), after which what is still
    /// queued fails with [`TaskError::Shutdown`](crate::TaskError::Shutdown)
    /// and what runs is interrupted.
    ///
    /// With `wait`, returns once every worker has stopped, or was given up
    /// on: a task that ignores its interruption past the kill grace fails
    /// with [`TaskError::WorkerLost`](crate::TaskError::WorkerLost) and its
    /// worker is abandoned; so is a worker still closing its interpreter
    /// (which waits for the threads started in it) after the shutdown
    /// timeout, and at least the kill grace after its tasks ended. The
    /// report lists them and why. Idempotent.
    pub fn shutdown(&self, wait: bool, cancel_pending: bool) -> ShutdownReport {
        shutdown::shutdown(&self.registry, wait, cancel_pending)
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("workers", &self.workers())
            .field("started", &self.registry.is_started())
            .field("closed", &self.registry.is_closed())
            .field("queue_depth", &self.registry.jobs().len())
            .finish()
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let report = self.shutdown(true, true);
        if !report.abandoned.is_empty() {
            eprintln!(
                "interp-pool: dropped with stuck workers, abandoned (each thread and its interpreter \
                 stay alive until what holds them returns): {}",
                report.abandoned.join(", ")
            );
        }
        // The supervisor ends when the last Registry reference (held by
        // tasks and workers) goes; it is detached here rather than joined.
        drop(lock(&self.supervisor).take());
    }
}
