//! A host whose `sys.path` is not a list: `Runtime::init_with` with
//! `python_path` says so and what to do, and does not leave the runtime
//! unusable: once `sys.path` is a list again, it succeeds.

use std::ffi::CStr;
use std::path::Path;

use interp_core::{Error, Interpreter, Runtime, RuntimeConfig, Value};
use interp_sys as sys;

/// Runs `code` in the host's main interpreter (its GIL held here).
fn host_run(code: &CStr) {
    // SAFETY: Python is initialized and this thread holds the main GIL.
    assert_eq!(unsafe { sys::PyRun_SimpleString(code.as_ptr()) }, 0);
}

#[test]
fn a_sys_path_that_is_not_a_list_is_reported_and_does_not_poison_the_runtime() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("host_sys_path_tuple");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("pp_tuple_xyz.py"), "X = 7\n").unwrap();
    let config = RuntimeConfig::new().python_path(&dir);

    // SAFETY: nothing has initialized Python in this test binary before.
    unsafe { sys::Py_InitializeEx(0) };
    host_run(c"import sys\nsys.path = tuple(sys.path)\n");
    match Runtime::init_with(config.clone()) {
        Err(Error::Runtime(m)) => assert!(
            m.contains("sys.path") && m.contains("'tuple'") && m.contains("list(sys.path)"),
            "{m}"
        ),
        other => panic!("a tuple sys.path must be reported, got {other:?}"),
    }
    // The runtime is up all the same: interpreters interp creates have a
    // list sys.path and get the directory.
    let sub = Interpreter::new().unwrap();
    assert_eq!(
        sub.eval("__import__('pp_tuple_xyz').X").unwrap(),
        Value::Int(7)
    );
    // Fixed by the host: the same call now succeeds and adds the directory.
    host_run(c"import sys\nsys.path = list(sys.path)\n");
    let rt = Runtime::init_with(config).unwrap();
    assert_eq!(
        rt.main().eval("__import__('pp_tuple_xyz').X").unwrap(),
        Value::Int(7)
    );
    assert_eq!(
        rt.main()
            .eval(&format!(
                "__import__('sys').path.count({:?})",
                dir.to_str().unwrap()
            ))
            .unwrap(),
        Value::Int(1)
    );
}
