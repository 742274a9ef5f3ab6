//! Running one task's work in a worker's interpreter: calls, `map` chunks,
//! Rust closures, the thread lane and the main lane.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use interp_core::{panic_message, Bound, Error, Python, Runtime, Value};

use crate::call::{Call, Target};
use crate::error::TaskError;
use crate::task::{Outcome, Output, TaskState, Work};

/// The items of a map chunk and their results so far (one per item before
/// `items[out.len()]`).
pub(crate) struct Rest {
    call: Call,
    items: Vec<Value>,
    out: Vec<Result<Value, TaskError>>,
}

impl Rest {
    /// The chunk's outcome with the items not run failing with `err`.
    pub(crate) fn give_up(self, err: TaskError) -> Outcome {
        let Rest { items, mut out, .. } = self;
        let missing = items.len() - out.len();
        out.extend(std::iter::repeat_n(Err(err), missing));
        Ok(Output::Chunk(out))
    }
}

/// What running a task gave.
pub(crate) enum Ran {
    /// Its outcome; `exited`: an item of a map chunk raised `SystemExit`, so
    /// the interpreter must be recycled although the chunk succeeded.
    Done { outcome: Outcome, exited: bool },
    /// A map chunk one of whose items raised `SystemExit`: this interpreter
    /// runs none of the rest, which goes on in a fresh one.
    CutShort(Rest),
}

impl From<Outcome> for Ran {
    fn from(outcome: Outcome) -> Ran {
        Ran::Done {
            outcome,
            exited: false,
        }
    }
}

/// Looks up a task's function.
pub(crate) fn resolve<'py>(py: Python<'py>, target: &Target) -> Result<Bound<'py>, Error> {
    match target {
        Target::Named { module, qualname } => py.lookup(module, qualname),
        Target::Callable(v) => py.value(v),
    }
}

/// Functions already looked up in one interpreter: module -> qualname ->
/// function. Nested so a hit borrows the `&str`s (no per-task clones).
pub(crate) type FnCache<'py> = HashMap<Arc<str>, HashMap<Arc<str>, Bound<'py>>>;

/// Looks up a task's function, caching named targets for this interpreter.
fn cached<'py>(
    py: Python<'py>,
    cache: &mut FnCache<'py>,
    target: &Target,
) -> Result<Bound<'py>, Error> {
    match target {
        Target::Named { module, qualname } => {
            if let Some(f) = cache.get(&**module).and_then(|m| m.get(&**qualname)) {
                return Ok(f.clone());
            }
            let f = py.lookup(module, qualname)?;
            cache
                .entry(module.clone())
                .or_default()
                .insert(qualname.clone(), f.clone());
            Ok(f)
        }
        Target::Callable(v) => py.value(v),
    }
}

/// Calls `f` with `call`'s arguments, plus `extra` last (a map item).
pub(crate) fn call_once<'py>(
    py: Python<'py>,
    f: &Bound<'py>,
    call: &Call,
    extra: Option<&Value>,
) -> Result<Value, Error> {
    call_object(py, f, call, extra)?.to_value()
}

/// As [`call_once`], returning the Python object (an event loop awaits it).
pub(crate) fn call_object<'py>(
    py: Python<'py>,
    f: &Bound<'py>,
    call: &Call,
    extra: Option<&Value>,
) -> Result<Bound<'py>, Error> {
    let args = call
        .args
        .iter()
        .chain(extra)
        .map(|v| py.value(v))
        .collect::<Result<Vec<_>, _>>()?;
    if call.kwargs.is_empty() {
        return f.call(&args, &[]);
    }
    let kw: Vec<(&str, Bound<'py>)> = call
        .kwargs
        .iter()
        .map(|(k, v)| Ok((&**k, py.value(v)?)))
        .collect::<Result<_, Error>>()?;
    f.call(&args, &kw)
}

