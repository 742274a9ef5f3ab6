//! Pools and tasks from C (`interp_pool_t`, `interp_task_t`).

use std::ffi::{c_char, c_int, c_void};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Wake, Waker};
use std::time::{Duration, Instant};

use interp_core::{CacheConfig, CacheStats, InterpreterConfig};
use interp_pool::{Call, Pool, PoolBuilder, Task};

use crate::channel::deadline;
use crate::error::{ffi, interp_error_t, interp_status_t, need_out, out, CError};
use crate::handle::Registry;
use crate::value::{cstr, interp_value_t, new_value, values};

/// A pool of worker threads, each owning an isolated interpreter. Free with
/// `interp_pool_free` (which shuts it down).
#[derive(Debug)]
pub struct interp_pool_t {
    _private: [u8; 0],
}

/// A submitted task (a future). Free with `interp_task_free`; freeing does
/// not cancel the task.
#[derive(Debug)]
pub struct interp_task_t {
    _private: [u8; 0],
}

pub(crate) static POOLS: Registry<Pool, interp_pool_t> = Registry::new(3, "interp_pool_t");
pub(crate) static TASKS: Registry<Task, interp_task_t> = Registry::new(4, "interp_task_t");

/// Bounds of a worker's materialization cache: a big, deeply immutable
/// value (`None`, bool, int, float, complex, str, bytes, and tuples and
/// frozensets of those) passed again to the same worker arrives as the
/// object that worker made the first time, without a conversion. See the
/// README, "Immutable data crosses once".
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct interp_cache_config_t {
    /// At most this many bytes: the memory the cached Python objects take,
    /// estimated with the allocators' overhead. Default 64 MiB.
    pub max_bytes: usize,
    /// At most this many entries; 0 turns the cache off. Default 1024.
    pub max_entries: usize,
    /// Values whose Python objects come to fewer bytes are not cached.
    /// Default 16 KiB.
    pub min_bytes: usize,
}

impl From<CacheConfig> for interp_cache_config_t {
    fn from(c: CacheConfig) -> Self {
        interp_cache_config_t {
            max_bytes: c.max_bytes,
            max_entries: c.max_entries,
            min_bytes: c.min_bytes,
        }
    }
}

impl From<interp_cache_config_t> for CacheConfig {
    fn from(c: interp_cache_config_t) -> Self {
        CacheConfig {
            max_bytes: c.max_bytes,
            max_entries: c.max_entries,
            min_bytes: c.min_bytes,
        }
    }
}

/// A snapshot of one worker's materialization cache (of its current
/// interpreter: all zero while the worker restarts).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct interp_cache_stats_t {
    /// Values found in the cache: each saved a conversion.
    pub hits: u64,
    /// Values big enough to be looked up but not found.
    pub misses: u64,
    /// Entries made.
    pub inserts: u64,
    /// Entries removed to respect the bounds.
    pub evictions: u64,
    /// Entries held now.
    pub entries: usize,
    /// Estimated memory of the Python objects held now (as `max_bytes`
    /// counts it).
    pub bytes: usize,
}

impl From<CacheStats> for interp_cache_stats_t {
    fn from(s: CacheStats) -> Self {
        interp_cache_stats_t {
            hits: s.hits,
            misses: s.misses,
            inserts: s.inserts,
            evictions: s.evictions,
            entries: s.entries,
            bytes: s.bytes,
        }
    }
}

/// Pool settings. Initialize with `interp_pool_options_init`, then set what
/// you need. Strings and arrays are borrowed for the duration of
/// `interp_pool_new`.
#[repr(C)]
#[derive(Debug)]
pub struct interp_pool_options_t {
    /// Number of workers; 0: one per core.
    pub workers: usize,
    /// Python source run in every worker's `__main__` (NUL-terminated
    /// UTF-8), or NULL.
    pub init_source: *const c_char,
    /// Globals set in every worker's `__main__` before `init_source`:
    /// `prepare_count` names and values (handed over once, not per task).
    pub prepare_names: *const *const c_char,
    /// See `prepare_names`.
    pub prepare_values: *const *const interp_value_t,
    /// See `prepare_names`.
    pub prepare_count: usize,
    /// Recycle a worker's interpreter after this many tasks; 0: never.
    pub max_tasks_per_worker: u64,
    /// How long a cancelled task may ignore the interruption before its
    /// worker is replaced, in milliseconds; 0: the default (2000).
    pub kill_grace_ms: u64,
    /// Each worker's materialization cache; `interp_pool_options_init` sets
    /// the defaults (64 MiB, 1024 entries, 16 KiB); `max_entries` 0 turns
    /// it off.
    pub cache: interp_cache_config_t,
}

