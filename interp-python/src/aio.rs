//! `interp.aio`: pools whose workers each run one asyncio event loop
//! (interp-pool's `PoolBuilder::event_loop`). Submission goes through
//! `submit` (which sees the pool's mode); this module only configures the
//! pool.

use std::ptr::null_mut;

use interp_core::{Error, Python, Value};
use interp_pool::{Call, PoolBuilder};
use interp_sys::{PyObject, Py_ssize_t};

use crate::util::{arg, entry, main_only, seconds};
use crate::{blocking, flush, pool_of};

/// Makes `b` an event-loop pool: `childconcurrency` coroutines per loop at
/// most, the loop made by `loop_factory` (`None`, or `(module, qualname)`
/// of a function importable in the workers), a graceful close waiting
/// `close_timeout` seconds (`None`: the pool's default) before it cancels
/// what still runs.
pub(crate) fn configure(
    py: Python<'_>,
    b: PoolBuilder,
    childconcurrency: *mut PyObject,
    loop_factory: *mut PyObject,
    close_timeout: *mut PyObject,
) -> Result<PoolBuilder, Error> {
    // SAFETY: (both) FASTCALL arguments are valid borrowed objects.
    let (cc, factory) = unsafe {
        (
            py.from_borrowed_ptr(childconcurrency),
            py.from_borrowed_ptr(loop_factory),
        )
    };
    let cc =
        cc.to_value()?.as_i64().filter(|n| *n > 0).ok_or_else(|| {
            Error::InvalidArgument("childconcurrency must be a positive int".into())
        })?;
    let mut b = b.event_loop(usize::try_from(cc).unwrap_or(usize::MAX));
    if !factory.is_none() {
        let v = factory.to_value()?;
        let parts = v.as_seq().unwrap_or(&[]);
        match parts {
            [m, q] if m.as_str().is_some() && q.as_str().is_some() => {
                b = b.loop_factory(Call::new(
                    m.as_str().unwrap_or(""),
                    q.as_str().unwrap_or(""),
                ));
            }
            _ => {
                return Err(Error::InvalidArgument(
                    "loop_factory must be None or (module, qualname)".into(),
                ))
            }
        }
    }
    if let Some(t) = seconds(py, close_timeout, "close_timeout")? {
        b = b.shutdown_timeout(t);
    }
    Ok(b)
}

/// `aio_join(pool)`: the graceful close of `interp.aio.Pool.join()`. Unlike
/// the executor's `shutdown(wait=True)`, which waits for tasks however long
/// they run, queued and running coroutines get the pool's close timeout
/// (its shutdown timeout), then what runs is cancelled (and what is still
/// queued fails as never run); waits for the workers with the main GIL
/// released. Returns the names of abandoned workers.
pub(crate) unsafe extern "C" fn m_aio_join(
    _m: *mut PyObject,
    a: *mut *mut PyObject,
    n: Py_ssize_t,
) -> *mut PyObject {
    entry(|py| {
        main_only("interp.aio.Pool.join")?;
        // SAFETY: FASTCALL arguments (count checked by `arg`).
        let p = unsafe { arg(a, n, 0, "aio_join", 1) }?;
        // SAFETY: the capsule is checked by name.
        let h = unsafe { pool_of(p)? }.clone();
        let h2 = h.clone();
        let Some(report) = blocking(py, move || h2.pool.shutdown(true, false))? else {
            flush(py, &h);
            return Ok(null_mut()); // Ctrl-C: KeyboardInterrupt is set
        };
        flush(py, &h);
        Ok(py
            .value(&Value::list(report.abandoned.into_iter().map(Value::from)))?
            .into_ptr())
    })
}