/// Runs `work` of `task` in the interpreter of `py`. `pool_closed` tells
/// whether the pool is shutting down (an interruption is then expected).
pub(crate) fn execute<'py>(
    py: Python<'py>,
    cache: &mut FnCache<'py>,
    task: &TaskState,
    pool_closed: &dyn Fn() -> bool,
    work: Work,
) -> Ran {
    match work {
        Work::Call(call) => {
            match cached(py, cache, &call.target).and_then(|f| call_once(py, &f, &call, None)) {
                Ok(v) => Ok(Output::Value(v)),
                Err(e) => Err(e.into()),
            }
            .into()
        }
        Work::Chunk(call, items) => {
            let out = Vec::with_capacity(items.len());
            run_chunk(py, cache, task, pool_closed, Rest { call, items, out })
        }
        Work::With(f) => {
            let r = catch_unwind(AssertUnwindSafe(|| f(py)));
            // User code may have redefined what names point at.
            cache.clear();
            match r {
                Ok(Ok(v)) => Ok(Output::Value(v)),
                Ok(Err(e)) => Err(e.into()),
                Err(p) => Err(TaskError::Panicked(panic_message(&p).to_owned())),
            }
            .into()
        }
        Work::Blocking(f) => match py.detach(|| catch_unwind(AssertUnwindSafe(f))) {
            Ok(Ok(v)) => Ok(Output::Value(v)),
            Ok(Err(m)) => Err(TaskError::Failed(m)),
            Err(p) => Err(TaskError::Panicked(panic_message(&p).to_owned())),
        }
        .into(),
        Work::Main(call) => in_main(py, task, |mpy| {
            resolve(mpy, &call.target)
                .and_then(|f| call_once(mpy, &f, &call, None))
                .map(Output::Value)
                .map_err(TaskError::from)
        }),
        Work::MainWith(f) => in_main(py, task, |mpy| {
            match catch_unwind(AssertUnwindSafe(|| f(mpy))) {
                Ok(Ok(v)) => Ok(Output::Value(v)),
                Ok(Err(e)) => Err(e.into()),
                Err(p) => Err(TaskError::Panicked(panic_message(&p).to_owned())),
            }
        }),
        Work::Coro(_) | Work::CoroWith(..) => Err(TaskError::Failed(
            "a coroutine task reached a worker without an event loop".into(),
        ))
        .into(),
    }
}

/// Runs `f` in the main interpreter on this thread (the worker's own
/// interpreter released meanwhile): the main lane. An interruption left
/// over from an earlier main-lane task of this thread is dropped first, and
/// one meant for this task that lands after `f` returned is dropped after;
/// a task cancelled already does not run `f`.
/// Fails with [`TaskError::Shutdown`] once the runtime is finalized or
/// finalizing.
fn in_main(
    py: Python<'_>,
    task: &TaskState,
    f: impl for<'m> FnOnce(Python<'m>) -> Outcome + Send,
) -> Ran {
    py.detach(|| {
        let rt = Runtime::get().ok_or(TaskError::Shutdown)?;
        if interp_core::sys::is_finalizing() {
            // A host's Python is going away: attaching would never return.
            return Err(TaskError::Shutdown);
        }
        rt.main().enter(|mpy| {
            mpy.clear_interrupt();
            // A cancel whose interrupt came before this thread first entered
            // the main interpreter found no thread state to raise into
            // (`Slot::raise_cancelled`): its flag, set before, is seen here.
            if task.cancel_requested() {
                return Err(task.cancel_error());
            }
            let r = f(mpy);
            if task.cancel_requested() {
                mpy.clear_interrupt();
            }
            r
        })
    })
    .into()
}

/// Runs the items of a map chunk from `rest.out.len()` on. An item raising
/// `SystemExit` fails with it, and this interpreter runs no further item:
/// the chunk comes back cut short, to go on in a fresh interpreter.
pub(crate) fn run_chunk<'py>(
    py: Python<'py>,
    cache: &mut FnCache<'py>,
    task: &TaskState,
    pool_closed: &dyn Fn() -> bool,
    mut rest: Rest,
) -> Ran {
    let Rest { call, items, out } = &mut rest;
    if out.len() < items.len() {
        let f = match cached(py, cache, &call.target) {
            Ok(f) => f,
            // Not found: every input gets the error (those done keep theirs).
            Err(e) if out.is_empty() => return Err(e.into()).into(),
            Err(e) => return rest.give_up(e.into()).into(),
        };
        while out.len() < items.len() {
            if task.cancel_requested() {
                out.push(Err(task.cancel_error()));
                continue;
            }
            let r = call_once(py, &f, call, Some(&items[out.len()]));
            let exited = matches!(&r, Err(Error::Python(e)) if e.is_system_exit());
            out.push(r.map_err(|e| task.classify(e.into(), pool_closed())));
            if exited {
                if out.len() < items.len() {
                    return Ran::CutShort(rest);
                }
                return Ran::Done {
                    outcome: Ok(Output::Chunk(rest.out)),
                    exited: true,
                };
            }
        }
    }
    Ok(Output::Chunk(rest.out)).into()
}
