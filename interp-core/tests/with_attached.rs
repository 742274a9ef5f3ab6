//! `Python::with_attached`: the token an extension module's function gets
//! for the interpreter CPython called it in. Its own test binary: the module
//! name test must choose the module's name before any interpreter exists.

use interp_core::{Interpreter, Value};

#[test]
fn with_attached_gives_a_token_for_the_attached_interpreter() {
    let i = Interpreter::new().unwrap();
    let id = i.id();
    let (inner_id, two) = i.enter(|_py| {
        // What an extension module's function does: CPython called it with
        // this interpreter attached.
        // SAFETY: `enter` keeps this interpreter attached for the closure.
        unsafe {
            interp_core::Python::with_attached(|py| {
                (
                    py.interpreter_id(),
                    py.eval("1 + 1").unwrap().to_value().unwrap(),
                )
            })
        }
    });
    assert_eq!((inner_id, two), (id, Value::Int(2)));
}
