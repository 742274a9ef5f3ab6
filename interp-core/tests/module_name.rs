//! The interp module registered under another name (as the `interp` pip
//! package does, keeping it as `interp._core`): shared objects still
//! convert in both directions, `import interp` is not taken over, and the
//! name cannot change once chosen.

use interp_core::{python_module, set_module_name, Interpreter, SharedBuffer, Value};

/// The name every test of this binary gives the module before anything else:
/// the first use of the runtime fixes it, and the tests run in parallel.
const NAME: &str = "interp_test_pkg._core";

#[test]
fn the_module_lives_under_the_chosen_name() {
    set_module_name(NAME).unwrap();
    assert!(
        set_module_name(NAME).is_ok(),
        "setting the same name again is fine"
    );
    let err = set_module_name("other").unwrap_err();
    assert!(err.to_string().contains(NAME), "{err}");

    let i = Interpreter::new().unwrap();
    let buf = SharedBuffer::from_slice(&[1u8, 2, 3]);
    i.prepare_main([("buf", buf.clone().into())]).unwrap();
    // The object arrived as the module's type, found under the new name...
    assert_eq!(
        i.eval("type(buf).__module__, type(buf).__name__, bytes(memoryview(buf))")
            .unwrap(),
        Value::tuple([
            Value::str("interp"),
            Value::str("SharedBuffer"),
            Value::bytes(&[1, 2, 3])
        ])
    );
    assert_eq!(
        i.eval("'interp_test_pkg._core' in __import__('sys').modules")
            .unwrap(),
        Value::Bool(true)
    );
    // ... and `interp` is left to whatever sys.path has (nothing here).
    assert_eq!(
        i.eval("'interp' in __import__('sys').modules").unwrap(),
        Value::Bool(false)
    );
    // Objects made from the module convert back by reference.
    let back = i
        .enter(|py| {
            let m = python_module(py)?;
            m.getattr("SharedBuffer")?
                .call(&[py.value(&Value::Int(4))?], &[])?
                .to_value()
        })
        .unwrap();
    assert!(
        matches!(back, Value::Buffer(ref b) if b.len() == 4),
        "{back:?}"
    );
    // Round trip of a buffer made in Rust: the same memory.
    let same = i.enter(|py| py.eval("buf")?.to_value()).unwrap();
    assert!(
        matches!(same, Value::Buffer(ref b) if b.same_memory(&buf)),
        "{same:?}"
    );
}

#[test]
fn with_attached_gives_a_token_for_the_attached_interpreter() {
    set_module_name(NAME).unwrap();
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
