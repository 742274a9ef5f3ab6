//! Cancellation, timeouts, stuck workers, recycling, initializers, panics,
//! the hybrid lanes, drop with work in flight.

use std::time::{Duration, Instant};

use interp_core::{Channel, Frozen, SharedBuffer, Value};
use interp_pool::{Call, Pool, PoolError, TaskError};

mod common;
use common::*;

const INIT: &str = r#"
import time, sys, interp
def spin():
    while True:
        pass
def stubborn(stop, ready):
    # Swallows every interruption (an async exception may land on the outer
    # loop's back-edge too); returns only when told to. It says `ready` from
    # inside its try blocks: an interrupt that lands before them (at the
    # call's entry, on a busy machine) would end the task as Cancelled.
    told = False
    while True:
        try:
            while True:
                try:
                    if not told:
                        ready.send(True)
                        told = True
                    return stop.recv(timeout=0.01)
                except BaseException:
                    pass
        except BaseException:
            pass
def wait_on(ch):
    return ch.recv()
def lost_then_spin(ready):
    # The interruption lands in __del__'s loop: CPython reports it as
    # unraisable and drops it; the task then spins on in plain code.
    class Swallow:
        def __del__(self):
            ready.send(True)
            while True:
                pass
    Swallow()
    while True:
        pass
def sleep(secs):
    time.sleep(secs)
    return secs
def interp_id():
    return interp.interpreter_id()
def exit_now():
    sys.exit(3)
def ident(x):
    return x
"#;

fn pool(workers: usize) -> interp_pool::PoolBuilder {
    Pool::builder().workers(workers).init_source(INIT)
}

#[test]
fn cancel_interrupts_running_bytecode_and_the_worker_stays_usable() {
    let p = pool(1).kill_grace(LAND).build().unwrap();
    let t = p.submit(Call::new("__main__", "spin")).unwrap();
    wait_running(&t);
    assert!(t.cancel());
    assert_eq!(
        t.wait_timeout(Duration::from_secs(20)),
        Some(Err(TaskError::Cancelled))
    );
    assert_serves(&p, 5);
    let w = &p.stats().workers[0];
    assert_eq!((w.cancelled, w.replaced, w.tasks), (1, 0, 2), "{w:?}");
    assert!(!t.cancel(), "cancelling a finished task does nothing");
}

#[test]
fn cancel_wakes_a_task_blocked_in_a_channel() {
    let p = pool(1).kill_grace(LAND).build().unwrap();
    let ch = Channel::unbounded();
    let t = p
        .submit(Call::new("__main__", "wait_on").arg(ch.clone()))
        .unwrap();
    wait_running(&t);
    let start = Instant::now();
    t.cancel();
    assert_eq!(
        t.wait_timeout(Duration::from_secs(20)),
        Some(Err(TaskError::Cancelled))
    );
    eprintln!("channel wait cancelled in {:?}", start.elapsed());
    // The channel itself is untouched and the worker serves the next task.
    ch.send(1.into()).unwrap();
    assert_eq!(
        p.submit(Call::new("__main__", "wait_on").arg(ch))
            .unwrap()
            .wait()
            .unwrap(),
        Value::Int(1)
    );
}

#[test]
fn timeouts_interrupt_runaway_tasks() {
    let p = pool(1).kill_grace(LAND).build().unwrap();
    let t = p
        .submit(Call::new("__main__", "spin").timeout(Duration::from_millis(100)))
        .unwrap();
    assert_eq!(
        t.wait_timeout(Duration::from_secs(20)),
        Some(Err(TaskError::TimedOut))
    );
    // A task that finishes in time is unaffected.
    let ok = p
        .submit(
            Call::new("__main__", "ident")
                .arg(3)
                .timeout(Duration::from_secs(10)),
        )
        .unwrap();
    assert_eq!(ok.wait().unwrap(), Value::Int(3));
}

