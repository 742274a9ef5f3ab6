//! Regression tests for races found in review: cancel vs start, shutdown
//! with a stuck worker and queued work, map when the pool stops mid-way,
//! and a pool that loses every worker.

use std::time::{Duration, Instant};

use interp_core::{Channel, Value};
use interp_pool::{Call, Pool, PoolError, TaskError};

mod common;
use common::*;

const INIT: &str = "import time\ndef spin():\n    while True:\n        pass\ndef ident(x):\n    return x\ndef sleep(s):\n    time.sleep(s)\n    return s\ndef wait_on(ch):\n    return ch.recv()\n";

/// A pool of one worker that waits for interruptions to land.
fn one_worker() -> Pool {
    Pool::builder()
        .workers(1)
        .init_source(INIT)
        .kill_grace(LAND)
        .build()
        .unwrap()
}

#[test]
fn cancelling_right_after_submit_never_loses_the_worker() {
    let p = one_worker();
    for i in 0..1500 {
        let t = p.submit(Call::new("__main__", "spin")).unwrap();
        // Cancel at varying moments around the worker picking the task up.
        let spin_for = Duration::from_nanos((i as u64 * 7919) % 40_000);
        let t0 = Instant::now();
        while t0.elapsed() < spin_for {
            std::hint::spin_loop();
        }
        t.cancel();
        assert!(
            matches!(
                t.wait_timeout(Duration::from_secs(30)),
                Some(Err(TaskError::Cancelled))
            ),
            "iteration {i}: the cancelled task did not end"
        );
    }
    // The worker is still there and free.
    let probe = p.submit(Call::new("__main__", "ident").arg(1)).unwrap();
    assert_eq!(
        probe.wait_timeout(Duration::from_secs(30)),
        Some(Ok(Value::Int(1)))
    );
}

#[test]
fn shutdown_with_a_stuck_worker_still_resolves_queued_tasks() {
    let p = Pool::builder()
        .workers(1)
        .init_source(INIT)
        .shutdown_timeout(Duration::from_millis(100))
        .kill_grace(Duration::from_millis(100))
        .build()
        .unwrap();
    let stuck = p.submit(Call::new("__main__", "sleep").arg(3.0)).unwrap();
    wait_running(&stuck);
    let queued = p.submit(Call::new("__main__", "ident").arg(2)).unwrap();
    let start = Instant::now();
    let report = p.shutdown(true, false);
    assert!(start.elapsed() < Duration::from_secs(10));
    assert_eq!(report.abandoned.len(), 1, "{report:?}");
    assert!(matches!(
        stuck.wait_timeout(Duration::from_secs(5)),
        Some(Err(TaskError::WorkerLost(_)))
    ));
    assert_eq!(
        queued.wait_timeout(Duration::from_secs(5)),
        Some(Err(TaskError::Shutdown))
    );
}

#[test]
fn an_ordered_map_stays_ordered_and_stops_when_the_pool_stops() {
    let p = Pool::builder()
        .workers(2)
        .init_source(INIT)
        .build()
        .unwrap();
    let endless = (0..).map(Value::Int);
    let mut it = p
        .map(Call::new("__main__", "ident"), endless)
        .chunk_size(1)
        .max_in_flight(2);
    assert_eq!(it.next(), Some(Ok(Value::Int(0))));
    p.shutdown(false, false);
    let rest: Vec<_> = it.by_ref().take(100).collect();
    assert!(
        rest.len() < 100,
        "the map kept pulling an endless input after shutdown"
    );
    let first_err = rest.iter().position(Result::is_err).unwrap_or(rest.len());
    for (k, r) in rest[..first_err].iter().enumerate() {
        assert_eq!(
            r,
            &Ok(Value::Int(k as i64 + 1)),
            "results before the failure are in order"
        );
    }
    assert!(
        rest[first_err..]
            .iter()
            .all(|r| r == &Err(TaskError::Shutdown)),
        "{rest:?}"
    );
}

