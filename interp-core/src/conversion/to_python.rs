//! Value -> Python: a fresh object in the attached interpreter for a
//! [`Value`] (shared sub-values become one object).

use std::collections::HashMap;

use interp_sys as sys;

use super::too_deep;
use crate::error::Result;
use crate::module;
use crate::scope::{module_not_found_hint, Bound, Python};
use crate::value::{container_key, ContainerKey, Value, MAX_DEPTH};

impl<'py> Python<'py> {
    /// Makes a Python object from a [`Value`] (the inverse of
    /// [`Bound::to_value`]). A pickled function or class whose module is
    /// not found here fails with `ModuleNotFoundError`, with a hint as for
    /// [`lookup`](Self::lookup).
    pub fn value(self, v: &Value) -> Result<Bound<'py>> {
        to_python(self, v).map_err(|e| module_not_found_hint(self, e, None))
    }
}

impl<'py> Bound<'py> {
    /// `self(*args, **kwargs)` with arguments given as [`Value`]s.
    pub fn call_values(&self, args: &[Value], kwargs: &[(&str, Value)]) -> Result<Bound<'py>> {
        let py = self.py();
        let args = args
            .iter()
            .map(|v| py.value(v))
            .collect::<Result<Vec<_>>>()?;
        let kwargs = kwargs
            .iter()
            .map(|(k, v)| Ok((*k, py.value(v)?)))
            .collect::<Result<Vec<_>>>()?;
        self.call(&args, &kwargs)
    }
}

pub(crate) fn to_python<'py>(py: Python<'py>, v: &Value) -> Result<Bound<'py>> {
    to_python_at(py, v, 0, &mut None)
}

/// Containers already made in one Value -> Python conversion, by the
/// address of their shared items and their kind: a sub-value reached twice
/// (the same [`Shared`] data, as the same kind of container) becomes one
/// object, as pickle does.
type ToMemo<'py> = Option<HashMap<ContainerKey, Bound<'py>>>;

fn to_python_at<'py>(
    py: Python<'py>,
    v: &Value,
    depth: usize,
    memo: &mut ToMemo<'py>,
) -> Result<Bound<'py>> {
    if depth > MAX_DEPTH {
        return Err(too_deep());
    }
    // The materialization cache (materialize.rs): an immutable value this
    // interpreter made before arrives as the same object.
    let ticket = match crate::materialize::object_for(py, v) {
        crate::materialize::Found::Cached(o) => return Ok(o),
        crate::materialize::Found::Missing(ticket) => ticket,
    };
    let key = container_key(v);
    if let Some(k) = key {
        if let Some(o) = memo.as_ref().and_then(|m| m.get(&k)) {
            return Ok(o.clone());
        }
    }
    let o = to_python_fresh(py, v, depth, memo)?;
    if let Some(k) = key {
        memo.get_or_insert_with(HashMap::new).insert(k, o.clone());
    }
    ticket.made_object(py, v, &o);
    Ok(o)
}