#[test]
fn a_task_that_ignores_interruption_costs_that_task_not_the_pool() {
    let p = pool(1)
        .kill_grace(Duration::from_millis(300))
        .build()
        .unwrap();
    let (stop, ready) = (Channel::unbounded(), Channel::unbounded());
    let t = p
        .submit(
            Call::new("__main__", "stubborn")
                .arg(stop.clone())
                .arg(ready.clone()),
        )
        .unwrap();
    // Cancel only once the task is inside its try blocks.
    let said = ready.recv_timeout(Duration::from_secs(60));
    assert!(said.is_ok(), "the task never said ready: {said:?}");
    t.cancel();
    match t.wait_timeout(Duration::from_secs(20)) {
        Some(Err(TaskError::WorkerLost(m))) => assert!(m.contains("replaced"), "{m}"),
        other => panic!("expected WorkerLost, got {other:?}"),
    }
    // A replacement worker serves new tasks.
    assert_serves(&p, 9);
    assert_eq!(p.stats().workers[0].replaced, 1);
    stop.send("bye".into()).unwrap(); // lets the abandoned thread end
}

#[test]
fn an_interruption_cpython_drops_in_a_del_is_raised_again() {
    let p = pool(1).kill_grace(LAND).build().unwrap();
    let ready = Channel::unbounded();
    let t = p
        .submit(Call::new("__main__", "lost_then_spin").arg(ready.clone()))
        .unwrap();
    let said = ready.recv_timeout(Duration::from_secs(60));
    assert!(said.is_ok(), "the task never reached its __del__: {said:?}");
    assert!(t.cancel());
    // Before: the task spun on and its worker was given up after LAND.
    assert_eq!(
        t.wait_timeout(Duration::from_secs(30)),
        Some(Err(TaskError::Cancelled))
    );
    assert_serves(&p, 4);
    assert_eq!(p.stats().workers[0].replaced, 0);
}

#[test]
fn an_unraisable_error_while_a_worker_closes_its_interpreter_does_not_crash_it() {
    // The worker's unraisablehook runs while the interpreter closes (a
    // __del__ of a module global raising), when imports fail: it used to
    // import `sys` there, and formatting that import's error recursed
    // until the stack overflowed (a fatal error).
    let p = Pool::builder()
        .workers(1)
        .init_source(format!(
            "{INIT}\nclass Bad:\n    def __del__(self):\n        raise ValueError('from __del__')\n\
             KEEP = Bad()\n"
        ))
        .build()
        .unwrap();
    assert_serves(&p, 2);
    let report = p.shutdown(true, false);
    assert!(report.abandoned.is_empty(), "{report:?}");
}

#[test]
fn other_unraisable_reports_reach_the_default_hook() {
    // The lost-interrupt hook hands every other report to
    // sys.__unraisablehook__ (here one that sends it to the test).
    let seen = Channel::unbounded();
    let p = Pool::builder()
        .workers(1)
        .prepare_main("seen", seen.clone())
        .init_source(format!(
            "{INIT}\nimport sys\n\
             sys.__unraisablehook__ = lambda u: seen.send(str(u.exc_value))\n\
             class Bad:\n    def __del__(self):\n        raise ValueError('from __del__')\n\
             def drop_bad():\n    Bad()\n    return 1\n"
        ))
        .build()
        .unwrap();
    assert_eq!(
        run(&p, Call::new("__main__", "drop_bad")),
        Ok(Value::Int(1))
    );
    assert_eq!(
        seen.recv_timeout(Duration::from_secs(60)),
        Ok(Value::from("from __del__"))
    );
}

#[test]
fn a_blocking_c_call_past_the_kill_grace_is_abandoned_and_shutdown_still_works() {
    let p = pool(1)
        .kill_grace(Duration::from_millis(200))
        .build()
        .unwrap();
    let t = p
        .submit(
            Call::new("__main__", "sleep")
                .arg(3.0)
                .timeout(Duration::from_millis(50)),
        )
        .unwrap();
    assert!(matches!(
        t.wait_timeout(Duration::from_secs(20)),
        Some(Err(TaskError::WorkerLost(_)))
    ));
    assert_serves(&p, 1);
    let start = Instant::now();
    let report = p.shutdown(true, true);
    assert!(report.abandoned.is_empty(), "{report:?}");
    assert!(start.elapsed() < Duration::from_secs(10));
}

