//! The pending exception of the entered interpreter copied out as an
//! [`Error`]: its kind, message and traceback, and the hints added for
//! extension modules that refuse subinterpreters and for modules not found.

use std::ptr::NonNull;
use std::sync::OnceLock;

use interp_sys as sys;

use super::{cut_short, Bound, Python};
use crate::cancel;
use crate::error::{Error, ExceptionKind, PyException, Result};

const REFUSES_SUBINTERPRETERS: &str = "does not support loading in subinterpreters";

/// Takes the pending exception out of the interpreter (clearing it) as an
/// [`Error::Python`].
pub(super) fn take_error(py: Python<'_>) -> Error {
    // SAFETY: attached; GetRaisedException returns a new reference or NULL.
    let exc = match unsafe { NonNull::new(sys::PyErr_GetRaisedException()) } {
        Some(p) => Bound { ptr: p, py },
        None => return Error::Runtime("a CPython call failed without setting an exception".into()),
    };
    // Each step may itself raise; fall back to placeholders and clear.
    let clear = || {
        // SAFETY: attached.
        unsafe { sys::PyErr_Clear() }
    };
    // SAFETY: attached; every object has a type.
    let ty = unsafe { py.from_borrowed_ptr(sys::Py_TYPE(exc.as_ptr()).cast()) };
    let attr = |o: &Bound<'_>, name: &str| {
        o.getattr(name)
            .and_then(|v| v.str_escaped())
            .unwrap_or_else(|_| {
                clear();
                String::new()
            })
    };
    let module = attr(&ty, "__module__");
    let qualname = attr(&ty, "__qualname__");
    let message = exc.str_escaped().unwrap_or_else(|_| {
        clear();
        "<exception str() failed>".into()
    });
    // The message may be huge (and the memory nearly gone): the one-line
    // forms below copy it fallibly.
    let one_line = |name: &str| {
        let mut line = String::new();
        match line.try_reserve_exact(name.len() + message.len() + 3) {
            Ok(()) => {
                line.push_str(name);
                line.push_str(": ");
                line.push_str(&message);
                line.push('\n');
                line
            }
            Err(_) => format!("{name}: {}\n", cut_short(&message)),
        }
    };
    let kind = kind_of(py, &exc);
    // An `interp.Cancelled` under a cancelled token is the interruption its
    // canceller asked for (a pool's cancel or timeout): the canceller reports
    // it as such and has no use for where it landed. Formatting a traceback
    // imports `traceback` on an interpreter's first error (about 35 ms, 1.7 s
    // under valgrind), time the canceller would wait for, so skip it.
    let traceback = if kind == ExceptionKind::Cancelled && cancel::current_is_cancelled() {
        one_line(&format!("{module}.{qualname}"))
    } else {
        format_traceback(py, &exc).unwrap_or_else(|_| {
            clear();
            one_line(&qualname)
        })
    };
    // SAFETY: attached; `exc` is a live exception and PyExc_ImportError a
    // valid exception type.
    let import_name =
        if unsafe { sys::PyErr_GivenExceptionMatches(exc.as_ptr(), sys::PyExc_ImportError) } != 0 {
            Some(attr(&exc, "name")).filter(|n| !n.is_empty() && n != "None")
        } else {
            None
        };
    let hint = if message.contains(REFUSES_SUBINTERPRETERS) {
        // CPython's message is "module NAME does not support loading in
        // subinterpreters"; ImportError.name is not always set.
        let mut name = import_name.clone().unwrap_or_default();
        if name.is_empty() {
            name = message
                .split_whitespace()
                .nth(1)
                .unwrap_or("?")
                .trim_matches('\'')
                .to_owned();
        }
        let name = format!("'{name}'");
        Some(format!(
            "extension module {name} refuses isolated (own-GIL) interpreters; run it in an interpreter \
             created with InterpreterConfig::legacy() (shared GIL), or in the main interpreter"
        ))
    } else {
        None
    };
    Error::Python(Box::new(PyException {
        module,
        qualname,
        message,
        traceback,
        hint,
        import_name,
        kind,
    }))
}

/// Tells whether an exception is an `interp.Cancelled` of the attached
/// interpreter: `module::is_cancelled`, which the `interp` module hands
/// over when it is first loaded in an interpreter (a link upwards at run
/// time, without an import: the module's code is built on this one). Until
/// then no interpreter has the type, so no exception is one.
static IS_CANCELLED: OnceLock<fn(Python<'_>, &Bound<'_>) -> bool> = OnceLock::new();

/// Sets how an `interp.Cancelled` is told apart (see [`IS_CANCELLED`]);
/// later calls change nothing.
pub(crate) fn recognise_cancelled(is_cancelled: fn(Python<'_>, &Bound<'_>) -> bool) {
    let _ = IS_CANCELLED.set(is_cancelled);
}

