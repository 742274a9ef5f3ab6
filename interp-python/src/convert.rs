//! Values for tasks: Python objects of the main interpreter to [`Value`]s,
//! with any buffer-protocol object (a `memoryview` of a `bytearray`, an
//! `array.array`, an `mmap`, a numpy array, ...) shared without a copy, and
//! the worker-side step that presents those as `memoryview`s.

use std::collections::HashMap;
use std::ffi::CStr;
use std::sync::Mutex;

use interp_core::{Bound, Error, Python, SharedBuffer, Value, MAX_DEPTH};
use interp_sys as sys;
use sys::PyObject;

/// Addresses of exported foreign memory (a count per address: two exports
/// of one object share it). A `SharedBuffer` over such memory arrives in a
/// worker as a `memoryview`, as the object it came from was.
static FOREIGN: Mutex<Option<HashMap<usize, usize>>> = Mutex::new(None);

fn foreign_add(addr: usize) {
    let mut g = FOREIGN.lock().unwrap_or_else(|e| e.into_inner());
    *g.get_or_insert_with(HashMap::new).entry(addr).or_insert(0) += 1;
}

fn foreign_remove(addr: usize) {
    let mut g = FOREIGN.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(m) = g.as_mut() {
        if let Some(n) = m.get_mut(&addr) {
            *n -= 1;
            if *n == 0 {
                m.remove(&addr);
            }
        }
    }
}

/// Whether `buf` views memory exported by a main-interpreter object.
pub(crate) fn is_foreign(buf: &SharedBuffer) -> bool {
    let g = FOREIGN.lock().unwrap_or_else(|e| e.into_inner());
    g.as_ref()
        .is_some_and(|m| m.contains_key(&(buf.as_ptr() as usize)))
}

/// Whether `p` is an `interp.SharedBuffer` (of any interpreter).
///
/// # Safety
/// `p` must be a valid object; the caller holds its interpreter's GIL.
pub(crate) unsafe fn is_shared_buffer(p: *mut PyObject) -> bool {
    // SAFETY: reading the name of a live object's type.
    unsafe { CStr::from_ptr((*sys::Py_TYPE(p)).tp_name) == c"interp.SharedBuffer" }
}

/// Whether `p` is a buffer exporter to share by reference (not `bytes`,
/// which travels as a value, nor interp's own buffer).
///
/// # Safety
/// As [`is_shared_buffer`].
unsafe fn is_exporter(p: *mut PyObject) -> bool {
    // SAFETY: type checks on a valid object.
    unsafe {
        sys::PyObject_CheckBuffer(p) != 0 && sys::PyBytes_Check(p) == 0 && !is_shared_buffer(p)
    }
}

/// A Py_buffer that may move to the thread that releases it.
struct HeldView(Box<sys::Py_buffer>);
// SAFETY: the view is only released, under the main interpreter's GIL,
// by `release_view`; its fields are plain data until then.
unsafe impl Send for HeldView {}

fn release_view(held: HeldView, addr: usize) {
    foreign_remove(addr);
    // Not run once the exit closed the gate: the view is then dropped
    // unreleased (its exporter dies with the runtime, and no thread may
    // attach while the runtime finalizes).
    crate::completer::in_main(move |_py| {
        let mut held = held;
        // SAFETY: the view was filled by PyObject_GetBuffer in the main
        // interpreter and is released exactly once, there, with its GIL
        // held (entering switches away from whatever this thread had
        // attached).
        unsafe { sys::PyBuffer_Release(&mut *held.0) }
    });
}

/// Shares the memory of a buffer exporter of the main interpreter: the
/// exporter stays alive (and its buffer locked, as for any `memoryview`)
/// until the last handle or view of the result is gone, in any interpreter.
fn export(py: Python<'_>, obj: &Bound<'_>) -> Result<SharedBuffer, Error> {
    // SAFETY: (whole block) attached to the main interpreter; the view is
    // zero-initialized and filled by PyObject_GetBuffer; on failure nothing
    // needs releasing.
    unsafe {
        let mut view: Box<sys::Py_buffer> = Box::new(std::mem::zeroed());
        let base = sys::PyBUF_C_CONTIGUOUS | sys::PyBUF_FORMAT;
        if sys::PyObject_GetBuffer(obj.as_ptr(), &mut *view, base | sys::PyBUF_WRITABLE) < 0 {
            sys::PyErr_Clear();
            if sys::PyObject_GetBuffer(obj.as_ptr(), &mut *view, base) < 0 {
                let why = crate::util::take_error(py).to_string();
                return Err(Error::Conversion(format!(
                    "cannot share a '{}' with a worker interpreter without a copy: it does not export \
                     C-contiguous memory ({why}); pass a contiguous one (numpy.ascontiguousarray(x)) \
                     or bytes(x) to copy it",
                    obj.type_name()
                )));
            }
        }
        let buf = view.buf.cast::<u8>();
        let len = view.len.max(0) as usize;
        let readonly = view.readonly != 0;
        let format = if view.format.is_null() {
            "B".to_owned()
        } else {
            CStr::from_ptr(view.format).to_string_lossy().into_owned()
        };
        if holds_objects(&format) {
            sys::PyBuffer_Release(&mut *view);
            return Err(Error::Conversion(format!(
                "cannot share a '{}' with a worker interpreter: its buffer holds Python object \
                 pointers (format {format:?}), which are only valid in the main interpreter (a \
                 worker writing them would corrupt it); pass its items as a list or tuple, or \
                 use a numeric dtype/format",
                obj.type_name()
            )));
        }
        let shape: Vec<usize> = if view.ndim <= 0 || view.shape.is_null() {
            if view.ndim == 0 {
                Vec::new()
            } else {
                vec![len]
            }
        } else {
            std::slice::from_raw_parts(view.shape, view.ndim as usize)
                .iter()
                .map(|&d| d.max(0) as usize)
                .collect()
        };
        let addr = buf as usize;
        foreign_add(addr);
        let held = HeldView(view);
        let sb = SharedBuffer::from_raw_parts(buf, len, move || release_view(held, addr));
        // Keep the exporter's item format and shape when memoryview can
        // express them; otherwise the worker sees plain bytes.
        let sb = sb.with_layout(&format, &shape).unwrap_or(sb);
        Ok(if readonly { sb.readonly() } else { sb })
    }
}

