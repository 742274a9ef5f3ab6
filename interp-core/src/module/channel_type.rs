//! The `interp.Channel` type.

use std::ffi::{c_int, c_void};
use std::ptr::null_mut;
use std::time::{Duration, Instant};

use interp_sys as sys;
use sys::{PyObject, Py_ssize_t};

use super::*;

pub(super) static CHANNEL_METHODS: Def<[sys::PyMethodDef; 5]> = Def::new([
    method!(c"send", kw(ch_send), VARARGS_KW,
        c"send(obj, timeout=None)\n--\n\nSends a copy of obj (buffers, channels and frozen data by reference). Blocks while a bounded channel is full (GIL released; in the main thread, Ctrl-C raises KeyboardInterrupt). Raises ChannelClosed, TimeoutError, or Cancelled."),
    method!(c"recv", kw(ch_recv), VARARGS_KW,
        c"recv(timeout=None)\n--\n\nReceives the next value, blocking (GIL released) until one arrives (in the main thread, Ctrl-C raises KeyboardInterrupt). Raises ChannelClosed once closed and drained, TimeoutError, or Cancelled."),
    method!(c"try_recv", noargs(ch_try_recv), sys::METH_NOARGS,
        c"try_recv()\n--\n\nReceives without blocking. Raises ChannelEmpty or ChannelClosed."),
    method!(c"close", noargs(ch_close), sys::METH_NOARGS,
        c"close()\n--\n\nCloses the channel: wakes every waiter; values already sent stay receivable."),
    sys::PyMethodDef::zeroed(),
]);

pub(super) static CHANNEL_GETSET: Def<[sys::PyGetSetDef; 3]> = Def::new([
    getter(c"closed", ch_closed, c"Whether close() was called."),
    getter(
        c"capacity",
        ch_capacity,
        c"The capacity, or None when unbounded.",
    ),
    getset_end(),
]);

pub(super) static CHANNEL_SLOTS: Def<[sys::PyType_Slot; 11]> = Def::new([
    sys::PyType_Slot { slot: sys::Py_tp_new, pfunc: ch_new as *mut c_void },
    sys::PyType_Slot { slot: sys::Py_tp_dealloc, pfunc: handle_dealloc::<Channel> as *mut c_void },
    sys::PyType_Slot { slot: sys::Py_tp_methods, pfunc: CHANNEL_METHODS.0.get() as *mut c_void },
    sys::PyType_Slot { slot: sys::Py_tp_getset, pfunc: CHANNEL_GETSET.0.get() as *mut c_void },
    sys::PyType_Slot { slot: sys::Py_mp_length, pfunc: ch_len as *mut c_void },
    sys::PyType_Slot { slot: sys::Py_tp_iter, pfunc: ch_iter as *mut c_void },
    sys::PyType_Slot { slot: sys::Py_tp_iternext, pfunc: ch_next as *mut c_void },
    sys::PyType_Slot { slot: sys::Py_tp_repr, pfunc: ch_repr as *mut c_void },
    sys::PyType_Slot { slot: sys::Py_tp_richcompare, pfunc: ch_richcompare as *mut c_void },
    sys::PyType_Slot {
        slot: sys::Py_tp_doc,
        pfunc: c"Channel(capacity=None)\n--\n\nA multi-producer, multi-consumer channel between threads and interpreters. capacity None is unbounded, 0 a rendezvous. Iterating receives until closed.".as_ptr() as *mut c_void,
    },
    sys::PyType_Slot { slot: 0, pfunc: null_mut() },
]);

pub(super) static CHANNEL_SPEC: Def<sys::PyType_Spec> = Def::new(sys::PyType_Spec {
    name: c"interp.Channel".as_ptr(),
    basicsize: std::mem::size_of::<HandleObject<Channel>>() as c_int,
    itemsize: 0,
    flags: (sys::Py_TPFLAGS_DEFAULT | sys::Py_TPFLAGS_IMMUTABLETYPE) as _,
    slots: CHANNEL_SLOTS.0.get() as *mut sys::PyType_Slot,
});

