//! Python exceptions become `Error::Python` with type, message and traceback;
//! nothing exits the process.

use interp_core::{Error, Interpreter, InterpreterConfig, PyException, Value};

fn exc(r: Result<Value, Error>) -> PyException {
    match r {
        Err(Error::Python(e)) => *e,
        other => panic!("expected a Python exception, got {other:?}"),
    }
}

#[test]
fn syntax_error() {
    let i = Interpreter::new().unwrap();
    let e = exc(i.exec("def f(:\n  pass").map(|_| Value::None));
    assert_eq!(e.type_name(), "SyntaxError");
    assert!(e.traceback.contains("SyntaxError"), "{}", e.traceback);
    assert!(
        e.traceback.contains("<interp>"),
        "traceback names the source: {}",
        e.traceback
    );
}

#[test]
fn missing_module_and_function() {
    let i = Interpreter::new().unwrap();
    let e = exc(i.call("no_such_module_xyz", "f", &[], &[]));
    assert_eq!(e.type_name(), "ModuleNotFoundError");
    assert!(e.message.contains("no_such_module_xyz"), "{}", e.message);
    let e = exc(i.call("math", "no_such_function", &[], &[]));
    assert_eq!(e.type_name(), "AttributeError");
    assert!(e.message.contains("no_such_function"), "{}", e.message);
    let e = exc(i.call("math", "pi.real.nope", &[], &[]));
    assert_eq!(e.type_name(), "AttributeError");
}

#[test]
fn exception_keeps_type_message_and_traceback() {
    let i = Interpreter::new().unwrap();
    i.exec("import json\nclass Boom(Exception):\n    pass\ndef inner(x):\n    raise Boom(f'bad {x}')\ndef outer(x):\n    return inner(x)\n").unwrap();
    let e = exc(i.call("__main__", "outer", &[7.into()], &[]));
    assert_eq!(e.module, "__main__");
    assert_eq!(e.qualname, "Boom");
    assert_eq!(e.type_name(), "__main__.Boom");
    assert_eq!(e.message, "bad 7");
    assert!(
        e.traceback.contains("in outer") && e.traceback.contains("in inner"),
        "{}",
        e.traceback
    );
    assert!(
        e.traceback.trim_end().ends_with("__main__.Boom: bad 7")
            || e.traceback.trim_end().ends_with("Boom: bad 7"),
        "{}",
        e.traceback
    );
    // A stdlib exception with a dotted module.
    let e = exc(i.call("json", "loads", &["{".into()], &[]));
    assert_eq!(e.type_name(), "json.decoder.JSONDecodeError");
    // Display gives type and message.
    assert_eq!(
        Error::Python(Box::new(e.clone())).to_string(),
        format!("json.decoder.JSONDecodeError: {}", e.message)
    );
    // The interpreter is still usable after errors.
    assert_eq!(i.eval("1").unwrap(), Value::Int(1));
}

#[test]
fn system_exit_and_keyboard_interrupt_never_exit_the_process() {
    let i = Interpreter::new().unwrap();
    let e = exc(i.exec("import sys; sys.exit(3)").map(|_| Value::None));
    assert_eq!(e.type_name(), "SystemExit");
    assert_eq!(e.message, "3");
    let e = exc(i.exec("raise KeyboardInterrupt").map(|_| Value::None));
    assert_eq!(e.type_name(), "KeyboardInterrupt");
    assert_eq!(i.eval("'alive'").unwrap(), Value::str("alive"));
}

#[test]
fn extension_refusing_isolation_points_at_legacy_config() {
    let iso = Interpreter::new().unwrap();
    // readline is single-phase init: it refuses own-GIL interpreters.
    let e = exc(iso.exec("import readline").map(|_| Value::None));
    assert_eq!(e.type_name(), "ImportError");
    assert!(
        e.message.contains("readline"),
        "names the module: {}",
        e.message
    );
    let hint = e.hint.as_deref().expect("a hint");
    assert!(
        hint.contains("'readline'") && hint.contains("InterpreterConfig::legacy()"),
        "{hint}"
    );
    assert!(Error::Python(Box::new(e.clone()))
        .to_string()
        .contains("legacy"));
    // The legacy config loads it.
    let legacy = Interpreter::with_config(InterpreterConfig::legacy()).unwrap();
    assert!(!InterpreterConfig::legacy().has_own_gil());
    legacy.exec("import readline").unwrap();
    assert_eq!(
        legacy.eval("readline.__name__").unwrap(),
        Value::str("readline")
    );
}
