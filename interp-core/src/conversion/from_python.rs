//! Python -> Value: an interpreter-independent [`Value`] for a Python
//! object (exact types natively, interp's own objects by reference, the rest
//! pickled).

use std::collections::HashMap;

use interp_sys as sys;

use super::too_deep;
use crate::error::{size_text, Error, Result};
use crate::module;
use crate::scope::Bound;
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
    // The materialization cache (materialize.rs): an immutable object this
    // interpreter converted (or made) before gives the same Value.
    let ticket = match crate::materialize::value_for(obj) {
        crate::materialize::Found::Cached(v) => return Ok(v),
        crate::materialize::Found::Missing(ticket) => ticket,
    };
    let v = from_python_obj(obj, depth, ctx)?;
    ticket.made_value(obj, &v);
    Ok(v)
}

fn from_python_obj<'py>(obj: &Bound<'py>, depth: usize, ctx: &mut FromCtx<'py>) -> Result<Value> {
    let p = obj.as_ptr();
    match kind_of(obj) {
        Kind::None => Ok(Value::None),
        // SAFETY: reading the address of the immortal `True`.
        Kind::Bool => Ok(Value::Bool(p == unsafe { sys::Py_True() })),
        Kind::Int => int_from_python(obj),
        // SAFETY: attached (brand); `p` is exactly a float.
        Kind::Float => Ok(Value::Float(unsafe { sys::PyFloat_AsDouble(p) })),
        Kind::Complex => {
            // SAFETY: attached (brand); `p` is exactly a complex.
            let (re, im) = unsafe {
                (
                    sys::PyComplex_RealAsDouble(p),
                    sys::PyComplex_ImagAsDouble(p),
                )
            };
            Ok(Value::Complex { re, im })
        }
        Kind::Str => str_from_python(obj, ctx.allow_pickle),
        Kind::Bytes => copy_bytes(obj, "a bytes object").map(Value::Bytes),
        Kind::Dict => memoized(obj, depth, ctx, |ctx| dict_from_python(obj, depth, ctx)),
        Kind::Seq(seq) => memoized(obj, depth, ctx, |ctx| seq_from_python(obj, depth, ctx, seq)),
        Kind::Other => match module::shared_value(obj.py(), obj) {
            Some(v) => Ok(v),
            None => pickle(obj, ctx.allow_pickle),
        },
    }
}

/// How an object converts, by its exact type (subclasses are `Other`).
#[derive(Clone, Copy)]
enum Kind {
    None,
    Bool,
    Int,
    Float,
    Complex,
    Str,
    Bytes,
    Dict,
    Seq(Seq),
    Other,
}

/// The containers converted from a snapshot tuple of their items.
#[derive(Clone, Copy)]
enum Seq {
    Tuple,
    List,
    Set,
    FrozenSet,
}

fn kind_of(obj: &Bound<'_>) -> Kind {
    let p = obj.as_ptr();
    // SAFETY: attached (brand) and `p` is a live object: each check only
    // reads its type.
    unsafe {
        match () {
            _ if obj.is_none() => Kind::None,
            _ if sys::PyBool_Check(p) != 0 => Kind::Bool,
            _ if sys::PyLong_CheckExact(p) != 0 => Kind::Int,
            _ if sys::PyFloat_CheckExact(p) != 0 => Kind::Float,
            _ if sys::PyComplex_CheckExact(p) != 0 => Kind::Complex,
            _ if sys::PyUnicode_CheckExact(p) != 0 => Kind::Str,
            _ if sys::PyBytes_CheckExact(p) != 0 => Kind::Bytes,
            _ if sys::PyTuple_CheckExact(p) != 0 => Kind::Seq(Seq::Tuple),
            _ if sys::PyList_CheckExact(p) != 0 => Kind::Seq(Seq::List),
            _ if sys::PyDict_CheckExact(p) != 0 => Kind::Dict,
            _ if sys::PySet_CheckExact(p) != 0 => Kind::Seq(Seq::Set),
            _ if sys::PyFrozenSet_CheckExact(p) != 0 => Kind::Seq(Seq::FrozenSet),
            _ => Kind::Other,
        }
    }
}

/// An exact `int`: 64 bits, or bigger.
fn int_from_python(obj: &Bound<'_>) -> Result<Value> {
    let mut overflow = 0;
    // SAFETY: attached (brand); `obj` is exactly an int.
    let n = unsafe { sys::PyLong_AsLongLongAndOverflow(obj.as_ptr(), &mut overflow) };
    if overflow != 0 {
        return big_int_from_python(obj);
    }
    // SAFETY: attached; reading the error indicator.
    if n == -1 && unsafe { !sys::PyErr_Occurred().is_null() } {
        return Err(obj.py().take_error());
    }
    Ok(Value::Int(n))
}

