//! Scoped, lifetime-branded access to the objects of an entered interpreter;
//! its pending exception is copied out as an [`Error`] by `exception.rs`.
//!
//! [`Python<'py>`] is a zero-sized token proving that a thread state of one
//! interpreter is attached on this thread for the lifetime `'py`. Objects are
//! [`Bound<'py>`]: owned references that carry the same brand. The brand is
//! invariant and each [`Interpreter::enter`](crate::Interpreter::enter) call
//! gets a fresh one (a higher-ranked closure), so the compiler rejects an
//! object that outlives its scope, is sent to another thread, or is used
//! under another interpreter's scope.
//!
//! Converting objects to and from [`Value`](crate::Value)
//! ([`Python::value`], [`Bound::to_value`]) is `conversion/`, which builds
//! on this module.
//!
//! ```compile_fail
//! # use interp_core::Interpreter;
//! let a = Interpreter::new().unwrap();
//! // An object cannot escape its scope:
//! let leaked = a.enter(|py| py.eval("1").unwrap());
//! ```
//!
//! ```compile_fail,E0277
//! # use interp_core::Interpreter;
//! let a = Interpreter::new().unwrap();
//! a.enter(|py| {
//!     let x = py.eval("[]").unwrap();
//!     // ... nor be sent to another thread:
//!     std::thread::spawn(move || drop(x));
//! });
//! ```
//!
//! ```compile_fail,E0277
//! # use interp_core::Interpreter;
//! let a = Interpreter::new().unwrap();
//! let b = Interpreter::new().unwrap();
//! a.enter(|py| {
//!     let x = py.eval("[]").unwrap();
//!     // ... nor be captured by a scope of another interpreter:
//!     b.enter(|_py2| drop(x));
//! });
//! ```

use std::ffi::CString;
use std::marker::PhantomData;
use std::ptr::NonNull;

use interp_sys as sys;

mod exception;

use crate::error::{no_memory, size_text, Error, Result};
pub(crate) use exception::{module_not_found_hint, recognise_cancelled};

/// A token for the interpreter entered on this thread, valid for `'py`.
/// `Copy`, zero-sized, neither `Send` nor `Sync`.
#[derive(Clone, Copy)]
pub struct Python<'py> {
    _not_send: PhantomData<*mut ()>,
    _invariant: PhantomData<fn(&'py ()) -> &'py ()>,
}

/// An owned reference to a Python object of the interpreter branded `'py`.
/// Dropping it decrements the reference count; cloning increments it.
pub struct Bound<'py> {
    ptr: NonNull<sys::PyObject>,
    py: Python<'py>,
}

fn cstring(s: &str, what: &str) -> Result<CString> {
    CString::new(s).map_err(|e| {
        Error::InvalidArgument(format!(
            "{what} contains a NUL byte at offset {}",
            e.nul_position()
        ))
    })
}

