//! `RuntimeConfig::python_path` when interp attaches to a Python the host
//! initialized: the host's main interpreter and every interpreter interp
//! creates get the directories once, right after `sys.path[0]` (where the
//! `python` program puts the script's directory, as `PYTHONPATH` goes after
//! it); starting the runtime from another thread while the host holds the
//! main GIL does not deadlock.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use interp_core::{Error, Interpreter, InterpreterConfig, Runtime, RuntimeConfig, Value};
use interp_sys as sys;

/// Aborts the process unless the returned sender is dropped within `limit`:
/// a deadlock fails the test instead of hanging it.
fn watchdog(what: &'static str, limit: Duration) -> mpsc::Sender<()> {
    let (tx, rx) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
            // Not eprintln!: the test harness captures that, and the abort
            // would swallow it.
            let msg = format!("{what}: still blocked after {limit:?}: deadlock\n");
            let _ = std::io::Write::write_all(&mut std::io::stderr(), msg.as_bytes());
            std::process::abort();
        }
    });
    tx
}

/// How many thread states the main interpreter has. Call with its GIL
/// held. A debugger-style read (CPython changes the list under a lock of
/// its own), enough to see another thread's thread state appear.
fn main_thread_states() -> usize {
    // SAFETY: Python is initialized and this thread holds the main GIL, so
    // no thread state of the main interpreter is deleted meanwhile; new ones
    // are linked in at the head, fully initialized.
    unsafe {
        let mut n = 0;
        let mut t = sys::PyInterpreterState_ThreadHead(sys::PyInterpreterState_Main());
        while !t.is_null() {
            n += 1;
            t = sys::PyThreadState_Next(t);
        }
        n
    }
}

/// `sys.path[:2]` and how often `dir` is in `sys.path`.
fn front_and_count(i: &Interpreter, dir: &str) -> (Value, Value) {
    let front = i.eval("__import__('sys').path[:2]").unwrap();
    let n = i
        .eval(&format!("__import__('sys').path.count({dir:?})"))
        .unwrap();
    (front, n)
}

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
    let script_dir = "/host-script-dir";

    // The host: initializes Python, puts its script's directory first in
    // sys.path as `python script.py` does, and keeps the main GIL on this
    // thread.
    // SAFETY: nothing has initialized Python in this test binary before;
    // then the GIL is held here and the source is a valid C string.
    unsafe {
        sys::Py_InitializeEx(0);
        let code =
            std::ffi::CString::new(format!("import sys\nsys.path.insert(0, {script_dir:?})\n"))
                .unwrap();
        assert_eq!(sys::PyRun_SimpleString(code.as_ptr()), 0);
    }
    let host_ts = sys::current_thread_state();
    let states_before = main_thread_states();

    // Another thread starts the runtime with python_path; it has to wait
    // for the main GIL to add the directories to the main interpreter.
    let config = RuntimeConfig::new().python_path(&dir);
    let alive = watchdog(
        "Runtime::init_with on a thread while the host holds the main GIL",
        Duration::from_secs(300),
    );
    let (tx, rx) = mpsc::channel();
    let cfg = config.clone();
    std::thread::spawn(move || tx.send(Runtime::init_with(cfg).map(drop)).unwrap());
    while main_thread_states() == states_before {
        // It has made its thread state and waits for the main GIL.
        std::thread::yield_now();
    }
    // Meanwhile the host uses interp: this must not wait for that thread
    // (it used to wait for the runtime's one-time initialization, inside
    // which that thread waited for this thread's GIL).
    let early = Interpreter::new().unwrap();
    // SAFETY: the host's thread state is attached on this thread; releasing
    // the GIL while waiting lets the other thread finish, and the same
    // thread state is restored afterwards.
    let started = unsafe {
        let saved = sys::PyEval_SaveThread();
        let r = rx.recv().unwrap();
        sys::PyEval_RestoreThread(saved);
        r
    };
    started.unwrap();
    drop(alive);
    let rt = Runtime::get().expect("the runtime is started");
    assert!(!rt.owns_python());

    // The directory goes after sys.path[0] (the host's script directory in
    // the main interpreter, the standard library's zip in subinterpreters
    // of an embedding host), once, in every interpreter.
    let triple = |i: &Interpreter| i.call("pp_host_xyz", "triple", &[5.into()], &[]).unwrap();
    let (front, n) = front_and_count(rt.main(), dir_str);
    assert_eq!(
        front,
        Value::List(vec![Value::str(script_dir), Value::str(dir_str)].into()),
        "the host's main interpreter"
    );
    assert_eq!(n, Value::Int(1), "the host's main interpreter");
    assert_eq!(triple(rt.main()), Value::Int(15));
    for (sub, what) in [
        (early, "made while the runtime started"),
        (Interpreter::new().unwrap(), "isolated"),
        (
            Interpreter::with_config(InterpreterConfig::legacy()).unwrap(),
            "legacy",
        ),
    ] {
        let (front, n) = front_and_count(&sub, dir_str);
        match &front {
            Value::List(l) if l.len() == 2 && l[1] == Value::str(dir_str) => {}
            _ => panic!("sys.path[:2] of the {what} interpreter: {front:?}"),
        }
        assert_eq!(n, Value::Int(1), "{what}");
        assert_eq!(triple(&sub), Value::Int(15), "{what}");
    }

    // The host starts the runtime again itself, with the same directories:
    // nothing is added twice. Options that a host's Python ignores (home,
    // environment, signal handlers) make no difference; other directories
    // are refused.
    let ignored = config
        .clone()
        .home("/elsewhere")
        .use_environment(true)
        .install_signal_handlers(true);
    for c in [config.clone(), ignored] {
        match Runtime::init_with(c.clone()) {
            Ok(again) => assert!(std::ptr::eq(again, rt)),
            Err(e) => panic!("{c:?} on the host's Python: {e}"),
        }
    }
    assert_eq!(front_and_count(rt.main(), dir_str).1, Value::Int(1));
    match Runtime::init_with(RuntimeConfig::new().python_path("/elsewhere")) {
        Err(Error::Runtime(m)) => assert!(m.contains("/elsewhere"), "{m}"),
        other => panic!("other directories must be refused, got {other:?}"),
    }
    assert_eq!(
        sys::current_thread_state(),
        host_ts,
        "the host's thread state is attached again"
    );
}
