//! Big ints through the C ABI agree with Python's own conversions: a
//! 200,000-digit int parsed by `interp_value_int_from_decimal` equals
//! Python's `int(text)`, prints back with `interp_value_int_to_decimal` as
//! Python's `str`, and its bytes (`interp_value_int_to_bytes` /
//! `_from_bytes`) are Python's `to_bytes` / `from_bytes`. (How the work
//! grows with the size is counted exactly in the bigint unit tests.)

use std::ffi::{c_char, c_void, CStr, CString};
use std::ptr::null_mut;

use ::interp::*;

fn ok(st: interp_status_t, what: &str) {
    assert_eq!(st, interp_status_t::INTERP_OK, "{what}");
}

fn str_value(s: &str) -> *mut interp_value_t {
    let mut v = null_mut();
    ok(
        interp_value_str(s.as_ptr().cast(), s.len(), &mut v, null_mut()),
        "interp_value_str",
    );
    v
}

fn bytes_value(b: &[u8]) -> *mut interp_value_t {
    let mut v = null_mut();
    ok(
        interp_value_bytes(b.as_ptr().cast(), b.len(), &mut v, null_mut()),
        "interp_value_bytes",
    );
    v
}

fn as_str(v: *const interp_value_t) -> String {
    let (mut p, mut n): (*const c_char, usize) = (std::ptr::null(), 0);
    ok(interp_value_as_str(v, &mut p, &mut n, null_mut()), "as_str");
    // SAFETY: `n` bytes of UTF-8 owned by the value.
    let b = unsafe { std::slice::from_raw_parts(p.cast::<u8>(), n) };
    String::from_utf8(b.to_vec()).unwrap()
}

fn as_bytes(v: *const interp_value_t) -> Vec<u8> {
    let (mut p, mut n): (*const c_void, usize) = (std::ptr::null(), 0);
    ok(
        interp_value_as_bytes(v, &mut p, &mut n, null_mut()),
        "as_bytes",
    );
    // SAFETY: `n` bytes owned by the value.
    unsafe { std::slice::from_raw_parts(p.cast::<u8>(), n) }.to_vec()
}

fn equal(a: *const interp_value_t, b: *const interp_value_t) -> bool {
    let mut e = 0;
    ok(interp_value_equal(a, b, &mut e, null_mut()), "equal");
    e == 1
}

fn to_decimal(v: *const interp_value_t) -> String {
    let mut text = null_mut();
    ok(
        interp_value_int_to_decimal(v, &mut text, null_mut()),
        "to_decimal",
    );
    // SAFETY: a NUL-terminated string we own until interp_string_free.
    let s = unsafe { CStr::from_ptr(text) }.to_str().unwrap().to_owned();
    // SAFETY: returned by interp_value_int_to_decimal, freed once.
    unsafe { interp_string_free(text) };
    s
}

fn to_bytes(v: *const interp_value_t) -> Vec<u8> {
    let mut len = 0usize;
    ok(
        interp_value_int_to_bytes(v, null_mut(), 0, &mut len, null_mut()),
        "to_bytes (size)",
    );
    let mut buf = vec![0u8; len];
    let mut again = 0usize;
    ok(
        interp_value_int_to_bytes(v, buf.as_mut_ptr().cast(), len, &mut again, null_mut()),
        "to_bytes",
    );
    assert_eq!(again, len);
    buf
}

fn from_bytes(b: &[u8], signed: bool) -> *mut interp_value_t {
    let mut v = null_mut();
    ok(
        interp_value_int_from_bytes(b.as_ptr().cast(), b.len(), signed as _, &mut v, null_mut()),
        "from_bytes",
    );
    v
}

/// Where two long strings first differ, for a readable failure.
fn first_difference(a: &str, b: &str) -> String {
    let i = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    format!(
        "lengths {} and {}, first difference at byte {i}: {:?} vs {:?}",
        a.len(),
        b.len(),
        &a[i.min(a.len())..(i + 20).min(a.len())],
        &b[i.min(b.len())..(i + 20).min(b.len())]
    )
}