impl<'py> Python<'py> {
    /// # Safety
    /// A thread state must be attached on this thread for all of `'py`.
    pub(crate) unsafe fn assume_attached() -> Python<'py> {
        Python {
            _not_send: PhantomData,
            _invariant: PhantomData,
        }
    }

    /// Runs `f` with a token for the interpreter whose thread state is
    /// attached on this thread — for functions of a Python extension module,
    /// which CPython calls with their interpreter attached.
    ///
    /// # Safety
    /// A thread state must be attached on this thread, and stay attached
    /// (the same one) while `f` runs.
    pub unsafe fn with_attached<F, R>(f: F) -> R
    where
        F: for<'a> FnOnce(Python<'a>) -> R,
    {
        // SAFETY: the caller guarantees an attached thread state for the
        // whole call; the token cannot outlive `f` (higher-ranked lifetime).
        f(unsafe { Python::assume_attached() })
    }

    /// The id of the interpreter this token belongs to.
    pub fn interpreter_id(self) -> i64 {
        // SAFETY: attached (token invariant).
        unsafe { sys::interpreter_id(sys::PyInterpreterState_Get()) }
    }

    /// Releases this interpreter (its GIL) while `f` runs, and takes it
    /// back afterwards — for blocking waits and long Rust work, so that
    /// other threads can run Python in this interpreter meanwhile. `f` is
    /// `Send`, so it cannot use this scope's objects.
    pub fn detach<F, R>(self, f: F) -> R
    where
        F: FnOnce() -> R + Send,
    {
        struct Reattach(*mut sys::PyThreadState);
        impl Drop for Reattach {
            fn drop(&mut self) {
                // SAFETY: `self.0` was attached on this thread until the
                // detach below and is still live (its scope is active).
                unsafe { sys::attach(self.0) }
            }
        }
        // SAFETY: attached (token); PyEval_SaveThread returns this thread's
        // thread state, re-attached on every exit path by `Reattach`.
        let _reattach = Reattach(unsafe { sys::detach() });
        f()
    }

    /// This OS thread's identifier (`threading.get_ident()`), the target
    /// [`Python::interrupt`] takes.
    pub fn thread_ident(self) -> u64 {
        sys::current_thread_ident() as u64
    }

    /// Asks the thread `thread_ident` (its thread state in this interpreter) to raise
    /// `exc` (an exception class of this interpreter) at its next bytecode
    /// boundary — how a running task is interrupted. Code blocked in a C
    /// call sees it only when the call returns. Returns whether a thread
    /// state with that id exists.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `exc` is not an exception class.
    pub fn interrupt(self, thread_ident: u64, exc: &Bound<'py>) -> Result<bool> {
        // SAFETY: attached; type checks on a valid object.
        let is_exc_class = unsafe {
            sys::PyType_Check(exc.as_ptr()) != 0
                && sys::PyType_IsSubtype(exc.as_ptr().cast(), sys::PyExc_BaseException.cast()) != 0
        };
        if !is_exc_class {
            return Err(Error::InvalidArgument(format!(
                "interrupt needs an exception class, got a '{}'",
                exc.type_name()
            )));
        }
        // SAFETY: attached to the target's interpreter; `exc` belongs to it.
        Ok(unsafe { sys::set_async_exc(thread_ident as std::os::raw::c_ulong, exc.as_ptr()) } > 0)
    }

    /// Withdraws a pending [`interrupt`](Self::interrupt) of this thread
    /// (one not raised yet).
    pub fn clear_interrupt(self) {
        // SAFETY: attached; NULL clears a pending async exception.
        unsafe { sys::set_async_exc(sys::current_thread_ident(), std::ptr::null_mut()) };
    }

    /// Clears the pending exception if it is a `MemoryError`, and says
    /// whether it was.
    fn clear_memory_error(self) -> bool {
        // SAFETY: attached (token); only reading and clearing the error
        // indicator.
        unsafe {
            let matched = sys::PyErr_ExceptionMatches(sys::PyExc_MemoryError) != 0;
            if matched {
                sys::PyErr_Clear();
            }
            matched
        }
    }

    /// Takes the pending Python exception and turns it into an [`Error`].
    pub(crate) fn take_error(self) -> Error {
        exception::take_error(self)
    }

    /// Wraps a new reference returned by a C-API call; NULL becomes the
    /// pending Python exception.
    ///
    /// # Safety
    /// `ptr` must be NULL with an exception set, or a new (owned) reference
    /// to an object of this interpreter.
    pub unsafe fn from_owned_ptr(self, ptr: *mut sys::PyObject) -> Result<Bound<'py>> {
        match NonNull::new(ptr) {
            Some(ptr) => Ok(Bound { ptr, py: self }),
            None => Err(self.take_error()),
        }
    }

    /// Wraps a borrowed reference (increments its count).
    ///
    /// # Safety
    /// `ptr` must be a valid object of this interpreter (not NULL).
    pub unsafe fn from_borrowed_ptr(self, ptr: *mut sys::PyObject) -> Bound<'py> {
        // SAFETY: caller guarantees a valid object; attached.
        unsafe { sys::Py_IncRef(ptr) };
        Bound {
            ptr: NonNull::new(ptr).expect("from_borrowed_ptr: NULL"),
            py: self,
        }
    }

    /// `None`.
    pub fn none(self) -> Bound<'py> {
        // SAFETY: Py_None is immortal and valid in every interpreter.
        unsafe { self.from_borrowed_ptr(sys::Py_None()) }
    }

    /// Imports a module (`import name`) and returns it.
    ///
    /// # Errors
    /// `ModuleNotFoundError` or whatever importing raised; for an extension
    /// module that refuses isolated interpreters the error carries a hint
    /// pointing at [`InterpreterConfig::legacy`](crate::InterpreterConfig::legacy).
    pub fn import(self, name: &str) -> Result<Bound<'py>> {
        let c = cstring(name, "module name")?;
        // SAFETY: attached; `c` is a valid C string.
        unsafe { self.from_owned_ptr(sys::PyImport_ImportModule(c.as_ptr())) }
    }

    /// `sys.<name>` of this interpreter, read from its `sys` module
    /// directly (no import: works while the interpreter closes, when
    /// imports fail); `None` if unset.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) for a
    /// name with a NUL byte.
    pub fn sys_attr(self, name: &str) -> Result<Option<Bound<'py>>> {
        let c = cstring(name, "attribute name")?;
        // SAFETY: attached; `c` is a valid C string; PySys_GetObject returns
        // a borrowed reference or NULL (without an exception), taken as a
        // new reference before anything can release it.
        unsafe {
            let p = sys::PySys_GetObject(c.as_ptr());
            if p.is_null() {
                return Ok(None);
            }
            sys::Py_IncRef(p);
            self.from_owned_ptr(p).map(Some)
        }
    }

    /// The `__main__` module.
    pub fn main_module(self) -> Result<Bound<'py>> {
        // SAFETY: attached; PyImport_AddModule returns a borrowed reference
        // (or NULL with an exception).
        unsafe {
            let m = sys::PyImport_AddModule(c"__main__".as_ptr());
            if m.is_null() {
                return Err(self.take_error());
            }
            Ok(self.from_borrowed_ptr(m))
        }
    }

    fn run(self, source: &str, start: std::os::raw::c_int) -> Result<Bound<'py>> {
        let src = cstring(source, "source code")?;
        let main = self.main_module()?;
        // SAFETY: attached; `src` is a valid C string; the module dict is a
        // borrowed reference kept alive by `main`.
        unsafe {
            let code = self.from_owned_ptr(sys::Py_CompileString(
                src.as_ptr(),
                c"<interp>".as_ptr(),
                start,
            ))?;
            let globals = sys::PyModule_GetDict(main.as_ptr());
            self.from_owned_ptr(sys::PyEval_EvalCode(code.as_ptr(), globals, globals))
        }
    }

    /// Runs `source` as a module body in `__main__`.
    pub fn exec(self, source: &str) -> Result<()> {
        self.run(source, sys::Py_file_input).map(drop)
    }

    /// Evaluates the expression `expr` in `__main__`.
    pub fn eval(self, expr: &str) -> Result<Bound<'py>> {
        self.run(expr, sys::Py_eval_input)
    }

    /// Finds `module.qualname` the way pickle does: imports `module` (a
    /// lookup in `sys.modules` when already imported) and follows the dotted
    /// `qualname` attribute by attribute.
    pub fn lookup(self, module: &str, qualname: &str) -> Result<Bound<'py>> {
        let name = self.str(module)?;
        // SAFETY: attached; PyImport_GetModule returns a new reference or
        // NULL (with an exception only on error).
        let mut obj = match NonNull::new(unsafe { sys::PyImport_GetModule(name.as_ptr()) }) {
            Some(ptr) => Bound { ptr, py: self },
            None => {
                // SAFETY: attached.
                if unsafe { !sys::PyErr_Occurred().is_null() } {
                    return Err(self.take_error());
                }
                self.import(module)
                    .map_err(|e| module_not_found_hint(self, e, Some(module)))?
            }
        };
        if qualname.is_empty() {
            return Err(Error::InvalidArgument(
                "empty function name (qualname)".into(),
            ));
        }
        for part in qualname.split('.') {
            obj = obj.getattr(part)?;
        }
        Ok(obj)
    }

    /// A Python `str` from UTF-8 text.
    pub fn str(self, s: &str) -> Result<Bound<'py>> {
        // SAFETY: attached; pointer and length describe valid UTF-8.
        unsafe {
            self.from_owned_ptr(sys::PyUnicode_FromStringAndSize(
                s.as_ptr().cast(),
                s.len() as sys::Py_ssize_t,
            ))
        }
    }

    /// A tuple of the given objects.
    pub fn tuple(self, items: &[Bound<'py>]) -> Result<Bound<'py>> {
        // SAFETY: attached; PyTuple_New gives a fresh tuple whose slots we
        // fill exactly once with new references.
        unsafe {
            let t = self.from_owned_ptr(sys::PyTuple_New(items.len() as sys::Py_ssize_t))?;
            for (i, item) in items.iter().enumerate() {
                sys::PyTuple_SET_ITEM(t.as_ptr(), i as sys::Py_ssize_t, item.clone().into_ptr());
            }
            Ok(t)
        }
    }
}

impl std::fmt::Debug for Python<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Python")
            .field("interpreter_id", &self.interpreter_id())
            .finish()
    }
}

