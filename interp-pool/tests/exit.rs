//! `hold_back_late_closes`, the process-wide exit state: a test binary of
//! its own, since once it is set no worker interpreter of this process is
//! closed any more.

use std::time::{Duration, Instant};

use interp_core::{Channel, Runtime, Value};
use interp_pool::{hold_back_late_closes, Call, Pool, TaskError};

const INIT: &str = r#"
import atexit, os
REGISTERED = False
def read_then_close_on(fd, returned, gate):
    # When this interpreter closes, it says so and waits for `gate` (once:
    # an attempt interrupted before its read is made again).
    global REGISTERED
    def at_close():
        returned.send("closing")
        gate.recv()
    if not REGISTERED:
        atexit.register(at_close)
        REGISTERED = True
    try:
        return os.read(fd, 1)  # a blocking C call: no interruption reaches it
    finally:
        try:
            returned.send("returned")
        except BaseException:  # the pending interp.Cancelled may land here
            returned.send("returned")
"#;

const LONG: Duration = Duration::from_secs(60);

#[test]
fn the_exit_waits_for_a_late_close_under_way_and_holds_back_the_later_ones() {
    let rt = Runtime::init().unwrap();
    let fds = rt.main().eval("__import__('os').pipe()").unwrap();
    let (read_fd, write_fd) = match fds.as_seq() {
        Some([Value::Int(r), Value::Int(w)]) => (*r, *w),
        other => panic!("os.pipe() gave {other:?}"),
    };
    let (returned, gate) = (Channel::unbounded(), Channel::unbounded());
    let p = Pool::builder()
        .workers(1)
        .init_source(INIT)
        .kill_grace(Duration::from_millis(100))
        .build()
        .unwrap();
    let read = Call::new("__main__", "read_then_close_on")
        .arg(read_fd)
        .arg(returned.clone())
        .arg(gate.clone())
        .timeout(Duration::from_millis(50));
    // A busy machine may interrupt the task before its read: then again.
    let lost = (0..50).any(|_| match p.submit(read.clone()).unwrap().wait() {
        Err(TaskError::WorkerLost(_)) => true,
        Err(TaskError::TimedOut) => false,
        other => panic!("expected WorkerLost, got {other:?}"),
    });
    assert!(lost, "the task was interrupted before its read 50 times");
    // The replacement worker serves (its interpreter exists).
    let abs = Call::new("builtins", "abs").arg(-3);
    assert_eq!(p.submit(abs).unwrap().wait(), Ok(Value::Int(3)));
    // The abandoned worker's read returns: it closes its interpreter, whose
    // exit handler waits for the gate.
    rt.main()
        .exec(&format!("import os\nos.write({write_fd}, b'x')"))
        .unwrap();
    for want in ["returned", "closing"] {
        assert_eq!(returned.recv_timeout(LONG), Ok(Value::str(want)));
    }
    assert_eq!(
        rt.live_interpreters(),
        2,
        "the replacement's and the closing one"
    );
    let soon = Instant::now() + Duration::from_millis(100);
    assert_eq!(hold_back_late_closes(Some(soon)), 1, "the close under way");
    gate.send(Value::None).unwrap();
    assert_eq!(
        hold_back_late_closes(Some(Instant::now() + LONG)),
        0,
        "waited for the close"
    );
    assert_eq!(rt.live_interpreters(), 1, "the replacement's");
    // From now on, nothing is closed: the replacement worker stops, retires
    // and leaves its interpreter as it is (for the runtime's finalization),
    // so the shutdown neither waits for it nor closes it.
    let report = p.shutdown(true, false);
    assert!(
        matches!(&report.abandoned[..], [w] if w.contains("left to the runtime's finalization")),
        "{report:?}"
    );
    assert_eq!(rt.live_interpreters(), 1, "held back");
}