pub(super) unsafe extern "C" fn ch_new(
    ty: *mut sys::PyTypeObject,
    args: *mut PyObject,
    kwargs: *mut PyObject,
) -> *mut PyObject {
    wrap(|py| {
        // SAFETY: tp_new contract.
        unsafe { check_args(args, kwargs, &["capacity"], "Channel")? };
        // SAFETY: as above.
        let ch = match unsafe { arg(py, args, kwargs, 0, c"capacity") }.filter(|c| !c.is_none()) {
            None => Channel::unbounded(),
            Some(c) => match c.to_value()? {
                Value::Int(n) if n >= 0 && n as usize <= Channel::MAX_CAPACITY => {
                    Channel::bounded(n as usize)
                }
                other => {
                    return Err(Error::InvalidArgument(format!(
                        "capacity must be None (unbounded) or an int from 0 to {}, got {other:?}",
                        Channel::MAX_CAPACITY
                    )))
                }
            },
        };
        // SAFETY: `ty` is our Channel type.
        Ok(Some(
            unsafe { new_handle_object(py, ty.cast(), ch) }?.into_ptr(),
        ))
    })
}

pub(super) fn channel_exc(
    py: Python<'_>,
    which: fn(&ModState) -> *mut PyObject,
    msg: &str,
) -> Result<Option<*mut PyObject>> {
    let (_m, st) = state(py)?;
    // SAFETY: the state pointer is valid while the module lives (`_m`).
    set_error(which(unsafe { &*st }), msg);
    Ok(None)
}

pub(super) unsafe extern "C" fn ch_send(
    obj: *mut PyObject,
    args: *mut PyObject,
    kwargs: *mut PyObject,
) -> *mut PyObject {
    wrap(|py| {
        // SAFETY: METH_VARARGS|KEYWORDS contract; `obj` is our Channel.
        let (ch, item, timeout) = unsafe {
            check_args(args, kwargs, &["obj", "timeout"], "send")?;
            let item = arg(py, args, kwargs, 0, c"obj")
                .ok_or_else(|| type_error("send() missing required argument 'obj'".into()))?;
            (
                handle_of::<Channel>(obj),
                item,
                arg(py, args, kwargs, 1, c"timeout"),
            )
        };
        let deadline = deadline(timeout)?;
        let mut pending = Some(item.to_value()?);
        let sent = in_slices(py, deadline, |d| {
            let value = pending
                .take()
                .expect("put back after every timed-out slice");
            match ch.send_deadline(value, d) {
                Err(SendTimeoutError::Timeout(v)) => {
                    pending = Some(v);
                    Err(Err(SendTimeoutError::Timeout(Value::None)))
                }
                other => Ok(other),
            }
        });
        let Ok(sent) = sent else {
            return Ok(None); // a signal handler raised (KeyboardInterrupt)
        };
        match sent {
            Ok(()) => Ok(none()),
            Err(SendTimeoutError::Closed(_)) => {
                channel_exc(py, |s| s.closed_exc, "send on a closed interp.Channel")
            }
            Err(SendTimeoutError::Timeout(_)) => {
                set_error(
                    // SAFETY: static exception type.
                    unsafe { sys::PyExc_TimeoutError },
                    "send timed out: the channel stayed full",
                );
                Ok(None)
            }
            Err(SendTimeoutError::Cancelled(_)) => {
                channel_exc(py, |s| s.cancelled_exc, "send cancelled")
            }
        }
    })
}

/// Why a receive from Python failed, whichever operation it was.
pub(super) enum RecvFailed {
    Closed,
    Empty,
    Cancelled,
    Timeout,
}

impl From<RecvError> for RecvFailed {
    fn from(e: RecvError) -> RecvFailed {
        match e {
            RecvError::Closed => RecvFailed::Closed,
            RecvError::Cancelled => RecvFailed::Cancelled,
        }
    }
}

