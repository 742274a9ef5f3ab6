//! The `interp` module: importable everywhere, per-interpreter state, and
//! the pickle fallback switch.

use interp_core::{Channel, Error, Interpreter, Runtime, Value};

#[test]
fn importable_in_every_interpreter_with_its_own_state() {
    let rt = Runtime::init().unwrap();
    let a = Interpreter::new().unwrap();
    let b = Interpreter::new().unwrap();
    assert_eq!(
        a.eval("__import__('interp').interpreter_id()").unwrap(),
        Value::Int(a.id())
    );
    assert_eq!(
        b.eval("__import__('interp').interpreter_id()").unwrap(),
        Value::Int(b.id())
    );
    assert_eq!(
        rt.main()
            .eval("__import__('interp').interpreter_id()")
            .unwrap(),
        Value::Int(0)
    );
    // Each interpreter has its own module object and types.
    a.exec("import interp; interp.set_pickle_fallback(False)")
        .unwrap();
    assert_eq!(
        a.eval("interp.pickle_fallback()").unwrap(),
        Value::Bool(false)
    );
    assert_eq!(
        b.eval("__import__('interp').pickle_fallback()").unwrap(),
        Value::Bool(true)
    );
    assert_eq!(
        a.eval("[t.__module__ + '.' + t.__name__ for t in (interp.SharedBuffer, interp.Channel, interp.Frozen)]").unwrap(),
        Value::list(["interp.SharedBuffer", "interp.Channel", "interp.Frozen"].map(Value::from))
    );
    // Types are immutable heap types.
    let e = a.exec("interp.Channel.x = 1").unwrap_err();
    assert_eq!(e.exception().unwrap().type_name(), "TypeError");
}

#[test]
fn without_pickling_an_unshareable_object_is_a_type_error_naming_its_type() {
    let i = Interpreter::new().unwrap();
    let ch = Channel::unbounded();
    i.prepare_main([("ch", ch.clone().into())]).unwrap();
    i.exec("import interp, decimal\nclass Point:\n    pass\n")
        .unwrap();
    // With the fallback (default), it travels pickled.
    i.exec("ch.send(decimal.Decimal('1.5'))").unwrap();
    assert!(matches!(ch.recv().unwrap(), Value::Pickled(_)));
    i.exec("interp.set_pickle_fallback(False)").unwrap();
    let e = i.exec("ch.send(Point())").unwrap_err();
    let e = e.exception().unwrap();
    assert_eq!(e.type_name(), "TypeError");
    assert!(
        e.message.contains("'Point' object") && e.message.contains("pickle fallback is off"),
        "{}",
        e.message
    );
    // Nested inside a container too.
    let e = i.exec("ch.send([1, {'p': Point()}])").unwrap_err();
    assert!(e.exception().unwrap().message.contains("'Point' object"));
    // The Rust side gets a conversion error for results.
    match i.eval("Point()") {
        Err(Error::Conversion(m)) => assert!(m.contains("'Point' object"), "{m}"),
        other => panic!("{other:?}"),
    }
    // Native types still pass.
    i.exec("ch.send((1, 'two', b'3', None))").unwrap();
    assert_eq!(
        ch.recv().unwrap(),
        Value::tuple([1.into(), "two".into(), Value::bytes(b"3"), Value::None])
    );
}

#[test]
fn shared_values_in_calls_results_and_prepare_main() {
    use interp_core::{Frozen, SharedBuffer};
    let i = Interpreter::new().unwrap();
    i.exec("def pack(buf, ch, fz):\n    return {'buf': buf, 'ch': ch, 'fz': fz, 'n': fz['n']}")
        .unwrap();
    let buf = SharedBuffer::zeroed(8);
    let ch = Channel::bounded(2);
    let fz = Frozen::from_value(&Value::dict([("n".into(), 3.into())])).unwrap();
    let r = i
        .call(
            "__main__",
            "pack",
            &[buf.clone().into(), ch.clone().into(), fz.clone().into()],
            &[],
        )
        .unwrap();
    assert_eq!(r.get(&"buf".into()), Some(&Value::Buffer(buf)));
    assert_eq!(r.get(&"ch".into()), Some(&Value::Channel(ch)));
    assert_eq!(r.get(&"fz".into()), Some(&Value::Frozen(fz)));
    assert_eq!(r.get(&"n".into()), Some(&Value::Int(3)));
}