/// Which of the exceptions interp acts on `exc` is, from its type.
fn kind_of(py: Python<'_>, exc: &Bound<'_>) -> ExceptionKind {
    if IS_CANCELLED
        .get()
        .is_some_and(|is_cancelled| is_cancelled(py, exc))
    {
        return ExceptionKind::Cancelled;
    }
    // SAFETY: attached; `exc` is a live exception and PyExc_SystemExit a
    // valid exception type.
    if unsafe { sys::PyErr_GivenExceptionMatches(exc.as_ptr(), sys::PyExc_SystemExit) } != 0 {
        return ExceptionKind::SystemExit;
    }
    ExceptionKind::Other
}

/// Adds a hint to the `ModuleNotFoundError` raised while importing
/// `wanted` (a function's module), or while making a value (`None`:
/// unpickling imports the modules of functions and classes).
///
/// The missing module is `ImportError.name`. When it is a top-level name,
/// it is not on `sys.path`, which `python_path` extends: the hint says so.
/// When it is a submodule, its parent was imported, so the path is fine:
/// the hint says where the parent was found and that it lacks the
/// submodule (or is not a package). For a function's module only the module
/// itself and its parent packages get a hint, not the modules it imports.
pub(crate) fn module_not_found_hint(py: Python<'_>, e: Error, wanted: Option<&str>) -> Error {
    let Error::Python(mut x) = e else { return e };
    if !x.is("ModuleNotFoundError") || x.hint.is_some() {
        return Error::Python(x);
    }
    let Some(missing) = x.import_name.as_deref() else {
        return Error::Python(x);
    };
    if let Some(w) = wanted {
        let ours = w == missing || w.strip_prefix(missing).is_some_and(|r| r.starts_with('.'));
        if !ours {
            return Error::Python(x);
        }
    }
    let hint = match missing.rsplit_once('.') {
        None if !x.message.contains("is not a package") => {
            let what = match wanted {
                Some(w) if w != missing => format!("'{missing}' (of module '{w}')"),
                _ => format!("module '{missing}'"),
            };
            format!(
                "{what} is not on the interpreter's sys.path: add the directory that holds it \
                 with RuntimeConfig::python_path (C: interp_runtime_config_add_python_path) \
                 before the runtime starts, or define the function in __main__ (e.g. in the \
                 pool's initializer)"
            )
        }
        None => return Error::Python(x),
        Some((parent, sub)) => {
            let (is_package, place) = where_found(py, parent);
            if is_package {
                format!(
                    "package '{parent}' was found ({place}) but has no submodule '{sub}': check \
                     the name"
                )
            } else {
                format!(
                    "module '{parent}' was found ({place}) but is not a package, so it has no \
                     submodule '{sub}': check the name"
                )
            }
        }
    };
    x.hint = Some(hint);
    Error::Python(x)
}

/// Whether the imported module `name` is a package, and where it was
/// found: its `__file__`, else its `__path__`, for display.
fn where_found(py: Python<'_>, name: &str) -> (bool, String) {
    let clear = || {
        // SAFETY: attached.
        unsafe { sys::PyErr_Clear() }
    };
    let module = py.str(name).ok().and_then(|n| {
        // SAFETY: attached; PyImport_GetModule returns a new reference or
        // NULL (with an exception only on error).
        unsafe { py.from_owned_ptr(sys::PyImport_GetModule(n.as_ptr())) }.ok()
    });
    clear();
    let Some(module) = module else {
        return (false, "imported".into());
    };
    let text = |attr: &str| {
        let t = module
            .getattr(attr)
            .ok()
            .filter(|v| !v.is_none())
            .and_then(|v| v.str_escaped().ok());
        clear();
        t
    };
    let path = text("__path__");
    let place = match (text("__file__"), &path) {
        (Some(file), _) => format!("at {file}"),
        (None, Some(path)) => format!("at {path}"),
        (None, None) => "built into Python".into(),
    };
    (path.is_some(), place)
}

thread_local! {
    /// Tracebacks this thread is formatting now (nested ones included).
    static FORMATTING: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// How deep tracebacks may be formatted within one another: a `__str__`
/// that runs code through interp formats its own errors, but no deeper.
const FORMAT_DEPTH: u32 = 2;

fn format_traceback<'py>(py: Python<'py>, exc: &Bound<'py>) -> Result<String> {
    // Formatting imports `traceback`; when that fails (an interpreter
    // closing, `sys.modules` tampered with), the import error is taken,
    // and its traceback formatted, again, without end: bounded here.
    struct Formatting;
    impl Drop for Formatting {
        fn drop(&mut self) {
            FORMATTING.with(|f| f.set(f.get() - 1));
        }
    }
    if FORMATTING.with(|f| f.get()) >= FORMAT_DEPTH {
        return Err(Error::Runtime("a traceback could not be formatted".into()));
    }
    FORMATTING.with(|f| f.set(f.get() + 1));
    let _formatting = Formatting;
    let format = py.lookup("traceback", "format_exception")?;
    let lines = format.call(std::slice::from_ref(exc), &[])?;
    let sep = py.str("")?;
    // SAFETY: attached; join returns a new reference or NULL.
    let joined = unsafe { py.from_owned_ptr(sys::PyUnicode_Join(sep.as_ptr(), lines.as_ptr())) }?;
    joined.str_contents_escaped()
}
