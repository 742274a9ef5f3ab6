//! SharedBuffer: zero copy, visibility across interpreters, lifetime, layout
//! and bad input.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use interp_core::{Error, Interpreter, SharedBuffer, Value, BUFFER_ALIGN};

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = s.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

const TOUCH: &str = "def touch(buf, i, v):\n    mv = memoryview(buf)\n    old = mv[i]\n    mv[i] = v\n    return old, mv.nbytes\ndef read(buf, i):\n    return memoryview(buf)[i]\n";

#[test]
fn a_256_mib_buffer_crosses_200_calls_without_copies() {
    const SIZE: usize = 256 << 20;
    let buf = SharedBuffer::zeroed(SIZE);
    assert_eq!(buf.as_ptr() as usize % BUFFER_ALIGN, 0, "64-byte aligned");
    // Make every page resident first, so RSS only grows if something copies.
    // SAFETY: nothing else uses the buffer yet.
    unsafe { buf.as_mut_slice().fill(1) };
    let a = Interpreter::new().unwrap();
    let b = Interpreter::new().unwrap();
    a.exec(TOUCH).unwrap();
    b.exec(TOUCH).unwrap();
    let before = rss_kib();
    for i in 0..100usize {
        for (n, interp) in [&a, &b].into_iter().enumerate() {
            let at = (i * 2 + n) * 4096 * 64 % SIZE;
            let r = interp
                .call(
                    "__main__",
                    "touch",
                    &[Value::Buffer(buf.clone()), at.into(), 7.into()],
                    &[],
                )
                .unwrap();
            assert_eq!(r, Value::tuple([1.into(), (SIZE as u64).into()]));
        }
    }
    let growth = rss_kib().saturating_sub(before);
    eprintln!("RSS growth over 200 calls with a 256 MiB buffer: {growth} KiB");
    assert!(
        growth < 16 * 1024,
        "RSS grew {growth} KiB: the buffer was copied"
    );
    // A write in one interpreter is read in the other, and in Rust.
    a.call(
        "__main__",
        "touch",
        &[Value::Buffer(buf.clone()), 12345.into(), 77.into()],
        &[],
    )
    .unwrap();
    assert_eq!(
        b.call(
            "__main__",
            "read",
            &[Value::Buffer(buf.clone()), 12345.into()],
            &[]
        )
        .unwrap(),
        Value::Int(77)
    );
    let mut out = [0u8];
    buf.read_at(12345, &mut out);
    assert_eq!(out[0], 77);
}

#[test]
fn format_and_shape_make_a_2d_grid() {
    let data: Vec<f64> = (0..12).map(|i| i as f64).collect();
    let grid = SharedBuffer::from_slice(&data)
        .with_layout("d", &[3, 4])
        .unwrap();
    assert_eq!(
        (grid.format(), grid.shape(), grid.itemsize()),
        ("d", vec![3, 4], 8)
    );
    let i = Interpreter::new().unwrap();
    i.prepare_main([("grid", Value::Buffer(grid.clone()))])
        .unwrap();
    assert_eq!(
        i.eval("(memoryview(grid).shape, memoryview(grid).format, memoryview(grid)[2, 1])")
            .unwrap(),
        Value::tuple([Value::tuple([3.into(), 4.into()]), "d".into(), 9.0.into()])
    );
    assert_eq!(
        i.eval("(grid.shape, grid.format, grid.nbytes, grid.itemsize, grid.readonly)")
            .unwrap(),
        Value::tuple([
            Value::tuple([3.into(), 4.into()]),
            "d".into(),
            96.into(),
            8.into(),
            false.into()
        ])
    );
    i.exec("memoryview(grid)[1, 3] = -2.5").unwrap();
    let mut out = [0u8; 8];
    grid.read_at((4 + 3) * 8, &mut out);
    assert_eq!(f64::from_le_bytes(out), -2.5);
    // A Vec handed over without a copy.
    let v: Vec<i32> = vec![1, 2, 3, 4, 5, 6];
    let addr = v.as_ptr() as usize;
    let owned = SharedBuffer::from_vec(v).with_layout("i", &[2, 3]).unwrap();
    assert_eq!(
        owned.as_ptr() as usize,
        addr,
        "from_vec keeps the vector's allocation"
    );
    i.prepare_main([("owned", owned.into())]).unwrap();
    assert_eq!(i.eval("memoryview(owned)[1, 2]").unwrap(), Value::Int(6));
    // Another view of the same memory.
    let flat = grid.with_layout("B", &[96]).unwrap();
    assert!(flat.same_memory(&grid));
}

