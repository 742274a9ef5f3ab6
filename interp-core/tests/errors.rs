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
    let hint = e
        .hint
        .as_deref()
        .expect("a missing module hints at python_path");
    assert!(
        hint.contains("'no_such_module_xyz'") && hint.contains("RuntimeConfig::python_path"),
        "{hint}"
    );
    // A missing parent package of the function's module: the same hint.
    let e = exc(i.call("no_such_pkg_xyz.sub", "f", &[], &[]));
    assert!(
        e.hint.as_deref().is_some_and(|h| h.contains("python_path")),
        "{e:?}"
    );
    // A module that is found but imports a missing one: not a path problem
    // of the function's module, no hint.
    let dir = std::env::temp_dir().join(format!("interp-errors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("imports_missing_xyz.py"),
        "import missing_dep_xyz\n",
    )
    .unwrap();
    i.enter(|py| {
        let path = py.lookup("sys", "path").unwrap();
        let d = py.str(dir.to_str().unwrap()).unwrap();
        path.getattr("insert")
            .unwrap()
            .call(&[py.value(&0.into()).unwrap(), d], &[])
            .unwrap();
    });
    let e = exc(i.call("imports_missing_xyz", "f", &[], &[]));
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(e.type_name(), "ModuleNotFoundError");
    assert!(e.message.contains("missing_dep_xyz"), "{}", e.message);
    assert_eq!(e.hint, None, "{e:?}");
    let e = exc(i.call("math", "no_such_function", &[], &[]));
    assert_eq!(e.type_name(), "AttributeError");
    assert!(e.message.contains("no_such_function"), "{}", e.message);
    let e = exc(i.call("math", "pi.real.nope", &[], &[]));
    assert_eq!(e.type_name(), "AttributeError");
}

/// The hint of the `ModuleNotFoundError` that calling `module.f` raises.
fn module_not_found_hint(i: &Interpreter, module: &str) -> String {
    let e = exc(i.call(module, "f", &[], &[]));
    assert_eq!(e.type_name(), "ModuleNotFoundError", "{e:?}");
    e.hint
        .unwrap_or_else(|| panic!("no hint for {module}: {}", e.message))
}