#[test]
fn a_pool_that_loses_every_worker_fails_work_instead_of_hanging() {
    // The initializer takes a token; after the first recycle there is none
    // left, so the worker cannot come back.
    let tokens = Channel::unbounded();
    tokens.send(Value::None).unwrap();
    let p = Pool::builder()
        .workers(1)
        .prepare_main("tokens", tokens)
        .init_source(format!("{INIT}\ntokens.try_recv()\n"))
        .max_tasks_per_worker(1)
        .build()
        .unwrap();
    let first = p.submit(Call::new("__main__", "ident").arg(1)).unwrap();
    let queued: Vec<_> = (0..3)
        .map(|i| p.submit(Call::new("__main__", "ident").arg(i)))
        .collect();
    assert_eq!(
        first.wait_timeout(Duration::from_secs(30)),
        Some(Ok(Value::Int(1)))
    );
    for t in queued.into_iter().flatten() {
        match t.wait_timeout(Duration::from_secs(30)) {
            Some(Err(TaskError::WorkerLost(m))) => assert!(m.contains("every worker"), "{m}"),
            other => panic!("expected WorkerLost, got {other:?}"),
        }
    }
    match p.submit(Call::new("__main__", "ident").arg(9)) {
        Err(PoolError::Init(e)) => assert!(e.to_string().contains("every worker"), "{e}"),
        other => panic!("expected a clear refusal, got {other:?}"),
    }
}

#[test]
fn main_lane_tasks_can_be_cancelled_without_losing_the_worker() {
    let p = one_worker();
    interp_core::Runtime::get()
        .unwrap()
        .main()
        .exec("def main_spin():\n    while True:\n        pass\n")
        .unwrap();
    let t = p.submit_main(Call::new("__main__", "main_spin")).unwrap();
    assert_eq!(cancel_when_running(&t), Some(Err(TaskError::Cancelled)));
    assert_eq!(p.stats().workers[0].replaced, 0);
    assert_serves(&p, 3);
}

#[test]
fn a_main_lane_task_cancelled_while_its_worker_waits_for_the_main_gil_is_cancelled() {
    // A cancel landing while the worker waits to enter the main
    // interpreter: if the interrupt gets the main GIL first, it is set and
    // then cleared by the worker's entry (which drops stale interrupts), or
    // (the worker's first main-lane task) finds no thread state of the
    // worker there yet; the task used to spin on until the kill grace. The
    // worker now checks the cancel flag once it has entered. This thread
    // holds the main GIL while the task starts and is cancelled, so that
    // the worker and the interrupt both wait for it; twice, for both
    // cases. Which of them gets the GIL first cannot be forced from here
    // (in practice the worker, which waited longer): this test passed
    // without the check too, and guards the path rather than the order.
    let p = one_worker();
    let main = interp_core::Runtime::get().unwrap().main();
    main.exec("def main_spin():\n    while True:\n        pass\n")
        .unwrap();
    for round in 0..2 {
        let t = main.enter(|_py| {
            let t = p.submit_main(Call::new("__main__", "main_spin")).unwrap();
            wait_running(&t);
            t.cancel();
            t
        });
        assert_eq!(
            t.wait_timeout(Duration::from_secs(90)),
            Some(Err(TaskError::Cancelled)),
            "round {round}"
        );
    }
    assert_eq!(p.stats().workers[0].replaced, 0);
    assert_serves(&p, 4);
}

#[test]
fn main_lane_closures_can_be_cancelled_without_losing_the_worker() {
    // The closure form of the main lane (what the Python front runs its
    // plain callables with): the cancel must be raised in the main
    // interpreter, where the closure's Python code runs.
    let p = one_worker();
    let t = p
        .submit_main_with(|py| {
            py.exec("while True:\n    pass\n")?;
            Ok(Value::None)
        })
        .unwrap();
    assert_eq!(cancel_when_running(&t), Some(Err(TaskError::Cancelled)));
    assert_eq!(p.stats().workers[0].replaced, 0);
    assert_serves(&p, 3);
    // A closure's own error is the task's, and no interruption is left over.
    let t = p
        .submit_main_with(|py| py.eval("1 + 1")?.to_value())
        .unwrap();
    assert_eq!(
        t.wait_timeout(Duration::from_secs(30)),
        Some(Ok(Value::Int(2)))
    );
}

