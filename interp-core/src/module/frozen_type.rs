//! The `interp.Frozen` type: proxies over frozen trees.

use std::ffi::{c_int, c_void};
use std::ptr::null_mut;

use interp_sys as sys;
use sys::{PyObject, Py_ssize_t};

use super::*;

/// A Frozen proxy: the handle plus this interpreter's cache of materialized
/// children (values, and keys for dicts), made lazily.
#[repr(C)]
pub(super) struct FrozenObject {
    ob_base: PyObject,
    pub(super) handle: Option<Box<Frozen>>,
    children: Option<Box<[*mut PyObject]>>,
    keys: Option<Box<[*mut PyObject]>>,
    /// All values (or, for dicts, all keys) as one tuple, once iterated:
    /// later iterations run at native tuple speed.
    values_tuple: *mut PyObject,
    keys_tuple: *mut PyObject,
    hash: Py_ssize_t,
}

pub(super) static FROZEN_METHODS: Def<[sys::PyMethodDef; 6]> = Def::new([
    method!(
        c"keys",
        noargs(fz_keys),
        sys::METH_NOARGS,
        c"keys()\n--\n\nThe keys of a frozen dict, as a tuple."
    ),
    method!(
        c"values",
        noargs(fz_values),
        sys::METH_NOARGS,
        c"values()\n--\n\nThe values of a frozen dict, as a tuple."
    ),
    method!(
        c"items",
        noargs(fz_items),
        sys::METH_NOARGS,
        c"items()\n--\n\nThe (key, value) pairs of a frozen dict, as a tuple."
    ),
    method!(
        c"get",
        kw(fz_get),
        VARARGS_KW,
        c"get(key, default=None)\n--\n\nThe value for key in a frozen dict, else default."
    ),
    method!(
        c"thaw",
        noargs(fz_thaw),
        sys::METH_NOARGS,
        c"thaw()\n--\n\nA plain, mutable Python copy (tuples and dicts)."
    ),
    sys::PyMethodDef::zeroed(),
]);

pub(super) static FROZEN_SLOTS: Def<[sys::PyType_Slot; 14]> = Def::new([
    sys::PyType_Slot { slot: sys::Py_tp_new, pfunc: fz_new as *mut c_void },
    sys::PyType_Slot { slot: sys::Py_tp_dealloc, pfunc: fz_dealloc as *mut c_void },
    sys::PyType_Slot { slot: sys::Py_tp_methods, pfunc: FROZEN_METHODS.0.get() as *mut c_void },
    sys::PyType_Slot { slot: sys::Py_mp_length, pfunc: fz_len as *mut c_void },
    sys::PyType_Slot { slot: sys::Py_sq_length, pfunc: fz_len as *mut c_void },
    sys::PyType_Slot { slot: sys::Py_mp_subscript, pfunc: fz_getitem as *mut c_void },
    sys::PyType_Slot { slot: sys::Py_mp_ass_subscript, pfunc: fz_setitem as *mut c_void },
    sys::PyType_Slot { slot: sys::Py_sq_contains, pfunc: fz_contains as *mut c_void },
    sys::PyType_Slot { slot: sys::Py_tp_iter, pfunc: fz_iter as *mut c_void },
    sys::PyType_Slot { slot: sys::Py_tp_richcompare, pfunc: fz_richcompare as *mut c_void },
    sys::PyType_Slot { slot: sys::Py_tp_hash, pfunc: fz_hash as *mut c_void },
    sys::PyType_Slot { slot: sys::Py_tp_repr, pfunc: fz_repr as *mut c_void },
    sys::PyType_Slot {
        slot: sys::Py_tp_doc,
        pfunc: c"Frozen(obj)\n--\n\nRead-only data (tuples and dicts of scalars) shared by reference between interpreters; see interp.freeze().".as_ptr() as *mut c_void,
    },
    sys::PyType_Slot { slot: 0, pfunc: null_mut() },
]);

pub(super) static FROZEN_SPEC: Def<sys::PyType_Spec> = Def::new(sys::PyType_Spec {
    name: c"interp.Frozen".as_ptr(),
    basicsize: std::mem::size_of::<FrozenObject>() as c_int,
    itemsize: 0,
    flags: (sys::Py_TPFLAGS_DEFAULT | sys::Py_TPFLAGS_IMMUTABLETYPE) as _,
    slots: FROZEN_SLOTS.0.get() as *mut sys::PyType_Slot,
});

