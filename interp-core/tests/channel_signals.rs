//! A channel wait from Python in the main thread of the main interpreter
//! runs the signal handlers: Ctrl-C raises `KeyboardInterrupt` in a blocked
//! `recv`, `send` or iteration instead of being ignored until the wait ends.
//!
//! One test in its own binary: the thread that initializes Python is its
//! main thread, the only one where CPython runs signal handlers.

use interp_core::{Channel, Runtime, Value};
use interp_sys as sys;

#[test]
fn ctrl_c_interrupts_blocking_channel_waits_in_the_main_thread() {
    let rt = Runtime::init().unwrap();
    let main = rt.main();
    // SIGINT raises KeyboardInterrupt (the runtime installs no handlers).
    main.exec("import signal\nsignal.signal(signal.SIGINT, signal.default_int_handler)")
        .unwrap();
    let ready = Channel::unbounded();
    main.prepare_main([("ready", ready.clone().into())])
        .unwrap();
    // Each wait would last 30 s (an upper bound, never waited out unless
    // the interruption is ignored); "ready" is sent just before it starts.
    main.exec(concat!(
        "import interp, time\n",
        "def blocked(what):\n",
        "    ch = interp.Channel(0)\n",
        "    start = time.monotonic()\n",
        "    ready.send(what)\n",
        "    try:\n",
        "        if what == 'recv':\n",
        "            ch.recv(timeout=30)\n",
        "        elif what == 'send':\n",
        "            ch.send(1, timeout=30)\n",
        "        else:\n",
        "            for _ in ch:\n",
        "                pass\n",
        "        return 'not interrupted'\n",
        "    except KeyboardInterrupt:\n",
        "        return 'interrupted'\n",
        "    except TimeoutError:\n",
        "        return f'timed out after {time.monotonic() - start:.1f} s'\n",
    ))
    .unwrap();
    for what in ["recv", "send", "iterate"] {
        let signaller = {
            let ready = ready.clone();
            std::thread::spawn(move || {
                assert_eq!(ready.recv().unwrap(), Value::str(what));
                // The main GIL is free once the main thread blocks in the
                // wait (it holds it until then, but for a switch interval).
                rt.main().enter(|_py| ());
                // SAFETY: callable from any thread, without a thread state
                // (async-signal-safe); as if SIGINT had arrived.
                unsafe { sys::PyErr_SetInterruptEx(libc::SIGINT) };
            })
        };
        let got = main.call("__main__", "blocked", &[Value::str(what)], &[]);
        signaller.join().unwrap();
        assert_eq!(got.unwrap(), Value::str("interrupted"), "{what}");
    }
}
