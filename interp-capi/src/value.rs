//! Values from C (`interp_value_t`): constructors, accessors, buffers.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::Arc;

use interp_core::{SharedBuffer, Value};

use crate::error::{ffi, interp_error_t, interp_status_t, need_out, out, CError};
use crate::handle::Registry;

/// An interpreter-independent Python value. Free with `interp_value_free`.
pub struct interp_value_t {
    _private: [u8; 0],
}

pub(crate) static VALUES: Registry<Value, interp_value_t> = Registry::new(2, "interp_value_t");

/// The type of a value.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum interp_kind_t {
    /// `None`.
    INTERP_NONE = 0,
    /// `bool`.
    INTERP_BOOL = 1,
    /// `int` (any size; `interp_value_as_int64` fails with
    /// `INTERP_ERR_CONVERSION` when it does not fit).
    INTERP_INT = 2,
    /// `float`.
    INTERP_FLOAT = 3,
    /// `complex`.
    INTERP_COMPLEX = 4,
    /// `str`.
    INTERP_STR = 5,
    /// `bytes`.
    INTERP_BYTES = 6,
    /// `tuple`.
    INTERP_TUPLE = 7,
    /// `list`.
    INTERP_LIST = 8,
    /// `dict`.
    INTERP_DICT = 9,
    /// `set`.
    INTERP_SET = 10,
    /// `frozenset`.
    INTERP_FROZENSET = 11,
    /// Another object, pickled.
    INTERP_PICKLED = 12,
    /// A shared buffer.
    INTERP_BUFFER = 13,
    /// A channel.
    INTERP_CHANNEL = 14,
    /// Frozen read-only data.
    INTERP_FROZEN = 15,
}

pub(crate) fn new_value(v: Value) -> *mut interp_value_t {
    VALUES.insert(v)
}

pub(crate) fn value(h: *const interp_value_t) -> Result<Arc<Value>, CError> {
    VALUES.get(h)
}

/// Values from an array of handles (NULL is allowed when `n` is 0).
pub(crate) fn values(
    items: *const *const interp_value_t,
    n: usize,
    what: &str,
) -> Result<Vec<Value>, CError> {
    if n == 0 {
        return Ok(Vec::new());
    }
    if items.is_null() {
        return Err(CError::invalid(format!(
            "`{what}` is NULL but its count is {n}"
        )));
    }
    // SAFETY: the caller passes `n` readable handles.
    let hs = unsafe { std::slice::from_raw_parts(items, n) };
    hs.iter().map(|h| value(*h).map(|v| (*v).clone())).collect()
}

/// UTF-8 text from (pointer, length).
pub(crate) fn utf8<'a>(s: *const c_char, len: usize, what: &str) -> Result<&'a str, CError> {
    if s.is_null() {
        return if len == 0 {
            Ok("")
        } else {
            Err(CError::invalid(format!("`{what}` is NULL")))
        };
    }
    // SAFETY: the caller passes `len` readable bytes.
    let b = unsafe { std::slice::from_raw_parts(s.cast::<u8>(), len) };
    std::str::from_utf8(b).map_err(|e| {
        CError::invalid(format!(
            "`{what}` is not valid UTF-8 (invalid byte at offset {})",
            e.valid_up_to()
        ))
    })
}

/// UTF-8 text from a NUL-terminated string.
pub(crate) fn cstr<'a>(s: *const c_char, what: &str) -> Result<&'a str, CError> {
    if s.is_null() {
        return Err(CError::invalid(format!("`{what}` is NULL")));
    }
    // SAFETY: the caller passes a NUL-terminated string.
    let c = unsafe { CStr::from_ptr(s) };
    c.to_str().map_err(|e| {
        CError::invalid(format!(
            "`{what}` is not valid UTF-8 (invalid byte at offset {})",
            e.valid_up_to()
        ))
    })
}

/// Refuses a container whose items nest `items_depth` levels: the
/// container would exceed `MAX_DEPTH` (it could not be converted, and could
/// overflow the stack when freed).
fn check_depth(items_depth: usize) -> Result<(), CError> {
    if items_depth + 1 > interp_core::MAX_DEPTH {
        return Err(CError::invalid(format!(
            "this container would nest {} levels deep; the limit is {}",
            items_depth + 1,
            interp_core::MAX_DEPTH
        )));
    }
    Ok(())
}

