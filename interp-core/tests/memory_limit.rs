//! A value too big for memory is an error, not an abort: under an
//! address-space limit, results of hundreds of MiB that cannot be copied out
//! of the interpreter fail with a clear error and the process lives on.
//!
//! The limits are set (setrlimit RLIMIT_AS, soft limit only) in a child
//! process — this test binary re-invoked — relative to what that child maps
//! right before each case, so they do not depend on how much the runtime
//! itself reserves. Each limit leaves at least [`MARGIN`] more than what
//! must succeed and at least [`MARGIN`] less than what must fail, so that
//! the address space the allocator or a thread happens to reserve does not
//! decide the outcome.

use std::os::unix::process::CommandExt;
use std::process::{Command, Output};

use interp_core::{Error, Interpreter, SharedBuffer, Value};

const CHILD: &str = "INTERP_MEMORY_LIMIT_CHILD";
const MIB: usize = 1 << 20;
/// The size of the big results.
const BIG: usize = 500 * MIB;
/// The least room each limit leaves on either side of what must fit and
/// what must not.
const MARGIN: usize = 200 * MIB;

/// Each case: a function of the child's `__main__`, the address space
/// Python needs to make its result (which must succeed), and the further
/// space the copy out of the interpreter needs (which must fail).
const CASES: [(&str, usize, usize); 7] = [
    // The bytes object; its copy.
    ("big_bytes", BIG, BIG),
    // An ASCII str (its UTF-8 form is its data); its copy.
    ("big_str", BIG, BIG),
    // A list of BIG / 24 pointers and the tuple snapshot of it; the copy as
    // 24-byte values.
    ("big_list", 2 * (BIG / 24) * 8, BIG),
    // An int of 4/5 BIG bytes (30 bits per 32-bit digit) and its to_bytes;
    // the copy.
    ("big_int", BIG * 4 / 5 * 32 / 30 + BIG * 4 / 5, BIG * 4 / 5),
    // A non-ASCII (Latin-1) str of BIG / 2 characters; its UTF-8 form (BIG
    // bytes, made by Python on first use) must fail.
    ("big_str_latin1", BIG / 2, BIG),
    // An exception whose message is a BIG str; the copy of the message.
    ("big_exc", BIG, BIG),
    // An exception whose message is a Latin-1 str of BIG / 2 characters;
    // its UTF-8 form.
    ("big_exc_latin1", BIG / 2, BIG),
];

/// This process's mapped address space (`VmSize`), in bytes.
fn vm_size() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kb: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("VmSize:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmSize line");
    kb * 1024
}

/// The current RLIMIT_AS (soft, hard).
fn address_space_limits() -> (libc::rlim_t, libc::rlim_t) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes a valid rlimit struct.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut lim) };
    assert_eq!(rc, 0, "getrlimit: {}", std::io::Error::last_os_error());
    (lim.rlim_cur, lim.rlim_max)
}

/// Sets the soft RLIMIT_AS to `bytes`, keeping the hard limit (raising it
/// would need CAP_SYS_RESOURCE).
fn set_address_space_limit(bytes: usize) {
    let (_, hard) = address_space_limits();
    let lim = libc::rlimit {
        rlim_cur: bytes as libc::rlim_t,
        rlim_max: hard,
    };
    // SAFETY: setrlimit reads a valid rlimit struct.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_AS, &lim) };
    assert_eq!(
        rc,
        0,
        "setrlimit(soft {bytes}, hard {hard}): {}",
        std::io::Error::last_os_error()
    );
}

/// Lifts the soft RLIMIT_AS to the hard limit.
fn lift_address_space_limit() {
    let (_, hard) = address_space_limits();
    set_address_space_limit(hard as usize);
}

/// Text of any size as a short line: its length, start and end.
fn short(text: &str) -> String {
    if text.len() <= 600 {
        return text.replace('\n', "\\n");
    }
    let mut a = 100;
    while !text.is_char_boundary(a) {
        a -= 1;
    }
    let mut b = text.len() - 300;
    while !text.is_char_boundary(b) {
        b += 1;
    }
    format!("[{} bytes] {}...{}", text.len(), &text[..a], &text[b..]).replace('\n', "\\n")
}

