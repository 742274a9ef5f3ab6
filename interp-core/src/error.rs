//! Errors of interp-core: [`Error`], [`PyException`], and the messages
//! for memory that could not be had and for caught panics.

use std::any::Any;
use std::fmt;

/// The exceptions interp acts on, recognised by their type object when the
/// exception is taken out of its interpreter (not by name): a subclass
/// counts as its base, as `except` would match it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ExceptionKind {
    /// Any other exception.
    #[default]
    Other,
    /// `interp.Cancelled` (the interp module's own type, whatever name the
    /// module is registered under): how a cancel or timeout interrupts
    /// running Python code.
    Cancelled,
    /// `SystemExit`: a pool recycles the worker's interpreter after it.
    SystemExit,
}

/// A Python exception, copied out of the interpreter that raised it: plain
/// strings, so it can travel to any thread or interpreter.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PyException {
    /// `type(exc).__module__` (`"builtins"` for built-in exceptions).
    pub module: String,
    /// `type(exc).__qualname__`, e.g. `"ValueError"` or `"Outer.Error"`.
    pub qualname: String,
    /// `str(exc)`.
    pub message: String,
    /// The formatted exception with its traceback, as
    /// `traceback.format_exception` prints it.
    pub traceback: String,
    /// What to do about it, when interp recognizes the problem (for example
    /// an extension module that refuses isolated interpreters).
    pub hint: Option<String>,
    /// For an `ImportError` (or `ModuleNotFoundError`), its `name`: the
    /// module that could not be imported, when Python set it.
    pub import_name: Option<String>,
    /// Whether it is one of the exceptions interp acts on, from its type
    /// (see [`is_cancelled`](Self::is_cancelled),
    /// [`is_system_exit`](Self::is_system_exit)). An exception made by hand
    /// (not taken from an interpreter) says here what it stands for.
    pub kind: ExceptionKind,
}

impl PyException {
    /// The exception type's qualified name: `qualname` for built-in
    /// exceptions (`"ValueError"`), `module.qualname` otherwise
    /// (`"json.decoder.JSONDecodeError"`).
    pub fn type_name(&self) -> String {
        if self.module == "builtins" || self.module.is_empty() {
            self.qualname.clone()
        } else {
            format!("{}.{}", self.module, self.qualname)
        }
    }

    /// Whether the exception's type is `name` (matched against both forms of
    /// [`type_name`](Self::type_name)). Subclasses do not match.
    pub fn is(&self, name: &str) -> bool {
        self.qualname == name || self.type_name() == name
    }

    /// Whether it is an `interp.Cancelled` (or a subclass): an interruption
    /// by a cancel or a timeout, or a cancelled channel wait.
    pub fn is_cancelled(&self) -> bool {
        self.kind == ExceptionKind::Cancelled
    }

    /// Whether it is a `SystemExit` (or a subclass).
    pub fn is_system_exit(&self) -> bool {
        self.kind == ExceptionKind::SystemExit
    }
}

impl fmt::Display for PyException {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            write!(f, "{}", self.type_name())?;
        } else {
            write!(f, "{}: {}", self.type_name(), self.message)?;
        }
        if let Some(hint) = &self.hint {
            write!(f, " (hint: {hint})")?;
        }
        Ok(())
    }
}

/// The error type of interp-core.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// Python code raised an exception.
    Python(Box<PyException>),
    /// A value could not be converted between Python and [`Value`](crate::Value)
    /// (too deeply nested, not picklable, ...). The message says what and why.
    Conversion(String),
    /// An argument was invalid (for example source code containing a NUL
    /// byte). The message says which and what to do.
    InvalidArgument(String),
    /// The Python runtime could not be initialized, or is in a state that
    /// forbids the operation (finalized, interpreters still alive, ...).
    Runtime(String),
    /// CPython refused to create an interpreter.
    Create(String),
    /// Memory for data of a size given by the caller (a `str`, `bytes`,
    /// `int` or container made from Rust or C data, a shared buffer) could
    /// not be had. The message names what and how big. A Python object too
    /// big to copy out of its interpreter is an [`Error::Conversion`]
    /// instead.
    OutOfMemory(String),
}

impl Error {
    /// The Python exception, when this error is one.
    pub fn exception(&self) -> Option<&PyException> {
        match self {
            Error::Python(e) => Some(e),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Python(e) => fmt::Display::fmt(e, f),
            Error::Conversion(m) => write!(f, "conversion error: {m}"),
            Error::InvalidArgument(m) => write!(f, "invalid argument: {m}"),
            Error::Runtime(m) => write!(f, "runtime error: {m}"),
            Error::Create(m) => write!(f, "could not create interpreter: {m}"),
            Error::OutOfMemory(m) => write!(f, "out of memory: {m}"),
        }
    }
}

impl std::error::Error for Error {}

/// `Result<T, interp_core::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A size in bytes for messages: `"500.0 MiB (524288000 bytes)"`.
pub(crate) fn size_text(bytes: usize) -> String {
    format!(
        "{:.1} MiB ({bytes} bytes)",
        bytes as f64 / (1024.0 * 1024.0)
    )
}

/// [`Error::OutOfMemory`] naming what could not be allocated and its size.
pub(crate) fn no_memory(what: &str, bytes: usize) -> Error {
    Error::OutOfMemory(format!(
        "could not allocate {} for {what}",
        size_text(bytes)
    ))
}

/// "out of memory: ..." naming what could not be allocated and its size
/// (the text of [`no_memory`], for errors of another kind).
pub(crate) fn out_of_memory(what: &str, bytes: usize) -> String {
    no_memory(what, bytes).to_string()
}

/// The text of a caught panic: its payload when that is a string (as
/// `panic!` makes it), else a placeholder. Shared by every boundary that
/// catches panics (Python callbacks, pool workers, the C API).
///
/// Takes the `Box` that [`std::panic::catch_unwind`] returns: a
/// `&dyn Any` made from `&Box<dyn Any>` would be the box itself, and never
/// downcast to the string inside.
#[allow(clippy::borrowed_box)]
pub fn panic_message(payload: &Box<dyn Any + Send>) -> &str {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "a non-string panic payload"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_in_mib_and_bytes() {
        assert_eq!(size_text(0), "0.0 MiB (0 bytes)");
        assert_eq!(size_text(524_288_000), "500.0 MiB (524288000 bytes)");
        let e = no_memory("a str", 3 << 20);
        assert_eq!(
            e,
            Error::OutOfMemory("could not allocate 3.0 MiB (3145728 bytes) for a str".into())
        );
        assert_eq!(
            out_of_memory("a str", 3 << 20),
            "out of memory: could not allocate 3.0 MiB (3145728 bytes) for a str"
        );
    }

    #[test]
    fn panic_messages_come_from_str_and_string_payloads() {
        // (The panics below print their messages: the panic hook is global,
        // and replacing it would hide other tests' panics.)
        let caught = |f: fn()| std::panic::catch_unwind(f).unwrap_err();
        let literal = caught(|| panic!("a literal"));
        let formatted = caught(|| panic!("formatted {}", 42));
        let other = caught(|| std::panic::panic_any(7_u8));
        assert_eq!(panic_message(&literal), "a literal");
        assert_eq!(panic_message(&formatted), "formatted 42");
        assert_eq!(panic_message(&other), "a non-string panic payload");
    }
}