/// Fills `opts` with the defaults.
///
/// # Safety
/// `opts` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn interp_pool_options_init(opts: *mut interp_pool_options_t) {
    if !opts.is_null() {
        // SAFETY: writable per the contract.
        unsafe {
            opts.write(interp_pool_options_t {
                workers: 0,
                init_source: std::ptr::null(),
                prepare_names: std::ptr::null(),
                prepare_values: std::ptr::null(),
                prepare_count: 0,
                max_tasks_per_worker: 0,
                kill_grace_ms: 0,
                cache: CacheConfig::DEFAULT.into(),
            })
        };
    }
}

/// The builder `opts` describes (NULL: the defaults).
///
/// # Safety
/// As [`interp_pool_new`].
unsafe fn builder_of(opts: *const interp_pool_options_t) -> Result<PoolBuilder, CError> {
    let mut b = Pool::builder();
    if !opts.is_null() {
        // SAFETY: readable per the contract.
        let o = unsafe { &*opts };
        if o.workers > 0 {
            b = b.workers(o.workers);
        }
        if !o.init_source.is_null() {
            b = b.init_source(cstr(o.init_source, "init_source")?);
        }
        if o.prepare_count > 0 {
            if o.prepare_names.is_null() {
                return Err(CError::invalid(
                    "`prepare_names` is NULL but `prepare_count` is not 0",
                ));
            }
            let vals = values(o.prepare_values, o.prepare_count, "prepare_values")?;
            // SAFETY: `prepare_count` readable name pointers.
            let names = unsafe { std::slice::from_raw_parts(o.prepare_names, o.prepare_count) };
            for (n, v) in names.iter().zip(vals) {
                b = b.prepare_main(cstr(*n, "prepare_names[i]")?, v);
            }
        }
        if o.max_tasks_per_worker > 0 {
            b = b.max_tasks_per_worker(o.max_tasks_per_worker);
        }
        if o.kill_grace_ms > 0 {
            b = b.kill_grace(Duration::from_millis(o.kill_grace_ms));
        }
        b = b.interpreter_config(InterpreterConfig::isolated().cache(o.cache.into()));
    }
    Ok(b)
}

/// Starts a pool (`opts` may be NULL for the defaults). Fails with the
/// Python error when an interpreter or `init_source` fails.
///
/// # Safety
/// `opts` must be NULL or point to an initialized options struct whose
/// pointers are valid as documented there.
#[no_mangle]
pub unsafe extern "C" fn interp_pool_new(
    opts: *const interp_pool_options_t,
    out_pool: *mut *mut interp_pool_t,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    ffi(err, || {
        need_out(out_pool, "out_pool")?;
        // SAFETY: the caller's contract.
        let b = unsafe { builder_of(opts) }?;
        let pool = b.build()?;
        out(out_pool, POOLS.insert(pool), "out_pool")
    })
}

/// The call `interp_pool_submit`'s arguments describe.
#[allow(clippy::too_many_arguments)]
fn call_of(
    module: *const c_char,
    qualname: *const c_char,
    args: *const *const interp_value_t,
    nargs: usize,
    kw_names: *const *const c_char,
    kw_values: *const *const interp_value_t,
    nkw: usize,
    timeout_seconds: f64,
) -> Result<Call, CError> {
    let mut call = Call::new(cstr(module, "module")?, cstr(qualname, "qualname")?)
        .args(values(args, nargs, "args")?);
    if nkw > 0 {
        if kw_names.is_null() {
            return Err(CError::invalid("`kw_names` is NULL but `nkw` is not 0"));
        }
        let vals = values(kw_values, nkw, "kw_values")?;
        // SAFETY: `nkw` readable name pointers.
        let names = unsafe { std::slice::from_raw_parts(kw_names, nkw) };
        for (n, v) in names.iter().zip(vals) {
            call = call.kwarg(cstr(*n, "kw_names[i]")?, v);
        }
    }
    if timeout_seconds.is_nan() {
        return Err(CError::invalid("timeout_seconds is NaN"));
    }
    if timeout_seconds > 0.0 {
        call = call.timeout(Duration::from_secs_f64(timeout_seconds.min(1e9)));
    }
    Ok(call)
}

