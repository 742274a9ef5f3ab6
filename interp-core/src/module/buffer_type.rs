//! The `interp.SharedBuffer` type.

use std::ffi::{c_char, c_int, c_void};
use std::ptr::null_mut;

use interp_sys as sys;
use sys::{PyObject, Py_ssize_t};

use super::*;

pub(super) static BUFFER_GETSET: Def<[sys::PyGetSetDef; 6]> = Def::new([
    getter(c"nbytes", buf_nbytes, c"Length in bytes."),
    getter(
        c"format",
        buf_format,
        c"The struct format code of the items.",
    ),
    getter(c"shape", buf_shape, c"The shape (C order)."),
    getter(c"itemsize", buf_itemsize, c"Size of one item in bytes."),
    getter(c"readonly", buf_readonly, c"Whether views refuse writes."),
    getset_end(),
]);

pub(super) static BUFFER_SLOTS: Def<[sys::PyType_Slot; 7]> = Def::new([
    sys::PyType_Slot { slot: sys::Py_tp_new, pfunc: buf_new as *mut c_void },
    sys::PyType_Slot { slot: sys::Py_tp_dealloc, pfunc: handle_dealloc::<SharedBuffer> as *mut c_void },
    sys::PyType_Slot { slot: sys::Py_bf_getbuffer, pfunc: buf_getbuffer as *mut c_void },
    sys::PyType_Slot { slot: sys::Py_tp_repr, pfunc: buf_repr as *mut c_void },
    sys::PyType_Slot { slot: sys::Py_tp_getset, pfunc: BUFFER_GETSET.0.get() as *mut c_void },
    sys::PyType_Slot {
        slot: sys::Py_tp_doc,
        pfunc: c"SharedBuffer(shape, format='B')\n--\n\nZeroed memory shared with every interpreter it is sent to; memoryview(buf) makes no copy. shape is an int or a tuple of ints; format one native struct code. Writes are not synchronized.".as_ptr() as *mut c_void,
    },
    sys::PyType_Slot { slot: 0, pfunc: null_mut() },
]);

pub(super) static BUFFER_SPEC: Def<sys::PyType_Spec> = Def::new(sys::PyType_Spec {
    name: c"interp.SharedBuffer".as_ptr(),
    basicsize: std::mem::size_of::<HandleObject<SharedBuffer>>() as c_int,
    itemsize: 0,
    flags: (sys::Py_TPFLAGS_DEFAULT | sys::Py_TPFLAGS_IMMUTABLETYPE) as _,
    slots: BUFFER_SLOTS.0.get() as *mut sys::PyType_Slot,
});

pub(super) unsafe extern "C" fn buf_new(
    ty: *mut sys::PyTypeObject,
    args: *mut PyObject,
    kwargs: *mut PyObject,
) -> *mut PyObject {
    wrap(|py| {
        // SAFETY: `args` is a tuple and `kwargs` a dict or NULL (tp_new).
        unsafe { check_args(args, kwargs, &["shape", "format"], "SharedBuffer")? };
        // SAFETY: `args` is a tuple and `kwargs` a dict or NULL (tp_new).
        let shape = unsafe { arg(py, args, kwargs, 0, c"shape") }
            .ok_or_else(|| type_error("SharedBuffer() missing required argument 'shape'".into()))?;
        // SAFETY: `args` is a tuple and `kwargs` a dict or NULL (tp_new).
        let format = match unsafe { arg(py, args, kwargs, 1, c"format") } {
            Some(f) => f
                .to_value()?
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| type_error("format must be a str".into()))?,
            None => "B".to_owned(),
        };
        let dims: Vec<usize> = match shape.to_value()? {
            Value::Int(n) => vec![usize::try_from(n)
                .map_err(|_| Error::InvalidArgument(format!("shape must be >= 0, got {n}")))?],
            Value::BigInt(_) => {
                return Err(Error::InvalidArgument(
                    "shape is too large: an int beyond 64 bits (a buffer holds at most \
                     2**63 - 1 bytes)"
                        .into(),
                ))
            }
            Value::Tuple(d) | Value::List(d) => d
                .iter()
                .map(|x| match x {
                    Value::Int(n) if *n >= 0 => Ok(*n as usize),
                    other => Err(Error::InvalidArgument(format!(
                        "shape entries must be ints >= 0, got {other:?}"
                    ))),
                })
                .collect::<Result<_>>()?,
            other => {
                return Err(type_error(format!(
                    "shape must be an int or a tuple of ints, not '{}'",
                    other.type_name()
                )))
            }
        };
        let nbytes = SharedBuffer::layout_size(&format, &dims)?;
        let buf = SharedBuffer::try_zeroed(nbytes)?.with_layout(&format, &dims)?;
        // SAFETY: `ty` is our SharedBuffer type (or a subclass: none allowed).
        Ok(Some(
            unsafe { new_handle_object(py, ty.cast(), buf) }?.into_ptr(),
        ))
    })
}