/// The Python object for a frozen handle arriving in this interpreter: a
/// plain object for a scalar; real tuples for a tuple, built once per
/// interpreter and cached (see `materialize`), so that indexing runs at
/// native speed; a proxy for a dict — the same one as last time when the
/// tree was handed over recently (see `FROZEN_CACHE`).
pub(crate) fn frozen_to_python<'py>(py: Python<'py>, f: &Frozen) -> Result<Bound<'py>> {
    match f.node() {
        Node::Tuple(_) => return crate::materialize::frozen_object(py, f, || native(py, f)),
        Node::Dict(_) => {}
        _ => return py.value(&f.to_value()),
    }
    let key = f.node() as *const Node as usize;
    let (_m, st) = state(py)?;
    // SAFETY: the state is valid while `_m` lives; cached objects are live
    // proxies of this interpreter (owned by the cache).
    unsafe {
        let cache = (*st).frozen_cache.get_or_insert_with(Default::default);
        if let Some(pos) = cache.iter().position(|(k, _)| *k == key) {
            let entry = cache.remove(pos);
            cache.push(entry);
            return Ok(py.from_borrowed_ptr(entry.1));
        }
    }
    let proxy = new_frozen_proxy(py, f)?;
    // SAFETY: as above; the cache takes its own reference.
    unsafe {
        let cache = (*st).frozen_cache.get_or_insert_with(Default::default);
        if cache.len() >= FROZEN_CACHE {
            let (_, old) = cache.remove(0);
            sys::Py_DecRef(old);
        }
        cache.push((key, proxy.clone().into_ptr()));
    }
    Ok(proxy)
}

/// A frozen tuple node as a real tuple: its tuples as tuples, its dicts as
/// proxies, its scalars as plain objects.
fn native<'py>(py: Python<'py>, f: &Frozen) -> Result<Bound<'py>> {
    let Node::Tuple(nodes) = f.node() else {
        return materialized(py, f);
    };
    // SAFETY: attached; PyTuple_New gives a fresh tuple whose slots are
    // filled exactly once (SET_ITEM steals the new references); on an error
    // part-way the unfilled slots are NULL, which tuple dealloc skips.
    unsafe {
        let t = py.from_owned_ptr(sys::PyTuple_New(nodes.len() as Py_ssize_t))?;
        for (i, node) in nodes.iter().enumerate() {
            let o = materialized(py, &f.child(node))?;
            sys::PyTuple_SET_ITEM(t.as_ptr(), i as Py_ssize_t, o.into_ptr());
        }
        Ok(t)
    }
}

/// The object a node of a frozen tree becomes inside a materialized tree or
/// a proxy: a real tuple for a tuple, a proxy for a dict, a plain object
/// for a scalar.
fn materialized<'py>(py: Python<'py>, f: &Frozen) -> Result<Bound<'py>> {
    match f.node() {
        Node::Tuple(_) => native(py, f),
        Node::Dict(_) => new_frozen_proxy(py, f),
        _ => py.value(&f.to_value()),
    }
}

/// A new proxy for a container node (what `interp.freeze` returns: the
/// handle that passes the tree by reference).
pub(super) fn new_frozen_proxy<'py>(py: Python<'py>, f: &Frozen) -> Result<Bound<'py>> {
    if f.node().len().is_none() {
        return py.value(&f.to_value());
    }
    let (_m, st) = state(py)?;
    // SAFETY: the state is valid while `_m` lives; the type's basicsize is
    // FrozenObject's; GenericAlloc zero-fills.
    unsafe {
        let obj = py.from_owned_ptr(sys::PyType_GenericAlloc((*st).frozen_type.cast(), 0))?;
        let o = obj.as_ptr().cast::<FrozenObject>();
        // A proxy's handle is interp's own: it never keeps a cache entry
        // of the tree alive (see `cache::INTERNAL`).
        crate::cache::hold(f.root_addr());
        (*o).handle = Some(Box::new(f.clone()));
        (*o).hash = -1;
        Ok(obj)
    }
}

pub(super) unsafe fn fz<'a>(obj: *mut PyObject) -> &'a mut FrozenObject {
    // SAFETY: callers pass our Frozen objects, used under their
    // interpreter's GIL (no concurrent access).
    unsafe { &mut *obj.cast::<FrozenObject>() }
}

pub(super) unsafe extern "C" fn fz_new(
    _ty: *mut sys::PyTypeObject,
    args: *mut PyObject,
    kwargs: *mut PyObject,
) -> *mut PyObject {
    wrap(|py| {
        // SAFETY: tp_new contract.
        let obj = unsafe {
            check_args(args, kwargs, &["obj"], "Frozen")?;
            arg(py, args, kwargs, 0, c"obj")
        }
        .ok_or_else(|| type_error("Frozen() missing required argument 'obj'".into()))?;
        let frozen = Frozen::from_value(&obj.to_value()?)?;
        Ok(Some(new_frozen_proxy(py, &frozen)?.into_ptr()))
    })
}

