//! Create, exec, eval, call, prepare_main, enter, close — from one and many threads.

use interp_core::{Error, Interpreter, Value};

#[test]
fn exec_eval_call_roundtrip() {
    let interp = Interpreter::new().unwrap();
    interp
        .exec("import math\ndef hyp(a, b, *, scale=1):\n    return math.hypot(a, b) * scale\nclass K:\n    @staticmethod\n    def twice(x):\n        return [x, x]\n")
        .unwrap();
    assert_eq!(interp.eval("1 + 2").unwrap(), Value::Int(3));
    let r = interp
        .call(
            "__main__",
            "hyp",
            &[3.into(), 4.into()],
            &[("scale", 2.into())],
        )
        .unwrap();
    assert_eq!(r, Value::Float(10.0));
    // Dotted qualname, as pickle resolves it.
    let r = interp
        .call("__main__", "K.twice", &["a".into()], &[])
        .unwrap();
    assert_eq!(r, Value::list(["a".into(), "a".into()]));
    // A stdlib function imported on demand.
    assert_eq!(
        interp.call("math", "factorial", &[20.into()], &[]).unwrap(),
        Value::Int(2432902008176640000)
    );
    assert_eq!(
        interp
            .call("os.path", "join", &["a".into(), "b".into()], &[])
            .unwrap(),
        Value::str("a/b")
    );
}

#[test]
fn prepare_main_hands_over_data_once() {
    let interp = Interpreter::new().unwrap();
    let grid =
        Value::tuple((0..4).map(|r| Value::tuple((0..4).map(|c| Value::Bool((r + c) % 2 == 0)))));
    interp
        .prepare_main([("grid", grid), ("name", "w1".into())])
        .unwrap();
    interp
        .exec("def count():\n    return sum(map(sum, grid))")
        .unwrap();
    assert_eq!(
        interp.call("__main__", "count", &[], &[]).unwrap(),
        Value::Int(8)
    );
    assert_eq!(interp.eval("name").unwrap(), Value::str("w1"));
}

#[test]
fn interpreters_are_isolated_and_ids_unique() {
    let a = Interpreter::new().unwrap();
    let b = Interpreter::new().unwrap();
    assert_ne!(a.id(), b.id());
    assert!(a.id() > 0 && !a.is_main());
    a.exec("x = 'only in a'").unwrap();
    let err = b.eval("x").unwrap_err();
    assert!(err.exception().unwrap().is("NameError"), "{err}");
    assert_eq!(a.enter(|py| py.interpreter_id()), a.id());
    // Own GIL: each has its own sys module object state.
    a.exec("import sys; sys.flag = 1").unwrap();
    assert_eq!(
        b.eval("hasattr(__import__('sys'), 'flag')").unwrap(),
        Value::Bool(false)
    );
}

#[test]
fn enter_is_reentrant_and_nests_across_interpreters() {
    let a = Interpreter::new().unwrap();
    let b = Interpreter::new().unwrap();
    let ids = a.enter(|py| {
        let outer = py.eval("[1, 2]").unwrap();
        // Re-entering the same interpreter keeps objects usable.
        let same = a.enter(|py2| py2.interpreter_id());
        // Entering another interpreter, then coming back.
        let other = b.enter(|py2| py2.eval("40 + 2").unwrap().to_value().unwrap());
        assert_eq!(outer.to_value().unwrap(), Value::list([1.into(), 2.into()]));
        (py.interpreter_id(), same, other)
    });
    assert_eq!(ids, (a.id(), a.id(), Value::Int(42)));
}