/// Whether a `struct`-style buffer format has an `O` (Python object
/// pointer) item anywhere, field names (`:name:`) aside: such memory is
/// never shared with a worker.
fn holds_objects(format: &str) -> bool {
    let mut in_name = false;
    for c in format.chars() {
        match c {
            ':' => in_name = !in_name,
            'O' if !in_name => return true,
            _ => {}
        }
    }
    false
}

/// Whether a container holds a buffer exporter somewhere inside (exact
/// tuples, lists and dicts are searched, as far as conversion goes).
fn holds_exporter(obj: &Bound<'_>, depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return false;
    }
    let p = obj.as_ptr();
    let py = obj.py();
    // SAFETY: (whole block) attached; exact type checks before access;
    // items are borrowed from containers kept alive by `obj` and wrapped
    // (increfed) before any further call.
    unsafe {
        if sys::PyTuple_CheckExact(p) != 0 || sys::PyList_CheckExact(p) != 0 {
            let is_tuple = sys::PyTuple_CheckExact(p) != 0;
            let n = if is_tuple {
                sys::PyTuple_GET_SIZE(p)
            } else {
                sys::PyList_GET_SIZE(p)
            };
            for i in 0..n {
                if is_tuple {
                    if i >= sys::PyTuple_GET_SIZE(p) {
                        break;
                    }
                } else if i >= sys::PyList_GET_SIZE(p) {
                    break;
                }
                let item = py.from_borrowed_ptr(if is_tuple {
                    sys::PyTuple_GET_ITEM(p, i)
                } else {
                    sys::PyList_GET_ITEM(p, i)
                });
                // A tuple the materialization cache holds is plain data:
                // no walk through the grid passed again on every call.
                if interp_core::is_cached(&item) {
                    continue;
                }
                if leaf_or_nested(&item, depth) {
                    return true;
                }
            }
            false
        } else if sys::PyDict_CheckExact(p) != 0 {
            let Ok(values) = py.from_owned_ptr(sys::PyDict_Values(p)) else {
                sys::PyErr_Clear();
                return false;
            };
            holds_exporter(&values, depth)
        } else {
            false
        }
    }
}

fn leaf_or_nested(item: &Bound<'_>, depth: usize) -> bool {
    // SAFETY: attached; valid object.
    unsafe { is_exporter(item.as_ptr()) || holds_exporter(item, depth + 1) }
}

/// A copy of a container with every buffer exporter replaced by an
/// `interp.SharedBuffer` over its memory.
fn replace_exporters<'py>(
    obj: &Bound<'py>,
    depth: usize,
    views: &mut bool,
) -> Result<Bound<'py>, Error> {
    let py = obj.py();
    let p = obj.as_ptr();
    if depth > MAX_DEPTH {
        return Ok(obj.clone());
    }
    // SAFETY: (whole block) attached; exact type checks before access; new
    // containers are filled exactly once.
    unsafe {
        if is_exporter(p) {
            *views = true;
            return py.value(&Value::Buffer(export(py, obj)?));
        }
        let is_tuple = sys::PyTuple_CheckExact(p) != 0;
        if is_tuple || sys::PyList_CheckExact(p) != 0 {
            let snapshot = if is_tuple {
                obj.clone()
            } else {
                py.from_owned_ptr(sys::PySequence_Tuple(p))?
            };
            let n = sys::PyTuple_GET_SIZE(snapshot.as_ptr());
            let out = py.from_owned_ptr(if is_tuple {
                sys::PyTuple_New(n)
            } else {
                sys::PyList_New(n)
            })?;
            for i in 0..n {
                let item = py.from_borrowed_ptr(sys::PyTuple_GET_ITEM(snapshot.as_ptr(), i));
                let new = replace_exporters(&item, depth + 1, views)?;
                if is_tuple {
                    sys::PyTuple_SET_ITEM(out.as_ptr(), i, new.into_ptr());
                } else {
                    sys::PyList_SET_ITEM(out.as_ptr(), i, new.into_ptr());
                }
            }
            return Ok(out);
        }
        if sys::PyDict_CheckExact(p) != 0 {
            let items = py.from_owned_ptr(sys::PyDict_Items(p))?;
            let out = py.from_owned_ptr(sys::PyDict_New())?;
            let n = sys::PyList_GET_SIZE(items.as_ptr());
            for i in 0..n {
                let pair = py.from_borrowed_ptr(sys::PyList_GET_ITEM(items.as_ptr(), i));
                let k = py.from_borrowed_ptr(sys::PyTuple_GET_ITEM(pair.as_ptr(), 0));
                let v = py.from_borrowed_ptr(sys::PyTuple_GET_ITEM(pair.as_ptr(), 1));
                let v = replace_exporters(&v, depth + 1, views)?;
                if sys::PyDict_SetItem(out.as_ptr(), k.as_ptr(), v.as_ptr()) < 0 {
                    return Err(crate::util::take_error(py));
                }
            }
            return Ok(out);
        }
        Ok(obj.clone())
    }
}

