//! Pool workers see `RuntimeConfig::python_path`; a function whose module is
//! not found says how to fix it (called by name or pickled); a keyword given
//! twice is a TypeError.

use std::path::Path;
use std::sync::OnceLock;

use interp_core::{Interpreter, InterpreterConfig, Runtime, RuntimeConfig, Value};
use interp_pool::{Call, Pool, TaskError};

/// Starts the runtime with a `python_path` directory holding `pp_pool_xyz`;
/// returns that directory.
fn runtime() -> &'static str {
    static DIR: OnceLock<String> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("pool_python_path");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("pp_pool_xyz.py"),
            "import sys\ndef square(x):\n    return x * x\ndef kw(**kw):\n    return sorted(kw)\n\
             def path_count(d):\n    return sys.path.count(d)\n",
        )
        .unwrap();
        Runtime::init_with(RuntimeConfig::new().python_path(&dir)).unwrap();
        dir.to_str().unwrap().to_owned()
    })
}

fn exception(r: Result<Value, TaskError>) -> interp_core::PyException {
    match r {
        Err(TaskError::Python(x)) => *x,
        other => panic!("expected a Python exception, got {other:?}"),
    }
}

/// The hint of `x`, which must be a `ModuleNotFoundError`.
fn module_not_found_hint(x: &interp_core::PyException) -> &str {
    assert_eq!(x.type_name(), "ModuleNotFoundError", "{x:?}");
    x.hint
        .as_deref()
        .unwrap_or_else(|| panic!("no hint: {}", x.message))
}

#[test]
fn workers_import_modules_from_python_path() {
    runtime();
    for cfg in [InterpreterConfig::isolated(), InterpreterConfig::legacy()] {
        let p = Pool::builder()
            .workers(2)
            .interpreter_config(cfg)
            .build()
            .unwrap();
        let t = p.submit(Call::new("pp_pool_xyz", "square").arg(7)).unwrap();
        assert_eq!(t.wait().unwrap(), Value::Int(49), "{cfg:?}");
        let squares: Vec<Value> = p
            .map(Call::new("pp_pool_xyz", "square"), (0..20).map(Value::from))
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            squares,
            (0..20).map(|i| Value::Int(i * i)).collect::<Vec<_>>(),
            "{cfg:?}"
        );
        let t = p
            .submit_main(Call::new("pp_pool_xyz", "square").arg(3))
            .unwrap();
        assert_eq!(t.wait().unwrap(), Value::Int(9), "main interpreter");
    }
}

#[test]
fn a_missing_module_hints_at_python_path() {
    runtime();
    let p = Pool::builder().workers(1).build().unwrap();
    let x = exception(
        p.submit(Call::new("not_on_the_path_xyz", "f"))
            .unwrap()
            .wait(),
    );
    let hint = module_not_found_hint(&x);
    assert!(
        hint.contains("'not_on_the_path_xyz'")
            && hint.contains("RuntimeConfig::python_path")
            && hint.contains("interp_runtime_config_add_python_path"),
        "{hint}"
    );
    assert!(x.to_string().contains("python_path"), "{x}");
    // In a map, too.
    let r: Vec<_> = p
        .map(Call::new("not_on_the_path_xyz", "f"), [Value::Int(1)])
        .collect();
    let x = exception(r.into_iter().next().unwrap());
    assert!(x.hint.is_some_and(|h| h.contains("python_path")));
}

#[test]
fn a_keyword_given_twice_fails_the_task_with_type_error() {
    runtime();
    let p = Pool::builder().workers(1).build().unwrap();
    let call = Call::new("pp_pool_xyz", "kw")
        .kwarg("a", 1)
        .kwarg("b", 2)
        .kwarg("a", 3);
    let x = exception(p.submit(call).unwrap().wait());
    assert_eq!(x.type_name(), "TypeError");
    assert_eq!(
        x.message,
        "pp_pool_xyz.kw() got multiple values for keyword argument 'a'"
    );
    let ok = Call::new("pp_pool_xyz", "kw").kwarg("a", 1).kwarg("b", 2);
    assert_eq!(
        p.submit(ok).unwrap().wait().unwrap(),
        Value::List(vec![Value::str("a"), Value::str("b")].into())
    );
}

#[test]
fn a_pickled_callable_whose_module_is_missing_in_the_worker_hints_at_python_path() {
    runtime();
    // A function of a module that exists only in this interpreter (made at
    // run time, not on sys.path): it travels pickled by reference.
    let here = Interpreter::new().unwrap();
    let f = here
        .eval(
            "(lambda sys, types: (\
                sys.modules.__setitem__('pp_only_here_xyz', types.ModuleType('pp_only_here_xyz')),\
                exec('def f():\\n    return 1\\n', sys.modules['pp_only_here_xyz'].__dict__),\
                sys.modules['pp_only_here_xyz'].f)[-1])\
             (__import__('sys'), __import__('types'))",
        )
        .unwrap();
    assert!(matches!(f, Value::Pickled(_)), "{f:?}");
    assert_eq!(
        here.enter(|py| py.value(&f).unwrap().call(&[], &[]).unwrap().to_value())
            .unwrap(),
        Value::Int(1),
        "it unpickles where its module is"
    );
    let p = Pool::builder().workers(1).build().unwrap();
    let x = exception(p.submit(Call::callable(f)).unwrap().wait());
    let hint = module_not_found_hint(&x);
    assert!(
        hint.contains("'pp_only_here_xyz'") && hint.contains("RuntimeConfig::python_path"),
        "{hint}"
    );
}

#[test]
fn a_recycled_worker_gets_the_directory_once() {
    let dir = runtime();
    let p = Pool::builder()
        .workers(1)
        .max_tasks_per_worker(1)
        .build()
        .unwrap();
    for round in 0..3 {
        let t = p
            .submit(Call::new("pp_pool_xyz", "path_count").arg(dir))
            .unwrap();
        assert_eq!(t.wait().unwrap(), Value::Int(1), "task {round}");
    }
    let stats = p.stats();
    assert!(
        stats.workers[0].recycles >= 2,
        "each task ran in a fresh interpreter: {stats:?}"
    );
}
