//! Hostile or unlucky input that must give errors, not crashes or hangs:
//! a shadowed `interp` module, frozen trees nested through `freeze`, huge
//! allocations, shared sub-structure (DAGs), Python's key semantics.

use std::time::{Duration, Instant};

use interp_core::{Channel, Error, Interpreter, Shared, SharedBuffer, Value};

#[test]
fn a_non_module_under_the_modules_name_is_named_in_the_error() {
    let i = Interpreter::new().unwrap();
    i.exec("import sys\nsys.modules['interp'] = 42").unwrap();
    match i.prepare_main([("ch", Channel::unbounded().into())]) {
        Err(Error::Runtime(m)) => assert!(
            m.contains("sys.modules['interp'] is not interp's own module"),
            "{m}"
        ),
        other => panic!("expected the runtime error naming sys.modules['interp'], got {other:?}"),
    }
    // No exception is left pending: the interpreter goes on as before.
    assert_eq!(
        i.eval("sys.exc_info()[0] is None and 1 + 1").unwrap(),
        Value::Int(2)
    );
}

#[test]
fn a_shadowed_interp_module_is_an_error_not_a_crash() {
    let i = Interpreter::new().unwrap();
    let buf = SharedBuffer::zeroed(8);
    i.exec("import interp, sys, types\nc = interp.Channel()\nreal = sys.modules['interp']\nsys.modules['interp'] = types.ModuleType('interp')").unwrap();
    // A method that needs the module state raises instead of crashing.
    let e = i.exec("c.try_recv()").unwrap_err();
    assert!(e.to_string().contains("not interp's own module"), "{e}");
    // So does handing a shared object into the interpreter.
    match i.prepare_main([("b", buf.clone().into())]) {
        Err(Error::Runtime(m)) => assert!(m.contains("shadows it"), "{m}"),
        other => panic!("{other:?}"),
    }
    // Objects made before are still recognized on the way out.
    assert!(matches!(i.eval("c").unwrap(), Value::Channel(_)));
    // A fresh import after removing the entry works again, and old objects
    // still cross.
    i.exec("del sys.modules['interp']\nimport interp\nd = interp.SharedBuffer(4)")
        .unwrap();
    assert!(matches!(
        i.eval("(c, d)").unwrap().as_seq().unwrap()[1],
        Value::Buffer(_)
    ));
    i.prepare_main([("b", buf.into())]).unwrap();
}

#[test]
fn nesting_through_freeze_is_bounded() {
    let i = Interpreter::new().unwrap();
    i.exec("import interp\ndef nest():\n    f = interp.freeze(())\n    for _ in range(40):\n        t = f\n        for _ in range(150):\n            t = (t,)\n        f = interp.freeze(t)\n    return f\n").unwrap();
    let e = i.call("__main__", "nest", &[], &[]).unwrap_err();
    assert!(e.to_string().contains("nested deeper than"), "{e}");
}

#[test]
fn huge_allocations_are_errors() {
    let i = Interpreter::new().unwrap();
    i.exec("import interp").unwrap();
    for (src, ty) in [
        // 4 EiB: a size the allocator refuses, as bytearray(2**62) does.
        ("interp.SharedBuffer(2**62)", "MemoryError"),
        // More than isize::MAX bytes: no allocation can be that big.
        ("interp.SharedBuffer(2**63)", "ValueError"),
        ("interp.Channel(2**50)", "ValueError"),
    ] {
        let e = i.exec(src).unwrap_err();
        assert_eq!(e.exception().unwrap().type_name(), ty, "{src}: {e}");
    }
    match SharedBuffer::try_zeroed(1 << 62) {
        Err(Error::OutOfMemory(m)) => assert!(m.contains("(4611686018427387904 bytes)"), "{m}"),
        other => panic!("expected an out-of-memory error, got {other:?}"),
    }
    assert!(matches!(
        SharedBuffer::try_zeroed(usize::MAX / 2),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn shared_structure_converts_once_and_stays_shared() {
    let i = Interpreter::new().unwrap();
    let ch = Channel::unbounded();
    i.prepare_main([("ch", ch.clone().into())]).unwrap();
    let start = Instant::now();
    // 2**60 paths through 61 distinct lists: linear work, not exponential.
    i.exec("l = []\nfor _ in range(60):\n    l = [l, l]\nch.send(l)")
        .unwrap();
    let v = ch.recv().unwrap();
    assert_eq!(v.depth(), 61);
    i.prepare_main([("back", v.clone())]).unwrap();
    assert_eq!(
        i.eval("back[0] is back[1] and back[0][1] is back[1][0]")
            .unwrap(),
        Value::Bool(true)
    );
    assert_eq!(v, v.clone());
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "took {:?}",
        start.elapsed()
    );
}

#[test]
fn the_same_items_as_different_containers_keep_their_types() {
    // One Shared slice behind a list, a tuple, a set and a frozenset: four
    // different objects (the memo of one conversion is keyed by kind too);
    // the same kind twice is still one object.
    let items: Shared<[Value]> = vec![Value::Int(1), Value::Int(2)].into();
    let v = Value::tuple([
        Value::List(items.clone()),
        Value::Tuple(items.clone()),
        Value::Set(items.clone()),
        Value::FrozenSet(items.clone()),
        Value::List(items),
    ]);
    let i = Interpreter::new().unwrap();
    i.prepare_main([("v", v)]).unwrap();
    let got = i
        .eval("([type(x).__name__ for x in v], v[0] is v[4], v[0] is v[1])")
        .unwrap();
    let want = Value::tuple([
        Value::list(["list", "tuple", "set", "frozenset", "list"].map(Value::from)),
        Value::Bool(true),
        Value::Bool(false),
    ]);
    assert_eq!(got, want);
}

#[test]
fn frozen_keys_and_numbers_follow_python() {
    let i = Interpreter::new().unwrap();
    i.exec("import interp").unwrap();
    for c in [
        "interp.freeze({(1.0,): 'a'})[(1,)] == 'a'",
        "interp.freeze({(True, 2.0): 'b'}).get((1, 2)) == 'b'",
        "interp.freeze((2.0**53,)) != (2**53 + 1,)",
        "interp.freeze((2.0**53,)) == (2**53,)",
        "interp.freeze((1,)) == (1.0,) and interp.freeze((1.5,)) != (1,)",
    ] {
        assert_eq!(i.eval(c).unwrap(), Value::Bool(true), "{c}");
    }
}
