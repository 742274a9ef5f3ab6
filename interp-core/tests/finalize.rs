//! Runtime finalization: refused while subinterpreters live, final afterwards.

use interp_core::{Error, Interpreter, Runtime, Value};

#[test]
fn finalize_waits_for_interpreters_and_is_final() {
    let rt = Runtime::init().unwrap();
    assert!(rt.owns_python());
    let a = Interpreter::new().unwrap();
    assert_eq!(a.eval("6 * 7").unwrap(), Value::Int(42));
    assert_eq!(rt.live_interpreters(), 1);
    match rt.finalize() {
        Err(Error::Runtime(m)) => assert!(m.contains("1 subinterpreter(s) still open"), "{m}"),
        other => panic!("finalize must refuse while an interpreter is open: {other:?}"),
    }
    drop(a);
    assert_eq!(rt.live_interpreters(), 0);
    rt.finalize().unwrap();
    assert!(Runtime::get().is_none());
    match Interpreter::new() {
        Err(Error::Runtime(m)) => assert!(m.contains("finalized"), "{m}"),
        other => panic!("creating after finalize must fail clearly: {other:?}"),
    }
}
