//! Pool workers see `RuntimeConfig::python_path`; a function whose module is
//! not found says how to fix it; a keyword given twice is a TypeError.

use std::path::Path;
use std::sync::OnceLock;

use interp_core::{InterpreterConfig, Runtime, RuntimeConfig, Value};
use interp_pool::{Call, Pool, TaskError};

/// Starts the runtime with a `python_path` directory holding `pp_pool_xyz`.
fn runtime() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("pool_python_path");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("pp_pool_xyz.py"),
            "def square(x):\n    return x * x\ndef kw(**kw):\n    return sorted(kw)\n",
        )
        .unwrap();
        Runtime::init_with(RuntimeConfig::new().python_path(&dir)).unwrap();
    });
}

fn exception(r: Result<Value, TaskError>) -> interp_core::PyException {
    match r {
        Err(TaskError::Python(x)) => *x,
        other => panic!("expected a Python exception, got {other:?}"),
    }
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
    assert_eq!(x.type_name(), "ModuleNotFoundError");
    let hint = x
        .hint
        .as_deref()
        .unwrap_or_else(|| panic!("no hint: {x:?}"));
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