#[test]
fn max_tasks_per_worker_recycles_and_reruns_the_initializer() {
    let p = pool(1)
        .max_tasks_per_worker(3)
        .init_source(format!("{INIT}\nimport interp\nINIT_RUNS = 1\n"))
        .build()
        .unwrap();
    let ids: Vec<i64> = (0..7)
        .map(|_| {
            p.submit(Call::new("__main__", "interp_id"))
                .unwrap()
                .wait()
                .unwrap()
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(ids[0], ids[2]);
    assert_ne!(ids[2], ids[3], "a fresh interpreter after 3 tasks");
    assert_eq!(ids[3], ids[5]);
    assert_ne!(ids[5], ids[6]);
    assert_eq!(p.stats().workers[0].recycles, 2);
}

#[test]
fn system_exit_fails_the_task_and_recycles_the_worker() {
    let p = pool(1)
        .init_source(format!(
            "{INIT}\nclass Stop(SystemExit):\n    pass\ndef stop():\n    raise Stop(4)\n"
        ))
        .build()
        .unwrap();
    let id = || {
        p.submit(Call::new("__main__", "interp_id"))
            .unwrap()
            .wait()
            .unwrap()
    };
    // A subclass of SystemExit exits as SystemExit does.
    for (f, type_name, recycles) in [("exit_now", "SystemExit", 1), ("stop", "__main__.Stop", 2)] {
        let before = id();
        let e = p
            .submit(Call::new("__main__", f))
            .unwrap()
            .wait()
            .unwrap_err();
        assert_eq!(e.exception().unwrap().type_name(), type_name);
        assert_ne!(before, id(), "{f}: the worker got a fresh interpreter");
        assert_eq!(p.stats().workers[0].recycles, recycles, "{f}");
    }
}

#[test]
fn initializers_and_prepare_main_hand_data_over_once() {
    let buf = SharedBuffer::from_slice(&[1i64, 2, 3]);
    let results = Channel::unbounded();
    let table = Frozen::from_value(&Value::dict([("k".into(), 42.into())])).unwrap();
    let p = Pool::builder()
        .workers(2)
        .prepare_main("buf", buf)
        .prepare_main("results", results.clone())
        .prepare_main("table", table)
        .init_source("def setup(n):\n    global N\n    N = n\ndef use():\n    results.send(N)\n    return sum(memoryview(buf)) + table['k']\n")
        .init_call(Call::new("__main__", "setup").arg(7))
        .build()
        .unwrap();
    assert_eq!(
        p.submit(Call::new("__main__", "use"))
            .unwrap()
            .wait()
            .unwrap(),
        Value::Int(48)
    );
    assert_eq!(results.recv().unwrap(), Value::Int(7));
    // An initializer that fails is reported by build.
    match Pool::builder()
        .workers(2)
        .init_source("raise RuntimeError('no config')")
        .build()
    {
        Err(PoolError::Init(e)) => {
            assert!(e.to_string().contains("RuntimeError: no config"), "{e}")
        }
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("build must fail"),
    }
}

/// An initializer whose role each worker takes from `roles`: "fail" raises
/// once the other two are in their blocking code, "recv" waits on a
/// channel that nothing sends to, "spin" loops in Python.
const ROLES: &str = r#"
import interp
def init_role(roles, started):
    role = roles.try_recv()
    if role == "fail":
        started.recv()
        started.recv()
        raise ValueError("initializer failed")
    started.send(role)
    if role == "recv":
        interp.Channel().recv()
    if isinstance(role, int):
        import os
        os.read(role, 1)  # a blocking C call: no interruption reaches it
        return
    while True:
        pass
"#;

#[test]
fn start_fails_fast_and_stops_the_workers_still_initializing() {
    // Regression: the first failure was reported only once every other
    // worker's start had ended: build's clean-up waited for initializers
    // still running, for the whole shutdown timeout (an hour here), then
    // abandoned their workers. They are now interrupted (a channel wait is
    // woken, a Python loop gets interp.Cancelled).
    let roles = Channel::unbounded();
    for r in ["fail", "recv", "spin"] {
        roles.send(Value::str(r)).unwrap();
    }
    let started = Channel::unbounded();
    let b = Pool::builder()
        .workers(3)
        .init_source(ROLES)
        .init_call(Call::new("__main__", "init_role").arg(roles).arg(started))
        .shutdown_timeout(Duration::from_secs(3600))
        .kill_grace(LAND);
    let (tx, rx) = crossbeam_channel::bounded(1);
    // Detached: a build that does not return must fail the test, not hang it.
    std::thread::spawn(move || {
        let _ = tx.send(b.build().map(drop));
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(Err(PoolError::Init(e))) => {
            assert!(e.to_string().contains("initializer failed"), "{e}")
        }
        Ok(other) => panic!("expected the initializer's error, got {other:?}"),
        Err(_) => panic!("build still running 60 s after an initializer failed"),
    }
}

#[test]
fn a_failed_start_gives_a_worker_blocked_in_c_only_the_kill_grace() {
    // Regression: a worker whose initializer was in a blocking C call when
    // another's raised cannot be interrupted; build's clean-up waited for
    // it for the whole shutdown timeout (an hour here). It now gets the
    // kill grace and is abandoned. Its C call is a read of a pipe that the
    // test writes to at the end, so that its thread ends.
    let main = interp_core::Runtime::init().unwrap().main();
    let fds = main.eval("__import__('os').pipe()").unwrap();
    let (read_fd, write_fd) = match fds.as_seq() {
        Some([Value::Int(r), Value::Int(w)]) => (*r, *w),
        other => panic!("os.pipe() gave {other:?}"),
    };
    let roles = Channel::unbounded();
    roles.send(Value::str("fail")).unwrap();
    roles.send(Value::Int(read_fd)).unwrap();
    let started = Channel::unbounded();
    // The failing worker waits for two messages: the blocked one sends one.
    started.send(Value::None).unwrap();
    let b = Pool::builder()
        .workers(2)
        .init_source(ROLES)
        .init_call(Call::new("__main__", "init_role").arg(roles).arg(started))
        .shutdown_timeout(Duration::from_secs(3600))
        .kill_grace(Duration::from_millis(200));
    let (tx, rx) = crossbeam_channel::bounded(1);
    // Detached: a build that does not return must fail the test, not hang it.
    std::thread::spawn(move || {
        let _ = tx.send(b.build().map(drop));
    });
    let got = rx.recv_timeout(Duration::from_secs(60));
    main.exec(&format!(
        "import os\nos.write({write_fd}, b'x')\nos.close({write_fd})\nos.close({read_fd})\n"
    ))
    .unwrap();
    match got {
        Ok(Err(PoolError::Init(e))) => {
            assert!(e.to_string().contains("initializer failed"), "{e}")
        }
        Ok(other) => panic!("expected the initializer's error, got {other:?}"),
        Err(_) => panic!("build still running 60 s after an initializer failed"),
    }
}

#[test]
fn submit_with_timeout_interrupts_a_closure_that_runs_too_long() {
    let p = pool(1).build().unwrap();
    let t = p
        .submit_with_timeout(Some(Duration::from_millis(100)), |py| {
            py.lookup("__main__", "spin")?.call(&[], &[])?.to_value()
        })
        .unwrap();
    assert_eq!(
        t.wait_timeout(Duration::from_secs(20)),
        Some(Err(TaskError::TimedOut))
    );
    // No timeout: the closure runs to its end; the worker is still usable.
    let ok = p
        .submit_with_timeout(None, |py| py.eval("6 * 7")?.to_value())
        .unwrap();
    assert_eq!(ok.wait().unwrap(), Value::Int(42));
}

#[test]
fn submit_with_runs_rust_in_the_worker_and_survives_panics() {
    let p = pool(1).build().unwrap();
    let t = p.submit_with(|py| {
        let l = py.eval("[1, 2, 3]")?;
        l.getattr("append")?.call(&[py.value(&4.into())?], &[])?;
        l.to_value()
    });
    assert_eq!(
        t.unwrap().wait().unwrap(),
        Value::list([1.into(), 2.into(), 3.into(), 4.into()])
    );
    let t = p.submit_with(|_py| panic!("bug in a closure")).unwrap();
    match t.wait() {
        Err(TaskError::Panicked(m)) => assert!(m.contains("bug in a closure")),
        other => panic!("{other:?}"),
    }
    assert_serves(&p, 2);
}

#[test]
fn one_pool_serves_interpreter_thread_and_main_lanes() {
    let p = pool(2).build().unwrap();
    // A thread task blocks one worker thread without holding an interpreter...
    // (It waits for a gate the test opens only after the interpreter tasks.)
    let gate = Channel::bounded(1);
    let g2 = gate.clone();
    let io = p
        .submit_blocking(move || {
            g2.recv().map_err(|e| e.to_string())?;
            Ok(Value::str("io done"))
        })
        .unwrap();
    wait_running(&io);
    // ...while the other worker keeps running interpreter tasks.
    for i in 0..50 {
        assert_eq!(
            p.submit(Call::new("__main__", "ident").arg(i))
                .unwrap()
                .wait()
                .unwrap(),
            Value::Int(i)
        );
    }
    assert!(
        !io.is_done(),
        "interpreter tasks ran while the I/O task was still blocked"
    );
    gate.send(Value::None).unwrap();
    assert_eq!(io.wait().unwrap(), Value::str("io done"));
    let e = p
        .submit_blocking(|| Err("disk on fire".into()))
        .unwrap()
        .wait()
        .unwrap_err();
    assert_eq!(e, TaskError::Failed("disk on fire".into()));
    // readline refuses isolated workers, but the main lane runs it.
    let iso = p
        .submit(Call::new("readline", "get_history_length"))
        .unwrap()
        .wait()
        .unwrap_err();
    assert!(
        iso.exception()
            .unwrap()
            .hint
            .as_deref()
            .unwrap_or("")
            .contains("legacy"),
        "{iso}"
    );
    let main = p
        .submit_main(Call::new("readline", "get_history_length"))
        .unwrap()
        .wait()
        .unwrap();
    assert!(main.as_i64().is_some(), "{main:?}");
}

/// Drops `p` on another thread; how long that took (None: still not done
/// after `limit`).
fn drop_timed(p: Pool, limit: Duration) -> Option<Duration> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let start = Instant::now();
        drop(p);
        tx.send(start.elapsed()).unwrap();
    });
    rx.recv_timeout(limit).ok()
}