pub(super) unsafe extern "C" fn fz_dealloc(obj: *mut PyObject) {
    // SAFETY: our object; cached children are owned references of this
    // interpreter; heap-type instances own a reference to their type.
    unsafe {
        let o = fz(obj);
        for t in [o.values_tuple, o.keys_tuple] {
            if !t.is_null() {
                sys::Py_DecRef(t);
            }
        }
        for cache in [o.children.take(), o.keys.take()].into_iter().flatten() {
            for p in cache.iter().filter(|p| !p.is_null()) {
                sys::Py_DecRef(*p);
            }
        }
        if let Some(h) = o.handle.take() {
            crate::cache::unhold(h.root_addr());
        }
        let tp = sys::Py_TYPE(obj);
        let free: sys::freefunc = std::mem::transmute(sys::PyType_GetSlot(tp, sys::Py_tp_free));
        free(obj.cast());
        sys::Py_DecRef(tp.cast());
    }
}

/// The cached Python object for child `i` (a value, or a dict key when
/// `key`), made on first use.
pub(super) fn child<'py>(
    py: Python<'py>,
    obj: *mut PyObject,
    i: usize,
    key: bool,
) -> Result<Bound<'py>> {
    // SAFETY: our object, under its interpreter's GIL.
    let o = unsafe { fz(obj) };
    let f = o.handle.as_deref().expect("initialized Frozen");
    let (nodes, n): (&[Node], usize) = match f.node() {
        Node::Tuple(items) => (items, items.len()),
        Node::Dict(d) => (if key { &d.keys } else { &d.values }, d.keys.len()),
        _ => unreachable!("scalars have no proxy"),
    };
    let cache = if key { &mut o.keys } else { &mut o.children };
    let cache = cache.get_or_insert_with(|| vec![null_mut(); n].into_boxed_slice());
    if cache[i].is_null() {
        let made = materialized(py, &f.child(&nodes[i]))?;
        cache[i] = made.into_ptr();
    }
    // SAFETY: cache[i] is a live object of this interpreter.
    Ok(unsafe { py.from_borrowed_ptr(cache[i]) })
}

pub(super) fn frozen_len(obj: *mut PyObject) -> usize {
    // SAFETY: our object.
    unsafe { fz(obj) }
        .handle
        .as_deref()
        .and_then(|f| f.len())
        .unwrap_or(0)
}

pub(super) unsafe extern "C" fn fz_len(obj: *mut PyObject) -> Py_ssize_t {
    frozen_len(obj) as Py_ssize_t
}

pub(super) fn is_dict(obj: *mut PyObject) -> bool {
    matches!(
        // SAFETY: our object.
        unsafe { fz(obj) }.handle.as_deref().map(Frozen::node),
        Some(Node::Dict(_))
    )
}

pub(super) fn dict_index(obj: *mut PyObject, key: &Bound<'_>) -> Result<Option<usize>> {
    // SAFETY: our object.
    let f = unsafe { fz(obj) }
        .handle
        .as_deref()
        .expect("initialized Frozen");
    let Node::Dict(d) = f.node() else {
        return Ok(None);
    };
    // Keys that are not shareable data cannot be in a frozen dict.
    Ok(key.to_value_no_pickle().ok().and_then(|k| d.index_of(&k)))
}

pub(super) unsafe extern "C" fn fz_getitem(
    obj: *mut PyObject,
    key: *mut PyObject,
) -> *mut PyObject {
    wrap(|py| {
        // SAFETY: valid borrowed key.
        let key = unsafe { borrowed(py, key) };
        if is_dict(obj) {
            return match dict_index(obj, &key)? {
                Some(i) => Ok(Some(child(py, obj, i, false)?.into_ptr())),
                None => {
                    // SAFETY: attached; KeyError with the key as its argument.
                    unsafe { sys::PyErr_SetObject(sys::PyExc_KeyError, key.as_ptr()) };
                    Ok(None)
                }
            };
        }
        let n = frozen_len(obj) as isize;
        // SAFETY: attached; type checks before conversions.
        unsafe {
            if sys::PySlice_Check(key.as_ptr()) != 0 {
                let (mut start, mut stop, mut step) = (0, 0, 0);
                if sys::PySlice_Unpack(key.as_ptr(), &mut start, &mut stop, &mut step) < 0 {
                    return Ok(None);
                }
                let len = sys::PySlice_AdjustIndices(n, &mut start, &mut stop, step);
                let mut items = Vec::with_capacity(len as usize);
                let mut i = start;
                for _ in 0..len {
                    items.push(child(py, obj, i as usize, false)?);
                    i += step;
                }
                return Ok(Some(py.tuple(&items)?.into_ptr()));
            }
            if sys::PyIndex_Check(key.as_ptr()) == 0 {
                return Err(type_error(format!(
                    "interp.Frozen indices must be integers or slices, not {}",
                    key.type_name()
                )));
            }
            let mut i = sys::PyNumber_AsSsize_t(key.as_ptr(), sys::PyExc_IndexError);
            if i == -1 && !sys::PyErr_Occurred().is_null() {
                return Ok(None);
            }
            if i < 0 {
                i += n;
            }
            if i < 0 || i >= n {
                set_error(sys::PyExc_IndexError, "interp.Frozen index out of range");
                return Ok(None);
            }
            Ok(Some(child(py, obj, i as usize, false)?.into_ptr()))
        }
    })
}

