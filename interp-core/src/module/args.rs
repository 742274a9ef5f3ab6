//! Argument parsing for the methods of interp's Python types: the
//! positional-or-keyword arguments of a `METH_VARARGS | METH_KEYWORDS` call,
//! checked as Python checks them, and timeouts.

use std::ffi::CStr;
use std::ptr::null_mut;
use std::time::{Duration, Instant};

use interp_sys as sys;
use sys::{PyObject, Py_ssize_t};

use super::trampoline::borrowed;
use crate::error::{Error, Result};
use crate::scope::{Bound, Python};

/// Positional-or-keyword argument `i`/`name` of a VARARGS|KEYWORDS call.
/// Unknown keywords are reported by `check_args`.
///
/// # Safety
/// `args` must be a tuple or NULL, `kwargs` a dict or NULL (CPython's
/// contract for such calls), both of the attached interpreter.
pub(super) unsafe fn arg<'py>(
    py: Python<'py>,
    args: *mut PyObject,
    kwargs: *mut PyObject,
    i: usize,
    name: &CStr,
) -> Option<Bound<'py>> {
    // SAFETY: args is a tuple, kwargs NULL or a dict (CPython's contract).
    unsafe {
        if !args.is_null() && (i as Py_ssize_t) < sys::PyTuple_GET_SIZE(args) {
            return Some(borrowed(py, sys::PyTuple_GET_ITEM(args, i as Py_ssize_t)));
        }
        if !kwargs.is_null() {
            let v = sys::PyDict_GetItemString(kwargs, name.as_ptr());
            if !v.is_null() {
                return Some(borrowed(py, v));
            }
        }
        None
    }
}

/// Checks the arguments of a call of `func(names...)`: at most
/// `names.len()` positional arguments, and keywords that name a parameter
/// not already given positionally.
///
/// # Safety
/// As [`arg`].
pub(super) unsafe fn check_args(
    args: *mut PyObject,
    kwargs: *mut PyObject,
    names: &[&str],
    func: &str,
) -> Result<()> {
    let n = if args.is_null() {
        0
    } else {
        // SAFETY: a non-NULL `args` is a tuple (the caller's contract).
        unsafe { sys::PyTuple_GET_SIZE(args) as usize }
    };
    check_positional(func, names, n)?;
    if kwargs.is_null() {
        return Ok(());
    }
    let mut pos: Py_ssize_t = 0;
    let (mut k, mut v) = (null_mut(), null_mut());
    // SAFETY: a non-NULL `kwargs` is a dict (the caller's contract); no
    // Python code runs while it is iterated.
    while unsafe { sys::PyDict_Next(kwargs, &mut pos, &mut k, &mut v) } != 0 {
        // SAFETY: `k` is a key of `kwargs`, alive while the dict is.
        check_keyword(func, names, n, unsafe { keyword(k) })?;
    }
    Ok(())
}

/// The keyword `k` as [`check_keyword`] sees it (borrowing its text).
///
/// # Safety
/// `k` must be an object of the attached interpreter that lives for `'k`.
unsafe fn keyword<'k>(k: *mut PyObject) -> Keyword<'k> {
    let mut len = 0;
    // SAFETY: attached; AsUTF8AndSize type-checks `k` and returns NULL with
    // an exception set, or its UTF-8 form.
    let p = unsafe { sys::PyUnicode_AsUTF8AndSize(k, &mut len) };
    if !p.is_null() {
        // SAFETY: `len` bytes of UTF-8 at `p`, cached in `k` (immutable) and
        // living as long as it.
        let text = unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len as usize) };
        // SAFETY: CPython made these bytes as UTF-8.
        return Keyword::Name(unsafe { std::str::from_utf8_unchecked(text) });
    }
    // SAFETY: attached; AsUTF8AndSize left an exception set.
    unsafe { sys::PyErr_Clear() };
    // SAFETY: attached; a type check of a live object.
    if unsafe { sys::PyUnicode_Check(k) } == 0 {
        return Keyword::NotStr;
    }
    // SAFETY: `k` is a live object of the attached interpreter; the token
    // does not outlive this call.
    let key = unsafe { borrowed(Python::assume_attached(), k) };
    Keyword::NotUtf8(key.str_contents_escaped().unwrap_or_default())
}

/// A keyword of a call, as [`check_keyword`] sees it.
#[derive(Debug)]
enum Keyword<'k> {
    /// A `str` key.
    Name(&'k str),
    /// A `str` key that is not UTF-8 (lone surrogates), escaped for
    /// display: it cannot name a parameter.
    NotUtf8(String),
    /// A key that is not a `str`.
    NotStr,
}

/// Refuses more than `names.len()` positional arguments.
fn check_positional(func: &str, names: &[&str], given: usize) -> Result<()> {
    if given > names.len() {
        return Err(type_error(format!(
            "{func}() takes at most {} arguments ({given} given)",
            names.len()
        )));
    }
    Ok(())
}