#[test]
fn dropping_a_pool_interrupts_running_work_at_once_and_cancels_the_queue() {
    // Both limits are far above what the drop needs, so the bound below
    // tells "interrupts at once" from "waits out the shutdown timeout"
    // without depending on the machine's speed.
    let p = pool(2)
        .shutdown_timeout(Duration::from_secs(60))
        .kill_grace(LAND)
        .build()
        .unwrap();
    let running = p.submit(Call::new("__main__", "spin")).unwrap();
    // Interrupted when its C call (the sleep) returns.
    let sleeping = p.submit(Call::new("__main__", "sleep").arg(0.5)).unwrap();
    let queued: Vec<_> = (0..10)
        .map(|i| p.submit(Call::new("__main__", "ident").arg(i)).unwrap())
        .collect();
    while !(running.is_running() && sleeping.is_running()) {
        std::thread::sleep(Duration::from_millis(1));
    }
    let took = drop_timed(p, Duration::from_secs(30)).expect(
        "dropping a pool with a spinning task took over 30 s: it waits for the shutdown \
         timeout (60 s) instead of interrupting at once",
    );
    eprintln!("drop took {took:?}");
    assert_eq!(
        running.wait_timeout(Duration::from_secs(5)),
        Some(Err(TaskError::Cancelled))
    );
    assert_eq!(
        sleeping.wait_timeout(Duration::from_secs(5)),
        Some(Err(TaskError::Cancelled))
    );
    for t in &queued {
        let r = t.wait_timeout(Duration::from_secs(5));
        assert_eq!(
            r,
            Some(Err(TaskError::Cancelled)),
            "queued tasks never start once shutdown cancels them"
        );
    }
}