impl From<TryRecvError> for RecvFailed {
    fn from(e: TryRecvError) -> RecvFailed {
        match e {
            TryRecvError::Empty => RecvFailed::Empty,
            TryRecvError::Closed => RecvFailed::Closed,
        }
    }
}

impl From<RecvTimeoutError> for RecvFailed {
    fn from(e: RecvTimeoutError) -> RecvFailed {
        match e {
            RecvTimeoutError::Timeout => RecvFailed::Timeout,
            RecvTimeoutError::Closed => RecvFailed::Closed,
            RecvTimeoutError::Cancelled => RecvFailed::Cancelled,
        }
    }
}

pub(super) fn recv_result(
    py: Python<'_>,
    r: std::result::Result<Value, impl Into<RecvFailed>>,
) -> Result<Option<*mut PyObject>> {
    match r.map_err(Into::into) {
        Ok(v) => Ok(Some(py.value(&v)?.into_ptr())),
        Err(RecvFailed::Closed) => channel_exc(
            py,
            |s| s.closed_exc,
            "the interp.Channel is closed and empty",
        ),
        Err(RecvFailed::Empty) => channel_exc(py, |s| s.empty_exc, "the interp.Channel is empty"),
        Err(RecvFailed::Cancelled) => channel_exc(py, |s| s.cancelled_exc, "receive cancelled"),
        Err(RecvFailed::Timeout) => {
            // SAFETY: static exception type.
            set_error(unsafe { sys::PyExc_TimeoutError }, "receive timed out");
            Ok(None)
        }
    }
}

pub(super) unsafe extern "C" fn ch_recv(
    obj: *mut PyObject,
    args: *mut PyObject,
    kwargs: *mut PyObject,
) -> *mut PyObject {
    wrap(|py| {
        // SAFETY: method contract; our Channel.
        let (ch, timeout) = unsafe {
            check_args(args, kwargs, &["timeout"], "recv")?;
            (
                handle_of::<Channel>(obj),
                arg(py, args, kwargs, 0, c"timeout"),
            )
        };
        let deadline = deadline(timeout)?;
        match recv_in_slices(py, ch, deadline) {
            Ok(r) => recv_result(py, r),
            Err(Interrupted) => Ok(None),
        }
    })
}

/// How long one slice of a wait in the main thread lasts before the signal
/// handlers run.
const SIGNAL_SLICE: Duration = Duration::from_millis(50);

/// A signal handler raised during a wait (its exception, `KeyboardInterrupt`
/// for Ctrl-C, is set).
struct Interrupted;

/// Runs a blocking channel operation, `op(deadline)`. In the main thread of
/// the main interpreter, the only one where CPython runs signal handlers,
/// it waits in slices of [`SIGNAL_SLICE`] and runs the handlers between them
/// (as `threading.Lock.acquire` wakes for them there), so that Ctrl-C ends
/// the wait with `KeyboardInterrupt`; anywhere else it is one wait. `op`
/// returns `Err(timed_out)` when its deadline passed, `Ok(outcome)` for
/// anything else.
fn in_slices<R>(
    _py: Python<'_>,
    deadline: Option<Instant>,
    mut op: impl FnMut(Option<Instant>) -> std::result::Result<R, R>,
) -> std::result::Result<R, Interrupted> {
    // SAFETY: attached (`_py`).
    if !unsafe { sys::handles_signals() } {
        return Ok(op(deadline).unwrap_or_else(|timed_out| timed_out));
    }
    loop {
        let slice_end = Instant::now() + SIGNAL_SLICE;
        let end = deadline.map_or(slice_end, |d| d.min(slice_end));
        match op(Some(end)) {
            Ok(r) => return Ok(r),
            Err(timed_out) => {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Ok(timed_out);
                }
                // SAFETY: attached (the operation re-attached on return);
                // runs the pending signal handlers.
                if unsafe { sys::PyErr_CheckSignals() } < 0 {
                    return Err(Interrupted);
                }
            }
        }
    }
}