#[test]
fn shutdown_takes_running_tasks_safely_while_workers_finish_them() {
    // Regression: after its first wait, shutdown read a worker's published
    // task pointer and only then took a reference to it; a worker finishing
    // that task in between dropped its reference, the last one here (the
    // handles are dropped), and the reference was then taken on freed
    // memory. The window is a few instructions, so this stress does not
    // fail deterministically before the fix (under valgrind a hit shows as
    // an invalid write in `increment_strong_count`). A zero shutdown timeout
    // makes every shutdown go straight to taking the running tasks while
    // the workers are busy finishing tiny ones.
    for round in 0..100 {
        let p = Pool::builder()
            .workers(2)
            .wait_for_all_workers(true)
            .init_source(INIT)
            .shutdown_timeout(Duration::ZERO)
            .kill_grace(LAND)
            .build()
            .unwrap();
        for i in 0..200 {
            drop(p.submit(Call::new("__main__", "ident").arg(i)).unwrap());
        }
        let probe = p.submit(Call::new("__main__", "ident").arg(-1)).unwrap();
        let report = p.shutdown(true, false);
        assert!(report.abandoned.is_empty(), "round {round}: {report:?}");
        let r = probe.wait_timeout(Duration::from_secs(30));
        // It ran, was interrupted (Cancelled), or was still queued when the
        // shutdown timeout (zero) passed (Shutdown).
        assert!(
            matches!(
                r,
                Some(Ok(Value::Int(-1)) | Err(TaskError::Cancelled | TaskError::Shutdown))
            ),
            "round {round}: the last task must be resolved, got {r:?}"
        );
    }
}

#[test]
fn concurrent_shutdowns_all_return_when_the_workers_stop() {
    // Regression: each retiring worker woke only one waiting shutdown (a
    // message on a channel), so with two shutdowns waiting at once (the
    // Python front's exit hook and a collected executor's) one took every
    // message and the other slept until the shutdown timeout (10 s by
    // default; the whole wait with a long one, which hung the exit).
    let p = std::sync::Arc::new(
        Pool::builder()
            .workers(2)
            .init_source(INIT)
            .shutdown_timeout(Duration::from_secs(3600))
            .kill_grace(LAND)
            .build()
            .unwrap(),
    );
    let gate = Channel::unbounded();
    let tasks: Vec<_> = (0..2)
        .map(|_| {
            p.submit(Call::new("__main__", "wait_on").arg(gate.clone()))
                .unwrap()
        })
        .collect();
    tasks.iter().for_each(wait_running);
    let (done_tx, done_rx) = crossbeam_channel::unbounded();
    for i in 0..4 {
        let (p, done) = (p.clone(), done_tx.clone());
        // Detached: a shutdown that missed its wake-up must fail the test,
        // not hang it.
        std::thread::spawn(move || {
            let report = p.shutdown(true, false);
            let _ = done.send((i, report));
        });
    }
    // The four shutdowns wait for the workers before they stop: the
    // interleaving that lost wake-ups (it used to rest on a 200 ms sleep).
    let t0 = Instant::now();
    while p.stats().shutdowns_waiting < 4 {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "only {} of 4 shutdowns waiting after 60 s",
            p.stats().shutdowns_waiting
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    for _ in 0..2 {
        gate.send(Value::None).unwrap();
    }
    for t in &tasks {
        assert_eq!(
            t.wait_timeout(Duration::from_secs(60)),
            Some(Ok(Value::None))
        );
    }
    for n in 0..4 {
        match done_rx.recv_timeout(Duration::from_secs(60)) {
            Ok((_, report)) => assert!(report.abandoned.is_empty(), "{report:?}"),
            Err(_) => panic!(
                "only {n} of 4 concurrent shutdowns returned within 60 s of the workers stopping"
            ),
        }
    }
    assert_eq!(p.stats().shutdowns_waiting, 0);
}
