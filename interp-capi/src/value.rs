//! Values from C (`interp_value_t`): constructors, accessors, buffers.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::Arc;

use interp_core::{Shared, SharedBuffer, Value};

use crate::error::{ffi, interp_error_t, interp_status_t, need_out, out, CError};
use crate::handle::Registry;

/// An interpreter-independent Python value. Free with `interp_value_free`.
#[derive(Debug)]
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
    Ok(VALUES.get(h)?)
}

/// Stores a new handle for `v` in `*p`. A NULL `p` is refused before the
/// handle is made, so nothing leaks.
pub(crate) fn out_value(p: *mut *mut interp_value_t, v: Value, name: &str) -> Result<(), CError> {
    need_out(p, name)?;
    out(p, new_value(v), name)
}

/// Refuses a length of `n` items of `T` that no memory can hold (reading
/// such a slice would be undefined behavior).
fn check_len<T>(n: usize, what: &str) -> Result<(), CError> {
    if n > isize::MAX as usize / std::mem::size_of::<T>().max(1) {
        return Err(CError::invalid(format!(
            "the length of `{what}` ({n}) is larger than any array can be"
        )));
    }
    Ok(())
}

/// The handles of an array (NULL is allowed when `n` is 0).
fn handles<'a>(
    items: *const *const interp_value_t,
    n: usize,
    what: &str,
) -> Result<&'a [*const interp_value_t], CError> {
    if n == 0 {
        return Ok(&[]);
    }
    if items.is_null() {
        return Err(CError::invalid(format!(
            "`{what}` is NULL but its count is {n}"
        )));
    }
    check_len::<*const interp_value_t>(n, what)?;
    // SAFETY: the caller passes `n` readable handles (a length that fits
    // in memory, checked above).
    Ok(unsafe { std::slice::from_raw_parts(items, n) })
}

/// Values from an array of handles (NULL is allowed when `n` is 0),
/// allocated fallibly.
pub(crate) fn values(
    items: *const *const interp_value_t,
    n: usize,
    what: &str,
) -> Result<Vec<Value>, CError> {
    let hs = handles(items, n, what)?;
    let mut out = Vec::new();
    out.try_reserve_exact(n).map_err(|_| {
        CError::out_of_memory(
            &format!("{n} values (`{what}`)"),
            n.saturating_mul(std::mem::size_of::<Value>()),
        )
    })?;
    for h in hs {
        out.push((*value(*h)?).clone());
    }
    Ok(out)
}

/// As [`values`], as the shared items of a container.
fn shared_values(
    items: *const *const interp_value_t,
    n: usize,
    what: &str,
) -> Result<Shared<[Value]>, CError> {
    let hs = handles(items, n, what)?;
    Shared::try_from_fn(n, |i| Ok((*value(hs[i])?).clone()))
}

/// Bytes from (pointer, length); NULL is allowed when `len` is 0.
fn bytes_arg<'a>(data: *const c_void, len: usize, what: &str) -> Result<&'a [u8], CError> {
    if data.is_null() {
        return if len == 0 {
            Ok(&[])
        } else {
            Err(CError::invalid(format!("`{what}` is NULL")))
        };
    }
    check_len::<u8>(len, what)?;
    // SAFETY: the caller passes `len` readable bytes (non-NULL, and a
    // length that fits in memory, checked above).
    Ok(unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len) })
}

