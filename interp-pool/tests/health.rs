//! Cancellation, timeouts, stuck workers, recycling, initializers, panics,
//! the hybrid lanes, drop with work in flight.

use std::time::{Duration, Instant};

use interp_core::{Channel, Frozen, SharedBuffer, Value};
use interp_pool::{Call, Pool, PoolError, TaskError};

const INIT: &str = r#"
import time, sys, interp
def spin():
    while True:
        pass
def stubborn(stop):
    # Swallows every interruption (an async exception may land on the outer
    # loop's back-edge too); returns only when told to.
    while True:
        try:
            while True:
                try:
                    return stop.recv(timeout=0.01)
                except BaseException:
                    pass
        except BaseException:
            pass
def wait_on(ch):
    return ch.recv()
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
    let p = pool(1).build().unwrap();
    let t = p.submit(Call::new("__main__", "spin")).unwrap();
    while !t.is_running() {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(t.cancel());
    assert_eq!(
        t.wait_timeout(Duration::from_secs(20)),
        Some(Err(TaskError::Cancelled))
    );
    assert_eq!(
        p.submit(Call::new("__main__", "ident").arg(5))
            .unwrap()
            .wait()
            .unwrap(),
        Value::Int(5)
    );
    let w = &p.stats().workers[0];
    assert_eq!((w.cancelled, w.replaced, w.tasks), (1, 0, 2), "{w:?}");
    assert!(!t.cancel(), "cancelling a finished task does nothing");
}

#[test]
fn cancel_wakes_a_task_blocked_in_a_channel() {
    let p = pool(1).build().unwrap();
    let ch = Channel::unbounded();
    let t = p
        .submit(Call::new("__main__", "wait_on").arg(ch.clone()))
        .unwrap();
    while !t.is_running() {
        std::thread::sleep(Duration::from_millis(1));
    }
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
    let p = pool(1).build().unwrap();
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
    let stop = Channel::unbounded();
    let t = p
        .submit(Call::new("__main__", "stubborn").arg(stop.clone()))
        .unwrap();
    while !t.is_running() {
        std::thread::sleep(Duration::from_millis(1));
    }
    t.cancel();
    match t.wait_timeout(Duration::from_secs(20)) {
        Some(Err(TaskError::WorkerLost(m))) => assert!(m.contains("replaced"), "{m}"),
        other => panic!("expected WorkerLost, got {other:?}"),
    }
    // A replacement worker serves new tasks.
    assert_eq!(
        p.submit(Call::new("__main__", "ident").arg(9))
            .unwrap()
            .wait()
            .unwrap(),
        Value::Int(9)
    );
    assert_eq!(p.stats().workers[0].replaced, 1);
    stop.send("bye".into()).unwrap(); // lets the abandoned thread end
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
    assert_eq!(
        p.submit(Call::new("__main__", "ident").arg(1))
            .unwrap()
            .wait()
            .unwrap(),
        Value::Int(1)
    );
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
    let p = pool(1).build().unwrap();
    let before = p
        .submit(Call::new("__main__", "interp_id"))
        .unwrap()
        .wait()
        .unwrap();
    let e = p
        .submit(Call::new("__main__", "exit_now"))
        .unwrap()
        .wait()
        .unwrap_err();
    assert_eq!(e.exception().unwrap().type_name(), "SystemExit");
    let after = p
        .submit(Call::new("__main__", "interp_id"))
        .unwrap()
        .wait()
        .unwrap();
    assert_ne!(before, after, "the worker got a fresh interpreter");
    assert_eq!(p.stats().workers[0].recycles, 1);
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
    assert_eq!(
        p.submit(Call::new("__main__", "ident").arg(2))
            .unwrap()
            .wait()
            .unwrap(),
        Value::Int(2)
    );
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
    while !io.is_running() {
        std::thread::sleep(Duration::from_millis(1));
    }
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

#[test]
fn dropping_a_pool_with_work_in_flight_never_hangs() {
    // A kill grace long enough for the interruption to land even on a
    // loaded machine; the sleeping task cannot be interrupted and is
    // abandoned after it.
    let p = pool(2)
        .shutdown_timeout(Duration::from_millis(200))
        .kill_grace(Duration::from_secs(2))
        .build()
        .unwrap();
    let running = p.submit(Call::new("__main__", "spin")).unwrap();
    let sleeping = p.submit(Call::new("__main__", "sleep").arg(2.0)).unwrap();
    let queued: Vec<_> = (0..10)
        .map(|i| p.submit(Call::new("__main__", "ident").arg(i)).unwrap())
        .collect();
    while !running.is_running() {
        std::thread::sleep(Duration::from_millis(1));
    }
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let start = Instant::now();
        drop(p);
        tx.send(start.elapsed()).unwrap();
    });
    let took = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("dropping the pool hung");
    eprintln!("drop took {took:?}");
    assert_eq!(
        running.wait_timeout(Duration::from_secs(5)),
        Some(Err(TaskError::Cancelled))
    );
    assert!(
        sleeping.wait_timeout(Duration::from_secs(5)).is_some(),
        "every task is resolved"
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
