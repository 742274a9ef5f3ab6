//! Channels from C (`interp_channel_t`).

use std::ffi::c_int;
use std::time::{Duration, Instant};

use interp_core::{Channel, RecvTimeoutError, SendTimeoutError, Value};

use crate::error::{ffi, interp_error_t, interp_status_t, need_out, out, CError};
use crate::handle::Registry;
use crate::value::{interp_value_t, out_value, value};

/// A channel of values between C threads, Rust threads and interpreters.
/// Free with `interp_channel_free` (the channel lives on while other
/// handles or Python objects use it).
#[derive(Debug)]
pub struct interp_channel_t {
    _private: [u8; 0],
}

pub(crate) static CHANNELS: Registry<Channel, interp_channel_t> =
    Registry::new(5, "interp_channel_t");

/// A seconds argument: negative means no limit.
pub(crate) fn deadline(timeout_seconds: f64) -> Result<Option<Instant>, CError> {
    if timeout_seconds.is_nan() {
        return Err(CError::invalid("timeout is NaN"));
    }
    Ok((timeout_seconds >= 0.0)
        .then(|| Instant::now() + Duration::from_secs_f64(timeout_seconds.min(1e9))))
}

/// A new channel: `bounded` non-zero makes it hold at most `capacity`
/// values (0 = rendezvous; at most 1,048,576); otherwise it is unbounded.
#[no_mangle]
pub extern "C" fn interp_channel_new(
    bounded: c_int,
    capacity: usize,
    out_ch: *mut *mut interp_channel_t,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    ffi(err, || {
        if bounded != 0 && capacity > Channel::MAX_CAPACITY {
            return Err(CError::invalid(format!(
                "capacity {capacity} exceeds {} (slots are allocated up front); use an unbounded channel",
                Channel::MAX_CAPACITY
            )));
        }
        let ch = if bounded != 0 {
            Channel::bounded(capacity)
        } else {
            Channel::unbounded()
        };
        need_out(out_ch, "out_ch")?;
        out(out_ch, CHANNELS.insert(ch), "out_ch")
    })
}

/// Sends a copy of `v` (borrowed). Blocks while a bounded channel is full,
/// at most `timeout_seconds` (negative: no limit; 0: do not block).
/// `INTERP_PENDING` when still full at the deadline, `INTERP_ERR_CLOSED`
/// after `interp_channel_close`.
#[no_mangle]
pub extern "C" fn interp_channel_send(
    ch: *const interp_channel_t,
    v: *const interp_value_t,
    timeout_seconds: f64,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    ffi(err, || {
        let ch = CHANNELS.get(ch)?;
        let v = (*value(v)?).clone();
        let r = match deadline(timeout_seconds)? {
            None => ch.send(v).map_err(SendTimeoutError::from),
            Some(d) => ch.send_timeout(v, d.saturating_duration_since(Instant::now())),
        };
        r.map_err(|e| match e {
            SendTimeoutError::Closed(_) => CError::new(
                interp_status_t::INTERP_ERR_CLOSED,
                "send on a closed channel",
            ),
            SendTimeoutError::Cancelled(_) => {
                CError::new(interp_status_t::INTERP_ERR_CANCELLED, "send cancelled")
            }
            SendTimeoutError::Timeout(_) => CError::new(
                interp_status_t::INTERP_PENDING,
                "the channel stayed full until the timeout",
            ),
        })
    })
}

/// Receives the next value into `*out_v` (a new handle). Blocks at most
/// `timeout_seconds` (negative: no limit; 0: do not block). `INTERP_PENDING`
/// when nothing arrived, `INTERP_ERR_CLOSED` once closed and drained.
#[no_mangle]
pub extern "C" fn interp_channel_recv(
    ch: *const interp_channel_t,
    timeout_seconds: f64,
    out_v: *mut *mut interp_value_t,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    ffi(err, || {
        need_out(out_v, "out_v")?;
        let ch = CHANNELS.get(ch)?;
        let r = match deadline(timeout_seconds)? {
            None => ch.recv().map_err(RecvTimeoutError::from),
            Some(d) => ch.recv_timeout(d.saturating_duration_since(Instant::now())),
        };
        match r {
            Ok(v) => out_value(out_v, v, "out_v"),
            Err(RecvTimeoutError::Closed) => Err(CError::new(
                interp_status_t::INTERP_ERR_CLOSED,
                "the channel is closed and empty",
            )),
            Err(RecvTimeoutError::Cancelled) => Err(CError::new(
                interp_status_t::INTERP_ERR_CANCELLED,
                "receive cancelled",
            )),
            Err(RecvTimeoutError::Timeout) => Err(CError::new(
                interp_status_t::INTERP_PENDING,
                "nothing arrived before the timeout",
            )),
        }
    })
}

/// Closes the channel: wakes every waiter; values already sent stay
/// receivable.
#[no_mangle]
pub extern "C" fn interp_channel_close(
    ch: *const interp_channel_t,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    ffi(err, || Ok(CHANNELS.get(ch).map(|c| c.close())?))
}

/// How many values wait.
#[no_mangle]
pub extern "C" fn interp_channel_len(
    ch: *const interp_channel_t,
    len: *mut usize,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    ffi(err, || out(len, CHANNELS.get(ch)?.len(), "len"))
}

/// A value holding the channel (to pass it to Python: `interp.Channel`).
#[no_mangle]
pub extern "C" fn interp_channel_value(
    ch: *const interp_channel_t,
    out_v: *mut *mut interp_value_t,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    ffi(err, || {
        let c = (*CHANNELS.get(ch)?).clone();
        out_value(out_v, Value::Channel(c), "out_v")
    })
}

/// The channel held by a channel value (a new channel handle).
#[no_mangle]
pub extern "C" fn interp_value_as_channel(
    v: *const interp_value_t,
    out_ch: *mut *mut interp_channel_t,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    ffi(err, || match &*value(v)? {
        Value::Channel(c) => {
            need_out(out_ch, "out_ch")?;
            out(out_ch, CHANNELS.insert(c.clone()), "out_ch")
        }
        other => Err(CError::new(
            interp_status_t::INTERP_ERR_CONVERSION,
            format!("expected a channel, got a '{}' value", other.type_name()),
        )),
    })
}

/// Frees a channel handle. NULL does nothing; a freed or foreign handle
/// gives `INTERP_ERR_INVALID_HANDLE`.
#[no_mangle]
pub extern "C" fn interp_channel_free(ch: *mut interp_channel_t) -> interp_status_t {
    if ch.is_null() {
        return interp_status_t::INTERP_OK;
    }
    ffi(std::ptr::null_mut(), || {
        Ok(CHANNELS.remove(ch).map(drop)?)
    })
}
