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

fn with_local() -> Interpreter {
    let i = Interpreter::new().unwrap();
    i.exec("import threading\nLOCAL = threading.local()")
        .unwrap();
    i
}

#[test]
fn a_released_thread_state_is_deleted_and_replaced_on_the_next_entry() {
    let i = with_local();
    let before = i.thread_states();
    std::thread::scope(|s| {
        s.spawn(|| {
            mark(&i);
            assert_eq!(
                i.thread_states(),
                before + 1,
                "this thread's is made on entry"
            );
            assert!(
                marked(&i),
                "the mark is per thread state and this one is kept between entries"
            );
            assert!(
                i.release_thread_state(),
                "nothing is entered here, the release must happen"
            );
            assert_eq!(
                i.thread_states(),
                before,
                "the released thread state must be deleted"
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
            assert_eq!(i.thread_states(), before);
        });
    });
    i.close();
}

#[test]
fn release_refuses_while_an_interpreter_is_entered_on_this_thread() {
    let i = with_local();
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

#[test]
fn release_refuses_while_detached_inside_an_enter_of_the_same_interpreter() {
    // Detached, nothing is attached, but `enter` attaches this thread state
    // again when the closure returns: deleting it would free it under it.
    let i = with_local();
    std::thread::scope(|s| {
        s.spawn(|| {
            let refused = i.enter(|py| {
                py.exec("LOCAL.x = 1").unwrap();
                py.detach(|| !i.release_thread_state())
            });
            assert!(
                refused,
                "a release while detached inside enter must be refused"
            );
            assert!(marked(&i), "a refused release must keep the thread state");
        });
    });
    i.close();
}
