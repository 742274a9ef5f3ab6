//! Frozen data: equality with its source, order, access, hashing, and
//! refusal of mutation.

use interp_core::{Error, Frozen, Interpreter, Shared, Value};

fn grid(n: usize) -> Value {
    Value::list((0..n).map(|r| Value::tuple((0..n).map(|c| Value::Bool((r * 7 + c * 3) % 5 == 0)))))
}

#[test]
fn a_frozen_grid_arrives_as_real_tuples_built_once_per_interpreter() {
    let f = Frozen::from_value(&grid(130)).unwrap();
    assert_eq!(f.len(), Some(130));
    let i = Interpreter::new().unwrap();
    i.prepare_main([("f", f.clone().into())]).unwrap();
    i.exec("src = [tuple((r * 7 + c * 3) % 5 == 0 for c in range(130)) for r in range(130)]")
        .unwrap();
    let checks = [
        // Real tuples all the way down: indexing runs at native speed.
        "type(f) is tuple and all(type(row) is tuple for row in f)",
        "f == tuple(src)",
        "len(f) == 130 and len(f[0]) == 130",
        "f[3][5] == src[3][5] and f[-1][-1] == src[-1][-1]",
        "[list(row) for row in f] == [list(row) for row in src]",
        "sum(map(sum, f)) == sum(map(sum, src))",
        "f[1:4] == tuple(src[1:4]) and f[::-50] == tuple(src[::-50])",
        "src[2] in f and (9,) not in f",
        "hash(f) == hash(tuple(src))",
        "f[0] is f[0]",
        "f != tuple(src[:-1])",
    ];
    for c in checks {
        assert_eq!(i.eval(c).unwrap(), Value::Bool(true), "{c}");
    }
    // Handed over again, the tree arrives as the tuple made the first time.
    let id1 = i.call("builtins", "id", &[f.clone().into()], &[]).unwrap();
    let id2 = i.call("builtins", "id", &[f.clone().into()], &[]).unwrap();
    assert_eq!(
        id1, id2,
        "a frozen tree passed in successive calls reuses its tuples"
    );
    assert_eq!(i.eval("id(f)").unwrap(), id1);
    // Back in Rust it is a plain tuple (equal to the frozen data); the same
    // tuple returned again converts to the same shared data, no copy.
    let (Value::Tuple(a), Value::Tuple(b)) = (i.eval("f").unwrap(), i.eval("f").unwrap()) else {
        panic!("a frozen tuple comes back as a tuple")
    };
    assert!(Shared::ptr_eq(&a, &b), "the second return is a cache hit");
    assert_eq!(Value::Tuple(a), f.to_value());
    assert_eq!(
        f.to_value(),
        Value::tuple(grid(130).as_seq().unwrap().iter().cloned())
    );
    // interp.freeze() in Python gives the proxy: the handle that passes the
    // tree by reference; its rows are real tuples.
    i.exec("import interp\ng = interp.freeze(src)").unwrap();
    assert_eq!(
        i.eval("type(g) is interp.Frozen and type(g[0]) is tuple and g.thaw() == tuple(src) and g == src")
            .unwrap(),
        Value::Bool(true)
    );
}

#[test]
fn frozen_dicts_keep_order_and_python_key_semantics() {
    let i = Interpreter::new().unwrap();
    i.exec("import interp\nsrc = {'z': 1, 'a': [1, 2, {'x': None}], 3: b'b', (1, 2): 2.5}\nf = interp.freeze(src)").unwrap();
    let checks = [
        "list(f) == list(src)",
        "list(f.keys()) == list(src.keys())",
        "f.values()[0] == 1 and f.values()[1] == (1, 2, {'x': None})",
        "f.items()[2] == (3, b'b')",
        "f == src and src == f",
        "f['a'][2]['x'] is None",
        "f[3.0] == b'b' and f.get(3) == b'b' and f.get('nope', 7) == 7 and f.get('nope') is None",
        "f[(1, 2)] == 2.5",
        "'z' in f and 'q' not in f and [1] not in f",
        "len(f) == 4",
        "hash(interp.freeze({'a': 1, 'b': 2})) == hash(interp.freeze({'b': 2, 'a': 1}))",
        "interp.freeze({'a': 1, 'b': 2}) == interp.freeze({'b': 2, 'a': 1})",
        "repr(interp.freeze([1, 'x'])) == \"interp.Frozen((1, 'x'))\"",
        "interp.freeze(5) == 5 and type(interp.freeze('s')) is str",
    ];
    for c in checks {
        assert_eq!(i.eval(c).unwrap(), Value::Bool(true), "{c}");
    }
    let e = i.exec("f['missing']").unwrap_err();
    assert_eq!(e.exception().unwrap().type_name(), "KeyError");
    // The same frozen dict in another interpreter.
    let f = i.eval("f").unwrap();
    let j = Interpreter::new().unwrap();
    j.prepare_main([("g", f)]).unwrap();
    assert_eq!(
        j.eval("list(g) == ['z', 'a', 3, (1, 2)] and g['a'][1] == 2")
            .unwrap(),
        Value::Bool(true)
    );
}

#[test]
fn any_attempt_to_mutate_is_a_clear_error() {
    let i = Interpreter::new().unwrap();
    i.exec("import interp\nf = interp.freeze([1, [2]])\nd = interp.freeze({'k': 1})")
        .unwrap();
    for (src, ty, needle) in [
        ("f[0] = 5", "TypeError", "read-only"),
        ("del f[0]", "TypeError", "read-only"),
        ("d['k'] = 2", "TypeError", "read-only"),
        ("d['new'] = 2", "TypeError", "read-only"),
        ("f.append(3)", "AttributeError", "append"),
        ("f[1].append(3)", "AttributeError", "append"),
        ("d.update(x=1)", "AttributeError", "update"),
        ("f.x = 1", "AttributeError", "x"),
        ("f.keys()", "TypeError", "needs a frozen dict"),
        ("f['a']", "TypeError", "indices must be integers"),
        ("f[9]", "IndexError", "out of range"),
    ] {
        let e = i.exec(src).unwrap_err();
        let e = e.exception().unwrap();
        assert_eq!(e.type_name(), ty, "{src}: {e}");
        assert!(e.message.contains(needle), "{src}: {}", e.message);
    }
    assert_eq!(
        i.eval("f.thaw()").unwrap(),
        Value::tuple([1.into(), Value::tuple([2.into()])])
    );
}

#[test]
fn only_plain_data_freezes() {
    match Frozen::from_value(&Value::Set(vec![1.into()].into())) {
        Err(Error::Conversion(m)) => assert!(m.contains("cannot freeze a 'set'"), "{m}"),
        other => panic!("{other:?}"),
    }
    let i = Interpreter::new().unwrap();
    i.exec("import interp").unwrap();
    for src in [
        "interp.freeze({1, 2})",
        "interp.freeze([1j])",
        "interp.freeze(object())",
    ] {
        let e = i.exec(src).unwrap_err();
        assert_eq!(
            e.exception().unwrap().type_name(),
            "TypeError",
            "{src}: {e}"
        );
        assert!(
            e.exception().unwrap().message.contains("cannot freeze"),
            "{src}: {e}"
        );
    }
}
