//! A host that initialized Python itself (a C++ program embedding Python):
//! interp attaches to its runtime, leaves the host's thread state as it
//! found it, and never finalizes.

use interp_core::{Error, Interpreter, Runtime, Value};
use interp_sys as sys;

#[test]
fn attaches_to_a_runtime_the_host_initialized() {
    // The host: initializes Python and keeps the main GIL on this thread.
    // SAFETY: nothing has initialized Python in this test binary before.
    unsafe { sys::Py_InitializeEx(0) };
    let host_ts = sys::current_thread_state();
    assert!(!host_ts.is_null());

    let rt = Runtime::init().unwrap();
    assert!(
        !rt.owns_python(),
        "interp must know it did not initialize Python"
    );

    // A subinterpreter made and used on the host's thread, while the host
    // holds the main GIL here.
    let sub = Interpreter::new().unwrap();
    assert_eq!(sub.eval("sum(range(10))").unwrap(), Value::Int(45));
    // ... and on another thread, while the host still holds the main GIL.
    std::thread::scope(|s| {
        s.spawn(|| assert_eq!(sub.eval("2 ** 10").unwrap(), Value::Int(1024)))
            .join()
            .unwrap();
    });
    // The main interpreter, entered on the host's thread: re-entrant use of
    // the host's own thread state.
    assert_eq!(rt.main().eval("__name__").unwrap(), Value::str("__main__"));
    // The main interpreter's materialization cache works under the host's
    // thread state too: a big tuple passed again is the same object.
    let big = Value::tuple((0..5000).map(|n| Value::Int(1000 + n)));
    rt.main()
        .exec("def again(x):\n    global k\n    seen = x is globals().get('k')\n    k = x\n    return seen")
        .unwrap();
    let again = |v: &Value| {
        rt.main()
            .call("__main__", "again", std::slice::from_ref(v), &[])
            .unwrap()
    };
    assert_eq!(again(&big), Value::Bool(false));
    assert_eq!(again(&big), Value::Bool(true));
    assert_eq!(rt.main().cache_stats().hits, 1);
    drop(sub);

    // Every entry restored the host's thread state.
    assert_eq!(sys::current_thread_state(), host_ts);
    match rt.finalize() {
        Err(Error::Runtime(m)) => assert!(m.contains("host"), "{m}"),
        other => panic!("interp must not finalize the host's Python: {other:?}"),
    }
    // SAFETY: still initialized and the host's thread state is attached.
    assert_eq!(unsafe { sys::Py_IsInitialized() }, 1);
}
