//! Raw FFI for interp.
//!
//! This crate is the bottom layer: it re-exports [`pyo3_ffi`] (every CPython
//! C-API binding interp uses) and adds thin `unsafe` helpers for the parts of
//! the API that drive subinterpreters and thread states. It makes no policy
//! decisions: who owns a thread state, when a GIL is held, and which thread may
//! touch which interpreter are the caller's business (see `interp-core`).
//!
//! # Safety
//!
//! Every function here is a direct call into CPython and inherits its
//! contract. The helpers document the contract they rely on under `# Safety`;
//! the underlying C functions are documented in the CPython C-API reference
//! ("Initialization, Finalization, and Threads").
//!
//! # Build configuration
//!
//! The build script locates CPython through `PYO3_PYTHON` (as pyo3-ffi does),
//! refuses versions older than 3.12 and free-threaded builds, and exposes the
//! build-time facts as [`PYTHON_PREFIX`], [`PYTHON_INCLUDE`] and
//! [`PYTHON_VERSION`].
//!
//! A binary that embeds libpython needs an rpath to it when it lies outside
//! the loader's default path, and Cargo lets no dependency give a binary a
//! link argument. The build script publishes the argument as `links`
//! metadata instead; a crate that depends on interp-sys directly passes it on
//! with a one-line `build.rs`:
//!
//! ```text
//! fn main() { println!("cargo:rustc-link-arg={}", std::env::var("DEP_INTERP_SYS_LINK_ARG").unwrap()); }
//! ```
//!
//! Every package that links something with interp-sys in it (binaries,
//! tests, examples, benchmarks, doctests, cdylibs) needs that line. Without
//! it the link fails, naming an undefined symbol that says so, rather than
//! producing a binary that cannot start or a library that cannot be loaded.
//! (Where libpython is in the loader's cache, as a distribution's is, there
//! is no such check and no line is needed.) `DEP_INTERP_SYS_LIBDIR`,
//! `DEP_INTERP_SYS_PREFIX` and `DEP_INTERP_SYS_INCLUDE` are published too.

#![allow(non_snake_case)]

use std::ffi::CStr;
use std::fmt;
use std::os::raw::{c_int, c_long};

pub use pyo3_ffi::*;

/// `sys.base_prefix` of the CPython this crate was built against. Embedders set
/// `PyConfig.home` to it so that the standard library is found without
/// `PYTHONHOME`.
pub const PYTHON_PREFIX: &str = env!("INTERP_PYTHON_PREFIX");
/// Directory of `Python.h` for the CPython this crate was built against.
pub const PYTHON_INCLUDE: &str = env!("INTERP_PYTHON_INCLUDE");
/// Full version (`3.14.7`) of the CPython this crate was built against.
pub const PYTHON_VERSION: &str = env!("INTERP_PYTHON_VERSION");
/// Path of the `python` executable this crate was built against.
pub const PYTHON_EXECUTABLE: &str = env!("INTERP_PYTHON_EXECUTABLE");

/// The link-time check that a binary has the rpath to libpython (see the
/// crate docs). Compiled in when the build script found libpython outside the
/// loader's cache; the symbol is defined by `DEP_INTERP_SYS_LINK_ARG`
/// (`--defsym`) and never read.
#[cfg(interp_rpath_guard)]
mod rpath_guard {
    // Hidden visibility: the guard must be defined inside the linked object
    // itself, so a shared library (cdylib) that lacks it fails to link, as
    // an executable does, instead of linking with the symbol undefined and
    // failing when it is loaded ("undefined symbol" from dlopen). A cdylib
    // takes the same build.rs line as a binary (the rpath does no harm in a
    // Python process); there is deliberately no macro that defines the guard
    // in a library's code instead, since that would also silence the check
    // for the package's own tests and doctests, which do need the rpath.
    std::arch::global_asm!(concat!(
        ".globl ",
        env!("INTERP_RPATH_GUARD"),
        "\n.hidden ",
        env!("INTERP_RPATH_GUARD")
    ));

