//! Channels between Rust threads and interpreters: delivery, close,
//! timeouts, cancellation, GIL release while blocked.

use std::time::{Duration, Instant};

use interp_core::{
    CancelToken, Channel, Interpreter, RecvError, RecvTimeoutError, SendError, SendTimeoutError,
    TryRecvError, TrySendError, Value,
};

#[test]
fn ping_pong_between_two_interpreters() {
    let ping = Channel::bounded(1);
    let pong = Channel::bounded(1);
    let a = Interpreter::new().unwrap();
    let b = Interpreter::new().unwrap();
    for i in [&a, &b] {
        i.prepare_main([("ping", ping.clone().into()), ("pong", pong.clone().into())])
            .unwrap();
    }
    a.exec("def run(n):\n    for i in range(n):\n        ping.send(i)\n        assert pong.recv() == i * 2\n    ping.close()\n    return n").unwrap();
    b.exec("def echo():\n    n = 0\n    for x in ping:\n        pong.send(x * 2)\n        n += 1\n    return n").unwrap();
    let n = 20_000;
    let (ra, rb) = std::thread::scope(|s| {
        let tb = s.spawn(|| b.call("__main__", "echo", &[], &[]).unwrap());
        let ta = s.spawn(|| a.call("__main__", "run", &[n.into()], &[]).unwrap());
        (ta.join().unwrap(), tb.join().unwrap())
    });
    assert_eq!((ra, rb), (Value::Int(n), Value::Int(n)));
}

#[test]
fn a_million_messages_four_producers_four_consumers() {
    const N: i64 = 1_000_000;
    const PER: i64 = N / 4;
    let ch = Channel::bounded(1024);
    let producers: Vec<Interpreter> = (0..2).map(|_| Interpreter::new().unwrap()).collect();
    let consumers: Vec<Interpreter> = (0..2).map(|_| Interpreter::new().unwrap()).collect();
    for i in producers.iter().chain(&consumers) {
        i.prepare_main([("ch", ch.clone().into())]).unwrap();
    }
    for p in &producers {
        p.exec("def produce(lo, hi):\n    send = ch.send\n    for i in range(lo, hi):\n        send(i)\n").unwrap();
    }
    for c in &consumers {
        c.exec("def consume():\n    return list(ch)\n").unwrap();
    }
    let mut received: Vec<i64> = std::thread::scope(|s| {
        let mut consumer_threads = Vec::new();
        for c in &consumers {
            consumer_threads.push(s.spawn(move || {
                match c.call("__main__", "consume", &[], &[]).unwrap() {
                    Value::List(items) => items
                        .iter()
                        .map(|v| v.as_i64().unwrap())
                        .collect::<Vec<_>>(),
                    other => panic!("{other:?}"),
                }
            }));
        }
        for _ in 0..2 {
            let ch = ch.clone();
            consumer_threads
                .push(s.spawn(move || ch.iter().map(|v| v.as_i64().unwrap()).collect()));
        }
        let mut producer_threads = Vec::new();
        for (k, p) in producers.iter().enumerate() {
            let lo = k as i64 * PER;
            producer_threads.push(s.spawn(move || {
                p.call("__main__", "produce", &[lo.into(), (lo + PER).into()], &[])
                    .unwrap();
            }));
        }
        for k in 2..4 {
            let ch = ch.clone();
            producer_threads.push(s.spawn(move || {
                for i in k * PER..(k + 1) * PER {
                    ch.send(Value::Int(i)).unwrap();
                }
            }));
        }
        for t in producer_threads {
            t.join().unwrap();
        }
        ch.close();
        // How the messages spread over the consumers is the scheduler's
        // business (on a busy machine one consumer may get none): what the
        // channel promises is that every message reaches exactly one.
        consumer_threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect()
    });
    assert_eq!(received.len() as i64, N, "lost or duplicated messages");
    received.sort_unstable();
    assert!(
        received.iter().copied().eq(0..N),
        "every message exactly once"
    );
}

#[test]
fn close_wakes_waiters_and_keeps_what_was_sent() {
    let ch = Channel::unbounded();
    for i in 0..3 {
        ch.send(i.into()).unwrap();
    }
    ch.close();
    assert!(matches!(
        ch.send(9.into()),
        Err(SendError::Closed(Value::Int(9)))
    ));
    assert_eq!(
        ch.iter().collect::<Vec<_>>(),
        vec![0.into(), 1.into(), 2.into()]
    );
    assert_eq!(ch.recv(), Err(RecvError::Closed));
    assert_eq!(ch.try_recv(), Err(TryRecvError::Closed));

    // A blocked receiver and a blocked sender are woken by close.
    let empty = Channel::unbounded();
    let full = Channel::bounded(1);
    full.send(0.into()).unwrap();
    std::thread::scope(|s| {
        let r = s.spawn(|| empty.recv());
        let w = s.spawn(|| full.send(1.into()));
        std::thread::sleep(Duration::from_millis(50));
        empty.close();
        full.close();
        assert_eq!(r.join().unwrap(), Err(RecvError::Closed));
        assert!(matches!(w.join().unwrap(), Err(SendError::Closed(_))));
    });
    // The value sent before the close is still there.
    assert_eq!(full.recv(), Ok(Value::Int(0)));

    // In Python: ChannelClosed, and iteration ends at the close.
    let i = Interpreter::new().unwrap();
    let c = Channel::unbounded();
    c.send("x".into()).unwrap();
    c.close();
    i.prepare_main([("c", c.into())]).unwrap();
    assert_eq!(i.eval("list(c)").unwrap(), Value::list(["x".into()]));
    let e = i.exec("c.recv()").unwrap_err();
    assert_eq!(e.exception().unwrap().type_name(), "interp.ChannelClosed");
    let e = i.exec("c.send(1)").unwrap_err();
    assert_eq!(e.exception().unwrap().type_name(), "interp.ChannelClosed");
    assert_eq!(i.eval("c.closed").unwrap(), Value::Bool(true));
}

