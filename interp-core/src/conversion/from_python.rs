//! Python -> Value: an interpreter-independent [`Value`] for a Python
//! object (exact types natively, interp's own objects by reference, the rest
//! pickled).

use std::collections::HashMap;

use interp_sys as sys;

use super::too_deep;
use crate::error::{size_text, Error, Result};
use crate::module;
use crate::scope::{Bound, Python};
use crate::shared::Shared;
use crate::value::{Value, MAX_DEPTH};

impl Bound<'_> {
    /// Converts the object into an interpreter-independent [`Value`].
    pub fn to_value(&self) -> Result<Value> {
        from_python(self)
    }

    /// As [`to_value`](Self::to_value), but objects that would travel
    /// pickled are refused.
    pub(crate) fn to_value_no_pickle(&self) -> Result<Value> {
        from_python_no_pickle(self)
    }
}

const TOO_BIG_HINT: &str =
    "(an interp.SharedBuffer passes big data between interpreters without a copy)";

/// A Python object too big to copy out of the interpreter.
fn too_big(what: &str, bytes: usize) -> Error {
    Error::Conversion(format!(
        "cannot copy {what} of {} out of the interpreter: out of memory {TOO_BIG_HINT}",
        size_text(bytes)
    ))
}

/// A (non-ASCII) `str` of `chars` characters whose UTF-8 form Python could
/// not make for lack of memory.
fn too_big_text(chars: isize) -> Error {
    Error::Conversion(format!(
        "cannot copy a str of {chars} characters out of the interpreter: out of memory making \
         its UTF-8 form {TOO_BIG_HINT}"
    ))
}

/// A container with too many items to copy out of the interpreter
/// (`values_per_item` values each).
fn too_many(what: &str, items: usize, values_per_item: usize) -> Error {
    let bytes = items.saturating_mul(values_per_item * std::mem::size_of::<Value>());
    Error::Conversion(format!(
        "cannot copy a {what} of {items} items, {}, out of the interpreter: out of memory \
         {TOO_BIG_HINT}",
        size_text(bytes)
    ))
}

/// State of one Python -> Value conversion: the pickle policy, and the
/// containers already converted (a container reached twice — a DAG — is
/// converted once and shared; the memo keeps the objects alive, so their
/// addresses cannot be reused during the conversion).
struct FromCtx<'py> {
    allow_pickle: bool,
    memo: Option<HashMap<usize, (Bound<'py>, Value)>>,
}

pub(crate) fn from_python(obj: &Bound<'_>) -> Result<Value> {
    from_python_at(
        obj,
        0,
        &mut FromCtx {
            allow_pickle: true,
            memo: None,
        },
    )
}

/// As [`from_python`], but objects that would travel pickled are refused.
pub(crate) fn from_python_no_pickle(obj: &Bound<'_>) -> Result<Value> {
    from_python_at(
        obj,
        0,
        &mut FromCtx {
            allow_pickle: false,
            memo: None,
        },
    )
}