#[test]
fn shutdown_says_a_worker_is_stuck_closing_its_interpreter_not_in_a_task() {
    // The task leaves a non-daemon thread behind, blocked on a channel:
    // closing the interpreter waits for it.
    let release = Channel::unbounded();
    let p = pool(1)
        .init_source(format!(
            "{INIT}\nimport threading\ndef linger(ch):\n    threading.Thread(target=ch.recv).start()\n    return 1\n"
        ))
        .shutdown_timeout(Duration::from_secs(1))
        .kill_grace(Duration::from_secs(1))
        .build()
        .unwrap();
    let t = p
        .submit(Call::new("__main__", "linger").arg(release.clone()))
        .unwrap();
    assert_eq!(
        t.wait_timeout(Duration::from_secs(30)),
        Some(Ok(Value::Int(1)))
    );
    let report = p.shutdown(true, true);
    release.send(Value::None).unwrap(); // lets the thread, then the close, end
    assert_eq!(report.abandoned.len(), 1, "{report:?}");
    let line = &report.abandoned[0];
    assert!(
        line.contains("closing its interpreter") && line.contains("thread"),
        "the report must say the worker is stuck closing its interpreter: {line}"
    );
    assert!(!line.contains("in a task"), "{line}");
}

#[test]
fn system_exit_in_a_map_chunk_recycles_and_the_rest_of_the_chunk_still_runs() {
    let p = pool(1)
        .init_source(format!(
            "{INIT}\ndef exit_at_2(x):\n    if x == 2:\n        sys.exit(3)\n    return [x, interp.interpreter_id()]\n"
        ))
        .build()
        .unwrap();
    for ordered in [true, false] {
        let inputs = (0..6).map(Value::from);
        let call = Call::new("__main__", "exit_at_2");
        let mut results: Vec<(usize, Result<Value, TaskError>)> = if ordered {
            p.map(call, inputs).chunk_size(6).enumerate().collect()
        } else {
            p.map_unordered(call, inputs).chunk_size(6).collect()
        };
        results.sort_by_key(|(i, _)| *i);
        assert_eq!(results.len(), 6, "{results:?}");
        // Each result is [input, id of the interpreter that ran it].
        let field = |r: &Result<Value, TaskError>, k: usize| {
            r.as_ref()
                .ok()
                .and_then(|v| v.as_seq())
                .and_then(|v| v[k].as_i64())
        };
        let ids: Vec<Option<i64>> = results.iter().map(|(_, r)| field(r, 1)).collect();
        match &results[2].1 {
            Err(e) => assert_eq!(
                e.exception().map(|x| x.type_name()).as_deref(),
                Some("SystemExit"),
                "{e}"
            ),
            other => panic!("item 2 must fail with SystemExit, got {other:?}"),
        }
        for (i, r) in &results {
            if *i != 2 {
                assert_eq!(field(r, 0), Some(*i as i64), "item {i}: {r:?}");
            }
        }
        assert_eq!(ids[0], ids[1], "{ids:?}");
        assert_eq!(ids[3], ids[5], "{ids:?}");
        assert_ne!(
            ids[1], ids[3],
            "the items after a SystemExit must run in a fresh interpreter: {ids:?}"
        );
    }
    assert_eq!(p.stats().workers[0].recycles, 2);
}

