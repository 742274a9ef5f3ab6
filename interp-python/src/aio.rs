//! `interp.aio`: pools whose workers each run one asyncio event loop
//! (interp-pool's `PoolBuilder::event_loop`). Submission goes through
//! `submit` (which sees the pool's mode); this module only configures the
//! pool.

use interp_core::{Error, Python};
use interp_pool::{Call, PoolBuilder};
use interp_sys::PyObject;

use crate::util::seconds;

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
