//! Submitting, waiting, map, as_completed/wait, futures, bad input.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use interp_core::{Channel, Value};
use interp_pool::{as_completed, wait, Call, Pool, PoolError, Task, TaskError, WaitMode};

mod common;
use common::*;

const INIT: &str = r#"
import time, interp
def ident(x):
    return x
def wait_on(ch):
    return ch.recv()
def add(a, b, *, scale=1):
    return (a + b) * scale
def slow(x, secs):
    time.sleep(secs)
    return x
def boom(msg):
    def inner():
        raise ValueError(msg)
    inner()
def unshareable():
    return lambda: 1
def decimal_half():
    import decimal
    return decimal.Decimal('0.5')
class K:
    @staticmethod
    def twice(x):
        return 2 * x
"#;

fn pool(workers: usize) -> Pool {
    Pool::builder()
        .workers(workers)
        .init_source(INIT)
        .build()
        .unwrap()
}

/// Submits `slow(x, secs)`: `x` after `secs` seconds of `time.sleep`.
fn submit_slow(p: &Pool, x: impl Into<Value>, secs: f64) -> Task {
    p.submit(Call::new("__main__", "slow").arg(x).arg(secs))
        .unwrap()
}

#[test]
fn submit_wait_and_friends() {
    let p = pool(2);
    let t = p
        .submit(
            Call::new("__main__", "add")
                .arg(2)
                .arg(3)
                .kwarg("scale", 10),
        )
        .unwrap();
    assert_eq!(t.wait().unwrap(), Value::Int(50));
    assert!(t.is_done());
    assert_eq!(t.try_result(), Some(Ok(Value::Int(50))));
    assert_eq!(
        p.submit(Call::parse("__main__:K.twice").unwrap().arg(21))
            .unwrap()
            .wait()
            .unwrap(),
        Value::Int(42)
    );
    assert_eq!(
        p.submit(Call::new("math", "gcd").arg(12).arg(18))
            .unwrap()
            .wait()
            .unwrap(),
        Value::Int(6)
    );
    let slow = submit_slow(&p, "x", 0.3);
    assert_eq!(slow.try_result(), None);
    assert_eq!(slow.wait_timeout(Duration::from_millis(10)), None);
    assert_eq!(
        slow.wait_timeout(Duration::from_secs(30)),
        Some(Ok(Value::str("x")))
    );
    // A pickled callable travels too.
    let f = interp_core::Interpreter::new()
        .unwrap()
        .eval("__import__('functools').partial(pow, 2)")
        .unwrap();
    assert_eq!(
        p.submit(Call::callable(f).arg(10)).unwrap().wait().unwrap(),
        Value::Int(1024)
    );
}

#[test]
fn errors_keep_type_message_and_traceback() {
    let p = pool(1);
    let e = p
        .submit(Call::new("__main__", "boom").arg("bad input"))
        .unwrap()
        .wait()
        .unwrap_err();
    let x = e.exception().expect("a Python exception");
    assert_eq!(
        (x.type_name().as_str(), x.message.as_str()),
        ("ValueError", "bad input")
    );
    assert!(
        x.traceback.contains("in boom") && x.traceback.contains("in inner"),
        "{}",
        x.traceback
    );
    assert_eq!(
        raised(&p, Call::new("no_such_module", "f")),
        "ModuleNotFoundError"
    );
    assert_eq!(
        raised(&p, Call::new("__main__", "no_such_function")),
        "AttributeError"
    );
    match p
        .submit(Call::new("__main__", "unshareable"))
        .unwrap()
        .wait()
    {
        Err(TaskError::Conversion(m)) => assert!(m.contains("'function'"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        p.submit(Call::new("__main__", "decimal_half"))
            .unwrap()
            .wait(),
        Ok(Value::Pickled(_))
    ));
    assert!(matches!(
        Call::parse("no-colon"),
        Err(PoolError::InvalidArgument(_))
    ));
    // The worker is fine after all that.
    assert_serves(&p, 1);
}

#[test]
fn a_hundred_thousand_tiny_tasks_nothing_lost_or_duplicated() {
    let p = pool(2);
    let call = Call::new("__main__", "ident");
    let tasks: Vec<_> = (0..100_000i64)
        .map(|i| p.submit(call.clone().arg(i)).unwrap())
        .collect();
    for (i, t) in tasks.iter().enumerate() {
        assert_eq!(t.wait().unwrap(), Value::Int(i as i64));
    }
    let stats = p.stats();
    let total: u64 = stats.workers.iter().map(|w| w.tasks).sum();
    assert_eq!(total, 100_000);
    assert!(
        stats.workers.iter().all(|w| w.tasks > 0),
        "both workers took work: {stats:?}"
    );
    assert_eq!(stats.queue_depth, 0);
}

#[test]
fn map_is_ordered_lazy_bounded_and_reports_progress() {
    let p = pool(2);
    let out: Vec<Value> = p
        .map(
            Call::new("__main__", "add").arg(100),
            (0..10_000).map(Value::from),
        )
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        out,
        (0..10_000).map(|i| Value::Int(100 + i)).collect::<Vec<_>>()
    );

    // Lazy: with 8-item chunks and 2 chunks in flight, taking the first
    // result pulls at most 3 chunks from an endless input.
    let pulled = Arc::new(AtomicUsize::new(0));
    let counter = pulled.clone();
    let endless = (0..).map(move |i: i64| {
        counter.fetch_add(1, Ordering::SeqCst);
        Value::Int(i)
    });
    let mut it = p
        .map(Call::new("__main__", "ident"), endless)
        .chunk_size(8)
        .max_in_flight(2);
    assert_eq!(it.next().unwrap().unwrap(), Value::Int(0));
    assert!(
        pulled.load(Ordering::SeqCst) <= 3 * 8,
        "pulled {} inputs",
        pulled.load(Ordering::SeqCst)
    );
    drop(it);

    // Progress after each chunk.
    let mut seen = Vec::new();
    let n = p
        .map(Call::new("__main__", "ident"), (0..20).map(Value::from))
        .chunk_size(5)
        .progress(|done| seen.push(done))
        .filter(Result::is_ok)
        .count();
    assert_eq!(n, 20);
    assert_eq!(seen, vec![5, 10, 15, 20]);
    // A failing input does not spoil the others in its chunk.
    let results: Vec<_> = p
        .map(
            Call::new("builtins", "divmod").arg(100),
            [5, 0, 10].map(Value::from),
        )
        .collect();
    assert_eq!(results[0], Ok(Value::tuple([20.into(), 0.into()])));
    assert_eq!(
        results[1]
            .as_ref()
            .unwrap_err()
            .exception()
            .unwrap()
            .type_name(),
        "ZeroDivisionError"
    );
    assert_eq!(results[2], Ok(Value::tuple([10.into(), 0.into()])));
}