/// Converts an argument (or any value for a worker) of the main
/// interpreter. Sets `views` when a buffer exporter was shared.
pub(crate) fn to_value(obj: &Bound<'_>, views: &mut bool) -> Result<Value, Error> {
    let p = obj.as_ptr();
    // SAFETY: (whole block) attached; type checks on a valid object.
    unsafe {
        if sys::PyLong_CheckExact(p) != 0
            || sys::PyUnicode_CheckExact(p) != 0
            || sys::PyFloat_CheckExact(p) != 0
            || sys::PyBytes_CheckExact(p) != 0
            || obj.is_none()
            || sys::PyBool_Check(p) != 0
        {
            return obj.to_value();
        }
        if is_exporter(p) {
            *views = true;
            return Ok(Value::Buffer(export(obj.py(), obj)?));
        }
        // Plain data the materialization cache holds (the caller's grid
        // passed again): no walk, and the conversion is O(1).
        if interp_core::is_cached(obj) {
            return obj.to_value();
        }
        if holds_exporter(obj, 0) {
            return replace_exporters(obj, 0, views)?.to_value();
        }
    }
    obj.to_value()
}

/// Worker side: replaces `interp.SharedBuffer` objects over foreign memory
/// (inside exact tuples, lists and dicts too) by `memoryview`s of them.
pub(crate) fn viewify<'py>(obj: Bound<'py>, depth: usize) -> Result<Bound<'py>, Error> {
    let py = obj.py();
    let p = obj.as_ptr();
    if depth > MAX_DEPTH {
        return Ok(obj);
    }
    // SAFETY: (whole block) attached to the worker; exact type checks
    // before access; tuples are rebuilt, lists and dicts updated in place
    // (they were just made by the conversion, nobody else sees them yet).
    unsafe {
        if is_shared_buffer(p) {
            if let Value::Buffer(b) = obj.to_value()? {
                if is_foreign(&b) {
                    return py.from_owned_ptr(sys::PyMemoryView_FromObject(p));
                }
            }
            return Ok(obj);
        }
        if sys::PyTuple_CheckExact(p) != 0 {
            let n = sys::PyTuple_GET_SIZE(p);
            let out = py.from_owned_ptr(sys::PyTuple_New(n))?;
            for i in 0..n {
                let item = py.from_borrowed_ptr(sys::PyTuple_GET_ITEM(p, i));
                sys::PyTuple_SET_ITEM(out.as_ptr(), i, viewify(item, depth + 1)?.into_ptr());
            }
            return Ok(out);
        }
        if sys::PyList_CheckExact(p) != 0 {
            for i in 0..sys::PyList_GET_SIZE(p) {
                let item = py.from_borrowed_ptr(sys::PyList_GET_ITEM(p, i));
                let new = viewify(item, depth + 1)?;
                // SetItem steals the new reference and drops the old one.
                sys::PyList_SetItem(p, i, new.into_ptr());
            }
            return Ok(obj);
        }
        if sys::PyDict_CheckExact(p) != 0 {
            let items = py.from_owned_ptr(sys::PyDict_Items(p))?;
            for i in 0..sys::PyList_GET_SIZE(items.as_ptr()) {
                let pair = py.from_borrowed_ptr(sys::PyList_GET_ITEM(items.as_ptr(), i));
                let k = py.from_borrowed_ptr(sys::PyTuple_GET_ITEM(pair.as_ptr(), 0));
                let v = py.from_borrowed_ptr(sys::PyTuple_GET_ITEM(pair.as_ptr(), 1));
                let new = viewify(v, depth + 1)?;
                if sys::PyDict_SetItem(p, k.as_ptr(), new.as_ptr()) < 0 {
                    return Err(Error::Runtime("dict update failed".into()));
                }
            }
            return Ok(obj);
        }
        Ok(obj)
    }
}