pub(super) unsafe extern "C" fn fz_setitem(
    _obj: *mut PyObject,
    _k: *mut PyObject,
    _v: *mut PyObject,
) -> c_int {
    // SAFETY: attached (slot call).
    set_error(
        unsafe { sys::PyExc_TypeError },
        "interp.Frozen is read-only: it cannot be changed in place; thaw() gives a mutable copy",
    );
    -1
}

pub(super) unsafe extern "C" fn fz_contains(obj: *mut PyObject, item: *mut PyObject) -> c_int {
    run(-1, |py| {
        // SAFETY: valid borrowed item.
        let item = unsafe { borrowed(py, item) };
        if is_dict(obj) {
            return Ok(Some(dict_index(obj, &item)?.is_some() as c_int));
        }
        for i in 0..frozen_len(obj) {
            let c = child(py, obj, i, false)?;
            // SAFETY: attached; both objects valid.
            match unsafe { sys::PyObject_RichCompareBool(c.as_ptr(), item.as_ptr(), sys::Py_EQ) } {
                0 => {}
                1 => return Ok(Some(1)),
                _ => return Ok(None),
            }
        }
        Ok(Some(0))
    })
}

/// All children (values, or keys when `keys`) as a tuple.
pub(super) fn all_children<'py>(
    py: Python<'py>,
    obj: *mut PyObject,
    keys: bool,
) -> Result<Bound<'py>> {
    // SAFETY: our object, under its interpreter's GIL.
    let cached = unsafe {
        let o = fz(obj);
        if keys {
            o.keys_tuple
        } else {
            o.values_tuple
        }
    };
    if !cached.is_null() {
        // SAFETY: a live tuple owned by the proxy.
        return Ok(unsafe { py.from_borrowed_ptr(cached) });
    }
    let items = (0..frozen_len(obj))
        .map(|i| child(py, obj, i, keys))
        .collect::<Result<Vec<_>>>()?;
    let t = py.tuple(&items)?;
    // SAFETY: as above; the proxy keeps its own reference.
    unsafe {
        let o = fz(obj);
        let slot = if keys {
            &mut o.keys_tuple
        } else {
            &mut o.values_tuple
        };
        *slot = t.clone().into_ptr();
    }
    Ok(t)
}

pub(super) unsafe extern "C" fn fz_iter(obj: *mut PyObject) -> *mut PyObject {
    wrap(|py| {
        let t = all_children(py, obj, is_dict(obj))?;
        // SAFETY: attached; tuple iterator.
        Ok(Some(
            unsafe { py.from_owned_ptr(sys::PyObject_GetIter(t.as_ptr())) }?.into_ptr(),
        ))
    })
}

pub(super) fn require_dict(obj: *mut PyObject, what: &str) -> Result<()> {
    if is_dict(obj) {
        Ok(())
    } else {
        Err(type_error(format!(
            "{what}() needs a frozen dict; this interp.Frozen is a tuple"
        )))
    }
}

pub(super) unsafe extern "C" fn fz_keys(obj: *mut PyObject, _a: *mut PyObject) -> *mut PyObject {
    wrap(|py| {
        require_dict(obj, "keys")?;
        Ok(Some(all_children(py, obj, true)?.into_ptr()))
    })
}

pub(super) unsafe extern "C" fn fz_values(obj: *mut PyObject, _a: *mut PyObject) -> *mut PyObject {
    wrap(|py| {
        require_dict(obj, "values")?;
        Ok(Some(all_children(py, obj, false)?.into_ptr()))
    })
}