#[test]
fn map_unordered_yields_every_index_once() {
    let p = pool(2);
    let mut got: Vec<(usize, i64)> = p
        .map_unordered(Call::new("__main__", "ident"), (0..1000).map(Value::from))
        .chunk_size(16)
        .map(|(i, r)| (i, r.unwrap().as_i64().unwrap()))
        .collect();
    got.sort_unstable();
    assert_eq!(got, (0..1000).map(|i| (i as usize, i)).collect::<Vec<_>>());
}

#[test]
fn wait_modes_and_as_completed() {
    let p = pool(2);
    let fast = submit_slow(&p, 1, 0.01);
    let slow = submit_slow(&p, 2, 2.0);
    let tasks = vec![slow.clone(), fast.clone()];
    let any = wait(&tasks, WaitMode::Any, None);
    assert_eq!(any.done, vec![1], "the fast one finishes first");
    let order: Vec<u64> = as_completed(&tasks).map(|t| t.id()).collect();
    assert_eq!(order.len(), 2);
    let all = wait(&tasks, WaitMode::All, Some(Duration::from_secs(30)));
    assert_eq!((all.done.len(), all.pending.len()), (2, 0));

    let bad = p.submit(Call::new("__main__", "boom").arg("x")).unwrap();
    let long = submit_slow(&p, 3, 5.0);
    let r = wait(
        &[long.clone(), bad],
        WaitMode::FirstException,
        Some(Duration::from_secs(30)),
    );
    assert_eq!(r.done, vec![1]);
    assert_eq!(r.pending, vec![0]);
    long.cancel();
    // time.sleep cannot be interrupted, but the task is resolved: cancelled
    // if still queued, or (after the sleep or the kill grace) not pending.
    let r = wait(
        std::slice::from_ref(&long),
        WaitMode::All,
        Some(Duration::from_secs(30)),
    );
    assert!(r.done.len() <= 1);
    assert_eq!(r.done, vec![0], "the cancelled task resolved");
    assert!(
        long.try_result().unwrap().is_err(),
        "a cancelled task has no value"
    );
}

struct Unpark(std::thread::Thread);
impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// A minimal executor: tasks are plain `std::future::Future`s.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

#[test]
fn tasks_are_futures() {
    let p = pool(2);
    let a = submit_slow(&p, 1, 0.05);
    let b = p.submit(Call::new("__main__", "ident").arg(2)).unwrap();
    let sum =
        block_on(async { a.await.unwrap().as_i64().unwrap() + b.await.unwrap().as_i64().unwrap() });
    assert_eq!(sum, 3);
}

#[test]
fn submit_after_shutdown_is_a_clear_error() {
    let p = pool(1);
    let report = p.shutdown(true, false);
    assert!(report.abandoned.is_empty());
    match p.submit(Call::new("__main__", "ident").arg(1)) {
        Err(PoolError::Shutdown) => {}
        other => panic!("{other:?}"),
    }
    assert!(PoolError::Shutdown.to_string().contains("shut down"));
}