/// Submits `module.qualname(*args, **kwargs)`. `args` (`nargs` values) and
/// `kw_values` are borrowed; `kw_names` are NUL-terminated UTF-8.
/// `timeout_seconds` > 0 interrupts the task when it runs longer
/// (`INTERP_ERR_TIMEOUT` from the wait); 0 or negative: no timeout. The new
/// task handle goes to `*out_task`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn interp_pool_submit(
    pool: *const interp_pool_t,
    module: *const c_char,
    qualname: *const c_char,
    args: *const *const interp_value_t,
    nargs: usize,
    kw_names: *const *const c_char,
    kw_values: *const *const interp_value_t,
    nkw: usize,
    timeout_seconds: f64,
    out_task: *mut *mut interp_task_t,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    submit_by(
        Pool::submit,
        pool,
        module,
        qualname,
        args,
        nargs,
        kw_names,
        kw_values,
        nkw,
        timeout_seconds,
        out_task,
        err,
    )
}

/// As `interp_pool_new`, for a pool whose workers each run one asyncio
/// event loop for their life, with up to `childconcurrency` (at least 1)
/// coroutines at once; submit coroutine calls to it with
/// `interp_pool_submit_async`. Work reaches a loop through a descriptor it
/// watches (no polling); finished coroutines are reported in batches.
///
/// # Safety
/// As `interp_pool_new`.
#[no_mangle]
pub unsafe extern "C" fn interp_pool_new_event_loop(
    opts: *const interp_pool_options_t,
    childconcurrency: usize,
    out_pool: *mut *mut interp_pool_t,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    ffi(err, || {
        need_out(out_pool, "out_pool")?;
        if childconcurrency == 0 {
            return Err(CError::invalid("childconcurrency must be at least 1"));
        }
        // SAFETY: the caller's contract.
        let b = unsafe { builder_of(opts) }?.event_loop(childconcurrency);
        let pool = b.build()?;
        out(out_pool, POOLS.insert(pool), "out_pool")
    })
}

/// Submits a coroutine call to a pool made by `interp_pool_new_event_loop`:
/// `module.qualname(*args, **kwargs)` (an `async def`; a plain function's
/// result is taken as it is) runs as a task of a worker's event loop. The
/// arguments are as for `interp_pool_submit`; the task is an ordinary
/// `interp_task_t` (wait, poll, cancel, on_complete): cancelling it cancels
/// the coroutine (`asyncio.CancelledError` inside it), a timeout likewise.
/// `INTERP_ERR_INVALID_ARGUMENT` on a pool without event loops.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn interp_pool_submit_async(
    pool: *const interp_pool_t,
    module: *const c_char,
    qualname: *const c_char,
    args: *const *const interp_value_t,
    nargs: usize,
    kw_names: *const *const c_char,
    kw_values: *const *const interp_value_t,
    nkw: usize,
    timeout_seconds: f64,
    out_task: *mut *mut interp_task_t,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    submit_by(
        Pool::submit_async,
        pool,
        module,
        qualname,
        args,
        nargs,
        kw_names,
        kw_values,
        nkw,
        timeout_seconds,
        out_task,
        err,
    )
}