pub(super) unsafe extern "C" fn buf_getbuffer(
    obj: *mut PyObject,
    view: *mut sys::Py_buffer,
    flags: c_int,
) -> c_int {
    // SAFETY: CPython calls bf_getbuffer on our SharedBuffer objects.
    let b = unsafe { handle_of::<SharedBuffer>(obj) };
    if flags & sys::PyBUF_WRITABLE == sys::PyBUF_WRITABLE && b.is_readonly() {
        // SAFETY: `view` is the Py_buffer CPython passes in to fill.
        unsafe { (*view).obj = null_mut() };
        // SAFETY: reading a static exception type.
        let buffer_error = unsafe { sys::PyExc_BufferError };
        set_error(buffer_error, "this interp.SharedBuffer is read-only");
        return -1;
    }
    let asked = |flag| flags & flag == flag;
    let filled = sys::Py_buffer {
        buf: b.as_ptr().cast(),
        // SAFETY: attached (slot call); a new reference to the live `obj`,
        // which PyBuffer_Release drops.
        obj: unsafe { sys::Py_NewRef(obj) },
        len: b.len() as Py_ssize_t,
        itemsize: b.itemsize() as Py_ssize_t,
        readonly: b.is_readonly() as c_int,
        ndim: b.raw_shape().len() as c_int,
        format: if flags & sys::PyBUF_FORMAT != 0 {
            b.format_cstr().as_ptr() as *mut c_char
        } else {
            null_mut()
        },
        // Shape and strides live in the handle, which lives as long as the
        // object that `view.obj` keeps alive.
        shape: if asked(sys::PyBUF_ND) {
            b.raw_shape().as_ptr() as *mut Py_ssize_t
        } else {
            null_mut()
        },
        strides: if asked(sys::PyBUF_STRIDES) {
            b.raw_strides().as_ptr() as *mut Py_ssize_t
        } else {
            null_mut()
        },
        suboffsets: null_mut(),
        internal: null_mut(),
    };
    // SAFETY: `view` is the Py_buffer CPython passes in to fill.
    unsafe { view.write(filled) };
    0
}

pub(super) unsafe extern "C" fn buf_repr(obj: *mut PyObject) -> *mut PyObject {
    wrap(|py| {
        // SAFETY: our object.
        let b = unsafe { handle_of::<SharedBuffer>(obj) };
        let shape: Vec<String> = b.shape().iter().map(|d| d.to_string()).collect();
        let shape = if shape.len() == 1 {
            format!("({},)", shape[0])
        } else {
            format!("({})", shape.join(", "))
        };
        let ro = if b.is_readonly() { ", readonly" } else { "" };
        Ok(Some(
            py.str(&format!(
                "<interp.SharedBuffer {} bytes, format '{}', shape {shape}{ro}>",
                b.len(),
                b.format()
            ))?
            .into_ptr(),
        ))
    })
}

macro_rules! buf_getter {
    ($name:ident, |$b:ident| $e:expr) => {
        unsafe extern "C" fn $name(obj: *mut PyObject, _c: *mut c_void) -> *mut PyObject {
            wrap(|py| {
                // SAFETY: CPython calls getters on our objects.
                let $b = unsafe { handle_of::<SharedBuffer>(obj) };
                Ok(Some(py.value(&$e)?.into_ptr()))
            })
        }
    };
}
buf_getter!(buf_nbytes, |b| Value::from(b.len() as u64));
buf_getter!(buf_format, |b| Value::str(b.format()));
buf_getter!(buf_shape, |b| Value::tuple(
    b.shape().into_iter().map(|d| Value::from(d as u64))
));
buf_getter!(buf_itemsize, |b| Value::from(b.itemsize() as u64));
buf_getter!(buf_readonly, |b| Value::Bool(b.is_readonly()));