#[test]
fn many_threads_share_one_interpreter() {
    let interp = Interpreter::new().unwrap();
    interp.exec("import threading\nlock = threading.Lock()\nhits = []\ndef hit(i):\n    with lock:\n        hits.append(i)\n    return i * i\n").unwrap();
    std::thread::scope(|s| {
        // Joined explicitly: a scope alone may return before the threads'
        // thread-local destructors (which delete their thread states) ran.
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let interp = &interp;
                s.spawn(move || {
                    for i in 0..200 {
                        let n = t * 1000 + i;
                        assert_eq!(
                            interp.call("__main__", "hit", &[n.into()], &[]).unwrap(),
                            Value::Int(n as i64 * n as i64)
                        );
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    });
    assert_eq!(interp.eval("len(set(hits))").unwrap(), Value::Int(1600));
    // Every thread that entered made exactly one thread state, and deleted it on exit.
    assert_eq!(
        interp.thread_states(),
        1,
        "only this thread's thread state should remain"
    );
}

#[test]
fn thread_state_is_reused_not_recreated() {
    let interp = Interpreter::new().unwrap();
    let first = interp.enter(|py| {
        py.eval("__import__('threading').get_ident()")
            .unwrap()
            .to_value()
            .unwrap()
    });
    for _ in 0..100 {
        interp.eval("0").unwrap();
    }
    let again = interp.enter(|py| {
        py.eval("__import__('threading').get_ident()")
            .unwrap()
            .to_value()
            .unwrap()
    });
    assert_eq!(first, again);
    assert_eq!(interp.thread_states(), 1);
}

#[test]
fn close_after_use_from_other_threads() {
    let interp = Interpreter::new().unwrap();
    // A thread that entered and is still alive when the interpreter closes.
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    let interp = std::sync::Arc::new(interp);
    let i2 = interp.clone();
    let t = std::thread::spawn(move || {
        i2.exec("y = 1").unwrap();
        drop(i2);
        ready_tx.send(()).unwrap();
        rx.recv().unwrap(); // exits only after the close below
    });
    ready_rx.recv().unwrap();
    assert_eq!(interp.thread_states(), 2);
    std::sync::Arc::try_unwrap(interp).unwrap().close();
    tx.send(()).unwrap();
    t.join().unwrap(); // its thread cache must not touch the deleted thread state
}

#[test]
fn creating_thread_may_exit_before_others_enter() {
    // Created on a thread that exits at once; then used from fresh threads.
    let interp = std::thread::spawn(|| Interpreter::new().unwrap())
        .join()
        .unwrap();
    for n in 0..3 {
        let i = &interp;
        std::thread::scope(|s| {
            s.spawn(move || assert_eq!(i.eval(&format!("{n} * 2")).unwrap(), Value::Int(n * 2)));
        });
    }
    assert_eq!(interp.eval("'ok'").unwrap(), Value::str("ok"));
}

#[test]
fn nul_in_source_is_a_clear_error() {
    let interp = Interpreter::new().unwrap();
    match interp.exec("x = 1\0") {
        Err(Error::InvalidArgument(m)) => assert!(m.contains("NUL byte at offset 5"), "{m}"),
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
}

#[test]
fn main_interpreter_is_reachable_and_never_closed() {
    let rt = interp_core::Runtime::init().unwrap();
    assert!(rt.main().is_main());
    assert_eq!(rt.main().id(), 0);
    rt.main().exec("import readline").unwrap(); // the main interpreter loads anything
    assert_eq!(rt.python_version().0, 3);
    assert!(rt.python_version().1 >= 12);
}

#[test]
fn the_token_and_objects_print_for_debugging() {
    let interp = Interpreter::new().unwrap();
    let id = interp.id();
    let (token, object) = interp.enter(|py| {
        let obj = py.eval("[1, 'a']").unwrap();
        (format!("{py:?}"), format!("{obj:?}"))
    });
    assert_eq!(token, format!("Python {{ interpreter_id: {id} }}"));
    assert_eq!(object, "[1, 'a']");
}

#[test]
fn sys_attr_reads_sys_without_importing() {
    let i = interp_core::Interpreter::new().unwrap();
    i.exec("import builtins\ndef no(*a, **k):\n    raise ImportError('imports are off')\nbuiltins.__import__ = no")
        .unwrap();
    i.enter(|py| {
        assert!(py.import("json").is_err(), "imports must fail in this test");
        let v = py.sys_attr("maxsize").unwrap().expect("sys.maxsize exists");
        assert_eq!(v.to_value().unwrap(), interp_core::Value::Int(i64::MAX));
        assert!(py.sys_attr("no_such_attribute_xyz").unwrap().is_none());
        assert!(matches!(
            py.sys_attr("bad\0name"),
            Err(interp_core::Error::InvalidArgument(_))
        ));
    });
    i.close();
}
