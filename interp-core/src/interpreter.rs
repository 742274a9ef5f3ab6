//! Interpreters: entry, convenience calls, close, and the count of live
//! subinterpreters (creating one starts the runtime, so `Interpreter::new`
//! lives with the runtime, in `runtime.rs`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use interp_sys as sys;

use crate::cache::{self, CacheConfig, CacheStats};
use crate::detached::Detached;
use crate::error::Result;
use crate::scope::Python;
use crate::tstate::{self, Attached, InterpRecord};
use crate::value::Value;

/// How a subinterpreter is configured (CPython's `PyInterpreterConfig`).
///
/// [`InterpreterConfig::isolated`] (the default) gives the interpreter its own
/// GIL, so it runs in parallel with every other one. Some extension modules
/// refuse such interpreters (single-phase init modules, and in the stdlib
/// `readline`, `_curses`, `_tkinter`, ...): run those in an interpreter made
/// from [`InterpreterConfig::legacy`], which shares the main interpreter's
/// GIL, or in the main interpreter itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InterpreterConfig {
    own_gil: bool,
    allow_fork: bool,
    allow_exec: bool,
    allow_threads: bool,
    allow_daemon_threads: bool,
    check_multi_interp_extensions: bool,
    pub(crate) cache: CacheConfig,
}

impl Default for InterpreterConfig {
    fn default() -> Self {
        Self::isolated()
    }
}

impl InterpreterConfig {
    /// Own GIL, own allocator, extension check on, threads allowed, no
    /// `fork`, `exec` or daemon threads.
    pub const fn isolated() -> Self {
        InterpreterConfig {
            own_gil: true,
            allow_fork: false,
            allow_exec: false,
            allow_threads: true,
            allow_daemon_threads: false,
            check_multi_interp_extensions: true,
            cache: CacheConfig::DEFAULT,
        }
    }

    /// Shares the main interpreter's GIL and allocator, and loads extension
    /// modules that do not support isolation. Code in such interpreters does
    /// not run in parallel with the main interpreter or other legacy ones.
    pub const fn legacy() -> Self {
        InterpreterConfig {
            own_gil: false,
            allow_fork: true,
            allow_exec: true,
            allow_threads: true,
            allow_daemon_threads: true,
            check_multi_interp_extensions: false,
            cache: CacheConfig::DEFAULT,
        }
    }

    /// Allow `os.fork()` in the interpreter (legacy only: CPython refuses it
    /// in isolated interpreters regardless).
    pub const fn allow_fork(mut self, yes: bool) -> Self {
        self.allow_fork = yes;
        self
    }

    /// Allow `os.execv()` and friends.
    pub const fn allow_exec(mut self, yes: bool) -> Self {
        self.allow_exec = yes;
        self
    }

    /// Allow the `threading` module to start threads.
    pub const fn allow_threads(mut self, yes: bool) -> Self {
        self.allow_threads = yes;
        self
    }

    /// Allow daemon threads.
    pub const fn allow_daemon_threads(mut self, yes: bool) -> Self {
        self.allow_daemon_threads = yes;
        self
    }

    /// Bounds of the interpreter's materialization cache, which makes a
    /// big immutable value passed again arrive as the object made the first
    /// time (see [`CacheConfig`]; [`CacheConfig::OFF`] turns it off).
    pub const fn cache(mut self, cache: CacheConfig) -> Self {
        self.cache = cache;
        self
    }

    /// Whether the interpreter has its own GIL.
    pub const fn has_own_gil(&self) -> bool {
        self.own_gil
    }

    /// The bounds of the interpreter's materialization cache.
    pub const fn cache_config(&self) -> CacheConfig {
        self.cache
    }

    pub(crate) fn to_raw(self) -> sys::PyInterpreterConfig {
        let base = if self.own_gil {
            sys::isolated_config()
        } else {
            sys::legacy_config()
        };
        sys::PyInterpreterConfig {
            allow_fork: self.allow_fork as _,
            allow_exec: self.allow_exec as _,
            allow_threads: self.allow_threads as _,
            allow_daemon_threads: self.allow_daemon_threads as _,
            check_multi_interp_extensions: (self.check_multi_interp_extensions || self.own_gil)
                as _,
            ..base
        }
    }
}