/// Refuses a keyword that names no parameter of `names`, or one of the
/// first `positional` (given positionally already).
fn check_keyword(func: &str, names: &[&str], positional: usize, key: Keyword<'_>) -> Result<()> {
    let key = match key {
        Keyword::Name(k) => k,
        Keyword::NotUtf8(escaped) => return Err(unexpected_keyword(func, &escaped)),
        Keyword::NotStr => return Err(type_error(format!("{func}() keywords must be strings"))),
    };
    match names.iter().position(|n| *n == key) {
        None => Err(unexpected_keyword(func, key)),
        Some(i) if i < positional => Err(type_error(format!(
            "{func}() got multiple values for argument '{key}'"
        ))),
        Some(_) => Ok(()),
    }
}

fn unexpected_keyword(func: &str, key: &str) -> Error {
    type_error(format!(
        "{func}() got an unexpected keyword argument '{key}'"
    ))
}

/// The error raised as `TypeError`.
pub(super) fn type_error(msg: String) -> Error {
    Error::Conversion(msg)
}

/// A timeout argument: None (no deadline) or seconds >= 0.
pub(super) fn deadline(timeout: Option<Bound<'_>>) -> Result<Option<Instant>> {
    let Some(t) = timeout.filter(|t| !t.is_none()) else {
        return Ok(None);
    };
    let wait = timeout_duration(t.to_value()?.as_f64(), || t.type_name())?;
    Ok(Some(Instant::now() + wait))
}

/// The wait a timeout of `secs` seconds asks for (`None`: the argument is
/// not a number, its type named by `type_name`), capped at 10^9 seconds.
fn timeout_duration(secs: Option<f64>, type_name: impl FnOnce() -> String) -> Result<Duration> {
    let secs = secs.filter(|s| s.is_finite()).ok_or_else(|| {
        type_error(format!(
            "timeout must be None or a number of seconds, not '{}'",
            type_name()
        ))
    })?;
    if secs < 0.0 {
        return Err(Error::InvalidArgument(format!(
            "timeout must be >= 0, got {secs}"
        )));
    }
    Ok(Duration::from_secs_f64(secs.min(1e9)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: &[&str] = &["obj", "timeout"];

    fn conversion(r: Result<impl std::fmt::Debug>) -> String {
        match r {
            Err(Error::Conversion(m)) => m,
            other => panic!("expected a conversion (TypeError) error, got {other:?}"),
        }
    }

    #[test]
    fn positional_arguments_are_counted() {
        assert_eq!(check_positional("send", NAMES, 0), Ok(()));
        assert_eq!(check_positional("send", NAMES, 2), Ok(()));
        assert_eq!(
            conversion(check_positional("send", NAMES, 3)),
            "send() takes at most 2 arguments (3 given)"
        );
    }

    #[test]
    fn keywords_must_name_a_parameter_not_given_yet() {
        let ok = |positional, key| check_keyword("send", NAMES, positional, Keyword::Name(key));
        assert_eq!(ok(0, "obj"), Ok(()));
        assert_eq!(ok(1, "timeout"), Ok(()));
        assert_eq!(
            conversion(ok(1, "obj")),
            "send() got multiple values for argument 'obj'"
        );
        assert_eq!(
            conversion(ok(2, "timeout")),
            "send() got multiple values for argument 'timeout'"
        );
        assert_eq!(
            conversion(ok(0, "Obj")),
            "send() got an unexpected keyword argument 'Obj'"
        );
    }

    #[test]
    fn keywords_that_are_not_utf8_strings_are_refused() {
        let escaped = Keyword::NotUtf8("\\udcff".into());
        assert_eq!(
            conversion(check_keyword("recv", NAMES, 0, escaped)),
            "recv() got an unexpected keyword argument '\\udcff'"
        );
        assert_eq!(
            conversion(check_keyword("recv", NAMES, 0, Keyword::NotStr)),
            "recv() keywords must be strings"
        );
    }

    #[test]
    fn timeouts_are_finite_non_negative_seconds() {
        let wait = |secs| timeout_duration(secs, || "str".into());
        assert_eq!(wait(Some(0.0)), Ok(Duration::ZERO));
        assert_eq!(wait(Some(-0.0)), Ok(Duration::ZERO));
        assert_eq!(wait(Some(1.5)), Ok(Duration::from_millis(1500)));
        // Longer waits are capped (about 31 years), so the deadline fits.
        assert_eq!(wait(Some(1e300)), Ok(Duration::from_secs(1_000_000_000)));
        assert_eq!(
            wait(Some(-1.0)),
            Err(Error::InvalidArgument(
                "timeout must be >= 0, got -1".into()
            ))
        );
        let not_a_number = "timeout must be None or a number of seconds, not 'str'";
        assert_eq!(conversion(wait(None)), not_a_number);
        let float = |secs| timeout_duration(Some(secs), || "float".into());
        for secs in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(
                conversion(float(secs)),
                "timeout must be None or a number of seconds, not 'float'",
                "for {secs}"
            );
        }
    }
}