#[test]
fn a_200k_digit_int_agrees_with_python_both_ways_as_text_and_bytes() {
    let mut interp = null_mut();
    ok(
        interp_interpreter_new(1, &mut interp, null_mut()),
        "interpreter",
    );
    let src = CString::new(
        "import sys\n\
         sys.set_int_max_str_digits(0)\n\
         def parse(s):\n    return int(s)\n\
         def show(x):\n    return str(x)\n\
         def le(x):\n    n = max(1, (x.bit_length() + 7) // 8)\n    try:\n        return x.to_bytes(n, 'little', signed=True)\n    except OverflowError:\n        return x.to_bytes(n + 1, 'little', signed=True)\n\
         def unsigned(b):\n    return int.from_bytes(b, 'little')\n",
    )
    .unwrap();
    ok(
        interp_interpreter_exec(interp, src.as_ptr(), null_mut()),
        "exec",
    );
    let call = |f: &str, arg: *const interp_value_t| {
        let f = CString::new(f).unwrap();
        let args = [arg];
        let mut r = null_mut();
        ok(
            interp_interpreter_call(
                interp,
                c"__main__".as_ptr(),
                f.as_ptr(),
                args.as_ptr(),
                1,
                &mut r,
                null_mut(),
            ),
            "call",
        );
        r
    };

    // Pseudo-random digits, negative, with a leading zero run inside.
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    let mut digits = String::from("-");
    for i in 0..200_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let d = if (1000..1100).contains(&i) { 0 } else { x % 10 };
        digits.push(char::from(
            b'0' + if i == 0 { 1 + (x % 9) as u8 } else { d as u8 },
        ));
    }
    let c = CString::new(digits.clone()).unwrap();
    let mut ours = null_mut();
    ok(
        interp_value_int_from_decimal(c.as_ptr(), &mut ours, null_mut()),
        "from_decimal",
    );
    let text = str_value(&digits);
    let python = call("parse", text);
    assert!(
        equal(ours, python),
        "from_decimal differs from Python's int()"
    );
    let printed = to_decimal(python);
    assert!(
        printed == digits,
        "to_decimal of Python's int: {}",
        first_difference(&printed, &digits)
    );
    let shown = call("show", ours);
    let shown_text = as_str(shown);
    assert!(
        shown_text == digits,
        "Python's str of ours: {}",
        first_difference(&shown_text, &digits)
    );

    // Bytes: minimal little-endian two's complement, as Python's to_bytes.
    let py_bytes_v = call("le", python);
    let py_bytes = as_bytes(py_bytes_v);
    assert_eq!(
        to_bytes(ours),
        py_bytes,
        "int_to_bytes differs from Python's to_bytes"
    );
    let back = from_bytes(&py_bytes, true);
    assert!(
        equal(back, python),
        "int_from_bytes(signed) differs from Python's int"
    );
    // Unsigned: a magnitude with its top bit set gets a sign byte.
    let magnitude = vec![0xffu8; 100_000];
    let ours_unsigned = from_bytes(&magnitude, false);
    let mag_v = bytes_value(&magnitude);
    let py_unsigned = call("unsigned", mag_v);
    assert!(
        equal(ours_unsigned, py_unsigned),
        "int_from_bytes(unsigned)"
    );
    assert_eq!(
        to_bytes(ours_unsigned).len(),
        100_001,
        "a sign byte is added"
    );

    for v in [
        ours,
        text,
        python,
        shown,
        py_bytes_v,
        back,
        ours_unsigned,
        mag_v,
        py_unsigned,
    ] {
        ok(interp_value_free(v), "free");
    }
    ok(interp_interpreter_free(interp), "free interpreter");
}

#[test]
fn small_ints_as_bytes_match_python_conventions() {
    // (value, minimal two's complement little-endian bytes)
    for (n, bytes) in [
        (0i64, vec![0u8]),
        (1, vec![1]),
        (-1, vec![0xff]),
        (127, vec![0x7f]),
        (128, vec![0x80, 0]),
        (-128, vec![0x80]),
        (-129, vec![0x7f, 0xff]),
        (i64::MIN, i64::MIN.to_le_bytes().to_vec()),
    ] {
        let mut v = null_mut();
        ok(interp_value_int64(n, &mut v, null_mut()), "int64");
        assert_eq!(to_bytes(v), bytes, "{n}");
        let back = from_bytes(&bytes, true);
        assert!(equal(back, v), "{n}");
        ok(interp_value_free(v), "free");
        ok(interp_value_free(back), "free");
    }
    // Empty input is 0, unsigned 0xff is 255, a too-small buffer is an
    // error that reports the size needed (and writes nothing).
    let zero = from_bytes(&[], true);
    let mut n = -1i64;
    ok(interp_value_as_int64(zero, &mut n, null_mut()), "as_int64");
    assert_eq!(n, 0);
    let v255 = from_bytes(&[0xff], false);
    ok(interp_value_as_int64(v255, &mut n, null_mut()), "as_int64");
    assert_eq!(n, 255);
    let mut buf = [0xaau8; 1];
    let mut len = 0usize;
    let mut err = null_mut();
    assert_eq!(
        interp_value_int_to_bytes(v255, buf.as_mut_ptr().cast(), 1, &mut len, &mut err),
        interp_status_t::INTERP_ERR_INVALID_ARGUMENT,
        "to_bytes into a buffer too small"
    );
    // SAFETY: a live error, its message a C string it owns.
    let msg = unsafe { CStr::from_ptr(interp_error_message(err)) }
        .to_string_lossy()
        .into_owned();
    ok(interp_error_free(err), "free");
    assert!(
        msg.contains("buffer too small: the int needs 2 bytes, `cap` is 1"),
        "{msg}"
    );
    assert_eq!((len, buf), (2, [0xaa]), "needs 2 bytes; nothing written");
    ok(interp_value_free(zero), "free");
    ok(interp_value_free(v255), "free");
}