#[test]
fn a_missing_submodule_of_a_found_package_is_not_a_python_path_problem() {
    let i = Interpreter::new().unwrap();
    let json_dir = i.eval("__import__('json').__path__[0]").unwrap();
    let Value::Str(json_dir) = json_dir else {
        panic!("json.__path__[0]: {json_dir:?}")
    };
    // A package that is found, without the submodule.
    let hint = module_not_found_hint(&i, "json.no_such_sub_xyz");
    assert!(
        hint.contains("package 'json' was found")
            && hint.contains(&*json_dir)
            && hint.contains("no submodule 'no_such_sub_xyz'")
            && !hint.contains("python_path"),
        "{hint}"
    );
    // A module that is found but is not a package.
    let hint = module_not_found_hint(&i, "math.sub");
    assert!(
        hint.contains("module 'math' was found")
            && hint.contains("not a package")
            && !hint.contains("python_path"),
        "{hint}"
    );
    // The missing name is the package itself: python_path helps.
    let hint = module_not_found_hint(&i, "no_such_pkg_xyz.sub.mod");
    assert!(
        hint.contains("'no_such_pkg_xyz'") && hint.contains("RuntimeConfig::python_path"),
        "{hint}"
    );
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

#[test]
fn lone_surrogates_keep_message_and_traceback_escaped() {
    let i = Interpreter::new().unwrap();
    i.exec(
        "def inner():\n    raise ValueError('bad \\udcff end')\n\
         def outer():\n    inner()\n\
         class Weird(Exception):\n    pass\n\
         Weird.__qualname__ = 'Weird\\udc80'\n\
         Weird.__module__ = 'mod\\udc81'\n\
         def weird():\n    raise Weird('x')\n",
    )
    .unwrap();
    let e = exc(i.call("__main__", "outer", &[], &[]));
    assert_eq!(e.type_name(), "ValueError");
    assert_eq!(e.message, "bad \\udcff end");
    assert!(
        e.traceback.contains("in outer") && e.traceback.contains("in inner"),
        "the frames are kept: {}",
        e.traceback
    );
    assert!(
        e.traceback
            .trim_end()
            .ends_with("ValueError: bad \\udcff end"),
        "{}",
        e.traceback
    );
    // A type name that is not UTF-8 either.
    let e = exc(i.call("__main__", "weird", &[], &[]));
    assert_eq!(e.qualname, "Weird\\udc80");
    assert_eq!(e.module, "mod\\udc81");
    assert_eq!(e.message, "x");
    assert!(e.traceback.contains("in weird"), "{}", e.traceback);
}

#[test]
fn a_keyword_given_twice_is_a_type_error() {
    let i = Interpreter::new().unwrap();
    i.exec("def f(x=0, **kw):\n    return x\nclass C:\n    def __call__(self, **kw):\n        return 0\nc = C()\n").unwrap();
    let e = exc(i.call("__main__", "f", &[], &[("x", 1.into()), ("x", 2.into())]));
    assert_eq!(e.type_name(), "TypeError");
    assert_eq!(
        e.message,
        "__main__.f() got multiple values for keyword argument 'x'"
    );
    // Not only the last two: any repeat, also through **kw.
    let e = exc(i.call(
        "__main__",
        "f",
        &[],
        &[("y", 1.into()), ("x", 2.into()), ("y", 3.into())],
    ));
    assert_eq!(
        e.message,
        "__main__.f() got multiple values for keyword argument 'y'"
    );
    // Builtins and callable objects are named as CPython names them.
    let e = exc(i.call(
        "json",
        "dumps",
        &[1.into()],
        &[("indent", 1.into()), ("indent", 2.into())],
    ));
    assert_eq!(
        e.message,
        "json.dumps() got multiple values for keyword argument 'indent'"
    );
    let e = exc(i.call(
        "builtins",
        "print",
        &[],
        &[("end", "".into()), ("end", "".into())],
    ));
    assert_eq!(
        e.message,
        "print() got multiple values for keyword argument 'end'"
    );
    let e = exc(i.call("__main__", "c", &[], &[("k", 1.into()), ("k", 1.into())]));
    assert!(
        e.message.starts_with("<__main__.C object at ")
            && e.message
                .ends_with("> got multiple values for keyword argument 'k'"),
        "{}",
        e.message
    );
    // Distinct keywords still work.
    assert_eq!(
        i.call("__main__", "f", &[], &[("x", 5.into()), ("y", 6.into())])
            .unwrap(),
        Value::Int(5)
    );
}

#[test]
fn a_keyword_that_is_not_utf8_is_named_escaped_in_interp_calls() {
    let i = Interpreter::new().unwrap();
    let e = exc(i
        .exec("import interp\ninterp.Channel(**{'cap\\udcff': 1})")
        .map(|_| Value::None));
    assert_eq!(e.type_name(), "TypeError");
    assert!(
        e.message
            .ends_with("got an unexpected keyword argument 'cap\\udcff'"),
        "{}",
        e.message
    );
}

#[test]
fn exception_kinds_come_from_the_type_not_the_name() {
    let i = Interpreter::new().unwrap();
    i.exec(
        "import interp\n\
         class Stop(SystemExit):\n    pass\n\
         class Cancelled(Exception):\n    pass\n\
         Cancelled.__module__ = 'interp'\n\
         def raise_(e):\n    raise e\n",
    )
    .unwrap();
    let raised = |expr: &str| exc(i.eval(&format!("raise_({expr})")).map(|_| Value::None));

    let real = raised("interp.Cancelled('stop')");
    assert!(real.is_cancelled() && !real.is_system_exit(), "{real:?}");
    // A class that only borrows the name is not interp's Cancelled (a match
    // on `module == "interp" && qualname == "Cancelled"` would take it).
    let impostor = raised("Cancelled('not ours')");
    assert_eq!(
        (impostor.module.as_str(), impostor.qualname.as_str()),
        ("interp", "Cancelled")
    );
    assert!(!impostor.is_cancelled(), "{impostor:?}");

    let exit = raised("SystemExit(3)");
    assert!(exit.is_system_exit() && !exit.is_cancelled(), "{exit:?}");
    // A subclass exits as its base does.
    let sub = raised("Stop()");
    assert_eq!(sub.qualname, "Stop");
    assert!(sub.is_system_exit(), "{sub:?}");

    let other = raised("ValueError('x')");
    assert!(
        !other.is_system_exit() && !other.is_cancelled(),
        "{other:?}"
    );
}

#[test]
fn an_interpreter_that_never_loaded_interp_has_no_cancelled() {
    // Recognising Cancelled must not import the module as a side effect.
    let i = Interpreter::new().unwrap();
    let e = exc(i.eval("1/0"));
    assert!(!e.is_cancelled(), "{e:?}");
    assert_eq!(
        i.eval("'interp' in __import__('sys').modules").unwrap(),
        Value::Bool(false)
    );
}

#[test]
fn an_error_while_traceback_cannot_be_imported_is_still_reported() {
    // Formatting the traceback imports `traceback`; its import error was
    // taken and formatted again, without end (a stack overflow: seen when
    // an unraisable-hook error came while an interpreter closed).
    let i = Interpreter::new().unwrap();
    i.exec("import sys\nsys.modules.pop('traceback', None)\nsys.modules['traceback'] = None")
        .unwrap();
    let e = exc(i.eval("1 / 0"));
    assert_eq!(e.type_name(), "ZeroDivisionError", "{e:?}");
    assert!(e.traceback.contains("ZeroDivisionError"), "{}", e.traceback);
    i.close();
}