fn to_python_fresh<'py>(
    py: Python<'py>,
    v: &Value,
    depth: usize,
    memo: &mut ToMemo<'py>,
) -> Result<Bound<'py>> {
    match v {
        Value::None => Ok(py.none()),
        Value::Bool(b) => {
            let p = if *b {
                // SAFETY: reading the address of the immortal `True`.
                unsafe { sys::Py_True() }
            } else {
                // SAFETY: reading the address of the immortal `False`.
                unsafe { sys::Py_False() }
            };
            // SAFETY: `True` and `False` are valid objects in every
            // interpreter.
            Ok(unsafe { py.from_borrowed_ptr(p) })
        }
        // SAFETY: attached (brand); the constructor returns a new reference
        // or NULL with an exception set.
        Value::Int(n) => unsafe { py.from_owned_ptr(sys::PyLong_FromLongLong(*n)) },
        Value::BigInt(bytes) => {
            // SAFETY: `int` is a static type, valid in every interpreter.
            let int_type = unsafe { py.from_borrowed_ptr((&raw mut sys::PyLong_Type).cast()) };
            let b = to_python_at(py, &Value::Bytes(bytes.clone()), depth, memo)?;
            let little = py.str("little")?;
            let signed = py.value(&Value::Bool(true))?;
            int_type
                .getattr("from_bytes")?
                .call(&[b, little], &[("signed", signed)])
        }
        // SAFETY: attached (brand); the constructor returns a new reference
        // or NULL with an exception set.
        Value::Float(x) => unsafe { py.from_owned_ptr(sys::PyFloat_FromDouble(*x)) },
        Value::Complex { re, im } => {
            // SAFETY: attached (brand); the constructor returns a new
            // reference or NULL with an exception set.
            unsafe { py.from_owned_ptr(sys::PyComplex_FromDoubles(*re, *im)) }
        }
        Value::Str(s) => py.str(s),
        Value::Bytes(b) => {
            // SAFETY: attached (brand); pointer and length describe `b`; the
            // constructor copies them and returns a new reference or NULL
            // with an exception set.
            unsafe {
                py.from_owned_ptr(sys::PyBytes_FromStringAndSize(
                    b.as_ptr().cast(),
                    b.len() as sys::Py_ssize_t,
                ))
            }
        }
        Value::Tuple(items) => {
            // SAFETY: attached (brand); PyTuple_New returns a new reference
            // or NULL with an exception set.
            let t = unsafe { py.from_owned_ptr(sys::PyTuple_New(items.len() as sys::Py_ssize_t)) }?;
            for (i, item) in items.iter().enumerate() {
                let o = to_python_at(py, item, depth + 1, memo)?;
                // SAFETY: `t` is a fresh tuple of `items.len()` slots, each
                // set once here; SET_ITEM takes the reference `o` gives up.
                unsafe { sys::PyTuple_SET_ITEM(t.as_ptr(), i as sys::Py_ssize_t, o.into_ptr()) };
            }
            Ok(t)
        }
        Value::List(items) => {
            // SAFETY: attached (brand); PyList_New returns a new reference
            // or NULL with an exception set.
            let l = unsafe { py.from_owned_ptr(sys::PyList_New(items.len() as sys::Py_ssize_t)) }?;
            for (i, item) in items.iter().enumerate() {
                let o = to_python_at(py, item, depth + 1, memo)?;
                // SAFETY: `l` is a fresh list of `items.len()` slots, each
                // set once here; SET_ITEM takes the reference `o` gives up.
                unsafe { sys::PyList_SET_ITEM(l.as_ptr(), i as sys::Py_ssize_t, o.into_ptr()) };
            }
            Ok(l)
        }
        Value::Dict(items) => {
            // SAFETY: attached (brand); PyDict_New returns a new reference
            // or NULL with an exception set.
            let d = unsafe { py.from_owned_ptr(sys::PyDict_New()) }?;
            for (k, v) in items.iter() {
                let k = to_python_at(py, k, depth + 1, memo)?;
                let v = to_python_at(py, v, depth + 1, memo)?;
                // SAFETY: attached; `d` is a dict and `k`, `v` live objects
                // (SetItem takes its own references).
                if unsafe { sys::PyDict_SetItem(d.as_ptr(), k.as_ptr(), v.as_ptr()) } < 0 {
                    return Err(py.take_error());
                }
            }
            Ok(d)
        }
        Value::Set(items) | Value::FrozenSet(items) => {
            // SAFETY: attached (brand); PySet_New(NULL) returns a new, empty
            // set or NULL with an exception set.
            let s = unsafe { py.from_owned_ptr(sys::PySet_New(std::ptr::null_mut())) }?;
            for item in items.iter() {
                let o = to_python_at(py, item, depth + 1, memo)?;
                // SAFETY: attached; `s` is a set and `o` a live object (Add
                // takes its own reference).
                if unsafe { sys::PySet_Add(s.as_ptr(), o.as_ptr()) } < 0 {
                    return Err(py.take_error());
                }
            }
            if matches!(v, Value::FrozenSet(_)) {
                // SAFETY: attached; `s` is an iterable; the constructor
                // returns a new reference or NULL with an exception set.
                unsafe { py.from_owned_ptr(sys::PyFrozenSet_New(s.as_ptr())) }
            } else {
                Ok(s)
            }
        }
        Value::Buffer(b) => module::buffer_to_python(py, b),
        Value::Channel(c) => module::channel_to_python(py, c),
        Value::Frozen(f) => module::frozen_to_python(py, f),
        Value::Pickled(bytes) => {
            let loads = py.lookup("pickle", "loads")?;
            let b = to_python_at(py, &Value::Bytes(bytes.clone()), depth, memo)?;
            loads.call(&[b], &[])
        }
    }
}
