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
    // Something in the main interpreter's materialization cache: released
    // before Python finalizes.
    let big = Value::tuple((0..5000).map(|n| Value::Int(1000 + n)));
    rt.main()
        .exec("def keep(x):\n    global k\n    k = x")
        .unwrap();
    rt.main().call("__main__", "keep", &[big], &[]).unwrap();
    assert_eq!(rt.main().cache_stats().entries, 1);
    rt.finalize().unwrap();
    assert_eq!(rt.main().cache_stats().entries, 0);
    assert!(Runtime::get().is_none());
    match Interpreter::new() {
        Err(Error::Runtime(m)) => assert!(m.contains("finalized"), "{m}"),
        other => panic!("creating after finalize must fail clearly: {other:?}"),
    }
}