    extern "C" {
        #[link_name = env!("INTERP_RPATH_GUARD")]
        static GUARD: u8;
    }

    /// The guard's address, in a static the linker keeps.
    struct Reference {
        _address: *const u8,
    }
    // SAFETY: the pointer is never dereferenced; it exists to be linked.
    unsafe impl Sync for Reference {}

    /// References the guard from every binary and library that includes
    /// interp-sys, whichever of its functions (or libpython's) it calls.
    #[used]
    static REQUIRE: Reference = Reference {
        _address: &raw const GUARD,
    };
}

/// The configuration of an isolated subinterpreter: its own GIL, its own
/// object allocator, the multi-interpreter extension check on, and no
/// `fork`, `exec` or daemon threads. Identical to CPython's
/// `_PyInterpreterConfig_INIT`.
pub const fn isolated_config() -> PyInterpreterConfig {
    PyInterpreterConfig {
        use_main_obmalloc: 0,
        allow_fork: 0,
        allow_exec: 0,
        allow_threads: 1,
        allow_daemon_threads: 0,
        check_multi_interp_extensions: 1,
        gil: PyInterpreterConfig_OWN_GIL,
    }
}

/// The configuration of a "legacy" subinterpreter, the one `Py_NewInterpreter`
/// makes: it shares the main interpreter's GIL and allocator, and loads
/// extension modules that do not support isolation. Identical to CPython's
/// `_PyInterpreterConfig_LEGACY_INIT` on GIL builds.
pub const fn legacy_config() -> PyInterpreterConfig {
    PyInterpreterConfig {
        use_main_obmalloc: 1,
        allow_fork: 1,
        allow_exec: 1,
        allow_threads: 1,
        allow_daemon_threads: 1,
        check_multi_interp_extensions: 0,
        gil: PyInterpreterConfig_SHARED_GIL,
    }
}

/// A failed `PyStatus`, with CPython's function name and message copied out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusError {
    /// The C function that failed (`PyStatus.func`), if CPython named one.
    pub func: Option<String>,
    /// CPython's message (`PyStatus.err_msg`).
    pub message: String,
    /// The exit code, for a status that asks the process to exit.
    pub exit_code: Option<c_int>,
}