#[test]
fn buffers_made_in_python_travel_and_outlive_their_interpreter() {
    let a = Interpreter::new().unwrap();
    let buf = a
        .eval("__import__('interp').SharedBuffer((2, 3), 'i')")
        .unwrap();
    let Value::Buffer(handle) = buf.clone() else {
        panic!("expected a buffer, got {buf:?}")
    };
    assert_eq!(
        (handle.format(), handle.shape(), handle.len()),
        ("i", vec![2, 3], 24)
    );
    a.exec("import interp").unwrap();
    a.prepare_main([("b", buf.clone())]).unwrap();
    a.exec("memoryview(b)[1, 2] = 42").unwrap();
    a.close(); // the creating interpreter is gone
    let b = Interpreter::new().unwrap();
    b.prepare_main([("b", buf)]).unwrap();
    b.exec("keep = memoryview(b)").unwrap();
    drop(handle);
    assert_eq!(b.eval("keep[1, 2]").unwrap(), Value::Int(42));
}

#[test]
fn memory_is_released_once_after_the_last_view_dies() {
    let released = Arc::new(AtomicUsize::new(0));
    let mut storage = vec![0u8; 1024].into_boxed_slice();
    let ptr = storage.as_mut_ptr();
    let r = released.clone();
    let foreign = std::sync::Mutex::new(Some(storage));
    // SAFETY: `storage` stays alive until the release callback drops it.
    let buf = unsafe {
        SharedBuffer::from_raw_parts(ptr, 1024, move || {
            drop(foreign.lock().unwrap().take());
            r.fetch_add(1, Ordering::SeqCst);
        })
    };
    let a = Interpreter::new().unwrap();
    let b = Interpreter::new().unwrap();
    a.prepare_main([("buf", Value::Buffer(buf.clone()))])
        .unwrap();
    b.prepare_main([("buf", Value::Buffer(buf.clone()))])
        .unwrap();
    b.exec("view = memoryview(buf)[10:20]\ndel buf").unwrap();
    assert_eq!(
        buf.handle_count(),
        3,
        "Rust handle + one object per interpreter"
    );
    drop(buf);
    a.close();
    assert_eq!(
        released.load(Ordering::SeqCst),
        0,
        "b's memoryview still uses the memory"
    );
    b.exec("view[0] = 5\nassert view[0] == 5").unwrap();
    b.exec("del view").unwrap();
    assert_eq!(
        released.load(Ordering::SeqCst),
        1,
        "released as soon as the last view died"
    );
    b.close();
    assert_eq!(released.load(Ordering::SeqCst), 1, "released exactly once");
}

#[test]
fn read_only_buffers_refuse_writes() {
    let ro = SharedBuffer::from_bytes(b"abc").readonly();
    let i = Interpreter::new().unwrap();
    i.prepare_main([("ro", Value::Buffer(ro))]).unwrap();
    assert_eq!(
        i.eval("bytes(memoryview(ro))").unwrap(),
        Value::bytes(b"abc")
    );
    let err = i.exec("memoryview(ro)[0] = 1").unwrap_err();
    assert_eq!(err.exception().unwrap().type_name(), "TypeError", "{err}");
    assert!(i.eval("ro.readonly").unwrap() == Value::Bool(true));
}