#[test]
fn shutdown_runs_or_cancels_what_is_queued() {
    let p = pool(1);
    let blocker = submit_slow(&p, 0, 0.2);
    let queued: Vec<_> = (0..5)
        .map(|i| p.submit(Call::new("__main__", "ident").arg(i)).unwrap())
        .collect();
    p.shutdown(true, false);
    assert_eq!(blocker.wait().unwrap(), Value::Int(0));
    for (i, t) in queued.iter().enumerate() {
        assert_eq!(
            t.wait().unwrap(),
            Value::Int(i as i64),
            "queued tasks still run"
        );
    }
    // Cancelling interrupts the running task too (here when its sleep
    // returns), however long the shutdown timeout.
    let p = Pool::builder()
        .workers(1)
        .init_source(INIT)
        .shutdown_timeout(Duration::from_secs(60))
        .kill_grace(Duration::from_secs(60))
        .build()
        .unwrap();
    let blocker = submit_slow(&p, 0, 0.2);
    let queued: Vec<_> = (0..5)
        .map(|i| p.submit(Call::new("__main__", "ident").arg(i)).unwrap())
        .collect();
    wait_running(&blocker);
    let report = p.shutdown(true, true);
    assert!(report.abandoned.is_empty(), "{report:?}");
    assert_eq!(
        blocker.try_result(),
        Some(Err(TaskError::Cancelled)),
        "the running task is interrupted"
    );
    for t in &queued {
        assert_eq!(t.wait(), Err(TaskError::Cancelled));
    }
    assert_eq!(p.stats().cancelled_queued, 5);
}

#[test]
fn handles_and_iterators_have_debug_output() {
    let p = pool(2);
    let text = format!("{p:?}");
    assert!(
        text.contains("workers: 2") && text.contains("closed: false"),
        "{text}"
    );
    let m = p
        .map(Call::new("__main__", "ident"), (0..3).map(Value::from))
        .chunk_size(2);
    let text = format!("{m:?}");
    assert!(
        text.contains("__main__:ident") && text.contains("chunk_size: 2"),
        "{text}"
    );
    let u = p.map_unordered(Call::new("__main__", "ident"), std::iter::empty());
    assert!(format!("{u:?}").starts_with("MapUnordered(Map {"), "{u:?}");
    assert!(format!("{:?}", Pool::builder().workers(5)).contains("workers: 5"));
}

#[test]
fn cancel_if_queued_cancels_only_what_no_worker_started() {
    let p = pool(1);
    let gate = Channel::unbounded();
    let running = p
        .submit(Call::new("__main__", "wait_on").arg(gate.clone()))
        .unwrap();
    let queued = p.submit(Call::new("__main__", "ident").arg(1)).unwrap();
    wait_running(&running);
    assert!(!running.cancel_if_queued(), "a running task is left alone");
    assert!(queued.cancel_if_queued(), "a queued task is cancelled");
    assert_eq!(queued.wait(), Err(TaskError::Cancelled));
    assert!(!queued.cancel_if_queued(), "a task is cancelled once");
    gate.send(Value::Int(7)).unwrap();
    assert_eq!(
        running.wait_timeout(Duration::from_secs(60)),
        Some(Ok(Value::Int(7))),
        "the running task was not interrupted"
    );
    assert!(!running.cancel_if_queued(), "a finished task is left alone");
    assert_eq!(p.stats().cancelled_queued, 1);
    assert_serves(&p, 3);
}

#[test]
fn cancel_if_queued_racing_the_workers_never_interrupts_a_started_task() {
    // Each task either never ran (cancel_if_queued said true: Cancelled) or
    // ran to its end (false: its value). Checking that a task is not
    // running and then cancelling it could interrupt one a worker started
    // in between.
    let p = pool(2);
    let (mut ran, mut cancelled) = (0, 0);
    for round in 0..20 {
        let tasks: Vec<Task> = (0..200)
            .map(|i| p.submit(Call::new("__main__", "ident").arg(i)).unwrap())
            .collect();
        let claimed: Vec<bool> = tasks.iter().map(Task::cancel_if_queued).collect();
        for (i, (t, claimed)) in tasks.iter().zip(claimed).enumerate() {
            let r = t.wait_timeout(Duration::from_secs(60));
            if claimed {
                cancelled += 1;
                assert_eq!(
                    r,
                    Some(Err(TaskError::Cancelled)),
                    "round {round}, task {i}"
                );
            } else {
                ran += 1;
                assert_eq!(r, Some(Ok(Value::Int(i as i64))), "round {round}, task {i}");
            }
        }
    }
    eprintln!("{ran} tasks ran, {cancelled} were cancelled before they started");
    assert_eq!(p.stats().cancelled_queued, cancelled);
}