/// Runs in the child: every big result must be an error naming the size,
/// and the interpreter must keep working afterwards. Prints one line per
/// case for the parent to check.
fn child() {
    // The harness has printed "test NAME ... " without a newline.
    println!();
    let i = Interpreter::new().unwrap();
    i.exec(&format!(
        "N = {BIG}\n\
         def big_bytes():\n    return b'x' * N\n\
         def big_str():\n    return 'x' * N\n\
         def big_list():\n    return [None] * (N // 24)\n\
         def big_int():\n    return 1 << (8 * N * 4 // 5)\n\
         def big_str_latin1():\n    return '\\u00e9' * (N // 2)\n\
         def big_exc():\n    raise ValueError('x' * N)\n\
         def big_exc_latin1():\n    raise ValueError('\\u00e9' * (N // 2))\n"
    ))
    .unwrap();
    let _ = i.eval("1").unwrap(); // warm up before measuring
    let (_, hard) = address_space_limits();
    let most = CASES.iter().map(|(_, p, c)| p + c / 2).max().unwrap();
    let need = vm_size() + most + MARGIN;
    if hard != libc::RLIM_INFINITY && need as libc::rlim_t > hard {
        println!(
            "skipped: the hard RLIMIT_AS is {} MiB; this test needs {} MiB of address space",
            hard as usize / MIB,
            need / MIB
        );
        return;
    }
    for (f, python, copy) in CASES {
        // What Python makes fits with MARGIN to spare; the copy is short
        // of room by at least MARGIN.
        assert!(copy / 2 >= MARGIN, "{f}: the copy is too small to fail");
        let headroom = python + copy / 2;
        set_address_space_limit(vm_size() + headroom);
        match i.call("__main__", f, &[], &[]) {
            Ok(v) => println!("{f}: unexpectedly converted ({})", v.type_name()),
            Err(e @ Error::Conversion(_)) => println!("{f}: {e}"),
            Err(Error::Python(x)) => println!(
                "{f}: Python {}: message {}; traceback {}",
                x.type_name(),
                short(&x.message),
                short(&x.traceback)
            ),
            Err(e) => println!("{f}: other error: {e}"),
        }
        lift_address_space_limit();
        assert_eq!(i.eval("1 + 1").unwrap(), Value::from(2), "after {f}");
    }
    // The fallible constructors that the C ABI uses for sizes from C.
    let size = BIG * 4 / 5;
    let src = SharedBuffer::try_zeroed(size).unwrap();
    set_address_space_limit(vm_size() + size / 2);
    // SAFETY: nothing writes to the fresh buffer while the slice lives.
    match Value::try_bytes(unsafe { src.as_slice() }) {
        Ok(_) => println!("try_bytes: unexpectedly copied"),
        Err(e @ Error::OutOfMemory(_)) => println!("try_bytes: OutOfMemory: {e}"),
        Err(e) => println!("try_bytes: other error: {e}"),
    }
    lift_address_space_limit();
    // Value -> Python: CPython's own allocation fails with MemoryError,
    // which must come back as an error (not a crash).
    // SAFETY: nothing writes to the fresh buffer while the slice lives.
    let big = Value::try_bytes(unsafe { src.as_slice() }).unwrap();
    drop(src);
    set_address_space_limit(vm_size() + size / 2);
    match i.prepare_main([("big", big)]) {
        Ok(()) => println!("to_python: unexpectedly made"),
        Err(e) => println!("to_python: {e}"),
    }
    lift_address_space_limit();
    assert_eq!(i.eval("1 + 1").unwrap(), Value::from(2), "after to_python");
    println!("hard limit kept: {}", address_space_limits().1);
    println!("child done");
}