fn from_python_at<'py>(obj: &Bound<'py>, depth: usize, ctx: &mut FromCtx<'py>) -> Result<Value> {
    let allow_pickle = ctx.allow_pickle;
    let py = obj.py();
    let p = obj.as_ptr();
    // SAFETY: (whole block) attached (brand); `p` is a valid object;
    // type checks precede the type-specific accessors; borrowed items are
    // turned into owned `Bound`s before any call that could run Python code.
    unsafe {
        if obj.is_none() {
            return Ok(Value::None);
        }
        if sys::PyBool_Check(p) != 0 {
            return Ok(Value::Bool(p == sys::Py_True()));
        }
        if sys::PyLong_CheckExact(p) != 0 {
            let mut overflow = 0;
            let n = sys::PyLong_AsLongLongAndOverflow(p, &mut overflow);
            if overflow == 0 {
                if n == -1 && !sys::PyErr_Occurred().is_null() {
                    return Err(py.take_error());
                }
                return Ok(Value::Int(n));
            }
            return big_int_from_python(obj);
        }
        if sys::PyFloat_CheckExact(p) != 0 {
            return Ok(Value::Float(sys::PyFloat_AsDouble(p)));
        }
        if sys::PyComplex_CheckExact(p) != 0 {
            return Ok(Value::Complex {
                re: sys::PyComplex_RealAsDouble(p),
                im: sys::PyComplex_ImagAsDouble(p),
            });
        }
        if sys::PyUnicode_CheckExact(p) != 0 {
            if let Some(s) = obj.utf8() {
                return Shared::try_copy(s)
                    .map(Value::Str)
                    .map_err(|_| too_big("a str", s.len()));
            }
            // Lone surrogates: not UTF-8; kept exact through pickle.
            if sys::PyErr_ExceptionMatches(sys::PyExc_UnicodeEncodeError) != 0 {
                sys::PyErr_Clear();
                return pickle(obj, allow_pickle);
            }
            // No memory for the UTF-8 form (which a non-ASCII str makes on
            // first use): pickling would fail the same way.
            if sys::PyErr_ExceptionMatches(sys::PyExc_MemoryError) != 0 {
                sys::PyErr_Clear();
                return Err(too_big_text(sys::PyUnicode_GetLength(p)));
            }
            return Err(py.take_error());
        }
        if sys::PyBytes_CheckExact(p) != 0 {
            return copy_bytes(obj, "a bytes object").map(Value::Bytes);
        }
        let is_tuple = sys::PyTuple_CheckExact(p) != 0;
        let is_list = sys::PyList_CheckExact(p) != 0;
        let is_dict = sys::PyDict_CheckExact(p) != 0;
        let is_set = sys::PySet_CheckExact(p) != 0;
        let is_frozen = sys::PyFrozenSet_CheckExact(p) != 0;
        if !(is_tuple || is_list || is_dict || is_set || is_frozen) {
            if let Some(v) = module::shared_value(py, obj) {
                return Ok(v);
            }
            return pickle(obj, allow_pickle);
        }
        if depth >= MAX_DEPTH {
            return Err(too_deep());
        }
        if let Some((_, v)) = ctx.memo.as_ref().and_then(|m| m.get(&(p as usize))) {
            return Ok(v.clone());
        }
        let v = from_python_container(py, obj, depth, ctx, is_tuple, is_list, is_dict, is_set)?;
        ctx.memo
            .get_or_insert_with(HashMap::new)
            .insert(p as usize, (obj.clone(), v.clone()));
        Ok(v)
    }
}

#[allow(clippy::too_many_arguments)]
fn from_python_container<'py>(
    py: Python<'py>,
    obj: &Bound<'py>,
    depth: usize,
    ctx: &mut FromCtx<'py>,
    is_tuple: bool,
    is_list: bool,
    is_dict: bool,
    is_set: bool,
) -> Result<Value> {
    let p = obj.as_ptr();
    // SAFETY: (whole block) attached; `p` is a container of the checked
    // type; borrowed items become owned `Bound`s before any call that could
    // run Python code.
    unsafe {
        if is_dict {
            // Snapshot the items: converting an element may run Python code
            // (pickling) that mutates the dict.
            let items = py.from_owned_ptr(sys::PyDict_Items(p))?;
            let n = sys::PyList_GET_SIZE(items.as_ptr()) as usize;
            let pairs = Shared::try_build(
                n,
                |_| too_many("dict", n, 2),
                |i| {
                    let pair = py.from_borrowed_ptr(sys::PyList_GET_ITEM(items.as_ptr(), i as _));
                    let k = py.from_borrowed_ptr(sys::PyTuple_GET_ITEM(pair.as_ptr(), 0));
                    let v = py.from_borrowed_ptr(sys::PyTuple_GET_ITEM(pair.as_ptr(), 1));
                    Ok((
                        from_python_at(&k, depth + 1, ctx)?,
                        from_python_at(&v, depth + 1, ctx)?,
                    ))
                },
            )?;
            return Ok(Value::Dict(pairs));
        }
        // Sequences and sets: a snapshot as a tuple (list and set contents
        // could change while elements are converted).
        let snapshot = if is_tuple {
            obj.clone()
        } else {
            py.from_owned_ptr(sys::PySequence_Tuple(p))?
        };
        let n = sys::PyTuple_GET_SIZE(snapshot.as_ptr()) as usize;
        let items = Shared::try_build(
            n,
            |_| too_many(&obj.type_name(), n, 1),
            |i| {
                let item = py.from_borrowed_ptr(sys::PyTuple_GET_ITEM(snapshot.as_ptr(), i as _));
                from_python_at(&item, depth + 1, ctx)
            },
        )?;
        Ok(if is_tuple {
            Value::Tuple(items)
        } else if is_list {
            Value::List(items)
        } else if is_set {
            Value::Set(items)
        } else {
            Value::FrozenSet(items)
        })
    }
}