/// An exact `str`: its UTF-8 text, or (lone surrogates) its pickle.
fn str_from_python(obj: &Bound<'_>, allow_pickle: bool) -> Result<Value> {
    if let Some(s) = obj.utf8() {
        return Shared::try_copy(s)
            .map(Value::Str)
            .map_err(|_| too_big("a str", s.len()));
    }
    // Lone surrogates: not UTF-8; kept exact through pickle.
    // SAFETY: attached; `utf8` left an exception set.
    if unsafe { sys::PyErr_ExceptionMatches(sys::PyExc_UnicodeEncodeError) } != 0 {
        // SAFETY: attached.
        unsafe { sys::PyErr_Clear() };
        return pickle(obj, allow_pickle);
    }
    // No memory for the UTF-8 form (which a non-ASCII str makes on first
    // use): pickling would fail the same way.
    // SAFETY: attached; `utf8` left an exception set.
    if unsafe { sys::PyErr_ExceptionMatches(sys::PyExc_MemoryError) } != 0 {
        // SAFETY: attached.
        unsafe { sys::PyErr_Clear() };
        // SAFETY: attached; `obj` is a str (GetLength only reads it).
        let chars = unsafe { sys::PyUnicode_GetLength(obj.as_ptr()) };
        return Err(too_big_text(chars));
    }
    Err(obj.py().take_error())
}

/// Converts the container `obj` with `convert`, once per conversion: a
/// container reached again gives the same [`Value`] (see [`FromCtx`]).
fn memoized<'py>(
    obj: &Bound<'py>,
    depth: usize,
    ctx: &mut FromCtx<'py>,
    convert: impl FnOnce(&mut FromCtx<'py>) -> Result<Value>,
) -> Result<Value> {
    if depth >= MAX_DEPTH {
        return Err(too_deep());
    }
    let key = obj.as_ptr() as usize;
    if let Some((_, v)) = ctx.memo.as_ref().and_then(|m| m.get(&key)) {
        return Ok(v.clone());
    }
    let v = convert(ctx)?;
    ctx.memo
        .get_or_insert_with(HashMap::new)
        .insert(key, (obj.clone(), v.clone()));
    Ok(v)
}

/// An exact `dict`, from a snapshot of its items: converting an element
/// may run Python code (pickling) that mutates the dict.
fn dict_from_python<'py>(obj: &Bound<'py>, depth: usize, ctx: &mut FromCtx<'py>) -> Result<Value> {
    let py = obj.py();
    // SAFETY: attached; `obj` is a dict; Items returns a new list or NULL
    // with an exception set.
    let items = unsafe { py.from_owned_ptr(sys::PyDict_Items(obj.as_ptr())) }?;
    // SAFETY: `items` is a list.
    let n = unsafe { sys::PyList_GET_SIZE(items.as_ptr()) } as usize;
    let pairs = Shared::try_build(
        n,
        |_| too_many("dict", n, 2),
        |i| {
            // SAFETY: `i < n`, and the list `items` (reachable from this
            // code only) holds its items.
            let pair =
                unsafe { py.from_borrowed_ptr(sys::PyList_GET_ITEM(items.as_ptr(), i as _)) };
            // SAFETY: `pair` is a (key, value) tuple, holding both.
            let (k, v) = unsafe {
                (
                    py.from_borrowed_ptr(sys::PyTuple_GET_ITEM(pair.as_ptr(), 0)),
                    py.from_borrowed_ptr(sys::PyTuple_GET_ITEM(pair.as_ptr(), 1)),
                )
            };
            Ok((
                from_python_at(&k, depth + 1, ctx)?,
                from_python_at(&v, depth + 1, ctx)?,
            ))
        },
    )?;
    Ok(Value::Dict(pairs))
}

/// An exact tuple, list, set or frozenset, from a snapshot as a tuple (list
/// and set contents could change while elements are converted).
fn seq_from_python<'py>(
    obj: &Bound<'py>,
    depth: usize,
    ctx: &mut FromCtx<'py>,
    seq: Seq,
) -> Result<Value> {
    let py = obj.py();
    let snapshot = match seq {
        Seq::Tuple => obj.clone(),
        // SAFETY: attached; `obj` is iterable; PySequence_Tuple returns a
        // new reference or NULL with an exception set.
        _ => unsafe { py.from_owned_ptr(sys::PySequence_Tuple(obj.as_ptr())) }?,
    };
    // SAFETY: `snapshot` is a tuple.
    let n = unsafe { sys::PyTuple_GET_SIZE(snapshot.as_ptr()) } as usize;
    let items = Shared::try_build(
        n,
        |_| too_many(&obj.type_name(), n, 1),
        |i| {
            // SAFETY: `i < n`, and the tuple `snapshot` holds its items.
            let item =
                unsafe { py.from_borrowed_ptr(sys::PyTuple_GET_ITEM(snapshot.as_ptr(), i as _)) };
            from_python_at(&item, depth + 1, ctx)
        },
    )?;
    Ok(match seq {
        Seq::Tuple => Value::Tuple(items),
        Seq::List => Value::List(items),
        Seq::Set => Value::Set(items),
        Seq::FrozenSet => Value::FrozenSet(items),
    })
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
