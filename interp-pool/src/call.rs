//! [`Call`]: what a task runs (the function, its arguments, a timeout).

use std::sync::Arc;
use std::time::Duration;

use interp_core::Value;

use crate::error::PoolError;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_splits_module_and_qualname_at_the_first_colon() {
        let c = Call::parse("pkg.mod:Outer.method").unwrap();
        assert!(
            matches!(&c.target, Target::Named { module, qualname }
                if &**module == "pkg.mod" && &**qualname == "Outer.method"),
            "{c:?}"
        );
        assert_eq!(c.describe(), "pkg.mod:Outer.method");
        // Only the first colon separates: the rest is the qualname's.
        assert_eq!(Call::parse("m:a:b").unwrap().describe(), "m:a:b");
    }

    #[test]
    fn parse_refuses_a_target_without_both_sides() {
        for bad in ["", "json", ":dumps", "json:", ":"] {
            match Call::parse(bad) {
                Err(PoolError::InvalidArgument(m)) => assert!(
                    m.contains(&format!("{bad:?}")) && m.contains("module:qualname"),
                    "{bad:?}: {m}"
                ),
                other => panic!("{bad:?} must be refused, got {other:?}"),
            }
        }
    }

    #[test]
    fn arguments_keep_their_order_and_repeated_keywords() {
        let c = Call::new("m", "f")
            .arg(1)
            .args([Value::Int(2), Value::Int(3)])
            .kwarg("x", 4)
            .kwarg("x", 5)
            .timeout(Duration::from_secs(1));
        assert_eq!(c.args, [1, 2, 3].map(Value::from));
        let kw: Vec<(&str, &Value)> = c.kwargs.iter().map(|(k, v)| (&**k, v)).collect();
        assert_eq!(kw, [("x", &Value::Int(4)), ("x", &Value::Int(5))]);
        assert_eq!(c.timeout, Some(Duration::from_secs(1)));
    }

    #[test]
    fn a_callable_call_is_described_by_its_type() {
        let c = Call::callable(Value::Int(1));
        assert_eq!(
            c.describe(),
            format!("<callable {}>", Value::Int(1).type_name())
        );
    }
}