/// A CPython interpreter.
///
/// `Interpreter` is `Send + Sync`: any thread may use it, and several threads
/// may use it at once (they then take turns on its GIL, as Python threads
/// do). Each OS thread gets its own thread state for it the first time it
/// enters, reused for every later entry.
///
/// Dropping it (or [`close`](Interpreter::close)) ends a subinterpreter;
/// handles to the main interpreter never end it.
pub struct Interpreter {
    record: Arc<InterpRecord>,
}

impl std::fmt::Debug for Interpreter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interpreter")
            .field("id", &self.record.id)
            .field("main", &self.record.is_main)
            .finish()
    }
}

/// How many subinterpreters are open: counted up when one is created
/// (`opened`), down when it ends.
static LIVE: AtomicUsize = AtomicUsize::new(0);

/// Counts a subinterpreter that was just created.
pub(crate) fn opened() {
    LIVE.fetch_add(1, Ordering::AcqRel);
}

/// How many subinterpreters are open now.
pub(crate) fn live() -> usize {
    LIVE.load(Ordering::Acquire)
}

impl Interpreter {
    pub(crate) fn from_record(record: Arc<InterpRecord>) -> Interpreter {
        Interpreter { record }
    }

    pub(crate) fn record(&self) -> &Arc<InterpRecord> {
        &self.record
    }

    /// CPython's id of this interpreter (0 is the main interpreter). Ids are
    /// never reused within a process.
    pub fn id(&self) -> i64 {
        self.record.id
    }

    /// How many thread states interp has made for this interpreter that are
    /// still alive: one per OS thread that has entered it and not exited.
    pub fn thread_states(&self) -> usize {
        self.record.lock().tstates.len()
    }

    /// Whether this is the main interpreter.
    pub fn is_main(&self) -> bool {
        self.record.is_main
    }