/// The body of `interp_pool_submit` and `interp_pool_submit_async`: parses
/// the call and submits it with `submit`.
#[allow(clippy::too_many_arguments)]
fn submit_by(
    submit: fn(&Pool, Call) -> Result<Task, interp_pool::PoolError>,
    pool: *const interp_pool_t,
    module: *const c_char,
    qualname: *const c_char,
    args: *const *const interp_value_t,
    nargs: usize,
    kw_names: *const *const c_char,
    kw_values: *const *const interp_value_t,
    nkw: usize,
    timeout_seconds: f64,
    out_task: *mut *mut interp_task_t,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    ffi(err, || {
        need_out(out_task, "out_task")?;
        let pool = POOLS.get(pool)?;
        let call = call_of(
            module,
            qualname,
            args,
            nargs,
            kw_names,
            kw_values,
            nkw,
            timeout_seconds,
        )?;
        let task = submit(&pool, call)?;
        out(out_task, TASKS.insert(task), "out_task")
    })
}

/// Stops the pool: no new tasks; `cancel_pending` non-zero cancels queued
/// tasks and interrupts running ones at once; `wait` non-zero waits
/// (bounded) for the workers. `INTERP_ERR_WORKER_LOST` when workers had to
/// be abandoned (stuck in a task, or closing an interpreter whose threads
/// do not end); the message lists them.
#[no_mangle]
pub extern "C" fn interp_pool_shutdown(
    pool: *const interp_pool_t,
    wait: c_int,
    cancel_pending: c_int,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    ffi(err, || {
        let r = POOLS.get(pool)?.shutdown(wait != 0, cancel_pending != 0);
        if r.abandoned.is_empty() {
            Ok(())
        } else {
            Err(CError::new(
                interp_status_t::INTERP_ERR_WORKER_LOST,
                format!("workers abandoned: {}", r.abandoned.join(", ")),
            ))
        }
    })
}

/// Reads each worker's materialization cache statistics (one snapshot):
/// fills `out_stats[0..min(capacity, workers)]` in worker order and sets `*count`
/// to the number of workers. `out_stats` may be NULL when `capacity` is 0 (to
/// learn the count); a smaller `capacity` fills what fits and is no error.
///
/// # Safety
/// `out_stats` must be NULL or point to `capacity` writable structs.
#[no_mangle]
pub unsafe extern "C" fn interp_pool_cache_stats(
    pool: *const interp_pool_t,
    out_stats: *mut interp_cache_stats_t,
    capacity: usize,
    count: *mut usize,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    ffi(err, || {
        need_out(count, "count")?;
        if out_stats.is_null() && capacity > 0 {
            return Err(CError::invalid(
                "`out_stats` is NULL but `capacity` is not 0: pass an array of `capacity` interp_cache_stats_t, or capacity 0 to learn the count",
            ));
        }
        let stats = POOLS.get(pool)?.stats();
        for (k, w) in stats.workers.iter().take(capacity).enumerate() {
            // SAFETY: `k < capacity`, and `out_stats` points to `capacity`
            // writable structs (the contract).
            unsafe { out_stats.add(k).write(w.cache.into()) };
        }
        out(count, stats.workers.len(), "count")
    })
}

/// Shuts the pool down (cancelling queued tasks, interrupting running ones,
/// waiting boundedly for the workers) and frees it. NULL does nothing; a freed or foreign handle
/// gives `INTERP_ERR_INVALID_HANDLE`. Outstanding task handles stay valid.
#[no_mangle]
pub extern "C" fn interp_pool_free(pool: *mut interp_pool_t) -> interp_status_t {
    if pool.is_null() {
        return interp_status_t::INTERP_OK;
    }
    ffi(std::ptr::null_mut(), || {
        let p = POOLS.remove(pool)?;
        p.shutdown(true, true);
        drop(p);
        Ok(())
    })
}

fn task_result(t: &Task, out_v: *mut *mut interp_value_t) -> Result<(), CError> {
    match t.try_result() {
        Some(Ok(v)) => {
            if out_v.is_null() {
                Ok(())
            } else {
                out(out_v, new_value(v), "out_value")
            }
        }
        Some(Err(e)) => Err(CError::from(e)),
        None => Err(CError::new(
            interp_status_t::INTERP_PENDING,
            "the task is still running",
        )),
    }
}