#[test]
fn bad_layouts_are_clear_errors() {
    let b = SharedBuffer::zeroed(24);
    match b.with_layout("d", &[2, 2]) {
        Err(Error::InvalidArgument(m)) => assert!(
            m.contains("needs 32 bytes") && m.contains("has 24 bytes"),
            "{m}"
        ),
        other => panic!("{other:?}"),
    }
    match b.with_layout("Zd", &[3]) {
        Err(Error::InvalidArgument(m)) => {
            assert!(m.contains("unsupported buffer format \"Zd\""), "{m}")
        }
        other => panic!("{other:?}"),
    }
    assert!(b.with_layout("d", &[3]).is_ok());
    let i = Interpreter::new().unwrap();
    i.exec("import interp").unwrap();
    for (src, ty, needle) in [
        (
            "interp.SharedBuffer((3, 3), 'Z')",
            "ValueError",
            "unsupported buffer format",
        ),
        (
            "interp.SharedBuffer(-1)",
            "ValueError",
            "shape must be >= 0",
        ),
        (
            "interp.SharedBuffer('x')",
            "TypeError",
            "shape must be an int or a tuple",
        ),
        (
            "interp.SharedBuffer()",
            "TypeError",
            "missing required argument 'shape'",
        ),
        (
            "interp.SharedBuffer(3, fmt='B')",
            "TypeError",
            "unexpected keyword argument 'fmt'",
        ),
    ] {
        let e = i.exec(src).unwrap_err();
        let e = e.exception().unwrap();
        assert_eq!(e.type_name(), ty, "{src}: {e}");
        assert!(e.message.contains(needle), "{src}: {}", e.message);
    }
}

#[test]
fn layouts_python_cannot_view_are_refused_even_when_empty() {
    // A dimension or a stride beyond isize::MAX cannot be described to
    // Python (it saw `shape == (0, -1)` and len() raised SystemError), also
    // when another dimension is 0 and the buffer is empty.
    let empty = SharedBuffer::zeroed(0);
    let too_big = isize::MAX as usize + 1;
    for (shape, needle) in [
        (vec![0, too_big], "dimension 1 is 9223372036854775808"),
        (vec![usize::MAX, 0], "dimension 0 is 18446744073709551615"),
        (
            vec![0, 1 << 40, 1 << 40],
            "the stride of dimension 0 does not fit",
        ),
        (vec![1 << 62, 4], "its size in bytes does not fit"),
    ] {
        match empty.with_layout("B", &shape) {
            Err(Error::InvalidArgument(m)) => assert!(m.contains(needle), "{shape:?}: {m}"),
            other => panic!("{shape:?}: expected an InvalidArgument error, got {other:?}"),
        }
        let size = SharedBuffer::layout_size("B", &shape);
        assert!(size.is_err(), "{shape:?}: {size:?}");
    }
    // Zero-size layouts that fit are still fine, and Python sees them right.
    assert_eq!(SharedBuffer::layout_size("d", &[0, 5]).unwrap(), 0);
    let b = empty.with_layout("d", &[0, 5]).unwrap();
    let i = Interpreter::new().unwrap();
    i.prepare_main([("b", b.into())]).unwrap();
    let seen = i
        .eval("(memoryview(b).shape, len(memoryview(b)), memoryview(b).strides, b.shape)")
        .unwrap();
    assert_eq!(format!("{seen:?}"), "((0, 5), 0, (40, 8), (0, 5))");
    // The Python constructor applies the same checks.
    i.exec("import interp").unwrap();
    let e = i
        .exec("interp.SharedBuffer((0, 2**40, 2**40))")
        .unwrap_err();
    let x = e.exception().expect("a Python exception");
    assert!(
        x.is("ValueError") && x.message.contains("the stride of dimension 0"),
        "{e}"
    );
}