/// A container of `items` (see `check_depth`).
fn container(items: Vec<Value>, make: impl FnOnce(Vec<Value>) -> Value) -> Result<Value, CError> {
    check_depth(items.iter().map(Value::depth).max().unwrap_or(0))?;
    Ok(make(items))
}

fn make(
    out_p: *mut *mut interp_value_t,
    err: *mut *mut interp_error_t,
    f: impl FnOnce() -> Result<Value, CError>,
) -> interp_status_t {
    ffi(err, || {
        need_out(out_p, "out")?;
        let v = f()?;
        out(out_p, new_value(v), "out")
    })
}

/// New `None`.
#[no_mangle]
pub extern "C" fn interp_value_none(
    out: *mut *mut interp_value_t,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    make(out, err, || Ok(Value::None))
}

/// New `bool` (any non-zero `b` is true).
#[no_mangle]
pub extern "C" fn interp_value_bool(
    b: c_int,
    out: *mut *mut interp_value_t,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    make(out, err, || Ok(Value::Bool(b != 0)))
}

/// New `int`.
#[no_mangle]
pub extern "C" fn interp_value_int64(
    n: i64,
    out: *mut *mut interp_value_t,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    make(out, err, || Ok(Value::Int(n)))
}

/// New `int` of any size from decimal text (`"-123456789012345678901234567890"`,
/// NUL-terminated; an optional sign, digits, `_` separators allowed).
#[no_mangle]
pub extern "C" fn interp_value_int_from_decimal(
    text: *const c_char,
    out: *mut *mut interp_value_t,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    make(out, err, || {
        let t = cstr(text, "text")?;
        crate::bigint::parse_decimal(t).ok_or_else(|| {
            CError::invalid(format!(
                "{t:?} is not a decimal integer (an optional sign, then digits)"
            ))
        })
    })
}

/// New `float`.
#[no_mangle]
pub extern "C" fn interp_value_double(
    x: f64,
    out: *mut *mut interp_value_t,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    make(out, err, || Ok(Value::Float(x)))
}

/// New `str` from UTF-8 text of `len` bytes (not necessarily
/// NUL-terminated; embedded NULs are kept). Invalid UTF-8 is
/// `INTERP_ERR_INVALID_ARGUMENT`.
#[no_mangle]
pub extern "C" fn interp_value_str(
    utf8_text: *const c_char,
    len: usize,
    out: *mut *mut interp_value_t,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    make(out, err, || {
        Ok(Value::str(utf8(utf8_text, len, "utf8_text")?))
    })
}

/// New `bytes` (copied).
#[no_mangle]
pub extern "C" fn interp_value_bytes(
    data: *const c_void,
    len: usize,
    out: *mut *mut interp_value_t,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    make(out, err, || {
        if data.is_null() && len > 0 {
            return Err(CError::invalid("`data` is NULL"));
        }
        let b = if len == 0 {
            &[][..]
        } else {
            // SAFETY: `len` readable bytes (checked non-NULL above).
            unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len) }
        };
        Ok(Value::bytes(b))
    })
}

/// New `tuple` of `n` items (borrowed; the tuple holds its own copies).
#[no_mangle]
pub extern "C" fn interp_value_tuple(
    items: *const *const interp_value_t,
    n: usize,
    out: *mut *mut interp_value_t,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    make(out, err, || {
        container(values(items, n, "items")?, Value::tuple)
    })
}

/// New `list` of `n` items (borrowed).
#[no_mangle]
pub extern "C" fn interp_value_list(
    items: *const *const interp_value_t,
    n: usize,
    out: *mut *mut interp_value_t,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    make(out, err, || {
        container(values(items, n, "items")?, Value::list)
    })
}

/// New `dict` from `n` keys and `n` values (borrowed), in order.
#[no_mangle]
pub extern "C" fn interp_value_dict(
    keys: *const *const interp_value_t,
    vals: *const *const interp_value_t,
    n: usize,
    out: *mut *mut interp_value_t,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    make(out, err, || {
        let k = values(keys, n, "keys")?;
        let v = values(vals, n, "vals")?;
        check_depth(
            k.iter()
                .chain(v.iter())
                .map(Value::depth)
                .max()
                .unwrap_or(0),
        )?;
        Ok(Value::dict(k.into_iter().zip(v)))
    })
}

