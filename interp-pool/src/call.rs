//! [`Call`]: what a task runs.

use std::sync::Arc;
use std::time::Duration;

use interp_core::Value;

use crate::PoolError;

/// The function a call targets.
#[derive(Clone, Debug)]
pub(crate) enum Target {
    /// `module.qualname`, resolved in the worker as pickle does.
    Named {
        module: Arc<str>,
        qualname: Arc<str>,
    },
    /// A callable carried as a value (typically [`Value::Pickled`]).
    Callable(Value),
}

/// A Python call for the pool: the function by name (`module:qualname`, as
/// pickle finds functions, so the module must be importable in the
/// workers, or defined in `__main__` by the initializer) or a pickled
/// callable, plus arguments and an optional timeout.
///
/// ```
/// use interp_pool::Call;
/// let c = Call::new("math", "hypot").arg(3.0).arg(4.0);
/// let d = Call::parse("json:dumps")?.arg(vec![interp_core::Value::Int(1)]).kwarg("indent", 2);
/// # Ok::<(), interp_pool::PoolError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Call {
    pub(crate) target: Target,
    pub(crate) args: Vec<Value>,
    pub(crate) kwargs: Vec<(Arc<str>, Value)>,
    pub(crate) timeout: Option<Duration>,
}

impl Call {
    /// A call of `module.qualname` (`qualname` may be dotted:
    /// `"Class.method"`).
    pub fn new(module: &str, qualname: &str) -> Call {
        Call {
            target: Target::Named {
                module: module.into(),
                qualname: qualname.into(),
            },
            args: Vec::new(),
            kwargs: Vec::new(),
            timeout: None,
        }
    }

    /// Parses `"module:qualname"`.
    ///
    /// # Errors
    /// [`PoolError::InvalidArgument`] without a `:` or with an empty side.
    pub fn parse(target: &str) -> Result<Call, PoolError> {
        match target.split_once(':') {
            Some((m, q)) if !m.is_empty() && !q.is_empty() => Ok(Call::new(m, q)),
            _ => Err(PoolError::InvalidArgument(format!(
                "call target {target:?} is not of the form \"module:qualname\" (e.g. \"json:dumps\")"
            ))),
        }
    }

    /// A call of a callable carried as a value (for example a pickled
    /// function or `functools.partial`, as [`Value::Pickled`]).
    pub fn callable(callable: Value) -> Call {
        Call {
            target: Target::Callable(callable),
            args: Vec::new(),
            kwargs: Vec::new(),
            timeout: None,
        }
    }

    /// Appends a positional argument.
    pub fn arg(mut self, value: impl Into<Value>) -> Call {
        self.args.push(value.into());
        self
    }

    /// Appends positional arguments.
    pub fn args(mut self, values: impl IntoIterator<Item = Value>) -> Call {
        self.args.extend(values);
        self
    }

    /// Adds a keyword argument. Giving the same name twice makes the task
    /// fail with Python's `TypeError` ("f() got multiple values for keyword
    /// argument 'x'"), as the call would in Python; the last value does not
    /// silently win.
    pub fn kwarg(mut self, name: &str, value: impl Into<Value>) -> Call {
        self.kwargs.push((name.into(), value.into()));
        self
    }

    /// Interrupts the task if it runs longer than `timeout` (counted from
    /// when a worker starts it); its result is then
    /// [`TaskError::TimedOut`](crate::TaskError::TimedOut).
    pub fn timeout(mut self, timeout: Duration) -> Call {
        self.timeout = Some(timeout);
        self
    }

    /// A readable name for errors and logs.
    pub fn describe(&self) -> String {
        match &self.target {
            Target::Named { module, qualname } => format!("{module}:{qualname}"),
            Target::Callable(v) => format!("<callable {}>", v.type_name()),
        }
    }
}