impl<'py> Bound<'py> {
    /// The token of this object's interpreter.
    pub fn py(&self) -> Python<'py> {
        self.py
    }

    /// The raw pointer (borrowed: still owned by `self`).
    pub fn as_ptr(&self) -> *mut sys::PyObject {
        self.ptr.as_ptr()
    }

    /// Gives up ownership and returns the raw (new) reference.
    pub fn into_ptr(self) -> *mut sys::PyObject {
        let p = self.ptr.as_ptr();
        std::mem::forget(self);
        p
    }

    /// `getattr(self, name)`.
    pub fn getattr(&self, name: &str) -> Result<Bound<'py>> {
        let n = self.py.str(name)?;
        // SAFETY: attached; both objects are valid.
        unsafe {
            self.py
                .from_owned_ptr(sys::PyObject_GetAttr(self.as_ptr(), n.as_ptr()))
        }
    }

    /// `setattr(self, name, value)`.
    pub fn setattr(&self, name: &str, value: &Bound<'py>) -> Result<()> {
        let n = self.py.str(name)?;
        // SAFETY: attached; all objects valid.
        if unsafe { sys::PyObject_SetAttr(self.as_ptr(), n.as_ptr(), value.as_ptr()) } < 0 {
            return Err(self.py.take_error());
        }
        Ok(())
    }

    /// `self(*args, **kwargs)`. A keyword given twice raises `TypeError`,
    /// as in Python.
    pub fn call(&self, args: &[Bound<'py>], kwargs: &[(&str, Bound<'py>)]) -> Result<Bound<'py>> {
        let py = self.py;
        if kwargs.is_empty() {
            // Vectorcall: no argument tuple to build.
            let ptrs: smallvec_lite::Args = args.iter().map(Bound::as_ptr).collect();
            // SAFETY: attached; `ptrs` holds borrowed, live objects that
            // `args` keeps alive during the call.
            return unsafe {
                py.from_owned_ptr(sys::PyObject_Vectorcall(
                    self.as_ptr(),
                    ptrs.as_ptr(),
                    ptrs.len(),
                    std::ptr::null_mut(),
                ))
            };
        }
        let args = py.tuple(args)?;
        let kw = if kwargs.is_empty() {
            None
        } else {
            // SAFETY: attached.
            let d = unsafe { py.from_owned_ptr(sys::PyDict_New()) }?;
            for (i, (name, v)) in kwargs.iter().enumerate() {
                let k = py.str(name)?;
                // SAFETY: attached; valid objects; SetItem does not steal.
                if unsafe { sys::PyDict_SetItem(d.as_ptr(), k.as_ptr(), v.as_ptr()) } < 0 {
                    return Err(py.take_error());
                }
                // A key given before replaced its value instead of adding
                // one: Python raises TypeError for a repeated keyword.
                // SAFETY: attached; `d` is a dict.
                if unsafe { sys::PyDict_Size(d.as_ptr()) } as usize != i + 1 {
                    return Err(self.repeated_keyword(name));
                }
            }
            Some(d)
        };
        let kw_ptr = kw.as_ref().map_or(std::ptr::null_mut(), |d| d.as_ptr());
        // SAFETY: attached; callable, tuple and (optional) dict are valid.
        unsafe { py.from_owned_ptr(sys::PyObject_Call(self.as_ptr(), args.as_ptr(), kw_ptr)) }
    }

    /// The `TypeError` Python raises for a keyword argument given twice:
    /// "f() got multiple values for keyword argument 'x'", the callable
    /// named as CPython names it (`module.qualname()` outside `builtins`,
    /// `str(obj)` for an object without `__qualname__`).
    fn repeated_keyword(&self, name: &str) -> Error {
        let py = self.py;
        let text = |o: Result<Bound<'py>>| {
            o.and_then(|v| v.str_escaped()).unwrap_or_else(|_| {
                // SAFETY: attached.
                unsafe { sys::PyErr_Clear() };
                String::new()
            })
        };
        let qualname = text(self.getattr("__qualname__"));
        let module = text(self.getattr("__module__"));
        let func = if qualname.is_empty() {
            // A callable object: CPython shows its str().
            text(Ok(self.clone()))
        } else if module.is_empty() || module == "builtins" || module == "None" {
            format!("{qualname}()")
        } else {
            format!("{module}.{qualname}()")
        };
        let msg = format!("{func} got multiple values for keyword argument '{name}'");
        // Raised as a real TypeError, so that it reads as Python's own.
        match py.str(&msg) {
            Ok(m) => {
                // SAFETY: attached; PyExc_TypeError is a valid exception
                // type and `m` a live str.
                unsafe { sys::PyErr_SetObject(sys::PyExc_TypeError, m.as_ptr()) };
                py.take_error()
            }
            Err(e) => e,
        }
    }

    /// `repr(self)`.
    pub fn repr(&self) -> Result<String> {
        // SAFETY: attached; valid object.
        let r = unsafe { self.py.from_owned_ptr(sys::PyObject_Repr(self.as_ptr())) }?;
        r.str_contents()
    }

    /// `str(self)`.
    pub fn str(&self) -> Result<String> {
        // SAFETY: attached; valid object.
        let r = unsafe { self.py.from_owned_ptr(sys::PyObject_Str(self.as_ptr())) }?;
        r.str_contents()
    }

    /// The UTF-8 form of a `str` object, borrowed from the object (no
    /// copy), or `None` with an exception set: `TypeError` for an object
    /// that is not a `str`, `UnicodeEncodeError` for lone surrogates,
    /// `MemoryError` (a non-ASCII `str` makes its UTF-8 form on first use).
    pub(crate) fn utf8(&self) -> Option<&str> {
        let mut len: sys::Py_ssize_t = 0;
        // SAFETY: attached; AsUTF8AndSize type-checks and returns NULL with
        // an exception on failure; else valid UTF-8, cached in the object,
        // immutable, and living as long as the object, which `&self` keeps
        // alive for the returned borrow.
        unsafe {
            let p = sys::PyUnicode_AsUTF8AndSize(self.as_ptr(), &mut len);
            (!p.is_null()).then(|| {
                std::str::from_utf8_unchecked(std::slice::from_raw_parts(
                    p.cast::<u8>(),
                    len as usize,
                ))
            })
        }
    }

    /// The contents of a `str` object as UTF-8, copied fallibly.
    pub(crate) fn str_contents(&self) -> Result<String> {
        let s = self.str_utf8()?;
        let mut out = String::new();
        out.try_reserve_exact(s.len())
            .map_err(|_| no_memory("the text of a str", s.len()))?;
        out.push_str(s);
        Ok(out)
    }

    /// The UTF-8 of a `str` object, borrowed from the object (no copy).
    pub(crate) fn str_utf8(&self) -> Result<&str> {
        self.utf8().ok_or_else(|| self.py.take_error())
    }

    /// `str(self)` for display: what is not UTF-8 (lone surrogates) is
    /// escaped as `\udcff` (`backslashreplace`) instead of failing.
    pub(crate) fn str_escaped(&self) -> Result<String> {
        // SAFETY: attached; valid object.
        let r = unsafe { self.py.from_owned_ptr(sys::PyObject_Str(self.as_ptr())) }?;
        r.str_contents_escaped()
    }

    /// The contents of a `str` object as UTF-8, with what is not UTF-8
    /// (lone surrogates) escaped as `\udcff` (`backslashreplace`): for text
    /// that is shown rather than round-tripped (exception messages,
    /// tracebacks, type names).
    ///
    /// Text too big for the memory left is not an error but a placeholder
    /// naming its size (see [`display_copy`]): a huge exception message
    /// must not abort the process, nor hide the exception.
    pub(crate) fn str_contents_escaped(&self) -> Result<String> {
        if let Some(s) = self.utf8() {
            return Ok(display_copy(s));
        }
        // `utf8` left an exception set. A MemoryError (making the UTF-8
        // form) gives a placeholder and a UnicodeEncodeError (lone
        // surrogates) is escaped; a TypeError is reported.
        if self.py.clear_memory_error() {
            return Ok(no_memory_for_text(self));
        }
        // SAFETY: attached; `utf8` left an exception set.
        if unsafe { sys::PyErr_ExceptionMatches(sys::PyExc_UnicodeEncodeError) } == 0 {
            return Err(self.py.take_error());
        }
        // SAFETY: attached.
        unsafe { sys::PyErr_Clear() };
        // SAFETY: attached; `self` is a str; AsEncodedString returns a new
        // reference or NULL with an exception set.
        let escaped = unsafe {
            sys::PyUnicode_AsEncodedString(
                self.as_ptr(),
                c"utf-8".as_ptr(),
                c"backslashreplace".as_ptr(),
            )
        };
        let Some(b) = NonNull::new(escaped).map(|ptr| Bound { ptr, py: self.py }) else {
            if self.py.clear_memory_error() {
                return Ok(no_memory_for_text(self));
            }
            return Err(self.py.take_error());
        };
        // SAFETY: attached; `b` is a bytes object, whose Size bytes of data
        // live as long as it.
        let bytes = unsafe {
            let data = sys::PyBytes_AsString(b.as_ptr()).cast::<u8>();
            std::slice::from_raw_parts(data, sys::PyBytes_Size(b.as_ptr()) as usize)
        };
        // Valid UTF-8 by construction (checked anyway: no unchecked
        // conversion).
        Ok(match std::str::from_utf8(bytes) {
            Ok(s) => display_copy(s),
            Err(_) => "<text that is not UTF-8>".into(),
        })
    }

    /// `type(self).__qualname__`.
    pub fn type_name(&self) -> String {
        // SAFETY: attached; every object has a type.
        let ty = unsafe {
            self.py
                .from_borrowed_ptr(sys::Py_TYPE(self.as_ptr()).cast())
        };
        ty.getattr("__qualname__")
            .and_then(|q| q.str_contents_escaped())
            .unwrap_or_else(|_| {
                // SAFETY: attached.
                unsafe { sys::PyErr_Clear() };
                "?".into()
            })
    }

    /// `self is None`.
    pub fn is_none(&self) -> bool {
        // SAFETY: comparing with the immortal None.
        self.as_ptr() == unsafe { sys::Py_None() }
    }
}