/// UTF-8 text from (pointer, length).
pub(crate) fn utf8<'a>(s: *const c_char, len: usize, what: &str) -> Result<&'a str, CError> {
    let b = bytes_arg(s.cast(), len, what)?;
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
fn container(
    items: Shared<[Value]>,
    make: impl FnOnce(Shared<[Value]>) -> Value,
) -> Result<Value, CError> {
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
        out_value(out_p, f()?, "out")
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
/// NUL-terminated UTF-8): an optional sign (`+` or `-`), then the ASCII
/// digits `0`-`9`, single `_` separators between digits allowed.
/// Surrounding whitespace is ignored: the Unicode `White_Space` characters
/// (space, `\t\n\v\f\r`, U+0085, U+00A0, U+3000, ...), the ones Python's
/// `int(text)` strips. Unlike `int(text)`, other Unicode decimal digits
/// (Arabic-Indic `"١٢"`, fullwidth `"１２"`, ...) are refused
/// (`INTERP_ERR_INVALID_ARGUMENT`). At most `INTERP_INT_MAX_DIGITS` digits
/// (`INTERP_ERR_INVALID_ARGUMENT` beyond: use `interp_value_int_from_bytes`
/// for bigger ints). Subquadratic time; `INTERP_ERR_OUT_OF_MEMORY` when its
/// working memory cannot be had.
#[no_mangle]
pub extern "C" fn interp_value_int_from_decimal(
    text: *const c_char,
    out: *mut *mut interp_value_t,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    make(out, err, || {
        crate::bigint::parse_decimal(cstr(text, "text")?)
    })
}

/// New `int` of any size from `len` little-endian bytes, as Python's
/// `int.from_bytes(data, "little", signed=bool(is_signed))`: two's
/// complement when `is_signed` is non-zero, else an unsigned magnitude.
/// Linear time, no size limit beyond memory (`INTERP_ERR_OUT_OF_MEMORY`
/// when the copy cannot be allocated); `len` 0 is 0.
#[no_mangle]
pub extern "C" fn interp_value_int_from_bytes(
    data: *const c_void,
    len: usize,
    is_signed: c_int,
    out: *mut *mut interp_value_t,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    make(out, err, || {
        let b = match bytes_arg(data, len, "data")? {
            [] => &[0u8][..],
            b => b,
        };
        if is_signed != 0 || b[b.len() - 1] & 0x80 == 0 {
            return Ok(Value::try_int_from_le_bytes(b)?);
        }
        // An unsigned magnitude with its top bit set: one more byte for the
        // sign.
        let mut v = Vec::new();
        v.try_reserve_exact(len + 1)
            .map_err(|_| CError::out_of_memory("an int", len + 1))?;
        v.extend_from_slice(b);
        v.push(0);
        Ok(Value::try_int_from_le_bytes(&v)?)
    })
}

/// The bytes of any `int`: little-endian two's complement, shortest form
/// (as `n.to_bytes(length, "little", signed=True)` with the smallest
/// `length`; one byte for 0). Linear time, no size limit.
///
/// Stores the length in `*len` always (for an int). With `buf` NULL (and
/// `cap` 0) that is all: a size query, `INTERP_OK`. Otherwise the bytes go
/// to `buf` when they fit (`*len <= cap`); when they do not, nothing is
/// written to `buf` and the call fails with `INTERP_ERR_INVALID_ARGUMENT`
/// ("buffer too small"), `*len` telling the size needed.
#[no_mangle]
pub extern "C" fn interp_value_int_to_bytes(
    v: *const interp_value_t,
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    ffi(err, || {
        need_out(len, "len")?;
        if buf.is_null() && cap > 0 {
            return Err(CError::invalid(format!("`buf` is NULL but `cap` is {cap}")));
        }
        let val = value(v)?;
        let bytes = val
            .int_to_le_bytes()
            .ok_or_else(|| kind_error("an int", &val))?;
        out(len, bytes.len(), "len")?;
        if buf.is_null() {
            return Ok(());
        }
        if bytes.len() > cap {
            return Err(CError::invalid(format!(
                "buffer too small: the int needs {} bytes, `cap` is {cap} (`*len` has the size; \
                 pass `buf` NULL to ask for it alone)",
                bytes.len()
            )));
        }
        // SAFETY: `buf` is writable for `cap` bytes (non-NULL, checked
        // above) and cannot overlap the value's own bytes.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf.cast::<u8>(), bytes.len()) };
        Ok(())
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
/// `INTERP_ERR_INVALID_ARGUMENT`; `INTERP_ERR_OUT_OF_MEMORY` when the copy
/// cannot be allocated.
#[no_mangle]
pub extern "C" fn interp_value_str(
    utf8_text: *const c_char,
    len: usize,
    out: *mut *mut interp_value_t,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    make(out, err, || {
        Ok(Value::try_str(utf8(utf8_text, len, "utf8_text")?)?)
    })
}

/// New `bytes` (copied; `INTERP_ERR_OUT_OF_MEMORY` when the copy cannot be
/// allocated).
#[no_mangle]
pub extern "C" fn interp_value_bytes(
    data: *const c_void,
    len: usize,
    out: *mut *mut interp_value_t,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    make(out, err, || {
        Ok(Value::try_bytes(bytes_arg(data, len, "data")?)?)
    })
}

/// New `tuple` of `n` items (borrowed; the tuple holds its own copies).
/// `INTERP_ERR_OUT_OF_MEMORY` when room for `n` items cannot be had.
#[no_mangle]
pub extern "C" fn interp_value_tuple(
    items: *const *const interp_value_t,
    n: usize,
    out: *mut *mut interp_value_t,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    make(out, err, || {
        container(shared_values(items, n, "items")?, Value::Tuple)
    })
}

/// New `list` of `n` items (borrowed; `INTERP_ERR_OUT_OF_MEMORY` as for
/// `interp_value_tuple`).
#[no_mangle]
pub extern "C" fn interp_value_list(
    items: *const *const interp_value_t,
    n: usize,
    out: *mut *mut interp_value_t,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    make(out, err, || {
        container(shared_values(items, n, "items")?, Value::List)
    })
}

/// New `dict` from `n` keys and `n` values (borrowed), in order
/// (`INTERP_ERR_OUT_OF_MEMORY` as for `interp_value_tuple`).
#[no_mangle]
pub extern "C" fn interp_value_dict(
    keys: *const *const interp_value_t,
    vals: *const *const interp_value_t,
    n: usize,
    out: *mut *mut interp_value_t,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    make(out, err, || {
        let k = handles(keys, n, "keys")?;
        let v = handles(vals, n, "vals")?;
        let pairs = Shared::try_from_fn(n, |i| {
            Ok::<_, CError>(((*value(k[i])?).clone(), (*value(v[i])?).clone()))
        })?;
        check_depth(
            pairs
                .iter()
                .map(|(k, v)| k.depth().max(v.depth()))
                .max()
                .unwrap_or(0),
        )?;
        Ok(Value::Dict(pairs))
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
        bytes_arg(data, len, "data")?; // non-NULL unless empty; a length that fits
        let fmt = if format.is_null() {
            "B"
        } else {
            cstr(format, "format")?
        };
        if shape.is_null() && ndim != 0 {
            return Err(CError::invalid(format!(
                "`shape` is NULL but `ndim` is {ndim}"
            )));
        }
        if ndim > 64 {
            return Err(CError::invalid(format!(
                "a buffer has at most 64 dimensions, got {ndim}"
            )));
        }
        // Validate the layout before taking ownership: on error `release`
        // must not run (the caller still owns the memory).
        let dims: Vec<usize> = if ndim == 0 {
            // One flat dimension of whole items (the layout of one item
            // gives the item size, or the error for a bad format).
            vec![len / SharedBuffer::layout_size(fmt, &[1])?]
        } else {
            // SAFETY: the caller passes `ndim` (at most 64) readable sizes.
            unsafe { std::slice::from_raw_parts(shape, ndim) }.to_vec()
        };
        let nbytes = SharedBuffer::layout_size(fmt, &dims)?;
        if nbytes != len {
            return Err(CError::invalid(format!(
                "shape {dims:?} with format {fmt:?} covers {nbytes} bytes, not the {len} bytes given"
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
/// `INTERP_ERR_OUT_OF_MEMORY` when the memory cannot be had
/// (`INTERP_ERR_INVALID_ARGUMENT` for a `len` larger than any allocation
/// can be).
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
    ffi(std::ptr::null_mut(), || Ok(VALUES.remove(v).map(drop)?))
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
/// `interp_value_int_to_bytes` or `interp_value_int_to_decimal` for any
/// size).
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
            "the int does not fit in 64 bits; use interp_value_int_to_bytes or \
             interp_value_int_to_decimal",
        )),
        other => Err(kind_error("an int", other)),
    })
}

/// Any `int` as decimal text, NUL-terminated, in a new string the caller
/// frees with `interp_string_free`. At most `INTERP_INT_MAX_DIGITS` digits
/// (`INTERP_ERR_INVALID_ARGUMENT` beyond, refused before any work when the
/// int's bit length alone rules it out: use `interp_value_int_to_bytes`).
/// Subquadratic time; `INTERP_ERR_OUT_OF_MEMORY` when its working memory
/// cannot be had.
#[no_mangle]
pub extern "C" fn interp_value_int_to_decimal(
    v: *const interp_value_t,
    text: *mut *mut c_char,
    err: *mut *mut interp_error_t,
) -> interp_status_t {
    ffi(err, || {
        // Check the out-parameter before making the string it would own.
        need_out(text, "text")?;
        let s = match &*value(v)? {
            Value::Int(x) => x.to_string(),
            Value::BigInt(b) => crate::bigint::to_decimal(b)?,
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
        out_value(key, k.clone(), "key")?;
        out_value(val, x.clone(), "val")
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