#[test]
fn cancelling_a_task_formats_no_traceback() {
    // The interruption's traceback would be thrown away (the task fails
    // with Cancelled or TimedOut), and an interpreter's first formatted
    // traceback imports `traceback`: 35 ms, 1.7 s under valgrind, time
    // during which the cancelled task is not done (it crossed the kill
    // grace in the C tests). A real error still gets its traceback.
    let formatted = Channel::unbounded();
    let p = pool(1)
        .kill_grace(LAND)
        .prepare_main("formatted", formatted.clone())
        .init_source(format!(
            "{INIT}\nimport traceback\n_format = traceback.format_exception\n\
             def counting(*a, **k):\n    formatted.send(1)\n    return _format(*a, **k)\n\
             traceback.format_exception = counting\n\
             def fail():\n    raise ValueError('real')\n"
        ))
        .build()
        .unwrap();
    let t = p.submit(Call::new("__main__", "spin")).unwrap();
    assert_eq!(cancel_when_running(&t), Some(Err(TaskError::Cancelled)));
    let t = p
        .submit(Call::new("__main__", "spin").timeout(Duration::from_millis(20)))
        .unwrap();
    assert_eq!(
        t.wait_timeout(Duration::from_secs(30)),
        Some(Err(TaskError::TimedOut))
    );
    assert_eq!(
        formatted.len(),
        0,
        "the interruptions' tracebacks were formatted"
    );
    let e = p
        .submit(Call::new("__main__", "fail"))
        .unwrap()
        .wait()
        .unwrap_err();
    assert!(e.exception().unwrap().traceback.contains("in fail"), "{e}");
    assert_eq!(formatted.len(), 1, "the probe counts formatted tracebacks");
}

#[test]
fn stats_count_work() {
    let p = pool(2).build().unwrap();
    for i in 0..20 {
        p.submit(Call::new("__main__", "ident").arg(i))
            .unwrap()
            .wait()
            .unwrap();
    }
    p.submit(Call::new("__main__", "sleep").arg(0.05))
        .unwrap()
        .wait()
        .unwrap();
    let _ = p.submit(Call::new("__main__", "nope")).unwrap().wait();
    let s = p.stats();
    assert_eq!(s.workers.iter().map(|w| w.tasks).sum::<u64>(), 22);
    assert_eq!(s.workers.iter().map(|w| w.failed).sum::<u64>(), 1);
    assert!(s.workers.iter().map(|w| w.busy).sum::<Duration>() >= Duration::from_millis(50));
}