    /// Enters the interpreter on the current thread and runs `f` with a
    /// token for it. Objects made through the token cannot leave `f`
    /// (the `'py` lifetime is unique to this call) nor be sent to another
    /// thread; `f` itself must be `Send`, so it cannot capture objects of an
    /// interpreter entered further up the stack.
    ///
    /// Entering is cheap: this thread's thread state for the interpreter is
    /// reused, and re-entering an interpreter already entered on this thread
    /// costs nothing.
    ///
    /// # Panics
    /// If the runtime was finalized (only possible for the main interpreter).
    pub fn enter<F, R>(&self, f: F) -> R
    where
        F: for<'py> FnOnce(Python<'py>) -> R + Send,
    {
        let _attached = Attached::enter(&self.record).expect(
            "interp: the Python runtime was finalized; this interpreter can no longer be entered",
        );
        // SAFETY: this thread's thread state for the interpreter is attached
        // until `_attached` drops, after `f` returns.
        f(unsafe { Python::assume_attached() })
    }

    /// Gives back the calling thread's thread state for this interpreter
    /// now, instead of when the thread exits (where interp deletes it
    /// anyway). For a thread that is done with the interpreter but lives on,
    /// or one that must not touch the interpreter when it exits (a host
    /// runtime finalizing by then frees every thread state). Entering again
    /// later makes a new one.
    ///
    /// Returns `false`, deleting nothing, while any interpreter is entered on
    /// this thread, also while detached inside an `enter` (call it outside
    /// [`enter`](Self::enter)). Once the runtime finalizes, the thread state
    /// is left to CPython.
    pub fn release_thread_state(&self) -> bool {
        tstate::release_current(&self.record)
    }

    /// Runs `source` as a module body in `__main__`.
    ///
    /// # Errors
    /// [`Error::Python`](crate::Error::Python) for a syntax error or an
    /// exception raised by the code (`SystemExit` and `KeyboardInterrupt`
    /// included: they never exit the process);
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) if `source`
    /// contains a NUL.
    pub fn exec(&self, source: &str) -> Result<()> {
        self.enter(|py| py.exec(source))
    }

    /// Evaluates the expression `expr` in `__main__` and returns its value.
    ///
    /// # Errors
    /// As [`exec`](Self::exec), plus
    /// [`Error::Conversion`](crate::Error::Conversion) if the result cannot
    /// be turned into a [`Value`].
    pub fn eval(&self, expr: &str) -> Result<Value> {
        self.enter(|py| py.eval(expr)?.to_value())
    }

    /// Calls `module.qualname(*args, **kwargs)` — the function found by
    /// name, as pickle finds it (`qualname` may be dotted:
    /// `"Class.method"`). `module` is imported if needed; `"__main__"` names
    /// functions defined by [`exec`](Self::exec).
    ///
    /// # Errors
    /// [`Error::Python`](crate::Error::Python) with `ModuleNotFoundError` /
    /// `AttributeError` when the function is not found, `TypeError` when a
    /// keyword is given twice, or whatever the function raised. A
    /// `ModuleNotFoundError` for `module`
    /// or one of its packages carries a hint: at
    /// [`RuntimeConfig::python_path`](crate::RuntimeConfig::python_path)
    /// when the top-level package is not on `sys.path`, or saying where the
    /// package was found when only the submodule is missing.
    pub fn call(
        &self,
        module: &str,
        qualname: &str,
        args: &[Value],
        kwargs: &[(&str, Value)],
    ) -> Result<Value> {
        self.enter(|py| {
            let f = py.lookup(module, qualname)?;
            f.call_values(args, kwargs)?.to_value()
        })
    }

    /// Sets global variables of `__main__` (the stdlib's `prepare_main`):
    /// data handed over once, then read by every later call.
    ///
    /// # Errors
    /// [`Error::Conversion`](crate::Error::Conversion) if a value cannot be
    /// made in this interpreter.
    pub fn prepare_main<'a, I>(&self, items: I) -> Result<()>
    where
        I: IntoIterator<Item = (&'a str, Value)>,
        I::IntoIter: Send,
    {
        let items = items.into_iter();
        self.enter(move |py| {
            let main = py.main_module()?;
            for (name, value) in items {
                main.setattr(name, &py.value(&value)?)?;
            }
            Ok(())
        })
    }

    /// Counters of this interpreter's materialization cache: how many
    /// values (and results) were found in it, how much it holds. Reads
    /// atomics: never waits for the interpreter.
    ///
    /// A value qualifies when it is deeply immutable (`None`, `bool`,
    /// `int`, `float`, `complex`, `str`, `bytes`, and `tuple`/`frozenset`
    /// of those) and big (see [`CacheConfig`]); a [`Frozen`](crate::Frozen)
    /// tuple tree always does. Such a value passed again to this
    /// interpreter arrives as the object it made the first time, and an
    /// object returned again converts to the same [`Value`] (the same
    /// shared data), both without a copy.
    pub fn cache_stats(&self) -> CacheStats {
        self.record.cache.stats()
    }

    /// The bounds of this interpreter's materialization cache.
    pub fn cache_config(&self) -> CacheConfig {
        self.record.cache.config()
    }

    /// Changes the bounds of this interpreter's materialization cache,
    /// evicting (least recently used first) what no longer fits.
    /// [`CacheConfig::OFF`] empties and disables it. Enters the
    /// interpreter.
    pub fn set_cache_config(&self, config: CacheConfig) {
        self.enter(|py| cache::configure(py, &self.record.cache, config));
    }

    /// Ends the interpreter: runs its `atexit` hooks, waits for threads it
    /// started with `threading`, deletes every thread state made for it and
    /// frees it. Same as dropping it. Does nothing for the main interpreter.
    pub fn close(self) {
        drop(self)
    }

    fn end(&self) {
        if self.record.is_main {
            return;
        }
        let detached = Detached::new();
        let Some(own) = tstate::thread_state_for(&self.record) else {
            return;
        };
        let mut st = self.record.lock();
        // SAFETY: nothing is attached on this thread (Detached); `own` is
        // this thread's thread state for the interpreter. We own the
        // interpreter handle, so no other thread is inside `enter` for it;
        // other registered thread states are therefore detached and may be
        // deleted while `own` holds the GIL. Then Py_EndInterpreter sees
        // only `own`. Marking the record closed under the lock stops every
        // thread cache from touching the deleted thread states.
        unsafe {
            sys::attach(own.0);
            for t in st.tstates.iter().filter(|t| **t != own) {
                sys::delete_thread_state(t.0);
            }
            self.record.mark_closed(&mut st);
            // `own` is attached: the cached objects are this interpreter's.
            cache::clear(&self.record.cache);
            sys::end_interpreter(own.0);
        }
        drop(st);
        tstate::forget(&self.record);
        drop(detached);
        if !tstate::FINALIZED.load(Ordering::Acquire) {
            LIVE.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Drop for Interpreter {
    fn drop(&mut self) {
        self.end();
    }
}