/// Called when the last reference to wrapped C memory is gone.
pub type interp_release_fn = Option<unsafe extern "C" fn(user_data: *mut c_void)>;

struct SendPtr(*mut c_void);
// SAFETY: the pointer is only handed back to the C release callback, whose
// contract (documented on interp_value_buffer_wrap) allows any thread.
unsafe impl Send for SendPtr {}

/// A new shared buffer wrapping C memory without copying: every interpreter
/// sees it as a buffer (`memoryview(buf)`), with `format` (a `struct` code,
/// NULL for "B") and `shape` (`ndim` sizes, NULL for one flat dimension).
/// The memory must stay valid until `release(user_data)` is called — exactly
/// once, on whatever thread drops the last reference (a C handle, a Python
/// object or view in any interpreter). `release` may be NULL. A non-zero
/// `readonly` makes Python views refuse writes.
///
/// # Safety
/// `data` must be valid for reads (and writes, unless `readonly`) of `len`
/// bytes until `release` runs.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn interp_value_buffer_wrap(
    data: *mut c_void,
    len: usize,
    format: *const c_char,
    shape: *const usize,
    ndim: usize,
    readonly: c_int,
    release: interp_release_fn,
    user_data: *mut c_void,
    out: *mut *mut interp_value_t,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    make(out, err, || {
        if data.is_null() && len > 0 {
            return Err(CError::invalid("`data` is NULL"));
        }
        let fmt = if format.is_null() {
            "B"
        } else {
            cstr(format, "format")?
        };
        let dims: Vec<usize> = if shape.is_null() {
            if ndim != 0 {
                return Err(CError::invalid(format!(
                    "`shape` is NULL but `ndim` is {ndim}"
                )));
            }
            Vec::new()
        } else {
            // SAFETY: the caller passes `ndim` readable sizes.
            unsafe { std::slice::from_raw_parts(shape, ndim) }.to_vec()
        };
        // Validate the layout before taking ownership: on error `release`
        // must not run (the caller still owns the memory).
        let itemsize = SharedBuffer::itemsize_of(fmt).ok_or_else(|| {
            CError::invalid(format!("unsupported buffer format {fmt:?}: use one native struct code of b B h H i I l L q Q n N f d e ? c P"))
        })?;
        let dims = if dims.is_empty() {
            vec![len / itemsize]
        } else {
            dims
        };
        if dims.len() > 64 {
            return Err(CError::invalid(format!(
                "a buffer has at most 64 dimensions, got {}",
                dims.len()
            )));
        }
        let nbytes = dims.iter().try_fold(itemsize, |a, &d| a.checked_mul(d));
        if nbytes != Some(len) {
            return Err(CError::invalid(format!(
                "shape {dims:?} with format {fmt:?} ({itemsize}-byte items) does not cover the {len} bytes given"
            )));
        }
        let ud = SendPtr(user_data);
        // SAFETY: the caller guarantees validity until `release` runs.
        let buf = unsafe {
            SharedBuffer::from_raw_parts(data.cast(), len, move || {
                let ud = ud;
                if let Some(f) = release {
                    f(ud.0);
                }
            })
        };
        let buf = buf.with_layout(fmt, &dims)?;
        Ok(Value::Buffer(if readonly != 0 {
            buf.readonly()
        } else {
            buf
        }))
    })
}

/// A new zeroed shared buffer of `len` bytes (64-byte aligned), format "B".
#[no_mangle]
pub extern "C" fn interp_value_buffer_new(
    len: usize,
    out: *mut *mut interp_value_t,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    make(out, err, || {
        Ok(Value::Buffer(SharedBuffer::try_zeroed(len)?))
    })
}