/// `ch.recv_deadline(deadline)`, waking for signals in the main thread
/// ([`in_slices`]).
fn recv_in_slices(
    py: Python<'_>,
    ch: &Channel,
    deadline: Option<Instant>,
) -> std::result::Result<std::result::Result<Value, RecvTimeoutError>, Interrupted> {
    in_slices(py, deadline, |d| match ch.recv_deadline(d) {
        Err(RecvTimeoutError::Timeout) => Err(Err(RecvTimeoutError::Timeout)),
        other => Ok(other),
    })
}

pub(super) unsafe extern "C" fn ch_try_recv(
    obj: *mut PyObject,
    _a: *mut PyObject,
) -> *mut PyObject {
    // SAFETY: our Channel.
    let ch = unsafe { handle_of::<Channel>(obj) };
    wrap(|py| recv_result(py, ch.try_recv()))
}

pub(super) unsafe extern "C" fn ch_close(obj: *mut PyObject, _a: *mut PyObject) -> *mut PyObject {
    // SAFETY: our Channel.
    unsafe { handle_of::<Channel>(obj) }.close();
    none().unwrap()
}

pub(super) unsafe extern "C" fn ch_len(obj: *mut PyObject) -> Py_ssize_t {
    // SAFETY: our Channel.
    unsafe { handle_of::<Channel>(obj) }.len() as Py_ssize_t
}

pub(super) unsafe extern "C" fn ch_iter(obj: *mut PyObject) -> *mut PyObject {
    // SAFETY: returning a new reference to self.
    unsafe { sys::Py_NewRef(obj) }
}

pub(super) unsafe extern "C" fn ch_next(obj: *mut PyObject) -> *mut PyObject {
    // SAFETY: our Channel.
    let ch = unsafe { handle_of::<Channel>(obj) };
    wrap(|py| match recv_in_slices(py, ch, None) {
        Err(Interrupted) => Ok(None),
        Ok(Err(RecvTimeoutError::Closed)) => Ok(None), // StopIteration (no exception set)
        Ok(r) => recv_result(py, r),
    })
}

pub(super) unsafe extern "C" fn ch_repr(obj: *mut PyObject) -> *mut PyObject {
    // SAFETY: our Channel.
    let ch = unsafe { handle_of::<Channel>(obj) };
    wrap(|py| {
        let cap = ch
            .capacity()
            .map_or("unbounded".to_owned(), |c| format!("capacity {c}"));
        let closed = if ch.is_closed() { ", closed" } else { "" };
        Ok(Some(
            py.str(&format!(
                "<interp.Channel {cap}, {} waiting{closed}>",
                ch.len()
            ))?
            .into_ptr(),
        ))
    })
}

pub(super) unsafe extern "C" fn ch_richcompare(
    a: *mut PyObject,
    b: *mut PyObject,
    op: c_int,
) -> *mut PyObject {
    // SAFETY: `a` is our Channel; `b` any object; comparing types first.
    unsafe {
        if sys::Py_TYPE(a) != sys::Py_TYPE(b) || (op != sys::Py_EQ && op != sys::Py_NE) {
            return sys::Py_NewRef(sys::Py_NotImplemented());
        }
        let same = handle_of::<Channel>(a) == handle_of::<Channel>(b);
        sys::Py_NewRef(if same == (op == sys::Py_EQ) {
            sys::Py_True()
        } else {
            sys::Py_False()
        })
    }
}

macro_rules! ch_getter {
    ($name:ident, |$c:ident| $e:expr) => {
        unsafe extern "C" fn $name(obj: *mut PyObject, _c: *mut c_void) -> *mut PyObject {
            wrap(|py| {
                // SAFETY: CPython calls getters on our objects.
                let $c = unsafe { handle_of::<Channel>(obj) };
                Ok(Some(py.value(&$e)?.into_ptr()))
            })
        }
    };
}
ch_getter!(ch_closed, |c| Value::Bool(c.is_closed()));
ch_getter!(ch_capacity, |c| c.capacity().map(|n| n as u64).into());