impl Clone for Bound<'_> {
    fn clone(&self) -> Self {
        // SAFETY: attached (brand); valid object.
        unsafe { self.py.from_borrowed_ptr(self.as_ptr()) }
    }
}

impl Drop for Bound<'_> {
    fn drop(&mut self) {
        // SAFETY: the brand guarantees this interpreter is attached on this
        // thread; we own one reference.
        unsafe { sys::Py_DecRef(self.ptr.as_ptr()) }
    }
}

impl std::fmt::Debug for Bound<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.repr() {
            Ok(r) => f.write_str(&r),
            Err(_) => write!(f, "<{} object>", self.type_name()),
        }
    }
}

/// How much of a text too big to copy [`display_copy`] keeps (bytes).
const DISPLAY_PREFIX: usize = 4096;

/// A copy of `s`, for display, allocated fallibly: when the memory for the
/// whole of it cannot be had, its start (up to [`DISPLAY_PREFIX`] bytes)
/// and a note naming its size.
pub(crate) fn display_copy(s: &str) -> String {
    let mut out = String::new();
    if out.try_reserve_exact(s.len()).is_ok() {
        out.push_str(s);
        return out;
    }
    cut_short(s)
}

/// The start of `s` (up to [`DISPLAY_PREFIX`] bytes) and a note that the
/// whole, of the size named, could not be copied.
pub(super) fn cut_short(s: &str) -> String {
    let mut end = s.len().min(DISPLAY_PREFIX);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}... [cut short: the whole text, {}, could not be copied: out of memory]",
        &s[..end],
        size_text(s.len())
    )
}

