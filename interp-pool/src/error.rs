//! The crate's errors: [`PoolError`] (pool operations) and [`TaskError`]
//! (why a task produced no value).

use std::fmt;
use std::io;
use std::sync::Arc;

use interp_core::{Error, PyException};

/// Errors of pool operations (task failures are [`TaskError`]s).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum PoolError {
    /// The pool was shut down; it accepts no more tasks.
    Shutdown,
    /// A worker's interpreter could not be created, or the initializer
    /// failed (the error carries the Python exception).
    Init(interp_core::Error),
    /// A bad argument; the message says which.
    InvalidArgument(String),
    /// The operating system refused a pool thread (a worker or the
    /// supervisor): too many threads, too little memory for its stack.
    Spawn(Arc<io::Error>),
}

impl PartialEq for PoolError {
    /// [`Spawn`](PoolError::Spawn) errors are equal when they are of the
    /// same kind and say the same (`io::Error` has no equality).
    fn eq(&self, other: &PoolError) -> bool {
        match (self, other) {
            (PoolError::Shutdown, PoolError::Shutdown) => true,
            (PoolError::Init(a), PoolError::Init(b)) => a == b,
            (PoolError::InvalidArgument(a), PoolError::InvalidArgument(b)) => a == b,
            (PoolError::Spawn(a), PoolError::Spawn(b)) => {
                a.kind() == b.kind() && a.to_string() == b.to_string()
            }
            _ => false,
        }
    }
}

impl Eq for PoolError {}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PoolError::Shutdown => f.write_str("the pool was shut down and accepts no more tasks"),
            PoolError::Init(e) => write!(f, "a pool worker could not start: {e}"),
            PoolError::InvalidArgument(m) => write!(f, "invalid argument: {m}"),
            PoolError::Spawn(e) => write!(f, "cannot spawn a pool thread: {e}"),
        }
    }
}

impl std::error::Error for PoolError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PoolError::Init(e) => Some(e),
            PoolError::Spawn(e) => Some(&**e),
            _ => None,
        }
    }
}

/// Why a task produced no value.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum TaskError {
    /// The Python code raised: type, message and traceback.
    Python(Box<PyException>),
    /// The result (or an argument) could not cross interpreters.
    Conversion(String),
    /// interp refused the call, or could not make it: an invalid argument
    /// (an empty function name, a NUL byte in one), a runtime in a state
    /// that forbids it (finalized). Never [`Error::Python`] or
    /// [`Error::Conversion`], which are [`TaskError::Python`] and
    /// [`TaskError::Conversion`].
    Interp(Error),
    /// Cancelled (before it ran, or interrupted while running).
    Cancelled,
    /// Interrupted because it ran longer than its
    /// [`Call::timeout`](crate::Call::timeout).
    TimedOut,
    /// A Rust closure (`submit_with`, `submit_blocking`) panicked; the
    /// worker survived.
    Panicked(String),
    /// A Rust closure returned an error.
    Failed(String),
    /// The worker running it had to be replaced: the task ignored
    /// interruption past the pool's kill grace, or left its interpreter
    /// unusable.
    WorkerLost(String),
    /// The pool shut down before the task ran.
    Shutdown,
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::Python(e) => write!(f, "{e}"),
            TaskError::Conversion(m) => write!(f, "conversion error: {m}"),
            TaskError::Interp(e) => write!(f, "task failed: {e}"),
            TaskError::Cancelled => f.write_str("task cancelled"),
            TaskError::TimedOut => f.write_str("task timed out and was interrupted"),
            TaskError::Panicked(m) => write!(f, "task panicked: {m}"),
            TaskError::Failed(m) => write!(f, "task failed: {m}"),
            TaskError::WorkerLost(m) => write!(f, "worker lost: {m}"),
            TaskError::Shutdown => f.write_str("the pool shut down before the task ran"),
        }
    }
}

impl std::error::Error for TaskError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TaskError::Interp(e) => Some(e),
            _ => None,
        }
    }
}

impl TaskError {
    /// The Python exception, for [`TaskError::Python`].
    pub fn exception(&self) -> Option<&PyException> {
        match self {
            TaskError::Python(e) => Some(e),
            _ => None,
        }
    }
}

impl From<Error> for TaskError {
    fn from(e: Error) -> TaskError {
        match e {
            Error::Python(e) => TaskError::Python(e),
            Error::Conversion(m) => TaskError::Conversion(m),
            other => TaskError::Interp(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_errors_keep_the_kind_of_interp_errors() {
        let runtime = TaskError::from(Error::Runtime("finalized".into()));
        assert_eq!(
            runtime,
            TaskError::Interp(Error::Runtime("finalized".into()))
        );
        assert_eq!(runtime.to_string(), "task failed: runtime error: finalized");
        let invalid = TaskError::from(Error::InvalidArgument("empty name".into()));
        assert!(
            matches!(&invalid, TaskError::Interp(Error::InvalidArgument(m)) if m == "empty name"),
            "{invalid:?}"
        );
        assert_eq!(
            TaskError::from(Error::Conversion("too deep".into())),
            TaskError::Conversion("too deep".into())
        );
        let python = TaskError::from(Error::Python(Box::default()));
        assert!(python.exception().is_some(), "{python:?}");
    }

    #[test]
    fn spawn_errors_compare_by_kind_and_message() {
        let a = PoolError::Spawn(Arc::new(io::Error::from(io::ErrorKind::OutOfMemory)));
        let b = PoolError::Spawn(Arc::new(io::Error::from(io::ErrorKind::OutOfMemory)));
        let c = PoolError::Spawn(Arc::new(io::Error::other("no threads left")));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, PoolError::Shutdown);
        assert!(c.to_string().contains("no threads left"), "{c}");
        assert!(std::error::Error::source(&c).is_some());
    }
}