/// The memory of a buffer value: its address and length in bytes. Writes
/// through it are seen by every interpreter (no synchronization).
#[no_mangle]
pub extern "C" fn interp_value_buffer_data(
    v: *const interp_value_t,
    data: *mut *mut c_void,
    len: *mut usize,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    ffi(err, || match &*value(v)? {
        Value::Buffer(b) => {
            out(data, b.as_ptr().cast(), "data")?;
            out(len, b.len(), "len")
        }
        other => Err(kind_error("a buffer", other)),
    })
}

fn kind_error(want: &str, got: &Value) -> CError {
    CError::new(
        interp_status_t::INTERP_ERR_CONVERSION,
        format!("expected {want}, got a '{}' value", got.type_name()),
    )
}

/// A new handle to the same value (values are immutable and cheap to share).
#[no_mangle]
pub extern "C" fn interp_value_clone(
    v: *const interp_value_t,
    out: *mut *mut interp_value_t,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    make(out, err, || Ok((*value(v)?).clone()))
}

/// Frees a value. NULL does nothing; a freed or foreign handle gives
/// `INTERP_ERR_INVALID_HANDLE`.
#[no_mangle]
pub extern "C" fn interp_value_free(v: *mut interp_value_t) -> interp_status_t {
    if v.is_null() {
        return interp_status_t::INTERP_OK;
    }
    ffi(std::ptr::null_mut(), || VALUES.remove(v).map(drop))
}

/// The kind of a value, through `kind`.
#[no_mangle]
pub extern "C" fn interp_value_kind(
    v: *const interp_value_t,
    kind: *mut interp_kind_t,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    use interp_kind_t::*;
    ffi(err, || {
        let k = match &*value(v)? {
            Value::None => INTERP_NONE,
            Value::Bool(_) => INTERP_BOOL,
            Value::Int(_) | Value::BigInt(_) => INTERP_INT,
            Value::Float(_) => INTERP_FLOAT,
            Value::Complex { .. } => INTERP_COMPLEX,
            Value::Str(_) => INTERP_STR,
            Value::Bytes(_) => INTERP_BYTES,
            Value::Tuple(_) => INTERP_TUPLE,
            Value::List(_) => INTERP_LIST,
            Value::Dict(_) => INTERP_DICT,
            Value::Set(_) => INTERP_SET,
            Value::FrozenSet(_) => INTERP_FROZENSET,
            Value::Pickled(_) => INTERP_PICKLED,
            Value::Buffer(_) => INTERP_BUFFER,
            Value::Channel(_) => INTERP_CHANNEL,
            Value::Frozen(_) => INTERP_FROZEN,
            _ => INTERP_PICKLED,
        };
        out(kind, k, "kind")
    })
}

/// A `bool` as 0/1.
#[no_mangle]
pub extern "C" fn interp_value_as_bool(
    v: *const interp_value_t,
    b: *mut c_int,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    ffi(err, || match &*value(v)? {
        Value::Bool(x) => out(b, *x as c_int, "b"),
        other => Err(kind_error("a bool", other)),
    })
}

/// An `int` that fits in 64 bits (`INTERP_ERR_CONVERSION` otherwise; use
/// `interp_value_int_to_decimal` for any size).
#[no_mangle]
pub extern "C" fn interp_value_as_int64(
    v: *const interp_value_t,
    n: *mut i64,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    ffi(err, || match &*value(v)? {
        Value::Int(x) => out(n, *x, "n"),
        Value::BigInt(_) => Err(CError::new(
            interp_status_t::INTERP_ERR_CONVERSION,
            "the int does not fit in 64 bits; use interp_value_int_to_decimal",
        )),
        other => Err(kind_error("an int", other)),
    })
}

/// Any `int` as decimal text, NUL-terminated, in a new string the caller
/// frees with `interp_string_free`.
#[no_mangle]
pub extern "C" fn interp_value_int_to_decimal(
    v: *const interp_value_t,
    text: *mut *mut c_char,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    ffi(err, || {
        let s = match &*value(v)? {
            Value::Int(x) => x.to_string(),
            Value::BigInt(b) => crate::bigint::to_decimal(b),
            other => return Err(kind_error("an int", other)),
        };
        let c = std::ffi::CString::new(s).expect("digits");
        out(text, c.into_raw(), "text")
    })
}