/// The placeholder for a `str` object whose UTF-8 form Python could not
/// make for lack of memory.
fn no_memory_for_text(s: &Bound<'_>) -> String {
    // SAFETY: attached; `s` is a str (its UTF-8 form was asked for);
    // GetLength only reads it.
    let chars = unsafe { sys::PyUnicode_GetLength(s.as_ptr()) };
    if chars < 0 {
        // SAFETY: attached.
        unsafe { sys::PyErr_Clear() };
    }
    format!("<a str of {chars} characters: out of memory converting it to UTF-8>")
}

/// A small inline buffer of argument pointers (no allocation up to 8).
mod smallvec_lite {
    use interp_sys::PyObject;

    pub(super) enum Args {
        Inline([*mut PyObject; 8], usize),
        Heap(Vec<*mut PyObject>),
    }

    impl FromIterator<*mut PyObject> for Args {
        fn from_iter<I: IntoIterator<Item = *mut PyObject>>(iter: I) -> Self {
            let mut buf = [std::ptr::null_mut(); 8];
            let mut n = 0;
            let mut iter = iter.into_iter();
            for p in iter.by_ref() {
                if n == 8 {
                    let mut v = buf.to_vec();
                    v.push(p);
                    v.extend(iter);
                    return Args::Heap(v);
                }
                buf[n] = p;
                n += 1;
            }
            Args::Inline(buf, n)
        }
    }

    impl Args {
        pub(super) fn as_ptr(&self) -> *const *mut PyObject {
            match self {
                Args::Inline(b, _) => b.as_ptr(),
                Args::Heap(v) => v.as_ptr(),
            }
        }

        pub(super) fn len(&self) -> usize {
            match self {
                Args::Inline(_, n) => *n,
                Args::Heap(v) => v.len(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_cut_short_keeps_whole_characters_and_names_the_size() {
        // 3-byte characters: the kept start ends on a character boundary.
        let text = "\u{20ac}".repeat(3000);
        let cut = cut_short(&text);
        let (start, note) = cut.split_once("... [").unwrap();
        assert_eq!(start.len(), 4095);
        assert!(text.starts_with(start));
        assert_eq!(
            note,
            "cut short: the whole text, 0.0 MiB (9000 bytes), could not be copied: out of memory]"
        );
        assert_eq!(display_copy(&text), text);
    }
}