/// Runs [`child`] in a new process whose hard RLIMIT_AS is `hard` bytes.
fn run_child(hard: libc::rlim_t) -> (Output, String) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "values_too_big_for_memory_are_errors_not_aborts",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD, "1");
    let (soft, _) = address_space_limits();
    let lim = libc::rlimit {
        rlim_cur: soft.min(hard),
        rlim_max: hard,
    };
    // SAFETY: the closure only calls setrlimit (async-signal-safe) on a
    // struct it owns, and allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setrlimit(libc::RLIMIT_AS, &lim) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        })
    };
    let out = cmd.output().expect("re-running the test binary");
    let got = format!(
        "child {} (hard RLIMIT_AS {hard}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{got}");
    (out, got)
}

#[test]
fn values_too_big_for_memory_are_errors_not_aborts() {
    if std::env::var_os(CHILD).is_some() {
        return child();
    }
    // The child runs under a finite hard limit (this one's, or 1 TiB), as
    // on a machine that sets one: it may lower its soft limit only.
    let (_, hard) = address_space_limits();
    let hard = hard.min(1 << 40);
    let (out, got) = run_child(hard);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the child did not exit normally: {got}"
    );
    if let Some(line) = stdout.lines().find(|l| l.starts_with("skipped:")) {
        eprintln!("memory_limit: {line}");
        return;
    }
    assert!(stdout.contains("child done"), "{got}");
    let line = |case: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("{case}:")))
            .unwrap_or_else(|| panic!("no line for {case}: {got}"))
            .to_owned()
    };
    let mib = BIG / MIB;
    for (case, size) in [
        ("big_bytes", format!("{mib}.0 MiB")),
        ("big_str", format!("{mib}.0 MiB")),
        ("big_list", "items".to_owned()),
        ("big_int", format!("{}.0 MiB", mib * 4 / 5)),
        ("big_str_latin1", format!("a str of {} characters", BIG / 2)),
    ] {
        let line = line(case);
        assert!(
            line.contains(": conversion error: cannot copy")
                && line.contains("out of memory")
                && line.contains(&size),
            "{case} should fail with a conversion error naming the size ({size}), got: {line}"
        );
    }
    // The exception arrives, its message cut short with its size named.
    let exc = line("big_exc");
    let note = format!(
        "xxxxxxxxxx... [cut short: the whole text, {mib}.0 MiB ({BIG} bytes), could not be \
         copied: out of memory]"
    );
    assert!(
        exc.starts_with("big_exc: Python ValueError: message [")
            && exc.contains(&format!("{note}; traceback "))
            && exc.contains("ValueError: xxxxxxxxxx")
            && exc.ends_with(&format!("{note}\\n")),
        "big_exc should fail with its ValueError, the message cut short: {exc}"
    );
    let exc = line("big_exc_latin1");
    assert!(
        exc.starts_with(&format!(
            "big_exc_latin1: Python ValueError: message <a str of {} characters: out of memory \
             converting it to UTF-8>; traceback ValueError: <a str of",
            BIG / 2
        )),
        "big_exc_latin1 should fail with its ValueError, the message a placeholder: {exc}"
    );
    let to_python = line("to_python");
    assert!(
        to_python.contains("MemoryError"),
        "a Value too big for Python should give MemoryError, got: {to_python:?}\n{got}"
    );
    let try_bytes = line("try_bytes");
    assert!(
        try_bytes.starts_with("try_bytes: OutOfMemory: out of memory")
            && try_bytes.contains(&format!("{}.0 MiB", mib * 4 / 5)),
        "try_bytes should fail with OutOfMemory naming the size, got: {try_bytes:?}\n{got}"
    );
    assert_eq!(line("hard limit kept"), format!("hard limit kept: {hard}"));
}

#[test]
fn a_hard_limit_too_low_for_the_test_skips_it() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    // Enough to start the child, not to run the cases: the child says why
    // it skips and exits normally.
    let (out, got) = run_child(600 * MIB as libc::rlim_t);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the child did not exit normally: {got}"
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with("skipped:"))
        .unwrap_or_else(|| panic!("no skipped line: {got}"));
    assert!(
        line.contains("the hard RLIMIT_AS is 600 MiB; this test needs"),
        "{line}"
    );
}