/// Frees a string returned by interp (NULL does nothing).
///
/// # Safety
/// `s` must come from an interp function documented to return an owned
/// string, and must not be used afterwards.
#[no_mangle]
pub unsafe extern "C" fn interp_string_free(s: *mut c_char) {
    if !s.is_null() {
        // SAFETY: made by CString::into_raw in this crate.
        drop(unsafe { std::ffi::CString::from_raw(s) });
    }
}

/// A `float` (an `int` that fits in 64 bits converts too).
#[no_mangle]
pub extern "C" fn interp_value_as_double(
    v: *const interp_value_t,
    x: *mut f64,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    ffi(err, || {
        let val = value(v)?;
        match val.as_f64() {
            Some(f) => out(x, f, "x"),
            None => Err(kind_error("a float", &val)),
        }
    })
}

/// The UTF-8 text of a `str`: its address and length (not NUL-terminated;
/// may contain NULs). Owned by the value: valid until `interp_value_free`.
#[no_mangle]
pub extern "C" fn interp_value_as_str(
    v: *const interp_value_t,
    data: *mut *const c_char,
    len: *mut usize,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    ffi(err, || match &*value(v)? {
        // The registry keeps the Arc<str> alive until the handle is freed.
        Value::Str(s) => {
            out(data, s.as_ptr().cast(), "data")?;
            out(len, s.len(), "len")
        }
        other => Err(kind_error("a str", other)),
    })
}

/// The bytes of a `bytes` value: address and length. Owned by the value.
#[no_mangle]
pub extern "C" fn interp_value_as_bytes(
    v: *const interp_value_t,
    data: *mut *const c_void,
    len: *mut usize,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    ffi(err, || match &*value(v)? {
        Value::Bytes(b) => {
            out(data, b.as_ptr().cast(), "data")?;
            out(len, b.len(), "len")
        }
        other => Err(kind_error("bytes", other)),
    })
}

/// The number of items of a tuple, list, set, frozenset or dict, or the
/// length of a str (bytes of UTF-8) or bytes value.
#[no_mangle]
pub extern "C" fn interp_value_len(
    v: *const interp_value_t,
    len: *mut usize,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    ffi(err, || {
        let val = value(v)?;
        let n = match &*val {
            Value::Str(s) => s.len(),
            Value::Bytes(b) => b.len(),
            Value::Dict(d) => d.len(),
            other => other
                .as_seq()
                .map(<[Value]>::len)
                .ok_or_else(|| kind_error("a container", other))?,
        };
        out(len, n, "len")
    })
}

/// Item `index` of a tuple, list, set or frozenset, as a new handle.
#[no_mangle]
pub extern "C" fn interp_value_item(
    v: *const interp_value_t,
    index: usize,
    item: *mut *mut interp_value_t,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    make(item, err, || {
        let val = value(v)?;
        let items = val
            .as_seq()
            .ok_or_else(|| kind_error("a tuple, list or set", &val))?;
        items.get(index).cloned().ok_or_else(|| {
            CError::invalid(format!(
                "index {index} is out of range for a container of {} items",
                items.len()
            ))
        })
    })
}

/// Entry `index` of a dict (insertion order): new handles for key and value.
#[no_mangle]
pub extern "C" fn interp_value_dict_item(
    v: *const interp_value_t,
    index: usize,
    key: *mut *mut interp_value_t,
    val: *mut *mut interp_value_t,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    ffi(err, || {
        if key.is_null() || val.is_null() {
            return Err(CError::invalid("`key` or `val` (out-parameters) is NULL"));
        }
        let d = value(v)?;
        let items = d.as_dict().ok_or_else(|| kind_error("a dict", &d))?;
        let (k, x) = items.get(index).ok_or_else(|| {
            CError::invalid(format!(
                "index {index} is out of range for a dict of {} items",
                items.len()
            ))
        })?;
        out(key, new_value(k.clone()), "key")?;
        out(val, new_value(x.clone()), "val")
    })
}

/// 1 when two values are equal (as `Value`'s exact equality), else 0.
#[no_mangle]
pub extern "C" fn interp_value_equal(
    a: *const interp_value_t,
    b: *const interp_value_t,
    equal: *mut c_int,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    ffi(err, || {
        out(equal, (*value(a)? == *value(b)?) as c_int, "equal")
    })
}
