//! `RuntimeConfig::python_path`: the directories are at the front of
//! `sys.path` in the main interpreter and in every interpreter interp
//! creates, isolated or legacy, so that modules there import by name.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use interp_core::{Error, Interpreter, InterpreterConfig, Runtime, RuntimeConfig, Value};

struct Setup {
    rt: &'static Runtime,
    config: RuntimeConfig,
    /// The directories as `sys.path` must show them, in order.
    expected: Vec<String>,
}

/// A fresh directory under the target's temp dir, named after `tag`.
fn temp_dir(tag: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("python_path-{tag}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        // Bad paths are refused before anything starts...
        for (bad, what) in [(PathBuf::new(), "empty"), (PathBuf::from("a\0b"), "NUL")] {
            match Runtime::init_with(RuntimeConfig::new().python_path(bad)) {
                Err(Error::InvalidArgument(m)) => assert!(m.contains("python_path"), "{m}"),
                other => panic!("a {what} python_path must be refused, got {other:?}"),
            }
        }
        assert!(Runtime::get().is_none(), "a refused config must not start the runtime");

        let plain = temp_dir("plain");
        std::fs::write(
            plain.join("pp_mod_xyz.py"),
            "import sys\ndef double(x):\n    return 2 * x\ndef first_paths(n):\n    return sys.path[:n]\n",
        )
        .unwrap();
        // A directory whose name is not UTF-8: it must survive as CPython
        // decodes file names (surrogateescape).
        use std::os::unix::ffi::OsStrExt;
        let odd = temp_dir("odd").join(std::ffi::OsStr::from_bytes(b"dir-\xff"));
        std::fs::create_dir_all(&odd).unwrap();
        std::fs::write(odd.join("pp_odd_xyz.py"), "NAME = 'odd'\n").unwrap();
        // A relative entry is made absolute against the current directory.
        let relative = Path::new("pp-relative-dir");
        let config = RuntimeConfig::new()
            .python_path(&plain)
            .python_path(&odd)
            .python_path(relative);
        let rt = Runtime::init_with(config.clone()).unwrap();
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            rt.python_path(),
            [plain.clone(), odd.clone(), cwd.join(relative)],
            "the absolute directories"
        );
        let expected = vec![
            plain.to_str().unwrap().to_owned(),
            // What os.fsdecode gives: the 0xff byte as the surrogate \udcff,
            // which interp shows escaped.
            format!("{}", odd.to_string_lossy()).replace('\u{fffd}', "\\udcff"),
            cwd.join(relative).to_str().unwrap().to_owned(),
        ];
        Setup {
            rt,
            config,
            expected,
        }
    })
}

/// `sys.path[:3]` of `interp`, with lone surrogates escaped.
fn first_paths(interp: &Interpreter) -> Vec<String> {
    interp.enter(|py| {
        let path = py
            .eval("[p.encode('utf-8', 'backslashreplace').decode() for p in __import__('sys').path[:3]]")
            .unwrap();
        match path.to_value().unwrap() {
            Value::List(items) => items
                .iter()
                .map(|v| match v {
                    Value::Str(s) => s.to_string(),
                    other => panic!("not a str: {other:?}"),
                })
                .collect(),
            other => panic!("not a list: {other:?}"),
        }
    })
}

fn check(interp: &Interpreter, what: &str) {
    let s = setup();
    assert_eq!(first_paths(interp), s.expected, "sys.path of {what}");
    assert_eq!(
        interp
            .call("pp_mod_xyz", "double", &[21.into()], &[])
            .unwrap(),
        Value::Int(42),
        "a module of python_path imports by name in {what}"
    );
    interp.exec("import pp_odd_xyz").unwrap();
    assert_eq!(interp.eval("pp_odd_xyz.NAME").unwrap(), Value::str("odd"));
}

#[test]
fn main_interpreter() {
    let s = setup();
    check(s.rt.main(), "the main interpreter");
}

#[test]
fn isolated_and_legacy_subinterpreters() {
    setup();
    check(&Interpreter::new().unwrap(), "an isolated interpreter");
    check(
        &Interpreter::with_config(InterpreterConfig::legacy()).unwrap(),
        "a legacy interpreter",
    );
}

/// How often each python_path directory is in `sys.path` of `interp`.
fn counts(interp: &Interpreter) -> Vec<Value> {
    setup()
        .expected
        .iter()
        .map(|d| {
            interp
                .eval(&format!(
                    "[p.encode('utf-8', 'backslashreplace').decode() for p in __import__('sys').path].count({d:?})"
                ))
                .unwrap()
        })
        .collect()
}

#[test]
fn each_interpreter_gets_the_directories_once() {
    let s = setup();
    // Starting the runtime again with the same configuration adds nothing
    // to the main interpreter.
    for _ in 0..2 {
        Runtime::init_with(s.config.clone()).unwrap();
        Runtime::init().unwrap();
    }
    let once = vec![Value::Int(1); s.expected.len()];
    assert_eq!(counts(s.rt.main()), once, "the main interpreter");
    for cfg in [InterpreterConfig::isolated(), InterpreterConfig::legacy()] {
        let i = Interpreter::with_config(cfg).unwrap();
        assert_eq!(counts(&i), once, "{cfg:?}");
    }
}

#[test]
fn another_configuration_after_start_is_refused_not_ignored() {
    let s = setup();
    // The same configuration again, or no configuration: the runtime.
    assert!(std::ptr::eq(
        Runtime::init_with(s.config.clone()).unwrap(),
        s.rt
    ));
    assert!(std::ptr::eq(Runtime::init().unwrap(), s.rt));
    // The same configuration spelled differently: the directories as they
    // resolve (the relative one made absolute), the default home given
    // explicitly.
    let resolved =
        s.rt.python_path()
            .iter()
            .fold(RuntimeConfig::new(), |c, d| c.python_path(d))
            .home(interp_sys::PYTHON_PREFIX);
    match Runtime::init_with(resolved.clone()) {
        Ok(rt) => assert!(std::ptr::eq(rt, s.rt)),
        Err(e) => panic!("{resolved:?} is the running configuration, but: {e}"),
    }
    for (other, what) in [
        (RuntimeConfig::new().python_path("/elsewhere"), "/elsewhere"),
        (
            s.config.clone().install_signal_handlers(true),
            "install_signal_handlers",
        ),
        (s.config.clone().use_environment(true), "use_environment"),
        (s.config.clone().home("/elsewhere"), "home"),
    ] {
        match Runtime::init_with(other.clone()) {
            Err(Error::Runtime(m)) => {
                assert!(m.contains("already initialized") && m.contains(what), "{m}")
            }
            r => panic!("{other:?} after start must be refused, got {r:?}"),
        }
    }
}