/// Waits for the task at most `timeout_seconds` (negative: no limit; 0:
/// just look). On success the result goes to `*out_value` (a new handle;
/// `out_value` may be NULL to discard it). `INTERP_PENDING` if the task is
/// still running at the deadline (it keeps running); otherwise the task's
/// own error (`INTERP_ERR_PYTHON` with type and traceback,
/// `INTERP_ERR_CANCELLED`, `INTERP_ERR_TIMEOUT`, ...).
#[no_mangle]
pub extern "C" fn interp_task_wait(
    task: *const interp_task_t,
    timeout_seconds: f64,
    out_value: *mut *mut interp_value_t,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    ffi(err, || {
        let t = TASKS.get(task)?;
        match deadline(timeout_seconds)? {
            None => {
                let _ = t.wait();
            }
            Some(d) => {
                let _ = t.wait_timeout(d.saturating_duration_since(Instant::now()));
            }
        }
        task_result(&t, out_value)
    })
}

/// Sets `*done` to 1 if the task finished (with a value or an error), else 0.
#[no_mangle]
pub extern "C" fn interp_task_poll(
    task: *const interp_task_t,
    done: *mut c_int,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    ffi(err, || {
        out(done, TASKS.get(task)?.is_done() as c_int, "done")
    })
}

/// Cancels the task: a queued one never runs; a running one is interrupted
/// (see the README: Python bytecode stops at once, a blocking C call only
/// when it returns). `*was_pending` (may be NULL) is 1 if it had not
/// finished yet.
#[no_mangle]
pub extern "C" fn interp_task_cancel(
    task: *const interp_task_t,
    was_pending: *mut c_int,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    ffi(err, || {
        let r = TASKS.get(task)?.cancel();
        if !was_pending.is_null() {
            out(was_pending, r as c_int, "was_pending")?;
        }
        Ok(())
    })
}

/// Called once when a task finishes.
pub type interp_task_callback_t =
    Option<unsafe extern "C" fn(task: *mut interp_task_t, user_data: *mut c_void)>;

struct Callback {
    fired: AtomicBool,
    f: unsafe extern "C" fn(*mut interp_task_t, *mut c_void),
    task: usize,
    user_data: usize,
}

impl Wake for Callback {
    fn wake(self: Arc<Self>) {
        if !self.fired.swap(true, Ordering::AcqRel) {
            // SAFETY: the C caller registered this function with this data
            // and the documented threading contract.
            unsafe {
                (self.f)(
                    self.task as *mut interp_task_t,
                    self.user_data as *mut c_void,
                )
            }
        }
    }
}

/// Registers `callback(task, user_data)`, called exactly once when the task
/// finishes — **on a worker thread** (or right away, on this thread, if it
/// already finished). Keep it short and non-blocking: hand off to your event
/// loop (write to an eventfd/pipe, `uv_async_send`, `asio::post`). It must
/// not free or shut down the pool (that waits for the very worker running
/// the callback) nor block on other tasks. The
/// `task` it receives is the handle passed here; it must still be valid
/// (not freed) when the callback runs, and calling `interp_task_wait` on it
/// with timeout 0 from the callback is allowed.
#[no_mangle]
pub extern "C" fn interp_task_on_complete(
    task: *mut interp_task_t,
    callback: interp_task_callback_t,
    user_data: *mut c_void,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    ffi(err, || {
        let f = callback.ok_or_else(|| CError::invalid("`callback` is NULL"))?;
        let t = TASKS.get(task)?;
        let cb = Arc::new(Callback {
            fired: AtomicBool::new(false),
            f,
            task: task as usize,
            user_data: user_data as usize,
        });
        let waker = Waker::from(cb.clone());
        let mut fut = (*t).clone();
        if Pin::new(&mut fut)
            .poll(&mut Context::from_waker(&waker))
            .is_ready()
        {
            cb.wake();
        }
        Ok(())
    })
}

/// Frees a task handle (the task itself keeps running unless cancelled).
/// NULL does nothing; a freed or foreign handle gives
/// `INTERP_ERR_INVALID_HANDLE`.
#[no_mangle]
pub extern "C" fn interp_task_free(task: *mut interp_task_t) -> interp_status_t {
    if task.is_null() {
        return interp_status_t::INTERP_OK;
    }
    ffi(std::ptr::null_mut(), || Ok(TASKS.remove(task).map(drop)?))
}