fn big_int_from_python(obj: &Bound<'_>) -> Result<Value> {
    let py = obj.py();
    let bits = obj.getattr("bit_length")?.call(&[], &[])?.to_value()?;
    let bits = bits
        .as_i64()
        .ok_or_else(|| Error::Conversion("int.bit_length() is not an int".into()))?;
    let len = py.value(&Value::Int(bits / 8 + 1))?;
    let little = py.str("little")?;
    let signed = py.value(&Value::Bool(true))?;
    let b = obj
        .getattr("to_bytes")?
        .call(&[len, little], &[("signed", signed)])?;
    Value::int_from_le_shared(copy_bytes(&b, "an int")?, |n| too_big("an int", n))
}

/// A copy of the contents of a `bytes` object, allocated fallibly (`what`
/// names the object in errors).
fn copy_bytes(b: &Bound<'_>, what: &str) -> Result<Shared<[u8]>> {
    let p = b.as_ptr();
    // SAFETY: attached (brand); the type is checked before the accessors;
    // the data stays valid while `b` holds the (immutable) object.
    unsafe {
        if sys::PyBytes_CheckExact(p) == 0 {
            return Err(Error::Conversion(format!(
                "{what}: expected bytes, got a '{}' object",
                b.type_name()
            )));
        }
        let data = sys::PyBytes_AsString(p).cast::<u8>();
        let len = sys::PyBytes_Size(p) as usize;
        Shared::try_copy(std::slice::from_raw_parts(data, len)).map_err(|_| too_big(what, len))
    }
}

fn pickle(obj: &Bound<'_>, allow: bool) -> Result<Value> {
    let py = obj.py();
    if !allow || !module::pickle_allowed(py) {
        return Err(Error::Conversion(format!(
            "cannot send a '{}' object to another interpreter: it is not one of the natively shared \
             types (None, bool, int, float, complex, str, bytes, tuple, list, dict, set, frozenset, \
             SharedBuffer, Channel, Frozen) and the pickle fallback is off \
             (interp.set_pickle_fallback(True) turns it on)",
            obj.type_name()
        )));
    }
    let dumps = py.lookup("pickle", "dumps")?;
    let protocol = py.value(&Value::Int(5))?;
    match dumps.call(&[obj.clone(), protocol], &[]) {
        Ok(b) => copy_bytes(
            &b,
            &format!("the pickle of a '{}' object", obj.type_name()),
        )
        .map(Value::Pickled),
        Err(e) => Err(Error::Conversion(format!(
            "cannot send a '{}' object to another interpreter: it is not one of the natively shared \
             types (None, bool, int, float, complex, str, bytes, tuple, list, dict, set, frozenset) and \
             pickling it failed: {e}",
            obj.type_name()
        ))),
    }
}
