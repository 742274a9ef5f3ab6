//! `RuntimeConfig::python_path` when interp attaches to a Python the host
//! initialized: the host's main interpreter and every interpreter interp
//! creates get the directories at the front of `sys.path`.

use std::path::Path;

use interp_core::{Interpreter, InterpreterConfig, Runtime, RuntimeConfig, Value};
use interp_sys as sys;

#[test]
fn python_path_applies_to_a_runtime_the_host_initialized() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("host_python_path");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("pp_host_xyz.py"),
        "def triple(x):\n    return 3 * x\n",
    )
    .unwrap();
    let dir_str = dir.to_str().unwrap();

    // The host: initializes Python and keeps the main GIL on this thread.
    // SAFETY: nothing has initialized Python in this test binary before.
    unsafe { sys::Py_InitializeEx(0) };
    let host_ts = sys::current_thread_state();

    let rt = Runtime::init_with(RuntimeConfig::new().python_path(&dir)).unwrap();
    assert!(!rt.owns_python());
    let first = |i: &Interpreter| i.eval("__import__('sys').path[0]").unwrap();
    let triple = |i: &Interpreter| i.call("pp_host_xyz", "triple", &[5.into()], &[]).unwrap();

    assert_eq!(
        first(rt.main()),
        Value::str(dir_str),
        "the host's main interpreter"
    );
    assert_eq!(triple(rt.main()), Value::Int(15));
    for cfg in [InterpreterConfig::isolated(), InterpreterConfig::legacy()] {
        let sub = Interpreter::with_config(cfg).unwrap();
        assert_eq!(first(&sub), Value::str(dir_str), "{cfg:?}");
        assert_eq!(triple(&sub), Value::Int(15), "{cfg:?}");
    }
    assert_eq!(
        sys::current_thread_state(),
        host_ts,
        "the host's thread state is attached again"
    );
}