#[test]
fn timeouts_and_empty() {
    let ch = Channel::bounded(1);
    let t = Instant::now();
    assert_eq!(
        ch.recv_timeout(Duration::from_millis(30)),
        Err(RecvTimeoutError::Timeout)
    );
    assert!(t.elapsed() >= Duration::from_millis(30));
    assert_eq!(ch.try_recv(), Err(TryRecvError::Empty));
    ch.send(1.into()).unwrap();
    assert!(matches!(
        ch.try_send(2.into()),
        Err(TrySendError::Full(Value::Int(2)))
    ));
    assert!(matches!(
        ch.send_timeout(2.into(), Duration::from_millis(10)),
        Err(SendTimeoutError::Timeout(_))
    ));
    let i = Interpreter::new().unwrap();
    i.prepare_main([
        ("full", ch.clone().into()),
        ("empty", Channel::unbounded().into()),
    ])
    .unwrap();
    for (src, ty) in [
        ("empty.recv(timeout=0.02)", "TimeoutError"),
        ("full.send(5, timeout=0.02)", "TimeoutError"),
        ("empty.try_recv()", "interp.ChannelEmpty"),
        ("empty.recv(timeout=-1)", "ValueError"),
        ("empty.recv(timeout='soon')", "TypeError"),
    ] {
        let e = i.exec(src).unwrap_err();
        assert_eq!(e.exception().unwrap().type_name(), ty, "{src}: {e}");
    }
    assert_eq!(
        i.eval("(len(full), full.capacity, empty.capacity)")
            .unwrap(),
        Value::tuple([1.into(), 1.into(), Value::None])
    );
}

#[test]
fn cancellation_wakes_a_blocked_receive() {
    let ch = Channel::unbounded();
    let token = CancelToken::new();
    let i = Interpreter::new().unwrap();
    i.prepare_main([("ch", ch.clone().into())]).unwrap();
    i.exec("import interp\ndef wait():\n    try:\n        ch.recv()\n    except interp.Cancelled:\n        return 'cancelled'\n").unwrap();
    std::thread::scope(|s| {
        let rust = s.spawn(|| token.scope(|| ch.recv()));
        let py = s.spawn(|| token.scope(|| i.call("__main__", "wait", &[], &[]).unwrap()));
        std::thread::sleep(Duration::from_millis(50));
        token.cancel();
        assert_eq!(rust.join().unwrap(), Err(RecvError::Cancelled));
        assert_eq!(py.join().unwrap(), Value::str("cancelled"));
    });
    // Outside the token's scope the channel works as before.
    ch.send(1.into()).unwrap();
    assert_eq!(ch.recv(), Ok(Value::Int(1)));
}

#[test]
fn cancellation_wakes_a_blocked_send_and_gives_the_value_back() {
    // A rendezvous channel nobody receives from: every send blocks until
    // the token is cancelled (before or after the send starts waiting).
    let ch = Channel::bounded(0);
    let token = CancelToken::new();
    std::thread::scope(|s| {
        let send = s.spawn(|| token.scope(|| ch.send(1.into())));
        let send_timeout =
            s.spawn(|| token.scope(|| ch.send_timeout(2.into(), Duration::from_secs(600))));
        token.cancel();
        assert_eq!(
            send.join().unwrap(),
            Err(SendError::Cancelled(Value::Int(1)))
        );
        assert_eq!(
            send_timeout.join().unwrap(),
            Err(SendTimeoutError::Cancelled(Value::Int(2)))
        );
    });
    assert_eq!(
        ch.try_send(3.into()).map_err(TrySendError::into_inner),
        Err(Value::Int(3))
    );
}

#[test]
fn a_blocked_python_receive_releases_its_interpreter() {
    let ch = Channel::unbounded();
    let i = Interpreter::new().unwrap();
    i.prepare_main([("ch", ch.clone().into())]).unwrap();
    std::thread::scope(|s| {
        let waiter = s.spawn(|| i.eval("ch.recv()").unwrap());
        std::thread::sleep(Duration::from_millis(30));
        // Another thread runs Python in the same interpreter meanwhile.
        assert_eq!(i.eval("sum(range(1000))").unwrap(), Value::Int(499500));
        ch.send("done".into()).unwrap();
        assert_eq!(waiter.join().unwrap(), Value::str("done"));
    });
}

#[test]
fn channels_travel_both_ways() {
    let i = Interpreter::new().unwrap();
    let made = i.eval("__import__('interp').Channel(5)").unwrap();
    let Value::Channel(ch) = made.clone() else {
        panic!("{made:?}")
    };
    assert_eq!(ch.capacity(), Some(5));
    i.prepare_main([("same", made)]).unwrap();
    ch.send(Value::dict([("k".into(), Value::list([1.into()]))]))
        .unwrap();
    assert_eq!(
        i.eval("same.recv()").unwrap(),
        Value::dict([("k".into(), Value::list([1.into()]))])
    );
    // A channel sent through a channel.
    let inner = Channel::unbounded();
    ch.send(inner.clone().into()).unwrap();
    i.exec("c2 = same.recv()\nc2.send('via inner')").unwrap();
    assert_eq!(inner.recv(), Ok(Value::str("via inner")));
    assert_eq!(i.eval("c2 == same").unwrap(), Value::Bool(false));
}