impl fmt::Display for StatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.func {
            Some(func) => write!(f, "{func}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for StatusError {}

/// Converts a `PyStatus` into a `Result`.
///
/// # Safety
/// `status` must come from CPython (its string pointers are NULL or point to
/// static NUL-terminated strings, as CPython guarantees).
pub unsafe fn check_status(status: PyStatus) -> Result<(), StatusError> {
    // SAFETY: PyStatus_Exception only reads the struct.
    if unsafe { PyStatus_Exception(status) } == 0 {
        return Ok(());
    }
    let text = |p: *const std::os::raw::c_char| {
        (!p.is_null()).then(|| {
            // SAFETY: CPython sets these to NULL (excluded) or to static,
            // NUL-terminated C strings.
            unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
        })
    };
    // SAFETY: PyStatus_IsExit only reads the struct.
    let is_exit = unsafe { PyStatus_IsExit(status) } != 0;
    Err(StatusError {
        func: text(status.func),
        message: text(status.err_msg).unwrap_or_else(|| "unknown CPython error".to_owned()),
        exit_code: is_exit.then_some(status.exitcode),
    })
}

/// Creates a subinterpreter with `Py_NewInterpreterFromConfig` and returns its
/// first thread state, which is bound to the calling OS thread, current, and
/// attached (it holds the new interpreter's GIL, or the shared one).
///
/// # Safety
/// The runtime must be initialized, and the calling thread must have no
/// attached thread state (detach any first with [`detach`]): interp never
/// relies on CPython's "save and restore the caller's thread state" path.
pub unsafe fn new_interpreter(
    config: &PyInterpreterConfig,
) -> Result<*mut PyThreadState, StatusError> {
    let mut tstate: *mut PyThreadState = std::ptr::null_mut();
    // SAFETY: `tstate` is a valid out-pointer and `config` a valid config;
    // the caller upholds the runtime/thread-state preconditions.
    let status = unsafe { Py_NewInterpreterFromConfig(&mut tstate, config) };
    // SAFETY: status comes from CPython.
    unsafe { check_status(status) }?;
    debug_assert!(!tstate.is_null());
    Ok(tstate)
}

/// Ends a subinterpreter with `Py_EndInterpreter`. Afterwards no thread state
/// is current on this thread.
///
/// # Safety
/// `tstate` must be the current, attached thread state of the interpreter to
/// end, that interpreter must not be the main one, no frame may be running in
/// it, and every other thread state of that interpreter must already have
/// been cleared and deleted (CPython aborts the process otherwise).
pub unsafe fn end_interpreter(tstate: *mut PyThreadState) {
    // SAFETY: preconditions forwarded to the caller.
    unsafe { Py_EndInterpreter(tstate) }
}

/// Creates a thread state for `interp`, bound to the calling OS thread. It is
/// not attached; attach it with [`attach`].
///
/// # Safety
/// `interp` must be a live interpreter. A thread state must only ever be
/// attached on the OS thread that created it.
pub unsafe fn new_thread_state(interp: *mut PyInterpreterState) -> *mut PyThreadState {
    // SAFETY: forwarded.
    unsafe { PyThreadState_New(interp) }
}

/// Attaches `tstate`: takes its interpreter's GIL (blocking) and makes it the
/// current thread state (`PyEval_RestoreThread`).
///
/// # Safety
/// No thread state may be attached on this thread, and `tstate` must be a
/// live thread state created on this thread.
pub unsafe fn attach(tstate: *mut PyThreadState) {
    // SAFETY: forwarded.
    unsafe { PyEval_RestoreThread(tstate) }
}

/// Detaches the current thread state, releasing its GIL
/// (`PyEval_SaveThread`), and returns it.
///
/// # Safety
/// A thread state must be attached on this thread.
pub unsafe fn detach() -> *mut PyThreadState {
    // SAFETY: forwarded.
    unsafe { PyEval_SaveThread() }
}

/// The thread state attached on this thread, or NULL. Never fails.
pub fn current_thread_state() -> *mut PyThreadState {
    // SAFETY: PyThreadState_GetUnchecked (or its 3.12 equivalent) only reads
    // a thread-local and may be called without a thread state.
    unsafe { pyo3_ffi::compat::PyThreadState_GetUnchecked() }
}

/// Clears and deletes a thread state that is *not* the current one.
///
/// # Safety
/// `tstate` must be live, not attached on any thread, and the caller must
/// hold (be attached to a thread state of) the same interpreter, whose GIL
/// `PyThreadState_Clear` needs.
pub unsafe fn delete_thread_state(tstate: *mut PyThreadState) {
    // SAFETY: forwarded.
    unsafe {
        PyThreadState_Clear(tstate);
        PyThreadState_Delete(tstate);
    }
}

/// Clears and deletes the current thread state, releasing its GIL. Afterwards
/// no thread state is current on this thread.
///
/// # Safety
/// `tstate` must be the current, attached thread state, with no frame running.
pub unsafe fn delete_current_thread_state(tstate: *mut PyThreadState) {
    // SAFETY: forwarded; PyThreadState_Clear may be called on the current
    // thread state, and DeleteCurrent releases the GIL.
    unsafe {
        PyThreadState_Clear(tstate);
        PyThreadState_DeleteCurrent();
    }
}

/// The interpreter `tstate` belongs to.
///
/// # Safety
/// `tstate` must be a live thread state.
pub unsafe fn thread_state_interpreter(tstate: *mut PyThreadState) -> *mut PyInterpreterState {
    // SAFETY: forwarded.
    unsafe { PyThreadState_GetInterpreter(tstate) }
}

/// The unique id of `tstate` (`PyThreadState_GetID`). Not what
/// [`set_async_exc`] takes: that is [`current_thread_ident`].
///
/// # Safety
/// `tstate` must be a live thread state.
pub unsafe fn thread_state_id(tstate: *mut PyThreadState) -> i64 {
    // SAFETY: forwarded.
    unsafe { PyThreadState_GetID(tstate) }
}

/// The unique, never reused id of an interpreter (`PyInterpreterState_GetID`).
///
/// # Safety
/// `interp` must be live.
pub unsafe fn interpreter_id(interp: *mut PyInterpreterState) -> i64 {
    // SAFETY: forwarded.
    unsafe { PyInterpreterState_GetID(interp) }
}

/// The calling OS thread's identifier as CPython records it in the thread
/// states made on it (`PyThread_get_thread_ident`, `threading.get_ident()`),
/// the id [`set_async_exc`] takes. Callable without a thread state.
pub fn current_thread_ident() -> std::os::raw::c_ulong {
    // SAFETY: reads the calling thread's identifier; no preconditions.
    unsafe { PyThread_get_thread_ident() }
}

/// Asks the thread states of OS thread `thread_id` (see
/// [`current_thread_ident`]) in the *current* interpreter to
/// raise `exc` (an exception class, or NULL to clear a pending request) at
/// its next bytecode boundary. Returns how many thread states were modified.
///
/// # Safety
/// A thread state of the target's interpreter must be attached on this
/// thread; `exc` must be NULL or an object of that interpreter.
pub unsafe fn set_async_exc(thread_id: std::os::raw::c_ulong, exc: *mut PyObject) -> c_int {
    // SAFETY: forwarded; CPython declares the id `unsigned long`.
    unsafe { PyThreadState_SetAsyncExc(thread_id as c_long, exc) }
}

/// Whether the runtime is finalizing (`Py_IsFinalizing`): a thread that
/// attaches then never returns, so nothing may enter an interpreter.
/// Callable without a thread state.
pub fn is_finalizing() -> bool {
    #[cfg(Py_3_13)]
    // SAFETY: may be called without a thread state.
    let f = unsafe { Py_IsFinalizing() };
    #[cfg(not(Py_3_13))]
    // SAFETY: as above (the 3.12 spelling).
    let f = unsafe { _Py_IsFinalizing() };
    f != 0
}

#[cfg(not(Py_3_13))]
extern "C" {
    // Exported by CPython 3.12 (`Py_IsFinalizing` is public from 3.13).
    fn _Py_IsFinalizing() -> c_int;
}

extern "C" {
    // Exported (PyAPI_FUNC) by CPython 3.12 to 3.14: declared in
    // `cpython/intrcheck.h` up to 3.12, `internal/pycore_signal.h` since.
    fn _PyOS_IsMainThread() -> c_int;
}

/// Whether the attached thread is the main thread of the main interpreter,
/// the one place where CPython runs signal handlers (`PyErr_CheckSignals`
/// does nothing anywhere else). CPython's `_PyOS_IsMainThread`: underscored,
/// but exported by every supported version, and no public function says it.
///
/// # Safety
/// A thread state must be attached on this thread.
pub unsafe fn handles_signals() -> bool {
    // SAFETY: forwarded; it reads the attached thread state's interpreter.
    unsafe { _PyOS_IsMainThread() != 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_match_cpython_semantics() {
        let iso = isolated_config();
        assert_eq!(iso.gil, PyInterpreterConfig_OWN_GIL);
        assert_eq!(iso.use_main_obmalloc, 0, "own GIL requires own obmalloc");
        assert_eq!(
            iso.check_multi_interp_extensions, 1,
            "own obmalloc requires the check"
        );
        let legacy = legacy_config();
        assert_eq!(legacy.gil, PyInterpreterConfig_SHARED_GIL);
        assert_eq!(legacy.use_main_obmalloc, 1);
    }
}
