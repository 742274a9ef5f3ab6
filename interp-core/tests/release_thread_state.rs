//! `Interpreter::release_thread_state` gives a thread's thread state back
//! before the thread exits.

use interp_core::{Interpreter, Value};

/// Whether this thread's thread state in `i` still carries the
/// `threading.local` attribute set by [`mark`] (a new thread state has a
/// new, empty local dict).
fn marked(i: &Interpreter) -> bool {
    i.eval("hasattr(LOCAL, 'x')").unwrap() == Value::Bool(true)
}

fn mark(i: &Interpreter) {
    i.exec("LOCAL.x = 1").unwrap();
}

#[test]
fn a_released_thread_state_is_replaced_by_a_new_one_on_the_next_entry() {
    let i = Interpreter::new().unwrap();
    i.exec("import threading\nLOCAL = threading.local()")
        .unwrap();
    std::thread::scope(|s| {
        s.spawn(|| {
            mark(&i);
            assert!(
                marked(&i),
                "the mark is per thread state and this one is kept between entries"
            );
            assert!(
                i.release_thread_state(),
                "nothing is entered here, the release must happen"
            );
            assert!(
                !marked(&i),
                "entering after a release must make a new thread state"
            );
            assert!(i.release_thread_state(), "the new one goes the same way");
            assert!(
                i.release_thread_state(),
                "with nothing to give back, a release is a no-op"
            );
        });
    });
    i.close();
}

#[test]
fn release_refuses_while_an_interpreter_is_entered_on_this_thread() {
    let i = Interpreter::new().unwrap();
    i.exec("import threading\nLOCAL = threading.local()")
        .unwrap();
    let j = Interpreter::new().unwrap();
    std::thread::scope(|s| {
        s.spawn(|| {
            mark(&i);
            let refused = j.enter(|_| !i.release_thread_state());
            assert!(
                refused,
                "a release with another interpreter entered must be refused"
            );
            assert!(marked(&i), "a refused release must keep the thread state");
        });
    });
    j.close();
    i.close();
}