pub(super) unsafe extern "C" fn fz_items(obj: *mut PyObject, _a: *mut PyObject) -> *mut PyObject {
    wrap(|py| {
        require_dict(obj, "items")?;
        let pairs = (0..frozen_len(obj))
            .map(|i| py.tuple(&[child(py, obj, i, true)?, child(py, obj, i, false)?]))
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(py.tuple(&pairs)?.into_ptr()))
    })
}

pub(super) unsafe extern "C" fn fz_get(
    obj: *mut PyObject,
    args: *mut PyObject,
    kwargs: *mut PyObject,
) -> *mut PyObject {
    wrap(|py| {
        require_dict(obj, "get")?;
        // SAFETY: method contract.
        let (key, default) = unsafe {
            check_args(args, kwargs, &["key", "default"], "get")?;
            (
                arg(py, args, kwargs, 0, c"key")
                    .ok_or_else(|| type_error("get() missing required argument 'key'".into()))?,
                arg(py, args, kwargs, 1, c"default"),
            )
        };
        Ok(Some(match dict_index(obj, &key)? {
            Some(i) => child(py, obj, i, false)?.into_ptr(),
            None => default.unwrap_or_else(|| py.none()).into_ptr(),
        }))
    })
}

pub(super) unsafe extern "C" fn fz_thaw(obj: *mut PyObject, _a: *mut PyObject) -> *mut PyObject {
    wrap(|py| {
        // SAFETY: our object.
        let f = unsafe { fz(obj) }
            .handle
            .as_deref()
            .expect("initialized Frozen");
        Ok(Some(py.value(&f.try_to_value()?)?.into_ptr()))
    })
}

pub(super) unsafe extern "C" fn fz_richcompare(
    a: *mut PyObject,
    b: *mut PyObject,
    op: c_int,
) -> *mut PyObject {
    wrap(|py| {
        if op != sys::Py_EQ && op != sys::Py_NE {
            // SAFETY: NotImplemented is immortal.
            return Ok(Some(unsafe { sys::Py_NewRef(sys::Py_NotImplemented()) }));
        }
        // SAFETY: `a` is our object; `b` any valid object.
        let (f, other) = unsafe {
            (
                fz(a).handle.as_deref().expect("initialized Frozen"),
                borrowed(py, b),
            )
        };
        let eq = match other.to_value_no_pickle() {
            Ok(v) => f.node().eq_value(&v),
            Err(_) => false,
        };
        let t = eq == (op == sys::Py_EQ);
        Ok(Some(py.value(&Value::Bool(t))?.into_ptr()))
    })
}

/// A hashable plain-Python equivalent: tuples stay tuples, dicts become
/// frozensets of (key, value) pairs.
pub(super) fn hashable<'py>(py: Python<'py>, node: &Node) -> Result<Bound<'py>> {
    match node {
        Node::Tuple(items) => {
            let parts = items
                .iter()
                .map(|n| hashable(py, n))
                .collect::<Result<Vec<_>>>()?;
            py.tuple(&parts)
        }
        Node::Dict(d) => {
            let pairs = d
                .keys
                .iter()
                .zip(d.values.iter())
                .map(|(k, v)| py.tuple(&[hashable(py, k)?, hashable(py, v)?]))
                .collect::<Result<Vec<_>>>()?;
            let list = py.tuple(&pairs)?;
            // SAFETY: attached; frozenset from a tuple.
            unsafe { py.from_owned_ptr(sys::PyFrozenSet_New(list.as_ptr())) }
        }
        scalar => py.value(&scalar.to_value()),
    }
}

pub(super) unsafe extern "C" fn fz_hash(obj: *mut PyObject) -> Py_ssize_t {
    run(-1, |py| {
        // SAFETY: our object, under its interpreter's GIL.
        let o = unsafe { fz(obj) };
        if o.hash != -1 {
            return Ok(Some(o.hash));
        }
        let h = hashable(py, o.handle.as_deref().expect("initialized Frozen").node())?;
        // SAFETY: attached.
        let v = unsafe { sys::PyObject_Hash(h.as_ptr()) };
        if v == -1 {
            return Ok(None);
        }
        o.hash = v;
        Ok(Some(v))
    })
}

pub(super) unsafe extern "C" fn fz_repr(obj: *mut PyObject) -> *mut PyObject {
    wrap(|py| {
        // SAFETY: our object.
        let f = unsafe { fz(obj) }
            .handle
            .as_deref()
            .expect("initialized Frozen");
        let plain = py.value(&f.try_to_value()?)?;
        Ok(Some(
            py.str(&format!("interp.Frozen({})", plain.repr()?))?
                .into_ptr(),
        ))
    })
}
